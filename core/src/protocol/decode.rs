//! Decoding one line of Maelstrom JSON into a [`Message`].
//!
//! One pass over the line with `serde_json`, borrowing strings and keeping payloads as raw
//! text. Every field the node reads is taken leniently (as a [`Scalar`] or a raw value) and
//! checked by hand afterwards, so a wrong type becomes a precise [`Malformed::reason`]
//! that still knows the sender and `msg_id` to answer, instead of an opaque parse failure.
//! serde's internally tagged enums would buffer the whole body and cannot carry a borrowed
//! `RawValue`, so the body is read as one struct of optional fields and dispatched on its
//! `type` afterwards.

use super::{Body, ErrorCode, Message, MsgRun, Payload};
use crate::ids::{Key, MsgId, NodeId, Offset};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A line that is not a message the node can act on, with whatever could be learned
/// about where a reply would go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// The sender, when the line names one as a string.
    pub src: Option<NodeId>,
    /// The receiver, when the line names one as a string.
    pub dest: Option<NodeId>,
    /// The request's `msg_id`, when it has a usable one.
    pub msg_id: Option<MsgId>,
    /// The body's `type`, when it has one.
    pub kind: Option<String>,
    /// What was wrong, for the error reply's `text` and for the log.
    pub reason: String,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(src) = &self.src {
            write!(f, " (from {src}")?;
            if let Some(msg_id) = self.msg_id {
                write!(f, ", msg_id {msg_id}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Decodes one line (without its newline; surrounding whitespace is allowed).
pub fn decode(line: &[u8]) -> Result<Message, Malformed> {
    // Ordinary requests take the fast path, which only ever agrees with the full decoder
    // below (see `fast`). Parsing from a `str` checks UTF-8 once for the whole line, where
    // parsing bytes would check every string separately.
    if let Ok(text) = std::str::from_utf8(line)
        && let Some(message) = super::fast::decode(text)
    {
        return Ok(message);
    }
    decode_full(line)
}

/// The full decoder: every line, every field read leniently and checked by hand. Only
/// lines off the fast path come here, so it favours precise errors over speed.
pub(crate) fn decode_full(line: &[u8]) -> Result<Message, Malformed> {
    let wire: WireEnvelope<'_> = match serde_json::from_slice(line) {
        Ok(wire) => wire,
        Err(error) => return Err(salvage(line, error)),
    };
    let src = wire.src.map(|s| s.into_str("src")).transpose();
    let dest = wire.dest.map(|s| s.into_str("dest")).transpose();
    let mut bad = Malformed {
        src: src
            .as_ref()
            .ok()
            .and_then(|s| s.as_deref().map(NodeId::new)),
        dest: dest
            .as_ref()
            .ok()
            .and_then(|s| s.as_deref().map(NodeId::new)),
        msg_id: None,
        kind: None,
        reason: String::new(),
    };
    let body = match wire.body {
        Some(body) => body,
        None => return Err(bad.because("the message has no `body`".into())),
    };
    if let Some(Ok(id)) = body.msg_id.as_ref().map(|v| v.to_u64("msg_id")) {
        bad.msg_id = Some(MsgId(id));
    }
    if let Some(Scalar::Str(kind)) = &body.kind {
        bad.kind = Some(kind.to_string());
    }
    let (src, dest) = match (src, dest) {
        (Ok(Some(src)), Ok(Some(dest))) => (src, dest),
        (Ok(None), _) => return Err(bad.because("the message has no `src`".into())),
        (_, Ok(None)) => return Err(bad.because("the message has no `dest`".into())),
        (Err(reason), _) | (_, Err(reason)) => return Err(bad.because(reason)),
    };
    match decode_body(body, line) {
        Ok(body) => Ok(Message {
            src: NodeId::new(&src),
            dest: NodeId::new(&dest),
            body,
        }),
        Err(reason) => Err(bad.because(reason)),
    }
}

impl Malformed {
    fn because(mut self, reason: String) -> Malformed {
        self.reason = reason;
        self
    }
}

/// Learns what it can of a line that did not parse as an envelope, so that a request with
/// a readable `src` and `msg_id` still gets an error reply.
fn salvage(line: &[u8], error: serde_json::Error) -> Malformed {
    let reason = if error.is_eof() && line.iter().all(u8::is_ascii_whitespace) {
        "empty line".to_string()
    } else {
        format!("invalid message: {error}")
    };
    // Read the address fields as raw text: a raw value only has to be well-formed JSON,
    // so a line that failed on a number out of range elsewhere (`"key": 1e400`) or on a
    // repeated field still yields its sender and msg_id, and gets its error 12. Where a
    // field repeats, the last one counts, as in most JSON readers.
    fn last<'a>(entries: &Entries<'a, &'a RawValue>, name: &str) -> Option<&'a RawValue> {
        entries
            .0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }
    fn text(raw: Option<&RawValue>) -> Option<String> {
        raw.and_then(|r| serde_json::from_str::<String>(r.get()).ok())
    }
    let top: Option<Entries<'_, &RawValue>> = serde_json::from_slice(line).ok();
    let body: Option<Entries<'_, &RawValue>> = top
        .as_ref()
        .and_then(|t| last(t, "body"))
        .and_then(|b| serde_json::from_str(b.get()).ok());
    let top_field = |name| top.as_ref().and_then(|t| last(t, name));
    let body_field = |name| body.as_ref().and_then(|b| last(b, name));
    Malformed {
        src: text(top_field("src")).map(|s| NodeId::new(&s)),
        dest: text(top_field("dest")).map(|s| NodeId::new(&s)),
        msg_id: body_field("msg_id")
            .and_then(|m| serde_json::from_str::<u64>(m.get()).ok())
            .map(MsgId),
        kind: text(body_field("type")),
        reason,
    }
}

fn decode_body(body: WireBody<'_>, line: &[u8]) -> Result<Body, String> {
    let kind = match body.kind {
        Some(Scalar::Str(kind)) => kind,
        Some(other) => return Err(format!("`type` must be a string, got {}", other.describe())),
        None => return Err("the body has no `type`".into()),
    };
    let msg_id = body
        .msg_id
        .as_ref()
        .map(|v| v.to_u64("msg_id").map(MsgId))
        .transpose()?;
    let in_reply_to = body
        .in_reply_to
        .as_ref()
        .map(|v| v.to_u64("in_reply_to").map(MsgId))
        .transpose()?;
    let need_msg_id = || msg_id.ok_or_else(|| format!("a `{kind}` request needs a `msg_id`"));
    let need_reply_to =
        || in_reply_to.ok_or_else(|| format!("a `{kind}` reply needs an `in_reply_to`"));
    fn need<'a>(kind: &str, field: &str, value: Option<&'a RawValue>) -> Result<&'a str, String> {
        value
            .map(RawValue::get)
            .ok_or_else(|| format!("a `{kind}` message needs `{field}`"))
    }
    Ok(match &*kind {
        "init" => Body::Init {
            msg_id: need_msg_id()?,
            node_id: NodeId::new(&required(body.node_id, "node_id", &kind)?.into_str("node_id")?),
            node_ids: parse_list(need(&kind, "node_ids", body.node_ids)?, "node_ids")?
                .iter()
                .map(|s| NodeId::new(s))
                .collect(),
        },
        "init_ok" => Body::InitOk {
            in_reply_to: need_reply_to()?,
        },
        "send" => Body::Send {
            msg_id: need_msg_id()?,
            key: Key::new(&required(body.key, "key", &kind)?.into_str("key")?),
            msg: Payload::from_valid_json(need(&kind, "msg", body.msg)?),
        },
        "send_ok" => Body::SendOk {
            in_reply_to: need_reply_to()?,
            offset: to_offset(&required(body.offset, "offset", &kind)?, "offset")?,
        },
        "poll" => Body::Poll {
            msg_id: need_msg_id()?,
            offsets: parse_offsets(need(&kind, "offsets", body.offsets)?)?,
        },
        "poll_ok" => Body::PollOk {
            in_reply_to: need_reply_to()?,
            msgs: parse_msgs(need(&kind, "msgs", body.msgs)?)?,
        },
        "commit_offsets" => Body::CommitOffsets {
            msg_id: need_msg_id()?,
            offsets: parse_offsets(need(&kind, "offsets", body.offsets)?)?,
        },
        "commit_offsets_ok" => Body::CommitOffsetsOk {
            in_reply_to: need_reply_to()?,
        },
        "list_committed_offsets" => Body::ListCommittedOffsets {
            msg_id: need_msg_id()?,
            keys: parse_list(need(&kind, "keys", body.keys)?, "keys")?
                .iter()
                .map(|s| Key::new(s))
                .collect(),
        },
        "list_committed_offsets_ok" => Body::ListCommittedOffsetsOk {
            in_reply_to: need_reply_to()?,
            offsets: parse_offsets(need(&kind, "offsets", body.offsets)?)?,
        },
        "error" => Body::Error {
            in_reply_to: need_reply_to()?,
            code: ErrorCode(required(body.code, "code", &kind)?.to_u64("code")?),
            text: match body.text {
                Some(Scalar::Str(text)) => text.into_owned(),
                Some(other) => {
                    return Err(format!("`text` must be a string, got {}", other.describe()));
                }
                None => String::new(),
            },
        },
        "sync" | "vote" | "vote_reply" => {
            let raw = raw_body(line)?;
            super::peer::decode(&kind, &raw).expect("a peer message type")?
        }
        _ => Body::Other {
            kind: kind.to_string(),
            msg_id,
            in_reply_to,
            raw: raw_body(line)?,
        },
    })
}

