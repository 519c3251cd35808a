//! Every seed that once failed while replication was built, pinned with its exact flags
//! and the fault it exposed. Each must now pass the simulator's verdict, our stricter
//! checks included (a run that gave no majority a chance to acknowledge a send counts as
//! passing: see `report::Verdict::NoQuorum`). The flags are written out rather than drawn
//! from the seed, so that a later change to the swarm's draws cannot quietly turn these
//! into other runs.

use replicator_sim::checker;
use replicator_sim::options::Options;
use replicator_sim::quorum::Unavailability;
use replicator_sim::{report, run, server};

/// `(what it caught, flags)`.
const ONCE_FAILED: &[(&str, &str)] = &[
    (
        "split votes at 100 ms: two pre-candidates a round trip apart both stood",
        "--seed 4611 --node-count 3 --concurrency 2n --time-limit 2 --rate 10 --latency 100 \
         --latency-dist constant --nemesis partition --nemesis-interval 2 --key-count 10 \
         --max-writes-per-key 16 --loss 0.01 --payloads any --poll-msgs-max 8 \
         --poll-bytes-max 106",
    ),
    (
        "backoff grew in a minority that won pre-votes among itself; after the heal no \
         election came in time",
        "--seed 4750 --node-count 6 --concurrency 2n --time-limit 20 --rate 50 --latency 0 \
         --latency-dist uniform --nemesis partition --nemesis-interval 10 --key-count 10 \
         --max-writes-per-key 16 --duplicate 0.05 --payloads any --poll-msgs-max 25 \
         --poll-bytes-max 1325",
    ),
    (
        "pre-vote promises made inside each half outlived the heal",
        "--seed 94 --node-count 6 --concurrency 1n --time-limit 5 --rate 100 --latency 1 \
         --latency-dist uniform --nemesis partition --nemesis-interval 2 --key-count 10 \
         --max-writes-per-key 16 --payloads any --poll-msgs-max 64 --poll-bytes-max 689",
    ),
    (
        "a random ring of seven: the one node that heard the leader, itself unheard, \
         broadcast without entries",
        "--seed 2425 --node-count 7 --concurrency 1n --time-limit 10 --rate 500 --latency 0 \
         --latency-dist constant --nemesis partition --nemesis-interval 10 --key-count 10 \
         --max-writes-per-key 16 --loss 0.1",
    ),
    (
        "heartbeats reached followers through peers that passed no entries: starved, \
         they never asked for a relay",
        "--seed 2568 --node-count 6 --concurrency 4n --time-limit 2 --rate 500 --latency 100 \
         --latency-dist constant --nemesis partition --nemesis-interval 10 --key-count 1 \
         --max-writes-per-key 2 --poll-msgs-max 25 --poll-bytes-max 25",
    ),
    (
        "a stepped-down leader's name kept circling a ring and renewed everyone's lease",
        "--seed 3717 --node-count 5 --concurrency 1n --time-limit 2 --rate 1000 \
         --latency 100 --latency-dist exponential --nemesis partition --nemesis-interval 2 \
         --key-count 10 --max-writes-per-key 16 --payloads any --poll-msgs-max 49 \
         --poll-bytes-max 2597",
    ),
    (
        "check-quorum counted before followers behind relays had heard of the leader",
        "--seed 2918 --node-count 4 --concurrency 2n --time-limit 2 --rate 5 --latency 100 \
         --latency-dist exponential --nemesis partition --nemesis-interval 2 --key-count 3 \
         --max-writes-per-key 2 --payloads any --poll-msgs-max 2 --poll-bytes-max 1",
    ),
    (
        "lost vote messages each cost a whole election timeout",
        "--seed 10165 --node-count 2 --concurrency 4n --time-limit 2 --rate 500 --latency 50 \
         --latency-dist exponential --nemesis partition --nemesis-interval 5 --key-count 10 \
         --max-writes-per-key 16 --loss 0.1 --duplicate 0.05 --poll-bytes-max 50",
    ),
    (
        "the run's only send went to a node cut off from the majority (no-quorum)",
        "--seed 16170 --node-count 5 --concurrency 1n --time-limit 2 --rate 5 --latency 100 \
         --latency-dist uniform --nemesis partition --nemesis-interval 0.5 --key-count 3 \
         --max-writes-per-key 2 --payloads any --poll-msgs-max 3 --poll-bytes-max 8",
    ),
    (
        "elections under loss and 100 ms exponential latency in a 2 s run",
        "--seed 21874 --node-count 3 --concurrency 2n --time-limit 2 --rate 500 --latency 100 \
         --latency-dist exponential --nemesis partition --nemesis-interval 10 --key-count 3 \
         --max-writes-per-key 16 --loss 0.1 --payloads any --poll-msgs-max 25 \
         --poll-bytes-max 1325",
    ),
    (
        "elections of five under loss and 100 ms exponential latency in a 2 s run",
        "--seed 18565 --node-count 5 --concurrency 4n --time-limit 2 --rate 5 --latency 100 \
         --latency-dist exponential --nemesis partition --nemesis-interval 5 --key-count 3 \
         --max-writes-per-key 16 --loss 0.1 --poll-msgs-max 8 --poll-bytes-max 8",
    ),
    (
        "five nodes, 100 ms latency, flapping partitions in a 2 s run: sends never committed",
        "--seed 22074 --node-count 5 --concurrency 2n --time-limit 2 --rate 5 --latency 100 \
         --latency-dist constant --nemesis partition --nemesis-interval 2 --key-count 10 \
         --max-writes-per-key 16 --payloads any --poll-msgs-max 64 --poll-bytes-max 64",
    ),
    (
        "two nodes cut apart from the start of a short run (no-quorum)",
        "--seed 1336 --node-count 2 --concurrency 2n --time-limit 2 --rate 100 --latency 50 \
         --latency-dist constant --nemesis partition --nemesis-interval 0.5 --key-count 10 \
         --max-writes-per-key 16 --loss 0.01 --payloads any --poll-msgs-max 6 \
         --poll-bytes-max 318",
    ),
    (
        "a one-way ring at 100 ms a hop from the start: a pre-candidate yielded to a worse \
         claim just before its relayed grants came back, and no leader came in 2 s",
        "--seed 21609 --node-count 3 --concurrency 2n --time-limit 2 --rate 1000 --latency 100 \
         --latency-dist uniform --nemesis partition --nemesis-interval 5 --key-count 3 \
         --max-writes-per-key 16 --loss 0.1 --crash-nodes 3 --payloads any --poll-msgs-max 49",
    ),
    (
        "five nodes, 100 ms latency, loss and crashes in a 2 s run: the same lapsed promise",
        "--seed 11349 --node-count 5 --concurrency 2n --time-limit 2 --rate 50 --latency 100 \
         --latency-dist constant --nemesis partition --nemesis-interval 10 --key-count 10 \
         --max-writes-per-key 16 --loss 0.1 --crash-nodes 5 --poll-bytes-max 64",
    ),
    (
        "seven nodes, crashes and partitions in a 2 s run: the same lapsed promise",
        "--seed 100344 --node-count 7 --concurrency 2n --time-limit 2 --rate 5 --latency 100 \
         --latency-dist exponential --nemesis partition --nemesis-interval 2 --key-count 10 \
         --max-writes-per-key 2 --loss 0.1 --duplicate 0.05 --crash-nodes 1 --payloads any \
         --poll-msgs-max 64 --poll-bytes-max 64",
    ),
    (
        "six nodes, crashes every second: no majority was up and recovered for long enough \
         (no-quorum once a recovering node stopped counting towards one)",
        "--seed 20525 --node-count 6 --concurrency 2n --time-limit 5 --rate 1000 --latency 10 \
         --latency-dist uniform --nemesis partition --nemesis-interval 10 --key-count 10 \
         --max-writes-per-key 2 --loss 0.1 --duplicate 0.05 --crash-nodes 1 \
         --poll-msgs-max 121 --poll-bytes-max 121",
    ),
    (
        "a one-way ring of three with 20% loss (replaying the cluster-fuzz corpus): each \
         election message was relayed once per term, and pre-votes keep the term, so once \
         the one relay of a request and of a grant was lost no leader came for 6 s",
        "--seed 47234705447 --node-count 3 --concurrency 4n --time-limit 5 --rate 393 \
         --latency 41 --latency-dist uniform --nemesis partition --nemesis-interval 4.1 \
         --key-count 5 --max-writes-per-key 14 --loss 0.2 --duplicate 0.2",
    ),
    (
        "the same lost relay, drawn by the simulation fuzz target's random scenarios",
        "--seed 53275311268071278 --node-count 3 --concurrency 3n --time-limit 4 --rate 72 \
         --latency 4 --latency-dist exponential --nemesis partition --nemesis-interval 9 \
         --key-count 3 --max-writes-per-key 24 --loss 0.2 --duplicate 0.21",
    ),
    (
        "seven nodes in a majorities ring for the whole run, a crash, 100 ms: the vote \
         request reached most voters only through one relay, never repeated",
        "--seed 2997 --node-count 7 --concurrency 2n --time-limit 2 --rate 1000 --latency 100 \
         --latency-dist exponential --nemesis partition --nemesis-interval 10 --key-count 1 \
         --max-writes-per-key 16 --duplicate 0.05 --crash-nodes 1 --payloads any \
         --poll-msgs-max 49",
    ),
    (
        "three nodes, the leader crashed in a 2 s run with loss at 100 ms: the same relays",
        "--seed 5589 --node-count 3 --concurrency 2n --time-limit 2 --rate 5 --latency 100 \
         --latency-dist exponential --nemesis partition --nemesis-interval 0.5 --key-count 3 \
         --max-writes-per-key 16 --loss 0.1 --crash-nodes 1 --poll-msgs-max 3 \
         --poll-bytes-max 8",
    ),
    (
        "two nodes, 20% loss, idle: four of the follower's echoes (every other heartbeat) lost \
         in a row, so the leader stepped down by check-quorum, a final poller's commit got \
         13, and its reads went missing (unseen); a leader now asks a quiet peer to answer",
        "--seed 5048521262670385560 --node-count 2 --concurrency 1n --time-limit 3.2 \
         --rate 137 --latency 59 --latency-dist uniform --nemesis-interval 1.5 --key-count 3 \
         --max-writes-per-key 30 --loss 0.2 --duplicate 0.37 --poll-msgs-max 12",
    ),
    (
        "two nodes, the run's only send 35 ms after the only heal: the node, cut off until \
         then and not yet probed by its 250 ms keepalive, refused it with 11 at once; a \
         cut-off node now asks every peer and waits a heartbeat interval before refusing",
        "--seed 101842 --node-count 2 --concurrency 1n --time-limit 2 --rate 5 --latency 1 \
         --latency-dist uniform --nemesis partition --nemesis-interval 2 --key-count 1 \
         --max-writes-per-key 16 --loss 0.01 --payloads any --poll-bytes-max 8",
    ),
    (
        "six nodes in a majorities ring for the whole 2 s run, 100 ms, 10% loss: nodes that \
         had just granted one pre-candidate's pre-vote stood themselves, each lower id \
         restarted the round, and the first candidacy came at 1.6 s; a promise now \
         postpones the promiser's own candidacy",
        "--seed 21063 --node-count 6 --concurrency 2n --time-limit 2 --rate 100 --latency 100 \
         --latency-dist uniform --nemesis partition --nemesis-interval 2 --key-count 10 \
         --max-writes-per-key 16 --loss 0.1 --crash-nodes 3 --payloads any --poll-msgs-max 6 \
         --poll-bytes-max 318",
    ),
];

