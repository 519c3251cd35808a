//! The Node: Replicator's state machine for one Maelstrom server.

use crate::cluster::{Cluster, Status, Timing};
use crate::ids::{Key, MsgId, NodeId, Offset};
use crate::log::{Budget, Logs};
use crate::offsets::Offsets;
use crate::protocol::{Body, ErrorCode, Malformed, Message};
use crate::time::Timestamp;
use std::collections::BTreeSet;
use std::fmt;

/// Everything a node is configured with. Two nodes with the same config fed the same
/// inputs at the same timestamps produce the same outputs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The only source of randomness the node may use. `sim` derives it from the run's
    /// seed; `io` draws one and logs it.
    pub seed: u64,
    /// The most messages one `poll_ok` carries over all its keys.
    pub poll_msgs_max: usize,
    /// The most payload bytes one `poll_ok` carries over all its keys; the first message
    /// of a reply is sent whatever its size.
    pub poll_bytes_max: usize,
    /// The durations a node with peers works by.
    pub timing: Timing,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 0,
            // The final polls ask for every key at once (spec: kafka.md 2.7, 3.7): every
            // message of the run, about 9,600 at Gossip Glomers' 1000 operations/s for
            // 20 s and under 30,000 for a minute. A reply that leaves keys for a later
            // one makes Jepsen charge those keys' whole age as realtime lag, so the count
            // cap sits above any Maelstrom run, and the byte cap alone bounds a reply.
            poll_msgs_max: 1 << 17,
            poll_bytes_max: 1 << 20,
            timing: Timing::default(),
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `poll_msgs_max` is 0, so no poll could ever return anything.
    PollMsgsMaxZero,
    /// The timing table cannot work; the text says why.
    Timing(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::PollMsgsMaxZero => f.write_str("poll_msgs_max must be at least 1"),
            ConfigError::Timing(why) => write!(f, "invalid timing: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What happens to a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A message arrived.
    Message(Message),
    /// A line arrived that is not a message the node can act on.
    Malformed(Malformed),
    /// A deadline the node asked for (or any other moment) has come.
    Tick,
}

/// What a node does.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Put this message on the network.
    Send(Message),
    /// Something worth a line in the node's log (stderr under Maelstrom).
    Log(String),
}

/// One Replicator server: the logs, the committed offsets and the protocol around them.
///
/// # Call contract
/// - Feed every input through [`Node::step`], with a `now` that never goes back; the
///   outputs it returns are all the node will ever do about that input.
/// - After each step, wake the node with [`Input::Tick`] no later than
///   [`Node::next_deadline`]. Ticks at other times are harmless no-ops.
/// - The node never panics on any input; a panic is a broken invariant, a bug.
pub struct Node {
    config: Config,
    now: Timestamp,
    state: State,
}

enum State {
    /// No `init` yet: the node does not know its own id, so it may not send anything
    /// (spec: kafka.md 1.2).
    AwaitingInit,
    Serving(Serving),
}

struct Serving {
    id: NodeId,
    /// Every server, this one included, as `init` listed them.
    cluster: Vec<NodeId>,
    logs: Logs,
    /// The highest offset any client committed per key. Only ever grows.
    offsets: Offsets,
    /// Replication, when the node has peers; a single node answers everything itself.
    replica: Option<Box<Cluster>>,
    /// An `init` not yet answered: `(client, msg_id, when it came)`. A node with peers
    /// answers once it has joined its cluster or hears a leader, or after `hold_us` at the
    /// latest, so that
    /// a fresh cluster elects its first leader before Maelstrom starts the workload and
    /// its first partition (spec: kafka.md 1.5 — every node is set up before any
    /// operation; the init timeout is 10 s).
    pending_init: Option<(NodeId, MsgId, Timestamp)>,
}

