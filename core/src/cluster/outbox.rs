//! The outbox: which peers this node talks to, what each packet carries, and when it
//! goes.
//!
//! Who talks to whom:
//! - the leader talks to every follower: entries each lacks, the commit index, its
//!   heartbeat count;
//! - a follower talks to its leader: its progress (the acknowledgement), forwarded sends,
//!   and news of other nodes it heard from them directly;
//! - a follower that has not heard the leader lately (*deaf*), or that the leader has not
//!   heard lately (*unheard*), talks to every peer, and a deaf one asks them to relay;
//! - a follower asked to relay, or that sees from the facts a peer stuck behind it,
//!   passes leader news (entries, commit, heartbeat) to that peer while it hears the
//!   leader itself, building entries from its own copy of the leader's log;
//! - a node with no live leader probes every peer every half election timeout, so that
//!   it knows whether it can still reach a majority.
//!
//! A link carries at most one packet per batching window, and only when there is news
//! for it; a leader's heartbeat count rises every heartbeat interval, which makes news,
//! so idle links still carry a packet each way per interval.
//!
//! The leader's window sets the rhythm: a follower answers each leader packet half a
//! window after it arrives (acknowledgement, forwards: whatever it has), and
//! sends unprompted only when the leader has been quiet for one and a half windows. A
//! busy link thus carries two packets per window, half a window apart, and every send
//! commits at the first exchange after it arrives: a leader's client's send when the
//! follower's answer comes back, a follower's client's send when the leader's next
//! packet brings it back as an entry. Either way a send waits one window on average,
//! and a client thread can send once per window, which is what keeps the message count
//! per operation low when sends are what limits the rate. (Answering at once makes the
//! follower's sends wait a window and a half, and lets the leader's wait half a window;
//! two independent windows drift into step, each side sending just before hearing the
//! other, and every send waits two.)
//!
//! Commit news alone is worth a packet only in clusters of four or more: with three or
//! fewer, the leader and any follower that holds an entry are a majority, so a follower
//! knows an entry is committed the moment it holds it.

use super::Cluster;
use super::election::Role;
use super::links::SelfFact;
use crate::ids::LogIndex;
use crate::log::Logs;
use crate::node::Output;
use crate::protocol::{Append, Body, Fact, Forward, Sync};
use crate::time::Timestamp;

/// The most entries one packet carries; a lagging peer gets the rest in later windows.
const ENTRIES_MAX: usize = 4096;
/// About the most payload bytes one packet carries (the first entry always fits).
const ENTRY_BYTES_MAX: usize = 256 * 1024;
/// A follower whose leader's last word on its heartbeat echo is this many heartbeats
/// behind what it has echoed is *unheard*: more than a round trip at 100 ms latency.
const UNHEARD_HEARTBEATS: u64 = 5;

/// Whether our fact `now` tells the leader something it needs soon from `sent`: a new
/// term or match (an acknowledgement). A new commit index does not (the leader knows
/// its commit better than we do), nor does a heartbeat echo alone, which is lazy.
fn acknowledges(now: SelfFact, sent: SelfFact) -> bool {
    (now.0, now.1) != (sent.0, sent.1)
}

/// The earliest of some times.
#[derive(Default)]
struct Soonest(Option<Timestamp>);

impl Soonest {
    /// Notes `t`, if it is after `now`: whatever was due by now has been done.
    fn at(&mut self, now: Timestamp, t: Timestamp) {
        if t > now {
            self.0 = Some(self.0.map_or(t, |s| s.min(t)));
        }
    }
}

impl Cluster {
    /// Our progress as we report it: a joining node claims no match, so that it counts
    /// towards no majority (see `recovery`).
    fn reported(&self) -> super::Progress {
        let mut p = self.progress[self.me];
        if !self.is_member() {
            p.matched = LogIndex(0);
        }
        p
    }

    fn self_fact(&self) -> SelfFact {
        let p = self.reported();
        (p.term.0, p.matched.0, p.commit.0, p.hb)
    }

    fn facts(&self) -> Vec<Fact> {
        (0..self.ids.len())
            .map(|i| {
                let p = if i == self.me {
                    self.reported()
                } else {
                    self.progress[i]
                };
                Fact {
                    node: self.ids[i].clone(),
                    inc: self.incs[i],
                    term: p.term,
                    matched: p.matched,
                    commit: p.commit,
                    hb: p.hb,
                }
            })
            .collect()
    }

