//! Ordering guarantees: one session's requests complete in the order it sent them (a
//! pipelined read sees the same session's earlier writes), and sync-then-read on any
//! server sees every write acknowledged before the sync.
//!
//! `zookeeper-client` writes a request to the wire when the method is called, not when
//! its future is awaited, so calling several methods before awaiting any pipelines them.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use paddock_integration_tests::*;
use zookeeper_client as zk;

/// Regression: the server used to submit every write to consensus as soon as it was
/// read off the socket, and serve a read only when it reached the head of the
/// session's queue. A pipelined `setData(v1), getData, setData(v2), …` then answered
/// the getData after v2..vN had been applied too: read 0 showed version 7. ZooKeeper
/// serves each read between the session's previous and next write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_reads_see_the_sessions_earlier_writes() {
    let ensemble = ensemble().await;
    let client = connect(&ensemble.connect_string()).await;

    // create, then reads of what it created, all in flight at once.
    let create = client.create("/fifo", b"first", OPEN);
    let read = client.get_data("/fifo");
    let exists = client.check_stat("/fifo");
    let children = client.list_children("/");
    let duplicate = client.create("/fifo", b"again", OPEN);
    let still = client.get_data("/fifo");
    let (created, _) = create.await.unwrap();
    assert_eq!(read.await.unwrap(), (b"first".to_vec(), created));
    assert_eq!(exists.await.unwrap(), Some(created));
    assert!(children.await.unwrap().contains(&"fifo".to_owned()));
    assert_eq!(duplicate.await.unwrap_err(), zk::Error::NodeExists);
    assert_eq!(
        still.await.unwrap().0,
        b"first",
        "a failed write changes nothing"
    );

    // setData, getData, setData, getData, …: every read sees exactly the write before it.
    const ROUNDS: i32 = 200;
    let payloads: Vec<Vec<u8>> = (1..=ROUNDS).map(|i| format!("v{i}").into_bytes()).collect();
    let mut sets = Vec::new();
    let mut gets = Vec::new();
    for payload in &payloads {
        sets.push(client.set_data("/fifo", payload, None));
        gets.push(client.get_data("/fifo"));
    }
    let mut last_mzxid = created.mzxid;
    for (i, (set, get)) in sets.into_iter().zip(gets).enumerate() {
        let set = set.await.unwrap();
        let (data, stat) = get.await.unwrap();
        let version = i as i32 + 1;
        assert_eq!(set.version, version);
        assert!(set.mzxid > last_mzxid, "writes applied in the order sent");
        last_mzxid = set.mzxid;
        assert_eq!(
            (data.as_slice(), stat.version),
            (payloads[i].as_slice(), version),
            "read {i} did not see the write just before it"
        );
    }

    // Sequential creates get numbers in the order they were sent; deletes then exists.
    let creates: Vec<_> = (0..50)
        .map(|_| client.create("/fifo/s-", b"", OPEN_SEQ))
        .collect();
    let listing = client.list_children("/fifo");
    let count = client.count_descendants_number("/fifo");
    for (i, create) in creates.into_iter().enumerate() {
        assert_eq!(create.await.unwrap().1.into_i64(), i as i64);
    }
    assert_eq!(listing.await.unwrap().len(), 50);
    assert_eq!(count.await.unwrap(), 50);
    let names: Vec<String> = (0..50).map(|i| format!("/fifo/s-{i:010}")).collect();
    let deletes: Vec<_> = names.iter().map(|n| client.delete(n, None)).collect();
    let after: Vec<_> = names.iter().map(|n| client.check_stat(n)).collect();
    let gone = client.delete("/fifo", None);
    for delete in deletes {
        delete.await.unwrap();
    }
    for exists in after {
        assert_eq!(exists.await.unwrap(), None);
    }
    gone.await.unwrap();
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_multi_and_reads_keep_order() {
    let ensemble = ensemble().await;
    let client = connect(&ensemble.connect_string()).await;
    client.create("/m", b"0", OPEN).await.unwrap();
    let mut pending = Vec::new();
    for i in 1..=50 {
        let mut writer = client.new_multi_writer();
        writer.add_check_version("/m", i - 1).unwrap();
        writer
            .add_set_data("/m", i.to_string().as_bytes(), Some(i - 1))
            .unwrap();
        pending.push((writer.commit(), client.get_data("/m")));
    }
    for (i, (multi, read)) in pending.into_iter().enumerate() {
        multi.await.unwrap();
        let (data, stat) = read.await.unwrap();
        assert_eq!(stat.version, i as i32 + 1);
        assert_eq!(data, (i + 1).to_string().as_bytes());
    }
    ensemble.shutdown().await;
}

