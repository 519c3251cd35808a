//! The command line of `replicator-sim`, as clap parses it: the flags of a test (the
//! same for `run` and `sweep`), each subcommand's own, and the value parsers that refuse
//! what cannot make a test.
//!
//! Every flag keeps the spelling of `maelstrom test` (spec: kafka.md 6.5): `--node-count`,
//! `--concurrency 2n`, `--time-limit`, `--rate`, `--latency`, `--latency-dist`,
//! `--nemesis partition`, `--nemesis-interval`, `--key-count`, `--max-writes-per-key`;
//! our extensions are spelled alike. [`Options::to_args`] renders options back to these
//! flags for replay commands, and [`Options::parse_all`] parses them through the same
//! definitions, so the two cannot drift apart.
//!
//! A test's flags are all optional here ([`TestArgs`]): `run` applies the ones given to
//! the defaults, `sweep` to each seed's options (the defaults, or the swarm's draw), so a
//! flag given always wins and a flag not given never overrides a draw.

use crate::options::{Concurrency, LatencyDist, Options};
use crate::payloads::Payloads;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `replicator-sim`: Maelstrom's kafka test, in virtual time against Replicator's node,
/// or in real time against any node binary.
#[derive(Debug, Parser)]
#[command(
    name = "replicator-sim",
    version,
    about = "Maelstrom's kafka test, in virtual time against Replicator's node (or in real \
             time against any Maelstrom node binary with --bin), judged as Jepsen's kafka \
             checker does",
    after_help = "Exit status: 0 when every test is valid, 1 when one is not, 2 on a bad \
                  command line, 130 when interrupted."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One test: prints its summary (or JSON with --json)
    ///
    /// Exit 0 if the test is valid, 1 if not.
    Run(RunArgs),
    /// One test per seed: prints each failing seed with the command that replays it
    ///
    /// Exit 0 if every seed passed, 1 if not. A seed in which no majority of the servers
    /// could talk long enough to acknowledge a send is counted apart, as no-quorum.
    Sweep(SweepArgs),
}

/// `replicator-sim run`.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct RunArgs {
    /// The seed every random choice comes from.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Print the run as one JSON document (the trace inside it, with --trace).
    #[arg(long)]
    pub json: bool,
    /// The test's options.
    #[command(flatten)]
    pub test: TestArgs,
    /// The report page.
    #[command(flatten)]
    pub report: ReportArgs,
    /// With --bin: the node binary's arguments (as Maelstrom passes its leftover ones).
    #[arg(last = true, value_name = "NODE-ARGS")]
    pub node_args: Vec<String>,
}

/// `replicator-sim sweep`.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct SweepArgs {
    /// The seeds A..B, B excluded.
    #[arg(long, value_name = "A..B", value_parser = seeds)]
    pub seeds: Seeds,
    /// Draw every option from each seed (1 to 7 nodes, latency, partitions, loss,
    /// duplication, payloads, poll budgets); options given explicitly override the draw.
    #[arg(long)]
    pub swarm: bool,
    /// Fail seeds on our stricter checks too, not only Maelstrom's verdict.
    #[arg(long)]
    pub strict: bool,
    /// Run seeds on this many threads.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// The test's options, for every seed.
    #[command(flatten)]
    pub test: TestArgs,
    /// The report pages, one per failing seed.
    #[command(flatten)]
    pub report: ReportArgs,
    /// With --bin: the node binary's arguments, for every seed.
    #[arg(last = true, value_name = "NODE-ARGS")]
    pub node_args: Vec<String>,
}

/// A sweep's seeds, `first..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    /// The first seed.
    pub first: u64,
    /// One past the last.
    pub end: u64,
}

