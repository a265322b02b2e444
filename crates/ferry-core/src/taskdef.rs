//! Task definitions as native ECS JSON: the shape `aws ecs register-task-definition
//! --cli-input-json` takes and `describe-task-definition` returns, with camelCase member
//! names exactly as the ECS API model spells them.
//!
//! ferry keeps task definitions as `serde_json::Value` rather than typed structs on purpose:
//! a definition taken from the running service (`from = "live"`) must come back unchanged
//! except for the one image ferry swaps, and a value carries every member, including ones
//! this version of ferry has never heard of. The SDK conversion lives in `ferry-aws`.
//!
//! The diff here is the one the plan shows: both sides are normalized first, so members ECS
//! fills in with their defaults and lists whose order means nothing are not reported as
//! changes (the way ecspresso's diff behaves).

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Members of `TaskDefinition` (the DescribeTaskDefinition output) that
/// RegisterTaskDefinition does not accept: ECS sets them, so a definition copied from the
/// live service must lose them before it is registered again. Taken from the ECS API model
/// by comparing the `TaskDefinition` shape with `RegisterTaskDefinitionRequest`.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "deregisteredAt",
    "deleteRequestedAt",
    "registeredBy",
];

/// Why a task definition could not be read or changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaskDefError {
    #[error("the task definition is not a JSON object")]
    NotAnObject,
    #[error("the task definition has no \"containerDefinitions\" list")]
    NoContainerDefinitions,
    #[error("no container named {} in the task definition ({})", crate::text::quoted(.container), describe_containers(.available))]
    NoSuchContainer { container: String, available: Vec<String> },
}

fn describe_containers(available: &[String]) -> String {
    if available.is_empty() {
        "it has no containers".to_string()
    } else {
        format!("containers: {}", crate::text::excerpt(&available.join(", ")))
    }
}

/// The members of [`READ_ONLY_FIELDS`] a definition has: a template copied from
/// DescribeTaskDefinition's output carries them, and RegisterTaskDefinition would not
/// accept them, so ferry leaves them out, and says so.
pub fn read_only_fields_in(td: &Value) -> Vec<&'static str> {
    READ_ONLY_FIELDS.iter().copied().filter(|field| td.get(*field).is_some()).collect()
}

/// The warning for [`read_only_fields_in`], naming the fields; None when there are none.
pub fn read_only_warning(td: &Value) -> Option<String> {
    let fields = read_only_fields_in(td);
    let (these, them) = match fields.len() {
        0 => return None,
        1 => ("this field", "it"),
        _ => ("these fields", "them"),
    };
    Some(format!(
        "warning: {} ignored: DescribeTaskDefinition returns {these} but RegisterTaskDefinition does not accept {them} \
         (ECS sets {them}); remove {them} from the template",
        fields.join(", ")
    ))
}

/// Removes the members ECS sets itself (see [`READ_ONLY_FIELDS`]), so the rest can be
/// registered again.
pub fn strip_read_only(td: &mut Value) {
    if let Some(obj) = td.as_object_mut() {
        for field in READ_ONLY_FIELDS {
            obj.remove(*field);
        }
    }
}

/// The task definition family, when there is one.
pub fn family(td: &Value) -> Option<&str> {
    td.get("family").and_then(Value::as_str)
}

fn containers(td: &Value) -> impl Iterator<Item = &Value> {
    td.get("containerDefinitions").and_then(Value::as_array).into_iter().flatten()
}

/// The names of the containers, in the order the definition lists them.
pub fn container_names(td: &Value) -> Vec<String> {
    containers(td).filter_map(|c| c.get("name").and_then(Value::as_str)).map(str::to_string).collect()
}

/// The image of the container named `container`.
pub fn container_image<'a>(td: &'a Value, container: &str) -> Option<&'a str> {
    containers(td).find(|c| c.get("name").and_then(Value::as_str) == Some(container)).and_then(|c| c.get("image")).and_then(Value::as_str)
}

