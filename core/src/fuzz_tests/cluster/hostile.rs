//! Well-formed but hostile peer messages: `sync`, `vote` and `vote_reply` with every field
//! chosen by the fuzzer, from cluster peers and from anyone else.
//!
//! Numbers are drawn mostly near the node's own state (its term, last index and commit from
//! `Node::status`, the incarnation its packets show), since a term far below the node's is
//! ignored at once and a term far above it only makes the node a follower; sometimes they
//! are anything at all. Names are a cluster peer, the node itself, or any name (clients,
//! services, odd text).
//!
//! Incarnations (`cluster::recovery`) are mostly the true ones: a packet's the sender's as
//! the world numbers it, a fact's its subject's (the node's own, as its packets show it),
//! since a later one makes the node forget that peer's former self and ignore the world's
//! packets from it for the rest of the run; one in eight is anything at all, which
//! exercises exactly that. `joining` and `ask` are the fuzzer's, and a fact about the node
//! with its incarnation answers its question: hostile peers can make it join.

use super::super::{GenKey, GenName, GenPayload};
use crate::Payload;
use crate::ids::{Key, LogIndex, NodeId, Offset, Term};
use crate::protocol::{
    Append, Body, Entry, Fact, Forward, Message, Op, Origin, Sync, Vote, VoteReply,
};
use bolero::TypeGenerator;

/// The node's state, for numbers near its own.
pub(super) struct Seen<'a> {
    /// Every server, the node included.
    pub ids: &'a [NodeId],
    /// The node's index in `ids`.
    pub me: usize,
    /// The node's term.
    pub term: Term,
    /// The index of its last entry.
    pub last: LogIndex,
    /// Its commit index.
    pub commit: LogIndex,
    /// The node's incarnation, once its packets have shown it.
    pub incarnation: u64,
}

impl Seen<'_> {
    /// The incarnation of the node named `id` as the world knows it: the node's own, a
    /// fake peer's, or an arbitrary one for a name outside the cluster.
    fn incarnation_of(&self, id: &NodeId) -> u64 {
        match self.ids.iter().position(|i| i == id) {
            Some(i) if i == self.me => self.incarnation,
            Some(i) => super::world::incarnation(i),
            None => 1,
        }
    }
}

/// An incarnation for a packet's sender or a fact's subject: the true one, in seven of
/// eight, or anything.
#[derive(Clone, Copy, Debug, TypeGenerator)]
pub(super) struct GenInc {
    #[generator(0..8u8)]
    pick: u8,
    any: u64,
}

impl GenInc {
    fn inc(self, seen: &Seen<'_>, of: &NodeId) -> u64 {
        if self.pick == 0 {
            self.any
        } else {
            seen.incarnation_of(of)
        }
    }
}

/// A node name.
#[derive(Clone, Debug, TypeGenerator)]
pub(super) enum GenWho {
    /// A cluster peer (modulo the peer count).
    Peer(u8),
    /// The node under test.
    Me,
    /// Anyone: a client, a service, a name outside the cluster, odd text.
    Other(GenName),
}

impl GenWho {
    pub(super) fn id(&self, seen: &Seen<'_>) -> NodeId {
        match self {
            GenWho::Peer(k) => {
                let peers: Vec<&NodeId> = (0..seen.ids.len())
                    .filter(|&i| i != seen.me)
                    .map(|i| &seen.ids[i])
                    .collect();
                peers[usize::from(*k) % peers.len()].clone()
            }
            GenWho::Me => seen.ids[seen.me].clone(),
            GenWho::Other(name) => NodeId::new(&name.render()),
        }
    }
}

