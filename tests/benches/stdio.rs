//! The stdio benchmark: the release `replicator` binary fed a generated single-node
//! workload over a pipe, as Maelstrom would feed it, only faster.
//!
//! `cargo bench -p replicator-tests --bench stdio [-- OPTIONS]`
//!
//! - Throughput: one thread writes the pre-generated lines (init, then 1,000,000 requests,
//!   half sends and half polls, plus periodic commits), another reads the replies. The
//!   clock runs from the first write to the last reply. The reply count must match and
//!   sampled replies must say exactly what a correct node says, so a broken node cannot
//!   look fast. Peak RSS is VmHWM, read after the last reply and before stdin closes, as
//!   is the node's CPU time (user + system, all threads), which says what a run cost
//!   whatever else the shared machine was doing.
//! - Memory: a run of sends only; what a stored message costs is
//!   (RSS after the sends − RSS after init) / messages, against payload bytes + 16.
//!
//! Options: `--naive` (or `REPLICATOR_BENCH_NAIVE=1`) runs `examples/naive_node.rs`
//! instead; `--compare` runs both, taking turns, and reports the ratio; `--runs N`
//! (default 5); `--requests N` (default 1,000,000);
//! `--clients N` (default 10; the 100 keys are dealt out among them, so more clients
//! means fewer keys per poll); `--memory-requests N` (default 1,000,000);
//! `--memory-keys N` (default 100); `--no-memory`; `--memory-only`;
//! `--no-build` (use the binaries as they are); `--bin PATH` (any other node);
//! `--against PATH` (this build and another node binary, taking turns, with the ratio:
//! how a change is measured against the binary built before it);
//! `--dump FILE` (write the throughput workload to FILE and stop, for profiling).

mod common;

use common::{Args, Shape, Workload, check_reply, generate, load, spread};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long any one run may take before the node is declared stuck.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    let args = Args::from_env();
    let naive = args.flag("--naive") || std::env::var_os("REPLICATOR_BENCH_NAIVE").is_some();
    let runs = args.number("--runs", 5).max(1);
    let requests = args.number("--requests", 1_000_000);
    let memory_requests = args.number("--memory-requests", 1_000_000);
    let build = !args.flag("--no-build");
    let nodes: Vec<(&str, PathBuf)> = match args.rest.iter().position(|a| a == "--bin") {
        Some(i) => vec![(
            "given",
            PathBuf::from(args.rest.get(i + 1).expect("--bin takes a path")),
        )],
        None if args.flag("--compare") => vec![
            ("replicator", built_binary(false, build)),
            ("naive", built_binary(true, build)),
        ],
        None if args.rest.iter().any(|a| a == "--against") => {
            let i = args
                .rest
                .iter()
                .position(|a| a == "--against")
                .expect("found");
            let other = args.rest.get(i + 1).expect("--against takes a path");
            vec![
                ("replicator", built_binary(false, build)),
                ("against", PathBuf::from(other)),
            ]
        }
        None if naive => vec![("naive", built_binary(true, build))],
        None => vec![("replicator", built_binary(false, build))],
    };
    for (name, bin) in &nodes {
        println!("node {name}: {}", bin.display());
    }
    if let Some(i) = args.rest.iter().position(|a| a == "--dump") {
        // For profiling: `valgrind --tool=callgrind replicator < FILE > /dev/null`
        // counts the node's work without this harness's threads in the picture.
        let path = args.rest.get(i + 1).expect("--dump takes a path");
        let workload = generate(&args.shape(requests));
        std::fs::write(path, workload.all_lines()).expect("the dump file is writable");
        println!("wrote {} lines to {path}", workload.reply_count());
        return;
    }

    if !args.flag("--memory-only") {
        throughput(&nodes, runs, &args.shape(requests));
    }
    if !args.flag("--no-memory") {
        let keys = args.number("--memory-keys", 100).max(1);
        for (name, bin) in &nodes {
            print!("{name} ");
            memory(bin, memory_requests, keys);
        }
    }
}

/// The path of the node binary, built first unless told not to.
fn built_binary(naive: bool, build: bool) -> PathBuf {
    // This bench runs as target/release/deps/stdio-<hash>, so the profile directory is two
    // levels up, whatever CARGO_TARGET_DIR says.
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench lives in <target>/<profile>/deps");
    let (args, path): (&[&str], PathBuf) = if naive {
        (
            &["-p", "replicator-tests", "--example", "naive_node"],
            profile_dir.join("examples").join("naive_node"),
        )
    } else {
        (
            &["-p", "replicator-io", "--bin", "replicator"],
            profile_dir.join("replicator"),
        )
    };
    if build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release"])
            .args(args)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the node failed");
    }
    assert!(
        path.exists(),
        "{} is missing; build it or drop --no-build",
        path.display()
    );
    path
}

