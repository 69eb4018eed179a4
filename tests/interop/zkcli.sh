#!/usr/bin/env bash
# ZooKeeper's own command-line clients, scripted through stdin:
#   zkCli.sh (Debian `zookeeper`, the Java ZooKeeperMain) and cli_mt (Debian
#   `zookeeper-bin`, the multi-threaded C client's shell).
#
#   zkcli.sh --list     scenario names
#   zkcli.sh NAME       run one; exit 0 on success, else "REASON: …" as the last line
#
# Uses INTEROP_CONNECT / INTEROP_SERVERS from run.sh. Every scenario works under a fresh
# path. The transcript of each session is printed, so the scenario log shows it. A
# session on another member than the one that wrote starts with `sync`, since reads are
# only sequentially consistent per session.
set -euo pipefail

ZKCLI=${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}
CLI_MT=${CLI_MT:-/usr/lib/zookeeper/bin/cli_mt}
CONNECT=${INTEROP_CONNECT:-127.0.0.1:2181}
IFS=, read -r -a SERVERS <<<"${INTEROP_SERVERS:-$CONNECT}"
BASE="/interop/cli-$$-$RANDOM"

fail() {
    echo "REASON: $*"
    exit 1
}

# zkcli SERVER <<< "commands": runs one zkCli.sh session, prints and returns its transcript.
zkcli() {
    local out
    out=$(CLIENT_JVMFLAGS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" "$ZKCLI" -server "$1" 2>&1 |
        grep -v -e '^SLF4J' -e '^$' -e 'WatchedEvent state:SyncConnected type:None' -e '^WATCHER::')
    printf '%s\n' "$out" >&2
    printf '%s\n' "$out"
}

# expect TRANSCRIPT LINE…: every LINE (fixed string) occurs in TRANSCRIPT, in order.
expect() {
    local transcript=$1 line rest
    shift
    rest=$transcript
    for line in "$@"; do
        if ! grep -qxF -- "$line" <<<"$rest"; then
            fail "expected line '$line' (in order) in the transcript"
        fi
        rest=$(sed -n "$(grep -nxF -- "$line" <<<"$rest" | head -1 | cut -d: -f1),\$p" <<<"$rest" | tail -n +2)
    done
}

# refuse TRANSCRIPT LINE: LINE does not occur.
refuse() {
    if grep -qF -- "$2" <<<"$1"; then
        fail "unexpected '$2' in the transcript"
    fi
}

zkcli_nodes() {
    local t
    t=$(zkcli "${SERVERS[0]}" <<EOF
create /interop
create $BASE root
create $BASE/child one
create -s -e $BASE/eph- e
create -s $BASE/seq- s
ls $BASE
ls -R $BASE
get -s $BASE
set -v 0 $BASE/child two
set -v 0 $BASE/child three
get $BASE/child
stat $BASE/child
sync $BASE
delete $BASE
delete -v 7 $BASE/child
delete $BASE/child
ls $BASE
create $BASE/tree
create $BASE/tree/a
create $BASE/tree/a/b
deleteall $BASE/tree
ls $BASE/tree
quit
EOF
    )
    expect "$t" "Created $BASE" "Created $BASE/child" \
        "Created $BASE/eph-0000000001" "Created $BASE/seq-0000000002" \
        "[child, eph-0000000001, seq-0000000002]" \
        "$BASE" "$BASE/child" "$BASE/eph-0000000001" "$BASE/seq-0000000002" \
        "root" "cversion = 3" "dataVersion = 0" "ephemeralOwner = 0x0" "dataLength = 4" "numChildren = 3" \
        "version No is not valid : $BASE/child" \
        "two" "dataVersion = 1" "dataLength = 3" \
        "Sync is OK" \
        "Node not empty: $BASE" \
        "version No is not valid : $BASE/child" \
        "[eph-0000000001, seq-0000000002]" \
        "Created $BASE/tree/a/b" \
        "Node does not exist: $BASE/tree"
    # The ephemeral belonged to that session: another session no longer sees it.
    t=$(zkcli "${SERVERS[1]}" <<EOF
sync $BASE
ls $BASE
stat $BASE/seq-0000000002
deleteall $BASE
ls $BASE
quit
EOF
    )
    expect "$t" "[seq-0000000002]" "numChildren = 0" "Node does not exist: $BASE"
}

