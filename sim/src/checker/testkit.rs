//! A small builder for hand-made histories in the checker's tests. Each call appends an
//! invocation and its completion 1 ms apart, so a history reads top to bottom like
//! Jepsen's `history.txt`; `invoke_*`/`complete_*` pairs build concurrent ops.

use crate::history::{F, History, Op, OpType, OpValue, PollResult, Process, Val};
use replicator_core::{Key, NodeId};
use std::collections::BTreeMap;

/// A poll reply in test notation: key → `[offset, value]` pairs.
pub(crate) type Msgs<'a> = &'a [(&'a str, &'a [(u64, i64)])];

/// Builds a [`History`].
pub(crate) struct Hb {
    history: History,
    time: u64,
    node: NodeId,
}

impl Hb {
    pub fn new() -> Hb {
        Hb {
            history: History::default(),
            time: 0,
            node: NodeId::new("n0"),
        }
    }

    /// Binds the following ops to `node`.
    pub fn on(&mut self, node: &str) -> &mut Hb {
        self.node = NodeId::new(node);
        self
    }

    /// Appends one entry; returns its index.
    pub fn push(&mut self, process: Process, ty: OpType, f: F, value: OpValue) -> usize {
        self.time += 1000;
        let index = self.history.ops.len();
        let error = match ty {
            OpType::Info => Some("net-timeout".to_string()),
            OpType::Fail => Some("[11 \"temporarily-unavailable\"]".to_string()),
            _ => None,
        };
        self.history.ops.push(Op {
            index,
            time: self.time,
            process,
            ty,
            f,
            value,
            error,
            node: self.node.clone(),
            is_final: false,
        });
        index
    }

    fn send_value(key: &str, value: i64, offset: Option<u64>) -> OpValue {
        OpValue::Send {
            key: Key::new(key),
            value: Val::Int(value),
            offset,
        }
    }

    /// An acknowledged send of a payload given as its JSON text.
    pub fn send_json(&mut self, p: Process, key: &str, text: &str, offset: u64) -> &mut Hb {
        let value = |offset| OpValue::Send {
            key: Key::new(key),
            value: Val::from_json(text),
            offset,
        };
        self.push(p, OpType::Invoke, F::Send, value(None));
        self.push(p, OpType::Ok, F::Send, value(Some(offset)));
        self
    }

    /// An `Ok` poll of one key whose payloads are given as JSON texts.
    pub fn poll_json(&mut self, p: Process, key: &str, pairs: &[(u64, &str)]) -> &mut Hb {
        self.invoke_poll(p);
        let list: Vec<(u64, Val)> = pairs.iter().map(|&(o, t)| (o, Val::from_json(t))).collect();
        let mut committed = BTreeMap::new();
        if let Some(hi) = pairs.iter().map(|&(o, _)| o).max() {
            committed.insert(Key::new(key), hi);
        }
        let value = OpValue::Poll {
            msgs: Some([(Key::new(key), list)].into_iter().collect()),
            committed: Some(committed),
            commit_unacknowledged: None,
        };
        self.push(p, OpType::Ok, F::Poll, value);
        self
    }

    pub fn invoke_send(&mut self, p: Process, key: &str, value: i64) -> usize {
        self.push(
            p,
            OpType::Invoke,
            F::Send,
            Self::send_value(key, value, None),
        )
    }

    /// Completes a send: `Some(offset)` is `Ok`, `None` takes `ty`.
    pub fn complete_send(
        &mut self,
        p: Process,
        key: &str,
        value: i64,
        ty: OpType,
        offset: Option<u64>,
    ) -> usize {
        self.push(p, ty, F::Send, Self::send_value(key, value, offset))
    }

    /// An acknowledged send.
    pub fn send(&mut self, p: Process, key: &str, value: i64, offset: u64) -> &mut Hb {
        self.invoke_send(p, key, value);
        self.complete_send(p, key, value, OpType::Ok, Some(offset));
        self
    }

    /// A send that failed definitely.
    pub fn send_fail(&mut self, p: Process, key: &str, value: i64) -> &mut Hb {
        self.invoke_send(p, key, value);
        self.complete_send(p, key, value, OpType::Fail, None);
        self
    }

    /// A send with an indefinite outcome.
    pub fn send_info(&mut self, p: Process, key: &str, value: i64) -> &mut Hb {
        self.invoke_send(p, key, value);
        self.complete_send(p, key, value, OpType::Info, None);
        self
    }

    pub fn invoke_poll(&mut self, p: Process) -> usize {
        let value = OpValue::Poll {
            msgs: None,
            committed: None,
            commit_unacknowledged: None,
        };
        self.push(p, OpType::Invoke, F::Poll, value)
    }

