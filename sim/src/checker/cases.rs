//! The anomalies the checker can report, one variant per Jepsen error type (spec:
//! kafka.md 4.2) plus our extensions, each with the fields Jepsen reports.

use super::index::OpRef;
use crate::history::Val;
use replicator_core::{Key, NodeId};
use serde_json::{Value as Json, json};
use std::fmt;

/// Jepsen's error type names, and ours. The report is keyed by these strings.
pub mod names {
    /// One offset seen with two values.
    pub const INCONSISTENT_OFFSETS: &str = "inconsistent-offsets";
    /// One value at two offsets.
    pub const DUPLICATE: &str = "duplicate";
    /// An `Ok` poll read a definitely failed send.
    pub const G1A: &str = "G1a";
    /// A value that must have been read never was.
    pub const LOST_WRITE: &str = "lost-write";
    /// Acknowledged values never polled by the end.
    pub const UNSEEN: &str = "unseen";
    /// A process's successive polls skipped known values.
    pub const POLL_SKIP: &str = "poll-skip";
    /// A process's successive polls went back or stood still.
    pub const NONMONOTONIC_POLL: &str = "nonmonotonic-poll";
    /// One poll reply skipped known values.
    pub const INT_POLL_SKIP: &str = "int-poll-skip";
    /// One poll reply went back or repeated itself.
    pub const INT_NONMONOTONIC_POLL: &str = "int-nonmonotonic-poll";
    /// A process's successive sends to a key landed out of order.
    pub const NONMONOTONIC_SEND: &str = "nonmonotonic-send";
    /// Sends inside one op landed out of order (multi-send only).
    pub const INT_NONMONOTONIC_SEND: &str = "int-nonmonotonic-send";
    /// Sends inside one op skipped values (multi-send only; allowed).
    pub const INT_SEND_SKIP: &str = "int-send-skip";
    /// A poll returned a value before its send was invoked.
    pub const G1C_REALTIME: &str = "G1c-realtime";
    /// Elle's dependency graph had no edges.
    pub const EMPTY_TRANSACTION_GRAPH: &str = "empty-transaction-graph";
    /// A poll returned a value nobody sent to that key (our extension).
    pub const PHANTOM_VALUE: &str = "phantom-value";

    /// A node's `list_committed_offsets` went below what it acknowledged or listed.
    pub const COMMITTED_OFFSET_REGRESSION: &str = "committed-offset-regression";
    /// A node listed a committed offset above every commit sent for that key before.
    pub const LISTED_OFFSET_NEVER_COMMITTED: &str = "listed-offset-never-committed";
    /// A message some op showed is missing from a final read that covers its offset.
    pub const VANISHED_MESSAGE: &str = "vanished-message";
    /// A poll returned a message with other bytes than were sent.
    pub const PAYLOAD_CHANGED: &str = "payload-changed";
    /// A poll started past a message known to exist at or after the requested offset.
    pub const POLL_STARTS_PAST_MESSAGE: &str = "poll-starts-past-message";
    /// A poll returned an offset below the requested one.
    pub const POLL_BELOW_REQUESTED: &str = "poll-below-requested";
    /// A client reply outside the closed schema.
    pub const MALFORMED_REPLY: &str = "malformed-reply";
    /// A line outside the closed envelope.
    pub const MALFORMED_ENVELOPE: &str = "malformed-envelope";
    /// A message to a destination that does not exist.
    pub const UNKNOWN_DESTINATION: &str = "unknown-destination";
    /// A reply nobody awaited.
    pub const REPLY_TO_NOBODY: &str = "reply-to-nobody";

    /// spec: kafka.md 4.4 — the error types that never invalidate a Maelstrom test. The
    /// G0 family and the PL-1 fallbacks cannot arise without ww edges but are listed so
    /// that the rule reads like Jepsen's.
    pub const ALLOWED: &[&str] = &[
        INT_SEND_SKIP,
        "G0",
        "G0-process",
        "G0-realtime",
        "PL-1-cycle-exists",
        "strong-PL-1-cycle-exists",
    ];
}

