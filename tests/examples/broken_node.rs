//! A one-node Maelstrom kafka node with one deliberate fault, chosen by its argument, for
//! the tests of the real-time driver (`tests/src/realtime.rs`): the faults a Gossip
//! Glomers player meets first, each of which the driver must catch with the verdict a
//! real Maelstrom would give.
//!
//! - `--exit-after N`: after N messages, says why on stderr and exits with status 3
//!   (Maelstrom: the node crashed; the test fails with its status and last lines).
//! - `--print-after N`: after N messages, prints a debugging line on stdout instead of
//!   stderr (Maelstrom: not well-formed JSON; it never reads that node's stdout again).
//! - `--lose MSG`: acknowledges every send whose message is MSG, at an offset of its own,
//!   and never returns it in a poll (the checker: `lost-write`).
//!
//! Apart from its fault it is the naive node of `naive_node.rs`: a `serde_json::Value`
//! per line, one log per key, dense offsets from 0.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;

enum Fault {
    ExitAfter(u64),
    PrintAfter(u64),
    Lose(Value),
}

fn fault() -> Result<Fault, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |text: &str| text.parse::<u64>().map_err(|e| format!("{text:?}: {e}"));
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["--exit-after", n] => Ok(Fault::ExitAfter(number(n)?)),
        ["--print-after", n] => Ok(Fault::PrintAfter(number(n)?)),
        ["--lose", msg] => Ok(Fault::Lose(
            serde_json::from_str(msg).map_err(|e| format!("{msg:?}: {e}"))?,
        )),
        _ => Err("usage: broken_node --exit-after N | --print-after N | --lose MSG".into()),
    }
}

fn main() -> ExitCode {
    let fault = match fault() {
        Ok(fault) => fault,
        Err(message) => {
            eprintln!("broken_node: {message}");
            return ExitCode::from(2);
        }
    };
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut me = String::new();
    // Per key, the log: each message with whether it was lost.
    let mut logs: BTreeMap<String, Vec<(Value, bool)>> = BTreeMap::new();
    let mut committed: Map<String, Value> = Map::new();
    for (seen, line) in (1u64..).zip(stdin.lines()) {
        let Ok(line) = line else { break };
        match fault {
            Fault::ExitAfter(n) if seen > n => {
                eprintln!("broken_node: exiting on purpose after {n} messages");
                return ExitCode::from(3);
            }
            Fault::PrintAfter(n) if seen == n + 1 => {
                let _ = writeln!(out, "debug: {n} messages so far");
            }
            _ => {}
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let body = &msg["body"];
        let mut reply = match body["type"].as_str().unwrap_or("") {
            "init" => {
                me = body["node_id"].as_str().unwrap_or("").to_string();
                json!({"type": "init_ok"})
            }
            "send" => {
                let log = logs
                    .entry(body["key"].as_str().unwrap_or("").into())
                    .or_default();
                let lost = matches!(&fault, Fault::Lose(v) if *v == body["msg"]);
                log.push((body["msg"].clone(), lost));
                json!({"type": "send_ok", "offset": log.len() - 1})
            }
            "poll" => {
                let mut msgs = Map::new();
                for (key, from) in body["offsets"].as_object().into_iter().flatten() {
                    let log = logs.get(key).map_or(&[][..], Vec::as_slice);
                    let from = (from.as_u64().unwrap_or(0) as usize).min(log.len());
                    let run: Vec<Value> = (from..)
                        .zip(&log[from..])
                        .filter(|(_, (_, lost))| !lost)
                        .map(|(o, (m, _))| json!([o, m]))
                        .collect();
                    if !run.is_empty() {
                        msgs.insert(key.clone(), Value::Array(run));
                    }
                }
                json!({"type": "poll_ok", "msgs": msgs})
            }
            "commit_offsets" => {
                for (key, offset) in body["offsets"].as_object().into_iter().flatten() {
                    committed.insert(key.clone(), offset.clone());
                }
                json!({"type": "commit_offsets_ok"})
            }
            "list_committed_offsets" => {
                let keys = body["keys"].as_array().into_iter().flatten();
                let offsets: Map<String, Value> = keys
                    .filter_map(|k| {
                        let k = k.as_str()?;
                        Some((k.to_string(), committed.get(k)?.clone()))
                    })
                    .collect();
                json!({"type": "list_committed_offsets_ok", "offsets": offsets})
            }
            _ => continue,
        };
        reply["in_reply_to"] = body["msg_id"].clone();
        let line = json!({"src": me, "dest": msg["src"], "body": reply});
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
