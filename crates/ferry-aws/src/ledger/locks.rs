//! Locks as leases with conditional writes.
//!
//! A lock is one item (`lock#ENV#SERVICE`, sort key `lock`) carrying its holder, its lease
//! (`lease_until`, milliseconds) and a revision `rev` that every write increments. Taking
//! it is read (strongly consistent), decide exactly as `SqliteLedger::take_lock` does, then
//! write on the condition that the item is as read: `attribute_not_exists(pk)` when there
//! was none, `rev = :seen` otherwise. Of several writers that read the same state, one
//! wins the condition; the others read again and decide again (now seeing the winner's
//! lease, they are refused). Renewing and releasing are conditional on the holder.
//!
//! The item's TTL attribute (`expires_at`, epoch seconds) is only clean-up: DynamoDB may
//! delete a lock item a week after its lease ended (see [`expires_at`]); ferry decides by
//! `lease_until`, never by whether DynamoDB has deleted the item yet.

use ferry_store::{EventRecord, LockHolder, LockInfo, StoreError, Unlock};

use super::items::{self, Item};
use super::store::{CONFLICT_RETRIES, CallResult, Cond, Fail, Range, Table, Write};

/// How long after its lease ends a lock item may be deleted by the table's TTL: long
/// enough that a holder that stalled can still renew a lapsed lease nobody took (as the
/// SQLite ledger allows), short enough that the table does not fill with locks of services
/// long gone.
pub const LOCK_TTL_GRACE_SECS: i64 = 7 * 24 * 3600;

/// The TTL of a lock whose lease ends at `lease_until` (ms): a week later, counted from the
/// wall clock when that is later, so a ledger driven by a test's clock in the past is not
/// swept while in use. The lease itself is never judged by this.
pub fn expires_at(lease_until: i64) -> i64 {
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    lease_until.div_euclid(1000).max(wall).saturating_add(LOCK_TTL_GRACE_SECS)
}

/// A lock as read, with the revision a conditional write compares.
#[derive(Clone, Debug)]
pub(crate) struct SeenLock {
    pub info: LockInfo,
    pub rev: i64,
}

fn same_process(a: &LockHolder, b: &LockHolder) -> bool {
    a.host == b.host && a.pid == b.pid
}

/// What taking the lock does, given what was read: `SqliteLedger::take_lock`'s decision.
/// `Ok((acquired_at, taken_over))`, or the refusal.
pub(crate) fn decide(
    current: Option<&LockInfo>,
    holder: &LockHolder,
    now: i64,
    holder_is_gone: &dyn Fn(&LockHolder) -> bool,
) -> Result<(i64, Option<LockInfo>), StoreError> {
    match current {
        Some(current)
            if current.holder.deployment_id == holder.deployment_id
                && (same_process(&current.holder, holder) || current.is_expired(now) || holder_is_gone(&current.holder)) =>
        {
            let from_another_process = !same_process(&current.holder, holder);
            Ok((current.acquired_at, from_another_process.then(|| current.clone())))
        }
        Some(current) if !current.is_expired(now) && !holder_is_gone(&current.holder) => {
            Err(StoreError::LockHeld(Box::new(current.clone())))
        }
        Some(current) => Ok((now, Some(current.clone()))),
        None => Ok((now, None)),
    }
}

fn lock_key(environment: &str, service: &str) -> Item {
    items::key(items::lock_pk(environment, service), items::LOCK_SK)
}

fn unchanged(seen: Option<&SeenLock>) -> Cond {
    match seen {
        None => Cond::absent(),
        Some(seen) => Cond::new("#rev = :seen").name("#rev", "rev").value(":seen", items::n(seen.rev)),
    }
}

fn read_holder(table: &Table, item: &Item, what: &str) -> CallResult<LockHolder> {
    let pid = items::get_n(item, "pid").and_then(|p| u32::try_from(p).ok());
    match (items::get_s(item, "deployment_id"), items::get_s(item, "who"), items::get_s(item, "host"), pid) {
        (Some(deployment_id), Some(who), Some(host), Some(pid)) => {
            Ok(LockHolder { deployment_id: deployment_id.to_string(), who: who.to_string(), host: host.to_string(), pid })
        }
        _ => Err(table.corrupt(what, "it lacks deployment_id, who, host or pid")),
    }
}

impl Table {
    /// The lock on (`environment`, `service`) as stored, expired or not, with its revision.
    pub async fn read_lock(&self, environment: &str, service: &str) -> CallResult<Option<SeenLock>> {
        let Some(item) = self.get(&items::lock_pk(environment, service), items::LOCK_SK).await? else { return Ok(None) };
        let what = format!("the lock on {service} in {environment}");
        let holder = read_holder(self, &item, &what)?;
        match (items::get_n(&item, "acquired_at"), items::get_n(&item, "lease_until")) {
            (Some(acquired_at), Some(lease_until)) => Ok(Some(SeenLock {
                info: LockInfo { environment: environment.to_string(), service: service.to_string(), holder, acquired_at, lease_until },
                rev: items::get_n(&item, "rev").unwrap_or(0),
            })),
            _ => Err(self.corrupt(&what, "it lacks acquired_at or lease_until")),
        }
    }

