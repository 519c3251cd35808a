//! `SmallStr`: an immutable string that is stored inline when short and shared when
//! long.
//!
//! Nearly every name on a Maelstrom network is a few bytes (`n0`, `c17`, the key `"42"`),
//! and so is nearly every payload (a small integer). Holding those inline means decoding
//! a line allocates nothing for them and dropping a message frees nothing; a long string
//! falls back to an `Arc<str>`, so cloning stays cheap either way.
//!
//! Invariants:
//! - An `Inline` value's first `len` bytes are a complete UTF-8 string, copied from a
//!   `&str`, `len <= INLINE_MAX`, and every byte after the first `len` is zero (the
//!   comparisons rely on it).
//! - A string of at most `INLINE_MAX` bytes is always `Inline`, so equal strings have the
//!   same representation; comparisons still go by bytes, which is what `str` does.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The longest string held inline: with the length byte and the enum's tag this makes
/// 24 bytes, the size of a `String`.
const INLINE_MAX: usize = 22;

#[derive(Clone)]
pub(crate) struct SmallStr(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE_MAX] },
    Shared(Arc<str>),
}

impl SmallStr {
    pub(crate) fn new(text: &str) -> SmallStr {
        if text.len() <= INLINE_MAX {
            let mut bytes = [0; INLINE_MAX];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            SmallStr(Repr::Inline {
                len: text.len() as u8,
                bytes,
            })
        } else {
            SmallStr(Repr::Shared(Arc::from(text)))
        }
    }

    /// The string's bytes, without the UTF-8 check that [`SmallStr::as_str`] makes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(text) => text.as_bytes(),
        }
    }

    /// The string folded into 64 bits for hashing: equal strings fold equally. An inline
    /// string is three word loads, where hashing it byte by byte cost several times more
    /// in the logs' key table.
    pub(crate) fn fold(&self) -> u64 {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let [
                    a,
                    b,
                    c,
                    d,
                    e,
                    f,
                    g,
                    h,
                    i,
                    j,
                    k,
                    l,
                    m,
                    n,
                    o,
                    p,
                    q,
                    r,
                    s,
                    t,
                    u,
                    v,
                ] = *bytes;
                let first = u64::from_le_bytes([a, b, c, d, e, f, g, h]);
                let second = u64::from_le_bytes([i, j, k, l, m, n, o, p]);
                let third = u64::from_le_bytes([q, r, s, t, u, v, *len, 0]);
                first ^ second.rotate_left(21) ^ third.rotate_left(42)
            }
            // FNV-1a over the bytes.
            Repr::Shared(text) => text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
                (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            }),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match &self.0 {
            // Safe code cannot skip the check; for a string this short it costs a few
            // nanoseconds, and hot paths (encoding, comparing) use the bytes instead.
            Repr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("inline bytes are copied from a str"),
            Repr::Shared(text) => text,
        }
    }
}

/// The first eight bytes of an inline string as one big-endian integer, which orders as
/// those bytes do. Keys are compared a dozen times per lookup in the logs' map, and most
/// differ in their first eight bytes, so most comparisons are one integer comparison
/// instead of a `memcmp` call.
#[inline]
fn prefix(bytes: &[u8; INLINE_MAX]) -> u64 {
    let [a, b, c, d, e, f, g, h, ..] = *bytes;
    u64::from_be_bytes([a, b, c, d, e, f, g, h])
}

impl PartialEq for SmallStr {
    #[inline]
    fn eq(&self, other: &SmallStr) -> bool {
        match (&self.0, &other.0) {
            (Repr::Inline { len, bytes }, Repr::Inline { len: l, bytes: b }) => {
                len == l && bytes == b
            }
            _ => self.as_bytes() == other.as_bytes(),
        }
    }
}

impl Eq for SmallStr {}

impl PartialOrd for SmallStr {
    #[inline]
    fn partial_cmp(&self, other: &SmallStr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Byte order, which is `str`'s order, so `Borrow<str>` lookups agree with it.
impl Ord for SmallStr {
    #[inline]
    fn cmp(&self, other: &SmallStr) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Inline { len, bytes }, Repr::Inline { len: l, bytes: b }) => {
                // Comparing the zero-padded arrays, then the lengths, is byte order: up to
                // the shorter length both hold the strings' bytes; past it the shorter has
                // zeros where the longer has bytes that are at least zero, and when those
                // are all zero the length breaks the tie, shorter first.
                match prefix(bytes).cmp(&prefix(b)) {
                    Ordering::Equal => (&bytes[8..], len).cmp(&(&b[8..], l)),
                    unequal => unequal,
                }
            }
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}

/// Hashes as `str` does, so `Borrow<str>` lookups in hashed collections agree with it.
impl Hash for SmallStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_strings_round_trip_and_order_as_str() {
        let texts = [
            "",
            "a",
            "n0",
            "é",
            "0123456789012345678901",
            "01234567890123456789012",
            "a much longer string that cannot be held inline at all",
            "b",
            "🦀 crab",
            "a\u{0}",
            "a\u{0}\u{0}b",
            "\u{0}",
            "10",
            "9",
            "0123456789012345z",
            "0123456789012345",
        ];
        for a in texts {
            let small = SmallStr::new(a);
            assert_eq!(small.as_str(), a);
            assert_eq!(small.as_bytes(), a.as_bytes());
            assert_eq!(
                matches!(small.0, Repr::Inline { .. }),
                a.len() <= INLINE_MAX
            );
            for b in texts {
                let other = SmallStr::new(b);
                assert_eq!(small.cmp(&other), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(small == other, a == b, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn is_as_small_as_a_string() {
        assert_eq!(
            std::mem::size_of::<SmallStr>(),
            std::mem::size_of::<String>()
        );
    }
}
