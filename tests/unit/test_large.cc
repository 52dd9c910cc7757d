// The span heap of large objects (allocator/large.c) on a fake kernel: chunks
// are plain mappings, a give-back is MADV_DONTNEED (so it reads zero after,
// as in the real heap) and is recorded, the clock is the test's.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "../../allocator/hs_large.h"
#include "../../os/hs_os.h"

namespace {

constexpr size_t MiB = size_t(1) << 20;

struct Fake {
    uint64_t now = 0;
    int chunks = 0;
    bool fail = false;
    std::vector<std::pair<uintptr_t, size_t>> released;
    std::vector<std::pair<size_t, size_t>> asked;  // want, need
};
Fake fake;

int fake_chunk(void *, size_t len, size_t need, void **out, size_t *len_out, int *kind)
{
    if (fake.fail)
        return -ENOMEM;
    fake.asked.emplace_back(len, need);
    size_t rounded = (len + 2 * MiB - 1) & ~(2 * MiB - 1);
    void *p = mmap(nullptr, rounded + 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    uintptr_t at = ((uintptr_t)p + 2 * MiB - 1) & ~(2 * MiB - 1);
    fake.chunks++;
    *out = (void *)at;
    *len_out = rounded;
    *kind = HS_OS_KIND_THP;
    return 0;
}

int fake_release(void *, void *addr, size_t len)
{
    fake.released.emplace_back((uintptr_t)addr, len);
    return madvise(addr, len, MADV_DONTNEED) == 0 ? 0 : -errno;
}

uint64_t fake_now(void *) { return fake.now; }

const hs_large_ops_t ops = {fake_chunk, fake_release, fake_now, nullptr};

class Large : public ::testing::Test {
  protected:
    void start(size_t keep_min, uint64_t keep_ns = 1000000000ULL)
    {
        fake = Fake();
        hs_large_reset();
        hs_large_policy_t policy = {keep_min, keep_ns};
        hs_large_init(&ops, &policy);
    }
    void SetUp() override { start(16 * MiB); }
    static hs_large_stats_t stats()
    {
        hs_large_stats_t s;
        hs_large_stats(&s);
        return s;
    }
    static bool reads_zero(const void *p, size_t len)
    {
        const unsigned char *c = static_cast<const unsigned char *>(p);
        for (size_t i = 0; i < len; i += 4096)
            if (c[i] || c[i + 4095])
                return false;
        return true;
    }
};

}  // namespace

TEST_F(Large, AFreedObjectsPagesServeTheNextObject)
{
    char *a = static_cast<char *>(hs_large_alloc(32 * MiB, 0, false));
    ASSERT_NE(a, nullptr);
    EXPECT_EQ((uintptr_t)a % (2 * MiB), 0u);
    memset(a, 0x5a, 32 * MiB);
    ASSERT_TRUE(hs_large_free(a));
    EXPECT_EQ(stats().kept_bytes, 32 * MiB);
    char *b = static_cast<char *>(hs_large_alloc(30 * MiB, 0, false));
    EXPECT_EQ(b, a) << "the next object takes the freed span";
    EXPECT_EQ(b[0], 0x5a) << "its pages were kept, not given back and zeroed";
    EXPECT_TRUE(fake.released.empty());
    EXPECT_EQ(stats().used_bytes, 30 * MiB);
    EXPECT_EQ(fake.chunks, 1);
}

TEST_F(Large, ARequestNoFreedSpanFitsTakesTheRunWithTheMostResidentBytes)
{
    // One 64 MiB chunk: a [0,16) b [16,32) and a clean [32,64).
    char *a = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    char *b = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    ASSERT_EQ(b, a + 16 * MiB);
    memset(b, 1, 16 * MiB);
    ASSERT_TRUE(hs_large_free(b));
    // 24 MiB: at b (16 resident + 8 clean after it), not at 32 (all clean).
    char *c = static_cast<char *>(hs_large_alloc(24 * MiB, 0, false));
    EXPECT_EQ(c, b);
    EXPECT_EQ(c[0], 1);
    EXPECT_TRUE(reads_zero(c + 16 * MiB, 8 * MiB)) << "the clean part was never written";
    EXPECT_EQ(stats().kept_bytes, 0u);
}

TEST_F(Large, KeptBytesNeverLiftTheResidentBytesAboveTheLiveObjectsPeak)
{
    start(0);
    char *a = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    char *b = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    ASSERT_TRUE(a && b);
    memset(a, 7, 16 * MiB);
    ASSERT_TRUE(hs_large_free(a));
    EXPECT_EQ(stats().kept_bytes, 16 * MiB) << "live 16 + kept 16 is the peak of 32";
    EXPECT_TRUE(fake.released.empty());
    // 24 MiB fits nowhere but in new memory: live 40 is a new peak, so the
    // 16 kept must go (with keep_min 0).
    char *c = static_cast<char *>(hs_large_alloc(24 * MiB, 0, false));
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c, b + 16 * MiB);
    EXPECT_EQ(stats().kept_bytes, 0u);
    ASSERT_EQ(fake.released.size(), 1u);
    EXPECT_EQ(fake.released[0].first, (uintptr_t)a);
    EXPECT_EQ(fake.released[0].second, 16 * MiB);
    EXPECT_TRUE(reads_zero(a, 16 * MiB));
    // keep_min keeps some whatever the peak: with 16 MiB the same run keeps a.
    start(16 * MiB);
    a = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    b = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    ASSERT_TRUE(hs_large_free(a));
    ASSERT_NE(hs_large_alloc(24 * MiB, 0, false), nullptr);
    EXPECT_EQ(stats().kept_bytes, 16 * MiB);
    EXPECT_TRUE(fake.released.empty());
}

