//! Maelstrom's stdio protocol as the real-time driver speaks it with any node process:
//! the closed envelope a node must write (spec: kafka.md 1.2), the line a node reads,
//! with Maelstrom's extra top-level `id`, and the closed schemas of the replies a kafka
//! client accepts (spec: kafka.md 1.7).
//!
//! A node's line is never re-encoded on its way to another node or a service: its body
//! travels as the raw text it was written as ([`Body::Other`]), whatever its type, so a
//! node can put anything in its own messages. Only a client decodes a body, with the
//! same decoder as Replicator's own node, and then checks its fields as Maelstrom does.
//!
//! Invariants:
//! - [`parse_line`] accepts exactly the lines Maelstrom's schema accepts: a JSON object
//!   with string `src` and `dest`, any `body`, an optional integer `id`, nothing else.
//! - [`read_reply`] accepts a kafka reply only if Maelstrom's client would: the decoder
//!   checks every field's type, and the schema refuses fields the reply may not carry.

use replicator_core::{Body, Message, MsgId, NodeId};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::error::Category;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The most characters of an offending line quoted in a report.
const QUOTE_CHARS_MAX: usize = 300;

/// A line on a node's stdout, as Maelstrom's schema reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireLine<'a> {
    src: String,
    dest: String,
    #[serde(borrow)]
    body: &'a RawValue,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

/// The fields of a body every message may use to be routed and matched.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: Option<Value>,
    msg_id: Option<Value>,
    in_reply_to: Option<Value>,
}

/// A field that is present, `null` included (`"id": null` breaks the schema, where a
/// plain `Option` would read it as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Reads one line node `node` wrote on its stdout (without its line ending). A line
/// that is not a message gives the report Maelstrom would log, in its words.
pub(crate) fn parse_line(node: &str, line: &[u8]) -> Result<Message, String> {
    // serde reads a struct from an array too; a message is an object only.
    if line.trim_ascii_start().first() != Some(&b'{')
        && serde_json::from_slice::<IgnoredAny>(line).is_ok()
    {
        return Err(malformed(
            node,
            &quote(line),
            "a message must be a JSON object",
        ));
    }
    let wire: WireLine<'_> = serde_json::from_slice(line).map_err(|error| {
        let text = quote(line);
        match error.classify() {
            Category::Syntax | Category::Eof | Category::Io => format!(
                "Node {node} printed a line to STDOUT which was not well-formed JSON: {text} \
                 ({error})"
            ),
            Category::Data => malformed(node, &text, &error.to_string()),
        }
    })?;
    if let Some(id) = wire.id
        && !is_integer(id.get())
    {
        return Err(malformed(
            node,
            &quote(line),
            &format!("`id` must be an integer, not {}", id.get()),
        ));
    }
    let raw = wire.body.get();
    // A body that is not an object still travels; it just has no type or ids.
    let head = serde_json::from_str::<Head>(raw).unwrap_or(Head {
        kind: None,
        msg_id: None,
        in_reply_to: None,
    });
    let id_of = |v: Option<Value>| v.and_then(|v| v.as_u64()).map(MsgId);
    Ok(Message {
        src: NodeId::new(&wire.src),
        dest: NodeId::new(&wire.dest),
        body: Body::Other {
            kind: match head.kind {
                Some(Value::String(kind)) => kind,
                _ => String::new(),
            },
            msg_id: id_of(head.msg_id),
            in_reply_to: id_of(head.in_reply_to),
            raw: raw.into(),
        },
    })
}

fn malformed(node: &str, line: &str, why: &str) -> String {
    format!(
        "Malformed network message. Node {node} tried to send the following message via \
         STDOUT: {line} This is malformed because: {why}"
    )
}

/// A JSON integer literal: what Maelstrom's `s/Int` takes (`1.0` and `1e3` are not).
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The line as text for a report: lossy UTF-8, on one line, cut short if long.
fn quote(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut out: String = text.chars().take(QUOTE_CHARS_MAX).collect();
    if text.chars().count() > QUOTE_CHARS_MAX {
        out.push('…');
    }
    out.replace(['\n', '\r'], " ")
}

