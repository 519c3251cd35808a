//! What the command prints: a Maelstrom-like summary of one run, its JSON form, and the
//! replay command for a seed.
//!
//! The summary and the JSON never contain wall-clock figures: the same seed and options
//! give the same bytes on stdout, always. How long a run took is [`wall_line`], which the
//! command prints on stderr.

use crate::checker::{Report, names};
use crate::history::{F, History, Micros, NemesisKind, NetCounts, OpType, ViolationKind};
use crate::options::Options;
use crate::run::Outcome;
use crate::trace;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Whether a run passed: no run failure, no fatal wire violation, and the checker's
/// Maelstrom-equivalent verdict.
pub fn is_valid(outcome: &Outcome, report: &Report) -> bool {
    outcome.failure.is_none() && fatal_violations(&outcome.history) == 0 && report.is_valid()
}

/// What the simulator concludes from one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid under Maelstrom's rules (and ours, when asked).
    Valid,
    /// Invalid only because no send could be acknowledged: at no point of the main phase
    /// could a majority of the servers reach each other for [`quorum_window_us`], or
    /// every send was invoked at a node cut off from the majority (see
    /// [`crate::quorum`]). The run says nothing about the node; Maelstrom would still
    /// call it invalid (`:stats`).
    NoQuorum {
        /// The longest stretch during which a majority could reach each other.
        longest_us: Micros,
    },
    /// Invalid after the node of a one-node cluster crashed (the node-crash extension):
    /// it keeps its log in memory, so a crash loses every message, which the checker
    /// then finds lost or unseen. That is what a single node without a disk does; the
    /// run is reported, not counted a failure.
    CrashedAlone,
    /// Invalid.
    Invalid,
}

/// How long a majority must be able to talk before a cluster that acknowledges sends
/// only with a majority can be expected to acknowledge one, on a network without
/// latency: a new election after a heal takes up to two election timeouts (1 s with the
/// node's defaults), and a send then commits within a batching window or two. Latency
/// adds [`QUORUM_WINDOW_DELAYS`] mean one-way delays (see [`quorum_window_us`]).
pub const QUORUM_WINDOW_MIN_US: Micros = 1_000_000;

/// One-way delays a majority-ack cluster needs beyond [`QUORUM_WINDOW_MIN_US`]: two round
/// trips to elect (pre-vote, vote), one for the followers to hear of the leader, two for
/// a send to be forwarded, replicated and acknowledged, with room for the tail of an
/// exponential latency.
pub const QUORUM_WINDOW_DELAYS: u64 = 10;

/// The quorum window [`verdict`] requires for `options`.
pub fn quorum_window_us(options: &Options) -> Micros {
    QUORUM_WINDOW_MIN_US + QUORUM_WINDOW_DELAYS * options.latency_ms * 1_000
}

/// The verdict on a run: [`is_valid`] (and with `strict`, our stricter checks), except
/// that a run invalid only for want of an `:ok` send, in which no majority could talk
/// for long enough, is [`Verdict::NoQuorum`] rather than a failure.
pub fn verdict(options: &Options, outcome: &Outcome, report: &Report, strict: bool) -> Verdict {
    if is_valid(outcome, report) && (!strict || report.is_strict_valid()) {
        return Verdict::Valid;
    }
    let crashed = outcome
        .history
        .nemesis
        .iter()
        .any(|e| matches!(e.kind, NemesisKind::Crash(_)));
    if options.node_ids().len() == 1 && crashed && outcome.failure.is_none() {
        return Verdict::CrashedAlone;
    }
    let only_no_send = outcome.failure.is_none()
        && fatal_violations(&outcome.history) == 0
        && (!strict || report.strict_names().is_empty())
        && report.stats.invalid_fs() == ["send"]
        // Elle finds no graph when nothing was sent: that follows from the same cause.
        && report
            .bad_error_types()
            .iter()
            .all(|name| *name == names::EMPTY_TRANSACTION_GRAPH);
    if only_no_send {
        // A restarted node still recovering cannot help a majority acknowledge: judge
        // the chance as the crash nemesis does (`run::nodes`).
        let (history, nodes) = (&outcome.history, options.node_ids());
        let grace = crate::run::recovery_grace_us(options);
        let timeline = crate::quorum::Timeline::with_recovery(history, &nodes, grace);
        let longest_us = timeline.longest_majority_window(history.main_phase_end);
        // A send had a chance if its node stayed with an undisturbed majority for the
        // quorum window after it was invoked (a send at a node that then crashed, or
        // was cut off, or whose majority lost its leader, may have had none).
        let window = quorum_window_us(options);
        let had_a_chance = history.ops.iter().any(|op| {
            op.ty == crate::history::OpType::Invoke
                && op.f == crate::history::F::Send
                && timeline.stays_in_majority(op.node.as_str(), op.time, op.time + window)
        });
        if longest_us < window || !had_a_chance {
            return Verdict::NoQuorum { longest_us };
        }
    }
    Verdict::Invalid
}

