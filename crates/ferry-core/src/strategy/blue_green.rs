//! The blue-green, canary and linear strategies (issue 14): a service and a target group per
//! version, the new version ("green") tested behind a *preparing* listener rule, then
//! production traffic shifted to it on the *production* rule — all at once after an overlap
//! window (blue-green), or in weighted steps (canary, linear) — then the old version
//! ("blue") retired: its auto scaling remembered and moved to green, scaled to 0, tagged
//! `ferry:status=obsolete`, and deleted by a later deploy beyond the `keep` newest.
//!
//! The executor is [`crate::deploy`]'s `shift` module; this module is the pure half: [`next`] decides the next [`Step`] from what is desired ([`Plan`]) and what is
//! observed ([`Observed`]: the journal's [`Facts`], the live rules, the per-version services
//! and target groups found by their `ferry:*` tags, target health), in the shape of
//! kube-runtime's reconcile.
//!
//! ## What is journaled, and why
//!
//! AWS holds most of the state: a target group or service exists or not (found by its
//! deterministic name, [`crate::naming`]), a rule forwards where it forwards, a service is
//! scaled to 0 and tagged obsolete or not. The journal ([`names`]) adds only what AWS cannot
//! say:
//!
//! - **which version was blue** ([`names::BEGIN`]): once traffic moved, the production rule
//!   no longer tells; a rollback needs it;
//! - **the checks' verdict** ([`names::CHECKS`]): a passed gate is not run again;
//! - **the weights ferry set, and when** ([`names::SHIFT`]): the hold of a canary step runs
//!   from when its weights were set, and a live rule that differs from what ferry last set
//!   means someone else moved it ([`Step::Stop`]);
//! - **the old version's auto scaling** ([`names::RETIRE`], journaled *before* the scalable
//!   target is deregistered, since AWS forgets it then), so the new version gets it and a
//!   rollback restores it;
//! - **the decision to roll back** ([`names::ROLL_BACK`]) and why.
//!
//! Every other step is journaled too (the ledger's history), but the decision reads AWS for
//! them: a step journaled `started` whose answer was lost is judged by what AWS shows (the
//! service exists, the rule forwards to the weights asked), never by where the program
//! counter was. So a run killed at any step boundary is finished by the same command.
//!
//! ## Steps
//!
//! Deploy: [`Step::Begin`] → [`Step::CreateTargetGroup`] → [`Step::AttachToPreparing`] →
//! [`Step::CreateService`] → [`Step::WaitHealthy`] → [`Step::RunChecks`] →
//! ([`Step::ShiftWeights`] → [`Step::Hold`])… → [`Step::ShiftWeights`] to 100 % →
//! [`Step::Bake`] → [`Step::CopyScaling`] → [`Step::RetireOld`] → [`Step::MarkLive`] →
//! ([`Step::DeleteService`] | [`Step::DeleteTargetGroup`])… → [`Step::Done`].
//!
//! Rollback (a failed gate, journaled by [`Step::RollBack`]): traffic back on blue first
//! ([`Step::ScaleUp`] and [`Step::WaitHealthy`] when blue was retired, then
//! [`Step::ShiftWeights`] to 0 %), the preparing rule back on blue
//! ([`Step::RestorePreparing`]), blue's auto scaling back ([`Step::CopyScaling`]), then
//! green removed ([`Step::DeleteService`], [`Step::DeleteTargetGroup`]) →
//! [`Step::Done`] rolled back.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::journal::{JournalStep, StepState};
use crate::naming;
use crate::platform::{Route, ScalingSettings};

/// One step of a weighted shift: green's share of the production rule, in percent (1 to
/// 100), and how long it is held before the next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightStep {
    pub percent: u32,
    pub hold: Duration,
}

/// How production traffic moves from blue to green.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shift {
    /// blue-green: both target groups on the production rule, with equal weights, for
    /// `overlap` (none when zero), then only green.
    AllAtOnce { overlap: Duration },
    /// canary and linear: green's share step by step, the last 100 %.
    Steps(Vec<WeightStep>),
}

impl Shift {
    /// Green's share at each step, in order, the last one 100 % (held 0: the bake follows).
    pub fn schedule(&self) -> Vec<WeightStep> {
        match self {
            Shift::AllAtOnce { overlap } if overlap.is_zero() => vec![WeightStep { percent: 100, hold: Duration::ZERO }],
            Shift::AllAtOnce { overlap } => {
                vec![WeightStep { percent: 50, hold: *overlap }, WeightStep { percent: 100, hold: Duration::ZERO }]
            }
            Shift::Steps(steps) => steps.clone(),
        }
    }
}

const STEP_EXAMPLE: &str = "expected a share and how long to hold it, like \"10%/5m\", or \"100%\" for the last step";

/// Parses one canary step: `"10%/5m"` (green gets 10 % for 5 minutes) or `"100%"`.
pub fn parse_step(text: &str) -> Result<WeightStep, String> {
    let quoted = crate::text::quoted(text);
    let (share, hold) = match text.trim().split_once('/') {
        Some((share, hold)) => (share.trim(), Some(hold.trim())),
        None => (text.trim(), None),
    };
    let percent = share
        .strip_suffix('%')
        .and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|p| (1..=100).contains(p))
        .ok_or_else(|| format!("{quoted}: the share must be a percentage from 1% to 100%: {STEP_EXAMPLE}"))?;
    let hold = match hold {
        None => Duration::ZERO,
        Some(hold) => crate::config::parse_duration(hold).map_err(|e| format!("{quoted}: {}: {STEP_EXAMPLE}", e.message))?,
    };
    Ok(WeightStep { percent, hold })
}

/// Parses a canary's `steps`: shares rising, each but the last held for a while, the last
/// `"100%"` with no hold (the bake follows it).
pub fn parse_steps(steps: &[String]) -> Result<Vec<WeightStep>, String> {
    if steps.is_empty() {
        return Err("must list at least one step, e.g. [\"10%/5m\", \"50%/5m\", \"100%\"]".into());
    }
    let mut parsed: Vec<WeightStep> = Vec::with_capacity(steps.len());
    for (i, text) in steps.iter().enumerate() {
        let step = parse_step(text).map_err(|m| format!("step {}: {m}", i + 1))?;
        let last = i + 1 == steps.len();
        if let Some(before) = parsed.last()
            && step.percent <= before.percent
        {
            return Err(format!(
                "step {} ({}): the shares must rise, {}% follows {}%",
                i + 1,
                crate::text::quoted(text),
                step.percent,
                before.percent
            ));
        }
        if !last && step.hold.is_zero() {
            return Err(format!("step {} ({}): say how long to hold it, like \"{}%/5m\"", i + 1, crate::text::quoted(text), step.percent));
        }
        if last && step.percent != 100 {
            return Err(format!("the last step must be \"100%\" (it is {})", crate::text::quoted(text)));
        }
        if last && !step.hold.is_zero() {
            return Err(format!(
                "step {} ({}): the last step is not held (the deploy's bake follows it): write \"100%\"",
                i + 1,
                crate::text::quoted(text)
            ));
        }
        parsed.push(step);
    }
    Ok(parsed)
}

/// Parses linear's `"20%/2m"`: 20 %, 40 %, ... each held 2 minutes, then 100 %.
pub fn parse_linear(text: &str) -> Result<Vec<WeightStep>, String> {
    let step = parse_step(text)?;
    if step.percent >= 100 || step.hold.is_zero() {
        return Err(format!(
            "{}: expected the share added at each step (1% to 99%) and how long each is held, like \"20%/2m\"",
            crate::text::quoted(text)
        ));
    }
    let mut steps = Vec::new();
    let mut percent = step.percent;
    while percent < 100 {
        steps.push(WeightStep { percent, hold: step.hold });
        percent += step.percent;
    }
    steps.push(WeightStep { percent: 100, hold: Duration::ZERO });
    Ok(steps)
}

/// The journal's step names for these strategies (as stored in the ledger's `steps`).
pub mod names {
    /// Which version was live before (data: [`super::Blue`]); journal only, no AWS call.
    pub const BEGIN: &str = "bg_begin";
    /// CreateTargetGroup of green (data: `name`; done: `arn`).
    pub const CREATE_TARGET_GROUP: &str = "bg_create_target_group";
    /// CreateService of green (data: `name`, `task_definition`; done: `arn`).
    pub const CREATE_SERVICE: &str = "bg_create_service";
    /// The preparing rule forwards to green (data: `rule`, `target_group`).
    pub const ATTACH_PREPARING: &str = "bg_attach_preparing";
    /// The checks behind the preparing rule (done: `passed`, `reason`).
    pub const CHECKS: &str = "bg_checks";
    /// The production rule's weights (data: `green_percent`, `forward`).
    pub const SHIFT: &str = "bg_shift";
    /// A service's auto scaling put on (data: `service`, `settings`).
    pub const COPY_SCALING: &str = "bg_copy_scaling";
    /// A service scaled up again (data: `service`, `desired`).
    pub const SCALE_UP: &str = "bg_scale_up";
    /// blue retired (data: `service`, `settings`: its auto scaling, journaled before it is
    /// deregistered).
    pub const RETIRE: &str = "bg_retire";
    /// green tagged `ferry:status=live` (data: `service`).
    pub const MARK_LIVE: &str = "bg_mark_live";
    /// DeleteService (data: `service`).
    pub const DELETE_SERVICE: &str = "bg_delete_service";
    /// DeleteTargetGroup (data: `arn`).
    pub const DELETE_TARGET_GROUP: &str = "bg_delete_target_group";
    /// The preparing rule back on blue (data: `rule`, `forward`).
    pub const RESTORE_PREPARING: &str = "bg_restore_preparing";
    /// The decision to roll back (data: `reason`); journal only.
    pub const ROLL_BACK: &str = "bg_roll_back";
}

