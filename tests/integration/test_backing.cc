// Heap backing of every kind, checked in the kernel's view of the child:
// AnonHugePages and KernelPageSize of the VMA holding the allocation, hugetlb
// counters of smaps_rollup and /proc/meminfo, and the report's counters.
#include <sys/sysinfo.h>
#include <unistd.h>

#include "harness.h"

using namespace hs_test;

namespace {

const long long kMiB = 1024 * 1024;

Result run_probe(const Env &env, const std::vector<std::string> &args, const std::string &report)
{
    Env e = env;
    e["HUGESHIM_STATS"] = report;
    std::vector<std::string> argv = {probe_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = run(argv, shim_env(e));
    EXPECT_EQ(r.status, 0) << r.err;
    return r;
}

}  // namespace

TEST(Backing, PlainRunGetsNoHugePagesInMadviseMode)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode() << ", the baseline differs";
    Result r = run({probe_path(), "heap", "256M"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("anon_huge_kb"), 0);
}

TEST(Backing, ThpHeapIsHugeInTheKernel)
{
    if (thp_mode() == "never" || thp_mode() == "absent")
        GTEST_SKIP() << "THP is " << thp_mode();
    std::string report = temp_path("thp.json");
    Result r = run_probe({{"HUGESHIM_BACKING", "thp"}}, {"heap", "256M"}, report);
    // The VMA holding the array is almost all huge pages (ends may be partial).
    EXPECT_GE(r.num("anon_huge_kb") * 1024, 250 * kMiB);
    EXPECT_EQ(r.num("kernel_page_kb"), 4);
    auto j = read_json(report);
    EXPECT_EQ(j["backing"]["requested"], "thp");
    EXPECT_GE(report_num(j, "backing.thp_bytes"), 256 * kMiB);
    EXPECT_EQ(report_num(j, "backing.hugetlb_2m_bytes"), 0);
    EXPECT_GE(report_num(j, "heap.large.chunk_bytes"), 256 * kMiB) << "the array is a large object";
    unlink(report.c_str());
}

// A program that frees its big array and goes on leaves few huge pages at
// exit (the span heap keeps freed pages 1 s at most, then gives them back at
// its next call): the report keeps the peak the kernel gave, read before the
// heap gave them back.
TEST(Backing, ReportKeepsThePeakOfHugePagesAfterTheArrayIsFreed)
{
    if (thp_mode() == "never" || thp_mode() == "absent")
        GTEST_SKIP() << "THP is " << thp_mode();
    std::string report = temp_path("peak.json");
    Result r = run_probe({{"HUGESHIM_BACKING", "thp"}}, {"heap", "256M", "1200"}, report);
    ASSERT_GE(r.num("total_anon_huge_kb") * 1024, 250 * kMiB) << "the probe saw its array huge while it lived";
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "kernel.anon_huge_peak_bytes"), r.num("total_anon_huge_kb") * 1024 - 4 * kMiB);
    EXPECT_LT(report_num(j, "kernel.anon_huge_bytes"), 64 * kMiB) << "the array was freed before exit";
    EXPECT_GE(report_num(j, "kernel.rss_peak_bytes"), 256 * kMiB);
    EXPECT_LE(report_num(j, "heap.large.kept_bytes"), 8 * kMiB) << "the array was given back before exit "
                                                                    "(the last 8 MiB buffer is kept)";
    // Exiting right after the free, the pages are still kept for the next
    // large object: the report says how much of what the kernel shows at
    // exit that is, and the summary says so.
    r = run_probe({{"HUGESHIM_BACKING", "thp"}}, {"heap", "256M"}, report);
    j = read_json(report);
    EXPECT_GE(report_num(j, "heap.large.kept_bytes"), 250 * kMiB);
    EXPECT_GE(report_num(j, "kernel.anon_huge_bytes"), report_num(j, "heap.large.kept_bytes") - 4 * kMiB)
        << "the kept pages are resident huge pages";
    Result sum = run({build_dir() + "/hugeshim", "stats", report});
    EXPECT_NE(sum.out.find("of it freed, kept for reuse"), std::string::npos) << sum.out;
    unlink(report.c_str());
}

