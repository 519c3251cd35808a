//! A record of every message the network carries and what became of it: who sent it to
//! whom, when, and when it was delivered or dropped. The report draws its message rates
//! and its Lamport diagram from it.
//!
//! Kept only when asked for (`Options::record_messages`, which `--report` sets): an
//! unrecorded run never builds a record, so sweeps and the tests pay nothing for it, and
//! recording changes nothing about the run itself (it draws no random number and
//! schedules no event), so a recorded run is the same run, byte for byte.
//!
//! Invariants:
//! - Records are in the order messages were put on the network; a duplicate (our
//!   extension) is a record of its own, with its original's `id`.
//! - Every send, delivery and drop takes the next [`Stamp::seq`], so stamps order the
//!   events as the run handled them, also among events at one instant.
//! - A record's fate is set once, at or after its send.

use crate::history::Micros;
use replicator_core::NodeId;
use std::collections::BTreeMap;

/// When something happened: the time, and the position among the run's recorded events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    /// Virtual time (or, in a real-time run, time since the start), in microseconds.
    pub time: Micros,
    /// The event's position among every send, delivery and drop recorded.
    pub seq: u64,
}

/// What became of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Handed to its receiver.
    Delivered(Stamp),
    /// Lost as it was sent (`--loss`).
    Lost,
    /// Dropped by a partition when the receiver took it (spec: kafka.md 6.2).
    Partitioned(Stamp),
    /// Its receiver had crashed (`--crash-nodes`).
    ReceiverDown(Stamp),
    /// Never delivered: the run ended first, or its receiver (a client) had closed.
    InFlight,
}

/// One message on the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// Maelstrom's number for it (a duplicate shares its original's).
    pub id: u64,
    /// The sender's id: `n0`, `c3`, `lin-kv`.
    pub from: String,
    /// The receiver's id.
    pub to: String,
    /// Whether a client is on either end: Maelstrom's `:clients` group, not `:servers`
    /// (spec: kafka.md 6.4).
    pub is_client: bool,
    /// The body's type: `send`, `poll_ok`, `sync`.
    pub kind: String,
    /// The body as a trace line shows it.
    pub text: String,
    /// When it was put on the network.
    pub sent: Stamp,
    /// What became of it.
    pub fate: Fate,
}

/// Who a client was: the process of a worker thread, or a node's `init`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRecord {
    /// The process it served; `None` for the temporary client that sends `init`.
    pub process: Option<u64>,
    /// The node it talked to.
    pub node: String,
}

/// Everything recorded about a run's messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// Every message, in the order sent.
    pub messages: Vec<MessageRecord>,
    /// Client `c<k>` by `k`.
    pub clients: BTreeMap<u64, ClientRecord>,
}

/// The recorder the network and the runner write to; does nothing when off.
#[derive(Debug, Default)]
pub(crate) struct MessageLog {
    recording: Option<Recording>,
    seq: u64,
}

/// A record's index, carried by its envelope; `None` when nothing is recorded.
pub(crate) type RecordIndex = Option<usize>;

impl MessageLog {
    /// A log that records when `on`.
    pub(crate) fn new(on: bool) -> MessageLog {
        MessageLog {
            recording: on.then(Recording::default),
            seq: 0,
        }
    }

    fn stamp(&mut self, time: Micros) -> Stamp {
        self.seq += 1;
        Stamp {
            time,
            seq: self.seq,
        }
    }

    /// Records a message put on the network; `describe` gives `(kind, text)` and is only
    /// called when recording.
    pub(crate) fn sent(
        &mut self,
        time: Micros,
        id: u64,
        ends: (&NodeId, &NodeId),
        is_client: bool,
        describe: impl FnOnce() -> (String, String),
    ) -> RecordIndex {
        self.recording.as_ref()?;
        let sent = self.stamp(time);
        let recording = self.recording.as_mut()?;
        let (kind, text) = describe();
        recording.messages.push(MessageRecord {
            id,
            from: ends.0.as_str().to_string(),
            to: ends.1.as_str().to_string(),
            is_client,
            kind,
            text,
            sent,
            fate: Fate::InFlight,
        });
        Some(recording.messages.len() - 1)
    }