/// Violations that Maelstrom treats as fatal to the node (spec: kafka.md 1.2).
pub fn fatal_violations(history: &History) -> usize {
    history
        .violations
        .iter()
        .filter(|v| {
            matches!(
                v.kind,
                ViolationKind::MalformedEnvelope | ViolationKind::UnknownDestination
            )
        })
        .count()
}

/// Client invocations (crashes included, nemesis excluded): msgs-per-op's denominator
/// (spec: kafka.md 6.4).
pub fn invocations(history: &History) -> u64 {
    history
        .ops
        .iter()
        .filter(|o| o.ty == OpType::Invoke)
        .count() as u64
}

/// Wall-clock figures of one run, for the command's output only.
#[derive(Clone, Copy, Debug)]
pub struct Wall {
    /// Simulating.
    pub run: Duration,
    /// Checking the history.
    pub check: Duration,
}

/// The most telling line of an invalid run's report, for a sweep's one-line listing:
/// the first line that names anomalies, with the line after it, or else the last line.
pub fn why(outcome: &Outcome, report: &Report) -> String {
    if let Some(failure) = &outcome.failure {
        return failure.clone();
    }
    if let Some(v) = outcome.history.violations.iter().find(|v| {
        matches!(
            v.kind,
            ViolationKind::MalformedEnvelope | ViolationKind::UnknownDestination
        )
    }) {
        return format!("{:?} by {}: {}", v.kind, v.node, v.detail);
    }
    let text = report.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(i) = lines
        .iter()
        .position(|l| l.to_lowercase().contains("anomal"))
    {
        return match lines.get(i + 1) {
            Some(next) => format!("{} {next}", lines[i]),
            None => lines[i].to_string(),
        };
    }
    lines
        .last()
        .map_or_else(|| "invalid".into(), |l| l.to_string())
}

/// The one command that replays `options` (a node binary and its arguments included;
/// quoted for a POSIX shell where they need it).
pub fn replay_command(options: &Options) -> String {
    let args: Vec<String> = options.to_args().iter().map(|a| shell_word(a)).collect();
    format!(
        "cargo run --release -p replicator-sim -- run {}",
        args.join(" ")
    )
}

/// `word` as a POSIX shell reads it back: as is when it is made of safe characters only,
/// otherwise in single quotes.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Main-phase operations the workload issued: sends, polls and assigns, which the rate
/// paces (crashes are scheduled apart, and the final polls come after).
pub fn main_phase_ops(history: &History) -> u64 {
    history
        .ops
        .iter()
        .filter(|o| o.ty == OpType::Invoke && !o.is_final && o.f != F::Crash)
        .count() as u64
}

