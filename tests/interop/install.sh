#!/usr/bin/env bash
# Installs what tests/interop/run.sh needs on a fresh Debian 12 machine, all from Debian
# packages: Apache ZooKeeper 3.8 (server for --target zookeeper, zkCli.sh, the Java
# client), the C client's cli_mt, kazoo for /usr/bin/python3, Curator 5.4 and the jars
# the Java scenarios load, a JDK with javac, and iproute2 (paddock-chaos uses `ip netns`). Does nothing when everything is there;
# otherwise runs apt-get update once and apt-get install -y.
set -euo pipefail

packages=(
    zookeeper                  # zkCli.sh, QuorumPeerMain (the reference server)
    zookeeper-bin              # cli_mt (the C client's shell)
    libzookeeper-java          # zookeeper.jar, zookeeper-jute.jar (client 3.8)
    python3-kazoo              # kazoo for /usr/bin/python3
    libcurator-client-java
    libcurator-framework-java
    libcurator-recipes-java
    libcurator-discovery-java  # curator-x-discovery
    libguava-java
    libslf4j-java              # slf4j-api, slf4j-simple, slf4j-log4j12
    liblog4j1.2-java           # the reference server's log output
    libjackson2-core-java
    libjackson2-databind-java
    libjackson2-annotations-java
    libnetty-java
    libcommons-io-java
    iproute2                   # `ip netns` for paddock-chaos's real partitions between processes
    gdb                        # paddock-chaos: thread stacks of a failed run's nodes, for the post-mortem
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)) && command -v javac >/dev/null; then
    echo "interop clients: all installed"
    exit 0
fi

sudo=()
((EUID == 0)) || sudo=(sudo)
"${sudo[@]}" apt-get update
if ! command -v javac >/dev/null; then
    if apt-cache policy default-jdk-headless | grep -q 'Candidate: [0-9]'; then
        missing+=(default-jdk-headless)
    else
        missing+=(openjdk-17-jdk-headless)
    fi
fi
echo "interop clients: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
command -v javac >/dev/null || { echo "install.sh: javac still missing" >&2; exit 1; }
