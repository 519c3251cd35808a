//! Scenario tests for the checker: for every anomaly, a history that must produce it (with
//! its key fields) and a near miss that must not.

use super::cases::{Case, names};
use super::testkit::Hb;
use super::{Report, check};
use crate::history::{OpType, Val, ViolationKind, WireViolation};
use replicator_core::{Key, NodeId};

fn v(n: i64) -> Val {
    Val::Int(n)
}

fn has(report: &Report, name: &str) -> bool {
    report.anomaly_names().contains(&name) || report.strict_names().contains(&name)
}

/// Five acknowledged messages 1..=5 at offsets 0..=4 of `key`, sent by process 9.
fn five(h: &mut Hb, key: &str) {
    for i in 0..5u64 {
        h.send(9, key, i as i64 + 1, i);
    }
}

#[test]
fn a_clean_history_looks_good() {
    let mut h = Hb::new();
    h.assign(0, &["k"]);
    five(&mut h, "k");
    h.poll(0, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    h.poll(0, &[("k", &[(3, 4), (4, 5)])]);
    let r = check(&h.build());
    assert!(r.anomaly_names().is_empty(), "{r}");
    assert!(r.strict_names().is_empty(), "{r}");
    assert!(r.is_valid() && r.is_strict_valid());
    assert!(r.to_string().ends_with("Everything looks good!"));
    assert_eq!(r.to_json()["valid?"], true);
}

#[test]
fn inconsistent_offsets_one_offset_two_values() {
    let mut h = Hb::new();
    h.send(0, "5", 3, 2)
        .send(1, "5", 4, 2)
        .poll(2, &[("5", &[(2, 3)])]);
    let r = check(&h.build());
    assert!(!r.is_valid());
    assert_eq!(
        r.cases(names::INCONSISTENT_OFFSETS),
        [Case::InconsistentOffsets {
            key: Key::new("5"),
            offset: 2,
            index: 0,
            values: vec![v(3), v(4)],
        }]
    );
}

#[test]
fn sparse_offsets_are_not_inconsistent() {
    let mut h = Hb::new();
    h.send(0, "5", 3, 2).send(0, "5", 4, 7);
    h.poll(1, &[("5", &[(2, 3), (7, 4)])]);
    let r = check(&h.build());
    assert!(r.anomaly_names().is_empty(), "{r}");
}

#[test]
fn duplicate_one_value_two_offsets() {
    let mut h = Hb::new();
    h.send(0, "k", 9, 1).poll(1, &[("k", &[(3, 9)])]);
    let r = check(&h.build());
    assert_eq!(
        r.cases(names::DUPLICATE),
        [Case::Duplicate {
            key: Key::new("k"),
            value: v(9),
            count: 2,
            offsets: vec![1, 3],
        }]
    );
}

#[test]
fn the_same_value_in_two_keys_is_no_duplicate() {
    let mut h = Hb::new();
    h.send(0, "a", 9, 0).send(0, "b", 9, 0);
    h.poll(1, &[("a", &[(0, 9)]), ("b", &[(0, 9)])]);
    let r = check(&h.build());
    assert!(r.anomaly_names().is_empty(), "{r}");
}

#[test]
fn g1a_reads_a_failed_send() {
    let mut h = Hb::new();
    h.send_fail(0, "4", 6).poll(1, &[("4", &[(0, 6)])]);
    let r = check(&h.build());
    let cases = r.cases(names::G1A);
    assert_eq!(cases.len(), 1, "{r}");
    let Case::G1a {
        key,
        value,
        writer,
        reader,
    } = &cases[0]
    else {
        panic!("{cases:?}")
    };
    assert_eq!((key.as_str(), value), ("4", &v(6)));
    assert_eq!(writer.as_ref().map(|w| w.ty), Some(OpType::Fail));
    assert_eq!(reader.process, 1);
}

#[test]
fn reading_an_indefinite_send_is_not_g1a() {
    let mut h = Hb::new();
    h.send_info(0, "4", 6).send(0, "4", 7, 1);
    h.poll(1, &[("4", &[(0, 6), (1, 7)])]);
    let r = check(&h.build());
    assert!(!has(&r, names::G1A), "{r}");
    assert!(r.is_valid(), "{r}");
}

#[test]
fn lost_write_below_a_read_value() {
    let mut h = Hb::new();
    h.send(0, "7", 1, 0).send(0, "7", 2, 1).send(0, "7", 3, 2);
    h.poll(1, &[("7", &[(2, 3)])]);
    let r = check(&h.build());
    let lost: Vec<(Val, Option<usize>, i64)> = r
        .cases(names::LOST_WRITE)
        .iter()
        .map(|c| match c {
            Case::LostWrite {
                value,
                index,
                max_read_index,
                max_read,
                ..
            } => {
                assert_eq!(max_read.as_ref().map(|o| o.process), Some(1));
                (value.clone(), *index, *max_read_index)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lost, [(v(1), Some(0), 2), (v(2), Some(1), 2)]);
    // The text ends with the anomalies and their first examples; the JSON has Jepsen's
    // `{:count :errs}` shape under the workload's errors.
    let text = r.to_string();
    assert!(text.contains("lost-write: 2 case(s)"), "{text}");
    assert!(text.ends_with("Analysis invalid!"), "{text}");
    let json = r.to_json();
    assert_eq!(json["workload"]["errors"]["lost-write"]["count"], 2);
    assert_eq!(
        json["workload"]["errors"]["lost-write"]["errs"][0]["value"],
        1
    );
    assert_eq!(json["workload"]["bad-error-types"][0], "lost-write");
    assert_eq!(json["stats"]["by-f"]["send"]["ok-count"], 3);
    assert_eq!(json["valid?"], false);
}

#[test]
fn a_final_poll_that_finds_the_writes_clears_them() {
    let mut h = Hb::new();
    h.send(0, "7", 1, 0).send(0, "7", 2, 1).send(0, "7", 3, 2);
    h.poll(1, &[("7", &[(2, 3)])]);
    h.crash(2).seek(4, &["7"]);
    h.poll(4, &[("7", &[(0, 1), (1, 2), (2, 3)])]);
    let r = check(&h.build());
    assert!(!has(&r, names::LOST_WRITE), "{r}");
    assert!(!has(&r, names::UNSEEN), "{r}");
}

#[test]
fn unseen_reports_the_last_snapshot() {
    let mut h = Hb::new();
    h.send(0, "1", 1, 0).poll(1, &[("1", &[(0, 1)])]);
    h.send(0, "3", 5, 4);
    let r = check(&h.build());
    let [
        Case::Unseen {
            unseen, messages, ..
        },
    ] = r.cases(names::UNSEEN)
    else {
        panic!("{r}")
    };
    assert_eq!(unseen, &[(Key::new("3"), 1)]);
    assert_eq!(messages, &[(Key::new("3"), vec![v(5)])]);
}

#[test]
fn unseen_is_cleared_by_a_later_poll() {
    let mut h = Hb::new();
    h.send(0, "3", 5, 4).poll(1, &[("3", &[(4, 5)])]);
    let r = check(&h.build());
    assert!(r.anomaly_names().is_empty(), "{r}");
}

#[test]
fn unseen_keeps_jepsens_merge_quirk() {
    // The last op is the first to mention key "q", whose only send was indefinite: Jepsen's
    // merge keeps the polled set as "unseen" in that final snapshot.
    let mut h = Hb::new();
    h.send(0, "1", 1, 0).poll(1, &[("1", &[(0, 1)])]);
    h.send_info(0, "q", 1).poll(1, &[("q", &[(0, 1)])]);
    let r = check(&h.build());
    let [Case::Unseen { unseen, .. }] = r.cases(names::UNSEEN) else {
        panic!("{r}")
    };
    assert_eq!(unseen, &[(Key::new("q"), 1)]);
    // Any later `Ok` op empties that snapshot again.
    h.send(0, "1", 2, 1).poll(1, &[("1", &[(1, 2)])]);
    let r = check(&h.build());
    assert!(!has(&r, names::UNSEEN), "{r}");
}

#[test]
fn an_indefinite_send_seen_only_by_a_crashed_poll_is_not_lost() {
    // Jepsen builds the log from polls of every type; a value whose send was `Info` and
    // that no `Ok` poll read need not have happened, so it is never a lost write.
    let mut h = Hb::new();
    h.send_info(0, "k", 1);
    h.invoke_poll(5);
    let mut msgs = crate::history::PollResult::new();
    msgs.insert(Key::new("k"), vec![(0, v(1))]);
    let value = crate::history::OpValue::Poll {
        msgs: Some(msgs),
        committed: None,
        commit_unacknowledged: None,
    };
    h.push(5, OpType::Info, crate::history::F::Poll, value);
    h.send(1, "k", 2, 1).poll(2, &[("k", &[(1, 2)])]);
    let r = check(&h.build());
    assert!(!has(&r, names::LOST_WRITE), "{r}");
    // The same shape with an acknowledged send of 1 is a lost write.
    let mut h = Hb::new();
    h.send(0, "k", 1, 0)
        .send(1, "k", 2, 1)
        .poll(2, &[("k", &[(1, 2)])]);
    assert!(has(&check(&h.build()), names::LOST_WRITE));
}

#[test]
fn poll_skip_between_two_polls_of_a_process() {
    let mut h = Hb::new();
    for (o, val) in (4..=8).zip(5..=9) {
        h.send(1, "56", val, o);
    }
    h.poll(0, &[("56", &[(4, 5), (5, 6)])]);
    h.poll(0, &[("56", &[(8, 9)])]);
    let r = check(&h.build());
    let [
        Case::Order {
            key,
            delta,
            skipped,
            ops,
            ..
        },
    ] = r.cases(names::POLL_SKIP)
    else {
        panic!("{r}")
    };
    assert_eq!((key.as_str(), *delta), ("56", 3));
    assert_eq!(skipped.as_deref(), Some(&[v(7), v(8)][..]));
    assert_eq!(ops.len(), 2);
}

#[test]
fn a_gap_where_the_log_has_no_message_is_no_skip() {
    let mut h = Hb::new();
    h.send(1, "56", 5, 4)
        .send(1, "56", 6, 5)
        .send(1, "56", 9, 8);
    h.poll(0, &[("56", &[(4, 5), (5, 6)])]);
    h.poll(0, &[("56", &[(8, 9)])]);
    let r = check(&h.build());
    assert!(r.anomaly_names().is_empty(), "{r}");
}

#[test]
fn an_empty_list_resets_skip_tracking_but_not_the_strict_check() {
    let mut h = Hb::new();
    five(&mut h, "k");
    h.assign(0, &["k"]);
    h.poll(0, &[("k", &[(0, 1), (1, 2)])]);
    h.poll(0, &[("k", &[])]);
    h.poll(0, &[("k", &[(4, 5)])]);
    let r = check(&h.build());
    // spec: kafka.md 4.5 — Jepsen's poll-skip misses it; lost-write still sees 3 and 4.
    assert!(!has(&r, names::POLL_SKIP), "{r}");
    assert!(has(&r, names::LOST_WRITE), "{r}");
    let [
        Case::PollStart {
            requested,
            first_offset,
            skipped,
            ..
        },
    ] = r.cases(names::POLL_STARTS_PAST_MESSAGE)
    else {
        panic!("{r}")
    };
    assert_eq!((*requested, *first_offset), (2, 4));
    assert_eq!(skipped, &[(2, v(3)), (3, v(4))]);
}

#[test]
fn nonmonotonic_poll_goes_back() {
    let mut h = Hb::new();
    for (o, val) in (1..=4).zip(1..=4) {
        h.send(1, "k", val, o);
    }
    h.assign(0, &["k"]);
    h.poll(0, &[("k", &[(1, 1), (2, 2), (3, 3)])]);
    h.poll(0, &[("k", &[(2, 2), (3, 3), (4, 4)])]);
    let r = check(&h.build());
    let [Case::Order { values, delta, .. }] = r.cases(names::NONMONOTONIC_POLL) else {
        panic!("{r}")
    };
    assert_eq!((values.clone(), *delta), (Some([v(3), v(2)]), -1));
    // The reply started below the requested offset 4: our strict check names it too.
    assert!(has(&r, names::POLL_BELOW_REQUESTED), "{r}");
}

#[test]
fn rereading_the_committed_offset_after_a_new_assign_is_fine() {
    let mut h = Hb::new();
    five(&mut h, "k");
    h.assign(0, &["k"]);
    h.poll(0, &[("k", &[(0, 1), (1, 2)])]);
    // Dropping "k" forgets it; the client then restarts at the committed offset 1.
    h.assign(0, &["j"]);
    h.assign_listed(0, &["k"], &[("k", 1)]);
    h.poll(0, &[("k", &[(1, 2), (2, 3), (3, 4), (4, 5)])]);
    let r = check(&h.build());
    assert!(r.anomaly_names().is_empty(), "{r}");
    assert!(r.strict_names().is_empty(), "{r}");
}

#[test]
fn int_poll_skip_inside_one_reply() {
    let mut h = Hb::new();
    h.send(0, "3", 1, 1).send(0, "3", 2, 2).send(0, "3", 3, 3);
    h.poll(1, &[("3", &[(1, 1), (3, 3)])]);
    let r = check(&h.build());
    let [
        Case::Order {
            values,
            delta,
            skipped,
            ..
        },
    ] = r.cases(names::INT_POLL_SKIP)
    else {
        panic!("{r}")
    };
    assert_eq!(values, &Some([v(1), v(3)]));
    assert_eq!((*delta, skipped.as_deref()), (2, Some(&[v(2)][..])));
}

#[test]
fn int_poll_over_a_true_gap_is_fine() {
    let mut h = Hb::new();
    h.send(0, "3", 1, 1).send(0, "3", 3, 3);
    h.poll(1, &[("3", &[(1, 1), (3, 3)])]);
    let r = check(&h.build());
    assert!(r.anomaly_names().is_empty(), "{r}");
}

#[test]
fn int_nonmonotonic_poll_out_of_order_or_repeated() {
    let mut h = Hb::new();
    h.send(0, "3", 1, 1).send(0, "3", 2, 2).send(0, "3", 3, 3);
    h.poll(1, &[("3", &[(3, 3), (1, 1)])]);
    h.poll(2, &[("3", &[(1, 1), (2, 2), (3, 3), (3, 3)])]);
    let r = check(&h.build());
    let deltas: Vec<i64> = r
        .cases(names::INT_NONMONOTONIC_POLL)
        .iter()
        .map(Case::sort_key)
        .collect();
    assert_eq!(deltas, [-2, 0]);
}

#[test]
fn nonmonotonic_send_within_a_process() {
    let mut h = Hb::new();
    h.send(2, "9", 3, 5).send(2, "9", 4, 4);
    h.poll(0, &[("9", &[(4, 4), (5, 3)])]);
    let r = check(&h.build());
    let [
        Case::Order {
            values, delta, ops, ..
        },
    ] = r.cases(names::NONMONOTONIC_SEND)
    else {
        panic!("{r}")
    };
    assert_eq!((values.clone(), *delta), (Some([v(3), v(4)]), -1));
    assert!(ops.iter().all(|o| o.process == 2));
}

#[test]
fn an_assign_without_the_key_resets_send_tracking() {
    let mut h = Hb::new();
    h.send(2, "9", 3, 5);
    h.assign(2, &["1"]);
    h.send(2, "9", 4, 4);
    h.poll(0, &[("9", &[(4, 4), (5, 3)])]);
    let r = check(&h.build());
    assert!(!has(&r, names::NONMONOTONIC_SEND), "{r}");
    // Sends from two processes may land in any order.
    let mut h = Hb::new();
    h.send(2, "9", 3, 5).send(3, "9", 4, 4);
    h.poll(0, &[("9", &[(4, 4), (5, 3)])]);
    assert!(!has(&check(&h.build()), names::NONMONOTONIC_SEND));
}

#[test]
fn g1c_realtime_poll_before_its_send() {
    let mut h = Hb::new();
    h.poll(0, &[("2", &[(0, 5)])]);
    h.send(1, "2", 5, 0);
    let r = check(&h.build());
    let [
        Case::G1cRealtime {
            key,
            value,
            writer,
            reader,
        },
    ] = r.cases(names::G1C_REALTIME)
    else {
        panic!("{r}")
    };
    assert_eq!((key.as_str(), value), ("2", &v(5)));
    assert!(reader.time < writer.time);
    assert!(!r.is_valid());
}

#[test]
fn a_poll_concurrent_with_its_send_is_no_cycle() {
    let mut h = Hb::new();
    h.invoke_send(1, "2", 5);
    h.poll(0, &[("2", &[(0, 5)])]);
    h.complete_send(1, "2", 5, OpType::Ok, Some(0));
    let r = check(&h.build());
    assert!(r.anomaly_names().is_empty(), "{r}");
}

#[test]
fn empty_transaction_graph() {
    let mut h = Hb::new();
    h.assign(0, &["k"]);
    let r = check(&h.build());
    assert_eq!(r.anomaly_names(), [names::EMPTY_TRANSACTION_GRAPH]);
    assert!(!r.is_valid());
    // Two sequential sends give a realtime edge: the graph is not empty.
    let mut h = Hb::new();
    h.send(0, "k", 1, 0)
        .send(0, "k", 2, 1)
        .poll(1, &[("k", &[(0, 1), (1, 2)])]);
    assert!(!has(&check(&h.build()), names::EMPTY_TRANSACTION_GRAPH));
}

#[test]
fn phantom_value_is_reported_not_thrown() {
    let mut h = Hb::new();
    h.send(0, "k", 1, 0).poll(1, &[("k", &[(0, 1), (1, 99)])]);
    let r = check(&h.build());
    let [Case::PhantomValue { key, value, .. }] = r.cases(names::PHANTOM_VALUE) else {
        panic!("{r}")
    };
    assert_eq!((key.as_str(), value), ("k", &v(99)));
    assert!(!r.is_valid());
    assert_eq!(r.maelstrom_unknown().len(), 1);
}

#[test]
fn a_value_sent_to_both_keys_is_no_phantom() {
    let mut h = Hb::new();
    h.send(0, "a", 1, 0).send(0, "b", 1, 0);
    h.poll(1, &[("a", &[(0, 1)]), ("b", &[(0, 1)])]);
    assert!(check(&h.build()).anomaly_names().is_empty());
}

#[test]
fn stats_need_an_ok_per_function() {
    let mut h = Hb::new();
    h.send_fail(0, "k", 1)
        .send_fail(0, "k", 2)
        .poll(1, &[])
        .crash(2);
    let r = check(&h.build());
    assert!(!r.stats.is_valid());
    assert_eq!(r.stats.invalid_fs(), ["send"]);
    assert!(!r.is_valid());
    let send = r.stats.by_f["send"];
    assert_eq!((send.count, send.ok, send.fail, send.info), (2, 0, 2, 0));
    // Every op completes 1 ms after its invocation in the builder.
    assert_eq!(r.stats.latency["all"].max, 1000);
    assert_eq!(r.stats.invocations, 4);
    assert_eq!(r.stats.ok_fraction, Some(0.25));
}

#[test]
fn msgs_per_op_divides_by_invocations() {
    let mut h = Hb::new();
    h.send(0, "k", 1, 0).poll(1, &[("k", &[(0, 1)])]);
    h.history_mut().net.all.msg_count = 10;
    h.history_mut().net.servers.msg_count = 3;
    let r = check(&h.build());
    assert_eq!(r.stats.msgs_per_op_all, Some(5.0));
    assert_eq!(r.stats.msgs_per_op_servers, Some(1.5));
}

#[test]
fn committed_offsets_never_go_back_on_a_node() {
    let mut h = Hb::new();
    five(&mut h, "k");
    h.on("n0").assign(0, &["k"]);
    h.poll(0, &[("k", &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])]);
    h.assign_listed(1, &["k"], &[("k", 2)]);
    let r = check(&h.build());
    assert!(r.is_valid(), "{r}");
    assert!(!r.is_strict_valid());
    let [
        Case::CommittedOffsetRegression {
            node,
            returned,
            floor,
            floor_source,
            ..
        },
    ] = r.cases(names::COMMITTED_OFFSET_REGRESSION)
    else {
        panic!("{r}")
    };
    assert_eq!((node.as_str(), *returned, *floor), ("n0", Some(2), 4));
    assert_eq!(*floor_source, "commit");

    // A list that goes below an earlier list of the same node.
    let mut h = Hb::new();
    five(&mut h, "k");
    h.assign_listed(0, &["k"], &[("k", 3)]);
    h.assign_listed(1, &["k"], &[]);
    let r = check(&h.build());
    let [
        Case::CommittedOffsetRegression {
            returned,
            floor_source,
            ..
        },
    ] = r.cases(names::COMMITTED_OFFSET_REGRESSION)
    else {
        panic!("{r}")
    };
    assert_eq!((*returned, *floor_source), (None, "list"));
}

#[test]
fn a_crash_ends_what_a_node_must_remember_of_its_commits() {
    // n0 acknowledges a commit of 4, crashes before passing it on, and after its restart
    // lists 2: the commit was a max-register spread without blocking, and a
    // crash may take one that no majority held yet. Another node's crash changes nothing.
    let history = |crashed: Option<&str>| {
        let mut h = Hb::new();
        five(&mut h, "k");
        h.on("n0").assign(0, &["k"]);
        h.poll(0, &[("k", &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])]);
        if let Some(node) = crashed {
            h.node_crash(node);
        }
        h.assign_listed(1, &["k"], &[("k", 2)]);
        // What the new life lists binds it in turn.
        h.assign_listed(2, &["k"], &[("k", 1)]);
        check(&h.build())
    };
    let r = history(Some("n0"));
    let [
        Case::CommittedOffsetRegression {
            returned,
            floor,
            floor_source,
            ..
        },
    ] = r.cases(names::COMMITTED_OFFSET_REGRESSION)
    else {
        panic!("{r}")
    };
    assert_eq!((*returned, *floor, *floor_source), (Some(1), 2, "list"));
    let r = history(Some("n1"));
    assert_eq!(r.cases(names::COMMITTED_OFFSET_REGRESSION).len(), 2, "{r}");
}

#[test]
fn concurrent_or_cross_node_commit_lag_is_no_regression() {
    let mut h = Hb::new();
    five(&mut h, "k");
    h.assign(0, &["k"]);
    // Process 1 asks before process 0's commit is acknowledged.
    h.push(
        1,
        OpType::Invoke,
        crate::history::F::Assign,
        assign_value(&["k"], None),
    );
    h.poll(0, &[("k", &[(0, 1), (1, 2)])]);
    h.push(
        1,
        OpType::Ok,
        crate::history::F::Assign,
        assign_value(&["k"], Some(0)),
    );
    // Node n1 has not heard of n0's commit yet: a figure, not an anomaly.
    h.on("n1").assign_listed(2, &["k"], &[]);
    let r = check(&h.build());
    assert!(r.strict_names().is_empty(), "{r}");
    assert_eq!(r.commit_staleness.stale, 1);
    assert_eq!(r.commit_staleness.worst_deficit, 2);
}

fn assign_value(keys: &[&str], listed: Option<u64>) -> crate::history::OpValue {
    crate::history::OpValue::Assign {
        keys: keys.iter().map(|k| Key::new(k)).collect(),
        seek_to_beginning: false,
        committed: listed.map(|o| keys.iter().map(|k| (Key::new(k), o)).collect()),
    }
}

#[test]
fn wire_violations_are_strict_failures() {
    let mut h = Hb::new();
    h.send(0, "k", 1, 0).poll(1, &[("k", &[(0, 1)])]);
    for kind in [ViolationKind::MalformedReply, ViolationKind::ReplyToNobody] {
        h.history_mut().violations.push(WireViolation {
            time: 5,
            node: NodeId::new("n0"),
            kind,
            detail: "{\"type\":\"send_ok\",\"offset\":3.0}".to_string(),
        });
    }
    let r = check(&h.build());
    assert!(r.is_valid());
    assert_eq!(
        r.strict_names(),
        [names::MALFORMED_REPLY, names::REPLY_TO_NOBODY]
    );
    assert!(!r.to_string().ends_with("Everything looks good!"));
}

#[test]
fn worst_realtime_lag_counts_from_when_the_next_offset_was_known() {
    let mut h = Hb::new();
    h.assign(0, &["k"]);
    h.send(1, "k", 1, 0); // Completes at 4 ms: offset 0 exists from then on.
    h.poll(0, &[("k", &[])]); // Invoked at 5 ms, still at offset -1.
    h.poll(0, &[("k", &[(0, 1)])]);
    let r = check(&h.build());
    let lag = &r.worst_realtime_lag;
    assert_eq!((lag.lag, lag.time, lag.process), (1000, 5000, 0));
    assert_eq!(lag.key.as_ref().map(Key::as_str), Some("k"));
}

#[test]
fn info_causes_are_distinct_and_ordered() {
    let mut h = Hb::new();
    h.send_info(0, "k", 1)
        .send_info(1, "k", 2)
        .send(2, "k", 3, 0);
    h.poll(2, &[("k", &[(0, 3)])]);
    let r = check(&h.build());
    assert_eq!(r.info_txn_causes, ["net-timeout"]);
}

#[test]
fn a_key_only_polled_empty_is_flagged_as_maelstrom_unknown() {
    let mut h = Hb::new();
    h.send(1, "k", 1, 0)
        .poll(0, &[("k", &[(0, 1)]), ("z", &[])]);
    let r = check(&h.build());
    assert!(r.is_valid(), "{r}");
    assert_eq!(r.maelstrom_unknown().len(), 1);
}

#[test]
fn reports_are_deterministic() {
    let mut h = Hb::new();
    h.send(0, "5", 3, 2).send(1, "5", 4, 2).send_fail(2, "a", 1);
    h.poll(3, &[("5", &[(2, 3), (1, 3)]), ("a", &[(0, 1)])]);
    let history = h.build();
    let (a, b) = (check(&history), check(&history));
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a.to_json(), b.to_json());
    assert!(a.anomaly_names().len() >= 3, "{a}");
}

