//! One consensus node: the Ready loop that owns raft-rs's `RawNode`, and the handle the
//! layer above uses to propose, read linearizably and watch the node's role.
//!
//! The Ready loop runs on its own thread (with a small single-threaded runtime for its
//! timers, its channels and the peer links), so a peer message reaches Raft, or leaves
//! it, without a wake-up of another thread. The log is flushed by a writer thread
//! ([`crate::log_writer`]) while the loop goes on (raft-rs's asynchronous Ready): the
//! messages that depend on a Ready being durable wait for the writer's report, and
//! raft-rs hands out for applying only entries this node has made durable. The links
//! get a turn before a flush is asked for, so a leader's appends are on the wire while it
//! persists them. Each Ready is handled in raft-rs's documented order; the rule is
//! written at each step.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft::prelude::{Entry, Message, MessageType};
use raft::{RawNode, StateRole};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

use crate::applier::{
    self, Applier, ApplierLink, ApplyProgress, FromApplier, ProposalReply, ReadReply, ToApplier,
    Waiting, proposal_context,
};
use crate::config::RaftConfig;
use crate::error::{ProposeError, ReadError, StartError};
use crate::faults::Faults;
use crate::hold::ProposalHold;
use crate::log_writer::{self, Persisted};
use crate::logger::raft_logger;
use crate::phases::Phases;
use crate::snapshot_store::{self, SnapshotId, SnapshotStore};
use crate::state_machine::StateMachine;
use crate::storage::LogStore;
use crate::summary::DurationSummary;
use crate::transport::{self, Inbound, Transport};
use crate::worker::Worker;

/// A node's role, as operators see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Following a leader (or waiting for one).
    #[default]
    Follower,
    /// Asking whether it could win an election.
    PreCandidate,
    /// Campaigning.
    Candidate,
    /// Leading.
    Leader,
}

impl From<StateRole> for Role {
    fn from(role: StateRole) -> Self {
        match role {
            StateRole::Follower => Role::Follower,
            StateRole::PreCandidate => Role::PreCandidate,
            StateRole::Candidate => Role::Candidate,
            StateRole::Leader => Role::Leader,
        }
    }
}

/// What a node knows about itself and the cluster, published after every change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftStatus {
    /// This node.
    pub id: u64,
    /// Its role.
    pub role: Role,
    /// The leader it knows of (0: none).
    pub leader_id: u64,
    /// Current term.
    pub term: u64,
    /// Highest committed index it knows.
    pub commit: u64,
    /// Highest index applied to its state machine.
    pub applied: u64,
    /// Last index in its log.
    pub last_index: u64,
    /// Index of its latest snapshot.
    pub snapshot_index: u64,
    /// First index still in its log.
    pub first_index: u64,
    /// How far each follower has replicated (leader only): (node, matched index).
    pub matched: Vec<(u64, u64)>,
}

enum Control {
    ReadIndex(ReadReply),
    TransferLeader(u64),
    Campaign,
    Stop,
}

struct Proposal<O> {
    command: Vec<u8>,
    reply: ProposalReply<O>,
}

/// Where a node keeps its log and snapshots, and the network fault table it obeys.
pub struct NodeStorage {
    /// The Raft log store (segment files or memory).
    pub log: LogStore,
    /// The snapshot store (files or memory).
    pub snapshots: SnapshotStore,
}

/// A running consensus node. Dropping it stops the node (without flushing anything not
/// yet flushed, like a crash); [`RaftNode::shutdown`] does the same explicitly.
pub struct RaftNode<O> {
    id: u64,
    proposals: mpsc::Sender<Proposal<O>>,
    control: mpsc::Sender<Control>,
    status: watch::Receiver<RaftStatus>,
    app: AppSender,
    app_inbox: Option<mpsc::Receiver<(u64, Bytes)>>,
    threads: Vec<JoinHandle<()>>,
    peer_addr: std::net::SocketAddr,
    flush_times: Arc<DurationSummary>,
}

/// Proposes commands to a node and asks it for read indexes; cloned freely, one per
/// connection or task.
pub struct Proposer<O> {
    proposals: mpsc::Sender<Proposal<O>>,
    control: mpsc::Sender<Control>,
}

impl<O> Clone for Proposer<O> {
    fn clone(&self) -> Self {
        Self {
            proposals: self.proposals.clone(),
            control: self.control.clone(),
        }
    }
}

/// A reply the node will send once: resolves with it, or with `closed` if the node
/// dropped the request (it is shutting down).
pub struct Reply<T, E> {
    receiver: oneshot::Receiver<Result<T, E>>,
    closed: E,
}