    /// Where entries for `peer` should start, if it lacks any we can give: after what we
    /// sent it lately (entries travel pipelined, ahead of acknowledgements), or after
    /// what it holds for sure (its match in this term, or its commit) once the pipeline
    /// has stalled: the peer's position has not advanced for a resend period since the
    /// pipeline last started. A packet lost, or refused for a gap, stalls it.
    /// `pipelining` says whether it still runs (`now` is before [`Self::pipeline_until`]).
    fn entries_from(&self, peer: usize, pipelining: bool) -> Option<LogIndex> {
        let from = if pipelining {
            self.links[peer].sent_upto
        } else {
            self.confirmed(peer)
        };
        (from < self.verified()).then_some(from)
    }

    /// Whether `peer` has shown no sign of life for an election timeout: no packet from
    /// it, no move of its position, and no news, through any path, that it heard one of
    /// the leader's last heartbeats. Such a peer gets heartbeats but no entries, as a
    /// Raft leader probes a follower it has lost before it replicates again: entries sent
    /// into a partition are lost, and rebuilding and carrying them was two thirds of the
    /// entries a 5-node run under partitions built. The peer answers the first heartbeat
    /// that reaches it, and its answer makes it live again: entries resume from what it
    /// holds. A relay judges the same way: in a one-way ring the peer it feeds may be
    /// heard only through a third node, by its echoes.
    fn is_silent(&self, peer: usize, now: Timestamp) -> bool {
        let recent = |t: Timestamp| now < t.add_micros(self.timing.election_us);
        let echoed = || {
            let p = self.progress[peer];
            let beats = self.timing.election_us / self.timing.heartbeat_us;
            p.term == self.election.term && self.election.hb < p.hb.saturating_add(beats)
        };
        !(self.links[peer].heard_at.is_some_and(recent) || recent(self.moved_at[peer]) || echoed())
    }

    /// Whether entries sent to `peer` beyond what it holds for sure may still be on
    /// their way, and when that stops being so.
    fn pipeline_until(&self, peer: usize) -> Option<Timestamp> {
        let link = &self.links[peer];
        (link.sent_upto > self.confirmed(peer)).then(|| {
            link.pipeline_at
                .max(self.moved_at[peer])
                .add_micros(self.timing.resend_us)
        })
    }

