//! One peer link's bookkeeping: what this node last told the peer, and when the next
//! packet may go.
//!
//! Packets on a link are numbered (`seq`) and the peer reports the highest number it has
//! received (`got`): a packet whose `got` reaches a number proves that the peer sent it
//! after hearing that packet, which is how a restarted node knows an answer is news
//! rather than an echo of its former self (see `recovery`).
//!
//! Invariants:
//! - `got` only grows, and `seq` only grows, within one incarnation of each side.

use crate::ids::LogIndex;
use crate::time::Timestamp;

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
    /// The peer hears no leader: pass leader news on to it until then.
    pub(crate) relay_until: Option<Timestamp>,
    /// When any message last came from the peer.
    pub(crate) heard_at: Option<Timestamp>,
    /// A packet is owed to the peer: it asked for one (it is joining), or we have just
    /// joined and it must hear so. The next window this link may use sends one.
    pub(crate) answer_due: bool,
}

impl Link {
    /// A packet numbered `seq` arrived.
    pub(crate) fn received(&mut self, seq: u64) {
        self.got = self.got.max(seq);
    }

    /// The earliest time the next packet may go, batching to one per `batch_us`.
    pub(crate) fn next_allowed(&self, batch_us: u64) -> Timestamp {
        self.last_sent
            .map_or(Timestamp::ZERO, |t| t.add_micros(batch_us))
    }

    /// Records a packet going out now, and returns its number.
    pub(crate) fn sent(&mut self, now: Timestamp) -> u64 {
        self.seq += 1;
        self.last_sent = Some(now);
        self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_numbered_and_got_only_grows() {
        let mut link = Link::default();
        let now = Timestamp::ZERO;
        assert_eq!(link.sent(now), 1);
        assert_eq!(link.sent(now), 2);
        link.received(7);
        link.received(4);
        assert_eq!(link.got, 7, "got only grows");
        assert_eq!(link.next_allowed(10), Timestamp(10));
    }
}
