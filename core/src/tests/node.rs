//! The node's behaviour, RPC by RPC (spec: kafka.md sections 1-2 and 2.7).

use super::{
    CLIENT, Harness, Model, NODE, Polled, body_json, object_keys, only_logs, packets, sends,
};
use crate::protocol::Malformed;
use crate::{Config, ConfigError, Input, MsgId, Node, NodeId, Timestamp};
use serde_json::json;

/// The run a poll returned for `key`: empty when the key was left out. Fails if the key
/// appears twice, which would be a JSON object with a repeated field.
fn run_of(polled: &Polled, key: &str) -> Vec<(u64, String)> {
    let runs: Vec<_> = polled.iter().filter(|(k, _)| k == key).collect();
    assert!(runs.len() <= 1, "key {key:?} appears twice in {polled:?}");
    runs.first().map(|(_, run)| run.clone()).unwrap_or_default()
}

/// Asserts that a poll only returned keys it asked for, each once, and that each run is
/// a prefix of the log from the requested offset: contiguous, ascending, nothing skipped
/// (spec: kafka.md 2.3). Returns the number of messages and of payload bytes.
fn assert_prefixes(polled: &Polled, asked: &[(&str, u64)], model: &Model) -> (usize, usize) {
    let mut msgs = 0;
    let mut bytes = 0;
    for (key, run) in polled {
        let from = asked
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, o)| *o)
            .min()
            .unwrap_or_else(|| panic!("the poll returned {key:?}, which it did not ask for"));
        let tail = model.tail(key, from);
        assert!(
            run.len() <= tail.len() && run[..] == tail[..run.len()],
            "{key:?} from {from}: {run:?} is not a prefix of {tail:?}"
        );
        msgs += run.len();
        bytes += run.iter().map(|(_, m)| m.len()).sum::<usize>();
        run_of(polled, key);
    }
    (msgs, bytes)
}

#[test]
fn send_offsets_are_dense_from_zero_per_key_and_independent_across_keys() {
    // spec: kafka.md 2.2 and 2.6 item 7 — new offsets are higher than every earlier one in
    // the key; we use dense per-key counters, so the model's counter is the expectation.
    let mut h = Harness::new();
    let mut model = Model::default();
    let keys = ["a", "b", "9", "09", "a"];
    for round in 0..5 {
        for key in keys {
            let msg = format!("{round}");
            let expected = model.send(key, &msg);
            assert_eq!(h.send(key, &msg), expected, "send {round} to {key:?}");
        }
    }
    // Keys are opaque strings: "9" and "09" are different logs.
    assert_eq!(h.poll(&[("9", 0)]), vec![("9".into(), model.tail("9", 0))]);
    assert_eq!(h.node.message_count(), 25);
}

#[test]
fn poll_returns_the_log_from_the_requested_offset() {
    let mut h = Harness::new();
    let mut model = Model::default();
    for i in 0..6 {
        let msg = format!("{}", 100 + i);
        assert_eq!(h.send("k", &msg), model.send("k", &msg));
    }
    model.send("j", "true");
    h.send("j", "true");

    // From 0, from the middle and from the last offset: the whole rest of the log.
    for from in [0, 3, 5] {
        let polled = h.poll(&[("k", from)]);
        assert_eq!(run_of(&polled, "k"), model.tail("k", from), "from {from}");
        assert_eq!(polled.len(), 1, "only the asked key comes back: {polled:?}");
    }
    // Past the end, far past it and at the largest offset: nothing (spec: 2.3 allows the
    // key to be left out or empty).
    for from in [6, 1000, i64::MAX as u64] {
        let polled = h.poll(&[("k", from)]);
        assert!(run_of(&polled, "k").is_empty(), "from {from}: {polled:?}");
    }
    // Keys never written: nothing (spec: 2.7).
    let polled = h.poll(&[("nope", 0), ("k", 4)]);
    assert!(run_of(&polled, "nope").is_empty(), "{polled:?}");
    assert_eq!(run_of(&polled, "k"), model.tail("k", 4));
    // Several keys in one poll, each from its own offset.
    let polled = h.poll(&[("k", 2), ("j", 0)]);
    assert_eq!(run_of(&polled, "k"), model.tail("k", 2));
    assert_eq!(run_of(&polled, "j"), model.tail("j", 0));
}