fn required<'a>(value: Option<Scalar<'a>>, field: &str, kind: &str) -> Result<Scalar<'a>, String> {
    value.ok_or_else(|| format!("a `{kind}` message needs `{field}`"))
}

/// Re-reads a line for its body's raw text; only bodies of unknown types need it.
fn raw_body(line: &[u8]) -> Result<Box<str>, String> {
    #[derive(Deserialize)]
    struct RawBody<'a> {
        #[serde(borrow)]
        body: &'a RawValue,
    }
    serde_json::from_slice::<RawBody<'_>>(line)
        .map(|b| b.body.get().into())
        .map_err(|e| format!("invalid body: {e}"))
}

fn to_offset(value: &Scalar<'_>, what: &str) -> Result<Offset, String> {
    match value {
        Scalar::U64(n) if *n <= Offset::MAX.0 => Ok(Offset(*n)),
        other => Err(format!(
            "{what} must be an integer from 0 to {}, got {}",
            Offset::MAX.0,
            other.describe()
        )),
    }
}

/// `{"key": offset, …}`, every offset checked.
pub(super) fn parse_offsets(raw: &str) -> Result<Vec<(Key, Offset)>, String> {
    let entries: Entries<'_, Scalar<'_>> =
        serde_json::from_str(raw).map_err(|e| format!("`offsets` is invalid: {e}"))?;
    entries
        .0
        .into_iter()
        .map(|(key, value)| {
            let offset = to_offset(&value, &format!("the offset of key {key:?}"))?;
            Ok((Key::new(&key), offset))
        })
        .collect()
}