#[test]
fn a_failed_commit_shows_as_poll_skip_only() {
    // spec: kafka.md 2.4 — the client moved past offsets 1 and 2 in a poll whose commit
    // failed definitely; the poll's data is gone from the history.
    let mut h = Hb::new();
    five(&mut h, "k");
    h.assign(0, &["k"]);
    h.poll(0, &[("k", &[(0, 1)])]);
    h.poll_fail(0);
    h.poll(0, &[("k", &[(3, 4), (4, 5)])]);
    h.crash(1).seek(3, &["k"]);
    h.poll(3, &[("k", &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])]);
    let r = check(&h.build());
    assert_eq!(r.anomaly_names(), [names::POLL_SKIP], "{r}");
    // After the failed poll the client's position is unknown: no strict claim is made.
    assert!(r.strict_names().is_empty(), "{r}");
}

#[test]
fn a_large_clean_history_checks_clean() {
    // 200 keys × 16 sends, four processes polling everything in order (6,500 entries):
    // a scale check (quadratic work would show here) and a guard against false alarms.
    let mut h = Hb::new();
    let keys: Vec<String> = (0..200).map(|k| k.to_string()).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    for p in 0..4 {
        h.assign(p, &key_refs);
    }
    for round in 0..16u64 {
        for (i, key) in key_refs.iter().enumerate() {
            h.send(10 + i as u64 % 4, key, round as i64 + 1, round);
        }
        for p in 0..4 {
            let pairs: Vec<[(u64, i64); 1]> = key_refs
                .iter()
                .map(|_| [(round, round as i64 + 1)])
                .collect();
            let msgs: Vec<(&str, &[(u64, i64)])> = key_refs
                .iter()
                .zip(&pairs)
                .map(|(k, p)| (*k, &p[..]))
                .collect();
            h.poll(p, &msgs);
        }
    }
    let history = h.build();
    assert!(history.ops.len() > 6_000);
    let r = check(&history);
    assert!(r.is_strict_valid(), "{r}");
}

