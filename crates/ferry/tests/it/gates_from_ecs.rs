//! Gates read AWS facts first (issue 10): what runs healthy in FROM, and since when, comes
//! from ECS — the service's COMPLETED rollout and the `finishedAt` of the service deployment
//! that rolled it out — not from a ledger row. A runner with an empty ledger (a fresh CI
//! job) promotes exactly as the machine that deployed would, and a ledger row never makes
//! healthy what ECS says is not running.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use crate::common::*;
use crate::promote::two_environments;

/// Another machine: its own checkout of the project (ferry.toml and the template copied),
/// its own HOME and data directory, and no ledger on disk.
struct Runner {
    _dir: tempfile::TempDir,
    project: PathBuf,
    home: PathBuf,
}

impl Runner {
    fn fresh(world: &World) -> Runner {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("checkout");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        for file in ["ferry.toml", "app.json"] {
            std::fs::copy(world.dir.path().join(file), project.join(file)).unwrap();
        }
        Runner { _dir: dir, project, home }
    }

    /// Where ferry keeps its ledger on this runner when nothing says otherwise.
    fn ledger(&self) -> PathBuf {
        self.home.join("data").join("ferry").join("ledger.sqlite")
    }

    fn set_soak(&self, soak: &str) {
        let path = self.project.join("ferry.toml");
        let config = std::fs::read_to_string(&path).unwrap();
        let start = config.find("soak = \"").unwrap();
        let end = start + config[start..].find('\n').unwrap();
        std::fs::write(&path, format!("{}soak = \"{soak}\"{}", &config[..start], &config[end..])).unwrap();
    }

    async fn ferry(&self, args: &[&str]) -> Output {
        let mut command = std::process::Command::new(ferry_bin());
        command
            .args(args)
            .env("HOME", &self.home)
            .env("XDG_DATA_HOME", self.home.join("data"))
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env("XDG_STATE_HOME", self.home.join("state"))
            .env("XDG_CACHE_HOME", self.home.join("cache"))
            .env_remove("FERRY_LEDGER")
            .env_remove("FERRY_OUTPUT")
            .env("FERRY_USER", "runner-b")
            .env("NO_COLOR", "1")
            .current_dir(&self.project);
        tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
    }
}

/// `finishedAt` (epoch ms) of the newest SUCCESSFUL service deployment of `service` in
/// `cluster`, read with the SDK as any AWS client would.
async fn finished_at(world: &World, cluster: &str, service: &str) -> i64 {
    let listed = world
        .clients
        .ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .status(ferry_aws::ecs::types::ServiceDeploymentStatus::Successful)
        .send()
        .await
        .unwrap();
    let newest = listed.service_deployments().iter().max_by_key(|d| d.created_at().map(|t| t.to_millis().unwrap())).unwrap();
    newest.finished_at().unwrap().to_millis().unwrap()
}

fn utc(ms: i64) -> String {
    ferry_store::format_rfc3339(ms)
}

/// Sleeps until the wall clock is `ms` + `seconds` past.
async fn until_past(ms: i64, seconds: i64) {
    loop {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        if now > ms + seconds * 1000 + 50 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis((ms + seconds * 1000 + 100 - now) as u64)).await;
    }
}

