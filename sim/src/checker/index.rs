//! The structures every check derives from the history (spec: kafka.md 4.1): who read and
//! wrote what, the raw log of each key, its dense index and the deltas between values.
//!
//! Invariants:
//! - every position stored here (`usize`) is a position in `History::ops`;
//! - `KeyLog::raw` never holds an empty set, so its iteration order is the dense index;
//! - nothing here iterates a `HashMap`: report order follows keys, values and positions.

use crate::history::{F, History, Op, OpType, OpValue, PollResult, Process, Val};
use replicator_core::Key;
use std::collections::{BTreeMap, BTreeSet};

/// Per key, per value: a set of values, as Jepsen's `reads-by-type` and `writes-by-type`.
pub(crate) type KeyValues = BTreeMap<Key, BTreeSet<Val>>;

/// What one op read, if it is a poll that carries results (spec: kafka.md 4.1 `reads(op)`).
/// Jepsen looks at polls of every type; in our histories only `Ok` polls carry data.
pub(crate) fn op_reads(op: &Op) -> Option<&PollResult> {
    match &op.value {
        OpValue::Poll {
            msgs: Some(msgs), ..
        } if op.f == F::Poll => Some(msgs),
        _ => None,
    }
}

/// What one op wrote: the key, the value and the acknowledged offset if any
/// (spec: kafka.md 4.1 `writes(op)`). Sends carry exactly one message in Maelstrom.
pub(crate) fn op_write(op: &Op) -> Option<(&Key, &Val, Option<u64>)> {
    match &op.value {
        OpValue::Send { key, value, offset } if op.f == F::Send => Some((key, value, *offset)),
        _ => None,
    }
}

/// The keys an assign names, or `None` for any other op.
pub(crate) fn op_assign_keys(op: &Op) -> Option<&[Key]> {
    match &op.value {
        OpValue::Assign { keys, .. } if op.f == F::Assign => Some(keys),
        _ => None,
    }
}

/// A compact, self-contained description of one history entry, so that a report can name
/// the ops behind an anomaly without borrowing the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRef {
    /// `Op::index`.
    pub index: usize,
    /// Virtual time of the entry, in microseconds.
    pub time: u64,
    /// The client process.
    pub process: Process,
    /// The entry's type.
    pub ty: OpType,
    /// The entry's function.
    pub f: F,
    /// The value in Jepsen's notation, e.g. `send "7" [2 3]`.
    pub value: String,
}

impl OpRef {
    /// Describes `op`.
    pub fn of(op: &Op) -> OpRef {
        let mut op_ref = OpRef::lazy(op);
        op_ref.value = render_value(&op.value);
        op_ref
    }

    /// Describes `op` without its value yet: [`OpRef::render`] fills it in later. A bad
    /// history can produce a case per op, and `report::condense` keeps a few dozen of
    /// them, so the checker renders values only for the cases kept.
    pub(crate) fn lazy(op: &Op) -> OpRef {
        OpRef {
            index: op.index,
            time: op.time,
            process: op.process,
            ty: op.ty,
            f: op.f,
            value: String::new(),
        }
    }

    /// Fills in the value of a [`OpRef::lazy`] description from the history it was made
    /// from (`Op::index` is the op's position there). A rendered value is never empty.
    pub(crate) fn render(&mut self, ops: &[Op]) {
        if self.value.is_empty()
            && let Some(op) = ops.get(self.index)
        {
            self.value = render_value(&op.value);
        }
    }

    /// The longest value kept, in characters. A final poll can return thousands of pairs,
    /// and a report may name the same op in thousands of cases; the history has the rest.
    const VALUE_MAX: usize = 512;

    /// The entry as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "index": self.index,
            "time_us": self.time,
            "process": self.process,
            "type": type_name(self.ty),
            "f": f_name(self.f),
            "value": self.value,
        })
    }
}

