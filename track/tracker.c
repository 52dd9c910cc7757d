/* tracker.c: follow the registry, learn what was written and by whom, keep
 * the heat, publish the hot units, re-arm within the budget. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../allocator/hs_registry.h"
#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../common/hs_range.h"
#include "hs_tracker.h"

#define HS_DRAIN_BUF 4096
#define HS_UNITS_MAX (1u << 18) /* hot units published per epoch */
#define HS_BACKENDS_MAX 4       /* distinct backends in one choice */
#define HS_SUBSCRIBERS_MAX 8

typedef struct hs_tracked {
    hs_heat_region_t heat;
    uint8_t kind;
    uint8_t by; /* 1 + index in hs_backends; 0: not watched */
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
static hs_track_choice_t hs_choice = {.why = "tracking off"};
static hs_heat_config_t hs_heat_cfg = {50, 50, 0, 0};
static unsigned hs_budget = 2048;
static hs_tracker_env_t hs_env;
/* The distinct backends of the choice, and whether each opened. */
static const hs_track_backend_ops_t *hs_backends[HS_BACKENDS_MAX];
static bool hs_backend_ok[HS_BACKENDS_MAX];
static size_t hs_nbackends;
static bool hs_opened; /* the backends were opened (at the first epoch) */
static hs_tracker_subscriber_t hs_subscribers[HS_SUBSCRIBERS_MAX];
static size_t hs_nsubscribers;
static hs_track_table_t hs_table;
static hs_region_t *hs_snapshot; /* scratch for the registry snapshot */
static hs_hot_unit_t *hs_units;  /* scratch for the published units */
static uint64_t hs_epoch;
/* Epochs that end early (hs_tracker_tick): when the last one began its
 * work, when its window began (its work done). */
static uint64_t hs_epoch_t0, hs_window_began;
/* The last epoch ended early; this one will (a tick decided so). */
static bool hs_early_last, hs_early_now;
static size_t hs_fresh_before; /* units not hot touched, at the tick before (hs_end_early) */
/* Where the rotation over cold units goes on, per budgeted backend, and the
 * epoch its current sweep began. */
static uintptr_t hs_cursor[HS_BACKENDS_MAX];
static uint64_t hs_sweep_started[HS_BACKENDS_MAX];
static uint64_t hs_process_mem[8];
static hs_heat_region_t hs_process; /* one unit: the process's own decayed vote */
static pthread_mutex_t hs_tracker_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- choosing ---------------------------------------------------------------- */

static const hs_track_backend_ops_t *const hs_all_backends[] = HS_TRACK_BACKEND_LIST;
#define HS_ALL_BACKENDS (sizeof hs_all_backends / sizeof hs_all_backends[0])

const hs_track_backend_ops_t *hs_track_backend_by_name(const char *name)
{
    for (size_t i = 0; i < HS_ALL_BACKENDS; i++)
        if (!strcmp(name, hs_all_backends[i]->name))
            return hs_all_backends[i];
    return NULL;
}

const char *hs_track_choice_name(const hs_track_choice_t *choice, hs_os_kind_t kind)
{
    return (unsigned)kind < HS_OS_KIND_COUNT && choice->by_kind[kind] ? choice->by_kind[kind]->name : "off";
}

bool hs_track_choice_none(const hs_track_choice_t *choice)
{
    for (int k = 0; k < HS_OS_KIND_COUNT; k++)
        if (choice->by_kind[k])
            return false;
    return true;
}

/* Whether backend b may watch regions of this kind: PAGEMAP_SCAN's async
 * write-protect would split a THP; uffd_sync watches THP regions only. */
static bool hs_backend_may_watch(const hs_track_backend_ops_t *b, int kind)
{
    if (kind == HS_OS_KIND_THP)
        return b->keeps_thp_whole;
    return !b->whole_units;
}

/* What the probes of the backends said, each probed once and only when it
 * could be chosen. */
typedef struct hs_probes {
    char why[HS_ALL_BACKENDS][200];
    signed char works[HS_ALL_BACKENDS]; /* -1: not probed */
} hs_probes_t;

static bool hs_works(hs_probes_t *p, size_t i)
{
    if (p->works[i] < 0) {
        p->why[i][0] = '\0';
        p->works[i] = hs_all_backends[i]->probe(p->why[i], sizeof p->why[i]) == HS_OS_PROBE_WORKS;
    }
    return p->works[i] > 0;
}

void hs_tracker_choose(const hs_track_backend_ops_t *only, hs_track_choice_t *out)
{
    *out = (hs_track_choice_t){.why = ""};
    bool any = only == NULL;
    hs_probes_t probes;
    memset(probes.works, -1, sizeof probes.works);
    for (int k = 0; k < HS_OS_KIND_COUNT; k++)
        for (size_t i = 0; i < HS_ALL_BACKENDS && !out->by_kind[k]; i++) {
            const hs_track_backend_ops_t *b = hs_all_backends[i];
            if ((any ? !b->whole_process : b == only) && hs_backend_may_watch(b, k) && hs_works(&probes, i))
                out->by_kind[k] = b;
        }
    /* A whole-process backend arms everything at once: it comes in where no
     * other watches THP regions, and then watches every kind. */
    for (size_t i = 0; any && i < HS_ALL_BACKENDS && !out->by_kind[HS_OS_KIND_THP]; i++) {
        const hs_track_backend_ops_t *b = hs_all_backends[i];
        if (b->whole_process && hs_works(&probes, i))
            for (int k = 0; k < HS_OS_KIND_COUNT; k++)
                if (hs_backend_may_watch(b, k))
                    out->by_kind[k] = b;
    }
    int n = snprintf(out->why, sizeof out->why, "THP: %s, hugetlb and base pages: %s",
                     hs_track_choice_name(out, HS_OS_KIND_THP), hs_track_choice_name(out, HS_OS_KIND_BASE));
    for (size_t i = 0; i < HS_ALL_BACKENDS; i++)
        if (probes.works[i] >= 0 && probes.why[i][0] && n >= 0 && (size_t)n < sizeof out->why)
            n += snprintf(out->why + n, sizeof out->why - (size_t)n, "; %s: %s", hs_all_backends[i]->name,
                          probes.why[i]);
}

/* ---- starting ---------------------------------------------------------------- */

int hs_tracker_init(const hs_track_choice_t *choice, const hs_heat_config_t *heat, unsigned budget,
                    const hs_tracker_env_t *env)
{
    hs_heat_cfg = *heat;
    hs_budget = budget ? budget : 1;
    hs_choice = *choice;
    hs_env = env ? *env : (hs_tracker_env_t){.now_ns = NULL};
    if (!hs_snapshot) {
        void *mem, *units;
        int err = hs_os_map_plain(HS_REGISTRY_CAPACITY * sizeof(hs_region_t), &mem);
        if (!err)
            err = hs_os_map_plain(HS_UNITS_MAX * sizeof(hs_hot_unit_t), &units);
        if (err)
            return err;
        hs_snapshot = mem;
        hs_units = units;
    }
    hs_heat_region_init(&hs_process, 0, HS_OS_HUGE_2M, HS_HEAT_ATTR_SHIFT, hs_process_mem);
    hs_nbackends = 0;
    for (int k = 0; k < HS_OS_KIND_COUNT; k++) {
        const hs_track_backend_ops_t *b = choice->by_kind[k];
        bool known = false;
        for (size_t i = 0; i < hs_nbackends; i++)
            known |= hs_backends[i] == b;
        if (b && !known && hs_nbackends < HS_BACKENDS_MAX)
            hs_backends[hs_nbackends++] = b;
    }
    hs_opened = false;
    hs_active = hs_nbackends > 0;
    return hs_active ? 0 : -ENOSYS;
}

static uint64_t hs_now(void)
{
    return hs_env.now_ns ? hs_env.now_ns(hs_env.ctx) : hs_os_now_ns();
}

/* Open (or, in a forked child, reopen) every backend; a kind whose backend
 * cannot open is unwatched from then on.  Whether any opened. */
static bool hs_open_backends(bool after_fork)
{
    bool any = false;
    for (size_t i = 0; i < hs_nbackends; i++) {
        const hs_track_backend_ops_t *b = hs_backends[i];
        char why[300] = "";
        if (after_fork && b->forget_after_fork)
            b->forget_after_fork(b->ctx);
        int err = b->open ? b->open(b->ctx, why, sizeof why) : 0;
        hs_backend_ok[i] = err == 0;
        any |= err == 0;
        if (!err)
            continue;
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        hs_log(HS_LOG_INFO, "tracking: %s could not start (%s, errno %d): its page kinds are unwatched", b->name,
               why[0] ? why : "no detail", -err);
        for (int k = 0; k < HS_OS_KIND_COUNT; k++)
            if (hs_choice.by_kind[k] == b)
                hs_choice.by_kind[k] = NULL;
    }
    return any;
}

/* The backends, at the first epoch, on the epoch thread and outside the
 * tracker lock: starting a fault thread allocates (pthread_create's TLS),
 * and a fork on another thread takes jemalloc's locks before ours, so
 * holding ours here would deadlock against it (measured: stress-ng's fork
 * stressor).  False when none opened. */
static bool hs_open_first(void)
{
    bool any = hs_open_backends(false);
    /* Last: a child forked meanwhile opens its own at its first epoch. */
    __atomic_store_n(&hs_opened, true, __ATOMIC_RELEASE);
    return any;
}

bool hs_tracker_active(void)
{
    return hs_active;
}

const hs_track_choice_t *hs_tracker_choice(void)
{
    return &hs_choice;
}

int hs_tracker_subscribe(const hs_tracker_subscriber_t *subscriber)
{
    if (hs_nsubscribers >= HS_SUBSCRIBERS_MAX)
        return -ENOSPC;
    pthread_mutex_lock(&hs_tracker_lock);
    hs_subscribers[hs_nsubscribers++] = *subscriber;
    pthread_mutex_unlock(&hs_tracker_lock);
    return 0;
}

void hs_tracker_shutdown(void)
{
    pthread_mutex_lock(&hs_tracker_lock);
    hs_active = false;
    if (hs_opened)
        for (size_t i = 0; i < hs_nbackends; i++)
            if (hs_backend_ok[i] && hs_backends[i]->close)
                hs_backends[i]->close(hs_backends[i]->ctx);
    pthread_mutex_unlock(&hs_tracker_lock);
}

static unsigned hs_unit_shift(uint8_t kind)
{
    return kind == HS_OS_KIND_BASE ? 12 : 21;
}

/* The backend watching a tracked region, NULL: none. */
static const hs_track_backend_ops_t *hs_by(const hs_tracked_t *t)
{
    return t->by ? hs_backends[t->by - 1] : NULL;
}

/* Which backend watches a region of this kind (1 + its index, 0: none). */
static uint8_t hs_backend_for(const hs_region_t *r)
{
    for (size_t i = 0; i < hs_nbackends; i++) {
        const hs_track_backend_ops_t *b = hs_backends[i];
        if (!hs_backend_ok[i] || (unsigned)r->kind >= HS_OS_KIND_COUNT || hs_choice.by_kind[r->kind] != b)
            continue;
        /* Whole aligned 2 MiB units only: the region must start on one. */
        if (b->whole_units && ((r->start & (HS_OS_HUGE_2M - 1)) != 0 || r->len < HS_OS_HUGE_2M))
            return 0;
        return (uint8_t)(i + 1);
    }
    return 0;
}

/* Units a budgeted backend can watch: whole 2 MiB units for a whole-units
 * backend (a short tail is never armed), every unit otherwise. */
static size_t hs_watch_units(const hs_tracked_t *t)
{
    const hs_track_backend_ops_t *b = hs_by(t);
    return b && b->whole_units ? t->heat.len >> HS_OS_HUGE_2M_SHIFT : t->heat.nunits;
}

/* Budget class of a region: its backend's index if budgeted, else -1. */
static int hs_budget_class(const hs_tracked_t *t)
{
    const hs_track_backend_ops_t *b = hs_by(t);
    return b && b->budgeted ? t->by - 1 : -1;
}

static uint8_t hs_arm(const hs_region_t *r)
{
    uint8_t by = hs_backend_for(r);
    if (!by)
        return 0;
    const hs_track_backend_ops_t *b = hs_backends[by - 1];
    /* The whole region, a short tail included (only whole units are ever
     * protected): registering less would split the program's mapping in two
     * VMAs, and its mremap of the whole mapping would fail with EFAULT. */
    size_t len = (r->len + HS_OS_PAGE_SIZE - 1) & ~(size_t)(HS_OS_PAGE_SIZE - 1);
    int err = b->watch ? b->watch(b->ctx, r->start, len) : 0;
    if (err) {
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        hs_log(HS_LOG_DEBUG, "cannot watch %zu bytes at %#lx: errno %d", r->len, (unsigned long)r->start, -err);
        return 0;
    }
    return by;
}

static uintptr_t hs_tracked_end(const void *ctx, size_t i)
{
    const hs_heat_region_t *h = &((const hs_tracked_t *)ctx)[i].heat;
    return h->start + h->len;
}

/* The tracked region of t that is r (same range and kind), NULL if none. */
static const hs_tracked_t *hs_find_same(const hs_track_table_t *t, const hs_region_t *r)
{
    size_t lo = hs_range_first_ending_after(t->count, r->start, hs_tracked_end, t->regions);
    if (lo < t->count && t->regions[lo].heat.start == r->start && t->regions[lo].heat.len == r->len &&
        t->regions[lo].kind == r->kind)
        return &t->regions[lo];
    return NULL;
}

/* The tracked region holding addr. */
static hs_tracked_t *hs_find_addr(uintptr_t addr)
{
    size_t lo = hs_range_first_ending_after(hs_table.count, addr, hs_tracked_end, hs_table.regions);
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
            t->by = hs_arm(r);
            /* A backend that protects what the tracker chose (uffd_sync)
             * protects nothing until the next selection.  A new PAGEMAP_SCAN
             * region is scanned whole once: armed a moment ago, it re-protects
             * nothing, so it costs no fault. */
            if (t->by && hs_by(t)->protect)
                hs_heat_observe_all(&t->heat, false);
        }
        if (t->by)
            tracked += r->len;
        else if (r->kind == HS_OS_KIND_THP)
            unwatched_thp += r->len;
    }
    if (unwatched_thp && !hs_choice.by_kind[HS_OS_KIND_THP] && hs_choice.by_kind[HS_OS_KIND_BASE] &&
        !hs_choice.by_kind[HS_OS_KIND_BASE]->keeps_thp_whole)
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

