//! Our stricter checks, reported apart from the Maelstrom verdict (spec: kafka.md 4.5 and
//! 8.3): committed offsets that go back on one node, polls that start past (or before)
//! where the client asked, and what the runner saw on the wire.
//!
//! Invariants:
//! - a floor only counts against a `list_committed_offsets` that was *invoked* after the
//!   floor was established (the commit's poll or the earlier assign had completed), so
//!   concurrent requests from other threads never produce a false alarm;
//! - a client position is only trusted while the history determines it: a failed poll may
//!   have moved positions the history no longer shows (spec: kafka.md 3.6 step 4).

use super::Findings;
use super::cases::{Case, names};
use super::index::{Analysis, OpRef, op_reads};
use crate::history::{History, OpType, OpValue, Process, ViolationKind};
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

/// A committed floor and where it came from.
#[derive(Clone, Copy, Debug)]
struct Floor {
    offset: u64,
    from_list: bool,
    pos: usize,
}

/// Raises a floor map.
fn raise(floors: &mut BTreeMap<Key, Floor>, key: &Key, floor: Floor) {
    match floors.get(key) {
        Some(f) if f.offset >= floor.offset => {}
        _ => {
            floors.insert(key.clone(), floor);
        }
    }
}

/// Runs the strict checks and returns the cross-node staleness figure.
pub(crate) fn check(a: &Analysis<'_>, history: &History, out: &mut Findings) -> CommitStaleness {
    let staleness = committed_offsets(a, out);
    poll_starts(a, out);
    wire(history, out);
    staleness
}

/// A node's view of committed offsets never goes back (spec: kafka.md 4.5): what it lists
/// is at least every commit it acknowledged and every offset it listed before.
fn committed_offsets(a: &Analysis<'_>, out: &mut Findings) -> CommitStaleness {
    let mut per_node: BTreeMap<NodeId, BTreeMap<Key, Floor>> = BTreeMap::new();
    let mut global: BTreeMap<Key, (Floor, NodeId)> = BTreeMap::new();
    // Process → the floors (own node, all nodes) as of its pending assign's invocation.
    type Snapshot = (BTreeMap<Key, Floor>, BTreeMap<Key, (Floor, NodeId)>);
    let mut pending: BTreeMap<Process, Snapshot> = BTreeMap::new();
    let mut staleness = CommitStaleness::default();
    for (pos, op) in a.ops.iter().enumerate() {
        match (&op.value, op.ty) {
            (OpValue::Assign { .. }, OpType::Invoke) => {
                let own = per_node.get(&op.node).cloned().unwrap_or_default();
                pending.insert(op.process, (own, global.clone()));
            }
            (
                OpValue::Assign {
                    keys,
                    seek_to_beginning: false,
                    committed: Some(listed),
                },
                OpType::Ok,
            ) => {
                let Some((own, all)) = pending.remove(&op.process) else {
                    continue;
                };
                for key in keys {
                    let returned = listed.get(key).copied();
                    // Leaving a key out lists nothing: below any floor.
                    let below = |floor: u64| returned.is_none_or(|r| r < floor);
                    if let Some(floor) = own.get(key)
                        && below(floor.offset)
                    {
                        out.entry(names::COMMITTED_OFFSET_REGRESSION)
                            .or_default()
                            .push(Case::CommittedOffsetRegression {
                                node: op.node.clone(),
                                key: key.clone(),
                                returned,
                                floor: floor.offset,
                                floor_source: if floor.from_list { "list" } else { "commit" },
                                floor_op: OpRef::lazy(a.op(floor.pos)),
                                op: OpRef::lazy(op),
                            });
                    }
                    staleness.listed += 1;
                    if let Some((floor, node)) = all.get(key)
                        && *node != op.node
                        && below(floor.offset)
                    {
                        let deficit = match returned {
                            Some(r) => floor.offset - r,
                            None => floor.offset.saturating_add(1),
                        };
                        staleness.stale += 1;
                        if deficit > staleness.worst_deficit {
                            staleness.worst_deficit = deficit;
                            staleness.worst = Some((op.node.clone(), key.clone(), OpRef::of(op)));
                        }
                    }
                }
                let own = per_node.entry(op.node.clone()).or_default();
                for (key, &offset) in listed {
                    let floor = Floor {
                        offset,
                        from_list: true,
                        pos,
                    };
                    raise(own, key, floor);
                    raise_global(&mut global, key, floor, &op.node);
                }
            }
            (
                OpValue::Poll {
                    committed: Some(committed),
                    ..
                },
                OpType::Ok,
            ) => {
                let own = per_node.entry(op.node.clone()).or_default();
                for (key, &offset) in committed {
                    let floor = Floor {
                        offset,
                        from_list: false,
                        pos,
                    };
                    raise(own, key, floor);
                    raise_global(&mut global, key, floor, &op.node);
                }
            }
            _ => {}
        }
    }
    staleness
}

