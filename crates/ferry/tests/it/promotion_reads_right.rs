//! Issue 8, item 17, through the binary against ferry local: what a promotion will change is
//! shown before it changes it (and `--dry-run` changes nothing: no mutating AWS call, no
//! ledger write), a promotion against the chain is refused, `status` says "behind" only when
//! it is, and shows the locks that `ferry unlock` frees — with a reason, recorded.

use crate::common::*;
use serde_json::{Value, json};

const SERVICES: [&str; 3] = ["api", "web", "worker"];

/// dev → stage, each with api, web and worker on 1.0.0 (as Terraform made them), no bake.
async fn dev_and_stage() -> World {
    let world = World::new("", &[]).await;
    let endpoint = world.server.endpoint();
    let mut config = String::new();
    for (env, extra) in [("dev", ""), ("stage", "promote_from = \"dev\"\n")] {
        config.push_str(&format!(
            "[environments.{env}]\nregion = \"{REGION}\"\ncluster = \"{env}\"\nendpoint_url = \"{endpoint}\"\ncredentials = \"ferry-local\"\nbake = \"0s\"\n{extra}\n"
        ));
    }
    for service in SERVICES {
        config.push_str(&format!("[services.{service}]\nrepository = \"{REPOSITORY}\"\ncontainer = \"app\"\ntemplate = \"app.json\"\n\n"));
    }
    std::fs::write(world.config(), config).unwrap();
    for cluster in ["dev", "stage"] {
        world.clients.ecs.create_cluster().cluster_name(cluster).send().await.unwrap();
        for service in SERVICES {
            world.create_service_in(cluster, service, 1, "1.0.0", true).await;
        }
    }
    world
}

async fn stage_revisions(world: &World) -> Vec<String> {
    let mut revisions = Vec::new();
    for service in SERVICES {
        revisions.push(world.service_in("stage", service).await.task_definition().unwrap().to_string());
    }
    revisions
}