/* The units each node's fault samples read and wrote this epoch (a unit
 * read, then written by the same node's store, counts written: an update;
 * hs_heat_sample): the nodes not seen reading, with no unit read or more
 * units written than read (hs_heat_config_t.not_reading_nodes).  A node
 * whose threads ran without touching tracked memory (a thread that only
 * watches, or computes) counts as not reading: it cannot be the other
 * reader of a unit. */
static uint32_t hs_node_reads[64], hs_node_writes[64];

static uint64_t hs_not_reading_nodes(void)
{
    uint64_t mask = 0;
    for (int n = 0; n < 64; n++) {
        if (hs_node_reads[n] == 0 || hs_node_writes[n] > hs_node_reads[n])
            mask |= 1ULL << n;
        if (hs_node_writes[n] || hs_node_reads[n])
            hs_log(HS_LOG_DEBUG, "epoch %llu: node %d: %u units read and %u written",
                   (unsigned long long)hs_epoch, n, hs_node_reads[n], hs_node_writes[n]);
    }
    memset(hs_node_reads, 0, sizeof hs_node_reads);
    memset(hs_node_writes, 0, sizeof hs_node_writes);
    return mask;
}

/* The accesses a backend saw as faults, each with its thread's node. */
static void hs_drain(size_t index)
{
    static hs_os_wp_fault_t buf[HS_DRAIN_BUF];
    const hs_track_backend_ops_t *b = hs_backends[index];
    size_t n;
    while ((n = b->drain(b->ctx, buf, HS_DRAIN_BUF)) > 0) {
        for (size_t i = 0; i < n; i++) {
            hs_tracked_t *t = hs_find_addr(buf[i].address);
            if (!t || t->by != index + 1)
                continue;
            int node = hs_env.node_of_thread ? hs_env.node_of_thread(hs_env.ctx, buf[i].tid, hs_epoch) : -1;
            bool read = buf[i].missing && !buf[i].write;
            hs_heat_count_t c = hs_heat_sample(&t->heat, buf[i].address, node, read);
            hs_count(read ? HS_CTR_TRACK_READ_SAMPLES : HS_CTR_TRACK_WRITE_SAMPLES, 1);
            if (node < 0 || node >= 64)
                continue;
            hs_node_reads[node] += c == HS_HEAT_COUNT_READ;
            hs_node_writes[node] += c == HS_HEAT_COUNT_WRITTEN || c == HS_HEAT_COUNT_READ_WRITTEN;
            if (c == HS_HEAT_COUNT_READ_WRITTEN && hs_node_reads[node])
                hs_node_reads[node]--;
        }
        if (n < HS_DRAIN_BUF)
            break;
    }
}

