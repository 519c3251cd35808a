//! One node process: started with piped stdin, stdout and stderr (spec: kafka.md 1.1),
//! its stdin and stdout non-blocking, so that the driver's one thread can write to and
//! read from every node without ever waiting on one; its stderr read by a thread of its
//! own into a log file and a short tail; killed and reaped when the run is done with it.
//!
//! Reading stdout on the driver's thread, woken by `ppoll` when a pipe has something,
//! rather than on a thread per node, spares every line a hand-over between threads: on
//! a machine with more runnable threads than cores, each hand-over is one more wait to
//! be scheduled, which is exactly the delay the driver must not add.
//!
//! Invariants:
//! - A started process is reaped: by [`NodeProcess::kill`], or on drop (a panic of the
//!   driver unwinds through it).
//! - Lines reach stdin whole and in order: what the pipe cannot take now waits in the
//!   backlog, and nothing is written while older bytes wait.
//! - Every line the process writes on stdout is handed on once, in order, stamped with
//!   when it was read, then a [`NodeIo::Closed`] at the end.

use super::wire;
use crate::history::Micros;
use replicator_core::Message;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, LineWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// spec: kafka.md 1.1 — Maelstrom keeps the last 32 lines of a node's stdout and stderr
/// to show when the node crashes.
const TAIL_LINES: usize = 32;
/// Bytes waiting for a node's stdin beyond which the node is taken to have stopped
/// reading it. Far beyond any burst a healthy node leaves unread.
pub(crate) const BACKLOG_BYTES_MAX: usize = 64 << 20;
/// How long a report waits for a process's last stderr lines, and for a process whose
/// stdout closed to exit.
const LINGER: Duration = Duration::from_secs(1);
/// Bytes read from a stdout at a time.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks read from one stdout before the driver looks at the others: a node that writes
/// without pause cannot starve the rest.
const CHUNKS_PER_TURN: usize = 16;

/// A line of a node's stdout, or its end, as the driver gets it.
pub(crate) struct FromNode {
    /// The node's index.
    pub node: usize,
    /// Which start of that node wrote it (a crash and restart makes a new one).
    pub incarnation: u64,
    /// When the line was read.
    pub at: Micros,
    /// The line, or the end of stdout.
    pub io: NodeIo,
}

/// A line of a node's stdout, or its end.
pub(crate) enum NodeIo {
    /// A message, or Maelstrom's report of why the line is not one.
    Line(Result<Message, String>),
    /// Stdout closed: the process is exiting, or has exited.
    Closed,
}

/// How to start one node.
pub(crate) struct Spawn<'a> {
    pub bin: &'a std::path::Path,
    pub args: &'a [String],
    /// The node's id, for its log and reports.
    pub id: &'a str,
    pub node: usize,
    pub incarnation: u64,
    pub log: Option<PathBuf>,
}

/// The last lines of a node's output, for the report of its crash.
#[derive(Default)]
struct Tails {
    stdout: VecDeque<String>,
    stderr: VecDeque<String>,
}

fn keep(tail: &mut VecDeque<String>, line: String) {
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line);
}

type Log = Arc<Mutex<LineWriter<File>>>;

/// A running node process.
pub(crate) struct NodeProcess {
    id: String,
    node: usize,
    incarnation: u64,
    child: Child,
    /// `None` once the pipe broke: the process is gone.
    stdin: Option<ChildStdin>,
    /// `None` once it closed.
    stdout: Option<ChildStdout>,
    /// The bytes of a line not yet complete.
    partial: Vec<u8>,
    log: Option<Log>,
    /// Lines waiting for room in the pipe, oldest first, each with when it was due; the
    /// first has `written` of its bytes written already.
    backlog: VecDeque<(Vec<u8>, Micros)>,
    written: usize,
    backlog_bytes: usize,
    tails: Arc<Mutex<Tails>>,
    log_path: Option<PathBuf>,
    stderr_reader: Option<JoinHandle<()>>,
    reaped: bool,
}