impl Node {
    /// A node that awaits its `init`.
    pub fn new(config: Config) -> Result<Node, ConfigError> {
        if config.poll_msgs_max == 0 {
            return Err(ConfigError::PollMsgsMaxZero);
        }
        config.timing.check().map_err(ConfigError::Timing)?;
        Ok(Node {
            config,
            now: Timestamp::ZERO,
            state: State::AwaitingInit,
        })
    }

    /// Handles one input at time `now` and returns everything the node does about it.
    #[must_use]
    pub fn step(&mut self, now: Timestamp, input: Input) -> Vec<Output> {
        let mut out = Vec::with_capacity(1);
        self.step_into(now, input, &mut out);
        out
    }

    /// [`Node::step`] for a driver that reuses one buffer: appends everything the node
    /// does about `input` to `out` and leaves what was there. The stdio binary steps
    /// millions of inputs, and a fresh `Vec` per step showed in its profile (STYLE.md
    /// foresaw this switch).
    pub fn step_into(&mut self, now: Timestamp, input: Input, out: &mut Vec<Output>) {
        assert!(now >= self.now, "time went back from {} to {now}", self.now);
        self.now = now;
        // A poll, a list or a line the node cannot read changes nothing the cluster
        // acts on: unless a deadline has come, the replica has nothing to do for it.
        let read_only = match &input {
            Input::Message(m) => matches!(
                m.body,
                Body::Poll { .. } | Body::ListCommittedOffsets { .. }
            ),
            Input::Malformed(_) => true,
            Input::Tick => false,
        };
        match input {
            Input::Message(message) => self.on_message(message, out),
            Input::Malformed(malformed) => self.on_malformed(malformed, out),
            Input::Tick => {}
        }
        if let State::Serving(serving) = &mut self.state
            && let Some(replica) = &mut serving.replica
            && !(read_only && replica.next_deadline().is_some_and(|d| now < d))
        {
            replica.tick(now, &mut serving.logs, &mut serving.offsets, out);
        }
        if let State::Serving(serving) = &mut self.state {
            serving.answer_init(now, &self.config, out);
        }
        #[cfg(debug_assertions)]
        self.check_invariants();
    }

