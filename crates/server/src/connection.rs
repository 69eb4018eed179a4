//! One client connection: handshake, then three tasks in a pipeline.
//!
//! - The reader decodes requests in arrival order. Writes are submitted to consensus at
//!   once (so a pipelining client gets them batched into few log flushes) and in order
//!   (so they reach the log as the session sent them); everything else is queued.
//! - The sequencer completes requests strictly in the order they arrived: it waits for
//!   a write to be applied before answering it, and serves a read only when it reaches
//!   the head of the queue, so a read never overtakes the session's earlier writes.
//! - The writer drains the outbound queue to the socket; a notification from the applier
//!   enters the same queue, or is written to the socket at once when nothing is queued
//!   ahead of it (see [`crate::outbox`]).
//!
//! FIFO works both ways: a read never overtakes the session's earlier writes, and a
//! later write never overtakes the session's earlier reads. The second half is why a
//! write waits, before entering consensus, until every read the session sent before it
//! has been served: otherwise a pipelined `write, read, write` could apply the second
//! write before the read is served, and the read (or the watch it sets) would see a
//! change the session made after it. ZooKeeper's CommitProcessor gives the same promise
//! by holding commits while a session's reads are in flight.
//!
//! Bad input closes this connection only, with a log line saying why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use paddock_jute::{
    AuthPacket, ClientInfo, ConnectRequest, ConnectResponse, DecodeError, ErrorCode, Frame,
    FrameCodec, Id, Record, Request, RequestPacket, Response, WatcherType,
};
use paddock_raft::{ReadWait, Submitted};
use paddock_tree::acl::digest_id;
use rand::RngCore;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::command;
use crate::four_letter;
use crate::frames;
use crate::outbox::{OutboxReader, Sent, outbox};
use crate::server::Context;
use crate::state::{ConnHandle, ConnInfo, Core, Outcome, now_ms};
use crate::watches::{ConnId, WatchKind};

/// One request on its way through the sequencer.
enum Pending {
    /// A reply already known.
    Ready { frame: Bytes, close: bool },
    /// A write in consensus.
    Write {
        xid: i32,
        result: Submitted<Outcome>,
    },
    /// closeSession in consensus: reply, then close.
    Close {
        xid: i32,
        result: Submitted<Outcome>,
    },
    /// sync: a read index in consensus.
    Sync {
        xid: i32,
        path: String,
        wait: ReadWait,
    },
    /// A read served from the local tree when it reaches the head of the queue.
    Read {
        xid: i32,
        request: Request,
        auth: Arc<Vec<Id>>,
    },
    /// ping.
    Ping,
}

struct Session {
    id: i64,
    timeout: Duration,
}

