//! ferry-aws's integration tests in one binary (cargo links each file directly under tests/
//! as a binary of its own; one binary is linked once). reach's retry observer is one per
//! process: its tests keep to the retries told for the endpoints they made.

mod reach;
mod taskdef_roundtrip;
