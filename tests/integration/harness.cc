// harness.cc: child processes with pipes, report parsing, pool fixtures.
#include "harness.h"
#include "../../os/compat.h"
#include "../../os/hs_os.h"

#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

extern char **environ;

namespace hs_test {

long long Result::num(const std::string &key) const
{
    auto it = kv.find(key);
    if (it == kv.end()) {
        ADD_FAILURE() << "child printed no " << key << "; stdout:\n" << out << "\nstderr:\n" << err;
        return -1;
    }
    return std::stoll(it->second, nullptr, 0);
}

std::string build_dir() { return HS_BUILD_DIR; }
std::string lib_path() { return build_dir() + "/libhugeshim.so"; }
std::string probe_path() { return build_dir() + "/tests/hs_probe"; }

Env shim_env(const Env &extra)
{
    Env env = extra;
    env["LD_PRELOAD"] = lib_path();
    return env;
}

// Read both pipes until they close; false when the deadline passed first.
static bool drain(int out_fd, int err_fd, std::string &out, std::string &err, int timeout_s)
{
    struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int open_fds = 2;
    char buf[65536];
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (open_fds > 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left_ms = timeout_s * 1000L - ((now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L);
        if (left_ms <= 0)
            return false;
        int ready = poll(fds, 2, static_cast<int>(left_ms));
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                fds[i].fd = -1;
                open_fds--;
            } else {
                (i == 0 ? out : err).append(buf, static_cast<size_t>(n));
            }
        }
    }
    return true;
}

Result run(const std::vector<std::string> &argv, const Env &env, const std::string &stdin_file, int timeout_s)
{
    std::vector<std::string> env_strings;
    for (char **e = environ; *e; e++) {
        if (!strncmp(*e, "HUGESHIM_", 9) || !strncmp(*e, "LD_PRELOAD=", 11))
            continue;
        std::string entry = *e;
        std::string name = entry.substr(0, entry.find('='));
        if (env.count(name))
            continue;
        env_strings.push_back(entry);
    }
    for (const auto &kv : env)
        env_strings.push_back(kv.first + "=" + kv.second);
    std::vector<char *> envp, args;
    for (auto &s : env_strings)
        envp.push_back(const_cast<char *>(s.c_str()));
    envp.push_back(nullptr);
    for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);

    int out_pipe[2], err_pipe[2];
    EXPECT_EQ(pipe2(out_pipe, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err_pipe, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_file.empty() ? "/dev/null" : stdin_file.c_str(), O_RDONLY, 0);
    // The child starts with every signal at its default and none blocked,
    // whatever the test binary inherited (a shell's background job ignores
    // SIGINT and SIGQUIT, and python's own tests of signals then fail).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    Result r;
    int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        ADD_FAILURE() << "cannot start " << argv[0] << ": " << strerror(rc);
        close(out_pipe[0]);
        close(err_pipe[0]);
        return r;
    }
    if (!drain(out_pipe[0], err_pipe[0], r.out, r.err, timeout_s)) {
        r.timed_out = true;
        kill(pid, SIGKILL);
    }
    close(out_pipe[0]);
    close(err_pipe[0]);
    int status;
    // Output closed but the child may still linger (a hang after closing
    // stdout): the deadline holds for it too.
    for (int waited_ms = 0; waitpid(pid, &status, WNOHANG) == 0; waited_ms += 10) {
        if (waited_ms >= timeout_s * 1000) {
            r.timed_out = true;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos && eq > 0 && line.find(' ') > eq)
            r.kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return r;
}

std::string temp_path(const std::string &stem)
{
    static int counter;
    return "/tmp/hs_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" + stem;
}

SharedCopies::SharedCopies() : dir_(temp_path("shared"))
{
    mkdir(dir_.c_str(), 0755);
    chmod(dir_.c_str(), 0755);
}

SharedCopies::~SharedCopies()
{
    for (const auto &f : glob_paths(dir_ + "/*"))
        unlink(f.c_str());
    rmdir(dir_.c_str());
}

std::string SharedCopies::add(const std::string &path)
{
    std::string copy = dir_ + "/" + path.substr(path.rfind('/') + 1);
    std::ifstream in(path, std::ios::binary);
    std::ofstream out(copy, std::ios::binary);
    out << in.rdbuf();
    out.close();
    if (!in || !out || chmod(copy.c_str(), 0755) != 0)
        return "";
    return copy;
}

std::vector<std::string> glob_paths(const std::string &pattern)
{
    std::vector<std::string> out;
    glob_t g;
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++)
            out.push_back(g.gl_pathv[i]);
    globfree(&g);
    return out;
}

