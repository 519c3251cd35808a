//! Replicator's core: a pure, deterministic state machine that serves Maelstrom's `kafka`
//! workload.
//!
//! Messages and the current time go in through [`Node::step`]; messages to send and log
//! lines come out. The crate never reads a clock, spawns a thread, touches stdin, stdout,
//! files or the network, or draws OS randomness: randomness comes from [`Config::seed`]
//! only. `core/clippy.toml` bans those APIs outright. Every other crate drives this one:
//! `replicator-io` binds it to Maelstrom's stdio, `replicator-sim` to a virtual network.
//!
//! The protocol vocabulary lives in [`protocol`]: Maelstrom's envelope, the kafka RPCs,
//! error codes, and the decoder and encoder for JSON lines.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod cluster;
#[cfg(test)]
mod fuzz_tests;
mod ids;
mod log;
mod node;
mod offsets;
pub mod protocol;
mod rand;
mod small;
mod time;

#[cfg(test)]
mod tests;

pub use cluster::{Status, Timing};
pub use ids::{Key, LogIndex, MsgId, NodeId, Offset, Term};
pub use node::{Config, ConfigError, Input, Node, Output};
pub use protocol::{Body, ErrorCode, Malformed, Message, MsgRun, Payload};
pub use time::Timestamp;
