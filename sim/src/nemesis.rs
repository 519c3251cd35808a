//! The partition nemesis (spec: kafka.md 6.2): its four shapes.
//!
//! A cut is a list of `(receiver, sender)` pairs of server-node indices: the receiver
//! drops what that sender sends it. The schedule (start at the beginning of the main
//! phase, alternate start/stop with gaps uniform on `[0, 2·interval)`, heal at the end)
//! lives in the runner.

use crate::rng::Rng;
use std::collections::BTreeSet;

/// The shapes, as Jepsen names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One random node isolated from all others.
    One,
    /// The shuffled nodes split into halves (⌊n/2⌋ | the rest).
    Majority,
    /// ⌊(n−1)/3⌋ random nodes against the rest.
    MinorityThird,
    /// Every node sees a majority, no two the same one.
    MajoritiesRing,
}

impl Shape {
    /// Every shape, in the order the nemesis draws from.
    pub const ALL: [Shape; 4] = [
        Shape::One,
        Shape::Majority,
        Shape::MinorityThird,
        Shape::MajoritiesRing,
    ];

    /// Jepsen's name.
    pub fn name(self) -> &'static str {
        match self {
            Shape::One => "one",
            Shape::Majority => "majority",
            Shape::MinorityThird => "minority-third",
            Shape::MajoritiesRing => "majorities-ring",
        }
    }

    /// Draws a shape uniformly.
    pub fn draw(rng: &mut Rng) -> Shape {
        Shape::ALL[rng.index(Shape::ALL.len())]
    }
}

/// The cut of `shape` over `n` nodes, sorted.
pub fn cut(shape: Shape, n: usize, rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut nodes: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut nodes);
    let cut: BTreeSet<(usize, usize)> = match shape {
        Shape::One => bipartite(&nodes[..1.min(n)], &nodes[1.min(n)..]),
        Shape::Majority => bipartite(&nodes[..n / 2], &nodes[n / 2..]),
        Shape::MinorityThird => {
            let k = n.saturating_sub(1) / 3;
            bipartite(&nodes[..k], &nodes[k..])
        }
        Shape::MajoritiesRing => majorities_ring(&nodes, rng),
    };
    cut.into_iter().collect()
}

/// Both directions between every node of `a` and every node of `b`.
fn bipartite(a: &[usize], b: &[usize]) -> BTreeSet<(usize, usize)> {
    let mut cut = BTreeSet::new();
    for &x in a {
        for &y in b {
            cut.insert((x, y));
            cut.insert((y, x));
        }
    }
    cut
}

/// For up to 5 nodes, Jepsen's perfect ring: over the shuffled ring, each window of a
/// majority's size belongs to its middle node, which drops everything outside it. For
/// 3 nodes every link is then cut in one direction only. Beyond 5 nodes Jepsen uses a
/// random approximation; ours gives each node a random majority that contains it.
fn majorities_ring(ring: &[usize], rng: &mut Rng) -> BTreeSet<(usize, usize)> {
    let n = ring.len();
    let majority = n / 2 + 1;
    let mut cut = BTreeSet::new();
    if n <= 2 {
        return cut;
    }
    if n <= 5 {
        for start in 0..n {
            let window: Vec<usize> = (0..majority).map(|j| ring[(start + j) % n]).collect();
            let owner = window[majority / 2];
            for &other in ring {
                if !window.contains(&other) {
                    cut.insert((owner, other));
                }
            }
        }
        return cut;
    }
    for &node in ring {
        let mut others: Vec<usize> = ring.iter().copied().filter(|&o| o != node).collect();
        rng.shuffle(&mut others);
        for &dropped in &others[majority - 1..] {
            cut.insert((node, dropped));
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(cut: &[(usize, usize)], n: usize, node: usize) -> usize {
        (0..n).filter(|&s| !cut.contains(&(node, s))).count()
    }

    #[test]
    fn one_and_majority_fully_separate_two_nodes_and_the_others_do_nothing() {
        let mut rng = Rng::new(1);
        assert_eq!(cut(Shape::One, 2, &mut rng), vec![(0, 1), (1, 0)]);
        assert_eq!(cut(Shape::Majority, 2, &mut rng), vec![(0, 1), (1, 0)]);
        assert!(cut(Shape::MinorityThird, 2, &mut rng).is_empty());
        assert!(cut(Shape::MajoritiesRing, 2, &mut rng).is_empty());
        for shape in Shape::ALL {
            assert!(cut(shape, 1, &mut rng).is_empty());
        }
    }

    #[test]
    fn minority_third_does_nothing_up_to_three_nodes_and_cuts_one_of_four() {
        let mut rng = Rng::new(2);
        assert!(cut(Shape::MinorityThird, 3, &mut rng).is_empty());
        assert_eq!(cut(Shape::MinorityThird, 4, &mut rng).len(), 6);
    }

    #[test]
    fn majorities_ring_of_three_cuts_each_link_one_way() {
        for seed in 0..20 {
            let c = cut(Shape::MajoritiesRing, 3, &mut Rng::new(seed));
            assert_eq!(c.len(), 3, "{c:?}");
            for &(to, from) in &c {
                assert!(!c.contains(&(from, to)), "{c:?} cuts both ways");
            }
            for node in 0..3 {
                assert_eq!(reach(&c, 3, node), 2);
            }
        }
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        for n in [4, 5, 7] {
            let c = cut(Shape::MajoritiesRing, n, &mut Rng::new(n as u64));
            let mut views = BTreeSet::new();
            for node in 0..n {
                assert_eq!(reach(&c, n, node), n / 2 + 1, "n={n} {c:?}");
                let view: Vec<usize> = (0..n).filter(|&s| !c.contains(&(node, s))).collect();
                views.insert(view);
            }
            if n <= 5 {
                assert_eq!(views.len(), n, "n={n}: two nodes share a majority");
            }
        }
    }
}
