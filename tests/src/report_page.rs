//! The report page (`replicator-sim run --report DIR`) of pinned seeds: its structure as
//! an insta snapshot, and the page loaded in a real browser.
//!
//! The browser is headless Chromium (Debian's `chromium`). A harness page loads the
//! report in an iframe and measures, through the browser's own DOM and layout: that the
//! page parsed in standards mode and fetched nothing, that every figure is an SVG with a
//! size, and every mark of each figure (points, rate buckets, shaded intervals, arrows,
//! lanes), whether it was laid out with a size and inside its plot. The test then checks
//! those counts against the run's history and message record, so a figure that drops,
//! doubles or misplaces marks fails. It also keeps a screenshot of the README's pinned
//! page in `target/report-pages/` as an artefact, for a person to look at.
//!
//! Where no Chromium is installed the browser test says so on stderr and passes, unless
//! `REPLICATOR_REQUIRE_BROWSER=1` (CI sets it, after installing Chromium), where a missing
//! browser fails it. `REPLICATOR_CHROMIUM` names another browser binary.

use replicator_sim::checker::{self, Report};
use replicator_sim::history::{History, NemesisKind, OpType};
use replicator_sim::messages::{Fate, Recording};
use replicator_sim::options::{Concurrency, LatencyDist, Options};
use replicator_sim::run::{self, Outcome};
use replicator_sim::{report, server};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The README's page: three nodes, partitions of every shape, exponential latency.
pub fn readme_options() -> Options {
    Options {
        seed: 3,
        node_count: Some(3),
        concurrency: Concurrency::PerNode(2),
        time_limit_s: 15.0,
        rate: 100.0,
        latency_ms: 10,
        latency_dist: LatencyDist::Exponential,
        partition: true,
        nemesis_interval_s: 3.0,
        ..Options::default()
    }
}

/// A failing page: three nodes, one of which crashes and recovers, with loss and
/// duplication (the `faults` snapshot's run), read back by final polls too short to
/// finish.
pub fn failing_options() -> Options {
    Options {
        seed: 42,
        node_count: Some(3),
        concurrency: Concurrency::PerNode(1),
        time_limit_s: 3.0,
        rate: 20.0,
        latency_ms: 2,
        loss: 0.2,
        duplicate: 0.2,
        crash_nodes_s: 1.0,
        // One message per poll and half a second of final polls: too little to read
        // every message back, so the run fails with `unseen` whatever the node does.
        poll_msgs_max: Some(1),
        final_limit_s: 0.5,
        ..Options::default()
    }
}

/// Runs `options` with its messages recorded; returns the run, its report and its page.
fn run_with_page(options: &Options) -> (Outcome, Report, String) {
    let options = Options {
        record_messages: true,
        ..options.clone()
    };
    let outcome = run::run(&options, &server::real_node());
    let checked = checker::check(&outcome.history);
    let page = report::page(&options, &outcome, &checked, None);
    (outcome, checked, page)
}

/// The start tags of `html` with their `data-` attributes, in order: `(tag, attributes)`.
/// Only for pages this crate's report writes: attributes in double quotes, and no `<` in
/// text (it is escaped).
fn tags(html: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if name.is_empty() {
            continue;
        }
        let end = rest.find('>').unwrap_or(rest.len());
        let mut attrs = BTreeMap::new();
        let mut inside = &rest[name.len()..end];
        while let Some(start) = inside.find("data-") {
            inside = &inside[start..];
            let key_end = inside
                .find(|c: char| c == '=' || c.is_whitespace() || c == '/')
                .unwrap_or(inside.len());
            let key = inside[..key_end].to_string();
            inside = &inside[key_end..];
            let value = if let Some(quoted) = inside.strip_prefix("=\"") {
                let close = quoted.find('"').unwrap_or(quoted.len());
                let value = quoted[..close].to_string();
                inside = &quoted[(close + 1).min(quoted.len())..];
                value
            } else {
                String::new()
            };
            attrs.insert(key, value);
        }
        if !attrs.is_empty() {
            out.push((name, attrs));
        }
        rest = &rest[end..];
    }
    out
}

