//! Replication: what a node does when it has peers. The design is written up in
//! `docs/replication.md`; this is its map.
//!
//! One replicated log orders every key's messages (Raft's log, [`journal`]), led by one
//! node per term, chosen by majority with pre-vote and check-quorum ([`election`]). A
//! client's send is appended by the leader, or forwarded to it by the node the client
//! talks to ([`sends`]), and acknowledged once a majority holds it; every node applies the
//! committed prefix to its own per-key logs and answers polls from them, so polls never
//! wait and never show what a new leader could drop. Committed consumer offsets are
//! max-registers ([`crate::offsets`]): a node raises its own and answers at once, then
//! passes what rose through the log so that every node raises its copy.
//!
//! Everything a node tells a peer travels in one packet per link per batching window
//! ([`outbox`], [`links`]), which also carries what the sender knows of every node's
//! progress (`facts`). Facts are true statements ("n2 held the leader's log up to 120 in
//! term 3"), so any node may pass them on, and any node may judge from them what a
//! majority holds. That is what lets the cluster work across one-way cuts: a follower
//! that hears no leader asks its peers to relay, and a follower the leader cannot hear
//! sends its news to everyone, who pass it on.
//!
//! Invariants (checked by [`Cluster::check_invariants`]):
//! - the commit index never decreases, and no committed entry changes;
//! - this node's fact is its own: its term is the current term, its match is at most the
//!   last index, and the leader's match is its last index;
//! - every outstanding send was numbered at this incarnation.

mod election;
mod journal;
mod links;
mod outbox;
mod recovery;
mod sends;
mod timing;

pub use timing::Timing;

use crate::ids::{Key, LogIndex, MsgId, NodeId, Offset, Term};
use crate::log::Logs;
use crate::node::Output;
use crate::offsets::Offsets;
use crate::protocol::{
    Body, Entry, ErrorCode, Forward, Message, Op, Origin, Payload, Sync, Vote, VoteReply,
};
use crate::rand::Rng;
use crate::time::Timestamp;
use election::{Election, Role, majority};
use journal::Journal;
use links::Link;
use recovery::{Answer, Joining, MAX_CANDIDACY_IN_ELECTIONS, Standing};
use sends::{Request, Sends};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// Elections in a row that lengthen the timeout: at most `2^BACKOFF_MAX` times.
const BACKOFF_MAX: u32 = 3;

/// A node's place in its cluster, for tests, tools and logs: read-only, and nothing a
/// client could observe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The node's current term.
    pub term: Term,
    /// Who it believes leads that term, if it knows.
    pub leader: Option<NodeId>,
    /// Whether it leads.
    pub is_leader: bool,
    /// Its commit index: the prefix of the replicated log it knows a majority holds.
    pub commit: LogIndex,
    /// The index of its last entry, committed or not.
    pub last: LogIndex,
    /// Whether it takes full part: false while it joins after starting, perhaps after a
    /// crash (see `cluster::recovery`).
    pub member: bool,
    /// Whom it voted for in its term, if anyone (itself when it stood, or when it joined
    /// after a restart in this term).
    pub voted_for: Option<NodeId>,
}

/// A candidate's claim to lead, in the order pre-votes prefer: the later last term, then
/// the longer log, then the lower node index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Claim(Term, LogIndex, Reverse<usize>);

/// What this node knows of one node's progress (see [`crate::protocol::Fact`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Progress {
    term: Term,
    matched: LogIndex,
    commit: LogIndex,
    hb: u64,
}

impl Progress {
    /// Takes a report about the same node: a later term replaces what we had, the same
    /// term raises it; a commit index is a fact whatever its term, so it only rises.
    fn merge(&mut self, other: Progress) -> bool {
        let before = *self;
        if other.term > self.term {
            *self = Progress {
                commit: self.commit.max(other.commit),
                ..other
            };
        } else {
            if other.term == self.term {
                self.matched = self.matched.max(other.matched);
                self.hb = self.hb.max(other.hb);
            }
            self.commit = self.commit.max(other.commit);
        }
        *self != before
    }
}

