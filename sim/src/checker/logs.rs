//! Anomalies of the log as a whole (spec: kafka.md 4.2 items 1–5, and 4.4's
//! `phantom-value`): what the reconstructed logs, the writers and the readers say,
//! independent of any one process's order.

use super::Findings;
use super::cases::{Case, names};
use super::index::{Analysis, OpRef, op_reads, op_write};
use crate::history::{F, OpType, Val};
use replicator_core::Key;
use std::collections::{BTreeMap, BTreeSet};

/// Runs every check of this module.
pub(crate) fn check(a: &Analysis<'_>, out: &mut Findings) {
    inconsistent_offsets(a, out);
    duplicates(a, out);
    g1a(a, out);
    lost_writes(a, out);
    unseen(a, out);
    phantoms(a, out);
}

/// spec: kafka.md 4.2.1 — an offset seen with two or more values.
fn inconsistent_offsets(a: &Analysis<'_>, out: &mut Findings) {
    for (key, log) in &a.logs {
        for (index, (offset, values)) in log.raw.iter().enumerate() {
            if values.len() >= 2 {
                out.entry(names::INCONSISTENT_OFFSETS).or_default().push(
                    Case::InconsistentOffsets {
                        key: key.clone(),
                        offset: *offset,
                        index,
                        values: values.iter().cloned().collect(),
                    },
                );
            }
        }
    }
}

/// spec: kafka.md 4.2.2 — a value at two or more offsets of a key's raw log.
fn duplicates(a: &Analysis<'_>, out: &mut Findings) {
    for (key, log) in &a.logs {
        let mut offsets: BTreeMap<&Val, Vec<u64>> = BTreeMap::new();
        for (offset, values) in &log.raw {
            for value in values {
                offsets.entry(value).or_default().push(*offset);
            }
        }
        for (value, offsets) in offsets {
            if offsets.len() > 1 {
                out.entry(names::DUPLICATE)
                    .or_default()
                    .push(Case::Duplicate {
                        key: key.clone(),
                        value: value.clone(),
                        count: offsets.len(),
                        offsets,
                    });
            }
        }
    }
}

/// spec: kafka.md 4.2.3 — an `Ok` poll returned a value whose send failed definitely.
/// One case per value occurrence, in history order, as Jepsen's `g1a-cases`.
fn g1a(a: &Analysis<'_>, out: &mut Findings) {
    for op in a.ops.iter().filter(|op| op.ty == OpType::Ok) {
        let Some(msgs) = op_reads(op) else { continue };
        for (key, pairs) in msgs {
            let Some(failed) = a.writes_fail.get(key) else {
                continue;
            };
            for (_, value) in pairs {
                if failed.contains(value) {
                    let writer = writer(a, key, value).map(|w| OpRef::lazy(a.op(w)));
                    out.entry(names::G1A).or_default().push(Case::G1a {
                        key: key.clone(),
                        value: value.clone(),
                        writer,
                        reader: OpRef::lazy(op),
                    });
                }
            }
        }
    }
}

/// The last completion that sent `value` to `key`.
fn writer(a: &Analysis<'_>, key: &Key, value: &Val) -> Option<usize> {
    a.writer_of.get(key).and_then(|w| w.get(value)).copied()
}

/// spec: kafka.md 4.2.4 — values whose last index is at or below the largest first index
/// of any value an `Ok` poll read, that no `Ok` poll read, and whose send must have
/// taken effect.
fn lost_writes(a: &Analysis<'_>, out: &mut Findings) {
    for (key, read) in &a.reads_ok {
        let log = a.log(key);
        let first_index = log.value_first_index();
        let last_index = log.last_index_values();
        // Values read without a known offset say nothing about how far the key was read.
        let bound = read
            .iter()
            .filter_map(|v| first_index.get(v))
            .map(|&i| i as i64)
            .max()
            .unwrap_or(-1);
        // A key that `Ok` polls only ever returned as `[]` has bound -1. Jepsen 0.3.7 then
        // calls `(nth last-index->values -1)`, which throws: the whole kafka checker
        // becomes `:unknown`. We report nothing for such a key instead (see
        // `Report::maelstrom_unknown`).
        if bound < 0 {
            continue;
        }
        let bound_index = bound as usize;
        // Jepsen shows the first reader of (any) value whose last index is the bound, to
        // prove that someone read that far.
        let max_read = last_index
            .get(bound_index)
            .and_then(|vs| vs.first())
            .and_then(|v| a.readers_of.get(key).and_then(|r| r.get(*v)))
            .and_then(|readers| readers.first())
            .map(|&pos| OpRef::lazy(a.op(pos)));
        let mut seen = BTreeSet::new();
        for values in last_index.iter().take(bound_index + 1) {
            for &value in values {
                if read.contains(value) || !seen.insert(value) {
                    continue;
                }
                // Jepsen throws when a value has no writer; that value is reported as a
                // phantom instead, and cannot be a lost write.
                let Some(w) = writer(a, key, value) else {
                    continue;
                };
                if !a.must_have_committed(a.op(w)) {
                    continue;
                }
                out.entry(names::LOST_WRITE)
                    .or_default()
                    .push(Case::LostWrite {
                        key: key.clone(),
                        value: value.clone(),
                        index: first_index.get(value).copied(),
                        max_read_index: bound,
                        writer: OpRef::lazy(a.op(w)),
                        max_read: max_read.clone(),
                    });
            }
        }
    }
}

