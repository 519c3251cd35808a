//! Replicator's deterministic simulator: Maelstrom's kafka test in virtual time.
//!
//! One seed fixes every choice. Never reads a clock, never uses OS randomness or
//! `HashMap` iteration order: the same seed and options give the same bytes.
//!
//! The entry point is [`run::run`]: options and a server factory in, an
//! [`run::Outcome`] (history, trace, run facts) out; [`checker::check`] judges the
//! history. [`run::run_processes`] runs the same test in real time against any Maelstrom
//! node binary, one process per node ([`realtime`]); that mode alone reads a clock, and
//! its outcome is not reproducible byte for byte (the operating system schedules the
//! processes). Modules, one concept each: [`rng`] (seeded streams), `events` (the
//! `(time, seq)` queue), [`net`] (latency, inboxes, partitions), [`nemesis`] (partition
//! shapes), [`services`] (lin-kv, seq-kv, lww-kv, lin-tso), `workload` (the generator),
//! `client` (Maelstrom's kafka client), [`payloads`] (what messages carry), [`trace`]
//! (readable lines), [`messages`] (the record of every message, for reports),
//! [`options`] (a run's options and swarm draws), [`cli`] (the command line that sets
//! them), [`report`] (the summary, the JSON and the report page), [`stats`] (run
//! statistics).
//!
//! # The command
//! ```text
//! cargo run --release -p replicator-sim -- run --node-count 1 --concurrency 2n \
//!     --time-limit 20 --rate 1000 [--seed N] [--trace] [--json]
//! cargo run --release -p replicator-sim -- sweep --seeds 0..1000 --swarm --node-count 1
//! cargo run --release -p replicator-sim -- run --bin PATH --node-count 2 [...] [-- ARGS]
//! cargo run --release -p replicator-sim -- run --seed 3 --node-count 3 --report DIR
//! ```
//! `run` prints a Maelstrom-like summary (or JSON) and exits 0 when the run is valid, 1
//! when not; `sweep` prints every failing seed with the one command that replays it.
//! `--help` lists every flag, Maelstrom's and our extensions (`--loss`, `--duplicate`,
//! `--crash-nodes`, `--payloads`, `--poll-msgs-max`, `--poll-bytes-max`, and the shorter
//! phases `--recovery-time`, `--final-time-limit`). With `--bin`, the nodes are processes
//! of any Maelstrom node binary, run in real time (see [`realtime`]).
//!
//! # Deliberate differences from Maelstrom
//! - Operations go to a uniformly drawn free thread (see `run`), so that every node sees
//!   client traffic even when links answer instantly.
//! - Latency distributions with mean 0 give 0 where Maelstrom's never return or divide
//!   by zero (spec: kafka.md 6.1).
//! - A node's `src` must be its own id; Maelstrom only checks that it names some node.
//! - `majorities-ring` beyond 5 nodes is our own random approximation.

#![forbid(unsafe_code)]

pub mod checker;
pub mod cli;
mod client;
mod events;
#[cfg(test)]
mod fuzz_tests;
pub mod history;
pub mod messages;
pub mod nemesis;
pub mod net;
pub mod options;
pub mod payloads;
pub mod quorum;
pub mod realtime;
pub mod report;
pub mod rng;
pub mod run;
pub mod server;
pub mod services;
pub mod stats;
pub mod trace;
mod workload;
