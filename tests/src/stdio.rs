//! The real `replicator` binary over stdin and stdout, as Maelstrom drives it
//! (spec: kafka.md 1.1-1.2): a scripted session kept as a snapshot, a hostile session,
//! and the framing of lines.
//!
//! Every wait is bounded: a reader thread per pipe hands lines over a channel and the
//! tests wait with `recv_timeout`, and stdin is written from its own thread, so a hung
//! or crashed binary fails the test instead of hanging it.

use crate::bin_path;
use replicator_core::Body;
use replicator_core::protocol::decode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any single wait may take; generous, because the machine is shared.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A running `replicator` process.
struct Session {
    child: Child,
    /// Bytes to write to stdin; dropping it closes stdin.
    stdin: Option<Sender<Vec<u8>>>,
    /// stdout, one line at a time, each with its newline if it had one.
    stdout: Receiver<Vec<u8>>,
    /// All of stderr, once the process closes it.
    stderr: Receiver<String>,
}

/// What a session left behind when it ended.
struct Ended {
    status: ExitStatus,
    /// stdout lines not read before the end.
    stdout: Vec<Vec<u8>>,
    stderr: String,
}

impl Session {
    fn start() -> Session {
        // A fixed seed: the node draws nothing from it yet, but a replay should match.
        let mut child = Command::new(bin_path::replicator())
            .args(["--seed", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the replicator binary starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");

        let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>();
        thread::spawn(move || write_all(stdin, in_rx));

        let (out_tx, out_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if out_tx.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });

        let (err_tx, err_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            let _ = err_tx.send(String::from_utf8_lossy(&text).into_owned());
        });

        Session {
            child,
            stdin: Some(in_tx),
            stdout: out_rx,
            stderr: err_rx,
        }
    }

    /// Queues bytes for stdin.
    fn write(&self, bytes: &[u8]) {
        self.stdin
            .as_ref()
            .expect("stdin is open")
            .send(bytes.to_vec())
            .expect("the stdin writer is running");
    }

    /// The next stdout line, waiting at most [`TIMEOUT`].
    fn read_line(&self) -> Vec<u8> {
        match self.stdout.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("no reply within {TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("stdout closed before a reply"),
        }
    }

    /// Writes `request` as one line and returns the reply line, checked for framing.
    fn exchange(&self, request: &str) -> String {
        self.write(format!("{request}\n").as_bytes());
        let line = self.read_line();
        envelope(&line);
        String::from_utf8(line)
            .expect("checked UTF-8")
            .trim_end()
            .to_string()
    }

