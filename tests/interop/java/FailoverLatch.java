import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooKeeper;

/**
 * The Curator side of the failover scenario, one JVM:
 *
 * <ul>
 *   <li>three LeaderLatch participants on one latch path: "holder" talks only to member
 *       HOLDER and starts first, so it holds the latch; "pinned" talks only to member
 *       PINNED; "roamer" may use any member (failover.sh picks HOLDER and PINNED so that
 *       one of them is the member it kills);
 *   <li>a monitor that every 2 ms counts participants with hasLeadership() — more than one
 *       at any moment is a violation;
 *   <li>a writer (plain ZooKeeper client, any member) creating one node every 10 ms and
 *       logging each acknowledged create to ACKS as "seq issuedMs ackedMs";
 *   <li>after the kill (run.sh writes the kill time, epoch ms, to KILLFILE) a confirmer
 *       that measures when a participant holding leadership is confirmed by the cluster
 *       (sync, then its latch node is the first child).
 * </ul>
 *
 * Usage: FailoverLatch BASEPATH HOLDER PINNED ACKS KILLFILE STOPFILE. Prints READY once
 * the holder leads and writes flow; after STOPFILE appears prints RESULT lines and exits 0,
 * or 1 with "REASON: …" if leadership was ever observed twice at once.
 */
public final class FailoverLatch {
    private FailoverLatch() {}

    static final List<String> events = new CopyOnWriteArrayList<>();

    static void event(String what) {
        events.add(System.currentTimeMillis() + " " + what);
        System.out.println("EVENT " + System.currentTimeMillis() + " " + what);
    }

