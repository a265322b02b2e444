//! What a person reads, as snapshots (issue 9, item 7): `--help` of every command, the
//! tables (`status`, `history`, a deploy's summary, `promote --dry-run`'s plan), a deploy's
//! progress lines in CI (no terminal), and the errors the command line can reach. Each
//! snapshot is one run, jj style: its exit code, then stdout and stderr; ids, times and
//! durations, ports and temporary paths are redacted (see [`settings`]), nothing else.
//!
//! The snapshots are in `snapshots/`; `INSTA_UPDATE=always cargo test -p ferry --test it
//! readable` writes them after a change of wording, to be read and committed. CI (CI=true)
//! fails on any difference.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

/// One run as a person reads it: the exit code, then stdout and stderr, each when not empty.
pub fn shown(output: &Output) -> String {
    let mut shown = match output.status.code() {
        Some(code) => format!("exit: {code}\n"),
        None => format!("exit: {:?}\n", output.status),
    };
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        if !text.is_empty() {
            shown.push_str(&format!("--- {name}\n{text}"));
            if !text.ends_with('\n') {
                shown.push_str("\n[no newline at the end]\n");
            }
        }
    }
    shown
}

/// `shown` without the progress lines of a rollout still in progress.
fn settled_progress(shown: &str) -> String {
    shown.lines().filter(|line| !(line.contains(" rolling: ") && line.ends_with("(IN_PROGRESS)"))).collect::<Vec<_>>().join("\n") + "\n"
}

/// `shown` with the retries of a call to a dead endpoint told once: how many fit in the
/// operation timeout depends on the machine, so the second and later are one line.
fn retries_told_once(shown: &str) -> String {
    let mut out = Vec::new();
    for line in shown.lines() {
        match line.find(", retrying (") {
            Some(at) if !line[at..].starts_with(", retrying (1)") => {
                if out.last() != Some(&"[more retries]") {
                    out.push("[more retries]");
                }
            }
            _ => out.push(line),
        }
    }
    out.join("\n") + "\n"
}

/// `text` as a regex that matches it literally.
fn literal(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The redactions: what changes from run to run and says nothing about the wording.
/// `dirs` are temporary directories a run saw (redacted as `[DIR]`, with any canonical
/// spelling of them).
pub fn settings(dirs: &[&Path]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for dir in dirs {
        let mut spellings = vec![dir.display().to_string()];
        if let Ok(canonical) = dir.canonicalize() {
            spellings.push(canonical.display().to_string());
        }
        spellings.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for spelling in spellings {
            settings.add_filter(&literal(&spelling), "[DIR]");
        }
    }
    let temp = std::env::temp_dir();
    settings.add_filter(&format!(r"{}/\.tmp\w+", literal(temp.display().to_string().trim_end_matches('/'))), "[TMP]");
    // Times: RFC 3339 stamps, then what is counted from a start.
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", "[TIME]");
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", "[TIME]");
    settings.add_filter(r"\+ *\d+\.\ds\b", "+[ELAPSED]");
    // What a run measured ("1.8s", "2m05s"); what a person configured ("10m", "6s") stays.
    settings.add_filter(r"\b(\d+\.\d|\d+m\d\d)s\b", "[DURATION]");
    // Ports (each ferry local listens on a free one).
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r"localhost:\d+", "localhost:[PORT]");
    // Ids: ferry's deployments, promotions and runs; ECS's deployments and tasks.
    settings.add_filter(r"\b(fd|fp|fr|run)-[0-9a-f]{12}\b", "$1-[ID]");
    settings.add_filter(r"ecs-svc/\d+", "ecs-svc/[ID]");
    settings.add_filter(r"\b[0-9a-f]{32}\b", "[TASK]");
    settings.add_filter(r"\bpid \d+", "pid [PID]");
    if let Ok(host) = hostname() {
        settings.add_filter(&format!(r"\b{}\b", literal(&host)), "[HOST]");
    }
    settings
}

