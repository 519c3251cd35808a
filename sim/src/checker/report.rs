//! The checker's verdict: anomalies condensed as Maelstrom condenses them (spec: kafka.md
//! 4.6), the validity rules, and the text and JSON renderings.

use super::cases::{Case, names};
use super::committed::CommitStaleness;
use super::lag::WorstLag;
use crate::stats::Stats;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::fmt;

/// The examples kept for one error type, and how many there were.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    /// How many cases were found, before truncation.
    pub count: usize,
    /// The cases kept, in Jepsen's order.
    pub cases: Vec<Case>,
}

/// spec: kafka.md 4.6 — Jepsen's `condense-error`: skips keep the 8 largest deltas,
/// nonmonotonics the 8 smallest, `duplicate` and `inconsistent-offsets` the 32 smallest
/// counts, cycles the 8 shortest; everything else is kept whole. Sorts are stable.
pub(crate) fn condense(name: &str, mut cases: Vec<Case>) -> Group {
    let count = cases.len();
    cases.sort_by_key(Case::sort_key);
    let keep_last = |cases: Vec<Case>, n: usize| {
        let skip = cases.len().saturating_sub(n);
        cases.into_iter().skip(skip).collect()
    };
    let cases = match name {
        names::DUPLICATE | names::INCONSISTENT_OFFSETS => cases.into_iter().take(32).collect(),
        names::G1C_REALTIME
        | names::INT_NONMONOTONIC_POLL
        | names::INT_NONMONOTONIC_SEND
        | names::NONMONOTONIC_POLL
        | names::NONMONOTONIC_SEND => cases.into_iter().take(8).collect(),
        names::INT_POLL_SKIP | names::INT_SEND_SKIP | names::POLL_SKIP => keep_last(cases, 8),
        // Our strict checks can fire on every op of a broken node; 32 examples suffice.
        names::COMMITTED_OFFSET_REGRESSION
        | names::LISTED_OFFSET_NEVER_COMMITTED
        | names::VANISHED_MESSAGE
        | names::PAYLOAD_CHANGED
        | names::POLL_STARTS_PAST_MESSAGE
        | names::POLL_BELOW_REQUESTED
        | names::MALFORMED_REPLY
        | names::MALFORMED_ENVELOPE
        | names::UNKNOWN_DESTINATION
        | names::REPLY_TO_NOBODY => cases.into_iter().take(32).collect(),
        _ => cases,
    };
    Group { count, cases }
}

/// The verdict on one history.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Jepsen's error types, plus `phantom-value`, by name.
    pub(crate) anomalies: BTreeMap<&'static str, Group>,
    /// Our stricter checks, by name.
    pub(crate) strict: BTreeMap<&'static str, Group>,
    /// The worst realtime lag (informational).
    pub worst_realtime_lag: WorstLag,
    /// The distinct errors of `Info` sends and polls, in history order.
    pub info_txn_causes: Vec<String>,
    /// How far nodes' listed committed offsets trail other nodes' (informational).
    pub commit_staleness: CommitStaleness,
    /// Counts, latencies, availability and message statistics.
    pub stats: Stats,
    /// Why the real Maelstrom checker would have crashed into `:unknown` on this history.
    pub(crate) maelstrom_unknown: Vec<String>,
}

impl Report {
    /// The Maelstrom-equivalent verdict (spec: kafka.md 4.4 and 4.6): no anomaly outside
    /// the allowed set, and `:stats` valid. `phantom-value` counts as invalid: Maelstrom
    /// reports such a history `:unknown`, which is not a pass either.
    pub fn is_valid(&self) -> bool {
        self.bad_error_types().is_empty() && self.stats.is_valid()
    }

    /// The verdict with our stricter checks added.
    pub fn is_strict_valid(&self) -> bool {
        self.is_valid() && self.strict.is_empty()
    }

