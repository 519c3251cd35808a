//! The history of a simulated test, as Jepsen records it (spec: kafka.md 3.8), plus what
//! the runner observed on the wire. The workload writes it; the checker only reads it.
//!
//! This module is the contract between the runner (`net`, `workload`, `run`) and the
//! checker (`checker`, `stats`): neither looks inside the other.

use replicator_core::{Key, NodeId};
use std::collections::BTreeMap;
use std::fmt;

/// Virtual time in microseconds since the start of the run.
pub type Micros = u64;

/// A client process number. Thread `t` starts as process `t`; each crash of a process `p`
/// makes the thread continue as `p + concurrency` (spec: kafka.md 3.2).
pub type Process = u64;

/// What kind of completion an operation had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpType {
    /// The operation was started.
    Invoke,
    /// It certainly happened.
    Ok,
    /// It may or may not have happened (timeouts, indefinite errors, crashes).
    Info,
    /// It certainly did not happen.
    Fail,
}

/// The operation's function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum F {
    /// `send` one message.
    Send,
    /// `poll` every assigned key (and commit what it read).
    Poll,
    /// Assign keys via `list_committed_offsets` (or seek to the beginning).
    Assign,
    /// The client process crashes; always `Info`.
    Crash,
}

/// A message value as the checker compares it. The workload only ever sends small
/// integers; anything else a node returns is kept as its raw JSON text, so that a
/// phantom or mangled value is still reported exactly as it came.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Val {
    /// A JSON integer.
    Int(i64),
    /// Any other JSON text.
    Raw(String),
}

impl Val {
    /// Classifies a message's raw JSON text: a plain integer literal is `Int`, anything
    /// else (`5.0`, `"5"`, objects) is `Raw`, since the checker's equality is structural
    /// (spec: kafka.md 2.3: `5` and `5.0` differ).
    pub fn from_json(text: &str) -> Val {
        match text.parse::<i64>() {
            Ok(n) if n.to_string() == text => Val::Int(n),
            _ => Val::Raw(text.to_string()),
        }
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Int(n) => n.fmt(f),
            Val::Raw(s) => f.write_str(s),
        }
    }
}

/// Per key, the `[offset, value]` pairs of one poll reply, in reply order.
pub type PollResult = BTreeMap<Key, Vec<(u64, Val)>>;

/// What an operation carried, at invocation or completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpValue {
    /// `[[:send k v]]`, with the offset once acknowledged: `[[:send k [o v]]]`.
    Send {
        /// The key.
        key: Key,
        /// The message.
        value: Val,
        /// The offset from `send_ok`, on `Ok` completions only.
        offset: Option<u64>,
    },
    /// `[[:poll]]` at invocation and on failures; `[[:poll {k [[o v] …]}]]` on `Ok`.
    Poll {
        /// What the node returned, on `Ok` completions only.
        msgs: Option<PollResult>,
        /// The offsets the client committed after this poll and the node acknowledged
        /// (`commit_offsets_ok`): key → highest offset read. For our stricter checks.
        committed: Option<BTreeMap<Key, u64>>,
        /// The offsets the client asked to commit after this poll when the node never
        /// acknowledged them (a timeout, an error or a malformed reply to
        /// `commit_offsets`). The poll is then `Info` or `Fail` and its results are lost
        /// (spec: kafka.md 3.6 step 4), but the commit may still have taken effect. For
        /// our stricter checks: `None` on every other poll entry.
        commit_unacknowledged: Option<BTreeMap<Key, u64>>,
    },
    /// The keys assigned.
    Assign {
        /// The keys, in the order the generator chose them.
        keys: Vec<Key>,
        /// Whether this is the final phase's seek to the beginning (no RPC).
        seek_to_beginning: bool,
        /// What `list_committed_offsets` answered, on `Ok` completions of ordinary
        /// assigns. For our stricter checks.
        committed: Option<BTreeMap<Key, u64>>,
    },
    /// A crash.
    Crash,
}

