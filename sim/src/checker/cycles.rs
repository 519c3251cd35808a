//! Elle's cycle anomalies as Maelstrom configures them (spec: kafka.md 4.2.13–14).
//!
//! Elle's graph for kafka has vertices for the completions of sends and polls, **wr**
//! edges from the send of `(k, v)` to each other op that read `(k, v)`, and **realtime**
//! edges from an `Ok` completion to every op invoked after it (Elle stores a transitive
//! reduction, which has the same cycles). No ww or rw edges are drawn.
//!
//! We do not run a general cycle search. With single-message sends and polls, a cycle
//! exists iff some wr edge `S → P` has `P` completing before `S` is invoked, which closes
//! the two-op cycle `S →wr P →rt S`:
//! - wr edges only go from a send to a poll (sends read nothing, polls write nothing), so
//!   in any cycle each wr edge `S → P` is followed by a realtime edge `P → X`;
//! - a realtime edge `A → B` means `end(A) < start(B)`, so `start(A) < start(B)`;
//! - if every wr edge had `start(S) <= end(P)`, then for each pair `S →wr P →rt X` we would
//!   have `start(S) <= end(P) < start(X)`: invocation times would strictly increase all
//!   the way around the cycle, which is impossible;
//! - conversely, `end(P) < start(S)` gives the realtime edge `P → S`, hence the cycle.
//!
//! Such a cycle mixes wr and realtime edges, which Elle names `G1c-realtime`. We report
//! every offending (send, poll) pair; Elle reports one cycle per strongly connected
//! component, so our count can be higher than Maelstrom's for the same history.

use super::Findings;
use super::cases::{Case, names};
use super::index::{Analysis, OpRef};
use crate::history::{F, OpType};

/// Runs both checks.
pub(crate) fn check(a: &Analysis<'_>, out: &mut Findings) {
    let mut has_wr_edge = false;
    for (key, readers) in &a.readers_of {
        for (value, readers) in readers {
            // Elle throws on a read without a writer; that is `phantom-value`.
            let Some(&writer) = a.writer_of.get(key).and_then(|w| w.get(value)) else {
                continue;
            };
            let writer_start = a.partner[writer];
            for &reader in readers.iter().filter(|&&r| r != writer) {
                has_wr_edge = true;
                // History order stands for time order: the realtime edge exists when the
                // poll's completion comes before the send's invocation in the history.
                let before = writer_start.is_some_and(|start| reader < start);
                if before && a.op(reader).ty == OpType::Ok {
                    out.entry(names::G1C_REALTIME)
                        .or_default()
                        .push(Case::G1cRealtime {
                            key: key.clone(),
                            value: value.clone(),
                            writer: OpRef::lazy(a.op(writer)),
                            reader: OpRef::lazy(a.op(reader)),
                        });
                }
            }
        }
    }
    if !has_wr_edge && !has_realtime_edge(a) {
        out.entry(names::EMPTY_TRANSACTION_GRAPH)
            .or_default()
            .push(Case::EmptyTransactionGraph);
    }
}

/// Whether Elle's realtime graph over sends and polls has an edge: some `Ok` send or poll
/// completes before another send or poll, one that has a completion, is invoked.
fn has_realtime_edge(a: &Analysis<'_>) -> bool {
    let is_txn = |pos: usize| matches!(a.op(pos).f, F::Send | F::Poll);
    let first_ok = (0..a.ops.len()).find(|&p| is_txn(p) && a.op(p).ty == OpType::Ok);
    let Some(first_ok) = first_ok else {
        return false;
    };
    (first_ok + 1..a.ops.len())
        .any(|p| is_txn(p) && a.op(p).ty == OpType::Invoke && a.partner[p].is_some())
}