static void hs_mark_idle(void *arg, uintptr_t unit)
{
    size_t index = *(size_t *)arg;
    hs_tracked_t *t = hs_find_addr(unit);
    if (t && t->by == index + 1)
        hs_heat_mark_idle(&t->heat, unit);
}

/* Every tracked region as the epoch left it, for subscribers that want them. */
static size_t hs_region_views(hs_track_region_view_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < hs_table.count && n < max; i++) {
        const hs_tracked_t *t = &hs_table.regions[i];
        out[n++] = (hs_track_region_view_t){.start = t->heat.start,
                                            .len = t->heat.len,
                                            .unit_shift = t->heat.unit_shift,
                                            .kind = t->kind,
                                            .heat = t->by ? t->heat.heat : NULL,
                                            .idle = t->by ? t->heat.idle : NULL};
    }
    return n;
}

/* Publish the hot units, in address order, to every subscriber. */
static void hs_publish(uint64_t ns)
{
    size_t n = 0, shared = 0, hot = 0, unknown = 0;
    int process = hs_heat_accessor(&hs_process, 0), process_writer = hs_heat_last_writer(&hs_process, 0);
    for (size_t i = 0; i < hs_table.count; i++) {
        hs_tracked_t *t = &hs_table.regions[i];
        if (!t->by)
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
            hs_units[n++] = (hs_hot_unit_t){.addr = t->heat.start + (u << t->heat.unit_shift),
                                            .bytes = (uint32_t)hs_heat_unit_bytes(&t->heat, u),
                                            .kind = t->kind,
                                            .wanted = (int8_t)(wanted < 0 ? -1 : wanted),
                                            .writer = (int8_t)writer,
                                            .now = -1,
                                            .early = t->heat.node && hs_heat_decided_early(&t->heat, u)};
        }
    }
    hs_counter_set(HS_CTR_TRACK_SHARED_UNITS, shared);
    hs_log(HS_LOG_DEBUG, "epoch %llu: %zu hot units: %zu shared, %zu not attributed; busy nodes %#llx, not reading %#llx",
           (unsigned long long)hs_epoch, hot, shared, unknown, (unsigned long long)hs_heat_cfg.busy_nodes,
           (unsigned long long)hs_heat_cfg.not_reading_nodes);
    static hs_track_region_view_t regions[HS_REGISTRY_CAPACITY];
    hs_epoch_result_t result = {.epoch = hs_epoch, .units = hs_units, .n = n, .ns = ns};
    for (size_t i = 0; i < hs_nsubscribers; i++) {
        if (hs_subscribers[i].wants_regions && !result.regions) {
            result.nregions = hs_region_views(regions, HS_REGISTRY_CAPACITY);
            result.regions = regions;
        }
        hs_subscribers[i].epoch(hs_subscribers[i].ctx, &result);
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
    const hs_track_backend_ops_t *b = hs_by(t);
    if (b->protect(b->ctx, start, len) != 0) {
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        for (uintptr_t a = start; a < start + len; a += (uintptr_t)1 << t->heat.unit_shift)
            hs_heat_observe(&t->heat, (a - t->heat.start) >> t->heat.unit_shift, false);
    }
}

