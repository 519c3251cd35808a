//! Which servers could reach a majority, when: the network's history (partitions and
//! node crashes) as a timeline, for two uses.
//!
//! - Whether a run gave the cluster a chance. A design that acknowledges a send only once
//!   a majority holds it (the only kind that survives losing a minority) cannot
//!   acknowledge anything while no majority can talk. On two nodes every partition shape
//!   that does anything cuts the pair apart, and Maelstrom starts the first partition
//!   the moment the main phase starts: a short run can stay cut for all of it. Maelstrom's
//!   `:stats` checker then finds no `:ok` send and calls the run invalid, whatever the
//!   node did. Such a run says nothing about the node, so the simulator's verdict names
//!   it (`no-quorum`) instead of counting it a failure; [`longest_majority_window`]
//!   measures the chance, and `report::verdict` decides.
//! - Where unavailability comes from: an operation whose node could not reach a majority
//!   when it was invoked could not have been a send that succeeds, whatever the design;
//!   [`Unavailability`] splits the operations that were not `:ok` accordingly.
//!
//! A set of nodes *can talk* when the directed graph of working links among them (a link
//! works unless the receiver drops the sender, spec: kafka.md 6.2) is strongly
//! connected: every member reaches every other, through members if need be. Strongly
//! connected components partition the nodes that are up, so at most one component holds
//! a majority, and a majority can talk exactly when one does. A node that is down (the
//! node-crash extension) is in no component.

use crate::history::{F, History, Micros, NemesisKind, OpType};
use std::collections::{BTreeMap, BTreeSet};

/// Which nodes were in the majority's component, over time.
#[derive(Clone, Debug)]
pub struct Timeline {
    /// `(from, members)`: from that time on (until the next entry), the nodes that
    /// could reach a majority; empty when no majority could talk.
    segments: Vec<(Micros, BTreeSet<usize>)>,
    /// Per segment: whether no partition was in force.
    whole: Vec<bool>,
    /// Node name → index.
    index: BTreeMap<String, usize>,
}

/// What a nemesis event, or a restarted node's recovery, changes in the network.
enum Change<'a> {
    /// A partition starts (replacing any other): `to` drops what each of `froms` sends.
    Partition(&'a BTreeMap<replicator_core::NodeId, Vec<replicator_core::NodeId>>),
    Heal,
    Down(usize),
    Up(usize),
}

impl<'a> Change<'a> {
    /// What `kind` changes, for the servers `index` names (`None` for another node).
    fn of(kind: &'a NemesisKind, index: &BTreeMap<String, usize>) -> Option<Change<'a>> {
        let node = |id: &replicator_core::NodeId| index.get(id.as_str()).copied();
        Some(match kind {
            NemesisKind::StartPartition { isolated, .. } => Change::Partition(isolated),
            NemesisKind::StopPartition => Change::Heal,
            NemesisKind::Crash(id) => Change::Down(node(id)?),
            NemesisKind::Restart(id) => Change::Up(node(id)?),
        })
    }
}

impl Timeline {
    /// The timeline of `history`'s nemesis events over the servers `nodes`: a node is in
    /// the game from the moment it restarts.
    pub fn of(history: &History, nodes: &[String]) -> Timeline {
        let index: BTreeMap<String, usize> = nodes.iter().cloned().zip(0..).collect();
        let changes = history
            .nemesis
            .iter()
            .filter_map(|event| Some((event.time, Change::of(&event.kind, &index)?)));
        Timeline::build(index.clone(), changes)
    }

    /// The same timeline, except that a restarted node stays out of the game until it
    /// has been up for `grace` with the network whole (see [`Timeline::recovered_at`]):
    /// the crash nemesis's own idea of a node that is still recovering (`run::nodes`).
    pub fn with_recovery(history: &History, nodes: &[String], grace: Micros) -> Timeline {
        let plain = Timeline::of(history, nodes);
        let index = &plain.index;
        let mut changes: Vec<(Micros, Change)> = Vec::new();
        for (k, event) in history.nemesis.iter().enumerate() {
            match Change::of(&event.kind, index) {
                Some(Change::Up(i)) => {
                    let next_crash = history.nemesis[k + 1..]
                        .iter()
                        .find(|e| matches!(Change::of(&e.kind, index), Some(Change::Down(c)) if c == i))
                        .map(|e| e.time);
                    // Back in the game once recovered, unless it crashes again first.
                    if let Some(at) = plain.recovered_at(i, event.time, grace)
                        && next_crash.is_none_or(|crash| at < crash)
                    {
                        changes.push((at, Change::Up(i)));
                    }
                }
                Some(change) => changes.push((event.time, change)),
                None => {}
            }
        }
        // Stable: a recovery at the same time as a nemesis event comes after it.
        changes.sort_by_key(|(time, _)| *time);
        Timeline::build(plain.index.clone(), changes)
    }

