//! Committed offsets (spec: kafka.md 2.4, 2.5 and 4.5): what `list_committed_offsets`
//! answers, held against what clients committed. Maelstrom's checker looks at none of it;
//! these are our stricter checks, reported apart from its verdict:
//! - `committed-offset-regression`: a node lists less than it acknowledged or listed
//!   before the request, since it last started (a node's committed offsets never go
//!   back while it runs);
//! - `listed-offset-never-committed`: a node lists more than any client asked to commit
//!   for that key before the list completed (a committed offset comes from a commit);
//! - and a figure, not a check: how far the offsets one node lists trail another's.
//!
//! A node that crashes (our node-crash extension) starts a new *life*: floors set in one
//! life do not bind the next. A committed offset is a max-register that a node raises
//! and acknowledges at once and then passes on (spread without blocking), so
//! a crash may take an acknowledged commit that had not reached a majority yet; that
//! costs consumers a re-read (they restart at the offset before), never a message. What
//! a restarted node must do, list nothing until it has caught up with what its cluster
//! holds, is tested by scenario (tests/src/scenarios.rs).
//!
//! Invariants:
//! - a floor only counts against a `list_committed_offsets` that was *invoked* after the
//!   floor was established (the commit's poll or the earlier assign had completed), so
//!   concurrent requests from other threads never produce a false alarm;
//! - a ceiling counts every commit a client *sent*, acknowledged or not, from the
//!   invocation of the poll it follows: a commit whose acknowledgement never came may
//!   still have taken effect, and the poll's invocation is the earliest it could have;
//! - every floor and ceiling is a step function of the history position ([`Rising`]), so
//!   each list costs a binary search per key, never a copy of every key's state.

use super::Findings;
use super::cases::{Case, names};
use super::index::{Analysis, OpRef};
use crate::history::{Micros, NemesisEvent, NemesisKind, OpType, OpValue};
use replicator_core::{Key, NodeId};
use std::collections::BTreeMap;

/// How far behind other nodes the committed offsets a node lists are: a figure, not an
/// anomaly, since nodes may learn of each other's commits late.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitStaleness {
    /// Keys answered by ordinary assigns (one per key per `list_committed_offsets`).
    pub listed: u64,
    /// Of those, how many were below a commit acknowledged or a list answered by
    /// *another* node before the request.
    pub stale: u64,
    /// The largest such shortfall, in offsets.
    pub worst_deficit: u64,
    /// Where it happened: node, key, and the assign.
    pub worst: Option<(NodeId, Key, OpRef)>,
}

/// An offset that only rises along the history, as its raises in position order, each
/// above the last: the value as of any position is a binary search away.
#[derive(Clone, Debug)]
struct Rising<T> {
    /// `(position, offset, what raised it)`, both position and offset increasing.
    steps: Vec<(usize, u64, T)>,
}

impl<T> Default for Rising<T> {
    fn default() -> Rising<T> {
        Rising { steps: Vec::new() }
    }
}

impl<T> Rising<T> {
    /// Raises the offset to `offset` at `pos`, if that is higher. Positions must come in
    /// increasing order.
    fn raise(&mut self, pos: usize, offset: u64, tag: T) {
        if self.steps.last().is_none_or(|&(_, top, _)| offset > top) {
            self.steps.push((pos, offset, tag));
        }
    }

    /// The highest offset raised strictly before `pos`, with what raised it.
    fn before(&self, pos: usize) -> Option<(u64, &T)> {
        let i = self.steps.partition_point(|&(at, _, _)| at < pos);
        i.checked_sub(1)
            .map(|i| (self.steps[i].1, &self.steps[i].2))
    }
}

/// A committed floor: where it came from.
#[derive(Clone, Copy, Debug)]
struct Floor {
    /// Whether a list (rather than an acknowledged commit) set it.
    from_list: bool,
    /// The op that set it.
    pos: usize,
}

