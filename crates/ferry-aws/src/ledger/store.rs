//! The table's calls: strongly consistent reads, conditional writes, transactions, paged
//! queries, and what their failures mean for the person running ferry. Also the runtime
//! the ledger's calls run on ([`Bridge`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
#[cfg(test)]
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use ferry_store::StoreError;

use super::items::{self, Item, PK, SK};
use crate::reach::Reach;

/// How often a write whose condition failed because another writer got there first is
/// read, decided and tried again before giving up. Each retry follows a fresh read, so
/// only a key written continuously by others runs out of these.
pub(crate) const CONFLICT_RETRIES: usize = 25;

/// The most pages a query reads: a bound, far above any listing ferry makes.
const MAX_PAGES: usize = 10_000;

/// Why a call did not do what it was asked.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A condition failed (the item changed since it was read, or exists / does not), or a
    /// transaction was cancelled for it or for a concurrent transaction: read and decide again.
    Conflict,
    /// Anything else, worded for the user.
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

pub(crate) type CallResult<T> = Result<T, Fail>;

/// A condition expression with its placeholders.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cond {
    pub expr: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Cond {
    /// `attribute_not_exists(pk)`: the item does not exist.
    pub fn absent() -> Cond {
        Cond::new("attribute_not_exists(#pk)").name("#pk", PK)
    }
    /// `attribute_exists(pk)`: the item exists.
    pub fn present() -> Cond {
        Cond::new("attribute_exists(#pk)").name("#pk", PK)
    }
    pub fn new(expr: &str) -> Cond {
        Cond { expr: expr.to_string(), ..Cond::default() }
    }
    pub fn name(mut self, placeholder: &str, attribute: &str) -> Cond {
        self.names.insert(placeholder.to_string(), attribute.to_string());
        self
    }
    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Cond {
        self.values.insert(placeholder.to_string(), value);
        self
    }
}

/// One write, alone or in a transaction.
#[derive(Clone, Debug)]
pub(crate) enum Write {
    Put {
        item: Item,
        cond: Option<Cond>,
    },
    Delete {
        key: Item,
        cond: Option<Cond>,
    },
    /// `cond.expr` is the update expression; `check` the condition, sharing its placeholders.
    Update {
        key: Item,
        update: Cond,
        check: Option<String>,
    },
    Check {
        key: Item,
        cond: Cond,
    },
}

/// Which sort keys a query reads.
#[derive(Clone, Debug)]
pub(crate) enum Range {
    All,
    BeginsWith(String),
    Between(String, String),
}

/// The table and how to reach it.
#[derive(Debug)]
pub(crate) struct Table {
    pub client: Client,
    pub name: String,
    pub region: String,
    pub reach: Arc<Reach>,
    /// The sequence number this handle expects the next event or step of a deployment to
    /// take, by (deployment id, sort key prefix), learned from its own writes: a guess that
    /// spares the Query before each conditional put. A wrong guess (another writer took the
    /// number) fails the put's condition, and the number is read again.
    pub next_seq: std::sync::Mutex<std::collections::HashMap<(String, &'static str), i64>>,
}

impl Table {
    /// The guessed next sequence number of `prefix` items of `deployment_id`, if any.
    pub fn guessed_seq(&self, deployment_id: &str, prefix: &'static str) -> Option<i64> {
        self.next_seq.lock().ok()?.get(&(deployment_id.to_string(), prefix)).copied()
    }

    /// Remembers that `seq` was written (`None`: forget the guess).
    pub fn wrote_seq(&self, deployment_id: &str, prefix: &'static str, seq: Option<i64>) {
        if let Ok(mut guesses) = self.next_seq.lock() {
            let key = (deployment_id.to_string(), prefix);
            match seq {
                Some(seq) => guesses.insert(key, seq + 1),
                None => guesses.remove(&key),
            };
        }
    }
}

impl Table {
    pub fn location(&self) -> String {
        location(&self.name, &self.region)
    }

    pub fn remote(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Remote { location: self.location(), detail: detail.into() }
    }

    /// A record in the table that ferry cannot read back.
    pub fn corrupt(&self, what: &str, detail: impl std::fmt::Display) -> Fail {
        Fail::Store(
            self.remote(format!(
                "{what} cannot be read: {detail}; the item was changed by something other than ferry (or by a newer ferry)"
            )),
        )
    }

