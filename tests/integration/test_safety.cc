// Preload safety: the cases that break allocators in real programs.
#include <cstring>
#include <unistd.h>

#include "harness.h"

using namespace hs_test;

namespace {

void expect_ok(const std::vector<std::string> &args, const std::string &key, const Env &extra = {})
{
    std::vector<std::string> argv = {probe_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    // thp, base pages, thp with medium objects in their own base-page arenas,
    // and thp made huge only where dense
    for (const char *config : {"thp", "none", "thp+medium-base", "thp+dense"}) {
        Env env = extra;
        env["HUGESHIM_BACKING"] = strncmp(config, "thp", 3) ? config : "thp";
        if (!strcmp(config, "thp+medium-base"))
            env["HUGESHIM_HEAP_MEDIUM"] = "base";
        if (!strcmp(config, "thp+dense"))
            env["HUGESHIM_HEAP_THP"] = "dense";
        Result r = run(argv, shim_env(env));
        EXPECT_EQ(r.status, 0) << config << ": " << r.err;
        EXPECT_EQ(r.kv[key], "ok") << config << ": " << r.out << r.err;
    }
}

}  // namespace

TEST(Safety, SixtyFourThreadsAllocatingAndFreeing)
{
    Result r = run({probe_path(), "threads", "64"}, shim_env());
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("threads_ok"), 64);
}

TEST(Safety, ForkWhileThreadsAllocate) { expect_ok({"fork"}, "fork"); }
TEST(Safety, ForkThenExec) { expect_ok({"forkexec"}, "forkexec"); }
TEST(Safety, PosixSpawn) { expect_ok({"spawn"}, "spawn"); }
TEST(Safety, DlopenDlclose) { expect_ok({"dlopen"}, "dlopen"); }
TEST(Safety, ErrnoPreservedByEveryInterposedCall) { expect_ok({"errno"}, "errno"); }

TEST(Safety, ErrnoPreservedWhenHugetlbAttemptsFailInside)
{
    HugetlbPool pool(2048, 0);
    HS_REQUIRE_POOL(pool);
    expect_ok({"errno"}, "errno", {{"HUGESHIM_RETRY_MS", "0"}});
    Result r = run({probe_path(), "errno"}, shim_env({{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_RETRY_MS", "0"}}));
    EXPECT_EQ(r.kv["errno"], "ok") << r.err;
}

TEST(Safety, WholeMallocApi) { expect_ok({"api"}, "api"); }
TEST(Safety, CallocOverFreedMemoryIsZeroAndSparesItsNeighbours) { expect_ok({"calloc-reuse"}, "calloc_reuse"); }
TEST(Safety, ReallocGrowthAcrossSizes) { expect_ok({"realloc"}, "realloc"); }
TEST(Safety, GlibcMemoryGoesBackToGlibc) { expect_ok({"foreign"}, "foreign"); }

TEST(Safety, ReallocGrowthStaysHuge)
{
    if (thp_mode() != "madvise" && thp_mode() != "always")
        GTEST_SKIP() << "THP is " << thp_mode();
    Result r = run({probe_path(), "realloc"}, shim_env());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GE(r.num("anon_huge_kb"), 256 * 1024);
}

TEST(Safety, CxxExceptionsNewDeleteAndThreads)
{
    for (const char *backing : {"thp", "none"}) {
        Result r = run({build_dir() + "/tests/hs_probe_cxx"}, shim_env({{"HUGESHIM_BACKING", backing}}));
        EXPECT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.kv["cxx"], "ok") << r.out;
        // hugeshim serves operator new itself, sized and aligned deletes
        // included, and a failed new still throws std::bad_alloc.
        EXPECT_EQ(r.kv["new_from"], "libhugeshim.so") << r.out;
        EXPECT_EQ(r.kv["sized_aligned"], "ok") << r.out;
        EXPECT_EQ(r.kv["nothrow_null"], "ok") << r.out;
        EXPECT_EQ(r.kv["bad_alloc"], "ok") << r.out;
    }
}

TEST(Safety, ForkedChildWithoutPidInPathDoesNotOverwriteTheReport)
{
    std::string report = temp_path("fork.json");
    Result r = run({probe_path(), "fork"}, shim_env({{"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = read_json(report);
    // The parent wrote it: its pid, and its 32 MiB array.
    EXPECT_EQ(j["program"], "hs_probe");
    EXPECT_GE(report_num(j, "heap.large.chunk_bytes"), 32 * 1024 * 1024);
    unlink(report.c_str());
}

TEST(Safety, SetuidProgramIsLeftAlone)
{
    if (!is_root())
        GTEST_SKIP() << "making a setuid copy needs root (CI runs as root)";
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    // A copy of the probe, setuid to nobody: run by root, it is a secure
    // exec (AT_SECURE), and neither the loader nor hugeshim may act in it.
    std::string copy = temp_path("setuid_probe");
    std::string report = temp_path("setuid.json");
    ASSERT_EQ(system(("cp " + probe_path() + " " + copy + " && chown nobody " + copy + " && chmod 4755 " + copy).c_str()),
              0);
    Result r = run({copy, "heap", "64M"}, shim_env({{"HUGESHIM_STATS", report}}));
    unlink(copy.c_str());
    if (r.status != 0 && r.err.find("Permission denied") != std::string::npos)
        GTEST_SKIP() << "/tmp is mounted nosuid here";
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("anon_huge_kb"), 0);
    EXPECT_TRUE(read_file(report).empty()) << "hugeshim acted in a setuid program";
}

// The heap window: free() takes any pointer in it for the heap's, so nothing
// else may ever be mapped there.  The kernel's maps show heap objects in
// accessible ranges running on into the inaccessible reservation, and heap
// memory the program unmaps held inaccessible, not left as a hole.
TEST(Safety, HeapWindowHoldsItsAddressRange)
{
    for (const char *backing : {"thp", "none"}) {
        std::string report = temp_path("window.json");
        Result r = run({probe_path(), "window"},
                       shim_env({{"HUGESHIM_BACKING", backing}, {"HUGESHIM_STATS", report}}));
        ASSERT_EQ(r.status, 0) << backing << ": " << r.err;
        EXPECT_EQ(r.kv["small_followed_by"], "---p") << backing;
        EXPECT_EQ(r.kv["unmapped_heap_is"], "---p") << backing;
        nlohmann::json j = read_json(report);
        EXPECT_GE(report_num(j, "heap.window_bytes"), 4LL << 30) << backing;
        unlink(report.c_str());
    }
}

// Under an address-space limit (ulimit -v) no window is reserved: the
// reservation would count against the limit.  The heap still works, and a
// heap range the program unmaps is then gone from the maps.
TEST(Safety, NoHeapWindowUnderAnAddressSpaceLimit)
{
    std::string report = temp_path("window-limited.json");
    Result r, api;
    {
        AddressSpaceLimit limit(64ULL << 30);
        ASSERT_TRUE(limit.ok());
        r = run({probe_path(), "window"}, shim_env({{"HUGESHIM_STATS", report}}));
        api = run({probe_path(), "api"}, shim_env({}));
    }
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.kv["unmapped_heap_is"], "gap");
    EXPECT_EQ(api.kv["api"], "ok") << api.err;
    nlohmann::json j = read_json(report);
    EXPECT_EQ(report_num(j, "heap.window_bytes"), 0);
    unlink(report.c_str());
}
