//! Named scenarios (TigerBeetle's `replica_test` style): real nodes on a scripted network,
//! each test a story with a precise fault at a precise moment, told beside the seed
//! sweeps that find the faults nobody thought of.
//!
//! The [`Cluster`] here is deliberately simpler than the simulator: one latency for every
//! server link, zero for clients, cuts checked when a message is delivered (as Maelstrom
//! checks them, spec: kafka.md 6.2), and a filter that drops chosen messages at send time.
//! Clients are the test itself: a request goes straight into its node, and the node's
//! replies are collected with the time they came.

use replicator_core::protocol::{Body, Message};
use replicator_core::{
    ErrorCode, Input, Key, MsgId, Node, NodeId, Offset, Output, Payload, Term, Timestamp,
};
use replicator_sim::checker;
use replicator_sim::options::{Concurrency, LatencyDist, Options};
use replicator_sim::{report, run, server};
use std::collections::{BTreeMap, BTreeSet};

fn ms(n: u64) -> u64 {
    n * 1_000
}

/// What a test wants dropped at send time.
type DropIf = Box<dyn Fn(&Message) -> bool>;

/// Real nodes on a scripted network.
struct Cluster {
    nodes: Vec<Node>,
    ids: Vec<NodeId>,
    now: Timestamp,
    /// Server messages in flight, by delivery time and send order.
    flight: BTreeMap<(Timestamp, u64), Message>,
    seq: u64,
    latency_us: u64,
    /// `(receiver, sender)` pairs whose messages are dropped on delivery.
    cut: BTreeSet<(usize, usize)>,
    drop_if: Option<DropIf>,
    /// Every reply a client got: request id → (time, body).
    answers: BTreeMap<u64, (Timestamp, Body)>,
    /// When each request went in.
    asked: BTreeMap<u64, Timestamp>,
    next_msg_id: u64,
    /// Every (term, node) that led, as the nodes said.
    leaders: BTreeSet<(Term, usize)>,
}

impl Cluster {
    /// `n` nodes `n0…`, initialised at time 0, with `latency_ms` on every server link.
    fn new(n: usize, latency_ms: u64) -> Cluster {
        let ids: Vec<NodeId> = (0..n).map(|i| NodeId::new(&format!("n{i}"))).collect();
        let mut c = Cluster {
            nodes: (0..n)
                .map(|i| {
                    Node::new(replicator_core::Config {
                        seed: 1000 + i as u64,
                        ..Default::default()
                    })
                    .expect("default config")
                })
                .collect(),
            ids: ids.clone(),
            now: Timestamp::ZERO,
            flight: BTreeMap::new(),
            seq: 0,
            latency_us: ms(latency_ms),
            cut: BTreeSet::new(),
            drop_if: None,
            answers: BTreeMap::new(),
            asked: BTreeMap::new(),
            next_msg_id: 1,
            leaders: BTreeSet::new(),
        };
        for i in 0..n {
            let init = Message {
                src: NodeId::new("c0"),
                dest: ids[i].clone(),
                body: Body::Init {
                    msg_id: MsgId(0),
                    node_id: ids[i].clone(),
                    node_ids: ids.clone(),
                },
            };
            c.step(i, Input::Message(init));
        }
        c
    }

    fn index(&self, id: &NodeId) -> Option<usize> {
        self.ids.iter().position(|x| x == id)
    }

    /// Steps node `i` and routes what it does.
    fn step(&mut self, i: usize, input: Input) {
        let outputs = self.nodes[i].step(self.now, input);
        for output in outputs {
            let Output::Send(msg) = output else { continue };
            if msg.dest.is_client() {
                if let Some(id) = msg.body.in_reply_to()
                    && !matches!(msg.body, Body::InitOk { .. })
                {
                    let fresh = self.answers.insert(id.0, (self.now, msg.body)).is_none();
                    assert!(fresh, "request {} answered twice", id.0);
                }
                continue;
            }
            assert!(self.index(&msg.dest).is_some(), "a message to {}", msg.dest);
            if self.drop_if.as_ref().is_some_and(|drop| drop(&msg)) {
                continue;
            }
            self.seq += 1;
            let at = self.now.add_micros(self.latency_us);
            self.flight.insert((at, self.seq), msg);
        }
        if let Some(status) = self.nodes[i].status()
            && status.is_leader
        {
            self.leaders.insert((status.term, i));
        }
    }

