//! Newtypes for the names that must never be confused: node ids, message ids, keys and
//! offsets.

use crate::small::SmallStr;
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

/// The id of a Maelstrom participant: a server (`n0`), a client (`c7`) or a service
/// (`lin-kv`).
///
/// Held as a small string: ids are a few bytes, kept inline, so decoding a message and
/// stamping the node's own id on a reply allocate nothing; a long id is shared by
/// reference count.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(SmallStr);

impl NodeId {
    /// Wraps a name.
    pub fn new(name: &str) -> NodeId {
        NodeId(SmallStr::new(name))
    }

    /// The name as Maelstrom spells it.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The name's UTF-8 bytes, for writers and routers that need no `&str` (which an
    /// inline name pays a UTF-8 check for).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// This id's place in `ids`, where `index` maps each of `ids` to its place. Every
    /// message between servers is looked up so, by the nodes and by the simulator: in a
    /// cluster of Maelstrom's size a scan of the names is a few word compares, where the
    /// map takes a tree walk; a large cluster uses the map.
    pub fn place_in(&self, ids: &[NodeId], index: &BTreeMap<NodeId, usize>) -> Option<usize> {
        if ids.len() <= 16 {
            ids.iter().position(|n| n == self)
        } else {
            index.get(self).copied()
        }
    }

    /// Whether this id names a client. spec: kafka.md 1.3: any id whose first character is
    /// `c` is a client to Maelstrom's network and statistics.
    pub fn is_client(&self) -> bool {
        self.0.as_bytes().first() == Some(&b'c')
    }
}

impl From<&str> for NodeId {
    fn from(name: &str) -> NodeId {
        NodeId::new(name)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request's `msg_id`, echoed back as the reply's `in_reply_to`.
///
/// Maelstrom's clients number their requests 1, 2, 3, … (spec: kafka.md 1.4). Core accepts
/// any non-negative JSON integer up to `u64::MAX` and echoes it unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub u64);

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The name of one log. Keys are opaque strings (spec: kafka.md 2.1): `"9"` and `"09"`
/// are different logs.
///
/// Held as a small string: Maelstrom's keys are short decimal numbers, kept inline, so a
/// poll naming ten keys allocates nothing for them; a long key is shared by reference
/// count.
/// Keys order as their strings do.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(SmallStr);

impl Key {
    /// Wraps a name.
    pub fn new(name: &str) -> Key {
        Key(SmallStr::new(name))
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The key's UTF-8 bytes, for writers and comparisons that need no `&str`.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The key folded into 64 bits, for hashing; equal keys fold equally.
    pub(crate) fn fold(&self) -> u64 {
        self.0.fold()
    }
}

impl From<&str> for Key {
    fn from(name: &str) -> Key {
        Key::new(name)
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A position in one key's log.
///
/// Valid offsets are `0..=Offset::MAX` (`i64::MAX`): Maelstrom's client and checker are
/// Clojure and hold offsets as signed 64-bit longs, so a larger offset could not round-trip
/// (spec: kafka.md 2.6 item 7 also asks for small ones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub u64);

impl Offset {
    /// The largest offset Maelstrom can represent.
    pub const MAX: Offset = Offset(i64::MAX as u64);

    /// The offset after this one.
    pub fn next(self) -> Offset {
        Offset(self.0 + 1)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An election term (Raft's term, Viewstamped Replication's view number): a logical clock
/// that only grows. At most one node leads in any term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(pub u64);

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A position in the replicated log that orders every key's messages together, from 1;
/// 0 stands for the empty prefix. Not to be confused with an [`Offset`], a position in one
/// key's log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogIndex(pub u64);

impl LogIndex {
    /// The index after this one.
    pub fn next(self) -> LogIndex {
        LogIndex(self.0 + 1)
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
