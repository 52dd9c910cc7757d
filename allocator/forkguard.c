/* forkguard.c: hugetlb heap and fork (hs_forkguard.h). */
#include <string.h>

#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "hs_forkguard.h"
#include "hs_registry.h"

#define HS_FG_REGIONS 1024
#define HS_FG_CHILDREN 500 /* pids in the shared page */

typedef struct hs_fg_copy {
    uintptr_t start;
    size_t len;
    void *copy;
} hs_fg_copy_t;

static hs_fg_copy_t hs_copies[HS_FG_REGIONS];
static size_t hs_ncopies;
static bool hs_sharing;
static hs_region_t *hs_snapshot;
/* Children that may share hugetlb pages with this process tree: a shared
 * page, so that descendants that fork record theirs too. */
static int *hs_children;

static size_t hs_page_of(uint8_t kind)
{
    return kind == HS_OS_KIND_HUGETLB_1G ? HS_OS_HUGE_1G : HS_OS_HUGE_2M;
}

/* Children still holding memory; dead slots are freed. */
static unsigned hs_children_alive(void)
{
    unsigned alive = 0;
    for (int i = 0; i < HS_FG_CHILDREN; i++) {
        int pid = __atomic_load_n(&hs_children[i], __ATOMIC_RELAXED);
        if (!pid)
            continue;
        if (hs_os_process_holds_memory(pid))
            alive++;
        else
            __atomic_compare_exchange_n(&hs_children[i], &pid, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
    return alive;
}

static bool hs_children_add(int pid)
{
    for (int i = 0; i < HS_FG_CHILDREN; i++) {
        int empty = 0;
        if (__atomic_compare_exchange_n(&hs_children[i], &empty, pid, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

/* Does the pool have room for every shared page to be copied once more,
 * with slack?  The pool is shared by every process on the machine and a
 * check is not a reservation: other processes (a test runner's workers,
 * each with its own hugetlb heap) can take the pages between this fork and
 * the child's first write, and the child then dies of SIGBUS (measured:
 * python's test_multiprocessing_fork workers under a 20-page pool).  So
 * share only when the pool has twice what this tree needs and 64 pages
 * more; a short pool always gets the copy. */
static bool hs_pool_covers(size_t n, unsigned sharers)
{
    uint64_t pages[2] = {0, 0}; /* 2 MiB, 1 GiB */
    for (size_t i = 0; i < n; i++)
        if (hs_snapshot[i].kind == HS_OS_KIND_HUGETLB_2M || hs_snapshot[i].kind == HS_OS_KIND_HUGETLB_1G)
            pages[hs_snapshot[i].kind == HS_OS_KIND_HUGETLB_1G] += hs_snapshot[i].len / hs_page_of(hs_snapshot[i].kind);
    static const uint64_t kib[2] = {2048, 1048576};
    for (int k = 0; k < 2; k++) {
        if (!pages[k])
            continue;
        hs_os_hugetlb_pool_t pool;
        if (hs_os_hugetlb_pool(kib[k], -1, &pool) != 0)
            return false;
        uint64_t available = pool.free > pool.reserved ? pool.free - pool.reserved : 0;
        uint64_t slack = k ? 1 : 64;
        if (available < 2 * pages[k] * (sharers + 1) + slack)
            return false;
        /* From a hugetlbfs mount, a child's copy-on-write takes pages of its
         * quota too: a full quota is a SIGBUS as an empty pool is. */
        uint64_t room = hs_os_hugetlbfs_room(k ? HS_OS_KIND_HUGETLB_1G : HS_OS_KIND_HUGETLB_2M);
        if (room != UINT64_MAX && room / (kib[k] * 1024) < 2 * pages[k] * (sharers + 1) + slack)
            return false;
    }
    return true;
}

static void hs_undo_copies(void)
{
    for (size_t i = 0; i < hs_ncopies; i++) {
        hs_os_munmap(hs_copies[i].copy, hs_copies[i].len);
        hs_os_dontfork((void *)hs_copies[i].start, hs_copies[i].len, false);
    }
    hs_ncopies = 0;
}

/* A THP copy of a hugetlb region's resident pages (the rest reads as zero,
 * as an unfaulted hugetlb page would). */
static bool hs_copy_region(const hs_region_t *r)
{
    void *copy;
    bool advised;
    if (hs_ncopies >= HS_FG_REGIONS ||
        hs_os_map_kind(HS_OS_KIND_THP, r->len, HS_OS_HUGE_2M, HS_OS_PROT_READ | HS_OS_PROT_WRITE, false, false, &copy,
                       &advised) != 0)
        return false;
    size_t page = hs_page_of(r->kind), copied = 0;
    for (size_t off = 0; off < r->len; off += page)
        if (hs_os_resident((void *)(r->start + off))) {
            memcpy((char *)copy + off, (void *)(r->start + off), page);
            copied += page;
        }
    hs_os_dontfork((void *)r->start, r->len, true);
    hs_copies[hs_ncopies++] = (hs_fg_copy_t){r->start, r->len, copy};
    hs_count(HS_CTR_FORK_COPIED_BYTES, copied);
    return true;
}

void hs_forkguard_prefork(void)
{
    hs_ncopies = 0;
    hs_sharing = false;
    if (!hs_snapshot) {
        void *mem, *page;
        if (hs_os_map_plain(HS_REGISTRY_CAPACITY * sizeof(hs_region_t), &mem) != 0 ||
            hs_os_map_shared_page(&page) != 0)
            return;
        hs_snapshot = mem;
        hs_children = page;
    }
    size_t n = hs_registry_snapshot(hs_snapshot, HS_REGISTRY_CAPACITY), hugetlb = 0;
    for (size_t i = 0; i < n; i++)
        hugetlb += hs_snapshot[i].kind == HS_OS_KIND_HUGETLB_2M || hs_snapshot[i].kind == HS_OS_KIND_HUGETLB_1G;
    if (!hugetlb)
        return;
    if (hs_pool_covers(n, hs_children_alive())) {
        hs_sharing = true;
        hs_count(HS_CTR_FORK_SHARED, 1);
        return;
    }
    uint64_t t0 = hs_os_now_ns();
    for (size_t i = 0; i < n; i++) {
        if (hs_snapshot[i].kind != HS_OS_KIND_HUGETLB_2M && hs_snapshot[i].kind != HS_OS_KIND_HUGETLB_1G)
            continue;
        if (!hs_copy_region(&hs_snapshot[i])) {
            hs_undo_copies();
            hs_count(HS_CTR_FORK_UNPROTECTED, 1);
            hs_warn_once(hs_warned_fork, "fork: the hugetlb pool cannot cover the children's copy-on-write and no "
                                         "memory is left for a private copy: children share the hugetlb heap at risk "
                                         "of SIGBUS; reserve more pages (hugeshim doctor)");
            hs_sharing = true;
            return;
        }
    }
    hs_count(HS_CTR_FORK_COPIED, 1);
    hs_count(HS_CTR_FORK_COPY_NS, hs_os_now_ns() - t0);
}

void hs_forkguard_postfork_parent(void)
{
    hs_undo_copies();
}

void hs_forkguard_postfork_child(void)
{
    if (hs_sharing && !hs_children_add(hs_os_getpid()))
        hs_log(HS_LOG_DEBUG, "fork: the list of sharing children is full");
    for (size_t i = 0; i < hs_ncopies; i++) {
        /* The hugetlb region was not inherited (MADV_DONTFORK): its range is
         * free, and the copy moves there. */
        if (hs_os_move_mapping(hs_copies[i].copy, hs_copies[i].len, (void *)hs_copies[i].start) != 0)
            continue; /* cannot happen for a free range; the data stays at the copy */
        if (hs_registry_add(hs_copies[i].start, hs_copies[i].len, HS_OS_KIND_THP, HS_ORIGIN_HEAP) != 0)
            hs_count(HS_CTR_ERRORS_REGISTRY_FULL, 1);
    }
    hs_ncopies = 0;
    /* Children of this child start counting afresh for their own forks. */
    hs_sharing = false;
}