    /// Runs the network and the nodes' timers up to `until`.
    fn run_until(&mut self, until: Timestamp) {
        loop {
            let delivery = self.flight.keys().next().map(|k| k.0);
            let timer = (0..self.nodes.len())
                .filter_map(|i| self.nodes[i].next_deadline().map(|d| (d, i)))
                .min();
            let next = match (delivery, timer) {
                (Some(d), Some((t, _))) => d.min(t),
                (Some(d), None) => d,
                (None, Some((t, _))) => t,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if delivery == Some(next) {
                let (_, msg) = self.flight.pop_first().expect("a message is due");
                let (to, from) = (
                    self.index(&msg.dest).expect("known"),
                    self.index(&msg.src).expect("known"),
                );
                if !self.cut.contains(&(to, from)) {
                    self.step(to, Input::Message(msg));
                }
            } else if let Some((_, i)) = timer {
                self.step(i, Input::Tick);
            }
        }
        self.now = until;
    }

    fn run_for(&mut self, us: u64) {
        let until = self.now.add_micros(us);
        self.run_until(until);
    }

    /// A client's `send` to node `i`; returns its request id.
    fn send(&mut self, i: usize, key: &str, msg: &str) -> u64 {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        self.asked.insert(id, self.now);
        let body = Body::Send {
            msg_id: MsgId(id),
            key: Key::new(key),
            msg: Payload::parse(msg).expect("test payloads are JSON"),
        };
        self.request(i, id, body);
        id
    }

    fn request(&mut self, i: usize, id: u64, body: Body) {
        let msg = Message {
            src: NodeId::new(&format!("c{id}")),
            dest: self.ids[i].clone(),
            body,
        };
        self.step(i, Input::Message(msg));
    }

    /// Node `i`'s log of `key` from offset 0, as a poll answers it (at once).
    fn log_of(&mut self, i: usize, key: &str) -> Vec<(u64, String)> {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let body = Body::Poll {
            msg_id: MsgId(id),
            offsets: vec![(Key::new(key), Offset(0))],
        };
        self.request(i, id, body);
        match self.answers.get(&id) {
            Some((_, Body::PollOk { msgs, .. })) => msgs
                .iter()
                .flat_map(|run| run.iter().map(|(o, m)| (o.0, m.to_string())))
                .collect(),
            other => panic!("a poll got {other:?}"),
        }
    }

    /// The answer to request `id`, if it came: `Ok(offset)` or `Err(code)`.
    fn outcome(&self, id: u64) -> Option<Result<u64, ErrorCode>> {
        match &self.answers.get(&id)?.1 {
            Body::SendOk { offset, .. } => Some(Ok(offset.0)),
            Body::Error { code, .. } => Some(Err(*code)),
            other => panic!("a send got {other:?}"),
        }
    }

    /// How long request `id` waited for its answer.
    fn waited_us(&self, id: u64) -> Option<u64> {
        let (at, _) = self.answers.get(&id)?;
        Some(at.micros_since(self.asked[&id]))
    }

    /// The node that leads the latest term, by its own account.
    fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter_map(|i| {
                let s = self.nodes[i].status()?;
                s.is_leader.then_some((s.term, i))
            })
            .max()
            .map(|(_, i)| i)
    }

    fn term_of(&self, i: usize) -> Term {
        self.nodes[i].status().expect("a cluster member").term
    }

    /// Cuts node `i` off from every other, both ways.
    fn isolate(&mut self, i: usize) {
        for j in 0..self.nodes.len() {
            if j != i {
                self.cut.insert((i, j));
                self.cut.insert((j, i));
            }
        }
    }