    /// Sends every packet that is due and has news, and works out when the node next
    /// needs a tick.
    pub(super) fn flush(&mut self, now: Timestamp, logs: &Logs, out: &mut Vec<Output>) {
        let timing = self.timing;
        let role = self.election.role;
        let leader = self.election.leader;
        let live = self.has_live_leader(now);
        let following = role == Role::Follower && leader.is_some();
        // Deaf: no fresh heartbeat, or a log that stands still while the leader's is
        // known to be longer (heartbeats may reach us through peers that do not pass on
        // entries).
        let starved = leader.is_some_and(|l| {
            self.progress[l].term == self.election.term
                && self.progress[l].matched > self.verified()
                && now >= self.grew_at.add_micros(timing.suspect_us)
        });
        let deaf = following
            && (starved
                || self
                    .election
                    .hb_at
                    .is_none_or(|t| now >= t.add_micros(timing.suspect_us)));
        let unheard =
            following && self.election.hb >= self.echo_seen_by_leader + UNHEARD_HEARTBEATS;
        let broadcast = deaf || unheard;
        let commit_news = self.majority() > 2;
        let mut soonest = Soonest::default();

        // Our clients' sends due to go towards the leader: new ones go to the leader (and
        // to everyone when we tell everyone); ones not seen in the log a while after they
        // went are retried through every peer, since the way to the leader failed once,
        // and each peer passes them on to its leader (which appends each send once).
        let mut due: Vec<u64> = Vec::new();
        let mut retried = false;
        if following {
            for (&seq, o) in &self.sends.outstanding {
                match o.sent_at {
                    None => due.push(seq),
                    Some(at) if now >= at.add_micros(timing.resend_us) => {
                        if !self.journal.contains(&self.origin(seq)) {
                            due.push(seq);
                            retried = true;
                        }
                    }
                    Some(at) => soonest.at(now, at.add_micros(timing.resend_us)),
                }
            }
        }
        let forwards: Vec<Forward> = due
            .iter()
            .map(|seq| {
                let o = &self.sends.outstanding[seq];
                Forward {
                    origin: self.origin(*seq),
                    op: o.op.clone(),
                }
            })
            .collect();
        let mut forwards_sent = false;
        let mut leader_told = false;

        for peer in self.peers() {
            // What we are to this peer; a packet carries what each part calls for.
            let lead = role == Role::Leader;
            let to_leader = following && Some(peer) == leader;
            // We pass the leader's log on to a peer that asked, or that the facts show
            // stuck behind us: a peer cut off one way may not be able to ask us.
            let stuck = || {
                self.confirmed(peer) < self.verified()
                    && now >= self.moved_at[peer].add_micros(timing.suspect_us)
            };
            let relay =
                !lead && live && (self.links[peer].relay_until.is_some_and(|t| now < t) || stuck());
            let tells_all = following && (broadcast || retried) && !to_leader;
            let probe = !live;
            // Any node answers a peer that asked. A joining node asks; so does a leader
            // that has not heard a peer for half an election timeout: the peer's echoes
            // (every other heartbeat when idle) may be getting lost, and a leader that
            // hears too few steps down (check-quorum), so it asks for an answer to each
            // heartbeat until it hears one. The question rides on packets the leader
            // sends anyway.
            let leader_asks = lead
                && self.links[peer]
                    .heard_at
                    .is_none_or(|t| now >= t.add_micros(timing.election_us / 2));
            // A cut-off node that got a send asks every peer once whether the network
            // has healed (see `Cluster::probe_at`).
            let probe_due = self
                .probe_at
                .is_some_and(|t| self.links[peer].last_sent.is_none_or(|sent| sent < t));
            let asking = self.asks(peer, now) || leader_asks || probe_due;
            let answering = self.links[peer].answer_due;
            if !(lead || to_leader || relay || tells_all || probe || asking || answering) {
                continue;
            }
            let gives_log = lead || relay;
            let reports = to_leader || tells_all;
            let link = &self.links[peer];
            // Whether entries may still be on their way to the peer (see `entries_from`);
            // worked out once per peer, as nothing below changes it before the packet goes.
            let pipeline_until = self.pipeline_until(peer);
            let pipelining = pipeline_until.is_some_and(|until| now < until);
            let entries_from = if gives_log {
                self.entries_from(peer, pipelining)
                    .filter(|_| !self.is_silent(peer, now))
            } else {
                None
            };
            if gives_log && let Some(until) = pipeline_until {
                soonest.at(now, until);
            }
            // A link that only keeps in touch sends this often.
            let keepalive_us = if tells_all {
                timing.suspect_us
            } else {
                timing.election_us / 2
            };
            let keepalive = (tells_all || probe)
                && link
                    .last_sent
                    .is_none_or(|t| now >= t.add_micros(keepalive_us));
            if (tells_all || probe)
                && let Some(t) = link.last_sent
            {
                soonest.at(now, t.add_micros(keepalive_us));
            }
            // Urgent news goes at the next window; lazy news (a heartbeat, an echo of
            // one) rides on whatever packet goes anyway, and only
            // makes one of its own once the link has been quiet for a while.
            // A question goes every heartbeat interval until answered, and at once when
            // answers start to count for recovery.
            let ask_due = asking
                && (link
                    .last_sent
                    .is_none_or(|t| now >= t.add_micros(timing.heartbeat_us))
                    || self.read_from().is_some_and(|from| {
                        now >= from && link.last_sent.is_none_or(|t| t < from)
                    }));
            if asking && let Some(t) = link.last_sent {
                soonest.at(now, t.add_micros(timing.heartbeat_us));
            }
            let urgent = keepalive
                || answering
                || ask_due
                || probe_due
                || (gives_log
                    && (entries_from.is_some()
                        || (commit_news && self.journal.commit() > link.sent_commit)))
                || (reports && !forwards.is_empty())
                || (to_leader
                    && (!self.relay_forwards.is_empty()
                        || self.relay_facts
                        || acknowledges(self.self_fact(), link.sent_fact)))
                || (tells_all && self.self_fact() != link.sent_fact);
            let echo = to_leader && self.self_fact().3 != link.sent_fact.3;
            let lazy_wait = match (gives_log && self.election.hb > link.sent_hb, echo) {
                (true, _) => Some(timing.heartbeat_us),
                // An echo need only reach the leader a few times per election timeout.
                (false, true) => Some(2 * timing.heartbeat_us),
                (false, false) => None,
            };
            let lazy_due = lazy_wait.is_some_and(|wait| {
                let due = link.last_sent.map_or(now, |t| t.add_micros(wait));
                soonest.at(now, due);
                now >= due
            });
            if !urgent && !lazy_due {
                continue;
            }
            let got = link.got;
            let mut allowed = link.next_allowed(timing.batch_us);
            if to_leader && let Some(at) = self.leader_packet_at {
                // The leader paces the link: news waits for the answer to its latest
                // packet, or, if it has fallen quiet, a window and a half.
                allowed = match self.answer_at {
                    Some(answer) => answer,
                    None => allowed.max(at.add_micros(timing.batch_us + timing.batch_us / 2)),
                };
            }
            if now < allowed {
                soonest.at(now, allowed);
                continue;
            }
            let append = entries_from.map(|from| Append {
                prev: from,
                prev_term: self
                    .journal
                    .term_at(from)
                    .expect("from is below what we hold"),
                entries: self.journal.entries(
                    from,
                    self.verified(),
                    logs,
                    ENTRIES_MAX,
                    ENTRY_BYTES_MAX,
                ),
            });
            let mut packet_forwards = Vec::new();
            if reports {
                packet_forwards.extend(forwards.iter().cloned());
                forwards_sent |= !forwards.is_empty();
            }
            if to_leader {
                packet_forwards.append(&mut self.relay_forwards);
                leader_told = true;
                self.answer_at = None;
            }
            let sync = Sync {
                inc: self.incarnation,
                joining: !self.is_member(),
                ask: asking,
                term: self.election.term,
                leader: leader.map(|l| self.ids[l].clone()),
                hb: self.election.hb,
                seq: 0,
                got,
                facts: self.facts(),
                append,
                forwards: packet_forwards,
                relay_me: tells_all && deaf,
            };
            let fact = self.self_fact();
            let (commit, hb) = (self.journal.commit(), self.election.hb);
            let link = &mut self.links[peer];
            let seq = link.sent(now);
            link.answer_due = false;
            link.sent_commit = commit;
            link.sent_hb = hb;
            link.sent_fact = fact;
            if let Some(append) = &sync.append {
                if !pipelining {
                    link.pipeline_at = now;
                }
                link.sent_upto = LogIndex(append.prev.0 + append.entries.len() as u64);
            }
            if sync.ask {
                self.asked(peer, seq, now);
            }
            self.send(peer, Body::Sync(Box::new(Sync { seq, ..sync })), out);
        }
        if forwards_sent {
            self.sends.close_commit();
            for seq in due {
                if let Some(o) = self.sends.outstanding.get_mut(&seq) {
                    o.sent_at = Some(now);
                }
            }
        }
        if leader_told {
            self.relay_facts = false;
        }
        self.deadline = self.deadline_after(now, soonest);
    }

