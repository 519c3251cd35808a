//! The wall clock of a real-time run: the only place in the simulator that reads the
//! time of day.
//!
//! `sim/clippy.toml` bans `Instant::now` so that no clock leaks into a virtual-time run.
//! A real-time run needs one, to pace the workload and to stamp the lines node processes
//! write; this module is where it is read, and every other part of the driver asks it.
#![allow(clippy::disallowed_methods)]

use crate::history::Micros;
use std::time::{Duration, Instant};

/// Microseconds since the run started, read from a monotonic clock. Cheap to copy, so
/// every reader thread stamps lines with the same origin.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WallClock {
    start: Instant,
}

impl WallClock {
    /// A clock whose time 0 is now.
    pub(crate) fn start() -> WallClock {
        WallClock {
            start: Instant::now(),
        }
    }

    /// The run's time now.
    pub(crate) fn now(&self) -> Micros {
        self.start.elapsed().as_micros() as Micros
    }

    /// How long from now until the run's time `at`; zero if it has passed.
    pub(crate) fn until(&self, at: Micros) -> Duration {
        Duration::from_micros(at.saturating_sub(self.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward_from_zero() {
        let clock = WallClock::start();
        let a = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        let b = clock.now();
        assert!(a < 1_000_000 && b >= a + 2_000, "{a} then {b}");
        assert_eq!(clock.until(0), Duration::ZERO);
        assert!(clock.until(b + 10_000_000) > Duration::from_secs(9));
    }
}
