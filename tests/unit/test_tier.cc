// Tiering's rules on a fake machine: nodes 0 and 1 with CPUs (fast), node 2
// with memory only (slow).  Which nodes are fast and slow, promotion of hot
// units, demotion of idle ones to restore the watermark (the longest idle
// first, only on the sampler's evidence), rate limits, cool-down and moves
// back, room, explicit policies.
#include <gtest/gtest.h>

#include <vector>

#include "../../common/hs_counters.h"
#include "../../common/hs_log.h"
#include "../../place/hs_tier.h"
#include "../../track/hs_heat.h"
#include "fakes.h"

namespace {

// Free memory of a node: its capacity less the 2 MiB units on it.
std::map<int, int64_t> capacity;
int64_t fake_free(void *, int node)
{
    if (!capacity.count(node))
        return -1;
    int64_t used = 0;
    for (const auto &kv : fn->where)
        used += kv.second == node ? static_cast<int64_t>(2 * M) : 0;
    return capacity[node] - used;
}
// Free 2 MiB blocks of a node whose free memory lies in pieces: `blocks`
// at the start, and one more for each 2 MiB unit that left it since.
std::map<int, int64_t> blocks;
std::map<int, int64_t> units_at_start;
int64_t units_on(int node)
{
    int64_t n = 0;
    for (const auto &kv : fn->where)
        n += kv.second == node;
    return n;
}
// Hugetlb units: the pool's free pages (FakeNuma::room); others: free
// memory, and for a THP no more than the free 2 MiB blocks.
int64_t fake_tier_room(void *ctx, int node, hs_os_kind_t kind)
{
    bool hugetlb = kind == HS_OS_KIND_HUGETLB_2M || kind == HS_OS_KIND_HUGETLB_1G;
    if (hugetlb)
        return fake_room(ctx, node, kind);
    int64_t free_bytes = fake_free(ctx, node);
    if (kind == HS_OS_KIND_THP && blocks.count(node)) {
        int64_t b = blocks[node] + (units_at_start[node] - units_on(node)) * static_cast<int64_t>(2 * M);
        return b < free_bytes ? b : free_bytes;
    }
    return free_bytes;
}

hs_os_topology_t three_nodes()
{
    hs_os_topology_t t = {};
    t.nodes = 3;
    t.cpus = 4;
    t.nodes_with_cpus = 0x3;
    t.nodes_with_memory = 0x7;
    return t;
}

class Tiering : public ::testing::Test {
protected:
    FakeNuma numa;
    hs_tier_config_t config = {};
    std::vector<uint8_t> idle; // per unit of the region
    uintptr_t base = 1ULL << 30;
    void SetUp() override
    {
        fn = &numa;
        capacity.clear();
        blocks.clear();
        units_at_start.clear();
        hs_log_set_level(-1);
        reset_counters();
        hs_tier_reset_for_tests();
        char why[200];
        hs_os_topology_t t = three_nodes();
        int16_t tiers[HS_OS_MAX_NODES];
        std::fill(tiers, tiers + HS_OS_MAX_NODES, -1);
        tiers[0] = tiers[1] = 4;
        tiers[2] = 33;
        ASSERT_EQ(hs_tier_find_topology(&t, tiers, nullptr, &config.topo, why, sizeof why), 0) << why;
        config.node_bytes[0] = config.node_bytes[1] = 1000 * M; // watermark 5%: 50 MiB
        config.node_bytes[2] = 4000 * M;
        config.free_pct = 5;
        config.idle_epochs = 4;
        config.rate_bytes_per_s = 1ULL << 30;
        config.interval_ns = 1000000000ULL;
        config.demote = true;
    }
    void start()
    {
        hs_tier_ops_t ops = {fake_move_pages, fake_free,       fake_tier_room, fake_policy,
                             nullptr,         fake_thp_splits, fake_mend};
        ASSERT_EQ(hs_tier_init(&config, &ops), 0);
    }
    // The region of n units at base, each placed on `on`, idle bytes zero.
    void region(size_t n, int on)
    {
        idle.assign(n, 0);
        for (size_t i = 0; i < n; i++)
            numa.where[base + i * 2 * M] = on;
    }
    // Units [first, end) of the region placed on `node` instead.
    void place(size_t first, size_t end, int node)
    {
        for (size_t u = first; u < end; u++)
            numa.where[base + u * 2 * M] = node;
    }
    void set_idle(size_t unit, unsigned epochs, bool confirmed = true)
    {
        idle[unit] = static_cast<uint8_t>(epochs | (confirmed ? HS_HEAT_IDLE_CONFIRMED : 0));
    }
    hs_track_region_view_t view()
    {
        return {base, idle.size() * 2 * M, 21, HS_OS_KIND_THP, nullptr, idle.data()};
    }
    hs_hot_unit_t hot(size_t unit, int wanted)
    {
        hs_hot_unit_t u = {};
        u.addr = base + unit * 2 * M;
        u.bytes = static_cast<uint32_t>(2 * M);
        u.kind = HS_OS_KIND_THP;
        u.wanted = u.writer = static_cast<int8_t>(wanted);
        u.now = static_cast<int8_t>(numa.where[u.addr]);
        return u;
    }
    void epoch(uint64_t e, std::vector<hs_hot_unit_t> &units)
    {
        for (auto &u : units)
            u.now = static_cast<int8_t>(numa.where[u.addr]); // as placement's locate does
        auto v = view();
        hs_tier_epoch(e, units.data(), units.size(), &v, 1);
    }
    int on(size_t unit) { return numa.where[base + unit * 2 * M]; }
};

}  // namespace

