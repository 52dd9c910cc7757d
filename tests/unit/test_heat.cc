// The heat model on synthetic access sequences: heat, decay and threshold,
// and the attribution of 2 MiB units to the node that writes them.
#include <gtest/gtest.h>

#include <memory>

#include <vector>

#include "../../track/hs_heat.h"
#include "fakes.h"

namespace {

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


struct Unit2M {
    hs_heat_region_t r;
    std::vector<uint64_t> mem;
    explicit Unit2M(size_t units) : mem(hs_heat_metadata_bytes(units * 2 * M, 21) / 8 + 1, 0)
    {
        hs_heat_region_init(&r, 0, units * 2 * M, 21, mem.data());
    }
    void write(size_t unit, int node) { hs_heat_mark_written(&r, unit * 2 * M, unit * 2 * M + 1, node); }
    void read(size_t unit, int node) { hs_heat_mark_read(&r, unit * 2 * M, unit * 2 * M + 1, node); }
};

}  // namespace

TEST(Heat, DecayAndThresholdOverEpochs)
{
    HeatRegion h(64 * M, 16 * M, 21);  // 8 units of 2 MiB
    hs_heat_config_t c = {50, 50, 0, 0};
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
    hs_heat_config_t c = {0, 100, 0, 0};  // no memory: hot = written this epoch
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
    hs_heat_config_t c = {50, 50, 0, 0};
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

// ---- attribution -------------------------------------------------------------

TEST(Attribution, OneWriterNodeIsTheAccessorFromTheFirstEpoch)
{
    Unit2M h(1);
    hs_heat_config_t c = {50, 50, 0, 0};
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
    hs_heat_config_t c = {50, 50, 0, 0};
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

// A unit that has only ever been seen from several nodes at once (read by
// two nodes' threads from the first epoch the sampler watched it) is shared,
// not unknown: the report counts it so.
TEST(Attribution, AUnitSeenOnlyFromSeveralNodesIsShared)
{
    Unit2M h(1);
    hs_heat_config_t c = {50, 50, 0, 0};
    h.read(0, 0);
    h.read(0, 1);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_last_writer(&h.r, 0), HS_HEAT_SAMPLE_MIXED);
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), -2);
    hs_heat_end_epoch(&h.r, &c); // an epoch without samples changes nothing
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), -2);
}

// The sampler parks a unit again after an access, so one epoch may bring
// samples from several nodes: such epochs give no node a vote, and a unit
// read from two nodes in every epoch is shared from the start, even when one
// of them (the first touch) began with a majority.
TEST(Attribution, SamplesFromSeveralNodesInOneEpochMakeAUnitShared)
{
    Unit2M h(1);
    hs_heat_config_t c = {50, 50, 0, 0};
    h.write(0, 0);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), 0);
    for (int e = 0; e < 10; e++) {
        h.write(0, e % 2);
        h.write(0, 1 - e % 2);
        hs_heat_end_epoch(&h.r, &c);
        EXPECT_EQ(hs_heat_last_writer(&h.r, 0), HS_HEAT_SAMPLE_MIXED) << "several writers: none is the last";
        if (e >= 1) {
            EXPECT_EQ(hs_heat_accessor(&h.r, 0), -2) << "epoch " << e;
        }
    }
    EXPECT_TRUE(hs_heat_is_hot(&h.r, 0, &c));
    // One node alone again: it becomes the accessor as a moved writer does.
    int epochs = 0;
    while (hs_heat_accessor(&h.r, 0) != 1 && epochs < 20) {
        h.write(0, 1);
        h.write(0, 1);
        hs_heat_end_epoch(&h.r, &c);
        epochs++;
    }
    EXPECT_LE(epochs, 3);
}

