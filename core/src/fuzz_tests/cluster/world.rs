//! The plausible peers of [`super`]'s node: a small Raft without timers, whose every move
//! the fuzzer makes, so that the node under test meets a cluster that elects leaders,
//! replicates a consistent log and commits it, and the node's own sends come back to it
//! as committed entries.
//!
//! Each fake peer keeps Raft's state (term, vote, log, commit) and obeys Raft's rules: one
//! vote per term, votes only for a log at least as up to date, appends only after a
//! matching entry, never a committed entry rewritten. Fake peers talk to each other
//! instantly and without loss (their own network is not under test); with the node they
//! talk through two queues the fuzzer drains, drops, reorders and duplicates.
//!
//! A fake leader replicates its whole log to every fake peer of its term at once, so its
//! peers make a majority without the node (a cluster of 3 or 5 has at least 2 or 4 fake
//! peers) and it commits whatever it appends; the node counts when it leads, and its
//! followers acknowledge what it sends. A fake leader appends each forwarded send once,
//! by origin, over its whole log, as a real leader must: only then does a send commit
//! once.
//!
//! What the world learns of the node comes from the node's own packets, so fake peers
//! never know more than a real peer that received them could.
//!
//! Crash recovery (`cluster::recovery`): every fake peer is a member with its own
//! incarnation (`1000 +` its index), named in its packets and in its facts; it learns the
//! node's incarnation from the node's packets, and every packet it sends carries a fact
//! about the node with that incarnation and `got` echoing the node's packets, so each one
//! answers the node's question as a real peer's would. While no fake peer has stood,
//! their answers are at term 0 and the node joins at genesis; once one has, the node
//! recovers: it reads the highest term from the fake peers' answers and catches up with
//! that term's fake leader. Commits of offsets are log entries, like sends, and a fake
//! leader appends a forwarded commit once by origin, as it does a send.

use crate::ids::{Key, LogIndex, NodeId, Offset, Term};
use crate::protocol::VoteReply;
use crate::protocol::{
    Append, Body, Entry, Fact, Forward, Message, Op, Origin, Payload, Sync, Vote,
};
use std::collections::{BTreeSet, VecDeque};

/// The most messages a queue holds; older ones are lost, as a network loses them.
const QUEUE_MAX: usize = 64;

/// Where a fake leader's append to the node starts.
#[derive(Clone, Copy, Debug, bolero::TypeGenerator)]
pub(super) enum PrevChoice {
    /// After what the node reported holding in the leader's term (a real leader's
    /// choice once the node has answered).
    NodeMatch,
    /// From the start: the whole log.
    Zero,
    /// This many entries before the end of the log.
    Back(#[generator(0..8u8)] u8),
}

/// One fake peer's Raft state.
#[derive(Clone, Debug)]
struct Peer {
    id: NodeId,
    term: Term,
    voted_for: Option<usize>,
    /// Who leads `term`, when known (the peer itself when it leads).
    leader: Option<usize>,
    log: Vec<Entry>,
    commit: u64,
    /// The prefix of `log` known to equal the log of `term`'s leader.
    matched: u64,
    /// As leader, its heartbeat count; otherwise the highest count heard of its leader.
    hb: u64,
    /// Packets sent to the node, and the highest packet number heard from it.
    seq: u64,
    got: u64,
    /// An election in progress: whether it is a pre-vote, and who granted it.
    candidacy: Option<(bool, BTreeSet<usize>)>,
    /// As leader: what the node last reported holding in this term, and the heartbeat
    /// count it last echoed.
    node_match: u64,
    node_hb: u64,
    /// Names this peer in its packets and facts, and its own clients' requests.
    incarnation: u64,
    next_send: u64,
    /// The node's incarnation as this peer heard it (0 until it hears the node), and the
    /// node's own fact from its latest packet here: what this peer's facts say of it.
    node_inc: u64,
    node_fact: Option<Fact>,
}

impl Peer {
    fn last_term(&self) -> Term {
        self.log.last().map_or(Term(0), Entry::term)
    }

