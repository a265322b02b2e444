//! Task definitions through the SDK and back, against ferry local: nothing a template says
//! may be lost between the JSON, the SDK types, the wire and DescribeTaskDefinition.
//!
//! The kitchen-sink fixture uses every member of every shape the ECS model reaches from
//! RegisterTaskDefinitionRequest, and a test walks the model to keep it that way: when a
//! model update adds a member, `the_kitchen_sink_uses_every_member_of_the_model` fails
//! until the fixture (and so the converters, through the round trip) cover it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use ferry_aws::platform::AwsEcs;
use ferry_aws::taskdef::{register, register_input, to_json};
use ferry_aws::{Clients, Target};
use ferry_core::platform::Ecs;
use ferry_core::taskdef::{READ_ONLY_FIELDS, diff, render_diff, set_image, strip_read_only};
use ferry_local::{LocalServer, Options};
use serde_json::{Map, Value, json};

const KITCHEN_SINK: &str = include_str!("../fixtures/kitchen_sink_taskdef.json");
const ECS_MODEL: &[u8] = include_bytes!("../../../ferry-local/models/ecs.json.gz");

/// Members of the ECS model that the aws-sdk-ecs version ferry is built with does not
/// have. `register_input` refuses the first (see its unit tests); the second is read-only.
/// Remove an entry when the SDK catches up.
const NOT_IN_SDK: &[(&str, &str)] = &[("Volume", "s3filesVolumeConfiguration"), ("TaskDefinition", "deleteRequestedAt")];

fn kitchen_sink() -> Value {
    serde_json::from_str(KITCHEN_SINK).unwrap()
}

fn model_shapes() -> Map<String, Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(ECS_MODEL).read_to_string(&mut text).unwrap();
    let model: Value = serde_json::from_str(&text).unwrap();
    model["shapes"].as_object().unwrap().clone()
}

/// Which members of which structure shapes `value` uses, read as `shape`; problems
/// collects members the model does not have and enum values it does not allow.
fn members_used(
    shapes: &Map<String, Value>,
    shape: &str,
    value: &Value,
    path: &str,
    used: &mut BTreeMap<String, BTreeSet<String>>,
    problems: &mut Vec<String>,
) {
    let s = &shapes[shape];
    match s["type"].as_str().unwrap() {
        "structure" => {
            let entry = used.entry(shape.to_string()).or_default();
            let mut children = Vec::new();
            for (key, v) in value.as_object().unwrap() {
                match s["members"].get(key) {
                    Some(member) => {
                        entry.insert(key.clone());
                        children.push((member["shape"].as_str().unwrap().to_string(), v, format!("{path}.{key}")));
                    }
                    None => problems.push(format!("{path}.{key}: not a member of {shape}")),
                }
            }
            for (child, v, p) in children {
                members_used(shapes, &child, v, &p, used, problems);
            }
        }
        "list" => {
            let member = s["member"]["shape"].as_str().unwrap();
            for (i, v) in value.as_array().unwrap().iter().enumerate() {
                members_used(shapes, member, v, &format!("{path}[{i}]"), used, problems);
            }
        }
        "map" => {
            let member = s["value"]["shape"].as_str().unwrap();
            for (k, v) in value.as_object().unwrap() {
                members_used(shapes, member, v, &format!("{path}.{k}"), used, problems);
            }
        }
        _ => {
            if let Some(allowed) = s.get("enum").and_then(Value::as_array)
                && !allowed.contains(value)
            {
                problems.push(format!("{path}: {value} is not a value of {shape}"));
            }
        }
    }
}

/// The structure shapes reachable from `shape`, with their member names.
fn structures_from(shapes: &Map<String, Value>, shape: &str, out: &mut BTreeMap<String, Vec<String>>) {
    let s = &shapes[shape];
    match s["type"].as_str().unwrap() {
        "structure" if !out.contains_key(shape) => {
            let members = s["members"].as_object().unwrap();
            out.insert(shape.to_string(), members.keys().cloned().collect());
            for member in members.values() {
                structures_from(shapes, member["shape"].as_str().unwrap(), out);
            }
        }
        "list" => structures_from(shapes, s["member"]["shape"].as_str().unwrap(), out),
        "map" => structures_from(shapes, s["value"]["shape"].as_str().unwrap(), out),
        _ => {}
    }
}

