//! Latency of the ledger's operations: the shared ledger on a DynamoDB endpoint (ferry local)
//! against the embedded SQLite ledger (a file in a temporary directory), one operation at a
//! time from one thread, as a deploy calls them.
//!
//! ```sh
//! ferry local up --detach --port 4599 --state-dir /tmp/fl
//! cargo run --release -p ferry-aws --example ledger_latency -- --endpoint http://127.0.0.1:4599 [--n 500] [--warmup 50] [--json]
//! ```
//!
//! For each backend, after `--warmup` rounds of every operation (on keys of their own), each
//! operation is timed `--n` times: acquire_lock, release_lock (and the pair), renew_lock,
//! insert_deployment, record_event, start_step + finish_step, update_deployment (to
//! succeeded), unfinished, history (limit 20). The DynamoDB ledger gets a fresh table made by
//! `ferry_aws::ledger::init`. When the endpoint is ferry local, the AWS calls each operation
//! made are counted (`GET /_ferry/calls` before and after; `DELETE /_ferry/calls` resets) and
//! printed per operation. Prints a markdown table of p50/p90/p99/max in milliseconds, or, with
//! `--json`, the same numbers as JSON.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_aws::Target;
use ferry_store::{DeploymentRecord, EventRecord, HistoryFilter, Ledger, LockHolder, Outcome, StepState};

type Error = Box<dyn std::error::Error>;

const ENVIRONMENT: &str = "bench";
/// Deployments are spread over this many services, as a project's history is.
const SERVICES: usize = 10;
const LEASE_MS: i64 = 10 * 60 * 1000;
/// The most rounds one run may time, so every loop here is bounded.
const MAX_N: usize = 10_000;
/// Step names a rolling deploy journals, in turn.
const STEPS: [&str; 3] = ["register_task_definition", "update_service", "watch"];

struct Args {
    endpoint: String,
    n: usize,
    warmup: usize,
    json: bool,
    table: Option<String>,
}

fn usage() -> String {
    "usage: ledger_latency --endpoint URL [--n 500] [--warmup 50] [--table NAME] [--json]".to_string()
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args { endpoint: String::new(), n: 500, warmup: 50, json: false, table: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value; {}", usage()));
        match arg.as_str() {
            "--endpoint" => args.endpoint = value()?,
            "--n" => args.n = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "--table" => args.table = Some(value()?),
            "--json" => args.json = true,
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}; {}", usage()).into()),
        }
    }
    if args.endpoint.is_empty() {
        return Err(format!("--endpoint is required; {}", usage()).into());
    }
    if args.n == 0 || args.n > MAX_N || args.warmup > MAX_N {
        return Err(format!("--n must be 1..={MAX_N} and --warmup at most {MAX_N}").into());
    }
    Ok(args)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds per call of each operation, in the order measured.
