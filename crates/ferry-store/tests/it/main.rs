//! ferry-store's integration tests in one binary (cargo links each file directly under tests/
//! as a binary of its own; one binary is linked once). Each test opens its own ledger in a
//! temporary directory.

// clippy's allow-unwrap-in-tests and allow-expect-in-tests cover #[test] functions and
// #[cfg(test)] code, not the helpers of an integration test crate, which are test code too:
// a panic with a message is how a test helper reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod ledger;
mod releases;
mod suite;
mod transfer;
