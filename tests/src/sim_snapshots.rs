//! Pinned seeds as insta snapshots: the summary (without wall-clock figures) and the
//! opening lines of the trace. A change to any choice the simulator makes, to the node's
//! behaviour, or to the checker's verdict shows up here as a reviewable diff.

use replicator_sim::checker;
use replicator_sim::options::{Concurrency, LatencyDist, Options};
use replicator_sim::{report, run, server};

/// The trace lines kept per snapshot: enough to show init, the first operations and
/// (for the partitioned run) the first cut.
const TRACE_LINES: usize = 60;

fn snapshot(name: &str, options: Options) {
    let options = Options {
        trace: true,
        ..options
    };
    let outcome = run::run(&options, &server::real_node());
    let report = checker::check(&outcome.history);
    let summary = report::summary(&options, &outcome, &report);
    insta::assert_snapshot!(format!("{name}_summary"), summary);
    let opening = outcome
        .trace
        .iter()
        .take(TRACE_LINES)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(format!("{name}_trace"), opening);
}

#[test]
fn one_node_5a_shape() {
    snapshot(
        "one_node",
        Options {
            seed: 1,
            node_count: Some(1),
            concurrency: Concurrency::PerNode(2),
            time_limit_s: 2.0,
            rate: 100.0,
            ..Options::default()
        },
    );
}

#[test]
fn three_nodes_partitioned_with_latency() {
    snapshot(
        "three_nodes",
        Options {
            seed: 7,
            node_count: Some(3),
            concurrency: Concurrency::PerNode(1),
            time_limit_s: 3.0,
            rate: 20.0,
            latency_ms: 5,
            latency_dist: LatencyDist::Uniform,
            partition: true,
            nemesis_interval_s: 1.0,
            ..Options::default()
        },
    );
}

#[test]
fn three_nodes_with_loss_duplication_and_crashes() {
    // A node crashes and restarts empty, rejoining its cluster (the trace shows it
    // join), while a fifth of the servers' messages are lost and a fifth duplicated.
    snapshot(
        "faults",
        Options {
            seed: 42,
            node_count: Some(3),
            concurrency: Concurrency::PerNode(1),
            time_limit_s: 3.0,
            rate: 20.0,
            latency_ms: 2,
            loss: 0.2,
            duplicate: 0.2,
            crash_nodes_s: 1.0,
            ..Options::default()
        },
    );
}