/// A watch set by a read pipelined between two writes of the same session must be in
/// place before the second write applies, or the session misses its own change.
/// Regression: with the later write applied first, getChildren already listed the
/// child created after it, and the watches set never fired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_watch_is_set_before_the_next_write() {
    let ensemble = ensemble().await;
    let client = connect(&ensemble.connect_string()).await;
    for round in 0..20 {
        let path = format!("/w{round}");
        let create = client.create(&path, b"", OPEN);
        let watch = client.get_and_watch_data(&path);
        let set = client.set_data(&path, b"changed", None);
        let children = client.list_and_watch_children(&path);
        let kid_path = format!("{path}/kid");
        let kid = client.create(&kid_path, b"", OPEN);
        create.await.unwrap();
        let (data, stat, data_watch) = watch.await.unwrap();
        assert_eq!((data.as_slice(), stat.version), (&b""[..], 0));
        set.await.unwrap();
        let (listed, child_watch) = children.await.unwrap();
        assert!(listed.is_empty());
        kid.await.unwrap();
        let event = within(10, data_watch.changed()).await;
        assert_eq!(event.event_type, zk::EventType::NodeDataChanged);
        let event = within(10, child_watch.changed()).await;
        assert_eq!(event.event_type, zk::EventType::NodeChildrenChanged);
    }
    ensemble.shutdown().await;
}

/// Client A writes through node X; client B, connected to node Y only, syncs and reads.
/// Traffic from the leader to Y is delayed so that Y is always behind when B asks: only
/// a sync that really waits for Y to catch up lets B read the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_then_read_sees_writes_made_through_another_node() {
    let ensemble = ensemble().await;
    let leader = ensemble.leader().unwrap();
    let x = (leader + 1) % 3;
    let y = (leader + 2) % 3;
    let a = connect_to_node(&ensemble, x).await;
    let b = connect_to_node(&ensemble, y).await;
    a.create("/s", b"", OPEN).await.unwrap();
    // Below the election timeout (8 raft ticks of 25 ms, randomized up to twice that),
    // so Y keeps following; but every append reaches it 150 ms late.
    ensemble.faults().delay(
        ensemble.node(leader).id(),
        ensemble.node(y).id(),
        Duration::from_millis(150),
    );
    let mut stale_without_sync = 0;
    for i in 0..10 {
        let value = format!("value-{i}");
        let stat = a.set_data("/s", value.as_bytes(), None).await.unwrap();
        // Without a sync, B may not even have the node yet (NoNode): that is stale too.
        if !matches!(b.get_data("/s").await, Ok((data, _)) if data == value.as_bytes()) {
            stale_without_sync += 1;
        }
        within(10, b.sync("/s")).await.unwrap();
        let (data, seen) = b.get_data("/s").await.unwrap();
        assert_eq!(data, value.as_bytes(), "round {i}: sync did not catch up");
        assert!(seen.mzxid >= stat.mzxid);
    }
    println!("plain reads on the lagging node were stale {stale_without_sync}/10 times");
    ensemble.heal();
    // A pipelined sync and read behave the same.
    let stat = a.set_data("/s", b"last", None).await.unwrap();
    let sync = b.sync("/s");
    let read = b.get_data("/s");
    sync.await.unwrap();
    let (data, seen) = read.await.unwrap();
    assert_eq!(
        (data.as_slice(), seen.version),
        (&b"last"[..], stat.version)
    );
    ensemble.shutdown().await;
}
