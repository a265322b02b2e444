//! What ferry local keeps of an ECS-managed BLUE_GREEN, LINEAR or CANARY service deployment
//! while it runs (see `crate::native`): its lifecycle stage, its lifecycle hooks, the
//! traffic it has moved. Stored on the service deployment; absent for a rolling one.

use serde::{Deserialize, Serialize};

/// One service deployment's progress through the lifecycle stages of the ECS developer guide
/// ("Amazon ECS blue/green service deployments", "lifecycle stages"), in the words of the
/// API's `ServiceDeploymentLifecycleStage`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NativeRollout {
    /// `BLUE_GREEN`, `LINEAR` or `CANARY`.
    pub strategy: String,
    /// The current stage (`RECONCILE_SERVICE` … `CLEAN_UP`), as DescribeServiceDeployments
    /// shows it; `PRE_PRODUCTION_TRAFFIC_SHIFT` hooks run while it shows
    /// `PRODUCTION_TRAFFIC_SHIFT`, before any production traffic moves.
    pub stage: String,
    /// When the current stage (or the current traffic step) began, epoch seconds.
    pub stage_started_at: f64,
    /// The hook stages (`DeploymentLifecycleHookStage`) whose hooks have all been answered.
    pub hooks_done: Vec<String>,
    /// The deployment id of the blue (source) deployment.
    pub blue_deployment_id: String,
    /// The target-group pairs, one per `loadBalancers` entry with `advancedConfiguration`.
    pub pairs: Vec<TrafficPair>,
    /// The share of production traffic, percent, the green revision has been given.
    pub production_weight: f64,
    /// The share of test traffic, percent, the green revision has been given.
    pub test_weight: f64,
    /// The deployment is being rolled back: production traffic was returned to blue.
    #[serde(default)]
    pub rolled_back: bool,
}

/// One `loadBalancers` entry of a blue/green service: the group serving production (blue),
/// the one the green tasks register in, and the rules whose weights move between them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrafficPair {
    pub blue_target_group_arn: String,
    pub green_target_group_arn: String,
    pub production_rule_arn: String,
    pub test_rule_arn: Option<String>,
}

/// A lifecycle hook run (`DeploymentLifecycleHookDetail`), kept for DescribeServiceDeployments.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HookRun {
    pub hook_id: String,
    /// `DeploymentLifecycleHookStage` the hook runs at.
    pub stage: String,
    /// `PAUSE` (ferry local refuses `AWS_LAMBDA` hooks, see docs/local.md).
    pub target_type: String,
    pub target_arn: Option<String>,
    /// `AWAITING_ACTION`, `SUCCEEDED`, `FAILED` or `TIMED_OUT`.
    pub status: String,
    pub expires_at: f64,
    /// `CONTINUE` or `ROLLBACK`: what ECS does when the hook expires.
    pub timeout_action: String,
}