/// The page's structure in words: its sections, anomalies, figures and, per figure, its
/// marks counted by kind, its intervals, lanes and arrows. Independent of pixels and of
/// the SVG's bytes.
fn outline(html: &str) -> String {
    let mut lines = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut figure: Option<String> = None;
    let flush =
        |figure: &Option<String>, counts: &mut BTreeMap<String, usize>, lines: &mut Vec<String>| {
            if figure.is_some() {
                for (what, n) in std::mem::take(counts) {
                    lines.push(format!("    {what}: {n}"));
                }
            }
        };
    for (_, a) in tags(html) {
        let get = |k: &str| a.get(k).cloned().unwrap_or_default();
        if a.contains_key("data-page") {
            lines.push(format!(
                "page seed={} verdict={}",
                get("data-seed"),
                get("data-verdict")
            ));
        } else if a.contains_key("data-section") {
            flush(&figure, &mut counts, &mut lines);
            figure = None;
            lines.push(format!("section {}", get("data-section")));
        } else if a.contains_key("data-anomaly") {
            lines.push(format!(
                "  anomaly {} ({}): {} found, {} kept",
                get("data-anomaly"),
                get("data-class"),
                get("data-count"),
                get("data-kept")
            ));
        } else if a.contains_key("data-figure") {
            flush(&figure, &mut counts, &mut lines);
            figure = Some(get("data-figure"));
            lines.push(format!("  figure {}", get("data-figure")));
        } else if a.contains_key("data-window-from-us") {
            lines.push(format!(
                "  diagram window {}..{} us",
                get("data-window-from-us"),
                get("data-window-to-us")
            ));
        } else if a.contains_key("data-interval") {
            let name = a
                .get("data-shape")
                .or(a.get("data-node"))
                .cloned()
                .unwrap_or_default();
            lines.push(format!(
                "    interval {} {name} {}..{} us",
                get("data-interval"),
                get("data-from-us"),
                get("data-to-us")
            ));
        } else if a.contains_key("data-marker") {
            lines.push(format!("    marker {}", get("data-marker")));
        } else if a.contains_key("data-series") {
            lines.push(format!(
                "    series {}: {} in {} us buckets",
                get("data-series"),
                get("data-total"),
                get("data-bucket-us")
            ));
        } else if a.contains_key("data-lane") {
            lines.push(format!(
                "    lane {} ({})",
                get("data-lane"),
                get("data-lane-kind")
            ));
        } else if a.contains_key("data-nemesis") {
            lines.push(format!("    nemesis {}", get("data-nemesis")));
        } else if a.contains_key("data-example-op") {
            lines.push(format!("    example op {}", get("data-example-op")));
        } else if a.contains_key("data-messages") {
            lines.push(format!(
                "    messages {} of {} in the window",
                get("data-messages"),
                get("data-messages-in-window")
            ));
        } else if a.contains_key("data-arrow") {
            *counts
                .entry(format!(
                    "arrows {} {} {}",
                    get("data-group"),
                    get("data-kind"),
                    get("data-fate")
                ))
                .or_default() += 1;
        } else if a.contains_key("data-mark") {
            let kind = [get("data-mark"), get("data-f"), get("data-type")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            *counts.entry(format!("marks {kind}")).or_default() += 1;
        }
    }
    flush(&figure, &mut counts, &mut lines);
    lines.join("\n")
}

#[test]
fn the_failing_pages_structure_is_pinned() {
    let (_, _, page) = run_with_page(&failing_options());
    insta::assert_snapshot!("failing_page_outline", outline(&page));
}

#[test]
fn a_page_is_the_same_for_the_same_seed_and_fetches_nothing() {
    let (_, _, first) = run_with_page(&failing_options());
    let (_, _, again) = run_with_page(&failing_options());
    assert!(first == again, "two pages of one seed differ");
    // Self-contained: no script, no stylesheet or image from anywhere, no address but the
    // SVG namespace's, no reference but to the page's own elements.
    for banned in [
        "<script", "<link", "<img", "<iframe", "src=", "https://", "@import",
    ] {
        assert!(!first.contains(banned), "the page holds {banned:?}");
    }
    assert_eq!(
        first.matches("http://").count(),
        first.matches("http://www.w3.org/2000/svg").count(),
        "the page names an address"
    );
    assert_eq!(
        first.matches("url(").count(),
        first.matches("url(#").count()
    );
}

/// Expected marks of one run, computed from its history and record without the report's
/// own code.
struct Expected {
    /// `(f, type)` → completions.
    completions: BTreeMap<(String, String), u64>,
    partitions: usize,
    crashes: usize,
    client_sends: u64,
    server_sends: u64,
}

fn expected(history: &History) -> Expected {
    let mut completions = BTreeMap::new();
    for op in &history.ops {
        let ty = match op.ty {
            OpType::Invoke => continue,
            OpType::Ok => "ok",
            OpType::Info => "info",
            OpType::Fail => "fail",
        };
        let f = format!("{:?}", op.f).to_lowercase();
        *completions.entry((f, ty.to_string())).or_insert(0) += 1;
    }
    let count = |f: fn(&NemesisKind) -> bool| history.nemesis.iter().filter(|e| f(&e.kind)).count();
    Expected {
        completions,
        partitions: count(|k| matches!(k, NemesisKind::StartPartition { .. })),
        crashes: count(|k| matches!(k, NemesisKind::Crash(_))),
        client_sends: history.net.clients.send_count,
        server_sends: history.net.servers.send_count,
    }
}

/// Where the browser test writes its pages and screenshots: the build's target folder.
fn artefacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("report-pages");
    std::fs::create_dir_all(&dir).expect("the artefact folder");
    dir
}