    fn build<'a>(
        index: BTreeMap<String, usize>,
        changes: impl IntoIterator<Item = (Micros, Change<'a>)>,
    ) -> Timeline {
        let n = index.len();
        // `blocked[to][from]`: `to` drops what `from` sends.
        let mut blocked = vec![vec![false; n]; n];
        let mut down = BTreeSet::new();
        let mut segments = vec![(0, majority_component(&blocked, &down))];
        let mut whole = vec![true];
        for (time, change) in changes {
            match change {
                Change::Partition(isolated) => {
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
                Change::Heal => blocked.iter_mut().for_each(|row| row.fill(false)),
                Change::Down(i) => {
                    down.insert(i);
                }
                Change::Up(i) => {
                    down.remove(&i);
                }
            }
            segments.push((time, majority_component(&blocked, &down)));
            whole.push(blocked.iter().all(|row| row.iter().all(|b| !b)));
        }
        Timeline {
            segments,
            whole,
            index,
        }
    }

    /// When `node`, restarted at `at`, will have been up for `grace` in the majority's
    /// component with no partition in force anywhere, if the network stays as the
    /// timeline ends; `None` if it never will. Any partition stops the clock: recovering
    /// takes nodes that remember, and a partition may cut the node off from them even
    /// when it leaves it a majority.
    pub fn recovered_at(&self, node: usize, at: Micros, grace: Micros) -> Option<Micros> {
        let mut left = grace;
        for (k, (start, members)) in self.segments.iter().enumerate() {
            let end = self.segments.get(k + 1).map(|(next, _)| *next);
            let start = (*start).max(at);
            if end.is_some_and(|end| end <= start) || !self.whole[k] || !members.contains(&node) {
                continue;
            }
            match end {
                Some(end) if end - start < left => left -= end - start,
                _ => return Some(start + left),
            }
        }
        None
    }

    /// Whether `node` could reach a majority at `time`.
    pub fn in_majority(&self, node: &str, time: Micros) -> bool {
        let Some(&i) = self.index.get(node) else {
            return false;
        };
        let at = self.segments.partition_point(|(from, _)| *from <= time);
        at > 0 && self.segments[at - 1].1.contains(&i)
    }

    /// Whether `node` stayed in the majority's component for all of `[from, until)`, and
    /// that component lost no member meanwhile (a lost member may have led): whether a
    /// send invoked at `node` at `from` had until `until` to be acknowledged.
    pub fn stays_in_majority(&self, node: &str, from: Micros, until: Micros) -> bool {
        let Some(&i) = self.index.get(node) else {
            return false;
        };
        let first = self.segments.partition_point(|(start, _)| *start <= from);
        if first == 0 {
            return false;
        }
        let mut before = &self.segments[first - 1].1;
        if !before.contains(&i) {
            return false;
        }
        for (start, members) in &self.segments[first..] {
            if *start >= until {
                break;
            }
            if !members.contains(&i) || !members.is_superset(before) {
                return false;
            }
            before = members;
        }
        true
    }

    /// The longest stretch of `[0, end]` during which some majority could talk without
    /// losing a member: a member that crashes or is cut off may be the leader, and then
    /// a new election must start over, so the stretch starts again at that moment.
    pub fn longest_majority_window(&self, end: Micros) -> Micros {
        let mut longest = 0;
        let mut since: Option<Micros> = None;
        let mut before: Option<&BTreeSet<usize>> = None;
        for (from, members) in &self.segments {
            let from = (*from).min(end);
            if let Some(s) = since
                && (members.is_empty() || before.is_some_and(|b| !members.is_superset(b)))
            {
                longest = longest.max(from - s);
                since = None;
            }
            if since.is_none() && !members.is_empty() {
                since = Some(from);
            }
            before = Some(members);
        }
        if let Some(s) = since {
            longest = longest.max(end - s);
        }
        longest
    }
}

/// The longest stretch of the main phase (from 0 to its end) during which some majority
/// of `nodes` could reach each other.
pub fn longest_majority_window(history: &History, nodes: &[String]) -> Micros {
    Timeline::of(history, nodes).longest_majority_window(history.main_phase_end)
}

/// The members of the strongly connected component of the up nodes that holds a
/// majority of all nodes, or none.
fn majority_component(blocked: &[Vec<bool>], down: &BTreeSet<usize>) -> BTreeSet<usize> {
    let n = blocked.len();
    let majority = n / 2 + 1;
    let mut unassigned: BTreeSet<usize> = (0..n).filter(|i| !down.contains(i)).collect();
    while let Some(&root) = unassigned.iter().next() {
        // The component of `root`: nodes it reaches that also reach it.
        let reach = |forward: bool| {
            let mut seen = BTreeSet::from([root]);
            let mut stack = vec![root];
            while let Some(a) = stack.pop() {
                for (b, drops) in blocked.iter().enumerate() {
                    // `b` hears `a` unless `b` drops it; `a` hears `b` likewise.
                    let works = if forward { !drops[a] } else { !blocked[a][b] };
                    if works && !down.contains(&b) && seen.insert(b) {
                        stack.push(b);
                    }
                }
            }
            seen
        };
        let component: BTreeSet<usize> = reach(true).intersection(&reach(false)).copied().collect();
        if component.len() >= majority {
            return component;
        }
        for i in &component {
            unassigned.remove(i);
        }
    }
    BTreeSet::new()
}

/// Why client operations were not `:ok` (spec: kafka.md 4.6: availability is the `:ok`
/// fraction of all invocations, crashes included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unavailability {
    /// Client invocations.
    pub invocations: u64,
    /// Of those, completed other than `:ok` (or never completed).
    pub not_ok: u64,
    /// Of those, client crash operations, which never succeed.
    pub crashes: u64,
    /// Of those, operations invoked at a node that could not reach a majority: no
    /// design that survives losing a minority could have made such a send succeed.
    pub cut_off: u64,
    /// The sends among `cut_off`.
    pub cut_off_sends: u64,
    /// The rest: operations invoked at a node in touch with a majority.
    pub connected: u64,
    /// Sends invoked at a node in touch with a majority, whatever their outcome.
    pub sends_in_majority: u64,
}

impl Unavailability {
    /// Splits the operations of `history` that were not `:ok`.
    pub fn of(history: &History, nodes: &[String]) -> Unavailability {
        Unavailability::over(history, &Timeline::of(history, nodes))
    }