TEST_F(Large, OnlyTheExcessIsGivenBackOldestFirst)
{
    start(0);
    std::vector<char *> p;
    for (int i = 0; i < 4; i++)
        p.push_back(static_cast<char *>(hs_large_alloc(8 * MiB, 0, false)));  // peak 32
    fake.now = 1;
    ASSERT_TRUE(hs_large_free(p[0]));  // oldest
    fake.now = 2;
    ASSERT_TRUE(hs_large_free(p[2]));
    EXPECT_EQ(stats().kept_bytes, 16 * MiB);
    // A new 12 MiB object fits in neither (each has a live one after it):
    // new memory, live 28 of a peak of 32, so 4 MiB may stay kept: p[0] goes
    // whole (oldest), then the last 4 MiB of p[2].
    char *n = static_cast<char *>(hs_large_alloc(12 * MiB, 0, false));
    ASSERT_EQ(n, p[3] + 8 * MiB);
    EXPECT_EQ(stats().used_bytes, 28 * MiB);
    EXPECT_EQ(stats().kept_bytes, 4 * MiB);
    ASSERT_EQ(fake.released.size(), 2u);
    EXPECT_EQ(fake.released[0], std::make_pair((uintptr_t)p[0], 8 * MiB));
    EXPECT_EQ(fake.released[1], std::make_pair((uintptr_t)p[2] + 4 * MiB, 4 * MiB));
}

TEST_F(Large, KeptMemoryIsGivenBackAfterKeepNs)
{
    char *a = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    char *b = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    ASSERT_TRUE(hs_large_free(a));
    EXPECT_EQ(stats().kept_bytes, 16 * MiB);
    fake.now += 2000000000ULL;
    // Any later call trims: here a free.
    ASSERT_TRUE(hs_large_free(b));
    ASSERT_EQ(fake.released.size(), 1u);
    EXPECT_EQ(fake.released[0].first, (uintptr_t)a);
    EXPECT_EQ(stats().kept_bytes, 16 * MiB) << "b is new: kept";
}

TEST_F(Large, CallocZeroesWhatWasWrittenBefore)
{
    char *a = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    memset(a, 0xab, 16 * MiB);
    ASSERT_TRUE(hs_large_free(a));
    char *z = static_cast<char *>(hs_large_alloc(20 * MiB, 0, true));
    ASSERT_EQ(z, a);
    EXPECT_TRUE(reads_zero(z, 20 * MiB));
}

TEST_F(Large, ReallocShrinksAndGrowsInPlaceWhenItCanAndMovesItsBytesWhenNot)
{
    char *a = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    for (size_t i = 0; i < 16 * MiB; i += 4096)
        a[i] = char(i >> 12);
    EXPECT_EQ(hs_large_realloc(a, 10 * MiB), a);
    EXPECT_EQ(hs_large_usable(a), 10 * MiB);
    EXPECT_EQ(stats().kept_bytes, 6 * MiB) << "the tail is kept for reuse";
    EXPECT_EQ(hs_large_realloc(a, 30 * MiB), a) << "the units after it are free";
    EXPECT_EQ(hs_large_usable(a), 30 * MiB);
    char *b = static_cast<char *>(hs_large_alloc(8 * MiB, 0, false));
    ASSERT_EQ(b, a + 30 * MiB);
    char *moved = static_cast<char *>(hs_large_realloc(a, 40 * MiB));
    ASSERT_NE(moved, nullptr);
    EXPECT_NE(moved, a) << "b blocks growing in place";
    for (size_t i = 0; i < 10 * MiB; i += 4096)
        ASSERT_EQ(moved[i], char(i >> 12)) << "byte " << i;
    EXPECT_EQ(hs_large_usable(a), 0u) << "the old object is freed";
}

