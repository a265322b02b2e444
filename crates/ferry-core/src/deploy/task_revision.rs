//! The revision a one-off task of a version runs (`ferry run --version V`): what a deploy of
//! V would register, found by the deploy's own preflight (image resolved to a digest, the
//! template rendered, every dependency checked), reused when an ACTIVE revision already
//! says exactly that, registered otherwise. The service itself is never changed.

use super::preflight::{set_tags, without_ferry_tags};
use super::*;

/// The revision a one-off task runs, and how it was found.
#[derive(Clone, Debug)]
pub struct TaskRevision {
    /// The revision (ARN, family, native JSON, tags).
    pub definition: TaskDefinitionInfo,
    /// True when it was registered for this task; false when an existing revision (the
    /// service's running one, or the family's newest) already renders the same.
    pub registered: bool,
    /// The service as preflight described it: its launch settings are the task's.
    pub service: ServiceInfo,
    /// The image digest of the request's container.
    pub digest: Option<String>,
    /// What preflight could not check (`field: value` each), as a deploy says it.
    pub not_checked: Vec<String>,
}

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// The revision a deploy of `request` (its `version`) would run, for a one-off task:
    /// preflight as for a deploy (no lock is taken, no dead run resumed), then the running
    /// revision when the rendered one equals it (normalized diff empty, same `ferry:digest`),
    /// else the family's newest ACTIVE revision when it equals it, else a new revision
    /// registered with ferry's tags plus `(run_tag, run_id)`. UpdateService is never called.
    ///
    /// Errors: the report of a preflight that refused (outcome `refused` or `error`, its
    /// `reason`; [`ServiceReport::exit_kind`] is the exit code), also for a service deployed
    /// with the env-tag strategy (its revision names the environment's tag, which a one-off
    /// task cannot move), or a RegisterTaskDefinition that failed (outcome `error`).
    pub async fn revision_for_task(&self, request: &Request, run_tag: &str, run_id: &str) -> Result<TaskRevision, Box<ServiceReport>> {
        let mut report = self.report_for(request);
        let requests = std::slice::from_ref(request);
        let snapshot = self.snapshot(requests).await;
        let Some(prepared) = self.preflight(request, &mut report, &snapshot, None).await else { return Err(Box::new(report)) };
        let digest = report.to_digest.clone();
        let not_checked = report.not_checked.clone();
        let found = |definition: TaskDefinitionInfo, registered: bool| TaskRevision {
            definition,
            registered,
            service: prepared.current.clone(),
            digest: digest.clone(),
            not_checked: not_checked.clone(),
        };
        let rendered = match &prepared.target {
            Target::Running { definition, .. } | Target::Existing(definition) => return Ok(found(definition.clone(), false)),
            Target::Force { tag, .. } => {
                let reason = format!(
                    "{} deploys with the env-tag strategy: its revision runs {}:{tag}, whatever that tag names, and a one-off task cannot move the tag; run the deployed version (without --version), or deploy {} first",
                    request.service,
                    request.repository,
                    request.version.as_deref().unwrap_or("the version")
                );
                self.finish(&mut report, Outcome::Refused, None, Some(reason));
                report.invalid_input = true;
                return Err(Box::new(report));
            }
            Target::Register(definition) => definition,
        };
        let same_as = |existing: &TaskDefinitionInfo| {
            existing.tag("ferry:digest").is_some()
                && existing.tag("ferry:digest") == digest.as_deref()
                && existing.definition.get("status").and_then(Value::as_str) != Some("INACTIVE")
                && taskdef::diff(&without_ferry_tags(&existing.definition), &without_ferry_tags(rendered)).is_empty()
        };
        if same_as(&prepared.current_definition) {
            return Ok(found(prepared.current_definition.clone(), false));
        }
        // The family's newest ACTIVE revision (DescribeTaskDefinition of the bare family):
        // what an earlier `ferry run --version` of the same version registered.
        if let Some(family) = taskdef::family(rendered)
            && let Ok(newest) = self.ecs.describe_task_definition(family).await
            && same_as(&newest)
        {
            return Ok(found(newest, false));
        }
        let mut definition = rendered.clone();
        let mut tags: Vec<(String, String)> = definition
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| Some((t.get("key")?.as_str()?.to_string(), t.get("value")?.as_str()?.to_string())))
            .filter(|(key, _)| key.starts_with("ferry:"))
            .collect();
        tags.push((run_tag.to_string(), run_id.to_string()));
        set_tags(&mut definition, tags);
        match self.ecs.register_task_definition(&definition).await {
            Ok(registered) => Ok(found(registered, true)),
            Err(e) => {
                self.finish(&mut report, Outcome::Error, Some(FailureCause::Platform), Some(e.to_string()));
                Err(Box::new(report))
            }
        }
    }
}
