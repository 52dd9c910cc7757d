// Region records (split on partial unmap) and the ownership bitmap.
#include <gtest/gtest.h>

#include "../../allocator/hs_registry.h"

namespace {
const uintptr_t M = 1 << 20;

class Registry : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(hs_registry_init(), 0);
        hs_registry_reset_for_tests();
    }
};
}  // namespace

TEST_F(Registry, AddFindRemoveWhole)
{
    ASSERT_EQ(hs_registry_add(100 * M, 8 * M, HS_OS_KIND_THP, HS_ORIGIN_MMAP), 0);
    hs_region_t r;
    ASSERT_TRUE(hs_registry_find(104 * M, &r));
    EXPECT_EQ(r.start, 100 * M);
    EXPECT_EQ(r.len, 8 * M);
    EXPECT_EQ(r.kind, HS_OS_KIND_THP);
    EXPECT_EQ(r.origin, HS_ORIGIN_MMAP);
    EXPECT_EQ(r.node, -1);
    EXPECT_FALSE(hs_registry_find(108 * M, &r));
    EXPECT_FALSE(hs_registry_find(99 * M, &r));
    EXPECT_EQ(hs_registry_remove(100 * M, 8 * M), 8 * M);
    EXPECT_EQ(hs_registry_count(), 0u);
}

TEST_F(Registry, HoleInTheMiddleSplitsTheRecord)
{
    hs_registry_add(100 * M, 8 * M, HS_OS_KIND_THP, HS_ORIGIN_MMAP);
    EXPECT_EQ(hs_registry_remove(102 * M, 4096), 4096u);
    hs_region_t rs[4];
    ASSERT_EQ(hs_registry_snapshot(rs, 4), 2u);
    EXPECT_EQ(rs[0].start, 100 * M);
    EXPECT_EQ(rs[0].len, 2 * M);
    EXPECT_EQ(rs[1].start, 102 * M + 4096);
    EXPECT_EQ(rs[1].len, 6 * M - 4096);
}

TEST_F(Registry, RemoveAcrossSeveralRecordsTrimsEnds)
{
    hs_registry_add(10 * M, 4 * M, HS_OS_KIND_THP, HS_ORIGIN_MMAP);
    hs_registry_add(14 * M, 4 * M, HS_OS_KIND_BASE, HS_ORIGIN_HEAP);
    hs_registry_add(20 * M, 4 * M, HS_OS_KIND_HUGETLB_2M, HS_ORIGIN_HEAP);
    EXPECT_EQ(hs_registry_remove(12 * M, 10 * M), 2 * M + 4 * M + 2 * M);
    hs_region_t rs[4];
    ASSERT_EQ(hs_registry_snapshot(rs, 4), 2u);
    EXPECT_EQ(rs[0].start, 10 * M);
    EXPECT_EQ(rs[0].len, 2 * M);
    EXPECT_EQ(rs[1].start, 22 * M);
    EXPECT_EQ(rs[1].len, 2 * M);
    EXPECT_EQ(rs[1].kind, HS_OS_KIND_HUGETLB_2M);
}

TEST_F(Registry, AddOverAnExistingRangeReplacesIt)
{
    hs_registry_add(10 * M, 8 * M, HS_OS_KIND_THP, HS_ORIGIN_MMAP);
    hs_registry_add(12 * M, 2 * M, HS_OS_KIND_BASE, HS_ORIGIN_MMAP);
    hs_region_t rs[4];
    ASSERT_EQ(hs_registry_snapshot(rs, 4), 3u);
    EXPECT_EQ(rs[1].start, 12 * M);
    EXPECT_EQ(rs[1].kind, HS_OS_KIND_BASE);
}

TEST_F(Registry, FullRegistrySaysSo)
{
    for (uintptr_t i = 0; i < HS_REGISTRY_CAPACITY; i++)
        ASSERT_EQ(hs_registry_add((i * 2 + 1) * 4096, 4096, HS_OS_KIND_BASE, HS_ORIGIN_MMAP), 0);
    EXPECT_EQ(hs_registry_add(1ULL << 40, 4096, HS_OS_KIND_BASE, HS_ORIGIN_MMAP), -ENOSPC);
    hs_registry_reset_for_tests();
}

TEST_F(Registry, OwnershipIsPer2MiBGranule)
{
    char probe;
    EXPECT_FALSE(hs_registry_owns(&probe));
    hs_registry_mark_owned(64 * M, 4 * M);
    EXPECT_TRUE(hs_registry_owns(reinterpret_cast<void *>(64 * M)));
    EXPECT_TRUE(hs_registry_owns(reinterpret_cast<void *>(68 * M - 1)));
    EXPECT_FALSE(hs_registry_owns(reinterpret_cast<void *>(68 * M)));
    EXPECT_FALSE(hs_registry_owns(reinterpret_cast<void *>(64 * M - 1)));
    EXPECT_FALSE(hs_registry_owns(reinterpret_cast<void *>(1ULL << 50)));
    EXPECT_FALSE(hs_registry_owns(nullptr));
}

// free()'s fast path is one range check over the window's used part, and
// none at all while a sampler watches frees, also when the window grows then.
TEST_F(Registry, FreeFastPathCoversTheUsedWindowUnlessFreesAreWatched)
{
    uintptr_t saved_lo = hs_registry_window_lo;
    size_t saved_used = hs_registry_window_used;
    hs_registry_window_lo = 1024 * M;
    hs_registry_window_grew(4 * M);
    const void *in = (const void *)(1024 * M + 4 * M - 8), *past = (const void *)(1024 * M + 4 * M);
    EXPECT_TRUE(hs_registry_free_fast(in));
    EXPECT_FALSE(hs_registry_free_fast(past));
    EXPECT_FALSE(hs_registry_free_fast((const void *)(1024 * M - 8)));
    EXPECT_FALSE(hs_registry_free_fast(nullptr));

    hs_registry_watch_frees(true);
    EXPECT_FALSE(hs_registry_free_fast(in));
    hs_registry_window_grew(8 * M);
    EXPECT_FALSE(hs_registry_free_fast(in));
    EXPECT_EQ(hs_registry_window_used, 8 * M);  // the window itself still grew

    hs_registry_watch_frees(false);
    EXPECT_TRUE(hs_registry_free_fast(in));
    EXPECT_TRUE(hs_registry_free_fast(past));

    hs_registry_window_lo = saved_lo;
    hs_registry_window_grew(saved_used);
}
