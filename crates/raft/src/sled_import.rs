//! Reads a Raft log that an earlier Paddock kept in sled, so a data directory written
//! before the segment files ([`crate::wal`]) opens with its log intact. Read once, written
//! out as segments, then sled's files are removed.
//!
//! The sled layout: hard state (`hs`), membership (`cs`), latest snapshot (`snap`),
//! truncation marker (`trunc`, index and term) and the oldest live generation (`gen`) in
//! the tree `meta` — or, oldest of all, in the default tree; runs of entries under `b` +
//! big-endian first index, each entry a big-endian u32 length and its protobuf encoding,
//! in the default tree and in generation trees `log.` + 16 hex digits. Generations older
//! than `gen` belong to a log a snapshot replaced and are never read.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use raft::prelude::{ConfState, Entry, HardState, SnapshotMetadata};
use tracing::{info, warn};

use crate::error::StoreError;
use crate::wal::decode;

/// What the sled store held.
#[derive(Debug, Default)]
pub(crate) struct Imported {
    pub hard_state: HardState,
    /// Membership, if one was recorded.
    pub conf_state: Option<ConfState>,
    pub snapshot: SnapshotMetadata,
    pub truncated: (u64, u64),
    /// The live log, first index `truncated.0 + 1`.
    pub entries: Vec<Entry>,
}

/// Whether `dir` holds a sled store.
pub(crate) fn holds_sled(dir: &Path) -> bool {
    dir.join("db").is_file() && dir.join("conf").is_file()
}

fn decode_run(mut bytes: &[u8]) -> Result<Vec<Entry>, StoreError> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(StoreError::Corrupt("truncated entry batch"));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(StoreError::Corrupt("truncated entry batch"));
        }
        let (entry, rest) = rest.split_at(len);
        entries.push(decode(entry)?);
        bytes = rest;
    }
    Ok(entries)
}

fn u64_pair(bytes: &[u8]) -> Result<(u64, u64), StoreError> {
    let raw: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("truncation marker"))?;
    let (index, term) = raw.split_at(8);
    let index = index.try_into().map_err(|_| StoreError::Corrupt("index"))?;
    let term = term.try_into().map_err(|_| StoreError::Corrupt("term"))?;
    Ok((u64::from_be_bytes(index), u64::from_be_bytes(term)))
}

/// The generation a sled tree named `name` holds, if it is a generation tree.
fn generation_of(name: &[u8]) -> Option<u64> {
    let hex = std::str::from_utf8(name).ok()?.strip_prefix("log.")?;
    u64::from_str_radix(hex, 16).ok().filter(|g| *g > 0)
}

/// sled's refusal to open a database whose file lock another handle holds.
fn is_lock_held(error: &std::io::Error) -> bool {
    error.to_string().contains("could not acquire lock")
}

/// Reads the sled store in `dir`.
pub(crate) fn load(dir: &Path) -> Result<Imported, StoreError> {
    let config = sled::Config::new().path(dir);
    let mut attempts = 0;
    let db = loop {
        match config.open() {
            Err(sled::Error::Io(error)) if is_lock_held(&error) && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => break opened?,
        }
    };
    let meta = db.open_tree("meta")?;
    let get = |key: &str| -> Result<Option<sled::IVec>, StoreError> {
        Ok(match meta.get(key)? {
            Some(value) => Some(value),
            None => db.get(key)?,
        })
    };
    let mut imported = Imported::default();
    if let Some(bytes) = get("hs")? {
        imported.hard_state = decode(&bytes)?;
    }
    if let Some(bytes) = get("cs")? {
        imported.conf_state = Some(decode(&bytes)?);
    }
    if let Some(bytes) = get("snap")? {
        imported.snapshot = decode(&bytes)?;
    }
    if let Some(bytes) = get("trunc")? {
        imported.truncated = u64_pair(&bytes)?;
    }
    let first_generation = match get("gen")? {
        Some(bytes) => u64::from_be_bytes(
            bytes
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("first generation"))?,
        ),
        None => 0,
    };
    let mut trees = vec![(0, (*db).clone())];
    for name in db.tree_names() {
        if let Some(generation) = generation_of(&name) {
            trees.push((generation, db.open_tree(&name)?));
        }
    }
    let mut runs = BTreeMap::new();
    for (generation, tree) in trees {
        if generation < first_generation {
            continue;
        }
        for item in tree.scan_prefix(b"b") {
            let (key, value) = item?;
            let first = u64::from_be_bytes(
                key.get(1..9)
                    .and_then(|k| k.try_into().ok())
                    .ok_or(StoreError::Corrupt("entry batch key"))?,
            );
            if runs.insert(first, value).is_some() {
                return Err(StoreError::Corrupt("one run stored in two generations"));
            }
        }
    }
    let truncated = imported.truncated.0;
    for value in runs.values() {
        for entry in decode_run(value)? {
            if entry.index <= truncated {
                continue;
            }
            let expected = imported.entries.last().map_or(truncated, |e| e.index) + 1;
            if entry.index != expected {
                return Err(StoreError::Corrupt("gap in the log"));
            }
            imported.entries.push(entry);
        }
    }
    info!(
        dir = %dir.display(),
        entries = imported.entries.len(),
        "moving the Raft log out of sled into segment files"
    );
    Ok(imported)
}

/// Removes sled's files from `dir`, once the log they held is stored elsewhere.
pub(crate) fn remove(dir: &Path) {
    let Ok(items) = std::fs::read_dir(dir) else {
        return;
    };
    for item in items.filter_map(|item| item.ok()) {
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let result = match name {
            "blobs" => std::fs::remove_dir_all(item.path()),
            "db" | "conf" => std::fs::remove_file(item.path()),
            _ if name.starts_with("snap.") => std::fs::remove_file(item.path()),
            _ => continue,
        };
        if let Err(error) = result {
            warn!(file = %item.path().display(), %error, "removing a file of the old sled log failed");
        }
    }
}
