//! How long a node in a cluster waits for what: one table of durations, so that every
//! timer has a name and a documented reason.

/// The durations a node in a cluster works by, in microseconds.
///
/// The defaults suit Maelstrom's networks: the batching window keeps Gossip Glomers 5c
/// (2 nodes, 1000 operations/s) at about one packet per direction per window, far fewer
/// messages than operations, with sends answered within two windows; the election timeout
/// is long enough that a 100 ms mean latency rarely looks like a dead leader, and short
/// enough that a partitioned leader is replaced well within a second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// At most one packet per peer per window: news waits at most this long, and a busy
    /// link carries one message per window however much it has to say. Maelstrom's
    /// clients wait for each answer, so the window sets both messages per second and
    /// operations per second; 12 ms (against 10) gives Gossip Glomers 5c 0.274 server
    /// messages per operation instead of 0.289 (0.277 and 0.294 with real processes),
    /// margin under the 0.3 target for a real Maelstrom's slower clients, for a send
    /// p99 of 17.5 ms instead of 14.8 (the target is 30).
    pub batch_us: u64,
    /// The leader raises its heartbeat count this often; idle links carry one packet per
    /// direction per interval.
    pub heartbeat_us: u64,
    /// The least time without news of the leader before a follower stands for election
    /// (it waits up to twice as long, at random, and longer after failed elections); also
    /// the lease within which a node
    /// that heard its leader refuses votes, and the time within which a leader must hear
    /// from a majority to stay leader.
    pub election_us: u64,
    /// A follower that has not heard the leader for this long, or whose leader has not
    /// heard it, talks to every peer and asks them to relay, so that a one-way cut does
    /// not cut it off.
    pub suspect_us: u64,
    /// Entries or offsets sent and not acknowledged within this time are sent again, and a
    /// forward not seen in the log within it is retried.
    pub resend_us: u64,
    /// A send that arrives when no leader is known waits at most this long for one, then
    /// fails with the definite error 11: it was never passed on. (A node that is cut off
    /// from a majority does not wait: see `Cluster::is_cut_off`.)
    pub hold_us: u64,
    /// A send passed on to a leader but not committed within this time is answered with
    /// the indefinite error 13, safely within Maelstrom's 5 s client timeout.
    pub send_deadline_us: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            batch_us: 12_000,
            heartbeat_us: 100_000,
            election_us: 500_000,
            suspect_us: 250_000,
            resend_us: 300_000,
            hold_us: 2_000_000,
            send_deadline_us: 4_000_000,
        }
    }
}

impl Timing {
    /// Why these durations cannot work, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let named = [
            ("batch_us", self.batch_us),
            ("heartbeat_us", self.heartbeat_us),
            ("election_us", self.election_us),
            ("suspect_us", self.suspect_us),
            ("resend_us", self.resend_us),
            ("hold_us", self.hold_us),
            ("send_deadline_us", self.send_deadline_us),
        ];
        if let Some((name, _)) = named.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if self.heartbeat_us >= self.election_us {
            return Err("heartbeat_us must be shorter than election_us".into());
        }
        if self.send_deadline_us >= 5_000_000 {
            // spec: kafka.md 1.2 — a reply later than the client's 5 s timeout goes to a
            // client Maelstrom has closed, which it treats as fatal.
            return Err("send_deadline_us must be under Maelstrom's 5 s client timeout".into());
        }
        Ok(())
    }
}