#[test]
fn an_empty_poll_gets_an_empty_poll_ok() {
    let mut h = Harness::new();
    h.send("k", "1");
    assert_eq!(h.poll(&[]), Polled::new());
    // spec: kafka.md 2.3 — `msgs` is present even when empty.
    let reply = h.call(json!({"type": "poll", "offsets": {}}));
    assert_eq!(reply["msgs"], json!({}));
    assert_eq!(object_keys(&reply), ["in_reply_to", "msgs", "type"]);
}

#[test]
fn a_key_named_twice_in_a_poll_is_answered_once_from_the_lower_offset() {
    let mut h = Harness::new();
    let mut model = Model::default();
    for i in 0..5 {
        h.send("k", &i.to_string());
        model.send("k", &i.to_string());
    }
    // Either reading alone would be a prefix of the read from the lower offset, so that
    // one answers both; a reply naming the key twice would not be valid JSON for
    // Maelstrom's client.
    for text in [r#"{"k":3,"k":1}"#, r#"{"k":1,"k":3}"#] {
        let polled = h.poll_text(text);
        assert_eq!(polled.len(), 1, "{text}: {polled:?}");
        assert_eq!(run_of(&polled, "k"), model.tail("k", 1), "{text}");
    }
}

#[test]
fn poll_msgs_max_caps_the_messages_of_one_reply_over_all_keys() {
    let msgs_max = 3;
    let mut h = Harness::with_config(Config {
        poll_msgs_max: msgs_max,
        ..Config::default()
    });
    let mut model = Model::default();
    for key in ["a", "b"] {
        for i in 0..5 {
            h.send(key, &i.to_string());
            model.send(key, &i.to_string());
        }
    }
    let asked = [("a", 1), ("b", 0)];
    let polled = h.poll(&asked);
    let (msgs, _) = assert_prefixes(&polled, &asked, &model);
    assert_eq!(msgs, msgs_max, "{polled:?}");
}

#[test]
fn poll_bytes_max_caps_payload_bytes_but_the_first_message_always_goes() {
    let mut h = Harness::with_config(Config {
        poll_bytes_max: 10,
        ..Config::default()
    });
    let mut model = Model::default();
    // Four-byte payloads: two fit in ten bytes, a third would not.
    for msg in ["1000", "1001", "1002", "1003", "1004"] {
        h.send("small", msg);
        model.send("small", msg);
    }
    let polled = h.poll(&[("small", 0)]);
    assert_eq!(run_of(&polled, "small"), model.tail("small", 0)[..10 / 4]);

    // A payload larger than the whole budget still goes alone, or the key would be stuck
    // behind it forever.
    let big = format!("\"{}\"", "x".repeat(40));
    for _ in 0..3 {
        h.send("big", &big);
        model.send("big", &big);
    }
    for from in 0..3 {
        let polled = h.poll(&[("big", from)]);
        assert_eq!(run_of(&polled, "big"), model.tail("big", from)[..1]);
    }
    let asked = [("big", 0), ("small", 0)];
    let polled = h.poll(&asked);
    let (msgs, bytes) = assert_prefixes(&polled, &asked, &model);
    assert!(
        msgs == 1 || bytes <= 10,
        "{polled:?} exceeds the byte budget"
    );
    assert!(msgs >= 1, "a poll with data available returns something");
}

