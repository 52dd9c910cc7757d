// The man pages and the Debian package: what they say matches the build,
// and the package installs, serves a real program huge pages and leaves
// nothing behind when removed.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>

#include "harness.h"

using namespace hs_test;

namespace {
std::string launcher() { return build_dir() + "/hugeshim"; }
std::string man_page(const std::string &name) { return build_dir() + "/man/" + name; }

bool exists(const std::string &path)
{
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
}

// The AnonHugePages a program reports after writing a 64 MiB bytearray.
const char *kPythonFill =
    "b = bytearray(64 << 20)\n"
    "for i in range(0, len(b), 4096): b[i] = 1\n"
    "print([l.split()[1] for l in open('/proc/self/smaps_rollup') if l.startswith('AnonHugePages')][0])\n";
}  // namespace

TEST(ManPages, NameEveryOptionCommandAndExportedFunction)
{
    // hugeshim(7): every option with its default, from this build's table.
    std::string seven = read_file(man_page("hugeshim.7"));
    Result options = run({launcher(), "options"});
    ASSERT_EQ(options.status, 0);
    std::regex row("^HUGESHIM_([A-Z0-9_]+) \\(--([a-z0-9-]+)\\), default \"([^\"]*)\"");
    size_t n = 0;
    std::istringstream lines(options.out);
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (!std::regex_search(line, m, row))
            continue;
        n++;
        EXPECT_NE(seven.find(".BR HUGESHIM_" + m[1].str() + " "), std::string::npos) << m[1];
        std::string def = m[3].str().empty() ? "(empty)" : m[3].str();
        std::string flag = std::regex_replace(m[2].str(), std::regex("-"), "\\-");
        EXPECT_NE(seven.find("(\\-\\-\" \"" + flag + "\" \"; default \" \"" + std::regex_replace(def, std::regex("-"), "\\-") + "\""),
                  std::string::npos)
            << m[1] << " default " << def;
    }
    EXPECT_GE(n, 20u);
    // hugeshim(1): every command the launcher lists.
    std::string one = read_file(man_page("hugeshim.1"));
    Result help = run({launcher(), "--help"});
    std::regex cmd("^  ([a-z]+) ");
    std::istringstream hl(help.out);
    size_t commands = 0;
    for (std::string line; std::getline(hl, line);) {
        std::smatch m;
        if (std::regex_search(line, m, cmd) && m[1] != "COMMAND") {
            commands++;
            EXPECT_NE(one.find(".B hugeshim " + m[1].str()), std::string::npos) << "hugeshim.1 lacks " << m[1];
            EXPECT_NE(one.find(".B " + m[1].str() + "\n"), std::string::npos) << "hugeshim.1 describes no " << m[1];
        }
    }
    EXPECT_GE(commands, 6u);
    // libhugeshim(3) and hugeshim.h: every hugeshim_* the library exports.
    std::string three = read_file(man_page("libhugeshim.3"));
    std::string header = read_file(std::string(HS_SOURCE_DIR) + "/shim/hugeshim.h");
    Result nm = run({"nm", "-D", "--defined-only", lib_path()});
    ASSERT_EQ(nm.status, 0) << nm.err;
    std::regex fn(" T (hugeshim_[a-z_]+)");
    size_t functions = 0;
    for (std::sregex_iterator it(nm.out.begin(), nm.out.end(), fn), end; it != end; ++it) {
        functions++;
        std::string name = (*it)[1];
        EXPECT_NE(three.find(name + "(", three.find(".SH DESCRIPTION")), std::string::npos) << "libhugeshim.3 lacks " << name;
        EXPECT_NE(header.find(name + "("), std::string::npos) << "hugeshim.h lacks " << name;
    }
    EXPECT_EQ(functions, 4u) << nm.out;
    // groff renders each without a warning.
    for (const char *page : {"hugeshim.1", "hugeshim.7", "libhugeshim.3"}) {
        Result r = run({"man", "--warnings", "-E", "UTF-8", "-l", man_page(page)}, {{"MANWIDTH", "80"}});
        EXPECT_EQ(r.status, 0) << page << r.err;
        EXPECT_EQ(r.err, "") << page;
        EXPECT_NE(r.out.find("NAME"), std::string::npos) << page;
    }
}

