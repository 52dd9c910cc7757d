/* tracker.c: follow the registry, learn what was written and by whom, keep
 * the heat, hand hot units to placement, re-arm within the budget. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../allocator/hs_registry.h"
#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "hs_migrate.h"
#include "hs_sites.h"
#include "hs_trace.h"
#include "hs_tracker.h"
#include "hs_where.h"
#include "hs_wpsync.h"

#define HS_SOFTDIRTY_BUF 8192 /* pagemap entries per read: 32 MiB of address space */
#define HS_DRAIN_BUF 4096
#define HS_UNITS_MAX (1u << 18) /* hot units handed to placement per epoch */

typedef enum hs_by { HS_BY_NONE = 0, HS_BY_ASYNC, HS_BY_SYNC } hs_by_t;

typedef struct hs_tracked {
    hs_heat_region_t heat;
    uint8_t kind;
    uint8_t by; /* hs_by_t; NONE: not watched */
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

static bool hs_active;
static hs_track_choice_t hs_choice = {HS_TRACK_OFF, HS_TRACK_OFF, HS_TRACK_OFF, HS_TRACK_OFF, "tracking off"};
static hs_heat_config_t hs_heat_cfg = {50, 50};
static unsigned hs_budget = 2048;
static hs_tracker_ops_t hs_ops;
static bool hs_real;     /* the real backends, opened here */
static bool hs_opened;   /* ... and opened already (at the first epoch) */
static bool hs_placement;
static hs_track_table_t hs_table;
static hs_region_t *hs_snapshot; /* scratch for the registry snapshot */
static hs_migrate_unit_t *hs_units; /* scratch for placement */
static uint64_t hs_epoch;
/* Where the rotation over cold units goes on, per budgeted backend (0:
 * uffd_sync, 1: PAGEMAP_SCAN), and the epoch its current sweep began. */
static uintptr_t hs_cursor[2];
static uint64_t hs_sweep_started[2];
static uint64_t hs_process_mem[8];
static hs_heat_region_t hs_process; /* one unit: the process's own decayed vote */
static pthread_mutex_t hs_tracker_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the real async backends ----------------------------------------------------- */
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

static int hs_real_busiest(void *ctx)
{
    (void)ctx;
    return hs_where_busiest_node();
}

static int hs_async_open(hs_track_backend_t b)
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

static void hs_async_close(hs_track_backend_t b)
{
    if (b == HS_TRACK_PAGEMAP_SCAN)
        hs_os_wp_close(&hs_wp);
    if (b == HS_TRACK_SOFTDIRTY && hs_sd_pagemap >= 0) {
        hs_os_close(hs_sd_pagemap);
        hs_sd_pagemap = -1;
    }
}

/* ---- choosing ---------------------------------------------------------------- */

static const char *const hs_backend_names[] = {"auto", "pagemap_scan", "softdirty", "uffd_sync", "off"};

const char *hs_track_backend_name(hs_track_backend_t b)
{
    return (unsigned)b <= HS_TRACK_OFF ? hs_backend_names[b] : "off";
}

hs_track_backend_t hs_track_backend_from_name(const char *name)
{
    for (int b = 0; b <= HS_TRACK_OFF; b++)
        if (!strcmp(name, hs_backend_names[b]))
            return (hs_track_backend_t)b;
    return HS_TRACK_OFF;
}

void hs_tracker_choose(hs_track_backend_t requested, hs_track_choice_t *out)
{
    char ps_why[200] = "", sd_why[200] = "", ws_why[300] = "";
    bool ps = false, sd = false, ws = false;
    *out = (hs_track_choice_t){HS_TRACK_OFF, HS_TRACK_OFF, HS_TRACK_OFF, HS_TRACK_OFF, ""};
    if (requested == HS_TRACK_OFF) {
        snprintf(out->why, sizeof out->why, "tracking off");
        return;
    }
    if (requested == HS_TRACK_AUTO || requested == HS_TRACK_UFFD_SYNC)
        ws = hs_os_probe_wpsync(ws_why, sizeof ws_why) == HS_OS_PROBE_WORKS;
    if (requested == HS_TRACK_AUTO || requested == HS_TRACK_PAGEMAP_SCAN)
        ps = hs_os_probe_pagemap_scan(ps_why, sizeof ps_why) == HS_OS_PROBE_WORKS;
    if ((requested == HS_TRACK_AUTO && !ws) || requested == HS_TRACK_SOFTDIRTY)
        sd = hs_os_probe_softdirty(sd_why, sizeof sd_why) == HS_OS_PROBE_WORKS;
    switch (requested) {
    case HS_TRACK_AUTO:
        if (ws) {
            out->thp = HS_TRACK_UFFD_SYNC;
            out->async = ps ? HS_TRACK_PAGEMAP_SCAN : HS_TRACK_OFF;
        } else if (sd) {
            /* One async backend at a time: soft-dirty watches every kind. */
            out->thp = out->async = HS_TRACK_SOFTDIRTY;
        } else {
            out->async = ps ? HS_TRACK_PAGEMAP_SCAN : HS_TRACK_OFF;
        }
        break;
    case HS_TRACK_PAGEMAP_SCAN: out->async = ps ? HS_TRACK_PAGEMAP_SCAN : HS_TRACK_OFF; break;
    case HS_TRACK_SOFTDIRTY: out->thp = out->async = sd ? HS_TRACK_SOFTDIRTY : HS_TRACK_OFF; break;
    case HS_TRACK_UFFD_SYNC: out->thp = ws ? HS_TRACK_UFFD_SYNC : HS_TRACK_OFF; break;
    default: break;
    }
    out->hugetlb = out->base = out->async;
    snprintf(out->why, sizeof out->why, "THP: %s, hugetlb and base pages: %s%s%s%s%s%s%s",
             hs_track_backend_name(out->thp), hs_track_backend_name(out->async), ws_why[0] ? "; uffd_sync: " : "",
             ws_why, ps_why[0] ? "; pagemap_scan: " : "", ps_why, sd_why[0] ? "; soft-dirty: " : "", sd_why);
}

/* ---- starting ---------------------------------------------------------------- */

int hs_tracker_init(const hs_track_choice_t *choice, const hs_heat_config_t *heat, unsigned budget,
                    bool placement, const hs_tracker_ops_t *ops)
{
    hs_heat_cfg = *heat;
    hs_budget = budget ? budget : 1;
    hs_choice = *choice;
    if (!hs_snapshot) {
        void *mem, *units;
        int err = hs_os_map_plain(HS_REGISTRY_CAPACITY * sizeof(hs_region_t), &mem);
        if (!err)
            err = hs_os_map_plain(HS_UNITS_MAX * sizeof(hs_migrate_unit_t), &units);
        if (err)
            return err;
        hs_snapshot = mem;
        hs_units = units;
    }
    hs_heat_region_init(&hs_process, 0, HS_OS_HUGE_2M, HS_HEAT_ATTR_SHIFT, hs_process_mem);
    hs_placement = placement;
    if (ops) {
        hs_ops = *ops;
        hs_real = false;
        hs_ops.placement = placement;
        hs_active = hs_ops.arm || hs_ops.sync;
        return hs_active ? 0 : -ENOSYS;
    }
    /* The real backends open at the first epoch, on the epoch thread: a
     * process that ends (or lists its descriptors, as python's subprocess
     * tests do in the programs they start) within the first interval never
     * holds a userfaultfd, a pagemap or the fault thread. */
    hs_real = true;
    hs_opened = false;
    hs_active = choice->async != HS_TRACK_OFF || choice->thp == HS_TRACK_UFFD_SYNC;
    return hs_active ? 0 : -ENOSYS;
}

/* The real backends, at the first epoch, on the epoch thread and outside
 * the tracker lock: starting the fault thread allocates (pthread_create's
 * TLS), and a fork on another thread takes jemalloc's locks before ours, so
 * holding ours here would deadlock against it (measured: stress-ng's fork
 * stressor).  False when none opened. */
static bool hs_open_real(void)
{
    hs_ops = (hs_tracker_ops_t){NULL, NULL, hs_nothing, hs_real_now, NULL, false, NULL, hs_real_busiest, false, false};
    int err = hs_async_open(hs_choice.async);
    if (err) {
        hs_log(HS_LOG_INFO, "tracking: %s could not open (errno %d)", hs_track_backend_name(hs_choice.async), -err);
        hs_count(HS_CTR_TRACK_ERRORS, 1);
    } else if (hs_choice.async == HS_TRACK_PAGEMAP_SCAN) {
        hs_ops.arm = hs_wp_arm;
        hs_ops.scan = hs_wp_scan;
        hs_ops.scan_budgeted = true;
    } else if (hs_choice.async == HS_TRACK_SOFTDIRTY) {
        hs_ops.arm = hs_sd_arm;
        hs_ops.scan = hs_sd_scan;
        hs_ops.end_epoch = hs_sd_end;
        hs_ops.arm_thp = true;
    }
    if (hs_choice.thp == HS_TRACK_UFFD_SYNC) {
        char why[300];
        err = hs_wpsync_start(why, sizeof why);
        if (err) {
            hs_log(HS_LOG_INFO, "uffd_sync could not start (%s): THP regions unwatched", why);
            hs_choice.thp = HS_TRACK_OFF;
        } else {
            hs_ops.sync = hs_wpsync_ops();
        }
    }
    hs_ops.placement = hs_placement;
    /* Last: a child forked meanwhile opens its own at its first epoch. */
    __atomic_store_n(&hs_opened, true, __ATOMIC_RELEASE);
    return hs_ops.arm || hs_ops.sync;
}

bool hs_tracker_active(void)
{
    return hs_active;
}

const hs_track_choice_t *hs_tracker_choice(void)
{
    return &hs_choice;
}

void hs_tracker_shutdown(void)
{
    pthread_mutex_lock(&hs_tracker_lock);
    hs_active = false;
    if (hs_real && hs_opened) {
        hs_wpsync_stop();
        hs_async_close(hs_choice.async);
    }
    pthread_mutex_unlock(&hs_tracker_lock);
}

static unsigned hs_unit_shift(uint8_t kind)
{
    return kind == HS_OS_KIND_BASE ? 12 : 21;
}

/* Which backend watches a region of this kind. */
static hs_by_t hs_backend_for(const hs_region_t *r)
{
    if (r->kind == HS_OS_KIND_THP) {
        /* uffd_sync arms whole aligned 2 MiB units: the region must start on one. */
        if (hs_ops.sync)
            return (r->start & (HS_OS_HUGE_2M - 1)) == 0 && r->len >= HS_OS_HUGE_2M ? HS_BY_SYNC : HS_BY_NONE;
        return hs_ops.arm && hs_ops.arm_thp ? HS_BY_ASYNC : HS_BY_NONE;
    }
    return hs_ops.arm ? HS_BY_ASYNC : HS_BY_NONE;
}

/* Units a budgeted backend can watch: whole 2 MiB units for uffd_sync (a
 * short tail is never armed), every unit for PAGEMAP_SCAN. */
static size_t hs_watch_units(const hs_tracked_t *t)
{
    return t->by == HS_BY_SYNC ? t->heat.len >> HS_OS_HUGE_2M_SHIFT : t->heat.nunits;
}

/* Budget class of a region: 0 uffd_sync, 1 budgeted scan, -1 not budgeted. */
static int hs_budget_class(const hs_tracked_t *t)
{
    if (t->by == HS_BY_SYNC)
        return 0;
    return t->by == HS_BY_ASYNC && hs_ops.scan_budgeted ? 1 : -1;
}

static hs_by_t hs_arm(const hs_region_t *r)
{
    hs_by_t by = hs_backend_for(r);
    int err = 0;
    if (by == HS_BY_ASYNC)
        err = hs_ops.arm(hs_ops.ctx, r->start, r->len);
    else if (by == HS_BY_SYNC)
        err = hs_ops.sync->watch(hs_ops.sync->ctx, r->start, r->len & ~(size_t)(HS_OS_HUGE_2M - 1));
    if (err) {
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        hs_log(HS_LOG_DEBUG, "cannot watch %zu bytes at %#lx: errno %d", r->len, (unsigned long)r->start, -err);
        return HS_BY_NONE;
    }
    return by;
}

static const hs_tracked_t *hs_find_same(const hs_track_table_t *t, const hs_region_t *r)
{
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

/* The tracked region holding addr. */
static hs_tracked_t *hs_find_addr(uintptr_t addr)
{
    size_t lo = 0, hi = hs_table.count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const hs_heat_region_t *h = &hs_table.regions[mid].heat;
        if (h->start + h->len <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < hs_table.count && hs_table.regions[lo].heat.start <= addr)
        return &hs_table.regions[lo];
    return NULL;
}

/* Follow the registry: a new table when regions appeared, vanished or were
 * cut; heat, attribution and arming carried over for unchanged regions. */
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
    uint64_t tracked = 0, unwatched_thp = 0;
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
            hs_heat_copy(&t->heat, &old->heat);
            t->by = old->by;
        } else {
            t->by = (uint8_t)hs_arm(r);
            /* uffd_sync protects nothing until the next selection.  A new
             * PAGEMAP_SCAN region is scanned whole once: armed a moment ago,
             * it re-protects nothing, so it costs no fault. */
            if (t->by == HS_BY_SYNC)
                hs_heat_observe_all(&t->heat, false);
        }
        if (t->by != HS_BY_NONE)
            tracked += r->len;
        else if (r->kind == HS_OS_KIND_THP)
            unwatched_thp += r->len;
    }
    if (unwatched_thp && hs_choice.async == HS_TRACK_PAGEMAP_SCAN && hs_choice.thp == HS_TRACK_OFF)
        hs_log(HS_LOG_INFO, "tracking: THP regions are not watched: pagemap_scan would split their huge pages "
                            "(userfaultfd async write-protect); uffd_sync or softdirty watch them where they work");
    hs_counter_set(HS_CTR_TRACK_UNWATCHED_THP_BYTES, unwatched_thp);
    if (hs_table.mem)
        hs_os_munmap(hs_table.mem, hs_table.mem_len);
    hs_table = next;
    hs_counter_set(HS_CTR_TRACK_TRACKED_BYTES, tracked);
    hs_counter_set(HS_CTR_TRACK_REGIONS, n);
    hs_counter_set(HS_CTR_TRACK_METADATA_BYTES, next.mem_len);
}