zkcli_acl() {
    local hash t
    hash=$(/usr/bin/python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha1(b"alice:secret").digest()).decode())')
    t=$(zkcli "${SERVERS[1]}" <<EOF
create /interop
create $BASE x
addauth digest alice:secret
create $BASE/private data digest:alice:$hash:cdrwa
getAcl $BASE/private
get $BASE/private
create $BASE/open data
getAcl $BASE/open
setAcl $BASE/open digest:alice:$hash:cdrwa,world:anyone:r
getAcl -s $BASE/open
create $BASE/mine data auth::cdrwa
getAcl $BASE/mine
quit
EOF
    )
    expect "$t" "Created $BASE/private" "'digest,'alice:$hash" ": cdrwa" "data" \
        "Created $BASE/open" "'world,'anyone" ": cdrwa" \
        "'digest,'alice:$hash" ": cdrwa" "'world,'anyone" ": r" "aclVersion = 1" \
        "Created $BASE/mine" "'digest,'alice:$hash" ": cdrwa"
    t=$(zkcli "${SERVERS[2]}" <<EOF
sync $BASE
get $BASE/private
set $BASE/private nope
get $BASE/open
set $BASE/open nope
addauth digest alice:wrong
get $BASE/private
addauth digest alice:secret
set $BASE/private yes
get $BASE/private
setAcl $BASE/private world:anyone:cdrwa
quit
EOF
    )
    expect "$t" "Insufficient permission : $BASE/private" "Insufficient permission : $BASE/private" \
        "data" "Insufficient permission : $BASE/open" "Insufficient permission : $BASE/private" "yes"
    t=$(zkcli "${SERVERS[0]}" <<EOF
sync $BASE
get $BASE/private
addauth digest alice:secret
deleteall $BASE
ls $BASE
quit
EOF
    )
    expect "$t" "yes" "Node does not exist: $BASE"
    refuse "$t" "Insufficient permission"
}

# cli_mt reads commands from stdin and runs most of them asynchronously; it exits at end
# of input, so commands are fed with pauses and the session is held open at the end.
cli_mt_session() {
    local server=$1
    shift
    local out
    out=$({
        local cmd
        for cmd in "$@"; do
            printf '%s\n' "$cmd"
            sleep 0.25
        done
        sleep 1
    } | timeout 60 "$CLI_MT" -h "$server" 2>&1)
    printf '%s\n' "$out" >&2
    printf '%s\n' "$out"
}

cli_mt() {
    local t
    t=$(cli_mt_session "${SERVERS[2]}" \
        "create /interop" "create $BASE" "create +e $BASE/eph" "create +s $BASE/seq" "create +es $BASE/both" \
        "get $BASE" "set $BASE hello" "get $BASE" "ls $BASE" "exists $BASE/missing" "sync $BASE" \
        "delete $BASE/eph" "ls $BASE")
    grep -qx "\[$BASE\]: rc = 0" <<<"$t" || fail "create $BASE failed"
    grep -qxF "	name = $BASE/seq0000000001" <<<"$t" || fail "sequential create name"
    grep -qxF "	name = $BASE/both0000000002" <<<"$t" || fail "ephemeral sequential create name"
    grep -qxF "$BASE: rc = 0 Stat:" <<<"$t" || fail "set failed"
    grep -qF "hello" <<<"$t" || fail "get did not return the data"
    grep -qxF "	eph" <<<"$t" || fail "ls did not list the ephemeral"
    grep -qxF "Error -101 for $BASE/missing" <<<"$t" || fail "exists on a missing node"
    grep -qxF "Watcher CHANGED_EVENT state = CONNECTED_STATE for path $BASE" <<<"$t" ||
        fail "get's data watch did not fire on set"
    grep -qxF "Watcher CHILD_EVENT state = CONNECTED_STATE for path $BASE" <<<"$t" ||
        fail "ls's child watch did not fire on delete"
    grep -qxF "$BASE/eph: rc = 0" <<<"$t" || fail "delete failed"
    # A second session: the first one's ephemerals are gone, the rest remain.
    t=$(cli_mt_session "${SERVERS[0]}" "sync $BASE" "ls $BASE" "get $BASE/seq0000000001" \
        "delete $BASE/seq0000000001" "delete $BASE" "ls $BASE")
    grep -qxF "	seq0000000001" <<<"$t" || fail "persistent sequential node missing in a new session"
    refuse "$t" "both0000000002"
    grep -qxF "$BASE: rc = 0" <<<"$t" || fail "delete of $BASE failed"
    grep -qxF "$BASE: rc = -101" <<<"$t" || fail "ls after delete did not say NoNode"
}

case ${1:-} in
--list) printf '%s\n' zkcli_nodes zkcli_acl cli_mt ;;
zkcli_nodes | zkcli_acl | cli_mt) "$1" ;;
*)
    echo "REASON: unknown scenario ${1:-}"
    exit 2
    ;;
esac
