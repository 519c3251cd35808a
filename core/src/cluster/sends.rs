//! The client requests that go through the log, from arrival until the request is in the
//! committed log (or never will be): a client's `send`, and the committed offsets a
//! `commit_offsets` raised here.
//!
//! A send is first *held* while no leader is known: it has left nowhere, so if no leader
//! appears in time the client gets the definite error 11, and nothing can ever store it
//! (spec: kafka.md 1.6, 2.2). Once a leader is known the send gets a number at this
//! incarnation (its [`Origin`](crate::protocol::Origin)) and goes to the leader, or into
//! the log when this node leads; from then on it may be stored, so any error is the
//! indefinite 13. An *outstanding* request is retried until it is in the log, whoever
//! leads, and the leaders' deduplication by origin makes retries harmless; a send's
//! client is answered `send_ok` when the entry commits here, or 13 when that takes too
//! long.
//!
//! Committed offsets are max-registers: the node raised its own copy and answered the
//! client before they came here, so a commit has nobody to answer and is never held or
//! refused. It is numbered at once and waits, outstanding, for a leader to pass it to.
//! Commits that arrive before the last one has gone anywhere fold into it (the maximum
//! per key), so a node cut off for a long time keeps one pending commit, not one per
//! request, and a busy window forwards one commit entry.
//!
//! Invariants:
//! - `held` is in arrival order, and held sends have no number;
//! - every number in `outstanding` is below `next_seq`; numbers are never reused;
//! - `open_commit`, if any, is an outstanding commit that has gone to no leader and into
//!   no log, so that changing it changes nothing anyone has seen.

use crate::ids::{Key, MsgId, NodeId, Offset};
use crate::protocol::Op;
use crate::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};

/// A client's request and whom to answer.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) client: NodeId,
    pub(crate) msg_id: MsgId,
    pub(crate) op: Op,
    pub(crate) received: Timestamp,
}

/// A numbered request, possibly stored somewhere.
#[derive(Clone, Debug)]
pub(crate) struct Outstanding {
    pub(crate) op: Op,
    pub(crate) received: Timestamp,
    /// Who still waits for an answer, and to which `msg_id`: `None` once the client has
    /// had one (an indefinite error), and always for a commit. An answered send is kept
    /// so that it still reaches the log.
    pub(crate) asker: Option<(NodeId, MsgId)>,
    /// When it last went towards a leader; `None` when it should go in the next packet.
    pub(crate) sent_at: Option<Timestamp>,
}

#[derive(Debug, Default)]
pub(crate) struct Sends {
    pub(crate) held: VecDeque<Request>,
    pub(crate) outstanding: BTreeMap<u64, Outstanding>,
    /// The commit that has not left yet, which later commits fold into.
    open_commit: Option<u64>,
    next_seq: u64,
}

impl Sends {
    /// Numbers a client's `request` and makes it outstanding; returns its number.
    pub(crate) fn number(&mut self, request: Request, sent_at: Option<Timestamp>) -> u64 {
        let Request {
            client,
            msg_id,
            op,
            received,
        } = request;
        self.insert(Outstanding {
            op,
            received,
            asker: Some((client, msg_id)),
            sent_at,
        })
    }

    fn insert(&mut self, outstanding: Outstanding) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outstanding.insert(seq, outstanding);
        seq
    }

    /// Takes committed offsets to pass on: folded into the commit that has not left yet,
    /// or numbered as a new one. Returns the new commit's number, which the caller may
    /// send at once (`sent_at`); `None` when they were folded in.
    pub(crate) fn commit(
        &mut self,
        offsets: Vec<(Key, Offset)>,
        now: Timestamp,
        sent_at: Option<Timestamp>,
    ) -> Option<u64> {
        if let Some(o) = self
            .open_commit
            .and_then(|seq| self.outstanding.get_mut(&seq))
            && let Op::Commit { offsets: open } = &mut o.op
        {
            for (key, offset) in offsets {
                match open.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, o)) => *o = (*o).max(offset),
                    None => open.push((key, offset)),
                }
            }
            return None;
        }
        let seq = self.insert(Outstanding {
            op: Op::Commit { offsets },
            received: now,
            asker: None,
            sent_at,
        });
        if sent_at.is_none() {
            self.open_commit = Some(seq);
        }
        Some(seq)
    }

    /// The open commit, if any, has gone somewhere (to a leader, or into this leader's
    /// log): it may no longer change.
    pub(crate) fn close_commit(&mut self) {
        self.open_commit = None;
    }

    /// Panics if an invariant is broken.
    pub(crate) fn check_invariants(&self) {
        assert!(
            self.held
                .iter()
                .zip(self.held.iter().skip(1))
                .all(|(a, b)| a.received <= b.received),
            "held sends out of arrival order"
        );
        assert!(
            self.outstanding
                .last_key_value()
                .is_none_or(|(seq, _)| *seq < self.next_seq),
            "a send numbered ahead of the counter"
        );
        if let Some(seq) = self.open_commit {
            let o = self
                .outstanding
                .get(&seq)
                .expect("the open commit is outstanding");
            assert!(
                matches!(o.op, Op::Commit { .. }) && o.sent_at.is_none() && o.asker.is_none(),
                "the open commit has left, or is not a commit"
            );
        }
    }
}
