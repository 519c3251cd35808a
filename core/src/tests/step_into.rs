//! `Node::step_into`, the reused-buffer form of `step` that `io` drives: it must append
//! exactly what `step` returns and never touch what the buffer already holds.

use crate::protocol::decode;
use crate::{Config, Input, Node, Output, Timestamp};

#[test]
fn step_into_appends_what_step_returns_and_keeps_the_rest() {
    let lines = [
        r#"{"src":"c1","dest":"n0","body":{"type":"send","key":"a","msg":1,"msg_id":1}}"#,
        r#"{"src":"c0","dest":"n0","body":{"type":"init","msg_id":1,"node_id":"n0","node_ids":["n0"]}}"#,
        r#"{"src":"c1","dest":"n0","body":{"type":"send","key":"a","msg":1,"msg_id":2}}"#,
        r#"{"src":"c1","dest":"n0","body":{"type":"send","key":"b","msg":[2],"msg_id":3}}"#,
        r#"{"src":"c1","dest":"n0","body":{"type":"send","key":"a","msg":3,"msg_id":4}}"#,
        r#"{"src":"c2","dest":"n0","body":{"type":"poll","offsets":{"a":0,"b":0,"z":0},"msg_id":5}}"#,
        r#"{"src":"c2","dest":"n0","body":{"type":"commit_offsets","offsets":{"a":1},"msg_id":6}}"#,
        r#"{"src":"c2","dest":"n0","body":{"type":"list_committed_offsets","keys":["a","b"],"msg_id":7}}"#,
        r#"{"src":"c2","dest":"n0","body":{"type":"poll","offsets":{"a":-1},"msg_id":8}}"#,
        r#"{"src":"c2","dest":"n0","body":{"type":"frobnicate","msg_id":9}}"#,
        r#"not json"#,
        r#"{"src":"c2","dest":"n9","body":{"type":"send","key":"a","msg":4,"msg_id":10}}"#,
    ];
    let input = |line: &str| match decode(line.as_bytes()) {
        Ok(message) => Input::Message(message),
        Err(malformed) => Input::Malformed(malformed),
    };
    let mut fresh = Node::new(Config::default()).expect("valid config");
    let mut reused = Node::new(Config::default()).expect("valid config");
    let sentinel = Output::Log("written before the first step".into());
    let mut buffer = vec![sentinel.clone()];
    let mut expected = vec![sentinel];
    for (i, line) in lines.iter().enumerate() {
        let now = Timestamp(i as u64 * 10);
        expected.extend(fresh.step(now, input(line)));
        reused.step_into(now, input(line), &mut buffer);
        assert_eq!(buffer, expected, "after line {i}: {line}");
    }
    assert!(
        expected
            .iter()
            .filter(|o| matches!(o, Output::Send(_)))
            .count()
            >= 9,
        "the session should have produced replies: {expected:?}"
    );
}
