//! Files written around the page cache (`O_DIRECT`) where the filesystem allows it: a
//! large new file written once (snapshots, [`DirectWriter`]) and a file appended to a
//! little at a time (the log's newest segment, [`DirectAppender`]). On the virtual
//! machines Paddock is measured on, copying data into fresh page-cache pages costs the
//! writing thread about 8 ms of CPU per MB (`dd` of 1.5 GB: 12.4 s of system time
//! buffered, 0.14 s direct), and more once the host has taken back the guest's free
//! memory: three servers' snapshots of a tree of a few million znodes spent more CPU
//! there than on serving, and the log's appends cost a third of the servers' CPU in a
//! write benchmark's later runs. Direct writes also leave no dirty pages behind for the
//! log's next fsync to wait on. Snapshots are read back the same way ([`DirectReader`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc;

/// Direct I/O needs buffers, offsets and lengths aligned to the device's blocks; 4 KiB
/// covers the devices in use.
const ALIGN: usize = 4096;

/// Bytes gathered before one write.
const WINDOW: usize = 1 << 20;

/// Without direct I/O, the file is synced every this many bytes. Left to the end, a
/// 100 MB snapshot's dirty pages are flushed by whatever fsync comes first, and on ext4
/// (data=ordered) that is the log's: every write waiting on it stalls.
const SYNC_EVERY_BYTES: u64 = 8 << 20;

/// Writes a new file in aligned windows; [`DirectWriter::finish`] writes the rest.
pub(crate) struct DirectWriter {
    file: File,
    direct: bool,
    /// Holds the window at `start`, aligned to [`ALIGN`].
    buffer: Vec<u8>,
    start: usize,
    /// Bytes of the window filled.
    filled: usize,
    /// Bytes handed to the file so far.
    written: u64,
}

