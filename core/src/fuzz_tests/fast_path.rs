//! The fast-path target: the decoder's fast path (`protocol::fast`) against the full
//! decoder, on any line.
//!
//! `fast`'s contract is that it returns `Some(message)` only where the full decoder
//! returns `Ok(message)` with the same message, so that taking it changes nothing but
//! speed. Checked on every line:
//! - where the fast path decodes a line, the full decoder gives exactly that message;
//! - `protocol::decode`, the entry every caller uses, gives exactly what the full decoder
//!   gives, success or error, reason included.
//!
//! Three kinds of line:
//! - arbitrary bytes;
//! - the near-valid envelopes of [`super::wire`], which serde_json renders, so their
//!   fields come in one order, unescaped and without spaces;
//! - [`GenFastLine`]: the shapes the fast path reads (`send`, `poll`, `commit_offsets`)
//!   spelled in the ways a rendered envelope never is: fields in any order and repeated,
//!   names and strings with escapes, spaces between tokens, numbers at the edges of their
//!   ranges, and the fields of other body types that the fast path must leave alone.

use super::wire::GenEnvelope;
use super::{GenName, TEST_ITERATIONS};
use crate::Offset;
use crate::protocol::{decode, decode_fast, decode_full};
use bolero::{TypeGenerator, check};

/// Every field name either decoder reads, Maelstrom's `id`, and one neither reads.
const FIELD_NAMES: &[&str] = &[
    "src",
    "dest",
    "body",
    "id",
    "type",
    "msg_id",
    "key",
    "msg",
    "offsets",
    "in_reply_to",
    "offset",
    "msgs",
    "keys",
    "node_id",
    "node_ids",
    "code",
    "text",
    "inc",
    "term",
    "facts",
    "entries",
    "candidate",
    "x",
];

/// Body types: the three of the fast path first, then others the full decoder knows
/// (the peer messages among them) or does not.
const KINDS: &[&str] = &[
    "send",
    "poll",
    "commit_offsets",
    "init",
    "send_ok",
    "poll_ok",
    "list_committed_offsets",
    "error",
    "sync",
    "vote",
    "vote_reply",
    "read",
    "Send",
];

/// JSON texts at the edges of what a `msg_id`, an offset or a payload may be.
const VALUE_TEXTS: &[&str] = &[
    "0",
    "7",
    "-1",
    "-0",
    "1.0",
    "1e2",
    "0.5",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e400",
    "null",
    "true",
    "\"7\"",
    "[]",
    "{}",
    "[1,{\"a\":[2,\"\\u0000\"]}]",
    "{\"a\":1,\"a\":2}",
    "\"\\ud800\"",
];

/// A JSON string, now and then with its first character escaped as `\uXXXX` (which
/// changes nothing for a reader, but a borrowed `&str` cannot hold it).
#[derive(Clone, Debug, TypeGenerator)]
struct GenStr {
    name: GenName,
    /// Escaped when 0: rarely, so that most lines stay on the fast path.
    #[generator(0..8u8)]
    escape: u8,
}

impl GenStr {
    fn render(&self) -> String {
        quote(&self.name.render(), self.escape == 0)
    }
}

/// `text` as a JSON string; with `escaped`, its first character as a `\u` escape when it
/// is in the basic plane.
fn quote(text: &str, escaped: bool) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if escaped && (first as u32) < 0x1_0000 => {
            let rest = serde_json::to_string(chars.as_str()).expect("a string always renders");
            format!("\"\\u{:04x}{}", first as u32, &rest[1..])
        }
        _ => serde_json::to_string(text).expect("a string always renders"),
    }
}

/// A field name.
#[derive(Clone, Debug, TypeGenerator)]
struct GenField {
    #[generator(0..FIELD_NAMES.len())]
    index: usize,
    /// Escaped when 0, as in [`GenStr`].
    #[generator(0..8u8)]
    escape: u8,
}

impl GenField {
    fn render(&self) -> String {
        quote(FIELD_NAMES[self.index], self.escape == 0)
    }
}

