//! The network of spec: kafka.md 6.1-6.2, as a small seeded state machine.
//!
//! Every participant (server node, service, client) has an inbox ordered by delivery
//! deadline. Like Maelstrom's one thread per receiver, a receiver *holds* at most one
//! message at a time: it takes the earliest-deadline message, checks the partition, waits
//! until that message's deadline and delivers it, then takes the next. Delivery is
//! therefore sequential per receiver, and a message that arrives while another is held
//! waits behind it even if its own deadline is earlier.
//!
//! Invariants:
//! - A message with a client on either end has latency 0 (spec: kafka.md 6.1).
//! - The partition is checked when the receiver takes a message from its inbox, so a
//!   message already in flight when a partition begins is dropped too (spec: kafka.md 6.2).
//! - Partitions, loss and duplication touch server-to-server messages only: clients and
//!   services are never cut off (loss and duplication are our extension, off by default).
//! - Every message put on the network is counted as sent, dropped ones included
//!   (spec: kafka.md 6.4).

use crate::events::{Event, Events, order_key};
use crate::history::{Micros, NetCounts, NetStats};
use crate::messages::{Fate, MessageLog, RecordIndex};
use crate::options::LatencyDist;
use crate::rng::Rng;
use crate::services::Service;
use crate::trace::Trace;
use replicator_core::Message;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// Where a message goes: the simulator's resolved form of a `NodeId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Addr {
    /// Server node by index in the node list.
    Node(usize),
    /// One of Maelstrom's services.
    Service(Service),
    /// Client `c<k>`.
    Client(u64),
}

impl Addr {
    fn is_client(self) -> bool {
        matches!(self, Addr::Client(_))
    }
}

/// One message in flight.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    /// The sender, resolved.
    pub from: Addr,
    /// The message.
    pub msg: Message,
    /// When it may be delivered.
    pub deadline: Micros,
    /// Maelstrom's number for it, unique over the run and shared by a duplicate with its
    /// original (spec: kafka.md 1.2 — the extra top-level `id` on every line a node
    /// reads). Messages are numbered 0, 1, 2, … in the order they are put on the network.
    pub id: u64,
    /// Its record in the message log, when messages are recorded.
    pub record: RecordIndex,
}

