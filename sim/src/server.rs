//! What the simulator drives: anything with the Node's step/next_deadline contract.
//!
//! The real [`Node`] is one; the test suite's deliberately buggy nodes are others, which is
//! how the checker is proven (spec: kafka.md 8.4).

use replicator_core::{Config, Input, Node, Output, Timestamp};

/// A server under test: the call contract of [`Node`] (see its docs).
pub trait Server {
    /// Handles one input at `now`.
    fn step(&mut self, now: Timestamp, input: Input) -> Vec<Output>;
    /// The earliest time the server wants an [`Input::Tick`].
    fn next_deadline(&self) -> Option<Timestamp>;
}

impl Server for Node {
    fn step(&mut self, now: Timestamp, input: Input) -> Vec<Output> {
        Node::step(self, now, input)
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        Node::next_deadline(self)
    }
}

/// Builds a fresh server from a config: at the start of a run, and again after a
/// simulated crash (which loses all state).
pub type ServerFactory = Box<dyn Fn(Config) -> Box<dyn Server>>;

/// The factory for the real node.
pub fn real_node() -> ServerFactory {
    Box::new(|config| Box::new(Node::new(config).expect("the simulator builds valid configs")))
}