    /// Completes a poll with `Ok`; the client commits the highest offset of each
    /// non-empty list, as Maelstrom's does.
    pub fn complete_poll(&mut self, p: Process, msgs: Msgs<'_>) -> usize {
        let mut result = PollResult::new();
        let mut committed = BTreeMap::new();
        for (key, pairs) in msgs {
            let list: Vec<(u64, Val)> = pairs.iter().map(|&(o, v)| (o, Val::Int(v))).collect();
            if let Some(hi) = pairs.iter().map(|&(o, _)| o).max() {
                committed.insert(Key::new(key), hi);
            }
            result.insert(Key::new(key), list);
        }
        let value = OpValue::Poll {
            msgs: Some(result),
            committed: Some(committed),
            commit_unacknowledged: None,
        };
        self.push(p, OpType::Ok, F::Poll, value)
    }

    /// An `Ok` poll.
    pub fn poll(&mut self, p: Process, msgs: Msgs<'_>) -> &mut Hb {
        self.invoke_poll(p);
        self.complete_poll(p, msgs);
        self
    }

    /// A poll whose reply came, but whose commit of `commit` got no acknowledgement: the
    /// op is `Info` and its results are lost, though the commit may have taken effect.
    pub fn poll_commit_unacknowledged(&mut self, p: Process, commit: &[(&str, u64)]) -> &mut Hb {
        self.invoke_poll(p);
        let value = OpValue::Poll {
            msgs: None,
            committed: None,
            commit_unacknowledged: Some(commit.iter().map(|&(k, o)| (Key::new(k), o)).collect()),
        };
        self.push(p, OpType::Info, F::Poll, value);
        self
    }

    /// A poll that failed (its results are lost from the history).
    pub fn poll_fail(&mut self, p: Process) -> &mut Hb {
        self.invoke_poll(p);
        let value = OpValue::Poll {
            msgs: None,
            committed: None,
            commit_unacknowledged: None,
        };
        self.push(p, OpType::Fail, F::Poll, value);
        self
    }

    fn assign_value(keys: &[&str], seek: bool, listed: Option<&[(&str, u64)]>) -> OpValue {
        OpValue::Assign {
            keys: keys.iter().map(|k| Key::new(k)).collect(),
            seek_to_beginning: seek,
            committed: listed.map(|l| l.iter().map(|&(k, o)| (Key::new(k), o)).collect()),
        }
    }

    /// An `Ok` assign whose `list_committed_offsets` answered `listed`.
    pub fn assign_listed(&mut self, p: Process, keys: &[&str], listed: &[(&str, u64)]) -> &mut Hb {
        self.push(
            p,
            OpType::Invoke,
            F::Assign,
            Self::assign_value(keys, false, None),
        );
        self.push(
            p,
            OpType::Ok,
            F::Assign,
            Self::assign_value(keys, false, Some(listed)),
        );
        self
    }

    /// An `Ok` assign that found no committed offsets.
    pub fn assign(&mut self, p: Process, keys: &[&str]) -> &mut Hb {
        self.assign_listed(p, keys, &[])
    }

    /// The final phase's seek to the beginning.
    pub fn seek(&mut self, p: Process, keys: &[&str]) -> &mut Hb {
        self.push(
            p,
            OpType::Invoke,
            F::Assign,
            Self::assign_value(keys, true, None),
        );
        self.push(
            p,
            OpType::Ok,
            F::Assign,
            Self::assign_value(keys, true, None),
        );
        self
    }

    /// A crash of process `p`.
    pub fn crash(&mut self, p: Process) -> &mut Hb {
        self.push(p, OpType::Invoke, F::Crash, OpValue::Crash);
        self.push(p, OpType::Info, F::Crash, OpValue::Crash);
        self
    }

    /// Node `node` crashes and restarts (the node-crash extension), between the ops
    /// before and after.
    pub fn node_crash(&mut self, node: &str) -> &mut Hb {
        use crate::history::{NemesisEvent, NemesisKind};
        for kind in [NemesisKind::Crash, NemesisKind::Restart] {
            self.time += 1000;
            self.history.nemesis.push(NemesisEvent {
                time: self.time,
                kind: kind(NodeId::new(node)),
            });
        }
        self
    }

    /// Direct access to the history being built (violations, net counts).
    pub fn history_mut(&mut self) -> &mut History {
        &mut self.history
    }

    pub fn build(&self) -> History {
        let mut history = self.history.clone();
        history.end = self.time;
        history
    }
}
