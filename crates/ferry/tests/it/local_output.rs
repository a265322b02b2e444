//! `ferry local` prints through the one printer (issue 9, item 4): `--output json` is JSON
//! lines on stdout ending with one result object in the style of the other commands
//! (`"type": "result"`, `"command": "local …"`, `"exit_code"`), and `-q` prints only what a
//! script needs: the endpoint of `up` and `status`, the image of `push-image`, nothing for
//! `down`.
//!
//! Each test runs with its own HOME and XDG directories and `FERRY_LOCAL_PORT` set to a free
//! port nothing listens on; instances listen on port 0.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Every line of stdout parsed as JSON (a line that is not JSON fails the test).
fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{}", text(o))))
        .collect()
}

/// The one result object, the last line, and that it is the only one.
fn result(o: &Output) -> Value {
    let lines = json_lines(o);
    let results: Vec<&Value> = lines.iter().filter(|l| l["type"] == "result").collect();
    assert_eq!(results.len(), 1, "one result object: {}", text(o));
    assert_eq!(lines.last(), Some(results[0]), "the result is the last line: {}", text(o));
    results[0].clone()
}

struct Sandbox {
    root: tempfile::TempDir,
    default_port: u16,
}

impl Sandbox {
    fn new() -> Sandbox {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("home")).unwrap();
        Sandbox { root, default_port: free_port() }
    }

    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir.canonicalize().unwrap()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().to_string();
            if name.starts_with("AWS_") || name.starts_with("FERRY_") || name.starts_with("XDG_") {
                command.env_remove(name);
            }
        }
        let home = self.root.path().join("home");
        command
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join(".local").join("state"))
            .env("XDG_DATA_HOME", home.join(".local").join("share"))
            .env("FERRY_LOCAL_PORT", self.default_port.to_string())
            .env("NO_COLOR", "1")
            .current_dir(self.root.path())
            .stdin(Stdio::null());
        command
    }

    fn ferry(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }
}

fn alive(pid: u32) -> bool {
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false);
    Path::new(&format!("/proc/{pid}")).exists() && !zombie
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops whatever ferry local runs in `dir` when a test ends, also when it failed.
struct Stopper<'a>(&'a Sandbox, PathBuf);

impl Drop for Stopper<'_> {
    fn drop(&mut self) {
        let _ = self.0.ferry(&["-q", "local", "down", "--state-dir", self.1.to_str().unwrap()]);
    }
}

