//! What the command shows of a run: the terminal summary, its JSON form and the replay
//! command (`summary`), and the report page (`--report`): one self-contained HTML file
//! with SVG figures, which opens from disk and fetches nothing.
//!
//! The page, one module per part:
//! - `series`: what the figures plot, computed from the history and the message record
//!   (latency points, nemesis intervals, rates per time bucket);
//! - `charts`: latency against time per kind of operation, and operations and messages
//!   per second, on plotters' SVG backend (scales, ticks, grid, labels), with the marks
//!   drawn by us so that each carries data attributes a test can count;
//! - `lamport`: the Lamport diagram of a window of the run, hand-written SVG;
//! - `page`: the page itself, with the summary, the anomalies and the replay command.
//!
//! Like the summary, a page is a pure function of the run: the same seed and options give
//! the same bytes (a real-time run's page is as reproducible as the run). Every mark a
//! test may count carries `data-` attributes: tests pin the page's structure and count
//! its marks against the run, rather than compare pixels or SVG bytes.

mod charts;
mod lamport;
mod page;
mod series;
mod summary;
mod svg;

pub use lamport::{DIAGRAM_MESSAGES_MAX, Window};
pub use page::{file_name, page};
pub use summary::{
    QUORUM_WINDOW_DELAYS, QUORUM_WINDOW_MIN_US, Verdict, Wall, fatal_violations, invocations,
    is_valid, main_phase_ops, quorum_window_us, realtime_line, replay_command, summary, to_json,
    verdict, wall_line, why,
};
