//! A one-node Maelstrom kafka node that takes its offsets from Maelstrom's `lin-tso`
//! service, for the real-time driver's tests (`tests/src/realtime.rs`): it proves that a
//! node's messages to a service and the service's replies travel through the driver as
//! they do through Maelstrom (spec: kafka.md 5).
//!
//! Each `send` asks `lin-tso` for a timestamp and is answered once the timestamp comes
//! back, with the timestamp as its offset: offsets are then sparse but increasing, which
//! the workload allows (spec: kafka.md 2.1). Everything else is the naive node of
//! `naive_node.rs`.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// A send waiting for its timestamp.
struct Waiting {
    client: Value,
    msg_id: Value,
    key: String,
    msg: Value,
}

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut me = String::new();
    let mut next_msg_id = 0u64;
    let mut waiting: BTreeMap<u64, Waiting> = BTreeMap::new();
    // Per key, `(offset, message)` in offset order.
    let mut logs: BTreeMap<String, Vec<(u64, Value)>> = BTreeMap::new();
    let mut committed: Map<String, Value> = Map::new();
    for line in stdin.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(&line?) else {
            continue;
        };
        let body = &msg["body"];
        let (dest, mut reply) = match body["type"].as_str().unwrap_or("") {
            "init" => {
                me = body["node_id"].as_str().unwrap_or("").to_string();
                (msg["src"].clone(), json!({"type": "init_ok"}))
            }
            "send" => {
                next_msg_id += 1;
                waiting.insert(
                    next_msg_id,
                    Waiting {
                        client: msg["src"].clone(),
                        msg_id: body["msg_id"].clone(),
                        key: body["key"].as_str().unwrap_or("").to_string(),
                        msg: body["msg"].clone(),
                    },
                );
                let ask = json!({"src": me, "dest": "lin-tso",
                                 "body": {"type": "ts", "msg_id": next_msg_id}});
                writeln!(out, "{ask}")?;
                out.flush()?;
                continue;
            }
            "ts_ok" => {
                let Some(send) = body["in_reply_to"]
                    .as_u64()
                    .and_then(|id| waiting.remove(&id))
                else {
                    continue;
                };
                let offset = body["ts"].as_u64().unwrap_or(0);
                logs.entry(send.key).or_default().push((offset, send.msg));
                let reply =
                    json!({"type": "send_ok", "offset": offset, "in_reply_to": send.msg_id});
                (send.client, reply)
            }
            "poll" => {
                let mut msgs = Map::new();
                for (key, from) in body["offsets"].as_object().into_iter().flatten() {
                    let from = from.as_u64().unwrap_or(0);
                    let run: Vec<Value> = logs
                        .get(key)
                        .into_iter()
                        .flatten()
                        .filter(|(o, _)| *o >= from)
                        .map(|(o, m)| json!([o, m]))
                        .collect();
                    if !run.is_empty() {
                        msgs.insert(key.clone(), Value::Array(run));
                    }
                }
                (msg["src"].clone(), json!({"type": "poll_ok", "msgs": msgs}))
            }
            "commit_offsets" => {
                for (key, offset) in body["offsets"].as_object().into_iter().flatten() {
                    committed.insert(key.clone(), offset.clone());
                }
                (msg["src"].clone(), json!({"type": "commit_offsets_ok"}))
            }
            "list_committed_offsets" => {
                let keys = body["keys"].as_array().into_iter().flatten();
                let offsets: Map<String, Value> = keys
                    .filter_map(|k| {
                        let k = k.as_str()?;
                        Some((k.to_string(), committed.get(k)?.clone()))
                    })
                    .collect();
                let reply = json!({"type": "list_committed_offsets_ok", "offsets": offsets});
                (msg["src"].clone(), reply)
            }
            _ => continue,
        };
        if reply.get("in_reply_to").is_none() {
            reply["in_reply_to"] = body["msg_id"].clone();
        }
        writeln!(out, "{}", json!({"src": me, "dest": dest, "body": reply}))?;
        out.flush()?;
    }
    Ok(())
}
