//! The logs: one append-only sequence of messages per key, stored compactly.
//!
//! Invariants:
//! - Offsets within a key are dense from 0: the message at offset `i` is the `i`-th ever
//!   appended to that key, and no offset is ever reused (spec: kafka.md 2.6 items 1, 2, 7).
//! - A message's text never changes once appended.
//! - Every key in `Logs::logs` appears once, and `Logs::slots` finds each of them.
//!
//! Storage is, per key, the payload texts back to back plus one `u32` end position per
//! message: 4 bytes of overhead per message and no allocation per message, so a stored
//! message costs its payload bytes plus 4, plus what the vectors' doubling leaves unused
//! (measured by the stdio bench's memory run). A `u32` reaches 4 GiB, so a key's text is
//! cut into segments of at most that much; nearly every key has one segment.
//!
//! Keys are found through a small open-addressing hash table rather than a `BTreeMap`: a
//! poll names a dozen keys, and a dozen ordered lookups were over a tenth of the node's
//! time. The table is never iterated, and its hash is fixed, so nothing about it can make
//! two runs differ.

use crate::ids::{Key, Offset};
use crate::protocol::MsgRun;

/// A key's place in [`Logs`], from [`Logs::append_placed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeySlot(pub(crate) u32);

/// Every key's log.
#[derive(Debug, Default)]
pub(crate) struct Logs {
    /// Every key's log, in the order the keys first appeared.
    logs: Vec<(Key, Log)>,
    /// An open-addressing table over `logs` with linear probing: each slot is an index
    /// into `logs` or `EMPTY`. Its length is 0 or a power of two at least twice the number
    /// of keys, so every probe sequence reaches an empty slot.
    slots: Vec<usize>,
    /// Messages over all keys.
    count: u64,
}

const EMPTY: usize = usize::MAX;

/// The most text one packed segment holds, so that every end fits in a `u32`.
const SEGMENT_BYTES_MAX: usize = u32::MAX as usize;

#[derive(Debug, Default)]
struct Log {
    /// The segments in offset order; the first starts at offset 0, and each starts where
    /// the one before it ends.
    segments: Vec<Segment>,
    /// Messages in this log.
    len: u64,
}

#[derive(Debug)]
struct Segment {
    /// The offset of its first message.
    first: u64,
    text: SegmentText,
}

#[derive(Debug)]
enum SegmentText {
    /// Payload texts back to back; `ends[i]` is where message `first + i` ends in `text`,
    /// ascending, and `text.len() <= SEGMENT_BYTES_MAX`.
    Packed { text: String, ends: Vec<u32> },
    /// One payload longer than a packed segment may hold.
    Single(Box<str>),
}

impl Segment {
    fn len(&self) -> u64 {
        match &self.text {
            SegmentText::Packed { ends, .. } => ends.len() as u64,
            SegmentText::Single(_) => 1,
        }
    }

    /// Message `i` of this segment, counted from its first.
    fn get(&self, i: usize) -> Option<&str> {
        match &self.text {
            SegmentText::Packed { text, ends } => {
                let end = *ends.get(i)? as usize;
                let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                Some(&text[start..end])
            }
            SegmentText::Single(text) => (i == 0).then_some(&**text),
        }
    }
}

impl Log {
    fn append(&mut self, msg: &str) {
        let fits = match self.segments.last() {
            Some(Segment {
                text: SegmentText::Packed { text, .. },
                ..
            }) => text.len() + msg.len() <= SEGMENT_BYTES_MAX,
            _ => false,
        };
        if !fits {
            let text = if msg.len() > SEGMENT_BYTES_MAX {
                SegmentText::Single(msg.into())
            } else {
                SegmentText::Packed {
                    text: String::new(),
                    ends: Vec::new(),
                }
            };
            self.segments.push(Segment {
                first: self.len,
                text,
            });
        }
        // The last segment is now packed with room for `msg`, or holds `msg` alone.
        if let Some(Segment {
            text: SegmentText::Packed { text, ends },
            ..
        }) = self.segments.last_mut()
        {
            text.push_str(msg);
            ends.push(u32::try_from(text.len()).expect("a packed segment fits in a u32"));
        }
        self.len += 1;
    }