#[test]
fn a_new_key_starts_at_the_listed_committed_offset() {
    let mut h = Hb::new();
    five(&mut h, "k");
    // The node lists 3 as committed: starting at 3 is right, and starting at 4 skips 4.
    h.assign_listed(0, &["k"], &[("k", 3)]);
    h.poll(0, &[("k", &[(3, 4), (4, 5)])]);
    h.assign_listed(1, &["k"], &[("k", 3)]);
    h.poll(1, &[("k", &[(4, 5)])]);
    let r = check(&h.build());
    let [
        Case::PollStart {
            requested,
            first_offset,
            op,
            ..
        },
    ] = r.cases(names::POLL_STARTS_PAST_MESSAGE)
    else {
        panic!("{r}")
    };
    assert_eq!((*requested, *first_offset, op.process), (3, 4, 1));
}

/// Random, messy histories: huge and repeated offsets, values under the wrong keys,
/// completions without invocations, polls of every type carrying data. The checker must
/// never panic and must give the same report twice.
#[test]
fn random_histories_never_panic() {
    use crate::history::{F, OpValue, PollResult};
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};

    let types = [OpType::Invoke, OpType::Ok, OpType::Info, OpType::Fail];
    for seed in 0..200u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut pick = |n: u64| rng.next_u64() % n;
        let mut h = Hb::new();
        let offset = |x: u64| match x % 5 {
            0 => u64::MAX - x % 3,
            1 => i64::MAX as u64,
            _ => x % 8,
        };
        for _ in 0..pick(60) {
            let p = pick(4);
            let ty = types[pick(4) as usize];
            let key = Key::new(["a", "b", "c"][pick(3) as usize]);
            let (f, value) = match pick(4) {
                0 => {
                    let o = offset(pick(1000));
                    let offset = (pick(3) > 0).then_some(o);
                    (
                        F::Send,
                        OpValue::Send {
                            key,
                            value: v(pick(6) as i64),
                            offset,
                        },
                    )
                }
                1 => {
                    let mut msgs = PollResult::new();
                    let pairs = (0..pick(4)).map(|_| (offset(pick(1000)), v(pick(6) as i64)));
                    msgs.insert(key.clone(), pairs.collect());
                    let committed = Some([(key, offset(pick(1000)))].into_iter().collect());
                    (
                        F::Poll,
                        OpValue::Poll {
                            msgs: Some(msgs),
                            commit_unacknowledged: (pick(2) == 0)
                                .then(|| committed.clone())
                                .flatten(),
                            committed,
                        },
                    )
                }
                2 => {
                    let committed = Some([(key.clone(), offset(pick(1000)))].into_iter().collect());
                    let value = OpValue::Assign {
                        keys: vec![key],
                        seek_to_beginning: pick(2) == 0,
                        committed,
                    };
                    (F::Assign, value)
                }
                _ => (F::Crash, OpValue::Crash),
            };
            h.push(p, ty, f, value);
        }
        let history = h.build();
        let (a, b) = (check(&history), check(&history));
        assert_eq!(a.to_string(), b.to_string(), "seed {seed}");
        assert_eq!(a.to_json(), b.to_json(), "seed {seed}");
    }
}

