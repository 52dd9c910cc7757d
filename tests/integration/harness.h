// harness.h: run child programs under the shim and read what they report.
// Each test sets its own environment for its child (as jemalloc's tests set
// MALLOC_CONF per test), so tests never leak settings into each other.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace hs_test {

struct Result {
    int status = -1;  // exit code, or 128 + signal
    bool timed_out = false;  // killed after the run's time limit
    std::string out, err;
    std::map<std::string, std::string> kv;  // key=value lines of out
    long long num(const std::string &key) const;
};

using Env = std::map<std::string, std::string>;

// Run argv with the current environment minus HUGESHIM_* and LD_PRELOAD, plus
// env; a child still running after timeout_s seconds is killed (SIGKILL).
Result run(const std::vector<std::string> &argv, const Env &env = {}, const std::string &stdin_file = "",
           int timeout_s = 300);

std::string build_dir();
std::string lib_path();
std::string probe_path();
Env shim_env(const Env &extra = {});  // LD_PRELOAD=libhugeshim.so + extra

// A fresh temporary path (removed at exit of the test binary is not needed:
// tests remove what they create).
std::string temp_path(const std::string &stem);
nlohmann::json read_json(const std::string &path);
// Copies of files that another user can run or load, whatever the mode of
// the checkout's folders (a clone may sit under a 0700 folder): a fresh
// world-readable folder under /tmp, removed with the object.
class SharedCopies {
public:
    SharedCopies();
    ~SharedCopies();
    std::string add(const std::string &path);  // the copy's path ("" if it failed)

private:
    std::string dir_;
};
std::string read_file(const std::string &path);
// The paths matching a shell pattern, sorted.
std::vector<std::string> glob_paths(const std::string &pattern);
// A dotted key ("backing.thp_bytes") of a report.
long long report_num(const nlohmann::json &j, const std::string &dotted);

// `hs_probe lowest-fd 3 4` under placement with epochs every interval_ms:
// four threads write while the probe opens and closes a file for 3 s; it
// must get the same number every time (at least min_checks opens), over at
// least min_epochs epochs in which the threads' memory was sampled.
void expect_next_descriptor_kept(const std::string &interval_ms, long long min_checks, long long min_epochs);

// Kernel facts for skips.
std::string thp_mode();
bool is_root();
// Whether a tracking backend works on this kernel (os/probe.c), and why not.
bool pagemap_scan_works(std::string &why);
bool uffd_sync_works(std::string &why);
// uffd_sync with UFFDIO_MOVE: the access sampler runs.
bool sampling_works(std::string &why);
// The kernel's own answer, found without hugeshim's code: a 2 MiB-aligned
// MADV_HUGEPAGE unit read whole (the huge zero page) and then written once
// is a huge page afterwards (PAGEMAP_SCAN's PAGE_IS_HUGE).
bool read_then_write_stays_huge();

// Sets a hugetlb pool (global, or one NUMA node's) for the test's lifetime
// and restores it afterwards.
class HugetlbPool {
public:
    HugetlbPool(unsigned long page_kib, unsigned long pages, int node = -1);
    ~HugetlbPool();
    bool ok() const { return ok_; }
    unsigned long got() const { return got_; }
    const std::string &why() const { return why_; }

private:
    std::string knob_;
    std::string saved_;
    bool ok_ = false;
    unsigned long got_ = 0;
    std::string why_;
};

// An address-space limit (RLIMIT_AS soft limit) on this process, so on the
// programs it starts (as after `ulimit -v`), for the object's lifetime; the
// limit before is restored on every way out of the test.
class AddressSpaceLimit {
public:
    explicit AddressSpaceLimit(unsigned long long bytes);
    ~AddressSpaceLimit();
    bool ok() const { return ok_; }

private:
    struct rlimit saved_;
    bool ok_ = false;
};

}  // namespace hs_test

#define HS_REQUIRE_POOL(pool)                                                                          \
    do {                                                                                               \
        if (!(pool).ok())                                                                              \
            GTEST_SKIP() << (pool).why();                                                              \
    } while (0)

// Skip the test, saying why, when a tracking backend does not work here.
#define HS_REQUIRE_BACKEND(works, name)                                                                \
    do {                                                                                               \
        std::string why;                                                                               \
        if (!hs_test::works(why))                                                                      \
            GTEST_SKIP() << name " does not work here: " << why;                                       \
    } while (0)
#define REQUIRE_PAGEMAP_SCAN() HS_REQUIRE_BACKEND(pagemap_scan_works, "PAGEMAP_SCAN")
#define REQUIRE_UFFD_SYNC() HS_REQUIRE_BACKEND(uffd_sync_works, "uffd_sync")
#define REQUIRE_SAMPLING() HS_REQUIRE_BACKEND(sampling_works, "access sampling")
