// make compat: real Debian programs run plain and under hugeshim in every
// configuration a user would try, checking that they do the same work
// (identical outputs, digests and checksums), exit the same, never hang
// (each run bounded), print nothing new on stderr, and that hugeshim's
// reports show huge pages were used.
//
// Configurations: defaults (THP, the heap in dense mode); hugetlb with a pool big enough;
// hugetlb with a 20-page pool (most of the heap falls back, forks must not
// die); tracking on (auto: uffd_sync on THP as root, pagemap_scan); sites
// and a trace; placement forced on (one node here: it locates, moves
// nothing); the eager heap (HUGESHIM_HEAP_THP=eager: the defaults' heap is
// dense, as no tracking runs there) for stress-ng and the threaded stress.
// hugetlb pools are set for the run and restored (root only; the hugetlb
// configurations are skipped without root, and say so).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <set>

#include "../integration/harness.h"

using namespace hs_test;

namespace {

struct Config {
    std::string name;
    Env env;
    unsigned long pool_pages = 0;  // 2 MiB hugetlb pages to reserve, 0: none
    bool huge = true;              // some process must get huge pages (when the workload expects them)
    bool dense = false;            // the heap is in dense mode (HUGESHIM_HEAP_THP=auto without tracking)
};

std::vector<Config> configs()
{
    return {
        {"defaults", {}, 0, true, true},
        {"hugetlb", {{"HUGESHIM_BACKING", "hugetlb"}}, 1600},
        {"hugetlb_tiny_pool", {{"HUGESHIM_BACKING", "hugetlb"}}, 20},
        {"tracking", {{"HUGESHIM_TRACK", "auto"}, {"HUGESHIM_INTERVAL_MS", "200"}}, 0},
        {"sites_trace", {{"HUGESHIM_SITES", "1"}, {"HUGESHIM_INTERVAL_MS", "200"}}, 0},
        {"placement", {{"HUGESHIM_MIGRATE", "on"}, {"HUGESHIM_INTERVAL_MS", "200"}}, 0},
        // The eager heap (docs/heap.md): each 2 MiB unit huge at its first
        // write.
        {"eager", {{"HUGESHIM_HEAP_THP", "eager"}}, 0},
    };
}

std::string scripts() { return std::string(HS_SOURCE_DIR) + "/tests/compat"; }

std::vector<std::string> lines(const std::string &text)
{
    std::vector<std::string> out;
    std::stringstream ss(text);
    std::string line;
    while (std::getline(ss, line))
        out.push_back(line);
    return out;
}

// stderr lines under hugeshim that the plain run did not print (a line that
// differs only in numbers, a pid or a time, counts as the same).
std::vector<std::string> new_stderr(const std::string &plain, const std::string &shim)
{
    // Every run of digits becomes one '0': pids and times differ in length too.
    auto shape = [](const std::string &s) {
        std::string out;
        for (size_t i = 0; i < s.size(); i++) {
            if (isdigit((unsigned char)s[i])) {
                if (out.empty() || out.back() != '0' || (i > 0 && !isdigit((unsigned char)s[i - 1])))
                    out.push_back('0');
                continue;
            }
            out.push_back(s[i]);
        }
        return out;
    };
    std::set<std::string> seen;
    for (auto &l : lines(plain))
        seen.insert(shape(l));
    std::vector<std::string> extra;
    for (auto &l : lines(shim))
        if (!seen.count(shape(l)))
            extra.push_back(l);
    return extra;
}

void rm_rf(const std::string &dir) { run({"rm", "-rf", dir}); }

// What a workload must show: its fingerprint (compared with the plain run)
// from stdout, and whether stdout says it succeeded.
struct Workload {
    using Argv = std::function<std::vector<std::string>(const std::string &dir)>;
    using Fingerprint = std::function<std::string(const Result &)>;
    Workload(std::string name_, Argv argv_, Fingerprint fingerprint_, int timeout_s_ = 300)
        : name(std::move(name_)), argv(std::move(argv_)), fingerprint(std::move(fingerprint_)), timeout_s(timeout_s_)
    {
    }
    std::string name;
    Argv argv;
    Fingerprint fingerprint;
    int timeout_s = 300;
    bool expect_huge = true; // some process reports huge pages (not when all the work is in _exit'ed children)
    bool huge_when_dense = true; // ... with a dense heap too (not when it only churns objects below 8 MiB)
    std::string expected;    // when set, no plain run: the fingerprint every run must give (stderr: none)
};

// Runs a workload plain, then under each configuration in `which`.
void check_workload(const Workload &w, const std::vector<std::string> &which)
{
    std::string base = temp_path("compat_" + w.name);
    mkdir(base.c_str(), 0755);
    std::string plain_dir = base + "/plain";
    mkdir(plain_dir.c_str(), 0755);
    Result plain;
    plain.status = 0;
    std::string expected = w.expected;
    if (expected.empty()) {
        auto p0 = std::chrono::steady_clock::now();
        plain = run(w.argv(plain_dir), {}, "", w.timeout_s);
        std::cout << "[ compat   ] " << w.name << " plain: "
                  << std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count() << " s\n";
        ASSERT_FALSE(plain.timed_out) << w.name << " plain: timed out";
        ASSERT_EQ(plain.status, 0) << w.name << " plain:\n" << plain.out << plain.err;
        expected = w.fingerprint(plain);
    }
    ASSERT_FALSE(expected.empty()) << w.name << " plain: no result in\n" << plain.out;
    for (auto &c : configs()) {
        if (std::find(which.begin(), which.end(), c.name) == which.end())
            continue;
        SCOPED_TRACE(w.name + " under " + c.name);
        std::unique_ptr<HugetlbPool> pool;
        if (c.pool_pages) {
            pool.reset(new HugetlbPool(2048, c.pool_pages));
            if (!pool->ok()) {
                std::cout << "[ SKIPPED  ] " << w.name << " under " << c.name << ": " << pool->why() << "\n";
                continue;
            }
        }
        std::string dir = base + "/" + c.name;
        mkdir(dir.c_str(), 0755);
        Env env = c.env;
        env["HUGESHIM_STATS"] = dir + "/report-%p.json";
        if (c.name == "sites_trace")
            env["HUGESHIM_TRACE"] = dir + "/trace-%p.bin";
        auto t0 = std::chrono::steady_clock::now();
        Result r = run(w.argv(dir), shim_env(env), "", w.timeout_s);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "[ compat   ] " << w.name << " under " << c.name << ": " << secs << " s\n";
        EXPECT_FALSE(r.timed_out) << "hung: killed after " << w.timeout_s << " s";
        EXPECT_EQ(r.status, plain.status) << r.out << "\n" << r.err;
        EXPECT_EQ(w.fingerprint(r), expected) << r.out;
        auto extra = new_stderr(plain.err, r.err);
        EXPECT_TRUE(extra.empty()) << "new stderr lines, first: " << (extra.empty() ? "" : extra[0]) << "\n" << r.err;
        // Reports: every process wrote one; at least one used huge pages,
        // as the kernel says (smaps_rollup at exit).
        auto reports = glob_paths(dir + "/report-*.json");
        EXPECT_FALSE(reports.empty());
        long long huge_max = 0;
        std::string program;
        for (auto &path : reports) {
            auto j = read_json(path);
            EXPECT_EQ(report_num(j, "errors.bad_options"), 0) << path;
            long long huge = report_num(j, "kernel.anon_huge_bytes") + report_num(j, "kernel.hugetlb_bytes");
            if (huge > huge_max) {
                huge_max = huge;
                program = j["program"].get<std::string>();
            }
            if (c.name == "placement") {
                EXPECT_EQ(j["migration"]["enabled"], "on") << path;
            }
        }
        if (w.expect_huge && c.huge && (!c.dense || w.huge_when_dense)) {
            EXPECT_GT(huge_max, 0) << "no process of " << w.name << " got a huge page";
        }
        std::cout << "[ compat   ]   " << reports.size() << " reports; most huge memory: " << program << ", "
                  << (huge_max >> 20) << " MiB\n";
        if (c.name == "sites_trace") {
            auto traces = glob_paths(dir + "/trace-*.bin");
            EXPECT_FALSE(traces.empty());
            // The largest trace draws.
            std::string big;
            off_t big_size = -1;
            for (auto &t : traces) {
                struct stat st;
                if (stat(t.c_str(), &st) == 0 && st.st_size > big_size)
                    big = t, big_size = st.st_size;
            }
            if (!big.empty()) {
                // --partial: processes killed at the end (stress-ng's) may be cut mid-record.
                Result h = run({build_dir() + "/hugeshim", "heatmap", "--partial", big, "-o", dir + "/heat.png"});
                // A process that ended before its first epoch has no epochs to draw.
                if (h.err.find("no epochs") == std::string::npos) {
                    EXPECT_EQ(h.status, 0) << h.err;
                }
            }
        }
    }
    rm_rf(base);
}

const std::vector<std::string> kAll = {"defaults", "hugetlb", "hugetlb_tiny_pool", "tracking", "sites_trace",
                                       "placement"};
// The heap-heavy workloads also run with the eager heap (the defaults run
// them with dense mode's pass on their threads, between their forks).
const std::vector<std::string> kAllAndEager = {"defaults",    "hugetlb",   "hugetlb_tiny_pool", "tracking",
                                               "sites_trace", "placement", "eager"};

std::string line_with(const Result &r, const std::string &prefix)
{
    for (auto &l : lines(r.out))
        if (l.rfind(prefix, 0) == 0)
            return l;
    return "";
}

std::string python_result(const Result &r)
{
    return r.out.find("Tests result: SUCCESS") != std::string::npos ? "SUCCESS" : "";
}

}  // namespace

