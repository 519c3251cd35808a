//! What the report's figures plot, computed from the history and the message record:
//! one latency point per completed operation, the nemesis's intervals, and counts per
//! time bucket. Pure data, so that the figures only draw and the tests can compare what
//! was drawn with what happened.
//!
//! Invariants:
//! - Latency is Maelstrom's: completion time minus invocation time of the same process,
//!   whatever the completion's type (spec: kafka.md 6.4), one point per completion.
//! - Bucket counts add up to the totals they split: every completion of the plotted
//!   kinds, every message sent (lost ones and duplicates included, as `send-count`).

use crate::history::{F, History, Micros, NemesisKind, OpType, Process};
use crate::messages::Recording;
use std::collections::BTreeMap;

/// One completed operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LatencyPoint {
    /// When it completed.
    pub completed: Micros,
    /// Completion minus invocation.
    pub latency: Micros,
    /// Its function.
    pub f: F,
    /// How it completed.
    pub ty: OpType,
}

/// The functions the latency and rate figures show: a client crash is not a request to
/// the node (it completes as `:info` the instant it is invoked).
pub(crate) const PLOTTED: [F; 3] = [F::Send, F::Poll, F::Assign];

/// Jepsen's name for a function.
pub(crate) fn f_name(f: F) -> &'static str {
    match f {
        F::Send => "send",
        F::Poll => "poll",
        F::Assign => "assign",
        F::Crash => "crash",
    }
}

/// Jepsen's name for a completion type.
pub(crate) fn type_name(ty: OpType) -> &'static str {
    match ty {
        OpType::Invoke => "invoke",
        OpType::Ok => "ok",
        OpType::Info => "info",
        OpType::Fail => "fail",
    }
}

/// Every completion with its latency, in history order.
pub(crate) fn latency_points(history: &History) -> Vec<LatencyPoint> {
    let mut invoked: BTreeMap<Process, Micros> = BTreeMap::new();
    let mut points = Vec::new();
    for op in &history.ops {
        if op.ty == OpType::Invoke {
            invoked.insert(op.process, op.time);
        } else if let Some(start) = invoked.remove(&op.process) {
            points.push(LatencyPoint {
                completed: op.time,
                latency: op.time.saturating_sub(start),
                f: op.f,
                ty: op.ty,
            });
        }
    }
    points
}

/// When the history entry at `index` was invoked and completed: for a completion, its
/// process's invocation before it; for an invocation, its completion after it (or the
/// end of the run).
pub(crate) fn op_span(history: &History, index: usize) -> Option<(Micros, Micros)> {
    let op = history.ops.get(index)?;
    if op.ty == OpType::Invoke {
        let end = history.ops[index + 1..]
            .iter()
            .find(|o| o.process == op.process)
            .map_or(history.end, |o| o.time);
        return Some((op.time, end));
    }
    let start = history.ops[..index]
        .iter()
        .rev()
        .find(|o| o.process == op.process && o.ty == OpType::Invoke)
        .map_or(op.time, |o| o.time);
    Some((start, op.time))
}

/// What an interval of the nemesis was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IntervalKind {
    /// A partition of the named shape (`one`, `majority`, …), with the nodes it cut off
    /// from a majority described in words.
    Partition { shape: String, cut: String },
    /// A node was down (our node-crash extension).
    Crash { node: String },
}

/// A stretch of the run during which the network was cut or a node was down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Interval {
    pub from: Micros,
    pub to: Micros,
    pub kind: IntervalKind,
}

/// The nemesis's intervals, in the order they began: partitions until their heal, and
/// node crashes until their restart (or the end of the run, for either).
pub(crate) fn intervals(history: &History) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut open_partition: Option<(Micros, String, String)> = None;
    let mut down: BTreeMap<String, (Micros, usize)> = BTreeMap::new();
    for event in &history.nemesis {
        match &event.kind {
            NemesisKind::StartPartition { shape, isolated } => {
                if let Some((from, shape, cut)) = open_partition.take() {
                    out.push(partition(from, event.time, shape, cut));
                }
                open_partition = Some((event.time, shape.clone(), describe_cut(isolated)));
            }
            NemesisKind::StopPartition => {
                if let Some((from, shape, cut)) = open_partition.take() {
                    out.push(partition(from, event.time, shape, cut));
                }
            }
            NemesisKind::Crash(node) => {
                // A placeholder keeps the interval's place among those that began before.
                out.push(Interval {
                    from: event.time,
                    to: history.end,
                    kind: IntervalKind::Crash {
                        node: node.to_string(),
                    },
                });
                down.insert(node.to_string(), (event.time, out.len() - 1));
            }
            NemesisKind::Restart(node) => {
                if let Some((_, i)) = down.remove(node.as_str()) {
                    out[i].to = event.time;
                }
            }
        }
    }
    if let Some((from, shape, cut)) = open_partition {
        out.push(partition(from, history.end, shape, cut));
    }
    out.sort_by_key(|i| i.from);
    out
}

fn partition(from: Micros, to: Micros, shape: String, cut: String) -> Interval {
    Interval {
        from,
        to,
        kind: IntervalKind::Partition { shape, cut },
    }
}

/// A cut as `n0 drops n1 n2; n1 drops n0`.
fn describe_cut(
    isolated: &BTreeMap<replicator_core::NodeId, Vec<replicator_core::NodeId>>,
) -> String {
    let parts: Vec<String> = isolated
        .iter()
        .map(|(to, froms)| {
            let froms: Vec<&str> = froms.iter().map(|n| n.as_str()).collect();
            format!("{to} drops {}", froms.join(" "))
        })
        .collect();
    if parts.is_empty() {
        "no link cut".into()
    } else {
        parts.join("; ")
    }
}

