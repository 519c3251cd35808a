//! Replicator's deterministic simulator: Maelstrom's kafka test in virtual time.
//!
//! One seed fixes every choice. Never reads a clock, never uses OS randomness or
//! `HashMap` iteration order: the same seed and options give the same bytes.
//!
//! The entry point is [`run::run`]: options and a server factory in, an
//! [`run::Outcome`] (history, trace, run facts) out; [`checker::check`] judges the
//! history. Modules, one concept each: [`rng`] (seeded streams), `events` (the
//! `(time, seq)` queue), [`net`] (latency, inboxes, partitions), [`nemesis`] (partition
//! shapes), [`services`] (lin-kv, seq-kv, lww-kv, lin-tso), `workload` (the generator),
//! `client` (Maelstrom's kafka client), [`trace`] (readable lines), [`options`] (flags
//! and swarm draws), [`report`] (the summary and sweeps).

#![forbid(unsafe_code)]

pub mod checker;
mod client;
mod events;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod options;
pub mod report;
pub mod rng;
pub mod run;
pub mod server;
pub mod services;
pub mod trace;
mod workload;
