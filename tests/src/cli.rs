//! Both command lines as a user meets them, through the release binaries: generated help
//! that exits 0, values that cannot make a test refused with exit 2 and a message naming
//! the flag and the value (and nothing run or logged first), and `--report` writing the
//! same page as the library does.

use crate::bin_path;
use crate::report_page::failing_options;
use replicator_sim::options::Options;
use replicator_sim::{checker, report, run, server};
use std::process::{Command, Output, Stdio};

fn sim(args: &[&str]) -> Output {
    Command::new(bin_path::replicator_sim())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("replicator-sim runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_is_generated_for_every_command_and_exits_zero() {
    for (args, must) in [
        (&["--help"][..], &["run", "sweep"][..]),
        (
            &["run", "--help"],
            &[
                "--concurrency",
                "--nemesis",
                "--report",
                "--diagram-from",
                "NODE-ARGS",
            ],
        ),
        (
            &["sweep", "--help"],
            &["--seeds", "--swarm", "--jobs", "--report"],
        ),
        (&["help", "run"], &["--latency-dist"]),
    ] {
        let out = sim(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let help = text(&out.stdout);
        for flag in must {
            assert!(
                help.contains(flag),
                "{args:?} does not mention {flag}:\n{help}"
            );
        }
    }
    let out = Command::new(bin_path::replicator())
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .expect("replicator runs");
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.contains("--poll-msgs-max") && help.contains("--seed"),
        "{help}"
    );
    assert!(!text(&out.stderr).contains("starting"), "the node started");
}

#[test]
fn values_that_cannot_make_a_test_exit_2_naming_the_flag_and_the_value() {
    for (args, flag, value) in [
        (&["run", "--concurrency", "0"][..], "--concurrency", "0"),
        (&["run", "--node-count", "0"], "--node-count", "0"),
        (&["run", "--rate", "fast"], "--rate", "fast"),
        (
            &["run", "--node-count", "10", "--concurrency", "2000n"],
            "--concurrency",
            "2000n",
        ),
        (
            &[
                "run",
                "--report",
                "/tmp/x",
                "--diagram-from",
                "5",
                "--diagram-to",
                "1",
            ],
            "--diagram-to",
            "5 ms",
        ),
        (&["sweep", "--seeds", "4..4"], "--seeds", "4..4"),
        (
            &["sweep", "--seeds", "0..2", "--key-count", "0"],
            "--key-count",
            "0",
        ),
        (&["run", "--log-dir", "/tmp/x"], "--bin", "--log-dir"),
    ] {
        let out = sim(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(value),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    }
}

#[test]
fn the_node_refuses_a_bad_value_before_it_says_it_is_starting() {
    for (args, value) in [
        (&["--poll-msgs-max", "0"][..], "'0'"),
        (&["--poll-bytes-max", "-1"], "'-1'"),
    ] {
        let out = Command::new(bin_path::replicator())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("replicator runs");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(args[0]) && stderr.contains(value),
            "{stderr}"
        );
        assert!(
            !stderr.contains("starting"),
            "logged its start first: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn run_and_sweep_write_the_same_page_as_the_library() {
    let options = failing_options();
    let dir = std::env::temp_dir().join(format!("replicator-cli-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_text = dir.display().to_string();
    // The library's page of the same run.
    let recorded = Options {
        record_messages: true,
        ..options.clone()
    };
    let outcome = run::run(&recorded, &server::real_node());
    let checked = checker::check(&outcome.history);
    let expected = report::page(&recorded, &outcome, &checked, None);

    let args = options.to_args();
    let mut run_args = vec!["run", "--report", dir_text.as_str()];
    run_args.extend(args.iter().map(String::as_str));
    let out = sim(&run_args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run fails: {}",
        text(&out.stderr)
    );
    let path = dir.join(report::file_name(&options));
    assert!(text(&out.stderr).contains(&path.display().to_string()));
    let page = std::fs::read_to_string(&path).expect("run wrote its page");
    assert!(page == expected, "run's page differs from the library's");
    std::fs::remove_file(&path).expect("removed");

    // A sweep over the failing seed and the next: a page for the failing one only.
    let mut sweep_args = vec!["sweep", "--seeds", "42..44", "--report", dir_text.as_str()];
    let overrides: Vec<String> = args[2..].to_vec();
    sweep_args.extend(overrides.iter().map(String::as_str));
    let out = sim(&sweep_args);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("SEED=42 FAILED"), "{stdout}");
    let failed: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("SEED="))
        .map(|l| l.split_whitespace().next().unwrap_or_default()[5..].to_string())
        .collect();
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .expect("the report folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    pages.sort();
    let wanted: Vec<String> = failed.iter().map(|s| format!("seed-{s}.html")).collect();
    assert_eq!(pages, wanted, "one page per failing seed");
    let page = std::fs::read_to_string(&path).expect("sweep wrote seed 42's page");
    assert!(page == expected, "the sweep's page differs from run's");
    let _ = std::fs::remove_dir_all(&dir);
}