/// Points the container named `container` at `image`, touching nothing else: this is the
/// whole change a `from = "live"` deploy makes to the running definition.
pub fn set_image(td: &mut Value, container: &str, image: &str) -> Result<(), TaskDefError> {
    let available = container_names(td);
    let obj = td.as_object_mut().ok_or(TaskDefError::NotAnObject)?;
    let list = obj.get_mut("containerDefinitions").and_then(Value::as_array_mut).ok_or(TaskDefError::NoContainerDefinitions)?;
    let target = list
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .ok_or_else(|| TaskDefError::NoSuchContainer { container: container.to_string(), available })?;
    target.insert("image".to_string(), Value::String(image.to_string()));
    Ok(())
}

/// A task definition reduced to what matters, for comparing two of them.
///
/// Rules, each because two definitions that differ only in it run the same tasks:
/// - read-only members are dropped (ECS sets them; they differ on every revision);
/// - `null` members are dropped (the API treats null as absent);
/// - members equal to the default ECS fills in or documents are dropped, so "said the
///   default" and "said nothing" compare equal (see [`drop_task_defaults`] and
///   [`drop_container_defaults`]);
/// - empty lists and objects are dropped (ECS returns `environment: []`, `mountPoints: []`,
///   `volumes: []`... for members the template never mentioned);
/// - lists that are sets to ECS are sorted (environment, secrets, containers, port
///   mappings, volumes, tags...), lists whose order matters (`command`, `entryPoint`,
///   `environmentFiles`, `dnsServers`, `healthCheck.command`...) are kept as they are;
/// - task-level `cpu` and `memory` are strings of CPU units and MiB, as ECS returns them:
///   numbers, `"1 vCPU"` and `"2 GB"` become `"1024"` and `"2048"`.
pub fn normalize(td: &Value) -> Value {
    let mut td = td.clone();
    strip_read_only(&mut td);
    drop_nulls(&mut td);
    if let Some(obj) = td.as_object_mut() {
        drop_task_defaults(obj);
        let network_mode = obj.get("networkMode").and_then(Value::as_str).unwrap_or("bridge").to_string();
        if let Some(Value::Array(list)) = obj.get_mut("containerDefinitions") {
            for container in list.iter_mut().filter_map(Value::as_object_mut) {
                drop_container_defaults(container, &network_mode);
            }
        }
    }
    drop_empty(&mut td);
    sort_sets(&mut td, "");
    td
}

/// Drops task-level members that equal what ECS assumes when they are absent.
fn drop_task_defaults(obj: &mut Map<String, Value>) {
    // The model: "If no network mode is specified, the default is bridge."
    remove_if(obj, "networkMode", &Value::from("bridge"));
    // The model: "The default value is false." (and ECS now returns it explicitly).
    remove_if(obj, "enableFaultInjection", &Value::Bool(false));
    // ECS returns cpu and memory as strings of units; templates often say 256 or "1 vCPU".
    for (key, unit) in [("cpu", "vcpu"), ("memory", "gb")] {
        if let Some(v) = obj.get_mut(key)
            && let Some(units) = task_size_units(v, unit)
        {
            *v = Value::String(units);
        }
    }
    if let Some(Value::Array(volumes)) = obj.get_mut("volumes") {
        for volume in volumes.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(Value::Object(efs)) = volume.get_mut("efsVolumeConfiguration") {
                // The model: "If this parameter is omitted, the default value of DISABLED is used."
                remove_if(efs, "transitEncryption", &Value::from("DISABLED"));
                if let Some(Value::Object(auth)) = efs.get_mut("authorizationConfig") {
                    remove_if(auth, "iam", &Value::from("DISABLED"));
                }
            }
        }
    }
}

