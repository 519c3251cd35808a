//! The journal: the replicated log that orders every key's messages in one sequence, as
//! Raft's log does, and applies its committed prefix to the per-key [`Logs`].
//!
//! Indices run from 1; index 0 is the empty prefix. Entries `1..=commit` are committed:
//! a majority holds them, no leader of any later term lacks them, and they are applied,
//! so they live only in the per-key logs (their payloads stored once) plus a 24-byte
//! record of where each went (`placed`), which is enough to rebuild them for a peer that
//! lags. Entries `commit+1..=last` are the uncommitted suffix, kept whole.
//!
//! Consumers' committed offsets travel in the same log ([`Entry::Commit`]): applying one
//! raises each key's max-register in [`Offsets`], so every node's committed offsets are
//! at least those of its committed prefix (the node that took a commit raised its own
//! copy when it answered, before the entry existed).
//!
//! Offsets fall out of the order: a send's offset in its key is the number of earlier
//! entries of that key, so every node that applies the same committed prefix gives every
//! message the same offset (spec: kafka.md 2.6 items 1, 2 and 7: unique, increasing and
//! dense per key), and a node that applies its own client's send knows the offset to
//! answer with.
//!
//! The journal also remembers which client sends it holds, by [`Origin`], so that a
//! forward retried after a lost packet or a leader change is appended once: a leader
//! checks [`Journal::contains`] over its whole log before appending. That suffices: two
//! copies of one send could only both commit if the later one were appended by a leader
//! whose log lacked the earlier one, and a committed entry is in every later leader's
//! log, while an entry of an earlier term can never follow one of a later term.
//!
//! Invariants:
//! - `placed.len()` is the commit index and `suffix` holds exactly `commit+1..=last`;
//! - `terms` lists the first index of each run of equal terms, indices ascending and
//!   terms strictly ascending; every entry's term is the term of its run;
//! - a committed entry is never removed or changed; only the suffix is truncated;
//! - `in_suffix` holds exactly the origins of the sends in `suffix`, and each suffix
//!   entry carries its own origin's interned id (`NO_ORIGIN` for a no-op).

use crate::ids::{Key, LogIndex, NodeId, Offset, Term};
use crate::log::{KeySlot, Logs};
use crate::offsets::Offsets;
use crate::protocol::{Entry, Origin, Payload};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The slot that marks a no-op in `placed`.
const NOOP_SLOT: u32 = u32::MAX;
/// The slot that marks a commit of offsets in `placed`; its `offset` indexes `commits`.
const COMMIT_SLOT: u32 = u32::MAX - 1;
/// The interned origin of a suffix entry that has none (a no-op).
const NO_ORIGIN: u32 = u32::MAX;

/// Where a committed entry went: a send's key's slot in the logs and its offset there (or
/// for a commit of offsets, where the offsets are kept), and its origin (interned) for
/// deduplication and for rebuilding the entry.
#[derive(Clone, Copy, Debug)]
struct Placed {
    slot: u32,
    origin: u32,
    offset: u64,
    seq: u64,
}

/// One incarnation's sends that are committed: every number below `below`, and those in
/// `above`. Forwards are retried until they commit, so the gaps fill and `above` stays
/// small.
#[derive(Clone, Debug, Default)]
struct Seqs {
    below: u64,
    above: BTreeSet<u64>,
}

impl Seqs {
    /// Records `seq`; false if it was already there.
    fn insert(&mut self, seq: u64) -> bool {
        if self.contains(seq) {
            return false;
        }
        if seq == self.below {
            self.below += 1;
            while self.above.remove(&self.below) {
                self.below += 1;
            }
        } else {
            self.above.insert(seq);
        }
        true
    }

    fn contains(&self, seq: u64) -> bool {
        seq < self.below || self.above.contains(&seq)
    }
}

/// A request of this node's own clients that the journal just applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Applied {
    /// The request's number at this incarnation.
    pub seq: u64,
    /// Where a send landed in its key; `None` for a commit of offsets.
    pub offset: Option<Offset>,
}

