//! Maelstrom's services (spec: kafka.md 5): `lin-kv`, `seq-kv`, `lww-kv` and `lin-tso`.
//!
//! A service reads the raw JSON of a request body ([`Body::Other`]) and answers with a
//! raw JSON body that carries `in_reply_to` and no `msg_id`. One request at a time, in
//! arrival order; services never fail and are never partitioned. A request the service
//! cannot read (an unknown `type`, a missing field, no `msg_id`) gets no reply at all, as
//! under Maelstrom, whose service thread swallows the exception.
//!
//! Invariants:
//! - Keys and values are compared structurally as parsed JSON (`1` and `1.0` differ, and
//!   so do `"1"` and `1`); keys are stored under their canonical JSON text.
//! - `seq-kv` never serves a caller a state older than one it has already seen.

use crate::rng::Rng;
use replicator_core::{Body, MsgId, NodeId};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

/// One of the services, by the id it has on the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// Linearizable key-value store.
    LinKv,
    /// Sequentially consistent key-value store.
    SeqKv,
    /// Last-write-wins store whose replicas never converge.
    LwwKv,
    /// Linearizable timestamp oracle.
    LinTso,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 4] = [
        Service::LinKv,
        Service::SeqKv,
        Service::LwwKv,
        Service::LinTso,
    ];

    /// Its id on the network.
    pub fn name(self) -> &'static str {
        match self {
            Service::LinKv => "lin-kv",
            Service::SeqKv => "seq-kv",
            Service::LwwKv => "lww-kv",
            Service::LinTso => "lin-tso",
        }
    }

    /// The service with this id.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One key-value state: canonical key text → value.
type Kv = BTreeMap<String, Value>;

/// A parsed KV request.
enum KvOp {
    Read {
        key: String,
    },
    Write {
        key: String,
        value: Value,
    },
    Cas {
        key: String,
        from: Value,
        to: Value,
        create: bool,
    },
}

/// The result of applying a request to one state.
struct Applied {
    reply: Value,
    /// The new state, when the request changed something.
    changed: Option<Kv>,
}

/// spec: kafka.md 5.2 — `seq-kv` keeps this many recent states.
const SEQ_STATES_MAX: usize = 32;

/// spec: kafka.md 5.2 — Maelstrom builds `lww-kv` with 2 replicas, not the documented 5.
const LWW_REPLICAS: usize = 2;

/// Every service's state.
pub(crate) struct Services {
    rng: Rng,
    lin: Kv,
    /// `seq-kv`'s recent states, oldest first; `seq_base` is the version of the first.
    seq_states: VecDeque<Rc<Kv>>,
    seq_base: u64,
    /// Per caller, the newest version it has seen.
    seq_seen: BTreeMap<NodeId, u64>,
    lww: Vec<Kv>,
    tso: u64,
}

impl Services {
    pub(crate) fn new(rng: Rng) -> Services {
        Services {
            rng,
            lin: Kv::new(),
            seq_states: VecDeque::from([Rc::new(Kv::new())]),
            seq_base: 0,
            seq_seen: BTreeMap::new(),
            lww: vec![Kv::new(); LWW_REPLICAS],
            tso: 0,
        }
    }

    /// Handles one request from `src`; `None` when Maelstrom would not answer.
    pub(crate) fn handle(&mut self, service: Service, src: &NodeId, body: &Body) -> Option<Body> {
        let Body::Other {
            raw,
            msg_id: Some(msg_id),
            ..
        } = body
        else {
            return None;
        };
        let request: Value = serde_json::from_str(raw).ok()?;
        let mut reply = match service {
            Service::LinTso => {
                if request.get("type")?.as_str()? != "ts" {
                    return None;
                }
                let ts = self.tso;
                self.tso += 1;
                json!({"type": "ts_ok", "ts": ts})
            }
            Service::LinKv => {
                let op = parse_kv(&request)?;
                let applied = apply(&self.lin, &op, true);
                if let Some(next) = applied.changed {
                    self.lin = next;
                }
                applied.reply
            }
            Service::LwwKv => {
                let op = parse_kv(&request)?;
                let replica = self.rng.index(self.lww.len());
                // spec: kafka.md 5.1 — lww-kv ignores create_if_not_exists.
                let applied = apply(&self.lww[replica], &op, false);
                if let Some(next) = applied.changed {
                    self.lww[replica] = next;
                }
                applied.reply
            }
            Service::SeqKv => {
                let op = parse_kv(&request)?;
                self.seq_kv(src, &op)
            }
        };
        reply["in_reply_to"] = json!(msg_id.0);
        Some(Body::Other {
            kind: reply["type"].as_str().unwrap_or_default().to_string(),
            msg_id: None,
            in_reply_to: Some(MsgId(msg_id.0)),
            raw: reply.to_string().into(),
        })
    }

