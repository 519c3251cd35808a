//! The core benchmark: Replicator's `Node` driven directly, without processes or pipes.
//!
//! `cargo bench -p replicator-tests --bench core_steps [-- --runs N --requests N --clients N]`
//!
//! Over the stdio bench's workload (init, then 1,000,000 requests) it reports:
//! - steps/s: `Node::step` on messages decoded beforehand (dropping the outputs counts);
//! - lines/s: decode, step and encode per line, the whole of what `io` does per line
//!   except the system calls;
//! - decode lines/s alone, to show where the time of a line goes.
//!
//! A first, untimed pass checks the sampled replies and the reply count, so the timed
//! passes measure a node known to answer correctly.

mod common;

use common::{Args, check_reply, generate, load, spread};
use replicator_core::protocol::decode;
use replicator_core::{Config, Input, Message, Node, Output, Timestamp};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let args = Args::from_env();
    let runs = args.number("--runs", 5).max(1);
    let requests = args.number("--requests", 1_000_000);
    let workload = generate(&args.shape(requests));
    let input = workload.all_lines();
    let lines: Vec<&[u8]> = input
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), workload.reply_count(), "one line per request");
    let messages: Vec<Message> = lines
        .iter()
        .map(|line| decode(line).expect("the generated workload decodes"))
        .collect();
    println!(
        "workload: {} lines ({} send, {} poll, {} commit_offsets after init), load {}",
        lines.len(),
        workload.sends,
        workload.polls,
        workload.commits,
        load()
    );

    verify(&messages, &workload);

    let mut steps = Vec::new();
    let mut per_line = Vec::new();
    let mut decodes = Vec::new();
    for run in 1..=runs {
        let batch = messages.clone();
        let mut node = new_node();
        let started = Instant::now();
        let mut sent = 0usize;
        for (i, message) in batch.into_iter().enumerate() {
            let outputs = node.step(Timestamp(i as u64), Input::Message(message));
            sent += outputs
                .iter()
                .filter(|o| matches!(o, Output::Send(_)))
                .count();
            black_box(outputs);
        }
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(sent, lines.len(), "one reply per request");
        steps.push(lines.len() as f64 / seconds);

        let mut node = new_node();
        let mut out = Vec::with_capacity(1 << 20);
        let started = Instant::now();
        for (i, line) in lines.iter().enumerate() {
            let input = match decode(line) {
                Ok(message) => Input::Message(message),
                Err(malformed) => Input::Malformed(malformed),
            };
            for output in node.step(Timestamp(i as u64), input) {
                if let Output::Send(message) = output {
                    message.encode(&mut out);
                }
            }
            // Stand in for `io`'s flush: the buffer is handed off and reused.
            if out.len() >= 1 << 20 {
                black_box(&out);
                out.clear();
            }
        }
        black_box(&out);
        per_line.push(lines.len() as f64 / started.elapsed().as_secs_f64());

        let started = Instant::now();
        for line in &lines {
            black_box(decode(line).is_ok());
        }
        decodes.push(lines.len() as f64 / started.elapsed().as_secs_f64());
        println!(
            "run {run}: {:.0} steps/s, {:.0} lines/s decode+step+encode, {:.0} lines/s decode only, load {}",
            steps[run - 1],
            per_line[run - 1],
            decodes[run - 1],
            load()
        );
    }
    for (name, values) in [
        ("core steps/s (pre-decoded)", &steps),
        ("core lines/s (decode+step+encode)", &per_line),
        ("core lines/s (decode only)", &decodes),
    ] {
        let (median, min, max) = spread(values);
        println!("{name}: median {median:.0} (min {min:.0}, max {max:.0}) over {runs} runs");
    }
}

fn new_node() -> Node {
    Node::new(Config {
        seed: 1,
        ..Config::default()
    })
    .expect("the default config is valid")
}

/// One untimed pass: every request gets exactly one reply, and the sampled replies say
/// what a correct node says.
fn verify(messages: &[Message], workload: &common::Workload) {
    let mut node = new_node();
    let mut samples = workload.samples.iter().peekable();
    let mut replies = 0;
    for (i, message) in messages.iter().enumerate() {
        for output in node.step(Timestamp(i as u64), Input::Message(message.clone())) {
            let Output::Send(reply) = output else {
                continue;
            };
            if let Some(sample) = samples.next_if(|s| s.line == replies) {
                let mut line = Vec::new();
                reply.encode(&mut line);
                line.pop();
                if let Err(why) = check_reply(sample, &line) {
                    panic!("the node answers wrongly: {why}");
                }
            }
            replies += 1;
        }
    }
    assert_eq!(replies, messages.len(), "one reply per request");
    assert!(samples.next().is_none(), "every sampled reply was checked");
}
