//! Pages of events read from the event store, in bounded memory: a scan of each file keeps
//! at most one page (by count, and by CloudWatch Logs' 1 MB of messages plus 26 bytes per
//! event), the nearest events to where the page starts.
//!
//! GetLogEvents orders a stream's events by (timestamp, sequence number) and pages forward
//! or backward from a position its tokens carry (`f/…` forward, `b/…` backward); a token
//! points after (before) the last (first) event it answered, so asking again with the token
//! of an empty page gives that same token back, as AWS does. FilterLogEvents orders a group's
//! events by (timestamp, stream name, sequence number) and pages forward with `nextToken`,
//! answered only while more events match.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::pattern::Pattern;
use super::store::{EventStore, StoredEvent};
use crate::api::ApiError;
use crate::state::LogStream;

/// What one response may carry: 1 MB of messages, 26 bytes counted per event.
const MAX_PAGE_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;

fn bad_token() -> ApiError {
    ApiError::invalid_parameter("The specified nextToken is invalid.")
}

/// Keeps the `limit` smallest keys offered (and no more than a page of bytes), and whether
/// any were left out.
struct Smallest<K: Ord, V> {
    heap: BinaryHeap<Entry<K, V>>,
    limit: usize,
    bytes: usize,
    truncated: bool,
}

struct Entry<K, V> {
    key: K,
    size: usize,
    value: V,
}

impl<K: Ord, V> PartialEq for Entry<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<K: Ord, V> Eq for Entry<K, V> {}
impl<K: Ord, V> PartialOrd for Entry<K, V> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K: Ord, V> Ord for Entry<K, V> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

impl<K: Ord, V> Smallest<K, V> {
    fn new(limit: usize) -> Self {
        Smallest { heap: BinaryHeap::new(), limit: limit.max(1), bytes: 0, truncated: false }
    }

    /// Offers an event of `size` bytes under `key`; `value` is made only if it is kept.
    fn offer(&mut self, key: K, size: usize, value: impl FnOnce() -> V) {
        if let Some(top) = self.heap.peek() {
            let full = self.heap.len() >= self.limit || self.bytes + size > MAX_PAGE_BYTES;
            if full && key > top.key {
                self.truncated = true;
                return;
            }
        }
        self.heap.push(Entry { key, size, value: value() });
        self.bytes += size;
        while self.heap.len() > self.limit || (self.bytes > MAX_PAGE_BYTES && self.heap.len() > 1) {
            if let Some(dropped) = self.heap.pop() {
                self.bytes -= dropped.size;
            }
            self.truncated = true;
        }
    }

    /// The kept entries, smallest key first, and whether any were left out.
    fn finish(self) -> (Vec<(K, V)>, bool) {
        let entries = self.heap.into_sorted_vec();
        (entries.into_iter().map(|e| (e.key, e.value)).collect(), self.truncated)
    }
}

/// A place between two events of a stream: (timestamp + 1, sequence number), so that
/// (0, 0) is before every event and (MAX, MAX) after every one.
type Key = (u64, u64);

fn key_of(timestamp: i64, seq: u64) -> Key {
    (timestamp.max(0) as u64 + 1, seq)
}

/// Where a GetLogEvents page starts, and in which direction it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamPosition {
    forward: bool,
    at: Key,
}

impl StreamPosition {
    /// The oldest events first (`startFromHead`).
    pub fn head() -> Self {
        StreamPosition { forward: true, at: (0, 0) }
    }

    /// The newest events (GetLogEvents' default).
    pub fn tail() -> Self {
        StreamPosition { forward: false, at: (u64::MAX, u64::MAX) }
    }

    /// `f/` or `b/` and 40 digits (`nextForwardToken`, `nextBackwardToken`).
    pub fn token(&self) -> String {
        format!("{}/{:020}{:020}", if self.forward { "f" } else { "b" }, self.at.0, self.at.1)
    }

