//! One simulated Maelstrom kafka test: [`run`] turns [`Options`] and a [`ServerFactory`]
//! into an [`Outcome`] (the [`History`] for the checker, plus the trace and run facts), in
//! virtual time; [`run_processes`] does the same in real time against node processes
//! (`--bin`). Both are the one `Sim` below; a [`Driver`] is all that differs (see
//! `driver`).
//!
//! The run follows spec: kafka.md 3.1: the init handshake (a temporary client per node,
//! 10 s to answer), the main phase (rate-limited operations on free threads, periodic
//! client crashes, the nemesis), a drain of in-flight operations, the heal, 10 s of quiet,
//! then the final polls (cut off after 10 s), and the end.
//!
//! Invariants:
//! - Every choice comes from `Options::seed` through forked [`Rng`] streams, and every
//!   collection iterated is ordered, so equal options give byte-identical outcomes.
//! - Time only moves forward: in virtual time by popping the event queue, in real time
//!   with the wall clock.
//! - Each thread has at most one operation in flight; every invocation in the history is
//!   followed by exactly one completion of the same process, except for operations still
//!   in flight when a run is aborted (an init failure or a livelock).
//! - A node whose output broke Maelstrom's rules (a malformed envelope, an unknown
//!   destination) is muted for the rest of the run, as Maelstrom stops reading its stdout.
//!
//! This module holds the public API, the `Sim` state with its small shared types, and
//! the event loop that dispatches each event. `driver` holds the clock and the transport;
//! `impl Sim` is split by concern:
//! - `nodes`: the init handshake, delivery to nodes and services, the servers' outputs
//!   and timers, node crashes and restarts, and the wire checks;
//! - `clients`: Maelstrom's clients, the threads and processes, the generator, issuing
//!   operations and recording the history;
//! - `replies`: replies, RPC timeouts, and completing operations;
//! - `phases`: the main phase, the nemesis, the drain, the heal and quiet, the final polls.

mod clients;
pub(crate) mod driver;
mod nodes;

pub use nodes::recovery_grace_us;
mod phases;
mod replies;

use crate::client::{Conn, Stage};
use crate::events::{Event, Events};
use crate::history::{F, History, Micros};
use crate::messages::{MessageLog, Recording};
use crate::net::{Net, NetConfig};
use crate::options::Options;
use crate::realtime::{self, Figures};
use crate::rng::Rng;
use crate::server::ServerFactory;
use crate::services::{Service, Services};
use crate::trace::{self, Trace};
use crate::workload::Generator;
use driver::{Driver, InProcess, Wake};
use replicator_core::{Config, Key, NodeId, Output};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// spec: kafka.md 1.7 — every kafka RPC times out after 5 s.
const RPC_TIMEOUT_US: Micros = 5_000_000;
/// spec: kafka.md 1.5 — a node has 10 s to answer `init`.
const INIT_TIMEOUT_US: Micros = 10_000_000;
/// spec: kafka.md 3.7 — final polls come about every 200 ms (gaps uniform on [0, 400)).
const FINAL_POLL_GAP_MAX_US: Micros = 400_000;
/// spec: kafka.md 3.5 — each client is crashed about every 30 s.
const CLIENT_CRASH_INTERVAL_S: f64 = 30.0;
/// Events at one virtual instant beyond which the run is declared a livelock (e.g. two
/// buggy nodes bouncing messages over zero-latency links forever).
const EVENTS_PER_INSTANT_MAX: u64 = 1_000_000;

/// What a run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The history, for the checker.
    pub history: History,
    /// One line per event, when `Options::trace` is set; empty otherwise.
    pub trace: Vec<String>,
    /// Why the run could not proceed, when it could not (a node that never answered
    /// `init`, or a livelock). Such a run is a failure whatever the checker says.
    pub failure: Option<String>,
    /// Events processed.
    pub events: u64,
    /// How the real-time driver kept up with the schedule; `None` in virtual time.
    pub realtime: Option<Figures>,
    /// Every message and its fate, when `Options::record_messages` asked for them.
    pub messages: Option<Recording>,
}