/// The replicating part of a node with at least one peer.
pub(crate) struct Cluster {
    me: usize,
    ids: Vec<NodeId>,
    index: BTreeMap<NodeId, usize>,
    /// The time this run of the node started (plus one, so never 0): names it in every
    /// packet and origin, and grows with every restart.
    incarnation: u64,
    /// Per node, the incarnation this node knows of (0 when none yet; ours at `me`).
    incs: Vec<u64>,
    /// Whether this node takes full part yet (see [`recovery`]).
    standing: Standing,
    /// When this node last stood for election: it counts votes for a bounded time.
    campaigned_at: Timestamp,
    /// Per node, whether its own packets say it is a member (ours at `me` unused).
    members: Vec<bool>,
    timing: Timing,
    rng: Rng,
    journal: Journal,
    election: Election,
    /// Per node (this one included), its progress as this node knows it.
    progress: Vec<Progress>,
    /// Per node, the link to it (this node's own slot unused).
    links: Vec<Link>,
    /// Per node, when what it holds for sure last grew, or our term began.
    moved_at: Vec<Timestamp>,
    sends: Sends,
    /// Other nodes' forwards to pass on to our leader.
    relay_forwards: Vec<Forward>,
    /// News about other nodes, heard from a peer that is not the leader, to pass on to
    /// the leader (which may not hear that peer).
    relay_facts: bool,
    /// The leader's last word on our heartbeat echo: how much of us it hears.
    echo_seen_by_leader: u64,
    /// When a packet last came straight from the leader of our term.
    leader_packet_at: Option<Timestamp>,
    /// When our copy of the leader's log last grew (or our term changed): a follower
    /// whose log stands still while the leader's is known to be longer is starved, and
    /// asks its peers to relay.
    grew_at: Timestamp,
    /// A follower answers the leader's latest packet at this time (see `outbox`).
    answer_at: Option<Timestamp>,
    /// Election messages passed on, `(term, is_reply, pre, from, candidate)`, and when:
    /// each at most once per heartbeat interval, the pace at which candidates ask again.
    /// Once per term would not do: pre-votes do not change the term, so a lost relay
    /// of a pre-vote request or grant would never go again, and a one-way ring with
    /// some loss could stay without a leader for as long as the cut lasts.
    relayed: BTreeMap<(Term, bool, bool, usize, usize), Timestamp>,
    /// When the node started: it cannot call itself cut off before it has had time to
    /// hear its peers.
    started: Timestamp,
    /// When a send last came while this node was cut off: it asks every peer for an
    /// answer at once, and refuses the send only if no answer changes its mind within a
    /// heartbeat interval. The network may have healed a moment ago, and the node's own
    /// keepalives are slow (swarm seed 101842: two nodes, a send 35 ms after the heal).
    probe_at: Option<Timestamp>,
    /// When this node last asked for (pre-)votes.
    asked_at: Timestamp,
    /// The pre-vote this node granted last, `(term, claim, when)`: for an election
    /// timeout it grants no other candidate's for that term unless the claim is better
    /// (its own pre-vote counts).
    pre_promise: Option<(Term, Claim, Timestamp)>,
    /// Elections in a row that this node stood in after winning its pre-vote, yet that
    /// produced no leader: they lengthen the next timeout (see `random_timeout`).
    backoff: u32,
    /// When the node next wants a tick.
    deadline: Option<Timestamp>,
    /// Whether anything that decides the commit index may have changed since it was
    /// last worked out (a packet, an append, a new term or role).
    commit_stale: bool,
    /// A buffer reused to work out the commit index.
    scratch: Vec<LogIndex>,
}

impl Cluster {
    /// A node `me` of the cluster `ids` (which holds it, at least one peer, and no
    /// duplicate), just initialised at `now`.
    pub(crate) fn new(
        me: usize,
        ids: Vec<NodeId>,
        seed: u64,
        timing: Timing,
        now: Timestamp,
    ) -> Cluster {
        let mut rng = Rng::new(seed);
        // The start time orders this node's runs; microseconds since 1970 stay below
        // 2^53 until the year 2255, so any JSON reader keeps them exact.
        let incarnation = now.0.saturating_add(1);
        let mut incs = vec![0; ids.len()];
        incs[me] = incarnation;
        // A joining node may count answers for recovery once every election its former
        // self could have voted in has stopped counting votes, with a heartbeat to spare.
        let read_from =
            now.add_micros(MAX_CANDIDACY_IN_ELECTIONS * timing.election_us + timing.heartbeat_us);
        // Nobody leads yet: the first node stands almost at once, the others only if it
        // does not, so a fresh cluster has a leader within a round trip.
        let first = if me == 0 {
            now.add_micros(timing.batch_us)
        } else {
            now.add_micros(timing.election_us + rng.below(timing.election_us / 2))
        };
        let n = ids.len();
        Cluster {
            me,
            index: ids.iter().cloned().zip(0..).collect(),
            incarnation,
            incs,
            standing: Standing::Joining(Box::new(Joining::new(ids.len(), read_from))),
            campaigned_at: now,
            members: vec![false; ids.len()],
            ids,
            timing,
            rng,
            journal: Journal::default(),
            election: Election::new(first),
            progress: vec![Progress::default(); n],
            links: (0..n).map(|_| Link::default()).collect(),
            moved_at: vec![now; n],
            sends: Sends::default(),
            relay_forwards: Vec::new(),
            relay_facts: false,
            echo_seen_by_leader: 0,
            leader_packet_at: None,
            grew_at: now,
            answer_at: None,
            relayed: BTreeMap::new(),
            started: now,
            probe_at: None,
            asked_at: now,
            pre_promise: None,
            backoff: 0,
            deadline: Some(first),
            commit_stale: false,
            scratch: Vec::new(),
        }
    }

    /// The peer named `id`, if it is one.
    pub(crate) fn peer(&self, id: &NodeId) -> Option<usize> {
        self.node(id).filter(|&i| i != self.me)
    }

    /// The node named `id`, if it is in the cluster.
    fn node(&self, id: &NodeId) -> Option<usize> {
        id.place_in(&self.ids, &self.index)
    }

