// The option table and its parser, driven with synthetic environments.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "../../allocator/hs_backing.h"
#include "../../common/hs_kinds.h"
#include "../../common/hs_options.h"
#include "../../track/hs_tracker.h"

namespace {

struct Parsed {
    hs_options_t o;
    std::vector<std::string> lines;
    int problems;
};

void collect(void *ctx, const char *line) { static_cast<std::vector<std::string> *>(ctx)->push_back(line); }

Parsed parse(std::vector<std::string> env)
{
    Parsed p;
    std::vector<char *> envp;
    for (auto &e : env)
        envp.push_back(&e[0]);
    envp.push_back(nullptr);
    p.problems = hs_options_parse(&p.o, envp.data(), collect, &p.lines);
    return p;
}

}  // namespace

TEST(Options, EveryDefaultParsesAndIsInRange)
{
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        long long v;
        char why[64];
        EXPECT_TRUE(hs_option_parse_value(static_cast<hs_opt_id_t>(id), hs_opt_descs[id].def, &v, why, sizeof why))
            << hs_opt_descs[id].name << ": " << why;
        EXPECT_STRNE(hs_opt_descs[id].help, "");
    }
}

TEST(Options, DefaultsWithEmptyEnvironment)
{
    Parsed p = parse({"PATH=/bin", "HOME=/root"});
    EXPECT_EQ(p.problems, 0);
    EXPECT_EQ(p.o.value[HS_OPT_BACKING], 0);  // thp
    EXPECT_EQ(p.o.value[HS_OPT_MMAP_MIN], 2 << 20);
    EXPECT_EQ(p.o.value[HS_OPT_RETRY_MS], 1000);
    EXPECT_EQ(p.o.value[HS_OPT_ENABLE], 1);
    EXPECT_FALSE(hs_option_is_set(&p.o, HS_OPT_BACKING));
}

TEST(Options, ValuesFromEnvironment)
{
    Parsed p = parse({"HUGESHIM_BACKING=hugetlb1g", "HUGESHIM_MMAP_MIN=64M", "HUGESHIM_STATS=/tmp/x_%p.json",
                      "HUGESHIM_MMAP=off", "HUGESHIM_VERBOSE=2"});
    EXPECT_EQ(p.problems, 0);
    EXPECT_EQ(p.o.value[HS_OPT_BACKING], 2);
    EXPECT_EQ(p.o.value[HS_OPT_MMAP_MIN], 64LL << 20);
    EXPECT_STREQ(p.o.text[HS_OPT_STATS], "/tmp/x_%p.json");
    EXPECT_EQ(p.o.value[HS_OPT_MMAP], 0);
    EXPECT_EQ(p.o.value[HS_OPT_VERBOSE], 2);
    EXPECT_TRUE(hs_option_is_set(&p.o, HS_OPT_BACKING));
}

TEST(Options, SizeSuffixes)
{
    long long v;
    EXPECT_TRUE(hs_parse_size("4096", &v));
    EXPECT_EQ(v, 4096);
    EXPECT_TRUE(hs_parse_size("2k", &v));
    EXPECT_EQ(v, 2048);
    EXPECT_TRUE(hs_parse_size("2M", &v));
    EXPECT_EQ(v, 2 << 20);
    EXPECT_TRUE(hs_parse_size("2MiB", &v));
    EXPECT_EQ(v, 2 << 20);
    EXPECT_TRUE(hs_parse_size("1G", &v));
    EXPECT_EQ(v, 1LL << 30);
    EXPECT_TRUE(hs_parse_size("3T", &v));
    EXPECT_EQ(v, 3LL << 40);
    for (const char *bad : {"", "-1", "1.5M", "M", "12Q", "2 M", "99999999999999999999", "9999999999T", "0x10"})
        EXPECT_FALSE(hs_parse_size(bad, &v)) << bad;
}

TEST(Options, BadValuesKeepDefaultsAndSayWhatIsAccepted)
{
    Parsed p = parse({"HUGESHIM_BACKING=banana", "HUGESHIM_MMAP_MIN=-5", "HUGESHIM_RETRY_MS=abc",
                      "HUGESHIM_VERBOSE=7", "HUGESHIM_ENABLE=maybe"});
    EXPECT_EQ(p.problems, 5);
    ASSERT_EQ(p.lines.size(), 5u);
    EXPECT_EQ(p.lines[0], "hugeshim: HUGESHIM_BACKING=\"banana\" is not a known value: expected one of "
                          "thp|hugetlb_2m|hugetlb_1g|base (also hugetlb, hugetlb1g, none); using the default \"thp\"");
    EXPECT_NE(p.lines[1].find("HUGESHIM_MMAP_MIN=\"-5\" is negative: expected a size from 4k to 1T"),
              std::string::npos)
        << p.lines[1];
    EXPECT_NE(p.lines[2].find("HUGESHIM_RETRY_MS=\"abc\" is not an integer"), std::string::npos) << p.lines[2];
    EXPECT_NE(p.lines[3].find("HUGESHIM_VERBOSE=\"7\" is out of range: expected an integer from 0 to 2"),
              std::string::npos)
        << p.lines[3];
    EXPECT_NE(p.lines[4].find("HUGESHIM_ENABLE=\"maybe\" is not a yes/no value"), std::string::npos);
    EXPECT_EQ(p.o.value[HS_OPT_BACKING], 0);
    EXPECT_EQ(p.o.value[HS_OPT_MMAP_MIN], 2 << 20);
    EXPECT_EQ(p.o.value[HS_OPT_RETRY_MS], 1000);
    EXPECT_FALSE(hs_option_is_set(&p.o, HS_OPT_BACKING));
}

