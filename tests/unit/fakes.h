// Fakes shared by the unit tests of tracking and placement: a fake NUMA
// machine (where each unit is, moves, room per node, explicit policies) and
// counters reset between tests.
#ifndef HS_TEST_FAKES_H
#define HS_TEST_FAKES_H

#include <cerrno>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "../../common/hs_counters.h"
#include "../../os/hs_os.h"

const uintptr_t M = 1 << 20;

inline void reset_counters()
{
    for (int i = 0; i < HS_CTR_COUNT; i++)
        hs_counter_set(static_cast<hs_counter_id_t>(i), 0);
}

struct FakeNuma {
    std::map<uintptr_t, int> where;       // unit -> node
    std::map<uintptr_t, int> fail;        // unit -> -errno on move
    std::map<int, int64_t> room;          // node -> bytes, absent: plenty
    std::set<uintptr_t> explicit_policy;  // units under mbind
    std::vector<std::vector<uintptr_t>> calls;
    int moves = 0;
    std::set<uintptr_t> splits_on_move;   // units the kernel splits when it moves them
    std::set<uintptr_t> split;            // units left on base pages
    std::set<uintptr_t> stays_split;      // of those, units a collapse cannot mend
    std::vector<uintptr_t> mend_looks;    // units mend was asked about
    int64_t split_count = 0;              // /proc/vmstat thp_migration_split
};
inline FakeNuma *fn;

inline long fake_move_pages(void *, unsigned long n, void **pages, const int *nodes, int *status)
{
    if (nodes)
        fn->calls.emplace_back();
    for (unsigned long i = 0; i < n; i++) {
        uintptr_t a = reinterpret_cast<uintptr_t>(pages[i]);
        if (!nodes) {
            status[i] = fn->where.count(a) ? fn->where[a] : -EFAULT;
            continue;
        }
        fn->calls.back().push_back(a);
        if (fn->fail.count(a)) {
            status[i] = fn->fail[a];
            continue;
        }
        fn->where[a] = nodes[i];
        status[i] = nodes[i];
        fn->moves++;
        if (fn->splits_on_move.count(a)) {
            fn->split.insert(a);
            fn->split_count++;
        }
    }
    return 0;
}

inline int64_t fake_thp_splits(void *) { return fn->split_count; }

inline int fake_mend(void *, uintptr_t unit)
{
    fn->mend_looks.push_back(unit);
    if (!fn->split.count(unit))
        return 0;
    if (fn->stays_split.count(unit))
        return -ENOMEM;
    fn->split.erase(unit);
    return 1;
}

inline int64_t fake_room(void *, int node, hs_os_kind_t) { return fn->room.count(node) ? fn->room[node] : -1; }

inline int fake_policy(void *, uintptr_t addr, bool *out)
{
    *out = fn->explicit_policy.count(addr) > 0;
    return 0;
}

#endif