    /// Sets the fate of a recorded message; `fate` gets the event's stamp.
    pub(crate) fn ended(&mut self, index: RecordIndex, time: Micros, fate: fn(Stamp) -> Fate) {
        let Some(i) = index else { return };
        let stamp = self.stamp(time);
        if let Some(record) = self.recording.as_mut().and_then(|r| r.messages.get_mut(i)) {
            record.fate = fate(stamp);
        }
    }

    /// Marks a recorded message lost as it was sent.
    pub(crate) fn lost(&mut self, index: RecordIndex) {
        let Some(i) = index else { return };
        if let Some(record) = self.recording.as_mut().and_then(|r| r.messages.get_mut(i)) {
            record.fate = Fate::Lost;
        }
    }

    /// Records who client `c<k>` is.
    pub(crate) fn client(&mut self, k: u64, process: Option<u64>, node: &str) {
        if let Some(recording) = &mut self.recording {
            recording.clients.insert(
                k,
                ClientRecord {
                    process,
                    node: node.to_string(),
                },
            );
        }
    }

    /// What was recorded, if recording.
    pub(crate) fn finish(self) -> Option<Recording> {
        self.recording
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unrecorded_log_never_describes_a_message() {
        let mut log = MessageLog::new(false);
        let index = log.sent(5, 0, (&NodeId::new("c1"), &NodeId::new("n0")), true, || {
            panic!("described")
        });
        assert_eq!(index, None);
        log.ended(index, 7, Fate::Delivered);
        assert!(log.finish().is_none());
    }

    #[test]
    fn recording_changes_nothing_about_the_run_and_misses_no_message() {
        use crate::options::Options;
        let options = Options {
            node_count: Some(3),
            time_limit_s: 1.0,
            rate: 50.0,
            latency_ms: 5,
            partition: true,
            nemesis_interval_s: 0.3,
            loss: 0.1,
            duplicate: 0.1,
            crash_nodes_s: 0.5,
            trace: true,
            ..Options::default()
        };
        let plain = crate::run::run(&options, &crate::server::real_node());
        let recorded = crate::run::run(
            &Options {
                record_messages: true,
                ..options.clone()
            },
            &crate::server::real_node(),
        );
        assert_eq!(plain.history.ops, recorded.history.ops);
        assert_eq!(plain.trace, recorded.trace);
        assert!(plain.messages.is_none());
        let recording = recorded.messages.expect("recorded");
        let net = recorded.history.net;
        let sent = |client: bool| {
            let n = recording.messages.iter().filter(|m| m.is_client == client);
            n.count() as u64
        };
        assert_eq!(sent(true), net.clients.send_count);
        assert_eq!(sent(false), net.servers.send_count);
        let delivered = recording
            .messages
            .iter()
            .filter(|m| matches!(m.fate, Fate::Delivered(_)))
            .count() as u64;
        assert_eq!(delivered, net.all.recv_count);
        // Each fate comes up, and comes after its send.
        for fate in ["Lost", "Partitioned", "ReceiverDown", "Delivered"] {
            assert!(
                recording
                    .messages
                    .iter()
                    .any(|m| format!("{:?}", m.fate).starts_with(fate)),
                "no {fate}"
            );
        }
        for m in &recording.messages {
            if let Fate::Delivered(s) | Fate::Partitioned(s) | Fate::ReceiverDown(s) = m.fate {
                assert!(s > m.sent, "{m:?}");
            }
        }
    }

    #[test]
    fn stamps_order_sends_and_fates() {
        let mut log = MessageLog::new(true);
        let describe = || ("send".to_string(), "send key=\"1\"".to_string());
        let a = log.sent(
            5,
            0,
            (&NodeId::new("c1"), &NodeId::new("n0")),
            true,
            describe,
        );
        let b = log.sent(
            5,
            1,
            (&NodeId::new("n0"), &NodeId::new("n1")),
            false,
            describe,
        );
        log.ended(b, 9, Fate::Partitioned);
        log.ended(a, 5, Fate::Delivered);
        log.client(1, Some(0), "n0");
        let recording = log.finish().unwrap();
        let [a, b] = &recording.messages[..] else {
            panic!("two records");
        };
        assert_eq!(a.sent, Stamp { time: 5, seq: 1 });
        assert_eq!(b.fate, Fate::Partitioned(Stamp { time: 9, seq: 3 }));
        assert_eq!(a.fate, Fate::Delivered(Stamp { time: 5, seq: 4 }));
        assert_eq!(recording.clients[&1].process, Some(0));
    }
}