/// Seeds that still fail, kept where they cannot be forgotten: `cargo test -p
/// replicator-tests -- --ignored still_failing` runs them. None is a safety failure (no
/// anomaly); each fails Maelstrom's `:stats` check. A seed moves to [`ONCE_FAILED`] when
/// it passes.
const STILL_FAILING: &[(&str, &str)] = &[
    (
        "seven nodes, a majorities ring for the whole 2 s run, 100 ms, 10% loss, crashes: no \
         node can pass it. The run's only assign went to n6 while it was down (the message \
         is lost, so no :ok assign), and its only send at a live node (n1, at 1.02 s, which \
         hears only a minority directly) was refused as cut off before any leader, n1 \
         crashing at 1.62 s; the verdict is not no-quorum only because the assign fails \
         too",
        "--seed 48740 --node-count 7 --concurrency 1n --time-limit 2 --rate 5 --latency 100 \
         --latency-dist constant --nemesis partition --nemesis-interval 2 --key-count 3 \
         --max-writes-per-key 16 --loss 0.1 --crash-nodes 1 --poll-bytes-max 3",
    ),
    (
        "found by the simulation fuzz target: four nodes, a 1.9 s run, partitions every \
         0.8 s, a node crashed from 0.1 s, 10% loss, 31% duplication: term 1's candidate \
         waited for a grant relayed through the crashed node, and after the heal a new \
         partition left no majority until the run was over; a leader comes at 5.4 s (it \
         passed before a pre-vote promise postponed the promiser, by a timing that \
         elected earlier)",
        "--seed 17304996768559656423 --node-count 4 --concurrency 2n --time-limit 1.9 \
         --rate 38 --latency 29 --latency-dist constant --nemesis partition \
         --nemesis-interval 0.8 --key-count 2 --max-writes-per-key 4 --loss 0.1 \
         --duplicate 0.31 --crash-nodes 10 --payloads any --poll-msgs-max 3 \
         --poll-bytes-max 156",
    ),
    (
        "found by the simulation fuzz target: two nodes, a 3.1 s run at exponential 100 ms \
         with 10% loss and 42% duplication, two sends in all: the first went in a \
         partition; the second, at 2.05 s, reached the leader, but the leader's packets to \
         its follower then stalled behind one slow message (a receiver takes one at a \
         time), so at 2.88 s the follower, having heard no leader for an election timeout, \
         answered it 13 (it passed before the pre-vote postponement, by the timing of its \
         random draws)",
        "--seed 248965207618208724 --node-count 2 --concurrency 3n --time-limit 3.1 --rate 2 \
         --latency 100 --latency-dist exponential --nemesis partition --nemesis-interval 3.8 \
         --key-count 8 --max-writes-per-key 12 --loss 0.1 --duplicate 0.42",
    ),
    (
        "a stress sweep (partitions forced, 2 s runs, 100 ms, 10% loss; 1 failure in \
         10,000, against 3 before the pre-vote postponement): three nodes in a one-way \
         ring for the whole run at exponential 100 ms; split votes in terms 1 and 2, and \
         the leader comes at 2.16 s, just after the main phase",
        "--seed 306844 --node-count 3 --concurrency 1n --time-limit 2 --rate 5 --latency 100 \
         --latency-dist exponential --nemesis partition --nemesis-interval 10 --key-count 3 \
         --max-writes-per-key 16 --loss 0.1 --payloads any --poll-msgs-max 64 \
         --poll-bytes-max 8",
    ),
    (
        "a stress sweep with crashes (partitions forced, 2 s runs, crashes every 5 s; 1 \
         failure in 15,000, against none before the pre-vote postponement): four nodes, \
         10 ms, 10% loss",
        "--seed 201233 --node-count 4 --concurrency 1n --time-limit 2 --rate 1000 \
         --latency 10 --latency-dist uniform --nemesis partition --nemesis-interval 10 \
         --key-count 1 --max-writes-per-key 2 --loss 0.1 --crash-nodes 5 --payloads any \
         --poll-msgs-max 121 --poll-bytes-max 6292",
    ),
];

