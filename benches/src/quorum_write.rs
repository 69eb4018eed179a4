//! The least a replicated write can cost on this machine: the messages and fsyncs of a
//! three-replica quorum commit and nothing else — no consensus state, no tree, no
//! protocol. A client thread sends 100 bytes to a leader, the leader forwards them to two
//! followers and appends them to its own file with an fdatasync, each follower appends and
//! syncs before it acknowledges, and the leader answers the client once it and one
//! follower are durable. Every replica is its own thread blocked on its own socket, as the
//! servers of a three-node cluster on one machine are, so the probe pays the same
//! wake-ups and the same three concurrent fsyncs on one disk that a server's write does;
//! the fsync-plus-round-trip floor, measured inside one thread, pays neither.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Bytes of one write, as the benchmark's values.
const WRITE: usize = 100;
/// Bytes of an acknowledgement (a follower's) or an answer (the leader's).
const ACK: usize = 8;
/// Unmeasured writes before the samples, so files and connections are warm.
const WARMUP: usize = 50;

/// Runs `rounds` measured writes through a leader and two followers whose files live in
/// `dir`; one sample per write, from the client's send to its answer.
pub fn samples(dir: &Path, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let paths: Vec<PathBuf> = (0..3)
        .map(|i| dir.join(format!("paddock-bench-replica-{}-{i}", std::process::id())))
        .collect();
    let result = run(&paths, rounds);
    for path in &paths {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn run(paths: &[PathBuf], rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let [leader_file, first_file, second_file] = [
        create_padded(&paths[0])?,
        create_padded(&paths[1])?,
        create_padded(&paths[2])?,
    ];
    // Every connection is made here, so no thread waits in accept for a peer that failed.
    let (client_end, leader_from_client) = connected_pair()?;
    let (leader_to_first, first_end) = connected_pair()?;
    let (leader_to_second, second_end) = connected_pair()?;
    std::thread::scope(|scope| {
        let followers = [(first_end, first_file), (second_end, second_file)]
            .map(|(socket, file)| scope.spawn(move || follower(socket, file)));
        let leader = scope.spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()?;
            runtime.block_on(leader(
                leader_from_client,
                [leader_to_first, leader_to_second],
                leader_file,
            ))
        });
        // The client hanging up ends the leader, whose links hanging up end the followers.
        let samples = client(client_end, WARMUP + rounds);
        let leader = leader
            .join()
            .map_err(|_| anyhow::anyhow!("leader panicked"))?;
        for follower in followers {
            follower
                .join()
                .map_err(|_| anyhow::anyhow!("follower panicked"))??;
        }
        leader?;
        let mut samples = samples?;
        samples.drain(..WARMUP.min(samples.len()));
        Ok(samples)
    })
}

/// Creates a file for appends that is already longer than they will make it (a hole that
/// reads as zeros), as ZooKeeper pads its log files and Paddock its log segments: a sync
/// after an append that grows a file must write the file's size too, a slower sync.
pub fn create_padded(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::File::create(path)?;
    file.set_len(PADDED_LEN)?;
    Ok(file)
}

/// The length [`create_padded`] gives a file: more than any probe appends.
const PADDED_LEN: u64 = 64 << 20;

/// Two ends of one loopback TCP connection, Nagle off on both.
fn connected_pair() -> anyhow::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let near = TcpStream::connect(listener.local_addr()?)?;
    let (far, _) = listener.accept()?;
    near.set_nodelay(true)?;
    far.set_nodelay(true)?;
    Ok((near, far))
}

/// Sends `total` writes one at a time and times each until its answer.
fn client(mut socket: TcpStream, total: usize) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(total);
    let mut answer = [0u8; ACK];
    for _ in 0..total {
        let start = Instant::now();
        socket.write_all(&[7u8; WRITE])?;
        socket.read_exact(&mut answer)?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// Appends and syncs every write it is sent, then acknowledges it, until the leader
/// hangs up. The leader answers on the first follower's acknowledgement, so after the
/// last write it may be gone before the second follower's: a failed acknowledgement is
/// the end, not an error.
fn follower(mut socket: TcpStream, mut file: std::fs::File) -> anyhow::Result<()> {
    let mut write = [0u8; WRITE];
    loop {
        if socket.read_exact(&mut write).is_err() {
            return Ok(());
        }
        file.write_all(&write)?;
        file.sync_data()?;
        if socket.write_all(&[1u8; ACK]).is_err() {
            return Ok(());
        }
    }
}

/// Forwards each write to both followers before syncing its own copy (as a Raft leader
/// may), and answers once its copy and the first follower's are durable. Acknowledgements
/// are read by tasks on this same thread, as a server's peer links are.
async fn leader(
    client: TcpStream,
    followers: [TcpStream; 2],
    mut file: std::fs::File,
) -> anyhow::Result<()> {
    let mut client = tokio_stream(client)?;
    let (acked, mut acks) = mpsc::unbounded_channel::<usize>();
    let mut links = Vec::with_capacity(followers.len());
    for (id, socket) in followers.into_iter().enumerate() {
        let (mut reader, writer) = tokio_stream(socket)?.into_split();
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut ack = [0u8; ACK];
            while reader.read_exact(&mut ack).await.is_ok() {
                if acked.send(id).is_err() {
                    return;
                }
            }
        });
        links.push(writer);
    }
    drop(acked);
    let mut durable = [0usize; 2];
    let mut write = [0u8; WRITE];
    let mut round = 0;
    while client.read_exact(&mut write).await.is_ok() {
        round += 1;
        for link in &mut links {
            link.write_all(&write).await?;
        }
        file.write_all(&write)?;
        file.sync_data()?;
        while durable.iter().all(|&count| count < round) {
            let Some(id) = acks.recv().await else {
                anyhow::bail!("both followers hung up");
            };
            durable[id] += 1;
        }
        client.write_all(&[1u8; ACK]).await?;
    }
    Ok(())
}

fn tokio_stream(socket: TcpStream) -> std::io::Result<tokio::net::TcpStream> {
    socket.set_nonblocking(true)?;
    tokio::net::TcpStream::from_std(socket)
}
