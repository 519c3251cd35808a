//! The benchmarks' workload: Maelstrom-shaped request lines for one node, generated
//! deterministically from a seed, with the replies a correct node must give to a sample of
//! them.
//!
//! The shape follows Maelstrom's kafka clients (spec: kafka.md 3.2–3.6): several clients,
//! each numbering its requests 1, 2, 3, …, each holding the next offset it wants per
//! assigned key, so a poll asks only for what is new and its reply carries a message or
//! two, not the whole log. Sends carry per-key counters 1, 2, 3, … as Maelstrom's do, so
//! payloads are small integers. Keys are dealt out to clients like a consumer group, and
//! reassigned now and then; a newly assigned key restarts at its committed offset, as
//! Maelstrom's `assign` does (spec: kafka.md 3.6), so the periodic `commit_offsets` matter.
//!
//! A single node assigns dense offsets from 0 in arrival order (spec: kafka.md 2.6), so the
//! generator knows every offset and every poll reply in advance; that is what lets the
//! benchmarks check replies and catch a node that is fast because it is broken.

// Each bench target includes this module and uses a different part of it.
#![allow(dead_code)]

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::fmt::Write as _;

/// The node under test.
pub const NODE: &str = "n0";

/// The most messages a poll may be expected to return: the node's default
/// `poll_msgs_max`. The generator refuses to produce a workload whose polls would hit it,
/// since a capped reply could not be predicted without modelling the cap.
const POLL_MSGS_CAP: usize = 4096;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Shape {
    /// The seed of everything random in the workload.
    pub seed: u64,
    /// Sends plus polls, after `init`.
    pub requests: usize,
    /// How many of every 1000 requests are sends; the rest are polls.
    pub sends_permille: u64,
    /// Keys `"0"`, `"1"`, … that sends choose from uniformly.
    pub keys: usize,
    /// Clients `c1`, `c2`, …; each request comes from one chosen uniformly.
    pub clients: usize,
    /// A client sends `commit_offsets` after every this many of its polls that returned
    /// something (0: never). These come on top of `requests`.
    pub commit_every_polls: u64,
    /// Keys are dealt out afresh after every this many requests (0: never).
    pub reassign_every: usize,
    /// Every this many requests, the reply is checked in full (0: none but the last).
    pub sample_every: usize,
}

impl Shape {
    /// The issue's workload: 1,000,000 requests, half sends and half polls, over 100 keys
    /// and 10 clients, with a commit after every 4th fruitful poll of a client.
    pub fn standard(requests: usize) -> Shape {
        Shape {
            seed: 0x006b_6166_6b61,
            requests,
            sends_permille: 500,
            keys: 100,
            clients: 10,
            commit_every_polls: 4,
            reassign_every: 5_000,
            sample_every: 997,
        }
    }

    /// Sends only: for measuring what a stored message costs.
    pub fn sends_only(requests: usize) -> Shape {
        Shape {
            sends_permille: 1000,
            commit_every_polls: 0,
            reassign_every: 0,
            ..Shape::standard(requests)
        }
    }
}

/// A generated workload.
pub struct Workload {
    /// The `init` line, with its newline.
    pub init: Vec<u8>,
    /// Every request line after `init`, each with its newline.
    pub requests: Vec<u8>,
    /// How many lines `requests` holds (sends, polls and commits).
    pub request_count: usize,
    /// Of which sends.
    pub sends: usize,
    /// Of which polls.
    pub polls: usize,
    /// Of which `commit_offsets`.
    pub commits: usize,
    /// Messages the polls are expected to return, over all polls.
    pub polled_msgs: usize,
    /// The JSON text bytes of all sent payloads.
    pub payload_bytes: usize,
    /// Replies to check in full, by their line number in the node's output (0 is the
    /// `init_ok`, 1 the reply to the first request line, …).
    pub samples: Vec<Sample>,
}

impl Workload {
    /// Every line, `init` first.
    pub fn all_lines(&self) -> Vec<u8> {
        let mut all = self.init.clone();
        all.extend_from_slice(&self.requests);
        all
    }