/// Appends the line node processes read for `msg`: Maelstrom's envelope with the
/// network's message number as the extra top-level `id` (spec: kafka.md 1.2), ended by
/// a newline.
pub(crate) fn encode_for_node(id: u64, msg: &Message, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(id.to_string().as_bytes());
    out.push(b',');
    let start = out.len();
    msg.encode(out);
    // The encoder opens its own object; this one is already open.
    debug_assert_eq!(out[start], b'{');
    out.remove(start);
}

/// spec: kafka.md 1.7 — the fields each kafka reply carries besides `type`,
/// `in_reply_to` and an optional `msg_id`. Other bodies have no closed schema for the
/// client: an error is read before its schema is checked, so it may carry anything;
/// `init_ok` is matched by its type alone (spec: kafka.md 1.5); and any other type is
/// not a reply the client accepts anyway.
fn reply_fields(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "send_ok" => Some(&["offset"]),
        "poll_ok" => Some(&["msgs"]),
        "commit_offsets_ok" => Some(&[]),
        "list_committed_offsets_ok" => Some(&["offsets"]),
        _ => None,
    }
}

/// A node's message to a client, read as the client reads it: decoded (with the
/// decoder of Replicator's own node, which checks every field's type), then checked
/// against the reply's closed schema. `Err` says why it is a malformed reply.
pub(crate) fn read_reply(msg: Message) -> Result<Message, String> {
    let Body::Other { kind, raw, .. } = &msg.body else {
        return Ok(msg);
    };
    let mut line = Vec::with_capacity(raw.len() + 48);
    line.extend_from_slice(b"{\"src\":");
    line.extend_from_slice(json_str(msg.src.as_str()).as_bytes());
    line.extend_from_slice(b",\"dest\":");
    line.extend_from_slice(json_str(msg.dest.as_str()).as_bytes());
    line.extend_from_slice(b",\"body\":");
    line.extend_from_slice(raw.as_bytes());
    line.push(b'}');
    let decoded = replicator_core::protocol::decode(&line).map_err(|bad| bad.reason)?;
    if let Some(allowed) = reply_fields(kind) {
        let fields: BTreeMap<String, IgnoredAny> =
            serde_json::from_str(raw).map_err(|e| format!("the body is not an object: {e}"))?;
        let common = ["type", "in_reply_to", "msg_id"];
        if let Some(extra) = fields
            .keys()
            .find(|f| !common.contains(&f.as_str()) && !allowed.contains(&f.as_str()))
        {
            return Err(format!(
                "a `{kind}` reply may not carry the field `{extra}` (the schema is closed)"
            ));
        }
    }
    Ok(decoded)
}