impl DirectWriter {
    /// Creates (or truncates) `path`, direct if the filesystem supports it (tmpfs, for
    /// one, does not: then the page cache is used).
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let (file, direct) = open_preferring_direct(path, &options)?;
        let (buffer, start, direct) = aligned_window(direct);
        Ok(Self {
            file,
            direct,
            buffer,
            start,
            filled: 0,
            written: 0,
        })
    }

    /// Whether writes bypass the page cache.
    #[cfg(test)]
    pub(crate) fn is_direct(&self) -> bool {
        self.direct
    }

    /// Writes what is buffered, padded with zeros to a whole block when direct, and
    /// trims the file back to the bytes given; returns the file, not yet synced.
    pub(crate) fn finish(mut self) -> io::Result<File> {
        let length = self.written + self.filled as u64;
        let padded = if self.direct {
            self.filled.div_ceil(ALIGN) * ALIGN
        } else {
            self.filled
        };
        let filled = self.filled;
        self.window_mut()[filled..padded].fill(0);
        self.write_window(padded)?;
        if padded != self.filled {
            self.file.set_len(length)?;
        }
        Ok(self.file)
    }

    fn window_mut(&mut self) -> &mut [u8] {
        &mut self.buffer[self.start..self.start + WINDOW]
    }

    /// Writes the first `len` bytes of the window and empties it.
    fn write_window(&mut self, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let before = self.written;
        self.file
            .write_all(&self.buffer[self.start..self.start + len])?;
        self.written += len as u64;
        self.filled = 0;
        if !self.direct && self.written / SYNC_EVERY_BYTES > before / SYNC_EVERY_BYTES {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

impl Write for DirectWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(WINDOW - self.filled);
        let filled = self.filled;
        self.window_mut()[filled..filled + n].copy_from_slice(&buf[..n]);
        self.filled += n;
        if self.filled == WINDOW {
            self.write_window(WINDOW)?;
        }
        Ok(n)
    }

    /// Keeps the bytes short of a window: a direct write must be whole blocks, and
    /// [`DirectWriter::finish`] writes them.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Appends to a file in place, around the page cache where the filesystem allows it. A
/// direct write must cover whole blocks, so the partial block at the end is kept in
/// memory and written again, with what follows it, by the next append; past the end the
/// last block is padded with zeros (which a reader of the file takes for its end).
pub(crate) struct DirectAppender {
    file: File,
    direct: bool,
    /// Where the data ends: the next append goes here.
    end: u64,
    /// The bytes of the partial block the data ends in (`end % ALIGN` of them).
    tail: Vec<u8>,
    /// Holds one write at `start`, aligned to [`ALIGN`].
    scratch: Vec<u8>,
    start: usize,
}

impl DirectAppender {
    /// Opens `path` (a file whose data ends at `end`) for appending.
    pub(crate) fn open(path: &Path, end: u64) -> io::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true);
        let (file, direct) = open_preferring_direct(path, &options)?;
        let (scratch, start, direct) = aligned_window(direct);
        let partial = (end % ALIGN as u64) as usize;
        let mut tail = Vec::with_capacity(ALIGN);
        tail.resize(partial, 0);
        File::open(path)?.read_exact_at(&mut tail, end - partial as u64)?;
        Ok(Self {
            file,
            direct,
            end,
            tail,
            scratch,
            start,
        })
    }

    /// Creates `path`, which must not exist, empty, for appending.
    pub(crate) fn create_new(path: &Path) -> io::Result<Self> {
        // Created first and opened direct after: a filesystem that refuses O_DIRECT may
        // do so only once it has created the file.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        Self::open(path, 0)
    }

    /// The file, to sync or size it: every append is already written to it.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Where the data ends.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Writes `bytes` at the end. Direct, the last block is written whole: a file not
    /// already extended past it grows to the block's end, zeros after the data.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.direct {
            self.file.write_all_at(bytes, self.end)?;
            self.end += bytes.len() as u64;
            return Ok(());
        }
        for chunk in bytes.chunks(WINDOW - ALIGN) {
            let partial = self.tail.len();
            let base = self.end - partial as u64;
            let filled = partial + chunk.len();
            let padded = filled.next_multiple_of(ALIGN);
            let window = &mut self.scratch[self.start..self.start + padded];
            window[..partial].copy_from_slice(&self.tail);
            window[partial..filled].copy_from_slice(chunk);
            window[filled..].fill(0);
            self.file.write_all_at(window, base)?;
            self.end += chunk.len() as u64;
            let kept = filled % ALIGN;
            self.tail.clear();
            self.tail.extend_from_slice(&window[filled - kept..filled]);
        }
        Ok(())
    }
}

/// Reads a file from its start, around the page cache where the filesystem allows it,
/// a window ahead on a thread of its own. A snapshot was written direct, so it is not in
/// the cache: read through it, its pages are first allocated and filled there and then
/// copied out. On the virtual machines Paddock is measured on, that copy into fresh cache
/// pages was a quarter of the first restart after a snapshot (`_copy_to_iter`, ~190 ms of
/// ~0.7 s for 140 MB). A direct read waits for the device, so the next window is read
/// while the caller decodes this one.
pub(crate) struct DirectReader {
    len: u64,
    windows: mpsc::Receiver<io::Result<Window>>,
    /// Consumed windows go back to the reading thread, which reads into them again.
    spent: mpsc::Sender<Window>,
    current: Option<Window>,
}

/// Windows read ahead of the one being consumed.
const WINDOWS_AHEAD: usize = 2;

/// One read's bytes: `buffer[start + pos..start + filled]` are still to be consumed.
struct Window {
    buffer: Vec<u8>,
    start: usize,
    pos: usize,
    filled: usize,
}

