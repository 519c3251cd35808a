//! The decoder: lenient where Maelstrom is, strict and precise about what the node needs.

use crate::protocol::{Malformed, decode};
use crate::{Body, ErrorCode, Key, Message, MsgId, NodeId, Offset};
use serde_json::{Value, json};

/// Decodes `line`, which must be a good message.
fn ok(line: &str) -> Message {
    decode(line.as_bytes()).unwrap_or_else(|bad| panic!("{line} was refused: {bad}"))
}

/// Decodes `line`, which must be malformed.
fn bad(line: &str) -> Malformed {
    match decode(line.as_bytes()) {
        Ok(message) => panic!("{line} was accepted as {message:?}"),
        Err(bad) => bad,
    }
}

/// A line from `c1` to `n0` with this body.
fn line(body: &Value) -> String {
    json!({"src": "c1", "dest": "n0", "body": body}).to_string()
}

#[test]
fn a_send_decodes_with_maelstroms_extra_id_and_unknown_fields() {
    let lines = [
        r#"{"id":4711,"src":"c3","dest":"n0","body":{"type":"send","key":"9","msg":3,"msg_id":17}}"#,
        r#"{"src":"c3","dest":"n0","body":{"type":"send","key":"9","msg":3,"msg_id":17},"id":4711}"#,
        r#"{"src":"c3","extra":{"a":[1,{}]},"dest":"n0","body":{"type":"send","key":"9","msg":3,"msg_id":17,"note":"hi","nested":{"x":null}}}"#,
        " \t{\"src\":\"c3\",\"dest\":\"n0\",\"body\":{\"type\":\"send\",\"key\":\"9\",\"msg\":3,\"msg_id\":17}} \r",
        r#"{ "src" : "c3" , "dest" : "n0" , "body" : { "msg" : 3 , "msg_id" : 17 , "key" : "9" , "type" : "send" } }"#,
    ];
    for text in lines {
        let message = ok(text);
        assert_eq!(message.src.as_str(), "c3", "{text}");
        assert_eq!(message.dest.as_str(), "n0", "{text}");
        match &message.body {
            Body::Send { msg_id, key, msg } => {
                assert_eq!(*msg_id, MsgId(17));
                assert_eq!(key.as_str(), "9");
                assert_eq!(msg.as_str(), "3");
            }
            other => panic!("{text} decoded as {other:?}"),
        }
    }
}

