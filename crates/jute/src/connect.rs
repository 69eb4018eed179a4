//! The session handshake: the first frame a client sends and the server's answer.

use bytes::BufMut;

use crate::error::DecodeError;
use crate::reader::Reader;
use crate::record::Record;
use crate::writer::JuteWrite;

/// The first frame of a client connection: a new session (id 0) or a reattach.
///
/// Clients since 3.4 append a `readOnly` byte; older ones don't. `read_only` is `None`
/// when the byte was absent so the server can mirror the form the client used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    /// Protocol version, 0 for every released client.
    pub protocol_version: i32,
    /// The last zxid the client has seen; a server behind it must refuse the client.
    pub last_zxid_seen: i64,
    /// Requested session timeout, ms.
    pub timeout_ms: i32,
    /// 0 for a new session, else the session to reattach.
    pub session_id: i64,
    /// The session password (empty or 16 zero bytes for a new session).
    pub passwd: Vec<u8>,
    /// The trailing readOnly flag, if the client sent it.
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_i32(self.protocol_version);
        buf.put_jute_i64(self.last_zxid_seen);
        buf.put_jute_i32(self.timeout_ms);
        buf.put_jute_i64(self.session_id);
        buf.put_jute_buffer(Some(&self.passwd));
        if let Some(read_only) = self.read_only {
            buf.put_jute_bool(read_only);
        }
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32("ConnectRequest.protocolVersion")?,
            last_zxid_seen: r.read_i64("ConnectRequest.lastZxidSeen")?,
            timeout_ms: r.read_i32("ConnectRequest.timeOut")?,
            session_id: r.read_i64("ConnectRequest.sessionId")?,
            passwd: r.read_buffer("ConnectRequest.passwd")?.unwrap_or_default(),
            read_only: if r.is_empty() {
                None
            } else {
                Some(r.read_bool("ConnectRequest.readOnly")?)
            },
        })
    }
}

/// The server's answer to a [`ConnectRequest`]. A timeout of 0 tells the client its
/// session is expired (or its password wrong).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    /// Protocol version, 0.
    pub protocol_version: i32,
    /// Negotiated session timeout, ms; 0 means the session is gone.
    pub timeout_ms: i32,
    /// The session id (new or reattached).
    pub session_id: i64,
    /// The session password the client must present to reattach.
    pub passwd: Vec<u8>,
    /// The trailing readOnly flag, present only if the client sent one.
    pub read_only: Option<bool>,
}

impl Record for ConnectResponse {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_i32(self.protocol_version);
        buf.put_jute_i32(self.timeout_ms);
        buf.put_jute_i64(self.session_id);
        buf.put_jute_buffer(Some(&self.passwd));
        if let Some(read_only) = self.read_only {
            buf.put_jute_bool(read_only);
        }
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32("ConnectResponse.protocolVersion")?,
            timeout_ms: r.read_i32("ConnectResponse.timeOut")?,
            session_id: r.read_i64("ConnectResponse.sessionId")?,
            passwd: r.read_buffer("ConnectResponse.passwd")?.unwrap_or_default(),
            read_only: if r.is_empty() {
                None
            } else {
                Some(r.read_bool("ConnectResponse.readOnly")?)
            },
        })
    }
}