fn json_str(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use replicator_core::Offset;

    fn parse(line: &str) -> Result<Message, String> {
        parse_line("n1", line.as_bytes())
    }

    #[test]
    fn a_message_keeps_its_raw_body_and_its_routing_fields() {
        let msg =
            parse(r#"{"src":"n1","dest":"n2","body":{"type":"gossip","msg_id":7,"x":[1.0]}}"#)
                .unwrap();
        assert_eq!((msg.src.as_str(), msg.dest.as_str()), ("n1", "n2"));
        match msg.body {
            Body::Other {
                kind,
                msg_id,
                in_reply_to,
                raw,
            } => {
                assert_eq!(kind, "gossip");
                assert_eq!((msg_id, in_reply_to), (Some(MsgId(7)), None));
                assert_eq!(&*raw, r#"{"type":"gossip","msg_id":7,"x":[1.0]}"#);
            }
            other => panic!("{other:?}"),
        }
        // An integer `id` is allowed (and ignored); so is a body that is not an object.
        assert!(parse(r#"{"id":-3,"src":"n1","dest":"c1","body":5}"#).is_ok());
    }

    #[test]
    fn lines_outside_the_closed_envelope_are_reported_in_maelstroms_words() {
        let not_json = parse("hello from n1").unwrap_err();
        assert!(
            not_json.starts_with(
                "Node n1 printed a line to STDOUT which was not well-formed JSON: hello from n1"
            ),
            "{not_json}"
        );
        for (line, why) in [
            (
                r#"{"src":"n1","dest":"c1","body":{},"extra":1}"#,
                "unknown field `extra`",
            ),
            (r#"{"src":"n1","body":{}}"#, "missing field `dest`"),
            (r#"{"src":1,"dest":"c1","body":{}}"#, "invalid type"),
            (
                r#"{"src":"n1","dest":"c1","body":{},"id":1.5}"#,
                "`id` must be an integer",
            ),
            (
                r#"{"src":"n1","dest":"c1","body":{},"id":null}"#,
                "`id` must be an integer",
            ),
            (r#"["n1","c1",{},1]"#, "a JSON object"),
            ("5", "a JSON object"),
        ] {
            let report = parse(line).unwrap_err();
            assert!(
                report.starts_with("Malformed network message. Node n1 tried to send"),
                "{line}: {report}"
            );
            assert!(report.contains(why), "{line}: {report}");
        }
        let long = format!("{}\n", "x".repeat(5000));
        let report = parse(&long).unwrap_err();
        assert!(report.len() < 1000 && !report.contains('\n'), "{report}");
    }

    #[test]
    fn a_node_reads_the_envelope_with_maelstroms_id_first() {
        let msg = parse(r#"{"src":"c4","dest":"n1","body":{"type":"x","msg_id":1}}"#).unwrap();
        let mut out = Vec::new();
        encode_for_node(42, &msg, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":42,\"src\":\"c4\",\"dest\":\"n1\",\"body\":{\"type\":\"x\",\"msg_id\":1}}\n"
        );
    }

    fn reply(body: &str) -> Result<Body, String> {
        let line = format!(r#"{{"src":"n1","dest":"c3","body":{body}}}"#);
        read_reply(parse(&line).unwrap()).map(|m| m.body)
    }

    #[test]
    fn replies_decode_into_what_the_client_expects() {
        assert_eq!(
            reply(r#"{"type":"send_ok","offset":4,"in_reply_to":2,"msg_id":9}"#),
            Ok(Body::SendOk {
                in_reply_to: MsgId(2),
                offset: Offset(4)
            })
        );
        // Errors are read before any schema: extra fields are fine.
        assert!(matches!(
            reply(r#"{"type":"error","code":11,"in_reply_to":2,"extra":[1]}"#),
            Ok(Body::Error { .. })
        ));
        assert!(matches!(
            reply(r#"{"type":"init_ok","in_reply_to":1,"note":"hi"}"#),
            Ok(Body::InitOk { .. })
        ));
    }

    #[test]
    fn malformed_replies_say_what_is_wrong() {
        for (body, why) in [
            (
                r#"{"type":"send_ok","offset":4,"in_reply_to":2,"key":"a"}"#,
                "`key`",
            ),
            (
                r#"{"type":"send_ok","offset":"4","in_reply_to":2}"#,
                "offset",
            ),
            (
                r#"{"type":"send_ok","offset":4.0,"in_reply_to":2}"#,
                "offset",
            ),
            (
                r#"{"type":"poll_ok","msgs":{"a":[[0,1,2]]},"in_reply_to":2}"#,
                "msgs",
            ),
            (
                r#"{"type":"commit_offsets_ok","in_reply_to":2,"offsets":{}}"#,
                "`offsets`",
            ),
            (
                r#"{"type":"list_committed_offsets_ok","in_reply_to":2}"#,
                "offsets",
            ),
            (r#"{"type":"error","in_reply_to":2}"#, "code"),
        ] {
            let problem = reply(body).unwrap_err();
            assert!(problem.contains(why), "{body}: {problem}");
        }
    }
}