    /// spec: kafka.md 5.2 — try the request on a state between the caller's last-seen one
    /// and the latest; if it changes nothing there, answer from there, otherwise apply it
    /// to the latest state.
    fn seq_kv(&mut self, src: &NodeId, op: &KvOp) -> Value {
        let latest = self.seq_base + self.seq_states.len() as u64 - 1;
        let seen = self
            .seq_seen
            .get(src)
            .copied()
            .unwrap_or(0)
            .max(self.seq_base);
        let chosen = seen + self.rng.below(latest - seen + 1);
        let state = &self.seq_states[(chosen - self.seq_base) as usize];
        let tried = apply(state, op, true);
        if tried.changed.is_none() {
            self.seq_seen.insert(src.clone(), chosen);
            return tried.reply;
        }
        let newest = self.seq_states.back().expect("seq-kv always has a state");
        let applied = apply(newest, op, true);
        let mut version = latest;
        if let Some(next) = applied.changed {
            self.seq_states.push_back(Rc::new(next));
            version += 1;
            if self.seq_states.len() > SEQ_STATES_MAX {
                self.seq_states.pop_front();
                self.seq_base += 1;
            }
        }
        self.seq_seen.insert(src.clone(), version);
        applied.reply
    }
}

fn parse_kv(request: &Value) -> Option<KvOp> {
    let key = request.get("key")?.to_string();
    match request.get("type")?.as_str()? {
        "read" => Some(KvOp::Read { key }),
        "write" => Some(KvOp::Write {
            key,
            value: request.get("value")?.clone(),
        }),
        "cas" => Some(KvOp::Cas {
            key,
            from: request.get("from")?.clone(),
            to: request.get("to")?.clone(),
            create: request
                .get("create_if_not_exists")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }),
        _ => None,
    }
}

fn error(code: u64, text: String) -> Value {
    json!({"type": "error", "code": code, "text": text})
}

