//! A run's options: the flags of `maelstrom test` that matter for kafka (spec: kafka.md
//! 6.5), our extensions, their validation, rendering back to flags (for replay commands)
//! and parsing them again (through [`crate::cli`], the one definition of the flags), and
//! swarm draws.

use crate::payloads::Payloads;
use crate::rng::Rng;
use std::fmt;

/// spec: kafka.md 6.1 — the latency distributions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LatencyDist {
    /// Exactly the mean.
    Constant,
    /// Uniform integer milliseconds on `[0, 2·mean)`.
    Uniform,
    /// Exponential with the mean, truncated to whole milliseconds.
    Exponential,
}

impl LatencyDist {
    fn name(self) -> &'static str {
        match self {
            LatencyDist::Constant => "constant",
            LatencyDist::Uniform => "uniform",
            LatencyDist::Exponential => "exponential",
        }
    }
}

/// `--concurrency`: a number of threads, or `Kn` for K per node (spec: kafka.md 3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrency {
    /// Exactly this many threads.
    Threads(usize),
    /// This many threads per node.
    PerNode(usize),
}

/// Everything that determines a run. Equal options give byte-identical runs in virtual
/// time; a run of real processes (`bin`) makes the same choices, but the operating system
/// decides how the processes interleave.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The seed every random choice comes from.
    pub seed: u64,
    /// `--node-count`: servers `n0…n(N-1)`; `None` is Maelstrom's default `n1…n5`.
    pub node_count: Option<usize>,
    /// `--concurrency`.
    pub concurrency: Concurrency,
    /// `--time-limit`, the main phase, in seconds.
    pub time_limit_s: f64,
    /// `--rate`, operations per second over all threads (0 = none).
    pub rate: f64,
    /// `--latency`, mean server latency in milliseconds.
    pub latency_ms: u64,
    /// `--latency-dist`.
    pub latency_dist: LatencyDist,
    /// `--nemesis partition`.
    pub partition: bool,
    /// `--nemesis-interval`, mean seconds between nemesis operations.
    pub nemesis_interval_s: f64,
    /// `--key-count`, active key slots.
    pub key_count: usize,
    /// `--max-writes-per-key`.
    pub max_writes_per_key: u64,
    /// `--loss P`: probability a server message is lost (our extension).
    pub loss: f64,
    /// `--duplicate P`: probability a server message is delivered twice (our extension).
    pub duplicate: f64,
    /// `--crash-nodes S`: mean seconds between node crashes that lose all state, 0 for
    /// none (our extension). A crashed node restarts within S seconds.
    pub crash_nodes_s: f64,
    /// `--payloads`: what messages carry, Maelstrom's small integers or JSON of every
    /// kind (our extension).
    pub payloads: Payloads,
    /// `--poll-msgs-max N`: the most messages one `poll_ok` of a node carries
    /// (`Config::poll_msgs_max`); `None` leaves the node's default.
    pub poll_msgs_max: Option<usize>,
    /// `--poll-bytes-max N`: the most payload bytes one `poll_ok` of a node carries
    /// (`Config::poll_bytes_max`); `None` leaves the node's default.
    pub poll_bytes_max: Option<usize>,
    /// `--trace`: keep one line per event.
    pub trace: bool,
    /// `--recovery-time S`: the quiet between the heal and the final polls (spec: kafka.md
    /// 3.1: Maelstrom sleeps 10 s). Shorter makes quick runs quicker.
    pub recovery_s: f64,
    /// `--final-time-limit S`: when the final polls are cut off (spec: kafka.md 3.7: 10 s).
    pub final_limit_s: f64,
    /// `--bin PATH`: run this Maelstrom node binary, one process per node, in real time,
    /// instead of Replicator's node in process in virtual time.
    pub bin: Option<String>,
    /// The node binary's arguments: whatever follows `--` on the command line (spec:
    /// kafka.md 1.1: Maelstrom passes its leftover arguments as argv).
    pub node_args: Vec<String>,
    /// `--log-dir DIR`: where each node process's stderr goes, one `<node>.log` each, as
    /// Maelstrom's `node-logs`. Says where output goes, not what the run does, so replay
    /// commands leave it out.
    pub log_dir: Option<String>,
    /// Keep a record of every message the network carries (`--report` draws its message
    /// rates and Lamport diagram from it). Changes nothing about the run, so replay
    /// commands leave it out; off, a run pays nothing for it.
    pub record_messages: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 0,
            node_count: None,
            concurrency: Concurrency::PerNode(1),
            time_limit_s: 60.0,
            rate: 5.0,
            latency_ms: 0,
            latency_dist: LatencyDist::Constant,
            partition: false,
            nemesis_interval_s: 10.0,
            key_count: 10,
            max_writes_per_key: 16,
            loss: 0.0,
            duplicate: 0.0,
            crash_nodes_s: 0.0,
            payloads: Payloads::Int,
            poll_msgs_max: None,
            poll_bytes_max: None,
            trace: false,
            recovery_s: DEFAULT_PHASE_S,
            final_limit_s: DEFAULT_PHASE_S,
            bin: None,
            node_args: Vec::new(),
            log_dir: None,
            record_messages: false,
        }
    }
}

