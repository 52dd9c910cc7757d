// The migrator's rules on a fake move_pages and a fake topology: hysteresis,
// cool-down and bounces, rate limit, room, explicit policy, failure storms,
// bounded calls; and the real kernel's collapse of a unit a move split.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <vector>

#include "../../common/hs_counters.h"
#include "../../common/hs_log.h"
#include "../../place/hs_migrate.h"
#include "fakes.h"

namespace {

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
        hs_migrate_ops_t ops = {fake_move_pages, fake_room, fake_policy, nullptr, fake_thp_splits, fake_mend};
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
    void expect_no_streak_then_move(int8_t other);
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

TEST_F(Migrator, AUnitTheKernelSplitOnTheWayIsMadeHugeAgain)
{
    start();
    auto u = units(4, 0, 1);
    numa.splits_on_move = {u[2].addr};
    hs_migrate_epoch(1, u.data(), u.size());
    hs_migrate_epoch(2, u.data(), u.size());
    EXPECT_EQ(numa.moves, 4);
    EXPECT_EQ(numa.mend_looks.size(), 4u) << "every THP unit of the batch that saw the split";
    EXPECT_TRUE(numa.split.empty());
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_THP_SPLIT), 1u);
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_THP_MENDED), 1u);
}

TEST_F(Migrator, ABatchWithoutASplitIsNotLookedAt)
{
    start();
    auto u = units(4, 0, 1);
    hs_migrate_epoch(1, u.data(), u.size());
    hs_migrate_epoch(2, u.data(), u.size());
    EXPECT_EQ(numa.moves, 4);
    EXPECT_TRUE(numa.mend_looks.empty());
    EXPECT_EQ(hs_counter_get(HS_CTR_MIG_THP_SPLIT), 0u);
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

// The vote says node 1, but node 1 never writes alone two epochs in a row
// (its epochs alternate with `other`: node 0, or several nodes at once): no
// streak, no move.  Then two epochs of node 1 alone: it moves.
void Migrator::expect_no_streak_then_move(int8_t other)
{
    start();
    auto u = units(1, 0, 1);
    for (uint64_t e = 1; e <= 10; e++) {
        u[0].writer = e % 2 ? 1 : other;
        hs_migrate_epoch(e, u.data(), u.size());
    }
    EXPECT_EQ(numa.moves, 0);
    u[0].writer = 1;
    hs_migrate_epoch(11, u.data(), u.size());
    hs_migrate_epoch(12, u.data(), u.size());
    EXPECT_EQ(numa.moves, 1);
}

TEST_F(Migrator, AMajorityAloneDoesNotMoveAUnitWithoutWritesFromThatNode)
{
    expect_no_streak_then_move(0);
}

TEST_F(Migrator, AnEpochAccessedFromSeveralNodesBreaksTheStreak)
{
    expect_no_streak_then_move(HS_WRITER_SEVERAL);
}

TEST_F(Migrator, AnEarlyDecisionMovesAfterOneEpochOnce)
{
    start();
    auto u = units(2, 0, 1);
    u[0].early = 1;  // decided on its first samples; u[1] not
    hs_migrate_epoch(1, u.data(), u.size());
    EXPECT_EQ(numa.where[u[0].addr], 1) << "one epoch of evidence";
    EXPECT_EQ(numa.where[u[1].addr], 0) << "the full streak";
    // Back on node 0 later, early again: a moved unit needs the full streak.
    numa.where[u[0].addr] = 0;
    int moves = numa.moves;
    u.resize(1);
    hs_migrate_epoch(100, u.data(), u.size());
    EXPECT_EQ(numa.moves, moves) << "moved before: no early move";
    hs_migrate_epoch(101, u.data(), u.size());
    EXPECT_EQ(numa.moves, moves + 1);
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

// The real mend, on this kernel: a 2 MiB THP split into 4 KiB mappings (an
// mprotect of one page and back) is huge again after it; a whole one is left
// as it is; one with a page purged is not filled in.
TEST(MigrateRealOps, MendCollapsesASplitUnitAndLeavesOthers)
{
    const size_t unit = 2 * M;
    char *raw = static_cast<char *>(mmap(nullptr, 2 * unit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(raw, MAP_FAILED);
    char *p = reinterpret_cast<char *>((reinterpret_cast<uintptr_t>(raw) + unit - 1) & ~(unit - 1));
    if (p > raw)
        munmap(raw, static_cast<size_t>(p - raw));
    munmap(p + unit, static_cast<size_t>(raw + 2 * unit - (p + unit)));
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    static char buf[1 << 20];
    auto huge_kb = [&]() {
        hs_os_vma_info_t v = {};
        EXPECT_EQ(hs_os_vma_info(a, buf, sizeof buf, &v), 0);
        return v.anon_huge_bytes >> 10;
    };
    madvise(p, unit, MADV_HUGEPAGE);
    memset(p, 7, unit);
    if (huge_kb() != 2048) {
        munmap(p, unit);
        GTEST_SKIP() << "no THP for a 2 MiB region here (transparent_hugepage never, or no free 2 MiB block)";
    }
    EXPECT_EQ(hs_migrate_real_ops.mend(nullptr, a), 0) << "whole: nothing to do";
    ASSERT_EQ(mprotect(p + 4096, 4096, PROT_READ), 0);
    ASSERT_EQ(mprotect(p + 4096, 4096, PROT_READ | PROT_WRITE), 0);
    ASSERT_EQ(huge_kb(), 0u) << "mprotect did not split the PMD";
    int rc = hs_migrate_real_ops.mend(nullptr, a);
    if (rc == -EINVAL || rc == -ENOSYS) {
        munmap(p, unit);
        GTEST_SKIP() << "no MADV_COLLAPSE or PAGEMAP_SCAN here (Linux 6.7+ has both)";
    }
    EXPECT_EQ(rc, 1);
    EXPECT_EQ(huge_kb(), 2048u) << "not huge again";
    EXPECT_EQ(p[12345], 7) << "the collapse kept the bytes";
    ASSERT_EQ(mprotect(p + 4096, 4096, PROT_READ), 0);
    ASSERT_EQ(mprotect(p + 4096, 4096, PROT_READ | PROT_WRITE), 0);
    ASSERT_EQ(madvise(p + 8192, 4096, MADV_DONTNEED), 0);
    EXPECT_EQ(hs_migrate_real_ops.mend(nullptr, a), 0) << "a purged page is not filled in";
    EXPECT_EQ(huge_kb(), 0u);
    unsigned char vec = 1;
    ASSERT_EQ(mincore(p + 8192, 4096, &vec), 0);
    EXPECT_EQ(vec & 1, 0) << "the purged page came back";
    munmap(p, unit);
}