#[test]
fn local_up_status_push_image_and_down_print_one_result_object_in_json() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("aws");
    let state = dir.to_str().unwrap();
    let _stopper = Stopper(&sandbox, dir.clone());

    // Not running: the result says so, with exit code 3, and so does the exit status.
    let none = sandbox.ferry(&["--output", "json", "local", "status", "--state-dir", state]);
    assert_eq!(none.status.code(), Some(3), "{}", text(&none));
    let v = result(&none);
    assert_eq!(
        (v["command"].as_str(), v["exit_code"].as_i64(), v["running"].as_bool()),
        (Some("local status"), Some(3), Some(false)),
        "{v}"
    );
    assert_eq!(v["state_dir"], state, "{v}");

    let up = sandbox.ferry(&["--output", "json", "local", "up", "--detach", "--port", "0", "--state-dir", state]);
    assert!(up.status.success(), "{}", text(&up));
    assert_eq!(json_lines(&up).len(), 1, "one line: {}", text(&up));
    let up = result(&up);
    assert_eq!(
        (up["command"].as_str(), up["exit_code"].as_i64(), up["detached"].as_bool()),
        (Some("local up"), Some(0), Some(true)),
        "{up}"
    );
    let endpoint = up["endpoint"].as_str().unwrap().to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{up}");
    let pid = up["pid"].as_u64().unwrap() as u32;
    assert!(alive(pid), "{up}");
    assert_eq!(up["state_dir"], state, "{up}");
    assert_eq!(up["stop"], "ferry local down", "{up}");
    assert_eq!(up["log"], dir.join("ferry-local.log").to_str().unwrap(), "{up}");

    // `--json` is `--output json`: the same object.
    let by_flag = sandbox.ferry(&["local", "status", "--json"]);
    let by_output = sandbox.ferry(&["--output", "json", "local", "status"]);
    for out in [&by_flag, &by_output] {
        assert!(out.status.success(), "{}", text(out));
        let v = result(out);
        assert_eq!(
            (v["command"].as_str(), v["exit_code"].as_i64(), v["running"].as_bool()),
            (Some("local status"), Some(0), Some(true)),
            "{v}"
        );
        assert_eq!((v["pid"].as_u64(), v["endpoint"].as_str()), (Some(u64::from(pid)), Some(endpoint.as_str())), "{v}");
        assert_eq!((&v["state_dir"], &v["stateDir"]), (&Value::from(state), &Value::from(state)), "{v}");
        assert_eq!(v["details"]["pid"].as_u64(), Some(u64::from(pid)), "{v}");
        assert_eq!(v["instances"].as_array().map(Vec::len), Some(1), "{v}");
    }
    let keys = |o: &Output| result(o).as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&by_flag), keys(&by_output));

    let quiet = sandbox.ferry(&["-q", "local", "status"]);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert_eq!(stdout(&quiet), format!("{endpoint}\n"), "-q: the endpoint only");
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet));

    let pushed = sandbox.ferry(&["--output", "json", "local", "push-image", "team/web:1.0.0"]);
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert_eq!(json_lines(&pushed).len(), 1, "{}", text(&pushed));
    let v = result(&pushed);
    assert_eq!((v["command"].as_str(), v["exit_code"].as_i64()), (Some("local push-image"), Some(0)), "{v}");
    assert_eq!(v["image"], "000000000000.dkr.ecr.us-east-1.amazonaws.com/team/web:1.0.0", "{v}");
    assert!(v["digest"].as_str().is_some_and(|d| d.starts_with("sha256:")), "{v}");
    assert_eq!((v["repository"].as_str(), v["tag"].as_str()), (Some("team/web"), Some("1.0.0")), "{v}");
    assert_eq!(
        (v["account"].as_str(), v["region"].as_str(), v["endpoint"].as_str()),
        (Some("000000000000"), Some("us-east-1"), Some(endpoint.as_str()))
    );
    assert_eq!(
        (v["created_repository"].as_bool(), v["createdRepository"].as_bool(), v["changed"].as_bool()),
        (Some(true), Some(true), Some(true))
    );

    let quiet = sandbox.ferry(&["-q", "local", "push-image", "team/web:1.0.0"]);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert_eq!(stdout(&quiet), "000000000000.dkr.ecr.us-east-1.amazonaws.com/team/web:1.0.0\n", "-q: the image only");
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet));

    // A refusal still ends with a result object; the error is said on stderr, once.
    let refused = sandbox.ferry(&["--output", "json", "local", "push-image", "Web:1"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let v = result(&refused);
    assert_eq!((v["command"].as_str(), v["exit_code"].as_i64()), (Some("local push-image"), Some(2)), "{v}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("error: "), "{}", text(&refused));

    let down = sandbox.ferry(&["--output", "json", "local", "down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert_eq!(json_lines(&down).len(), 1, "no 'stopping' text in JSON: {}", text(&down));
    let v = result(&down);
    assert_eq!((v["command"].as_str(), v["exit_code"].as_i64(), v["stopped"].as_bool()), (Some("local down"), Some(0), Some(true)), "{v}");
    assert_eq!((v["pid"].as_u64(), v["endpoint"].as_str()), (Some(u64::from(pid)), Some(endpoint.as_str())), "{v}");
    assert_eq!(v["state_dir"], state, "{v}");
    wait_gone(pid);

    let again = sandbox.ferry(&["--output", "json", "local", "down"]);
    assert!(again.status.success(), "{}", text(&again));
    let v = result(&again);
    assert_eq!((v["stopped"].as_bool(), v["running"].as_bool(), v["exit_code"].as_i64()), (Some(false), Some(false), Some(0)), "{v}");
}

#[test]
fn local_up_detach_quiet_prints_the_endpoint_and_down_quiet_nothing() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("aws");
    let state = dir.to_str().unwrap();
    let _stopper = Stopper(&sandbox, dir.clone());

    let up = sandbox.ferry(&["-q", "local", "up", "--detach", "--port", "0", "--state-dir", state]);
    assert!(up.status.success(), "{}", text(&up));
    let said = stdout(&up);
    let endpoint = said.trim_end();
    assert!(endpoint.starts_with("http://127.0.0.1:") && !endpoint.contains(char::is_whitespace), "-q: the endpoint only: {said:?}");
    assert!(up.stderr.is_empty(), "{}", text(&up));
    let record: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("ferry-local.pid")).unwrap()).unwrap();
    let pid = record["pid"].as_u64().unwrap() as u32;

    // What the detached one logs is text, whatever the command that started it printed.
    let log = std::fs::read_to_string(dir.join("ferry-local.log")).unwrap();
    assert!(log.contains(&format!("ferry local listening on {endpoint}")), "{log}");

    let down = sandbox.ferry(&["-q", "local", "down", "--state-dir", state]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(down.stdout.is_empty() && down.stderr.is_empty(), "-q: nothing: {}", text(&down));
    wait_gone(pid);
    let again = sandbox.ferry(&["-q", "local", "down", "--state-dir", state]);
    assert!(again.status.success() && again.stdout.is_empty() && again.stderr.is_empty(), "{}", text(&again));

    let status = sandbox.ferry(&["-q", "local", "status", "--state-dir", state]);
    assert_eq!(status.status.code(), Some(3), "{}", text(&status));
    assert!(status.stdout.is_empty(), "not running: nothing on stdout, the error on stderr: {}", text(&status));
}

/// In the foreground, the result comes once it listens, then "stopping" and "stopped".
#[test]
fn local_up_in_the_foreground_prints_its_result_then_its_stop_as_events() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("aws");
    let state = dir.to_str().unwrap();
    let mut child = sandbox
        .command()
        .args(["--output", "json", "local", "up", "--port", "0", "--state-dir", state])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let v: Value = serde_json::from_str(&first).unwrap_or_else(|e| {
        let _ = child.kill();
        panic!("not JSON ({e}): {first:?}")
    });
    assert_eq!((v["type"].as_str(), v["command"].as_str(), v["exit_code"].as_i64()), (Some("result"), Some("local up"), Some(0)), "{v}");
    assert_eq!((v["pid"].as_u64(), v["detached"].as_bool()), (Some(u64::from(child.id())), Some(false)), "{v}");
    assert_eq!(v["state_dir"], state, "{v}");
    assert!(v["endpoint"].as_str().is_some_and(|e| e.starts_with("http://127.0.0.1:")), "{v}");

    let down = sandbox.ferry(&["-q", "local", "down", "--state-dir", state]);
    assert!(down.status.success(), "{}", text(&down));
    let rest: Vec<Value> = lines.map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let events: Vec<(&str, &str)> =
        rest.iter().map(|e| (e["type"].as_str().unwrap_or_default(), e["event"].as_str().unwrap_or_default())).collect();
    assert_eq!(events, [("event", "stopping"), ("event", "stopped")], "{rest:?}");
    assert_eq!(rest[0]["why"], "asked", "{rest:?}");
    assert!(rest.iter().all(|e| e["command"] == "local up" && e["at"].is_string()), "{rest:?}");
}

#[test]
fn local_status_says_a_stale_record_as_a_notice_line_in_json() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("aws");
    let state = dir.to_str().unwrap();
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let record = serde_json::json!({"pid": gone.id(), "endpoint": format!("http://127.0.0.1:{}", free_port()), "stateDir": state});
    std::fs::write(dir.join("ferry-local.pid"), record.to_string()).unwrap();

    let out = sandbox.ferry(&["--output", "json", "local", "status", "--state-dir", state]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{}", text(&out));
    assert_eq!((lines[0]["type"].as_str(), lines[0]["notice"].as_str()), (Some("notice"), Some("stale_record_removed")), "{lines:?}");
    assert_eq!(lines[0]["pid"].as_u64(), Some(u64::from(gone.id())), "{lines:?}");
    assert_eq!(result(&out)["running"], false);
    assert!(!dir.join("ferry-local.pid").exists());
}

#[test]
fn local_logs_prints_a_json_line_per_log_line_and_quiet_only_the_log() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir("aws");
    let state = dir.to_str().unwrap();
    let task = "0123456789abcdef0123456789abcdef";
    let logs = dir.join("logs").join(task);
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("web.log"), "listening on 8080\nGET / 200\n").unwrap();
    std::fs::write(logs.join("sidecar.log"), "ready").unwrap();

    let out = sandbox.ferry(&["--output", "json", "local", "logs", task, "--state-dir", state]);
    assert!(out.status.success(), "{}", text(&out));
    let lines = json_lines(&out);
    let logged: Vec<(&str, &str, &str)> = lines
        .iter()
        .filter(|l| l["type"] == "log")
        .map(|l| (l["task"].as_str().unwrap(), l["container"].as_str().unwrap(), l["line"].as_str().unwrap()))
        .collect();
    assert_eq!(logged, [(task, "sidecar", "ready"), (task, "web", "listening on 8080"), (task, "web", "GET / 200")]);
    let v = result(&out);
    assert_eq!((v["command"].as_str(), v["exit_code"].as_i64(), v["lines"].as_u64()), (Some("local logs"), Some(0), Some(3)), "{v}");
    assert_eq!(v["containers"], serde_json::json!(["sidecar", "web"]), "{v}");

    let plain = sandbox.ferry(&["local", "logs", task, "--state-dir", state]);
    assert!(plain.status.success(), "{}", text(&plain));
    assert_eq!(stdout(&plain), "==> sidecar <==\nready\n==> web <==\nlistening on 8080\nGET / 200\n");
    assert!(String::from_utf8_lossy(&plain.stderr).contains(&format!("logs of task {task} from {state}")), "{}", text(&plain));

    let quiet = sandbox.ferry(&["-q", "local", "logs", task, "--state-dir", state, "--container", "web"]);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert_eq!(stdout(&quiet), "listening on 8080\nGET / 200\n");
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet));

    let missing = sandbox.ferry(&["--output", "json", "local", "logs", "fedcba9876543210", "--state-dir", state]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert_eq!(result(&missing)["command"], "local logs");
}
