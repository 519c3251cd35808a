//! The client side of a run, receiving: replies matched to the request in flight, RPC
//! timeouts, and the completion that records an operation's outcome and frees its thread.
//!
//! Invariants:
//! - A reply completes an operation only if it reaches the thread's current client and
//!   answers the `msg_id` in flight; anything else is noted as a violation and dropped
//!   (spec: kafka.md 1.7).
//! - A completion records exactly one entry, for the operation in flight, then frees the
//!   thread; an indefinite (`info`) completion also crashes the process.

use super::{Phase, Sim};
use crate::client::{self, Stage};
use crate::events::Event;
use crate::history::{F, OpType, OpValue, ViolationKind};
use crate::net::{Addr, Envelope};
use crate::trace;
use replicator_core::{Body, Key};
use std::collections::BTreeMap;

impl Sim<'_> {
    fn is_final(&self) -> bool {
        self.phase == Phase::Final
    }

    fn complete(&mut self, t: usize, ty: OpType, value: OpValue, error: Option<String>) {
        let Some(inflight) = self.threads[t].inflight.take() else {
            return;
        };
        let is_final = self.is_final();
        self.record(t, ty, inflight.f, value, error, is_final);
        if ty == OpType::Info {
            // spec: kafka.md 1.7 — an indefinite result crashes the process.
            self.threads[t].process += self.threads_count;
        }
        self.on_thread_free(t);
    }

    fn failed_value(stage: &Stage) -> OpValue {
        match stage {
            Stage::Send { key, value } => OpValue::Send {
                key: key.clone(),
                value: value.clone(),
                offset: None,
            },
            Stage::Poll => OpValue::Poll {
                msgs: None,
                committed: None,
                commit_unacknowledged: None,
            },
            // The commit was sent: it may have taken effect even though the op failed.
            Stage::Commit { commit, .. } => OpValue::Poll {
                msgs: None,
                committed: None,
                commit_unacknowledged: Some(commit.clone()),
            },
            Stage::Assign { keys } => OpValue::Assign {
                keys: keys.clone(),
                seek_to_beginning: false,
                committed: None,
            },
        }
    }

    pub(super) fn on_rpc_timeout(&mut self, t: usize) {
        let now = self.now();
        self.threads[t].timer_armed = false;
        let Some(inflight) = &self.threads[t].inflight else {
            return;
        };
        if inflight.deadline > now {
            // The request this timer was armed for was answered; wait for the current one.
            let deadline = inflight.deadline;
            self.threads[t].timer_armed = true;
            self.events.at(deadline, Event::RpcTimeout(t));
            return;
        }
        let ty = inflight.stage.timeout_type();
        let value = Self::failed_value(&inflight.stage);
        self.complete(t, ty, value, Some("net-timeout".into()));
    }

    pub(super) fn on_client_reply(&mut self, t: usize, k: u64, env: Envelope) {
        let node = self.threads[t].node;
        let in_reply_to = env.msg.body.in_reply_to().map(|m| m.0);
        let awaiting = self.threads[t].conn.as_ref().is_some_and(|c| c.k == k)
            && self.threads[t].inflight.as_ref().map(|i| i.msg_id) == in_reply_to
            && in_reply_to.is_some();
        if !awaiting {
            // spec: kafka.md 1.7 — the client drops it silently; we note it.
            let detail = format!(
                "to {} (awaiting no such reply): {}",
                env.msg.dest,
                env.msg.to_json()
            );
            let sender = self.resolve(&env.msg.src).and_then(|a| match a {
                Addr::Node(i) => Some(i),
                _ => None,
            });
            self.violation(sender.unwrap_or(node), ViolationKind::ReplyToNobody, detail);
            return;
        }
        let src = env.msg.src.clone();
        let body = match self.driver.read_reply(env.msg) {
            Ok(msg) => msg.body,
            Err(problem) => {
                let i = match self.resolve(&src) {
                    Some(Addr::Node(i)) => i,
                    _ => node,
                };
                self.violation(i, ViolationKind::MalformedReply, problem.clone());
                let stage = &self.threads[t].inflight.as_ref().expect("awaiting").stage;
                let value = Self::failed_value(stage);
                self.complete(
                    t,
                    OpType::Info,
                    value,
                    Some(format!("malformed-reply: {problem}")),
                );
                return;
            }
        };
        let stage = self.threads[t]
            .inflight
            .as_ref()
            .expect("awaiting")
            .stage
            .clone();
        if !stage.accepts(&body) {
            let detail = format!(
                "expected {} or error, got {}",
                stage.expected(),
                trace::body(&body)
            );
            let sender = match self.resolve(&src) {
                Some(Addr::Node(i)) => i,
                _ => node,
            };
            self.violation(sender, ViolationKind::MalformedReply, detail.clone());
            self.complete(
                t,
                OpType::Info,
                Self::failed_value(&stage),
                Some(format!("malformed-reply: {detail}")),
            );
            return;
        }
        if let Body::Error { code, text, .. } = &body {
            let ty = stage.error_type(*code);
            let error = format!("[{} {text:?}]", code.0);
            self.complete(t, ty, Self::failed_value(&stage), Some(error));
            return;
        }
        match (stage, body) {
            (Stage::Send { key, value }, Body::SendOk { offset, .. }) => {
                self.generator.on_send_ok(&key, offset.0);
                let value = OpValue::Send {
                    key,
                    value,
                    offset: Some(offset.0),
                };
                self.complete(t, OpType::Ok, value, None);
            }
            (Stage::Poll, Body::PollOk { msgs, .. }) => {
                let msgs = client::poll_result(&msgs);
                let commit = client::commit_of(&msgs);
                if let Some(conn) = &mut self.threads[t].conn {
                    conn.advance(&msgs);
                }
                if commit.is_empty() {
                    self.poll_ok(t, msgs, None);
                } else {
                    let offsets: Vec<(Key, replicator_core::Offset)> = commit
                        .iter()
                        .map(|(k, &o)| (k.clone(), replicator_core::Offset(o)))
                        .collect();
                    let stage = Stage::Commit { msgs, commit };
                    self.request(t, k, F::Poll, stage, |msg_id| Body::CommitOffsets {
                        msg_id,
                        offsets,
                    });
                }
            }
            (Stage::Commit { msgs, commit }, Body::CommitOffsetsOk { .. }) => {
                self.poll_ok(t, msgs, Some(commit));
            }
            (Stage::Assign { keys }, Body::ListCommittedOffsetsOk { offsets, .. }) => {
                let committed: BTreeMap<Key, u64> =
                    offsets.into_iter().map(|(k, o)| (k, o.0)).collect();
                if let Some(conn) = &mut self.threads[t].conn {
                    conn.assign(&keys, &committed);
                }
                let value = OpValue::Assign {
                    keys,
                    seek_to_beginning: false,
                    committed: Some(committed),
                };
                self.complete(t, OpType::Ok, value, None);
            }
            _ => unreachable!("Stage::accepts admitted only these pairs"),
        }
    }

    fn poll_ok(
        &mut self,
        t: usize,
        msgs: crate::history::PollResult,
        committed: Option<BTreeMap<Key, u64>>,
    ) {
        self.generator.on_poll_ok(&msgs);
        if self.is_final() {
            let thread = &mut self.threads[t];
            for (key, pairs) in &msgs {
                if let Some(max) = pairs.iter().map(|(o, _)| *o).max() {
                    let seen = thread.seen.entry(key.clone()).or_insert(max);
                    *seen = (*seen).max(max);
                }
            }
            let seen = &thread.seen;
            thread.caught_up = self
                .target
                .iter()
                .all(|(k, target)| seen.get(k).is_some_and(|s| s >= target));
        }
        let value = OpValue::Poll {
            msgs: Some(msgs),
            committed,
            commit_unacknowledged: None,
        };
        self.complete(t, OpType::Ok, value, None);
    }
}
