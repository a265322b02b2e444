//! The journal of a deployment's steps: each written before it is applied and updated after,
//! so a run that dies between the two leaves a `started` row that says "this may have
//! happened in AWS; look before doing it again".

use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::{SqliteLedger, StepRecord, StepState, StoreError};

impl SqliteLedger {
    /// Journals the start of a step of deployment `deployment_id` and returns its `seq`.
    ///
    /// [`StoreError::NotFound`] if the deployment is not recorded: a step with no deployment
    /// could never be found by the re-run that needs it.
    pub fn start_step(&self, deployment_id: &str, name: &str, data: &serde_json::Value, now: i64) -> Result<i64, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let known = tx.query_row("SELECT 1 FROM deployments WHERE id = ?1", [deployment_id], |_| Ok(())).optional()?.is_some();
            if !known {
                return Err(StoreError::NotFound(format!("no deployment {deployment_id} in the ledger to journal a step for")));
            }
            let seq: i64 =
                tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE deployment_id = ?1", [deployment_id], |row| row.get(0))?;
            tx.execute(
                "INSERT INTO steps (deployment_id, seq, name, state, started_at, finished_at, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6)",
                (deployment_id, seq, name, StepState::Started.as_str(), now, data.to_string()),
            )?;
            kill_point("ledger-write");
            tx.commit()?;
            self.remember_size(conn);
            Ok(seq)
        })
    }

    /// Journals how step `seq` of `deployment_id` ended, replacing its data with `data`
    /// (what it works on and what it produced). [`StoreError::NotFound`] for an unknown step.
    pub fn finish_step(
        &self,
        deployment_id: &str,
        seq: i64,
        state: StepState,
        data: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let updated = conn.execute(
                "UPDATE steps SET state = ?3, finished_at = ?4, data = ?5 WHERE deployment_id = ?1 AND seq = ?2",
                (deployment_id, seq, state.as_str(), now, data.to_string()),
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("no step {seq} of deployment {deployment_id} in the ledger")));
            }
            Ok(())
        })
    }

    /// The steps of a deployment in the order they started; empty for an unknown id.
    pub fn steps(&self, deployment_id: &str) -> Result<Vec<StepRecord>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, name, state, started_at, finished_at, data FROM steps WHERE deployment_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt
                .query_map([deployment_id], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, Option<i64>>(4)?,
                        row.get::<_, String>(5)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(seq, name, state, started_at, finished_at, data)| {
                    let corrupt = |detail: String| StoreError::Corrupt { path: self.path().to_path_buf(), detail };
                    Ok(StepRecord {
                        seq,
                        state: state.parse().map_err(|e: String| corrupt(format!("step {seq} of {deployment_id}: {e}")))?,
                        name,
                        started_at,
                        finished_at,
                        data: serde_json::from_str(&data)
                            .map_err(|e| corrupt(format!("step {seq} of {deployment_id} has data that is not JSON: {e}")))?,
                    })
                })
                .collect()
        })
    }
}

/// Stops the process inside a ledger write (the step's row inserted, the transaction not yet
/// committed) when `FERRY_KILL_POINT=ledger-write`, so a test can SIGKILL ferry there and
/// prove SQLite's atomic commit leaves no half-written journal. Inert otherwise. (ferry-core
/// has the engine's points; the ledger depends on nothing of ferry's, hence its own.)
fn kill_point(name: &str) {
    if std::env::var("FERRY_KILL_POINT").is_ok_and(|point| point == name) {
        eprintln!("ferry: kill point {name}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
