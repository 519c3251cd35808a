//! The run's timeline after init (spec: kafka.md 3.1): the main phase's start and end,
//! the nemesis schedule, the drain of in-flight operations, the heal and the quiet, and
//! the final polls until every thread has caught up or the phase is cut off.
//!
//! Invariants:
//! - Phases only move forward, in the order `Phase` lists them (some may be skipped).
//! - Partitions start only in the main phase; once the drain is over, the network is
//!   healed and every down node restarted before the quiet begins.

use super::{FINAL_POLL_GAP_MAX_US, Phase, Sim, seconds};
use crate::events::Event;
use crate::history::{NemesisEvent, NemesisKind};
use crate::nemesis::{self, Shape};
use crate::workload::Planned;
use replicator_core::{Key, NodeId};
use std::collections::BTreeMap;

impl Sim<'_> {
    pub(super) fn start_main(&mut self) {
        let now = self.now();
        self.phase = Phase::Main;
        self.trace.line(now, || "main phase".into());
        let limit = seconds(self.options.time_limit_s);
        self.events.after(limit, Event::MainEnd);
        if self.options.rate > 0.0 {
            self.events.after(0, Event::IssueOp);
        }
        self.events.after(0, Event::IssueCrash);
        if self.options.partition {
            // spec: kafka.md 6.2 — the first partition starts right at the beginning.
            self.events.after(0, Event::Nemesis);
        }
        if self.options.crash_nodes_s > 0.0 {
            let gap = self
                .crash_rng
                .below(seconds(self.options.crash_nodes_s).saturating_mul(2));
            self.events.after(gap, Event::NodeCrash);
        }
    }

    pub(super) fn on_main_end(&mut self) {
        if self.phase != Phase::Main {
            return;
        }
        let now = self.now();
        self.history.main_phase_end = now;
        self.phase = Phase::Drain;
        self.trace.line(now, || {
            "main phase over; waiting for in-flight operations".into()
        });
        self.maybe_drained();
    }

    /// spec: kafka.md 3.1 — once in-flight ops are done: heal, then 10 s of quiet
    /// (`--recovery-time`).
    pub(super) fn maybe_drained(&mut self) {
        if self.phase != Phase::Drain || self.threads.iter().any(|t| t.inflight.is_some()) {
            return;
        }
        let now = self.now();
        self.phase = Phase::Quiet;
        if self.options.partition {
            self.heal();
        }
        for i in 0..self.nodes.len() {
            if !self.nodes[i].up {
                self.restart(i);
            }
        }
        self.trace.line(now, || "waiting for recovery".into());
        self.events
            .after(seconds(self.options.recovery_s), Event::FinalStart);
    }

    fn heal(&mut self) {
        let now = self.now();
        self.net.set_partition(&[]);
        self.partitioned = false;
        self.history.nemesis.push(NemesisEvent {
            time: now,
            kind: NemesisKind::StopPartition,
        });
        self.trace
            .line(now, || "nemesis stop-partition: network healed".into());
    }

    /// spec: kafka.md 3.7 — per thread: crash, assign everything from 0, poll until caught
    /// up with the target; all cut off after 10 s (`--final-time-limit`).
    pub(super) fn on_final_start(&mut self) {
        let now = self.now();
        self.target = self.generator.final_target();
        if self.target.is_empty() {
            self.trace.line(now, || "nothing to poll for; done".into());
            self.phase = Phase::Done;
            return;
        }
        self.phase = Phase::Final;
        self.trace.line(now, || {
            format!("final polls for {} keys", self.target.len())
        });
        self.events
            .after(seconds(self.options.final_limit_s), Event::FinalCutoff);
        let keys: Vec<Key> = self.target.keys().cloned().collect();
        for t in 0..self.threads.len() {
            self.issue(t, Planned::Crash, true);
            self.issue(
                t,
                Planned::Assign {
                    keys: keys.clone(),
                    seek: true,
                },
                true,
            );
            self.threads[t].next_poll_at = now;
            self.events.after(0, Event::FinalPoll(t));
        }
    }

    pub(super) fn on_final_poll(&mut self, t: usize) {
        let thread = &self.threads[t];
        if self.phase != Phase::Final
            || self.final_cut
            || thread.caught_up
            || thread.inflight.is_some()
        {
            return;
        }
        let now = self.now();
        if now < thread.next_poll_at {
            self.events.at(thread.next_poll_at, Event::FinalPoll(t));
            return;
        }
        let gap = self.sched_rng.below(FINAL_POLL_GAP_MAX_US);
        self.threads[t].next_poll_at = now.saturating_add(gap);
        self.issue(t, Planned::Poll, true);
    }

    pub(super) fn maybe_finished(&mut self) {
        if self.phase != Phase::Final || self.threads.iter().any(|t| t.inflight.is_some()) {
            return;
        }
        if self.final_cut || self.threads.iter().all(|t| t.caught_up) {
            let now = self.now();
            self.trace.line(now, || "final polls over".into());
            self.phase = Phase::Done;
        }
    }

    /// spec: kafka.md 6.2 — alternate start/stop, gaps uniform on [0, 2·interval).
    pub(super) fn on_nemesis(&mut self) {
        if self.phase != Phase::Main {
            return;
        }
        let now = self.now();
        if self.partitioned {
            self.heal();
        } else {
            let shape = Shape::draw(&mut self.nemesis_rng);
            let cut = nemesis::cut(shape, self.nodes.len(), &mut self.nemesis_rng);
            self.net.set_partition(&cut);
            self.partitioned = true;
            let mut isolated: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
            for &(to, from) in &cut {
                isolated
                    .entry(self.node_ids[to].clone())
                    .or_default()
                    .push(self.node_ids[from].clone());
            }
            self.trace.line(now, || {
                format!("nemesis start-partition {} {isolated:?}", shape.name())
            });
            self.history.nemesis.push(NemesisEvent {
                time: now,
                kind: NemesisKind::StartPartition {
                    shape: shape.name().into(),
                    isolated,
                },
            });
        }
        let gap = self
            .nemesis_rng
            .below(seconds(self.options.nemesis_interval_s).saturating_mul(2))
            .max(1);
        self.events.after(gap, Event::Nemesis);
    }
}