#[test]
fn op_values_are_cut_at_512_characters_and_rendered_for_every_kept_case() {
    // One poll of 400 pairs, read twice by the same process: every kept case names it.
    let mut h = Hb::new();
    h.assign(0, &["k"]);
    let pairs: Vec<(u64, i64)> = (0..400).map(|o| (o, o as i64 + 1)).collect();
    for &(o, val) in &pairs {
        h.send(9, "k", val, o);
    }
    h.poll(0, &[("k", &pairs)]);
    h.poll(0, &[("k", &pairs)]);
    let history = h.build();
    let r = check(&history);
    let cases = r.cases(names::NONMONOTONIC_POLL);
    assert_eq!(cases.len(), 1, "{r}");
    let Case::Order { ops, .. } = &cases[0] else {
        panic!("{cases:?}")
    };
    for op in ops {
        assert!(
            op.value.starts_with("poll {\"k\" [[0 1] [1 2] [2 3]"),
            "{op}"
        );
        assert!(op.value.ends_with(" …"), "{op}");
        assert_eq!(op.value.chars().count(), 512 + 2, "{op}");
    }
    // A short op is rendered whole, and every op of every kept case is rendered.
    assert_eq!(super::OpRef::of(&history.ops[1]).value, "assign [\"k\"]");
    let json = r.to_json().to_string();
    assert!(
        !json.contains("\"value\":\"\""),
        "an op was left unrendered: {json}"
    );
}

