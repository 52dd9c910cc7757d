// The tracker on fake backends and a fake clock: following the registry,
// the hot set, THP regions a backend would split, uffd_sync's whole units,
// budget and rotation and the writer's node, placement as a subscriber, and
// PAGEMAP_SCAN within the budget.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "../../allocator/hs_registry.h"
#include "../../common/hs_counters.h"
#include "../../common/hs_log.h"
#include "../../place/hs_migrate.h"
#include "../../track/hs_heat.h"
#include "../../track/hs_tracker.h"
#include "fakes.h"

// ---- the tracker with a fake backend -----------------------------------------

namespace {

struct FakeBackend {
    std::set<uintptr_t> armed;
    std::map<uintptr_t, std::vector<std::pair<uintptr_t, uintptr_t>>> writes;  // by region start
    int scans = 0, ends = 0;
    uint64_t now = 0;
};
FakeBackend *fb;

int fake_arm(void *, uintptr_t start, size_t) { fb->armed.insert(start); return 0; }
int fake_scan(void *, uintptr_t start, size_t, hs_os_range_fn written, void *arg)
{
    fb->scans++;
    for (auto &w : fb->writes[start])
        written(arg, w.first, w.second);
    fb->writes[start].clear();
    return 0;
}
int fake_end(void *) { fb->ends++; return 0; }
uint64_t fake_now(void *) { return fb->now += 1000; }

class Tracker : public ::testing::Test {
protected:
    FakeBackend backend;
    hs_track_backend_ops_t ops = {};
    void SetUp() override
    {
        fb = &backend;
        hs_log_set_level(-1);
        ASSERT_EQ(hs_registry_init(), 0);
        hs_registry_reset_for_tests();
        hs_tracker_reset_for_tests();
        for (int i = 0; i < HS_CTR_COUNT; i++)
            hs_counter_set(static_cast<hs_counter_id_t>(i), 0);
    }
    void start(bool arm_thp)
    {
        hs_heat_config_t heat = {50, 50, 0, 0};
        // A scanning backend that watches everything every epoch; THP
        // regions too when it keeps them whole (as soft-dirty does).
        ops = hs_track_backend_ops_t{};
        ops.name = "fake";
        ops.keeps_thp_whole = arm_thp;
        ops.watch = fake_arm;
        ops.scan = fake_scan;
        ops.end_epoch = fake_end;
        hs_track_choice_t choice = {};
        for (int k = 0; k < HS_OS_KIND_COUNT; k++)
            choice.by_kind[k] = k == HS_OS_KIND_THP && !arm_thp ? nullptr : &ops;
        hs_tracker_env_t env = {};
        env.now_ns = fake_now;
        ASSERT_EQ(hs_tracker_init(&choice, &heat, 2048, &env), 0);
    }
};

}  // namespace

TEST_F(Tracker, FollowsRegionsAndFindsTheHotSet)
{
    start(true);
    hs_registry_add(100 * M, 8 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);
    hs_registry_add(200 * M, 64 * 4096, HS_OS_KIND_BASE, HS_ORIGIN_MMAP);
    for (int epoch = 0; epoch < 3; epoch++) {
        backend.writes[100 * M] = {{102 * M + 5, 102 * M + 6}};
        backend.writes[200 * M] = {{200 * M + 4096 * 7, 200 * M + 4096 * 9}};
        hs_tracker_epoch();
    }
    EXPECT_EQ(backend.armed, (std::set<uintptr_t>{100 * M, 200 * M}));
    uintptr_t pairs[8];
    ASSERT_EQ(hs_tracker_hot_ranges(pairs, 4), 2u);
    EXPECT_EQ(pairs[0], 102 * M);
    EXPECT_EQ(pairs[1], 104 * M);
    EXPECT_EQ(pairs[2], 200 * M + 4096 * 7);
    EXPECT_EQ(pairs[3], 200 * M + 4096 * 9);
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_EPOCHS), 3u);
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_HOT_BYTES), 2 * M + 2 * 4096);
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_TRACKED_BYTES), 8 * M + 64 * 4096);
    EXPECT_EQ(backend.ends, 3);
    EXPECT_GT(hs_counter_get(HS_CTR_TRACK_SCAN_NS), 0u);
}

