//! The log model target: sends, polls and commits through a Node, against an oracle of
//! two `BTreeMap`s, one holding each key's messages in order and one each key's highest
//! commit.
//!
//! Every answer must equal the oracle's exactly:
//! - `send_ok` carries the key's next offset: logs are dense from 0 (core/src/log.rs);
//! - `poll_ok` carries, per requested key in key order, the oracle's log from the lowest
//!   offset requested for that key (spec: kafka.md 2.3: a prefix, nothing skipped), cut
//!   by the budget rules of core/src/log.rs: at most `poll_msgs_max` messages over the
//!   reply, and a message only if its text fits the bytes left, except the reply's first
//!   message, which is always taken; a key stops at the first message that does not fit,
//!   and keys with nothing to return are left out;
//! - `list_committed_offsets_ok` carries the highest commit of each asked key that has
//!   one, in key order (spec: kafka.md 2.4, 2.5).
//!
//! Small budgets (1 to 5 messages, 0 to 63 bytes) and four keys make the cut-offs and
//! the shared budget across keys come up in most cases.

use super::{GenPayload, TEST_ITERATIONS, init_message};
use crate::{Body, Input, Key, Message, MsgId, Node, NodeId, Offset, Output, Payload};
use crate::{MsgRun, Timestamp};
use bolero::{TypeGenerator, check};
use std::collections::BTreeMap;

