#!/usr/bin/python3
"""kazoo (Debian python3-kazoo) recipes against a three-member ensemble.

  kazoo_scenarios.py --list              scenario names, one a line
  kazoo_scenarios.py NAME                run one scenario; exit 0 on success, else print
                                         "REASON: …" as the last line and exit 1

The ensemble comes from the environment: INTEROP_CONNECT (h:p,h:p,h:p) and
INTEROP_SERVERS (the same, in member order). Every scenario works under its own fresh
path, so scenarios can run in any order against one ensemble.
"""
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid

from kazoo.client import KazooClient
from kazoo.exceptions import (BadVersionError, LockTimeout,
                              RolledBackError,
                              RuntimeInconsistency)
from kazoo.protocol.states import EventType, KazooState
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

CONNECT = os.environ.get("INTEROP_CONNECT", "127.0.0.1:2181")
SERVERS = os.environ.get("INTEROP_SERVERS", CONNECT).split(",")
SCENARIOS = {}


class Failure(Exception):
    pass


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def check(cond, message):
    if not cond:
        raise Failure(message)


def wait_until(predicate, timeout, message):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise Failure("timed out after %ss waiting for %s" % (timeout, message))


class Clients:
    """Started KazooClients, stopped at the end of the scenario."""

    def __init__(self):
        self.clients = []

    def new(self, hosts=CONNECT, **kwargs):
        kwargs.setdefault("timeout", 10.0)
        client = KazooClient(hosts=hosts, **kwargs)
        client.start(timeout=15)
        self.clients.append(client)
        return client

    def close(self):
        for client in self.clients:
            try:
                client.stop()
                client.close()
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass


def synced(zk, path):
    """zk after a sync: its member has applied every write acknowledged so far. Without
    it a client of another member may read an older state (ZooKeeper's sequential
    consistency is per session), and a watch set on that state fires for the wrong event."""
    zk.sync(path)
    return zk


def base_path(name):
    return "/interop/kazoo/%s-%s" % (name, uuid.uuid4().hex[:8])


def run_threads(targets, timeout=60):
    """Runs callables in threads; re-raises the first exception any of them raised."""
    errors = []

    def wrap(fn):
        def go():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported to the caller
                errors.append(e)
        return go

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    deadline = time.time() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.time()))
    if any(t.is_alive() for t in threads):
        raise Failure("threads still running after %ss" % timeout)
    if errors:
        raise errors[0]