TEST(Package, InstallsServesHugePagesAndRemovesCleanly)
{
    if (!is_root())
        GTEST_SKIP() << "installing a package needs root (CI runs as root)";
    if (run({"sh", "-c", "command -v dpkg-deb && command -v lintian && command -v dpkg-shlibdeps"}).status != 0)
        GTEST_SKIP() << "dpkg-dev or lintian is missing (make test installs them)";
    if (run({"dpkg-query", "-W", "-f=${Status}", "hugeshim"}).out.find("installed") != std::string::npos)
        GTEST_SKIP() << "a hugeshim package is installed on this machine; the test does not replace it";
    if (exists("/etc/hugeshim.conf"))
        GTEST_SKIP() << "/etc/hugeshim.conf exists on this machine; the test does not replace it";
    if (thp_mode() == "never")
        GTEST_SKIP() << "THP is off on this machine";

    // Built with Debian's tools; lintian finds no error (the build fails on one).
    // BUILD spelled as the build that made these tests spelled it (relative
    // under the source tree): the dependency files name their targets by it,
    // and objects made under another spelling would miss header changes later.
    std::string build = build_dir(), src = std::string(HS_SOURCE_DIR) + "/";
    if (build.compare(0, src.size(), src) == 0)
        build = build.substr(src.size());
    Result built = run({"make", "-s", "-C", HS_SOURCE_DIR, "deb", "BUILD=" + build}, {}, "", 600);
    ASSERT_EQ(built.status, 0) << built.out << built.err;
    std::vector<std::string> debs = glob_paths(build_dir() + "/hugeshim_*_*.deb");
    ASSERT_EQ(debs.size(), 1u);
    Result info = run({"dpkg-deb", "-f", debs[0], "Depends", "Recommends"});
    EXPECT_NE(info.out.find("libnuma1"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("Recommends: libunwind8"), std::string::npos) << info.out;

    // Purged on every way out of the test, a failed assertion included.
    struct Purge {
        bool armed = true;
        ~Purge()
        {
            if (armed)
                run({"dpkg", "--purge", "hugeshim"}, {{"DEBIAN_FRONTEND", "noninteractive"}});
        }
    } purge;
    Result inst = run({"dpkg", "-i", debs[0]}, {{"DEBIAN_FRONTEND", "noninteractive"}});
    ASSERT_EQ(inst.status, 0) << inst.out << inst.err;
    std::string lib = "/usr/lib/" HS_MULTIARCH "/libhugeshim.so.0";
    Result listed = run({"dpkg", "-L", "hugeshim"});
    EXPECT_NE(listed.out.find(lib), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("/usr/bin/hugeshim"), std::string::npos);

    // Found by man.
    for (const char *page : {"1 hugeshim", "7 hugeshim", "3 libhugeshim"}) {
        std::string section(page, 1), name(page + 2);
        Result w = run({"man", "-w", section, name});
        EXPECT_EQ(w.status, 0) << page << w.err;
        EXPECT_NE(w.out.find("/usr/share/man/man" + section + "/" + name + "." + section + ".gz"), std::string::npos) << w.out;
    }
    // An installed program, under the installed launcher and by LD_PRELOAD
    // of the installed library: its heap on huge pages, by its own smaps.
    Result plain = run({"/usr/bin/python3", "-c", kPythonFill});
    Result launched = run({"/usr/bin/hugeshim", "run", "--", "/usr/bin/python3", "-c", kPythonFill});
    Result preloaded = run({"/usr/bin/python3", "-c", kPythonFill}, {{"LD_PRELOAD", lib}});
    ASSERT_EQ(launched.status, 0) << launched.err;
    ASSERT_EQ(preloaded.status, 0) << preloaded.err;
    EXPECT_EQ(launched.err, "") << "the launcher found the installed library";
    if (thp_mode() == "madvise") {
        EXPECT_LT(std::stol(plain.out), 8 * 1024) << "without hugeshim, madvise mode gives none";
    }
    EXPECT_GE(std::stol(launched.out), 60 * 1024) << launched.out;
    EXPECT_GE(std::stol(preloaded.out), 60 * 1024) << preloaded.out;
    Result version = run({"/usr/bin/hugeshim", "--version"});
    EXPECT_NE(version.out.find("hugeshim "), std::string::npos);

    // /etc/hugeshim.conf, shipped commented out, is read by every process
    // the library is in: a section for python3 names its report.
    std::string conf = read_file("/etc/hugeshim.conf");
    EXPECT_NE(conf.find("# [default]"), std::string::npos) << conf;
    std::string report = temp_path("etc-conf.json");
    {
        std::ofstream f("/etc/hugeshim.conf", std::ios::app);
        f << "[python3*]\nstats = " << report << "\n";
    }
    Result configured = run({"/usr/bin/python3", "-c", kPythonFill}, {{"LD_PRELOAD", lib}});
    EXPECT_EQ(configured.status, 0) << configured.err;
    auto j = read_json(report);
    EXPECT_EQ(j["program"], "python3.11") << "no report: /etc/hugeshim.conf was not read";
    EXPECT_GE(report_num(j, "kernel.anon_huge_peak_bytes"), 60LL << 20);
    unlink(report.c_str());

    // Removed: nothing left but the configuration the user changed; purged:
    // not even that.
    Result rm = run({"dpkg", "-r", "hugeshim"}, {{"DEBIAN_FRONTEND", "noninteractive"}});
    ASSERT_EQ(rm.status, 0) << rm.out << rm.err;
    EXPECT_TRUE(exists("/etc/hugeshim.conf")) << "a changed configuration file is kept on removal";
    for (const std::string &path : {lib, std::string("/usr/bin/hugeshim")})
        EXPECT_FALSE(exists(path)) << path;
    rm = run({"dpkg", "--purge", "hugeshim"}, {{"DEBIAN_FRONTEND", "noninteractive"}});
    ASSERT_EQ(rm.status, 0) << rm.out << rm.err;
    purge.armed = false;
    EXPECT_FALSE(exists("/etc/hugeshim.conf"));
    for (const std::string &path : {lib, std::string("/usr/bin/hugeshim"), std::string("/usr/share/doc/hugeshim"),
                                    std::string("/usr/share/man/man7/hugeshim.7.gz"), std::string("/usr/include/hugeshim.h")})
        EXPECT_FALSE(exists(path)) << path;
    EXPECT_NE(run({"dpkg", "-L", "hugeshim"}).status, 0) << "the package is still known to dpkg";
    Result ld = run({"ldconfig", "-p"});
    EXPECT_EQ(ld.out.find("libhugeshim.so.0"), std::string::npos) << "ldconfig's cache still names the library";
}