/// The result of an accepted append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// The journal now equals the sender's log up to here.
    pub matched: LogIndex,
    /// Whether uncommitted entries that disagreed were removed.
    pub truncated: bool,
}

/// Why an append was refused. None of these changes the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The append starts past our last entry: we lack what comes before it.
    Gap { last: LogIndex },
    /// Our entry at `prev` has another term: the sender must start earlier.
    Mismatch { prev: LogIndex },
    /// The append disagrees with a committed entry, which no correct leader can do.
    CommittedConflict { at: LogIndex },
    /// The entries' terms go back, or pass the sender's term.
    BadTerms,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Gap { last } => write!(f, "it starts past our last entry {last}"),
            Refusal::Mismatch { prev } => write!(f, "our entry {prev} has another term"),
            Refusal::CommittedConflict { at } => {
                write!(f, "it contradicts committed entry {at}")
            }
            Refusal::BadTerms => f.write_str("its terms go back or pass the sender's term"),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Journal {
    /// `(first index, term)` of each run of equal terms.
    terms: Vec<(LogIndex, Term)>,
    /// The committed entries `1..=commit`, where they went.
    placed: Vec<Placed>,
    /// The offsets of the committed commit entries, in log order: kept to rebuild the
    /// entries for a peer that lags.
    commits: Vec<Box<[(Key, Offset)]>>,
    /// The uncommitted entries `commit+1..=last`, each with its origin interned when it
    /// was appended (`NO_ORIGIN` for a no-op), so that committing or truncating it looks
    /// nothing up.
    suffix: VecDeque<(Entry, u32)>,
    /// Interned `(node, incarnation)` of every origin seen.
    origins: Vec<(NodeId, u64)>,
    /// The interned id of each origin, by node, then incarnation: looked up by reference,
    /// without building a key.
    origin_ids: BTreeMap<NodeId, BTreeMap<u64, u32>>,
    /// Committed sends per interned origin.
    applied: BTreeMap<u32, Seqs>,
    /// `(interned origin, seq)` of every send in the suffix.
    in_suffix: BTreeSet<(u32, u64)>,
    /// Sends applied although the same origin was already applied: only a peer that
    /// breaks the protocol can cause one.
    duplicates_applied: u64,
}

impl Journal {
    /// The commit index.
    pub(crate) fn commit(&self) -> LogIndex {
        LogIndex(self.placed.len() as u64)
    }

    /// The index of the last entry.
    pub(crate) fn last(&self) -> LogIndex {
        LogIndex(self.placed.len() as u64 + self.suffix.len() as u64)
    }

    /// The term of the last entry (0 when empty).
    pub(crate) fn last_term(&self) -> Term {
        self.terms.last().map_or(Term(0), |&(_, t)| t)
    }

