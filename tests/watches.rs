//! Watches as clients see them: one-shot data, exist and child watches fire once with
//! the right event type and path; persistent and persistent-recursive watches follow
//! ZooKeeper's rules; a notification always reaches the client before any reply that
//! shows the change; and a watch fires wherever the write entered the ensemble.
//!
//! Where "exactly once" or "nothing else" must be seen on the wire, the test speaks raw
//! protocol: a real client hides duplicates and strays behind its watcher table.

#![allow(clippy::unwrap_used)]

use futures::FutureExt as _;
use paddock_integration_tests::*;
use paddock_jute::{AddWatchMode, AddWatchRequest, EventType, PathRequest, Request, Response};
use zookeeper_client as zk;

fn event(event: &zk::WatchedEvent) -> (zk::EventType, &str) {
    (event.event_type, event.path.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_watches_fire_with_the_right_type_and_path() {
    let ensemble = ensemble().await;
    // Both sessions on one server: a read there follows every write it has answered. On
    // different servers the watcher could read before its server applied the writer's
    // create, and see NoNode, as ZooKeeper allows without a sync.
    let hosts = ensemble.node(0).client_addr().to_string();
    let watcher = connect(&hosts).await;
    let writer = connect(&hosts).await;
    use zk::EventType::*;

    // exists on a missing node leaves a watch that hears the creation.
    let (stat, created) = watcher.check_and_watch_stat("/a").await.unwrap();
    assert!(stat.is_none());
    writer.create("/a", b"0", OPEN).await.unwrap();
    assert_eq!(
        event(&within(10, created.changed()).await),
        (NodeCreated, "/a")
    );

    // getData: a failed write fires nothing; the next real change does.
    let (_, stat, changed) = watcher.get_and_watch_data("/a").await.unwrap();
    assert_eq!(
        writer
            .set_data("/a", b"x", Some(stat.version + 5))
            .await
            .unwrap_err(),
        zk::Error::BadVersion
    );
    // The watcher's own sync is answered after anything its server applied before it.
    watcher.sync("/a").await.unwrap();
    let mut changed = Box::pin(changed.changed());
    assert!(
        (&mut changed).now_or_never().is_none(),
        "a failed write fired a watch"
    );
    let new_stat = writer.set_data("/a", b"1", None).await.unwrap();
    let fired = within(10, changed).await;
    assert_eq!(event(&fired), (NodeDataChanged, "/a"));
    assert!(
        fired.zxid == new_stat.mzxid || fired.zxid == zk::WatchedEvent::NO_ZXID,
        "notification zxid {} is neither the change's ({}) nor ZooKeeper 3.8's -1",
        fired.zxid,
        new_stat.mzxid
    );

    // exists on an existing node hears the deletion.
    let (stat, deleted) = watcher.check_and_watch_stat("/a").await.unwrap();
    assert!(stat.is_some());
    writer.delete("/a", None).await.unwrap();
    assert_eq!(
        event(&within(10, deleted.changed()).await),
        (NodeDeleted, "/a")
    );

    // getChildren hears a child come and go, and the node itself go.
    writer.create("/p", b"", OPEN).await.unwrap();
    let (_, children) = watcher.list_and_watch_children("/p").await.unwrap();
    writer
        .set_data("/p", b"data is not children", None)
        .await
        .unwrap();
    writer.create("/p/c", b"", OPEN).await.unwrap();
    assert_eq!(
        event(&within(10, children.changed()).await),
        (NodeChildrenChanged, "/p")
    );
    let (_, _, children) = watcher.get_and_watch_children("/p").await.unwrap();
    writer.create("/p/c/grandchild", b"", OPEN).await.unwrap();
    writer.delete("/p/c/grandchild", None).await.unwrap();
    writer.delete("/p/c", None).await.unwrap();
    assert_eq!(
        event(&within(10, children.changed()).await),
        (NodeChildrenChanged, "/p")
    );
    let (_, children) = watcher.list_and_watch_children("/p").await.unwrap();
    let (_, _, data) = watcher.get_and_watch_data("/p").await.unwrap();
    writer.delete("/p", None).await.unwrap();
    assert_eq!(
        event(&within(10, children.changed()).await),
        (NodeDeleted, "/p")
    );
    assert_eq!(
        event(&within(10, data.changed()).await),
        (NodeDeleted, "/p")
    );
    ensemble.shutdown().await;
}

/// Reads notifications on a raw connection up to the reply of a `sync` it sends: by
/// then its server has applied every write acknowledged before, and queued their
/// notifications ahead of the reply.
async fn notifications_until_synced(raw: &mut RawConn, xid: i32) -> Vec<(EventType, String)> {
    let (events, reply) = raw
        .call_collecting(xid, Request::Sync(PathRequest { path: "/".into() }))
        .await;
    assert_eq!(reply.header.err, 0);
    events
}

fn events(list: &[(EventType, &str)]) -> Vec<(EventType, String)> {
    list.iter().map(|(e, p)| (*e, (*p).to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_watches_fire_exactly_once_on_the_wire() {
    let ensemble = ensemble().await;
    let (mut raw, _) = RawConn::session(ensemble.node(0).client_addr()).await;
    let writer = connect_to_node(&ensemble, 2).await;
    writer.create("/x", b"", OPEN).await.unwrap();
    writer.sync("/").await.unwrap();
    raw.call(1, Request::Sync(PathRequest { path: "/".into() }))
        .await
        .unwrap();

    let reply = raw
        .call(2, Request::GetData(path_watch("/x", true)))
        .await
        .unwrap();
    assert_eq!(reply.header.err, 0);
    let reply = raw
        .call(3, Request::Exists(path_watch("/y", true)))
        .await
        .unwrap();
    assert_eq!(reply.header.err, -101, "exists on a missing node: NoNode");
    let reply = raw
        .call(4, Request::GetChildren(path_watch("/x", true)))
        .await
        .unwrap();
    assert_eq!(reply.header.err, 0);

    writer.set_data("/x", b"1", None).await.unwrap();
    writer.set_data("/x", b"2", None).await.unwrap();
    writer.create("/y", b"", OPEN).await.unwrap();
    writer.set_data("/y", b"", None).await.unwrap();
    writer.create("/x/c", b"", OPEN).await.unwrap();
    writer.delete("/x/c", None).await.unwrap();
    writer.delete("/y", None).await.unwrap();
    assert_eq!(
        notifications_until_synced(&mut raw, 5).await,
        events(&[
            (EventType::NodeDataChanged, "/x"),
            (EventType::NodeCreated, "/y"),
            (EventType::NodeChildrenChanged, "/x"),
        ])
    );
    writer.set_data("/x", b"3", None).await.unwrap();
    assert!(
        notifications_until_synced(&mut raw, 6).await.is_empty(),
        "fired watches are gone"
    );

    // ZooKeeper keeps one watch mode per connection and path: a one-shot watch set on
    // a path with a persistent one turns it one-shot.
    let reply = raw
        .call(
            7,
            Request::AddWatch(AddWatchRequest {
                path: "/x".into(),
                mode: AddWatchMode::Persistent,
            }),
        )
        .await
        .unwrap();
    assert_eq!(reply.header.err, 0);
    writer.set_data("/x", b"4", None).await.unwrap();
    writer.set_data("/x", b"5", None).await.unwrap();
    assert_eq!(
        notifications_until_synced(&mut raw, 8).await,
        events(&[
            (EventType::NodeDataChanged, "/x"),
            (EventType::NodeDataChanged, "/x"),
        ])
    );
    raw.call(9, Request::GetData(path_watch("/x", true)))
        .await
        .unwrap();
    writer.set_data("/x", b"6", None).await.unwrap();
    writer.set_data("/x", b"7", None).await.unwrap();
    assert_eq!(
        notifications_until_synced(&mut raw, 10).await,
        events(&[(EventType::NodeDataChanged, "/x")])
    );
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_notification_per_change_per_connection() {
    let ensemble = ensemble().await;
    let (mut raw, _) = RawConn::session(ensemble.node(1).client_addr()).await;
    let writer = connect_to_node(&ensemble, 0).await;
    writer.create("/d", b"", OPEN).await.unwrap();
    writer.sync("/").await.unwrap();
    raw.call(1, Request::Sync(PathRequest { path: "/".into() }))
        .await
        .unwrap();
    // Three watches that all match a change of /d's data.
    let reply = raw
        .call(
            2,
            Request::AddWatch(AddWatchRequest {
                path: "/".into(),
                mode: AddWatchMode::PersistentRecursive,
            }),
        )
        .await
        .unwrap();
    assert_eq!(reply.header.err, 0);
    assert!(matches!(reply.response, Response::AddWatch));
    raw.call(3, Request::GetData(path_watch("/d", true)))
        .await
        .unwrap();
    raw.call(4, Request::GetChildren(path_watch("/d", true)))
        .await
        .unwrap();
    writer.set_data("/d", b"1", None).await.unwrap();
    assert_eq!(
        notifications_until_synced(&mut raw, 5).await,
        events(&[(EventType::NodeDataChanged, "/d")])
    );
    // Data, child and recursive watches all match the delete: one notification.
    raw.call(6, Request::GetData(path_watch("/d", true)))
        .await
        .unwrap();
    writer.delete("/d", None).await.unwrap();
    assert_eq!(
        notifications_until_synced(&mut raw, 7).await,
        events(&[(EventType::NodeDeleted, "/d")])
    );
    // Only the recursive watch is left, and it never hears NodeChildrenChanged.
    writer.create("/d", b"", OPEN).await.unwrap();
    writer.create("/d/kid", b"", OPEN).await.unwrap();
    assert_eq!(
        notifications_until_synced(&mut raw, 8).await,
        events(&[
            (EventType::NodeCreated, "/d"),
            (EventType::NodeCreated, "/d/kid"),
        ])
    );
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watch_semantics() {
    let ensemble = ensemble().await;
    let hosts = ensemble.connect_string();
    let watcher = connect(&hosts).await;
    let writer = connect(&hosts).await;
    use zk::EventType::*;
    let mut persistent = watcher
        .watch("/p", zk::AddWatchMode::Persistent)
        .await
        .unwrap();
    writer.create("/p", b"", OPEN).await.unwrap();
    writer.create("/p/a", b"", OPEN).await.unwrap();
    // Grandchildren and children's data are none of a persistent watch's business.
    writer.create("/p/a/b", b"", OPEN).await.unwrap();
    writer.set_data("/p/a", b"x", None).await.unwrap();
    writer.delete("/p/a/b", None).await.unwrap();
    writer.set_data("/p", b"y", None).await.unwrap();
    writer.delete("/p/a", None).await.unwrap();
    writer.delete("/p", None).await.unwrap();
    // It survives the deletion of its node.
    writer.create("/p", b"", OPEN).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..6 {
        let event = within(10, persistent.changed()).await;
        seen.push((event.event_type, event.path));
    }
    let expect: Vec<(zk::EventType, String)> = [
        (NodeCreated, "/p"),
        (NodeChildrenChanged, "/p"),
        (NodeDataChanged, "/p"),
        (NodeChildrenChanged, "/p"),
        (NodeDeleted, "/p"),
        (NodeCreated, "/p"),
    ]
    .iter()
    .map(|(e, p)| (*e, p.to_string()))
    .collect();
    assert_eq!(seen, expect);
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_watch_semantics() {
    let ensemble = ensemble().await;
    let hosts = ensemble.connect_string();
    let watcher = connect(&hosts).await;
    let writer = connect(&hosts).await;
    use zk::EventType::*;
    let mut recursive = watcher
        .watch("/r", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    // A string prefix is not a path prefix: /rx is not under /r.
    writer.create("/rx", b"", OPEN).await.unwrap();
    writer.create("/rx/a", b"", OPEN).await.unwrap();
    writer.create("/r", b"", OPEN).await.unwrap();
    writer.create("/r/a", b"", OPEN).await.unwrap();
    writer.create("/r/a/b", b"", OPEN).await.unwrap();
    writer.set_data("/r/a", b"x", None).await.unwrap();
    writer.set_data("/rx", b"x", None).await.unwrap();
    writer.delete("/r/a/b", None).await.unwrap();
    writer.delete("/r/a", None).await.unwrap();
    writer.delete("/r", None).await.unwrap();
    writer.create("/r", b"", OPEN).await.unwrap();
    writer.set_data("/r", b"sentinel", None).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..8 {
        let event = within(10, recursive.changed()).await;
        seen.push((event.event_type, event.path));
    }
    // No NodeChildrenChanged anywhere, nothing from /rx.
    let expect: Vec<(zk::EventType, String)> = [
        (NodeCreated, "/r"),
        (NodeCreated, "/r/a"),
        (NodeCreated, "/r/a/b"),
        (NodeDataChanged, "/r/a"),
        (NodeDeleted, "/r/a/b"),
        (NodeDeleted, "/r/a"),
        (NodeDeleted, "/r"),
        (NodeCreated, "/r"),
    ]
    .iter()
    .map(|(e, p)| (*e, p.to_string()))
    .collect();
    assert_eq!(seen, expect);
    let last = within(10, recursive.changed()).await;
    assert_eq!(event(&last), (NodeDataChanged, "/r"));
    ensemble.shutdown().await;
}

/// A client that watches a node must see the notification before any reply showing
/// the new data. The watcher polls with getData while another client, on another
/// server, writes: the first read that shows the new version must find the event
/// already delivered. A server that let the read overtake the notification fails this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_arrives_before_any_reply_showing_the_change() {
    let ensemble = ensemble().await;
    let watcher = connect_to_node(&ensemble, 0).await;
    let writer = connect_to_node(&ensemble, 1).await;
    watcher.create("/hot", b"0", OPEN).await.unwrap();
    for round in 1..=40 {
        let (_, stat, watch) = watcher.get_and_watch_data("/hot").await.unwrap();
        let mut fired = Box::pin(watch.changed());
        let write = {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .set_data("/hot", round.to_string().as_bytes(), None)
                    .await
                    .unwrap()
            })
        };
        // Poll with pipelined reads until one shows the write.
        let seen = within(10, async {
            loop {
                let reads: Vec<_> = (0..4).map(|_| watcher.get_data("/hot")).collect();
                for read in reads {
                    let (data, now) = read.await.unwrap();
                    if now.version > stat.version {
                        return (data, now);
                    }
                }
            }
        })
        .await;
        let event = (&mut fired).now_or_never().unwrap_or_else(|| {
            panic!("round {round}: read showed {seen:?} before the notification")
        });
        assert_eq!(event.event_type, zk::EventType::NodeDataChanged);
        assert_eq!(seen.0, round.to_string().as_bytes());
        write.await.unwrap();
    }

    // The writer's own watch: the notification precedes the reply to its write.
    let (_, _, own) = writer.get_and_watch_data("/hot").await.unwrap();
    writer.set_data("/hot", b"mine", None).await.unwrap();
    let event = own
        .changed()
        .now_or_never()
        .expect("write acknowledged before its notification");
    assert_eq!(event.event_type, zk::EventType::NodeDataChanged);
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_fire_when_the_write_goes_through_another_node() {
    let ensemble = ensemble().await;
    let leader = ensemble.leader().unwrap();
    let follower = (leader + 1) % 3;
    // The writer talks to a follower, so its writes travel follower -> leader -> all.
    let writer = connect_to_node(&ensemble, follower).await;
    writer.create("/shared", b"", OPEN).await.unwrap();
    let mut watchers = Vec::new();
    for index in 0..3 {
        watchers.push(connect_to_node(&ensemble, index).await);
    }
    use zk::EventType::*;
    let mut data_watches = Vec::new();
    let mut child_watches = Vec::new();
    let mut exist_watches = Vec::new();
    let mut persistent = Vec::new();
    for watcher in &watchers {
        watcher.sync("/").await.unwrap();
        data_watches.push(watcher.get_and_watch_data("/shared").await.unwrap().2);
        child_watches.push(watcher.list_and_watch_children("/shared").await.unwrap().1);
        exist_watches.push(watcher.check_and_watch_stat("/fresh").await.unwrap().1);
        persistent.push(
            watcher
                .watch("/shared", zk::AddWatchMode::PersistentRecursive)
                .await
                .unwrap(),
        );
    }
    writer.set_data("/shared", b"1", None).await.unwrap();
    writer.create("/shared/kid", b"", OPEN).await.unwrap();
    writer.create("/fresh", b"", OPEN).await.unwrap();
    for (index, ((data, child), exist)) in data_watches
        .into_iter()
        .zip(child_watches)
        .zip(exist_watches)
        .enumerate()
    {
        let node = format!("node {index} (writer on node {follower})");
        assert_eq!(
            event(&within(10, data.changed()).await),
            (NodeDataChanged, "/shared"),
            "{node}"
        );
        assert_eq!(
            event(&within(10, child.changed()).await),
            (NodeChildrenChanged, "/shared"),
            "{node}"
        );
        assert_eq!(
            event(&within(10, exist.changed()).await),
            (NodeCreated, "/fresh"),
            "{node}"
        );
    }
    for (index, watch) in persistent.iter_mut().enumerate() {
        let first = within(10, watch.changed()).await;
        let second = within(10, watch.changed()).await;
        assert_eq!(
            [event(&first), event(&second)],
            [(NodeDataChanged, "/shared"), (NodeCreated, "/shared/kid")],
            "node {index}"
        );
    }
    ensemble.shutdown().await;
}
