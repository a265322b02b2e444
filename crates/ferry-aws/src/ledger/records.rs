//! Deployments, their events and their journaled steps, as the table holds them.
//!
//! A deployment is one item in its own partition (`deployment#ID`, sort key `deployment`),
//! where its events and steps follow it, plus a copy in each listing partition it belongs
//! to, all written by one transaction. Events and steps take the next sequence number of
//! their deployment with a conditional put (`attribute_not_exists`): two writers that read
//! the same last number cannot both write the next one; the loser reads again.

use ferry_store::{DeploymentRecord, EventRecord, HistoryFilter, Outcome, StepRecord, StepState, StoreError};
use serde_json::Value;

use super::items::{self, Item};
use super::store::{CONFLICT_RETRIES, CallResult, Cond, Fail, Range, Table, Write};

const DEPLOYMENT: &str = "deployment";

/// The listing partitions a deployment's copies live in, permanent first; the last two are
/// the sparse ones, present only while the outcome says so.
fn listings(record: &DeploymentRecord) -> (Vec<String>, [(String, bool); 2]) {
    let (env, svc) = (record.environment.as_str(), record.service.as_str());
    let permanent =
        vec![items::HISTORY.to_string(), items::history_env_pk(env), items::history_service_pk(svc), items::service_pk(env, svc)];
    let sparse = [
        (items::in_progress_pk(env, svc), record.outcome == Outcome::InProgress),
        (items::succeeded_pk(env, svc), record.outcome == Outcome::Succeeded),
    ];
    (permanent, sparse)
}

fn deployment_value(table: &Table, record: &DeploymentRecord) -> CallResult<Value> {
    serde_json::to_value(record).map_err(|e| table.corrupt(&format!("deployment {}", record.id), e))
}

/// Every write that stores `record` (ordered at `order`): its own item (with `own`'s
/// condition), a copy in each listing it belongs to, and (unless it is `new`) a delete of
/// the sparse copies it no longer belongs to.
fn record_writes(table: &Table, record: &DeploymentRecord, order: &str, own: Cond, new: bool) -> CallResult<Vec<Write>> {
    let value = deployment_value(table, record)?;
    let mut primary = items::record_item(items::key(items::deployment_pk(&record.id), items::DEPLOYMENT_SK), DEPLOYMENT, value.clone());
    primary.insert(items::ORDER.to_string(), items::s(order));
    let mut writes = vec![Write::Put { item: primary, cond: Some(own) }];
    let (permanent, sparse) = listings(record);
    for pk in permanent {
        writes.push(Write::Put { item: items::record_item(items::key(pk, order), DEPLOYMENT, value.clone()), cond: None });
    }
    for (pk, wanted) in sparse {
        if wanted {
            writes.push(Write::Put { item: items::record_item(items::key(pk, order), DEPLOYMENT, value.clone()), cond: None });
        } else if !new {
            writes.push(Write::Delete { key: items::key(pk, order), cond: None });
        }
    }
    Ok(writes)
}

pub(super) fn event_item(deployment_id: &str, seq: i64, event: &EventRecord) -> Item {
    let mut item = items::key(items::deployment_pk(deployment_id), items::event_sk(seq));
    item.insert(items::TYPE.to_string(), items::s("event"));
    item.insert("at".to_string(), items::n(event.at));
    item.insert("kind".to_string(), items::s(&event.kind));
    item.insert("message".to_string(), items::s(&event.message));
    item
}

fn read_deployment(table: &Table, item: &Item) -> CallResult<DeploymentRecord> {
    items::read_record(table, item, "deployment", items::PK)
}