/// `--report` and the diagram's window.
#[derive(Clone, Debug, Default, Args, PartialEq)]
pub struct ReportArgs {
    /// Write a self-contained HTML page of the run (of each failing seed, for sweep)
    /// into DIR: latency, rates, a Lamport diagram, the summary and the replay command.
    #[arg(long, value_name = "DIR", help_heading = "Report")]
    pub report: Option<PathBuf>,
    /// The Lamport diagram's window starts at MS milliseconds (default: just before the
    /// first anomaly's example, or the first nemesis event, or the main phase).
    #[arg(long, value_name = "MS", requires = "report", value_parser = non_negative,
          help_heading = "Report")]
    pub diagram_from: Option<f64>,
    /// The Lamport diagram's window ends at MS milliseconds.
    #[arg(long, value_name = "MS", requires = "report", value_parser = non_negative,
          help_heading = "Report")]
    pub diagram_to: Option<f64>,
}

impl ReportArgs {
    /// The diagram's window in microseconds, when one was asked for, or why it cannot be.
    pub fn window_us(&self) -> Result<Option<(u64, u64)>, String> {
        let us = |ms: f64| (ms * 1000.0).round() as u64;
        match (self.diagram_from, self.diagram_to) {
            (None, None) => Ok(None),
            (from, to) => {
                let from = from.map_or(0, us);
                let to = to.map_or(u64::MAX, us);
                if to <= from {
                    return Err(format!(
                        "--diagram-to must be after --diagram-from, not {} ms to {} ms",
                        from as f64 / 1000.0,
                        to as f64 / 1000.0
                    ));
                }
                Ok(Some((from, to)))
            }
        }
    }
}

/// The options of one test, each `None` (or `false`) when not given.
#[derive(Clone, Debug, Default, Args, PartialEq)]
pub struct TestArgs {
    /// Servers n0..n(N-1) [default: n1..n5, as Maelstrom].
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help_heading = "Maelstrom's options")]
    pub node_count: Option<usize>,
    /// Client threads: N, or Kn for K per node [default: 1n].
    #[arg(long, value_name = "C", value_parser = concurrency,
          help_heading = "Maelstrom's options")]
    pub concurrency: Option<Concurrency>,
    /// The main phase, in seconds [default: 60].
    #[arg(long, value_name = "S", value_parser = non_negative,
          help_heading = "Maelstrom's options")]
    pub time_limit: Option<f64>,
    /// Operations per second over all threads; 0 for none [default: 5].
    #[arg(long, value_name = "R", value_parser = non_negative,
          help_heading = "Maelstrom's options")]
    pub rate: Option<f64>,
    /// Mean latency of server links, in milliseconds [default: 0].
    #[arg(long, value_name = "MS", help_heading = "Maelstrom's options")]
    pub latency: Option<u64>,
    /// The latency's distribution [default: constant].
    #[arg(
        long,
        value_name = "D",
        value_enum,
        help_heading = "Maelstrom's options"
    )]
    pub latency_dist: Option<LatencyDist>,
    /// `partition` cuts the network now and then (`none`, or empty, for no nemesis).
    #[arg(long, value_name = "NEMESIS", value_parser = nemesis,
          help_heading = "Maelstrom's options")]
    pub nemesis: Option<bool>,
    /// Mean seconds between nemesis operations [default: 10].
    #[arg(long, value_name = "S", value_parser = non_negative,
          help_heading = "Maelstrom's options")]
    pub nemesis_interval: Option<f64>,
    /// Active key slots [default: 10].
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help_heading = "Maelstrom's options")]
    pub key_count: Option<usize>,
    /// Sends per key before it retires [default: 16].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          help_heading = "Maelstrom's options")]
    pub max_writes_per_key: Option<u64>,
    /// Probability that a server message is lost [default: 0].
    #[arg(long, value_name = "P", value_parser = probability,
          help_heading = "Our extensions")]
    pub loss: Option<f64>,
    /// Probability that a server message is delivered twice [default: 0].
    #[arg(long, value_name = "P", value_parser = probability,
          help_heading = "Our extensions")]
    pub duplicate: Option<f64>,
    /// Mean seconds between node crashes that lose all state; 0 for none [default: 0].
    #[arg(long, value_name = "S", value_parser = non_negative,
          help_heading = "Our extensions")]
    pub crash_nodes: Option<f64>,
    /// What messages carry: int (Maelstrom's counters) or any (JSON of every kind)
    /// [default: int].
    #[arg(long, value_name = "P", value_parser = Payloads::parse,
          help_heading = "Our extensions")]
    pub payloads: Option<Payloads>,
    /// The most messages in one poll_ok of a node [default: the node's]; budgets too
    /// small for the run leave the final polls too little time to read every message.
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help_heading = "Our extensions")]
    pub poll_msgs_max: Option<usize>,
    /// The most payload bytes in one poll_ok of a node [default: the node's, 1 MiB; the
    /// first message always goes].
    #[arg(long, value_name = "N", help_heading = "Our extensions")]
    pub poll_bytes_max: Option<usize>,
    /// Quiet between the heal and the final polls, in seconds [default: 10, as
    /// Maelstrom].
    #[arg(long, value_name = "S", value_parser = non_negative,
          help_heading = "Our extensions")]
    pub recovery_time: Option<f64>,
    /// The final polls are cut off after S seconds [default: 10, as Maelstrom].
    #[arg(long, value_name = "S", value_parser = non_negative,
          help_heading = "Our extensions")]
    pub final_time_limit: Option<f64>,
    /// Print one line per event.
    #[arg(long, help_heading = "Our extensions")]
    pub trace: bool,
    /// Run this Maelstrom node binary as every node, one process each, in real time
    /// [default: Replicator's node in process, in virtual time]; arguments after `--` are
    /// the node's argv.
    #[arg(long, value_name = "PATH", value_parser = non_empty,
          help_heading = "Real processes")]
    pub bin: Option<String>,
    /// With --bin: each node's stderr goes to DIR/<node>.log.
    #[arg(long, value_name = "DIR", help_heading = "Real processes")]
    pub log_dir: Option<String>,
}

