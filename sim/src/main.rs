//! `replicator-sim`: runs Maelstrom's kafka test against Replicator's node in virtual
//! time, one seed at a time (`run`) or over many seeds (`sweep`); with `--bin`, against
//! any Maelstrom node binary's processes, in real time.
//!
//! Arguments are parsed by hand (the project allows no argument-parsing package).
//!
//! With `--bin`, Ctrl-C (and SIGTERM, SIGHUP) set a flag instead of killing the command
//! at once: the run stops, every node process is killed and reaped, and the command exits
//! 130. A second Ctrl-C exits at once.
//!
//! The command reads the wall clock, which `sim/clippy.toml` bans from the simulator: it
//! only measures how long a run took, to report speed, and never feeds it into a run.
#![allow(clippy::disallowed_methods)]

use replicator_sim::checker;
use replicator_sim::options::{FLAGS_USAGE, Options};
use replicator_sim::report;
use replicator_sim::run;
use replicator_sim::server;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage:
  replicator-sim run [OPTIONS] [--json] [--bin PATH [--log-dir DIR]] [-- NODE-ARGS]
      one test; prints the summary (or JSON with --json); exit 0 if valid, 1 if not;
      with --bin, PATH runs as every node (one process each, NODE-ARGS as its argv) and
      the test runs in real time; Ctrl-C stops it and reaps the processes (exit 130)
  replicator-sim sweep --seeds A..B [--swarm] [--strict] [--jobs N] [OPTIONS]
      one test per seed in [A, B); --swarm draws every option from the seed, and
      OPTIONS given explicitly override the drawn ones; prints each failing seed with
      the command that replays it; --strict adds our stricter checks; --jobs runs
      seeds on N threads; exit 0 if every seed passed, 1 if not (a seed in which no
      majority of the servers could talk long enough to acknowledge a send is counted
      apart, as no-quorum, not as a failure)

OPTIONS:";

/// How a command ended.
enum Ended {
    /// Every test was valid.
    Valid,
    /// Some test was not.
    Invalid,
    /// Ctrl-C (or SIGTERM, SIGHUP) stopped it; the node processes were reaped.
    Interrupted,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => cmd_run(&args[1..]),
        Some("sweep") => cmd_sweep(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}\n{FLAGS_USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command {other:?}")),
        None => Err("no command given".into()),
    };
    match result {
        Ok(Ended::Valid) => ExitCode::SUCCESS,
        Ok(Ended::Invalid) => ExitCode::from(1),
        Ok(Ended::Interrupted) => {
            eprintln!("replicator-sim: interrupted; every node process was stopped");
            ExitCode::from(130)
        }
        Err(message) => {
            eprintln!("replicator-sim: {message}\n(see `replicator-sim --help`)");
            ExitCode::from(2)
        }
    }
}

/// The flag Ctrl-C, SIGTERM and SIGHUP set, so that a real-time run can reap its node
/// processes before the command exits. A second signal exits at once (130).
fn stop_flag() -> Result<Arc<AtomicBool>, String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        // Registered first, so it sees the flag as it was before this signal set it.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flag)))
            .map_err(|e| format!("could not handle signal {signal}: {e}"))?;
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

/// `run`'s arguments: the options, and whether to print JSON.
fn parse_run(args: &[String]) -> Result<(Options, bool), String> {
    let mut options = Options::default();
    let mut json = false;
    let mut iter = args.iter().cloned();
    while let Some(flag) = iter.next() {
        if flag == "--json" {
            json = true;
        } else if flag == "--" {
            // spec: kafka.md 1.1 — what follows is the node binary's argv.
            options.node_args = iter.by_ref().collect();
        } else if !options.apply_flag(&flag, &mut iter)? {
            return Err(format!("unknown flag {flag:?}"));
        }
    }
    options.validate()?;
    Ok((options, json))
}