fn hostname() -> std::io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?.trim().to_string())
}

/// The ferry binary with nothing from the caller's FERRY_ or AWS_ variables, help wrapped
/// at 100 columns, no colour.
fn ferry_clean(dir: &Path) -> Command {
    let mut command = Command::new(ferry_bin());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().to_string();
        if name.starts_with("AWS_") || name.starts_with("FERRY_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1").env("COLUMNS", "100").env("FERRY_USER", "tester").current_dir(dir);
    command
}

/// The subcommands a `--help` lists under "Commands:", but `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn help_of_every_command() {
    let dir = tempfile::tempdir().unwrap();
    // Help says the same on every run: nothing to redact.
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let output = ferry_clean(dir.path()).args(&path).arg("--help").output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{path:?}: {}", text(&output));
        let help = String::from_utf8_lossy(&output.stdout).to_string();
        let name = if path.is_empty() { "help".to_string() } else { format!("help_{}", path.join("_")) };
        settings.bind(|| insta::assert_snapshot!(name, shown(&output)));
        seen += 1;
        for sub in subcommands(&help) {
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
    }
    // ferry, its 14 commands, release's and local's subcommands.
    assert!(seen > 20, "{seen} commands");
}

/// A snapshot of one run of `world`'s project, its directory redacted.
fn snapshot(world: &World, name: &str, output: &Output) {
    settings(&[world.dir.path()]).bind(|| insta::assert_snapshot!(name, shown(output)));
}

/// Bad input, one run each against one project: the command line, ferry.toml, the names in
/// it. Each is refused with exit 2 before any call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_of_bad_input() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let config = std::fs::read_to_string(world.config()).unwrap();
    let region = format!("region = \"{REGION}\"\n");
    let cases: &[(&str, &[&str], Option<String>)] = &[
        ("error_cli_unknown_command", &["deploi", "test", "web=1.1.0"], None),
        ("error_cli_unknown_flag", &["deploy", "test", "web=1.1.0", "--dryrun"], None),
        ("error_cli_deploy_without_services", &["deploy", "test"], None),
        ("error_cli_service_without_version", &["deploy", "test", "web"], None),
        ("error_cli_empty_version", &["deploy", "test", "web="], None),
        ("error_cli_var_without_equals", &["deploy", "test", "web=1.1.0", "--var", "BUILD_URL"], None),
        ("error_cli_output_yaml", &["status", "--output", "yaml"], None),
        ("error_cli_bad_timeout", &["deploy", "test", "web=1.1.0", "--timeout", "ten minutes"], None),
        ("error_cli_quiet_and_verbose", &["status", "-q", "-v"], None),
        ("error_unknown_environment_deploy", &["deploy", "tset", "web=1.1.0"], None),
        ("error_unknown_environment_status", &["status", "tset"], None),
        ("error_unknown_environment_history", &["history", "tset"], None),
        ("error_unknown_environment_promote", &["promote", "test", "prod"], None),
        ("error_unknown_service_deploy", &["deploy", "test", "wbe=1.1.0"], None),
        ("error_unknown_service_unlock", &["unlock", "test", "wbe", "--reason", "stuck"], None),
        ("error_unlock_without_reason", &["unlock", "test", "web"], None),
        ("error_config_missing", &["status"], Some(String::new())),
        ("error_config_toml_syntax", &["status"], Some(config.replace("[services.web]", "[services.web"))),
        ("error_config_unknown_field", &["status"], Some(config.replace(&region, &format!("{region}clustr = \"x\"\n")))),
        ("error_config_missing_cluster", &["status"], Some(config.replace(&format!("cluster = \"{CLUSTER}\"\n"), ""))),
        ("error_config_region_typo", &["deploy", "test", "web=1.1.0"], Some(config.replace(&region, "region = \"us-east1\"\n"))),
        (
            "error_config_bad_duration",
            &["deploy", "test", "web=1.1.0"],
            Some(config.replace(&region, &format!("{region}timeout = \"soon\"\n"))),
        ),
        ("error_config_no_services", &["status"], Some(config[..config.find("[services.web]").unwrap()].to_string())),
    ];
    world.reset_calls().await;
    for (name, args, changed) in cases {
        match changed {
            Some(text) if text.is_empty() => std::fs::remove_file(world.config()).unwrap(),
            Some(text) => std::fs::write(world.config(), text).unwrap(),
            None => {}
        }
        let output = world.ferry(args).await;
        std::fs::write(world.config(), &config).unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}: {}", text(&output));
        snapshot(&world, name, &output);
    }
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
}

