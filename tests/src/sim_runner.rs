//! The simulator's runner against the real node and against deliberately broken ones:
//! determinism, the shape of the history, timeouts, error classification, wire
//! violations, the nemesis and the services.

use replicator_core::{
    Body, Config, ErrorCode, Input, Message, MsgId, Node, NodeId, Output, Timestamp,
};
use replicator_sim::history::{F, History, NemesisKind, OpType, OpValue, ViolationKind};
use replicator_sim::options::{LatencyDist, Options};
use replicator_sim::run::{self, Outcome};
use replicator_sim::server::{self, Server, ServerFactory};
use std::collections::BTreeMap;

/// A real node whose outputs pass through `edit` (given the input that caused them).
struct Wrapped {
    node: Node,
    edit: fn(&Input, Vec<Output>) -> Vec<Output>,
}

impl Server for Wrapped {
    fn step(&mut self, now: Timestamp, input: Input) -> Vec<Output> {
        let out = self.node.step(now, input.clone());
        (self.edit)(&input, out)
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        self.node.next_deadline()
    }
}

fn wrapped(edit: fn(&Input, Vec<Output>) -> Vec<Output>) -> ServerFactory {
    Box::new(move |config: Config| {
        Box::new(Wrapped {
            node: Node::new(config).expect("valid config"),
            edit,
        }) as Box<dyn Server>
    })
}

fn is_init(input: &Input) -> bool {
    matches!(
        input,
        Input::Message(Message {
            body: Body::Init { .. },
            ..
        })
    )
}

fn small(nodes: usize) -> Options {
    Options {
        node_count: Some(nodes),
        time_limit_s: 3.0,
        rate: 50.0,
        ..Options::default()
    }
}

/// Every operation of a process completes before its next invocation, and processes
/// advance by the thread count after an `:info`.
fn assert_well_formed(history: &History, threads: u64) {
    let mut open: BTreeMap<u64, F> = BTreeMap::new();
    let mut process_of_thread: BTreeMap<u64, u64> = (0..threads).map(|t| (t, t)).collect();
    let mut last_time = 0;
    for (i, op) in history.ops.iter().enumerate() {
        assert_eq!(op.index, i);
        assert!(op.time >= last_time, "time went back at {i}");
        last_time = op.time;
        let thread = op.process % threads;
        assert_eq!(
            process_of_thread[&thread], op.process,
            "op {i}: wrong process"
        );
        match op.ty {
            OpType::Invoke => {
                assert!(
                    open.insert(op.process, op.f).is_none(),
                    "op {i}: two ops in flight"
                );
            }
            ty => {
                assert_eq!(
                    open.remove(&op.process),
                    Some(op.f),
                    "op {i}: completes nothing"
                );
                if ty == OpType::Info {
                    process_of_thread.insert(thread, op.process + threads);
                }
            }
        }
    }
    assert!(open.is_empty(), "operations left in flight: {open:?}");
}

#[test]
fn the_real_node_gives_a_well_formed_history_whose_acknowledged_sends_are_all_polled_at_the_end() {
    let options = Options {
        concurrency: replicator_sim::options::Concurrency::PerNode(3),
        rate: 200.0,
        ..small(1)
    };
    let outcome = run::run(&options, &server::real_node());
    assert_eq!(outcome.failure, None);
    assert!(
        outcome.history.violations.is_empty(),
        "{:?}",
        outcome.history.violations
    );
    assert_well_formed(&outcome.history, 3);
    let ops = &outcome.history.ops;
    let sent: Vec<(String, u64)> = ops
        .iter()
        .filter_map(|op| match (&op.ty, &op.value) {
            (
                OpType::Ok,
                OpValue::Send {
                    key,
                    offset: Some(o),
                    ..
                },
            ) => Some((key.to_string(), *o)),
            _ => None,
        })
        .collect();
    assert!(sent.len() > 100, "only {} sends", sent.len());
    let mut polled_at_end = std::collections::BTreeSet::new();
    for op in ops.iter().filter(|op| op.is_final && op.ty == OpType::Ok) {
        if let OpValue::Poll {
            msgs: Some(msgs), ..
        } = &op.value
        {
            for (key, pairs) in msgs {
                polled_at_end.extend(pairs.iter().map(|(o, _)| (key.to_string(), *o)));
            }
        }
    }
    for s in &sent {
        assert!(
            polled_at_end.contains(s),
            "{s:?} was never polled in the final phase"
        );
    }
    // spec: kafka.md 3.7 — every thread's final phase starts with a crash and a seek.
    let final_crashes = ops
        .iter()
        .filter(|op| op.is_final && op.f == F::Crash && op.ty == OpType::Info)
        .count();
    assert_eq!(final_crashes, 3);
    // spec: kafka.md 6.4 — a single node that uses no service sends no server message.
    assert_eq!(outcome.history.net.servers.send_count, 0);
    assert_eq!(
        outcome.history.net.all.send_count,
        outcome.history.net.all.recv_count
    );
}

