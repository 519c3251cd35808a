//! The `simulation` fuzz target: a fuzzer-chosen [`Scenario`] (workload, timing, network
//! faults) run through the whole simulator against the real node must give a run that
//! completes, breaks no wire rule, and has no anomaly, Maelstrom's or our stricter ones.
//!
//! The scenario is a plain struct deriving `bolero::TypeGenerator`, with every field
//! bounded by a range, so a failure shrinks field by field towards the smallest run
//! (fewest threads, shortest time limit, lowest rate) that still fails.
//!
//! # Running it
//! - As a test (bounded: [`TEST_ITERATIONS`] random scenarios, plus every input of the
//!   committed corpus, about 4 s in a debug build):
//!   `cargo test -p replicator-sim fuzz_tests::simulation`. On a failure bolero shrinks
//!   the scenario and prints it with `BOLERO_RANDOM_SEED=…`; our message adds the
//!   `replicator-sim run …` command that replays the run alone.
//! - As a fuzzer (libfuzzer, nightly):
//!   `cargo +nightly bolero test -p replicator-sim fuzz_tests::simulation --engine libfuzzer -T 10min -l 64 -E=-len_control=0`.
//!   `-l 64 -E=-len_control=0` let libfuzzer use whole scenarios (about 20 bytes) from
//!   the start; without them it spends minutes on 4-byte inputs that leave every later
//!   field at its low end. Keep the default address sanitizer: with `-s NONE` the
//!   package's binary test target fails to link (undefined `__sanitizer_cov_*`).
//! - Volume without coverage guidance, about 400 scenarios a second:
//!   `BOLERO_RANDOM_ITERATIONS=100000 cargo test --profile fuzz -p replicator-sim --lib fuzz_tests::simulation`.
//!
//! The corpus is `sim/src/__fuzz__/fuzz_tests__simulation/corpus`, committed and kept
//! small with `cargo +nightly bolero reduce -p replicator-sim fuzz_tests::simulation
//! -E=-use_counters=0` (one input per new edge, not per hit count), so `cargo test`
//! replays it too. Its files are raw bytes read in [`Scenario`]'s field order: reordering
//! or re-ranging fields silently turns them into other scenarios, still valid ones.
//!
//! # Clusters
//! The node replicates ([`NODE_REPLICATES`]), so every scenario runs the node count it
//! draws, 1 to [`NODES_MAX`], with the partition nemesis when it draws it (all four shapes,
//! one-way cuts included, at the drawn interval), and with latency, loss and duplication on
//! the links between servers. The verdict is `report::verdict` with our strict checks: a
//! run must be valid, except one that could not acknowledge a send under any majority-ack
//! design (`Verdict::NoQuorum`: no majority could talk for long enough, or no send's node
//! stayed with an undisturbed majority for that long), which says nothing about the node;
//! or a one-node cluster whose node crashed (`Verdict::CrashedAlone`: without a disk its
//! data is gone by design). Node crashes are drawn like the rest (the last field), under
//! the simulator's fair crash nemesis.
//!
//! Before the node replicated, [`NODE_REPLICATES`] pinned every scenario to one node
//! without partitions and the node count ranged over 1 to 5; an input committed then now
//! runs the node count and partition flag its bytes pick (a byte may pick another count
//! in the wider range): still a valid scenario, now mostly of a cluster.
//!
//! # Fields added later
//! New fields go at the end of [`Scenario`], and what an exhausted input gives them (zero
//! bytes: each range's low end, an enum's first variant; not `false`, since bolero reads
//! a zero byte as `true`) means what the target did before they existed. The poll budgets
//! and `--payloads` came this way: a pick of 0 leaves the node's default budget, and
//! `Kinds::Int` sends Maelstrom's integers. So a committed corpus input no longer than the
//! scenario was before them (21 bytes) still means exactly the same run, and a longer one
//! (libFuzzer's inputs often carry spare bytes) keeps every field it had and now also
//! picks budgets and payloads from its spare bytes.

use crate::checker::{self, names};
use crate::history::{F, History, OpType};
use crate::options::{Concurrency, LatencyDist, Options, SMALL_POLL_BUDGETS};
use crate::payloads::Payloads;
use crate::report::{self, Verdict};
use crate::run;
use crate::server::{self, Server, ServerFactory};
use bolero::TypeGenerator;
use replicator_core::{Config, Input, Node, Output, Timestamp};

/// Whether the node replicates, so that runs of several nodes and with partitions must
/// pass too. `false` pins every scenario to one node without partitions, as the target
/// did before replication (see the module docs).
const NODE_REPLICATES: bool = true;

