//! The simulator's real-time driver (`replicator-sim run --bin`) against real processes:
//! the release `replicator` binary as a cluster of 1, 2 and 3 nodes (with partitions),
//! the naive example node, one that uses Maelstrom's `lin-tso` service, and example nodes
//! with deliberate faults, each caught with the
//! verdict a real Maelstrom would give. Then real crashes, and Ctrl-C.
//!
//! Runs are kept to a few seconds: a short main phase, and the quiet and the final polls
//! shortened by `--recovery-time` and `--final-time-limit`. They are wall-clock runs, so
//! they only assert what holds whatever the machine's load: verdicts, and that things
//! happened, never how fast.

use crate::bin_path;
use replicator_sim::checker::{self, Report, names};
use replicator_sim::history::{NemesisKind, ViolationKind};
use replicator_sim::options::{Concurrency, Options};
use replicator_sim::report;
use replicator_sim::run::{self, Outcome};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A quick Gossip Glomers run: two clients per node, a few seconds.
fn quick(nodes: usize, bin: &Path, args: &[&str]) -> Options {
    Options {
        node_count: Some(nodes),
        concurrency: Concurrency::PerNode(2),
        rate: 300.0,
        time_limit_s: 2.0,
        recovery_s: 1.0,
        final_limit_s: 5.0,
        bin: Some(bin.display().to_string()),
        node_args: args.iter().map(|a| a.to_string()).collect(),
        ..Options::default()
    }
}

fn run_checked(options: &Options) -> (Outcome, Report) {
    let outcome = run::run_processes(options, None);
    let report = checker::check(&outcome.history);
    (outcome, report)
}

/// Asserts a run passed, Maelstrom's verdict and our stricter checks alike.
fn assert_passed(options: &Options, outcome: &Outcome, report: &Report) {
    assert_eq!(outcome.failure, None, "{}", report::replay_command(options));
    assert!(
        outcome.history.violations.is_empty(),
        "{:?}",
        outcome.history.violations
    );
    assert!(
        report::is_valid(outcome, report) && report.is_strict_valid(),
        "{}\n{report}",
        report::summary(options, outcome, report)
    );
    let figures = outcome.realtime.as_ref().expect("a real-time run");
    assert!(figures.lines_read > 0 && figures.write_delay.n > 0);
}

/// A folder for one test's node logs, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("replicator-rt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.0.join(format!("{node}.log"))).unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The pids the driver logged for the processes it started.
fn started_pids(log: &str) -> Vec<u32> {
    log.lines()
        .filter_map(|l| l.split(" started as pid ").nth(1))
        .filter_map(|rest| rest.split(':').next()?.parse().ok())
        .collect()
}

/// Whether a process is still running (not gone, not a zombie), from `/proc`.
fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: `Z` is a zombie.
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn replicator_passes_a_short_5a_on_one_node() {
    let options = Options {
        rate: 500.0,
        ..quick(1, bin_path::replicator(), &[])
    };
    let (outcome, report) = run_checked(&options);
    assert_passed(&options, &outcome, &report);
    assert!(report::main_phase_ops(&outcome.history) > 400);
}

#[test]
fn replicator_passes_5c_on_two_nodes() {
    let options = quick(2, bin_path::replicator(), &[]);
    let (outcome, report) = run_checked(&options);
    assert_passed(&options, &outcome, &report);
    // The nodes replicate to each other through the driver's network.
    assert!(outcome.history.net.servers.recv_count > 0);
}

#[test]
fn replicator_passes_three_nodes_with_partitions() {
    let options = Options {
        rate: 100.0,
        time_limit_s: 4.0,
        partition: true,
        nemesis_interval_s: 1.0,
        recovery_s: 2.0,
        ..quick(3, bin_path::replicator(), &[])
    };
    let (outcome, report) = run_checked(&options);
    assert_passed(&options, &outcome, &report);
    let partitions = outcome
        .history
        .nemesis
        .iter()
        .filter(|e| matches!(e.kind, NemesisKind::StartPartition { .. }))
        .count();
    assert!(partitions >= 1, "{:?}", outcome.history.nemesis);
}

