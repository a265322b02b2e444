//! ferry-store's integration tests in one binary (cargo links each file directly under tests/
//! as a binary of its own; one binary is linked once). Each test opens its own ledger in a
//! temporary directory.

mod faults;
mod journal;
mod ledger;
mod releases;