/// Members of `shape` (and the structures under it) that `value` does not use, as
/// `Shape.member`, leaving out NOT_IN_SDK and the structures only those lead to.
fn members_missing(shape: &str, value: &Value, problems: &mut Vec<String>) -> Vec<String> {
    let shapes = model_shapes();
    let mut used = BTreeMap::new();
    members_used(&shapes, shape, value, "", &mut used, problems);
    let mut structures = BTreeMap::new();
    structures_from(&shapes, shape, &mut structures);
    let mut missing = Vec::new();
    for (name, members) in &structures {
        let Some(seen) = used.get(name) else {
            // A structure only a NOT_IN_SDK member leads to is reported through that member.
            if !NOT_IN_SDK.iter().any(|(s, m)| shapes[*s]["members"][*m]["shape"] == json!(name)) {
                missing.push(format!("{name} (not used at all)"));
            }
            continue;
        };
        for member in members {
            if !seen.contains(member) && !NOT_IN_SDK.contains(&(name.as_str(), member.as_str())) {
                missing.push(format!("{name}.{member}"));
            }
        }
    }
    missing
}

/// Members of the model (botocore 1.44.8) ferry's task definition converter does not carry
/// yet, as `members_missing` names them: GPU sharing (NVIDIA MPS) and trusted execution.
const NOT_CARRIED_YET: [&str; 5] = [
    "NvidiaMpsAllocation (not used at all)",
    "RegisterTaskDefinitionRequest.trustedExecutionConfiguration",
    "ResourceRequirement.sharingStrategy",
    "SharingStrategy (not used at all)",
    "TrustedExecutionConfiguration (not used at all)",
];

#[test]
fn the_kitchen_sink_uses_every_member_of_the_model() {
    let mut problems = Vec::new();
    let missing = members_missing("RegisterTaskDefinitionRequest", &kitchen_sink(), &mut problems);
    assert_eq!(problems, Vec::<String>::new(), "the fixture does not follow the model");
    // botocore 1.44.8 added these; ferry's converter does not carry them yet (aws-sdk-ecs 1.157
    // has no trustedExecutionConfiguration at all), and refuses them in a template by name.
    assert_eq!(missing, NOT_CARRIED_YET, "members of the model the kitchen sink does not use");
}

