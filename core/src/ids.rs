//! Newtypes for the names that must never be confused: node ids, message ids, keys and
//! offsets.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The id of a Maelstrom participant: a server (`n0`), a client (`c7`) or a service
/// (`lin-kv`).
///
/// Shared (`Arc<str>`): a node stamps its own id on every message it sends, and cloning
/// a reference count is cheaper than cloning a string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// Wraps a name.
    pub fn new(name: &str) -> NodeId {
        NodeId(Arc::from(name))
    }

    /// The name as Maelstrom spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this id names a client. spec: kafka.md 1.3: any id whose first character is
    /// `c` is a client to Maelstrom's network and statistics.
    pub fn is_client(&self) -> bool {
        self.0.starts_with('c')
    }
}

impl From<&str> for NodeId {
    fn from(name: &str) -> NodeId {
        NodeId::new(name)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
/// Shared (`Arc<str>`): a key is stored once as the log's name and handed out by
/// reference count in every reply that names it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(Arc<str>);

impl Key {
    /// Wraps a name.
    pub fn new(name: &str) -> Key {
        Key(Arc::from(name))
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Key {
    fn from(name: &str) -> Key {
        Key::new(name)
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
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
