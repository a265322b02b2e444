//! `ferry local up --detach | status | logs | down` as a user runs them.

use std::process::{Command, Output};

/// The binary with `--state-dir`, and ferry's own records kept next to that directory (never
/// in the real HOME).
fn ferry(args: &[&str], state_dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .arg("--state-dir")
        .arg(state_dir)
        .env("XDG_STATE_HOME", state_dir.join("xdg-state"))
        .output()
        .unwrap()
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
    let out =
        Command::new(env!("CARGO_BIN_EXE_ferry")).arg("sample-app").env("SAMPLE_FAIL_AT_START", "1").env("PORT", "0").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SAMPLE_FAIL_AT_START"));
}

/// The README's first command: it must keep working as written.
#[test]
fn the_demo_deploys_two_versions_and_ferry_rolls_back_the_broken_one() {
    let home = tempfile::tempdir().unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_ferry")).arg("demo").env("NO_COLOR", "1").env("XDG_STATE_HOME", home.path()).output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    // Three real deploys: two succeed, the broken one is rolled back by ferry (exit code 5).
    let results: Vec<&str> =
        all.lines().filter(|l| l.starts_with("web ") && (l.contains(" deployed ") || l.contains(" failed, rolled back "))).collect();
    assert_eq!(results.len(), 3, "{all}");
    assert!(results[0].contains("bootstrap") && results[0].contains("1.0.0"), "{all}");
    assert!(results[2].contains("failed, rolled back"), "{all}");
    assert!(all.contains("Essential container in task exited (web exited with code 1)"), "{all}");
    assert!(all.contains("exit code 5"), "{all}");
    let last_answers: Vec<&str> = all.lines().filter(|l| l.contains("answers version")).rev().take(2).collect();
    assert!(last_answers.len() == 2 && last_answers.iter().all(|l| l.ends_with("answers version 1.1.0")), "{all}");
    // status reads the running version from the revision's tags.
    assert!(all.lines().any(|l| l.starts_with("demo") && l.contains(" web ") && l.contains("1.1.0") && l.contains("2/2")), "{all}");
}
