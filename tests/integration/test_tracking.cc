// Access tracking on the host (PAGEMAP_SCAN with userfaultfd async write-
// protect; this kernel has no soft-dirty, which the NUMA lab covers).
#include <unistd.h>

#include "../../os/hs_os.h"
#include <cstring>

#include "harness.h"

using namespace hs_test;

namespace {

// A budget that covers every unit: these tests assert the exact hot set after
// 3 epochs, which needs every unit watched every epoch (with a smaller budget
// a unit is found when the rotation reaches it: the budget test covers that).
Env tracking(const std::string &backing, const std::string &report)
{
    return shim_env({{"HUGESHIM_TRACK", "pagemap_scan"},
                     {"HUGESHIM_BACKING", backing},
                     {"HUGESHIM_INTERVAL_MS", "100"},
                     {"HUGESHIM_TRACK_BUDGET", "65536"},
                     {"HUGESHIM_STATS", report}});
}

}  // namespace

TEST(Tracking, SmallObjectsOn4KiBPagesHotSetIsExactlyTheWrittenUnits)
{
    REQUIRE_PAGEMAP_SCAN();
    std::string report = temp_path("track4k.json");
    // 16384 objects of 4 KiB; every 7th page written in every epoch, the rest
    // once.  A budget that covers every unit, so that every epoch sees all.
    Result r = run({probe_path(), "track-hot", "4096", "16384", "4096", "3"}, tracking("none", report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("units"), 16384);
    EXPECT_EQ(r.num("expected_units"), (16384 + 6) / 7);
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    EXPECT_EQ(r.num("hot_exact"), 1);
    auto j = read_json(report);
    EXPECT_EQ(j["tracking"]["backend"], "pagemap_scan");
    EXPECT_GE(report_num(j, "tracking.epochs"), 3);
    EXPECT_GE(report_num(j, "tracking.tracked_bytes"), 64 << 20);
    EXPECT_EQ(report_num(j, "tracking.errors"), 0);
    // The tracker's own memory: at most 0.1% of what it watches.
    EXPECT_LE(report_num(j, "tracking.metadata_bytes") * 1000, report_num(j, "tracking.tracked_bytes"));
    unlink(report.c_str());
}

TEST(Tracking, HugetlbHeapHotSetIsExactAndPagesStayHuge)
{
    REQUIRE_PAGEMAP_SCAN();
    HugetlbPool pool(2048, 400);
    HS_REQUIRE_POOL(pool);
    std::string report = temp_path("track2m.json");
    // A 512 MiB heap array: every 7th 2 MiB unit written continuously.
    Result r = run({probe_path(), "track-hot", "512M", "1", "2M", "3"}, tracking("hugetlb", report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("before_kernel_page_kb"), 2048);
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    EXPECT_EQ(r.num("hot_exact"), 1);
    EXPECT_GE(r.num("expected_units"), 36);
    EXPECT_EQ(r.num("after_kernel_page_kb"), 2048);
    EXPECT_EQ(r.num("after_hugetlb_kb"), r.num("before_hugetlb_kb"));
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "tracking.errors"), 0);
    unlink(report.c_str());
}

TEST(Tracking, ThpRegionsAreNotSplitByPagemapScan)
{
    REQUIRE_PAGEMAP_SCAN();
    if (thp_mode() != "madvise" && thp_mode() != "always")
        GTEST_SKIP() << "THP is " << thp_mode();
    std::string report = temp_path("trackthp.json");
    Result r = run({probe_path(), "track-hot", "256M", "1", "2M", "3"}, tracking("thp", report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GE(r.num("before_anon_huge_kb"), 250 * 1024);
    // The objects' own huge pages (PAGEMAP_SCAN): their VMA also holds the
    // heap's neighbouring THP regions, which may fault in meanwhile.
    EXPECT_GE(r.num("before_objects_huge_kb"), 250 * 1024);
    EXPECT_EQ(r.num("after_objects_huge_kb"), r.num("before_objects_huge_kb")) << "THPs were split";
    // pagemap_scan alone leaves THP regions unwatched (the kernel would split
    // them on write); the report says so, stderr stays quiet at verbosity 0.
    EXPECT_EQ(r.num("hot_units"), 0);
    EXPECT_EQ(r.err, "");
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "tracking.unwatched_thp_bytes"), 256 << 20);
    EXPECT_EQ(j["tracking"]["backends"]["thp"], "off");
    unlink(report.c_str());
}


