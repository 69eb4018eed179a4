#!/usr/bin/env bash
# Side-by-side benchmark of Paddock and Apache ZooKeeper 3.8 on this machine, in one run.
#
# Starts a three-node Paddock cluster (three `paddock serve` processes) and a three-node
# Apache ZooKeeper 3.8 cluster (Debian `zookeeper`) from zoo.cfg files that differ only in
# ports and directories (fsync on both), then runs every workload of paddock-bench
# against each, alternating A/B/A/B (each workload on both clusters back to back, the
# order swapped every repeat), and prints a Markdown table of medians with the ratio
# Paddock / ZooKeeper (the median of the pairs' ratios) and the servers' CPU time per
# write and read. Also measures: RSS after filling 1,000,000 znodes of 100 B
# (bytes per znode), data directory size, restart-to-serving time of one node holding
# them (median of three restarts), the write gap when the leader is killed with SIGKILL
# under load, and this machine's floors: fsync + loopback round trips for a write (and
# the same with the second of three concurrent fsyncs, what a three-replica commit on one
# disk waits for, and with the durable append of Paddock's log store in place of the bare
# fsync; and a quorum write's messages and fsyncs alone between a client, a leader and two
# followers, each a thread, which adds the wake-ups three servers on one machine pay), and
# one frame written on each of the watchers' connections (no server) for the fan-out,
# with the least time the CPU of that allows on this machine's cores. The single
# client connects to the leader on both systems, as those floors assume; the quorum-write
# floor is measured again right after each single-client pair, and each is set against it.
#
#   benches/compare.sh [--repeats N] [--quick] [--fill N] [--no-workloads]
#
# The fill, memory, disk and restart measurements start from fresh clusters (data
# directories emptied), so znodes left by the workloads do not count.
#
# Needs: Debian packages zookeeper (and a JRE; tests/interop/install.sh installs them),
# the Rust toolchain. Uses 127.0.0.1 only and stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."

repeats=3
workloads=1
fill=1000000
duration=10
watchers=10000
settle=20
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats) repeats=$2; shift 2 ;;
        --fill) fill=$2; shift 2 ;;
        --no-workloads) workloads=0; shift ;;
        --quick) repeats=1; fill=100000; duration=5; watchers=2000; settle=5; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ ! -f /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null; then
    echo "Apache ZooKeeper 3.8 is not installed: run tests/interop/install.sh (Debian packages) first" >&2
    exit 1
fi

