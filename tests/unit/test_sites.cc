// The sampler's statistics, the live table, attribution of hot units to
// sites, re-entry, and the trace writer's bound, with a fake unwinder and
// fake addresses (nothing is dereferenced).
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <cmath>
#include <string>
#include <vector>

#include "../../common/hs_trace_format.h"
#include "../../observe/hs_sites.h"
#include "../../observe/hs_trace.h"

namespace {

thread_local uintptr_t fake_site = 0x401000;
thread_local bool reenter = false;

int fake_backtrace(void **frames, int max)
{
    if (reenter) {
        // A signal handler allocating while the sampler runs.
        reenter = false;
        hs_sites_left = -1;
        hs_sites_note_alloc((void *)0x7000000, 64);
    }
    int n = max < 3 ? max : 3;
    for (int i = 0; i < n; i++)
        frames[i] = (void *)(fake_site + (uintptr_t)i * 0x100);
    return n;
}

class SitesTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        hs_sites_reset_for_tests();
        hs_sites_config_t c = {};
        c.interval_bytes = 64 << 10;
        c.max_sites = 64;
        c.nodes = 2;
        c.backtrace = fake_backtrace;
        char why[200];
        ASSERT_EQ(hs_sites_init(&c, why, sizeof why), 0) << why;
    }
    void TearDown() override { hs_sites_reset_for_tests(); }

    // The site whose first frame is `site`.
    static bool find(uintptr_t site, hs_site_stats_t *out)
    {
        for (unsigned id = 0; id < 64; id++)
            if (hs_sites_get(id, out) && out->depth && out->frames[0] == site)
                return true;
        return false;
    }
};

const uintptr_t kSmall = 0x401000, kLarge = 0x402000;

}  // namespace

TEST_F(SitesTest, SmallAndLargeAllocationsAreEstimatedWithoutBias)
{
    fake_site = kSmall;
    const size_t n = 200000, size = 1000;
    for (size_t i = 0; i < n; i++)
        hs_sites_note_alloc((void *)(0x10000000 + i * 1024), size);
    fake_site = kLarge;
    for (size_t i = 0; i < 100; i++)
        hs_sites_note_alloc((void *)(0x800000000ULL + i * (16ULL << 20)), 8 << 20);
    hs_site_stats_t small, large;
    ASSERT_TRUE(find(kSmall, &small));
    ASSERT_TRUE(find(kLarge, &large));
    // One sample per 64 KiB on average: about 3052 samples of the small site.
    double expected = (double)n * size / 65536.0;
    EXPECT_NEAR((double)small.samples, expected, expected * 0.1);
    EXPECT_NEAR((double)small.allocated, (double)n * size, (double)n * size * 0.1);
    EXPECT_NEAR((double)small.allocations, (double)n, (double)n * 0.1);
    // Every 8 MiB allocation is sampled and stands for itself.
    EXPECT_EQ(large.samples, 100u);
    EXPECT_NEAR((double)large.allocated, 800.0 * (1 << 20), 800.0 * (1 << 20) * 0.001);
    hs_sites_totals_t t;
    hs_sites_get_totals(&t);
    EXPECT_EQ(t.sites, 2u);
    EXPECT_EQ(t.table_full, 0u);
}

TEST_F(SitesTest, FreedSamplesLeaveTheLiveTableAndHotUnitsAreAttributed)
{
    fake_site = kSmall;
    std::vector<uintptr_t> small;
    for (size_t i = 0; i < 100000; i++) {
        uintptr_t p = 0x10000000 + i * 1024;
        hs_sites_note_alloc((void *)p, 1000);
        small.push_back(p);
    }
    fake_site = kLarge;
    const uintptr_t base = 0x800000000ULL;
    for (size_t i = 0; i < 20; i++)
        hs_sites_note_alloc((void *)(base + i * (8ULL << 20)), 8 << 20);
    for (uintptr_t p : small)
        hs_sites_note_free((void *)p);
    // Hot: the first ten large allocations, whole, on node 1; five of them moved.
    std::vector<hs_hot_unit_t> hot;
    for (size_t i = 0; i < 10; i++)
        for (size_t u = 0; u < 4; u++)
            hot.push_back({base + i * (8ULL << 20) + u * (2ULL << 20), 2u << 20, 2, 1, 1, 1, (uint8_t)(i < 5), 0, 0});
    hs_sites_epoch(hot.data(), hot.size());
    hs_site_stats_t s;
    ASSERT_TRUE(find(kSmall, &s));
    EXPECT_EQ(s.live, 0u);
    EXPECT_EQ(s.hot, 0u);
    ASSERT_TRUE(find(kLarge, &s));
    const double mib = 1 << 20;
    EXPECT_NEAR((double)s.live, 160 * mib, mib);
    EXPECT_NEAR((double)s.hot, 80 * mib, mib);
    EXPECT_NEAR((double)s.on_node[1], 80 * mib, mib);
    EXPECT_EQ(s.on_node[0], 0u);
    EXPECT_NEAR((double)s.moved, 40 * mib, mib);
    // A second epoch with nothing hot: hot goes to 0, the peak and the sum stay.
    hs_sites_epoch(nullptr, 0);
    ASSERT_TRUE(find(kLarge, &s));
    EXPECT_EQ(s.hot, 0u);
    EXPECT_NEAR((double)s.hot_peak, 80 * mib, mib);
    EXPECT_NEAR((double)s.hot_sum, 80 * mib, mib);
    unsigned top[4];
    ASSERT_EQ(hs_sites_top(true, top, 4), 1u);  // only the large site was ever hot
    ASSERT_TRUE(hs_sites_get(top[0], &s));
    EXPECT_EQ(s.frames[0], kLarge);
}