/// Raises the all-nodes floor map, remembering which node set it.
fn raise_global(
    global: &mut BTreeMap<Key, (Floor, NodeId)>,
    key: &Key,
    floor: Floor,
    node: &NodeId,
) {
    match global.get(key) {
        Some((f, _)) if f.offset >= floor.offset => {}
        _ => {
            global.insert(key.clone(), (floor, node.clone()));
        }
    }
}

/// Replays each process's client algorithm (spec: kafka.md 3.6) to learn the offset every
/// poll requested, then checks where each reply starts: never below the request (spec:
/// kafka.md 2.3), and never past a message known to exist at or after it, since offsets
/// grow in append order and a message below the first one returned was already there.
fn poll_starts(a: &Analysis<'_>, out: &mut Findings) {
    for positions in a.by_process.values() {
        // Key → the next offset to request; `None` once the history no longer says.
        let mut next: BTreeMap<Key, Option<u64>> = BTreeMap::new();
        for &pos in positions {
            let op = a.op(pos);
            match (&op.value, op.ty) {
                (
                    OpValue::Assign {
                        keys,
                        seek_to_beginning,
                        committed,
                    },
                    OpType::Ok,
                ) => {
                    let old = std::mem::take(&mut next);
                    for key in keys {
                        // Seeking to the beginning resets every key, kept or not; an
                        // ordinary assign keeps the position of a key it keeps, and starts
                        // a new one at the listed committed offset, or 0.
                        let position = if *seek_to_beginning {
                            Some(0)
                        } else {
                            match old.get(key) {
                                Some(p) => *p,
                                None => {
                                    committed.as_ref().map(|c| c.get(key).copied().unwrap_or(0))
                                }
                            }
                        };
                        next.insert(key.clone(), position);
                    }
                }
                (OpValue::Poll { .. }, OpType::Ok) => {
                    let Some(msgs) = op_reads(op) else { continue };
                    for (key, pairs) in msgs {
                        if let (Some(Some(requested)), Some(&(first, _))) =
                            (next.get(key), pairs.first())
                        {
                            check_start(a, key, *requested, first, op, out);
                        }
                        let hi = pairs
                            .iter()
                            .map(|&(o, _)| o.saturating_add(1))
                            .max()
                            .unwrap_or(0);
                        let slot = next.entry(key.clone()).or_insert(Some(0));
                        if let Some(p) = slot {
                            *p = (*p).max(hi);
                        }
                    }
                }
                (OpValue::Poll { .. }, OpType::Fail | OpType::Info) => {
                    for p in next.values_mut() {
                        *p = None;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Checks one key of one poll reply against the offset the client requested.
fn check_start(
    a: &Analysis<'_>,
    key: &Key,
    requested: u64,
    first: u64,
    op: &crate::history::Op,
    out: &mut Findings,
) {
    if first < requested {
        out.entry(names::POLL_BELOW_REQUESTED)
            .or_default()
            .push(Case::PollStart {
                name: names::POLL_BELOW_REQUESTED,
                key: key.clone(),
                requested,
                first_offset: first,
                skipped: Vec::new(),
                op: OpRef::lazy(op),
            });
        return;
    }
    let skipped: Vec<(u64, crate::history::Val)> = a
        .log(key)
        .raw
        .range(requested..first)
        .flat_map(|(o, vs)| vs.iter().map(move |v| (*o, v.clone())))
        .take(8)
        .collect();
    if !skipped.is_empty() {
        out.entry(names::POLL_STARTS_PAST_MESSAGE)
            .or_default()
            .push(Case::PollStart {
                name: names::POLL_STARTS_PAST_MESSAGE,
                key: key.clone(),
                requested,
                first_offset: first,
                skipped,
                op: OpRef::lazy(op),
            });
    }
}

/// Protocol violations the runner recorded, one case each.
fn wire(history: &History, out: &mut Findings) {
    for v in &history.violations {
        let name = match v.kind {
            ViolationKind::MalformedReply => names::MALFORMED_REPLY,
            ViolationKind::MalformedEnvelope => names::MALFORMED_ENVELOPE,
            ViolationKind::UnknownDestination => names::UNKNOWN_DESTINATION,
            ViolationKind::ReplyToNobody => names::REPLY_TO_NOBODY,
        };
        out.entry(name).or_default().push(Case::Wire {
            name,
            node: v.node.clone(),
            time: v.time,
            detail: v.detail.clone(),
        });
    }
}