#[test]
fn draining_with_tight_budgets_reads_every_message_once_in_order() {
    for (msgs_max, bytes_max) in [(1, 1 << 20), (2, 0), (4, 7), (1000, 9)] {
        let mut h = Harness::with_config(Config {
            poll_msgs_max: msgs_max,
            poll_bytes_max: bytes_max,
            ..Config::default()
        });
        let mut model = Model::default();
        for i in 0..20_u32 {
            let key = ["x", "y", "z"][(i % 3) as usize];
            let msg = "7".repeat(1 + (i as usize * 5) % 11);
            h.send(key, &msg);
            model.send(key, &msg);
        }
        // A client that asks from the offset after the last one it saw.
        let mut next = [("x", 0), ("y", 0), ("z", 0)];
        let mut seen: Vec<(String, Vec<(u64, String)>)> =
            next.iter().map(|(k, _)| (k.to_string(), vec![])).collect();
        for _ in 0..100 {
            let polled = h.poll(&next);
            let (msgs, bytes) = assert_prefixes(&polled, &next, &model);
            if msgs == 0 {
                break;
            }
            assert!(msgs <= msgs_max, "{polled:?}");
            assert!(msgs == 1 || bytes <= bytes_max, "{polled:?}");
            for (i, (key, from)) in next.iter_mut().enumerate() {
                let run = run_of(&polled, key);
                if let Some((last, _)) = run.last() {
                    *from = last + 1;
                }
                seen[i].1.extend(run);
            }
        }
        for (key, got) in &seen {
            assert_eq!(
                *got,
                model.tail(key, 0),
                "budgets ({msgs_max}, {bytes_max})"
            );
        }
    }
}

#[test]
fn payloads_come_back_byte_for_byte() {
    let mut h = Harness::new();
    let payloads = [
        "null",
        "0",
        "-0",
        "5.0",
        "1e400",
        "12345678901234567890123",
        r#""h\u00e9llo \"w\"\\ \n""#,
        "\"日本語 🦀\"",
        r#"{ "a" : [ 1 , 2 ] ,  "b" : { "c" : null } }"#,
        "[[],{},[[[]]]]",
    ];
    for msg in payloads {
        let offset = h.send("p", msg);
        let polled = h.poll(&[("p", offset)]);
        assert_eq!(
            run_of(&polled, "p").first(),
            Some(&(offset, msg.to_string()))
        );
    }
}

#[test]
fn commits_only_move_forward_and_may_name_anything() {
    let mut h = Harness::new();
    h.send("a", "1");
    h.send("a", "2");
    // Forward, then backward: the backward commit has no effect (spec: kafka.md 2.4).
    h.commit(json!({"a": 0}));
    assert_eq!(h.list(json!(["a"])), [("a".into(), 0)]);
    h.commit(json!({"a": 1}));
    assert_eq!(h.list(json!(["a"])), [("a".into(), 1)]);
    h.commit(json!({"a": 0}));
    assert_eq!(h.list(json!(["a"])), [("a".into(), 1)]);
    // Keys never written and offsets never assigned are still recorded: commits arrive
    // from many clients, and refusing one would be a definite error (spec: 2.4).
    h.commit(json!({"never": 7, "a": 1000}));
    assert_eq!(
        h.list(json!(["a", "never"])),
        [("a".into(), 1000), ("never".into(), 7)]
    );
    h.commit(json!({"max": i64::MAX}));
    assert_eq!(h.list(json!(["max"])), [("max".into(), i64::MAX as u64)]);
    // An empty commit is answered too.
    h.commit(json!({}));
    // Committing does not touch the logs.
    assert_eq!(h.poll(&[("a", 0)]).len(), 1);
    assert_eq!(h.node.message_count(), 2);
}

#[test]
fn a_key_named_twice_in_a_commit_keeps_the_higher_offset() {
    let mut h = Harness::new();
    for text in [r#"{"k":3,"k":1}"#, r#"{"k":1,"k":3}"#] {
        h.commit_text(text);
        assert_eq!(h.list(json!(["k"])), [("k".into(), 3)], "{text}");
    }
}

