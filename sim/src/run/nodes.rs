//! The servers' side of a run: the init handshake, delivering messages to nodes and
//! services, stepping the servers and routing what they write (returned by a step in
//! virtual time, read from a process's stdout in real time), their timers, the
//! node-crash extension, and the checks Maelstrom applies to a node's output.
//!
//! Invariants:
//! - A down node receives nothing and is never stepped; a muted node's output is dropped.
//! - `NodeSlot::timer` is the earliest `NodeTimer` event still pending for a node, so a
//!   node is woken no later than its `next_deadline`.
//! - Every wire violation is both traced and recorded in the history.

use super::{INIT_TIMEOUT_US, Owner, Phase, Sim, node_config, seconds};
use crate::events::Event;
use crate::history::{Micros, NemesisEvent, NemesisKind, Recovery, ViolationKind, WireViolation};
use crate::messages::Fate;
use crate::net::{Addr, Envelope};
use crate::options::Options;
use crate::quorum::Timeline;
use crate::services::Service;
use crate::trace;
use replicator_core::{Body, Message, MsgId, NodeId, Output};
use std::collections::{BTreeMap, BTreeSet};

impl Sim<'_> {
    /// spec: kafka.md 1.5 — `init` to every node from a temporary client.
    pub(super) fn start(&mut self) {
        self.trace.line(0, || {
            format!(
                "run {} ({}, {})",
                self.options,
                trace::count(self.node_ids.len(), "node", "nodes"),
                trace::count(self.threads.len(), "thread", "threads")
            )
        });
        // spec: kafka.md 1.5 — every node is set up before any gets its `init`.
        for i in 0..self.nodes.len() {
            let config = node_config(&mut self.seed_rng, self.options);
            if let Err(reason) = self.driver.start(i, config) {
                self.failure = Some(format!("{} could not start: {reason}", self.node_ids[i]));
                self.phase = Phase::Done;
                return;
            }
        }
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

    /// `reply` is what the init's client read, or why it could not read it.
    fn on_init_reply(&mut self, node: usize, k: u64, reply: Result<Message, String>) {
        let now = self.now();
        let refused = match reply.as_ref().map(|msg| &msg.body) {
            Ok(Body::InitOk { in_reply_to }) if in_reply_to.0 == 1 => {
                self.close_client(k);
                self.init_waiting.remove(&node);
                if self.phase == Phase::Init && self.init_waiting.is_empty() {
                    self.start_main();
                }
                return;
            }
            Ok(Body::InitOk { .. }) => {
                self.violation(
                    node,
                    ViolationKind::ReplyToNobody,
                    format!("init_ok to c{k} answers the wrong msg_id"),
                );
                return;
            }
            Ok(other) => trace::body(other),
            Err(problem) => format!("a malformed reply ({problem})"),
        };
        if self.phase == Phase::Init {
            self.failure = Some(format!(
                "{} answered init with {refused}",
                self.node_ids[node]
            ));
            self.phase = Phase::Done;
        } else {
            // A restarted node (our extension) that refuses init stays useless; the
            // history will show it.
            self.trace.line(now, || {
                format!("{} refused init after restart", self.node_ids[node])
            });
        }
    }

    pub(super) fn deliver(&mut self, to: Addr, env: Envelope) {
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
                    self.net.log.ended(env.record, now, Fate::ReceiverDown);
                    return;
                }
                self.net.log.ended(env.record, now, Fate::Delivered);
                self.net.count_delivered(&env, to);
                let mut outputs = std::mem::take(&mut self.outputs);
                self.driver.deliver(i, now, env, &mut outputs);
                self.on_outputs(i, outputs);
            }
            Addr::Service(service) => {
                self.net.log.ended(env.record, now, Fate::Delivered);
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
                self.net.log.ended(env.record, now, Fate::Delivered);
                self.net.count_delivered(&env, to);
                match self.clients.get(&k).copied() {
                    Some(Owner::Init(node)) => {
                        let reply = self.driver.read_reply(env.msg);
                        self.on_init_reply(node, k, reply);
                    }
                    Some(Owner::Thread(t)) => self.on_client_reply(t, k, env),
                    None => {}
                }
            }
        }
    }

    /// Routes what server `i` wrote, and wakes it when it asks to be; `outputs` is the
    /// reused buffer, handed back empty.
    fn on_outputs(&mut self, i: usize, mut outputs: Vec<Output>) {
        let now = self.now();
        if let Some(k) = self.nodes[i].recovery
            && let Some(status) = self.driver.status(i)
            && status.member
        {
            let recovery = &mut self.history.recoveries[k];
            recovery.joined = Some(now);
            recovery.log = status.commit.0;
            self.nodes[i].recovery = None;
        }
        for output in outputs.drain(..) {
            match output {
                Output::Send(msg) => self.node_send(i, msg),
                Output::Log(line) => {
                    self.trace
                        .line(now, || format!("{} log {line}", self.node_ids[i]));
                }
            }
        }
        self.outputs = outputs;
        if let Some(deadline) = self.driver.next_deadline(i) {
            let deadline = deadline.as_micros().max(now);
            if self.nodes[i].timer.is_none_or(|t| deadline < t || t < now) {
                self.nodes[i].timer = Some(deadline);
                self.events.at(deadline, Event::NodeTimer(i));
            }
        }
    }

    pub(super) fn on_node_timer(&mut self, i: usize) {
        let now = self.now();
        if self.nodes[i].timer == Some(now) {
            self.nodes[i].timer = None;
        }
        if !self.nodes[i].up {
            return;
        }
        match self.driver.next_deadline(i) {
            Some(d) if d.as_micros() <= now => {
                let mut outputs = std::mem::take(&mut self.outputs);
                self.driver.tick(i, now, &mut outputs);
                self.on_outputs(i, outputs);
            }
            // The node moved its deadline later since this timer was set: wake it then.
            Some(d) if self.nodes[i].timer.is_none_or(|t| t < now) => {
                self.nodes[i].timer = Some(d.as_micros());
                self.events.at(d.as_micros(), Event::NodeTimer(i));
            }
            _ => {}
        }
    }

    /// Real time: node `i` wrote a line on its stdout. spec: kafka.md 1.2 — a line that
    /// is not a message stops Maelstrom from reading that node's stdout ever again.
    pub(super) fn on_node_line(&mut self, i: usize, line: Result<Message, String>) {
        if !self.nodes[i].up || self.nodes[i].muted {
            return;
        }
        match line {
            Ok(msg) => self.node_send(i, msg),
            Err(reason) => {
                self.violation(i, ViolationKind::MalformedEnvelope, reason);
                self.mute(i);
            }
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

    pub(super) fn violation(&mut self, i: usize, kind: ViolationKind, detail: String) {
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

    pub(super) fn resolve(&self, id: &NodeId) -> Option<Addr> {
        // By bytes: every message is routed, and `as_str` checks UTF-8 each time.
        if let Some(digits) = id.as_bytes().strip_prefix(b"c") {
            let canonical = !digits.is_empty()
                && digits.iter().all(u8::is_ascii_digit)
                && (digits == b"0" || digits[0] != b'0');
            return if canonical {
                digits
                    .iter()
                    .try_fold(0u64, |k, d| {
                        k.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                    })
                    .map(Addr::Client)
            } else {
                None
            };
        }
        if let Some(i) = id.place_in(&self.node_ids, &self.node_index) {
            return Some(Addr::Node(i));
        }
        Service::from_name(id.as_str()).map(Addr::Service)
    }

    /// Our extension: a node crashes, losing all state, and restarts within the interval.
    ///
    /// The fault is fair to a design that needs a majority: it never has more than a
    /// minority of the nodes down, recovering or cut off by a partition at once (it only
    /// crashes a node when that holds after the crash; a one-node cluster's node may
    /// crash all the same, and loses everything: see `report::Verdict::CrashedAlone`). A
    /// restarted node counts as recovering until it has been up for [`recovery_grace_us`]
    /// with the network whole: any partition stops its clock, since recovering takes a
    /// majority of nodes that remember, and a partition may cut the node off from them
    /// even when it leaves it a majority of nodes. A crash that would break the rule is
    /// skipped. Two nodes therefore never crash.
    pub(super) fn on_node_crash(&mut self) {
        if self.phase != Phase::Main {
            return;
        }
        let now = self.now();
        let n = self.nodes.len();
        let interval = seconds(self.options.crash_nodes_s);
        let gap = self.crash_rng.below(interval.saturating_mul(2)).max(1);
        self.events.after(gap, Event::NodeCrash);
        let names: Vec<String> = self.node_ids.iter().map(|id| id.to_string()).collect();
        let timeline = Timeline::of(&self.history, &names);
        let recovering = if n > 1 {
            self.recovering(&timeline, now)
        } else {
            BTreeSet::new()
        };
        // Out of the game: down, recovering, or cut off from the majority by a partition.
        let out = (0..n)
            .filter(|&i| {
                !self.nodes[i].up
                    || recovering.contains(&i)
                    || !timeline.in_majority(&names[i], now)
            })
            .count();
        let minority = n - (n / 2 + 1);
        let candidates: Vec<usize> = (0..n)
            .filter(|&i| self.nodes[i].up && !recovering.contains(&i))
            .collect();
        if candidates.is_empty() || (n > 1 && out + 1 > minority) {
            self.trace.line(now, || {
                format!("nemesis skips a crash: {out} of {n} nodes are down or recovering")
            });
            return;
        }
        let i = candidates[self.crash_rng.index(candidates.len())];
        self.nodes[i].up = false;
        self.nodes[i].timer = None;
        self.nodes[i].recovery = None;
        self.driver.kill(i);
        self.net.clear_node(i, now);
        self.trace
            .line(now, || format!("nemesis crash {}", self.node_ids[i]));
        self.history.nemesis.push(NemesisEvent {
            time: now,
            kind: NemesisKind::Crash(self.node_ids[i].clone()),
        });
        let downtime = self.crash_rng.below(interval.max(1));
        self.events.after(downtime, Event::NodeRestart(i));
    }

    /// The nodes that restarted and have not yet been up for the recovery grace with the
    /// network whole.
    fn recovering(&self, timeline: &Timeline, now: Micros) -> BTreeSet<usize> {
        let mut restarted: BTreeMap<usize, Micros> = BTreeMap::new();
        for event in &self.history.nemesis {
            match &event.kind {
                NemesisKind::Restart(node) => {
                    if let Some(&i) = self.node_index.get(node) {
                        restarted.insert(i, event.time);
                    }
                }
                NemesisKind::Crash(node) => {
                    if let Some(&i) = self.node_index.get(node) {
                        restarted.remove(&i);
                    }
                }
                _ => {}
            }
        }
        if restarted.is_empty() {
            return BTreeSet::new();
        }
        let grace = recovery_grace_us(self.options);
        restarted
            .into_iter()
            .filter(|&(i, at)| {
                timeline
                    .recovered_at(i, at, grace)
                    .is_none_or(|recovered| recovered > now)
            })
            .map(|(i, _)| i)
            .collect()
    }

    pub(super) fn restart(&mut self, i: usize) {
        let now = self.now();
        let config = node_config(&mut self.seed_rng, self.options);
        if let Err(reason) = self.driver.start(i, config) {
            self.failure = Some(format!("{} could not restart: {reason}", self.node_ids[i]));
            self.phase = Phase::Done;
            return;
        }
        self.nodes[i].up = true;
        self.nodes[i].muted = false;
        self.nodes[i].timer = None;
        self.nodes[i].recovery = Some(self.history.recoveries.len());
        self.history.recoveries.push(Recovery {
            node: self.node_ids[i].clone(),
            restarted: now,
            joined: None,
            log: 0,
        });
        self.trace
            .line(now, || format!("nemesis restart {}", self.node_ids[i]));
        self.history.nemesis.push(NemesisEvent {
            time: now,
            kind: NemesisKind::Restart(self.node_ids[i].clone()),
        });
        self.send_init(i);
    }
}

/// How long a restarted node counts as recovering, in time the network is whole: 3 s
/// plus 20 mean one-way delays. Replicator's own recovery waits two election timeouts
/// (1 s) for any election its former self voted in to end, asks a majority, and catches
/// up from the leader; an election may come first when the node that crashed led. The
/// simulator's sweeps check that it joins well within this (see the README).
pub fn recovery_grace_us(options: &Options) -> Micros {
    3_000_000 + 20 * options.latency_ms * 1_000
}