fn cmd_run(args: &[String]) -> Result<Ended, String> {
    let (options, json) = parse_run(args)?;
    let stop = options.bin.is_some().then(stop_flag).transpose()?;
    let started = Instant::now();
    let outcome = run_one(&options, stop.as_ref());
    let simulated = Instant::now();
    if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
        return Ok(Ended::Interrupted);
    }
    let report = checker::check(&outcome.history);
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
        let mut value = report::to_json(&options, &outcome, &report);
        if options.trace {
            value["trace"] = serde_json::json!(outcome.trace);
        }
        let _ = writeln!(stdout, "{value:#}");
    } else {
        for line in &outcome.trace {
            let _ = writeln!(stdout, "{line}");
        }
        let _ = write!(stdout, "{}", report::summary(&options, &outcome, &report));
    }
    Ok(if report::is_valid(&outcome, &report) {
        Ended::Valid
    } else {
        Ended::Invalid
    })
}

fn parse_seeds(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--seeds takes A..B (B exclusive), not {text:?}");
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let a: u64 = a.parse().map_err(|_| bad())?;
    let b: u64 = b.parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// `sweep`'s arguments.
#[derive(Debug, PartialEq)]
struct Sweep {
    /// Seeds `first..end`.
    first: u64,
    end: u64,
    swarm: bool,
    strict: bool,
    /// Worker threads.
    jobs: usize,
    /// Option flags to apply to every seed's options.
    overrides: Vec<String>,
}

fn parse_sweep(args: &[String]) -> Result<Sweep, String> {
    let mut seeds = None;
    let mut swarm = false;
    let mut strict = false;
    let mut jobs = 1;
    let mut overrides = Vec::new();
    let mut iter = args.iter().cloned();
    while let Some(flag) = iter.next() {
        match flag.as_str() {
            "--seeds" => {
                let text = iter.next().ok_or("--seeds needs a value")?;
                seeds = Some(parse_seeds(&text)?);
            }
            "--swarm" => swarm = true,
            "--strict" => strict = true,
            "--jobs" => {
                let text = iter.next().ok_or("--jobs needs a value")?;
                jobs = match text.parse::<usize>() {
                    Ok(n) if (1..=256).contains(&n) => n,
                    _ => return Err(format!("--jobs takes 1 to 256, not {text:?}")),
                };
            }
            "--seed" => return Err("sweep takes --seeds A..B, not --seed".into()),
            "--" => {
                // The node binary's arguments, for every seed.
                overrides.push(flag);
                overrides.extend(iter.by_ref());
            }
            _ => {
                // Learn how many values the flag takes by applying it to a scratch copy.
                let mut probe = Options::default();
                let mut rest = iter.clone();
                if !probe.apply_flag(&flag, &mut rest)? {
                    return Err(format!("unknown flag {flag:?}"));
                }
                let taken = iter.clone().count() - rest.count();
                overrides.push(flag);
                for _ in 0..taken {
                    overrides.extend(iter.next());
                }
            }
        }
    }
    let (first, end) = seeds.ok_or("sweep needs --seeds A..B")?;
    // Apply the overrides once now, so that a bad value fails before any run.
    Options::default().parse_all(&overrides)?;
    Ok(Sweep {
        first,
        end,
        swarm,
        strict,
        jobs,
        overrides,
    })
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
}

fn sweep_seed(seed: u64, sweep: &Sweep, stop: Option<&Arc<AtomicBool>>) -> SeedResult {
    let options = match Options::for_seed(seed, sweep.swarm, &sweep.overrides) {
        Ok(mut options) => {
            // One folder of node logs per seed, so that seeds do not write over each other.
            if let Some(dir) = &options.log_dir {
                options.log_dir = Some(format!("{dir}/seed-{seed}"));
            }
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
            };
        }
    };
    let outcome = run_one(&options, stop);
    let report = checker::check(&outcome.history);
    let verdict = report::verdict(&options, &outcome, &report, sweep.strict);
    let valid = verdict != report::Verdict::Invalid;
    SeedResult {
        seed,
        ops: report::invocations(&outcome.history),
        msgs: outcome.history.net.all.recv_count,
        virtual_us: outcome.history.end,
        failure: (!valid).then(|| {
            (
                report::why(&outcome, &report),
                report::replay_command(&options),
            )
        }),
        no_quorum: matches!(verdict, report::Verdict::NoQuorum { .. }),
    }
}

