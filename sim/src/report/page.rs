//! The report page: one HTML file with its style inline and its figures as inline SVG,
//! no script, nothing fetched, so that it opens from disk anywhere and can be mailed or
//! kept as a CI artefact.
//!
//! Sections, in order: the verdict and the replay command; the summary the terminal
//! prints; the anomalies with every example kept; latency per kind of operation; rates
//! of operations and messages; the Lamport diagram; the replay command again. Every
//! section and figure carries `data-section` / `data-figure`, and every mark the data
//! attributes of its kind (see `charts` and `lamport`), for tests that count them.

use super::charts;
use super::lamport::{self, Window};
use super::series;
use super::summary::{Verdict, replay_command, summary, verdict};
use super::svg::esc;
use crate::checker::{Group, Report};
use crate::history::Micros;
use crate::options::Options;
use crate::run::Outcome;
use std::fmt::Write as _;

/// The page's file name for a run: `seed-<seed>.html`.
pub fn file_name(options: &Options) -> String {
    format!("seed-{}.html", options.seed)
}

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1160px; padding: 0 16px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.lead, p.note { color: #444; margin: 4px 0 10px; max-width: 900px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 4px; font-weight: 600;
           color: #fff; }
.verdict.valid { background: #2e7d32; } .verdict.invalid { background: #c62828; }
.verdict.no-quorum { background: #8d6e63; }
pre, code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
pre { background: #fff; border: 1px solid #ddd; padding: 10px; overflow-x: auto;
      white-space: pre-wrap; word-break: break-word; }
nav a { margin-right: 14px; }
figure { margin: 10px 0 18px; background: #fff; border: 1px solid #ddd; padding: 4px; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #444; padding: 4px 6px; }
.scroll { max-height: 1100px; overflow: auto; border: 1px solid #ddd; background: #fff; }
.scroll figure { border: 0; margin: 0; }
.scroll figure svg { max-width: none; }
details { margin: 6px 0; } summary { cursor: pointer; font-weight: 600; }
ol.cases li { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px;
              margin: 3px 0; word-break: break-word; }
.error { color: #c62828; }
"#;

/// The page of one run. `window` is the Lamport diagram's, when one was asked for
/// (`--diagram-from`, `--diagram-to`, in microseconds); otherwise the default (see
/// `lamport`).
pub fn page(
    options: &Options,
    outcome: &Outcome,
    report: &Report,
    window: Option<(Micros, Micros)>,
) -> String {
    let history = &outcome.history;
    let (verdict_class, verdict_text) = match verdict(options, outcome, report, false) {
        Verdict::Valid if report.is_strict_valid() => ("valid", "VALID".to_string()),
        Verdict::Valid => (
            "valid",
            "VALID under Maelstrom's rules; our stricter checks FAILED".to_string(),
        ),
        Verdict::NoQuorum { .. } => ("no-quorum", "NO QUORUM".to_string()),
        Verdict::CrashedAlone => ("no-quorum", "CRASHED ALONE (expected)".to_string()),
        Verdict::Invalid => ("invalid", "INVALID".to_string()),
    };
    let replay = replay_command(options);
    let clock = if options.bin.is_some() {
        "real time, against node processes"
    } else {
        "virtual time"
    };
    let mut out = String::with_capacity(1 << 20);
    let _ = write!(
        out,
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>replicator-sim: seed {seed}, {verdict}</title>
<style>{STYLE}</style>
</head>
<body data-page="replicator-sim-report" data-seed="{seed}" data-verdict="{verdict_class}">
<header data-section="header">
<h1>replicator-sim run, seed {seed} <span class="verdict {verdict_class}">{verdict}</span></h1>
<p class="lead">Maelstrom's kafka test in {clock}: {nodes}, {threads}. Replay it with:</p>
<pre data-replay>{replay}</pre>
<nav><a href="#summary">Summary</a><a href="#anomalies">Anomalies</a><a href="#latency">Latency</a><a href="#rates">Rates</a><a href="#lamport">Lamport diagram</a></nav>
</header>
"##,
        seed = options.seed,
        verdict = esc(&verdict_text),
        nodes = crate::trace::count(options.node_ids().len(), "node", "nodes"),
        threads = crate::trace::count(options.threads(), "client thread", "client threads"),
        replay = esc(&replay),
    );

    let _ = write!(
        out,
        "<section id=\"summary\" data-section=\"summary\">\n<h2>Summary</h2>\n<p class=\"note\">\
         What the command prints on the terminal.</p>\n<pre>{}</pre>\n</section>\n",
        esc(&summary(options, outcome, report))
    );

    out.push_str(&anomalies(report));

    // Latency.
    let points = series::latency_points(history);
    let intervals = series::intervals(history);
    out.push_str(
        "<section id=\"latency\" data-section=\"latency\">\n<h2>Latency</h2>\n<p class=\"note\">\
         Each operation's latency (completion minus invocation, as Maelstrom measures it) at the \
         time it completed, on a log scale: circles completed :ok, triangles :info (the \
         outcome is unknown: a timeout, a crash), crosses :fail. Red bands are partitions, named \
         by their shape; grey bands are crashed nodes. Latencies of 0 sit on the floor.</p>\n",
    );
    for f in series::PLOTTED {
        let _ = writeln!(
            out,
            "<figure data-figure=\"latency-{name}\">{}</figure>",
            charts::latency(f, &points, &intervals, history),
            name = series::f_name(f),
        );
    }
    out.push_str("</section>\n");

    // Rates.
    out.push_str(
        "<section id=\"rates\" data-section=\"rates\">\n<h2>Rates</h2>\n<p class=\"note\">\
         Operations completed per second by kind, and messages sent per second: Maelstrom's \
         client group (a client on either end) and server group (between nodes, and to and \
         from services), dropped messages included, as in msgs-per-op.</p>\n",
    );
    let _ = writeln!(
        out,
        "<figure data-figure=\"rate-ops\">{}</figure>",
        charts::op_rates(&points, &intervals, history)
    );
    match &outcome.messages {
        Some(recording) => {
            let _ = writeln!(
                out,
                "<figure data-figure=\"rate-msgs\">{}</figure>",
                charts::message_rates(recording, &intervals, history)
            );
        }
        None => out.push_str(NOT_RECORDED),
    }
    out.push_str("</section>\n");

    // The Lamport diagram.
    let window = Window::choose(window, outcome, report);
    out.push_str("<section id=\"lamport\" data-section=\"lamport\">\n<h2>Lamport diagram</h2>\n");
    match &outcome.messages {
        Some(recording) => {
            let window = window.widened(recording);
            let (svg, what) = lamport::diagram(recording, &window, history, &options.node_ids());
            let _ = write!(
                out,
                "<p class=\"note\" data-window-from-us=\"{}\" data-window-to-us=\"{}\">\
                 One lane per node, service and client (with the process it served), time \
                 flowing down; an arrow per message from its send to its delivery. Blue: client \
                 traffic; orange: between nodes; green: to and from services; a dashed arrow \
                 ending in × was dropped (red: by a partition or --loss; grey: its receiver was \
                 down), a grey dashed one never arrived. Hover an arrow for the message. Shown: \
                 {}, {}{}. Choose another window with --diagram-from and --diagram-to \
                 (milliseconds).</p>\n<div class=\"scroll\"><figure data-figure=\"lamport\">{svg}\
                 </figure></div>\n",
                window.from,
                window.to,
                esc(&what),
                esc(&window.why),
                if window.example_ops.is_empty() {
                    ""
                } else {
                    "; the example's operations are marked in yellow on their client's lane"
                },
            );
        }
        None => out.push_str(NOT_RECORDED),
    }
    out.push_str("</section>\n");

    let _ = write!(
        out,
        "<section id=\"replay\" data-section=\"replay\">\n<h2>Replay</h2>\n<pre>{}</pre>\n\
         <p class=\"note\">Add --report DIR to write this page again{}.</p>\n</section>\n\
         </body>\n</html>\n",
        esc(&replay),
        if options.bin.is_some() {
            " (a real-time run replays the same choices, not the same timing)"
        } else {
            " (the same bytes: a virtual-time run is a pure function of its seed and options)"
        }
    );
    out
}

const NOT_RECORDED: &str = "<p class=\"note\" data-not-recorded>The run's messages were not \
    recorded, so this figure is missing (runs record them when --report is given).</p>\n";

/// The anomalies and our stricter checks' findings, every kept example of each.
fn anomalies(report: &Report) -> String {
    let mut out =
        String::from("<section id=\"anomalies\" data-section=\"anomalies\">\n<h2>Anomalies</h2>\n");
    let bad = report.bad_error_types();
    let mut any = false;
    let mut group = |title: &str, name: &str, g: &Group, class: &str| {
        any = true;
        let _ = write!(
            out,
            "<details open data-anomaly=\"{name}\" data-class=\"{class}\" data-count=\"{}\" \
             data-kept=\"{}\"><summary>{}: {} ({title})</summary>\n<ol class=\"cases\">",
            g.count,
            g.cases.len(),
            esc(name),
            crate::trace::count(g.count, "case", "cases"),
        );
        for case in &g.cases {
            let _ = write!(out, "<li data-case>{}</li>", esc(&case.to_string()));
        }
        out.push_str("</ol>");
        if let Some(rest) = g.rest_line(g.cases.len()) {
            let _ = write!(out, "<p class=\"note\">{}</p>", esc(&rest));
        }
        out.push_str("</details>\n");
    };
    for (name, g) in report.anomaly_groups() {
        if bad.contains(name) {
            group("invalid under Maelstrom's rule", name, g, "invalid");
        }
    }
    for (name, g) in report.strict_groups() {
        group(
            "our stricter checks, not part of Maelstrom's verdict",
            name,
            g,
            "strict",
        );
    }
    for (name, g) in report.anomaly_groups() {
        if !bad.contains(name) {
            group("allowed under Maelstrom's rule", name, g, "allowed");
        }
    }
    if !any {
        out.push_str(
            "<p class=\"note\" data-no-anomaly>None: neither Jepsen's kafka checker nor our \
             stricter checks found anything.</p>\n",
        );
    }
    out.push_str("</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker;

    #[test]
    fn a_run_that_never_started_still_gets_a_page() {
        // An init failure leaves an empty history; a run without --report no record.
        let options = Options::default();
        for messages in [None, Some(crate::messages::Recording::default())] {
            let outcome = Outcome {
                failure: Some("n1 did not answer init within 10 s".into()),
                messages,
                ..Outcome::default()
            };
            let report = checker::check(&outcome.history);
            let page = page(&options, &outcome, &report, Some((0, 1000)));
            assert!(page.contains("RUN FAILED: n1 did not answer init"));
            assert!(page.contains(r#"data-verdict="invalid""#));
            assert_eq!(
                page.matches("<figure").count(),
                4 + usize::from(outcome.messages.is_some()) * 2
            );
            assert!(!page.contains("data-chart-error"), "a chart was not drawn");
        }
    }
}
