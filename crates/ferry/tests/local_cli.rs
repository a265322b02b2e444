//! `ferry local up --detach | status | logs | down` as a user runs them.

use std::process::{Command, Output};

fn ferry(args: &[&str], state_dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry")).args(args).arg("--state-dir").arg(state_dir).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn up_detached_then_status_logs_and_down() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();

    let status = ferry(&["local", "status"], state);
    assert_eq!(status.status.code(), Some(3), "not running yet: {}", text(&status));
    assert!(text(&status).contains("not running"));

    let up = ferry(&["local", "up", "--detach", "--port", "0"], state);
    assert!(up.status.success(), "{}", text(&up));
    let out = text(&up);
    let endpoint = out.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).expect("endpoint printed").to_string();

    let again = ferry(&["local", "up", "--detach", "--port", "0"], state);
    assert_eq!(again.status.code(), Some(2), "a second up is refused: {}", text(&again));
    assert!(text(&again).contains("already runs"));

    let status = ferry(&["local", "status", "--json"], state);
    assert!(status.status.success(), "{}", text(&status));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["running"], true);
    assert_eq!(json["endpoint"], endpoint.as_str());

    let logs = ferry(&["local", "logs", "0123456789abcdef0123456789abcdef"], state);
    assert_eq!(logs.status.code(), Some(2));
    assert!(text(&logs).contains("no logs for task 0123456789abcdef0123456789abcdef"));

    let down = ferry(&["local", "down"], state);
    assert!(down.status.success(), "{}", text(&down));
    assert!(text(&down).contains("stopped"));
    assert!(state.join("state.json").exists(), "state saved on the way down");
    let status = ferry(&["local", "status"], state);
    assert_eq!(status.status.code(), Some(3));
}

#[test]
fn the_sample_app_fails_at_start_when_told_to() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("sample-app")
        .env("SAMPLE_FAIL_AT_START", "1")
        .env("PORT", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SAMPLE_FAIL_AT_START"));
}

/// The README's first command: it must keep working as written.
#[test]
fn the_demo_rolls_forward_and_the_broken_version_is_rolled_back() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry")).arg("demo").output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let outcomes: Vec<&str> = all.lines().filter_map(|l| l.split("service deployment ").nth(1)).collect();
    assert_eq!(outcomes, vec!["SUCCESSFUL", "SUCCESSFUL", "ROLLBACK_SUCCESSFUL"], "{all}");
    assert!(all.contains("why: Essential container in task exited (exit code 1)"), "{all}");
    let last_answers: Vec<&str> = all.lines().rev().filter(|l| l.contains("answers version")).take(2).collect();
    assert!(last_answers.iter().all(|l| l.ends_with("answers version 1.1.0")), "{all}");
}