/// spec: kafka.md 3.1, 3.7 — Maelstrom's quiet before the final polls, and their cut-off.
const DEFAULT_PHASE_S: f64 = 10.0;

/// spec: kafka.md 3.7 — final polls come every 200 ms on average for 10 s, about 50 per
/// thread; fewer than this many in 10 s is vanishingly unlikely (25 gaps uniform on
/// [0, 400) ms exceed 10 s with probability below 1e-15).
const FINAL_POLLS_MIN: usize = 25;

/// The small budgets `--swarm` draws (and the fuzz target, by index) before raising
/// them to [`Options::poll_budget_floor`]: the reply cut short after 1, 2 or 3 messages,
/// after a few, after a screenful.
pub const SMALL_POLL_BUDGETS: [usize; 5] = [1, 2, 3, 8, 64];

impl Options {
    /// The server ids (spec: kafka.md 1.3).
    pub fn node_ids(&self) -> Vec<String> {
        match self.node_count {
            Some(n) => (0..n).map(|i| format!("n{i}")).collect(),
            None => (1..=5).map(|i| format!("n{i}")).collect(),
        }
    }

    /// The number of client threads.
    pub fn threads(&self) -> usize {
        let nodes = self.node_ids().len();
        match self.concurrency {
            Concurrency::Threads(n) => n,
            Concurrency::PerNode(k) => k.saturating_mul(nodes),
        }
    }

