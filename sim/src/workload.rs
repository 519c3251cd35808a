//! The kafka workload's generator (spec: kafka.md 3.3-3.5): what the next operation is.
//!
//! Each operation is one micro-op, a read (`poll`) or a write (`send`) with probability ½,
//! on a key slot drawn from the truncated exponential law. Writes to a key carry 1, 2, 3,
//! …; a key whose next value would pass `--max-writes-per-key` retires, its slot takes a
//! fresh key, and the micro-op is redrawn. Before an operation, with probability 1/64, an
//! `assign` of that operation's key is inserted, extended with probability 1/3 by every
//! key with unseen messages.
//!
//! Invariants:
//! - Keys are decimal integers rendered as strings; a fresh key is one more than the
//!   largest key ever used, so no key is ever reused.
//! - Values within a key are 1, 2, 3, … in generation order and never exceed the limit.

use crate::history::PollResult;
use crate::rng::Rng;
use replicator_core::Key;
use std::collections::{BTreeMap, VecDeque};

/// spec: kafka.md 3.5 — Jepsen 0.3.7 inserts an assign before an op with this probability.
const ASSIGN_P: f64 = 1.0 / 64.0;
/// spec: kafka.md 3.5 — and extends it with the unseen keys with this one.
const UNSEEN_P: f64 = 1.0 / 3.0;

/// An operation the generator wants issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Planned {
    /// Send `value` to `key`.
    Send { key: Key, value: u64 },
    /// Poll the assigned keys.
    Poll,
    /// Assign these keys; `seek` is the final phase's seek to the beginning (no RPC).
    Assign { keys: Vec<Key>, seek: bool },
    /// Crash the client process.
    Crash,
}

/// The main phase's generator.
pub(crate) struct Generator {
    rng: Rng,
    /// Each slot's key and the values written to it so far. A key lives in one slot
    /// until it retires and never comes back, so its count can live with the slot.
    slots: Vec<(Key, u64)>,
    /// Cumulative slot probabilities, the last one 1.
    cumulative: Vec<f64>,
    max_writes: u64,
    next_key: u64,
    pending: VecDeque<Planned>,
    /// Keys with unseen messages: the highest offset acknowledged by an `:ok` send, and
    /// the highest returned by an `:ok` poll since, which is below it. As in Jepsen's
    /// `poll-unseen`, a key leaves the map (forgetting both) once a poll catches up.
    unseen: BTreeMap<Key, (u64, Option<u64>)>,
    /// Per key, the highest offset any `:ok` send or poll has shown (spec: kafka.md 3.7).
    max_offsets: BTreeMap<Key, u64>,
}

impl Generator {
    pub(crate) fn new(key_count: usize, max_writes: u64, rng: Rng) -> Generator {
        // spec: kafka.md 3.4 — slot i has probability 2^(i+1) / (2^(n+1) − 2). Computed
        // relative to the largest weight so that no power overflows for large n.
        let n = key_count.max(1);
        let weights: Vec<f64> = (0..n).map(|i| 0.5f64.powi((n - 1 - i) as i32)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let mut cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        Generator {
            rng,
            slots: (0..n).map(|k| (Key::new(&k.to_string()), 0)).collect(),
            cumulative,
            max_writes,
            next_key: n as u64,
            pending: VecDeque::new(),
            unseen: BTreeMap::new(),
            max_offsets: BTreeMap::new(),
        }
    }

    fn slot(&mut self) -> usize {
        let u = self.rng.unit();
        self.cumulative
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.cumulative.len() - 1)
    }