static void hs_scan_run(hs_tracked_t *t, uintptr_t start, size_t len, void *arg)
{
    /* Unmapped since the snapshot (the registry will say so next epoch) or
     * refused: count it, keep the heat as it was. */
    const hs_track_backend_ops_t *b = hs_by(t);
    if (b->scan(b->ctx, start, len, hs_mark, arg) != 0)
        hs_count(HS_CTR_TRACK_ERRORS, 1);
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
    /* Backends that protect first, then those whose next scan re-protects. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t c = 0; c < hs_nbackends; c++) {
            const hs_track_backend_ops_t *b = hs_backends[c];
            if (!hs_backend_ok[c] || !b->budgeted || (pass == 0) != (b->protect != NULL))
                continue;
            armed += hs_select((int)c);
            for (size_t k = hs_next_in(0, (int)c); b->protect && k < hs_table.count; k = hs_next_in(k + 1, (int)c))
                hs_each_observed_run(&hs_table.regions[k], hs_protect_run, NULL);
        }
    hs_counter_set(HS_CTR_TRACK_REARMED_UNITS, armed);
}

size_t hs_tracker_epoch(void)
{
    if (!hs_active)
        return 0;
    if (!__atomic_load_n(&hs_opened, __ATOMIC_ACQUIRE) && !hs_open_first()) {
        hs_active = false;
        return 0;
    }
    pthread_mutex_lock(&hs_tracker_lock);
    uint64_t t0 = hs_now(), cpu0 = hs_os_thread_cpu_ns();
    uint64_t ns = hs_epoch_t0 && t0 > hs_epoch_t0 ? t0 - hs_epoch_t0 : 0;
    hs_epoch_t0 = t0;
    hs_epoch++;
    hs_registry_follow_begin(); /* no program munmap or mremap between the registry and the kernel */
    hs_tracker_follow();
    hs_registry_follow_end();
    uint64_t busy = 0;
    int busiest = hs_env.busy_nodes ? hs_env.busy_nodes(hs_env.ctx, &busy) : -1;
    hs_heat_cfg.busy_nodes = busy;
    for (size_t i = 0; i < hs_table.count; i++) {
        hs_tracked_t *t = &hs_table.regions[i];
        const hs_track_backend_ops_t *b = hs_by(t);
        if (!b || !b->scan)
            continue;
        hs_mark_arg_t m = {&t->heat, busiest};
        if (b->budgeted)
            hs_each_observed_run(t, hs_scan_run, &m);
        else
            hs_scan_run(t, t->heat.start, t->heat.len, &m);
    }
    for (size_t c = 0; c < hs_nbackends; c++) {
        const hs_track_backend_ops_t *b = hs_backends[c];
        if (!hs_backend_ok[c])
            continue;
        if (b->end_epoch && b->end_epoch(b->ctx) != 0)
            hs_count(HS_CTR_TRACK_ERRORS, 1);
        if (b->drain)
            hs_drain(c);
        if (b->idle)
            b->idle(b->ctx, hs_mark_idle, &c);
    }
    hs_heat_cfg.not_reading_nodes = hs_not_reading_nodes();
    size_t hot = 0;
    for (size_t i = 0; i < hs_table.count; i++)
        if (hs_table.regions[i].by)
            hot += hs_heat_end_epoch(&hs_table.regions[i].heat, &hs_heat_cfg);
    if (busiest >= 0)
        hs_heat_mark_written(&hs_process, 0, 1, busiest);
    hs_heat_end_epoch(&hs_process, &hs_heat_cfg);
    hs_publish(ns);
    hs_rearm();
    hs_early_last = hs_early_now;
    hs_early_now = false;
    hs_fresh_before = 0;
    hs_window_began = hs_now();
    hs_counter_set(HS_CTR_TRACK_HOT_BYTES, hot);
    hs_count(HS_CTR_TRACK_EPOCHS, 1);
    hs_count(HS_CTR_TRACK_SCAN_NS, hs_now() - t0);
    hs_count(HS_CTR_TRACK_SCAN_CPU_NS, hs_os_thread_cpu_ns() - cpu0);
    pthread_mutex_unlock(&hs_tracker_lock);
    return hot;
}

