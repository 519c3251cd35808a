//! Peer messages on the wire: every part of a `sync` survives the round trip, commits
//! and sends are told apart by shape, and a wrong shape is a clear error.

use crate::ids::{Key, LogIndex, NodeId, Offset, Term};
use crate::protocol::{
    Append, Body, Entry, Fact, Forward, Message, Op, Origin, Payload, Sync, decode,
};

fn origin(node: &str, seq: u64) -> Origin {
    Origin {
        node: NodeId::new(node),
        incarnation: (1 << 52) + 3,
        seq,
    }
}

fn wrap(body: Body) -> Message {
    Message {
        src: NodeId::new("n1"),
        dest: NodeId::new("n0"),
        body,
    }
}

fn round_trip(message: &Message) -> Message {
    let mut line = Vec::new();
    message.encode(&mut line);
    decode(&line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&line)))
}

fn full_sync() -> Sync {
    let commit = vec![(Key::new("k5"), Offset(12)), (Key::new("é\"x"), Offset(0))];
    Sync {
        inc: 1_764_600_000_000_001,
        joining: true,
        ask: true,
        term: Term(3),
        leader: Some(NodeId::new("n0")),
        hb: 17,
        seq: 41,
        got: 39,
        facts: vec![Fact {
            node: NodeId::new("n0"),
            inc: 17,
            term: Term(3),
            matched: LogIndex(120),
            commit: LogIndex(118),
            hb: 17,
        }],
        append: Some(Append {
            prev: LogIndex(118),
            prev_term: Term(3),
            entries: vec![
                Entry::Send {
                    term: Term(3),
                    key: Key::new("k5"),
                    msg: Payload::parse("{\"a\":[1e400,\"}\"]}").unwrap(),
                    origin: origin("n1", 2),
                },
                Entry::Noop { term: Term(3) },
                Entry::Commit {
                    term: Term(3),
                    offsets: commit.clone(),
                    origin: origin("n2", 0),
                },
            ],
        }),
        forwards: vec![
            Forward {
                origin: origin("n1", 3),
                op: Op::Send {
                    key: Key::new("k5"),
                    msg: Payload::parse("8").unwrap(),
                },
            },
            Forward {
                origin: origin("n1", 4),
                op: Op::Commit { offsets: commit },
            },
        ],
        relay_me: true,
    }
}

#[test]
fn every_part_of_a_sync_survives_the_round_trip() {
    let message = wrap(Body::Sync(Box::new(full_sync())));
    assert_eq!(round_trip(&message), message);
    let bare = wrap(Body::Sync(Box::default()));
    assert_eq!(round_trip(&bare), bare);
}

#[test]
fn a_wrong_entry_or_forward_shape_is_a_clear_error() {
    let line = |entries: &str, fwd: &str| {
        format!(
            r#"{{"src":"n1","dest":"n0","body":{{"type":"sync","inc":5,"term":1,"hb":0,"seq":1,"got":0,"facts":[],"prev":0,"prev_term":0,"entries":{entries},"fwd":{fwd}}}}}"#
        )
    };
    let fails = |entries: &str, fwd: &str, needle: &str| {
        let bad = decode(line(entries, fwd).as_bytes()).expect_err("must be refused");
        assert!(
            bad.reason.contains(needle),
            "{entries} {fwd}: {:?} lacks {needle:?}",
            bad.reason
        );
    };
    assert!(
        decode(line(r#"[[1],[1,{"k":2},"n1",5,0]]"#, r#"[["n1",5,1,{"k":3}]]"#).as_bytes()).is_ok()
    );
    fails(r#"[[1,7,"m","n1",5,0]]"#, "[]", "a key must be a string");
    fails(r#"[[1,{"k":-1},"n1",5,0]]"#, "[]", "offset");
    fails(r#"[[1,"k","m","n1",5]]"#, "[]", "invalid length");
    fails(r#"[[1,{"k":1},"n1",5,0,9]]"#, "[]", "invalid length");
    fails("[]", r#"[["n1",5,1,"k"]]"#, "invalid length");
    fails("[]", r#"[["n1",5,1,{"k":1},"extra"]]"#, "invalid length");
}