#[test]
fn list_answers_the_keys_that_have_a_commit_once_each() {
    let mut h = Harness::new();
    h.commit(json!({"b": 2, "a": 1}));
    assert_eq!(h.list(json!([])), []);
    assert_eq!(h.list(json!(["missing"])), []);
    assert_eq!(
        h.list(json!(["b", "missing", "a", "b", "a"])),
        [("a".into(), 1), ("b".into(), 2)]
    );
    // spec: kafka.md 2.5 — `offsets` is present even when empty.
    let reply = h.call(json!({"type": "list_committed_offsets", "keys": []}));
    assert_eq!(reply["offsets"], json!({}));
}

#[test]
fn nothing_is_sent_before_init() {
    let mut h = Harness::uninitialised(Config::default());
    let bodies = [
        json!({"type": "send", "msg_id": 1, "key": "k", "msg": 1}),
        json!({"type": "poll", "msg_id": 2, "offsets": {"k": 0}}),
        json!({"type": "commit_offsets", "msg_id": 3, "offsets": {"k": 0}}),
        json!({"type": "list_committed_offsets", "msg_id": 4, "keys": ["k"]}),
        json!({"type": "frobnicate", "msg_id": 5}),
        json!({"type": "send", "msg_id": 6, "key": 5, "msg": 1}),
        json!({"type": "init_ok", "in_reply_to": 1}),
        json!({"type": "error", "in_reply_to": 1, "code": 11}),
    ];
    for body in bodies {
        let out = h.envelope(CLIENT, NODE, body);
        only_logs(&out);
    }
    only_logs(&h.line("not json"));
    assert!(h.input(Input::Tick).is_empty());
    assert_eq!(h.node.id(), None);
    assert!(h.node.cluster().is_empty());
    // Nothing sent before init was stored either.
    let reply = h.call(json!({"type": "init", "node_id": NODE, "node_ids": [NODE]}));
    assert_eq!(reply["type"], "init_ok");
    assert_eq!(h.node.message_count(), 0);
    assert!(h.poll(&[("k", 0)]).is_empty());
}

#[test]
fn init_answers_init_ok_and_learns_the_cluster() {
    let mut h = Harness::uninitialised(Config::default());
    let body =
        json!({"type": "init", "msg_id": 17, "node_id": "n1", "node_ids": ["n0", "n1", "n2"]});
    let out = h.envelope("c0", "n1", body);
    // A node with peers asks them first, and answers init once it has joined them.
    assert!(sends(&out).is_empty(), "{out:?}");
    let sent = packets(&out);
    let asked: Vec<&str> = sent.iter().map(|m| m.dest.as_str()).collect();
    assert_eq!(asked, ["n0", "n2"], "{out:?}");
    let ask = body_json(sent[0]);
    assert_eq!(
        (ask["type"].as_str(), ask["ask"].as_bool()),
        (Some("sync"), Some(true))
    );
    let inc = ask["inc"]
        .as_u64()
        .expect("a sync names its sender's incarnation");
    assert_eq!(h.node.id(), Some(&NodeId::new("n1")));
    let cluster: Vec<&str> = h.node.cluster().iter().map(NodeId::as_str).collect();
    assert_eq!(cluster, ["n0", "n1", "n2"]);
    // Both peers answer that nobody was elected yet: a fresh cluster, so init_ok.
    let answer = |peer: &str| {
        json!({"type": "sync", "inc": 3, "term": 0, "hb": 0, "seq": 1, "got": 1,
               "facts": [[peer, 3, 0, 0, 0, 0], ["n1", inc, 0, 0, 0, 0]]})
    };
    let out = h.envelope("n0", "n1", answer("n0"));
    assert!(
        !sends(&out).iter().any(|m| m.dest.as_str() == "c0"),
        "one answer is not enough: {out:?}"
    );
    let out = h.envelope("n2", "n1", answer("n2"));
    let replies: Vec<serde_json::Value> = sends(&out)
        .into_iter()
        .filter(|m| m.dest.as_str() == "c0")
        .map(body_json)
        .collect();
    assert_eq!(replies, [json!({"type": "init_ok", "in_reply_to": 17})]);
}