/// The most message loss a scenario runs with, in percent (see `Scenario::options`).
const LOSS_PCT_MAX: u8 = 10;

/// The most nodes a scenario runs: the swarm's range (Maelstrom's default cluster is 5).
const NODES_MAX: u8 = 7;

/// Random scenarios per `cargo test` run. A random scenario takes about 15 ms in a debug
/// build (measured: 300 took 4.3 s), so these take about 1.5 s, and replaying the corpus
/// (richer scenarios, about 45 ms each) about 3 s more; the fuzzer is where the volume
/// comes from. `BOLERO_RANDOM_ITERATIONS` overrides it.
const TEST_ITERATIONS: usize = 100;

/// spec: kafka.md 6.1 — the latency distributions, in a form bolero can generate.
#[derive(Clone, Copy, Debug, TypeGenerator)]
enum Dist {
    Constant,
    Uniform,
    Exponential,
}

/// One fuzzer-chosen run. Every field is bounded so that any value maps to options that
/// [`Options::validate`] accepts and that run in well under a second; units are in the
/// field names (`_ds` is tenths of a second, `_pct` is percent).
///
/// Field order is generation order: bolero fills the fields from the fuzzer's bytes in
/// turn and gives zeros (each range's low end) once the bytes run out. The fields that
/// shape a one-node run come first, so that even the short inputs libfuzzer starts
/// with vary them; the seed, which only needs some bytes to differ, comes last.
#[derive(Clone, Debug, TypeGenerator)]
struct Scenario {
    /// Operations per second over all threads; 0 gives a run with no operations.
    #[generator(0..=400)]
    rate: u16,
    /// Client threads per node.
    #[generator(1..=4)]
    threads_per_node: u8,
    /// The main phase, 0.1 to 5 virtual seconds.
    #[generator(1..=50)]
    time_limit_ds: u8,
    /// Active key slots: few keys make operations contend for them.
    #[generator(1..=12)]
    key_count: u8,
    /// Sends per key before the workload retires it.
    #[generator(1..=32)]
    max_writes_per_key: u8,
    /// Mean server-to-server latency. Client links have none (spec: kafka.md 6.1).
    #[generator(0..=100)]
    latency_ms: u8,
    /// The latency distribution.
    latency_dist: Dist,
    /// Probability a server-to-server message is lost (our extension).
    #[generator(0..=50)]
    loss_pct: u8,
    /// Probability a server-to-server message is delivered twice (our extension).
    #[generator(0..=50)]
    duplicate_pct: u8,
    /// Mean time between nemesis operations, 0.1 to 10 virtual seconds.
    #[generator(1..=100)]
    nemesis_interval_ds: u8,
    /// Servers (one, whatever is drawn, if [`NODE_REPLICATES`] is unset).
    #[generator(1..=NODES_MAX)]
    node_count: u8,
    /// The partition nemesis (never, if [`NODE_REPLICATES`] is unset).
    partition: bool,
    /// The run's seed: every choice the simulator makes beyond these fields.
    seed: u64,
    /// The nodes' poll budget in messages: 0 leaves the node's default, 1 to 5 pick from
    /// [`SMALL_POLL_BUDGETS`], raised to what the run needs (`Options::poll_budget_floor`).
    #[generator(0..=5)]
    poll_msgs_max_pick: u8,
    /// The nodes' poll budget in payload bytes, picked the same way.
    #[generator(0..=5)]
    poll_bytes_max_pick: u8,
    /// `--payloads`: Maelstrom's integers, or JSON of every kind.
    payloads: Kinds,
    /// `--crash-nodes`: 0 for none (what an exhausted input gives, so inputs from before
    /// crash recovery keep their meaning), else the mean time between node crashes in
    /// half seconds, 0.5 to 10 s.
    #[generator(0..=20)]
    crash_half_s: u8,
}

/// `--payloads`, in a form bolero can generate. `Int` comes first: an input that has run
/// out of bytes picks the first variant.
#[derive(Clone, Copy, Debug, TypeGenerator)]
enum Kinds {
    Int,
    Any,
}

impl Scenario {
    /// The node count and partition flag this scenario actually runs with.
    fn widen(&self) -> (usize, bool) {
        if NODE_REPLICATES {
            (
                usize::from(self.node_count.clamp(1, NODES_MAX)),
                self.partition,
            )
        } else {
            (1, false)
        }
    }

