/* hugify.c: HUGESHIM_HEAP_THP=dense (see hs_hugify.h). */
#include <errno.h>

#include "hs_heap.h"
#include "hs_registry.h"
#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../os/hs_os.h"
#include "hs_hugify.h"

#define HS_UNIT_SHIFT 21          /* a unit: 2 MiB */
#define HS_UNIT ((uintptr_t)1 << HS_UNIT_SHIFT)
#define HS_UNIT_PAGES 512         /* 4 KiB pages in a unit */
#define HS_UNIT_BITS (1ULL << (HS_OWN_LIMIT_SHIFT - HS_UNIT_SHIFT)) /* units in the address space */
#define HS_BATCH 64               /* units measured by one mincore call */
#define HS_REGIONS_SEEN 4096      /* registry records looked at per pass */

static hs_hugify_config_t hs_cfg;
static hs_hugify_config_t hs_plan_cfg; /* hs_cfg, with fill_ahead as ahead while the heap fills densely */
static bool hs_on;
/* One bit per 2 MiB of the address space: the unit was decided. */
static uint64_t *hs_decided_bits;
static hs_region_t *hs_regions;
static unsigned char hs_vec[HS_BATCH * HS_UNIT_PAGES];
/* Back-off: a whole pass that found the heap as the last one did and did
 * nothing makes the next passes skip 1, 3, 7, then 15 ticks (1.6 s); any
 * change, or a purge (hs_hugify_forget), brings back every tick. */
static unsigned hs_idle, hs_skip;
static uint64_t hs_last_resident = UINT64_MAX;
/* One pass at a time (the epoch thread's tick and the program's threads may
 * both ask): the pass keeps its state in the statics above. */
static int hs_passing;
/* Passes on the program's threads (see hs_hugify_inline). */
int hs_hugify_due_flag; /* HS_HUGIFY_DUE_NOW or _LATER, 0: none */
static uint64_t hs_inline_ns; /* 0: off */
/* Bytes of 4 KiB-page regions the heap took since a pass was last asked for. */
static uint64_t hs_grown;
/* Until this time (hs_os_now_coarse_ns) the heap fills densely: its new
 * regions are THP regions and the front is advised fill_ahead units ahead. */
static uint64_t hs_fill_until_ns;
static uint64_t hs_next_due_ns;
static void (*hs_inline_wake)(void);

size_t hs_hugify_plan(const uint16_t *resident, const bool *decided, size_t n, const hs_hugify_config_t *config,
                      size_t budget, hs_hugify_action_t *out)
{
    size_t collapses = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = HS_HUGIFY_KEEP;
    for (size_t i = 0; i < n; i++) {
        if (decided[i] || out[i] != HS_HUGIFY_KEEP || resident[i] < config->dense_pages)
            continue;
        if (collapses == budget)
            break;
        out[i] = HS_HUGIFY_COLLAPSE;
        collapses++;
        /* The front of a heap filling densely: the next unit has begun and the
         * `ahead` after it (fewer at the end of the n) are untouched and
         * undecided. */
        size_t first = i + 2, last = i + 1 + config->ahead;
        if (last >= n)
            last = n - 1;
        if (config->ahead == 0 || first > last || decided[i + 1] || resident[i + 1] == 0)
            continue;
        bool untouched = true;
        for (size_t j = first; j <= last && untouched; j++)
            untouched = !decided[j] && resident[j] == 0;
        if (!untouched)
            continue;
        for (size_t j = first; j <= last; j++)
            out[j] = HS_HUGIFY_ADVISE;
    }
    return collapses;
}

static bool hs_unit_huge(uintptr_t unit);
static void hs_hugify_activity(size_t grown);
static bool hs_filling(void);

static const hs_heap_listener_t hs_listener = {
    .purged = hs_hugify_forget,
    .active = hs_hugify_activity,
    .unit_huge = hs_unit_huge,
    .born_huge = hs_filling,
};

int hs_hugify_init(const hs_hugify_config_t *config)
{
    hs_cfg = *config;
    void *bits, *regions;
    size_t bits_len = HS_UNIT_BITS / 8;
    if (hs_os_map_plain(bits_len, &bits) != 0)
        return -ENOMEM;
    if (hs_os_map_plain(HS_REGIONS_SEEN * sizeof(hs_region_t), &regions) != 0) {
        hs_os_munmap(bits, bits_len);
        return -ENOMEM;
    }
    hs_decided_bits = bits;
    hs_regions = regions;
    hs_on = true;
    hs_heap_listen(&hs_listener);
    return 0;
}