TEST_F(Tracker, UnmappedRegionIsNeverScannedAgain)
{
    start(true);
    hs_registry_add(100 * M, 4 * M, HS_OS_KIND_THP, HS_ORIGIN_MMAP);
    hs_tracker_epoch();
    EXPECT_EQ(backend.scans, 1);
    hs_registry_remove(100 * M, 4 * M);
    hs_tracker_epoch();
    EXPECT_EQ(backend.scans, 1);
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_TRACKED_BYTES), 0u);
}

TEST_F(Tracker, HeatSurvivesOtherRegionsChanging)
{
    start(true);
    hs_registry_add(100 * M, 4 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);
    backend.writes[100 * M] = {{100 * M, 100 * M + 1}};
    hs_tracker_epoch();
    hs_registry_add(300 * M, 4 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);  // the heap grows
    backend.writes[100 * M] = {{100 * M, 100 * M + 1}};
    hs_tracker_epoch();
    uintptr_t top[1];
    ASSERT_EQ(hs_tracker_top(1, top), 1u);
    EXPECT_EQ(top[0], 100 * M);
    uintptr_t pairs[4];
    ASSERT_EQ(hs_tracker_hot_ranges(pairs, 2), 1u);
    EXPECT_EQ(pairs[1], 102 * M);
}

TEST_F(Tracker, ThpRegionsAreLeftAloneWhenTheBackendWouldSplitThem)
{
    start(false);
    hs_registry_add(100 * M, 4 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);
    hs_registry_add(200 * M, 4 * M, HS_OS_KIND_HUGETLB_2M, HS_ORIGIN_HEAP);
    hs_tracker_epoch();
    EXPECT_EQ(backend.armed, (std::set<uintptr_t>{200 * M}));
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_UNWATCHED_THP_BYTES), 4 * M);
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_TRACKED_BYTES), 4 * M);
}

// ---- the tracker with a fake uffd_sync backend and placement ---------------------