/// A term, mostly near the node's.
#[derive(Clone, Copy, Debug, TypeGenerator)]
pub(super) enum GenTerm {
    Node,
    Next,
    Previous,
    Ahead(#[generator(0..16u8)] u8),
    Zero,
    Any(u64),
}

impl GenTerm {
    fn term(self, seen: &Seen<'_>) -> Term {
        let t = seen.term.0;
        Term(match self {
            GenTerm::Node => t,
            GenTerm::Next => t.saturating_add(1),
            GenTerm::Previous => t.saturating_sub(1),
            GenTerm::Ahead(k) => t.saturating_add(u64::from(k)),
            GenTerm::Zero => 0,
            GenTerm::Any(n) => n,
        })
    }
}

/// A log index, mostly near the node's last or commit index.
#[derive(Clone, Copy, Debug, TypeGenerator)]
pub(super) enum GenIndex {
    Last(#[generator(-4..5i8)] i8),
    Commit(#[generator(-4..5i8)] i8),
    Small(#[generator(0..16u8)] u8),
    Any(u64),
}

impl GenIndex {
    fn index(self, seen: &Seen<'_>) -> LogIndex {
        let near = |base: LogIndex, d: i8| base.0.saturating_add_signed(i64::from(d));
        LogIndex(match self {
            GenIndex::Last(d) => near(seen.last, d),
            GenIndex::Commit(d) => near(seen.commit, d),
            GenIndex::Small(n) => u64::from(n),
            GenIndex::Any(n) => n,
        })
    }
}

/// A counter (heartbeat, packet number, sequence number): small or anything.
#[derive(Clone, Copy, Debug, TypeGenerator)]
pub(super) enum GenCount {
    Small(#[generator(0..8u8)] u8),
    Any(u64),
}

impl GenCount {
    fn count(self) -> u64 {
        match self {
            GenCount::Small(n) => u64::from(n),
            GenCount::Any(n) => n,
        }
    }
}

/// An incarnation: the node's own (a forged origin), a fake peer's, or anything.
#[derive(Clone, Copy, Debug, TypeGenerator)]
pub(super) enum GenIncarnation {
    Node,
    Peer(#[generator(0..8u8)] u8),
    Any(u64),
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenOrigin {
    node: GenWho,
    incarnation: GenIncarnation,
    seq: GenCount,
}

impl GenOrigin {
    fn origin(&self, seen: &Seen<'_>) -> Origin {
        Origin {
            node: self.node.id(seen),
            incarnation: match self.incarnation {
                GenIncarnation::Node => seen.incarnation,
                // The world's peers number their incarnations from 1000.
                GenIncarnation::Peer(k) => super::world::incarnation(usize::from(k)),
                GenIncarnation::Any(n) => n,
            },
            seq: self.seq.count(),
        }
    }
}

/// A client request: a send, or a commit of offsets.
#[derive(Clone, Debug, TypeGenerator)]
pub(super) enum GenOp {
    Send {
        key: GenKey,
        msg: GenPayload,
    },
    Commit(
        #[generator(bolero::produce::<Vec<(GenKey, GenCount)>>().with().len(0..4usize))]
        Vec<(GenKey, GenCount)>,
    ),
}

impl GenOp {
    fn op(&self) -> Op {
        match self {
            GenOp::Send { key, msg } => Op::Send {
                key: Key::new(&key.render()),
                msg: payload(msg),
            },
            // A decoded offset is at most `Offset::MAX`; so is a generated one.
            GenOp::Commit(pairs) => Op::Commit {
                offsets: pairs
                    .iter()
                    .map(|(k, n)| (Key::new(&k.render()), Offset(n.count().min(Offset::MAX.0))))
                    .collect(),
            },
        }
    }
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) enum GenEntry {
    Noop(GenTerm),
    Request {
        term: GenTerm,
        op: GenOp,
        origin: GenOrigin,
    },
}

impl GenEntry {
    fn entry(&self, seen: &Seen<'_>) -> Entry {
        match self {
            GenEntry::Noop(term) => Entry::Noop {
                term: term.term(seen),
            },
            GenEntry::Request { term, op, origin } => {
                Entry::of(term.term(seen), op.op(), origin.origin(seen))
            }
        }
    }
}

fn payload(msg: &GenPayload) -> Payload {
    Payload::parse(&msg.render()).expect("payloads render as JSON")
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenAppend {
    prev: GenIndex,
    prev_term: GenTerm,
    #[generator(bolero::produce::<Vec<GenEntry>>().with().len(0..6usize))]
    entries: Vec<GenEntry>,
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenFact {
    node: GenWho,
    inc: GenInc,
    term: GenTerm,
    matched: GenIndex,
    commit: GenIndex,
    hb: GenCount,
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenForward {
    origin: GenOrigin,
    op: GenOp,
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenSync {
    inc: GenInc,
    joining: bool,
    ask: bool,
    term: GenTerm,
    leader: Option<GenWho>,
    hb: GenCount,
    seq: GenCount,
    got: GenCount,
    #[generator(bolero::produce::<Vec<GenFact>>().with().len(0..6usize))]
    facts: Vec<GenFact>,
    append: Option<GenAppend>,
    #[generator(bolero::produce::<Vec<GenForward>>().with().len(0..4usize))]
    forwards: Vec<GenForward>,
    relay_me: bool,
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenVote {
    term: GenTerm,
    candidate: GenWho,
    last_index: GenIndex,
    last_term: GenTerm,
    pre: bool,
    relayed: bool,
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenVoteReply {
    term: GenTerm,
    voter: GenWho,
    candidate: GenWho,
    granted: bool,
    pre: bool,
    relayed: bool,
}

/// One hostile peer message.
#[derive(Clone, Debug, TypeGenerator)]
pub(super) enum GenPeerBody {
    Sync(Box<GenSync>),
    Vote(GenVote),
    VoteReply(GenVoteReply),
}

/// A hostile message: its sender, whether it goes to another node (one in eight), and
/// its body.
#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenHostile {
    from: GenWho,
    #[generator(0..8u8)]
    misaddressed: u8,
    body: GenPeerBody,
}

impl GenHostile {
    pub(super) fn message(&self, seen: &Seen<'_>) -> Message {
        let src = self.from.id(seen);
        let body = match &self.body {
            GenPeerBody::Sync(s) => Body::Sync(Box::new(Sync {
                inc: s.inc.inc(seen, &src),
                joining: s.joining,
                ask: s.ask,
                term: s.term.term(seen),
                leader: s.leader.as_ref().map(|l| l.id(seen)),
                hb: s.hb.count(),
                seq: s.seq.count(),
                got: s.got.count(),
                facts: s
                    .facts
                    .iter()
                    .map(|f| {
                        let node = f.node.id(seen);
                        Fact {
                            inc: f.inc.inc(seen, &node),
                            node,
                            term: f.term.term(seen),
                            matched: f.matched.index(seen),
                            commit: f.commit.index(seen),
                            hb: f.hb.count(),
                        }
                    })
                    .collect(),
                append: s.append.as_ref().map(|a| Append {
                    prev: a.prev.index(seen),
                    prev_term: a.prev_term.term(seen),
                    entries: a.entries.iter().map(|e| e.entry(seen)).collect(),
                }),
                forwards: s
                    .forwards
                    .iter()
                    .map(|f| Forward {
                        origin: f.origin.origin(seen),
                        op: f.op.op(),
                    })
                    .collect(),
                relay_me: s.relay_me,
            })),
            GenPeerBody::Vote(v) => Body::Vote(Vote {
                term: v.term.term(seen),
                candidate: v.candidate.id(seen),
                last_index: v.last_index.index(seen),
                last_term: v.last_term.term(seen),
                pre: v.pre,
                relayed: v.relayed,
            }),
            GenPeerBody::VoteReply(r) => Body::VoteReply(VoteReply {
                term: r.term.term(seen),
                voter: r.voter.id(seen),
                candidate: r.candidate.id(seen),
                granted: r.granted,
                pre: r.pre,
                relayed: r.relayed,
            }),
        };
        let dest = if self.misaddressed == 0 {
            NodeId::new("n9")
        } else {
            seen.ids[seen.me].clone()
        };
        Message { src, dest, body }
    }
}
