import static java.nio.charset.StandardCharsets.UTF_8;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.atomic.PromotedToLock;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.x.discovery.ServiceCache;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceProvider;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.apache.curator.x.discovery.details.ServiceCacheListener;
import org.apache.curator.x.discovery.strategies.RoundRobinStrategy;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.data.Stat;

/** Curator 5.4 recipes (Debian libcurator-*-java) against the ensemble. */
public final class CuratorScenarios {
    private CuratorScenarios() {}

    public static void main(String[] args) {
        Map<String, Support.Scenario> t = Support.table();
        t.put("leader_selector", CuratorScenarios::leaderSelector);
        t.put("leader_latch", CuratorScenarios::leaderLatch);
        t.put("mutex", CuratorScenarios::mutex);
        t.put("read_write_lock", CuratorScenarios::readWriteLock);
        t.put("semaphore_v2", CuratorScenarios::semaphore);
        t.put("barriers", CuratorScenarios::barriers);
        t.put("shared_count", CuratorScenarios::sharedCount);
        t.put("atomic_long", CuratorScenarios::atomicLong);
        t.put("curator_cache", CuratorScenarios::curatorCache);
        t.put("persistent_node", CuratorScenarios::persistentNode);
        t.put("service_discovery", CuratorScenarios::serviceDiscovery);
        t.put("transactions", CuratorScenarios::transactions);
        t.put("ensemble_config", CuratorScenarios::ensembleConfig);
        Support.main(args, t);
    }

