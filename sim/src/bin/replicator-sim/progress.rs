//! A sweep's progress on stderr. On a terminal: a bar with the seeds done, the failures
//! so far and an estimate of the time left (indicatif), which failing seeds' lines on
//! stdout do not tear. Into a file or a pipe (CI's log): a plain line every 10 s, so the
//! log stays readable, and a last one at the end.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the plain line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// The progress of one sweep.
pub struct Progress {
    /// The bar, on a terminal.
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    total: u64,
    done: u64,
    failed: u64,
}

impl Progress {
    /// Progress over `total` seeds: a bar when stderr is a terminal, plain lines if not.
    pub fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{bar:30} {pos}/{len} seeds, {msg}, {elapsed} so far, about {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message("0 failed");
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            started: now,
            last_line: now,
            total,
            done: 0,
            failed: 0,
        }
    }

    /// Counts one seed done.
    pub fn seed_done(&mut self, failed: bool) {
        self.done += 1;
        self.failed += u64::from(failed);
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{} failed", self.failed));
                bar.inc(1);
            }
            None => {
                if self.last_line.elapsed() >= PLAIN_EVERY || self.done == self.total {
                    self.last_line = Instant::now();
                    eprintln!(
                        "{}/{} seeds, {} failed, {:.1}s",
                        self.done,
                        self.total,
                        self.failed,
                        self.started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }

    /// Prints `text` on stdout; on a terminal, the bar steps aside for it.
    pub fn println(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{text}")),
            None => println!("{text}"),
        }
    }

    /// Prints `text` on stderr, likewise.
    pub fn eprintln(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// Ends the bar, leaving its last state on a line of its own.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
            eprintln!();
        }
    }
}