/// Everything the ledger holds that a promotion could add to: deployments, releases, locks.
fn ledger_contents(world: &World) -> (Vec<String>, Vec<String>, Vec<Option<ferry_store::LockInfo>>) {
    let ledger = ferry_store::Ledger::open(&world.ledger()).unwrap();
    let deployments = ledger
        .history(&ferry_store::HistoryFilter { limit: 10_000, ..Default::default() })
        .unwrap()
        .into_iter()
        .map(|d| format!("{d:?}"))
        .collect();
    let releases = ledger.releases(10_000).unwrap().into_iter().map(|r| format!("{r:?}")).collect();
    let locks = SERVICES.iter().map(|s| ledger.lock("stage", s).unwrap()).collect();
    (deployments, releases, locks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_dry_run_prints_the_plan_per_service_and_changes_nothing() {
    let world = dev_and_stage().await;
    // With no ledger yet, a dry run does not create one. What runs healthy in dev is read from
    // ECS, not the ledger: 1.0.0 everywhere, which stage runs already.
    world.reset_calls().await;
    let early = world.ferry(&["promote", "dev", "stage", "--dry-run"]).await;
    assert_eq!(early.status.code(), Some(0), "{}", text(&early));
    assert!(text(&early).contains("nothing to promote"), "{}", text(&early));
    assert!(!world.ledger().exists(), "a dry run created the ledger");
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);

    // worker is deployed on the version stage runs: recorded healthy in dev, unchanged in stage.
    let deployed = world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.1.0", "worker=1.0.0"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
    let before = (stage_revisions(&world).await, ledger_contents(&world));
    world.reset_calls().await;

    let dry = world.ferry(&["promote", "dev", "stage", "--dry-run"]).await;
    assert!(dry.status.success(), "{}", text(&dry));
    let out = String::from_utf8_lossy(&dry.stdout).to_string();
    let (old, new) = (world.digest_of("1.0.0").await, world.digest_of("1.1.0").await);
    let short = |d: &str| d.chars().take(19).collect::<String>();
    assert!(out.contains("(dry run: nothing changed)"), "{out}");
    for service in ["api", "web"] {
        let line = out.lines().find(|l| l.starts_with(service)).unwrap_or_else(|| panic!("no line for {service}: {out}"));
        assert!(line.contains("1.0.0 → 1.1.0"), "{line}");
        assert!(line.contains(&format!("{} → {}", short(&old), short(&new))), "{line}");
        assert!(line.contains(&format!("{service}:")) && line.contains("→ new revision"), "{line}");
    }
    let worker = out.lines().find(|l| l.starts_with("worker")).unwrap();
    assert!(worker.contains("1.0.0 (unchanged)") && worker.contains("unchanged"), "{worker}");
    assert!(out.contains("would deploy 2 services"), "{out}");

    let json = world.ferry(&["promote", "dev", "stage", "--dry-run", "--output", "json"]).await;
    assert!(json.status.success(), "{}", text(&json));
    let result = result_of(&json);
    assert_eq!(
        (result["command"].clone(), result["dry_run"].clone(), result["changed"].clone(), result["exit_code"].clone()),
        (json!("promote"), json!(true), json!(false), json!(0)),
        "{result}"
    );
    let api = result["plan"].as_array().unwrap().iter().find(|p| p["service"] == "api").unwrap().clone();
    assert_eq!(
        (api["action"].clone(), api["from_version"].clone(), api["to_version"].clone()),
        (json!("deploy"), json!("1.0.0"), json!("1.1.0")),
        "{api}"
    );
    assert_eq!((api["from_digest"].clone(), api["to_digest"].clone()), (json!(old), json!(new)), "{api}");
    assert!(api["from_revision"].as_str().unwrap().starts_with("api:"), "{api}");

    // Nothing changed: no mutating call, the ledger as it was, stage as it was.
    let calls = world.calls().await;
    assert_eq!(mutations(&calls), 0, "{calls:?}");
    assert_eq!((stage_revisions(&world).await, ledger_contents(&world)), before);

    // The real promotion shows the same plan before it changes anything.
    let real = world.ferry(&["promote", "dev", "stage", "--output", "json"]).await;
    assert!(real.status.success(), "{}", text(&real));
    let plan_line: Value = String::from_utf8_lossy(&real.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "plan")
        .unwrap();
    let without_revision_ids = |plan: &Value| {
        plan.as_array()
            .unwrap()
            .iter()
            .map(|p| (p["service"].clone(), p["action"].clone(), p["from_digest"].clone(), p["to_digest"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(without_revision_ids(&plan_line["services"]), without_revision_ids(&result["plan"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approval_prompt_shows_what_will_change_and_no_changes_nothing() {
    let world = dev_and_stage().await;
    let config =
        std::fs::read_to_string(world.config()).unwrap().replace("promote_from = \"dev\"\n", "promote_from = \"dev\"\napproval = true\n");
    std::fs::write(world.config(), config).unwrap();
    assert!(world.ferry(&["deploy", "dev", "api=1.1.0"]).await.status.success());
    let before = stage_revisions(&world).await;
    world.reset_calls().await;
    // A terminal (script gives ferry one), answering no.
    let command = format!(
        "{} promote dev stage --services api --config {} --ledger {}",
        ferry_bin(),
        world.config().display(),
        world.ledger().display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("FERRY_USER", "tester")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        // After the question: ferry reads the answer once the plan is printed.
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(3));
        let _ = stdin.write_all(b"n\n");
    }
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let shown = text(&output);
    let question = shown.find("as planned above? [y/N]").unwrap_or_else(|| panic!("no question: {shown}"));
    let api = shown.lines().find(|l| l.starts_with("api ")).unwrap_or_else(|| panic!("no plan line for api: {shown}"));
    assert!(shown.find(api).unwrap() < question, "the plan comes before the question: {shown}");
    assert!(api.contains("1.0.0 → 1.1.0") && api.contains("sha256:") && api.contains("→ new revision"), "{api}");
    assert!(shown.contains("stage needs an approval"), "{shown}");
    assert_eq!(output.status.code(), Some(4), "{shown}");
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
    assert_eq!(stage_revisions(&world).await, before, "answering no changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_against_the_chain_is_refused_with_exit_4_and_changes_nothing() {
    let world = dev_and_stage().await;
    world.reset_calls().await;
    let against = world.ferry(&["promote", "stage", "dev"]).await;
    assert_eq!(against.status.code(), Some(4), "{}", text(&against));
    assert!(text(&against).contains("stage → dev goes against the promotion chain (dev → stage)"), "{}", text(&against));
    assert!(text(&against).contains("set promote_from = \"stage\" in [environments.dev]"), "{}", text(&against));
    // Decided from the config alone: not one call, no ledger.
    assert_eq!(world.calls().await.values().sum::<u64>(), 0);
    assert!(!world.ledger().exists());
    // A dry run is refused the same way; JSON ends with the result object.
    let dry = world.ferry(&["promote", "stage", "dev", "--dry-run", "--output", "json"]).await;
    assert_eq!(dry.status.code(), Some(4), "{}", text(&dry));
    let result = result_of(&dry);
    assert_eq!(
        (result["command"].clone(), result["exit_code"].clone(), result["outcome"].clone()),
        (json!("promote"), json!(4), json!("preflight_refused")),
        "{result}"
    );
    assert!(result["reason"].as_str().unwrap().contains("goes against the promotion chain"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_does_not_say_behind_dev_when_stage_runs_something_dev_never_ran() {
    let world = dev_and_stage().await;
    assert!(world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.1.0"]).await.status.success());
    // api: a version dev never ran goes straight to stage (a hotfix), past stage's gates.
    let refused = world.ferry(&["deploy", "stage", "api=1.1.0-slow"]).await;
    assert_eq!(refused.status.code(), Some(4), "stage takes what ran healthy in dev: {}", text(&refused));
    let hotfix = world.ferry(&["deploy", "stage", "api=1.1.0-slow", "--skip-gates", "--reason", "INC-7 hotfix"]).await;
    assert!(hotfix.status.success(), "{}", text(&hotfix));
    // web: promoted, then dev goes back to 1.0.0: stage is ahead of dev.
    assert!(world.ferry(&["promote", "dev", "stage", "--services", "web"]).await.status.success());
    assert!(world.ferry(&["deploy", "dev", "web=1.0.0"]).await.status.success());
    // worker: dev moves on, stage still runs what dev ran before: behind.
    assert!(world.ferry(&["deploy", "dev", "worker=1.1.0"]).await.status.success());

    let status = result_of(&world.ferry(&["status", "--output", "json"]).await);
    let stage = status["environments"].as_array().unwrap().iter().find(|e| e["environment"] == "stage").unwrap().clone();
    assert_eq!(stage["behind"], json!(["worker"]), "{stage}");
    assert_eq!(stage["differs"], json!(["api"]), "{stage}");
    assert_eq!(stage["ahead"], json!(["web"]), "{stage}");
    let human = text(&world.ferry(&["status"]).await);
    assert!(human.contains("behind dev: worker; ahead of dev: web; differs from dev: api"), "{human}");
    assert!(!human.contains("behind dev: api"), "{human}");
    assert!(human.contains("api in stage: deployed past stage's promotion gates by tester: INC-7 hotfix"), "{human}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_locks_and_unlock_frees_one_with_a_reason_recorded() {
    let world = dev_and_stage().await;
    // A deploy on another machine (a CI runner; its lease decides, not its process, which this
    // host cannot see): its lock, held as root@runner-7 (who = user@host, host = runner-7).
    let ledger = ferry_store::Ledger::open(&world.ledger()).unwrap();
    let holder =
        ferry_store::LockHolder { deployment_id: "fd-killed".into(), who: "root@runner-7".into(), host: "runner-7".into(), pid: 4_000_000 };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    ledger.acquire_lock("stage", "api", &holder, 600_000, now).unwrap();
    let held = ledger.lock("stage", "api").unwrap();

    let status = world.ferry(&["status", "stage"]).await;
    let shown = text(&status);
    assert!(
        shown.contains("api in stage: locked by root@runner-7 since ") && shown.contains("(deployment fd-killed, pid 4000000; lease until"),
        "{shown}"
    );
    let json = result_of(&world.ferry(&["status", "stage", "--output", "json"]).await);
    assert_eq!(json["locks"][0]["holder"]["who"], "root@runner-7", "{json}");

    // The lock holder reads user@host once when a deploy is refused.
    let refused = world.ferry(&["deploy", "stage", "api=1.1.0", "--skip-gates", "--reason", "hotfix"]).await;
    assert_eq!(refused.status.code(), Some(7), "{}", text(&refused));
    assert!(text(&refused).contains("being deployed by root@runner-7 (pid 4000000"), "{}", text(&refused));
    assert!(!text(&refused).contains("root@runner-7@runner-7"), "{}", text(&refused));

    // Bad input changes nothing: no reason, an empty one, an unknown service or environment.
    for (args, needle) in [
        (vec!["unlock", "stage", "api"], "--reason"),
        (vec!["unlock", "stage", "api", "--reason", "  "], "--reason is empty"),
        (vec!["unlock", "stage", "nope", "--reason", "x"], "nope"),
        (vec!["unlock", "prod", "api", "--reason", "x"], "prod"),
    ] {
        let bad = world.ferry(&args).await;
        assert_eq!(bad.status.code(), Some(2), "{args:?}: {}", text(&bad));
        assert!(text(&bad).contains(needle), "{args:?}: {}", text(&bad));
        assert_eq!(ledger.lock("stage", "api").unwrap(), held, "{args:?} changed the lock");
        assert_eq!(ledger.unlocks("stage", "api").unwrap(), vec![], "{args:?} recorded an unlock");
    }

    let refused = world.ferry(&["unlock", "stage", "api", "--reason", "", "--output", "json"]).await;
    assert_eq!(result_of(&refused)["exit_code"], json!(2), "{}", text(&refused));
    assert_eq!(ledger.lock("stage", "api").unwrap(), held);

    let freed = world.ferry(&["unlock", "stage", "api", "--reason", "deploy killed with its CI runner"]).await;
    assert!(freed.status.success(), "{}", text(&freed));
    assert!(
        text(&freed).contains("freed the lock on api in stage held by root@runner-7 since")
            && text(&freed).contains("recorded in the ledger: freed by tester: deploy killed with its CI runner"),
        "{}",
        text(&freed)
    );
    assert_eq!(ledger.lock("stage", "api").unwrap(), None);
    let recorded = ledger.unlocks("stage", "api").unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].lock.holder.clone(), recorded[0].by.as_str(), recorded[0].reason.as_str()),
        (holder, "tester", "deploy killed with its CI runner")
    );
    // Freeing a free lock changes nothing and says so; status lists no lock; the deploy goes.
    let again = world.ferry(&["unlock", "stage", "api", "--reason", "again", "--output", "json"]).await;
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(result_of(&again)["unlocked"], json!(false));
    assert_eq!(ledger.unlocks("stage", "api").unwrap().len(), 1);
    assert!(!text(&world.ferry(&["status", "stage"]).await).contains("locked by"));
    let deployed = world.ferry(&["deploy", "stage", "api=1.1.0", "--skip-gates", "--reason", "hotfix"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
}