/// A message waiting in an inbox: its delivery order and where the network keeps it.
/// The envelope itself stays put in [`Net::slots`] while the heap sifts these small
/// records; moving whole envelopes through the heap was a twentieth of a 5-node run.
struct Queued {
    /// [`order_key`] of the deadline and the send order.
    key: u128,
    slot: usize,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// Reversed for the max-heap: the earliest deadline, then the earliest sent, first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

#[derive(Default)]
struct Inbox {
    queue: BinaryHeap<Queued>,
    /// The slot of the message the receiver has taken and is waiting out; a `Deliver`
    /// event for it is scheduled at its deadline.
    held: Option<usize>,
}

/// What every copy of one message shares: its ends, its number, and whether it goes
/// between servers (where faults apply).
struct Outgoing {
    from: Addr,
    to: Addr,
    /// Maelstrom's number for the message.
    id: u64,
    is_server_link: bool,
}

/// The latency law and the extensions' fault rates.
#[derive(Clone, Copy, Debug)]
pub struct NetConfig {
    /// Mean latency of server links, in milliseconds.
    pub latency_ms: u64,
    /// Its distribution.
    pub dist: LatencyDist,
    /// Probability that a server message is lost at send (our extension).
    pub loss: f64,
    /// Probability that a server message is delivered twice (our extension).
    pub duplicate: f64,
}

/// The network.
pub(crate) struct Net {
    config: NetConfig,
    rng: Rng,
    seq: u64,
    nodes: Vec<Inbox>,
    services: BTreeMap<Service, Inbox>,
    clients: BTreeMap<u64, Inbox>,
    /// `blocked[receiver * n + sender]`: the partition, between server nodes only.
    blocked: Vec<bool>,
    node_count: usize,
    /// Message counts (spec: kafka.md 6.4).
    pub stats: NetStats,
    /// Every message and its fate, when recorded (off unless the runner turns it on).
    pub(crate) log: MessageLog,
    /// The envelopes queued or held in any inbox, by slot; `free` lists the empty slots.
    slots: Vec<Option<Envelope>>,
    free: Vec<usize>,
}

impl Net {
    pub(crate) fn new(config: NetConfig, node_count: usize, rng: Rng) -> Net {
        Net {
            config,
            rng,
            seq: 0,
            nodes: (0..node_count).map(|_| Inbox::default()).collect(),
            services: Service::ALL
                .iter()
                .map(|&s| (s, Inbox::default()))
                .collect(),
            clients: BTreeMap::new(),
            blocked: vec![false; node_count * node_count],
            node_count,
            stats: NetStats::default(),
            log: MessageLog::default(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Adds client `c<k>` to the network.
    pub(crate) fn open_client(&mut self, k: u64) {
        self.clients.insert(k, Inbox::default());
    }

    /// Removes client `c<k>`; whatever was on its way to it is gone.
    pub(crate) fn close_client(&mut self, k: u64) {
        if let Some(inbox) = self.clients.remove(&k) {
            self.empty(inbox);
        }
    }

    /// Whether `addr` exists on the network now.
    pub(crate) fn exists(&self, addr: Addr) -> bool {
        match addr {
            Addr::Node(i) => i < self.nodes.len(),
            Addr::Service(_) => true,
            Addr::Client(k) => self.clients.contains_key(&k),
        }
    }

    /// Drops everything queued for node `i` (it crashed at `now`).
    pub(crate) fn clear_node(&mut self, i: usize, now: Micros) {
        if let Some(inbox) = self.nodes.get_mut(i) {
            let inbox = std::mem::take(inbox);
            // The heap drains in no particular order; the records' order is the log's.
            let mut records: Vec<usize> = self
                .empty(inbox)
                .into_iter()
                .filter_map(|env| env.record)
                .collect();
            records.sort_unstable();
            for record in records {
                self.log.ended(Some(record), now, Fate::ReceiverDown);
            }
        }
    }

    /// Replaces the partition: `cut` lists (receiver, sender) pairs to drop.
    pub(crate) fn set_partition(&mut self, cut: &[(usize, usize)]) {
        self.blocked.iter_mut().for_each(|b| *b = false);
        for &(to, from) in cut {
            self.blocked[to * self.node_count + from] = true;
        }
    }

    fn is_blocked(&self, from: Addr, to: Addr) -> bool {
        match (from, to) {
            (Addr::Node(from), Addr::Node(to)) => self.blocked[to * self.node_count + from],
            _ => false,
        }
    }

    fn inbox(&mut self, addr: Addr) -> Option<&mut Inbox> {
        match addr {
            Addr::Node(i) => self.nodes.get_mut(i),
            Addr::Service(s) => self.services.get_mut(&s),
            Addr::Client(k) => self.clients.get_mut(&k),
        }
    }

    /// spec: kafka.md 6.1 — a latency drawn at send time, in whole milliseconds.
    fn latency_us(&mut self, from: Addr, to: Addr) -> Micros {
        if from.is_client() || to.is_client() {
            return 0;
        }
        let mean = self.config.latency_ms;
        let ms = match self.config.dist {
            LatencyDist::Constant => mean,
            // Maelstrom's uniform never returns with mean 0; ours gives 0.
            LatencyDist::Uniform => self.rng.below(mean.saturating_mul(2)),
            // Maelstrom's exponential divides by zero with mean 0; ours gives 0.
            LatencyDist::Exponential if mean == 0 => 0,
            LatencyDist::Exponential => self.rng.exponential(mean as f64) as u64,
        };
        ms.saturating_mul(1000)
    }

    /// Puts a message on the network. The caller has checked that `to` exists.
    pub(crate) fn send(
        &mut self,
        from: Addr,
        to: Addr,
        msg: Message,
        events: &mut Events,
        trace: &mut Trace,
    ) {
        // Maelstrom numbers every message; a duplicate keeps its original's number, so
        // distinct messages are counted once (`msg_count`).
        let is_server_link = !from.is_client() && !to.is_client();
        let copies = if is_server_link && self.rng.chance(self.config.duplicate) {
            2
        } else {
            1
        };
        let group_is_client = !is_server_link;
        let id = self.stats.all.msg_count;
        count(&mut self.stats, group_is_client, |c| c.msg_count += 1);
        let outgoing = Outgoing {
            from,
            to,
            id,
            is_server_link,
        };
        // The duplicate goes first, as a copy; the original follows.
        if copies == 2 && !self.put(&outgoing, msg.clone(), false, events, trace) {
            return;
        }
        self.put(&outgoing, msg, copies == 2, events, trace);
    }

    /// Puts one copy of message `id` on the network: counted, recorded, lost or queued
    /// for its receiver. False if the receiver is gone.
    fn put(
        &mut self,
        outgoing: &Outgoing,
        msg: Message,
        duplicated: bool,
        events: &mut Events,
        trace: &mut Trace,
    ) -> bool {
        let now = events.now();
        let Outgoing {
            from,
            to,
            id,
            is_server_link,
        } = *outgoing;
        count(&mut self.stats, !is_server_link, |c| c.send_count += 1);
        let record = self
            .log
            .sent(now, id, (&msg.src, &msg.dest), !is_server_link, || {
                (msg.body.kind().to_string(), trace_body(&msg))
            });
        if is_server_link && self.rng.chance(self.config.loss) {
            self.log.lost(record);
            trace.line(now, || {
                format!("{} -x- {} lost: {}", msg.src, msg.dest, trace_body(&msg))
            });
            return true;
        }
        if duplicated {
            trace.line(now, || {
                format!(
                    "{} -> {} duplicated: {}",
                    msg.src,
                    msg.dest,
                    trace_body(&msg)
                )
            });
        }
        let deadline = now.saturating_add(self.latency_us(from, to));
        self.seq += 1;
        let key = order_key(deadline, self.seq);
        let Some(inbox) = self.inbox(to) else {
            return false;
        };
        let idle = inbox.held.is_none() && inbox.queue.is_empty();
        let slot = self.store(Envelope {
            from,
            msg,
            deadline,
            id,
            record,
        });
        if idle {
            // The receiver takes this message at once, as `refill` would after a trip
            // through the queue.
            self.hold(to, slot, events, trace);
        } else if let Some(inbox) = self.inbox(to) {
            inbox.queue.push(Queued { key, slot });
            if inbox.held.is_none() {
                self.refill(to, events, trace);
            }
        }
        true
    }

    /// Takes the message `to` holds (its deadline has come) and lets it take the next.
    /// The caller delivers it and then counts it with [`Net::count_delivered`], unless
    /// the receiver is gone (a crashed node, in our extension).
    pub(crate) fn take(
        &mut self,
        to: Addr,
        events: &mut Events,
        trace: &mut Trace,
    ) -> Option<Envelope> {
        let slot = self.inbox(to)?.held.take()?;
        let env = self.release(slot);
        self.refill(to, events, trace);
        Some(env)
    }

    /// Counts a delivered message (spec: kafka.md 6.4, `recv-count`).
    pub(crate) fn count_delivered(&mut self, env: &Envelope, to: Addr) {
        count(
            &mut self.stats,
            env.from.is_client() || to.is_client(),
            |c| c.recv_count += 1,
        );
    }

    /// The receiver takes its earliest message that the partition lets through, and
    /// waits for its deadline.
    fn refill(&mut self, to: Addr, events: &mut Events, trace: &mut Trace) {
        loop {
            let Some(inbox) = self.inbox(to) else { return };
            if inbox.held.is_some() {
                return;
            }
            let Some(Queued { slot, .. }) = inbox.queue.pop() else {
                return;
            };
            self.hold(to, slot, events, trace);
        }
    }

    /// Takes every envelope out of a removed inbox, held and queued.
    fn empty(&mut self, inbox: Inbox) -> Vec<Envelope> {
        let queued = inbox.queue.into_iter().map(|q| q.slot);
        inbox
            .held
            .into_iter()
            .chain(queued)
            .map(|slot| self.release(slot))
            .collect()
    }

    /// Keeps `env` in a free slot, and returns the slot.
    fn store(&mut self, env: Envelope) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(env);
                slot
            }
            None => {
                self.slots.push(Some(env));
                self.slots.len() - 1
            }
        }
    }

