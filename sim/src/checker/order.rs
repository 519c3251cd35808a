//! Order anomalies (spec: kafka.md 4.2 items 6–11): skips and backward steps between
//! successive polls or sends of one process, and inside one op.
//!
//! Every comparison uses the dense-index delta of spec 4.1: an unknown index on either
//! side makes the delta 1, which is never an anomaly.

use super::Findings;
use super::cases::{Case, names};
use super::index::{Analysis, KeyLog, OpRef, op_assign_keys, op_reads, op_write};
use crate::history::{F, Op, OpType, Val};
use replicator_core::Key;
use std::collections::BTreeMap;

/// Runs every check of this module.
pub(crate) fn check(a: &Analysis<'_>, out: &mut Findings) {
    for positions in a.by_process.values() {
        poll_skips(a, positions, out);
        nonmonotonic_sends(a, positions, out);
    }
    for op in a.ops {
        int_polls(a, op, out);
        if op.ty != OpType::Invoke
            && let Some((key, value, _)) = op_write(op)
        {
            int_sends(a.log(key), key, std::slice::from_ref(value), op, out);
        }
    }
}

/// Jepsen's assign rule for per-process tracking: an `Ok` or `Info` assign keeps only the
/// keys it names; invocations and failed assigns change nothing.
fn retain_assigned<T>(op: &Op, last: &mut BTreeMap<Key, T>) {
    if matches!(op.ty, OpType::Ok | OpType::Info)
        && let Some(keys) = op_assign_keys(op)
    {
        last.retain(|k, _| keys.contains(k));
    }
}

/// spec: kafka.md 4.2.6–7 — per process and key, the last value the previous `Ok` poll
/// read against the first value the new poll reads.
///
/// The previous op is remembered per key even when its list for that key was empty: the
/// "last value" is then unknown and the next delta is 1 (the `k: []` quirk of 4.5).
fn poll_skips(a: &Analysis<'_>, positions: &[usize], out: &mut Findings) {
    let mut last_reads: BTreeMap<Key, usize> = BTreeMap::new();
    for &pos in positions {
        let op = a.op(pos);
        match op.f {
            F::Assign => retain_assigned(op, &mut last_reads),
            F::Poll => {
                let Some(msgs) = op_reads(op) else { continue };
                for (key, pairs) in msgs {
                    let Some(&last_pos) = last_reads.get(key) else {
                        continue;
                    };
                    let last_op = a.op(last_pos);
                    let prev = op_reads(last_op)
                        .and_then(|m| m.get(key))
                        .and_then(|p| p.last())
                        .map(|(_, v)| v);
                    let next = pairs.first().map(|(_, v)| v);
                    let log = a.log(key);
                    let (delta, indices) = log.delta(prev, next);
                    // Rendering ops is costly (a final poll names every key): only
                    // for cases.
                    let ops = || vec![OpRef::lazy(last_op), OpRef::lazy(op)];
                    if delta > 1
                        && let Some((i, j)) = indices
                    {
                        out.entry(names::POLL_SKIP).or_default().push(Case::Order {
                            name: names::POLL_SKIP,
                            key: key.clone(),
                            values: None,
                            delta,
                            skipped: Some(log.between(i, j)),
                            ops: ops(),
                        });
                    } else if delta < 1
                        && let (Some(prev), Some(next)) = (prev, next)
                    {
                        out.entry(names::NONMONOTONIC_POLL)
                            .or_default()
                            .push(Case::Order {
                                name: names::NONMONOTONIC_POLL,
                                key: key.clone(),
                                values: Some([prev.clone(), next.clone()]),
                                delta,
                                skipped: None,
                                ops: ops(),
                            });
                    }
                }
                // Only `Ok` polls move the tracking; failed or crashed ones leave it.
                if op.ty == OpType::Ok {
                    for key in msgs.keys() {
                        last_reads.insert(key.clone(), pos);
                    }
                }
            }
            F::Send | F::Crash => {}
        }
    }
}

/// spec: kafka.md 4.2.8–9 — consecutive values of one poll's list for a key.
fn int_polls(a: &Analysis<'_>, op: &Op, out: &mut Findings) {
    let Some(msgs) = op_reads(op) else { return };
    for (key, pairs) in msgs {
        let values: Vec<&Val> = pairs.iter().map(|(_, v)| v).collect();
        int_pairs(
            a.log(key),
            key,
            &values,
            op,
            (names::INT_POLL_SKIP, names::INT_NONMONOTONIC_POLL),
            out,
        );
    }
}