/// One example of an anomaly. Field names follow Jepsen's error maps.
#[derive(Clone, Debug, PartialEq)]
pub enum Case {
    /// `{:key :offset :index :values}`.
    InconsistentOffsets {
        /// The key.
        key: Key,
        /// The raw offset.
        offset: u64,
        /// Its dense index.
        index: usize,
        /// The values seen there, sorted.
        values: Vec<Val>,
    },
    /// `{:key :value :count :offsets}`.
    Duplicate {
        /// The key.
        key: Key,
        /// The value.
        value: Val,
        /// How many offsets hold it.
        count: usize,
        /// The raw offsets.
        offsets: Vec<u64>,
    },
    /// `{:key :value :writer :reader}`.
    G1a {
        /// The key.
        key: Key,
        /// The value.
        value: Val,
        /// The failed send.
        writer: Option<OpRef>,
        /// The poll that read it.
        reader: OpRef,
    },
    /// `{:key :value :index :max-read-index :writer :max-read}`.
    LostWrite {
        /// The key.
        key: Key,
        /// The lost value.
        value: Val,
        /// Its first dense index.
        index: Option<usize>,
        /// The highest first index of any value read.
        max_read_index: i64,
        /// The send.
        writer: OpRef,
        /// A poll that read at `max_read_index`, when one is known.
        max_read: Option<OpRef>,
    },
    /// `{:time :unseen {k count} :messages {k [values]}}`, the last snapshot.
    Unseen {
        /// Time of the last `Ok` send or poll, in microseconds.
        time: u64,
        /// Key → how many acknowledged values no `Ok` poll returned.
        unseen: Vec<(Key, usize)>,
        /// Key → the first 32 of those values, sorted.
        messages: Vec<(Key, Vec<Val>)>,
    },
    /// Skips and nonmonotonic reads, between two ops of a process (`poll-skip`,
    /// `nonmonotonic-poll`, `nonmonotonic-send`) or inside one op (`int-*`).
    Order {
        /// The error type, one of the `names`.
        name: &'static str,
        /// The key.
        key: Key,
        /// The two values compared; `poll-skip` reports none, as in Jepsen.
        values: Option<[Val; 2]>,
        /// `index(second) - index(first)`.
        delta: i64,
        /// For skips: the values in between.
        skipped: Option<Vec<Val>>,
        /// The op (`int-*`) or the previous op and the new one.
        ops: Vec<OpRef>,
    },
    /// A wr + realtime cycle: `reader` returned `value`, and completed before `writer`,
    /// the send of that value, was invoked.
    G1cRealtime {
        /// The key.
        key: Key,
        /// The value.
        value: Val,
        /// The send.
        writer: OpRef,
        /// The poll.
        reader: OpRef,
    },
    /// Elle's graph had no vertices.
    EmptyTransactionGraph,
    /// A value read from a key that no send wrote to that key.
    PhantomValue {
        /// The key.
        key: Key,
        /// The value.
        value: Val,
        /// The first op that read it.
        reader: OpRef,
    },
    /// A node answered `list_committed_offsets` with less than it had acknowledged
    /// (`commit_offsets_ok`) or listed before the request was sent.
    CommittedOffsetRegression {
        /// The node.
        node: NodeId,
        /// The key.
        key: Key,
        /// What it answered; `None` when it left the key out.
        returned: Option<u64>,
        /// The floor it had established.
        floor: u64,
        /// Whether the floor came from a `commit` or a `list`.
        floor_source: &'static str,
        /// The op that established the floor.
        floor_op: OpRef,
        /// The assign whose list went back.
        op: OpRef,
    },
    /// A node listed a committed offset for a key above the highest offset any client
    /// asked to commit for it in a `commit_offsets` invoked before the list completed.
    ListedOffsetNeverCommitted {
        /// The node.
        node: NodeId,
        /// The key.
        key: Key,
        /// What it listed.
        listed: u64,
        /// The highest offset committed for the key before, if any was.
        highest_commit: Option<u64>,
        /// The poll whose commit sent that offset.
        commit_op: Option<OpRef>,
        /// The assign whose list answered `listed`.
        op: OpRef,
    },
    /// A message some op showed, missing from a final read that covers its offset (see
    /// `checker::vanished`).
    VanishedMessage {
        /// The key.
        key: Key,
        /// Where it was shown.
        offset: u64,
        /// The message.
        value: Val,
        /// The first op that showed it there (a `send_ok` or a poll), and when.
        first_seen: OpRef,
        /// One past the highest offset the final read returned for the key.
        read_end: u64,
        /// Whether the final read ended in a reply with no message at all, so that it
        /// covers every offset.
        ended_empty: bool,
        /// The last poll of that final read.
        final_poll: OpRef,
    },
    /// A poll returned a message whose bytes differ from those sent.
    PayloadChanged {
        /// The key.
        key: Key,
        /// The offset it was read at.
        offset: u64,
        /// The JSON text the client sent.
        sent: String,
        /// The JSON text the poll returned.
        received: String,
        /// The first poll that returned it so.
        reader: OpRef,
    },
    /// A poll whose first offset for a key is past the requested one (or below it), with
    /// the known messages it skipped.
    PollStart {
        /// `poll-starts-past-message` or `poll-below-requested`.
        name: &'static str,
        /// The key.
        key: Key,
        /// The offset the client requested, reconstructed from its history.
        requested: u64,
        /// The first offset returned.
        first_offset: u64,
        /// Known `[offset value]` pairs in `[requested, first_offset)` (at most 8).
        skipped: Vec<(u64, Val)>,
        /// The poll.
        op: OpRef,
    },
    /// Something the runner saw on the wire.
    Wire {
        /// One of the wire `names`.
        name: &'static str,
        /// The node that wrote it.
        node: NodeId,
        /// When, in microseconds.
        time: u64,
        /// The line or a description.
        detail: String,
    },
}