#[test]
fn a_listed_offset_above_every_commit_sent_before_is_never_committed() {
    let mut h = Hb::new();
    five(&mut h, "k");
    h.assign(0, &["k"]);
    h.poll(0, &[("k", &[(0, 1), (1, 2)])]); // Commits 1.
    // The node lists 3 for "k" and 0 for "j", which nobody ever committed.
    h.assign_listed(1, &["k", "j"], &[("k", 3), ("j", 0)]);
    // Another process reads the rest, committing 4, but only after that list completed.
    h.poll(2, &[("k", &[(2, 3), (3, 4), (4, 5)])]);
    let r = check(&h.build());
    assert!(r.is_valid(), "{r}");
    assert!(!r.is_strict_valid());
    let cases = r.cases(names::LISTED_OFFSET_NEVER_COMMITTED);
    let found: Vec<(&str, u64, Option<u64>)> = cases
        .iter()
        .map(|c| match c {
            Case::ListedOffsetNeverCommitted {
                key,
                listed,
                highest_commit,
                commit_op,
                ..
            } => {
                assert_eq!(
                    commit_op.as_ref().map(|o| o.process),
                    highest_commit.map(|_| 0)
                );
                (key.as_str(), *listed, *highest_commit)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(found, [("j", 0, None), ("k", 3, Some(1))]);
    assert!(
        r.to_string()
            .contains("listed-offset-never-committed: 2 case(s)"),
        "{r}"
    );
    // Listing exactly the highest commit, or less, is fine.
    let mut h = Hb::new();
    five(&mut h, "k");
    h.assign(0, &["k"]);
    h.poll(0, &[("k", &[(0, 1), (1, 2)])]);
    h.assign_listed(1, &["k"], &[("k", 1)]);
    h.assign_listed(2, &["k"], &[("k", 0)]);
    assert!(!has(
        &check(&h.build()),
        names::LISTED_OFFSET_NEVER_COMMITTED
    ));
}

#[test]
fn a_commit_counts_from_its_invocation_acknowledged_or_not() {
    // The commit of 3 timed out (the poll is `Info`), but the node applied it.
    let mut h = Hb::new();
    five(&mut h, "k");
    h.poll_commit_unacknowledged(0, &[("k", 3)]);
    h.assign_listed(1, &["k"], &[("k", 3)]);
    let r = check(&h.build());
    assert!(r.strict_names().is_empty(), "{r}");
    // A commit whose poll was invoked before the list completed, and acknowledged after.
    let mut h = Hb::new();
    five(&mut h, "k");
    h.assign(0, &["k"]);
    h.invoke_poll(0);
    h.assign_listed(1, &["k"], &[("k", 2)]);
    h.complete_poll(0, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    let r = check(&h.build());
    assert!(r.strict_names().is_empty(), "{r}");
    // A commit invoked only after the list completed does not count for it.
    let mut h = Hb::new();
    five(&mut h, "k");
    h.assign(0, &["k"]);
    h.assign_listed(1, &["k"], &[("k", 2)]);
    h.poll(0, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    let r = check(&h.build());
    assert_eq!(
        r.strict_names(),
        [names::LISTED_OFFSET_NEVER_COMMITTED],
        "{r}"
    );
}

/// The final phase of one process `p`: a crash of `p - 10`, then `p` seeks `keys` to the
/// beginning and polls each of `polls` in turn.
fn final_reads(h: &mut Hb, p: u64, keys: &[&str], polls: &[crate::checker::testkit::Msgs<'_>]) {
    h.crash(p - 10).seek(p, keys);
    for msgs in polls {
        h.poll(p, msgs);
    }
}

#[test]
fn a_message_read_then_missing_from_the_final_read_has_vanished() {
    let mut h = Hb::new();
    h.assign(0, &["k"]);
    h.send(9, "k", 1, 0).send(9, "k", 2, 1).send(9, "k", 3, 2);
    h.poll(0, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    // The final read stops at offset 1 and then the node answers nothing at all.
    final_reads(&mut h, 12, &["k"], &[&[("k", &[(0, 1), (1, 2)])], &[]]);
    let r = check(&h.build());
    // Jepsen sees nothing wrong: 3 was read, and nothing was read past it.
    assert!(r.anomaly_names().is_empty(), "{r}");
    let [
        Case::VanishedMessage {
            key,
            offset,
            value,
            first_seen,
            read_end,
            ended_empty,
            final_poll,
        },
    ] = r.cases(names::VANISHED_MESSAGE)
    else {
        panic!("{r}")
    };
    assert_eq!((key.as_str(), *offset, value), ("k", 2, &v(3)));
    // The send_ok showed it first; the final read ended at 2, in an empty reply.
    assert_eq!(
        (first_seen.f, first_seen.process),
        (crate::history::F::Send, 9)
    );
    assert_eq!((*read_end, *ended_empty, final_poll.process), (2, true, 12));
    assert!(
        r.to_string().contains("then answered no message at all"),
        "{r}"
    );
}

#[test]
fn a_final_read_cut_off_while_reading_accuses_nobody() {
    let mut h = Hb::new();
    h.assign(0, &["k"]);
    h.send(9, "k", 1, 0).send(9, "k", 2, 1).send(9, "k", 3, 2);
    h.poll(0, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    // Still reading when the phase ended: offset 2 is not covered.
    final_reads(
        &mut h,
        12,
        &["k"],
        &[&[("k", &[(0, 1)])], &[("k", &[(1, 2)])]],
    );
    let r = check(&h.build());
    assert!(r.is_strict_valid(), "{r}");
    // A complete final read is clean too.
    final_reads(
        &mut h,
        13,
        &["k"],
        &[&[("k", &[(0, 1), (1, 2), (2, 3)])], &[]],
    );
    assert!(check(&h.build()).is_strict_valid());
}

#[test]
fn a_final_read_that_passes_a_shown_message_or_replaces_it_loses_it() {
    let mut h = Hb::new();
    h.assign(0, &["k"]);
    h.send(9, "k", 1, 0).send(9, "k", 2, 1).send(9, "k", 3, 2);
    h.send_info(9, "k", 4);
    h.poll(0, &[("k", &[(0, 1), (1, 2)])]);
    // Offset 1 is passed over; offset 0 holds another message. A read that does not
    // start at the beginning (process 0's) is never a final read.
    final_reads(&mut h, 12, &["k"], &[&[("k", &[(0, 4), (2, 3)])]]);
    let r = check(&h.build());
    let lost: Vec<(u64, Val)> = r
        .cases(names::VANISHED_MESSAGE)
        .iter()
        .map(|c| match c {
            Case::VanishedMessage { offset, value, .. } => (*offset, value.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lost, [(0, v(1)), (1, v(2))], "{r}");
    assert!(has(&r, names::INCONSISTENT_OFFSETS), "{r}");
}

#[test]
fn a_payload_that_is_the_same_json_value_is_attributed_and_reported() {
    let mut h = Hb::new();
    h.send_json(0, "k", r#""\u00e9""#, 0)
        .send_json(0, "k", r#"{"b":1,"a":[2]}"#, 1);
    h.poll_json(1, "k", &[(0, r#""é""#), (1, r#"{"a":[2],"b":1}"#)]);
    let r = check(&h.build());
    // The messages are recognised: no phantom, no lost or unseen write.
    assert!(r.anomaly_names().is_empty(), "{r}");
    assert!(r.is_valid() && !r.is_strict_valid());
    let changed: Vec<(u64, &str, &str)> = r
        .cases(names::PAYLOAD_CHANGED)
        .iter()
        .map(|c| match c {
            Case::PayloadChanged {
                offset,
                sent,
                received,
                ..
            } => (*offset, sent.as_str(), received.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        changed,
        [
            (0, r#""\u00e9""#, r#""é""#),
            (1, r#"{"b":1,"a":[2]}"#, r#"{"a":[2],"b":1}"#)
        ]
    );
    // The JSON keeps both texts as strings, byte for byte.
    let json = r.to_json();
    assert_eq!(
        json["strict"]["errors"]["payload-changed"]["errs"][0]["sent"],
        r#""\u00e9""#
    );
    // The report shows the poll as the node answered it.
    assert!(r.to_string().contains(r#"[0 "é"]"#), "{r}");
}

#[test]
fn a_payload_changed_past_recognition_is_attributed_by_its_offset() {
    // Two 20-digit integers round to the same float: only the offset tells them apart.
    let mut h = Hb::new();
    h.send_json(0, "k", "90000000000000000001", 0)
        .send_json(0, "k", "90000000000000000002", 1)
        .send_json(0, "k", "1e400", 2);
    h.poll_json(1, "k", &[(0, "9e19"), (1, "9e19"), (2, "null")]);
    let r = check(&h.build());
    assert!(r.anomaly_names().is_empty(), "{r}");
    assert_eq!(r.count(names::PAYLOAD_CHANGED), 3, "{r}");
    // Without an acknowledged offset a changed payload stays a value nobody sent.
    let mut h = Hb::new();
    h.send_json(0, "k", "1.0", 0);
    h.poll_json(1, "k", &[(0, "1.0"), (1, "1.5")]);
    let r = check(&h.build());
    assert_eq!(r.anomaly_names(), [names::PHANTOM_VALUE], "{r}");
    assert!(!has(&r, names::PAYLOAD_CHANGED), "{r}");
    // Unchanged payloads of any JSON are checked as they are.
    let mut h = Hb::new();
    h.send_json(0, "k", "-0.0", 0).send_json(0, "k", "1e400", 1);
    h.poll_json(1, "k", &[(0, "-0.0"), (1, "1e400")]);
    assert!(check(&h.build()).is_strict_valid());
}
