//! The journal of a deployment's steps, as the engine reads and writes it.
//!
//! Every step that changes something in AWS (moving a tag, registering a revision,
//! UpdateService, starting a rollback) is journaled before it is applied (`started`, with
//! what it will work on) and after (`done`, with what it produced). A run that dies leaves
//! the journal behind; the same command run again reads it as [`Facts`] — together with
//! AWS's own state, for a step journaled `started` whose answer was lost — and carries on
//! from there: it adopts the revision and the ECS deployment the dead run created rather
//! than making second ones, and never moves a tag twice.
//!
//! The ledger stores the journal (`ferry-store`'s `steps` table); this module knows only
//! its shape, so the engine stays free of I/O.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A journal could not be written or read: the engine stops before the next change, since a
/// step it cannot journal could not be resumed after a crash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JournalError(pub String);

/// Where a journaled step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Journaled before it was applied: it may or may not have happened in AWS.
    Started,
    Done,
    Failed,
}

/// The steps the engine journals, by name (as stored).
pub mod names {
    /// What preflight found: the revision and digest to return to, the ECS deployments that
    /// existed before (never adopted as ours), the target.
    pub const PREFLIGHT: &str = "preflight";
    /// env-tag: move the environment's tag to the new digest.
    pub const MOVE_TAG: &str = "move_tag";
    pub const REGISTER_TASK_DEFINITION: &str = "register_task_definition";
    pub const UPDATE_SERVICE: &str = "update_service";
    /// Our ECS deployment completed (and baked).
    pub const COMPLETED: &str = "completed";
    /// env-tag rollback: the tag back to the digest it named before.
    pub const RESTORE_TAG: &str = "restore_tag";
    /// The rollback started (by ferry, or adopted from ECS).
    pub const ROLL_BACK: &str = "roll_back";
    /// The `before_deploy` hook's task: started (with its `startedBy`), done with its ending.
    pub const BEFORE_DEPLOY: &str = "before_deploy";
    /// The `after_deploy` hook's task, likewise.
    pub const AFTER_DEPLOY: &str = "after_deploy";
    /// `ferry deploy --detach` stopped here on purpose, its ECS deployment under way:
    /// `ferry watch` follows it (a resumption, as after a crash; the step changes nothing).
    pub const DETACHED: &str = "detached";
}

/// One journaled step, as read back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalStep {
    pub seq: i64,
    pub name: String,
    pub state: StepState,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// What the step worked on and produced (a JSON object; see [`Facts::from_steps`]).
    pub data: Value,
}

/// A deployment that a run started and never finished (its process died, or was killed),
/// as the ledger holds it: what it was deploying, and its journal.
#[derive(Clone, Debug, PartialEq)]
pub struct Interrupted {
    pub deployment_id: String,
    /// "deploy", "rollback" or "promote".
    pub kind: String,
    pub strategy: Option<String>,
    pub to_digest: Option<String>,
    pub to_version: Option<String>,
    pub to_task_definition: Option<String>,
    pub from_task_definition: Option<String>,
    pub from_digest: Option<String>,
    pub from_version: Option<String>,
    pub started_at: i64,
    pub steps: Vec<JournalStep>,
}

impl Interrupted {
    /// Where the dead run stopped, as a phrase: "at update_service (started)", or "before
    /// its first step".
    pub fn where_it_stopped(&self) -> String {
        match self.steps.last() {
            Some(_) => format!("at {}", self.stopped_at()),
            None => self.stopped_at(),
        }
    }

    /// The last step the dead run journaled, in words ("update_service (started)").
    pub fn stopped_at(&self) -> String {
        match self.steps.last() {
            Some(step) => format!(
                "{} ({})",
                step.name,
                serde_json::to_value(step.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
            ),
            None => "before its first step".into(),
        }
    }
}

/// What the journal says a deployment has done, step by step: what a re-run must not do
/// again. Built from the journal of the deployment being resumed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// The revision to return to on failure, as preflight found it before anything changed.
    pub previous_task_definition: Option<String>,
    /// env-tag: the digest the tag named before the deploy moved it.
    pub previous_digest: Option<String>,
    /// ECS deployments that existed before ours: never adopted as ours.
    pub earlier_deployments: Vec<String>,
    /// env-tag: the tag was moved to the new digest (done).
    pub tag_moved: bool,
    /// A move of the tag was started (maybe done, maybe not).
    pub tag_move_started: bool,
    /// The revision registered (done), or a registration started whose answer was lost.
    pub registered: Option<String>,
    pub register_started: bool,
    /// UpdateService: the ECS deployment it created (done), or when it was started.
    pub updated: Option<String>,
    pub update_started_at: Option<i64>,
    pub update_done: bool,
    /// Our deployment COMPLETED (and baked).
    pub completed: bool,
    /// The rollback: started at (ms), its ECS deployment when known, the cause and reason.
    pub rollback_started_at: Option<i64>,
    pub rollback_deployment: Option<String>,
    pub rollback_done: bool,
    pub rollback_cause: Option<String>,
    pub rollback_reason: Option<String>,
    pub tag_restored: bool,
    /// A restore of the tag was started (maybe done, maybe not).
    pub tag_restore_started: bool,
    /// The hooks' tasks: started (a re-run looks for the task by its `startedBy` before it
    /// starts another), and passed (done, exit code 0).
    pub before_deploy: HookFacts,
    pub after_deploy: HookFacts,
}

