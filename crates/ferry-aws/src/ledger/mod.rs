//! The shared ledger on DynamoDB: [`DynamoLedger`], one table that every ferry process of a
//! team (CI runners, laptops) reads and writes, with locks as leases held by conditional
//! writes. It implements [`ferry_store::LedgerBackend`] with the same semantics as the
//! embedded SQLite ledger (the ledger suite runs over both).
//!
//! # The table
//!
//! One table, created by [`init`] (`ferry ledger init`) or by Terraform:
//!
//! - key schema: `pk` (HASH, type S) and `sk` (RANGE, type S); no secondary indexes;
//! - billing mode `PAY_PER_REQUEST` (on demand);
//! - time to live on the numeric attribute `expires_at` (epoch seconds), which only lock
//!   items carry.
//!
//! # Items
//!
//! `ENV`, `SERVICE`, `ID` are names as ferry knows them, with `%` written `%25` and `#`
//! written `%23`. `ORDER` is a sort key that orders by time then insertion: 16 hex digits of
//! the time in milliseconds (sign bit flipped), `#`, 16 hex digits of the table's insertion
//! counter. `SEQ` is a 12-digit sequence number (1, 2, ...).
//!
//! | pk | sk | item |
//! | --- | --- | --- |
//! | `ferry` | `schema` | the layout's version (`version`, N); [`open`] refuses a newer one |
//! | `ferry` | `counter` | the insertion counter (`n`, N), the tie-breaker of `ORDER` |
//! | `deployment#ID` | `deployment` | a deployment (every field of the record; `order`: its `ORDER`) |
//! | `deployment#ID` | `event#SEQ` | its events, in the order recorded |
//! | `deployment#ID` | `step#SEQ` | its journaled steps |
//! | `history` | `ORDER` | a copy of every deployment (`ferry history`) |
//! | `history-env#ENV` | `ORDER` | a copy of each deployment to ENV |
//! | `history-service#SERVICE` | `ORDER` | a copy of each deployment of SERVICE |
//! | `service#ENV#SERVICE` | `ORDER` | a copy of each deployment of SERVICE to ENV |
//! | `in-progress#ENV#SERVICE` | `ORDER` | a copy while the deployment is in progress |
//! | `succeeded#ENV#SERVICE` | `ORDER` | a copy once it succeeded (rollback targets, status, soak) |
//! | `services` | `ENV#SERVICE` | every (environment, service) ever deployed |
//! | `lock#ENV#SERVICE` | `lock` | the lock: holder, `acquired_at`, `lease_until` (ms), `rev`, `expires_at` (TTL) |
//! | `unlocks#ENV#SERVICE` | `ORDER` | a lock freed by `ferry unlock`: whose, by whom, why |
//! | `releases` | `rel-…` (the release id) | a release with its entries, and its rejection |
//! | `releases-by-time` | `ORDER` | a copy of each release, for the newest-first list |
//! | `promotion#ID` | `promotion` | a promotion (`order`: its `ORDER`) |
//! | `promotions` | `ORDER` | a copy of every promotion |
//! | `promotions-of#RELEASE` | `ORDER` | a copy of each promotion of RELEASE |
//!
//! Every read is a strongly consistent GetItem or Query of one partition (newest first where
//! a listing says so); nothing scans the table. A record and its copies are written by one
//! TransactWriteItems, so no listing ever disagrees with the record.
//!
//! # Locks
//!
//! See [`locks`]: read the lock item, decide as the SQLite ledger does, write on the
//! condition that the item is unchanged (`attribute_not_exists(pk)` or `rev = :seen`);
//! whoever loses the condition reads again and decides again, so exactly one of any number
//! of concurrent racers holds the lock.
//!
//! # Calls
//!
//! The ledger's API is synchronous; its SDK calls run on a runtime the ledger owns (see
//! [`store::Bridge`]), so it can be called from plain threads and from inside the caller's
//! tokio runtime alike. The SDK's standard retries apply (throttling included) and every
//! call is bounded in time ([`crate::reach`]).

mod items;
pub mod locks;
mod records;
mod releases;
pub(crate) mod store;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableDescription, TableStatus,
    TimeToLiveSpecification,
};
use ferry_store::{
    DeploymentRecord, EventRecord, HistoryFilter, LedgerBackend, LockHolder, LockInfo, Promotion, Release, ReleaseEntry, StepRecord,
    StepState, StoreError, Unlock,
};

use store::{Bridge, CallResult, Cond, Fail, Table, Write};