/// The `ferry:*` tags of the resources ferry creates, and the values of `ferry:status`.
pub mod tags {
    pub const DEPLOYMENT: &str = "ferry:deployment";
    pub const VERSION: &str = "ferry:version";
    pub const ENV: &str = "ferry:env";
    pub const SERVICE: &str = "ferry:service";
    pub const STATUS: &str = "ferry:status";
    /// Created, not yet receiving all production traffic.
    pub const NEW: &str = "new";
    /// Receiving production traffic.
    pub const LIVE: &str = "live";
    /// Retired: scaled to 0, kept for an instant rollback until a later deploy deletes it.
    pub const OBSOLETE: &str = "obsolete";
}

/// What a blue-green, canary or linear deploy of one service should reach, from ferry.toml
/// and preflight.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub environment: String,
    /// ferry's name of the service (`[services.NAME]`).
    pub service: String,
    /// The environment's ECS service name: the base of the per-version services' names.
    pub ecs_service: String,
    pub version: String,
    pub deployment_id: String,
    /// The new revision (ARN), registered before.
    pub task_definition: String,
    /// The production and preparing listener rules (or listeners), rendered ARNs.
    pub production_rule: String,
    pub preparing_rule: String,
    /// Healthy targets green needs before its checks; None: as many as blue runs.
    pub healthy: Option<u32>,
    pub shift: Shift,
    /// How long green is watched at 100 % before blue is retired.
    pub bake: Duration,
    /// Retired versions kept for an instant rollback.
    pub keep: u32,
    /// A service of the family that already runs `task_definition` (a kept, retired
    /// version; the environment's own service after a rollback to what it ran): green is
    /// that service and its target group, scaled up again, instead of new ones.
    pub reuse: Option<Reuse>,
}

/// An existing service (and its target group) that becomes green again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reuse {
    pub service: String,
    pub target_group_name: String,
}

impl Plan {
    /// green's target group name: the reused one's, else [`naming::target_group_name`].
    pub fn green_target_group(&self) -> String {
        match &self.reuse {
            Some(reuse) => reuse.target_group_name.clone(),
            None => naming::target_group_name(&self.environment, &self.service, &self.version),
        }
    }
    /// green's ECS service name: the reused one's, else [`naming::version_service_name`].
    pub fn green_service(&self) -> String {
        match &self.reuse {
            Some(reuse) => reuse.service.clone(),
            None => naming::version_service_name(&self.ecs_service, &self.version),
        }
    }
    /// The tags of what this deploy creates, with `ferry:status` = `status`.
    pub fn tags(&self, status: &str) -> Vec<(String, String)> {
        vec![
            (tags::DEPLOYMENT.into(), self.deployment_id.clone()),
            (tags::VERSION.into(), self.version.clone()),
            (tags::ENV.into(), self.environment.clone()),
            (tags::SERVICE.into(), self.service.clone()),
            (tags::STATUS.into(), status.into()),
        ]
    }
}

/// The version that was live when the deploy began, as journaled by [`Step::Begin`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blue {
    /// Its ECS service's name.
    pub service: String,
    /// The target group the production rule forwarded to (ARN).
    pub target_group: String,
    /// Its `ferry:version`, when it has one (the first blue-green deploy replaces a service
    /// Terraform made, which has none).
    pub version: Option<String>,
    /// Its desired count then: green's, and the healthy count green needs by default.
    pub desired: i32,
}

/// One weight change ferry made on the production rule, as journaled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftFact {
    /// green's share asked, in percent.
    pub green_percent: u32,
    /// When the change was started (epoch ms): a step's hold runs from here.
    pub at: i64,
    pub done: bool,
}

/// What the journal says a blue-green deploy did (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub blue: Option<Blue>,
    /// The preparing checks' verdict: Some(true) passed, Some(false) failed, None not run
    /// to the end.
    pub checks: Option<bool>,
    pub shifts: Vec<ShiftFact>,
    /// blue's auto scaling as retiring it found it, before it was deregistered.
    pub scaling: Option<ScalingSettings>,
    /// Why the deploy is rolling back, once decided.
    pub rollback: Option<String>,
}

impl Facts {
    /// Reads a deployment's journal. Journal-only steps (begin, the rollback decision) count
    /// once started: their data is the fact.
    pub fn from_steps(steps: &[JournalStep]) -> Facts {
        let mut facts = Facts::default();
        for step in steps {
            let done = step.state == StepState::Done;
            match step.name.as_str() {
                names::BEGIN => facts.blue = serde_json::from_value(step.data.clone()).ok(),
                names::CHECKS if done => facts.checks = step.data.get("passed").and_then(Value::as_bool),
                names::SHIFT => {
                    if let Some(green_percent) = step.data.get("green_percent").and_then(Value::as_u64) {
                        facts.shifts.push(ShiftFact { green_percent: green_percent as u32, at: step.started_at, done });
                    }
                }
                names::RETIRE => {
                    if let Some(settings) = step.data.get("settings").and_then(|s| serde_json::from_value(s.clone()).ok()) {
                        facts.scaling = Some(settings);
                    }
                }
                names::ROLL_BACK => {
                    facts.rollback = Some(step.data.get("reason").and_then(Value::as_str).unwrap_or("the deploy failed").to_string());
                }
                _ => {}
            }
        }
        facts
    }
}

/// A service of the family (the environment's service, or a per-version one ferry created),
/// as DescribeServices with its tags and Application Auto Scaling show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionService {
    pub name: String,
    pub arn: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    /// The target groups its `loadBalancers` register tasks with.
    pub target_groups: Vec<String>,
    /// `createdAt`, epoch ms: which retired version is newer.
    pub created_at: i64,
    /// Its `ferry:version`, `ferry:status` and `ferry:deployment` tags.
    pub version: Option<String>,
    pub ferry_status: Option<String>,
    pub deployment: Option<String>,
    /// Its scalable target and policies; None when it has no scalable target.
    pub scaling: Option<ScalingSettings>,
}

impl VersionService {
    fn active(&self) -> bool {
        self.status == "ACTIVE"
    }
    fn retired(&self) -> bool {
        self.desired == 0 && self.scaling.is_none() && self.ferry_status.as_deref() == Some(tags::OBSOLETE)
    }
}

impl VersionService {
    /// A service as DescribeServices with its tags answered it
    /// ([`crate::platform::Ecs::describe_tagged_services`]), with its auto scaling (None
    /// when it has no scalable target).
    pub fn from_tagged(tagged: &crate::platform::TaggedService, scaling: Option<ScalingSettings>) -> VersionService {
        let service = &tagged.service;
        VersionService {
            name: service.name.clone(),
            arn: service.arn.clone(),
            status: service.status.clone(),
            task_definition: service.task_definition.clone(),
            desired: service.desired,
            target_groups: service.load_balancers.iter().filter_map(|lb| lb.target_group_arn.clone()).collect(),
            created_at: tagged.created_at,
            version: tagged.tag(tags::VERSION).map(str::to_string),
            ferry_status: tagged.tag(tags::STATUS).map(str::to_string),
            deployment: tagged.tag(tags::DEPLOYMENT).map(str::to_string),
            scaling,
        }
    }
}

/// Whether a described service is one of `plan`'s versions: the environment's own service
/// (`ecs_service`), or one tagged `ferry:env` = the environment and `ferry:service` = the
/// service.
pub fn is_version_of(plan: &Plan, tagged: &crate::platform::TaggedService) -> bool {
    tagged.service.name == plan.ecs_service
        || (tagged.tag(tags::ENV) == Some(plan.environment.as_str()) && tagged.tag(tags::SERVICE) == Some(plan.service.as_str()))
}

/// A target group of the service's versions, found by its name or its `ferry:*` tags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionTargetGroup {
    pub arn: String,
    pub name: String,
    /// Its `ferry:deployment` tag: None for a group ferry did not create.
    pub deployment: Option<String>,
}

impl VersionTargetGroup {
    /// A target group (DescribeTargetGroups) with its tags (DescribeTags).
    pub fn from_tagged(group: &crate::platform::TargetGroupInfo, group_tags: &[(String, String)]) -> VersionTargetGroup {
        VersionTargetGroup {
            arn: group.arn.clone(),
            name: group.name.clone(),
            deployment: group_tags.iter().find(|(k, _)| k == tags::DEPLOYMENT).map(|(_, v)| v.clone()),
        }
    }
}

/// Whether a target group is one of `plan`'s versions': green's (by its name), or tagged
/// `ferry:env` = the environment and `ferry:service` = the service.
pub fn is_group_of(plan: &Plan, name: &str, group_tags: &[(String, String)]) -> bool {
    let tag = |key: &str| group_tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    name == plan.green_target_group()
        || (tag(tags::ENV) == Some(plan.environment.as_str()) && tag(tags::SERVICE) == Some(plan.service.as_str()))
}

/// What is observed when the next step is chosen.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    pub facts: &'a Facts,
    /// Now, epoch ms (the executor's clock).
    pub now_ms: i64,
    /// The production and preparing rules' actions now; None when the rule is gone.
    pub production: Option<&'a Route>,
    pub preparing: Option<&'a Route>,
    /// The service's versions: the environment's service and every service tagged
    /// `ferry:env` = the environment and `ferry:service` = the service (INACTIVE ones may
    /// be listed or not).
    pub services: &'a [VersionService],
    /// The target groups tagged likewise, and green's by its name.
    pub target_groups: &'a [VersionTargetGroup],
    /// Healthy targets per target group ARN (DescribeTargetHealth); absent is 0.
    pub healthy: &'a [(String, u32)],
}

impl Observed<'_> {
    fn service(&self, name: &str) -> Option<&VersionService> {
        self.services.iter().find(|s| s.name == name && s.status != "INACTIVE")
    }
    fn target_group_named(&self, name: &str) -> Option<&VersionTargetGroup> {
        self.target_groups.iter().find(|g| g.name == name)
    }
    fn healthy(&self, arn: &str) -> u32 {
        self.healthy.iter().find(|(a, _)| a == arn).map(|(_, n)| *n).unwrap_or(0)
    }
}