/// What the journal says of one hook's task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HookFacts {
    pub started: bool,
    pub passed: bool,
}

impl Facts {
    /// Reads the journal. A step journaled `started` but never `done` may have happened:
    /// its `*_started` fact is set, and the engine looks in AWS before doing it again.
    pub fn from_steps(steps: &[JournalStep]) -> Facts {
        let mut facts = Facts::default();
        for step in steps {
            let done = step.state == StepState::Done;
            let text = |key: &str| step.data.get(key).and_then(Value::as_str).map(str::to_string);
            match step.name.as_str() {
                names::PREFLIGHT => {
                    facts.previous_task_definition = text("previous_task_definition");
                    facts.previous_digest = text("previous_digest");
                    facts.earlier_deployments = step
                        .data
                        .get("earlier_deployments")
                        .and_then(Value::as_array)
                        .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_string).collect())
                        .unwrap_or_default();
                }
                names::MOVE_TAG => {
                    facts.tag_move_started = true;
                    facts.tag_moved |= done;
                }
                names::REGISTER_TASK_DEFINITION => {
                    facts.register_started = true;
                    if done {
                        facts.registered = text("task_definition");
                    }
                }
                names::UPDATE_SERVICE => {
                    facts.update_started_at = Some(step.started_at);
                    facts.update_done |= done;
                    if done {
                        facts.updated = text("ecs_deployment_id").or(facts.updated.take());
                    }
                }
                names::COMPLETED => facts.completed |= done,
                names::RESTORE_TAG => {
                    facts.tag_restore_started = true;
                    facts.tag_restored |= done;
                }
                names::BEFORE_DEPLOY | names::AFTER_DEPLOY => {
                    let hook = if step.name == names::BEFORE_DEPLOY { &mut facts.before_deploy } else { &mut facts.after_deploy };
                    hook.started = true;
                    hook.passed |= done && step.data.get("passed").and_then(Value::as_bool) == Some(true);
                }
                names::ROLL_BACK => {
                    facts.rollback_started_at = Some(step.started_at);
                    facts.rollback_cause = text("cause");
                    facts.rollback_reason = text("reason");
                    facts.rollback_done |= done;
                    if done {
                        facts.rollback_deployment = text("ecs_deployment_id");
                    }
                }
                _ => {}
            }
        }
        facts
    }
}

/// How a dead run's deployment is closed when another deployment supersedes it: settled
/// against what ECS says of the deployment the dead run started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Why it was closed, with the step it stopped at and its ECS deployment's state.
    pub reason: String,
    /// The revision it registered or deployed (ARN), when known.
    pub task_definition: Option<String>,
    /// The ECS deployment it started (`ecs-svc/...`), when known.
    pub ecs_deployment_id: Option<String>,
}

impl Interrupted {
    /// Settles this dead run's deployment against `service` as ECS describes it now, as
    /// superseded by deployment `by`.
    pub fn settle(&self, service: &crate::platform::ServiceInfo, by: &str) -> Settlement {
        let facts = Facts::from_steps(&self.steps);
        let task_definition = facts.registered.clone().or_else(|| self.to_task_definition.clone());
        let ecs_deployment_id = facts.updated.clone().or_else(|| {
            let since = facts.update_started_at?;
            service
                .deployments
                .iter()
                .filter(|d| Some(&d.task_definition) == task_definition.as_ref() && !facts.earlier_deployments.contains(&d.id))
                .filter(|d| d.created_at >= since - 1_000)
                .max_by_key(|d| d.created_at)
                .map(|d| d.id.clone())
        });
        let ecs = match ecs_deployment_id.as_deref().map(|id| (id, service.deployment(id))) {
            Some((id, Some(d))) => format!(
                "; its ECS deployment {id} ({}) is {} {}",
                crate::rolling::short_task_definition(&d.task_definition),
                d.status,
                d.rollout_state.as_deref().unwrap_or("")
            )
            .trim_end()
            .to_string(),
            Some((id, None)) => format!("; its ECS deployment {id} is no longer listed (replaced)"),
            None if facts.update_started_at.is_some() => "; ECS lists no deployment of it".to_string(),
            None => "; it had not updated the service".to_string(),
        };
        Settlement {
            reason: format!("interrupted {}: ferry stopped before it finished{ecs}; superseded by {by}", self.where_it_stopped()),
            task_definition,
            ecs_deployment_id,
        }
    }
}