namespace {

struct FakeSync {
    std::vector<std::pair<uintptr_t, size_t>> watched, protected_ranges;
    std::vector<hs_os_wp_fault_t> faults;
    std::map<int, int> tid_node;
    uint64_t also_busy = 0;  // nodes whose threads ran without writing
    uint64_t now = 0;        // the clock (0 throughout: no epoch ends early)
};
FakeSync *fs;

int fs_watch(void *, uintptr_t s, size_t l)
{
    fs->watched.push_back({s, l});
    return 0;
}
int fs_protect(void *, uintptr_t s, size_t l)
{
    fs->protected_ranges.push_back({s, l});
    return 0;
}
size_t fs_drain(void *, hs_os_wp_fault_t *out, size_t max)
{
    size_t n = std::min(max, fs->faults.size());
    std::copy(fs->faults.begin(), fs->faults.begin() + static_cast<long>(n), out);
    fs->faults.erase(fs->faults.begin(), fs->faults.begin() + static_cast<long>(n));
    return n;
}
void fs_peek(void *, void (*f)(void *, const hs_os_wp_fault_t *), void *arg)
{
    for (const auto &fault : fs->faults)
        f(arg, &fault);
}
int fs_node(void *, int tid, uint64_t) { return fs->tid_node.count(tid) ? fs->tid_node[tid] : -1; }
uint64_t fs_now(void *) { return fs->now; }
size_t fs_misplaced(void *, const uintptr_t *units, const int *nodes, size_t n)
{
    return hs_migrate_misplaced(units, nodes, n);
}
// The nodes that ran the program this epoch: those of the threads that
// wrote, and also_busy.
int fs_busy(void *, uint64_t *busy)
{
    *busy = fs->also_busy;
    for (const auto &f : fs->faults)
        if (fs->tid_node.count(static_cast<int>(f.tid)))
            *busy |= 1ULL << fs->tid_node[static_cast<int>(f.tid)];
    return -1;
}
// Watches whole 2 MiB units of THP regions, protects what the tracker
// chose, and reports writes as faults naming the writer, as uffd_sync does.
hs_track_backend_ops_t fake_sync_backend()
{
    hs_track_backend_ops_t b = {};
    b.name = "fake_sync";
    b.keeps_thp_whole = true;
    b.whole_units = true;
    b.budgeted = true;
    b.watch = fs_watch;
    b.protect = fs_protect;
    b.drain = fs_drain;
    b.peek = fs_peek;
    return b;
}
const hs_track_backend_ops_t fake_sync_ops = fake_sync_backend();

class SyncTracker : public ::testing::Test {
protected:
    FakeSync sync;
    FakeNuma numa;
    void SetUp() override
    {
        fs = &sync;
        fn = &numa;
        hs_log_set_level(-1);
        ASSERT_EQ(hs_registry_init(), 0);
        hs_registry_reset_for_tests();
        hs_tracker_reset_for_tests();
        hs_migrate_reset_for_tests();
        reset_counters();
    }
    void start(unsigned budget, bool placement, bool early = false)
    {
        hs_heat_config_t heat = {50, 50, 0, 0};
        hs_track_choice_t choice = {};
        choice.by_kind[HS_OS_KIND_THP] = &fake_sync_ops;
        hs_tracker_env_t env = {};
        env.now_ns = fs_now;
        env.node_of_thread = fs_node;
        env.busy_nodes = fs_busy;
        if (early)
            env.misplaced = fs_misplaced;
        ASSERT_EQ(hs_tracker_init(&choice, &heat, budget, &env), 0);
        if (placement) {
            hs_migrate_config_t mc = {2, 2, 1ULL << 30, 1000000000ULL, 4, 0};
            hs_migrate_ops_t mops = {fake_move_pages, fake_room, fake_policy, nullptr, fake_thp_splits, fake_mend};
            ASSERT_EQ(hs_migrate_init(&mc, &mops), 0);
            ASSERT_EQ(hs_tracker_subscribe(&hs_migrate_subscriber), 0);
        }
    }
    size_t protected_units() const
    {
        size_t n = 0;
        for (auto &p : sync.protected_ranges)
            n += p.second / (2 * M);
        return n;
    }
    // A THP heap of 16 units at 64 MiB, every unit on node 0.
    void heap_on_node0()
    {
        hs_registry_add(64 * M, 16 * 2 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);
        for (uintptr_t a = 64 * M; a < 64 * M + 32 * M; a += 2 * M)
            numa.where[a] = 0;
    }
    // A write-protect fault: always a write.
    void write(uintptr_t unit, int tid) { sync.faults.push_back({unit, tid, false, true}); }
    /* A read of a parked unit: a missing-page fault, not a write. */
    void read(uintptr_t unit, int tid) { sync.faults.push_back({unit, tid, true, false}); }
};

}  // namespace

TEST_F(SyncTracker, ArmsWholeAlignedUnitsAndRotatesColdOnesWithinTheBudget)
{
    start(10, false);
    hs_registry_add(64 * M, 100 * 2 * M + 4096, HS_OS_KIND_THP, HS_ORIGIN_HEAP);  // 100 units and a tail
    hs_tracker_epoch();
    ASSERT_EQ(sync.watched.size(), 1u);
    EXPECT_EQ(sync.watched[0].first, 64 * M);
    // The whole region is registered, so that the program's mapping stays one
    // VMA (a part registered would split it, and an mremap of the mapping
    // would fail with EFAULT); only whole 2 MiB units are ever protected.
    EXPECT_EQ(sync.watched[0].second, 100 * 2 * M + 4096) << "the whole region is registered";
    EXPECT_EQ(protected_units(), 10u);
    std::set<uintptr_t> seen;
    for (int e = 0; e < 10; e++) {
        sync.protected_ranges.clear();
        hs_tracker_epoch();
        EXPECT_EQ(protected_units(), 10u) << "epoch " << e;
        for (auto &p : sync.protected_ranges) {
            EXPECT_EQ(p.first % (2 * M), 0u);
            for (uintptr_t a = p.first; a < p.first + p.second; a += 2 * M)
                seen.insert(a);
        }
    }
    EXPECT_EQ(seen.size(), 100u) << "the rotation covers every unit";
    EXPECT_LE(hs_counter_get(HS_CTR_TRACK_SWEEP_EPOCHS), 11u);
    EXPECT_GE(hs_counter_get(HS_CTR_TRACK_SWEEP_EPOCHS), 9u);
}