    /// Writes the lock for `holder` if it is still as `seen`; [`Fail::Conflict`] otherwise.
    pub async fn write_lock(
        &self,
        environment: &str,
        service: &str,
        holder: &LockHolder,
        acquired_at: i64,
        lease_until: i64,
        seen: Option<&SeenLock>,
    ) -> CallResult<()> {
        let mut item = lock_key(environment, service);
        item.insert(items::TYPE.to_string(), items::s("lock"));
        item.insert("environment".to_string(), items::s(environment));
        item.insert("service".to_string(), items::s(service));
        item.insert("deployment_id".to_string(), items::s(&holder.deployment_id));
        item.insert("who".to_string(), items::s(&holder.who));
        item.insert("host".to_string(), items::s(&holder.host));
        item.insert("pid".to_string(), items::n(i64::from(holder.pid)));
        item.insert("acquired_at".to_string(), items::n(acquired_at));
        item.insert("lease_until".to_string(), items::n(lease_until));
        item.insert(items::EXPIRES_AT.to_string(), items::n(expires_at(lease_until)));
        item.insert("rev".to_string(), items::n(seen.map_or(1, |s| s.rev + 1)));
        self.write(Write::Put { item, cond: Some(unchanged(seen)) }).await
    }

    pub async fn renew_lock(&self, environment: &str, service: &str, deployment_id: &str, lease_ms: i64, now: i64) -> CallResult<()> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(seen) = self.read_lock(environment, service).await? else {
                return Err(Fail::Store(StoreError::NotFound(format!("no lock on {service} in {environment} to renew"))));
            };
            if seen.info.holder.deployment_id != deployment_id {
                return Err(Fail::Store(StoreError::LockHeld(Box::new(seen.info))));
            }
            let lease_until = now.saturating_add(lease_ms);
            let update = Cond::new("SET #lease = :lease, #exp = :exp, #rev = :next")
                .name("#lease", "lease_until")
                .name("#exp", items::EXPIRES_AT)
                .name("#rev", "rev")
                .value(":lease", items::n(lease_until))
                .value(":exp", items::n(expires_at(lease_until)))
                .value(":next", items::n(seen.rev + 1))
                .value(":seen", items::n(seen.rev));
            let write = Write::Update { key: lock_key(environment, service), update, check: Some("#rev = :seen".to_string()) };
            match self.write(write).await {
                Ok(()) => return Ok(()),
                Err(Fail::Conflict) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Fail::Store(self.busy(&format!("renewing the lock on {service} in {environment}"))))
    }

    /// Deletes the lock if `deployment_id` holds it; otherwise nothing.
    pub async fn release_lock(&self, environment: &str, service: &str, deployment_id: &str) -> CallResult<()> {
        let cond = Cond::new("#holder = :me").name("#holder", "deployment_id").value(":me", items::s(deployment_id));
        match self.write(Write::Delete { key: lock_key(environment, service), cond: Some(cond) }).await {
            Ok(()) | Err(Fail::Conflict) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Frees the lock whoever holds it; the unlock record, the lock's deletion (on the
    /// condition that it is as read) and the `unlocked` event of the holder's deployment
    /// (when it is recorded) are one transaction.
    pub async fn unlock(&self, environment: &str, service: &str, by: &str, reason: &str, now: i64) -> CallResult<Option<Unlock>> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(seen) = self.read_lock(environment, service).await? else { return Ok(None) };
            let lock = seen.info.clone();
            let next_event = self.next_event(&lock.holder.deployment_id).await?;
            let seq = self.next_seq().await?;
            let mut record = items::key(items::unlocks_pk(environment, service), items::order_key(now, seq));
            record.insert(items::TYPE.to_string(), items::s("unlock"));
            for (name, value) in [
                ("environment", environment),
                ("service", service),
                ("deployment_id", lock.holder.deployment_id.as_str()),
                ("who", lock.holder.who.as_str()),
                ("host", lock.holder.host.as_str()),
                ("freed_by", by),
                ("reason", reason),
            ] {
                record.insert(name.to_string(), items::s(value));
            }
            for (name, value) in [
                ("pid", i64::from(lock.holder.pid)),
                ("acquired_at", lock.acquired_at),
                ("lease_until", lock.lease_until),
                ("freed_at", now),
            ] {
                record.insert(name.to_string(), items::n(value));
            }
            let mut writes = vec![
                Write::Delete { key: lock_key(environment, service), cond: Some(unchanged(Some(&seen))) },
                Write::Put { item: record, cond: None },
            ];
            if let Some(event_seq) = next_event {
                let unlocked = EventRecord { at: now, kind: "unlocked".into(), message: format!("lock freed by {by}: {reason}") };
                let event = super::records::event_item(&lock.holder.deployment_id, event_seq, &unlocked);
                writes.push(Write::Put { item: event, cond: Some(Cond::absent()) });
            }
            match self.transact(writes).await {
                Ok(()) => return Ok(Some(Unlock { lock, by: by.to_string(), at: now, reason: reason.to_string() })),
                Err(Fail::Conflict) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Fail::Store(self.busy(&format!("freeing the lock on {service} in {environment}"))))
    }

    pub async fn unlocks(&self, environment: &str, service: &str) -> CallResult<Vec<Unlock>> {
        let found = self.query(&items::unlocks_pk(environment, service), Range::All, false, None, |_| true).await?;
        found
            .iter()
            .map(|item| {
                let what = format!("an unlock of {service} in {environment}");
                let holder = read_holder(self, item, &what)?;
                let (Some(acquired_at), Some(lease_until), Some(at), Some(by), Some(reason)) = (
                    items::get_n(item, "acquired_at"),
                    items::get_n(item, "lease_until"),
                    items::get_n(item, "freed_at"),
                    items::get_s(item, "freed_by"),
                    items::get_s(item, "reason"),
                ) else {
                    return Err(self.corrupt(&what, "it lacks acquired_at, lease_until, freed_at, freed_by or reason"));
                };
                Ok(Unlock {
                    lock: LockInfo { environment: environment.to_string(), service: service.to_string(), holder, acquired_at, lease_until },
                    by: by.to_string(),
                    at,
                    reason: reason.to_string(),
                })
            })
            .collect()
    }
}