TEST_F(SitesTest, ASampleTakenInsideTheSamplerIsSkippedAndCounted)
{
    fake_site = kSmall;
    reenter = true;
    hs_sites_note_alloc((void *)0x20000000, 8 << 20);
    hs_sites_totals_t t;
    hs_sites_get_totals(&t);
    EXPECT_EQ(t.samples, 1u);
    EXPECT_EQ(t.reentered, 1u);
}

namespace {

// libunwind's stand-in: an unwinder with a lock of its own, held a while.
pthread_mutex_t unwinder_lock = PTHREAD_MUTEX_INITIALIZER;

int locking_backtrace(void **frames, int max)
{
    pthread_mutex_lock(&unwinder_lock);
    usleep(200);
    int n = fake_backtrace(frames, max);
    pthread_mutex_unlock(&unwinder_lock);
    return n;
}

}  // namespace

TEST(SitesFork, AChildForkedWhileAnotherThreadUnwindsCanSample)
{
    hs_sites_reset_for_tests();
    hs_sites_config_t c = {};
    c.interval_bytes = 64;
    c.max_sites = 64;
    c.nodes = 1;
    c.backtrace = locking_backtrace;
    char why[200];
    ASSERT_EQ(hs_sites_init(&c, why, sizeof why), 0) << why;
    std::atomic<bool> stop{false};
    std::vector<std::thread> samplers;
    for (int t = 0; t < 2; t++)
        samplers.emplace_back([&] {
            while (!stop.load())
                hs_sites_note_alloc((void *)0x30000000, 1 << 20);  // every call sampled
        });
    // As the shim's atfork handlers do: the child samples once and says
    // whether that sample was counted.  A child that waits on the
    // unwinder's lock, left held by a thread the child does not have, is
    // killed after 5 s, and the test stops there.
    int hung = 0, failed = 0;
    for (int i = 0; i < 40; i++) {
        hs_sites_prefork();
        pid_t pid = fork();
        if (pid == 0) {
            hs_sites_postfork_child();
            hs_sites_totals_t before, after;
            hs_sites_get_totals(&before);
            hs_sites_note_alloc((void *)0x40000000, 1 << 20);
            hs_sites_get_totals(&after);
            _exit(after.samples == before.samples + 1 ? 0 : 3);
        }
        hs_sites_postfork_parent();
        ASSERT_GT(pid, 0);
        int st = 0, waited = 0;
        while (waitpid(pid, &st, WNOHANG) != pid) {
            if (++waited == 5000) {
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
                hung++;
                break;
            }
            usleep(1000);
        }
        if (hung)
            break;
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            failed++;
    }
    stop = true;
    for (auto &t : samplers)
        t.join();
    EXPECT_EQ(hung, 0) << "children left waiting on the unwinder's lock";
    EXPECT_EQ(failed, 0) << "children whose sample was not counted";
    hs_sites_totals_t t;
    hs_sites_get_totals(&t);
    EXPECT_GT(t.samples, 40u);
    hs_sites_reset_for_tests();
}

TEST(TraceWriter, TheFileStaysWithinItsBoundAndCountsWhatItDropped)
{
    std::string path = "/tmp/hs_unit_trace_" + std::to_string(getpid());
    char why[300];
    const uint64_t max = 600 << 10;
    ASSERT_EQ(hs_trace_open(path.c_str(), max, 100, why, sizeof why), 0) << why;
    // 100000 units of 4 KiB with alternating heat: each unit its own run.
    const size_t units = 100000;
    std::vector<uint8_t> heat(units);
    for (size_t u = 0; u < units; u++)
        heat[u] = u % 2 ? 100 : 0;
    hs_track_region_view_t r = {0x10000000, units * 4096, 12, 3, heat.data(), nullptr};
    for (uint64_t e = 1; e <= 5; e++)
        hs_trace_write_epoch(e, &r, 1, nullptr, 0);
    uint64_t bytes, epochs, dropped;
    hs_trace_totals(&bytes, &epochs, &dropped);
    EXPECT_EQ(epochs, 1u);
    EXPECT_EQ(dropped, 4u);
    hs_trace_close();
    FILE *f = fopen(path.c_str(), "rb");
    ASSERT_TRUE(f);
    std::vector<uint8_t> data(2 * max);
    size_t len = fread(data.data(), 1, data.size(), f);
    fclose(f);
    EXPECT_LE(len, max);
    EXPECT_GT(len, units * 3);
    // Read it back: one epoch of exactly `units` units, and the end record.
    size_t pos = HS_TRACE_MAGIC_LEN, epoch_records = 0;
    uint8_t tag;
    hs_tdec_t d;
    bool ended = false;
    int rc;
    while ((rc = hs_trace_next_record(data.data(), len, &pos, &tag, &d)) == 1) {
        if (tag == 'E') {
            epoch_records++;
            hs_tdec_varint(&d);
            hs_tdec_varint(&d);
            uint64_t covered = 0;
            while (d.p < d.end && !d.bad) {
                covered += hs_tdec_varint(&d);
                hs_tdec_u8(&d);
                hs_tdec_u8(&d);
            }
            EXPECT_EQ(covered, units);
        }
        if (tag == 'Z') {
            EXPECT_EQ(hs_tdec_varint(&d), 1u);
            EXPECT_EQ(hs_tdec_varint(&d), 4u);
            ended = true;
        }
    }
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(epoch_records, 1u);
    EXPECT_TRUE(ended);
    unlink(path.c_str());
}