bool hs_hugify_on(void)
{
    return hs_on;
}

static bool hs_decided(uintptr_t unit)
{
    uintptr_t bit = unit >> HS_UNIT_SHIFT;
    return (__atomic_load_n(&hs_decided_bits[bit >> 6], __ATOMIC_RELAXED) >> (bit & 63)) & 1;
}

/* The heap's unit_huge: a decided unit was collapsed or advised huge. */
static bool hs_unit_huge(uintptr_t unit)
{
    return (unit >> HS_UNIT_SHIFT) < HS_UNIT_BITS && hs_decided(unit);
}

static void hs_decide(uintptr_t unit)
{
    uintptr_t bit = unit >> HS_UNIT_SHIFT;
    __atomic_fetch_or(&hs_decided_bits[bit >> 6], 1ULL << (bit & 63), __ATOMIC_RELAXED);
}

void hs_hugify_forget(uintptr_t start, size_t len)
{
    if (!hs_on || !len)
        return;
    __atomic_store_n(&hs_skip, 0, __ATOMIC_RELAXED);
    /* Only units purged whole: they refill from nothing and are measured
     * again.  A unit purged in part keeps its decision, so that a heap whose
     * frees and reuses straddle 90% does not collapse and split the same unit
     * pass after pass (each collapse copies 2 MiB under the mmap lock). */
    uintptr_t first = (start + HS_UNIT - 1) >> HS_UNIT_SHIFT, end = (start + len) >> HS_UNIT_SHIFT;
    for (uintptr_t bit = first; bit < end; bit++)
        if (bit < HS_UNIT_BITS)
            __atomic_fetch_and(&hs_decided_bits[bit >> 6], ~(1ULL << (bit & 63)), __ATOMIC_RELAXED);
}

/* Measure and act on n units from `first` (counted off units_left unless all
 * are decided); returns the collapses done, or -1 when the kernel has no
 * MADV_COLLAPSE (dense mode then stops trying). */
/* What a pass saw and did: for its back-off when the heap stands still. */
typedef struct {
    uint64_t resident; /* resident pages of the undecided units measured */
    size_t acted;      /* collapses and advice given */
    size_t huge;       /* decided (huge) units met */
    size_t open;       /* undecided units met with pages resident, left on 4 KiB pages */
} hs_pass_seen_t;

static long hs_hugify_batch(uintptr_t first, size_t n, size_t budget, size_t *units_left, hs_pass_seen_t *seen)
{
    uint16_t resident[HS_BATCH];
    bool decided[HS_BATCH];
    hs_hugify_action_t action[HS_BATCH];
    bool any_open = false;
    for (size_t i = 0; i < n; i++) {
        decided[i] = hs_decided(first + (i << HS_UNIT_SHIFT));
        any_open |= !decided[i];
        seen->huge += decided[i];
    }
    if (!any_open)
        return 0;
    *units_left = *units_left > n ? *units_left - n : 0;
    /* The region may have been unmapped since the snapshot: skip it. */
    if (hs_os_mincore((void *)first, n << HS_UNIT_SHIFT, hs_vec) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned count = 0;
        for (size_t p = 0; p < HS_UNIT_PAGES; p++)
            count += hs_vec[i * HS_UNIT_PAGES + p] & 1;
        resident[i] = (uint16_t)count;
        if (!decided[i])
            seen->resident += count;
    }
    hs_hugify_plan(resident, decided, n, &hs_plan_cfg, budget, action);
    long done = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t unit = first + (i << HS_UNIT_SHIFT);
        if (action[i] == HS_HUGIFY_KEEP && !decided[i] && resident[i] > 0)
            seen->open++;
        if (action[i] == HS_HUGIFY_COLLAPSE) {
            int err = hs_os_collapse((void *)unit, HS_UNIT);
            if (err == -EINVAL) {
                hs_log(HS_LOG_INFO, "HUGESHIM_HEAP_THP=dense: this kernel has no MADV_COLLAPSE; the heap stays on "
                       "4 KiB pages");
                hs_count(HS_CTR_HEAP_HUGIFY_FAILED, 1);
                return -1;
            }
            if (err) {
                /* -EAGAIN/-ENOMEM: no huge page free now; measured again next pass. */
                hs_count(HS_CTR_HEAP_HUGIFY_FAILED, 1);
                continue;
            }
            hs_decide(unit);
            hs_count(HS_CTR_HEAP_HUGIFIED_BYTES, HS_UNIT);
            done++;
            seen->acted++;
        } else if (action[i] == HS_HUGIFY_ADVISE) {
            if (hs_os_advise_huge((void *)unit, HS_UNIT) != 0) {
                hs_count(HS_CTR_HEAP_HUGIFY_FAILED, 1);
                continue;
            }
            hs_decide(unit);
            hs_count(HS_CTR_HEAP_ADVISED_AHEAD_BYTES, HS_UNIT);
            seen->acted++;
        }
    }
    return done;
}