/// One of four keys.
#[derive(Clone, Copy, Debug, TypeGenerator)]
struct GenKey(#[generator(0..4u8)] u8);

impl GenKey {
    fn key(self) -> String {
        format!("k{}", self.0)
    }
}

/// An offset near the logs' ends, or far past them.
#[derive(Clone, Copy, Debug, TypeGenerator)]
enum GenOffset {
    Near(#[generator(0..12u8)] u8),
    Far(#[generator(0..=Offset::MAX.0)] u64),
}

impl GenOffset {
    fn offset(self) -> Offset {
        match self {
            GenOffset::Near(n) => Offset(u64::from(n)),
            GenOffset::Far(n) => Offset(n),
        }
    }
}

#[derive(Clone, Debug, TypeGenerator)]
enum Op {
    Send(GenKey, GenPayload),
    Poll(Vec<(GenKey, GenOffset)>),
    Commit(Vec<(GenKey, GenOffset)>),
    List(Vec<GenKey>),
}

#[derive(Clone, Debug, TypeGenerator)]
struct GenRun {
    #[generator(1..6usize)]
    poll_msgs_max: usize,
    #[generator(0..64usize)]
    poll_bytes_max: usize,
    ops: Vec<Op>,
}

/// The oracle: what a log service must hold, in the simplest form.
#[derive(Default)]
struct Oracle {
    logs: BTreeMap<String, Vec<String>>,
    commits: BTreeMap<String, u64>,
}

impl Oracle {
    fn send(&mut self, key: &str, msg: &str) -> u64 {
        let log = self.logs.entry(key.to_string()).or_default();
        log.push(msg.to_string());
        log.len() as u64 - 1
    }

    fn poll(&self, offsets: &[(String, u64)], msgs_max: usize, bytes_max: usize) -> PollAnswer {
        let mut from: BTreeMap<&str, u64> = BTreeMap::new();
        for (key, offset) in offsets {
            let f = from.entry(key).or_insert(*offset);
            *f = (*f).min(*offset);
        }
        let (mut msgs_left, mut bytes_left, mut first) = (msgs_max, bytes_max, true);
        let mut answer = PollAnswer::new();
        for (key, from) in from {
            let Some(log) = self.logs.get(key) else {
                continue;
            };
            let mut run = Vec::new();
            for (offset, msg) in log.iter().enumerate().skip(from as usize) {
                if msgs_left == 0 || (!first && msg.len() > bytes_left) {
                    break;
                }
                msgs_left -= 1;
                bytes_left = bytes_left.saturating_sub(msg.len());
                first = false;
                run.push((offset as u64, msg.clone()));
            }
            if !run.is_empty() {
                answer.insert(key.to_string(), run);
            }
        }
        answer
    }

    fn commit(&mut self, offsets: &[(String, u64)]) {
        for (key, offset) in offsets {
            let c = self.commits.entry(key.clone()).or_insert(*offset);
            *c = (*c).max(*offset);
        }
    }

    fn list(&self, keys: &[String]) -> BTreeMap<String, u64> {
        keys.iter()
            .filter_map(|k| Some((k.clone(), *self.commits.get(k)?)))
            .collect()
    }
}

/// A poll's answer in the oracle's terms: per key, `(offset, text)` pairs.
type PollAnswer = BTreeMap<String, Vec<(u64, String)>>;

fn poll_answer(msgs: &[MsgRun]) -> PollAnswer {
    let answer: PollAnswer = msgs
        .iter()
        .map(|run| {
            let pairs = run.iter().map(|(o, m)| (o.0, m.to_string())).collect();
            (run.key.as_str().to_string(), pairs)
        })
        .collect();
    assert_eq!(
        answer.len(),
        msgs.len(),
        "poll_ok names a key twice: {msgs:?}"
    );
    let keys: Vec<&Key> = msgs.iter().map(|r| &r.key).collect();
    assert!(keys.is_sorted(), "poll_ok keys are out of order: {msgs:?}");
    answer
}

/// Sends `body` from a client and returns the one reply body.
fn request(node: &mut Node, msg_id: u64, body: Body) -> Body {
    let input = Input::Message(Message {
        src: NodeId::new("c1"),
        dest: NodeId::new(super::ME),
        body,
    });
    let outputs = node.step(Timestamp::ZERO, input.clone());
    let sent = super::check_outputs(node.id(), &input, &outputs);
    assert_eq!(sent.len(), 1, "{input:?} got {outputs:?}");
    assert_eq!(sent[0].body.in_reply_to(), Some(MsgId(msg_id)));
    sent.into_iter().next().expect("one reply").body
}

fn run(case: &GenRun) {
    let mut node = super::fresh_node(case.poll_msgs_max, case.poll_bytes_max);
    let init = node.step(Timestamp::ZERO, Input::Message(init_message()));
    assert!(matches!(init.as_slice(), [Output::Log(_), Output::Send(_)]));
    let mut oracle = Oracle::default();
    let pairs = |list: &[(GenKey, GenOffset)]| -> Vec<(String, u64)> {
        list.iter().map(|(k, o)| (k.key(), o.offset().0)).collect()
    };
    for (i, op) in case.ops.iter().enumerate() {
        let msg_id = i as u64 + 2;
        let id = MsgId(msg_id);
        match op {
            Op::Send(key, msg) => {
                let text = msg.render();
                let body = Body::Send {
                    msg_id: id,
                    key: Key::new(&key.key()),
                    msg: Payload::parse(&text).expect("payloads render as JSON"),
                };
                let expected = oracle.send(&key.key(), &text);
                match request(&mut node, msg_id, body) {
                    Body::SendOk { offset, .. } => assert_eq!(offset.0, expected),
                    other => panic!("send got {other:?}"),
                }
            }
            Op::Poll(list) => {
                let offsets = pairs(list);
                let body = Body::Poll {
                    msg_id: id,
                    offsets: offsets
                        .iter()
                        .map(|(k, o)| (Key::new(k), Offset(*o)))
                        .collect(),
                };
                let expected = oracle.poll(&offsets, case.poll_msgs_max, case.poll_bytes_max);
                match request(&mut node, msg_id, body) {
                    Body::PollOk { msgs, .. } => assert_eq!(poll_answer(&msgs), expected),
                    other => panic!("poll got {other:?}"),
                }
            }
            Op::Commit(list) => {
                let offsets = pairs(list);
                let body = Body::CommitOffsets {
                    msg_id: id,
                    offsets: offsets
                        .iter()
                        .map(|(k, o)| (Key::new(k), Offset(*o)))
                        .collect(),
                };
                oracle.commit(&offsets);
                let reply = request(&mut node, msg_id, body);
                assert!(matches!(reply, Body::CommitOffsetsOk { .. }), "{reply:?}");
            }
            Op::List(keys) => {
                let keys: Vec<String> = keys.iter().map(|k| k.key()).collect();
                let body = Body::ListCommittedOffsets {
                    msg_id: id,
                    keys: keys.iter().map(|k| Key::new(k)).collect(),
                };
                let expected = oracle.list(&keys);
                match request(&mut node, msg_id, body) {
                    Body::ListCommittedOffsetsOk { offsets, .. } => {
                        let got: Vec<(String, u64)> = offsets
                            .iter()
                            .map(|(k, o)| (k.as_str().to_string(), o.0))
                            .collect();
                        let expected: Vec<(String, u64)> = expected.into_iter().collect();
                        assert_eq!(got, expected);
                    }
                    other => panic!("list_committed_offsets got {other:?}"),
                }
            }
        }
        node.check_invariants();
    }
    assert_eq!(
        node.message_count(),
        oracle.logs.values().map(|l| l.len() as u64).sum::<u64>()
    );
}

#[test]
fn log_model() {
    check!()
        .with_iterations(TEST_ITERATIONS)
        .with_type::<GenRun>()
        .for_each(run);
}