impl TestArgs {
    /// Sets the options given; leaves the others as they are.
    pub fn apply(&self, options: &mut Options) {
        let TestArgs {
            node_count,
            concurrency,
            time_limit,
            rate,
            latency,
            latency_dist,
            nemesis,
            nemesis_interval,
            key_count,
            max_writes_per_key,
            loss,
            duplicate,
            crash_nodes,
            payloads,
            poll_msgs_max,
            poll_bytes_max,
            recovery_time,
            final_time_limit,
            trace,
            bin,
            log_dir,
        } = self.clone();
        // Every field is destructured above, so a flag added later cannot be forgotten.
        if node_count.is_some() {
            options.node_count = node_count;
        }
        set(&mut options.concurrency, concurrency);
        set(&mut options.time_limit_s, time_limit);
        set(&mut options.rate, rate);
        set(&mut options.latency_ms, latency);
        set(&mut options.latency_dist, latency_dist);
        set(&mut options.partition, nemesis);
        set(&mut options.nemesis_interval_s, nemesis_interval);
        set(&mut options.key_count, key_count);
        set(&mut options.max_writes_per_key, max_writes_per_key);
        set(&mut options.loss, loss);
        set(&mut options.duplicate, duplicate);
        set(&mut options.crash_nodes_s, crash_nodes);
        set(&mut options.payloads, payloads);
        if poll_msgs_max.is_some() {
            options.poll_msgs_max = poll_msgs_max;
        }
        if poll_bytes_max.is_some() {
            options.poll_bytes_max = poll_bytes_max;
        }
        set(&mut options.recovery_s, recovery_time);
        set(&mut options.final_limit_s, final_time_limit);
        options.trace |= trace;
        if bin.is_some() {
            options.bin = bin;
        }
        if log_dir.is_some() {
            options.log_dir = log_dir;
        }
    }

