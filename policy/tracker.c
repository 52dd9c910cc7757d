/* tracker.c: follow the registry, scan each region, keep the heat. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../allocator/hs_registry.h"
#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "hs_tracker.h"

#define HS_TRACK_MAX_REGIONS HS_REGISTRY_CAPACITY
#define HS_SOFTDIRTY_BUF 8192 /* pagemap entries per read: 32 MiB of address space */

typedef struct hs_tracked {
    hs_heat_region_t heat;
    uint8_t kind;
    bool armed;
} hs_tracked_t;

/* The tracked regions and their heat arrays live in one mapping each, rebuilt
 * when the set of regions changes (rarely: the heap grows by chunks). */
typedef struct hs_track_table {
    hs_tracked_t *regions;
    const hs_heat_region_t **heat; /* &regions[i].heat, for hs_heat_top */
    size_t count;
    void *mem;
    size_t mem_len;
} hs_track_table_t;

static hs_track_backend_t hs_backend = HS_TRACK_OFF;
static hs_heat_config_t hs_heat_cfg = {50, 50};
static hs_tracker_ops_t hs_ops;
static hs_track_table_t hs_table;
static hs_region_t *hs_snapshot; /* scratch for the registry snapshot */
static pthread_mutex_t hs_tracker_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- real backends ----------------------------------------------------------- */
static hs_os_wp_t hs_wp = {-1, -1};
static int hs_sd_pagemap = -1;
static uint64_t hs_sd_buf[HS_SOFTDIRTY_BUF];

static int hs_wp_arm(void *ctx, uintptr_t start, size_t len)
{
    (void)ctx;
    return hs_os_wp_arm(&hs_wp, start, len);
}

static int hs_wp_scan(void *ctx, uintptr_t start, size_t len, hs_os_range_fn written, void *arg)
{
    (void)ctx;
    return hs_os_wp_scan(&hs_wp, start, len, written, arg);
}

static int hs_nothing(void *ctx)
{
    (void)ctx;
    return 0;
}

static int hs_sd_arm(void *ctx, uintptr_t start, size_t len)
{
    (void)ctx, (void)start, (void)len;
    return 0;
}

static int hs_sd_scan(void *ctx, uintptr_t start, size_t len, hs_os_range_fn written, void *arg)
{
    (void)ctx;
    return hs_os_softdirty_scan(hs_sd_pagemap, start, len, hs_sd_buf, HS_SOFTDIRTY_BUF, written, arg);
}

static int hs_sd_end(void *ctx)
{
    (void)ctx;
    return hs_os_softdirty_clear();
}

static uint64_t hs_real_now(void *ctx)
{
    (void)ctx;
    return hs_os_now_ns();
}

static int hs_backend_open(hs_track_backend_t b)
{
    if (b == HS_TRACK_PAGEMAP_SCAN)
        return hs_os_wp_open(&hs_wp);
    if (b == HS_TRACK_SOFTDIRTY) {
        hs_sd_pagemap = hs_os_softdirty_open();
        if (hs_sd_pagemap < 0)
            return hs_sd_pagemap;
        return hs_os_softdirty_clear();
    }
    return 0;
}

const char *hs_track_backend_name(hs_track_backend_t b)
{
    switch (b) {
    case HS_TRACK_PAGEMAP_SCAN: return "pagemap_scan";
    case HS_TRACK_SOFTDIRTY: return "softdirty";
    case HS_TRACK_AUTO: return "auto";
    default: return "off";
    }
}

hs_track_backend_t hs_tracker_choose(hs_track_backend_t requested, char *why, size_t cap)
{
    char detail[200];
    if (requested == HS_TRACK_OFF) {
        snprintf(why, cap, "tracking off");
        return HS_TRACK_OFF;
    }
    if (requested == HS_TRACK_AUTO || requested == HS_TRACK_PAGEMAP_SCAN) {
        if (hs_os_probe_pagemap_scan(detail, sizeof detail) == HS_OS_PROBE_WORKS) {
            snprintf(why, cap, "PAGEMAP_SCAN works: %s", detail);
            return HS_TRACK_PAGEMAP_SCAN;
        }
        if (requested == HS_TRACK_PAGEMAP_SCAN) {
            snprintf(why, cap, "PAGEMAP_SCAN does not work here (%s)", detail);
            return HS_TRACK_OFF;
        }
    }
    if (hs_os_probe_softdirty(detail, sizeof detail) == HS_OS_PROBE_WORKS) {
        snprintf(why, cap, "soft-dirty works: %s", detail);
        return HS_TRACK_SOFTDIRTY;
    }
    snprintf(why, cap, "%s does not work here (%s)",
             requested == HS_TRACK_SOFTDIRTY ? "soft-dirty" : "neither PAGEMAP_SCAN nor soft-dirty", detail);
    return HS_TRACK_OFF;
}