    /// The term of the entry at `index` (0 for index 0), or `None` past the end.
    pub(crate) fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index.0 == 0 {
            return Some(Term(0));
        }
        if index > self.last() {
            return None;
        }
        let runs = self.terms.partition_point(|&(start, _)| start <= index);
        Some(self.terms[runs - 1].1)
    }

    /// Sends applied twice because a peer broke the protocol.
    pub(crate) fn duplicates_applied(&self) -> u64 {
        self.duplicates_applied
    }

    fn origin_id(&self, node: &NodeId, incarnation: u64) -> Option<u32> {
        self.origin_ids.get(node)?.get(&incarnation).copied()
    }

    fn intern(&mut self, node: &NodeId, incarnation: u64) -> u32 {
        if let Some(id) = self.origin_id(node, incarnation) {
            return id;
        }
        let id = u32::try_from(self.origins.len())
            .ok()
            .filter(|&id| id < NO_ORIGIN)
            .expect("fewer than 2^32 - 1 origins");
        self.origins.push((node.clone(), incarnation));
        self.origin_ids
            .entry(node.clone())
            .or_default()
            .insert(incarnation, id);
        id
    }

    /// Whether the journal holds the send named `origin`, committed or not.
    pub(crate) fn contains(&self, origin: &Origin) -> bool {
        let Some(id) = self.origin_id(&origin.node, origin.incarnation) else {
            return false;
        };
        self.in_suffix.contains(&(id, origin.seq))
            || self
                .applied
                .get(&id)
                .is_some_and(|s| s.contains(origin.seq))
    }

    /// Appends an entry of the leader's own term, which is at least the last entry's.
    pub(crate) fn append(&mut self, entry: Entry) -> LogIndex {
        let index = self.last().next();
        assert!(
            entry.term() >= self.last_term(),
            "an entry of term {} after one of term {}",
            entry.term(),
            self.last_term()
        );
        if self.last_term() != entry.term() || self.terms.is_empty() {
            self.terms.push((index, entry.term()));
        }
        let id = match entry.origin() {
            Some(origin) => {
                let id = self.intern(&origin.node, origin.incarnation);
                self.in_suffix.insert((id, origin.seq));
                id
            }
            None => NO_ORIGIN,
        };
        self.suffix.push_back((entry, id));
        index
    }

    /// Removes the uncommitted entries from `index` on.
    fn truncate_from(&mut self, index: LogIndex) {
        let commit = self.commit();
        assert!(index > commit, "truncating committed entry {index}");
        let keep = (index.0 - commit.0 - 1) as usize;
        for (entry, id) in self.suffix.drain(keep..) {
            if let Some(origin) = entry.origin() {
                self.in_suffix.remove(&(id, origin.seq));
            }
        }
        while self.terms.last().is_some_and(|&(start, _)| start >= index) {
            self.terms.pop();
        }
    }

    /// Raft's append rule: `entries` follow `prev`, whose term is `prev_term`, in the log
    /// of a leader whose term is at most `term_max`. Entries already here (same index and
    /// term) are kept, the first disagreeing uncommitted entry and all after it are
    /// removed, and the rest are appended. On success the journal equals the sender's log
    /// up to `prev + entries.len()` (Raft's log matching property).
    pub(crate) fn accept(
        &mut self,
        prev: LogIndex,
        prev_term: Term,
        entries: Vec<Entry>,
        term_max: Term,
    ) -> Result<Accepted, Refusal> {
        let (last, commit) = (self.last(), self.commit());
        if prev > last {
            return Err(Refusal::Gap { last });
        }
        if self.term_at(prev) != Some(prev_term) {
            return Err(if prev <= commit {
                Refusal::CommittedConflict { at: prev }
            } else {
                Refusal::Mismatch { prev }
            });
        }
        let mut term = prev_term;
        for entry in &entries {
            if entry.term() < term || entry.term() > term_max {
                return Err(Refusal::BadTerms);
            }
            term = entry.term();
        }
        // Skip what is already here; check, before changing anything, that whatever
        // disagrees is uncommitted.
        let mut present = 0;
        for (k, entry) in entries.iter().enumerate() {
            let index = LogIndex(prev.0 + 1 + k as u64);
            if index > last {
                break;
            }
            if self.term_at(index) == Some(entry.term()) {
                present += 1;
                continue;
            }
            if index <= commit {
                return Err(Refusal::CommittedConflict { at: index });
            }
            break;
        }
        let matched = LogIndex(prev.0 + entries.len() as u64);
        let start = LogIndex(prev.0 + 1 + present as u64);
        let truncated = present < entries.len() && start <= last;
        if truncated {
            self.truncate_from(start);
        }
        for entry in entries.into_iter().skip(present) {
            self.append(entry);
        }
        Ok(Accepted { matched, truncated })
    }

    /// Commits and applies every entry up to `to` (at most the last): sends go to their
    /// keys' logs, commits raise `offsets`. Returns the requests that came in at `me`
    /// (node and incarnation), whose clients are owed a reply.
    pub(crate) fn commit_to(
        &mut self,
        to: LogIndex,
        logs: &mut Logs,
        offsets: &mut Offsets,
        me: (&NodeId, u64),
    ) -> Vec<Applied> {
        let to = to.min(self.last());
        let mine = self.origin_id(me.0, me.1);
        let mut applied = Vec::new();
        while self.commit() < to {
            let (entry, id) = self
                .suffix
                .pop_front()
                .expect("the suffix reaches the last entry");
            let (origin, placed) = match entry {
                Entry::Noop { .. } => {
                    self.placed.push(Placed {
                        slot: NOOP_SLOT,
                        origin: 0,
                        offset: 0,
                        seq: 0,
                    });
                    continue;
                }
                Entry::Send {
                    key, msg, origin, ..
                } => {
                    let (slot, offset) = logs.append_placed(&key, msg.as_str());
                    (origin, (slot.0, offset.0))
                }
                Entry::Commit {
                    offsets: raised,
                    origin,
                    ..
                } => {
                    for (key, offset) in &raised {
                        offsets.raise(key, *offset);
                    }
                    self.commits.push(raised.into_boxed_slice());
                    (origin, (COMMIT_SLOT, self.commits.len() as u64 - 1))
                }
            };
            self.in_suffix.remove(&(id, origin.seq));
            if !self.applied.entry(id).or_default().insert(origin.seq) {
                self.duplicates_applied += 1;
            }
            self.placed.push(Placed {
                slot: placed.0,
                origin: id,
                offset: placed.1,
                seq: origin.seq,
            });
            if Some(id) == mine {
                applied.push(Applied {
                    seq: origin.seq,
                    offset: (placed.0 != COMMIT_SLOT).then_some(Offset(placed.1)),
                });
            }
        }
        applied
    }

    /// The entries after `after` up to `upto` (and the last entry), at most `count_max`
    /// of them and, past the first, at most about `bytes_max` payload bytes. Committed
    /// entries are rebuilt from the logs.
    pub(crate) fn entries(
        &self,
        after: LogIndex,
        upto: LogIndex,
        logs: &Logs,
        count_max: usize,
        bytes_max: usize,
    ) -> Vec<Entry> {
        let upto = upto.min(self.last());
        let commit = self.commit();
        // Room for what the count allows (the byte budget may stop it sooner); a packet
        // rarely carries more than a window's worth, so the hint is capped.
        let wanted = upto.0.saturating_sub(after.0).min(count_max as u64).min(64);
        let mut out = Vec::with_capacity(wanted as usize);
        let mut bytes = 0;
        let mut index = after.next();
        while index <= upto && out.len() < count_max && bytes < bytes_max {
            let entry = if index <= commit {
                self.rebuild(index, logs)
            } else {
                self.suffix[(index.0 - commit.0 - 1) as usize].0.clone()
            };
            bytes += match &entry {
                Entry::Noop { .. } => 0,
                Entry::Send { msg, .. } => msg.as_bytes().len(),
                Entry::Commit { offsets, .. } => {
                    offsets.iter().map(|(k, _)| k.as_bytes().len()).sum()
                }
            };
            out.push(entry);
            index = index.next();
        }
        out
    }

    fn rebuild(&self, index: LogIndex, logs: &Logs) -> Entry {
        let placed = self.placed[(index.0 - 1) as usize];
        let term = self.term_at(index).expect("a committed entry has a term");
        if placed.slot == NOOP_SLOT {
            return Entry::Noop { term };
        }
        let (node, incarnation) = &self.origins[placed.origin as usize];
        let origin = Origin {
            node: node.clone(),
            incarnation: *incarnation,
            seq: placed.seq,
        };
        if placed.slot == COMMIT_SLOT {
            return Entry::Commit {
                term,
                offsets: self.commits[placed.offset as usize].to_vec(),
                origin,
            };
        }
        let (key, text) = logs
            .message(KeySlot(placed.slot), Offset(placed.offset))
            .expect("a committed send is in its key's log");
        Entry::Send {
            term,
            key: key.clone(),
            msg: Payload::from_valid_json(text),
            origin,
        }
    }

    /// Panics if an invariant is broken.
    pub(crate) fn check_invariants(&self) {
        for pair in self.terms.windows(2) {
            assert!(
                pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1,
                "term runs out of order: {:?}",
                self.terms
            );
        }
        if let Some(&(start, _)) = self.terms.first() {
            assert!(start.0 >= 1, "a run starts at index 0");
        }
        assert_eq!(
            self.terms.is_empty(),
            self.last().0 == 0,
            "term runs and entries disagree"
        );
        if let Some(&(start, _)) = self.terms.last() {
            assert!(start <= self.last(), "a run starts past the last entry");
        }
        let commit = self.commit();
        let mut sends = BTreeSet::new();
        for (k, (entry, id)) in self.suffix.iter().enumerate() {
            let index = LogIndex(commit.0 + 1 + k as u64);
            assert_eq!(
                self.term_at(index),
                Some(entry.term()),
                "entry {index} is not in its term's run"
            );
            match entry.origin() {
                Some(origin) => {
                    assert_eq!(
                        self.origin_id(&origin.node, origin.incarnation),
                        Some(*id),
                        "entry {index} carries another origin's id"
                    );
                    sends.insert((*id, origin.seq));
                }
                None => assert_eq!(*id, NO_ORIGIN, "a no-op with an origin id"),
            }
        }
        assert_eq!(sends, self.in_suffix, "the suffix's origins drifted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Key;
    use crate::log::Budget;

    fn send(term: u64, key: &str, msg: &str, node: &str, seq: u64) -> Entry {
        Entry::Send {
            term: Term(term),
            key: Key::new(key),
            msg: Payload::parse(msg).unwrap(),
            origin: Origin {
                node: NodeId::new(node),
                incarnation: 7,
                seq,
            },
        }
    }

    fn terms(j: &Journal) -> Vec<u64> {
        (1..=j.last().0)
            .map(|i| j.term_at(LogIndex(i)).unwrap().0)
            .collect()
    }

    fn read(logs: &Logs, key: &str) -> Vec<String> {
        let mut budget = Budget {
            msgs: usize::MAX,
            bytes: usize::MAX,
            taken: false,
        };
        logs.read(&Key::new(key), Offset(0), &mut budget)
            .map(|run| run.iter().map(|(_, m)| m.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn appends_follow_raft_rules_and_keep_what_matches() {
        let mut j = Journal::default();
        j.append(send(1, "a", "1", "n0", 0));
        j.append(send(1, "a", "2", "n0", 1));
        j.append(send(2, "b", "1", "n1", 0));
        j.check_invariants();
        assert_eq!(terms(&j), [1, 1, 2]);
        // A stale, shorter copy of what we have changes nothing.
        let same = j.accept(
            LogIndex(0),
            Term(0),
            vec![send(1, "a", "1", "n0", 0)],
            Term(2),
        );
        assert_eq!(
            same,
            Ok(Accepted {
                matched: LogIndex(1),
                truncated: false
            })
        );
        assert_eq!(j.last(), LogIndex(3));
        // A leader of term 3 whose entry 3 differs replaces it.
        let new = j.accept(
            LogIndex(2),
            Term(1),
            vec![send(3, "c", "9", "n2", 0), Entry::Noop { term: Term(3) }],
            Term(3),
        );
        assert_eq!(
            new,
            Ok(Accepted {
                matched: LogIndex(4),
                truncated: true
            })
        );
        assert_eq!(terms(&j), [1, 1, 3, 3]);
        assert!(!j.contains(&Origin {
            node: NodeId::new("n1"),
            incarnation: 7,
            seq: 0
        }));
        j.check_invariants();
        // Refusals change nothing.
        assert_eq!(
            j.accept(LogIndex(9), Term(3), vec![], Term(3)),
            Err(Refusal::Gap { last: LogIndex(4) })
        );
        assert_eq!(
            j.accept(LogIndex(3), Term(2), vec![], Term(3)),
            Err(Refusal::Mismatch { prev: LogIndex(3) })
        );
        assert_eq!(
            j.accept(
                LogIndex(4),
                Term(3),
                vec![send(2, "x", "1", "n1", 5)],
                Term(3)
            ),
            Err(Refusal::BadTerms)
        );
        assert_eq!(
            j.accept(
                LogIndex(4),
                Term(3),
                vec![send(4, "x", "1", "n1", 5)],
                Term(3)
            ),
            Err(Refusal::BadTerms),
            "an entry past the sender's term"
        );
        assert_eq!(terms(&j), [1, 1, 3, 3]);
    }

    #[test]
    fn commits_apply_in_order_with_dense_offsets_and_can_be_rebuilt() {
        let mut j = Journal::default();
        let mut logs = Logs::default();
        let mut offsets = Offsets::default();
        let me = NodeId::new("n0");
        j.append(send(1, "a", "10", "n0", 0));
        j.append(Entry::Noop { term: Term(2) });
        j.append(send(2, "a", "\"x\"", "n1", 0));
        j.append(send(2, "b", "{\"k\":[1e400]}", "n0", 1));
        let commit = Entry::Commit {
            term: Term(2),
            offsets: vec![(Key::new("a"), Offset(1)), (Key::new("b"), Offset(0))],
            origin: Origin {
                node: me.clone(),
                incarnation: 7,
                seq: 2,
            },
        };
        j.append(commit.clone());
        let applied = j.commit_to(LogIndex(3), &mut logs, &mut offsets, (&me, 7));
        assert_eq!(
            applied,
            vec![Applied {
                seq: 0,
                offset: Some(Offset(0))
            }]
        );
        assert_eq!(read(&logs, "a"), ["10", "\"x\""]);
        assert_eq!(j.commit(), LogIndex(3));
        assert_eq!(
            offsets.get(&Key::new("a")),
            None,
            "the commit is not applied yet"
        );
        let applied = j.commit_to(LogIndex(99), &mut logs, &mut offsets, (&me, 7));
        assert_eq!(
            applied,
            vec![
                Applied {
                    seq: 1,
                    offset: Some(Offset(0))
                },
                Applied {
                    seq: 2,
                    offset: None
                }
            ]
        );
        assert_eq!(read(&logs, "b"), ["{\"k\":[1e400]}"]);
        assert_eq!(offsets.get(&Key::new("a")), Some(Offset(1)));
        // Committed entries come back whole, payloads byte for byte.
        let again = j.entries(LogIndex(0), LogIndex(9), &logs, 100, 1 << 20);
        assert_eq!(again.len(), 5);
        assert_eq!(again[1], Entry::Noop { term: Term(2) });
        assert_eq!(again[3], send(2, "b", "{\"k\":[1e400]}", "n0", 1));
        assert_eq!(again[4], commit);
        assert_eq!(
            j.entries(LogIndex(1), LogIndex(9), &logs, 2, 1 << 20).len(),
            2
        );
        assert!(j.contains(&Origin {
            node: me.clone(),
            incarnation: 7,
            seq: 1
        }));
        // No append may rewrite a committed entry.
        assert_eq!(
            j.accept(
                LogIndex(1),
                Term(1),
                vec![send(5, "z", "1", "n3", 0)],
                Term(5)
            ),
            Err(Refusal::CommittedConflict { at: LogIndex(2) })
        );
        j.check_invariants();
    }

    #[test]
    fn sequence_sets_fill_their_gaps() {
        let mut s = Seqs::default();
        assert!(s.insert(1));
        assert!(s.insert(3));
        assert!(!s.contains(0) && !s.contains(2));
        assert!(s.insert(0));
        assert!(s.insert(2));
        assert!(!s.insert(2));
        assert_eq!((s.below, s.above.len()), (4, 0));
    }
}