/// What a real-time run adds to the timing of the test, for the command's stderr:
/// how many of the operations the rate offered it issued, and how late messages and
/// events were. `None` for a virtual-time run.
pub fn realtime_line(options: &Options, outcome: &Outcome, wall: Duration) -> Option<String> {
    let figures = outcome.realtime.as_ref()?;
    let offered = options.rate * options.time_limit_s;
    let issued = main_phase_ops(&outcome.history);
    let percent = if offered > 0.0 {
        format!(" ({:.1}%)", 100.0 * issued as f64 / offered)
    } else {
        String::new()
    };
    let ms = |us: u64| us as f64 / 1000.0;
    let (w, e) = (&figures.write_delay, &figures.event_lateness);
    Some(format!(
        "real time: {:.1}s; issued {issued} of {offered:.0} offered operations{percent}; \
         added delay, due to written, over {} messages to nodes: p50 {:.3} ms, p99 {:.3} ms, \
         max {:.3} ms; events handled late by p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        wall.as_secs_f64(),
        w.n,
        ms(w.p50),
        ms(w.p99),
        ms(w.max),
        ms(e.p50),
        ms(e.p99),
        ms(e.max)
    ))
}

fn f_name(f: F) -> &'static str {
    match f {
        F::Send => "send",
        F::Poll => "poll",
        F::Assign => "assign",
        F::Crash => "crash",
    }
}

/// Completions per function: (ok, info, fail).
fn op_counts(history: &History) -> BTreeMap<&'static str, [u64; 3]> {
    let mut counts: BTreeMap<&'static str, [u64; 3]> = BTreeMap::new();
    for op in &history.ops {
        let slot = match op.ty {
            OpType::Invoke => continue,
            OpType::Ok => 0,
            OpType::Info => 1,
            OpType::Fail => 2,
        };
        counts.entry(f_name(op.f)).or_default()[slot] += 1;
    }
    counts
}

/// How long a run took on this machine, and how that compares with virtual time:
/// `wall time: 0.017s simulating (1762x virtual/wall, 2.51M msgs/s) + 0.040s checking`.
pub fn wall_line(outcome: &Outcome, wall: Wall) -> String {
    let h = &outcome.history;
    let secs = wall.run.as_secs_f64();
    let (ratio, msgs) = if secs > 0.0 {
        (
            h.end as f64 / 1e6 / secs,
            h.net.all.recv_count as f64 / secs,
        )
    } else {
        (0.0, 0.0)
    };
    format!(
        "wall time: {secs:.3}s simulating ({ratio:.0}x virtual/wall, {:.2}M msgs/s) + {:.3}s checking",
        msgs / 1e6,
        wall.check.as_secs_f64()
    )
}

