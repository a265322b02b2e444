//! A gated environment is not bypassed silently (issue 10): `ferry deploy` to an environment
//! with `promote_from`, `soak` or `approval` of a version that has not passed those gates is
//! refused with nothing changed, naming the gate and the `ferry promote` command that would
//! ship it; `--skip-gates --reason TEXT` (by an approver, when the environment lists any) lets
//! it through, recorded in the ledger, on the revision, and shown by status and history.

use serde_json::Value;

use crate::common::*;
use crate::promote::two_environments;

/// What stage runs (its web service's task definition) and how many deployments the ledger
/// holds for stage: what a refused deploy must leave as it was.
async fn stage_state(world: &World) -> (String, usize) {
    let td = world.service_in("stage", "web").await.task_definition().unwrap().to_string();
    let recorded = world.ledger_records().iter().filter(|r| r.environment == "stage").count();
    (td, recorded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_never_ran_in_promote_from_is_refused_and_one_that_ran_healthy_there_goes() {
    let world = two_environments("promote_from = \"dev\"").await;
    let before = stage_state(&world).await;
    let refused = world.ferry(&["deploy", "stage", "web=1.1.0"]).await;
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused));
    let said = text(&refused);
    assert!(said.contains("stage takes what ran healthy in dev (promote_from), and web 1.1.0 (sha256:"), "{said}");
    assert!(said.contains("deploy it to dev, then `ferry promote dev stage --services web`"), "{said}");
    assert!(said.contains("--skip-gates --reason TEXT"), "{said}");
    assert_eq!(stage_state(&world).await, before, "nothing changed");
    // plan (and deploy --dry-run) say the same.
    let planned = world.ferry(&["plan", "stage", "web=1.1.0"]).await;
    assert_eq!(planned.status.code(), Some(4), "{}", text(&planned));

    assert!(world.ferry(&["deploy", "dev", "web=1.1.0"]).await.status.success());
    let deployed = world.ferry(&["deploy", "stage", "web=1.1.0"]).await;
    assert!(deployed.status.success(), "ran healthy in dev: {}", text(&deployed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_and_approval_refuse_a_direct_deploy_naming_the_promotion_that_would_ship_it() {
    let world = two_environments("promote_from = \"dev\"\nsoak = \"1h\"").await;
    assert!(world.ferry(&["deploy", "dev", "web=1.1.0"]).await.status.success());
    let before = stage_state(&world).await;
    let refused = world.ferry(&["deploy", "stage", "web=1.1.0"]).await;
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused));
    assert!(
        text(&refused).contains("has run healthy in dev for ") && text(&refused).contains("of stage's soak of 1h"),
        "{}",
        text(&refused)
    );
    assert_eq!(stage_state(&world).await, before);

    let world = two_environments("promote_from = \"dev\"\napproval = true").await;
    assert!(world.ferry(&["deploy", "dev", "web=1.1.0"]).await.status.success());
    let refused = world.ferry(&["deploy", "stage", "web=1.1.0"]).await;
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused));
    assert!(
        text(&refused).contains(
            "stage requires an approval, which a deploy cannot give: ship web 1.1.0 with `ferry promote dev stage --services web --approve`"
        ),
        "{}",
        text(&refused)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_the_gates_takes_a_reason_and_an_approver_and_is_recorded_everywhere_it_shows() {
    let world = two_environments("promote_from = \"dev\"\napproval = true\napprovers = [\"alice\"]").await;
    let before = stage_state(&world).await;
    // Not an approver: refused, nothing changed. No reason, or an empty one: bad input.
    let refused = world.ferry(&["deploy", "stage", "web=1.1.0", "--skip-gates", "--reason", "INC-9"]).await;
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused));
    assert!(text(&refused).contains("tester may not skip stage's gates: only its approvers may (alice)"), "{}", text(&refused));
    let no_reason = world.ferry(&["deploy", "stage", "web=1.1.0", "--skip-gates"]).await;
    assert_eq!(no_reason.status.code(), Some(2), "{}", text(&no_reason));
    let empty = world.ferry_as("alice", &["deploy", "stage", "web=1.1.0", "--skip-gates", "--reason", " "]).await;
    assert_eq!(empty.status.code(), Some(2), "{}", text(&empty));
    assert_eq!(stage_state(&world).await, before);

    let deployed = world.ferry_as("alice", &["deploy", "stage", "web=1.1.0", "--skip-gates", "--reason", "INC-9 hotfix"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
    // The ledger, the revision's tag, status and history all say who skipped and why.
    let record = world.ledger_records().into_iter().find(|r| r.environment == "stage").expect("recorded");
    assert_eq!(record.gates_skipped.as_deref(), Some("alice: INC-9 hotfix"));
    let td = world.service_in("stage", "web").await.task_definition().unwrap().to_string();
    let described = world
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(td)
        .include(ferry_aws::ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let tag = described.tags().iter().find(|t| t.key() == Some("ferry:gates-skipped")).and_then(|t| t.value()).map(str::to_string);
    assert_eq!(tag.as_deref(), Some("alice: INC-9 hotfix"));
    let status = result_of(&world.ferry(&["status", "stage", "--output", "json"]).await);
    let row = status["services"].as_array().unwrap().iter().find(|r| r["service"] == "web").cloned().unwrap_or(Value::Null);
    assert_eq!(row["gates_skipped"], "alice: INC-9 hotfix", "{status}");
    let history = text(&world.ferry(&["history", "stage"]).await);
    assert!(history.contains("gates skipped by alice: INC-9 hotfix"), "{history}");
    // A gate-less environment has nothing to skip.
    let pointless = world.ferry(&["deploy", "dev", "web=1.1.0", "--skip-gates", "--reason", "x"]).await;
    assert_eq!(pointless.status.code(), Some(2), "{}", text(&pointless));
}
