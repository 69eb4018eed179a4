//! Where snapshots of the state machine live: files in the data directory (written to a
//! temporary name, fsynced, then renamed, so a crash never leaves half a snapshot under a
//! real name) or, for in-memory nodes, buffers in memory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use tracing::error;

use crate::direct_file::{DirectReader, DirectWriter};
use crate::worker::Worker;

/// A snapshot is named by the log position it covers.
pub type SnapshotId = (u64, u64);

/// Snapshot storage of one node. Cloning shares it.
#[derive(Clone)]
pub struct SnapshotStore {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Dir(PathBuf),
    Memory(Arc<Mutex<BTreeMap<SnapshotId, Arc<Vec<u8>>>>>),
}

/// A snapshot being written; [`SnapshotSink::finish`] makes it visible.
pub struct SnapshotSink {
    id: SnapshotId,
    target: SinkTarget,
    written: u64,
}

enum SinkTarget {
    File {
        file: DirectWriter,
        tmp: PathBuf,
        path: PathBuf,
        dir: PathBuf,
    },
    Memory {
        buffer: Vec<u8>,
        map: Arc<Mutex<BTreeMap<SnapshotId, Arc<Vec<u8>>>>>,
    },
}

fn file_name((index, term): SnapshotId) -> String {
    format!("snap-{index:020}-{term:020}")
}

fn parse_name(name: &str) -> Option<SnapshotId> {
    let rest = name.strip_prefix("snap-")?;
    let (index, term) = rest.split_once('-')?;
    Some((index.parse().ok()?, term.parse().ok()?))
}

impl SnapshotStore {
    /// Snapshots as files in `dir` (created if missing). Leftover temporary files from a
    /// crash are removed.
    pub fn in_dir(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(Self {
            kind: Kind::Dir(dir.to_owned()),
        })
    }

    /// Snapshots in memory.
    pub fn in_memory() -> Self {
        Self {
            kind: Kind::Memory(Arc::default()),
        }
    }

    /// Starts writing snapshot `id`.
    pub fn create(&self, id: SnapshotId) -> io::Result<SnapshotSink> {
        let target = match &self.kind {
            Kind::Dir(dir) => {
                let path = dir.join(file_name(id));
                let tmp = dir.join(format!("{}.tmp", file_name(id)));
                // Around the page cache where the filesystem allows: see `direct_file`.
                let file = DirectWriter::create(&tmp)?;
                SinkTarget::File {
                    file,
                    tmp,
                    path,
                    dir: dir.clone(),
                }
            }
            Kind::Memory(map) => SinkTarget::Memory {
                buffer: Vec::new(),
                map: map.clone(),
            },
        };
        Ok(SnapshotSink {
            id,
            target,
            written: 0,
        })
    }

    /// Opens snapshot `id` for reading, with its size in bytes.
    pub fn open(&self, id: SnapshotId) -> io::Result<(Box<dyn Read + Send>, u64)> {
        match &self.kind {
            Kind::Dir(dir) => {
                let reader = DirectReader::open(&dir.join(file_name(id)))?;
                let len = reader.file_len();
                Ok((Box::new(reader), len))
            }
            Kind::Memory(map) => {
                let data =
                    map.lock().get(&id).cloned().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, "no such snapshot")
                    })?;
                let len = data.len() as u64;
                Ok((Box::new(Cursor::new(ArcBytes(data))), len))
            }
        }
    }

    /// The newest snapshot stored, if any.
    pub fn latest(&self) -> io::Result<Option<SnapshotId>> {
        Ok(self.list()?.into_iter().max())
    }

    fn list(&self) -> io::Result<Vec<SnapshotId>> {
        match &self.kind {
            Kind::Dir(dir) => {
                let mut ids = Vec::new();
                for entry in fs::read_dir(dir)? {
                    if let Some(id) = parse_name(&entry?.file_name().to_string_lossy()) {
                        ids.push(id);
                    }
                }
                Ok(ids)
            }
            Kind::Memory(map) => Ok(map.lock().keys().copied().collect()),
        }
    }

    /// Deletes every snapshot older than `keep`.
    pub fn retain_from(&self, keep: SnapshotId) -> io::Result<()> {
        for id in self.list()? {
            if id.0 < keep.0 {
                match &self.kind {
                    Kind::Dir(dir) => fs::remove_file(dir.join(file_name(id)))?,
                    Kind::Memory(map) => {
                        map.lock().remove(&id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Total bytes of stored snapshots.
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::Dir(dir) => fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok()?.metadata().ok())
                        .map(|m| m.len())
                        .sum()
                })
                .unwrap_or(0),
            Kind::Memory(map) => map.lock().values().map(|v| v.len() as u64).sum(),
        }
    }
}

struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Starts node `node`'s thread that deletes the snapshots older than each id sent to it.
/// Deleting a file of a few hundred megabytes took 150–300 ms, time the Ready loop spent
/// silent, long enough for followers to start an election.
pub(crate) fn start_remover(node: u64, store: SnapshotStore) -> io::Result<Worker<SnapshotId>> {
    Worker::start_folding(format!("paddock-snapdel-{node}"), move |keep| {
        if let Err(error) = store.retain_from(keep) {
            // The old files stay behind, taking space; the next snapshot tries again.
            error!(node, %error, "removing old snapshots failed");
        }
        true
    })
}

impl SnapshotSink {
    /// The snapshot being written.
    pub fn id(&self) -> SnapshotId {
        self.id
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes the snapshot durable and visible under its name.
    pub fn finish(self) -> io::Result<u64> {
        match self.target {
            SinkTarget::File {
                file,
                tmp,
                path,
                dir,
            } => {
                let file = file.finish()?;
                file.sync_all()?;
                drop(file);
                fs::rename(&tmp, &path)?;
                File::open(&dir)?.sync_all()?;
            }
            SinkTarget::Memory { buffer, map } => {
                map.lock().insert(self.id, Arc::new(buffer));
            }
        }
        Ok(self.written)
    }
}

impl Write for SnapshotSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.target {
            SinkTarget::File { file, .. } => file.write(buf)?,
            SinkTarget::Memory { buffer, .. } => buffer.write(buf)?,
        };
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.target {
            SinkTarget::File { file, .. } => file.flush(),
            SinkTarget::Memory { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(ids: &[SnapshotId]) -> SnapshotStore {
        let store = SnapshotStore::in_memory();
        for id in ids {
            let mut sink = store.create(*id).unwrap();
            sink.write_all(b"state").unwrap();
            sink.finish().unwrap();
        }
        store
    }

    #[test]
    fn the_remover_keeps_the_newest_it_was_told_of_and_everything_after() {
        let store = store_with(&[(10, 1), (20, 1), (30, 2), (40, 2)]);
        let remover = start_remover(1, store.clone()).unwrap();
        remover.send((20, 1));
        remover.send((30, 2));
        drop(remover); // joins the thread once it has served both
        let mut left = store.list().unwrap();
        left.sort_unstable();
        assert_eq!(left, vec![(30, 2), (40, 2)]);
    }
}