#[test]
fn init_waits_for_peers_at_most_the_hold_time() {
    let config = Config::default();
    let hold = config.timing.hold_us;
    let mut h = Harness::uninitialised(config);
    let body = json!({"type": "init", "msg_id": 3, "node_id": "n0", "node_ids": ["n0", "n1"]});
    let out = h.envelope("c0", "n0", body);
    assert!(!sends(&out).iter().any(|m| m.dest.as_str() == "c0"));
    let due = h.node.next_deadline().expect("the node wants to be woken");
    assert!(due <= Timestamp(hold + 1), "{due}");
    let out = h.node.step(Timestamp(hold + 1), Input::Tick);
    let replies: Vec<serde_json::Value> = sends(&out)
        .into_iter()
        .filter(|m| m.dest.as_str() == "c0")
        .map(body_json)
        .collect();
    assert_eq!(replies, [json!({"type": "init_ok", "in_reply_to": 3})]);
}

#[test]
fn init_naming_a_node_outside_node_ids_adds_it_to_the_cluster() {
    let mut h = Harness::uninitialised(Config::default());
    let body = json!({"type": "init", "msg_id": 1, "node_id": "n0", "node_ids": ["n1"]});
    let _ = h.envelope("c0", "n0", body);
    let cluster: Vec<&str> = h.node.cluster().iter().map(NodeId::as_str).collect();
    assert!(
        cluster.contains(&"n0") && cluster.contains(&"n1"),
        "{cluster:?}"
    );
}

#[test]
fn a_second_init_is_answered_by_id() {
    let mut h = Harness::new();
    h.send("k", "1");
    // The same id again (Maelstrom retrying): init_ok, and nothing is lost.
    let reply =
        h.call(json!({"type": "init", "msg_id": 40, "node_id": NODE, "node_ids": [NODE, "n1"]}));
    assert_eq!(reply, json!({"type": "init_ok", "in_reply_to": 40}));
    assert_eq!(h.node.message_count(), 1);
    // Another id: a definite error 14, and the node keeps its identity.
    let reply = h.call(json!({"type": "init", "msg_id": 41, "node_id": "n7", "node_ids": ["n7"]}));
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], 14);
    assert_eq!(reply["in_reply_to"], 41);
    assert!(
        reply["text"].as_str().is_some_and(|t| t.contains("n7")),
        "{reply}"
    );
    assert_eq!(h.node.id(), Some(&NodeId::new(NODE)));
    assert_eq!(h.send("k", "2"), 1);
}

#[test]
fn messages_for_another_node_are_dropped() {
    let mut h = Harness::new();
    let bodies = [
        json!({"type": "send", "msg_id": 1, "key": "k", "msg": 1}),
        json!({"type": "poll", "msg_id": 2, "offsets": {}}),
        json!({"type": "commit_offsets", "msg_id": 3, "offsets": {"k": 5}}),
        json!({"type": "init", "msg_id": 4, "node_id": "n1", "node_ids": ["n1"]}),
        json!({"type": "frobnicate", "msg_id": 5}),
    ];
    for body in bodies {
        only_logs(&h.envelope(CLIENT, "n1", body));
    }
    // None of them took effect.
    assert_eq!(h.node.message_count(), 0);
    assert_eq!(h.list(json!(["k"])), []);
    assert_eq!(h.send("k", "1"), 0);
}

#[test]
fn an_unknown_request_gets_error_10_and_an_unknown_note_nothing() {
    let mut h = Harness::new();
    // The request is logged as well as answered.
    let out = h.envelope(CLIENT, NODE, json!({"type": "frobnicate", "msg_id": 8}));
    assert_eq!(sends(&out).len(), 1, "{out:?}");
    assert!(
        out.iter()
            .any(|o| matches!(o, crate::Output::Log(l) if l.contains("frobnicate"))),
        "{out:?}"
    );
    let reply = h.call(json!({"type": "frobnicate", "msg_id": 9, "extra": [1, 2]}));
    assert_eq!(reply["code"], 10, "{reply}");
    assert_eq!(reply["in_reply_to"], 9);
    assert!(
        reply["text"]
            .as_str()
            .is_some_and(|t| t.contains("frobnicate"))
    );
    assert_eq!(object_keys(&reply), ["code", "in_reply_to", "text", "type"]);
    // Without a msg_id there is nothing to reply to.
    only_logs(&h.envelope(CLIENT, NODE, json!({"type": "frobnicate"})));
}