impl<T, E: Copy + Unpin> Future for Reply<T, E> {
    type Output = Result<T, E>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let closed = self.closed;
        std::pin::Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|result| result.unwrap_or(Err(closed)))
    }
}

/// A proposal queued at the node, in the order it was submitted; resolves with the
/// state machine's output once the node has applied it.
pub type Submitted<O> = Reply<O, ProposeError>;

/// A read index requested at the node; resolves once the node has applied up to it.
pub type ReadWait = Reply<(), ReadError>;

impl<O: Send + 'static> Proposer<O> {
    /// Queues `command` behind every command this handle (or any other) submitted
    /// before; waits only while the node is saturated. Commands submitted one after
    /// another through the same node reach the log in that order.
    pub async fn submit(&self, command: Vec<u8>) -> Result<Submitted<O>, ProposeError> {
        let (reply, result) = oneshot::channel();
        self.proposals
            .send(Proposal { command, reply })
            .await
            .map_err(|_| ProposeError::Shutdown)?;
        Ok(Reply {
            receiver: result,
            closed: ProposeError::Shutdown,
        })
    }

    /// Proposes `command`; resolves with the state machine's output once this node has
    /// applied it.
    pub fn propose(
        &self,
        command: Vec<u8>,
    ) -> impl Future<Output = Result<O, ProposeError>> + Send + use<O> {
        let this = self.clone();
        async move { this.submit(command).await?.await }
    }

    /// Queues a read index request; see [`RaftNode::read_index`].
    pub async fn submit_read_index(&self) -> Result<ReadWait, ReadError> {
        let (reply, result) = oneshot::channel();
        self.control
            .send(Control::ReadIndex(reply))
            .await
            .map_err(|_| ReadError::Shutdown)?;
        Ok(Reply {
            receiver: result,
            closed: ReadError::Shutdown,
        })
    }
}

/// Sends opaque messages of the layer above to peers over the Raft transport.
#[derive(Clone)]
pub struct AppSender {
    queue: Arc<parking_lot::Mutex<Option<Transport>>>,
}

impl AppSender {
    /// Queues `payload` for peer `to`; false if it was dropped (queue full, no such peer).
    pub fn send(&self, to: u64, payload: Bytes) -> bool {
        self.queue
            .lock()
            .as_ref()
            .is_some_and(|t| t.send_app(to, payload))
    }
}