/// The summary: run facts, then the checker's report, then the verdict.
pub fn summary(options: &Options, outcome: &Outcome, report: &Report) -> String {
    let h = &outcome.history;
    let mut out = String::new();
    let _ = writeln!(out, "replicator-sim run {options}");
    // Operation counts, latencies and msgs-per-op come once, in the checker's report
    // below; this header says only what the run itself was.
    let starts = h
        .nemesis
        .iter()
        .filter(|e| matches!(e.kind, crate::history::NemesisKind::StartPartition { .. }))
        .count();
    if !h.nemesis.is_empty() {
        let _ = writeln!(
            out,
            "nemesis: {}, {}",
            trace::count(h.nemesis.len(), "event", "events"),
            trace::count(starts, "partition", "partitions")
        );
    }
    // A real-time run's times are the wall clock's, since its start.
    let clock = if options.bin.is_some() {
        "real"
    } else {
        "virtual"
    };
    let _ = write!(
        out,
        "{clock} time: {} (main phase ended at {}), {} events",
        trace::time(h.end),
        trace::time(h.main_phase_end),
        outcome.events
    );
    out.push('\n');
    if !h.violations.is_empty() {
        let mut by_kind: BTreeMap<String, (usize, &str)> = BTreeMap::new();
        for v in &h.violations {
            let entry = by_kind
                .entry(format!("{:?}", v.kind))
                .or_insert((0, &v.detail));
            entry.0 += 1;
        }
        let _ = writeln!(out, "wire violations:");
        for (kind, (count, first)) in by_kind {
            let _ = writeln!(out, "  {kind} x{count}, first: {first}");
        }
    }
    if let Some(failure) = &outcome.failure {
        let _ = writeln!(out, "RUN FAILED: {failure}");
    }
    let u = crate::quorum::Unavailability::of(h, &options.node_ids());
    if u.not_ok > 0 {
        let _ = writeln!(
            out,
            "not ok: {} of {} invocations: {} client crashes, {} ({} sends) at nodes cut off from a majority, {} at nodes in touch with one",
            u.not_ok, u.invocations, u.crashes, u.cut_off, u.cut_off_sends, u.connected
        );
    }
    if let Some(line) = recoveries_line(h, options) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{report}");
    match verdict(options, outcome, report, false) {
        Verdict::Valid => {
            if !report.is_strict_valid() {
                let _ = writeln!(
                    out,
                    "(Maelstrom-equivalent verdict valid; our stricter checks failed)"
                );
            }
        }
        Verdict::NoQuorum { longest_us } => {
            let _ = writeln!(
                out,
                "NO QUORUM: no send could be acknowledged by a majority (the longest stretch in which a majority of the servers could reach each other was {}, or no send's node stayed with an undisturbed majority for long enough after it); Maelstrom calls this invalid, but it says nothing about the node",
                trace::time(longest_us)
            );
        }
        Verdict::CrashedAlone => {
            let _ = writeln!(
                out,
                "CRASHED ALONE: the only node crashed and lost its log, as a single node without a disk does; expected, not a failure"
            );
        }
        Verdict::Invalid => {
            let _ = writeln!(out, "INVALID: replay with {}", replay_command(options));
        }
    }
    out
}

/// How restarted nodes recovered (the node-crash extension): how many joined their
/// cluster again and how long it took, against the grace the nemesis gives them.
fn recoveries_line(h: &History, options: &Options) -> Option<String> {
    if h.recoveries.is_empty() {
        return None;
    }
    let mut took: Vec<Micros> = h
        .recoveries
        .iter()
        .filter_map(|r| r.joined.map(|j| j - r.restarted))
        .collect();
    took.sort_unstable();
    let never = h.recoveries.len() - took.len();
    let mut line = format!("recoveries: {} restarts", h.recoveries.len());
    if let (Some(median), Some(max)) = (took.get(took.len() / 2), took.last()) {
        let log = h.recoveries.iter().map(|r| r.log).max().unwrap_or(0);
        let _ = write!(
            line,
            ", {} joined again after p50 {} max {} (logs up to {log} entries)",
            took.len(),
            trace::time(*median),
            trace::time(*max)
        );
    }
    if never > 0 && options.bin.is_some() {
        // A process does not say when it has recovered: its log may (`--log-dir`).
        let _ = write!(
            line,
            ", whether they joined again is not visible from outside"
        );
    } else if never > 0 {
        let _ = write!(line, ", {never} not (yet) joined");
    }
    let grace = crate::run::recovery_grace_us(options);
    let _ = write!(
        line,
        "; the nemesis counts a node recovering for {} with the network whole",
        trace::time(grace)
    );
    Some(line)
}

