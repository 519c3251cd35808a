//! Replicator's integration tests, in one test binary (one binary links once; see
//! STYLE.md). Each module covers one concern.

#[cfg(test)]
mod bin_path;
#[cfg(test)]
mod buggy_nodes;
#[cfg(test)]
mod cli;
#[cfg(test)]
mod realtime;
#[cfg(test)]
mod regressions;
#[cfg(test)]
mod report_page;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod sim_runner;
#[cfg(test)]
mod sim_snapshots;
#[cfg(test)]
mod stdio;
#[cfg(test)]
mod sweep;
