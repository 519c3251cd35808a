//! Maelstrom's kafka client, one per Jepsen process (spec: kafka.md 1.7, 3.6): the pure
//! parts. The runner owns the timing; this module decides what a reply means.
//!
//! Invariants:
//! - A client has at most one request outstanding (Jepsen clients are synchronous).
//! - `positions` holds, per assigned key, the next offset to poll from; it only moves
//!   forward on a poll, and an assign keeps exactly the assigned keys.
//! - A reply is accepted only if it is the right kind for the request (the closed reply
//!   schemas of spec: kafka.md 1.7) or an error; anything else is a malformed reply.

use crate::history::{OpType, PollResult, Val};
use replicator_core::{Body, Key, MsgRun, NodeId};
use std::collections::BTreeMap;

/// An open Maelstrom client `c<k>`, owned by one process of one thread.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Its number.
    pub k: u64,
    /// `c<k>`.
    pub id: NodeId,
    /// The process it was opened for.
    pub process: u64,
    /// The last request id used; requests are numbered 1, 2, 3, … (spec: kafka.md 1.4).
    pub last_msg_id: u64,
    /// Per assigned key, the next offset to request.
    pub positions: BTreeMap<Key, u64>,
}

impl Conn {
    pub(crate) fn new(k: u64, process: u64) -> Conn {
        Conn {
            k,
            id: NodeId::new(&format!("c{k}")),
            process,
            last_msg_id: 0,
            positions: BTreeMap::new(),
        }
    }

    pub(crate) fn next_msg_id(&mut self) -> u64 {
        self.last_msg_id += 1;
        self.last_msg_id
    }

    /// spec: kafka.md 3.6 — after a poll, each returned key moves to just past its
    /// highest offset (an empty list counts as offset −1, so it only adds the key).
    pub(crate) fn advance(&mut self, msgs: &PollResult) {
        for (key, pairs) in msgs {
            let next = pairs.iter().map(|(o, _)| o + 1).max().unwrap_or(0);
            let position = self.positions.entry(key.clone()).or_insert(0);
            *position = (*position).max(next);
        }
    }

    /// spec: kafka.md 3.6 — an assign keeps the current position of a key already held,
    /// else the committed offset, else 0; every other key is dropped.
    pub(crate) fn assign(&mut self, keys: &[Key], committed: &BTreeMap<Key, u64>) {
        let positions = keys
            .iter()
            .map(|k| {
                let at = self.positions.get(k).or(committed.get(k)).copied();
                (k.clone(), at.unwrap_or(0))
            })
            .collect();
        self.positions = positions;
    }
}

/// What an in-flight operation awaits.
#[derive(Clone, Debug)]
pub(crate) enum Stage {
    /// `send_ok`, for a message of payload `value`.
    Send { key: Key, value: Val },
    /// `poll_ok`.
    Poll,
    /// `commit_offsets_ok`, after a poll that returned `msgs`.
    Commit {
        msgs: PollResult,
        commit: BTreeMap<Key, u64>,
    },
    /// `list_committed_offsets_ok`.
    Assign { keys: Vec<Key> },
}

impl Stage {
    /// The reply type the request calls for.
    pub(crate) fn expected(&self) -> &'static str {
        match self {
            Stage::Send { .. } => "send_ok",
            Stage::Poll => "poll_ok",
            Stage::Commit { .. } => "commit_offsets_ok",
            Stage::Assign { .. } => "list_committed_offsets_ok",
        }
    }

    /// spec: kafka.md 1.7 — only assign is idempotent.
    pub(crate) fn is_idempotent(&self) -> bool {
        matches!(self, Stage::Assign { .. })
    }

    /// Whether `body` is an acceptable reply kind (the right `_ok` or an error).
    pub(crate) fn accepts(&self, body: &Body) -> bool {
        matches!(
            (self, body),
            (_, Body::Error { .. })
                | (Stage::Send { .. }, Body::SendOk { .. })
                | (Stage::Poll, Body::PollOk { .. })
                | (Stage::Commit { .. }, Body::CommitOffsetsOk { .. })
                | (Stage::Assign { .. }, Body::ListCommittedOffsetsOk { .. })
        )
    }

    /// spec: kafka.md 1.7 — a timeout is `:fail` for idempotent ops, else `:info`.
    pub(crate) fn timeout_type(&self) -> OpType {
        if self.is_idempotent() {
            OpType::Fail
        } else {
            OpType::Info
        }
    }

    /// spec: kafka.md 1.7 — an error reply is `:fail` if its code is definite or the op
    /// idempotent, else `:info`.
    pub(crate) fn error_type(&self, code: replicator_core::ErrorCode) -> OpType {
        if code.is_definite() || self.is_idempotent() {
            OpType::Fail
        } else {
            OpType::Info
        }
    }
}

