import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;

/**
 * Shared plumbing for the Java scenario programs: the ensemble's addresses (from the
 * environment run.sh sets), client factories that close everything at the end, checks,
 * and the main() that runs one named scenario and reports "REASON: …" on failure.
 */
final class Support {
    /** h:p,h:p,h:p — every member. */
    static final String CONNECT = System.getenv().getOrDefault("INTEROP_CONNECT", "127.0.0.1:2181");
    /** The members in order (member 1 first). */
    static final String[] SERVERS = System.getenv().getOrDefault("INTEROP_SERVERS", CONNECT).split(",");

    interface Scenario {
        void run() throws Exception;
    }

    static final class Failure extends RuntimeException {
        Failure(String message) {
            super(message);
        }
    }

    private static final List<AutoCloseable> OPEN = new ArrayList<>();

    private Support() {}

    static void check(boolean condition, String message) {
        if (!condition) {
            throw new Failure(message);
        }
    }

    /** A condition polled by waitUntil; an exception counts as "not yet". */
    interface Condition {
        boolean holds() throws Exception;
    }

    static void waitUntil(Condition condition, long timeoutMs, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        Exception last = null;
        while (System.currentTimeMillis() < deadline) {
            try {
                if (condition.holds()) {
                    return;
                }
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                last = e;
            }
            Thread.sleep(20);
        }
        throw new Failure("timed out after " + timeoutMs + " ms waiting for " + what
                + (last == null ? "" : " (last error: " + last + ")"));
    }

    /**
     * Waits until the client's member has applied every write acknowledged so far.
     * Without it a client of another member may read an older state (ZooKeeper's
     * sequential consistency is per session), and a watch set on that state fires for
     * the wrong event.
     */
    static void sync(ZooKeeper zk, String path) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        int[] rc = {-1};
        zk.sync(path, (code, p, ctx) -> {
            rc[0] = code;
            done.countDown();
        }, null);
        check(done.await(20, TimeUnit.SECONDS) && rc[0] == 0, "sync " + path + " failed (rc " + rc[0] + ")");
    }

    static void sync(CuratorFramework client, String path) throws Exception {
        sync(client.getZookeeperClient().getZooKeeper(), path);
    }

    /** A fresh path under /interop/java for one scenario. */
    static String base(String name) {
        return "/interop/java/" + name + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** Registers something to close when the scenario ends (in reverse order). */
    static <T extends AutoCloseable> T closeLater(T resource) {
        synchronized (OPEN) {
            OPEN.add(resource);
        }
        return resource;
    }

    /** A started Curator client; 20 s sessions (the ensemble's maximum). */
    static CuratorFramework curator() throws InterruptedException {
        return curator(CONNECT);
    }

    static CuratorFramework curator(String connect) throws InterruptedException {
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(20_000)
                .connectionTimeoutMs(15_000)
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1_000))
                .build();
        closeLater(client);
        client.start();
        check(client.blockUntilConnected(20, TimeUnit.SECONDS), "Curator did not connect to " + connect);
        return client;
    }

    /** A connected plain ZooKeeper client with a default watcher that ignores events. */
    static ZooKeeper zk(String connect) throws Exception {
        return zk(connect, event -> {});
    }

    static ZooKeeper zk(String connect, Watcher defaultWatcher) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper client = new ZooKeeper(connect, 10_000, event -> {
            if (event.getType() == Watcher.Event.EventType.None
                    && event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
            defaultWatcher.process(event);
        });
        closeLater(client::close);
        check(connected.await(20, TimeUnit.SECONDS), "ZooKeeper client did not connect to " + connect);
        return client;
    }

    /** Runs tasks in parallel threads and rethrows the first failure. */
    static void parallel(long timeoutMs, List<Scenario> tasks) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (Scenario task : tasks) {
                futures.add(pool.submit(() -> {
                    task.run();
                    return null;
                }));
            }
            long deadline = System.currentTimeMillis() + timeoutMs;
            for (Future<?> f : futures) {
                try {
                    f.get(Math.max(1, deadline - System.currentTimeMillis()), TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof Exception) {
                        throw (Exception) cause;
                    }
                    throw e;
                } catch (java.util.concurrent.TimeoutException e) {
                    throw new Failure("parallel tasks still running after " + timeoutMs + " ms");
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Counts holders inside a critical section. */
    static final class Exclusive {
        private int inside;
        private int maxInside;
        private int entries;

        synchronized void enter() {
            inside++;
            entries++;
            maxInside = Math.max(maxInside, inside);
        }

        synchronized void leave() {
            inside--;
        }

        synchronized int maxInside() {
            return maxInside;
        }

        synchronized int entries() {
            return entries;
        }
    }

    /**
     * Runs the scenario named by args[0] from the table (or lists the table for --list);
     * exits 0 on success, 1 with a last line "REASON: …" on failure.
     */
    static void main(String[] args, Map<String, Scenario> scenarios) {
        if (args.length == 1 && args[0].equals("--list")) {
            scenarios.keySet().forEach(System.out::println);
            System.exit(0);
        }
        Scenario scenario = args.length == 1 ? scenarios.get(args[0]) : null;
        if (scenario == null) {
            System.out.println("REASON: unknown scenario " + String.join(" ", args));
            System.exit(2);
        }
        int status = 0;
        try {
            scenario.run();
        } catch (Throwable e) {
            e.printStackTrace(System.out);
            System.out.println("REASON: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            status = 1;
        }
        List<AutoCloseable> open;
        synchronized (OPEN) {
            open = new ArrayList<>(OPEN);
        }
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.get(i).close();
            } catch (Exception e) {
                // Best-effort cleanup; the scenario's outcome is already decided.
            }
        }
        System.out.flush();
        System.exit(status);
    }

    static Map<String, Scenario> table() {
        return new LinkedHashMap<>();
    }
}
