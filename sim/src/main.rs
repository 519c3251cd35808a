//! `replicator-sim`: runs Maelstrom's kafka test against Replicator's node in virtual
//! time, one seed at a time (`run`) or over many seeds (`sweep`).
//!
//! Arguments are parsed by hand (the project allows no argument-parsing package).

use replicator_sim::checker;
use replicator_sim::options::{FLAGS_USAGE, Options};
use replicator_sim::report;
use replicator_sim::run;
use replicator_sim::server;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage:
  replicator-sim run [OPTIONS] [--json]
      one test; prints the summary (or JSON with --json); exit 0 if valid, 1 if not
  replicator-sim sweep --seeds A..B [--swarm] [--strict] [OPTIONS]
      one test per seed in [A, B); --swarm draws every option from the seed, and
      OPTIONS given explicitly override the drawn ones; prints each failing seed with
      the command that replays it; exit 0 if every seed passed, 1 if not

OPTIONS:";

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
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("replicator-sim: {message}\n{USAGE}\n{FLAGS_USAGE}");
            ExitCode::from(2)
        }
    }
}

fn cmd_run(args: &[String]) -> Result<bool, String> {
    let mut options = Options::default();
    let mut json = false;
    let mut iter = args.iter().cloned();
    while let Some(flag) = iter.next() {
        if flag == "--json" {
            json = true;
        } else if !options.apply_flag(&flag, &mut iter)? {
            return Err(format!("unknown flag {flag:?}"));
        }
    }
    let started = Instant::now();
    let outcome = run::run(&options, &server::real_node());
    let simulated = Instant::now();
    let report = checker::check(&outcome.history);
    let wall = report::Wall {
        run: simulated - started,
        check: simulated.elapsed(),
    };
    let mut stdout = std::io::stdout().lock();
    for line in &outcome.trace {
        let _ = writeln!(stdout, "{line}");
    }
    if json {
        let value = report::to_json(&options, &outcome, &report, Some(wall));
        let _ = writeln!(stdout, "{value:#}");
    } else {
        let _ = write!(
            stdout,
            "{}",
            report::summary(&options, &outcome, &report, Some(wall))
        );
    }
    Ok(report::is_valid(&outcome, &report))
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

fn cmd_sweep(args: &[String]) -> Result<bool, String> {
    let mut seeds = None;
    let mut swarm = false;
    let mut strict = false;
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
            "--seed" => return Err("sweep takes --seeds A..B, not --seed".into()),
            _ => {
                // Check the flag now, so that a typo fails before any run.
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
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let (mut failed, mut ops, mut msgs, mut virtual_us) = (0u64, 0u64, 0u64, 0u64);
    let total = end - first;
    for seed in first..end {
        let options = Options::for_seed(seed, swarm, &overrides)?;
        let outcome = run::run(&options, &server::real_node());
        let report = checker::check(&outcome.history);
        ops += report::invocations(&outcome.history);
        msgs += outcome.history.net.all.recv_count;
        virtual_us += outcome.history.end;
        let valid = report::is_valid(&outcome, &report) && (!strict || report.is_strict_valid());
        if !valid {
            failed += 1;
            let why = report::why(&outcome, &report);
            eprint!("\r\x1b[K");
            println!(
                "SEED={seed} FAILED: {why}\n  {}",
                report::replay_command(&options)
            );
        }
        if last_progress.elapsed() > Duration::from_millis(500) || seed + 1 == end {
            last_progress = Instant::now();
            let done = seed + 1 - first;
            eprint!(
                "\r\x1b[K{done}/{total} seeds, {failed} failed, {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!();
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{total} seeds, {failed} failed; {ops} ops, {msgs} messages, {:.0} virtual s in {wall:.2} wall s",
        virtual_us as f64 / 1e6
    );
    Ok(failed == 0)
}