    /// The flags that reproduce these options exactly (every option, defaults included,
    /// so a replay command does not depend on the defaults of a later version).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["--seed".to_string(), self.seed.to_string()];
        if let Some(n) = self.node_count {
            args.extend(["--node-count".into(), n.to_string()]);
        }
        let concurrency = match self.concurrency {
            Concurrency::Threads(n) => n.to_string(),
            Concurrency::PerNode(k) => format!("{k}n"),
        };
        args.extend([
            "--concurrency".into(),
            concurrency,
            "--time-limit".into(),
            self.time_limit_s.to_string(),
            "--rate".into(),
            self.rate.to_string(),
            "--latency".into(),
            self.latency_ms.to_string(),
            "--latency-dist".into(),
            self.latency_dist.name().into(),
        ]);
        if self.partition {
            args.extend(["--nemesis".into(), "partition".into()]);
        }
        args.extend([
            "--nemesis-interval".into(),
            self.nemesis_interval_s.to_string(),
            "--key-count".into(),
            self.key_count.to_string(),
            "--max-writes-per-key".into(),
            self.max_writes_per_key.to_string(),
        ]);
        if self.loss > 0.0 {
            args.extend(["--loss".into(), self.loss.to_string()]);
        }
        if self.duplicate > 0.0 {
            args.extend(["--duplicate".into(), self.duplicate.to_string()]);
        }
        if self.crash_nodes_s > 0.0 {
            args.extend(["--crash-nodes".into(), self.crash_nodes_s.to_string()]);
        }
        // Like the fault extensions, the default is left out, so that Maelstrom-shaped
        // runs print Maelstrom's flags only.
        if self.payloads != Payloads::Int {
            args.extend(["--payloads".into(), self.payloads.name().into()]);
        }
        if let Some(n) = self.poll_msgs_max {
            args.extend(["--poll-msgs-max".into(), n.to_string()]);
        }
        if let Some(n) = self.poll_bytes_max {
            args.extend(["--poll-bytes-max".into(), n.to_string()]);
        }
        if self.recovery_s != DEFAULT_PHASE_S {
            args.extend(["--recovery-time".into(), self.recovery_s.to_string()]);
        }
        if self.final_limit_s != DEFAULT_PHASE_S {
            args.extend(["--final-time-limit".into(), self.final_limit_s.to_string()]);
        }
        // The node binary and its arguments come last, as on Maelstrom's command line.
        if let Some(bin) = &self.bin {
            args.extend(["--bin".into(), bin.clone()]);
        }
        if !self.node_args.is_empty() {
            args.push("--".into());
            args.extend(self.node_args.iter().cloned());
        }
        args
    }

    /// Swarm testing: every option drawn from `seed` (the run itself also uses `seed`).
    /// Runs are kept short (at most 20 virtual seconds) so that sweeps cover many seeds.
    pub fn swarm(seed: u64) -> Options {
        // A stream apart from the run's own, so that the drawn options and the run's
        // choices are not correlated.
        let mut rng = Rng::new(seed ^ 0x5157_4152_4d5f_4f50);
        let mut pick = |choices: &[f64]| choices[rng.index(choices.len())];
        let node_count = pick(&[1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 5.0, 6.0, 7.0]) as usize;
        let concurrency = Concurrency::PerNode(pick(&[1.0, 2.0, 2.0, 4.0]) as usize);
        let time_limit_s = pick(&[2.0, 5.0, 10.0, 20.0]);
        let rate = pick(&[5.0, 10.0, 50.0, 100.0, 500.0, 1000.0]);
        let latency_ms = pick(&[0.0, 0.0, 1.0, 10.0, 50.0, 100.0]) as u64;
        let latency_dist = [
            LatencyDist::Constant,
            LatencyDist::Uniform,
            LatencyDist::Exponential,
        ][pick(&[0.0, 1.0, 2.0]) as usize];
        let partition = pick(&[0.0, 1.0]) > 0.0;
        let nemesis_interval_s = pick(&[0.5, 2.0, 5.0, 10.0]);
        let key_count = pick(&[1.0, 3.0, 10.0, 10.0]) as usize;
        let max_writes_per_key = pick(&[2.0, 16.0, 16.0]) as u64;
        let loss = pick(&[0.0, 0.0, 0.0, 0.01, 0.1]);
        let duplicate = pick(&[0.0, 0.0, 0.0, 0.05]);
        // Two seeds in three crash nodes (fairly: see `run::nodes`), from every second
        // on average to every ten.
        let crash_nodes_s = pick(&[0.0, 0.0, 1.0, 3.0, 5.0, 10.0]);
        // Draws added later come last, so that each seed keeps the options it drew before.
        let payloads = [Payloads::Int, Payloads::Any][pick(&[0.0, 1.0]) as usize];
        // Poll budgets: one of the small ones, raised to what the run needs, or the
        // node's default (`None`), which is as likely as each small one.
        let mut budget = || {
            let i = pick(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]) as usize;
            SMALL_POLL_BUDGETS.get(i).copied()
        };
        let (poll_msgs_max, poll_bytes_max) = (budget(), budget());
        let mut options = Options {
            seed,
            node_count: Some(node_count),
            concurrency,
            time_limit_s,
            rate,
            latency_ms,
            latency_dist,
            partition,
            nemesis_interval_s,
            key_count,
            max_writes_per_key,
            loss,
            duplicate,
            crash_nodes_s,
            payloads,
            poll_msgs_max,
            poll_bytes_max,
            ..Options::default()
        };
        options.raise_poll_budgets_to_floor();
        options
    }

    /// The smallest poll budgets, `(messages, bytes)`, with which the final polls can read
    /// every message of this run in time: each thread must read everything from offset 0
    /// in the final phase's 10 s, at least [`FINAL_POLLS_MIN`] polls (spec: kafka.md 3.7),
    /// proportionally fewer when `--final-time-limit` shortens the phase. With less, any
    /// node fails `unseen` and friends, however correct.
    pub fn poll_budget_floor(&self) -> (usize, usize) {
        // At most about half the operations are sends (spec: kafka.md 3.5); 0.6 and a
        // margin of 16 cover the draw's variance at every rate.
        let sends_max = (0.6 * self.rate * self.time_limit_s).ceil() as usize + 16;
        let polls = if self.final_limit_s >= DEFAULT_PHASE_S {
            FINAL_POLLS_MIN
        } else {
            ((FINAL_POLLS_MIN as f64 * self.final_limit_s / DEFAULT_PHASE_S) as usize).max(1)
        };
        let msgs = sends_max.div_ceil(polls);
        // A reply's first message goes whatever its size (`Config::poll_bytes_max`), so one
        // message a reply needs no bytes at all, and more need room for each.
        let bytes = match msgs {
            0 | 1 => 0,
            _ => msgs.saturating_mul(self.payloads.len_max(self.max_writes_per_key)),
        };
        (msgs, bytes)
    }

    /// Raises budgets that are set to at least [`Options::poll_budget_floor`]; budgets
    /// left to the node are left alone. `--swarm` and the fuzz target draw small budgets
    /// through this, so that a correct node still passes every run they draw.
    pub fn raise_poll_budgets_to_floor(&mut self) {
        let (msgs, bytes) = self.poll_budget_floor();
        self.poll_msgs_max = self.poll_msgs_max.map(|n| n.max(msgs));
        self.poll_bytes_max = self.poll_bytes_max.map(|n| n.max(bytes));
    }

    /// Parses a whole list of option flags onto these options, then validates them.
    /// Everything after `--` is the node binary's arguments. The flags are `run`'s
    /// (without `--json` and the report's), as [`Options::to_args`] renders them.
    pub fn parse_all(mut self, args: &[String]) -> Result<Options, String> {
        use clap::Parser as _;
        let flags = crate::cli::OptionFlags::try_parse_from(args)
            .map_err(|e| crate::cli::error_line(&e))?;
        if let Some(seed) = flags.seed {
            self.seed = seed;
        }
        flags.test.apply(&mut self);
        if !flags.node_args.is_empty() {
            self.node_args = flags.node_args;
        }
        self.validate()?;
        Ok(self)
    }

    /// Refuses options that cannot make a test (no thread, no node, no key) or are too
    /// large to simulate in one process; each bound is far above anything Maelstrom itself
    /// could run. Every reason names the flag and the value.
    pub fn validate(&self) -> Result<(), String> {
        const NODES_MAX: usize = 1_000;
        const THREADS_MAX: usize = 10_000;
        const TIME_LIMIT_MAX_S: f64 = 1e6;
        const RATE_MAX: f64 = 1e7;
        const LATENCY_MAX_MS: u64 = 1_000_000_000;
        let nodes = self.node_ids().len();
        if nodes == 0 {
            return Err("--node-count must be at least 1, not 0".into());
        }
        if nodes > NODES_MAX {
            return Err(format!(
                "--node-count may be at most {NODES_MAX}, not {nodes}"
            ));
        }
        for (flag, n) in [
            ("--key-count", self.key_count as u64),
            ("--max-writes-per-key", self.max_writes_per_key),
        ] {
            if n == 0 {
                return Err(format!("{flag} must be at least 1, not 0"));
            }
        }
        let concurrency = match self.concurrency {
            Concurrency::Threads(n) => n.to_string(),
            Concurrency::PerNode(k) => format!("{k}n"),
        };
        if self.threads() == 0 {
            return Err(format!(
                "--concurrency {concurrency} gives no client thread: a test needs at least one"
            ));
        }
        if self.threads() > THREADS_MAX {
            return Err(format!(
                "--concurrency {concurrency} gives {} threads; at most {THREADS_MAX}",
                self.threads()
            ));
        }
        for (flag, p) in [("--loss", self.loss), ("--duplicate", self.duplicate)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{flag} takes a probability in [0, 1], not {p}"));
            }
        }
        for (flag, s) in [
            ("--time-limit", self.time_limit_s),
            ("--nemesis-interval", self.nemesis_interval_s),
            ("--crash-nodes", self.crash_nodes_s),
            ("--recovery-time", self.recovery_s),
            ("--final-time-limit", self.final_limit_s),
            ("--rate", self.rate),
        ] {
            if !(s.is_finite() && s >= 0.0) {
                return Err(format!(
                    "{flag} takes a finite non-negative number, not {s}"
                ));
            }
            let max = if flag == "--rate" {
                RATE_MAX
            } else {
                TIME_LIMIT_MAX_S
            };
            if s > max {
                return Err(format!("{flag} may be at most {max}, not {s}"));
            }
        }
        if self.latency_ms > LATENCY_MAX_MS {
            return Err(format!(
                "--latency may be at most {LATENCY_MAX_MS} ms, not {}",
                self.latency_ms
            ));
        }
        // The node refuses a budget of no message at all (`ConfigError::PollMsgsMaxZero`).
        if self.poll_msgs_max == Some(0) {
            return Err("--poll-msgs-max must be at least 1, not 0".into());
        }
        if self.bin.is_none() && (self.log_dir.is_some() || !self.node_args.is_empty()) {
            return Err(
                "--log-dir and node arguments after `--` need --bin (a node binary to run)".into(),
            );
        }
        Ok(())
    }
}

