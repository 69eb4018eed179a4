# shellcheck shell=bash
# A three-member ensemble of separate server processes (Paddock or Apache ZooKeeper 3.8)
# started from zoo.cfg files. Sourced by run.sh, which sets WORK, TARGET, HERE, REPO.
#
# After cluster_init (or cluster_load in another script): SERVER[1..3]="127.0.0.1:port",
# CONNECT="a,b,c". Each running member's PID is in $WORK/nodeN.pid, so any script that
# sources this file can kill and restart members, and run.sh stops exactly those PIDs.

ZK_SERVER_CP="/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
PADDOCK_BIN="${PADDOCK_BIN:-$REPO/target/release/paddock}"
declare -a CLIENT_PORTS SERVER

# Picks nine free ports and writes zoo1.cfg … zoo3.cfg, identical but for dataDir and
# clientPort, plus each dataDir's myid.
cluster_init() {
    local ports
    mapfile -t ports < <(/usr/bin/python3 "$HERE/zkutil.py" free-ports 9)
    local n servers=""
    for n in 1 2 3; do
        servers+="server.$n=127.0.0.1:${ports[$((3 + n - 1))]}:${ports[$((6 + n - 1))]}"$'\n'
        CLIENT_PORTS[n]=${ports[$((n - 1))]}
        SERVER[n]="127.0.0.1:${CLIENT_PORTS[n]}"
    done
    CONNECT="${SERVER[1]},${SERVER[2]},${SERVER[3]}"
    echo "$CONNECT" >"$WORK/connect"
    for n in 1 2 3; do
        mkdir -p "$WORK/node$n/data"
        echo "$n" >"$WORK/node$n/data/myid"
        cat >"$WORK/zoo$n.cfg" <<EOF
# Written by tests/interop/run.sh; the three files differ only in dataDir and clientPort.
tickTime=1000
initLimit=10
syncLimit=5
dataDir=$WORK/node$n/data
clientPort=${CLIENT_PORTS[n]}
clientPortAddress=127.0.0.1
forceSync=yes
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
extendedTypesEnabled=true
# Paddock reads this here; ZooKeeper reads it as a system property (node_start passes -D).
znode.container.checkIntervalMs=1000
${servers}
EOF
    done
}

# Reads SERVER/CONNECT back from $WORK (for scripts started by run.sh).
cluster_load() {
    CONNECT=$(cat "$WORK/connect")
    IFS=, read -r SERVER[1] SERVER[2] SERVER[3] <<<"$CONNECT"
}

# True while process PID exists and is not a zombie.
running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# PID of member N if it is running, else nothing. The PID must still be our server (its
# command line names our zooN.cfg), never some later process that reused the number.
node_pid() {
    local pid
    pid=$(cat "$WORK/node$1.pid" 2>/dev/null) || return 0
    if [[ -n $pid ]] && running "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$WORK/zoo$1.cfg"; then
        echo "$pid"
    fi
}

# Starts member N in the background, output to $WORK/nodeN.log.
node_start() {
    local n=$1 log="$WORK/node$1.log"
    echo "=== start $(date +%T.%3N)" >>"$log"
    if [[ $TARGET == paddock ]]; then
        NO_COLOR=1 "$PADDOCK_BIN" serve --config "$WORK/zoo$n.cfg" >>"$log" 2>&1 &
    else
        java -Xmx256m -XX:+UseSerialGC \
            -cp "$ZK_SERVER_CP" \
            -Dzookeeper.log.dir="$WORK/node$n" \
            -Dzookeeper.root.logger=INFO,CONSOLE \
            -Dzookeeper.jmx.log4j.disable=true \
            -Dznode.container.checkIntervalMs=1000 \
            org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/zoo$n.cfg" >>"$log" 2>&1 &
    fi
    echo $! >"$WORK/node$n.pid"
    # Not a job of this shell: no "Killed" notices when another script kills it.
    disown $!
}

# kill -9 member N and reap it.
node_kill() {
    local n=$1 pid
    pid=$(node_pid "$n")
    [[ -n $pid ]] || return 0
    kill -9 "$pid" 2>/dev/null || true
    while running "$pid"; do
        sleep 0.01
    done
    wait "$pid" 2>/dev/null || true
    rm -f "$WORK/node$n.pid"
}

# Stops member N gracefully (SIGTERM, then SIGKILL after 10 s).
node_stop() {
    local n=$1 i pid
    pid=$(node_pid "$n")
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        running "$pid" || break
        sleep 0.1
    done
    node_kill "$n"
}

# Restarts any member that is not running (after a scenario that killed one failed
# half-way) and waits for a leader.
cluster_heal() {
    local n
    for n in 1 2 3; do
        [[ -n $(node_pid "$n") ]] || node_start "$n"
    done
    cluster_wait_leader 60 >/dev/null
}

cluster_start() {
    local n
    for n in 1 2 3; do node_start "$n"; done
}

cluster_stop() {
    local n
    for n in 1 2 3; do node_stop "$n"; done
}

# Prints the member number (1..3) of the current leader once the ensemble has one
# leader and two followers.
cluster_wait_leader() {
    local timeout=${1:-60} index
    index=$(/usr/bin/python3 "$HERE/zkutil.py" wait-leader "$timeout" "$CONNECT") || return 1
    echo $((index + 1))
}

# Like cluster_wait_leader, for the members listed (numbers), e.g. the survivors of a kill.
members_wait_leader() {
    local timeout=$1 list="" n
    shift
    for n in "$@"; do list+="${list:+,}${SERVER[n]}"; done
    /usr/bin/python3 "$HERE/zkutil.py" wait-leader "$timeout" "$list" >/dev/null
}

# Builds target/release/paddock (cargo decides whether it is stale; a no-op when fresh).
paddock_build() {
    if ! command -v cargo >/dev/null; then
        [[ -x $PADDOCK_BIN ]] && return 0
        echo "no cargo and no $PADDOCK_BIN" >&2
        return 1
    fi
    (cd "$REPO" && cargo build --release -p paddock >&2)
}
