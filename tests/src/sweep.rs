//! Seed sweeps against the real node. One node must pass every seed, our stricter
//! checks included: swarm-drawn
//! latency, partitions, loss, duplication, key counts and rates (node crashes off: a
//! single node that loses its state loses data by definition). Runs are sized down
//! (at most 4 virtual seconds, at most 200 ops/s) so that 500 seeds fit in the test
//! suite's time budget in a debug build.
//!
//! Clusters are swept the same way: 2 to 7 nodes with partitions, node crashes, latency,
//! loss and duplication, our stricter checks included.

use replicator_sim::checker;
use replicator_sim::options::Options;
use replicator_sim::{report, run, server};

const SEEDS: u64 = 500;

/// A swarm draw sized down for a debug build. Budgets drawn for the full-size run stay
/// at or above what the smaller run needs.
pub(crate) fn sized_down(mut options: Options) -> Options {
    options.time_limit_s = options.time_limit_s.min(4.0);
    options.rate = options.rate.min(200.0);
    options
}

#[test]
fn one_node_passes_500_swarm_seeds() {
    let overrides: Vec<String> = ["--node-count", "1", "--crash-nodes", "0"]
        .map(String::from)
        .to_vec();
    let factory = server::real_node();
    let mut failures = Vec::new();
    let mut ops = 0;
    for seed in 0..SEEDS {
        let options =
            sized_down(Options::for_seed(seed, true, &overrides).expect("valid overrides"));
        let outcome = run::run(&options, &factory);
        let report = checker::check(&outcome.history);
        ops += report::invocations(&outcome.history);
        // One node must pass our stricter checks too (committed offsets never go back).
        let valid = report::is_valid(&outcome, &report) && report.is_strict_valid();
        if !valid || !outcome.history.violations.is_empty() {
            failures.push(format!(
                "SEED={seed}: {:?} {:?}\n{report}\n  {}",
                outcome.failure,
                outcome.history.violations.first(),
                report::replay_command(&options)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ops > SEEDS * 50, "the sweep did too little: {ops} ops");
}

/// Clusters of 2 to 7 nodes under everything the swarm draws, node crashes included:
/// every seed must pass our stricter checks too, or be a run in which no majority-ack
/// design could acknowledge a send (no-quorum).
#[test]
fn clusters_pass_200_swarm_seeds() {
    let factory = server::real_node();
    let mut failures = Vec::new();
    let (mut ops, mut clusters) = (0, 0);
    for seed in 0..200 {
        let mut options = sized_down(Options::for_seed(seed, true, &[]).expect("no overrides"));
        if options.node_count == Some(1) {
            options.node_count = Some(3);
        }
        clusters += 1;
        let outcome = run::run(&options, &factory);
        let report = checker::check(&outcome.history);
        ops += report::invocations(&outcome.history);
        if report::verdict(&options, &outcome, &report, true) == report::Verdict::Invalid {
            failures.push(format!(
                "SEED={seed}: {:?}\n{report}\n  {}",
                outcome.failure,
                report::replay_command(&options)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ops > clusters * 50, "the sweep did too little: {ops} ops");
}
