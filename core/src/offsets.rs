//! Committed consumer offsets: one max-register per key.
//!
//! A committed offset only says how far some client has processed a key, so it needs no
//! consensus: every node keeps the highest offset it has heard of per key and passes
//! raises on to its peers, and any order of raises gives the same maximum. A node's own
//! answer therefore never goes back, and all nodes converge once the raises have
//! travelled (spec: kafka.md 2.4, 2.5).
//!
//! In a cluster every raise gets a version from a local counter, so that the node can
//! send each peer exactly the raises that peer has not acknowledged (see
//! `cluster::links`). A single node tracks no versions: its commit path stays one lookup.
//!
//! Invariants:
//! - an offset in `map` never decreases;
//! - when tracking, `by_version` holds each key once, at the version of its last raise,
//!   and every version is at most `version`.

use crate::ids::{Key, Offset};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Offsets {
    /// Per key: the highest committed offset, and the version of its last raise (0 when
    /// not tracking).
    map: BTreeMap<Key, (Offset, u64)>,
    /// Each raised key at the version of its last raise; empty when not tracking.
    by_version: BTreeMap<u64, Key>,
    /// The last version given out.
    version: u64,
    /// Whether versions are kept (a node in a cluster of two or more).
    tracking: bool,
}

impl Offsets {
    /// Offsets that remember which raises are new, for a node with peers.
    pub(crate) fn tracking() -> Offsets {
        Offsets {
            tracking: true,
            ..Offsets::default()
        }
    }

    /// Raises `key` to `offset` if that is higher; says whether it was.
    pub(crate) fn raise(&mut self, key: &Key, offset: Offset) -> bool {
        let version = self.version + 1;
        match self.map.get_mut(key) {
            Some((current, _)) if *current >= offset => return false,
            Some((current, v)) => {
                *current = offset;
                if self.tracking {
                    self.by_version.remove(v);
                    *v = version;
                }
            }
            None => {
                let v = if self.tracking { version } else { 0 };
                self.map.insert(key.clone(), (offset, v));
            }
        }
        if self.tracking {
            self.version = version;
            self.by_version.insert(version, key.clone());
        }
        true
    }

    /// The committed offset of `key`, if any.
    pub(crate) fn get(&self, key: &Key) -> Option<Offset> {
        self.map.get(key).map(|(o, _)| *o)
    }

    /// The version of the latest raise (0 when none, or when not tracking).
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// The keys raised after version `since`, with their offsets, in version order.
    pub(crate) fn raised_since(&self, since: u64) -> impl Iterator<Item = (Key, Offset)> + '_ {
        self.by_version
            .range(since.saturating_add(1)..)
            .map(|(_, key)| (key.clone(), self.map[key].0))
    }

    /// Panics if an invariant is broken.
    pub(crate) fn check_invariants(&self) {
        if self.tracking {
            assert_eq!(
                self.by_version.len(),
                self.map.len(),
                "a key lost its version"
            );
            for (v, key) in &self.by_version {
                assert_eq!(self.map[key].1, *v, "{key:?} is listed at a stale version");
                assert!(*v <= self.version, "a version from the future");
            }
        }
        assert!(
            self.map.values().all(|(o, _)| *o <= Offset::MAX),
            "a committed offset is out of range"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::new(s)
    }

    #[test]
    fn offsets_only_rise_and_versions_name_the_new_raises() {
        let mut o = Offsets::tracking();
        assert!(o.raise(&k("a"), Offset(3)));
        assert!(
            !o.raise(&k("a"), Offset(2)),
            "a lower commit changes nothing"
        );
        assert!(o.raise(&k("b"), Offset(1)));
        let since = o.version();
        assert!(o.raise(&k("a"), Offset(5)));
        assert_eq!(o.get(&k("a")), Some(Offset(5)));
        let raised: Vec<(Key, Offset)> = o.raised_since(since).collect();
        assert_eq!(raised, vec![(k("a"), Offset(5))]);
        assert_eq!(
            o.raised_since(0).count(),
            2,
            "each key once, at its last raise"
        );
        o.check_invariants();
    }

    #[test]
    fn a_single_node_keeps_no_versions() {
        let mut o = Offsets::default();
        o.raise(&k("a"), Offset(3));
        o.raise(&k("a"), Offset(4));
        assert_eq!(o.version(), 0);
        assert_eq!(o.raised_since(0).count(), 0);
        assert_eq!(o.get(&k("a")), Some(Offset(4)));
        o.check_invariants();
    }
}
