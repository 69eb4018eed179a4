//! Every operation a ZooKeeper client can send, through the independent Rust
//! `zookeeper-client` crate, against an in-process three-node ensemble.

#![allow(clippy::unwrap_used)]

use paddock_integration_tests::*;
use paddock_testing::Ensemble;
use zookeeper_client as zk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_update_delete() {
    init_tracing();
    let ensemble = Ensemble::builder()
        .nodes(3)
        .in_memory()
        .start()
        .await
        .unwrap();
    let client = connect(&ensemble.connect_string()).await;
    let (stat, seq) = client.create("/app", b"v1", OPEN).await.unwrap();
    assert_eq!(seq.into_i64(), -1);
    assert_eq!((stat.version, stat.data_length), (0, 2));
    let (data, stat) = client.get_data("/app").await.unwrap();
    assert_eq!(data, b"v1");
    let stat2 = client
        .set_data("/app", b"v2", Some(stat.version))
        .await
        .unwrap();
    assert_eq!(stat2.version, 1);
    assert_eq!(
        client.set_data("/app", b"v3", Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    assert_eq!(
        client.create("/app", b"", OPEN).await.unwrap_err(),
        zk::Error::NodeExists
    );
    assert_eq!(
        client.get_data("/missing").await.unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(client.check_stat("/missing").await.unwrap(), None);
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
    client.delete("/app", Some(1)).await.unwrap();
    assert_eq!(client.check_stat("/app").await.unwrap(), None);
    client.sync("/").await.unwrap();
    ensemble.shutdown().await;
}