impl<O: Send + 'static> RaftNode<O> {
    /// Starts a node: restores `machine` from the latest snapshot, binds the peer port,
    /// connects to the peers and begins taking part in elections. Must be called within
    /// a tokio runtime, which then accepts peer connections and streams snapshots.
    ///
    /// `listener`, if given, is an already bound peer listener (so callers can let the OS
    /// pick ports); otherwise the node binds `config.listen` or its own `peers` entry.
    pub async fn start<S>(
        config: RaftConfig,
        storage: NodeStorage,
        faults: Faults,
        mut machine: S,
        listener: Option<std::net::TcpListener>,
    ) -> Result<Self, StartError>
    where
        S: StateMachine<Output = O>,
    {
        let id = config.id;
        let NodeStorage { log, snapshots } = storage;
        let flush_times = log.flush_times();
        let snapshot_meta = log.snapshot_metadata();
        let mut applied = (0, 0);
        if snapshot_meta.index > 0 {
            let id = (snapshot_meta.index, snapshot_meta.term);
            let (mut reader, _) = snapshots
                .open(id)
                .map_err(|e| StartError::Restore(e.to_string()))?;
            machine.restore(&mut reader).map_err(StartError::Restore)?;
            applied = id;
        }
        let listener = match listener {
            Some(listener) => {
                listener.set_nonblocking(true).map_err(StartError::Listen)?;
                tokio::net::TcpListener::from_std(listener).map_err(StartError::Listen)?
            }
            None => {
                let listen = config
                    .listen
                    .or_else(|| config.peers.get(&id).copied())
                    .ok_or_else(|| {
                        StartError::Listen(std::io::Error::other("no peer address for this node"))
                    })?;
                transport::bind(listen).await.map_err(StartError::Listen)?
            }
        };
        let peer_addr = listener.local_addr().map_err(StartError::Listen)?;

        let raw = RawNode::new(&config.raft_config(applied.0), log.clone(), &raft_logger())?;
        let (inbound_tx, inbound_rx) = mpsc::channel(config.peer_queue_len_max);
        let (app_tx, app_rx) = mpsc::channel(4096);
        // The Ready loop's runtime: its timers, its channels and the peer links.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StartError::Thread)?;
        let transport = Transport::start(
            runtime.handle(),
            id,
            config.cluster_id,
            config.peers.clone(),
            listener,
            faults,
            snapshots.clone(),
            config.peer_queue_len_max,
            inbound_tx,
            app_tx,
        );
        let transport = Arc::new(parking_lot::Mutex::new(Some(transport)));
        let (proposal_tx, proposal_rx) = mpsc::channel(4096);
        let (control_tx, control_rx) = mpsc::channel(1024);
        let (status_tx, status_rx) = watch::channel(RaftStatus {
            id,
            applied: applied.0,
            ..RaftStatus::default()
        });
        let (from_applier_tx, from_applier_rx) = mpsc::unbounded_channel();
        let progress = Arc::new(ApplyProgress::new(applied.0));

        let applier = Applier {
            node_id: id,
            machine,
            snapshots: snapshots.clone(),
            applied,
            last_snapshot: applied,
            snapshot_entries_max: config.snapshot_entries_max,
            snapshot_bytes_max: config.snapshot_bytes_max,
            bytes_since_snapshot: 0,
            pending: Default::default(),
            reads: Vec::new(),
            to_raft: from_applier_tx,
            progress: progress.clone(),
            snapshot_job: None,
            last_entries_at: Instant::now(),
        };
        let (to_applier, applier_thread) = applier::start(applier).map_err(StartError::Thread)?;

        let (persisted_tx, persisted_rx) = mpsc::unbounded_channel();
        let writer =
            log_writer::start(id, log.clone(), persisted_tx).map_err(StartError::Thread)?;
        let snapshot_remover =
            snapshot_store::start_remover(id, snapshots).map_err(StartError::Thread)?;
        let hold = ProposalHold::new(config.proposal_hold_uncommitted, config.proposal_hold);
        let ready_loop = ReadyLoop {
            raw,
            log,
            config,
            transport: transport.clone(),
            to_applier,
            status: status_tx,
            applied: applied.0,
            progress,
            next_seq: 0,
            reads: HashMap::new(),
            next_read: 0,
            leader_id: 0,
            stopping: false,
            lost_log_until: 0,
            batch: Vec::new(),
            waiting: Vec::new(),
            registering: Vec::new(),
            batch_bytes: 0,
            unwritten: false,
            forwarded: Vec::new(),
            hold,
            writer,
            snapshot_remover,
            unpersisted: VecDeque::new(),
            durable: 0,
            phases: Phases::new(),
        };
        let raft_thread = std::thread::Builder::new()
            .name(format!("paddock-raft-{id}"))
            .spawn(move || {
                ready_loop.run(
                    runtime,
                    inbound_rx,
                    proposal_rx,
                    control_rx,
                    from_applier_rx,
                    persisted_rx,
                )
            })
            .map_err(StartError::Thread)?;
        info!(node = id, %peer_addr, applied = applied.0, "raft node started");
        Ok(Self {
            id,
            proposals: proposal_tx,
            control: control_tx,
            status: status_rx,
            app: AppSender { queue: transport },
            app_inbox: Some(app_rx),
            threads: vec![raft_thread, applier_thread],
            peer_addr,
            flush_times,
        })
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The address the peer listener is bound to.
    pub fn peer_addr(&self) -> std::net::SocketAddr {
        self.peer_addr
    }

    /// Proposes `command`; resolves with the state machine's output once this node has
    /// applied it. Waits (backpressure) while the node is saturated.
    pub fn propose(
        &self,
        command: Vec<u8>,
    ) -> impl Future<Output = Result<O, ProposeError>> + Send + use<O> {
        self.proposer().propose(command)
    }

    /// A cheap handle for proposing from many tasks.
    pub fn proposer(&self) -> Proposer<O> {
        Proposer {
            proposals: self.proposals.clone(),
            control: self.control.clone(),
        }
    }

    /// Resolves once this node has applied everything the leader had committed when the
    /// request reached it: reads after this see every write acknowledged before it.
    pub fn read_index(&self) -> impl Future<Output = Result<(), ReadError>> + Send + use<O> {
        let proposer = self.proposer();
        async move { proposer.submit_read_index().await?.await }
    }

    /// Asks the leader to hand leadership to `to`.
    pub fn transfer_leader(&self, to: u64) {
        let _ = self.control.try_send(Control::TransferLeader(to));
    }

    /// Starts an election now instead of waiting for the election timeout (a cluster
    /// whose nodes all start together, like a test fixture, gets a leader at once).
    pub fn campaign(&self) {
        let _ = self.control.try_send(Control::Campaign);
    }

    /// The node's current status.
    pub fn status(&self) -> RaftStatus {
        self.status.borrow().clone()
    }

    /// How long this node's log flushes (write and fsync) take: ZooKeeper's `fsynctime`.
    pub fn flush_times(&self) -> Arc<DurationSummary> {
        self.flush_times.clone()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<RaftStatus> {
        self.status.clone()
    }

    /// Sends opaque messages to peers.
    pub fn app_sender(&self) -> AppSender {
        self.app.clone()
    }

    /// Messages peers sent with their [`AppSender`]; can be taken once.
    pub fn take_app_inbox(&mut self) -> Option<mpsc::Receiver<(u64, Bytes)>> {
        self.app_inbox.take()
    }

    /// Stops the node and waits until its threads have ended and its storage is
    /// closed, so the same data directory can be opened again. Nothing is flushed that
    /// was not already: to the cluster this looks like a crash.
    pub async fn shutdown(mut self) {
        let _ = self.control.send(Control::Stop).await;
        let mut transport = self.app.queue.lock().take();
        if let Some(transport) = &mut transport {
            transport.stop();
        }
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        if let Some(transport) = transport {
            transport.join().await;
        }
    }
}

impl<O> Drop for RaftNode<O> {
    fn drop(&mut self) {
        let _ = self.control.try_send(Control::Stop);
        if let Some(mut transport) = self.app.queue.lock().take() {
            transport.stop();
        }
    }
}

struct PendingRead {
    reply: ReadReply,
    deadline: Instant,
    retry_at: Instant,
}

/// Resolves when a proposal hold ends; never when there is none.
async fn hold_ends(until: Option<Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until.into()).await,
        None => std::future::pending().await,
    }
}