/// What goes wrong past the input: a version or a service that is not there, a template
/// that does not render, an endpoint nobody answers on, a ledger that is not one, a lock
/// another deploy holds. Each with its own exit code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_of_the_world() {
    let world = World::new("", &["web", "api"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let config = std::fs::read_to_string(world.config()).unwrap();

    let output = world.ferry(&["deploy", "test", "web=9.9.9"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    snapshot(&world, "error_image_not_found", &output);

    let output = world.ferry(&["deploy", "test", "api=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    snapshot(&world, "error_service_not_found", &output);

    std::fs::write(world.config(), config.replace(&format!("cluster = \"{CLUSTER}\""), "cluster = \"dev\"")).unwrap();
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    std::fs::write(world.config(), &config).unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    snapshot(&world, "error_cluster_not_found", &output);

    let output = world.ferry(&["status"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    snapshot(&world, "error_status_with_a_service_not_found", &output);

    let broken = template().replace("\"value\": \"{{ version }}\"", "\"value\": \"{{ verison }}\"");
    std::fs::write(world.dir.path().join("app.json"), &broken).unwrap();
    for command in ["check", "deploy"] {
        let args: &[&str] = if command == "check" { &["check"] } else { &["deploy", "test", "web=1.1.0"] };
        let output = world.ferry(args).await;
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        snapshot(&world, &format!("error_template_undefined_variable_{command}"), &output);
    }
    std::fs::write(world.dir.path().join("app.json"), template()).unwrap();

    // Nobody listens on the port: said at once, naming `ferry local up`.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(world.config(), config.replace(&world.server.endpoint(), &format!("http://127.0.0.1:{closed}"))).unwrap();
    for (name, args, code) in
        [("error_unreachable_deploy", &["deploy", "test", "web=1.1.0"][..], 3), ("error_unreachable_status", &["status"][..], 3)]
    {
        let output = world.ferry(args).await;
        assert_eq!(output.status.code(), Some(code), "{name}: {}", text(&output));
        let shown = shown(&output);
        assert!(shown.contains("endpoint unreachable, retrying (1)"), "each retry is told: {shown}");
        settings(&[world.dir.path()]).bind(|| insta::assert_snapshot!(name, retries_told_once(&shown)));
    }
    std::fs::write(world.config(), &config).unwrap();

    // Two deploys of one service at once: one is refused, naming the holder.
    let (a, b) = tokio::join!(world.ferry(&["deploy", "test", "web=1.1.0-slow"]), world.ferry(&["deploy", "test", "web=1.1.0-slow"]));
    let refused = if a.status.code() == Some(7) { &a } else { &b };
    assert_eq!(refused.status.code(), Some(7), "{}\n{}", text(&a), text(&b));
    snapshot(&world, "error_lock_held", refused);

    std::fs::write(world.ledger(), b"this is not an SQLite database, just some bytes that are long enough").unwrap();
    for (name, args) in
        [("error_ledger_unreadable_history", &["history"][..]), ("error_ledger_unreadable_deploy", &["deploy", "test", "web=1.0.0"][..])]
    {
        let output = world.ferry(args).await;
        assert_eq!(output.status.code(), Some(8), "{name}: {}", text(&output));
        snapshot(&world, name, &output);
    }
}

/// A deploy as CI shows it (no terminal: a timestamped line per step), the summary it ends
/// with, then `status` and `history`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_in_ci_then_status_and_history() {
    // ferry's own task-failure limit high, so ECS's circuit breaker acts first (as in deploy.rs).
    let world = World::new("max_task_failures = 50", &["web", "worker"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    world.create_service("worker", 1, "1.0.0", true).await;

    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    // How many in-between progress lines a run shows depends on when ferry looked (ECS's
    // events are all shown, in order): those are left out, the last (COMPLETED) one kept.
    let settled = settled_progress(&shown(&output));
    assert!(settled.contains("rolling: new 1/1 running (COMPLETED)"), "{settled}");
    settings(&[world.dir.path()]).bind(|| insta::assert_snapshot!("deploy_in_ci", settled));

    // Two services at once: their progress lines interleave as they happen, so only the
    // summary (-q: errors and the result).
    let output = world.ferry(&["deploy", "test", "web=2.0.0-crash", "worker=1.1.0", "-q"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    // The reason is worded by what ferry saw first: ECS's rollback event ("ECS deployment
    // circuit breaker: tasks failed to start.") or its deployment gone from the list ("ECS's
    // deployment circuit breaker rolled deployment ... back to ...; ours is no longer listed").
    let shown = shown(&output);
    assert!(shown.contains("circuit breaker") && shown.contains("rolled back to web:2"), "{shown}");
    let mut settings = settings(&[world.dir.path()]);
    settings.add_filter(
        r"web: ECS('s)? deployment circuit breaker.*? \(last stopped task",
        "web: [ECS's circuit breaker rolled back] (last stopped task",
    );
    settings.bind(|| insta::assert_snapshot!("deploy_in_ci_one_fails", shown));

    let output = world.ferry(&["plan", "test", "worker=1.0.0"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    snapshot(&world, "plan", &output);

    let output = world.ferry(&["status"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    snapshot(&world, "status", &output);

    // One service: the services of one run start in the same millisecond, in no set order.
    let output = world.ferry(&["history", "test", "web"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    // The failed deploy's reason has the two wordings above.
    settings.add_filter(
        r"ECS('s)? deployment circuit breaker.*? \(last stopped task",
        "[ECS's circuit breaker rolled back] (last stopped task",
    );
    settings.bind(|| insta::assert_snapshot!("history", crate::readable::shown(&output)));
}

/// `promote --dry-run`'s plan: per service, what runs in the target and what will.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_dry_run_plan() {
    let world = World::new("", &[]).await;
    let endpoint = world.server.endpoint();
    let mut config = String::new();
    for (env, extra) in [("dev", ""), ("stage", "promote_from = \"dev\"\n")] {
        config.push_str(&format!(
            "[environments.{env}]\nregion = \"{REGION}\"\ncluster = \"{env}\"\nendpoint_url = \"{endpoint}\"\ncredentials = \"ferry-local\"\nbake = \"0s\"\n{extra}\n"
        ));
    }
    for service in ["api", "web"] {
        config.push_str(&format!("[services.{service}]\nrepository = \"{REPOSITORY}\"\ncontainer = \"app\"\ntemplate = \"app.json\"\n\n"));
    }
    std::fs::write(world.config(), config).unwrap();
    for cluster in ["dev", "stage"] {
        world.clients.ecs.create_cluster().cluster_name(cluster).send().await.unwrap();
        for service in ["api", "web"] {
            world.create_service_in(cluster, service, 1, "1.0.0", true).await;
        }
    }
    // What runs healthy in dev comes from ECS, the ledger empty: what stage runs already.
    let output = world.ferry(&["promote", "dev", "stage", "--dry-run"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    snapshot(&world, "promote_dry_run_nothing_to_promote", &output);

    let deployed = world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.0.0"]).await;
    assert_eq!(deployed.status.code(), Some(0), "{}", text(&deployed));
    let output = world.ferry(&["promote", "dev", "stage", "--dry-run"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    snapshot(&world, "promote_dry_run", &output);

    let output = world.ferry(&["status"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    snapshot(&world, "status_two_environments", &output);
}