    /// The item at (`pk`, `sk`), read strongly consistently.
    pub async fn get(&self, pk: &str, sk: &str) -> CallResult<Option<Item>> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(items::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.fail("GetItem", e))?;
        Ok(answer.item)
    }

    /// The items of partition `pk` in `range`, in sort key order (reversed when
    /// `newest_first`), those `keep` accepts, at most `limit` (all with `None`), following
    /// pages. Strongly consistent.
    pub async fn query(
        &self,
        pk: &str,
        range: Range,
        newest_first: bool,
        limit: Option<usize>,
        mut keep: impl FnMut(&Item) -> bool,
    ) -> CallResult<Vec<Item>> {
        let (condition, mut values) = match &range {
            Range::All => ("#pk = :pk", HashMap::new()),
            Range::BeginsWith(prefix) => ("#pk = :pk AND begins_with(#sk, :a)", HashMap::from([(":a".to_string(), items::s(prefix))])),
            Range::Between(low, high) => (
                "#pk = :pk AND #sk BETWEEN :a AND :b",
                HashMap::from([(":a".to_string(), items::s(low)), (":b".to_string(), items::s(high))]),
            ),
        };
        values.insert(":pk".to_string(), items::s(pk));
        let mut names = HashMap::from([("#pk".to_string(), PK.to_string())]);
        if !matches!(range, Range::All) {
            names.insert("#sk".to_string(), SK.to_string());
        }
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        for _ in 0..MAX_PAGES {
            let wanted = limit.map(|limit| limit.saturating_sub(found.len()));
            let page_size = wanted.map_or(100, |w| w.clamp(1, 100));
            let answer = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!newest_first)
                .consistent_read(true)
                .limit(i32::try_from(page_size).unwrap_or(100))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.fail("Query", e))?;
            for item in answer.items.unwrap_or_default() {
                if keep(&item) {
                    found.push(item);
                    if limit.is_some_and(|limit| found.len() >= limit) {
                        return Ok(found);
                    }
                }
            }
            match answer.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
        Err(Fail::Store(self.remote(format!("the partition {pk} holds more than {MAX_PAGES} pages; not read to the end"))))
    }

    /// One write on its own; a failed condition is [`Fail::Conflict`].
    pub async fn write(&self, write: Write) -> CallResult<()> {
        match write {
            Write::Put { item, cond } => {
                let cond = cond.unwrap_or_default();
                self.client
                    .put_item()
                    .table_name(&self.name)
                    .set_item(Some(item))
                    .set_condition_expression(non_empty(cond.expr))
                    .set_expression_attribute_names(non_empty_map(cond.names))
                    .set_expression_attribute_values(non_empty_map(cond.values))
                    .send()
                    .await
                    .map_err(|e| self.fail("PutItem", e))?;
            }
            Write::Delete { key, cond } => {
                let cond = cond.unwrap_or_default();
                self.client
                    .delete_item()
                    .table_name(&self.name)
                    .set_key(Some(key))
                    .set_condition_expression(non_empty(cond.expr))
                    .set_expression_attribute_names(non_empty_map(cond.names))
                    .set_expression_attribute_values(non_empty_map(cond.values))
                    .send()
                    .await
                    .map_err(|e| self.fail("DeleteItem", e))?;
            }
            Write::Update { key, update, check } => {
                self.client
                    .update_item()
                    .table_name(&self.name)
                    .set_key(Some(key))
                    .update_expression(update.expr)
                    .set_condition_expression(check)
                    .set_expression_attribute_names(non_empty_map(update.names))
                    .set_expression_attribute_values(non_empty_map(update.values))
                    .send()
                    .await
                    .map_err(|e| self.fail("UpdateItem", e))?;
            }
            Write::Check { .. } => return Err(Fail::Store(self.remote("internal: a condition check outside a transaction"))),
        }
        Ok(())
    }

    /// Several writes, all or none (TransactWriteItems). A failed condition, or a
    /// concurrent transaction on the same items, is [`Fail::Conflict`].
    pub async fn transact(&self, writes: Vec<Write>) -> CallResult<()> {
        let items = writes.into_iter().map(|w| self.transact_item(w)).collect::<Result<Vec<_>, _>>()?;
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = e.as_service_error() {
                    // Cancelled for a condition or a concurrent transaction: decide again.
                    // For anything else (a validation error, capacity), the reasons say what.
                    let other: Vec<String> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|r| r.code())
                        .filter(|code| !["None", "ConditionalCheckFailed", "TransactionConflict"].contains(code))
                        .map(|code| code.to_string())
                        .collect();
                    if other.is_empty() {
                        return Err(Fail::Conflict);
                    }
                    if other.iter().any(|code| code.contains("Throttl") || code.contains("ProvisionedThroughput")) {
                        return Err(Fail::Store(self.throttled("TransactWriteItems")));
                    }
                }
                Err(self.fail("TransactWriteItems", e))
            }
        }
    }

    fn transact_item(&self, write: Write) -> CallResult<TransactWriteItem> {
        let built = match write {
            Write::Put { item, cond } => {
                let cond = cond.unwrap_or_default();
                Put::builder()
                    .table_name(&self.name)
                    .set_item(Some(item))
                    .set_condition_expression(non_empty(cond.expr))
                    .set_expression_attribute_names(non_empty_map(cond.names))
                    .set_expression_attribute_values(non_empty_map(cond.values))
                    .build()
                    .map(|put| TransactWriteItem::builder().put(put).build())
            }
            Write::Delete { key, cond } => {
                let cond = cond.unwrap_or_default();
                Delete::builder()
                    .table_name(&self.name)
                    .set_key(Some(key))
                    .set_condition_expression(non_empty(cond.expr))
                    .set_expression_attribute_names(non_empty_map(cond.names))
                    .set_expression_attribute_values(non_empty_map(cond.values))
                    .build()
                    .map(|delete| TransactWriteItem::builder().delete(delete).build())
            }
            Write::Update { key, update, check } => Update::builder()
                .table_name(&self.name)
                .set_key(Some(key))
                .update_expression(update.expr)
                .set_condition_expression(check)
                .set_expression_attribute_names(non_empty_map(update.names))
                .set_expression_attribute_values(non_empty_map(update.values))
                .build()
                .map(|update| TransactWriteItem::builder().update(update).build()),
            Write::Check { key, cond } => ConditionCheck::builder()
                .table_name(&self.name)
                .set_key(Some(key))
                .condition_expression(cond.expr)
                .set_expression_attribute_names(non_empty_map(cond.names))
                .set_expression_attribute_values(non_empty_map(cond.values))
                .build()
                .map(|check| TransactWriteItem::builder().condition_check(check).build()),
        };
        built.map_err(|e| Fail::Store(self.remote(format!("internal: a write could not be built: {e}"))))
    }

    /// The next number of the table-wide insertion counter (1, 2, ...): the tie-breaker of
    /// records made in the same millisecond, as SQLite's row ids are.
    pub async fn next_seq(&self) -> CallResult<i64> {
        let answer = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(items::key(items::META, items::COUNTER_SK)))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", items::n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| self.fail("UpdateItem", e))?;
        answer
            .attributes
            .as_ref()
            .and_then(|a| items::get_n(a, "n"))
            .ok_or_else(|| Fail::Store(self.remote("the insertion counter (pk ferry, sk counter) answered no number")))
    }

    /// What a failed call means: a failed condition is [`Fail::Conflict`]; a missing table,
    /// denied access and throttling say what to do; anything else in
    /// [`Reach::error`](crate::reach::Reach::error)'s words.
    pub fn fail<E>(&self, operation: &str, error: SdkError<E, HttpResponse>) -> Fail
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match error.code() {
            Some("ConditionalCheckFailedException" | "TransactionConflictException") => Fail::Conflict,
            Some("ResourceNotFoundException") => Fail::Store(self.missing()),
            Some(code) if code.starts_with("AccessDenied") || code == "UnrecognizedClientException" => {
                let message = error.message().unwrap_or_default().to_string();
                Fail::Store(self.remote(format!(
                    "access denied to dynamodb:{operation} on table {} ({code}: {message}); the credentials in use need \
                     dynamodb:{operation} on arn:aws:dynamodb:{}:ACCOUNT:table/{} (docs/ledger.md lists every action the ledger uses)",
                    self.name, self.region, self.name
                )))
            }
            Some("ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded") => {
                Fail::Store(self.throttled(operation))
            }
            _ => Fail::Store(self.remote(self.reach.error(&format!("dynamodb:{operation}"), error).to_string())),
        }
    }

    pub fn missing(&self) -> StoreError {
        missing(&self.name, &self.region)
    }

    fn throttled(&self, operation: &str) -> StoreError {
        self.remote(format!(
            "dynamodb:{operation} was throttled, and still after the SDK's retries; the table is \
             busier than its capacity: use on-demand capacity (PAY_PER_REQUEST, as `ferry ledger init` creates it), \
             raise its provisioned capacity, or try again"
        ))
    }
}