TEST(Compat, Redis)
{
    if (access("/usr/bin/redis-server", X_OK) != 0)
        GTEST_SKIP() << "redis-server is not installed (scripts/deps.sh test installs it)";
    Workload w{"redis",
               [](const std::string &dir) {
                   return std::vector<std::string>{"bash", scripts() + "/redis.sh", dir + "/data", "200000"};
               },
               [](const Result &r) { return line_with(r, "keys="); }};
    check_workload(w, kAll);
}

TEST(Compat, SqliteOneGigabyte)
{
    // 1.2 GB with a 512 MiB page cache where the heap's page kind matters
    // most (defaults, hugetlb); 1 M rows under the others.
    Workload big{"sqlite_1g",
                 [](const std::string &dir) {
                     return std::vector<std::string>{"bash", scripts() + "/sqlite.sh", dir, "7000000"};
                 },
                 [](const Result &r) { return r.out.find("integrity=ok") != std::string::npos ? r.out : ""; }, 600};
    check_workload(big, {"defaults", "hugetlb"});
    Workload small = big;
    small.name = "sqlite_1m_rows";
    small.argv = [](const std::string &dir) {
        return std::vector<std::string>{"bash", scripts() + "/sqlite.sh", dir, "1000000"};
    };
    check_workload(small, {"hugetlb_tiny_pool", "tracking", "sites_trace", "placement"});
}

