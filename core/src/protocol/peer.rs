//! Peer messages: what Replicator's nodes say to each other, and their wire form.
//!
//! Three body types, all ordinary Maelstrom messages between server nodes (spec: kafka.md
//! 1.4 leaves their shape to us; 2.7 says Maelstrom never checks them):
//! - `sync`, the one replication packet, sent in any direction: the sender's incarnation
//!   and whether it is still joining (recovering from a restart), its term, who it
//!   believes leads, the leader's heartbeat count, what the sender knows of every node's
//!   progress (`facts`), a window of log entries, client requests forwarded towards the
//!   leader, and link bookkeeping (`seq`, `got`). One packet carries all of it, so that a
//!   busy link costs one message per batching window.
//! - `vote` and `vote_reply`: elections, with Raft's pre-vote (`pre`).
//!
//! The wire form is compact JSON that still reads well in a trace or Maelstrom's Lamport
//! diagram:
//! ```text
//! {"type":"sync","inc":8814,"term":3,"leader":"n0","hb":17,"seq":41,"got":39,
//!  "facts":[["n0",17,3,120,118,17],["n1",8814,3,119,118,17]],
//!  "prev":118,"prev_term":3,"entries":[[3,"k5",7,"n1",8814,2],[3],[3,{"k5":12},"n2",90,0]],
//!  "fwd":[["n1",8814,3,"k5",8],["n1",8814,4,{"k5":12}]],"relay_me":true}
//! {"type":"vote","term":4,"candidate":"n2","last_index":120,"last_term":3,"pre":true,"relayed":false}
//! {"type":"vote_reply","term":4,"voter":"n1","candidate":"n2","granted":true,"pre":true,"relayed":false}
//! ```
//! A fact is `[node, incarnation, term, match, commit, hb]`; an entry is `[term]` (a
//! leader's no-op), `[term, key, msg, origin, incarnation, seq]` (a send) or `[term,
//! {offsets}, origin, incarnation, seq]` (a commit of offsets); a forward is `[origin,
//! incarnation, seq, key, msg]` or `[origin, incarnation, seq, {offsets}]`. `prev`,
//! `prev_term` and `entries` come together or not at all; `joining`, `ask`, `leader`,
//! `fwd` and `relay_me` are left out when empty.
//!
//! Invariants (the same rules as client messages, see [`super`]):
//! - payloads travel as the exact JSON text the client sent, never parsed or re-encoded;
//! - every offset decoded is in `0..=Offset::MAX`;
//! - decoding is strict about types and shapes (a wrong one is a [`super::Malformed`] with
//!   a reason a person can act on) and lenient about unknown fields, so that a newer peer
//!   can add one.

use super::encode::{write_json_str, write_offsets, write_u64};
use super::{Body, Payload};
use crate::ids::{Key, LogIndex, NodeId, Offset, Term};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The replication packet. See the module docs for what each part is for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sync {
    /// The sender's incarnation: the time it started, which grows with every restart, so
    /// that a peer can tell news from this run of the sender from news of an earlier one.
    pub inc: u64,
    /// The sender has just started and may have forgotten an earlier run: it takes no
    /// part in elections or commits yet, and every peer answers its packets (see
    /// `cluster::recovery`).
    pub joining: bool,
    /// The sender asks for a packet back: a joining node's question, which any packet
    /// sent after this one answers.
    pub ask: bool,
    /// The sender's current term.
    pub term: Term,
    /// Who the sender believes leads `term`, if it knows.
    pub leader: Option<NodeId>,
    /// The highest heartbeat count of `term`'s leader the sender has seen (the leader's
    /// own count, when the sender leads). It only grows within a term, so a larger one is
    /// fresh evidence that the leader is alive, however many hops it travelled.
    pub hb: u64,
    /// This packet's number on the link from sender to receiver: 1, 2, 3, …
    pub seq: u64,
    /// The highest `seq` the sender has received on the link from the receiver.
    pub got: u64,
    /// What the sender knows of each node's progress.
    pub facts: Vec<Fact>,
    /// Log entries for the receiver, if any.
    pub append: Option<Append>,
    /// Client requests on their way to the leader.
    pub forwards: Vec<Forward>,
    /// The sender hears no leader and asks the receiver to pass on what it hears.
    pub relay_me: bool,
}

