//! Deployments: recorded when they start, updated as they progress, queried for history,
//! status and rollback targets.
//!
//! "Newest" is by `started_at`, ties broken by insertion order. Deploys of one
//! (environment, service) are serialized by its lock, so for one service this is also the
//! order in which they finished.

use rusqlite::{Connection, OptionalExtension, Params, Row, named_params};

use rusqlite::TransactionBehavior;

use crate::{DeploymentRecord, EventRecord, HistoryFilter, Outcome, SqliteLedger, StoreError};

/// The columns [`from_row`] reads, in the order of [`DeploymentRecord`]'s fields.
const COLUMNS: &str = "id, run_id, kind, environment, service, cluster, ecs_service, \
     from_version, from_digest, from_task_definition, to_version, to_digest, to_task_definition, \
     image, ecs_deployment_id, who, git_commit, commit_message, started_at, finished_at, outcome, reason, \
     strategy, cause, rollback_deployment_id, gates_skipped";

impl SqliteLedger {
    /// Records a new deployment. Fails if one with the same id is already recorded: ids are
    /// generated to be unique, so a clash means two runs are confused about who they are.
    pub fn insert_deployment(&self, record: &DeploymentRecord) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            insert(conn, record)?;
            self.remember_size(conn);
            Ok(())
        })
    }

    /// Records a new deployment together with its first event, in one transaction: both
    /// are written or neither is, so the ledger never shows a deployment without the event
    /// that says how it started, and a deploy that could not be recorded whole knows it
    /// before it changes anything. Fails as [`Ledger::insert_deployment`] does.
    pub fn start_deployment(&self, record: &DeploymentRecord, first_event: &EventRecord) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            insert(&tx, record)?;
            crate::events::append(&tx, &record.id, first_event)?;
            tx.commit()?;
            self.remember_size(conn);
            Ok(())
        })
    }

    /// Overwrites what a deployment learns as it goes — `from_*`, `to_*`, `image`,
    /// `ecs_deployment_id`, `commit`, `commit_message`, `finished_at`, `outcome`, `reason` —
    /// of the record with `record.id`.
    ///
    /// The identity fields (`run_id`, `kind`, `environment`, `service`, `cluster`,
    /// `ecs_service`, `who`, `started_at`) are fixed when the deployment is inserted and
    /// are not changed here. [`StoreError::NotFound`] if no record has this id.
    pub fn update_deployment(&self, record: &DeploymentRecord) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let updated = conn
                .prepare_cached(
                    "UPDATE deployments SET
                         from_version = :from_version, from_digest = :from_digest,
                         from_task_definition = :from_task_definition,
                         to_version = :to_version, to_digest = :to_digest,
                         to_task_definition = :to_task_definition,
                         image = :image, ecs_deployment_id = :ecs_deployment_id,
                         git_commit = :git_commit, commit_message = :commit_message,
                         finished_at = :finished_at, outcome = :outcome, reason = :reason,
                         strategy = :strategy, cause = :cause,
                         rollback_deployment_id = :rollback_deployment_id,
                         gates_skipped = :gates_skipped
                     WHERE id = :id",
                )?
                .execute(named_params! {
                    ":id": record.id,
                    ":from_version": record.from_version,
                    ":from_digest": record.from_digest,
                    ":from_task_definition": record.from_task_definition,
                    ":to_version": record.to_version,
                    ":to_digest": record.to_digest,
                    ":to_task_definition": record.to_task_definition,
                    ":image": record.image,
                    ":ecs_deployment_id": record.ecs_deployment_id,
                    ":git_commit": record.commit,
                    ":commit_message": record.commit_message,
                    ":finished_at": record.finished_at,
                    ":outcome": record.outcome,
                    ":reason": record.reason,
                    ":strategy": record.strategy,
                    ":cause": record.cause,
                    ":rollback_deployment_id": record.rollback_deployment_id,
                    ":gates_skipped": record.gates_skipped,
                })?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("no deployment {} in the ledger to update", record.id)));
            }
            Ok(())
        })
    }

    /// The newest deployment of (`environment`, `service`) still recorded as in progress:
    /// one that a run is carrying out now, or that a run left behind when it died (the
    /// caller tells them apart by the service's lock).
    pub fn unfinished(&self, environment: &str, service: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        self.with_conn(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM deployments
                 WHERE environment = ?1 AND service = ?2 AND outcome = ?3
                 ORDER BY started_at DESC, seq DESC
                 LIMIT 1"
            );
            Ok(query(conn, &sql, (environment, service, Outcome::InProgress))?.into_iter().next())
        })
    }

    /// The deployment with this id, if recorded.
    pub fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        self.with_conn(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM deployments WHERE id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([id], from_row).optional()?)
        })
    }

    /// Deployments matching `filter`, newest first, at most `filter.limit` (0 means 50).
    pub fn history(&self, filter: &HistoryFilter) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.with_conn(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM deployments
                 WHERE (?1 IS NULL OR environment = ?1) AND (?2 IS NULL OR service = ?2)
                 ORDER BY started_at DESC, seq DESC
                 LIMIT ?3"
            );
            query(conn, &sql, (&filter.environment, &filter.service, filter.effective_limit()))
        })
    }

    /// The newest Succeeded deployment of (`environment`, `service`), skipping those that
    /// deployed `excluding_task_definition` — `ferry rollback` passes the task definition
    /// running now, so the answer is the release before it even if it was deployed twice.
    pub fn last_succeeded(
        &self,
        environment: &str,
        service: &str,
        excluding_task_definition: Option<&str>,
    ) -> Result<Option<DeploymentRecord>, StoreError> {
        self.with_conn(|conn| {
            // `IS NOT` rather than `!=`: a record with no task definition is not excluded.
            let sql = format!(
                "SELECT {COLUMNS} FROM deployments
                 WHERE environment = ?1 AND service = ?2 AND outcome = ?3
                   AND (?4 IS NULL OR to_task_definition IS NOT ?4)
                 ORDER BY started_at DESC, seq DESC
                 LIMIT 1"
            );
            let params = (environment, service, Outcome::Succeeded, excluding_task_definition);
            Ok(query(conn, &sql, params)?.into_iter().next())
        })
    }

    /// The newest Succeeded deployment of each (environment, service) — what `ferry status`
    /// reports as running — in `environment` only if given. Sorted by environment, then
    /// service.
    pub fn latest_per_service(&self, environment: Option<&str>) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.with_conn(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM (
                     SELECT *, ROW_NUMBER() OVER (
                         PARTITION BY environment, service ORDER BY started_at DESC, seq DESC
                     ) AS newest
                     FROM deployments
                     WHERE outcome = ?1 AND (?2 IS NULL OR environment = ?2)
                 )
                 WHERE newest = 1
                 ORDER BY environment, service"
            );
            query(conn, &sql, (Outcome::Succeeded, environment))
        })
    }

    /// The newest Succeeded deployment of (`environment`, `service`) that deployed
    /// `version`: where `ferry rollback --to VERSION` finds the task definition to restore.
    pub fn succeeded_with_version(&self, environment: &str, service: &str, version: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        self.with_conn(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM deployments
                 WHERE environment = ?1 AND service = ?2 AND outcome = ?3 AND to_version = ?4
                 ORDER BY started_at DESC, seq DESC
                 LIMIT 1"
            );
            Ok(query(conn, &sql, (environment, service, Outcome::Succeeded, version))?.into_iter().next())
        })
    }

    /// When `digest` of `service` last became healthy in `environment`: the `finished_at` of
    /// the newest Succeeded deployment there whose `to_digest` is `digest`, provided no later
    /// Succeeded deployment of that service in that environment moved it to another digest
    /// (then it is not running any more: `None`). Used for soak times: how long a release
    /// has run healthy upstream before it may move on.
    ///
    /// Only Succeeded deployments count, as for [`Ledger::latest_per_service`]: one that
    /// failed, was interrupted or is still going did not establish anything as running. A
    /// later success with no recorded digest counts as a move, since nothing says `digest`
    /// survived it. A redeploy of the same digest restarts the clock: what has run since is
    /// a new deployment, and a soak is about what runs.
    pub fn healthy_since(&self, environment: &str, service: &str, digest: &str) -> Result<Option<i64>, StoreError> {
        self.with_conn(|conn| {
            // The newest success is the only one that can still be running; it answers only
            // if it deployed `digest`.
            let newest = conn
                .prepare_cached(
                    "SELECT to_digest IS ?3, finished_at FROM deployments
                     WHERE environment = ?1 AND service = ?2 AND outcome = ?4
                     ORDER BY started_at DESC, seq DESC
                     LIMIT 1",
                )?
                .query_row((environment, service, digest, Outcome::Succeeded), |row| {
                    Ok((row.get::<_, bool>(0)?, row.get::<_, Option<i64>>(1)?))
                })
                .optional()?;
            Ok(match newest {
                Some((true, finished_at)) => finished_at,
                _ => None,
            })
        })
    }
}

