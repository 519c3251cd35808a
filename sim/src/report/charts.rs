//! The report's charts against time: latency per kind of operation (log scale), and
//! operations and messages per second, each with the nemesis's intervals shaded and named.
//!
//! plotters' SVG backend draws each chart's frame: the background, the scales (linear
//! for time and rates, logarithmic for latency), ticks, grid, tick labels and axis
//! descriptions. The marks (points, rate lines, intervals, legends) are written here,
//! placed with the chart's own coordinate mapping, because each must carry the `data-`
//! attributes that let a test count them in a browser's DOM, and plotters' elements carry
//! none.
//!
//! Marks: a completion is a circle when `:ok`, a triangle when `:info`, a cross when
//! `:fail`, so the three stay apart in grey print too; a partition is a red band named
//! by its shape, a crashed node a grey band named by the node.

use super::series::{self, Buckets, Interval, IntervalKind, LatencyPoint};
use super::svg::{esc, secs, text};
use crate::history::{F, History, Micros, OpType};
use crate::messages::Recording;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;
use std::fmt::Write as _;

/// Every chart's size in pixels.
const WIDTH: u32 = 1100;
const HEIGHT: u32 = 250;
/// Latencies below this (zero, in virtual time without latency) sit on the floor of the
/// log scale: 1 µs, virtual time's resolution.
const LATENCY_FLOOR_MS: f64 = 0.001;

/// A chart's plot area in pixels, and its data-to-pixel mapping.
struct Plot<'a> {
    map: &'a dyn Fn(f64, f64) -> (i32, i32),
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
}

impl Plot<'_> {
    /// The pixel of `(seconds, y)`.
    fn at(&self, x_s: f64, y: f64) -> (i32, i32) {
        (self.map)(x_s, y)
    }

    /// The horizontal pixel of a time.
    fn x(&self, t: Micros) -> i32 {
        self.at(t as f64 / 1e6, 0.0).0.clamp(self.left, self.right)
    }
}

/// A chart: plotters draws the frame, `marks` what goes in it. Returns the SVG.
fn chart<YS>(
    caption: &str,
    end: Micros,
    y: YS,
    y_desc: &str,
    y_label: &dyn Fn(&f64) -> String,
    marks: impl FnOnce(&Plot) -> String,
) -> String
where
    YS: AsRangedCoord<Value = f64>,
    YS::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut svg = String::new();
    let mut drawn = String::new();
    let result = (|| -> Result<(), String> {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let x_max = (end as f64 / 1e6).max(0.001);
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, y)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc(y_desc)
            .y_label_formatter(y_label)
            .light_line_style(RGBColor(238, 238, 238))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| e.to_string())?;
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let map = |x: f64, y: f64| chart.backend_coord(&(x, y));
        let plot = Plot {
            map: &map,
            left: xs.start,
            right: xs.end,
            top: ys.start,
            bottom: ys.end,
        };
        // The plot area, invisible, so that a test can check every mark lies inside it.
        drawn = format!(
            r#"<rect data-plot-area="" x="{}" y="{}" width="{}" height="{}" fill="none"/>"#,
            plot.left,
            plot.top,
            plot.right - plot.left,
            plot.bottom - plot.top
        );
        drawn.push_str(&marks(&plot));
        root.present().map_err(|e| e.to_string())
    })();
    if let Err(error) = result {
        // A chart that cannot be drawn says so; the rest of the page stands.
        return format!(
            r#"<p class="error" data-chart-error="{}">This chart could not be drawn: {}</p>"#,
            esc(caption),
            esc(&error)
        );
    }
    // The marks go on top of plotters' frame, inside its root element.
    let close = svg.rfind("</svg>").unwrap_or(svg.len());
    svg.insert_str(close, &drawn);
    svg
}