static uintptr_t hs_cursor; /* where the last pass stopped */

/* The heap fills densely when a pass collapsed HS_FILL_UNITS units (a fast
 * fill: 8 is a pass's whole budget on a program thread), or when it met at
 * least that many huge units and HS_FILL_RATIO times as many huge units as
 * units left on 4 KiB pages with data in them (a slower one: sqlite filling
 * its page cache collapses a unit or two per pass).  The regions the heap's
 * arenas take during the next HS_FILL_HOLD_NS are then THP regions
 * (the heap's born_huge).  The malloc stressor, whose units stay 40-60%
 * written, collapsed 2 units in 2 s and keeps hundreds open. */
#define HS_FILL_UNITS 8
#define HS_FILL_RATIO 3
#define HS_FILL_HOLD_NS 1000000000ULL

static void hs_hugify_judge(size_t collapses, const hs_pass_seen_t *seen)
{
    bool filling = collapses >= HS_FILL_UNITS || (seen->huge >= HS_FILL_UNITS && seen->huge >= HS_FILL_RATIO * seen->open);
    if (!filling)
        return;
    __atomic_store_n(&hs_fill_until_ns, hs_os_now_coarse_ns() + HS_FILL_HOLD_NS, __ATOMIC_RELAXED);
    hs_count(HS_CTR_HEAP_DENSE_FILLS, 1);
}

static bool hs_hugify_pass_locked(void);

void hs_hugify_pass(void)
{
    if (!hs_on || __atomic_exchange_n(&hs_passing, 1, __ATOMIC_ACQUIRE))
        return;
    bool more = hs_hugify_pass_locked();
    /* On the program's threads a pass has a small budget: when it ran out,
     * the next comes a tenth of the interval later, from the next
     * malloc-family call whether or not the heap moves meanwhile, so that a
     * fill is caught up in short stalls rather than left behind when the
     * program goes on allocating from memory jemalloc already holds. */
    if (more && hs_inline_ns) {
        __atomic_store_n(&hs_next_due_ns, hs_os_now_coarse_ns() + hs_inline_ns / 10, __ATOMIC_RELAXED);
        int none = 0;
        __atomic_compare_exchange_n(&hs_hugify_due_flag, &none, HS_HUGIFY_DUE_LATER, false, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED);
        /* A pass run from calloc or realloc: the next malloc looks too. */
        hs_inline_wake();
    }
    __atomic_store_n(&hs_passing, 0, __ATOMIC_RELEASE);
}

static bool hs_filling(void)
{
    return hs_os_now_coarse_ns() < __atomic_load_n(&hs_fill_until_ns, __ATOMIC_RELAXED);
}

/* The heap's hooks saw activity: ask for a pass if one is due (only while
 * passes run on the program's threads): an interval after the last one was
 * asked for, or sooner when the heap has taken HS_GROWTH_PER_PASS of 4 KiB-page
 * regions since, so that a heap filled faster than the interval is measured
 * while it fills (one pass per 16 MiB taken, each collapsing at most 8 units:
 * the passes keep pace with the fill, and the first finds it dense early
 * enough for the rest of the heap to be taken as THP).  No early return on a
 * pass already asked for: a wake lost to a racing malloc is asked for again
 * one interval later. */
#define HS_GROWTH_PER_PASS ((uint64_t)HS_FILL_UNITS * HS_UNIT)

static void hs_hugify_activity(size_t grown)
{
    if (!__atomic_load_n(&hs_inline_ns, __ATOMIC_ACQUIRE))
        return;
    uint64_t total = grown ? __atomic_add_fetch(&hs_grown, grown, __ATOMIC_RELAXED)
                           : __atomic_load_n(&hs_grown, __ATOMIC_RELAXED);
    uint64_t now = hs_os_now_coarse_ns();
    if (now < __atomic_load_n(&hs_next_due_ns, __ATOMIC_RELAXED) && total < HS_GROWTH_PER_PASS)
        return;
    __atomic_store_n(&hs_grown, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&hs_next_due_ns, now + hs_inline_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&hs_hugify_due_flag, HS_HUGIFY_DUE_NOW, __ATOMIC_RELEASE);
    hs_inline_wake();
}