/// `["a", "b", …]`, every element a string.
fn parse_list<'a>(raw: &'a str, field: &str) -> Result<Vec<Cow<'a, str>>, String> {
    let items: Vec<Scalar<'a>> =
        serde_json::from_str(raw).map_err(|e| format!("`{field}` must be an array: {e}"))?;
    items.into_iter().map(|s| s.into_str(field)).collect()
}

/// `{"key": [[offset, msg], …], …}`.
fn parse_msgs(raw: &str) -> Result<Vec<MsgRun>, String> {
    let entries: Entries<'_, Vec<(Scalar<'_>, &RawValue)>> =
        serde_json::from_str(raw).map_err(|e| format!("`msgs` is invalid: {e}"))?;
    entries
        .0
        .into_iter()
        .map(|(key, pairs)| {
            let mut run = MsgRun::new(Key::new(&key));
            for (offset, msg) in pairs {
                let offset = to_offset(&offset, &format!("an offset of key {key:?}"))?;
                run.push_raw(offset, msg.get());
            }
            Ok(run)
        })
        .collect()
}

/// The top level of a line. `id` and any other extra field are ignored (spec: kafka.md
/// 1.2: Maelstrom adds `id`, and nodes tolerate unknown fields).
#[derive(Deserialize)]
#[serde(expecting = "a message object with src, dest and body")]
struct WireEnvelope<'a> {
    #[serde(borrow)]
    src: Option<Scalar<'a>>,
    #[serde(borrow)]
    dest: Option<Scalar<'a>>,
    #[serde(borrow)]
    body: Option<WireBody<'a>>,
}