/// `dynamodb://TABLE (REGION)`.
pub(crate) fn location(table: &str, region: &str) -> String {
    format!("dynamodb://{table} ({region})")
}

/// The table does not exist (or not in this region, or not in this account).
pub(crate) fn missing(table: &str, region: &str) -> StoreError {
    StoreError::TableGone {
        location: location(table, region),
        detail: format!(
            "there is no DynamoDB table {table} in {region} (for these credentials' account): create it with \
             `ferry ledger init`, or check the table name and region in the [ledger] settings"
        ),
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn non_empty_map<V>(map: HashMap<String, V>) -> Option<HashMap<String, V>> {
    (!map.is_empty()).then_some(map)
}

/// The runtime the ledger's calls run on, owned by the ledger.
///
/// The ledger's API is synchronous and is called both from plain threads and from inside
/// the caller's tokio runtime, where `block_on` would panic. So each call is spawned onto
/// this runtime (two worker threads; calls from several threads run concurrently, as
/// futures) and the calling thread waits on a channel for the answer. Dropped without
/// waiting for its threads (`shutdown_background`), so dropping a ledger inside an async
/// context is fine too.
#[derive(Debug)]
pub(crate) struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    pub fn new() -> Result<Bridge, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("ferry-ledger").enable_all().build()?;
        Ok(Bridge { runtime: Some(runtime) })
    }

    pub fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.runtime.as_ref().map(tokio::runtime::Runtime::handle)
    }

    /// Runs `call` on the ledger's runtime and waits for its answer on this thread.
    pub fn run<T: Send + 'static>(
        &self,
        location: &str,
        call: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let stopped =
            || StoreError::Remote { location: location.to_string(), detail: "internal: the ledger's runtime stopped mid-call".to_string() };
        let handle = self.handle().ok_or_else(stopped)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        handle.spawn(async move {
            let _ = tx.send(call.await);
        });
        // Called from a worker of the caller's multi-thread runtime (the deploy engine's
        // observers are synchronous), the wait would hold that worker for a whole round trip
        // and queue every other service's work behind it: tell tokio, so it moves them to
        // another worker meanwhile. Elsewhere (a plain thread, a current-thread runtime) the
        // thread just waits.
        let in_multi_thread_runtime =
            tokio::runtime::Handle::try_current().is_ok_and(|caller| caller.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let answer = if in_multi_thread_runtime { tokio::task::block_in_place(|| rx.recv()) } else { rx.recv() };
        answer.map_err(|_| stopped())?
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_from_several_threads_run_at_once_and_a_bridge_drops_inside_a_runtime() {
        let bridge = Bridge::new().expect("runtime");
        // Eight calls that each wait for all eight to have started: they finish only if they
        // run at once (a bridge that ran one call at a time would time out here).
        let all_started = Arc::new(tokio::sync::Barrier::new(8));
        let bridge_ref = &bridge;
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let all_started = all_started.clone();
                scope.spawn(move || {
                    bridge_ref
                        .run("test", async move {
                            tokio::time::timeout(Duration::from_secs(30), all_started.wait())
                                .await
                                .map(|_| ())
                                .map_err(|_| StoreError::NotFound("the calls did not overlap".into()))
                        })
                        .expect("call");
                });
            }
        });
        let outer = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        outer.block_on(async move { drop(bridge) });
    }

    /// Not a check: the cost of one call through the bridge, without any I/O
    /// (`cargo test -p ferry-aws --lib -- --ignored --nocapture bridge_overhead`).
    #[test]
    #[ignore]
    fn bridge_overhead() {
        let bridge = Bridge::new().expect("runtime");
        const CALLS: u32 = 20_000;
        let start = std::time::Instant::now();
        for _ in 0..CALLS {
            bridge.run("test", async { Ok(()) }).expect("call");
        }
        println!("bridge: {:.1} µs per call", start.elapsed().as_secs_f64() * 1e6 / f64::from(CALLS));
    }
}
