//! The paths of the workspace's release binaries (`replicator`, `replicator-sim`) and of
//! this package's example nodes, each built once per test process.
//!
//! The tests crate is not the binary's package, so Cargo does not hand it
//! `CARGO_BIN_EXE_replicator`. Instead the first test that needs the binary runs
//! `cargo build --release -p replicator-io --bin replicator` from the workspace root, with
//! the same `cargo` that runs the tests (`CARGO`) and the same environment, so
//! `CARGO_TARGET_DIR` and any Cargo config are honoured. The path is read from Cargo's
//! JSON messages rather than guessed, and a `OnceLock` makes parallel tests share one
//! build.
//!
//! The example nodes are built the same way in the dev profile: `cargo test` has already
//! built them so (it builds every example), so the call costs a second, where a release
//! build would link this package's dependencies with fat LTO again for nodes whose speed
//! no test measures.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The release `replicator` binary, built on first use.
pub fn replicator() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| build(&["--release", "-p", "replicator-io", "--bin"], "replicator"))
}

/// The release `replicator-sim` command, built on first use.
pub fn replicator_sim() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        build(
            &["--release", "-p", "replicator-sim", "--bin"],
            "replicator-sim",
        )
    })
}

/// The example `naive_node` (`tests/examples/naive_node.rs`), built on first use.
pub fn naive_node() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| build(&["-p", "replicator-tests", "--example"], "naive_node"))
}

/// The example `broken_node` (`tests/examples/broken_node.rs`), built on first use.
pub fn broken_node() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| build(&["-p", "replicator-tests", "--example"], "broken_node"))
}

/// The example `tso_node` (`tests/examples/tso_node.rs`), built on first use.
pub fn tso_node() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| build(&["-p", "replicator-tests", "--example"], "tso_node"))
}

/// Runs `cargo build <how> <name>` and returns the executable Cargo reports for `name`.
fn build(how: &[&str], bin: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits inside the workspace");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .arg("build")
        .args(how)
        .args([bin, "--message-format=json-render-diagnostics"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo could not be started");
    assert!(
        output.status.success(),
        "building the {bin} binary failed: {}",
        output.status
    );
    // Each stdout line is one JSON message; the binary's artifact names its executable.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no executable for the {bin} binary"));
    assert!(path.is_file(), "{} does not exist", path.display());
    path
}
