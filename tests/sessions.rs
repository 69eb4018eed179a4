//! Sessions: expiry (forced through the log, and real expiry of a silent client)
//! deletes ephemerals everywhere; a session outlives the server it was connected to,
//! keeping its ephemerals and its one-shot watches; a session can be resumed on
//! another server; closing a session removes its ephemerals.
//!
//! The fixture's tickTime is 200 ms, so sessions may last 0.4–4 s.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use paddock_integration_tests::*;
use paddock_jute::{ConnectRequest, CreateRequest, Record, Request};
use tokio::io::AsyncWriteExt;
use zookeeper_client as zk;

/// Waits until the client's state watcher reports `target`.
async fn wait_state(state: &mut zk::StateWatcher, target: zk::SessionState) {
    within(20, async {
        loop {
            let now = state.changed().await;
            if now == target {
                return;
            }
        }
    })
    .await;
}

/// Waits for the client to lose its connection and get it back. The state watcher
/// keeps only the latest state, so a quick reconnect may hide `Disconnected`.
async fn wait_reconnected(state: &mut zk::StateWatcher) {
    let first = within(20, state.changed()).await;
    if first != zk::SessionState::SyncConnected {
        assert_eq!(first, zk::SessionState::Disconnected);
        wait_state(state, zk::SessionState::SyncConnected).await;
    }
}

/// A one-shot exists watch on `path`, which must exist.
async fn watch_existing(client: &zk::Client, path: &str) -> zk::OneshotWatcher {
    let (stat, watch) = client.check_and_watch_stat(path).await.unwrap();
    assert!(stat.is_some(), "{path} should exist");
    watch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_expiry_deletes_ephemerals_everywhere() {
    let ensemble = ensemble().await;
    let doomed = connect_to_node(&ensemble, 0).await;
    let observer = connect_to_node(&ensemble, 2).await;
    doomed.create("/e1", b"", EPHEMERAL).await.unwrap();
    doomed.create("/parent", b"", OPEN).await.unwrap();
    let (_, seq) = doomed
        .create("/parent/e-", b"", EPHEMERAL_SEQ)
        .await
        .unwrap();
    let e2 = format!("/parent/e-{seq}");
    observer.sync("/").await.unwrap();
    let e1_gone = watch_existing(&observer, "/e1").await;
    let e2_gone = watch_existing(&observer, &e2).await;
    let (_, children) = observer.list_and_watch_children("/parent").await.unwrap();

    let mut state = doomed.state_watcher();
    ensemble
        .expire_session(doomed.session_id().0)
        .await
        .unwrap();
    assert_eq!(
        within(10, e1_gone.changed()).await.event_type,
        zk::EventType::NodeDeleted
    );
    assert_eq!(
        within(10, e2_gone.changed()).await.event_type,
        zk::EventType::NodeDeleted
    );
    assert_eq!(
        within(10, children.changed()).await.event_type,
        zk::EventType::NodeChildrenChanged
    );
    assert!(observer.list_children("/parent").await.unwrap().is_empty());
    assert!(observer.check_stat("/parent").await.unwrap().is_some());
    // The expired client learns it when it reconnects, and its calls fail from then on.
    wait_state(&mut state, zk::SessionState::Expired).await;
    assert_eq!(
        doomed.check_stat("/").await.unwrap_err(),
        zk::Error::SessionExpired
    );
    for index in 0..3 {
        let server = ensemble.node(index);
        let sessions = server.server().unwrap().session_ids();
        assert!(
            !sessions.contains(&doomed.session_id().0),
            "node {index} still knows the session"
        );
    }
    ensemble.shutdown().await;
}

/// A client that drops off without closing: its session must expire on its own, from
/// the leader's clock, and take its ephemerals with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_expire_and_lose_their_ephemerals() {
    let ensemble = ensemble().await;
    let observer = connect_to_node(&ensemble, 1).await;

    // 1. A real client, detached (no CloseSession when dropped), goes away.
    let leaving = zk::Client::connector()
        .with_session_timeout(Duration::from_millis(800))
        .with_detached()
        .connect(&ensemble.node(0).client_addr().to_string())
        .await
        .unwrap();
    leaving.create("/left", b"", EPHEMERAL).await.unwrap();
    let session = leaving.session().clone();
    observer.sync("/").await.unwrap();
    let left = watch_existing(&observer, "/left").await;
    drop(leaving);

    // 2. A raw client that stays connected but never says another word.
    let (mut silent, response) =
        RawConn::session_with_timeout(ensemble.node(2).client_addr(), 800).await;
    assert_eq!(response.timeout_ms, 800);
    let reply = silent
        .call(
            1,
            Request::Create2(CreateRequest {
                path: "/mute".into(),
                data: Some(Vec::new()),
                acl: open_acl(),
                flags: 1,
                ttl: 0,
            }),
        )
        .await
        .unwrap();
    assert_eq!(reply.header.err, 0);
    observer.sync("/").await.unwrap();
    let mute = watch_existing(&observer, "/mute").await;

    assert_eq!(
        within(20, left.changed()).await.event_type,
        zk::EventType::NodeDeleted
    );
    assert_eq!(
        within(20, mute.changed()).await.event_type,
        zk::EventType::NodeDeleted
    );
    // The server gave up on the silent connection.
    silent.expect_closed(10).await;
    // An expired session cannot be resumed.
    let resumed = zk::Client::connector()
        .with_session(session)
        .connect(&ensemble.connect_string())
        .await;
    assert_eq!(resumed.unwrap_err(), zk::Error::SessionExpired);
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_session_resumes_on_another_server() {
    let ensemble = ensemble().await;
    let first = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(4))
        .with_detached()
        .connect(&ensemble.node(0).client_addr().to_string())
        .await
        .unwrap();
    first.create("/mine", b"", EPHEMERAL).await.unwrap();
    let id = first.session_id();
    let info = first.session().clone();
    drop(first);
    let second = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(4))
        .with_session(info)
        .connect(&ensemble.node(2).client_addr().to_string())
        .await
        .unwrap();
    assert_eq!(second.session_id(), id);
    assert_eq!(
        second
            .check_stat("/mine")
            .await
            .unwrap()
            .unwrap()
            .ephemeral_owner,
        id.0
    );
    assert_eq!(second.list_ephemerals("/").await.unwrap(), ["/mine"]);
    second.delete("/mine", None).await.unwrap();
    second.create("/mine2", b"", EPHEMERAL).await.unwrap();
    let observer = connect_to_node(&ensemble, 1).await;
    close(second).await;
    observer.sync("/").await.unwrap();
    assert_eq!(observer.check_stat("/mine2").await.unwrap(), None);
    ensemble.shutdown().await;
}

