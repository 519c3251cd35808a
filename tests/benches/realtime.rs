//! The real-time driver's own cost (`cargo bench -p replicator-tests --bench realtime`).
//!
//! Targets (issue 9, item 5): driving 5 `replicator` processes at `--rate 1000`, the
//! harness is never the bottleneck: it issues at least 99% of the operations the rate
//! offers, and it adds less than 0.5 ms at p99 between a message being due and its being
//! written to the node's stdin. A real Maelstrom on this kind of machine issues about 85%
//! at that rate.
//!
//! Two shapes run. With `--concurrency 4n` the node is not the bottleneck either, and the
//! 99% target applies. With Gossip Glomers' `--concurrency 2n`, the node's own send
//! latency (two 10 ms batching windows) keeps all 10 clients busy at times, so that even
//! in virtual time, where the harness costs nothing, fewer operations go out; there the
//! bench reports the real run against the virtual one for the same seed, the part of the
//! shortfall the real world adds. "Offered" is the rate times the main phase (the rate's
//! gaps are random, so a perfect harness issues a little more or less). Exits 1 if a
//! target is missed.
//!
//! The machine's own noise sets a floor under any such figure: before the runs, the bench
//! measures how late a plain thread wakes from a 0.5 ms sleep, for comparison.
//!
//! Options: `--time-limit S` (default 20), `--runs N` (default 1), `--seed N` (default
//! 0), `--no-build` (use the release binary as it is).

use replicator_sim::checker;
use replicator_sim::options::{Concurrency, Options};
use replicator_sim::report;
use replicator_sim::run;
use replicator_sim::run::Outcome;
use replicator_sim::server;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Issued operations the real run must reach, as a fraction of the offered ones and of
/// the virtual-time run's.
const ISSUED_MIN: f64 = 0.99;
/// The most the driver may add at p99 between a message's due time and its write.
const WRITE_DELAY_P99_MAX_US: u64 = 500;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str, default: f64| -> f64 {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let time_limit_s = value("--time-limit", 20.0);
    let runs = value("--runs", 1.0) as usize;
    let seed = value("--seed", 0.0) as u64;
    let bin = release_binary(!args.iter().any(|a| a == "--no-build"));
    let baseline = wake_up_lateness();
    println!(
        "this machine now: a thread asleep for 0.5 ms wakes late by p50 {:.3} ms, p99 {:.3} ms, \
         max {:.3} ms (load average {})",
        baseline.0,
        baseline.1,
        baseline.2,
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into())
    );
    let mut missed = false;
    for (per_node, issued_target) in [(4, true), (2, false)] {
        let options = Options {
            seed,
            node_count: Some(5),
            concurrency: Concurrency::PerNode(per_node),
            rate: 1000.0,
            time_limit_s,
            // The quiet and the final polls are not what is measured here.
            recovery_s: 1.0,
            ..Options::default()
        };
        let ideal = report::main_phase_ops(&run::run(&options, &server::real_node()).history);
        let offered = options.rate * options.time_limit_s;
        println!(
            "5 replicator processes, --concurrency {per_node}n, --rate 1000, --time-limit \
             {time_limit_s}: {offered:.0} operations offered; the same seed in virtual time \
             issues {ideal}"
        );
        let options = Options {
            bin: Some(bin.display().to_string()),
            ..options
        };
        for run in 1..=runs.max(1) {
            let started = Instant::now();
            let outcome = run::run_processes(&options, None);
            let wall = started.elapsed();
            missed |= !report_run(run, wall, &outcome, offered, ideal, issued_target);
        }
    }
    if missed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints one run's figures; false if it missed a target.
fn report_run(
    run: usize,
    wall: Duration,
    outcome: &Outcome,
    offered: f64,
    ideal: u64,
    issued_target: bool,
) -> bool {
    let report = checker::check(&outcome.history);
    let issued = report::main_phase_ops(&outcome.history);
    let figures = outcome.realtime.clone().expect("a real-time run");
    let (w, e) = (&figures.write_delay, &figures.event_lateness);
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "  run {run}: {:.1} s, valid {}; issued {issued} = {:.2}% of offered, {:.2}% of \
         virtual time's; added delay (due to written) over {} messages: p50 {:.3} ms, p95 \
         {:.3} ms, p99 {:.3} ms, max {:.3} ms; events late by p50 {:.3} ms, p99 {:.3} ms, \
         max {:.3} ms; {} lines read",
        wall.as_secs_f64(),
        report::is_valid(outcome, &report),
        100.0 * issued as f64 / offered,
        100.0 * issued as f64 / ideal as f64,
        w.n,
        ms(w.p50),
        ms(w.p95),
        ms(w.p99),
        ms(w.max),
        ms(e.p50),
        ms(e.p99),
        ms(e.max),
        figures.lines_read,
    );
    let mut met = true;
    if let Some(failure) = &outcome.failure {
        println!("    RUN FAILED: {failure}");
        met = false;
    }
    if issued_target && (issued as f64) < ISSUED_MIN * offered {
        println!(
            "    TARGET MISSED: at least {:.0}% issued",
            ISSUED_MIN * 100.0
        );
        met = false;
    }
    if w.p99 > WRITE_DELAY_P99_MAX_US {
        println!(
            "    TARGET MISSED: p99 under {} ms",
            ms(WRITE_DELAY_P99_MAX_US)
        );
        met = false;
    }
    met
}

/// How late a plain thread wakes from 2,000 sleeps of 0.5 ms, in ms: p50, p99, max.
fn wake_up_lateness() -> (f64, f64, f64) {
    let sleep = Duration::from_micros(500);
    let mut late: Vec<f64> = (0..2000)
        .map(|_| {
            let started = Instant::now();
            std::thread::sleep(sleep);
            (started.elapsed() - sleep).as_secs_f64() * 1e3
        })
        .collect();
    late.sort_by(f64::total_cmp);
    let at = |q: f64| late[((late.len() as f64 * q) as usize).min(late.len() - 1)];
    (at(0.5), at(0.99), at(1.0))
}

/// The release `replicator` beside this bench (which runs from `<target>/release/deps`),
/// built first unless told not to.
fn release_binary(build: bool) -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench lives in <target>/<profile>/deps");
    if build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "replicator-io",
                "--bin",
                "replicator",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the node failed");
    }
    let path = profile_dir.join("replicator");
    assert!(path.exists(), "{} is missing", path.display());
    path
}