impl Options {
    /// The options a sweep uses for `seed`: drawn from the seed (`swarm`) or the
    /// defaults, then `overrides` (flags) applied on top, and the seed set last.
    pub fn for_seed(seed: u64, swarm: bool, overrides: &[String]) -> Result<Options, String> {
        let base = if swarm {
            Options::swarm(seed)
        } else {
            Options::default()
        };
        let mut options = base.parse_all(overrides)?;
        options.seed = seed;
        Ok(options)
    }

    /// [`Options::for_seed`] with the overrides as the command line parsed them.
    pub fn for_seed_with(
        seed: u64,
        swarm: bool,
        overrides: &crate::cli::TestArgs,
        node_args: &[String],
    ) -> Result<Options, String> {
        let mut options = if swarm {
            Options::swarm(seed)
        } else {
            Options::default()
        };
        overrides.apply(&mut options);
        if !node_args.is_empty() {
            options.node_args = node_args.to_vec();
        }
        options.seed = seed;
        options.validate()?;
        Ok(options)
    }
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_args().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_round_trip_through_to_args() {
        let mut payloads = Vec::new();
        for seed in 0..50 {
            let options = Options::swarm(seed);
            let again = Options::default().parse_all(&options.to_args()).unwrap();
            assert_eq!(again, options, "seed {seed}");
            payloads.push(options.payloads);
        }
        // The swarm draws both kinds of payloads.
        assert!(payloads.contains(&Payloads::Int) && payloads.contains(&Payloads::Any));
    }

