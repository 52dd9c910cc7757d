// Options: every bad value of every option gets one clear line and the
// program still runs on defaults; verbose, program filter and stats targets.
#include <sys/stat.h>
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
    EXPECT_NE(r.err.find("option HUGESHIM_BACKING=base (environment)\n"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("option HUGESHIM_RETRY_MS=1000 (built in)"), std::string::npos) << r.err;
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

// A configuration file: the program's section over the default section,
// the environment over both, a bad line said once with file and line, and
// `hugeshim options PROG` showing where each value came from.
TEST(Options, ConfigurationFileSectionsAndPrecedenceAsTheKernelShowsThem)
{
    std::string conf = temp_path("hugeshim.conf");
    std::string report = temp_path("conf.json");
    {
        std::ofstream f(conf);
        f << "# every program\n"
             "stats = " << report << "\n"
             "mmap-min = 16M\n"
             "backing = base\n"
             "[hs_probe]\n"
             "backing = thp\n"
             "[other-program]\n"
             "mmap = 0\n"
             "[/nowhere/*]\n"
             "backing = hugetlb_2m\n";
    }
    // The program's section over the default section, which still sets what
    // the section does not: an 8 MiB mmap is below its 16M and passes.
    Result r = run({probe_path(), "mmap", "8M"}, shim_env({{"HUGESHIM_CONFIG", conf}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    auto j = read_json(report);
    EXPECT_EQ(j["backing"]["requested"], "thp");
    EXPECT_EQ(report_num(j, "mmap.intercepted_bytes"), 0);
    unlink(report.c_str());
    // The environment over both: the mmap is backed, and the kernel gave
    // huge pages for it.
    r = run({probe_path(), "mmap", "8M"}, shim_env({{"HUGESHIM_CONFIG", conf}, {"HUGESHIM_MMAP_MIN", "4M"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    j = read_json(report);
    EXPECT_EQ(report_num(j, "mmap.intercepted_bytes"), 8 << 20);
    if (thp_mode() != "never") {
        EXPECT_GE(r.num("anon_huge_kb"), 4096) << r.out;
    }
    unlink(report.c_str());
    // The launcher says where each value comes from.
    Result o = run({build_dir() + "/hugeshim", "options", probe_path()}, {{"HUGESHIM_CONFIG", conf}, {"HUGESHIM_VERBOSE", "1"}});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_NE(o.out.find("HUGESHIM_BACKING=thp"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("HUGESHIM_MMAP_MIN=16M"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find(conf + ":3, default section"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find(conf + ":6, section for this program"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("HUGESHIM_VERBOSE=1"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("environment"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("HUGESHIM_MMAP=1                          built in"), std::string::npos) << o.out;
    // A malformed line: one line naming file and line; the program runs.
    {
        std::ofstream f(conf);
        f << "backing: base\n";
    }
    r = run({probe_path(), "heap", "8M"}, shim_env({{"HUGESHIM_CONFIG", conf}}));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "hugeshim: " + conf + ":1: \"backing: base\" is not \"name = value\", a [section] or a # comment; "
                     "line ignored\n");
    unlink(conf.c_str());
    // A file that is not there: said once, the program runs on the defaults.
    r = run({probe_path(), "heap", "8M"}, shim_env({{"HUGESHIM_CONFIG", conf}}));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "hugeshim: configuration file " + conf + ": no such file; running without it\n");
}

TEST(Options, AnUnreadableConfigurationFileIsSaidAndTheProgramRuns)
{
    if (!is_root())
        GTEST_SKIP() << "needs root to run the program as another user";
    std::string conf = temp_path("unreadable.conf");
    {
        std::ofstream f(conf);
        f << "hidden words\n";
    }
    chmod(conf.c_str(), 0600);
    // setpriv itself runs without hugeshim (as root it could read the file).
    SharedCopies shared;
    std::string probe = shared.add(probe_path()), lib = shared.add(lib_path());
    ASSERT_FALSE(probe.empty() || lib.empty());
    Result r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "LD_PRELOAD=" + lib,
                    "HUGESHIM_CONFIG=" + conf, probe, "heap", "8M"});
    unlink(conf.c_str());
    if (r.status == 127 || r.err.find("setpriv:") != std::string::npos)
        GTEST_SKIP() << "setpriv cannot run here: " << r.err;
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "hugeshim: configuration file " + conf + ": permission denied; running without it\n");
    EXPECT_EQ(r.err.find("hidden"), std::string::npos) << "a line of a file the user cannot read";
}
