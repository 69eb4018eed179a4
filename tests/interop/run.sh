#!/usr/bin/env bash
# Interop suite: other people's ZooKeeper clients and their recipes against a three-member
# ensemble of separate server processes started from zoo.cfg files.
#
#   tests/interop/run.sh [--target paddock|zookeeper] [--only PATTERN]... [--keep] [--list]
#
#   --target   paddock (default): target/release/paddock serve --config zooN.cfg
#              zookeeper: Apache ZooKeeper 3.8 (Debian) QuorumPeerMain, same zoo.cfg files
#   --only     run only scenarios whose name matches the shell glob, e.g. 'kazoo.*' or
#              curator.leader_latch (repeatable)
#   --keep     keep the work directory (configs, server logs, one log per scenario)
#   --list     print the scenario names and exit
#
# Prints one line per scenario, "PASS name" or "FAIL name (reason)", then
# "N passed, M failed"; exits non-zero if any failed. Everything else (progress, failover
# times, the tail of a failing scenario's log) goes to stderr. Install the clients first
# with tests/interop/install.sh. PADDOCK_BIN=… uses another paddock binary (no build).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PADDOCK_BIN_GIVEN=${PADDOCK_BIN:-}
REPO=$(cd "$HERE/../.." && pwd)
TARGET=paddock
ONLY=()
KEEP=0
LIST=0
SCENARIO_TIMEOUT=120
FAILOVER_TIMEOUT=180

while (($#)); do
    case $1 in
    --target) TARGET=${2:-}; shift 2 ;;
    --target=*) TARGET=${1#*=}; shift ;;
    --only) ONLY+=("${2:-}"); shift 2 ;;
    --only=*) ONLY+=("${1#*=}"); shift ;;
    --keep) KEEP=1; shift ;;
    --list) LIST=1; shift ;;
    -h | --help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ $TARGET == paddock || $TARGET == zookeeper ]] || { echo "run.sh: --target paddock|zookeeper" >&2; exit 2; }

# Client classpath: Curator 5.4 and the ZooKeeper 3.8 client with what they load at run
# time, all from Debian packages (see install.sh).
JAVA_JARS=(curator-client curator-framework curator-recipes curator-x-discovery
    zookeeper zookeeper-jute guava slf4j-api slf4j-simple
    jackson-core jackson-databind jackson-annotations
    netty-buffer netty-codec netty-common netty-handler netty-resolver netty-transport
    netty-transport-native-epoll netty-transport-native-unix-common commons-io)
INTEROP_JAVA_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.showDateTime=true"

log() { echo "[interop $(date +%T)] $*" >&2; }

# name|command… for every scenario, in the order they run.
scenario_table() {
    local s
    for s in $(/usr/bin/python3 "$HERE/kazoo_scenarios.py" --list); do
        echo "kazoo.$s|/usr/bin/python3 $HERE/kazoo_scenarios.py $s"
    done
    for s in $(java -cp "$JAVA_CP" CuratorScenarios --list); do
        echo "curator.$s|java $INTEROP_JAVA_OPTS -cp $JAVA_CP CuratorScenarios $s"
    done
    for s in $(java -cp "$JAVA_CP" ZkClientScenarios --list); do
        echo "javaclient.$s|java $INTEROP_JAVA_OPTS -cp $JAVA_CP ZkClientScenarios $s"
    done
    for s in $("$HERE/zkcli.sh" --list); do
        echo "cli.$s|$HERE/zkcli.sh $s"
    done
    for s in leader_kill follower_kill; do
        echo "failover.$s|$HERE/failover.sh failover.$s"
    done
}

