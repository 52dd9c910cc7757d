// hugetlb pages from a hugetlbfs mount (HUGESHIM_HUGETLBFS): the heap's
// mappings are files of the mount, its quota falls back like an empty pool,
// forks and execs are safe, a group granted the mount gets huge pages
// without root, and nothing is left in the mount.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "harness.h"

using namespace hs_test;

namespace {

// A hugetlbfs of 2 MiB pages mounted for the test and unmounted after.
class Mount {
public:
    explicit Mount(const std::string &options) : path_(temp_path("hugetlbfs"))
    {
        if (!is_root()) {
            why_ = "mounting a hugetlbfs needs root (CI runs as root)";
            return;
        }
        mkdir(path_.c_str(), 0755);
        if (mount("none", path_.c_str(), "hugetlbfs", 0, ("pagesize=2M," + options).c_str()) != 0) {
            why_ = "mount -t hugetlbfs failed: " + std::string(strerror(errno));
            rmdir(path_.c_str());
            return;
        }
        ok_ = true;
    }
    ~Mount()
    {
        if (ok_)
            umount(path_.c_str());
        rmdir(path_.c_str());
    }
    bool ok() const { return ok_; }
    const std::string &why() const { return why_; }
    const std::string &path() const { return path_; }
    // Bytes in use (files' pages and reservations).
    long long used() const
    {
        struct statfs st;
        return statfs(path_.c_str(), &st) == 0 ? (long long)(st.f_blocks - st.f_bfree) * st.f_bsize : -1;
    }
    size_t entries() const { return glob_paths(path_ + "/*").size(); }

private:
    std::string path_, why_;
    bool ok_ = false;
};

#define HS_REQUIRE_MOUNT(m)        \
    do {                           \
        if (!(m).ok())             \
            GTEST_SKIP() << (m).why(); \
    } while (0)

Env hugetlbfs_env(const std::string &where, const std::string &report)
{
    return shim_env({{"HUGESHIM_BACKING", "hugetlb_2m"}, {"HUGESHIM_HUGETLBFS", where}, {"HUGESHIM_STATS", report}});
}

}  // namespace

