//! Every operation a ZooKeeper client can send, through the independent Rust
//! `zookeeper-client` crate, against an in-process three-node ensemble.
//!
//! Opcodes covered: create2 (persistent, ephemeral, both sequential kinds), createContainer,
//! createTTL, delete, exists, getData, setData, getACL, setACL, auth, getChildren,
//! getChildren2, getAllChildrenNumber, getEphemerals, sync, multi, multiRead, whoAmI,
//! addWatch (both modes), removeWatches, ping and closeSession.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use paddock_integration_tests::*;
use sha1::{Digest as _, Sha1};
use zookeeper_client as zk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_update_delete() {
    let ensemble = ensemble().await;
    let client = connect(&ensemble.connect_string()).await;
    let (stat, seq) = client.create("/app", b"v1", OPEN).await.unwrap();
    assert_eq!(seq.into_i64(), -1);
    assert_eq!((stat.version, stat.data_length), (0, 2));
    assert_eq!(stat.czxid, stat.mzxid);
    let (data, stat) = client.get_data("/app").await.unwrap();
    assert_eq!(data, b"v1");
    let stat2 = client
        .set_data("/app", b"v2", Some(stat.version))
        .await
        .unwrap();
    assert_eq!(stat2.version, 1);
    assert!(stat2.mzxid > stat.mzxid, "setData advances mzxid");
    assert_eq!(stat2.czxid, stat.czxid);
    assert_eq!(
        client.set_data("/app", b"v3", Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    assert_eq!(
        client.create("/app", b"", OPEN).await.unwrap_err(),
        zk::Error::NodeExists
    );
    assert_eq!(
        client.create("/nope/child", b"", OPEN).await.unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(
        client.get_data("/missing").await.unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(client.check_stat("/missing").await.unwrap(), None);
    assert_eq!(
        client.check_stat("/app").await.unwrap().map(|s| s.version),
        Some(1)
    );
    client.create("/app/child", b"", OPEN).await.unwrap();
    assert_eq!(
        client.delete("/app", None).await.unwrap_err(),
        zk::Error::NotEmpty
    );
    let (children, stat) = client.get_children("/app").await.unwrap();
    assert_eq!(
        (children, stat.num_children),
        (vec!["child".to_string()], 1)
    );
    assert_eq!(client.count_descendants_number("/app").await.unwrap(), 1);
    client.delete("/app/child", None).await.unwrap();
    // delete with versions: a wrong one is refused, the right one deletes.
    assert_eq!(
        client.delete("/app", Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    client.delete("/app", Some(1)).await.unwrap();
    assert_eq!(client.check_stat("/app").await.unwrap(), None);
    assert_eq!(
        client.delete("/app", None).await.unwrap_err(),
        zk::Error::NoNode
    );
    client.sync("/").await.unwrap();
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_and_sequential_nodes() {
    let ensemble = ensemble().await;
    let hosts = ensemble.connect_string();
    let client = connect(&hosts).await;
    let other = connect(&hosts).await;

    let (stat, _) = client.create("/eph", b"e", EPHEMERAL).await.unwrap();
    assert_eq!(stat.ephemeral_owner, client.session_id().0);
    assert_eq!(
        client.create("/eph/child", b"", OPEN).await.unwrap_err(),
        zk::Error::NoChildrenForEphemerals
    );

    // The suffix is the parent's count of child creates: deletes do not give numbers back.
    client.create("/seq", b"", OPEN).await.unwrap();
    let (_, first) = client.create("/seq/n-", b"", OPEN_SEQ).await.unwrap();
    let (_, second) = client.create("/seq/n-", b"", OPEN_SEQ).await.unwrap();
    assert_eq!((first.into_i64(), second.into_i64()), (0, 1));
    assert_eq!(format!("/seq/n-{first}"), "/seq/n-0000000000");
    client.delete("/seq/n-0000000000", None).await.unwrap();
    let (stat, third) = client.create("/seq/e-", b"", EPHEMERAL_SEQ).await.unwrap();
    assert_eq!(third.into_i64(), 2);
    assert_eq!(stat.ephemeral_owner, client.session_id().0);
    let mut children = client.list_children("/seq").await.unwrap();
    children.sort();
    assert_eq!(children, ["e-0000000002", "n-0000000001"]);

    let mut ephemerals = client.list_ephemerals("/").await.unwrap();
    ephemerals.sort();
    assert_eq!(ephemerals, ["/eph", "/seq/e-0000000002"]);
    assert!(other.list_ephemerals("/").await.unwrap().is_empty());

    close(client).await;
    // `other` may be on another member: catch it up before reading what a different
    // session changed (ZooKeeper reads are sequentially consistent per session only).
    other.sync("/").await.unwrap();
    assert_eq!(other.check_stat("/eph").await.unwrap(), None);
    assert_eq!(other.check_stat("/seq/e-0000000002").await.unwrap(), None);
    assert!(
        other
            .check_stat("/seq/n-0000000001")
            .await
            .unwrap()
            .is_some()
    );
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_and_ttl_nodes_are_reaped() {
    let ensemble = ensemble().await;
    let client = connect(&ensemble.connect_string()).await;
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    let ttl = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_millis(300));

    // Created first, so every reaper pass that reaps the others also looked at these.
    let (stat, _) = client.create("/never-used", b"", &container).await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0, "containers show no owner");
    let (stat, _) = client.create("/ttl-parent", b"", &ttl).await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0, "TTL nodes show no owner");
    client.create("/ttl-parent/kid", b"", OPEN).await.unwrap();

    client.create("/used", b"", &container).await.unwrap();
    client.create("/used/kid", b"", OPEN).await.unwrap();
    client.create("/ttl", b"", &ttl).await.unwrap();
    client.delete("/used/kid", None).await.unwrap();

    eventually(20, "the emptied container is reaped", || async {
        client.check_stat("/used").await.unwrap().is_none()
    })
    .await;
    eventually(20, "the expired TTL node is reaped", || async {
        client.check_stat("/ttl").await.unwrap().is_none()
    })
    .await;
    assert!(
        client.check_stat("/never-used").await.unwrap().is_some(),
        "a container that never had a child stays"
    );
    assert!(
        client.check_stat("/ttl-parent").await.unwrap().is_some(),
        "an expired TTL node with children stays"
    );
    // TTL is for persistent modes only; the client refuses anything else itself.
    let bad = zk::CreateMode::Ephemeral
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_secs(1));
    assert!(client.create("/bad-ttl", b"", &bad).await.is_err());
    ensemble.shutdown().await;
}

/// `user:base64(sha1("user:password"))`, computed here independently of the server.
fn digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap();
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_auth_and_who_am_i() {
    let ensemble = ensemble().await;
    let hosts = ensemble.connect_string();
    let alice = connect(&hosts).await;
    let stranger = connect(&hosts).await;

    // CREATOR_ALL without an authenticated identity: InvalidACL.
    let creator_all = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    assert_eq!(
        alice
            .create("/secure", b"s", &creator_all)
            .await
            .unwrap_err(),
        zk::Error::InvalidAcl
    );
    alice.auth("digest", b"alice:secret").await.unwrap();
    let mut users: Vec<(String, String)> = alice
        .list_auth_users()
        .await
        .unwrap()
        .iter()
        .map(|u| (u.scheme().to_owned(), u.user().to_owned()))
        .collect();
    users.sort();
    assert_eq!(
        users,
        [
            ("digest".to_owned(), "alice".to_owned()),
            ("ip".to_owned(), "127.0.0.1".to_owned())
        ]
    );

    alice.create("/secure", b"s", &creator_all).await.unwrap();
    let (acl, stat) = alice.get_acl("/secure").await.unwrap();
    let alice_id = digest("alice:secret");
    assert_eq!(
        acl,
        [zk::Acl::new(
            zk::Permission::ALL,
            zk::AuthId::new("digest", &alice_id)
        )]
    );
    assert_eq!(stat.aversion, 0);

    // Someone else: no read, no write, no ACL read, no delete of children. (A sync
    // first: `stranger` may sit on another member that has not applied alice's create.)
    stranger.sync("/secure").await.unwrap();
    assert_eq!(
        stranger.get_data("/secure").await.unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        stranger.set_data("/secure", b"x", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        stranger.get_acl("/secure").await.unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        stranger.create("/secure/kid", b"", OPEN).await.unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        stranger
            .set_acl("/secure", &zk::Acls::anyone_all(), None)
            .await
            .unwrap_err(),
        zk::Error::NoAuth
    );
    // A wrong password is another identity.
    stranger.auth("digest", b"alice:wrong").await.unwrap();
    assert_eq!(
        stranger.get_data("/secure").await.unwrap_err(),
        zk::Error::NoAuth
    );
    stranger.auth("digest", b"alice:secret").await.unwrap();
    assert_eq!(stranger.get_data("/secure").await.unwrap().0, b"s");

    // setACL: the ACL version is checked and bumped; data version untouched.
    let readers = [
        zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone()),
        zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("digest", &alice_id)),
    ];
    assert_eq!(
        alice
            .set_acl("/secure", &readers, Some(7))
            .await
            .unwrap_err(),
        zk::Error::BadVersion
    );
    let stat = alice.set_acl("/secure", &readers, Some(0)).await.unwrap();
    assert_eq!((stat.aversion, stat.version), (1, 0));

    // Without ADMIN, digest ids come back with the hash hidden.
    let anonymous = connect(&hosts).await;
    anonymous.sync("/secure").await.unwrap();
    assert_eq!(anonymous.get_data("/secure").await.unwrap().0, b"s");
    let (acl, _) = anonymous.get_acl("/secure").await.unwrap();
    assert_eq!(
        acl,
        [
            zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone()),
            zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("digest", "alice:x")),
        ]
    );
    assert_eq!(
        anonymous.set_data("/secure", b"x", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    // With ADMIN, the full id.
    assert_eq!(alice.get_acl("/secure").await.unwrap().0, readers);
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_counts_and_ephemerals() {
    let ensemble = ensemble().await;
    let client = connect(&ensemble.connect_string()).await;
    client.create("/n", b"", OPEN).await.unwrap();
    for path in ["/n/b", "/n/a", "/n/a/x", "/n/a/x/y", "/n/c"] {
        client.create(path, b"", OPEN).await.unwrap();
    }
    let mut listed = client.list_children("/n").await.unwrap();
    listed.sort();
    assert_eq!(listed, ["a", "b", "c"]);
    let (mut children, stat) = client.get_children("/n").await.unwrap();
    children.sort();
    assert_eq!(children, listed);
    assert_eq!(stat.num_children, 3);
    assert!(stat.pzxid > stat.czxid);
    assert!(client.list_children("/n/b").await.unwrap().is_empty());
    assert_eq!(
        client.list_children("/none").await.unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(client.count_descendants_number("/n").await.unwrap(), 5);
    assert_eq!(client.count_descendants_number("/n/a").await.unwrap(), 2);
    assert_eq!(client.count_descendants_number("/n/c").await.unwrap(), 0);
    assert_eq!(
        client.count_descendants_number("/none").await.unwrap_err(),
        zk::Error::NoNode
    );

    // getEphemerals matches by plain string prefix and answers full paths.
    for path in ["/eph1", "/ephemeral", "/n/eph"] {
        client.create(path, b"", EPHEMERAL).await.unwrap();
    }
    let mut all = client.list_ephemerals("/").await.unwrap();
    all.sort();
    assert_eq!(all, ["/eph1", "/ephemeral", "/n/eph"]);
    let mut prefixed = client.list_ephemerals("/eph").await.unwrap();
    prefixed.sort();
    assert_eq!(prefixed, ["/eph1", "/ephemeral"]);
    assert_eq!(client.list_ephemerals("/n/e").await.unwrap(), ["/n/eph"]);
    assert!(client.list_ephemerals("/zzz").await.unwrap().is_empty());
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_and_multi_read() {
    let ensemble = ensemble().await;
    let client = connect(&ensemble.connect_string()).await;
    let mut writer = client.new_multi_writer();
    writer.add_create("/m", b"", OPEN).unwrap();
    writer.add_create("/m/q-", b"one", OPEN_SEQ).unwrap();
    writer.add_create("/m/q-", b"two", OPEN_SEQ).unwrap();
    writer.add_check_version("/m", 0).unwrap();
    writer.add_set_data("/m", b"d", Some(0)).unwrap();
    let results = writer.commit().await.unwrap();
    assert_eq!(results.len(), 5);
    let zxids: Vec<i64> = results
        .iter()
        .filter_map(|r| match r {
            zk::MultiWriteResult::Create { stat, .. } => Some(stat.czxid),
            _ => None,
        })
        .collect();
    assert!(
        zxids.windows(2).all(|w| w[0] == w[1]),
        "one multi, one zxid: {zxids:?}"
    );
    assert!(matches!(&results[0], zk::MultiWriteResult::Create { path, .. } if path == "/m"));
    assert!(
        matches!(&results[1], zk::MultiWriteResult::Create { path, .. } if path == "/m/q-0000000000")
    );
    assert!(
        matches!(&results[2], zk::MultiWriteResult::Create { path, .. } if path == "/m/q-0000000001")
    );
    assert!(matches!(results[3], zk::MultiWriteResult::Check));
    assert!(matches!(results[4], zk::MultiWriteResult::SetData { stat } if stat.version == 1));

    // A failing check aborts everything: the op before it is not applied.
    let before = client.get_data("/m").await.unwrap();
    writer.add_create("/m/never", b"", OPEN).unwrap();
    writer.add_set_data("/m", b"x", None).unwrap();
    writer.add_check_version("/m", 99).unwrap();
    writer.add_delete("/m/q-0000000000", None).unwrap();
    assert_eq!(
        writer.commit().await.unwrap_err(),
        zk::MultiWriteError::OperationFailed {
            index: 2,
            source: zk::Error::BadVersion
        }
    );
    assert_eq!(client.check_stat("/m/never").await.unwrap(), None);
    assert_eq!(client.get_data("/m").await.unwrap(), before);
    assert!(
        client
            .check_stat("/m/q-0000000000")
            .await
            .unwrap()
            .is_some()
    );
    // The failing op may be the first one, and any kind of op.
    writer.add_delete("/m/none", None).unwrap();
    writer.add_create("/m/never", b"", OPEN).unwrap();
    assert_eq!(
        writer.commit().await.unwrap_err(),
        zk::MultiWriteError::OperationFailed {
            index: 0,
            source: zk::Error::NoNode
        }
    );
    assert_eq!(client.check_stat("/m/never").await.unwrap(), None);

    // multiRead never aborts: each op answers for itself.
    let mut reader = client.new_multi_reader();
    reader.add_get_data("/m/q-0000000001").unwrap();
    reader.add_get_children("/nope").unwrap();
    reader.add_get_children("/m").unwrap();
    reader.add_get_data("/m").unwrap();
    let results = reader.commit().await.unwrap();
    assert_eq!(results.len(), 4);
    assert!(matches!(&results[0], zk::MultiReadResult::Data { data, .. } if data == b"two"));
    assert!(matches!(
        results[1],
        zk::MultiReadResult::Error {
            err: zk::Error::NoNode
        }
    ));
    match &results[2] {
        zk::MultiReadResult::Children { children } => {
            let mut children = children.clone();
            children.sort();
            assert_eq!(children, ["q-0000000000", "q-0000000001"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        matches!(&results[3], zk::MultiReadResult::Data { data, stat } if data == b"d" && stat.version == 1)
    );
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_watch_persistent_and_recursive() {
    let ensemble = ensemble().await;
    let client = connect(&ensemble.connect_string()).await;
    // Two sessions: ZooKeeper keeps one watch mode per connection and path, so on one
    // connection the recursive watch would replace the persistent one.
    let other = connect(&ensemble.connect_string()).await;
    let mut persistent = client
        .watch("/p", zk::AddWatchMode::Persistent)
        .await
        .unwrap();
    let mut recursive = other
        .watch("/p", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    client.create("/p", b"", OPEN).await.unwrap();
    client.set_data("/p", b"1", None).await.unwrap();
    client.create("/p/kid", b"", OPEN).await.unwrap();
    client.set_data("/p/kid", b"2", None).await.unwrap();
    client.delete("/p/kid", None).await.unwrap();
    client.delete("/p", None).await.unwrap();
    client.create("/p", b"", OPEN).await.unwrap();

    use zk::EventType::*;
    let mut seen = Vec::new();
    for _ in 0..6 {
        let event = within(10, persistent.changed()).await;
        seen.push((event.event_type, event.path));
    }
    let expect = |list: &[(zk::EventType, &str)]| -> Vec<(zk::EventType, String)> {
        list.iter().map(|(e, p)| (*e, p.to_string())).collect()
    };
    assert_eq!(
        seen,
        expect(&[
            (NodeCreated, "/p"),
            (NodeDataChanged, "/p"),
            (NodeChildrenChanged, "/p"),
            (NodeChildrenChanged, "/p"),
            (NodeDeleted, "/p"),
            (NodeCreated, "/p"),
        ])
    );
    let mut seen = Vec::new();
    for _ in 0..7 {
        let event = within(10, recursive.changed()).await;
        seen.push((event.event_type, event.path));
    }
    assert_eq!(
        seen,
        expect(&[
            (NodeCreated, "/p"),
            (NodeDataChanged, "/p"),
            (NodeCreated, "/p/kid"),
            (NodeDataChanged, "/p/kid"),
            (NodeDeleted, "/p/kid"),
            (NodeDeleted, "/p"),
            (NodeCreated, "/p"),
        ])
    );
    ensemble.shutdown().await;
}

fn total_watches(wchs: &str) -> usize {
    wchs.lines()
        .find_map(|line| line.strip_prefix("Total watches:"))
        .unwrap_or_else(|| panic!("no total in {wchs:?}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_watcher_removes_the_watch() {
    let ensemble = ensemble().await;
    let addr = ensemble.node(1).client_addr();
    let client = connect_to_node(&ensemble, 1).await;
    client.create("/w", b"", OPEN).await.unwrap();
    let watches = || async { total_watches(&four_letter(addr, "wchs").await) };
    assert_eq!(watches().await, 0);

    let (_, _, data_watch) = client.get_and_watch_data("/w").await.unwrap();
    let (_, child_watch) = client.list_and_watch_children("/w").await.unwrap();
    let persistent = client
        .watch("/w", zk::AddWatchMode::Persistent)
        .await
        .unwrap();
    let (_, exist_watch) = client.check_and_watch_stat("/absent").await.unwrap();
    // However the server merges one connection's watches on /w (ZooKeeper keeps one
    // mode per connection and path), it holds some now, and none once all are dropped.
    let held = watches().await;
    assert!(held >= 2, "server holds the watches: {held}");

    drop(exist_watch);
    drop(data_watch);
    drop(child_watch);
    drop(persistent);
    eventually(10, "removeWatches reaches the server", || async {
        watches().await == 0
    })
    .await;
    // And nothing fires any more on this connection: a later change is silent, and a
    // fresh watch still works.
    let (_, _, again) = client.get_and_watch_data("/w").await.unwrap();
    client.set_data("/w", b"x", None).await.unwrap();
    let event = within(10, again.changed()).await;
    assert_eq!(event.event_type, zk::EventType::NodeDataChanged);
    assert_eq!(watches().await, 0);
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_client_stays_connected_by_pinging() {
    let ensemble = ensemble().await;
    // 2 s session: the client pings after ~300 ms of silence.
    let client = connect_with_timeout(
        &ensemble.node(0).client_addr().to_string(),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(client.session_timeout(), Duration::from_secs(2));
    client.create("/alive", b"", EPHEMERAL).await.unwrap();
    let mut state = client.state_watcher();
    // Idle for well over two session timeouts: only pings keep the session.
    let idle = tokio::time::sleep(Duration::from_millis(4_500));
    tokio::select! {
        changed = state.changed() => panic!("session state changed while idle: {changed:?}"),
        () = idle => {}
    }
    assert_eq!(client.state(), zk::SessionState::SyncConnected);
    let cons = four_letter(ensemble.node(0).client_addr(), "cons").await;
    let line = cons
        .lines()
        .find(|l| l.contains(&format!("sid=0x{:x},", client.session_id().0)))
        .unwrap_or_else(|| panic!("session missing from cons: {cons}"));
    assert!(line.contains("lop=PING"), "last op was a ping: {line}");
    let other = connect(&ensemble.node(2).client_addr().to_string()).await;
    other.sync("/").await.unwrap();
    assert_eq!(
        other
            .check_stat("/alive")
            .await
            .unwrap()
            .unwrap()
            .ephemeral_owner,
        client.session_id().0
    );
    client.set_data("/alive", b"still", None).await.unwrap();
    ensemble.shutdown().await;
}
