//! The encoder: closed envelopes and schemas, valid JSON for every string, and a
//! round trip through the decoder for every body.

use super::object_keys;
use crate::protocol::decode;
use crate::{Body, ErrorCode, Key, Message, MsgId, MsgRun, NodeId, Offset, Payload};
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Strings that an encoder gets wrong first.
fn tricky_strings() -> Vec<String> {
    let mut strings: Vec<String> = [
        "",
        "plain",
        "quote \" inside",
        "back\\slash",
        "\\\"",
        "\\u0041 is not an escape here",
        "slash / and </script>",
        "tab\tnewline\ncarriage\rbell\u{7}nul\0",
        "\u{7f} delete and \u{80} and \u{9f}",
        "é 日本語 🦀 \u{2028}\u{2029} \u{fffd} \u{feff}",
        "}\"]{,:",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // Every control character on its own.
    strings.extend((0u8..0x20).map(|b| char::from(b).to_string()));
    strings
}

/// Encodes `message`, checks the line's framing, its JSON validity and its envelope, and
/// returns it parsed, or `Null` when it holds a number that `Value` cannot (`1e400`:
/// valid JSON that only `RawValue` and `IgnoredAny` read without a range check).
fn encoded(message: &Message) -> Value {
    let mut out = Vec::new();
    message.encode(&mut out);
    assert_eq!(out.last(), Some(&b'\n'), "a line ends with a newline");
    let line = &out[..out.len() - 1];
    assert!(!line.contains(&b'\n'), "one message is one line");
    let text = std::str::from_utf8(line).expect("the encoder writes UTF-8");
    assert_eq!(text, message.to_json());
    if let Err(e) = serde_json::from_str::<IgnoredAny>(text) {
        panic!("{text} is not valid JSON: {e}");
    }
    // spec: kafka.md 1.2 — Maelstrom's envelope schema is closed.
    let top: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(text).expect("the envelope is an object");
    assert_eq!(
        top.keys().map(String::as_str).collect::<Vec<_>>(),
        ["body", "dest", "src"],
        "{text}"
    );
    let name = |field: &str| serde_json::from_str::<String>(top[field].get()).expect("a string");
    assert_eq!(name("src"), message.src.as_str(), "{text}");
    assert_eq!(name("dest"), message.dest.as_str(), "{text}");
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A message from `n0` to `c1` with this body.
fn from_node(body: Body) -> Message {
    Message {
        src: NodeId::new("n0"),
        dest: NodeId::new("c1"),
        body,
    }
}

/// A run of `key` with these offsets and payload texts.
fn run(key: &str, items: &[(u64, &str)]) -> MsgRun {
    let mut run = MsgRun::new(Key::new(key));
    for (offset, text) in items {
        run.push(Offset(*offset), &Payload::parse(text).expect("valid JSON"));
    }
    run
}

/// One body of every kind, with awkward values where a kind has any.
fn every_body() -> Vec<Body> {
    let key = Key::new("k\"\\\n🦀");
    vec![
        Body::Init {
            msg_id: MsgId(u64::MAX),
            node_id: NodeId::new("n\"0"),
            node_ids: vec![NodeId::new("n\"0"), NodeId::new("n1")],
        },
        Body::Init {
            msg_id: MsgId(0),
            node_id: NodeId::new("n0"),
            node_ids: vec![],
        },
        Body::InitOk {
            in_reply_to: MsgId(1),
        },
        Body::Send {
            msg_id: MsgId(2),
            key: key.clone(),
            msg: Payload::parse(r#"{ "a" : [1e400, "\u00e9"] }"#).expect("valid JSON"),
        },
        Body::SendOk {
            in_reply_to: MsgId(3),
            offset: Offset::MAX,
        },
        Body::Poll {
            msg_id: MsgId(4),
            offsets: vec![(key.clone(), Offset(0)), (Key::new("b"), Offset::MAX)],
        },
        Body::Poll {
            msg_id: MsgId(4),
            offsets: vec![],
        },
        Body::PollOk {
            in_reply_to: MsgId(5),
            msgs: vec![
                run("a", &[(0, "1"), (1, "null"), (2, "\"x\\\"y\"")]),
                run(key.as_str(), &[(Offset::MAX.0, "[ ]")]),
            ],
        },
        Body::PollOk {
            in_reply_to: MsgId(5),
            msgs: vec![],
        },
        Body::CommitOffsets {
            msg_id: MsgId(6),
            offsets: vec![(key.clone(), Offset(9))],
        },
        Body::CommitOffsetsOk {
            in_reply_to: MsgId(7),
        },
        Body::ListCommittedOffsets {
            msg_id: MsgId(8),
            keys: vec![key.clone(), Key::new("")],
        },
        Body::ListCommittedOffsetsOk {
            in_reply_to: MsgId(9),
            offsets: vec![(key, Offset(3))],
        },
        Body::ListCommittedOffsetsOk {
            in_reply_to: MsgId(9),
            offsets: vec![],
        },
        Body::Error {
            in_reply_to: MsgId(10),
            code: ErrorCode::MALFORMED_REQUEST,
            text: "`key` must be a string, got \"5\"\n".into(),
        },
        Body::Error {
            in_reply_to: MsgId(10),
            code: ErrorCode(1000),
            text: String::new(),
        },
        Body::Other {
            kind: "read".into(),
            msg_id: Some(MsgId(11)),
            in_reply_to: None,
            raw: r#"{"type":"read","msg_id":11,"key":["a",1]}"#.into(),
        },
        Body::Other {
            kind: "gossip".into(),
            msg_id: None,
            in_reply_to: Some(MsgId(12)),
            raw: r#"{"type":"gossip","in_reply_to":12}"#.into(),
        },
    ]
}

#[test]
fn every_body_round_trips_through_the_decoder() {
    let bodies = every_body();
    // Make sure the table keeps up with the enum: one of each kind at least.
    let kinds: std::collections::BTreeSet<&str> = bodies
        .iter()
        .map(|b| match b {
            Body::Other { .. } => "other",
            b => b.kind(),
        })
        .collect();
    assert_eq!(kinds.len(), 12, "{kinds:?}");
    for body in bodies {
        let message = from_node(body);
        encoded(&message);
        let decoded = decode(message.to_json().as_bytes())
            .unwrap_or_else(|bad| panic!("{} does not decode: {bad}", message.to_json()));
        assert_eq!(decoded, message);
    }
}

#[test]
fn replies_have_exactly_the_fields_of_their_schema() {
    // spec: kafka.md 1.7 — every kafka reply is checked against a closed schema.
    let cases: [(Body, &[&str]); 6] = [
        (
            Body::InitOk {
                in_reply_to: MsgId(1),
            },
            &["in_reply_to", "type"],
        ),
        (
            Body::SendOk {
                in_reply_to: MsgId(1),
                offset: Offset(41),
            },
            &["in_reply_to", "offset", "type"],
        ),
        (
            Body::PollOk {
                in_reply_to: MsgId(1),
                msgs: vec![run("3", &[(5, "9"), (6, "10")])],
            },
            &["in_reply_to", "msgs", "type"],
        ),
        (
            Body::CommitOffsetsOk {
                in_reply_to: MsgId(1),
            },
            &["in_reply_to", "type"],
        ),
        (
            Body::ListCommittedOffsetsOk {
                in_reply_to: MsgId(1),
                offsets: vec![(Key::new("3"), Offset(8))],
            },
            &["in_reply_to", "offsets", "type"],
        ),
        (
            Body::Error {
                in_reply_to: MsgId(1),
                code: ErrorCode::NOT_SUPPORTED,
                text: "no".into(),
            },
            &["code", "in_reply_to", "text", "type"],
        ),
    ];
    for (body, fields) in cases {
        let kind = body.kind().to_string();
        let value = encoded(&from_node(body));
        let body = &value["body"];
        assert_eq!(object_keys(body), fields, "{value}");
        assert_eq!(body["type"], kind.as_str());
        // Integers, never `1.0` or `"1"`.
        assert!(body["in_reply_to"].is_u64(), "{value}");
        for field in ["offset", "code"] {
            if let Some(n) = body.get(field) {
                assert!(n.is_u64(), "{value}");
            }
        }
    }
}

#[test]
fn poll_ok_pairs_are_two_element_arrays_with_the_payload_untouched() {
    let payloads = ["1", "5.0", "1e400", "{ \"a\" : 1 }", "\"\\u00e9\""];
    let items: Vec<(u64, &str)> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u64, *p))
        .collect();
    let message = from_node(Body::PollOk {
        in_reply_to: MsgId(1),
        msgs: vec![run("k", &items)],
    });
    let text = message.to_json();
    // The payload texts appear verbatim, each right after its offset.
    for (offset, payload) in &items {
        let pair = format!("[{offset},{payload}]");
        assert!(text.contains(&pair), "{text} lacks {pair}");
    }
    encoded(&message);
    // Read with `RawValue`, which takes 1e400 as it is; a pair of any other length than
    // two fails to read as a tuple.
    #[derive(serde::Deserialize)]
    struct Line {
        body: PollOkBody,
    }
    #[derive(serde::Deserialize)]
    struct PollOkBody {
        msgs: BTreeMap<String, Vec<(u64, Box<RawValue>)>>,
    }
    let line: Line = serde_json::from_str(&text).expect("a poll_ok line");
    let pairs = &line.body.msgs["k"];
    assert_eq!(pairs.len(), payloads.len());
    for (i, (offset, payload)) in pairs.iter().enumerate() {
        assert_eq!((*offset, payload.get()), (i as u64, payloads[i]));
    }
}

#[test]
fn strings_are_escaped_into_valid_json_that_reads_back_the_same() {
    for text in tricky_strings() {
        let message = Message {
            src: NodeId::new(&text),
            dest: NodeId::new(&text),
            body: Body::Error {
                in_reply_to: MsgId(1),
                code: ErrorCode::CRASH,
                text: text.clone(),
            },
        };
        let value = encoded(&message);
        assert_eq!(value["body"]["text"], text.as_str());
        let message = from_node(Body::ListCommittedOffsetsOk {
            in_reply_to: MsgId(1),
            offsets: vec![(Key::new(&text), Offset(1))],
        });
        let value = encoded(&message);
        let offsets = value["body"]["offsets"].as_object().expect("an object");
        assert_eq!(offsets.keys().collect::<Vec<_>>(), [&text]);
        // Raw control characters are not allowed inside JSON strings at all.
        let line = message.to_json();
        assert!(line.bytes().all(|b| b >= 0x20), "{line:?}");
    }
}

#[test]
fn arbitrary_strings_and_numbers_round_trip() {
    bolero::check!()
        .with_type::<(String, String, String, u64, u64)>()
        .for_each(|(name, key, text, id, offset)| {
            let offset = Offset(offset % (Offset::MAX.0 + 1));
            let bodies = [
                Body::Send {
                    msg_id: MsgId(*id),
                    key: Key::new(key),
                    msg: Payload::parse(&Value::from(text.as_str()).to_string())
                        .expect("a JSON string"),
                },
                Body::Error {
                    in_reply_to: MsgId(*id),
                    code: ErrorCode(*id),
                    text: text.clone(),
                },
                Body::ListCommittedOffsetsOk {
                    in_reply_to: MsgId(*id),
                    offsets: vec![(Key::new(key), offset)],
                },
                Body::PollOk {
                    in_reply_to: MsgId(*id),
                    msgs: vec![run(key, &[(offset.0, "0")])],
                },
                Body::Init {
                    msg_id: MsgId(*id),
                    node_id: NodeId::new(name),
                    node_ids: vec![NodeId::new(name), NodeId::new(key)],
                },
            ];
            for body in bodies {
                let message = Message {
                    src: NodeId::new(name),
                    dest: NodeId::new(key),
                    body,
                };
                encoded(&message);
                assert_eq!(decode(message.to_json().as_bytes()), Ok(message));
            }
        });
}

#[test]
fn numbers_are_written_in_full() {
    for n in [
        0,
        1,
        9,
        10,
        99,
        100,
        12345,
        u64::from(u32::MAX) + 1,
        i64::MAX as u64,
        u64::MAX,
    ] {
        let message = from_node(Body::Error {
            in_reply_to: MsgId(n),
            code: ErrorCode(n),
            text: String::new(),
        });
        let value = encoded(&message);
        assert_eq!(value["body"]["in_reply_to"].as_u64(), Some(n));
        assert_eq!(value["body"]["code"].as_u64(), Some(n));
    }
}