TEST_F(SyncTracker, HotUnitsAreRearmedEveryEpochAndAttributedToTheirWriter)
{
    start(8, false);
    sync.tid_node[4242] = 1;
    hs_registry_add(64 * M, 64 * 2 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);
    uintptr_t hot = 64 * M + 5 * 2 * M;
    hs_tracker_epoch();  // arms the first 8 units (unit 5 among them)
    for (int e = 0; e < 12; e++) {
        sync.protected_ranges.clear();
        write(hot, 4242);
        hs_tracker_epoch();
        bool rearmed = false;
        for (auto &p : sync.protected_ranges)
            rearmed |= p.first <= hot && hot < p.first + p.second;
        EXPECT_TRUE(rearmed) << "epoch " << e << ": the hot unit must be watched every epoch";
        EXPECT_EQ(protected_units(), 8u);
    }
    uintptr_t pairs[4];
    ASSERT_EQ(hs_tracker_hot_ranges(pairs, 2), 1u);
    EXPECT_EQ(pairs[0], hot);
    EXPECT_EQ(pairs[1], hot + 2 * M);
}

// Units first seen written from node 1 (their first touch, on node 0, was
// never seen): one epoch of evidence moves them, and no cold unit.  Once
// moved, a unit needs the full streak: one epoch of another writer does not
// move it back.
TEST_F(SyncTracker, PlacementMovesAUnitFirstSeenRemoteAfterOneEpochAndNoColdUnit)
{
    start(64, true);
    sync.tid_node[7] = 1;
    sync.tid_node[8] = 0;
    heap_on_node0();
    uintptr_t hot1 = 64 * M + 2 * 2 * M, hot2 = 64 * M + 9 * 2 * M;
    hs_tracker_epoch();  // arms
    write(hot1, 7);
    write(hot2, 7);
    hs_tracker_epoch();  // the first samples, from node 1: moved
    EXPECT_EQ(numa.where[hot1], 1);
    EXPECT_EQ(numa.where[hot2], 1);
    EXPECT_EQ(numa.moves, 2) << "no cold unit moves";
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_HOT_BYTES_LOCAL), 4 * M);
    for (int e = 0; e < 2; e++) {
        write(hot1, 8);
        hs_tracker_epoch();
        EXPECT_EQ(numa.where[hot1], 1) << "epoch " << e << ": not yet a settled writer on node 0";
    }
}

