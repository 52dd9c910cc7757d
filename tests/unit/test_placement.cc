// Placement on a fake machine: attribution in the heat model, the uffd_sync
// tracker's budget and rotation on a fake backend, and the migrator's rules
// (hysteresis, cool-down and bounces, rate limit, room, explicit policy,
// failure storms) on a fake move_pages and fake topology.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "../../allocator/hs_registry.h"
#include "../../common/hs_counters.h"
#include "../../common/hs_log.h"
#include "../../track/hs_heat.h"
#include "../../place/hs_migrate.h"
#include "../../track/hs_tracker.h"

namespace {

const uintptr_t M = 1 << 20;

void reset_counters()
{
    for (int i = 0; i < HS_CTR_COUNT; i++)
        hs_counter_set(static_cast<hs_counter_id_t>(i), 0);
}

struct Unit2M {
    hs_heat_region_t r;
    std::vector<uint64_t> mem;
    explicit Unit2M(size_t units) : mem(hs_heat_metadata_bytes(units * 2 * M, 21) / 8 + 1, 0)
    {
        hs_heat_region_init(&r, 0, units * 2 * M, 21, mem.data());
    }
    void write(size_t unit, int node) { hs_heat_mark_written(&r, unit * 2 * M, unit * 2 * M + 1, node); }
};

}  // namespace

// ---- attribution -------------------------------------------------------------

TEST(Attribution, OneWriterNodeIsTheAccessorFromTheFirstEpoch)
{
    Unit2M h(1);
    hs_heat_config_t c = {50, 50};
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), -1);  // no samples yet: unknown
    h.write(0, 1);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), 1);
    for (int e = 0; e < 5; e++) {
        h.write(0, 1);
        hs_heat_end_epoch(&h.r, &c);
    }
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), 1);
}

TEST(Attribution, TwoNodesTakingTurnsAreSharedNeverDominant)
{
    Unit2M h(1);
    hs_heat_config_t c = {50, 50};
    // With few samples one node can hold a majority for an epoch; once the
    // vote has settled, turn-taking never gives one node more than 2/3 (and
    // the migrator's streak of writes from one node keeps such a unit still).
    for (int e = 0; e < 40; e++) {
        h.write(0, e % 2);
        hs_heat_end_epoch(&h.r, &c);
        EXPECT_EQ(hs_heat_last_writer(&h.r, 0), e % 2);
        if (e >= 6) {
            EXPECT_EQ(hs_heat_accessor(&h.r, 0), -2) << "epoch " << e;
        }
    }
}

TEST(Attribution, AWriterThatMovesIsFollowedWithinTwoEpochs)
{
    Unit2M h(1);
    hs_heat_config_t c = {50, 50};
    for (int e = 0; e < 20; e++) {
        h.write(0, 0);
        hs_heat_end_epoch(&h.r, &c);
    }
    int epochs = 0;
    while (hs_heat_accessor(&h.r, 0) != 1 && epochs < 20) {
        h.write(0, 1);
        hs_heat_end_epoch(&h.r, &c);
        epochs++;
    }
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), 1);
    EXPECT_EQ(epochs, 2) << "one sample from elsewhere must not flip a long-standing accessor, two do";
}

TEST(Attribution, UnobservedUnitsKeepTheirHeatAndVote)
{
    Unit2M h(2);
    hs_heat_config_t c = {50, 50};
    h.write(0, 1);
    h.write(1, 1);
    hs_heat_end_epoch(&h.r, &c);
    uint8_t heat = h.r.heat[1];
    hs_heat_observe(&h.r, 1, false);
    for (int e = 0; e < 5; e++)
        hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(h.r.heat[1], heat) << "a unit nobody watched must not cool";
    EXPECT_EQ(hs_heat_accessor(&h.r, 1), 1);
    EXPECT_LT(h.r.heat[0], heat) << "a watched, unwritten unit cools";
}

TEST(Attribution, BaseUnitsCarryNoAttributionAndStaySmall)
{
    EXPECT_LE(hs_heat_metadata_bytes(1ULL << 30, 12) * 1000, 1ULL << 30);
    std::vector<uint64_t> mem(hs_heat_metadata_bytes(64 * 4096, 12) / 8 + 1);
    hs_heat_region_t r;
    hs_heat_region_init(&r, 0, 64 * 4096, 12, mem.data());
    EXPECT_EQ(r.node, nullptr);
    EXPECT_EQ(hs_heat_accessor(&r, 0), -1);
}