    /// The simulator's options for this scenario. Fields are clamped again here so that
    /// a scenario built by hand (a regression test) maps the same way as a generated one.
    fn options(&self) -> Options {
        let (node_count, partition) = self.widen();
        let mut options = Options {
            seed: self.seed,
            node_count: Some(node_count),
            concurrency: Concurrency::PerNode(usize::from(self.threads_per_node.clamp(1, 4))),
            time_limit_s: f64::from(self.time_limit_ds.clamp(1, 50)) / 10.0,
            rate: f64::from(self.rate.min(400)),
            latency_ms: u64::from(self.latency_ms.min(100)),
            latency_dist: match self.latency_dist {
                Dist::Constant => LatencyDist::Constant,
                Dist::Uniform => LatencyDist::Uniform,
                Dist::Exponential => LatencyDist::Exponential,
            },
            partition,
            nemesis_interval_s: f64::from(self.nemesis_interval_ds.clamp(1, 100)) / 10.0,
            key_count: usize::from(self.key_count.clamp(1, 12)),
            max_writes_per_key: u64::from(self.max_writes_per_key.clamp(1, 32)),
            // Drawn up to 50% (the range dates from one-node runs, where loss is inert),
            // run at up to 10%, the swarm's range. Above it, short runs meet liveness
            // limits rather than findings: at 30% and 42% loss 3 and 6 in 200 random
            // scenarios ended before an election completed; at 20%, about one in 3,000
            // had a leader step down when its follower's echoes were lost several times in
            // a row, and a final poller that got an indefinite error was replaced by one
            // that no longer reads its keys (Jepsen's final phase does the same), which the
            // checker reports as `unseen`. Plain `cargo test` draws fresh random scenarios
            // on every run, so a rare failure there would make CI flaky.
            loss: f64::from(self.loss_pct.min(LOSS_PCT_MAX)) / 100.0,
            duplicate: f64::from(self.duplicate_pct.min(50)) / 100.0,
            crash_nodes_s: f64::from(self.crash_half_s.min(20)) / 2.0,
            payloads: match self.payloads {
                Kinds::Int => Payloads::Int,
                Kinds::Any => Payloads::Any,
            },
            poll_msgs_max: small_budget(self.poll_msgs_max_pick),
            poll_bytes_max: small_budget(self.poll_bytes_max_pick),
            ..Options::default()
        };
        options.raise_poll_budgets_to_floor();
        options
    }
}

/// A budget pick: 0 for the node's default, 1 to 5 for [`SMALL_POLL_BUDGETS`] (and
/// above 5, clamped, for a hand-written scenario).
fn small_budget(pick: u8) -> Option<usize> {
    let i = usize::from(pick.min(5)).checked_sub(1)?;
    SMALL_POLL_BUDGETS.get(i).copied()
}

/// Runs one scenario against the servers `factory` builds. The run is clean when it broke
/// no wire rule of any kind (fatal or not) and its verdict, Maelstrom's and our stricter
/// checks (`report::verdict`), is valid or no-quorum, with the one exception
/// [`is_excused`] documents. Otherwise the error names the scenario, the report and the
/// command that replays the run.
///
/// Panics if the scenario maps to options `run` would refuse or that the replay command
/// would not reproduce: that is a bug in this target, not a finding.
fn check_scenario(scenario: &Scenario, factory: &ServerFactory) -> Result<(), String> {
    let options = scenario.options();
    // The mapping must never produce options `run` refuses; and the replay command must
    // give back exactly these options, or it would replay a different run.
    if let Err(reason) = options.validate() {
        panic!("the scenario maps to invalid options ({reason}): {scenario:?}");
    }
    let replayed = Options::default().parse_all(&options.to_args());
    assert_eq!(
        replayed.as_ref(),
        Ok(&options),
        "the replay flags do not round-trip: {scenario:?}"
    );

    let outcome = run::run(&options, factory);
    let report = checker::check(&outcome.history);
    let verdict = report::verdict(&options, &outcome, &report, true);
    let excused = outcome.failure.is_none()
        && report.stats.is_valid()
        && report.strict_names().is_empty()
        && report
            .bad_error_types()
            .iter()
            .all(|name| is_excused(name, &outcome.history));
    let clean = outcome.history.violations.is_empty()
        && (matches!(
            verdict,
            Verdict::Valid | Verdict::NoQuorum { .. } | Verdict::CrashedAlone
        ) || excused);
    if clean {
        return Ok(());
    }
    Err(format!(
        "the simulation found a problem: {why}\n\
             scenario: {scenario:?}\n\
             verdict: {verdict:?}\n\
             failure: {failure:?}\n\
             first wire violation: {violation:?}\n\
             anomalies: {anomalies:?}; strict: {strict:?}\n\
             {report}\n\
             replay: {replay}",
        why = report::why(&outcome, &report),
        failure = outcome.failure,
        violation = outcome.history.violations.first(),
        anomalies = report.anomaly_names(),
        strict = report.strict_names(),
        replay = report::replay_command(&options),
    ))
}