typedef struct hs_mark_arg {
    hs_heat_region_t *heat;
    int node;
} hs_mark_arg_t;

static void hs_mark(void *arg, uintptr_t start, uintptr_t end)
{
    hs_mark_arg_t *m = arg;
    hs_heat_mark_written(m->heat, start, end, m->node);
}

static void hs_drain_sync(void)
{
    static hs_os_wp_fault_t buf[HS_DRAIN_BUF];
    size_t n;
    while ((n = hs_ops.sync->drain(hs_ops.sync->ctx, buf, HS_DRAIN_BUF)) > 0) {
        for (size_t i = 0; i < n; i++) {
            hs_tracked_t *t = hs_find_addr(buf[i].address);
            if (!t || t->by != HS_BY_SYNC)
                continue;
            int node = hs_ops.sync->node_of_thread(hs_ops.sync->ctx, buf[i].tid, hs_epoch);
            hs_heat_mark_written(&t->heat, buf[i].address, buf[i].address + 1, node);
        }
        if (n < HS_DRAIN_BUF)
            break;
    }
}

/* Hand the hot units to placement, sites and the trace. */
static void hs_place(void)
{
    size_t n = 0, shared = 0, hot = 0, unknown = 0;
    int process = hs_heat_accessor(&hs_process, 0), process_writer = hs_heat_last_writer(&hs_process, 0);
    for (size_t i = 0; i < hs_table.count; i++) {
        hs_tracked_t *t = &hs_table.regions[i];
        if (t->by == HS_BY_NONE)
            continue;
        for (size_t u = 0; u < t->heat.nunits; u++) {
            if (!hs_heat_is_hot(&t->heat, u, &hs_heat_cfg))
                continue;
            int wanted = t->heat.node ? hs_heat_accessor(&t->heat, u) : process;
            int writer = t->heat.node ? hs_heat_last_writer(&t->heat, u) : process_writer;
            hot++;
            shared += wanted == -2;
            unknown += wanted == -1;
            if (n >= HS_UNITS_MAX)
                continue;
            hs_units[n++] = (hs_migrate_unit_t){t->heat.start + (u << t->heat.unit_shift),
                                                (uint32_t)hs_heat_unit_bytes(&t->heat, u), t->kind,
                                                (int8_t)(wanted < 0 ? -1 : wanted), (int8_t)writer, -1, 0, 0};
        }
    }
    hs_counter_set(HS_CTR_TRACK_SHARED_UNITS, shared);
    hs_log(HS_LOG_DEBUG, "epoch %llu: %zu hot units: %zu shared, %zu not attributed",
           (unsigned long long)hs_epoch, hot, shared, unknown);
    /* Every hot unit, in address order: placement locates them (and moves
     * those with an accessor), then sites and the trace see where they are. */
    if (hs_ops.placement)
        hs_migrate_epoch(hs_epoch, hs_units, n);
    else if (hs_sites_enabled() || hs_trace_on())
        hs_migrate_locate(hs_units, n);
    hs_sites_epoch(hs_units, n);
    if (hs_trace_on()) {
        static hs_trace_region_t regions[HS_REGISTRY_CAPACITY];
        size_t nr = 0;
        for (size_t i = 0; i < hs_table.count && nr < HS_REGISTRY_CAPACITY; i++) {
            const hs_tracked_t *t = &hs_table.regions[i];
            regions[nr++] = (hs_trace_region_t){t->heat.start, t->heat.len, t->heat.unit_shift, t->kind,
                                                t->by != HS_BY_NONE ? t->heat.heat : NULL};
        }
        hs_trace_write_epoch(hs_epoch, regions, nr, hs_units, n);
    }
}