std::string read_file(const std::string &path)
{
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

nlohmann::json read_json(const std::string &path)
{
    std::string text = read_file(path);
    if (text.empty()) {
        ADD_FAILURE() << "no report at " << path;
        return nlohmann::json::object();
    }
    return nlohmann::json::parse(text);
}

long long report_num(const nlohmann::json &j, const std::string &dotted)
{
    const nlohmann::json *node = &j;
    std::stringstream ss(dotted);
    std::string part;
    while (std::getline(ss, part, '.')) {
        if (!node->is_object() || !node->contains(part)) {
            ADD_FAILURE() << "report has no " << dotted << ": " << j.dump(1);
            return -1;
        }
        node = &(*node)[part];
    }
    return node->get<long long>();
}

void expect_next_descriptor_kept(const std::string &interval_ms, long long min_checks, long long min_epochs)
{
    std::string report = temp_path("nextfd.json");
    Result r = run({probe_path(), "lowest-fd", "3", "4"},
                   shim_env({{"HUGESHIM_MIGRATE", "on"}, {"HUGESHIM_INTERVAL_MS", interval_ms}, {"HUGESHIM_STATS", report}}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GT(r.num("fd_checks"), min_checks);
    EXPECT_EQ(r.num("fd_moved"), 0) << "the program's next open got another number";
    auto j = read_json(report);
    EXPECT_GE(report_num(j, "tracking.epochs"), min_epochs);
    EXPECT_GT(report_num(j, "sampling.parked"), 0) << "the threads' memory was never sampled";
    unlink(report.c_str());
}

std::string thp_mode()
{
    std::string s = read_file("/sys/kernel/mm/transparent_hugepage/enabled");
    auto a = s.find('['), b = s.find(']');
    return a == std::string::npos ? "absent" : s.substr(a + 1, b - a - 1);
}

bool is_root() { return geteuid() == 0; }

static bool probe_works(hs_os_probe_result_t (*probe)(char *, size_t), std::string &why)
{
    char detail[512];
    bool ok = probe(detail, sizeof detail) == HS_OS_PROBE_WORKS;
    why = detail;
    return ok;
}

bool pagemap_scan_works(std::string &why) { return probe_works(hs_os_probe_pagemap_scan, why); }
bool uffd_sync_works(std::string &why) { return probe_works(hs_os_probe_wpsync, why); }
bool sampling_works(std::string &why)
{
    if (!uffd_sync_works(why))
        return false;
    why = "the userfaultfd has no UFFDIO_MOVE (Linux 6.8+)";
    return hs_os_wpsync_can_move();
}

bool read_then_write_stays_huge()
{
    const size_t unit = 2UL << 20;
    void *raw = mmap(nullptr, 2 * unit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return false;
    auto *p = reinterpret_cast<volatile unsigned char *>((reinterpret_cast<uintptr_t>(raw) + unit - 1) & ~(unit - 1));
    madvise(const_cast<unsigned char *>(p), unit, MADV_HUGEPAGE);
    unsigned sum = 0;
    for (size_t off = 0; off < unit; off += 4096)
        sum += p[off];
    p[unit / 2] = static_cast<unsigned char>(sum + 1);
    struct page_region vec[4];
    struct pm_scan_arg arg = {};
    arg.size = sizeof arg;
    arg.start = reinterpret_cast<uintptr_t>(p);
    arg.end = arg.start + unit;
    arg.vec = reinterpret_cast<uintptr_t>(vec);
    arg.vec_len = 4;
    arg.category_mask = arg.return_mask = PAGE_IS_HUGE;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    long n = fd < 0 ? -1 : ioctl(fd, PAGEMAP_SCAN, &arg);
    if (fd >= 0)
        close(fd);
    munmap(raw, 2 * unit);
    return n == 1 && vec[0].end - vec[0].start == unit;
}

static std::string hugetlb_knob(unsigned long page_kib, int node)
{
    std::string dir = node < 0 ? "/sys/kernel/mm/hugepages"
                               : "/sys/devices/system/node/node" + std::to_string(node) + "/hugepages";
    return dir + "/hugepages-" + std::to_string(page_kib) + "kB/nr_hugepages";
}

static bool write_text(const std::string &path, const std::string &text)
{
    std::ofstream f(path);
    f << text;
    f.flush();
    return f.good();
}

HugetlbPool::HugetlbPool(unsigned long page_kib, unsigned long pages, int node)
    : knob_(hugetlb_knob(page_kib, node))
{
    saved_ = read_file(knob_);
    if (saved_.empty()) {
        why_ = "this kernel has no " + std::to_string(page_kib) + " kB hugetlb pages";
        return;
    }
    if (!is_root()) {
        why_ = "setting " + knob_ + " needs root (CI runs as root)";
        return;
    }
    if (!write_text(knob_, std::to_string(pages))) {
        why_ = "cannot write " + knob_;
        return;
    }
    got_ = std::stoul(read_file(knob_));
    if (got_ < pages) {
        why_ = "asked " + std::to_string(pages) + " pages of " + std::to_string(page_kib) + " kB, the kernel found " +
               std::to_string(got_) + " (memory too fragmented)";
        return;
    }
    ok_ = true;
}

HugetlbPool::~HugetlbPool()
{
    if (!saved_.empty() && is_root()) {
        write_text(knob_, saved_);
        EXPECT_EQ(std::stoul(read_file(knob_)), std::stoul(saved_)) << knob_ << " not restored";
    }
}

AddressSpaceLimit::AddressSpaceLimit(unsigned long long bytes)
{
    if (getrlimit(RLIMIT_AS, &saved_) != 0)
        return;
    struct rlimit limit = {bytes, saved_.rlim_max};
    ok_ = setrlimit(RLIMIT_AS, &limit) == 0;
}

AddressSpaceLimit::~AddressSpaceLimit()
{
    if (ok_) {
        EXPECT_EQ(setrlimit(RLIMIT_AS, &saved_), 0) << "RLIMIT_AS not restored";
    }
}

}  // namespace hs_test