#[derive(Default)]
struct Samples {
    ops: Vec<(String, Vec<f64>)>,
    /// AWS calls per operation (ferry local's counts, divided by the rounds), DynamoDB only.
    calls: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Samples {
    fn push(&mut self, op: &str, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        match self.ops.iter_mut().find(|(name, _)| name == op) {
            Some((_, v)) => v.push(ms),
            None => self.ops.push((op.to_string(), vec![ms])),
        }
    }
}

/// Times `f` once and records it under `op` when `samples` is given (warm-up rounds pass none).
fn timed<T>(samples: Option<&mut Samples>, op: &str, f: impl FnOnce() -> Result<T, ferry_store::StoreError>) -> Result<T, Error> {
    let start = Instant::now();
    let out = f()?;
    if let Some(samples) = samples {
        samples.push(op, start.elapsed());
    }
    Ok(out)
}

fn record(id: &str, service: &str, now: i64) -> DeploymentRecord {
    DeploymentRecord {
        id: id.to_string(),
        run_id: format!("run-{id}"),
        kind: "deploy".into(),
        environment: ENVIRONMENT.into(),
        service: service.to_string(),
        cluster: "bench".into(),
        ecs_service: service.to_string(),
        from_version: Some("1.0.0".into()),
        from_digest: Some(format!("sha256:{}", "a".repeat(64))),
        from_task_definition: Some(format!("arn:aws:ecs:us-east-1:000000000000:task-definition/{service}:1")),
        to_version: Some("1.1.0".into()),
        to_digest: Some(format!("sha256:{}", "b".repeat(64))),
        image: Some(format!("000000000000.dkr.ecr.us-east-1.amazonaws.com/app@sha256:{}", "b".repeat(64))),
        who: "bench@host".into(),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        commit_message: Some("bench: a commit message of ordinary length".into()),
        started_at: now,
        outcome: Outcome::InProgress,
        strategy: Some("rolling".into()),
        ..Default::default()
    }
}

/// One pass of every operation, `rounds` times each; `tag` keeps warm-up keys apart from
/// timed ones. Timed only when `samples` is given.
fn pass(ledger: &Ledger, tag: &str, rounds: usize, mut samples: Option<&mut Samples>, calls: Option<&Calls>) -> Result<(), Error> {
    let services: Vec<String> = (0..SERVICES).map(|i| format!("{tag}-svc-{i}")).collect();
    let ids: Vec<String> = (0..rounds).map(|i| format!("fd-{tag}-{i:05}")).collect();
    let holder =
        |id: &str| LockHolder { deployment_id: id.to_string(), who: "bench@host".into(), host: "host".into(), pid: std::process::id() };
    let data =
        serde_json::json!({"task_definition": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:7", "ecs_deployment": "ecs-svc/123"});

    // Each phase: reset ferry local's call counts, run `rounds` operations, read the counts.
    macro_rules! phase {
        ($op:expr, $i:ident, $body:block) => {{
            if let Some(c) = calls {
                c.reset()?;
            }
            for $i in 0..rounds $body
            if let (Some(c), Some(s)) = (calls, samples.as_deref_mut()) {
                let counts = c.get()?;
                s.calls.insert($op.to_string(), counts.into_iter().map(|(k, v)| (k, v as f64 / rounds as f64)).collect());
            }
        }};
    }

    phase!("acquire_lock + release_lock", i, {
        let svc = &services[i % SERVICES];
        let me = holder(&ids[i]);
        let start = Instant::now();
        timed(samples.as_deref_mut(), "acquire_lock", || ledger.acquire_lock(ENVIRONMENT, svc, &me, LEASE_MS, now_ms()))?;
        timed(samples.as_deref_mut(), "release_lock", || ledger.release_lock(ENVIRONMENT, svc, &me.deployment_id))?;
        if let Some(s) = samples.as_deref_mut() {
            s.push("acquire_lock + release_lock", start.elapsed());
        }
    });

    let lock_holder = holder(&format!("fd-{tag}-renewer"));
    ledger.acquire_lock(ENVIRONMENT, &services[0], &lock_holder, LEASE_MS, now_ms())?;
    phase!("renew_lock", _i, {
        timed(samples.as_deref_mut(), "renew_lock", || {
            ledger.renew_lock(ENVIRONMENT, &services[0], &lock_holder.deployment_id, LEASE_MS, now_ms())
        })?;
    });
    ledger.release_lock(ENVIRONMENT, &services[0], &lock_holder.deployment_id)?;

    phase!("insert_deployment", i, {
        let r = record(&ids[i], &services[i % SERVICES], now_ms());
        timed(samples.as_deref_mut(), "insert_deployment", || ledger.insert_deployment(&r))?;
    });

    phase!("record_event", i, {
        let id = ids.get(i).ok_or("no such deployment")?;
        let event = EventRecord {
            at: now_ms(),
            kind: "phase".into(),
            message: format!("the ECS deployment is in progress: {} of 2 tasks running", i % 3),
        };
        timed(samples.as_deref_mut(), "record_event", || ledger.record_event(id, &event))?;
    });

    phase!("start_step + finish_step", i, {
        let start = Instant::now();
        let seq = ledger.start_step(&ids[i], STEPS[i % STEPS.len()], &data, now_ms())?;
        ledger.finish_step(&ids[i], seq, StepState::Done, &data, now_ms())?;
        if let Some(s) = samples.as_deref_mut() {
            s.push("start_step + finish_step", start.elapsed());
        }
    });

    phase!("unfinished", i, {
        timed(samples.as_deref_mut(), "unfinished", || ledger.unfinished(ENVIRONMENT, &services[i % SERVICES]))?;
    });

    phase!("update_deployment", i, {
        let mut r = record(&ids[i], &services[i % SERVICES], now_ms());
        r.outcome = Outcome::Succeeded;
        r.finished_at = Some(now_ms());
        r.ecs_deployment_id = Some("ecs-svc/1234567890".into());
        timed(samples.as_deref_mut(), "update_deployment", || ledger.update_deployment(&r))?;
    });

    phase!("history (limit 20)", _i, {
        let filter = HistoryFilter { limit: 20, ..Default::default() };
        let found = timed(samples.as_deref_mut(), "history (limit 20)", || ledger.history(&filter))?;
        if found.is_empty() {
            return Err("history answered nothing after deployments were inserted".into());
        }
    });
    Ok(())
}

/// ferry local's call counter (`/_ferry/calls`), over a plain HTTP/1.1 request.
struct Calls {
    addr: String,
}

impl Calls {
    fn new(endpoint: &str) -> Option<Calls> {
        let rest = endpoint.strip_prefix("http://")?;
        Some(Calls { addr: rest.trim_end_matches('/').to_string() })
    }

    fn request(&self, method: &str) -> Result<String, Error> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        write!(stream, "{method} /_ferry/calls HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer.split_whitespace().nth(1).unwrap_or_default().to_string();
        if !status.starts_with('2') {
            return Err(format!("{method} /_ferry/calls answered {status}").into());
        }
        Ok(answer.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default())
    }

    fn reset(&self) -> Result<(), Error> {
        self.request("DELETE").map(|_| ())
    }

    fn get(&self) -> Result<BTreeMap<String, u64>, Error> {
        let body = self.request("GET")?;
        let value: serde_json::Value = serde_json::from_str(&body)?;
        let calls = value.get("calls").and_then(|c| c.as_object()).ok_or("GET /_ferry/calls answered no calls object")?;
        Ok(calls.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn stats(values: &[f64]) -> serde_json::Value {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len().max(1) as f64;
    let r = |v: f64| (v * 1000.0).round() / 1000.0;
    serde_json::json!({
        "n": sorted.len(),
        "p50": r(percentile(&sorted, 50.0)),
        "p90": r(percentile(&sorted, 90.0)),
        "p99": r(percentile(&sorted, 99.0)),
        "max": r(sorted.last().copied().unwrap_or(f64::NAN)),
        "mean": r(mean),
    })
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let sqlite = Ledger::open(&dir.path().join("ledger.sqlite"))?;

    let target = Target::local(&args.endpoint, "000000000000", "us-east-1");
    let table = args.table.clone().unwrap_or_else(|| format!("ferry-bench-{}-{}", std::process::id(), now_ms()));
    runtime.block_on(ferry_aws::ledger::init(&target, &table))?;
    let dynamo = Ledger::from_backend(Box::new(runtime.block_on(ferry_aws::ledger::open(&target, &table))?));
    let calls = Calls::new(&args.endpoint);

    let mut results = serde_json::Map::new();
    let mut table_rows: Vec<(String, serde_json::Value, serde_json::Value)> = Vec::new();
    for (name, ledger, counter) in [("sqlite", &sqlite, None), ("dynamodb", &dynamo, calls.as_ref())] {
        pass(ledger, "warm", args.warmup.max(1), None, None)?;
        let mut samples = Samples::default();
        pass(ledger, "timed", args.n, Some(&mut samples), counter)?;
        let mut ops = serde_json::Map::new();
        for (op, values) in &samples.ops {
            let mut s = stats(values);
            if let (Some(obj), Some(c)) = (s.as_object_mut(), samples.calls.get(op)) {
                obj.insert("calls_per_op".into(), serde_json::json!(c));
            }
            ops.insert(op.clone(), s);
        }
        results.insert(name.to_string(), serde_json::Value::Object(ops));
    }
    if let (Some(sq), Some(dy)) = (results.get("sqlite").and_then(|v| v.as_object()), results.get("dynamodb").and_then(|v| v.as_object())) {
        for (op, s) in sq {
            table_rows.push((op.clone(), s.clone(), dy.get(op).cloned().unwrap_or_default()));
        }
    }
    let meta = serde_json::json!({
        "endpoint": args.endpoint,
        "table": table,
        "n": args.n,
        "warmup": args.warmup,
        "deployments_per_service": args.n / SERVICES,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"meta": meta, "results": results}))?);
        return Ok(());
    }
    println!(
        "{} timed rounds per operation after {} warm-up rounds; milliseconds; DynamoDB: table {table} on {}",
        args.n, args.warmup, args.endpoint
    );
    println!();
    println!("| operation | SQLite p50 | p90 | p99 | max | DynamoDB p50 | p90 | p99 | max | AWS calls per operation (DynamoDB) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let f = |s: &serde_json::Value, k: &str| s.get(k).and_then(serde_json::Value::as_f64).map_or("—".to_string(), |v| format!("{v:.3}"));
    for (op, sq, dy) in &table_rows {
        let calls = dy
            .get("calls_per_op")
            .and_then(|c| c.as_object())
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{} {}", k.trim_start_matches("dynamodb:"), v.as_f64().map_or("?".into(), |v| format!("{v:.2}"))))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        println!(
            "| {op} | {} | {} | {} | {} | {} | {} | {} | {} | {calls} |",
            f(sq, "p50"),
            f(sq, "p90"),
            f(sq, "p99"),
            f(sq, "max"),
            f(dy, "p50"),
            f(dy, "p90"),
            f(dy, "p99"),
            f(dy, "max"),
        );
    }
    Ok(())
}
