//! The kafka checker: Jepsen's anomalies over a [`History`], and our stricter checks.
//!
//! Contract with the runner and the CLI (the checker branch fills in the body):
//! - [`check`] takes the finished history and returns a [`Report`];
//! - [`Report::is_valid`] is the Maelstrom-equivalent verdict (spec: kafka.md 4.4);
//! - [`Report::is_strict_valid`] adds our own checks, reported apart;
//! - `Display` renders the Maelstrom-like summary, ending in "Everything looks good!"
//!   or the anomalies with their first examples;
//! - [`Report::to_json`] renders the same for `--json`.

use crate::history::History;
use std::fmt;

/// The verdict on one history. (Placeholder until the checker lands.)
#[derive(Clone, Debug, Default)]
pub struct Report {}

/// Checks a finished history.
pub fn check(_history: &History) -> Report {
    Report {}
}

impl Report {
    /// The Maelstrom-equivalent verdict.
    pub fn is_valid(&self) -> bool {
        true
    }

    /// The verdict with our stricter checks added.
    pub fn is_strict_valid(&self) -> bool {
        true
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Everything looks good!")
    }
}
