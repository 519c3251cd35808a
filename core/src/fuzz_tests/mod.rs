//! Fuzz targets for core: bolero `check!()` tests that run a bounded number of cases
//! under plain `cargo test` and run without end as fuzzers under `cargo bolero test`.
//!
//! - [`wire`]: arbitrary bytes and near-valid JSON envelopes through the decoder and a
//!   Node; every line the node writes is a valid closed envelope that decodes back.
//! - [`node`]: arbitrary input sequences, time moving forward, into one Node; the
//!   product rules and `check_invariants()` hold after every step.
//! - [`cluster`]: one Node in a 3- or 5-node cluster whose peers are a small Raft the
//!   fuzzer drives plus hostile peer messages; the node's answers, its packets and its
//!   invariants hold after every step.
//! - [`log_model`]: sends, polls and commits against a `BTreeMap` oracle.
//! - [`fast_path`]: the decoder's fast path against the full decoder on any line; where
//!   the fast path decodes a line, the full decoder gives the same message.
//!
//! This module holds what the targets share: generators for names, keys, texts and
//! payloads that favour the values that matter (the node's own id, a handful of keys,
//! awkward Unicode), and the checks every line the node writes must pass.
//!
//! Generators are `TypeGenerator` derives over small enums rather than raw bytes, so a
//! failure shrinks to a short, readable case.
//!
//! # Running
//! - `cargo test -p replicator-core fuzz_tests` runs each target for [`TEST_ITERATIONS`]
//!   random cases plus every file of its committed corpus, on stable Rust. A failure
//!   prints the shrunk input and a `BOLERO_RANDOM_SEED=…` that replays it.
//! - As a fuzzer (nightly and `cargo install cargo-bolero` needed), one target at a
//!   time, for example for ten minutes:
//!   `cargo +nightly bolero test -p replicator-core fuzz_tests::wire::wire_envelopes -T 600s`
//!   (the other targets: `fuzz_tests::wire::wire_bytes`, `fuzz_tests::node::node_steps`,
//!   `fuzz_tests::cluster::cluster_steps`, `fuzz_tests::log_model::log_model`,
//!   `fuzz_tests::fast_path::fast_path_agrees`). It builds with the workspace's `fuzz` profile.
//!   The byte-level target gets much further with the envelope tokens of `json.dict`:
//!   add `--engine-args=-dict=core/src/fuzz_tests/json.dict` (an absolute path is safest).
//! - Corpora live in `__fuzz__/<target path joined by __>/corpus` beside this file, and
//!   crashes in `.../crashes`; plain `cargo test` replays both. After a run, shrink the
//!   corpus to the inputs that add an edge before committing it:
//!   `cargo +nightly bolero reduce -p replicator-core fuzz_tests::wire::wire_envelopes
//!   --engine-args=-use_counters=0`. That keeps about one file in four; running it again
//!   with `--engine-args=-set_cover_merge=1` added halves that again for about 1% of the
//!   edges, which keeps every committed corpus to a few hundred files.

mod cluster;
mod fast_path;
mod log_model;
mod node;
mod wire;

use crate::protocol::decode;
use crate::{Body, Config, Input, Message, MsgId, Node, NodeId, Output};
use bolero::TypeGenerator;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Random cases each target runs under plain `cargo test`, chosen to keep each target to
/// a few seconds in a debug build. Fuzzers ignore it and run until stopped;
/// `BOLERO_RANDOM_ITERATIONS` overrides it for a longer local run.
const TEST_ITERATIONS: usize = 2_000;

/// The id every fuzzed node is initialised with.
const ME: &str = "n0";

/// Strings that have broken JSON code before: escapes, control characters, line and
/// paragraph separators, a byte-order mark, characters outside the basic plane.
const ODD_TEXTS: &[&str] = &[
    "", "\"", "\\", "\u{0}", "\u{1f}", "\u{7f}", "\u{2028}", "\u{feff}", "é", "😀", "a\nb", "\r\n",
    "\t", "n0\u{0}", "n0 ", "c", "}", "{\"",
];