class Exclusive:
    """Counts how many holders are inside a critical section at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inside = 0
        self.max_inside = 0
        self.entries = []

    def enter(self, who):
        with self.lock:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
            self.entries.append(who)

    def leave(self):
        with self.lock:
            self.inside -= 1


# ---------------------------------------------------------------------------- recipes


@scenario
def election(cs):
    path = base_path("election")
    zks = [cs.new() for _ in range(3)]
    section = Exclusive()
    first_in = threading.Event()
    release_first = threading.Event()

    def lead(name):
        section.enter(name)
        try:
            if name == "c0":
                first_in.set()
                check(release_first.wait(30), "first leader was never released")
            else:
                time.sleep(0.2)
        finally:
            section.leave()

    def contender(i):
        return lambda: zks[i].Election(path, "c%d" % i).run(lead, "c%d" % i)

    threads = [threading.Thread(target=contender(0), daemon=True)]
    threads[0].start()
    check(first_in.wait(20), "first contender never became leader")
    others = [threading.Thread(target=contender(i), daemon=True) for i in (1, 2)]
    for t in others:
        t.start()
    observer = zks[0].Election(path)
    wait_until(lambda: len(observer.contenders()) == 3, 20, "three contenders")
    check(observer.contenders()[0] == "c0",
          "contenders() should list the leader first, got %s" % observer.contenders())
    release_first.set()
    for t in threads + others:
        t.join(30)
    check(section.max_inside == 1, "%d leaders at once" % section.max_inside)
    check(sorted(section.entries) == ["c0", "c1", "c2"],
          "each contender leads once, got %s" % section.entries)
    check(synced(zks[0], path).get_children(path) == [], "election nodes left behind")


@scenario
def lock(cs):
    path = base_path("lock")
    counter_path = path + "-counter"
    zks = [cs.new() for _ in range(3)]
    zks[0].create(counter_path, b"0", makepath=True)
    section = Exclusive()
    rounds = 15

    def worker(i):
        def go():
            lk = zks[i].Lock(path, "w%d" % i)
            for _ in range(rounds):
                with lk:
                    section.enter(i)
                    value = int(zks[i].get(counter_path)[0])
                    zks[i].set(counter_path, str(value + 1).encode())
                    section.leave()
        return go

    run_threads([worker(i) for i in range(3)])
    check(section.max_inside == 1, "%d lock holders at once" % section.max_inside)
    final = int(synced(zks[0], counter_path).get(counter_path)[0])
    check(final == 3 * rounds, "lost updates under the lock: %d != %d" % (final, 3 * rounds))

    holder, other = zks[0].Lock(path, "holder"), zks[1].Lock(path, "other")
    check(holder.acquire(timeout=10), "holder could not acquire")
    check(not other.acquire(blocking=False), "non-blocking acquire succeeded while held")
    try:
        other.acquire(timeout=0.5)
        raise Failure("acquire(timeout) succeeded while held")
    except LockTimeout:
        pass
    synced(zks[0], path)
    check(holder.contenders() == ["holder"], "contenders %s" % holder.contenders())
    holder.release()
    check(other.acquire(timeout=10), "lock not passed on after release")
    other.release()


@scenario
def read_write_lock(cs):
    path = base_path("rwlock")
    zks = [cs.new() for _ in range(3)]
    r1, r2 = zks[0].ReadLock(path, "r1"), zks[1].ReadLock(path, "r2")
    check(r1.acquire(timeout=10), "reader 1 blocked")
    check(r2.acquire(timeout=10), "reader 2 blocked by a reader")
    w = zks[2].WriteLock(path, "w")
    acquired = threading.Event()

    def writer():
        w.acquire()
        acquired.set()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    time.sleep(0.5)
    check(not acquired.is_set(), "writer acquired while readers hold")
    r1.release()
    time.sleep(0.3)
    check(not acquired.is_set(), "writer acquired while one reader holds")
    r2.release()
    check(acquired.wait(10), "writer never acquired after readers released")
    r3 = zks[0].ReadLock(path, "r3")
    try:
        r3.acquire(timeout=0.5)
        raise Failure("reader acquired while writer holds")
    except LockTimeout:
        pass
    w.release()
    check(r3.acquire(timeout=10), "reader blocked after writer released")
    r3.release()


@scenario
def semaphore(cs):
    path = base_path("semaphore")
    zks = [cs.new() for _ in range(4)]
    section = Exclusive()
    holders_seen = []

    def worker(i):
        def go():
            sem = zks[i].Semaphore(path, "s%d" % i, max_leases=2)
            for _ in range(3):
                with sem:
                    section.enter(i)
                    holders_seen.append(len(sem.lease_holders()))
                    time.sleep(0.05)
                    section.leave()
        return go

    run_threads([worker(i) for i in range(4)])
    check(section.max_inside <= 2, "%d lease holders with max_leases=2" % section.max_inside)
    check(section.max_inside == 2, "never two holders at once (max %d)" % section.max_inside)
    check(max(holders_seen) <= 2, "lease_holders() reported %d" % max(holders_seen))
    a, b, c = (zks[i].Semaphore(path, "x%d" % i, max_leases=2) for i in range(3))
    check(a.acquire(timeout=10) and b.acquire(timeout=10), "two leases not granted")
    check(not c.acquire(blocking=False), "third lease granted with max_leases=2")
    a.release()
    check(c.acquire(timeout=10), "lease not passed on")
    b.release()
    c.release()


@scenario
def barrier(cs):
    path = base_path("barrier")
    zks = [cs.new() for _ in range(3)]
    zks[0].Barrier(path).create()
    passed = []

    def waiter(i):
        def go():
            check(synced(zks[i], path).Barrier(path).wait(30), "barrier wait timed out")
            passed.append(i)
        return go

    threads = [threading.Thread(target=waiter(i), daemon=True) for i in (1, 2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    check(passed == [], "waiters passed a standing barrier")
    check(not zks[1].Barrier(path).wait(0.3), "wait(timeout) passed a standing barrier")
    zks[0].Barrier(path).remove()
    for t in threads:
        t.join(20)
    check(sorted(passed) == [1, 2], "waiters not released: %s" % passed)
    check(zks[2].Barrier(path).wait(1), "wait on a removed barrier blocked")


@scenario
def double_barrier(cs):
    path = base_path("dbarrier")
    zks = [cs.new() for _ in range(3)]
    times, lock_ = {}, threading.Lock()

    def stamp(what, i):
        with lock_:
            times.setdefault(what, {})[i] = time.time()

    def member(i):
        def go():
            b = zks[i].DoubleBarrier(path, 3, "m%d" % i)
            time.sleep(0.3 * i)
            stamp("enter_call", i)
            b.enter()
            stamp("enter_done", i)
            time.sleep(0.3 * (2 - i))
            stamp("leave_call", i)
            b.leave()
            stamp("leave_done", i)
        return go

    run_threads([member(i) for i in range(3)], timeout=60)
    check(len(times.get("leave_done", {})) == 3, "not every member left: %s" % times)
    check(min(times["enter_done"].values()) >= max(times["enter_call"].values()),
          "a member passed enter() before all three had arrived")
    check(min(times["leave_done"].values()) >= max(times["leave_call"].values()),
          "a member passed leave() before all three had left")
    synced(zks[0], path)
    check(zks[0].exists(path) is None or zks[0].get_children(path) == [],
          "double barrier nodes left behind: %s" % zks[0].get_children(path))


@scenario
def counter(cs):
    path = base_path("counter")
    zks = [cs.new() for _ in range(3)]

    def incr(i):
        def go():
            c = zks[i].Counter(path)
            for _ in range(20):
                c += 1
        return go

    run_threads([incr(i) for i in range(3)])
    c = synced(zks[0], path).Counter(path)
    check(c.value == 60, "counter is %s, expected 60" % c.value)
    c -= 10
    check(c.pre_value == 60 and c.post_value == 50, "pre/post %s/%s" % (c.pre_value, c.post_value))
    f = zks[1].Counter(path + "-float", default=0.0)
    f += 2.5
    f += 0.25
    check(abs(f.value - 2.75) < 1e-9, "float counter %s" % f.value)


@scenario
def party(cs):
    path = base_path("party")
    zks = [cs.new() for _ in range(3)]
    parties = [zks[i].Party(path, "member-%d" % i) for i in range(3)]
    for p in parties:
        p.join()
    watcher = synced(zks[0], path).Party(path)
    check(len(watcher) == 3, "party size %d" % len(watcher))
    check(sorted(watcher) == ["member-0", "member-1", "member-2"], "members %s" % list(watcher))
    parties[1].leave()
    synced(zks[0], path)
    check(sorted(watcher) == ["member-0", "member-2"], "after leave: %s" % list(watcher))
    zks[2].stop()  # the member's session ends: its ephemeral membership goes
    wait_until(lambda: sorted(watcher) == ["member-0"], 10, "member-2 to drop out")
    shallow = [zks[i].ShallowParty(path + "-shallow", "s%d" % i) for i in (0, 1)]
    for p in shallow:
        p.join()
    check(sorted(synced(zks[0], path).ShallowParty(path + "-shallow")) == ["s0", "s1"],
          "shallow party %s" % list(zks[0].ShallowParty(path + "-shallow")))


@scenario
def queue(cs):
    path = base_path("queue")
    producer, consumer = cs.new(), cs.new()
    q = producer.Queue(path)
    q.put(b"low", priority=200)
    q.put(b"first")
    q.put(b"second")
    q.put(b"urgent", priority=1)
    qc = synced(consumer, path).Queue(path)
    check(len(qc) == 4, "queue length %d" % len(qc))
    got = [qc.get() for _ in range(4)]
    check(got == [b"urgent", b"first", b"second", b"low"], "order %s" % got)
    check(qc.get() is None, "empty queue returned an item")
    items = [("%03d" % i).encode() for i in range(60)]
    for item in items:
        q.put(item)
    zks = [cs.new() for _ in range(3)]
    taken, lock_ = [], threading.Lock()

    def drain(zk):
        def go():
            qq = synced(zk, path).Queue(path)
            while True:
                item = qq.get()
                if item is None:
                    return
                with lock_:
                    taken.append(item)
        return go

    run_threads([drain(zk) for zk in zks])
    check(sorted(taken) == items, "%d items taken, %d distinct, expected %d"
          % (len(taken), len(set(taken)), len(items)))


@scenario
def locking_queue(cs):
    path = base_path("lqueue")
    producer = cs.new()
    q = producer.LockingQueue(path)
    q.put(b"b")
    q.put_all([b"c", b"d"])
    q.put(b"a", priority=1)
    check(len(q) == 4, "length %d" % len(q))
    c1, c2 = cs.new(), cs.new()
    q1, q2 = c1.LockingQueue(path), c2.LockingQueue(path)
    first = q1.get(timeout=10)
    check(first == b"a", "first item %r" % first)
    check(q1.holds_lock(), "consumer does not hold the item lock")
    second = q2.get(timeout=10)
    check(second == b"b", "second consumer got %r while the first holds a" % second)
    check(q1.consume(), "consume failed")
    check(q2.release(), "release failed")
    again = q1.get(timeout=10)
    check(again == b"b", "released item not handed out again: %r" % again)
    check(q1.consume(), "consume failed")
    rest = []
    for _ in range(2):
        rest.append(q2.get(timeout=10))
        check(q2.consume(), "consume failed")
    check(rest == [b"c", b"d"], "rest %s" % rest)
    check(q2.get(timeout=0.5) is None, "empty queue handed out an item")
    check(len(q) == 0, "queue not empty: %d" % len(q))
    # A consumer that dies holding an item gives it back.
    q.put(b"orphan")
    c3 = cs.new()
    check(c3.LockingQueue(path).get(timeout=10) == b"orphan", "orphan not handed out")
    c3.stop()
    check(q1.get(timeout=15) == b"orphan", "item of a dead consumer not handed out again")
    check(q1.consume(), "consume failed")


@scenario
def watchers(cs):
    path = base_path("watch")
    zk, writer = cs.new(), cs.new()
    data_events, child_events = [], []
    DataWatch(zk, path, func=lambda data, stat, event: data_events.append(
        (data, stat.version if stat else None, event.type if event else None)))
    wait_until(lambda: data_events[-1:] == [(None, None, None)], 5, "initial DataWatch call")
    writer.create(path, b"v0", makepath=True)
    wait_until(lambda: data_events[-1][0] == b"v0", 5, "DataWatch on create")
    writer.set(path, b"v1")
    wait_until(lambda: data_events[-1][:2] == (b"v1", 1), 5, "DataWatch on set")
    check(data_events[-1][2] == EventType.CHANGED, "event type %s" % data_events[-1][2])

    ChildrenWatch(synced(zk, path), path, func=lambda children, event=None: child_events.append(
        (sorted(children), event.type if event else None)), send_event=True)
    wait_until(lambda: child_events[-1:] == [([], None)], 5, "initial ChildrenWatch call")
    writer.create(path + "/a")
    wait_until(lambda: child_events[-1][0] == ["a"], 5, "ChildrenWatch on create")
    writer.create(path + "/b", ephemeral=True)
    wait_until(lambda: child_events[-1][0] == ["a", "b"], 5, "ChildrenWatch on second child")
    check(child_events[-1][1] == EventType.CHILD, "child event type %s" % child_events[-1][1])
    writer.delete(path + "/a")
    wait_until(lambda: child_events[-1][0] == ["b"], 5, "ChildrenWatch on delete")
    writer.set(path + "/b", b"x")  # a child's data change is not a children change
    time.sleep(0.3)
    check(child_events[-1][0] == ["b"] and len(child_events) == 4,
          "unexpected children events %s" % child_events)
    writer.delete(path, recursive=True)
    wait_until(lambda: data_events[-1][0] is None, 5, "DataWatch on delete")
    check(data_events[-1][2] == EventType.DELETED, "event %s" % data_events[-1][2])
    # Raw one-shot watches fire exactly once.
    fired = []
    zk.exists(path, watch=fired.append)
    writer.create(path, b"again")
    writer.set(path, b"again2")
    wait_until(lambda: fired, 5, "exists watch on a missing node")
    time.sleep(0.3)
    check(len(fired) == 1 and fired[0].type == EventType.CREATED, "exists watch fired %s" % fired)


@scenario
def transactions(cs):
    path = base_path("txn")
    zk = cs.new()
    zk.create(path, b"root", makepath=True)
    t = zk.transaction()
    t.create(path + "/a", b"1")
    t.create(path + "/seq-", b"s", sequence=True)
    t.set_data(path, b"root2", version=0)
    t.check(path, 1)
    results = t.commit()
    check(results[0] == path + "/a", "create result %r" % results[0])
    check(results[1] == path + "/seq-0000000001", "sequential create result %r" % results[1])
    check(results[3] is True, "check result %r" % results[3])
    check(zk.get(path)[0] == b"root2", "set_data not applied")
    a_stat = zk.exists(path + "/a")
    root_stat = zk.exists(path)
    check(a_stat.czxid == root_stat.mzxid, "a successful multi is one zxid")

    t = zk.transaction()
    t.create(path + "/b", b"2")
    t.set_data(path + "/a", b"x", version=7)  # fails: version is 0
    t.delete(path + "/a")
    results = t.commit()
    check(isinstance(results[0], RolledBackError), "op before failure: %r" % results[0])
    check(isinstance(results[1], BadVersionError), "failing op: %r" % results[1])
    check(isinstance(results[2], RuntimeInconsistency), "op after failure: %r" % results[2])
    check(zk.exists(path + "/b") is None, "rolled-back create applied")
    check(zk.get(path + "/a")[0] == b"1", "rolled-back data applied")
    t = zk.transaction()
    t.delete(path + "/a")
    t.create(path + "/a", b"new")
    t.delete(path + "/seq-0000000001")
    results = t.commit()
    check(results == [True, path + "/a", True], "delete/recreate results %r" % results)
    check(zk.get(path + "/a")[0] == b"new", "recreated node data")
    try:
        with zk.transaction() as tx:
            tx.create(path + "/a")
    except Exception:  # noqa: BLE001 - kazoo raises TransactionException subclasses
        pass
    check(zk.get(path + "/a")[0] == b"new", "failed context-manager transaction applied")


@scenario
def four_letter_words(cs):
    """What kazoo and operators' tools read from the four-letter words."""
    for server in SERVERS:
        zk = cs.new(hosts=server)
        check(zk.command(b"ruok") == "imok", "ruok")
        version = zk.server_version()
        check(len(version) >= 3 and version[0] == 3 and version[1] >= 5,
              "server_version() (from envi) %s" % (version,))
        srvr = zk.command(b"srvr")
        for key in ("Zookeeper version:", "Latency min/avg/max:", "Received:", "Sent:",
                    "Connections:", "Outstanding:", "Zxid: 0x", "Mode: ", "Node count:"):
            check(key in srvr, "srvr lacks %r: %r" % (key, srvr))
        stat = zk.command(b"stat")
        check("Clients:" in stat and "Mode: " in stat, "stat: %r" % stat)
        mntr = dict(line.split("\t", 1) for line in zk.command(b"mntr").splitlines() if "\t" in line)
        for key in ("zk_version", "zk_server_state", "zk_znode_count", "zk_watch_count",
                    "zk_ephemerals_count", "zk_num_alive_connections", "zk_outstanding_requests",
                    "zk_avg_latency", "zk_approximate_data_size", "zk_avg_fsynctime",
                    "zk_max_fsynctime", "zk_cnt_fsynctime"):
            check(key in mntr, "mntr lacks %s: %s" % (key, sorted(mntr)))
        check(mntr["zk_server_state"] in ("leader", "follower"), "zk_server_state %s" % mntr["zk_server_state"])
        check(int(mntr["zk_num_alive_connections"]) >= 1, "zk_num_alive_connections")
        check(zk.command(b"isro").strip() == "rw", "isro")
        conf = zk.command(b"conf")
        check("clientPort=%s" % server.rsplit(":", 1)[1] in conf, "conf lacks clientPort: %r" % conf)
        check("dataDir=" in conf, "conf lacks dataDir")
        cons = zk.command(b"cons")
        check("queued=" in cons and "recved=" in cons, "cons: %r" % cons)
        check("connections watching" in zk.command(b"wchs"), "wchs")