    /// The same, judging who could reach a majority by `timeline`.
    pub fn over(history: &History, timeline: &Timeline) -> Unavailability {
        let mut u = Unavailability::default();
        let mut invoked: BTreeMap<u64, (Micros, bool)> = BTreeMap::new();
        for op in &history.ops {
            if op.ty == OpType::Invoke {
                u.invocations += 1;
                let in_majority = timeline.in_majority(op.node.as_str(), op.time);
                if in_majority && op.f == F::Send {
                    u.sends_in_majority += 1;
                }
                invoked.insert(op.process, (op.time, in_majority));
                continue;
            }
            let Some((_, in_majority)) = invoked.remove(&op.process) else {
                continue;
            };
            if op.ty != OpType::Ok {
                u.count(op.f, in_majority);
            }
        }
        // Operations still in flight at the end were not `:ok` either.
        let pending: Vec<bool> = invoked.values().map(|&(_, m)| m).collect();
        for in_majority in pending {
            u.count(F::Send, in_majority);
        }
        u
    }

    fn count(&mut self, f: F, in_majority: bool) {
        self.not_ok += 1;
        if f == F::Crash {
            self.crashes += 1;
        } else if in_majority {
            self.connected += 1;
        } else {
            self.cut_off += 1;
            self.cut_off_sends += u64::from(f == F::Send);
        }
    }
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
        let t = Timeline::of(&h, &names(2));
        assert!(!t.in_majority("n0", 1_000_000));
        assert!(t.in_majority("n0", 1_600_000));
        let never = history(2_000_000, vec![cut(0, &[("n0", &["n1"]), ("n1", &["n0"])])]);
        assert_eq!(longest_majority_window(&never, &names(2)), 0);
        // The network is whole only from the heal on: a recovery's clock runs from then.
        assert_eq!(t.recovered_at(0, 0, 500_000), Some(2_000_000));
        assert_eq!(t.recovered_at(0, 1_700_000, 200_000), Some(1_900_000));
        let t = Timeline::of(&never, &names(2));
        assert_eq!(t.recovered_at(0, 0, 1), None);
    }

