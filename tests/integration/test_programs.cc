// Real programs from Debian run under the shim with output identical to a
// plain run, and the shim really acted in them (their report exists and shows
// heap memory served through hugeshim's backing).
#include <unistd.h>

#include "harness.h"

using namespace hs_test;

namespace {

const std::string &input_file()
{
    static std::string path;
    if (path.empty()) {
        path = temp_path("input.txt");
        Result r = run({"awk", "BEGIN { srand(42); for (i = 0; i < 400000; i++) "
                               "printf \"%08d %s line-%d\\n\", int(rand() * 1e8), (i % 7 ? \"x\" : \"yy\"), i }"});
        EXPECT_EQ(r.status, 0);
        std::ofstream(path) << r.out;
    }
    return path;
}

struct Case {
    std::string name;
    std::vector<std::string> argv;
    bool uses_input_on_stdin;
};

void expect_same_output(const Case &c)
{
    SCOPED_TRACE(c.name);
    std::string stdin_file = c.uses_input_on_stdin ? input_file() : "";
    Result plain = run(c.argv, {}, stdin_file);
    ASSERT_EQ(plain.status, 0) << plain.err;
    for (const char *backing : {"thp", "none"}) {
        std::string report = temp_path(c.name + ".json");
        Result shim = run(c.argv, shim_env({{"HUGESHIM_BACKING", backing}, {"HUGESHIM_STATS", report}}), stdin_file);
        EXPECT_EQ(shim.status, 0) << backing << ": " << shim.err;
        EXPECT_EQ(shim.out.size(), plain.out.size()) << backing;
        EXPECT_TRUE(shim.out == plain.out) << backing << ": output differs";
        EXPECT_EQ(shim.err, plain.err) << backing;
        auto j = read_json(report);
        EXPECT_GE(report_num(j, "heap.extent_allocs"), 1) << backing;
        unlink(report.c_str());
    }
}

}  // namespace

TEST(Programs, SortLargeInput)
{
    expect_same_output({"sort", {"sort", "-S", "64M", input_file()}, false});
}

TEST(Programs, GzipCompressesIdentically)
{
    expect_same_output({"gzip", {"gzip", "-9", "-c", "-n"}, true});
}

TEST(Programs, XzCompressesIdentically)
{
    expect_same_output({"xz", {"xz", "-6", "-c", "-T1"}, true});
}

TEST(Programs, Bzip2CompressesIdentically)
{
    expect_same_output({"bzip2", {"bzip2", "-c"}, true});
}

TEST(Programs, Python3Interpreter)
{
    expect_same_output({"python3",
                        {"python3", "-c",
                         "import sys, hashlib\n"
                         "d = {i: str(i) * 3 for i in range(300000)}\n"
                         "l = sorted(d.values(), reverse=True)[:5]\n"
                         "b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096])\n"
                         "print(len(d), l, hashlib.sha256(bytes(b)).hexdigest())\n"
                         "print(sum(len(line) for line in sys.stdin))\n"},
                        true});
}

TEST(Programs, PerlInterpreter)
{
    expect_same_output({"perl",
                        {"perl", "-e",
                         "my %h; while (<STDIN>) { my @f = split; $h{$f[1]} += length($_); push @{$h{lines}}, $f[0]; }"
                         " print join(',', map { \"$_\" } sort grep { !/lines/ } keys %h), ' ', scalar(@{$h{lines}}), \"\\n\";"},
                        true});
}

TEST(Programs, Sqlite3Database)
{
    expect_same_output({"sqlite3",
                        {"sqlite3", ":memory:",
                         "CREATE TABLE t(a INTEGER, b TEXT);"
                         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)"
                         " INSERT INTO t SELECT x, hex(x * 7919) FROM c;"
                         "CREATE INDEX ti ON t(b);"
                         "SELECT count(*), sum(a), min(b), max(b) FROM t;"
                         "SELECT b FROM t WHERE a % 50000 = 0 ORDER BY b;"},
                        false});
}

TEST(Programs, StaticallyLinkedProgramIsSimplyNotAffected)
{
    std::string report = temp_path("static.json");
    std::string prog = build_dir() + "/tests/hs_probe_static";
    Result plain = run({prog, "api"});
    Result shim = run({prog, "api"}, shim_env({{"HUGESHIM_STATS", report}}));
    EXPECT_EQ(plain.status, 0);
    EXPECT_EQ(shim.status, 0) << shim.err;
    EXPECT_EQ(shim.out, plain.out);
    EXPECT_TRUE(read_file(report).empty()) << "hugeshim cannot reach a static program, so nothing reports";
}