TEST(TierTopology, FastAndSlowNodesFromTheKernelsTiersOrFromCpus)
{
    hs_os_topology_t t = three_nodes();
    hs_tier_topology_t topo;
    char why[200];
    int16_t tiers[HS_OS_MAX_NODES];
    std::fill(tiers, tiers + HS_OS_MAX_NODES, -1);
    tiers[0] = tiers[1] = 4;
    tiers[2] = 33;
    static uint8_t dist[HS_OS_MAX_NODES][HS_OS_MAX_NODES];
    uint8_t d[3][3] = {{10, 20, 30}, {20, 10, 17}, {30, 17, 10}};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            dist[a][b] = d[a][b];
    ASSERT_EQ(hs_tier_find_topology(&t, tiers, dist, &topo, why, sizeof why), 0);
    EXPECT_EQ(topo.fast, 0x3u);
    EXPECT_EQ(topo.slow, 0x4u);
    EXPECT_EQ(topo.down[0], 2);
    EXPECT_EQ(topo.down[1], 2);
    EXPECT_EQ(topo.up[2], 1) << "node 1 is nearer to node 2 (17 against 30)";
    EXPECT_EQ(topo.tier[2], 33);
    // Without the kernel's tiers: the node without CPUs is the slow one.
    ASSERT_EQ(hs_tier_find_topology(&t, nullptr, nullptr, &topo, why, sizeof why), 0);
    EXPECT_EQ(topo.slow, 0x4u);
    EXPECT_EQ(topo.up[2], 0) << "no distances: the lowest node";
    // A memory-only node in the fastest tier (a CPU-less DRAM node) is fast:
    // nothing to tier.
    tiers[2] = 4;
    EXPECT_EQ(hs_tier_find_topology(&t, tiers, nullptr, &topo, why, sizeof why), -ENOENT);
    EXPECT_STREQ(why, "every memory node is in the fastest memory tier");
    t.nodes_with_memory = 0x3;
    EXPECT_EQ(hs_tier_find_topology(&t, nullptr, nullptr, &topo, why, sizeof why), -ENOENT);
}

TEST_F(Tiering, PromotesHotUnitsOnTheSlowNodeToTheirAccessorsNode)
{
    start();
    region(8, 2);
    capacity = {{0, 1000 * M}, {1, 1000 * M}, {2, 4000 * M}};
    std::vector<hs_hot_unit_t> units = {hot(1, 1), hot(3, -1), hot(5, -2)};
    epoch(1, units);
    EXPECT_EQ(on(1), 1) << "its accessor's node";
    EXPECT_EQ(on(3), 0) << "no accessor: the fast node nearest the slow one";
    EXPECT_EQ(on(5), 0) << "shared: likewise";
    EXPECT_EQ(on(0), 2) << "cold units stay";
    EXPECT_EQ(units[0].now, 1);
    EXPECT_EQ(units[0].moved, 1);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_PROMOTED_PAGES), 3u);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_PROMOTED_BYTES), 6 * M);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_HOT_FAST_BYTES), 6 * M);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_HOT_SLOW_BYTES), 0u);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_DEMOTED_PAGES), 0u) << "node 0 has room: nothing demoted";
    EXPECT_EQ(numa.calls.size(), 2u) << "one call per destination";
}

