//! Whether a run gave the cluster a chance: how long, during the main phase, some majority
//! of the servers could reach each other.
//!
//! A design that acknowledges a send only once a majority holds it (the only kind that
//! survives losing a minority) cannot acknowledge anything while no majority can talk.
//! On two nodes every partition shape that does anything cuts the pair apart, and
//! Maelstrom starts the first partition the moment the main phase starts: a short run
//! can stay cut for all of it. Maelstrom's `:stats` checker then finds no `:ok` send and
//! calls the run invalid, whatever the node did. Such a run says nothing about the node,
//! so the simulator's verdict names it (`no-quorum`) instead of counting it a failure;
//! `report::verdict` decides when that applies, and only ever for that one reason.
//!
//! A majority *can reach each other* when the directed graph of working links among
//! them (a link works unless the receiver drops the sender, spec: kafka.md 6.2) is
//! strongly connected: every member reaches every other, through members if need be.
//! A node that is down (the node-crash extension) is in no majority.

use crate::history::{History, Micros, NemesisKind};
use std::collections::{BTreeMap, BTreeSet};

/// The longest stretch of the main phase (from 0 to its end) during which some majority
/// of `nodes` could reach each other.
pub fn longest_majority_window(history: &History, nodes: &[String]) -> Micros {
    let n = nodes.len();
    let index: BTreeMap<&str, usize> = nodes.iter().map(String::as_str).zip(0..).collect();
    let end = history.main_phase_end;
    // `blocked[to][from]`: `to` drops what `from` sends.
    let mut blocked = vec![vec![false; n]; n];
    let mut down = BTreeSet::new();
    let mut longest = 0;
    let mut since: Option<Micros> = None;
    let mut account = |t: Micros, ok: bool, since: &mut Option<Micros>| match (ok, *since) {
        (true, None) => *since = Some(t),
        (false, Some(s)) => {
            longest = longest.max(t - s);
            *since = None;
        }
        _ => {}
    };
    account(0, has_connected_majority(&blocked, &down), &mut since);
    for event in &history.nemesis {
        if event.time > end {
            break;
        }
        match &event.kind {
            NemesisKind::StartPartition { isolated, .. } => {
                blocked.iter_mut().for_each(|row| row.fill(false));
                for (to, froms) in isolated {
                    for from in froms {
                        if let (Some(&t), Some(&f)) =
                            (index.get(to.as_str()), index.get(from.as_str()))
                        {
                            blocked[t][f] = true;
                        }
                    }
                }
            }
            NemesisKind::StopPartition => blocked.iter_mut().for_each(|row| row.fill(false)),
            NemesisKind::Crash(node) => {
                if let Some(&i) = index.get(node.as_str()) {
                    down.insert(i);
                }
            }
            NemesisKind::Restart(node) => {
                if let Some(&i) = index.get(node.as_str()) {
                    down.remove(&i);
                }
            }
        }
        account(
            event.time,
            has_connected_majority(&blocked, &down),
            &mut since,
        );
    }
    account(end, false, &mut since);
    longest
}

/// Whether some majority of the nodes not `down` is strongly connected under `blocked`.
fn has_connected_majority(blocked: &[Vec<bool>], down: &BTreeSet<usize>) -> bool {
    let n = blocked.len();
    let majority = n / 2 + 1;
    if n > 20 {
        // Too many subsets to try; Maelstrom runs are far smaller. Say yes, which can
        // only make the verdict stricter.
        return true;
    }
    (0u32..1 << n).any(|set| {
        set.count_ones() as usize >= majority
            && (0..n).all(|i| set & (1 << i) == 0 || !down.contains(&i))
            && strongly_connected(blocked, set)
    })
}

/// Whether every member of `set` reaches every other through members, following links
/// the receiver does not drop.
fn strongly_connected(blocked: &[Vec<bool>], set: u32) -> bool {
    let n = blocked.len();
    let members: Vec<usize> = (0..n).filter(|&i| set & (1 << i) != 0).collect();
    let Some(&root) = members.first() else {
        return false;
    };
    // Reached from the root along working links, and reaching the root along them.
    let reach = |forward: bool| {
        let mut seen = 1u32 << root;
        let mut stack = vec![root];
        while let Some(a) = stack.pop() {
            for &b in &members {
                let works = if forward {
                    !blocked[b][a]
                } else {
                    !blocked[a][b]
                };
                if works && seen & (1 << b) == 0 {
                    seen |= 1 << b;
                    stack.push(b);
                }
            }
        }
        seen
    };
    reach(true) == set && reach(false) == set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::NemesisEvent;
    use replicator_core::NodeId;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn cut(time: Micros, pairs: &[(&str, &[&str])]) -> NemesisEvent {
        NemesisEvent {
            time,
            kind: NemesisKind::StartPartition {
                shape: "test".into(),
                isolated: pairs
                    .iter()
                    .map(|(to, froms)| {
                        (
                            NodeId::new(to),
                            froms.iter().map(|f| NodeId::new(f)).collect(),
                        )
                    })
                    .collect(),
            },
        }
    }

    fn history(end: Micros, nemesis: Vec<NemesisEvent>) -> History {
        History {
            nemesis,
            main_phase_end: end,
            ..History::default()
        }
    }

    #[test]
    fn two_nodes_cut_apart_have_no_majority_until_healed() {
        let h = history(
            2_000_000,
            vec![
                cut(0, &[("n0", &["n1"]), ("n1", &["n0"])]),
                NemesisEvent {
                    time: 1_500_000,
                    kind: NemesisKind::StopPartition,
                },
            ],
        );
        assert_eq!(longest_majority_window(&h, &names(2)), 500_000);
        let never = history(2_000_000, vec![cut(0, &[("n0", &["n1"]), ("n1", &["n0"])])]);
        assert_eq!(longest_majority_window(&never, &names(2)), 0);
    }

    #[test]
    fn a_one_way_ring_of_three_still_connects_a_majority_through_relays() {
        // n0 drops n1, n1 drops n2, n2 drops n0: every link works one way only.
        let ring = cut(0, &[("n0", &["n1"]), ("n1", &["n2"]), ("n2", &["n0"])]);
        let h = history(3_000_000, vec![ring]);
        assert_eq!(longest_majority_window(&h, &names(3)), 3_000_000);
        // Isolating one node of three leaves a majority.
        let one = cut(
            0,
            &[("n0", &["n1", "n2"]), ("n1", &["n0"]), ("n2", &["n0"])],
        );
        assert_eq!(
            longest_majority_window(&history(1_000, vec![one]), &names(3)),
            1_000
        );
    }

    #[test]
    fn a_crashed_node_is_in_no_majority() {
        let h = history(
            4_000_000,
            vec![NemesisEvent {
                time: 1_000_000,
                kind: NemesisKind::Crash(NodeId::new("n0")),
            }],
        );
        assert_eq!(longest_majority_window(&h, &names(1)), 1_000_000);
        assert_eq!(longest_majority_window(&h, &names(3)), 4_000_000);
    }
}