/// Runs one test. Deterministic: equal options (and an equally deterministic factory)
/// give equal outcomes, byte for byte.
///
/// ```
/// use replicator_sim::options::Options;
/// use replicator_sim::{run, server};
/// let options = Options { node_count: Some(1), time_limit_s: 1.0, rate: 50.0, ..Options::default() };
/// let outcome = run::run(&options, &server::real_node());
/// assert!(outcome.failure.is_none());
/// assert!(!outcome.history.ops.is_empty());
/// ```
///
/// Options that fail [`Options::validate`] give an outcome with an empty history and the
/// reason in `failure`.
pub fn run(options: &Options, factory: &ServerFactory) -> Outcome {
    let driver = InProcess::new(factory, options.node_ids().len());
    drive(options, Box::new(driver))
}

/// Runs one test in real time against node processes: `options.bin`, started once per
/// node with `options.node_args` as its argv, spoken to over stdin and stdout as
/// Maelstrom does (spec: kafka.md 1.1-1.2). Every choice the driver makes comes from the
/// seed, as in [`run`], but the processes' timing is the operating system's, so two runs
/// are not byte-identical. The node processes are stopped and reaped before this
/// returns, also when `stop` is set (Ctrl-C) and when the caller panics.
///
/// Options without `bin`, or that fail [`Options::validate`], give an outcome with an
/// empty history and the reason in `failure`.
pub fn run_processes(options: &Options, stop: Option<Arc<AtomicBool>>) -> Outcome {
    let Some(bin) = &options.bin else {
        return Outcome {
            failure: Some("invalid options: a real-time run needs --bin".into()),
            ..Outcome::default()
        };
    };
    let command = realtime::Command {
        bin: bin.into(),
        args: options.node_args.clone(),
        node_ids: options.node_ids(),
        log_dir: options.log_dir.as_ref().map(Into::into),
    };
    let driver = match realtime::Processes::new(command, stop) {
        Ok(driver) => driver,
        Err(reason) => {
            return Outcome {
                failure: Some(reason),
                ..Outcome::default()
            };
        }
    };
    drive(options, Box::new(driver))
}

fn drive<'a>(options: &'a Options, driver: Box<dyn Driver + 'a>) -> Outcome {
    if let Err(reason) = options.validate() {
        return Outcome {
            failure: Some(format!("invalid options: {reason}")),
            ..Outcome::default()
        };
    }
    let mut sim = Sim::new(options, driver);
    sim.start();
    sim.event_loop();
    sim.finish()
}

/// Who owns an open client.
#[derive(Clone, Copy, Debug)]
enum Owner {
    /// The temporary client that sends `init` to a node.
    Init(usize),
    /// A worker thread.
    Thread(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Init,
    Main,
    /// The main phase is over; in-flight operations are finishing.
    Drain,
    /// Healed; waiting out the recovery time.
    Quiet,
    Final,
    Done,
}

struct NodeSlot {
    /// Maelstrom stopped reading this node's output.
    muted: bool,
    /// False while crashed (our extension).
    up: bool,
    /// The earliest timer event scheduled for it.
    timer: Option<Micros>,
    /// After a restart, until it joins: its entry in `History::recoveries`.
    recovery: Option<usize>,
}

struct InFlight {
    f: F,
    stage: Stage,
    msg_id: u64,
    /// When the request times out.
    deadline: Micros,
}

struct Thread {
    node: usize,
    process: u64,
    conn: Option<Conn>,
    inflight: Option<InFlight>,
    /// Final phase: the highest offset this thread has polled per key.
    seen: BTreeMap<Key, u64>,
    /// Final phase: caught up with the target.
    caught_up: bool,
    /// Final phase: when the next poll may go.
    next_poll_at: Micros,
    /// Whether an `RpcTimeout` event for this thread is pending.
    timer_armed: bool,
}

struct Sim<'a> {
    options: &'a Options,
    driver: Box<dyn Driver + 'a>,
    threads_count: u64,
    events: Events,
    net: Net,
    trace: Trace,
    node_ids: Vec<NodeId>,
    node_index: BTreeMap<NodeId, usize>,
    nodes: Vec<NodeSlot>,
    services: Services,
    service_ids: BTreeMap<Service, NodeId>,
    threads: Vec<Thread>,
    clients: BTreeMap<u64, Owner>,
    next_client: u64,
    generator: Generator,
    /// Thread choice and rate gaps.
    sched_rng: Rng,
    nemesis_rng: Rng,
    crash_rng: Rng,
    seed_rng: Rng,
    history: History,
    phase: Phase,
    init_waiting: BTreeSet<usize>,
    op_waiting: bool,
    crash_waiting: bool,
    partitioned: bool,
    target: BTreeMap<Key, u64>,
    final_cut: bool,
    failure: Option<String>,
    event_count: u64,
    instant: (Micros, u64),
    /// The buffer servers write their outputs into, reused from step to step.
    outputs: Vec<Output>,
}