impl Table {
    /// Inserts `record`, with `first_event` when given, in one transaction; a duplicate id
    /// is refused naming the table.
    pub async fn insert_deployment(&self, record: &DeploymentRecord, first_event: Option<&EventRecord>) -> CallResult<()> {
        for _ in 0..CONFLICT_RETRIES {
            let seq = self.next_seq().await?;
            let order = items::order_key(record.started_at, seq);
            let mut writes = record_writes(self, record, &order, Cond::absent(), true)?;
            let mut registry = items::key(items::SERVICES, items::service_sk(&record.environment, &record.service));
            registry.insert(items::TYPE.to_string(), items::s("service"));
            registry.insert("environment".to_string(), items::s(&record.environment));
            registry.insert("service".to_string(), items::s(&record.service));
            writes.push(Write::Put { item: registry, cond: None });
            if let Some(event) = first_event {
                writes.push(Write::Put { item: event_item(&record.id, 1, event), cond: Some(Cond::absent()) });
            }
            match self.transact(writes).await {
                Ok(()) => return Ok(()),
                Err(Fail::Conflict) => {
                    if self.get(&items::deployment_pk(&record.id), items::DEPLOYMENT_SK).await?.is_some() {
                        return Err(Fail::Store(StoreError::Invalid(format!(
                            "ledger {}: deployment {} is already recorded; deployment ids are unique, so two runs are confused about who they are",
                            self.location(),
                            record.id
                        ))));
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Err(Fail::Store(self.busy(&format!("recording deployment {}", record.id))))
    }

    /// Replaces what a deployment learns as it goes; its identity fields stay as inserted.
    pub async fn update_deployment(&self, record: &DeploymentRecord) -> CallResult<()> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(item) = self.get(&items::deployment_pk(&record.id), items::DEPLOYMENT_SK).await? else {
                return Err(Fail::Store(StoreError::NotFound(format!("no deployment {} in the ledger to update", record.id))));
            };
            let stored = read_deployment(self, &item)?;
            let Some(order) = items::get_s(&item, items::ORDER).map(str::to_string) else {
                return Err(self.corrupt(&format!("deployment {}", record.id), "it has no order attribute"));
            };
            let updated = DeploymentRecord {
                run_id: stored.run_id,
                kind: stored.kind,
                environment: stored.environment,
                service: stored.service,
                cluster: stored.cluster,
                ecs_service: stored.ecs_service,
                who: stored.who,
                started_at: stored.started_at,
                ..record.clone()
            };
            match self.transact(record_writes(self, &updated, &order, Cond::present(), false)?).await {
                Ok(()) => return Ok(()),
                Err(Fail::Conflict) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Fail::Store(self.busy(&format!("updating deployment {}", record.id))))
    }

    pub async fn deployment(&self, id: &str) -> CallResult<Option<DeploymentRecord>> {
        match self.get(&items::deployment_pk(id), items::DEPLOYMENT_SK).await? {
            Some(item) => Ok(Some(read_deployment(self, &item)?)),
            None => Ok(None),
        }
    }

    /// The newest deployments of listing partition `pk` that `keep` accepts, at most `limit`.
    async fn listing(&self, pk: &str, limit: usize, keep: impl FnMut(&DeploymentRecord) -> bool) -> CallResult<Vec<DeploymentRecord>> {
        let mut keep = keep;
        let mut unreadable = None;
        // Each item is read once: the records kept are the items the query keeps.
        let mut kept = Vec::new();
        self.query(pk, Range::All, true, Some(limit), |item| match read_deployment(self, item) {
            Ok(record) => {
                let wanted = keep(&record);
                if wanted {
                    kept.push(record);
                }
                wanted
            }
            Err(e) => {
                unreadable.get_or_insert(e);
                true
            }
        })
        .await?;
        match unreadable {
            Some(e) => Err(e),
            None => Ok(kept),
        }
    }

    pub async fn history(&self, filter: &HistoryFilter) -> CallResult<Vec<DeploymentRecord>> {
        let limit = if filter.limit == 0 { HistoryFilter::DEFAULT_LIMIT } else { filter.limit };
        let pk = match (&filter.environment, &filter.service) {
            (Some(env), Some(svc)) => items::service_pk(env, svc),
            (Some(env), None) => items::history_env_pk(env),
            (None, Some(svc)) => items::history_service_pk(svc),
            (None, None) => items::HISTORY.to_string(),
        };
        self.listing(&pk, limit, |_| true).await
    }

    pub async fn unfinished(&self, environment: &str, service: &str) -> CallResult<Option<DeploymentRecord>> {
        Ok(self.listing(&items::in_progress_pk(environment, service), 1, |_| true).await?.pop())
    }

    pub async fn last_succeeded(&self, environment: &str, service: &str, excluding: Option<&str>) -> CallResult<Option<DeploymentRecord>> {
        let keep = |r: &DeploymentRecord| excluding.is_none() || r.to_task_definition.as_deref() != excluding;
        Ok(self.listing(&items::succeeded_pk(environment, service), 1, keep).await?.pop())
    }

    pub async fn succeeded_with_version(&self, environment: &str, service: &str, version: &str) -> CallResult<Option<DeploymentRecord>> {
        let keep = |r: &DeploymentRecord| r.to_version.as_deref() == Some(version);
        Ok(self.listing(&items::succeeded_pk(environment, service), 1, keep).await?.pop())
    }

    pub async fn healthy_since(&self, environment: &str, service: &str, digest: &str) -> CallResult<Option<i64>> {
        let newest = self.latest_success(environment, service).await?;
        Ok(newest.filter(|r| r.to_digest.as_deref() == Some(digest)).and_then(|r| r.finished_at))
    }

    /// The (environment, service) pairs ever deployed, in `environment` if given, sorted.
    pub async fn services(&self, environment: Option<&str>) -> CallResult<Vec<(String, String)>> {
        let range = match environment {
            Some(env) => Range::BeginsWith(format!("{}#", items::part(env))),
            None => Range::All,
        };
        let found = self.query(items::SERVICES, range, false, None, |_| true).await?;
        let mut pairs = found
            .iter()
            .map(|item| match (items::get_s(item, "environment"), items::get_s(item, "service")) {
                (Some(env), Some(svc)) => Ok((env.to_string(), svc.to_string())),
                _ => Err(self.corrupt("a services registry item", "it has no environment or service")),
            })
            .collect::<CallResult<Vec<_>>>()?;
        pairs.sort();
        Ok(pairs)
    }

    /// The newest success of (`environment`, `service`).
    pub async fn latest_success(&self, environment: &str, service: &str) -> CallResult<Option<DeploymentRecord>> {
        self.last_succeeded(environment, service, None).await
    }

    /// The last item of `deployment_id`'s partition up to the last `prefix` item (events or
    /// steps): the next sequence number after it, or `None` when the deployment is not
    /// recorded. The record sorts first, so it answers when there is nothing after it.
    async fn next_in(&self, deployment_id: &str, prefix: &str) -> CallResult<Option<i64>> {
        let last = self
            .query(
                &items::deployment_pk(deployment_id),
                Range::Between(items::DEPLOYMENT_SK.to_string(), format!("{prefix}~")),
                true,
                Some(1),
                |_| true,
            )
            .await?;
        let Some(item) = last.first() else { return Ok(None) };
        let sk = items::get_s(item, items::SK).unwrap_or_default();
        if !sk.starts_with(prefix) {
            return Ok(Some(1));
        }
        match items::seq_of(sk) {
            Some(seq) => Ok(Some(seq + 1)),
            None => Err(self.corrupt(&format!("{sk} of deployment {deployment_id}"), "its sort key has no sequence number")),
        }
    }

    /// The sequence number the next event of `deployment_id` takes; `None` when it is not
    /// recorded.
    pub async fn next_event(&self, deployment_id: &str) -> CallResult<Option<i64>> {
        self.next_in(deployment_id, items::EVENT_PREFIX).await
    }

    /// Writes the next `prefix` item (an event or a step) of `deployment_id`, `item(seq)`, under
    /// the sequence number this handle expects next ([`Table::guessed_seq`]), else the one read
    /// after the last; a number another writer took fails the put's condition and is read
    /// again. Returns the number taken. `(what, doing)` word the errors ("record an event",
    /// "recording an event").
    async fn append(
        &self,
        deployment_id: &str,
        prefix: &'static str,
        (what, doing): (&str, &str),
        item: impl Fn(i64) -> Item,
    ) -> CallResult<i64> {
        for _ in 0..CONFLICT_RETRIES {
            let next = match self.guessed_seq(deployment_id, prefix) {
                Some(seq) => Some(seq),
                None => self.next_in(deployment_id, prefix).await?,
            };
            let Some(seq) = next else {
                return Err(Fail::Store(StoreError::NotFound(format!("no deployment {deployment_id} in the ledger to {what} for"))));
            };
            match self.write(Write::Put { item: item(seq), cond: Some(Cond::absent()) }).await {
                Ok(()) => {
                    self.wrote_seq(deployment_id, prefix, Some(seq));
                    return Ok(seq);
                }
                Err(Fail::Conflict) => self.wrote_seq(deployment_id, prefix, None),
                Err(other) => return Err(other),
            }
        }
        Err(Fail::Store(self.busy(&format!("{doing} of deployment {deployment_id}"))))
    }

    pub async fn record_event(&self, deployment_id: &str, event: &EventRecord) -> CallResult<()> {
        self.append(deployment_id, items::EVENT_PREFIX, ("record an event", "recording an event"), |seq| {
            event_item(deployment_id, seq, event)
        })
        .await
        .map(|_| ())
    }

    pub async fn events(&self, deployment_id: &str) -> CallResult<Vec<EventRecord>> {
        let found = self
            .query(&items::deployment_pk(deployment_id), Range::BeginsWith(items::EVENT_PREFIX.to_string()), false, None, |_| true)
            .await?;
        found
            .iter()
            .map(|item| match (items::get_n(item, "at"), items::get_s(item, "kind"), items::get_s(item, "message")) {
                (Some(at), Some(kind), Some(message)) => Ok(EventRecord { at, kind: kind.to_string(), message: message.to_string() }),
                _ => Err(self.corrupt(&format!("an event of deployment {deployment_id}"), "it lacks at, kind or message")),
            })
            .collect()
    }

    pub async fn start_step(&self, deployment_id: &str, name: &str, data: &Value, now: i64) -> CallResult<i64> {
        let step = |seq: i64| {
            let mut item = items::key(items::deployment_pk(deployment_id), items::step_sk(seq));
            item.insert(items::TYPE.to_string(), items::s("step"));
            item.insert("name".to_string(), items::s(name));
            item.insert("state".to_string(), items::s(StepState::Started.as_str()));
            item.insert("started_at".to_string(), items::n(now));
            item.insert("data".to_string(), items::s(data.to_string()));
            item
        };
        self.append(deployment_id, items::STEP_PREFIX, ("journal a step", "journaling a step"), step).await
    }

    pub async fn finish_step(&self, deployment_id: &str, seq: i64, state: StepState, data: &Value, now: i64) -> CallResult<()> {
        let update = Cond::new("SET #state = :state, #finished = :finished, #data = :data")
            .name("#pk", items::PK)
            .name("#state", "state")
            .name("#finished", "finished_at")
            .name("#data", "data")
            .value(":state", items::s(state.as_str()))
            .value(":finished", items::n(now))
            .value(":data", items::s(data.to_string()));
        let write = Write::Update {
            key: items::key(items::deployment_pk(deployment_id), items::step_sk(seq)),
            update,
            check: Some("attribute_exists(#pk)".to_string()),
        };
        match self.write(write).await {
            Err(Fail::Conflict) => {
                Err(Fail::Store(StoreError::NotFound(format!("no step {seq} of deployment {deployment_id} in the ledger"))))
            }
            other => other,
        }
    }

    pub async fn steps(&self, deployment_id: &str) -> CallResult<Vec<StepRecord>> {
        let found = self
            .query(&items::deployment_pk(deployment_id), Range::BeginsWith(items::STEP_PREFIX.to_string()), false, None, |_| true)
            .await?;
        found
            .iter()
            .map(|item| {
                let sk = items::get_s(item, items::SK).unwrap_or_default();
                let what = format!("step {sk} of deployment {deployment_id}");
                let seq = items::seq_of(sk).ok_or_else(|| self.corrupt(&what, "no sequence number"))?;
                let state = items::get_s(item, "state").unwrap_or_default().parse::<StepState>().map_err(|e| self.corrupt(&what, e))?;
                let data = serde_json::from_str(items::get_s(item, "data").unwrap_or_default()).map_err(|e| self.corrupt(&what, e))?;
                Ok(StepRecord {
                    seq,
                    name: items::get_s(item, "name").ok_or_else(|| self.corrupt(&what, "no name"))?.to_string(),
                    state,
                    started_at: items::get_n(item, "started_at").ok_or_else(|| self.corrupt(&what, "no started_at"))?,
                    finished_at: items::get_n(item, "finished_at"),
                    data,
                })
            })
            .collect()
    }

    /// Others kept writing the same items for every one of [`CONFLICT_RETRIES`] attempts.
    pub fn busy(&self, what: &str) -> StoreError {
        self.remote(format!(
            "{what}: other writers changed the same items {CONFLICT_RETRIES} times in a row; nothing was written, try again"
        ))
    }
}
