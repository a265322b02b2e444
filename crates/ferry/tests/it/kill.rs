//! Kill tests: ferry is SIGKILLed at a named point of a deploy, an env-tag deploy, a
//! promotion or a rollback (`FERRY_KILL_POINT` holds it there until the signal), and the
//! same command is run again. It must converge — to the intended version, or to the
//! rolled-back one for a failing version — with exactly one revision registered per
//! deployment, no second UpdateService or tag move for what the dead run did, the dead
//! run's deployment finished under its own id, and no lock left behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use ferry_store::{Ledger, Outcome};
use serde_json::json;

/// Runs ferry with `FERRY_KILL_POINT=point` until it reaches the point, then SIGKILLs it.
/// Returns what it printed on stderr up to then.
pub(crate) async fn killed_at(world: &World, point: &str, args: &[&str]) -> String {
    let mut command = Command::new(ferry_bin());
    command
        .args(args)
        .arg("--config")
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .env("FERRY_USER", "tester")
        .env("NO_COLOR", "1")
        .env("FERRY_KILL_POINT", point)
        .env_remove("FERRY_OUTPUT")
        .current_dir(world.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let point = point.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = String::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line == format!("ferry: kill point {point}") {
                        // SIGKILL: no handler, no cleanup, exactly like a CI runner that dies.
                        child.kill().unwrap();
                        child.wait().unwrap();
                        return seen;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().unwrap();
                    panic!("ferry ended ({status}) without reaching kill point {point}:\n{seen}");
                }
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("ferry never reached kill point {point}:\n{seen}");
            }
        }
    })
    .await
    .unwrap()
}

/// The deployment the dead run left in progress (its id), and that its lock is still held
/// by the dead process: what the re-run has to deal with.
fn left_in_progress(world: &World, environment: &str, service: &str) -> String {
    let ledger = Ledger::open(&world.ledger()).unwrap();
    let record = ledger.unfinished(environment, service).unwrap().expect("the dead run left its deployment in progress");
    let lock = ledger.lock(environment, service).unwrap().expect("the dead run's lock is still there");
    assert_eq!(lock.holder.deployment_id, record.id);
    record.id
}

/// After the re-run: the dead run's deployment ended with `outcome` under its own id,
/// nothing is left in progress, and no lock is left behind.
fn finished_as(world: &World, environment: &str, service: &str, id: &str, outcome: Outcome) {
    let ledger = Ledger::open(&world.ledger()).unwrap();
    let record = ledger.deployment(id).unwrap().expect("recorded");
    assert_eq!(record.outcome, outcome, "{record:?}");
    assert_eq!(ledger.unfinished(environment, service).unwrap(), None, "nothing left in progress");
    assert_eq!(ledger.lock(environment, service).unwrap(), None, "no lock left behind");
}

/// No deployment left in progress and no lock left in stage, for each of its services.
fn stage_left_clean(world: &World) {
    let ledger = Ledger::open(&world.ledger()).unwrap();
    for service in ["api", "web", "worker"] {
        assert_eq!(ledger.unfinished("stage", service).unwrap(), None, "{service}: nothing left in progress");
        assert_eq!(ledger.lock("stage", service).unwrap(), None, "{service}: no lock left");
    }
}

async fn count(world: &World, operation: &str) -> u64 {
    world.calls().await.get(operation).copied().unwrap_or(0)
}