impl Case {
    /// Jepsen's sort key for truncation (spec: kafka.md 4.6): deltas for order cases,
    /// counts for duplicates, the number of distinct values for inconsistent offsets.
    pub(crate) fn sort_key(&self) -> i64 {
        match self {
            Case::Order { delta, .. } => *delta,
            Case::Duplicate { count, .. } => *count as i64,
            Case::InconsistentOffsets { values, .. } => values.len() as i64,
            _ => 0,
        }
    }

    /// Every op the case names, to render their values once the case is kept.
    pub(crate) fn ops_mut(&mut self) -> Vec<&mut OpRef> {
        match self {
            Case::G1a { writer, reader, .. } => writer.iter_mut().chain([reader]).collect(),
            Case::LostWrite {
                writer, max_read, ..
            } => [writer].into_iter().chain(max_read.iter_mut()).collect(),
            Case::Order { ops, .. } => ops.iter_mut().collect(),
            Case::G1cRealtime { writer, reader, .. } => vec![writer, reader],
            Case::PhantomValue { reader, .. } => vec![reader],
            Case::CommittedOffsetRegression { floor_op, op, .. } => vec![floor_op, op],
            Case::ListedOffsetNeverCommitted { commit_op, op, .. } => {
                commit_op.iter_mut().chain([op]).collect()
            }
            Case::VanishedMessage {
                first_seen,
                final_poll,
                ..
            } => vec![first_seen, final_poll],
            Case::PayloadChanged { reader, .. } => vec![reader],
            Case::PollStart { op, .. } => vec![op],
            Case::InconsistentOffsets { .. }
            | Case::Duplicate { .. }
            | Case::Unseen { .. }
            | Case::EmptyTransactionGraph
            | Case::Wire { .. } => Vec::new(),
        }
    }

