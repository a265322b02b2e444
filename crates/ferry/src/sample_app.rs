//! `ferry sample-app` (hidden): the HTTP app the demo and the tests run as a task, so every
//! failure a deploy must handle can be produced on purpose with nothing else installed.
//!
//! It listens on 127.0.0.1:$PORT and answers `/` with its version (JSON), `/health` with
//! 200, and `/slow/{ms}` as `/` after `ms` milliseconds (at most a minute: a request that
//! stays in flight, to watch a load balancer drain a target). Told by its environment
//! (docs/local.md, "Rehearsing a bad version"), it misbehaves:
//! - `SAMPLE_FAIL_AT_START=1`: exits 1 at once;
//! - `SAMPLE_START_DELAY_MS=N`: waits N ms before listening;
//! - `SAMPLE_FAIL_HEALTH=1`: `/health` answers 503;
//! - `SAMPLE_FAIL_REQUESTS=1`: `/` and `/slow/{ms}` answer 500 (with the same body) while
//!   `/health` stays 200: a version the load balancer finds healthy whose users get errors;
//! - `SAMPLE_CRASH_AFTER=N`: exits 3 after N seconds (fractions allowed).
//!
//! A switch set to something it cannot read stops the app with exit code 2 and says which,
//! rather than being ignored: a rehearsal must not pass because of a typo.
//!
//! The version is `$VERSION`, else the tag of the image ferry local started it from.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::json;

use crate::Failure;
use crate::cli::SampleAppArgs;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// An on/off switch: empty or unset, `0`, `false` are off; `1`, `true` are on.
fn flag(name: &str) -> Result<bool, Failure> {
    match env(name).as_deref() {
        None | Some("0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(Failure::input(format!("{name} must be 1 (on) or 0 (off), got {other:?}"))),
    }
}

/// A non-negative, finite number from the environment, if set.
fn number(name: &str, unit: &str) -> Result<Option<f64>, Failure> {
    let Some(raw) = env(name) else { return Ok(None) };
    match raw.parse::<f64>() {
        Ok(n) if (0.0..=86_400_000.0).contains(&n) => Ok(Some(n)),
        _ => Err(Failure::input(format!("{name} must be a number of {unit} (0 or more, e.g. 1500), got {raw:?}"))),
    }
}

/// The failure switches, all read and checked before the app does anything.
struct Switches {
    fail_at_start: bool,
    start_delay: Option<Duration>,
    fail_health: bool,
    fail_requests: bool,
    crash_after: Option<f64>,
}

impl Switches {
    fn from_env() -> Result<Switches, Failure> {
        Ok(Switches {
            fail_at_start: flag("SAMPLE_FAIL_AT_START")?,
            start_delay: number("SAMPLE_START_DELAY_MS", "milliseconds")?.map(|ms| Duration::from_millis(ms as u64)),
            fail_health: flag("SAMPLE_FAIL_HEALTH")?,
            fail_requests: flag("SAMPLE_FAIL_REQUESTS")?,
            crash_after: number("SAMPLE_CRASH_AFTER", "seconds")?,
        })
    }
}

fn port() -> Result<u16, Failure> {
    let raw = env("PORT").unwrap_or_else(|| "8080".into());
    raw.parse().map_err(|_| Failure::input(format!("PORT must be a port number, got {raw:?}")))
}

pub async fn run(args: SampleAppArgs) -> Result<(), Failure> {
    let port = port()?;
    if args.check {
        return check(port).await;
    }
    let switches = Switches::from_env().map_err(|f| Failure::input(format!("sample-app: {f}")))?;
    if switches.fail_at_start {
        eprintln!("sample-app: failing at start as asked (SAMPLE_FAIL_AT_START)");
        std::process::exit(1);
    }
    if let Some(delay) = switches.start_delay.filter(|d| !d.is_zero()) {
        eprintln!("sample-app: starting slowly as asked (SAMPLE_START_DELAY_MS={})", delay.as_millis());
        tokio::time::sleep(delay).await;
    }
    if let Some(seconds) = switches.crash_after {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            eprintln!("sample-app: crashing after {seconds}s as asked (SAMPLE_CRASH_AFTER)");
            std::process::exit(3);
        });
    }
    let image = env("FERRY_LOCAL_IMAGE").unwrap_or_default();
    let version = env("VERSION").or_else(|| ferry_core::image_tag(&image).map(str::to_string)).unwrap_or_else(|| "dev".into());
    let body = json!({
        "version": version,
        "image": image,
        "digest": env("FERRY_LOCAL_IMAGE_DIGEST"),
        "task": env("FERRY_LOCAL_TASK_ARN"),
    });
    let fail_health = switches.fail_health;
    let status = if switches.fail_requests { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
    let slow_body = body.clone();
    let slow = move |axum::extract::Path(ms): axum::extract::Path<u64>| async move {
        tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        (status, axum::Json(slow_body))
    };
    let app = Router::new().route("/", get(move || async move { (status, axum::Json(body)) })).route("/slow/{ms}", get(slow)).route(
        "/health",
        get(move || async move { if fail_health { (StatusCode::SERVICE_UNAVAILABLE, "unhealthy") } else { (StatusCode::OK, "ok") } }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| Failure::platform(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    println!("sample-app {version} listening on 127.0.0.1:{port}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                term.recv().await;
            }
            println!("sample-app: SIGTERM received, shutting down");
        })
        .await
        .map_err(|e| Failure::platform(format!("sample-app server failed: {e}")))
}

async fn check(port: u16) -> Result<(), Failure> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().map_err(|e| Failure::platform(e.to_string()))?;
    match client.get(format!("http://127.0.0.1:{port}/health")).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(Failure::platform(format!("health check answered {}", r.status()))),
        Err(e) => Err(Failure::platform(format!("health check failed: {e}"))),
    }
}
