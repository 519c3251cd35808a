//! What the simulator drives: anything with the Node's step/next_deadline contract.
//!
//! The real [`Node`] is one; the test suite's deliberately buggy nodes are others, which is
//! how the checker is proven (spec: kafka.md 8.4).

use replicator_core::{Config, Input, Node, Output, Status, Timestamp};

/// A server under test: the call contract of [`Node`] (see its docs).
pub trait Server {
    /// Handles one input at `now`.
    fn step(&mut self, now: Timestamp, input: Input) -> Vec<Output>;
    /// [`Server::step`] into a buffer the simulator reuses: appends what the server does
    /// about `input` to `out`. A fresh `Vec` per step was one allocation and a few
    /// reallocations per delivered message, a tenth of a 5-node run's time; a server
    /// that only has `step` gets this for free.
    fn step_into(&mut self, now: Timestamp, input: Input, out: &mut Vec<Output>) {
        out.append(&mut self.step(now, input));
    }
    /// The earliest time the server wants an [`Input::Tick`].
    fn next_deadline(&self) -> Option<Timestamp>;
    /// The server's place in its cluster, if it says: the simulator records when a
    /// restarted node has joined again. Test doubles need not say.
    fn status(&self) -> Option<Status> {
        None
    }
}

impl Server for Node {
    fn step(&mut self, now: Timestamp, input: Input) -> Vec<Output> {
        Node::step(self, now, input)
    }

    fn step_into(&mut self, now: Timestamp, input: Input, out: &mut Vec<Output>) {
        Node::step_into(self, now, input, out);
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        Node::next_deadline(self)
    }

    fn status(&self) -> Option<Status> {
        Node::status(self)
    }
}

/// Builds a fresh server from a config: at the start of a run, and again after a
/// simulated crash (which loses all state).
pub type ServerFactory = Box<dyn Fn(Config) -> Box<dyn Server>>;

/// The factory for the real node.
pub fn real_node() -> ServerFactory {
    Box::new(|config| Box::new(Node::new(config).expect("the simulator builds valid configs")))
}
