//! What runs healthy in the environment a gated one is promoted from, and since when: the
//! facts `ferry promote`'s soak gate and a direct `ferry deploy` to a gated environment read
//! (docs/promote.md, "Where the gates read from").
//!
//! AWS first: what runs, healthy, comes from ECS ([`running`]: the service's deployment
//! COMPLETED, all its tasks running, the digest its revision's `ferry:digest` tag names);
//! the soak clock starts at `finishedAt` of the SUCCESSFUL service deployment that rolled
//! out the task definition it runs (ListServiceDeployments, DescribeServiceRevisions), else
//! at its COMPLETED deployment's `updatedAt`. The ledger is read only when ECS cannot say
//! since when, and never makes healthy what ECS says is not running
//! ([`ferry_core::promote::upstream`]). So a runner with an empty ledger decides as the
//! machine that deployed would.

use ferry_core::promote::{Candidate, Observed, Since, read_ecs_since, upstream};
use ferry_store::Ledger;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::project::Connected;
use crate::release::Running;

/// One service's soak start as a gate read it: the JSON `gates.healthy_since` of a dry-run
/// promotion.
#[derive(Clone, Debug, Serialize)]
pub struct HealthySince {
    pub service: String,
    pub digest: String,
    /// When it went healthy (`at`, epoch ms), by which record (`source`:
    /// `service_deployment` with its `arn`, `primary_deployment` with its `id`, or
    /// `ledger`); null when it does not run healthy or nobody can say since when.
    pub since: Option<Since>,
    /// `since` in RFC 3339, UTC, to the second.
    pub since_utc: Option<String>,
}

impl HealthySince {
    pub fn of(candidate: &Candidate) -> HealthySince {
        let since = match &candidate.upstream {
            ferry_core::promote::Upstream::Healthy(since) => since.clone(),
            ferry_core::promote::Upstream::NotHealthy(_) => None,
        };
        HealthySince {
            service: candidate.service.clone(),
            digest: candidate.digest.clone(),
            since_utc: since.as_ref().map(|s| ferry_store::format_rfc3339(s.at())),
            since,
        }
    }
}

/// For each `(service, digest)` wanted: what `from` (connected, as `running` observed it)
/// says about it ([`ferry_core::promote::Upstream`]). A service `running` does not hold is
/// not running there. Errors: the ledger (exit 8), only when ECS cannot say since when.
pub async fn candidates(
    from: &Connected,
    cluster: &str,
    running: &[Running],
    ledger: &Ledger,
    wanted: &[(String, String)],
) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for (service, digest) in wanted {
        let observed = match running.iter().find(|r| &r.entry.service == service) {
            Some(r) => Observed {
                digest: Some(r.entry.digest.clone()),
                unhealthy: r.unhealthy.clone(),
                // Read only for what may pass: the digest wanted, healthy.
                since: if r.entry.digest == *digest && r.unhealthy.is_none() {
                    read_ecs_since(&from.ecs, cluster, &r.ecs).await
                } else {
                    None
                },
            },
            None => Observed::default(),
        };
        // `upstream` reads the ledger only when ECS cannot say since when.
        let mut unreadable = None;
        let read_ledger = || ledger.healthy_since(&from.name, service, digest).map_err(|e| unreadable = Some(e)).ok().flatten();
        let upstream = upstream(&from.name, service, digest, &observed, read_ledger);
        if let Some(e) = unreadable {
            return Err(Error::from_store(e));
        }
        out.push(Candidate { service: service.clone(), digest: digest.clone(), upstream });
    }
    Ok(out)
}
