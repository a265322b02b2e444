//! Promotions: a release moved from one environment to the next, recorded when it starts,
//! updated as its deployments finish, and listed per release.
//!
//! "Newest" is by `started_at`, ties broken by insertion order, as for deployments.

use rusqlite::{OptionalExtension, Row, TransactionBehavior, named_params};

use crate::model::{StoredList, StringList, effective_limit};
use crate::{Promotion, SqliteLedger, StoreError};

/// The columns [`from_row`] reads, in the order of [`Promotion`]'s fields.
const COLUMNS: &str = "id, release_id, from_environment, to_environment, services, approved_by, \
     who, started_at, finished_at, outcome, reason, deployment_ids";

impl SqliteLedger {
    /// Records a new promotion of `p.release_id`.
    ///
    /// [`StoreError::NotFound`] if the release is not recorded; [`StoreError::Invalid`] if it
    /// was rejected. The check and the insert are one transaction, so a promotion cannot
    /// slip in beside a concurrent `ferry release reject`: once rejected, never promoted
    /// again. Fails if a promotion with the same id is already recorded.
    pub fn insert_promotion(&self, p: &Promotion) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let release = tx
                .query_row("SELECT rejected_by, rejection_reason FROM releases WHERE id = ?1", [&p.release_id], |row| {
                    Ok((row.get::<_, Option<String>>(0)?, row.get::<_, Option<String>>(1)?))
                })
                .optional()?;
            match release {
                None => {
                    return Err(StoreError::NotFound(format!("no release {} in the ledger to promote", p.release_id)));
                }
                Some((Some(by), reason)) => {
                    return Err(StoreError::Invalid(format!(
                        "release {} was rejected by {by} ({}) and can never be promoted",
                        p.release_id,
                        reason.unwrap_or_default()
                    )));
                }
                Some((None, _)) => {}
            }
            tx.execute(
                "INSERT INTO promotions (
                     id, release_id, from_environment, to_environment, services, approved_by,
                     who, started_at, finished_at, outcome, reason, deployment_ids)
                 VALUES (
                     :id, :release_id, :from_environment, :to_environment, :services, :approved_by,
                     :who, :started_at, :finished_at, :outcome, :reason, :deployment_ids)",
                named_params! {
                    ":id": p.id,
                    ":release_id": p.release_id,
                    ":from_environment": p.from_environment,
                    ":to_environment": p.to_environment,
                    ":services": StringList(&p.services),
                    ":approved_by": p.approved_by,
                    ":who": p.who,
                    ":started_at": p.started_at,
                    ":finished_at": p.finished_at,
                    ":outcome": p.outcome,
                    ":reason": p.reason,
                    ":deployment_ids": StringList(&p.deployment_ids),
                },
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Overwrites what a promotion learns as it goes — `approved_by`, `finished_at`,
    /// `outcome`, `reason`, `deployment_ids` — of the promotion with `p.id`.
    ///
    /// What was asked (`release_id`, `from_environment`, `to_environment`, `services`, `who`,
    /// `started_at`) is fixed when the promotion is inserted and is not changed here; a
    /// promotion already under way is recorded to its end even if its release is rejected
    /// meanwhile. [`StoreError::NotFound`] if no promotion has this id.
    pub fn update_promotion(&self, p: &Promotion) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let updated = conn
                .prepare_cached(
                    "UPDATE promotions SET
                         approved_by = :approved_by, finished_at = :finished_at,
                         outcome = :outcome, reason = :reason, deployment_ids = :deployment_ids
                     WHERE id = :id",
                )?
                .execute(named_params! {
                    ":id": p.id,
                    ":approved_by": p.approved_by,
                    ":finished_at": p.finished_at,
                    ":outcome": p.outcome,
                    ":reason": p.reason,
                    ":deployment_ids": StringList(&p.deployment_ids),
                })?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("no promotion {} in the ledger to update", p.id)));
            }
            Ok(())
        })
    }

    /// Promotions, of the release `release_id` (its full id) only if given, newest first, at
    /// most `limit` of them; 0 means 50.
    pub fn promotions(&self, release_id: Option<&str>, limit: usize) -> Result<Vec<Promotion>, StoreError> {
        self.with_conn(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM promotions
                 WHERE (?1 IS NULL OR release_id = ?1)
                 ORDER BY started_at DESC, seq DESC
                 LIMIT ?2"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let promotions = stmt.query_map((release_id, effective_limit(limit)), from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(promotions)
        })
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Promotion> {
    Ok(Promotion {
        id: row.get("id")?,
        release_id: row.get("release_id")?,
        from_environment: row.get("from_environment")?,
        to_environment: row.get("to_environment")?,
        services: row.get::<_, StoredList>("services")?.0,
        approved_by: row.get("approved_by")?,
        who: row.get("who")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        outcome: row.get("outcome")?,
        reason: row.get("reason")?,
        deployment_ids: row.get::<_, StoredList>("deployment_ids")?.0,
    })
}
