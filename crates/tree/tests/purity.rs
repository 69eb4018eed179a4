//! The functional core stays pure: paddock-tree must never depend (even transitively) on
//! an async runtime, storage, consensus or protobuf; paddock-jute may use tokio-util's
//! codec traits but never a tokio runtime. Read from `cargo tree`, built for each crate
//! alone (as `cargo build -p` resolves features), so a new dependency fails here.

#![allow(clippy::unwrap_used)]

use std::process::Command;

/// `(name, features)` of every normal dependency of `package`, transitively.
fn dependencies(package: &str) -> Vec<(String, String)> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree", "-p", package, "-e", "normal", "--prefix", "none", "-f", "{p}|{f}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (package, features) = line.split_once('|')?;
            let name = package.split_whitespace().next()?;
            Some((name.to_owned(), features.to_owned()))
        })
        .collect()
}

#[test]
fn tree_depends_on_no_runtime_storage_or_consensus() {
    for (name, _) in dependencies("paddock-tree") {
        assert!(
            ![
                "tokio",
                "tokio-util",
                "sled",
                "raft",
                "raft-proto",
                "prost",
                "protobuf"
            ]
            .contains(&name.as_str()),
            "paddock-tree depends on {name}"
        );
    }
}

#[test]
fn jute_depends_on_no_runtime() {
    for (name, features) in dependencies("paddock-jute") {
        assert!(
            ![
                "sled",
                "raft",
                "raft-proto",
                "prost",
                "protobuf",
                "paddock-tree"
            ]
            .contains(&name.as_str()),
            "paddock-jute depends on {name}"
        );
        if name == "tokio" {
            for feature in features.split(',') {
                assert!(
                    !["rt", "rt-multi-thread", "net", "full"].contains(&feature),
                    "tokio feature {feature}"
                );
            }
        }
    }
}
