//! Moving history between ledgers (`ferry ledger export` / `ferry ledger import`): from a
//! machine's SQLite file to the shared DynamoDB table and back, through one JSON document.
//!
//! Both directions go through [`LedgerBackend`](crate::LedgerBackend)'s operations only, so
//! they work between any two backends. Import is idempotent and resumable: what the target
//! already holds (a deployment by id, its first N events and steps, a release by id, a
//! promotion by id) is left as it is and only the rest is added, so running it again after
//! a crash, or twice, finishes the job without duplicating anything.
//!
//! Locks are not exported: they are coordination of deploys running now, not history.

use serde::{Deserialize, Serialize};

use crate::{DeploymentRecord, EventRecord, HistoryFilter, Ledger, LockHolder, Promotion, Release, StepRecord, StepState, StoreError};

/// The `format` of an export document.
pub const EXPORT_FORMAT: &str = "ferry-ledger-export";
/// The newest export `version` this ferry reads and the one it writes.
pub const EXPORT_VERSION: u32 = 1;

/// A whole ledger's history as one JSON document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Export {
    /// Always [`EXPORT_FORMAT`]: a file that says otherwise is not an export.
    pub format: String,
    /// [`EXPORT_VERSION`] when written by this ferry.
    pub version: u32,
    /// The ledger it came from ([`LedgerBackend::location`](crate::LedgerBackend::location)).
    pub source: String,
    /// Milliseconds since the Unix epoch.
    pub exported_at: i64,
    /// Oldest first, each with its events and steps.
    pub deployments: Vec<ExportedDeployment>,
    /// Oldest first, rejections included.
    pub releases: Vec<Release>,
    /// Oldest first.
    pub promotions: Vec<Promotion>,
}

/// One deployment and what was journaled under it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedDeployment {
    pub record: DeploymentRecord,
    pub events: Vec<EventRecord>,
    pub steps: Vec<StepRecord>,
}

/// What an import added and what the target already held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    pub deployments_added: usize,
    pub deployments_present: usize,
    pub events_added: usize,
    pub steps_added: usize,
    pub releases_added: usize,
    pub releases_present: usize,
    pub rejections_added: usize,
    pub promotions_added: usize,
    pub promotions_present: usize,
}