/// A session made on one server and re-attached at once on a server that has not yet
/// applied its creation (a follower cut off while it was made) is valid there: the
/// server catches up with the cluster before it calls a session expired, as ZooKeeper's
/// follower asks its leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_reattaches_on_a_server_that_lags() {
    let ensemble = ensemble().await;
    let leader = ensemble
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    let lagging = (leader + 1) % 3;
    ensemble.isolate(lagging);
    let (conn, session) = RawConn::session(ensemble.node(leader).client_addr()).await;
    drop(conn);
    ensemble.heal();
    let mut conn = RawConn::open(ensemble.node(lagging).client_addr()).await;
    let response = conn
        .reattach(&session)
        .await
        .expect("re-attach refused by closing");
    assert_eq!(response.session_id, session.session_id, "called expired");
    let reply = conn
        .call(1, Request::Exists(path_watch("/", false)))
        .await
        .unwrap();
    assert_eq!(reply.header.err, 0);
    ensemble.shutdown().await;
}

/// A re-attach the client gave up on before the server read it (the server was paused,
/// say, and the client moved on and closed that socket) leaves the session with the
/// connection the client uses: its writes are not refused with SessionMoved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reattach_from_a_closed_connection_leaves_the_session_where_it_is() {
    let ensemble = ensemble().await;
    let (mut live, session) = RawConn::session(ensemble.node(0).client_addr()).await;
    let mut stale = RawConn::open(ensemble.node(1).client_addr()).await;
    let request = ConnectRequest {
        timeout_ms: 4_000,
        session_id: session.session_id,
        passwd: session.passwd.clone(),
        read_only: Some(false),
        ..Default::default()
    };
    let payload = request.to_bytes();
    let mut framed = (payload.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&payload);
    // The request and the client's close arrive together, as at a server that resumes:
    // corked, the socket sends them as one segment when it is shut down.
    cork(&stale.stream);
    stale.send_raw(&framed).await;
    stale.stream.shutdown().await.unwrap();
    assert!(
        stale.read_frame(10).await.is_none(),
        "the closed connection was answered: the session moved to it"
    );
    let reply = live
        .call(
            1,
            Request::Create(CreateRequest {
                path: "/still-here".into(),
                data: Some(Vec::new()),
                acl: open_acl(),
                flags: 0,
                ttl: 0,
            }),
        )
        .await
        .unwrap();
    assert_eq!(reply.header.err, 0, "the live connection lost its session");
    ensemble.shutdown().await;
}