/// A string drawn mostly from a few plain names and [`ODD_TEXTS`].
#[derive(Clone, Debug, TypeGenerator)]
enum GenText {
    /// `"0"` to `"3"`: the generator's own key style.
    Digit(#[generator(0..4u8)] u8),
    /// One of [`ODD_TEXTS`].
    Odd(#[generator(0..ODD_TEXTS.len())] usize),
    /// One arbitrary character.
    Char(char),
    /// Anything at all.
    Any(String),
}

impl GenText {
    fn render(&self) -> String {
        match self {
            GenText::Digit(d) => d.to_string(),
            GenText::Odd(i) => ODD_TEXTS[*i].to_string(),
            GenText::Char(c) => c.to_string(),
            GenText::Any(s) => s.clone(),
        }
    }
}

/// A participant: the node itself, its peer, a few clients, a service, or anything.
#[derive(Clone, Debug, TypeGenerator)]
enum GenName {
    Me,
    Peer,
    Client(#[generator(0..3u8)] u8),
    LinKv,
    Text(GenText),
}

impl GenName {
    fn render(&self) -> String {
        match self {
            GenName::Me => ME.to_string(),
            GenName::Peer => "n1".to_string(),
            GenName::Client(k) => format!("c{k}"),
            GenName::LinKv => "lin-kv".to_string(),
            GenName::Text(t) => t.render(),
        }
    }
}

/// A key: mostly one of four, so that sends and polls meet, sometimes odd text.
#[derive(Clone, Debug, TypeGenerator)]
enum GenKey {
    Small(#[generator(0..4u8)] u8),
    Text(GenText),
}

impl GenKey {
    fn render(&self) -> String {
        match self {
            GenKey::Small(k) => k.to_string(),
            GenKey::Text(t) => t.render(),
        }
    }
}

/// A well-formed message payload: any JSON value, rendered compactly.
#[derive(Clone, Debug, TypeGenerator)]
enum GenPayload {
    /// What Maelstrom sends: 1 to 16.
    Small(#[generator(1..17u8)] u8),
    Int(i64),
    /// A finite float; non-finite ones have no JSON form.
    Float(f64),
    Text(GenText),
    Null,
    Bool(bool),
    Array(Vec<u8>),
    Object(Vec<(GenText, u8)>),
    /// Written with spaces inside, which must come back byte for byte.
    Spaced(u8, u8),
}

impl GenPayload {
    fn value(&self) -> Value {
        match self {
            GenPayload::Small(n) => Value::from(*n),
            GenPayload::Int(n) => Value::from(*n),
            GenPayload::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            GenPayload::Text(t) => Value::from(t.render()),
            GenPayload::Null => Value::Null,
            GenPayload::Bool(b) => Value::from(*b),
            GenPayload::Array(items) => Value::from(items.clone()),
            GenPayload::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.render(), Value::from(*v)))
                    .collect(),
            ),
            GenPayload::Spaced(a, b) => Value::from(vec![*a, *b]),
        }
    }

    /// The payload's JSON text.
    fn render(&self) -> String {
        match self {
            GenPayload::Spaced(a, b) => format!("[ {a} ,\t{b} ]"),
            other => other.value().to_string(),
        }
    }
}

/// Where a reply to `input` must go, and the `in_reply_to` it must carry, if the node may
/// answer it at all.
fn reply_target(input: &Input) -> Option<(NodeId, MsgId)> {
    match input {
        Input::Message(m) => Some((m.src.clone(), m.body.msg_id()?)),
        Input::Malformed(bad) => Some((bad.src.clone()?, bad.msg_id?)),
        Input::Tick => None,
    }
}

/// The messages a step sent, each checked against the rules every output obeys: it is a
/// reply to the step's input (spec: kafka.md 1.4: replies go to the request's sender and
/// carry its `msg_id`), from the node's own id, at most one per input, and it encodes as
/// a valid closed line that decodes back to itself.
fn check_outputs(me: Option<&NodeId>, input: &Input, outputs: &[Output]) -> Vec<Message> {
    let sent: Vec<Message> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(m) => Some(m.clone()),
            Output::Log(_) => None,
        })
        .collect();
    assert!(
        sent.len() <= 1,
        "one input got {} replies: {sent:?}",
        sent.len()
    );
    for message in &sent {
        let me = me.expect("spec: kafka.md 1.2 — nothing may be sent before init");
        assert_eq!(&message.src, me, "a message not from the node's own id");
        let (to, msg_id) = reply_target(input)
            .unwrap_or_else(|| panic!("{message:?} answers {input:?}, which has no sender"));
        assert_eq!(message.dest, to, "a reply to someone other than the sender");
        assert_eq!(
            message.body.in_reply_to(),
            Some(msg_id),
            "a reply that does not answer the request's msg_id"
        );
        check_line(message);
    }
    sent
}

/// spec: kafka.md 1.2 — one compact JSON object per line, with exactly `src`, `dest` and
/// `body`; and it decodes back to the same message.
///
/// The line is read with `RawValue`s rather than into a `serde_json::Value`: a payload is
/// any JSON text, and numbers such as `1e400` are valid JSON that a `Value` cannot hold.
fn check_line(message: &Message) {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Closed<'a> {
        #[allow(dead_code)]
        src: String,
        #[allow(dead_code)]
        dest: String,
        #[serde(borrow)]
        body: &'a RawValue,
    }
    let mut line = Vec::new();
    message.encode(&mut line);
    let (last, text) = line
        .split_last()
        .expect("an encoded message is never empty");
    assert_eq!(*last, b'\n', "an encoded line must end in a newline");
    assert!(
        !text.contains(&b'\n'),
        "an encoded line holds a second newline: {:?}",
        String::from_utf8_lossy(&line)
    );
    let closed: Closed<'_> = serde_json::from_slice(text).unwrap_or_else(|e| {
        panic!(
            "{:?} is not a closed envelope: {e}",
            String::from_utf8_lossy(text)
        )
    });
    if !matches!(message.body, Body::Other { .. }) {
        check_body_schema(closed.body);
    }
    assert_eq!(
        decode(text).as_ref(),
        Ok(message),
        "the line does not decode back"
    );
}