/// `cpu`/`memory` as ECS reports them: an integer count of CPU units or MiB, as a string.
/// `unit` is the suffix worth 1024 (`vcpu` for cpu, `gb` for memory). None when `v` is
/// already in that form or cannot be read (then it is compared as written).
fn task_size_units(v: &Value, unit: &str) -> Option<String> {
    let text = match v {
        Value::Number(n) => return Some(n.to_string()),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        _ => return None,
    };
    let (number, factor) = match text.strip_suffix(unit) {
        Some(rest) => (rest.trim(), 1024.0),
        None => (text.as_str(), 1.0),
    };
    let value: f64 = number.parse().ok()?;
    let units = value * factor;
    (units.fract() == 0.0 && units >= 0.0).then(|| format!("{units:.0}"))
}

/// Drops container members that equal the defaults ECS fills in when registering, or the
/// defaults the model documents for members ECS leaves out.
fn drop_container_defaults(c: &mut Map<String, Value>, network_mode: &str) {
    // ECS registers every container as essential unless told otherwise, and reports it.
    remove_if(c, "essential", &Value::Bool(true));
    // ECS reports `cpu: 0` for a container without a CPU reservation.
    remove_if(c, "cpu", &Value::from(0));
    // The model: "By default, the value is enabled."
    remove_if(c, "versionConsistency", &Value::from("enabled"));
    if let Some(Value::Array(mappings)) = c.get_mut("portMappings") {
        for m in mappings.iter_mut().filter_map(Value::as_object_mut) {
            // The model: "The default is tcp."; ECS fills it in.
            remove_if(m, "protocol", &Value::from("tcp"));
            let host = m.get("hostPort").cloned();
            let same_as_container = host.is_some() && host.as_ref() == m.get("containerPort");
            // Under awsvpc and host networking the host port is the container port; ECS
            // fills it in. Under bridge, 0 asks for a dynamic port, as leaving it out does.
            let implied = match network_mode {
                "awsvpc" | "host" => same_as_container,
                _ => host == Some(Value::from(0)),
            };
            if implied {
                m.remove("hostPort");
            }
        }
    }
    for list in ["mountPoints", "volumesFrom"] {
        if let Some(Value::Array(items)) = c.get_mut(list) {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                // The model: "The default value is false."
                remove_if(item, "readOnly", &Value::Bool(false));
            }
        }
    }
    if let Some(Value::Object(check)) = c.get_mut("healthCheck") {
        // The model: interval "default value is 30 seconds", timeout 5, retries 3; ECS
        // reports them once registered.
        remove_if(check, "interval", &Value::from(30));
        remove_if(check, "timeout", &Value::from(5));
        remove_if(check, "retries", &Value::from(3));
    }
    if let Some(Value::Object(policy)) = c.get_mut("restartPolicy") {
        // The model: "By default, a container must run for 300 seconds before it can be restarted."
        remove_if(policy, "restartAttemptPeriod", &Value::from(300));
    }
}

