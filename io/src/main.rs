//! `replicator`: one Replicator node under Maelstrom.
//!
//! This binary binds `replicator-core`'s [`Node`] to Maelstrom's process protocol
//! (spec: kafka.md 1.1): JSON lines in on stdin, one compact JSON line per message out on
//! stdout, logs on stderr, and a monotonic clock for the node's timers. It decides nothing
//! about the log: every line goes to the node, malformed ones included, and the node says
//! what to answer. It never exits on bad input, and exits 0 when stdin closes.
//!
//! Throughput comes from batching and a second thread: a reader thread reads stdin in
//! large chunks and decodes lines while the main thread steps the node through the
//! previous batch and encodes its replies (the two share decoding, see [`spawn_reader`]);
//! stdout is written every 64 KiB and flushed once per burst of input rather than once
//! per line.

use clap::Parser;
use replicator_core::protocol::decode;
use replicator_core::{Config, Input, Node, Output, Timestamp};
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Bytes asked of stdin per read.
const CHUNK_BYTES: usize = 256 * 1024;
/// Decoded batches the reader may run ahead of the node; bounds memory when the node is
/// slower.
const BATCHES_AHEAD: usize = 8;
/// How many lines the reader decodes between looks at whether the main thread is idle.
const IDLE_CHECK_LINES: usize = 16;
/// Replies are written out once this many bytes are waiting, even in the middle of a
/// batch: when input arrives faster than the node answers, a batch never ends, and
/// holding every reply until it did would cost memory and leave the other end waiting.
const FLUSH_BYTES: usize = 64 * 1024;

/// The command line. Maelstrom passes the arguments left over after its own options as
/// the node's argv (spec: kafka.md 1.1), so these are the flags a user puts there.
#[derive(Debug, Parser)]
#[command(
    name = "replicator",
    version,
    about = "One Replicator node for Maelstrom's kafka workload: JSON messages on stdin and \
             stdout, logs on stderr",
    after_help = "Run it under Maelstrom: maelstrom test -w kafka --bin target/release/replicator \
                  --node-count 3 ... (options after Maelstrom's own reach the node as its \
                  arguments). Exit status: 0 when stdin closes, 2 on a bad argument.",
    allow_negative_numbers = true
)]
struct Args {
    /// The node's only source of randomness [default: drawn at start, and logged so that
    /// a run can be replayed]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// The most messages one poll_ok carries
    #[arg(long, value_name = "N", default_value_t = Config::default().poll_msgs_max as u64,
          value_parser = at_least_one)]
    poll_msgs_max: u64,
    /// The most payload bytes one poll_ok carries (its first message goes whatever its
    /// size)
    #[arg(long, value_name = "N", default_value_t = Config::default().poll_bytes_max as u64)]
    poll_bytes_max: u64,
}

/// A budget of no message at all would make every poll empty (`ConfigError::PollMsgsMaxZero`).
fn at_least_one(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("takes a whole number of at least 1".into()),
    }
}

impl Args {
    fn config(&self) -> Config {
        let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Config {
            seed: self.seed.unwrap_or_else(drawn_seed),
            poll_msgs_max: clamp(self.poll_msgs_max),
            poll_bytes_max: clamp(self.poll_bytes_max),
            ..Config::default()
        }
    }
}