    /// Whether the test runs node processes in real time.
    pub fn is_real_time(&self) -> bool {
        self.bin.is_some()
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// A list of option flags alone, as [`Options::parse_all`] takes them (a replay
/// command's arguments after `run`).
#[derive(Debug, Parser)]
#[command(no_binary_name = true, allow_negative_numbers = true)]
pub(crate) struct OptionFlags {
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub test: TestArgs,
    #[arg(last = true)]
    pub node_args: Vec<String>,
}

/// A clap error's first paragraph as one line, without its `error: ` prefix: what went
/// wrong, with the flag and the value (and no usage or tip).
pub fn error_line(error: &clap::Error) -> String {
    let text = error.to_string();
    let first: Vec<&str> = text
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = first.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(_) => Err("takes a whole number of at least 1".into()),
    }
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err("takes a non-negative number".into()),
    }
}

fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err("takes a probability in [0, 1]".into()),
    }
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("needs a path".into());
    }
    Ok(text.to_string())
}

/// spec: kafka.md 3.2 — `N` threads, or `Kn` for K per node. No thread at all would make
/// a test of nothing, so 0 and `0n` are refused.
fn concurrency(text: &str) -> Result<Concurrency, String> {
    let bad = || "takes N or Kn (K threads per node), e.g. 10 or 2n".to_string();
    let concurrency = match text.strip_suffix('n') {
        Some(k) => Concurrency::PerNode(k.parse().map_err(|_| bad())?),
        None => Concurrency::Threads(text.parse().map_err(|_| bad())?),
    };
    match concurrency {
        Concurrency::PerNode(0) | Concurrency::Threads(0) => {
            Err("must give at least one client thread".into())
        }
        c => Ok(c),
    }
}

/// spec: kafka.md 6.2 — the only nemesis kafka runs is `partition`. Maelstrom takes a
/// comma-separated list; `none` and the empty list turn it off.
fn nemesis(text: &str) -> Result<bool, String> {
    match text {
        "partition" => Ok(true),
        "none" | "" => Ok(false),
        _ => Err("takes partition (or none)".into()),
    }
}