int hs_tracker_init(hs_track_backend_t backend, const hs_heat_config_t *heat, const hs_tracker_ops_t *ops)
{
    hs_heat_cfg = *heat;
    if (!hs_snapshot) {
        void *mem;
        int err = hs_os_map_plain(HS_REGISTRY_CAPACITY * sizeof(hs_region_t), &mem);
        if (err)
            return err;
        hs_snapshot = mem;
    }
    if (ops) {
        hs_ops = *ops;
    } else {
        int err = hs_backend_open(backend);
        if (err)
            return err;
        if (backend == HS_TRACK_PAGEMAP_SCAN)
            hs_ops = (hs_tracker_ops_t){hs_wp_arm, hs_wp_scan, hs_nothing, hs_real_now, NULL, false};
        else
            hs_ops = (hs_tracker_ops_t){hs_sd_arm, hs_sd_scan, hs_sd_end, hs_real_now, NULL, true};
    }
    hs_backend = backend;
    return 0;
}

hs_track_backend_t hs_tracker_backend(void)
{
    return hs_backend;
}

static unsigned hs_unit_shift(uint8_t kind)
{
    return kind == HS_OS_KIND_BASE ? 12 : 21;
}

/* THP regions only where the backend keeps them whole (hs_tracker_ops_t). */
static bool hs_may_arm(uint8_t kind)
{
    return kind != HS_OS_KIND_THP || hs_ops.arm_thp;
}

static const hs_tracked_t *hs_find_same(const hs_track_table_t *t, const hs_region_t *r)
{
    /* Both lists are in address order, but a binary search keeps this simple. */
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->regions[mid].heat.start < r->start)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->count && t->regions[lo].heat.start == r->start && t->regions[lo].heat.len == r->len &&
        t->regions[lo].kind == r->kind)
        return &t->regions[lo];
    return NULL;
}

/* Follow the registry: a new table when regions appeared, vanished or were
 * cut; heat and arming carried over for regions that did not change. */
static void hs_tracker_follow(void)
{
    size_t n = hs_registry_snapshot(hs_snapshot, HS_REGISTRY_CAPACITY);
    bool same = n == hs_table.count;
    for (size_t i = 0; same && i < n; i++)
        same = hs_find_same(&hs_table, &hs_snapshot[i]) != NULL;
    if (same)
        return;
    size_t bytes = n * (sizeof(hs_tracked_t) + sizeof(hs_heat_region_t *));
    for (size_t i = 0; i < n; i++)
        bytes += (hs_heat_metadata_bytes(hs_snapshot[i].len, hs_unit_shift(hs_snapshot[i].kind)) + 7) & ~(size_t)7;
    void *mem = NULL;
    if (n && hs_os_map_plain(bytes, &mem) != 0) {
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        return;
    }
    hs_track_table_t next = {mem, NULL, n, mem, n ? bytes : 0};
    next.heat = (const hs_heat_region_t **)((unsigned char *)mem + n * sizeof(hs_tracked_t));
    unsigned char *cursor = (unsigned char *)mem + n * (sizeof(hs_tracked_t) + sizeof(hs_heat_region_t *));
    uint64_t tracked = 0, skipped_thp = 0;
    for (size_t i = 0; i < n; i++) {
        const hs_region_t *r = &hs_snapshot[i];
        hs_tracked_t *t = &next.regions[i];
        unsigned shift = hs_unit_shift(r->kind);
        hs_heat_region_init(&t->heat, r->start, r->len, shift, cursor);
        next.heat[i] = &t->heat;
        cursor += (hs_heat_metadata_bytes(r->len, shift) + 7) & ~(size_t)7;
        t->kind = r->kind;
        const hs_tracked_t *old = hs_find_same(&hs_table, r);
        if (old) {
            memcpy(t->heat.heat, old->heat.heat, t->heat.nunits);
            memcpy(t->heat.node, old->heat.node, t->heat.nunits);
            t->armed = old->armed;
        } else if (!hs_may_arm(r->kind)) {
            t->armed = false;
        } else {
            int err = hs_ops.arm(hs_ops.ctx, r->start, r->len);
            t->armed = err == 0;
            if (err) {
                hs_count(HS_CTR_TRACK_ERRORS, 1);
                hs_log(HS_LOG_DEBUG, "cannot watch %zu bytes at %#lx: errno %d", r->len, (unsigned long)r->start,
                       -err);
            }
        }
        if (t->armed)
            tracked += r->len;
        else if (!hs_may_arm(r->kind))
            skipped_thp += r->len;
    }
    if (skipped_thp)
        hs_warn_once(hs_warned_thp_split,
                     "tracking: %s would split THPs on write (kernel behaviour of userfaultfd async write-protect); "
                     "THP regions are not watched: use HUGESHIM_TRACK=softdirty where the kernel has it, or "
                     "HUGESHIM_BACKING=hugetlb", hs_track_backend_name(hs_backend));
    hs_counter_set(HS_CTR_TRACK_UNWATCHED_THP_BYTES, skipped_thp);
    if (hs_table.mem)
        hs_os_munmap(hs_table.mem, hs_table.mem_len);
    hs_table = next;
    hs_counter_set(HS_CTR_TRACK_TRACKED_BYTES, tracked);
    hs_counter_set(HS_CTR_TRACK_REGIONS, n);
    hs_counter_set(HS_CTR_TRACK_METADATA_BYTES, next.mem_len);
}