/// spec: kafka.md 1.7 — Maelstrom checks each kafka reply against a closed schema; an
/// extra field, a missing one or a wrong type makes the operation fail.
fn check_body_schema(body: &RawValue) {
    let object: BTreeMap<String, &RawValue> =
        serde_json::from_str(body.get()).expect("a body must be a JSON object");
    let field = |name: &str| -> Value {
        let raw = object
            .get(name)
            .unwrap_or_else(|| panic!("no {name}: {body}"));
        serde_json::from_str(raw.get()).unwrap_or_else(|e| panic!("{name}: {e}: {body}"))
    };
    let kind = field("type");
    let kind = kind.as_str().expect("a body's type is a string");
    let is_offset = |v: &Value| v.as_u64().is_some_and(|o| o <= i64::MAX as u64);
    let (required, optional): (&[&str], &[&str]) = match kind {
        "init_ok" | "commit_offsets_ok" => (&["in_reply_to"], &[]),
        "send_ok" => {
            assert!(is_offset(&field("offset")), "send_ok offset: {body}");
            (&["in_reply_to", "offset"], &[])
        }
        "poll_ok" => {
            // Payloads stay raw: they are any JSON text, and only their offsets matter.
            let msgs = object.get("msgs").expect("poll_ok has msgs");
            let runs: BTreeMap<String, Vec<(u64, &RawValue)>> = serde_json::from_str(msgs.get())
                .unwrap_or_else(|e| panic!("poll_ok msgs: {e}: {body}"));
            let offsets = runs.values().flatten().map(|(o, _)| Value::from(*o));
            assert!(
                offsets.clone().all(|o| is_offset(&o)),
                "poll_ok offsets: {body}"
            );
            (&["in_reply_to", "msgs"], &[])
        }
        "list_committed_offsets_ok" => {
            let offsets = field("offsets");
            let offsets = offsets.as_object().expect("offsets is an object");
            assert!(offsets.values().all(is_offset), "bad offsets: {body}");
            (&["in_reply_to", "offsets"], &[])
        }
        "error" => {
            assert!(field("code").is_u64(), "error code: {body}");
            assert!(object.get("text").is_none_or(|_| field("text").is_string()));
            (&["code", "in_reply_to"], &["text"])
        }
        // The node sends nothing else yet; peer messages have no fixed schema.
        _ => return,
    };
    assert!(field("in_reply_to").is_u64(), "in_reply_to: {body}");
    for name in required {
        assert!(object.contains_key(*name), "{kind} lacks {name}: {body}");
    }
    for name in object.keys() {
        assert!(
            name == "type" || required.contains(&&**name) || optional.contains(&&**name),
            "{kind} has an extra field {name}: {body}"
        );
    }
}

/// `count` values of `T` generated from fixed pseudo-random bytes (splitmix64 from
/// `seed`, `words` 64-bit words per case), `None` where the generator refuses the bytes.
/// Tests that measure what a generator reaches use these rather than `check!()`, whose
/// seed changes from run to run: a proportion measured on a fresh sample each time would
/// make a flaky test.
fn fixed_cases<T: TypeGenerator>(
    seed: u64,
    words: usize,
    count: usize,
) -> impl Iterator<Item = Option<T>> {
    use bolero::generator::bolero_generator::driver::{ByteSliceDriver, Options};
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..count).map(move |_| {
        let bytes: Vec<u8> = (0..words).flat_map(|_| next().to_le_bytes()).collect();
        T::generate(&mut ByteSliceDriver::new(&bytes, &Options::default()))
    })
}

/// A fresh node on seed 0 with the generated poll caps, as the stateful targets start
/// each run. Their generators keep `poll_msgs_max` at 1 or more, the one cap `Node::new`
/// refuses, so the expect marks a broken generator, not an input.
fn fresh_node(poll_msgs_max: usize, poll_bytes_max: usize) -> Node {
    let config = Config {
        seed: 0,
        poll_msgs_max,
        poll_bytes_max,
        ..Config::default()
    };
    Node::new(config).expect("poll_msgs_max is at least 1")
}

/// The `init` every fuzzed node is started with, unless a target tests what comes before.
fn init_message() -> Message {
    Message {
        src: NodeId::new("c0"),
        dest: NodeId::new(ME),
        body: Body::Init {
            msg_id: MsgId(1),
            node_id: NodeId::new(ME),
            // One node: these targets check a single node's answers; a cluster member
            // answers sends only once a majority holds them (see `fuzz_tests::cluster`).
            node_ids: vec![NodeId::new(ME)],
        },
    }
}
