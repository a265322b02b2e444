//! Events observed during a deployment, kept in the order they were recorded.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::{EventRecord, SqliteLedger, StoreError};

impl SqliteLedger {
    /// Appends `event` to the deployment's events.
    ///
    /// [`StoreError::NotFound`] if no such deployment is recorded: an event with no
    /// deployment to explain would be unreachable from `ferry history`, so it is a caller bug.
    pub fn record_event(&self, deployment_id: &str, event: &EventRecord) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            // Immediate: the next `seq` is read and written by the same transaction.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let known = tx.query_row("SELECT 1 FROM deployments WHERE id = ?1", [deployment_id], |_| Ok(())).optional()?.is_some();
            if !known {
                return Err(StoreError::NotFound(format!("no deployment {deployment_id} in the ledger to record an event for")));
            }
            append(&tx, deployment_id, event)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The deployment's events in the order they were recorded (not sorted by `at`: clocks
    /// of the sources differ, the order ferry saw them in does not). Empty for an unknown id.
    pub fn events(&self, deployment_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT at, kind, message FROM events WHERE deployment_id = ?1 ORDER BY seq")?;
            let events = stmt
                .query_map([deployment_id], |row| {
                    Ok(EventRecord { at: row.get("at")?, kind: row.get("kind")?, message: row.get("message")? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(events)
        })
    }
}

/// Appends `event` after the deployment's last one. Inside a transaction that has the
/// write lock, so the next `seq` is read and written at once.
pub(crate) fn append(tx: &Connection, deployment_id: &str, event: &EventRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO events (deployment_id, seq, at, kind, message)
         SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4 FROM events WHERE deployment_id = ?1",
        (deployment_id, event.at, &event.kind, &event.message),
    )?;
    Ok(())
}