TEST(Hugetlbfs, TheHeapIsFilesOfTheMountAndNothingIsLeft)
{
    HugetlbPool pool(2048, 32);
    HS_REQUIRE_POOL(pool);
    Mount m("size=16M");
    HS_REQUIRE_MOUNT(m);
    std::string report = temp_path("hugetlbfs.json");
    Result r = run({probe_path(), "heap", "4M"}, hugetlbfs_env(m.path() + "/", report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    // The kernel's maps: the object lies in a deleted file of the mount, on
    // 2 MiB hugetlb pages.
    EXPECT_EQ(r.kv["vma_file"].rfind(m.path() + "/hugeshim.", 0), 0u) << r.out;
    EXPECT_NE(r.kv["vma_file"].find("(deleted)"), std::string::npos) << r.out;
    EXPECT_EQ(r.num("kernel_page_kb"), 2048);
    EXPECT_GE(r.num("hugetlb_kb"), 4096);
    auto j = read_json(report);
    EXPECT_EQ(j["backing"]["hugetlbfs_2m"], m.path());
    EXPECT_GE(report_num(j, "backing.hugetlb_2m_bytes"), 4 << 20);
    EXPECT_EQ(m.used(), 0) << "pages of the mount still held after exit";
    EXPECT_EQ(m.entries(), 0u);
    // `auto` finds a writable mount with room (this one, or one the machine
    // has), and the launcher lists this one with its quota.
    r = run({probe_path(), "heap", "4M"}, hugetlbfs_env("auto", report));
    ASSERT_EQ(r.status, 0) << r.err;
    j = read_json(report);
    std::string chosen = j["backing"]["hugetlbfs_2m"];
    EXPECT_FALSE(chosen.empty());
    EXPECT_EQ(r.kv["vma_file"].rfind(chosen + "/hugeshim.", 0), 0u) << r.out;
    Result pools = run({build_dir() + "/hugeshim", "pool"});
    EXPECT_NE(pools.out.find(m.path() + " "), std::string::npos) << pools.out;
    EXPECT_NE(pools.out.find("quota 16.0 MiB, used 0 B"), std::string::npos) << pools.out;
    unlink(report.c_str());
}

TEST(Hugetlbfs, AFullQuotaFallsBackLikeAnEmptyPool)
{
    HugetlbPool pool(2048, 32);
    HS_REQUIRE_POOL(pool);
    Mount m("size=4M");
    HS_REQUIRE_MOUNT(m);
    std::string report = temp_path("quota.json");
    Result r = run({probe_path(), "heap", "16M"}, hugetlbfs_env(m.path(), report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "") << "said only with HUGESHIM_VERBOSE=1, as an empty pool";
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "backing.fallbacks.hugetlbfs_full"), 1);
    EXPECT_GE(report_num(j, "backing.fallbacks.hugetlb_2m_exhausted"), 1);
    EXPECT_EQ(r.kv["vma_file"], "") << "the 16 MiB object is anonymous memory";
    if (thp_mode() != "never") {
        EXPECT_GE(r.num("anon_huge_kb"), 2048) << "it fell back to THP\n" << r.out;
    }
    EXPECT_EQ(m.used(), 0);
    r = run({probe_path(), "heap", "16M"},
            shim_env({{"HUGESHIM_BACKING", "hugetlb_2m"}, {"HUGESHIM_HUGETLBFS", m.path()}, {"HUGESHIM_VERBOSE", "1"}}));
    EXPECT_NE(r.err.find("the hugetlbfs mount's quota is full"), std::string::npos) << r.err;
    unlink(report.c_str());
}

// A child's copy-on-write takes pages of the mount's quota: with the quota
// short, children get a private copy (they died of SIGBUS before).
TEST(Hugetlbfs, ForkedChildrenSurviveAQuotaThatCannotCoverThem)
{
    HugetlbPool pool(2048, 300);  // the pool alone would let them share
    HS_REQUIRE_POOL(pool);
    Mount m("size=8M");
    HS_REQUIRE_MOUNT(m);
    std::string report = temp_path("fork-quota.json");
    Result r = run({probe_path(), "fork-write", "4M", "2"}, hugetlbfs_env(m.path(), report), "", 120);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("children_failed"), 0) << r.out;
    EXPECT_EQ(r.num("child_0_status"), 0) << "135 is SIGBUS";
    EXPECT_EQ(r.num("kernel_page_kb"), 2048) << "the parent keeps its hugetlb pages";
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "fork.copied"), 2);
    // fork then exec: the new program maps its own files; none is left.
    r = run({probe_path(), "forkexec"}, hugetlbfs_env(m.path(), report));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(m.used(), 0);
    EXPECT_EQ(m.entries(), 0u);
    unlink(report.c_str());
}

// A site grants huge pages to a group by the mount's gid and mode: a user of
// that group gets them without root; another user is told and falls back.
TEST(Hugetlbfs, AGroupGrantedTheMountGetsHugePagesWithoutRoot)
{
    HugetlbPool pool(2048, 32);
    HS_REQUIRE_POOL(pool);
    Mount m("size=16M,uid=0,gid=65534,mode=1770");
    HS_REQUIRE_MOUNT(m);
    if (run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "true"}).status != 0)
        GTEST_SKIP() << "setpriv cannot change users here";
    // The probe runs as uid 65534 (not root): in the group, then not.
    SharedCopies shared;
    std::string probe = shared.add(probe_path()), lib = shared.add(lib_path());
    ASSERT_FALSE(probe.empty() || lib.empty());
    for (const char *gid : {"65534", "12345"}) {
        SCOPED_TRACE(std::string("gid ") + gid);
        bool member = std::string(gid) == "65534";
        Result r = run({"setpriv", "--reuid=65534", std::string("--regid=") + gid, "--clear-groups", "env",
                        "LD_PRELOAD=" + lib, "HUGESHIM_BACKING=hugetlb_2m", "HUGESHIM_HUGETLBFS=" + m.path(), probe,
                        "heap", "4M"});
        ASSERT_EQ(r.status, 0) << r.err;
        if (member) {
            EXPECT_EQ(r.err, "");
            EXPECT_EQ(r.kv["vma_file"].rfind(m.path() + "/hugeshim.", 0), 0u) << r.out;
            EXPECT_EQ(r.num("kernel_page_kb"), 2048);
        } else {
            EXPECT_NE(r.err.find("may not create files there"), std::string::npos) << r.err;
            EXPECT_EQ(r.kv["vma_file"].find(m.path()), std::string::npos) << r.out;
        }
    }
    EXPECT_EQ(m.used(), 0);
}
