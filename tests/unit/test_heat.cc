// The heat model on synthetic access sequences, and the tracker following the
// registry with a fake backend and a fake clock.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "../../allocator/hs_registry.h"
#include "../../common/hs_counters.h"
#include "../../common/hs_log.h"
#include "../../track/hs_heat.h"
#include "../../track/hs_tracker.h"

namespace {

const uintptr_t M = 1 << 20;

struct HeatRegion {
    hs_heat_region_t r;
    std::vector<uint64_t> mem;
    HeatRegion(uintptr_t start, size_t len, unsigned shift)
        : mem(hs_heat_metadata_bytes(len, shift) / 8 + 1, 0)
    {
        hs_heat_region_init(&r, start, len, shift, mem.data());
    }
};

void hs_heat_mark_written_t(hs_heat_region_t *r, uintptr_t s, uintptr_t e) { hs_heat_mark_written(r, s, e, -1); }

std::vector<std::pair<uintptr_t, uintptr_t>> hot_ranges(const hs_heat_region_t &r, const hs_heat_config_t &c)
{
    std::vector<std::pair<uintptr_t, uintptr_t>> out;
    hs_heat_hot_ranges(
        &r, &c, [](void *arg, uintptr_t s, uintptr_t e) {
            static_cast<std::vector<std::pair<uintptr_t, uintptr_t>> *>(arg)->push_back({s, e});
        },
        &out);
    return out;
}

}  // namespace

TEST(Heat, DecayAndThresholdOverEpochs)
{
    HeatRegion h(64 * M, 16 * M, 21);  // 8 units of 2 MiB
    hs_heat_config_t c = {50, 50};
    EXPECT_EQ(h.r.nunits, 8u);
    // Epoch 1: all written; then only unit 3 keeps being written.
    hs_heat_mark_written_t(&h.r, 64 * M, 80 * M);
    EXPECT_EQ(hs_heat_end_epoch(&h.r, &c), 16 * M);
    for (int epoch = 0; epoch < 2; epoch++) {
        hs_heat_mark_written_t(&h.r, 64 * M + 3 * 2 * M + 100, 64 * M + 3 * 2 * M + 101);
        hs_heat_end_epoch(&h.r, &c);
    }
    EXPECT_EQ(h.r.heat[3], 87);  // 50, 75, 87
    EXPECT_EQ(h.r.heat[0], 12);  // 50, 25, 12
    auto hot = hot_ranges(h.r, c);
    ASSERT_EQ(hot.size(), 1u);
    EXPECT_EQ(hot[0].first, 64 * M + 6 * M);
    EXPECT_EQ(hot[0].second, 64 * M + 8 * M);
}

TEST(Heat, WriteSpanningUnitsMarksEach)
{
    HeatRegion h(0, 64 * 4096, 12);
    hs_heat_config_t c = {0, 100};  // no memory: hot = written this epoch
    hs_heat_mark_written_t(&h.r, 4096 * 10 - 1, 4096 * 12 + 1);
    hs_heat_mark_written_t(&h.r, 1ULL << 40, (1ULL << 40) + 1);  // outside: ignored
    EXPECT_EQ(hs_heat_end_epoch(&h.r, &c), 4u * 4096);
    auto hot = hot_ranges(h.r, c);
    ASSERT_EQ(hot.size(), 1u);
    EXPECT_EQ(hot[0], std::make_pair(uintptr_t(4096 * 9), uintptr_t(4096 * 13)));
    EXPECT_EQ(hs_heat_end_epoch(&h.r, &c), 0u);  // written bits cleared by the epoch
}

TEST(Heat, ShortLastUnitCountsItsBytes)
{
    HeatRegion h(0, 5 * M, 21);  // units of 2, 2 and 1 MiB
    hs_heat_config_t c = {50, 50};
    hs_heat_mark_written_t(&h.r, 4 * M, 5 * M);
    EXPECT_EQ(hs_heat_end_epoch(&h.r, &c), 1 * M);
}

TEST(Heat, TopNHottestFirstThenLowerAddress)
{
    HeatRegion a(0, 8 * 4096, 12), b(1 * M, 4 * 4096, 12);
    const uint8_t ha[] = {10, 90, 50, 0, 90, 0, 0, 1};
    const uint8_t hb[] = {95, 0, 50, 0};
    memcpy(a.r.heat, ha, 8);
    memcpy(b.r.heat, hb, 4);
    const hs_heat_region_t *regions[] = {&a.r, &b.r};
    uintptr_t out[5];
    ASSERT_EQ(hs_heat_top(regions, 2, 5, out), 5u);
    EXPECT_EQ(out[0], 1 * M);
    EXPECT_EQ(out[1], 1 * 4096u);
    EXPECT_EQ(out[2], 4 * 4096u);
    EXPECT_EQ(out[3], 2 * 4096u);
    EXPECT_EQ(out[4], 1 * M + 2 * 4096);
}

TEST(Heat, MetadataIsAtMostATenthOfAPercent)
{
    EXPECT_LE(hs_heat_metadata_bytes(1ULL << 30, 12) * 1000, 1ULL << 30);
    EXPECT_LE(hs_heat_metadata_bytes(1ULL << 30, 21) * 1000, 1ULL << 30);
}

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
        hs_heat_config_t heat = {50, 50};
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