    /// Cuts the two groups apart, both ways.
    fn split(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.cut.insert((x, y));
                self.cut.insert((y, x));
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    /// Raft's election safety, as the nodes told it: never two leaders in one term.
    fn assert_one_leader_per_term(&self) {
        let mut by_term: BTreeMap<Term, BTreeSet<usize>> = BTreeMap::new();
        for &(term, i) in &self.leaders {
            by_term.entry(term).or_default().insert(i);
        }
        for (term, leaders) in by_term {
            assert_eq!(leaders.len(), 1, "term {term} had leaders {leaders:?}");
        }
    }

    /// Every node's log of each key is the same.
    fn assert_logs_agree(&mut self, keys: &[&str]) {
        for key in keys {
            let first = self.log_of(0, key);
            for i in 1..self.nodes.len() {
                assert_eq!(
                    self.log_of(i, key),
                    first,
                    "n{i}'s log of {key:?} differs from n0's"
                );
            }
        }
    }
}

/// The number of times `msg` appears in `log`.
fn count(log: &[(u64, String)], msg: &str) -> usize {
    log.iter().filter(|(_, m)| m == msg).count()
}

#[test]
fn a_leader_isolated_mid_send_leaves_its_send_indefinite_and_the_majority_carries_on() {
    let mut c = Cluster::new(3, 1);
    c.run_for(ms(500));
    let old = c.leader().expect("a leader within half a second");
    let term = c.term_of(old);
    let first = c.send(old, "k", "1");
    // Cut off before a single packet carrying the send can arrive anywhere.
    c.isolate(old);
    c.run_for(ms(3_000));
    assert_eq!(
        c.outcome(first),
        Some(Err(ErrorCode::CRASH)),
        "the isolated leader must not claim success or certain failure"
    );
    let new = c.leader().expect("the majority elects a new leader");
    assert_ne!(new, old);
    assert!(c.term_of(new) > term);
    let follower = (0..3).find(|&i| i != old && i != new).expect("three nodes");
    let second = c.send(follower, "k", "2");
    c.run_for(ms(100));
    assert!(
        matches!(c.outcome(second), Some(Ok(_))),
        "{:?}",
        c.outcome(second)
    );

    c.heal();
    c.run_for(ms(2_000));
    c.assert_one_leader_per_term();
    c.assert_logs_agree(&["k"]);
    let log = c.log_of(old, "k");
    assert_eq!(count(&log, "2"), 1, "{log:?}");
    // The first send may still commit (its origin retries it), but only once.
    assert!(count(&log, "1") <= 1, "{log:?}");
}

/// Each node drops what one other node sends it: every link works one way only, yet the
/// three still form a majority that can talk, through relays.
#[test]
fn a_one_way_ring_of_three_still_commits_every_nodes_sends() {
    let mut c = Cluster::new(3, 1);
    c.run_for(ms(500));
    c.cut = BTreeSet::from([(0, 1), (1, 2), (2, 0)]);
    c.run_for(ms(200));
    let ids: Vec<u64> = (0..3).map(|i| c.send(i, "r", &i.to_string())).collect();
    c.run_for(ms(1_500));
    for (i, id) in ids.iter().enumerate() {
        assert!(
            matches!(c.outcome(*id), Some(Ok(_))),
            "n{i}'s send: {:?}",
            c.outcome(*id)
        );
    }
    c.heal();
    c.run_for(ms(500));
    c.assert_one_leader_per_term();
    c.assert_logs_agree(&["r"]);
}

/// Jepsen's majorities ring on five: each node hears only its two neighbours, so most
/// pairs cannot talk directly, yet everyone's sends commit.
#[test]
fn a_majorities_ring_of_five_commits_every_nodes_sends() {
    let mut c = Cluster::new(5, 1);
    c.run_for(ms(500));
    for i in 0..5 {
        for far in [2, 3] {
            c.cut.insert((i, (i + far) % 5));
        }
    }
    c.run_for(ms(300));
    let ids: Vec<u64> = (0..5).map(|i| c.send(i, "r", &i.to_string())).collect();
    c.run_for(ms(2_000));
    for (i, id) in ids.iter().enumerate() {
        assert!(
            matches!(c.outcome(*id), Some(Ok(_))),
            "n{i}'s send: {:?}",
            c.outcome(*id)
        );
    }
    c.heal();
    c.run_for(ms(500));
    c.assert_one_leader_per_term();
    c.assert_logs_agree(&["r"]);
}

#[test]
fn a_partition_that_heals_during_an_election_still_ends_with_one_leader() {
    let mut c = Cluster::new(5, 5);
    c.run_for(ms(600));
    let old = c.leader().expect("a leader");
    let term = c.term_of(old);
    c.isolate(old);
    // Heal the moment some node stands for election in a later term.
    let mut stood = false;
    for _ in 0..3_000 {
        c.run_for(ms(1));
        if (0..5).any(|i| i != old && c.term_of(i) > term) {
            stood = true;
            break;
        }
    }
    assert!(
        stood,
        "nobody stood for election within 3 s of losing the leader"
    );
    c.heal();
    c.run_for(ms(2_000));
    c.assert_one_leader_per_term();
    let leader = c.leader().expect("a leader after the heal");
    assert!(c.term_of(leader) > term);
    let ids: Vec<u64> = (0..5).map(|i| c.send(i, "h", &i.to_string())).collect();
    c.run_for(ms(500));
    for id in &ids {
        assert!(matches!(c.outcome(*id), Some(Ok(_))));
    }
    c.assert_logs_agree(&["h"]);
}

#[test]
fn a_client_of_a_minority_node_gets_prompt_errors_for_the_whole_partition() {
    let mut c = Cluster::new(5, 1);
    c.split(&[0, 1], &[2, 3, 4]);
    let mut minority = Vec::new();
    let mut majority = Vec::new();
    for k in 0..40 {
        minority.push(c.send(0, "m", &format!("{k}")));
        majority.push(c.send(3, "m", &format!("{}", 1000 + k)));
        c.run_for(ms(100));
    }
    c.run_for(ms(1_000));
    for id in &minority {
        let outcome = c.outcome(*id).expect("every send is answered");
        assert!(
            matches!(
                outcome,
                Err(ErrorCode::TEMPORARILY_UNAVAILABLE | ErrorCode::CRASH)
            ),
            "{outcome:?}"
        );
        assert!(
            c.waited_us(*id).expect("answered") <= ms(1_000),
            "a minority send waited"
        );
    }
    // Once a leader exists on the majority side, its sends succeed.
    let late = &majority[10..];
    assert!(late.iter().all(|id| matches!(c.outcome(*id), Some(Ok(_)))));
    // The minority node answers polls from what it holds: nothing it could lose.
    assert!(c.log_of(0, "m").is_empty());

    c.heal();
    c.run_for(ms(2_000));
    c.assert_one_leader_per_term();
    c.assert_logs_agree(&["m"]);
    // A send refused with the definite 11 never appears.
    let log = c.log_of(0, "m");
    for (k, id) in minority.iter().enumerate() {
        if c.outcome(*id) == Some(Err(ErrorCode::TEMPORARILY_UNAVAILABLE)) {
            assert_eq!(
                count(&log, &k.to_string()),
                0,
                "refused send {k} was stored"
            );
        }
    }
}

#[test]
fn losing_a_whole_window_of_replication_packets_delays_sends_but_loses_none() {
    let mut c = Cluster::new(3, 1);
    c.run_for(ms(500));
    let leader = c.leader().expect("a leader");
    let follower = (leader + 1) % 3;
    let leader_id = c.ids[leader].clone();
    // Every packet the leader sends for the next 30 ms is lost.
    c.drop_if = Some(Box::new(move |m: &Message| {
        m.src == leader_id && matches!(m.body, Body::Sync(_))
    }));
    let ids = [c.send(leader, "w", "1"), c.send(follower, "w", "2")];
    c.run_for(ms(30));
    c.drop_if = None;
    c.run_for(ms(1_000));
    for id in ids {
        assert!(matches!(c.outcome(id), Some(Ok(_))), "{:?}", c.outcome(id));
        assert!(c.waited_us(id).expect("answered") < ms(1_000));
    }
    c.assert_logs_agree(&["w"]);
}

/// Five nodes under exponential latency with a 100 ms mean reorder nearly every pair of
/// packets, and Maelstrom's delivery order makes a slow packet hold up the rest; under
/// partitions on top, the full simulated test must stay valid, our stricter checks too.
#[test]
fn heavy_reordering_with_exponential_latency_stays_valid() {
    let options = Options {
        seed: 7,
        node_count: Some(5),
        concurrency: Concurrency::PerNode(2),
        time_limit_s: 10.0,
        rate: 200.0,
        latency_ms: 100,
        latency_dist: LatencyDist::Exponential,
        partition: true,
        nemesis_interval_s: 3.0,
        ..Options::default()
    };
    let outcome = run::run(&options, &server::real_node());
    let report = checker::check(&outcome.history);
    assert_eq!(
        report::verdict(&options, &outcome, &report, true),
        report::Verdict::Valid,
        "{report}\n{}",
        report::replay_command(&options)
    );
    let sends_ok = outcome
        .history
        .ops
        .iter()
        .filter(|o| {
            o.f == replicator_sim::history::F::Send && o.ty == replicator_sim::history::OpType::Ok
        })
        .count();
    assert!(sends_ok > 100, "only {sends_ok} sends succeeded");
}
