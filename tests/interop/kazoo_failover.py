#!/usr/bin/python3
"""The kazoo side of the failover scenario.

  kazoo_failover.py election BASE HOLDER PINNED KILLFILE STOPFILE
      Three kazoo Election contenders: "holder" talks only to member HOLDER and joins
      first, so it leads; "pinned" talks only to member PINNED; "roamer" may use any
      member (failover.sh picks HOLDER and PINNED so that one is the member it kills). A contender acts as leader while it is inside
      its election function, connected, and has never lost its session; a monitor checks
      every 2 ms that at most one does. Prints READY, then after STOPFILE appears RESULT
      lines; exit 1 with "REASON: …" on a violation.

  kazoo_failover.py verify BASE ACKS
      Every write listed in ACKS ("seq issuedMs ackedMs") must exist under BASE/writes on
      every member, read from that member alone after a sync.
"""
import os
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

CONNECT = os.environ.get("INTEROP_CONNECT", "127.0.0.1:2181")
SERVERS = os.environ.get("INTEROP_SERVERS", CONNECT).split(",")


def now_ms():
    return int(time.time() * 1000)


def election(base, holder, pinned, kill_file, stop_file):
    path = base + "/election"
    names = ["holder", "pinned", "roamer"]
    hosts = [SERVERS[holder - 1], SERVERS[pinned - 1], CONNECT]
    clients, elections = {}, {}
    inside = {n: False for n in names}
    lost = {n: False for n in names}
    stop = threading.Event()
    events = []

    def log(what):
        events.append((now_ms(), what))
        print("EVENT %d %s" % (now_ms(), what), flush=True)

    def acting(name):
        return (inside[name] and not lost[name]
                and clients[name].state == KazooState.CONNECTED)

    def lead(name):
        inside[name] = True
        log("leads " + name)
        while not stop.is_set() and not lost[name]:
            time.sleep(0.01)
        inside[name] = False
        log("leaves " + name)

    for name, host in zip(names, hosts):
        zk = KazooClient(hosts=host, timeout=15.0)

        def listener(state, name=name):
            log("state %s %s" % (name, state))
            if state == KazooState.LOST:
                lost[name] = True

        zk.add_listener(listener)
        zk.start(timeout=20)
        clients[name] = zk
        elections[name] = zk.Election(path, name)
        threading.Thread(target=elections[name].run, args=(lead, name), daemon=True).start()
        if name == "holder":
            deadline = time.time() + 20
            while not inside["holder"] and time.time() < deadline:
                time.sleep(0.01)
            if not inside["holder"]:
                print("REASON: holder never led", flush=True)
                return 1
    deadline = time.time() + 20
    while len(elections["holder"].contenders()) != 3:
        if time.time() > deadline:
            print("REASON: contenders %s" % elections["holder"].contenders(), flush=True)
            return 1
        time.sleep(0.05)

    violations = []

    def monitor():
        while not stop.is_set():
            leaders = [n for n in names if acting(n)]
            if len(leaders) > 1:
                violations.append((now_ms(), leaders))
            time.sleep(0.002)

    threading.Thread(target=monitor, daemon=True).start()
    print("READY", flush=True)

    killed_at = None
    while killed_at is None and not os.path.exists(stop_file):
        try:
            killed_at = int(open(kill_file).read().strip())
        except (OSError, ValueError):
            time.sleep(0.005)
    confirmed = None
    while confirmed is None and not os.path.exists(stop_file):
        for name in names:
            if not acting(name):
                continue
            try:
                zk = clients[name]
                zk.sync(path)
                if acting(name) and elections[name].contenders()[:1] == [name]:
                    confirmed = (now_ms(), name)
                    print("CONFIRMED %d %s" % confirmed, flush=True)
                    break
            except Exception:  # noqa: BLE001 - not yet
                pass
        time.sleep(0.01)
    while not os.path.exists(stop_file):
        time.sleep(0.02)
    stop.set()
    new_leader = next(((t, w.split()[1]) for t, w in events
                       if killed_at and t > killed_at and w.startswith("leads ")), None)
    print("RESULT election_confirmed=%s" % (
        "never" if confirmed is None else "%d ms (%s)" % (confirmed[0] - killed_at, confirmed[1])))
    print("RESULT election_regained=%s" % (
        "never lost" if new_leader is None
        else "%d ms (%s)" % (new_leader[0] - killed_at, new_leader[1])))
    print("RESULT violations=%d%s" % (len(violations), " first at %s" % (violations[0],) if violations else ""))
    for zk in clients.values():
        try:
            zk.stop()
            zk.close()
        except Exception:  # noqa: BLE001 - cleanup
            pass
    if violations:
        print("REASON: two election leaders at once: %s" % (violations[0],), flush=True)
        return 1
    if confirmed is None:
        print("REASON: no election leader confirmed after the kill", flush=True)
        return 1
    return 0


def verify(base, acks_file):
    acked = [int(line.split()[0]) for line in open(acks_file) if line.strip()]
    expected = {"w-%08d" % seq for seq in acked}
    for server in SERVERS:
        zk = KazooClient(hosts=server, timeout=10.0)
        zk.start(timeout=20)
        try:
            zk.sync(base + "/writes")
            present = set(zk.get_children(base + "/writes"))
        finally:
            zk.stop()
            zk.close()
        missing = sorted(expected - present)
        print("member %s: %d acknowledged writes, %d present, %d missing"
              % (server, len(expected), len(present), len(missing)))
        if missing:
            print("REASON: %d acknowledged writes missing on %s, first %s"
                  % (len(missing), server, missing[:5]), flush=True)
            return 1
    return 0


def main(argv):
    if argv[1] == "election":
        return election(argv[2], int(argv[3]), int(argv[4]), argv[5], argv[6])
    if argv[1] == "verify":
        return verify(argv[2], argv[3])
    raise SystemExit("unknown command " + argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