    /// The next operation to issue.
    pub(crate) fn next_op(&mut self) -> Planned {
        if let Some(op) = self.pending.pop_front() {
            return op;
        }
        let (op, key) = loop {
            let is_write = self.rng.chance(0.5);
            let slot = self.slot();
            let (key, written) = &mut self.slots[slot];
            if !is_write {
                break (Planned::Poll, key.clone());
            }
            let value = *written + 1;
            if value > self.max_writes {
                // spec: kafka.md 3.4 — the key retires, its slot gets a fresh key, and
                // the micro-op is drawn again.
                self.slots[slot] = (Key::new(&self.next_key.to_string()), 0);
                self.next_key += 1;
                continue;
            }
            *written = value;
            break (
                Planned::Send {
                    key: key.clone(),
                    value,
                },
                key.clone(),
            );
        };
        if self.rng.chance(ASSIGN_P) {
            let mut keys = vec![key];
            if self.rng.chance(UNSEEN_P) {
                for k in self.unseen_keys() {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
            self.pending.push_back(op);
            return Planned::Assign { keys, seek: false };
        }
        op
    }

    /// Keys whose highest polled offset is below their highest acknowledged one.
    fn unseen_keys(&self) -> Vec<Key> {
        self.unseen.keys().cloned().collect()
    }

    /// Learns from an `:ok` send.
    pub(crate) fn on_send_ok(&mut self, key: &Key, offset: u64) {
        bump(&mut self.max_offsets, key, offset);
        match self.unseen.get_mut(key) {
            Some((sent, _)) => *sent = (*sent).max(offset),
            None => {
                self.unseen.insert(key.clone(), (offset, None));
            }
        }
    }

    /// Learns from an `:ok` poll.
    pub(crate) fn on_poll_ok(&mut self, msgs: &PollResult) {
        for (key, pairs) in msgs {
            let Some(max) = pairs.iter().map(|(o, _)| *o).max() else {
                continue;
            };
            bump(&mut self.max_offsets, key, max);
            if let Some((sent, polled)) = self.unseen.get_mut(key) {
                let polled = polled.get_or_insert(max);
                *polled = (*polled).max(max);
                if *polled >= *sent {
                    self.unseen.remove(key);
                }
            }
        }
    }

    /// spec: kafka.md 3.7 — the final polls' target: per key, the highest offset seen by
    /// any `:ok` send or poll of the main phase.
    pub(crate) fn final_target(&self) -> BTreeMap<Key, u64> {
        self.max_offsets.clone()
    }
}

fn bump(map: &mut BTreeMap<Key, u64>, key: &Key, offset: u64) {
    match map.get_mut(key) {
        Some(o) => *o = (*o).max(offset),
        None => {
            map.insert(key.clone(), offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Val;

    #[test]
    fn the_hottest_slot_gets_about_half_the_ops() {
        let mut g = Generator::new(10, u64::MAX, Rng::new(1));
        let mut hits = [0u32; 10];
        for _ in 0..20_000 {
            hits[g.slot()] += 1;
        }
        let share = f64::from(hits[9]) / 20_000.0;
        assert!((0.47..0.53).contains(&share), "last slot share {share}");
        assert!(hits[8] > hits[7] && hits[7] > hits[6], "{hits:?}");
    }

    #[test]
    fn keys_retire_after_max_writes_with_values_one_to_max() {
        let mut g = Generator::new(2, 3, Rng::new(2));
        let mut by_key: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
        let (mut polls, mut sends) = (0, 0);
        for _ in 0..2000 {
            match g.next_op() {
                Planned::Send { key, value } => {
                    sends += 1;
                    by_key.entry(key).or_default().push(value);
                }
                Planned::Poll => polls += 1,
                Planned::Assign { .. } | Planned::Crash => {}
            }
        }
        assert!((800..1200).contains(&polls) && (800..1200).contains(&sends));
        for (key, values) in &by_key {
            assert!(values.len() <= 3, "{key:?} got {values:?}");
            assert_eq!(values, &(1..=values.len() as u64).collect::<Vec<_>>());
        }
        assert!(
            by_key.len() > 100,
            "keys were not replaced: {}",
            by_key.len()
        );
    }

    #[test]
    fn assigns_carry_the_next_ops_key_and_sometimes_unseen_keys() {
        let mut g = Generator::new(10, 16, Rng::new(3));
        // Keys the generator never makes, so that only the unseen extension adds them.
        g.on_send_ok(&Key::new("x77"), 4);
        g.on_send_ok(&Key::new("x78"), 2);
        let mut poll = PollResult::new();
        poll.insert(Key::new("x78"), vec![(2, Val::Int(1))]);
        poll.insert(Key::new("x77"), vec![(3, Val::Int(1))]);
        g.on_poll_ok(&poll);
        let (mut assigns, mut extended) = (0, 0);
        for _ in 0..20_000 {
            if let Planned::Assign { keys, .. } = g.next_op() {
                assigns += 1;
                assert!(!keys.contains(&Key::new("x78")), "x78 is caught up");
                if keys.contains(&Key::new("x77")) {
                    extended += 1;
                }
                match g.next_op() {
                    Planned::Send { key, .. } => assert_eq!(key, keys[0]),
                    Planned::Poll => {}
                    other => panic!("an assign followed by {other:?}"),
                }
            }
        }
        assert!((200..450).contains(&assigns), "{assigns} assigns");
        assert!(
            extended * 5 > assigns && extended * 2 < assigns,
            "{extended}/{assigns}"
        );
        assert_eq!(g.final_target().get("x77"), Some(&4));
        assert_eq!(g.final_target().get("x78"), Some(&2));
    }
}