    fn term_at(&self, index: u64) -> Option<Term> {
        match index {
            0 => Some(Term(0)),
            i => self.log.get(i as usize - 1).map(Entry::term),
        }
    }

    fn adopt(&mut self, term: Term) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.leader = None;
            self.matched = 0;
            self.candidacy = None;
            self.hb = 0;
            self.node_match = 0;
            self.node_hb = 0;
        }
    }

    fn is_leader(&self, me: usize) -> bool {
        self.leader == Some(me)
    }

    /// Raft's append rule; the new match, or `None` when refused. A committed entry is
    /// never rewritten: an append that would is refused whole.
    fn accept(&mut self, prev: u64, prev_term: Term, entries: &[Entry]) -> Option<u64> {
        if self.term_at(prev) != Some(prev_term) {
            return None;
        }
        let mut cut = None;
        for (k, entry) in entries.iter().enumerate() {
            let index = prev + 1 + k as u64;
            match self.term_at(index) {
                Some(t) if t == entry.term() => continue,
                Some(_) if index <= self.commit => return None,
                _ => {
                    cut = Some(k);
                    break;
                }
            }
        }
        if let Some(k) = cut {
            self.log.truncate((prev + k as u64) as usize);
            self.log.extend(entries[k..].iter().cloned());
        }
        Some(prev + entries.len() as u64)
    }

    /// Whether the log holds the request named `origin`.
    fn holds(&self, origin: &Origin) -> bool {
        self.log.iter().any(|e| e.origin() == Some(origin))
    }

    /// A fact about the node as this peer knows it: the node's incarnation as heard, so
    /// that the packet carrying it answers the node's question.
    fn fact_about_node(&self, node: &NodeId) -> Fact {
        let heard = self.node_fact.clone();
        Fact {
            node: node.clone(),
            inc: self.node_inc,
            ..heard.unwrap_or(Fact {
                node: node.clone(),
                inc: 0,
                term: Term(0),
                matched: LogIndex(0),
                commit: LogIndex(0),
                hb: 0,
            })
        }
    }
}

/// The fake peers, and the messages on their way between them and the node.
pub(super) struct World {
    /// Every server in `init`'s order, the node included.
    ids: Vec<NodeId>,
    /// The node's index in `ids`.
    me: usize,
    /// Per cluster index, the fake peer there (`None` at the node's own index).
    peers: Vec<Option<Peer>>,
    /// Per cluster index, what the node sent that peer, not yet delivered.
    to_peer: Vec<VecDeque<Body>>,
    /// What fake peers sent the node, not yet delivered.
    to_node: VecDeque<Message>,
    /// The highest term the node has shown in its packets.
    node_term: Term,
}

/// The incarnation of the fake peer at cluster index `i`.
pub(super) fn incarnation(i: usize) -> u64 {
    1_000 + i as u64
}

impl World {
    pub(super) fn new(ids: Vec<NodeId>, me: usize) -> World {
        let peers = (0..ids.len())
            .map(|i| {
                (i != me).then(|| Peer {
                    id: ids[i].clone(),
                    term: Term(0),
                    voted_for: None,
                    leader: None,
                    log: Vec::new(),
                    commit: 0,
                    matched: 0,
                    hb: 0,
                    seq: 0,
                    got: 0,
                    candidacy: None,
                    node_match: 0,
                    node_hb: 0,
                    incarnation: incarnation(i),
                    next_send: 0,
                    node_inc: 0,
                    node_fact: None,
                })
            })
            .collect();
        World {
            to_peer: vec![VecDeque::new(); ids.len()],
            ids,
            me,
            peers,
            to_node: VecDeque::new(),
            node_term: Term(0),
        }
    }

    fn majority(&self) -> usize {
        self.ids.len() / 2 + 1
    }

    /// The cluster index of the fake peer the fuzzer's `pick` names.
    pub(super) fn peer_index(&self, pick: u8) -> usize {
        let others: Vec<usize> = (0..self.ids.len()).filter(|&i| i != self.me).collect();
        others[usize::from(pick) % others.len()]
    }

    fn peer(&mut self, i: usize) -> &mut Peer {
        self.peers[i].as_mut().expect("a fake peer's index")
    }

