//! ferry-registry's integration tests in one binary (cargo links each file directly under
//! tests/ as a binary of its own; one binary is linked once).

mod distribution;
mod protocol;