    /// A token this module wrote. Errors: anything else (InvalidParameterException).
    pub fn parse(token: &str) -> Result<Self, ApiError> {
        let (direction, digits) = token.split_once('/').ok_or_else(bad_token)?;
        let forward = match direction {
            "f" => true,
            "b" => false,
            _ => return Err(bad_token()),
        };
        if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_token());
        }
        let time = digits[..20].parse().map_err(|_| bad_token())?;
        let seq = digits[20..].parse().map_err(|_| bad_token())?;
        Ok(StreamPosition { forward, at: (time, seq) })
    }
}

/// One GetLogEvents answer: its events, oldest first, and the tokens to read on.
#[derive(Debug)]
pub struct StreamPage {
    pub events: Vec<StoredEvent>,
    pub forward: StreamPosition,
    pub backward: StreamPosition,
}

/// The page of `file`'s events from `from`, within [start, end) (epoch milliseconds), at
/// most `limit` events. Errors: the file cannot be read.
pub fn stream_page(
    store: &EventStore,
    file: &str,
    from: StreamPosition,
    start: Option<i64>,
    end: Option<i64>,
    limit: usize,
) -> std::io::Result<StreamPage> {
    let in_window = |t: i64| start.is_none_or(|s| t >= s) && end.is_none_or(|e| t < e);
    let (events, keys) = if from.forward {
        let mut page = Smallest::new(limit);
        store.scan(file, |seq, event| {
            let key = key_of(event.timestamp, seq);
            if key > from.at && in_window(event.timestamp) {
                page.offer(key, event.message.len() + EVENT_OVERHEAD, || event);
            }
        })?;
        let (kept, _) = page.finish();
        let keys: Vec<Key> = kept.iter().map(|(k, _)| *k).collect();
        (kept.into_iter().map(|(_, e)| e).collect::<Vec<_>>(), keys)
    } else {
        let mut page = Smallest::new(limit);
        store.scan(file, |seq, event| {
            let key = key_of(event.timestamp, seq);
            if key < from.at && in_window(event.timestamp) {
                page.offer(Reverse(key), event.message.len() + EVENT_OVERHEAD, || event);
            }
        })?;
        let (mut kept, _) = page.finish();
        kept.reverse();
        let keys: Vec<Key> = kept.iter().map(|(k, _)| k.0).collect();
        (kept.into_iter().map(|(_, e)| e).collect(), keys)
    };
    let (first, last) = match (keys.first(), keys.last()) {
        (Some(first), Some(last)) => (*first, *last),
        // No event: both tokens stay where the request was.
        _ => (from.at, from.at),
    };
    Ok(StreamPage { events, forward: StreamPosition { forward: true, at: last }, backward: StreamPosition { forward: false, at: first } })
}

/// Where a FilterLogEvents page resumes: after (timestamp + 1, stream name, sequence number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPosition {
    time: u64,
    stream: String,
    seq: u64,
}

impl GroupPosition {
    /// An opaque `nextToken`.
    pub fn token(&self) -> String {
        format!("ferry-{}", hex::encode(format!("{}/{}/{}", self.time, self.seq, self.stream)))
    }

    /// A token this module wrote. Errors: anything else (InvalidParameterException).
    pub fn parse(token: &str) -> Result<Self, ApiError> {
        let bytes = hex::decode(token.strip_prefix("ferry-").ok_or_else(bad_token)?).map_err(|_| bad_token())?;
        let text = String::from_utf8(bytes).map_err(|_| bad_token())?;
        let mut parts = text.splitn(3, '/');
        let (Some(time), Some(seq), Some(stream)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad_token());
        };
        Ok(GroupPosition {
            time: time.parse().map_err(|_| bad_token())?,
            seq: seq.parse().map_err(|_| bad_token())?,
            stream: stream.to_string(),
        })
    }

    fn key(&self) -> (u64, &str, u64) {
        (self.time, self.stream.as_str(), self.seq)
    }
}

