//! `replicator-sim`: runs Maelstrom's kafka test against Replicator's node in virtual
//! time, one seed at a time (`run`) or over many seeds (`sweep`); with `--bin`, against
//! any Maelstrom node binary's processes, in real time. `--report DIR` writes a page per
//! run (per failing seed, for a sweep) with the figures a Maelstrom user looks at.
//!
//! The command line is `replicator_sim::cli`'s (clap): `--help` on each subcommand, and
//! a bad value refused with exit status 2 and a message that names the flag and the
//! value, before anything runs.
//!
//! With `--bin`, Ctrl-C (and SIGTERM, SIGHUP) set a flag instead of killing the command
//! at once: the run stops, every node process is killed and reaped, and the command exits
//! 130. A second Ctrl-C exits at once.
//!
//! The command reads the wall clock, which `sim/clippy.toml` bans from the simulator: it
//! only measures how long a run took, to report speed and a sweep's progress, and never
//! feeds it into a run.
#![allow(clippy::disallowed_methods)]

mod progress;

/// See the workspace manifest for why the simulator uses mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, Parser};
use progress::Progress;
use replicator_sim::checker;
use replicator_sim::cli::{Cli, Command, RunArgs, Seeds, SweepArgs, TestArgs};
use replicator_sim::options::Options;
use replicator_sim::report;
use replicator_sim::run;
use replicator_sim::server;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// How a command ended.
enum Ended {
    /// Every test was valid.
    Valid,
    /// Some test was not.
    Invalid,
    /// Ctrl-C (or SIGTERM, SIGHUP) stopped it; the node processes were reaped.
    Interrupted,
}

/// Why a command could not do its job: a value no test can be made of (said the way
/// clap says it, with the usage), or a failure on the way (a report that cannot be
/// written, a signal that cannot be handled). Both exit 2.
enum Failed {
    /// The subcommand, and what is wrong.
    Usage(&'static str, String),
    Io(String),
}

fn main() -> ExitCode {
    // Help and version print on stdout and exit 0; a bad command line exits 2.
    let cli = Cli::try_parse().unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Sweep(args) => cmd_sweep(args),
    };
    match result {
        Ok(Ended::Valid) => ExitCode::SUCCESS,
        Ok(Ended::Invalid) => ExitCode::from(1),
        Ok(Ended::Interrupted) => {
            eprintln!("replicator-sim: interrupted; every node process was stopped");
            ExitCode::from(130)
        }
        Err(Failed::Usage(subcommand, message)) => {
            // The same shape as clap's own errors: what is wrong, then the usage.
            let mut command = Cli::command();
            // Built, so that the usage names the whole command: `replicator-sim run`.
            command.build();
            let command = command
                .find_subcommand_mut(subcommand)
                .expect("a subcommand of ours");
            command
                .error(clap::error::ErrorKind::ValueValidation, message)
                .exit()
        }
        Err(Failed::Io(message)) => {
            eprintln!("replicator-sim: {message}");
            ExitCode::from(2)
        }
    }
}

/// The flag Ctrl-C, SIGTERM and SIGHUP set, so that a real-time run can reap its node
/// processes before the command exits. A second signal exits at once (130).
fn stop_flag() -> Result<Arc<AtomicBool>, Failed> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        // Registered first, so it sees the flag as it was before this signal set it.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flag)))
            .map_err(|e| Failed::Io(format!("could not handle signal {signal}: {e}")))?;
    }
    Ok(flag)
}

/// Runs one test: in virtual time, or in real time with `--bin` (stopped by `stop`).
fn run_one(options: &Options, stop: Option<&Arc<AtomicBool>>) -> run::Outcome {
    if options.bin.is_some() {
        run::run_processes(options, stop.cloned())
    } else {
        run::run(options, &server::real_node())
    }
}