    /// Every op the case names, in the order it names them (the report page's Lamport
    /// diagram shows the messages around them).
    pub fn ops(&self) -> Vec<&OpRef> {
        match self {
            Case::G1a { writer, reader, .. } => writer.iter().chain([reader]).collect(),
            Case::LostWrite {
                writer, max_read, ..
            } => [writer].into_iter().chain(max_read.iter()).collect(),
            Case::Order { ops, .. } => ops.iter().collect(),
            Case::G1cRealtime { writer, reader, .. } => vec![writer, reader],
            Case::PhantomValue { reader, .. } => vec![reader],
            Case::CommittedOffsetRegression { floor_op, op, .. } => vec![floor_op, op],
            Case::ListedOffsetNeverCommitted { commit_op, op, .. } => {
                commit_op.iter().chain([op]).collect()
            }
            Case::VanishedMessage {
                first_seen,
                final_poll,
                ..
            } => vec![first_seen, final_poll],
            Case::PayloadChanged { reader, .. } => vec![reader],
            Case::PollStart { op, .. } => vec![op],
            Case::InconsistentOffsets { .. }
            | Case::Duplicate { .. }
            | Case::Unseen { .. }
            | Case::EmptyTransactionGraph
            | Case::Wire { .. } => Vec::new(),
        }
    }

    /// The case as JSON, with Jepsen's field names.
    pub fn to_json(&self) -> Json {
        let vals = |vs: &[Val]| Json::Array(vs.iter().map(val_json).collect());
        match self {
            Case::InconsistentOffsets {
                key,
                offset,
                index,
                values,
            } => json!({"key": key.as_str(), "offset": offset, "index": index,
                        "values": vals(values)}),
            Case::Duplicate {
                key,
                value,
                count,
                offsets,
            } => json!({"key": key.as_str(), "value": val_json(value), "count": count,
                        "offsets": offsets}),
            Case::G1a {
                key,
                value,
                writer,
                reader,
            } => json!({"key": key.as_str(), "value": val_json(value),
                        "writer": writer.as_ref().map(OpRef::to_json),
                        "reader": reader.to_json()}),
            Case::LostWrite {
                key,
                value,
                index,
                max_read_index,
                writer,
                max_read,
            } => json!({"key": key.as_str(), "value": val_json(value), "index": index,
                        "max-read-index": max_read_index, "writer": writer.to_json(),
                        "max-read": max_read.as_ref().map(OpRef::to_json)}),
            Case::Unseen {
                time,
                unseen,
                messages,
            } => {
                let unseen: serde_json::Map<String, Json> = unseen
                    .iter()
                    .map(|(k, n)| (k.to_string(), json!(n)))
                    .collect();
                let messages: serde_json::Map<String, Json> = messages
                    .iter()
                    .map(|(k, vs)| (k.to_string(), vals(vs)))
                    .collect();
                json!({"time_us": time, "unseen": unseen, "messages": messages})
            }
            Case::Order {
                name: _,
                key,
                values,
                delta,
                skipped,
                ops,
            } => {
                let mut m = serde_json::Map::new();
                m.insert("key".into(), json!(key.as_str()));
                if let Some(values) = values {
                    m.insert("values".into(), vals(values));
                }
                m.insert("delta".into(), json!(delta));
                if let Some(skipped) = skipped {
                    m.insert("skipped".into(), vals(skipped));
                }
                let ops: Vec<Json> = ops.iter().map(OpRef::to_json).collect();
                if ops.len() == 1 {
                    m.insert("op".into(), ops[0].clone());
                } else {
                    m.insert("ops".into(), Json::Array(ops));
                }
                Json::Object(m)
            }
            Case::G1cRealtime {
                key,
                value,
                writer,
                reader,
            } => json!({
                "cycle": [writer.to_json(), reader.to_json(), writer.to_json()],
                "steps": [
                    {"type": "wr", "key": key.as_str(), "value": val_json(value)},
                    {"type": "realtime"},
                ],
            }),
            Case::EmptyTransactionGraph => json!(true),
            Case::PhantomValue { key, value, reader } => {
                json!({"key": key.as_str(), "value": val_json(value), "reader": reader.to_json()})
            }
            Case::CommittedOffsetRegression {
                node,
                key,
                returned,
                floor,
                floor_source,
                floor_op,
                op,
            } => json!({"node": node.as_str(), "key": key.as_str(), "returned": returned,
                        "floor": floor, "floor-source": floor_source,
                        "floor-op": floor_op.to_json(), "op": op.to_json()}),
            Case::ListedOffsetNeverCommitted {
                node,
                key,
                listed,
                highest_commit,
                commit_op,
                op,
            } => json!({"node": node.as_str(), "key": key.as_str(), "listed": listed,
                        "highest-commit": highest_commit,
                        "commit-op": commit_op.as_ref().map(OpRef::to_json),
                        "op": op.to_json()}),
            Case::VanishedMessage {
                key,
                offset,
                value,
                first_seen,
                read_end,
                ended_empty,
                final_poll,
            } => json!({"key": key.as_str(), "offset": offset, "value": val_json(value),
                        "first-seen": first_seen.to_json(), "final-read-end": read_end,
                        "final-read-ended-empty": ended_empty,
                        "final-poll": final_poll.to_json()}),
            // The texts stay strings: byte for byte is the point.
            Case::PayloadChanged {
                key,
                offset,
                sent,
                received,
                reader,
            } => json!({"key": key.as_str(), "offset": offset, "sent": sent,
                        "received": received, "reader": reader.to_json()}),
            Case::PollStart {
                name: _,
                key,
                requested,
                first_offset,
                skipped,
                op,
            } => {
                let skipped: Vec<Json> = skipped
                    .iter()
                    .map(|(o, v)| json!([o, val_json(v)]))
                    .collect();
                json!({"key": key.as_str(), "requested": requested,
                       "first-offset": first_offset, "skipped": skipped, "op": op.to_json()})
            }
            Case::Wire {
                name: _,
                node,
                time,
                detail,
            } => json!({"node": node.as_str(), "time_us": time, "detail": detail}),
        }
    }
}

