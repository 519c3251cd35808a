//! The client requests that go through the log (`send` and `commit_offsets`) and came
//! in at this node, from arrival until their client has its answer and the request is in
//! the committed log (or never will be). Both kinds take the same path; this module
//! speaks of sends, the common case.
//!
//! A send is first *held* while no leader is known: it has left nowhere, so if no leader
//! appears in time the client gets the definite error 11, and nothing can ever store it
//! (spec: kafka.md 1.6, 2.2). Once a leader is known the send gets a number at this
//! incarnation (its [`Origin`](crate::protocol::Origin)) and goes to the leader, or into
//! the log when this node leads; from then on it may be stored, so any error is the
//! indefinite 13. An *outstanding* send is retried until it is in the log, whoever
//! leads, and the leaders' deduplication by origin makes retries harmless; its client is
//! answered `send_ok` when the entry commits here, or 13 when that takes too long.
//!
//! Invariants:
//! - `held` is in arrival order, and held sends have no number;
//! - every number in `outstanding` is below `next_seq`; numbers are never reused.

use crate::ids::{MsgId, NodeId};
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

/// A numbered send, possibly stored somewhere.
#[derive(Clone, Debug)]
pub(crate) struct Outstanding {
    pub(crate) request: Request,
    /// Whether the client has had its answer (an indefinite error); the send is kept so
    /// that it still reaches the log.
    pub(crate) answered: bool,
    /// When it last went towards a leader; `None` when it should go in the next packet.
    pub(crate) sent_at: Option<Timestamp>,
}

#[derive(Debug, Default)]
pub(crate) struct Sends {
    pub(crate) held: VecDeque<Request>,
    pub(crate) outstanding: BTreeMap<u64, Outstanding>,
    next_seq: u64,
}

impl Sends {
    /// Numbers `request` and makes it outstanding; returns its number.
    pub(crate) fn number(&mut self, request: Request, sent_at: Option<Timestamp>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outstanding.insert(
            seq,
            Outstanding {
                request,
                answered: false,
                sent_at,
            },
        );
        seq
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
    }
}
