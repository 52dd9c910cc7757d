// The access sampler (track/park.c) on the host: units parked with
// UFFDIO_MOVE so that reads fault as writes do.  What is asserted is what
// the kernel did: which units the tracker found hot, the bytes the program
// reads back, AnonHugePages before and after.
#include <unistd.h>

#include "harness.h"

using namespace hs_test;

namespace {

Env sampling_env(const std::string &report, const std::string &interval_ms = "100")
{
    return shim_env({{"HUGESHIM_TRACK", "uffd_sync"},
                     {"HUGESHIM_BACKING", "thp"},
                     {"HUGESHIM_INTERVAL_MS", interval_ms},
                     {"HUGESHIM_TRACK_BUDGET", "65536"},
                     {"HUGESHIM_STATS", report}});
}

}  // namespace

#define REQUIRE_THP()                                                                                  \
    do {                                                                                               \
        if (thp_mode() != "madvise" && thp_mode() != "always")                                         \
            GTEST_SKIP() << "THP is " << thp_mode();                                                   \
    } while (0)

// Every 7th unit of a 256 MiB THP heap is only read: write-protect cannot
// see it, the sampler must find exactly those units, with every byte intact
// and every huge page whole.
TEST(Sampling, UnitsThatAreOnlyReadAreFoundHotAndStayHuge)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    std::string report = temp_path("sample-read.json");
    Result r = run({probe_path(), "track-hot", "256M", "1", "2M", "3", "read"}, sampling_env(report));
    ASSERT_EQ(r.status, 0) << r.err;
    // The whole process's: a unit parked now is a VMA of its own, and staging is THP too.
    EXPECT_GE(r.num("before_rollup_anon_huge_kb"), 250 * 1024);
    EXPECT_GE(r.num("expected_units"), 18);
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    EXPECT_EQ(r.num("hot_exact"), 1);
    EXPECT_EQ(r.num("zeroed_pages"), 0) << "a parked unit came back empty";
    EXPECT_GE(r.num("rollup_anon_huge_kb"), r.num("before_rollup_anon_huge_kb")) << "parking split huge pages";
    auto j = read_json(report);
    EXPECT_EQ(j["sampling"]["enabled"], "on");
    EXPECT_GE(report_num(j, "sampling.accessed"), r.num("expected_units"));
    // Recorded as reads: placement trusts one node's reads less than its
    // writes (two readers take turns at being caught first).
    EXPECT_GE(report_num(j, "tracking.read_samples"), r.num("expected_units")) << "reads recorded as writes";
    EXPECT_GE(report_num(j, "sampling.idle"), 1);
    EXPECT_EQ(report_num(j, "sampling.errors"), 0);
    EXPECT_EQ(report_num(j, "sampling.put_back_by_mremap"), 0);
    unlink(report.c_str());
}

// A unit read from one node epoch after epoch is settled on it: one sample
// an epoch keeps it hot and shows a new reader's node the first time it is
// first; the ticks park only the units whose reader is news.  10 units of
// 2 MiB read for 12 epochs of 250 ms (dev VM): 210 parks, 90 units sampled
// once; before, 367-368 parks (4 samples per unit per epoch).
TEST(Sampling, UnitsReadByTheirSettledReaderAreSampledOncePerEpoch)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    std::string report = temp_path("sample-settled.json");
    Result r = run({probe_path(), "track-hot", "128M", "1", "2M", "12", "read"}, sampling_env(report, "250"), "", 120);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    EXPECT_EQ(r.num("hot_exact"), 1);
    EXPECT_EQ(r.num("zeroed_pages"), 0);
    EXPECT_GE(r.num("rollup_anon_huge_kb"), r.num("before_rollup_anon_huge_kb")) << "parking split huge pages";
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "sampling.sampled_once"), 4 * r.num("expected_units"));
    EXPECT_LE(report_num(j, "sampling.parked"), 280);
    EXPECT_EQ(report_num(j, "sampling.errors"), 0);
    unlink(report.c_str());
}