fn remove_if(obj: &mut Map<String, Value>, key: &str, default: &Value) {
    if obj.get(key) == Some(default) {
        obj.remove(key);
    }
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            obj.retain(|_, v| !v.is_null());
            obj.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Drops empty lists and objects, innermost first, so an object emptied by the rules above
/// goes too. Array elements are kept (an empty element is still an element).
fn drop_empty(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            obj.values_mut().for_each(drop_empty);
            obj.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty),
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Which member keys an element of the list named `list` (the member name holding the
/// list), for lists that are sets to ECS. Lists not named here keep their order, because it
/// matters (`command`, `entryPoint`, `environmentFiles`: later files win, `dnsServers`:
/// resolvers are tried in order, `links`, `dockerSecurityOptions`, `credentialSpecs`...).
fn set_key(list: &str) -> Option<&'static [&'static str]> {
    Some(match list {
        "containerDefinitions" | "environment" | "secrets" | "secretOptions" | "ulimits" | "properties" => &["name"],
        "volumes" => &["name"],
        "tags" => &["key"],
        "portMappings" => &["containerPort", "containerPortRange", "protocol"],
        "dependsOn" => &["containerName"],
        "extraHosts" => &["hostname", "ipAddress"],
        "systemControls" => &["namespace"],
        "resourceRequirements" => &["type"],
        "mountPoints" => &["containerPath", "sourceVolume"],
        "volumesFrom" => &["sourceContainer"],
        "devices" => &["hostPath"],
        "tmpfs" => &["containerPath"],
        "inferenceAccelerators" => &["deviceName"],
        "placementConstraints" => &["type", "expression"],
        _ => return None,
    })
}

/// Lists of scalars that are sets: compatibilities, kernel capabilities, device
/// permissions, exit codes ignored by the restart policy.
fn scalar_set(list: &str) -> bool {
    matches!(list, "requiresCompatibilities" | "add" | "drop" | "permissions" | "ignoredExitCodes")
}

fn sort_sets(v: &mut Value, name: &str) {
    match v {
        Value::Object(obj) => {
            for (k, child) in obj.iter_mut() {
                sort_sets(child, k);
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                sort_sets(item, "");
            }
            if let Some(keys) = set_key(name) {
                items.sort_by(|a, b| compare_by(a, b, keys));
            } else if scalar_set(name) {
                items.sort_by(compare_values);
            }
        }
        _ => {}
    }
}

fn compare_by(a: &Value, b: &Value, keys: &[&str]) -> Ordering {
    keys.iter().map(|k| compare_opt(a.get(k), b.get(k))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

fn compare_opt(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => compare_values(a, b),
    }
}

/// Numbers by value (port 80 before 443), everything else by its JSON text.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// One difference between two task definitions: `old` is None for an addition, `new` is
/// None for a removal.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Change {
    /// Where, e.g. `containerDefinitions[web].environment[LOG_LEVEL]` (list elements named
    /// by their key where the list has one) or `cpu`.
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// What changes from `live` to `desired`, after [`normalize`]-ing both.
pub fn diff(live: &Value, desired: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    diff_values("", "", &normalize(live), &normalize(desired), &mut out);
    out
}

fn diff_values(path: &str, name: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = join(path, k);
                match b.get(k) {
                    Some(vb) => diff_values(&p, k, va, vb, out),
                    None => out.push(Change { path: p, old: Some(va.clone()), new: None }),
                }
            }
            for (k, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(Change { path: join(path, k), old: None, new: Some(vb.clone()) });
            }
        }
        (Value::Array(a), Value::Array(b)) => match (element_keys(name, a), element_keys(name, b)) {
            (Some(ka), Some(kb)) => {
                for (key, va) in ka.iter().zip(a) {
                    let p = format!("{path}[{key}]");
                    match kb.iter().position(|k| k == key) {
                        Some(i) => diff_values(&p, "", va, &b[i], out),
                        None => out.push(Change { path: p, old: Some(va.clone()), new: None }),
                    }
                }
                for (key, vb) in kb.iter().zip(b).filter(|(k, _)| !ka.contains(k)) {
                    out.push(Change { path: format!("{path}[{key}]"), old: None, new: Some(vb.clone()) });
                }
            }
            _ => out.push(Change { path: path.to_string(), old: Some(old.clone()), new: Some(new.clone()) }),
        },
        _ => out.push(Change { path: path.to_string(), old: Some(old.clone()), new: Some(new.clone()) }),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// The names the elements of a keyed list are shown by, or None when the list is not keyed
/// or its keys are not unique (then it is compared as a whole).
fn element_keys(name: &str, items: &[Value]) -> Option<Vec<String>> {
    let keys = set_key(name)?;
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let key = if name == "portMappings" {
            // `8080`, or `8080/udp` when the protocol is not the default tcp.
            let port = item.get("containerPort").or_else(|| item.get("containerPortRange"))?;
            let port = port.as_str().map(str::to_string).unwrap_or_else(|| port.to_string());
            match item.get("protocol").and_then(Value::as_str) {
                Some(protocol) => format!("{port}/{protocol}"),
                None => port,
            }
        } else {
            let v = item.get(keys[0])?;
            v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
        };
        if out.contains(&key) {
            return None;
        }
        out.push(key);
    }
    Some(out)
}