impl std::fmt::Display for OpRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{:index {} :time {}us :process {} :type :{} :f :{} :value {}}}",
            self.index,
            self.time,
            self.process,
            type_name(self.ty),
            f_name(self.f),
            self.value
        )
    }
}

/// Jepsen's name for an op type.
pub fn type_name(ty: OpType) -> &'static str {
    match ty {
        OpType::Invoke => "invoke",
        OpType::Ok => "ok",
        OpType::Info => "info",
        OpType::Fail => "fail",
    }
}

/// Jepsen's name for an op function.
pub fn f_name(f: F) -> &'static str {
    match f {
        F::Send => "send",
        F::Poll => "poll",
        F::Assign => "assign",
        F::Crash => "crash",
    }
}

/// Renders an op value in Jepsen's notation, cut at `OpRef::VALUE_MAX` characters.
///
/// The rendering stops as soon as the cut is reached, so its cost is bounded by the cut,
/// not by the op: a report may name the same final poll (thousands of pairs) in thousands
/// of cases, and rendering it whole each time made checking a bad history quadratic.
fn render_value(value: &OpValue) -> String {
    let mut out = Capped {
        text: String::new(),
        chars_left: OpRef::VALUE_MAX,
        cut: false,
    };
    // An error here only means the cut was reached: the text so far is what we keep.
    let _ = render(value, &mut out);
    let mut text = out.text;
    if out.cut {
        text.push_str(" …");
    }
    text
}

/// A string that takes at most `chars_left` more characters, then refuses the rest with
/// an error, which stops the formatting that writes into it.
struct Capped {
    text: String,
    chars_left: usize,
    cut: bool,
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.chars().count();
        if n <= self.chars_left {
            self.text.push_str(s);
            self.chars_left -= n;
            return Ok(());
        }
        self.text.extend(s.chars().take(self.chars_left));
        self.chars_left = 0;
        self.cut = true;
        Err(std::fmt::Error)
    }
}

/// Writes an op value in Jepsen's notation.
fn render(value: &OpValue, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    match value {
        OpValue::Send { key, value, offset } => match offset {
            Some(o) => write!(out, "send {key:?} [{o} {value}]"),
            None => write!(out, "send {key:?} {value}"),
        },
        OpValue::Poll { msgs: None, .. } => out.write_str("poll"),
        OpValue::Poll {
            msgs: Some(msgs), ..
        } => {
            out.write_str("poll {")?;
            for (i, (key, pairs)) in msgs.iter().enumerate() {
                if i > 0 {
                    out.write_str(" ")?;
                }
                write!(out, "{key:?} [")?;
                for (j, (o, v)) in pairs.iter().enumerate() {
                    if j > 0 {
                        out.write_str(" ")?;
                    }
                    write!(out, "[{o} {v}]")?;
                }
                out.write_str("]")?;
            }
            out.write_str("}")
        }
        OpValue::Assign {
            keys,
            seek_to_beginning,
            ..
        } => {
            out.write_str("assign [")?;
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.write_str(" ")?;
                }
                write!(out, "{key:?}")?;
            }
            out.write_str("]")?;
            if *seek_to_beginning {
                out.write_str(" seek-to-beginning")?;
            }
            Ok(())
        }
        OpValue::Crash => out.write_str("crash"),
    }
}

/// One key's log as the checker reconstructs it (spec: kafka.md 4.1).
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyLog {
    /// Raw offset → every value seen there.
    pub raw: BTreeMap<u64, BTreeSet<Val>>,
    /// Dense index → one representative value. Jepsen takes `first` of a Clojure set,
    /// which follows hash order; we take the smallest value so the choice is stable. The
    /// two differ only where an offset holds several values, which is already an
    /// `inconsistent-offsets` anomaly.
    pub by_index: Vec<Val>,
    /// Value → its dense index, from the representatives only; where a value is the
    /// representative of two indices, the later one wins, as in Jepsen's `index-seq`.
    pub by_value: BTreeMap<Val, usize>,
}