/// The version of the item layout this ferry writes and understands. A table whose schema
/// item says more was written by a newer ferry and is refused ([`StoreError::RemoteSchema`]).
pub const SCHEMA_VERSION: i64 = 1;

/// The TTL attribute of the table (epoch seconds, on lock items only).
pub const TTL_ATTRIBUTE: &str = items::EXPIRES_AT;

/// How long [`init`] waits for a new table to become ACTIVE (AWS takes seconds to a minute).
pub const ACTIVE_TIMEOUT: Duration = Duration::from_secs(180);

/// The ledger on one DynamoDB table. `Send + Sync`; cheap to share behind an `Arc` or a
/// [`ferry_store::Ledger`]. Each handle has its own SDK client and runtime, as separate
/// processes would.
#[derive(Debug)]
pub struct DynamoLedger {
    table: Arc<Table>,
    // Declared last: dropped after the table's client.
    bridge: Bridge,
}

/// What [`init`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitReport {
    /// `dynamodb://TABLE (REGION)`.
    pub location: String,
    pub table: String,
    pub region: String,
    pub outcome: InitOutcome,
    /// The schema version the table holds now.
    pub schema_version: i64,
}

/// Whether [`init`] made the table, found it made, or took over an empty one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitOutcome {
    /// The table was created (on demand capacity, TTL on `expires_at`) and its schema item
    /// written.
    Created,
    /// A ferry ledger table was there already; nothing was changed.
    AlreadyThere,
    /// An empty table with ferry's key schema (made by Terraform, say) got its schema item.
    Adopted,
}

/// Opens the ledger on `table`, as `target` says where and as whom to call.
///
/// Checks, with DescribeTable and a GetItem of the schema item, that the table exists, is
/// ACTIVE, has ferry's key schema (`pk` HASH S, `sk` RANGE S) and a schema version this
/// ferry understands. Errors ([`StoreError::Remote`] unless said), each naming
/// `dynamodb://TABLE (REGION)`: no such table (create it with `ferry ledger init`); access
/// denied (which action); another key schema, or no schema item (not a ferry ledger: `ferry
/// ledger init` adopts an empty table made by Terraform); a newer schema version
/// ([`StoreError::RemoteSchema`]); the endpoint unreachable. Nothing is written.
///
/// AWS: [DescribeTable](https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeTable.html),
/// [GetItem](https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetItem.html).
pub async fn open(target: &crate::Target, table: &str) -> Result<DynamoLedger, StoreError> {
    let (bridge, table) = connect(target, table).await?;
    let checked = table.clone();
    spawn(&bridge, &table.location(), async move {
        let description = describe(&checked).await.map_err(|e| into_store(&checked, e))?.ok_or_else(|| checked.missing())?;
        check_keys(&checked, &description)?;
        if description.table_status() == Some(&TableStatus::Creating) {
            return Err(checked.remote("the table is still being created; try again in a minute"));
        }
        match schema_version(&checked).await? {
            Some(_) => Ok(()),
            None => Err(checked.remote(
                "the table has ferry's keys but no ferry schema item (pk \"ferry\", sk \"schema\"), so it is not a ferry ledger: \
                 if it was made for ferry (with Terraform, say), run `ferry ledger init` once to adopt it; otherwise point the \
                 [ledger] settings at another table (`ferry ledger init` creates one)",
            )),
        }
    })
    .await?;
    Ok(DynamoLedger { table, bridge })
}

/// Creates the ledger's table if needed: CreateTable (`pk` HASH S, `sk` RANGE S,
/// PAY_PER_REQUEST), waits until it is ACTIVE (at most [`ACTIVE_TIMEOUT`]), enables TTL on
/// `expires_at` (UpdateTimeToLive) and writes the schema item.
///
/// Idempotent: a ferry ledger table already there is reported
/// ([`InitOutcome::AlreadyThere`]) and left as it is; an empty table with ferry's key schema
/// and no schema item (made by Terraform) is adopted ([`InitOutcome::Adopted`]: schema item
/// written, TTL enabled if it was not). Refused, changing nothing: a table with another key
/// schema, or one that holds items but no ferry schema item (someone else's); a newer schema
/// version ([`StoreError::RemoteSchema`]). Other errors as [`open`]'s (access denied names
/// `dynamodb:CreateTable`, for instance).
///
/// AWS: [CreateTable](https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html),
/// [UpdateTimeToLive](https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html).
pub async fn init(target: &crate::Target, table: &str) -> Result<InitReport, StoreError> {
    let (bridge, table) = connect(target, table).await?;
    let work = table.clone();
    let outcome = spawn(&bridge, &table.location(), async move { create_or_adopt(&work).await.map_err(|e| into_store(&work, e)) }).await?;
    Ok(InitReport {
        location: table.location(),
        table: table.name.clone(),
        region: table.region.clone(),
        outcome,
        schema_version: SCHEMA_VERSION,
    })
}