/// spec: kafka.md 4.2.11 — consecutive values one op sends to a key. Maelstrom's sends
/// carry one message, so this finds nothing in its histories; the definition is kept for
/// multi-send ops.
fn int_sends(log: &KeyLog, key: &Key, values: &[Val], op: &Op, out: &mut Findings) {
    let values: Vec<&Val> = values.iter().collect();
    int_pairs(
        log,
        key,
        &values,
        op,
        (names::INT_SEND_SKIP, names::INT_NONMONOTONIC_SEND),
        out,
    );
}

/// Compares each pair of consecutive values inside one op. Jepsen carries the previous
/// index along even when it is unknown, so a value without an index makes both of its
/// comparisons fine.
fn int_pairs(
    log: &KeyLog,
    key: &Key,
    values: &[&Val],
    op: &Op,
    (skip, nonmonotonic): (&'static str, &'static str),
    out: &mut Findings,
) {
    for pair in values.windows(2) {
        let (v1, v2) = (pair[0], pair[1]);
        let (delta, indices) = log.delta(Some(v1), Some(v2));
        let (name, skipped) = if delta > 1 {
            let skipped = indices.map(|(i, j)| log.between(i, j)).unwrap_or_default();
            (skip, Some(skipped))
        } else if delta < 1 {
            (nonmonotonic, None)
        } else {
            continue;
        };
        out.entry(name).or_default().push(Case::Order {
            name,
            key: key.clone(),
            values: Some([v1.clone(), v2.clone()]),
            delta,
            skipped,
            ops: vec![OpRef::lazy(op)],
        });
    }
}

/// spec: kafka.md 4.2.10 — per process, over `Ok` and `Info` ops, the last value the
/// previous send to a key wrote against the first value the new one writes.
fn nonmonotonic_sends(a: &Analysis<'_>, positions: &[usize], out: &mut Findings) {
    let mut last_sends: BTreeMap<Key, usize> = BTreeMap::new();
    for &pos in positions {
        let op = a.op(pos);
        if !matches!(op.ty, OpType::Ok | OpType::Info) {
            continue;
        }
        match op.f {
            F::Assign => retain_assigned(op, &mut last_sends),
            F::Send => {
                let Some((key, value, _)) = op_write(op) else {
                    continue;
                };
                if let Some(&last_pos) = last_sends.get(key) {
                    let last_op = a.op(last_pos);
                    if let Some((_, prev, _)) = op_write(last_op) {
                        let (delta, _) = a.log(key).delta(Some(prev), Some(value));
                        if delta < 1 {
                            out.entry(names::NONMONOTONIC_SEND)
                                .or_default()
                                .push(Case::Order {
                                    name: names::NONMONOTONIC_SEND,
                                    key: key.clone(),
                                    values: Some([prev.clone(), value.clone()]),
                                    delta,
                                    skipped: None,
                                    ops: vec![OpRef::lazy(last_op), OpRef::lazy(op)],
                                });
                        }
                    }
                }
                last_sends.insert(key.clone(), pos);
            }
            F::Poll | F::Crash => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::testkit::Hb;
    use crate::history::History;

    /// A log of "k" holding 1, 2, 3 at offsets 0, 1, 2, and the send op of that history.
    fn setup() -> History {
        let mut h = Hb::new();
        h.send(0, "k", 1, 0).send(0, "k", 2, 1).send(0, "k", 3, 2);
        h.build()
    }

    fn run(values: &[i64]) -> Findings {
        let history = setup();
        let a = Analysis::new(&history);
        let key = Key::new("k");
        let values: Vec<Val> = values.iter().map(|&n| Val::Int(n)).collect();
        let mut out = Findings::new();
        int_sends(a.log(&key), &key, &values, &history.ops[1], &mut out);
        out
    }

    #[test]
    fn int_send_skip_and_nonmonotonic_follow_the_definition() {
        let skip = run(&[1, 3]);
        let [Case::Order { delta, skipped, .. }] = skip[names::INT_SEND_SKIP].as_slice() else {
            panic!("{skip:?}")
        };
        assert_eq!((*delta, skipped.as_deref()), (2, Some(&[Val::Int(2)][..])));
        let back = run(&[3, 1]);
        assert_eq!(back[names::INT_NONMONOTONIC_SEND][0].sort_key(), -2);
        // In order, or with a value of unknown index: nothing.
        assert!(run(&[1, 2, 3]).is_empty());
        assert!(run(&[1, 7, 3]).is_empty());
    }
}