impl KeyLog {
    /// Fills `by_index` and `by_value` from `raw`.
    fn build_index(&mut self) {
        for values in self.raw.values() {
            if let Some(first) = values.first() {
                self.by_value.insert(first.clone(), self.by_index.len());
                self.by_index.push(first.clone());
            }
        }
    }

    /// The dense index of a value, if it is a representative.
    pub fn index(&self, value: &Val) -> Option<usize> {
        self.by_value.get(value).copied()
    }

    /// The delta from `a` to `b`: `index(b) - index(a)`, or 1 when either index is
    /// unknown. spec: kafka.md 4.1 — "unknown index => delta 1", i.e. fine.
    pub fn delta(&self, a: Option<&Val>, b: Option<&Val>) -> (i64, Option<(usize, usize)>) {
        match (a.and_then(|a| self.index(a)), b.and_then(|b| self.index(b))) {
            (Some(i), Some(j)) => (j as i64 - i as i64, Some((i, j))),
            _ => (1, None),
        }
    }

    /// The representative values strictly between two dense indices.
    pub fn between(&self, i: usize, j: usize) -> Vec<Val> {
        self.by_index
            .get(i + 1..j)
            .map(<[Val]>::to_vec)
            .unwrap_or_default()
    }

    /// Jepsen's `log->value->first-index`: each value (every value of every set, not just
    /// the representatives) → the first dense index where it appears.
    pub fn value_first_index(&self) -> BTreeMap<&Val, usize> {
        let mut first = BTreeMap::new();
        for (index, values) in self.raw.values().enumerate() {
            for value in values {
                first.entry(value).or_insert(index);
            }
        }
        first
    }

    /// Jepsen's `log->last-index->values`: dense index → the values whose last
    /// appearance is at that index. The vector ends at the highest such index.
    pub fn last_index_values(&self) -> Vec<BTreeSet<&Val>> {
        let mut last = BTreeMap::new();
        for (index, values) in self.raw.values().enumerate() {
            for value in values {
                last.insert(value, index);
            }
        }
        let mut out: Vec<BTreeSet<&Val>> = Vec::new();
        for (value, index) in last {
            if out.len() <= index {
                out.resize_with(index + 1, BTreeSet::new);
            }
            out[index].insert(value);
        }
        out
    }
}

/// The derived structures of spec: kafka.md 4.1, built once per history.
#[derive(Debug)]
pub(crate) struct Analysis<'h> {
    /// The client operations, in history order.
    pub ops: &'h [Op],
    /// For each position, the position of the matching invocation (for completions) or
    /// completion (for invocations), when there is one.
    pub partner: Vec<Option<usize>>,
    /// Values some `Ok` poll returned, per key.
    pub reads_ok: KeyValues,
    /// Values some `Fail` send wrote, per key.
    pub writes_fail: KeyValues,
    /// Key → value → the last completion that sent it (Jepsen's `writer-of`).
    pub writer_of: BTreeMap<Key, BTreeMap<Val, usize>>,
    /// Key → value → every completion that read it, in history order (`readers-of`).
    pub readers_of: BTreeMap<Key, BTreeMap<Val, Vec<usize>>>,
    /// Key → its reconstructed log.
    pub logs: BTreeMap<Key, KeyLog>,
    /// Process → its positions, in history order.
    pub by_process: BTreeMap<Process, Vec<usize>>,
}

