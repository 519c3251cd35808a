//! What a run does differently in virtual time and in real time: how time passes (the
//! clock) and how servers are reached (the transport). Everything else, the workload, the
//! clients, the network, the services, the nemesis, the history, is the one `Sim` of this
//! module's parent, whichever [`Driver`] it holds.
//!
//! - [`InProcess`], virtual time: the clock is the event queue, and popping the earliest
//!   event moves time to it. Servers are [`Server`]s stepped in this process: what they
//!   write comes back from the step itself, and their timers are events.
//! - `crate::realtime::Processes`, real time: the clock is the wall clock. An event is
//!   handled when it is due, and until then the driver sleeps, unless a line arrives
//!   from a node process first. Servers are child processes speaking Maelstrom's JSON
//!   lines: what they write arrives as [`Wake::Line`], and they keep their own timers.
//!
//! Invariants (of every driver):
//! - `next` never moves the events' time backwards.
//! - A server that was killed says nothing more: no output of an earlier incarnation of
//!   server `i` reaches the run after `kill(i)`.

use crate::events::{Event, Events};
use crate::history::Micros;
use crate::net::Envelope;
use crate::realtime::Figures;
use crate::server::{Server, ServerFactory};
use replicator_core::{Body, Config, Input, Message, NodeId, Output, Status, Timestamp};

/// What the event loop does next.
pub(crate) enum Wake {
    /// An event is due; the events' time is at it.
    Event(Event),
    /// Server `i` wrote a line on its stdout: a message, or why it is not one, in
    /// Maelstrom's words (real time only).
    Line(usize, Result<Message, String>),
    /// Something that ends the run: a node process exited on its own or stopped reading
    /// its input (real time only).
    Fatal(String),
    /// Nothing can happen any more.
    Stalled,
    /// Someone asked the run to stop (Ctrl-C; real time only).
    Interrupted,
}

/// The clock and the transport of a run; see the module docs.
pub(crate) trait Driver {
    /// The clock: waits for the next thing to do, and moves `events`' time to it.
    fn next(&mut self, events: &mut Events) -> Wake;
    /// Starts a fresh server `i`: at the start of the run, and again after a crash.
    fn start(&mut self, i: usize, config: Config) -> Result<(), String>;
    /// Hands server `i` a message at `now`. Appends to `out` what the server answered
    /// at once (a server in another process answers later, through [`Driver::next`]).
    fn deliver(&mut self, i: usize, now: Micros, env: Envelope, out: &mut Vec<Output>);
    /// Wakes server `i` at its deadline; appends to `out` what it answered.
    fn tick(&mut self, i: usize, now: Micros, out: &mut Vec<Output>);
    /// When server `i` wants to be woken, if ever.
    fn next_deadline(&self, i: usize) -> Option<Timestamp>;
    /// Server `i`'s place in its cluster, where the driver can see it (in-process
    /// servers only).
    fn status(&self, i: usize) -> Option<Status> {
        let _ = i;
        None
    }
    /// Crashes server `i`: it loses everything, and says nothing more.
    fn kill(&mut self, i: usize);
    /// A server's message to a client as the client reads it off the wire, or why the
    /// client cannot (a malformed reply, spec: kafka.md 1.7).
    fn read_reply(&self, msg: Message) -> Result<Message, String>;
    /// The run is over: stops every server. Returns a failure if one had ended on its own
    /// before the end (spec: kafka.md 1.1 — Maelstrom's teardown check).
    fn finish(&mut self) -> Option<String>;
    /// The driver's own figures (real time only).
    fn figures(&mut self) -> Option<Figures>;
}

/// Virtual time, servers in this process.
pub(crate) struct InProcess<'a> {
    factory: &'a ServerFactory,
    /// `None` until started, and while crashed.
    servers: Vec<Option<Box<dyn Server>>>,
}

impl<'a> InProcess<'a> {
    pub(crate) fn new(factory: &'a ServerFactory, node_count: usize) -> InProcess<'a> {
        InProcess {
            factory,
            servers: (0..node_count).map(|_| None).collect(),
        }
    }

    fn step(&mut self, i: usize, now: Micros, input: Input, out: &mut Vec<Output>) {
        if let Some(server) = &mut self.servers[i] {
            server.step_into(Timestamp(now), input, out);
        }
    }
}

impl Driver for InProcess<'_> {
    fn next(&mut self, events: &mut Events) -> Wake {
        events.pop().map_or(Wake::Stalled, Wake::Event)
    }

    fn start(&mut self, i: usize, config: Config) -> Result<(), String> {
        self.servers[i] = Some((self.factory)(config));
        Ok(())
    }

    fn deliver(&mut self, i: usize, now: Micros, env: Envelope, out: &mut Vec<Output>) {
        self.step(i, now, Input::Message(env.msg), out);
    }

    fn tick(&mut self, i: usize, now: Micros, out: &mut Vec<Output>) {
        self.step(i, now, Input::Tick, out);
    }

    fn next_deadline(&self, i: usize) -> Option<Timestamp> {
        self.servers[i].as_ref().and_then(|s| s.next_deadline())
    }

    fn status(&self, i: usize) -> Option<Status> {
        self.servers[i].as_ref().and_then(|s| s.status())
    }

    fn kill(&mut self, i: usize) {
        self.servers[i] = None;
    }

    fn read_reply(&self, msg: Message) -> Result<Message, String> {
        wire_check(&msg.src, &msg.dest, &msg.body)?;
        Ok(msg)
    }

    fn finish(&mut self) -> Option<String> {
        None
    }

    fn figures(&mut self) -> Option<Figures> {
        None
    }
}

/// In debug and test builds, encodes a client reply and decodes it back, as Maelstrom
/// would see it on the wire: a reply that does not survive the trip is malformed (and a
/// real node's failing here means the codec is broken). A no-op in release builds.
fn wire_check(src: &NodeId, dest: &NodeId, body: &Body) -> Result<(), String> {
    if !cfg!(debug_assertions) {
        return Ok(());
    }
    if matches!(body, Body::Other { .. }) {
        // Raw bodies are judged by kind, by the client.
        return Ok(());
    }
    let msg = Message {
        src: src.clone(),
        dest: dest.clone(),
        body: body.clone(),
    };
    let mut line = Vec::new();
    msg.encode(&mut line);
    match replicator_core::protocol::decode(&line) {
        Ok(back) if back == msg => Ok(()),
        Ok(back) => Err(format!(
            "the wire form reads back differently: {:?}",
            back.body
        )),
        Err(bad) => Err(format!("the wire form does not decode: {bad}")),
    }
}
