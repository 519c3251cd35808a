//! The real-time driver: the same run as in virtual time, against real node processes
//! over Maelstrom's stdio protocol (spec: kafka.md 1), paced by the wall clock.
//!
//! [`Processes`] is the run's [`Driver`] (see `run::driver`): the workload, the clients,
//! the network model, the services, the nemesis and the history are the simulator's own,
//! unchanged. Only two things differ. The clock: an event is handled when it is due, and
//! until then the driver sleeps in `ppoll`, unless a node writes first. The transport: a
//! node is a child process; a message due for it is written to its stdin (with
//! Maelstrom's extra `id`), and what it writes on stdout comes back, parsed and stamped
//! with when it was read, as [`Wake::Line`]s.
//!
//! Everything happens on the driver's one thread but the reading of stderr: no lock and
//! no hand-over between threads on the way from a line read to a line written, and no
//! read or write ever blocks (see `process`).
//!
//! What the seed fixes and what it does not: every choice the driver makes (operations,
//! keys, latencies drawn, partitions, crashes) comes from the seed, in the same order as
//! in virtual time; when each process answers is the operating system's business, and so
//! is everything that follows from it.
//!
//! Invariants:
//! - Lines and events are handled in the order of their times (a line's time is when it
//!   was read), and the events' time never goes back.
//! - The driver never sleeps past an event's due time, nor while a node's output waits
//!   to be read.
//! - A line of a process that was killed is never handled: each start of a node is an
//!   incarnation, and lines of an older one are dropped.
//! - Every process started is killed and reaped before the driver is gone: at the end of
//!   the run, on Ctrl-C (`stop`), and on a panic (by `Drop`).

mod clock;
mod process;
mod wire;

use crate::events::Events;
use crate::history::Micros;
use crate::net::Envelope;
use crate::run::driver::{Driver, Wake};
use crate::stats::Latency;
use clock::WallClock;
use process::{FromNode, NodeIo, NodeProcess, Spawn};
use replicator_core::{Config, Message, Output, Timestamp};
use rustix::event::{PollFd, PollFlags, Timespec};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The longest the driver sleeps without looking at `stop`: how quickly Ctrl-C is
/// heard.
const SLEEP_MAX: Duration = Duration::from_millis(50);

/// What to run as the nodes.
#[derive(Clone, Debug)]
pub struct Command {
    /// The node binary.
    pub bin: PathBuf,
    /// Its arguments (spec: kafka.md 1.1).
    pub args: Vec<String>,
    /// The node ids, one process each.
    pub node_ids: Vec<String>,
    /// Where each node's stderr goes, as `<id>.log`; nowhere if `None`.
    pub log_dir: Option<PathBuf>,
}

/// How well the driver kept to the schedule: what it adds to a real Maelstrom's timing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Per message written to a node: from when it was due (its delivery time in the
    /// network model; for a line from another node, counted from when that line was
    /// read) until it was written whole to the node's stdin, in microseconds.
    pub write_delay: Latency,
    /// Per event (a delivery, an operation, a timeout, a nemesis action): from when it
    /// was due until the driver handled it, in microseconds.
    pub event_lateness: Latency,
    /// Lines read from the nodes' stdout.
    pub lines_read: u64,
}

/// The real-time [`Driver`]: node processes and the wall clock.
pub(crate) struct Processes {
    command: Command,
    clock: WallClock,
    nodes: Vec<Option<NodeProcess>>,
    /// Per node, which start is current; lines of older ones are dropped.
    incarnations: Vec<u64>,
    /// Lines read and not handled yet, in the order read.
    inbox: VecDeque<FromNode>,
    /// Scratch space for reads.
    chunk: Vec<u8>,
    stop: Option<Arc<AtomicBool>>,
    /// Whether some node's stdin has a backlog to retry.
    backlogged: bool,
    write_delays: Vec<u64>,
    event_lateness: Vec<u64>,
    lines_read: u64,
}

impl Processes {
    /// A driver for `command`'s nodes; none is started yet. `stop`, once set, ends the
    /// run as soon as the driver sees it.
    pub(crate) fn new(
        command: Command,
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<Processes, String> {
        if let Some(dir) = &command.log_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("could not create the log folder {}: {e}", dir.display()))?;
        }
        // Sleeps end up to the timer slack (50 µs by default) late; the driver's sleeps
        // are until a message is due, so make them as precise as the kernel can.
        #[cfg(target_os = "linux")]
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
        let n = command.node_ids.len();
        Ok(Processes {
            command,
            clock: WallClock::start(),
            nodes: (0..n).map(|_| None).collect(),
            incarnations: vec![0; n],
            inbox: VecDeque::new(),
            chunk: Vec::new(),
            stop,
            backlogged: false,
            write_delays: Vec::new(),
            event_lateness: Vec::new(),
            lines_read: 0,
        })
    }

    fn is_stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Retries every node's backlog; a node that has stopped reading ends the run.
    fn flush_backlogs(&mut self) -> Option<Wake> {
        let (clock, delays) = (self.clock, &mut self.write_delays);
        let mut on_written = |due: Micros| delays.push(clock.now().saturating_sub(due));
        self.backlogged = false;
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let Some(node) = node else { continue };
            self.backlogged |= node.flush(&mut on_written);
            if node.backlog_bytes() > process::BACKLOG_BYTES_MAX {
                return Some(Wake::Fatal(format!(
                    "{} stopped reading its stdin: more than {} MiB of messages wait for it",
                    self.command.node_ids[i],
                    process::BACKLOG_BYTES_MAX >> 20
                )));
            }
        }
        None
    }

    /// What a line from a node means to the run, if anything: lines of a process that
    /// was killed are dropped.
    fn accept(&mut self, from: FromNode) -> Option<Wake> {
        if from.incarnation != self.incarnations[from.node] {
            return None;
        }
        match from.io {
            NodeIo::Line(line) => {
                self.lines_read += 1;
                Some(Wake::Line(from.node, line))
            }
            NodeIo::Closed => {
                if self.is_stopped() {
                    // Ctrl-C reached the node too (it shares our terminal).
                    return Some(Wake::Interrupted);
                }
                let id = &self.command.node_ids[from.node];
                let node = self.nodes[from.node].as_mut()?;
                Some(Wake::Fatal(match node.exited_soon() {
                    Some(status) => node.crash_report(id, status),
                    None => format!(
                        "Node {id} closed its stdout but kept running; Maelstrom would \
                         never hear from it again"
                    ),
                }))
            }
        }
    }
}

