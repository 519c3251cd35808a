//! Replicator's deterministic simulator: Maelstrom's kafka test in virtual time.
//!
//! One seed fixes every choice. Never reads a clock, never uses OS randomness or
//! `HashMap` iteration order: the same seed and options give the same bytes.

#![forbid(unsafe_code)]

pub mod checker;
pub mod history;
pub mod server;
pub mod stats;