    /// When the node next needs a tick, given the packet times `flush` found.
    fn deadline_after(&self, now: Timestamp, mut soonest: Soonest) -> Option<Timestamp> {
        let timing = self.timing;
        if self.election.is_leader() {
            soonest.at(now, self.election.next_hb_at);
        } else {
            soonest.at(now, self.election.timeout_at);
        }
        if matches!(self.election.role, Role::PreCandidate | Role::Candidate) {
            soonest.at(now, self.asked_at.add_micros(timing.heartbeat_us));
        }
        if self.election.role == Role::Follower && self.election.leader.is_some() {
            for wait in [timing.suspect_us, timing.election_us] {
                if let Some(t) = self.election.hb_at {
                    soonest.at(now, t.add_micros(wait));
                }
            }
        }
        if let Some(request) = self.sends.held.front() {
            let cut_off = self.is_cut_off(now);
            soonest.at(now, request.received.add_micros(self.hold_us(cut_off)));
        }
        if let Some(from) = self.read_from() {
            soonest.at(now, from);
            // A joining node keeps a timer even when it asks no one (it has read the
            // term and waits to hear that term's leader): the fuzz target found one with
            // no deadline at all, which waits on its peers' packets to move again.
            soonest.at(now, now.add_micros(timing.heartbeat_us));
        }
        let unanswered = self
            .sends
            .outstanding
            .values()
            .filter(|o| o.asker.is_some());
        for o in unanswered {
            soonest.at(now, o.received.add_micros(timing.send_deadline_us));
        }
        if !self.has_live_leader(now) {
            // The node may find itself cut off when what it last heard grows old.
            soonest.at(now, self.started.add_micros(timing.election_us));
            for link in &self.links {
                if let Some(t) = link.heard_at {
                    soonest.at(now, t.add_micros(timing.election_us));
                }
            }
        }
        soonest.0
    }
}
