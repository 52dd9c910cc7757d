// The fallback chain, failure memory and carving, driven by a fake kernel and
// a fake clock (as jemalloc's test/unit/hpa.c swaps in hpa_hooks_t fakes).
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "../../allocator/hs_backing.h"
#include "../../allocator/hs_registry.h"
#include "../../common/hs_counters.h"
#include "../../common/hs_log.h"

namespace {

const size_t M = 1 << 20;

struct FakeKernel {
    int fail[4] = {0, 0, 0, 0};       // -errno to return per kind, 0 = succeed
    long pool_2m = -1;                // pages left in the 2M pool (-1: unlimited)
    bool advise_fails = false;
    uint64_t now = 1000;
    uintptr_t next = 1ULL << 40;      // fake addresses, never touched
    std::vector<std::pair<hs_os_kind_t, size_t>> maps;  // successful calls
    int calls[4] = {0, 0, 0, 0};
};

FakeKernel *fk;

int fake_map(void *, hs_os_kind_t kind, size_t len, size_t align, int, bool, bool, void **out, bool *advised)
{
    fk->calls[kind]++;
    if (fk->fail[kind])
        return fk->fail[kind];
    if (kind == HS_OS_KIND_HUGETLB_2M && fk->pool_2m >= 0) {
        if (static_cast<long>(len / (2 * M)) > fk->pool_2m)
            return -ENOMEM;
        fk->pool_2m -= static_cast<long>(len / (2 * M));
    }
    fk->next = (fk->next + align - 1) & ~(uintptr_t)(align - 1);
    *out = reinterpret_cast<void *>(fk->next);
    fk->next += len + align;  // leave gaps so mappings never touch
    *advised = kind == HS_OS_KIND_THP && !fk->advise_fails;
    fk->maps.push_back({kind, len});
    return 0;
}

uint64_t fake_now(void *) { return fk->now; }

class Backing : public ::testing::Test {
protected:
    FakeKernel kernel;
    void SetUp() override
    {
        fk = &kernel;
        hs_log_set_level(-1);  // the fallbacks warn; keep test output clean
        ASSERT_EQ(hs_registry_init(), 0);
        hs_registry_reset_for_tests();
        for (int i = 0; i < HS_CTR_COUNT; i++)
            hs_counter_set(static_cast<hs_counter_id_t>(i), 0);
    }
    void start(hs_os_kind_t first, uint64_t retry_ns = 1000, bool thp = true)
    {
        hs_backing_config_t c = {first, retry_ns, thp};
        hs_backing_ops_t ops = {fake_map, fake_now, nullptr};
        hs_backing_init(&c, &ops);
    }
    hs_os_kind_t alloc(size_t size, size_t align = 4096, hs_heap_use_t use = HS_HEAP_USE_OBJECTS)
    {
        void *p = nullptr;
        hs_os_kind_t kind = HS_OS_KIND_BASE;
        EXPECT_EQ(hs_backing_heap_alloc(size, align, use, &p, &kind), 0);
        EXPECT_NE(p, nullptr);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
        EXPECT_TRUE(hs_registry_owns(p));
        EXPECT_TRUE(hs_registry_owns(static_cast<char *>(p) + size - 1));
        return kind;
    }
};

}  // namespace

TEST_F(Backing, ThpFirstAndCountedInBytes)
{
    start(HS_OS_KIND_THP);
    EXPECT_EQ(alloc(3 * M), HS_OS_KIND_THP);
    ASSERT_EQ(kernel.maps.size(), 1u);
    EXPECT_EQ(kernel.maps[0].second, 4 * M);  // whole 2 MiB granules
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_THP_BYTES), 4 * M);
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_REGIONS), 1u);
}

TEST_F(Backing, CarvesLaterRequestsFromTheChunkTail)
{
    start(HS_OS_KIND_THP);
    alloc(3 * M);
    alloc(512 * 1024);  // fits in the 1 MiB tail
    EXPECT_EQ(kernel.maps.size(), 1u);
    alloc(2 * M);  // does not fit: a new chunk
    EXPECT_EQ(kernel.maps.size(), 2u);
}

