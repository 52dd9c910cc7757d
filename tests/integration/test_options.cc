// Options: every bad value of every option gets one clear line and the
// program still runs on defaults; verbose, program filter and stats targets.
#include <unistd.h>

#include "../../common/hs_options.h"
#include "harness.h"

using namespace hs_test;

namespace {

std::vector<std::string> bad_values(hs_opt_type_t type)
{
    switch (type) {
    case HS_OPT_BOOL: return {"maybe", "2", ""};
    case HS_OPT_INT: return {"-5", "abc", "99999999999999999999", "12ms"};
    case HS_OPT_SIZE: return {"-1", "12Q", "garbage", "", "99999999999T"};
    case HS_OPT_ENUM: return {"banana", "THP", ""};
    case HS_OPT_STRING: return {std::string(5000, 'x')};
    }
    return {};
}

}  // namespace

TEST(Options, EveryBadValueOfEveryOptionGetsOneLineAndTheProgramRuns)
{
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const hs_opt_desc_t &d = hs_opt_descs[id];
        for (const std::string &bad : bad_values(d.type)) {
            std::string var = std::string("HUGESHIM_") + d.name;
            Result r = run({probe_path(), "heap", "8M"}, shim_env({{var, bad}}));
            SCOPED_TRACE(var + "=" + bad.substr(0, 40));
            EXPECT_EQ(r.status, 0) << r.err;
            EXPECT_EQ(r.kv.count("anon_huge_kb"), 1u) << "the program did not run to the end";
            // Exactly one line, naming the variable, the value, what is accepted and the default.
            size_t lines = 0;
            std::string line;
            std::istringstream err(r.err);
            while (std::getline(err, line))
                if (line.find(var) != std::string::npos)
                    lines++;
            EXPECT_EQ(lines, 1u) << r.err;
            EXPECT_NE(r.err.find(var + "=\"" + bad.substr(0, 200) + "\""), std::string::npos) << r.err;
            EXPECT_NE(r.err.find("expected"), std::string::npos) << r.err;
            EXPECT_NE(r.err.find(std::string("using the default \"") + d.def + "\""), std::string::npos) << r.err;
        }
    }
}

TEST(Options, BadBackingKeepsTheDefaultThp)
{
    std::string report = temp_path("banana.json");
    Result r = run({probe_path(), "heap", "64M"},
                   shim_env({{"HUGESHIM_BACKING", "banana"}, {"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0);
    EXPECT_NE(r.err.find("HUGESHIM_BACKING=\"banana\" is not a known value: expected one of "
                         "thp|hugetlb_2m|hugetlb_1g|base (also hugetlb, hugetlb1g, none); using the default \"thp\""),
              std::string::npos)
        << r.err;
    auto j = read_json(report);
    EXPECT_EQ(j["backing"]["requested"], "thp");
    EXPECT_EQ(report_num(j, "errors.bad_options"), 1);
    unlink(report.c_str());
}

TEST(Options, UnknownVariableIsNamed)
{
    Result r = run({probe_path(), "heap", "1M"}, shim_env({{"HUGESHIM_BACKIN", "thp"}}));
    ASSERT_EQ(r.status, 0);
    EXPECT_NE(r.err.find("HUGESHIM_BACKIN is not a hugeshim option; known: HUGESHIM_ENABLE"), std::string::npos)
        << r.err;
}

TEST(Options, SizesAcceptSuffixes)
{
    std::string report = temp_path("sizes.json");
    Result r = run({probe_path(), "mmap", "64M"},
                   shim_env({{"HUGESHIM_MMAP_MIN", "65536k"}, {"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    auto j = read_json(report);
    EXPECT_EQ(j["options"]["mmap_min"], "65536k");
    EXPECT_EQ(report_num(j, "mmap.intercepted"), 1);  // exactly 64 MiB >= 65536k
    unlink(report.c_str());
}

TEST(Options, VerbosePrintsEffectiveOptionsAndTheMachine)
{
    Result r = run({probe_path(), "heap", "1M"}, shim_env({{"HUGESHIM_VERBOSE", "1"}, {"HUGESHIM_BACKING", "none"}}));
    ASSERT_EQ(r.status, 0);
    for (int id = 0; id < HS_OPT_COUNT; id++)
        EXPECT_NE(r.err.find(std::string("option HUGESHIM_") + hs_opt_descs[id].name + "="), std::string::npos)
            << hs_opt_descs[id].name;
    // The effective value, by the name the report uses ("none" is its older spelling).
    EXPECT_NE(r.err.find("option HUGESHIM_BACKING=base\n"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("option HUGESHIM_RETRY_MS=1000 (default)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("machine: THP " + thp_mode()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("machine: hugetlb 2 MiB"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("NUMA node(s) online"), std::string::npos) << r.err;
}

TEST(Options, ProgramsLimitsHugeshimToNamedPrograms)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    std::string report = temp_path("programs.json");
    Result other = run({probe_path(), "heap", "64M"},
                       shim_env({{"HUGESHIM_PROGRAMS", "sort:python3"}, {"HUGESHIM_STATS", report}}));
    ASSERT_EQ(other.status, 0);
    EXPECT_EQ(other.num("anon_huge_kb"), 0);
    EXPECT_TRUE(read_file(report).empty()) << "a program left alone wrote a report";
    Result named = run({probe_path(), "heap", "64M"},
                       shim_env({{"HUGESHIM_PROGRAMS", "sort:hs_probe"}, {"HUGESHIM_STATS", report}}));
    ASSERT_EQ(named.status, 0);
    EXPECT_GE(named.num("anon_huge_kb"), 60 * 1024);
    EXPECT_FALSE(read_file(report).empty());
    unlink(report.c_str());
}

TEST(Options, EnableZeroTurnsHugeshimOff)
{
    if (thp_mode() != "madvise")
        GTEST_SKIP() << "THP mode is " << thp_mode();
    Result r = run({probe_path(), "heap", "64M"}, shim_env({{"HUGESHIM_ENABLE", "0"}}));
    ASSERT_EQ(r.status, 0);
    EXPECT_EQ(r.num("anon_huge_kb"), 0);
}

TEST(Options, UnwritableStatsPathWarnsAndProgramSucceeds)
{
    Result r = run({probe_path(), "heap", "1M"}, shim_env({{"HUGESHIM_STATS", "/nonexistent/dir/r.json"}}));
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.err.find("could not write the report to /nonexistent/dir/r.json"), std::string::npos) << r.err;
}