    /// When the node next wants a tick.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.deadline
    }

    /// What this node is in the cluster now.
    pub(crate) fn status(&self) -> Status {
        Status {
            term: self.election.term,
            leader: self.election.leader.map(|l| self.ids[l].clone()),
            is_leader: self.election.is_leader(),
            commit: self.journal.commit(),
            last: self.journal.last(),
            member: self.is_member(),
            voted_for: self.election.voted_for.map(|v| self.ids[v].clone()),
        }
    }

    /// A short description of this node's role, for logs and `Debug`.
    pub(crate) fn describe(&self) -> String {
        let leader = self
            .election
            .leader
            .map_or("none", |l| self.ids[l].as_str());
        let joining = if self.is_member() { "" } else { "joining " };
        format!(
            "{joining}{:?} in term {}, leader {leader}, log {} committed of {}",
            self.election.role,
            self.election.term,
            self.journal.commit(),
            self.journal.last()
        )
    }

    fn majority(&self) -> usize {
        majority(self.ids.len())
    }

    /// How long a candidate counts votes.
    fn max_candidacy_us(&self) -> u64 {
        MAX_CANDIDACY_IN_ELECTIONS * self.timing.election_us
    }

    fn peers(&self) -> impl Iterator<Item = usize> + use<> {
        let me = self.me;
        (0..self.ids.len()).filter(move |&i| i != me)
    }

    /// When to stand for election if nothing is heard of a leader: uniformly within
    /// `[E, 2E)` of now, Raft's rule, where `E` doubles with every election this node
    /// stood in (having won its pre-vote) without a leader emerging, up to 8 times the
    /// configured timeout. The spread
    /// must exceed an election's two round trips (pre-vote, vote) for one candidate to
    /// finish before another starts, and a round trip is not known in advance: backing
    /// off finds one that works on any network, and a leader's first word resets it.
    fn random_timeout(&mut self, now: Timestamp) -> Timestamp {
        let e = self.timing.election_us << self.backoff.min(BACKOFF_MAX);
        now.add_micros(e + self.rng.below(e))
    }

    /// Whether this node is cut off: it has no live leader and has not heard from a
    /// majority (itself included) within the election timeout. A cut-off node answers
    /// sends at once, since none can be acknowledged; a node in touch with a majority
    /// keeps them while an election may still give it a leader.
    fn is_cut_off(&self, now: Timestamp) -> bool {
        let window = self.timing.election_us;
        if self.has_live_leader(now) || now < self.started.add_micros(window) {
            return false;
        }
        let heard = self
            .peers()
            .filter(|&p| {
                self.links[p]
                    .heard_at
                    .is_some_and(|t| now < t.add_micros(window))
            })
            .count();
        heard + 1 < self.majority()
    }

    fn has_live_leader(&self, now: Timestamp) -> bool {
        self.election.has_live_leader(now, self.timing.election_us)
    }

    /// The length of our log prefix known to equal the current leader's log: what we may
    /// hand on, and the most we may count as committed.
    fn verified(&self) -> LogIndex {
        if self.election.is_leader() {
            return self.journal.last();
        }
        self.progress[self.me].matched.max(self.journal.commit())
    }

    fn send(&self, to: usize, body: Body, out: &mut Vec<Output>) {
        out.push(Output::Send(Message {
            src: self.ids[self.me].clone(),
            dest: self.ids[to].clone(),
            body,
        }));
    }

    fn reply(&self, client: &NodeId, body: Body, out: &mut Vec<Output>) {
        out.push(Output::Send(Message {
            src: self.ids[self.me].clone(),
            dest: client.clone(),
            body,
        }));
    }

    fn log(&self, out: &mut Vec<Output>, text: String) {
        out.push(Output::Log(text));
    }

    fn origin(&self, seq: u64) -> Origin {
        Origin {
            node: self.ids[self.me].clone(),
            incarnation: self.incarnation,
            seq,
        }
    }

    /// Takes news of node `i`'s progress; true if it changed what we know. Notes when
    /// what `i` holds for sure grew, which tells whether it is starved (see `outbox`).
    fn learn(&mut self, i: usize, news: Progress, now: Timestamp) -> bool {
        let before = self.confirmed(i);
        let changed = self.progress[i].merge(news);
        if self.confirmed(i) > before {
            self.moved_at[i] = now;
        }
        changed
    }

    /// What node `i` holds of the current leader's log for sure: its match in this term,
    /// or its commit.
    fn confirmed(&self, i: usize) -> LogIndex {
        let Progress {
            term,
            matched,
            commit,
            ..
        } = self.progress[i];
        if term == self.election.term {
            matched.max(commit)
        } else {
            commit
        }
    }

    /// Enters a later term as a follower.
    fn adopt_term(&mut self, term: Term, now: Timestamp) {
        self.commit_stale = true;
        self.moved_at.iter_mut().for_each(|t| *t = now);
        self.election.adopt(term);
        self.progress[self.me] = Progress {
            term,
            matched: LogIndex(0),
            commit: self.journal.commit(),
            hb: 0,
        };
        self.echo_seen_by_leader = 0;
        self.leader_packet_at = None;
        self.answer_at = None;
        self.grew_at = now;
        self.election.timeout_at = self.random_timeout(now);
        self.relayed.retain(|&(t, ..), _| t >= term);
        self.on_new_term();
    }

    /// Meets incarnation `inc` of node `i`, later than the one we knew: what we knew of
    /// its former self (its progress, our link to it, its grant) is forgotten, since it
    /// forgot it too.
    fn met(&mut self, i: usize, inc: u64, now: Timestamp, out: &mut Vec<Output>) {
        let known = std::mem::replace(&mut self.incs[i], inc);
        if known == 0 {
            return;
        }
        self.log(
            out,
            format!("{} restarted (incarnation {inc}, was {known})", self.ids[i]),
        );
        self.progress[i] = Progress::default();
        self.links[i] = Link {
            heard_at: self.links[i].heard_at,
            ..Link::default()
        };
        self.moved_at[i] = now;
        self.members[i] = false;
        self.election.grants.remove(&i);
        self.commit_stale = true;
    }

    // ---- Client requests ----

    /// A client's `send`: appended if we lead, forwarded if we know a live leader, held
    /// for a while otherwise (spec: kafka.md 2.2); `expire_sends` answers the held ones
    /// that no leader comes for.
    pub(crate) fn on_send(
        &mut self,
        now: Timestamp,
        client: NodeId,
        msg_id: MsgId,
        key: Key,
        msg: Payload,
    ) {
        let request = Request {
            client,
            msg_id,
            op: Op::Send { key, msg },
            received: now,
        };
        if self.has_live_leader(now) {
            self.pass_on(request, now);
        } else {
            if self.is_cut_off(now)
                && self
                    .probe_at
                    .is_none_or(|t| now >= t.add_micros(self.timing.heartbeat_us))
            {
                self.probe_at = Some(now);
            }
            self.sends.held.push_back(request);
        }
    }

    /// Committed offsets this node has just raised and acknowledged: they go into the
    /// log (appended if we lead, forwarded otherwise, whenever a leader is known), so
    /// that every node comes to list them and a restarted node learns them back. A
    /// commit never waits for a majority (max-registers spread without blocking):
    /// raises commute, so its order in the log changes nothing, and a node's own
    /// answers never go back because it raised its own copy first. What that costs:
    /// a node that crashes before its commit has reached a majority loses it, and
    /// consumers re-read from the commit before (at least once, never a lost message);
    /// docs/replication.md weighs it.
    pub(crate) fn spread_commit(&mut self, now: Timestamp, offsets: Vec<(Key, Offset)>) {
        if self.election.is_leader() {
            if let Some(seq) = self.sends.commit(offsets, now, Some(now)) {
                let op = self.sends.outstanding[&seq].op.clone();
                let _ = self.append_op(op, self.origin(seq));
            }
        } else {
            self.sends.commit(offsets, now, None);
        }
    }

    /// Answers a send that went nowhere with the definite error 11.
    fn refuse(&self, request: &Request, out: &mut Vec<Output>) {
        let body = error(
            request.msg_id,
            ErrorCode::TEMPORARILY_UNAVAILABLE,
            "no leader is reachable; nothing was stored",
        );
        self.reply(&request.client, body, out);
    }

    /// Numbers a send and appends it (leader) or queues it for the leader.
    fn pass_on(&mut self, request: Request, now: Timestamp) {
        if self.election.is_leader() {
            let op = request.op.clone();
            let seq = self.sends.number(request, Some(now));
            let _ = self.append_op(op, self.origin(seq));
        } else {
            self.sends.number(request, None);
        }
    }

    /// The leader appends a request unless its log already holds it; true if it did.
    fn append_op(&mut self, op: Op, origin: Origin) -> bool {
        debug_assert!(self.election.is_leader());
        if self.journal.contains(&origin) {
            return false;
        }
        self.journal
            .append(Entry::of(self.election.term, op, origin));
        self.progress[self.me].matched = self.journal.last();
        self.commit_stale = true;
        true
    }

    // ---- Peer messages ----

    /// A `sync` from peer `from`.
    pub(crate) fn on_sync(
        &mut self,
        now: Timestamp,
        from: usize,
        sync: Sync,
        out: &mut Vec<Output>,
    ) {
        let Sync {
            inc,
            joining,
            ask,
            term,
            leader,
            hb,
            seq,
            got,
            facts,
            append,
            forwards,
            relay_me,
        } = sync;
        if inc < self.incs[from] {
            self.log(
                out,
                format!(
                    "ignored a sync from an earlier run of {} (incarnation {inc}, now {})",
                    self.ids[from], self.incs[from]
                ),
            );
            return;
        }
        if inc > self.incs[from] {
            self.met(from, inc, now, out);
        }
        self.links[from].received(seq);
        self.links[from].heard_at = Some(now);
        self.links[from].answer_due |= ask;
        if !joining && !self.members[from] {
            self.members[from] = true;
            self.stand_first(now);
        }
        self.commit_stale = true;
        let claims_lead = leader.as_ref() == Some(&self.ids[from]);
        // Any term seen, in the packet or in a fact it carries, that is later than ours
        // makes us a follower of that term (Raft's rule, applied to relayed news too).
        let seen = facts.iter().map(|f| f.term).fold(term, Term::max);
        if seen > self.election.term {
            self.adopt_term(seen, now);
        }
        let leader_is = self.election.leader;
        let (mut echo, mut leads_to) = (None, None);
        for (k, fact) in facts.iter().enumerate() {
            // Peers list facts in the cluster's order, so the k-th is nearly always
            // about node k: check that before searching.
            let i = if self.ids.get(k) == Some(&fact.node) {
                k
            } else {
                match self.node(&fact.node) {
                    Some(i) => i,
                    None => continue,
                }
            };
            if i == self.me {
                // News of a former self of ours is no news.
                if fact.inc == self.incarnation {
                    echo = Some(got);
                    if Some(from) == leader_is && term == self.election.term {
                        self.echo_seen_by_leader = self.echo_seen_by_leader.max(fact.hb);
                    }
                }
                continue;
            }
            // Nor is news of a former self of another node; news of a later one means
            // that node restarted.
            if fact.inc == 0 || fact.inc < self.incs[i] {
                continue;
            }
            if fact.inc > self.incs[i] {
                self.met(i, fact.inc, now, out);
            }
            if i == from && claims_lead {
                leads_to = Some(fact.matched);
            }
            let changed = self.learn(
                i,
                Progress {
                    term: fact.term,
                    matched: fact.matched,
                    commit: fact.commit,
                    hb: fact.hb,
                },
                now,
            );
            if changed && Some(from) != leader_is && Some(i) != leader_is {
                self.relay_facts = true;
            }
        }
        if !self.is_member() {
            let answer = Answer {
                term,
                member: !joining,
                echo,
                leads_to,
            };
            self.on_answer(from, answer, now, out);
        }
        if term < self.election.term {
            self.log(
                out,
                format!(
                    "ignored a sync from {} for stale term {term} (this node is in term {})",
                    self.ids[from], self.election.term
                ),
            );
            return;
        }
        // Same term from here on.
        let claimed = leader.as_ref().and_then(|l| self.node(l));
        if leader.is_some() && claimed.is_none() {
            self.log(
                out,
                format!(
                    "ignored a sync from {}: unknown leader {leader:?}",
                    self.ids[from]
                ),
            );
            return;
        }
        if claimed == Some(self.me) && !self.election.is_leader() {
            // We led this term and stepped down; news of our own leadership is old.
            return;
        }
        if let Some(l) = claimed {
            match self.election.leader {
                Some(known) if known != l => {
                    self.log(
                        out,
                        format!(
                            "ignored a sync from {}: it says {} leads term {term}, but {} does",
                            self.ids[from], self.ids[l], self.ids[known]
                        ),
                    );
                    return;
                }
                Some(_) => {}
                None => {
                    self.election.follow(l);
                    self.log(out, format!("follows {} in term {term}", self.ids[l]));
                    // Whatever was outstanding goes to the new leader at once.
                    for o in self.sends.outstanding.values_mut() {
                        o.sent_at = None;
                    }
                }
            }
        }
        if let Some(l) = claimed
            && !self.election.is_leader()
            && claimed == self.election.leader
        {
            if from == l {
                self.leader_packet_at = Some(now);
                if self.answer_at.is_none() {
                    self.answer_at = Some(now.add_micros(self.timing.batch_us / 2));
                }
            }
            if self.election.heard(hb, now) {
                self.backoff = 0;
                self.election.timeout_at = self.random_timeout(now);
                self.progress[self.me].hb = hb;
                if self.election.role == Role::PreCandidate {
                    // The leader lives after all.
                    self.election.role = Role::Follower;
                    self.election.grants.clear();
                }
            }
            if let Some(append) = append {
                let count = append.entries.len();
                match self
                    .journal
                    .accept(append.prev, append.prev_term, append.entries, term)
                {
                    Ok(accepted) => {
                        if accepted.matched > self.verified() {
                            self.grew_at = now;
                        }
                        let fact = Progress {
                            term,
                            matched: accepted.matched,
                            commit: LogIndex(0),
                            hb: 0,
                        };
                        self.progress[self.me].merge(fact);
                        self.learn(l, fact, now);
                        self.learn(from, fact, now);
                    }
                    Err(refusal) => self.log(
                        out,
                        format!(
                            "refused {count} entries after {} from {}: {refusal}",
                            append.prev, self.ids[from]
                        ),
                    ),
                }
            }
        }
        for forward in forwards {
            if self.election.is_leader() {
                let _ = self.append_op(forward.op, forward.origin);
            } else if self.has_live_leader(now)
                && forward.origin.node != self.ids[self.me]
                && !self.relay_forwards.contains(&forward)
            {
                self.relay_forwards.push(forward);
            }
        }
        if relay_me && Some(from) != self.election.leader && self.has_live_leader(now) {
            self.links[from].relay_until = Some(now.add_micros(2 * self.timing.suspect_us));
        }
    }

    /// A `vote` request from peer `from`.
    pub(crate) fn on_vote(
        &mut self,
        now: Timestamp,
        from: usize,
        vote: Vote,
        out: &mut Vec<Output>,
    ) {
        self.links[from].heard_at = Some(now);
        let Some(candidate) = self.node(&vote.candidate) else {
            self.log(
                out,
                format!(
                    "ignored a vote request for unknown candidate {}",
                    vote.candidate
                ),
            );
            return;
        };
        if candidate == self.me {
            return;
        }
        let live = self.has_live_leader(now);
        // Pass the request on once, unless we hear a leader: then we refuse it, and so,
        // most likely, do the others who hear the same leader.
        if !vote.relayed
            && !live
            && self.relay_due((vote.term, false, vote.pre, candidate, candidate), now)
        {
            let relayed = Vote {
                relayed: true,
                ..vote.clone()
            };
            for p in self.peers().filter(|&p| p != from && p != candidate) {
                self.send(p, Body::Vote(relayed.clone()), out);
            }
        }
        let up_to_date =
            (vote.last_term, vote.last_index) >= (self.journal.last_term(), self.journal.last());
        let granted = if vote.pre {
            // One candidate's pre-vote per term, first come, within an election timeout:
            // pre-votes bind nobody, so without this every node that times out at about
            // the same moment wins its pre-vote and the real vote splits.
            // A promise yields to a better claim (a longer log, or as long a log and a
            // lower id), so that of the candidates of one moment the best one wins
            // whenever it asks, and a pre-candidate that yields stops its own candidacy.
            // A pre-candidate's promise to itself lasts as long as its pre-candidacy
            // (up to two election timeouts), not one timeout: else, over a slow path (a
            // one-way ring's relays at 100 ms), it yields to a worse claim just before
            // its own grants come back, and the ring can go seconds without a leader.
            let theirs = Claim(vote.last_term, vote.last_index, Reverse(candidate));
            let standing = self.election.role == Role::PreCandidate;
            let promised = self.pre_promise.is_some_and(|(term, claim, at)| {
                let ours = standing && claim.2.0 == self.me;
                term == vote.term
                    && claim.2.0 != candidate
                    && (ours || now < at.add_micros(self.timing.election_us))
                    && theirs <= claim
            });
            let granted = !live
                && !promised
                && vote.term > self.election.term
                && up_to_date
                && self.is_member();
            if granted {
                let renewed = self
                    .pre_promise
                    .is_some_and(|(term, claim, _)| term == vote.term && claim == theirs);
                self.pre_promise = Some((vote.term, theirs, now));
                if self.election.role == Role::PreCandidate {
                    self.election.step_down();
                }
                // A node that has just promised its pre-vote to another candidate does
                // not stand itself for a fresh timeout, as a vote resets Raft's timer:
                // that candidate's election (a pre-vote and a vote, through relays
                // perhaps) is under way, and standing now would only collide with it.
                // Without this, nodes whose timers fire a moment after they granted
                // start rival pre-votes; the better claim wins each, so every such node
                // with a lower id restarts the round, and a majorities ring at 100 ms
                // spent most of a 2-second run in pre-votes. Only a new promise
                // postpones: a candidate that asks again (every heartbeat, or in a later
                // round of the same term) must not hold everyone else back for ever.
                if !renewed && self.election.role == Role::Follower {
                    let fresh = self.random_timeout(now);
                    self.election.timeout_at = self.election.timeout_at.max(fresh);
                }
            }
            granted
        } else {
            if live {
                false
            } else {
                if vote.term > self.election.term {
                    self.adopt_term(vote.term, now);
                }
                // A joining node may have voted in this term before it restarted.
                let granted = vote.term == self.election.term
                    && self.election.voted_for.is_none_or(|v| v == candidate)
                    && up_to_date
                    && self.is_member();
                if granted {
                    self.election.voted_for = Some(candidate);
                    self.election.timeout_at = self.random_timeout(now);
                }
                granted
            }
        };
        let reply = VoteReply {
            term: if granted {
                vote.term
            } else {
                self.election.term
            },
            voter: self.ids[self.me].clone(),
            candidate: vote.candidate,
            granted,
            pre: vote.pre,
            relayed: false,
        };
        // A grant also goes to every other peer, so that a peer that reaches the
        // candidate when we do not can pass it on.
        if granted {
            for p in self.peers() {
                self.send(p, Body::VoteReply(reply.clone()), out);
            }
        } else {
            self.send(candidate, Body::VoteReply(reply), out);
        }
    }

    /// A `vote_reply` from peer `from`.
    pub(crate) fn on_vote_reply(
        &mut self,
        now: Timestamp,
        from: usize,
        reply: VoteReply,
        out: &mut Vec<Output>,
    ) {
        self.links[from].heard_at = Some(now);
        let (Some(voter), Some(candidate)) = (self.node(&reply.voter), self.node(&reply.candidate))
        else {
            self.log(
                out,
                format!(
                    "ignored a vote reply from {} naming unknown nodes",
                    self.ids[from]
                ),
            );
            return;
        };
        if candidate != self.me {
            if !reply.relayed
                && reply.granted
                && self.relay_due((reply.term, true, reply.pre, voter, candidate), now)
            {
                let relayed = VoteReply {
                    relayed: true,
                    ..reply
                };
                self.send(candidate, Body::VoteReply(relayed), out);
            }
            return;
        }
        if !reply.granted {
            if reply.term > self.election.term {
                self.adopt_term(reply.term, now);
            }
            return;
        }
        let term = self.election.term;
        let counts = match self.election.role {
            Role::PreCandidate => reply.pre && reply.term == Term(term.0 + 1),
            // A candidacy counts votes for a bounded time (see `recovery`).
            Role::Candidate => {
                !reply.pre
                    && reply.term == term
                    && now < self.campaigned_at.add_micros(self.max_candidacy_us())
            }
            _ => false,
        };
        if !counts {
            return;
        }
        self.election.grants.insert(voter);
        if self.election.grants.len() >= self.majority() {
            match self.election.role {
                Role::PreCandidate => self.campaign(now, out),
                Role::Candidate => self.lead(now, out),
                _ => {}
            }
        }
    }

    // ---- Elections ----

    /// Whether an election message may be relayed now (see `relayed`); notes it if so.
    fn relay_due(&mut self, key: (Term, bool, bool, usize, usize), now: Timestamp) -> bool {
        let again = self.timing.heartbeat_us;
        match self.relayed.get(&key) {
            Some(&at) if now < at.add_micros(again) => false,
            _ => {
                self.relayed.insert(key, now);
                true
            }
        }
    }

    /// Asks every peer whether it would vote for us in the next term.
    fn pre_vote(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        // The leader's name stays: peers that still name it are no news, and must not
        // end the pre-vote (they would, every time, after a leader crashed); only a
        // heartbeat count that rises does.
        self.election.grants = BTreeSet::from([self.me]);
        // A candidate that won its pre-vote, so reaches a majority, and still timed out
        // met a rival or a slow network: it waits longer next time. A node that could
        // not win a pre-vote is only cut off, and keeps its pace.
        if self.election.role == Role::Candidate {
            self.backoff += 1;
        }
        self.election.role = Role::PreCandidate;
        self.election.timeout_at = self.random_timeout(now);
        let term = Term(self.election.term.0 + 1);
        let claim = Claim(
            self.journal.last_term(),
            self.journal.last(),
            Reverse(self.me),
        );
        self.pre_promise = Some((term, claim, now));
        self.ask_for_votes(now, out);
    }

    /// Sends our (pre-)vote request to every peer that has not granted it. Asked again
    /// every heartbeat interval while the election lasts: a lost request or grant would
    /// otherwise cost a whole election timeout (voters answer a repeated request alike).
    fn ask_for_votes(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        let pre = self.election.role == Role::PreCandidate;
        let term = if pre {
            Term(self.election.term.0 + 1)
        } else {
            self.election.term
        };
        let vote = Vote {
            term,
            candidate: self.ids[self.me].clone(),
            last_index: self.journal.last(),
            last_term: self.journal.last_term(),
            pre,
            relayed: false,
        };
        self.asked_at = now;
        for p in self.peers() {
            if !self.election.grants.contains(&p) {
                self.send(p, Body::Vote(vote.clone()), out);
            }
        }
    }

    /// Stands for election in the next term.
    fn campaign(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        let term = Term(self.election.term.0 + 1);
        self.adopt_term(term, now);
        self.campaigned_at = now;
        self.election.timeout_at = self
            .election
            .timeout_at
            .min(now.add_micros(self.max_candidacy_us()));
        self.election.role = Role::Candidate;
        self.election.voted_for = Some(self.me);
        self.election.grants = BTreeSet::from([self.me]);
        self.log(out, format!("stands for election in term {term}"));
        self.ask_for_votes(now, out);
    }

    /// Leads the current term: a no-op first, so that what earlier terms left commits
    /// with it (Raft §5.4.2), then every send of our own clients that is not in the log.
    fn lead(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        self.election.lead(self.me, now, self.timing.heartbeat_us);
        self.backoff = 0;
        self.log(out, format!("leads term {}", self.election.term));
        self.commit_stale = true;
        self.journal.append(Entry::Noop {
            term: self.election.term,
        });
        self.progress[self.me] = Progress {
            term: self.election.term,
            matched: self.journal.last(),
            commit: self.journal.commit(),
            hb: self.election.hb,
        };
        for link in &mut self.links {
            link.sent_upto = LogIndex(0);
        }
        let own: Vec<(u64, Op)> = self
            .sends
            .outstanding
            .iter()
            .map(|(&seq, o)| (seq, o.op.clone()))
            .collect();
        self.sends.close_commit();
        for (seq, op) in own {
            let _ = self.append_op(op, self.origin(seq));
        }
    }

    // ---- Time ----

    /// Everything that is due at `now`, after any input: timers, commits and the answers
    /// they bring, and packets to peers.
    pub(crate) fn tick(
        &mut self,
        now: Timestamp,
        logs: &mut Logs,
        offsets: &mut Offsets,
        out: &mut Vec<Output>,
    ) {
        if self.election.is_leader() {
            if now >= self.election.next_hb_at {
                self.election
                    .beat(now, self.timing.heartbeat_us, 2 * self.timing.election_us);
                self.progress[self.me].hb = self.election.hb;
                self.check_quorum(now, out);
            }
        } else if now >= self.election.timeout_at && self.is_member() {
            self.pre_vote(now, out);
        } else if matches!(self.election.role, Role::PreCandidate | Role::Candidate)
            && now >= self.asked_at.add_micros(self.timing.heartbeat_us)
        {
            self.ask_for_votes(now, out);
        }
        if self.has_live_leader(now) {
            while let Some(request) = self.sends.held.pop_front() {
                self.pass_on(request, now);
            }
        }
        self.advance_commit(logs, offsets, out);
        self.try_join(now, out);
        self.expire_sends(now, out);
        self.flush(now, logs, out);
    }

    /// A leader that has not heard a majority echo a recent heartbeat steps down, so
    /// that the majority can elect one it hears (Raft's check-quorum).
    fn check_quorum(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        // Two election timeouts, not one: Maelstrom's receivers take one message at a
        // time and wait out each one's latency, so one slow message stalls a follower's
        // whole inbox, and with exponential latency of mean 100 ms a stall of half a
        // second comes every few seconds. A leader that gave up after one timeout
        // would step down that often; one that waits two still leaves a minority well
        // before the majority's new leader has been elected for long.
        let window = 2 * self.timing.election_us;
        // Followers learn of a new leader through its first packets, relayed perhaps,
        // and answer: give them that long before the first count.
        if now < self.election.leader_since.add_micros(window) {
            return;
        }
        let term = self.election.term;
        let heard = self
            .peers()
            .filter(|&p| {
                let fact = self.progress[p];
                fact.term == term
                    && self
                        .election
                        .issued_at(fact.hb)
                        .is_some_and(|at| at.add_micros(window) >= now)
            })
            .count();
        if heard + 1 < self.majority() {
            self.election.step_down();
            // The timeout drawn when this term began has long passed: without a fresh one
            // the node would have no deadline and stand again only when some input came.
            self.election.timeout_at = self.random_timeout(now);
            self.log(
                out,
                format!("steps down in term {term}: heard from {heard} peers lately, fewer than a majority needs"),
            );
        }
    }

    /// Commits what a majority holds, by counting the facts of the current term (only
    /// entries of the current term are committed by counting, Raft §5.4.2), and what any
    /// node reports committed, up to what we hold of the leader's log; applies it, and
    /// answers the clients whose sends it holds.
    fn advance_commit(&mut self, logs: &mut Logs, offsets: &mut Offsets, out: &mut Vec<Output>) {
        if !std::mem::take(&mut self.commit_stale) {
            return;
        }
        let term = self.election.term;
        let verified = self.verified();
        let mut target = self.journal.commit();
        let mut matched = std::mem::take(&mut self.scratch);
        matched.clear();
        matched.extend(
            self.progress
                .iter()
                .enumerate()
                .filter(|&(i, p)| i != self.me && p.term == term)
                .map(|(_, p)| p.matched),
        );
        matched.push(verified);
        let need = self.majority();
        if matched.len() >= need {
            matched.sort_unstable_by(|a, b| b.cmp(a));
            let held = matched[need - 1].min(verified);
            if held > target && self.journal.term_at(held) == Some(term) {
                target = held;
            }
        }
        self.scratch = matched;
        let reported = self
            .progress
            .iter()
            .map(|p| p.commit)
            .max()
            .unwrap_or_default();
        target = target.max(reported.min(verified));
        if target <= self.journal.commit() {
            return;
        }
        let me = (&self.ids[self.me], self.incarnation);
        let duplicates = self.journal.duplicates_applied();
        let applied = self.journal.commit_to(target, logs, offsets, (me.0, me.1));
        if self.journal.duplicates_applied() > duplicates {
            self.log(
                out,
                "applied a send twice: a peer broke the protocol".into(),
            );
        }
        self.progress[self.me].commit = self.journal.commit();
        for a in applied {
            let Some(o) = self.sends.outstanding.remove(&a.seq) else {
                continue;
            };
            // A commit was answered when it came; a send may have had its 13.
            let Some((client, in_reply_to)) = o.asker else {
                continue;
            };
            let body = match a.offset {
                Some(offset) => Body::SendOk {
                    in_reply_to,
                    offset,
                },
                // Only a peer that forges this node's origins can put a commit in the
                // log under a send's name; the send may or may not be stored.
                None => error(
                    in_reply_to,
                    ErrorCode::CRASH,
                    "a peer logged another request under this send's name; it may or may not be stored",
                ),
            };
            self.reply(&client, body, out);
        }
    }

    /// How long a send is held for a leader: while this node is cut off, only the
    /// heartbeat interval its question to every peer has to be answered in.
    fn hold_us(&self, cut_off: bool) -> u64 {
        if cut_off {
            self.timing.heartbeat_us
        } else {
            self.timing.hold_us
        }
    }

    /// Answers sends that waited too long, or soon when this node is cut off: held ones
    /// with the definite 11 (they went nowhere), outstanding ones (at once) with the
    /// indefinite 13. Outstanding sends are kept and retried: they may still commit, and
    /// must not commit twice.
    fn expire_sends(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        let cut_off = self.is_cut_off(now);
        while let Some(request) = self.sends.held.front() {
            if now < request.received.add_micros(self.hold_us(cut_off)) {
                break;
            }
            let request = self.sends.held.pop_front().expect("front exists");
            self.refuse(&request, out);
        }
        let deadline = self.timing.send_deadline_us;
        let mut answers = Vec::new();
        for o in self.sends.outstanding.values_mut() {
            if cut_off || now >= o.received.add_micros(deadline) {
                answers.extend(o.asker.take());
            }
        }
        for (client, msg_id) in answers {
            let body = error(
                msg_id,
                ErrorCode::CRASH,
                "the request went to a leader but is not yet committed; it may still be",
            );
            self.reply(&client, body, out);
        }
    }

    /// Panics if an invariant is broken.
    pub(crate) fn check_invariants(&self) {
        self.journal.check_invariants();
        self.election.check_invariants(self.me);
        self.sends.check_invariants();
        let own = self.progress[self.me];
        assert_eq!(
            own.term, self.election.term,
            "our fact is from another term"
        );
        assert!(
            own.matched <= self.journal.last(),
            "we claim entries we lack"
        );
        assert_eq!(
            own.commit,
            self.journal.commit(),
            "our fact misstates our commit"
        );
        if self.election.is_leader() {
            assert_eq!(
                own.matched,
                self.journal.last(),
                "a leader's match is its log"
            );
        }
        assert!(
            self.journal.commit() <= self.verified(),
            "committed past what we hold"
        );
    }
}