    /// The anomaly names found by the Maelstrom-equivalent checker (and `phantom-value`),
    /// sorted: exactly Jepsen's names, e.g. `lost-write`, `G1c-realtime`.
    pub fn anomaly_names(&self) -> Vec<&'static str> {
        self.anomalies.keys().copied().collect()
    }

    /// The names that invalidate the Maelstrom verdict (Jepsen's `:bad-error-types`).
    pub fn bad_error_types(&self) -> Vec<&'static str> {
        self.anomalies
            .keys()
            .copied()
            .filter(|n| !names::ALLOWED.contains(n))
            .collect()
    }

    /// The names our stricter checks found, sorted.
    pub fn strict_names(&self) -> Vec<&'static str> {
        self.strict.keys().copied().collect()
    }

    /// Jepsen's anomalies (and `phantom-value`) by name, each with its kept examples.
    pub fn anomaly_groups(&self) -> &BTreeMap<&'static str, Group> {
        &self.anomalies
    }

    /// Our stricter checks' findings by name, each with its kept examples.
    pub fn strict_groups(&self) -> &BTreeMap<&'static str, Group> {
        &self.strict
    }

    /// The kept examples of one anomaly or strict check (empty if none was found).
    pub fn cases(&self, name: &str) -> &[Case] {
        self.anomalies
            .get(name)
            .or_else(|| self.strict.get(name))
            .map_or(&[], |g| g.cases.as_slice())
    }

    /// How many cases of one anomaly or strict check were found, before truncation.
    pub fn count(&self, name: &str) -> usize {
        self.anomalies
            .get(name)
            .or_else(|| self.strict.get(name))
            .map_or(0, |g| g.count)
    }

    /// Reasons the real Maelstrom checker would have thrown on this history and reported
    /// `:unknown` (a phantom value, a key only ever polled as `[]`).
    pub fn maelstrom_unknown(&self) -> &[String] {
        &self.maelstrom_unknown
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Json {
        let groups = |m: &BTreeMap<&'static str, Group>| {
            let map: serde_json::Map<String, Json> = m
                .iter()
                .map(|(name, g)| {
                    let errs: Vec<Json> = g.cases.iter().map(Case::to_json).collect();
                    let value = if *name == names::UNSEEN || *name == names::EMPTY_TRANSACTION_GRAPH
                    {
                        // Jepsen reports these two bare, not as `{:count :errs}`.
                        errs.into_iter().next().unwrap_or(Json::Null)
                    } else {
                        json!({"count": g.count, "errs": errs})
                    };
                    (name.to_string(), value)
                })
                .collect();
            Json::Object(map)
        };
        let lag = &self.worst_realtime_lag;
        let staleness = &self.commit_staleness;
        let mut out = json!({
            // Each verdict says what it is about: `valid?` is Maelstrom's (the kafka
            // checker and `:stats`, as results.edn's `:valid?`); `workload.valid?` the
            // kafka checker's alone; `strict.passed?` our stricter checks' alone; and
            // `valid-with-strict?` Maelstrom's and ours together.
            "valid?": self.is_valid(),
            "valid-with-strict?": self.is_strict_valid(),
            "workload": {
                "valid?": self.bad_error_types().is_empty(),
                "error-types": self.anomaly_names(),
                "bad-error-types": self.bad_error_types(),
                "info-txn-causes": self.info_txn_causes,
                "worst-realtime-lag": {
                    "time_us": lag.time, "process": lag.process,
                    "key": lag.key.as_ref().map(|k| k.as_str()), "lag_us": lag.lag,
                },
                "errors": groups(&self.anomalies),
                "maelstrom-unknown": self.maelstrom_unknown,
            },
            "strict": {
                "passed?": self.strict.is_empty(),
                "error-types": self.strict_names(),
                "errors": groups(&self.strict),
                "commit-staleness": {
                    "listed": staleness.listed,
                    "stale": staleness.stale,
                    "worst-deficit": staleness.worst_deficit,
                    "worst": staleness.worst.as_ref().map(|(node, key, op)| json!({
                        "node": node.as_str(), "key": key.as_str(), "op": op.to_json(),
                    })),
                },
            },
        });
        // The statistics sit beside the workload verdict, as `:stats`, `:availability`
        // and `:net` do in `results.edn`.
        if let (Some(out), Json::Object(stats)) = (out.as_object_mut(), self.stats.to_json()) {
            out.extend(stats);
        }
        out
    }
}