// ---- the migrator on a fake kernel ---------------------------------------------

namespace {

struct FakeNuma {
    std::map<uintptr_t, int> where;       // unit -> node
    std::map<uintptr_t, int> fail;        // unit -> -errno on move
    std::map<int, int64_t> room;          // node -> bytes, absent: plenty
    std::set<uintptr_t> explicit_policy;  // units under mbind
    std::vector<std::vector<uintptr_t>> calls;
    int moves = 0;
};
FakeNuma *fn;

long fake_move_pages(void *, unsigned long n, void **pages, const int *nodes, int *status)
{
    if (nodes)
        fn->calls.emplace_back();
    for (unsigned long i = 0; i < n; i++) {
        uintptr_t a = reinterpret_cast<uintptr_t>(pages[i]);
        if (!nodes) {
            status[i] = fn->where.count(a) ? fn->where[a] : -EFAULT;
            continue;
        }
        fn->calls.back().push_back(a);
        if (fn->fail.count(a)) {
            status[i] = fn->fail[a];
            continue;
        }
        fn->where[a] = nodes[i];
        status[i] = nodes[i];
        fn->moves++;
    }
    return 0;
}

int64_t fake_room(void *, int node, hs_os_kind_t) { return fn->room.count(node) ? fn->room[node] : -1; }

int fake_policy(void *, uintptr_t addr, bool *out)
{
    *out = fn->explicit_policy.count(addr) > 0;
    return 0;
}

class Migrator : public ::testing::Test {
protected:
    FakeNuma numa;
    hs_migrate_config_t config = {2, 2, 1ULL << 30, 1000000000ULL, 4, 0};
    void SetUp() override
    {
        fn = &numa;
        hs_log_set_level(-1);
        reset_counters();
        hs_migrate_reset_for_tests();
    }
    void start()
    {
        hs_migrate_ops_t ops = {fake_move_pages, fake_room, fake_policy, nullptr};
        ASSERT_EQ(hs_migrate_init(&config, &ops), 0);
    }
    // n THP units at 1 GiB + 2 MiB * i, placed on node `on`, written from `wanted`.
    std::vector<hs_hot_unit_t> units(size_t n, int on, int wanted)
    {
        std::vector<hs_hot_unit_t> u;
        for (size_t i = 0; i < n; i++) {
            uintptr_t a = (1ULL << 30) + i * 2 * M;
            numa.where[a] = on;
            hs_hot_unit_t unit = {};
            unit.addr = a;
            unit.bytes = static_cast<uint32_t>(2 * M);
            unit.kind = HS_OS_KIND_THP;
            unit.wanted = unit.writer = static_cast<int8_t>(wanted);
            unit.now = -1;
            u.push_back(unit);
        }
        return u;
    }
};

}  // namespace

TEST_F(Migrator, MovesOnlyAfterTheUnitWasRemoteForMinEpochs)
{
    start();
    auto u = units(8, 0, 1);
    hs_migrate_epoch(1, u.data(), u.size());
    EXPECT_EQ(numa.moves, 0) << "one epoch remote is not enough";
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_HELD_HYSTERESIS), 8u);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_HOT_BYTES_LOCAL), 0u);
    hs_migrate_epoch(2, u.data(), u.size());
    EXPECT_EQ(numa.moves, 8);
    for (auto &x : u)
        EXPECT_EQ(numa.where[x.addr], 1);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_MOVED_THP_PAGES), 8u);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_MOVED_THP_BYTES), 16 * M);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_HOT_BYTES_LOCAL), 16 * M);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_HOT_BYTES_KNOWN), 16 * M);
    EXPECT_EQ(hs_migrate_hot_bytes_on(1), 16 * M);
    EXPECT_EQ(hs_migrate_hot_bytes_on(0), 0u);
    // One call for all eight: batched per destination.
    EXPECT_EQ(numa.calls.size(), 1u);
    hs_migrate_epoch(3, u.data(), u.size());
    EXPECT_EQ(numa.moves, 8) << "local units stay";
}