/* Units touched this epoch that were not hot at its start, each with the
 * node of the thread that touched it (hs_tracker_tick): seen counts them
 * (a unit has several records when the sampler parks it again at a tick:
 * a set of HS_FRESH_SET tells them apart), the first HS_FRESH_MAX are
 * kept. */
#define HS_FRESH_MAX 64
#define HS_FRESH_SET 4096 /* a power of two */
typedef struct hs_fresh {
    size_t index; /* the backend's */
    size_t seen, n;
    uintptr_t units[HS_FRESH_MAX];
    int nodes[HS_FRESH_MAX];
    uintptr_t set[HS_FRESH_SET]; /* open addressing, 0 empty */
} hs_fresh_t;

/* Whether unit was not in the set yet (a full set says no: seen stops). */
static bool hs_fresh_add(hs_fresh_t *fr, uintptr_t unit)
{
    if (fr->seen >= HS_FRESH_SET / 2)
        return false;
    size_t h = (size_t)((unit >> 12) * 0x9E3779B97F4A7C15ULL >> 40);
    for (size_t i = 0;; i++) {
        uintptr_t *slot = &fr->set[(h + i) & (HS_FRESH_SET - 1)];
        if (*slot == unit)
            return false;
        if (!*slot) {
            *slot = unit;
            return true;
        }
    }
}