fn seeds(text: &str) -> Result<Seeds, String> {
    let bad = || "takes A..B, B excluded, e.g. 0..100".to_string();
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let first: u64 = a.parse().map_err(|_| bad())?;
    let end: u64 = b.parse().map_err(|_| bad())?;
    if end <= first {
        return Err("holds no seed: B must be above A".into());
    }
    Ok(Seeds { first, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(line: &str) -> Result<Cli, String> {
        let args = std::iter::once("replicator-sim").chain(line.split_whitespace());
        Cli::try_parse_from(args).map_err(|e| error_line(&e))
    }

    fn run(line: &str) -> RunArgs {
        match parse(&format!("run {line}")).unwrap().command {
            Command::Run(args) => args,
            Command::Sweep(_) => panic!("a sweep"),
        }
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
        OptionFlags::command().debug_assert();
    }

    #[test]
    fn run_takes_options_json_and_the_node_arguments() {
        let args = run("--seed 5 --node-count 2 --json --trace");
        assert!(args.json && args.test.trace);
        assert_eq!((args.seed, args.test.node_count), (5, Some(2)));
        // Everything after `--` is the node's argv, flags that look like ours included.
        let args = run("--bin ./n --json -- --seed 9 --json");
        assert!(args.json);
        assert_eq!(args.seed, 0);
        assert_eq!(args.node_args, ["--seed", "9", "--json"]);
    }

    #[test]
    fn errors_name_the_flag_and_the_value() {
        for (line, flag, value) in [
            ("run --concurrency 0", "--concurrency", "'0'"),
            ("run --concurrency 0n", "--concurrency", "'0n'"),
            ("run --concurrency two", "--concurrency", "'two'"),
            ("run --rate fast", "--rate", "'fast'"),
            ("run --rate -5", "--rate", "'-5'"),
            ("run --node-count 0", "--node-count", "'0'"),
            ("run --key-count 0", "--key-count", "'0'"),
            ("run --max-writes-per-key 0", "--max-writes-per-key", "'0'"),
            ("run --latency-dist pareto", "--latency-dist", "'pareto'"),
            ("run --nemesis kill", "--nemesis", "'kill'"),
            ("run --loss 1.5", "--loss", "'1.5'"),
            ("run --poll-msgs-max 0", "--poll-msgs-max", "'0'"),
            ("run --poll-bytes-max -1", "--poll-bytes-max", "'-1'"),
            ("run --payloads json", "--payloads", "'json'"),
            ("run --time-limit inf", "--time-limit", "'inf'"),
            ("sweep --seeds 9..3", "--seeds", "'9..3'"),
            ("sweep --seeds 5..5", "--seeds", "'5..5'"),
            ("sweep --seeds 1..2 --jobs 0", "--jobs", "'0'"),
        ] {
            let error = parse(line).expect_err(line);
            assert!(
                error.contains(flag) && error.contains(value),
                "{line}: {error}"
            );
        }
        assert!(parse("run --frob").unwrap_err().contains("--frob"));
        assert!(parse("run --seed").unwrap_err().contains("--seed"));
        assert!(parse("sweep --swarm").unwrap_err().contains("--seeds"));
        assert!(parse("sweep --seeds 1..2 --seed 4").is_err());
        assert!(
            parse("run --diagram-from 5")
                .unwrap_err()
                .contains("--report")
        );
    }

    #[test]
    fn sweep_keeps_what_was_given_and_nothing_else() {
        let Command::Sweep(sweep) = parse(
            "sweep --seeds 3..9 --swarm --node-count 1 --trace --loss 0.5 --bin ./n -- --seeds x",
        )
        .unwrap()
        .command
        else {
            panic!("not a sweep");
        };
        assert_eq!(sweep.seeds, Seeds { first: 3, end: 9 });
        assert!(sweep.swarm && !sweep.strict && sweep.jobs == 1);
        assert_eq!(
            sweep.test,
            TestArgs {
                node_count: Some(1),
                trace: true,
                loss: Some(0.5),
                bin: Some("./n".into()),
                ..TestArgs::default()
            }
        );
        assert_eq!(sweep.node_args, ["--seeds", "x"]);
    }

    #[test]
    fn maelstroms_spellings_parse() {
        let args = run(
            "--node-count 3 --concurrency 2n --time-limit 20 --rate 1000 --latency 20 \
             --latency-dist exponential --nemesis partition --nemesis-interval 5 \
             --key-count 4 --max-writes-per-key 8",
        );
        let mut options = Options::default();
        args.test.apply(&mut options);
        assert_eq!(options.threads(), 6);
        assert_eq!(options.latency_dist, LatencyDist::Exponential);
        assert!(options.partition);
        assert_eq!(
            (options.key_count, options.max_writes_per_key, options.rate),
            (4, 8, 1000.0)
        );
        assert_eq!(
            run("--concurrency 3").test.concurrency,
            Some(Concurrency::Threads(3))
        );
        assert_eq!(run("--nemesis none").test.nemesis, Some(false));
    }

    #[test]
    fn the_diagram_window_is_checked() {
        let window = |line: &str| run(line).report.window_us();
        assert_eq!(window("--report r").unwrap(), None);
        assert_eq!(
            window("--report r --diagram-from 1.5 --diagram-to 2").unwrap(),
            Some((1500, 2000))
        );
        assert_eq!(
            window("--report r --diagram-from 3").unwrap(),
            Some((3000, u64::MAX))
        );
        let error = window("--report r --diagram-from 3 --diagram-to 2").unwrap_err();
        assert!(
            error.contains("--diagram-to") && error.contains("3 ms"),
            "{error}"
        );
    }
}
