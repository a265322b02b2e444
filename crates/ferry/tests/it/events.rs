//! `ferry events` against ferry local: the service's real ECS events, oldest first, filtered
//! by --since and --limit, and --follow printing new ones until it is stopped.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_shows_the_services_ecs_events_oldest_first() {
    let world = World::new("", &["bigweb"]).await;
    world.create_service("bigweb", 1, "1.0.0", false).await;
    let out = world.ferry(&["events", "test", "bigweb"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let steady = stdout.lines().position(|l| l.ends_with("(service bigweb) has reached a steady state."));
    let started = stdout.lines().position(|l| l.contains("(service bigweb) has started 1 tasks"));
    assert!(matches!((started, steady), (Some(a), Some(b)) if a < b), "{stdout}");
    // Each line starts with its time.
    assert!(stdout.lines().all(|l| l.starts_with("20") && l.contains("Z  (service bigweb)")), "{stdout}");

    let out = world.ferry(&["events", "test", "bigweb", "--output", "json", "--limit", "1"]).await;
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 2, "{}", text(&out));
    assert_eq!(lines[0]["type"], "event");
    assert_eq!(lines[0]["message"], "(service bigweb) has reached a steady state.");
    assert_eq!((lines[1]["type"].as_str(), lines[1]["count"].as_u64()), (Some("result"), Some(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_leaves_out_older_events() {
    let world = World::new("", &["bigweb"]).await;
    world.create_service("bigweb", 1, "1.0.0", false).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = world.ferry(&["events", "test", "bigweb", "--since", "2s", "--output", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.iter().filter(|l| l["type"] == "event").count(), 0, "{}", text(&out));
    let out = world.ferry(&["events", "test", "bigweb", "--since", "10m", "--output", "json"]).await;
    assert!(json_lines(&out.stdout).iter().any(|l| l["message"] == "(service bigweb) has reached a steady state."), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_prints_events_that_happen_after_it_started() {
    let world = World::new("", &["bigweb"]).await;
    world.create_service("bigweb", 1, "1.0.0", false).await;
    let mut child = std::process::Command::new(ferry_bin())
        .args(["events", "test", "bigweb", "--follow", "--since", "1s", "--output", "json"])
        .arg("--config")
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.clients.ecs.update_service().cluster(CLUSTER).service("bigweb").desired_count(2).send().await.unwrap();
    world.wait_running("bigweb", 2).await;
    // Two polls after the service settled, then stop it as Ctrl-C would.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stdout = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    assert!(still_running, "--follow ended by itself");
    let messages: Vec<String> = json_lines(&stdout).iter().filter_map(|l| l["message"].as_str().map(str::to_string)).collect();
    assert!(messages.iter().any(|m| m.starts_with("(service bigweb) has started 1 tasks")), "{messages:?}");
    assert!(messages.iter().any(|m| m == "(service bigweb) has reached a steady state."), "{messages:?}");
}
