//! The decoder's fast path: the requests a node gets nearly all the time (`send`, `poll`
//! and `commit_offsets`) in their ordinary shape, read in one strict pass.
//!
//! The full decoder ([`decode_full`](super::decode::decode_full)) reads every field
//! leniently so that any mistake can be named precisely; that costs a large intermediate
//! struct and a check per field.
//! This path instead reads straight into the few values these three requests carry, with
//! their final types (`&str` borrowed from the line, `u64`, raw JSON, offsets), and gives
//! up at the first thing it does not expect: an escaped string, a field it does not
//! handle, a duplicate, a wrong type, another body type.
//!
//! Contract: [`decode`] returns `Some(message)` only for a line on which the full decoder
//! returns `Ok(message)` with the same message; otherwise `None`, and the caller runs the
//! full decoder, which then says what it always said. It accepts a subset of the lines the
//! full decoder accepts and builds the message from the same fields the same way, so it
//! adds speed and no behaviour. `tests::fast_path_agrees_with_the_full_decoder` checks
//! this on lines that take either path.

use super::{Body, Message, Payload};
use crate::ids::{Key, MsgId, NodeId, Offset};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// Decodes `line` if it is an ordinary `send`, `poll` or `commit_offsets` request.
pub(crate) fn decode(line: &str) -> Option<Message> {
    let Envelope { src, dest, body } = serde_json::from_str(line).ok()?;
    let body = match (body.kind, body.key, body.msg, body.offsets) {
        // spec: kafka.md 2.2 — `send` carries exactly `key`, `msg` and `msg_id`.
        (Kind::Send, Some(key), Some(msg), None) => Body::Send {
            msg_id: body.msg_id?,
            key: Key::new(key),
            msg: Payload::from_valid_json(msg.get()),
        },
        (Kind::Poll, None, None, Some(offsets)) => Body::Poll {
            msg_id: body.msg_id?,
            offsets,
        },
        (Kind::CommitOffsets, None, None, Some(offsets)) => Body::CommitOffsets {
            msg_id: body.msg_id?,
            offsets,
        },
        _ => return None,
    };
    Some(Message {
        src: NodeId::new(src),
        dest: NodeId::new(dest),
        body,
    })
}

/// Why the fast path gave up. The reason is never shown: the full decoder's is.
fn give_up<E: de::Error>() -> E {
    E::custom("not on the fast path")
}

struct Envelope<'a> {
    src: &'a str,
    dest: &'a str,
    body: FastBody<'a>,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EnvelopeVisitor;
        impl<'de> Visitor<'de> for EnvelopeVisitor {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut src, mut dest, mut body) = (None, None, None);
                while let Some(field) = map.next_key::<Field>()? {
                    // A repeated field is refused by the full decoder: leave it to it.
                    match field {
                        Field::Src if src.is_none() => src = Some(map.next_value()?),
                        Field::Dest if dest.is_none() => dest = Some(map.next_value()?),
                        Field::Body if body.is_none() => body = Some(map.next_value()?),
                        // spec: kafka.md 1.2 — Maelstrom's `id` and other extra fields
                        // are ignored, as the full decoder ignores them.
                        Field::Unknown => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => return Err(give_up()),
                    }
                }
                match (src, dest, body) {
                    (Some(src), Some(dest), Some(body)) => Ok(Envelope { src, dest, body }),
                    _ => Err(give_up()),
                }
            }
        }
        d.deserialize_map(EnvelopeVisitor)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Send,
    Poll,
    CommitOffsets,
}

/// The fields of the three request bodies this path reads.
struct FastBody<'a> {
    kind: Kind,
    msg_id: Option<MsgId>,
    key: Option<&'a str>,
    msg: Option<&'a RawValue>,
    offsets: Option<Vec<(Key, Offset)>>,
}

impl<'de> Deserialize<'de> for FastBody<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = FastBody<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a body object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut kind = None;
                let mut msg_id = None;
                let mut key = None;
                let mut msg = None;
                let mut offsets = None;
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Type if kind.is_none() => {
                            kind = Some(match map.next_value::<&str>()? {
                                "send" => Kind::Send,
                                "poll" => Kind::Poll,
                                "commit_offsets" => Kind::CommitOffsets,
                                _ => return Err(give_up()),
                            });
                        }
                        Field::MsgId if msg_id.is_none() => {
                            msg_id = Some(MsgId(map.next_value()?));
                        }
                        Field::Key if key.is_none() => key = Some(map.next_value()?),
                        Field::Msg if msg.is_none() => msg = Some(map.next_value()?),
                        Field::Offsets if offsets.is_none() => {
                            offsets = Some(map.next_value::<FastOffsets>()?.0);
                        }
                        Field::Unknown => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        // A repeat, or a field the full decoder checks for every body
                        // type (`in_reply_to`) or reads for others: leave it to it.
                        _ => return Err(give_up()),
                    }
                }
                Ok(FastBody {
                    kind: kind.ok_or_else(give_up)?,
                    msg_id,
                    key,
                    msg,
                    offsets,
                })
            }
        }
        d.deserialize_map(BodyVisitor)
    }
}

/// `{"key": offset, …}` with every offset in `0..=Offset::MAX`, in wire order with
/// duplicates kept, as the full decoder keeps them.
struct FastOffsets(Vec<(Key, Offset)>);