/// Holds what `stream` sends until it is full or shut down (`TCP_CORK`).
fn cork(stream: &tokio::net::TcpStream) {
    socket2::SockRef::from(stream).set_tcp_cork(true).unwrap();
}

/// Kill the server a client is connected to: the client moves to another server with
/// the same session, its ephemerals stay, and watches it set before the kill still fire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_the_death_of_its_server() {
    let mut ensemble = ensemble().await;
    let client = connect(&ensemble.connect_string()).await;
    let id = client.session_id();
    let home = wait_node_holding(&ensemble, id.0).await;
    client.create("/eph", b"", EPHEMERAL).await.unwrap();
    client.create("/w", b"0", OPEN).await.unwrap();
    let (_, _, data_watch) = client.get_and_watch_data("/w").await.unwrap();
    let (_, child_watch) = client.list_and_watch_children("/w").await.unwrap();
    let (absent, exist_watch) = client.check_and_watch_stat("/later").await.unwrap();
    assert!(absent.is_none());
    let mut state = client.state_watcher();

    ensemble.kill(home).await.unwrap();
    wait_reconnected(&mut state).await;
    assert_eq!(client.session_id(), id, "same session after the move");
    let new_home = wait_node_holding(&ensemble, id.0).await;
    assert_ne!(new_home, home);
    ensemble
        .wait_for_leader(Duration::from_secs(20))
        .await
        .unwrap();

    let observer_node = (0..3).find(|i| *i != home && *i != new_home).unwrap();
    let observer = connect_to_node(&ensemble, observer_node).await;
    observer.sync("/").await.unwrap();
    assert_eq!(
        observer
            .check_stat("/eph")
            .await
            .unwrap()
            .unwrap()
            .ephemeral_owner,
        id.0,
        "the ephemeral outlived the server"
    );
    observer.set_data("/w", b"1", None).await.unwrap();
    observer.create("/w/kid", b"", OPEN).await.unwrap();
    observer.create("/later", b"", OPEN).await.unwrap();
    assert_eq!(
        within(10, data_watch.changed()).await.event_type,
        zk::EventType::NodeDataChanged
    );
    assert_eq!(
        within(10, child_watch.changed()).await.event_type,
        zk::EventType::NodeChildrenChanged
    );
    assert_eq!(
        within(10, exist_watch.changed()).await.event_type,
        zk::EventType::NodeCreated
    );

    // The session is fully usable, and closing it removes its ephemerals.
    let ephemeral_gone = watch_existing(&observer, "/eph").await;
    client.create("/eph2", b"", EPHEMERAL).await.unwrap();
    ensemble.restart(home).await.unwrap();
    close(client).await;
    assert_eq!(
        within(10, ephemeral_gone.changed()).await.event_type,
        zk::EventType::NodeDeleted
    );
    observer.sync("/").await.unwrap();
    assert_eq!(observer.check_stat("/eph2").await.unwrap(), None);
    assert!(
        ensemble
            .wait_converged(Duration::from_secs(20))
            .await
            .is_some()
    );
    ensemble.shutdown().await;
}