/// The runtime and the table's client, built on that runtime (so its connections live there).
async fn connect(target: &crate::Target, name: &str) -> Result<(Bridge, Arc<Table>), StoreError> {
    let early = |detail: String| StoreError::Remote {
        location: store::location(name, target.region.as_deref().unwrap_or("region unknown")),
        detail,
    };
    if name.is_empty() {
        return Err(early("the table name is empty: set the [ledger] table".to_string()));
    }
    let bridge = Bridge::new().map_err(|e| early(format!("cannot start the ledger's runtime: {e}")))?;
    let target = target.clone();
    let table_name = name.to_string();
    let location = store::location(name, target.region.as_deref().unwrap_or("region unknown"));
    let table = spawn(&bridge, &location, async move {
        let config = crate::sdk_config(&target).await;
        let Some(region) = config.region().map(|r| r.to_string()) else {
            return Err(StoreError::Remote {
                location: store::location(&table_name, "no region"),
                detail: "no AWS region: set [ledger] region (or defaults.region) in ferry.toml, AWS_REGION or AWS_DEFAULT_REGION, or a region in the AWS profile".to_string(),
            });
        };
        let reach = Arc::new(crate::reach::Reach::new(&target));
        let watch = crate::reach::Watch { reach: reach.clone() };
        let client = aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(&config).interceptor(watch).build());
        Ok(Arc::new(Table { client, name: table_name, region, reach, next_seq: Default::default() }))
    })
    .await?;
    Ok((bridge, table))
}

/// Runs `work` on the ledger's runtime and awaits it from the caller's (any executor).
async fn spawn<T: Send + 'static>(
    bridge: &Bridge,
    location: &str,
    work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let stopped = |detail: String| StoreError::Remote { location: location.to_string(), detail };
    let handle = bridge.handle().ok_or_else(|| stopped("internal: the ledger's runtime stopped".to_string()))?;
    handle.spawn(work).await.map_err(|e| stopped(format!("internal: the ledger's call failed: {e}")))?
}

fn into_store(table: &Table, fail: Fail) -> StoreError {
    match fail {
        Fail::Store(e) => e,
        Fail::Conflict => table.remote("internal: an unexpected failed condition"),
    }
}

async fn describe(table: &Table) -> CallResult<Option<TableDescription>> {
    match table.client.describe_table().table_name(&table.name).send().await {
        Ok(answer) => Ok(answer.table),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
        Err(e) => Err(table.fail("DescribeTable", e)),
    }
}

/// Refuses a table whose key schema is not ferry's.
fn check_keys(table: &Table, description: &TableDescription) -> Result<(), StoreError> {
    let keys: Vec<(String, String)> =
        description.key_schema().iter().map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string())).collect();
    let type_of = |name: &str| {
        description.attribute_definitions().iter().find(|d| d.attribute_name() == name).map(|d| d.attribute_type().as_str().to_string())
    };
    let ours = keys == [("pk".to_string(), "HASH".to_string()), ("sk".to_string(), "RANGE".to_string())]
        && type_of("pk").as_deref() == Some("S")
        && type_of("sk").as_deref() == Some("S");
    if ours {
        return Ok(());
    }
    let theirs: Vec<String> =
        keys.iter().map(|(name, kind)| format!("{name} ({kind}, {})", type_of(name).unwrap_or_else(|| "?".to_string()))).collect();
    Err(table.remote(format!(
        "the table is not a ferry ledger: its key schema is {}, where ferry's is pk (HASH, S) + sk (RANGE, S); nothing was \
         changed. Point the [ledger] settings at another table, or create one with `ferry ledger init`",
        theirs.join(" + ")
    )))
}

/// The schema item's version, refusing a newer one; `None` when there is no schema item.
async fn schema_version(table: &Table) -> Result<Option<i64>, StoreError> {
    let item = table.get(items::META, items::SCHEMA_SK).await.map_err(|e| into_store(table, e))?;
    let Some(item) = item else { return Ok(None) };
    let Some(found) = items::get_n(&item, "version") else {
        return Err(table.remote("the schema item (pk \"ferry\", sk \"schema\") has no numeric version; it was not written by ferry"));
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::RemoteSchema { location: table.location(), found, supported: SCHEMA_VERSION });
    }
    Ok(Some(found))
}