/// An event of a FilterLogEvents page.
#[derive(Debug)]
pub struct GroupEvent {
    pub stream: String,
    pub event: StoredEvent,
    /// 56 digits, stable for the event's life: its timestamp, its stream's number and its
    /// sequence number.
    pub event_id: String,
}

/// One FilterLogEvents answer: its events in (timestamp, stream, sequence) order, and where
/// the next page starts when more events match.
#[derive(Debug)]
pub struct GroupPage {
    pub events: Vec<GroupEvent>,
    pub next: Option<GroupPosition>,
}

/// The page of events of `streams` after `after`, within [start, end] (epoch milliseconds,
/// both ends included as FilterLogEvents has them), matching `pattern`, at most `limit`.
/// Errors: a file cannot be read.
pub fn group_page(
    store: &EventStore,
    streams: &[&LogStream],
    after: Option<&GroupPosition>,
    start: Option<i64>,
    end: Option<i64>,
    pattern: &Pattern,
    limit: usize,
) -> std::io::Result<GroupPage> {
    let mut page: Smallest<(u64, String, u64), (StoredEvent, u64)> = Smallest::new(limit);
    for stream in streams {
        store.scan(&stream.file, |seq, event| {
            let time = key_of(event.timestamp, seq).0;
            let key = (time, stream.name.as_str(), seq);
            let after_token = after.is_none_or(|a| key > a.key());
            let in_window = start.is_none_or(|s| event.timestamp >= s) && end.is_none_or(|e| event.timestamp <= e);
            if after_token && in_window && pattern.matches(&event.message) {
                let size = event.message.len() + EVENT_OVERHEAD;
                page.offer((time, stream.name.clone(), seq), size, || (event, stream.number));
            }
        })?;
    }
    let (kept, truncated) = page.finish();
    let next = match (truncated, kept.last()) {
        (true, Some(((time, stream, seq), _))) => Some(GroupPosition { time: *time, stream: stream.clone(), seq: *seq }),
        _ => None,
    };
    let events = kept
        .into_iter()
        .map(|((_, stream, seq), (event, number))| {
            let event_id = format!("{:020}{:020}{:016}", event.timestamp.max(0), number, seq);
            GroupEvent { stream, event, event_id }
        })
        .collect();
    Ok(GroupPage { events, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_keys_are_kept_within_the_limit_and_leaving_some_out_is_known() {
        let mut page = Smallest::new(3);
        for k in [9, 2, 7, 1, 5] {
            page.offer(k, 10, || k * 10);
        }
        let (kept, truncated) = page.finish();
        assert_eq!(kept, vec![(1, 10), (2, 20), (5, 50)]);
        assert!(truncated);
        let mut page = Smallest::new(3);
        for k in [2, 1] {
            page.offer(k, 10, || k);
        }
        assert!(!page.finish().1, "nothing was left out");
    }

    #[test]
    fn a_page_holds_at_most_a_megabyte_but_always_one_event() {
        let mut page = Smallest::new(10);
        for k in 0..4 {
            page.offer(k, 400_000, || k);
        }
        let (kept, truncated) = page.finish();
        assert_eq!(kept.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![0, 1]);
        assert!(truncated);
        let mut page = Smallest::new(10);
        page.offer(0, 2_000_000, || 0);
        assert_eq!(page.finish().0.len(), 1);
    }

    #[test]
    fn tokens_round_trip_and_others_are_refused() {
        for p in [StreamPosition::head(), StreamPosition::tail(), StreamPosition { forward: true, at: (1_700_000_000_001, 42) }] {
            assert_eq!(StreamPosition::parse(&p.token()).unwrap(), p);
        }
        assert!(StreamPosition::parse("f/123").is_err());
        assert!(StreamPosition::parse("x/0000000000000000000000000000000000000000").is_err());
        let g = GroupPosition { time: 5, stream: "a/b/c".into(), seq: 3 };
        assert_eq!(GroupPosition::parse(&g.token()).unwrap(), g);
        assert_eq!(GroupPosition::parse("nope").unwrap_err().code, "InvalidParameterException");
    }
}
