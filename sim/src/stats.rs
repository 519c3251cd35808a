//! Run statistics (spec: kafka.md 4.6 and 6.4): completions by type and function, the
//! `:stats` validity rule, latency quantiles, availability and messages per operation.
//!
//! Invariants: every figure is computed from the history alone, in history order, with
//! integer arithmetic except for the ratios; ops are paired per process (one outstanding
//! op per process, spec: kafka.md 1.7).

use crate::history::{F, History, NetCounts, OpType, Process};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::fmt;

/// Completion counts of one group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// All completions.
    pub count: u64,
    /// `Ok` completions.
    pub ok: u64,
    /// `Fail` completions.
    pub fail: u64,
    /// `Info` completions.
    pub info: u64,
}

impl Counts {
    /// Jepsen's per-f rule: at least one `Ok`.
    pub fn is_valid(&self) -> bool {
        self.ok > 0
    }

    /// Counts one completion; invocations are not completions.
    fn add(&mut self, ty: OpType) {
        let slot = match ty {
            OpType::Ok => &mut self.ok,
            OpType::Fail => &mut self.fail,
            OpType::Info => &mut self.info,
            OpType::Invoke => return,
        };
        *slot += 1;
        self.count += 1;
    }

    fn to_json(self) -> Json {
        json!({"count": self.count, "ok-count": self.ok, "fail-count": self.fail,
               "info-count": self.info, "valid?": self.is_valid()})
    }
}

/// Latency quantiles of one group, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Number of completed invocations measured.
    pub n: usize,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

impl Latency {
    /// spec: kafka.md 6.4 — Maelstrom's quantile rule: sort, then take element
    /// `min(n − 1, ⌊n·q⌋)`.
    pub fn of(mut values: Vec<u64>) -> Latency {
        values.sort_unstable();
        let n = values.len();
        if n == 0 {
            return Latency::default();
        }
        let q = |q: f64| values[((n as f64 * q).floor() as usize).min(n - 1)];
        Latency {
            n,
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
            max: q(1.0),
        }
    }

    fn to_json(self) -> Json {
        json!({"n": self.n, "p50_us": self.p50, "p95_us": self.p95, "p99_us": self.p99,
               "max_us": self.max})
    }
}

/// Everything spec 4.6 and 6.4 ask for besides the kafka checker.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Over all client completions.
    pub all: Counts,
    /// Per function (`assign`, `crash`, `poll`, `send`), only those that completed.
    pub by_f: BTreeMap<&'static str, Counts>,
    /// Latency per function, and over all of them under `"all"`.
    pub latency: BTreeMap<&'static str, Latency>,
    /// Client invocations, crashes and final-phase ops included.
    pub invocations: u64,
    /// `Ok` completions / invocations; `None` without invocations.
    pub ok_fraction: Option<f64>,
    /// The runner's message counts.
    pub net: crate::history::NetStats,
    /// `msg-count(all) / invocations`.
    pub msgs_per_op_all: Option<f64>,
    /// `msg-count(servers) / invocations`: Gossip Glomers 5c's efficiency figure.
    pub msgs_per_op_servers: Option<f64>,
}

/// Jepsen's name for a function, as the `by_f` and `latency` keys.
fn f_key(f: F) -> &'static str {
    match f {
        F::Send => "send",
        F::Poll => "poll",
        F::Assign => "assign",
        F::Crash => "crash",
    }
}

impl Stats {
    /// Computes the statistics of a history.
    pub fn of(history: &History) -> Stats {
        let mut stats = Stats {
            net: history.net,
            ..Stats::default()
        };
        let mut pending: BTreeMap<Process, u64> = BTreeMap::new();
        let mut latencies: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
        for op in &history.ops {
            if op.ty == OpType::Invoke {
                stats.invocations += 1;
                pending.insert(op.process, op.time);
                continue;
            }
            stats.all.add(op.ty);
            stats.by_f.entry(f_key(op.f)).or_default().add(op.ty);
            // spec: kafka.md 6.4 — latency is completion − invocation, whatever the type.
            if let Some(start) = pending.remove(&op.process) {
                let latency = op.time.saturating_sub(start);
                latencies.entry(f_key(op.f)).or_default().push(latency);
                latencies.entry("all").or_default().push(latency);
            }
        }
        stats.latency = latencies
            .into_iter()
            .map(|(f, v)| (f, Latency::of(v)))
            .collect();
        let per_op = |n: u64| (stats.invocations > 0).then(|| n as f64 / stats.invocations as f64);
        stats.ok_fraction = per_op(stats.all.ok);
        stats.msgs_per_op_all = per_op(history.net.all.msg_count);
        stats.msgs_per_op_servers = per_op(history.net.servers.msg_count);
        stats
    }

    /// spec: kafka.md 4.6 — Maelstrom's `:stats` verdict: every function that completed at
    /// all, except `crash` (always `Info`), has at least one `Ok`. As in Jepsen, a
    /// function that never completed is absent and does not count against the run.
    pub fn is_valid(&self) -> bool {
        self.by_f
            .iter()
            .filter(|(f, _)| **f != "crash")
            .all(|(_, c)| c.is_valid())
    }

    /// spec: kafka.md 4.6 — Maelstrom's `--availability x` gate: the `Ok` fraction of all
    /// invocations is at least `x`. Crash ops never succeed, so `1.0` (`total`) cannot
    /// pass a kafka run that crashed any client; a run without invocations has nothing
    /// to be unavailable for.
    pub fn meets_availability(&self, fraction: f64) -> bool {
        self.ok_fraction.is_none_or(|ok| ok >= fraction)
    }

