//! Task records: a new task in PROVISIONING (RunTask, the scheduler) and the stop of one
//! (StopTask, the scheduler). The runtime starts and signals the processes.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::{Caller, hex_id};
use crate::state::{Container, Task, TaskDefinition};

/// Who asks for a task, and on whose behalf.
pub struct Placement<'a> {
    pub cluster_arn: &'a str,
    pub group: String,
    pub started_by: Option<String>,
    pub service_arn: Option<String>,
    pub deployment_id: Option<String>,
    pub launch_type: Option<String>,
    pub overrides: Value,
    /// container name → digest resolved for this task (by its deployment, or at RunTask).
    pub image_digests: &'a BTreeMap<String, String>,
}

/// A new task record in PROVISIONING, with its containers as the definition declares them.
pub fn new_task(definition: &TaskDefinition, placement: Placement, caller: &Caller, now: f64) -> Task {
    let cluster = placement.cluster_arn.rsplit('/').next().unwrap_or_default();
    let id = hex_id(32);
    let arn = caller.arn("ecs", &format!("task/{cluster}/{id}"));
    let containers = definition
        .containers()
        .iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            Container {
                arn: caller.arn("ecs", &format!("container/{cluster}/{id}/{}", uuid::Uuid::new_v4())),
                image: c.get("image").and_then(Value::as_str).unwrap_or_default().to_string(),
                image_digest: placement.image_digests.get(&name).cloned(),
                essential: c.get("essential").and_then(Value::as_bool).unwrap_or(true),
                last_status: "PENDING".into(),
                exit_code: None,
                reason: None,
                has_health_check: c.get("healthCheck").is_some(),
                health_status: "UNKNOWN".into(),
                bindings: Vec::new(),
                runtime_id: String::new(),
                pid: None,
                cpu: c.get("cpu").and_then(Value::as_i64),
                memory: c.get("memory").and_then(Value::as_i64),
                name,
            }
        })
        .collect();
    Task {
        arn,
        cluster_arn: placement.cluster_arn.to_string(),
        task_definition_arn: definition.arn.clone(),
        group: placement.group,
        started_by: placement.started_by,
        service_arn: placement.service_arn,
        deployment_id: placement.deployment_id,
        last_status: "PROVISIONING".into(),
        desired_status: "RUNNING".into(),
        launch_type: placement.launch_type,
        created_at: now,
        pull_started_at: None,
        pull_stopped_at: None,
        started_at: None,
        stopping_at: None,
        stopped_at: None,
        execution_stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        health_status: "UNKNOWN".into(),
        containers,
        overrides: placement.overrides,
        network_mode: definition.body.get("networkMode").and_then(Value::as_str).unwrap_or("bridge").to_string(),
        cpu: definition.body.get("cpu").and_then(Value::as_str).map(str::to_string),
        memory: definition.body.get("memory").and_then(Value::as_str).map(str::to_string),
        version: 1,
        kill_at: None,
        failure_counted: false,
        reached_healthy: false,
        lb_targets: Vec::new(),
    }
}

/// Marks a task to be stopped (desired status STOPPED, with the stop code and reason
/// DescribeTasks reports: `UserInitiated` for StopTask, `ServiceSchedulerInitiated` for the
/// scheduler); the runtime sends the signals. A task already asked to stop keeps its first
/// code and reason, as ECS keeps them.
pub fn stop_task(task: &mut Task, code: &str, reason: &str, now: f64) {
    if task.desired_status == "STOPPED" {
        return;
    }
    task.desired_status = "STOPPED".into();
    task.stop_code = Some(code.to_string());
    task.stopped_reason = Some(reason.to_string());
    task.stopping_at = Some(now);
    task.version += 1;
}
