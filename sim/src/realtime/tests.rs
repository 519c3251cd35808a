//! The real-time driver against small stand-in processes (`cat`, `sh`, `sleep`): lines in
//! and out with Maelstrom's `id`, a process that exits, one that never reads, and the
//! reaping of every process.

use super::*;
use crate::events::Event;
use crate::net::Addr;
use replicator_core::{Body, MsgId, NodeId};

fn driver(bin: &str, args: &[&str], nodes: usize) -> Processes {
    let command = Command {
        bin: bin.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        node_ids: (0..nodes).map(|i| format!("n{i}")).collect(),
        log_dir: None,
    };
    Processes::new(command, None).expect("a driver")
}

fn envelope(id: u64, deadline: Micros) -> Envelope {
    Envelope {
        from: Addr::Client(3),
        msg: Message {
            src: NodeId::new("c3"),
            dest: NodeId::new("n0"),
            body: Body::InitOk {
                in_reply_to: MsgId(9),
            },
        },
        deadline,
        id,
        record: None,
    }
}

/// Runs the driver's clock until it says something other than an event, at most 10 s.
fn next_wake(driver: &mut Processes, events: &mut Events) -> Wake {
    let clock = WallClock::start();
    loop {
        assert!(clock.now() < 10_000_000, "nothing came");
        events.after(100_000, Event::IssueOp);
        match driver.next(events) {
            Wake::Event(_) => {}
            other => return other,
        }
    }
}

fn is_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_line_goes_in_with_maelstroms_id_and_what_the_node_writes_comes_back() {
    // `cat` writes back every line it reads: what comes back is what the node read.
    let mut driver = driver("cat", &[], 1);
    let mut events = Events::default();
    driver.start(0, Config::default()).unwrap();
    let mut out = Vec::new();
    driver.deliver(0, 0, envelope(17, 0), &mut out);
    assert!(out.is_empty());
    match next_wake(&mut driver, &mut events) {
        Wake::Line(0, Ok(msg)) => {
            assert_eq!((msg.src.as_str(), msg.dest.as_str()), ("c3", "n0"));
            assert_eq!(msg.body.in_reply_to(), Some(MsgId(9)));
        }
        _ => panic!("expected the line back"),
    }
    let figures = driver.figures().unwrap();
    assert_eq!((figures.write_delay.n, figures.lines_read), (1, 1));
    assert!(driver.finish().is_none(), "cat was still running");
}

#[test]
fn a_node_that_exits_is_reported_with_its_status_and_last_words() {
    let mut driver = driver(
        "sh",
        &["-c", "echo 'not json'; echo 'dying now' >&2; exit 3"],
        1,
    );
    let mut events = Events::default();
    driver.start(0, Config::default()).unwrap();
    // First the line that is not a message, in Maelstrom's words.
    match next_wake(&mut driver, &mut events) {
        Wake::Line(0, Err(report)) => assert!(report.contains("not well-formed JSON"), "{report}"),
        _ => panic!("expected the malformed line"),
    }
    match next_wake(&mut driver, &mut events) {
        Wake::Fatal(report) => {
            assert!(
                report.starts_with("Node n0 crashed with exit status: 3"),
                "{report}"
            );
            assert!(
                report.contains("dying now") && report.contains("not json"),
                "{report}"
            );
        }
        _ => panic!("expected the exit"),
    }
}

#[test]
fn a_killed_node_says_nothing_more_and_a_restarted_one_starts_afresh() {
    let mut driver = driver("cat", &[], 2);
    let mut events = Events::default();
    driver.start(0, Config::default()).unwrap();
    driver.start(1, Config::default()).unwrap();
    driver.deliver(0, 0, envelope(1, 0), &mut Vec::new());
    driver.kill(0);
    driver.deliver(1, 0, envelope(2, 0), &mut Vec::new());
    // Node 0's echo, if it was read before the kill, is dropped; node 1's comes.
    match next_wake(&mut driver, &mut events) {
        Wake::Line(1, Ok(_)) => {}
        _ => panic!("expected node 1's line only"),
    }
    driver.start(0, Config::default()).unwrap();
    driver.deliver(0, 0, envelope(3, 0), &mut Vec::new());
    assert!(matches!(
        next_wake(&mut driver, &mut events),
        Wake::Line(0, Ok(_))
    ));
}

#[test]
fn a_node_that_never_reads_never_blocks_the_driver() {
    let mut driver = driver("sleep", &["30"], 1);
    driver.start(0, Config::default()).unwrap();
    let clock = WallClock::start();
    // About 2 MB: far more than a pipe holds.
    for id in 0..20_000 {
        driver.deliver(0, 0, envelope(id, 0), &mut Vec::new());
    }
    assert!(clock.now() < 5_000_000, "writing took {} µs", clock.now());
    let node = driver.nodes[0].as_ref().unwrap();
    assert!(node.backlog_bytes() > 0, "the pipe took everything");
    assert!(driver.backlogged);
}

#[test]
fn every_process_is_reaped_when_the_driver_is_dropped_or_finishes() {
    let mut first = driver("sleep", &["30"], 3);
    for i in 0..3 {
        first.start(i, Config::default()).unwrap();
    }
    let pids: Vec<u32> = first.nodes.iter().flatten().map(|p| p.pid()).collect();
    assert!(pids.iter().all(|&p| is_alive(p)));
    // As when a panic unwinds through the driver.
    drop(first);
    assert!(pids.iter().all(|&p| !is_alive(p)), "left behind: {pids:?}");

    let mut second = driver("sleep", &["30"], 1);
    second.start(0, Config::default()).unwrap();
    let pid = second.nodes[0].as_ref().unwrap().pid();
    assert!(second.finish().is_none());
    assert!(!is_alive(pid));
}

#[test]
fn a_binary_that_cannot_start_says_why() {
    let mut driver = driver("/no/such/node", &[], 1);
    let error = driver.start(0, Config::default()).unwrap_err();
    assert!(error.contains("/no/such/node"), "{error}");
}

#[test]
fn stop_interrupts_the_wait() {
    let stop = Arc::new(AtomicBool::new(false));
    let command = Command {
        bin: "cat".into(),
        args: Vec::new(),
        node_ids: vec!["n0".into()],
        log_dir: None,
    };
    let mut driver = Processes::new(command, Some(Arc::clone(&stop))).unwrap();
    driver.start(0, Config::default()).unwrap();
    let mut events = Events::default();
    events.after(60_000_000, Event::MainEnd);
    stop.store(true, Ordering::Relaxed);
    assert!(matches!(driver.next(&mut events), Wake::Interrupted));
}