TEST(Tracking, ThpHeapHotSetIsExactWithUffdSyncAndPagesStayHuge)
{
    REQUIRE_UFFD_SYNC();
    if (thp_mode() != "madvise" && thp_mode() != "always")
        GTEST_SKIP() << "THP is " << thp_mode();
    std::string report = temp_path("tracksync.json");
    Env env = tracking("thp", report);
    env["HUGESHIM_TRACK"] = "uffd_sync";
    env["HUGESHIM_SAMPLE"] = "off"; // write-protect itself (test_sampling.cc: parking)
    Result r = run({probe_path(), "track-hot", "256M", "1", "2M", "3"}, env);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GE(r.num("before_anon_huge_kb"), 250 * 1024);
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    EXPECT_EQ(r.num("hot_exact"), 1);
    EXPECT_GE(r.num("expected_units"), 18);
    EXPECT_GE(r.num("before_objects_huge_kb"), 250 * 1024);
    EXPECT_EQ(r.num("after_objects_huge_kb"), r.num("before_objects_huge_kb")) << "uffd_sync split THPs";
    auto j = read_json(report);
    EXPECT_EQ(j["tracking"]["backends"]["thp"], "uffd_sync");
    EXPECT_EQ(report_num(j, "tracking.unwatched_thp_bytes"), 0);
    EXPECT_GE(report_num(j, "tracking.wp_faults"), r.num("expected_units"));
    EXPECT_EQ(report_num(j, "tracking.errors"), 0);
    EXPECT_EQ(r.err, "");
    unlink(report.c_str());
}

TEST(Tracking, KernelWritesIntoWatchedMemoryComplete)
{
    REQUIRE_UFFD_SYNC();
    std::string report = temp_path("trackread.json");
    Env env = tracking("thp", report);
    env["HUGESHIM_TRACK"] = "uffd_sync";
    env["HUGESHIM_SAMPLE"] = "off"; // write-protect itself (park-safety reads into parked units)
    Result r = run({probe_path(), "track-read"}, env, "", 120);
    ASSERT_FALSE(r.timed_out) << "a read(2) into watched memory never completed";
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("reads_ok"), r.num("reads")) << r.out;
    EXPECT_EQ(r.kv.count("read_failed_at"), 0u) << "read(2) failed (EFAULT: a user-mode-only userfaultfd)";
    EXPECT_GE(r.num("anon_huge_kb"), 60 * 1024);
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "tracking.wp_faults"), 16);
    unlink(report.c_str());
}

TEST(Tracking, PagemapScanRearmsWithinTheBudget)
{
    REQUIRE_PAGEMAP_SCAN();
    // 512 MiB of base pages written at random: re-arming every page each epoch
    // would cost a fault per page per epoch (about 12 us each on the dev
    // host's kernel, more than the epoch).  Budgeted, at most TRACK_BUDGET
    // units are re-armed per epoch.  What that keeps of the writer's speed is
    // measured by bench/track.sh (backing none, pagemap_scan), not here.
    std::string report = temp_path("trackbudget.json");
    Env env = tracking("none", report);
    env["HUGESHIM_INTERVAL_MS"] = "200";
    env["HUGESHIM_TRACK_BUDGET"] = "2048";  // the default
    Result r = run({build_dir() + "/bench/gups", "512M", "20000000"}, env, "", 120);
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "tracking.epochs"), 1);
    EXPECT_GT(report_num(j, "tracking.tracked_bytes"), 500 * (1 << 20));
    EXPECT_LE(report_num(j, "tracking.rearmed_units"), 2048);
    EXPECT_EQ(report_num(j, "tracking.errors"), 0);
    unlink(report.c_str());
}

TEST(Tracking, RegionsUnmappedDuringTrackingAreFollowed)
{
    REQUIRE_PAGEMAP_SCAN();
    std::string report = temp_path("trackunmap.json");
    // Three 64 MiB program mappings (THP regions), each cut and then unmapped
    // while epochs run; the tracker's table must follow the registry.
    Result r = run({probe_path(), "track-munmap"}, tracking("thp", report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.kv["track_munmap"], "ok");
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "tracking.epochs"), 15);
    EXPECT_EQ(report_num(j, "mmap.unmapped_bytes"), 3LL * (64 << 20));
    EXPECT_LT(report_num(j, "tracking.unwatched_thp_bytes") + report_num(j, "tracking.tracked_bytes"), 64 << 20)
        << "an unmapped region is still in the tracker's table";
    EXPECT_EQ(report_num(j, "tracking.errors"), 0);
    unlink(report.c_str());
}

