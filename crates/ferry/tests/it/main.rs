//! ferry's integration tests in one binary (cargo links each file directly under tests/ as a
//! binary of its own; one binary is linked once): the ferry binary and the adapters against
//! an embedded ferry local. The modules run side by side in one process, so none of them may
//! change the process's environment, current directory or signal dispositions: each test
//! gives what it runs its own directory, environment and ports.

// clippy's allow-unwrap-in-tests and allow-expect-in-tests cover #[test] functions and
// #[cfg(test)] code, not the helpers of an integration test crate, which are test code too:
// a panic with a message is how a test helper reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod alarm_gate;
mod blue_green;
mod blue_green_kill;
mod ci_values;
mod credentials;
mod deploy;
mod deploy_elb;
mod ecs_native;
mod elb_support;
mod errors;
mod events;
mod exit_codes;
mod gates;
mod gates_from_ecs;
mod gc;
mod hooks;
mod kill;
mod ledger;
mod local_cli;
mod local_durability;
mod local_ecs;
mod local_ecs_elb;
mod local_elbv2;
mod local_elbv2_rules;
mod local_first_hour;
mod local_logs;
mod local_output;
mod local_secrets;
mod local_strict;
mod local_traffic;
mod logs;
mod noop_deploy;
mod preflight;
mod probe;
mod promote;
mod promotion_reads_right;
mod readable;
mod run_task;
mod scale;
mod shared_ledger;
mod status_versions;
mod unreachable;