    /// The functions that make `:stats` invalid.
    pub fn invalid_fs(&self) -> Vec<&'static str> {
        self.by_f
            .iter()
            .filter(|(f, c)| **f != "crash" && !c.is_valid())
            .map(|(f, _)| *f)
            .collect()
    }

    /// The statistics as JSON, in the shape of `results.edn`'s `:stats`, `:availability`,
    /// `:net` and our latency table.
    pub fn to_json(&self) -> Json {
        let by_f: serde_json::Map<String, Json> = self
            .by_f
            .iter()
            .map(|(f, c)| (f.to_string(), c.to_json()))
            .collect();
        let latency: serde_json::Map<String, Json> = self
            .latency
            .iter()
            .map(|(f, l)| (f.to_string(), l.to_json()))
            .collect();
        let counts = |c: NetCounts| {
            json!({"send-count": c.send_count, "recv-count": c.recv_count,
                   "msg-count": c.msg_count})
        };
        let mut all = counts(self.net.all);
        all["msgs-per-op"] = json!(self.msgs_per_op_all);
        let mut servers = counts(self.net.servers);
        servers["msgs-per-op"] = json!(self.msgs_per_op_servers);
        json!({
            "stats": {
                "valid?": self.is_valid(),
                "count": self.all.count,
                "ok-count": self.all.ok,
                "fail-count": self.all.fail,
                "info-count": self.all.info,
                "by-f": by_f,
            },
            "availability": {"ok-fraction": self.ok_fraction, "invocations": self.invocations},
            "net": {"all": all, "clients": counts(self.net.clients), "servers": servers,
                    "valid?": true},
            "latency": latency,
        })
    }
}

/// Formats an optional ratio.
fn ratio(r: Option<f64>) -> String {
    r.map_or("n/a".to_string(), |r| format!("{r:.3}"))
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // This verdict is the `:stats` check's alone (every kind of operation had an `:ok`),
        // not the run's: the run's verdict closes the report.
        let verdict = if self.is_valid() {
            "passed".to_string()
        } else {
            format!("FAILED: no :ok {}", self.invalid_fs().join(", no :ok "))
        };
        writeln!(
            f,
            "stats: {} completions: {} ok, {} info, {} fail; the :stats check (an :ok for \
             every kind of operation) {verdict}",
            self.all.count, self.all.ok, self.all.info, self.all.fail
        )?;
        for (name, c) in &self.by_f {
            let latency = self.latency.get(name).copied().unwrap_or_default();
            writeln!(
                f,
                "  {name:<7} ok {:>6} info {:>6} fail {:>6}   latency ms p50 {:.1} p95 {:.1} \
                 p99 {:.1} max {:.1}",
                c.ok,
                c.info,
                c.fail,
                ms(latency.p50),
                ms(latency.p95),
                ms(latency.p99),
                ms(latency.max)
            )?;
        }
        if let Some(l) = self.latency.get("all") {
            writeln!(
                f,
                "  all     latency ms p50 {:.1} p95 {:.1} p99 {:.1} max {:.1} (n = {})",
                ms(l.p50),
                ms(l.p95),
                ms(l.p99),
                ms(l.max),
                l.n
            )?;
        }
        writeln!(
            f,
            "availability: ok-fraction {} over {} invocations",
            ratio(self.ok_fraction),
            self.invocations
        )?;
        write!(
            f,
            "net: all msgs-per-op {} ({} msgs), servers msgs-per-op {} ({} msgs), clients {} msgs",
            ratio(self.msgs_per_op_all),
            self.net.all.msg_count,
            ratio(self.msgs_per_op_servers),
            self.net.servers.msg_count,
            self.net.clients.msg_count
        )
    }
}

/// Microseconds as milliseconds.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_counts_crashes_as_unavailable() {
        use crate::history::{Op, OpValue};
        use replicator_core::NodeId;
        let op = |index: usize, ty: OpType, f: F| Op {
            index,
            time: index as u64,
            process: 0,
            ty,
            f,
            value: OpValue::Crash,
            error: None,
            node: NodeId::new("n0"),
            is_final: false,
        };
        let history = History {
            ops: vec![
                op(0, OpType::Invoke, F::Send),
                op(1, OpType::Ok, F::Send),
                op(2, OpType::Invoke, F::Crash),
                op(3, OpType::Info, F::Crash),
            ],
            ..History::default()
        };
        let stats = Stats::of(&history);
        assert_eq!(stats.ok_fraction, Some(0.5));
        assert!(stats.meets_availability(0.5));
        assert!(!stats.meets_availability(1.0));
        // Crashes never count against `:stats`.
        assert!(stats.is_valid());
    }

    #[test]
    fn quantiles_follow_maelstrom_rule() {
        // Ten values 10..=100: ⌊10·0.5⌋ = 5 → 60; ⌊9.5⌋ = 9 → 100; q = 1 clamps to n − 1.
        let l = Latency::of((1..=10).rev().map(|i| i * 10).collect());
        assert_eq!((l.n, l.p50, l.p95, l.p99, l.max), (10, 60, 100, 100, 100));
        // One hundred values 1..=100: ⌊50⌋ → 51, ⌊95⌋ → 96, ⌊99⌋ → 100.
        let l = Latency::of((1..=100).collect());
        assert_eq!((l.p50, l.p95, l.p99, l.max), (51, 96, 100, 100));
        assert_eq!(Latency::of(Vec::new()), Latency::default());
    }
}
