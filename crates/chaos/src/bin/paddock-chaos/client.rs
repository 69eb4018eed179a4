//! Client plumbing shared by the workloads: a session that reconnects after it ends,
//! and timed, gated operations whose outcome is ok, a definite failure or unknown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_chaos::checks::MovedReply;
use parking_lot::Mutex;
use zookeeper_client as zk;

/// Persistent znodes, open to anyone.
pub static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
/// Persistent sequential znodes.
pub static SEQUENTIAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
/// Ephemeral znodes.
pub static EPHEMERAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
/// Ephemeral sequential znodes.
pub static EPHEMERAL_SEQUENTIAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());

/// Whether the session behind an error is over (a new session is needed).
pub fn ends_session(error: &zk::Error) -> bool {
    matches!(
        error,
        zk::Error::SessionExpired | zk::Error::ClientClosed | zk::Error::AuthFailed
    )
}

/// Where `SessionMoved` replies are recorded.
pub type MovedSink = Arc<Mutex<Vec<MovedReply>>>;

/// A session to a fixed set of hosts that is replaced when it ends (expired, closed)
/// or when the workload abandons it.
pub struct Conn {
    hosts: String,
    session_timeout: Duration,
    client: Option<zk::Client>,
    worker: String,
    clock: Clock,
    moved: MovedSink,
}

impl Conn {
    /// A session (made on first use) to `hosts` ("h:p,h:p") for `worker`; SessionMoved
    /// replies it is told of go to `moved`.
    pub fn new(
        hosts: String,
        session_timeout: Duration,
        worker: String,
        clock: Clock,
        moved: MovedSink,
    ) -> Self {
        Self {
            hosts,
            session_timeout,
            client: None,
            worker,
            clock,
            moved,
        }
    }

    /// The current client, connecting a new session if there is none or it ended.
    /// `None` if connecting failed (after a short back-off).
    pub async fn get(&mut self) -> Option<zk::Client> {
        if let Some(client) = &self.client {
            match client.state() {
                zk::SessionState::Expired
                | zk::SessionState::Closed
                | zk::SessionState::AuthFailed => self.client = None,
                _ => return Some(client.clone()),
            }
        }
        let connector = zk::Client::connector().with_session_timeout(self.session_timeout);
        match tokio::time::timeout(self.session_timeout * 2, connector.connect(&self.hosts)).await {
            Ok(Ok(client)) => {
                self.client = Some(client.clone());
                Some(client)
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                None
            }
        }
    }

    /// Notes an error: records a SessionMoved, drops the session if the error ended it.
    pub fn note(&mut self, error: &zk::Error) {
        if *error == zk::Error::SessionMoved
            && let Some(client) = &self.client
        {
            self.moved.lock().push(MovedReply {
                at_ns: self.clock.now(),
                worker: self.worker.clone(),
                session: client.session_id().0,
            });
        }
        if ends_session(error) {
            self.client = None;
        }
    }

    /// Abandons the session (dropping the last handle closes it, or lets it expire).
    pub fn reset(&mut self) {
        self.client = None;
    }
}

/// What an operation did, with its place in time.
pub struct Outcome<T, E> {
    /// Invocation, ns since the start of the run.
    pub call_ns: u64,
    /// Completion (or time-out), ns since the start of the run.
    pub return_ns: u64,
    /// The result; `Err(None)` if it timed out.
    pub result: Result<T, Option<E>>,
}

impl<T, E> Outcome<T, E> {
    /// The error, if the server or client reported one.
    pub fn error(&self) -> Option<&E> {
        match &self.result {
            Err(Some(error)) => Some(error),
            _ => None,
        }
    }
}

/// A clock for histories: ns since the run started.
#[derive(Debug, Clone, Copy)]
pub struct Clock(pub Instant);

impl Clock {
    /// Now, in ns since the start.
    pub fn now(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// Runs one operation: waits at the gate (the nemesis closes it briefly to quiesce
/// writes), stamps the invocation, sends (the client sends at call time), and waits at
/// most `timeout` for the reply.
pub async fn run_op<T, E, F>(
    gate: &tokio::sync::RwLock<()>,
    clock: Clock,
    timeout: Duration,
    op: impl FnOnce() -> F,
) -> Outcome<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let _open = gate.read().await;
    let call_ns = clock.now();
    let result = match tokio::time::timeout(timeout, op()).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Some(error)),
        Err(_) => Err(None),
    };
    Outcome {
        call_ns,
        return_ns: clock.now(),
        result,
    }
}
