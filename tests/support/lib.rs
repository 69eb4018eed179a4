//! Helpers shared by the integration tests: connecting real clients to an ensemble,
//! waiting with deadlines, speaking raw protocol when a test needs bytes a client
//! would never send, and asking servers four-letter words.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use paddock_jute::{
    ConnectRequest, ConnectResponse, EventType, OpCode, Record, ReplyHeader, ReplyPacket, Request,
    RequestPacket, WatcherEvent,
};
use paddock_testing::Ensemble;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zookeeper_client as zk;

/// world:anyone, persistent.
pub static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
/// world:anyone, ephemeral.
pub static EPHEMERAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
/// world:anyone, ephemeral sequential.
pub static EPHEMERAL_SEQ: &zk::CreateOptions<'static> =
    &zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
/// world:anyone, persistent sequential.
pub static OPEN_SEQ: &zk::CreateOptions<'static> =
    &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());

/// Logs to the test output when RUST_LOG is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The ensemble most tests use: three nodes, in-memory storage, default 200 ms tick.
pub async fn ensemble() -> Ensemble {
    init_tracing();
    Ensemble::builder()
        .nodes(3)
        .in_memory()
        .start()
        .await
        .unwrap()
}

/// A client with a 4 s session timeout.
pub async fn connect(hosts: &str) -> zk::Client {
    connect_with_timeout(hosts, Duration::from_secs(4)).await
}

/// A client with the given requested session timeout.
pub async fn connect_with_timeout(hosts: &str, session_timeout: Duration) -> zk::Client {
    within(
        30,
        zk::Client::connector()
            .with_session_timeout(session_timeout)
            .connect(hosts),
    )
    .await
    .unwrap()
}

/// A client connected to node `index` only.
pub async fn connect_to_node(ensemble: &Ensemble, index: usize) -> zk::Client {
    connect(&ensemble.node(index).client_addr().to_string()).await
}

/// Awaits `future`, failing the test after `secs` seconds.
pub async fn within<T>(secs: u64, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .expect("timed out")
}

/// Polls `condition` until it holds, failing the test with `what` after `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {secs} s waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates, reads back and deletes a node through a fresh client: proof that the
/// ensemble still serves ordinary clients.
pub async fn assert_serves(hosts: &str, path: &str) {
    let client = connect(hosts).await;
    within(10, client.create(path, b"still here", OPEN))
        .await
        .unwrap();
    let (data, _) = within(10, client.get_data(path)).await.unwrap();
    assert_eq!(data, b"still here");
    within(10, client.delete(path, None)).await.unwrap();
    close(client).await;
}

/// Closes a client's session and waits until the client saw it closed.
pub async fn close(client: zk::Client) {
    let mut state = client.state_watcher();
    drop(client);
    let closed = within(10, state.changed()).await;
    assert_eq!(closed, zk::SessionState::Closed);
}

/// Sends a four-letter word to `addr` and returns the whole answer.
pub async fn four_letter(addr: SocketAddr, word: &str) -> String {
    within(10, async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(word.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    })
    .await
}

/// The index of the running node whose `cons` lists a connection of `session_id`.
pub async fn node_holding(ensemble: &Ensemble, session_id: i64) -> Option<usize> {
    let needle = format!("sid=0x{session_id:x},");
    for index in 0..ensemble.len() {
        if !ensemble.node(index).is_running() {
            continue;
        }
        let cons = four_letter(ensemble.node(index).client_addr(), "cons").await;
        if cons.contains(&needle) {
            return Some(index);
        }
    }
    None
}

