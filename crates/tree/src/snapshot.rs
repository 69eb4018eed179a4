//! Snapshots: the whole tree and sessions table streamed to a writer and back, one node
//! at a time, so a snapshot never needs a second copy of the tree in memory.
//!
//! Layout (all integers LEB128 varints, signed ones zigzag-encoded):
//! `MAGIC`, config, last zxid, sessions, distinct ACLs, then the nodes in depth-first
//! name order as (name, stat, data, acl index, child count), then the digest and a CRC-32
//! of everything before it. Loading checks the CRC, the digest and the tree invariants.

use std::io::{self, Read, Write};

use paddock_jute::{Acl, Id};

use crate::node::{ChildName, NodeId, StoredStat, Znode};
use crate::session::Session;
use crate::tree::{ROOT, Tree, TreeConfig};

const MAGIC: &[u8; 8] = b"PDKSNAP2";

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The underlying reader or writer failed.
    #[error("snapshot i/o: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a snapshot this version understands, or are damaged.
    #[error("corrupt snapshot: {0}")]
    Corrupt(&'static str),
}

/// Encodes into its own buffer and hands the writer 64 KiB at a time, checksumming each
/// block once: per-field writes and checksum calls dominated snapshot time otherwise.
struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
    buf: Vec<u8>,
    written: u64,
}

const WRITE_BLOCK_LEN: usize = 1 << 16;

impl<W: Write> CrcWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            crc: crc32fast::Hasher::new(),
            buf: Vec::with_capacity(WRITE_BLOCK_LEN * 2),
            written: 0,
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        self.crc.update(&self.buf);
        self.inner.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Spills a full block to the writer; call between records.
    fn maybe_spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= WRITE_BLOCK_LEN {
            self.spill()?;
        }
        Ok(())
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn u64(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    fn blob(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.bytes(bytes);
    }

    fn opt_blob(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            None => self.u64(0),
            Some(bytes) => {
                self.u64(bytes.len() as u64 + 1);
                self.bytes(bytes);
            }
        }
    }

    /// Writes everything left, then the checksum of it all; returns the total size.
    fn finish(mut self) -> io::Result<u64> {
        self.spill()?;
        let crc = self.crc.clone().finalize();
        self.inner.write_all(&crc.to_le_bytes())?;
        self.inner.flush()?;
        Ok(self.written + 4)
    }
}

/// Reads through its own buffer so the many small varint reads stay cheap; consumed
/// bytes are checksummed in batches.
struct CrcReader<R: Read> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    hashed: usize,
    crc: crc32fast::Hasher,
}

impl<R: Read> CrcReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; 1 << 16].into_boxed_slice(),
            pos: 0,
            len: 0,
            hashed: 0,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// Makes at least one unread byte available, or fails at end of input.
    #[inline]
    fn fill(&mut self) -> Result<(), SnapshotError> {
        if self.pos < self.len {
            return Ok(());
        }
        self.refill()
    }

    #[cold]
    fn refill(&mut self) -> Result<(), SnapshotError> {
        self.crc.update(&self.buf[self.hashed..self.pos]);
        self.pos = 0;
        self.hashed = 0;
        self.len = self.inner.read(&mut self.buf)?;
        if self.len == 0 {
            return Err(SnapshotError::Corrupt("truncated"));
        }
        Ok(())
    }

    /// The checksum of every byte consumed so far.
    fn checksum(&mut self) -> u32 {
        self.crc.update(&self.buf[self.hashed..self.pos]);
        self.hashed = self.pos;
        self.crc.clone().finalize()
    }

    fn byte(&mut self) -> Result<u8, SnapshotError> {
        self.fill()?;
        let byte = self.buf[self.pos];
        self.pos += 1;
        Ok(byte)
    }

    fn exact(&mut self, out: &mut [u8]) -> Result<(), SnapshotError> {
        let mut done = 0;
        while done < out.len() {
            self.fill()?;
            let n = (self.len - self.pos).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
        Ok(())
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        // Most varints lie wholly inside the buffer: decode them there, without a
        // refill check per byte.
        if let Some(buffered) = self.buf.get(self.pos..self.len.min(self.pos + 10))
            && buffered.len() == 10
        {
            let mut bytes = buffered.iter().copied();
            let mut used = 0;
            let v = varint(|| {
                used += 1;
                bytes
                    .next()
                    .ok_or(SnapshotError::Corrupt("varint too long"))
            })?;
            self.pos += used;
            return Ok(v);
        }
        varint(|| self.byte())
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        let v = self.u64()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32, SnapshotError> {
        i32::try_from(self.i64()?).map_err(|_| SnapshotError::Corrupt("i32 out of range"))
    }

    fn len(&mut self) -> Result<usize, SnapshotError> {
        usize::try_from(self.u64()?).map_err(|_| SnapshotError::Corrupt("length out of range"))
    }

    /// Reads `len` bytes, growing the output as bytes arrive rather than trusting `len`.
    fn bytes(&mut self, len: usize) -> Result<Vec<u8>, SnapshotError> {
        let mut out = Vec::new();
        self.bytes_into(len, &mut out)?;
        Ok(out)
    }

    /// Like [`CrcReader::bytes`], into a buffer reused across calls.
    fn bytes_into(&mut self, len: usize, out: &mut Vec<u8>) -> Result<(), SnapshotError> {
        out.clear();
        out.reserve(len.min(1 << 16));
        while out.len() < len {
            self.fill()?;
            let n = (self.len - self.pos).min(len - out.len());
            out.extend_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
        }
        Ok(())
    }

    fn blob(&mut self) -> Result<Vec<u8>, SnapshotError> {
        let len = self.len()?;
        self.bytes(len)
    }

    /// A length-prefixed string, read into `buf` (reused across calls).
    fn str_into<'b>(&mut self, buf: &'b mut Vec<u8>) -> Result<&'b str, SnapshotError> {
        let len = self.len()?;
        self.bytes_into(len, buf)?;
        std::str::from_utf8(buf).map_err(|_| SnapshotError::Corrupt("string not UTF-8"))
    }

    fn string(&mut self) -> Result<String, SnapshotError> {
        String::from_utf8(self.blob()?).map_err(|_| SnapshotError::Corrupt("string not UTF-8"))
    }

    fn opt_blob(&mut self) -> Result<Option<Vec<u8>>, SnapshotError> {
        match self.len()? {
            0 => Ok(None),
            n => self.bytes(n - 1).map(Some),
        }
    }
}