/// One node's progress as it reported it, so that any node can judge what a majority
/// holds, whoever carried the news.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// The node the fact is about.
    pub node: NodeId,
    /// Its incarnation the fact is about (0 when the sender has not heard of one).
    pub inc: u64,
    /// The term the node was in when it reported.
    pub term: Term,
    /// The length of the node's log prefix known to equal the log of `term`'s leader.
    pub matched: LogIndex,
    /// The node's commit index: the prefix it knows a majority holds.
    pub commit: LogIndex,
    /// The highest heartbeat count of `term`'s leader the node has seen.
    pub hb: u64,
}

/// A window of the leader's log: the entries after `prev`, whose term is `prev_term`.
#[derive(Clone, Debug, PartialEq)]
pub struct Append {
    /// The index just before the first entry.
    pub prev: LogIndex,
    /// The term of the entry at `prev` (0 for the empty prefix).
    pub prev_term: Term,
    /// The entries at `prev + 1`, `prev + 2`, …
    pub entries: Vec<Entry>,
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A new leader's first entry: it lets the leader commit what earlier terms left.
    Noop {
        /// The leader's term.
        term: Term,
    },
    /// A client's message for one key.
    Send {
        /// The term of the leader that appended it.
        term: Term,
        /// The key.
        key: Key,
        /// The message, as the client sent it.
        msg: Payload,
        /// Where the send came in, so that a retried forward is appended once.
        origin: Origin,
    },
    /// A client's `commit_offsets`: every key's committed offset rises to at least the
    /// one given when the entry commits. Committed offsets travel in the log so that an
    /// acknowledged commit is held by a majority, like an acknowledged send, and survives
    /// any minority of nodes forgetting it.
    Commit {
        /// The term of the leader that appended it.
        term: Term,
        /// The offsets, as the client gave them.
        offsets: Vec<(Key, Offset)>,
        /// Where the request came in.
        origin: Origin,
    },
}

impl Entry {
    /// The entry a leader of `term` appends for a client's request.
    pub fn of(term: Term, op: Op, origin: Origin) -> Entry {
        match op {
            Op::Send { key, msg } => Entry::Send {
                term,
                key,
                msg,
                origin,
            },
            Op::Commit { offsets } => Entry::Commit {
                term,
                offsets,
                origin,
            },
        }
    }

    /// The term of the leader that appended the entry.
    pub fn term(&self) -> Term {
        match self {
            Entry::Noop { term } | Entry::Send { term, .. } | Entry::Commit { term, .. } => *term,
        }
    }

    /// Where the client request behind the entry came in; `None` for a no-op.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            Entry::Noop { .. } => None,
            Entry::Send { origin, .. } | Entry::Commit { origin, .. } => Some(origin),
        }
    }
}

/// A client request that goes through the log.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `send`: a message for one key.
    Send {
        /// The key.
        key: Key,
        /// The message, as the client sent it.
        msg: Payload,
    },
    /// `commit_offsets`: committed offsets to raise.
    Commit {
        /// The offsets, as the client gave them.
        offsets: Vec<(Key, Offset)>,
    },
}

/// Names one client send for its whole life: the node it came in at, that node's
/// incarnation (drawn at start, so a restarted node never reuses a name), and the node's
/// count of sends.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// The node the client sent it to.
    pub node: NodeId,
    /// That node's incarnation.
    pub incarnation: u64,
    /// Its number among that incarnation's sends.
    pub seq: u64,
}

/// A client request on its way to the leader.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// Where it came in.
    pub origin: Origin,
    /// What the client asked for.
    pub op: Op,
}

/// A request for a vote, or with `pre`, for a pre-vote: "would you vote for me in
/// `term`?", asked without disturbing anyone's term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The term the candidate stands in.
    pub term: Term,
    /// The candidate.
    pub candidate: NodeId,
    /// The index of the candidate's last entry.
    pub last_index: LogIndex,
    /// The term of the candidate's last entry.
    pub last_term: Term,
    /// A pre-vote: granting it changes nothing.
    pub pre: bool,
    /// Passed on by a node other than the candidate (it is passed on at most once).
    pub relayed: bool,
}

