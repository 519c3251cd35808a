//! One simulated Maelstrom kafka test: [`run`] turns [`Options`] and a [`ServerFactory`]
//! into an [`Outcome`] (the [`History`] for the checker, plus the trace and run facts).
//!
//! The run follows spec: kafka.md 3.1: the init handshake (a temporary client per node,
//! 10 s to answer), the main phase (rate-limited operations on free threads, periodic
//! client crashes, the nemesis), a drain of in-flight operations, the heal, 10 s of quiet,
//! then the final polls (cut off after 10 s), and the end.
//!
//! Invariants:
//! - Every choice comes from `Options::seed` through forked [`Rng`] streams, and every
//!   collection iterated is ordered, so equal options give byte-identical outcomes.
//! - Virtual time only moves forward, by popping the event queue.
//! - Each thread has at most one operation in flight; every invocation in the history is
//!   followed by exactly one completion of the same process, except for operations still
//!   in flight when a run is aborted (an init failure or a livelock).
//! - A node whose output broke Maelstrom's rules (a malformed envelope, an unknown
//!   destination) is muted for the rest of the run, as Maelstrom stops reading its stdout.

use crate::client::{self, Conn, Stage};
use crate::events::{Event, Events};
use crate::history::{
    F, History, Micros, NemesisEvent, NemesisKind, Op, OpType, OpValue, ViolationKind,
    WireViolation,
};
use crate::nemesis::{self, Shape};
use crate::net::{Addr, Envelope, Net, NetConfig};
use crate::options::Options;
use crate::rng::Rng;
use crate::server::{Server, ServerFactory};
use crate::services::{Service, Services};
use crate::trace::{self, Trace};
use crate::workload::{Generator, Planned};
use replicator_core::{
    Body, Config, Input, Key, Message, MsgId, NodeId, Output, Payload, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};

/// spec: kafka.md 1.7 — every kafka RPC times out after 5 s.
const RPC_TIMEOUT_US: Micros = 5_000_000;
/// spec: kafka.md 1.5 — a node has 10 s to answer `init`.
const INIT_TIMEOUT_US: Micros = 10_000_000;
/// spec: kafka.md 3.1 — the quiet between the heal and the final polls.
const RECOVERY_US: Micros = 10_000_000;
/// spec: kafka.md 3.7 — the final phase is cut off after 10 s.
const FINAL_LIMIT_US: Micros = 10_000_000;
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
    if let Err(reason) = options.validate() {
        return Outcome {
            failure: Some(format!("invalid options: {reason}")),
            ..Outcome::default()
        };
    }
    let mut sim = Sim::new(options, factory);
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
    server: Box<dyn Server>,
    /// Maelstrom stopped reading this node's output.
    muted: bool,
    /// False while crashed (our extension).
    up: bool,
    /// The earliest timer event scheduled for it.
    timer: Option<Micros>,
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
    factory: &'a ServerFactory,
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
}