/// Every body field any known type uses; which ones matter depends on `type`.
#[derive(Deserialize)]
#[serde(expecting = "a body object")]
struct WireBody<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Scalar<'a>>,
    #[serde(borrow)]
    msg_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    in_reply_to: Option<Scalar<'a>>,
    #[serde(borrow)]
    key: Option<Scalar<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    msg: Option<&'a RawValue>,
    #[serde(borrow)]
    offset: Option<Scalar<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    offsets: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    msgs: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    keys: Option<&'a RawValue>,
    #[serde(borrow)]
    node_id: Option<Scalar<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    node_ids: Option<&'a RawValue>,
    #[serde(borrow)]
    code: Option<Scalar<'a>>,
    #[serde(borrow)]
    text: Option<Scalar<'a>>,
}

/// A raw field that is present, `null` included: `"msg": null` is a message like any
/// other, which a plain `Option<&RawValue>` would read as absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Any JSON value, read without failing: strings are kept, numbers classified, and
/// arrays and objects skipped, so the caller can say exactly what was wrong.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Null,
    Array,
    Object,
}

impl<'a> Scalar<'a> {
    fn describe(&self) -> String {
        match self {
            Scalar::Str(s) => format!("the string {s:?}"),
            Scalar::U64(n) => n.to_string(),
            Scalar::I64(n) => n.to_string(),
            Scalar::F64(n) => format!("the non-integer number {n}"),
            Scalar::Bool(b) => format!("the boolean {b}"),
            Scalar::Null => "null".into(),
            Scalar::Array => "an array".into(),
            Scalar::Object => "an object".into(),
        }
    }

    fn to_u64(&self, field: &str) -> Result<u64, String> {
        match self {
            Scalar::U64(n) => Ok(*n),
            other => Err(format!(
                "`{field}` must be a non-negative integer, got {}",
                other.describe()
            )),
        }
    }

    fn into_str(self, field: &str) -> Result<Cow<'a, str>, String> {
        match self {
            Scalar::Str(s) => Ok(s),
            other => Err(format!(
                "`{field}` must be a string, got {}",
                other.describe()
            )),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

struct ScalarVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(if v >= 0 {
            Scalar::U64(v as u64)
        } else {
            Scalar::I64(v)
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// A JSON object's entries in wire order, duplicates kept (the node decides what a
/// repeated key means).
struct Entries<'a, V>(Vec<(Cow<'a, str>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<'de, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = Entries<'de, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                // Object keys come as strings; `Scalar` borrows them where `Cow`'s own
                // `Deserialize` would always copy.
                while let Some((key, value)) = map.next_entry::<Scalar<'de>, V>()? {
                    if let Scalar::Str(key) = key {
                        entries.push((key, value));
                    }
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(EntriesVisitor(std::marker::PhantomData))
    }
}