/// The answer to a [`Vote`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteReply {
    /// The term voted in when granted; the voter's own term otherwise.
    pub term: Term,
    /// Who answers.
    pub voter: NodeId,
    /// Who asked.
    pub candidate: NodeId,
    /// Whether the vote is granted.
    pub granted: bool,
    /// Whether this answers a pre-vote.
    pub pre: bool,
    /// Passed on by a node other than the voter (it is passed on at most once).
    pub relayed: bool,
}

// ---- Encoding ----

pub(super) fn encode_sync(out: &mut Vec<u8>, s: &Sync) {
    out.extend_from_slice(b"{\"type\":\"sync\",\"inc\":");
    write_u64(out, s.inc);
    if s.joining {
        out.extend_from_slice(b",\"joining\":true");
    }
    if s.ask {
        out.extend_from_slice(b",\"ask\":true");
    }
    field(out, "term", s.term.0);
    if let Some(leader) = &s.leader {
        out.extend_from_slice(b",\"leader\":");
        write_json_str(out, leader.as_bytes());
    }
    field(out, "hb", s.hb);
    field(out, "seq", s.seq);
    field(out, "got", s.got);
    out.extend_from_slice(b",\"facts\":[");
    for (i, f) in s.facts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        write_json_str(out, f.node.as_bytes());
        for n in [f.inc, f.term.0, f.matched.0, f.commit.0, f.hb] {
            out.push(b',');
            write_u64(out, n);
        }
        out.push(b']');
    }
    out.push(b']');
    if let Some(append) = &s.append {
        field(out, "prev", append.prev.0);
        field(out, "prev_term", append.prev_term.0);
        out.extend_from_slice(b",\"entries\":[");
        for (i, entry) in append.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            write_u64(out, entry.term().0);
            match entry {
                Entry::Noop { .. } => {}
                Entry::Send {
                    key, msg, origin, ..
                } => {
                    out.push(b',');
                    write_send(out, key, msg);
                    out.push(b',');
                    write_origin(out, origin);
                }
                Entry::Commit {
                    offsets, origin, ..
                } => {
                    out.push(b',');
                    write_offsets(out, offsets);
                    out.push(b',');
                    write_origin(out, origin);
                }
            }
            out.push(b']');
        }
        out.push(b']');
    }
    if !s.forwards.is_empty() {
        out.extend_from_slice(b",\"fwd\":[");
        for (i, f) in s.forwards.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            write_origin(out, &f.origin);
            out.push(b',');
            match &f.op {
                Op::Send { key, msg } => write_send(out, key, msg),
                Op::Commit { offsets } => write_offsets(out, offsets),
            }
            out.push(b']');
        }
        out.push(b']');
    }
    if s.relay_me {
        out.extend_from_slice(b",\"relay_me\":true");
    }
    out.push(b'}');
}

pub(super) fn encode_vote(out: &mut Vec<u8>, v: &Vote) {
    out.extend_from_slice(b"{\"type\":\"vote\",\"term\":");
    write_u64(out, v.term.0);
    out.extend_from_slice(b",\"candidate\":");
    write_json_str(out, v.candidate.as_bytes());
    field(out, "last_index", v.last_index.0);
    field(out, "last_term", v.last_term.0);
    flag(out, "pre", v.pre);
    flag(out, "relayed", v.relayed);
    out.push(b'}');
}

pub(super) fn encode_vote_reply(out: &mut Vec<u8>, r: &VoteReply) {
    out.extend_from_slice(b"{\"type\":\"vote_reply\",\"term\":");
    write_u64(out, r.term.0);
    out.extend_from_slice(b",\"voter\":");
    write_json_str(out, r.voter.as_bytes());
    out.extend_from_slice(b",\"candidate\":");
    write_json_str(out, r.candidate.as_bytes());
    flag(out, "granted", r.granted);
    flag(out, "pre", r.pre);
    flag(out, "relayed", r.relayed);
    out.push(b'}');
}

/// `key,msg`: a send's two parts inside an array.
fn write_send(out: &mut Vec<u8>, key: &Key, msg: &Payload) {
    write_json_str(out, key.as_bytes());
    out.push(b',');
    out.extend_from_slice(msg.as_bytes());
}