/// Whether an anomaly says nothing about the node in this history. Only one does:
/// spec: kafka.md 4.2.14 — Elle flags `empty-transaction-graph` when no send or poll is
/// linked to another, which a run too short or too slow to complete a send produces
/// whatever the node does. Once a send has completed `Ok`, the final polls must read it
/// (a `wr` edge), so the anomaly is a real finding again. A node that fails every send is
/// caught by the `:stats` verdict instead (sends without any `Ok`), unless no majority
/// could have acknowledged one (`Verdict::NoQuorum`).
fn is_excused(anomaly: &str, history: &History) -> bool {
    anomaly == names::EMPTY_TRANSACTION_GRAPH
        && !history
            .ops
            .iter()
            .any(|op| op.f == F::Send && op.ty == OpType::Ok)
}

#[test]
fn simulation() {
    bolero::check!()
        .with_type::<Scenario>()
        .with_iterations(TEST_ITERATIONS)
        .for_each(|scenario| {
            if let Err(problem) = check_scenario(scenario, &server::real_node()) {
                panic!("{problem}");
            }
        });
}

/// The extreme corners of the scenario space: the mapping stays valid there, and the
/// largest run still passes (the fuzzer rarely draws every bound at once).
#[test]
fn the_corners_of_the_scenario_space_map_to_valid_runs() {
    let smallest = Scenario {
        seed: 0,
        rate: 0,
        threads_per_node: 1,
        time_limit_ds: 1,
        latency_ms: 0,
        latency_dist: Dist::Constant,
        loss_pct: 0,
        duplicate_pct: 0,
        key_count: 1,
        max_writes_per_key: 1,
        nemesis_interval_ds: 1,
        node_count: 1,
        partition: false,
        poll_msgs_max_pick: 0,
        poll_bytes_max_pick: 0,
        payloads: Kinds::Int,
        crash_half_s: 0,
    };
    let largest = Scenario {
        seed: u64::MAX,
        rate: 400,
        threads_per_node: 4,
        time_limit_ds: 50,
        latency_ms: 100,
        latency_dist: Dist::Exponential,
        loss_pct: 50,
        duplicate_pct: 50,
        key_count: 12,
        max_writes_per_key: 32,
        nemesis_interval_ds: 100,
        node_count: NODES_MAX,
        partition: true,
        poll_msgs_max_pick: 5,
        poll_bytes_max_pick: 5,
        payloads: Kinds::Any,
        crash_half_s: 20,
    };
    // Out-of-range fields (a hand-written scenario) are clamped into the same space.
    let above = Scenario {
        rate: u16::MAX,
        threads_per_node: u8::MAX,
        time_limit_ds: u8::MAX,
        latency_ms: u8::MAX,
        loss_pct: u8::MAX,
        duplicate_pct: u8::MAX,
        key_count: u8::MAX,
        max_writes_per_key: u8::MAX,
        nemesis_interval_ds: u8::MAX,
        node_count: u8::MAX,
        poll_msgs_max_pick: u8::MAX,
        poll_bytes_max_pick: u8::MAX,
        crash_half_s: u8::MAX,
        ..largest.clone()
    };
    assert_eq!(above.options(), largest.options());
    let below = Scenario {
        threads_per_node: 0,
        time_limit_ds: 0,
        key_count: 0,
        max_writes_per_key: 0,
        nemesis_interval_ds: 0,
        node_count: 0,
        ..smallest.clone()
    };
    assert_eq!(below.options(), smallest.options());
    // The fields added at the end read as zeros from an old, shorter input: the run the
    // target made before they existed, at the node's budgets with Maelstrom's integers.
    let old = smallest.options();
    assert_eq!((old.poll_msgs_max, old.poll_bytes_max), (None, None));
    assert_eq!(old.payloads, Payloads::Int);
    assert_eq!(old.crash_nodes_s, 0.0);
    // The smallest budgets survive where the run is small, and are raised where not.
    let tiny = Scenario {
        poll_msgs_max_pick: 1,
        poll_bytes_max_pick: 1,
        ..smallest.clone()
    };
    assert_eq!(
        (tiny.options().poll_msgs_max, tiny.options().poll_bytes_max),
        (Some(1), Some(1))
    );
    let big = largest.options();
    assert_eq!(
        (big.poll_msgs_max, big.poll_bytes_max),
        (Some(64), Some(big.poll_budget_floor().1))
    );
    for scenario in [smallest, largest] {
        check_scenario(&scenario, &server::real_node()).unwrap_or_else(|p| panic!("{p}"));
    }
}

