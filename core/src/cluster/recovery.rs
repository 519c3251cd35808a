//! Recovery: how a node that may have run before, and forgotten everything, takes part
//! again. The argument is written up in `docs/replication.md` ("Crash recovery"); this is
//! the mechanism.
//!
//! Replicator keeps nothing on disk, so a node cannot tell a first start from a restart
//! after a crash: its `init` looks the same. Its former self may have voted in some term
//! (Raft's one vote per term would break if it voted again) and may have acknowledged
//! entries that a leader counted towards a majority (the majority would be one short if
//! it now counted itself holding them). So every node starts *joining*:
//!
//! - it names itself by a new *incarnation*, the time it started, which grows with every
//!   restart; every packet carries the sender's and every fact its subject's, so peers
//!   forget what they knew of a former self (its progress, its link) and ignore news
//!   about it;
//! - it takes no part in elections (no vote, no pre-vote, no candidacy) and claims no
//!   entries (its facts report no match), so it counts towards no majority;
//! - it asks every peer for an answer: a packet sent after the peer heard this
//!   incarnation, which the peer's fact about this node (our incarnation) and its `got`
//!   (our packet number) prove;
//! - it becomes a *member* in one of two ways:
//!   - *genesis*: `2 × minority` peers (at least one) answer at term 0. No election can
//!     have succeeded yet, or at least that many would have a term: a winner's voters
//!     are a majority, and of them only a minority can be down or recovering at once;
//!   - *recovery*: it waits until every election its former self could have voted in is
//!     over (candidates count votes for at most [`MAX_CANDIDACY_IN_ELECTIONS`] election
//!     timeouts, and its former self voted before this node started), then needs answers
//!     from `minority + 1` members sent after that time, adopts the highest term among
//!     them (which is at least any term its former self voted in that elected a leader),
//!     and catches up: it follows that term's leader until it has applied the leader's
//!     whole log as one of those answers gave it. It will not vote in the term it
//!     recovered in.
//!
//! A joining node still serves: sends and commits go to the leader as forwards (the
//! leader deduplicates them by origin, which names the incarnation), polls read its
//! committed prefix (which a majority holds), and only `list_committed_offsets` waits,
//! since its applied offsets may still be behind what its former self listed.
//!
//! Invariants:
//! - a member never goes back to joining;
//! - `read` and `pristine` only hold answers that passed the echo test.

use super::Cluster;
use super::election::majority;
use crate::ids::{LogIndex, Term};
use crate::node::Output;
use crate::time::Timestamp;

/// How many election timeouts a candidate counts votes for: after that it stops, so
/// that a restarted node knows when every election its former self voted in has ended.
pub(crate) const MAX_CANDIDACY_IN_ELECTIONS: u64 = 2;

/// Where a node stands in its cluster.
#[derive(Debug)]
pub(crate) enum Standing {
    /// Just started, perhaps after forgetting an earlier run: see the module docs.
    Joining(Box<Joining>),
    /// Takes full part: votes, stands, and counts towards majorities.
    Member,
}

/// What a joining node has learnt so far.
#[derive(Debug)]
pub(crate) struct Joining {
    /// Answers count for recovery only from packets that answer ours sent from this time
    /// on: by then no election its former self voted in still counts votes.
    pub(crate) read_from: Timestamp,
    /// Per peer: the number of our first packet sent at or after `read_from` (0 until
    /// one goes).
    pub(crate) read_seq: Vec<u64>,
    /// Per peer: it answered at term 0.
    pub(crate) pristine: Vec<bool>,
    /// Per peer: the term it answered with as a member, after `read_from`.
    pub(crate) read: Vec<Option<Term>>,
    /// The highest term read from a majority's worth of answers, once there are enough.
    pub(crate) read_term: Option<Term>,
    /// The last index of the leader's log, as that leader answered after `read_from`, in
    /// its term: the node is a member once it has applied that far.
    pub(crate) target: Option<(Term, LogIndex)>,
}

/// What a packet from a peer tells a joining node, as `on_sync` found it.
pub(crate) struct Answer {
    /// The peer's term.
    pub(crate) term: Term,
    /// Whether the peer is a member.
    pub(crate) member: bool,
    /// The highest packet number of ours the peer has received, if its packet is an
    /// answer to this incarnation at all.
    pub(crate) echo: Option<u64>,
    /// The peer leads its term, and its log ends here.
    pub(crate) leads_to: Option<LogIndex>,
}

impl Joining {
    pub(crate) fn new(n: usize, read_from: Timestamp) -> Joining {
        Joining {
            read_from,
            read_seq: vec![0; n],
            pristine: vec![false; n],
            read: vec![None; n],
            read_term: None,
            target: None,
        }
    }
}

/// How many peers must answer at term 0 for a genesis: twice the largest minority, and
/// at least one.
pub(crate) fn genesis_answers(n: usize) -> usize {
    (2 * (n - majority(n))).max(1)
}

/// How many members must answer a recovering node: one more than the largest minority,
/// so that the answers include one from every majority (the recovering node aside).
pub(crate) fn recovery_answers(n: usize) -> usize {
    n - majority(n) + 1
}

impl Cluster {
    /// Whether this node takes full part.
    pub(crate) fn is_member(&self) -> bool {
        matches!(self.standing, Standing::Member)
    }

    /// The time answers start to count for recovery, while joining.
    pub(crate) fn read_from(&self) -> Option<Timestamp> {
        match &self.standing {
            Standing::Joining(j) => Some(j.read_from),
            Standing::Member => None,
        }
    }

