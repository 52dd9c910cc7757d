// Reading /proc files (os/proc.c): of any length, line by line (/proc/zoneinfo
// lists every CPU's page sets for every zone and passes 64 KiB on a large
// machine, where reading it whole into a fixed buffer lost the later nodes),
// and on the files thread, in a descriptor table of its own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../../common/hs_thread.h"
#include "../../os/hs_os.h"

namespace {

void collect(void *arg, const char *line)
{
    static_cast<std::vector<std::string> *>(arg)->emplace_back(line);
}

}  // namespace

TEST(Proc, EachLineReadsAFileOfAnyLengthThroughASmallBuffer)
{
    char path[] = "/tmp/hs_lines_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    std::vector<std::string> want;
    {
        std::ofstream out(path);
        for (int i = 0; i < 20000; i++) {  // about 200 KiB
            want.push_back("Node " + std::to_string(i % 7) + ", zone " + std::to_string(i));
            out << want.back() << '\n';
            if (i == 5000)
                out << std::string(300, 'x') << '\n';  // longer than the buffer: skipped
        }
        out << "last line, no newline";
        want.push_back("last line, no newline");
    }
    char buf[64];
    std::vector<std::string> got;
    ASSERT_EQ(hs_os_each_line(path, buf, sizeof buf, collect, &got), 0);
    EXPECT_EQ(got, want);
    EXPECT_EQ(hs_os_each_line("/nonexistent/file", buf, sizeof buf, collect, &got), -ENOENT);
    unlink(path);
}

TEST(Proc, EachLineSeesAllOfZoneinfo)
{
    std::ifstream in("/proc/zoneinfo");
    if (!in)
        GTEST_SKIP() << "no /proc/zoneinfo";
    std::vector<std::string> want;
    for (std::string line; std::getline(in, line);)
        want.push_back(line);
    char buf[4096];
    std::vector<std::string> got;
    ASSERT_EQ(hs_os_each_line("/proc/zoneinfo", buf, sizeof buf, collect, &got), 0);
    // Counters move between the two reads; the lines and their order do not.
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); i++)
        EXPECT_EQ(got[i].substr(0, got[i].find_first_of("0123456789")),
                  want[i].substr(0, want[i].find_first_of("0123456789")))
            << "line " << i;
}

namespace {

std::string read_here(const std::string &path)
{
    std::ifstream in(path);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return all;
}

std::string read_hs(const std::string &path, ssize_t *result = nullptr)
{
    char buf[256];
    ssize_t n = hs_os_read_file(path.c_str(), buf, sizeof buf);
    if (result)
        *result = n;
    return n >= 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

}  // namespace

// A file hugeshim reads while the program runs is opened on the files thread,
// whose descriptor table holds nothing of the program's: the kernel names the
// reader (/proc/thread-self) and the table it looked in (fdinfo).
TEST(Proc, FilesAreOpenedOnTheFilesThreadInATableOfItsOwn)
{
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    std::string fdinfo = "/proc/thread-self/fdinfo/" + std::to_string(p[0]);
    std::string mine = read_here("/proc/thread-self/comm");
    ASSERT_NE(mine, "");
    EXPECT_EQ(read_hs("/proc/thread-self/comm"), mine) << "no files thread yet: read here";
    EXPECT_NE(read_hs(fdinfo), "") << "the pipe is in this thread's table";

    ASSERT_EQ(hs_thread_files_start(), 0);
    std::string there;
    for (int i = 0; i < 200 && (there = read_hs("/proc/thread-self/comm")) == mine; i++)
        usleep(1000);  // until it has its table
    EXPECT_EQ(there, "hugeshim-files\n");
    ssize_t n = 0;
    read_hs(fdinfo, &n);
    EXPECT_EQ(n, -ENOENT) << "the files thread's table holds the program's pipe";
    char buf[64];
    EXPECT_EQ(hs_os_write_file("/proc/thread-self/comm", "hs-files-2"), 0);
    EXPECT_GT(hs_os_read_file("/proc/thread-self/comm", buf, sizeof buf), 0);
    EXPECT_STREQ(buf, "hs-files-2\n") << "written and read on the same thread";
    EXPECT_EQ(read_here("/proc/thread-self/comm"), mine);

    hs_thread_files_stop();
    EXPECT_EQ(read_hs("/proc/thread-self/comm"), mine) << "stopped: read here again";
    close(p[0]);
    close(p[1]);
}

// A process that ends within its first epoch stops the files thread before it
// has its table: the calls after that are made here, never left waiting (a
// short-lived `stty` under python's test_os hung in its exit report so).
TEST(Proc, FilesCallsAfterAStopRightAfterTheStartAreMadeHere)
{
    std::string mine = read_here("/proc/thread-self/comm");
    for (int i = 0; i < 50; i++) {
        ASSERT_EQ(hs_thread_files_start(), 0);
        if (i % 2)
            usleep(static_cast<useconds_t>(i * 20));
        hs_thread_files_stop();
        EXPECT_EQ(read_hs("/proc/thread-self/comm"), mine) << "round " << i;
    }
}
