// Forked children and the hugetlb heap: none may die of SIGBUS because the
// pool cannot cover their copy-on-write (see allocator/hs_forkguard.h).
#include <unistd.h>

#include "harness.h"

using namespace hs_test;

TEST(Fork, ChildrenSurviveWhenThePoolCannotCoverTheirCopyOnWrite)
{
    HugetlbPool pool(2048, 20);  // the 24 MiB array takes 14 pages: 6 left for 2 children
    HS_REQUIRE_POOL(pool);
    std::string report = temp_path("forktiny.json");
    Result r = run({probe_path(), "fork-write", "24M", "2"},
                   shim_env({{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_STATS", report}}), "", 120);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("children_failed"), 0) << r.out;
    EXPECT_EQ(r.num("child_0_status"), 0) << "135 is SIGBUS: killed for an inadequate hugepage pool";
    EXPECT_EQ(r.num("kernel_page_kb"), 2048) << "the parent keeps its hugetlb pages";
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "fork.copied"), 2);
    EXPECT_GE(report_num(j, "fork.copied_bytes"), 2LL * (24 << 20));
    EXPECT_EQ(report_num(j, "fork.unprotected"), 0);
    unlink(report.c_str());
}

TEST(Fork, ChildrenShareTheHugetlbHeapWhenThePoolCoversThem)
{
    HugetlbPool pool(2048, 200);
    HS_REQUIRE_POOL(pool);
    std::string report = temp_path("forkbig.json");
    Result r = run({probe_path(), "fork-write", "24M", "2"},
                   shim_env({{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_STATS", report}}), "", 120);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("children_failed"), 0) << r.out;
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "fork.shared"), 2);
    EXPECT_EQ(report_num(j, "fork.copied"), 0);
    unlink(report.c_str());
}