/// How a deploy ended, as [`Step::Done`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// green receives all production traffic, blue is retired, obsolete versions deleted.
    Deployed,
    /// The version was live already: nothing moved (obsolete versions deleted).
    AlreadyLive,
    /// Production traffic is back on blue, green is removed.
    RolledBack,
}

/// The next thing to do. The executor journals each step that changes something before
/// and after it applies it (the names in [`names`]), then asks again. In events, it is an
/// object with `step` naming the variant in snake case, and its fields.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Journal which version is live (no AWS call).
    Begin { blue: Blue },
    /// CreateTargetGroup `name` with the settings of blue's group `like`, tagged.
    CreateTargetGroup { name: String, like: String, tags: Vec<(String, String)> },
    /// CreateService `name` like blue's service `like` ([`crate::platform::NewService::like`]),
    /// its target group `from` replaced by `to`.
    CreateService {
        name: String,
        like: String,
        task_definition: String,
        desired: i32,
        target_group: (String, String),
        tags: Vec<(String, String)>,
    },
    /// The preparing rule forwards to green's target group only.
    AttachToPreparing { rule: String, target_group: String },
    /// Wait until the target group has `required` healthy targets (the deploy's timeout
    /// bounds it).
    WaitHealthy { target_group: String, required: u32 },
    /// Run the configured checks through the preparing rule; journal the verdict.
    RunChecks { rule: String, target_group: String },
    /// Set the production rule's forward (only groups of weight > 0: none is left behind at 0).
    ShiftWeights { rule: String, green_percent: u32, forward: Vec<(String, i32)> },
    /// Hold green's share until then (epoch ms), the gates watching.
    Hold { green_percent: u32, until_ms: i64 },
    /// Watch green at 100 % until then, the gates watching.
    Bake { until_ms: i64 },
    /// Register the scalable target and put the policies on `service` (green after the
    /// shift; blue again on a rollback).
    CopyScaling { service: String, settings: ScalingSettings },
    /// Retire `service`: journal `settings` (its auto scaling), deregister its scalable
    /// target, set its desired count to 0, tag it `ferry:status=obsolete`.
    RetireOld { service: String, arn: String, settings: Option<ScalingSettings> },
    /// Tag `service` `ferry:status=live`.
    MarkLive { service: String, arn: String },
    /// Set `service`'s desired count again (a retired version brought back).
    ScaleUp { service: String, desired: i32 },
    /// DeleteService (force).
    DeleteService { service: String },
    /// DeleteTargetGroup.
    DeleteTargetGroup { arn: String },
    /// Wait until this deleted service (DRAINING) is INACTIVE: its target group cannot be
    /// deleted while a service names it (ELBv2 `ResourceInUse`).
    WaitDrained { service: String },
    /// The preparing rule forwards to these groups again (away from green).
    RestorePreparing { rule: String, forward: Vec<(String, i32)> },
    /// Journal the decision to roll back, and why (no AWS call).
    RollBack { reason: String },
    /// Stop without changing anything, for this reason (someone else's change, a state
    /// ferry cannot judge); the deploy fails and a person decides.
    Stop { reason: String },
    /// Nothing more to do.
    Done { ending: Ending },
}

impl Step {
    /// The journal name of a step that is journaled (None: a wait, a stop, the end).
    pub fn journal_name(&self) -> Option<&'static str> {
        Some(match self {
            Step::Begin { .. } => names::BEGIN,
            Step::CreateTargetGroup { .. } => names::CREATE_TARGET_GROUP,
            Step::CreateService { .. } => names::CREATE_SERVICE,
            Step::AttachToPreparing { .. } => names::ATTACH_PREPARING,
            Step::RunChecks { .. } => names::CHECKS,
            Step::ShiftWeights { .. } => names::SHIFT,
            Step::CopyScaling { .. } => names::COPY_SCALING,
            Step::RetireOld { .. } => names::RETIRE,
            Step::MarkLive { .. } => names::MARK_LIVE,
            Step::ScaleUp { .. } => names::SCALE_UP,
            Step::DeleteService { .. } => names::DELETE_SERVICE,
            Step::DeleteTargetGroup { .. } => names::DELETE_TARGET_GROUP,
            Step::RestorePreparing { .. } => names::RESTORE_PREPARING,
            Step::RollBack { .. } => names::ROLL_BACK,
            Step::WaitHealthy { .. }
            | Step::WaitDrained { .. }
            | Step::Hold { .. }
            | Step::Bake { .. }
            | Step::Stop { .. }
            | Step::Done { .. } => {
                return None;
            }
        })
    }

    /// The data journaled when the step starts.
    pub fn journal_data(&self) -> Value {
        match self {
            Step::Begin { blue } => serde_json::to_value(blue).unwrap_or(Value::Null),
            Step::CreateTargetGroup { name, like, .. } => json!({"name": name, "like": like}),
            Step::CreateService { name, task_definition, target_group, .. } => {
                json!({"name": name, "task_definition": task_definition, "target_group": target_group.1})
            }
            Step::AttachToPreparing { rule, target_group } => json!({"rule": rule, "target_group": target_group}),
            Step::RunChecks { rule, target_group } => json!({"rule": rule, "target_group": target_group}),
            Step::ShiftWeights { rule, green_percent, forward } => {
                json!({"rule": rule, "green_percent": green_percent, "forward": forward})
            }
            Step::CopyScaling { service, settings } => json!({"service": service, "settings": settings}),
            Step::RetireOld { service, settings, .. } => json!({"service": service, "settings": settings}),
            Step::MarkLive { service, .. } | Step::DeleteService { service } => json!({"service": service}),
            Step::ScaleUp { service, desired } => json!({"service": service, "desired": desired}),
            Step::DeleteTargetGroup { arn } => json!({"arn": arn}),
            Step::RestorePreparing { rule, forward } => json!({"rule": rule, "forward": forward}),
            Step::RollBack { reason } | Step::Stop { reason } => json!({"reason": reason}),
            Step::WaitHealthy { .. } | Step::WaitDrained { .. } | Step::Hold { .. } | Step::Bake { .. } | Step::Done { .. } => json!({}),
        }
    }
}

/// `arn`'s share of the route's forward, in percent of the weights (0 when absent or when
/// every weight is 0).
pub fn share(route: &Route, arn: &str) -> u32 {
    let weights = route.weights();
    let total: i64 = weights.iter().map(|(_, w)| i64::from((*w).max(0))).sum();
    if total == 0 {
        return 0;
    }
    let mine: i64 = weights.iter().filter(|(a, _)| a == arn).map(|(_, w)| i64::from((*w).max(0))).sum();
    (mine * 100 / total) as u32
}

/// The target groups a route sends traffic to (weight > 0).
fn receiving(route: &Route) -> Vec<&str> {
    route.weights().iter().filter(|(_, w)| *w > 0).map(|(a, _)| a.as_str()).collect()
}

/// Whether the route forwards exactly blue `100 - green` % and green `green` %, and to no
/// other group.
fn forwards(route: &Route, blue: &str, green: &str, green_percent: u32) -> bool {
    receiving(route).iter().all(|a| *a == blue || *a == green)
        && share(route, green) == green_percent
        && share(route, blue) == 100 - green_percent
}

/// The forward that gives green `green_percent` and blue the rest (groups at 0 left out).
fn forward(blue: &str, green: &str, green_percent: u32) -> Vec<(String, i32)> {
    [(blue, 100 - green_percent), (green, green_percent)]
        .into_iter()
        .filter(|(_, w)| *w > 0)
        .map(|(a, w)| (a.to_string(), w as i32))
        .collect()
}

/// How the live production rule reads, for messages: `web-1 90%, web-2 10%`.
fn describe(route: &Route) -> String {
    let groups: Vec<String> =
        route.weights().iter().map(|(arn, _)| format!("{} {}%", crate::platform::target_group_name(arn), share(route, arn))).collect();
    if groups.is_empty() { "no target group".into() } else { groups.join(", ") }
}

