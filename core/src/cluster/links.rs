//! One peer link's bookkeeping: what this node last told the peer, what the peer has
//! acknowledged, and when the next packet may go.
//!
//! Packets on a link are numbered (`seq`) and the peer reports the highest number it has
//! received (`got`). Committed consumer offsets ride on that: every packet carries every
//! raise the peer has not yet acknowledged, so when packet `s` arrives the peer has every
//! raise up to the version `s` carried, and raises lost with earlier packets ride again
//! on later ones.
//!
//! Invariants:
//! - `offsets_acked <= offsets_sent`;
//! - `inflight` is ascending in both `seq` and version, and holds at most
//!   [`INFLIGHT_MAX`] packets.

use crate::ids::LogIndex;
use crate::time::Timestamp;
use std::collections::VecDeque;

/// Packets remembered for offset acknowledgements; older ones are forgotten, which only
/// means their raises ride again.
const INFLIGHT_MAX: usize = 64;

/// What the node last reported about itself: term, match, commit, heartbeat.
pub(crate) type SelfFact = (u64, u64, u64, u64);

#[derive(Debug, Default)]
pub(crate) struct Link {
    /// The number of the last packet sent to the peer.
    pub(crate) seq: u64,
    /// The highest packet number received from the peer.
    pub(crate) got: u64,
    /// When the last packet went; the next may go one batching window later.
    pub(crate) last_sent: Option<Timestamp>,
    /// Entries have been sent up to here, perhaps not yet acknowledged.
    pub(crate) sent_upto: LogIndex,
    /// When the current pipeline of entries started from what the peer held for sure.
    pub(crate) pipeline_at: Timestamp,
    /// The commit index and heartbeat count the last packet carried.
    pub(crate) sent_commit: LogIndex,
    pub(crate) sent_hb: u64,
    /// The node's own fact as the last packet carried it.
    pub(crate) sent_fact: SelfFact,
    /// The highest offsets version sent, and the highest the peer acknowledged.
    pub(crate) offsets_sent: u64,
    pub(crate) offsets_acked: u64,
    /// `(seq, offsets version)` of packets not yet acknowledged.
    inflight: VecDeque<(u64, u64)>,
    /// The peer hears no leader: pass leader news on to it until then.
    pub(crate) relay_until: Option<Timestamp>,
    /// When any message last came from the peer.
    pub(crate) heard_at: Option<Timestamp>,
}

impl Link {
    /// A packet numbered `seq` arrived, saying the peer has received up to `got`.
    pub(crate) fn received(&mut self, seq: u64, got: u64) {
        self.got = self.got.max(seq);
        while let Some(&(s, version)) = self.inflight.front() {
            if s > got {
                break;
            }
            self.offsets_acked = self.offsets_acked.max(version);
            self.inflight.pop_front();
        }
    }

    /// The earliest time the next packet may go, batching to one per `batch_us`.
    pub(crate) fn next_allowed(&self, batch_us: u64) -> Timestamp {
        self.last_sent
            .map_or(Timestamp::ZERO, |t| t.add_micros(batch_us))
    }

    /// Records a packet going out now carrying offsets up to `offsets_version`, and
    /// returns its number.
    pub(crate) fn sent(&mut self, now: Timestamp, offsets_version: u64) -> u64 {
        self.seq += 1;
        self.last_sent = Some(now);
        if offsets_version > self.offsets_acked {
            self.inflight.push_back((self.seq, offsets_version));
            if self.inflight.len() > INFLIGHT_MAX {
                self.inflight.pop_front();
            }
        }
        self.offsets_sent = self.offsets_sent.max(offsets_version);
        self.seq
    }

    /// Panics if an invariant is broken.
    pub(crate) fn check_invariants(&self) {
        assert!(self.offsets_acked <= self.offsets_sent, "acked past sent");
        assert!(self.inflight.len() <= INFLIGHT_MAX);
        assert!(
            self.inflight
                .iter()
                .zip(self.inflight.iter().skip(1))
                .all(|(a, b)| a.0 < b.0 && a.1 <= b.1),
            "inflight out of order"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_that_arrives_acknowledges_every_raise_it_carried() {
        let mut link = Link::default();
        let now = Timestamp::ZERO;
        assert_eq!(link.sent(now, 3), 1);
        assert_eq!(link.sent(now, 5), 2, "packet 2 carries raises 1..=5");
        assert_eq!(link.sent(now, 5), 3);
        // Packet 1 was lost; packet 2 arrived.
        link.received(7, 2);
        assert_eq!(link.offsets_acked, 5);
        assert_eq!(link.got, 7);
        link.received(4, 1);
        assert_eq!(link.got, 7, "got only grows");
        link.check_invariants();
        assert_eq!(link.next_allowed(10), Timestamp(10));
    }
}