    /// The segment holding `offset`, with `offset`'s index within it.
    fn locate(&self, offset: u64) -> Option<(&Segment, usize)> {
        if offset >= self.len {
            return None;
        }
        // Segments start in ascending offset order, the first at 0.
        let at = self.segments.partition_point(|s| s.first <= offset) - 1;
        let segment = &self.segments[at];
        Some((segment, (offset - segment.first) as usize))
    }

    fn get(&self, offset: u64) -> Option<&str> {
        let (segment, i) = self.locate(offset)?;
        segment.get(i)
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

/// The slot where a key's probe sequence starts: the key folded into 64 bits, spread over
/// the table by a Fibonacci multiply. The hash is fixed, so the table's layout is a
/// function of the keys alone.
fn home(key: &Key, mask: usize) -> usize {
    (key.fold().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & mask
}

/// Puts index `i` of `key` in the first empty slot of its probe sequence.
fn place(slots: &mut [usize], key: &Key, i: usize) {
    let mask = slots.len() - 1;
    let mut at = home(key, mask);
    while slots[at] != EMPTY {
        at = (at + 1) & mask;
    }
    slots[at] = i;
}

impl Logs {
    /// The index in `logs` of `key`'s log.
    fn find(&self, key: &Key) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = home(key, mask);
        loop {
            match self.slots[at] {
                EMPTY => return None,
                i if self.logs[i].0 == *key => return Some(i),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Adds an empty log for `key`, which has none, and returns its index in `logs`.
    fn insert(&mut self, key: &Key) -> usize {
        let i = self.logs.len();
        self.logs.push((key.clone(), Log::default()));
        if self.slots.len() < 2 * self.logs.len() {
            // Grow to keep the table at most half full, and place every key again.
            let len = (2 * self.logs.len()).next_power_of_two().max(16);
            self.slots = vec![EMPTY; len];
            for (i, (key, _)) in self.logs.iter().enumerate() {
                place(&mut self.slots, key, i);
            }
        } else {
            place(&mut self.slots, key, i);
        }
        i
    }

    /// Appends `msg` (valid JSON text) to `key` and returns its offset.
    pub(crate) fn append(&mut self, key: &Key, msg: &str) -> Offset {
        self.append_placed(key, msg).1
    }

    /// [`Logs::append`], also returning the key's slot: a number that names the key for
    /// as long as the logs exist, so that the replicated log can remember where each of
    /// its entries went in four bytes rather than a copy of the key.
    pub(crate) fn append_placed(&mut self, key: &Key, msg: &str) -> (KeySlot, Offset) {
        let i = match self.find(key) {
            Some(i) => i,
            None => self.insert(key),
        };
        let log = &mut self.logs[i].1;
        let offset = Offset(log.len);
        log.append(msg);
        self.count += 1;
        (
            KeySlot(u32::try_from(i).expect("fewer than 2^32 keys")),
            offset,
        )
    }

    /// The key in `slot` and its message at `offset`, if there is one.
    pub(crate) fn message(&self, slot: KeySlot, offset: Offset) -> Option<(&Key, &str)> {
        let (key, log) = self.logs.get(slot.0 as usize)?;
        Some((key, log.get(offset.0)?))
    }

    /// The messages of `key` from the first existing offset at or after `from`, ascending
    /// and contiguous, as far as `budget` allows. `None` when there is nothing to return.
    ///
    /// spec: kafka.md 2.3 — the run is a prefix of the log from the requested offset: no
    /// message skipped, none below the requested offset.
    pub(crate) fn read(&self, key: &Key, from: Offset, budget: &mut Budget) -> Option<MsgRun> {
        let log = &self.logs[self.find(key)?].1;
        // First find how far the budget reaches, then copy that stretch of text at once
        // into a run allocated to size.
        let first = from.0;
        let mut end = first;
        while end < log.len && budget.msgs > 0 {
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
        let (segment, i) = log.locate(first).expect("first is below the log's length");
        match &segment.text {
            SegmentText::Packed { text, ends } if end - first <= (ends.len() - i) as u64 => {
                let count = (end - first) as usize;
                let text_start = if i == 0 { 0 } else { ends[i - 1] };
                let text = &text[text_start as usize..ends[i + count - 1] as usize];
                let ends = ends[i..i + count].iter().map(|e| (e - text_start) as usize);
                Some(MsgRun::from_parts(key.clone(), first, text, ends))
            }
            // The run crosses segments, which takes gigabytes of messages in one key.
            _ => {
                let mut run = MsgRun::new(key.clone());
                for offset in first..end {
                    let msg = log.get(offset).expect("offset is below the log's length");
                    run.push_raw(Offset(offset), msg);
                }
                Some(run)
            }
        }
    }

    /// Messages over all keys.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Panics if a storage invariant is broken.
    pub(crate) fn check_invariants(&self) {
        let mut total = 0;
        for (i, (key, log)) in self.logs.iter().enumerate() {
            assert_eq!(self.find(key), Some(i), "the table does not find {key:?}");
            let mut next = 0;
            for segment in &log.segments {
                assert_eq!(segment.first, next, "segments of {key:?} leave a gap");
                if let SegmentText::Packed { text, ends } = &segment.text {
                    assert!(
                        ends.windows(2).all(|w| w[0] <= w[1]),
                        "ends of {key:?} go backwards"
                    );
                    assert_eq!(
                        ends.last().map_or(0, |&e| e as usize),
                        text.len(),
                        "ends of {key:?} do not cover its text"
                    );
                }
                next += segment.len();
            }
            assert_eq!(next, log.len, "segments of {key:?} miscount its messages");
            total += log.len;
        }
        assert!(
            self.slots.is_empty() || self.slots.len() >= 2 * self.logs.len(),
            "the key table is more than half full"
        );
        assert_eq!(total, self.count, "message count drifted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many keys, some sharing prefixes and some long, against a `BTreeMap` oracle:
    /// every key finds its own log through every growth of the table.
    #[test]
    fn every_key_finds_its_own_log() {
        let mut logs = Logs::default();
        let mut oracle: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for round in 0..3 {
            for k in 0..300 {
                let name = match k % 3 {
                    0 => k.to_string(),
                    1 => format!("key-{k}-with-a-name-longer-than-inline"),
                    _ => format!("{k}\u{0}"),
                };
                let key = Key::new(&name);
                let msg = format!("[{round},{k}]");
                let offset = logs.append(&key, &msg);
                let log = oracle.entry(name).or_default();
                assert_eq!(offset, Offset(log.len() as u64));
                log.push(msg);
            }
            logs.check_invariants();
        }
        for (name, msgs) in &oracle {
            let mut budget = Budget {
                msgs: usize::MAX,
                bytes: usize::MAX,
                taken: false,
            };
            let run = logs
                .read(&Key::new(name), Offset(1), &mut budget)
                .expect("every key has messages past offset 1");
            let got: Vec<(u64, &str)> = run.iter().map(|(o, m)| (o.0, m)).collect();
            let want: Vec<(u64, &str)> = (1..).zip(msgs[1..].iter().map(String::as_str)).collect();
            assert_eq!(got, want, "{name:?}");
        }
        let mut budget = Budget {
            msgs: 1,
            bytes: 0,
            taken: false,
        };
        assert!(
            logs.read(&Key::new("absent"), Offset(0), &mut budget)
                .is_none()
        );
        assert_eq!(logs.count(), 900);
    }
}