#[test]
fn every_request_type_decodes() {
    let cases = [
        (
            json!({"type": "init", "msg_id": 1, "node_id": "n0", "node_ids": ["n0", "n1"]}),
            Body::Init {
                msg_id: MsgId(1),
                node_id: NodeId::new("n0"),
                node_ids: vec![NodeId::new("n0"), NodeId::new("n1")],
            },
        ),
        (
            json!({"type": "poll", "msg_id": 2, "offsets": {"3": 5, "7": 0}}),
            Body::Poll {
                msg_id: MsgId(2),
                offsets: vec![(Key::new("3"), Offset(5)), (Key::new("7"), Offset(0))],
            },
        ),
        (
            json!({"type": "poll", "msg_id": 2, "offsets": {}}),
            Body::Poll {
                msg_id: MsgId(2),
                offsets: vec![],
            },
        ),
        (
            json!({"type": "commit_offsets", "msg_id": 3, "offsets": {"3": 8}}),
            Body::CommitOffsets {
                msg_id: MsgId(3),
                offsets: vec![(Key::new("3"), Offset(8))],
            },
        ),
        (
            json!({"type": "list_committed_offsets", "msg_id": 4, "keys": ["3", "7", "3"]}),
            Body::ListCommittedOffsets {
                msg_id: MsgId(4),
                keys: vec![Key::new("3"), Key::new("7"), Key::new("3")],
            },
        ),
        (
            json!({"type": "init_ok", "in_reply_to": 1}),
            Body::InitOk {
                in_reply_to: MsgId(1),
            },
        ),
        (
            json!({"type": "send_ok", "in_reply_to": 5, "offset": 41}),
            Body::SendOk {
                in_reply_to: MsgId(5),
                offset: Offset(41),
            },
        ),
        (
            json!({"type": "commit_offsets_ok", "in_reply_to": 6}),
            Body::CommitOffsetsOk {
                in_reply_to: MsgId(6),
            },
        ),
        (
            json!({"type": "list_committed_offsets_ok", "in_reply_to": 7, "offsets": {"3": 8}}),
            Body::ListCommittedOffsetsOk {
                in_reply_to: MsgId(7),
                offsets: vec![(Key::new("3"), Offset(8))],
            },
        ),
        (
            json!({"type": "error", "in_reply_to": 8, "code": 11, "text": "not now"}),
            Body::Error {
                in_reply_to: MsgId(8),
                code: ErrorCode::TEMPORARILY_UNAVAILABLE,
                text: "not now".into(),
            },
        ),
        (
            // spec: kafka.md 1.6 — `text` is optional.
            json!({"type": "error", "in_reply_to": 8, "code": 1000}),
            Body::Error {
                in_reply_to: MsgId(8),
                code: ErrorCode(1000),
                text: String::new(),
            },
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(ok(&line(&body)).body, expected, "{body}");
    }
}

#[test]
fn a_poll_ok_keeps_its_runs_as_sent() {
    let text = r#"{"src":"n1","dest":"n0","body":{"type":"poll_ok","in_reply_to":9,"msgs":{"a":[[5, {"x" : 1}],[3,null]],"b":[]}}}"#;
    let Body::PollOk { in_reply_to, msgs } = ok(text).body else {
        panic!("{text} is a poll_ok");
    };
    assert_eq!(in_reply_to, MsgId(9));
    let runs: Vec<(&str, Vec<(u64, &str)>)> = msgs
        .iter()
        .map(|r| (r.key.as_str(), r.iter().map(|(o, m)| (o.0, m)).collect()))
        .collect();
    // Out of order on purpose: a checker must see a buggy peer's reply as it was.
    assert_eq!(
        runs,
        [("a", vec![(5, r#"{"x" : 1}"#), (3, "null")]), ("b", vec![])]
    );
}

#[test]
fn an_unknown_type_is_kept_raw_with_its_ids() {
    let body = r#"{ "type":"read_ok", "in_reply_to":4, "msg_id":12, "value":[1, 2.50] }"#;
    let text = format!(r#"{{"src":"lin-kv","dest":"n0","body":{body}}}"#);
    match ok(&text).body {
        Body::Other {
            kind,
            msg_id,
            in_reply_to,
            raw,
        } => {
            assert_eq!(kind, "read_ok");
            assert_eq!(msg_id, Some(MsgId(12)));
            assert_eq!(in_reply_to, Some(MsgId(4)));
            assert_eq!(&*raw, body);
        }
        other => panic!("{text} decoded as {other:?}"),
    }
    let text = r#"{"src":"c1","dest":"n0","body":{"type":"frobnicate"}}"#;
    let Body::Other {
        msg_id,
        in_reply_to,
        ..
    } = ok(text).body
    else {
        panic!("{text} is an unknown type");
    };
    assert_eq!((msg_id, in_reply_to), (None, None));
}

/// One way to spoil a field of a good body.
enum Spoil {
    /// Leave the field out.
    Remove,
    /// Give it this value instead.
    Set(Value),
}

#[test]
fn every_missing_or_wrong_typed_field_is_named_with_the_sender_and_msg_id() {
    let strings = || [json!(5), json!(null), json!(true), json!([]), json!({})];
    let ids = || {
        [
            json!(-1),
            json!(1.5),
            json!("7"),
            json!(null),
            json!([7]),
            json!({}),
            json!(false),
        ]
    };
    // (a good body, the field to spoil, the ways to spoil it)
    let mut cases: Vec<(Value, &str, Vec<Spoil>)> = Vec::new();
    let requests = [
        json!({"type": "init", "msg_id": 7, "node_id": "n0", "node_ids": ["n0"]}),
        json!({"type": "send", "msg_id": 7, "key": "k", "msg": 1}),
        json!({"type": "poll", "msg_id": 7, "offsets": {"k": 0}}),
        json!({"type": "commit_offsets", "msg_id": 7, "offsets": {"k": 0}}),
        json!({"type": "list_committed_offsets", "msg_id": 7, "keys": ["k"]}),
    ];
    for body in &requests {
        let mut id_spoils = vec![Spoil::Remove];
        id_spoils.extend(ids().into_iter().map(Spoil::Set));
        cases.push((body.clone(), "msg_id", id_spoils));
        for field in body.as_object().expect("an object").keys() {
            let spoils: Vec<Spoil> = match field.as_str() {
                "type" | "msg_id" => continue,
                // A payload may be any JSON value, so it can only be missing.
                "msg" => vec![Spoil::Remove],
                "node_id" | "key" => {
                    let mut s = vec![Spoil::Remove];
                    s.extend(strings().into_iter().map(Spoil::Set));
                    s
                }
                "node_ids" | "keys" => {
                    let mut s = vec![Spoil::Remove];
                    s.extend(
                        [
                            json!("n0"),
                            json!(3),
                            json!({}),
                            json!([1]),
                            json!(["a", null]),
                        ]
                        .into_iter()
                        .map(Spoil::Set),
                    );
                    s
                }
                "offsets" => {
                    let mut s = vec![Spoil::Remove];
                    s.extend(
                        [
                            json!([]),
                            json!("k"),
                            json!(3),
                            json!(null),
                            json!({"k": "0"}),
                        ]
                        .into_iter()
                        .map(Spoil::Set),
                    );
                    s
                }
                other => panic!("no spoils for {other}"),
            };
            cases.push((body.clone(), field_name(field), spoils));
        }
    }
    for (body, field) in [
        (json!({"type": "init_ok", "in_reply_to": 7}), "in_reply_to"),
        (
            json!({"type": "send_ok", "in_reply_to": 7, "offset": 0}),
            "in_reply_to",
        ),
        (
            json!({"type": "send_ok", "in_reply_to": 7, "offset": 0}),
            "offset",
        ),
        (
            json!({"type": "poll_ok", "in_reply_to": 7, "msgs": {}}),
            "in_reply_to",
        ),
        (
            json!({"type": "commit_offsets_ok", "in_reply_to": 7}),
            "in_reply_to",
        ),
        (
            json!({"type": "error", "in_reply_to": 7, "code": 12}),
            "code",
        ),
        (
            json!({"type": "error", "in_reply_to": 7, "code": 12}),
            "in_reply_to",
        ),
    ] {
        let mut spoils = vec![Spoil::Remove];
        spoils.extend(ids().into_iter().map(Spoil::Set));
        cases.push((body, field, spoils));
    }
    // An optional `text` of null reads as absent: lenient, and harmless for a field the
    // node only logs.
    cases.push((
        json!({"type": "error", "in_reply_to": 7, "code": 12, "text": "t"}),
        "text",
        strings()
            .into_iter()
            .filter(|v| !v.is_null())
            .map(Spoil::Set)
            .collect(),
    ));
    cases.push((
        json!({"type": "list_committed_offsets_ok", "in_reply_to": 7, "offsets": {"k": 1}}),
        "offsets",
        [
            json!([]),
            json!(3),
            json!(null),
            json!({"k": -1}),
            json!({"k": "1"}),
        ]
        .into_iter()
        .map(Spoil::Set)
        .chain([Spoil::Remove])
        .collect(),
    ));
    cases.push((
        json!({"type": "poll_ok", "in_reply_to": 7, "msgs": {"k": [[0, 1]]}}),
        "msgs",
        [
            json!([]),
            json!({"k": 1}),
            json!({"k": [1]}),
            json!({"k": [[0]]}),
            json!({"k": [[0, 1, 2]]}),
        ]
        .into_iter()
        .map(Spoil::Set)
        .chain([Spoil::Remove])
        .collect(),
    ));
    cases.push((
        json!({"type": "send", "msg_id": 7, "key": "k", "msg": 1}),
        "type",
        [json!(5), json!(null), json!(["send"]), json!({})]
            .into_iter()
            .map(Spoil::Set)
            .chain([Spoil::Remove])
            .collect(),
    ));

    let mut checked = 0;
    for (good, field, spoils) in cases {
        ok(&line(&good));
        for spoil in spoils {
            let mut body = good.clone();
            let object = body.as_object_mut().expect("an object");
            match &spoil {
                Spoil::Remove => {
                    object.remove(field);
                }
                Spoil::Set(value) => {
                    object.insert(field.to_string(), value.clone());
                }
            }
            let text = line(&body);
            let bad = bad(&text);
            let named = match field {
                // An offset inside a map is named by its key.
                "offsets" if body[field].is_object() => "offset",
                _ => field,
            };
            assert!(
                bad.reason.contains(named),
                "{text}: {:?} should name {named}",
                bad.reason
            );
            assert_eq!(bad.src, Some(NodeId::new("c1")), "{text}");
            assert_eq!(bad.dest, Some(NodeId::new("n0")), "{text}");
            let expected_id = body.get("msg_id").and_then(Value::as_u64).map(MsgId);
            assert_eq!(bad.msg_id, expected_id, "{text}");
            let expected_kind = body.get("type").and_then(Value::as_str).map(str::to_string);
            assert_eq!(bad.kind, expected_kind, "{text}");
            // The display names the sender and the request, for the log.
            let shown = bad.to_string();
            assert!(shown.contains("c1"), "{shown}");
            if let Some(id) = expected_id {
                assert!(shown.contains(&id.to_string()), "{shown}");
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} spoiled bodies were checked");
}

/// `&'static` field names for the table above.
fn field_name(field: &str) -> &'static str {
    ["node_id", "node_ids", "key", "msg", "offsets", "keys"]
        .into_iter()
        .find(|f| *f == field)
        .unwrap_or_else(|| panic!("unknown field {field}"))
}

#[test]
fn a_broken_envelope_is_named() {
    let body = json!({"type": "send", "msg_id": 7, "key": "k", "msg": 1});
    let cases = [
        (json!({"dest": "n0", "body": body}), "src"),
        (json!({"src": "c1", "body": body}), "dest"),
        (json!({"src": "c1", "dest": "n0"}), "body"),
        (json!({"src": 1, "dest": "n0", "body": body}), "src"),
        (json!({"src": "c1", "dest": ["n0"], "body": body}), "dest"),
        (json!({"src": null, "dest": "n0", "body": body}), "src"),
        (json!({"src": "c1", "dest": "n0", "body": "send"}), "body"),
        (json!({"src": "c1", "dest": "n0", "body": [body]}), "body"),
        (json!({"src": "c1", "dest": "n0", "body": null}), "body"),
    ];
    for (envelope, field) in cases {
        let text = envelope.to_string();
        let bad = bad(&text);
        assert!(
            bad.reason.contains(field),
            "{text}: {:?} should name {field}",
            bad.reason
        );
        // What could be read is kept, so a reply could still be addressed.
        if envelope["src"].is_string() && envelope["body"].is_object() {
            assert_eq!(bad.src, Some(NodeId::new("c1")), "{text}");
            assert_eq!(bad.msg_id, Some(MsgId(7)), "{text}");
        }
    }
}

#[test]
fn lines_that_are_not_messages_are_malformed_without_a_sender() {
    let lines: [&[u8]; 12] = [
        b"",
        b"   \t ",
        b"not json",
        b"[1,2,3]",
        b"\"a string\"",
        b"42",
        b"null",
        b"{",
        b"{\"src\":\"c1\",\"dest\":\"n0\",\"body\":{\"type\":\"send\",\"msg_id\":3",
        b"{\"src\":\"c1\",\"dest\":\"n0\"} trailing",
        b"{\"src\":\"c\xff1\",\"dest\":\"n0\",\"body\":{\"type\":\"send\",\"msg_id\":3}}",
        b"\xfe\xff{}",
    ];
    for text in lines {
        let bad = decode(text).expect_err("not a message");
        assert!(!bad.reason.is_empty());
        assert_eq!(bad.src, None, "{:?}", String::from_utf8_lossy(text));
        assert_eq!(bad.msg_id, None, "{:?}", String::from_utf8_lossy(text));
    }
    assert_eq!(decode(b"").expect_err("empty").reason, "empty line");
    assert_eq!(decode(b"  \t").expect_err("blank").reason, "empty line");
}

#[test]
fn a_duplicated_envelope_field_still_yields_the_sender() {
    // The typed pass refuses duplicate fields; the salvage pass still finds who to tell.
    let text = r#"{"src":"c1","dest":"n0","dest":"n0","body":{"type":"send","msg_id":3,"key":"k","msg":1}}"#;
    let bad = bad(text);
    assert!(bad.reason.contains("dest"), "{}", bad.reason);
    assert_eq!(bad.src, Some(NodeId::new("c1")));
    assert_eq!(bad.dest, Some(NodeId::new("n0")));
    assert_eq!(bad.msg_id, Some(MsgId(3)));
    assert_eq!(bad.kind.as_deref(), Some("send"));
}

#[test]
fn offsets_outside_zero_to_i64_max_are_rejected_everywhere() {
    let rejected = [
        "-1",
        "-0.0",
        "3.0",
        "3.5",
        "\"3\"",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "1e30",
        "3e0",
        "null",
        "true",
        "[3]",
    ];
    for offset in rejected {
        for body in bodies_with_offset(offset) {
            let text = format!(r#"{{"src":"c1","dest":"n0","body":{body}}}"#);
            let bad = bad(&text);
            assert!(bad.reason.contains("offset"), "{text}: {}", bad.reason);
        }
    }
    let max = i64::MAX.to_string();
    for body in bodies_with_offset(&max) {
        let text = format!(r#"{{"src":"c1","dest":"n0","body":{body}}}"#);
        let message = ok(&text);
        let offsets: Vec<Offset> = match message.body {
            Body::SendOk { offset, .. } => vec![offset],
            Body::Poll { offsets, .. }
            | Body::CommitOffsets { offsets, .. }
            | Body::ListCommittedOffsetsOk { offsets, .. } => {
                offsets.into_iter().map(|(_, o)| o).collect()
            }
            Body::PollOk { msgs, .. } => {
                msgs.iter().flat_map(|r| r.iter().map(|(o, _)| o)).collect()
            }
            other => panic!("{text} decoded as {other:?}"),
        };
        // The spliced offset is always the last one of the body.
        assert_eq!(offsets.last(), Some(&Offset::MAX), "{text}");
    }
}

/// Every body that carries an offset, with `offset` spliced in as text.
fn bodies_with_offset(offset: &str) -> [String; 5] {
    [
        format!(r#"{{"type":"send_ok","in_reply_to":1,"offset":{offset}}}"#),
        format!(r#"{{"type":"poll","msg_id":1,"offsets":{{"k":{offset}}}}}"#),
        format!(r#"{{"type":"commit_offsets","msg_id":1,"offsets":{{"k":0,"j":{offset}}}}}"#),
        format!(
            r#"{{"type":"list_committed_offsets_ok","in_reply_to":1,"offsets":{{"k":{offset}}}}}"#
        ),
        format!(r#"{{"type":"poll_ok","in_reply_to":1,"msgs":{{"k":[[{offset},1]]}}}}"#),
    ]
}

#[test]
fn msg_ids_span_u64() {
    for id in [0, 1, u64::MAX] {
        let text = format!(
            r#"{{"src":"c1","dest":"n0","body":{{"type":"send","msg_id":{id},"key":"k","msg":1}}}}"#
        );
        assert_eq!(ok(&text).body.msg_id(), Some(MsgId(id)));
    }
    for id in ["18446744073709551616", "-1", "1.0", "1e3"] {
        let text = format!(
            r#"{{"src":"c1","dest":"n0","body":{{"type":"send","msg_id":{id},"key":"k","msg":1}}}}"#
        );
        let bad = bad(&text);
        assert!(bad.reason.contains("msg_id"), "{text}: {}", bad.reason);
        assert_eq!(bad.msg_id, None);
    }
}

#[test]
fn a_null_msg_is_a_payload() {
    let text = r#"{"src":"c1","dest":"n0","body":{"type":"send","msg_id":1,"key":"k","msg":null}}"#;
    let Body::Send { msg, .. } = ok(text).body else {
        panic!("{text} is a send");
    };
    assert_eq!(msg.as_str(), "null");
}

#[test]
fn escaped_strings_in_keys_and_ids_are_unescaped() {
    let text = r#"{"src":"c\u0031","dest":"n\u00e9\"0\\","body":{"type":"send","msg_id":1,"key":"a\"b\\c\/\u00e9\n\ud83e\udd80","msg":1}}"#;
    let message = ok(text);
    assert_eq!(message.src.as_str(), "c1");
    assert_eq!(message.dest.as_str(), "né\"0\\");
    let Body::Send { key, .. } = message.body else {
        panic!("{text} is a send");
    };
    assert_eq!(key.as_str(), "a\"b\\c/é\n🦀");

    let text =
        r#"{"src":"c1","dest":"n0","body":{"type":"poll","msg_id":1,"offsets":{"k\"1\u0000":2}}}"#;
    let Body::Poll { offsets, .. } = ok(text).body else {
        panic!("{text} is a poll");
    };
    assert_eq!(offsets, [(Key::new("k\"1\0"), Offset(2))]);

    let text = r#"{"src":"c1","dest":"n0","body":{"type":"list_committed_offsets","msg_id":1,"keys":["\t","\u00e9"]}}"#;
    let Body::ListCommittedOffsets { keys, .. } = ok(text).body else {
        panic!("{text} is a list");
    };
    assert_eq!(keys, [Key::new("\t"), Key::new("é")]);

    let text = r#"{"src":"c1","dest":"n0","body":{"type":"init","msg_id":1,"node_id":"n\u0030","node_ids":["n\u0030"]}}"#;
    let Body::Init {
        node_id, node_ids, ..
    } = ok(text).body
    else {
        panic!("{text} is an init");
    };
    assert_eq!(node_id.as_str(), "n0");
    assert_eq!(node_ids, [NodeId::new("n0")]);
}

#[test]
fn invalid_escapes_and_lone_surrogates_are_malformed() {
    for key in [r#""\x""#, r#""\ud800""#, r#""\u12""#] {
        let text = format!(
            r#"{{"src":"c1","dest":"n0","body":{{"type":"send","msg_id":1,"key":{key},"msg":1}}}}"#
        );
        decode(text.as_bytes()).expect_err(&text);
    }
}

#[test]
fn payloads_are_kept_byte_for_byte() {
    let payloads = [
        "0",
        "-17",
        "5.0",
        "1E+2",
        "1e400",
        "-1e-400",
        "12345678901234567890123",
        "true",
        "null",
        r#""""#,
        r#""h\u00e9llo \"w\"\\\/ \n\t""#,
        "\"日本語 🦀 \u{7f}\"",
        "[ 1 ,2, [ ] ]",
        r#"{ "b" : 1 , "a" : { "c" : [ null , { } ] } , "a" : 2 }"#,
        "\"\\ud83e\\udd80\"",
    ];
    for msg in payloads {
        let text = format!(
            "{{\"src\":\"c1\",\"dest\":\"n0\",\"body\":{{\"type\":\"send\",\"msg_id\":1,\"key\":\"k\",\"msg\":{msg}}}}}"
        );
        let Body::Send { msg: payload, .. } = ok(&text).body else {
            panic!("{text} is a send");
        };
        assert_eq!(payload.as_str(), msg);
        // The same text inside a poll_ok comes back the same way.
        let text = format!(
            "{{\"src\":\"n1\",\"dest\":\"n0\",\"body\":{{\"type\":\"poll_ok\",\"in_reply_to\":1,\"msgs\":{{\"k\":[[0, {msg} ]]}}}}}}"
        );
        let Body::PollOk { msgs, .. } = ok(&text).body else {
            panic!("{text} is a poll_ok");
        };
        assert_eq!(msgs[0].iter().next(), Some((Offset(0), msg)));
    }
}

#[test]
fn duplicate_keys_in_maps_are_kept_in_wire_order() {
    let text = r#"{"src":"c1","dest":"n0","body":{"type":"poll","msg_id":1,"offsets":{"k":3,"j":0,"k":1}}}"#;
    let Body::Poll { offsets, .. } = ok(text).body else {
        panic!("{text} is a poll");
    };
    let expected = [("k", 3), ("j", 0), ("k", 1)].map(|(k, o)| (Key::new(k), Offset(o)));
    assert_eq!(offsets, expected);
}

#[test]
fn a_number_out_of_range_still_yields_the_sender() {
    // serde_json refuses `1e400` where it must read a number, but the salvage pass reads
    // fields as raw text, so the request can still be answered with error 12.
    let text = r#"{"src":"c1","dest":"n0","body":{"type":"send","msg_id":5,"key":1e400,"msg":1}}"#;
    let bad = bad(text);
    assert!(bad.reason.contains("out of range"), "{}", bad.reason);
    assert_eq!(bad.src, Some(NodeId::new("c1")));
    assert_eq!(bad.dest, Some(NodeId::new("n0")));
    assert_eq!(bad.msg_id, Some(MsgId(5)));
    assert_eq!(bad.kind.as_deref(), Some("send"));
    // An out-of-range number in a field the node never reads is no reason to refuse.
    let text = r#"{"src":"c1","dest":"n0","body":{"type":"send","msg_id":6,"key":"k","msg":1,"x":[1e400]}}"#;
    assert!(matches!(ok(text).body, Body::Send { .. }));
}