/// A client that can only reach one server waits out that server's restart; on
/// reconnect it re-registers its watches (SetWatches with its last zxid) and the server
/// fires at once what changed while it was away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_fire_for_changes_missed_while_disconnected() {
    let mut ensemble = ensemble().await;
    let leader = ensemble.leader().unwrap();
    let home = (leader + 1) % 3;
    let client = connect_with_timeout(
        &ensemble.node(home).client_addr().to_string(),
        Duration::from_secs(4),
    )
    .await;
    let writer = connect_to_node(&ensemble, leader).await;
    writer.create("/changed", b"0", OPEN).await.unwrap();
    writer.create("/deleted", b"", OPEN).await.unwrap();
    writer.create("/parent", b"", OPEN).await.unwrap();
    writer.create("/quiet", b"", OPEN).await.unwrap();
    client.sync("/").await.unwrap();
    let (_, _, changed) = client.get_and_watch_data("/changed").await.unwrap();
    let (_, _, deleted) = client.get_and_watch_data("/deleted").await.unwrap();
    let (_, children) = client.list_and_watch_children("/parent").await.unwrap();
    let (_, created) = client.check_and_watch_stat("/born").await.unwrap();
    let (_, _, quiet) = client.get_and_watch_data("/quiet").await.unwrap();
    let mut state = client.state_watcher();

    ensemble.kill(home).await.unwrap();
    wait_state(&mut state, zk::SessionState::Disconnected).await;
    writer.set_data("/changed", b"1", None).await.unwrap();
    writer.delete("/deleted", None).await.unwrap();
    writer.create("/parent/kid", b"", OPEN).await.unwrap();
    writer.create("/born", b"", OPEN).await.unwrap();
    ensemble.restart(home).await.unwrap();
    wait_state(&mut state, zk::SessionState::SyncConnected).await;

    assert_eq!(
        within(10, changed.changed()).await.event_type,
        zk::EventType::NodeDataChanged
    );
    assert_eq!(
        within(10, deleted.changed()).await.event_type,
        zk::EventType::NodeDeleted
    );
    assert_eq!(
        within(10, children.changed()).await.event_type,
        zk::EventType::NodeChildrenChanged
    );
    assert_eq!(
        within(10, created.changed()).await.event_type,
        zk::EventType::NodeCreated
    );
    // The untouched node's watch was re-registered, not fired: it fires on the next change.
    writer.set_data("/quiet", b"now", None).await.unwrap();
    let event = within(10, quiet.changed()).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeDataChanged, "/quiet")
    );
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_session_removes_its_ephemerals() {
    let ensemble = ensemble().await;
    let client = connect_to_node(&ensemble, 0).await;
    let observer = connect_to_node(&ensemble, 1).await;
    for i in 0..5 {
        client
            .create(&format!("/bye{i}"), b"", EPHEMERAL)
            .await
            .unwrap();
    }
    observer.sync("/").await.unwrap();
    let gone = watch_existing(&observer, "/bye3").await;
    let id = client.session_id().0;
    close(client).await;
    assert_eq!(
        within(10, gone.changed()).await.event_type,
        zk::EventType::NodeDeleted
    );
    observer.sync("/").await.unwrap();
    for i in 0..5 {
        assert_eq!(
            observer.check_stat(&format!("/bye{i}")).await.unwrap(),
            None
        );
    }
    assert!(observer.list_ephemerals("/").await.unwrap().is_empty());
    for index in 0..3 {
        assert!(
            !ensemble
                .node(index)
                .server()
                .unwrap()
                .session_ids()
                .contains(&id)
        );
    }
    // The closed session cannot be re-attached: a raw reattach with a made-up password
    // is refused the same way.
    let mut raw = RawConn::open(ensemble.node(2).client_addr()).await;
    let refused = raw
        .handshake(&ConnectRequest {
            timeout_ms: 4_000,
            session_id: id,
            passwd: vec![0; 16],
            read_only: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((refused.timeout_ms, refused.session_id), (0, 0));
    raw.expect_closed(10).await;
    ensemble.shutdown().await;
}