    #[test]
    fn the_swarm_draws_small_poll_budgets_that_the_final_polls_can_live_with() {
        let (mut small, mut default, mut tiny) = (0, 0, 0);
        for seed in 0..2000 {
            let o = Options::swarm(seed);
            let (msgs_floor, bytes_floor) = o.poll_budget_floor();
            for (budget, floor) in [
                (o.poll_msgs_max, msgs_floor),
                (o.poll_bytes_max, bytes_floor),
            ] {
                match budget {
                    None => default += 1,
                    Some(n) => {
                        assert!(n >= floor, "seed {seed}: {n} below {floor}");
                        small += 1;
                        tiny += usize::from(n <= 3);
                    }
                }
            }
        }
        // About one budget in six is the node's default; the rest are cut to size, and
        // the smallest survive in the small runs.
        assert!((500..800).contains(&default), "{default} defaults");
        assert!(
            small > 3000 && tiny > 50,
            "{small} small, {tiny} of at most 3"
        );
        // The floor lets 25 final polls read every send, in bytes too.
        let big = Options {
            rate: 1000.0,
            time_limit_s: 20.0,
            payloads: Payloads::Any,
            ..Options::default()
        };
        assert_eq!(big.poll_budget_floor(), (481, 481 * 53));
    }

    #[test]
    fn later_swarm_draws_leave_the_earlier_ones_alone() {
        // Seeds 0 and 1 as the swarm drew them before `--payloads` and the poll budgets
        // existed (their replay commands since the swarm widened to 1-7 nodes and 100 ms
        // latency): a sweep's seeds keep meaning the runs they meant.
        let before = [
            "--seed 0 --node-count 2 --concurrency 1n --time-limit 5 --rate 100 --latency 0 \
             --latency-dist exponential --nemesis-interval 5 --key-count 10 \
             --max-writes-per-key 2 --duplicate 0.05",
            "--seed 1 --node-count 7 --concurrency 2n --time-limit 20 --rate 10 --latency 0 \
             --latency-dist uniform --nemesis-interval 10 --key-count 1 \
             --max-writes-per-key 16",
        ];
        for (seed, before) in (0..).zip(before) {
            let mut drawn = Options::swarm(seed);
            drawn.payloads = Payloads::Int;
            (drawn.poll_msgs_max, drawn.poll_bytes_max) = (None, None);
            // The crash draw widened when crash recovery landed; every sweep before it ran
            // with `--crash-nodes 0`, so no seed changed the run it meant as swept.
            drawn.crash_nodes_s = 0.0;
            assert_eq!(drawn.to_args(), args(before), "seed {seed}");
        }
    }