/// The next step of a blue-green, canary or linear deploy (see the module documentation).
pub fn next(plan: &Plan, observed: &Observed<'_>) -> Step {
    if let Some(reason) = &observed.facts.rollback {
        return roll_back(plan, observed, reason);
    }
    let Some(production) = observed.production else {
        return Step::Stop { reason: format!("the production rule {} was not found", plan.production_rule) };
    };
    if production.forward().is_none() {
        return Step::Stop { reason: format!("the production rule {} does not forward to target groups", plan.production_rule) };
    }
    let green_tg_name = plan.green_target_group();
    let green_tg = observed.target_group_named(&green_tg_name);
    let Some(blue) = &observed.facts.blue else {
        return begin(plan, observed, production, green_tg);
    };
    let Some(green_tg) = green_tg else {
        if !observed.facts.shifts.is_empty() {
            return Step::Stop { reason: format!("green's target group {green_tg_name} is gone, though traffic was shifted to it") };
        }
        return Step::CreateTargetGroup { name: green_tg_name, like: blue.target_group.clone(), tags: plan.tags(tags::NEW) };
    };
    let facts = observed.facts;
    // The preparing rule forwards to green before green's service exists: ECS refuses a
    // service whose target group no listener or rule forwards to (CreateService:
    // "does not have an associated load balancer").
    if facts.shifts.is_empty() && facts.checks.is_none() {
        let Some(preparing) = observed.preparing else {
            return Step::Stop { reason: format!("the preparing rule {} was not found", plan.preparing_rule) };
        };
        if receiving(preparing) != [green_tg.arn.as_str()] {
            return Step::AttachToPreparing { rule: plan.preparing_rule.clone(), target_group: green_tg.arn.clone() };
        }
    }
    let green_name = plan.green_service();
    let Some(green) = observed.service(&green_name) else {
        return Step::CreateService {
            name: green_name,
            like: blue.service.clone(),
            task_definition: plan.task_definition.clone(),
            desired: blue.desired,
            target_group: (blue.target_group.clone(), green_tg.arn.clone()),
            tags: plan.tags(tags::NEW),
        };
    };
    if green.task_definition != plan.task_definition {
        return Step::Stop {
            reason: format!(
                "service {green_name} already runs version {} as {}, not {}: deploy another version, or delete that service",
                plan.version,
                crate::rolling::short_task_definition(&green.task_definition),
                crate::rolling::short_task_definition(&plan.task_definition)
            ),
        };
    }
    if green.desired == 0 && blue.desired > 0 {
        // A kept, retired version deployed again.
        return Step::ScaleUp { service: green_name, desired: blue.desired };
    }
    if facts.shifts.is_empty() && facts.checks.is_none() {
        let required = plan.healthy.unwrap_or(blue.desired.max(1) as u32);
        if observed.healthy(&green_tg.arn) < required {
            return Step::WaitHealthy { target_group: green_tg.arn.clone(), required };
        }
        return Step::RunChecks { rule: plan.preparing_rule.clone(), target_group: green_tg.arn.clone() };
    }
    if facts.checks == Some(false) {
        return Step::RollBack { reason: "the checks through the preparing rule failed".into() };
    }
    // The production rule must show what ferry last set: blue alone before any shift.
    let schedule = plan.shift.schedule();
    let mut set: Option<(u32, i64)> = None;
    for (i, shift) in facts.shifts.iter().enumerate() {
        let last = i + 1 == facts.shifts.len();
        let applied = shift.done || (last && forwards(production, &blue.target_group, &green_tg.arn, shift.green_percent));
        if applied {
            set = Some((shift.green_percent, shift.at));
        }
    }
    let set_percent = set.map_or(0, |(p, _)| p);
    if !forwards(production, &blue.target_group, &green_tg.arn, set_percent) {
        return Step::Stop {
            reason: format!(
                "the production rule {} forwards {}, not what ferry set ({}): someone else changed it; ferry stops without moving traffic",
                plan.production_rule,
                describe(production),
                describe(&Route {
                    arn: String::new(),
                    actions: vec![crate::probe::ActionInfo {
                        kind: "forward".into(),
                        order: None,
                        target_groups: forward(&blue.target_group, &green_tg.arn, set_percent),
                    }],
                })
            ),
        };
    }
    // Where in the schedule: the first step above what is set.
    let green_healthy = observed.healthy(&green_tg.arn);
    if let Some((percent, at)) = set
        && percent < 100
        && let Some(step) = schedule.iter().find(|s| s.percent == percent)
    {
        let until = at + step.hold.as_millis() as i64;
        if observed.now_ms < until {
            return Step::Hold { green_percent: percent, until_ms: until };
        }
    }
    if let Some(step) = schedule.iter().find(|s| s.percent > set_percent) {
        if green_healthy == 0 {
            return Step::RollBack {
                reason: format!(
                    "green's target group {} has no healthy target: ferry does not shift traffic toward it",
                    crate::platform::target_group_name(&green_tg.arn)
                ),
            };
        }
        return Step::ShiftWeights {
            rule: plan.production_rule.clone(),
            green_percent: step.percent,
            forward: forward(&blue.target_group, &green_tg.arn, step.percent),
        };
    }
    // All of it on green: bake, then retire blue.
    let at = set.map_or(observed.now_ms, |(_, at)| at);
    let until = at + plan.bake.as_millis() as i64;
    if observed.now_ms < until {
        return Step::Bake { until_ms: until };
    }
    let blue_service = observed.service(&blue.service).filter(|s| s.active());
    let settings = blue_service.and_then(|s| s.scaling.clone()).or_else(|| facts.scaling.clone());
    if let Some(settings) = settings
        && green.scaling.is_none()
    {
        return Step::CopyScaling { service: green_name, settings };
    }
    if let Some(old) = blue_service
        && !old.retired()
    {
        return Step::RetireOld {
            service: old.name.clone(),
            arn: old.arn.clone(),
            settings: old.scaling.clone().or_else(|| facts.scaling.clone()),
        };
    }
    if green.ferry_status.as_deref() != Some(tags::LIVE) {
        return Step::MarkLive { service: green_name, arn: green.arn.clone() };
    }
    clean_up(plan, observed, &green_name, Some(&blue.service), production).unwrap_or(Step::Done { ending: Ending::Deployed })
}

/// The first decision: which version is live (journaled as blue), or that the version is
/// live already.
fn begin(plan: &Plan, observed: &Observed<'_>, production: &Route, green_tg: Option<&VersionTargetGroup>) -> Step {
    let live = receiving(production);
    let green_name = plan.green_service();
    if let Some(green_tg) = green_tg
        && live == [green_tg.arn.as_str()]
    {
        // Already live (the same version deployed again): only the clean-up is left.
        return clean_up(plan, observed, &green_name, None, production).unwrap_or(Step::Done { ending: Ending::AlreadyLive });
    }
    let [blue_tg] = live.as_slice() else {
        return Step::Stop {
            reason: format!(
                "the production rule {} forwards {}: a blue/green deploy starts from one live target group",
                plan.production_rule,
                describe(production)
            ),
        };
    };
    let Some(blue) = observed.services.iter().find(|s| s.active() && s.name != green_name && s.target_groups.iter().any(|g| g == blue_tg))
    else {
        return Step::Stop {
            reason: format!(
                "no ACTIVE service registers its tasks with {}, which the production rule forwards to",
                crate::platform::target_group_name(blue_tg)
            ),
        };
    };
    Step::Begin {
        blue: Blue { service: blue.name.clone(), target_group: blue_tg.to_string(), version: blue.version.clone(), desired: blue.desired },
    }
}

/// What is left over once green is live: ferry-made services beyond the `keep` newest
/// retired ones, those a dead deploy left behind (`ferry:status=new`, not live), and
/// ferry-made target groups no ACTIVE service uses. Never green, blue, or a group a rule
/// forwards to. None when nothing is left.
fn clean_up(plan: &Plan, observed: &Observed<'_>, green: &str, blue: Option<&str>, production: &Route) -> Option<Step> {
    let mut protected: Vec<&str> = production.weights().iter().map(|(a, _)| a.as_str()).collect();
    if let Some(preparing) = observed.preparing {
        protected.extend(preparing.weights().iter().map(|(a, _)| a.as_str()));
    }
    let mut retired: Vec<&VersionService> = observed
        .services
        .iter()
        .filter(|s| s.active() && s.deployment.is_some() && s.name != green && Some(s.name.as_str()) != blue)
        .filter(|s| !s.target_groups.iter().any(|g| protected.contains(&g.as_str())))
        .collect();
    retired.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    // blue, when it is ferry's, is the newest kept version.
    let mut kept = usize::from(blue.and_then(|b| observed.service(b)).is_some_and(|s| s.deployment.is_some()));
    for service in retired {
        let obsolete = service.ferry_status.as_deref() == Some(tags::OBSOLETE);
        if obsolete && kept < plan.keep as usize {
            kept += 1;
            continue;
        }
        return Some(Step::DeleteService { service: service.name.clone() });
    }
    let in_use = |arn: &str| observed.services.iter().any(|s| s.active() && s.target_groups.iter().any(|g| g == arn));
    let group =
        observed.target_groups.iter().find(|g| g.deployment.is_some() && !protected.contains(&g.arn.as_str()) && !in_use(&g.arn))?;
    Some(delete_group(observed, &group.arn))
}

/// The next step of a clean-up outside a deploy (`ferry gc`): what [`next`]'s clean-up at
/// the end of a deploy would delete — retired versions beyond the `keep` newest, versions a
/// dead deploy left that no rule forwards to, ferry-made target groups nothing uses — with the
/// version behind the production rule as the live one. None when nothing is left, and while
/// production traffic is split between groups (a shift under way, or stopped half-way: not
/// ferry gc's to judge).
pub fn next_clean_up(plan: &Plan, observed: &Observed<'_>) -> Option<Step> {
    let production = observed.production?;
    let [live_group] = receiving(production)[..] else { return None };
    let live = observed.services.iter().find(|s| s.active() && s.target_groups.iter().any(|g| g == live_group))?;
    clean_up(plan, observed, &live.name, None, production)
}

/// DeleteTargetGroup of `arn`, once no deleted (DRAINING) service names it any more.
fn delete_group(observed: &Observed<'_>, arn: &str) -> Step {
    match observed.services.iter().find(|s| s.status == "DRAINING" && s.target_groups.iter().any(|g| g == arn)) {
        Some(draining) => Step::WaitDrained { service: draining.name.clone() },
        None => Step::DeleteTargetGroup { arn: arn.to_string() },
    }
}

