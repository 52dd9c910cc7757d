// The guard between the program's memory calls and the access sampler
// (common/vmguard.c): a call that began before the sampler installed its
// hooks holds the installation off until it ends, so that no unit is parked
// under it; a call after the installation puts back what it covers first.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "../../common/hs_vmguard.h"

namespace {

std::atomic<int> settled{0};
bool holds(uintptr_t, size_t) { return true; }
void settle(uintptr_t, size_t) { settled++; }
const hs_vmguard_hooks_t hooks = {holds, settle};

}  // namespace

TEST(VmGuard, ACallInProgressHoldsTheSamplersInstallationOff)
{
    hs_vmguard_expect();
    hs_vmguard_token_t call = hs_vmguard_enter(0x200000, 0x200000);
    ASSERT_EQ(call, HS_VMGUARD_UNGUARDED) << "no hooks yet: the call goes ahead, counted";
    std::atomic<bool> installed{false};
    std::thread sampler([&] {
        hs_vmguard_install(&hooks);
        installed = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(installed) << "the hooks went in under a call that began without them";
    hs_vmguard_leave(call);
    sampler.join();
    EXPECT_TRUE(installed);

    // From now on a call takes the lock and puts back what its range holds.
    hs_vmguard_token_t after = hs_vmguard_enter(0x200000, 0x200000);
    EXPECT_EQ(after, HS_VMGUARD_EXCLUSIVE);
    EXPECT_EQ(settled, 1);
    EXPECT_FALSE(hs_vmguard_try_exclusive()) << "the sampler waits for the call";
    hs_vmguard_leave(after);
    EXPECT_TRUE(hs_vmguard_try_exclusive());
    hs_vmguard_release();
    hs_vmguard_install(nullptr);

    // A fork that began without the hooks holds them off the same way.
    hs_vmguard_prefork();
    installed = false;
    std::thread again([&] {
        hs_vmguard_install(&hooks);
        installed = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(installed);
    hs_vmguard_postfork_parent();
    again.join();
    EXPECT_TRUE(installed);
    hs_vmguard_install(nullptr);
}