    #[test]
    fn a_node_binary_its_arguments_and_the_shorter_phases_round_trip() {
        let o = Options::default()
            .parse_all(&args(
                "--node-count 3 --recovery-time 0.5 --final-time-limit 2 --bin ./node \
                 --log-dir /tmp/logs -- --seed 4 --fast",
            ))
            .unwrap();
        assert_eq!(o.bin.as_deref(), Some("./node"));
        assert_eq!(o.node_args, args("--seed 4 --fast"));
        assert_eq!((o.recovery_s, o.final_limit_s), (0.5, 2.0));
        // The log folder says where output goes, not what the run is: replays leave it out.
        let replay = o.to_args();
        assert!(!replay.contains(&"--log-dir".to_string()));
        assert_eq!(
            replay[replay.len() - 8..].to_vec(),
            args("--final-time-limit 2 --bin ./node -- --seed 4 --fast")
        );
        let again = Options::default().parse_all(&replay).unwrap();
        assert_eq!(again, Options { log_dir: None, ..o });
        // Maelstrom's 10 s phases are the defaults, and left out of replay commands.
        assert!(
            !Options::default()
                .to_args()
                .join(" ")
                .contains("time-limit 10")
        );
        assert_eq!(Options::default().recovery_s, 10.0);
    }

    #[test]
    fn real_time_flags_need_a_binary() {
        let bad = |text: &str| Options::default().parse_all(&args(text)).unwrap_err();
        assert!(bad("--log-dir /tmp/x").contains("need --bin"));
        assert!(bad("-- --seed 3").contains("need --bin"));
        assert!(bad("--bin").contains("--bin"));
        assert!(bad("--recovery-time -1").contains("--recovery-time"));
        assert!(bad("--final-time-limit soon").contains("--final-time-limit"));
    }

    #[test]
    fn a_shorter_final_phase_raises_the_poll_budget_floor() {
        let long = Options {
            rate: 100.0,
            time_limit_s: 10.0,
            ..Options::default()
        };
        let short = Options {
            final_limit_s: 1.0,
            ..long.clone()
        };
        // 616 sends at most: 25 polls in 10 s, 2 in 1 s.
        assert_eq!(long.poll_budget_floor().0, 25);
        assert_eq!(short.poll_budget_floor().0, 308);
    }

