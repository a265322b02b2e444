//! The ledger's faults through the binary (issue 8, item 11): a deploy that cannot be
//! journaled changes nothing and exits 8 (ferry local's call counter shows no mutating
//! call); a damaged ledger is refused before anything runs; an emptied or deleted ledger is
//! said out loud; a deploy whose ledger is deleted under it stops at its lock renewal.

use std::time::{Duration, Instant};

use crate::common::*;

/// Makes every write of a deployment's events fail, as a full disk would, while the ledger
/// still opens and its locks still work.
fn break_event_writes(world: &World) {
    drop(ferry_store::Ledger::open(&world.ledger()).unwrap());
    let raw = rusqlite::Connection::open(world.ledger()).unwrap();
    raw.execute_batch("CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_cannot_be_journaled_changes_nothing_and_exits_8() {
    let world = World::new("", &["web"]).await;
    let bootstrap = world.create_service("web", 1, "1.0.0", false).await;
    world.wait_running("web", 1).await;
    break_event_writes(&world);
    world.reset_calls().await;

    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(8), "{}", text(&output));
    let out = text(&output);
    assert!(out.contains("cannot journal the deploy in the ledger, so nothing was changed"), "{out}");
    assert!(out.contains("disk full"), "{out}");

    let calls = world.calls().await;
    assert_eq!(mutations(&calls), 0, "nothing registered or updated: {calls:?}");
    assert_eq!(world.service("web").await.task_definition(), Some(bootstrap.as_str()));
    // The row and its first event are one write: no row without its event.
    assert!(world.ledger_records().is_empty(), "{:?}", world.ledger_records());
    // The lock was not left behind to block the next deploy.
    let ledger = ferry_store::Ledger::open(&world.ledger()).unwrap();
    assert_eq!(ledger.lock("test", "web").unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_missing_a_table_refuses_the_deploy_before_any_change_and_exits_8() {
    let world = World::new("", &["web"]).await;
    let bootstrap = world.create_service("web", 1, "1.0.0", false).await;
    drop(ferry_store::Ledger::open(&world.ledger()).unwrap());
    rusqlite::Connection::open(world.ledger()).unwrap().execute_batch("DROP TABLE events").unwrap();
    world.reset_calls().await;

    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(8), "{}", text(&output));
    let out = text(&output);
    assert!(out.contains("table events missing"), "{out}");
    assert!(out.contains(&world.ledger().display().to_string()), "{out}");
    assert_eq!(mutations(&world.calls().await), 0);
    assert_eq!(world.service("web").await.task_definition(), Some(bootstrap.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_ledger_refuses_the_deploy_before_any_change_and_exits_8() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    {
        let ledger = ferry_store::Ledger::open(&world.ledger()).unwrap();
        for i in 0..300 {
            let record = ferry_store::DeploymentRecord {
                id: format!("fd-{i}"),
                run_id: "run-1".into(),
                kind: "deploy".into(),
                environment: "test".into(),
                service: "web".into(),
                cluster: CLUSTER.into(),
                ecs_service: "web".into(),
                from_version: None,
                from_digest: None,
                from_task_definition: None,
                to_version: Some("1.0.0".into()),
                to_digest: None,
                to_task_definition: None,
                image: None,
                ecs_deployment_id: None,
                who: "tester".into(),
                commit: None,
                commit_message: None,
                started_at: 1_000 + i,
                finished_at: Some(2_000 + i),
                outcome: ferry_store::Outcome::Succeeded,
                reason: Some("a reason long enough to fill the pages of this ledger".repeat(2)),
                strategy: None,
                cause: None,
                rollback_deployment_id: None,
                gates_skipped: None,
            };
            ledger.insert_deployment(&record).unwrap();
        }
    }
    // Garbage over a page in the middle: SQLite reads it only when it gets there.
    let len = std::fs::metadata(world.ledger()).unwrap().len();
    let mut bytes = std::fs::read(world.ledger()).unwrap();
    let middle = usize::try_from(len / 4096 / 2 * 4096).unwrap();
    bytes[middle..middle + 4096].fill(0xA5);
    std::fs::write(world.ledger(), bytes).unwrap();
    world.reset_calls().await;

    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(8), "{}", text(&output));
    assert!(text(&output).contains("not a readable ferry ledger"), "{}", text(&output));
    assert_eq!(mutations(&world.calls().await), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_ledger_is_said_out_loud_not_taken_as_new() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    let deploy = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert!(deploy.status.success(), "{}", text(&deploy));
    // Truncated in place (a bad copy, a full disk, a careless `>`).
    std::fs::OpenOptions::new().write(true).truncate(true).open(world.ledger()).unwrap();

    let history = world.ferry(&["history"]).await;
    let err = String::from_utf8_lossy(&history.stderr).to_string();
    assert!(err.contains("warning: the ledger"), "{}", text(&history));
    assert!(err.contains("holds 0 deployments and 0 releases, but held 1 deployment"), "{}", text(&history));
    assert!(err.contains("check `ferry status` before deploying"), "{}", text(&history));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_length_ledger_whose_log_holds_history_is_refused_with_exit_8() {
    let world = World::new("", &["web"]).await;
    // Another ferry process, still running: its rows are in the write-ahead log.
    let running = ferry_store::Ledger::open(&world.ledger()).unwrap();
    running
        .acquire_lock(
            "test",
            "web",
            &ferry_store::LockHolder { deployment_id: "fd-1".into(), who: "alice".into(), host: "ci".into(), pid: 1 },
            60_000,
            0,
        )
        .unwrap();
    std::fs::OpenOptions::new().write(true).truncate(true).open(world.ledger()).unwrap();

    let history = world.ferry(&["history"]).await;
    assert_eq!(history.status.code(), Some(8), "{}", text(&history));
    assert!(text(&history).contains("write-ahead log"), "{}", text(&history));
    drop(running);
}

/// The deploy bakes long enough to renew its lock (every 30 s) while the ledger is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_ledger_mid_deploy_stops_the_lock_holder_with_exit_8() {
    let world = World::new("bake = \"50s\"", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    world.wait_running("web", 1).await;
    let ledger = world.ledger();
    let deploy = {
        let mut command = std::process::Command::new(ferry_bin());
        command
            .args(["deploy", "test", "web=1.1.0", "--config"])
            .arg(world.config())
            .arg("--ledger")
            .arg(&ledger)
            .env("FERRY_USER", "tester")
            .env("NO_COLOR", "1")
            .current_dir(world.dir.path());
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    // Wait until the deploy holds its lock, then delete the ledger under it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the deploy never took its lock");
        if let Ok(l) = ferry_store::Ledger::open(&ledger)
            && l.lock("test", "web").ok().flatten().is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started = Instant::now();
    std::fs::remove_file(&ledger).unwrap();

    // Whoever comes next is told the lock may be gone with the history.
    let status = world.ferry(&["history"]).await;
    assert!(text(&status).contains("another deploy may be running"), "{}", text(&status));

    let output = deploy.await.unwrap();
    assert_eq!(output.status.code(), Some(8), "{}", text(&output));
    let out = text(&output);
    assert!(out.contains("lost the lock while watching, stopped"), "{out}");
    assert!(out.contains("the file was replaced by another file while ferry had it open"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(45), "stopped at the renewal, not at the end of the bake: {:?}", started.elapsed());
    // It did not roll back: whatever now deploys the service is not undone by a stale holder.
    let service = world.service("web").await;
    assert!(service.task_definition().is_some_and(|td| td.ends_with(":2")), "{:?}", service.task_definition());
}