TEST_F(Backing, FullChainFrom1GDownToBase)
{
    kernel.fail[HS_OS_KIND_HUGETLB_1G] = -ENOMEM;
    kernel.fail[HS_OS_KIND_HUGETLB_2M] = -EINVAL;
    kernel.fail[HS_OS_KIND_THP] = -ENOMEM;
    start(HS_OS_KIND_HUGETLB_1G);
    EXPECT_EQ(alloc(2 * M), HS_OS_KIND_BASE);
    EXPECT_EQ(hs_counter_get(HS_CTR_FALLBACK_1G_EXHAUSTED), 1u);
    EXPECT_EQ(hs_counter_get(HS_CTR_FALLBACK_2M_UNAVAILABLE), 1u);
    EXPECT_EQ(hs_counter_get(HS_CTR_FALLBACK_THP_FAILED), 1u);
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_BASE_BYTES), 2 * M);
}

TEST_F(Backing, OneGigabytePagesAreCarvedNotWasted)
{
    start(HS_OS_KIND_HUGETLB_1G);
    for (int i = 0; i < 8; i++)
        EXPECT_EQ(alloc(64 * M), HS_OS_KIND_HUGETLB_1G);
    ASSERT_EQ(kernel.maps.size(), 1u);
    EXPECT_EQ(kernel.maps[0].second, 1024 * M);
}

TEST_F(Backing, FailedKindIsSkippedUntilRetryTimePasses)
{
    kernel.fail[HS_OS_KIND_HUGETLB_2M] = -ENOMEM;
    start(HS_OS_KIND_HUGETLB_2M, /*retry_ns=*/5000);
    EXPECT_EQ(alloc(2 * M), HS_OS_KIND_THP);
    EXPECT_EQ(alloc(2 * M), HS_OS_KIND_THP);
    EXPECT_EQ(kernel.calls[HS_OS_KIND_HUGETLB_2M], 1);  // the second call did not try
    EXPECT_EQ(hs_counter_get(HS_CTR_FALLBACK_SKIPPED), 1u);
    kernel.fail[HS_OS_KIND_HUGETLB_2M] = 0;
    kernel.now += 4999;
    EXPECT_EQ(alloc(2 * M), HS_OS_KIND_THP);
    kernel.now += 1;
    EXPECT_EQ(alloc(2 * M), HS_OS_KIND_HUGETLB_2M);  // pool refilled: used again
    EXPECT_EQ(kernel.calls[HS_OS_KIND_HUGETLB_2M], 2);
}

TEST_F(Backing, PoolRunningOutMidwayFallsBackForTheRest)
{
    kernel.pool_2m = 3;
    start(HS_OS_KIND_HUGETLB_2M, 0);
    std::vector<hs_os_kind_t> got;
    for (int i = 0; i < 6; i++)
        got.push_back(alloc(2 * M));
    EXPECT_EQ(got, (std::vector<hs_os_kind_t>{HS_OS_KIND_HUGETLB_2M, HS_OS_KIND_HUGETLB_2M, HS_OS_KIND_HUGETLB_2M,
                                              HS_OS_KIND_THP, HS_OS_KIND_THP, HS_OS_KIND_THP}));
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_HUGETLB_2M_BYTES), 6 * M);
    EXPECT_EQ(hs_counter_get(HS_CTR_FALLBACK_2M_EXHAUSTED), 3u);  // retry 0: tried each time
}

TEST_F(Backing, ThpOffInTheKernelMeansBasePagesCounted)
{
    start(HS_OS_KIND_THP, 1000, /*thp=*/false);
    EXPECT_EQ(alloc(2 * M), HS_OS_KIND_BASE);
    EXPECT_EQ(kernel.calls[HS_OS_KIND_THP], 0);
    EXPECT_EQ(hs_counter_get(HS_CTR_FALLBACK_THP_UNAVAILABLE), 1u);
}

TEST_F(Backing, RefusedAdviceCountsTheRegionAsBase)
{
    kernel.advise_fails = true;
    start(HS_OS_KIND_THP);
    EXPECT_EQ(alloc(2 * M), HS_OS_KIND_BASE);
    EXPECT_EQ(hs_counter_get(HS_CTR_FALLBACK_THP_UNAVAILABLE), 1u);
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_THP_BYTES), 0u);
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_BASE_BYTES), 2 * M);
}

TEST_F(Backing, MetadataGoesToBasePagesWhateverTheBacking)
{
    start(HS_OS_KIND_HUGETLB_2M);
    EXPECT_EQ(alloc(2 * M, 2 * M, HS_HEAP_USE_METADATA), HS_OS_KIND_BASE);
    EXPECT_EQ(kernel.calls[HS_OS_KIND_HUGETLB_2M], 0);
}

