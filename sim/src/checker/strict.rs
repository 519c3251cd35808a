//! Our stricter checks of polls and of the wire, reported apart from the Maelstrom
//! verdict (spec: kafka.md 4.5 and 8.3): polls that start past (or before) where the
//! client asked, and what the runner saw on the wire. The other strict checks have a
//! module each: `committed`, `vanished` and `payloads`.
//!
//! Invariant: a client position is only trusted while the history determines it: a
//! failed poll may have moved positions the history no longer shows (spec: kafka.md 3.6
//! step 4).

use super::Findings;
use super::cases::{Case, names};
use super::index::{Analysis, OpRef, op_reads};
use crate::history::{History, OpType, OpValue, ViolationKind};
use replicator_core::Key;
use std::collections::BTreeMap;

/// Runs the checks of this module.
pub(crate) fn check(a: &Analysis<'_>, history: &History, out: &mut Findings) {
    poll_starts(a, out);
    wire(history, out);
}

/// Replays each process's client algorithm (spec: kafka.md 3.6) to learn the offset every
/// poll requested, then checks where each reply starts: never below the request (spec:
/// kafka.md 2.3), and never past a message known to exist at or after it, since offsets
/// grow in append order and a message below the first one returned was already there.
fn poll_starts(a: &Analysis<'_>, out: &mut Findings) {
    for positions in a.by_process.values() {
        // Key → the next offset to request; `None` once the history no longer says.
        let mut next: BTreeMap<Key, Option<u64>> = BTreeMap::new();
        for &pos in positions {
            let op = a.op(pos);
            match (&op.value, op.ty) {
                (
                    OpValue::Assign {
                        keys,
                        seek_to_beginning,
                        committed,
                    },
                    OpType::Ok,
                ) => {
                    let old = std::mem::take(&mut next);
                    for key in keys {
                        // Seeking to the beginning resets every key, kept or not; an
                        // ordinary assign keeps the position of a key it keeps, and starts
                        // a new one at the listed committed offset, or 0.
                        let position = if *seek_to_beginning {
                            Some(0)
                        } else {
                            match old.get(key) {
                                Some(p) => *p,
                                None => {
                                    committed.as_ref().map(|c| c.get(key).copied().unwrap_or(0))
                                }
                            }
                        };
                        next.insert(key.clone(), position);
                    }
                }
                (OpValue::Poll { .. }, OpType::Ok) => {
                    let Some(msgs) = op_reads(op) else { continue };
                    for (key, pairs) in msgs {
                        if let (Some(Some(requested)), Some(&(first, _))) =
                            (next.get(key), pairs.first())
                        {
                            check_start(a, key, *requested, first, op, out);
                        }
                        let hi = pairs
                            .iter()
                            .map(|&(o, _)| o.saturating_add(1))
                            .max()
                            .unwrap_or(0);
                        let slot = next.entry(key.clone()).or_insert(Some(0));
                        if let Some(p) = slot {
                            *p = (*p).max(hi);
                        }
                    }
                }
                (OpValue::Poll { .. }, OpType::Fail | OpType::Info) => {
                    for p in next.values_mut() {
                        *p = None;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Checks one key of one poll reply against the offset the client requested.
fn check_start(
    a: &Analysis<'_>,
    key: &Key,
    requested: u64,
    first: u64,
    op: &crate::history::Op,
    out: &mut Findings,
) {
    if first < requested {
        out.entry(names::POLL_BELOW_REQUESTED)
            .or_default()
            .push(Case::PollStart {
                name: names::POLL_BELOW_REQUESTED,
                key: key.clone(),
                requested,
                first_offset: first,
                skipped: Vec::new(),
                op: OpRef::lazy(op),
            });
        return;
    }
    let skipped: Vec<(u64, crate::history::Val)> = a
        .log(key)
        .raw
        .range(requested..first)
        .flat_map(|(o, vs)| vs.iter().map(move |v| (*o, v.clone())))
        .take(8)
        .collect();
    if !skipped.is_empty() {
        out.entry(names::POLL_STARTS_PAST_MESSAGE)
            .or_default()
            .push(Case::PollStart {
                name: names::POLL_STARTS_PAST_MESSAGE,
                key: key.clone(),
                requested,
                first_offset: first,
                skipped,
                op: OpRef::lazy(op),
            });
    }
}

/// Protocol violations the runner recorded, one case each.
fn wire(history: &History, out: &mut Findings) {
    for v in &history.violations {
        let name = match v.kind {
            ViolationKind::MalformedReply => names::MALFORMED_REPLY,
            ViolationKind::MalformedEnvelope => names::MALFORMED_ENVELOPE,
            ViolationKind::UnknownDestination => names::UNKNOWN_DESTINATION,
            ViolationKind::ReplyToNobody => names::REPLY_TO_NOBODY,
        };
        out.entry(name).or_default().push(Case::Wire {
            name,
            node: v.node.clone(),
            time: v.time,
            detail: v.detail.clone(),
        });
    }
}