TEST_F(Migrator, LocalUnitsAreNeverMoved)
{
    start();
    auto u = units(4, 1, 1);
    for (uint64_t e = 1; e <= 5; e++)
        hs_migrate_epoch(e, u.data(), u.size());
    EXPECT_EQ(numa.moves, 0);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_HOT_BYTES_LOCAL), 8 * M);
}

TEST_F(Migrator, AUnitWrittenFromAlternatingNodesMovesABoundedNumberOfTimes)
{
    start();
    auto u = units(1, 0, 1);
    // The accessor flips every 2 epochs for 200 epochs: without cool-down and
    // backoff that would be ~100 moves.
    for (uint64_t e = 1; e <= 200; e++) {
        u[0].wanted = u[0].writer = static_cast<int8_t>((e / 2) % 2 ? 0 : 1);
        hs_migrate_epoch(e, u.data(), u.size());
    }
    EXPECT_LE(numa.moves, 12) << "ping-pong";
    EXPECT_GE(numa.moves, 2);
    EXPECT_GE(hs_counter_get(HS_CTR_MIG_BOUNCES), 1u);
    EXPECT_GT(hs_counter_get(HS_CTR_MIG_HELD_FROZEN), 0u);
}

TEST_F(Migrator, RateLimitHoldsBytesBackAndCountsThem)
{
    config.rate_bytes_per_s = 4 * M;  // two THPs per one-second epoch
    start();
    auto u = units(10, 0, 1);
    hs_migrate_epoch(1, u.data(), u.size());
    hs_migrate_epoch(2, u.data(), u.size());
    EXPECT_EQ(numa.moves, 2);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_HELD_RATE_BYTES), 8 * 2 * M);
    for (uint64_t e = 3; e <= 6; e++)
        hs_migrate_epoch(e, u.data(), u.size());
    EXPECT_EQ(numa.moves, 10) << "the rest follow at the rate";
}

TEST_F(Migrator, AFullNodeIsNotChosen)
{
    numa.room[1] = 3 * M;  // room for one THP only
    start();
    auto u = units(4, 0, 1);
    hs_migrate_epoch(1, u.data(), u.size());
    hs_migrate_epoch(2, u.data(), u.size());
    EXPECT_EQ(numa.moves, 1);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_NO_ROOM), 3u);
}

TEST_F(Migrator, ExplicitMemoryPolicyIsRespected)
{
    start();
    auto u = units(4, 0, 1);
    numa.explicit_policy.insert(u[1].addr);
    numa.explicit_policy.insert(u[2].addr);
    for (uint64_t e = 1; e <= 4; e++)
        hs_migrate_epoch(e, u.data(), u.size());
    EXPECT_EQ(numa.where[u[1].addr], 0);
    EXPECT_EQ(numa.where[u[2].addr], 0);
    EXPECT_EQ(numa.where[u[0].addr], 1);
    EXPECT_EQ(numa.where[u[3].addr], 1);
    EXPECT_GE(hs_counter_get(HS_CTR_MIG_POLICY_RESPECTED), 2u);
}

TEST_F(Migrator, AStormOfEnomemHalvesTheRateAndCountsByErrno)
{
    start();
    auto u = units(8, 0, 1);
    for (auto &x : u)
        numa.fail[x.addr] = -ENOMEM;
    numa.fail[u[0].addr] = -EBUSY;
    hs_migrate_epoch(1, u.data(), u.size());
    hs_migrate_epoch(2, u.data(), u.size());
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_FAIL_ENOMEM), 7u);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_FAIL_EBUSY), 1u);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_RATE_CUTS), 1u);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_RATE_NOW), config.rate_bytes_per_s / 2);
    numa.fail.clear();
    for (uint64_t e = 3; e <= 20; e++)
        hs_migrate_epoch(e, u.data(), u.size());
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_RATE_NOW), config.rate_bytes_per_s) << "clean epochs restore the rate";
}

