// NUMA tests: run inside the NUMA lab (a multi-node guest under QEMU), never
// on the single-node host.  They prove the lab is real: the topology is what
// was asked for, move_pages moves hugeshim's pages between nodes, a THP moves
// whole, hugetlb pages come from the bound node, soft-dirty and PAGEMAP_SCAN
// see exactly the pages written, and AutoNUMA moves pages toward their user.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "../../os/hs_os.h"
#include "../integration/harness.h"

using namespace hs_test;

namespace {

int env_int(const char *name, int fallback)
{
    const char *v = getenv(name);
    return v ? atoi(v) : fallback;
}

std::string numa_probe() { return build_dir() + "/tests/hs_numa_probe"; }

std::string trim(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

const std::set<size_t> kWritten = {1, 7, 8, 30, 31, 32, 63};
const size_t kPages = 64, kPage = 4096;

}  // namespace

TEST(Lab, SeesTheConfiguredNodesAndCpus)
{
    int nodes = env_int("HS_LAB_NODES", 2), per = env_int("HS_LAB_CPUS_PER_NODE", 2);
    EXPECT_EQ(trim(read_file("/sys/devices/system/node/online")), "0-" + std::to_string(nodes - 1));
    for (int n = 0; n < nodes; n++) {
        std::string want = std::to_string(n * per) + "-" + std::to_string(n * per + per - 1);
        if (per == 1)
            want = std::to_string(n);
        EXPECT_EQ(trim(read_file("/sys/devices/system/node/node" + std::to_string(n) + "/cpulist")), want) << n;
    }
}

TEST(Lab, HeapPageMovesToNode1AndBack)
{
    std::string report = temp_path("move.json");
    Result r = run({numa_probe(), "heap-move"}, shim_env({{"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("move1_status"), 1);
    EXPECT_EQ(r.num("after_move1_node"), 1);
    EXPECT_EQ(r.num("move0_status"), 0);
    EXPECT_EQ(r.num("after_move0_node"), 0);
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "heap.large.chunk_bytes"), 64 << 20) << "the page was not hugeshim's";
    unlink(report.c_str());
}

TEST(Lab, ThpRegionMovesWholeAndStaysHuge)
{
    Result r = run({numa_probe(), "thp-move"}, shim_env());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("before_anon_huge_kb"), 8192);
    EXPECT_EQ(r.num("before_node"), 0);
    // Asking for every 4 KiB page of a THP: the kernel moves the folio with
    // its first page and may answer -EBUSY for a page of the folio in flight
    // (seen for the second page of each THP on 6.12): the query afterwards
    // and the migration counters say what happened.
    EXPECT_GE(r.num("pages_on_node1"), r.num("pages") - 4) << r.out;
    EXPECT_EQ(r.num("queried_on_node1"), r.num("pages"));
    EXPECT_EQ(r.num("after_anon_huge_kb"), 8192) << "the huge pages were split on the way";
    EXPECT_GE(r.num("thp_migration_success"), 4);
    EXPECT_EQ(r.num("thp_migration_split"), 0);
}

TEST(Lab, HugetlbPagesComeFromTheBoundNode)
{
    for (int node : {1, 0}) {
        SCOPED_TRACE("bound to node " + std::to_string(node));
        HugetlbPool target(2048, 16, node);
        HugetlbPool other(2048, 0, 1 - node);
        HS_REQUIRE_POOL(target);
        HS_REQUIRE_POOL(other);
        std::string report = temp_path("bind.json");
        Result r = run({numa_probe(), "bind", std::to_string(node), "16"},
                       shim_env({{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_STATS", report}}));
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.num("kernel_page_kb"), 2048);
        EXPECT_EQ(r.num("node"), node);
        auto j = read_json(report);
        EXPECT_GE(report_num(j, "backing.hugetlb_2m_bytes"), 16 << 20);
        unlink(report.c_str());
    }
}

// Both tests drive the kernel through os/track.c, the code the tracker runs.
namespace {
void collect_pages(void *arg, uintptr_t start, uintptr_t end)
{
    auto *seen = static_cast<std::pair<uintptr_t, std::set<size_t>> *>(arg);
    for (uintptr_t a = start; a < end; a += kPage)
        seen->second.insert((a - seen->first) / kPage);
}
}  // namespace

TEST(Lab, SoftDirtySeesExactlyThePagesWritten)
{
    char *mem = static_cast<char *>(mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(mem, MAP_FAILED);
    memset(mem, 1, kPages * kPage);
    int pagemap = hs_os_pagemap_open();
    ASSERT_GE(pagemap, 0);
    ASSERT_EQ(hs_os_softdirty_clear(), 0);
    for (size_t p : kWritten)
        mem[p * kPage] = 2;
    static uint64_t buf[kPages];
    std::pair<uintptr_t, std::set<size_t>> seen{reinterpret_cast<uintptr_t>(mem), {}};
    ASSERT_EQ(hs_os_softdirty_scan(pagemap, seen.first, kPages * kPage, buf, kPages, collect_pages, &seen), 0);
    EXPECT_EQ(seen.second, kWritten);
    // Cleared again: a second scan without writes sees none.
    ASSERT_EQ(hs_os_softdirty_clear(), 0);
    seen.second.clear();
    ASSERT_EQ(hs_os_softdirty_scan(pagemap, seen.first, kPages * kPage, buf, kPages, collect_pages, &seen), 0);
    EXPECT_TRUE(seen.second.empty());
    hs_os_close(pagemap);
    munmap(mem, kPages * kPage);
}

TEST(Lab, PagemapScanSeesExactlyThePagesWritten)
{
    size_t len = kPages * kPage;
    char *mem = static_cast<char *>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(mem, MAP_FAILED);
    hs_os_wp_t wp;
    ASSERT_EQ(hs_os_wp_open(&wp), 0);
    ASSERT_EQ(hs_os_wp_arm(&wp, reinterpret_cast<uintptr_t>(mem), len), 0);
    for (size_t p : kWritten)
        mem[p * kPage] = 2;
    std::pair<uintptr_t, std::set<size_t>> seen{reinterpret_cast<uintptr_t>(mem), {}};
    ASSERT_EQ(hs_os_wp_scan(&wp, seen.first, len, collect_pages, &seen), 0);
    EXPECT_EQ(seen.second, kWritten);
    // The scan re-armed the pages: a second scan with no writes reports none.
    seen.second.clear();
    ASSERT_EQ(hs_os_wp_scan(&wp, seen.first, len, collect_pages, &seen), 0);
    EXPECT_TRUE(seen.second.empty());
    hs_os_wp_close(&wp);
    munmap(mem, len);
}


namespace {
// Sets a file's content for the test's lifetime and restores it.
class Setting {
public:
    Setting(const std::string &path, const std::string &value) : path_(path), saved_(trim(read_file(path)))
    {
        if (!saved_.empty())
            std::ofstream(path_) << value;
    }
    ~Setting()
    {
        if (!saved_.empty()) {
            std::ofstream(path_) << saved_;
        }
    }
    bool exists() const { return !saved_.empty(); }

private:
    std::string path_, saved_;
};
}  // namespace

TEST(Lab, WithoutAutoNumaThePagesStayWhereTheyWere)
{
    Setting balancing("/proc/sys/kernel/numa_balancing", "0");
    Result r = run({numa_probe(), "autonuma", "3"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("start_pages_on_node0"), r.num("pages"));
    EXPECT_EQ(r.num("pages_on_node1"), 0) << r.out;
}

TEST(Lab, AutoNumaMovesPagesTowardTheThreadThatTouchesThem)
{
    Setting balancing("/proc/sys/kernel/numa_balancing", "1");
    if (!balancing.exists())
        GTEST_SKIP() << "no kernel.numa_balancing in this kernel";
    // Shorter scan delays than the 1 s defaults, so the test takes seconds.
    Setting delay("/sys/kernel/debug/sched/numa_balancing/scan_delay_ms", "100");
    Setting period("/sys/kernel/debug/sched/numa_balancing/scan_period_min_ms", "100");
    Result r = run({numa_probe(), "autonuma", "90"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("start_pages_on_node0"), r.num("pages"));
    EXPECT_GE(r.num("pages_on_node1"), 1) << r.out;
    EXPECT_GE(r.num("numa_pages_migrated"), 1) << r.out;
}

// ---- access tracking: the backends the host lacks or cannot use on THP --------

namespace {
Env track_env(const std::string &backend, const std::string &backing, const std::string &report)
{
    // Every unit every epoch: these tests assert the exact hot set.
    return shim_env({{"HUGESHIM_TRACK", backend},
                     {"HUGESHIM_BACKING", backing},
                     {"HUGESHIM_INTERVAL_MS", "300"},
                     {"HUGESHIM_TRACK_BUDGET", "65536"},
                     {"HUGESHIM_STATS", report}});
}
}  // namespace

TEST(Lab, SoftDirtyTrackerFindsTheHotSetOfAThpHeapAndKeepsItHuge)
{
    std::string report = temp_path("sd.json");
    // 128 MiB THP heap array: every 7th 2 MiB unit written continuously.
    Result r = run({probe_path(), "track-hot", "128M", "1", "2M", "3"}, track_env("softdirty", "thp", report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    EXPECT_EQ(r.num("hot_exact"), 1);
    // The objects' own huge pages (PAGEMAP_SCAN), not their VMA's, which also
    // holds the heap's neighbouring THP regions.
    EXPECT_GE(r.num("before_objects_huge_kb"), 120 * 1024);
    EXPECT_EQ(r.num("after_objects_huge_kb"), r.num("before_objects_huge_kb")) << "soft-dirty split THPs";
    auto j = read_json(report);
    EXPECT_EQ(j["tracking"]["backend"], "softdirty");
    EXPECT_EQ(report_num(j, "tracking.unwatched_thp_bytes"), 0);
    EXPECT_EQ(report_num(j, "tracking.errors"), 0);
    unlink(report.c_str());
}

TEST(Lab, SoftDirtyTrackerOn4KiBObjects)
{
    std::string report = temp_path("sd4k.json");
    Result r = run({probe_path(), "track-hot", "4096", "4096", "4096", "3"}, track_env("softdirty", "none", report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    unlink(report.c_str());
}

TEST(Lab, PagemapScanTrackerOn4KiBObjects)
{
    std::string report = temp_path("pms4k.json");
    Env env = track_env("pagemap_scan", "none", report);
    Result r = run({probe_path(), "track-hot", "4096", "4096", "4096", "3"}, env);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    auto j = read_json(report);
    EXPECT_EQ(j["tracking"]["backend"], "pagemap_scan");
    unlink(report.c_str());
}

// ---- placement: hugeshim moves hot units to their writers' node ---------------

namespace {

Env place_env(const std::string &report, const Env &extra = {})
{
    Env env = shim_env({{"HUGESHIM_MIGRATE", "on"}, {"HUGESHIM_INTERVAL_MS", "500"}, {"HUGESHIM_STATS", report}});
    for (const auto &kv : extra)
        env[kv.first] = kv.second;
    return env;
}

// Runs f once with AutoNUMA off and once with it on (where the kernel has it).
template <typename F> void with_and_without_autonuma(F f)
{
    for (const char *balancing : {"0", "1"}) {
        SCOPED_TRACE(std::string("kernel.numa_balancing=") + balancing);
        Setting s("/proc/sys/kernel/numa_balancing", balancing);
        f(std::string(balancing) == "1");
    }
}

Result place(const std::vector<std::string> &args, const Env &env)
{
    std::vector<std::string> argv = {numa_probe(), "place"};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = run(argv, env, "", 300);
    EXPECT_FALSE(r.timed_out);
    return r;
}

}  // namespace

TEST(Lab, PlacementMovesAHotSetToItsWritersNodeWithinThreeEpochsAndLeavesColdUnits)
{
    for (const char *pattern : {"contig:16", "every:10"}) {
        SCOPED_TRACE(pattern);
        with_and_without_autonuma([&](bool autonuma) {
            std::string report = temp_path("place.json");
            Result r = place({"192", pattern, "node1", "heap", "5"}, place_env(report));
            ASSERT_EQ(r.status, 0) << r.err;
            EXPECT_GE(r.num("epochs_to_90"), 1) << r.out;
            EXPECT_LE(r.num("epochs_to_90"), 3) << r.out;
            EXPECT_EQ(r.num("hot_local"), r.num("hot_units")) << r.out;
            EXPECT_EQ(r.num("cold_moved"), 0) << "a cold unit moved\n" << r.out;
            // THPs arrive whole (the whole process's count: a unit the
            // sampler has parked is a VMA of its own, its page in staging).
            EXPECT_GE(r.num("before_rollup_anon_huge_kb"), 180 * 1024);
            EXPECT_GE(r.num("after_rollup_anon_huge_kb"), r.num("before_rollup_anon_huge_kb")) << r.out;
            EXPECT_EQ(r.num("thp_migration_split"), 0);
            EXPECT_GE(r.num("thp_migration_success"), r.num("hot_units") * 9 / 10);
            auto j = read_json(report);
            EXPECT_EQ(j["migration"]["enabled"], "on");
            EXPECT_EQ(j["tracking"]["backends"]["thp"], "uffd_sync");
            if (!autonuma) {
                EXPECT_EQ(report_num(j, "migration.moved.thp_pages"), r.num("hot_units"));
                EXPECT_EQ(j["migration"]["numa_balancing"], "off");
            }
            EXPECT_EQ(report_num(j, "kernel.thp_migration_split"), 0);
            EXPECT_EQ(report_num(j, "tracking.errors"), 0);
            unlink(report.c_str());
        });
    }
}

// A hot set written from node 1 while it sits on node 0, with 2 s epochs:
// the epoch the writer starts in ends early, at a tick once its units are all
// seen (300 ms in at the soonest), and placement moves them then, not up to
// an interval later.  The epochs after it run whole: the epoch after a short
// one always does, and then the units are hot and local.
TEST(Lab, PlacementEndsTheEpochEarlyForAHotSetOnAnotherNode)
{
    std::string report = temp_path("place-early.json");
    Result r = place({"192", "every:10", "node1", "heap", "3"}, place_env(report, {{"HUGESHIM_INTERVAL_MS", "2000"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(r.kv.count("epoch_1_s") && r.kv.count("epoch_3_s")) << r.out;
    double first = std::stod(r.kv.at("epoch_1_s")), third = std::stod(r.kv.at("epoch_3_s"));
    EXPECT_EQ(r.num("epochs_to_90"), 1) << r.out;
    EXPECT_EQ(r.num("hot_local"), r.num("hot_units")) << r.out;
    EXPECT_EQ(r.num("cold_moved"), 0) << r.out;
    // The units are moved before the first epoch's end is published (the
    // probe waits for it): under TCG the moves take about a second.
    EXPECT_LT(first, 1.9) << "the first epoch ran its whole interval\n" << r.out;
    EXPECT_GE(third - first, 2 * 1.9) << "the second or the third epoch ended early\n" << r.out;
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "tracking.early_epochs"), 1) << r.out;
    EXPECT_EQ(report_num(j, "kernel.thp_migration_split"), 0);
    unlink(report.c_str());
}

// Memory that is only read: the access sampler parks units, so a read faults
// and names its thread as a write does.  Write-protect alone never saw these.
TEST(Lab, PlacementMovesAReadOnlyHotSetToItsReadersNodeWithinTwoEpochs)
{
    with_and_without_autonuma([&](bool autonuma) {
        std::string report = temp_path("place-read.json");
        Result r = place({"192", "every:10", "node1-read", "heap", "4"}, place_env(report));
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_GE(r.num("epochs_to_90"), 1) << r.out;
        if (!autonuma) {
            EXPECT_LE(r.num("epochs_to_90"), 2) << r.out;
        }
        EXPECT_EQ(r.num("hot_local"), r.num("hot_units")) << r.out;
        EXPECT_EQ(r.num("cold_moved"), 0) << "a cold unit moved\n" << r.out;
        EXPECT_GE(r.num("before_rollup_anon_huge_kb"), 180 * 1024);
        EXPECT_GE(r.num("after_rollup_anon_huge_kb"), r.num("before_rollup_anon_huge_kb")) << "huge pages split";
        EXPECT_EQ(r.num("thp_migration_split"), 0);
        auto j = read_json(report);
        EXPECT_EQ(j["sampling"]["enabled"], "on");
        EXPECT_GE(report_num(j, "sampling.accessed"), r.num("hot_units"));
        EXPECT_EQ(report_num(j, "sampling.errors"), 0);
        if (!autonuma) {
            EXPECT_EQ(report_num(j, "migration.moved.thp_pages"), r.num("hot_units"));
        }
        unlink(report.c_str());
    });
}

// A table read on node 0 (placed on node 1) and a buffer written on node 1
// (placed on node 0): each half goes to its own thread's node.
TEST(Lab, PlacementMixedReaderAndWriterEachGetTheirHalf)
{
    with_and_without_autonuma([&](bool autonuma) {
        std::string report = temp_path("place-mixed.json");
        Result r = place({"192", "every:10", "mixed", "heap", "4"}, place_env(report));
        ASSERT_EQ(r.status, 0) << r.err;
        if (!autonuma) {
            EXPECT_LE(r.num("epochs_to_90"), 2) << r.out;
        }
        auto j = read_json(report);
        EXPECT_EQ(r.num("hot_local"), r.num("hot_units"))
            << r.out << "migration.moved.thp_pages=" << report_num(j, "migration.moved.thp_pages")
            << " sampling.put_back_by_copy=" << report_num(j, "sampling.put_back_by_copy")
            << " sampling.errors=" << report_num(j, "sampling.errors");
        if (!autonuma) {
            EXPECT_EQ(report_num(j, "migration.moved.thp_pages"), r.num("hot_units"));
        }
        EXPECT_EQ(r.num("thp_migration_split"), 0);
        unlink(report.c_str());
    });
}

// Read from two nodes in every epoch: shared, so it stays where it is.
TEST(Lab, PlacementLeavesAUnitReadFromTwoNodesWhereItIs)
{
    std::string report = temp_path("place-shared.json");
    Setting s("/proc/sys/kernel/numa_balancing", "0");
    Result r = place({"96", "every:6", "shared-read", "heap", "6"}, place_env(report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("hot_local"), r.num("hot_units")) << "a unit read from both nodes moved\n" << r.out;
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "migration.moved.thp_pages"), 0) << r.out;
    EXPECT_GE(report_num(j, "sampling.accessed"), r.num("hot_units"));
    unlink(report.c_str());
}

// Under sampling, a parked unit's pages wait in staging: read(2) into one
// and threads reading while epochs park and put back keep every byte.
// Placement is off: a page it is migrating reads as absent (ENOENT) to the
// probe's move_pages query for that moment, as under AutoNUMA (seen at 4
// nodes in 3 runs of 20, with and without the put-back checks; 0 of 12 with
// placement off); that query is here for parked units.
TEST(Lab, ProgramCallsOnParkedMemoryKeepEveryByte)
{
    std::string report = temp_path("park-safety.json");
    Env env = shim_env({{"HUGESHIM_TRACK", "uffd_sync"}, {"HUGESHIM_MIGRATE", "off"}, {"HUGESHIM_INTERVAL_MS", "50"},
                        {"HUGESHIM_TRACK_BUDGET", "65536"}, {"HUGESHIM_STATS", report}});
    Result r = run({probe_path(), "park-safety", "4"}, env, "", 300);
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("failures"), 0) << r.out;
    EXPECT_EQ(r.num("intact"), 1) << r.out;
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "sampling.parked"), 10) << r.out;
    unlink(report.c_str());
}

// When the kernel refuses to move a parked unit back (HUGESHIM_FAULTS=park:
// the first 16 moves pass, the later ones fail), the sampler copies it back;
// the copy's pages must come from the node the unit was on (node 1), not
// from the copying thread's (every thread runs on node 0's CPUs).
TEST(Lab, ParkedUnitsCopiedBackStayOnTheirNode)
{
    std::string report = temp_path("park-copy.json");
    Setting s("/proc/sys/kernel/numa_balancing", "0");
    Env env = shim_env({{"HUGESHIM_TRACK", "uffd_sync"}, {"HUGESHIM_SAMPLE", "on"}, {"HUGESHIM_MIGRATE", "off"},
                        {"HUGESHIM_INTERVAL_MS", "200"}, {"HUGESHIM_TRACK_BUDGET", "65536"},
                        {"HUGESHIM_FAULTS", "park:16:0"}, {"HUGESHIM_STATS", report}});
    Result r = run({numa_probe(), "park-copy", "64", "5"}, env, "", 300);
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("pages_elsewhere"), 0) << r.out;
    EXPECT_EQ(r.num("intact"), 1) << r.out;
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "sampling.put_back_by_copy"), 8) << r.out;
    EXPECT_EQ(report_num(j, "sampling.put_back_by_mremap"), 0);
    unlink(report.c_str());
}

// Node 1 cut into 4 KiB pieces compaction cannot join, placement's room
// checks off (HUGESHIM_FAULTS=node_room): the kernel splits THPs placement
// moves there.  hugeshim sees each split; once the pieces are freed, each
// split unit is huge again (or reported left split), on node 1, with every
// byte.
TEST(Lab, PlacementMakesTheThpsTheKernelSplitOnTheWayHugeAgain)
{
    std::string report = temp_path("split-mend.json");
    Setting s("/proc/sys/kernel/numa_balancing", "0");
    Setting c("/proc/sys/vm/compact_unevictable_allowed", "0");
    Env env = shim_env({{"HUGESHIM_INTERVAL_MS", "500"}, {"HUGESHIM_FAULTS", "node_room"}, {"HUGESHIM_STATS", report}});
    Result r = run({numa_probe(), "split-mend", "128", "6"}, env, "", 300);
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_GE(r.num("thp_migration_split"), 1) << "the kernel split nothing: the test's premise failed\n" << r.out;
    auto j = read_json(report);
    long long split = report_num(j, "migration.thp_split");
    EXPECT_GE(split, r.num("thp_migration_split")) << "a split hugeshim did not see\n" << r.out;
    // At once, or from the sampler's queue at its next ticks (8 tries, 100
    // ms apart: while the pieces are being freed a try can still find no
    // block; CI saw 1 of 32 left so, reported as left split).  Every unit
    // not huge at the end is one hugeshim reported left split.
    long long left = report_num(j, "sampling.left_split");
    EXPECT_GE(report_num(j, "migration.thp_mended") + report_num(j, "sampling.made_huge_again"), split - left)
        << r.out;
    EXPECT_LE(left * 2, split) << "most splits were not mended\n" << r.out;
    EXPECT_EQ(r.num("on_node1"), r.num("units")) << r.out;
    EXPECT_GE(r.num("end_rollup_anon_huge_kb") + 2048 * left, r.num("fill_rollup_anon_huge_kb"))
        << "units left split and not reported\n" << r.out << j["migration"].dump(1) << j["sampling"].dump(1);
    EXPECT_EQ(r.num("intact"), 1) << "data lost";
    unlink(report.c_str());
}

TEST(Lab, PlacementTwoThreadsOnTwoNodesEachGetTheirHalf)
{
    with_and_without_autonuma([&](bool) {
        std::string report = temp_path("halves.json");
        Result r = place({"128", "contig:24", "halves", "heap", "6"}, place_env(report));
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.num("hot_local"), r.num("hot_units")) << r.out;
        EXPECT_EQ(r.num("cold_moved"), 0) << r.out;
        auto j = read_json(report);
        EXPECT_GE(report_num(j, "migration.moved.thp_pages"), 1);
        unlink(report.c_str());
    });
}

// Where threads run on two nodes, placement reads each sampled thread's
// /proc stat file and walks /proc/self/task every epoch: on the files thread,
// so the program's next open always gets the lowest free number.
TEST(Lab, PlacementNeverTakesTheProgramsNextDescriptor)
{
    expect_next_descriptor_kept("50", 1000, 5);
}

TEST(Lab, PlacementAUnitTwoNodesWriteInTurnsMovesABoundedNumberOfTimes)
{
    with_and_without_autonuma([&](bool) {
        std::string report = temp_path("turns.json");
        Result r = place({"32", "one", "alternate", "heap", "14"}, place_env(report));
        ASSERT_EQ(r.status, 0) << r.err;
        auto j = read_json(report);
        EXPECT_LE(report_num(j, "migration.moved.thp_pages"), 2) << r.out;
        unlink(report.c_str());
    });
}

TEST(Lab, PlacementMovesHugetlbPagesOnlyWhereThePoolHasRoom)
{
    for (unsigned long room : {64UL, 0UL}) {
        SCOPED_TRACE("free 2 MiB pages on node 1: " + std::to_string(room));
        HugetlbPool node0(2048, 64, 0), node1(2048, room, 1);
        HS_REQUIRE_POOL(node0);
        HS_REQUIRE_POOL(node1);
        std::string report = temp_path("placetlb.json");
        // hugetlb units are watched by PAGEMAP_SCAN, whose budget they share
        // with every base-page region of the process: a budget covering them
        // all, so that the epochs counted are placement's, not the rotation's.
        Result r = place({"48", "contig:8", "node1", "heap", "5"},
                         place_env(report, {{"HUGESHIM_BACKING", "hugetlb"}, {"HUGESHIM_TRACK_BUDGET", "65536"}}));
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.num("before_kernel_page_kb"), 2048);
        auto j = read_json(report);
        EXPECT_EQ(j["tracking"]["backends"]["hugetlb"], "pagemap_scan");
        if (room) {
            EXPECT_EQ(r.num("hot_local"), r.num("hot_units")) << r.out;
            EXPECT_GE(report_num(j, "migration.moved.hugetlb_pages"), 7);
        } else {
            EXPECT_EQ(r.num("hot_local"), 0) << r.out;
            EXPECT_EQ(report_num(j, "migration.moved.hugetlb_pages"), 0);
            EXPECT_GE(report_num(j, "migration.held.no_room"), 1) << "a full pool must be counted";
        }
        EXPECT_EQ(r.num("cold_moved"), 0);
        unlink(report.c_str());
    }
}

TEST(Lab, PlacementLeavesAnMbindRegionWhereTheProgramBoundIt)
{
    with_and_without_autonuma([&](bool) {
        std::string report = temp_path("mbind.json");
        Result r = place({"32", "contig:8", "node1", "mbind", "5"}, place_env(report));
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.num("units_changed_node"), 0) << r.out;
        auto j = read_json(report);
        EXPECT_EQ(report_num(j, "migration.moved.thp_pages"), 0);
        EXPECT_GE(report_num(j, "migration.held.explicit_policy"), 1);
        unlink(report.c_str());
    });
}

TEST(Lab, PlacementIsOnByItselfWhereNodesHaveCpusAndMemory)
{
    std::string report = temp_path("auto.json");
    Result r = run({probe_path(), "heap", "8M"}, shim_env({{"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "") << "auto placement must be quiet";
    auto j = read_json(report);
    EXPECT_EQ(j["migration"]["enabled"], "on");
    EXPECT_EQ(report_num(j, "migration.nodes"), env_int("HS_LAB_NODES", 2));
    EXPECT_EQ(j["tracking"]["backend"], "auto");
    unlink(report.c_str());
}

// A whole machine under hugeshim: the library in /etc/ld.so.preload (every
// dynamic program of the guest loads it) and options in /etc/hugeshim.conf.
// Debian programs and busybox run unchanged and give the same output; each
// Debian program wrote the report the file asked for; a program's section
// applies to it alone; a setuid program is left alone.  Only in the lab: on
// the host the preload would reach every process of the machine.
TEST(Lab, WholeMachinePreloadWithAConfigurationFile)
{
    struct Restore {
        ~Restore()
        {
            unlink("/etc/ld.so.preload");
            unlink("/etc/hugeshim.conf");
        }
    } restore;
    mkdir("/etc", 0755);
    std::string dir = "/tmp/wholemachine";
    mkdir(dir.c_str(), 0777);
    {
        std::ofstream conf("/etc/hugeshim.conf");
        conf << "stats = " << dir << "/%p.json\n[sort]\nbacking = base\n";
        std::ofstream preload("/etc/ld.so.preload");
        preload << lib_path() << "\n";
    }
    // sort and xz from Debian (a large dictionary: a heap worth huge pages),
    // busybox (static: the loader, so hugeshim, never runs in it).
    std::string input = dir + "/input";
    ASSERT_EQ(run({"/bin/busybox", "sh", "-c", "busybox seq 50000 -1 1 > " + input}).status, 0);
    Result sorted = run({"/bin/busybox", "sh", "-c", "/usr/bin/sort -n " + input + " | busybox md5sum"});
    Result plain = run({"/bin/busybox", "sh", "-c", "busybox seq 1 50000 | busybox md5sum"});
    ASSERT_EQ(sorted.status, 0) << sorted.err;
    EXPECT_EQ(sorted.out, plain.out) << "sort's output changed";
    Result xz = run({"/bin/busybox", "sh", "-c",
                     "/usr/bin/xz -6 -c " + input + " | /usr/bin/xz -d | busybox md5sum; busybox md5sum < " + input});
    ASSERT_EQ(xz.status, 0) << xz.err;
    ASSERT_EQ(xz.out.size(), 2 * xz.out.find('\n') + 2) << xz.out;
    EXPECT_EQ(xz.out.substr(0, 32), xz.out.substr(xz.out.find('\n') + 1, 32)) << "xz round trip changed the data";
    EXPECT_EQ(sorted.err, "");
    EXPECT_EQ(xz.err, "");

    // Reports: one per Debian program, by the configuration file alone.
    std::map<std::string, nlohmann::json> by_program;
    for (const auto &f : glob_paths(dir + "/*.json")) {
        auto j = read_json(f);
        by_program[j["program"].get<std::string>()] = j;
    }
    ASSERT_TRUE(by_program.count("sort")) << "no report from sort";
    ASSERT_TRUE(by_program.count("xz")) << "no report from xz";
    EXPECT_FALSE(by_program.count("busybox")) << "a static program cannot load hugeshim";
    EXPECT_EQ(by_program["sort"]["backing"]["requested"], "base") << "sort's section";
    EXPECT_EQ(by_program["xz"]["backing"]["requested"], "thp") << "sort's section is sort's alone";
    EXPECT_GE(report_num(by_program["xz"], "kernel.anon_huge_peak_bytes"), 2 << 20) << "xz's heap got no huge page";

    // A setuid program under the machine-wide preload: hugeshim is loaded
    // into it, reads no file and leaves it alone.
    std::string copy = dir + "/setuid_probe";
    ASSERT_EQ(run({"/bin/busybox", "sh", "-c",
                   "busybox cp " + probe_path() + " " + copy + " && busybox chown 65534 " + copy +
                       " && busybox chmod 4755 " + copy}).status, 0);
    for (const auto &f : glob_paths(dir + "/*.json"))
        unlink(f.c_str());
    Result s = run({copy, "heap", "64M"});
    ASSERT_EQ(s.status, 0) << s.err;
    if (thp_mode() == "madvise") {
        EXPECT_EQ(s.num("anon_huge_kb"), 0) << s.out;
    }
    EXPECT_TRUE(glob_paths(dir + "/*.json").empty()) << "hugeshim acted in a setuid program";
    run({"/bin/busybox", "rm", "-rf", dir});
}

// ---- tiering: a lab with a memory-only node (FAR_NODES=1, run as 2+1) -------

namespace {

bool lab_has_far_node() { return env_int("HS_LAB_FAR_NODES", 0) > 0; }

Env tier_env(const std::string &report, const Env &extra = {})
{
    Env env = shim_env({{"HUGESHIM_INTERVAL_MS", "500"}, {"HUGESHIM_STATS", report}});
    for (const auto &kv : extra)
        env[kv.first] = kv.second;
    return env;
}

Result tier(const std::vector<std::string> &args, const Env &env)
{
    std::vector<std::string> argv = {numa_probe(), "tier"};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = run(argv, env, "", 600);
    EXPECT_FALSE(r.timed_out);
    return r;
}

}  // namespace

// The doctor tells whether memory read before it is written ends huge (the
// lab's 6.12 splits the huge zero page at the write, the dev VM's 6.18 does
// not), and its advice works: with use_zero_page 0 a read takes a huge
// page of its own and the doctor says ok.
TEST(Lab, DoctorSaysWhetherMemoryReadBeforeWrittenStaysHuge)
{
    if (thp_mode() != "madvise" && thp_mode() != "always")
        GTEST_SKIP() << "THP is " << thp_mode();
    bool huge = read_then_write_stays_huge();
    Result d = run({build_dir() + "/hugeshim", "doctor"});
    ASSERT_NE(d.out.find("THP            ok"), std::string::npos) << d.out;
    EXPECT_NE(d.out.find(huge ? "read, write    ok" : "read, write    gap"), std::string::npos) << d.out;
    if (huge)
        return;
    EXPECT_NE(d.out.find("use_zero_page"), std::string::npos) << d.out;
    Setting s("/sys/kernel/mm/transparent_hugepage/use_zero_page", "0");
    EXPECT_TRUE(read_then_write_stays_huge()) << "the advice does not work here";
    Result again = run({build_dir() + "/hugeshim", "doctor"});
    EXPECT_NE(again.out.find("read, write    ok"), std::string::npos) << again.out;
}

// The guest kernel puts the memory-only node in a lower memory tier (from
// the firmware's HMAT figures), and hugeshim finds it by itself.
TEST(Lab, TierTheMemoryOnlyNodeIsASlowerTierAndTieringIsOnByItself)
{
    if (!lab_has_far_node())
        GTEST_SKIP() << "needs a memory-only node (the lab at 2+1)";
    int16_t tiers[HS_OS_MAX_NODES];
    ASSERT_GE(hs_os_memory_tiers(tiers), 2) << "the kernel shows no second memory tier";
    int far = env_int("HS_LAB_NODES", 2);
    EXPECT_EQ(tiers[0], tiers[1]);
    EXPECT_GT(tiers[far], tiers[0]) << "the memory-only node is not in a slower tier";
    Result d = run({build_dir() + "/hugeshim", "doctor"});
    EXPECT_NE(d.out.find("tiering        on "), std::string::npos) << d.out;
    EXPECT_NE(d.out.find("node " + std::to_string(far) + " slow (memory_tier" + std::to_string(tiers[far]) + ") -> 0"),
              std::string::npos)
        << d.out;
}

// A hot set written on node 0 in memory first touched on the slow node:
// tiering alone (placement off) brings it up, and only it.
TEST(Lab, TierPromotesAWriteHotSetAndNothingElse)
{
    if (!lab_has_far_node())
        GTEST_SKIP() << "needs a memory-only node (the lab at 2+1)";
    Setting s("/proc/sys/kernel/numa_balancing", "0");
    std::string report = temp_path("tier-write.json");
    Result r = tier({"256", "10", "write", "4"}, tier_env(report, {{"HUGESHIM_MIGRATE", "off"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    // Filled on the slow node.  Under TCG the fill spans epochs: one that
    // saw it write a unit may promote it before the fill ends (seen once:
    // 127 of 128), counted in promoted.pages below.
    EXPECT_GE(r.num("before_on_slow") * 10, r.num("units") * 9) << r.out;
    EXPECT_LE(r.num("epochs_to_90"), 2) << r.out;
    EXPECT_GE(r.num("epochs_to_90"), 1) << r.out;
    EXPECT_EQ(r.num("hot_fast"), r.num("hot_units")) << r.out;
    EXPECT_EQ(r.num("cold_moved"), 0) << r.out;
    EXPECT_EQ(r.num("thp_migration_split"), 0);
    EXPECT_GE(r.num("after_rollup_anon_huge_kb"), r.num("before_rollup_anon_huge_kb")) << "huge pages split";
    EXPECT_EQ(r.num("intact"), 1);
    auto j = read_json(report);
    EXPECT_EQ(j["tiering"]["enabled"], "on");
    EXPECT_EQ(j["migration"]["enabled"], "off");
    // One promotion per unit on a fast node at the end: the hot set, and a
    // unit the fill was seen writing (an epoch began during it) that went up
    // before the thread started (moved_after_fill).
    EXPECT_EQ(report_num(j, "tiering.promoted.pages"), r.num("units") - r.num("on_slow")) << r.out;
    EXPECT_EQ(report_num(j, "tiering.demoted.pages"), 0);
    EXPECT_EQ(report_num(j, "tiering.moved_back"), 0);
    EXPECT_EQ(report_num(j, "tiering.hot_bytes_slow"), 0);
    unlink(report.c_str());
}

// The same set only read: the access sampler sees it, tiering brings it up.
TEST(Lab, TierPromotesAReadHotSet)
{
    if (!lab_has_far_node())
        GTEST_SKIP() << "needs a memory-only node (the lab at 2+1)";
    Setting s("/proc/sys/kernel/numa_balancing", "0");
    std::string report = temp_path("tier-read.json");
    Result r = tier({"256", "10", "read", "6"}, tier_env(report, {{"HUGESHIM_MIGRATE", "off"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GE(r.num("epochs_to_90"), 1) << r.out;
    EXPECT_LE(r.num("epochs_to_90"), 4) << r.out;
    EXPECT_EQ(r.num("hot_fast"), r.num("hot_units")) << r.out;
    EXPECT_EQ(r.num("cold_moved"), 0) << r.out;
    EXPECT_EQ(r.num("thp_migration_split"), 0);
    EXPECT_EQ(r.num("intact"), 1);
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "tiering.promoted.pages"), r.num("units") - r.num("on_slow")) << r.out;
    EXPECT_GE(report_num(j, "sampling.accessed"), r.num("hot_units"));
    unlink(report.c_str());
}

// Node 0 filled to below its watermark with memory nobody touches again:
// tiering moves idle units to the slow node until the watermark holds, and
// every byte survives.
TEST(Lab, TierDemotesIdleMemoryFromAFullFastNodeAndKeepsEveryByte)
{
    if (!lab_has_far_node())
        GTEST_SKIP() << "needs a memory-only node (the lab at 2+1)";
    Setting s("/proc/sys/kernel/numa_balancing", "0");
    std::string report = temp_path("tier-idle.json");
    uint64_t watermark_mib = static_cast<uint64_t>(hs_os_node_total_bytes(0) >> 20) * 5 / 100;
    Result r = tier({std::to_string(watermark_mib / 3), "10", "idle", "10"}, tier_env(report));
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = read_json(report);
    EXPECT_LT(r.num("before_node0_free_mib"), watermark_mib) << r.out;
    EXPECT_GE(r.num("node0_free_mib") + 2, watermark_mib) << "the watermark was not restored\n" << r.out;
    EXPECT_GT(r.num("on_slow"), r.num("before_on_slow")) << r.out;
    // Other idle units of the process (other heap chunks, on node 0 or on a
    // node 1 short of room too) may go down as well: at least the heap's.
    EXPECT_GE(report_num(j, "tiering.demoted.pages"), r.num("on_slow") - r.num("before_on_slow")) << r.out;
    // Each epoch's demotions from node 0 are about what its watermark still
    // asked after the epoch before (2 MiB units; three more at most: the
    // kernel's free count moves between the probe's look and tiering's, and
    // other allocations take free memory meanwhile, so the total demoted may
    // exceed the first shortfall; seen once: 6 units for a shortfall of 7 MiB
    // by the probe's look).
    int64_t on_slow = r.num("before_on_slow"), free_mib = r.num("before_node0_free_mib");
    for (int e = 1; e <= 10; e++) {
        std::string at = "epoch_" + std::to_string(e) + "_";
        int64_t now = r.num(at + "on_slow");
        if (now > on_slow) {
            EXPECT_LE((now - on_slow) * 2, static_cast<int64_t>(watermark_mib) - free_mib + 6)
                << "epoch " << e << " demoted far more than the watermark asked\n" << r.out;
        }
        on_slow = now;
        free_mib = r.num(at + "node0_free_mib");
    }
    EXPECT_EQ(report_num(j, "tiering.moved_back"), 0);
    EXPECT_EQ(r.num("thp_migration_split"), 0);
    EXPECT_EQ(r.num("intact"), 1) << "data lost";
    unlink(report.c_str());
}

// A fork at every epoch while tiering moves the hot set up: every child sees
// every byte, and tiering goes on in the parent.
TEST(Lab, TierForksWhileTieringKeepEveryByte)
{
    if (!lab_has_far_node())
        GTEST_SKIP() << "needs a memory-only node (the lab at 2+1)";
    Setting s("/proc/sys/kernel/numa_balancing", "0");
    std::string report = temp_path("tier-fork.json");
    Result r = tier({"256", "10", "write-fork", "4"}, tier_env(report, {{"HUGESHIM_MIGRATE", "off"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("fork_failures"), 0) << r.out;
    EXPECT_EQ(r.num("intact"), 1) << "data lost";
    EXPECT_EQ(r.num("hot_fast"), r.num("hot_units")) << r.out;
    EXPECT_EQ(r.num("thp_migration_split"), 0);
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "tiering.promoted.pages"), r.num("units") - r.num("on_slow")) << r.out;
    unlink(report.c_str());
}

// Beside the kernel's own tiering mode (numa_balancing=2, demotion on): the
// hot set still comes up and nothing is lost.
TEST(Lab, TierWorksBesideTheKernelsTieringMode)
{
    if (!lab_has_far_node())
        GTEST_SKIP() << "needs a memory-only node (the lab at 2+1)";
    Setting s("/proc/sys/kernel/numa_balancing", "2");
    Setting d("/sys/kernel/mm/numa/demotion_enabled", "true");
    std::string report = temp_path("tier-kernel.json");
    Result r = tier({"256", "10", "write", "4"}, tier_env(report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("hot_fast"), r.num("hot_units")) << r.out;
    EXPECT_EQ(r.num("intact"), 1);
    EXPECT_EQ(r.num("thp_migration_split"), 0);
    auto j = read_json(report);
    EXPECT_EQ(j["migration"]["numa_balancing"], "on");
    EXPECT_EQ(report_num(j, "tiering.moved_back"), 0);
    EXPECT_TRUE(j["kernel"].contains("pgpromote_success"));
    unlink(report.c_str());
}

// A heap larger than the fast nodes (1400 MiB against 2 x 512; the rest on
// the slow node) and a hot set that shifts twice: each new hot set comes up
// (written: within three epochs of 500 ms; read: within ten epochs of 1 s,
// since under the lab's emulation a park costs milliseconds and the
// sampler's time cap, a tenth of the epoch, lets it try only a few dozen
// never-read units per epoch: 5-7 epochs measured), the old one makes room,
// no unit goes back and forth, no THP stays split, every byte survives.
TEST(Lab, TierFollowsAHotSetThatShiftsTwice)
{
    if (!lab_has_far_node())
        GTEST_SKIP() << "needs a memory-only node (the lab at 2+1)";
    if (hs_os_node_total_bytes(0) + hs_os_node_total_bytes(1) > (1400LL << 20))
        GTEST_SKIP() << "the fast nodes hold the whole heap (run the lab with MEM_PER_NODE=512)";
    Setting s("/proc/sys/kernel/numa_balancing", "0");
    for (const char *access : {"write", "read"}) {
        SCOPED_TRACE(access);
        std::string report = temp_path("tier-shift.json");
        bool write = std::string(access) == "write";
        Env env = tier_env(report, {{"HUGESHIM_INTERVAL_MS", write ? "500" : "1000"}});
        Result r = run({numa_probe(), "tier-shift", "1400", "10", access, "3", write ? "6" : "12"}, env, "", 600);
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_GT(r.num("before_on_slow"), 0) << "the heap fit in the fast nodes\n" << r.out;
        for (int p = 0; p < 3; p++) {
            std::string key = "phase_" + std::to_string(p) + "_epochs_to_90";
            EXPECT_GE(r.num(key), 1) << key << "\n" << r.out;
            EXPECT_LE(r.num(key), write ? 3 : 10) << key << "\n" << r.out;
        }
        EXPECT_EQ(r.num("units_moved_back_and_forth"), 0) << r.out;
        EXPECT_EQ(r.num("intact"), 1) << "data lost";
        auto j = read_json(report);
        // The room checks leave a THP move without a free 2 MiB block rare
        // (CI saw one split in a run: the last block taken between the look
        // and the move); each split is one of hugeshim's moves, seen, and
        // made huge again (at once, or at the sampler's next ticks): the
        // heap ends as huge as it was filled.
        long long split = report_num(j, "tiering.thp_split") + report_num(j, "migration.thp_split");
        EXPECT_LE(r.num("thp_migration_split"), 2) << r.out;
        EXPECT_GE(split, r.num("thp_migration_split")) << "a split hugeshim did not see\n" << r.out;
        EXPECT_GE(r.num("end_rollup_anon_huge_kb"), r.num("fill_rollup_anon_huge_kb"))
            << "huge pages left split\n" << r.out << j["tiering"].dump(1) << j["sampling"].dump(1);
        EXPECT_GT(report_num(j, "tiering.promoted.pages"), 0);
        EXPECT_GT(report_num(j, "tiering.demoted.pages"), 0) << "nothing made room";
        // The heap's units, looked at every epoch, never went back and forth
        // (above).  Tiering's own count covers every unit of the process
        // (the program's small-object heap too) and moves between two looks:
        // CI saw 1 and once 4, a lab run 1 (a unit outside the probe's
        // heap: down, up, down in 22 epochs); not explained.  More than one
        // in a hundred of the units tiering moved is a failure.
        long long moves = report_num(j, "tiering.promoted.pages") + report_num(j, "tiering.demoted.pages");
        EXPECT_LE(report_num(j, "tiering.moved_back"), 1 + moves / 100) << j["tiering"].dump(1);
        unlink(report.c_str());
    }
}