    /// Whether a joining node still asks `peer` for an answer: before `read_from`, every
    /// peer that has not answered at term 0 (a genesis may still come); after it, every
    /// peer until the term is read, then the leader until it has answered.
    pub(crate) fn asks(&self, peer: usize, now: Timestamp) -> bool {
        let Standing::Joining(j) = &self.standing else {
            return false;
        };
        if now < j.read_from {
            return !j.pristine[peer];
        }
        if j.read_term.is_none() {
            return j.read[peer].is_none();
        }
        j.target.is_none() && self.election.leader == Some(peer)
    }

    /// Notes that packet `seq` went to `peer` at `now`.
    pub(crate) fn asked(&mut self, peer: usize, seq: u64, now: Timestamp) {
        if let Standing::Joining(j) = &mut self.standing
            && now >= j.read_from
            && j.read_seq[peer] == 0
        {
            j.read_seq[peer] = seq;
        }
    }

    /// Takes what a packet from `from` says, while joining, and joins if that is enough.
    pub(crate) fn on_answer(
        &mut self,
        from: usize,
        answer: Answer,
        now: Timestamp,
        out: &mut Vec<Output>,
    ) {
        let n = self.ids.len();
        let Standing::Joining(j) = &mut self.standing else {
            return;
        };
        let Some(echo) = answer.echo else {
            return;
        };
        if echo >= 1 && answer.term == Term(0) {
            j.pristine[from] = true;
        }
        let after_read = j.read_seq[from] != 0 && echo >= j.read_seq[from];
        if after_read && answer.member && j.read[from].is_none() {
            j.read[from] = Some(answer.term);
        }
        let genesis = j.pristine.iter().filter(|&&p| p).count() >= genesis_answers(n);
        if genesis && self.election.term == Term(0) {
            self.join(
                now,
                "enough peers answered that nobody was elected yet",
                out,
            );
            return;
        }
        if j.read_term.is_none() {
            let read: Vec<Term> = j.read.iter().flatten().copied().collect();
            if read.len() >= recovery_answers(n) {
                let term = read.iter().copied().max().expect("at least one answer");
                j.read_term = Some(term);
                self.log(
                    out,
                    format!(
                        "read term {term} from {} members; catching up with its leader",
                        read.len()
                    ),
                );
                if term > self.election.term {
                    self.adopt_term(term, now);
                }
            }
        }
        let Standing::Joining(j) = &mut self.standing else {
            return;
        };
        // The target is the leader's first answer, not its latest: under load the
        // leader's log end is always ahead of what a follower has applied, and a target
        // that moved with it would keep the node joining until the load paused.
        if after_read
            && j.read_term.is_some()
            && j.target.is_none()
            && self.election.leader == Some(from)
            && answer.term == self.election.term
            && let Some(last) = answer.leads_to
        {
            j.target = Some((answer.term, last));
        }
        self.try_join(now, out);
    }

    /// Joins once the node has read the term and applied the leader's log as far as its
    /// answer gave it.
    pub(crate) fn try_join(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        let Standing::Joining(j) = &self.standing else {
            return;
        };
        let caught_up = j.read_term.is_some()
            && j.target.is_some_and(|(term, last)| {
                term == self.election.term && self.journal.commit() >= last
            });
        if caught_up {
            self.join(now, "it holds what a majority held when it asked", out);
        }
    }

    /// Forgets the catch-up target when the term changes: the next leader answers anew.
    pub(crate) fn on_new_term(&mut self) {
        if let Standing::Joining(j) = &mut self.standing {
            j.target = None;
        }
    }

    /// In a fresh cluster the first node stands at once, once every peer has joined: an
    /// election before that would leave a late peer to recover, which takes a majority
    /// of members' answers and two election timeouts, where joining at genesis takes a
    /// round trip.
    pub(crate) fn stand_first(&mut self, now: Timestamp) {
        let everyone = (0..self.ids.len()).all(|i| i == self.me || self.members[i]);
        if self.me == 0 && self.election.term == Term(0) && self.is_member() && everyone {
            self.election.timeout_at = self
                .election
                .timeout_at
                .min(now.add_micros(self.timing.batch_us));
        }
    }

    fn join(&mut self, now: Timestamp, why: &str, out: &mut Vec<Output>) {
        self.standing = Standing::Member;
        // The former self may have voted in this term; so it does not vote again.
        if self.election.term > Term(0) && self.election.voted_for.is_none() {
            self.election.voted_for = Some(self.me);
        }
        self.election.timeout_at = self.random_timeout(now);
        self.stand_first(now);
        // Every peer hears at once that this node now takes part (a joining node counts
        // towards nothing). Per link, so that a link that already carried a packet in
        // this window sends the news in the next one rather than dropping it.
        for link in &mut self.links {
            link.answer_due = true;
        }
        self.commit_stale = true;
        let term = self.election.term;
        self.log(out, format!("joined in term {term}: {why}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorums_for_joining() {
        let n = [1, 2, 3, 4, 5, 6, 7];
        assert_eq!(n.map(genesis_answers), [1, 1, 2, 2, 4, 4, 6]);
        assert_eq!(n.map(recovery_answers), [1, 1, 2, 2, 3, 3, 4]);
        for n in 2..=9 {
            let minority = n - majority(n);
            // A winner's voters other than this node, less those down or recovering,
            // hold a term; genesis asks for more term-0 answers than the rest.
            let holders = majority(n) - 1 - (minority.max(1) - 1);
            assert!(genesis_answers(n) > n - 1 - holders, "{n} nodes");
            // Recovery's answers meet every majority among the other members.
            assert!(recovery_answers(n) + majority(n) - 1 > n - 1, "{n} nodes");
        }
    }
}
