//! Traces: one readable line per event, `12.345ms n1 <- c3 send key="9" msg=3 msg_id=17`.
//!
//! Lines are built only when tracing is on: the closures passed to [`Trace::line`] are
//! never called otherwise, so an untraced run pays nothing for them.

use crate::history::Micros;
use replicator_core::Body;
use std::fmt::Write as _;

/// Where trace lines go: nowhere, or into memory.
#[derive(Debug, Default)]
pub struct Trace {
    lines: Option<Vec<String>>,
}

impl Trace {
    /// A trace that records nothing.
    pub fn off() -> Trace {
        Trace { lines: None }
    }

    /// A trace that keeps every line.
    pub fn on() -> Trace {
        Trace {
            lines: Some(Vec::new()),
        }
    }

    /// Whether lines are kept.
    pub fn is_on(&self) -> bool {
        self.lines.is_some()
    }

    /// Records the line `text()` at virtual time `now`, when tracing is on.
    pub fn line(&mut self, now: Micros, text: impl FnOnce() -> String) {
        if let Some(lines) = &mut self.lines {
            lines.push(format!("{} {}", time(now), text()));
        }
    }

    /// The lines recorded.
    pub fn into_lines(self) -> Vec<String> {
        self.lines.unwrap_or_default()
    }
}

/// Virtual time as milliseconds with microsecond digits: `12.345ms`.
pub fn time(us: Micros) -> String {
    format!("{}.{:03}ms", us / 1000, us % 1000)
}

/// `n` with its noun, singular or plural: `1 node`, `2 threads`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The most messages of a `poll_ok` a trace line shows per key.
const RUN_SHOWN_MAX: usize = 8;

/// A body as `type field=value …`.
pub fn body(body: &Body) -> String {
    let mut out = String::from(body.kind());
    match body {
        Body::Init {
            msg_id,
            node_id,
            node_ids,
        } => {
            let ids: Vec<&str> = node_ids.iter().map(|n| n.as_str()).collect();
            let _ = write!(out, " node_id={node_id} node_ids={ids:?} msg_id={msg_id}");
        }
        Body::InitOk { in_reply_to } | Body::CommitOffsetsOk { in_reply_to } => {
            let _ = write!(out, " in_reply_to={in_reply_to}");
        }
        Body::Send { msg_id, key, msg } => {
            let _ = write!(out, " key={key:?} msg={} msg_id={msg_id}", msg.as_str());
        }
        Body::SendOk {
            in_reply_to,
            offset,
        } => {
            let _ = write!(out, " offset={offset} in_reply_to={in_reply_to}");
        }
        Body::Poll { msg_id, offsets } | Body::CommitOffsets { msg_id, offsets } => {
            out.push_str(" offsets={");
            offsets_text(&mut out, offsets);
            let _ = write!(out, "}} msg_id={msg_id}");
        }
        Body::PollOk { in_reply_to, msgs } => {
            out.push_str(" msgs={");
            for (i, run) in msgs.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{:?}:[", run.key);
                for (j, (offset, msg)) in run.iter().take(RUN_SHOWN_MAX).enumerate() {
                    if j > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{offset}:{msg}");
                }
                if run.len() > RUN_SHOWN_MAX {
                    let _ = write!(out, " …+{}", run.len() - RUN_SHOWN_MAX);
                }
                out.push(']');
            }
            let _ = write!(out, "}} in_reply_to={in_reply_to}");
        }
        Body::ListCommittedOffsets { msg_id, keys } => {
            let _ = write!(out, " keys={keys:?} msg_id={msg_id}");
        }
        Body::ListCommittedOffsetsOk {
            in_reply_to,
            offsets,
        } => {
            out.push_str(" offsets={");
            offsets_text(&mut out, offsets);
            let _ = write!(out, "}} in_reply_to={in_reply_to}");
        }
        Body::Error {
            in_reply_to,
            code,
            text,
        } => {
            let _ = write!(
                out,
                " code={} text={text:?} in_reply_to={in_reply_to}",
                code.0
            );
        }
        Body::Other { raw, .. } => {
            out.push(' ');
            out.push_str(raw);
        }
        Body::Sync(sync) => sync_text(&mut out, sync),
        Body::Vote(v) => {
            let _ = write!(
                out,
                " term={} candidate={} last={}@{}",
                v.term, v.candidate, v.last_index, v.last_term
            );
            flags(&mut out, &[("pre", v.pre), ("relayed", v.relayed)]);
        }
        Body::VoteReply(r) => {
            let _ = write!(
                out,
                " term={} voter={} candidate={}",
                r.term, r.voter, r.candidate
            );
            flags(
                &mut out,
                &[
                    ("granted", r.granted),
                    ("pre", r.pre),
                    ("relayed", r.relayed),
                ],
            );
        }
    }
    out
}

