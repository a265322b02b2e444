//! Locks: at most one deployment of a given (environment, service) at a time.
//!
//! A lock is a lease, not a flag: the holder renews it while it works, and once it has run
//! out anyone may take it over, so a deploy that was killed without releasing its lock
//! blocks the service only until its lease ends. Every read-decide-write happens inside
//! `BEGIN IMMEDIATE`, which takes SQLite's write lock up front: two processes cannot both
//! see the lock free and both take it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, named_params};

use crate::{LockHolder, LockInfo, SqliteLedger, StoreError};

impl SqliteLedger {
    /// Takes the lock on (`environment`, `service`) for `holder` until `now + lease_ms`.
    ///
    /// Refused with [`StoreError::LockHeld`] (naming the current holder) if another
    /// deployment holds it with a lease still valid at `now`. An expired lease is taken
    /// over. Re-acquiring with the same `deployment_id` succeeds and extends the lease (a
    /// resumed deployment may re-acquire its own lock from a new process, so `who`, `host`
    /// and `pid` are updated; `acquired_at` is kept).
    pub fn acquire_lock(&self, environment: &str, service: &str, holder: &LockHolder, lease_ms: i64, now: i64) -> Result<(), StoreError> {
        let own = |current: &LockHolder| current.deployment_id == holder.deployment_id;
        self.take_lock(environment, service, holder, lease_ms, now, own).map(|_| ())
    }

    /// As [`Ledger::acquire_lock`] (but a deployment's own lock held by another live process
    /// is refused, see below), and also takes over a lock whose lease is still valid
    /// when `holder_is_gone` says its holder can no longer renew it (the caller knows: a
    /// process on this host that has exited). Returns the lock taken over — from a dead
    /// holder or an expired lease, this deployment's own included when another process held
    /// it — so the caller can say whose it was; `None` when the lock was free or already this
    /// process's.
    pub fn take_lock(
        &self,
        environment: &str,
        service: &str,
        holder: &LockHolder,
        lease_ms: i64,
        now: i64,
        holder_is_gone: impl Fn(&LockHolder) -> bool,
    ) -> Result<Option<LockInfo>, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (acquired_at, taken_over) = match read_lock(&tx, environment, service)? {
                // A deployment resumed from another process re-acquires its own lock only when
                // the process that held it is gone (or its lease ran out): two live
                // processes must never both think they carry out one deployment.
                Some(current)
                    if current.holder.deployment_id == holder.deployment_id
                        && (same_process(&current.holder, holder) || current.is_expired(now) || holder_is_gone(&current.holder)) =>
                {
                    let from_another_process = !same_process(&current.holder, holder);
                    (current.acquired_at, from_another_process.then(|| current.clone()))
                }
                Some(current) if !current.is_expired(now) && !holder_is_gone(&current.holder) => {
                    return Err(StoreError::LockHeld(Box::new(current)));
                }
                Some(current) => (now, Some(current)),
                None => (now, None),
            };
            tx.execute(
                "INSERT OR REPLACE INTO locks
                     (environment, service, deployment_id, who, host, pid, acquired_at, lease_until)
                 VALUES (:environment, :service, :deployment_id, :who, :host, :pid, :acquired_at, :lease_until)",
                named_params! {
                    ":environment": environment,
                    ":service": service,
                    ":deployment_id": holder.deployment_id,
                    ":who": holder.who,
                    ":host": holder.host,
                    ":pid": holder.pid,
                    ":acquired_at": acquired_at,
                    ":lease_until": now.saturating_add(lease_ms),
                },
            )?;
            tx.commit()?;
            Ok(taken_over)
        })
    }

    /// Extends the lease of `deployment_id`'s lock to `now + lease_ms`.
    ///
    /// A lease that ran out but was not taken over is still renewed: nobody else deployed
    /// meanwhile. If another deployment took it over, [`StoreError::LockHeld`] names it and
    /// the caller must stop; if the lock is gone, [`StoreError::NotFound`].
    pub fn renew_lock(&self, environment: &str, service: &str, deployment_id: &str, lease_ms: i64, now: i64) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(current) = read_lock(&tx, environment, service)? else {
                return Err(StoreError::NotFound(format!("no lock on {service} in {environment} to renew")));
            };
            if current.holder.deployment_id != deployment_id {
                return Err(StoreError::LockHeld(Box::new(current)));
            }
            tx.execute(
                "UPDATE locks SET lease_until = ?3 WHERE environment = ?1 AND service = ?2",
                (environment, service, now.saturating_add(lease_ms)),
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Releases the lock if `deployment_id` holds it; otherwise does nothing, so a
    /// deployment whose lease was taken over cannot release its successor's lock.
    pub fn release_lock(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.execute(
                "DELETE FROM locks WHERE environment = ?1 AND service = ?2 AND deployment_id = ?3",
                (environment, service, deployment_id),
            )?;
            Ok(())
        })
    }

    /// The lock on (`environment`, `service`) as stored, expired or not
    /// (see [`LockInfo::is_expired`]).
    pub fn lock(&self, environment: &str, service: &str) -> Result<Option<LockInfo>, StoreError> {
        self.with_conn(|conn| read_lock(conn, environment, service))
    }
}