/// A message's raw JSON as a checker value, without allocating for plain integers.
pub(crate) fn val(text: &str) -> Val {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    match text.parse::<i64>() {
        Ok(n) if canonical => Val::Int(n),
        _ => Val::from_json(text),
    }
}

/// A `poll_ok`'s runs as the history records them. A key named twice keeps its last run,
/// as a JSON object with a repeated key reads under Maelstrom's parser.
pub(crate) fn poll_result(runs: &[MsgRun]) -> PollResult {
    runs.iter()
        .map(|run| {
            let pairs = run.iter().map(|(o, m)| (o.0, val(m))).collect();
            (run.key.clone(), pairs)
        })
        .collect()
}

/// spec: kafka.md 3.6 — the commit after a poll: the highest offset read per key that
/// returned at least one message.
pub(crate) fn commit_of(msgs: &PollResult) -> BTreeMap<Key, u64> {
    msgs.iter()
        .filter_map(|(k, pairs)| Some((k.clone(), pairs.iter().map(|(o, _)| *o).max()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use replicator_core::{ErrorCode, MsgId};

    fn key(k: &str) -> Key {
        Key::new(k)
    }

    #[test]
    fn values_classify_like_the_checker() {
        assert_eq!(val("5"), Val::Int(5));
        assert_eq!(val("-3"), Val::Int(-3));
        assert_eq!(val("0"), Val::Int(0));
        assert_eq!(val("5.0"), Val::Raw("5.0".into()));
        assert_eq!(val("05"), Val::Raw("05".into()));
        assert_eq!(val("\"5\""), Val::Raw("\"5\"".into()));
        assert_eq!(
            val("99999999999999999999"),
            Val::Raw("99999999999999999999".into())
        );
    }

    #[test]
    fn polls_advance_positions_and_commit_only_keys_with_messages() {
        let mut conn = Conn::new(3, 0);
        conn.positions.insert(key("a"), 2);
        let mut msgs = PollResult::new();
        msgs.insert(key("a"), vec![(2, Val::Int(1)), (3, Val::Int(2))]);
        msgs.insert(key("b"), vec![]);
        conn.advance(&msgs);
        assert_eq!(conn.positions.get("a"), Some(&4));
        assert_eq!(
            conn.positions.get("b"),
            Some(&0),
            "unrequested keys are adopted"
        );
        let commit = commit_of(&msgs);
        assert_eq!(commit.into_iter().collect::<Vec<_>>(), vec![(key("a"), 3)]);
    }

    #[test]
    fn assign_keeps_held_positions_then_committed_then_zero() {
        let mut conn = Conn::new(0, 0);
        conn.positions.insert(key("a"), 7);
        conn.positions.insert(key("z"), 1);
        let committed = BTreeMap::from([(key("a"), 1), (key("b"), 4)]);
        conn.assign(&[key("a"), key("b"), key("c")], &committed);
        let got: Vec<(Key, u64)> = conn.positions.clone().into_iter().collect();
        assert_eq!(got, vec![(key("a"), 7), (key("b"), 4), (key("c"), 0)]);
    }

    #[test]
    fn classification_follows_definiteness_and_idempotence() {
        let send = Stage::Send {
            key: key("a"),
            value: Val::Int(1),
        };
        let assign = Stage::Assign { keys: vec![] };
        assert_eq!(
            send.error_type(ErrorCode::TEMPORARILY_UNAVAILABLE),
            OpType::Fail
        );
        assert_eq!(send.error_type(ErrorCode::CRASH), OpType::Info);
        assert_eq!(send.error_type(ErrorCode(1000)), OpType::Info);
        assert_eq!(assign.error_type(ErrorCode::CRASH), OpType::Fail);
        assert_eq!(send.timeout_type(), OpType::Info);
        assert_eq!(assign.timeout_type(), OpType::Fail);
        assert!(send.accepts(&Body::Error {
            in_reply_to: MsgId(1),
            code: ErrorCode::CRASH,
            text: String::new()
        }));
        assert!(!Stage::Poll.accepts(&Body::CommitOffsetsOk {
            in_reply_to: MsgId(1)
        }));
    }
}