    /// Lines the node must answer: `init` and every request.
    pub fn reply_count(&self) -> usize {
        self.request_count + 1
    }

    /// Appends one request `line` (newline included) and, when `sample` names the client,
    /// `msg_id` and expected reply, the check of that reply, whose output line number is
    /// the request's own: the `init_ok` comes first, then one reply per request.
    fn push_request(&mut self, line: &str, sample: Option<(String, u64, Expect)>) {
        self.requests.extend_from_slice(line.as_bytes());
        self.request_count += 1;
        if let Some((client, msg_id, expect)) = sample {
            self.samples.push(Sample {
                line: self.request_count,
                client,
                msg_id,
                expect,
            });
        }
    }

    /// Mean payload text bytes per sent message.
    pub fn payload_mean(&self) -> f64 {
        self.payload_bytes as f64 / self.sends.max(1) as f64
    }
}

/// A reply to check, and what it must say.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The reply's line number in the node's output.
    pub line: usize,
    /// The client the reply goes to.
    pub client: String,
    /// The request's `msg_id`, which the reply must echo as `in_reply_to`.
    pub msg_id: u64,
    /// The reply's body.
    pub expect: Expect,
}

/// A reply body a correct node gives.
#[derive(Clone, Debug)]
pub enum Expect {
    /// `init_ok`.
    Init,
    /// `send_ok` at this offset.
    Send(u64),
    /// `poll_ok` with these `(key, [(offset, msg)])` runs; keys with nothing may be
    /// absent or empty.
    Poll(Vec<(String, Vec<(u64, u64)>)>),
    /// `commit_offsets_ok`.
    Commit,
}

struct Client {
    name: String,
    next_msg_id: u64,
    /// The keys assigned to this client and the next offset it wants of each.
    positions: Vec<(usize, u64)>,
    /// Per key, the highest offset polled since the last commit.
    uncommitted: Vec<(usize, u64)>,
    fruitful_polls: u64,
}

/// A uniform draw from `0..n`, `n > 0`. The modulo bias is far below anything a
/// benchmark could notice.
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

fn shuffle(rng: &mut ChaCha8Rng, items: &mut [usize]) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(rng, i + 1));
    }
}

