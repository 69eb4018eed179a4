import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.Watcher.WatcherType;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

/** The ZooKeeper 3.8 Java client (Debian libzookeeper-java) used directly. */
public final class ZkClientScenarios {
    private ZkClientScenarios() {}

    public static void main(String[] args) {
        Map<String, Support.Scenario> t = Support.table();
        t.put("watches_one_shot", ZkClientScenarios::watchesOneShot);
        t.put("watches_persistent", ZkClientScenarios::watchesPersistent);
        t.put("watches_after_reconnect", ZkClientScenarios::watchesAfterReconnect);
        t.put("many_watches_after_reconnect", ZkClientScenarios::manyWatchesAfterReconnect);
        t.put("remove_watches", ZkClientScenarios::removeWatches);
        t.put("multi", ZkClientScenarios::multi);
        t.put("pipelined_requests", ZkClientScenarios::pipelinedRequests);
        t.put("replicas_agree", ZkClientScenarios::replicasAgree);
        t.put("ephemerals_and_counts", ZkClientScenarios::ephemeralsAndCounts);
        t.put("digest_acl", ZkClientScenarios::digestAcl);
        t.put("create_modes", ZkClientScenarios::createModes);
        t.put("container_and_ttl_reaping", ZkClientScenarios::containerAndTtlReaping);
        t.put("max_buffer", ZkClientScenarios::maxBuffer);
        Support.main(args, t);
    }

    static final List<ACL> OPEN = Ids.OPEN_ACL_UNSAFE;
    static final byte[] NONE = new byte[0];

    /** Records the events a watcher receives. */
    static final class Events implements Watcher {
        final BlockingQueue<WatchedEvent> queue = new LinkedBlockingQueue<>();

        @Override
        public void process(WatchedEvent event) {
            if (event.getType() != EventType.None) {
                queue.add(event);
            }
        }

        /** The next event, which must be `type` on `path`. */
        void expect(EventType type, String path) throws InterruptedException {
            WatchedEvent e = queue.poll(10, TimeUnit.SECONDS);
            Support.check(e != null, "no event, expected " + type + " " + path);
            Support.check(e.getType() == type && path.equals(e.getPath()),
                    "got " + e.getType() + " " + e.getPath() + ", expected " + type + " " + path);
        }

        /** No event arrives within a short while. */
        void expectNone(String after) throws InterruptedException {
            WatchedEvent e = queue.poll(300, TimeUnit.MILLISECONDS);
            Support.check(e == null, "unexpected " + (e == null ? "" : e.getType() + " " + e.getPath()) + " after " + after);
        }
    }