/// Serves one accepted TCP connection until it closes.
pub(crate) async fn serve(ctx: Context, stream: TcpStream, addr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    let mut frames = FramedRead::new(read_half, FrameCodec::new(ctx.shared.config.frame_len_max));
    let first = match tokio::time::timeout(ctx.shared.config.handshake_timeout, frames.next()).await
    {
        Ok(Some(Ok(frame))) => frame,
        Ok(Some(Err(error))) => {
            info!(%addr, %error, "bad first frame; closing connection");
            return;
        }
        Ok(None) => return,
        Err(_) => {
            info!(%addr, "no handshake in time; closing connection");
            return;
        }
    };
    let connect = match first {
        Frame::FourLetterWord(word) => {
            let answer = four_letter::answer(&ctx, word);
            let mut write_half = write_half;
            let _ = write_half.write_all(answer.as_bytes()).await;
            let _ = write_half.shutdown().await;
            return;
        }
        Frame::Packet(payload) => match ConnectRequest::from_bytes(&payload) {
            Ok(connect) => connect,
            Err(error) => {
                info!(%addr, %error, "first frame is not a ConnectRequest; closing connection");
                return;
            }
        },
    };

    // A client that gave up waiting for this server closed its socket and attached its
    // session elsewhere. Read late (this server was paused, say), its re-attach would take
    // the session from the connection the client now uses, whose writes would then be
    // refused with SessionMoved.
    if connect.session_id != 0 && hung_up(&frames) {
        info!(%addr, session = format_args!("{:#x}", connect.session_id), "re-attach from a client that already closed its connection; ignored");
        return;
    }

    let conn = ctx.shared.next_conn_id();
    let (outbox, outbox_reader) = outbox(write_half, ctx.shared.config.outbound_frames_max);
    let closer = CancellationToken::new();
    let info = Arc::new(ConnInfo {
        addr,
        session_id: Default::default(),
        timeout_ms: Default::default(),
        established_ms: now_ms(),
        received: Default::default(),
        sent: Default::default(),
        queued: Default::default(),
        last_xid: Default::default(),
        last_zxid: Default::default(),
        last_op: parking_lot::Mutex::new("NA"),
        closing: Default::default(),
        // Nonzero: 0 means "server-internal" in log entries.
        owner: rand::random::<u64>() | 1,
        reply: Default::default(),
    });
    let writer = tokio::spawn(write_frames(
        outbox_reader,
        closer.clone(),
        info.clone(),
        ctx.clone(),
    ));
    let handle = ConnHandle {
        outbox,
        closer: closer.clone(),
        info: info.clone(),
    };

    match handshake(&ctx, conn, &connect, &handle).await {
        Some(session) => {
            run(&ctx, conn, session, &handle, &mut frames).await;
        }
        None => debug!(%addr, "handshake refused"),
    }

    // Cleanup: unregister, drop watches; the writer drains what is queued and closes.
    {
        let mut core = ctx.shared.core.lock();
        core.conns.remove(&conn);
        core.watches.remove_connection(conn);
        let session_id = info.session_id.load(Ordering::Acquire);
        if core.sessions.get(&session_id) == Some(&conn) {
            core.sessions.remove(&session_id);
        }
    }
    drop(handle);
    let _ = writer.await;
}