    /// Closes stdin and waits, bounded, for the process to exit and its pipes to close.
    fn end(mut self) -> Ended {
        drop(self.stdin.take());
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            match self
                .child
                .try_wait()
                .expect("the process can be waited for")
            {
                Some(status) => break status,
                None if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    panic!("the process did not exit within {TIMEOUT:?} of EOF");
                }
                None => thread::sleep(Duration::from_millis(5)),
            }
        };
        let mut stdout = Vec::new();
        loop {
            match self.stdout.recv_timeout(TIMEOUT) {
                Ok(line) => stdout.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stdout stayed open after exit"),
            }
        }
        let stderr = self
            .stderr
            .recv_timeout(TIMEOUT)
            .expect("stderr closes after exit");
        Ended {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A test that failed half way must not leave its process behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn write_all(mut stdin: ChildStdin, chunks: Receiver<Vec<u8>>) {
    for chunk in chunks {
        if stdin
            .write_all(&chunk)
            .and_then(|()| stdin.flush())
            .is_err()
        {
            return;
        }
    }
}

/// Checks one stdout line: newline-terminated, UTF-8, one JSON object with exactly the
/// keys `src`, `dest` and `body` (spec: kafka.md 1.2: Maelstrom's schema is closed), sent
/// by `n0`. Returns it parsed.
fn envelope(line: &[u8]) -> Value {
    let text = std::str::from_utf8(line).expect("stdout is UTF-8");
    let text = text
        .strip_suffix('\n')
        .expect("every line ends with a newline");
    assert!(!text.contains('\n'), "one message per line");
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("{text} is not an object"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["body", "dest", "src"], "{text}");
    assert_eq!(value["src"], "n0", "{text}");
    assert!(value["dest"].is_string(), "{text}");
    assert!(value["body"].is_object(), "{text}");
    value
}

/// A reply line (without its newline), checked and parsed.
fn reply_value(line: &str) -> Value {
    envelope(format!("{line}\n").as_bytes())
}

/// A request from `c1` to `n0` carrying Maelstrom's extra `id`.
fn request(id: u64, body: Value) -> String {
    json!({"id": id, "src": "c1", "dest": "n0", "body": body}).to_string()
}

/// The logs as the spec says the node must keep them: payloads per key, dense offsets.
#[derive(Default)]
struct Model {
    logs: BTreeMap<String, Vec<Value>>,
    committed: BTreeMap<String, u64>,
}

impl Model {
    fn send(&mut self, key: &str, msg: &Value) -> u64 {
        let log = self.logs.entry(key.to_string()).or_default();
        log.push(msg.clone());
        log.len() as u64 - 1
    }

    /// The `msgs` a poll must return with the default (large) budgets: each asked key's
    /// log from the asked offset, keys with nothing left out.
    fn poll(&self, offsets: &Value) -> Value {
        let mut msgs = serde_json::Map::new();
        for (key, from) in offsets.as_object().expect("an object") {
            let from = from.as_u64().expect("an offset") as usize;
            let pairs: Vec<Value> = self
                .logs
                .get(key)
                .map(|log| {
                    log.iter()
                        .enumerate()
                        .skip(from)
                        .map(|(i, m)| json!([i, m]))
                        .collect()
                })
                .unwrap_or_default();
            if !pairs.is_empty() {
                msgs.insert(key.clone(), Value::Array(pairs));
            }
        }
        Value::Object(msgs)
    }

    fn commit(&mut self, offsets: &Value) {
        for (key, offset) in offsets.as_object().expect("an object") {
            let offset = offset.as_u64().expect("an offset");
            let entry = self.committed.entry(key.clone()).or_insert(offset);
            *entry = (*entry).max(offset);
        }
    }

    fn list(&self, keys: &Value) -> Value {
        let mut offsets = serde_json::Map::new();
        for key in keys.as_array().expect("an array") {
            let key = key.as_str().expect("a key");
            if let Some(offset) = self.committed.get(key) {
                offsets.insert(key.to_string(), json!(offset));
            }
        }
        Value::Object(offsets)
    }
}

/// A poll reply's `msgs` with empty runs dropped: spec: kafka.md 2.3 lets a key with
/// nothing to return be left out or be `[]`.
fn nonempty_msgs(reply: &Value) -> Value {
    let msgs = reply["msgs"].as_object().expect("msgs is an object");
    Value::Object(
        msgs.iter()
            .filter(|(_, run)| run.as_array().is_none_or(|r| !r.is_empty()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

#[test]
fn a_scripted_session_answers_every_request_exactly() {
    let session = Session::start();
    let mut model = Model::default();
    let mut transcript = String::new();
    let mut msg_id = 0;
    let mut exchange = |body: Value| -> Value {
        msg_id += 1;
        let mut body = body;
        body["msg_id"] = json!(msg_id);
        let line = request(1000 + msg_id, body);
        let reply = session.exchange(&line);
        transcript.push_str(&format!("> {line}\n< {reply}\n"));
        let value = reply_value(&reply);
        assert_eq!(value["dest"], "c1", "{reply}");
        assert_eq!(value["body"]["in_reply_to"], msg_id, "{reply}");
        value["body"].clone()
    };

    let reply = exchange(json!({"type": "init", "node_id": "n0", "node_ids": ["n0"]}));
    assert_eq!(reply["type"], "init_ok");
    assert_eq!(fields(&reply), ["in_reply_to", "type"]);

    let sends = [
        ("a", json!(1)),
        ("b", json!("one")),
        ("a", json!(2)),
        ("c", json!({"nested": [1, {"x": null}]})),
        ("a", json!(3)),
        ("b", json!([])),
        ("a", json!(-4.5)),
        ("a", json!(null)),
        ("c", json!("é \"quoted\" \\ 🦀")),
        ("a", json!(true)),
    ];
    for (key, msg) in &sends {
        let expected = model.send(key, msg);
        let reply = exchange(json!({"type": "send", "key": key, "msg": msg}));
        assert_eq!(reply["type"], "send_ok", "{reply}");
        assert_eq!(reply["offset"], expected, "send to {key}");
        assert_eq!(fields(&reply), ["in_reply_to", "offset", "type"]);
    }

    let polls = [
        json!({"a": 0}),
        json!({"a": 3, "b": 1}),
        json!({"a": 6, "c": 0}),
        json!({"a": 100, "b": 2}),
        json!({"zzz": 0, "c": 1}),
        json!({"zzz": 0}),
        json!({}),
    ];
    for offsets in &polls {
        let reply = exchange(json!({"type": "poll", "offsets": offsets}));
        assert_eq!(reply["type"], "poll_ok", "{reply}");
        assert_eq!(fields(&reply), ["in_reply_to", "msgs", "type"]);
        assert_eq!(nonempty_msgs(&reply), model.poll(offsets), "poll {offsets}");
    }

    let steps = [
        json!({"a": 2, "b": 1}),
        json!({"a": 1}),
        json!({"a": 5, "c": 0, "never": 9}),
        json!({}),
    ];
    let keys = json!(["a", "b", "c", "never", "zzz", "a"]);
    for offsets in &steps {
        model.commit(offsets);
        let reply = exchange(json!({"type": "commit_offsets", "offsets": offsets}));
        assert_eq!(reply["type"], "commit_offsets_ok", "{reply}");
        assert_eq!(fields(&reply), ["in_reply_to", "type"]);
        let reply = exchange(json!({"type": "list_committed_offsets", "keys": keys}));
        assert_eq!(reply["type"], "list_committed_offsets_ok", "{reply}");
        assert_eq!(fields(&reply), ["in_reply_to", "offsets", "type"]);
        assert_eq!(
            reply["offsets"],
            model.list(&keys),
            "after commit {offsets}"
        );
    }
    let reply = exchange(json!({"type": "list_committed_offsets", "keys": []}));
    assert_eq!(reply["offsets"], json!({}));

    // The logs carry on after all that.
    let expected = model.send("a", &json!("last"));
    let reply = exchange(json!({"type": "send", "key": "a", "msg": "last"}));
    assert_eq!(reply["offset"], expected);

    insta::assert_snapshot!("scripted_session", transcript);

    let ended = session.end();
    assert!(ended.status.success(), "exit status {}", ended.status);
    assert!(ended.stdout.is_empty(), "{:?}", ended.stdout);
    assert!(ended.stderr.contains("stdin closed"), "{}", ended.stderr);
}

/// A JSON object's field names, sorted.
fn fields(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// What one hostile line must produce.
enum Expect {
    /// A reply to `in_reply_to` whose body satisfies the check.
    Reply(u64, fn(&Value, &[u8])),
    /// An error reply to `in_reply_to` with this code and a text.
    Error(u64, u64),
    /// No reply; the line is malformed and must be logged.
    Malformed,
}

/// A request body as a line of bytes, spliced by hand so that anything can go in.
fn raw(body: &str) -> Vec<u8> {
    format!(r#"{{"id":7,"src":"c1","dest":"n0","body":{body}}}"#).into_bytes()
}

/// A payload of at least 1 MiB: a JSON string full of escapes and multi-byte characters.
fn big_payload() -> String {
    let unit = r#"x\"\\\u00e9\n é🦀 "#;
    let mut text = String::from("\"");
    while text.len() < (1 << 20) {
        text.push_str(unit);
    }
    text.push('"');
    text
}

#[test]
fn a_hostile_session_is_survived() {
    let big = big_payload();
    let lines: Vec<(Vec<u8>, Expect)> = vec![
        (
            raw(r#"{"type":"init","msg_id":1,"node_id":"n0","node_ids":["n0"]}"#),
            Expect::Reply(1, |r, _| assert_eq!(r["type"], "init_ok")),
        ),
        // Invalid JSON: a line cut short, and plain text.
        (
            br#"{"src":"c1","dest":"n0","body":{"type":"send","msg_id":2,"key":"k""#.to_vec(),
            Expect::Malformed,
        ),
        (b"this is not json".to_vec(), Expect::Malformed),
        // Wrong types, with src and msg_id readable: error 12.
        (raw(r#"{"type":"send","msg_id":3,"key":5,"msg":1}"#), Expect::Error(3, 12)),
        (raw(r#"{"type":"poll","msg_id":4,"offsets":"a"}"#), Expect::Error(4, 12)),
        (raw(r#"{"type":"list_committed_offsets","msg_id":5,"keys":[1]}"#), Expect::Error(5, 12)),
        // A wrong-typed msg_id: nothing to answer.
        (raw(r#"{"type":"send","msg_id":"6","key":"k","msg":1}"#), Expect::Malformed),
        // An unknown type: error 10.
        (raw(r#"{"type":"frobnicate","msg_id":7}"#), Expect::Error(7, 10)),
        // Huge and negative numbers.
        (raw(r#"{"type":"poll","msg_id":8,"offsets":{"k":1e30}}"#), Expect::Error(8, 12)),
        (
            raw(r#"{"type":"commit_offsets","msg_id":9,"offsets":{"k":99999999999999999999999}}"#),
            Expect::Error(9, 12),
        ),
        (
            raw(r#"{"type":"poll","msg_id":10,"offsets":{"k":9223372036854775808}}"#),
            Expect::Error(10, 12),
        ),
        (raw(r#"{"type":"commit_offsets","msg_id":11,"offsets":{"k":-1}}"#), Expect::Error(11, 12)),
        (raw(r#"{"type":"send","msg_id":-12,"key":"k","msg":1}"#), Expect::Malformed),
        (raw(r#"{"type":"send","msg_id":1e400,"key":"k","msg":1}"#), Expect::Malformed),
        // Empty and whitespace lines.
        (b"".to_vec(), Expect::Malformed),
        (b" \t \r".to_vec(), Expect::Malformed),
        // A 1 MiB payload: stored and acknowledged like any other.
        (
            raw(&format!(r#"{{"type":"send","msg_id":13,"key":"big","msg":{big}}}"#)),
            Expect::Reply(13, |r, _| {
                assert_eq!(r["type"], "send_ok", "{r}");
                assert_eq!(r["offset"], 0);
            }),
        ),
        // Invalid UTF-8, inside a string and on its own.
        (
            b"{\"src\":\"c1\",\"dest\":\"n0\",\"body\":{\"type\":\"send\",\"msg_id\":14,\"key\":\"\xff\xfe\",\"msg\":1}}".to_vec(),
            Expect::Malformed,
        ),
        (b"\xc3\x28\xa0\xa1 garbage".to_vec(), Expect::Malformed),
        // A JSON array, and bodies that are not objects.
        (
            format!("[{}]", String::from_utf8(raw(r#"{"type":"send","msg_id":15,"key":"k","msg":1}"#)).expect("UTF-8")).into_bytes(),
            Expect::Malformed,
        ),
        (raw(r#""send""#), Expect::Malformed),
        (raw(r#"[{"type":"send","msg_id":16,"key":"k","msg":1}]"#), Expect::Malformed),
        (raw("null"), Expect::Malformed),
        // The node still works, exactly.
        (
            raw(r#"{"type":"send","msg_id":17,"key":"k","msg":42}"#),
            Expect::Reply(17, |r, _| {
                assert_eq!(r["type"], "send_ok", "{r}");
                assert_eq!(r["offset"], 0, "no bad send was stored in k");
            }),
        ),
        (
            raw(r#"{"type":"send","msg_id":18,"key":"k","msg":43}"#),
            Expect::Reply(18, |r, _| assert_eq!(r["offset"], 1, "{r}")),
        ),
        (
            raw(r#"{"type":"poll","msg_id":19,"offsets":{"big":0}}"#),
            Expect::Reply(19, |r, line| {
                assert_eq!(r["type"], "poll_ok", "{r}");
                // Byte for byte: read the reply with core's decoder, which keeps
                // payloads as the exact text on the wire.
                let message = decode(line).expect("the reply decodes");
                let Body::PollOk { msgs, .. } = message.body else {
                    panic!("a poll_ok");
                };
                assert_eq!(msgs.len(), 1);
                assert_eq!(msgs[0].key.as_str(), "big");
                let items: Vec<_> = msgs[0].iter().collect();
                assert_eq!(items.len(), 1);
                assert_eq!(items[0].0.0, 0);
                assert!(items[0].1 == big_payload(), "the 1 MiB payload changed");
            }),
        ),
        // The last line has no newline: it still counts at EOF.
        (
            raw(r#"{"type":"poll","msg_id":20,"offsets":{"k":0,"nothing":0}}"#),
            Expect::Reply(20, |r, _| {
                assert_eq!(nonempty_msgs(r), json!({"k": [[0, 42], [1, 43]]}), "{r}");
            }),
        ),
    ];

    let session = Session::start();
    let mut input = Vec::new();
    for (i, (line, _)) in lines.iter().enumerate() {
        input.extend_from_slice(line);
        if i + 1 < lines.len() {
            input.push(b'\n');
        }
    }
    session.write(&input);
    let ended = session.end();
    assert!(
        ended.status.success(),
        "exit status {}: {}",
        ended.status,
        ended.stderr
    );

    let replies: Vec<&Expect> = lines
        .iter()
        .map(|(_, e)| e)
        .filter(|e| !matches!(e, Expect::Malformed))
        .collect();
    assert_eq!(
        ended.stdout.len(),
        replies.len(),
        "one reply per answerable line: {:?}",
        ended
            .stdout
            .iter()
            .map(|l| String::from_utf8_lossy(&l[..l.len().min(200)]).into_owned())
            .collect::<Vec<_>>()
    );
    for (line, expect) in ended.stdout.iter().zip(replies) {
        let value = envelope(line);
        let body = &value["body"];
        assert_eq!(value["dest"], "c1");
        match expect {
            Expect::Reply(id, check) => {
                assert_eq!(body["in_reply_to"], *id, "replies come in request order");
                check(body, line);
            }
            Expect::Error(id, code) => {
                assert_eq!(body["in_reply_to"], *id, "replies come in request order");
                assert_eq!(body["type"], "error", "{body}");
                assert_eq!(body["code"], *code, "{body}");
                assert!(
                    body["text"].as_str().is_some_and(|t| !t.is_empty()),
                    "{body}"
                );
            }
            Expect::Malformed => unreachable!("filtered out above"),
        }
    }

    // Every malformed line, answered or not, left its own line on stderr.
    let malformed = lines
        .iter()
        .filter(|(_, e)| matches!(e, Expect::Malformed | Expect::Error(_, 12)))
        .count();
    let logged = ended
        .stderr
        .lines()
        .filter(|l| l.contains("malformed message"))
        .count();
    assert_eq!(logged, malformed, "{}", ended.stderr);
    // So did the unknown type, which is not malformed but still worth a look.
    assert!(
        ended.stderr.lines().any(|l| l.contains("frobnicate")),
        "the unknown type is logged: {}",
        ended.stderr
    );
}

#[test]
fn immediate_eof_exits_zero_with_no_output() {
    let ended = Session::start().end();
    assert!(ended.status.success(), "exit status {}", ended.status);
    assert!(ended.stdout.is_empty(), "{:?}", ended.stdout);
}

#[test]
fn a_batch_of_requests_gets_one_line_per_reply_in_order() {
    let session = Session::start();
    let count = 500;
    let mut input = request(
        0,
        json!({"type": "init", "msg_id": 1, "node_id": "n0", "node_ids": ["n0"]}),
    );
    input.push('\n');
    for i in 0..count {
        let key = ["x", "y"][i % 2];
        let body = json!({"type": "send", "msg_id": 2 + i, "key": key, "msg": i});
        input.push_str(&request(i as u64 + 1, body));
        input.push('\n');
    }
    // One write for everything: the binary must split it into lines itself.
    session.write(input.as_bytes());
    let init = session.read_line();
    assert_eq!(envelope(&init)["body"]["type"], "init_ok");
    for i in 0..count {
        let value = envelope(&session.read_line());
        assert_eq!(value["body"]["in_reply_to"], 2 + i);
        assert_eq!(value["body"]["offset"], i / 2, "dense offsets per key");
    }
    let ended = session.end();
    assert!(ended.status.success());
    assert!(
        ended.stdout.is_empty(),
        "no extra lines: {:?}",
        ended.stdout
    );
}

#[test]
fn a_line_split_across_writes_is_one_message() {
    let session = Session::start();
    let init = request(
        0,
        json!({"type": "init", "msg_id": 1, "node_id": "n0", "node_ids": ["n0"]}),
    );
    let send = request(
        1,
        json!({"type": "send", "msg_id": 2, "key": "k", "msg": "split"}),
    );
    let both = format!("{init}\n{send}\n");
    let (first, rest) = both.split_at(init.len() + 10);
    session.write(first.as_bytes());
    assert_eq!(envelope(&session.read_line())["body"]["type"], "init_ok");
    // The half line must wait for the rest rather than be read as a message.
    thread::sleep(Duration::from_millis(50));
    for byte in rest.as_bytes() {
        session.write(&[*byte]);
    }
    let value = envelope(&session.read_line());
    assert_eq!(
        value["body"],
        json!({"type": "send_ok", "offset": 0, "in_reply_to": 2})
    );
    let ended = session.end();
    assert!(ended.status.success());
    assert!(ended.stdout.is_empty(), "{:?}", ended.stdout);
    assert!(
        !ended.stderr.contains("malformed"),
        "no half line was decoded: {}",
        ended.stderr
    );
}