// A unit read from two nodes where one epoch in two saw only one reader (few
// samples): the lone epochs never give that reader the unit.
TEST(Attribution, LoneSamplesBetweenMixedEpochsLeaveAUnitShared)
{
    Unit2M h(1);
    hs_heat_config_t c = {50, 50, 0, 0};
    for (int e = 0; e < 4; e++) {
        h.write(0, 0);
        h.write(0, 1);
        hs_heat_end_epoch(&h.r, &c);
    }
    for (int e = 0; e < 20; e++) {
        if (e % 2 == 0) {
            h.write(0, e % 4 ? 0 : 1);
        } else {
            h.write(0, 0);
            h.write(0, 1);
        }
        hs_heat_end_epoch(&h.r, &c);
        EXPECT_EQ(hs_heat_accessor(&h.r, 0), -2) << "epoch " << e;
    }
}

// Filled on node 0, then used from node 1: the fill is the unit's only
// rival sample, and one epoch of use decides (early, for placement).
TEST(Attribution, OneEpochOfUseOverrulesTheFirstTouch)
{
    Unit2M h(1);
    hs_heat_config_t c = {50, 50, 1u << 0, 0};
    h.write(0, 0);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), 0);
    EXPECT_TRUE(hs_heat_decided_early(&h.r, 0));
    h.write(0, 1);
    c.busy_nodes = 1u << 1;
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), 1) << "one epoch of use after the first touch";
    EXPECT_TRUE(hs_heat_decided_early(&h.r, 0));
    // From the third epoch with samples on, the vote is the decayed one:
    // one epoch from node 0 again leaves the unit shared, not early.
    h.write(0, 0);
    c.busy_nodes = 1u << 0;
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), -2);
    EXPECT_FALSE(hs_heat_decided_early(&h.r, 0));
    c.busy_nodes = 1u << 1;
    Unit2M g(1);
    g.write(0, 1);
    hs_heat_end_epoch(&g.r, &c);
    EXPECT_TRUE(hs_heat_decided_early(&g.r, 0));
    hs_heat_end_epoch(&g.r, &c);
    EXPECT_FALSE(hs_heat_decided_early(&g.r, 0)) << "the flag is for the epoch it was decided in";
}

// Two readers on nodes 0 and 1, and an epoch whose samples all came from
// node 1 (the sampler caught that reader first at every turn): with node 0's
// threads busy too, that epoch alone decides nothing early.  A write sample
// (one per epoch, from write protection) does, busy or not.
TEST(Attribution, ALoneReadWhileOtherNodesRunDecidesNothingEarly)
{
    for (uint64_t busy : {0u, 3u}) {
        SCOPED_TRACE(busy);
        Unit2M h(1);
        hs_heat_config_t c = {50, 50, busy, 0};
        h.read(0, 1);
        hs_heat_end_epoch(&h.r, &c);
        EXPECT_FALSE(hs_heat_decided_early(&h.r, 0)) << "busy nodes unknown (0) or several (3)";
        EXPECT_EQ(hs_heat_accessor(&h.r, 0), 1) << "the vote itself goes on as without the rule";
        h.read(0, 0);
        h.read(0, 1);
        hs_heat_end_epoch(&h.r, &c);
        EXPECT_FALSE(hs_heat_decided_early(&h.r, 0));
    }
    Unit2M g(1);
    hs_heat_config_t only1 = {50, 50, 1u << 1, 0};
    g.read(0, 1);
    hs_heat_end_epoch(&g.r, &only1);
    EXPECT_TRUE(hs_heat_decided_early(&g.r, 0)) << "node 1 alone ran the program";

    Unit2M w(1);
    hs_heat_config_t both = {50, 50, 3u, 0};
    w.write(0, 0); // the first touch
    hs_heat_end_epoch(&w.r, &both);
    w.write(0, 1);
    hs_heat_end_epoch(&w.r, &both);
    EXPECT_TRUE(hs_heat_decided_early(&w.r, 0)) << "a write sample decides with both nodes busy";
    EXPECT_EQ(hs_heat_accessor(&w.r, 0), 1);
    Unit2M m(1);
    m.read(0, 1);
    m.read(0, 1);
    hs_heat_end_epoch(&m.r, &both);
    EXPECT_FALSE(hs_heat_decided_early(&m.r, 0)) << "reads alone while node 0 may read too";
    m.write(0, 1);
    hs_heat_end_epoch(&m.r, &both);
    EXPECT_TRUE(hs_heat_decided_early(&m.r, 0)) << "the read mark lasts one epoch";
    Unit2M u(1);
    hs_heat_config_t unknown = {50, 50, 0, 0};
    u.write(0, 1);
    hs_heat_end_epoch(&u.r, &unknown);
    EXPECT_FALSE(hs_heat_decided_early(&u.r, 0)) << "busy nodes unknown: no early decision";
}

