//! The protocol vocabulary: Maelstrom's envelope, the kafka RPCs and their replies, and
//! error replies with Maelstrom's codes.
//!
//! One set of types serves every crate: `io` decodes stdin lines into [`Message`]s and
//! encodes the node's [`Message`]s onto stdout; `sim` carries the same values through its
//! virtual network. Decoding ([`decode`]) is lenient where Maelstrom is (extra top-level
//! `id`, unknown fields) and strict about what the node needs, so that every malformed
//! request can be answered with a precise error 12. Encoding ([`Message::encode`]) writes
//! exactly the closed envelope of spec: kafka.md 1.2 and the closed reply schemas of 1.7.
//!
//! Invariants:
//! - A [`Payload`] holds the JSON text of a message exactly as it arrived; it is never
//!   parsed into a value or re-encoded (spec: kafka.md 2.3 — `msg` comes back exactly as
//!   sent).
//! - Every offset in a decoded message is in `0..=Offset::MAX`.

mod decode;
mod encode;
mod fast;
mod peer;

pub use decode::{Malformed, decode};
pub use peer::{Append, Entry, Fact, Forward, Op, Origin, Sync, Vote, VoteReply};
// The fuzz target `fuzz_tests::fast_path` holds the two decoders to the fast path's contract.
#[cfg(test)]
pub(crate) use {decode::decode_full, fast::decode as decode_fast};

use crate::ids::{Key, MsgId, NodeId, Offset};
use crate::small::SmallStr;
use std::fmt;

/// One message on the Maelstrom network.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The sender.
    pub src: NodeId,
    /// The receiver.
    pub dest: NodeId,
    /// What it says.
    pub body: Body,
}

/// The body of a message: the kafka RPCs, their replies, `init`, errors, and anything
/// else under [`Body::Other`].
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// Maelstrom's first message to every node (spec: kafka.md 1.5).
    Init {
        /// The request id.
        msg_id: MsgId,
        /// The receiver's own id.
        node_id: NodeId,
        /// Every server in the cluster, in the same order for every node.
        node_ids: Vec<NodeId>,
    },
    /// The answer to `init`.
    InitOk {
        /// The `msg_id` of the `init`.
        in_reply_to: MsgId,
    },
    /// Append `msg` to the log `key` (spec: kafka.md 2.2).
    Send {
        /// The request id.
        msg_id: MsgId,
        /// The log to append to.
        key: Key,
        /// The message, as raw JSON.
        msg: Payload,
    },
    /// The offset a `send` was appended at.
    SendOk {
        /// The `msg_id` of the `send`.
        in_reply_to: MsgId,
        /// Where the message now lives.
        offset: Offset,
    },
    /// Read messages from the given offsets (spec: kafka.md 2.3).
    Poll {
        /// The request id.
        msg_id: MsgId,
        /// For each key, the next offset the client wants.
        offsets: Vec<(Key, Offset)>,
    },
    /// Messages per key, each run ascending from the requested offset.
    PollOk {
        /// The `msg_id` of the `poll`.
        in_reply_to: MsgId,
        /// One run per key that had messages to return.
        msgs: Vec<MsgRun>,
    },
    /// Record the highest processed offset per key (spec: kafka.md 2.4).
    CommitOffsets {
        /// The request id.
        msg_id: MsgId,
        /// For each key, the highest offset processed (inclusive).
        offsets: Vec<(Key, Offset)>,
    },
    /// The answer to `commit_offsets`.
    CommitOffsetsOk {
        /// The `msg_id` of the `commit_offsets`.
        in_reply_to: MsgId,
    },
    /// Read the committed offsets of some keys (spec: kafka.md 2.5).
    ListCommittedOffsets {
        /// The request id.
        msg_id: MsgId,
        /// The keys asked about.
        keys: Vec<Key>,
    },
    /// The committed offsets of the keys that have one.
    ListCommittedOffsetsOk {
        /// The `msg_id` of the `list_committed_offsets`.
        in_reply_to: MsgId,
        /// Committed offset per key.
        offsets: Vec<(Key, Offset)>,
    },
    /// An error reply (spec: kafka.md 1.6).
    Error {
        /// The `msg_id` of the request that failed.
        in_reply_to: MsgId,
        /// Maelstrom's error code.
        code: ErrorCode,
        /// What went wrong, for people.
        text: String,
    },
    /// The replication packet between server nodes (see [`Sync`]). Boxed: it is far larger
    /// than every client message, which would otherwise all pay for its size.
    Sync(Box<Sync>),
    /// A request for a vote between server nodes.
    Vote(Vote),
    /// The answer to a [`Body::Vote`].
    VoteReply(VoteReply),
    /// Any other body type: replies and requests of Maelstrom's services, and types this
    /// node does not know.
    Other {
        /// The body's `type`.
        kind: String,
        /// Its `msg_id`, when it has one.
        msg_id: Option<MsgId>,
        /// Its `in_reply_to`, when it has one.
        in_reply_to: Option<MsgId>,
        /// The whole body as raw JSON text, exactly as received.
        raw: Box<str>,
    },
}

