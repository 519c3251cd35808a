//! Terms, roles and votes: Raft's election with pre-vote and check-quorum.
//!
//! A node is a follower, a pre-candidate (asking whether it could win, without touching
//! anyone's term), a candidate (asking for votes in a new term) or the leader of its term.
//! Raft's rules hold: one vote per term, votes only for a log at least as up to date as
//! the voter's, a higher term seen anywhere makes a node a follower of that term.
//!
//! Leases keep a working leader in place (Raft's pre-vote plus check-quorum, §9.6 of
//! Ongaro's thesis): a node that has heard from a live leader within the election timeout
//! refuses pre-votes and votes, so a node that was cut off, or hears only one way,
//! cannot depose a leader the others still hear; and a leader that has not heard from a
//! majority within that time steps down, so the majority's side elects a new one.
//!
//! Liveness is measured by the leader's heartbeat count `hb`, which it raises every
//! heartbeat interval and which every packet carries, relayed or not: a larger count is
//! fresh news that the leader lives, whoever carried it.
//!
//! Invariants:
//! - `leader == Some(me)` exactly when `role` is `Leader`;
//! - `voted_for` is only set in the term it was set in (cleared when the term changes);
//! - `grants` is empty unless `role` is `PreCandidate` or `Candidate`.

use crate::ids::Term;
use crate::time::Timestamp;
use std::collections::{BTreeSet, VecDeque};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Follower,
    /// Awaiting pre-votes for `term + 1`.
    PreCandidate,
    /// Awaiting votes for `term`.
    Candidate,
    Leader,
}

#[derive(Debug)]
pub(crate) struct Election {
    /// The current term.
    pub(crate) term: Term,
    pub(crate) role: Role,
    /// Who leads `term`, once known. Knowledge of a term's leader never goes stale (a term
    /// has one leader); whether it is alive is `hb_at`'s business.
    pub(crate) leader: Option<usize>,
    /// Whom this node voted for in `term`.
    pub(crate) voted_for: Option<usize>,
    /// Nodes that granted the (pre-)vote this node awaits, itself included.
    pub(crate) grants: BTreeSet<usize>,
    /// The leader's heartbeat count: the highest seen in `term`, or the leader's own.
    pub(crate) hb: u64,
    /// When `hb` last grew in this term (for a leader, when it last beat); `None` until a
    /// heartbeat of this term is heard.
    pub(crate) hb_at: Option<Timestamp>,
    /// A non-leader starts a pre-vote at this time.
    pub(crate) timeout_at: Timestamp,
    /// The leader raises `hb` at this time.
    pub(crate) next_hb_at: Timestamp,
    /// The leader: when it became leader.
    pub(crate) leader_since: Timestamp,
    /// The leader: when each recent heartbeat count was issued, ascending.
    issued: VecDeque<(u64, Timestamp)>,
}