// The same program with sampling off: write-protect alone sees none of the
// read units.  (This is what the sampler adds; if this ever finds them, the
// test above proves nothing.)
TEST(Sampling, WithoutItReadUnitsAreInvisible)
{
    REQUIRE_UFFD_SYNC();
    REQUIRE_THP();
    std::string report = temp_path("sample-off.json");
    Env env = sampling_env(report);
    env["HUGESHIM_SAMPLE"] = "off";
    Result r = run({probe_path(), "track-hot", "256M", "1", "2M", "3", "read"}, env);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("hot_units"), 0) << r.out;
    EXPECT_EQ(r.num("zeroed_pages"), 0);
    auto j = read_json(report);
    EXPECT_EQ(j["sampling"]["enabled"], "off");
    EXPECT_EQ(j["sampling"]["why"], "HUGESHIM_SAMPLE=off");
    EXPECT_EQ(report_num(j, "sampling.parked"), 0);
    unlink(report.c_str());
}

// A program that wrote every unit and turns to reading some, mid-epoch: the
// next epoch starts with every unit write-protected, which cannot see reads.
// Its first tick parks the units no write reached, so the read ones are seen
// in that epoch and the hot set is exactly them two epoch ends after the
// turn (three when they were seen only the epoch after, cooling meanwhile).
TEST(Sampling, ReadsAfterWritesAreSeenInTheFirstEpoch)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    std::string report = temp_path("sample-w2r.json");
    Result r = run({probe_path(), "track-write-then-read"}, sampling_env(report, "1000"), "", 120);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GE(r.num("exact_after_epochs"), 1) << r.out;
    EXPECT_LE(r.num("exact_after_epochs"), 2) << r.out;
    EXPECT_EQ(r.num("zeroed_pages"), 0);
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "sampling.parked_unwritten"), 18) << "the read units, at least";
    EXPECT_EQ(report_num(j, "sampling.errors"), 0);
    unlink(report.c_str());
}

// Units idle for epochs stay parked (their range empty: not resident), so
// that a read beginning any time later is seen in the epoch it begins.  A
// rotation of 20 per epoch over the process's ~33 units keeps up to 40
// parked: all 16 of the object's (before, the rotation's half of them, and
// the read units were found when it came round to them).
TEST(Sampling, IdleUnitsStayParkedAndTheirFirstReadIsSeenThatEpoch)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    std::string report = temp_path("sample-idle.json");
    Env env = sampling_env(report, "200");
    env["HUGESHIM_SAMPLE_BUDGET"] = "20";
    Result r = run({probe_path(), "track-idle-then-read"}, env, "", 120);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("idle_units_not_resident"), 16) << r.out;
    EXPECT_EQ(r.num("exact_after_epochs"), 1) << r.out;
    EXPECT_EQ(r.num("changed_bytes"), 0);
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "sampling.kept"), 16);
    EXPECT_EQ(report_num(j, "sampling.errors"), 0);
    unlink(report.c_str());
}

// Units a program updates (a load, then a store) are seen written, not
// read: a parked unit's first access is the load.  Put back unprotected,
// its store went unseen, and the unit, taken for a read one, was parked
// again every epoch.  Now a read's put-back leaves the unit write-protected
// until its waiters run (armed), so the store faults once more and names
// its writer; and one epoch in 4 a read unit is write-protected at the start
// instead of parked.  10 of 64 units incremented for 16 epochs of 250 ms
// (dev VM): 111-112 units accessed while parked (resamples and the probe's
// final check of every page included), 150 write samples against 57 read
// ones; without arming 179-189 accessed, 106-109 writes against 123-132
// reads; without either, 310-514 accessed.
TEST(Sampling, UpdatedUnitsAreSeenWrittenNotParkedEveryEpoch)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    std::string report = temp_path("sample-update.json");
    Result r = run({probe_path(), "track-hot", "128M", "1", "2M", "16"}, sampling_env(report, "250"), "", 120);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    EXPECT_EQ(r.num("zeroed_pages"), 0);
    auto j = read_json(report);
    EXPECT_LE(report_num(j, "sampling.accessed"), 150);
    EXPECT_GT(report_num(j, "sampling.armed"), 0);
    EXPECT_GT(report_num(j, "tracking.write_samples"), report_num(j, "tracking.read_samples"))
        << "an update's store is seen after its load";
    EXPECT_EQ(report_num(j, "sampling.errors"), 0);
    unlink(report.c_str());
}

// Writes are seen through parking as well (a parked unit faults on any
// access), with the writer's units exact.
TEST(Sampling, WrittenUnitsAreFoundToo)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    std::string report = temp_path("sample-write.json");
    Result r = run({probe_path(), "track-hot", "128M", "1", "2M", "3"}, sampling_env(report));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("wrong_units"), 0) << r.out;
    EXPECT_EQ(r.num("zeroed_pages"), 0);
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "sampling.accessed"), r.num("expected_units"));
    unlink(report.c_str());
}