    /// The earliest time the node wants a [`Input::Tick`], if any.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match &self.state {
            // A single node answers everything at once and has no timers.
            State::Serving(Serving {
                replica: Some(replica),
                pending_init,
                ..
            }) => {
                let init = pending_init
                    .as_ref()
                    .map(|(_, _, at)| at.add_micros(self.config.timing.hold_us));
                match (replica.next_deadline(), init) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            _ => None,
        }
    }

    /// The node's own id, once `init` has told it.
    pub fn id(&self) -> Option<&NodeId> {
        match &self.state {
            State::AwaitingInit => None,
            State::Serving(s) => Some(&s.id),
        }
    }

    /// The servers of the cluster, once `init` has told them.
    pub fn cluster(&self) -> &[NodeId] {
        match &self.state {
            State::AwaitingInit => &[],
            State::Serving(s) => &s.cluster,
        }
    }

    /// The node's place in its cluster, once `init` has made it a member of one with
    /// peers; `None` for a single node or before `init`.
    pub fn status(&self) -> Option<Status> {
        match &self.state {
            State::Serving(Serving {
                replica: Some(replica),
                ..
            }) => Some(replica.status()),
            _ => None,
        }
    }

    /// Messages stored over all keys.
    pub fn message_count(&self) -> u64 {
        match &self.state {
            State::AwaitingInit => 0,
            State::Serving(s) => s.logs.count(),
        }
    }

    /// Panics if an invariant is broken. `step` calls it after every input in debug and
    /// test builds; tests and fuzzers may call it any time.
    pub fn check_invariants(&self) {
        if let State::Serving(s) = &self.state {
            s.logs.check_invariants();
            s.offsets.check_invariants();
            if let Some(replica) = &s.replica {
                replica.check_invariants();
            }
        }
    }

    fn on_message(&mut self, message: Message, out: &mut Vec<Output>) {
        let Message { src, dest, body } = message;
        let serving = match &mut self.state {
            State::Serving(serving) => serving,
            State::AwaitingInit => {
                if let Body::Init {
                    msg_id,
                    node_id,
                    node_ids,
                } = body
                {
                    let mut cluster = node_ids;
                    if !cluster.contains(&node_id) {
                        out.push(Output::Log(format!(
                            "init names {node_id} but node_ids {cluster:?} do not include it; adding it"
                        )));
                        cluster.push(node_id.clone());
                    }
                    let mut seen = BTreeSet::new();
                    cluster.retain(|id| seen.insert(id.clone()));
                    // spec: kafka.md 1.3, 5 — clients and services are never servers, and a
                    // message to a client that has gone is fatal under Maelstrom: a name
                    // like theirs in node_ids is dropped rather than made a peer.
                    let (servers, odd): (Vec<NodeId>, Vec<NodeId>) = cluster
                        .into_iter()
                        .partition(|id| *id == node_id || !is_reserved(id));
                    if !odd.is_empty() {
                        out.push(Output::Log(format!(
                            "init lists {odd:?} among node_ids; client and service ids cannot be peers, ignoring them"
                        )));
                    }
                    let cluster = servers;
                    out.push(Output::Log(format!(
                        "initialised as {node_id} in a cluster of {}",
                        cluster.len()
                    )));
                    let replica = (cluster.len() > 1).then(|| {
                        let me = cluster
                            .iter()
                            .position(|id| *id == node_id)
                            .expect("the cluster holds this node");
                        Box::new(Cluster::new(
                            me,
                            cluster.clone(),
                            self.config.seed,
                            self.config.timing,
                            self.now,
                        ))
                    });
                    let mut serving = Serving {
                        id: node_id,
                        cluster,
                        logs: Logs::default(),
                        offsets: Offsets::default(),
                        replica,
                        pending_init: None,
                    };
                    if serving.replica.is_some() {
                        serving.pending_init = Some((src, msg_id, self.now));
                    } else {
                        out.push(serving.reply(
                            src,
                            Body::InitOk {
                                in_reply_to: msg_id,
                            },
                        ));
                    }
                    self.state = State::Serving(serving);
                } else {
                    // spec: kafka.md 1.2 — nothing may be sent before init gives the node
                    // its id, not even an error; 1.5 allows dropping what comes early.
                    out.push(Output::Log(format!(
                        "dropped a {} from {src} that came before init",
                        body.kind()
                    )));
                }
                return;
            }
        };
        if dest != serving.id {
            out.push(Output::Log(format!(
                "dropped a {} from {src} addressed to {dest}, not to {}",
                body.kind(),
                serving.id
            )));
            return;
        }
        match body {
            Body::Init {
                msg_id, node_id, ..
            } => {
                let reply = if node_id == serving.id {
                    Body::InitOk {
                        in_reply_to: msg_id,
                    }
                } else {
                    error(
                        msg_id,
                        ErrorCode::ABORT,
                        format!("already initialised as {}, not {node_id}", serving.id),
                    )
                };
                out.push(serving.reply(src, reply));
            }
            Body::Send { msg_id, key, msg } => match &mut serving.replica {
                // With peers, the send is answered once a majority holds it.
                Some(replica) => replica.on_send(self.now, src, msg_id, key, msg),
                None => {
                    let offset = serving.on_send(&key, msg.as_str());
                    out.push(serving.reply(
                        src,
                        Body::SendOk {
                            in_reply_to: msg_id,
                            offset,
                        },
                    ));
                }
            },
            Body::Sync(_) | Body::Vote(_) | Body::VoteReply(_) => {
                let kind = body.kind().to_string();
                let Some((replica, from)) = serving
                    .replica
                    .as_mut()
                    .and_then(|r| r.peer(&src).map(|from| (r, from)))
                else {
                    out.push(Output::Log(format!(
                        "ignored a {kind} from {src}, which is not a peer of this node"
                    )));
                    return;
                };
                match body {
                    Body::Sync(sync) => replica.on_sync(self.now, from, *sync, out),
                    Body::Vote(vote) => replica.on_vote(self.now, from, vote, out),
                    Body::VoteReply(reply) => replica.on_vote_reply(self.now, from, reply, out),
                    _ => unreachable!("matched above"),
                }
            }
            Body::Poll { msg_id, offsets } => {
                let reply = serving.on_poll(msg_id, offsets, &self.config);
                out.push(serving.reply(src, reply));
            }
            Body::CommitOffsets { msg_id, offsets } => {
                // A committed offset is a max-register (spec: kafka.md 2.4): raised here
                // and answered at once, never waiting on a peer. With peers, what it
                // raised also goes through the log, so that every node, and this one
                // after a restart, comes to list it (see `cluster::sends`).
                let raised = serving.on_commit_offsets(offsets);
                if let Some(replica) = &mut serving.replica
                    && !raised.is_empty()
                {
                    replica.spread_commit(self.now, raised);
                }
                out.push(serving.reply(
                    src,
                    Body::CommitOffsetsOk {
                        in_reply_to: msg_id,
                    },
                ));
            }
            Body::ListCommittedOffsets { msg_id, keys } => {
                let reply = match &serving.replica {
                    // A node that has just started may be behind what its former self
                    // listed; it lists nothing until it has caught up (kafka.md 2.5: a
                    // committed offset never goes back).
                    Some(replica) if !replica.is_member() => error(
                        msg_id,
                        ErrorCode::TEMPORARILY_UNAVAILABLE,
                        "this node has just started and is catching up with its cluster"
                            .to_string(),
                    ),
                    _ => serving.on_list_committed_offsets(msg_id, keys),
                };
                out.push(serving.reply(src, reply));
            }
            Body::Other {
                kind,
                msg_id: Some(msg_id),
                in_reply_to: None,
                ..
            } => {
                // spec: kafka.md 2.7 — an unknown request type gets error 10. It is logged
                // too, like every other rejected input: an unknown type from Maelstrom
                // means a protocol mismatch, and stderr is where one would look for it.
                let text = format!("this node does not support messages of type {kind:?}");
                out.push(Output::Log(format!(
                    "answered a {kind:?} from {src} with error 10"
                )));
                out.push(serving.reply(src, error(msg_id, ErrorCode::NOT_SUPPORTED, text)));
            }
            other => {
                // Replies (and requests without a msg_id) are never answered: an answer to
                // an answer could loop forever between two nodes.
                out.push(Output::Log(format!(
                    "ignored an unexpected {} from {src}",
                    other.kind()
                )));
            }
        }
    }

    fn on_malformed(&mut self, bad: Malformed, out: &mut Vec<Output>) {
        out.push(Output::Log(format!("malformed message: {bad}")));
        let State::Serving(serving) = &self.state else {
            return;
        };
        // Answer only what is addressed to this node and can be matched to a request; a
        // reply to anything else could name a destination Maelstrom does not know, which
        // it treats as fatal (spec: kafka.md 1.2).
        let is_reply = bad
            .kind
            .as_deref()
            .is_some_and(|k| k.ends_with("_ok") || k == "error");
        if let (Some(src), Some(msg_id), Some(dest)) = (bad.src, bad.msg_id, bad.dest)
            && dest == serving.id
            && !is_reply
        {
            let text = format!("malformed request: {}", bad.reason);
            out.push(serving.reply(src, error(msg_id, ErrorCode::MALFORMED_REQUEST, text)));
        }
    }
}