/// How many examples of each type the text report shows.
const SHOWN: usize = 3;

/// Writes one section of anomalies with their first examples.
fn write_groups(f: &mut fmt::Formatter<'_>, groups: &BTreeMap<&'static str, Group>) -> fmt::Result {
    for (name, g) in groups {
        writeln!(f, "  {name}: {} case(s)", g.count)?;
        for case in g.cases.iter().take(SHOWN) {
            writeln!(f, "    {case}")?;
        }
        if let Some(rest) = g.rest_line(SHOWN) {
            writeln!(f, "    … {rest}")?;
        }
    }
    Ok(())
}

impl Group {
    /// What a listing that shows the first `shown` cases leaves out, in numbers that add
    /// up to [`Group::count`]: the cases kept (in `--json` and the report page) and those
    /// not kept at all, since Jepsen keeps only so many examples of some kinds (see
    /// [`condense`]). `None` when the listing shows every case.
    pub fn rest_line(&self, shown: usize) -> Option<String> {
        let shown = shown.min(self.cases.len());
        let more_kept = self.cases.len() - shown;
        let not_kept = self.count.saturating_sub(self.cases.len());
        let kept = self.cases.len();
        match (more_kept, not_kept) {
            (0, 0) => None,
            (more, 0) => Some(format!("{more} more kept in --json")),
            (0, not) => Some(format!(
                "{not} more not kept (Jepsen keeps {kept} examples of this kind)"
            )),
            (more, not) => Some(format!(
                "{more} more kept in --json, {not} more not kept (Jepsen keeps {kept} \
                 examples of this kind)"
            )),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.stats)?;
        let lag = &self.worst_realtime_lag;
        writeln!(
            f,
            "worst realtime lag: {:.3} s (process {}, key {}, at {:.3} s)",
            lag.lag as f64 / 1e6,
            lag.process,
            lag.key.as_ref().map_or("-", |k| k.as_str()),
            lag.time as f64 / 1e6
        )?;
        if !self.info_txn_causes.is_empty() {
            writeln!(f, "info causes: {}", self.info_txn_causes.join(", "))?;
        }
        let s = &self.commit_staleness;
        writeln!(
            f,
            "committed-offset staleness across nodes: {} of {} listed keys behind another \
             node, worst by {} offset(s)",
            s.stale, s.listed, s.worst_deficit
        )?;
        for reason in &self.maelstrom_unknown {
            writeln!(
                f,
                "note: Maelstrom's own checker would report :unknown: {reason}"
            )?;
        }
        if !self.stats.is_valid() {
            writeln!(
                f,
                "\n:stats invalid: no :ok completion for {}",
                self.stats.invalid_fs().join(", ")
            )?;
        }
        if !self.strict.is_empty() {
            writeln!(
                f,
                "\nstricter checks (not part of Maelstrom's verdict) failed:"
            )?;
            write_groups(f, &self.strict)?;
        }
        if !self.anomalies.is_empty() {
            let verdict = if self.bad_error_types().is_empty() {
                "allowed"
            } else {
                "invalid"
            };
            writeln!(f, "\nanomalies ({verdict} under Maelstrom's rule):")?;
            write_groups(f, &self.anomalies)?;
        }
        if self.is_strict_valid() {
            f.write_str("\nEverything looks good!")
        } else if self.is_valid() {
            f.write_str("\nMaelstrom's verdict: valid. Our stricter checks: FAILED.")
        } else {
            f.write_str("\nAnalysis invalid!")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Val;
    use replicator_core::Key;

    fn order(name: &'static str, delta: i64) -> Case {
        Case::Order {
            name,
            key: Key::new("k"),
            values: Some([Val::Int(0), Val::Int(1)]),
            delta,
            skipped: None,
            ops: Vec::new(),
        }
    }

    #[test]
    fn condense_keeps_jepsens_examples() {
        // Skips keep the 8 largest deltas, in ascending order.
        let skips = (2..=11).rev().map(|d| order(names::POLL_SKIP, d)).collect();
        let g = condense(names::POLL_SKIP, skips);
        let kept: Vec<i64> = g.cases.iter().map(Case::sort_key).collect();
        assert_eq!((g.count, kept), (10, (4..=11).collect()));
        // Nonmonotonic steps keep the 8 smallest.
        let back = (-9..=0)
            .map(|d| order(names::NONMONOTONIC_POLL, d))
            .collect();
        let g = condense(names::NONMONOTONIC_POLL, back);
        let kept: Vec<i64> = g.cases.iter().map(Case::sort_key).collect();
        assert_eq!((g.count, kept), (10, (-9..=-2).collect()));
        // Lost writes are kept whole.
        let lost: Vec<Case> = (0..40).map(|d| order(names::LOST_WRITE, d)).collect();
        assert_eq!(condense(names::LOST_WRITE, lost).cases.len(), 40);
    }

    #[test]
    fn the_counts_of_shown_kept_and_dropped_cases_add_up() {
        // 43 duplicates: Jepsen keeps 32; the text shows 3 of those.
        let cases = (0..43)
            .map(|i| Case::Duplicate {
                key: Key::new("k"),
                value: Val::Int(i),
                count: 2,
                offsets: vec![0, 1],
            })
            .collect();
        let g = condense(names::DUPLICATE, cases);
        let line = g.rest_line(SHOWN).unwrap();
        assert_eq!(
            line,
            "29 more kept in --json, 11 more not kept (Jepsen keeps 32 examples of this kind)"
        );
        let numbers: Vec<usize> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(SHOWN + numbers[0] + numbers[1], g.count);
        assert_eq!(numbers[2], g.cases.len());
        // Kept whole, or all shown: the line says only what is true.
        let few = condense(names::LOST_WRITE, vec![order(names::LOST_WRITE, 0); 5]);
        assert_eq!(few.rest_line(SHOWN).unwrap(), "2 more kept in --json");
        assert_eq!(few.rest_line(5), None);
    }

    #[test]
    fn the_json_says_which_verdict_is_which() {
        let mut report = Report::default();
        report.anomalies.insert(
            names::LOST_WRITE,
            condense(names::LOST_WRITE, vec![order(names::LOST_WRITE, 0)]),
        );
        let json = report.to_json();
        // Maelstrom's verdict fails; our stricter checks found nothing; together they fail.
        assert_eq!(json["valid?"], false);
        assert_eq!(json["workload"]["valid?"], false);
        assert_eq!(json["strict"]["passed?"], true);
        assert_eq!(json["valid-with-strict?"], false);
        assert!(json.get("strict-valid?").is_none() && json["strict"].get("valid?").is_none());
    }

    #[test]
    fn int_send_skip_is_allowed_and_stats_can_invalidate() {
        let mut report = Report::default();
        report.anomalies.insert(
            names::INT_SEND_SKIP,
            condense(names::INT_SEND_SKIP, vec![order(names::INT_SEND_SKIP, 2)]),
        );
        assert_eq!(report.anomaly_names(), [names::INT_SEND_SKIP]);
        assert!(report.bad_error_types().is_empty());
        assert!(report.is_valid());
        report.anomalies.insert(
            names::LOST_WRITE,
            condense(names::LOST_WRITE, vec![order(names::LOST_WRITE, 0)]),
        );
        assert_eq!(report.bad_error_types(), [names::LOST_WRITE]);
        assert!(!report.is_valid());
    }
}
