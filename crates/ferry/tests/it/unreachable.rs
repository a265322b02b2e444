//! Never silent, never slow to say so (issue 8, item 9): with the endpoint down, a deploy
//! printed nothing for 81–256 s, one stalled call held a deploy 300 s past its deadline, and
//! `ferry status` took 61 s. Each test is one kind of dead endpoint, through the binary:
//! the exit code (3), the retry told within seconds, the final message naming the cause and
//! the fix, and a generous upper bound on the time that proves calls no longer run for
//! minutes (timings are otherwise not asserted).

use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};

/// The operation timeout is 20 s; a command that makes one such call ends well within this.
const BOUND: Duration = Duration::from_secs(40);

/// A project whose only environment points at `endpoint` with ferry local's credentials and
/// a 3 s deploy timeout.
fn project(endpoint: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferry.toml"),
        format!(
            "[environments.dev]\nregion = \"us-east-1\"\ncluster = \"dev\"\nendpoint_url = \"{endpoint}\"\ncredentials = \"ferry-local\"\ntimeout = \"3s\"\n\n[services.web]\nrepository = \"web\"\ncontainer = \"web\"\nfrom = \"live\"\n"
        ),
    )
    .unwrap();
    dir
}

/// Runs ferry in the project; the output and how long it took.
async fn ferry_in(dir: &std::path::Path, args: &[&str]) -> (Output, Duration) {
    let mut command = std::process::Command::new(ferry_bin());
    command
        .args(args)
        .arg("--config")
        .arg(dir.join("ferry.toml"))
        .arg("--ledger")
        .arg(dir.join("ledger.sqlite"))
        .env("NO_COLOR", "1")
        .env_remove("FERRY_OUTPUT")
        .current_dir(dir);
    let start = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    (output, start.elapsed())
}

/// The line of the deploy's summary that gives a service's reason.
fn reason_line(output: &Output, service: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{service}: ")))
        .unwrap_or_else(|| panic!("no reason for {service}: {}", text(output)))
        .to_string()
}