    #[test]
    fn a_restarted_node_helps_no_majority_until_it_has_recovered() {
        let event = |time, kind| NemesisEvent { time, kind };
        let (n0, n1) = (NodeId::new("n0"), NodeId::new("n1"));
        let h = history(
            10_000_000,
            vec![
                event(1_000_000, NemesisKind::Crash(n0.clone())),
                event(1_200_000, NemesisKind::Restart(n0.clone())),
                // n1 crashes while n0 recovers: no majority of recovered nodes is left.
                event(1_500_000, NemesisKind::Crash(n1.clone())),
                event(1_600_000, NemesisKind::Restart(n1)),
                // n0 crashes again before it recovered: its first recovery never ends.
                event(1_800_000, NemesisKind::Crash(n0.clone())),
                event(1_900_000, NemesisKind::Restart(n0)),
            ],
        );
        let plain = Timeline::of(&h, &names(3));
        let slow = Timeline::with_recovery(&h, &names(3), 1_000_000);
        assert!(plain.in_majority("n2", 1_550_000) && plain.in_majority("n0", 1_300_000));
        assert!(!slow.in_majority("n0", 1_300_000));
        assert!(slow.in_majority("n2", 1_300_000), "n1 and n2 still talk");
        assert!(!slow.in_majority("n2", 1_550_000), "n1 down, n0 recovering");
        assert!(
            !slow.in_majority("n2", 2_500_000),
            "n1 recovering until 2.6 s"
        );
        assert!(slow.in_majority("n1", 2_600_000) && !slow.in_majority("n0", 2_600_000));
        assert!(slow.in_majority("n0", 2_900_000));
        // Each crash of a member starts the stretch again; the last one is at 1.8 s.
        assert_eq!(
            plain.longest_majority_window(10_000_000),
            10_000_000 - 1_800_000
        );
        assert_eq!(
            slow.longest_majority_window(10_000_000),
            10_000_000 - 2_600_000
        );
        // A send at n2 at 1.3 s had until 1.5 s, when n1 crashed; one at 3 s had all along.
        assert!(slow.stays_in_majority("n2", 1_300_000, 1_450_000));
        assert!(!slow.stays_in_majority("n2", 1_300_000, 2_000_000));
        assert!(
            !slow.stays_in_majority("n0", 1_300_000, 1_400_000),
            "n0 was recovering"
        );
        assert!(slow.stays_in_majority("n0", 3_000_000, 9_000_000));
    }

    #[test]
    fn a_one_way_ring_of_three_still_connects_a_majority_through_relays() {
        // n0 drops n1, n1 drops n2, n2 drops n0: every link works one way only.
        let ring = cut(0, &[("n0", &["n1"]), ("n1", &["n2"]), ("n2", &["n0"])]);
        let h = history(3_000_000, vec![ring]);
        assert_eq!(longest_majority_window(&h, &names(3)), 3_000_000);
        // Isolating one node of three leaves a majority, without it.
        let one = cut(
            0,
            &[("n0", &["n1", "n2"]), ("n1", &["n0"]), ("n2", &["n0"])],
        );
        let h = history(1_000, vec![one]);
        assert_eq!(longest_majority_window(&h, &names(3)), 1_000);
        let t = Timeline::of(&h, &names(3));
        assert!(!t.in_majority("n0", 10));
        assert!(t.in_majority("n1", 10) && t.in_majority("n2", 10));
        // A node that only hears the others cannot reach them: it is outside.
        let deaf_one_way = cut(0, &[("n1", &["n0"]), ("n2", &["n0"])]);
        let t = Timeline::of(&history(1_000, vec![deaf_one_way]), &names(3));
        assert!(!t.in_majority("n0", 10));
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
        // Three nodes keep a majority, but the crashed one may have led: the stretch in
        // which an election need not start over begins again at the crash.
        assert_eq!(longest_majority_window(&h, &names(3)), 3_000_000);
    }
}
