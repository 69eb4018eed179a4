#!/usr/bin/env bash
# The failover scenarios. A Curator LeaderLatch and a kazoo Election, each with three
# participants — "holder" (joins first, so it leads) talking only to a follower, "pinned"
# talking only to one other member, "roamer" talking to any — and a writer that keeps
# writing; then kill -9 one member's process and restart it:
#   failover.leader_kill    the ensemble leader (pinned talks to it; holder to a follower)
#   failover.follower_kill  the follower the holder talks to (pinned: the other follower),
#                           so the holder's session must wait for that member to return
# and check that
#   - the survivors have a leader (elect a new one),
#   - no two latch / election leaders were ever observed at once,
#   - every acknowledged write is present on every member afterwards,
#   - the restarted member catches up (its srvr zxid reaches what the others had),
# and print the measured failover times.
#
#   failover.sh NAME     (run by run.sh, which exports WORK, TARGET, HERE, REPO,
#                         JAVA_CP and INTEROP_*; exit 0 on success, else "REASON: …")
set -uo pipefail
name=$1
source "$HERE/cluster.sh"
cluster_load

fail() {
    echo "REASON: $*"
    exit 1
}

now_ms() { date +%s%3N; }

# The REASON a helper gave, else its last line.
reason() {
    grep -q '^REASON: ' "$1" && sed -n 's/^REASON: //p' "$1" | tail -1 || tail -1 "$1"
}

# wait_for_line FILE TEXT SECONDS PID
wait_for_line() {
    local deadline=$(($(date +%s) + $3))
    while ! grep -q "^$2" "$1" 2>/dev/null; do
        kill -0 "$4" 2>/dev/null || return 1
        (($(date +%s) < deadline)) || return 1
        sleep 0.05
    done
}

latch_pid="" election_pid=""
# Whatever happens (also `timeout`'s SIGTERM), the helpers do not outlive the scenario.
trap '[[ -n $latch_pid ]] && kill "$latch_pid" 2>/dev/null; [[ -n $election_pid ]] && kill "$election_pid" 2>/dev/null' EXIT
trap 'exit 143' TERM INT

leader=$(cluster_wait_leader 60) || fail "no ensemble leader to start with"
followers=()
for n in 1 2 3; do ((n == leader)) || followers+=("$n"); done
holder=${followers[0]}
case $name in
failover.leader_kill) pinned=$leader victim=$leader ;;
failover.follower_kill) pinned=${followers[1]} victim=$holder ;;
*) fail "unknown failover scenario $name" ;;
esac
survivors=()
for n in 1 2 3; do ((n == victim)) || survivors+=("$n"); done
dir="$WORK/$name"
mkdir -p "$dir"
base="/interop/$name-$RANDOM$RANDOM"
echo "leader is member $leader; holder talks to member $holder, pinned to member $pinned; victim member $victim (pid $(node_pid "$victim"))"

timeout 150 java $INTEROP_JAVA_OPTS -cp "$JAVA_CP" FailoverLatch "$base" "$holder" "$pinned" \
    "$dir/acks" "$dir/killed" "$dir/stop" >"$dir/latch.out" 2>&1 &
latch_pid=$!
timeout 150 /usr/bin/python3 "$HERE/kazoo_failover.py" election "$base" "$holder" "$pinned" \
    "$dir/killed" "$dir/stop" >"$dir/election.out" 2>&1 &
election_pid=$!
wait_for_line "$dir/latch.out" READY 60 "$latch_pid" ||
    fail "Curator side never got ready: $(reason "$dir/latch.out")"
wait_for_line "$dir/election.out" READY 60 "$election_pid" ||
    fail "kazoo side never got ready: $(reason "$dir/election.out")"
sleep 2

node_kill "$victim"
killed_at=$(now_ms)
echo "$killed_at" >"$dir/killed"
echo "killed member $victim at $killed_at"
members_wait_leader 60 "${survivors[@]}" || fail "survivors elected no leader within 60 s"
elected_ms=$(($(now_ms) - killed_at))
echo "survivors have a leader after $elected_ms ms"
sleep 2

node_start "$victim"
catchup=$(/usr/bin/python3 "$HERE/zkutil.py" wait-catchup 60 "${SERVER[victim]}" \
    "${SERVER[${survivors[0]}]},${SERVER[${survivors[1]}]}") ||
    fail "restarted member $victim did not catch up: $catchup"
caught_ms=$(($(now_ms) - killed_at))
echo "restarted member $victim caught up ($catchup), $caught_ms ms after the kill"
cluster_wait_leader 60 >/dev/null || fail "no leader with all three members back"
# Both recipes must have a leader confirmed by the cluster again (clients back off
# between reconnect attempts, kazoo up to several seconds), then writes go on a little.
wait_for_line "$dir/latch.out" CONFIRMED 40 "$latch_pid"
wait_for_line "$dir/election.out" CONFIRMED 40 "$election_pid"
sleep 1
touch "$dir/stop"

wait "$latch_pid"
latch_rc=$?
wait "$election_pid"
election_rc=$?
latch_pid="" election_pid=""
grep -E "^(RESULT|EVENT|REASON)" "$dir/latch.out" "$dir/election.out"
((latch_rc == 0)) || fail "Curator side: $(reason "$dir/latch.out")"
((election_rc == 0)) || fail "kazoo side: $(reason "$dir/election.out")"

verify=$(/usr/bin/python3 "$HERE/kazoo_failover.py" verify "$base" "$dir/acks" 2>&1)
echo "$verify"
grep -q '^REASON: ' <<<"$verify" && fail "$(sed -n 's/^REASON: //p' <<<"$verify")"

result() { grep "^RESULT $1=" "$dir/$2" | sed "s/^RESULT $1=//"; }
{
    echo "TIMES $name: member $victim killed; survivors had a leader after ${elected_ms} ms;" \
        "first write acknowledged after $(result write latch.out);" \
        "Curator latch leader confirmed after $(result latch_confirmed latch.out), re-elected: $(result latch_regained latch.out);" \
        "kazoo election leader confirmed after $(result election_confirmed election.out), re-elected: $(result election_regained election.out);" \
        "restarted member caught up ${caught_ms} ms after the kill; $(result acked latch.out | sed 's/ failed=/ writes acknowledged, failed: /')"
} | tee "$dir/times"
exit 0