#[test]
fn replies_sent_to_the_node_are_never_answered() {
    let mut h = Harness::new();
    let replies = [
        json!({"type": "init_ok", "in_reply_to": 1}),
        json!({"type": "send_ok", "in_reply_to": 1, "offset": 0}),
        json!({"type": "poll_ok", "in_reply_to": 1, "msgs": {"k": [[0, 1]]}}),
        json!({"type": "commit_offsets_ok", "in_reply_to": 1}),
        json!({"type": "list_committed_offsets_ok", "in_reply_to": 1, "offsets": {}}),
        json!({"type": "error", "in_reply_to": 1, "code": 11, "text": "no"}),
        json!({"type": "error", "in_reply_to": 1, "code": 13}),
        json!({"type": "read_ok", "in_reply_to": 1, "value": 3}),
        json!({"type": "cas_ok", "in_reply_to": 1, "msg_id": 8}),
        json!({"type": "send_ok", "in_reply_to": 1, "offset": 0, "msg_id": 2}),
    ];
    for src in [CLIENT, "n1", "lin-kv"] {
        for body in &replies {
            let out = h.envelope(src, NODE, body.clone());
            only_logs(&out);
        }
    }
    // A reply does not act as the request it looks like.
    assert_eq!(h.node.message_count(), 0);
}

/// A malformed input that knows whatever the flags say it knows.
fn malformed(src: bool, dest: Option<&str>, msg_id: bool, kind: Option<&str>) -> Malformed {
    Malformed {
        src: src.then(|| NodeId::new(CLIENT)),
        dest: dest.map(NodeId::new),
        msg_id: msg_id.then_some(MsgId(33)),
        kind: kind.map(str::to_string),
        reason: "`key` must be a string, got 5".into(),
    }
}

#[test]
fn malformed_input_is_answered_with_12_only_when_a_reply_can_find_its_request() {
    let mut h = Harness::new();
    let kinds = [
        None,
        Some("send"),
        Some("poll"),
        Some("frobnicate"),
        Some("send_ok"),
        Some("poll_ok"),
        Some("read_ok"),
        Some("error"),
    ];
    for src in [false, true] {
        for dest in [None, Some(NODE), Some("n1")] {
            for msg_id in [false, true] {
                for kind in kinds {
                    let bad = malformed(src, dest, msg_id, kind);
                    let is_reply = kind.is_some_and(|k| k.ends_with("_ok") || k == "error");
                    let answerable = src && dest == Some(NODE) && msg_id && !is_reply;
                    let out = h.input(Input::Malformed(bad.clone()));
                    let log = only_logs_or_reply(&out, answerable, &bad);
                    assert!(log.contains("`key`"), "the log says why: {log}");
                }
            }
        }
    }
}

/// Checks `out` against the rule for malformed input and returns its log.
fn only_logs_or_reply(out: &[crate::Output], answerable: bool, bad: &Malformed) -> String {
    let sent = sends(out);
    if !answerable {
        return only_logs(out);
    }
    assert_eq!(sent.len(), 1, "{bad:?} should be answered: {out:?}");
    assert_eq!(sent[0].dest.as_str(), CLIENT);
    let reply = body_json(sent[0]);
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], 12);
    assert_eq!(reply["in_reply_to"], 33);
    let text = reply["text"].as_str().unwrap_or_default();
    assert!(text.contains(&bad.reason), "{text:?} carries the reason");
    out.iter()
        .filter_map(|o| match o {
            crate::Output::Log(l) => Some(l.as_str()),
            crate::Output::Send(_) => None,
        })
        .collect()
}

