//! Three `paddock serve` processes started from zoo.cfg files that differ only in
//! dataDir/myid and clientPort (exactly as a ZooKeeper 3.8 ensemble is configured),
//! driven by a real ZooKeeper client; one is killed with SIGKILL and the rest carry on.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zookeeper_client as zk;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Cluster {
    children: Vec<Option<Child>>,
    client_ports: Vec<u16>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn write_configs(dir: &Path) -> (Vec<std::path::PathBuf>, Vec<u16>) {
    let peer: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let client: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut files = Vec::new();
    for (i, client_port) in client.iter().enumerate() {
        let data = dir.join(format!("zk{}", i + 1));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("myid"), format!("{}\n", i + 1)).unwrap();
        let mut cfg = format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n4lw.commands.whitelist=*\n",
            data.display(),
            client_port
        );
        for (j, (quorum, election)) in peer.iter().enumerate() {
            cfg.push_str(&format!("server.{}=127.0.0.1:{quorum}:{election}\n", j + 1));
        }
        let file = dir.join(format!("zoo{}.cfg", i + 1));
        std::fs::write(&file, cfg).unwrap();
        files.push(file);
    }
    (files, client)
}

fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn four_letter(port: u16, word: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.write_all(word.as_bytes());
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

/// The `zk_*_fsynctime` lines of a server's `mntr`, by name.
fn fsync_times(port: u16) -> std::collections::HashMap<String, f64> {
    let mntr = four_letter(port, "mntr");
    let times: std::collections::HashMap<String, f64> = mntr
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(key, _)| key.ends_with("_fsynctime"))
        .map(|(key, value)| (key.to_owned(), value.parse().unwrap()))
        .collect();
    assert_eq!(times.len(), 5, "{mntr}");
    times
}

fn wait_for_leader(cluster: &Cluster) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for (i, port) in cluster.client_ports.iter().enumerate() {
            if cluster.children[i].is_some() && four_letter(*port, "srvr").contains("Mode: leader")
            {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_serve_processes_form_a_cluster_from_zoo_cfg() {
    let dir = tempfile::tempdir().unwrap();
    let (files, client_ports) = write_configs(dir.path());
    let mut cluster = Cluster {
        children: files.iter().map(|f| Some(spawn(f))).collect(),
        client_ports,
    };
    let leader = wait_for_leader(&cluster);
    let connect: Vec<String> = cluster
        .client_ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    // Each server answers on its own client port.
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    for (i, host) in connect.iter().enumerate() {
        let client = zk::Client::connect(host).await.unwrap();
        client
            .create(&format!("/from-{i}"), b"x", &open)
            .await
            .unwrap();
    }
    let client = zk::Client::connect(&connect.join(",")).await.unwrap();
    for i in 0..3 {
        assert!(
            client
                .check_stat(&format!("/from-{i}"))
                .await
                .unwrap()
                .is_some()
        );
    }
    // Every server fsynced those writes and says how long that took, as ZooKeeper's
    // mntr does; srst starts the count again.
    for port in &cluster.client_ports {
        let fsync = fsync_times(*port);
        assert!(fsync["zk_cnt_fsynctime"] >= 3.0, "{fsync:?}");
        assert!(
            fsync["zk_min_fsynctime"] <= fsync["zk_avg_fsynctime"],
            "{fsync:?}"
        );
        assert!(
            fsync["zk_avg_fsynctime"] <= fsync["zk_max_fsynctime"] + 1.0,
            "{fsync:?}"
        );
        assert!(
            fsync["zk_sum_fsynctime"]
                <= (fsync["zk_max_fsynctime"] + 1.0) * fsync["zk_cnt_fsynctime"],
            "{fsync:?}"
        );
    }
    let port = cluster.client_ports[leader];
    let before = fsync_times(port)["zk_cnt_fsynctime"];
    assert_eq!(four_letter(port, "srst"), "Server stats reset.\n");
    assert!(fsync_times(port)["zk_cnt_fsynctime"] < before);
    // kill -9 the leader: the other two elect a new one and keep serving.
    if let Some(mut child) = cluster.children[leader].take() {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let new_leader = wait_for_leader(&cluster);
    assert_ne!(new_leader, leader);
    let survivor = format!("127.0.0.1:{}", cluster.client_ports[new_leader]);
    let client = zk::Client::connect(&survivor).await.unwrap();
    client.create("/after-kill", b"y", &open).await.unwrap();
    // The killed node restarts from its data directory and catches up.
    cluster.children[leader] = Some(spawn(&files[leader]));
    let restarted = zk::Client::connect(&format!("127.0.0.1:{}", cluster.client_ports[leader]))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        restarted.sync("/").await.unwrap();
        if restarted.check_stat("/after-kill").await.unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "restarted node did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SIGTERM stops a server gracefully.
    let mut child = cluster.children[new_leader].take().unwrap();
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "SIGTERM did not stop the server");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn check_config_reports_file_line_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.cfg");
    std::fs::write(&file, "dataDir=/tmp/x\nclientPort=2181\ntickTime=soon\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.cfg:3: tickTime:"), "{stderr}");
    let good = dir.path().join("good.cfg");
    std::fs::write(
        &good,
        "dataDir=/tmp/x\nclientPort=2181\nadmin.enableServer=false\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("admin.enableServer: ignored"), "{stdout}");
}
