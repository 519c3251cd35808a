//! The client side of a run, sending: Maelstrom's clients (`c<k>`), the worker threads
//! and their processes, the generator that hands operations to free threads at the
//! configured rate, issuing each operation as a request, and recording history entries.
//!
//! Invariants:
//! - An operation goes only to a free thread (one with nothing in flight).
//! - A thread's client belongs to its current process: a new process opens a fresh one
//!   (spec: kafka.md 3.2).
//! - At most one `RpcTimeout` event per thread is pending (`Thread::timer_armed`).

use super::{
    CLIENT_CRASH_INTERVAL_S, InFlight, Owner, Phase, RPC_TIMEOUT_US, Sim, Thread, seconds,
};
use crate::client::{self, Conn, Stage};
use crate::events::Event;
use crate::history::{F, Op, OpType, OpValue};
use crate::net::Addr;
use crate::trace;
use crate::workload::Planned;
use replicator_core::{Body, Key, Message, MsgId, Payload};

impl Sim<'_> {
    pub(super) fn open_client(&mut self, owner: Owner) -> u64 {
        let k = self.next_client;
        self.next_client += 1;
        self.net.open_client(k);
        self.clients.insert(k, owner);
        let (process, node) = match owner {
            Owner::Init(node) => (None, node),
            Owner::Thread(t) => (Some(self.threads[t].process), self.threads[t].node),
        };
        self.net
            .log
            .client(k, process, self.node_ids[node].as_str());
        let now = self.now();
        self.trace.line(now, || match owner {
            Owner::Init(node) => format!("c{k} open (init of {})", self.node_ids[node]),
            Owner::Thread(t) => format!(
                "c{k} open (p{} on {})",
                self.threads[t].process, self.node_ids[self.threads[t].node]
            ),
        });
        k
    }

    pub(super) fn close_client(&mut self, k: u64) {
        self.net.close_client(k);
        self.clients.remove(&k);
        let now = self.now();
        self.trace.line(now, || format!("c{k} closed"));
    }

    /// A uniformly random free thread, if any. spec: kafka.md 3.3 says only that each op
    /// goes to a free thread; drawing one uniformly (rather than always the lowest
    /// numbered) keeps every node busy even when links answer instantly, which makes
    /// multi-node runs the harder test.
    fn pick_free(&mut self) -> Option<usize> {
        let is_free = |t: &&Thread| t.inflight.is_none();
        let free = self.threads.iter().filter(is_free).count();
        if free == 0 {
            return None;
        }
        let nth = self.sched_rng.index(free);
        self.threads
            .iter()
            .enumerate()
            .filter(|(_, t)| t.inflight.is_none())
            .nth(nth)
            .map(|(i, _)| i)
    }

    /// spec: kafka.md 3.3 — ops go to a free thread, gaps uniform on [0, 2/rate).
    pub(super) fn on_issue_op(&mut self) {
        if self.phase != Phase::Main {
            return;
        }
        let Some(t) = self.pick_free() else {
            self.op_waiting = true;
            return;
        };
        self.op_waiting = false;
        let planned = self.generator.next_op();
        self.issue(t, planned, false);
        let gap = self
            .sched_rng
            .below(seconds(2.0 / self.options.rate).max(1));
        self.events.after(gap, Event::IssueOp);
    }

    /// spec: kafka.md 3.5 — a crash about every 30/concurrency s, to a free thread.
    pub(super) fn on_issue_crash(&mut self) {
        if self.phase != Phase::Main || self.threads.is_empty() {
            return;
        }
        let Some(t) = self.pick_free() else {
            self.crash_waiting = true;
            return;
        };
        self.crash_waiting = false;
        self.issue(t, Planned::Crash, false);
        let mean = CLIENT_CRASH_INTERVAL_S / self.threads_count as f64;
        let gap = self.sched_rng.below(seconds(2.0 * mean).max(1));
        self.events.after(gap, Event::IssueCrash);
    }

    /// A thread became free: anything that waited for one goes now.
    pub(super) fn on_thread_free(&mut self, t: usize) {
        match self.phase {
            Phase::Main => {
                if self.op_waiting {
                    self.on_issue_op();
                }
                if self.crash_waiting {
                    self.on_issue_crash();
                }
            }
            Phase::Drain => self.maybe_drained(),
            Phase::Final => {
                let thread = &self.threads[t];
                if !thread.caught_up && !self.final_cut && thread.inflight.is_none() {
                    let at = thread.next_poll_at;
                    self.events.at(at, Event::FinalPoll(t));
                }
                self.maybe_finished();
            }
            _ => {}
        }
    }

    /// Makes sure thread `t` has a client for its current process: Jepsen closes the old
    /// one and opens a fresh `c<k>` at a new process's first operation (spec: kafka.md 3.2).
    fn conn_for(&mut self, t: usize) -> u64 {
        let process = self.threads[t].process;
        if let Some(conn) = &self.threads[t].conn {
            if conn.process == process {
                return conn.k;
            }
            let old = conn.k;
            self.close_client(old);
        }
        let k = self.open_client(Owner::Thread(t));
        self.threads[t].conn = Some(Conn::new(k, process));
        k
    }

    pub(super) fn record(
        &mut self,
        t: usize,
        ty: OpType,
        f: F,
        value: OpValue,
        error: Option<String>,
        is_final: bool,
    ) {
        let now = self.now();
        let thread = &self.threads[t];
        let op = Op {
            index: self.history.ops.len(),
            time: now,
            process: thread.process,
            ty,
            f,
            value,
            error,
            node: self.node_ids[thread.node].clone(),
            is_final,
        };
        self.trace.line(now, || trace::op(&op));
        self.history.ops.push(op);
    }

    pub(super) fn issue(&mut self, t: usize, planned: Planned, is_final: bool) {
        let k = self.conn_for(t);
        match planned {
            Planned::Crash => {
                self.record(t, OpType::Invoke, F::Crash, OpValue::Crash, None, is_final);
                self.record(t, OpType::Info, F::Crash, OpValue::Crash, None, is_final);
                self.threads[t].process += self.threads_count;
            }
            Planned::Assign { keys, seek: true } => {
                let value = OpValue::Assign {
                    keys: keys.clone(),
                    seek_to_beginning: true,
                    committed: None,
                };
                self.record(t, OpType::Invoke, F::Assign, value.clone(), None, is_final);
                if let Some(conn) = &mut self.threads[t].conn {
                    conn.positions = keys.into_iter().map(|k| (k, 0)).collect();
                }
                self.record(t, OpType::Ok, F::Assign, value, None, is_final);
            }
            Planned::Assign { keys, seek: false } => {
                let value = OpValue::Assign {
                    keys: keys.clone(),
                    seek_to_beginning: false,
                    committed: None,
                };
                self.record(t, OpType::Invoke, F::Assign, value, None, is_final);
                let body = |msg_id| Body::ListCommittedOffsets {
                    msg_id,
                    keys: keys.clone(),
                };
                self.request(t, k, F::Assign, Stage::Assign { keys: keys.clone() }, body);
            }
            Planned::Send { key, value } => {
                // spec: kafka.md 3.4 — the value is the key's counter; `--payloads` says
                // how it is written.
                let text = self.options.payloads.text(&key, value);
                let msg = Payload::parse(&text)
                    .expect("every payload is JSON (proven by payloads' tests)");
                let value = client::val(&text);
                let op_value = OpValue::Send {
                    key: key.clone(),
                    value: value.clone(),
                    offset: None,
                };
                self.record(t, OpType::Invoke, F::Send, op_value, None, is_final);
                let stage = Stage::Send {
                    key: key.clone(),
                    value,
                };
                self.request(t, k, F::Send, stage, |msg_id| Body::Send {
                    msg_id,
                    key,
                    msg,
                });
            }
            Planned::Poll => {
                let value = OpValue::Poll {
                    msgs: None,
                    committed: None,
                    commit_unacknowledged: None,
                };
                self.record(t, OpType::Invoke, F::Poll, value, None, is_final);
                let offsets = self.positions(t);
                self.request(t, k, F::Poll, Stage::Poll, |msg_id| Body::Poll {
                    msg_id,
                    offsets,
                });
            }
        }
    }

    fn positions(&self, t: usize) -> Vec<(Key, replicator_core::Offset)> {
        self.threads[t]
            .conn
            .as_ref()
            .map(|c| {
                c.positions
                    .iter()
                    .map(|(k, &o)| (k.clone(), replicator_core::Offset(o)))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn request(
        &mut self,
        t: usize,
        k: u64,
        f: F,
        stage: Stage,
        body: impl FnOnce(MsgId) -> Body,
    ) {
        let Some(conn) = self.threads[t].conn.as_mut() else {
            return;
        };
        let msg_id = conn.next_msg_id();
        let msg = Message {
            src: conn.id.clone(),
            dest: self.node_ids[self.threads[t].node].clone(),
            body: body(MsgId(msg_id)),
        };
        let deadline = self.now() + RPC_TIMEOUT_US;
        self.threads[t].inflight = Some(InFlight {
            f,
            stage,
            msg_id,
            deadline,
        });
        if !self.threads[t].timer_armed {
            self.threads[t].timer_armed = true;
            self.events.at(deadline, Event::RpcTimeout(t));
        }
        let to = Addr::Node(self.threads[t].node);
        self.net
            .send(Addr::Client(k), to, msg, &mut self.events, &mut self.trace);
    }
}