/// The data journaled with the preflight step.
pub fn preflight_data(previous_task_definition: &str, previous_digest: Option<&str>, earlier: &[String], target: Option<&str>) -> Value {
    json!({
        "previous_task_definition": previous_task_definition,
        "previous_digest": previous_digest,
        "earlier_deployments": earlier,
        "target": target,
    })
}

/// Stops the process at a named point when `FERRY_KILL_POINT` names it, so a test can
/// SIGKILL ferry at exactly that moment: says `ferry: kill point NAME` on stderr, then
/// waits for the signal. Without the variable (every real run) it does nothing.
///
/// The points are named in the kill tests (`crates/ferry/tests`), one per moment the
/// engine must survive: after preflight, after the revision is registered, right after
/// UpdateService, mid-rollout, during a rollback, and so on.
pub fn kill_point(name: &str) {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let point = POINT.get_or_init(|| std::env::var("FERRY_KILL_POINT").ok().filter(|p| !p.is_empty()));
    if point.as_deref() == Some(name) {
        eprintln!("ferry: kill point {name}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(seq: i64, name: &str, state: StepState, data: Value) -> JournalStep {
        JournalStep { seq, name: name.into(), state, started_at: 1000 * seq, finished_at: None, data }
    }

    #[test]
    fn a_started_step_is_a_maybe_and_a_done_step_a_fact() {
        let facts = Facts::from_steps(&[
            step(1, names::PREFLIGHT, StepState::Done, preflight_data("td:1", None, &["ecs-svc/1".into()], None)),
            step(2, names::REGISTER_TASK_DEFINITION, StepState::Done, json!({"task_definition": "td:2"})),
            step(3, names::UPDATE_SERVICE, StepState::Started, json!({"task_definition": "td:2"})),
        ]);
        assert_eq!(facts.previous_task_definition.as_deref(), Some("td:1"));
        assert_eq!(facts.earlier_deployments, ["ecs-svc/1"]);
        assert_eq!(facts.registered.as_deref(), Some("td:2"));
        assert_eq!(facts.update_started_at, Some(3000));
        assert!(!facts.update_done);
        assert_eq!(facts.updated, None);
    }

    #[test]
    fn a_superseded_deployment_is_settled_against_what_ecs_says() {
        use crate::strategy::test_support::{deployment, service};
        let dead = Interrupted {
            deployment_id: "fd-dead".into(),
            kind: "deploy".into(),
            strategy: Some("rolling".into()),
            to_digest: None,
            to_version: None,
            to_task_definition: None,
            from_task_definition: Some("web:1".into()),
            from_digest: None,
            from_version: None,
            started_at: 0,
            steps: vec![
                step(1, names::PREFLIGHT, StepState::Done, preflight_data("web:1", None, &["ecs-svc/1".into()], None)),
                step(2, names::REGISTER_TASK_DEFINITION, StepState::Done, json!({"task_definition": "web:2"})),
                step(3, names::UPDATE_SERVICE, StepState::Started, json!({"task_definition": "web:2"})),
            ],
        };
        // UpdateService's answer was lost; ECS shows its deployment, created after the call.
        let mut ours = deployment("ecs-svc/2", "web:2", "PRIMARY", 3_500);
        ours.rollout_state = Some("COMPLETED".into());
        let now = service(vec![ours, deployment("ecs-svc/1", "web:1", "ACTIVE", 10)]);
        let settled = dead.settle(&now, "fd-new");
        assert_eq!(settled.ecs_deployment_id.as_deref(), Some("ecs-svc/2"));
        assert_eq!(settled.task_definition.as_deref(), Some("web:2"));
        assert_eq!(
            settled.reason,
            "interrupted at update_service (started): ferry stopped before it finished; its ECS deployment ecs-svc/2 (web:2) is PRIMARY COMPLETED; superseded by fd-new"
        );
        let untouched = dead.settle(&service(vec![deployment("ecs-svc/1", "web:1", "PRIMARY", 10)]), "fd-new");
        assert!(untouched.reason.contains("ECS lists no deployment of it"), "{}", untouched.reason);
    }

    #[test]
    fn a_registration_whose_answer_was_lost_is_not_a_revision() {
        let facts = Facts::from_steps(&[step(1, names::REGISTER_TASK_DEFINITION, StepState::Started, json!({}))]);
        assert!(facts.register_started);
        assert_eq!(facts.registered, None);
    }

    #[test]
    fn the_rollback_is_read_with_its_cause() {
        let facts = Facts::from_steps(&[
            step(1, names::UPDATE_SERVICE, StepState::Done, json!({"ecs_deployment_id": "ecs-svc/2"})),
            step(2, names::ROLL_BACK, StepState::Done, json!({"cause": "timeout", "reason": "too slow", "ecs_deployment_id": "ecs-svc/3"})),
        ]);
        assert_eq!(facts.updated.as_deref(), Some("ecs-svc/2"));
        assert_eq!(facts.rollback_cause.as_deref(), Some("timeout"));
        assert_eq!(facts.rollback_deployment.as_deref(), Some("ecs-svc/3"));
        assert!(facts.rollback_done);
    }
}