/// spec: kafka.md 4.2.5 — over `Ok` sends and polls in history order, what was sent minus
/// what was polled; the last snapshot is reported when any key has unseen values.
///
/// Jepsen recomputes `unseen = sent − polled` after every op, merging the two maps over the
/// union of their keys, and carries `unseen` forward as the next `sent`. Only the last
/// snapshot is reported, so we keep the same state incrementally: an op changes only the
/// keys it touches. One quirk survives the merge: a key that was polled but is not in
/// `sent` keeps its *polled* set in that snapshot, and the next op empties it again. It
/// therefore shows only when the very last `Ok` op is the first to mention such a key
/// (say, one whose sends were all indefinite); we keep it to report what Maelstrom does.
fn unseen(a: &Analysis<'_>, out: &mut Findings) {
    let mut unseen: BTreeMap<Key, BTreeSet<Val>> = BTreeMap::new();
    let mut polled: BTreeMap<Key, BTreeSet<Val>> = BTreeMap::new();
    let mut quirk: Vec<Key> = Vec::new();
    let mut time = None;
    for op in a.ops.iter().filter(|op| op.ty == OpType::Ok) {
        if !matches!(op.f, F::Send | F::Poll) {
            continue;
        }
        time = Some(op.time);
        let mut touched: Vec<&Key> = Vec::new();
        if let Some((key, value, _)) = op_write(op) {
            unseen.entry(key.clone()).or_default().insert(value.clone());
            touched.push(key);
        }
        if let Some(msgs) = op_reads(op) {
            for (key, pairs) in msgs {
                let set = polled.entry(key.clone()).or_default();
                set.extend(pairs.iter().map(|(_, v)| v.clone()));
                touched.push(key);
            }
        }
        // Last op's quirk keys now hold a subset of what was polled: the difference
        // empties them.
        for key in quirk.drain(..) {
            if let (Some(values), Some(seen)) = (unseen.get_mut(&key), polled.get(&key)) {
                values.retain(|v| !seen.contains(v));
            }
        }
        for key in touched {
            let seen = polled.get(key);
            match unseen.get_mut(key) {
                Some(values) => {
                    if let Some(seen) = seen {
                        values.retain(|v| !seen.contains(v));
                    }
                }
                None => {
                    unseen.insert(key.clone(), seen.cloned().unwrap_or_default());
                    quirk.push(key.clone());
                }
            }
        }
    }
    let Some(time) = time else { return };
    let counts: Vec<(Key, usize)> = unseen
        .iter()
        .filter(|(_, vs)| !vs.is_empty())
        .map(|(k, vs)| (k.clone(), vs.len()))
        .collect();
    if counts.is_empty() {
        return;
    }
    // spec: kafka.md 4.6 — the messages are cut to the first 32 sorted values per key.
    let messages = unseen
        .iter()
        .filter(|(_, vs)| !vs.is_empty())
        .map(|(k, vs)| (k.clone(), vs.iter().take(32).cloned().collect()))
        .collect();
    out.entry(names::UNSEEN).or_default().push(Case::Unseen {
        time,
        unseen: counts,
        messages,
    });
}

/// spec: kafka.md 4.4 — a value read from a key that no send (of any outcome) wrote to
/// that key. Elle throws "no writer of value" here and Maelstrom reports `:unknown`; we
/// report the first reader of each such value instead.
fn phantoms(a: &Analysis<'_>, out: &mut Findings) {
    for (key, readers) in &a.readers_of {
        for (value, readers) in readers {
            if writer(a, key, value).is_some() {
                continue;
            }
            if let Some(&first) = readers.first() {
                out.entry(names::PHANTOM_VALUE)
                    .or_default()
                    .push(Case::PhantomValue {
                        key: key.clone(),
                        value: value.clone(),
                        reader: OpRef::lazy(a.op(first)),
                    });
            }
        }
    }
}
