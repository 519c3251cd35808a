//! Deterministic simulation (under construction).