TEST(Compat, StressNgVerify)
{
    if (access("/usr/bin/stress-ng", X_OK) != 0)
        GTEST_SKIP() << "stress-ng is not installed (scripts/deps.sh test installs it)";
    Workload w{"stress_ng",
               [](const std::string &) {
                   return std::vector<std::string>{"stress-ng", "--malloc", "2", "--vm", "1", "--vm-bytes", "256M",
                                                   "--mmap", "1", "--mmap-bytes", "128M", "--fork", "2", "--mremap",
                                                   "1", "--verify", "-t", "4s"};
               },
               [](const Result &r) {
                   std::string all = r.out + r.err;
                   bool ok = all.find("successful run completed") != std::string::npos &&
                             all.find("fail") == std::string::npos;
                   return std::string(ok ? "successful, no failures" : "");
               }};
    // stress-ng's stressors run in children that end with _exit (no report):
    // the parent's report is checked, not its huge pages.
    w.expect_huge = false;
    check_workload(w, kAllAndEager);
}

TEST(Compat, ThreadedMallocReallocForkExecStress)
{
    Workload w{"hs_stress",
               [](const std::string &) {
                   return std::vector<std::string>{build_dir() + "/tests/hs_stress", "16", "30000"};
               },
               [](const Result &r) { return line_with(r, "hs_stress: "); }};
    // Its 16 threads free and reallocate objects below 4 MiB all the time,
    // and few 2 MiB units are 90% written when a pass looks: under dense mode
    // it may end with no huge page (0 MiB at exit in one run, 26 MiB in
    // another), which is dense mode's point; the eager heap and hugetlb get
    // huge pages and are checked for them.
    w.huge_when_dense = false;
    check_workload(w, kAllAndEager);
}

TEST(Compat, PythonRegressionTests)
{
    if (access("/usr/lib/python3.11/test/test_threading.py", R_OK) != 0)
        GTEST_SKIP() << "python's regression tests are not installed (Debian libpython3.11-testsuite)";
    // Python judges itself ("Tests result: SUCCESS"), and a plain run prints
    // nothing on stderr: no plain run is needed.  The parts where hugeshim
    // once broke python (threads ending with tracking on; forked workers
    // under hugetlb) run where they broke; a quick core under every
    // configuration.  -j2: tests run in worker processes.
    auto python = [](std::vector<std::string> tests) {
        return [tests](const std::string &) {
            std::vector<std::string> argv = {"/usr/bin/python3", "-m", "test", "-j2"};
            argv.insert(argv.end(), tests.begin(), tests.end());
            return argv;
        };
    };
    Workload core{"python_core", python({"test_json", "test_gc", "test_mmap", "test_threading", "test_os"}),
                  python_result, 600};
    core.expected = "SUCCESS";
    check_workload(core, kAll);
    Workload sig{"python_signal", python({"test_signal"}), python_result, 600};
    sig.expected = "SUCCESS";
    check_workload(sig, {"defaults", "tracking"});
    // Less the cases that list a child's descriptors and want exactly the
    // ones passed: a child that lives past its first epoch holds hugeshim's
    // (close-on-exec, numbered from 19936 up), and a loaded machine made one
    // do so (docs/tracking.md).
    Workload fork{"python_fork",
                  python({"test_subprocess", "test_multiprocessing_fork", "--ignore", "*pass_fds*", "--ignore",
                          "*close_fds*"}),
                  python_result, 900};
    fork.expected = "SUCCESS";
    check_workload(fork, {"hugetlb_tiny_pool", "tracking"});
}
