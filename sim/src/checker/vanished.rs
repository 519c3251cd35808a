//! `vanished-message`, our strict check of durability (spec: kafka.md 2.2, "an
//! acknowledged message MUST remain readable forever", and 2.6 items 1 and 3): a message
//! that some op once showed, and that the final polls, reading its key from the start,
//! no longer find where it was.
//!
//! Jepsen misses a message that was read and later disappears: `unseen` wants a message
//! nobody ever polled, and `lost-write` only looks below the highest offset read, so a
//! truncated tail, a compaction that drops the last entry, or a follower that loses an
//! entry a leader change rolled back all pass its checker.
//!
//! A *final read* is what one final-phase process polled of one key after its seek to the
//! beginning (spec: kafka.md 3.7): every `[offset value]` pair its `Ok` polls returned for
//! that key. It covers the offsets below its end (one past the highest offset it read),
//! since a read from offset 0 passes every offset below the last one it returns. It covers
//! every offset when the process's last `Ok` poll returned no message at all: the node
//! then said that nothing exists at or past any position the process asked for, and a
//! node with something to return sends at least one message (core's budgets always let
//! the first one through; spec: kafka.md 2.3 allows fewer, but not none forever, or the
//! final polls could never catch up). A final read cut off while still reading covers
//! only what it passed, so a slow node is never accused.
//!
//! A message is anything a `send_ok` acknowledged or a poll returned: the raw log of spec
//! 4.1. Each message missing from a final read that covers its offset is one case,
//! reported once however many final reads miss it.

use super::Findings;
use super::cases::{Case, names};
use super::index::{Analysis, OpRef, op_reads, op_write};
use crate::history::{F, OpType, OpValue, Val};
use replicator_core::Key;
use std::collections::{BTreeMap, BTreeSet};

/// What one final-phase process read after its seek to the beginning.
struct FinalRead<'h> {
    /// The keys the seek named: each is read from offset 0.
    keys: &'h [Key],
    /// Key → the `(offset, value)` pairs its `Ok` polls returned.
    read: BTreeMap<&'h Key, BTreeSet<(u64, &'h Val)>>,
    /// The process's last `Ok` poll after the seek.
    last_poll: Option<usize>,
    /// Whether that poll returned no message at all.
    ended_empty: bool,
}

impl FinalRead<'_> {
    /// One past the highest offset read of `key` (0 when nothing was).
    fn end(&self, key: &Key) -> u64 {
        self.read
            .get(key)
            .and_then(|pairs| pairs.last())
            .map_or(0, |&(o, _)| o.saturating_add(1))
    }

    /// Whether the read covers `offset` of `key`: see the module docs.
    fn covers(&self, key: &Key, offset: u64) -> bool {
        self.ended_empty || offset < self.end(key)
    }

    fn contains(&self, key: &Key, offset: u64, value: &Val) -> bool {
        self.read
            .get(key)
            .is_some_and(|pairs| pairs.contains(&(offset, value)))
    }
}

/// The final reads of every process that sought to the beginning, in process order.
fn final_reads<'h>(a: &Analysis<'h>) -> Vec<FinalRead<'h>> {
    let mut reads = Vec::new();
    for positions in a.by_process.values() {
        let mut current: Option<FinalRead<'h>> = None;
        for &pos in positions {
            let op = a.op(pos);
            if op.ty != OpType::Ok {
                continue;
            }
            match (&op.value, op.f) {
                (
                    OpValue::Assign {
                        keys,
                        seek_to_beginning,
                        ..
                    },
                    F::Assign,
                ) => {
                    // Any assign ends the read; a seek starts a new one.
                    reads.extend(current.take());
                    if *seek_to_beginning {
                        current = Some(FinalRead {
                            keys,
                            read: BTreeMap::new(),
                            last_poll: None,
                            ended_empty: false,
                        });
                    }
                }
                (_, F::Poll) => {
                    let (Some(read), Some(msgs)) = (current.as_mut(), op_reads(op)) else {
                        continue;
                    };
                    for (key, pairs) in msgs {
                        let entry = read.read.entry(key).or_default();
                        entry.extend(pairs.iter().map(|(o, v)| (*o, v)));
                    }
                    read.last_poll = Some(pos);
                    read.ended_empty = msgs.values().all(Vec::is_empty);
                }
                _ => {}
            }
        }
        reads.extend(current);
    }
    reads
}

/// The first op that showed `value` at `offset` of `key`: an acknowledged send or a poll.
fn first_showing(a: &Analysis<'_>, key: &Key, offset: u64, value: &Val) -> Option<usize> {
    let sent = a
        .writer_of
        .get(key)
        .and_then(|w| w.get(value))
        .copied()
        .filter(|&w| {
            let op = a.op(w);
            op.ty == OpType::Ok && op_write(op).is_some_and(|(_, _, o)| o == Some(offset))
        });
    let read = a
        .readers_of
        .get(key)
        .and_then(|r| r.get(value))
        .and_then(|readers| {
            readers.iter().copied().find(|&r| {
                op_reads(a.op(r))
                    .and_then(|msgs| msgs.get(key))
                    .is_some_and(|pairs| pairs.iter().any(|(o, v)| *o == offset && v == value))
            })
        });
    sent.into_iter().chain(read).min()
}

/// Runs the check.
pub(crate) fn check(a: &Analysis<'_>, out: &mut Findings) {
    let mut reported: BTreeSet<(&Key, u64, &Val)> = BTreeSet::new();
    for final_read in final_reads(a) {
        let Some(last_poll) = final_read.last_poll else {
            // A process that never completed a poll after its seek read nothing.
            continue;
        };
        for key in final_read.keys {
            let Some(log) = a.logs.get(key) else { continue };
            let covered = log
                .raw
                .iter()
                .take_while(|&(&offset, _)| final_read.covers(key, offset));
            for (&offset, values) in covered {
                for value in values {
                    if final_read.contains(key, offset, value)
                        || !reported.insert((key, offset, value))
                    {
                        continue;
                    }
                    let Some(first) = first_showing(a, key, offset, value) else {
                        continue;
                    };
                    out.entry(names::VANISHED_MESSAGE)
                        .or_default()
                        .push(Case::VanishedMessage {
                            key: key.clone(),
                            offset,
                            value: value.clone(),
                            first_seen: OpRef::lazy(a.op(first)),
                            read_end: final_read.end(key),
                            ended_empty: final_read.ended_empty,
                            final_poll: OpRef::lazy(a.op(last_poll)),
                        });
                }
            }
        }
    }
}