// Units that were not hot, written from node 1 while they sit on node 0:
// once 8 of them are seen, no more than at the tick before, 300 ms or more
// into an epoch, the tick ends the epoch and placement moves them then.
// Never two short epochs in a row.
TEST_F(SyncTracker, AnEpochEndsEarlyWhenUnitsThatWereNotHotAreWrittenFromAnotherNode)
{
    start(64, true, true);
    sync.tid_node[7] = 1;
    heap_on_node0();
    hs_registry_add(128 * M, 16 * 2 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);
    for (uintptr_t a = 128 * M; a < 128 * M + 32 * M; a += 2 * M)
        numa.where[a] = 0;
    const uint64_t ms = 1000000;
    hs_tracker_epoch();  // arms; the window begins at 0
    for (int u = 0; u < 8; u++)
        write(64 * M + static_cast<uintptr_t>(u) * 2 * M, 7);
    sync.now = 100 * ms;
    EXPECT_FALSE(hs_tracker_tick(false)) << "before HS_EARLY_AFTER_NS";
    sync.now = 200 * ms;
    EXPECT_FALSE(hs_tracker_tick(false)) << "before HS_EARLY_AFTER_NS";
    for (int u = 8; u < 10; u++)
        write(64 * M + static_cast<uintptr_t>(u) * 2 * M, 7);
    sync.now = 300 * ms;
    EXPECT_FALSE(hs_tracker_tick(false)) << "8 then 10: the writers may not all have begun";
    for (int u = 0; u < 6; u++)  // parked again at the tick and read again: the same units
        read(64 * M + static_cast<uintptr_t>(u) * 2 * M, 7);
    sync.now = 400 * ms;
    EXPECT_FALSE(hs_tracker_tick(true)) << "the last tick: the epoch ends anyway";
    EXPECT_TRUE(hs_tracker_tick(false));
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_EARLY_EPOCHS), 1u);
    EXPECT_FALSE(hs_tracker_tick(false)) << "asked once";
    hs_tracker_epoch();
    for (int u = 0; u < 10; u++)
        EXPECT_EQ(numa.where[64 * M + static_cast<uintptr_t>(u) * 2 * M], 1) << "unit " << u;
    // The next epoch runs whole, whatever it sees.
    for (int u = 10; u < 16; u++)
        write(64 * M + static_cast<uintptr_t>(u) * 2 * M, 7);
    for (int u = 0; u < 4; u++)
        write(128 * M + static_cast<uintptr_t>(u) * 2 * M, 7);
    sync.now = 900 * ms;
    EXPECT_FALSE(hs_tracker_tick(false));
    sync.now = 1000 * ms;
    EXPECT_FALSE(hs_tracker_tick(false)) << "the epoch after a short one is whole";
    hs_tracker_epoch();
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_EARLY_EPOCHS), 1u);
}

// What does not end an epoch: fewer than 8 units, units written from their
// own node, units that were hot already (read from two nodes, they stay where
// they are and would end every other epoch), and no misplaced callback.
TEST_F(SyncTracker, AnEpochRunsWholeWhenNothingFoundWouldMove)
{
    start(64, true, true);
    sync.tid_node[7] = 1;
    sync.tid_node[8] = 0;
    heap_on_node0();
    const uint64_t ms = 1000000;
    hs_tracker_epoch();
    for (int u = 0; u < 7; u++)
        write(64 * M + static_cast<uintptr_t>(u) * 2 * M, 7);
    for (int u = 7; u < 16; u++)
        write(64 * M + static_cast<uintptr_t>(u) * 2 * M, 8);
    sync.now = 400 * ms;
    EXPECT_FALSE(hs_tracker_tick(false)) << "7 units from node 1, 9 from their own node";
    hs_tracker_epoch();  // units 0-6 move to node 1; every unit is hot now
    for (int u = 0; u < 16; u++)
        write(64 * M + static_cast<uintptr_t>(u) * 2 * M, u < 8 ? 8 : 7);
    sync.now = 800 * ms;
    EXPECT_FALSE(hs_tracker_tick(false)) << "hot units: a change of writer is the epoch's to judge";
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_EARLY_EPOCHS), 0u);
}

// The same read while a thread on node 0 runs too (and touches nothing
// here): one read sample from node 1 in an epoch may be chance (the sampler
// parks a read unit again at every tick), so the move waits for the streak.
// (Caught twice, it moves after one epoch: see
// AReadUnitMovesAfterOneEpochWhileTheOtherNodeTouchesNothing.)
TEST_F(SyncTracker, PlacementWaitsForTheStreakWhileAnotherNodeRunsTheProgram)
{
    start(64, true);
    sync.tid_node[7] = 1;
    sync.also_busy = 1u << 0;
    heap_on_node0();
    uintptr_t hot = 64 * M + 2 * 2 * M;
    hs_tracker_epoch();
    read(hot, 7);
    hs_tracker_epoch();
    EXPECT_EQ(numa.where[hot], 0) << "moved on one epoch of read samples while node 0 was busy too";
    read(hot, 7);
    hs_tracker_epoch();
    EXPECT_EQ(numa.where[hot], 1) << "the streak of two epochs";
    EXPECT_EQ(numa.moves, 1);
}

