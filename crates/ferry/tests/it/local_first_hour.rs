//! The first hour with `ferry local` (issue 15 §4), as a new user lives it, through the
//! built binary: what `up` prints must work as printed; `down`, `status`, `logs` and
//! `push-image` without flags find the running instance and say which; stale records are
//! removed and named; images go into ECR without Docker; the demo keeps its project; the
//! sample app's failure switches do what docs/local.md says; and the docs' walkthrough
//! runs as written.
//!
//! Each test runs in a sandbox: its own HOME and XDG directories (so ferry's records never
//! touch the real ones), and `FERRY_LOCAL_PORT` set to a free port nothing listens on, so a
//! ferry local someone runs on 4590 cannot be found by mistake. Instances listen on port 0.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferry_aws::ecs::types::{ContainerDefinition, KeyValuePair, PortMapping};
use ferry_aws::{Clients, Target};
use rustix::process::{Pid, Signal, kill_process, test_kill_process};
use serde_json::Value;

fn ferry_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A user's machine in a temporary directory.
struct Sandbox {
    root: tempfile::TempDir,
    /// What FERRY_LOCAL_PORT says: free, nothing listens there.
    default_port: u16,
}

/// One `ferry local up --detach`, as it reported itself.
#[derive(Debug, Clone)]
struct Up {
    endpoint: String,
    pid: u32,
    /// The command it said stops it.
    stop: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("home")).unwrap();
        Sandbox { root, default_port: free_port() }
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    fn state_home(&self) -> PathBuf {
        self.home().join(".local").join("state")
    }

    fn registry(&self) -> PathBuf {
        self.state_home().join("ferry").join("local-instances")
    }

    /// A directory for `--state-dir`, resolved the way ferry records it.
    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir.canonicalize().unwrap()
    }

    /// A command with this sandbox's environment: ferry on PATH, no AWS_/FERRY_/XDG_
    /// variables from the machine running the tests.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().to_string();
            if name.starts_with("AWS_") || name.starts_with("FERRY_") || name.starts_with("XDG_") {
                command.env_remove(name);
            }
        }
        let bin_dir = Path::new(ferry_bin()).parent().unwrap();
        let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
        command
            .env("PATH", path)
            .env("HOME", self.home())
            .env("XDG_STATE_HOME", self.state_home())
            .env("XDG_DATA_HOME", self.home().join(".local").join("share"))
            .env("FERRY_LOCAL_PORT", self.default_port.to_string())
            .env("NO_COLOR", "1")
            .current_dir(self.root.path());
        command
    }

    fn ferry(&self, args: &[&str]) -> Output {
        self.command(ferry_bin()).args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs a command line exactly as ferry printed it, through the shell.
    fn shell(&self, line: &str) -> Output {
        self.command("sh").arg("-c").arg(line).stdin(Stdio::null()).output().unwrap()
    }

    fn up(&self, dir: &Path) -> Up {
        let out = self.ferry(&["local", "up", "--detach", "--port", "0", "--state-dir", dir.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        parse_up(&stdout(&out))
    }

    fn records(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(self.registry()) else { return vec![] };
        entries.filter_map(|e| e.ok()).map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap()).collect()
    }
}

impl Drop for Sandbox {
    /// Whatever a failed test left running is stopped.
    fn drop(&mut self) {
        for record in self.records() {
            if let Some(pid) = record["pid"].as_i64().and_then(|p| i32::try_from(p).ok()).and_then(Pid::from_raw) {
                let _ = kill_process(pid, Signal::TERM);
            }
        }
    }
}

fn parse_up(out: &str) -> Up {
    let first = out.lines().next().unwrap_or_default();
    let endpoint =
        first.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).unwrap_or_else(|| panic!("no endpoint in {out}")).to_string();
    let pid =
        first.rsplit_once("(pid ").and_then(|(_, p)| p.trim_end_matches(')').parse().ok()).unwrap_or_else(|| panic!("no pid in {out}"));
    let stop = out
        .split_once("stop it with `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(command, _)| command.to_string())
        .unwrap_or_else(|| panic!("no stop command in {out}"));
    Up { endpoint, pid, stop }
}

fn alive(pid: u32) -> bool {
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false);
    let exists = Pid::from_raw(pid as i32).is_some_and(|pid| test_kill_process(pid).is_ok());
    exists && !zombie
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Starts one task of the sample app from `image` in cluster `dev`, as a user would with
/// the SDK, and waits until it runs and has logged that it listens. Returns its ARN.
fn run_sample_task(endpoint: &str, image: &str) -> String {
    runtime().block_on(async {
        let clients = Clients::new(&Target::local(endpoint, "000000000000", "us-east-1")).await;
        clients.ecs.create_cluster().cluster_name("dev").send().await.unwrap();
        let container = ContainerDefinition::builder()
            .name("web")
            .image(image)
            .essential(true)
            .memory(64)
            .entry_point(ferry_bin())
            .command("sample-app")
            .port_mappings(PortMapping::builder().container_port(8080).build())
            .environment(KeyValuePair::builder().name("SAMPLE_START_DELAY_MS").value("0").build())
            .build();
        let registered = clients.ecs.register_task_definition().family("web").container_definitions(container).send().await.unwrap();
        let arn = registered.task_definition().unwrap().task_definition_arn().unwrap().to_string();
        let ran = clients.ecs.run_task().cluster("dev").task_definition(&arn).send().await.unwrap();
        assert!(ran.failures().is_empty(), "{:?}", ran.failures());
        let task = ran.tasks()[0].task_arn().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let described = clients.ecs.describe_tasks().cluster("dev").tasks(&task).send().await.unwrap();
            let t = &described.tasks()[0];
            assert_ne!(t.last_status(), Some("STOPPED"), "the task stopped: {:?}", t.stopped_reason());
            if t.last_status() == Some("RUNNING") {
                let port = t.containers()[0].network_bindings()[0].host_port().unwrap();
                if reqwest::get(format!("http://127.0.0.1:{port}/")).await.is_ok() {
                    return task;
                }
            }
            assert!(Instant::now() < deadline, "the task never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

// --- down, status, logs: finding the instance `up` started -----------------------------

/// The fault: `up --state-dir X --detach` said "stop it with `ferry local down`", and that
/// command, as printed, answered "not running" while the server kept running.
#[test]
fn down_without_flags_finds_the_instance_up_detach_started() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("my-aws");
    let up = sandbox.up(&dir);
    assert_eq!(up.stop, "ferry local down", "the only instance: the plain command finds it");
    assert!(alive(up.pid));

    let down = sandbox.shell(&up.stop);
    assert!(down.status.success(), "{}", text(&down));
    let said = stdout(&down);
    assert!(said.contains(&format!("stopping ferry local pid {} at {}, state dir {}", up.pid, up.endpoint, dir.display())), "{said}");
    assert!(said.contains(&format!("ferry local stopped (pid {}); state kept in {}", up.pid, dir.display())), "{said}");
    wait_gone(up.pid);
    assert!(dir.join("state.json").exists(), "state saved on the way down");
    assert!(!dir.join("ferry-local.pid").exists(), "its pid file is gone");
    assert!(sandbox.records().is_empty(), "its record is gone: {:?}", sandbox.records());

    let again = sandbox.ferry(&["local", "down"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(stdout(&again).starts_with("ferry local is not running"), "{}", text(&again));
}

/// The fault: `status` without flags looked only in the default state directory.
#[test]
fn status_without_flags_names_the_instance_up_detach_started() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("elsewhere");
    let up = sandbox.up(&dir);

    let status = sandbox.ferry(&["local", "status"]);
    assert!(status.status.success(), "{}", text(&status));
    let said = stdout(&status);
    assert!(said.contains(&format!("ferry local is running at {} (pid {})", up.endpoint, up.pid)), "{said}");
    assert!(said.contains(&format!("state directory: {}", dir.display())), "{said}");
    assert!(said.contains("clusters: 0  services: 0  running tasks: 0  repositories: 0"), "{said}");
    assert!(said.contains("stop it with `ferry local down`"), "{said}");

    let json = sandbox.ferry(&["local", "status", "--json"]);
    assert!(json.status.success(), "{}", text(&json));
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["running"], true);
    assert_eq!(v["pid"], up.pid);
    assert_eq!(v["endpoint"], up.endpoint.as_str());
    assert_eq!(v["stateDir"], dir.to_str().unwrap());
    assert_eq!(v["instances"].as_array().map(Vec::len), Some(1));

    assert!(sandbox.shell(&up.stop).status.success());
    wait_gone(up.pid);
    let after = sandbox.ferry(&["local", "status", "--json"]);
    assert_eq!(after.status.code(), Some(3), "not running is exit 3: {}", text(&after));
    let v: Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(v["running"], false);
}

/// The fault: `logs TASK` without flags looked only in the default state directory.
#[test]
fn logs_without_flags_find_the_task_in_the_state_dir_up_detach_used() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("team-aws");
    let up = sandbox.up(&dir);
    let pushed = sandbox.ferry(&["local", "push-image", "web:1.0.0", "-q"]);
    assert!(pushed.status.success(), "{}", text(&pushed));
    let image = stdout(&pushed).trim().to_string();
    let task = run_sample_task(&up.endpoint, &image);
    let id = task.rsplit('/').next().unwrap();

    let logs = sandbox.ferry(&["local", "logs", &task]);
    assert!(logs.status.success(), "{}", text(&logs));
    assert!(stdout(&logs).contains("sample-app 1.0.0 listening on 127.0.0.1:"), "{}", text(&logs));
    assert_eq!(stderr(&logs).trim(), format!("logs of task {id} from {} (ferry local pid {} at {})", dir.display(), up.pid, up.endpoint));

    let unknown = sandbox.ferry(&["local", "logs", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        stderr(&unknown).contains(&format!(
            "no logs for task 0123456789abcdef0123456789abcdef under {}",
            dir.join("logs").join("0123456789abcdef0123456789abcdef").display()
        )),
        "{}",
        text(&unknown)
    );
    let bad = sandbox.ferry(&["local", "logs", "not a task"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(stderr(&bad).contains("is not a task id or ARN"), "{}", text(&bad));

    assert!(sandbox.shell(&up.stop).status.success());
    wait_gone(up.pid);
}

/// The fault: a ferry local killed with SIGKILL left a pid file behind; commands must say
/// the record is stale, remove it, and `up` must start again in that directory.
#[test]
fn a_killed_instance_leaves_a_stale_record_the_next_command_removes_and_names() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("killed");
    let up = sandbox.up(&dir);
    let _ = kill_process(Pid::from_raw(up.pid as i32).unwrap(), Signal::KILL);
    wait_gone(up.pid);
    assert!(dir.join("ferry-local.pid").exists(), "SIGKILL leaves the pid file");
    assert_eq!(sandbox.records().len(), 1, "and the record");

    let status = sandbox.ferry(&["local", "status"]);
    assert_eq!(status.status.code(), Some(3), "{}", text(&status));
    assert!(
        stderr(&status).contains(&format!(
            "note: removed the stale record of ferry local pid {} at {}, state dir {} (process {} is gone)",
            up.pid,
            up.endpoint,
            dir.display(),
            up.pid
        )),
        "{}",
        text(&status)
    );
    assert!(stdout(&status).starts_with("ferry local is not running"), "{}", text(&status));
    assert!(!dir.join("ferry-local.pid").exists(), "the stale pid file is removed");
    assert!(sandbox.records().is_empty(), "the stale record is removed");

    let down = sandbox.ferry(&["local", "down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(stdout(&down).starts_with("ferry local is not running"), "{}", text(&down));
    assert!(!stderr(&down).contains("stale"), "said once, not again: {}", text(&down));

    let restarted = sandbox.up(&dir);
    assert_ne!(restarted.pid, up.pid);
    assert_eq!(restarted.stop, "ferry local down");
    assert!(sandbox.shell(&restarted.stop).status.success());
    wait_gone(restarted.pid);
}

/// A stale pid file in the directory given with --state-dir is removed and named too.
#[test]
fn a_stale_pid_file_of_a_process_long_gone_is_removed_with_state_dir() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("old");
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(dir.join("ferry-local.pid"), format!(r#"{{"pid":{pid},"endpoint":"http://127.0.0.1:9"}}"#)).unwrap();

    let down = sandbox.ferry(&["local", "down", "--state-dir", dir.to_str().unwrap()]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(stderr(&down).contains(&format!("removed the stale record of ferry local pid {pid} at http://127.0.0.1:9")), "{}", text(&down));
    assert!(stdout(&down).contains(&format!("ferry local is not running in {}", dir.display())), "{}", text(&down));
    assert!(!dir.join("ferry-local.pid").exists());
}

/// The fault behind "say exactly which one": with two instances, `down` without flags must
/// not pick one; each `up` printed a stop command that stops exactly its own.
#[test]
fn down_without_flags_refuses_to_guess_between_two_instances_and_stops_neither() {
    let sandbox = Sandbox::new();
    let (a, b) = (sandbox.dir("a"), sandbox.dir("b"));
    let up_a = sandbox.up(&a);
    let up_b = sandbox.up(&b);
    assert_eq!(up_b.stop, format!("ferry local down --state-dir {}", b.display()), "a second instance is named by its directory");

    let down = sandbox.ferry(&["local", "down"]);
    assert_eq!(down.status.code(), Some(2), "{}", text(&down));
    let said = stderr(&down);
    assert!(said.contains("2 ferry locals are running; say which to stop (nothing was stopped)"), "{said}");
    assert!(said.contains(&format!("ferry local down --state-dir {}", a.display())), "{said}");
    assert!(said.contains(&format!("ferry local down --state-dir {}", b.display())), "{said}");
    assert!(alive(up_a.pid) && alive(up_b.pid), "neither was stopped");

    let status = sandbox.ferry(&["local", "status"]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(stdout(&status).contains(&up_a.endpoint) && stdout(&status).contains(&up_b.endpoint), "{}", text(&status));

    let stop_b = sandbox.shell(&up_b.stop);
    assert!(stop_b.status.success(), "{}", text(&stop_b));
    wait_gone(up_b.pid);
    assert!(alive(up_a.pid), "only b was stopped");

    let stop_a = sandbox.ferry(&["local", "down"]);
    assert!(stop_a.status.success(), "{}", text(&stop_a));
    assert!(
        stdout(&stop_a).contains(&format!("stopping ferry local pid {} at {}, state dir {}", up_a.pid, up_a.endpoint, a.display())),
        "{}",
        text(&stop_a)
    );
    wait_gone(up_a.pid);
}

/// `up` on a port another ferry local holds says which and what to do.
#[test]
fn up_on_a_port_another_ferry_local_holds_names_it_and_suggests_port_0() {
    let sandbox = Sandbox::new();
    let first = sandbox.up(&sandbox.dir("first"));
    let port = first.endpoint.rsplit(':').next().unwrap().to_string();
    let second = sandbox.ferry(&["local", "up", "--detach", "--port", &port, "--state-dir", sandbox.dir("second").to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(3), "{}", text(&second));
    assert!(text(&second).contains(&format!("another ferry local (pid {}) listens there", first.pid)), "{}", text(&second));
    assert!(text(&second).contains("--port 0"), "{}", text(&second));
    assert_eq!(sandbox.records().len(), 1, "the failed one left no record");
    assert!(sandbox.shell(&first.stop).status.success());
    wait_gone(first.pid);
}

// --- push-image: an image in ECR without Docker --------------------------------------

/// The fault: nothing said how to put an image into ferry local's ECR (no /v2/ API).
#[test]
fn push_image_puts_an_image_a_task_runs_from_and_twice_changes_nothing() {
    let sandbox = Sandbox::new();
    let up = sandbox.up(&sandbox.dir("ecr"));

    let first = sandbox.ferry(&["local", "push-image", "team/web:1.0.0"]);
    assert!(first.status.success(), "{}", text(&first));
    let said = stdout(&first);
    assert!(said.starts_with("created ECR repository team/web (account 000000000000, region us-east-1)"), "{said}");
    assert!(said.contains("pushed: 000000000000.dkr.ecr.us-east-1.amazonaws.com/team/web:1.0.0 → sha256:"), "{said}");
    assert!(said.contains(&format!("into ferry local pid {} at {}", up.pid, up.endpoint)), "{said}");
    assert!(said.contains(r#""command":["sample-app"]"#), "it shows how the image maps to a process: {said}");

    let json = |args: &[&str]| -> Value {
        let out = sandbox.ferry(&[&["--output", "json", "local", "push-image"][..], args].concat());
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let again = json(&["team/web:1.0.0"]);
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["createdRepository"], false, "{again}");
    let next = json(&["team/web:1.1.0"]);
    assert_eq!(next["changed"], true);
    assert_ne!(next["digest"], again["digest"], "each tag its own digest, like builds");

    // The digest ECR holds is the one printed, and a task runs from the image.
    let task = run_sample_task(&up.endpoint, again["image"].as_str().unwrap());
    runtime().block_on(async {
        let clients = Clients::new(&Target::local(&up.endpoint, "000000000000", "us-east-1")).await;
        let described = clients.ecs.describe_tasks().cluster("dev").tasks(&task).send().await.unwrap();
        let port = described.tasks()[0].containers()[0].network_bindings()[0].host_port().unwrap();
        let body: Value = reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap().json().await.unwrap();
        assert_eq!(body["digest"], again["digest"], "{body}");
        assert_eq!(body["version"], "1.0.0", "the sample app answers with the image's tag: {body}");
    });

    // A real image's manifest keeps its digest: the SHA-256 of the bytes given.
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":7},"layers":[]}"#;
    let file = sandbox.root.path().join("manifest.json");
    std::fs::write(&file, manifest).unwrap();
    let real = json(&["web:2.0.0", "--manifest", file.to_str().unwrap()]);
    let sha = ferry_registry::Digest::sha256(manifest.as_bytes()).to_string();
    assert_eq!(real["digest"], sha.as_str());

    assert!(sandbox.shell(&up.stop).status.success());
    wait_gone(up.pid);
}

/// Bad input to push-image is refused with what was expected, before anything is sent.
#[test]
fn push_image_refuses_bad_input_and_sends_nothing() {
    let sandbox = Sandbox::new();
    let up = sandbox.up(&sandbox.dir("strict"));
    let empty = sandbox.root.path().join("empty.json");
    std::fs::write(&empty, "{}").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["web"], "has no tag"),
        (vec!["Web:1.0"], "is not an ECR repository name"),
        (vec!["web:-1"], "is not an image tag"),
        (vec!["docker.io/library/web:1"], "docker.io is not an ECR registry"),
        (vec!["web@sha256:0000"], "names a digest"),
        (vec!["web:1", "--account", "12"], "the account must be 12 digits"),
        (vec!["web:1", "--region", "us east 1"], "is not an AWS region"),
        (
            vec!["123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1", "--region", "us-east-1"],
            "the image names region eu-west-1 but --region",
        ),
        (vec!["web:1", "--manifest", "/nonexistent/m.json"], "cannot read the manifest"),
        (vec!["web:1", "--manifest", empty.to_str().unwrap()], "is not an image manifest"),
        (vec!["web:1", "--endpoint-url", "ftp://x"], "--endpoint-url must be an http:// or https:// URL"),
    ];
    for (args, expected) in cases {
        let out = sandbox.ferry(&[&["local", "push-image"][..], &args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(stderr(&out).contains(expected), "{args:?}: expected {expected:?} in {}", text(&out));
    }
    let calls: Value =
        runtime().block_on(async { reqwest::get(format!("{}/_ferry/calls", up.endpoint)).await.unwrap().json().await.unwrap() });
    assert_eq!(calls["total"], 0, "nothing reached ferry local: {calls}");
    assert!(sandbox.shell(&up.stop).status.success());
    wait_gone(up.pid);
}

#[test]
fn push_image_with_no_ferry_local_running_says_how_to_start_one() {
    let sandbox = Sandbox::new();
    let out = sandbox.ferry(&["local", "push-image", "web:1.0.0"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("no ferry local is running"), "{}", text(&out));
    assert!(stderr(&out).contains("start one with `ferry local up --detach`"), "{}", text(&out));
}

// --- the demo keeps its project --------------------------------------------------------

/// The fault: the demo deleted its example project when it ended. Now it keeps it where it
/// says, and the commands it prints to carry on work as printed.
#[test]
fn the_demo_keeps_its_project_and_its_carry_on_commands_work_as_printed() {
    let sandbox = Sandbox::new();
    let demo = sandbox.ferry(&["demo", "--no-failure"]);
    assert!(demo.status.success(), "{}", text(&demo));
    let said = stdout(&demo);
    let dir = sandbox.state_home().join("ferry").join("demo");
    let project = dir.join("project");
    assert!(said.contains(&format!("the example project is kept in {}: ferry.toml and web.json", project.display())), "{said}");
    assert!(project.join("ferry.toml").is_file() && project.join("web.json").is_file());
    let toml = std::fs::read_to_string(project.join("ferry.toml")).unwrap();
    assert!(
        toml.contains(&format!("endpoint_url = \"http://127.0.0.1:{}\"", sandbox.default_port)),
        "where `ferry local up` listens: {toml}"
    );

    let script: Vec<&str> = said
        .split_once("To carry on where the demo stopped:\n")
        .map(|(_, rest)| rest.lines().take_while(|l| l.starts_with("  ")).map(str::trim).collect())
        .unwrap_or_default();
    assert_eq!(script.len(), 5, "{said}");
    let out = sandbox.command("bash").arg("-ec").arg(script.join("\n")).stdin(Stdio::null()).output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.lines().any(|l| l.starts_with("demo") && l.contains(" web ") && l.contains("1.1.0") && l.contains("2/2")),
        "status shows where the demo stopped: {all}"
    );
    assert!(all.lines().any(|l| l.starts_with("web ") && l.contains(" deployed ") && l.contains("1.1.0  1.0.0")), "{all}");
    assert!(all.contains("ferry local stopped"), "{all}");
    assert!(sandbox.records().is_empty(), "nothing left running");

    // Run again: it starts afresh in its own directory.
    let again = sandbox.ferry(&["demo", "--no-failure"]);
    assert!(again.status.success(), "{}", text(&again));
}

#[test]
fn the_demo_refuses_a_directory_that_is_not_its_own_and_leaves_it_untouched() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("precious");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let out = sandbox.ferry(&["demo", "--state-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("is not empty and holds no earlier demo"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing added");
}

// --- the sample app's failure switches ---------------------------------------------------

fn sample_app(sandbox: &Sandbox, env: &[(&str, &str)]) -> Command {
    let mut command = sandbox.command(ferry_bin());
    command.arg("sample-app").stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// The fault: `SAMPLE_CRASH_AFTER=-1` panicked and `SAMPLE_START_DELAY_MS=soon` was
/// ignored, so a rehearsal could pass because of a typo.
#[test]
fn the_sample_app_refuses_a_switch_it_cannot_read_instead_of_ignoring_it() {
    let sandbox = Sandbox::new();
    for (name, value, expected) in [
        ("SAMPLE_CRASH_AFTER", "-1", "SAMPLE_CRASH_AFTER must be a number of seconds"),
        ("SAMPLE_CRASH_AFTER", "inf", "SAMPLE_CRASH_AFTER must be a number of seconds"),
        ("SAMPLE_START_DELAY_MS", "soon", "SAMPLE_START_DELAY_MS must be a number of milliseconds"),
        ("SAMPLE_FAIL_HEALTH", "yes", "SAMPLE_FAIL_HEALTH must be 1 (on) or 0 (off)"),
    ] {
        let out = sample_app(&sandbox, &[(name, value), ("PORT", "0")]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}={value}: {}", text(&out));
        assert!(stderr(&out).contains(expected), "{name}={value}: {}", text(&out));
    }
}

#[test]
fn the_sample_app_crashes_after_the_seconds_it_was_told() {
    let sandbox = Sandbox::new();
    let out = sample_app(&sandbox, &[("SAMPLE_CRASH_AFTER", "0.2"), ("PORT", "0")]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("crashing after 0.2s as asked (SAMPLE_CRASH_AFTER)"), "{}", text(&out));
}

/// Failing health and a slow start, as a health check sees them.
#[test]
fn the_sample_app_fails_its_health_check_and_starts_late_when_told_to() {
    let sandbox = Sandbox::new();
    let port = free_port().to_string();
    let app = sample_app(&sandbox, &[("SAMPLE_FAIL_HEALTH", "1"), ("SAMPLE_START_DELAY_MS", "300"), ("PORT", &port)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let check = || sample_app(&sandbox, &[("PORT", &port)]).arg("--check").output().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let answered = loop {
        let out = check();
        if text(&out).contains("health check answered") {
            break out;
        }
        assert!(Instant::now() < deadline, "never answered: {}", text(&out));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(answered.status.code(), Some(3), "{}", text(&answered));
    assert!(stderr(&answered).contains("health check answered 503 Service Unavailable"), "{}", text(&answered));
    let _ = kill_process(Pid::from_child(&app), Signal::TERM);
    let out = app.wait_with_output().unwrap();
    assert!(stderr(&out).contains("starting slowly as asked (SAMPLE_START_DELAY_MS=300)"), "{}", text(&out));
}

// --- docs/local.md, "The first hour", as written --------------------------------------

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

/// Runs the shell block of docs/local.md between `<!-- MARKER -->` and `<!-- /MARKER -->`
/// as written, in a sandbox, with ferry local's port 4590 replaced by a free one. Returns
/// whether it succeeded and everything it printed; None (with a word on stderr) when the
/// aws CLI or curl is not on PATH.
fn run_docs_block(sandbox: &Sandbox, marker: &str) -> Option<(bool, String)> {
    if !on_path("aws") || !on_path("curl") {
        eprintln!("SKIPPED: the aws CLI and curl are needed on PATH (tests/conformance/run.sh installs the aws CLI)");
        return None;
    }
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/local.md")).unwrap();
    let block = docs
        .split_once(&format!("<!-- {marker} -->"))
        .and_then(|(_, rest)| rest.split_once(&format!("<!-- /{marker} -->")))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("docs/local.md marks a walkthrough with <!-- {marker} -->"));
    let script = block.trim().trim_start_matches("```sh").trim_end_matches("```");
    let port = free_port();
    let script = script.replace("127.0.0.1:4590", &format!("127.0.0.1:{port}"));
    let work = sandbox.dir("work");
    let out = sandbox
        .command("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(&script)
        .env("FERRY_LOCAL_PORT", port.to_string())
        .current_dir(&work)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Some((out.status.success(), text(&out)))
}

/// The walkthrough in docs/local.md runs as written (with the port replaced by a free one):
/// push-image, a cluster and a service with the aws CLI, status, logs, curl, `ferry init
/// --from-service`, `ferry deploy`, `ferry local down`.
#[test]
fn the_first_hour_in_docs_local_md_works_as_written() {
    let sandbox = Sandbox::new();
    let Some((ok, all)) = run_docs_block(&sandbox, "first-hour") else { return };
    assert!(ok, "{all}");
    assert!(all.contains("pushed: 000000000000.dkr.ecr.us-east-1.amazonaws.com/web:1.0.0"), "{all}");
    assert!(all.contains("sample-app 1.0.0 listening on 127.0.0.1:"), "logs found the task: {all}");
    assert!(all.contains(r#"{"version":"1.0.0","image":"000000000000.dkr.ecr.us-east-1.amazonaws.com/web:1.0.0""#), "curl: {all}");
    assert!(all.lines().any(|l| l.starts_with("web ") && l.contains(" deployed ") && l.contains("1.0.0  1.1.0")), "{all}");
    assert!(all.contains("ferry local stopped"), "{all}");
    assert!(sandbox.records().is_empty(), "nothing left running");
}

/// docs/local.md's "Behind a load balancer" runs as written: a load balancer, a target group
/// and a listener made with the aws CLI, a service registered behind them, traffic through
/// the listener's DNSName, `ferry deploy` reporting the healthy targets, the access log.
#[test]
fn behind_a_load_balancer_in_docs_local_md_works_as_written() {
    let sandbox = Sandbox::new();
    let Some((ok, all)) = run_docs_block(&sandbox, "behind-a-load-balancer") else { return };
    assert!(ok, "{all}");
    let healthy_targets = all.lines().filter(|l| l.split_whitespace().nth(1) == Some("healthy")).count();
    assert_eq!(healthy_targets, 2, "describe-target-health shows both tasks healthy: {all}");
    assert!(all.contains(r#"{"version":"1.0.0","image":"000000000000.dkr.ecr.us-east-1.amazonaws.com/shop:1.0.0""#), "curl: {all}");
    assert!(
        all.contains(r#"{"version":"1.1.0","image":"000000000000.dkr.ecr.us-east-1.amazonaws.com/shop:1.1.0""#),
        "curl after deploy: {all}"
    );
    assert!(all.contains("shop-tg 2/2 healthy"), "ferry deploy shows the targets: {all}");
    assert!(all.lines().any(|l| l.starts_with("shop ") && l.contains(" deployed ") && l.contains("1.0.0  1.1.0")), "{all}");
    assert!(
        all.lines().any(|l| l.contains(":8080 GET ") && l.contains(" forward shop-tg 127.0.0.1:") && l.contains(" 200 ")),
        "the access log shows the request, its target group and target: {all}"
    );
    assert!(all.contains("ferry local stopped"), "{all}");
    assert!(sandbox.records().is_empty(), "nothing left running");
}
