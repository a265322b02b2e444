//! ferry-aws's integration tests in one binary (cargo links each file directly under tests/
//! as a binary of its own; one binary is linked once). reach's retry observer is one per
//! process: its tests keep to the retries told for the endpoints they made.

// clippy's allow-unwrap-in-tests and allow-expect-in-tests cover #[test] functions and
// #[cfg(test)] code, not the helpers of an integration test crate, which are test code too:
// a panic with a message is how a test helper reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cloudwatch_alarms;
mod ledger_dynamodb;
mod reach;
mod taskdef_roundtrip;
mod traffic;