# ----------------------------------------------------------------------- sessions

EXPIRY_CHILD = r"""
import sys, time
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=2.0)
zk.start(timeout=15)
zk.create(sys.argv[2], b"child", ephemeral=True, makepath=True)
print("%d %d" % (zk.client_id[0], zk._session_timeout), flush=True)
time.sleep(300)
"""


@scenario
def session_expiry(cs):
    """A client stops responding (SIGSTOP): the server expires its session after the
    negotiated timeout and removes its ephemerals; a watcher sees NodeDeleted."""
    path = base_path("expiry") + "/ephemeral"
    child = subprocess.Popen([sys.executable, "-c", EXPIRY_CHILD, SERVERS[0], path],
                             stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().split()
        check(len(line) == 2, "child did not create its ephemeral")
        session_id, timeout_ms = int(line[0]), int(line[1])
        check(2000 <= timeout_ms <= 4000, "negotiated timeout %d ms" % timeout_ms)
        zk = synced(cs.new(), path)
        stat = zk.exists(path)
        check(stat is not None and stat.ephemeralOwner == session_id,
              "ephemeral owner %s, session %#x" % (stat and hex(stat.ephemeralOwner), session_id))
        deleted = threading.Event()
        zk.exists(path, watch=lambda e: e.type == EventType.DELETED and deleted.set())
        os.kill(child.pid, signal.SIGSTOP)
        stopped = time.time()
        check(deleted.wait(timeout_ms / 1000.0 + 10), "ephemeral survived a silent session")
        took = time.time() - stopped
        print("ephemeral removed %.2fs after the client went silent (timeout %d ms)"
              % (took, timeout_ms))
        check(took >= timeout_ms / 1000.0 * 0.5, "session expired too early (%.2fs)" % took)
        check(zk.exists(path) is None, "ephemeral still there")
    finally:
        child.kill()
        child.wait()


@scenario
def session_expire_by_id(cs):
    """kazoo's own test harness way: a second client attaches to the session with its id
    and password and closes it; the first client sees LOST and its ephemerals are gone."""
    path = base_path("expire-by-id")
    victim = cs.new(hosts=SERVERS[1])
    observer = cs.new(hosts=SERVERS[2])
    states = []
    victim.add_listener(states.append)
    victim.create(path + "/e", b"x", ephemeral=True, makepath=True)
    session_id, password = victim.client_id
    deleted = threading.Event()
    check(synced(observer, path).exists(path + "/e", watch=lambda e: e.type == EventType.DELETED and deleted.set()),
          "observer does not see the ephemeral")
    # Reattach with a wrong password first: the session must survive that.
    intruder = KazooClient(hosts=SERVERS[0], client_id=(session_id, b"x" * 16), timeout=10)
    try:
        intruder.start(timeout=5)
        raise Failure("reattach with a wrong password succeeded")
    except Exception:  # noqa: BLE001 - kazoo reports expiry/timeout differently by version
        pass
    finally:
        intruder.stop()
        intruder.close()
    check(observer.exists(path + "/e") is not None, "wrong password harmed the session")
    twin = KazooClient(hosts=SERVERS[0], client_id=(session_id, password), timeout=10)
    twin.start(timeout=15)
    check(twin.client_id[0] == session_id, "twin got a new session")
    twin.stop()
    twin.close()
    check(deleted.wait(10), "ephemeral survived the closed session")
    check(observer.exists(path + "/e") is None, "ephemeral still present")
    wait_until(lambda: KazooState.LOST in states, 20, "victim to see its session LOST")


def main(argv):
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # On `timeout`'s SIGTERM, unwind so that finally blocks (a SIGSTOPped child) run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if argv[1:] == ["--list"]:
        print("\n".join(SCENARIOS))
        return 0
    name = argv[1]
    cs = Clients()
    try:
        SCENARIOS[name](cs)
        return 0
    except BaseException as e:  # noqa: BLE001 - turned into the FAIL reason
        traceback.print_exc()
        print("REASON: %s: %s" % (type(e).__name__, e), flush=True)
        return 1
    finally:
        cs.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