TEST(Backing, MediumObjectsOnBasePagesHoldOnlyTheirWrittenPages)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode() << ": base-page arenas would still get huge pages";
    // 4096 objects of 64 KiB (256 MiB) with one byte written in each.
    std::string report = temp_path("medium.json");
    Result huge = run_probe({{"HUGESHIM_HEAP_THP", "eager"}}, {"sparse", "4096", "64K"}, report);
    EXPECT_GE(huge.num("total_anon_huge_kb") * 1024, 200 * kMiB) << "eager keeps medium objects on THP";
    EXPECT_EQ(report_num(read_json(report), "heap.medium_bytes"), 0);
    // The default (HEAP_THP=auto: dense, as tracking is off) holds the written pages only.
    Result dflt = run_probe({}, {"sparse", "4096", "64K"}, report);
    EXPECT_LT(dflt.num("total_rss_kb") * 1024, 64 * kMiB) << "the default made a sparse heap huge";
    EXPECT_EQ(read_json(report)["heap"]["thp"], "dense");
    Result base = run_probe({{"HUGESHIM_HEAP_MEDIUM", "base"}}, {"sparse", "4096", "64K"}, report);
    EXPECT_LT(base.num("total_rss_kb") * 1024, 64 * kMiB) << "about one 4 KiB page per object, not 2 MiB per 32";
    EXPECT_LT(base.num("total_anon_huge_kb") * 1024, 8 * kMiB);
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "heap.medium_bytes"), 256 * kMiB);
    EXPECT_GE(report_num(j, "backing.base_bytes"), 256 * kMiB);
    unlink(report.c_str());
}

// HUGESHIM_HEAP_THP=auto (the default) is dense unless tracking may run:
// tracking's write protection of 4 KiB-page regions would split the units
// dense mode collapsed, so the heap is eager then.  The kernel says which:
// a sparse heap is huge pages only under eager.
TEST(Backing, DefaultHeapIsEagerOnlyWhereTrackingMayRun)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    std::string report = temp_path("auto.json");
    struct Case {
        Env env;
        const char *mode;
    } cases[] = {
        {{}, "dense"},
        {{{"HUGESHIM_TRACK", "auto"}}, "eager"},
        {{{"HUGESHIM_SITES", "1"}}, "eager"},
        {{{"HUGESHIM_TRACK", "auto"}, {"HUGESHIM_HEAP_THP", "dense"}}, "dense"},
        {{{"HUGESHIM_TRACK", "off"}, {"HUGESHIM_HEAP_THP", "eager"}}, "eager"},
        {{{"HUGESHIM_BACKING", "none"}}, "none"},
    };
    for (const Case &c : cases) {
        std::string label;
        for (const auto &kv : c.env)
            label += kv.first + "=" + kv.second + " ";
        Result r = run_probe(c.env, {"sparse", "2048", "64K"}, report);
        EXPECT_EQ(read_json(report)["heap"]["thp"], c.mode) << label;
        if (!strcmp(c.mode, "eager"))
            EXPECT_GE(r.num("total_anon_huge_kb") * 1024, 100 * kMiB) << label;
        else
            EXPECT_LT(r.num("total_anon_huge_kb") * 1024, 8 * kMiB) << label;
    }
    unlink(report.c_str());
}