/// A sync as `sync term=3 leader=n0 hb=17 seq=41 got=39 facts=[n0 3/120/118/17 …]
/// entries=119..121 after 118@3 [3 "5"=7 n1#2, 3 noop, 3 commit{"5":12} n2#0]
/// fwd=[n1#3 "5"=8, n1#4 commit{"5":12}]`; a fact reads `node term/match/commit/hb`.
fn sync_text(out: &mut String, s: &replicator_core::protocol::Sync) {
    use replicator_core::protocol::{Entry, Op};
    let _ = write!(out, " term={}", s.term);
    if let Some(leader) = &s.leader {
        let _ = write!(out, " leader={leader}");
    }
    let _ = write!(out, " hb={} seq={} got={} facts=[", s.hb, s.seq, s.got);
    for (i, f) in s.facts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{} {}/{}/{}/{}",
            f.node, f.term, f.matched, f.commit, f.hb
        );
    }
    out.push(']');
    if let Some(a) = &s.append {
        let first = a.prev.0 + 1;
        let _ = write!(
            out,
            " entries={first}..{} after {}@{} [",
            a.prev.0 + a.entries.len() as u64,
            a.prev,
            a.prev_term
        );
        for (i, e) in a.entries.iter().take(RUN_SHOWN_MAX).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match e {
                Entry::Noop { term } => {
                    let _ = write!(out, "{term} noop");
                }
                Entry::Send {
                    term,
                    key,
                    msg,
                    origin,
                } => {
                    let _ = write!(
                        out,
                        "{term} {key:?}={} {}#{}",
                        msg.as_str(),
                        origin.node,
                        origin.seq
                    );
                }
                Entry::Commit {
                    term,
                    offsets,
                    origin,
                } => {
                    let _ = write!(out, "{term} commit{{");
                    offsets_text(out, offsets);
                    let _ = write!(out, "}} {}#{}", origin.node, origin.seq);
                }
            }
        }
        if a.entries.len() > RUN_SHOWN_MAX {
            let _ = write!(out, " …+{}", a.entries.len() - RUN_SHOWN_MAX);
        }
        out.push(']');
    }
    if !s.forwards.is_empty() {
        out.push_str(" fwd=[");
        for (i, f) in s.forwards.iter().take(RUN_SHOWN_MAX).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}#{} ", f.origin.node, f.origin.seq);
            match &f.op {
                Op::Send { key, msg } => {
                    let _ = write!(out, "{key:?}={}", msg.as_str());
                }
                Op::Commit { offsets } => {
                    out.push_str("commit{");
                    offsets_text(out, offsets);
                    out.push('}');
                }
            }
        }
        if s.forwards.len() > RUN_SHOWN_MAX {
            let _ = write!(out, " …+{}", s.forwards.len() - RUN_SHOWN_MAX);
        }
        out.push(']');
    }
    flags(out, &[("relay_me", s.relay_me)]);
}

/// The names of the flags that are set, each after a space.
fn flags(out: &mut String, named: &[(&str, bool)]) {
    for (name, on) in named {
        if *on {
            out.push(' ');
            out.push_str(name);
        }
    }
}

fn offsets_text(out: &mut String, offsets: &[(replicator_core::Key, replicator_core::Offset)]) {
    for (i, (key, offset)) in offsets.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{key:?}:{offset}");
    }
}

/// A history entry as `p3 ok send "9" [4 3]`.
pub fn op(op: &crate::history::Op) -> String {
    use crate::history::{F, OpType, OpValue};
    let ty = match op.ty {
        OpType::Invoke => "invoke",
        OpType::Ok => "ok",
        OpType::Info => "info",
        OpType::Fail => "fail",
    };
    let f = match op.f {
        F::Send => "send",
        F::Poll => "poll",
        F::Assign => "assign",
        F::Crash => "crash",
    };
    let mut out = format!("p{} {ty} {f}", op.process);
    match &op.value {
        OpValue::Send { key, value, offset } => match offset {
            Some(o) => {
                let _ = write!(out, " {key:?} [{o} {value}]");
            }
            None => {
                let _ = write!(out, " {key:?} {value}");
            }
        },
        OpValue::Poll {
            msgs: Some(msgs), ..
        } => {
            out.push_str(" {");
            for (i, (key, pairs)) in msgs.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{key:?}:[");
                for (j, (o, v)) in pairs.iter().take(RUN_SHOWN_MAX).enumerate() {
                    if j > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{o}:{v}");
                }
                if pairs.len() > RUN_SHOWN_MAX {
                    let _ = write!(out, " …+{}", pairs.len() - RUN_SHOWN_MAX);
                }
                out.push(']');
            }
            out.push('}');
        }
        OpValue::Poll { msgs: None, .. } | OpValue::Crash => {}
        OpValue::Assign {
            keys,
            seek_to_beginning,
            ..
        } => {
            let _ = write!(out, " {keys:?}");
            if *seek_to_beginning {
                out.push_str(" seek-to-beginning");
            }
        }
    }
    if let Some(error) = &op.error {
        let _ = write!(out, " error={error}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use replicator_core::{Key, MsgId, Payload};

    #[test]
    fn a_send_reads_like_the_wire() {
        let send = Body::Send {
            msg_id: MsgId(17),
            key: Key::new("9"),
            msg: Payload::parse("3").unwrap(),
        };
        assert_eq!(body(&send), r#"send key="9" msg=3 msg_id=17"#);
        assert_eq!(time(12_345), "12.345ms");
        assert_eq!(time(7), "0.007ms");
        assert_eq!(count(1, "node", "nodes"), "1 node");
        assert_eq!(count(2, "thread", "threads"), "2 threads");
    }

    #[test]
    fn lines_cost_nothing_when_off() {
        let mut trace = Trace::off();
        trace.line(0, || panic!("an off trace must not build its lines"));
        assert!(trace.into_lines().is_empty());
        let mut trace = Trace::on();
        trace.line(1500, || "hello".into());
        assert_eq!(trace.into_lines(), vec!["1.500ms hello".to_string()]);
    }
}