/// Applies `op` to `state` without touching it; `honour_create` is false for `lww-kv`.
fn apply(state: &Kv, op: &KvOp, honour_create: bool) -> Applied {
    let unchanged = |reply| Applied {
        reply,
        changed: None,
    };
    let with = |key: &String, value: &Value| {
        let mut next = state.clone();
        next.insert(key.clone(), value.clone());
        next
    };
    match op {
        KvOp::Read { key } => match state.get(key) {
            Some(value) => unchanged(json!({"type": "read_ok", "value": value})),
            None => unchanged(error(20, "key does not exist".into())),
        },
        KvOp::Write { key, value } => Applied {
            reply: json!({"type": "write_ok"}),
            changed: (state.get(key) != Some(value)).then(|| with(key, value)),
        },
        KvOp::Cas {
            key,
            from,
            to,
            create,
        } => match state.get(key) {
            None if *create && honour_create => Applied {
                reply: json!({"type": "cas_ok"}),
                changed: Some(with(key, to)),
            },
            None => unchanged(error(20, "key does not exist".into())),
            Some(current) if current != from => {
                unchanged(error(22, format!("current value {current} is not {from}")))
            }
            Some(current) => Applied {
                reply: json!({"type": "cas_ok"}),
                changed: (current != to).then(|| with(key, to)),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(services: &mut Services, service: Service, from: &str, raw: &str) -> Option<Value> {
        let value: Value = serde_json::from_str(raw).unwrap();
        let body = Body::Other {
            kind: value["type"].as_str().unwrap().to_string(),
            msg_id: value.get("msg_id").and_then(Value::as_u64).map(MsgId),
            in_reply_to: None,
            raw: raw.into(),
        };
        let reply = services.handle(service, &NodeId::new(from), &body)?;
        let Body::Other { raw, msg_id, .. } = reply else {
            panic!("services answer with raw bodies")
        };
        assert_eq!(msg_id, None, "service replies carry no msg_id");
        Some(serde_json::from_str(&raw).unwrap())
    }

    /// Reads key `"k"` from `service` as node `from`; the tests that write one key many
    /// times and read it back many times differ only in who asks which service.
    fn read_k(services: &mut Services, service: Service, from: &str) -> Value {
        request(
            services,
            service,
            from,
            r#"{"type":"read","key":"k","msg_id":1}"#,
        )
        .unwrap()
    }

    #[test]
    fn lin_kv_reads_writes_and_cases_with_maelstrom_codes() {
        let mut s = Services::new(Rng::new(1));
        let r = |s: &mut Services, raw| request(s, Service::LinKv, "n0", raw).unwrap();
        let missing = r(&mut s, r#"{"type":"read","key":"a","msg_id":1}"#);
        assert_eq!(missing["code"], 20);
        assert_eq!(missing["in_reply_to"], 1);
        let cas = r(
            &mut s,
            r#"{"type":"cas","key":"a","from":1,"to":2,"msg_id":2}"#,
        );
        assert_eq!(cas["code"], 20);
        let created = r(
            &mut s,
            r#"{"type":"cas","key":"a","from":0,"to":2,"create_if_not_exists":true,"msg_id":3}"#,
        );
        assert_eq!(created["type"], "cas_ok");
        let float = r(
            &mut s,
            r#"{"type":"cas","key":"a","from":2.0,"to":3,"msg_id":4}"#,
        );
        assert_eq!(float["code"], 22, "2.0 is not 2: {float}");
        r(&mut s, r#"{"type":"write","key":1,"value":[1],"msg_id":5}"#);
        let read = r(&mut s, r#"{"type":"read","key":"a","msg_id":6}"#);
        assert_eq!(read["value"], 2);
        let other_key = r(&mut s, r#"{"type":"read","key":"1","msg_id":7}"#);
        assert_eq!(other_key["code"], 20, "\"1\" and 1 are different keys");
    }

    #[test]
    fn unknown_types_and_missing_fields_get_no_reply() {
        let mut s = Services::new(Rng::new(1));
        assert!(
            request(
                &mut s,
                Service::LinKv,
                "n0",
                r#"{"type":"frob","msg_id":1}"#
            )
            .is_none()
        );
        assert!(
            request(
                &mut s,
                Service::LinKv,
                "n0",
                r#"{"type":"write","key":1,"msg_id":2}"#
            )
            .is_none()
        );
        assert!(request(&mut s, Service::LinKv, "n0", r#"{"type":"read","key":1}"#).is_none());
    }

    #[test]
    fn lin_tso_counts_from_zero() {
        let mut s = Services::new(Rng::new(1));
        for want in 0..3 {
            let reply =
                request(&mut s, Service::LinTso, "n1", r#"{"type":"ts","msg_id":9}"#).unwrap();
            assert_eq!(reply["ts"], want);
        }
    }

    #[test]
    fn seq_kv_serves_stale_reads_but_never_older_than_seen() {
        let mut s = Services::new(Rng::new(5));
        for v in 1..=10 {
            let raw = format!(r#"{{"type":"write","key":"k","value":{v},"msg_id":{v}}}"#);
            request(&mut s, Service::SeqKv, "n0", &raw).unwrap();
        }
        // n0 has seen the latest state, so its reads are always fresh.
        for _ in 0..20 {
            let read = read_k(&mut s, Service::SeqKv, "n0");
            assert_eq!(read["value"], 10);
        }
        // n1 has seen nothing: its reads may be stale but never go back once seen.
        let mut last = -1i64;
        let mut stale = false;
        for _ in 0..50 {
            let read = read_k(&mut s, Service::SeqKv, "n1");
            let v = read.get("value").and_then(Value::as_i64).unwrap_or(0);
            assert!(v >= last, "n1 went back from {last} to {v}");
            stale |= v < 10;
            last = v;
        }
        assert!(stale, "seq-kv never served a stale read");
    }

    #[test]
    fn lww_kv_replicas_diverge() {
        let mut s = Services::new(Rng::new(3));
        for v in 0..20 {
            let raw = format!(r#"{{"type":"write","key":"k","value":{v},"msg_id":1}}"#);
            request(&mut s, Service::LwwKv, "n0", &raw).unwrap();
        }
        let reads: Vec<Value> = (0..40)
            .map(|_| read_k(&mut s, Service::LwwKv, "n0")["value"].clone())
            .collect();
        assert!(
            reads.iter().any(|v| *v != reads[0]),
            "replicas agree: {reads:?}"
        );
    }
}
