// Reading /proc files of any length line by line (os/proc.c): /proc/zoneinfo
// lists every CPU's page sets for every zone and passes 64 KiB on a large
// machine, where reading it whole into a fixed buffer lost the later nodes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

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