// The mixed program: a table read on node 1 while a thread on node 0 writes
// its own units.  The tracker counts each node's read and write samples:
// node 0 only wrote, so the table unit read twice from node 1 moves after
// one epoch.  Had node 0's thread read something too, it would wait.
TEST_F(SyncTracker, AReadUnitMovesAfterOneEpochWhileTheOtherNodeOnlyWrites)
{
    for (bool other_reads : {false, true}) {
        SCOPED_TRACE(other_reads);
        SetUp();
        start(64, true);
        sync.tid_node[7] = 1;
        sync.tid_node[8] = 0;
        heap_on_node0();
        uintptr_t table = 64 * M + 2 * 2 * M, buffer = 64 * M + 9 * 2 * M, other = 64 * M + 12 * 2 * M;
        hs_tracker_epoch();
        read(table, 7);
        read(table, 7);
        write(buffer, 8);
        if (other_reads) {
            read(other, 8);
            read(other, 8);
        }
        hs_tracker_epoch();
        EXPECT_EQ(numa.where[table], other_reads ? 0 : 1);
        EXPECT_EQ(numa.where[buffer], 0) << "written where it is";
        read(table, 7);
        read(table, 7);
        write(buffer, 8);
        hs_tracker_epoch();
        EXPECT_EQ(numa.where[table], 1) << "the streak of two epochs, in any case";
    }
}

// Node 0 runs the program too but touches no tracked memory (a thread that
// only watches or computes): it cannot be the table's other reader, so the
// table read twice from node 1 moves after one epoch.
TEST_F(SyncTracker, AReadUnitMovesAfterOneEpochWhileTheOtherNodeTouchesNothing)
{
    start(64, true);
    sync.tid_node[7] = 1;
    sync.also_busy = 1u << 0;
    heap_on_node0();
    uintptr_t table = 64 * M + 2 * 2 * M;
    hs_tracker_epoch();
    read(table, 7);
    read(table, 7);
    hs_tracker_epoch();
    EXPECT_EQ(numa.where[table], 1) << "node 0 ran and read nothing";
    EXPECT_EQ(numa.moves, 1);
}

// Written instead (one write-protect fault an epoch): the unit moves after
// one epoch while node 0 runs too.
TEST_F(SyncTracker, AWrittenUnitMovesAfterOneEpochWhileAnotherNodeRunsTheProgram)
{
    start(64, true);
    sync.tid_node[7] = 1;
    sync.also_busy = 1u << 0;
    heap_on_node0();
    uintptr_t hot = 64 * M + 2 * 2 * M;
    hs_tracker_epoch();
    write(hot, 7);
    hs_tracker_epoch();
    EXPECT_EQ(numa.where[hot], 1) << "a write sample after the first touch decides at once";
    EXPECT_EQ(numa.moves, 1);
}

TEST_F(SyncTracker, TwoThreadsOnTwoNodesEachGetTheirHalf)
{
    start(64, true);
    sync.tid_node[10] = 0;
    sync.tid_node[11] = 1;
    hs_registry_add(64 * M, 16 * 2 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);
    for (uintptr_t a = 64 * M; a < 64 * M + 32 * M; a += 2 * M)
        numa.where[a] = (a / (2 * M)) % 2;  // interleaved: half of each half is misplaced
    hs_tracker_epoch();
    for (int e = 0; e < 4; e++) {
        for (int u = 0; u < 16; u++)
            write(64 * M + static_cast<uintptr_t>(u) * 2 * M, u < 8 ? 10 : 11);
        hs_tracker_epoch();
    }
    for (int u = 0; u < 16; u++)
        EXPECT_EQ(numa.where[64 * M + static_cast<uintptr_t>(u) * 2 * M], u < 8 ? 0 : 1) << "unit " << u;
    EXPECT_EQ(numa.moves, 8);
}