fn digest(outcome: &Outcome) -> u64 {
    // FNV-1a over everything the run produced that can be printed.
    let text = format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{}",
        outcome.history.ops,
        outcome.history.nemesis,
        outcome.history.violations,
        outcome.history.net,
        outcome.trace.join("\n")
    );
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn harsh() -> Options {
    Options {
        seed: 99,
        node_count: Some(3),
        concurrency: replicator_sim::options::Concurrency::PerNode(2),
        time_limit_s: 4.0,
        rate: 300.0,
        latency_ms: 10,
        latency_dist: LatencyDist::Exponential,
        partition: true,
        nemesis_interval_s: 1.0,
        loss: 0.05,
        duplicate: 0.05,
        crash_nodes_s: 1.0,
        trace: true,
        ..Options::default()
    }
}

#[test]
fn equal_options_give_identical_outcomes_and_other_seeds_do_not() {
    let a = run::run(&harsh(), &server::real_node());
    let b = run::run(&harsh(), &server::real_node());
    assert_eq!(a.trace, b.trace);
    assert_eq!(digest(&a), digest(&b));
    let other = Options {
        seed: 100,
        ..harsh()
    };
    assert_ne!(digest(&a), digest(&run::run(&other, &server::real_node())));
}

/// Not a test of its own: run by `identical_across_processes` in child processes.
#[test]
#[ignore = "a helper that identical_across_processes runs in a child process"]
fn determinism_child() {
    println!(
        "DIGEST={}",
        digest(&run::run(&harsh(), &server::real_node()))
    );
}