impl<'a> Sim<'a> {
    fn new(options: &'a Options, driver: Box<dyn Driver + 'a>) -> Sim<'a> {
        // About two history entries per operation; reserving them up front spares the
        // copies of a growing vector (capped, in case of absurd options).
        let ops_expected = 2.0 * options.rate * options.time_limit_s
            + 2.0 * options.time_limit_s * options.threads() as f64 / CLIENT_CRASH_INTERVAL_S;
        let mut history = History::default();
        history.ops.reserve((ops_expected as usize).min(1 << 20));
        // Streams are forked in a fixed order; see `rng`.
        let mut root = Rng::new(options.seed);
        let net_rng = root.fork();
        let sched_rng = root.fork();
        let gen_rng = root.fork();
        let nemesis_rng = root.fork();
        let crash_rng = root.fork();
        let service_rng = root.fork();
        let seed_rng = root.fork();
        let names = options.node_ids();
        let node_ids: Vec<NodeId> = names.iter().map(|n| NodeId::new(n)).collect();
        let net_config = NetConfig {
            latency_ms: options.latency_ms,
            dist: options.latency_dist,
            loss: options.loss,
            duplicate: options.duplicate,
        };
        let nodes = node_ids
            .iter()
            .map(|_| NodeSlot {
                muted: false,
                up: true,
                timer: None,
                recovery: None,
            })
            .collect();
        let threads = (0..options.threads())
            .map(|t| Thread {
                node: t % node_ids.len(),
                process: t as u64,
                conn: None,
                inflight: None,
                seen: BTreeMap::new(),
                caught_up: false,
                next_poll_at: 0,
                timer_armed: false,
            })
            .collect();
        let mut net = Net::new(net_config, node_ids.len(), net_rng);
        net.log = MessageLog::new(options.record_messages);
        Sim {
            options,
            driver,
            threads_count: options.threads() as u64,
            events: Events::default(),
            net,
            trace: if options.trace {
                Trace::on()
            } else {
                Trace::off()
            },
            node_index: node_ids.iter().cloned().zip(0..).collect(),
            node_ids,
            nodes,
            services: Services::new(service_rng),
            service_ids: Service::ALL
                .iter()
                .map(|&s| (s, NodeId::new(s.name())))
                .collect(),
            threads,
            clients: BTreeMap::new(),
            next_client: 0,
            generator: Generator::new(options.key_count, options.max_writes_per_key, gen_rng),
            sched_rng,
            nemesis_rng,
            crash_rng,
            seed_rng,
            history,
            phase: Phase::Init,
            init_waiting: BTreeSet::new(),
            op_waiting: false,
            crash_waiting: false,
            partitioned: false,
            target: BTreeMap::new(),
            final_cut: false,
            failure: None,
            event_count: 0,
            instant: (0, 0),
            outputs: Vec::new(),
        }
    }

    fn now(&self) -> Micros {
        self.events.now()
    }

    fn event_loop(&mut self) {
        while self.phase != Phase::Done {
            let event = match self.driver.next(&mut self.events) {
                Wake::Event(event) => event,
                Wake::Line(i, line) => {
                    self.on_node_line(i, line);
                    continue;
                }
                Wake::Fatal(reason) => {
                    self.failure.get_or_insert(reason);
                    break;
                }
                Wake::Interrupted => {
                    self.failure.get_or_insert("interrupted".into());
                    break;
                }
                Wake::Stalled => {
                    // Nothing can happen any more: only possible if a run stalls in init.
                    if self.failure.is_none() {
                        self.failure = Some("the simulation ran out of events".into());
                    }
                    break;
                }
            };
            self.event_count += 1;
            let now = self.now();
            if self.instant.0 == now {
                self.instant.1 += 1;
                if self.instant.1 > EVENTS_PER_INSTANT_MAX {
                    self.failure = Some(format!(
                        "livelock: more than {EVENTS_PER_INSTANT_MAX} events at {}",
                        trace::time(now)
                    ));
                    break;
                }
            } else {
                self.instant = (now, 1);
            }
            self.handle(event);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver(to) => {
                if let Some(env) = self.net.take(to, &mut self.events, &mut self.trace) {
                    self.deliver(to, env);
                }
            }
            Event::NodeTimer(i) => self.on_node_timer(i),
            Event::RpcTimeout(t) => self.on_rpc_timeout(t),
            Event::InitTimeout => {
                if self.phase == Phase::Init {
                    let missing: Vec<&str> = self
                        .init_waiting
                        .iter()
                        .map(|&i| self.node_ids[i].as_str())
                        .collect();
                    self.failure = Some(format!(
                        "{} did not answer init within 10 s",
                        missing.join(", ")
                    ));
                    self.phase = Phase::Done;
                }
            }
            Event::IssueOp => self.on_issue_op(),
            Event::IssueCrash => self.on_issue_crash(),
            Event::Nemesis => self.on_nemesis(),
            Event::NodeCrash => self.on_node_crash(),
            Event::NodeRestart(i) => {
                if !self.nodes[i].up && matches!(self.phase, Phase::Main | Phase::Drain) {
                    self.restart(i);
                }
            }
            Event::MainEnd => self.on_main_end(),
            Event::FinalStart => self.on_final_start(),
            Event::FinalPoll(t) => self.on_final_poll(t),
            Event::FinalCutoff => {
                let now = self.now();
                self.final_cut = true;
                self.trace.line(now, || "final phase cut off".into());
                self.maybe_finished();
            }
        }
    }

    fn finish(mut self) -> Outcome {
        // spec: kafka.md 1.1 — at teardown, a node that exited on its own fails the test.
        if let Some(reason) = self.driver.finish() {
            self.failure.get_or_insert(reason);
        }
        let now = self.now();
        self.history.end = now;
        if self.history.main_phase_end == 0 {
            self.history.main_phase_end = now;
        }
        self.history.net = self.net.stats;
        self.trace.line(now, || "end".into());
        Outcome {
            history: self.history,
            trace: self.trace.into_lines(),
            failure: self.failure,
            events: self.event_count,
            realtime: self.driver.figures(),
            messages: std::mem::take(&mut self.net.log).finish(),
        }
    }
}

/// A node's config: its seed drawn from the run's seed stream, its poll budgets from the
/// options (the node's defaults where they set none).
// The spread sets nothing today, but keeps any field core adds later at its default.
#[allow(clippy::needless_update)]
fn node_config(seeds: &mut Rng, options: &Options) -> Config {
    let default = Config::default();
    Config {
        seed: seeds.next_u64(),
        poll_msgs_max: options.poll_msgs_max.unwrap_or(default.poll_msgs_max),
        poll_bytes_max: options.poll_bytes_max.unwrap_or(default.poll_bytes_max),
        ..default
    }
}

/// Whole microseconds in `s` seconds.
fn seconds(s: f64) -> Micros {
    (s * 1e6).round().max(0.0) as Micros
}