    static void mkdirs(ZooKeeper zk, String path) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (String part : path.substring(1).split("/")) {
            sb.append('/').append(part);
            try {
                zk.create(sb.toString(), NONE, OPEN, CreateMode.PERSISTENT);
            } catch (KeeperException.NodeExistsException e) {
                // already there
            }
        }
    }

    static void watchesOneShot() throws Exception {
        String p = Support.base("one-shot");
        ZooKeeper zk = Support.zk(Support.SERVERS[0]);
        ZooKeeper w = Support.zk(Support.SERVERS[1]);
        mkdirs(w, p.substring(0, p.lastIndexOf('/')));
        Events ev = new Events();

        Support.check(zk.exists(p, ev) == null, "node exists already");
        w.create(p, "0".getBytes(UTF_8), OPEN, CreateMode.PERSISTENT);
        ev.expect(EventType.NodeCreated, p);

        zk.getData(p, ev, null);
        w.setData(p, "1".getBytes(UTF_8), -1);
        ev.expect(EventType.NodeDataChanged, p);
        w.setData(p, "2".getBytes(UTF_8), -1);
        ev.expectNone("a second change (watches are one-shot)");

        zk.exists(p, ev);
        try {
            w.setData(p, "x".getBytes(UTF_8), 999);
            throw new Support.Failure("setData with a wrong version succeeded");
        } catch (KeeperException.BadVersionException expected) {
            // a failed write fires nothing
        }
        ev.expectNone("a failed setData");
        w.setData(p, "3".getBytes(UTF_8), -1);
        ev.expect(EventType.NodeDataChanged, p);

        zk.getChildren(p, ev);
        w.create(p + "/c", NONE, OPEN, CreateMode.PERSISTENT);
        ev.expect(EventType.NodeChildrenChanged, p);
        zk.getChildren(p, ev);
        w.setData(p + "/c", "x".getBytes(UTF_8), -1);
        ev.expectNone("a child's data change");
        w.delete(p + "/c", -1);
        ev.expect(EventType.NodeChildrenChanged, p);

        // A child watch also fires NodeDeleted when the watched node itself goes, and a
        // data watch on the same node fires too (to its own watcher).
        Events dataWatcher = new Events();
        zk.getChildren(p, ev);
        zk.getData(p, dataWatcher, null);
        w.delete(p, -1);
        ev.expect(EventType.NodeDeleted, p);
        dataWatcher.expect(EventType.NodeDeleted, p);
        ev.expectNone("deletion");

        // The default watcher (watch=true).
        Events def = new Events();
        ZooKeeper zd = Support.zk(Support.SERVERS[2], def);
        Support.sync(zd, p);
        zd.exists(p, true);
        w.create(p, NONE, OPEN, CreateMode.PERSISTENT);
        def.expect(EventType.NodeCreated, p);

        // A notification reaches the client before the reply of the write that caused
        // it: the Java client delivers both through one event thread, in arrival order.
        List<String> order = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        for (int i = 0; i < 20; i++) {
            zk.getData(p, e -> order.add("event"), null);
            zk.setData(p, NONE, -1, (rc, path, ctx, stat) -> order.add("reply"), null);
        }
        zk.sync(p, (rc, path, ctx) -> done.countDown(), null);
        Support.check(done.await(10, TimeUnit.SECONDS), "sync did not complete");
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            expected.add("event");
            expected.add("reply");
        }
        Support.check(order.equals(expected), "notification/reply order " + order);
    }

    static void watchesPersistent() throws Exception {
        String p = Support.base("persistent");
        ZooKeeper zk = Support.zk(Support.SERVERS[0]);
        ZooKeeper w = Support.zk(Support.SERVERS[1]);
        mkdirs(w, p.substring(0, p.lastIndexOf('/')));
        Events ev = new Events();
        zk.addWatch(p, ev, AddWatchMode.PERSISTENT);
        w.create(p, NONE, OPEN, CreateMode.PERSISTENT);
        ev.expect(EventType.NodeCreated, p);
        w.setData(p, "1".getBytes(UTF_8), -1);
        ev.expect(EventType.NodeDataChanged, p);
        w.setData(p, "2".getBytes(UTF_8), -1);
        ev.expect(EventType.NodeDataChanged, p);
        w.create(p + "/c", NONE, OPEN, CreateMode.PERSISTENT);
        ev.expect(EventType.NodeChildrenChanged, p);
        w.setData(p + "/c", "x".getBytes(UTF_8), -1);
        ev.expectNone("a child's data change (non-recursive)");
        w.delete(p + "/c", -1);
        ev.expect(EventType.NodeChildrenChanged, p);
        w.delete(p, -1);
        ev.expect(EventType.NodeDeleted, p);
        w.create(p, NONE, OPEN, CreateMode.PERSISTENT);
        ev.expect(EventType.NodeCreated, p);

        String r = p + "/tree";
        Events rec = new Events();
        zk.addWatch(r, rec, AddWatchMode.PERSISTENT_RECURSIVE);
        w.create(r, NONE, OPEN, CreateMode.PERSISTENT);
        rec.expect(EventType.NodeCreated, r);
        w.create(r + "/a", NONE, OPEN, CreateMode.PERSISTENT);
        rec.expect(EventType.NodeCreated, r + "/a");
        w.create(r + "/a/b", NONE, OPEN, CreateMode.EPHEMERAL);
        rec.expect(EventType.NodeCreated, r + "/a/b");
        w.setData(r + "/a/b", "x".getBytes(UTF_8), -1);
        rec.expect(EventType.NodeDataChanged, r + "/a/b");
        w.delete(r + "/a/b", -1);
        rec.expect(EventType.NodeDeleted, r + "/a/b");
        w.create(r + "x", NONE, OPEN, CreateMode.PERSISTENT); // a string prefix, not a descendant
        rec.expectNone("creating a sibling that shares a string prefix");
        // The parent's persistent (non-recursive) watch saw only its own children change.
        ev.expect(EventType.NodeChildrenChanged, p);
        ev.expect(EventType.NodeChildrenChanged, p);
        ev.expectNone("changes below a direct child");
        // A one-shot watch and a persistent watch on the same node both fire.
        Events once = new Events();
        zk.getData(r + "/a", once, null);
        w.setData(r + "/a", "y".getBytes(UTF_8), -1);
        once.expect(EventType.NodeDataChanged, r + "/a");
        rec.expect(EventType.NodeDataChanged, r + "/a");
    }

    /**
     * Watches survive a reconnect to another member: the client re-registers them with
     * SetWatches / SetWatches2 and its last zxid, and the server fires what it missed.
     */
    static void watchesAfterReconnect() throws Exception {
        String p = Support.base("reconnect");
        ZooKeeper w = Support.zk(Support.SERVERS[1]);
        mkdirs(w, p + "/kids");
        for (String n : List.of("data", "gone", "same", "persist", "rec")) {
            w.create(p + "/" + n, NONE, OPEN, CreateMode.PERSISTENT);
        }
        CuttableProxy proxy = Support.closeLater(new CuttableProxy(Support.SERVERS[0]));
        List<KeeperState> states = new CopyOnWriteArrayList<>();
        ZooKeeper zk = Support.zk(proxy.address(), e -> states.add(e.getState()));
        Support.sync(zk, p);
        long session = zk.getSessionId();
        Events ev = new Events();
        Events pev = new Events();
        Events rev = new Events();
        zk.getData(p + "/data", ev, null);
        zk.getChildren(p + "/kids", ev);
        zk.exists(p + "/later", ev);
        zk.getData(p + "/gone", ev, null);
        zk.getData(p + "/same", ev, null);
        zk.addWatch(p + "/persist", pev, AddWatchMode.PERSISTENT);
        zk.addWatch(p + "/rec", rev, AddWatchMode.PERSISTENT_RECURSIVE);

        proxy.cut();
        Support.waitUntil(() -> states.contains(KeeperState.Disconnected), 10_000, "the client to see Disconnected");
        w.setData(p + "/data", "1".getBytes(UTF_8), -1);
        w.create(p + "/kids/c", NONE, OPEN, CreateMode.PERSISTENT);
        w.create(p + "/later", NONE, OPEN, CreateMode.PERSISTENT);
        w.delete(p + "/gone", -1);
        w.setData(p + "/persist", "missed".getBytes(UTF_8), -1);
        w.create(p + "/rec/missed", NONE, OPEN, CreateMode.PERSISTENT);
        CountDownLatch synced = new CountDownLatch(1);
        w.sync(p, (rc, path, ctx) -> synced.countDown(), null);
        Support.check(synced.await(10, TimeUnit.SECONDS), "writer sync");
        states.clear();
        proxy.resume(Support.SERVERS[2]);
        Support.waitUntil(() -> states.contains(KeeperState.SyncConnected), 20_000, "the client to reconnect");
        Support.check(zk.getSessionId() == session, "a new session after reconnect");

        List<String> missed = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            WatchedEvent e = ev.queue.poll(10, TimeUnit.SECONDS);
            Support.check(e != null, "only " + missed + " fired after reconnect");
            missed.add(e.getType() + " " + e.getPath().substring(p.length()));
        }
        Collections.sort(missed);
        Support.check(missed.equals(List.of("NodeChildrenChanged /kids", "NodeCreated /later", "NodeDataChanged /data",
                "NodeDeleted /gone")), "events fired after reconnect " + missed);
        ev.expectNone("the missed events (nothing for an unchanged node)");
        // Persistent watches are re-registered without replaying what they missed; later
        // changes fire them.
        pev.expectNone("reconnect (persistent watch)");
        rev.expectNone("reconnect (recursive watch)");
        w.setData(p + "/persist", "after".getBytes(UTF_8), -1);
        pev.expect(EventType.NodeDataChanged, p + "/persist");
        w.create(p + "/rec/after", NONE, OPEN, CreateMode.PERSISTENT);
        rev.expect(EventType.NodeCreated, p + "/rec/after");
        w.setData(p + "/same", "now".getBytes(UTF_8), -1);
        ev.expect(EventType.NodeDataChanged, p + "/same");
    }

    /**
     * Thousands of watches with long paths: on reconnect the client re-registers them in
     * several SetWatches frames (at most 128 KiB each); a change to a node late in the list
     * must still fire.
     */
    static void manyWatchesAfterReconnect() throws Exception {
        String p = Support.base("many-watches") + "/" + "x".repeat(60);
        ZooKeeper w = Support.zk(Support.SERVERS[1]);
        mkdirs(w, p);
        int count = 3000;
        List<String> paths = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            paths.add(String.format("%s/node-with-a-rather-long-name-%05d", p, i));
        }
        for (int i = 0; i < count; i += 500) {
            List<Op> ops = new ArrayList<>();
            for (String path : paths.subList(i, Math.min(count, i + 500))) {
                ops.add(Op.create(path, NONE, OPEN, CreateMode.PERSISTENT));
            }
            w.multi(ops);
        }
        CuttableProxy proxy = Support.closeLater(new CuttableProxy(Support.SERVERS[0]));
        List<KeeperState> states = new CopyOnWriteArrayList<>();
        ZooKeeper zk = Support.zk(proxy.address(), e -> states.add(e.getState()));
        Support.sync(zk, p);
        Events ev = new Events();
        CountDownLatch registered = new CountDownLatch(count);
        for (String path : paths) {
            zk.getData(path, ev, (rc, pth, ctx, data, stat) -> registered.countDown(), null);
        }
        Support.check(registered.await(30, TimeUnit.SECONDS), "registering watches");
        proxy.cut();
        Support.waitUntil(() -> states.contains(KeeperState.Disconnected), 10_000, "the client to see Disconnected");
        String first = paths.get(7);
        String last = paths.get(count - 1);
        w.setData(first, "1".getBytes(UTF_8), -1);
        w.setData(last, "1".getBytes(UTF_8), -1);
        states.clear();
        proxy.resume(Support.SERVERS[2]);
        Support.waitUntil(() -> states.contains(KeeperState.SyncConnected), 20_000, "the client to reconnect");
        List<String> fired = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            WatchedEvent e = ev.queue.poll(10, TimeUnit.SECONDS);
            Support.check(e != null, "after reconnect only " + fired + " fired");
            fired.add(e.getType() + " " + e.getPath());
        }
        Collections.sort(fired);
        Support.check(fired.equals(List.of("NodeDataChanged " + first, "NodeDataChanged " + last)), "fired " + fired);
        ev.expectNone("the two missed changes");
        String middle = paths.get(count / 2);
        w.setData(middle, "2".getBytes(UTF_8), -1);
        ev.expect(EventType.NodeDataChanged, middle);
    }

    static void removeWatches() throws Exception {
        String p = Support.base("remove-watches");
        ZooKeeper zk = Support.zk(Support.SERVERS[0]);
        ZooKeeper w = Support.zk(Support.SERVERS[2]);
        mkdirs(w, p);
        Support.sync(zk, p);
        Events dw = new Events();
        Events cw = new Events();
        zk.getData(p, dw, null);
        zk.getChildren(p, cw);
        zk.removeWatches(p, dw, WatcherType.Data, false);
        dw.expect(EventType.DataWatchRemoved, p);
        w.setData(p, "1".getBytes(UTF_8), -1);
        dw.expectNone("setData after the data watch was removed");
        try {
            zk.removeWatches(p, dw, WatcherType.Data, false);
            throw new Support.Failure("removing a watch twice succeeded");
        } catch (KeeperException.NoWatcherException expected) {
            // ok
        }
        zk.removeAllWatches(p, WatcherType.Any, false);
        cw.expect(EventType.ChildWatchRemoved, p);
        w.create(p + "/c", NONE, OPEN, CreateMode.PERSISTENT);
        cw.expectNone("create after the child watch was removed");

        Events pw = new Events();
        zk.addWatch(p, pw, AddWatchMode.PERSISTENT);
        w.setData(p, "2".getBytes(UTF_8), -1);
        pw.expect(EventType.NodeDataChanged, p);
        zk.removeWatches(p, pw, WatcherType.Any, false);
        pw.expect(EventType.PersistentWatchRemoved, p);
        w.setData(p, "3".getBytes(UTF_8), -1);
        pw.expectNone("setData after the persistent watch was removed");

        Events rw = new Events();
        zk.addWatch(p, rw, AddWatchMode.PERSISTENT_RECURSIVE);
        w.setData(p + "/c", "x".getBytes(UTF_8), -1);
        rw.expect(EventType.NodeDataChanged, p + "/c");
        zk.removeWatches(p, rw, WatcherType.Any, false);
        rw.expect(EventType.PersistentWatchRemoved, p);
        w.setData(p + "/c", "y".getBytes(UTF_8), -1);
        rw.expectNone("setData after the recursive watch was removed");

        // Local removal while a watch is also on the server: the server's watch stays
        // but the client no longer delivers it.
        Events lw = new Events();
        zk.exists(p, lw);
        zk.removeWatches(p, lw, WatcherType.Data, true);
        lw.expect(EventType.DataWatchRemoved, p);
        w.setData(p, "4".getBytes(UTF_8), -1);
        lw.expectNone("setData after a local removal");
    }

    static int[] codes(List<OpResult> results) {
        return results.stream().mapToInt(r -> r instanceof OpResult.ErrorResult ? ((OpResult.ErrorResult) r).getErr() : 0)
                .toArray();
    }

    static void multi() throws Exception {
        String p = Support.base("multi");
        ZooKeeper zk = Support.zk(Support.CONNECT);
        mkdirs(zk, p);
        List<OpResult> ok = zk.multi(List.of(
                Op.create(p + "/a", "a".getBytes(UTF_8), OPEN, CreateMode.PERSISTENT),
                Op.create(p + "/s-", NONE, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
                Op.setData(p, "root".getBytes(UTF_8), 0),
                Op.check(p, 1)));
        Support.check(ok.get(0) instanceof OpResult.CreateResult
                && ((OpResult.CreateResult) ok.get(0)).getPath().equals(p + "/a"), "create result " + ok.get(0));
        Support.check(((OpResult.CreateResult) ok.get(1)).getPath().equals(p + "/s-0000000001"),
                "sequential result " + ((OpResult.CreateResult) ok.get(1)).getPath());
        Support.check(((OpResult.SetDataResult) ok.get(2)).getStat().getVersion() == 1, "setData stat");
        Support.check(ok.get(3) instanceof OpResult.CheckResult, "check result " + ok.get(3));
        Stat a = zk.exists(p + "/a", false);
        Stat root = zk.exists(p, false);
        Support.check(a.getCzxid() == root.getMzxid(), "a multi is one zxid");

        Events ev = new Events();
        zk.getData(p + "/a", ev, null);
        try {
            zk.multi(List.of(
                    Op.create(p + "/b", NONE, OPEN, CreateMode.PERSISTENT),
                    Op.setData(p + "/a", "x".getBytes(UTF_8), 9),
                    Op.delete(p + "/a", -1)));
            throw new Support.Failure("a failing multi committed");
        } catch (KeeperException.BadVersionException e) {
            int[] codes = codes(e.getResults());
            Support.check(Arrays.equals(codes, new int[] {0, KeeperException.Code.BADVERSION.intValue(),
                    KeeperException.Code.RUNTIMEINCONSISTENCY.intValue()}), "error codes " + Arrays.toString(codes));
        }
        Support.check(zk.exists(p + "/b", false) == null, "rolled-back create applied");
        Support.check(Arrays.equals(zk.getData(p + "/a", false, null), "a".getBytes(UTF_8)), "rolled-back data applied");
        ev.expectNone("a failed multi");

        // Through the Transaction builder and asynchronously.
        List<OpResult> tx = zk.transaction().delete(p + "/a", 0).create(p + "/a", "again".getBytes(UTF_8), OPEN,
                CreateMode.PERSISTENT).commit();
        Support.check(tx.size() == 2 && tx.get(0) instanceof OpResult.DeleteResult, "transaction " + tx);
        ev.expect(EventType.NodeDeleted, p + "/a");
        CountDownLatch done = new CountDownLatch(1);
        int[] asyncRc = {99};
        List<List<OpResult>> asyncResults = new ArrayList<>();
        zk.multi(List.of(Op.check(p + "/missing", -1), Op.create(p + "/z", NONE, OPEN, CreateMode.PERSISTENT)),
                (rc, path, ctx, results) -> {
                    asyncRc[0] = rc;
                    asyncResults.add(results);
                    done.countDown();
                }, null);
        Support.check(done.await(10, TimeUnit.SECONDS), "async multi never completed");
        Support.check(asyncRc[0] == KeeperException.Code.NONODE.intValue(), "async multi rc " + asyncRc[0]);
        int[] codes = codes(asyncResults.get(0));
        Support.check(Arrays.equals(codes, new int[] {KeeperException.Code.NONODE.intValue(),
                KeeperException.Code.RUNTIMEINCONSISTENCY.intValue()}), "async codes " + Arrays.toString(codes));

        // A read-only multi answers every op, even when one of them fails.
        List<OpResult> reads = zk.multi(List.of(Op.getData(p + "/a"), Op.getChildren(p), Op.getData(p + "/missing")));
        Support.check(reads.get(0) instanceof OpResult.GetDataResult
                && Arrays.equals(((OpResult.GetDataResult) reads.get(0)).getData(), "again".getBytes(UTF_8)),
                "multiRead getData " + reads.get(0));
        List<String> children = new ArrayList<>(((OpResult.GetChildrenResult) reads.get(1)).getChildren());
        Collections.sort(children);
        Support.check(children.equals(List.of("a", "s-0000000001")), "multiRead getChildren " + children);
        Support.check(reads.get(2) instanceof OpResult.ErrorResult
                && ((OpResult.ErrorResult) reads.get(2)).getErr() == KeeperException.Code.NONODE.intValue(),
                "multiRead missing node " + reads.get(2));
    }

    /**
     * Requests pipelined on one connection (to a follower) complete in order, and reads
     * see the same session's earlier writes.
     */
    static void pipelinedRequests() throws Exception {
        String p = Support.base("pipelined");
        ZooKeeper zk = Support.zk(Support.SERVERS[2]);
        mkdirs(zk, p);
        int rounds = 300;
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        List<String> problems = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch done = new CountDownLatch(rounds * 4);
        for (int i = 0; i < rounds; i++) {
            String path = p + "/n" + i;
            byte[] value = Integer.toString(i).getBytes(UTF_8);
            int me = i;
            zk.create(path, NONE, OPEN, CreateMode.PERSISTENT, (rc, pth, ctx, name) -> {
                order.add("c" + me);
                if (rc != 0) {
                    problems.add("create " + pth + " rc " + rc);
                }
                done.countDown();
            }, null);
            zk.setData(path, value, 0, (rc, pth, ctx, stat) -> {
                order.add("s" + me);
                if (rc != 0) {
                    problems.add("setData " + pth + " rc " + rc);
                }
                done.countDown();
            }, null);
            zk.getData(path, false, (rc, pth, ctx, data, stat) -> {
                order.add("g" + me);
                if (rc != 0 || !Arrays.equals(data, value) || stat.getVersion() != 1) {
                    problems.add("getData " + pth + " rc " + rc + " saw " + (data == null ? null : new String(data, UTF_8)));
                }
                done.countDown();
            }, null);
            zk.getChildren(p, false, (rc, pth, ctx, children) -> {
                order.add("l" + me);
                if (rc != 0 || children.size() != me + 1) {
                    problems.add("getChildren after create " + me + " saw " + (children == null ? null : children.size()));
                }
                done.countDown();
            }, null);
        }
        Support.check(done.await(60, TimeUnit.SECONDS), "pipelined requests did not complete");
        Support.check(problems.isEmpty(), problems.size() + " stale or failed: " + problems.subList(0, Math.min(5, problems.size())));
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < rounds; i++) {
            expected.addAll(List.of("c" + i, "s" + i, "g" + i, "l" + i));
        }
        Support.check(order.equals(expected), "replies out of order");
    }

    /**
     * Every member holds the same znodes with identical Stat (zxids, times, versions) and
     * data; sync then read on another member sees an acknowledged write.
     */
    static void replicasAgree() throws Exception {
        String p = Support.base("replicas");
        ZooKeeper writer = Support.zk(Support.SERVERS[0]);
        mkdirs(writer, p);
        writer.create(p + "/a", "1".getBytes(UTF_8), OPEN, CreateMode.PERSISTENT);
        writer.create(p + "/a/b", NONE, OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        writer.setData(p + "/a", "2".getBytes(UTF_8), 0);
        writer.create(p + "/e", NONE, OPEN, CreateMode.EPHEMERAL);
        writer.delete(p + "/a/b0000000000", -1);
        writer.setACL(p + "/a", Ids.READ_ACL_UNSAFE, 0);
        List<String> views = new ArrayList<>();
        for (String server : Support.SERVERS) {
            ZooKeeper r = Support.zk(server);
            CountDownLatch synced = new CountDownLatch(1);
            r.sync(p, (rc, path, ctx) -> synced.countDown(), null);
            Support.check(synced.await(10, TimeUnit.SECONDS), "sync on " + server);
            StringBuilder view = new StringBuilder();
            for (String node : List.of(p, p + "/a", p + "/e")) {
                Stat st = new Stat();
                byte[] data = r.getData(node, false, st);
                view.append(node.substring(p.length())).append(' ').append(data == null ? "null" : new String(data, UTF_8))
                        .append(' ').append(st.toString().trim()).append(' ').append(r.getACL(node, new Stat())).append('\n');
            }
            views.add(view.toString());
        }
        Support.check(views.get(0).equals(views.get(1)) && views.get(1).equals(views.get(2)),
                "members disagree:\n" + String.join("----\n", views));
    }

    static void ephemeralsAndCounts() throws Exception {
        String p = Support.base("ephemerals");
        ZooKeeper zk = Support.zk(Support.SERVERS[1]);
        ZooKeeper other = Support.zk(Support.SERVERS[2]);
        mkdirs(zk, p + "/sub");
        zk.create(p + "/e1", NONE, OPEN, CreateMode.EPHEMERAL);
        zk.create(p + "/e2", NONE, OPEN, CreateMode.EPHEMERAL);
        zk.create(p + "/sub/e3", NONE, OPEN, CreateMode.EPHEMERAL);
        zk.create(p + "/q-", NONE, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
        other.create(p + "/theirs", NONE, OPEN, CreateMode.EPHEMERAL);
        List<String> mine = new ArrayList<>(zk.getEphemerals(p));
        Collections.sort(mine);
        Support.check(mine.equals(List.of(p + "/e1", p + "/e2", p + "/q-0000000003", p + "/sub/e3")),
                "getEphemerals(prefix) " + mine);
        List<String> byPrefix = new ArrayList<>(zk.getEphemerals(p + "/e"));
        Collections.sort(byPrefix);
        Support.check(byPrefix.equals(List.of(p + "/e1", p + "/e2")), "getEphemerals string prefix " + byPrefix);
        Support.check(zk.getEphemerals().containsAll(mine) && !zk.getEphemerals().contains(p + "/theirs"),
                "getEphemerals() " + zk.getEphemerals());
        Support.check(other.getEphemerals(p).equals(List.of(p + "/theirs")), "other's ephemerals " + other.getEphemerals(p));
        Support.sync(zk, p);
        int all = zk.getAllChildrenNumber(p);
        Support.check(all == 6, "getAllChildrenNumber " + all + " (expected 6)");
        Support.check(zk.getAllChildrenNumber(p + "/e1") == 0, "leaf count");
        try {
            zk.getAllChildrenNumber(p + "/missing");
            throw new Support.Failure("getAllChildrenNumber of a missing node succeeded");
        } catch (KeeperException.NoNodeException expected) {
            // ok
        }
    }

    static void digestAcl() throws Exception {
        String p = Support.base("acl");
        ZooKeeper owner = Support.zk(Support.SERVERS[0]);
        ZooKeeper anon = Support.zk(Support.SERVERS[1]);
        mkdirs(owner, p);
        owner.addAuthInfo("digest", "alice:secret".getBytes(UTF_8));
        String hash = DigestAuthenticationProvider.generateDigest("alice:secret");
        Id alice = new Id("digest", hash);
        List<ACL> aliceAll = Arrays.asList(new ACL(Perms.ALL, alice));
        List<ACL> aliceAllWorldRead = Arrays.asList(new ACL(Perms.ALL, alice), new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE));

        owner.create(p + "/private", "secret".getBytes(UTF_8), aliceAll, CreateMode.PERSISTENT);
        owner.create(p + "/shared", "public".getBytes(UTF_8), aliceAllWorldRead, CreateMode.PERSISTENT);
        Support.sync(anon, p);
        Support.check(anon.exists(p + "/private", false) != null, "exists needs no permission");
        expectCode(KeeperException.Code.NOAUTH, () -> anon.getData(p + "/private", false, null), "anon getData private");
        expectCode(KeeperException.Code.NOAUTH, () -> anon.getACL(p + "/private", new Stat()), "anon getACL private");
        expectCode(KeeperException.Code.NOAUTH, () -> anon.setData(p + "/private", NONE, 999),
                "anon setData with a bad version (ACL is checked before version)");
        expectCode(KeeperException.Code.NOAUTH, () -> anon.create(p + "/private/child", NONE, OPEN, CreateMode.PERSISTENT),
                "anon create under private");
        Support.check(new String(anon.getData(p + "/shared", false, null), UTF_8).equals("public"), "world read");
        expectCode(KeeperException.Code.NOAUTH, () -> anon.setData(p + "/shared", NONE, -1), "anon setData shared");
        List<ACL> seen = anon.getACL(p + "/shared", new Stat());
        Support.check(seen.size() == 2, "anon getACL shared " + seen);
        String shownId = seen.get(0).getId().getId();
        Support.check(!shownId.equals(hash), "digest hash shown to a caller without ADMIN: " + shownId);
        List<ACL> full = owner.getACL(p + "/shared", new Stat());
        Support.check(full.get(0).getId().getId().equals(hash), "owner sees digest " + full.get(0).getId());

        ZooKeeper wrong = Support.zk(Support.SERVERS[2]);
        Support.sync(wrong, p);
        wrong.addAuthInfo("digest", "alice:wrong".getBytes(UTF_8));
        expectCode(KeeperException.Code.NOAUTH, () -> wrong.getData(p + "/private", false, null), "wrong password");
        ZooKeeper right = Support.zk(Support.SERVERS[2]);
        right.addAuthInfo("digest", "alice:secret".getBytes(UTF_8));
        Support.check(new String(right.getData(p + "/private", false, null), UTF_8).equals("secret"), "right password");
        right.setData(p + "/private", "changed".getBytes(UTF_8), 0);

        owner.create(p + "/creator", NONE, Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        List<ACL> creatorAcl = owner.getACL(p + "/creator", new Stat());
        Support.check(creatorAcl.size() == 1 && creatorAcl.get(0).getId().equals(alice),
                "CREATOR_ALL_ACL expanded to " + creatorAcl);
        owner.create(p + "/auth", NONE, Arrays.asList(new ACL(Perms.ALL, new Id("auth", ""))), CreateMode.PERSISTENT);
        Support.check(owner.getACL(p + "/auth", new Stat()).get(0).getId().equals(alice), "auth scheme expansion");
        expectCode(KeeperException.Code.INVALIDACL, () -> anon.create(p + "/anon-creator", NONE, Ids.CREATOR_ALL_ACL,
                CreateMode.PERSISTENT), "CREATOR_ALL_ACL without an identity");

        Stat stat = new Stat();
        owner.getACL(p + "/private", stat);
        expectCode(KeeperException.Code.BADVERSION, () -> owner.setACL(p + "/private", OPEN, stat.getAversion() + 5),
                "setACL with a wrong aversion");
        Stat after = owner.setACL(p + "/private", OPEN, stat.getAversion());
        Support.check(after.getAversion() == stat.getAversion() + 1, "aversion " + after.getAversion());
        Support.sync(anon, p);
        anon.setData(p + "/private", "open now".getBytes(UTF_8), -1);
        expectCode(KeeperException.Code.NOAUTH, () -> anon.setACL(p + "/shared", OPEN, -1), "anon setACL");
        // Delete is checked against the parent's ACL.
        owner.create(p + "/parent", NONE, Arrays.asList(new ACL(Perms.ALL & ~Perms.DELETE, Ids.ANYONE_ID_UNSAFE),
                new ACL(Perms.ALL, alice)), CreateMode.PERSISTENT);
        Support.sync(anon, p);
        anon.create(p + "/parent/child", NONE, OPEN, CreateMode.PERSISTENT);
        expectCode(KeeperException.Code.NOAUTH, () -> anon.delete(p + "/parent/child", -1), "delete without DELETE on parent");
        Support.sync(owner, p);
        owner.delete(p + "/parent/child", -1);
    }

    interface Call {
        void run() throws Exception;
    }

    static void expectCode(KeeperException.Code code, Call call, String what) throws Exception {
        try {
            call.run();
        } catch (KeeperException e) {
            Support.check(e.code() == code, what + ": got " + e.code() + ", expected " + code);
            return;
        }
        throw new Support.Failure(what + ": succeeded, expected " + code);
    }

    static void createModes() throws Exception {
        String p = Support.base("create-modes");
        ZooKeeper zk = Support.zk(Support.CONNECT);
        mkdirs(zk, p);
        Stat stat = new Stat();
        String seq = zk.create(p + "/s-", NONE, OPEN, CreateMode.PERSISTENT_SEQUENTIAL, stat);
        Support.check(seq.equals(p + "/s-0000000000") && stat.getCzxid() > 0, "create2 " + seq + " " + stat);
        zk.delete(seq, -1);
        String seq2 = zk.create(p + "/s-", NONE, OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        Support.check(seq2.equals(p + "/s-0000000001"), "deletes do not reuse sequence numbers: " + seq2);
        Stat parent = zk.exists(p, false);
        Support.check(parent.getCversion() == 3, "parent cversion counts creates and deletes: " + parent.getCversion());
        Stat cstat = new Stat();
        zk.create(p + "/container", NONE, OPEN, CreateMode.CONTAINER, cstat);
        Support.check(cstat.getEphemeralOwner() == 0, "container ephemeralOwner " + cstat.getEphemeralOwner());
        Stat tstat = new Stat();
        zk.create(p + "/ttl", NONE, OPEN, CreateMode.PERSISTENT_WITH_TTL, tstat, 60_000);
        Support.check(tstat.getEphemeralOwner() == 0, "ttl ephemeralOwner shown as " + tstat.getEphemeralOwner());
        zk.create(p + "/null", null, OPEN, CreateMode.PERSISTENT);
        zk.create(p + "/empty", NONE, OPEN, CreateMode.PERSISTENT);
        Support.check(zk.getData(p + "/null", false, null) == null, "null data did not round-trip");
        byte[] empty = zk.getData(p + "/empty", false, null);
        Support.check(empty != null && empty.length == 0, "empty data did not round-trip");
        expectCode(KeeperException.Code.NODEEXISTS, () -> zk.create(p + "/empty", NONE, OPEN, CreateMode.PERSISTENT), "dup");
        expectCode(KeeperException.Code.NONODE, () -> zk.create(p + "/no/such", NONE, OPEN, CreateMode.PERSISTENT),
                "missing parent");
        expectCode(KeeperException.Code.NOCHILDRENFOREPHEMERALS, () -> {
            zk.create(p + "/eph", NONE, OPEN, CreateMode.EPHEMERAL);
            zk.create(p + "/eph/child", NONE, OPEN, CreateMode.PERSISTENT);
        }, "child of an ephemeral");
        expectCode(KeeperException.Code.NOTEMPTY, () -> zk.delete(p, -1), "delete non-empty");
    }

    /** Containers that had a child and are empty again, and expired TTL nodes, are reaped. */
    static void containerAndTtlReaping() throws Exception {
        String p = Support.base("reaping");
        ZooKeeper zk = Support.zk(Support.CONNECT);
        mkdirs(zk, p);
        zk.create(p + "/never-used", NONE, OPEN, CreateMode.CONTAINER);
        zk.create(p + "/used", NONE, OPEN, CreateMode.CONTAINER);
        zk.create(p + "/used/child", NONE, OPEN, CreateMode.PERSISTENT);
        zk.create(p + "/ttl", NONE, OPEN, CreateMode.PERSISTENT_WITH_TTL, null, 500);
        zk.create(p + "/ttl-parent", NONE, OPEN, CreateMode.PERSISTENT_WITH_TTL, null, 500);
        zk.create(p + "/ttl-parent/child", NONE, OPEN, CreateMode.PERSISTENT);
        zk.create(p + "/ttl-seq-", NONE, OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, null, 500);
        zk.delete(p + "/used/child", -1);
        Support.waitUntil(() -> zk.exists(p + "/used", false) == null, 20_000, "the emptied container to be reaped");
        Support.waitUntil(() -> zk.exists(p + "/ttl", false) == null, 20_000, "the expired TTL node to be reaped");
        Support.waitUntil(() -> zk.getChildren(p, false).stream().noneMatch(c -> c.startsWith("ttl-seq-")), 20_000,
                "the expired sequential TTL node to be reaped");
        Support.check(zk.exists(p + "/never-used", false) != null, "a container that never had a child was reaped");
        Support.check(zk.exists(p + "/ttl-parent", false) != null, "a TTL node with a child was reaped");
        zk.delete(p + "/ttl-parent/child", -1);
        Support.waitUntil(() -> zk.exists(p + "/ttl-parent", false) == null, 20_000, "the TTL node to go once childless");
    }

    static String srvr(String hostPort) {
        String[] hp = hostPort.split(":");
        try (Socket s = new Socket(hp[0], Integer.parseInt(hp[1]))) {
            s.setSoTimeout(3000);
            OutputStream out = s.getOutputStream();
            out.write("srvr".getBytes(UTF_8));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), UTF_8);
        } catch (Exception e) {
            return "down: " + e;
        }
    }

    static void maxBuffer() throws Exception {
        String p = Support.base("max-buffer");
        List<KeeperState> states = new CopyOnWriteArrayList<>();
        String server = Support.SERVERS[1];
        ZooKeeper zk = Support.zk(server, e -> states.add(e.getState()));
        mkdirs(zk, p);
        zk.create(p + "/marker", NONE, OPEN, CreateMode.EPHEMERAL);
        long session = zk.getSessionId();

        byte[] big = new byte[1024 * 1024 - 1024];
        Arrays.fill(big, (byte) 'x');
        zk.create(p + "/big", big, OPEN, CreateMode.PERSISTENT);
        byte[] back = zk.getData(p + "/big", false, null);
        Support.check(back != null && Arrays.equals(back, big), "1 MiB - 1 KiB did not round-trip");
        ZooKeeper reader = Support.zk(Support.SERVERS[2]);
        reader.sync(p + "/big", (rc, path, ctx) -> {}, null);
        Support.check(reader.getData(p + "/big", false, null).length == big.length, "big node on another member");

        byte[] huge = new byte[1024 * 1024 + 16];
        try {
            zk.create(p + "/huge", huge, OPEN, CreateMode.PERSISTENT);
            throw new Support.Failure("a frame over jute.maxbuffer was accepted");
        } catch (KeeperException.ConnectionLossException expected) {
            // the server drops the connection
        }
        Support.waitUntil(() -> states.contains(KeeperState.Disconnected), 10_000, "the client to see Disconnected");
        Support.waitUntil(() -> zk.exists(p + "/marker", false) != null, 20_000, "the session to come back");
        Support.check(zk.getSessionId() == session, "session changed after the oversized frame");
        Support.check(!states.contains(KeeperState.Expired), "session expired");
        Support.check(zk.exists(p + "/huge", false) == null, "oversized node was created");
        for (String s : Support.SERVERS) {
            String text = srvr(s);
            Support.check(text.contains("Mode: leader") || text.contains("Mode: follower"), "member " + s + ": " + text);
        }
        zk.delete(p + "/big", -1);
    }
}
