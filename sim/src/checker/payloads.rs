//! `payload-changed`, our strict check that a node keeps every payload byte for byte
//! (spec: kafka.md 2.3, "`msg` the value exactly as sent"), and the attribution that keeps
//! the Maelstrom-equivalent verdict meaningful when payloads change.
//!
//! Jepsen identifies a message by its value within its key, so a payload that comes back
//! changed would read as a value nobody sent (`phantom-value`), a lost write and an unseen
//! one, which names the wrong fault three times. Before any other check, each polled
//! payload whose text no send to its key had is therefore *attributed* to the message it
//! stands for, and reported once as `payload-changed` with both texts:
//! 1. the one payload sent to the key that is the same JSON value, if there is exactly
//!    one (`"\u00e9"` and `"é"`, objects with their members reordered, `1.5e3` and
//!    `1500.0`);
//! 2. else the message acknowledged at that offset, if exactly one was (a number rounded
//!    past recognition, an escape rewritten into another string).
//!
//! A payload neither rule attributes is left alone: the value checks then see what Elle
//! would, a value without a writer. The other checks run on the history with attributed
//! payloads put back, so each fault has one name. (Maelstrom's own checker compares parsed
//! values: it would call a rounded number a phantom and miss a rewritten escape; the
//! payloads its workload sends, small integers, never tell the two apart.)
//!
//! Invariant: a history whose polls return exactly what was sent is checked as it is,
//! without a copy.

use super::Findings;
use super::cases::{Case, names};
use super::index::{OpRef, op_reads, op_write};
use crate::history::{History, OpValue, Val};
use replicator_core::Key;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// A payload's JSON text.
fn text(value: &Val) -> Cow<'_, str> {
    match value {
        Val::Int(n) => Cow::Owned(n.to_string()),
        Val::Raw(text) => Cow::Borrowed(text),
    }
}

/// The JSON value a payload's text stands for, in one canonical spelling: serde_json's
/// rendering of its parse (members sorted, escapes resolved, numbers normalised). `None`
/// for text serde_json cannot hold, such as `1e400`.
fn canonical(value: &Val) -> Option<String> {
    match value {
        Val::Int(n) => Some(n.to_string()),
        Val::Raw(text) => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .map(|v| v.to_string()),
    }
}

/// What was sent, per key, to attribute changed payloads with.
struct Sent<'h> {
    /// Key → every payload a send to it carried, whatever the send's outcome.
    values: BTreeMap<&'h Key, BTreeSet<&'h Val>>,
    /// (key, offset) → the payload acknowledged there; `None` where two were.
    acked: BTreeMap<(&'h Key, u64), Option<&'h Val>>,
    /// Key → canonical form → the payload sent with it; `None` where two share one.
    /// Built on first need: a history of unchanged payloads never pays for it.
    canonical: BTreeMap<&'h Key, BTreeMap<String, Option<&'h Val>>>,
}

impl<'h> Sent<'h> {
    fn of(history: &'h History) -> Sent<'h> {
        let mut sent = Sent {
            values: BTreeMap::new(),
            acked: BTreeMap::new(),
            canonical: BTreeMap::new(),
        };
        for op in &history.ops {
            let Some((key, value, offset)) = op_write(op) else {
                continue;
            };
            sent.values.entry(key).or_default().insert(value);
            if let Some(offset) = offset {
                sent.acked
                    .entry((key, offset))
                    .and_modify(|v| {
                        if *v != Some(value) {
                            *v = None;
                        }
                    })
                    .or_insert(Some(value));
            }
        }
        sent
    }

    fn was_sent(&self, key: &Key, value: &Val) -> bool {
        self.values.get(key).is_some_and(|vs| vs.contains(value))
    }

    /// The message a changed payload stands for (see the module docs), if one is known.
    fn attribute(&mut self, key: &'h Key, offset: u64, value: &Val) -> Option<&'h Val> {
        if !self.canonical.contains_key(key) {
            let mut forms: BTreeMap<String, Option<&'h Val>> = BTreeMap::new();
            for &sent in self.values.get(key).into_iter().flatten() {
                if let Some(form) = canonical(sent) {
                    forms
                        .entry(form)
                        .and_modify(|v| *v = None)
                        .or_insert(Some(sent));
                }
            }
            self.canonical.insert(key, forms);
        }
        let by_value = canonical(value)
            .and_then(|form| self.canonical.get(key)?.get(&form).copied().flatten());
        by_value.or_else(|| self.acked.get(&(key, offset)).copied().flatten())
    }
}

/// Compares every polled payload with what was sent, reports the changed ones, and
/// returns the history with each attributed payload put back (borrowed when none was).
pub(crate) fn check<'h>(history: &'h History, out: &mut Findings) -> Cow<'h, History> {
    let mut sent = Sent::of(history);
    // (position, key, index in its list, the payload it stands for).
    let mut fixes: Vec<(usize, &Key, usize, &Val)> = Vec::new();
    let mut reported: BTreeSet<(&Key, u64, &Val)> = BTreeSet::new();
    for (pos, op) in history.ops.iter().enumerate() {
        let Some(msgs) = op_reads(op) else { continue };
        for (key, pairs) in msgs {
            for (i, (offset, value)) in pairs.iter().enumerate() {
                if sent.was_sent(key, value) {
                    continue;
                }
                let Some(original) = sent.attribute(key, *offset, value) else {
                    continue;
                };
                fixes.push((pos, key, i, original));
                if reported.insert((key, *offset, value)) {
                    out.entry(names::PAYLOAD_CHANGED)
                        .or_default()
                        .push(Case::PayloadChanged {
                            key: key.clone(),
                            offset: *offset,
                            sent: text(original).into_owned(),
                            received: text(value).into_owned(),
                            reader: OpRef::lazy(op),
                        });
                }
            }
        }
    }
    if fixes.is_empty() {
        return Cow::Borrowed(history);
    }
    let mut fixed = history.clone();
    for (pos, key, i, original) in fixes {
        if let OpValue::Poll {
            msgs: Some(msgs), ..
        } = &mut fixed.ops[pos].value
            && let Some(pair) = msgs.get_mut(key).and_then(|pairs| pairs.get_mut(i))
        {
            pair.1 = original.clone();
        }
    }
    Cow::Owned(fixed)
}