fn options(flags: &str) -> Options {
    let args: Vec<String> = flags.split_whitespace().map(String::from).collect();
    Options::default()
        .parse_all(&args)
        .expect("pinned flags are valid")
}

#[test]
fn every_seed_that_once_failed_now_passes() {
    assert_all_pass(ONCE_FAILED);
}

#[test]
#[ignore = "known liveness edges (STILL_FAILING): run with --ignored"]
fn still_failing() {
    assert_all_pass(STILL_FAILING);
}

fn assert_all_pass(seeds: &[(&str, &str)]) {
    let factory = server::real_node();
    let mut failures = Vec::new();
    for (caught, flags) in seeds {
        let options = options(flags);
        let outcome = run::run(&options, &factory);
        let report = checker::check(&outcome.history);
        if report::verdict(&options, &outcome, &report, true) == report::Verdict::Invalid {
            failures.push(format!(
                "{caught}:\n{report}\n  {}",
                report::replay_command(&options)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Partitions every 5 s on three nodes, the availability scenario: these seeds
/// once had sends wait out the 4 s deadline, one because a leader's pipeline never
/// restarted for a follower that missed its start, one because a retried forward kept
/// taking a dead link. Now no send at a node that can reach a majority fails, and p99
/// stays under a second.
#[test]
fn partitioned_three_node_runs_keep_sends_prompt() {
    for seed in [1, 18] {
        let options = options(&format!(
            "--seed {seed} --node-count 3 --concurrency 2n --time-limit 30 --rate 100 \
             --nemesis partition --nemesis-interval 5"
        ));
        let outcome = run::run(&options, &server::real_node());
        let report = checker::check(&outcome.history);
        let replay = report::replay_command(&options);
        assert_eq!(
            report::verdict(&options, &outcome, &report, true),
            report::Verdict::Valid,
            "{replay}"
        );
        let p99 = report.stats.latency.get("send").map_or(0, |l| l.p99);
        assert!(p99 < 1_000_000, "send p99 {p99} us: {replay}");
        let u = Unavailability::of(&outcome.history, &options.node_ids());
        assert!(
            u.connected <= 2,
            "{} operations failed at connected nodes: {replay}",
            u.connected
        );
    }
}