/// Any field's value: a string, a body type, a small or any integer, or an edge case.
#[derive(Clone, Debug, TypeGenerator)]
enum GenLeaf {
    Str(GenStr),
    Kind {
        #[generator(0..KINDS.len())]
        index: usize,
        escaped: bool,
    },
    Small(#[generator(0..8u8)] u8),
    U64(u64),
    Text(#[generator(0..VALUE_TEXTS.len())] usize),
}

impl GenLeaf {
    fn render(&self) -> String {
        match self {
            GenLeaf::Str(s) => s.render(),
            GenLeaf::Kind { index, escaped } => quote(KINDS[*index], *escaped),
            GenLeaf::Small(n) => n.to_string(),
            GenLeaf::U64(n) => n.to_string(),
            GenLeaf::Text(i) => VALUE_TEXTS[*i].to_string(),
        }
    }
}

/// A `msg_id` or an offset: mostly a valid one, sometimes any value.
#[derive(Clone, Debug, TypeGenerator)]
enum GenNumber {
    Small(#[generator(0..8u8)] u8),
    Offset(#[generator(0..=Offset::MAX.0)] u64),
    Any(GenLeaf),
}

impl GenNumber {
    fn render(&self) -> String {
        match self {
            GenNumber::Small(n) => n.to_string(),
            GenNumber::Offset(n) => n.to_string(),
            GenNumber::Any(leaf) => leaf.render(),
        }
    }
}

/// An `offsets` object: a few entries, keys possibly repeated.
#[derive(Clone, Debug, TypeGenerator)]
struct GenOffsets {
    #[generator(bolero::produce::<Vec<(GenStr, GenNumber)>>().with().len(0..4usize))]
    entries: Vec<(GenStr, GenNumber)>,
}

impl GenOffsets {
    fn render(&self, space: &str) -> String {
        let entries: Vec<(String, String)> = self
            .entries
            .iter()
            .map(|(k, v)| (k.render(), v.render()))
            .collect();
        object(&entries, 0, space)
    }
}

/// The three requests of the fast path with the fields each needs.
#[derive(Clone, Debug, TypeGenerator)]
enum GenShape {
    Send { key: GenStr, msg: GenLeaf },
    Poll(GenOffsets),
    CommitOffsets(GenOffsets),
}

/// A change that takes a fast-path body off its usual shape.
#[derive(Clone, Debug, TypeGenerator)]
enum GenOddity {
    /// Adds a field, which may repeat one already there.
    Add(GenField, GenLeaf),
    /// Gives the `n`-th field (modulo the field count) another value.
    Retype(u8, GenLeaf),
    /// Drops the `n`-th field.
    Remove(u8),
    /// Escapes the `n`-th field's name.
    Escape(u8),
}

/// A fast-path request body, oddities applied, fields in an order chosen by `rotate`.
#[derive(Clone, Debug, TypeGenerator)]
struct GenFastBody {
    shape: GenShape,
    msg_id: GenNumber,
    #[generator(bolero::produce::<Vec<GenOddity>>().with().len(0..3usize))]
    oddities: Vec<GenOddity>,
    rotate: u8,
}

impl GenFastBody {
    fn render(&self, space: &str) -> String {
        let field = |name: &str, value: String| (quote(name, false), value);
        let mut fields = Vec::new();
        match &self.shape {
            GenShape::Send { key, msg } => {
                fields.push(field("type", quote("send", false)));
                fields.push(field("key", key.render()));
                fields.push(field("msg", msg.render()));
            }
            GenShape::Poll(offsets) => {
                fields.push(field("type", quote("poll", false)));
                fields.push(field("offsets", offsets.render(space)));
            }
            GenShape::CommitOffsets(offsets) => {
                fields.push(field("type", quote("commit_offsets", false)));
                fields.push(field("offsets", offsets.render(space)));
            }
        }
        fields.push(field("msg_id", self.msg_id.render()));
        for oddity in &self.oddities {
            let nth = |n: &u8, len: usize| usize::from(*n) % len.max(1);
            match oddity {
                GenOddity::Add(name, value) => fields.push((name.render(), value.render())),
                GenOddity::Retype(n, value) if !fields.is_empty() => {
                    let i = nth(n, fields.len());
                    fields[i].1 = value.render();
                }
                GenOddity::Remove(n) if !fields.is_empty() => {
                    fields.remove(nth(n, fields.len()));
                }
                GenOddity::Escape(n) if !fields.is_empty() => {
                    let i = nth(n, fields.len());
                    let name: String = serde_json::from_str(&fields[i].0)
                        .expect("field names are rendered JSON strings");
                    fields[i].0 = quote(&name, true);
                }
                _ => {}
            }
        }
        object(&fields, self.rotate, space)
    }
}

/// An envelope around a [`GenFastBody`], with Maelstrom's `id` and other extras.
#[derive(Clone, Debug, TypeGenerator)]
struct GenFastLine {
    src: GenStr,
    dest: GenStr,
    body: GenFastBody,
    #[generator(bolero::produce::<Vec<(GenField, GenLeaf)>>().with().len(0..2usize))]
    extras: Vec<(GenField, GenLeaf)>,
    rotate: u8,
    /// Whether tokens are separated by whitespace.
    spaced: bool,
}

impl GenFastLine {
    fn render(&self) -> Vec<u8> {
        let space = if self.spaced { " \t" } else { "" };
        let mut fields = vec![
            ("\"src\"".to_string(), self.src.render()),
            ("\"dest\"".to_string(), self.dest.render()),
            ("\"body\"".to_string(), self.body.render(space)),
        ];
        fields.extend(self.extras.iter().map(|(f, v)| (f.render(), v.render())));
        format!("{space}{}{space}", object(&fields, self.rotate, space)).into_bytes()
    }
}
/// `{"name": value, …}` with the entries rotated left by `rotate`.
fn object(entries: &[(String, String)], rotate: u8, space: &str) -> String {
    let mut entries = entries.to_vec();
    if !entries.is_empty() {
        let by = usize::from(rotate) % entries.len();
        entries.rotate_left(by);
    }
    let inner: Vec<String> = entries
        .iter()
        .map(|(name, value)| format!("{space}{name}{space}:{space}{value}{space}"))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// One line for the decoders.
#[derive(Clone, Debug, TypeGenerator)]
enum GenLine {
    Bytes(Vec<u8>),
    Envelope(GenEnvelope),
    Fast(GenFastLine),
}

impl GenLine {
    fn render(&self) -> Vec<u8> {
        match self {
            GenLine::Bytes(bytes) => bytes.clone(),
            GenLine::Envelope(envelope) => envelope.render(),
            GenLine::Fast(line) => line.render(),
        }
    }
}

/// The contract of the fast path, and that `decode` is the full decoder's function.
fn check_agreement(line: &[u8]) {
    let full = decode_full(line);
    if let Ok(text) = std::str::from_utf8(line)
        && let Some(fast) = decode_fast(text)
    {
        assert_eq!(
            full.as_ref(),
            Ok(&fast),
            "the fast path decoded {text:?} differently from the full decoder"
        );
    }
    assert_eq!(
        decode(line),
        full,
        "decode and the full decoder disagree on {:?}",
        String::from_utf8_lossy(line)
    );
}

#[test]
fn fast_path_agrees() {
    check!()
        .with_iterations(TEST_ITERATIONS)
        // A few lines per case, for the reason `wire_envelopes` gives.
        .with_generator(bolero::produce::<Vec<GenLine>>().with().len(1..8usize))
        .for_each(|lines| {
            for line in lines {
                check_agreement(&line.render());
            }
        });
}

/// The generator of fast-path lines must often produce lines the fast path takes, or
/// the target would only ever compare the full decoder with itself. (Most of its lines
/// carry an oddity that sends them to the full decoder, which is half of what is tested.)
/// The lines come from fixed bytes ([`super::fixed_cases`]), so the proportion is the same
/// on every run.
#[test]
fn fast_lines_often_take_the_fast_path() {
    let (mut total, mut fast) = (0, 0);
    for line in super::fixed_cases::<GenFastLine>(0x5eed, 64, 1_000).flatten() {
        let text = String::from_utf8(line.render()).expect("rendered lines are UTF-8");
        total += 1;
        if decode_fast(&text).is_some() {
            fast += 1;
        }
    }
    assert!(
        total >= 900 && fast * 10 >= total,
        "only {fast} of {total} generated lines took the fast path"
    );
}
