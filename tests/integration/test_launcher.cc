// The launcher: run, doctor, stats (text and Prometheus metrics), pool,
// options, and the README's option table.
#include <sys/stat.h>
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
    for (const char *cmd : {"run", "doctor", "stats", "options", "heatmap", "pool"}) {
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
    // What a read, then a write, leaves: the doctor says what the kernel does.
    if (r.out.find("THP            ok") != std::string::npos) {
        EXPECT_NE(r.out.find(read_then_write_stays_huge() ? "read, write    ok" : "read, write    gap"), std::string::npos)
            << r.out;
    }
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

namespace {
// Parse Prometheus text with the prometheus_client package (Debian's
// python3-prometheus-client): prints "name{k=v,...} value" per sample, or
// fails with the parser's error.
Result parse_metrics(const std::string &file)
{
    static const char *script = R"(
import sys
from prometheus_client.parser import text_string_to_metric_families
names = set()
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    if fam.name in names:
        sys.exit("family twice: " + fam.name)
    names.add(fam.name)
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %r %s" % (s.name, labels, s.value, fam.type))
)";
    return run({"/usr/bin/python3", "-c", script, file});
}

bool have_prometheus_client(std::string &why)
{
    Result r = run({"/usr/bin/python3", "-c", "import prometheus_client"});
    why = "python3-prometheus-client is not installed (make test installs it): " + r.err;
    return r.status == 0;
}

double metric(const Result &parsed, const std::string &sample)
{
    size_t at = parsed.out.find(sample + " ");
    if (at == std::string::npos || (at && parsed.out[at - 1] != '\n'))
        return -1;
    return std::stod(parsed.out.substr(at + sample.size() + 1));
}
}  // namespace

TEST(Launcher, StatsPrintsPrometheusMetricsThatAParserReads)
{
    std::string why;
    if (!have_prometheus_client(why))
        GTEST_SKIP() << why;
    std::string dir = temp_path("reports");
    ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
    Env env = shim_env({{"HUGESHIM_STATS", dir + "/%p.json"}});
    ASSERT_EQ(run({probe_path(), "mmap", "8M"}, env).status, 0);
    ASSERT_EQ(run({probe_path(), "mmap", "4M"}, env).status, 0);
    std::vector<std::string> files = glob_paths(dir + "/*.json");
    ASSERT_EQ(files.size(), 2u);

    std::string text = dir + "/metrics.prom";
    Result r = run({launcher(), "stats", "--format", "openmetrics", files[0], files[1]});
    ASSERT_EQ(r.status, 0) << r.err;
    { std::ofstream(text) << r.out; }
    Result parsed = parse_metrics(text);
    ASSERT_EQ(parsed.status, 0) << parsed.err;
    // Every sample of both processes, by program and pid, equal to the JSON.
    long long total = 0;
    for (const auto &f : files) {
        auto j = read_json(f);
        std::string labels = "pid=" + std::to_string(j["pid"].get<long long>()) + ",program=hs_probe";
        long long bytes = report_num(j, "mmap.intercepted_bytes");
        total += bytes;
        EXPECT_EQ(metric(parsed, "hugeshim_mmap_intercepted_bytes_total{" + labels + "}"), bytes) << parsed.out;
        EXPECT_EQ(metric(parsed, "hugeshim_kernel_rss_peak_bytes{" + labels + "}"),
                  report_num(j, "kernel.rss_peak_bytes"));
        EXPECT_EQ(metric(parsed, "hugeshim_backing_mapped_bytes_total{kind=thp," + labels + "}"),
                  report_num(j, "backing.thp_bytes"));
    }
    EXPECT_EQ(total, 12 * 1024 * 1024);
    EXPECT_NE(parsed.out.find("hugeshim_kernel_rss_peak_bytes{pid="), std::string::npos);
    EXPECT_NE(parsed.out.find(" gauge\n"), std::string::npos);
    EXPECT_NE(parsed.out.find("hugeshim_tracking_scan_seconds_total{"), std::string::npos) << "ns become seconds";

    // --sum: one series per program, the processes added up.
    r = run({launcher(), "stats", "--format", "openmetrics", "--sum", dir});
    ASSERT_EQ(r.status, 0) << r.err;
    { std::ofstream(text) << r.out; }
    parsed = parse_metrics(text);
    ASSERT_EQ(parsed.status, 0) << parsed.err;
    EXPECT_EQ(metric(parsed, "hugeshim_processes{program=hs_probe}"), 2) << parsed.out;
    EXPECT_EQ(metric(parsed, "hugeshim_mmap_intercepted_bytes_total{program=hs_probe}"), total) << parsed.out;
    Result sum = run({launcher(), "stats", "--sum", dir});
    EXPECT_NE(sum.out.find("hugeshim report: hs_probe (2 processes, added up)"), std::string::npos) << sum.out;
    EXPECT_NE(sum.out.find("program mmaps backed: 12.0 MiB"), std::string::npos) << sum.out;

    // Hot bytes per node, as a placement run on two nodes reports them (this
    // machine has one: the report is edited).
    auto two = read_json(files[0]);
    two["migration"]["hot_bytes_on"] = {{"node0", 4194304}, {"node1", 2097152}};
    std::string edited = dir + "/two-nodes.json";
    { std::ofstream(edited) << two.dump(); }
    r = run({launcher(), "stats", "--format", "openmetrics", edited});
    { std::ofstream(text) << r.out; }
    parsed = parse_metrics(text);
    ASSERT_EQ(parsed.status, 0) << parsed.err;
    std::string pid = std::to_string(two["pid"].get<long long>());
    EXPECT_EQ(metric(parsed, "hugeshim_migration_hot_bytes_on_node{node=1,pid=" + pid + ",program=hs_probe}"), 2097152)
        << parsed.out;
    unlink(edited.c_str());

    Result bad = run({launcher(), "stats", "--format", "xml", files[0]});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("--format xml: expected text or openmetrics"), std::string::npos) << bad.err;
    for (const auto &f : glob_paths(dir + "/*"))
        unlink(f.c_str());
    rmdir(dir.c_str());
}