impl Election {
    pub(crate) fn new(timeout_at: Timestamp) -> Election {
        Election {
            term: Term(0),
            role: Role::Follower,
            leader: None,
            voted_for: None,
            grants: BTreeSet::new(),
            hb: 0,
            hb_at: None,
            timeout_at,
            next_hb_at: Timestamp::ZERO,
            leader_since: Timestamp::ZERO,
            issued: VecDeque::new(),
        }
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// Whether this node leads, or has heard from its term's leader within `lease_us`.
    pub(crate) fn has_live_leader(&self, now: Timestamp, lease_us: u64) -> bool {
        match self.role {
            Role::Leader => true,
            _ => self.leader.is_some() && self.hb_at.is_some_and(|t| now < t.add_micros(lease_us)),
        }
    }

    /// Enters `term` as a follower with no leader and no vote.
    pub(crate) fn adopt(&mut self, term: Term) {
        debug_assert!(term > self.term);
        self.term = term;
        self.role = Role::Follower;
        self.leader = None;
        self.voted_for = None;
        self.grants.clear();
        self.hb = 0;
        self.hb_at = None;
        self.issued.clear();
    }

    /// Learns that `leader` leads the current term. Knowing its name says nothing of
    /// whether it lives (a claim can outlive a leader that stepped down): only a rising
    /// heartbeat count does, see [`Election::heard`].
    pub(crate) fn follow(&mut self, leader: usize) {
        self.role = Role::Follower;
        self.leader = Some(leader);
        self.grants.clear();
    }

    /// Takes a heartbeat count from the current term's leader; true if it was news.
    pub(crate) fn heard(&mut self, hb: u64, now: Timestamp) -> bool {
        if hb <= self.hb {
            return false;
        }
        self.hb = hb;
        self.hb_at = Some(now);
        true
    }

    /// Leads the current term from `now`.
    pub(crate) fn lead(&mut self, me: usize, now: Timestamp, heartbeat_us: u64) {
        self.role = Role::Leader;
        self.leader = Some(me);
        self.grants.clear();
        self.leader_since = now;
        self.hb = 1;
        self.hb_at = Some(now);
        self.issued.clear();
        self.issued.push_back((1, now));
        self.next_hb_at = now.add_micros(heartbeat_us);
    }

    /// The leader raises its heartbeat count, remembering when, and forgets counts issued
    /// more than `keep_us` ago.
    pub(crate) fn beat(&mut self, now: Timestamp, heartbeat_us: u64, keep_us: u64) {
        self.hb += 1;
        self.hb_at = Some(now);
        self.issued.push_back((self.hb, now));
        while self
            .issued
            .front()
            .is_some_and(|&(_, at)| at.add_micros(keep_us) < now)
        {
            self.issued.pop_front();
        }
        self.next_hb_at = now.add_micros(heartbeat_us);
    }

    /// When the leader issued heartbeat count `hb`, if it still remembers.
    pub(crate) fn issued_at(&self, hb: u64) -> Option<Timestamp> {
        let at = self.issued.partition_point(|&(h, _)| h < hb);
        self.issued
            .get(at)
            .filter(|&&(h, _)| h == hb)
            .map(|&(_, t)| t)
    }

    /// Leaves leadership (or candidacy) for the current term, keeping the term.
    pub(crate) fn step_down(&mut self) {
        self.role = Role::Follower;
        self.leader = None;
        self.grants.clear();
        self.issued.clear();
    }

    /// Panics if an invariant is broken.
    pub(crate) fn check_invariants(&self, me: usize) {
        assert_eq!(
            self.role == Role::Leader,
            self.leader == Some(me),
            "role {:?} with leader {:?}",
            self.role,
            self.leader
        );
        assert!(
            self.grants.is_empty() || matches!(self.role, Role::PreCandidate | Role::Candidate),
            "grants kept outside an election"
        );
        assert!(
            self.issued
                .iter()
                .zip(self.issued.iter().skip(1))
                .all(|(a, b)| a.0 < b.0),
            "heartbeats issued out of order"
        );
    }
}

/// How many nodes make a majority of `n`.
pub(crate) fn majority(n: usize) -> usize {
    n / 2 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majorities() {
        assert_eq!(
            [1, 2, 3, 4, 5, 7].map(majority),
            [1, 2, 2, 3, 3, 4],
            "a majority of n is more than half"
        );
    }

    #[test]
    fn a_leader_remembers_when_it_beat_and_a_follower_when_it_heard() {
        let ms = Timestamp::from_millis;
        let mut e = Election::new(ms(500));
        e.adopt(Term(1));
        e.lead(0, ms(10), 100_000);
        e.beat(ms(110), 100_000, 1_000_000);
        e.beat(ms(210), 100_000, 1_000_000);
        assert_eq!(e.issued_at(2), Some(ms(110)));
        assert_eq!(e.issued_at(9), None);
        e.beat(ms(5_000), 100_000, 1_000_000);
        assert_eq!(e.issued_at(1), None, "old counts are forgotten");
        assert!(e.has_live_leader(ms(9_000), 1));
        e.check_invariants(0);

        let mut f = Election::new(ms(500));
        f.adopt(Term(1));
        f.follow(0);
        assert!(
            !f.has_live_leader(ms(10), 500_000),
            "a name is no heartbeat"
        );
        assert!(f.heard(3, ms(20)));
        assert!(!f.heard(2, ms(30)), "a reordered, older count is no news");
        assert!(f.has_live_leader(ms(519), 500_000));
        assert!(!f.has_live_leader(ms(520), 500_000));
        f.check_invariants(1);
    }
}