TEST(Backing, DenseHeapMakesOnlyItsDenseUnitsHuge)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode() << ": the kernel would give huge pages to every unit";
    std::string report = temp_path("dense.json");
    // 4096 objects of 64 KiB with one byte written in each: no unit is dense.
    Result sparse = run_probe({{"HUGESHIM_HEAP_THP", "dense"}}, {"sparse", "4096", "64K", "1", "500"}, report);
    EXPECT_LT(sparse.num("total_rss_kb") * 1024, 64 * kMiB);
    EXPECT_LT(sparse.num("total_anon_huge_kb") * 1024, 8 * kMiB);
    auto s = read_json(report);
    EXPECT_EQ(report_num(s, "heap.hugified_bytes"), 0);
    EXPECT_EQ(report_num(s, "heap.dense_fills"), 0);
    EXPECT_EQ(report_num(s, "backing.thp_bytes"), 0) << "a sparse heap took a THP region";
    // The same written whole: the pass, run by the program's own thread
    // while it allocates (no thread of hugeshim's: tracking is off), makes
    // the units huge, and once it found the heap filling densely the regions
    // the heap takes next are THP regions, whose units are huge at their first
    // write: more huge pages than collapses and advice account for.
    Result dense = run_probe({{"HUGESHIM_HEAP_THP", "dense"}}, {"sparse", "4096", "64K", "64K", "3000"}, report);
    EXPECT_GE(dense.num("total_anon_huge_kb") * 1024, 200 * kMiB);
    EXPECT_EQ(dense.num("threads"), 1) << "dense mode started a thread of its own";
    auto j = read_json(report);
    long long one_by_one = report_num(j, "heap.hugified_bytes") + report_num(j, "heap.advised_ahead_bytes");
    EXPECT_GE(report_num(j, "heap.dense_fills"), 1);
    EXPECT_GE(dense.num("total_anon_huge_kb") * 1024, one_by_one + 16 * kMiB)
        << "no region taken while the heap filled densely became huge pages at its first write (born huge: "
        << report_num(j, "heap.born_huge_bytes") << " bytes, collapsed or advised: " << one_by_one << ")";
    // Mapped in 2 MiB granules, a region holds a little more than its request.
    EXPECT_LE(report_num(j, "backing.thp_bytes"), report_num(j, "heap.born_huge_bytes") + 16 * kMiB)
        << "only regions taken while the heap filled densely are THP regions";
    unlink(report.c_str());
}

// Dense mode's huge units are given back whole or not at all: calloc over
// reused memory of a 4 KiB-page arena gives its pages back to be zeroed
// (MADV_DONTNEED), which inside a unit the pass made huge would split it
// (before: 10 of 135 units split by 1024 callocs of 64 KiB); it writes zeroes
// there instead, and the purge hooks skip such units.
TEST(Backing, DenseHugeUnitsStayWholeWhenCallocReusesTheirMemory)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    std::string report = temp_path("dc.json");
    Result r = run_probe({{"HUGESHIM_HEAP_THP", "dense"}}, {"dense-calloc", "4096", "64K"}, report);
    EXPECT_GE(r.num("huge_before_kb") * 1024, 200 * kMiB);
    EXPECT_GE(r.num("huge_after_kb") + 4096, r.num("huge_before_kb")) << "callocs split the units dense mode made huge";
    unlink(report.c_str());
}

// Dense mode's pass runs inside the program's allocation calls: aligned
// allocations and realloc run it too, not only malloc and calloc (a program
// allocating only with posix_memalign kept 16 MiB of its 256 MiB huge).
TEST(Backing, DensePassRunsFromAlignedAllocationsToo)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    std::string report = temp_path("af.json");
    Result r = run_probe({{"HUGESHIM_HEAP_THP", "dense"}}, {"aligned-fill", "4096", "64K"}, report);
    EXPECT_GE(r.num("total_anon_huge_kb") * 1024, 200 * kMiB);
    unlink(report.c_str());
}