selected() {
    local pattern
    ((${#ONLY[@]})) || return 0
    for pattern in "${ONLY[@]}"; do
        # shellcheck disable=SC2053 # the pattern is a glob on purpose
        [[ $1 == $pattern ]] && return 0
    done
    return 1
}

missing=()
for tool in java javac /usr/bin/python3 /usr/share/zookeeper/bin/zkCli.sh /usr/lib/zookeeper/bin/cli_mt; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
/usr/bin/python3 -c 'import kazoo' 2>/dev/null || missing+=(python3-kazoo)
for jar in "${JAVA_JARS[@]}"; do
    [[ -f /usr/share/java/$jar.jar ]] || missing+=("/usr/share/java/$jar.jar")
done
if ((${#missing[@]})); then
    echo "run.sh: missing ${missing[*]}; run tests/interop/install.sh" >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/paddock-interop.XXXXXX")
mkdir -p "$WORK/logs" "$WORK/classes"
export WORK TARGET HERE REPO INTEROP_JAVA_OPTS
JAVA_CP="$WORK/classes"
for jar in "${JAVA_JARS[@]}"; do JAVA_CP+=":/usr/share/java/$jar.jar"; done
export JAVA_CP
# shellcheck source=cluster.sh
source "$HERE/cluster.sh"

failed=0
cleanup() {
    cluster_stop
    if ((KEEP)); then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "compiling the Java scenarios"
javac -nowarn -d "$WORK/classes" -cp "$JAVA_CP" "$HERE"/java/*.java >"$WORK/logs/javac.log" 2>&1 &
javac_pid=$!
javac_done() {
    wait "$javac_pid" && return 0
    cat "$WORK/logs/javac.log" >&2
    echo "run.sh: javac failed" >&2
    exit 2
}
if ((LIST)); then
    javac_done
    scenario_table | cut -d'|' -f1
    exit 0
fi

if [[ $TARGET == paddock ]] && [[ -z ${PADDOCK_BIN_GIVEN:-} ]]; then
    paddock_build || { echo "run.sh: cargo build --release -p paddock failed" >&2; exit 2; }
fi
# The ensemble starts while javac runs: two slow things at once on two cores.
cluster_init
cluster_start
log "target $TARGET, members $CONNECT, work $WORK"
export INTEROP_CONNECT=$CONNECT INTEROP_SERVERS=$CONNECT INTEROP_TARGET=$TARGET
javac_done
leader=$(cluster_wait_leader 60) || {
    log "the ensemble elected no leader within 60 s"
    tail -n 20 "$WORK"/node*.log >&2
    exit 2
}
log "ensemble up, leader is member $leader"

passed=0
suite_start=$(date +%s)
while IFS='|' read -r name command; do
    selected "$name" || continue
    limit=$SCENARIO_TIMEOUT
    [[ $name == failover.* ]] && limit=$FAILOVER_TIMEOUT
    started=$(date +%s%3N)
    # shellcheck disable=SC2086 # the command is a word list
    timeout "$limit" $command >"$WORK/logs/$name.log" 2>&1 </dev/null
    rc=$?
    took_ms=$(($(date +%s%3N) - started))
    took="$((took_ms / 1000)).$((took_ms % 1000 / 100))"
    reason=""
    if ((rc == 124)); then
        reason="timed out after ${limit} s"
    elif ((rc != 0)); then
        reason=$(grep '^REASON: ' "$WORK/logs/$name.log" | tail -1 | sed 's/^REASON: //')
        [[ -n $reason ]] || reason="exit status $rc"
    fi
    # A member that died during the scenario is a failure whatever the client saw.
    for n in 1 2 3; do
        if [[ -z $(node_pid "$n") ]]; then
            reason="${reason:+$reason; }member $n (${SERVER[n]}) is not running"
            echo "=== member $n died during $name" >>"$WORK/node$n.log"
        fi
    done
    if [[ -z $reason ]]; then
        echo "PASS $name"
        passed=$((passed + 1))
        log "$name took ${took}s"
    else
        echo "FAIL $name ($reason)"
        failed=$((failed + 1))
        log "$name took ${took}s; last lines of its log:"
        tail -n 25 "$WORK/logs/$name.log" | sed 's/^/    /' >&2
    fi
    if [[ $name == failover.* ]]; then
        grep -h '^TIMES ' "$WORK/logs/$name.log" | sed 's/^TIMES /failover times, /' >&2
    fi
    cluster_heal || log "could not bring all three members back"
done < <(scenario_table)

if ((passed + failed == 0)); then
    echo "run.sh: no scenario matches ${ONLY[*]} (see --list)" >&2
    exit 2
fi
log "suite took $(($(date +%s) - suite_start)) s"
echo "$passed passed, $failed failed"
((failed == 0))
