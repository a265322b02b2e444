//! How long journaling a step costs: `start_step` + `finish_step` (two durable SQLite
//! writes, as the engine makes them around every step), on a ledger file in a temporary
//! directory on the disk the ledger would use. Run with
//! `cargo run --release -p ferry-store --example journal_latency [STEPS] [DIR]`
//! (docs/benchmarks.md, "Journaling"). Prints p50/p90/p99/max in milliseconds.

use std::time::Instant;

use ferry_store::{DeploymentRecord, Ledger, StepState};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(500);
    let base = std::env::args().nth(2).map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base)?;
    let ledger = Ledger::open(&dir.path().join("ledger.sqlite"))?;
    let record = DeploymentRecord {
        id: "fd-bench".into(),
        run_id: "fr-bench".into(),
        kind: "deploy".into(),
        environment: "prod".into(),
        service: "web".into(),
        who: "bench".into(),
        strategy: Some("rolling".into()),
        ..Default::default()
    };
    ledger.insert_deployment(&record)?;
    let data = serde_json::json!({"task_definition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42", "force": false});
    let mut took = Vec::with_capacity(steps);
    for i in 0..steps {
        let started = Instant::now();
        let seq = ledger.start_step("fd-bench", "update_service", &data, i as i64)?;
        ledger.finish_step("fd-bench", seq, StepState::Done, &data, i as i64)?;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{steps} steps journaled (start + finish): p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