// uffd_sync protects whole 2 MiB units, but registers the whole mapping: a
// program's mapping of 10 MiB and 4 KiB stays one VMA, and its mremap of the
// whole mapping works (registering only the whole units split it, and the
// mremap failed with EFAULT, as stress-ng's mremap stressor found).
TEST(Tracking, AWatchedMappingWithAShortTailCanBeMremapped)
{
    REQUIRE_UFFD_SYNC();
    std::string report = temp_path("trackmremap.json");
    Env env = tracking("thp", report);
    env["HUGESHIM_TRACK"] = "uffd_sync";
    Result r = run({probe_path(), "track-mremap"}, env, "", 120);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("mremap_ok"), 1) << "mremap failed with errno " << r.num("mremap_errno");
    auto j = read_json(report);
    EXPECT_EQ(j["tracking"]["backends"]["thp"], "uffd_sync");
    EXPECT_GE(report_num(j, "tracking.tracked_bytes"), 10 << 20);
    unlink(report.c_str());
}

// The tracker reads the registry and registers what it read while the
// program's munmap and mremap wait: with 10 ms epochs, thousands of in-place
// shrinks and growths never find their mapping split (EFAULT), and the data
// stays.
TEST(Tracking, MappingsResizedWhileEpochsFollowTheRegistryStayWhole)
{
    REQUIRE_UFFD_SYNC();
    std::string report = temp_path("trackmremaprace.json");
    Env env = tracking("thp", report);
    env["HUGESHIM_TRACK"] = "uffd_sync";
    env["HUGESHIM_INTERVAL_MS"] = "10";
    Result r = run({probe_path(), "track-mremap-race", "4"}, env, "", 120);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GT(r.num("mremap_calls"), 1000);
    EXPECT_EQ(r.num("mremap_failures"), 0) << "first errno " << r.num("mremap_errno");
    EXPECT_EQ(r.num("bad_bytes"), 0);
    auto j = read_json(report);
    EXPECT_EQ(j["tracking"]["backends"]["thp"], "uffd_sync");
    EXPECT_GE(report_num(j, "tracking.epochs"), 50);
    unlink(report.c_str());
}

TEST(Tracking, OffStartsNoThreadAndWatchesNothing)
{
    std::string report = temp_path("trackoff.json");
    Result off = run({probe_path(), "threads-now"}, shim_env({{"HUGESHIM_TRACK", "off"}, {"HUGESHIM_STATS", report}}));
    ASSERT_EQ(off.status, 0) << off.err;
    EXPECT_EQ(off.num("threads"), 1);
    auto j = read_json(report);
    EXPECT_EQ(j["tracking"]["backend"], "off");
    EXPECT_EQ(report_num(j, "tracking.epochs"), 0);
    EXPECT_EQ(report_num(j, "tracking.tracked_bytes"), 0);
    unlink(report.c_str());
    std::string why;
    if (pagemap_scan_works(why)) {
        // The program's, the epoch thread and the files thread.
        Result on = run({probe_path(), "threads-now"}, tracking("thp", report));
        EXPECT_EQ(on.num("threads"), 3);
        unlink(report.c_str());
    }
}

TEST(Tracking, ForkedChildRunsItsOwnEpochsAndFindsItsHotUnit)
{
    std::string why;
    if (!uffd_sync_works(why) && !pagemap_scan_works(why))
        GTEST_SKIP() << "no tracking backend works here: " << why;
    std::string report = temp_path("trackfork_%p.json");
    Env env = tracking("thp", report);
    env["HUGESHIM_TRACK"] = "auto";
    Result r = run({probe_path(), "fork-track"}, env, "", 120);
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.kv["fork_track"], "ok");
    EXPECT_GE(r.num("child_epochs"), 3) << "the child ran no epochs of its own";
    EXPECT_EQ(r.num("child_hot_unit_found"), 1) << "the child's written unit is not in its hot set";
    // Forking while threads allocate, with tracking on, as before.
    Result f = run({probe_path(), "fork"}, tracking("none", report), "", 120);
    EXPECT_EQ(f.status, 0) << f.err;
    EXPECT_EQ(f.kv["fork"], "ok");
    Result t = run({probe_path(), "threads", "16"}, tracking("thp", temp_path("trackthreads.json")));
    EXPECT_EQ(t.status, 0) << t.err;
    EXPECT_EQ(t.num("threads_ok"), 16);
    system(("rm -f " + report.substr(0, report.find("%p")) + "*").c_str());
}

