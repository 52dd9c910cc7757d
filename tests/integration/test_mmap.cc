// The program's own mmaps: large anonymous private ones become THP regions,
// everything else passes through, and cutting them up still works.
#include <unistd.h>

#include "harness.h"

using namespace hs_test;

namespace {
const long long kMiB = 1024 * 1024;
bool thp_usable() { return thp_mode() == "madvise" || thp_mode() == "always"; }
}  // namespace

TEST(Mmap, LargeAnonymousMappingBecomesThp)
{
    if (!thp_usable())
        GTEST_SKIP() << "THP is " << thp_mode();
    std::string report = temp_path("mmap.json");
    Result r = run({probe_path(), "mmap", "64M"}, shim_env({{"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("aligned_2m"), 1);
    EXPECT_GE(r.num("anon_huge_kb") * 1024, 64 * kMiB);
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "mmap.intercepted"), 1);
    EXPECT_EQ(report_num(j, "mmap.intercepted_bytes"), 64 * kMiB);
    EXPECT_EQ(report_num(j, "mmap.unmapped_bytes"), 64 * kMiB);
    unlink(report.c_str());
}

TEST(Mmap, BelowMmapMinPassesThrough)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    std::string report = temp_path("mmap_min.json");
    Result r = run({probe_path(), "mmap", "64M"}, shim_env({{"HUGESHIM_STATS", report}, {"HUGESHIM_MMAP_MIN", "128M"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("anon_huge_kb"), 0);
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "mmap.intercepted"), 0);
    EXPECT_GE(report_num(j, "mmap.passed"), 1);
    unlink(report.c_str());
}

TEST(Mmap, MmapOffLeavesMappingsAlone)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    Result r = run({probe_path(), "mmap", "64M"}, shim_env({{"HUGESHIM_MMAP", "0"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("anon_huge_kb"), 0);
}

// A length no machine can grant (stress-ng's mmap stressor asks for such):
// the kernel's ENOMEM reaches the program, as without hugeshim. Rounding it
// up to whole pages wrapped to 0, and a mapping of 0 bytes aligned to 2 MiB
// mapped and trimmed nothing and returned an address.
TEST(Mmap, ImpossibleLengthsFailAsTheKernelSays)
{
    Result plain = run({probe_path(), "mmap-impossible"}, {});
    ASSERT_EQ(plain.status, 0) << plain.err;
    std::string report = temp_path("mmap_impossible.json");
    Result r = run({probe_path(), "mmap-impossible"}, shim_env({{"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char *len : {"len0", "len1", "len2"}) {
        EXPECT_EQ(r.num(std::string(len) + "_failed"), 1) << len << " got an address\n" << r.out;
        EXPECT_EQ(r.num(std::string(len) + "_errno"), plain.num(std::string(len) + "_errno")) << len;
    }
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "mmap.intercepted"), 0);
    EXPECT_EQ(report_num(j, "mmap.passed"), 3) << "each went to the kernel as asked";
    unlink(report.c_str());
}

TEST(Mmap, PartialMunmapMprotectMadviseMremapBehave)
{
    std::string report = temp_path("edit.json");
    Result r = run({probe_path(), "mmap-edit"}, shim_env({{"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.kv["mmap_edit"], "ok");
    auto j = read_json(report);
    // The 16 MiB mapping was backed (the mremap target is the kernel's move).
    EXPECT_EQ(report_num(j, "mmap.intercepted"), 1);
    unlink(report.c_str());
}

TEST(Mmap, FileSharedFixedGuardAndStackMappingsPassThrough)
{
    std::string report = temp_path("pass.json");
    Result r = run({probe_path(), "mmap-passthrough"}, shim_env({{"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.kv["passthrough"], "ok");
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "mmap.intercepted"), 0);
    EXPECT_GE(report_num(j, "mmap.passed"), 6);
    if (thp_mode() == "madvise") {
        for (const char *k : {"file_anon_huge_kb", "shared_anon_huge_kb", "stack_anon_huge_kb", "fixed_anon_huge_kb"})
            EXPECT_EQ(r.num(k), 0) << k;
    }
    unlink(report.c_str());
}