// With retain on, jemalloc grows an arena in a geometric series; unbounded, a
// growing heap's next request passed the machine's RAM and swap, the kernel
// refused it, and since the series only advances on success every later
// growth asked again (stress-ng's malloc stressor: thousands of failing
// 24 GiB mmaps).  Address space six times RAM and swap, never written: every
// request the heap makes is one the kernel grants.
TEST(Backing, AGrowingHeapNeverAsksForMoreThanTheKernelGrants)
{
    struct sysinfo si;
    ASSERT_EQ(sysinfo(&si), 0);
    uint64_t machine = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
    uint64_t count = 6 * machine / (64 * kMiB) + 1;
    std::string report = temp_path("grow.json");
    Result r = run_probe({}, {"grow", std::to_string(count), "64M"}, report);
    EXPECT_EQ(r.num("allocated"), (long long)count);
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "backing.map_failed"), 0) << "the heap asked the kernel for more than it grants";
    EXPECT_EQ(report_num(j, "backing.fallbacks.thp_map_failed"), 0);
    EXPECT_GE(report_num(j, "heap.large.chunk_bytes"), (long long)(count * 64 * kMiB)) << "64 MiB blocks are large objects";
    unlink(report.c_str());
}

TEST(Backing, CallocGivesPagesBackInsteadOfWritingZeroes)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    // 1024 blocks of 64 KiB written and freed (64 MiB), then 1024 callocs
    // of 64 KiB never written: jemalloc's own path for arenas with hooks
    // memsets the reused memory, keeping it all resident (66 MB here against
    // 49 MB with its pages given back; 4 MB for the process itself).
    std::string report = temp_path("calloc.json");
    Result r = run_probe({{"HUGESHIM_BACKING", "none"}}, {"calloc-rss", "1024", "64K"}, report);
    EXPECT_LT(r.num("total_rss_kb") * 1024, 58 * kMiB);
    // Fresh memory needs no zeroing in any setting: a calloc of 4 MiB and one
    // of 256 MiB, read at both ends, stay unwritten.
    for (const char *size : {"4M", "256M"})
        for (const Env &env : {Env{}, Env{{"HUGESHIM_BACKING", "none"}}, Env{{"HUGESHIM_HEAP_THP", "dense"}},
                               Env{{"HUGESHIM_HEAP_MEDIUM", "base"}}}) {
            Result f = run_probe(env, {"calloc-fresh", size}, report);
            EXPECT_LT(f.num("total_rss_kb") * 1024, 24 * kMiB) << size << " " << (env.empty() ? "thp" : env.begin()->second);
        }
    unlink(report.c_str());
}

// A large block freed and followed by a smaller one: the second is placed on
// the first's pages, which the kernel neither faults nor zeroes again, and
// which stay whole huge pages; a calloc there still reads zero.  The
// control: without hugeshim (HUGESHIM_ENABLE=0, glibc, which unmaps such a
// chunk at free) every page of the second block faults again.
TEST(Backing, AFreedLargeBlocksHugePagesServeTheNextOne)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    std::string report = temp_path("large-reuse.json");
    Result r = run_probe({}, {"large-reuse"}, report);
    EXPECT_EQ(r.num("same_start"), 1);
    EXPECT_LT(r.num("reuse_faults"), 8) << "48 MiB written: 24 THP faults when fresh";
    EXPECT_GE(r.num("anon_huge_kb") * 1024, 48 * kMiB) << "the kept pages are whole huge pages";
    EXPECT_EQ(r.num("calloc_nonzero"), 0);
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "heap.large.reused_bytes"), 2 * 48 * kMiB);
    Result control = run_probe({{"HUGESHIM_ENABLE", "0"}}, {"large-reuse"}, report);
    EXPECT_GE(control.num("reuse_faults"), 24) << "glibc faults the block in anew";
    unlink(report.c_str());
}

TEST(Backing, NoneIsTheControlWithBasePages)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode() << ": 'none' would still get huge pages from the kernel";
    std::string report = temp_path("none.json");
    Result r = run_probe({{"HUGESHIM_BACKING", "none"}}, {"heap", "256M"}, report);
    EXPECT_EQ(r.num("anon_huge_kb"), 0);
    auto j = read_json(report);
    EXPECT_EQ(j["backing"]["requested"], "base");
    EXPECT_EQ(report_num(j, "backing.thp_bytes"), 0);
    EXPECT_GE(report_num(j, "backing.base_bytes"), 256 * kMiB);
    EXPECT_EQ(report_num(j, "kernel.anon_huge_bytes"), 0);
    unlink(report.c_str());
}