impl Serving {
    /// Answers a pending `init` once the node has joined its cluster, or has waited long
    /// enough.
    fn answer_init(&mut self, now: Timestamp, config: &Config, out: &mut Vec<Output>) {
        let Some((_, _, at)) = &self.pending_init else {
            return;
        };
        // A node that hears a leader is in a cluster that is past its first election: it
        // joins in its own time, and need not hold up the workload.
        let joined = self
            .replica
            .as_ref()
            .is_none_or(|r| r.is_member() || r.status().leader.is_some());
        if joined || now >= at.add_micros(config.timing.hold_us) {
            let (client, msg_id, _) = self.pending_init.take().expect("checked above");
            if !joined {
                out.push(Output::Log(
                    "answers init before joining its cluster: not every peer has answered yet"
                        .into(),
                ));
            }
            out.push(self.reply(
                client,
                Body::InitOk {
                    in_reply_to: msg_id,
                },
            ));
        }
    }

    fn reply(&self, dest: NodeId, body: Body) -> Output {
        Output::Send(Message {
            src: self.id.clone(),
            dest,
            body,
        })
    }

    /// spec: kafka.md 2.2 — a new offset, higher than every earlier one in the key.
    fn on_send(&mut self, key: &Key, msg: &str) -> Offset {
        self.logs.append(key, msg)
    }