static void hs_mark(void *arg, uintptr_t start, uintptr_t end)
{
    hs_heat_mark_written(arg, start, end);
}

size_t hs_tracker_epoch(void)
{
    if (hs_backend == HS_TRACK_OFF)
        return 0;
    pthread_mutex_lock(&hs_tracker_lock);
    uint64_t t0 = hs_ops.now_ns(hs_ops.ctx), cpu0 = hs_os_thread_cpu_ns();
    hs_tracker_follow();
    size_t hot = 0;
    for (size_t i = 0; i < hs_table.count; i++) {
        hs_tracked_t *t = &hs_table.regions[i];
        if (!t->armed)
            continue;
        int err = hs_ops.scan(hs_ops.ctx, t->heat.start, t->heat.len, hs_mark, &t->heat);
        if (err) {
            /* Unmapped since the snapshot (the registry will say so next
             * epoch) or refused: count it, keep the heat as it was. */
            hs_count(HS_CTR_TRACK_ERRORS, 1);
            continue;
        }
    }
    if (hs_ops.end_epoch(hs_ops.ctx) != 0)
        hs_count(HS_CTR_TRACK_ERRORS, 1);
    for (size_t i = 0; i < hs_table.count; i++)
        if (hs_table.regions[i].armed)
            hot += hs_heat_end_epoch(&hs_table.regions[i].heat, &hs_heat_cfg);
    hs_counter_set(HS_CTR_TRACK_HOT_BYTES, hot);
    hs_count(HS_CTR_TRACK_EPOCHS, 1);
    hs_count(HS_CTR_TRACK_SCAN_NS, hs_ops.now_ns(hs_ops.ctx) - t0);
    hs_count(HS_CTR_TRACK_SCAN_CPU_NS, hs_os_thread_cpu_ns() - cpu0);
    pthread_mutex_unlock(&hs_tracker_lock);
    return hot;
}

typedef struct hs_pairs {
    uintptr_t *out;
    size_t max, n;
} hs_pairs_t;

static void hs_collect(void *arg, uintptr_t start, uintptr_t end)
{
    hs_pairs_t *p = arg;
    /* Join runs that continue across adjacent regions. */
    if (p->n && p->n <= p->max && p->out[2 * (p->n - 1) + 1] == start) {
        p->out[2 * (p->n - 1) + 1] = end;
        return;
    }
    if (p->n < p->max) {
        p->out[2 * p->n] = start;
        p->out[2 * p->n + 1] = end;
    }
    p->n++;
}

size_t hs_tracker_hot_ranges(uintptr_t *pairs, size_t max)
{
    hs_pairs_t p = {pairs, max, 0};
    pthread_mutex_lock(&hs_tracker_lock);
    for (size_t i = 0; i < hs_table.count; i++)
        if (hs_table.regions[i].armed)
            hs_heat_hot_ranges(&hs_table.regions[i].heat, &hs_heat_cfg, hs_collect, &p);
    pthread_mutex_unlock(&hs_tracker_lock);
    return p.n;
}

size_t hs_tracker_top(size_t n, uintptr_t *out)
{
    pthread_mutex_lock(&hs_tracker_lock);
    size_t got = hs_heat_top(hs_table.heat, hs_table.count, n, out);
    pthread_mutex_unlock(&hs_tracker_lock);
    return got;
}

void hs_tracker_prefork(void)
{
    pthread_mutex_lock(&hs_tracker_lock);
}

void hs_tracker_postfork_parent(void)
{
    pthread_mutex_unlock(&hs_tracker_lock);
}

void hs_tracker_postfork_child(void)
{
    pthread_mutex_init(&hs_tracker_lock, NULL);
}

void hs_tracker_reopen_after_fork(void)
{
    /* /proc/self/pagemap was opened as the parent's pid. */
    if (hs_backend == HS_TRACK_SOFTDIRTY && hs_ops.scan == hs_sd_scan) {
        hs_os_close(hs_sd_pagemap);
        hs_sd_pagemap = hs_os_softdirty_open();
        return;
    }
    if (hs_backend != HS_TRACK_PAGEMAP_SCAN || hs_ops.arm != hs_wp_arm)
        return;
    /* The child's mappings lost the parent's write-protect registration. */
    hs_os_wp_close(&hs_wp);
    if (hs_os_wp_open(&hs_wp) != 0) {
        hs_backend = HS_TRACK_OFF;
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        return;
    }
    for (size_t i = 0; i < hs_table.count; i++) {
        hs_tracked_t *t = &hs_table.regions[i];
        if (hs_may_arm(t->kind))
            t->armed = hs_os_wp_arm(&hs_wp, t->heat.start, t->heat.len) == 0;
    }
}

void hs_tracker_reset_for_tests(void)
{
    pthread_mutex_lock(&hs_tracker_lock);
    if (hs_table.mem)
        hs_os_munmap(hs_table.mem, hs_table.mem_len);
    memset(&hs_table, 0, sizeof hs_table);
    pthread_mutex_unlock(&hs_tracker_lock);
}