/// Time cut into equal buckets from 0 to the end of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Buckets {
    /// Each bucket's width.
    pub width: Micros,
    /// How many.
    pub count: usize,
}

/// Bucket widths the rate figures choose from: round numbers of seconds.
const WIDTHS_US: [Micros; 11] = [
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    30_000_000,
    60_000_000,
    300_000_000,
];

/// At most this many buckets, so that a rate line stays a line.
const BUCKETS_MAX: u64 = 150;

impl Buckets {
    /// The narrowest round width that cuts `[0, end]` into at most [`BUCKETS_MAX`].
    pub(crate) fn over(end: Micros) -> Buckets {
        let width = WIDTHS_US
            .into_iter()
            .find(|w| end.div_ceil(*w) <= BUCKETS_MAX)
            .unwrap_or_else(|| end.div_ceil(BUCKETS_MAX).max(1));
        Buckets {
            width,
            count: (end / width + 1) as usize,
        }
    }

    /// The bucket of time `t`.
    pub(crate) fn of(&self, t: Micros) -> usize {
        ((t / self.width) as usize).min(self.count - 1)
    }

    /// Counts per bucket of the times given.
    pub(crate) fn count(&self, times: impl Iterator<Item = Micros>) -> Vec<u64> {
        let mut counts = vec![0; self.count];
        for t in times {
            counts[self.of(t)] += 1;
        }
        counts
    }
}

/// Completions per bucket for each plotted function, in [`PLOTTED`]'s order.
pub(crate) fn op_rates(points: &[LatencyPoint], buckets: Buckets) -> Vec<(F, Vec<u64>)> {
    PLOTTED
        .iter()
        .map(|&f| {
            let times = points.iter().filter(|p| p.f == f).map(|p| p.completed);
            (f, buckets.count(times))
        })
        .collect()
}

/// Messages sent per bucket: `(client group, server group)`.
pub(crate) fn message_rates(recording: &Recording, buckets: Buckets) -> (Vec<u64>, Vec<u64>) {
    let times = |client: bool| {
        recording
            .messages
            .iter()
            .filter(move |m| m.is_client == client)
            .map(|m| m.sent.time)
    };
    (buckets.count(times(true)), buckets.count(times(false)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{NemesisEvent, Op, OpValue};
    use replicator_core::NodeId;

    fn op(index: usize, time: Micros, process: u64, ty: OpType) -> Op {
        Op {
            index,
            time,
            process,
            ty,
            f: F::Send,
            value: OpValue::Crash,
            error: None,
            node: NodeId::new("n0"),
            is_final: false,
        }
    }

    #[test]
    fn latency_pairs_each_completion_with_its_process_invocation() {
        let history = History {
            ops: vec![
                op(0, 10, 0, OpType::Invoke),
                op(1, 12, 1, OpType::Invoke),
                op(2, 15, 1, OpType::Fail),
                op(3, 40, 0, OpType::Ok),
                op(4, 50, 2, OpType::Invoke),
            ],
            end: 90,
            ..History::default()
        };
        let points = latency_points(&history);
        let got: Vec<(Micros, Micros, OpType)> = points
            .iter()
            .map(|p| (p.completed, p.latency, p.ty))
            .collect();
        assert_eq!(got, [(15, 3, OpType::Fail), (40, 30, OpType::Ok)]);
        assert_eq!(op_span(&history, 3), Some((10, 40)));
        assert_eq!(op_span(&history, 1), Some((12, 15)));
        // Still in flight at the end: until the end.
        assert_eq!(op_span(&history, 4), Some((50, 90)));
    }

    #[test]
    fn intervals_run_from_start_to_heal_and_from_crash_to_restart() {
        let at = |time, kind| NemesisEvent { time, kind };
        let cut = BTreeMap::from([(NodeId::new("n0"), vec![NodeId::new("n1")])]);
        let history = History {
            nemesis: vec![
                at(
                    0,
                    NemesisKind::StartPartition {
                        shape: "one".into(),
                        isolated: cut.clone(),
                    },
                ),
                at(5, NemesisKind::Crash(NodeId::new("n2"))),
                at(10, NemesisKind::StopPartition),
                at(
                    12,
                    NemesisKind::StartPartition {
                        shape: "majority".into(),
                        isolated: cut,
                    },
                ),
                at(20, NemesisKind::Restart(NodeId::new("n2"))),
            ],
            end: 30,
            ..History::default()
        };
        let got: Vec<(Micros, Micros, String)> = intervals(&history)
            .into_iter()
            .map(|i| match i.kind {
                IntervalKind::Partition { shape, cut } => (i.from, i.to, format!("{shape}: {cut}")),
                IntervalKind::Crash { node } => (i.from, i.to, node),
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, 10, "one: n0 drops n1".to_string()),
                (5, 20, "n2".to_string()),
                (12, 30, "majority: n0 drops n1".to_string()),
            ]
        );
    }

    #[test]
    fn buckets_are_round_and_their_counts_add_up() {
        let b = Buckets::over(30_000_000);
        assert_eq!((b.width, b.count), (200_000, 151));
        assert_eq!(Buckets::over(2_000_000).width, 100_000);
        let times = [0, 499_999, 500_000, 30_000_000];
        assert_eq!(b.count(times.into_iter()).iter().sum::<u64>(), 4);
        assert_eq!(b.of(30_000_000), 150);
        assert_eq!(Buckets::over(100_000_000).width, 1_000_000);
    }
}