impl Body {
    /// The body's `type` as it is spelled on the wire.
    pub fn kind(&self) -> &str {
        match self {
            Body::Init { .. } => "init",
            Body::InitOk { .. } => "init_ok",
            Body::Send { .. } => "send",
            Body::SendOk { .. } => "send_ok",
            Body::Poll { .. } => "poll",
            Body::PollOk { .. } => "poll_ok",
            Body::CommitOffsets { .. } => "commit_offsets",
            Body::CommitOffsetsOk { .. } => "commit_offsets_ok",
            Body::ListCommittedOffsets { .. } => "list_committed_offsets",
            Body::ListCommittedOffsetsOk { .. } => "list_committed_offsets_ok",
            Body::Error { .. } => "error",
            Body::Sync(_) => "sync",
            Body::Vote(_) => "vote",
            Body::VoteReply(_) => "vote_reply",
            Body::Other { kind, .. } => kind,
        }
    }

    /// The request id, for bodies that carry one.
    pub fn msg_id(&self) -> Option<MsgId> {
        match self {
            Body::Init { msg_id, .. }
            | Body::Send { msg_id, .. }
            | Body::Poll { msg_id, .. }
            | Body::CommitOffsets { msg_id, .. }
            | Body::ListCommittedOffsets { msg_id, .. } => Some(*msg_id),
            Body::Other { msg_id, .. } => *msg_id,
            _ => None,
        }
    }

    /// The id of the request this body answers, for replies.
    pub fn in_reply_to(&self) -> Option<MsgId> {
        match self {
            Body::InitOk { in_reply_to }
            | Body::SendOk { in_reply_to, .. }
            | Body::PollOk { in_reply_to, .. }
            | Body::CommitOffsetsOk { in_reply_to }
            | Body::ListCommittedOffsetsOk { in_reply_to, .. }
            | Body::Error { in_reply_to, .. } => Some(*in_reply_to),
            Body::Other { in_reply_to, .. } => *in_reply_to,
            _ => None,
        }
    }
}

/// A message payload: any JSON value, kept as the exact text it arrived as.
///
/// Held as a small string: Maelstrom's payloads are small integers, kept inline, so a
/// `send` allocates nothing for its payload until the log stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(SmallStr);

impl Payload {
    /// Wraps JSON text that the caller has already validated (the decoder does, through
    /// `serde_json`'s `RawValue`). For text of unknown origin use [`Payload::parse`].
    pub(crate) fn from_valid_json(text: &str) -> Payload {
        Payload(SmallStr::new(text))
    }

