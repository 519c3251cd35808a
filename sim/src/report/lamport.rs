//! The Lamport diagram: one vertical lane per node, service and client, time flowing
//! down, one arrow per message from its send to its delivery (or to where it was
//! dropped), for a window of the run. Hand-written SVG: a chart library draws against
//! axes of data, and this is a layout of events.
//!
//! Layout: events (sends, deliveries, drops) are taken in the order the run handled them
//! and each gets a row. An event goes below the previous event on its lane, a delivery
//! below its send, and every event of a later instant below every event of an earlier
//! one; events of one instant share rows where causality allows. So every arrow points
//! down, rows read as time (each new instant is labelled on the left), and a burst of
//! messages at one instant (zero-latency client links) stays readable as a chain.
//!
//! The window: by default around the first anomaly's example (from just before its
//! earliest operation was invoked to just after its latest completed), so that a failing
//! seed shows the messages that made it fail; or around the first wire violation, the
//! first nemesis event, or the start of the main phase, in that order; or as asked
//! (`--diagram-from`, `--diagram-to`). At most [`DIAGRAM_MESSAGES_MAX`] messages are
//! drawn, the first ones sent in the window.

use super::series;
use super::svg::{esc, millis, text};
use crate::checker::{Case, Report};
use crate::history::{History, Micros, OpType, OpValue};
use crate::messages::{Fate, MessageRecord, Recording, Stamp};
use crate::run::Outcome;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The most messages the diagram draws: a few hundred arrows stay readable.
pub const DIAGRAM_MESSAGES_MAX: usize = 300;

/// How far before the example's first operation, and after its last, the window reaches.
const LEAD_US: Micros = 20_000;
/// How long a window that starts at an event (not at an example) lasts at most.
const SPAN_US: Micros = 1_000_000;
/// A default window holding fewer messages than this widens to hold about this many:
/// [`WIDEN_BEFORE`] of them sent before it, and the rest after.
const DIAGRAM_MESSAGES_MIN: usize = 80;
const WIDEN_BEFORE: usize = 20;

const ROW_PX: i32 = 13;
const LANE_PX: i32 = 104;
const GUTTER_PX: i32 = 92;
const HEADER_PX: i32 = 44;

/// The stretch of the run the diagram shows, and why that one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Messages sent from this time…
    pub from: Micros,
    /// …to this one, inclusive.
    pub to: Micros,
    /// Why this window, in words.
    pub why: String,
    /// The history entries of the example it shows, if any: their lanes are marked.
    pub example_ops: Vec<usize>,
    /// Whether a window of few messages may widen (a default one; never one asked for).
    pub may_widen: bool,
}

impl Window {
    /// The window `explicit` asks for, or the default one for this run (see the module
    /// docs).
    pub fn choose(
        explicit: Option<(Micros, Micros)>,
        outcome: &Outcome,
        report: &Report,
    ) -> Window {
        let history = &outcome.history;
        if let Some((from, to)) = explicit {
            return Window {
                from,
                to,
                why: "as asked with --diagram-from and --diagram-to".into(),
                example_ops: Vec::new(),
                may_widen: false,
            };
        }
        let around = |from: Micros, why: String| Window {
            from: from.saturating_sub(LEAD_US),
            to: from.saturating_add(SPAN_US),
            why,
            example_ops: Vec::new(),
            may_widen: true,
        };
        if let Some((name, anchor)) = first_example(report, history) {
            return match anchor {
                Anchor::Ops(ops) => {
                    let spans: Vec<(Micros, Micros)> = ops
                        .iter()
                        .filter_map(|&i| series::op_span(history, i))
                        .collect();
                    let from = spans.iter().map(|s| s.0).min().unwrap_or(0);
                    let to = spans.iter().map(|s| s.1).max().unwrap_or(from);
                    Window {
                        from: from.saturating_sub(LEAD_US),
                        to: to.saturating_add(LEAD_US),
                        why: format!(
                            "around the first example of {name}: from just before its first \
                             operation was invoked to just after its last completed"
                        ),
                        example_ops: ops,
                        may_widen: true,
                    }
                }
                Anchor::Time(time) => around(time, format!("around the first example of {name}")),
            };
        }
        if let Some(v) = history.violations.first() {
            return around(v.time, "around the first wire violation".into());
        }
        if let Some(e) = history.nemesis.first() {
            return around(e.time, "around the nemesis's first event".into());
        }
        let start = history.ops.first().map_or(0, |o| o.time);
        around(
            start,
            "the start of the main phase (the run has no anomaly)".into(),
        )
    }
}