// An update seen by the sampler: the load of a parked unit (a read sample),
// then the store that its write protection shows (a write sample from the
// same node).  A write epoch, reads before or after it: a write decides at
// once, as without the read.  A write from another node makes it mixed.
TEST(Attribution, AReadThenAWriteFromOneNodeIsAWriteEpoch)
{
    hs_heat_config_t both = {50, 50, 3u, 0};
    for (int reads_after : {0, 2}) {
        SCOPED_TRACE(reads_after);
        Unit2M h(1);
        h.write(0, 0); // the first touch
        hs_heat_end_epoch(&h.r, &both);
        EXPECT_EQ(hs_heat_sample(&h.r, 0, 1, true), HS_HEAT_COUNT_READ);
        EXPECT_EQ(hs_heat_sample(&h.r, 0, 1, false), HS_HEAT_COUNT_READ_WRITTEN) << "node 1's read unit is written";
        for (int i = 0; i < reads_after; i++)
            EXPECT_EQ(hs_heat_sample(&h.r, 0, 1, true), HS_HEAT_COUNT_NONE) << "counted already";
        EXPECT_EQ(hs_heat_sample(&h.r, 0, 1, false), HS_HEAT_COUNT_NONE);
        hs_heat_end_epoch(&h.r, &both);
        EXPECT_TRUE(hs_heat_decided_early(&h.r, 0));
        EXPECT_EQ(hs_heat_accessor(&h.r, 0), 1);
    }
    Unit2M x(1);
    x.write(0, 0);
    hs_heat_end_epoch(&x.r, &both);
    EXPECT_EQ(hs_heat_sample(&x.r, 0, 1, true), HS_HEAT_COUNT_READ);
    EXPECT_EQ(hs_heat_sample(&x.r, 0, 0, false), HS_HEAT_COUNT_WRITTEN) << "another node: its own written unit";
    hs_heat_end_epoch(&x.r, &both);
    EXPECT_FALSE(hs_heat_decided_early(&x.r, 0));
    EXPECT_EQ(hs_heat_last_writer(&x.r, 0), HS_HEAT_SAMPLE_MIXED);
}