/// A node that forgets its log every [`AMNESIAC_STEPS`] steps, as if it had restarted
/// without anyone noticing: it loses acknowledged sends and reuses their offsets.
struct Amnesiac {
    config: Config,
    node: Node,
    /// The `init` message, replayed to each fresh node so that it keeps serving.
    init: Option<Input>,
    steps: u64,
}

/// How often an [`Amnesiac`] forgets.
const AMNESIAC_STEPS: u64 = 40;

impl Server for Amnesiac {
    fn step(&mut self, now: Timestamp, input: Input) -> Vec<Output> {
        self.steps += 1;
        if self.init.is_none() {
            self.init = Some(input.clone());
        } else if self.steps.is_multiple_of(AMNESIAC_STEPS) {
            self.node = Node::new(self.config.clone()).expect("the config was valid before");
            if let Some(init) = self.init.clone() {
                // The reply to the long-closed init client is dropped, as no one awaits it.
                let _ = self.node.step(now, init);
            }
        }
        self.node.step(now, input)
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        self.node.next_deadline()
    }
}

/// The target has teeth: the same check that passes the real node fails one that loses
/// its data, and says what it lost and how to replay the run.
#[test]
fn a_node_that_forgets_its_log_fails_the_check() {
    let amnesiac: ServerFactory = Box::new(|config: Config| {
        let node = Node::new(config.clone()).expect("the simulator builds valid configs");
        Box::new(Amnesiac {
            config,
            node,
            init: None,
            steps: 0,
        })
    });
    let scenario = Scenario {
        seed: 7,
        rate: 200,
        threads_per_node: 2,
        time_limit_ds: 20,
        latency_ms: 0,
        latency_dist: Dist::Constant,
        loss_pct: 0,
        duplicate_pct: 0,
        key_count: 3,
        max_writes_per_key: 32,
        nemesis_interval_ds: 50,
        node_count: 1,
        partition: false,
        poll_msgs_max_pick: 0,
        poll_bytes_max_pick: 0,
        payloads: Kinds::Int,
        crash_half_s: 0,
    };
    check_scenario(&scenario, &server::real_node()).unwrap_or_else(|p| panic!("{p}"));
    let problem = check_scenario(&scenario, &amnesiac).expect_err("the amnesiac must fail");
    assert!(problem.contains("lost-write"), "{problem}");
    assert!(
        problem.contains("replicator-sim -- run --seed 7"),
        "{problem}"
    );
}

/// The claim of the module docs about fields added later: bytes that end where the
/// scenario used to end give the new fields what runs as before; spare bytes pick them.
#[test]
fn an_input_that_ends_before_the_new_fields_runs_as_it_did() {
    use bolero::generator::bolero_generator::driver::{ByteSliceDriver, Options as Limits};
    let generate = |bytes: &[u8]| {
        let mut driver = ByteSliceDriver::new(bytes, &Limits::default());
        <Scenario as TypeGenerator>::generate(&mut driver).expect("any bytes make a scenario")
    };
    let old: Vec<u8> = (1..=21).collect();
    let scenario = generate(&old);
    let options = scenario.options();
    assert_eq!(
        (options.poll_msgs_max, options.poll_bytes_max),
        (None, None)
    );
    assert_eq!(options.payloads, Payloads::Int);
    assert_eq!(options.crash_nodes_s, 0.0);
    // The 21 bytes fill every older field: more bytes change only the new ones.
    let longer: Vec<u8> = old.iter().copied().chain([255; 8]).collect();
    let widened = generate(&longer);
    assert_eq!(widened.seed, scenario.seed);
    assert_eq!(
        format!("{:?}", widened.latency_dist),
        format!("{:?}", scenario.latency_dist)
    );
    assert_eq!(
        (widened.poll_msgs_max_pick, widened.poll_bytes_max_pick),
        (5, 5)
    );
    assert!(matches!(widened.payloads, Kinds::Any), "{widened:?}");
    assert_eq!(widened.crash_half_s, 20);
}