/// What an example points at: operations in the history, or only a time.
enum Anchor {
    Ops(Vec<usize>),
    Time(Micros),
}

/// The first example of the first finding: Maelstrom's invalidating anomalies first,
/// then our stricter checks, then the anomalies Maelstrom allows; each by name.
fn first_example(report: &Report, history: &History) -> Option<(&'static str, Anchor)> {
    let bad = report.bad_error_types();
    let groups = report
        .anomaly_groups()
        .iter()
        .filter(|(name, _)| bad.contains(name))
        .chain(report.strict_groups())
        .chain(
            report
                .anomaly_groups()
                .iter()
                .filter(|(name, _)| !bad.contains(name)),
        );
    for (name, group) in groups {
        for case in &group.cases {
            if let Some(anchor) = anchor(case, history) {
                return Some((name, anchor));
            }
        }
    }
    None
}

fn anchor(case: &Case, history: &History) -> Option<Anchor> {
    let ops: Vec<usize> = case.ops().iter().map(|o| o.index).collect();
    if !ops.is_empty() {
        return Some(Anchor::Ops(ops));
    }
    // The cases that name values rather than operations: the send of the first value.
    let (key, values) = match case {
        Case::Unseen { messages, .. } => {
            let (key, values) = messages.first()?;
            (key, values.clone())
        }
        Case::Duplicate { key, value, .. } => (key, vec![value.clone()]),
        Case::InconsistentOffsets { key, values, .. } => (key, values.clone()),
        Case::Wire { time, .. } => return Some(Anchor::Time(*time)),
        _ => return None,
    };
    history
        .ops
        .iter()
        .find(|op| {
            op.ty == OpType::Ok
                && matches!(&op.value, OpValue::Send { key: k, value, .. }
                    if k == key && values.contains(value))
        })
        .map(|op| Anchor::Ops(vec![op.index]))
}

impl Window {
    /// This window, widened when it may be and holds fewer than [`DIAGRAM_MESSAGES_MIN`]
    /// messages: to the [`WIDEN_BEFORE`] messages sent before it and as many after it as
    /// make up the minimum, so that an example's few messages come with their context.
    pub fn widened(&self, recording: &Recording) -> Window {
        // Records are in the order sent, so their times never decrease.
        let messages = &recording.messages;
        let first = messages.partition_point(|m| m.sent.time < self.from);
        let past = messages.partition_point(|m| m.sent.time <= self.to);
        if !self.may_widen || past - first >= DIAGRAM_MESSAGES_MIN {
            return self.clone();
        }
        let first = first.saturating_sub(WIDEN_BEFORE);
        let past = past.max((first + DIAGRAM_MESSAGES_MIN).min(messages.len()));
        let mut wide = self.clone();
        if let Some(m) = messages.get(first) {
            wide.from = wide.from.min(m.sent.time);
        }
        if let Some(m) = past.checked_sub(1).and_then(|i| messages.get(i)) {
            wide.to = wide.to.max(m.sent.time);
        }
        if wide != *self {
            wide.why
                .push_str(", widened to show the messages around it");
        }
        wide.may_widen = false;
        wide
    }
}

/// What a lane is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LaneKind {
    Node,
    Service,
    Client,
}

struct Lane {
    id: String,
    kind: LaneKind,
    /// A second line under the id: a client's process.
    note: String,
}