    /// spec: kafka.md 2.3 — per key, the contiguous ascending run from the first existing
    /// offset at or after the requested one; keys with nothing are left out.
    fn on_poll(&self, msg_id: MsgId, mut wanted: Vec<(Key, Offset)>, config: &Config) -> Body {
        // A key named twice is read once, from the lower offset, which is what either
        // reading alone would be a prefix of. Sorting also makes the reply's key order
        // independent of the request's. Sorting the request's own vector in place costs
        // no allocation, unlike collecting into a map; sorting by key alone, and keeping
        // the lower offset while merging, compares less than sorting the pairs.
        wanted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        wanted.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 = first.1.min(later.1);
            }
            same
        });
        let mut budget = Budget {
            msgs: config.poll_msgs_max,
            bytes: config.poll_bytes_max,
            taken: false,
        };
        let msgs = wanted
            .iter()
            .filter_map(|(key, from)| self.logs.read(key, *from, &mut budget))
            .collect();
        Body::PollOk {
            in_reply_to: msg_id,
            msgs,
        }
    }

    /// spec: kafka.md 2.4 — a committed offset only moves forward. Returns the offsets
    /// that rose: only those are news to the rest of a cluster.
    fn on_commit_offsets(&mut self, offsets: Vec<(Key, Offset)>) -> Vec<(Key, Offset)> {
        offsets
            .into_iter()
            .filter(|(key, offset)| self.offsets.raise(key, *offset))
            .collect()
    }

    /// spec: kafka.md 2.5 — the committed offset of each asked key that has one.
    fn on_list_committed_offsets(&self, msg_id: MsgId, keys: Vec<Key>) -> Body {
        let mut offsets: Vec<(Key, Offset)> = keys
            .into_iter()
            .filter_map(|key| {
                let offset = self.offsets.get(&key)?;
                Some((key, offset))
            })
            .collect();
        offsets.sort();
        offsets.dedup();
        Body::ListCommittedOffsetsOk {
            in_reply_to: msg_id,
            offsets,
        }
    }
}

/// Whether `id` names a Maelstrom client (`c…`) or service rather than a server.
fn is_reserved(id: &NodeId) -> bool {
    id.is_client() || matches!(id.as_str(), "lin-kv" | "seq-kv" | "lww-kv" | "lin-tso")
}

fn error(in_reply_to: MsgId, code: ErrorCode, text: String) -> Body {
    Body::Error {
        in_reply_to,
        code,
        text,
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::AwaitingInit => f.write_str("Node(awaiting init)"),
            State::Serving(s) => {
                write!(f, "Node({}, {} messages", s.id, s.logs.count())?;
                if let Some(replica) = &s.replica {
                    write!(f, ", {}", replica.describe())?;
                }
                f.write_str(")")
            }
        }
    }
}