void hs_hugify_inline(uint64_t interval_ns, unsigned max_collapses, void (*wake)(void))
{
    if (!hs_on)
        return;
    if (hs_cfg.max_collapses > max_collapses)
        hs_cfg.max_collapses = max_collapses;
    hs_inline_wake = wake;
    __atomic_store_n(&hs_inline_ns, interval_ns, __ATOMIC_RELEASE);
}

void hs_hugify_run_due(void)
{
    int due = __atomic_load_n(&hs_hugify_due_flag, __ATOMIC_ACQUIRE);
    if (!due || (due == HS_HUGIFY_DUE_LATER && hs_os_now_coarse_ns() < __atomic_load_n(&hs_next_due_ns, __ATOMIC_RELAXED)))
        return;
    /* One caller takes it. */
    if (!__atomic_compare_exchange_n(&hs_hugify_due_flag, &due, 0, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    int saved = errno;
    hs_hugify_pass();
    errno = saved;
}

void hs_hugify_postfork_child(void)
{
    /* A thread of the parent may have been in a pass: its flag came along. */
    __atomic_store_n(&hs_passing, 0, __ATOMIC_RELAXED);
}

/* true when the pass stopped at its budget, with units left to measure. */
static bool hs_hugify_pass_locked(void)
{
    /* Count a skip down, unless a purge set it to 0 meanwhile. */
    unsigned skip = __atomic_load_n(&hs_skip, __ATOMIC_RELAXED);
    while (skip && !__atomic_compare_exchange_n(&hs_skip, &skip, skip - 1, false, __ATOMIC_RELAXED,
                                                __ATOMIC_RELAXED))
        ;
    if (skip)
        return false;
    hs_pass_seen_t seen = {0, 0, 0, 0};
    hs_plan_cfg = hs_cfg;
    if (hs_filling())
        hs_plan_cfg.ahead = hs_cfg.fill_ahead;
    size_t n = hs_registry_snapshot(hs_regions, HS_REGIONS_SEEN);
    if (n > HS_REGIONS_SEEN)
        n = HS_REGIONS_SEEN;
    size_t budget = hs_cfg.max_collapses, units_left = hs_cfg.max_units;
    /* Twice round the regions in address order, from the cursor: the first
     * round starts there, the second covers what lies before it. */
    for (int round = 0; round < 2; round++) {
        uintptr_t from = round == 0 ? hs_cursor : 0, upto = round == 0 ? UINTPTR_MAX : hs_cursor;
        for (size_t r = 0; r < n; r++) {
            const hs_region_t *reg = &hs_regions[r];
            if (reg->origin != HS_ORIGIN_HEAP || reg->kind != HS_OS_KIND_BASE)
                continue;
            uintptr_t u = (reg->start + HS_UNIT - 1) & ~(HS_UNIT - 1);
            uintptr_t end = (reg->start + reg->len) & ~(HS_UNIT - 1);
            if (u < from)
                u = from;
            if (end > upto)
                end = upto;
            while (u < end) {
                if (budget == 0 || units_left == 0) {
                    hs_cursor = u;
                    hs_hugify_judge(hs_cfg.max_collapses - budget, &seen);
                    return true;
                }
                size_t units = (end - u) >> HS_UNIT_SHIFT;
                if (units > HS_BATCH)
                    units = HS_BATCH;
                if (units > units_left)
                    units = units_left;
                long done = hs_hugify_batch(u, units, budget, &units_left, &seen);
                if (done < 0) {
                    hs_on = false;
                    return false;
                }
                budget -= (size_t)done;
                u += units << HS_UNIT_SHIFT;
            }
        }
    }
    hs_cursor = 0;
    hs_hugify_judge(hs_cfg.max_collapses - budget, &seen);
    if (seen.acted == 0 && seen.resident == hs_last_resident) {
        unsigned idle = hs_idle < 4 ? ++hs_idle : 4;
        __atomic_store_n(&hs_skip, (1u << idle) - 1, __ATOMIC_RELAXED);
    } else {
        hs_idle = 0;
    }
    hs_last_resident = seen.resident;
    return false;
}