// The kernel splits a THP it cannot move whole: tiering looks at the units
// of that batch only, makes the split one huge again and counts it; a batch
// without a split is not looked at.
TEST_F(Tiering, AUnitTheKernelSplitOnTheWayIsMadeHugeAgain)
{
    start();
    region(8, 2);
    capacity = {{0, 1000 * M}, {1, 1000 * M}, {2, 4000 * M}};
    numa.splits_on_move = {base + 3 * 2 * M, base + 5 * 2 * M};
    numa.stays_split = {base + 5 * 2 * M};
    std::vector<hs_hot_unit_t> units = {hot(1, 1), hot(3, 0), hot(5, 0)};
    epoch(1, units);
    EXPECT_EQ(on(1), 1);
    EXPECT_EQ(on(3), 0);
    EXPECT_EQ(on(5), 0);
    EXPECT_EQ(numa.mend_looks, (std::vector<uintptr_t>{base + 3 * 2 * M, base + 5 * 2 * M}))
        << "the batch to node 0 only: the one to node 1 split nothing";
    EXPECT_EQ(numa.split, (std::set<uintptr_t>{base + 5 * 2 * M}));
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_THP_SPLIT), 2u);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_THP_MENDED), 1u);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_PROMOTED_PAGES), 3u) << "a split unit still moved";
}

TEST_F(Tiering, AFastNodeAtItsWatermarkFirstDemotesIdleUnitsTheLongestIdleFirst)
{
    start();
    region(40, 0);
    // Node 0: 40 units (80 MiB) of 1000 MiB used by the region, the rest by
    // others: 46 MiB free, 4 below the 50 MiB watermark.
    capacity = {{0, 126 * M}, {1, 1000 * M}, {2, 4000 * M}};
    set_idle(3, 5);
    set_idle(7, 9);
    set_idle(9, 63);
    set_idle(11, 3);                 // idle too briefly
    set_idle(13, 30, false);         // never confirmed by a park
    std::vector<hs_hot_unit_t> none;
    epoch(1, none);
    EXPECT_EQ(on(9), 2) << "the longest idle goes first";
    EXPECT_EQ(on(7), 2);
    EXPECT_EQ(on(3), 0) << "4 MiB were missing: two units restore the watermark";
    EXPECT_EQ(on(11), 0);
    EXPECT_EQ(on(13), 0) << "write-protection alone is no evidence of idleness";
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_DEMOTED_PAGES), 2u);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_SHORT_NODES), 1u);
    EXPECT_EQ(fake_free(nullptr, 0), 50 * static_cast<int64_t>(M));
    epoch(2, none);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_DEMOTED_PAGES), 2u) << "at the watermark: no more";
}

// The sampler tries the units on slow nodes first (only there can a read
// promote): tiering's scan of where the units are says which those are.
TEST_F(Tiering, TellsTheSamplerWhichUnitsSitOnASlowNode)
{
    start();
    region(12, 0);
    place(6, 12, 2);
    capacity = {{0, 1000 * M}, {1, 1000 * M}, {2, 4000 * M}};
    std::vector<hs_hot_unit_t> none;
    EXPECT_FALSE(hs_tier_on_slow_node(base + 6 * 2 * M)) << "no scan yet";
    epoch(1, none);  // the first epoch scans for the report
    for (size_t u = 0; u < 12; u++)
        EXPECT_EQ(hs_tier_on_slow_node(base + u * 2 * M), u >= 6) << "unit " << u;
    EXPECT_FALSE(hs_tier_on_slow_node(base + 12 * 2 * M)) << "past the region";
    EXPECT_FALSE(hs_tier_on_slow_node(base + 6 * 2 * M + 4096)) << "units by their start";
}

