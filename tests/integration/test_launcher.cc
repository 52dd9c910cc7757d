// The launcher: run, doctor, stats, options, and the README's option table.
#include <unistd.h>

#include <algorithm>

#include "harness.h"

using namespace hs_test;

namespace {
std::string launcher() { return build_dir() + "/hugeshim"; }
}  // namespace

TEST(Launcher, RunSetsPreloadAndOptionsForTheProgram)
{
    std::string report = temp_path("run.json");
    Result r = run({launcher(), "run", "--backing", "none", "--stats=" + report, "--", probe_path(), "heap", "32M"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = read_json(report);
    EXPECT_EQ(j["backing"]["requested"], "base");
    EXPECT_GE(report_num(j, "backing.base_bytes"), 32 * 1024 * 1024);
    unlink(report.c_str());
}

TEST(Launcher, RunRejectsBadValuesWithWhatIsAccepted)
{
    Result r = run({launcher(), "run", "--backing", "banana", "--", "true"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--backing banana is not valid: expected one of thp|hugetlb_2m|hugetlb_1g|base (also hugetlb, hugetlb1g, none)"),
              std::string::npos)
        << r.err;
    r = run({launcher(), "run", "--no-such-option", "1", "--", "true"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("unknown option --no-such-option"), std::string::npos) << r.err;
}

TEST(Launcher, RunWarnsAboutStaticPrograms)
{
    Result r = run({launcher(), "run", "--", build_dir() + "/tests/hs_probe_static", "api"});
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.err.find("statically linked"), std::string::npos) << r.err;
}

TEST(Launcher, RunSaysOnceThatTheHugetlbPoolIsEmpty)
{
    HugetlbPool pool(2048, 0);
    HS_REQUIRE_POOL(pool);
    // The launcher says it once; the library, in every process, stays quiet
    // at the default verbosity and counts the fallback.
    Result r = run({launcher(), "run", "--backing", "hugetlb", "--", "sh", "-c", "ls / >/dev/null; true"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("hugetlb pool has no free pages"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Launcher, HelpForEveryCommand)
{
    for (const char *cmd : {"run", "doctor", "stats", "options", "heatmap"}) {
        Result r = run({launcher(), cmd, "--help"});
        EXPECT_EQ(r.status, 0) << cmd;
        EXPECT_NE(r.out.find("usage: hugeshim"), std::string::npos) << cmd << r.out;
    }
    Result r = run({launcher(), "--help"});
    EXPECT_EQ(r.status, 0);
}

TEST(Launcher, DoctorProbesTheMachine)
{
    Result r = run({launcher(), "doctor", probe_path()});
    EXPECT_TRUE(r.status == 0 || r.status == 1) << r.err;
    for (const char *topic : {"THP ", "hugetlb 2M", "hugetlb 1G", "NUMA nodes", "placement", "PAGEMAP_SCAN", "uffd_sync", "soft-dirty",
                              "program", "static"})
        EXPECT_NE(r.out.find(topic), std::string::npos) << topic << "\n" << r.out;
    EXPECT_NE(r.out.find("mode " + thp_mode()), std::string::npos) << r.out;
    Result st = run({launcher(), "doctor", build_dir() + "/tests/hs_probe_static"});
    EXPECT_NE(st.out.find("is statically linked"), std::string::npos) << st.out;
}

TEST(Launcher, StatsPrintsAReport)
{
    std::string report = temp_path("stats.json");
    Result r = run({probe_path(), "mmap", "8M"}, shim_env({{"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0);
    // A summary first: what was asked, what the kernel gave, one line each.
    Result sum = run({launcher(), "stats", report});
    EXPECT_EQ(sum.status, 0) << sum.err;
    EXPECT_NE(sum.out.find("hugeshim report: hs_probe"), std::string::npos) << sum.out;
    EXPECT_NE(sum.out.find("program mmaps backed: 8.0 MiB"), std::string::npos) << sum.out;
    EXPECT_NE(sum.out.find("gave huge pages, at peak:"), std::string::npos) << sum.out;
    EXPECT_EQ(sum.out.find("mmap.intercepted_bytes"), std::string::npos) << "the full table only on request\n" << sum.out;
    // Every counter on request.
    Result s = run({launcher(), "stats", "--all", report});
    EXPECT_EQ(s.status, 0) << s.err;
    EXPECT_NE(s.out.find("hugeshim report: hs_probe"), std::string::npos) << s.out;
    EXPECT_NE(s.out.find("mmap.intercepted_bytes"), std::string::npos) << s.out;
    EXPECT_NE(s.out.find("8.0 MiB"), std::string::npos) << s.out;
    unlink(report.c_str());
    Result bad = run({launcher(), "stats", "/nonexistent.json"});
    EXPECT_EQ(bad.status, 1);
}

TEST(Launcher, ReadmeOptionTableIsGeneratedFromTheOptionTable)
{
    Result r = run({launcher(), "options", "--markdown"});
    ASSERT_EQ(r.status, 0);
    std::string readme = read_file(std::string(HS_SOURCE_DIR) + "/README.md");
    EXPECT_NE(readme.find(r.out), std::string::npos) << "README.md is stale: run `make readme`";
}