/// An event of the diagram: a message's send, or its end (delivery or drop).
struct Event {
    stamp: Stamp,
    lane: usize,
    message: usize,
    is_send: bool,
}

fn lane_kind(id: &str, nodes: &[String]) -> LaneKind {
    if nodes.iter().any(|n| n == id) {
        LaneKind::Node
    } else if id
        .strip_prefix('c')
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
    {
        LaneKind::Client
    } else {
        LaneKind::Service
    }
}

/// The diagram of `window` as SVG, with a sentence saying what it shows.
pub(crate) fn diagram(
    recording: &Recording,
    window: &Window,
    history: &History,
    nodes: &[String],
) -> (String, String) {
    let in_window: Vec<&MessageRecord> = recording
        .messages
        .iter()
        .filter(|m| (window.from..=window.to).contains(&m.sent.time))
        .collect();
    let total = in_window.len();
    let shown: Vec<&MessageRecord> = in_window.into_iter().take(DIAGRAM_MESSAGES_MAX).collect();
    let what = if shown.len() < total {
        format!(
            "the first {} of the {total} messages sent from {} to {}",
            shown.len(),
            millis(window.from),
            millis(window.to)
        )
    } else {
        format!(
            "the {total} messages sent from {} to {}",
            millis(window.from),
            millis(window.to.min(history.end))
        )
    };

    // Lanes: every node, then the services and clients that appear, in order.
    let mut lanes: Vec<Lane> = nodes
        .iter()
        .map(|n| Lane {
            id: n.clone(),
            kind: LaneKind::Node,
            note: String::new(),
        })
        .collect();
    let mut others: BTreeMap<(LaneKind, u64, String), ()> = BTreeMap::new();
    for m in &shown {
        for id in [&m.from, &m.to] {
            let kind = lane_kind(id, nodes);
            if kind != LaneKind::Node {
                let number = id.get(1..).and_then(|k| k.parse().ok()).unwrap_or(0);
                others.insert((kind, number, id.clone()), ());
            }
        }
    }
    for (kind, number, id) in others.into_keys() {
        let note = match (kind, recording.clients.get(&number)) {
            (LaneKind::Client, Some(c)) => match c.process {
                Some(p) => format!("p{p} on {}", c.node),
                None => format!("init of {}", c.node),
            },
            _ => String::new(),
        };
        lanes.push(Lane { id, kind, note });
    }
    let lane_of: BTreeMap<&str, usize> = lanes
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id.as_str(), i))
        .collect();

    // Events in the order the run handled them.
    let mut events = Vec::with_capacity(2 * shown.len());
    for (i, m) in shown.iter().enumerate() {
        events.push(Event {
            stamp: m.sent,
            lane: lane_of[m.from.as_str()],
            message: i,
            is_send: true,
        });
        if let Fate::Delivered(s) | Fate::Partitioned(s) | Fate::ReceiverDown(s) = m.fate {
            events.push(Event {
                stamp: s,
                lane: lane_of[m.to.as_str()],
                message: i,
                is_send: false,
            });
        }
    }
    events.sort_by_key(|e| e.stamp);

    // Rows (see the module docs).
    let mut last_on_lane = vec![-1i32; lanes.len()];
    let mut send_row = vec![0i32; shown.len()];
    let mut end_row: Vec<Option<i32>> = vec![None; shown.len()];
    let mut max_row = -1;
    let mut floor = 0;
    let mut instant = None;
    let mut time_labels: Vec<(i32, Micros)> = Vec::new();
    for e in &events {
        if instant != Some(e.stamp.time) {
            instant = Some(e.stamp.time);
            floor = max_row + 1;
            time_labels.push((floor, e.stamp.time));
        }
        let mut row = floor.max(last_on_lane[e.lane] + 1);
        if e.is_send {
            send_row[e.message] = row;
        } else {
            row = row.max(send_row[e.message] + 1);
            end_row[e.message] = Some(row);
        }
        last_on_lane[e.lane] = row;
        max_row = max_row.max(row);
    }
    let bottom_row = max_row + 2;

    let lane_x = |i: usize| GUTTER_PX + LANE_PX / 2 + i as i32 * LANE_PX;
    let row_y = |row: i32| HEADER_PX + 10 + row * ROW_PX;
    let width = GUTTER_PX + LANE_PX * lanes.len() as i32 + 20;
    let height = row_y(bottom_row) + 30;
    // The first row at or after a time, for nemesis lines and example marks.
    let row_at = |t: Micros| {
        time_labels
            .iter()
            .find(|(_, time)| *time >= t)
            .map_or(bottom_row, |(row, _)| *row)
    };

    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" data-messages="{}" data-messages-in-window="{total}">"#,
        shown.len()
    );
    svg.push_str(
        r##"<defs><marker id="lamport-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="context-stroke"/></marker></defs>"##,
    );
    svg.push_str(r##"<rect width="100%" height="100%" fill="#fff"/>"##);

    // Example operations, under everything.
    for &index in &window.example_ops {
        let Some(op) = history.ops.get(index) else {
            continue;
        };
        let Some((k, _)) = recording
            .clients
            .iter()
            .find(|(_, c)| c.process == Some(op.process))
        else {
            continue;
        };
        let Some(&lane) = lane_of.get(format!("c{k}").as_str()) else {
            continue;
        };
        let Some((start, end)) = series::op_span(history, index) else {
            continue;
        };
        let (r0, r1) = (
            row_at(start),
            row_at(end.saturating_add(1)).max(row_at(start) + 1),
        );
        let _ = write!(
            svg,
            r##"<rect data-example-op="{index}" x="{}" y="{}" width="28" height="{}" fill="#ffe066" fill-opacity="0.55"><title>the example's operation: {}</title></rect>"##,
            lane_x(lane) - 14,
            row_y(r0) - ROW_PX / 2,
            (r1 - r0) * ROW_PX,
            esc(&crate::trace::op(op))
        );
    }

    // Lanes.
    for (i, lane) in lanes.iter().enumerate() {
        let x = lane_x(i);
        let (color, kind) = match lane.kind {
            LaneKind::Node => ("#333", "node"),
            LaneKind::Service => ("#2ca02c", "service"),
            LaneKind::Client => ("#1f77b4", "client"),
        };
        let _ = write!(
            svg,
            r#"<g data-lane="{}" data-lane-kind="{kind}"><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{color}" stroke-width="{}"/>"#,
            esc(&lane.id),
            HEADER_PX - 4,
            row_y(bottom_row),
            if lane.kind == LaneKind::Node { 2 } else { 1 }
        );
        text(
            &mut svg,
            f64::from(x),
            16.0,
            &format!(r#"text-anchor="middle" font-size="13" font-weight="bold" fill="{color}""#),
            &lane.id,
        );
        if !lane.note.is_empty() {
            text(
                &mut svg,
                f64::from(x),
                31.0,
                r##"text-anchor="middle" font-size="10" fill="#666""##,
                &lane.note,
            );
        }
        svg.push_str("</g>");
    }

    // Time, at the first row of each instant that has room for a label.
    svg.push_str(r#"<g data-layer="times">"#);
    let mut last_label = -2;
    for (row, time) in &time_labels {
        if *row - last_label >= 2 {
            text(
                &mut svg,
                f64::from(GUTTER_PX - 8),
                f64::from(row_y(*row) + 4),
                r##"text-anchor="end" font-size="10" fill="#666""##,
                &millis(*time),
            );
            last_label = *row;
        }
    }
    svg.push_str("</g>");

    // The nemesis's events in the window, as lines across.
    for event in &history.nemesis {
        if !(window.from..=window.to).contains(&event.time) || event.time > history.end {
            continue;
        }
        let (kind, label) = match &event.kind {
            crate::history::NemesisKind::StartPartition { shape, .. } => {
                ("start-partition", format!("partition ({shape}) starts"))
            }
            crate::history::NemesisKind::StopPartition => {
                ("stop-partition", "network healed".to_string())
            }
            crate::history::NemesisKind::Crash(n) => ("crash", format!("{n} crashes")),
            crate::history::NemesisKind::Restart(n) => ("restart", format!("{n} restarts")),
        };
        let y = row_y(row_at(event.time)) - ROW_PX / 2;
        let _ = write!(
            svg,
            r##"<g data-nemesis="{kind}"><line x1="{GUTTER_PX}" y1="{y}" x2="{}" y2="{y}" stroke="#d62728" stroke-dasharray="6 3"/>"##,
            width - 10
        );
        text(
            &mut svg,
            f64::from(width - 12),
            f64::from(y - 3),
            r##"text-anchor="end" font-size="10" fill="#d62728""##,
            &format!("{label} at {}", millis(event.time)),
        );
        svg.push_str("</g>");
    }

    // Arrows.
    for (i, m) in shown.iter().enumerate() {
        let (from, to) = (lane_of[m.from.as_str()], lane_of[m.to.as_str()]);
        let (x0, y0) = (lane_x(from), row_y(send_row[i]));
        let service = lane_kind(&m.from, nodes) == LaneKind::Service
            || lane_kind(&m.to, nodes) == LaneKind::Service;
        let color = if m.is_client {
            "#1f77b4"
        } else if service {
            "#2ca02c"
        } else {
            "#ff7f0e"
        };
        let (fate, end, dashed, end_color) = match m.fate {
            Fate::Delivered(_) => ("delivered", end_row[i], false, color),
            Fate::Partitioned(_) => ("partitioned", end_row[i], true, "#d62728"),
            Fate::ReceiverDown(_) => ("receiver-down", end_row[i], true, "#777"),
            Fate::Lost => ("lost", None, true, "#d62728"),
            Fate::InFlight => ("undelivered", Some(bottom_row), true, "#999"),
        };
        let (x1, y1) = match (m.fate, end) {
            // Lost as sent: a short stub toward the receiver.
            (Fate::Lost, _) => (x0 + (lane_x(to) - x0) * 2 / 5, y0 + ROW_PX),
            (_, Some(row)) => (lane_x(to), row_y(row)),
            (_, None) => (lane_x(to), row_y(bottom_row)),
        };
        let when = match m.fate {
            Fate::Delivered(s) => format!("delivered at {}", millis(s.time)),
            Fate::Partitioned(s) => format!("dropped by the partition at {}", millis(s.time)),
            Fate::ReceiverDown(s) => format!("lost at {}: the receiver was down", millis(s.time)),
            Fate::Lost => "lost as it was sent (--loss)".into(),
            Fate::InFlight => "never delivered".into(),
        };
        let _ = write!(
            svg,
            r#"<g data-arrow="{}" data-kind="{}" data-group="{}" data-from="{}" data-to="{}" data-fate="{fate}"><title>{} → {}: {} (sent at {}, {when})</title>"#,
            m.id,
            esc(&m.kind),
            if m.is_client { "client" } else { "server" },
            esc(&m.from),
            esc(&m.to),
            esc(&m.from),
            esc(&m.to),
            esc(&m.text),
            millis(m.sent.time),
        );
        let _ = write!(
            svg,
            r#"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{color}" stroke-width="1.2"{}{}/>"#,
            if dashed {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            },
            if fate == "delivered" {
                r#" marker-end="url(#lamport-arrow)""#
            } else {
                ""
            }
        );
        if fate != "delivered" && fate != "undelivered" {
            text(
                &mut svg,
                f64::from(x1),
                f64::from(y1 + 4),
                &format!(
                    r#"text-anchor="middle" font-size="12" font-weight="bold" fill="{end_color}""#
                ),
                "×",
            );
        }
        // The message's type, just after its start, on the side it goes.
        let (anchor, dx) = if x1 >= x0 { ("start", 5) } else { ("end", -5) };
        text(
            &mut svg,
            f64::from(x0 + dx),
            f64::from(y0 - 2),
            &format!(r#"text-anchor="{anchor}" font-size="9" fill="{color}""#),
            &m.kind,
        );
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    (svg, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ClientRecord;

    fn record(id: u64, from: &str, to: &str, sent: (Micros, u64), fate: Fate) -> MessageRecord {
        MessageRecord {
            id,
            from: from.into(),
            to: to.into(),
            is_client: from.starts_with('c') || to.starts_with('c'),
            kind: "send".into(),
            text: "send key=\"1\" msg=1 msg_id=1".into(),
            sent: Stamp {
                time: sent.0,
                seq: sent.1,
            },
            fate,
        }
    }

    fn rows(svg: &str, attr: &str) -> usize {
        svg.matches(attr).count()
    }

    #[test]
    fn one_arrow_per_message_one_lane_per_participant_and_causality_points_down() {
        let at = |time, seq| Stamp { time, seq };
        let recording = Recording {
            messages: vec![
                // A request and its reply at one instant, then a forward that a partition
                // drops, and one still in flight at the end.
                record(0, "c4", "n0", (1000, 1), Fate::Delivered(at(1000, 2))),
                record(1, "n0", "c4", (1000, 3), Fate::Delivered(at(1000, 4))),
                record(2, "n0", "n1", (1000, 5), Fate::Partitioned(at(6000, 7))),
                record(3, "n1", "lin-kv", (2000, 6), Fate::InFlight),
            ],
            clients: BTreeMap::from([(
                4,
                ClientRecord {
                    process: Some(2),
                    node: "n0".into(),
                },
            )]),
        };
        let window = Window {
            from: 0,
            to: 10_000,
            why: String::new(),
            example_ops: Vec::new(),
            may_widen: false,
        };
        let nodes = vec!["n0".to_string(), "n1".to_string()];
        let (svg, what) = diagram(&recording, &window, &History::default(), &nodes);
        assert_eq!(rows(&svg, "data-arrow="), 4);
        assert_eq!(rows(&svg, "data-lane="), 4, "n0 n1 lin-kv c4");
        assert!(svg.contains(r#"data-lane="c4""#) && svg.contains("p2 on n0"));
        assert_eq!(rows(&svg, r#"data-fate="partitioned""#), 1);
        assert_eq!(rows(&svg, r#"data-fate="undelivered""#), 1);
        assert!(what.contains("the 4 messages"), "{what}");
        // Every line goes down: y2 > y1.
        for line in svg.split("<line ").skip(1) {
            let num = |name: &str| -> i32 {
                let rest = &line[line.find(&format!(" {name}=\"")).unwrap() + name.len() + 3..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            };
            if line.contains("stroke-width=\"1.2\"") {
                assert!(num("y2") > num("y1"), "{line}");
            }
        }
    }

    #[test]
    fn a_window_of_many_messages_draws_the_first_few_hundred() {
        let at = |time, seq| Stamp { time, seq };
        let messages = (0..1000)
            .map(|i| {
                record(
                    i,
                    "n0",
                    "n1",
                    (i * 10, 2 * i),
                    Fate::Delivered(at(i * 10 + 5, 2 * i + 1)),
                )
            })
            .collect();
        let recording = Recording {
            messages,
            clients: BTreeMap::new(),
        };
        let window = Window {
            from: 100,
            to: 10_000,
            why: String::new(),
            example_ops: Vec::new(),
            may_widen: false,
        };
        let (svg, what) = diagram(
            &recording,
            &window,
            &History::default(),
            &["n0".into(), "n1".into()],
        );
        assert_eq!(rows(&svg, "data-arrow="), DIAGRAM_MESSAGES_MAX);
        assert!(
            what.starts_with("the first 300 of the 990 messages"),
            "{what}"
        );
    }
}
