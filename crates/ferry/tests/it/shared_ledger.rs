//! The shared ledger (issue 10), end to end: several "runners" — separate ferry processes,
//! each with its own empty HOME and no ledger file — deploy through one DynamoDB table served
//! by ferry local, chosen by ferry.toml's `[ledger]`.

use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::*;

const TABLE: &str = "ferry-ledger";

/// A world with `web` on 1.0.0 and a `[ledger]` on ferry local's DynamoDB, created by
/// `ferry ledger init`.
async fn shared(env_extra: &str) -> World {
    let world = World::new(env_extra, &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let mut config = std::fs::read_to_string(world.config()).unwrap();
    config.push_str(&ledger_section(&world, TABLE));
    std::fs::write(world.config(), config).unwrap();
    let init = runner(&world, "admin", &["ledger", "init"]).await;
    assert!(init.status.success(), "{}", text(&init));
    world
}

fn ledger_section(world: &World, table: &str) -> String {
    format!(
        "\n[ledger]\nbackend = \"dynamodb\"\ntable = \"{table}\"\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\ncredentials = \"ferry-local\"\n",
        world.server.endpoint()
    )
}

/// A ferry process as a fresh CI runner named `name`: its own empty HOME and data directory
/// (so no ledger file of its own), the project's ferry.toml, and no `--ledger`.
fn runner_command(world: &World, name: &str, args: &[&str]) -> Command {
    let home = world.dir.path().join("runners").join(name);
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(ferry_bin());
    command
        .args(args)
        .arg("--config")
        .arg(world.config())
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("FERRY_USER", name)
        .env("NO_COLOR", "1")
        .env_remove("FERRY_LEDGER")
        .env_remove("FERRY_OUTPUT")
        .current_dir(world.dir.path());
    command
}

async fn runner(world: &World, name: &str, args: &[&str]) -> Output {
    let mut command = runner_command(world, name, args);
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

/// The deployments recorded in the shared table, as a runner with nothing on disk reads them.
async fn shared_history(world: &World) -> Vec<Value> {
    let out = runner(world, "reader", &["history", "--output", "json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    result_of(&out)["deployments"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_runners_deploying_one_service_at_once_exactly_one_proceeds_every_round() {
    // A bake keeps the winner's lock held while the others arrive.
    let world = shared("bake = \"8s\"").await;
    for (round, version) in ["1.1.0", "1.0.0"].into_iter().enumerate() {
        let children: Vec<_> = (0..8)
            .map(|n| {
                let name = format!("runner-{round}-{n}");
                let mut command = runner_command(&world, &name, &["deploy", "test", &format!("web={version}")]);
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
                (name, command.spawn().unwrap())
            })
            .collect();
        let outputs: Vec<(String, Output)> = tokio::task::spawn_blocking(move || {
            children.into_iter().map(|(name, child)| (name, child.wait_with_output().unwrap())).collect()
        })
        .await
        .unwrap();
        let winners: Vec<&String> = outputs.iter().filter(|(_, o)| o.status.success()).map(|(name, _)| name).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one proceeds: {:?}",
            outputs.iter().map(|(n, o)| (n, text(o))).collect::<Vec<_>>()
        );
        let winner = winners[0];
        for (name, output) in outputs.iter().filter(|(name, _)| name != winner) {
            assert_eq!(output.status.code(), Some(7), "round {round}: {name} is refused the lock: {}", text(output));
            assert!(
                text(output).contains(&format!("is being deployed by {winner}@")),
                "round {round}: {name} names the holder: {}",
                text(output)
            );
        }
        let recorded: Vec<Value> = shared_history(&world).await.into_iter().filter(|d| d["to_version"] == json!(version)).collect();
        assert_eq!(recorded.len(), 1, "round {round}: one deployment of {version} in the shared ledger: {recorded:?}");
        assert_eq!(recorded[0]["who"], json!(winner), "round {round}");
        assert_eq!(recorded[0]["outcome"], json!("succeeded"), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_with_nothing_on_disk_sees_what_the_others_recorded_and_rejected() {
    let world = shared("").await;
    let deployed = runner(&world, "alice", &["deploy", "test", "web=1.1.0"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
    let history = shared_history(&world).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!((history[0]["who"].clone(), history[0]["to_version"].clone()), (json!("alice"), json!("1.1.0")));

    let created = runner(&world, "alice", &["release", "create", "--from-env", "test", "--output", "json"]).await;
    assert!(created.status.success(), "{}", text(&created));
    let id = result_of(&created)["release"]["id"].as_str().map(str::to_string).unwrap_or_else(|| panic!("{}", text(&created)));
    let rejected = runner(&world, "bob", &["release", "reject", &id, "--reason", "breaks checkout"]).await;
    assert!(rejected.status.success(), "{}", text(&rejected));
    // A third runner, empty disk: the rejection is there.
    let shown = runner(&world, "carol", &["release", "show", &id, "--output", "json"]).await;
    assert!(shown.status.success(), "{}", text(&shown));
    assert_eq!(result_of(&shown)["release"]["rejected"]["by"], json!("bob"), "{}", text(&shown));
    // Nothing was written on any runner's disk.
    let files: Vec<_> = walk(&world.dir.path().join("runners")).into_iter().filter(|p| p.is_file()).collect();
    assert!(files.is_empty(), "runners keep nothing: {files:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_ledger_exported_and_imported_into_the_shared_table_keeps_its_history() {
    let world = shared("").await;
    // History made the old way: this machine's SQLite file.
    for version in ["1.1.0", "1.0.0"] {
        let out = world.ferry(&["deploy", "test", &format!("web={version}")]).await;
        assert!(out.status.success(), "{}", text(&out));
    }
    let file = world.dir.path().join("history.json");
    let exported = world.ferry(&["ledger", "export", "--file", file.to_str().unwrap()]).await;
    assert!(exported.status.success(), "{}", text(&exported));
    assert!(text(&exported).contains("exported 2 deployments"), "{}", text(&exported));

    let imported = runner(&world, "admin", &["ledger", "import", file.to_str().unwrap(), "--output", "json"]).await;
    assert!(imported.status.success(), "{}", text(&imported));
    assert_eq!(result_of(&imported)["counts"]["deployments_added"], json!(2), "{}", text(&imported));
    let history = shared_history(&world).await;
    let versions: Vec<&Value> = history.iter().map(|d| &d["to_version"]).collect();
    assert_eq!(versions, [&json!("1.0.0"), &json!("1.1.0")]);
    // Again: nothing added twice.
    let again = runner(&world, "admin", &["ledger", "import", file.to_str().unwrap(), "--output", "json"]).await;
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(result_of(&again)["counts"]["deployments_added"], json!(0), "{}", text(&again));
    assert_eq!(result_of(&again)["counts"]["deployments_present"], json!(2), "{}", text(&again));
    // A file that is not an export: refused, nothing written.
    std::fs::write(world.dir.path().join("not.json"), "{\"hello\": 1}").unwrap();
    let refused = runner(&world, "admin", &["ledger", "import", world.dir.path().join("not.json").to_str().unwrap()]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert_eq!(shared_history(&world).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ledger_settings_are_refused_clearly_and_change_nothing_in_ecs() {
    let world = shared("").await;
    let before = world.service("web").await.task_definition().unwrap().to_string();
    let base = std::fs::read_to_string(world.config()).unwrap();
    let without_ledger = base.split("\n[ledger]").next().unwrap().to_string();

    // A table nobody created: exit 8, naming it and `ferry ledger init`.
    std::fs::write(world.config(), format!("{without_ledger}{}", ledger_section(&world, "no-such-table"))).unwrap();
    let out = runner(&world, "alice", &["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    assert!(text(&out).contains("no-such-table") && text(&out).contains("ferry ledger init"), "{}", text(&out));

    // Settings that make no sense: exit 2, naming the key.
    for (section, key) in [
        ("\n[ledger]\nbackend = \"dynamodb\"\n", "ledger.table"),
        ("\n[ledger]\nbackend = \"dynamodb\"\ntable = \"x\"\n", "ledger.table"),
        ("\n[ledger]\ntable = \"ferry-ledger\"\n", "ledger.table"),
        ("\n[ledger]\nbackend = \"postgres\"\n", "backend"),
        ("\n[ledger]\nbackend = \"dynamodb\"\ntable = \"t-1\"\ncredentials = \"ferry-local\"\n", "ledger.credentials"),
    ] {
        std::fs::write(world.config(), format!("{without_ledger}{section}")).unwrap();
        let out = runner(&world, "alice", &["deploy", "test", "web=1.1.0"]).await;
        assert_eq!(out.status.code(), Some(2), "{section}: {}", text(&out));
        assert!(text(&out).contains(key), "{section}: names {key}: {}", text(&out));
    }

    // The table refuses (no permission), or throttles past the retries: exit 8, nothing changed.
    std::fs::write(world.config(), &base).unwrap();
    for (error, said) in [("AccessDeniedException", "AccessDenied"), ("ThrottlingException", "Throttling")] {
        let fault = json!({"action": "dynamodb:*", "error": error, "status": 400});
        let response = world.http.post(format!("{}/_ferry/faults", world.server.endpoint())).json(&fault).send().await.unwrap();
        assert!(response.status().is_success());
        let out = runner(&world, "alice", &["deploy", "test", "web=1.1.0"]).await;
        assert_eq!(out.status.code(), Some(8), "{error}: {}", text(&out));
        assert!(text(&out).contains(TABLE) && text(&out).contains(said), "{error}: {}", text(&out));
        world.http.delete(format!("{}/_ferry/faults", world.server.endpoint())).send().await.unwrap();
    }
    assert_eq!(world.service("web").await.task_definition().unwrap(), before, "nothing changed in ECS");
    assert!(shared_history(&world).await.is_empty(), "nothing recorded");
}

// Locks as leases between processes, straight on the ledger: each racer is this test binary
// run again as a child (`lock_racer_process`), with its own DynamoDB client, as a separate
// CI runner would be.

/// What a racer does, passed to it as JSON in `FERRY_LOCK_RACER`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Racer {
    endpoint: String,
    service: String,
    name: String,
    /// Milliseconds since the Unix epoch: all racers of a round start at once.
    start_at: i64,
    lease_ms: i64,
    /// Keep the lock after winning it (until killed).
    hold: bool,
    /// Retry every 20 ms until the lock is won, for at most this long.
    retry_for_ms: i64,
}

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

#[test]
#[ignore = "a child process of the lock tests below, not a test by itself"]
fn lock_racer_process() {
    let Ok(spec) = std::env::var("FERRY_LOCK_RACER") else { return };
    let racer: Racer = serde_json::from_str(&spec).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let target = ferry_aws::Target::local(&racer.endpoint, ACCOUNT, REGION);
    let ledger = ferry_store::Ledger::from_backend(Box::new(runtime.block_on(ferry_aws::ledger::open(&target, TABLE)).unwrap()));
    let me = ferry_store::LockHolder {
        deployment_id: format!("fd-{}", racer.name),
        who: racer.name.clone(),
        host: format!("host-{}", racer.name),
        pid: std::process::id(),
    };
    std::thread::sleep(std::time::Duration::from_millis(u64::try_from(racer.start_at - now_ms()).unwrap_or(0)));
    let deadline = now_ms() + racer.retry_for_ms;
    let mut refused_by = Vec::new();
    loop {
        let now = now_ms();
        match ledger.acquire_lock("prod", &racer.service, &me, racer.lease_ms, now) {
            Ok(()) => {
                println!("{}", json!({"won": true, "at": now, "lease_until": now + racer.lease_ms, "refused_by": refused_by}));
                break;
            }
            Err(ferry_store::StoreError::LockHeld(info)) => {
                refused_by.push(json!({"at": now, "holder": info.holder.who, "lease_until": info.lease_until}));
                if now_ms() >= deadline {
                    println!("{}", json!({"won": false, "holder": info.holder.who, "refused_by": refused_by}));
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(other) => panic!("{other}"),
        }
    }
    if racer.hold {
        std::thread::sleep(std::time::Duration::from_secs(300));
    }
}

fn spawn_racer(racer: &Racer) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shared_ledger::lock_racer_process", "--ignored", "--nocapture", "--test-threads", "1"])
        .env("FERRY_LOCK_RACER", serde_json::to_string(racer).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The racer's verdict: the JSON line it printed.
fn verdict(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    // libtest prints the test's name on the same line, before what the racer printed.
    stdout
        .lines()
        .find_map(|line| line.find("{\"won\"").and_then(|at| serde_json::from_str::<Value>(&line[at..]).ok()))
        .unwrap_or_else(|| panic!("no verdict: {}", text(output)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_race_for_one_lock_and_a_killed_holder_is_taken_over_after_its_lease_never_before() {
    let world = shared("").await;
    let endpoint = world.server.endpoint();
    for round in 0..3 {
        let start_at = now_ms() + 2_000;
        let racers: Vec<_> = (0..8)
            .map(|n| Racer {
                endpoint: endpoint.clone(),
                service: format!("svc-{round}"),
                name: format!("racer-{round}-{n}"),
                start_at,
                lease_ms: 60_000,
                hold: false,
                retry_for_ms: 0,
            })
            .collect();
        let children: Vec<_> = racers.iter().map(spawn_racer).collect();
        let outputs: Vec<Output> =
            tokio::task::spawn_blocking(move || children.into_iter().map(|c| c.wait_with_output().unwrap()).collect()).await.unwrap();
        let verdicts: Vec<Value> = outputs.iter().map(verdict).collect();
        let winners: Vec<usize> = (0..8).filter(|&n| verdicts[n]["won"] == json!(true)).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one wins: {verdicts:?}");
        let winner = &racers[winners[0]].name;
        for (n, v) in verdicts.iter().enumerate().filter(|(n, _)| *n != winners[0]) {
            assert_eq!(v["holder"], json!(winner), "round {round}: racer {n} names the winner");
        }
    }

    // A holder killed with SIGKILL: its lease is 5 s; another process retries from the moment
    // it is dead and wins only once the lease has run out.
    let holder = Racer {
        endpoint: endpoint.clone(),
        service: "killed".into(),
        name: "holder".into(),
        start_at: 0,
        lease_ms: 5_000,
        hold: true,
        retry_for_ms: 0,
    };
    let mut child = spawn_racer(&holder);
    let stdout = child.stdout.take().unwrap();
    let held: Value = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let mut reader = std::io::BufReader::new(stdout);
        while !line.contains("{\"won\"") {
            line.clear();
            assert!(std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 0, "the holder printed no verdict");
        }
        serde_json::from_str(&line[line.find("{\"won\"").unwrap()..]).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(held["won"], json!(true), "{held}");
    child.kill().unwrap();
    child.wait().unwrap();
    let taker = Racer { name: "taker".into(), hold: false, retry_for_ms: 30_000, ..holder };
    let taker_child = spawn_racer(&taker);
    let output = tokio::task::spawn_blocking(move || taker_child.wait_with_output().unwrap()).await.unwrap();
    let taken = verdict(&output);
    assert_eq!(taken["won"], json!(true), "{taken}");
    let lease_until = held["lease_until"].as_i64().unwrap();
    assert!(taken["at"].as_i64().unwrap() >= lease_until, "taken over at {} before the lease ran out at {lease_until}", taken["at"]);
    let refusals = taken["refused_by"].as_array().unwrap();
    assert!(!refusals.is_empty(), "the dead holder's lease was honoured while it ran: {taken}");
    assert!(refusals.iter().all(|r| r["holder"] == json!("holder") && r["at"].as_i64().unwrap() < lease_until), "{taken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_rejected_on_one_runner_is_refused_on_every_other() {
    let world = crate::promote::two_environments("promote_from = \"dev\"").await;
    let mut config = std::fs::read_to_string(world.config()).unwrap();
    config.push_str(&ledger_section(&world, TABLE));
    std::fs::write(world.config(), config).unwrap();
    assert!(runner(&world, "admin", &["ledger", "init"]).await.status.success());
    let deployed = runner(&world, "alice", &["deploy", "dev", "web=1.1.0"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
    // A dry run records nothing, and says so: the release it names cannot be rejected yet.
    let dry = runner(&world, "bob", &["promote", "dev", "stage", "--dry-run"]).await;
    assert!(text(&dry).contains("is not recorded yet") && text(&dry).contains("ferry release create --from-env dev"), "{}", text(&dry));
    let created = runner(&world, "alice", &["release", "create", "--from-env", "dev", "--output", "json"]).await;
    assert!(created.status.success(), "{}", text(&created));
    let id = result_of(&created)["release"]["id"].as_str().unwrap().to_string();
    let dry = runner(&world, "bob", &["promote", "dev", "stage", "--dry-run", "--output", "json"]).await;
    assert_eq!(
        (result_of(&dry)["release"].clone(), result_of(&dry)["release_recorded"].clone()),
        (json!(id), json!(true)),
        "{}",
        text(&dry)
    );
    let rejected = runner(&world, "bob", &["release", "reject", &id, "--reason", "breaks checkout"]).await;
    assert!(rejected.status.success(), "{}", text(&rejected));

    let stage_before = world.service_in("stage", "web").await.task_definition().unwrap().to_string();
    // carol and dave have nothing on disk: the rejection reaches them through the table.
    let promoted = runner(&world, "carol", &["promote", "dev", "stage"]).await;
    assert_eq!(promoted.status.code(), Some(4), "{}", text(&promoted));
    assert!(text(&promoted).contains("rejected") && text(&promoted).contains("breaks checkout"), "{}", text(&promoted));
    let direct = runner(&world, "dave", &["deploy", "stage", "web=1.1.0"]).await;
    assert_eq!(direct.status.code(), Some(4), "{}", text(&direct));
    assert!(text(&direct).contains(&id) && text(&direct).contains("rejected"), "{}", text(&direct));
    assert_eq!(world.service_in("stage", "web").await.task_definition().unwrap(), stage_before, "nothing changed in stage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_whose_table_is_deleted_under_it_stops_at_its_next_lock_renewal() {
    // The lock is renewed every 30 s: a bake longer than that reaches a renewal.
    let world = shared("bake = \"45s\"").await;
    let mut command = runner_command(&world, "alice", &["deploy", "test", "web=1.1.0"]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    // Once the deploy holds its lock (it is baking), the table goes.
    let target = ferry_aws::Target::local(&world.server.endpoint(), ACCOUNT, REGION);
    let dynamodb = ferry_aws::dynamodb::Client::new(&ferry_aws::sdk_config(&target).await);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let lock = dynamodb
            .get_item()
            .table_name(TABLE)
            .key("pk", ferry_aws::dynamodb::types::AttributeValue::S("lock#test#web".into()))
            .key("sk", ferry_aws::dynamodb::types::AttributeValue::S("lock".into()))
            .send()
            .await
            .unwrap();
        if lock.item().is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the deploy never took its lock");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    dynamodb.delete_table().table_name(TABLE).send().await.unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(output.status.code(), Some(8), "{}", text(&output));
    assert!(text(&output).contains(&format!("there is no DynamoDB table {TABLE}")), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistyped_ledger_url_is_refused_instead_of_becoming_a_local_file() {
    let world = shared("").await;
    let before = world.service("web").await.task_definition().unwrap().to_string();
    for typo in ["DynamoDB://ferry-ledger", "dynamo://ferry-ledger", "dynamodb:/ferry-ledger", "ddb://ferry-ledger"] {
        let mut command = runner_command(&world, "alice", &["deploy", "test", "web=1.1.0"]);
        command.env("FERRY_LEDGER", typo);
        let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
        assert_eq!(out.status.code(), Some(2), "{typo}: {}", text(&out));
        assert!(text(&out).contains("looks like a URL") && text(&out).contains("dynamodb://TABLE"), "{typo}: {}", text(&out));
    }
    assert_eq!(world.service("web").await.task_definition().unwrap(), before, "nothing deployed");
    let stray: Vec<_> =
        std::fs::read_dir(world.dir.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().contains(':')).collect();
    assert!(stray.is_empty(), "no ledger file was created: {stray:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_that_cannot_be_read_ends_every_command_with_a_json_result_and_status_says_so() {
    let world = shared("").await;
    let missing = format!("{}", world.config().display());
    let mut config = std::fs::read_to_string(&missing).unwrap();
    config = config.replace(&format!("table = \"{TABLE}\""), "table = \"no-such-table\"");
    std::fs::write(world.config(), config).unwrap();
    for args in [
        vec!["deploy", "test", "web=1.1.0"],
        vec!["history"],
        vec!["release", "list"],
        vec!["rollback", "test", "web"],
        vec!["status", "test"],
    ] {
        let mut with_json = args.clone();
        with_json.extend(["--output", "json"]);
        let out = runner(&world, "alice", &with_json).await;
        assert_eq!(out.status.code(), Some(8), "{args:?}: {}", text(&out));
        let result = result_of(&out);
        assert_eq!(result["type"], json!("result"), "{args:?}: {}", text(&out));
        assert_eq!(result["exit_code"].as_i64().or_else(|| result["ledger_error"].as_str().map(|_| 8)), Some(8), "{args:?}: {result}");
    }
    // status still shows what runs, and says why the locks are missing.
    let out = runner(&world, "alice", &["status", "test", "--output", "json"]).await;
    let result = result_of(&out);
    assert!(result["ledger_error"].as_str().is_some_and(|e| e.contains("no-such-table")), "{result}");
    assert_eq!(result["services"][0]["service"], json!("web"), "{result}");
}