cargo build --release -q -p paddock -p paddock-bench
PADDOCK=$PWD/target/release/paddock
BENCH=$PWD/target/release/paddock-bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d /tmp/paddock-compare.XXXXXX)
pids=()
cleanup() {
    local status=$? log
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    if [ "$status" != 0 ]; then
        # The servers' logs go with the work directory: show their ends first.
        for log in "$work"/*/log[123]; do
            [ -s "$log" ] && { echo "== $log" >&2; tail -n 30 "$log" >&2; }
        done
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# write_cluster NAME: three zoo.cfg files and data dirs under $work/NAME.
declare -A CLIENT_PORTS
write_cluster() {
    local name=$1 dir=$work/$1 servers="" i
    for i in 1 2 3; do servers+="server.$i=127.0.0.1:$(free_port):$(free_port)"$'\n'; done
    for i in 1 2 3; do
        local port; port=$(free_port)
        CLIENT_PORTS[$name,$i]=$port
        mkdir -p "$dir/data$i"
        echo "$i" > "$dir/data$i/myid"
        cat > "$dir/zoo$i.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/data$i
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
forceSync=yes
$servers
CFG
    done
}

declare -A PIDS
start_node() {
    local name=$1 i=$2 dir=$work/$1
    if [ "$name" = paddock ]; then
        # info: leader changes, snapshots and why a connection was closed; a handful of
        # lines a run.
        RUST_LOG=info "$PADDOCK" serve --config "$dir/zoo$i.cfg" >>"$dir/log$i" 2>&1 &
    else
        java -Xms64m -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar \
            -Dzookeeper.log.dir="$dir" -Dzookeeper.root.logger=WARN,CONSOLE -Dzookeeper.jmx.log4j.disable=true \
            org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo$i.cfg" >>"$dir/log$i" 2>&1 &
    fi
    PIDS[$name,$i]=$!
    pids+=("$!")
}

srvr() { python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2); s.sendall(sys.argv[2].encode())
    out = b""
    while True:
        b = s.recv(65536)
        if not b: break
        out += b
    print(out.decode(errors="replace"))
except Exception:
    pass
PY
}
# status_of PORT: "mode zxid" (zxid in hex, no 0x) of the server on PORT, from its srvr
# answer as `paddock status` parses it (ZooKeeper's too); nothing while it is down or not
# serving. 3 ms a poll: a Python srvr call took ~140 ms, so the restart row, which polls
# the restarted node, moved by 0.1-0.2 s with it.
status_of() {
    "$PADDOCK" status --connect "127.0.0.1:$1" 2>/dev/null |
        awk 'NR == 2 && $2 ~ /^(leader|follower|standalone|observer)$/ {sub(/^0x/, "", $3); print $2, $3}'
}
mode_of() { status_of "$1" | cut -d' ' -f1; }
zxid_of() { status_of "$1" | cut -d' ' -f2; }

wait_leader() {
    local name=$1 deadline=$((SECONDS + 60)) i
    while [ $SECONDS -lt $deadline ]; do
        for i in 1 2 3; do
            [ "$(mode_of "${CLIENT_PORTS[$name,$i]}")" = leader ] && { echo "$i"; return 0; }
        done
        sleep 0.2
    done
    echo "no leader in $name" >&2; return 1
}

connect_string() { local name=$1; echo "127.0.0.1:${CLIENT_PORTS[$name,1]},127.0.0.1:${CLIENT_PORTS[$name,2]},127.0.0.1:${CLIENT_PORTS[$name,3]}"; }

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

for name in paddock zookeeper; do
    write_cluster "$name"
    for i in 1 2 3; do start_node "$name" "$i"; done
done
for name in paddock zookeeper; do wait_leader "$name" >/dev/null; done
echo "clusters up: paddock $(connect_string paddock); zookeeper $(connect_string zookeeper)" >&2

results=$work/results.tsv
: > "$results"
# per_server_sum NAME FILE PROGRAM: the sum over the three servers of NAME of what the awk
# PROGRAM prints for their /proc/PID/FILE.
per_server_sum() {
    local name=$1 file=$2 program=$3 i total=0
    for i in 1 2 3; do
        total=$((total + $(awk "$program" "/proc/${PIDS[$name,$i]}/$file" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
# cpu_ticks NAME: user + system clock ticks used so far by the three servers of NAME.
cpu_ticks() { per_server_sum "$1" stat '{print $14 + $15}'; }
# disk_bytes NAME: bytes the three servers of NAME have caused to be written to disk.
disk_bytes() { per_server_sum "$1" io '/^write_bytes/ {print $2}'; }
# fsync_reset NAME: zero the fsync summary (mntr's zk_*_fsynctime) of NAME's servers.
fsync_reset() { local i; for i in 1 2 3; do srvr "${CLIENT_PORTS[$1,$i]}" srst >/dev/null; done; }
# fsync_totals NAME: "sum_ms count" of NAME's servers' fsyncs since the last reset.
fsync_totals() {
    local i
    for i in 1 2 3; do srvr "${CLIENT_PORTS[$1,$i]}" mntr; done |
        awk -F'\t' '$1 == "zk_sum_fsynctime" {s += $2} $1 == "zk_cnt_fsynctime" {c += $2} END {print s + 0, c + 0}'
}
# run NAME LABEL REPEAT ARGS...: one paddock-bench run, appended as name, label, repeat,
# ops/s, p50 ms, p99 ms, fan-out ms, longest gap ms, the servers' CPU time per op in µs
# (user + system over the run's warm-up and measurement, all three servers), the share
# of the machine's CPU time the hypervisor stole meanwhile in percent, the servers'
# mean log fsync time in ms (as their mntr reports it), and the bytes they wrote to disk
# per op (all three servers). CONNECT, when set, replaces the three servers' connect string.
run() {
    local name=$1 label=$2 repeat=$3; shift 3
    local json before after stat_before stat_after written
    fsync_reset "$name"
    written=$(disk_bytes "$name")
    before=$(cpu_ticks "$name")
    stat_before=$(head -1 /proc/stat)
    json=$("$BENCH" --connect "${CONNECT:-$(connect_string "$name")}" --json --root "/bench-$label-$repeat" "$@" 2>/dev/null) || { echo "$name $label failed" >&2; return 0; }
    stat_after=$(head -1 /proc/stat)
    after=$(cpu_ticks "$name")
    written=$(($(disk_bytes "$name") - written))
    python3 - "$name" "$label" "$repeat" "$json" "$((after - before))" "$(getconf CLK_TCK)" "$warmup" "$stat_before" "$stat_after" "$(fsync_totals "$name")" "$written" >>"$results" <<'PY'
import json, sys
name, label, repeat, raw, ticks, hz, warmup, stat_before, stat_after, fsyncs, written = sys.argv[1:12]
fsync_sum, fsync_count = map(float, fsyncs.split())
fsync = fsync_sum / fsync_count if fsync_count else float("nan")
d = json.loads(raw)
ops = d["ops_per_sec"] * (d["seconds"] + float(warmup))
cpu = int(ticks) / int(hz) * 1e6 / ops if ops else 0
disk = int(written) / ops if ops else 0
# The "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal ...
spent = [b - a for a, b in zip(map(int, stat_before.split()[1:]), map(int, stat_after.split()[1:]))]
steal = 100.0 * spent[7] / sum(spent) if sum(spent) else 0
print("\t".join([name, label, repeat, "%.1f" % d["ops_per_sec"], "%.3f" % d["latency_ms"]["p50"], "%.3f" % d["latency_ms"]["p99"], "%.3f" % d.get("fanout_ms", 0), "%.0f" % d.get("max_gap_ms", 0), "%.1f" % cpu, "%.1f" % steal, "%.3f" % fsync, "%.0f" % disk]))
PY
    # Progress on stderr: which run just ended, and how it went.
    tail -1 "$results" | awk -F'\t' -v at="$(date +%T)" '{printf "%s %s %s #%s: %s ops/s, p99 %s ms, %s us CPU/op, %s B/op written\n", at, $1, $2, $3, $4, $6, $9, $12}' >&2
}

warmup=2
shape=(--clients 16 --inflight 16 --duration "$duration" --warmup "$warmup" --value-size 100)
# workload LABEL REPEAT NAME: one measured run of workload LABEL.
workload() {
    local label=$1 r=$2 name=$3
    case "$label" in
        create|ephemeral-churn) run "$name" "$label" "$r" "${shape[@]}" --workload "$label" ;;
        set|get|exists|mixed) run "$name" "$label" "$r" "${shape[@]}" --workload "$label" --znodes 10000 ;;
        # At the leader, as the floor assumes: from a follower both systems add a hop.
        single-create) CONNECT=127.0.0.1:${CLIENT_PORTS[$name,$(wait_leader "$name")]} \
            run "$name" "$label" "$r" --clients 1 --inflight 1 --duration "$duration" --warmup "$warmup" --workload create ;;
        connect) run "$name" "$label" "$r" --clients 4 --inflight 1 --duration "$duration" --warmup 1 --workload connect ;;
        watch-fanout) run "$name" "$label" "$r" --clients "$watchers" --workload watch-fanout ;;
    esac
}
[ "$workloads" = 1 ] || repeats=0
if [ "$repeats" -gt 0 ]; then
    # One unrecorded pass first, so ZooKeeper's JIT has compiled its hot paths (as in
    # any server that has run for a while) before anything is measured.
    for name in paddock zookeeper; do
        for label in create set get connect; do
            run "$name" warm-up-$label 0 --clients 16 --inflight 16 --duration 3 --warmup 1 --workload "$label" --znodes 1000
        done
    done
    : > "$results"
fi
# floor_probe ARGS...: this machine's floors as JSON (paddock-bench --workload floor, no
# server). Tried twice, as a probe can lose a connection race at its very end, rather than
# lose a run's table to it.
floor_probe() {
    "$BENCH" --connect x --workload floor --data-dir "$work" --json "$@" 2>/dev/null ||
        "$BENCH" --connect x --workload floor --data-dir "$work" --json "$@" 2>/dev/null
}
# single_floor REPEAT: the replicated-write floor (a quorum write's messages and fsyncs
# alone), measured right after the single-client pair of REPEAT so that each single-client
# latency is set against a floor taken on the same machine moments later (its steal changes
# by the minute).
single_floor() {
    local out
    out=$(floor_probe --clients 100) || { echo "replicated-write floor failed" >&2; return 0; }
    python3 -c 'import json, sys; print("floor\tsingle\t%s\t0\t%.3f\t0\t0\t0\t0\t0\tnan\t0" % (sys.argv[1], json.loads(sys.argv[2])["replicated_write_floor_ms"]))' "$1" "$out" >>"$results"
}
# Each workload runs on both clusters back to back, the order swapped every repeat, so
# the two runs of a pair see the same machine (this one's CPU steal changes by the
# minute); the ratio column is the median of the pairs' ratios.
for r in $(seq 1 "$repeats"); do
    order=(paddock zookeeper)
    [ $((r % 2)) = 0 ] && order=(zookeeper paddock)
    for label in create set get exists mixed single-create connect ephemeral-churn watch-fanout; do
        for name in "${order[@]}"; do workload "$label" "$r" "$name"; done
        if [ "$label" = single-create ]; then single_floor "$r"; fi
    done
    # The same delivery with no server at all, measured between the two so it sees the
    # same machine: one notification frame written on each of $watchers connections; and
    # the CPU that costs the sender and the receiver spread over every core, the least
    # time any server can take, however many threads it sends from.
    floor_probe --clients "$watchers" |
        python3 -c '
import json, sys
d = json.load(sys.stdin)
for label, key in (("fanout", "fanout_floor_ms"), ("fanout-cpu", "fanout_cpu_bound_ms")):
    print("floor\t%s\t%s\t0\t0\t0\t%.3f\t0\t0\t0\tnan\t0" % (label, sys.argv[1], d[key]))' "$r" >>"$results" ||
        echo "fan-out floor failed" >&2
done

# Elections in Paddock while the workloads ran (the first included): a leader that has not
# heard from a quorum for an election timeout steps down and every write in flight fails,
# so a stall of the host shows in the write rows; this says whether one happened.
paddock_log_count() {
    cat "$work"/paddock/log[123] | sed 's/\x1b\[[0-9;]*m//g' | grep -c "$1" || true
}
ELECTIONS=$(paddock_log_count 'leader changed.*role=Leader')
STEPDOWNS=$(paddock_log_count 'quorum is not active')
# Turns of a Ready loop that took half an election timeout or more (each logged with the
# phases that took the time): what a stall looks like before it costs an election.
LONG_TURNS=$(paddock_log_count 'one turn of the Ready loop took')
# Which phases took the time: the first few such lines, with the server and the moment.
if [ "$LONG_TURNS" -gt 0 ]; then
    echo "long turns of a Ready loop (first 8 of $LONG_TURNS):" >&2
    for i in 1 2 3; do sed 's/\x1b\[[0-9;]*m//g; s/^/node '"$i"': /' "$work/paddock/log$i"; done |
        grep 'one turn of the Ready loop took' | sort -k3 | head -8 >&2
fi

# fresh NAME: stops the cluster, empties its data directories (keeping myid), restarts it.
fresh() {
    local name=$1 i
    for i in 1 2 3; do kill -9 "${PIDS[$name,$i]}" 2>/dev/null || true; done
    for i in 1 2 3; do wait "${PIDS[$name,$i]}" 2>/dev/null || true; done
    for i in 1 2 3; do find "$work/$name/data$i" -mindepth 1 ! -name myid -delete; done
    for i in 1 2 3; do start_node "$name" "$i"; done
    wait_leader "$name" >/dev/null
    wait_serving "$name"
}

# wait_serving NAME: until every server of NAME reports a mode. A ZooKeeper follower still
# syncing with a new leader closes client connections during the handshake (a fill failed
# so at 2026-12-05 02:59, after the leader was up).
wait_serving() {
    local name=$1 deadline=$((SECONDS + 60)) i serving
    while [ $SECONDS -lt $deadline ]; do
        serving=0
        for i in 1 2 3; do
            [ -n "$(mode_of "${CLIENT_PORTS[$name,$i]}")" ] && serving=$((serving + 1))
        done
        [ "$serving" = 3 ] && return 0
        sleep 0.2
    done
    echo "not every server of $name serves" >&2; return 1
}

# Memory, disk and restart with $fill znodes, from fresh clusters.
declare -A RSS DISK RESTARTS GAP
for name in paddock zookeeper; do
    fresh "$name"
    "$BENCH" --connect "$(connect_string "$name")" --root /fill --workload fill --znodes "$fill" --clients 16 --inflight 32 --value-size 100 >/dev/null
    # Let both settle (snapshots, log compaction, garbage collection) before measuring
    # what a server holding these znodes costs at rest.
    sleep "$settle"
    total=0
    for i in 1 2 3; do total=$((total + $(rss_kb "${PIDS[$name,$i]}"))); done
    RSS[$name]=$((total / 3))
    DISK[$name]=$(du -sk "$work/$name/data1" | cut -f1)
    # Restart a follower three times (one sample moved by 0.1-0.2 s between runs); the
    # row gives the median.
    samples=()
    for attempt in 1 2 3; do
        leader=$(wait_leader "$name")
        victim=$(( leader % 3 + 1 ))
        kill -9 "${PIDS[$name,$victim]}"
        wait "${PIDS[$name,$victim]}" 2>/dev/null || true
        sleep 1
        target_zxid=$(zxid_of "${CLIENT_PORTS[$name,$leader]}")
        start=$(date +%s.%N)
        start_node "$name" "$victim"
        deadline=$((SECONDS + 300))
        while [ $SECONDS -lt $deadline ]; do
            z=$(zxid_of "${CLIENT_PORTS[$name,$victim]}")
            if [ -n "$z" ] && [ $((16#$z)) -ge $((16#$target_zxid)) ]; then break; fi
            sleep 0.01
        done
        # The clock is read here, by `date`: read inside the Python that did the
        # arithmetic it had included that interpreter's start (80-90 ms on this machine).
        end=$(date +%s.%N)
        samples+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')")
        sleep 2
    done
    RESTARTS[$name]=$(IFS=/; echo "${samples[*]}")
done

# Leader kill -9 under load: the longest gap without a successful write.
for name in paddock zookeeper; do
    leader=$(wait_leader "$name")
    out=$work/failover-$name.json
    "$BENCH" --connect "$(connect_string "$name")" --root /failover --workload failover --clients 8 --duration 12 --json >"$out" 2>/dev/null &
    bench=$!
    sleep 5
    kill -9 "${PIDS[$name,$leader]}"
    wait "$bench" || true
    GAP[$name]=$(python3 -c "import json; print(int(json.load(open('$out'))['max_gap_ms']))" 2>/dev/null || echo NA)
    start_node "$name" "$leader"
done

floor=$(floor_probe)

python3 - "$results" "$floor" "$fill" <<'PY' "${RSS[paddock]}" "${RSS[zookeeper]}" "${DISK[paddock]}" "${DISK[zookeeper]}" "${RESTARTS[paddock]}" "${RESTARTS[zookeeper]}" "${GAP[paddock]}" "${GAP[zookeeper]}"
import json, statistics, sys
results, floor, fill = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
rss_p, rss_z, disk_p, disk_z, rs_all_p, rs_all_z, gap_p, gap_z = sys.argv[4:12]
# Restart samples "a/b/c" in seconds; the row gives their median.
rs_p, rs_z = (statistics.median(float(t) for t in v.split("/")) for v in (rs_all_p, rs_all_z))
rows = {}
for line in open(results):
    name, label, repeat, ops, p50, p99, fan, gap, cpu, steal, fsync, disk = line.rstrip("\n").split("\t")
    rows.setdefault((label, name), {})[repeat] = (float(ops), float(p50), float(p99), float(fan), float(cpu), float(steal), float(fsync), float(disk))
def med(label, name, i):
    v = [r[i] for r in rows.get((label, name), {}).values()]
    return statistics.median(v) if v else float("nan")
def ratio(a, b):
    return "%.2f" % (a / b) if b and b == b and a == a else "n/a"
def paired(label, i):
    """The median over repeats of Paddock's figure over ZooKeeper's from the same pair."""
    p, z = rows.get((label, "paddock"), {}), rows.get((label, "zookeeper"), {})
    v = [p[r][i] / z[r][i] for r in p if r in z and z[r][i]]
    return "%.2f" % statistics.median(v) if v else "n/a"
print("| measurement | Paddock | ZooKeeper | Paddock / ZooKeeper |")
print("|---|---|---|---|")
for label in ["create", "set", "get", "exists", "mixed", "ephemeral-churn", "connect"]:
    p, z = med(label, "paddock", 0), med(label, "zookeeper", 0)
    print(f"| {label} ops/s (16 clients x 16 in flight) | {p:.0f} | {z:.0f} | {paired(label, 0)} |" if label != "connect" else f"| connect sessions/s (4 clients) | {p:.0f} | {z:.0f} | {paired(label, 0)} |")
for label in ["create", "set", "get", "mixed"]:
    p, z = med(label, "paddock", 2), med(label, "zookeeper", 2)
    print(f"| {label} p99 ms | {p:.2f} | {z:.2f} | {paired(label, 2)} |")
for label in ["create", "set", "get"]:
    p, z = med(label, "paddock", 4), med(label, "zookeeper", 4)
    print(f"| {label} server CPU per op, µs (three servers, user + system) | {p:.1f} | {z:.1f} | {paired(label, 4)} |")
for label in ["create", "set"]:
    p, z = med(label, "paddock", 7), med(label, "zookeeper", 7)
    print(f"| {label}: bytes written to disk per op (three servers, /proc/PID/io; includes snapshots) | {p:.0f} | {z:.0f} | {paired(label, 7)} |")
for label in ["create", "set"]:
    p, z = med(label, "paddock", 6), med(label, "zookeeper", 6)
    print(f"| {label}: mean log fsync during the runs, ms (three servers' mntr zk_*_fsynctime: Paddock times its whole log flush, write and fdatasync; ZooKeeper its fsync, each in whole ms rounded down) | {p:.3f} | {z:.3f} | |")
def stolen(name):
    """The median share of CPU time stolen by the hypervisor over NAME's measured runs."""
    v = [run[5] for (_, n), runs in rows.items() if n == name for run in runs.values()]
    return statistics.median(v) if v else float("nan")
p, z = stolen("paddock"), stolen("zookeeper")
print(f"| CPU time taken by the hypervisor (steal) during the runs, % (median) | {p:.1f} | {z:.1f} | |")
p, z = med("single-create", "paddock", 1), med("single-create", "zookeeper", 1)
print(f"| single client create at the leader, p50 ms (floor {floor['write_floor_ms']:.3f}: fsync {floor['fsync_ms']:.3f} + 2 x RTT {floor['loopback_rtt_ms']:.3f}; with two of three replicas' concurrent fsyncs on this disk {floor['quorum_fsync_ms']:.3f} for the fsync: {floor['quorum_write_floor_ms']:.3f}; with Paddock's log store append {floor['log_flush_ms']:.3f}: {floor['log_write_floor_ms']:.3f}) | {p:.3f} | {z:.3f} | {paired('single-create', 1)} |")
def over_floor(name):
    """The median over repeats of NAME's single-client p50 over the floor measured right after it."""
    s, f = rows.get(("single-create", name), {}), rows.get(("single", "floor"), {})
    v = [s[r][1] / f[r][1] for r in s if r in f and f[r][1]]
    return statistics.median(v) if v else float("nan")
r = med("single", "floor", 1)
print(f"| single client create at the leader over the replicated-write floor (median {r:.3f} ms: a quorum write's messages and fsyncs alone, client, leader and two followers each a thread; measured right after each single-client pair, median of the per-repeat ratios) | {over_floor('paddock'):.2f} | {over_floor('zookeeper'):.2f} | |")
p, z = med("watch-fanout", "paddock", 3), med("watch-fanout", "zookeeper", 3)
f, c = med("fanout", "floor", 3), med("fanout-cpu", "floor", 3)
print(f"| watch fan-out, all notifications delivered, ms (floor {f:.1f}: one frame written on each connection, no server; CPU bound {c:.1f} = {ratio(c, z)} of ZooKeeper: that floor's sender and receiver CPU spread over every core) | {p:.1f} | {z:.1f} | {paired('watch-fanout', 3)} |")
bp, bz = int(rss_p) * 1024 / fill, int(rss_z) * 1024 / fill
print(f"| RSS per server after {fill} znodes of 100 B, bytes/znode | {bp:.0f} | {bz:.0f} | {ratio(bp, bz)} |")
print(f"| data dir size of one server, MiB | {int(disk_p)/1024:.0f} | {int(disk_z)/1024:.0f} | {ratio(float(disk_p), float(disk_z))} |")
print(f"| restart to serving (caught up), s, median of three (Paddock {rs_all_p}, ZooKeeper {rs_all_z}) | {rs_p:.2f} | {rs_z:.2f} | {ratio(rs_p, rs_z)} |")
print(f"| leader kill -9 under load, longest write gap, ms | {gap_p} | {gap_z} | {ratio(float(gap_p), float(gap_z)) if gap_p != 'NA' and gap_z != 'NA' else 'n/a'} |")
PY
if [ "$workloads" = 1 ]; then
    echo
    echo "Paddock during the workloads: $ELECTIONS leader election(s), the first included; $STEPDOWNS leader(s) stepped down for want of a quorum; $LONG_TURNS long turn(s) of a Ready loop (half an election timeout or more)."
fi
