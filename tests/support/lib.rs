//! Helpers shared by the integration tests: connecting real clients to an ensemble,
//! waiting with deadlines, speaking raw protocol when a test needs bytes a client
//! would never send.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

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

/// Logs to the test output when RUST_LOG is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A client with a 4 s session timeout.
pub async fn connect(hosts: &str) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(4))
        .connect(hosts)
        .await
        .unwrap()
}

/// Awaits `future`, failing the test after `secs` seconds.
pub async fn within<T>(secs: u64, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .expect("timed out")
}