// Everything a program may do to memory the sampler has parked, epochs of
// 20 ms so that most calls meet parked units: kernel reads and writes
// (read(2), write(2), pread(2), process_vm_readv, /proc/self/mem), a purge
// that must read back as zeroes, munmap and a new mapping that must be
// zero, mremap, mprotect, mlock, mbind, move_pages (which finds no page at a
// parked unit unless hugeshim puts it back first), fork and a clone without CLONE_VM whose
// children check the data, while two threads read at random.
TEST(Sampling, ProgramCallsOnParkedMemoryKeepEveryByte)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    std::string report = temp_path("sample-safety.json");
    Result r = run({probe_path(), "park-safety", "6"}, sampling_env(report, "20"), "", 120);
    ASSERT_FALSE(r.timed_out) << "a thread stayed blocked on a parked unit";
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GE(r.num("rounds"), 100);
    EXPECT_EQ(r.num("failures"), 0) << r.out;
    EXPECT_EQ(r.num("intact"), 1) << r.out;
    // Where the kernel had no huge page for a fault (thp_fallbacks, counted
    // for the whole machine), the program's own new pages (the purged and the
    // remapped ranges) are base pages: one unit each, not hugeshim's doing.
    EXPECT_GE(r.num("anon_huge_kb_end") + 4096 + 2048 * r.num("thp_fallbacks"), r.num("anon_huge_kb_start"))
        << "huge pages were split\n" << r.out;
    auto j = read_json(report);
    if (r.num("thp_fallbacks") == 0) {
        EXPECT_EQ(report_num(j, "sampling.left_split"), 0);
    }
    EXPECT_GE(report_num(j, "sampling.parked"), 100);
    EXPECT_GE(report_num(j, "sampling.accessed"), 10);
    EXPECT_GE(report_num(j, "sampling.put_back_early"), 10) << "no call met a parked unit: the test tests nothing";
    // After a fork the parent's pages are shared until written: not parked.
    EXPECT_GE(report_num(j, "sampling.not_sampled.shared"), 1);
    unlink(report.c_str());
}

// Each step alone, so that a failure names its call.
TEST(Sampling, EachCallAloneOnParkedMemory)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    for (const char *step : {"k", "d", "u", "r", "p", "l", "b", "n", "c"}) {
        std::string report = temp_path("sample-step.json");
        Result r = run({probe_path(), "park-safety", "2", step}, sampling_env(report, "20"), "", 60);
        ASSERT_FALSE(r.timed_out) << step;
        ASSERT_EQ(r.status, 0) << step << ": " << r.err;
        EXPECT_EQ(r.num("failures"), 0) << step << ": " << r.out;
        EXPECT_EQ(r.num("intact"), 1) << step;
        auto j = read_json(report);
        // After a clone the pages are shared with the child and are not parked
        // until written: the first clone may come before the first park.
        if (std::string(step) != "c") {
            EXPECT_GE(report_num(j, "sampling.parked"), 1) << step;
        }
        if (std::string(step) == "n") {
            EXPECT_GE(r.num("move_pages_calls"), 10) << r.out;
            EXPECT_GE(report_num(j, "sampling.put_back_early"), 1) << "no move_pages call met a parked unit";
        }
        EXPECT_EQ(report_num(j, "sampling.put_back_by_mremap"), 0) << step;
        unlink(report.c_str());
    }
}