async fn create_or_adopt(table: &Table) -> CallResult<InitOutcome> {
    let created = match describe(table).await? {
        Some(description) => {
            check_keys(table, &description)?;
            false
        }
        None => {
            let create = table
                .client
                .create_table()
                .table_name(&table.name)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(attribute("pk")?)
                .attribute_definitions(attribute("sk")?)
                .key_schema(key_element("pk", KeyType::Hash)?)
                .key_schema(key_element("sk", KeyType::Range)?)
                .send()
                .await;
            match create {
                Ok(_) => true,
                // Someone else's `ferry ledger init` created it meanwhile: go on as if found.
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => false,
                Err(e) => return Err(table.fail("CreateTable", e)),
            }
        }
    };
    let description = wait_until_active(table).await?;
    if !created {
        check_keys(table, &description)?;
        if schema_version(table).await?.is_some() {
            return Ok(InitOutcome::AlreadyThere);
        }
        // Whether the table holds anything, read now: DescribeTable's ItemCount is refreshed
        // only about every six hours, so a table filled since would look empty.
        let sample = table.client.scan().table_name(&table.name).limit(1).consistent_read(true).send().await;
        let sample = sample.map_err(|e| table.fail("Scan", e))?;
        if sample.count() > 0 {
            return Err(Fail::Store(table.remote(
                "the table has ferry's keys but holds items and no ferry schema item (pk \"ferry\", sk \"schema\"): \
                 it is someone else's table, not adopted; nothing was changed. Choose another table name",
            )));
        }
    }
    enable_ttl(table, created).await?;
    let mut schema = items::key(items::META, items::SCHEMA_SK);
    schema.insert(items::TYPE.to_string(), items::s("schema"));
    schema.insert("version".to_string(), items::n(SCHEMA_VERSION));
    schema.insert("written_by".to_string(), items::s(format!("ferry {}", env!("CARGO_PKG_VERSION"))));
    match table.write(Write::Put { item: schema, cond: Some(Cond::absent()) }).await {
        Ok(()) => Ok(if created { InitOutcome::Created } else { InitOutcome::Adopted }),
        // Another init wrote it meanwhile: check its version like any other.
        Err(Fail::Conflict) => {
            schema_version(table).await?;
            Ok(if created { InitOutcome::Created } else { InitOutcome::AlreadyThere })
        }
        Err(other) => Err(other),
    }
}

async fn enable_ttl(table: &Table, created: bool) -> CallResult<()> {
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(items::EXPIRES_AT)
        .build()
        .map_err(|e| Fail::Store(table.remote(format!("internal: {e}"))))?;
    match table.client.update_time_to_live().table_name(&table.name).time_to_live_specification(spec).send().await {
        Ok(_) => Ok(()),
        // An adopted table whose TTL is already on (Terraform's `ttl` block): kept as it is.
        Err(e) if !created && e.code() == Some("ValidationException") => Ok(()),
        Err(e) => Err(table.fail("UpdateTimeToLive", e)),
    }
}

async fn wait_until_active(table: &Table) -> CallResult<TableDescription> {
    let deadline = tokio::time::Instant::now() + ACTIVE_TIMEOUT;
    let mut pause = Duration::from_millis(50);
    loop {
        let Some(description) = describe(table).await? else { return Err(Fail::Store(table.missing())) };
        if matches!(description.table_status(), Some(TableStatus::Active) | None) {
            return Ok(description);
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Err(Fail::Store(table.remote(format!(
                "the table is still {:?} after {} s; try `ferry ledger init` again later",
                description.table_status().map(|s| s.as_str().to_string()),
                ACTIVE_TIMEOUT.as_secs()
            ))));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

fn attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| StoreError::Remote { location: String::new(), detail: format!("internal: {e}") })
}

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| StoreError::Remote { location: String::new(), detail: format!("internal: {e}") })
}

impl DynamoLedger {
    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table.name
    }

    /// The region the table is in.
    pub fn region(&self) -> &str {
        &self.table.region
    }

    /// Runs `call` with the table on the ledger's runtime, waiting for it on this thread.
    fn run<T, F>(&self, call: impl FnOnce(Arc<Table>) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = CallResult<T>> + Send + 'static,
    {
        let table = self.table.clone();
        let future = call(table.clone());
        self.bridge.run(&self.table.location(), async move { future.await.map_err(|e| into_store(&table, e)) })
    }
}