fn main() -> ExitCode {
    // `--help` and `--version` print on stdout and exit 0; a bad argument exits 2 with a
    // message naming it, before anything else is written.
    let args = Args::try_parse().unwrap_or_else(|e| e.exit());
    let config = args.config();
    let start = format!(
        "replicator: starting with seed {} (poll_msgs_max {}, poll_bytes_max {})",
        config.seed, config.poll_msgs_max, config.poll_bytes_max
    );
    // The node refuses its config before the start line is logged: a node that will not
    // start must not say it is starting.
    let node = match Node::new(config) {
        Ok(node) => node,
        Err(error) => {
            eprintln!("replicator: {error}");
            return ExitCode::from(2);
        }
    };
    eprintln!("{start}");
    match run(node, spawn_reader()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("replicator: stopping: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A seed from the standard library's per-process random hasher keys: no extra package,
/// and logged at start so a run can be replayed with `--seed`.
fn drawn_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

/// The lines of one read from stdin, in order: first those the reader decoded, then
/// those it left for the main thread to decode.
#[derive(Default)]
struct Batch {
    decoded: Vec<Input>,
    /// Complete lines, each ending in `\n`.
    raw: Vec<u8>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.decoded.is_empty() && self.raw.is_empty()
    }
}

/// The reader's channels: batches come in on `full`, and emptied ones go back on `spent`
/// to be filled again, so that batches stop allocating once the first few exist.
/// `unfinished` counts the batches sent and not yet stepped through.
struct Batches {
    full: Receiver<Batch>,
    spent: SyncSender<Batch>,
    unfinished: Arc<AtomicUsize>,
}

/// Reads stdin in chunks on its own thread and cuts it into lines, so that the main loop
/// can wait for input and for the node's next deadline at once.
///
/// Decoding, over half of the work per line, is shared between the two threads so that
/// both cores can work: while the main thread is busy, the reader decodes the lines it
/// reads, so a decoded batch is ready when the main thread finishes; as soon as the main
/// thread has finished everything sent to it, it is idle, and the reader hands it what
/// it has decoded so far and the rest of the chunk raw, to decode itself. Decoding is a pure function of the line and the order of lines
/// never changes, so who decodes a line changes nothing but speed. The channel closes at
/// end of input; a read error is logged and treated as the end.
fn spawn_reader() -> Batches {
    let (tx, full) = mpsc::sync_channel(BATCHES_AHEAD);
    // Room for every batch that can exist at once, so returning one never blocks.
    let (spent, recycled) = mpsc::sync_channel::<Batch>(BATCHES_AHEAD + 2);
    let unfinished = Arc::new(AtomicUsize::new(0));
    let sent = Arc::clone(&unfinished);
    thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut chunk = vec![0; CHUNK_BYTES];
        // Bytes of an incomplete last line, waiting for the rest.
        let mut partial = Vec::new();
        let mut batch = Batch::default();
        loop {
            let n = match stdin.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("replicator: reading stdin failed, treating it as closed: {e}");
                    break;
                }
            };
            let mut rest = &chunk[..n];
            if !partial.is_empty() {
                let Some(end) = find_newline(rest) else {
                    partial.extend_from_slice(rest);
                    continue;
                };
                partial.extend_from_slice(&rest[..end]);
                batch.decoded.push(decode_line(&partial));
                partial.clear();
                rest = &rest[end + 1..];
            }
            let complete = rest
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |last| last + 1);
            let mut lines = &rest[..complete];
            let mut decoded = 0usize;
            while let Some(end) = find_newline(lines) {
                // Every few lines, see whether the main thread has run out of work; if so,
                // hand it the rest of this chunk raw rather than keep it waiting.
                if decoded % IDLE_CHECK_LINES == 0 && sent.load(Ordering::Acquire) == 0 {
                    break;
                }
                batch.decoded.push(decode_line(&lines[..end]));
                lines = &lines[end + 1..];
                decoded += 1;
            }
            batch.raw.extend_from_slice(lines);
            partial.extend_from_slice(&rest[complete..]);
            if !batch.is_empty() {
                sent.fetch_add(1, Ordering::AcqRel);
                if tx.send(batch).is_err() {
                    return;
                }
                batch = recycled.try_recv().unwrap_or_default();
            }
        }
        // A last line without its newline still counts.
        if !partial.iter().all(u8::is_ascii_whitespace) {
            batch.decoded.push(decode_line(&partial));
            sent.fetch_add(1, Ordering::AcqRel);
            let _ = tx.send(batch);
        }
    });
    Batches {
        full,
        spent,
        unfinished,
    }
}

/// What a line is to the node: a message, or a malformed line it may still answer.
fn decode_line(line: &[u8]) -> Input {
    match decode(line) {
        Ok(message) => Input::Message(message),
        Err(malformed) => Input::Malformed(malformed),
    }
}

/// The node, its clock and its buffers.
struct Driver {
    node: Node,
    start: Instant,
    /// The wall-clock time at `start`, in microseconds since 1970. The node's clock
    /// starts there and runs on the monotonic clock, so each run of the process starts
    /// later than the last: the node names its incarnation by its start time, and its
    /// peers tell a restarted node from its former self by it.
    epoch_us: u64,
    /// The outputs of one step, reused from step to step.
    outputs: Vec<Output>,
    stdout: Vec<u8>,
    /// The first error writing stdout mid-batch, reported at the batch's end.
    stdout_error: Option<io::Error>,
    stderr: Vec<u8>,
}

impl Driver {
    fn now(&self) -> Timestamp {
        Timestamp(self.epoch_us + self.start.elapsed().as_micros() as u64)
    }

    fn step(&mut self, now: Timestamp, input: Input) {
        self.node.step_into(now, input, &mut self.outputs);
        for output in self.outputs.drain(..) {
            match output {
                Output::Send(message) => message.encode(&mut self.stdout),
                Output::Log(line) => {
                    self.stderr.extend_from_slice(line.as_bytes());
                    self.stderr.push(b'\n');
                }
            }
        }
    }

    /// Steps every line of a batch, decoding those the reader left raw, and writes
    /// replies out as they pile up. Leaves the batch empty.
    fn batch(&mut self, batch: &mut Batch) {
        let now = self.now();
        for input in batch.decoded.drain(..) {
            self.input(now, input);
        }
        let mut lines = &batch.raw[..];
        while let Some(end) = find_newline(lines) {
            self.input(now, decode_line(&lines[..end]));
            lines = &lines[end + 1..];
        }
        batch.raw.clear();
    }

