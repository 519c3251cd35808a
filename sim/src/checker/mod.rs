//! The kafka checker: Jepsen's anomalies over a [`History`], and our stricter checks.
//!
//! Contract with the runner and the CLI:
//! - [`check`] takes the finished history and returns a [`Report`];
//! - [`Report::is_valid`] is the Maelstrom-equivalent verdict (spec: kafka.md 4.4), with
//!   `:stats` (4.6) and our `phantom-value` extension;
//! - [`Report::is_strict_valid`] adds our own checks, reported apart;
//! - [`Report::anomaly_names`] and [`Report::strict_names`] list what was found, with
//!   Jepsen's names (`lost-write`, `G1c-realtime`, …);
//! - `Display` renders the Maelstrom-like summary, ending in "Everything looks good!"
//!   or the anomalies with their first examples;
//! - [`Report::to_json`] renders the same for `--json`.
//!
//! The definitions follow `jepsen.tests.kafka` at Jepsen 0.3.7, which Maelstrom pins; each
//! module cites the spec section it implements. One module per concept:
//! - `index`: derived structures (reads, writes, raw logs, dense indices, deltas);
//! - `logs`: inconsistent offsets, duplicates, G1a, lost writes, unseen, phantoms;
//! - `order`: poll and send skips and nonmonotonic steps, between ops and inside one;
//! - `cycles`: `G1c-realtime` and `empty-transaction-graph`;
//! - `lag`: the worst realtime lag;
//! - `payloads`: `payload-changed`, and the attribution of changed payloads to the
//!   messages they stand for, which runs first so each fault gets one name;
//! - `committed`, `vanished`, `strict`: our other stricter checks (committed offsets,
//!   messages that disappear, poll starts and the wire);
//! - `report`: condensing, verdicts, rendering.
//!
//! Determinism: only `BTreeMap`/`BTreeSet`, history order, and stable sorts, so the same
//! history always gives the same report, byte for byte.

mod cases;
mod committed;
mod cycles;
mod index;
mod lag;
mod logs;
mod order;
mod payloads;
mod report;
mod strict;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
mod vanished;

pub use cases::{Case, names};
pub use committed::CommitStaleness;
pub use index::OpRef;
pub use lag::WorstLag;
pub use report::{Group, Report};

use crate::history::{F, History, OpType};
use crate::stats::Stats;
use std::collections::BTreeMap;

/// Cases found so far, by error type name.
pub(crate) type Findings = BTreeMap<&'static str, Vec<Case>>;

/// Checks a finished history.
pub fn check(history: &History) -> Report {
    let mut strict_found = Findings::new();
    // Every check below sees each changed payload as the message it stands for.
    let checked = payloads::check(history, &mut strict_found);
    let a = index::Analysis::new(&checked);

    let mut found = Findings::new();
    logs::check(&a, &mut found);
    order::check(&a, &mut found);
    cycles::check(&a, &mut found);

    let commit_staleness = committed::check(&a, &checked.nemesis, &mut strict_found);
    vanished::check(&a, &mut strict_found);
    strict::check(&a, &checked, &mut strict_found);

    let mut maelstrom_unknown = Vec::new();
    if let Some(g) = found.get(names::PHANTOM_VALUE) {
        maelstrom_unknown.push(format!(
            "{} value(s) read without a writer (Elle throws \"no writer of value\")",
            g.len()
        ));
    }
    for (key, read) in &a.reads_ok {
        if read.is_empty() {
            maelstrom_unknown.push(format!(
                "key {key:?} was only ever polled as [] (lost-write-cases calls (nth v -1))"
            ));
        }
    }

    // Condense first, then render the ops of the cases kept: a bad history can have a case
    // per op, and rendering each one's ops was most of the checker's time on such histories.
    // Ops are rendered as the node answered them, changed payloads included.
    let condense = |found: Findings| -> BTreeMap<&'static str, report::Group> {
        found
            .into_iter()
            .map(|(name, cases)| {
                let mut group = report::condense(name, cases);
                for case in &mut group.cases {
                    for op in case.ops_mut() {
                        op.render(&history.ops);
                    }
                }
                (name, group)
            })
            .collect()
    };
    Report {
        anomalies: condense(found),
        strict: condense(strict_found),
        worst_realtime_lag: lag::worst(&a),
        info_txn_causes: info_txn_causes(history),
        commit_staleness,
        stats: Stats::of(history),
        maelstrom_unknown,
    }
}

/// spec: kafka.md 4.3 — the distinct errors of `Info` sends and polls, in history order.
fn info_txn_causes(history: &History) -> Vec<String> {
    let mut causes: Vec<String> = Vec::new();
    for op in &history.ops {
        if op.ty == OpType::Info
            && matches!(op.f, F::Send | F::Poll)
            && let Some(error) = &op.error
            && !causes.contains(error)
        {
            causes.push(error.clone());
        }
    }
    causes
}