struct ReadyLoop<O> {
    raw: RawNode<LogStore>,
    log: LogStore,
    config: RaftConfig,
    transport: Arc<parking_lot::Mutex<Option<Transport>>>,
    to_applier: ApplierLink<O>,
    status: watch::Sender<RaftStatus>,
    applied: u64,
    /// The applier's applied index, read each turn of the loop.
    progress: Arc<ApplyProgress>,
    next_seq: u64,
    reads: HashMap<u64, PendingRead>,
    next_read: u64,
    leader_id: u64,
    stopping: bool,
    /// After losing its log, the node abstains from votes until its log reaches this.
    lost_log_until: u64,
    /// Proposals taken since the last Ready, proposed together by `propose_batch`.
    batch: Vec<Entry>,
    /// The waiters of `batch`, by sequence number, registered with it.
    waiting: Vec<(u64, Waiting<O>)>,
    /// Waiters of proposals already in Raft that the applier has not been told of. They
    /// go with the next message it gets, which is at the latest the one carrying their
    /// entries (one channel, in order): telling it at once would wake it for nothing.
    registering: Vec<(u64, Waiting<O>)>,
    /// Bytes of command data in `batch`.
    batch_bytes: u64,
    /// Messages were queued for the links since they last had a turn.
    unwritten: bool,
    /// Proposals forwarded by followers, appended with `batch`.
    forwarded: Vec<Message>,
    /// Whether new proposals wait for the pipeline to drain a little.
    hold: ProposalHold,
    /// Flushes the log on a thread of its own: sent a Ready's number once it is queued.
    writer: Worker<u64>,
    /// Deletes snapshots older than the id sent, on a thread of its own.
    snapshot_remover: Worker<SnapshotId>,
    /// Readies handed to raft-rs whose persistence is not yet acknowledged to it, in
    /// order, with the messages that must wait for it.
    unpersisted: VecDeque<Unpersisted>,
    /// The highest Ready number known durable.
    durable: u64,
    /// Where the current turn of the loop spent its time.
    phases: Phases,
}

/// A Ready advanced before it was durable.
struct Unpersisted {
    number: u64,
    /// It had something to make durable (entries, a snapshot, a term or vote), flushed
    /// by the writer; otherwise it is done once every Ready before it is.
    synced: bool,
    /// Messages sent only once it is durable (a follower's acknowledgements and votes).
    messages: Vec<Message>,
}