/// The retry lines on stderr, without their timestamps.
fn retry_lines(output: &Output) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.lines().filter_map(|l| l.find("endpoint unreachable, retrying").map(|at| l[at..].to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_with_ferry_local_down_says_so_within_seconds_and_names_ferry_local_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = project(&endpoint);
    let (output, took) = ferry_in(dir.path(), &["deploy", "dev", "web=1.0.0"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert_eq!(
        reason_line(&output, "web"),
        format!(
            "web: ecs:DescribeClusters: cannot reach {endpoint}: connection refused: nothing listens there. Is ferry local running? Start it with `ferry local up --detach` (it prints its endpoint), or correct the URL (environments.dev.endpoint_url in ferry.toml)"
        )
    );
    let retries = retry_lines(&output);
    assert_eq!(
        retries.first().map(String::as_str),
        Some(
            format!("endpoint unreachable, retrying (1): ecs:DescribeClusters at {endpoint}: connection refused: nothing listens there")
                .as_str()
        ),
        "{}",
        text(&output)
    );
    // Told at once (the first back-off is at most 1 s), not after a minute of silence.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().find(|l| l.contains("retrying (1)")).unwrap();
    let at: f64 = first.split('+').nth(1).and_then(|t| t.trim_start().split('s').next()).and_then(|t| t.parse().ok()).unwrap();
    assert!(at < 5.0, "the first retry was told at +{at}s: {first}");
    assert!(took < BOUND, "took {took:?}");
    println!("closed port: deploy exited 3 after {took:?}, {} retries told, the first at +{at}s", retries.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_against_a_port_that_never_answers_exits_3_within_the_operation_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let dir = project(&endpoint);
    let (output, took) = ferry_in(dir.path(), &["status", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let result = result_of(&output);
    assert_eq!(
        result["services"][0]["error"],
        format!(
            "ecs:DescribeServices: cannot reach {endpoint}: it accepted the connection but sent no answer within 5s. Something listens there but does not answer like ferry local: check `ferry local status` (or restart it with `ferry local down` and `ferry local up --detach`), or correct the URL (environments.dev.endpoint_url in ferry.toml)"
        )
    );
    // With --output json, each retry is a notice line before the result.
    let notices: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "notice")
        .collect();
    let first = notices.first().unwrap_or_else(|| panic!("no notice: {}", text(&output)));
    assert_eq!(
        (first["notice"].clone(), first["operation"].clone(), first["retry"].clone(), first["endpoint"].clone(), first["problem"].clone()),
        (
            json!("endpoint_unreachable"),
            json!("ecs:DescribeServices"),
            json!(1),
            json!(endpoint),
            json!("it accepted the connection but sent no answer within 5s")
        )
    );
    assert!(took < BOUND, "took {took:?}");
    println!("silent port: status exited 3 after {took:?}, {} retries told", notices.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_against_a_web_server_says_the_url_is_no_aws_endpoint() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let _ = socket.read(&mut buffer).await;
                let body = "<!DOCTYPE html><html><body><h1>It works!</h1></body></html>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    let dir = project(&endpoint);
    let (output, took) = ferry_in(dir.path(), &["deploy", "dev", "web=1.0.0"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert_eq!(
        reason_line(&output, "web"),
        format!(
            "web: ecs:DescribeClusters: {endpoint} is not an AWS API endpoint: it answered with an HTML page (HTTP 200), not as an AWS API does. Check the URL (environments.dev.endpoint_url in ferry.toml): `ferry local status` prints ferry local's endpoint (if it is not running, start it with `ferry local up --detach`)"
        )
    );
    assert!(took < BOUND, "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_stalled_in_the_watch_does_not_hold_the_deploy_past_its_deadline() {
    use std::io::BufRead;
    let world = World::new("timeout = \"3s\"\nrollback_timeout = \"3s\"", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    let mut child = std::process::Command::new(ferry_bin())
        .args(["deploy", "test", "web=2.0.0-unhealthy", "--output", "json", "--config"])
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .env("FERRY_USER", "tester")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Once UpdateService created the deployment, every DescribeServices stalls for 300 s.
    let (lines, updated) = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            lines.push(line.clone());
            if line.contains("\"phase\":\"updated\"") {
                return (lines, Some(reader));
            }
            line.clear();
        }
        (lines, None)
    })
    .await
    .unwrap();
    let mut reader = updated.unwrap_or_else(|| panic!("the deploy never updated the service: {}", lines.join("")));
    let fault = json!({"action": "ecs:DescribeServices", "latencyMs": 300_000});
    let response = world.http.post(format!("{}/_ferry/faults", world.server.endpoint())).json(&fault).send().await.unwrap();
    assert!(response.status().is_success());
    let stalled = Instant::now();
    // Wait for the deploy to end, or give up well before the stall would have ended it.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if stalled.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("the deploy was still waiting on a stalled call {:?} after the fault", stalled.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = stalled.elapsed();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let result: Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    // The deployment could not be looked at past its deadline: it failed there, and the
    // rollback (which could not be looked at either) failed on its own deadline.
    assert_eq!(status.code(), Some(6), "{rest}");
    let reason = result["services"][0]["reason"].as_str().unwrap();
    assert!(
        reason
            .starts_with("the deployment was not seen to complete within 3s: ecs:DescribeServices: no answer before the deadline (waited "),
        "{reason}"
    );
    assert!(reason.contains("the rollback failed too: the rollback was not seen to complete within 3s"), "{reason}");
    world.http.delete(format!("{}/_ferry/faults", world.server.endpoint())).send().await.unwrap();
    // The deadline (3 s) and the rollback's (3 s), each with at most one late look (2 s):
    // bounded by seconds, not by the stalled call's 300 s.
    assert!(took < BOUND, "took {took:?} after the fault");
    println!("stalled watch: the deploy ended {took:?} after every DescribeServices began to stall for 300 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_in_the_middle_of_a_deploy_ends_it_at_its_deadline_not_four_times_later() {
    use std::io::BufRead;
    let world = World::new("timeout = \"3s\"\nrollback_timeout = \"3s\"", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    let endpoint = world.server.endpoint();
    let mut child = std::process::Command::new(ferry_bin())
        .args(["deploy", "test", "web=2.0.0-unhealthy", "--output", "json", "--config"])
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .env("FERRY_USER", "tester")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, updated) = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            lines.push(line.clone());
            if line.contains("\"phase\":\"updated\"") {
                return (lines, Some(reader));
            }
            line.clear();
        }
        (lines, None)
    })
    .await
    .unwrap();
    let mut reader = updated.unwrap_or_else(|| panic!("the deploy never updated the service: {}", lines.join("")));
    // ferry local goes away: its port refuses connections from now on.
    let World { server, dir: _dir, .. } = world;
    server.shutdown().await;
    let down = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if down.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("the deploy was still going {:?} after the endpoint went down", down.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = down.elapsed();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let result: Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    assert_eq!(status.code(), Some(6), "{rest}");
    // Said while it happened: a notice for each retry of a look at the deployment.
    let notices: Vec<Value> =
        rest.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v["type"] == "notice").collect();
    assert!(
        notices.iter().any(|n| n["notice"] == "endpoint_unreachable"
            && n["operation"] == "ecs:DescribeServices"
            && n["problem"] == "connection refused: nothing listens there"),
        "{rest}"
    );
    // The reason: the deadline, then the rollback that could not start, naming the fix.
    let reason = result["services"][0]["reason"].as_str().unwrap();
    assert!(
        reason
            .starts_with("the deployment was not seen to complete within 3s: ecs:DescribeServices: no answer before the deadline (waited "),
        "{reason}"
    );
    assert!(
        reason.ends_with(&format!(
            "the rollback could not start: ecs:UpdateService: cannot reach {endpoint}: connection refused: nothing listens there. Is ferry local running? Start it with `ferry local up --detach` (it prints its endpoint), or correct the URL (environments.test.endpoint_url in ferry.toml)"
        )),
        "{reason}"
    );
    assert!(took < BOUND, "took {took:?} after the endpoint went down");
    println!("endpoint down mid-deploy: the deploy ended {took:?} after it (timeout 3s), {} retries told; {reason}", notices.len());
}
