//! Every command's exit code keeps the README's promise (issue 8, "Exit codes and output
//! keep their promises"): a status that could not read anything is not a good status, a
//! typo in an environment is invalid input, and ledger faults have their own code.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_with_every_row_in_error_exits_3_not_0() {
    // Two services configured, neither exists in the cluster.
    let world = World::new("", &["web", "worker"]).await;
    let output = world.ferry(&["status"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("not found in cluster test"), "the table is still printed: {out}");
    // Where it looked, as every "not found" says (issue 8, item 14).
    let endpoint = world.server.endpoint();
    assert!(out.contains(&format!("(region us-east-1, account 000000000000, endpoint {endpoint})")), "{out}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("2 of 2 services could not be read"), "{}", text(&output));

    let json = world.ferry(&["status", "--output", "json"]).await;
    assert_eq!(json.status.code(), Some(3), "{}", text(&json));
    let result = result_of(&json);
    assert_eq!(result["services"].as_array().map(Vec::len), Some(2), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_failed_tasks_of_the_current_deployment() {
    // A version that crashes after it turned healthy: with no bake, the deploy says
    // "deployed", and status must not say a clean 1/1 while its tasks keep failing.
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    let deployed = world.ferry(&["deploy", "test", "web=2.0.0-flaky"]).await;
    assert_eq!(deployed.status.code(), Some(0), "{}", text(&deployed));
    // The first task exits 6 s after it started; ECS counts it against the deployment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let output = world.ferry(&["status", "--output", "json"]).await;
        let failed = result_of(&output)["services"][0]["failed_tasks"].as_i64().unwrap_or_default();
        if failed > 0 {
            let table = world.ferry(&["status"]).await;
            let out = String::from_utf8_lossy(&table.stdout).to_string();
            assert!(out.contains("failed)"), "the table says tasks failed: {out}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "status never showed the failed task: {}", text(&output));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_an_unknown_environment_exits_2_naming_the_known_ones() {
    let world = World::new("", &["web"]).await;
    let output = world.ferry(&["history", "tset"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("no environment \"tset\"") && err.contains("known: test"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_that_cannot_be_read_exits_8_not_3() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    std::fs::write(world.ledger(), b"this is not an SQLite database, just some bytes that are long enough").unwrap();

    let history = world.ferry(&["history"]).await;
    assert_eq!(history.status.code(), Some(8), "{}", text(&history));
    assert!(String::from_utf8_lossy(&history.stderr).contains("ledger"), "{}", text(&history));

    // A deploy that cannot be journaled changes nothing.
    let before = world.service("web").await.task_definition().unwrap().to_string();
    let deploy = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(deploy.status.code(), Some(8), "{}", text(&deploy));
    assert_eq!(world.service("web").await.task_definition(), Some(before.as_str()));
    assert_eq!(world.revisions("web").await.len(), 1, "no revision registered");
}
