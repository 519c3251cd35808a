//! Encoding a [`Message`] as one compact JSON line.
//!
//! Written by hand rather than through serde: payloads are stored as raw JSON text and
//! must go out byte for byte, and serde can only emit raw text through `RawValue`, which
//! would cost one allocation and one validation per message of every `poll_ok`. The
//! schemas are closed and small (spec: kafka.md 1.2, 1.7), so the writer below is short;
//! the wire fuzz target checks that what it writes always parses back to the same message.

use super::{Body, Message, MsgRun};
use crate::ids::{Key, Offset};

impl Message {
    /// Appends this message to `out` as one line of compact JSON ending in `\n`:
    /// `{"src":…,"dest":…,"body":{…}}` and nothing else, the closed envelope Maelstrom
    /// accepts.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"src\":");
        write_json_str(out, self.src.as_bytes());
        out.extend_from_slice(b",\"dest\":");
        write_json_str(out, self.dest.as_bytes());
        out.extend_from_slice(b",\"body\":");
        self.body.encode(out);
        out.extend_from_slice(b"}\n");
    }

    /// This message as a line of JSON, without the newline.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.encode(&mut out);
        out.pop();
        String::from_utf8(out).expect("the encoder writes UTF-8 only")
    }
}

impl Body {
    /// Appends this body to `out` as a compact JSON object.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Body::Other { raw, .. } => {
                out.extend_from_slice(raw.as_bytes());
                return;
            }
            Body::Sync(sync) => return super::peer::encode_sync(out, sync),
            Body::Vote(vote) => return super::peer::encode_vote(out, vote),
            Body::VoteReply(reply) => return super::peer::encode_vote_reply(out, reply),
            _ => {}
        }
        out.extend_from_slice(b"{\"type\":");
        write_str(out, self.kind());
        match self {
            Body::Init {
                msg_id,
                node_id,
                node_ids,
            } => {
                field_u64(out, "msg_id", msg_id.0);
                out.extend_from_slice(b",\"node_id\":");
                write_json_str(out, node_id.as_bytes());
                out.extend_from_slice(b",\"node_ids\":");
                write_list(out, b'[', node_ids, |out, id| {
                    write_json_str(out, id.as_bytes())
                });
            }
            Body::InitOk { in_reply_to } | Body::CommitOffsetsOk { in_reply_to } => {
                field_u64(out, "in_reply_to", in_reply_to.0);
            }
            Body::Send { msg_id, key, msg } => {
                field_u64(out, "msg_id", msg_id.0);
                out.extend_from_slice(b",\"key\":");
                write_json_str(out, key.as_bytes());
                out.extend_from_slice(b",\"msg\":");
                out.extend_from_slice(msg.as_bytes());
            }
            Body::SendOk {
                in_reply_to,
                offset,
            } => {
                field_u64(out, "offset", offset.0);
                field_u64(out, "in_reply_to", in_reply_to.0);
            }
            Body::Poll { msg_id, offsets } | Body::CommitOffsets { msg_id, offsets } => {
                field_u64(out, "msg_id", msg_id.0);
                out.extend_from_slice(b",\"offsets\":");
                write_offsets(out, offsets);
            }
            Body::PollOk { in_reply_to, msgs } => {
                out.extend_from_slice(b",\"msgs\":");
                write_list(out, b'{', msgs, write_run);
                field_u64(out, "in_reply_to", in_reply_to.0);
            }
            Body::ListCommittedOffsets { msg_id, keys } => {
                field_u64(out, "msg_id", msg_id.0);
                out.extend_from_slice(b",\"keys\":");
                write_list(out, b'[', keys, |out, key| {
                    write_json_str(out, key.as_bytes())
                });
            }
            Body::ListCommittedOffsetsOk {
                in_reply_to,
                offsets,
            } => {
                out.extend_from_slice(b",\"offsets\":");
                write_offsets(out, offsets);
                field_u64(out, "in_reply_to", in_reply_to.0);
            }
            Body::Error {
                in_reply_to,
                code,
                text,
            } => {
                field_u64(out, "code", code.0);
                out.extend_from_slice(b",\"text\":");
                write_str(out, text);
                field_u64(out, "in_reply_to", in_reply_to.0);
            }
            Body::Other { .. } | Body::Sync(_) | Body::Vote(_) | Body::VoteReply(_) => {
                unreachable!("handled above")
            }
        }
        out.push(b'}');
    }
}

/// `[a,b,…]` or `{a,b,…}` (with `open` `[` or `{`), each item written by `item`.
fn write_list<T>(out: &mut Vec<u8>, open: u8, items: &[T], item: impl Fn(&mut Vec<u8>, &T)) {
    out.push(open);
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(if open == b'[' { b']' } else { b'}' });
}

pub(super) fn write_offsets(out: &mut Vec<u8>, offsets: &[(Key, Offset)]) {
    write_list(out, b'{', offsets, |out, (key, offset)| {
        write_json_str(out, key.as_bytes());
        out.push(b':');
        write_u64(out, offset.0);
    });
}

fn write_run(out: &mut Vec<u8>, run: &MsgRun) {
    write_json_str(out, run.key.as_bytes());
    out.extend_from_slice(b":[");
    for (i, (offset, msg)) in run.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        write_u64(out, offset.0);
        out.push(b',');
        out.extend_from_slice(msg.as_bytes());
        out.push(b']');
    }
    out.push(b']');
}

fn field_u64(out: &mut Vec<u8>, name: &str, value: u64) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    write_u64(out, value);
}

/// Decimal digits of `value`.
pub(super) fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// A JSON string literal: quotes, backslashes and control characters escaped, everything
/// else (all of Unicode) written as is, as `serde_json` does.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    write_json_str(out, text.as_bytes());
}

/// [`write_str`] for the bytes of a `str`. Every byte it escapes is ASCII, and no byte of
/// a multi-byte UTF-8 sequence is ASCII, so working on bytes keeps the text intact.
pub(super) fn write_json_str(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Nearly every id and key needs no escape: one scan and one copy, rather than a
    // match per byte (ids were a fifth of the encoder's time).
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}
