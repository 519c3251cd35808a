//! Replicator integration tests.
