//! Hostile and broken clients, spoken with raw frames: each offending connection gets
//! ZooKeeper's reaction (usually: the connection is closed, sometimes after a reply),
//! sessions survive their connection's misbehaviour, and an ordinary client on the same
//! ensemble keeps working after every case.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use paddock_integration_tests::*;
use paddock_jute::{
    AuthPacket, ConnectRequest, ConnectResponse, OpCode, PathRequest, Record, Request,
    SetDataRequest,
};
use paddock_testing::Ensemble;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zookeeper_client as zk;

/// maxClientCnxns 50 per address, and one second to complete a handshake.
async fn guarded_ensemble() -> Ensemble {
    init_tracing();
    Ensemble::builder()
        .nodes(3)
        .in_memory()
        .configure(|config| {
            config.connections_per_ip_max = 50;
            config.handshake_timeout = Duration::from_secs(1);
        })
        .start()
        .await
        .unwrap()
}

/// Re-attaches to a session on a fresh connection and proves it usable.
async fn reattach(addr: SocketAddr, session: &ConnectResponse) -> RawConn {
    let mut conn = RawConn::open(addr).await;
    let response = conn
        .reattach(session)
        .await
        .expect("re-attach refused by closing");
    assert_eq!(
        response.session_id, session.session_id,
        "session did not survive"
    );
    assert!(response.timeout_ms > 0);
    let reply = conn
        .call(1, Request::Exists(path_watch("/", false)))
        .await
        .unwrap();
    assert_eq!(reply.header.err, 0);
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_close_the_connection_only() {
    let ensemble = guarded_ensemble().await;
    let addr = ensemble.node(0).client_addr();
    let hosts = ensemble.connect_string();

    // Before the handshake: a negative length.
    let mut conn = RawConn::open(addr).await;
    conn.send_raw(&[0xab; 64]).await;
    conn.expect_closed(10).await;
    assert_serves(&hosts, "/after-garbage-1").await;

    // Before the handshake: a plausible length, then junk that is no ConnectRequest.
    let mut conn = RawConn::open(addr).await;
    conn.send_payload(b"\x01\x02\x03junk").await;
    conn.expect_closed(10).await;
    assert_serves(&hosts, "/after-garbage-2").await;

    // After the handshake: a frame whose body is junk. The session outlives it.
    let (mut conn, session) = RawConn::session(addr).await;
    conn.send_payload(&[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xfe, 0xfd])
        .await;
    conn.expect_closed(10).await;
    reattach(ensemble.node(1).client_addr(), &session).await;
    assert_serves(&hosts, "/after-garbage-3").await;

    // A request body cut short inside a valid frame (getData whose path runs past it).
    let (mut conn, session) = RawConn::session(addr).await;
    let mut payload = Vec::new();
    payload.extend_from_slice(&7i32.to_be_bytes());
    payload.extend_from_slice(&OpCode::GetData.code().to_be_bytes());
    payload.extend_from_slice(&1000i32.to_be_bytes());
    payload.extend_from_slice(b"/short");
    conn.send_payload(&payload).await;
    conn.expect_closed(10).await;
    reattach(addr, &session).await;
    assert_serves(&hosts, "/after-garbage-4").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frames_are_dropped() {
    let ensemble = guarded_ensemble().await;
    let addr = ensemble.node(1).client_addr();
    let hosts = ensemble.connect_string();

    // A ConnectRequest frame cut short, then the client half-closes.
    let mut conn = RawConn::open(addr).await;
    let mut connect = ConnectRequest {
        timeout_ms: 4_000,
        passwd: vec![0; 16],
        read_only: Some(false),
        ..Default::default()
    }
    .to_bytes();
    let mut framed = (connect.len() as u32).to_be_bytes().to_vec();
    framed.append(&mut connect);
    conn.send_raw(&framed[..20]).await;
    conn.stream.shutdown().await.unwrap();
    conn.expect_closed(10).await;
    assert_serves(&hosts, "/after-truncated-1").await;

    // A truncated request after the handshake: no reply, connection closed, session kept.
    let (mut conn, session) = RawConn::session(addr).await;
    let mut payload = Vec::new();
    paddock_jute::RequestPacket {
        xid: 1,
        request: Request::GetData(path_watch("/zookeeper", false)),
    }
    .write_to(&mut payload);
    let mut framed = (payload.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&payload[..payload.len() - 3]);
    conn.send_raw(&framed).await;
    conn.stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    within(10, conn.stream.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(
        rest.is_empty(),
        "a truncated request got an answer: {rest:?}"
    );
    reattach(addr, &session).await;
    assert_serves(&hosts, "/after-truncated-2").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_length_prefixes_are_refused_without_allocating() {
    let ensemble = guarded_ensemble().await;
    let addr = ensemble.node(2).client_addr();
    let hosts = ensemble.connect_string();
    for prefix in [0x8000_0000u32, 0x7fff_ffff, 0x0010_0000] {
        // As the first frame…
        let mut conn = RawConn::open(addr).await;
        conn.send_raw(&prefix.to_be_bytes()).await;
        conn.send_raw(&[0; 32]).await;
        conn.expect_closed(10).await;
        // …and after a handshake.
        let (mut conn, session) = RawConn::session(addr).await;
        conn.send_raw(&prefix.to_be_bytes()).await;
        conn.send_raw(&[0; 32]).await;
        conn.expect_closed(10).await;
        reattach(addr, &session).await;
    }
    assert_serves(&hosts, "/after-huge-length").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_over_jute_maxbuffer_drop_the_connection_not_the_session() {
    init_tracing();
    // Elections after 1 s instead of the fixture's 200 ms. Today paddock-raft's slog
    // drain formats every raft-rs record, entry payloads included (protobuf text
    // format), before tracing decides to drop it: in a debug build a 1 MiB entry stalls
    // each node's Ready loop for ~150 ms, enough for a follower to start an election and
    // the write to fail with ConnectionLoss. (Reported; crates/raft is not ours to fix.)
    let ensemble = Ensemble::builder()
        .nodes(3)
        .in_memory()
        .configure(|config| {
            config.connections_per_ip_max = 50;
            config.handshake_timeout = Duration::from_secs(1);
        })
        .tune_raft(|raft| raft.election_ticks = 40)
        .start()
        .await
        .unwrap();
    let addr = ensemble.node(0).client_addr();
    let hosts = ensemble.connect_string();
    let client = connect(&hosts).await;
    client.create("/big", b"", OPEN).await.unwrap();
    // 1 MiB - 1 KiB of data fits in a frame and must be accepted.
    let fits = vec![7u8; 1024 * 1024 - 1024];
    client.set_data("/big", &fits, None).await.unwrap();
    assert_eq!(client.get_data("/big").await.unwrap().0.len(), fits.len());

    // A whole frame over 1 MiB - 1: the connection goes, the session stays.
    let (mut conn, session) = RawConn::session(addr).await;
    conn.send(
        1,
        Request::SetData(SetDataRequest {
            path: "/big".into(),
            data: Some(vec![1u8; 1024 * 1024]),
            version: -1,
        }),
    )
    .await;
    conn.expect_closed(10).await;
    let mut conn = reattach(addr, &session).await;
    let reply = conn
        .call(2, Request::GetData(path_watch("/big", false)))
        .await
        .unwrap();
    assert!(
        matches!(reply.response, paddock_jute::Response::GetData { data: Some(data), .. } if data == fits),
        "the oversized write must not have been applied"
    );
    // The real client, whose connection was never involved, is unaffected.
    assert_eq!(client.get_data("/big").await.unwrap().0.len(), fits.len());
    assert_serves(&hosts, "/after-oversized").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_opcode_gets_unimplemented_then_close() {
    let ensemble = guarded_ensemble().await;
    let addr = ensemble.node(1).client_addr();
    let hosts = ensemble.connect_string();
    for opcode in [50i32, 0, 10, 13] {
        let (mut conn, session) = RawConn::session(addr).await;
        let mut payload = Vec::new();
        payload.extend_from_slice(&42i32.to_be_bytes());
        payload.extend_from_slice(&opcode.to_be_bytes());
        payload.extend_from_slice(&[0; 8]);
        conn.send_payload(&payload).await;
        let frame = conn
            .read_frame(10)
            .await
            .unwrap_or_else(|| panic!("opcode {opcode}: closed without a reply"));
        let header = paddock_jute::ReplyHeader::from_bytes(&frame).unwrap();
        assert_eq!(
            (header.xid, header.zxid, header.err),
            (42, -1, -6),
            "opcode {opcode}: Unimplemented"
        );
        conn.expect_closed(10).await;
        reattach(addr, &session).await;
    }
    assert_serves(&hosts, "/after-unknown-opcode").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_before_the_handshake_is_refused() {
    let ensemble = guarded_ensemble().await;
    let addr = ensemble.node(2).client_addr();
    let hosts = ensemble.connect_string();
    for request in [
        Request::Ping,
        Request::GetData(path_watch("/", false)),
        Request::Sync(PathRequest { path: "/".into() }),
    ] {
        let mut conn = RawConn::open(addr).await;
        conn.send(1, request).await;
        let mut answer = Vec::new();
        within(10, conn.stream.read_to_end(&mut answer))
            .await
            .unwrap_or_default();
        assert!(answer.is_empty(), "answered before a handshake: {answer:?}");
    }
    assert_serves(&hosts, "/after-early-request").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattach_with_a_wrong_password_is_refused_and_harms_nobody() {
    let ensemble = guarded_ensemble().await;
    let hosts = ensemble.connect_string();
    let victim = connect(&hosts).await;
    victim.create("/victim", b"", EPHEMERAL).await.unwrap();
    let id = victim.session_id().0;
    for index in 0..3 {
        for (session_id, password) in [
            (id, vec![0x5a; 16]),
            (id, Vec::new()),
            (0x7777, vec![1; 16]),
        ] {
            let mut conn = RawConn::open(ensemble.node(index).client_addr()).await;
            let refused = conn
                .handshake(&ConnectRequest {
                    timeout_ms: 4_000,
                    session_id,
                    passwd: password,
                    read_only: Some(false),
                    ..Default::default()
                })
                .await
                .expect("closed without a ConnectResponse");
            assert_eq!(
                (
                    refused.protocol_version,
                    refused.timeout_ms,
                    refused.session_id
                ),
                (0, 0, 0),
                "a bad re-attach looks expired"
            );
            assert_eq!(refused.passwd, vec![0; 16]);
            assert_eq!(refused.read_only, Some(false), "readOnly byte mirrored");
            conn.expect_closed(10).await;
        }
    }
    // The real session is intact and usable.
    assert_eq!(victim.session_id().0, id);
    let stat = victim.check_stat("/victim").await.unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, id);
    victim.set_data("/victim", b"fine", None).await.unwrap();
    assert_ne!(victim.state(), zk::SessionState::Expired);
    assert_serves(&hosts, "/after-wrong-password").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_auth_scheme_fails_and_closes_but_the_session_lives() {
    let ensemble = guarded_ensemble().await;
    let addr = ensemble.node(0).client_addr();
    let (mut conn, session) = RawConn::session(addr).await;
    let reply = conn
        .call(
            3,
            Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "kerberos-ish".into(),
                auth: b"whoever".to_vec(),
            }),
        )
        .await
        .expect("no AuthFailed reply");
    assert_eq!(reply.header.err, -115);
    conn.expect_closed(10).await;
    reattach(addr, &session).await;
    assert_serves(&ensemble.connect_string(), "/after-bad-auth").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_client_connections_per_address() {
    let ensemble = guarded_ensemble().await;
    let addr = ensemble.node(0).client_addr();
    let mut admitted = Vec::new();
    let mut refused = 0;
    for _ in 0..300 {
        let mut conn = RawConn::open(addr).await;
        match conn
            .handshake(&ConnectRequest {
                timeout_ms: 4_000,
                passwd: vec![0; 16],
                read_only: Some(false),
                ..Default::default()
            })
            .await
        {
            Some(response) => {
                assert_ne!(response.session_id, 0);
                admitted.push(conn);
            }
            None => refused += 1,
        }
    }
    assert_eq!(
        (admitted.len(), refused),
        (50, 250),
        "maxClientCnxns=50 admits exactly 50 from one address"
    );
    // The admitted connections work; the other servers are not affected.
    let reply = admitted[49]
        .call(1, Request::Exists(path_watch("/", false)))
        .await
        .unwrap();
    assert_eq!(reply.header.err, 0);
    let elsewhere = ensemble.node(1).client_addr().to_string();
    assert_serves(&elsewhere, "/while-full").await;
    // Once the hog lets go, the server admits clients again.
    drop(admitted);
    let node0 = addr.to_string();
    eventually(10, "node 0 admits clients again", || async {
        let mut conn = RawConn::open(addr).await;
        conn.handshake(&ConnectRequest {
            timeout_ms: 4_000,
            passwd: vec![0; 16],
            read_only: Some(false),
            ..Default::default()
        })
        .await
        .is_some()
    })
    .await;
    assert_serves(&node0, "/after-hog").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_handshakes_time_out() {
    let ensemble = guarded_ensemble().await;
    let addr = ensemble.node(1).client_addr();
    let hosts = ensemble.connect_string();

    // Silent: connects and never sends a byte.
    let started = Instant::now();
    let mut silent = RawConn::open(addr).await;
    silent.expect_closed(10).await;
    println!("silent connection closed after {:?}", started.elapsed());

    // Slow: a valid ConnectRequest, one byte every 100 ms (4.9 s in all, well past the
    // 1 s handshake timeout).
    let mut request = ConnectRequest {
        timeout_ms: 4_000,
        passwd: vec![0; 16],
        read_only: Some(false),
        ..Default::default()
    }
    .to_bytes();
    let mut framed = (request.len() as u32).to_be_bytes().to_vec();
    framed.append(&mut request);
    let conn = RawConn::open(addr).await;
    let (mut read, mut write) = conn.stream.into_split();
    let total = framed.len();
    let dribble = tokio::spawn(async move {
        let mut sent = 0;
        for byte in framed {
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sent
    });
    let mut answer = Vec::new();
    let _ = within(20, read.read_to_end(&mut answer)).await;
    let finished = dribble.is_finished();
    dribble.abort();
    assert!(
        answer.is_empty(),
        "the slow client got a session: {answer:?}"
    );
    assert!(
        !finished,
        "the server waited for all {total} bytes instead of timing the handshake out"
    );
    assert_serves(&hosts, "/after-slow").await;
    ensemble.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_letter_words() {
    let ensemble = guarded_ensemble().await;
    let hosts = ensemble.connect_string();
    let client = connect(&hosts).await;
    client.create("/counted", b"", OPEN).await.unwrap();
    let leader = ensemble.leader().unwrap();
    for index in 0..3 {
        let addr = ensemble.node(index).client_addr();
        assert_eq!(four_letter(addr, "ruok").await, "imok");
        assert_eq!(four_letter(addr, "isro").await, "rw");

        let srvr = four_letter(addr, "srvr").await;
        let fields: std::collections::HashMap<&str, &str> = srvr
            .lines()
            .filter_map(|line| line.split_once(": "))
            .collect();
        assert!(
            fields["Zookeeper version"].starts_with("3."),
            "version: {srvr}"
        );
        let mode = if index == leader {
            "leader"
        } else {
            "follower"
        };
        assert_eq!(fields["Mode"], mode, "{srvr}");
        let zxid = fields["Zxid"].strip_prefix("0x").unwrap();
        assert!(i64::from_str_radix(zxid, 16).unwrap() > 0);
        // / and its alias, /zookeeper, /zookeeper/quota, /zookeeper/config, /counted.
        client.sync("/").await.unwrap();
        let nodes: usize = fields["Node count"].parse().unwrap();
        assert!(nodes >= 6, "{srvr}");
        let (min, rest) = fields["Latency min/avg/max"].split_once('/').unwrap();
        let (avg, max) = rest.split_once('/').unwrap();
        min.parse::<u64>().unwrap();
        avg.parse::<f64>().unwrap();
        max.parse::<u64>().unwrap();
        for key in ["Received", "Sent", "Connections", "Outstanding"] {
            fields[key]
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{key}: {srvr}"));
        }

        let mntr = four_letter(addr, "mntr").await;
        let metrics: std::collections::HashMap<&str, &str> = mntr
            .lines()
            .map(|line| {
                line.split_once('\t')
                    .unwrap_or_else(|| panic!("not key\\tvalue: {line:?}"))
            })
            .collect();
        assert!(metrics.keys().all(|k| k.starts_with("zk_")));
        assert_eq!(metrics["zk_server_state"], mode);
        assert_eq!(
            mntr.lines().next().unwrap().split('\t').next(),
            Some("zk_version")
        );
        for key in [
            "zk_znode_count",
            "zk_num_alive_connections",
            "zk_watch_count",
            "zk_ephemerals_count",
            "zk_outstanding_requests",
            "zk_packets_received",
            "zk_packets_sent",
        ] {
            metrics[key]
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{key}: {mntr}"));
        }
        metrics["zk_avg_latency"].parse::<f64>().unwrap();
        if index == leader {
            assert_eq!(metrics["zk_followers"], "2");
        }
    }
    // A word is only a word in place of the first frame: "xxxx" is a 2 GB length.
    let mut conn = RawConn::open(ensemble.node(0).client_addr()).await;
    conn.send_raw(b"xxxx").await;
    let mut answer = Vec::new();
    within(10, conn.stream.read_to_end(&mut answer))
        .await
        .unwrap_or_default();
    assert!(answer.is_empty());
    // And after a handshake, "ruok" is just a bad frame.
    let (mut conn, _) = RawConn::session(ensemble.node(0).client_addr()).await;
    conn.send_raw(b"ruok").await;
    conn.expect_closed(10).await;
    assert_serves(&hosts, "/after-four-letter-words").await;
    ensemble.shutdown().await;
}
