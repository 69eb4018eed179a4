//! A large file written around the page cache (`O_DIRECT`) where the filesystem allows
//! it, for snapshots. On the virtual machines Paddock is measured on, copying data into
//! fresh page-cache pages costs the writing thread about 8 ms of CPU per MB (`dd` of
//! 1.5 GB: 12.4 s of system time buffered, 0.14 s direct): three servers' snapshots of a
//! tree of a few million znodes spent more CPU there than on serving, and halved the
//! write rate while they ran. Direct writes also leave no dirty pages behind for the
//! log's next fsync to wait on.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

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
        let (file, direct) = match open_direct(path) {
            Ok(file) => (file, true),
            Err(error) if error.kind() == io::ErrorKind::InvalidInput => {
                (File::create(path)?, false)
            }
            Err(error) => return Err(error),
        };
        let buffer = vec![0; WINDOW + ALIGN];
        let start = buffer.as_ptr().align_offset(ALIGN);
        // `align_offset` may decline to compute (never for bytes on Linux in practice);
        // unaligned, the writes would fail, so go through the page cache instead.
        let (start, direct) = if start < ALIGN {
            (start, direct)
        } else {
            (0, false)
        };
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

#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> io::Result<File> {
    use std::fs::OpenOptions;
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
}

/// Elsewhere files go through the page cache.
#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> io::Result<File> {
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
    fn a_file_in_a_temporary_directory_is_written_directly_where_the_filesystem_allows() {
        let dir = tempfile::tempdir().unwrap();
        let writer = DirectWriter::create(&dir.path().join("f")).unwrap();
        // tmpfs refuses O_DIRECT: then the page cache is used, and that is all right.
        let fs_refuses = open_direct(&dir.path().join("g")).is_err();
        assert_eq!(writer.is_direct(), !fs_refuses);
    }
}
