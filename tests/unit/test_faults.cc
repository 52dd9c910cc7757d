// os/fault.c: the injection points of the os layer, their schedule (after,
// times, errno), the HUGESHIM_FAULTS syntax, and the backing over the real
// kernel degrading when a kind is made to fail (checked in smaps).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "../../allocator/hs_backing.h"
#include "../../allocator/hs_registry.h"
#include "../../common/hs_counters.h"
#include "../../common/hs_log.h"
#include "../../os/hs_os.h"

namespace {

class Faults : public ::testing::Test {
protected:
    void SetUp() override { hs_os_fault_clear(); }
    void TearDown() override { hs_os_fault_clear(); }
};

// The VmFlags line of the smaps entry holding addr.
std::string vm_flags(const void *addr)
{
    std::ifstream smaps("/proc/self/smaps");
    std::string line;
    bool inside = false;
    uintptr_t a = reinterpret_cast<uintptr_t>(addr);
    while (std::getline(smaps, line)) {
        unsigned long s, e;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &s, &e) == 2 && line.find('-') < line.find(' ')) {
            inside = a >= s && a < e;
            continue;
        }
        if (inside && line.rfind("VmFlags:", 0) == 0)
            return line;
    }
    return "";
}

}  // namespace

TEST_F(Faults, OffCostsNothingAndFailsNothing)
{
    EXPECT_EQ(hs_os_faults_on, 0);
    for (int f = 0; f < HS_OS_FAULT_COUNT; f++)
        EXPECT_EQ(hs_os_fault(static_cast<hs_os_fault_t>(f)), 0);
}

TEST_F(Faults, FailsExactlyTheScheduledCalls)
{
    hs_os_fault_set(HS_OS_FAULT_SCAN, 2, 3, EIO);
    EXPECT_EQ(hs_os_faults_on, 1);
    int got[8];
    for (int &g : got)
        g = hs_os_fault(HS_OS_FAULT_SCAN);
    const int want[8] = {0, 0, -EIO, -EIO, -EIO, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        EXPECT_EQ(got[i], want[i]) << "call " << i;
    EXPECT_EQ(hs_os_fault_injected(HS_OS_FAULT_SCAN), 3u);
    EXPECT_EQ(hs_os_fault(HS_OS_FAULT_UFFD), 0) << "other points untouched";

    hs_os_fault_set(HS_OS_FAULT_UFFD, 1, 0, ENOMEM);  // times 0: for good
    EXPECT_EQ(hs_os_fault(HS_OS_FAULT_UFFD), 0);
    for (int i = 0; i < 100; i++)
        EXPECT_EQ(hs_os_fault(HS_OS_FAULT_UFFD), -ENOMEM);
    hs_os_fault_clear();
    EXPECT_EQ(hs_os_faults_on, 0);
    EXPECT_EQ(hs_os_fault(HS_OS_FAULT_UFFD), 0);
}

TEST_F(Faults, SpecSyntax)
{
    char why[300];
    EXPECT_EQ(hs_os_fault_parse("map_thp:1:2,report,uffd:0:0:EBUSY", why, sizeof why), 3) << why;
    EXPECT_EQ(hs_os_fault(HS_OS_FAULT_MAP_THP), 0);
    EXPECT_EQ(hs_os_fault(HS_OS_FAULT_MAP_THP), -ENOMEM) << "map points default to ENOMEM";
    EXPECT_EQ(hs_os_fault(HS_OS_FAULT_REPORT), -ENOSPC) << "the report defaults to a full disk";
    EXPECT_EQ(hs_os_fault(HS_OS_FAULT_UFFD), -EBUSY);
    EXPECT_EQ(hs_os_fault(HS_OS_FAULT_SCAN), 0);
    hs_os_fault_clear();

    // Bad specs arm nothing, not even their good entries, and say why in one line.
    for (const char *bad : {"map_thp:1,nonsense", "scan:x", "scan:1:2:3", "scan:1:1:EWHAT", "scan,scan", "scan;uffd"}) {
        why[0] = '\0';
        EXPECT_EQ(hs_os_fault_parse(bad, why, sizeof why), -EINVAL) << bad;
        EXPECT_EQ(hs_os_faults_on, 0) << bad;
        EXPECT_NE(why[0], '\0') << bad;
        EXPECT_EQ(std::strchr(why, '\n'), nullptr) << bad;
    }
    EXPECT_EQ(hs_os_fault_parse("", why, sizeof why), 0);
}

// The real kernel behind the backing: THP mappings made to fail from the
// second on; the region still comes, as base pages, and the kernel's VmFlags
// show the advice only on the first.
TEST_F(Faults, BackingOverTheRealKernelFallsBackWhenThpMappingsFail)
{
    hs_log_set_level(-1);
    ASSERT_EQ(hs_registry_init(), 0);
    hs_registry_reset_for_tests();
    hs_counter_set(HS_CTR_FALLBACK_THP_FAILED, 0);
    hs_backing_config_t c = {HS_OS_KIND_THP, 0, true};
    hs_backing_init(&c, nullptr);
    hs_os_fault_set(HS_OS_FAULT_MAP_THP, 1, 0, ENOMEM);

    void *first = nullptr, *second = nullptr;
    hs_os_kind_t k1, k2;
    ASSERT_EQ(hs_backing_map_region(8 << 20, HS_OS_PROT_READ | HS_OS_PROT_WRITE, false, false, &first, &k1), 0);
    ASSERT_EQ(hs_backing_map_region(8 << 20, HS_OS_PROT_READ | HS_OS_PROT_WRITE, false, false, &second, &k2), 0);
    EXPECT_EQ(k1, HS_OS_KIND_THP);
    EXPECT_EQ(k2, HS_OS_KIND_BASE);
    EXPECT_NE(vm_flags(first).find(" hg"), std::string::npos) << vm_flags(first);
    EXPECT_EQ(vm_flags(second).find(" hg"), std::string::npos) << vm_flags(second);
    EXPECT_EQ(hs_counter_get(HS_CTR_FALLBACK_THP_FAILED), 1u);
    std::memset(second, 7, 8 << 20);  // usable memory
    EXPECT_EQ(static_cast<unsigned char *>(second)[(8 << 20) - 1], 7);
    hs_os_munmap(first, 8 << 20);
    hs_os_munmap(second, 8 << 20);
    hs_registry_reset_for_tests();
}