/// Runs both checks and returns the cross-node staleness figure. `nemesis` names the
/// node crashes that end a node's life.
pub(crate) fn check(
    a: &Analysis<'_>,
    nemesis: &[NemesisEvent],
    out: &mut Findings,
) -> CommitStaleness {
    let staleness = regressions(a, &Lives::of(nemesis), out);
    never_committed(a, out);
    staleness
}

/// The ordinary assigns that completed `Ok`, with their invocation's position, keys and
/// what the node listed. Seeks to the beginning send no request and list nothing.
fn lists<'h>(
    a: &Analysis<'h>,
) -> impl Iterator<Item = (usize, usize, &'h [Key], &'h BTreeMap<Key, u64>)> {
    a.ops
        .iter()
        .enumerate()
        .filter_map(|(pos, op)| match &op.value {
            OpValue::Assign {
                keys,
                seek_to_beginning: false,
                committed: Some(listed),
            } if op.ty == OpType::Ok => Some((pos, a.partner[pos]?, keys.as_slice(), listed)),
            _ => None,
        })
}

/// When each node crashed: a node's life is how many times it had crashed by then.
struct Lives<'h> {
    crashes: BTreeMap<&'h NodeId, Vec<Micros>>,
}

impl<'h> Lives<'h> {
    fn of(nemesis: &'h [NemesisEvent]) -> Lives<'h> {
        let mut crashes: BTreeMap<&NodeId, Vec<Micros>> = BTreeMap::new();
        for event in nemesis {
            if let NemesisKind::Crash(node) = &event.kind {
                crashes.entry(node).or_default().push(event.time);
            }
        }
        Lives { crashes }
    }

    /// The life of `node` that answered at `time` (events are in time order).
    fn at(&self, node: &NodeId, time: Micros) -> usize {
        self.crashes
            .get(node)
            .map_or(0, |c| c.partition_point(|&t| t <= time))
    }
}

/// A node's view of committed offsets never goes back while it runs (spec: kafka.md 4.5):
/// what it lists is at least every commit it acknowledged and every offset it listed
/// before the request, in the same life.
fn regressions(a: &Analysis<'_>, lives: &Lives<'_>, out: &mut Findings) -> CommitStaleness {
    let mut per_node: BTreeMap<(&NodeId, usize), BTreeMap<&Key, Rising<Floor>>> = BTreeMap::new();
    let mut global: BTreeMap<&Key, Rising<(Floor, &NodeId)>> = BTreeMap::new();
    let mut staleness = CommitStaleness::default();
    // Acknowledged commits raise floors when their poll completes; lists, when theirs do.
    let mut raises: Vec<(usize, &NodeId, &BTreeMap<Key, u64>, bool)> = Vec::new();
    for (pos, op) in a.ops.iter().enumerate() {
        if let (
            OpValue::Poll {
                committed: Some(committed),
                ..
            },
            OpType::Ok,
        ) = (&op.value, op.ty)
        {
            raises.push((pos, &op.node, committed, false));
        }
    }
    for (pos, _, _, listed) in lists(a) {
        raises.push((pos, &a.op(pos).node, listed, true));
    }
    raises.sort_by_key(|&(pos, ..)| pos);
    for (pos, node, offsets, from_list) in raises {
        let floor = Floor { from_list, pos };
        let life = lives.at(node, a.op(pos).time);
        let own = per_node.entry((node, life)).or_default();
        for (key, &offset) in offsets {
            own.entry(key).or_default().raise(pos, offset, floor);
            global
                .entry(key)
                .or_default()
                .raise(pos, offset, (floor, node));
        }
    }

    for (pos, invoked, keys, listed) in lists(a) {
        let op = a.op(pos);
        let own = per_node.get(&(&op.node, lives.at(&op.node, op.time)));
        for key in keys {
            let returned = listed.get(key).copied();
            // Leaving a key out lists nothing: below any floor.
            let below = |floor: u64| returned.is_none_or(|r| r < floor);
            if let Some((floor, source)) = own
                .and_then(|own| own.get(key))
                .and_then(|r| r.before(invoked))
                && below(floor)
            {
                out.entry(names::COMMITTED_OFFSET_REGRESSION)
                    .or_default()
                    .push(Case::CommittedOffsetRegression {
                        node: op.node.clone(),
                        key: key.clone(),
                        returned,
                        floor,
                        floor_source: if source.from_list { "list" } else { "commit" },
                        floor_op: OpRef::lazy(a.op(source.pos)),
                        op: OpRef::lazy(op),
                    });
            }
            staleness.listed += 1;
            if let Some((floor, (_, node))) = global.get(key).and_then(|r| r.before(invoked))
                && **node != op.node
                && below(floor)
            {
                let deficit = match returned {
                    Some(r) => floor - r,
                    None => floor.saturating_add(1),
                };
                staleness.stale += 1;
                if deficit > staleness.worst_deficit {
                    staleness.worst_deficit = deficit;
                    staleness.worst = Some((op.node.clone(), key.clone(), OpRef::of(op)));
                }
            }
        }
    }
    staleness
}

/// A committed offset comes from a commit (spec: kafka.md 2.4–2.5): what a node lists for
/// a key never exceeds the highest offset some client asked to commit for it in a
/// `commit_offsets` invoked before the list completed. Every commit sent counts,
/// acknowledged or not, and keys the list was not asked about count too.
fn never_committed(a: &Analysis<'_>, out: &mut Findings) {
    // Key → (the invocation of the commit's poll, offset, the poll's completion).
    let mut sent: BTreeMap<&Key, Vec<(usize, u64, usize)>> = BTreeMap::new();
    for (pos, op) in a.ops.iter().enumerate() {
        if op.ty == OpType::Invoke {
            continue;
        }
        let Some(commit) = op.value.commit_sent() else {
            continue;
        };
        // Without its invocation we cannot tell when it was sent: count it from the start.
        let invoked = a.partner[pos].unwrap_or(0);
        for (key, &offset) in commit {
            sent.entry(key).or_default().push((invoked, offset, pos));
        }
    }
    let ceilings: BTreeMap<&Key, Rising<usize>> = sent
        .into_iter()
        .map(|(key, mut commits)| {
            commits.sort_by_key(|&(invoked, ..)| invoked);
            let mut rising = Rising::default();
            for (invoked, offset, pos) in commits {
                rising.raise(invoked, offset, pos);
            }
            (key, rising)
        })
        .collect();
    for (pos, _, _, listed) in lists(a) {
        let op = a.op(pos);
        for (key, &offset) in listed {
            let ceiling = ceilings.get(key).and_then(|c| c.before(pos));
            if ceiling.is_some_and(|(highest, _)| offset <= highest) {
                continue;
            }
            out.entry(names::LISTED_OFFSET_NEVER_COMMITTED)
                .or_default()
                .push(Case::ListedOffsetNeverCommitted {
                    node: op.node.clone(),
                    key: key.clone(),
                    listed: offset,
                    highest_commit: ceiling.map(|(highest, _)| highest),
                    commit_op: ceiling.map(|(_, &commit)| OpRef::lazy(a.op(commit))),
                    op: OpRef::lazy(op),
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rising;

    #[test]
    fn a_rising_offset_answers_as_of_strictly_before_a_position() {
        let mut r = Rising::default();
        r.raise(3, 5, 'a');
        r.raise(4, 5, 'b'); // Not higher: ignored.
        r.raise(7, 2, 'c'); // Lower: ignored.
        r.raise(9, 8, 'd');
        assert_eq!(r.before(0), None);
        assert_eq!(r.before(3), None, "a raise at 3 is not before 3");
        assert_eq!(r.before(4), Some((5, &'a')));
        assert_eq!(r.before(9), Some((5, &'a')));
        assert_eq!(r.before(10), Some((8, &'d')));
        assert_eq!(r.before(usize::MAX), Some((8, &'d')));
    }
}