fn cmd_sweep(args: &[String]) -> Result<Ended, String> {
    let sweep = parse_sweep(args)?;
    let real_time = Options::default()
        .parse_all(&sweep.overrides)?
        .bin
        .is_some();
    let stop = real_time.then(stop_flag).transpose()?;
    let stopped = || stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
    let started = Instant::now();
    let mut last_progress = Instant::now();
    // On a terminal the progress line rewrites itself twice a second; into a log (CI) it
    // is a plain line every ten seconds, so the log stays readable.
    let tty = std::io::stderr().is_terminal();
    let (erase, every) = if tty {
        ("\r\x1b[K", Duration::from_millis(500))
    } else {
        ("", Duration::from_secs(10))
    };
    let (mut done, mut failed, mut ops, mut msgs, mut virtual_us) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut no_quorum = 0u64;
    let total = sweep.end - sweep.first;
    let mut on_result = |r: SeedResult| {
        done += 1;
        ops += r.ops;
        msgs += r.msgs;
        virtual_us += r.virtual_us;
        no_quorum += u64::from(r.no_quorum);
        if let Some((why, replay)) = r.failure {
            failed += 1;
            eprint!("{erase}");
            println!("SEED={} FAILED: {why}\n  {replay}", r.seed);
        }
        if last_progress.elapsed() > every || done == total {
            last_progress = Instant::now();
            eprint!(
                "{erase}{done}/{total} seeds, {failed} failed, {:.1}s{}",
                started.elapsed().as_secs_f64(),
                if tty { "" } else { "\n" }
            );
        }
    };
    if sweep.jobs <= 1 {
        for seed in sweep.first..sweep.end {
            if stopped() {
                break;
            }
            on_result(sweep_seed(seed, &sweep, stop.as_ref()));
        }
    } else {
        // Workers take the next seed from a shared counter; each run is independent and
        // deterministic, so only the order of the listing depends on the scheduling.
        let next = AtomicU64::new(sweep.first);
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..sweep.jobs {
                let tx = tx.clone();
                let (next, sweep, stop, stopped) = (&next, &sweep, stop.as_ref(), &stopped);
                scope.spawn(move || {
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= sweep.end
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
    if tty {
        // End the progress line that kept rewriting itself.
        eprintln!();
    }
    if stopped() {
        return Ok(Ended::Interrupted);
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{total} seeds, {failed} failed, {no_quorum} without a quorum; {ops} ops, {msgs} messages, {:.0} virtual s in {wall:.2} wall s",
        virtual_us as f64 / 1e6
    );
    Ok(if failed == 0 {
        Ended::Valid
    } else {
        Ended::Invalid
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn run_takes_options_and_json() {
        let (options, json) = parse_run(&args("--seed 5 --node-count 2 --json --trace")).unwrap();
        assert!(json && options.trace);
        assert_eq!((options.seed, options.node_count), (5, Some(2)));
        assert!(parse_run(&args("--bogus")).unwrap_err().contains("--bogus"));
        // Everything after `--` is the node's argv, flags that look like ours included.
        let (options, json) = parse_run(&args("--bin ./n --json -- --seed 9 --json")).unwrap();
        assert!(json);
        assert_eq!(options.seed, 0);
        assert_eq!(options.node_args, args("--seed 9 --json"));
    }

    #[test]
    fn sweep_keeps_overrides_with_their_values_and_checks_them() {
        let sweep = parse_sweep(&args(
            "--seeds 3..9 --swarm --node-count 1 --trace --loss 0.5",
        ))
        .unwrap();
        assert_eq!(
            sweep,
            Sweep {
                first: 3,
                end: 9,
                swarm: true,
                strict: false,
                jobs: 1,
                overrides: args("--node-count 1 --trace --loss 0.5"),
            }
        );
        assert!(
            parse_sweep(&args("--swarm"))
                .unwrap_err()
                .contains("--seeds")
        );
        assert!(parse_sweep(&args("--seeds 9..3")).is_err());
        assert!(
            parse_sweep(&args("--seeds 1..2 --loss 7"))
                .unwrap_err()
                .contains("probability")
        );
        assert!(parse_sweep(&args("--seeds 1..2 --seed 4")).is_err());
        let sweep = parse_sweep(&args("--seeds 1..2 --bin ./n -- --seeds x")).unwrap();
        assert_eq!(sweep.overrides, args("--bin ./n -- --seeds x"));
        assert!(
            parse_sweep(&args("--seeds 1..2 --frob"))
                .unwrap_err()
                .contains("--frob")
        );
    }
}