impl NodeProcess {
    /// Starts the process and its reader threads.
    pub(crate) fn spawn(spawn: Spawn<'_>) -> Result<NodeProcess, String> {
        let log = match &spawn.log {
            Some(path) => Some(open_log(path)?),
            None => None,
        };
        let mut child = std::process::Command::new(spawn.bin)
            .args(spawn.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", spawn.bin.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        // Writes must never block the driver, which serves every node and client from
        // one thread: a full pipe makes a write return at once, and the rest waits in
        // the backlog (spec: kafka.md 6.1 — Maelstrom gives each receiver its own thread,
        // so one slow reader never holds up the others; this is the same promise). Reads
        // return at once too, with whatever the pipe holds.
        let nonblocking = rustix::fs::fcntl_setfl(&stdin, rustix::fs::OFlags::NONBLOCK)
            .and_then(|()| rustix::fs::fcntl_setfl(&stdout, rustix::fs::OFlags::NONBLOCK));
        if let Err(e) = nonblocking {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("could not make the pipes non-blocking: {e}"));
        }
        if let Some(log) = &log {
            log_line(
                log,
                &format!(
                    "== replicator-sim: {} started as pid {}: {} {}",
                    spawn.id,
                    child.id(),
                    spawn.bin.display(),
                    spawn.args.join(" ")
                ),
            );
        }
        let tails = Arc::new(Mutex::new(Tails::default()));
        let stderr_reader = {
            let (tails, log) = (Arc::clone(&tails), log.clone());
            thread::Builder::new()
                .name(format!("{} stderr", spawn.id))
                .spawn(move || read_stderr(stderr, &tails, log.as_ref()))
        };
        let stderr_reader = match stderr_reader {
            Ok(handle) => handle,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("could not start a reader thread: {e}"));
            }
        };
        Ok(NodeProcess {
            id: spawn.id.to_string(),
            node: spawn.node,
            incarnation: spawn.incarnation,
            child,
            stdin: Some(stdin),
            stdout: Some(stdout),
            partial: Vec::new(),
            log,
            backlog: VecDeque::new(),
            written: 0,
            backlog_bytes: 0,
            tails,
            log_path: spawn.log,
            stderr_reader: Some(stderr_reader),
            reaped: false,
        })
    }

    /// The stdout pipe to wait on, until it closes.
    pub(crate) fn stdout_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stdout.as_ref().map(AsFd::as_fd)
    }

    /// The stdin pipe to wait on for room, while lines wait for it.
    pub(crate) fn backlogged_stdin_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.stdin {
            Some(stdin) if !self.backlog.is_empty() => Some(stdin.as_fd()),
            _ => None,
        }
    }

    /// Reads what stdout holds now, and hands on each complete line, stamped `at`, with
    /// a [`NodeIo::Closed`] once stdout has closed. `chunk` is scratch space.
    pub(crate) fn read_stdout(
        &mut self,
        at: Micros,
        chunk: &mut Vec<u8>,
        out: &mut VecDeque<FromNode>,
    ) {
        chunk.resize(CHUNK_BYTES, 0);
        for _ in 0..CHUNKS_PER_TURN {
            let Some(stdout) = &mut self.stdout else {
                return;
            };
            match stdout.read(chunk) {
                Ok(0) => {
                    // A last line without its newline still counts, as in Maelstrom.
                    if !self.partial.is_empty() {
                        let line = std::mem::take(&mut self.partial);
                        self.hand_on(at, &line, out);
                    }
                    self.stdout = None;
                    out.push_back(self.from(at, NodeIo::Closed));
                    return;
                }
                Ok(n) => self.split_lines(at, &chunk[..n], out),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.stdout = None;
                    out.push_back(self.from(at, NodeIo::Closed));
                    return;
                }
            }
        }
    }

    /// Cuts `bytes` into lines, the first continuing what an earlier read left.
    fn split_lines(&mut self, at: Micros, mut bytes: &[u8], out: &mut VecDeque<FromNode>) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                self.hand_on(at, &bytes[..end], out);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&bytes[..end]);
                self.hand_on(at, &line, out);
            }
            bytes = &bytes[end + 1..];
        }
        self.partial.extend_from_slice(bytes);
    }

    /// Parses one line and hands it on; what is not a message is also kept in the log.
    fn hand_on(&mut self, at: Micros, line: &[u8], out: &mut VecDeque<FromNode>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let parsed = wire::parse_line(&self.id, line);
        let shown = String::from_utf8_lossy(line).into_owned();
        if parsed.is_err()
            && let Some(log) = &self.log
        {
            // spec: kafka.md 1.1 — stdout is for messages only; what else a node prints
            // there is kept with its logs, where it can be read.
            log_line(log, &format!("== stdout, not a message: {shown}"));
        }
        keep(
            &mut self.tails.lock().unwrap_or_else(|e| e.into_inner()).stdout,
            shown,
        );
        out.push_back(self.from(at, NodeIo::Line(parsed)));
    }

    fn from(&self, at: Micros, io: NodeIo) -> FromNode {
        FromNode {
            node: self.node,
            incarnation: self.incarnation,
            at,
            io,
        }
    }

    /// Queues one line for stdin and writes as much as the pipe takes now.
    /// `on_written` hears when each line that was due at a time has gone whole.
    pub(crate) fn send(&mut self, line: Vec<u8>, due: Micros, on_written: &mut dyn FnMut(Micros)) {
        if self.stdin.is_none() {
            return;
        }
        self.backlog_bytes += line.len();
        self.backlog.push_back((line, due));
        self.flush(on_written);
    }

    /// Writes what waits, as far as the pipe takes it. Returns whether anything still
    /// waits.
    pub(crate) fn flush(&mut self, on_written: &mut dyn FnMut(Micros)) -> bool {
        while let Some((line, due)) = self.backlog.front() {
            let Some(stdin) = &mut self.stdin else {
                break;
            };
            match stdin.write(&line[self.written..]) {
                Ok(n) => {
                    self.written += n;
                    if self.written == line.len() {
                        on_written(*due);
                        self.backlog_bytes -= line.len();
                        self.written = 0;
                        self.backlog.pop_front();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // The pipe broke: the process is gone, and its reader will say so.
                    self.stdin = None;
                }
            }
        }
        if self.stdin.is_none() {
            self.backlog.clear();
            self.backlog_bytes = 0;
            self.written = 0;
        }
        !self.backlog.is_empty()
    }

    /// Bytes waiting for room in the pipe.
    pub(crate) fn backlog_bytes(&self) -> usize {
        self.backlog_bytes
    }

    /// The process's exit status, if it has exited (it is reaped then).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        self.reaped |= status.is_some();
        status
    }

    /// Waits a little for a process whose stdout closed to exit.
    pub(crate) fn exited_soon(&mut self) -> Option<ExitStatus> {
        let waited = Duration::from_millis(1);
        for _ in 0..LINGER.as_millis() {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            thread::sleep(waited);
        }
        None
    }

    /// SIGKILL, then reap.
    pub(crate) fn kill(&mut self) {
        if !self.reaped {
            // `Child::kill` sends SIGKILL on Unix.
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
        self.stdin = None;
        self.stdout = None;
        self.backlog.clear();
        self.backlog_bytes = 0;
    }

    /// The process id, for logs.
    #[cfg(test)]
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What Maelstrom says of a node that exited on its own (spec: kafka.md 1.1): its
    /// exit status and the last lines it wrote.
    pub(crate) fn crash_report(&mut self, id: &str, status: ExitStatus) -> String {
        // The stderr reader may still hold the last lines; give it a moment to finish.
        if let Some(reader) = self.stderr_reader.take() {
            let waited = Duration::from_millis(1);
            for _ in 0..LINGER.as_millis() {
                if reader.is_finished() {
                    let _ = reader.join();
                    break;
                }
                thread::sleep(waited);
            }
        }
        let tails = self.tails.lock().unwrap_or_else(|e| e.into_inner());
        let lines = |tail: &VecDeque<String>| {
            if tail.is_empty() {
                "  (nothing)".to_string()
            } else {
                tail.iter()
                    .map(|l| format!("  {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        };
        let mut report = format!(
            "Node {id} crashed with {status}. Before crashing, it wrote to STDOUT:\n{}\nAnd to STDERR:\n{}",
            lines(&tails.stdout),
            lines(&tails.stderr)
        );
        if let Some(path) = &self.log_path {
            report.push_str(&format!(
                "\nFull STDERR logs are available in {}",
                path.display()
            ));
        }
        report
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn open_log(path: &std::path::Path) -> Result<Log, String> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("could not open the log {}: {e}", path.display()))?;
    Ok(Arc::new(Mutex::new(LineWriter::new(file))))
}

/// Writes one line to a log; a log that cannot be written is no reason to stop a run.
fn log_line(log: &Log, line: &str) {
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    let _ = writeln!(log, "{line}");
}

/// A line without its `\n` or `\r\n`.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The thread that reads a node's stderr into its log and its tail.
fn read_stderr(stderr: std::process::ChildStderr, tails: &Mutex<Tails>, log: Option<&Log>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(trim_line_end(&line)).into_owned();
        if let Some(log) = log {
            log_line(log, &text);
        }
        keep(
            &mut tails.lock().unwrap_or_else(|e| e.into_inner()).stderr,
            text,
        );
    }
}
