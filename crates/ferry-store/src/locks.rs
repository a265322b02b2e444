//! Locks: at most one deployment of a given (environment, service) at a time.
//!
//! A lock is a lease, not a flag: the holder renews it while it works, and once it has run
//! out anyone may take it over, so a deploy that was killed without releasing its lock
//! blocks the service only until its lease ends. Every read-decide-write happens inside
//! `BEGIN IMMEDIATE`, which takes SQLite's write lock up front: two processes cannot both
//! see the lock free and both take it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, named_params};

use crate::{Ledger, LockHolder, LockInfo, StoreError};

impl Ledger {
    /// Takes the lock on (`environment`, `service`) for `holder` until `now + lease_ms`.
    ///
    /// Refused with [`StoreError::LockHeld`] (naming the current holder) if another
    /// deployment holds it with a lease still valid at `now`. An expired lease is taken
    /// over. Re-acquiring with the same `deployment_id` succeeds and extends the lease (a
    /// resumed deployment may re-acquire its own lock from a new process, so `who`, `host`
    /// and `pid` are updated; `acquired_at` is kept).
    pub fn acquire_lock(
        &self,
        environment: &str,
        service: &str,
        holder: &LockHolder,
        lease_ms: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let acquired_at = match read_lock(&tx, environment, service)? {
                Some(current) if current.holder.deployment_id == holder.deployment_id => current.acquired_at,
                Some(current) if !current.is_expired(now) => return Err(StoreError::LockHeld(Box::new(current))),
                _ => now,
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
            Ok(())
        })
    }

    /// Extends the lease of `deployment_id`'s lock to `now + lease_ms`.
    ///
    /// A lease that ran out but was not taken over is still renewed: nobody else deployed
    /// meanwhile. If another deployment took it over, [`StoreError::LockHeld`] names it and
    /// the caller must stop; if the lock is gone, [`StoreError::NotFound`].
    pub fn renew_lock(
        &self,
        environment: &str,
        service: &str,
        deployment_id: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(current) = read_lock(&tx, environment, service)? else {
                return Err(StoreError::NotFound(format!(
                    "no lock on {service} in {environment} to renew"
                )));
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
    pub fn release_lock(
        &self,
        environment: &str,
        service: &str,
        deployment_id: &str,
    ) -> Result<(), StoreError> {
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

fn read_lock(
    conn: &Connection,
    environment: &str,
    service: &str,
) -> Result<Option<LockInfo>, StoreError> {
    let lock = conn
        .prepare_cached(
            "SELECT environment, service, deployment_id, who, host, pid, acquired_at, lease_until
             FROM locks WHERE environment = ?1 AND service = ?2",
        )?
        .query_row((environment, service), |row| {
            Ok(LockInfo {
                environment: row.get("environment")?,
                service: row.get("service")?,
                holder: LockHolder {
                    deployment_id: row.get("deployment_id")?,
                    who: row.get("who")?,
                    host: row.get("host")?,
                    pid: row.get("pid")?,
                },
                acquired_at: row.get("acquired_at")?,
                lease_until: row.get("lease_until")?,
            })
        })
        .optional()?;
    Ok(lock)
}
