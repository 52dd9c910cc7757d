// Configuration files: sections by program name and path glob, precedence
// over the built-in defaults and under the environment, one clear line per
// bad line, files that cannot be used.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../../common/hs_config.h"
#include "../../common/hs_options.h"

namespace {

struct Loaded {
    std::unique_ptr<hs_options_t> o{new hs_options_t};
    std::vector<std::string> lines;
    int problems = 0;
};

void collect(void *ctx, const char *line) { static_cast<std::vector<std::string> *>(ctx)->push_back(line); }

std::string write_temp(const std::string &text)
{
    char path[] = "/tmp/hs_config_XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    return path;
}

// Load with HUGESHIM_CONFIG=file (the system file is whatever this machine
// has: tests set every option they check in their own file).
Loaded load(const std::string &file, const hs_config_program_t &prog, std::vector<std::string> env = {})
{
    Loaded l;
    env.push_back("HUGESHIM_CONFIG=" + file);
    std::vector<char *> envp;
    for (auto &e : env)
        envp.push_back(&e[0]);
    envp.push_back(nullptr);
    l.problems = hs_options_load(l.o.get(), envp.data(), &prog, collect, &l.lines);
    return l;
}

const hs_config_program_t kRedis = {"redis-server", "redis-server", "/usr/bin/redis-server"};
const hs_config_program_t kDb = {"mydb", "mydb", "/opt/db/bin/mydb"};

}  // namespace

TEST(Config, GlobPatterns)
{
    auto g = [](const char *p, const char *t) { return hs_config_glob(p, strlen(p), t); };
    EXPECT_TRUE(g("redis-server", "redis-server"));
    EXPECT_FALSE(g("redis", "redis-server"));
    EXPECT_TRUE(g("redis*", "redis-server"));
    EXPECT_TRUE(g("*server", "redis-server"));
    EXPECT_TRUE(g("r?dis-*", "redis-server"));
    EXPECT_TRUE(g("*", ""));
    EXPECT_TRUE(g("[pq]ython3.1[0-9]", "python3.11"));
    EXPECT_FALSE(g("[!p]ython3", "python3"));
    EXPECT_TRUE(g("[!q]ython3", "python3"));
    EXPECT_TRUE(g("/opt/*/mydb", "/opt/db/bin/mydb"));
    EXPECT_FALSE(g("/opt/*/other", "/opt/db/bin/mydb"));
    EXPECT_TRUE(g("a*b*c", "aXXbYYbc"));
    EXPECT_TRUE(g("[x", "[x"));
    EXPECT_FALSE(g("", "a"));
}

TEST(Config, SectionsByNameAndPathOverTheDefaultSectionUnderTheEnvironment)
{
    std::string file = write_temp("# hugeshim\n"
                                  "backing = base\n"
                                  "retry-ms = 10\n"
                                  "[default]\n"
                                  "mmap_min = 8M\n"
                                  "[memcached redis*]\n"
                                  "BACKING = thp\n"
                                  "stats = \"/var/log/hs/%p.json\"\n"
                                  "[/opt/db/bin/*]\n"
                                  "HUGESHIM_HEAP_THP = eager\n"
                                  "[default]\n"
                                  "retry_ms = 20\n");
    Loaded r = load(file, kRedis);
    EXPECT_EQ(r.problems, 0);
    EXPECT_EQ(r.o->value[HS_OPT_BACKING], HS_BACKING_THP) << "a matching section beats the default section";
    EXPECT_EQ(r.o->source[HS_OPT_BACKING], HS_SRC_SECTION);
    EXPECT_EQ(r.o->line[HS_OPT_BACKING], 7u);
    EXPECT_STREQ(r.o->text[HS_OPT_STATS], "/var/log/hs/%p.json") << "quotes are taken off";
    EXPECT_EQ(r.o->value[HS_OPT_MMAP_MIN], 8 << 20);
    EXPECT_EQ(r.o->source[HS_OPT_MMAP_MIN], HS_SRC_FILE);
    EXPECT_EQ(r.o->value[HS_OPT_RETRY_MS], 20) << "later lines of the same level win";
    EXPECT_EQ(r.o->value[HS_OPT_HEAP_THP], HS_HEAP_THP_AUTO) << "another program's section";
    EXPECT_EQ(r.o->source[HS_OPT_HEAP_THP], HS_SRC_DEFAULT);

    Loaded d = load(file, kDb);
    EXPECT_EQ(d.o->value[HS_OPT_BACKING], HS_BACKING_BASE);
    EXPECT_EQ(d.o->value[HS_OPT_HEAP_THP], HS_HEAP_THP_EAGER) << "a path glob";

    Loaded e = load(file, kRedis, {"HUGESHIM_BACKING=hugetlb_2m"});
    EXPECT_EQ(e.o->value[HS_OPT_BACKING], HS_BACKING_HUGETLB_2M) << "the environment beats every file";
    EXPECT_EQ(e.o->source[HS_OPT_BACKING], HS_SRC_ENV);
    char where[320];
    hs_option_source_text(r.o.get(), HS_OPT_BACKING, where, sizeof where);
    EXPECT_EQ(std::string(where), file + ":7, section for this program");
    hs_option_source_text(r.o.get(), HS_OPT_ENABLE, where, sizeof where);
    EXPECT_STREQ(where, "built in");
    unlink(file.c_str());
}

