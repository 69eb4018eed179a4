//! A minimal ZooKeeper client connection on paddock-jute: handshake, pipelined requests,
//! replies in order, notifications told apart. Enough to load any ZooKeeper server.

use std::time::Duration;

use anyhow::{Context, bail};
use futures::{FutureExt, StreamExt};
use paddock_jute::{
    ConnectRequest, ConnectResponse, Frame, FrameCodec, FrameError, Record, ReplyHeader, Request,
    RequestPacket, xid,
};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::FramedRead;

/// What arrived on a connection.
pub enum Incoming {
    /// A reply to request `xid`, with its result code.
    Reply { xid: i32, err: i32 },
    /// A watch notification.
    Notification,
}

/// One session over one TCP connection.
pub struct Conn {
    writer: BufWriter<OwnedWriteHalf>,
    frames: FramedRead<OwnedReadHalf, FrameCodec>,
    next_xid: i32,
    /// The session id the server gave.
    pub session_id: i64,
    scratch: Vec<u8>,
}

impl Conn {
    /// Connects and establishes a new session with `timeout`.
    pub async fn connect(host: &str, timeout: Duration) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(host))
            .await
            .context("connect timed out")?
            .with_context(|| format!("connecting to {host}"))?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        let mut conn = Conn {
            writer: BufWriter::with_capacity(64 * 1024, write),
            frames: FramedRead::new(read, FrameCodec::client(16 << 20)),
            next_xid: 1,
            session_id: 0,
            scratch: Vec::with_capacity(256),
        };
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: timeout.as_millis() as i32,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        conn.write_frame(|buf| request.write_to(buf)).await?;
        conn.flush().await?;
        let frame = tokio::time::timeout(Duration::from_secs(10), conn.frames.next())
            .await
            .context("handshake timed out")?
            .context("closed during handshake")??;
        let Frame::Packet(payload) = frame else {
            bail!("unexpected frame")
        };
        let response = ConnectResponse::from_bytes(&payload)?;
        if response.timeout_ms <= 0 {
            bail!("session refused");
        }
        conn.session_id = response.session_id;
        Ok(conn)
    }

    async fn write_frame(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> anyhow::Result<()> {
        self.scratch.clear();
        self.scratch.extend_from_slice(&[0; 4]);
        encode(&mut self.scratch);
        paddock_jute::codec::finish_frame(&mut self.scratch);
        self.writer.write_all(&self.scratch).await?;
        Ok(())
    }

    /// Buffers `request`; returns its xid. Call [`Conn::flush`] to send.
    pub async fn send(&mut self, request: Request) -> anyhow::Result<i32> {
        let xid = if matches!(request, Request::Ping) {
            xid::PING
        } else {
            self.next_xid += 1;
            self.next_xid
        };
        let packet = RequestPacket { xid, request };
        self.write_frame(|buf| packet.write_to(buf)).await?;
        Ok(xid)
    }

    /// Sends everything buffered.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        self.writer.flush().await?;
        Ok(())
    }

    /// The next reply or notification.
    pub async fn recv(&mut self) -> anyhow::Result<Incoming> {
        let frame = self.frames.next().await;
        Self::incoming(frame)
    }

    /// The next reply or notification if one has already arrived, without waiting.
    pub fn recv_ready(&mut self) -> anyhow::Result<Option<Incoming>> {
        match self.frames.next().now_or_never() {
            Some(frame) => Self::incoming(frame).map(Some),
            None => Ok(None),
        }
    }

    fn incoming(frame: Option<Result<Frame, FrameError>>) -> anyhow::Result<Incoming> {
        let frame = frame.context("connection closed")??;
        let Frame::Packet(payload) = frame else {
            bail!("unexpected frame")
        };
        let header = ReplyHeader::from_bytes(&payload)?;
        if header.xid == xid::NOTIFICATION {
            return Ok(Incoming::Notification);
        }
        Ok(Incoming::Reply {
            xid: header.xid,
            err: header.err,
        })
    }

    /// Sends one request and waits for its reply, skipping notifications.
    pub async fn call(&mut self, request: Request) -> anyhow::Result<i32> {
        let xid = self.send(request).await?;
        self.flush().await?;
        loop {
            if let Incoming::Reply { xid: got, err, .. } = self.recv().await?
                && got == xid
            {
                return Ok(err);
            }
        }
    }

    /// Ends the session politely.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.call(Request::CloseSession).await?;
        Ok(())
    }
}
