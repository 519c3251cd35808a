//! The event queue: virtual time advances only by popping the earliest event.
//!
//! In a real-time run (`crate::realtime`) the same queue holds the same events, and the
//! wall clock moves its time instead: it pops an event once the event is due
//! ([`Events::pop_due`]), and moves the time to a node's line as it arrives
//! ([`Events::catch_up`]).
//!
//! Invariants:
//! - Events pop in `(time, seq)` order; `seq` is a counter, so two events at the same
//!   instant pop in the order they were scheduled, and the order never depends on
//!   anything but the run's own choices.
//! - Time never goes back: an event scheduled in the past is clamped to the present. In
//!   real time an event may be popped after its time (the clock ran past it while the
//!   driver was busy); the time then stays where it was.

use crate::history::Micros;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// What happens at an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// The message a receiver holds has reached its delivery deadline.
    Deliver(crate::net::Addr),
    /// A node asked to be woken (its `next_deadline`).
    NodeTimer(usize),
    /// A thread's RPC timer: its request in flight may have waited its full timeout.
    /// One timer per thread at most is pending, re-armed lazily, so that the queue does
    /// not fill with the timeouts of requests long answered.
    RpcTimeout(usize),
    /// The init handshake's deadline.
    InitTimeout,
    /// The main phase's rate limiter lets the next operation go.
    IssueOp,
    /// The crash generator's next crash operation is due.
    IssueCrash,
    /// The nemesis acts.
    Nemesis,
    /// The node-crash extension acts.
    NodeCrash,
    /// A crashed node comes back.
    NodeRestart(usize),
    /// The main phase's time limit.
    MainEnd,
    /// The 10 s of quiet after the heal are over.
    FinalStart,
    /// A final-phase thread may issue its next poll.
    FinalPoll(usize),
    /// The final phase's 10 s cut-off.
    FinalCutoff,
}

/// `time` in the high 64 bits and `seq` in the low: one integer that orders as the pair
/// does, so that a heap ordered by it sifts with one branch-free comparison per step.
/// The network's inboxes order their messages the same way.
pub(crate) fn order_key(time: Micros, seq: u64) -> u128 {
    (u128::from(time) << 64) | u128::from(seq)
}

struct Scheduled {
    /// [`order_key`] of the event's time and scheduling order (the queue's pops were a
    /// twentieth of a 5-node run's time before it).
    key: u128,
    event: Event,
}

impl Scheduled {
    fn time(&self) -> Micros {
        (self.key >> 64) as Micros
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so that the max-heap pops the earliest event.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// The queue of future events.
#[derive(Default)]
pub(crate) struct Events {
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    now: Micros,
}

impl Events {
    /// The current virtual time.
    pub(crate) fn now(&self) -> Micros {
        self.now
    }

    /// Schedules `event` at `time` (or now, if `time` has passed).
    pub(crate) fn at(&mut self, time: Micros, event: Event) {
        let time = time.max(self.now);
        self.seq += 1;
        self.heap.push(Scheduled {
            key: order_key(time, self.seq),
            event,
        });
    }

    /// Schedules `event` `delay` microseconds from now.
    pub(crate) fn after(&mut self, delay: Micros, event: Event) {
        self.at(self.now.saturating_add(delay), event);
    }

    /// When the earliest event is due, if any.
    pub(crate) fn peek_time(&self) -> Option<Micros> {
        self.heap.peek().map(Scheduled::time)
    }

    /// Moves the clock to `time` with nothing happening; only for tests that drive the
    /// queue by hand, and only over a stretch with no event due.
    #[cfg(test)]
    pub(crate) fn advance_to(&mut self, time: Micros) {
        assert!(
            self.peek_time().is_none_or(|t| t >= time),
            "an event would be skipped"
        );
        self.now = self.now.max(time);
    }

    /// Real time: moves the clock forward to `time` (a node's line arrived then), or
    /// leaves it where it is if it is already past.
    pub(crate) fn catch_up(&mut self, time: Micros) {
        self.now = self.now.max(time);
    }

    /// Real time: pops the earliest event, which is due, and moves the clock to its time
    /// unless the clock is already past it.
    pub(crate) fn pop_due(&mut self) -> Option<Event> {
        let next = self.heap.pop()?;
        self.now = self.now.max(next.time());
        Some(next.event)
    }

    /// Pops the earliest event and moves the clock to it.
    pub(crate) fn pop(&mut self) -> Option<Event> {
        let next = self.heap.pop()?;
        debug_assert!(
            next.time() >= self.now,
            "an event was scheduled in the past"
        );
        self.now = next.time();
        Some(next.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_pop_by_time_then_by_scheduling_order() {
        let mut events = Events::default();
        events.at(5, Event::IssueOp);
        events.at(3, Event::MainEnd);
        events.at(5, Event::IssueCrash);
        events.at(3, Event::Nemesis);
        let order: Vec<(Micros, Event)> = std::iter::from_fn(|| {
            let e = events.pop()?;
            Some((events.now(), e))
        })
        .collect();
        assert_eq!(
            order,
            vec![
                (3, Event::MainEnd),
                (3, Event::Nemesis),
                (5, Event::IssueOp),
                (5, Event::IssueCrash)
            ]
        );
    }

    #[test]
    fn real_time_pops_late_events_without_going_back() {
        let mut events = Events::default();
        events.at(5, Event::IssueOp);
        events.at(9, Event::MainEnd);
        // A line read at 7 moves the clock there; the event due at 5 is then late.
        events.catch_up(7);
        assert_eq!(events.pop_due(), Some(Event::IssueOp));
        assert_eq!(events.now(), 7);
        events.catch_up(3);
        assert_eq!(events.now(), 7);
        assert_eq!(events.pop_due(), Some(Event::MainEnd));
        assert_eq!(events.now(), 9);
        assert_eq!(events.pop_due(), None);
    }

    #[test]
    fn the_past_is_clamped_to_now() {
        let mut events = Events::default();
        events.at(10, Event::IssueOp);
        events.pop();
        events.at(2, Event::MainEnd);
        events.pop();
        assert_eq!(events.now(), 10);
    }
}
