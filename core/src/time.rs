//! Time as core sees it: a number handed in by the caller, never read from a clock.

use std::fmt;

/// A point in time, in microseconds since an epoch the caller chooses.
///
/// `io` counts from process start with a monotonic clock; `sim` counts virtual time from
/// the start of a run. Core only compares timestamps and adds durations to them, so the
/// epoch never matters, and the same inputs at the same timestamps give the same outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Timestamp = Timestamp(0);

    /// Builds a timestamp from milliseconds.
    pub const fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms.saturating_mul(1_000))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// This timestamp moved `us` microseconds later, saturating at the end of time.
    pub const fn add_micros(self, us: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(us))
    }

    /// Microseconds from `earlier` to `self`, or 0 when `earlier` is later.
    pub const fn micros_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Renders as seconds with millisecond and microsecond digits: `12.345678s`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}