fn error(in_reply_to: MsgId, code: ErrorCode, text: &str) -> Body {
    Body::Error {
        in_reply_to,
        code,
        text: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node `me` of an `n`-node cluster that has joined and heard no leader.
    fn member(me: usize, n: usize) -> Cluster {
        let ids = (0..n).map(|i| NodeId::new(&format!("n{i}"))).collect();
        let mut c = Cluster::new(me, ids, 7, Timing::default(), Timestamp::ZERO);
        c.standing = Standing::Member;
        c
    }

    fn pre_vote(candidate: &str) -> Vote {
        Vote {
            term: Term(1),
            candidate: NodeId::new(candidate),
            last_index: LogIndex(0),
            last_term: Term(0),
            pre: true,
            relayed: false,
        }
    }

    fn granted(out: &[Output]) -> bool {
        out.iter().any(
            |o| matches!(o, Output::Send(Message { body: Body::VoteReply(r), .. }) if r.granted),
        )
    }

    #[test]
    fn a_node_that_promises_its_pre_vote_stands_only_a_fresh_timeout_later() {
        let ms = Timestamp::from_millis;
        let election_us = Timing::default().election_us;
        let mut c = member(2, 5);
        let mut out = Vec::new();
        c.on_vote(ms(400), 4, pre_vote("n4"), &mut out);
        assert!(granted(&out));
        let postponed = c.election.timeout_at;
        assert!(
            postponed >= ms(400).add_micros(election_us),
            "a new promise postpones our own candidacy"
        );

        out.clear();
        c.on_vote(ms(450), 4, pre_vote("n4"), &mut out);
        assert!(granted(&out), "the same candidate asking again is granted");
        assert_eq!(
            c.election.timeout_at, postponed,
            "a candidate that asks again does not postpone us again"
        );

        out.clear();
        c.on_vote(ms(1_200), 1, pre_vote("n1"), &mut out);
        assert!(granted(&out), "a better claim is granted");
        assert!(
            c.election.timeout_at >= ms(1_200).add_micros(election_us),
            "a promise to another candidate postpones us again"
        );
        c.check_invariants();
    }
}