TEST_F(Tiering, HotUnitsWaitingForRoomMakeIdleOnesGoDown)
{
    start();
    region(40, 0);
    place(30, 40, 2); // units 30-39 on the slow node
    capacity = {{0, 110 * M}, {1, 0}, {2, 4000 * M}}; // node 0: 50 MiB free, node 1 full
    for (size_t u = 0; u < 10; u++)
        set_idle(u, 10 + static_cast<unsigned>(u));
    std::vector<hs_hot_unit_t> units = {hot(30, 0), hot(31, 0), hot(32, 0)};
    epoch(1, units);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_DEMOTED_PAGES), 3u) << "room for the three hot units";
    EXPECT_EQ(on(9), 2);
    EXPECT_EQ(on(8), 2);
    EXPECT_EQ(on(7), 2);
    EXPECT_EQ(on(30), 0);
    EXPECT_EQ(on(31), 0);
    EXPECT_EQ(on(32), 0);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_PROMOTED_PAGES), 3u);
    EXPECT_GE(fake_free(nullptr, 0), 50 * static_cast<int64_t>(M)) << "the watermark holds";
}

// Right after a fill nothing has been idle for idle_epochs yet: units a park
// found idle for one epoch make way for hot units waiting, no more of them
// than those units' bytes, and never for the watermark alone.
TEST_F(Tiering, HotUnitsWaitingTakeTheRoomOfUnitsIdleBriefly)
{
    start();
    region(40, 0);
    place(30, 40, 2);
    // Node 0: 30 units here, 50 MiB free: at its watermark; node 1 full.
    capacity = {{0, 110 * M}, {1, 0}, {2, 4000 * M}};
    for (size_t u = 0; u < 10; u++)
        set_idle(u, 1);
    set_idle(10, 2);
    set_idle(11, 3, false);          // not confirmed by a park
    std::vector<hs_hot_unit_t> units = {hot(30, 0), hot(31, 0)};
    epoch(1, units);
    EXPECT_EQ(on(10), 2) << "the longest idle first";
    EXPECT_EQ(on(11), 0) << "write-protection alone is no evidence of idleness";
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_DEMOTED_PAGES), 2u) << "room for the two hot units, no more";
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_DEMOTED_BRIEFLY_IDLE), 2u);
    EXPECT_EQ(on(30), 0);
    EXPECT_EQ(on(31), 0);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_PROMOTED_PAGES), 2u);

    // Below the watermark with no hot unit waiting: only units idle for
    // idle_epochs go down.
    capacity[0] = 100 * M;
    std::vector<hs_hot_unit_t> none;
    epoch(2, none);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_DEMOTED_PAGES), 2u);
}

// Free memory above the watermark that lies in pieces is no room for a THP:
// hot THPs waiting for a node with no free 2 MiB block make idle units go
// down (each frees a block), and then go up, in the same epoch.
TEST_F(Tiering, HotUnitsWaitingForA2MiBBlockMakeIdleOnesGoDown)
{
    start();
    region(40, 0);
    place(30, 40, 2);
    // Node 0: 30 units here, 240 MiB free, but no free 2 MiB block; node 1 full.
    capacity = {{0, 300 * M}, {1, 0}, {2, 4000 * M}};
    blocks[0] = 0;
    units_at_start[0] = units_on(0);
    for (size_t u = 0; u < 10; u++)
        set_idle(u, 10 + static_cast<unsigned>(u));
    std::vector<hs_hot_unit_t> units = {hot(30, 0), hot(31, 0)};
    epoch(1, units);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_DEMOTED_PAGES), 2u) << "a block for each hot unit, no more";
    EXPECT_EQ(on(9), 2) << "the longest idle first";
    EXPECT_EQ(on(8), 2);
    EXPECT_EQ(on(30), 0);
    EXPECT_EQ(on(31), 0);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_PROMOTED_PAGES), 2u);
}

TEST_F(Tiering, WithoutTheSamplerNothingIsDemoted)
{
    config.demote = false;
    start();
    region(40, 0);
    capacity = {{0, 100 * M}, {1, 1000 * M}, {2, 4000 * M}};
    for (size_t u = 0; u < 40; u++)
        set_idle(u, 20);
    std::vector<hs_hot_unit_t> none;
    epoch(1, none);
    EXPECT_EQ(numa.moves, 0);
}

