// Fault injection: the kernel says no in the middle of a run, for real where
// a test can make it (a pool emptied, an address-space limit lowered, the
// report's directory removed, the program closing hugeshim's descriptors) and
// through HUGESHIM_FAULTS where it cannot (os/fault.c).  Each time the
// program (hs_probe churn: objects checked before every free, an array
// checked at the end) must finish with its data intact, and the report must
// count what failed.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <thread>

#include "harness.h"

using namespace hs_test;

namespace {

const char *const kSeconds = "3";

// The probe's own verdict: exit 0, every object and the array as written.
void expect_intact(const Result &r, const std::string &what)
{
    EXPECT_FALSE(r.timed_out) << what << ": hung";
    EXPECT_EQ(r.status, 0) << what << ": " << r.err;
    EXPECT_EQ(r.num("corrupt"), 0) << what;
    EXPECT_NE(r.out.find("\nok\n"), std::string::npos) << what << ": " << r.out;
    EXPECT_GT(r.num("verified"), 0) << what;
}

Result churn(const Env &env, int timeout_s = 120)
{
    return run({probe_path(), "churn", kSeconds}, shim_env(env), "", timeout_s);
}

// Runs churn with a sync path; when it is halfway, calls mid(pid), then lets
// it go on.  extra: arguments after the sync path.
Result churn_with_midpoint(const Env &env, const std::function<void(pid_t)> &mid,
                           const std::vector<std::string> &extra = {})
{
    std::string sync = temp_path("churn-sync");
    std::vector<std::string> argv = {probe_path(), "churn", kSeconds, sync};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Result r;
    std::thread child([&] { r = run(argv, shim_env(env), "", 120); });
    pid_t pid = 0;
    for (int i = 0; i < 6000 && pid == 0; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        std::string text = read_file(sync + ".mid");
        if (!text.empty() && text.back() == '\n')
            pid = (pid_t)std::stol(text);
    }
    if (pid > 0)
        mid(pid);
    std::FILE *go = std::fopen((sync + ".go").c_str(), "w");
    if (go)
        std::fclose(go);
    child.join();
    EXPECT_GT(pid, 0) << "the probe never reached its midpoint: " << r.err;
    unlink((sync + ".mid").c_str());
    unlink((sync + ".go").c_str());
    return r;
}

}  // namespace

TEST(Faults, BadSpecIsOneLineAndInjectsNothing)
{
    for (const char *spec : {"bogus", "map_thp:x", "scan:1:2:EWHAT", "uffd,uffd"}) {
        std::string report = temp_path("faults-bad.json");
        Result r = run({probe_path(), "heap", "16M"},
                       shim_env({{"HUGESHIM_FAULTS", spec}, {"HUGESHIM_STATS", report}}));
        EXPECT_EQ(r.status, 0) << spec << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << spec << ": " << r.err;
        EXPECT_NE(r.err.find("HUGESHIM_FAULTS"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("no fault injected"), std::string::npos) << r.err;
        nlohmann::json j = read_json(report);
        EXPECT_EQ(report_num(j, "errors.bad_options"), 1) << spec;
        EXPECT_EQ(report_num(j, "errors.injected_faults"), 0) << spec;
        EXPECT_GT(report_num(j, "backing.thp_bytes"), 0) << spec;
        unlink(report.c_str());
    }
}

// THP mappings refused from the fourth on: the heap carries on with base
// pages (the kernel shows fewer huge pages), counted as fallbacks.
TEST(Faults, ThpMappingsFailingMidRunFallBackToBasePages)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode() << ": huge pages would come without hugeshim's advice";
    std::string report = temp_path("faults-thp.json");
    Result r = churn({{"HUGESHIM_STATS", report}});
    expect_intact(r, "no faults");
    EXPECT_GT(r.num("total_anon_huge_kb"), 0) << "control: the same run gets huge pages without faults";
    long long control_base = report_num(read_json(report), "backing.base_bytes");  // jemalloc's own metadata

    r = churn({{"HUGESHIM_FAULTS", "map_thp:4"}, {"HUGESHIM_STATS", report}});
    expect_intact(r, "map_thp:4");
    nlohmann::json j = read_json(report);
    EXPECT_GE(report_num(j, "backing.fallbacks.thp_map_failed"), 1);
    EXPECT_EQ(report_num(j, "backing.fallbacks.thp_map_failed"), report_num(j, "errors.injected_faults"));
    EXPECT_GE(report_num(j, "backing.base_bytes"), control_base + (8 << 20)) << "later regions came as base pages";
    EXPECT_EQ(report_num(j, "backing.map_failed"), 0) << "base pages served every request";
    unlink(report.c_str());

    // Every THP mapping refused: the kernel holds no huge page for the
    // program (with the eager heap: dense mode's collapses make huge pages in
    // place, without a THP mapping).
    r = churn({{"HUGESHIM_FAULTS", "map_thp:0"}, {"HUGESHIM_HEAP_THP", "eager"}});
    expect_intact(r, "map_thp:0");
    EXPECT_EQ(r.num("total_anon_huge_kb"), 0);
}

