// The report writers: nested JSON from dotted keys, readable text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "../../common/hs_counters.h"

TEST(Report, CounterKeysAreUniqueAndGroupedByPrefix)
{
    std::set<std::string> keys, closed_groups;
    std::string last_group;
    for (int i = 0; i < HS_CTR_COUNT; i++) {
        std::string key = hs_counter_descs[i].key;
        EXPECT_TRUE(keys.insert(key).second) << key;
        std::string group = key.substr(0, key.rfind('.'));
        if (group != last_group) {
            EXPECT_EQ(closed_groups.count(group), 0u) << "keys of " << group << " are not together";
            closed_groups.insert(last_group);
            last_group = group;
        }
    }
}

TEST(Report, JsonNestsDottedKeys)
{
    hs_report_field_t fields[] = {
        {"program", HS_FIELD_STRING, 0, "my \"prog\"\n"},
        {"pid", HS_FIELD_NUMBER, 42, nullptr},
        {"backing.requested", HS_FIELD_STRING, 0, "thp"},
        {"backing.thp_bytes", HS_FIELD_BYTES, 1ULL << 40, nullptr},
        {"backing.fallbacks.a", HS_FIELD_NUMBER, 1, nullptr},
        {"backing.fallbacks.b", HS_FIELD_NUMBER, 2, nullptr},
        {"backing.regions", HS_FIELD_NUMBER, 3, nullptr},
        {"kernel.anon_huge_bytes", HS_FIELD_BYTES, 0, nullptr},
    };
    char buf[4096];
    size_t n = hs_report_json(fields, sizeof fields / sizeof *fields, buf, sizeof buf);
    ASSERT_GT(n, 0u);
    auto j = nlohmann::json::parse(std::string(buf, n));
    EXPECT_EQ(j["program"], "my \"prog\"\n");
    EXPECT_EQ(j["pid"], 42);
    EXPECT_EQ(j["backing"]["requested"], "thp");
    EXPECT_EQ(j["backing"]["thp_bytes"].get<unsigned long long>(), 1ULL << 40);
    EXPECT_EQ(j["backing"]["fallbacks"]["a"], 1);
    EXPECT_EQ(j["backing"]["fallbacks"]["b"], 2);
    EXPECT_EQ(j["backing"]["regions"], 3);
    EXPECT_EQ(j["kernel"]["anon_huge_bytes"], 0);
}

TEST(Report, JsonOfEveryCounterParses)
{
    hs_report_field_t fields[HS_CTR_COUNT];
    for (int i = 0; i < HS_CTR_COUNT; i++)
        fields[i] = {hs_counter_descs[i].key, HS_FIELD_NUMBER, static_cast<uint64_t>(i), nullptr};
    static char buf[65536];
    size_t n = hs_report_json(fields, HS_CTR_COUNT, buf, sizeof buf);
    ASSERT_GT(n, 0u);
    auto j = nlohmann::json::parse(std::string(buf, n));
    EXPECT_EQ(j["backing"]["fallbacks"]["hugetlb_2m_exhausted"], HS_CTR_FALLBACK_2M_EXHAUSTED);
    EXPECT_EQ(j["mmap"]["intercepted"], HS_CTR_MMAP_INTERCEPTED);
}

TEST(Report, TooSmallBufferIsZeroNotTruncatedJson)
{
    hs_report_field_t f = {"a.b", HS_FIELD_NUMBER, 1, nullptr};
    char buf[8];
    EXPECT_EQ(hs_report_json(&f, 1, buf, sizeof buf), 0u);
}

TEST(Report, TextShowsBytesReadably)
{
    hs_report_field_t fields[] = {{"backing.thp_bytes", HS_FIELD_BYTES, 3ULL << 29, nullptr},
                                  {"mmap.passed", HS_FIELD_NUMBER, 7, nullptr}};
    char buf[512];
    size_t n = hs_report_text(fields, 2, buf, sizeof buf);
    std::string text(buf, n);
    EXPECT_NE(text.find("backing.thp_bytes  1.5 GiB\n"), std::string::npos) << text;
    EXPECT_NE(text.find("mmap.passed        7\n"), std::string::npos) << text;
}
