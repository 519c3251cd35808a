//! Peer messages: what Replicator's nodes say to each other, and their wire form.
//!
//! Three body types, all ordinary Maelstrom messages between server nodes (spec: kafka.md
//! 1.4 leaves their shape to us; 2.7 says Maelstrom never checks them):
//! - `sync`, the one replication packet, sent in any direction: the sender's term, who it
//!   believes leads, the leader's heartbeat count, what the sender knows of every node's
//!   progress (`facts`), a window of log entries, client sends forwarded towards the
//!   leader, committed consumer offsets, and link bookkeeping (`seq`, `got`). One packet
//!   carries all of it, so that a busy link costs one message per batching window.
//! - `vote` and `vote_reply`: elections, with Raft's pre-vote (`pre`).
//!
//! The wire form is compact JSON that still reads well in a trace or Maelstrom's Lamport
//! diagram:
//! ```text
//! {"type":"sync","term":3,"leader":"n0","hb":17,"seq":41,"got":39,
//!  "facts":[["n0",3,120,118,17],["n1",3,119,118,17]],
//!  "prev":118,"prev_term":3,"entries":[[3,"k5",7,"n1",8814,2],[3]],
//!  "fwd":[["n1",8814,3,"k5",8]],"offsets":{"k5":12},"relay_me":true}
//! {"type":"vote","term":4,"candidate":"n2","last_index":120,"last_term":3,"pre":true,"relayed":false}
//! {"type":"vote_reply","term":4,"voter":"n1","candidate":"n2","granted":true,"pre":true,"relayed":false}
//! ```
//! A fact is `[node, term, match, commit, hb]`; an entry is `[term]` (a leader's no-op) or
//! `[term, key, msg, origin, incarnation, seq]`; a forward is `[origin, incarnation, seq,
//! key, msg]`. `prev`, `prev_term` and `entries` come together or not at all; `leader`,
//! `fwd`, `offsets` and `relay_me` are left out when empty.
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
    /// Client sends on their way to the leader.
    pub forwards: Vec<Forward>,
    /// Committed consumer offsets the receiver may not have heard of yet.
    pub offsets: Vec<(Key, Offset)>,
    /// The sender hears no leader and asks the receiver to pass on what it hears.
    pub relay_me: bool,
}

/// One node's progress as it reported it, so that any node can judge what a majority
/// holds, whoever carried the news.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// The node the fact is about.
    pub node: NodeId,
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
}

impl Entry {
    /// The term of the leader that appended the entry.
    pub fn term(&self) -> Term {
        match self {
            Entry::Noop { term } | Entry::Send { term, .. } => *term,
        }
    }
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

/// A client send on its way to the leader.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// Where it came in.
    pub origin: Origin,
    /// The key.
    pub key: Key,
    /// The message, as the client sent it.
    pub msg: Payload,
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
    out.extend_from_slice(b"{\"type\":\"sync\",\"term\":");
    write_u64(out, s.term.0);
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
        for n in [f.term.0, f.matched.0, f.commit.0, f.hb] {
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
            if let Entry::Send {
                key, msg, origin, ..
            } = entry
            {
                out.push(b',');
                write_json_str(out, key.as_bytes());
                out.push(b',');
                out.extend_from_slice(msg.as_bytes());
                out.push(b',');
                write_origin(out, origin);
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
            write_json_str(out, f.key.as_bytes());
            out.push(b',');
            out.extend_from_slice(f.msg.as_bytes());
            out.push(b']');
        }
        out.push(b']');
    }
    if !s.offsets.is_empty() {
        out.extend_from_slice(b",\"offsets\":");
        write_offsets(out, &s.offsets);
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
    term: u64,
    #[serde(borrow, default)]
    leader: Option<Cow<'a, str>>,
    hb: u64,
    seq: u64,
    got: u64,
    #[serde(borrow)]
    facts: Vec<(Cow<'a, str>, u64, u64, u64, u64)>,
    #[serde(default)]
    prev: Option<u64>,
    #[serde(default)]
    prev_term: Option<u64>,
    #[serde(borrow, default)]
    entries: Option<Vec<WireEntry<'a>>>,
    #[serde(borrow, default)]
    fwd: Vec<WireForward<'a>>,
    #[serde(borrow, default)]
    offsets: Option<&'a RawValue>,
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
                entries: entries.into_iter().map(WireEntry::into_entry).collect(),
            }),
            _ => {
                return Err(
                    "a `sync` message needs `prev`, `prev_term` and `entries` together".into(),
                );
            }
        };
        let offsets = match self.offsets {
            Some(raw) => super::decode::parse_offsets(raw.get())?,
            None => Vec::new(),
        };
        Ok(Sync {
            term: Term(self.term),
            leader: self.leader.map(|l| NodeId::new(&l)),
            hb: self.hb,
            seq: self.seq,
            got: self.got,
            facts: self
                .facts
                .into_iter()
                .map(|(node, term, matched, commit, hb)| Fact {
                    node: NodeId::new(&node),
                    term: Term(term),
                    matched: LogIndex(matched),
                    commit: LogIndex(commit),
                    hb,
                })
                .collect(),
            append,
            forwards: self
                .fwd
                .into_iter()
                .map(|(node, incarnation, seq, key, msg)| Forward {
                    origin: Origin {
                        node: NodeId::new(&node),
                        incarnation,
                        seq,
                    },
                    key: Key::new(&key),
                    msg: Payload::from_valid_json(msg.get()),
                })
                .collect(),
            offsets,
            relay_me: self.relay_me,
        })
    }
}

/// A forward: `[origin, incarnation, seq, key, msg]`.
type WireForward<'a> = (Cow<'a, str>, u64, u64, Cow<'a, str>, &'a RawValue);

/// A send entry after its term: `key, msg, origin, incarnation, seq`.
type WireSend<'a> = (Cow<'a, str>, &'a RawValue, Cow<'a, str>, u64, u64);

/// `[term]` or `[term, key, msg, origin, incarnation, seq]`.
struct WireEntry<'a> {
    term: u64,
    send: Option<WireSend<'a>>,
}

impl WireEntry<'_> {
    fn into_entry(self) -> Entry {
        let term = Term(self.term);
        match self.send {
            None => Entry::Noop { term },
            Some((key, msg, node, incarnation, seq)) => Entry::Send {
                term,
                key: Key::new(&key),
                msg: Payload::from_valid_json(msg.get()),
                origin: Origin {
                    node: NodeId::new(&node),
                    incarnation,
                    seq,
                },
            },
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for WireEntry<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for EntryVisitor<'a> {
            type Value = WireEntry<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entry: [term] or [term, key, msg, origin, incarnation, seq]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let missing = |n| de::Error::invalid_length(n, &self);
                let term: u64 = seq.next_element()?.ok_or_else(|| missing(0))?;
                let Some(key) = seq.next_element::<Cow<'a, str>>()? else {
                    return Ok(WireEntry { term, send: None });
                };
                let msg: &'a RawValue = seq.next_element()?.ok_or_else(|| missing(2))?;
                let node: Cow<'a, str> = seq.next_element()?.ok_or_else(|| missing(3))?;
                let incarnation: u64 = seq.next_element()?.ok_or_else(|| missing(4))?;
                let number: u64 = seq.next_element()?.ok_or_else(|| missing(5))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(7, &self));
                }
                Ok(WireEntry {
                    term,
                    send: Some((key, msg, node, incarnation, number)),
                })
            }
        }
        d.deserialize_seq(EntryVisitor(std::marker::PhantomData))
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