/// Kills a rolling deploy of web 1.0.0 → `version` at `point`, re-runs it, and checks it
/// converged with one revision and one UpdateService in all.
async fn rolling_deploy_survives(point: &str, version: &str) {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 2, "1.0.0", true).await;
    world.reset_calls().await;
    let target = format!("web={version}");
    killed_at(&world, point, &["deploy", "test", &target]).await;
    let id = left_in_progress(&world, "test", "web");

    let rerun = world.ferry(&["deploy", "test", &target]).await;
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert!(text(&rerun).contains("resuming the deployment a dead run left"), "{}", text(&rerun));
    assert_eq!(world.answering_versions("web").await, vec![version, version]);
    assert_eq!(count(&world, "ecs:RegisterTaskDefinition").await, 1, "one revision for the deployment");
    assert_eq!(world.revisions("web").await.len(), 2, "the bootstrap revision and ours");
    assert_eq!(count(&world, "ecs:UpdateService").await, 1, "one UpdateService for the deployment");
    finished_as(&world, "test", "web", &id, Outcome::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_preflight() {
    rolling_deploy_survives("after-preflight", "1.1.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_revision_is_registered() {
    // Registered in ECS, not yet journaled as done: the re-run finds it by its tag.
    rolling_deploy_survives("after-register", "1.1.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_right_after_update_service() {
    // UpdateService answered, its deployment not yet journaled: the re-run adopts it.
    rolling_deploy_survives("after-update-service", "1.1.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_rollout() {
    rolling_deploy_survives("mid-rollout", "1.1.0-slow").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_ledger_write() {
    // SIGKILL inside the journal's transaction: SQLite commits all of it or none of it.
    rolling_deploy_survives("ledger-write", "1.1.0").await;
}

/// Kills the deploy of a version whose tasks crash at `point` of its rollback, re-runs it:
/// the re-run finishes the rollback (exit 5) and the service runs 1.0.0 again.
async fn rollback_survives(point: &str, circuit_breaker: bool) {
    // With the circuit breaker, ferry's own task-failure limit is high so that ECS acts first.
    let world = World::new(if circuit_breaker { "max_task_failures = 50" } else { "max_task_failures = 2" }, &["web"]).await;
    let bootstrap = world.create_service("web", 2, "1.0.0", circuit_breaker).await;
    world.reset_calls().await;
    killed_at(&world, point, &["deploy", "test", "web=2.0.0-crash"]).await;
    let id = left_in_progress(&world, "test", "web");

    let rerun = world.ferry(&["deploy", "test", "web=2.0.0-crash"]).await;
    assert_eq!(rerun.status.code(), Some(5), "{}", text(&rerun));
    assert_eq!(world.service("web").await.task_definition(), Some(bootstrap.as_str()));
    assert_eq!(world.answering_versions("web").await, vec!["1.0.0", "1.0.0"]);
    assert_eq!(count(&world, "ecs:RegisterTaskDefinition").await, 1, "one revision for the deployment");
    let updates = count(&world, "ecs:UpdateService").await;
    assert!(updates <= 2, "the forward UpdateService, and at most one to roll back: {updates}");
    finished_as(&world, "test", "web", &id, Outcome::FailedRolledBack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_as_ferrys_own_rollback_starts() {
    rollback_survives("rollback-started", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_as_ferrys_rollback_completes() {
    // ECS finished the rollback; the dead run never recorded it.
    rollback_survives("rolled-back", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_circuit_breakers_rollback() {
    rollback_survives("ecs-rollback", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_tag_killed_after_the_tag_moved_and_before_the_forced_deployment() {
    let world = World::new("", &["tagged"]).await;
    let revision = world.create_service("tagged", 2, "test", true).await;
    let v11 = world.digest_of("1.1.0").await;
    world.reset_calls().await;
    killed_at(&world, "env-tag-after-move", &["deploy", "test", "tagged=1.1.0"]).await;
    let id = left_in_progress(&world, "test", "tagged");
    assert_eq!(world.digest_of("test").await, v11, "the dead run moved the tag");

    let rerun = world.ferry(&["deploy", "test", "tagged=1.1.0"]).await;
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert_eq!(world.answering_digests("tagged").await, vec![v11.clone(), v11.clone()]);
    assert_eq!(world.service("tagged").await.task_definition(), Some(revision.as_str()));
    assert_eq!(count(&world, "ecr:PutImage").await, 1, "the tag moved once");
    assert_eq!(count(&world, "ecs:UpdateService").await, 1, "one forced deployment");
    finished_as(&world, "test", "tagged", &id, Outcome::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_tag_killed_after_the_tag_moved_is_superseded_from_the_digest_before_it() {
    // The case: the tag left on a broken digest must not become "previous".
    let world = World::new("", &["tagged"]).await;
    world.create_service("tagged", 2, "test", true).await;
    let v1 = world.digest_of("1.0.0").await;
    let broken = world.digest_of("2.0.0-crash").await;
    killed_at(&world, "env-tag-after-move", &["deploy", "test", "tagged=2.0.0-crash"]).await;
    let dead = left_in_progress(&world, "test", "tagged");
    assert_eq!(world.digest_of("test").await, broken);

    let other = world.ferry(&["deploy", "test", "tagged=1.1.0", "--output", "json"]).await;
    assert!(other.status.success(), "{}", text(&other));
    assert_eq!(result_of(&other)["services"][0]["from_digest"], v1.as_str(), "what ran before the dead run");
    let ledger = Ledger::open(&world.ledger()).unwrap();
    let closed = ledger.deployment(&dead).unwrap().unwrap();
    assert_eq!(closed.outcome, Outcome::Interrupted);
    assert!(closed.reason.as_deref().is_some_and(|r| r.contains("move_tag")), "{closed:?}");
    assert_eq!(ledger.lock("test", "tagged").unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_tag_killed_after_the_tag_was_moved_back() {
    let world = World::new("max_task_failures = 2", &["tagged"]).await;
    world.create_service("tagged", 2, "test", true).await;
    let v1 = world.digest_of("1.0.0").await;
    let broken = world.digest_of("2.0.0-crash").await;
    let fault = json!({"digest": broken, "failToStart": true});
    world.http.post(format!("{}/_ferry/task-faults", world.server.endpoint())).json(&fault).send().await.unwrap();
    world.reset_calls().await;
    killed_at(&world, "env-tag-after-restore", &["deploy", "test", "tagged=2.0.0-crash"]).await;
    let id = left_in_progress(&world, "test", "tagged");
    assert_eq!(world.digest_of("test").await, v1, "the dead run moved the tag back");

    let rerun = world.ferry(&["deploy", "test", "tagged=2.0.0-crash"]).await;
    assert_eq!(rerun.status.code(), Some(5), "{}", text(&rerun));
    assert_eq!(world.digest_of("test").await, v1);
    assert_eq!(world.answering_digests("tagged").await, vec![v1.clone(), v1.clone()]);
    assert_eq!(count(&world, "ecr:PutImage").await, 2, "moved once, moved back once");
    finished_as(&world, "test", "tagged", &id, Outcome::FailedRolledBack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_ferry_rollback() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 2, "1.0.0", true).await;
    assert!(world.ferry(&["deploy", "test", "web=1.0.0"]).await.status.success());
    let good = world.service("web").await.task_definition().unwrap().to_string();
    assert!(world.ferry(&["deploy", "test", "web=1.1.0"]).await.status.success());
    world.reset_calls().await;
    killed_at(&world, "mid-rollout", &["rollback", "test", "web"]).await;
    let id = left_in_progress(&world, "test", "web");

    // Run again, it finishes this rollback: it does not choose a target anew (what runs may
    // be the target already, and "the good deploy before it" would then be 1.1.0).
    let rerun = world.ferry(&["rollback", "test", "web"]).await;
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert_eq!(world.service("web").await.task_definition(), Some(good.as_str()), "back on 1.0.0, not forward again");
    assert_eq!(world.answering_versions("web").await, vec!["1.0.0", "1.0.0"]);
    assert_eq!(count(&world, "ecs:UpdateService").await, 1);
    assert_eq!(count(&world, "ecs:RegisterTaskDefinition").await, 0);
    finished_as(&world, "test", "web", &id, Outcome::Succeeded);
    // Its record still says what it rolled back from, not "1.0.0 → 1.0.0".
    let record = Ledger::open(&world.ledger()).unwrap().deployment(&id).unwrap().unwrap();
    assert_ne!(record.from_task_definition, record.to_task_definition, "{record:?}");
    assert_eq!(record.to_task_definition.as_deref(), Some(good.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_killed_between_two_services() {
    let world = crate::promote::two_environments("promote_from = \"dev\"").await;
    // One service is slow to start, so the other finishes first.
    assert!(world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.1.0-slow", "worker=1.1.0"]).await.status.success());
    world.reset_calls().await;
    killed_at(&world, "service-finished", &["promote", "dev", "stage", "--approve"]).await;

    let rerun = world.ferry(&["promote", "dev", "stage", "--approve"]).await;
    assert!(rerun.status.success(), "{}", text(&rerun));
    for (service, version) in [("api", "1.1.0"), ("web", "1.1.0-slow"), ("worker", "1.1.0")] {
        assert_eq!(world.answering_versions_in("stage", service).await, vec![version], "{service}");
    }
    assert_eq!(count(&world, "ecs:RegisterTaskDefinition").await, 3, "one revision per service in all");
    assert_eq!(count(&world, "ecs:UpdateService").await, 3, "one UpdateService per service in all");
    stage_left_clean(&world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atomic_promotion_killed_before_its_undo() {
    let world = crate::promote::two_environments("promote_from = \"dev\"\natomic = true\nmax_task_failures = 2").await;
    assert!(world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.1.0", "worker=1.1.0"]).await.status.success());
    let before = crate::promote::stage_revisions(&world).await;
    let fault = json!({"family": "worker", "digest": world.digest_of("1.1.0").await, "failToStart": true});
    world.http.post(format!("{}/_ferry/task-faults", world.server.endpoint())).json(&fault).send().await.unwrap();
    killed_at(&world, "promotion-undo", &["promote", "dev", "stage", "--approve"]).await;
    assert_ne!(crate::promote::stage_revisions(&world).await, before, "api and web moved, and the undo never ran");

    let rerun = world.ferry(&["promote", "dev", "stage", "--approve"]).await;
    assert_eq!(rerun.status.code(), Some(5), "{}", text(&rerun));
    assert_eq!(crate::promote::stage_revisions(&world).await, before, "stage runs exactly what it ran before");
    stage_left_clean(&world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_deployment_shows_as_interrupted_with_its_step() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    killed_at(&world, "after-update-service", &["deploy", "test", "web=1.1.0"]).await;
    let history = world.ferry(&["history", "test", "--output", "json"]).await;
    assert!(history.status.success(), "{}", text(&history));
    let out = text(&history);
    assert!(out.contains("interrupted"), "{out}");
    assert!(out.contains("update_service"), "the step it stopped at: {out}");
    let status = world.ferry(&["status", "test"]).await;
    assert!(text(&status).contains("interrupted at update_service"), "{}", text(&status));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_runs_completed_deployment_is_what_a_superseding_failure_returns_to() {
    // The dead run's UpdateService went through and ECS completed it while ferry was dead:
    // 1.1.0 runs. A failing deploy of another version then returns to 1.1.0 — what ECS's
    // circuit breaker reactivates — not to 1.0.0 from before the dead run, and ends at once
    // (it used to wait 0/0 for the rollback timeout and exit 6 on a healthy service).
    let world = World::new("rollback_timeout = \"60s\"", &["web"]).await;
    world.create_service("web", 2, "1.0.0", true).await;
    killed_at(&world, "after-update-service", &["deploy", "test", "web=1.1.0"]).await;
    world.wait_running("web", 2).await;
    let completed = world.service("web").await.task_definition().unwrap().to_string();
    assert_eq!(world.answering_versions("web").await, vec!["1.1.0", "1.1.0"]);

    let started = std::time::Instant::now();
    let failing = world.ferry(&["deploy", "test", "web=2.0.0-crash", "--output", "json"]).await;
    assert_eq!(failing.status.code(), Some(5), "{}", text(&failing));
    assert!(started.elapsed() < std::time::Duration::from_secs(50), "took {:?}", started.elapsed());
    assert_eq!(result_of(&failing)["services"][0]["from_task_definition"], completed.as_str());
    assert_eq!(world.service("web").await.task_definition(), Some(completed.as_str()));
    assert_eq!(world.answering_versions("web").await, vec!["1.1.0", "1.1.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atomic_promotion_killed_while_services_were_still_moving_ends_with_stage_as_before() {
    // worker fails fast; api and web (slow to start) are still rolling when ferry is killed:
    // the re-run's undo takes back what was in progress too, not only what had finished.
    let world = crate::promote::two_environments("promote_from = \"dev\"\natomic = true\nmax_task_failures = 2").await;
    assert!(world.ferry(&["deploy", "dev", "api=1.1.0-slow", "web=1.1.0-slow", "worker=1.1.0"]).await.status.success());
    let before = crate::promote::stage_revisions(&world).await;
    let fault = json!({"family": "worker", "digest": world.digest_of("1.1.0").await, "failToStart": true});
    world.http.post(format!("{}/_ferry/task-faults", world.server.endpoint())).json(&fault).send().await.unwrap();
    killed_at(&world, "service-finished", &["promote", "dev", "stage", "--approve"]).await;

    let rerun = world.ferry(&["promote", "dev", "stage", "--approve"]).await;
    assert_eq!(rerun.status.code(), Some(5), "{}", text(&rerun));
    for service in ["api", "web", "worker"] {
        world.wait_running_in("stage", service, 1).await;
    }
    assert_eq!(crate::promote::stage_revisions(&world).await, before, "stage runs exactly what it ran before");
    stage_left_clean(&world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_whose_deployments_ecs_finished_after_the_kill_is_closed_by_the_rerun() {
    let world = crate::promote::two_environments("promote_from = \"dev\"").await;
    assert!(world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.1.0", "worker=1.1.0"]).await.status.success());
    world.reset_calls().await;
    killed_at(&world, "after-update-service", &["promote", "dev", "stage", "--approve"]).await;
    // ECS finishes what the dead run started (the services it had updated then run the
    // release already).
    for service in ["api", "web", "worker"] {
        world.wait_running_in("stage", service, 1).await;
    }
    let rerun = world.ferry(&["promote", "dev", "stage", "--approve"]).await;
    assert!(rerun.status.success(), "{}", text(&rerun));
    stage_left_clean(&world);
    for service in ["api", "web", "worker"] {
        assert_eq!(world.answering_versions_in("stage", service).await, vec!["1.1.0"], "{service}");
    }
    // The dead run and the re-run together: one revision and one UpdateService per service.
    assert_eq!(count(&world, "ecs:RegisterTaskDefinition").await, 3, "nothing registered twice");
    assert_eq!(count(&world, "ecs:UpdateService").await, 3, "no second UpdateService");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_deploy_that_ecs_rolled_back_while_ferry_was_dead_is_not_rolled_out_again() {
    let world = World::new("max_task_failures = 50", &["web"]).await;
    let bootstrap = world.create_service("web", 2, "1.0.0", true).await;
    world.reset_calls().await;
    killed_at(&world, "after-update-service", &["deploy", "test", "web=2.0.0-crash"]).await;
    let id = left_in_progress(&world, "test", "web");
    // ECS's circuit breaker fails the deployment and reactivates the previous one, which is
    // then the only one listed.
    world.wait_running("web", 2).await;
    assert_eq!(world.service("web").await.task_definition(), Some(bootstrap.as_str()));

    let rerun = world.ferry(&["deploy", "test", "web=2.0.0-crash", "--output", "json"]).await;
    assert_eq!(rerun.status.code(), Some(5), "{}", text(&rerun));
    assert_eq!(result_of(&rerun)["services"][0]["cause"], "circuit_breaker");
    assert_eq!(count(&world, "ecs:UpdateService").await, 1, "the known-bad revision is not rolled out a second time");
    assert_eq!(count(&world, "ecs:RegisterTaskDefinition").await, 1);
    assert_eq!(world.answering_versions("web").await, vec!["1.0.0", "1.0.0"]);
    finished_as(&world, "test", "web", &id, Outcome::FailedRolledBack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_fixed_between_the_kill_and_the_rerun_is_deployed() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    killed_at(&world, "after-register", &["deploy", "test", "web=1.1.0"]).await;
    let dead = left_in_progress(&world, "test", "web");
    let template = world.dir.path().join("app.json");
    let fixed = std::fs::read_to_string(&template).unwrap().replace("\"memory\": 64", "\"memory\": 96");
    std::fs::write(&template, fixed).unwrap();

    let rerun = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert!(rerun.status.success(), "{}", text(&rerun));
    let running = world.service("web").await.task_definition().unwrap().to_string();
    let described = world.clients.ecs.describe_task_definition().task_definition(&running).send().await.unwrap();
    assert_eq!(described.task_definition().unwrap().container_definitions()[0].memory(), Some(96), "the fix is deployed");
    let closed = Ledger::open(&world.ledger()).unwrap().deployment(&dead).unwrap().unwrap();
    assert_eq!(closed.outcome, Outcome::Interrupted, "the dead run's revision was another definition: superseded");
}