// No THP mapping from the sixth on, no base-page one from the twentieth
// (jemalloc's boot and hooks take a dozen; fewer would stop it starting,
// which the next test covers): mallocs that need new memory return NULL (the
// program's own out-of-memory path), nothing else breaks.
TEST(Faults, EveryMappingFailingMidRunMallocReturnsNullAndDataSurvives)
{
    std::string report = temp_path("faults-all.json");
    Result r = churn({{"HUGESHIM_FAULTS", "map_thp:6,map_base:20"}, {"HUGESHIM_STATS", report}});
    expect_intact(r, "map_thp:6,map_base:20");
    EXPECT_GT(r.num("nulls"), 0) << r.out;
    nlohmann::json j = read_json(report);
    EXPECT_GE(report_num(j, "backing.map_failed"), 1);
    EXPECT_GE(report_num(j, "errors.injected_faults"), 2);
    unlink(report.c_str());
}

// jemalloc's first mappings failing: it cannot boot (its own boot code
// crashed on that before trust_madvise was set), so the program runs on
// glibc's malloc, with one line saying so.
TEST(Faults, HeapThatCannotStartLeavesTheProgramToGlibc)
{
    Result r = churn({{"HUGESHIM_FAULTS", "map_base:0"}});
    expect_intact(r, "map_base:0");
    EXPECT_NE(r.err.find("jemalloc could not start"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// For real: an address-space limit just above what the program maps,
// lowered halfway through.  The program starts under a limit (as after
// `ulimit -v`), so hugeshim reserves no heap window and every heap chunk is a
// new mapping the lowered limit can refuse.
TEST(Faults, AddressSpaceLimitLoweredMidRun)
{
    std::string report = temp_path("faults-rlimit.json");
    Result r;
    {
        AddressSpaceLimit start(1ULL << 40);
        ASSERT_TRUE(start.ok());
        r = churn_with_midpoint({{"HUGESHIM_STATS", report}}, [](pid_t pid) {
            std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
            size_t at = status.find("VmSize:");
            ASSERT_NE(at, std::string::npos);
            unsigned long long kb = std::stoull(status.substr(at + 7));
            struct rlimit lim = {(kb + 16384) * 1024, (kb + 16384) * 1024};
            ASSERT_EQ(prlimit(pid, RLIMIT_AS, &lim, nullptr), 0);
        });
    }
    expect_intact(r, "RLIMIT_AS");
    nlohmann::json j = read_json(report);
    EXPECT_GE(report_num(j, "backing.map_failed") + report_num(j, "backing.fallbacks.thp_map_failed"), 1)
        << "the limit refused some mapping";
    EXPECT_EQ(report_num(j, "errors.report_write"), 0);
    unlink(report.c_str());
}

// For real: the 2 MiB pool loses its free pages halfway (an administrator
// shrinks it); the heap goes on with THP, counted as exhausted.  Through
// injection: the same from the third hugetlb mapping.
TEST(Faults, HugetlbPoolEmptiedMidRun)
{
    HugetlbPool pool(2048, 600);
    HS_REQUIRE_POOL(pool);
    std::string report = temp_path("faults-pool.json");
    Env env = {{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_STATS", report}, {"HUGESHIM_RETRY_MS", "0"}};
    Result r = churn_with_midpoint(env, [](pid_t) {
        std::string meminfo = read_file("/proc/meminfo");
        auto field = [&](const std::string &name) {
            size_t at = meminfo.find(name + ":");
            return at == std::string::npos ? 0ULL : std::stoull(meminfo.substr(at + name.size() + 1));
        };
        unsigned long long keep = field("HugePages_Total") - field("HugePages_Free") + field("HugePages_Rsvd");
        std::FILE *f = std::fopen("/proc/sys/vm/nr_hugepages", "w");
        ASSERT_TRUE(f);
        std::fprintf(f, "%llu\n", keep);
        std::fclose(f);
    });
    expect_intact(r, "pool emptied");
    nlohmann::json j = read_json(report);
    EXPECT_GT(report_num(j, "backing.hugetlb_2m_bytes"), 0) << "the first half used the pool";
    // The 64 MiB malloc'd after the pool lost its free pages either came out
    // of hugetlb memory the heap had reserved before, or fell back, counted.
    ASSERT_GT(r.num("late_rss_kb") + r.num("late_hugetlb_kb"), 0) << r.out;
    if (r.num("late_kernel_page_kb") != 2048) {
        EXPECT_GE(report_num(j, "backing.fallbacks.hugetlb_2m_exhausted"), 1);
    }
    unlink(report.c_str());

    HugetlbPool refill(2048, 600);
    HS_REQUIRE_POOL(refill);
    r = churn({{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_FAULTS", "map_hugetlb:3"}, {"HUGESHIM_STATS", report}});
    expect_intact(r, "map_hugetlb:3");
    j = read_json(report);
    EXPECT_GE(report_num(j, "backing.fallbacks.hugetlb_2m_exhausted"), 1);
    EXPECT_GT(report_num(j, "backing.thp_bytes"), 0);
    unlink(report.c_str());
}

// PAGEMAP_SCAN failing from the tenth call on: every failed scan counted,
// epochs go on, the program never notices.
TEST(Faults, PagemapScanFailingMidRun)
{
    REQUIRE_PAGEMAP_SCAN();
    std::string report = temp_path("faults-scan.json");
    Result r = churn({{"HUGESHIM_BACKING", "none"},
                      {"HUGESHIM_TRACK", "pagemap_scan"},
                      {"HUGESHIM_INTERVAL_MS", "100"},
                      {"HUGESHIM_FAULTS", "scan:10"},
                      {"HUGESHIM_STATS", report}});
    expect_intact(r, "scan:10");
    nlohmann::json j = read_json(report);
    EXPECT_GE(report_num(j, "errors.injected_faults"), 1);
    EXPECT_GE(report_num(j, "tracking.errors"), report_num(j, "errors.injected_faults"));
    EXPECT_GE(report_num(j, "tracking.epochs"), 10) << "epochs went on";
    unlink(report.c_str());
}

// userfaultfd failing mid-run under uffd_sync, which blocks each writer until
// the fault thread lifts the protection: whichever call fails first (arming,
// lifting, or reading the faults), no writer may stay blocked.  Before the
// fault thread gave up its registrations, a failed read left writers waiting
// for ever; and the epoch thread took the fault thread's end for the
// program's and stopped.
TEST(Faults, UffdFailingMidRunNeverLeavesAWriterBlocked)
{
    REQUIRE_UFFD_SYNC();
    if (thp_mode() != "madvise" && thp_mode() != "always")
        GTEST_SKIP() << "THP is " << thp_mode();
    for (const char *spec : {"uffd:40", "uffd:200:1", "uffd:40:0:ENOMEM"}) {
        std::string report = temp_path("faults-uffd.json");
        Result r = churn({{"HUGESHIM_TRACK", "auto"},
                          {"HUGESHIM_INTERVAL_MS", "100"},
                          {"HUGESHIM_FAULTS", spec},
                          {"HUGESHIM_STATS", report}},
                         60);
        expect_intact(r, spec);
        nlohmann::json j = read_json(report);
        EXPECT_EQ(j["tracking"]["backends"]["thp"], "uffd_sync") << spec;
        EXPECT_GE(report_num(j, "errors.injected_faults"), 1) << spec;
        // One failure may be absorbed (a unit's protection lifted page by
        // page instead); failures that persist are counted.
        if (std::string(spec) != "uffd:200:1") {
            EXPECT_GE(report_num(j, "tracking.errors"), 1) << spec;
        }
        EXPECT_GE(report_num(j, "tracking.epochs"), 10) << spec << ": epochs went on";
        unlink(report.c_str());
    }
}

// For real: the program closes every descriptor from 3 up halfway (as
// daemons do), hugeshim's userfaultfd and pagemap among them.
TEST(Faults, ProgramClosingHugeshimsDescriptorsMidRun)
{
    std::string why;
    if (!uffd_sync_works(why) && !pagemap_scan_works(why))
        GTEST_SKIP() << "no tracking backend works here: " << why;
    std::string report = temp_path("faults-close.json");
    Result r = churn_with_midpoint(
        {{"HUGESHIM_TRACK", "auto"}, {"HUGESHIM_INTERVAL_MS", "100"}, {"HUGESHIM_STATS", report}},
        [](pid_t) {}, {"closefds"});
    expect_intact(r, "closefds");
    nlohmann::json j = read_json(report);
    EXPECT_GE(report_num(j, "tracking.epochs"), 10);
    EXPECT_GE(report_num(j, "tracking.errors"), 1) << "scans on closed descriptors are counted";
    unlink(report.c_str());
}

// move_pages failing as a whole: placement counts each failed query and
// moves nothing; the program never notices.
TEST(Faults, MovePagesFailing)
{
    std::string report = temp_path("faults-move.json");
    Result r = churn({{"HUGESHIM_MIGRATE", "on"},
                      {"HUGESHIM_INTERVAL_MS", "100"},
                      {"HUGESHIM_FAULTS", "move_pages:2"},
                      {"HUGESHIM_STATS", report}});
    expect_intact(r, "move_pages:2");
    nlohmann::json j = read_json(report);
    if (j["migration"]["enabled"] != "on")
        GTEST_SKIP() << "placement is off here: " << j["migration"]["why"];
    EXPECT_GE(report_num(j, "migration.query_failed"), 1);
    EXPECT_EQ(report_num(j, "migration.query_failed"), report_num(j, "errors.injected_faults"));
    EXPECT_EQ(report_num(j, "migration.move_calls"), 0);
    unlink(report.c_str());
}

// For real: the report's directory is removed mid-run.  The report is not
// lost: one line says why, and the report follows on stderr, counting the
// failed write.  Through injection: a full disk, the same.
TEST(Faults, ReportPathVanishingMidRunPutsTheReportOnStderr)
{
    std::string dir = temp_path("faults-dir");
    ASSERT_TRUE(std::filesystem::create_directory(dir));
    std::string report = dir + "/report.json";
    Result r = churn_with_midpoint({{"HUGESHIM_STATS", report}}, [&](pid_t) { std::filesystem::remove_all(dir); });
    expect_intact(r, "directory removed");
    EXPECT_FALSE(std::filesystem::exists(report));
    EXPECT_NE(r.err.find("could not write the report to " + report + ": No such file or directory"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("hugeshim report: hs_probe"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("errors.report_write"), std::string::npos) << r.err;
    size_t at = r.err.find("errors.report_write");
    EXPECT_EQ(r.err.substr(at, r.err.find('\n', at) - at).back(), '1') << r.err;

    r = churn({{"HUGESHIM_STATS", report}, {"HUGESHIM_FAULTS", "report"}});
    expect_intact(r, "report");
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("errors.injected_faults"), std::string::npos) << r.err;
}