#[test]
fn identical_across_processes() {
    let here = digest(&run::run(&harsh(), &server::real_node()));
    let exe = std::env::current_exe().expect("the test binary knows its path");
    for _ in 0..2 {
        let out = std::process::Command::new(&exe)
            .args([
                "sim_runner::determinism_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .output()
            .expect("the test binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("DIGEST="))
            .unwrap_or_else(|| panic!("no digest from the child: {stdout}"));
        assert_eq!(line, here.to_string());
    }
}

/// The command's stdout, trace and JSON report included, is a pure function of the seed
/// and options: byte for byte the same in two processes (wall-clock timings go to stderr),
/// and different for another seed.
#[test]
fn the_command_prints_the_same_bytes_for_the_same_seed() {
    let sim = crate::bin_path::replicator_sim();
    let run = |seed: &str| {
        let out = std::process::Command::new(sim)
            .args([
                "run",
                "--seed",
                seed,
                "--node-count",
                "3",
                "--concurrency",
                "2n",
            ])
            .args(["--time-limit", "3", "--rate", "200", "--latency", "10"])
            .args(["--latency-dist", "exponential", "--nemesis", "partition"])
            .args([
                "--nemesis-interval",
                "1",
                "--loss",
                "0.05",
                "--trace",
                "--json",
            ])
            .output()
            .expect("replicator-sim runs");
        assert!(!out.stdout.is_empty(), "no output for seed {seed}");
        out.stdout
    };
    let first = run("11");
    assert!(
        first == run("11"),
        "seed 11 printed different bytes in two runs"
    );
    assert!(first != run("12"), "seeds 11 and 12 printed the same bytes");
}

#[test]
fn a_node_that_never_answers_init_fails_the_run() {
    let factory = wrapped(|_, _| Vec::new());
    let outcome = run::run(&small(2), &factory);
    let failure = outcome.failure.expect("the run must fail");
    assert!(failure.contains("did not answer init"), "{failure}");
    assert!(outcome.history.ops.is_empty());
    assert_eq!(outcome.history.end, 10_000_000, "init waits 10 s");
}

#[test]
fn a_silent_node_times_out_sends_and_polls_as_info_and_assigns_as_fail() {
    let factory = wrapped(|input, out| if is_init(input) { out } else { Vec::new() });
    let options = Options {
        concurrency: replicator_sim::options::Concurrency::PerNode(2),
        rate: 1000.0,
        ..small(1)
    };
    let outcome = run::run(&options, &factory);
    let h = &outcome.history;
    assert_well_formed(h, 2);
    let mut invoked_at = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for op in &h.ops {
        if op.ty == OpType::Invoke {
            invoked_at.insert(op.process, op.time);
            continue;
        }
        *seen.entry((op.f, op.ty)).or_insert(0) += 1;
        if op.f == F::Assign && !op.value_is_seek() {
            assert_eq!(op.ty, OpType::Fail, "{op:?}");
        }
        if op.f != F::Crash && !(op.f == F::Assign && op.value_is_seek()) {
            assert_eq!(op.error.as_deref(), Some("net-timeout"), "{op:?}");
            assert_eq!(
                op.time - invoked_at[&op.process],
                5_000_000,
                "5 s timeout: {op:?}"
            );
        }
    }
    // spec: kafka.md 1.7 — timeouts: send and poll are indefinite, assign idempotent.
    let kinds: Vec<(F, OpType)> = seen.keys().copied().collect();
    for (f, ty) in &kinds {
        match f {
            F::Send | F::Poll | F::Crash => assert_eq!(*ty, OpType::Info, "{f:?}"),
            F::Assign => assert!(*ty == OpType::Fail || *ty == OpType::Ok, "{f:?} {ty:?}"),
        }
    }
    assert!(seen.contains_key(&(F::Send, OpType::Info)));
    assert!(seen.contains_key(&(F::Poll, OpType::Info)));
    assert!(h.violations.is_empty());
}

trait SeekExt {
    fn value_is_seek(&self) -> bool;
}
impl SeekExt for replicator_sim::history::Op {
    fn value_is_seek(&self) -> bool {
        matches!(
            self.value,
            OpValue::Assign {
                seek_to_beginning: true,
                ..
            }
        )
    }
}

#[test]
fn assigns_that_time_out_fail() {
    // Answers everything but list_committed_offsets.
    let factory = wrapped(|input, out| match input {
        Input::Message(Message {
            body: Body::ListCommittedOffsets { .. },
            ..
        }) => Vec::new(),
        _ => out,
    });
    let options = Options {
        rate: 500.0,
        time_limit_s: 10.0,
        ..small(1)
    };
    let outcome = run::run(&options, &factory);
    let assigns: Vec<_> = outcome
        .history
        .ops
        .iter()
        .filter(|op| op.f == F::Assign && op.ty != OpType::Invoke && !op.value_is_seek())
        .collect();
    assert!(!assigns.is_empty());
    assert!(
        assigns
            .iter()
            .all(|op| op.ty == OpType::Fail && op.error.as_deref() == Some("net-timeout"))
    );
}

#[test]
fn a_commit_that_gets_no_acknowledgement_is_recorded_as_sent() {
    // Applies every commit_offsets, but answers none: the commit may have taken effect,
    // and the history must say what it asked for (spec: kafka.md 3.6).
    let factory = wrapped(|input, out| match input {
        Input::Message(Message {
            body: Body::CommitOffsets { .. },
            ..
        }) => Vec::new(),
        _ => out,
    });
    let options = Options {
        rate: 200.0,
        ..small(1)
    };
    let outcome = run::run(&options, &factory);
    let mut unacknowledged = 0;
    for op in &outcome.history.ops {
        let OpValue::Poll {
            msgs,
            committed,
            commit_unacknowledged,
        } = &op.value
        else {
            continue;
        };
        // No commit was ever acknowledged, so no poll that read something is `Ok`.
        assert_eq!(committed, &None, "{op:?}");
        if let Some(commit) = commit_unacknowledged {
            unacknowledged += 1;
            assert_eq!(op.ty, OpType::Info, "{op:?}");
            assert_eq!(op.error.as_deref(), Some("net-timeout"), "{op:?}");
            assert!(msgs.is_none() && !commit.is_empty(), "{op:?}");
            assert_eq!(op.value.commit_sent(), Some(commit));
        }
    }
    assert!(unacknowledged > 0, "no commit was ever sent");
}

/// The most messages any `Ok` poll of a history returned, over all its keys.
fn largest_poll(history: &History) -> usize {
    history
        .ops
        .iter()
        .filter_map(|op| match (&op.ty, &op.value) {
            (
                OpType::Ok,
                OpValue::Poll {
                    msgs: Some(msgs), ..
                },
            ) => Some(msgs.values().map(Vec::len).sum::<usize>()),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn the_poll_budget_flags_reach_every_node() {
    let options = Options {
        rate: 200.0,
        ..small(1)
    };
    // At the node's defaults the final polls take each key whole, many messages a reply.
    let unlimited = run::run(&options, &server::real_node());
    assert!(largest_poll(&unlimited.history) > 20);
    for (msgs, bytes, most) in [(Some(3), None, 3), (None, Some(0), 1)] {
        let options = Options {
            poll_msgs_max: msgs,
            poll_bytes_max: bytes,
            ..options.clone()
        };
        let outcome = run::run(&options, &server::real_node());
        assert_eq!(largest_poll(&outcome.history), most, "{options}");
        // The replay command carries the budgets.
        let replayed = Options::default().parse_all(&options.to_args());
        assert_eq!(replayed.as_ref(), Ok(&options));
    }
}

fn replace_send_ok(out: Vec<Output>, body: fn(MsgId) -> Body) -> Vec<Output> {
    out.into_iter()
        .map(|o| match o {
            Output::Send(Message {
                src,
                dest,
                body: Body::SendOk { in_reply_to, .. },
            }) => Output::Send(Message {
                src,
                dest,
                body: body(in_reply_to),
            }),
            other => other,
        })
        .collect()
}

#[test]
fn definite_errors_fail_and_indefinite_ones_are_info() {
    let definite = wrapped(|_, out| {
        replace_send_ok(out, |in_reply_to| Body::Error {
            in_reply_to,
            code: ErrorCode::TEMPORARILY_UNAVAILABLE,
            text: "no".into(),
        })
    });
    let indefinite = wrapped(|_, out| {
        replace_send_ok(out, |in_reply_to| Body::Error {
            in_reply_to,
            code: ErrorCode(1000),
            text: "maybe".into(),
        })
    });
    for (factory, want) in [(definite, OpType::Fail), (indefinite, OpType::Info)] {
        let outcome = run::run(&small(1), &factory);
        let sends: Vec<_> = outcome
            .history
            .ops
            .iter()
            .filter(|op| op.f == F::Send && op.ty != OpType::Invoke)
            .collect();
        assert!(!sends.is_empty());
        for op in sends {
            assert_eq!(op.ty, want, "{op:?}");
            assert!(
                op.error.as_deref().is_some_and(|e| e.starts_with('[')),
                "{op:?}"
            );
        }
    }
}

#[test]
fn a_reply_of_the_wrong_kind_is_malformed_and_info() {
    let factory = wrapped(|_, out| {
        replace_send_ok(out, |in_reply_to| Body::PollOk {
            in_reply_to,
            msgs: Vec::new(),
        })
    });
    let outcome = run::run(&small(1), &factory);
    let h = &outcome.history;
    let sends: Vec<_> = h
        .ops
        .iter()
        .filter(|op| op.f == F::Send && op.ty != OpType::Invoke)
        .collect();
    assert!(!sends.is_empty());
    assert!(sends.iter().all(|op| {
        op.ty == OpType::Info
            && op
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("malformed-reply"))
    }));
    assert_eq!(h.violations.len(), sends.len());
    assert!(
        h.violations
            .iter()
            .all(|v| v.kind == ViolationKind::MalformedReply)
    );
}

#[test]
fn a_message_to_an_unknown_node_is_fatal_and_mutes_the_node() {
    let factory = wrapped(|input, mut out| {
        if let Input::Message(Message {
            body: Body::Send { .. },
            dest,
            ..
        }) = input
        {
            out.insert(
                0,
                Output::Send(Message {
                    src: dest.clone(),
                    dest: NodeId::new("n42"),
                    body: Body::InitOk {
                        in_reply_to: MsgId(0),
                    },
                }),
            );
        }
        out
    });
    let outcome = run::run(&small(1), &factory);
    let h = &outcome.history;
    assert_eq!(h.violations.len(), 1, "{:?}", h.violations);
    assert_eq!(h.violations[0].kind, ViolationKind::UnknownDestination);
    // After the first send, the muted node answers nothing: every later client operation
    // that needs an answer times out.
    let first_send = h.ops.iter().position(|op| op.f == F::Send).expect("a send");
    for op in &h.ops[first_send + 1..] {
        if op.ty != OpType::Invoke && matches!(op.f, F::Send | F::Poll) && !op.value_is_seek() {
            assert_eq!(op.error.as_deref(), Some("net-timeout"), "{op:?}");
        }
    }
}

#[test]
fn partitions_alternate_and_the_network_heals_at_the_end() {
    let options = Options {
        partition: true,
        nemesis_interval_s: 0.5,
        time_limit_s: 10.0,
        ..small(3)
    };
    let outcome = run::run(&options, &server::real_node());
    let nemesis = &outcome.history.nemesis;
    assert!(nemesis.len() >= 4, "{nemesis:?}");
    assert!(matches!(
        nemesis[0].kind,
        NemesisKind::StartPartition { .. }
    ));
    let last = nemesis.last().expect("events");
    assert_eq!(last.kind, NemesisKind::StopPartition);
    assert!(last.time >= outcome.history.main_phase_end);
    for pair in nemesis.windows(2).take(nemesis.len() - 2) {
        let starts = |k: &NemesisKind| matches!(k, NemesisKind::StartPartition { .. });
        assert_ne!(
            starts(&pair[0].kind),
            starts(&pair[1].kind),
            "no alternation: {pair:?}"
        );
    }
}

#[test]
fn services_answer_over_the_network_with_its_latency() {
    // On init, also ask lin-tso for a timestamp.
    let factory = wrapped(|input, mut out| {
        if let Input::Message(Message {
            body: Body::Init { node_id, .. },
            ..
        }) = input
        {
            out.push(Output::Send(Message {
                src: node_id.clone(),
                dest: NodeId::new("lin-tso"),
                body: Body::Other {
                    kind: "ts".into(),
                    msg_id: Some(MsgId(7)),
                    in_reply_to: None,
                    raw: r#"{"type":"ts","msg_id":7}"#.into(),
                },
            }));
        }
        out
    });
    let options = Options {
        latency_ms: 10,
        trace: true,
        time_limit_s: 1.0,
        ..small(1)
    };
    let outcome = run::run(&options, &factory);
    let reply = outcome
        .trace
        .iter()
        .find(|l| l.contains("n0 <- lin-tso"))
        .expect("lin-tso answered");
    assert!(reply.starts_with("20.000ms "), "{reply}");
    assert!(
        reply.contains(r#""ts":0"#) && reply.contains(r#""in_reply_to":7"#),
        "{reply}"
    );
    assert_eq!(outcome.history.net.servers.send_count, 2);
}

/// A real node whose client replies leave `delay_us` late, released by its timer.
struct Delayed {
    node: Node,
    delay_us: u64,
    held: Vec<(Timestamp, Output)>,
}

impl Server for Delayed {
    fn step(&mut self, now: Timestamp, input: Input) -> Vec<Output> {
        let init = is_init(&input);
        for out in self.node.step(now, input) {
            if init {
                self.held.push((now, out));
            } else {
                self.held.push((now.add_micros(self.delay_us), out));
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = self.held.drain(..).partition(|(at, _)| *at <= now);
        self.held = later;
        due.into_iter().map(|(_, out)| out).collect()
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        self.held.iter().map(|(at, _)| *at).min()
    }
}

fn delayed(delay_us: u64) -> ServerFactory {
    Box::new(move |config: Config| {
        Box::new(Delayed {
            node: Node::new(config).expect("valid config"),
            delay_us,
            held: Vec::new(),
        }) as Box<dyn Server>
    })
}

#[test]
fn node_timers_fire_on_time() {
    let outcome = run::run(&small(1), &delayed(1_000_000));
    let h = &outcome.history;
    assert!(h.violations.is_empty(), "{:?}", h.violations);
    let mut invoked = BTreeMap::new();
    let mut completions = 0;
    for op in &h.ops {
        match (op.ty, op.f) {
            (OpType::Invoke, _) => {
                invoked.insert(op.process, op.time);
            }
            (_, F::Send | F::Poll) => {
                completions += 1;
                // A poll with results also waits for its commit: two round trips.
                let latency = op.time - invoked[&op.process];
                assert!(
                    latency == 1_000_000 || latency == 2_000_000,
                    "{op:?} took {latency} µs"
                );
            }
            _ => {}
        }
    }
    assert!(completions > 3);
}

#[test]
fn a_reply_later_than_the_timeout_reaches_a_closed_client_and_is_fatal() {
    // spec: kafka.md 1.2 — the common cause of a muted node: a reply sent after the
    // client timed out and was replaced.
    let options = Options {
        time_limit_s: 20.0,
        ..small(1)
    };
    let outcome = run::run(&options, &delayed(6_000_000));
    let h = &outcome.history;
    // A late reply that finds its client still open (its thread has not started another
    // operation yet) is dropped by the client; the first one that finds it closed is
    // fatal, and the node is muted from then on.
    let fatal = h
        .violations
        .iter()
        .position(|v| v.kind == ViolationKind::UnknownDestination)
        .expect("a reply to a closed client");
    assert!(
        h.violations[..fatal]
            .iter()
            .all(|v| v.kind == ViolationKind::ReplyToNobody)
    );
    assert_eq!(fatal + 1, h.violations.len(), "{:?}", h.violations);
}

#[test]
fn two_nodes_bouncing_a_message_forever_at_zero_latency_are_a_livelock() {
    // Each node answers any message from another node with one back: with zero latency
    // virtual time never advances, and the runner must stop rather than spin.
    let factory = wrapped(|input, mut out| {
        match input {
            // n0 serves the first ball once it is initialised.
            Input::Message(Message {
                dest,
                body: Body::Init { .. },
                ..
            }) if dest.as_str() == "n0" => {
                out.push(Output::Send(Message {
                    src: dest.clone(),
                    dest: NodeId::new("n1"),
                    body: Body::InitOk {
                        in_reply_to: MsgId(0),
                    },
                }));
            }
            Input::Message(Message { src, dest, .. }) if src.as_str().starts_with('n') => {
                out.push(Output::Send(Message {
                    src: dest.clone(),
                    dest: src.clone(),
                    body: Body::InitOk {
                        in_reply_to: MsgId(0),
                    },
                }));
            }
            _ => {}
        }
        out
    });
    let outcome = run::run(&small(2), &factory);
    let failure = outcome.failure.expect("a livelock is a failed run");
    assert!(failure.contains("livelock"), "{failure}");
}

#[test]
fn invalid_options_fail_the_run_instead_of_panicking() {
    for options in [
        Options {
            node_count: Some(0),
            ..small(1)
        },
        Options {
            key_count: 0,
            ..small(1)
        },
        Options {
            loss: 2.0,
            ..small(1)
        },
        Options {
            rate: f64::NAN,
            ..small(1)
        },
    ] {
        let outcome = run::run(&options, &server::real_node());
        let failure = outcome.failure.expect("invalid options fail");
        assert!(failure.starts_with("invalid options"), "{failure}");
        assert!(outcome.history.ops.is_empty());
    }
}

/// A node that, besides answering like the real one, writes random messages: replies
/// of every kind with random ids to random destinations (clients, nodes, services, and
/// ids that do not exist), sometimes instead of the real reply.
struct Chaos {
    node: Node,
    rng: replicator_sim::rng::Rng,
    id: Option<NodeId>,
}

impl Chaos {
    fn random_body(&mut self) -> Body {
        let id = MsgId(self.rng.below(6));
        let key = replicator_core::Key::new(&self.rng.below(5).to_string());
        let offset = replicator_core::Offset(self.rng.below(4));
        match self.rng.below(8) {
            0 => Body::SendOk {
                in_reply_to: id,
                offset,
            },
            1 => {
                let mut run = replicator_core::MsgRun::new(key);
                for _ in 0..self.rng.below(4) {
                    let msg = replicator_core::Payload::parse(&self.rng.below(20).to_string())
                        .expect("an integer is JSON");
                    run.push(replicator_core::Offset(self.rng.below(6)), &msg);
                }
                Body::PollOk {
                    in_reply_to: id,
                    msgs: vec![run],
                }
            }
            2 => Body::CommitOffsetsOk { in_reply_to: id },
            3 => Body::ListCommittedOffsetsOk {
                in_reply_to: id,
                offsets: vec![(key, offset)],
            },
            4 => Body::Error {
                in_reply_to: id,
                code: ErrorCode(self.rng.below(32)),
                text: "chaos".into(),
            },
            5 => Body::InitOk { in_reply_to: id },
            6 => Body::Other {
                kind: "read".into(),
                msg_id: Some(id),
                in_reply_to: None,
                raw: format!(r#"{{"type":"read","key":{},"msg_id":{}}}"#, offset.0, id.0).into(),
            },
            _ => Body::Other {
                kind: "send_ok".into(),
                msg_id: None,
                in_reply_to: Some(id),
                raw: format!(
                    r#"{{"type":"send_ok","offset":1.5,"in_reply_to":{}}}"#,
                    id.0
                )
                .into(),
            },
        }
    }
}

impl Server for Chaos {
    fn step(&mut self, now: Timestamp, input: Input) -> Vec<Output> {
        let mut out = self.node.step(now, input);
        if let Some(id) = self.node.id() {
            self.id = Some(id.clone());
        }
        let Some(me) = self.id.clone() else {
            return out;
        };
        if self.rng.chance(0.05) {
            out.clear();
        }
        for _ in 0..self.rng.below(3) {
            if !self.rng.chance(0.3) {
                continue;
            }
            let dests = [
                "n0", "n1", "n2", "c3", "c4", "c5", "c6", "lin-kv", "seq-kv", "lww-kv", "nope",
            ];
            let dest = NodeId::new(dests[self.rng.index(dests.len())]);
            let body = self.random_body();
            out.push(Output::Send(Message {
                src: if self.rng.chance(0.02) {
                    NodeId::new("n9")
                } else {
                    me.clone()
                },
                dest,
                body,
            }));
        }
        out
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        self.node.next_deadline()
    }
}

#[test]
fn random_node_output_never_breaks_the_runner_or_the_history() {
    let mut runs_with_violations = 0;
    for seed in 0..300 {
        let factory: ServerFactory = Box::new(|config: Config| {
            Box::new(Chaos {
                rng: replicator_sim::rng::Rng::new(config.seed),
                node: Node::new(config).expect("valid config"),
                id: None,
            }) as Box<dyn Server>
        });
        let options = Options {
            seed,
            time_limit_s: 2.0,
            rate: 100.0,
            latency_ms: 2,
            ..small(3)
        };
        let outcome = run::run(&options, &factory);
        if outcome.failure.is_none() {
            assert_well_formed(&outcome.history, 3);
        }
        runs_with_violations += usize::from(!outcome.history.violations.is_empty());
        // The checker must take whatever history came out.
        let _ = replicator_sim::checker::check(&outcome.history).is_valid();
    }
    assert!(
        runs_with_violations > 100,
        "the chaos was too tame: {runs_with_violations}"
    );
}