impl<'a> Sim<'a> {
    fn new(options: &'a Options, factory: &'a ServerFactory) -> Sim<'a> {
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
        let mut seed_rng = root.fork();
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
                server: factory(node_config(&mut seed_rng)),
                muted: false,
                up: true,
                timer: None,
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
        Sim {
            options,
            factory,
            threads_count: options.threads() as u64,
            events: Events::default(),
            net: Net::new(net_config, node_ids.len(), net_rng),
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
        }
    }

    fn now(&self) -> Micros {
        self.events.now()
    }

    // ---------------------------------------------------------------- set-up and phases

    /// spec: kafka.md 1.5 — `init` to every node from a temporary client.
    fn start(&mut self) {
        self.trace.line(0, || {
            format!(
                "run {} ({} nodes, {} threads)",
                self.options,
                self.node_ids.len(),
                self.threads.len()
            )
        });
        for i in 0..self.nodes.len() {
            self.send_init(i);
            self.init_waiting.insert(i);
        }
        self.events.after(INIT_TIMEOUT_US, Event::InitTimeout);
    }

    fn send_init(&mut self, node: usize) {
        let k = self.open_client(Owner::Init(node));
        let msg = Message {
            src: NodeId::new(&format!("c{k}")),
            dest: self.node_ids[node].clone(),
            body: Body::Init {
                msg_id: MsgId(1),
                node_id: self.node_ids[node].clone(),
                node_ids: self.node_ids.clone(),
            },
        };
        self.net.send(
            Addr::Client(k),
            Addr::Node(node),
            msg,
            &mut self.events,
            &mut self.trace,
        );
    }

    fn open_client(&mut self, owner: Owner) -> u64 {
        let k = self.next_client;
        self.next_client += 1;
        self.net.open_client(k);
        self.clients.insert(k, owner);
        let now = self.now();
        self.trace.line(now, || match owner {
            Owner::Init(node) => format!("c{k} open (init of {})", self.node_ids[node]),
            Owner::Thread(t) => format!(
                "c{k} open (p{} on {})",
                self.threads[t].process, self.node_ids[self.threads[t].node]
            ),
        });
        k
    }

    fn close_client(&mut self, k: u64) {
        self.net.close_client(k);
        self.clients.remove(&k);
        let now = self.now();
        self.trace.line(now, || format!("c{k} closed"));
    }

    fn on_init_reply(&mut self, node: usize, k: u64, body: &Body) {
        let now = self.now();
        match body {
            Body::InitOk { in_reply_to } if in_reply_to.0 == 1 => {
                self.close_client(k);
                self.init_waiting.remove(&node);
                if self.phase == Phase::Init && self.init_waiting.is_empty() {
                    self.start_main();
                }
            }
            Body::InitOk { .. } => self.violation(
                node,
                ViolationKind::ReplyToNobody,
                format!("init_ok to c{k} answers the wrong msg_id"),
            ),
            other => {
                if self.phase == Phase::Init {
                    self.failure = Some(format!(
                        "{} answered init with {}",
                        self.node_ids[node],
                        trace::body(other)
                    ));
                    self.phase = Phase::Done;
                } else {
                    // A restarted node (our extension) that refuses init stays useless;
                    // the history will show it.
                    self.trace.line(now, || {
                        format!("{} refused init after restart", self.node_ids[node])
                    });
                }
            }
        }
    }

    fn start_main(&mut self) {
        let now = self.now();
        self.phase = Phase::Main;
        self.trace.line(now, || "main phase".into());
        let limit = seconds(self.options.time_limit_s);
        self.events.after(limit, Event::MainEnd);
        if self.options.rate > 0.0 {
            self.events.after(0, Event::IssueOp);
        }
        self.events.after(0, Event::IssueCrash);
        if self.options.partition {
            // spec: kafka.md 6.2 — the first partition starts right at the beginning.
            self.events.after(0, Event::Nemesis);
        }
        if self.options.crash_nodes_s > 0.0 {
            let gap = self
                .crash_rng
                .below(seconds(self.options.crash_nodes_s).saturating_mul(2));
            self.events.after(gap, Event::NodeCrash);
        }
    }

    fn on_main_end(&mut self) {
        if self.phase != Phase::Main {
            return;
        }
        let now = self.now();
        self.history.main_phase_end = now;
        self.phase = Phase::Drain;
        self.trace.line(now, || {
            "main phase over; waiting for in-flight operations".into()
        });
        self.maybe_drained();
    }

    /// spec: kafka.md 3.1 — once in-flight ops are done: heal, then 10 s of quiet.
    fn maybe_drained(&mut self) {
        if self.phase != Phase::Drain || self.threads.iter().any(|t| t.inflight.is_some()) {
            return;
        }
        let now = self.now();
        self.phase = Phase::Quiet;
        if self.options.partition {
            self.heal();
        }
        for i in 0..self.nodes.len() {
            if !self.nodes[i].up {
                self.restart(i);
            }
        }
        self.trace.line(now, || "waiting for recovery".into());
        self.events.after(RECOVERY_US, Event::FinalStart);
    }

    fn heal(&mut self) {
        let now = self.now();
        self.net.set_partition(&[]);
        self.partitioned = false;
        self.history.nemesis.push(NemesisEvent {
            time: now,
            kind: NemesisKind::StopPartition,
        });
        self.trace
            .line(now, || "nemesis stop-partition: network healed".into());
    }

    /// spec: kafka.md 3.7 — per thread: crash, assign everything from 0, poll until caught
    /// up with the target; all cut off after 10 s.
    fn on_final_start(&mut self) {
        let now = self.now();
        self.target = self.generator.final_target();
        if self.target.is_empty() {
            self.trace.line(now, || "nothing to poll for; done".into());
            self.phase = Phase::Done;
            return;
        }
        self.phase = Phase::Final;
        self.trace.line(now, || {
            format!("final polls for {} keys", self.target.len())
        });
        self.events.after(FINAL_LIMIT_US, Event::FinalCutoff);
        let keys: Vec<Key> = self.target.keys().cloned().collect();
        for t in 0..self.threads.len() {
            self.issue(t, Planned::Crash, true);
            self.issue(
                t,
                Planned::Assign {
                    keys: keys.clone(),
                    seek: true,
                },
                true,
            );
            self.threads[t].next_poll_at = now;
            self.events.after(0, Event::FinalPoll(t));
        }
    }

    fn on_final_poll(&mut self, t: usize) {
        let thread = &self.threads[t];
        if self.phase != Phase::Final
            || self.final_cut
            || thread.caught_up
            || thread.inflight.is_some()
        {
            return;
        }
        let now = self.now();
        if now < thread.next_poll_at {
            self.events.at(thread.next_poll_at, Event::FinalPoll(t));
            return;
        }
        let gap = self.sched_rng.below(FINAL_POLL_GAP_MAX_US);
        self.threads[t].next_poll_at = now.saturating_add(gap);
        self.issue(t, Planned::Poll, true);
    }

    fn maybe_finished(&mut self) {
        if self.phase != Phase::Final || self.threads.iter().any(|t| t.inflight.is_some()) {
            return;
        }
        if self.final_cut || self.threads.iter().all(|t| t.caught_up) {
            let now = self.now();
            self.trace.line(now, || "final polls over".into());
            self.phase = Phase::Done;
        }
    }

    // ------------------------------------------------------------------- the event loop

    fn event_loop(&mut self) {
        while self.phase != Phase::Done {
            let Some(event) = self.events.pop() else {
                // Nothing can happen any more: only possible if a run stalls in init.
                if self.failure.is_none() {
                    self.failure = Some("the simulation ran out of events".into());
                }
                break;
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
        }
    }

    // ------------------------------------------------------------------------ delivery

    fn deliver(&mut self, to: Addr, env: Envelope) {
        let now = self.now();
        self.trace.line(now, || {
            format!(
                "{} <- {} {}",
                env.msg.dest,
                env.msg.src,
                trace::body(&env.msg.body)
            )
        });
        match to {
            Addr::Node(i) => {
                if !self.nodes[i].up {
                    self.trace.line(now, || {
                        format!("{} is down; message lost", self.node_ids[i])
                    });
                    return;
                }
                self.net.count_delivered(&env, to);
                self.step_node(i, Input::Message(env.msg));
            }
            Addr::Service(service) => {
                self.net.count_delivered(&env, to);
                let Some(body) = self.services.handle(service, &env.msg.src, &env.msg.body) else {
                    self.trace
                        .line(now, || format!("{} ignores that request", service.name()));
                    return;
                };
                let reply = Message {
                    src: self.service_ids[&service].clone(),
                    dest: env.msg.src,
                    body,
                };
                if self.net.exists(env.from) {
                    self.net
                        .send(to, env.from, reply, &mut self.events, &mut self.trace);
                }
            }
            Addr::Client(k) => {
                // A client's inbox exists only while the client is open, so whatever is
                // taken from it is delivered.
                self.net.count_delivered(&env, to);
                match self.clients.get(&k).copied() {
                    Some(Owner::Init(node)) => self.on_init_reply(node, k, &env.msg.body),
                    Some(Owner::Thread(t)) => self.on_client_reply(t, k, env),
                    None => {}
                }
            }
        }
    }

    fn step_node(&mut self, i: usize, input: Input) {
        let now = self.now();
        let outputs = self.nodes[i].server.step(Timestamp(now), input);
        for output in outputs {
            match output {
                Output::Send(msg) => self.node_send(i, msg),
                Output::Log(line) => {
                    self.trace
                        .line(now, || format!("{} log {line}", self.node_ids[i]));
                }
            }
        }
        if let Some(deadline) = self.nodes[i].server.next_deadline() {
            let deadline = deadline.as_micros().max(now);
            if self.nodes[i].timer.is_none_or(|t| deadline < t || t < now) {
                self.nodes[i].timer = Some(deadline);
                self.events.at(deadline, Event::NodeTimer(i));
            }
        }
    }

    fn on_node_timer(&mut self, i: usize) {
        let now = self.now();
        if self.nodes[i].timer == Some(now) {
            self.nodes[i].timer = None;
        }
        if !self.nodes[i].up {
            return;
        }
        match self.nodes[i].server.next_deadline() {
            Some(d) if d.as_micros() <= now => self.step_node(i, Input::Tick),
            // The node moved its deadline later since this timer was set: wake it then.
            Some(d) if self.nodes[i].timer.is_none_or(|t| t < now) => {
                self.nodes[i].timer = Some(d.as_micros());
                self.events.at(d.as_micros(), Event::NodeTimer(i));
            }
            _ => {}
        }
    }

    /// spec: kafka.md 1.2 — what Maelstrom does with a line a node writes.
    fn node_send(&mut self, i: usize, msg: Message) {
        if self.nodes[i].muted {
            return;
        }
        if msg.src != self.node_ids[i] {
            let detail = format!(
                "src {} is not the node's own id: {}",
                msg.src,
                msg.to_json()
            );
            self.violation(i, ViolationKind::MalformedEnvelope, detail);
            self.mute(i);
            return;
        }
        let to = self.resolve(&msg.dest);
        match to {
            Some(to) if self.net.exists(to) => {
                self.net
                    .send(Addr::Node(i), to, msg, &mut self.events, &mut self.trace);
            }
            _ => {
                let detail = format!("no such destination {}: {}", msg.dest, msg.to_json());
                self.violation(i, ViolationKind::UnknownDestination, detail);
                self.mute(i);
            }
        }
    }

    fn mute(&mut self, i: usize) {
        let now = self.now();
        self.nodes[i].muted = true;
        self.trace.line(now, || {
            format!(
                "{} is muted: Maelstrom stops reading its output",
                self.node_ids[i]
            )
        });
    }

    fn violation(&mut self, i: usize, kind: ViolationKind, detail: String) {
        let now = self.now();
        self.trace.line(now, || {
            format!("{} VIOLATION {kind:?}: {detail}", self.node_ids[i])
        });
        self.history.violations.push(WireViolation {
            time: now,
            node: self.node_ids[i].clone(),
            kind,
            detail,
        });
    }

    fn resolve(&self, id: &NodeId) -> Option<Addr> {
        let name = id.as_str();
        if let Some(digits) = name.strip_prefix('c') {
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            return if canonical {
                digits.parse().ok().map(Addr::Client)
            } else {
                None
            };
        }
        if let Some(&i) = self.node_index.get(id) {
            return Some(Addr::Node(i));
        }
        Service::from_name(name).map(Addr::Service)
    }

    // ------------------------------------------------------------------- the generator

    /// A uniformly random free thread, if any. spec: kafka.md 3.3 says only that each op
    /// goes to a free thread; drawing one uniformly (rather than always the lowest
    /// numbered) keeps every node busy even when links answer instantly, which makes
    /// multi-node runs the harder test.
    fn pick_free(&mut self) -> Option<usize> {
        let is_free = |t: &&Thread| t.inflight.is_none();
        let free = self.threads.iter().filter(is_free).count();
        if free == 0 {
            return None;
        }
        let nth = self.sched_rng.index(free);
        self.threads
            .iter()
            .enumerate()
            .filter(|(_, t)| t.inflight.is_none())
            .nth(nth)
            .map(|(i, _)| i)
    }

    /// spec: kafka.md 3.3 — ops go to a free thread, gaps uniform on [0, 2/rate).
    fn on_issue_op(&mut self) {
        if self.phase != Phase::Main {
            return;
        }
        let Some(t) = self.pick_free() else {
            self.op_waiting = true;
            return;
        };
        self.op_waiting = false;
        let planned = self.generator.next_op();
        self.issue(t, planned, false);
        let gap = self
            .sched_rng
            .below(seconds(2.0 / self.options.rate).max(1));
        self.events.after(gap, Event::IssueOp);
    }

    /// spec: kafka.md 3.5 — a crash about every 30/concurrency s, to a free thread.
    fn on_issue_crash(&mut self) {
        if self.phase != Phase::Main || self.threads.is_empty() {
            return;
        }
        let Some(t) = self.pick_free() else {
            self.crash_waiting = true;
            return;
        };
        self.crash_waiting = false;
        self.issue(t, Planned::Crash, false);
        let mean = CLIENT_CRASH_INTERVAL_S / self.threads_count as f64;
        let gap = self.sched_rng.below(seconds(2.0 * mean).max(1));
        self.events.after(gap, Event::IssueCrash);
    }

    /// A thread became free: anything that waited for one goes now.
    fn on_thread_free(&mut self, t: usize) {
        match self.phase {
            Phase::Main => {
                if self.op_waiting {
                    self.on_issue_op();
                }
                if self.crash_waiting {
                    self.on_issue_crash();
                }
            }
            Phase::Drain => self.maybe_drained(),
            Phase::Final => {
                let thread = &self.threads[t];
                if !thread.caught_up && !self.final_cut && thread.inflight.is_none() {
                    let at = thread.next_poll_at;
                    self.events.at(at, Event::FinalPoll(t));
                }
                self.maybe_finished();
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------------ the kafka client

    /// Makes sure thread `t` has a client for its current process: Jepsen closes the old
    /// one and opens a fresh `c<k>` at a new process's first operation (spec: kafka.md 3.2).
    fn conn_for(&mut self, t: usize) -> u64 {
        let process = self.threads[t].process;
        if let Some(conn) = &self.threads[t].conn {
            if conn.process == process {
                return conn.k;
            }
            let old = conn.k;
            self.close_client(old);
        }
        let k = self.open_client(Owner::Thread(t));
        self.threads[t].conn = Some(Conn::new(k, process));
        k
    }

    fn record(
        &mut self,
        t: usize,
        ty: OpType,
        f: F,
        value: OpValue,
        error: Option<String>,
        is_final: bool,
    ) {
        let now = self.now();
        let thread = &self.threads[t];
        let op = Op {
            index: self.history.ops.len(),
            time: now,
            process: thread.process,
            ty,
            f,
            value,
            error,
            node: self.node_ids[thread.node].clone(),
            is_final,
        };
        self.trace.line(now, || trace::op(&op));
        self.history.ops.push(op);
    }

    fn issue(&mut self, t: usize, planned: Planned, is_final: bool) {
        let k = self.conn_for(t);
        match planned {
            Planned::Crash => {
                self.record(t, OpType::Invoke, F::Crash, OpValue::Crash, None, is_final);
                self.record(t, OpType::Info, F::Crash, OpValue::Crash, None, is_final);
                self.threads[t].process += self.threads_count;
            }
            Planned::Assign { keys, seek: true } => {
                let value = OpValue::Assign {
                    keys: keys.clone(),
                    seek_to_beginning: true,
                    committed: None,
                };
                self.record(t, OpType::Invoke, F::Assign, value.clone(), None, is_final);
                if let Some(conn) = &mut self.threads[t].conn {
                    conn.positions = keys.into_iter().map(|k| (k, 0)).collect();
                }
                self.record(t, OpType::Ok, F::Assign, value, None, is_final);
            }
            Planned::Assign { keys, seek: false } => {
                let value = OpValue::Assign {
                    keys: keys.clone(),
                    seek_to_beginning: false,
                    committed: None,
                };
                self.record(t, OpType::Invoke, F::Assign, value, None, is_final);
                let body = |msg_id| Body::ListCommittedOffsets {
                    msg_id,
                    keys: keys.clone(),
                };
                self.request(t, k, F::Assign, Stage::Assign { keys: keys.clone() }, body);
            }
            Planned::Send { key, value } => {
                let op_value = OpValue::Send {
                    key: key.clone(),
                    value: crate::history::Val::Int(value as i64),
                    offset: None,
                };
                self.record(t, OpType::Invoke, F::Send, op_value, None, is_final);
                let msg = Payload::parse(&value.to_string()).expect("an integer is JSON");
                let stage = Stage::Send {
                    key: key.clone(),
                    value,
                };
                self.request(t, k, F::Send, stage, |msg_id| Body::Send {
                    msg_id,
                    key,
                    msg,
                });
            }
            Planned::Poll => {
                let value = OpValue::Poll {
                    msgs: None,
                    committed: None,
                };
                self.record(t, OpType::Invoke, F::Poll, value, None, is_final);
                let offsets = self.positions(t);
                self.request(t, k, F::Poll, Stage::Poll, |msg_id| Body::Poll {
                    msg_id,
                    offsets,
                });
            }
        }
    }

    fn positions(&self, t: usize) -> Vec<(Key, replicator_core::Offset)> {
        self.threads[t]
            .conn
            .as_ref()
            .map(|c| {
                c.positions
                    .iter()
                    .map(|(k, &o)| (k.clone(), replicator_core::Offset(o)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn request(&mut self, t: usize, k: u64, f: F, stage: Stage, body: impl FnOnce(MsgId) -> Body) {
        let Some(conn) = self.threads[t].conn.as_mut() else {
            return;
        };
        let msg_id = conn.next_msg_id();
        let msg = Message {
            src: conn.id.clone(),
            dest: self.node_ids[self.threads[t].node].clone(),
            body: body(MsgId(msg_id)),
        };
        let deadline = self.now() + RPC_TIMEOUT_US;
        self.threads[t].inflight = Some(InFlight {
            f,
            stage,
            msg_id,
            deadline,
        });
        if !self.threads[t].timer_armed {
            self.threads[t].timer_armed = true;
            self.events.at(deadline, Event::RpcTimeout(t));
        }
        let to = Addr::Node(self.threads[t].node);
        self.net
            .send(Addr::Client(k), to, msg, &mut self.events, &mut self.trace);
    }

    fn is_final(&self) -> bool {
        self.phase == Phase::Final
    }

    fn complete(&mut self, t: usize, ty: OpType, value: OpValue, error: Option<String>) {
        let Some(inflight) = self.threads[t].inflight.take() else {
            return;
        };
        let is_final = self.is_final();
        self.record(t, ty, inflight.f, value, error, is_final);
        if ty == OpType::Info {
            // spec: kafka.md 1.7 — an indefinite result crashes the process.
            self.threads[t].process += self.threads_count;
        }
        self.on_thread_free(t);
    }

    fn failed_value(stage: &Stage) -> OpValue {
        match stage {
            Stage::Send { key, value } => OpValue::Send {
                key: key.clone(),
                value: crate::history::Val::Int(*value as i64),
                offset: None,
            },
            Stage::Poll | Stage::Commit { .. } => OpValue::Poll {
                msgs: None,
                committed: None,
            },
            Stage::Assign { keys } => OpValue::Assign {
                keys: keys.clone(),
                seek_to_beginning: false,
                committed: None,
            },
        }
    }

    fn on_rpc_timeout(&mut self, t: usize) {
        let now = self.now();
        self.threads[t].timer_armed = false;
        let Some(inflight) = &self.threads[t].inflight else {
            return;
        };
        if inflight.deadline > now {
            // The request this timer was armed for was answered; wait for the current one.
            let deadline = inflight.deadline;
            self.threads[t].timer_armed = true;
            self.events.at(deadline, Event::RpcTimeout(t));
            return;
        }
        let ty = inflight.stage.timeout_type();
        let value = Self::failed_value(&inflight.stage);
        self.complete(t, ty, value, Some("net-timeout".into()));
    }

    fn on_client_reply(&mut self, t: usize, k: u64, env: Envelope) {
        let node = self.threads[t].node;
        let in_reply_to = env.msg.body.in_reply_to().map(|m| m.0);
        let awaiting = self.threads[t].conn.as_ref().is_some_and(|c| c.k == k)
            && self.threads[t].inflight.as_ref().map(|i| i.msg_id) == in_reply_to
            && in_reply_to.is_some();
        if !awaiting {
            // spec: kafka.md 1.7 — the client drops it silently; we note it.
            let detail = format!(
                "to {} (awaiting no such reply): {}",
                env.msg.dest,
                env.msg.to_json()
            );
            let sender = self.resolve(&env.msg.src).and_then(|a| match a {
                Addr::Node(i) => Some(i),
                _ => None,
            });
            self.violation(sender.unwrap_or(node), ViolationKind::ReplyToNobody, detail);
            return;
        }
        let body = env.msg.body;
        if let Err(problem) = wire_check(&env.msg.src, &env.msg.dest, &body) {
            let sender = self.resolve(&env.msg.src);
            let i = match sender {
                Some(Addr::Node(i)) => i,
                _ => node,
            };
            self.violation(i, ViolationKind::MalformedReply, problem.clone());
            let stage = &self.threads[t].inflight.as_ref().expect("awaiting").stage;
            let value = Self::failed_value(stage);
            self.complete(
                t,
                OpType::Info,
                value,
                Some(format!("malformed-reply: {problem}")),
            );
            return;
        }
        let stage = self.threads[t]
            .inflight
            .as_ref()
            .expect("awaiting")
            .stage
            .clone();
        if !stage.accepts(&body) {
            let detail = format!(
                "expected {} or error, got {}",
                stage.expected(),
                trace::body(&body)
            );
            let sender = match self.resolve(&env.msg.src) {
                Some(Addr::Node(i)) => i,
                _ => node,
            };
            self.violation(sender, ViolationKind::MalformedReply, detail.clone());
            self.complete(
                t,
                OpType::Info,
                Self::failed_value(&stage),
                Some(format!("malformed-reply: {detail}")),
            );
            return;
        }
        if let Body::Error { code, text, .. } = &body {
            let ty = stage.error_type(*code);
            let error = format!("[{} {text:?}]", code.0);
            self.complete(t, ty, Self::failed_value(&stage), Some(error));
            return;
        }
        match (stage, body) {
            (Stage::Send { key, value }, Body::SendOk { offset, .. }) => {
                self.generator.on_send_ok(&key, offset.0);
                let value = OpValue::Send {
                    key,
                    value: crate::history::Val::Int(value as i64),
                    offset: Some(offset.0),
                };
                self.complete(t, OpType::Ok, value, None);
            }
            (Stage::Poll, Body::PollOk { msgs, .. }) => {
                let msgs = client::poll_result(&msgs);
                let commit = client::commit_of(&msgs);
                if let Some(conn) = &mut self.threads[t].conn {
                    conn.advance(&msgs);
                }
                if commit.is_empty() {
                    self.poll_ok(t, msgs, None);
                } else {
                    let offsets: Vec<(Key, replicator_core::Offset)> = commit
                        .iter()
                        .map(|(k, &o)| (k.clone(), replicator_core::Offset(o)))
                        .collect();
                    let stage = Stage::Commit { msgs, commit };
                    self.request(t, k, F::Poll, stage, |msg_id| Body::CommitOffsets {
                        msg_id,
                        offsets,
                    });
                }
            }
            (Stage::Commit { msgs, commit }, Body::CommitOffsetsOk { .. }) => {
                self.poll_ok(t, msgs, Some(commit));
            }
            (Stage::Assign { keys }, Body::ListCommittedOffsetsOk { offsets, .. }) => {
                let committed: BTreeMap<Key, u64> =
                    offsets.into_iter().map(|(k, o)| (k, o.0)).collect();
                if let Some(conn) = &mut self.threads[t].conn {
                    conn.assign(&keys, &committed);
                }
                let value = OpValue::Assign {
                    keys,
                    seek_to_beginning: false,
                    committed: Some(committed),
                };
                self.complete(t, OpType::Ok, value, None);
            }
            _ => unreachable!("Stage::accepts admitted only these pairs"),
        }
    }

    fn poll_ok(
        &mut self,
        t: usize,
        msgs: crate::history::PollResult,
        committed: Option<BTreeMap<Key, u64>>,
    ) {
        self.generator.on_poll_ok(&msgs);
        if self.is_final() {
            let thread = &mut self.threads[t];
            for (key, pairs) in &msgs {
                if let Some(max) = pairs.iter().map(|(o, _)| *o).max() {
                    let seen = thread.seen.entry(key.clone()).or_insert(max);
                    *seen = (*seen).max(max);
                }
            }
            let seen = &thread.seen;
            thread.caught_up = self
                .target
                .iter()
                .all(|(k, target)| seen.get(k).is_some_and(|s| s >= target));
        }
        let value = OpValue::Poll {
            msgs: Some(msgs),
            committed,
        };
        self.complete(t, OpType::Ok, value, None);
    }

    // ------------------------------------------------------------------ faults

    /// spec: kafka.md 6.2 — alternate start/stop, gaps uniform on [0, 2·interval).
    fn on_nemesis(&mut self) {
        if self.phase != Phase::Main {
            return;
        }
        let now = self.now();
        if self.partitioned {
            self.heal();
        } else {
            let shape = Shape::draw(&mut self.nemesis_rng);
            let cut = nemesis::cut(shape, self.nodes.len(), &mut self.nemesis_rng);
            self.net.set_partition(&cut);
            self.partitioned = true;
            let mut isolated: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
            for &(to, from) in &cut {
                isolated
                    .entry(self.node_ids[to].clone())
                    .or_default()
                    .push(self.node_ids[from].clone());
            }
            self.trace.line(now, || {
                format!("nemesis start-partition {} {isolated:?}", shape.name())
            });
            self.history.nemesis.push(NemesisEvent {
                time: now,
                kind: NemesisKind::StartPartition {
                    shape: shape.name().into(),
                    isolated,
                },
            });
        }
        let gap = self
            .nemesis_rng
            .below(seconds(self.options.nemesis_interval_s).saturating_mul(2))
            .max(1);
        self.events.after(gap, Event::Nemesis);
    }

    /// Our extension: a node crashes, losing all state, and restarts within the interval.
    fn on_node_crash(&mut self) {
        if self.phase != Phase::Main {
            return;
        }
        let now = self.now();
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up)
            .collect();
        let interval = seconds(self.options.crash_nodes_s);
        if !up.is_empty() {
            let i = up[self.crash_rng.index(up.len())];
            self.nodes[i].up = false;
            self.nodes[i].timer = None;
            self.net.clear_node(i);
            self.trace
                .line(now, || format!("nemesis crash {}", self.node_ids[i]));
            self.history.nemesis.push(NemesisEvent {
                time: now,
                kind: NemesisKind::Crash(self.node_ids[i].clone()),
            });
            let downtime = self.crash_rng.below(interval.max(1));
            self.events.after(downtime, Event::NodeRestart(i));
        }
        let gap = self.crash_rng.below(interval.saturating_mul(2)).max(1);
        self.events.after(gap, Event::NodeCrash);
    }

    fn restart(&mut self, i: usize) {
        let now = self.now();
        let config = node_config(&mut self.seed_rng);
        self.nodes[i].server = (self.factory)(config);
        self.nodes[i].up = true;
        self.nodes[i].muted = false;
        self.nodes[i].timer = None;
        self.trace
            .line(now, || format!("nemesis restart {}", self.node_ids[i]));
        self.history.nemesis.push(NemesisEvent {
            time: now,
            kind: NemesisKind::Restart(self.node_ids[i].clone()),
        });
        self.send_init(i);
    }
}

/// A node's config, its seed drawn from the run's seed stream.
fn node_config(seeds: &mut Rng) -> Config {
    Config {
        seed: seeds.next_u64(),
        ..Config::default()
    }
}

/// Whole microseconds in `s` seconds.
fn seconds(s: f64) -> Micros {
    (s * 1e6).round().max(0.0) as Micros
}

/// In debug and test builds, encodes a client reply and decodes it back, as Maelstrom
/// would see it on the wire: a reply that does not survive the trip is malformed (and a
/// real node's failing here means the codec is broken). A no-op in release builds.
fn wire_check(src: &NodeId, dest: &NodeId, body: &Body) -> Result<(), String> {
    if !cfg!(debug_assertions) {
        return Ok(());
    }
    if matches!(body, Body::Other { .. }) {
        // Raw bodies are judged by kind, below.
        return Ok(());
    }
    let msg = Message {
        src: src.clone(),
        dest: dest.clone(),
        body: body.clone(),
    };
    let mut line = Vec::new();
    msg.encode(&mut line);
    match replicator_core::protocol::decode(&line) {
        Ok(back) if back == msg => Ok(()),
        Ok(back) => Err(format!(
            "the wire form reads back differently: {:?}",
            back.body
        )),
        Err(bad) => Err(format!("the wire form does not decode: {bad}")),
    }
}
