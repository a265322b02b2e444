//! `ferry sample-app` (hidden): the HTTP app the demo and the tests run as a task, so every
//! failure a deploy must handle can be produced on purpose with nothing else installed.
//!
//! It listens on 127.0.0.1:$PORT and answers `/` with its version (JSON), `/health` with
//! 200. Told by its environment, it misbehaves:
//! - `SAMPLE_FAIL_AT_START=1`: exits 1 at once;
//! - `SAMPLE_START_DELAY_MS=N`: waits N ms before listening;
//! - `SAMPLE_FAIL_HEALTH=1`: `/health` answers 503;
//! - `SAMPLE_CRASH_AFTER=N`: exits 3 after N seconds.
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

fn flag(name: &str) -> bool {
    env(name).is_some_and(|v| v != "0" && v != "false")
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
    if flag("SAMPLE_FAIL_AT_START") {
        eprintln!("sample-app: failing at start as asked (SAMPLE_FAIL_AT_START)");
        std::process::exit(1);
    }
    if let Some(ms) = env("SAMPLE_START_DELAY_MS").and_then(|v| v.parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(seconds) = env("SAMPLE_CRASH_AFTER").and_then(|v| v.parse::<f64>().ok()) {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            eprintln!("sample-app: crashing after {seconds}s as asked (SAMPLE_CRASH_AFTER)");
            std::process::exit(3);
        });
    }
    let image = env("FERRY_LOCAL_IMAGE").unwrap_or_default();
    let version = env("VERSION")
        .or_else(|| ferry_core::image_tag(&image).map(str::to_string))
        .unwrap_or_else(|| "dev".into());
    let body = json!({
        "version": version,
        "image": image,
        "digest": env("FERRY_LOCAL_IMAGE_DIGEST"),
        "task": env("FERRY_LOCAL_TASK_ARN"),
    });
    let fail_health = flag("SAMPLE_FAIL_HEALTH");
    let app = Router::new()
        .route("/", get(move || async move { axum::Json(body) }))
        .route(
            "/health",
            get(move || async move {
                if fail_health { (StatusCode::SERVICE_UNAVAILABLE, "unhealthy") } else { (StatusCode::OK, "ok") }
            }),
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
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| Failure::platform(e.to_string()))?;
    match client.get(format!("http://127.0.0.1:{port}/health")).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(Failure::platform(format!("health check answered {}", r.status()))),
        Err(e) => Err(Failure::platform(format!("health check failed: {e}"))),
    }
}