/// The run as JSON for `--json`: options, facts, the checker's report and the verdict.
pub fn to_json(options: &Options, outcome: &Outcome, report: &Report) -> serde_json::Value {
    let h = &outcome.history;
    let counts = |c: &NetCounts| json!({"send-count": c.send_count, "recv-count": c.recv_count, "msg-count": c.msg_count});
    let ops = invocations(h);
    let per_op = |c: &NetCounts| {
        if ops == 0 {
            0.0
        } else {
            c.msg_count as f64 / ops as f64
        }
    };
    let by_f: serde_json::Map<String, serde_json::Value> = op_counts(h)
        .into_iter()
        .map(|(f, [ok, info, fail])| (f.to_string(), json!({"ok": ok, "info": info, "fail": fail})))
        .collect();
    let violations: Vec<serde_json::Value> = h
        .violations
        .iter()
        .map(|v| json!({"time-us": v.time, "node": v.node.as_str(), "kind": format!("{:?}", v.kind), "detail": v.detail}))
        .collect();
    let u = crate::quorum::Unavailability::of(h, &options.node_ids());
    let not_ok = json!({"invocations": u.invocations, "not-ok": u.not_ok, "crashes": u.crashes,
        "cut-off": u.cut_off, "cut-off-sends": u.cut_off_sends, "connected": u.connected});
    let mut value = json!({
        "options": options.to_args(),
        "valid": is_valid(outcome, report),
        // Maelstrom's verdict on the run (with its failures and fatal wire violations),
        // then the same with our stricter checks added; `checker` holds each check's own.
        "valid-with-strict": is_valid(outcome, report) && report.is_strict_valid(),
        "no-quorum": matches!(verdict(options, outcome, report, false), Verdict::NoQuorum { .. }),
        "crashed-alone": verdict(options, outcome, report, false) == Verdict::CrashedAlone,
        "failure": outcome.failure,
        "ops": ops,
        "by-f": by_f,
        "net": {
            "all": {"counts": counts(&h.net.all), "msgs-per-op": per_op(&h.net.all)},
            "clients": counts(&h.net.clients),
            "servers": {"counts": counts(&h.net.servers), "msgs-per-op": per_op(&h.net.servers)},
        },
        "violations": violations,
        "not-ok": not_ok,
        "recoveries": h.recoveries.iter().map(|r| json!({"node": r.node.as_str(),
            "restarted-us": r.restarted, "joined-us": r.joined, "log": r.log})).collect::<Vec<_>>(),
        "virtual-time-us": h.end,
        "main-phase-end-us": h.main_phase_end,
        "events": outcome.events,
        "checker": report.to_json(),
        "replay": replay_command(options),
    });
    // Only a real-time run has these; a virtual-time run's JSON stays as it was.
    if let Some(f) = &outcome.realtime {
        let latency = |l: &crate::stats::Latency| json!({"n": l.n, "p50_us": l.p50, "p99_us": l.p99, "max_us": l.max});
        value["realtime"] = json!({
            "offered-ops": options.rate * options.time_limit_s,
            "issued-ops": main_phase_ops(h),
            "write-delay": latency(&f.write_delay),
            "event-lateness": latency(&f.event_lateness),
            "lines-read": f.lines_read,
        });
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_command_names_the_node_binary_and_quotes_what_needs_it() {
        let options = Options {
            bin: Some("/opt/my node/bin".into()),
            node_args: vec!["--name".into(), "it's".into(), "plain-1.5".into()],
            ..Options::default()
        };
        let replay = replay_command(&options);
        assert!(
            replay.ends_with("--bin '/opt/my node/bin' -- --name 'it'\\''s' plain-1.5"),
            "{replay}"
        );
        assert!(replay.starts_with("cargo run --release -p replicator-sim -- run --seed 0 "));
    }

    #[test]
    fn a_restart_that_did_not_join_is_unknown_for_a_process_and_pending_in_process() {
        let h = History {
            recoveries: vec![crate::history::Recovery {
                node: replicator_core::NodeId::new("n1"),
                restarted: 1_000_000,
                joined: None,
                log: 0,
            }],
            ..History::default()
        };
        let in_process = recoveries_line(&h, &Options::default()).expect("a line");
        assert!(
            in_process.contains("1 restarts, 1 not (yet) joined"),
            "{in_process}"
        );
        let options = Options {
            bin: Some("./node".into()),
            ..Options::default()
        };
        let process = recoveries_line(&h, &options).expect("a line");
        assert!(process.contains("not visible from outside"), "{process}");
        assert!(!process.contains("not (yet)"), "{process}");
    }
}