static void hs_note_fresh(void *arg, const hs_os_wp_fault_t *f)
{
    hs_fresh_t *fr = arg;
    hs_tracked_t *t = hs_find_addr(f->address);
    if (!t || t->by != fr->index + 1)
        return;
    size_t u = (f->address - t->heat.start) >> t->heat.unit_shift;
    if (hs_heat_is_hot(&t->heat, u, &hs_heat_cfg))
        return;
    uintptr_t unit = t->heat.start + (u << t->heat.unit_shift);
    if (!hs_fresh_add(fr, unit))
        return;
    fr->seen++;
    int node = fr->n < HS_FRESH_MAX && hs_env.node_of_thread
                   ? hs_env.node_of_thread(hs_env.ctx, (int)f->tid, hs_epoch)
                   : -1;
    if (node < 0)
        return;
    fr->units[fr->n] = unit;
    fr->nodes[fr->n++] = node;
}

/* Whether this epoch should end now (hs_tracker_tick): units that were not
 * hot were touched since it began, their number grew by an eighth at most
 * since the tick before (the threads that touch them have all begun: in
 * the NUMA lab a thread on the other node touched half its units in the
 * first 300 ms, and the rest waited a whole epoch), and HS_EARLY_UNITS of
 * them or more were touched from another node than theirs.  Only units
 * that were not hot count: a unit read from two nodes, hot and left where
 * it is, would otherwise end every other epoch. */
