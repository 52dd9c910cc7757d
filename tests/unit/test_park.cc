// The access sampler's choice of units to park (track/park.c), without a
// kernel: which units neither written nor read each epoch's arming tries.
#include <gtest/gtest.h>

#include <set>

extern "C" {
#include "../../track/hs_park.h"
}

namespace {

constexpr uintptr_t kUnit = 2ULL << 20;
constexpr uintptr_t kBase = 1ULL << 34;

bool every_tenth(void *, uintptr_t unit) { return (unit - kBase) / kUnit % 10 == 0; }

// One epoch's arming over n cold units: the ones hs_park_worth chose.
std::set<size_t> arm(size_t n)
{
    std::set<size_t> chosen;
    for (size_t u = 0; u < n; u++)
        if (hs_park_worth(kBase + u * kUnit))
            chosen.insert(u);
    hs_park_end_epoch();
    return chosen;
}

class Sampler : public ::testing::Test {
protected:
    void SetUp() override
    {
        hs_park_want(true, 64, 20, 1000000000ULL);
        hs_park_prefer(nullptr, nullptr);
        hs_park_end_epoch();
    }
    void TearDown() override
    {
        hs_park_prefer(nullptr, nullptr);
        hs_park_want(true, 2048, 256, 1000000000ULL);
        hs_park_end_epoch();
    }
};

}  // namespace

// 100 cold units, a budget of 20: the rotation tries 20 an epoch and every
// unit within a few epochs.
TEST_F(Sampler, TheRotationTriesEveryColdUnitWithinTheBudget)
{
    std::set<size_t> all;
    for (int e = 0; e < 8; e++) {
        auto chosen = arm(100);
        EXPECT_LE(chosen.size(), 20u) << "epoch " << e;
        all.insert(chosen.begin(), chosen.end());
    }
    EXPECT_EQ(all.size(), 100u);
}

// With a preference (tiering: the units on slow nodes), the preferred units
// are tried every epoch, and the others share at most half the budget.
TEST_F(Sampler, PreferredUnitsAreTriedEveryEpoch)
{
    hs_park_prefer(every_tenth, nullptr);
    std::set<size_t> others;
    for (int e = 0; e < 12; e++) {
        auto chosen = arm(100);
        EXPECT_LE(chosen.size(), 20u) << "epoch " << e;
        size_t preferred = 0;
        for (size_t u : chosen) {
            if (u % 10 == 0)
                preferred++;
            else
                others.insert(u);
        }
        if (e == 0)
            continue;  // the first epoch knows of no preferred unit yet
        EXPECT_EQ(preferred, 10u) << "epoch " << e;
        EXPECT_LE(chosen.size() - preferred, 10u) << "epoch " << e;
    }
    EXPECT_EQ(others.size(), 90u) << "the rotation still reaches every other unit";
}