/// Decodes one LEB128 varint of at most ten bytes from `next`.
#[inline(always)]
fn varint(mut next: impl FnMut() -> Result<u8, SnapshotError>) -> Result<u64, SnapshotError> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = next()?;
        if shift == 63 && byte > 1 {
            return Err(SnapshotError::Corrupt("varint overflow"));
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(SnapshotError::Corrupt("varint too long"))
}

fn write_stat<W: Write>(w: &mut CrcWriter<W>, stat: &StoredStat) {
    for v in [stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime] {
        w.i64(v);
    }
    for v in [stat.version, stat.cversion, stat.aversion] {
        w.i64(i64::from(v));
    }
    w.i64(stat.ephemeral_owner);
}

fn read_stat<R: Read>(r: &mut CrcReader<R>) -> Result<StoredStat, SnapshotError> {
    Ok(StoredStat {
        czxid: r.i64()?,
        mzxid: r.i64()?,
        pzxid: r.i64()?,
        ctime: r.i64()?,
        mtime: r.i64()?,
        version: r.i32()?,
        cversion: r.i32()?,
        aversion: r.i32()?,
        ephemeral_owner: r.i64()?,
    })
}

/// A node of a snapshot being loaded whose children are still being read.
struct OpenNode {
    id: NodeId,
    /// The length of its path, a prefix of the path of every node read under it.
    path_len: usize,
    /// Children still to read.
    left: u64,
    /// Children read so far, in name order.
    children: Vec<(ChildName, NodeId)>,
}

/// Gives the innermost open node its children and closes it.
fn close(tree: &mut Tree, stack: &mut Vec<OpenNode>) {
    if let Some(open) = stack.pop() {
        tree.set_children(open.id, open.children.into_iter().collect());
    }
}

impl Tree {
    /// Streams the whole state to `out`. Returns the number of bytes written.
    pub fn write_snapshot<W: Write>(&self, out: W) -> io::Result<u64> {
        let mut w = CrcWriter::new(out);
        w.bytes(MAGIC);
        w.u64(u64::from(self.config.extended_types_enabled));
        w.i64(self.last_zxid);
        w.u64(self.sessions.len() as u64);
        for (id, session) in &self.sessions {
            w.i64(*id);
            w.i64(i64::from(session.timeout_ms));
            w.blob(&session.password);
            w.u64(session.owner);
            w.maybe_spill()?;
        }
        // Distinct ACLs, numbered in first-use order of the walk below.
        // By ACL index (a vector, not a hash map: two lookups per znode).
        let mut acl_numbers: Vec<Option<u64>> = vec![None; self.acls.index_bound()];
        let mut acl_order: Vec<u32> = Vec::new();
        self.walk_named(|_, node| {
            if let Some(number @ None) = acl_numbers.get_mut(node.acl as usize) {
                acl_order.push(node.acl);
                *number = Some(acl_order.len() as u64 - 1);
            }
        });
        w.u64(acl_order.len() as u64);
        for index in &acl_order {
            let acl = self.acls.get(*index);
            w.u64(acl.len() as u64);
            for entry in acl {
                w.i64(i64::from(entry.perms));
                w.blob(entry.id.scheme.as_bytes());
                w.blob(entry.id.id.as_bytes());
            }
            w.maybe_spill()?;
        }
        w.u64(self.node_count() as u64);
        let mut result = Ok(());
        self.walk_named(|name, node| {
            w.blob(name.as_bytes());
            write_stat(&mut w, &node.stat);
            w.opt_blob(node.data.as_deref());
            w.u64(
                acl_numbers
                    .get(node.acl as usize)
                    .copied()
                    .flatten()
                    .unwrap_or(0),
            );
            w.u64(node.num_children() as u64);
            if result.is_ok() {
                result = w.maybe_spill();
            }
        });
        result?;
        w.u64(self.digest());
        w.finish()
    }