    /// Takes the envelope out of `slot`, which becomes free.
    fn release(&mut self, slot: usize) -> Envelope {
        let env = self.slots[slot]
            .take()
            .expect("a queued or held slot holds an envelope");
        self.free.push(slot);
        env
    }

    /// The idle receiver `to` takes the message in `slot`: it drops it if the partition
    /// says so, or holds it and waits for its deadline.
    fn hold(&mut self, to: Addr, slot: usize, events: &mut Events, trace: &mut Trace) {
        let env = self.slots[slot]
            .as_ref()
            .expect("a queued slot holds an envelope");
        // spec: kafka.md 6.2 — checked at dequeue, before waiting out the latency.
        if self.is_blocked(env.from, to) {
            let env = self.release(slot);
            let now = events.now();
            self.log.ended(env.record, now, Fate::Partitioned);
            trace.line(now, || {
                format!(
                    "{} -x- {} partitioned: {}",
                    env.msg.src,
                    env.msg.dest,
                    trace_body(&env.msg)
                )
            });
            return;
        }
        let deadline = env.deadline;
        if let Some(inbox) = self.inbox(to) {
            inbox.held = Some(slot);
        }
        events.at(deadline, Event::Deliver(to));
    }
}

fn count(stats: &mut NetStats, is_client: bool, f: impl Fn(&mut NetCounts)) {
    f(&mut stats.all);
    if is_client {
        f(&mut stats.clients);
    } else {
        f(&mut stats.servers);
    }
}

/// A message body for a trace line.
pub(crate) fn trace_body(msg: &Message) -> String {
    crate::trace::body(&msg.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use replicator_core::{Body, MsgId, NodeId};

    /// The Maelstrom name of an address, as the envelope's `src` or `dest` spells it.
    fn name(addr: Addr) -> String {
        match addr {
            Addr::Node(i) => format!("n{i}"),
            Addr::Client(k) => format!("c{k}"),
            Addr::Service(s) => s.name().to_string(),
        }
    }

    /// Sends message `id` from `from` to `to` with tracing off, naming both ends the
    /// way the envelope would, so each test states only who talks to whom.
    fn send(net: &mut Net, events: &mut Events, from: Addr, to: Addr, id: u64) {
        net.send(
            from,
            to,
            msg(&name(from), &name(to), id),
            events,
            &mut Trace::off(),
        );
    }

    fn msg(from: &str, to: &str, id: u64) -> Message {
        Message {
            src: NodeId::new(from),
            dest: NodeId::new(to),
            body: Body::InitOk {
                in_reply_to: MsgId(id),
            },
        }
    }

    fn net(dist: LatencyDist, latency_ms: u64) -> Net {
        let config = NetConfig {
            latency_ms,
            dist,
            loss: 0.0,
            duplicate: 0.0,
        };
        Net::new(config, 3, Rng::new(1))
    }

    /// Runs the network until no delivery is due, returning (time, receiver, id).
    fn drain(net: &mut Net, events: &mut Events) -> Vec<(Micros, Addr, u64)> {
        let mut trace = Trace::off();
        let mut out = Vec::new();
        while let Some(event) = events.pop() {
            if let Event::Deliver(to) = event
                && let Some(env) = net.take(to, events, &mut trace)
            {
                net.count_delivered(&env, to);
                let id = env.msg.body.in_reply_to().map_or(0, |m| m.0);
                out.push((events.now(), to, id));
            }
        }
        out
    }

    #[test]
    fn constant_latency_delivers_in_send_order_after_the_latency() {
        let mut net = net(LatencyDist::Constant, 5);
        let mut events = Events::default();
        for i in 1..=3 {
            send(&mut net, &mut events, Addr::Node(0), Addr::Node(1), i);
        }
        let got = drain(&mut net, &mut events);
        assert_eq!(
            got,
            vec![
                (5000, Addr::Node(1), 1),
                (5000, Addr::Node(1), 2),
                (5000, Addr::Node(1), 3)
            ]
        );
        assert_eq!(net.stats.servers.send_count, 3);
        assert_eq!(net.stats.servers.recv_count, 3);
    }

    #[test]
    fn client_links_have_zero_latency_whatever_the_law() {
        let mut net = net(LatencyDist::Constant, 50);
        net.open_client(4);
        let mut events = Events::default();
        send(&mut net, &mut events, Addr::Client(4), Addr::Node(0), 1);
        send(&mut net, &mut events, Addr::Node(0), Addr::Client(4), 2);
        let got = drain(&mut net, &mut events);
        assert_eq!(got, vec![(0, Addr::Node(0), 1), (0, Addr::Client(4), 2)]);
        assert_eq!(net.stats.clients.send_count, 2);
        assert_eq!(net.stats.servers.send_count, 0);
    }

    #[test]
    fn exponential_latency_reorders_a_link() {
        let mut net = net(LatencyDist::Exponential, 20);
        let mut events = Events::default();
        for i in 1..=200 {
            send(&mut net, &mut events, Addr::Node(0), Addr::Node(1), i);
        }
        let ids: Vec<u64> = drain(&mut net, &mut events).iter().map(|d| d.2).collect();
        assert_eq!(ids.len(), 200);
        assert!(ids.windows(2).any(|w| w[0] > w[1]), "no reordering at all");
    }

    #[test]
    fn a_partition_drops_messages_already_in_flight_and_only_one_way() {
        let mut net = net(LatencyDist::Constant, 10);
        let mut events = Events::default();
        // The first message is taken at once (the inbox was idle); the second waits in
        // the inbox and meets the partition when it is taken.
        send(&mut net, &mut events, Addr::Node(0), Addr::Node(1), 1);
        send(&mut net, &mut events, Addr::Node(0), Addr::Node(1), 2);
        send(&mut net, &mut events, Addr::Node(1), Addr::Node(0), 3);
        net.set_partition(&[(1, 0)]);
        let got = drain(&mut net, &mut events);
        assert_eq!(
            got,
            vec![(10_000, Addr::Node(1), 1), (10_000, Addr::Node(0), 3)]
        );
        assert_eq!(net.stats.servers.send_count, 3);
        assert_eq!(net.stats.servers.recv_count, 2);
    }

    #[test]
    fn loss_and_duplication_spare_client_links() {
        let config = NetConfig {
            latency_ms: 0,
            dist: LatencyDist::Constant,
            loss: 1.0,
            duplicate: 1.0,
        };
        let mut net = Net::new(config, 2, Rng::new(2));
        net.open_client(0);
        let mut events = Events::default();
        send(&mut net, &mut events, Addr::Client(0), Addr::Node(0), 1);
        send(&mut net, &mut events, Addr::Node(0), Addr::Node(1), 2);
        let got = drain(&mut net, &mut events);
        assert_eq!(got, vec![(0, Addr::Node(0), 1)]);
        // The server message was sent twice (duplicated) and both copies were lost.
        assert_eq!(net.stats.servers.send_count, 2);
        assert_eq!(net.stats.servers.msg_count, 1);
    }

    /// One send in the model test: sender, receiver (of 3 nodes and 2 clients), and the
    /// wait before it.
    type ModelSend = (u8, u8, u8);

    #[test]
    fn every_message_arrives_once_after_its_latency_and_in_order_per_receiver() {
        bolero::check!()
            .with_type::<(u64, u8, bool, Vec<ModelSend>)>()
            .for_each(|(seed, latency, exponential, sends)| {
                let dist = if *exponential {
                    LatencyDist::Exponential
                } else {
                    LatencyDist::Uniform
                };
                let config = NetConfig {
                    latency_ms: u64::from(*latency % 20),
                    dist,
                    loss: 0.0,
                    duplicate: 0.0,
                };
                let mut net = Net::new(config, 3, Rng::new(*seed));
                net.open_client(0);
                net.open_client(1);
                let addr = |i: u8| match i % 5 {
                    n @ 0..=2 => Addr::Node(usize::from(n)),
                    n => Addr::Client(u64::from(n - 3)),
                };
                let mut events = Events::default();
                // id → (sent at, receiver); deliveries as (time, receiver, id).
                let mut sent: BTreeMap<u64, (Micros, Addr)> = BTreeMap::new();
                let mut got: Vec<(Micros, Addr, u64)> = Vec::new();
                let mut pump = |net: &mut Net, events: &mut Events, until: Option<Micros>| {
                    while let Some(t) = events.peek_time() {
                        if until.is_some_and(|u| t > u) {
                            break;
                        }
                        if let Some(Event::Deliver(to)) = events.pop()
                            && let Some(env) = net.take(to, events, &mut Trace::off())
                        {
                            net.count_delivered(&env, to);
                            let id = env.msg.body.in_reply_to().map_or(0, |m| m.0);
                            got.push((events.now(), to, id));
                        }
                    }
                };
                for (i, (from, to, wait_ms)) in sends.iter().enumerate() {
                    let target = events.now() + u64::from(*wait_ms % 30) * 1000;
                    pump(&mut net, &mut events, Some(target));
                    events.advance_to(target);
                    let (from, to) = (addr(*from), addr(*to));
                    let id = i as u64 + 1;
                    sent.insert(id, (events.now(), to));
                    send(&mut net, &mut events, from, to, id);
                }
                pump(&mut net, &mut events, None);
                let mut ids: Vec<u64> = got.iter().map(|g| g.2).collect();
                ids.sort_unstable();
                assert_eq!(
                    ids,
                    sent.keys().copied().collect::<Vec<_>>(),
                    "lost or doubled"
                );
                // Uniform latency is below 2·mean ms. A message can wait behind the one
                // its receiver holds, but that one was sent earlier with a deadline
                // under the same bound, so no message arrives later than its own send
                // time plus the largest latency.
                let mean_ms = u64::from(*latency % 20);
                let bound_us = (2 * mean_ms).saturating_sub(1) * 1000;
                for &(at, to, id) in &got {
                    let (sent_at, want_to) = sent[&id];
                    assert_eq!(to, want_to);
                    assert!(at >= sent_at, "message {id} arrived before it was sent");
                    if dist == LatencyDist::Uniform {
                        assert!(at <= sent_at + bound_us, "message {id} held too long");
                    }
                }
                for w in got.windows(2) {
                    assert!(w[0].0 <= w[1].0, "deliveries went back in time");
                }
                assert_eq!(net.stats.all.send_count, net.stats.all.recv_count);
            });
    }
}