impl LedgerBackend for DynamoLedger {
    fn location(&self) -> String {
        self.table.location()
    }

    fn insert_deployment(&self, record: &DeploymentRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.run(|t| async move { t.insert_deployment(&record, None).await })
    }

    fn start_deployment(&self, record: &DeploymentRecord, first_event: &EventRecord) -> Result<(), StoreError> {
        let (record, event) = (record.clone(), first_event.clone());
        self.run(|t| async move { t.insert_deployment(&record, Some(&event)).await })
    }

    fn update_deployment(&self, record: &DeploymentRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.run(|t| async move { t.update_deployment(&record).await })
    }

    fn unfinished(&self, environment: &str, service: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        let (env, svc) = (environment.to_string(), service.to_string());
        self.run(|t| async move { t.unfinished(&env, &svc).await })
    }

    fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        let id = id.to_string();
        self.run(|t| async move { t.deployment(&id).await })
    }

    fn history(&self, filter: &HistoryFilter) -> Result<Vec<DeploymentRecord>, StoreError> {
        let filter = filter.clone();
        self.run(|t| async move { t.history(&filter).await })
    }

    fn last_succeeded(&self, environment: &str, service: &str, excluding: Option<&str>) -> Result<Option<DeploymentRecord>, StoreError> {
        let (env, svc, excluding) = (environment.to_string(), service.to_string(), excluding.map(str::to_string));
        self.run(|t| async move { t.last_succeeded(&env, &svc, excluding.as_deref()).await })
    }

    fn latest_per_service(&self, environment: Option<&str>) -> Result<Vec<DeploymentRecord>, StoreError> {
        let env = environment.map(str::to_string);
        self.run(|t| async move {
            let pairs = t.services(env.as_deref()).await?;
            // One query per (environment, service), all at once: `ferry status` of fifty
            // services costs one round trip more than of one.
            let mut queries = tokio::task::JoinSet::new();
            for (index, (env, svc)) in pairs.into_iter().enumerate() {
                let t = t.clone();
                queries.spawn(async move { (index, t.latest_success(&env, &svc).await) });
            }
            let mut found = Vec::new();
            while let Some(joined) = queries.join_next().await {
                let (index, result) = joined.map_err(|e| Fail::Store(t.remote(format!("internal: a query failed: {e}"))))?;
                if let Some(record) = result? {
                    found.push((index, record));
                }
            }
            found.sort_by_key(|(index, _)| *index);
            Ok(found.into_iter().map(|(_, record)| record).collect())
        })
    }

    fn succeeded_with_version(&self, environment: &str, service: &str, version: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        let (env, svc, version) = (environment.to_string(), service.to_string(), version.to_string());
        self.run(|t| async move { t.succeeded_with_version(&env, &svc, &version).await })
    }

    fn healthy_since(&self, environment: &str, service: &str, digest: &str) -> Result<Option<i64>, StoreError> {
        let (env, svc, digest) = (environment.to_string(), service.to_string(), digest.to_string());
        self.run(|t| async move { t.healthy_since(&env, &svc, &digest).await })
    }

    fn record_event(&self, deployment_id: &str, event: &EventRecord) -> Result<(), StoreError> {
        let (id, event) = (deployment_id.to_string(), event.clone());
        self.run(|t| async move { t.record_event(&id, &event).await })
    }

    fn events(&self, deployment_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        let id = deployment_id.to_string();
        self.run(|t| async move { t.events(&id).await })
    }

    fn take_lock(
        &self,
        environment: &str,
        service: &str,
        holder: &LockHolder,
        lease_ms: i64,
        now: i64,
        holder_is_gone: &dyn Fn(&LockHolder) -> bool,
    ) -> Result<Option<LockInfo>, StoreError> {
        // The decision runs here, on the caller's thread (`holder_is_gone` is the caller's);
        // the read and the conditional write run on the ledger's runtime.
        for _ in 0..store::CONFLICT_RETRIES {
            let (env, svc) = (environment.to_string(), service.to_string());
            let seen = self.run(|t| async move { t.read_lock(&env, &svc).await })?;
            let (acquired_at, taken_over) = locks::decide(seen.as_ref().map(|s| &s.info), holder, now, holder_is_gone)?;
            let (env, svc, me) = (environment.to_string(), service.to_string(), holder.clone());
            let lease_until = now.saturating_add(lease_ms);
            let written = self.run(|t| async move {
                match t.write_lock(&env, &svc, &me, acquired_at, lease_until, seen.as_ref()).await {
                    Ok(()) => Ok(true),
                    Err(Fail::Conflict) => Ok(false),
                    Err(other) => Err(other),
                }
            })?;
            if written {
                return Ok(taken_over);
            }
        }
        Err(self.table.busy(&format!("taking the lock on {service} in {environment}")))
    }

    fn renew_lock(&self, environment: &str, service: &str, deployment_id: &str, lease_ms: i64, now: i64) -> Result<(), StoreError> {
        let (env, svc, id) = (environment.to_string(), service.to_string(), deployment_id.to_string());
        self.run(|t| async move { t.renew_lock(&env, &svc, &id, lease_ms, now).await })
    }

    fn release_lock(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), StoreError> {
        let (env, svc, id) = (environment.to_string(), service.to_string(), deployment_id.to_string());
        self.run(|t| async move { t.release_lock(&env, &svc, &id).await })
    }

    fn lock(&self, environment: &str, service: &str) -> Result<Option<LockInfo>, StoreError> {
        let (env, svc) = (environment.to_string(), service.to_string());
        self.run(|t| async move { Ok(t.read_lock(&env, &svc).await?.map(|seen| seen.info)) })
    }

    fn unlock(&self, environment: &str, service: &str, by: &str, reason: &str, now: i64) -> Result<Option<Unlock>, StoreError> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid(format!("a reason is needed to free the lock on {service} in {environment}")));
        }
        let (env, svc, by, reason) = (environment.to_string(), service.to_string(), by.to_string(), reason.to_string());
        self.run(|t| async move { t.unlock(&env, &svc, &by, &reason, now).await })
    }

    fn unlocks(&self, environment: &str, service: &str) -> Result<Vec<Unlock>, StoreError> {
        let (env, svc) = (environment.to_string(), service.to_string());
        self.run(|t| async move { t.unlocks(&env, &svc).await })
    }

    fn create_release(
        &self,
        entries: Vec<ReleaseEntry>,
        created_by: &str,
        source: &str,
        commits: &[String],
        now: i64,
    ) -> Result<Release, StoreError> {
        let (id, entries) = ferry_store::release_of(entries)?;
        let (by, source, commits) = (created_by.to_string(), source.to_string(), commits.to_vec());
        self.run(|t| async move { t.create_release(&id, entries, &by, &source, &commits, now).await })
    }

    fn release(&self, id: &str) -> Result<Option<Release>, StoreError> {
        let id = id.to_string();
        self.run(|t| async move { t.release(&id).await })
    }

    fn releases(&self, limit: usize) -> Result<Vec<Release>, StoreError> {
        self.run(|t| async move { t.releases(limit).await })
    }

    fn reject_release(&self, id: &str, by: &str, reason: &str, now: i64) -> Result<Release, StoreError> {
        let (id, by, reason) = (id.to_string(), by.to_string(), reason.to_string());
        self.run(|t| async move { t.reject_release(&id, &by, &reason, now).await })
    }

    fn insert_promotion(&self, promotion: &Promotion) -> Result<(), StoreError> {
        let p = promotion.clone();
        self.run(|t| async move { t.insert_promotion(&p).await })
    }

    fn update_promotion(&self, promotion: &Promotion) -> Result<(), StoreError> {
        let p = promotion.clone();
        self.run(|t| async move { t.update_promotion(&p).await })
    }

    fn promotions(&self, release_id: Option<&str>, limit: usize) -> Result<Vec<Promotion>, StoreError> {
        let release_id = release_id.map(str::to_string);
        self.run(|t| async move { t.promotions(release_id.as_deref(), limit).await })
    }

    fn start_step(&self, deployment_id: &str, name: &str, data: &serde_json::Value, now: i64) -> Result<i64, StoreError> {
        let (id, name, data) = (deployment_id.to_string(), name.to_string(), data.clone());
        self.run(|t| async move { t.start_step(&id, &name, &data, now).await })
    }

    fn finish_step(&self, deployment_id: &str, seq: i64, state: StepState, data: &serde_json::Value, now: i64) -> Result<(), StoreError> {
        let (id, data) = (deployment_id.to_string(), data.clone());
        self.run(|t| async move { t.finish_step(&id, seq, state, &data, now).await })
    }

    fn steps(&self, deployment_id: &str) -> Result<Vec<StepRecord>, StoreError> {
        let id = deployment_id.to_string();
        self.run(|t| async move { t.steps(&id).await })
    }
}