/// `origin,incarnation,seq`, the three parts of an [`Origin`] inside an array.
fn write_origin(out: &mut Vec<u8>, origin: &Origin) {
    write_json_str(out, origin.node.as_bytes());
    out.push(b',');
    write_u64(out, origin.incarnation);
    out.push(b',');
    write_u64(out, origin.seq);
}

fn field(out: &mut Vec<u8>, name: &str, value: u64) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    write_u64(out, value);
}

fn flag(out: &mut Vec<u8>, name: &str, value: bool) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(if value { b"\":true" } else { b"\":false" });
}

// ---- Decoding ----

/// Decodes the raw body of a peer message of type `kind` (`sync`, `vote` or
/// `vote_reply`); `None` for any other type.
pub(super) fn decode(kind: &str, raw: &str) -> Option<Result<Body, String>> {
    let what = |e: serde_json::Error| format!("a `{kind}` message is invalid: {e}");
    Some(match kind {
        "sync" => serde_json::from_str::<WireSync<'_>>(raw)
            .map_err(what)
            .and_then(WireSync::into_sync)
            .map(|s| Body::Sync(Box::new(s))),
        "vote" => serde_json::from_str::<WireVote<'_>>(raw)
            .map_err(what)
            .map(|v| {
                Body::Vote(Vote {
                    term: Term(v.term),
                    candidate: NodeId::new(&v.candidate),
                    last_index: LogIndex(v.last_index),
                    last_term: Term(v.last_term),
                    pre: v.pre,
                    relayed: v.relayed,
                })
            }),
        "vote_reply" => serde_json::from_str::<WireVoteReply<'_>>(raw)
            .map_err(what)
            .map(|r| {
                Body::VoteReply(VoteReply {
                    term: Term(r.term),
                    voter: NodeId::new(&r.voter),
                    candidate: NodeId::new(&r.candidate),
                    granted: r.granted,
                    pre: r.pre,
                    relayed: r.relayed,
                })
            }),
        _ => return None,
    })
}

#[derive(Deserialize)]
struct WireSync<'a> {
    inc: u64,
    #[serde(default)]
    joining: bool,
    #[serde(default)]
    ask: bool,
    term: u64,
    #[serde(borrow, default)]
    leader: Option<Cow<'a, str>>,
    hb: u64,
    seq: u64,
    got: u64,
    #[serde(borrow)]
    facts: Vec<(Cow<'a, str>, u64, u64, u64, u64, u64)>,
    #[serde(default)]
    prev: Option<u64>,
    #[serde(default)]
    prev_term: Option<u64>,
    #[serde(default)]
    entries: Option<Vec<WireEntry>>,
    #[serde(default)]
    fwd: Vec<WireForward>,
    #[serde(default)]
    relay_me: bool,
}

impl WireSync<'_> {
    fn into_sync(self) -> Result<Sync, String> {
        let append = match (self.prev, self.prev_term, self.entries) {
            (None, None, None) => None,
            (Some(prev), Some(prev_term), Some(entries)) => Some(Append {
                prev: LogIndex(prev),
                prev_term: Term(prev_term),
                entries: entries.into_iter().map(|e| e.0).collect(),
            }),
            _ => {
                return Err(
                    "a `sync` message needs `prev`, `prev_term` and `entries` together".into(),
                );
            }
        };
        Ok(Sync {
            inc: self.inc,
            joining: self.joining,
            ask: self.ask,
            term: Term(self.term),
            leader: self.leader.map(|l| NodeId::new(&l)),
            hb: self.hb,
            seq: self.seq,
            got: self.got,
            facts: self
                .facts
                .into_iter()
                .map(|(node, inc, term, matched, commit, hb)| Fact {
                    node: NodeId::new(&node),
                    inc,
                    term: Term(term),
                    matched: LogIndex(matched),
                    commit: LogIndex(commit),
                    hb,
                })
                .collect(),
            append,
            forwards: self.fwd.into_iter().map(|f| f.0).collect(),
            relay_me: self.relay_me,
        })
    }
}

/// An entry: `[term]`, `[term, key, msg, origin, incarnation, seq]` or
/// `[term, {offsets}, origin, incarnation, seq]`.
struct WireEntry(Entry);

/// A forward: `[origin, incarnation, seq, key, msg]` or `[origin, incarnation, seq,
/// {offsets}]`.
struct WireForward(Forward);

