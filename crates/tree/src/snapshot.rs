//! Snapshots: the whole tree and sessions table streamed to a writer and back, one node
//! at a time, so a snapshot never needs a second copy of the tree in memory.
//!
//! Layout (all integers LEB128 varints, signed ones zigzag-encoded):
//! `MAGIC`, config, last zxid, sessions, distinct ACLs, then the nodes in depth-first
//! name order as (name, stat, data, acl index, child count), then the digest and a CRC-32
//! of everything before it. Loading checks the CRC, the digest and the tree invariants.

use std::io::{self, Read, Write};

use paddock_jute::{Acl, Id};

use crate::digest::node_hash;
use crate::node::{ChildName, NodeId, Owner, StoredStat, Znode};
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
    /// CRC, digest and invariants: [`SnapshotNodes`] and [`SnapshotBuild`] in turn, on
    /// this thread.
    pub fn read_snapshot<R: Read>(input: R) -> Result<Tree, SnapshotError> {
        let (mut nodes, mut build) = SnapshotNodes::open(input)?;
        let mut batch = Vec::new();
        loop {
            let more = nodes.read_into(&mut batch, LOAD_BATCH_LEN)?;
            for node in batch.drain(..) {
                build.place(node)?;
            }
            if !more {
                break;
            }
        }
        build.finish(nodes.finish()?)
    }
}

/// Nodes a caller moving them between threads should hand over at once: enough to make a
/// hand-over cheap against decoding them.
pub const LOAD_BATCH_LEN: usize = 4096;

/// The first half of loading a snapshot: decodes its nodes in file order, checks the
/// structure (names, their order, child counts) and sums their digest terms, leaving
/// the tree's building to a [`SnapshotBuild`]. The two halves take about the same time,
/// so a restart can run them on two cores.
pub struct SnapshotNodes<R: Read> {
    r: CrcReader<R>,
    /// Nodes still to read.
    left: u64,
    /// ACLs the snapshot lists: a node's ACL number must be below this.
    acl_count: usize,
    /// Open ancestors of the next node, innermost last.
    stack: Vec<OpenLevel>,
    /// The path of the node being read, built in place: no allocation per node.
    path: String,
    name_buf: Vec<u8>,
    /// The wrapping sum of the digest terms of the nodes read.
    digest: u64,
}

/// A node whose children are still being read.
struct OpenLevel {
    /// The length of its path, a prefix of the path of every node read under it.
    path_len: usize,
    /// Children still to read.
    left: u64,
    /// The name of the child read last: children come in name order.
    last: String,
}

/// One node of a snapshot, decoded and checked by [`SnapshotNodes`], for
/// [`SnapshotBuild::place`].
pub struct SnapshotNode {
    name: ChildName,
    node: Znode,
    acl_number: usize,
    /// Its ancestors: 0 for the root.
    depth: usize,
    path_len: usize,
    /// The path of a node that has an owner (session, container, TTL), whose index keeps
    /// it; none for the others.
    owned_path: Option<String>,
}

/// What [`SnapshotNodes`] read after the nodes, for [`SnapshotBuild::finish`].
pub struct SnapshotTail {
    nodes_digest: u64,
    stored_digest: u64,
}

/// The second half of loading a snapshot: places the nodes [`SnapshotNodes`] decoded
/// (and checked), links each sibling list in one sorted build, and checks the digest at
/// the end.
pub struct SnapshotBuild {
    tree: Tree,
    acls: Vec<Vec<Acl>>,
    /// Each distinct ACL is looked up once; its other nodes only add a reference.
    acl_ids: Vec<Option<u32>>,
    /// The path from the root to the node placed last: each with its children so far.
    stack: Vec<OpenNode>,
}

/// A placed node whose children may still be coming.
struct OpenNode {
    id: NodeId,
    /// Children placed so far, in name order.
    children: Vec<(ChildName, NodeId)>,
}

impl<R: Read> SnapshotNodes<R> {
    /// Reads the snapshot's header (config, sessions, ACLs) into the tree its
    /// [`SnapshotBuild`] will complete.
    pub fn open(input: R) -> Result<(Self, SnapshotBuild), SnapshotError> {
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
        let left = r.u64()?;
        let nodes = Self {
            r,
            left,
            acl_count: acls.len(),
            stack: Vec::new(),
            path: String::new(),
            name_buf: Vec::new(),
            digest: 0,
        };
        let build = SnapshotBuild {
            tree,
            acl_ids: vec![None; acls.len()],
            acls,
            stack: Vec::new(),
        };
        Ok((nodes, build))
    }

    /// Appends up to `max` more nodes to `out`; false once every node is read.
    pub fn read_into(
        &mut self,
        out: &mut Vec<SnapshotNode>,
        max: usize,
    ) -> Result<bool, SnapshotError> {
        for _ in 0..max.min(usize::try_from(self.left).unwrap_or(usize::MAX)) {
            out.push(self.next()?);
            self.left -= 1;
        }
        Ok(self.left > 0)
    }