fn same_process(a: &LockHolder, b: &LockHolder) -> bool {
    a.host == b.host && a.pid == b.pid
}

fn read_lock(conn: &Connection, environment: &str, service: &str) -> Result<Option<LockInfo>, StoreError> {
    let lock = conn
        .prepare_cached(
            "SELECT environment, service, deployment_id, who, host, pid, acquired_at, lease_until
             FROM locks WHERE environment = ?1 AND service = ?2",
        )?
        .query_row((environment, service), lock_info)
        .optional()?;
    Ok(lock)
}

/// A lock row (of `locks`, or the lock part of `unlocks`) as a [`LockInfo`].
fn lock_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<LockInfo> {
    Ok(LockInfo {
        environment: row.get("environment")?,
        service: row.get("service")?,
        holder: LockHolder { deployment_id: row.get("deployment_id")?, who: row.get("who")?, host: row.get("host")?, pid: row.get("pid")? },
        acquired_at: row.get("acquired_at")?,
        lease_until: row.get("lease_until")?,
    })
}

/// A lock that a person freed (`ferry unlock`), as the ledger records it: whose lock it was,
/// who freed it, when and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Unlock {
    /// The lock as it was when it was freed.
    pub lock: LockInfo,
    /// Who freed it (the user running `ferry unlock`).
    pub by: String,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub reason: String,
}

/// The table of freed locks. Created on first use rather than by a schema migration: it is
/// only ever added to, older ferry versions need not know it, and a ledger that never had a
/// lock freed stays as it was.
const UNLOCKS: &str = "
CREATE TABLE IF NOT EXISTS unlocks (
    seq           INTEGER PRIMARY KEY,
    environment   TEXT NOT NULL,
    service       TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    who           TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    acquired_at   INTEGER NOT NULL,
    lease_until   INTEGER NOT NULL,
    freed_by      TEXT NOT NULL,
    freed_at      INTEGER NOT NULL,
    reason        TEXT NOT NULL
);
";

impl SqliteLedger {
    /// Frees the lock on (`environment`, `service`), whoever holds it, and records that `by`
    /// did so at `now` and why: a row in the ledger's unlocks, and an `unlocked` event on the
    /// holder's deployment when it is recorded. All in one transaction, so a lock is never
    /// freed unrecorded. Returns what was freed; `None` (and nothing written) when there was
    /// no lock. An empty `reason` is refused with [`StoreError::Invalid`], changing nothing.
    pub fn unlock(&self, environment: &str, service: &str, by: &str, reason: &str, now: i64) -> Result<Option<Unlock>, StoreError> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid(format!("a reason is needed to free the lock on {service} in {environment}")));
        }
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(lock) = read_lock(&tx, environment, service)? else {
                return Ok(None);
            };
            tx.execute_batch(UNLOCKS)?;
            tx.execute(
                "INSERT INTO unlocks (environment, service, deployment_id, who, host, pid,
                                      acquired_at, lease_until, freed_by, freed_at, reason)
                 VALUES (:environment, :service, :deployment_id, :who, :host, :pid,
                         :acquired_at, :lease_until, :freed_by, :freed_at, :reason)",
                named_params! {
                    ":environment": environment,
                    ":service": service,
                    ":deployment_id": lock.holder.deployment_id,
                    ":who": lock.holder.who,
                    ":host": lock.holder.host,
                    ":pid": lock.holder.pid,
                    ":acquired_at": lock.acquired_at,
                    ":lease_until": lock.lease_until,
                    ":freed_by": by,
                    ":freed_at": now,
                    ":reason": reason,
                },
            )?;
            tx.execute("DELETE FROM locks WHERE environment = ?1 AND service = ?2", (environment, service))?;
            // The holder's deployment says it lost its lock, and why, where its story is told.
            let recorded: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM deployments WHERE id = ?1)", [&lock.holder.deployment_id], |row| row.get(0))?;
            if recorded {
                let event = crate::EventRecord { at: now, kind: "unlocked".into(), message: format!("lock freed by {by}: {reason}") };
                crate::events::append(&tx, &lock.holder.deployment_id, &event)?;
            }
            tx.commit()?;
            Ok(Some(Unlock { lock, by: by.to_string(), at: now, reason: reason.to_string() }))
        })
    }

    /// Every lock on (`environment`, `service`) that was freed by a person, oldest first.
    pub fn unlocks(&self, environment: &str, service: &str) -> Result<Vec<Unlock>, StoreError> {
        self.with_conn(|conn| {
            let exists = conn
                .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'unlocks'", [], |_| Ok(()))
                .optional()?
                .is_some();
            if !exists {
                return Ok(Vec::new());
            }
            let mut stmt = conn.prepare_cached(
                "SELECT environment, service, deployment_id, who, host, pid, acquired_at,
                        lease_until, freed_by, freed_at, reason
                 FROM unlocks WHERE environment = ?1 AND service = ?2 ORDER BY seq",
            )?;
            let rows = stmt
                .query_map((environment, service), |row| {
                    Ok(Unlock { lock: lock_info(row)?, by: row.get("freed_by")?, at: row.get("freed_at")?, reason: row.get("reason")? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}
