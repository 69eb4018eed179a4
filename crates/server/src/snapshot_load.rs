//! Loading a snapshot on two cores: this thread decodes, checks and hashes the nodes
//! ([`SnapshotNodes`]) while another builds the tree from them ([`SnapshotBuild`]), in
//! batches. The two halves take about the same time, and a restart of a server holding
//! a million znodes is mostly this load.

use std::io::Read;
use std::sync::mpsc;

use paddock_tree::{
    LOAD_BATCH_LEN, SnapshotBuild, SnapshotError, SnapshotNode, SnapshotNodes, SnapshotTail, Tree,
};

/// Batches decoded ahead of the builder: enough to ride out a hiccup of either thread.
const BATCHES_AHEAD: usize = 4;

/// Rebuilds the tree `input` holds, as [`Tree::read_snapshot`] does, on two threads.
pub(crate) fn load_tree(input: &mut dyn Read) -> Result<Tree, SnapshotError> {
    let (nodes, build) = SnapshotNodes::open(input)?;
    let (full_tx, full_rx) = mpsc::sync_channel(BATCHES_AHEAD);
    let (empty_tx, empty_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let builder = std::thread::Builder::new()
            .name("snapshot-build".into())
            .spawn_scoped(scope, move || place_all(build, full_rx, empty_tx))?;
        let read = read_all(nodes, full_tx, empty_rx);
        let built = builder
            .join()
            .map_err(|_| std::io::Error::other("the snapshot's builder thread panicked"))?;
        match (read?, built) {
            (Some(tail), Ok(build)) => build.finish(tail),
            (_, Err(error)) => Err(error),
            (None, Ok(_)) => Err(SnapshotError::Corrupt("the builder stopped early")),
        }
    })
}

/// Decodes every node into batches for the builder, then what follows them; `None` if
/// the builder hung up (it failed, and says why).
fn read_all(
    mut nodes: SnapshotNodes<&mut dyn Read>,
    full: mpsc::SyncSender<Vec<SnapshotNode>>,
    empty: mpsc::Receiver<Vec<SnapshotNode>>,
) -> Result<Option<SnapshotTail>, SnapshotError> {
    loop {
        let mut batch = empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(LOAD_BATCH_LEN));
        let more = nodes.read_into(&mut batch, LOAD_BATCH_LEN)?;
        if full.send(batch).is_err() {
            return Ok(None);
        }
        if !more {
            return nodes.finish().map(Some);
        }
    }
}

/// Places every node of every batch, handing the emptied batches back for reuse.
fn place_all(
    mut build: SnapshotBuild,
    full: mpsc::Receiver<Vec<SnapshotNode>>,
    empty: mpsc::Sender<Vec<SnapshotNode>>,
) -> Result<SnapshotBuild, SnapshotError> {
    for mut batch in full {
        for node in batch.drain(..) {
            build.place(node)?;
        }
        let _ = empty.send(batch);
    }
    Ok(build)
}

#[cfg(test)]
mod tests {
    use paddock_jute::{Acl, CreateRequest, Request};
    use paddock_tree::{Txn, TxnOp};

    use super::*;

    /// A tree of several batches' worth of znodes under two parents, with a session's
    /// ephemerals among them, and its snapshot.
    fn snapshot() -> (Tree, Vec<u8>) {
        let mut tree = Tree::default();
        let mut zxid = 0;
        let mut apply = |tree: &mut Tree, op| {
            zxid += 1;
            tree.apply(Txn {
                zxid,
                time_ms: 1_700_000_000_000 + zxid,
                session_id: 0x51,
                auth: vec![],
                owner: 0,
                op,
            });
        };
        apply(
            &mut tree,
            TxnOp::CreateSession {
                timeout_ms: 30_000,
                password: vec![7; 16],
            },
        );
        for i in 0..3 * LOAD_BATCH_LEN {
            let path = match i {
                0 => "/a".to_owned(),
                1 => "/b".to_owned(),
                _ => format!("/{}/n{i:06}", if i % 2 == 0 { "a" } else { "b" }),
            };
            apply(
                &mut tree,
                TxnOp::Write(Request::Create(CreateRequest {
                    path,
                    data: Some(vec![i as u8; 100]),
                    acl: Acl::open_unsafe(),
                    // Every seventh an ephemeral.
                    flags: i32::from(i > 1 && i % 7 == 0),
                    ttl: 0,
                })),
            );
        }
        let mut bytes = Vec::new();
        tree.write_snapshot(&mut bytes).unwrap();
        (tree, bytes)
    }

    #[test]
    fn loads_what_a_single_thread_loads() {
        let (tree, bytes) = snapshot();
        let loaded = load_tree(&mut &bytes[..]).unwrap();
        assert_eq!(loaded.digest(), tree.digest());
        assert_eq!(loaded.node_count(), tree.node_count());
        assert_eq!(loaded.node_count(), 3 * LOAD_BATCH_LEN + 4);
        assert_eq!(
            loaded.ephemerals(0x51, "/"),
            Tree::read_snapshot(&bytes[..])
                .unwrap()
                .ephemerals(0x51, "/")
        );
        assert!(!loaded.ephemerals(0x51, "/").is_empty());
    }

    #[test]
    fn damage_anywhere_fails_the_load() {
        let (_, bytes) = snapshot();
        for cut in [0, 9, bytes.len() / 3, bytes.len() - 1] {
            assert!(load_tree(&mut &bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in [bytes.len() / 4, bytes.len() / 2, bytes.len() - 30] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x20;
            assert!(load_tree(&mut &flipped[..]).is_err(), "flipped at {at}");
        }
    }
}