/// Runs each node `runs` times on the same workload, taking turns so that a change in
/// the machine's load hits every node alike, and reports each node's spread and, for two
/// nodes, the ratio of their medians.
fn throughput(nodes: &[(&str, PathBuf)], runs: usize, shape: &Shape) {
    let started = Instant::now();
    let workload = generate(shape);
    let input = workload.all_lines();
    println!(
        "workload: {} clients, {} request lines ({} send, {} poll, {} commit_offsets) after \
         init, {:.1} MB, {} messages polled, mean payload {:.2} B; generated in {:.2} s",
        shape.clients,
        workload.request_count,
        workload.sends,
        workload.polls,
        workload.commits,
        input.len() as f64 / 1e6,
        workload.polled_msgs,
        workload.payload_mean(),
        started.elapsed().as_secs_f64()
    );
    let mut rates = vec![Vec::new(); nodes.len()];
    let mut peaks = vec![Vec::new(); nodes.len()];
    let mut cpu = vec![Vec::new(); nodes.len()];
    for run in 1..=runs {
        for (n, (name, bin)) in nodes.iter().enumerate() {
            let load_before = load();
            match run_once(bin, &input, &workload) {
                Ok(result) => {
                    let rate = workload.reply_count() as f64 / result.seconds;
                    println!(
                        "run {run} {name}: {:.3} s, {:.0} requests/s, node CPU {:.2} s \
                         ({:.0} requests per CPU-second), peak RSS {:.1} MB, {} replies checked, \
                         load {load_before}",
                        result.seconds,
                        rate,
                        result.cpu_seconds,
                        workload.reply_count() as f64 / result.cpu_seconds,
                        result.peak_kb as f64 / 1024.0,
                        workload.samples.len()
                    );
                    rates[n].push(rate);
                    cpu[n].push(result.cpu_seconds);
                    peaks[n].push(result.peak_kb as f64 / 1024.0);
                }
                Err(why) => {
                    eprintln!("run {run} {name} FAILED: {why}");
                    std::process::exit(1);
                }
            }
        }
    }
    let mut medians = Vec::new();
    for (n, (name, _)) in nodes.iter().enumerate() {
        let (median, min, max) = spread(&rates[n]);
        let (peak_median, peak_min, peak_max) = spread(&peaks[n]);
        println!(
            "{name} stdio throughput: median {median:.0} requests/s (min {min:.0}, max {max:.0}) over {runs} runs"
        );
        println!(
            "{name} stdio peak RSS (VmHWM): median {peak_median:.1} MB (min {peak_min:.1}, max {peak_max:.1})"
        );
        let (cpu_median, cpu_min, cpu_max) = spread(&cpu[n]);
        println!(
            "{name} node CPU time (user+sys, all threads): median {cpu_median:.2} s (min {cpu_min:.2}, max {cpu_max:.2}), \
             {:.0} requests per CPU-second at the median",
            workload.reply_count() as f64 / cpu_median
        );
        medians.push(median);
    }
    if let [first, second] = medians[..] {
        let per_run: Vec<f64> = rates[0].iter().zip(&rates[1]).map(|(a, b)| a / b).collect();
        let (median, min, max) = spread(&per_run);
        println!(
            "ratio {} / {}: {:.2} (medians); per alternating pair: median {median:.2}, min {min:.2}, max {max:.2}",
            nodes[0].0,
            nodes[1].0,
            first / second
        );
    }
}

struct RunResult {
    seconds: f64,
    peak_kb: u64,
    /// The node's user and system time over all its threads, read with the peak: what
    /// the run cost, whatever else the machine was doing.
    cpu_seconds: f64,
}

fn spawn(bin: &Path) -> Result<Child, String> {
    Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))
}

/// Feeds `input` to a fresh node and times it from the first write to the last reply.
fn run_once(bin: &Path, input: &[u8], workload: &Workload) -> Result<RunResult, String> {
    let mut child = spawn(bin)?;
    let pid = child.id();
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let expected = workload.reply_count();
    let (done_tx, done_rx) = mpsc::channel();
    let samples = workload.samples.clone();
    let reader = thread::spawn(move || read_replies(stdout, expected, &samples, done_tx));
    let result = thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut stdin = stdin;
            let start = Instant::now();
            let written = stdin.write_all(input);
            (start, stdin, written)
        });
        let waited = done_rx.recv_timeout(RUN_TIMEOUT);
        // Read the peak before stdin closes, while the node still holds all its state.
        let peak_kb = proc_status_kb(pid, "VmHWM");
        let cpu_seconds = proc_cpu_seconds(pid);
        if waited.is_err() {
            // Killing the node also unblocks a writer stuck on a full pipe.
            let _ = child.kill();
        }
        let (start, stdin, written) = writer.join().expect("the writer does not panic");
        drop(stdin);
        let Ok(end) = waited else {
            return Err(format!("no complete set of replies within {RUN_TIMEOUT:?}"));
        };
        written.map_err(|e| format!("writing to the node failed: {e}"))?;
        Ok(RunResult {
            seconds: end.duration_since(start).as_secs_f64(),
            peak_kb: peak_kb.ok_or("cannot read VmHWM")?,
            cpu_seconds: cpu_seconds.ok_or("cannot read the node's CPU time")?,
        })
    });
    let status = child.wait().map_err(|e| e.to_string())?;
    let lines = reader.join().expect("the reader does not panic")?;
    let result = result?;
    if lines != expected {
        return Err(format!("{lines} reply lines for {expected} requests"));
    }
    if !status.success() {
        return Err(format!("the node exited with {status}"));
    }
    Ok(result)
}