impl OpValue {
    /// The offsets a poll's client sent in `commit_offsets`, acknowledged or not: what the
    /// node may have committed because of this op.
    pub fn commit_sent(&self) -> Option<&BTreeMap<Key, u64>> {
        match self {
            OpValue::Poll {
                committed,
                commit_unacknowledged,
                ..
            } => committed.as_ref().or(commit_unacknowledged.as_ref()),
            _ => None,
        }
    }
}

/// One history entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Position in the history, from 0.
    pub index: usize,
    /// Virtual time of the event.
    pub time: Micros,
    /// The client process.
    pub process: Process,
    /// Invocation or completion type.
    pub ty: OpType,
    /// The function.
    pub f: F,
    /// The value.
    pub value: OpValue,
    /// For `Info`/`Fail`: why, e.g. `net-timeout` or `[11 "not leader"]`.
    pub error: Option<String>,
    /// The server node the process's thread is bound to (spec: kafka.md 3.2).
    pub node: NodeId,
    /// Whether the op belongs to the final phase (spec: kafka.md 3.7).
    pub is_final: bool,
}

/// A nemesis event (spec: kafka.md 6.2). Recorded apart from client operations, as the
/// checker ignores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NemesisEvent {
    /// When it took effect.
    pub time: Micros,
    /// `start-partition` with the cut, or `stop-partition`.
    pub kind: NemesisKind,
}

/// What the nemesis did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NemesisKind {
    /// Receiver → the senders it drops.
    StartPartition {
        /// Shape name: `one`, `majority`, `minority-third`, `majorities-ring`.
        shape: String,
        /// The cut.
        isolated: BTreeMap<NodeId, Vec<NodeId>>,
    },
    /// The network healed.
    StopPartition,
    /// A node crashed and lost its state (our extension, off by default).
    Crash(NodeId),
    /// A crashed node restarted empty (our extension).
    Restart(NodeId),
}

/// Something the runner saw on the wire that no history entry can express. Each is a
/// failure of the node, reported apart from the Maelstrom verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireViolation {
    /// When it was sent.
    pub time: Micros,
    /// The node that sent it.
    pub node: NodeId,
    /// What kind of violation.
    pub kind: ViolationKind,
    /// The line as the node wrote it (or a description).
    pub detail: String,
}

/// Kinds of [`WireViolation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// A client reply outside the closed schema (spec: kafka.md 1.7): Maelstrom's client
    /// throws, and the op becomes `Info`.
    MalformedReply,
    /// A line outside the closed envelope (spec: kafka.md 1.2): fatal under Maelstrom.
    MalformedEnvelope,
    /// A message to a destination that does not exist (a closed client, an unknown
    /// node): fatal under Maelstrom.
    UnknownDestination,
    /// A reply nobody awaits (an `in_reply_to` no outstanding request has).
    ReplyToNobody,
}

/// Message counts of one group (spec: kafka.md 6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetCounts {
    /// Messages put on the network, dropped ones included.
    pub send_count: u64,
    /// Messages delivered.
    pub recv_count: u64,
    /// Distinct messages (equal to `send_count`: the simulator never duplicates ids).
    pub msg_count: u64,
}

/// Message counts by group (spec: kafka.md 6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Every message.
    pub all: NetCounts,
    /// Messages with a client on either end, `init` included.
    pub clients: NetCounts,
    /// Everything else: node↔node and node↔service.
    pub servers: NetCounts,
}

/// A node restarted by the node-crash extension, and how its recovery went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The node.
    pub node: NodeId,
    /// When it restarted.
    pub restarted: Micros,
    /// When it said it had joined its cluster again, if it did (in-process nodes only).
    pub joined: Option<Micros>,
    /// Its commit index then: how much of the log it had caught up on.
    pub log: u64,
}

/// Everything a run produced, for the checker and the report.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Client operations, invocations and completions, in order.
    pub ops: Vec<Op>,
    /// Nemesis events, in order.
    pub nemesis: Vec<NemesisEvent>,
    /// Protocol violations the runner saw.
    pub violations: Vec<WireViolation>,
    /// Message counts.
    pub net: NetStats,
    /// Restarted nodes (the node-crash extension) and when each joined its cluster again.
    pub recoveries: Vec<Recovery>,
    /// When the main phase ended.
    pub main_phase_end: Micros,
    /// When the run ended.
    pub end: Micros,
}
