//! ferry's integration tests in one binary (cargo links each file directly under tests/ as a
//! binary of its own; one binary is linked once): the ferry binary and the adapters against
//! an embedded ferry local. The modules run side by side in one process, so none of them may
//! change the process's environment, current directory or signal dispositions: each test
//! gives what it runs its own directory, environment and ports.

#[path = "../common/mod.rs"]
mod common;

mod credentials;
mod deploy;
mod errors;
mod exit_codes;
mod ledger;
mod local_cli;
mod local_durability;
mod local_ecs;
mod local_first_hour;
mod local_strict;
mod promote;
mod promotion_reads_right;
mod unreachable;
