//! The logs: one append-only sequence of messages per key, stored compactly.
//!
//! Invariants:
//! - Offsets within a key are dense from 0: the message at offset `i` is the `i`-th ever
//!   appended to that key, and no offset is ever reused (spec: kafka.md 2.6 items 1, 2, 7).
//! - A message's text never changes once appended.
//!
//! Storage is one `String` of payload texts back to back plus one `u64` end position per
//! message: 8 bytes of overhead per message, and no allocation per message.

use crate::ids::{Key, Offset};
use crate::protocol::MsgRun;
use std::collections::BTreeMap;

/// Every key's log.
#[derive(Debug, Default)]
pub(crate) struct Logs {
    by_key: BTreeMap<Key, Log>,
    /// Messages over all keys.
    count: u64,
}

#[derive(Debug, Default)]
struct Log {
    /// The payloads' JSON texts, back to back.
    text: String,
    /// `ends[i]` is where message `i`'s text ends in `text`; ascending.
    ends: Vec<u64>,
}

impl Log {
    fn len(&self) -> u64 {
        self.ends.len() as u64
    }

    fn get(&self, offset: u64) -> Option<&str> {
        let i = usize::try_from(offset).ok()?;
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.text[start..end])
    }
}

/// How much one poll reply may carry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    /// Messages still allowed.
    pub msgs: usize,
    /// Payload bytes still allowed; the first message of a reply is always allowed,
    /// whatever its size, so that no message can block its key forever.
    pub bytes: usize,
    /// Whether anything has been taken yet.
    pub taken: bool,
}

impl Logs {
    /// Appends `msg` (valid JSON text) to `key` and returns its offset.
    pub(crate) fn append(&mut self, key: &Key, msg: &str) -> Offset {
        // Looked up by `Key`, not `&str`: comparing keys' bytes skips the UTF-8 check
        // that borrowing each stored key as a `str` would make.
        let log = match self.by_key.get_mut(key) {
            Some(log) => log,
            None => self.by_key.entry(key.clone()).or_default(),
        };
        let offset = Offset(log.len());
        log.text.push_str(msg);
        log.ends.push(log.text.len() as u64);
        self.count += 1;
        offset
    }

    /// The messages of `key` from the first existing offset at or after `from`, ascending
    /// and contiguous, as far as `budget` allows. `None` when there is nothing to return.
    ///
    /// spec: kafka.md 2.3 — the run is a prefix of the log from the requested offset: no
    /// message skipped, none below the requested offset.
    pub(crate) fn read(&self, key: &Key, from: Offset, budget: &mut Budget) -> Option<MsgRun> {
        let log = self.by_key.get(key)?;
        // First find how far the budget reaches, then copy that stretch of text at once
        // into a run allocated to size.
        let first = from.0;
        let mut end = first;
        while end < log.len() && budget.msgs > 0 {
            let msg = log.get(end).expect("offset is below the log's length");
            if budget.taken && msg.len() > budget.bytes {
                break;
            }
            budget.msgs -= 1;
            budget.bytes = budget.bytes.saturating_sub(msg.len());
            budget.taken = true;
            end += 1;
        }
        if end == first {
            return None;
        }
        let (first, end) = (first as usize, end as usize);
        let text_start = if first == 0 { 0 } else { log.ends[first - 1] };
        let text = &log.text[text_start as usize..log.ends[end - 1] as usize];
        let ends = log.ends[first..end]
            .iter()
            .map(|e| (e - text_start) as usize);
        Some(MsgRun::from_parts(key.clone(), first as u64, text, ends))
    }

    /// Messages over all keys.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Panics if a storage invariant is broken.
    pub(crate) fn check_invariants(&self) {
        let mut total = 0;
        for (key, log) in &self.by_key {
            assert!(
                log.ends.windows(2).all(|w| w[0] <= w[1]),
                "ends of {key:?} go backwards"
            );
            assert_eq!(
                log.ends.last().copied().unwrap_or(0),
                log.text.len() as u64,
                "ends of {key:?} do not cover its text"
            );
            total += log.len();
        }
        assert_eq!(total, self.count, "message count drifted");
    }
}