/// Reads every deployment (with its events and steps), release and promotion of `ledger`.
pub fn export(ledger: &Ledger, now: i64) -> Result<Export, StoreError> {
    let mut records = ledger.history(&HistoryFilter { limit: usize::MAX, ..HistoryFilter::default() })?;
    records.reverse();
    let deployments = records
        .into_iter()
        .map(|record| {
            let events = ledger.events(&record.id)?;
            let steps = ledger.steps(&record.id)?;
            Ok(ExportedDeployment { record, events, steps })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut releases = ledger.releases(usize::MAX)?;
    releases.reverse();
    let mut promotions = ledger.promotions(None, usize::MAX)?;
    promotions.reverse();
    Ok(Export {
        format: EXPORT_FORMAT.to_string(),
        version: EXPORT_VERSION,
        source: ledger.location(),
        exported_at: now,
        deployments,
        releases,
        promotions,
    })
}

/// Checks an export before anything is written: its format and version, and that no id
/// appears twice. [`StoreError::Invalid`] says what is wrong.
pub fn check(export: &Export) -> Result<(), StoreError> {
    if export.format != EXPORT_FORMAT {
        return Err(StoreError::Invalid(format!(
            "not a ferry ledger export: format is {:?}, expected {EXPORT_FORMAT:?} (write one with `ferry ledger export`)",
            export.format
        )));
    }
    if export.version > EXPORT_VERSION {
        return Err(StoreError::Invalid(format!(
            "the export is version {}, newer than this ferry reads ({EXPORT_VERSION}): import it with a newer ferry",
            export.version
        )));
    }
    let mut ids = std::collections::HashSet::new();
    let all = export
        .deployments
        .iter()
        .map(|d| &d.record.id)
        .chain(export.releases.iter().map(|r| &r.id))
        .chain(export.promotions.iter().map(|p| &p.id));
    for id in all {
        if !ids.insert(id) {
            return Err(StoreError::Invalid(format!("the export lists {id} twice: it was edited or damaged; nothing was imported")));
        }
    }
    for release in &export.releases {
        let (id, _) = crate::release_of(release.entries.clone())?;
        if id != release.id {
            return Err(StoreError::Invalid(format!(
                "release {}: its entries hash to {id}, so the export was edited or damaged; nothing was imported",
                release.id
            )));
        }
    }
    for d in &export.deployments {
        if let Some((i, step)) = d.steps.iter().enumerate().find(|(i, s)| usize::try_from(s.seq).ok() != Some(i + 1)) {
            return Err(StoreError::Invalid(format!(
                "deployment {}: step {} has seq {}, expected {} (steps are numbered 1, 2, ...): the export was edited or damaged; nothing was imported",
                d.record.id,
                i + 1,
                step.seq,
                i + 1
            )));
        }
    }
    Ok(())
}

/// The lock an import holds, so two imports into one ledger never interleave: (environment,
/// service) names no ferry environment can have (environment names are `a-z0-9-`).
pub const IMPORT_LOCK: (&str, &str) = ("(ledger)", "import");
/// How long an import's lock lasts unless renewed (renewed every quarter of it).
pub const IMPORT_LEASE_MS: i64 = 120_000;

/// How an import runs: who holds its lock, the clock (milliseconds since the Unix epoch), and
/// what hears of its progress (deployments done, deployments in the export).
pub struct ImportRun<'a> {
    pub holder: LockHolder,
    /// Whether the holder of the import lock can no longer renew it (a process on this host
    /// that has exited: an import killed part way), so its lock is taken over at once.
    pub holder_is_gone: &'a dyn Fn(&LockHolder) -> bool,
    pub now: &'a dyn Fn() -> i64,
    pub progress: &'a mut dyn FnMut(usize, usize),
}

/// Adds to `ledger` what `export` holds and it lacks; see the module's docs. Refused before
/// any write when [`check`] fails (a release whose entries no longer hash to its id
/// included: its id is what promotions and rejections refer to).
///
/// Holds the ledger's [`IMPORT_LOCK`] for its length, so a second import into the same
/// ledger at the same time is refused with [`StoreError::LockHeld`] (naming the first)
/// instead of appending the same events twice.
pub fn import(ledger: &Ledger, export: &Export, run: ImportRun<'_>) -> Result<ImportCounts, StoreError> {
    check(export)?;
    let (environment, service) = IMPORT_LOCK;
    ledger.take_lock(environment, service, &run.holder, IMPORT_LEASE_MS, (run.now)(), run.holder_is_gone)?;
    let result = import_locked(ledger, export, &run.holder, run.now, run.progress);
    let released = ledger.release_lock(environment, service, &run.holder.deployment_id);
    let counts = result?;
    released?;
    Ok(counts)
}

fn import_locked(
    ledger: &Ledger,
    export: &Export,
    holder: &LockHolder,
    now: &dyn Fn() -> i64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ImportCounts, StoreError> {
    let (environment, service) = IMPORT_LOCK;
    let mut renewed = now();
    let mut renew = || -> Result<(), StoreError> {
        if now() - renewed >= IMPORT_LEASE_MS / 4 {
            renewed = now();
            ledger.renew_lock(environment, service, &holder.deployment_id, IMPORT_LEASE_MS, renewed)?;
        }
        Ok(())
    };
    let mut counts = ImportCounts::default();
    for release in &export.releases {
        renew()?;
        let present = ledger.release(&release.id)?.filter(|r| r.id == release.id);
        let stored = match present {
            Some(stored) => {
                counts.releases_present += 1;
                stored
            }
            None => {
                counts.releases_added += 1;
                ledger.create_release(
                    release.entries.clone(),
                    &release.created_by,
                    &release.source,
                    &release.commits,
                    release.created_at,
                )?
            }
        };
        if let (Some(rejection), None) = (&release.rejected, &stored.rejected) {
            ledger.reject_release(&release.id, &rejection.by, &rejection.reason, rejection.at)?;
            counts.rejections_added += 1;
        }
    }
    let total = export.deployments.len();
    for (done, exported) in export.deployments.iter().enumerate() {
        renew()?;
        progress(done, total);
        let record = &exported.record;
        if ledger.deployment(&record.id)?.is_some() {
            counts.deployments_present += 1;
        } else {
            ledger.insert_deployment(record)?;
            counts.deployments_added += 1;
        }
        // A crash between the deployment and its last event or step leaves a prefix: add the rest.
        let have = ledger.events(&record.id)?.len();
        for event in exported.events.iter().skip(have) {
            ledger.record_event(&record.id, event)?;
            counts.events_added += 1;
        }
        let have = ledger.steps(&record.id)?;
        for step in &exported.steps {
            let stored = have.iter().find(|s| s.seq == step.seq);
            if stored.is_none() {
                let seq = ledger.start_step(&record.id, &step.name, &step.data, step.started_at)?;
                if seq != step.seq {
                    return Err(StoreError::Invalid(format!(
                        "deployment {}: step {} was stored as {seq}; the target's journal of it differs from the export",
                        record.id, step.seq
                    )));
                }
                counts.steps_added += 1;
            }
            let finished = stored.is_some_and(|s| s.state != StepState::Started);
            if step.state != StepState::Started && !finished {
                ledger.finish_step(&record.id, step.seq, step.state, &step.data, step.finished_at.unwrap_or(step.started_at))?;
            }
        }
    }
    progress(total, total);
    // Read once: each listing is a round trip on a shared ledger.
    let known: std::collections::HashSet<String> = ledger.promotions(None, usize::MAX)?.into_iter().map(|p| p.id).collect();
    for promotion in &export.promotions {
        renew()?;
        if known.contains(&promotion.id) {
            counts.promotions_present += 1;
        } else {
            ledger.insert_promotion(promotion)?;
            counts.promotions_added += 1;
        }
    }
    Ok(counts)
}
