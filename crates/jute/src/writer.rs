//! Writing jute primitives. Extends any [`BufMut`] (a `Vec<u8>` or a `BytesMut`).

use bytes::BufMut;

/// Jute encoding of primitives on top of [`BufMut`].
pub trait JuteWrite: BufMut {
    /// A jute `int`.
    fn put_jute_i32(&mut self, v: i32) {
        self.put_i32(v);
    }

    /// A jute `long`.
    fn put_jute_i64(&mut self, v: i64) {
        self.put_i64(v);
    }

    /// A jute `boolean`.
    fn put_jute_bool(&mut self, v: bool) {
        self.put_u8(u8::from(v));
    }

    /// A jute `buffer`; `None` is written as null (length -1).
    fn put_jute_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.put_i32(-1),
            Some(bytes) => {
                self.put_i32(len_i32(bytes.len()));
                self.put_slice(bytes);
            }
        }
    }

    /// A jute `ustring`.
    fn put_jute_string(&mut self, v: &str) {
        self.put_i32(len_i32(v.len()));
        self.put_slice(v.as_bytes());
    }

    /// A vector of strings.
    fn put_jute_strings<S: AsRef<str>>(&mut self, v: &[S]) {
        self.put_i32(len_i32(v.len()));
        for s in v {
            self.put_jute_string(s.as_ref());
        }
    }
}

impl<B: BufMut + ?Sized> JuteWrite for B {}

/// Lengths in jute are signed 32-bit. Everything this crate encodes is bounded by the
/// frame limit (well under 2 GiB), so a larger value is a caller bug, not an input error.
pub(crate) fn len_i32(len: usize) -> i32 {
    assert!(len <= i32::MAX as usize, "jute length {len} exceeds i32");
    len as i32
}
