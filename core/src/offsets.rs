//! Committed consumer offsets: one max-register per key.
//!
//! A committed offset only says how far some client has processed a key, so raises
//! commute: any order of them gives the same maximum, and a node's answer never goes
//! back (spec: kafka.md 2.4, 2.5). A node raises on request and answers at once. In a
//! cluster what rose also becomes an entry of the replicated log (`cluster::journal`),
//! and every node raises its copy as it applies the entry: every node comes to list
//! every commit, and a restarted node gets them back with the log.
//!
//! Invariants:
//! - an offset in `map` never decreases, and is at most [`Offset::MAX`].

use crate::ids::{Key, Offset};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Offsets {
    /// Per key: the highest committed offset.
    map: BTreeMap<Key, Offset>,
}

impl Offsets {
    /// Raises `key` to `offset` if that is higher; says whether it was.
    pub(crate) fn raise(&mut self, key: &Key, offset: Offset) -> bool {
        match self.map.get_mut(key) {
            Some(current) if *current >= offset => false,
            Some(current) => {
                *current = offset;
                true
            }
            None => {
                self.map.insert(key.clone(), offset);
                true
            }
        }
    }

    /// The committed offset of `key`, if any.
    pub(crate) fn get(&self, key: &Key) -> Option<Offset> {
        self.map.get(key).copied()
    }

    /// Panics if an invariant is broken.
    pub(crate) fn check_invariants(&self) {
        assert!(
            self.map.values().all(|o| *o <= Offset::MAX),
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
    fn offsets_only_rise() {
        let mut o = Offsets::default();
        assert!(o.raise(&k("a"), Offset(3)));
        assert!(
            !o.raise(&k("a"), Offset(2)),
            "a lower commit changes nothing"
        );
        assert!(!o.raise(&k("a"), Offset(3)));
        assert!(o.raise(&k("b"), Offset(1)));
        assert!(o.raise(&k("a"), Offset(5)));
        assert_eq!(o.get(&k("a")), Some(Offset(5)));
        assert_eq!(o.get(&k("c")), None);
        o.check_invariants();
    }
}