// A table read on node 0 while node 1's threads fill buffers: node 1 ran,
// but its threads were not seen reading (the tracker's not_reading_nodes:
// no read samples, or more write samples than read ones), so two read
// samples from node 0 in one epoch name node 0 at once.  One read
// sample, a node 1 that read too, or a reader whose node did not run decide
// nothing early; the vote goes on as without the rule.
TEST(Attribution, ReadsDecideEarlyWhileTheOtherNodesOnlyWrite)
{
    auto one_epoch = [](int reads, uint64_t busy, uint64_t not_reading) {
        auto h = std::make_unique<Unit2M>(1);
        hs_heat_config_t c = {50, 50, 1u << 1, 0};
        h->write(0, 1);  // the first touch, on node 1
        hs_heat_end_epoch(&h->r, &c);
        c.busy_nodes = busy;
        c.not_reading_nodes = not_reading;
        for (int i = 0; i < reads; i++)
            h->read(0, 0);
        hs_heat_end_epoch(&h->r, &c);
        return h;
    };
    auto h = one_epoch(2, 3u, 1u << 1);
    EXPECT_TRUE(hs_heat_decided_early(&h->r, 0)) << "node 1 did not read";
    EXPECT_EQ(hs_heat_accessor(&h->r, 0), 0);
    h = one_epoch(4, 3u, 1u << 1);
    EXPECT_TRUE(hs_heat_decided_early(&h->r, 0)) << "four samples as two";
    h = one_epoch(1, 3u, 1u << 1);
    EXPECT_FALSE(hs_heat_decided_early(&h->r, 0)) << "a single read sample may be chance";
    h = one_epoch(2, 3u, 0);
    EXPECT_FALSE(hs_heat_decided_early(&h->r, 0)) << "node 1 read";
    h = one_epoch(2, 2u, 1u << 1);
    EXPECT_FALSE(hs_heat_decided_early(&h->r, 0)) << "the reader's node did not run";
    h = one_epoch(2, 7u, 1u << 1);
    EXPECT_FALSE(hs_heat_decided_early(&h->r, 0)) << "node 2 ran and read";
    h = one_epoch(2, 7u, 6u);
    EXPECT_TRUE(hs_heat_decided_early(&h->r, 0)) << "nodes 1 and 2 only wrote";
    // Reads from two nodes in the epoch: mixed, whatever the others did.
    Unit2M m(1);
    hs_heat_config_t c = {50, 50, 3u, 3u};
    m.read(0, 0);
    m.read(0, 0);
    m.read(0, 1);
    hs_heat_end_epoch(&m.r, &c);
    EXPECT_FALSE(hs_heat_decided_early(&m.r, 0));
    EXPECT_EQ(hs_heat_last_writer(&m.r, 0), HS_HEAT_SAMPLE_MIXED);
}

// Two readers on nodes 0 and 1, then epochs whose samples all came from
// node 1 while node 0's threads ran too: for HS_HEAT_SHARED_EPOCHS epochs
// after the last mixed one those count as mixed, and only then do lone
// samples vote.  With node 0 quiet they vote at once.
TEST(Attribution, ASharedUnitStaysSharedThroughAFewLoneEpochs)
{
    for (uint64_t busy : {3u, 2u}) {
        SCOPED_TRACE(busy);
        Unit2M h(1);
        hs_heat_config_t c = {50, 50, 3u, 0};
        for (int e = 0; e < 4; e++) {
            h.write(0, 0);
            h.write(0, 1);
            hs_heat_end_epoch(&h.r, &c);
        }
        EXPECT_LT(hs_heat_accessor(&h.r, 0), 0) << "no accessor";
        c.busy_nodes = busy;
        int epochs = 0;
        while (hs_heat_accessor(&h.r, 0) != 1 && epochs < 20) {
            h.write(0, 1);
            hs_heat_end_epoch(&h.r, &c);
            epochs++;
            if (busy == 3u && epochs <= HS_HEAT_SHARED_EPOCHS) {
                EXPECT_EQ(hs_heat_last_writer(&h.r, 0), HS_HEAT_SAMPLE_MIXED) << "epoch " << epochs;
            }
        }
        EXPECT_EQ(hs_heat_accessor(&h.r, 0), 1);
        EXPECT_EQ(epochs, busy == 3u ? HS_HEAT_SHARED_EPOCHS + 2 : 2);
    }
    // The mark is renewed by each mixed epoch, not by the lone ones.
    Unit2M g(1);
    hs_heat_config_t c = {50, 50, 3u, 0};
    for (int round = 0; round < 5; round++) {
        g.write(0, 0);
        g.write(0, 1);
        hs_heat_end_epoch(&g.r, &c);
        for (int e = 0; e < HS_HEAT_SHARED_EPOCHS; e++) {
            g.write(0, round % 2);
            hs_heat_end_epoch(&g.r, &c);
            EXPECT_LT(hs_heat_accessor(&g.r, 0), 0) << "round " << round << " epoch " << e;
        }
    }
}

