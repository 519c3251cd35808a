//! Realtime lag (spec: kafka.md 4.3, Jepsen's `realtime-lag`): for each `Ok` poll and each
//! key its process is positioned on, how long the offset after the highest one the process
//! knows had already been known to exist when the poll was invoked.
//!
//! Informational: it never affects validity.

use super::index::{Analysis, op_assign_keys, op_reads, op_write};
use crate::history::{F, OpType, Process};
use replicator_core::Key;
use std::collections::BTreeMap;

/// The worst lag of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorstLag {
    /// Invocation time of the poll, in microseconds.
    pub time: u64,
    /// Its process.
    pub process: Process,
    /// The key.
    pub key: Option<Key>,
    /// The lag, in microseconds.
    pub lag: u64,
}

/// For one key, when each raw offset became known to exist. Jepsen keeps a vector indexed
/// by raw offset; since an offset's time is that of the first op to know it *or any higher
/// offset*, the vector is a step function, stored here as `(highest offset, time)` steps
/// with both increasing. That keeps memory bounded by the number of ops even when a node
/// returns huge offsets (spec: kafka.md 2.6 item 7).
#[derive(Debug, Default)]
struct Expiry {
    steps: Vec<(u64, u64)>,
}

impl Expiry {
    /// Records that every offset up to `offset` exists as of `time`.
    fn know(&mut self, offset: u64, time: u64) {
        if self.steps.last().is_none_or(|&(hi, _)| offset > hi) {
            self.steps.push((offset, time));
        }
    }

    /// When `offset` was first known to exist, if ever.
    fn known_at(&self, offset: u64) -> Option<u64> {
        let i = self.steps.partition_point(|&(hi, _)| hi < offset);
        self.steps.get(i).map(|&(_, t)| t)
    }
}

/// For each key one completed op names, the offset just past the highest one it saw:
/// acknowledged sends and poll results (Jepsen's `op->max-offsets`, plus one). An empty
/// poll list gives 0, Jepsen's `-1` plus one. Offsets stay unsigned so that no reply,
/// however large its offsets, can overflow.
fn next_offsets(a: &Analysis<'_>, pos: usize) -> BTreeMap<Key, u64> {
    let op = a.op(pos);
    let mut out = BTreeMap::new();
    if !matches!(op.ty, OpType::Ok | OpType::Info) {
        return out;
    }
    if let Some((key, _, Some(offset))) = op_write(op) {
        out.insert(key.clone(), offset.saturating_add(1));
    }
    if let Some(msgs) = op_reads(op) {
        for (key, pairs) in msgs {
            let next = pairs
                .iter()
                .map(|&(o, _)| o.saturating_add(1))
                .max()
                .unwrap_or(0);
            let e = out.entry(key.clone()).or_insert(next);
            *e = (*e).max(next);
        }
    }
    out
}

/// Computes the worst realtime lag; `{time 0, lag 0}` when there is no poll to measure,
/// as Jepsen's default.
pub(crate) fn worst(a: &Analysis<'_>) -> WorstLag {
    let mut expired: BTreeMap<Key, Expiry> = BTreeMap::new();
    for pos in 0..a.ops.len() {
        for (key, next) in next_offsets(a, pos) {
            if next > 0 {
                let time = a.op(pos).time;
                expired.entry(key).or_default().know(next - 1, time);
            }
        }
    }
    // Process → key → the offset after the highest one the process has seen.
    let mut positions: BTreeMap<Process, BTreeMap<Key, u64>> = BTreeMap::new();
    let mut worst: Option<WorstLag> = None;
    for (pos, op) in a.ops.iter().enumerate() {
        if op.ty != OpType::Ok {
            continue;
        }
        match op.f {
            F::Assign => {
                let Some(keys) = op_assign_keys(op) else {
                    continue;
                };
                let old = positions.remove(&op.process).unwrap_or_default();
                let new = keys
                    .iter()
                    .map(|k| (k.clone(), old.get(k).copied().unwrap_or(0)))
                    .collect();
                positions.insert(op.process, new);
            }
            F::Poll => {
                let Some(invoked) = a.partner(pos).map(|inv| inv.time) else {
                    continue;
                };
                let offsets = positions.entry(op.process).or_default();
                for (key, next) in next_offsets(a, pos) {
                    let e = offsets.entry(key).or_insert(next);
                    *e = (*e).max(next);
                }
                for (key, &next) in offsets.iter() {
                    let known = expired.get(key).and_then(|e| e.known_at(next));
                    let lag = known.map_or(0, |t| invoked.saturating_sub(t));
                    // Jepsen's `max-by` keeps the first of equal maxima.
                    if worst.as_ref().is_none_or(|w| lag > w.lag) {
                        worst = Some(WorstLag {
                            time: invoked,
                            process: op.process,
                            key: Some(key.clone()),
                            lag,
                        });
                    }
                }
            }
            F::Send | F::Crash => {}
        }
    }
    worst.unwrap_or_default()
}