TEST_F(Tiering, RateLimitsEachDirection)
{
    config.rate_bytes_per_s = 4 * M;
    start();
    region(20, 2);
    capacity = {{0, 1000 * M}, {1, 1000 * M}, {2, 4000 * M}};
    std::vector<hs_hot_unit_t> units;
    for (size_t u = 0; u < 5; u++)
        units.push_back(hot(u, 0));
    epoch(1, units);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_PROMOTED_PAGES), 2u) << "4 MiB per second, one-second epochs";
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_HELD_RATE_UP_BYTES), 6 * M);
    epoch(2, units);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_PROMOTED_PAGES), 4u);
}

TEST_F(Tiering, AUnitMovedBackAndForthCoolsDownLonger)
{
    config.idle_epochs = 1;
    start();
    region(40, 2);
    capacity = {{0, 1000 * M}, {1, 1000 * M}, {2, 4000 * M}};
    // Unit 0 is hot: promoted.  Node 0 then holds one unit more than before.
    std::vector<hs_hot_unit_t> units = {hot(0, 0)};
    epoch(1, units);
    ASSERT_EQ(on(0), 0);
    // Node 0 short of room; unit 0 idle since: too soon (cool-down 4 epochs).
    for (size_t u = 1; u < 40; u++)
        numa.where[base + u * 2 * M] = 0;
    capacity[0] = 80 * M + 48 * M; // 48 MiB free: short by 2
    set_idle(0, 2);
    std::vector<hs_hot_unit_t> none;
    epoch(2, none);
    EXPECT_EQ(on(0), 0) << "cooling";
    EXPECT_GE(hs_counter_get(HS_CTR_TIER_HELD_COOLING), 1u);
    epoch(5, none);
    EXPECT_EQ(on(0), 2) << "after the cool-down";
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_MOVED_BACK), 0u) << "up while hot, down once idle: the normal course";
    // Hot again at once: up after the cool-down, and that is back and forth.
    set_idle(0, 0);
    units = {hot(0, 0)};
    capacity[0] = 1000 * M;
    epoch(6, units);
    EXPECT_EQ(on(0), 2) << "cooling";
    epoch(9, units);
    EXPECT_EQ(on(0), 0);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_MOVED_BACK), 1u) << "up, down, up within a minute";
    // Idle again: down only after a doubled cool-down (8 epochs).
    for (size_t u = 1; u < 40; u++)
        numa.where[base + u * 2 * M] = 0;
    capacity[0] = 80 * M + 48 * M;
    set_idle(0, 2);
    epoch(16, none);
    EXPECT_EQ(on(0), 0) << "doubled cool-down";
    epoch(17, none);
    EXPECT_EQ(on(0), 2);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_MOVED_BACK), 2u);
}

TEST_F(Tiering, ExplicitPoliciesFullTargetsAndHugetlbPoolsAreRespected)
{
    start();
    region(10, 2);
    capacity = {{0, 1000 * M}, {1, 1000 * M}, {2, 4000 * M}};
    numa.explicit_policy.insert(base + 1 * 2 * M);
    std::vector<hs_hot_unit_t> units = {hot(1, 0), hot(2, 0)};
    units[1].kind = HS_OS_KIND_HUGETLB_2M;
    numa.room[0] = 0; // no free hugetlb page on node 0
    epoch(1, units);
    EXPECT_EQ(on(1), 2) << "mbind'ed: stays";
    EXPECT_EQ(on(2), 2) << "no free hugetlb page on the target";
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_HELD_POLICY), 1u);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_HELD_NO_ROOM), 1u);
    // A slow node that is full takes nothing.
    region(40, 0);
    capacity = {{0, 100 * M}, {1, 1000 * M}, {2, 0}};
    numa.room.clear();
    for (size_t u = 0; u < 40; u++)
        set_idle(u, 20);
    std::vector<hs_hot_unit_t> none;
    epoch(2, none);
    EXPECT_EQ(hs_counter_get(HS_CTR_TIER_DEMOTED_PAGES), 0u);
    EXPECT_GE(hs_counter_get(HS_CTR_TIER_HELD_NO_ROOM), 2u);
}