    static long readKillTime(Path killFile) {
        try {
            return Long.parseLong(Files.readString(killFile, StandardCharsets.UTF_8).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    public static void main(String[] args) throws Exception {
        String base = args[0];
        int holderMember = Integer.parseInt(args[1]);
        int pinnedMember = Integer.parseInt(args[2]);
        Path acks = Path.of(args[3]);
        Path killFile = Path.of(args[4]);
        Path stopFile = Path.of(args[5]);
        String latchPath = base + "/latch";
        String writesPath = base + "/writes";

        String[] names = {"holder", "pinned", "roamer"};
        String[] connects = {Support.SERVERS[holderMember - 1], Support.SERVERS[pinnedMember - 1], Support.CONNECT};
        List<CuratorFramework> clients = new ArrayList<>();
        List<LeaderLatch> latches = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            CuratorFramework c = Support.curator(connects[i]);
            int index = i;
            c.getConnectionStateListenable().addListener((client, state) -> event("state " + names[index] + " " + state));
            clients.add(c);
            String name = names[i];
            LeaderLatch latch = new LeaderLatch(c, latchPath, name);
            latch.addListener(new LeaderLatchListener() {
                @Override
                public void isLeader() {
                    event("isLeader " + name);
                }

                @Override
                public void notLeader() {
                    event("notLeader " + name);
                }
            });
            latches.add(latch);
            latch.start();
            if (i == 0) {
                Support.check(latch.await(20, TimeUnit.SECONDS), "holder never became leader");
            }
        }
        Support.waitUntil(() -> latches.get(0).getParticipants().size() == 3, 20_000, "three latch participants");

        int[] violations = {0};
        String[] firstViolation = {null};
        Thread monitor = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                List<String> leaders = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    if (latches.get(i).hasLeadership()) {
                        leaders.add(names[i]);
                    }
                }
                if (leaders.size() > 1) {
                    violations[0]++;
                    if (firstViolation[0] == null) {
                        firstViolation[0] = System.currentTimeMillis() + " " + leaders;
                    }
                }
                try {
                    Thread.sleep(2);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        monitor.setDaemon(true);
        monitor.start();

        clients.get(0).create().creatingParentsIfNeeded().forPath(writesPath);
        ZooKeeper writer = Support.zk(Support.CONNECT);
        long[] acked = {0};
        long[] failed = {0};
        Thread writes = new Thread(() -> {
            try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(acks, StandardCharsets.UTF_8), true)) {
                for (long seq = 0; !Thread.currentThread().isInterrupted(); seq++) {
                    long issued = System.currentTimeMillis();
                    try {
                        writer.create(String.format("%s/w-%08d", writesPath, seq), Long.toString(seq).getBytes(StandardCharsets.UTF_8),
                                Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
                        out.println(seq + " " + issued + " " + System.currentTimeMillis());
                        acked[0]++;
                        Thread.sleep(10);
                    } catch (KeeperException e) {
                        failed[0]++;
                        event("write " + seq + " issued " + issued + " failed " + e.code());
                        Thread.sleep(10);
                    }
                }
            } catch (InterruptedException e) {
                // stop
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        writes.start();
        Support.waitUntil(() -> acked[0] >= 20, 20_000, "the writer to get going");
        System.out.println("READY");

        // After the kill: when is the latch leadership confirmed by the cluster again?
        long killedAt;
        while ((killedAt = readKillTime(killFile)) < 0 && !Files.exists(stopFile)) {
            Thread.sleep(5);
        }
        long confirmedAt = -1;
        String confirmedBy = null;
        while (confirmedAt < 0 && !Files.exists(stopFile)) {
            for (int i = 0; i < 3 && confirmedAt < 0; i++) {
                LeaderLatch latch = latches.get(i);
                if (!latch.hasLeadership()) {
                    continue;
                }
                try {
                    ZooKeeper zk = clients.get(i).getZookeeperClient().getZooKeeper();
                    zk.sync(latchPath, (rc, path, ctx) -> {}, null);
                    List<String> children = zk.getChildren(latchPath, false);
                    children.sort(Comparator.comparing(s -> s.substring(s.length() - 10)));
                    String ours = latch.getOurPath();
                    if (latch.hasLeadership() && ours != null && !children.isEmpty()
                            && ours.endsWith("/" + children.get(0))) {
                        confirmedAt = System.currentTimeMillis();
                        confirmedBy = names[i];
                        System.out.println("CONFIRMED " + confirmedAt + " " + confirmedBy);
                    }
                } catch (Exception e) {
                    // not yet
                }
            }
            Thread.sleep(10);
        }
        while (!Files.exists(stopFile)) {
            Thread.sleep(20);
        }
        writes.interrupt();
        writes.join(20_000);
        monitor.interrupt();

        long firstAckAfterKill = -1;
        for (String line : Files.readAllLines(acks, StandardCharsets.UTF_8)) {
            String[] f = line.split(" ");
            if (Long.parseLong(f[1]) > killedAt) {
                firstAckAfterKill = Long.parseLong(f[2]);
                break;
            }
        }
        long newLeaderAt = -1;
        String newLeader = null;
        for (String e : events) {
            String[] f = e.split(" ");
            if (Long.parseLong(f[0]) > killedAt && f[1].equals("isLeader") && newLeaderAt < 0) {
                newLeaderAt = Long.parseLong(f[0]);
                newLeader = f[2];
            }
        }
        System.out.println("RESULT acked=" + acked[0] + " failed=" + failed[0]);
        System.out.println("RESULT write=" + (firstAckAfterKill < 0 ? "never" : (firstAckAfterKill - killedAt) + " ms"));
        System.out.println("RESULT latch_confirmed=" + (confirmedAt < 0 ? "never" : (confirmedAt - killedAt) + " ms (" + confirmedBy + ")"));
        System.out.println("RESULT latch_regained=" + (newLeaderAt < 0 ? "never lost" : (newLeaderAt - killedAt) + " ms (" + newLeader + ")"));
        System.out.println("RESULT violations=" + violations[0] + (firstViolation[0] == null ? "" : " first at " + firstViolation[0]));
        for (LeaderLatch l : latches) {
            try {
                l.close();
            } catch (Exception e) {
                // closing
            }
        }
        writer.close();
        for (CuratorFramework c : clients) {
            c.close();
        }
        if (violations[0] > 0) {
            System.out.println("REASON: two latch leaders at once (" + firstViolation[0] + ")");
            System.exit(1);
        }
        if (firstAckAfterKill < 0) {
            System.out.println("REASON: no write succeeded after the kill");
            System.exit(1);
        }
        if (confirmedAt < 0) {
            System.out.println("REASON: no latch leader confirmed after the kill");
            System.exit(1);
        }
        System.exit(0);
    }
}