TEST_F(Migrator, AMajorityAloneDoesNotMoveAUnitWithoutWritesFromThatNode)
{
    start();
    auto u = units(1, 0, 1);
    // The vote says node 1, but this epoch's writers alternate: no streak.
    for (uint64_t e = 1; e <= 10; e++) {
        u[0].writer = static_cast<int8_t>(e % 2);
        hs_migrate_epoch(e, u.data(), u.size());
    }
    EXPECT_EQ(numa.moves, 0);
    // Two epochs of writes from node 1 in a row: it moves.
    u[0].writer = 1;
    hs_migrate_epoch(11, u.data(), u.size());
    hs_migrate_epoch(12, u.data(), u.size());
    EXPECT_EQ(numa.moves, 1);
}

TEST_F(Migrator, EachCallIsBoundedInBytes)
{
    config.call_max_bytes = 8 * M;  // four THPs per call
    start();
    auto u = units(10, 0, 1);
    hs_migrate_epoch(1, u.data(), u.size());
    hs_migrate_epoch(2, u.data(), u.size());
    EXPECT_EQ(numa.moves, 10);
    ASSERT_EQ(numa.calls.size(), 3u);
    for (auto &c : numa.calls)
        EXPECT_LE(c.size(), 4u);
}

// ---- the tracker with a fake uffd_sync backend and placement ---------------------

namespace {

struct FakeSync {
    std::vector<std::pair<uintptr_t, size_t>> watched, protected_ranges;
    std::vector<hs_os_wp_fault_t> faults;
    std::map<int, int> tid_node;
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
int fs_node(void *, int tid, uint64_t) { return fs->tid_node.count(tid) ? fs->tid_node[tid] : -1; }
uint64_t fs_now(void *) { return 0; }
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
    void start(unsigned budget, bool placement)
    {
        hs_heat_config_t heat = {50, 50};
        hs_track_choice_t choice = {};
        choice.by_kind[HS_OS_KIND_THP] = &fake_sync_ops;
        hs_tracker_env_t env = {};
        env.now_ns = fs_now;
        env.node_of_thread = fs_node;
        ASSERT_EQ(hs_tracker_init(&choice, &heat, budget, &env), 0);
        if (placement) {
            hs_migrate_config_t mc = {2, 2, 1ULL << 30, 1000000000ULL, 4, 0};
            hs_migrate_ops_t mops = {fake_move_pages, fake_room, fake_policy, nullptr};
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
    void write(uintptr_t unit, int tid) { sync.faults.push_back({unit, tid}); }
};

}  // namespace

TEST_F(SyncTracker, ArmsWholeAlignedUnitsAndRotatesColdOnesWithinTheBudget)
{
    start(10, false);
    hs_registry_add(64 * M, 100 * 2 * M + 4096, HS_OS_KIND_THP, HS_ORIGIN_HEAP);  // 100 units and a tail
    hs_tracker_epoch();
    ASSERT_EQ(sync.watched.size(), 1u);
    EXPECT_EQ(sync.watched[0].first, 64 * M);
    EXPECT_EQ(sync.watched[0].second, 100 * 2 * M) << "only whole 2 MiB units are registered";
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

TEST_F(SyncTracker, PlacementMovesAUnitToItsWritersNodeAfterTwoEpochsAndNoColdUnit)
{
    start(64, true);
    sync.tid_node[7] = 1;
    hs_registry_add(64 * M, 16 * 2 * M, HS_OS_KIND_THP, HS_ORIGIN_HEAP);
    for (uintptr_t a = 64 * M; a < 64 * M + 32 * M; a += 2 * M)
        numa.where[a] = 0;
    uintptr_t hot1 = 64 * M + 2 * 2 * M, hot2 = 64 * M + 9 * 2 * M;
    hs_tracker_epoch();  // arms
    write(hot1, 7);
    write(hot2, 7);
    hs_tracker_epoch();  // epoch 1 with writes: hot, remote once
    EXPECT_EQ(numa.moves, 0);
    write(hot1, 7);
    write(hot2, 7);
    hs_tracker_epoch();  // remote twice: moved
    EXPECT_EQ(numa.where[hot1], 1);
    EXPECT_EQ(numa.where[hot2], 1);
    EXPECT_EQ(numa.moves, 2) << "no cold unit moves";
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_HOT_BYTES_LOCAL), 4 * M);
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
    hs_heat_config_t heat = {50, 50};
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