/// Every difference between `expected` and the corresponding part of `actual`, which may
/// have more object members (the defaults ECS adds) but must have everything `expected`
/// has, identical, lists in the same order.
fn not_contained(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match a.get(k) {
                    Some(av) => not_contained(&p, v, av, out),
                    None => out.push(format!("{p}: missing, expected {v}")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                not_contained(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        _ if expected != actual => out.push(format!("{path}: expected {expected}, got {actual}")),
        _ => {}
    }
}

struct Local {
    _server: LocalServer,
    clients: Clients,
    _dir: tempfile::TempDir,
}

async fn start() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(Options { port: 0, state_dir: dir.path().to_path_buf(), ..Default::default() }).await.unwrap();
    let clients = Clients::new(&Target::local(&server.endpoint(), "000000000000", "us-east-1")).await;
    Local { _server: server, clients, _dir: dir }
}

/// Registers `td` the way ferry does and returns the new revision's ARN.
async fn register_json(local: &Local, td: &Value) -> String {
    let input = register_input(td).unwrap();
    let out = register(&local.clients.ecs, input).await.unwrap();
    out.task_definition.unwrap().task_definition_arn.unwrap()
}

#[tokio::test]
async fn the_kitchen_sink_comes_back_from_describe_with_every_member() {
    let local = start().await;
    let fixture = kitchen_sink();
    let arn = register_json(&local, &fixture).await;

    let described = describe(&local.clients.ecs, &arn).await.unwrap().unwrap();

    // to_json renders every member of the described definition, read-only ones included;
    // not deregisteredAt (the revision is active), and ECS reports no required attributes
    // for this definition (to_json's unit tests cover those).
    let mut definition = described.clone();
    assert_eq!(definition.as_object_mut().unwrap().remove("tags"), fixture.get("tags").cloned());
    let mut problems = Vec::new();
    let missing = members_missing("TaskDefinition", &definition, &mut problems);
    assert_eq!(problems, Vec::<String>::new(), "to_json wrote members the model does not have");
    let mut expected = vec!["Attribute (not used at all)", "TaskDefinition.deregisteredAt"];
    expected.extend(NOT_CARRIED_YET.iter().map(|m| m.replace("RegisterTaskDefinitionRequest.", "TaskDefinition.")).map(|m| &*m.leak()));
    expected.sort();
    assert_eq!(missing, expected, "members to_json left out");
    for field in READ_ONLY_FIELDS.iter().filter(|f| !["deregisteredAt", "deleteRequestedAt"].contains(f)) {
        assert!(described.get(field).is_some(), "{field} missing from the described JSON");
    }

    // Everything the fixture said comes back, identical; all else is ECS's defaults.
    let mut back = described.clone();
    strip_read_only(&mut back);
    let mut lost = Vec::new();
    not_contained("", &fixture, &back, &mut lost);
    assert_eq!(lost, Vec::<String>::new(), "members lost or changed on the way through the SDK");
    let changes = diff(&fixture, &back);
    assert!(changes.is_empty(), "the described definition differs from the fixture:\n{}", render_diff(&changes));

    // And the described JSON, read-only members and all, can be registered again.
    register_input(&described).unwrap();
}

#[tokio::test]
async fn a_minimal_definition_round_trips() {
    let local = start().await;
    let minimal = json!({"family": "minimal", "containerDefinitions": [{"name": "app", "image": "app:1", "memory": 64}]});
    let out = register(&local.clients.ecs, register_input(&minimal).unwrap()).await.unwrap();
    let registered = out.task_definition.unwrap();
    let mut back = to_json(&registered, out.tags.as_deref().unwrap_or_default());

    assert_eq!(back["family"], json!("minimal"));
    assert_eq!(back["revision"], json!(1));
    assert_eq!(back["status"], json!("ACTIVE"));
    assert!(back.get("tags").is_none(), "no tags were given");
    strip_read_only(&mut back);
    let mut lost = Vec::new();
    not_contained("", &minimal, &back, &mut lost);
    assert_eq!(lost, Vec::<String>::new());
    assert_eq!(diff(&minimal, &back), vec![], "only ECS defaults were added");

    // What RegisterTaskDefinition answered is what DescribeTaskDefinition says.
    let described = describe(&local.clients.ecs, "minimal:1").await.unwrap().unwrap();
    assert_eq!(described, to_json(&registered, &[]));
}

#[tokio::test]
async fn a_live_definition_with_a_new_image_differs_only_in_the_image() {
    let local = start().await;
    register_json(&local, &kitchen_sink()).await;

    // `from = "live"`: the running revision as described, read-only members and all, with
    // one image swapped.
    let live = describe(&local.clients.ecs, "kitchen-sink").await.unwrap().unwrap();
    let mut next = live.clone();
    set_image(&mut next, "web", "registry.example.com/shop/web:1.5.0").unwrap();
    let arn = register_json(&local, &next).await;
    assert!(arn.ends_with("task-definition/kitchen-sink:2"), "{arn}");

    let registered = describe(&local.clients.ecs, &arn).await.unwrap().unwrap();
    let changes = diff(&live, &registered);
    assert_eq!(
        render_diff(&changes),
        "~ containerDefinitions[web].image: \"registry.example.com/shop/web:1.4.2\" → \"registry.example.com/shop/web:1.5.0\"\n"
    );
}

/// The described definition as JSON (tags included), through the adapter ferry deploys with.
async fn describe(client: &ferry_aws::ecs::Client, task_definition: &str) -> Result<Option<Value>, ferry_core::platform::PlatformError> {
    AwsEcs::new(client.clone()).describe_task_definition(task_definition).await.map(|td| Some(td.definition))
}
