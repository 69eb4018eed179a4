//! How long an in-memory three-node ensemble takes from `start()` to serving a client
//! (leader elected, a session created and a znode written). Prints the median of 20.
//!
//! Run: `cargo bench -p paddock-testing --bench startup`

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use paddock_testing::Ensemble;
use zookeeper_client as zk;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut ready = Vec::new();
        let mut first_write = Vec::new();
        for _ in 0..20 {
            let start = Instant::now();
            let ensemble = Ensemble::builder().nodes(3).in_memory().start().await.unwrap();
            ready.push(start.elapsed());
            let client = zk::Client::connect(&ensemble.connect_string()).await.unwrap();
            let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            client.create("/ready", b"", &open).await.unwrap();
            first_write.push(start.elapsed());
            drop(client);
            ensemble.shutdown().await;
        }
        ready.sort();
        first_write.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "in-memory 3-node ensemble: leader ready median {:.0} ms (min {:.0}, max {:.0}); first client write median {:.0} ms",
            ms(ready[ready.len() / 2]),
            ms(ready[0]),
            ms(ready[ready.len() - 1]),
            ms(first_write[first_write.len() / 2]),
        );
    });
}