/* Call fn for each run of observed units of a region (in whole units). */
static void hs_each_observed_run(hs_tracked_t *t, void (*fn)(hs_tracked_t *, uintptr_t, size_t, void *), void *arg)
{
    size_t units = hs_watch_units(t), u = 0;
    unsigned shift = t->heat.unit_shift;
    while (u < units) {
        if (!hs_heat_observed(&t->heat, u)) {
            u++;
            continue;
        }
        size_t first = u;
        while (u < units && hs_heat_observed(&t->heat, u))
            u++;
        uintptr_t start = t->heat.start + (first << shift), end = t->heat.start + (u << shift);
        if (end > t->heat.start + t->heat.len)
            end = t->heat.start + t->heat.len;
        fn(t, start, end - start, arg);
    }
}

static void hs_protect_run(hs_tracked_t *t, uintptr_t start, size_t len, void *arg)
{
    (void)arg;
    if (hs_ops.sync->protect(hs_ops.sync->ctx, start, len) != 0) {
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        for (uintptr_t a = start; a < start + len; a += (uintptr_t)1 << t->heat.unit_shift)
            hs_heat_observe(&t->heat, (a - t->heat.start) >> t->heat.unit_shift, false);
    }
}

static void hs_scan_run(hs_tracked_t *t, uintptr_t start, size_t len, void *arg)
{
    /* Unmapped since the snapshot (the registry will say so next epoch) or
     * refused: count it, keep the heat as it was. */
    if (hs_ops.scan(hs_ops.ctx, start, len, hs_mark, arg) != 0)
        hs_count(HS_CTR_TRACK_ERRORS, 1);
    (void)t;
}