/// A Chromium to run, if one is installed.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REPLICATOR_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name))
        })
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `url` with `extra` flags, bounded in time; returns stdout.
fn headless(browser: &Path, extra: &[String], url: &str) -> String {
    let profile = tempfile_dir("chromium-profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("waiting for chromium").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&profile);
    reader.join().expect("the reader")
}

/// A fresh folder under the system's temporary one.
fn tempfile_dir(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "replicator-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// The harness: loads the report in an iframe and writes what the browser made of it
/// into `#result`, as JSON.
const HARNESS: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>harness</title></head>
<body><pre id="result">pending</pre>
<iframe id="page" src="PAGE" style="width:1200px;height:900px"></iframe>
<script>
window.addEventListener('load', () => {
  const out = {};
  try {
    const frame = document.getElementById('page');
    const doc = frame.contentDocument, win = frame.contentWindow;
    out.title = doc.title;
    out.compatMode = doc.compatMode;
    out.resources = win.performance.getEntriesByType('resource').map(e => e.name);
    out.sections = [...doc.querySelectorAll('[data-section]')].map(e => e.dataset.section);
    out.summaryText = (doc.querySelector('#summary pre') || {}).textContent || '';
    out.anomalies = [...doc.querySelectorAll('[data-anomaly]')].map(e => ({
      name: e.dataset.anomaly, count: +e.dataset.count, kept: +e.dataset.kept,
      cases: e.querySelectorAll('[data-case]').length }));
    out.figures = {};
    const inside = (el, box) => {
      const r = el.getBoundingClientRect();
      const cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2;
      return cx >= box.left - 1 && cx <= box.right + 1 && cy >= box.top - 1 && cy <= box.bottom + 1;
    };
    for (const fig of doc.querySelectorAll('figure[data-figure]')) {
      const svg = fig.querySelector('svg');
      const f = { isSvg: !!svg && svg instanceof win.SVGSVGElement, width: 0, height: 0,
                  marks: {}, sized: 0, outside: 0, intervals: [], sums: {}, lanes: [],
                  arrows: {}, arrowsSized: 0, exampleOps: 0 };
      if (svg) {
        const r = svg.getBoundingClientRect();
        f.width = r.width; f.height = r.height;
        const area = fig.querySelector('[data-plot-area]');
        const box = (area || svg).getBoundingClientRect();
        for (const m of fig.querySelectorAll('[data-mark]')) {
          const series = m.closest('[data-series]');
          const key = [m.dataset.mark, m.dataset.f || (series && series.dataset.series), m.dataset.type]
            .filter(Boolean).join('/');
          f.marks[key] = (f.marks[key] || 0) + 1;
          const b = m.getBBox();
          if (b.width > 0 || b.height > 0) f.sized++;
          if (!inside(m, box)) f.outside++;
        }
        for (const i of fig.querySelectorAll('[data-interval]')) {
          const rect = i.querySelector('rect').getBoundingClientRect();
          f.intervals.push({ kind: i.dataset.interval, name: i.dataset.shape || i.dataset.node,
                             width: rect.width });
        }
        for (const s of fig.querySelectorAll('g[data-series]')) {
          f.sums[s.dataset.series] = [...s.querySelectorAll('[data-count]')]
            .reduce((a, c) => a + Number(c.dataset.count), 0);
        }
        f.lanes = [...fig.querySelectorAll('[data-lane]')].map(e => e.dataset.lane);
        for (const a of fig.querySelectorAll('[data-arrow]')) {
          f.arrows[a.dataset.fate] = (f.arrows[a.dataset.fate] || 0) + 1;
          const line = a.querySelector('line').getBBox();
          if (line.width > 0 || line.height > 0) f.arrowsSized++;
        }
        f.exampleOps = fig.querySelectorAll('[data-example-op]').length;
      }
      out.figures[fig.dataset.figure] = f;
    }
    const note = doc.querySelector('[data-window-from-us]');
    if (note) out.window = [+note.dataset.windowFromUs, +note.dataset.windowToUs];
  } catch (e) {
    out.error = String(e);
  }
  document.getElementById('result').textContent = JSON.stringify(out);
});
</script></body></html>
"#;

/// What the browser made of the page at `page`.
fn measure(browser: &Path, page: &Path) -> Value {
    let dir = page.parent().expect("a folder");
    let name = page.file_name().expect("a name").to_string_lossy();
    let harness = dir.join(format!("harness-{name}"));
    std::fs::write(&harness, HARNESS.replace("PAGE", &name)).expect("the harness");
    let dom = headless(
        browser,
        &[
            "--dump-dom".into(),
            "--allow-file-access-from-files".into(),
            "--virtual-time-budget=20000".into(),
        ],
        &format!("file://{}", harness.display()),
    );
    let start = dom
        .find("<pre id=\"result\">")
        .expect("the harness's result")
        + 17;
    let end = start + dom[start..].find("</pre>").expect("the result's end");
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("the harness said {json:?}: {e}"))
}

/// The messages the page's diagram draws: those sent in its window, at most the cap.
fn diagram_messages(recording: &Recording, window: (u64, u64)) -> Vec<Fate> {
    recording
        .messages
        .iter()
        .filter(|m| (window.0..=window.1).contains(&m.sent.time))
        .take(report::DIAGRAM_MESSAGES_MAX)
        .map(|m| m.fate)
        .collect()
}

/// Checks what the browser measured of one page against the run.
fn check_page(name: &str, options: &Options, outcome: &Outcome, checked: &Report, m: &Value) {
    assert!(m.get("error").is_none(), "{name}: the harness failed: {m}");
    assert_eq!(m["compatMode"], "CSS1Compat", "{name}: quirks mode");
    assert_eq!(
        m["resources"],
        serde_json::json!([]),
        "{name}: the page fetched something"
    );
    assert_eq!(
        m["sections"],
        serde_json::json!([
            "header",
            "summary",
            "anomalies",
            "latency",
            "rates",
            "lamport",
            "replay"
        ]),
        "{name}"
    );
    assert!(
        m["summaryText"]
            .as_str()
            .unwrap_or_default()
            .contains("replicator-sim run --seed"),
        "{name}: no summary"
    );
    let want = expected(&outcome.history);
    let figures = &m["figures"];
    for (figure, f) in figures.as_object().expect("figures") {
        assert_eq!(f["isSvg"], true, "{name}: {figure} is not an SVG");
        assert!(
            f["width"].as_f64() > Some(100.0) && f["height"].as_f64() > Some(100.0),
            "{name}: {figure} has no size: {f}"
        );
        let marks: u64 = f["marks"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(
            f["sized"].as_u64(),
            Some(marks),
            "{name}: {figure}: marks without a size"
        );
        assert_eq!(f["outside"], 0, "{name}: {figure}: marks outside the plot");
        if figure != "lamport" {
            // Every time chart shades every partition and every crash.
            let intervals = f["intervals"].as_array().unwrap();
            let of = |kind: &str| intervals.iter().filter(|i| i["kind"] == kind).count();
            assert_eq!(of("partition"), want.partitions, "{name}: {figure}");
            assert_eq!(of("crash"), want.crashes, "{name}: {figure}");
            assert!(intervals.iter().all(|i| i["width"].as_f64() >= Some(0.5)));
        }
    }
    // One point per completion, by kind and type.
    for f in ["send", "poll", "assign"] {
        let figure = &figures[format!("latency-{f}")];
        for ty in ["ok", "info", "fail"] {
            let got = figure["marks"][format!("op/{f}/{ty}")]
                .as_u64()
                .unwrap_or(0);
            let expected = want
                .completions
                .get(&(f.to_string(), ty.to_string()))
                .copied()
                .unwrap_or(0);
            assert_eq!(got, expected, "{name}: {f} {ty} points");
        }
        let completions: u64 = ["ok", "info", "fail"]
            .iter()
            .filter_map(|ty| want.completions.get(&(f.to_string(), ty.to_string())))
            .sum();
        assert_eq!(
            figures["rate-ops"]["sums"][f], completions,
            "{name}: {f} per second"
        );
    }
    assert_eq!(
        figures["rate-msgs"]["sums"]["client"], want.client_sends,
        "{name}"
    );
    assert_eq!(
        figures["rate-msgs"]["sums"]["server"], want.server_sends,
        "{name}"
    );
    // The diagram: an arrow per message of its window, each fate counted; every node a
    // lane.
    let recording = outcome.messages.as_ref().expect("recorded");
    let window = (
        m["window"][0].as_u64().expect("a window"),
        m["window"][1].as_u64().expect("a window"),
    );
    let fates = diagram_messages(recording, window);
    let lamport = &figures["lamport"];
    let arrows: u64 = lamport["arrows"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(arrows as usize, fates.len(), "{name}: arrows");
    assert_eq!(lamport["arrowsSized"].as_u64(), Some(arrows), "{name}");
    let delivered = fates
        .iter()
        .filter(|f| matches!(f, Fate::Delivered(_)))
        .count();
    assert_eq!(
        lamport["arrows"]["delivered"].as_u64().unwrap_or(0) as usize,
        delivered,
        "{name}"
    );
    let lanes: Vec<&str> = lamport["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for node in options.node_ids() {
        assert!(lanes.contains(&node.as_str()), "{name}: no lane for {node}");
    }
    // Anomalies: each one found, with every example kept.
    let listed: Vec<(String, u64, u64)> = m["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["cases"], a["kept"], "{name}: {a}");
            (
                a["name"].as_str().unwrap().to_string(),
                a["count"].as_u64().unwrap(),
                a["kept"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut found: Vec<(String, u64, u64)> = checked
        .anomaly_groups()
        .iter()
        .chain(checked.strict_groups())
        .map(|(n, g)| (n.to_string(), g.count as u64, g.cases.len() as u64))
        .collect();
    found.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, found, "{name}: anomalies");
}

#[test]
fn pages_render_in_a_real_browser_with_every_mark_of_the_run() {
    let Some(browser) = chromium() else {
        let required = std::env::var("REPLICATOR_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "REPLICATOR_REQUIRE_BROWSER=1 but no chromium is installed"
        );
        eprintln!(
            "SKIPPED pages_render_in_a_real_browser_with_every_mark_of_the_run: no chromium \
             (apt-get install -y chromium, or set REPLICATOR_CHROMIUM)"
        );
        return;
    };
    let dir = artefacts();
    for (name, options) in [("readme", readme_options()), ("failing", failing_options())] {
        let (outcome, checked, page) = run_with_page(&options);
        let path = dir.join(format!("{name}-{}", report::file_name(&options)));
        std::fs::write(&path, &page).expect("the page");
        let measured = measure(&browser, &path);
        // Kept beside the page: what the browser made of it.
        let json = serde_json::to_string_pretty(&measured).expect("JSON");
        std::fs::write(dir.join(format!("{name}-measured.json")), json).expect("written");
        check_page(name, &options, &outcome, &checked, &measured);
        if name == "failing" {
            // The default window shows the first anomaly's example, marked.
            assert!(
                measured["figures"]["lamport"]["exampleOps"].as_u64() >= Some(1),
                "{measured}"
            );
        } else {
            // The artefact a person looks at: the top of the README's page.
            let png = dir.join("readme-page.png");
            headless(
                &browser,
                &[
                    format!("--screenshot={}", png.display()),
                    "--window-size=1200,1900".into(),
                ],
                &format!("file://{}", path.display()),
            );
            let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
            assert!(
                size > 50_000,
                "the screenshot {} is {size} bytes",
                png.display()
            );
            eprintln!("screenshot: {}", png.display());
        }
    }
}
