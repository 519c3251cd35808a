//! A plain Maelstrom kafka node, the way one is usually first written: a
//! `serde_json::Value` per line, `json!` replies, one formatted line per reply. It exists
//! only so the stdio benchmark can measure Replicator against it (`-- --naive`); it is
//! not part of the product and skips every check the real node makes.
//!
//! Output goes through a `BufWriter` flushed whenever no more input is buffered: a node
//! that flushes less often could leave Maelstrom waiting for replies, and one that
//! flushes every line would measure the write system call rather than the JSON work.

use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};

fn main() -> std::io::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let (mut me, mut line) = (String::new(), String::new());
    let mut logs: HashMap<String, Vec<Value>> = HashMap::new();
    let mut committed: HashMap<String, Value> = HashMap::new();
    while input.read_line(&mut line)? > 0 {
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            line.clear();
            continue;
        };
        line.clear();
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
                log.push(body["msg"].clone());
                json!({"type": "send_ok", "offset": log.len() - 1})
            }
            "poll" => {
                let mut msgs = Map::new();
                for (key, from) in body["offsets"].as_object().into_iter().flatten() {
                    let log = logs.get(key).map_or(&[][..], Vec::as_slice);
                    let from = (from.as_u64().unwrap_or(0) as usize).min(log.len());
                    let run: Vec<Value> = (from..)
                        .zip(&log[from..])
                        .map(|(o, m)| json!([o, m]))
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
                        Some((k.as_str()?.to_string(), committed.get(k.as_str()?)?.clone()))
                    })
                    .collect();
                json!({"type": "list_committed_offsets_ok", "offsets": offsets})
            }
            _ => continue,
        };
        reply["in_reply_to"] = body["msg_id"].clone();
        writeln!(
            out,
            "{}",
            json!({"src": me, "dest": msg["src"], "body": reply})
        )?;
        if input.buffer().is_empty() {
            out.flush()?;
        }
    }
    out.flush()
}
