//! Length-prefixed framing for the client port.
//!
//! Every message after the first four bytes is a big-endian `i32` length followed by
//! that many bytes. The first four bytes of a connection may instead spell a
//! [`FourLetterWord`]; [`FrameCodec`] recognises those only at the start.

use bytes::{Buf, BufMut, BytesMut};

use crate::error::DecodeError;
use crate::four_letter::FourLetterWord;

/// ZooKeeper's default `jute.maxbuffer`: 1 MiB - 1. A frame longer than this is refused.
pub const FRAME_LEN_MAX_DEFAULT: usize = 0xfffff;

/// Size of a frame's length prefix.
pub const FRAME_PREFIX_LEN: usize = 4;

/// One unit read from a client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A four-letter word sent in place of the first length prefix.
    FourLetterWord(FourLetterWord),
    /// One frame's payload (without its length prefix).
    Packet(BytesMut),
}

/// Decodes frames (and a leading four-letter word) and encodes payloads with their
/// length prefix.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    frame_len_max: usize,
    at_start: bool,
}

impl FrameCodec {
    /// A codec for a new connection that refuses frames longer than `frame_len_max`.
    pub fn new(frame_len_max: usize) -> Self {
        Self {
            frame_len_max,
            at_start: true,
        }
    }

    /// A codec for the client side of a connection: no four-letter words expected.
    pub fn client(frame_len_max: usize) -> Self {
        Self {
            frame_len_max,
            at_start: false,
        }
    }

    /// The largest payload this codec accepts.
    pub fn frame_len_max(&self) -> usize {
        self.frame_len_max
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(FRAME_LEN_MAX_DEFAULT)
    }
}

impl FrameCodec {
    /// Takes the next whole frame (or leading four-letter word) off the front of `src`;
    /// `None` until enough bytes have arrived.
    pub fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if src.len() < FRAME_PREFIX_LEN {
            return Ok(None);
        }
        let prefix = [src[0], src[1], src[2], src[3]];
        if std::mem::take(&mut self.at_start)
            && let Some(word) = FourLetterWord::from_bytes(prefix)
        {
            src.advance(FRAME_PREFIX_LEN);
            return Ok(Some(Frame::FourLetterWord(word)));
        }
        let len = i32::from_be_bytes(prefix);
        let Some(len) = usize::try_from(len)
            .ok()
            .filter(|len| *len <= self.frame_len_max)
        else {
            return Err(DecodeError::FrameTooLong {
                len: i64::from(len),
                max: self.frame_len_max,
            });
        };
        if src.len() < FRAME_PREFIX_LEN + len {
            src.reserve(FRAME_PREFIX_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(FRAME_PREFIX_LEN);
        Ok(Some(Frame::Packet(src.split_to(len))))
    }

    /// Appends `payload` with its length prefix to `dst`.
    pub fn encode_frame(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = i32::try_from(payload.len()).map_err(|_| FrameError::Oversized(payload.len()))?;
        dst.reserve(FRAME_PREFIX_LEN + payload.len());
        dst.put_i32(len);
        dst.put_slice(payload);
        Ok(())
    }
}

#[cfg(feature = "codec")]
impl tokio_util::codec::Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        Ok(self.decode_frame(src)?)
    }
}

#[cfg(feature = "codec")]
impl<T: AsRef<[u8]>> tokio_util::codec::Encoder<T> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_frame(payload.as_ref(), dst)
    }
}

/// Why a connection's byte stream cannot be framed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream violates the framing (e.g. a length over the limit).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An outgoing payload too large for an i32 length prefix.
    #[error("payload of {0} bytes is too large to frame")]
    Oversized(usize),
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Prepends the length prefix to an already-encoded payload held in `buf`, whose first
/// [`FRAME_PREFIX_LEN`] bytes were reserved for it. Lets replies be encoded once, in
/// place, without a second copy.
pub fn finish_frame(buf: &mut [u8]) {
    assert!(
        buf.len() >= FRAME_PREFIX_LEN,
        "frame buffer lacks its prefix"
    );
    let len = crate::writer::len_i32(buf.len() - FRAME_PREFIX_LEN);
    buf[..FRAME_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
}