/// Whether the client has already closed its side, with nothing unread after its
/// ConnectRequest. Asked of the socket itself, without waiting: the runtime's own
/// readiness may have been cleared by the read that took the request, with the close
/// already behind it.
fn hung_up(frames: &FramedRead<OwnedReadHalf, FrameCodec>) -> bool {
    if !frames.read_buffer().is_empty() {
        return false;
    }
    let stream: &TcpStream = frames.get_ref().as_ref();
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    match socket2::SockRef::from(stream).peek(&mut byte) {
        Ok(read) => read == 0,
        Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Establishes or re-attaches the session. `None`: the connection must close (the
/// answer, if any, is already queued).
async fn handshake(
    ctx: &Context,
    conn: ConnId,
    connect: &ConnectRequest,
    handle: &ConnHandle,
) -> Option<Session> {
    let shared = &ctx.shared;
    let addr = handle.info.addr;
    let applied = shared.last_zxid.load(Ordering::Acquire);
    if connect.last_zxid_seen > applied {
        // The client has seen a newer state than ours: it must not go back in time.
        // No answer; it will try another server.
        info!(%addr, client_zxid = connect.last_zxid_seen, applied, "client is ahead of this server; closing");
        return None;
    }
    let timeout_ms = shared.config.negotiate_timeout(connect.timeout_ms);
    let read_only = connect.read_only.map(|_| false);
    let (session_id, password) = if connect.session_id == 0 {
        let id = shared.next_session_id();
        let mut password = vec![0u8; 16];
        rand::thread_rng().fill_bytes(&mut password);
        let entry = command::create_session(now_ms(), id, handle.info.owner, timeout_ms, &password);
        match ctx.proposer.propose(entry).await {
            Ok(Ok(applied)) if applied.err == ErrorCode::Ok => (id, password),
            Ok(Ok(applied)) => {
                warn!(%addr, err = ?applied.err, "session creation refused");
                return None;
            }
            Ok(Err(error)) => {
                warn!(%addr, %error, "session creation failed");
                return None;
            }
            Err(error) => {
                info!(%addr, %error, "cannot create a session now; closing so the client tries elsewhere");
                return None;
            }
        }
    } else {
        let known = || {
            let core = shared.core.lock();
            core.tree
                .session(connect.session_id)
                .is_some_and(|s| s.password == connect.passwd)
        };
        // This server may not have applied the session's creation yet (it was made
        // on another server a moment ago): like ZooKeeper's revalidation with the
        // leader, catch up to the cluster's commit point before calling it expired.
        let valid = known() || {
            caught_up(ctx).await?;
            known()
        };
        if !valid {
            info!(%addr, session = format_args!("{:#x}", connect.session_id), "re-attach of an unknown or expired session, or wrong password");
            refuse_as_expired(handle, read_only).await;
            return None;
        }
        // The session moves here: any other connection of it, on this server or
        // another, is dropped, and a log entry makes this connection its owner, so
        // whatever the old connection still had in flight is refused (SessionMoved).
        shared.drop_session_connection(connect.session_id);
        (ctx.announce_session_moved)(connect.session_id);
        let entry = command::move_session(now_ms(), connect.session_id, handle.info.owner);
        match ctx.proposer.propose(entry).await {
            Ok(Ok(applied)) if applied.err == ErrorCode::Ok => {}
            Ok(Ok(applied)) if applied.err == ErrorCode::SessionExpired => {
                refuse_as_expired(handle, read_only).await;
                return None;
            }
            outcome => {
                info!(%addr, ?outcome, "cannot re-attach the session now; closing so the client tries again");
                return None;
            }
        }
        (connect.session_id, connect.passwd.clone())
    };
    handle.info.session_id.store(session_id, Ordering::Release);
    handle
        .info
        .timeout_ms
        .store(i64::from(timeout_ms), Ordering::Release);
    {
        let mut core = shared.core.lock();
        // Another attach may have taken the session over since ours applied (a stale
        // ConnectRequest read late, say): then this connection must not serve it.
        let owned = core
            .tree
            .session(session_id)
            .is_some_and(|s| s.owner == handle.info.owner);
        if !owned {
            info!(%addr, session = format_args!("{session_id:#x}"), "session taken over by a newer attach; closing");
            return None;
        }
        core.conns.insert(conn, handle.clone());
        core.sessions.insert(session_id, conn);
    }
    shared.touch(session_id);
    let response = ConnectResponse {
        protocol_version: 0,
        timeout_ms,
        session_id,
        passwd: password,
        read_only,
    };
    handle.outbox.send(frames::connect(&response)).await.ok()?;
    debug!(%addr, session = format_args!("{session_id:#x}"), timeout_ms, "session established");
    Some(Session {
        id: session_id,
        timeout: Duration::from_millis(timeout_ms as u64),
    })
}

/// Waits until this server has applied everything the cluster committed before now.
/// `None`: no quorum answered; the caller closes without an answer so the client tries
/// again, as ZooKeeper does when it cannot revalidate a session.
async fn caught_up(ctx: &Context) -> Option<()> {
    let outcome = match ctx.proposer.submit_read_index().await {
        Ok(wait) => wait.await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => Some(()),
        Err(error) => {
            info!(%error, "cannot check a session with the cluster now; closing");
            None
        }
    }
}

/// Answers a re-attach the way ZooKeeper answers an expired session or a wrong
/// password: timeout 0, session 0, sixteen zero bytes; the caller then closes.
async fn refuse_as_expired(handle: &ConnHandle, read_only: Option<bool>) {
    let expired = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 0,
        session_id: 0,
        passwd: vec![0; 16],
        read_only,
    };
    let _ = handle.outbox.send(frames::connect(&expired)).await;
}

/// Reads requests until the client leaves, misbehaves or is dropped.
async fn run(
    ctx: &Context,
    conn: ConnId,
    session: Session,
    handle: &ConnHandle,
    frames: &mut FramedRead<tokio::net::tcp::OwnedReadHalf, FrameCodec>,
) {
    let addr = handle.info.addr;
    let (queue, queue_rx) = mpsc::channel(ctx.shared.config.outstanding_per_session_max);
    // Reads queued but not yet served: incremented here before a read is queued,
    // decremented by the sequencer once it is served. Writes wait for zero.
    let (reads_unserved, mut reads_unserved_rx) = watch::channel(0usize);
    let reads_unserved = Arc::new(reads_unserved);
    let sequencer = tokio::spawn(sequence(
        ctx.clone(),
        conn,
        session.id,
        queue_rx,
        handle.clone(),
        reads_unserved.clone(),
    ));
    let mut auth = Arc::new(vec![Id::new("ip", addr.ip().to_string())]);
    loop {
        let next = tokio::select! {
            () = handle.closer.cancelled() => break,
            next = tokio::time::timeout(session.timeout, frames.next()) => next,
        };
        let payload = match next {
            Err(_) => {
                info!(%addr, "client silent for its session timeout; closing");
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                info!(%addr, %error, "unreadable frame; closing connection");
                break;
            }
            Ok(Some(Ok(Frame::FourLetterWord(_)))) => break,
            Ok(Some(Ok(Frame::Packet(payload)))) => payload.freeze(),
        };
        ctx.shared
            .metrics
            .packets_received
            .fetch_add(1, Ordering::Relaxed);
        handle.info.received.fetch_add(1, Ordering::Relaxed);
        ctx.shared.touch(session.id);
        let pending = match RequestPacket::decode(&payload) {
            Ok(packet) => {
                handle
                    .info
                    .last_xid
                    .store(i64::from(packet.xid), Ordering::Relaxed);
                if enters_log(&packet.request) && *reads_unserved_rx.borrow() > 0 {
                    tokio::select! {
                        () = handle.closer.cancelled() => break,
                        served = reads_unserved_rx.wait_for(|unserved| *unserved == 0) => {
                            if served.is_err() {
                                break;
                            }
                        }
                    }
                }
                // The packet after its xid: the op code and request, logged as sent.
                let encoded = payload.slice(payload.len().min(4)..);
                let pending = admit(ctx, session.id, packet, encoded, &mut auth, handle).await;
                if matches!(pending, Pending::Read { .. }) {
                    reads_unserved.send_modify(|unserved| *unserved += 1);
                }
                pending
            }
            Err(DecodeError::UnknownOpCode(op)) => {
                // ZooKeeper answers Unimplemented (zxid -1) and closes.
                info!(%addr, op, "unknown opcode; closing connection");
                let xid = i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                Pending::Ready {
                    frame: frames::error(xid, -1, ErrorCode::Unimplemented),
                    close: true,
                }
            }
            Err(error) => {
                info!(%addr, %error, "malformed request; closing connection");
                break;
            }
        };
        let closes = matches!(
            pending,
            Pending::Ready { close: true, .. } | Pending::Close { .. }
        );
        ctx.shared
            .metrics
            .outstanding
            .fetch_add(1, Ordering::Relaxed);
        handle.info.queued.fetch_add(1, Ordering::Relaxed);
        if queue.send((Instant::now(), pending)).await.is_err() || closes {
            break;
        }
    }
    drop(queue);
    let _ = sequencer.await;
}

/// Whether a request becomes a log entry (and so must not overtake earlier reads).
fn enters_log(request: &Request) -> bool {
    matches!(
        request,
        Request::Create(_)
            | Request::Create2(_)
            | Request::CreateContainer(_)
            | Request::CreateTtl(_)
            | Request::Delete(_)
            | Request::SetData(_)
            | Request::SetAcl(_)
            | Request::Multi(_)
            | Request::CloseSession
    )
}

fn op_name(request: &Request) -> &'static str {
    match request {
        Request::Create(_)
        | Request::Create2(_)
        | Request::CreateContainer(_)
        | Request::CreateTtl(_) => "CREA",
        Request::Delete(_) | Request::DeleteContainer(_) => "DELE",
        Request::Exists(_) => "EXIS",
        Request::GetData(_) => "GETD",
        Request::SetData(_) => "SETD",
        Request::GetAcl(_) => "GETA",
        Request::SetAcl(_) => "SETA",
        Request::GetChildren(_) | Request::GetChildren2(_) => "GETC",
        Request::Sync(_) => "SYNC",
        Request::Ping => "PING",
        Request::Check(_) => "CHEC",
        Request::Multi(_) => "MULT",
        Request::MultiRead(_) => "MLTR",
        Request::Reconfig(_) => "RECO",
        Request::CheckWatches(_) => "CHKW",
        Request::RemoveWatches(_) => "REMW",
        Request::Auth(_) => "AUTH",
        Request::SetWatches(_) => "SETW",
        Request::SetWatches2(_) => "STW2",
        Request::Sasl(_) => "SASL",
        Request::GetEphemerals(_) => "GETE",
        Request::GetAllChildrenNumber(_) => "GETACN",
        Request::AddWatch(_) => "ADDW",
        Request::WhoAmI => "HOMI",
        Request::CloseSession => "CLOS",
    }
}

/// Decides what one request needs and starts it; writes enter consensus here, in order.
async fn admit(
    ctx: &Context,
    session_id: i64,
    packet: RequestPacket,
    encoded: Bytes,
    auth: &mut Arc<Vec<Id>>,
    handle: &ConnHandle,
) -> Pending {
    let xid = packet.xid;
    let zxid = ctx.shared.last_zxid.load(Ordering::Acquire);
    let op = op_name(&packet.request);
    *handle.info.last_op.lock() = op;
    let ready = |err: ErrorCode| Pending::Ready {
        frame: frames::error(xid, zxid, err),
        close: false,
    };
    match packet.request {
        Request::Ping => Pending::Ping,
        Request::Auth(packet) => authenticate(ctx, xid, &packet, auth),
        Request::Check(_) => {
            // Only meaningful inside multi; ZooKeeper rejects it alone and closes.
            Pending::Ready {
                frame: frames::error(xid, -1, ErrorCode::Unimplemented),
                close: true,
            }
        }
        Request::Reconfig(_) => ready(ErrorCode::ReconfigDisabled),
        Request::DeleteContainer(_) => ready(ErrorCode::BadArguments),
        Request::Sasl(_) => ready(ErrorCode::Unimplemented),
        Request::Sync(r) => match ctx.proposer.submit_read_index().await {
            Ok(wait) => Pending::Sync {
                xid,
                path: r.path,
                wait,
            },
            Err(_) => ready(ErrorCode::ConnectionLoss),
        },
        Request::CloseSession => {
            handle.info.closing.store(true, Ordering::Release);
            let entry = command::close_session(now_ms(), session_id, handle.info.owner);
            match ctx.proposer.submit(entry).await {
                Ok(result) => Pending::Close { xid, result },
                Err(_) => Pending::Ready {
                    frame: frames::error(xid, zxid, ErrorCode::ConnectionLoss),
                    close: true,
                },
            }
        }
        Request::Create(_)
        | Request::Create2(_)
        | Request::CreateContainer(_)
        | Request::CreateTtl(_)
        | Request::Delete(_)
        | Request::SetData(_)
        | Request::SetAcl(_)
        | Request::Multi(_) => {
            let client = command::Client {
                session_id,
                owner: handle.info.owner,
                xid: Some(xid),
            };
            let entry = command::write_encoded(now_ms(), client, auth, encoded);
            match ctx.proposer.submit(entry).await {
                Ok(result) => Pending::Write { xid, result },
                Err(_) => Pending::Ready {
                    frame: frames::error(xid, zxid, ErrorCode::ConnectionLoss),
                    close: true,
                },
            }
        }
        request => Pending::Read {
            xid,
            request,
            auth: auth.clone(),
        },
    }
}

/// auth: digest adds `digest:user:hash` (and `super` if it matches the super digest);
/// ip is implicit. Anything else fails and closes the connection, as in ZooKeeper.
fn authenticate(ctx: &Context, xid: i32, packet: &AuthPacket, auth: &mut Arc<Vec<Id>>) -> Pending {
    let ok = |frame| Pending::Ready {
        frame,
        close: false,
    };
    match packet.scheme.as_str() {
        "digest" => {
            let credentials = String::from_utf8_lossy(&packet.auth);
            let id = digest_id(&credentials);
            let mut ids = (**auth).clone();
            if ctx.shared.config.super_digest.as_deref() == Some(id.as_str()) {
                let super_id = Id::new("super", "");
                if !ids.contains(&super_id) {
                    ids.push(super_id);
                }
            }
            let digest = Id::new("digest", id);
            if !ids.contains(&digest) {
                ids.push(digest);
            }
            *auth = Arc::new(ids);
            ok(frames::error(xid, 0, ErrorCode::Ok))
        }
        "ip" => ok(frames::error(xid, 0, ErrorCode::Ok)),
        scheme => {
            info!(scheme, "unknown auth scheme; closing connection");
            ctx.shared
                .metrics
                .auth_failed
                .fetch_add(1, Ordering::Relaxed);
            Pending::Ready {
                frame: frames::error(xid, 0, ErrorCode::AuthFailed),
                close: true,
            }
        }
    }
}

/// Completes requests in arrival order.
async fn sequence(
    ctx: Context,
    conn: ConnId,
    session_id: i64,
    mut queue: mpsc::Receiver<(Instant, Pending)>,
    handle: ConnHandle,
    reads_unserved: Arc<watch::Sender<usize>>,
) {
    let addr = handle.info.addr;
    while let Some((received, pending)) = queue.recv().await {
        let mut close = false;
        let frame = match pending {
            Pending::Ready { frame, close: c } => {
                close = c;
                Some(frame)
            }
            Pending::Ping => Some(frames::error(
                paddock_jute::xid::PING,
                ctx.shared.last_zxid.load(Ordering::Acquire),
                ErrorCode::Ok,
            )),
            Pending::Write { xid, result } => match announced(&handle, &queue, xid, result).await {
                // Answered by the thread that applied it.
                (true, Ok(Ok(_))) => None,
                (_, Ok(Ok(applied))) => Some(frames::reply(
                    xid,
                    applied.zxid,
                    applied.err,
                    &applied.response,
                )),
                (_, Ok(Err(_))) => Some(frames::error(
                    xid,
                    ctx.shared.last_zxid.load(Ordering::Acquire),
                    ErrorCode::SystemError,
                )),
                (_, Err(error)) => {
                    // The outcome is unknown (leader lost, timeout): like ZooKeeper on a
                    // leader change, drop the connection; the client sees ConnectionLoss
                    // and reconnects, its session intact.
                    info!(%addr, %error, "write outcome unknown; closing connection");
                    handle.closer.cancel();
                    break;
                }
            },
            Pending::Close { xid, result } => {
                close = true;
                match result.await {
                    Ok(Ok(applied)) => Some(frames::reply(
                        xid,
                        applied.zxid,
                        ErrorCode::Ok,
                        &Response::Empty,
                    )),
                    _ => None,
                }
            }
            Pending::Sync { xid, path, wait } => match wait.await {
                Ok(()) => Some(frames::reply(
                    xid,
                    ctx.shared.last_zxid.load(Ordering::Acquire),
                    ErrorCode::Ok,
                    &Response::Sync(path),
                )),
                Err(error) => {
                    info!(%addr, %error, "sync could not complete; closing connection");
                    handle.closer.cancel();
                    break;
                }
            },
            Pending::Read { xid, request, auth } => {
                // Served and queued under the lock: no notification can slip between
                // what this read saw and where its reply sits in the queue.
                let mut core = ctx.shared.core.lock();
                let frame = serve_read(
                    &mut core,
                    conn,
                    session_id,
                    xid,
                    request,
                    &auth,
                    &ctx.shared.metrics,
                );
                core.reply(conn, frame, queue.is_empty(), &ctx.shared.metrics);
                drop(core);
                reads_unserved.send_modify(|unserved| *unserved = unserved.saturating_sub(1));
                None
            }
        };
        ctx.shared
            .metrics
            .outstanding
            .fetch_sub(1, Ordering::Relaxed);
        handle.info.queued.fetch_sub(1, Ordering::Relaxed);
        ctx.shared.metrics.latency.record(received.elapsed());
        if let Some(frame) = frame {
            // With nothing behind it, the writer task would have nothing to pack this
            // reply with: written here, it saves that task's wake-up.
            let sent = if queue.is_empty() {
                handle.outbox.write_or_send(frame).await
            } else {
                handle.outbox.send(frame).await.map(|()| Sent::Queued)
            };
            match sent {
                Ok(Sent::Written) => handle.info.count_sent(1, &ctx.shared.metrics),
                Ok(Sent::Queued) => {}
                Err(_) => {
                    handle.closer.cancel();
                    break;
                }
            }
        }
        if close {
            break;
        }
    }
}

/// Waits for write `xid`'s outcome; when no request waits behind it and every reply
/// before it is written (a client with one request in flight), first lets the applying
/// thread answer it (see [`crate::reply_slot`]). True if that thread did.
async fn announced<F: Future>(
    handle: &ConnHandle,
    queue: &mpsc::Receiver<(Instant, Pending)>,
    xid: i32,
    result: F,
) -> (bool, F::Output) {
    if !queue.is_empty() || !handle.outbox.idle() {
        // Under load: the writer task packs this reply with those around it, in one
        // write, off the thread that applies.
        return (false, result.await);
    }
    handle.info.reply.announce(xid);
    let outcome = result.await;
    (handle.info.reply.finish(), outcome)
}

fn serve_read(
    core: &mut Core,
    conn: ConnId,
    session_id: i64,
    xid: i32,
    request: Request,
    auth: &[Id],
    metrics: &crate::metrics::Metrics,
) -> Bytes {
    let zxid = core.tree.last_zxid();
    let result = match &request {
        Request::Exists(r) => {
            let result = core.tree.read(session_id, &request, auth);
            if r.watch {
                match &result {
                    Ok(_) => core.watches.add(conn, &r.path, WatchKind::Data),
                    Err(ErrorCode::NoNode) => core.watches.add(conn, &r.path, WatchKind::Exist),
                    Err(_) => {}
                }
            }
            result
        }
        Request::GetData(r) => {
            let result = core.tree.read(session_id, &request, auth);
            if r.watch && result.is_ok() {
                core.watches.add(conn, &r.path, WatchKind::Data);
            }
            result
        }
        Request::GetChildren(r) | Request::GetChildren2(r) => {
            let result = core.tree.read(session_id, &request, auth);
            if r.watch && result.is_ok() {
                core.watches.add(conn, &r.path, WatchKind::Child);
            }
            result
        }
        Request::AddWatch(r) => {
            let kind = match r.mode {
                paddock_jute::AddWatchMode::Persistent => WatchKind::Persistent,
                paddock_jute::AddWatchMode::PersistentRecursive => WatchKind::PersistentRecursive,
            };
            core.watches.add(conn, &r.path, kind);
            Ok(Response::AddWatch)
        }
        Request::CheckWatches(r) => match WatcherType::from_code(r.watcher_type) {
            Ok(kind) if core.watches.has(conn, &r.path, kind) => Ok(Response::Empty),
            Ok(_) => Err(ErrorCode::NoWatcher),
            Err(_) => Err(ErrorCode::MarshallingError),
        },
        Request::RemoveWatches(r) => match WatcherType::from_code(r.watcher_type) {
            Ok(kind) if core.watches.remove_type(conn, &r.path, kind) => Ok(Response::Empty),
            Ok(_) => Err(ErrorCode::NoWatcher),
            Err(_) => Err(ErrorCode::MarshallingError),
        },
        Request::WhoAmI => Ok(Response::WhoAmI(auth.iter().map(client_info).collect())),
        Request::SetWatches(r) | Request::SetWatches2(r) => {
            set_watches(core, conn, r, metrics);
            Ok(Response::Empty)
        }
        _ => core.tree.read(session_id, &request, auth),
    };
    match result {
        Ok(response) => frames::reply(xid, zxid, ErrorCode::Ok, &response),
        Err(err) => frames::error(xid, zxid, err),
    }
}

fn client_info(id: &Id) -> ClientInfo {
    let user = match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or_default().to_owned(),
        "super" => String::new(),
        _ => id.id.clone(),
    };
    ClientInfo {
        auth_scheme: id.scheme.clone(),
        user,
    }
}