    fn input(&mut self, now: Timestamp, input: Input) {
        self.step(now, input);
        if self.stdout.len() >= FLUSH_BYTES {
            self.write_stdout();
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.stderr.is_empty() {
            // Logs are best effort: a closed stderr must not stop the node.
            let _ = io::stderr().lock().write_all(&self.stderr);
            self.stderr.clear();
        }
        if !self.stdout.is_empty() {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&self.stdout)?;
            stdout.flush()?;
            self.stdout.clear();
        }
        if let Some(error) = self.stdout_error.take() {
            return Err(error);
        }
        Ok(())
    }

    /// Writes the replies so far in the middle of a batch. An error is kept for the
    /// batch's [`Driver::flush`] to report, so the node stops at the same point it would
    /// have without this early write.
    fn write_stdout(&mut self) {
        if self.stdout_error.is_none()
            && let Err(error) = io::stdout().lock().write_all(&self.stdout)
        {
            self.stdout_error = Some(error);
        }
        self.stdout.clear();
    }
}

/// The index of the first `\n` in `bytes`, looked for eight bytes at a time: a
/// byte-by-byte search cost more than a tenth of the node's time on the stdio bench.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of eight bytes"));
        // A newline becomes a zero byte; the classic zero-byte test flags it, and the
        // lowest flag is always a real one (false flags only follow a real zero byte).
        let x = word ^ NEWLINES;
        let flags = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if flags != 0 {
            return Some(at + flags.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = words.remainder();
    tail.iter().position(|&b| b == b'\n').map(|i| at + i)
}

fn run(node: Node, batches: Batches) -> io::Result<()> {
    let Batches {
        full: input,
        spent,
        unfinished,
    } = batches;
    // Hands an emptied batch back to the reader and counts it finished. If the reader is
    // gone or has enough spares, the batch is simply freed.
    let recycle = |batch: Batch| {
        unfinished.fetch_sub(1, Ordering::AcqRel);
        let _ = spent.try_send(batch);
    };
    let mut driver = Driver {
        node,
        start: Instant::now(),
        epoch_us: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
        outputs: Vec::new(),
        stdout: Vec::with_capacity(2 * FLUSH_BYTES),
        stdout_error: None,
        stderr: Vec::new(),
    };
    loop {
        let waited = match driver.node.next_deadline() {
            None => input.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(deadline) => {
                let wait = deadline.micros_since(driver.now());
                input.recv_timeout(Duration::from_micros(wait))
            }
        };
        let mut closed = false;
        match waited {
            Ok(mut batch) => {
                driver.batch(&mut batch);
                recycle(batch);
                // Take whatever else is already here before flushing: one flush per burst.
                loop {
                    match input.try_recv() {
                        Ok(mut batch) => {
                            driver.batch(&mut batch);
                            recycle(batch);
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            closed = true;
                            break;
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => closed = true,
        }
        let now = driver.now();
        if driver.node.next_deadline().is_some_and(|d| d <= now) {
            driver.step(now, Input::Tick);
        }
        driver.flush()?;
        if closed {
            eprintln!("replicator: stdin closed, exiting");
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Args, find_newline};
    use clap::{CommandFactory, Parser};

    fn parse(line: &str) -> Result<Args, String> {
        let args = std::iter::once("replicator").chain(line.split_whitespace());
        Args::try_parse_from(args).map_err(|e| e.to_string())
    }

    #[test]
    fn the_arguments_maelstrom_passes_parse_and_bad_ones_name_the_flag_and_value() {
        Args::command().debug_assert();
        let args = parse("--seed 7 --poll-msgs-max 8 --poll-bytes-max 256").unwrap();
        let config = args.config();
        assert_eq!(
            (config.seed, config.poll_msgs_max, config.poll_bytes_max),
            (7, 8, 256)
        );
        // The defaults are the node's.
        let config = parse("").unwrap().config();
        let default = replicator_core::Config::default();
        assert_eq!(config.poll_msgs_max, default.poll_msgs_max);
        assert_eq!(config.poll_bytes_max, default.poll_bytes_max);
        for (line, flag, value) in [
            ("--poll-msgs-max 0", "--poll-msgs-max", "'0'"),
            ("--poll-bytes-max -1", "--poll-bytes-max", "'-1'"),
            ("--seed x", "--seed", "'x'"),
            ("--frob", "--frob", "'--frob'"),
        ] {
            let error = parse(line).unwrap_err();
            assert!(
                error.contains(flag) && error.contains(value),
                "{line}: {error}"
            );
        }
    }

    #[test]
    fn find_newline_finds_the_first_newline_anywhere() {
        for len in 0..40 {
            for newline in 0..=len {
                let mut bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 20) as u8).collect();
                // Bytes near the newline's value make false flags in the zero-byte test.
                for b in bytes.iter_mut().skip(newline) {
                    *b = 0x0b;
                }
                if newline < len {
                    bytes[newline] = b'\n';
                    if newline + 1 < len {
                        bytes[newline + 1] = b'\n';
                    }
                }
                let expected = bytes.iter().position(|&b| b == b'\n');
                assert_eq!(find_newline(&bytes), expected, "{bytes:?}");
            }
        }
    }
}