/* The next region of budget class c at or after index i, or hs_table.count. */
static size_t hs_next_in(size_t i, int c)
{
    while (i < hs_table.count && (hs_budget_class(&hs_table.regions[i]) != c || !hs_watch_units(&hs_table.regions[i])))
        i++;
    return i;
}

/* Choose what a budgeted backend watches next epoch: hot units (up to three
 * quarters of the budget), then others in address order from where the
 * rotation stopped, up to the budget: the rotation always moves, so cold
 * units are sampled and hot ones beyond the budget get their turn.
 * Returns the units chosen. */
static size_t hs_select(int c)
{
    size_t budget = hs_budget, armed = 0, total = 0, hot_budget = budget - budget / 4;
    for (size_t i = hs_next_in(0, c); i < hs_table.count; i = hs_next_in(i + 1, c)) {
        hs_tracked_t *t = &hs_table.regions[i];
        hs_heat_observe_all(&t->heat, false);
        total += hs_watch_units(t);
        for (size_t u = 0; u < hs_watch_units(t) && armed < hot_budget; u++)
            if (hs_heat_is_hot(&t->heat, u, &hs_heat_cfg)) {
                hs_heat_observe(&t->heat, u, true);
                armed++;
            }
    }
    /* The unit the rotation goes on from: the first at or after the cursor. */
    size_t i = hs_next_in(0, c), u = 0;
    while (i < hs_table.count &&
           hs_table.regions[i].heat.start + (hs_watch_units(&hs_table.regions[i]) << hs_table.regions[i].heat.unit_shift) <=
               hs_cursor[c])
        i = hs_next_in(i + 1, c);
    if (i < hs_table.count && hs_cursor[c] > hs_table.regions[i].heat.start)
        u = (hs_cursor[c] - hs_table.regions[i].heat.start) >> hs_table.regions[i].heat.unit_shift;
    if (i >= hs_table.count)
        i = hs_next_in(0, c), u = 0;
    for (size_t step = 0; step < total && armed < budget && i < hs_table.count; step++) {
        hs_tracked_t *t = &hs_table.regions[i];
        if (!hs_heat_observed(&t->heat, u)) {
            hs_heat_observe(&t->heat, u, true);
            armed++;
        }
        hs_cursor[c] = t->heat.start + ((u + 1) << t->heat.unit_shift);
        if (++u >= hs_watch_units(t)) {
            u = 0;
            i = hs_next_in(i + 1, c);
            if (i >= hs_table.count) {
                /* Every unit had its turn: a sweep is complete. */
                i = hs_next_in(0, c);
                hs_cursor[c] = 0;
                hs_counter_set(HS_CTR_TRACK_SWEEP_EPOCHS, hs_epoch - hs_sweep_started[c] + 1);
                hs_sweep_started[c] = hs_epoch + 1;
            }
        }
    }
    return armed;
}