TEST(Backing, Hugetlb2MHeapUsesThePool)
{
    HugetlbPool pool(2048, 200);
    HS_REQUIRE_POOL(pool);
    std::string report = temp_path("h2m.json");
    Result r = run_probe({{"HUGESHIM_BACKING", "hugetlb"}}, {"heap", "256M"}, report);
    EXPECT_EQ(r.num("kernel_page_kb"), 2048);
    EXPECT_GE(r.num("hugetlb_kb") * 1024, 256 * kMiB);
    EXPECT_GE(r.num("total_hugetlb_kb") * 1024, 256 * kMiB);
    // The child saw the pool drained by what it mapped.
    EXPECT_LE(r.num("meminfo_hugepages_free"), 200 - 128);
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "backing.hugetlb_2m_bytes"), 256 * kMiB);
    EXPECT_GE(report_num(j, "kernel.hugetlb_bytes"), 256 * kMiB);
    EXPECT_EQ(report_num(j, "backing.fallbacks.hugetlb_2m_exhausted"), 0);
    unlink(report.c_str());
}

TEST(Backing, Hugetlb2MEmptyPoolFallsBackToThpAndCounts)
{
    HugetlbPool pool(2048, 0);
    HS_REQUIRE_POOL(pool);
    std::string report = temp_path("h2m_empty.json");
    Result r = run_probe({{"HUGESHIM_BACKING", "hugetlb"}}, {"heap", "128M"}, report);
    EXPECT_EQ(r.num("kernel_page_kb"), 4);
    EXPECT_EQ(r.num("hugetlb_kb"), 0);
    if (thp_mode() == "madvise" || thp_mode() == "always") {
        EXPECT_GE(r.num("anon_huge_kb") * 1024, 120 * kMiB);
    }
    // Counted, and quiet at the default verbosity (every process of a
    // program tree would print it); said with HUGESHIM_VERBOSE=1.
    EXPECT_EQ(r.err.find("hugetlb_2m pages could not be had"), std::string::npos) << r.err;
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "backing.fallbacks.hugetlb_2m_exhausted"), 1);
    Result v = run_probe({{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_VERBOSE", "1"}}, {"heap", "128M"}, report);
    EXPECT_NE(v.err.find("hugetlb_2m pages could not be had"), std::string::npos) << v.err;
    EXPECT_EQ(report_num(j, "backing.hugetlb_2m_bytes"), 0);
    EXPECT_GE(report_num(j, "backing.thp_bytes"), 128 * kMiB);
    unlink(report.c_str());
}

TEST(Backing, Hugetlb2MPoolRunsOutMidwayRestFallsBack)
{
    // 16 pages (32 MiB) for 48 blocks of 4 MiB live at once: the pool runs out
    // after the first few, the rest must come from THP, and every block keeps
    // its data (the probe verifies each one).
    HugetlbPool pool(2048, 16);
    HS_REQUIRE_POOL(pool);
    std::string report = temp_path("h2m_runs_out.json");
    Result r = run_probe({{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_RETRY_MS", "0"}}, {"heap-many", "48", "4M"},
                         report);
    EXPECT_EQ(r.num("first_kernel_page_kb"), 2048);
    EXPECT_EQ(r.num("last_kernel_page_kb"), 4);
    EXPECT_GT(r.num("total_hugetlb_kb"), 0);
    EXPECT_LE(r.num("total_hugetlb_kb"), 32 * 1024);
    EXPECT_EQ(r.num("meminfo_hugepages_free"), 16 - r.num("total_hugetlb_kb") / 2048);
    auto j = read_json(report);
    EXPECT_GT(report_num(j, "backing.hugetlb_2m_bytes"), 0);
    EXPECT_GT(report_num(j, "backing.thp_bytes"), 0);
    EXPECT_GE(report_num(j, "backing.fallbacks.hugetlb_2m_exhausted"), 1);
    unlink(report.c_str());
}

TEST(Backing, FailedKindIsNotRetriedUntilRetryMsPassed)
{
    HugetlbPool pool(2048, 0);
    HS_REQUIRE_POOL(pool);
    std::string report = temp_path("retry.json");
    run_probe({{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_RETRY_MS", "3600000"}}, {"heap-many", "32", "4M"},
              report);
    auto j = read_json(report);
    // One real attempt; every later request skipped the kind without a syscall.
    EXPECT_EQ(report_num(j, "backing.fallbacks.hugetlb_2m_exhausted"), 1);
    EXPECT_GE(report_num(j, "backing.fallbacks.skipped_recent_failure"), 1);
    unlink(report.c_str());
}

TEST(Backing, Hugetlb1GHeap)
{
    HugetlbPool pool(1048576, 1);
    HS_REQUIRE_POOL(pool);
    std::string report = temp_path("h1g.json");
    Result r = run_probe({{"HUGESHIM_BACKING", "hugetlb1g"}}, {"heap", "256M"}, report);
    EXPECT_EQ(r.num("kernel_page_kb"), 1048576);
    EXPECT_EQ(r.num("total_hugetlb_kb"), 1048576);
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "backing.hugetlb_1g_bytes"), 1024 * kMiB);
    unlink(report.c_str());
}

TEST(Backing, Hugetlb1GEmptyFallsBackTo2M)
{
    HugetlbPool gig(1048576, 0);
    HS_REQUIRE_POOL(gig);
    HugetlbPool two(2048, 200);
    HS_REQUIRE_POOL(two);
    std::string report = temp_path("h1g_empty.json");
    Result r = run_probe({{"HUGESHIM_BACKING", "hugetlb1g"}}, {"heap", "128M"}, report);
    EXPECT_EQ(r.num("kernel_page_kb"), 2048);
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "backing.fallbacks.hugetlb_1g_exhausted"), 1);
    EXPECT_GE(report_num(j, "backing.hugetlb_2m_bytes"), 128 * kMiB);
    unlink(report.c_str());
}

TEST(Backing, ReportIsWrittenAtomicallyWithPidExpanded)
{
    std::string stem = temp_path("pid_%p.json");
    Result r = run(
        {"/bin/sh", "-c", probe_path() + " heap 16M >/dev/null & echo pid=$!; wait"},
        shim_env({{"HUGESHIM_STATS", stem}, {"HUGESHIM_PROGRAMS", "hs_probe"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    std::string path = stem;
    path.replace(path.find("%p"), 2, r.kv["pid"]);
    auto j = read_json(path);
    EXPECT_EQ(j["program"], "hs_probe");
    EXPECT_EQ(std::to_string(j["pid"].get<long long>()), r.kv["pid"]);
    for (const char *key : {"backing.thp_bytes", "backing.hugetlb_2m_bytes", "backing.hugetlb_1g_bytes",
                            "backing.base_bytes", "mmap.intercepted", "mmap.passed", "kernel.anon_huge_bytes",
                            "kernel.hugetlb_bytes"})
        EXPECT_GE(report_num(j, key), 0) << key;
    EXPECT_TRUE(j["backing"]["fallbacks"].is_object());
    // No temporary file left beside it.
    std::string dir = "/tmp";
    EXPECT_TRUE(read_file(path + ".tmp." + r.kv["pid"]).empty());
    unlink(path.c_str());
}

TEST(Backing, StderrReportSurvivesAProgramThatClosesStderr)
{
    // sort (coreutils) closes stdout and stderr at exit through close_stdout.
    std::string input = temp_path("in.txt");
    {
        std::ofstream f(input);
        f << "b\na\n";
    }
    Result r = run({"sort", input}, shim_env({{"HUGESHIM_STATS", "stderr"}}));
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "a\nb\n");
    EXPECT_NE(r.err.find("hugeshim report: sort"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("kernel.anon_huge_bytes"), std::string::npos) << r.err;
    unlink(input.c_str());
}