impl<'h> Analysis<'h> {
    /// Derives everything from a history.
    pub fn new(history: &'h History) -> Analysis<'h> {
        let ops = history.ops.as_slice();
        let mut analysis = Analysis {
            ops,
            partner: pair_ops(ops),
            reads_ok: BTreeMap::new(),
            writes_fail: BTreeMap::new(),
            writer_of: BTreeMap::new(),
            readers_of: BTreeMap::new(),
            logs: BTreeMap::new(),
            by_process: BTreeMap::new(),
        };
        for (pos, op) in ops.iter().enumerate() {
            analysis.by_process.entry(op.process).or_default().push(pos);
            if op.ty == OpType::Invoke {
                continue;
            }
            if let Some((key, value, _)) = op_write(op) {
                let writers = analysis.writer_of.entry(key.clone()).or_default();
                writers.insert(value.clone(), pos);
                if op.ty == OpType::Fail {
                    let failed = analysis.writes_fail.entry(key.clone()).or_default();
                    failed.insert(value.clone());
                }
            }
            if let Some(msgs) = op_reads(op) {
                for (key, pairs) in msgs {
                    let readers = analysis.readers_of.entry(key.clone()).or_default();
                    for (_, value) in pairs {
                        let list = readers.entry(value.clone()).or_default();
                        // A value read twice by one op is one reader, as in Jepsen, where
                        // the op is conj'ed per value but the wr graph dedups edges.
                        if list.last() != Some(&pos) {
                            list.push(pos);
                        }
                    }
                    if op.ty == OpType::Ok {
                        let read = analysis.reads_ok.entry(key.clone()).or_default();
                        read.extend(pairs.iter().map(|(_, v)| v.clone()));
                    }
                }
            }
        }
        analysis.build_logs();
        analysis
    }

    /// spec: kafka.md 4.1 — the raw log is built from `Ok` sends (and `Info` sends with a
    /// write some `Ok` poll read) that know their offset, and from every poll result.
    fn build_logs(&mut self) {
        let mut logs: BTreeMap<Key, KeyLog> = BTreeMap::new();
        for op in self.ops {
            if op.ty == OpType::Invoke {
                continue;
            }
            if let Some((key, value, Some(offset))) = op_write(op)
                && self.must_have_committed(op)
            {
                let log = logs.entry(key.clone()).or_default();
                log.raw.entry(offset).or_default().insert(value.clone());
            }
            if let Some(msgs) = op_reads(op) {
                for (key, pairs) in msgs {
                    let log = logs.entry(key.clone()).or_default();
                    for (offset, value) in pairs {
                        log.raw.entry(*offset).or_default().insert(value.clone());
                    }
                }
            }
        }
        for log in logs.values_mut() {
            log.build_index();
        }
        self.logs = logs;
    }

    /// Jepsen's `must-have-committed?`: the send is `Ok`, or `Info` and one of its values
    /// was read by an `Ok` poll.
    pub fn must_have_committed(&self, op: &Op) -> bool {
        match op.ty {
            OpType::Ok => true,
            OpType::Info => op_write(op).is_some_and(|(key, value, _)| {
                self.reads_ok
                    .get(key)
                    .is_some_and(|read| read.contains(value))
            }),
            OpType::Invoke | OpType::Fail => false,
        }
    }

    /// The log of a key; empty if nothing is known about it.
    pub fn log(&self, key: &Key) -> &KeyLog {
        static EMPTY: std::sync::OnceLock<KeyLog> = std::sync::OnceLock::new();
        self.logs
            .get(key)
            .unwrap_or_else(|| EMPTY.get_or_init(KeyLog::default))
    }

    /// The op at a position.
    pub fn op(&self, pos: usize) -> &'h Op {
        &self.ops[pos]
    }

    /// The invocation of a completion (or the completion of an invocation).
    pub fn partner(&self, pos: usize) -> Option<&'h Op> {
        self.partner[pos].map(|p| &self.ops[p])
    }
}

/// Pairs each invocation with the next entry of the same process, which is its
/// completion: a Jepsen process has at most one operation outstanding (spec: kafka.md 1.7).
fn pair_ops(ops: &[Op]) -> Vec<Option<usize>> {
    let mut partner = vec![None; ops.len()];
    let mut pending: BTreeMap<Process, usize> = BTreeMap::new();
    for (pos, op) in ops.iter().enumerate() {
        if op.ty == OpType::Invoke {
            pending.insert(op.process, pos);
        } else if let Some(inv) = pending.remove(&op.process) {
            partner[pos] = Some(inv);
            partner[inv] = Some(pos);
        }
    }
    partner
}