TEST(Attribution, AWriterThatMovesIsFollowedWithinTwoEpochs)
{
    Unit2M h(1);
    hs_heat_config_t c = {50, 50, 0, 0};
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

// The sampler takes one sample an epoch of a unit settled on the node of
// that sample: its accessor, alone in the last epoch closed, seen in earlier
// epochs too, and not marked shared.  Anything else takes the full samples.
TEST(Attribution, SettledOnlyOnItsAccessorsNodeAfterTwoEpochsAlone)
{
    Unit2M h(2);
    hs_heat_config_t c = {50, 50, 0, 0};
    EXPECT_FALSE(hs_heat_settled(&h.r, 0, 0)) << "no samples yet";
    h.read(0, 0);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_accessor(&h.r, 0), 0);
    EXPECT_FALSE(hs_heat_settled(&h.r, 0, 0)) << "one epoch of samples";
    h.read(0, 0);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_TRUE(hs_heat_settled(&h.r, 0, 0));
    EXPECT_FALSE(hs_heat_settled(&h.r, 0, 1)) << "a sample from another node is news";
    EXPECT_FALSE(hs_heat_settled(&h.r, 2 * M, 0)) << "another unit";
    EXPECT_FALSE(hs_heat_settled(&h.r, 4 * M, 0)) << "outside the region";
    hs_heat_end_epoch(&h.r, &c); // not accessed in the last epoch closed
    EXPECT_FALSE(hs_heat_settled(&h.r, 0, 0));
    h.read(0, 0);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_TRUE(hs_heat_settled(&h.r, 0, 0));
    // Read from both nodes in one epoch: shared, and not settled while the
    // mark lasts, even for lone samples of the old accessor.
    h.read(0, 0);
    h.read(0, 1);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_FALSE(hs_heat_settled(&h.r, 0, 0));
    for (int e = 0; e < 2; e++) {
        h.read(0, 0);
        hs_heat_end_epoch(&h.r, &c);
        EXPECT_FALSE(hs_heat_settled(&h.r, 0, 0)) << "epoch " << e << " after the mixed one";
    }
}

TEST(Attribution, UnobservedUnitsKeepTheirHeatAndVote)
{
    Unit2M h(2);
    hs_heat_config_t c = {50, 50, 0, 0};
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


// Idleness: epochs without an access count only once a park confirmed it
// (the sampler held the unit a whole epoch and nobody touched it); watched by
// write-protection alone, a unit only read would look idle.
TEST(Idle, OnlyAParkedUnitNobodyTouchedCountsAsIdle)
{
    Unit2M h(3);
    hs_heat_config_t c = {50, 50, 0, 0};
    for (int u = 0; u < 3; u++)
        h.write(static_cast<size_t>(u), 0);
    hs_heat_end_epoch(&h.r, &c);
    for (int e = 0; e < 3; e++)
        hs_heat_end_epoch(&h.r, &c);  // watched (write-protected), unwritten
    EXPECT_EQ(hs_heat_idle_epochs(&h.r, 0), 0u) << "write-protection alone never confirms";
    hs_heat_mark_idle(&h.r, 0 * 2 * M + 4096);  // parked all epoch, untouched
    hs_heat_mark_idle(&h.r, 1 * 2 * M);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_idle_epochs(&h.r, 0), 4u) << "three watched epochs and the parked one";
    EXPECT_EQ(hs_heat_idle_epochs(&h.r, 1), 4u);
    EXPECT_EQ(hs_heat_idle_epochs(&h.r, 2), 0u);
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_idle_epochs(&h.r, 0), 5u) << "confirmed stays confirmed until an access";
    h.write(1, 1);  // a read sample (the sampler marks reads as accesses)
    hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_idle_epochs(&h.r, 1), 0u) << "an access resets it";
    EXPECT_EQ(hs_heat_idle_epochs(&h.r, 0), 6u);
    for (int e = 0; e < 100; e++)
        hs_heat_end_epoch(&h.r, &c);
    EXPECT_EQ(hs_heat_idle_epochs(&h.r, 0), 63u) << "saturates";
    hs_heat_mark_idle(&h.r, 3 * 2 * M);  // outside: ignored
    HeatRegion small(0, 64 * 4096, 12);
    hs_heat_mark_idle(&small.r, 0);  // base-page units keep no idleness
    EXPECT_EQ(hs_heat_idle_epochs(&small.r, 0), 0u);
}
