//! Well-formed but hostile peer messages: `sync`, `vote` and `vote_reply` with every field
//! chosen by the fuzzer, from cluster peers and from anyone else.
//!
//! Numbers are drawn mostly near the node's own state (its term, last index and commit
//! from `Node::status`, the incarnation its packets show), since a term far below the
//! node's is ignored at once and a term far above it only makes the node a follower;
//! sometimes they are anything at all. Names are a cluster peer, the node itself, or any name (clients,
//! services, odd text).

use super::super::{GenKey, GenName, GenPayload};
use crate::Payload;
use crate::ids::{Key, LogIndex, NodeId, Offset, Term};
use crate::protocol::{Append, Body, Entry, Fact, Forward, Message, Origin, Sync, Vote, VoteReply};
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
    /// The incarnation in the node's own origins, once it has shown one.
    pub incarnation: u64,
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
                GenIncarnation::Peer(k) => 1_000 + u64::from(k),
                GenIncarnation::Any(n) => n,
            },
            seq: self.seq.count(),
        }
    }
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) enum GenEntry {
    Noop(GenTerm),
    Send {
        term: GenTerm,
        key: GenKey,
        msg: GenPayload,
        origin: GenOrigin,
    },
}

impl GenEntry {
    fn entry(&self, seen: &Seen<'_>) -> Entry {
        match self {
            GenEntry::Noop(term) => Entry::Noop {
                term: term.term(seen),
            },
            GenEntry::Send {
                term,
                key,
                msg,
                origin,
            } => Entry::Send {
                term: term.term(seen),
                key: Key::new(&key.render()),
                msg: payload(msg),
                origin: origin.origin(seen),
            },
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
    term: GenTerm,
    matched: GenIndex,
    commit: GenIndex,
    hb: GenCount,
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenForward {
    origin: GenOrigin,
    key: GenKey,
    msg: GenPayload,
}

#[derive(Clone, Debug, TypeGenerator)]
pub(super) struct GenSync {
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
    #[generator(bolero::produce::<Vec<(GenKey, GenCount)>>().with().len(0..4usize))]
    offsets: Vec<(GenKey, GenCount)>,
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
        let body = match &self.body {
            GenPeerBody::Sync(s) => Body::Sync(Box::new(Sync {
                term: s.term.term(seen),
                leader: s.leader.as_ref().map(|l| l.id(seen)),
                hb: s.hb.count(),
                seq: s.seq.count(),
                got: s.got.count(),
                facts: s
                    .facts
                    .iter()
                    .map(|f| Fact {
                        node: f.node.id(seen),
                        term: f.term.term(seen),
                        matched: f.matched.index(seen),
                        commit: f.commit.index(seen),
                        hb: f.hb.count(),
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
                        key: Key::new(&f.key.render()),
                        msg: payload(&f.msg),
                    })
                    .collect(),
                // A decoded offset is at most `Offset::MAX`; so is a generated one.
                offsets: s
                    .offsets
                    .iter()
                    .map(|(k, n)| (Key::new(&k.render()), Offset(n.count().min(Offset::MAX.0))))
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
        Message {
            src: self.from.id(seen),
            dest,
            body,
        }
    }
}