/// Re-registers a reconnecting client's watches, firing at once (before the reply) the
/// events it missed while away, as ZooKeeper's DataTree.setWatches does.
fn set_watches(
    core: &mut Core,
    conn: ConnId,
    request: &paddock_jute::SetWatches,
    metrics: &crate::metrics::Metrics,
) {
    use paddock_jute::EventType;
    let relative = request.relative_zxid;
    let zxid = core.tree.last_zxid();
    let mut missed = Vec::new();
    for path in &request.data_watches {
        match core.tree.stat(path) {
            None => missed.push((EventType::NodeDeleted, path)),
            Some(stat) if stat.mzxid > relative => missed.push((EventType::NodeDataChanged, path)),
            Some(_) => core.watches.add(conn, path, WatchKind::Data),
        }
    }
    for path in &request.exist_watches {
        match core.tree.stat(path) {
            Some(_) => missed.push((EventType::NodeCreated, path)),
            None => core.watches.add(conn, path, WatchKind::Exist),
        }
    }
    for path in &request.child_watches {
        match core.tree.stat(path) {
            None => missed.push((EventType::NodeDeleted, path)),
            Some(stat) if stat.pzxid > relative => {
                missed.push((EventType::NodeChildrenChanged, path))
            }
            Some(_) => core.watches.add(conn, path, WatchKind::Child),
        }
    }
    for path in &request.persistent_watches {
        core.watches.add(conn, path, WatchKind::Persistent);
    }
    for path in &request.persistent_recursive_watches {
        core.watches.add(conn, path, WatchKind::PersistentRecursive);
    }
    for (event, path) in missed {
        core.send(conn, frames::notification(event, path, zxid), metrics);
    }
}

/// Writes queued frames to the socket, several per syscall when they pile up.
async fn write_frames(
    mut outbox: OutboxReader,
    closer: CancellationToken,
    info: Arc<ConnInfo>,
    ctx: Context,
) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    loop {
        buffer.clear();
        let count = tokio::select! {
            () = closer.cancelled() => break,
            count = outbox.next_batch(&mut buffer, 256 * 1024) => count,
        };
        let Some(count) = count else { break };
        let written = tokio::select! {
            () = closer.cancelled() => break,
            written = outbox.write_all(&buffer) => written,
        };
        if written.is_err() {
            closer.cancel();
            break;
        }
        outbox.written(count);
        info.count_sent(count, &ctx.shared.metrics);
    }
    outbox.shutdown();
}