/* uffd_sync: protect what was chosen; PAGEMAP_SCAN: the next scan covers
 * exactly what was chosen (it re-protects what it reports). */
static void hs_rearm(void)
{
    size_t armed = 0;
    if (hs_ops.sync) {
        armed += hs_select(0);
        for (size_t k = hs_next_in(0, 0); k < hs_table.count; k = hs_next_in(k + 1, 0))
            hs_each_observed_run(&hs_table.regions[k], hs_protect_run, NULL);
    }
    if (hs_ops.scan_budgeted)
        armed += hs_select(1);
    hs_counter_set(HS_CTR_TRACK_REARMED_UNITS, armed);
}

size_t hs_tracker_epoch(void)
{
    if (!hs_active)
        return 0;
    if (hs_real && !__atomic_load_n(&hs_opened, __ATOMIC_ACQUIRE) && !hs_open_real()) {
        hs_active = false;
        return 0;
    }
    pthread_mutex_lock(&hs_tracker_lock);
    uint64_t t0 = hs_ops.now_ns(hs_ops.ctx), cpu0 = hs_os_thread_cpu_ns();
    hs_epoch++;
    hs_tracker_follow();
    int busiest = hs_ops.busiest_node ? hs_ops.busiest_node(hs_ops.ctx) : -1;
    for (size_t i = 0; i < hs_table.count; i++) {
        hs_tracked_t *t = &hs_table.regions[i];
        if (t->by != HS_BY_ASYNC)
            continue;
        hs_mark_arg_t m = {&t->heat, busiest};
        if (hs_ops.scan_budgeted)
            hs_each_observed_run(t, hs_scan_run, &m);
        else
            hs_scan_run(t, t->heat.start, t->heat.len, &m);
    }
    if (hs_ops.end_epoch && hs_ops.end_epoch(hs_ops.ctx) != 0)
        hs_count(HS_CTR_TRACK_ERRORS, 1);
    if (hs_ops.sync)
        hs_drain_sync();
    size_t hot = 0;
    for (size_t i = 0; i < hs_table.count; i++)
        if (hs_table.regions[i].by != HS_BY_NONE)
            hot += hs_heat_end_epoch(&hs_table.regions[i].heat, &hs_heat_cfg);
    if (busiest >= 0)
        hs_heat_mark_written(&hs_process, 0, 1, busiest);
    hs_heat_end_epoch(&hs_process, &hs_heat_cfg);
    hs_place();
    hs_rearm();
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
        if (hs_table.regions[i].by != HS_BY_NONE)
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
    if (!hs_active || !hs_real)
        return;
    hs_where_forget_after_fork();
    if (!__atomic_load_n(&hs_opened, __ATOMIC_ACQUIRE))
        return; /* the child's first epoch opens its own */
    /* The child's mappings lost the parent's write-protect registrations, and
     * its descriptors are the parent's (/proc/self/pagemap was opened as the
     * parent's pid): open everything again and re-arm every region. */
    hs_async_close(hs_choice.async);
    bool async_ok = hs_async_open(hs_choice.async) == 0;
    bool sync_ok = false;
    if (hs_ops.sync) {
        char why[300];
        hs_wpsync_forget_after_fork();
        sync_ok = hs_wpsync_start(why, sizeof why) == 0;
    }
    for (size_t i = 0; i < hs_table.count; i++) {
        hs_tracked_t *t = &hs_table.regions[i];
        hs_region_t r = {t->heat.start, t->heat.len, t->kind, 0, -1};
        if ((t->by == HS_BY_ASYNC && !async_ok) || (t->by == HS_BY_SYNC && !sync_ok)) {
            t->by = HS_BY_NONE;
            hs_count(HS_CTR_TRACK_ERRORS, 1);
        } else if (t->by != HS_BY_NONE) {
            t->by = (uint8_t)hs_arm(&r);
            if (hs_budget_class(t) >= 0)
                hs_heat_observe_all(&t->heat, false);
        }
    }
    if (hs_ops.sync && !sync_ok)
        hs_ops.sync = NULL;
}

void hs_tracker_reset_for_tests(void)
{
    pthread_mutex_lock(&hs_tracker_lock);
    if (hs_table.mem)
        hs_os_munmap(hs_table.mem, hs_table.mem_len);
    memset(&hs_table, 0, sizeof hs_table);
    hs_epoch = 0;
    memset(hs_cursor, 0, sizeof hs_cursor);
    memset(hs_sweep_started, 0, sizeof hs_sweep_started);
    pthread_mutex_unlock(&hs_tracker_lock);
}