    /// Rebuilds a tree from a snapshot written by [`Tree::write_snapshot`], checking its
    /// CRC, digest and invariants.
    pub fn read_snapshot<R: Read>(input: R) -> Result<Tree, SnapshotError> {
        let mut r = CrcReader::new(input);
        let mut magic = [0u8; 8];
        r.exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(SnapshotError::Corrupt("bad magic"));
        }
        let config = TreeConfig {
            extended_types_enabled: r.u64()? != 0,
        };
        let mut tree = Tree::empty(config);
        tree.last_zxid = r.i64()?;
        for _ in 0..r.u64()? {
            let id = r.i64()?;
            let timeout_ms = r.i32()?;
            let password = r.blob()?;
            let owner = r.u64()?;
            tree.insert_session(
                id,
                Session {
                    timeout_ms,
                    password,
                    owner,
                    ephemerals: Default::default(),
                },
            );
        }
        let mut acls: Vec<Vec<Acl>> = Vec::new();
        for _ in 0..r.u64()? {
            let mut acl = Vec::new();
            for _ in 0..r.u64()? {
                let perms = r.i32()?;
                let scheme = r.string()?;
                let id = r.string()?;
                acl.push(Acl {
                    perms,
                    id: Id { scheme, id },
                });
            }
            acls.push(acl);
        }
        let count = r.u64()?;
        // Each distinct ACL is looked up once; its other nodes only add a reference.
        let mut acl_ids: Vec<Option<u32>> = vec![None; acls.len()];
        // Open ancestors, innermost last. Children are written in name order, so a
        // duplicate or misplaced name shows as a name not above its predecessor, and a
        // finished sibling list becomes its parent's map in one sorted build: no lookup
        // or ordered insert per node.
        let mut stack: Vec<OpenNode> = Vec::new();
        // The path of the node being read, built in place: no allocation per node.
        let mut path = String::new();
        let mut name_buf = Vec::new();
        for index in 0..count {
            let name = r.str_into(&mut name_buf)?;
            let stat = read_stat(&mut r)?;
            let data = r.opt_blob()?.map(Vec::into_boxed_slice);
            let acl_number = r.len()?;
            let children = r.u64()?;
            let (Some(slot), Some(entries)) = (acl_ids.get_mut(acl_number), acls.get(acl_number))
            else {
                return Err(SnapshotError::Corrupt("unknown ACL"));
            };
            let acl = match *slot {
                Some(id) => {
                    tree.acls.retain(id);
                    id
                }
                None => *slot.insert(tree.acls.acquire(entries)),
            };
            let node = Znode::new(stat, data, acl);
            let id = if index == 0 {
                tree.insert_root(node);
                path.push('/');
                ROOT
            } else {
                while stack.last().is_some_and(|open| open.left == 0) {
                    close(&mut tree, &mut stack);
                }
                let Some(parent) = stack.last_mut() else {
                    return Err(SnapshotError::Corrupt("node without parent"));
                };
                parent.left -= 1;
                if name.is_empty()
                    || name.contains('/')
                    || parent
                        .children
                        .last()
                        .is_some_and(|(last, _)| name <= last.as_str())
                {
                    return Err(SnapshotError::Corrupt("bad, duplicate or unordered name"));
                }
                path.truncate(parent.path_len);
                if path != "/" {
                    path.push('/');
                }
                path.push_str(name);
                let id = tree.place_node(&path, node);
                parent.children.push((ChildName::new(name), id));
                id
            };
            stack.push(OpenNode {
                id,
                path_len: path.len(),
                left: children,
                children: Vec::new(),
            });
        }
        if stack.iter().any(|open| open.left != 0) {
            return Err(SnapshotError::Corrupt("missing children"));
        }
        while !stack.is_empty() {
            close(&mut tree, &mut stack);
        }
        let digest = r.u64()?;
        let expected_crc = r.checksum();
        let mut crc = [0u8; 4];
        r.exact(&mut crc)?;
        if u32::from_le_bytes(crc) != expected_crc {
            return Err(SnapshotError::Corrupt("checksum mismatch"));
        }
        if digest != tree.digest() {
            return Err(SnapshotError::Corrupt("digest mismatch"));
        }
        Ok(tree)
    }
}