/// The nemesis's intervals as shaded bands over the plot, each named, and the phases'
/// boundaries as dashed lines.
fn backdrop(plot: &Plot, intervals: &[Interval], history: &History) -> String {
    let mut out = String::from(r#"<g data-layer="intervals">"#);
    for interval in intervals {
        let (x0, x1) = (plot.x(interval.from), plot.x(interval.to));
        let width = (x1 - x0).max(1);
        let (kind, attrs, fill, label, y_label) = match &interval.kind {
            IntervalKind::Partition { shape, cut } => (
                format!("partition {shape}: {cut}"),
                format!(r#"data-interval="partition" data-shape="{}""#, esc(shape)),
                "rgba(214,39,40,0.13)",
                shape.clone(),
                plot.top + 11,
            ),
            IntervalKind::Crash { node } => (
                format!("{node} crashed"),
                format!(r#"data-interval="crash" data-node="{}""#, esc(node)),
                "rgba(90,90,90,0.18)",
                format!("{node} down"),
                plot.bottom - 4,
            ),
        };
        let _ = write!(
            out,
            r#"<g {attrs} data-from-us="{}" data-to-us="{}"><rect x="{x0}" y="{}" width="{width}" height="{}" fill="{fill}"/><title>{} from {} to {}</title>"#,
            interval.from,
            interval.to,
            plot.top,
            plot.bottom - plot.top,
            esc(&kind),
            secs(interval.from),
            secs(interval.to)
        );
        // A name only where it fits; the tooltip names every band.
        if width >= 7 * label.len() as i32 {
            text(
                &mut out,
                f64::from(x0 + 3),
                f64::from(y_label),
                r##"font-size="10" fill="#555" font-family="sans-serif""##,
                &label,
            );
        }
        out.push_str("</g>");
    }
    let final_start = history.ops.iter().find(|o| o.is_final).map(|o| o.time);
    for (name, at) in [
        ("main phase ends", Some(history.main_phase_end)),
        ("final polls", final_start),
    ] {
        let Some(at) = at else { continue };
        let x = plot.x(at);
        let _ = write!(
            out,
            r##"<g data-marker="{name}"><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#888" stroke-dasharray="4 3"/>"##,
            plot.top, plot.bottom
        );
        // Right of the line, unless that runs off the plot.
        let (x, anchor) = if x + 7 * name.len() as i32 > plot.right {
            (x - 3, "end")
        } else {
            (x + 3, "start")
        };
        text(
            &mut out,
            f64::from(x),
            f64::from(plot.top + 22),
            &format!(
                r##"font-size="10" fill="#666" font-family="sans-serif" text-anchor="{anchor}""##
            ),
            name,
        );
        out.push_str("</g>");
    }
    out.push_str("</g>");
    out
}

/// The legend: one swatch and label per entry, right-aligned just above the plot, where
/// it covers neither marks nor the phases' labels.
fn legend(plot: &Plot, entries: &[(String, String)]) -> String {
    let mut out = String::from(r#"<g data-layer="legend">"#);
    let mut x = plot.right;
    let y = plot.top - 9;
    for (swatch, label) in entries.iter().rev() {
        let width = 7 * label.len() as i32;
        x -= width;
        text(
            &mut out,
            f64::from(x),
            f64::from(y + 4),
            r##"font-size="11" fill="#222" font-family="sans-serif""##,
            label,
        );
        let _ = write!(
            out,
            r#"<g transform="translate({},{y})">{swatch}</g>"#,
            x - 8
        );
        x -= 26;
    }
    out.push_str("</g>");
    out
}

/// A completion's mark at the origin, for a legend: see [`point`].
fn shape(ty: OpType) -> &'static str {
    match ty {
        OpType::Info => r##"<path d="M0,-3.5L3.2,2.2L-3.2,2.2Z" fill="#ff7f0e"/>"##,
        OpType::Fail => r##"<path d="M-3,-3L3,3M-3,3L3,-3" stroke="#d62728" stroke-width="1.6"/>"##,
        _ => r##"<circle r="2.6" fill="#1f77b4" fill-opacity="0.6"/>"##,
    }
}

/// One completion's mark at `(x, y)`.
fn point(out: &mut String, f: F, ty: OpType, (x, y): (i32, i32)) {
    let attrs = format!(
        r#"data-mark="op" data-f="{}" data-type="{}""#,
        series::f_name(f),
        series::type_name(ty)
    );
    let _ = match ty {
        OpType::Info => write!(
            out,
            r##"<path {attrs} d="M{x},{}l3.2,5.7h-6.4z" fill="#ff7f0e"/>"##,
            y - 4
        ),
        OpType::Fail => write!(
            out,
            r##"<path {attrs} d="M{},{}l6,6m-6,0l6,-6" stroke="#d62728" stroke-width="1.6"/>"##,
            x - 3,
            y - 3
        ),
        _ => write!(
            out,
            r##"<circle {attrs} cx="{x}" cy="{y}" r="2.2" fill="#1f77b4" fill-opacity="0.5"/>"##
        ),
    };
}

/// Latency against time for one kind of operation, log scale.
pub(crate) fn latency(
    f: F,
    points: &[LatencyPoint],
    intervals: &[Interval],
    history: &History,
) -> String {
    let mine: Vec<&LatencyPoint> = points.iter().filter(|p| p.f == f).collect();
    let max_ms = mine
        .iter()
        .map(|p| p.latency as f64 / 1000.0)
        .fold(1.0, f64::max);
    // Whole decades, so that the ticks fall on 0.001, 0.01, …, and room above the top.
    let top = 10f64.powf((max_ms * 1.5).log10().ceil());
    let label = |v: &f64| {
        if *v <= LATENCY_FLOOR_MS * 1.0001 {
            "≤0.001".to_string()
        } else if *v >= 1.0 {
            format!("{v:.0}")
        } else {
            let digits = (-v.log10()).ceil() as usize;
            format!("{v:.digits$}")
        }
    };
    let counts = [OpType::Ok, OpType::Info, OpType::Fail]
        .map(|ty| (ty, mine.iter().filter(|p| p.ty == ty).count()));
    let name = series::f_name(f);
    chart(
        &format!("{name}: latency of each operation, by completion time"),
        history.end,
        // Half a decade below the floor, so that the floor's tick and label show.
        (LATENCY_FLOOR_MS / 2.0..top).log_scale(),
        "latency (ms)",
        &label,
        |plot| {
            let mut out = backdrop(plot, intervals, history);
            let _ = write!(out, r#"<g data-layer="marks" data-f="{name}">"#);
            // `:ok` first, so the rarer `:info` and `:fail` marks are drawn over them.
            for ty in [OpType::Ok, OpType::Info, OpType::Fail] {
                for p in mine.iter().filter(|p| p.ty == ty) {
                    let ms = (p.latency as f64 / 1000.0).max(LATENCY_FLOOR_MS);
                    point(&mut out, f, ty, plot.at(p.completed as f64 / 1e6, ms));
                }
            }
            out.push_str("</g>");
            let entries: Vec<(String, String)> = counts
                .iter()
                .map(|(ty, n)| {
                    (
                        shape(*ty).to_string(),
                        format!("{} {n}", series::type_name(*ty)),
                    )
                })
                .collect();
            out.push_str(&legend(plot, &entries));
            out
        },
    )
}

/// A rate chart: one line per series of counts per bucket, with a mark per bucket.
fn rates(
    caption: &str,
    y_desc: &str,
    lines: &[(&str, &str, &[u64])],
    buckets: Buckets,
    intervals: &[Interval],
    history: &History,
) -> String {
    let per_s = |n: u64| n as f64 * 1e6 / buckets.width as f64;
    let max = lines
        .iter()
        .flat_map(|(_, _, counts)| counts.iter())
        .map(|&n| per_s(n))
        .fold(1.0, f64::max);
    let label = |v: &f64| format!("{v:.0}");
    chart(
        caption,
        history.end,
        0f64..max * 1.15,
        y_desc,
        &label,
        |plot| {
            let mut out = backdrop(plot, intervals, history);
            for (name, color, counts) in lines {
                let _ = write!(
                    out,
                    r#"<g data-series="{name}" data-bucket-us="{}" data-total="{}">"#,
                    buckets.width,
                    counts.iter().sum::<u64>()
                );
                // Each bucket's rate at its middle; the last bucket ends with the run, so
                // its middle may lie past the end: it is drawn at the end.
                let end_s = history.end as f64 / 1e6;
                let at = |i: usize, n: u64| {
                    let mid = (i as f64 + 0.5) * buckets.width as f64 / 1e6;
                    plot.at(mid.min(end_s), per_s(n))
                };
                out.push_str(r#"<polyline fill="none" stroke=""#);
                out.push_str(color);
                out.push_str(r#"" stroke-width="1.5" points=""#);
                for (i, &n) in counts.iter().enumerate() {
                    let (x, y) = at(i, n);
                    let _ = write!(out, "{x},{y} ");
                }
                out.push_str(r#""/>"#);
                for (i, &n) in counts.iter().enumerate() {
                    let (x, y) = at(i, n);
                    let _ = write!(
                        out,
                        r#"<circle data-mark="bucket" data-count="{n}" cx="{x}" cy="{y}" r="1.6" fill="{color}"/>"#
                    );
                }
                out.push_str("</g>");
            }
            let entries: Vec<(String, String)> = lines
                .iter()
                .map(|(name, color, counts)| {
                    (
                        format!(r#"<rect x="-4" y="-2" width="8" height="4" fill="{color}"/>"#),
                        format!("{name} {}", counts.iter().sum::<u64>()),
                    )
                })
                .collect();
            out.push_str(&legend(plot, &entries));
            out
        },
    )
}

/// Completions per second of each kind of operation.
pub(crate) fn op_rates(
    points: &[LatencyPoint],
    intervals: &[Interval],
    history: &History,
) -> String {
    let buckets = Buckets::over(history.end);
    let counts = series::op_rates(points, buckets);
    let colors = ["#1f77b4", "#2ca02c", "#9467bd"];
    let lines: Vec<(&str, &str, &[u64])> = counts
        .iter()
        .zip(colors)
        .map(|((f, c), color)| (series::f_name(*f), color, c.as_slice()))
        .collect();
    let caption = format!(
        "operations completed per second ({} buckets)",
        secs(buckets.width)
    );
    rates(&caption, "ops/s", &lines, buckets, intervals, history)
}

/// Messages sent per second, client traffic and server traffic apart.
pub(crate) fn message_rates(
    recording: &Recording,
    intervals: &[Interval],
    history: &History,
) -> String {
    let buckets = Buckets::over(history.end);
    let (clients, servers) = series::message_rates(recording, buckets);
    let caption = format!(
        "messages sent per second, client and server groups ({} buckets)",
        secs(buckets.width)
    );
    rates(
        &caption,
        "msgs/s",
        &[
            ("client", "#17becf", &clients),
            ("server", "#e377c2", &servers),
        ],
        buckets,
        intervals,
        history,
    )
}