/// Makes the report folder, before any run, so that a folder that cannot be written
/// fails at once rather than after a long run.
fn report_dir(dir: Option<&PathBuf>) -> Result<(), Failed> {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failed::Io(format!(
                "could not create the report folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(())
}

/// Writes the report page of one run into `dir`; returns its path.
fn write_page(
    dir: &Path,
    options: &Options,
    outcome: &run::Outcome,
    report: &checker::Report,
    window: Option<(u64, u64)>,
) -> Result<PathBuf, String> {
    let path = dir.join(report::file_name(options));
    let page = report::page(options, outcome, report, window);
    std::fs::write(&path, page)
        .map_err(|e| format!("could not write the report {}: {e}", path.display()))?;
    Ok(path)
}

fn cmd_run(args: RunArgs) -> Result<Ended, Failed> {
    let RunArgs {
        seed,
        json,
        test,
        report: report_args,
        node_args,
    } = args;
    let mut options = Options {
        seed,
        node_args,
        ..Options::default()
    };
    test.apply(&mut options);
    let usage = |message| Failed::Usage("run", message);
    options.validate().map_err(usage)?;
    let window = report_args.window_us().map_err(usage)?;
    report_dir(report_args.report.as_ref())?;
    options.record_messages = report_args.report.is_some();
    let stop = options.bin.is_some().then(stop_flag).transpose()?;
    let started = Instant::now();
    let outcome = run_one(&options, stop.as_ref());
    let simulated = Instant::now();
    if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
        return Ok(Ended::Interrupted);
    }
    let checked = checker::check(&outcome.history);
    let wall = report::Wall {
        run: simulated - started,
        check: simulated.elapsed(),
    };
    // Timings go to stderr: stdout is a pure function of the seed and options (in
    // virtual time).
    match report::realtime_line(&options, &outcome, wall.run) {
        Some(line) => eprintln!("{line}"),
        None => eprintln!("{}", report::wall_line(&outcome, wall)),
    }
    let mut stdout = std::io::stdout().lock();
    if json {
        // One JSON document, the trace (when asked for) inside it.
        let mut value = report::to_json(&options, &outcome, &checked);
        if options.trace {
            value["trace"] = serde_json::json!(outcome.trace);
        }
        let _ = writeln!(stdout, "{value:#}");
    } else {
        for line in &outcome.trace {
            let _ = writeln!(stdout, "{line}");
        }
        let _ = write!(stdout, "{}", report::summary(&options, &outcome, &checked));
    }
    if let Some(dir) = &report_args.report {
        let path = write_page(dir, &options, &outcome, &checked, window).map_err(Failed::Io)?;
        eprintln!("report: {}", path.display());
    }
    Ok(if report::is_valid(&outcome, &checked) {
        Ended::Valid
    } else {
        Ended::Invalid
    })
}

/// A sweep, as its command line gave it.
struct Sweep {
    seeds: Seeds,
    swarm: bool,
    strict: bool,
    test: TestArgs,
    node_args: Vec<String>,
    /// Where failing seeds' pages go, and the diagram's window.
    report: Option<(PathBuf, Option<(u64, u64)>)>,
}

/// What one seed of a sweep gave.
struct SeedResult {
    seed: u64,
    ops: u64,
    msgs: u64,
    virtual_us: u64,
    /// For a failing seed: why, and the command that replays it.
    failure: Option<(String, String)>,
    /// The seed gave no majority a chance to acknowledge a send (see `report::verdict`).
    no_quorum: bool,
    /// A one-node cluster crashed and lost its data, as expected (see `report::verdict`).
    crashed_alone: bool,
    /// For a failing seed, with `--report`: the page written, or why it was not.
    page: Option<Result<PathBuf, String>>,
}

fn sweep_seed(seed: u64, sweep: &Sweep, stop: Option<&Arc<AtomicBool>>) -> SeedResult {
    let options = match Options::for_seed_with(seed, sweep.swarm, &sweep.test, &sweep.node_args) {
        Ok(mut options) => {
            // One folder of node logs per seed, so that seeds do not write over each other.
            if let Some(dir) = &options.log_dir {
                options.log_dir = Some(format!("{dir}/seed-{seed}"));
            }
            // A real-time run cannot be run again the same way, so with --report every
            // seed records its messages in case it fails; a virtual-time seed that fails
            // is simply run again, recorded (below).
            options.record_messages = sweep.report.is_some() && options.bin.is_some();
            options
        }
        Err(reason) => {
            return SeedResult {
                seed,
                ops: 0,
                msgs: 0,
                virtual_us: 0,
                failure: Some((format!("invalid options: {reason}"), String::new())),
                no_quorum: false,
                crashed_alone: false,
                page: None,
            };
        }
    };
    let mut outcome = run_one(&options, stop);
    let mut checked = checker::check(&outcome.history);
    let verdict = report::verdict(&options, &outcome, &checked, sweep.strict);
    let valid = verdict != report::Verdict::Invalid;
    let mut result = SeedResult {
        seed,
        ops: report::invocations(&outcome.history),
        msgs: outcome.history.net.all.recv_count,
        virtual_us: outcome.history.end,
        failure: (!valid).then(|| {
            (
                report::why(&outcome, &checked),
                report::replay_command(&options),
            )
        }),
        no_quorum: matches!(verdict, report::Verdict::NoQuorum { .. }),
        crashed_alone: verdict == report::Verdict::CrashedAlone,
        page: None,
    };
    if let (false, Some((dir, window))) = (valid, &sweep.report) {
        let mut recorded = options.clone();
        if !recorded.record_messages {
            // The same seed and options: the same run, now with its messages recorded.
            recorded.record_messages = true;
            outcome = run_one(&recorded, stop);
            checked = checker::check(&outcome.history);
        }
        result.page = Some(write_page(dir, &recorded, &outcome, &checked, *window));
    }
    result
}

fn cmd_sweep(args: SweepArgs) -> Result<Ended, Failed> {
    let SweepArgs {
        seeds,
        swarm,
        strict,
        jobs,
        test,
        report: report_args,
        node_args,
    } = args;
    // The overrides once now, on the defaults, so that a bad value fails before any run.
    let usage = |message| Failed::Usage("sweep", message);
    Options::for_seed_with(seeds.first, false, &test, &node_args).map_err(usage)?;
    let window = report_args.window_us().map_err(usage)?;
    report_dir(report_args.report.as_ref())?;
    let sweep = Sweep {
        seeds,
        swarm,
        strict,
        report: report_args.report.map(|dir| (dir, window)),
        test,
        node_args,
    };
    let stop = sweep.test.is_real_time().then(stop_flag).transpose()?;
    let stopped = || stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
    let started = Instant::now();
    let total = seeds.end - seeds.first;
    let mut progress = Progress::new(total);
    let (mut failed, mut ops, mut msgs, mut virtual_us, mut no_quorum) = (0u64, 0, 0, 0, 0);
    let mut crashed_alone = 0u64;
    let mut on_result = |r: SeedResult| {
        ops += r.ops;
        msgs += r.msgs;
        virtual_us += r.virtual_us;
        no_quorum += u64::from(r.no_quorum);
        crashed_alone += u64::from(r.crashed_alone);
        if let Some((why, replay)) = &r.failure {
            failed += 1;
            progress.println(&format!("SEED={} FAILED: {why}\n  {replay}", r.seed));
        }
        match &r.page {
            Some(Ok(path)) => progress.eprintln(&format!("report: {}", path.display())),
            Some(Err(why)) => progress.eprintln(&format!("replicator-sim: {why}")),
            None => {}
        }
        progress.seed_done(r.failure.is_some());
    };
    if jobs <= 1 {
        for seed in seeds.first..seeds.end {
            if stopped() {
                break;
            }
            on_result(sweep_seed(seed, &sweep, stop.as_ref()));
        }
    } else {
        // Workers take the next seed from a shared counter; each run is independent and
        // deterministic, so only the order of the listing depends on the scheduling.
        let next = AtomicU64::new(seeds.first);
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                let tx = tx.clone();
                let (next, sweep, stop, stopped) = (&next, &sweep, stop.as_ref(), &stopped);
                scope.spawn(move || {
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= sweep.seeds.end
                            || stopped()
                            || tx.send(sweep_seed(seed, sweep, stop)).is_err()
                        {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for result in rx {
                on_result(result);
            }
        });
    }
    progress.finish();
    if stopped() {
        return Ok(Ended::Interrupted);
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{total} seeds, {failed} failed, {no_quorum} without a quorum, {crashed_alone} single nodes crashed; {ops} ops, {msgs} messages, {:.0} virtual s in {wall:.2} wall s",
        virtual_us as f64 / 1e6
    );
    Ok(if failed == 0 {
        Ended::Valid
    } else {
        Ended::Invalid
    })
}