#[test]
fn the_naive_example_node_passes_one_node() {
    let options = quick(1, bin_path::naive_node(), &[]);
    let (outcome, report) = run_checked(&options);
    assert_passed(&options, &outcome, &report);
}

#[test]
fn a_node_that_takes_its_offsets_from_lin_tso_passes() {
    let options = quick(1, bin_path::tso_node(), &[]);
    let (outcome, report) = run_checked(&options);
    assert_passed(&options, &outcome, &report);
    // Every send cost the node a round trip to the service: server messages (spec:
    // kafka.md 6.4 — node-to-service messages count as servers').
    let sends = report.stats.by_f.get("send").map_or(0, |c| c.ok);
    assert!(sends > 0);
    assert!(
        outcome.history.net.servers.msg_count >= 2 * sends,
        "{:?}",
        outcome.history.net
    );
}

#[test]
fn a_node_that_exits_fails_the_run_with_its_status_and_its_last_words() {
    let logs = TempDir::new("exits");
    let options = Options {
        log_dir: Some(logs.0.display().to_string()),
        ..quick(1, bin_path::broken_node(), &["--exit-after", "40"])
    };
    let (outcome, report) = run_checked(&options);
    let failure = outcome.failure.clone().expect("the run failed");
    assert!(
        failure.starts_with("Node n0 crashed with exit status: 3"),
        "{failure}"
    );
    assert!(
        failure.contains("exiting on purpose after 40 messages"),
        "{failure}"
    );
    assert!(!report::is_valid(&outcome, &report));
    // The summary says so, with the command that replays the run, node and all.
    let summary = report::summary(&options, &outcome, &report);
    assert!(summary.contains("RUN FAILED: Node n0 crashed"), "{summary}");
    assert!(summary.contains("--bin ") && summary.contains("-- --exit-after 40"));
    assert!(logs.log("n0").contains("exiting on purpose"));
}

#[test]
fn a_node_that_prints_to_stdout_is_muted_as_maelstrom_mutes_it() {
    let logs = TempDir::new("prints");
    // Once muted, the node answers no one: each request then waits out its 5 s timeout,
    // so the phases are kept as short as they go.
    let options = Options {
        log_dir: Some(logs.0.display().to_string()),
        time_limit_s: 1.0,
        recovery_s: 0.1,
        final_limit_s: 0.1,
        ..quick(1, bin_path::broken_node(), &["--print-after", "40"])
    };
    let (outcome, report) = run_checked(&options);
    let violations = &outcome.history.violations;
    assert!(
        matches!(violations.first(), Some(v) if v.kind == ViolationKind::MalformedEnvelope
            && v.detail.contains("printed a line to STDOUT which was not well-formed JSON: debug: 40 messages so far")),
        "{violations:?}"
    );
    // Muted, the node answers no one again: every later request times out.
    assert!(report::fatal_violations(&outcome.history) >= 1);
    assert!(!report::is_valid(&outcome, &report));
    assert!(
        logs.log("n0")
            .contains("== stdout, not a message: debug: 40 messages so far")
    );
}

#[test]
fn a_node_that_loses_a_write_is_caught_by_the_checker() {
    let options = quick(1, bin_path::broken_node(), &["--lose", "3"]);
    let (outcome, report) = run_checked(&options);
    assert_eq!(outcome.failure, None);
    assert!(
        report.anomaly_names().contains(&names::LOST_WRITE),
        "{report}"
    );
    assert!(!report::is_valid(&outcome, &report));
}