impl Processes {
    /// Sleeps until a node writes, a full stdin has room again, or `timeout` passes, then
    /// reads what the nodes wrote into the inbox.
    fn wait(&mut self, timeout: Duration) {
        let mut fds = Vec::with_capacity(self.nodes.len());
        // Which node and which pipe each entry of `fds` is.
        let mut whose = Vec::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            if let Some(fd) = node.stdout_fd() {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                whose.push(i);
            }
            if let Some(fd) = node.backlogged_stdin_fd() {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::OUT));
                whose.push(i);
            }
        }
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        });
        // An error (EINTR from a signal) is a wake-up like any other.
        let ready = rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0);
        if ready == 0 {
            return;
        }
        let readable: Vec<usize> = fds
            .iter()
            .zip(&whose)
            .filter(|(fd, _)| {
                fd.revents()
                    .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
            })
            .map(|(_, &i)| i)
            .collect();
        drop(fds);
        let at = self.clock.now();
        for i in readable {
            if let Some(node) = &mut self.nodes[i] {
                node.read_stdout(at, &mut self.chunk, &mut self.inbox);
            }
        }
    }
}

impl Driver for Processes {
    fn next(&mut self, events: &mut Events) -> Wake {
        loop {
            if self.is_stopped() {
                return Wake::Interrupted;
            }
            if self.backlogged
                && let Some(fatal) = self.flush_backlogs()
            {
                return fatal;
            }
            if self.inbox.is_empty() {
                // Whatever the nodes wrote since the last look, before deciding what
                // comes first.
                self.wait(Duration::ZERO);
            }
            let due = events.peek_time();
            // The earliest first: a line read before an event was due goes before it.
            if let Some(at) = self.inbox.front().map(|l| l.at)
                && due.is_none_or(|t| t > at)
            {
                let from = self.inbox.pop_front().expect("a line");
                events.catch_up(from.at);
                if let Some(wake) = self.accept(from) {
                    return wake;
                }
                continue;
            }
            let Some(due) = due else {
                // As in virtual time: with nothing scheduled, no operation is in flight
                // and no phase can end, so nothing a node says could move the run on.
                return Wake::Stalled;
            };
            let now = self.clock.now();
            if due <= now {
                self.event_lateness.push(now - due);
                let event = events.pop_due().expect("an event is due");
                return Wake::Event(event);
            }
            self.wait(self.clock.until(due).min(SLEEP_MAX));
        }
    }

    fn start(&mut self, i: usize, _config: Config) -> Result<(), String> {
        // A node process takes its own configuration from its argv; the config the run
        // drew for it (its seed) only keeps the run's draws in step with virtual time.
        self.kill(i);
        let id = &self.command.node_ids[i];
        let process = NodeProcess::spawn(Spawn {
            bin: &self.command.bin,
            args: &self.command.args,
            id,
            node: i,
            incarnation: self.incarnations[i],
            log: self
                .command
                .log_dir
                .as_ref()
                .map(|dir| dir.join(format!("{id}.log"))),
        })?;
        self.nodes[i] = Some(process);
        Ok(())
    }

    fn deliver(&mut self, i: usize, _now: Micros, env: Envelope, _out: &mut Vec<Output>) {
        let Some(node) = &mut self.nodes[i] else {
            return;
        };
        let mut line = Vec::with_capacity(128);
        wire::encode_for_node(env.id, &env.msg, &mut line);
        let (clock, delays) = (self.clock, &mut self.write_delays);
        let mut on_written = |due: Micros| delays.push(clock.now().saturating_sub(due));
        node.send(line, env.deadline, &mut on_written);
        self.backlogged |= node.backlog_bytes() > 0;
    }

    fn tick(&mut self, _i: usize, _now: Micros, _out: &mut Vec<Output>) {}

    fn next_deadline(&self, _i: usize) -> Option<Timestamp> {
        // A process keeps its own timers.
        None
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            node.kill();
        }
        // Whatever the old process wrote and is still on its way is dropped.
        self.incarnations[i] += 1;
    }

    fn read_reply(&self, msg: Message) -> Result<Message, String> {
        wire::read_reply(msg)
    }

    fn finish(&mut self) -> Option<String> {
        let mut failure = None;
        for (i, slot) in self.nodes.iter_mut().enumerate() {
            let Some(node) = slot else { continue };
            if failure.is_none()
                && let Some(status) = node.exited()
            {
                failure = Some(node.crash_report(&self.command.node_ids[i], status));
            }
            node.kill();
        }
        failure
    }

    fn figures(&mut self) -> Option<Figures> {
        Some(Figures {
            write_delay: Latency::of(std::mem::take(&mut self.write_delays)),
            event_lateness: Latency::of(std::mem::take(&mut self.event_lateness)),
            lines_read: self.lines_read,
        })
    }
}

#[cfg(test)]
mod tests;