TEST(Options, UnknownHugeshimVariableIsReported)
{
    Parsed p = parse({"HUGESHIM_BAKING=thp", "HUGESHIMX=1", "NOT_HUGESHIM_X=1"});
    EXPECT_EQ(p.problems, 1);
    ASSERT_EQ(p.lines.size(), 1u);
    EXPECT_EQ(p.lines[0].find("hugeshim: HUGESHIM_BAKING is not a hugeshim option; known: HUGESHIM_ENABLE "
                              "HUGESHIM_BACKING"),
              0u)
        << p.lines[0];
}

TEST(Options, FlagNames)
{
    char buf[64];
    hs_option_flag_name(HS_OPT_MMAP_MIN, buf, sizeof buf);
    EXPECT_STREQ(buf, "mmap-min");
    hs_option_flag_name(HS_OPT_BACKING, buf, sizeof buf);
    EXPECT_STREQ(buf, "backing");
    EXPECT_STREQ(hs_option_enum_name(HS_OPT_BACKING, 3, buf, sizeof buf), "base");
    EXPECT_EQ(hs_option_enum_name(HS_OPT_BACKING, 4, buf, sizeof buf), nullptr);
}

TEST(Options, EveryEnumChoiceIsDecodedByName)
{
    // A new choice in options.def must be taught to its decoder: these are
    // matched by name, never by position.
    char name[64];
    for (long long i = 0; hs_option_enum_name(HS_OPT_BACKING, i, name, sizeof name); i++) {
        hs_os_kind_t kind;
        EXPECT_TRUE(hs_kind_of_name(name, &kind)) << name;
    }
    for (long long i = 0; hs_option_enum_name(HS_OPT_TRACK, i, name, sizeof name); i++) {
        if (std::string(name) == "auto" || std::string(name) == "off")
            continue;
        const hs_track_backend_ops_t *b = hs_track_backend_by_name(name);
        ASSERT_NE(b, nullptr) << name << " names no tracking backend";
        EXPECT_EQ(std::string(b->name), std::string(name));
    }
    hs_os_kind_t kind;
    ASSERT_TRUE(hs_kind_of_name("hugetlb_1g", &kind));
    EXPECT_EQ(kind, HS_OS_KIND_HUGETLB_1G);
    EXPECT_FALSE(hs_kind_of_name("banana", &kind));
}

// The code compares ENUM values with HS_<ID>_<CHOICE>: each constant must
// be the index of the choice it names, and every choice must have one.
TEST(Options, EveryEnumChoiceHasItsConstant)
{
    struct Choice {
        hs_opt_id_t option;
        long long index;
        std::string name;
    };
    const Choice choices[] = {
#define HS_CHOICE(id, choice, index) {HS_OPT_##id, index, #choice},
#include "../../common/options.def"
    };
    std::map<int, int> per_option;
    for (const Choice &c : choices) {
        char name[64];
        ASSERT_NE(hs_option_enum_name(c.option, c.index, name, sizeof name), nullptr) << c.name;
        std::string lower = c.name;
        for (char &ch : lower)
            ch = static_cast<char>(tolower(ch));
        EXPECT_EQ(std::string(name), lower) << hs_opt_descs[c.option].name;
        per_option[c.option]++;
    }
    EXPECT_EQ(HS_HEAP_THP_DENSE, 2);
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        if (hs_opt_descs[id].type != HS_OPT_ENUM)
            continue;
        char name[64];
        int n = 0;
        while (hs_option_enum_name(static_cast<hs_opt_id_t>(id), n, name, sizeof name))
            n++;
        EXPECT_EQ(per_option[id], n) << hs_opt_descs[id].name << ": a choice without its HS_CHOICE line";
    }
}

// One vocabulary: HUGESHIM_BACKING takes the report's kind names, and the
// older spellings still mean the same kinds.
TEST(Options, BackingTakesTheReportsKindNamesAndTheOlderSpellings)
{
    const std::pair<const char *, const char *> cases[] = {
        {"thp", "thp"},         {"hugetlb_2m", "hugetlb_2m"}, {"hugetlb", "hugetlb_2m"},
        {"hugetlb_1g", "hugetlb_1g"}, {"hugetlb1g", "hugetlb_1g"}, {"base", "base"}, {"none", "base"}};
    for (auto [given, canonical] : cases) {
        Parsed p = parse({std::string("HUGESHIM_BACKING=") + given});
        EXPECT_EQ(p.problems, 0) << given;
        char name[32];
        ASSERT_NE(hs_option_enum_name(HS_OPT_BACKING, p.o.value[HS_OPT_BACKING], name, sizeof name), nullptr);
        EXPECT_STREQ(name, canonical) << given;
        hs_os_kind_t kind;
        ASSERT_TRUE(hs_kind_of_name(name, &kind)) << given;
        EXPECT_STREQ(hs_kind_name(kind), canonical) << given;
    }
}