/// Waits until some node lists a connection of `session_id`, and returns it.
pub async fn wait_node_holding(ensemble: &Ensemble, session_id: i64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(index) = node_holding(ensemble, session_id).await {
            return index;
        }
        assert!(
            Instant::now() < deadline,
            "no node holds a connection of session {session_id:#x}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A raw client connection speaking paddock-jute frames, for bytes and sequences a
/// real client never produces.
pub struct RawConn {
    pub stream: TcpStream,
}

impl RawConn {
    /// Opens a TCP connection without sending anything.
    pub async fn open(addr: SocketAddr) -> Self {
        let stream = within(10, TcpStream::connect(addr)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self { stream }
    }

    /// Opens a connection and establishes a new session (4 s timeout requested).
    pub async fn session(addr: SocketAddr) -> (Self, ConnectResponse) {
        Self::session_with_timeout(addr, 4_000).await
    }

    /// Opens a connection and establishes a new session with the given timeout.
    pub async fn session_with_timeout(
        addr: SocketAddr,
        timeout_ms: i32,
    ) -> (Self, ConnectResponse) {
        let mut conn = Self::open(addr).await;
        let response = conn
            .handshake(&ConnectRequest {
                timeout_ms,
                passwd: vec![0; 16],
                read_only: Some(false),
                ..Default::default()
            })
            .await
            .expect("server closed the connection during the handshake");
        assert_ne!(response.session_id, 0, "handshake refused: {response:?}");
        (conn, response)
    }

    /// Asks to re-attach `session` (4 s timeout) and reads the answer (`None` if the
    /// server closed the connection instead).
    pub async fn reattach(&mut self, session: &ConnectResponse) -> Option<ConnectResponse> {
        self.handshake(&ConnectRequest {
            timeout_ms: 4_000,
            session_id: session.session_id,
            passwd: session.passwd.clone(),
            read_only: Some(false),
            ..Default::default()
        })
        .await
    }

    /// Sends a ConnectRequest and reads the ConnectResponse (`None` if the server
    /// closed the connection instead).
    pub async fn handshake(&mut self, request: &ConnectRequest) -> Option<ConnectResponse> {
        self.send_payload(&request.to_bytes()).await;
        let frame = self.read_frame(10).await?;
        Some(ConnectResponse::from_bytes(&frame).unwrap())
    }

    /// Sends `payload` with its length prefix.
    pub async fn send_payload(&mut self, payload: &[u8]) {
        let mut framed = (payload.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(payload);
        self.send_raw(&framed).await;
    }

    /// Sends bytes as they are. A server that already closed the connection may
    /// reset it: that is not an error here.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Sends one request.
    pub async fn send(&mut self, xid: i32, request: Request) {
        let mut payload = Vec::new();
        RequestPacket { xid, request }.write_to(&mut payload);
        self.send_payload(&payload).await;
    }

    /// Reads one frame's payload; `None` when the server closed the connection.
    /// Fails the test if nothing arrives within `secs`.
    pub async fn read_frame(&mut self, secs: u64) -> Option<Vec<u8>> {
        within(secs, async {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.ok()?;
            let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut payload).await.ok()?;
            Some(payload)
        })
        .await
    }

    /// Reads the reply to a request of type `op`, skipping watch notifications.
    pub async fn read_reply(&mut self, op: OpCode) -> Option<ReplyPacket> {
        loop {
            let frame = self.read_frame(10).await?;
            let reply = ReplyPacket::decode(op, &frame).unwrap();
            if reply.header.xid != paddock_jute::xid::NOTIFICATION {
                return Some(reply);
            }
        }
    }

    /// Sends `request` and reads up to its reply, returning the watch notifications
    /// that arrived first, in order.
    pub async fn call_collecting(
        &mut self,
        xid: i32,
        request: Request,
    ) -> (Vec<(EventType, String)>, ReplyPacket) {
        let op = request.op_code();
        self.send(xid, request).await;
        let mut events = Vec::new();
        loop {
            let frame = self
                .read_frame(10)
                .await
                .expect("connection closed before the reply");
            let header = ReplyHeader::from_bytes(&frame).unwrap();
            if header.xid == paddock_jute::xid::NOTIFICATION {
                let event = WatcherEvent::from_bytes(&frame[16..]).unwrap();
                events.push((event.event_type, event.path));
                continue;
            }
            assert_eq!(header.xid, xid, "reply out of order");
            return (events, ReplyPacket::decode(op, &frame).unwrap());
        }
    }

    /// Sends a request and reads its reply.
    pub async fn call(&mut self, xid: i32, request: Request) -> Option<ReplyPacket> {
        let op = request.op_code();
        self.send(xid, request).await;
        self.read_reply(op).await
    }

    /// Waits until the server closes the connection, discarding whatever it sends
    /// first. Fails the test if it is still open after `secs`.
    pub async fn expect_closed(&mut self, secs: u64) {
        within(secs, async {
            let mut sink = [0u8; 4096];
            loop {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
}

/// An open (world:anyone, all permissions) ACL for raw create requests.
pub fn open_acl() -> Vec<paddock_jute::Acl> {
    vec![paddock_jute::Acl {
        perms: paddock_jute::perms::ALL,
        id: paddock_jute::Id::anyone(),
    }]
}

/// A data path for raw requests.
pub fn path_watch(path: &str, watch: bool) -> paddock_jute::PathWatchRequest {
    paddock_jute::PathWatchRequest {
        path: path.into(),
        watch,
    }
}