#[test]
fn crash_nodes_kills_a_real_process_and_starts_a_fresh_one_under_the_same_id() {
    let logs = TempDir::new("crash");
    let options = Options {
        crash_nodes_s: 1.0,
        log_dir: Some(logs.0.display().to_string()),
        ..quick(1, bin_path::replicator(), &[])
    };
    let (outcome, _) = run_checked(&options);
    // A crash loses the node's data (no disk yet), so the verdict is not the point; the
    // run itself must go on, and every restarted process must get its `init`.
    assert_eq!(outcome.failure, None);
    let kinds = |f: fn(&NemesisKind) -> bool| {
        outcome
            .history
            .nemesis
            .iter()
            .filter(|e| f(&e.kind))
            .count()
    };
    let crashes = kinds(|k| matches!(k, NemesisKind::Crash(_)));
    let restarts = kinds(|k| matches!(k, NemesisKind::Restart(_)));
    assert!(
        crashes >= 1 && restarts == crashes,
        "{:?}",
        outcome.history.nemesis
    );
    let log = logs.log("n0");
    let pids = started_pids(&log);
    assert_eq!(pids.len(), 1 + restarts, "{log}");
    // The replicator logs the start of each process; every one of them was initialised
    // (a node that never got `init` would leave its clients' operations all failing).
    assert!(pids.windows(2).all(|w| w[0] != w[1]), "{pids:?}");
    assert!(
        pids.iter().all(|&p| !is_running(p)),
        "left running: {pids:?}"
    );
    assert!(outcome.history.ops.iter().any(|op| op.is_final
        && op.ty == replicator_sim::history::OpType::Ok
        && op.f == replicator_sim::history::F::Poll));
}

/// Crash recovery across real processes: a killed `replicator` comes back empty under a
/// new incarnation (its start time on the wall clock), joins again from its peers, and
/// the cluster loses nothing it acknowledged.
#[test]
fn three_real_processes_lose_nothing_to_crashes_and_restarted_ones_rejoin() {
    let logs = TempDir::new("crash3");
    let options = Options {
        rate: 100.0,
        time_limit_s: 5.0,
        crash_nodes_s: 1.0,
        recovery_s: 3.0,
        log_dir: Some(logs.0.display().to_string()),
        ..quick(3, bin_path::replicator(), &[])
    };
    let (outcome, report) = run_checked(&options);
    assert_passed(&options, &outcome, &report);
    let restarts = outcome.history.recoveries.len();
    assert!(restarts >= 1, "{:?}", outcome.history.nemesis);
    // Every process the driver started said it joined: at genesis, or by recovery.
    let (mut started, mut joined) = (0, 0);
    for node in ["n0", "n1", "n2"] {
        let log = logs.log(node);
        started += started_pids(&log).len();
        joined += log.matches("joined in term").count();
    }
    assert_eq!(started, 3 + restarts);
    assert_eq!(joined, started, "every start joins");
}

#[test]
fn ctrl_c_stops_the_command_and_reaps_every_node_process() {
    let logs = TempDir::new("ctrl-c");
    let mut sim = Command::new(bin_path::replicator_sim())
        .args([
            "run",
            "--node-count",
            "3",
            "--time-limit",
            "60",
            "--rate",
            "100",
        ])
        .arg("--bin")
        .arg(bin_path::replicator())
        .arg("--log-dir")
        .arg(&logs.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("replicator-sim starts");
    let ids = ["n0", "n1", "n2"];
    let started = Instant::now();
    let pids: Vec<u32> = loop {
        let pids: Vec<u32> = ids
            .iter()
            .flat_map(|id| started_pids(&logs.log(id)))
            .collect();
        if pids.len() == ids.len() {
            break pids;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = sim.kill();
            panic!("the nodes did not start: {pids:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(pids.iter().all(|&p| is_running(p)));
    let status = Command::new("kill")
        .args(["-INT", &sim.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = sim.try_wait().expect("waitable") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = sim.kill();
            panic!("replicator-sim did not stop on Ctrl-C");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut sim.stderr.take().unwrap(), &mut stderr);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        pids.iter().all(|&p| !is_running(p)),
        "left running: {pids:?}"
    );
}