/// Reads replies until stdout closes, checking the sampled ones, and signals the moment
/// the `expected`-th line is complete. Returns how many lines came in all.
fn read_replies(
    mut stdout: ChildStdout,
    expected: usize,
    samples: &[common::Sample],
    done: mpsc::Sender<Instant>,
) -> Result<usize, String> {
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0usize;
    let mut next_sample = 0;
    // The sampled line being assembled, when it spans reads.
    let mut current: Vec<u8> = Vec::new();
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) => return Ok(lines),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the node's stdout failed: {e}")),
        };
        let chunk = &buf[..n];
        let newlines = chunk.iter().filter(|&&b| b == b'\n').count();
        let wanted = samples.get(next_sample).map(|s| s.line);
        // Only a chunk that holds a sampled line is walked line by line.
        if wanted.is_some_and(|w| w < lines + newlines + 1) {
            let mut line_no = lines;
            for piece in chunk.split_inclusive(|&b| b == b'\n') {
                let complete = piece.last() == Some(&b'\n');
                if samples.get(next_sample).is_some_and(|s| s.line == line_no) {
                    current.extend_from_slice(piece);
                    if complete {
                        current.pop();
                        check_reply(&samples[next_sample], &current)?;
                        current.clear();
                        next_sample += 1;
                    }
                }
                if complete {
                    line_no += 1;
                }
            }
        }
        let before = lines;
        lines += newlines;
        if before < expected && lines >= expected {
            if next_sample < samples.len() {
                return Err(format!(
                    "{} sampled replies never came",
                    samples.len() - next_sample
                ));
            }
            let _ = done.send(Instant::now());
        }
    }
}

/// User plus system time of a process so far, from /proc/<pid>/stat, in seconds. The
/// clock tick is taken to be 100 Hz, as on every Linux this runs on (`getconf CLK_TCK`).
fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are plain numbers. utime and
    // stime are fields 14 and 15 of the whole line, so 12 and 13 after the name's `)`.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// A `kB` field of /proc/<pid>/status.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reads from `stdout` until `lines` more newlines have come.
fn await_lines(stdout: &mut ChildStdout, lines: usize) -> Result<(), String> {
    let mut buf = vec![0u8; 1 << 20];
    let mut seen = 0;
    while seen < lines {
        let n = stdout
            .read(&mut buf)
            .map_err(|e| format!("reading the node's stdout failed: {e}"))?;
        if n == 0 {
            return Err(format!("stdout closed after {seen} of {lines} replies"));
        }
        seen += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    Ok(())
}

fn memory(bin: &Path, requests: usize, keys: usize) {
    let shape = Shape {
        keys,
        ..Shape::sends_only(requests)
    };
    let workload = generate(&shape);
    match memory_once(bin, &workload) {
        Ok((after_init_kb, after_kb, peak_kb)) => {
            let per_msg = (after_kb.saturating_sub(after_init_kb) * 1024) as f64
                / workload.sends.max(1) as f64;
            let budget = workload.payload_mean() + 16.0;
            println!(
                "memory: {} sends over {} keys: RSS {:.1} MB after init, {:.1} MB after \
                 (peak {:.1} MB); {per_msg:.2} B per stored message vs payload {:.2} B + 16 = \
                 {budget:.2} B: {}",
                workload.sends,
                shape.keys,
                after_init_kb as f64 / 1024.0,
                after_kb as f64 / 1024.0,
                peak_kb as f64 / 1024.0,
                workload.payload_mean(),
                if per_msg <= budget { "within" } else { "OVER" },
            );
        }
        Err(why) => {
            eprintln!("memory run FAILED: {why}");
            std::process::exit(1);
        }
    }
}

/// RSS after init, RSS after every send is answered, and the peak, in kB.
fn memory_once(bin: &Path, workload: &Workload) -> Result<(u64, u64, u64), String> {
    let mut child = spawn(bin)?;
    let pid = child.id();
    let mut stdin: ChildStdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let result = (|| {
        stdin.write_all(&workload.init).map_err(|e| e.to_string())?;
        stdin.flush().map_err(|e| e.to_string())?;
        await_lines(&mut stdout, 1)?;
        let after_init = proc_status_kb(pid, "VmRSS").ok_or("cannot read VmRSS")?;
        let requests = workload.requests.clone();
        let writer = thread::spawn(move || {
            let written = stdin.write_all(&requests);
            (stdin, written)
        });
        await_lines(&mut stdout, workload.request_count)?;
        let after = proc_status_kb(pid, "VmRSS").ok_or("cannot read VmRSS")?;
        let peak = proc_status_kb(pid, "VmHWM").ok_or("cannot read VmHWM")?;
        let (stdin, written) = writer.join().expect("the writer does not panic");
        written.map_err(|e| e.to_string())?;
        drop(stdin);
        Ok((after_init, after, peak))
    })();
    if result.is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    result
}
