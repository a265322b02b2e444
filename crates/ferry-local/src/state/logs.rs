//! CloudWatch Logs' records: log groups and their streams, without their events.
//!
//! The events themselves live in an append-only file per stream under the state directory
//! (`crate::logs::store`): the partition is cloned and saved whole on every write, so it
//! keeps only what a DescribeLogGroups or DescribeLogStreams answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A log group (CloudWatch Logs API reference, `LogGroup`). Times are epoch milliseconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogGroup {
    pub name: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// None: events never expire.
    pub retention_in_days: Option<i64>,
    pub kms_key_id: Option<String>,
    /// `STANDARD`, `INFREQUENT_ACCESS` or `DELIVERY`.
    pub log_group_class: String,
    pub deletion_protection: bool,
    pub tags: BTreeMap<String, String>,
    /// stream name → stream.
    pub streams: BTreeMap<String, LogStream>,
}

impl LogGroup {
    /// The bytes of its events, as `storedBytes` reports them.
    pub fn stored_bytes(&self) -> u64 {
        self.streams.values().map(|s| s.stored_bytes).sum()
    }
}

/// A log stream (`LogStream`): its name, its event file and what it knows of its events.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogStream {
    pub name: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Its event file, relative to the event store's directory (`cloudwatch-logs/`).
    pub file: String,
    /// A number of its own, stable for its life: part of every `eventId` of its events.
    pub number: u64,
    /// Smallest and largest event timestamp, epoch milliseconds; None before its first event.
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
    /// When its last event was ingested, epoch milliseconds.
    pub last_ingestion: Option<i64>,
    /// Message bytes plus 26 per event, as CloudWatch Logs counts a batch's size.
    pub stored_bytes: u64,
    /// Batches written: the `uploadSequenceToken` derives from it.
    pub batches: u64,
}
