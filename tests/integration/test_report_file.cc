// The report file is the user's: a read-only one is left alone (said once on
// stderr), another user's keeps its owner, our own keeps its mode.
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

using namespace hs_test;

TEST(ReportFile, AReadOnlyReportFileIsLeftAsItIs)
{
    std::string path = temp_path("readonly.json");
    std::ofstream(path) << "keep";
    ASSERT_EQ(chmod(path.c_str(), 0444), 0);
    Result r = run({probe_path(), "heap", "8M"}, shim_env({{"HUGESHIM_STATS", path}}));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(read_file(path), "keep") << "a read-only report file was replaced";
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0444u);
    EXPECT_NE(r.err.find(path + ": the file is read-only"), std::string::npos) << r.err;
    unlink(path.c_str());
}

TEST(ReportFile, AnotherUsersReportFileKeepsItsOwner)
{
    if (!is_root())
        GTEST_SKIP() << "giving a file to another user needs root (CI runs as root)";
    std::string path = temp_path("owned.json");
    std::ofstream(path) << "old";
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);  // nobody
    Result r = run({probe_path(), "heap", "8M"}, shim_env({{"HUGESHIM_STATS", path}}));
    EXPECT_EQ(r.status, 0) << r.err;
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u) << "writing the report changed the file's owner";
    auto j = read_json(path);
    EXPECT_EQ(j["program"], "hs_probe");
    unlink(path.c_str());
}

TEST(ReportFile, OurOwnReportIsReplacedWithItsModeKept)
{
    std::string path = temp_path("mine.json");
    std::ofstream(path) << "old";
    ASSERT_EQ(chmod(path.c_str(), 0600), 0);
    Result r = run({probe_path(), "heap", "8M"}, shim_env({{"HUGESHIM_STATS", path}}));
    EXPECT_EQ(r.status, 0) << r.err;
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(read_json(path)["program"], "hs_probe");
    unlink(path.c_str());
}

// A child made by a raw clone() runs no fork handler; without %p in the
// path it must still not report over (or beside, on stderr) its parent.
TEST(ReportFile, ARawCloneChildDoesNotReportOverItsParent)
{
    Result r = run({probe_path(), "raw-clone"}, shim_env({{"HUGESHIM_STATS", "stderr"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    size_t reports = 0;
    for (size_t at = r.err.find("hugeshim report:"); at != std::string::npos; at = r.err.find("hugeshim report:", at + 1))
        reports++;
    EXPECT_EQ(reports, 1u) << r.err;
    EXPECT_NE(r.err.find("(pid " + r.kv["parent_pid"] + ")"), std::string::npos) << r.err;

    std::string pattern = temp_path("clone-report") + "-%p.json";
    r = run({probe_path(), "raw-clone"}, shim_env({{"HUGESHIM_STATS", pattern}}));
    ASSERT_EQ(r.status, 0) << r.err;
    std::string base = pattern.substr(0, pattern.size() - 8);  // without "-%p.json"
    for (const char *who : {"parent_pid", "child_pid"}) {
        std::string path = base + "-" + r.kv[who] + ".json";
        EXPECT_EQ(report_num(read_json(path), "pid"), std::stoll(r.kv[who])) << "with %p each writes its own";
        unlink(path.c_str());
    }
}