/// The changes as text, one per line: `~ path: old → new`, `+ path: new`, `- path: old`,
/// values as compact JSON.
pub fn render_diff(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let _ = match (&change.old, &change.new) {
            (Some(old), Some(new)) => writeln!(out, "~ {}: {old} → {new}", change.path),
            (None, Some(new)) => writeln!(out, "+ {}: {new}", change.path),
            (Some(old), None) => writeln!(out, "- {}: {old}", change.path),
            (None, None) => Ok(()),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn web() -> Value {
        json!({
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": "registry.example/web:1.0",
                    "portMappings": [{"containerPort": 8080}],
                    "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "command": ["serve", "--port", "8080"]
                },
                {"name": "sidecar", "image": "registry.example/envoy:1", "essential": false}
            ]
        })
    }

    /// `web()` as DescribeTaskDefinition returns it: read-only members and ECS's defaults.
    fn web_as_described() -> Value {
        json!({
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3",
            "family": "web",
            "revision": 3,
            "status": "ACTIVE",
            "networkMode": "awsvpc",
            "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
            "compatibilities": ["EC2", "FARGATE"],
            "requiresCompatibilities": ["FARGATE"],
            "registeredAt": 1700000000.5,
            "registeredBy": "arn:aws:iam::000000000000:root",
            "cpu": "256",
            "memory": "512",
            "volumes": [],
            "placementConstraints": [],
            "enableFaultInjection": false,
            "containerDefinitions": [
                {
                    "name": "sidecar", "image": "registry.example/envoy:1", "essential": false, "cpu": 0,
                    "portMappings": [], "environment": [], "mountPoints": [], "volumesFrom": [], "systemControls": []
                },
                {
                    "name": "web",
                    "image": "registry.example/web:1.0",
                    "cpu": 0,
                    "essential": true,
                    "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                    "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                    "command": ["serve", "--port", "8080"],
                    "mountPoints": [],
                    "volumesFrom": [],
                    "systemControls": []
                }
            ]
        })
    }

    #[test]
    fn strip_read_only_removes_what_ecs_sets_and_keeps_the_rest() {
        let mut td = web_as_described();
        strip_read_only(&mut td);
        for field in READ_ONLY_FIELDS {
            assert!(td.get(field).is_none(), "{field} survived");
        }
        assert_eq!(family(&td), Some("web"));
        assert_eq!(td["cpu"], json!("256"));
        assert_eq!(td["volumes"], json!([]));
    }

    #[test]
    fn fields_describe_returns_but_register_refuses_are_named_in_a_warning() {
        let td = web_as_described();
        assert_eq!(read_only_fields_in(&td).len(), READ_ONLY_FIELDS.iter().filter(|f| td.get(**f).is_some()).count());
        let one = json!({"family": "web", "revision": 3, "containerDefinitions": []});
        assert_eq!(
            read_only_warning(&one).as_deref(),
            Some(
                "warning: revision ignored: DescribeTaskDefinition returns this field but RegisterTaskDefinition does not accept it \
                 (ECS sets it); remove it from the template"
            )
        );
        let two = json!({"family": "web", "taskDefinitionArn": "arn", "status": "ACTIVE"});
        assert!(
            read_only_warning(&two)
                .is_some_and(|w| w.starts_with("warning: taskDefinitionArn, status ignored: DescribeTaskDefinition returns these fields"))
        );
        assert_eq!(read_only_warning(&json!({"family": "web"})), None);
    }

    #[test]
    fn container_names_and_images_are_read_in_order() {
        let td = web();
        assert_eq!(container_names(&td), vec!["web", "sidecar"]);
        assert_eq!(container_image(&td, "sidecar"), Some("registry.example/envoy:1"));
        assert_eq!(container_image(&td, "db"), None);
    }

    #[test]
    fn set_image_changes_only_that_containers_image() {
        let mut td = web_as_described();
        let before = td.clone();
        set_image(&mut td, "web", "registry.example/web:2.0").unwrap();
        assert_eq!(container_image(&td, "web"), Some("registry.example/web:2.0"));
        let mut back = td.clone();
        set_image(&mut back, "web", "registry.example/web:1.0").unwrap();
        assert_eq!(back, before);
    }

    #[test]
    fn set_image_on_a_missing_container_names_the_ones_there_are() {
        let mut td = web();
        let err = set_image(&mut td, "api", "x").unwrap_err();
        assert_eq!(err, TaskDefError::NoSuchContainer { container: "api".into(), available: vec!["web".into(), "sidecar".into()] });
        assert_eq!(err.to_string(), r#"no container named "api" in the task definition (containers: web, sidecar)"#);
        assert_eq!(set_image(&mut json!([]), "web", "x"), Err(TaskDefError::NotAnObject));
        assert_eq!(set_image(&mut json!({"family": "f"}), "web", "x"), Err(TaskDefError::NoContainerDefinitions));
    }

    #[test]
    fn a_described_definition_normalizes_to_its_template() {
        assert_eq!(normalize(&web_as_described()), normalize(&web()));
        assert_eq!(diff(&web_as_described(), &web()), vec![]);
    }

    #[test]
    fn normalize_drops_each_default_kind() {
        let td = json!({
            "family": "f",
            "networkMode": "bridge",
            "enableFaultInjection": false,
            "cpu": 256,
            "memory": "1 GB",
            "pidMode": null,
            "volumes": [{"name": "data", "efsVolumeConfiguration": {
                "fileSystemId": "fs-1", "transitEncryption": "DISABLED", "authorizationConfig": {"iam": "DISABLED"}}}],
            "containerDefinitions": [{
                "name": "c", "image": "i", "essential": true, "cpu": 0, "versionConsistency": "enabled",
                "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
                "environment": [], "environmentFiles": [], "mountPoints": [{"sourceVolume": "data", "containerPath": "/d", "readOnly": false}],
                "volumesFrom": [], "dockerLabels": {}, "logConfiguration": {"logDriver": "awslogs", "options": {}, "secretOptions": []},
                "healthCheck": {"command": ["CMD", "true"], "interval": 30, "timeout": 5, "retries": 3},
                "restartPolicy": {"enabled": true, "restartAttemptPeriod": 300}
            }]
        });
        assert_eq!(
            normalize(&td),
            json!({
                "family": "f",
                "cpu": "256",
                "memory": "1024",
                "volumes": [{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}],
                "containerDefinitions": [{
                    "name": "c", "image": "i",
                    "portMappings": [{"containerPort": 80}],
                    "mountPoints": [{"sourceVolume": "data", "containerPath": "/d"}],
                    "logConfiguration": {"logDriver": "awslogs"},
                    "healthCheck": {"command": ["CMD", "true"]},
                    "restartPolicy": {"enabled": true}
                }]
            })
        );
    }

    #[test]
    fn normalize_keeps_values_that_are_not_defaults() {
        let td = json!({
            "family": "f", "networkMode": "host", "cpu": "0.25 vCPU", "memory": "0.5GB",
            "containerDefinitions": [{
                "name": "c", "image": "i", "essential": false, "cpu": 128,
                "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "udp"}],
                "healthCheck": {"command": ["CMD", "true"], "interval": 10},
                "entryPoint": ["b", "a"], "command": ["z", "y"]
            }]
        });
        let n = normalize(&td);
        assert_eq!(n["networkMode"], json!("host"));
        assert_eq!(n["cpu"], json!("256"));
        assert_eq!(n["memory"], json!("512"));
        let c = &n["containerDefinitions"][0];
        assert_eq!(c["essential"], json!(false));
        assert_eq!(c["cpu"], json!(128));
        assert_eq!(c["portMappings"], json!([{"containerPort": 80, "hostPort": 8080, "protocol": "udp"}]));
        assert_eq!(c["healthCheck"]["interval"], json!(10));
        assert_eq!(c["entryPoint"], json!(["b", "a"]), "entry point order matters");
        assert_eq!(c["command"], json!(["z", "y"]), "command order matters");
    }

    #[test]
    fn host_port_equal_to_container_port_is_a_default_only_outside_bridge() {
        let td = |mode: &str| {
            json!({"family": "f", "networkMode": mode, "containerDefinitions": [
                {"name": "c", "image": "i", "portMappings": [{"containerPort": 80, "hostPort": 80}]}]})
        };
        assert!(normalize(&td("awsvpc"))["containerDefinitions"][0]["portMappings"][0].get("hostPort").is_none());
        assert_eq!(normalize(&td("bridge"))["containerDefinitions"][0]["portMappings"][0]["hostPort"], json!(80));
    }

    #[test]
    fn reordered_sets_are_no_difference() {
        let mut reordered = web();
        reordered["containerDefinitions"].as_array_mut().unwrap().reverse();
        reordered["containerDefinitions"][1]["environment"] = json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]);
        reordered["requiresCompatibilities"] = json!(["FARGATE"]);
        assert_eq!(diff(&web(), &reordered), vec![]);
    }

    #[test]
    fn reordered_command_is_a_difference() {
        let mut changed = web();
        changed["containerDefinitions"][0]["command"] = json!(["--port", "8080", "serve"]);
        let changes = diff(&web(), &changed);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "containerDefinitions[web].command");
    }

    #[test]
    fn a_changed_image_is_exactly_one_change() {
        let mut changed = web();
        set_image(&mut changed, "web", "registry.example/web:2.0").unwrap();
        assert_eq!(
            diff(&web_as_described(), &changed),
            vec![Change {
                path: "containerDefinitions[web].image".into(),
                old: Some(json!("registry.example/web:1.0")),
                new: Some(json!("registry.example/web:2.0")),
            }]
        );
    }

    #[test]
    fn an_added_environment_variable_is_one_change_at_its_name() {
        let mut changed = web();
        changed["containerDefinitions"][0]["environment"].as_array_mut().unwrap().push(json!({"name": "LOG_LEVEL", "value": "debug"}));
        assert_eq!(
            diff(&web(), &changed),
            vec![Change {
                path: "containerDefinitions[web].environment[LOG_LEVEL]".into(),
                old: None,
                new: Some(json!({"name": "LOG_LEVEL", "value": "debug"})),
            }]
        );
    }

    #[test]
    fn changes_render_one_per_line() {
        let mut changed = web();
        changed["cpu"] = json!("512");
        changed["containerDefinitions"][0]["environment"] = json!([{"name": "A", "value": "9"}, {"name": "C", "value": "3"}]);
        changed["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 8080}, {"containerPort": 53, "protocol": "udp"}]);
        let text = render_diff(&diff(&web(), &changed));
        assert_eq!(
            text,
            concat!(
                "~ cpu: \"256\" → \"512\"\n",
                "+ containerDefinitions[web].portMappings[53/udp]: {\"containerPort\":53,\"protocol\":\"udp\"}\n",
                "~ containerDefinitions[web].environment[A].value: \"1\" → \"9\"\n",
                "- containerDefinitions[web].environment[B]: {\"name\":\"B\",\"value\":\"2\"}\n",
                "+ containerDefinitions[web].environment[C]: {\"name\":\"C\",\"value\":\"3\"}\n",
            )
        );
    }
}
