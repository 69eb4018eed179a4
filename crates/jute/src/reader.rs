//! Reading jute primitives from a byte slice.
//!
//! Jute is ZooKeeper's serialization: big-endian integers, a one-byte boolean, and
//! length-prefixed buffers, strings and vectors where a length of -1 means null.

use crate::error::DecodeError;

/// A cursor over one record's bytes. Every read checks the remaining length first, so a
/// truncated or hostile input yields a [`DecodeError`] and never a panic, and no length
/// prefix can make it allocate more than the input holds.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The unread bytes, consuming them.
    pub fn take_rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated {
                field,
                needed: n - self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    /// A jute `int`: four bytes, big-endian.
    pub fn read_i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take_array(field)?))
    }

    /// A jute `long`: eight bytes, big-endian.
    pub fn read_i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take_array(field)?))
    }

    /// A jute `boolean`: one byte, any non-zero value is true (as Java's readBoolean).
    pub fn read_bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        Ok(self.take(1, field)?[0] != 0)
    }

    /// A length prefix: `None` for -1 (null), an error for other negative values or for a
    /// length that exceeds what is left, scaled by the smallest encoded element size.
    fn read_len(
        &mut self,
        field: &'static str,
        min_element_len: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let len = self.read_i32(field)?;
        if len == -1 {
            return Ok(None);
        }
        let Ok(count) = usize::try_from(len) else {
            return Err(DecodeError::BadLength { field, len });
        };
        if count.saturating_mul(min_element_len) > self.bytes.len() {
            return Err(DecodeError::BadLength { field, len });
        }
        Ok(Some(count))
    }

    /// A jute `buffer`: `None` when the sender wrote null (length -1). Null and empty are
    /// different in ZooKeeper and must stay different.
    pub fn read_buffer(&mut self, field: &'static str) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.read_len(field, 1)? {
            None => Ok(None),
            Some(len) => Ok(Some(self.take(len, field)?.to_vec())),
        }
    }

    /// A jute `ustring`. A null string reads as empty: every field that carries one is a
    /// path or a name, and ZooKeeper rejects null and empty ones alike.
    pub fn read_string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        match self.read_len(field, 1)? {
            None => Ok(String::new()),
            Some(len) => {
                let raw = self.take(len, field)?;
                std::str::from_utf8(raw)
                    .map(str::to_owned)
                    .map_err(|_| DecodeError::BadUtf8 { field })
            }
        }
    }

    /// A jute `vector`; null reads as empty. `min_element_len` is the smallest encoding
    /// of one element, used to reject counts the input cannot possibly hold.
    pub fn read_vec<T>(
        &mut self,
        field: &'static str,
        min_element_len: usize,
        mut read_one: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let Some(count) = self.read_len(field, min_element_len.max(1))? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(read_one(self)?);
        }
        Ok(out)
    }

    /// A vector of strings; null reads as empty.
    pub fn read_strings(&mut self, field: &'static str) -> Result<Vec<String>, DecodeError> {
        self.read_vec(field, 4, |r| r.read_string(field))
    }
}