    fn next(&mut self) -> Result<SnapshotNode, SnapshotError> {
        let name = self.r.str_into(&mut self.name_buf)?;
        let stat = read_stat(&mut self.r)?;
        let data = self.r.opt_blob()?.map(Vec::into_boxed_slice);
        let acl_number = self.r.len()?;
        let children = self.r.u64()?;
        if acl_number >= self.acl_count {
            return Err(SnapshotError::Corrupt("unknown ACL"));
        }
        if self.path.is_empty() {
            // The root.
            self.path.push('/');
        } else {
            while self.stack.last().is_some_and(|open| open.left == 0) {
                self.stack.pop();
            }
            let Some(parent) = self.stack.last_mut() else {
                return Err(SnapshotError::Corrupt("node without parent"));
            };
            parent.left -= 1;
            if name.is_empty() || name.contains('/') || name <= parent.last.as_str() {
                return Err(SnapshotError::Corrupt("bad, duplicate or unordered name"));
            }
            parent.last.clear();
            parent.last.push_str(name);
            self.path.truncate(parent.path_len);
            if self.path != "/" {
                self.path.push('/');
            }
            self.path.push_str(name);
        }
        self.digest = self
            .digest
            .wrapping_add(node_hash(&self.path, &stat, data.as_deref()));
        let owned_path = (stat.owner() != Owner::None).then(|| self.path.clone());
        self.stack.push(OpenLevel {
            path_len: self.path.len(),
            left: children,
            last: String::new(),
        });
        Ok(SnapshotNode {
            name: ChildName::new(name),
            node: Znode::new(stat, data, 0),
            acl_number,
            depth: self.stack.len() - 1,
            path_len: self.path.len(),
            owned_path,
        })
    }

    /// Reads what follows the nodes and checks the file's CRC.
    pub fn finish(mut self) -> Result<SnapshotTail, SnapshotError> {
        if self.left != 0 {
            return Err(SnapshotError::Corrupt("nodes left unread"));
        }
        if self.stack.iter().any(|open| open.left != 0) {
            return Err(SnapshotError::Corrupt("missing children"));
        }
        let stored_digest = self.r.u64()?;
        let expected_crc = self.r.checksum();
        let mut crc = [0u8; 4];
        self.r.exact(&mut crc)?;
        if u32::from_le_bytes(crc) != expected_crc {
            return Err(SnapshotError::Corrupt("checksum mismatch"));
        }
        Ok(SnapshotTail {
            nodes_digest: self.digest,
            stored_digest,
        })
    }
}

impl SnapshotBuild {
    /// Places the next node, in the order [`SnapshotNodes`] read them.
    pub fn place(&mut self, loaded: SnapshotNode) -> Result<(), SnapshotError> {
        let SnapshotNode {
            name,
            mut node,
            acl_number,
            depth,
            path_len,
            owned_path,
        } = loaded;
        let (Some(slot), Some(entries)) =
            (self.acl_ids.get_mut(acl_number), self.acls.get(acl_number))
        else {
            return Err(SnapshotError::Corrupt("unknown ACL"));
        };
        node.acl = match *slot {
            Some(id) => {
                self.tree.acls.retain(id);
                id
            }
            None => *slot.insert(self.tree.acls.acquire(entries)),
        };
        while self.stack.len() > depth {
            self.close();
        }
        let id = if depth == 0 && self.tree.node_count() == 0 {
            self.tree.insert_root(node);
            ROOT
        } else {
            let (true, Some(parent)) = (self.stack.len() == depth, self.stack.last_mut()) else {
                return Err(SnapshotError::Corrupt("node without parent"));
            };
            let id = self
                .tree
                .place_hashed(path_len, owned_path.as_deref(), node);
            parent.children.push((name, id));
            id
        };
        self.stack.push(OpenNode {
            id,
            children: Vec::new(),
        });
        Ok(())
    }

    /// Gives the innermost open node its children and closes it.
    fn close(&mut self) {
        if let Some(open) = self.stack.pop() {
            self.tree
                .set_children(open.id, open.children.into_iter().collect());
        }
    }

    /// Links what is still open and checks the digest: the tree, if it matches.
    pub fn finish(mut self, tail: SnapshotTail) -> Result<Tree, SnapshotError> {
        if self.tree.node_count() == 0 {
            return Err(SnapshotError::Corrupt("no root"));
        }
        while !self.stack.is_empty() {
            self.close();
        }
        self.tree.add_digest_terms(tail.nodes_digest);
        if tail.stored_digest != self.tree.digest() {
            return Err(SnapshotError::Corrupt("digest mismatch"));
        }
        Ok(self.tree)
    }
}