static bool hs_end_early(void)
{
    uint64_t ran = hs_now() - hs_window_began;
    if (!hs_env.misplaced || hs_early_last || hs_early_now || ran < HS_EARLY_LOOK_NS)
        return false;
    static hs_fresh_t fresh;
    fresh.seen = fresh.n = 0;
    memset(fresh.set, 0, sizeof fresh.set);
    for (size_t c = 0; c < hs_nbackends; c++) {
        if (!hs_backend_ok[c] || !hs_backends[c]->peek)
            continue;
        fresh.index = c;
        hs_backends[c]->peek(hs_backends[c]->ctx, hs_note_fresh, &fresh);
    }
    size_t before = hs_fresh_before;
    hs_fresh_before = fresh.seen;
    if (ran < HS_EARLY_AFTER_NS || fresh.n < HS_EARLY_UNITS || fresh.seen - before > before / 8)
        return false;
    size_t misplaced = hs_env.misplaced(hs_env.ctx, fresh.units, fresh.nodes, fresh.n);
    if (misplaced < HS_EARLY_UNITS)
        return false;
    hs_log(HS_LOG_DEBUG, "epoch %llu ends early, %llu ms in: %zu units that were not hot were touched, %zu of %zu asked "
                         "on another node than their thread's",
           (unsigned long long)hs_epoch + 1, (unsigned long long)(ran / 1000000), fresh.seen, misplaced, fresh.n);
    return true;
}