TEST_F(SyncTracker, AUnitTwoNodesTakeTurnsWritingIsSharedAndStays)
{
    start(64, true);
    sync.tid_node[10] = 0;
    sync.tid_node[11] = 1;
    hs_registry_add(64 * M, 4 * 2 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);
    for (uintptr_t a = 64 * M; a < 64 * M + 8 * M; a += 2 * M)
        numa.where[a] = 0;
    hs_tracker_epoch();
    for (int e = 0; e < 30; e++) {
        write(64 * M, e % 2 ? 10 : 11);
        hs_tracker_epoch();
    }
    EXPECT_LE(numa.moves, 1) << "a shared unit stays where it is";
    EXPECT_EQ(hs_counter_get(HS_CTR_TRACK_SHARED_UNITS), 1u);
}

// ---- PAGEMAP_SCAN within the budget ----------------------------------------------

namespace {
std::vector<std::pair<uintptr_t, size_t>> *scanned;
int budget_arm(void *, uintptr_t, size_t) { return 0; }
int budget_scan(void *, uintptr_t s, size_t l, hs_os_range_fn written, void *arg)
{
    scanned->push_back({s, l});
    uintptr_t hot = 64 * M + 5 * 4096;  // unit 5 is written all the time
    if (s <= hot && hot < s + l)
        written(arg, hot, hot + 1);
    return 0;
}
int budget_end(void *) { return 0; }
}  // namespace

TEST(BudgetedScan, ScansHotUnitsAndARotationOfColdOnesWithinTheBudget)
{
    std::vector<std::pair<uintptr_t, size_t>> runs;
    scanned = &runs;
    hs_log_set_level(-1);
    ASSERT_EQ(hs_registry_init(), 0);
    hs_registry_reset_for_tests();
    hs_tracker_reset_for_tests();
    reset_counters();
    hs_heat_config_t heat = {50, 50, 0, 0};
    // Scans (and so re-arms) only what the tracker chose, as PAGEMAP_SCAN does.
    hs_track_backend_ops_t ops = {};
    ops.name = "fake_scan";
    ops.budgeted = true;
    ops.watch = budget_arm;
    ops.scan = budget_scan;
    ops.end_epoch = budget_end;
    hs_track_choice_t choice = {};
    choice.by_kind[HS_OS_KIND_HUGETLB_2M] = choice.by_kind[HS_OS_KIND_HUGETLB_1G] = choice.by_kind[HS_OS_KIND_BASE] = &ops;
    hs_tracker_env_t env = {};
    env.now_ns = fs_now;
    ASSERT_EQ(hs_tracker_init(&choice, &heat, 16, &env), 0);
    hs_registry_add(64 * M, 256 * 4096, HS_OS_KIND_BASE, HS_ORIGIN_MMAP);  // 256 units of 4 KiB
    hs_tracker_epoch();  // arms, and scans the new region whole once (nothing to re-arm yet)
    std::set<uintptr_t> seen;
    int hot_scanned = 0;
    for (int e = 0; e < 20; e++) {
        runs.clear();
        hs_tracker_epoch();
        size_t pages = 0;
        bool hot = false;
        for (auto &r : runs) {
            pages += r.second / 4096;
            for (uintptr_t a = r.first; a < r.first + r.second; a += 4096) {
                seen.insert(a);
                hot |= a == 64 * M + 5 * 4096;
            }
        }
        hot_scanned += hot;
        EXPECT_LE(pages, 16u) << "epoch " << e << ": more scanned (re-armed) than the budget";
    }
    EXPECT_EQ(seen.size(), 256u) << "the rotation covers every unit";
    EXPECT_EQ(hot_scanned, 20) << "the hot unit is watched every epoch";
}