    /// Checks that `text` is one JSON value and wraps it, byte for byte.
    pub fn parse(text: &str) -> Result<Payload, serde_json::Error> {
        let raw: &serde_json::value::RawValue = serde_json::from_str(text)?;
        Ok(Payload::from_valid_json(raw.get()))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The JSON text's bytes, for writers that need no `&str`.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The messages of one key in a `poll_ok`: `[[offset, msg], …]`.
///
/// Payloads are packed into one string with an end index per message, so a reply costs
/// two allocations per key however many messages it carries. The run is whatever was on
/// the wire: core's node only ever builds ascending, contiguous runs, but a decoded run
/// from a buggy peer may hold anything, and the simulator's checker needs to see it as is.
#[derive(Clone, PartialEq, Eq)]
pub struct MsgRun {
    /// The log these messages belong to.
    pub key: Key,
    /// The payload texts, back to back.
    text: String,
    /// Per message: its offset and where its text ends in `text`.
    items: Vec<(Offset, usize)>,
}

impl MsgRun {
    /// An empty run for `key`.
    pub fn new(key: Key) -> MsgRun {
        MsgRun {
            key,
            text: String::new(),
            items: Vec::new(),
        }
    }

    /// A run of consecutive offsets from `first`: `text` holds the payloads back to back,
    /// and `ends` says where each one ends in it, ascending. Allocates exactly once for
    /// the text and once for the index.
    pub(crate) fn from_parts(
        key: Key,
        first: u64,
        text: &str,
        ends: impl ExactSizeIterator<Item = usize>,
    ) -> MsgRun {
        let mut items = Vec::with_capacity(ends.len());
        items.extend((first..).map(Offset).zip(ends));
        MsgRun {
            key,
            text: text.to_owned(),
            items,
        }
    }

    /// Appends one message. `raw` must be one JSON value's text (a stored [`Payload`]).
    pub(crate) fn push_raw(&mut self, offset: Offset, raw: &str) {
        self.text.push_str(raw);
        self.items.push((offset, self.text.len()));
    }

    /// Appends one message.
    pub fn push(&mut self, offset: Offset, msg: &Payload) {
        self.push_raw(offset, msg.as_str());
    }

    /// How many messages the run holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the run holds no message.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The messages in order, as `(offset, raw JSON text)`.
    pub fn iter(&self) -> impl Iterator<Item = (Offset, &str)> + '_ {
        let mut start = 0;
        self.items.iter().map(move |&(offset, end)| {
            let text = &self.text[start..end];
            start = end;
            (offset, text)
        })
    }
}

impl fmt::Debug for MsgRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: ", self.key)?;
        f.debug_list()
            .entries(self.iter().map(|(o, m)| (o.0, m)))
            .finish()
    }
}

/// A Maelstrom error code (spec: kafka.md 1.6). Codes 0–999 are Maelstrom's; any code
/// not in its table, ours included, counts as indefinite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(pub u64);

impl ErrorCode {
    /// The operation did not finish within a timeout. Indefinite.
    pub const TIMEOUT: ErrorCode = ErrorCode(0);
    /// The request went to a node that does not exist. Definite.
    pub const NODE_NOT_FOUND: ErrorCode = ErrorCode(1);
    /// This operation is not implemented. Definite.
    pub const NOT_SUPPORTED: ErrorCode = ErrorCode(10);
    /// Cannot be done now; certainly did not happen. Definite.
    pub const TEMPORARILY_UNAVAILABLE: ErrorCode = ErrorCode(11);
    /// The request could not have been processed. Definite.
    pub const MALFORMED_REQUEST: ErrorCode = ErrorCode(12);
    /// A general failure that may or may not have taken effect. Indefinite.
    pub const CRASH: ErrorCode = ErrorCode(13);
    /// A general failure that certainly did not take effect. Definite.
    pub const ABORT: ErrorCode = ErrorCode(14);
    /// The key does not exist. Definite.
    pub const KEY_DOES_NOT_EXIST: ErrorCode = ErrorCode(20);
    /// The key already exists. Definite.
    pub const KEY_ALREADY_EXISTS: ErrorCode = ErrorCode(21);
    /// A precondition (such as a CaS's `from`) did not hold. Definite.
    pub const PRECONDITION_FAILED: ErrorCode = ErrorCode(22);
    /// A transaction aborted on a conflict. Definite.
    pub const TXN_CONFLICT: ErrorCode = ErrorCode(30);

    /// Whether the code promises that the operation did not and will not happen.
    pub fn is_definite(self) -> bool {
        matches!(self.0, 1 | 10 | 11 | 12 | 14 | 20 | 21 | 22 | 30)
    }

    /// Maelstrom's name for the code, or `unknown` (as its client records it).
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "timeout",
            1 => "node-not-found",
            10 => "not-supported",
            11 => "temporarily-unavailable",
            12 => "malformed-request",
            13 => "crash",
            14 => "abort",
            20 => "key-does-not-exist",
            21 => "key-already-exists",
            22 => "precondition-failed",
            30 => "txn-conflict",
            _ => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}