/// A value as JSON: integers as numbers, anything else as the node's raw text parsed back
/// (or as a string when it does not parse).
pub(crate) fn val_json(value: &Val) -> Json {
    match value {
        Val::Int(n) => json!(n),
        Val::Raw(text) => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
    }
}

/// Writes a list of values as `[a b c]`.
fn write_vals(f: &mut fmt::Formatter<'_>, values: &[Val]) -> fmt::Result {
    f.write_str("[")?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str("]")
}

/// Shortens an op's rendering for the text report: poll results can be hundreds of pairs.
fn short(op: &OpRef) -> String {
    const MAX: usize = 160;
    let text = op.to_string();
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut} …}}")
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Case::InconsistentOffsets {
                key,
                offset,
                index,
                values,
            } => {
                write!(f, "{{:key {key:?} :offset {offset} :index {index} :values ")?;
                write_vals(f, values)?;
                f.write_str("}")
            }
            Case::Duplicate {
                key,
                value,
                count,
                offsets,
            } => {
                write!(f, "{{:key {key:?} :value {value} :count {count} :offsets [")?;
                for (i, o) in offsets.iter().enumerate() {
                    let sep = if i > 0 { " " } else { "" };
                    write!(f, "{sep}{o}")?;
                }
                f.write_str("]}")
            }
            Case::G1a {
                key,
                value,
                writer,
                reader,
            } => {
                write!(f, "{{:key {key:?} :value {value} :writer ")?;
                match writer {
                    Some(w) => f.write_str(&short(w))?,
                    None => f.write_str("nil")?,
                }
                write!(f, " :reader {}}}", short(reader))
            }
            Case::LostWrite {
                key,
                value,
                index,
                max_read_index,
                writer,
                max_read,
            } => {
                let index = index.map_or("nil".to_string(), |i| i.to_string());
                write!(
                    f,
                    "{{:key {key:?} :value {value} :index {index} :max-read-index \
                     {max_read_index} :writer {} :max-read {}}}",
                    short(writer),
                    max_read.as_ref().map_or("nil".to_string(), short)
                )
            }
            Case::Unseen {
                time,
                unseen,
                messages,
            } => {
                write!(f, "{{:time {time}us :unseen {{")?;
                for (i, (k, n)) in unseen.iter().enumerate() {
                    let sep = if i > 0 { " " } else { "" };
                    write!(f, "{sep}{k:?} {n}")?;
                }
                f.write_str("} :messages {")?;
                for (i, (k, vs)) in messages.iter().enumerate() {
                    let sep = if i > 0 { " " } else { "" };
                    write!(f, "{sep}{k:?} ")?;
                    write_vals(f, vs)?;
                }
                f.write_str("}}")
            }
            Case::Order {
                name: _,
                key,
                values,
                delta,
                skipped,
                ops,
            } => {
                write!(f, "{{:key {key:?}")?;
                if let Some(values) = values {
                    f.write_str(" :values ")?;
                    write_vals(f, values)?;
                }
                write!(f, " :delta {delta}")?;
                if let Some(skipped) = skipped {
                    f.write_str(" :skipped ")?;
                    write_vals(f, skipped)?;
                }
                f.write_str(if ops.len() == 1 { " :op" } else { " :ops" })?;
                for op in ops {
                    write!(f, " {}", short(op))?;
                }
                f.write_str("}")
            }
            Case::G1cRealtime {
                key,
                value,
                writer,
                reader,
            } => write!(
                f,
                "{{:key {key:?} :value {value} :writer {} :reader {} \
                 (the poll completed before the send was invoked)}}",
                short(writer),
                short(reader)
            ),
            Case::EmptyTransactionGraph => f.write_str("true"),
            Case::PhantomValue { key, value, reader } => write!(
                f,
                "{{:key {key:?} :value {value} :reader {} (no send wrote it)}}",
                short(reader)
            ),
            Case::CommittedOffsetRegression {
                node,
                key,
                returned,
                floor,
                floor_source,
                floor_op,
                op,
            } => {
                let returned = returned.map_or("nothing".to_string(), |o| o.to_string());
                write!(
                    f,
                    "{{:node {node} :key {key:?} :returned {returned} :floor {floor} \
                     (from its {floor_source} in {}) :op {}}}",
                    short(floor_op),
                    short(op)
                )
            }
            Case::ListedOffsetNeverCommitted {
                node,
                key,
                listed,
                highest_commit,
                commit_op,
                op,
            } => {
                write!(f, "{{:node {node} :key {key:?} :listed {listed} ")?;
                match (highest_commit, commit_op) {
                    (Some(highest), Some(commit_op)) => write!(
                        f,
                        ":highest-commit {highest} (sent after {})",
                        short(commit_op)
                    )?,
                    _ => f.write_str(":highest-commit nil (no commit was sent)")?,
                }
                write!(f, " :op {}}}", short(op))
            }
            Case::VanishedMessage {
                key,
                offset,
                value,
                first_seen,
                read_end,
                ended_empty,
                final_poll,
            } => {
                let why = if *ended_empty {
                    "then answered no message at all"
                } else {
                    "read past it"
                };
                write!(
                    f,
                    "{{:key {key:?} :offset {offset} :value {value} :first-seen {} \
                     :final-read-end {read_end} (the final read {why}) :final-poll {}}}",
                    short(first_seen),
                    short(final_poll)
                )
            }
            Case::PayloadChanged {
                key,
                offset,
                sent,
                received,
                reader,
            } => write!(
                f,
                "{{:key {key:?} :offset {offset} :sent {sent} :received {received} \
                 :reader {}}}",
                short(reader)
            ),
            Case::PollStart {
                name: _,
                key,
                requested,
                first_offset,
                skipped,
                op,
            } => {
                write!(
                    f,
                    "{{:key {key:?} :requested {requested} :first-offset {first_offset} \
                     :skipped ["
                )?;
                for (i, (o, v)) in skipped.iter().enumerate() {
                    let sep = if i > 0 { " " } else { "" };
                    write!(f, "{sep}[{o} {v}]")?;
                }
                write!(f, "] :op {}}}", short(op))
            }
            Case::Wire {
                name: _,
                node,
                time,
                detail,
            } => write!(f, "{{:node {node} :time {time}us :detail {detail:?}}}"),
        }
    }
}