#[test]
fn malformed_lines_are_answered_through_the_decoder() {
    let mut h = Harness::new();
    // (line, whether it names src, dest n0 and msg_id of a request, a word of the reason)
    let cases = [
        (
            r#"{"src":"c1","dest":"n0","body":{"type":"send","msg_id":3,"key":5,"msg":1}}"#,
            true,
            "key",
        ),
        (
            r#"{"src":"c1","dest":"n0","body":{"type":"send","msg_id":3,"key":"k"}}"#,
            true,
            "msg",
        ),
        (
            r#"{"src":"c1","dest":"n0","body":{"type":"poll","msg_id":3,"offsets":{"k":-1}}}"#,
            true,
            "offset",
        ),
        (
            r#"{"src":"c1","dest":"n0","body":{"msg_id":3}}"#,
            true,
            "type",
        ),
        // A duplicate envelope field fails the typed decoder but not the salvage pass.
        (
            r#"{"src":"c1","src":"c1","dest":"n0","body":{"type":"send","msg_id":3}}"#,
            true,
            "src",
        ),
        (
            r#"{"dest":"n0","body":{"type":"send","msg_id":3,"key":5,"msg":1}}"#,
            false,
            "src",
        ),
        (
            r#"{"src":"c1","body":{"type":"send","msg_id":3,"key":5,"msg":1}}"#,
            false,
            "dest",
        ),
        (
            r#"{"src":"c1","dest":"n1","body":{"type":"send","msg_id":3,"key":5,"msg":1}}"#,
            false,
            "key",
        ),
        (
            r#"{"src":"c1","dest":"n0","body":{"type":"send","key":5,"msg":1}}"#,
            false,
            "msg_id",
        ),
        (
            r#"{"src":"c1","dest":"n0","body":{"type":"send","msg_id":-3,"key":"k","msg":1}}"#,
            false,
            "msg_id",
        ),
        (
            r#"{"src":"c1","dest":"n0","body":{"type":"send_ok","msg_id":3,"in_reply_to":1}}"#,
            false,
            "offset",
        ),
        (
            r#"{"src":"c1","dest":"n0","body":{"type":"error","msg_id":3,"in_reply_to":1,"code":"x"}}"#,
            false,
            "code",
        ),
        (r#"{"src":"c1","dest":"n0","body":[1,2]}"#, false, "body"),
        (
            r#"{"src":"c1","dest":"n0","body":{"type":"send","msg_id":3,"#,
            false,
            "invalid",
        ),
        ("", false, "empty"),
        ("[1,2,3]", false, "invalid"),
    ];
    for (line, answerable, word) in cases {
        let out = h.line(line);
        let sent = sends(&out);
        if answerable {
            assert_eq!(sent.len(), 1, "{line} should be answered: {out:?}");
            let reply = body_json(sent[0]);
            assert_eq!(reply["code"], 12, "{line}: {reply}");
            assert_eq!(reply["in_reply_to"], 3, "{line}");
            assert_eq!(sent[0].dest.as_str(), CLIENT);
            let text = reply["text"].as_str().unwrap_or_default();
            assert!(
                text.contains(word),
                "{line}: {text:?} should mention {word}"
            );
        } else {
            let log = only_logs(&out);
            assert!(log.contains(word), "{line}: {log:?} should mention {word}");
        }
    }
    // None of the bad sends was stored.
    assert_eq!(h.node.message_count(), 0);
}

#[test]
fn a_tick_does_nothing_and_a_single_node_wants_none() {
    let mut h = Harness::new();
    h.send("k", "1");
    assert_eq!(h.node.next_deadline(), None);
    assert!(h.input(Input::Tick).is_empty());
    assert_eq!(
        h.poll(&[("k", 0)]),
        vec![("k".into(), vec![(0, "1".into())])]
    );
}

#[test]
fn the_same_time_twice_is_fine() {
    let mut node = Node::new(Config::default()).expect("valid config");
    let now = Timestamp::from_millis(5);
    assert!(node.step(now, Input::Tick).is_empty());
    assert!(node.step(now, Input::Tick).is_empty());
}

#[test]
#[should_panic(expected = "time went back")]
fn time_going_back_is_a_broken_invariant() {
    let mut node = Node::new(Config::default()).expect("valid config");
    let _ = node.step(Timestamp::from_millis(5), Input::Tick);
    let _ = node.step(Timestamp::from_millis(4), Input::Tick);
}

#[test]
fn a_config_that_could_never_return_a_message_is_refused() {
    let config = Config {
        poll_msgs_max: 0,
        ..Config::default()
    };
    assert_eq!(Node::new(config).err(), Some(ConfigError::PollMsgsMaxZero));
}

/// One client operation for the model test.
#[derive(Debug, bolero::TypeGenerator)]
enum Op {
    Send { key: u8, msg: u16 },
    Poll { offsets: Vec<(u8, u8)> },
    Commit { offsets: Vec<(u8, u16)> },
    List { keys: Vec<u8> },
}

/// Few keys, so that operations collide on them.
fn key_name(k: u8) -> String {
    format!("k{}", k % 4)
}

#[test]
fn the_node_matches_a_simple_model() {
    bolero::check!()
        .with_type::<(u8, u8, Vec<Op>)>()
        .for_each(|(msgs_max, bytes_max, ops)| {
            let msgs_max = usize::from(*msgs_max % 8) + 1;
            let bytes_max = usize::from(*bytes_max % 32);
            let mut h = Harness::with_config(Config {
                poll_msgs_max: msgs_max,
                poll_bytes_max: bytes_max,
                ..Config::default()
            });
            let mut model = Model::default();
            let mut committed = std::collections::BTreeMap::<String, u64>::new();
            for op in ops {
                match op {
                    Op::Send { key, msg } => {
                        let key = key_name(*key);
                        let msg = msg.to_string();
                        assert_eq!(h.send(&key, &msg), model.send(&key, &msg));
                    }
                    Op::Poll { offsets } => {
                        let names: Vec<(String, u64)> = offsets
                            .iter()
                            .map(|(k, o)| (key_name(*k), u64::from(*o % 24)))
                            .collect();
                        let asked: Vec<(&str, u64)> =
                            names.iter().map(|(k, o)| (k.as_str(), *o)).collect();
                        // Build the object by hand so that repeated keys reach the node.
                        let text = format!(
                            "{{{}}}",
                            names
                                .iter()
                                .map(|(k, o)| format!("\"{k}\":{o}"))
                                .collect::<Vec<_>>()
                                .join(",")
                        );
                        let polled = h.poll_text(&text);
                        let (msgs, bytes) = assert_prefixes(&polled, &asked, &model);
                        assert!(msgs <= msgs_max, "{polled:?}");
                        assert!(msgs <= 1 || bytes <= bytes_max, "{polled:?}");
                        let available = asked.iter().any(|(k, o)| !model.tail(k, *o).is_empty());
                        assert_eq!(msgs > 0, available, "{asked:?} -> {polled:?}");
                    }
                    Op::Commit { offsets } => {
                        let mut fields = Vec::new();
                        for (k, o) in offsets {
                            let key = key_name(*k);
                            fields.push(format!("\"{key}\":{o}"));
                            let entry = committed.entry(key).or_insert(u64::from(*o));
                            *entry = (*entry).max(u64::from(*o));
                        }
                        // By hand, so that repeated keys reach the node.
                        h.commit_text(&format!("{{{}}}", fields.join(",")));
                    }
                    Op::List { keys } => {
                        let names: Vec<String> = keys.iter().map(|k| key_name(*k)).collect();
                        let expected: Vec<(String, u64)> = committed
                            .iter()
                            .filter(|(k, _)| names.contains(k))
                            .map(|(k, o)| (k.clone(), *o))
                            .collect();
                        assert_eq!(h.list(json!(names)), expected);
                    }
                }
            }
        });
}