impl DirectReader {
    /// Opens `path`, direct if the filesystem supports it, and starts reading it.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        let (file, direct) = open_preferring_direct(path, &options)?;
        let len = file.metadata()?.len();
        let (windows_tx, windows) = mpsc::sync_channel(WINDOWS_AHEAD);
        let (spent, spent_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || read_ahead(&file, direct, &windows_tx, &spent_rx))?;
        Ok(Self {
            len,
            windows,
            spent,
            current: None,
        })
    }

    /// The file's length in bytes.
    pub(crate) fn file_len(&self) -> u64 {
        self.len
    }
}

impl Read for DirectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(window) = &mut self.current {
                if window.pos < window.filled {
                    let n = (window.filled - window.pos).min(out.len());
                    let from = window.start + window.pos;
                    out[..n].copy_from_slice(&window.buffer[from..from + n]);
                    window.pos += n;
                    return Ok(n);
                }
                if let Some(spent) = self.current.take() {
                    let _ = self.spent.send(spent);
                }
            }
            match self.windows.recv() {
                Ok(window) => self.current = Some(window?),
                // The reading thread is done: the file ended.
                Err(_) => return Ok(0),
            }
        }
    }
}

/// Reads `file` window by window until it ends, the reader goes or a read fails.
fn read_ahead(
    file: &File,
    direct: bool,
    windows: &mpsc::SyncSender<io::Result<Window>>,
    spent: &mpsc::Receiver<Window>,
) {
    let mut offset = 0;
    loop {
        let mut window = spent.try_recv().unwrap_or_else(|_| {
            let (buffer, start, _) = aligned_window(direct);
            Window {
                buffer,
                start,
                pos: 0,
                filled: 0,
            }
        });
        match read_window(file, &mut window, offset) {
            Ok(0) => return,
            Ok(read) => {
                offset += read as u64;
                if windows.send(Ok(window)).is_err() {
                    return;
                }
            }
            Err(error) => {
                let _ = windows.send(Err(error));
                return;
            }
        }
    }
}

/// Reads the window at `offset`; returns the bytes it adds (0 at the end). A direct read
/// must start on a block, so one that follows a short read starts on the block before
/// and skips what was already read.
fn read_window(file: &File, window: &mut Window, offset: u64) -> io::Result<usize> {
    let aligned = offset - offset % ALIGN as u64;
    let skip = (offset - aligned) as usize;
    let buffer = &mut window.buffer[window.start..window.start + WINDOW];
    let read = loop {
        match file.read_at(buffer, aligned) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            result => break result?,
        }
    };
    window.filled = read.max(skip);
    window.pos = skip;
    Ok(window.filled - skip)
}

/// Opens `path` with `options`, direct where the filesystem allows; says whether it is.
fn open_preferring_direct(path: &Path, options: &std::fs::OpenOptions) -> io::Result<(File, bool)> {
    match open_direct(path, options.clone()) {
        Ok(file) => Ok((file, true)),
        Err(error) if error.kind() == io::ErrorKind::InvalidInput => {
            Ok((options.open(path)?, false))
        }
        Err(error) => Err(error),
    }
}

/// A zeroed buffer of a window and a block, where the window starts in it, and whether
/// writes from it can stay `direct`: `align_offset` may decline to compute (never for
/// bytes on Linux in practice), and unaligned, direct writes would fail, so then the
/// page cache is used instead.
fn aligned_window(direct: bool) -> (Vec<u8>, usize, bool) {
    let buffer = vec![0; WINDOW + ALIGN];
    let start = buffer.as_ptr().align_offset(ALIGN);
    if start < ALIGN {
        (buffer, start, direct)
    } else {
        (buffer, 0, false)
    }
}

#[cfg(target_os = "linux")]
fn open_direct(path: &Path, mut options: std::fs::OpenOptions) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(libc::O_DIRECT).open(path)
}