bool hs_tracker_tick(bool last)
{
    if (!hs_active || !__atomic_load_n(&hs_opened, __ATOMIC_ACQUIRE))
        return false;
    if (last && hs_env.busy_mark)
        hs_env.busy_mark(hs_env.ctx);
    if (pthread_mutex_trylock(&hs_tracker_lock) != 0)
        return false;
    uint64_t cpu0 = hs_os_thread_cpu_ns();
    for (size_t c = 0; c < hs_nbackends; c++)
        if (hs_backend_ok[c] && hs_backends[c]->tick)
            hs_backends[c]->tick(hs_backends[c]->ctx);
    bool early = !last && hs_end_early();
    if (early) {
        hs_early_now = true;
        hs_count(HS_CTR_TRACK_EARLY_EPOCHS, 1);
        if (hs_env.busy_mark)
            hs_env.busy_mark(hs_env.ctx); /* as the last tick would */
    }
    hs_count(HS_CTR_TRACK_TICK_CPU_NS, hs_os_thread_cpu_ns() - cpu0);
    pthread_mutex_unlock(&hs_tracker_lock);
    return early;
}

bool hs_tracker_settled(uintptr_t unit, int tid)
{
    hs_tracked_t *t = hs_find_addr(unit);
    if (!t || !t->by || !hs_env.node_of_thread)
        return false;
    int node = hs_env.node_of_thread(hs_env.ctx, tid, hs_epoch);
    return node >= 0 && hs_heat_settled(&t->heat, unit, node);
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
        if (hs_table.regions[i].by)
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
    if (!hs_active || !__atomic_load_n(&hs_opened, __ATOMIC_ACQUIRE))
        return; /* the child's first epoch opens its own */
    /* The child's mappings lost the parent's write-protect registrations, and
     * its descriptors are the parent's (/proc/self/pagemap was opened as the
     * parent's pid): open everything again and re-arm every region. */
    hs_open_backends(true);
    for (size_t i = 0; i < hs_table.count; i++) {
        hs_tracked_t *t = &hs_table.regions[i];
        if (!t->by)
            continue;
        if (!hs_backend_ok[t->by - 1]) {
            t->by = 0;
            hs_count(HS_CTR_TRACK_ERRORS, 1);
            continue;
        }
        hs_region_t r = {t->heat.start, t->heat.len, t->kind, 0, -1};
        t->by = hs_arm(&r);
        if (hs_budget_class(t) >= 0)
            hs_heat_observe_all(&t->heat, false);
    }
}

void hs_tracker_reset_for_tests(void)
{
    pthread_mutex_lock(&hs_tracker_lock);
    if (hs_table.mem)
        hs_os_munmap(hs_table.mem, hs_table.mem_len);
    memset(&hs_table, 0, sizeof hs_table);
    hs_epoch = 0;
    hs_epoch_t0 = hs_window_began = 0;
    hs_early_last = hs_early_now = false;
    hs_fresh_before = 0;
    memset(hs_cursor, 0, sizeof hs_cursor);
    memset(hs_sweep_started, 0, sizeof hs_sweep_started);
    hs_nsubscribers = 0;
    pthread_mutex_unlock(&hs_tracker_lock);
}

static void hs_tracker_report(void *ctx, hs_report_t *report)
{
    (void)ctx;
    static const struct {
        const char *key;
        hs_os_kind_t kind;
    } kinds[] = {{"tracking.backends.thp", HS_OS_KIND_THP},
                 {"tracking.backends.hugetlb", HS_OS_KIND_HUGETLB_2M},
                 {"tracking.backends.base", HS_OS_KIND_BASE}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        hs_report_add(report,
                      (hs_report_field_t){kinds[i].key, HS_FIELD_STRING, 0, hs_track_choice_name(&hs_choice, kinds[i].kind)});
}

const hs_report_section_t hs_tracker_report_section = {.prefix = "tracking", .add = hs_tracker_report, .ctx = NULL};