TEST(Config, EachBadLineIsOneClearLineAndIsIgnored)
{
    std::string file = write_temp("backing = banana\n"
                                  "just words\n"
                                  "colour = blue\n"
                                  "[redis-server\n"
                                  "config = /other.conf\n"
                                  "mmap_min = 4M\n"
                                  "[redis-server]\n"
                                  "retry_ms = soon\n");
    Loaded r = load(file, kRedis);
    ASSERT_EQ(r.lines.size(), 6u);
    EXPECT_EQ(r.lines[0], "hugeshim: " + file + ":1: \"backing = banana\" is not a known value: expected one of "
                          "thp|hugetlb_2m|hugetlb_1g|base (also hugetlb, hugetlb1g, none); line ignored");
    EXPECT_EQ(r.lines[1], "hugeshim: " + file + ":2: \"just words\" is not \"name = value\", a [section] or a # comment; line ignored");
    EXPECT_NE(r.lines[2].find(":3: \"colour = blue\" names no hugeshim option"), std::string::npos) << r.lines[2];
    EXPECT_NE(r.lines[3].find(":4: \"[redis-server\" is not a [section]"), std::string::npos) << r.lines[3];
    EXPECT_NE(r.lines[4].find(":5: \"config = /other.conf\" cannot be set in a configuration file"), std::string::npos);
    EXPECT_NE(r.lines[5].find(":8: \"retry_ms = soon\" is not an integer: expected an integer from 0 to"),
              std::string::npos) << r.lines[5];
    EXPECT_EQ(r.problems, 6);
    EXPECT_EQ(r.o->value[HS_OPT_BACKING], HS_BACKING_THP) << "the default stays";
    EXPECT_EQ(r.o->value[HS_OPT_MMAP_MIN], 2 << 20) << "lines after a broken header belong to no section";
    EXPECT_EQ(r.o->value[HS_OPT_RETRY_MS], 1000);
    unlink(file.c_str());
}

TEST(Config, FilesThatCannotBeUsedAreSaidAndSkipped)
{
    Loaded missing = load("/nonexistent/hugeshim.conf", kRedis);
    ASSERT_EQ(missing.lines.size(), 1u);
    EXPECT_EQ(missing.lines[0], "hugeshim: configuration file /nonexistent/hugeshim.conf: no such file; running without it");
    Loaded dir = load("/tmp", kRedis);
    ASSERT_EQ(dir.lines.size(), 1u);
    EXPECT_NE(dir.lines[0].find("/tmp: not a regular file"), std::string::npos) << dir.lines[0];
    // A FIFO must not block the program's start.
    std::string fifo = "/tmp/hs_config_fifo_" + std::to_string(getpid());
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    Loaded f = load(fifo, kRedis);
    ASSERT_EQ(f.lines.size(), 1u);
    EXPECT_NE(f.lines[0].find("not a regular file"), std::string::npos) << f.lines[0];
    unlink(fifo.c_str());
    // Larger than the buffer: the whole file is skipped, not a cut part.
    std::string huge = "backing = base\n" + std::string(HS_CONFIG_MAX_BYTES, '#') + "\n";
    std::string big = write_temp(huge);
    Loaded b = load(big, kRedis);
    ASSERT_EQ(b.lines.size(), 1u);
    EXPECT_NE(b.lines[0].find("larger than 64 KiB; running without it"), std::string::npos) << b.lines[0];
    EXPECT_EQ(b.o->value[HS_OPT_BACKING], HS_BACKING_THP);
    unlink(big.c_str());
    std::string binary = write_temp(std::string("backing = base\n\0\x01\x02", 18));
    Loaded n = load(binary, kRedis);
    ASSERT_EQ(n.lines.size(), 1u);
    EXPECT_NE(n.lines[0].find("holds a NUL byte"), std::string::npos);
    EXPECT_EQ(n.o->value[HS_OPT_BACKING], HS_BACKING_THP);
    unlink(binary.c_str());
    // "none": no file at all.
    Loaded none = load("none", kRedis);
    EXPECT_TRUE(none.lines.empty());
    EXPECT_STREQ(none.o->files[0], "");
}