namespace {
unsigned long read_ulong(const std::string &path)
{
    return std::stoul(read_file(path));
}
}  // namespace

TEST(Launcher, PoolShowsThePoolsAsTheKernelDoes)
{
    Result r = run({launcher(), "pool"});
    ASSERT_EQ(r.status, 0) << r.err;
    unsigned long total = read_ulong("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
    unsigned long free_pages = read_ulong("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
    EXPECT_NE(r.out.find(" 2 MiB pages:"), std::string::npos) << r.out;
    char line[128];
    snprintf(line, sizeof line, "all nodes  %8lu pages", total);
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
    snprintf(line, sizeof line, "%8lu free", free_pages);
    EXPECT_NE(r.out.find(line), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("hugetlbfs mounts:"), std::string::npos) << r.out;
    Result bad = run({launcher(), "pool", "--reserve", "lots"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("--reserve lots is not a size"), std::string::npos) << bad.err;
    bad = run({launcher(), "pool", "--reserve", "8M", "--page", "4M"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("--page 4M: expected 2M or 1G"), std::string::npos) << bad.err;
}

TEST(Launcher, PoolReservesPagesNowAndAtBoot)
{
    if (!is_root())
        GTEST_SKIP() << "needs root to resize the hugetlb pool";
    HugetlbPool saved(2048, 0);  // restores the pool's size at the end
    HS_REQUIRE_POOL(saved);
    std::string root = temp_path("etc-root");
    Result r = run({launcher(), "pool", "--reserve", "8M", "--persist", "--root", root});
    // The kernel may give fewer pages on fragmented memory (exit 3, said).
    ASSERT_TRUE(r.status == 0 || r.status == 3) << r.err;
    unsigned long got = read_ulong("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
    EXPECT_EQ(r.status == 0, got == 4) << r.out;
    EXPECT_NE(r.out.find("the pool has " + std::to_string(got)), std::string::npos) << r.out;
    EXPECT_NE(read_file(root + "/etc/sysctl.d/60-hugeshim.conf").find("vm.nr_hugepages = 4\n"), std::string::npos);
    // One node's pool, at boot through tmpfiles.d; a second entry for the
    // same knob replaces the first.
    for (const char *size : {"4M", "6M"}) {
        r = run({launcher(), "pool", "--reserve", size, "--node", "0", "--persist", "--root", root});
        ASSERT_TRUE(r.status == 0 || r.status == 3) << r.err;
    }
    std::string tmpfiles = read_file(root + "/etc/tmpfiles.d/hugeshim.conf");
    EXPECT_NE(tmpfiles.find("w /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages - - - - 3\n"),
              std::string::npos) << tmpfiles;
    EXPECT_EQ(tmpfiles.find("- - - - 2\n"), std::string::npos) << tmpfiles;
    r = run({launcher(), "pool", "--reserve", "0"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(read_ulong("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), 0u);
    run({"rm", "-rf", root});
}