    static List<CuratorFramework> clients(int n) throws InterruptedException {
        List<CuratorFramework> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            // Spread the clients over the members: client i talks to member i % 3 only.
            out.add(Support.curator(Support.SERVERS[i % Support.SERVERS.length]));
        }
        return out;
    }

    static void leaderSelector() throws Exception {
        String path = Support.base("selector");
        List<CuratorFramework> cs = clients(3);
        Support.Exclusive section = new Support.Exclusive();
        Map<String, AtomicInteger> terms = new ConcurrentHashMap<>();
        List<LeaderSelector> selectors = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String id = "s" + i;
            terms.put(id, new AtomicInteger());
            LeaderSelector selector = new LeaderSelector(cs.get(i), path, new LeaderSelectorListenerAdapter() {
                @Override
                public void takeLeadership(CuratorFramework client) throws Exception {
                    section.enter();
                    try {
                        terms.get(id).incrementAndGet();
                        Thread.sleep(150);
                    } finally {
                        section.leave();
                    }
                }
            });
            selector.setId(id);
            selector.autoRequeue();
            selectors.add(Support.closeLater(selector));
        }
        selectors.forEach(LeaderSelector::start);
        Support.waitUntil(() -> terms.values().stream().allMatch(c -> c.get() >= 2), 30_000,
                "every selector to lead twice");
        // Selectors re-queue after each term, so catch a moment when all three are queued.
        Support.waitUntil(() -> selectors.get(0).getParticipants().size() == 3, 10_000, "three participants");
        for (int i = 0; i < 20; i++) {
            Collection<Participant> participants = selectors.get(i % 3).getParticipants();
            Support.check(participants.stream().filter(Participant::isLeader).count() <= 1,
                    "more than one participant marked leader: " + participants);
        }
        Support.check(section.maxInside() == 1, section.maxInside() + " leaders at once");
    }

    static void leaderLatch() throws Exception {
        String path = Support.base("latch");
        List<CuratorFramework> cs = clients(3);
        List<LeaderLatch> latches = new ArrayList<>();
        List<String> events = new CopyOnWriteArrayList<>();
        for (int i = 0; i < 3; i++) {
            String id = "l" + i;
            LeaderLatch latch = new LeaderLatch(cs.get(i), path, id);
            latch.addListener(new LeaderLatchListener() {
                @Override
                public void isLeader() {
                    events.add("+" + id);
                }

                @Override
                public void notLeader() {
                    events.add("-" + id);
                }
            });
            latches.add(latch);
            latch.start();
            // Join one at a time, so that the queue order is the start order.
            int joined = i + 1;
            Support.waitUntil(() -> latch.getParticipants().size() == joined, 20_000, joined + " participants");
        }
        Support.check(latches.get(0).await(20, TimeUnit.SECONDS), "first latch never became leader");
        for (int round = 0; round < 3; round++) {
            List<LeaderLatch> leaders = latches.stream().filter(LeaderLatch::hasLeadership).collect(Collectors.toList());
            Support.check(leaders.size() == 1, "leaders in round " + round + ": " + leaders.size());
            LeaderLatch leader = leaders.get(0);
            String leaderId = leader.getId();
            for (LeaderLatch l : latches) {
                Support.waitUntil(() -> l.getLeader().getId().equals(leaderId), 10_000, "everyone to agree on leader " + leaderId);
            }
            leader.close(LeaderLatch.CloseMode.NOTIFY_LEADER);
            latches.remove(leader);
            if (!latches.isEmpty()) {
                Support.waitUntil(() -> latches.stream().filter(LeaderLatch::hasLeadership).count() == 1, 20_000,
                        "a new leader after " + leaderId + " closed");
            }
        }
        List<String> gained = events.stream().filter(e -> e.startsWith("+")).collect(Collectors.toList());
        Support.check(gained.equals(List.of("+l0", "+l1", "+l2")), "leadership went " + events + " (expected join order)");
        Support.check(events.size() == 6, "listener events " + events);
    }

    static void mutex() throws Exception {
        String path = Support.base("mutex");
        List<CuratorFramework> cs = clients(3);
        String counter = path + "-counter";
        cs.get(0).create().creatingParentsIfNeeded().forPath(counter, "0".getBytes(UTF_8));
        Support.Exclusive section = new Support.Exclusive();
        List<Support.Scenario> workers = new ArrayList<>();
        for (CuratorFramework c : cs) {
            workers.add(() -> {
                InterProcessMutex lock = new InterProcessMutex(c, path);
                for (int r = 0; r < 15; r++) {
                    lock.acquire();
                    try {
                        section.enter();
                        int v = Integer.parseInt(new String(c.getData().forPath(counter), UTF_8));
                        c.setData().forPath(counter, Integer.toString(v + 1).getBytes(UTF_8));
                        section.leave();
                    } finally {
                        lock.release();
                    }
                }
            });
        }
        Support.parallel(60_000, workers);
        Support.check(section.maxInside() == 1, section.maxInside() + " holders at once");
        Support.sync(cs.get(0), counter);
        int value = Integer.parseInt(new String(cs.get(0).getData().forPath(counter), UTF_8));
        Support.check(value == 45, "counter " + value + " != 45: lost updates under the mutex");

        InterProcessMutex a = new InterProcessMutex(cs.get(0), path);
        InterProcessMutex b = new InterProcessMutex(cs.get(1), path);
        a.acquire();
        Support.check(a.acquire(1, TimeUnit.SECONDS), "re-entrant acquire failed");
        Support.check(a.getParticipantNodes().size() == 1, "participants " + a.getParticipantNodes());
        Support.check(!b.acquire(300, TimeUnit.MILLISECONDS), "second process acquired a held mutex");
        a.release();
        Support.check(!b.acquire(300, TimeUnit.MILLISECONDS), "released once of twice, yet acquired");
        a.release();
        Support.check(b.acquire(10, TimeUnit.SECONDS), "mutex not passed on");
        b.release();
    }

    static void readWriteLock() throws Exception {
        String path = Support.base("rwlock");
        List<CuratorFramework> cs = clients(3);
        InterProcessReadWriteLock l0 = new InterProcessReadWriteLock(cs.get(0), path);
        InterProcessReadWriteLock l1 = new InterProcessReadWriteLock(cs.get(1), path);
        InterProcessReadWriteLock l2 = new InterProcessReadWriteLock(cs.get(2), path);
        Support.check(l0.readLock().acquire(10, TimeUnit.SECONDS), "reader 0 blocked");
        Support.check(l1.readLock().acquire(10, TimeUnit.SECONDS), "reader 1 blocked by a reader");
        Support.check(!l2.writeLock().acquire(300, TimeUnit.MILLISECONDS), "writer acquired while readers hold");
        CountDownLatch writing = new CountDownLatch(1);
        CountDownLatch releaseWrite = new CountDownLatch(1);
        Thread writer = new Thread(() -> {
            try {
                if (l2.writeLock().acquire(20, TimeUnit.SECONDS)) {
                    writing.countDown();
                    releaseWrite.await(20, TimeUnit.SECONDS);
                    l2.writeLock().release();
                }
            } catch (Exception e) {
                // reported as a missing countDown
            }
        });
        writer.start();
        l0.readLock().release();
        Support.check(!writing.await(300, TimeUnit.MILLISECONDS), "writer acquired while a reader holds");
        l1.readLock().release();
        Support.check(writing.await(10, TimeUnit.SECONDS), "writer never acquired");
        Support.check(!l0.readLock().acquire(300, TimeUnit.MILLISECONDS), "reader acquired while writer holds");
        releaseWrite.countDown();
        writer.join();
        Support.check(l0.readLock().acquire(10, TimeUnit.SECONDS), "reader blocked after writer released");
        l0.readLock().release();
        // The write-lock holder (same thread) may take the read lock: a downgrade.
        l2.writeLock().acquire();
        Support.check(l2.readLock().acquire(1, TimeUnit.SECONDS), "writer could not downgrade to read");
        l2.writeLock().release();
        Support.check(!l1.writeLock().acquire(300, TimeUnit.MILLISECONDS), "writer acquired beside a reader");
        Support.check(l0.readLock().acquire(10, TimeUnit.SECONDS), "reader blocked beside a downgraded reader");
        l0.readLock().release();
        l2.readLock().release();
    }

    static void semaphore() throws Exception {
        String path = Support.base("semaphore");
        List<CuratorFramework> cs = clients(4);
        Support.Exclusive section = new Support.Exclusive();
        List<Support.Scenario> workers = new ArrayList<>();
        for (CuratorFramework c : cs) {
            workers.add(() -> {
                InterProcessSemaphoreV2 sem = new InterProcessSemaphoreV2(c, path, 2);
                for (int r = 0; r < 4; r++) {
                    Lease lease = sem.acquire();
                    section.enter();
                    Thread.sleep(40);
                    section.leave();
                    sem.returnLease(lease);
                }
            });
        }
        Support.parallel(60_000, workers);
        Support.check(section.maxInside() == 2, "max concurrent holders " + section.maxInside() + " (limit 2)");
        InterProcessSemaphoreV2 s0 = new InterProcessSemaphoreV2(cs.get(0), path, 2);
        InterProcessSemaphoreV2 s1 = new InterProcessSemaphoreV2(cs.get(1), path, 2);
        Collection<Lease> two = s0.acquire(2, 10, TimeUnit.SECONDS);
        Support.check(two != null && two.size() == 2, "could not take both leases");
        Support.sync(cs.get(1), path);
        Support.check(s1.getParticipantNodes().size() == 2, "participants " + s1.getParticipantNodes());
        Support.check(s1.acquire(300, TimeUnit.MILLISECONDS) == null, "third lease granted");
        s0.returnAll(two);
        Lease lease = s1.acquire(10, TimeUnit.SECONDS);
        Support.check(lease != null, "lease not granted after return");
        s1.returnLease(lease);
    }

    static void barriers() throws Exception {
        String path = Support.base("barrier");
        List<CuratorFramework> cs = clients(3);
        new DistributedBarrier(cs.get(0), path).setBarrier();
        CountDownLatch passed = new CountDownLatch(2);
        for (int i = 1; i < 3; i++) {
            CuratorFramework c = cs.get(i);
            new Thread(() -> {
                try {
                    Support.sync(c, path);
                    if (new DistributedBarrier(c, path).waitOnBarrier(30, TimeUnit.SECONDS)) {
                        passed.countDown();
                    }
                } catch (Exception e) {
                    // a missing countDown reports it
                }
            }).start();
        }
        Support.check(!passed.await(500, TimeUnit.MILLISECONDS), "a waiter passed a standing barrier");
        new DistributedBarrier(cs.get(0), path).removeBarrier();
        Support.check(passed.await(10, TimeUnit.SECONDS), "waiters not released by removeBarrier");

        String dpath = Support.base("double-barrier");
        Map<String, Long> times = new ConcurrentHashMap<>();
        List<Support.Scenario> members = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            int me = i;
            CuratorFramework c = cs.get(i);
            members.add(() -> {
                DistributedDoubleBarrier b = new DistributedDoubleBarrier(c, dpath, 3);
                Thread.sleep(300L * me);
                times.put("enterCall" + me, System.nanoTime());
                Support.check(b.enter(20, TimeUnit.SECONDS), "enter timed out for " + me);
                times.put("enterDone" + me, System.nanoTime());
                Thread.sleep(300L * (2 - me));
                times.put("leaveCall" + me, System.nanoTime());
                Support.check(b.leave(20, TimeUnit.SECONDS), "leave timed out for " + me);
                times.put("leaveDone" + me, System.nanoTime());
            });
        }
        Support.parallel(60_000, members);
        long lastEnterCall = 0, firstEnterDone = Long.MAX_VALUE, lastLeaveCall = 0, firstLeaveDone = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            lastEnterCall = Math.max(lastEnterCall, times.get("enterCall" + i));
            firstEnterDone = Math.min(firstEnterDone, times.get("enterDone" + i));
            lastLeaveCall = Math.max(lastLeaveCall, times.get("leaveCall" + i));
            firstLeaveDone = Math.min(firstLeaveDone, times.get("leaveDone" + i));
        }
        Support.check(firstEnterDone >= lastEnterCall, "a member passed enter() before all arrived");
        Support.check(firstLeaveDone >= lastLeaveCall, "a member passed leave() before all left");
    }

    static void sharedCount() throws Exception {
        String path = Support.base("shared-count");
        List<CuratorFramework> cs = clients(2);
        SharedCount a = Support.closeLater(new SharedCount(cs.get(0), path, 7));
        SharedCount b = Support.closeLater(new SharedCount(cs.get(1), path, 99));
        List<Integer> seenByB = new CopyOnWriteArrayList<>();
        b.addListener(new SharedCountListener() {
            @Override
            public void countHasChanged(SharedCountReader reader, int newCount) {
                seenByB.add(newCount);
            }

            @Override
            public void stateChanged(CuratorFramework client, ConnectionState state) {}
        });
        a.start();
        b.start();
        Support.check(a.getCount() == 7 && b.getCount() == 7, "seed: " + a.getCount() + "/" + b.getCount());
        a.setCount(10);
        Support.waitUntil(() -> b.getCount() == 10, 10_000, "b to see 10");
        VersionedValue<Integer> stale = b.getVersionedValue();
        Support.check(b.trySetCount(stale, 11), "trySetCount with the current version failed");
        Support.check(!b.trySetCount(stale, 12), "trySetCount with a stale version succeeded");
        Support.waitUntil(() -> a.getCount() == 11, 10_000, "a to see 11");
        Support.check(seenByB.contains(10), "listener saw " + seenByB);
    }

    static void atomicLong() throws Exception {
        String path = Support.base("atomic-long");
        List<CuratorFramework> cs = clients(3);
        List<Support.Scenario> workers = new ArrayList<>();
        Set<Long> postValues = Collections.synchronizedSet(new HashSet<>());
        AtomicInteger failures = new AtomicInteger();
        for (CuratorFramework c : cs) {
            workers.add(() -> {
                DistributedAtomicLong n = new DistributedAtomicLong(c, path, new RetryNTimes(1000, 5),
                        PromotedToLock.builder().lockPath(path + "-lock").retryPolicy(new RetryNTimes(100, 10))
                                .timeout(10, TimeUnit.SECONDS).build());
                for (int r = 0; r < 20; r++) {
                    AtomicValue<Long> v = n.increment();
                    if (!v.succeeded() || !postValues.add(v.postValue())) {
                        failures.incrementAndGet();
                    }
                }
            });
        }
        Support.parallel(60_000, workers);
        Support.sync(cs.get(0), path);
        DistributedAtomicLong n = new DistributedAtomicLong(cs.get(0), path, new RetryNTimes(10, 10));
        Support.check(failures.get() == 0, failures.get() + " increments failed or repeated a value");
        Support.check(n.get().postValue() == 60, "value " + n.get().postValue() + " != 60");
        Support.check(n.compareAndSet(60L, 100L).succeeded(), "compareAndSet(60,100) failed");
        Support.check(!n.compareAndSet(60L, 5L).succeeded(), "compareAndSet with a stale value succeeded");
        AtomicValue<Long> added = n.add(-1L);
        Support.check(added.succeeded() && added.preValue() == 100 && added.postValue() == 99,
                "add(-1): " + added.preValue() + " -> " + added.postValue());
        DistributedAtomicLong fresh = new DistributedAtomicLong(cs.get(1), path + "-fresh", new RetryNTimes(10, 10));
        Support.check(fresh.initialize(42L), "initialize on a new node failed");
        Support.check(!fresh.initialize(1L), "initialize on an existing node succeeded");
    }

    static void curatorCache() throws Exception {
        String path = Support.base("cache");
        List<CuratorFramework> cs = clients(2);
        CuratorFramework writer = cs.get(1);
        writer.create().creatingParentsIfNeeded().forPath(path + "/pre", "p".getBytes(UTF_8));
        List<String> events = new CopyOnWriteArrayList<>();
        CountDownLatch initialized = new CountDownLatch(1);
        Support.sync(cs.get(0), path);
        CuratorCache cache = Support.closeLater(CuratorCache.build(cs.get(0), path));
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forAll((type, oldData, data) -> {
                    ChildData d = data != null ? data : oldData;
                    events.add(type + " " + d.getPath().substring(path.length()));
                })
                .forInitialized(initialized::countDown)
                .build());
        cache.start();
        Support.check(initialized.await(20, TimeUnit.SECONDS), "cache never initialized");
        Support.check(cache.get(path + "/pre").isPresent(), "initial child missing from cache");
        writer.create().forPath(path + "/a", "1".getBytes(UTF_8));
        writer.create().forPath(path + "/a/deep", "2".getBytes(UTF_8));
        // Let the cache see the first version, or it may load "1b" straight away and
        // (rightly) report no change.
        Support.waitUntil(() -> cache.get(path + "/a").isPresent() && cache.get(path + "/a/deep").isPresent(), 10_000,
                "cache to see the new nodes; events " + events);
        writer.setData().forPath(path + "/a", "1b".getBytes(UTF_8));
        writer.create().withMode(CreateMode.EPHEMERAL).forPath(path + "/eph", new byte[0]);
        writer.delete().forPath(path + "/pre");
        Support.waitUntil(() -> cache.get(path + "/a").map(c -> new String(c.getData(), UTF_8).equals("1b")).orElse(false)
                && cache.get(path + "/a/deep").isPresent() && cache.get(path + "/eph").isPresent()
                && cache.get(path + "/pre").isEmpty(), 10_000, "cache to catch up; events " + events);
        writer.delete().deletingChildrenIfNeeded().forPath(path + "/a");
        Support.waitUntil(() -> cache.get(path + "/a").isEmpty() && cache.get(path + "/a/deep").isEmpty(), 10_000,
                "cache to drop a deleted subtree; events " + events);
        // The cache updates its storage before it calls its listeners, so the last events
        // may still be on their way when the storage already shows the deletion.
        List<String> expected = List.of("NODE_CREATED /a", "NODE_CREATED /a/deep", "NODE_CHANGED /a",
                "NODE_CREATED /eph", "NODE_DELETED /pre", "NODE_DELETED /a/deep", "NODE_DELETED /a");
        Support.waitUntil(() -> events.containsAll(expected), 10_000,
                "the listener to see " + expected);
        Support.check(cache.size() == 2, "cache holds " + cache.stream().map(ChildData::getPath).collect(Collectors.toList()));
    }

    static void persistentNode() throws Exception {
        String path = Support.base("persistent-node") + "/member";
        List<CuratorFramework> cs = clients(2);
        PersistentNode node = new PersistentNode(cs.get(0), CreateMode.EPHEMERAL, false, path, "v1".getBytes(UTF_8));
        node.start();
        Support.check(node.waitForInitialCreate(20, TimeUnit.SECONDS), "node never created");
        CuratorFramework other = cs.get(1);
        Support.sync(other, path);
        Stat stat = other.checkExists().forPath(path);
        Support.check(stat != null && stat.getEphemeralOwner() == cs.get(0).getZookeeperClient().getZooKeeper().getSessionId(),
                "ephemeral owner mismatch: " + stat);
        other.delete().forPath(path);
        Support.waitUntil(() -> other.checkExists().forPath(path) != null, 10_000, "PersistentNode to recreate a deleted node");
        node.setData("v2".getBytes(UTF_8));
        Support.waitUntil(() -> new String(other.getData().forPath(path), UTF_8).equals("v2"), 10_000, "setData to reach the node");
        node.close();
        Support.check(other.checkExists().forPath(path) == null, "node survived close()");
    }

    /** The payload of a registered service instance (serialized by Jackson). */
    public static final class Details {
        private String region;

        public Details() {}

        Details(String region) {
            this.region = region;
        }

        public String getRegion() {
            return region;
        }

        public void setRegion(String region) {
            this.region = region;
        }
    }

    static ServiceDiscovery<Details> discovery(CuratorFramework client, String path, ServiceInstance<Details> me)
            throws Exception {
        ServiceDiscoveryBuilder<Details> b = ServiceDiscoveryBuilder.builder(Details.class)
                .client(client).basePath(path).serializer(new JsonInstanceSerializer<>(Details.class));
        if (me != null) {
            b.thisInstance(me);
        }
        ServiceDiscovery<Details> d = Support.closeLater(b.build());
        d.start();
        return d;
    }

    static void serviceDiscovery() throws Exception {
        String path = Support.base("discovery");
        List<CuratorFramework> cs = clients(3);
        ServiceInstance<Details> i1 = ServiceInstance.<Details>builder().name("api").address("10.0.0.1").port(8001)
                .payload(new Details("north")).build();
        ServiceInstance<Details> i2 = ServiceInstance.<Details>builder().name("api").address("10.0.0.2").port(8002)
                .payload(new Details("south")).build();
        discovery(cs.get(0), path, i1);
        ServiceDiscovery<Details> d2 = discovery(cs.get(1), path, i2);
        ServiceDiscovery<Details> client = discovery(cs.get(2), path, null);
        Support.sync(cs.get(2), path);
        Support.check(client.queryForNames().equals(List.of("api")), "names " + client.queryForNames());
        Collection<ServiceInstance<Details>> found = client.queryForInstances("api");
        Set<String> regions = found.stream().map(i -> i.getPayload().getRegion()).collect(Collectors.toSet());
        Support.check(regions.equals(Set.of("north", "south")), "instances " + regions);
        Support.check(client.queryForInstance("api", i1.getId()).getPort() == 8001, "queryForInstance");

        ServiceProvider<Details> provider = Support.closeLater(client.serviceProviderBuilder().serviceName("api")
                .providerStrategy(new RoundRobinStrategy<>()).build());
        provider.start();
        Set<String> picked = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            picked.add(provider.getInstance().getAddress());
        }
        Support.check(picked.size() == 2, "round robin picked " + picked);

        ServiceCache<Details> cache = Support.closeLater(client.serviceCacheBuilder().name("api").build());
        AtomicInteger changes = new AtomicInteger();
        cache.addListener(new ServiceCacheListener() {
            @Override
            public void cacheChanged() {
                changes.incrementAndGet();
            }

            @Override
            public void stateChanged(CuratorFramework c, ConnectionState s) {}
        });
        cache.start();
        Support.check(cache.getInstances().size() == 2, "cache " + cache.getInstances().size());
        d2.unregisterService(i2);
        Support.waitUntil(() -> cache.getInstances().size() == 1, 10_000, "service cache to drop an instance");
        // Curator runs cache listeners on its own executor, after the cache has changed.
        Support.waitUntil(() -> changes.get() >= 1, 10_000, "cacheChanged to be called");
        cs.get(0).close(); // i1's session ends: its ephemeral registration goes
        Support.waitUntil(() -> cache.getInstances().isEmpty(), 25_000, "instance of a closed client to vanish");
    }

    /**
     * Curator reads /zookeeper/config with a watch on connect and, if it names client
     * addresses, replaces its connect string with them: a client pinned to one member must
     * stay there (the failover scenarios rely on it), and the config must be readable.
     */
    static void ensembleConfig() throws Exception {
        CuratorFramework c = Support.curator(Support.SERVERS[2]);
        byte[] config = c.getConfig().forEnsemble();
        Support.check(config != null, "getConfig() returned null");
        Thread.sleep(1000);
        String now = c.getZookeeperClient().getCurrentConnectionString();
        Support.check(now.equals(Support.SERVERS[2]), "connect string changed to " + now + " after reading config "
                + new String(config, UTF_8).replace('\n', ' '));
        Support.check(c.checkExists().forPath("/zookeeper/config") != null, "/zookeeper/config missing");
    }

    static void transactions() throws Exception {
        String path = Support.base("txn");
        CuratorFramework c = clients(1).get(0);
        c.create().creatingParentsIfNeeded().forPath(path, "root".getBytes(UTF_8));
        List<CuratorOp> ops = List.of(
                c.transactionOp().create().forPath(path + "/a", "1".getBytes(UTF_8)),
                c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(path + "/s-", new byte[0]),
                c.transactionOp().setData().withVersion(0).forPath(path, "root2".getBytes(UTF_8)),
                c.transactionOp().check().withVersion(1).forPath(path));
        List<CuratorTransactionResult> results = c.transaction().forOperations(ops);
        Support.check(results.size() == 4, "results " + results.size());
        Support.check(results.get(0).getType() == OperationType.CREATE && results.get(0).getResultPath().equals(path + "/a"),
                "create result " + results.get(0).getResultPath());
        Support.check(results.get(1).getResultPath().equals(path + "/s-0000000001"), "sequential " + results.get(1).getResultPath());
        Support.check(results.get(2).getResultStat().getVersion() == 1, "setData stat version");
        Stat a = c.checkExists().forPath(path + "/a");
        Stat root = c.checkExists().forPath(path);
        Support.check(a.getCzxid() == root.getMzxid(), "a multi is one zxid");

        List<CuratorOp> failing = List.of(
                c.transactionOp().create().forPath(path + "/b", new byte[0]),
                c.transactionOp().delete().withVersion(5).forPath(path + "/a"),
                c.transactionOp().setData().forPath(path, "never".getBytes(UTF_8)));
        try {
            c.transaction().forOperations(failing);
            throw new Support.Failure("failing transaction committed");
        } catch (KeeperException.BadVersionException e) {
            List<OpResult> r = e.getResults();
            Support.check(r != null && r.size() == 3, "results on failure: " + r);
            int[] codes = r.stream().mapToInt(x -> ((OpResult.ErrorResult) x).getErr()).toArray();
            Support.check(codes[0] == 0 && codes[1] == KeeperException.Code.BADVERSION.intValue()
                    && codes[2] == KeeperException.Code.RUNTIMEINCONSISTENCY.intValue(),
                    "error codes " + java.util.Arrays.toString(codes));
        }
        Support.check(c.checkExists().forPath(path + "/b") == null, "rolled-back create applied");
        Support.check(new String(c.getData().forPath(path), UTF_8).equals("root2"), "rolled-back setData applied");
    }
}