TEST_F(Large, AlignmentOwnershipAndBadPointers)
{
    void *a = hs_large_alloc(9 * MiB, 16 * MiB, false);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ((uintptr_t)a % (16 * MiB), 0u);
    EXPECT_EQ(hs_large_usable(a), 10 * MiB);
    EXPECT_TRUE(hs_large_owns(static_cast<char *>(a) + 5 * MiB));
    int local;
    EXPECT_FALSE(hs_large_owns(&local));
    EXPECT_FALSE(hs_large_free(static_cast<char *>(a) + 4096)) << "no object starts there";
    EXPECT_EQ(hs_large_usable(static_cast<char *>(a) + 4096), 0u);
    EXPECT_TRUE(hs_large_free(a));
    EXPECT_FALSE(hs_large_free(a)) << "a double free is refused";
    EXPECT_EQ(hs_large_alloc(8 * MiB, 3 * MiB, false), nullptr) << "not a power of two";
}

TEST_F(Large, NoChunkMeansNullForTheCallerToFallBack)
{
    fake.fail = true;
    EXPECT_EQ(hs_large_alloc(8 * MiB, 0, false), nullptr);
    fake.fail = false;
    EXPECT_NE(hs_large_alloc(8 * MiB, 0, false), nullptr);
}

TEST_F(Large, ThreadsNeverShareAnObject)
{
    std::atomic<int> bad{0};
    auto work = [&](int id) {
        std::mt19937 rng(id);
        std::vector<std::pair<char *, size_t>> live;
        for (int i = 0; i < 300; i++) {
            if (live.size() > 3 || (!live.empty() && rng() % 2)) {
                auto [p, n] = live[rng() % live.size()];
                for (size_t off = 0; off < n; off += 2 * MiB)
                    if (p[off] != char(id))
                        bad++;
                hs_large_free(p);
                live.erase(std::find(live.begin(), live.end(), std::make_pair(p, n)));
            } else {
                size_t n = (8 + rng() % 24) * MiB;
                char *p = static_cast<char *>(hs_large_alloc(n, 0, false));
                if (!p) {
                    bad++;
                    continue;
                }
                for (size_t off = 0; off < n; off += 2 * MiB)
                    p[off] = char(id);
                live.emplace_back(p, n);
            }
        }
        for (auto &[p, n] : live)
            hs_large_free(p);
    };
    std::vector<std::thread> t;
    for (int i = 1; i <= 4; i++)
        t.emplace_back(work, i);
    for (auto &th : t)
        th.join();
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(stats().used_bytes, 0u);
}

TEST_F(Large, ChunksGrowByAQuarterOfWhatIsMappedFrom64MiBTo1GiB)
{
    ASSERT_NE(hs_large_alloc(8 * MiB, 0, false), nullptr);
    ASSERT_NE(hs_large_alloc(60 * MiB, 0, false), nullptr);  // 56 MiB left: a new chunk
    for (int i = 0; i < 4; i++)
        ASSERT_NE(hs_large_alloc(2048 * MiB, 0, false), nullptr);  // never written
    ASSERT_NE(hs_large_alloc(60 * MiB, 0, false), nullptr);  // 56 and 4 MiB are left: a new chunk
    ASSERT_EQ(fake.asked.size(), 7u);
    EXPECT_EQ(fake.asked[0], std::make_pair(64 * MiB, 8 * MiB));
    EXPECT_EQ(fake.asked[1], std::make_pair(64 * MiB, 60 * MiB));
    EXPECT_EQ(fake.asked[2], std::make_pair(2048 * MiB, 2048 * MiB)) << "need beyond the quarter";
    EXPECT_EQ(fake.asked[6], std::make_pair(1024 * MiB, 60 * MiB)) << "a quarter of 8 GiB, capped at 1 GiB";
}

TEST_F(Large, ATickGivesBackWhatWasKeptTooLongAndNothingSooner)
{
    char *a = static_cast<char *>(hs_large_alloc(16 * MiB, 0, false));
    ASSERT_NE(hs_large_alloc(16 * MiB, 0, false), nullptr);
    ASSERT_TRUE(hs_large_free(a));
    fake.now += 900000000ULL;
    hs_large_tick();
    EXPECT_TRUE(fake.released.empty()) << "0.9 s: still kept";
    fake.now += 200000000ULL;
    hs_large_tick();
    ASSERT_EQ(fake.released.size(), 1u);
    EXPECT_EQ(fake.released[0], std::make_pair((uintptr_t)a, 16 * MiB));
    EXPECT_EQ(stats().kept_bytes, 0u);
    hs_large_tick();
    EXPECT_EQ(fake.released.size(), 1u) << "nothing kept: nothing to do";
}