TEST_F(Backing, MediumObjectsSkipThpButKeepHugetlb)
{
    start(HS_OS_KIND_THP);
    EXPECT_EQ(alloc(2 * M, 4096, HS_HEAP_USE_NO_THP), HS_OS_KIND_BASE);
    EXPECT_EQ(kernel.calls[HS_OS_KIND_THP], 0);
    EXPECT_EQ(alloc(2 * M), HS_OS_KIND_THP);  // small objects still take THP
    start(HS_OS_KIND_HUGETLB_2M);
    EXPECT_EQ(alloc(2 * M, 4096, HS_HEAP_USE_NO_THP), HS_OS_KIND_HUGETLB_2M);
    kernel.fail[HS_OS_KIND_HUGETLB_2M] = -ENOMEM;
    EXPECT_EQ(alloc(4 * M, 4096, HS_HEAP_USE_NO_THP), HS_OS_KIND_BASE);  // the pool is out: base, not THP
    EXPECT_EQ(kernel.calls[HS_OS_KIND_THP], 1);
}

TEST_F(Backing, LargeAlignmentHonoured)
{
    start(HS_OS_KIND_THP);
    alloc(1 * M, 64 * M);
}

TEST_F(Backing, ProgramRegionsAreThpOrBaseAndRecorded)
{
    start(HS_OS_KIND_THP);
    void *p;
    hs_os_kind_t kind;
    ASSERT_EQ(hs_backing_map_region(5 * M + 1, 3, false, false, &p, &kind), 0);
    EXPECT_EQ(kind, HS_OS_KIND_THP);
    EXPECT_EQ(kernel.maps.back().second, 5 * M + 4096);  // page-rounded, not granule-rounded
    hs_region_t r;
    ASSERT_TRUE(hs_registry_find(reinterpret_cast<uintptr_t>(p), &r));
    EXPECT_EQ(r.origin, HS_ORIGIN_MMAP);
    EXPECT_FALSE(hs_registry_owns(p)) << "program mappings are never freed through free()";
}

TEST_F(Backing, EverythingFailingIsENOMEMAndCounted)
{
    for (int k = 0; k < 4; k++)
        kernel.fail[k] = -ENOMEM;
    start(HS_OS_KIND_THP);
    void *p;
    hs_os_kind_t kind;
    EXPECT_EQ(hs_backing_heap_alloc(2 * M, 4096, HS_HEAP_USE_OBJECTS, &p, &kind), -ENOMEM);
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_MAP_FAILED), 1u);
}

TEST_F(Backing, AThpMapRefusedOnceDoesNotSendTheNextRequestToBasePages)
{
    // One request beyond the commit limit fails; the next, smaller one must
    // still get THP (the remembered-failure skip is for hugetlb pools only).
    start(HS_OS_KIND_THP, /*retry_ns=*/1000000000ULL);
    kernel.fail[HS_OS_KIND_THP] = -ENOMEM;
    EXPECT_EQ(alloc(64 * M), HS_OS_KIND_BASE);
    kernel.fail[HS_OS_KIND_THP] = 0;
    EXPECT_EQ(alloc(2 * M), HS_OS_KIND_THP);
    EXPECT_EQ(hs_counter_get(HS_CTR_FALLBACK_SKIPPED), 0u);
}

// jemalloc's own mappings go through the backing too: whole 2 MiB granules of
// base pages, owned, and counted with the rest.
TEST_F(Backing, JemallocsOwnMappingsAreOwnedAndCounted)
{
    start(HS_OS_KIND_THP);
    void *p = nullptr;
    ASSERT_EQ(hs_backing_map_owned_base(12345, HS_OS_PROT_READ | HS_OS_PROT_WRITE, &p), 0);
    ASSERT_EQ(kernel.maps.size(), 1u);
    EXPECT_EQ(kernel.maps[0].first, HS_OS_KIND_BASE);
    EXPECT_EQ(kernel.maps[0].second, 2 * M);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % (2 * M), 0u);
    EXPECT_TRUE(hs_registry_owns(p));
    EXPECT_TRUE(hs_registry_owns(static_cast<char *>(p) + 2 * M - 1));
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_BASE_BYTES), 2 * M);
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_REGIONS), 1u);

    kernel.fail[HS_OS_KIND_BASE] = -ENOMEM;
    EXPECT_EQ(hs_backing_map_owned_base(M, HS_OS_PROT_READ, &p), -ENOMEM);
    EXPECT_EQ(hs_counter_get(HS_CTR_BACKING_MAP_FAILED), 1u);
}