    /// The fake leader of the highest term, if any fake peer leads.
    fn leader(&self) -> Option<usize> {
        self.peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().filter(|p| p.is_leader(i)).map(|p| (p.term, i)))
            .max()
            .map(|(_, i)| i)
    }

    /// Takes the `pick`-th message waiting for the node (modulo how many wait), or a copy
    /// of it when `duplicate`.
    pub(super) fn take_mail(&mut self, pick: u8, duplicate: bool) -> Option<Message> {
        if self.to_node.is_empty() {
            return None;
        }
        let at = usize::from(pick) % self.to_node.len();
        if duplicate {
            self.to_node.get(at).cloned()
        } else {
            self.to_node.remove(at)
        }
    }

    fn mail(&mut self, from: usize, body: Body) {
        if self.to_node.len() == QUEUE_MAX {
            self.to_node.pop_front();
        }
        self.to_node.push_back(Message {
            src: self.ids[from].clone(),
            dest: self.ids[self.me].clone(),
            body,
        });
    }

    /// A message the node sent to fake peer `to`, queued for delivery; the world also
    /// learns the node's term from it.
    pub(super) fn post(&mut self, to: usize, body: Body) {
        let term = match &body {
            Body::Sync(s) => s.term,
            Body::Vote(v) if !v.pre && !v.relayed => v.term,
            _ => Term(0),
        };
        self.node_term = self.node_term.max(term);
        let queue = &mut self.to_peer[to];
        if queue.len() == QUEUE_MAX {
            queue.pop_front();
        }
        queue.push_back(body);
    }

    /// Delivers (or, with `drop`, loses) everything the node sent fake peer `to`.
    pub(super) fn deliver(&mut self, to: usize, drop: bool) {
        let bodies: Vec<Body> = self.to_peer[to].drain(..).collect();
        if drop {
            return;
        }
        for body in bodies {
            match body {
                Body::Vote(vote) => self.on_vote(to, vote),
                Body::VoteReply(reply) => self.on_vote_reply(to, reply),
                Body::Sync(sync) => self.on_sync(to, *sync),
                // Anything else to a peer is the checker's business, not the world's.
                _ => {}
            }
        }
    }

    /// Delivers everything the node sent to every fake peer.
    pub(super) fn deliver_all(&mut self) {
        for to in 0..self.ids.len() {
            if to != self.me {
                self.deliver(to, false);
            }
        }
    }

    /// Fake peer `p` evaluates a vote request for `candidate`: Raft's rules, with the
    /// lease of pre-vote and check-quorum (a peer that knows a leader of its term refuses).
    fn grants(&mut self, p: usize, vote: &Vote, candidate: usize) -> bool {
        let peer = self.peer(p);
        let up_to_date =
            (vote.last_term, vote.last_index.0) >= (peer.last_term(), peer.log.len() as u64);
        // As the node does: a peer that knows a leader refuses (pre-)votes, without
        // taking the candidate's term.
        if peer.leader.is_some() {
            return false;
        }
        if vote.pre {
            return vote.term > peer.term && up_to_date;
        }
        peer.adopt(vote.term);
        let granted =
            vote.term == peer.term && peer.voted_for.is_none_or(|v| v == candidate) && up_to_date;
        if granted {
            peer.voted_for = Some(candidate);
        }
        granted
    }

    fn on_vote(&mut self, p: usize, vote: Vote) {
        let Some(candidate) = self.ids.iter().position(|id| *id == vote.candidate) else {
            return;
        };
        if candidate == p {
            return;
        }
        let granted = self.grants(p, &vote, candidate);
        let peer = self.peer(p);
        let reply = VoteReply {
            term: if granted { vote.term } else { peer.term },
            voter: peer.id.clone(),
            candidate: vote.candidate.clone(),
            granted,
            pre: vote.pre,
            relayed: false,
        };
        if candidate == self.me {
            self.mail(p, Body::VoteReply(reply));
        } else {
            self.on_vote_reply(candidate, reply);
        }
    }

    /// A vote reply reaches fake peer `p`: counted if it answers `p`'s own election.
    fn on_vote_reply(&mut self, p: usize, reply: VoteReply) {
        let Some(voter) = self.ids.iter().position(|id| *id == reply.voter) else {
            return;
        };
        let majority = self.majority();
        let peer = self.peer(p);
        if reply.candidate != peer.id {
            return;
        }
        if !reply.granted {
            peer.adopt(reply.term);
            return;
        }
        let term = peer.term;
        let Some((pre, grants)) = &mut peer.candidacy else {
            return;
        };
        let pre = *pre;
        let counts = if pre {
            reply.pre && reply.term == Term(term.0 + 1)
        } else {
            !reply.pre && reply.term == term
        };
        if !counts {
            return;
        }
        grants.insert(voter);
        if grants.len() >= majority {
            if pre {
                self.stand(p);
            } else {
                self.lead(p);
            }
        }
    }

    fn on_sync(&mut self, p: usize, sync: Sync) {
        let me = self.me;
        let node = self.ids[me].clone();
        let peer = self.peer(p);
        if sync.inc > peer.node_inc {
            // A new run of the node: its link starts again.
            peer.node_inc = sync.inc;
            peer.got = 0;
            peer.node_match = 0;
            peer.node_hb = 0;
        }
        peer.got = peer.got.max(sync.seq);
        if let Some(own) = sync.facts.iter().find(|f| f.node == node) {
            peer.node_fact = Some(own.clone());
        }
        peer.adopt(sync.term);
        if sync.term < peer.term {
            // A real peer's next packet would teach the node the later term.
            self.status(p);
            return;
        }
        let leader = sync
            .leader
            .as_ref()
            .and_then(|l| self.ids.iter().position(|id| id == l));
        let peer = self.peer(p);
        if peer.is_leader(p) {
            // The node follows us: its fact is its acknowledgement, its forwards are
            // sends for our log.
            if let Some(fact) = sync.facts.iter().find(|f| f.node == node) {
                if fact.term == peer.term {
                    peer.node_match = peer.node_match.max(fact.matched.0);
                    peer.node_hb = peer.node_hb.max(fact.hb);
                }
            }
            self.append_forwards(p, sync.forwards);
            self.replicate(p);
            let body = self.leader_packet(p, PrevChoice::NodeMatch);
            self.mail(p, body);
            return;
        }
        if leader == Some(me) && peer.leader.is_none_or(|l| l == me) {
            peer.leader = Some(me);
            peer.candidacy = None;
            peer.hb = peer.hb.max(sync.hb);
            if let Some(append) = &sync.append {
                if let Some(matched) = peer.accept(append.prev.0, append.prev_term, &append.entries)
                {
                    peer.matched = peer.matched.max(matched);
                }
            }
            let node_commit = sync
                .facts
                .iter()
                .find(|f| f.node == node)
                .map_or(0, |f| f.commit.0);
            peer.commit = peer.commit.max(node_commit.min(peer.matched));
        } else if let Some(l) = peer.leader.filter(|&l| l != me) {
            // A follower of a fake leader hands the node's forwards on to it.
            self.append_forwards(l, sync.forwards);
            self.replicate(l);
        }
        self.status(p);
    }

    /// The leader `l` appends the forwarded requests its log lacks.
    fn append_forwards(&mut self, l: usize, forwards: Vec<Forward>) {
        let peer = self.peer(l);
        if !peer.is_leader(l) {
            return;
        }
        for f in forwards {
            if !peer.holds(&f.origin) {
                let term = peer.term;
                peer.log.push(Entry::of(term, f.op, f.origin));
            }
        }
    }

    /// The leader `l` copies its log to every fake peer that accepts it, and commits what
    /// a majority holds (an entry of its own term, Raft §5.4.2).
    fn replicate(&mut self, l: usize) {
        let majority = self.majority();
        let leader = self.peer(l);
        if !leader.is_leader(l) {
            return;
        }
        leader.matched = leader.log.len() as u64;
        let leader = leader.clone();
        let follows =
            |i: usize, peer: &Peer| i == l || (peer.term == leader.term && peer.leader == Some(l));
        for (i, slot) in self.peers.iter_mut().enumerate() {
            let Some(peer) = slot.as_mut() else { continue };
            let joins = peer.term < leader.term
                || (peer.term == leader.term && peer.leader.is_none_or(|x| x == l));
            if i == l || !joins {
                continue;
            }
            peer.adopt(leader.term);
            peer.leader = Some(l);
            peer.candidacy = None;
            peer.hb = peer.hb.max(leader.hb);
            if let Some(matched) = peer.accept(0, Term(0), &leader.log) {
                peer.matched = matched;
            }
        }
        let holders = |index: u64| {
            let fakes = self
                .peers
                .iter()
                .enumerate()
                .filter(|&(i, p)| {
                    p.as_ref()
                        .is_some_and(|p| follows(i, p) && p.matched >= index)
                })
                .count();
            fakes + usize::from(leader.node_match >= index)
        };
        let commit = (leader.commit + 1..=leader.matched)
            .rev()
            .find(|&i| leader.log[i as usize - 1].term() == leader.term && holders(i) >= majority)
            .unwrap_or(leader.commit);
        for (i, slot) in self.peers.iter_mut().enumerate() {
            if let Some(peer) = slot.as_mut()
                && follows(i, peer)
            {
                peer.commit = peer.commit.max(commit.min(peer.matched));
            }
        }
    }

    /// Fake peer `p` stands for election, because the leader everyone knew went quiet:
    /// every fake peer's lease runs out, and a fake leader steps down. With `pre`, it asks
    /// for pre-votes first (the node too), and stands if a majority of fake peers grant
    /// them. Terms rise above every term the node has shown: a real candidate would have
    /// heard them in the node's packets.
    pub(super) fn campaign(&mut self, p: usize, pre: bool) {
        for peer in self.peers.iter_mut().flatten() {
            peer.leader = None;
            peer.candidacy = None;
        }
        let node_term = self.node_term;
        let peer = self.peer(p);
        peer.adopt(node_term);
        if !pre {
            self.stand(p);
            return;
        }
        peer.candidacy = Some((true, BTreeSet::from([p])));
        let vote = Vote {
            term: Term(peer.term.0 + 1),
            candidate: peer.id.clone(),
            last_index: LogIndex(peer.log.len() as u64),
            last_term: peer.last_term(),
            pre: true,
            relayed: false,
        };
        self.ask(p, vote);
    }

    /// Fake peer `p` asks every other node for `vote`, fake peers at once.
    fn ask(&mut self, p: usize, vote: Vote) {
        self.mail(p, Body::Vote(vote.clone()));
        for i in 0..self.ids.len() {
            if i != p && i != self.me {
                self.on_vote(i, vote.clone());
            }
        }
    }

    /// Fake peer `p` stands in the next term.
    fn stand(&mut self, p: usize) {
        let peer = self.peer(p);
        let term = Term(peer.term.0 + 1);
        peer.adopt(term);
        peer.voted_for = Some(p);
        peer.candidacy = Some((false, BTreeSet::from([p])));
        let vote = Vote {
            term,
            candidate: peer.id.clone(),
            last_index: LogIndex(peer.log.len() as u64),
            last_term: peer.last_term(),
            pre: false,
            relayed: false,
        };
        self.ask(p, vote);
    }

    /// Fake peer `p` won its election: a no-op first (Raft §5.4.2), then replication.
    fn lead(&mut self, p: usize) {
        let peer = self.peer(p);
        peer.candidacy = None;
        peer.leader = Some(p);
        peer.hb = 1;
        peer.node_match = 0;
        peer.node_hb = 0;
        let term = peer.term;
        peer.log.push(Entry::Noop { term });
        self.replicate(p);
    }

    /// Fake peer `p` forgets its leader, as when a lease runs out; a leader steps down.
    pub(super) fn forget(&mut self, p: usize) {
        let peer = self.peer(p);
        peer.leader = None;
        peer.candidacy = None;
    }

    /// A client of fake peer `p` asks for `op`, which the current fake leader appends
    /// at once (fake peers talk without loss), if a fake peer leads.
    fn client_request(&mut self, p: usize, op: Op) {
        let Some(l) = self.leader() else { return };
        let peer = self.peer(p);
        let origin = Origin {
            node: peer.id.clone(),
            incarnation: peer.incarnation,
            seq: peer.next_send,
        };
        peer.next_send += 1;
        let leader = self.peer(l);
        let term = leader.term;
        leader.log.push(Entry::of(term, op, origin));
        self.replicate(l);
    }

    /// A client of the current fake leader sends `msg` to `key`.
    pub(super) fn client_send(&mut self, key: Key, msg: Payload) {
        let Some(l) = self.leader() else { return };
        self.client_request(l, Op::Send { key, msg });
    }

    /// A client of fake peer `pick` commits `offset` on `key`: an entry of the fake
    /// leader's log, as every commit is.
    pub(super) fn client_commit(&mut self, pick: u8, key: Key, offset: Offset) {
        let p = self.peer_index(pick);
        let offsets = vec![(key, offset)];
        self.client_request(p, Op::Commit { offsets });
    }

    /// The current fake leader's next packet to the node, if a fake peer leads.
    pub(super) fn leader_sync(&mut self, prev: PrevChoice) -> Option<Message> {
        let l = self.leader()?;
        let body = self.leader_packet(l, prev);
        Some(Message {
            src: self.ids[l].clone(),
            dest: self.ids[self.me].clone(),
            body,
        })
    }

    fn facts(&self) -> Vec<Fact> {
        self.peers
            .iter()
            .flatten()
            .map(|p| Fact {
                node: p.id.clone(),
                inc: p.incarnation,
                term: p.term,
                matched: LogIndex(p.matched),
                commit: LogIndex(p.commit),
                hb: p.hb,
            })
            .collect()
    }

    /// Leader `l`'s packet to the node: entries from `prev`, its followers' facts, the
    /// node's own fact as the leader knows it.
    fn leader_packet(&mut self, l: usize, prev: PrevChoice) -> Body {
        let mut facts = self.facts();
        let node = self.ids[self.me].clone();
        let peer = self.peer(l);
        peer.hb += 1;
        peer.seq += 1;
        let len = peer.log.len() as u64;
        let from = match prev {
            PrevChoice::NodeMatch => peer.node_match.min(len),
            PrevChoice::Zero => 0,
            PrevChoice::Back(k) => len.saturating_sub(u64::from(k)),
        };
        // The node's own fact as the leader knows it: how much it holds, and the
        // heartbeat it last echoed, which tells it the leader hears it.
        facts.push(Fact {
            node: node.clone(),
            term: peer.term,
            matched: LogIndex(peer.node_match),
            commit: LogIndex(0),
            hb: peer.node_hb,
            ..peer.fact_about_node(&node)
        });
        let sync = Sync {
            inc: peer.incarnation,
            joining: false,
            ask: false,
            term: peer.term,
            leader: Some(peer.id.clone()),
            hb: peer.hb,
            seq: peer.seq,
            got: peer.got,
            facts,
            append: Some(Append {
                prev: LogIndex(from),
                prev_term: peer.term_at(from).expect("from is within the log"),
                entries: peer.log[from as usize..].to_vec(),
            }),
            forwards: Vec::new(),
            relay_me: false,
        };
        Body::Sync(Box::new(sync))
    }

    /// Fake peer `p`'s answer to a packet: its own state, as any node's next packet
    /// carries it.
    fn status(&mut self, p: usize) {
        let mut facts = self.facts();
        let node = self.ids[self.me].clone();
        let leader = self.peers[p]
            .as_ref()
            .and_then(|peer| peer.leader)
            .map(|l| self.ids[l].clone());
        let peer = self.peer(p);
        peer.seq += 1;
        facts.push(peer.fact_about_node(&node));
        let sync = Sync {
            inc: peer.incarnation,
            joining: false,
            ask: false,
            term: peer.term,
            leader,
            hb: peer.hb,
            seq: peer.seq,
            got: peer.got,
            facts,
            append: None,
            forwards: Vec::new(),
            relay_me: false,
        };
        self.mail(p, Body::Sync(Box::new(sync)));
    }
}