namespace {
// "track": HUGESHIM_TRACK=auto; "dense": HUGESHIM_HEAP_THP=dense; both: both.
void set_mode(Env &env, const std::string &mode)
{
    if (mode.find("track") != std::string::npos)
        env["HUGESHIM_TRACK"] = "auto";
    if (mode.find("dense") != std::string::npos)
        env["HUGESHIM_HEAP_THP"] = "dense";
}
}  // namespace

// The epoch thread runs with tracking on (and then runs dense mode's pass
// too); dense mode alone runs its pass on the program's threads, in malloc:
// none of these may keep a finished program alive.
TEST(Tracking, ProcessEndsWhenMainEndsWithPthreadExit)
{
    for (const char *mode : {"track", "track+dense", "dense"}) {
        std::string report = temp_path("pexit.json");
        Env env = shim_env({{"HUGESHIM_STATS", report}});
        set_mode(env, mode);
        Result r = run({probe_path(), "pthread-exit"}, env, "", 20);
        ASSERT_FALSE(r.timed_out) << mode << ": the process outlived its last program thread";
        EXPECT_EQ(r.status, 0) << mode << ": " << r.err;
        EXPECT_EQ(r.kv["worker"], "done") << mode;
        EXPECT_EQ(r.kv["atexit"], "ran") << mode << ": exit did not run as glibc runs it";
        auto j = read_json(report);
        if (strstr(mode, "track")) {
            EXPECT_NE(j["tracking"]["backend"], "off");
        }
        unlink(report.c_str());
    }
}

TEST(Tracking, ChildForkedFromAThreadEndsWithThatThread)
{
    for (const char *mode : {"track", "track+dense", "dense"}) {
        Env env = shim_env();
        set_mode(env, mode);
        Result r = run({probe_path(), "fork-from-thread"}, env, "", 20);
        ASSERT_FALSE(r.timed_out) << mode << ": the child forked from a thread never ended";
        EXPECT_EQ(r.status, 0) << mode << ": " << r.err;
        EXPECT_EQ(r.num("child_exit"), 0) << mode;
        EXPECT_EQ(r.kv["fork_from_thread"], "ok") << mode;
    }
}

TEST(Tracking, DescriptorsSitAboveTheOnesProgramsUse)
{
    Result plain = run({probe_path(), "lowest-fd"});
    Result r = run({probe_path(), "lowest-fd"}, shim_env({{"HUGESHIM_TRACK", "auto"}, {"HUGESHIM_STATS", "stderr"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("lowest_fd"), plain.num("lowest_fd")) << "hugeshim took a low descriptor";
}

// While epochs run every 20 ms under placement, four threads write and this
// one opens and closes a file 100 000s of times: it always gets the same
// number.  (Placement read each sampled thread's /proc stat file on the epoch
// thread, and for that moment the program's next open got the number after:
// 100-120 times in 3 s here; python's test_os caught it.)
TEST(Tracking, TheEpochsNeverTakeTheProgramsNextDescriptor)
{
    expect_next_descriptor_kept("20", 10000, 40);
}

TEST(Tracking, AutoIsQuietAtTheDefaultVerbosity)
{
    Result r = run({probe_path(), "heap", "64M"}, shim_env({{"HUGESHIM_TRACK", "auto"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
}

TEST(Tracking, AutoChoosesWhatWorks)
{
    std::string report = temp_path("trackauto.json");
    Result r = run({probe_path(), "heap", "8M"},
                   shim_env({{"HUGESHIM_TRACK", "auto"}, {"HUGESHIM_STATS", report}, {"HUGESHIM_VERBOSE", "1"}}));
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = read_json(report);
    std::string why;
    EXPECT_EQ(j["tracking"]["backend"], "auto");
    bool sync = uffd_sync_works(why), scan = pagemap_scan_works(why);
    if (sync) {
        EXPECT_EQ(j["tracking"]["backends"]["thp"], "uffd_sync");
    }
    if (scan) {
        EXPECT_EQ(j["tracking"]["backends"]["base"], "pagemap_scan");
    }
    EXPECT_NE(r.err.find("HUGESHIM_TRACK=auto: THP: "), std::string::npos) << r.err;
    unlink(report.c_str());
}