/// The rollback: traffic back on blue first, then green removed.
fn roll_back(plan: &Plan, observed: &Observed<'_>, reason: &str) -> Step {
    let _ = reason;
    let Some(blue) = &observed.facts.blue else {
        // Decided before anything was created: nothing to undo.
        return Step::Done { ending: Ending::RolledBack };
    };
    let green_tg = observed.target_group_named(&plan.green_target_group());
    let green_name = plan.green_service();
    let blue_service = observed.service(&blue.service).filter(|s| s.active());
    if let Some(production) = observed.production
        && receiving(production) != [blue.target_group.as_str()]
    {
        // Toward blue only with healthy targets there: a retired blue comes back first.
        if let Some(old) = blue_service
            && old.desired == 0
        {
            return Step::ScaleUp { service: old.name.clone(), desired: blue.desired.max(1) };
        }
        if observed.healthy(&blue.target_group) == 0 {
            // A group no rule forwards to has no health checks (ELBv2: `unused`,
            // `Target.NotInUse`): once production is all on green, blue's targets become
            // healthy only behind the preparing rule again.
            if let Some(preparing) = observed.preparing
                && !preparing.weights().iter().any(|(a, w)| *a == blue.target_group && *w > 0)
                && !production.weights().iter().any(|(a, w)| *a == blue.target_group && *w > 0)
            {
                return Step::RestorePreparing { rule: plan.preparing_rule.clone(), forward: vec![(blue.target_group.clone(), 1)] };
            }
            return Step::WaitHealthy { target_group: blue.target_group.clone(), required: 1 };
        }
        return Step::ShiftWeights {
            rule: plan.production_rule.clone(),
            green_percent: 0,
            forward: vec![(blue.target_group.clone(), 100)],
        };
    }
    if let (Some(preparing), Some(green_tg)) = (observed.preparing, green_tg)
        && preparing.weights().iter().any(|(a, _)| *a == green_tg.arn)
    {
        return Step::RestorePreparing { rule: plan.preparing_rule.clone(), forward: vec![(blue.target_group.clone(), 1)] };
    }
    if let (Some(old), Some(settings)) = (blue_service, &observed.facts.scaling)
        && old.scaling.is_none()
    {
        return Step::CopyScaling { service: old.name.clone(), settings: settings.clone() };
    }
    if let Some(green) = observed.service(&green_name).filter(|s| s.active()) {
        // Made by this deploy: deleted; a kept version brought back: retired again.
        if green.deployment.as_deref() == Some(plan.deployment_id.as_str()) {
            return Step::DeleteService { service: green_name };
        }
        if !green.retired() {
            return Step::RetireOld { service: green_name, arn: green.arn.clone(), settings: green.scaling.clone() };
        }
    }
    if let Some(green_tg) = green_tg
        && green_tg.deployment.as_deref() == Some(plan.deployment_id.as_str())
    {
        return delete_group(observed, &green_tg.arn);
    }
    Step::Done { ending: Ending::RolledBack }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::ScalingPolicy;
    use crate::probe::ActionInfo;

    const MIN: u64 = 60;

    fn route(arn: &str, forward: &[(&str, i32)]) -> Route {
        Route {
            arn: arn.into(),
            actions: vec![ActionInfo {
                kind: "forward".into(),
                order: Some(1),
                target_groups: forward.iter().map(|(a, w)| (a.to_string(), *w)).collect(),
            }],
        }
    }

    fn scaling() -> ScalingSettings {
        ScalingSettings {
            min_capacity: 2,
            max_capacity: 8,
            policies: vec![ScalingPolicy {
                name: "cpu".into(),
                policy_type: "TargetTrackingScaling".into(),
                configuration: json!({"TargetValue": 60.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}),
            }],
        }
    }

    fn plan(shift: Shift) -> Plan {
        Plan {
            environment: "prod".into(),
            service: "web".into(),
            ecs_service: "web-prod".into(),
            version: "2.0.0".into(),
            deployment_id: "fd-2".into(),
            task_definition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7".into(),
            production_rule: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/lb/1/2/prod".into(),
            preparing_rule: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/lb/1/2/prep".into(),
            healthy: None,
            shift,
            bake: Duration::from_secs(30),
            keep: 1,
            reuse: None,
        }
    }

    fn blue_green() -> Plan {
        plan(Shift::AllAtOnce { overlap: Duration::from_secs(MIN) })
    }

    fn canary() -> Plan {
        plan(Shift::Steps(vec![
            WeightStep { percent: 10, hold: Duration::from_secs(5 * MIN) },
            WeightStep { percent: 50, hold: Duration::from_secs(5 * MIN) },
            WeightStep { percent: 100, hold: Duration::ZERO },
        ]))
    }

    fn tg_arn(name: &str) -> String {
        format!("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{name}/0123456789abcdef")
    }

    /// A service of the in-memory world, with its tags.
    #[derive(Clone, Debug)]
    struct Svc {
        name: String,
        status: String,
        task_definition: String,
        desired: i32,
        target_groups: Vec<String>,
        created_at: i64,
        tags: Vec<(String, String)>,
        scaling: Option<ScalingSettings>,
        /// Its tasks pass their health checks from then on (epoch ms).
        healthy_from: i64,
    }

    impl Svc {
        fn tag(&self, key: &str) -> Option<String> {
            self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        }
        fn set_tag(&mut self, key: &str, value: &str) {
            self.tags.retain(|(k, _)| k != key);
            self.tags.push((key.into(), value.into()));
        }
    }

    #[derive(Clone, Debug)]
    struct Tg {
        arn: String,
        name: String,
        deployment: Option<String>,
    }

    /// Where the executor is killed while applying a step: after journaling it as started
    /// and before the call; after the call, before journaling it done; after journaling it
    /// done (before the next decision).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Kill {
        BeforeCall,
        AfterCall,
        AfterDone,
    }

    /// AWS and the ledger as the executor would leave them: what a re-run observes.
    #[derive(Clone, Debug)]
    struct World {
        services: Vec<Svc>,
        groups: Vec<Tg>,
        production: Route,
        preparing: Route,
        journal: Vec<JournalStep>,
        now: i64,
        /// The verdict of the checks through the preparing rule.
        checks_pass: bool,
        /// A gate (probe, target health) fails while green holds this share.
        fail_at_percent: Option<u32>,
        /// green's tasks never become healthy.
        green_sick: bool,
    }

    impl World {
        /// prod runs web 1.0.0 (ferry's, live, auto scaled, 3 tasks) behind both rules, and
        /// keeps the retired 0.9.0.
        fn new(plan: &Plan) -> World {
            let v1 = naming::target_group_name("prod", "web", "1.0.0");
            let v09 = naming::target_group_name("prod", "web", "0.9.0");
            let tags = |version: &str, status: &str, deployment: &str| {
                vec![
                    (tags::DEPLOYMENT.to_string(), deployment.to_string()),
                    (tags::VERSION.into(), version.into()),
                    (tags::ENV.into(), "prod".into()),
                    (tags::SERVICE.into(), "web".into()),
                    (tags::STATUS.into(), status.into()),
                ]
            };
            World {
                services: vec![
                    Svc {
                        name: naming::version_service_name("web-prod", "0.9.0"),
                        status: "ACTIVE".into(),
                        task_definition: "web:5".into(),
                        desired: 0,
                        target_groups: vec![tg_arn(&v09)],
                        created_at: 1_000,
                        tags: tags("0.9.0", tags::OBSOLETE, "fd-0"),
                        scaling: None,
                        healthy_from: 0,
                    },
                    Svc {
                        name: naming::version_service_name("web-prod", "1.0.0"),
                        status: "ACTIVE".into(),
                        task_definition: "web:6".into(),
                        desired: 3,
                        target_groups: vec![tg_arn(&v1)],
                        created_at: 2_000,
                        tags: tags("1.0.0", tags::LIVE, "fd-1"),
                        scaling: Some(scaling()),
                        healthy_from: 0,
                    },
                ],
                groups: vec![
                    Tg { arn: tg_arn(&v09), name: v09, deployment: Some("fd-0".into()) },
                    Tg { arn: tg_arn(&v1), name: v1.clone(), deployment: Some("fd-1".into()) },
                ],
                production: route(&plan.production_rule, &[(&tg_arn(&v1), 1)]),
                preparing: route(&plan.preparing_rule, &[(&tg_arn(&v1), 1)]),
                journal: Vec::new(),
                now: 1_000_000,
                checks_pass: true,
                fail_at_percent: None,
                green_sick: false,
            }
        }

        fn facts(&self) -> Facts {
            Facts::from_steps(&self.journal)
        }

        /// Decides the next step from the world alone, as a re-run after a crash would.
        fn decide(&self, plan: &Plan) -> Step {
            let facts = self.facts();
            let services: Vec<VersionService> = self
                .services
                .iter()
                .map(|s| VersionService {
                    name: s.name.clone(),
                    arn: format!("arn:aws:ecs:eu-west-1:123456789012:service/prod/{}", s.name),
                    status: s.status.clone(),
                    task_definition: s.task_definition.clone(),
                    desired: s.desired,
                    target_groups: s.target_groups.clone(),
                    created_at: s.created_at,
                    version: s.tag(tags::VERSION),
                    ferry_status: s.tag(tags::STATUS),
                    deployment: s.tag(tags::DEPLOYMENT),
                    scaling: s.scaling.clone(),
                })
                .collect();
            let groups: Vec<VersionTargetGroup> = self
                .groups
                .iter()
                .map(|g| VersionTargetGroup { arn: g.arn.clone(), name: g.name.clone(), deployment: g.deployment.clone() })
                .collect();
            let green = plan.green_service();
            let healthy: Vec<(String, u32)> = self
                .services
                .iter()
                .filter(|s| s.status == "ACTIVE" && s.healthy_from <= self.now && !(self.green_sick && s.name == green))
                .flat_map(|s| s.target_groups.iter().map(move |g| (g.clone(), s.desired.max(0) as u32)))
                .collect();
            next(
                plan,
                &Observed {
                    facts: &facts,
                    now_ms: self.now,
                    production: Some(&self.production),
                    preparing: Some(&self.preparing),
                    services: &services,
                    target_groups: &groups,
                    healthy: &healthy,
                },
            )
        }

        fn journal(&mut self, name: &str, state: StepState, data: Value) -> usize {
            let seq = self.journal.len() as i64 + 1;
            self.journal.push(JournalStep { seq, name: name.into(), state, started_at: self.now, finished_at: None, data });
            self.journal.len() - 1
        }

        fn service_mut(&mut self, name: &str) -> &mut Svc {
            self.services.iter_mut().find(|s| s.name == name && s.status == "ACTIVE").unwrap_or_else(|| panic!("no ACTIVE service {name}"))
        }

        /// The AWS call(s) of a step, as AWS would do them.
        fn call(&mut self, plan: &Plan, step: &Step) -> Value {
            match step {
                Step::CreateTargetGroup { name, tags, .. } => {
                    // ELBv2 answers the existing group of that name with the same settings.
                    if !self.groups.iter().any(|g| &g.name == name) {
                        let deployment = tags.iter().find(|(k, _)| k == tags::DEPLOYMENT).map(|(_, v)| v.clone());
                        self.groups.push(Tg { arn: tg_arn(name), name: name.clone(), deployment });
                    }
                    json!({"arn": tg_arn(name)})
                }
                Step::CreateService { name, task_definition, desired, target_group, tags, .. } => {
                    assert!(
                        !self.services.iter().any(|s| &s.name == name && s.status == "ACTIVE"),
                        "CreateService of {name} which exists: ECS refuses it (not idempotent)"
                    );
                    self.services.push(Svc {
                        name: name.clone(),
                        status: "ACTIVE".into(),
                        task_definition: task_definition.clone(),
                        desired: *desired,
                        target_groups: vec![target_group.1.clone()],
                        created_at: self.now,
                        tags: tags.clone(),
                        scaling: None,
                        healthy_from: self.now + 5_000,
                    });
                    json!({"arn": name})
                }
                Step::AttachToPreparing { target_group, .. } => {
                    self.preparing = route(&plan.preparing_rule, &[(target_group, 1)]);
                    json!({})
                }
                Step::RunChecks { .. } => json!({"passed": self.checks_pass}),
                Step::ShiftWeights { forward, .. } => {
                    let forward: Vec<(&str, i32)> = forward.iter().map(|(a, w)| (a.as_str(), *w)).collect();
                    self.production = route(&plan.production_rule, &forward);
                    json!({})
                }
                Step::RestorePreparing { forward, .. } => {
                    let forward: Vec<(&str, i32)> = forward.iter().map(|(a, w)| (a.as_str(), *w)).collect();
                    self.preparing = route(&plan.preparing_rule, &forward);
                    json!({})
                }
                Step::CopyScaling { service, settings } => {
                    self.service_mut(service).scaling = Some(settings.clone());
                    json!({})
                }
                Step::RetireOld { service, .. } => {
                    let s = self.service_mut(service);
                    s.scaling = None;
                    s.desired = 0;
                    s.set_tag(tags::STATUS, tags::OBSOLETE);
                    json!({})
                }
                Step::MarkLive { service, .. } => {
                    self.service_mut(service).set_tag(tags::STATUS, tags::LIVE);
                    json!({})
                }
                Step::ScaleUp { service, desired } => {
                    let now = self.now;
                    let s = self.service_mut(service);
                    s.desired = *desired;
                    s.healthy_from = now + 5_000;
                    json!({})
                }
                Step::DeleteService { service } => {
                    // Force: gone whatever its desired count; twice is the same as once.
                    for s in self.services.iter_mut().filter(|s| &s.name == service) {
                        s.status = "INACTIVE".into();
                    }
                    json!({})
                }
                Step::DeleteTargetGroup { arn } => {
                    assert!(!receiving(&self.production).contains(&arn.as_str()), "ELBv2 refuses: the production rule forwards to {arn}");
                    assert!(!self.preparing.weights().iter().any(|(a, _)| a == arn), "ELBv2 refuses: the preparing rule forwards to {arn}");
                    self.groups.retain(|g| &g.arn != arn);
                    json!({})
                }
                Step::Begin { .. } | Step::RollBack { .. } => json!({}),
                Step::WaitHealthy { .. }
                | Step::WaitDrained { .. }
                | Step::Hold { .. }
                | Step::Bake { .. }
                | Step::Stop { .. }
                | Step::Done { .. } => {
                    json!({})
                }
            }
        }

        /// Applies a step as the executor would: journaled started, called, journaled done
        /// (the data of [`Step::journal_data`], with the call's answer). Killed at `kill`:
        /// returns false.
        fn apply(&mut self, plan: &Plan, step: &Step, kill: Option<Kill>) -> bool {
            self.now += 1_000;
            match step {
                Step::WaitHealthy { .. } => self.now += 10_000,
                Step::Hold { green_percent, until_ms } => {
                    if self.fail_at_percent == Some(*green_percent) {
                        // A gate failed while green held its share: the executor journals the rollback.
                        self.journal(names::ROLL_BACK, StepState::Done, json!({"reason": "probe: 3 requests failed"}));
                    } else {
                        self.now = self.now.max(*until_ms);
                    }
                }
                Step::Bake { until_ms } => self.now = self.now.max(*until_ms),
                _ => {}
            }
            let Some(name) = step.journal_name() else { return true };
            let index = self.journal(name, StepState::Started, step.journal_data());
            if kill == Some(Kill::BeforeCall) {
                return false;
            }
            let answer = self.call(plan, step);
            if kill == Some(Kill::AfterCall) {
                return false;
            }
            let mut data = step.journal_data();
            if let (Some(data), Some(answer)) = (data.as_object_mut(), answer.as_object()) {
                data.extend(answer.clone());
            }
            self.journal[index].state = StepState::Done;
            self.journal[index].data = data;
            kill != Some(Kill::AfterDone)
        }

        /// Runs decisions until the end, or until killed at the `kill_at`-th journaled step.
        /// Returns the steps decided and the last one (Done or Stop), None when killed.
        fn run(&mut self, plan: &Plan, kill_at: Option<(usize, Kill)>) -> (Vec<Step>, Option<Step>) {
            let mut steps = Vec::new();
            let mut journaled = 0;
            for _ in 0..100 {
                let step = self.decide(plan);
                if matches!(step, Step::Done { .. } | Step::Stop { .. }) {
                    return (steps, Some(step));
                }
                let kill = match kill_at {
                    Some((at, kill)) if step.journal_name().is_some() && at == journaled => Some(kill),
                    _ => None,
                };
                if step.journal_name().is_some() {
                    journaled += 1;
                }
                steps.push(step.clone());
                if !self.apply(plan, &step, kill) {
                    return (steps, None);
                }
            }
            panic!("no end after 100 steps: {steps:#?}");
        }

        /// One live version, nothing orphaned: the production rule forwards to `live`'s
        /// target group alone, only `live` runs tasks, every target group ferry made is used
        /// by an ACTIVE service, and every rule forwards to groups that exist.
        fn assert_converged(&self, live: &str, boundary: &str) {
            let services: Vec<&Svc> = self.services.iter().filter(|s| s.status == "ACTIVE").collect();
            let running: Vec<&str> = services.iter().filter(|s| s.desired > 0).map(|s| s.name.as_str()).collect();
            assert_eq!(running, [live], "{boundary}: services running tasks");
            let live_service = services.iter().find(|s| s.name == live).expect("live service");
            assert_eq!(self.production.weights().len(), 1, "{boundary}: production forwards {:?}", self.production.weights());
            assert_eq!(receiving(&self.production), [live_service.target_groups[0].as_str()], "{boundary}: production rule");
            for group in &self.groups {
                assert!(
                    services.iter().any(|s| s.target_groups.contains(&group.arn)),
                    "{boundary}: target group {} is used by no ACTIVE service (orphaned)",
                    group.name
                );
            }
            for service in &services {
                for group in &service.target_groups {
                    assert!(self.groups.iter().any(|g| &g.arn == group), "{boundary}: {} registers with a deleted group", service.name);
                }
            }
            for (arn, _) in self.production.weights().iter().chain(self.preparing.weights()) {
                assert!(self.groups.iter().any(|g| &g.arn == arn), "{boundary}: a rule forwards to a deleted group {arn}");
            }
            assert_eq!(live_service.scaling, Some(scaling()), "{boundary}: the live version's auto scaling");
            let others_scaled = services.iter().filter(|s| s.name != live && s.scaling.is_some()).count();
            assert_eq!(others_scaled, 0, "{boundary}: a retired version kept its scalable target");
        }
    }

    fn name_of(step: &Step) -> String {
        match step {
            Step::ShiftWeights { green_percent, .. } => format!("ShiftWeights({green_percent}%)"),
            Step::DeleteService { service } => format!("DeleteService({service})"),
            Step::DeleteTargetGroup { arn } => format!("DeleteTargetGroup({})", crate::platform::target_group_name(arn)),
            other => format!("{other:?}").split([' ', '{']).next().unwrap_or_default().to_string(),
        }
    }

    fn names_of(steps: &[Step]) -> Vec<String> {
        steps.iter().map(name_of).collect()
    }

    fn deleted_v09() -> [String; 2] {
        [
            format!("DeleteService({})", naming::version_service_name("web-prod", "0.9.0")),
            format!("DeleteTargetGroup({})", naming::target_group_name("prod", "web", "0.9.0")),
        ]
    }

    #[test]
    fn a_blue_green_deploy_goes_step_by_step_to_one_live_version() {
        let plan = blue_green();
        let mut world = World::new(&plan);
        let (steps, end) = world.run(&plan, None);
        let mut expected: Vec<String> = [
            "Begin",
            "CreateTargetGroup",
            "AttachToPreparing",
            "CreateService",
            "WaitHealthy",
            "RunChecks",
            "ShiftWeights(50%)",
            "Hold",
            "ShiftWeights(100%)",
            "Bake",
            "CopyScaling",
            "RetireOld",
            "MarkLive",
        ]
        .map(str::to_string)
        .to_vec();
        expected.extend(deleted_v09());
        assert_eq!(names_of(&steps), expected);
        assert_eq!(end, Some(Step::Done { ending: Ending::Deployed }));
        world.assert_converged(&plan.green_service(), "uninterrupted");
        // The overlap: both on the production rule with equal weights, held 60 s.
        let overlap = steps.iter().find_map(|s| match s {
            Step::ShiftWeights { green_percent: 50, forward, .. } => Some(forward.clone()),
            _ => None,
        });
        assert_eq!(overlap.map(|f| f.iter().map(|(_, w)| *w).collect::<Vec<_>>()), Some(vec![50, 50]));
        // keep = 1: 1.0.0 is kept retired, 0.9.0 deleted with its group.
        let blue = world.services.iter().find(|s| s.name == naming::version_service_name("web-prod", "1.0.0")).expect("blue");
        assert_eq!((blue.status.as_str(), blue.desired, blue.tag(tags::STATUS).as_deref()), ("ACTIVE", 0, Some(tags::OBSOLETE)));
        assert!(world.services.iter().any(|s| s.name.contains("0-9-0") && s.status == "INACTIVE"));
        assert_eq!(world.groups.len(), 2);
    }

    /// Kills the run at each boundary of each journaled step — after journaling it started,
    /// after its call, after journaling it done — then runs the same deploy again from what
    /// the world shows (AWS and the journal), and checks it converges to `live` with nothing
    /// orphaned and the same ending as an uninterrupted run. Returns the boundaries named.
    fn kill_at_every_boundary(plan: &Plan, setup: impl Fn(&mut World), live: &str, ending: Ending) -> Vec<String> {
        let mut reference = World::new(plan);
        setup(&mut reference);
        let (steps, end) = reference.run(plan, None);
        assert_eq!(end, Some(Step::Done { ending }), "uninterrupted: {:#?}", names_of(&steps));
        let journaled: Vec<&Step> = steps.iter().filter(|s| s.journal_name().is_some()).collect();
        let mut boundaries = Vec::new();
        for (k, step) in journaled.iter().enumerate() {
            for kill in [Kill::BeforeCall, Kill::AfterCall, Kill::AfterDone] {
                let boundary = format!("#{k} {} ({kill:?})", name_of(step));
                let mut world = World::new(plan);
                setup(&mut world);
                let (_, end) = world.run(plan, Some((k, kill)));
                assert_eq!(end, None, "{boundary}: the run was not killed");
                let (again, end) = world.run(plan, None);
                assert_eq!(end, Some(Step::Done { ending }), "{boundary}: the re-run ended otherwise: {:#?}", names_of(&again));
                world.assert_converged(live, &boundary);
                // Nothing is done twice that AWS would refuse or that moves traffic back.
                let creates = world.journal.iter().filter(|j| j.name == names::CREATE_SERVICE && j.state == StepState::Done).count();
                assert!(creates <= 1, "{boundary}: {creates} services created");
                boundaries.push(boundary);
            }
        }
        boundaries
    }

    #[test]
    fn a_blue_green_deploy_killed_at_any_step_boundary_converges_when_run_again() {
        let plan = blue_green();
        let boundaries = kill_at_every_boundary(&plan, |_| {}, &plan.green_service(), Ending::Deployed);
        // Begin, CreateTargetGroup, CreateService, AttachToPreparing, RunChecks, two shifts,
        // CopyScaling, RetireOld, MarkLive, two deletions: 12 steps, 3 boundaries each.
        assert_eq!(boundaries.len(), 36, "{boundaries:#?}");
        for named in ["CreateService (AfterCall)", "ShiftWeights(50%) (AfterCall)", "RetireOld (AfterCall)", "DeleteService"] {
            assert!(boundaries.iter().any(|b| b.contains(named)), "{named} not among {boundaries:#?}");
        }
    }

    #[test]
    fn a_canary_deploy_goes_10_50_100_holding_each_step() {
        let plan = canary();
        let mut world = World::new(&plan);
        let (steps, end) = world.run(&plan, None);
        assert_eq!(end, Some(Step::Done { ending: Ending::Deployed }));
        let shifts: Vec<(u32, Vec<i32>)> = steps
            .iter()
            .filter_map(|s| match s {
                Step::ShiftWeights { green_percent, forward, .. } => Some((*green_percent, forward.iter().map(|(_, w)| *w).collect())),
                _ => None,
            })
            .collect();
        assert_eq!(shifts, [(10, vec![90, 10]), (50, vec![50, 50]), (100, vec![100])]);
        let holds: Vec<u32> =
            steps.iter().filter_map(|s| if let Step::Hold { green_percent, .. } = s { Some(*green_percent) } else { None }).collect();
        assert_eq!(holds, [10, 50]);
        world.assert_converged(&plan.green_service(), "uninterrupted canary");
    }

    #[test]
    fn a_canary_deploy_killed_at_any_step_boundary_converges_when_run_again() {
        let plan = canary();
        let boundaries = kill_at_every_boundary(&plan, |_| {}, &plan.green_service(), Ending::Deployed);
        // The same with three shifts: 13 steps.
        assert_eq!(boundaries.len(), 39, "{boundaries:#?}");
        assert!(boundaries.iter().any(|b| b.contains("ShiftWeights(10%) (AfterCall)")), "{boundaries:#?}");
    }

    #[test]
    fn a_canary_whose_gate_fails_at_50_percent_goes_back_to_blue_then_removes_green_at_any_kill_point() {
        let plan = canary();
        let fail = |w: &mut World| w.fail_at_percent = Some(50);
        let mut world = World::new(&plan);
        fail(&mut world);
        let (steps, end) = world.run(&plan, None);
        assert_eq!(end, Some(Step::Done { ending: Ending::RolledBack }));
        let names = names_of(&steps);
        let held = names.iter().rposition(|n| n == "Hold").expect("a hold");
        assert_eq!(names[held - 1], "ShiftWeights(50%)");
        let after_failure: Vec<String> = names[held + 1..].iter().filter(|n| *n != "RollBack").cloned().collect();
        assert_eq!(
            after_failure,
            [
                "ShiftWeights(0%)".to_string(),
                "RestorePreparing".into(),
                format!("DeleteService({})", plan.green_service()),
                format!("DeleteTargetGroup({})", plan.green_target_group()),
            ],
            "traffic back first, then green removed: {:#?}",
            names_of(&steps)
        );
        let blue = naming::version_service_name("web-prod", "1.0.0");
        world.assert_converged(&blue, "uninterrupted rollback");
        let boundaries = kill_at_every_boundary(&plan, fail, &blue, Ending::RolledBack);
        assert!(boundaries.len() >= 12, "{boundaries:#?}");
    }

    #[test]
    fn a_version_that_fails_its_checks_never_reaches_production_and_is_removed_at_any_kill_point() {
        let plan = blue_green();
        let fail = |w: &mut World| w.checks_pass = false;
        let mut world = World::new(&plan);
        fail(&mut world);
        let (steps, end) = world.run(&plan, None);
        assert_eq!(end, Some(Step::Done { ending: Ending::RolledBack }));
        assert!(!steps.iter().any(|s| matches!(s, Step::ShiftWeights { .. })), "production was touched: {:#?}", names_of(&steps));
        assert!(names_of(&steps).contains(&"RollBack".to_string()));
        let blue = naming::version_service_name("web-prod", "1.0.0");
        world.assert_converged(&blue, "checks failed");
        assert_eq!(receiving(&world.preparing), [tg_arn(&naming::target_group_name("prod", "web", "1.0.0")).as_str()]);
        kill_at_every_boundary(&plan, fail, &blue, Ending::RolledBack);
    }

    #[test]
    fn someone_else_moving_the_weights_during_a_canary_stops_the_deploy_and_says_so() {
        let plan = canary();
        let mut world = World::new(&plan);
        // Run up to the hold at 10 %.
        for _ in 0..20 {
            let step = world.decide(&plan);
            if matches!(step, Step::Hold { green_percent: 10, .. }) {
                break;
            }
            assert!(world.apply(&plan, &step, None));
        }
        let blue_tg = tg_arn(&naming::target_group_name("prod", "web", "1.0.0"));
        let green_tg = tg_arn(&plan.green_target_group());
        world.production = route(&plan.production_rule, &[(&blue_tg, 1), (&green_tg, 1)]);
        let before = world.production.clone();
        let Step::Stop { reason } = world.decide(&plan) else { panic!("expected a stop, got {:?}", world.decide(&plan)) };
        assert!(reason.contains("someone else changed it"), "{reason}");
        assert!(reason.contains("50%") && reason.contains("90%") && reason.contains("10%"), "{reason}");
        assert_eq!(world.production, before, "nothing overwritten");
    }

    #[test]
    fn a_shift_whose_answer_was_lost_is_adopted_with_its_hold_and_one_that_never_happened_is_made_again() {
        let plan = canary();
        let mut world = World::new(&plan);
        let (_, end) = world.run(&plan, Some((5, Kill::AfterCall)));
        assert_eq!(end, None);
        let started = world.journal.last().expect("journal").clone();
        assert_eq!((started.name.as_str(), started.state), (names::SHIFT, StepState::Started));
        // The rule shows 10 %: adopted, held from when the call started.
        assert_eq!(world.decide(&plan), Step::Hold { green_percent: 10, until_ms: started.started_at + 5 * 60_000 });

        let mut world = World::new(&plan);
        world.run(&plan, Some((5, Kill::BeforeCall)));
        match world.decide(&plan) {
            Step::ShiftWeights { green_percent: 10, .. } => {}
            other => panic!("expected the 10% shift again, got {other:?}"),
        }
    }

    #[test]
    fn traffic_never_moves_toward_a_target_group_without_healthy_targets() {
        let plan = canary();
        let mut world = World::new(&plan);
        for _ in 0..20 {
            let step = world.decide(&plan);
            if matches!(step, Step::Hold { green_percent: 10, .. }) {
                break;
            }
            assert!(world.apply(&plan, &step, None));
        }
        world.green_sick = true;
        world.now += 10 * 60_000;
        match world.decide(&plan) {
            Step::RollBack { reason } => assert!(reason.contains("no healthy target"), "{reason}"),
            other => panic!("expected a rollback, got {other:?}"),
        }
    }

    #[test]
    fn a_rollback_after_retirement_brings_blue_back_with_its_auto_scaling_before_moving_traffic() {
        let plan = blue_green();
        let mut world = World::new(&plan);
        for _ in 0..30 {
            let step = world.decide(&plan);
            let retired = matches!(step, Step::RetireOld { .. });
            assert!(world.apply(&plan, &step, None));
            if retired {
                break;
            }
        }
        let blue = naming::version_service_name("web-prod", "1.0.0");
        assert_eq!(world.services.iter().find(|s| s.name == blue).map(|s| s.desired), Some(0));
        assert_eq!(world.facts().scaling, Some(scaling()), "journaled before it was deregistered");
        world.journal(names::ROLL_BACK, StepState::Done, json!({"reason": "ferry rollback"}));
        let (steps, end) = world.run(&plan, None);
        assert_eq!(end, Some(Step::Done { ending: Ending::RolledBack }));
        let names = names_of(&steps);
        // blue's group is back behind the preparing rule before its health is waited for: no
        // rule forwarded to it, so it had no health checks (ELBv2's `unused`).
        assert_eq!(&names[..4], ["ScaleUp", "RestorePreparing", "WaitHealthy", "ShiftWeights(0%)"], "{names:#?}");
        assert!(names.contains(&"CopyScaling".to_string()), "{names:#?}");
        world.assert_converged(&blue, "rollback after retirement");
    }

    #[test]
    fn the_first_blue_green_deploy_retires_the_terraform_service_and_never_deletes_it() {
        let plan = blue_green();
        let setup = |w: &mut World| {
            // Terraform's service and group: no ferry tags, the only version.
            w.services.retain(|s| s.name.contains("1-0-0"));
            w.groups.retain(|g| g.name.contains("1-0-0"));
            w.services[0].name = "web-prod".into();
            w.services[0].tags.clear();
            w.groups[0].deployment = None;
        };
        let mut world = World::new(&plan);
        setup(&mut world);
        let (steps, end) = world.run(&plan, None);
        assert_eq!(end, Some(Step::Done { ending: Ending::Deployed }));
        assert!(!names_of(&steps).iter().any(|n| n.starts_with("Delete")), "{:#?}", names_of(&steps));
        let base = world.services.iter().find(|s| s.name == "web-prod").expect("base");
        assert_eq!((base.status.as_str(), base.desired, base.tag(tags::STATUS).as_deref()), ("ACTIVE", 0, Some(tags::OBSOLETE)));
        kill_at_every_boundary(&plan, setup, &plan.green_service(), Ending::Deployed);
    }

    #[test]
    fn deploying_the_live_version_again_changes_nothing() {
        let plan = Plan { version: "1.0.0".into(), ..blue_green() };
        let mut world = World::new(&plan);
        world.services.retain(|s| !s.name.contains("0-9-0"));
        world.groups.retain(|g| !g.name.contains("0-9-0"));
        assert_eq!(world.decide(&plan), Step::Done { ending: Ending::AlreadyLive });
    }

    #[test]
    fn clean_up_keeps_n_retired_versions_and_never_what_a_rule_forwards_to() {
        let mut plan = blue_green();
        plan.keep = 2;
        let mut world = World::new(&plan);
        let (steps, _) = world.run(&plan, None);
        assert!(!names_of(&steps).iter().any(|n| n.starts_with("Delete")), "keep = 2 keeps 1.0.0 and 0.9.0: {:#?}", names_of(&steps));

        // keep = 1, but the preparing rule still forwards to 0.9.0's group: it stays.
        let plan = blue_green();
        let mut world = World::new(&plan);
        let v09 = tg_arn(&naming::target_group_name("prod", "web", "0.9.0"));
        world.preparing = route(&plan.preparing_rule, &[(&v09, 1)]);
        world.checks_pass = true;
        // Attach moves the preparing rule to green; put it back on 0.9.0 before the clean-up.
        for _ in 0..30 {
            let step = world.decide(&plan);
            if matches!(step, Step::MarkLive { .. }) {
                world.preparing = route(&plan.preparing_rule, &[(&v09, 1)]);
            }
            if matches!(step, Step::Done { .. }) {
                break;
            }
            assert!(
                !matches!(step, Step::DeleteService { .. } | Step::DeleteTargetGroup { .. }),
                "deleted what receives traffic: {step:?}"
            );
            assert!(world.apply(&plan, &step, None));
        }
    }

    #[test]
    fn states_ferry_cannot_judge_stop_the_deploy_with_the_reason() {
        let plan = blue_green();
        // Two live groups on the production rule before the deploy.
        let mut world = World::new(&plan);
        let v09 = tg_arn(&naming::target_group_name("prod", "web", "0.9.0"));
        let v1 = tg_arn(&naming::target_group_name("prod", "web", "1.0.0"));
        world.production = route(&plan.production_rule, &[(&v1, 1), (&v09, 1)]);
        let Step::Stop { reason } = world.decide(&plan) else { panic!("expected a stop") };
        assert!(reason.contains("starts from one live target group"), "{reason}");
        // The version's service exists with another revision.
        let mut world = World::new(&plan);
        for _ in 0..4 {
            let step = world.decide(&plan);
            assert!(world.apply(&plan, &step, None));
        }
        world.services.last_mut().expect("green").task_definition = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:9".into();
        let Step::Stop { reason } = world.decide(&plan) else { panic!("expected a stop") };
        assert!(reason.contains("already runs version 2.0.0 as web:9, not web:7"), "{reason}");
    }

    #[test]
    fn the_journal_reads_back_as_facts() {
        let blue = Blue { service: "web-prod".into(), target_group: tg_arn("web"), version: None, desired: 3 };
        let step = |seq: i64, name: &str, state: StepState, data: Value| JournalStep {
            seq,
            name: name.into(),
            state,
            started_at: seq * 1_000,
            finished_at: None,
            data,
        };
        let facts = Facts::from_steps(&[
            step(1, names::BEGIN, StepState::Started, serde_json::to_value(&blue).expect("json")),
            step(2, names::CHECKS, StepState::Started, json!({})),
            step(3, names::CHECKS, StepState::Done, json!({"passed": true})),
            step(4, names::SHIFT, StepState::Done, json!({"green_percent": 10})),
            step(5, names::SHIFT, StepState::Started, json!({"green_percent": 50})),
            step(6, names::RETIRE, StepState::Started, json!({"service": "web-prod", "settings": scaling()})),
        ]);
        assert_eq!(facts.blue, Some(blue));
        assert_eq!(facts.checks, Some(true));
        assert_eq!(
            facts.shifts,
            [ShiftFact { green_percent: 10, at: 4_000, done: true }, ShiftFact { green_percent: 50, at: 5_000, done: false }]
        );
        assert_eq!(facts.scaling, Some(scaling()));
        assert_eq!(facts.rollback, None);
    }

    #[test]
    fn described_services_and_groups_become_observations_and_only_the_services_own_count() {
        use crate::platform::{ServiceInfo, ServiceLoadBalancer, TaggedService, TargetGroupInfo};
        let plan = blue_green();
        let tagged = |name: &str, env: &str, service: &str| TaggedService {
            service: ServiceInfo {
                name: name.into(),
                arn: format!("arn:aws:ecs:eu-west-1:123456789012:service/prod/{name}"),
                status: "ACTIVE".into(),
                desired: 2,
                load_balancers: vec![ServiceLoadBalancer {
                    target_group_arn: Some(tg_arn("g")),
                    container_name: "web".into(),
                    container_port: 80,
                    advanced: None,
                }],
                ..ServiceInfo::default()
            },
            created_at: 7,
            tags: vec![
                (tags::ENV.into(), env.into()),
                (tags::SERVICE.into(), service.into()),
                (tags::VERSION.into(), "1.0.0".into()),
                (tags::STATUS.into(), tags::LIVE.into()),
                (tags::DEPLOYMENT.into(), "fd-1".into()),
            ],
        };
        let mine = tagged("web-prod-1-0-0-abc", "prod", "web");
        assert!(is_version_of(&plan, &mine));
        assert!(!is_version_of(&plan, &tagged("web-stage-1-0-0-abc", "stage", "web")));
        assert!(!is_version_of(&plan, &tagged("api-prod-1-0-0-abc", "prod", "api")));
        let untagged =
            TaggedService { service: ServiceInfo { name: "web-prod".into(), ..ServiceInfo::default() }, ..TaggedService::default() };
        assert!(is_version_of(&plan, &untagged), "the environment's own service");
        let observed = VersionService::from_tagged(&mine, Some(scaling()));
        assert_eq!(observed.target_groups, [tg_arn("g")]);
        assert_eq!(
            (observed.version.as_deref(), observed.ferry_status.as_deref(), observed.deployment.as_deref(), observed.created_at),
            (Some("1.0.0"), Some(tags::LIVE), Some("fd-1"), 7)
        );
        assert!(observed.scaling.is_some());

        let group = TargetGroupInfo { arn: tg_arn("x"), name: plan.green_target_group(), target_type: "ip".into() };
        assert!(is_group_of(&plan, &group.name, &[]), "green's by its name");
        assert!(is_group_of(&plan, "other", &[(tags::ENV.into(), "prod".into()), (tags::SERVICE.into(), "web".into())]));
        assert!(!is_group_of(&plan, "other", &[(tags::ENV.into(), "prod".into())]));
        assert_eq!(
            VersionTargetGroup::from_tagged(&group, &[(tags::DEPLOYMENT.into(), "fd-2".into())]).deployment.as_deref(),
            Some("fd-2")
        );
    }

    #[test]
    fn shift_schedules_and_step_strings() {
        assert_eq!(Shift::AllAtOnce { overlap: Duration::ZERO }.schedule(), [WeightStep { percent: 100, hold: Duration::ZERO }]);
        assert_eq!(parse_step("25% / 90s"), Ok(WeightStep { percent: 25, hold: Duration::from_secs(90) }));
        assert!(parse_step("101%").is_err());
        let linear = parse_linear("40%/1m").expect("linear");
        assert_eq!(linear.iter().map(|s| s.percent).collect::<Vec<_>>(), [40, 80, 100]);
        assert_eq!(linear.last().map(|s| s.hold), Some(Duration::ZERO));
    }
}
