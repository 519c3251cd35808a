//! The node target: arbitrary sequences of well-formed and malformed inputs, with time
//! moving forward by arbitrary steps, into one Node.
//!
//! After every step:
//! - `check_invariants()` holds;
//! - every message sent passes [`super::check_outputs`]: a reply to the input's sender
//!   carrying its `msg_id`, from the node's own id, at most one, a valid closed line;
//! - nothing is sent before `init`, nor in answer to replies, ticks or messages addressed
//!   to another node;
//! - a well-formed `send` or `commit_offsets` is never answered with a definite error
//!   (spec: kafka.md 2.2, 2.4);
//! - `send_ok` offsets are dense per key: the n-th acknowledged send to a key gets offset n
//!   (core's log promises this; spec: kafka.md 2.6 items 1, 2, 7);
//! - a `poll_ok` run is, per requested key, a prefix of that key's log from the requested
//!   offset (spec: kafka.md 2.3), and `list_committed_offsets_ok` reports the highest
//!   commit per key (spec: kafka.md 2.4, 2.5).
//!
//! The model learns from the decoded input, whatever produced it, so a well-formed
//! message that a mutated envelope happened to yield is checked like any other.

use super::{
    GenKey, GenName, GenPayload, GenText, ME, TEST_ITERATIONS, check_outputs, init_message,
};
use crate::protocol::decode;
use crate::{Body, Input, Key, Message, MsgId, NodeId, Offset, Payload, Timestamp};
use bolero::{TypeGenerator, check};
use std::collections::{BTreeMap, BTreeSet};

/// How far the clock moves before a step.
#[derive(Clone, Copy, Debug, TypeGenerator)]
enum Advance {
    None,
    Micros(u16),
    Seconds(u8),
    /// Anywhere up to the end of time; the clock saturates there.
    Far(u64),
}