/// Reads the next element of an array, or says which one is missing.
fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    n: usize,
    what: &dyn de::Expected,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::invalid_length(n, what))
}

/// Reads an origin's three parts from position `n` on.
fn next_origin<'de, A: SeqAccess<'de>>(
    seq: &mut A,
    n: usize,
    what: &dyn de::Expected,
) -> Result<Origin, A::Error> {
    let node: Cow<'de, str> = next(seq, n, what)?;
    Ok(Origin {
        node: NodeId::new(&node),
        incarnation: next(seq, n + 1, what)?,
        seq: next(seq, n + 2, what)?,
    })
}

/// Reads an op whose first part, at position `n`, is `first`: a key followed by a
/// message, or an offsets object, told apart by the first part's JSON type.
fn op_from<'de, A: SeqAccess<'de>>(
    first: &'de RawValue,
    seq: &mut A,
    n: usize,
    what: &dyn de::Expected,
) -> Result<Op, A::Error> {
    if first.get().starts_with('{') {
        let offsets = super::decode::parse_offsets(first.get()).map_err(de::Error::custom)?;
        return Ok(Op::Commit { offsets });
    }
    let key: Cow<'de, str> = serde_json::from_str(first.get()).map_err(|e| {
        de::Error::custom(format!("a key must be a string, or offsets an object: {e}"))
    })?;
    let msg: &'de RawValue = next(seq, n + 1, what)?;
    Ok(Op::Send {
        key: Key::new(&key),
        msg: Payload::from_valid_json(msg.get()),
    })
}

/// The number of array positions an op takes.
fn width(op: &Op) -> usize {
    match op {
        Op::Send { .. } => 2,
        Op::Commit { .. } => 1,
    }
}

/// Fails unless the array has ended.
fn end<'de, A: SeqAccess<'de>>(
    seq: &mut A,
    n: usize,
    what: &dyn de::Expected,
) -> Result<(), A::Error> {
    match seq.next_element::<de::IgnoredAny>()? {
        Some(_) => Err(de::Error::invalid_length(n + 1, what)),
        None => Ok(()),
    }
}

impl<'de> Deserialize<'de> for WireEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = WireEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an entry: [term], [term, key, msg, origin, incarnation, seq] or \
                     [term, {offsets}, origin, incarnation, seq]",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let term = Term(next(&mut seq, 0, &self)?);
                // A no-op is the term alone; the peek below reads the op's first part.
                let first: Option<&'de RawValue> = seq.next_element()?;
                let Some(first) = first else {
                    return Ok(WireEntry(Entry::Noop { term }));
                };
                let op = op_from(first, &mut seq, 1, &self)?;
                let n = 1 + width(&op);
                let origin = next_origin(&mut seq, n, &self)?;
                end(&mut seq, n + 2, &self)?;
                Ok(WireEntry(Entry::of(term, op, origin)))
            }
        }
        d.deserialize_seq(EntryVisitor)
    }
}

impl<'de> Deserialize<'de> for WireForward {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ForwardVisitor;
        impl<'de> Visitor<'de> for ForwardVisitor {
            type Value = WireForward;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a forward: [origin, incarnation, seq, key, msg] or \
                     [origin, incarnation, seq, {offsets}]",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let origin = next_origin(&mut seq, 0, &self)?;
                let first: &'de RawValue = next(&mut seq, 3, &self)?;
                let op = op_from(first, &mut seq, 3, &self)?;
                end(&mut seq, 2 + width(&op), &self)?;
                Ok(WireForward(Forward { origin, op }))
            }
        }
        d.deserialize_seq(ForwardVisitor)
    }
}

#[derive(Deserialize)]
struct WireVote<'a> {
    term: u64,
    #[serde(borrow)]
    candidate: Cow<'a, str>,
    last_index: u64,
    last_term: u64,
    pre: bool,
    #[serde(default)]
    relayed: bool,
}

#[derive(Deserialize)]
struct WireVoteReply<'a> {
    term: u64,
    #[serde(borrow)]
    voter: Cow<'a, str>,
    #[serde(borrow)]
    candidate: Cow<'a, str>,
    granted: bool,
    pre: bool,
    #[serde(default)]
    relayed: bool,
}