impl<'de> Deserialize<'de> for FastOffsets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OffsetsVisitor;
        impl<'de> Visitor<'de> for OffsetsVisitor {
            type Value = FastOffsets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of offsets")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // serde_json gives no size hint; a client's poll names a handful of keys,
                // and growing the vector costs more than a little unused room.
                let mut offsets = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(key) = map.next_key::<&str>()? {
                    let offset: u64 = map.next_value()?;
                    if offset > Offset::MAX.0 {
                        return Err(give_up());
                    }
                    offsets.push((Key::new(key), Offset(offset)));
                }
                Ok(FastOffsets(offsets))
            }
        }
        d.deserialize_map(OffsetsVisitor)
    }
}

/// Every field name the fast path tells apart: the envelope's and the bodies'. Names the
/// full decoder reads for other body types are `Other`, so that the fast path leaves
/// those lines alone; names neither decoder reads are `Unknown`, ignored by both.
enum Field {
    Src,
    Dest,
    Body,
    Type,
    MsgId,
    Key,
    Msg,
    Offsets,
    Other,
    Unknown,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "src" => Field::Src,
                    "dest" => Field::Dest,
                    "body" => Field::Body,
                    "type" => Field::Type,
                    "msg_id" => Field::MsgId,
                    "key" => Field::Key,
                    "msg" => Field::Msg,
                    "offsets" => Field::Offsets,
                    "in_reply_to" | "offset" | "msgs" | "keys" | "node_id" | "node_ids"
                    | "code" | "text" => Field::Other,
                    _ => Field::Unknown,
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::decode;
    use crate::protocol::decode::decode_full;

    /// Request bodies built from usual and unusual values of every field the fast path
    /// reads, plus fields it must leave to the full decoder. Every line the fast path
    /// accepts must decode to the same message through the full decoder, and the usual
    /// shapes must be accepted, or the fast path would be dead code.
    #[test]
    fn fast_path_agrees_with_the_full_decoder() {
        let kinds = [
            r#""send""#,
            r#""poll""#,
            r#""commit_offsets""#,
            r#""init""#,
            r#""po\u006cl""#,
            "5",
        ];
        let msg_ids = [
            "7",
            "0",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "-0",
            "1.0",
            r#""7""#,
            "null",
        ];
        let keys = [
            r#""k""#,
            r#""42""#,
            r#""a longer key than twenty-two bytes""#,
            r#""k\n""#,
            "5",
            "null",
        ];
        let msgs = ["1", "null", r#"{"a":[1,2.5,"x"]}"#, r#""s""#];
        let offsets = [
            "{}",
            r#"{"a":1,"b":0}"#,
            r#"{"a":1,"a":0}"#,
            r#"{"a":9223372036854775807}"#,
            r#"{"a":9223372036854775808}"#,
            r#"{"a":-1}"#,
            r#"{"a":1.5}"#,
            r#"{"\u0061":1}"#,
            "[]",
            "null",
        ];
        let extras = [
            "",
            r#","in_reply_to":3"#,
            r#","x":[1,{"y":2}]"#,
            r#","src":"c9""#,
        ];
        let mut lines = Vec::new();
        for kind in kinds {
            for msg_id in msg_ids {
                for extra in extras {
                    let head = format!(r#""type":{kind},"msg_id":{msg_id}{extra}"#);
                    for key in keys {
                        for msg in msgs {
                            lines.push(format!(r#"{{{head},"key":{key},"msg":{msg}}}"#));
                        }
                        lines.push(format!(r#"{{{head},"key":{key}}}"#));
                    }
                    for offsets in offsets {
                        lines.push(format!(r#"{{{head},"offsets":{offsets}}}"#));
                        lines.push(format!(r#"{{"offsets":{offsets},{head},"key":"k"}}"#));
                    }
                    lines.push(format!(r#"{{{head},"key":"k","msg":1,"msg":2}}"#));
                    lines.push(format!(r#"{{{head},"msg":1}}"#));
                }
            }
        }
        let bodies = std::mem::take(&mut lines);
        let envelopes = [
            r#"{"id":1,"src":"c1","dest":"n0","body":BODY}"#,
            r#"{"body":BODY,"dest":"n0","src":"c1"}"#,
            r#" {"src":"c1","dest":"n0","body":BODY} "#,
            r#"{"src":"c1","dest":"n0","body":BODY,"id":{"x":[1]}}"#,
            r#"{"src":"c\u0031","dest":"n0","body":BODY}"#,
            r#"{"src":"c1","dest":"n0","dest":"n0","body":BODY}"#,
            r#"{"src":"c1","dest":"n0","body":BODY} x"#,
            r#"["c1","n0",BODY]"#,
            r#"{"src":1,"dest":"n0","body":BODY}"#,
        ];
        for (i, body) in bodies.iter().enumerate() {
            // Every body in the first envelope; a sample of them in the others.
            for envelope in envelopes
                .iter()
                .take(if i % 7 == 0 { envelopes.len() } else { 1 })
            {
                lines.push(envelope.replace("BODY", body));
            }
        }
        let mut fast = 0;
        for line in &lines {
            if let Some(message) = decode(line) {
                assert_eq!(decode_full(line.as_bytes()), Ok(message), "{line}");
                fast += 1;
            }
        }
        for usual in [
            r#"{"id":3,"src":"c1","dest":"n0","body":{"type":"send","key":"9","msg":3,"msg_id":17}}"#,
            r#"{"id":4,"src":"c1","dest":"n0","body":{"type":"poll","offsets":{"3":5,"7":0},"msg_id":13}}"#,
            r#"{"id":5,"src":"c1","dest":"n0","body":{"type":"commit_offsets","offsets":{"3":8},"msg_id":14}}"#,
        ] {
            assert!(decode(usual).is_some(), "{usual} should take the fast path");
        }
        assert!(
            fast > 100 && fast < lines.len() / 2,
            "{fast} of {} lines took the fast path",
            lines.len()
        );
    }
}