/// An offset in a request: mostly small, sometimes at the edge of the valid range.
#[derive(Clone, Copy, Debug, TypeGenerator)]
enum GenOffset {
    Small(#[generator(0..8u8)] u8),
    Max,
    Any(#[generator(0..=Offset::MAX.0)] u64),
}

impl GenOffset {
    fn offset(self) -> Offset {
        match self {
            GenOffset::Small(n) => Offset(u64::from(n)),
            GenOffset::Max => Offset::MAX,
            GenOffset::Any(n) => Offset(n),
        }
    }
}

/// A reply type, as if a peer or a service had answered something.
#[derive(Clone, Copy, Debug, TypeGenerator)]
enum GenReply {
    InitOk,
    SendOk(GenOffset),
    CommitOffsetsOk,
    Error(#[generator(0..40u64)] u64),
}

/// One input.
#[derive(Clone, Debug, TypeGenerator)]
enum GenInput {
    Tick,
    Init {
        from: GenName,
        node_id: GenName,
        node_ids: Vec<GenName>,
        msg_id: u64,
    },
    Send {
        from: GenName,
        key: GenKey,
        msg: GenPayload,
        msg_id: u64,
    },
    Poll {
        from: GenName,
        offsets: Vec<(GenKey, GenOffset)>,
        msg_id: u64,
    },
    CommitOffsets {
        from: GenName,
        offsets: Vec<(GenKey, GenOffset)>,
        msg_id: u64,
    },
    ListCommittedOffsets {
        from: GenName,
        keys: Vec<GenKey>,
        msg_id: u64,
    },
    Reply {
        from: GenName,
        reply: GenReply,
        in_reply_to: u64,
    },
    Unknown {
        from: GenName,
        kind: GenText,
        msg_id: Option<u64>,
    },
    /// A line of arbitrary bytes, through the decoder.
    Bytes(Vec<u8>),
    /// A line from [`super::wire`]'s near-valid envelope generator.
    Envelope(Box<super::wire::GenEnvelope>),
}

/// One step: the clock moves, then one input arrives, addressed to the node unless
/// `misaddressed` picks another destination (one step in eight).
#[derive(Clone, Debug, TypeGenerator)]
struct GenStep {
    advance: Advance,
    #[generator(0..8u8)]
    misaddressed: u8,
    input: GenInput,
}

/// A run: optionally an `init` first, then the steps.
#[derive(Clone, Debug, TypeGenerator)]
struct GenRun {
    init_first: bool,
    #[generator(1..6usize)]
    poll_msgs_max: usize,
    #[generator(0..64usize)]
    poll_bytes_max: usize,
    steps: Vec<GenStep>,
}

impl GenStep {
    fn input(&self) -> Input {
        let dest = if self.misaddressed == 0 { "n1" } else { ME };
        let message = |from: &GenName, body: Body| {
            Input::Message(Message {
                src: NodeId::new(&from.render()),
                dest: NodeId::new(dest),
                body,
            })
        };
        let offsets = |pairs: &[(GenKey, GenOffset)]| {
            pairs
                .iter()
                .map(|(k, o)| (Key::new(&k.render()), o.offset()))
                .collect()
        };
        match &self.input {
            GenInput::Tick => Input::Tick,
            GenInput::Init {
                from,
                node_id,
                node_ids,
                msg_id,
            } => message(
                from,
                Body::Init {
                    msg_id: MsgId(*msg_id),
                    node_id: NodeId::new(&node_id.render()),
                    // Only the node itself, if named at all: this target checks a single
                    // node (`fuzz_tests::cluster` checks a cluster member).
                    node_ids: node_ids
                        .iter()
                        .map(|n| n.render())
                        .filter(|n| *n == node_id.render())
                        .map(|n| NodeId::new(&n))
                        .collect(),
                },
            ),
            GenInput::Send {
                from,
                key,
                msg,
                msg_id,
            } => message(
                from,
                Body::Send {
                    msg_id: MsgId(*msg_id),
                    key: Key::new(&key.render()),
                    msg: Payload::parse(&msg.render()).expect("payloads render as JSON"),
                },
            ),
            GenInput::Poll {
                from,
                offsets: o,
                msg_id,
            } => message(
                from,
                Body::Poll {
                    msg_id: MsgId(*msg_id),
                    offsets: offsets(o),
                },
            ),
            GenInput::CommitOffsets {
                from,
                offsets: o,
                msg_id,
            } => message(
                from,
                Body::CommitOffsets {
                    msg_id: MsgId(*msg_id),
                    offsets: offsets(o),
                },
            ),
            GenInput::ListCommittedOffsets { from, keys, msg_id } => message(
                from,
                Body::ListCommittedOffsets {
                    msg_id: MsgId(*msg_id),
                    keys: keys.iter().map(|k| Key::new(&k.render())).collect(),
                },
            ),
            GenInput::Reply {
                from,
                reply,
                in_reply_to,
            } => {
                let in_reply_to = MsgId(*in_reply_to);
                let body = match *reply {
                    GenReply::InitOk => Body::InitOk { in_reply_to },
                    GenReply::SendOk(offset) => Body::SendOk {
                        in_reply_to,
                        offset: offset.offset(),
                    },
                    GenReply::CommitOffsetsOk => Body::CommitOffsetsOk { in_reply_to },
                    GenReply::Error(code) => Body::Error {
                        in_reply_to,
                        code: crate::ErrorCode(code),
                        text: String::new(),
                    },
                };
                message(from, body)
            }
            GenInput::Unknown { from, kind, msg_id } => {
                // The raw body an `Other` keeps is what the decoder would have read.
                let line = serde_json::json!({
                    "src": from.render(),
                    "dest": dest,
                    "body": {"type": kind.render(), "msg_id": msg_id},
                });
                line_input(line.to_string().as_bytes())
            }
            GenInput::Bytes(bytes) => line_input(bytes),
            GenInput::Envelope(envelope) => line_input(&envelope.render()),
        }
    }
}

/// What `io` would hand the node for one line.
fn line_input(line: &[u8]) -> Input {
    match decode(line) {
        Ok(message) => Input::Message(message),
        Err(malformed) => Input::Malformed(malformed),
    }
}

/// What the node must have done so far, learned from its inputs and its answers.
#[derive(Default)]
struct Model {
    id: Option<NodeId>,
    /// Every acknowledged message per key, in offset order.
    logs: BTreeMap<Key, Vec<String>>,
    /// Keys whose content is unknown: a send to them got an indefinite error, so it may
    /// or may not have been appended.
    uncertain: BTreeSet<Key>,
    /// The highest committed offset per key.
    committed: BTreeMap<Key, Offset>,
    /// Whether a commit got an indefinite error, so that committed offsets are unknown.
    commits_uncertain: bool,
}

impl Model {
    /// Checks the messages one step sent against the model, and learns from them.
    fn step(&mut self, input: &Input, sent: &[Message]) {
        let Input::Message(message) = input else {
            // Ticks are never answered; a malformed line may be answered (with an
            // error, checked by check_outputs) only once the node knows its id.
            if self.id.is_none() || matches!(input, Input::Tick) {
                assert!(sent.is_empty(), "{input:?} was answered: {sent:?}");
            }
            for reply in sent {
                assert!(
                    matches!(reply.body, Body::Error { .. }),
                    "a malformed line got a non-error answer: {reply:?}"
                );
            }
            return;
        };
        let Some(id) = self.id.clone() else {
            // spec: kafka.md 1.2 — nothing is sent before init gives the node its id;
            // init itself is then answered with init_ok.
            if let Body::Init { node_id, .. } = &message.body {
                assert!(
                    matches!(
                        sent,
                        [Message {
                            body: Body::InitOk { .. },
                            ..
                        }]
                    ),
                    "init got {sent:?}"
                );
                self.id = Some(node_id.clone());
            } else {
                assert!(sent.is_empty(), "sent {sent:?} before init");
            }
            return;
        };
        let is_request = match &message.body {
            Body::Other { in_reply_to, .. } => in_reply_to.is_none(),
            body => body.in_reply_to().is_none(),
        };
        if message.dest != id || !is_request || message.body.msg_id().is_none() {
            assert!(
                sent.is_empty(),
                "answered {message:?}, which is not a request to this node: {sent:?}"
            );
            return;
        }
        let reply = match sent {
            [reply] => &reply.body,
            _ => panic!("the request {message:?} got {} replies", sent.len()),
        };
        let indefinite = |body: &Body| match body {
            Body::Error { code, .. } => {
                assert!(
                    !code.is_definite(),
                    "a definite error for a well-formed {}: {body:?}",
                    message.body.kind()
                );
                true
            }
            _ => false,
        };
        match &message.body {
            Body::Send { key, msg, .. } => {
                if indefinite(reply) {
                    self.uncertain.insert(key.clone());
                    return;
                }
                let Body::SendOk { offset, .. } = reply else {
                    panic!("send got {reply:?}");
                };
                if !self.uncertain.contains(key) {
                    let log = self.logs.entry(key.clone()).or_default();
                    assert_eq!(
                        offset.0,
                        log.len() as u64,
                        "send_ok offsets of {key:?} are not dense"
                    );
                    log.push(msg.as_str().to_string());
                }
            }
            Body::CommitOffsets { offsets, .. } => {
                if indefinite(reply) {
                    self.commits_uncertain = true;
                    return;
                }
                assert!(
                    matches!(reply, Body::CommitOffsetsOk { .. }),
                    "commit_offsets got {reply:?}"
                );
                for (key, offset) in offsets {
                    let committed = self.committed.entry(key.clone()).or_default();
                    *committed = (*committed).max(*offset);
                }
            }
            Body::Poll { offsets, .. } => {
                let Body::PollOk { msgs, .. } = reply else {
                    panic!("poll got {reply:?}");
                };
                let mut wanted: BTreeMap<&Key, Offset> = BTreeMap::new();
                for (key, offset) in offsets {
                    let from = wanted.entry(key).or_insert(*offset);
                    *from = (*from).min(*offset);
                }
                let mut seen = BTreeSet::new();
                for run in msgs {
                    assert!(seen.insert(&run.key), "poll_ok names {:?} twice", run.key);
                    let from = *wanted
                        .get(&run.key)
                        .unwrap_or_else(|| panic!("poll_ok returns unasked {:?}", run.key));
                    if self.uncertain.contains(&run.key) {
                        continue;
                    }
                    let log = self.logs.get(&run.key).map_or(&[][..], Vec::as_slice);
                    for (i, (offset, text)) in run.iter().enumerate() {
                        let expected = from.0.checked_add(i as u64).expect("offsets fit");
                        assert_eq!(offset.0, expected, "poll_ok of {:?} is not a run", run.key);
                        let stored = usize::try_from(expected).ok().and_then(|o| log.get(o));
                        assert_eq!(
                            Some(text),
                            stored.map(String::as_str),
                            "poll_ok of {:?} at {offset} is not what was sent",
                            run.key
                        );
                    }
                }
            }
            Body::ListCommittedOffsets { keys, .. } => {
                let Body::ListCommittedOffsetsOk { offsets, .. } = reply else {
                    panic!("list_committed_offsets got {reply:?}");
                };
                if self.commits_uncertain {
                    return;
                }
                let expected: BTreeSet<(&Key, &Offset)> = keys
                    .iter()
                    .filter_map(|k| self.committed.get_key_value(k))
                    .collect();
                let got: BTreeSet<(&Key, &Offset)> = offsets.iter().map(|(k, o)| (k, o)).collect();
                assert_eq!(got, expected, "list_committed_offsets_ok is wrong");
            }
            // Everything else is checked by check_outputs alone.
            _ => {}
        }
    }
}

/// Runs one generated sequence through a fresh node, checking every step.
fn run(case: &GenRun) {
    let mut node = super::fresh_node(case.poll_msgs_max, case.poll_bytes_max);
    let mut model = Model::default();
    let mut now = Timestamp::ZERO;
    let first = case
        .init_first
        .then(|| (Advance::None, Input::Message(init_message())));
    let steps = case.steps.iter().map(|s| (s.advance, s.input()));
    for (advance, input) in first.into_iter().chain(steps) {
        now = match advance {
            Advance::None => now,
            Advance::Micros(us) => now.add_micros(u64::from(us)),
            Advance::Seconds(s) => now.add_micros(u64::from(s) * 1_000_000),
            Advance::Far(us) => now.add_micros(us),
        };
        let before = node.id().cloned();
        let outputs = node.step(now, input.clone());
        if node.cluster().len() > 1 {
            // A generated init made the node a cluster member, whose answers this model
            // does not describe; `fuzz_tests::cluster` checks those.
            node.check_invariants();
            return;
        }
        // Whatever the node sends for this input goes out under the id it had, or the
        // id init just gave it.
        let me = node.id().cloned().or(before);
        let sent = check_outputs(me.as_ref(), &input, &outputs);
        node.check_invariants();
        model.step(&input, &sent);
        assert_eq!(node.id(), model.id.as_ref(), "the node's id drifted");
        if let Some(deadline) = node.next_deadline() {
            assert!(
                deadline >= now,
                "a deadline in the past: {deadline} < {now}"
            );
        }
    }
}

#[test]
fn node_steps() {
    check!()
        .with_iterations(TEST_ITERATIONS)
        .with_type::<GenRun>()
        .for_each(run);
}