// UFFDIO_MOVE failing, both ways (HUGESHIM_FAULTS=park): after 50 moves
// once, after the first (a park) for good, from the start for good.  Parking then fails
// (the unit is write-protected instead) and putting back falls back to
// copying the unit back (UFFDIO_COPY): no byte is lost, no thread waits,
// and the program's mapping stays one VMA (its mremap of it works).
TEST(Sampling, MovesFailingLoseNoData)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    for (const char *spec : {"park:50:1", "park:1:0", "park:0:0"}) {
        std::string report = temp_path("sample-faults.json");
        Env env = sampling_env(report, "20");
        env["HUGESHIM_FAULTS"] = spec;
        Result r = run({probe_path(), "park-safety", "3"}, env, "", 90);
        ASSERT_FALSE(r.timed_out) << spec;
        ASSERT_EQ(r.status, 0) << spec << ": " << r.err;
        EXPECT_EQ(r.num("failures"), 0) << spec << ": " << r.out;
        EXPECT_EQ(r.num("intact"), 1) << spec;
        auto j = read_json(report);
        EXPECT_GE(report_num(j, "errors.injected_faults"), 1) << spec;
        EXPECT_GE(report_num(j, "sampling.errors"), 1) << spec;
        if (std::string(spec) == "park:1:0") {
            // The first move went through: if it parked a unit (it may have found
            // one not whole), that unit came back by copy.
            EXPECT_EQ(report_num(j, "sampling.put_back_by_copy"), report_num(j, "sampling.parked")) << spec;
            EXPECT_EQ(report_num(j, "sampling.put_back_by_mremap"), 0) << spec;
        }
        unlink(report.c_str());
    }
}

// A put-back the kernel's move splits: when a fault at a parked unit fell
// back to base pages (no huge page free at that moment), the page table it
// left at the unit makes UFFDIO_MOVE split the huge page on the way back,
// and leaves the slot's table behind, which would split every later unit
// parked in that slot.  HUGESHIM_FAULTS=park_split does to the first 20
// put-backs what the kernel then does (the first page moved alone); each
// must be seen, its slot mapped anew, and the unit made huge again, so that
// the process ends with all its huge pages.  Without the fresh slot the run
// ended with 51 of 122 MiB huge; without the collapse, with 63.
TEST(Sampling, PutBacksTheKernelSplitAreMadeHugeAgain)
{
    REQUIRE_SAMPLING();
    REQUIRE_THP();
    std::string report = temp_path("sample-split.json");
    Env env = sampling_env(report, "20");
    env["HUGESHIM_FAULTS"] = "park_split:0:20";
    Result r = run({probe_path(), "park-safety", "4"}, env, "", 90);
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.num("failures"), 0) << r.out;
    EXPECT_EQ(r.num("intact"), 1) << r.out;
    auto j = read_json(report);
    EXPECT_EQ(report_num(j, "errors.injected_faults"), 20);
    // Each injected put-back split a huge page (a unit parked from base pages
    // is not counted: none here, the program's pages are all huge).
    EXPECT_EQ(report_num(j, "sampling.split_by_move"), 20);
    // The program purges and refills, or unmaps, some split units itself
    // before hugeshim makes them huge again.
    EXPECT_GE(report_num(j, "sampling.made_huge_again"), 5);
    // Split units stay split only while the kernel has no huge page for them.
    if (r.num("thp_fallbacks") == 0) {
        EXPECT_EQ(report_num(j, "sampling.left_split"), 0);
    }
    EXPECT_GE(r.num("anon_huge_kb_end") + 4096 + 2048 * r.num("thp_fallbacks"), r.num("anon_huge_kb_start"))
        << "split huge pages stayed split\n" << r.out;
    // And the summary says so.
    Result st = run({build_dir() + "/hugeshim", "stats", report});
    EXPECT_NE(st.out.find("sampling   on: " + std::to_string(report_num(j, "sampling.parked")) + " units parked"),
              std::string::npos)
        << st.out;
    EXPECT_NE(st.out.find("; 20 huge pages split by the kernel's move back, " +
                          std::to_string(report_num(j, "sampling.made_huge_again")) + " made huge again, " +
                          std::to_string(report_num(j, "sampling.left_split")) + " left split"),
              std::string::npos)
        << st.out;
    unlink(report.c_str());
}

// uffd_sync's fault thread keeps its own copy of the descriptor table (so
// that a program closing every descriptor does not drop parked units): the
// copy must hold nothing of the program's.  A pipe made before the thread
// started ended only when the process did (python's regression tests hung
// reading a finished child's output).
TEST(Sampling, FaultThreadHoldsNoneOfTheProgramsDescriptors)
{
    REQUIRE_UFFD_SYNC();
    std::string report = temp_path("sample-pipe.json");
    Result r = run({probe_path(), "pipe-eof"}, sampling_env(report), "", 60);
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.status, 0) << "the read never ended (SIGALRM)\n" << r.err;
    EXPECT_EQ(r.num("eof"), 1) << r.out;
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "tracking.epochs"), 2);
    unlink(report.c_str());
}