    #[test]
    fn concurrency_suffix_multiplies_by_node_count() {
        let o = Options::default()
            .parse_all(&args("--node-count 2 --concurrency 2n"))
            .unwrap();
        assert_eq!(o.threads(), 4);
        assert_eq!(o.node_ids(), vec!["n0", "n1"]);
        let o = Options::default()
            .parse_all(&args("--concurrency 3"))
            .unwrap();
        assert_eq!(o.threads(), 3);
        assert_eq!(o.node_ids(), vec!["n1", "n2", "n3", "n4", "n5"]);
    }

    #[test]
    fn bad_flags_are_refused_with_a_reason() {
        let bad = |text: &str| Options::default().parse_all(&args(text)).unwrap_err();
        assert!(bad("--rate fast").contains("--rate"));
        assert!(bad("--latency-dist pareto").contains("pareto"));
        assert!(bad("--loss 1.5").contains("probability"));
        assert!(bad("--frob").contains("'--frob'"));
        assert!(bad("--seed").contains("--seed"));
        assert!(bad("--node-count 0").contains("at least 1"));
        assert!(bad("--node-count 5000").contains("at most"));
        assert!(bad("--node-count 10 --concurrency 2000n").contains("threads"));
        assert!(bad("--time-limit 1e300").contains("at most"));
        assert!(bad("--payloads json").contains("int or any"));
        assert!(bad("--concurrency 0").contains("--concurrency"));
        assert!(bad("--poll-msgs-max 0").contains("at least 1"));
        assert!(bad("--poll-bytes-max -1").contains("--poll-bytes-max"));
        let zero = Options {
            poll_msgs_max: Some(0),
            ..Options::default()
        };
        assert!(zero.validate().unwrap_err().contains("--poll-msgs-max"));
        // Options built by hand are held to the same rules as flags, and say which.
        let no_threads = Options {
            concurrency: Concurrency::PerNode(0),
            ..Options::default()
        };
        assert!(
            no_threads
                .validate()
                .unwrap_err()
                .contains("--concurrency 0n")
        );
        let no_keys = Options {
            key_count: 0,
            ..Options::default()
        };
        assert!(no_keys.validate().unwrap_err().contains("--key-count"));
    }

    #[test]
    fn replay_commands_of_earlier_versions_still_parse() {
        // As printed by the hand-written parser's versions: every flag, Maelstrom's and
        // ours, including a node binary and its arguments after `--`.
        let old = [
            "--seed 0 --node-count 1 --concurrency 2n --time-limit 20 --rate 1000 --latency 0 \
             --latency-dist constant --nemesis-interval 10 --key-count 10 --max-writes-per-key 16",
            "--seed 7 --node-count 3 --concurrency 1n --time-limit 3 --rate 20 --latency 5 \
             --latency-dist uniform --nemesis partition --nemesis-interval 1 --key-count 10 \
             --max-writes-per-key 16",
            "--seed 42 --node-count 2 --concurrency 1n --time-limit 3 --rate 20 --latency 2 \
             --latency-dist constant --nemesis-interval 10 --key-count 10 \
             --max-writes-per-key 16 --loss 0.2 --duplicate 0.2 --crash-nodes 1",
            "--seed 3 --node-count 1 --concurrency 1n --time-limit 2 --rate 50 --latency 0 \
             --latency-dist exponential --nemesis-interval 10 --key-count 10 \
             --max-writes-per-key 16 --payloads any --poll-msgs-max 8 --poll-bytes-max 256 \
             --recovery-time 1 --final-time-limit 5 --trace --bin ./node -- --seed 4 --fast",
        ];
        for line in old {
            let options = Options::default().parse_all(&args(line)).unwrap();
            let mut expected = args(line);
            expected.retain(|a| a != "--trace");
            assert_eq!(options.to_args(), expected, "{line}");
        }
    }
}