fn gates_of(output: &Output) -> (String, Value) {
    let result = result_of(output);
    (result["release"].as_str().unwrap().to_string(), result["gates"]["healthy_since"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_runner_promotes_as_the_runner_that_deployed_with_the_soak_counted_from_ecs() {
    let world = two_environments("promote_from = \"dev\"\nsoak = \"1h\"").await;
    // Runner A deploys to dev (its ledger records it).
    let deployed = world.ferry(&["deploy", "dev", "web=1.1.0", "api=1.1.0"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
    let (web_done, api_done) = (finished_at(&world, "dev", "web").await, finished_at(&world, "dev", "api").await);

    // Runner B: the project checked out, nothing else on disk.
    let b = Runner::fresh(&world);
    assert!(!b.ledger().exists());

    // The same release and the same gates on both runners, the soak counted from dev's ECS
    // service deployment (not from B's clock, nor a ledger row).
    let on_a = world.ferry(&["promote", "dev", "stage", "--services", "web", "--dry-run", "--output", "json"]).await;
    let on_b = b.ferry(&["promote", "dev", "stage", "--services", "web", "--dry-run", "--output", "json"]).await;
    assert_eq!((on_a.status.code(), on_b.status.code()), (Some(4), Some(4)), "{}\n{}", text(&on_a), text(&on_b));
    let ((release_a, since_a), (release_b, since_b)) = (gates_of(&on_a), gates_of(&on_b));
    assert_eq!(release_a, release_b);
    assert_eq!(since_a, since_b);
    assert_eq!(since_b[0]["since"]["source"], "service_deployment", "{since_b}");
    assert_eq!(since_b[0]["since"]["at"], web_done, "{since_b}");
    assert_eq!(since_b[0]["since_utc"], utc(web_done), "{since_b}");
    assert!(!b.ledger().exists(), "a dry run wrote a ledger");

    // Not soaked yet: refused on B, the time counted from ECS's finishedAt.
    let early = b.ferry(&["promote", "dev", "stage", "--services", "web"]).await;
    assert_eq!(early.status.code(), Some(4), "{}", text(&early));
    assert!(text(&early).contains("the release has not soaked for 1h in dev"), "{}", text(&early));
    assert!(text(&early).contains(&format!("(since {}, ECS service deployment finishedAt), needs ", utc(web_done))), "{}", text(&early));

    // A direct deploy to stage on B: refused for the soak (since ECS's finishedAt), and a
    // version that never ran in dev is refused with nothing changed in ECS.
    let stage_web = world.service_in("stage", "web").await.task_definition().unwrap().to_string();
    world.reset_calls().await;
    let soaking = b.ferry(&["deploy", "stage", "api=1.1.0"]).await;
    assert_eq!(soaking.status.code(), Some(4), "{}", text(&soaking));
    assert!(
        text(&soaking).contains(&format!("(since {}, ECS service deployment finishedAt) of stage's soak of 1h", utc(api_done))),
        "{}",
        text(&soaking)
    );
    let never = b.ferry(&["deploy", "stage", "web=1.1.0-slow"]).await;
    assert_eq!(never.status.code(), Some(4), "{}", text(&never));
    assert!(text(&never).contains("stage takes what ran healthy in dev (promote_from), and web 1.1.0-slow"), "{}", text(&never));
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
    assert_eq!(world.service_in("stage", "web").await.task_definition().unwrap(), stage_web);

    // Once the soak has passed since dev's deployments finished, B deploys and promotes.
    b.set_soak("1s");
    until_past(web_done.max(api_done), 1).await;
    let direct = b.ferry(&["deploy", "stage", "api=1.1.0"]).await;
    assert!(direct.status.success(), "ran healthy in dev past the soak: {}", text(&direct));
    let promoted = b.ferry(&["promote", "dev", "stage", "--services", "web", "--output", "json"]).await;
    assert!(promoted.status.success(), "{}", text(&promoted));
    let answering = world.answering_versions_in("stage", "web").await;
    assert!(!answering.is_empty() && answering.iter().all(|v| v == "1.1.0"), "{answering:?}");
    // B's promotion recorded the release A's dry run named.
    let ledger = ferry_store::Ledger::open(&b.ledger()).unwrap();
    assert!(ledger.release(&release_a).unwrap().is_some(), "release {release_a} not in B's ledger");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_row_never_makes_healthy_what_ecs_says_no_longer_runs() {
    let world = two_environments("promote_from = \"dev\"").await;
    let bootstrap = world.service_in("dev", "web").await.task_definition().unwrap().to_string();
    assert!(world.ferry(&["deploy", "dev", "web=1.1.0"]).await.status.success());
    // Someone puts 1.0.0 back in dev outside ferry: the ledger still says 1.1.0 went healthy.
    world.clients.ecs.update_service().cluster("dev").service("web").task_definition(&bootstrap).send().await.unwrap();
    world.wait_running_in("dev", "web", 1).await;
    let stage_web = world.service_in("stage", "web").await.task_definition().unwrap().to_string();
    let refused = world.ferry(&["deploy", "stage", "web=1.1.0"]).await;
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused));
    let old = world.digest_of("1.0.0").await;
    let short: String = old.chars().take(19).collect();
    assert!(text(&refused).contains(&format!("(dev runs {short} of web, not sha256:")), "{}", text(&refused));
    assert_eq!(world.service_in("stage", "web").await.task_definition().unwrap(), stage_web);
    // What runs there now (1.0.0, put there outside ferry) is what ECS says runs healthy.
    let deployed = world.ferry(&["deploy", "stage", "web=1.0.0"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
}