/// Elsewhere files go through the page cache.
#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path, _options: std::fs::OpenOptions) -> io::Result<File> {
    Err(io::ErrorKind::InvalidInput.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn written(sizes: &[usize]) -> (Vec<u8>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut writer = DirectWriter::create(&path).unwrap();
        let mut expected = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let chunk: Vec<u8> = (0..*size).map(|j| (i * 31 + j) as u8).collect();
            writer.write_all(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
        }
        writer.finish().unwrap().sync_all().unwrap();
        let mut read = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut read).unwrap();
        (expected, read)
    }

    #[test]
    fn what_is_read_back_is_exactly_what_was_written() {
        for sizes in [
            vec![],
            vec![1],
            vec![ALIGN],
            vec![WINDOW],
            vec![WINDOW + 1],
            vec![3, WINDOW - 2, 7000, 2 * WINDOW + 5, 64 << 10],
        ] {
            let (expected, read) = written(&sizes);
            assert_eq!(read.len(), expected.len(), "{sizes:?}");
            assert!(read == expected, "{sizes:?}");
        }
    }

    #[test]
    fn appends_read_back_exactly_across_blocks_windows_and_a_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut appender = DirectAppender::create_new(&path).unwrap();
        // Extended ahead of the data, as the log's segments are.
        appender.file().set_len(8 << 20).unwrap();
        let mut expected = Vec::new();
        let sizes = [
            1,
            7,
            ALIGN - 8,
            ALIGN,
            3 * ALIGN + 1,
            WINDOW + 5,
            100,
            2 * WINDOW,
        ];
        for (i, size) in sizes.iter().enumerate() {
            if i == 4 {
                // Reopened mid-block: the partial block is read back and kept.
                let end = appender.end();
                drop(appender);
                appender = DirectAppender::open(&path, end).unwrap();
            }
            let chunk: Vec<u8> = (0..*size).map(|j| (i * 31 + j + 1) as u8).collect();
            appender.append(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
            assert_eq!(appender.end(), expected.len() as u64);
        }
        appender.file().sync_all().unwrap();
        let read = std::fs::read(&path).unwrap();
        assert!(read[..expected.len()] == expected[..]);
        assert!(read[expected.len()..].iter().all(|b| *b == 0));
    }

    #[test]
    fn a_file_reads_back_whole_in_reads_of_any_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Windows and blocks, and a partial block at the end.
        let written: Vec<u8> = (0..2 * WINDOW + 3 * ALIGN + 123)
            .map(|i| (i * 7 + i / 4099) as u8)
            .collect();
        std::fs::write(&path, &written).unwrap();
        for chunk in [1, 100, ALIGN - 1, ALIGN, WINDOW + 17] {
            let mut reader = DirectReader::open(&path).unwrap();
            assert_eq!(reader.file_len(), written.len() as u64);
            let mut read = Vec::new();
            let mut buf = vec![0; chunk];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                read.extend_from_slice(&buf[..n]);
            }
            assert!(read == written, "reads of {chunk} bytes");
        }
        // A short read ends off a block: the next starts on the block before.
        let file = File::open(&path).unwrap();
        let (buffer, start, _) = aligned_window(true);
        let mut window = Window {
            buffer,
            start,
            pos: 0,
            filled: 0,
        };
        let read = read_window(&file, &mut window, 1000).unwrap();
        assert_eq!(read, WINDOW - 1000);
        assert!(window.buffer[start + window.pos..start + window.filled] == written[1000..WINDOW]);
    }

    #[test]
    fn creating_an_existing_file_to_append_to_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"kept").unwrap();
        assert!(DirectAppender::create_new(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
    }

    #[test]
    fn a_file_in_a_temporary_directory_is_written_directly_where_the_filesystem_allows() {
        let dir = tempfile::tempdir().unwrap();
        let writer = DirectWriter::create(&dir.path().join("f")).unwrap();
        // tmpfs refuses O_DIRECT: then the page cache is used, and that is all right.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true);
        let fs_refuses = open_direct(&dir.path().join("g"), options).is_err();
        assert_eq!(writer.is_direct(), !fs_refuses);
    }
}