/// Inserts `record` (see [`Ledger::insert_deployment`]).
fn insert(conn: &Connection, record: &DeploymentRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO deployments (
             id, run_id, kind, environment, service, cluster, ecs_service,
             from_version, from_digest, from_task_definition,
             to_version, to_digest, to_task_definition, image, ecs_deployment_id,
             who, git_commit, commit_message, started_at, finished_at, outcome, reason,
             strategy, cause, rollback_deployment_id, gates_skipped)
         VALUES (
             :id, :run_id, :kind, :environment, :service, :cluster, :ecs_service,
             :from_version, :from_digest, :from_task_definition,
             :to_version, :to_digest, :to_task_definition, :image, :ecs_deployment_id,
             :who, :git_commit, :commit_message, :started_at, :finished_at, :outcome, :reason,
             :strategy, :cause, :rollback_deployment_id, :gates_skipped)",
    )?
    .execute(named_params! {
        ":id": record.id,
        ":run_id": record.run_id,
        ":kind": record.kind,
        ":environment": record.environment,
        ":service": record.service,
        ":cluster": record.cluster,
        ":ecs_service": record.ecs_service,
        ":from_version": record.from_version,
        ":from_digest": record.from_digest,
        ":from_task_definition": record.from_task_definition,
        ":to_version": record.to_version,
        ":to_digest": record.to_digest,
        ":to_task_definition": record.to_task_definition,
        ":image": record.image,
        ":ecs_deployment_id": record.ecs_deployment_id,
        ":who": record.who,
        ":git_commit": record.commit,
        ":commit_message": record.commit_message,
        ":started_at": record.started_at,
        ":finished_at": record.finished_at,
        ":outcome": record.outcome,
        ":reason": record.reason,
        ":strategy": record.strategy,
        ":cause": record.cause,
        ":rollback_deployment_id": record.rollback_deployment_id,
        ":gates_skipped": record.gates_skipped,
    })?;
    Ok(())
}

fn query(conn: &Connection, sql: &str, params: impl Params) -> Result<Vec<DeploymentRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let records = stmt.query_map(params, from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(records)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        kind: row.get("kind")?,
        environment: row.get("environment")?,
        service: row.get("service")?,
        cluster: row.get("cluster")?,
        ecs_service: row.get("ecs_service")?,
        from_version: row.get("from_version")?,
        from_digest: row.get("from_digest")?,
        from_task_definition: row.get("from_task_definition")?,
        to_version: row.get("to_version")?,
        to_digest: row.get("to_digest")?,
        to_task_definition: row.get("to_task_definition")?,
        image: row.get("image")?,
        ecs_deployment_id: row.get("ecs_deployment_id")?,
        who: row.get("who")?,
        commit: row.get("git_commit")?,
        commit_message: row.get("commit_message")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        outcome: row.get("outcome")?,
        reason: row.get("reason")?,
        strategy: row.get("strategy")?,
        cause: row.get("cause")?,
        rollback_deployment_id: row.get("rollback_deployment_id")?,
        gates_skipped: row.get("gates_skipped")?,
    })
}
