// HUGESHIM_HEAP_THP=dense: the pass's decisions, on synthetic residency.
#include <gtest/gtest.h>

#include <unistd.h>

#include <vector>

#include "../../allocator/hs_heap.h"
#include "../../allocator/hs_hugify.h"

namespace {

const hs_hugify_config_t kConfig = {461, 3, 3, 100, 1000};

std::vector<hs_hugify_action_t> plan(const std::vector<uint16_t> &resident, std::vector<bool> decided = {},
                                     size_t budget = 100, size_t *collapses = nullptr)
{
    size_t n = resident.size();
    decided.resize(n, false);
    bool d[64];
    for (size_t i = 0; i < n; i++)
        d[i] = decided[i];
    std::vector<hs_hugify_action_t> out(n);
    size_t c = hs_hugify_plan(resident.data(), d, n, &kConfig, budget, out.data());
    if (collapses)
        *collapses = c;
    return out;
}

const hs_hugify_action_t K = HS_HUGIFY_KEEP, C = HS_HUGIFY_COLLAPSE, A = HS_HUGIFY_ADVISE;

}  // namespace

TEST(Hugify, SparseUnitsStayOnBasePages)
{
    size_t c = 9;
    EXPECT_EQ(plan({0, 100, 256, 460, 300}, {}, 100, &c), (std::vector<hs_hugify_action_t>{K, K, K, K, K}));
    EXPECT_EQ(c, 0u);
}

TEST(Hugify, DenseUnitsCollapseOnceEach)
{
    EXPECT_EQ(plan({461, 512, 100}), (std::vector<hs_hugify_action_t>{C, C, K}));
    EXPECT_EQ(plan({512, 512}, {true, false}), (std::vector<hs_hugify_action_t>{K, C})) << "decided before";
}

TEST(Hugify, TheFrontOfADenseFillIsAdvisedAhead)
{
    // Unit 0 dense, unit 1 begun, units 2-4 untouched: advised; unit 5 left to measure.
    EXPECT_EQ(plan({512, 40, 0, 0, 0, 0}), (std::vector<hs_hugify_action_t>{C, K, A, A, A, K}));
    // Near the end of the units measured together, the window is shorter.
    EXPECT_EQ(plan({512, 40, 0, 0}), (std::vector<hs_hugify_action_t>{C, K, A, A}));
}

TEST(Hugify, NoAdviceWithoutAFrontOrWithTouchedUnitsAhead)
{
    EXPECT_EQ(plan({512, 0, 0, 0, 0, 0}), (std::vector<hs_hugify_action_t>{C, K, K, K, K, K})) << "next not begun";
    EXPECT_EQ(plan({512, 40, 0, 3, 0, 0}), (std::vector<hs_hugify_action_t>{C, K, K, K, K, K})) << "touched ahead";
    EXPECT_EQ(plan({512, 40}), (std::vector<hs_hugify_action_t>{C, K})) << "nothing ahead";
    EXPECT_EQ(plan({512, 40, 0, 0, 0, 0}, {false, false, false, true}),
              (std::vector<hs_hugify_action_t>{C, K, K, K, K, K}))
        << "decided ahead";
}

TEST(Hugify, BudgetBoundsTheCollapsesInAddressOrder)
{
    size_t c = 0;
    EXPECT_EQ(plan({512, 512, 512}, {}, 2, &c), (std::vector<hs_hugify_action_t>{C, C, K}));
    EXPECT_EQ(c, 2u);
}

namespace {
int wakes;
void count_wake()
{
    wakes++;
}
}  // namespace

// Without a thread of its own, dense mode's pass runs on the program's
// threads: the heap's hooks ask for it (the due flag and a wake, so that the
// shim's next malloc runs it) at most once per interval, and again after an
// interval even when a wake was lost to a racing malloc; sooner when the heap
// grows by 16 MiB of 4 KiB-page regions.
TEST(Hugify, HeapActivityAsksForAPassOncePerInterval)
{
    ASSERT_EQ(hs_hugify_init(&kConfig), 0);
    hs_hugify_inline(300000000ULL, 8, count_wake);
    const hs_heap_listener_t *listener = hs_heap_listener_now();
    ASSERT_NE(listener, nullptr) << "the hooks have no one to tell";
    void (*activity)(size_t) = listener->active;
    ASSERT_NE(activity, nullptr) << "the hooks have no one to tell of their activity";
    wakes = 0;
    hs_hugify_due_flag = 0;
    activity(0);
    EXPECT_EQ(wakes, 1);
    EXPECT_EQ(hs_hugify_due_flag, 1);
    activity(0);
    activity(0);
    EXPECT_EQ(wakes, 1) << "asked again within the interval";
    hs_hugify_run_due();
    EXPECT_EQ(hs_hugify_due_flag, 0) << "the pass ran and took the flag";
    activity(0);
    EXPECT_EQ(hs_hugify_due_flag, 0);
    usleep(400000);
    activity(0);
    EXPECT_EQ(wakes, 2) << "an interval later the heap's activity asks again";
    EXPECT_EQ(hs_hugify_due_flag, 1);
    hs_hugify_run_due();
    // A heap that takes 16 MiB of 4 KiB-page regions within the interval is
    // measured then, not an interval later: a fast fill gets its passes.
    activity(8u << 20);
    EXPECT_EQ(hs_hugify_due_flag, 0) << "8 MiB taken: not yet";
    activity(8u << 20);
    EXPECT_EQ(wakes, 3) << "16 MiB taken within the interval asks for a pass";
    EXPECT_EQ(hs_hugify_due_flag, HS_HUGIFY_DUE_NOW);
    hs_hugify_run_due();
    hs_heap_listen(nullptr);
}
