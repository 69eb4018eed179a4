//! Why a byte string is not a valid record.

use thiserror::Error;

/// A record or frame could not be decoded.
///
/// Decoding never panics and never allocates more than the input can justify; every way a
/// hostile or broken peer can get the bytes wrong ends up as one of these values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended inside a field. Inside a complete frame this means the frame is
    /// malformed; the frame decoder itself waits for more bytes instead of reporting this.
    #[error("record truncated: needed {needed} more bytes for {field}")]
    Truncated {
        /// What was being read.
        field: &'static str,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A length or count prefix is negative (other than the -1 that means null) or larger
    /// than the rest of the input.
    #[error("invalid length {len} for {field}")]
    BadLength {
        /// What was being read.
        field: &'static str,
        /// The length as sent.
        len: i32,
    },
    /// A string is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    BadUtf8 {
        /// What was being read.
        field: &'static str,
    },
    /// An opcode this protocol does not define (or that may not appear where it was sent).
    #[error("unknown or misplaced opcode {0}")]
    UnknownOpCode(i32),
    /// A multi request or response is malformed (bad header, mixed reads and writes, …).
    #[error("malformed multi: {0}")]
    BadMulti(&'static str),
    /// A frame's length prefix is negative or above the configured maximum.
    #[error("frame length {len} outside 0..={max}")]
    FrameTooLong {
        /// The length prefix as sent.
        len: i64,
        /// The configured maximum frame length.
        max: usize,
    },
    /// An enum field carries a value the protocol does not define.
    #[error("invalid value {value} for {field}")]
    BadValue {
        /// What was being read.
        field: &'static str,
        /// The value as sent.
        value: i32,
    },
}