/// Generates the workload `shape` describes.
pub fn generate(shape: &Shape) -> Workload {
    assert!(
        shape.keys > 0 && shape.clients > 0,
        "a workload needs keys and clients"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(shape.seed);
    // Each key's log length; message `o` of every key is the payload `o + 1`, the per-key
    // counter Maelstrom's generator uses (spec: kafka.md 3.4).
    let mut lengths = vec![0u64; shape.keys];
    let mut committed: Vec<Option<u64>> = vec![None; shape.keys];
    let mut clients: Vec<Client> = (0..shape.clients)
        .map(|i| Client {
            name: format!("c{}", i + 1),
            next_msg_id: 1,
            positions: Vec::new(),
            uncommitted: Vec::new(),
            fruitful_polls: 0,
        })
        .collect();
    deal_keys(&mut rng, &mut clients, shape.keys, &committed);

    let mut w = Workload {
        init: format!(
            r#"{{"id":0,"src":"c0","dest":"{NODE}","body":{{"type":"init","msg_id":1,"node_id":"{NODE}","node_ids":["{NODE}"]}}}}"#
        )
        .into_bytes(),
        requests: Vec::with_capacity(shape.requests * 120),
        request_count: 0,
        sends: 0,
        polls: 0,
        commits: 0,
        polled_msgs: 0,
        payload_bytes: 0,
        samples: vec![Sample {
            line: 0,
            client: "c0".into(),
            msg_id: 1,
            expect: Expect::Init,
        }],
    };
    w.init.push(b'\n');
    // Maelstrom numbers every message on its network; a request and its reply take two.
    let mut net_id = 2u64;
    let mut line = String::with_capacity(256);
    for i in 0..shape.requests {
        if shape.reassign_every > 0 && i > 0 && i % shape.reassign_every == 0 {
            deal_keys(&mut rng, &mut clients, shape.keys, &committed);
        }
        let c = below(&mut rng, shape.clients);
        let sample =
            i + 1 == shape.requests || (shape.sample_every > 0 && i % shape.sample_every == 0);
        let client = &mut clients[c];
        let msg_id = client.next_msg_id;
        client.next_msg_id += 1;
        line.clear();
        let expect;
        if rng.next_u64() % 1000 < shape.sends_permille {
            let key = below(&mut rng, shape.keys);
            let offset = lengths[key];
            lengths[key] += 1;
            let msg = offset + 1;
            let _ = write!(
                line,
                r#"{{"id":{net_id},"src":"{}","dest":"{NODE}","body":{{"type":"send","key":"{key}","msg":{msg},"msg_id":{msg_id}}}}}"#,
                client.name
            );
            w.payload_bytes += decimal_len(msg);
            w.sends += 1;
            expect = Expect::Send(offset);
        } else {
            let _ = write!(
                line,
                r#"{{"id":{net_id},"src":"{}","dest":"{NODE}","body":{{"type":"poll","offsets":{{"#,
                client.name
            );
            let mut runs = Vec::new();
            let mut returned = 0;
            for (n, (key, next)) in client.positions.iter_mut().enumerate() {
                let sep = if n == 0 { "" } else { "," };
                let _ = write!(line, r#"{sep}"{key}":{next}"#);
                let end = lengths[*key];
                if *next < end {
                    returned += (end - *next) as usize;
                    if sample {
                        let run = (*next..end).map(|o| (o, o + 1)).collect();
                        runs.push((key.to_string(), run));
                    }
                    // spec: kafka.md 3.6 — the client moves to one past the highest
                    // offset polled, and will commit that highest offset.
                    *next = end;
                    match client.uncommitted.iter_mut().find(|(k, _)| k == key) {
                        Some((_, highest)) => *highest = end - 1,
                        None => client.uncommitted.push((*key, end - 1)),
                    }
                }
            }
            let _ = write!(line, r#"}},"msg_id":{msg_id}}}}}"#);
            assert!(
                returned < POLL_MSGS_CAP,
                "poll {i} would return {returned} messages, over the node's cap; change the shape"
            );
            w.polled_msgs += returned;
            w.polls += 1;
            if returned > 0 {
                client.fruitful_polls += 1;
            }
            expect = Expect::Poll(runs);
        }
        line.push('\n');
        w.push_request(&line, sample.then(|| (client.name.clone(), msg_id, expect)));
        net_id += 2;

        let client = &mut clients[c];
        let commit_due = shape.commit_every_polls > 0
            && !client.uncommitted.is_empty()
            && client.fruitful_polls >= shape.commit_every_polls;
        if commit_due {
            client.fruitful_polls = 0;
            let msg_id = client.next_msg_id;
            client.next_msg_id += 1;
            line.clear();
            let _ = write!(
                line,
                r#"{{"id":{net_id},"src":"{}","dest":"{NODE}","body":{{"type":"commit_offsets","offsets":{{"#,
                client.name
            );
            for (n, (key, highest)) in client.uncommitted.drain(..).enumerate() {
                let sep = if n == 0 { "" } else { "," };
                let _ = write!(line, r#"{sep}"{key}":{highest}"#);
                let slot = &mut committed[key];
                *slot = Some(slot.map_or(highest, |c| c.max(highest)));
            }
            let _ = writeln!(line, r#"}},"msg_id":{msg_id}}}}}"#);
            w.push_request(
                &line,
                sample.then(|| (client.name.clone(), msg_id, Expect::Commit)),
            );
            w.commits += 1;
            net_id += 2;
        }
    }
    w
}

/// Deals every key to exactly one client, like a consumer group. A client keeps its
/// position in a key it already had; a key new to it starts at its committed offset, or
/// at 0 (spec: kafka.md 3.6: assign without seek).
fn deal_keys(rng: &mut ChaCha8Rng, clients: &mut [Client], keys: usize, committed: &[Option<u64>]) {
    let mut order: Vec<usize> = (0..keys).collect();
    shuffle(rng, &mut order);
    let per_client = keys.div_ceil(clients.len());
    for (c, client) in clients.iter_mut().enumerate() {
        let start = (c * per_client).min(keys);
        let end = ((c + 1) * per_client).min(keys);
        let mut mine: Vec<usize> = order[start..end].to_vec();
        mine.sort_unstable();
        client.positions = mine
            .into_iter()
            .map(|key| {
                let kept = client.positions.iter().find(|(k, _)| *k == key);
                let next = kept.map_or(committed[key].unwrap_or(0), |(_, next)| *next);
                (key, next)
            })
            .collect();
        // Commits of keys the client no longer holds are dropped, as a crashed or
        // reassigned Maelstrom client's would be.
        client
            .uncommitted
            .retain(|(k, _)| client.positions.iter().any(|(p, _)| p == k));
    }
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Checks one reply line against what a correct node says.
pub fn check_reply(sample: &Sample, line: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(line);
    let fail = |why: &str| Err(format!("reply line {}: {why}: {text}", sample.line));
    let value: serde_json::Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(e) => return fail(&format!("not JSON ({e})")),
    };
    if value["src"] != NODE || value["dest"] != sample.client.as_str() {
        return fail(&format!("not from {NODE} to {}", sample.client));
    }
    let body = &value["body"];
    if body["in_reply_to"] != sample.msg_id {
        return fail(&format!("does not answer msg_id {}", sample.msg_id));
    }
    let kind = body["type"].as_str().unwrap_or("");
    match &sample.expect {
        Expect::Init if kind == "init_ok" => Ok(()),
        Expect::Commit if kind == "commit_offsets_ok" => Ok(()),
        Expect::Send(offset) if kind == "send_ok" => {
            if body["offset"] == *offset {
                Ok(())
            } else {
                fail(&format!("expected offset {offset}"))
            }
        }
        Expect::Poll(runs) if kind == "poll_ok" => {
            let Some(msgs) = body["msgs"].as_object() else {
                return fail("no msgs object");
            };
            let got_nonempty = msgs
                .values()
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
                .count();
            if got_nonempty != runs.len() {
                return fail(&format!("expected {} non-empty keys", runs.len()));
            }
            for (key, run) in runs {
                let want: Vec<serde_json::Value> = run
                    .iter()
                    .map(|&(o, m)| serde_json::json!([o, m]))
                    .collect();
                if msgs.get(key).and_then(|v| v.as_array()) != Some(&want) {
                    return fail(&format!("expected key {key:?} to hold {want:?}"));
                }
            }
            Ok(())
        }
        other => fail(&format!("expected {other:?}")),
    }
}

/// The median, minimum and maximum of some measurements.
pub fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    (
        median,
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
    )
}

/// The 1-, 5- and 15-minute load averages, to print beside every measurement.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Command-line flags the bench targets share. `cargo bench` passes `--bench`, which is
/// ignored.
pub struct Args {
    /// Everything after the program name.
    pub rest: Vec<String>,
}

impl Args {
    /// The standard workload of `requests` requests, with `--clients N` if given: the
    /// 100 keys are dealt out among the clients, so more clients means fewer keys per
    /// poll (Maelstrom's own clients usually poll one to three keys).
    pub fn shape(&self, requests: usize) -> Shape {
        let standard = Shape::standard(requests);
        Shape {
            clients: self.number("--clients", standard.clients).max(1),
            ..standard
        }
    }

    /// Reads the process arguments.
    pub fn from_env() -> Args {
        Args {
            rest: std::env::args()
                .skip(1)
                .filter(|a| a != "--bench")
                .collect(),
        }
    }

    /// Whether `--flag` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.rest.iter().any(|a| a == name)
    }

    /// The number after `--name`, or `default`.
    pub fn number(&self, name: &str, default: usize) -> usize {
        let at = self.rest.iter().position(|a| a == name);
        match at.and_then(|i| self.rest.get(i + 1)) {
            Some(text) => text
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not {text:?}")),
            None => default,
        }
    }
}