impl<O: Send + 'static> ReadyLoop<O> {
    fn run(
        mut self,
        runtime: tokio::runtime::Runtime,
        mut inbound: mpsc::Receiver<Inbound>,
        mut proposals: mpsc::Receiver<Proposal<O>>,
        mut control: mpsc::Receiver<Control>,
        mut from_applier: mpsc::UnboundedReceiver<FromApplier>,
        mut persisted: mpsc::UnboundedReceiver<Persisted>,
    ) {
        runtime.block_on(async {
            let mut ticker = tokio::time::interval(self.config.tick);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // A loop silent for an election timeout costs the cluster its leader (or this
            // follower its vote): say so when it was half that, and whether the loop was
            // busy (its own work, e.g. a flush done inline) or not running at all.
            let stall = self.config.election_timeout() / 2;
            let mut last_tick = Instant::now();
            while !self.stopping {
                self.observe_applied(self.progress.applied());
                let mut saturated = self.apply_lagging();
                if saturated {
                    // Held back until the applier catches up: have it wake this loop.
                    self.observe_applied(self.progress.want_wake());
                    saturated = self.apply_lagging();
                }
                let hold = self.hold.until(Instant::now());
                self.phases.restart();
                tokio::select! {
                    _ = ticker.tick() => {
                        let gap = last_tick.elapsed();
                        last_tick = Instant::now();
                        if gap >= stall {
                            warn!(
                                node = self.config.id,
                                gap_ms = gap.as_millis() as u64,
                                "Ready loop ticked late; peers may start an election"
                            );
                        }
                        self.on_tick();
                    }
                    () = hold_ends(hold) => {}
                    Some(message) = inbound.recv() => self.on_inbound(message),
                    Some(proposal) = proposals.recv(), if !saturated => self.on_proposal(proposal),
                    Some(command) = control.recv() => self.on_control(command),
                    Some(report) = from_applier.recv() => self.on_applier(report),
                    Some(flushed) = persisted.recv() => self.on_persisted(flushed),
                    else => break,
                }
                self.phases.mark("waiting and one message");
                // Take whatever else is waiting, so one Ready (one fsync) covers it all.
                for _ in 0..1024 {
                    let mut progressed = false;
                    if let Ok(message) = inbound.try_recv() {
                        self.on_inbound(message);
                        progressed = true;
                    }
                    let batch_full = self.batch_bytes >= self.config.append_bytes_max;
                    if !saturated
                        && !batch_full
                        && let Ok(proposal) = proposals.try_recv()
                    {
                        self.on_proposal(proposal);
                        progressed = true;
                    }
                    if let Ok(report) = from_applier.try_recv() {
                        self.on_applier(report);
                        progressed = true;
                    }
                    if let Ok(flushed) = persisted.try_recv() {
                        self.on_persisted(flushed);
                        progressed = true;
                    }
                    if !progressed {
                        break;
                    }
                }
                self.phases.mark("more messages");
                self.propose_batch();
                self.phases.mark("proposing");
                if let Err(error) = self.on_ready().await {
                    error!(node = self.config.id, %error, "storage failed; stopping the node");
                    break;
                }
                self.let_links_write().await;
                self.phases.mark("links writing");
                let took = self.phases.total();
                if took >= stall {
                    warn!(
                        node = self.config.id,
                        turn_ms = took.as_millis() as u64,
                        phases = %self.phases,
                        "one turn of the Ready loop took half an election timeout; peers may \
                         start an election"
                    );
                }
            }
        });
        // Fail what is still waiting: dropping the senders does it.
        proposals.close();
        while let Ok(proposal) = proposals.try_recv() {
            let _ = proposal.reply.send(Err(ProposeError::Shutdown));
        }
        // Stopped, not dropped: `shutdown` still waits for its tasks to be gone.
        if let Some(transport) = self.transport.lock().as_mut() {
            transport.stop();
        }
        info!(node = self.config.id, "raft node stopped");
    }

    fn on_tick(&mut self) {
        self.raw.tick();
        // Proposals not committed within a tick: the applier keeps their deadlines.
        self.register_waiters();
        let now = Instant::now();
        let retry = self.config.election_timeout() / 2;
        let mut expired = Vec::new();
        for (&ctx, read) in self.reads.iter_mut() {
            if read.deadline <= now {
                expired.push(ctx);
            } else if read.retry_at <= now {
                // raft-rs drops read requests silently (no leader, new leader, term
                // change); asking again with the same context is harmless.
                read.retry_at = now + retry;
                self.raw.read_index(ctx.to_be_bytes().to_vec());
            }
        }
        for ctx in expired {
            if let Some(read) = self.reads.remove(&ctx) {
                let _ = read.reply.send(Err(ReadError::Timeout));
            }
        }
    }

    fn on_inbound(&mut self, message: Inbound) {
        match message {
            Inbound::Raft(mut message) => {
                let last_index = self.raw.raft.raft_log.last_index();
                let vote_request = matches!(
                    message.get_msg_type(),
                    MessageType::MsgRequestVote | MessageType::MsgRequestPreVote
                );
                if vote_request && last_index < self.lost_log_until {
                    // Having lost acknowledged entries, our vote could elect a node that
                    // misses them. Abstain until we hold again what we once held.
                    return;
                }
                if message.get_msg_type() == MessageType::MsgHeartbeat
                    && message.commit > last_index
                {
                    // The leader believes we hold entries we do not: our log was lost
                    // (wiped disk). raft-rs would panic on this commit index; learn only
                    // what we have, and ask the leader to replicate to us from scratch.
                    warn!(
                        node = self.config.id,
                        leader = message.from,
                        commit = message.commit,
                        last_index,
                        "log lost; asking the leader to start over"
                    );
                    self.lost_log_until = self.lost_log_until.max(message.commit);
                    message.commit = last_index;
                    if let Some(transport) = self.transport.lock().as_ref() {
                        transport.send_log_lost(message.from);
                    }
                }
                if message.get_msg_type() == MessageType::MsgPropose {
                    self.forwarded.push(message);
                    return;
                }
                self.step(message);
            }
            Inbound::Unreachable(peer) => self.raw.report_unreachable(peer),
            // A restarted follower learns its leader (and the commit index) now, not at
            // the next heartbeat.
            Inbound::Connected(peer) => {
                if self.raw.raft.state == StateRole::Leader {
                    debug!(node = self.config.id, peer, "peer connected; heartbeat now");
                    self.raw.ping();
                }
            }
            Inbound::Snapshot(peer, status) => self.raw.report_snapshot(peer, status),
            Inbound::LogLost(peer) => {
                if self.raw.raft.state != StateRole::Leader {
                    return;
                }
                if let Some(progress) = self.raw.raft.mut_prs().get_mut(peer)
                    && progress.matched > 0
                {
                    info!(
                        node = self.config.id,
                        peer, "peer lost its log; replicating from scratch"
                    );
                    progress.matched = 0;
                    progress.become_probe();
                }
            }
        }
    }

    fn on_proposal(&mut self, proposal: Proposal<O>) {
        if self.raw.raft.leader_id == 0 {
            let _ = proposal.reply.send(Err(ProposeError::NoLeader));
            return;
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.waiting.push((
            seq,
            Waiting {
                reply: proposal.reply,
                deadline: Instant::now() + self.config.request_timeout,
                term: self.raw.raft.term,
            },
        ));
        self.batch_bytes += proposal.command.len() as u64;
        self.batch.push(Entry {
            data: proposal.command.into(),
            context: proposal_context(self.config.id, seq).into(),
            ..Entry::default()
        });
    }

    /// Proposes the proposals taken since the last Ready as one message: a follower
    /// forwards them to the leader together, and the leader appends them together and
    /// sends them to each follower in one append, instead of one message per proposal
    /// on every hop.
    ///
    /// A leader whose pipeline is full holds them back for a moment first (see
    /// [`ProposalHold`]); they keep gathering meanwhile.
    fn propose_batch(&mut self) {
        let now = Instant::now();
        let leader = self.raw.raft.state == StateRole::Leader;
        if !leader {
            self.hold.release();
        }
        if self.hold.until(now).is_some() {
            return;
        }
        let appended_from = self.raw.raft.raft_log.last_index();
        for message in std::mem::take(&mut self.forwarded) {
            if leader {
                self.step(message);
            } else {
                // Forwarded to a leader that is no more. raft-rs would pass them on to
                // the new one, where they could land behind their session's later
                // writes (sent there directly): dropped, they fail their clients'
                // writes (connection closed) and a session's order holds.
                info!(
                    node = self.config.id,
                    from = message.from,
                    entries = message.entries.len(),
                    "forwarded proposals dropped: no longer the leader"
                );
            }
        }
        self.propose_own();
        let raft_log = &self.raw.raft.raft_log;
        if leader && raft_log.last_index() > appended_from {
            self.hold
                .appended(raft_log.last_index() - raft_log.committed, now);
        }
    }

    fn step(&mut self, message: Message) {
        let forwarded = (message.get_msg_type() == MessageType::MsgPropose)
            .then(|| (message.from, message.entries.len()));
        if let Err(error) = self.raw.step(message) {
            match forwarded {
                // The follower's clients lose these writes (connection closed): say why.
                Some((from, entries)) => info!(
                    node = self.config.id,
                    from, entries, %error, "forwarded proposals dropped"
                ),
                None => debug!(node = self.config.id, %error, "raft message rejected"),
            }
        }
    }

    fn propose_own(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.batch_bytes = 0;
        self.registering.append(&mut self.waiting);
        let mut message = Message::default();
        message.set_msg_type(MessageType::MsgPropose);
        message.from = self.config.id;
        message.set_entries(std::mem::take(&mut self.batch).into());
        if self.raw.step(message).is_err() {
            // Dropped at once (no leader, transfer in progress): the applier fails them
            // when a later entry of ours applies, or at their deadline; say so now.
            self.tell_applier(ToApplier::LeaderChanged {
                grace: Duration::ZERO,
            });
        }
    }

    fn on_control(&mut self, command: Control) {
        match command {
            Control::ReadIndex(reply) => {
                self.next_read += 1;
                let ctx = self.next_read;
                let now = Instant::now();
                self.reads.insert(
                    ctx,
                    PendingRead {
                        reply,
                        deadline: now + self.config.request_timeout,
                        retry_at: now + self.config.election_timeout() / 2,
                    },
                );
                self.raw.read_index(ctx.to_be_bytes().to_vec());
            }
            Control::TransferLeader(to) => self.raw.transfer_leader(to),
            Control::Campaign => {
                if let Err(error) = self.raw.campaign() {
                    debug!(node = self.config.id, %error, "campaign refused");
                }
            }
            Control::Stop => self.stopping = true,
        }
    }

    /// Takes in that everything up to `index` is applied.
    fn observe_applied(&mut self, index: u64) {
        if index > self.applied {
            self.applied = index;
            self.raw.advance_apply_to(index);
            self.publish_status();
        }
    }

    /// Whether committed entries wait to be applied beyond the configured lag, in which
    /// case new proposals wait.
    fn apply_lagging(&self) -> bool {
        self.raw
            .raft
            .raft_log
            .committed
            .saturating_sub(self.applied)
            > self.config.apply_lag_max
    }

    fn on_applier(&mut self, report: FromApplier) {
        match report {
            FromApplier::Applied(index) => self.observe_applied(index),
            FromApplier::SnapshotTaken((index, term)) => {
                self.phases.mark("until a snapshot was reported");
                let result = self.log.record_snapshot(index, term).and_then(|()| {
                    let keep_from = index.saturating_sub(self.config.log_entries_kept);
                    self.log.compact(keep_from)?;
                    self.phases.mark("compacting the log");
                    self.log.flush()
                });
                self.phases.mark("flushing the compaction");
                if let Err(error) = result {
                    error!(node = self.config.id, %error, "recording snapshot failed");
                    self.stopping = true;
                } else {
                    // Only now, with the new one recorded on disk, may older ones go. A
                    // transfer still streaming one holds its file open, which keeps its
                    // data readable until it ends.
                    self.snapshot_remover.send((index, term));
                }
                self.publish_status();
            }
            FromApplier::Fatal(error) => {
                error!(node = self.config.id, %error, "state machine failed; stopping");
                self.stopping = true;
            }
        }
    }

    fn send(&mut self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        if let Some(transport) = self.transport.lock().as_ref() {
            transport.send_raft(messages);
            self.unwritten = true;
        }
    }

    /// The peer links run on this thread: give them a turn to write what was just
    /// queued for them, before this thread blocks in a flush or takes more work.
    async fn let_links_write(&mut self) {
        if std::mem::take(&mut self.unwritten) {
            tokio::task::yield_now().await;
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        if !entries.is_empty() {
            let waiting = std::mem::take(&mut self.registering);
            self.to_applier
                .send(ToApplier::Entries { waiting, entries });
        }
    }

    /// Sends the applier `message`, after the waiters it has not been told of yet.
    fn tell_applier(&mut self, message: ToApplier<O>) {
        self.register_waiters();
        self.to_applier.send(message);
    }

    /// Tells the applier of every waiter it does not know yet.
    fn register_waiters(&mut self) {
        if !self.registering.is_empty() {
            let waiting = std::mem::take(&mut self.registering);
            self.to_applier.send(ToApplier::Register(waiting));
        }
    }

    /// Handles one Ready in raft-rs's documented order.
    async fn on_ready(&mut self) -> Result<(), crate::error::StoreError> {
        if !self.raw.has_ready() {
            return Ok(());
        }
        let mut ready = self.raw.ready();

        // Role changes: the new leader's proposals replace the old one's; tell the
        // applier so proposals lost with the old leader fail instead of hanging.
        if let Some(soft) = ready.ss()
            && soft.leader_id != self.leader_id
        {
            info!(node = self.config.id, leader = soft.leader_id, role = ?soft.raft_state, "leader changed");
            self.leader_id = soft.leader_id;
            self.tell_applier(ToApplier::LeaderChanged {
                grace: self.config.election_timeout() * 2,
            });
        }

        // 1. A leader may send its messages before persisting (Raft thesis 10.2.1),
        // and they go out now, so followers persist while the leader does.
        self.phases.mark("raft-rs Ready");
        self.send(ready.take_messages());
        if ready.must_sync() {
            self.let_links_write().await;
        }
        self.phases.mark("sending");

        // 2. A snapshot from the leader: the log restarts after it.
        let snapshot_id = if ready.snapshot().is_empty() {
            None
        } else {
            let meta = ready.snapshot().get_metadata();
            self.log.apply_snapshot(meta)?;
            Some((meta.index, meta.term))
        };

        // 3./4. New entries and hard state, queued in the store (raft-rs reads them back
        // from it at once).
        if self.config.group_commit {
            self.log.append(ready.entries())?;
        } else {
            for entry in ready.entries() {
                self.log.append(std::slice::from_ref(entry))?;
                self.log.flush()?;
            }
        }
        if let Some(hard_state) = ready.hs() {
            self.log.set_hard_state(hard_state)?;
        }
        self.phases.mark("appending");

        // A snapshot (rare) is made durable here, with everything queued before it, and
        // so is every Ready when each entry is flushed on its own. So is a Ready of at
        // most one entry when no flush is under way: under light load the hand-offs to
        // the writer and back cost more than the loop gains (a single client's writes
        // took 12-17% longer), and there is no other work to overlap with the fsync.
        let synchronous = snapshot_id.is_some()
            || !self.config.group_commit
            || (self.unpersisted.is_empty() && ready.entries().len() <= 1);
        if synchronous {
            // raft-rs says when durability matters: new entries, a snapshot, or a term
            // or vote change. A hard state whose only change is the commit index can
            // wait (a lost commit index is learned again from the leader).
            if ready.must_sync() || !self.unpersisted.is_empty() {
                self.log.flush()?;
                self.durable = ready.number();
                self.release_persisted();
            }
            // 5. Only now may messages that depend on the persisted state go out.
            self.send(ready.take_persisted_messages());
            self.phases.mark("flushing inline");
        }

        // 6. Apply: the snapshot first, then committed entries, in log order. raft-rs
        // hands out only entries this node has made durable.
        if let Some(id) = snapshot_id {
            self.tell_applier(ToApplier::Restore(id));
        }
        self.apply(ready.take_committed_entries());
        self.phases.mark("applying");

        // Read index answers: wait for the applied index to reach them.
        for state in ready.take_read_states() {
            let ctx = state
                .request_ctx
                .as_slice()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if let Some(read) = self.reads.remove(&ctx) {
                self.tell_applier(ToApplier::Read {
                    index: state.index,
                    reply: read.reply,
                    deadline: read.deadline,
                });
            }
        }

        if synchronous {
            // 7. Advance; the light ready carries commits learned while persisting.
            let mut light = self.raw.advance_append(ready);
            if let Some(commit) = light.commit_index() {
                // No fsync needed: a lost commit index is re-learned from the leader, and
                // snapshots record their own index as committed.
                self.log.set_commit(commit)?;
            }
            self.send(light.take_messages());
            self.apply(light.take_committed_entries());
            self.phases.mark("advancing and applying");
        } else {
            // 5./7. The writer thread makes it durable; this loop goes on meanwhile, and
            // the messages that depend on it wait for its report (`on_persisted`).
            let number = ready.number();
            let synced = ready.must_sync();
            let messages = ready.take_persisted_messages();
            self.raw.advance_append_async(ready);
            if synced {
                self.writer.send(number);
            }
            self.unpersisted.push_back(Unpersisted {
                number,
                synced,
                messages,
            });
            self.release_persisted();
            self.phases.mark("advancing");
        }
        self.publish_status();
        self.phases.mark("status");
        Ok(())
    }

    /// The writer made every Ready up to a number durable (or the store failed).
    fn on_persisted(&mut self, flushed: Persisted) {
        match flushed {
            Ok(number) => {
                self.durable = self.durable.max(number);
                self.raw.on_persist_ready(number);
                self.release_persisted();
            }
            Err(error) => {
                error!(node = self.config.id, %error, "storage failed; stopping the node");
                self.stopping = true;
            }
        }
    }

    /// Tells raft-rs of the Readies now durable, in order, and sends the messages that
    /// waited for them.
    fn release_persisted(&mut self) {
        while let Some(done) = self
            .unpersisted
            .pop_front_if(|front| !front.synced || front.number <= self.durable)
        {
            self.raw.on_persist_ready(done.number);
            self.send(done.messages);
        }
    }

    fn publish_status(&self) {
        let raft = &self.raw.raft;
        let stats = self.log.stats();
        let matched = if raft.state == StateRole::Leader {
            raft.prs()
                .iter()
                .map(|(id, pr)| (*id, pr.matched))
                .collect()
        } else {
            Vec::new()
        };
        let status = RaftStatus {
            id: self.config.id,
            role: raft.state.into(),
            leader_id: raft.leader_id,
            term: raft.term,
            commit: raft.raft_log.committed,
            applied: self.applied,
            last_index: stats.last_index,
            first_index: stats.first_index,
            snapshot_index: self.log.snapshot_metadata().index,
            matched,
        };
        self.status.send_if_modified(|current| {
            if *current == status {
                false
            } else {
                *current = status;
                true
            }
        });
    }
}
