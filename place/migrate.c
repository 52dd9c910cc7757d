/* migrate.c: move hot units to the node of their writers (hs_migrate.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../track/hs_park.h"
#include "hs_bucket.h"
#include "hs_mend.h"
#include "hs_migrate.h"

/* Per-unit memory of past decisions, only for units that were ever
 * misplaced: open addressing on the unit address, backward-shift deletion. */
typedef struct hs_mig_rec {
    uintptr_t addr; /* 0: empty */
    uint32_t last_seen;
    uint32_t last_move;   /* epoch of the last move, 0 never */
    uint32_t frozen_until;
    int8_t remote_node;
    uint8_t remote_epochs;
    uint8_t bounces;
} hs_mig_rec_t;

#define HS_MIG_TABLE (1u << 16)
#define HS_MIG_BATCH 1024
#define HS_MIG_BOUNCE_WINDOW 16 /* epochs after a freeze ends within which a move is a bounce */
#define HS_MIG_FORGET 64        /* epochs without being misplaced: the record goes */
#define HS_MIG_RATE_FLOOR (1ULL << 20)

static hs_migrate_config_t hs_cfg;
static hs_migrate_ops_t hs_ops;
static bool hs_enabled;
static hs_mig_rec_t *hs_table;
static size_t hs_table_used;
static uint64_t hs_rate, hs_tokens;
static uint64_t hs_epoch_ns; /* the length of the epoch being published, 0 unknown */
static unsigned hs_clean_epochs;
static uint64_t hs_hot_on[HS_OS_MAX_NODES];
/* Scratch for one epoch: candidates' queried node and the move batch. */
static void *hs_batch_pages[HS_MIG_BATCH];
static int hs_batch_nodes[HS_MIG_BATCH], hs_batch_status[HS_MIG_BATCH];
static hs_hot_unit_t hs_moves[HS_MIG_BATCH];
static hs_hot_unit_t *hs_epoch_units; /* this epoch's units: now and moved written back */
static int8_t hs_moves_from[HS_MIG_BATCH];

/* The kernel's move_pages, on the pages where they are now: a unit the
 * access sampler keeps parked waits in its staging slot (the epoch thread
 * only: one buffer). */
static long hs_real_move_pages(void *ctx, unsigned long n, void **pages, const int *nodes, int *status)
{
    (void)ctx;
    static void *at[HS_MIG_BATCH];
    long left = 0;
    for (unsigned long done = 0; done < n;) {
        unsigned long k = n - done < HS_MIG_BATCH ? n - done : HS_MIG_BATCH;
        hs_park_locate_pages(pages + done, at, k);
        long rc = hs_os_move_pages(k, at, nodes ? nodes + done : NULL, status + done);
        if (rc < 0)
            return rc;
        left += rc;
        done += k;
    }
    return left;
}

static int64_t hs_real_node_room(void *ctx, int node, hs_os_kind_t kind)
{
    (void)ctx;
    return hs_os_node_room(node, kind);
}

static int hs_real_explicit_policy(void *ctx, uintptr_t addr, bool *out)
{
    (void)ctx;
    return hs_os_explicit_policy((void *)addr, out);
}

static int64_t hs_real_thp_splits(void *ctx)
{
    (void)ctx;
    static const char *const name[] = {"thp_migration_split"};
    uint64_t v;
    return hs_os_vmstat(name, &v, 1) == 0 ? (int64_t)v : -1;
}

/* Whole, or collapsed where it now is.  Only a unit with all 512 pages
 * present is collapsed (a split move leaves them all; one the allocator
 * purged in part is not filled in).  Under the access sampler the unit is
 * registered with its userfaultfd, which refuses a collapse: the sampler
 * makes it huge again as it does its own put-backs (now, else at its next
 * ticks).  Without PAGEMAP_SCAN (before Linux 6.7) the collapse is the
 * look: it leaves a whole unit as it is, and nothing is counted. */
static int hs_real_mend(void *ctx, uintptr_t unit)
{
    (void)ctx;
    static int pagemap = -1, pid; /* the epoch thread only; a forked child opens its own */
    if (pid != hs_os_getpid()) {
        if (pagemap >= 0)
            hs_os_close(pagemap);
        pagemap = hs_os_pagemap_open();
        pid = hs_os_getpid();
    }
    void *page = (void *)unit, *at;
    hs_park_locate_pages(&page, &at, 1);
    uintptr_t where = (uintptr_t)at & ~(uintptr_t)(HS_OS_HUGE_2M - 1);
    int huge = pagemap >= 0 ? hs_os_range_huge(pagemap, where, HS_OS_HUGE_2M) : -ENOSYS;
    if (huge == 1 || hs_os_resident_pages((void *)where, HS_OS_HUGE_2M) != HS_OS_HUGE_2M / HS_OS_PAGE_SIZE)
        return 0;
    if (hs_park_running())
        return huge < 0 ? 0 : hs_park_mend(unit);
    int rc = hs_os_collapse((void *)where, HS_OS_HUGE_2M);
    if (huge < 0)
        return 0;
    if (rc != 0)
        return rc < 0 ? rc : -EAGAIN;
    return hs_os_range_huge(pagemap, where, HS_OS_HUGE_2M) == 1 ? 1 : -EAGAIN;
}

const hs_migrate_ops_t hs_migrate_real_ops = {hs_real_move_pages, hs_real_node_room, hs_real_explicit_policy, NULL,
                                              hs_real_thp_splits,  hs_real_mend};

int hs_migrate_init(const hs_migrate_config_t *config, const hs_migrate_ops_t *ops)
{
    hs_cfg = *config;
    if (!hs_cfg.cooldown_epochs)
        hs_cfg.cooldown_epochs = 4;
    if (!hs_cfg.call_max_bytes)
        hs_cfg.call_max_bytes = 64ULL << 20;
    if (hs_cfg.nodes > HS_OS_MAX_NODES)
        hs_cfg.nodes = HS_OS_MAX_NODES;
    hs_ops = ops ? *ops : hs_migrate_real_ops;
    if (!hs_table) {
        void *mem;
        int err = hs_os_map_plain(HS_MIG_TABLE * sizeof(hs_mig_rec_t), &mem);
        if (err)
            return err;
        hs_table = mem;
    }
    memset(hs_table, 0, HS_MIG_TABLE * sizeof(hs_mig_rec_t));
    hs_table_used = 0;
    hs_rate = hs_cfg.rate_bytes_per_s;
    hs_tokens = 0;
    hs_clean_epochs = 0;
    memset(hs_hot_on, 0, sizeof hs_hot_on);
    hs_enabled = true;
    hs_counter_set(HS_CTR_MIG_RATE_NOW, hs_rate);
    return 0;
}

bool hs_migrate_enabled(void)
{
    return hs_enabled;
}

uint64_t hs_migrate_hot_bytes_on(int node)
{
    return node >= 0 && node < HS_OS_MAX_NODES ? hs_hot_on[node] : 0;
}

static size_t hs_slot(uintptr_t addr)
{
    uint64_t h = (uint64_t)addr >> 12;
    h *= 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 48) & (HS_MIG_TABLE - 1);
}

static hs_mig_rec_t *hs_find(uintptr_t addr, bool create)
{
    for (size_t i = hs_slot(addr), probes = 0; probes < HS_MIG_TABLE; i = (i + 1) & (HS_MIG_TABLE - 1), probes++) {
        if (hs_table[i].addr == addr)
            return &hs_table[i];
        if (hs_table[i].addr == 0) {
            /* Keep a quarter free so that probes stay short. */
            if (!create || hs_table_used >= HS_MIG_TABLE / 4 * 3) {
                if (create)
                    hs_count(HS_CTR_MIG_TABLE_FULL, 1);
                return NULL;
            }
            hs_table[i] = (hs_mig_rec_t){.addr = addr, .remote_node = -1};
            hs_table_used++;
            return &hs_table[i];
        }
    }
    return NULL;
}

/* Backward-shift deletion keeps every probe chain unbroken. */
static void hs_delete(size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & (HS_MIG_TABLE - 1);
        if (hs_table[j].addr == 0)
            break;
        size_t home = hs_slot(hs_table[j].addr);
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            hs_table[i] = hs_table[j];
            i = j;
        }
    }
    hs_table[i].addr = 0;
    hs_table_used--;
}

static void hs_forget_stale(uint64_t epoch)
{
    for (size_t i = 0; i < HS_MIG_TABLE; i++) {
        hs_mig_rec_t *r = &hs_table[i];
        while (r->addr && epoch > r->last_seen + HS_MIG_FORGET && epoch > r->frozen_until)
            hs_delete(i); /* the slot may receive a shifted record: look again */
    }
}

static void hs_count_failure(int status)
{
    switch (status) {
    case -EBUSY: hs_count(HS_CTR_MIG_FAIL_EBUSY, 1); break;
    case -ENOMEM: hs_count(HS_CTR_MIG_FAIL_ENOMEM, 1); break;
    case -EACCES: hs_count(HS_CTR_MIG_FAIL_EACCES, 1); break;
    case -EFAULT: hs_count(HS_CTR_MIG_FAIL_EFAULT, 1); break;
    case -ENOENT: hs_count(HS_CTR_MIG_FAIL_ENOENT, 1); break;
    default: hs_count(HS_CTR_MIG_FAIL_OTHER, 1); break;
    }
}

static void hs_count_moved(const hs_hot_unit_t *u)
{
    switch ((hs_os_kind_t)u->kind) {
    case HS_OS_KIND_THP:
        hs_count(HS_CTR_MIG_MOVED_THP_PAGES, 1);
        hs_count(HS_CTR_MIG_MOVED_THP_BYTES, u->bytes);
        break;
    case HS_OS_KIND_HUGETLB_2M:
    case HS_OS_KIND_HUGETLB_1G:
        hs_count(HS_CTR_MIG_MOVED_HUGETLB_PAGES, 1);
        hs_count(HS_CTR_MIG_MOVED_HUGETLB_BYTES, u->bytes);
        break;
    default:
        hs_count(HS_CTR_MIG_MOVED_BASE_PAGES, (u->bytes + HS_OS_PAGE_SIZE - 1) / HS_OS_PAGE_SIZE);
        hs_count(HS_CTR_MIG_MOVED_BASE_BYTES, u->bytes);
        break;
    }
}

/* Move one batch (all to one node); returns the bytes that arrived. */
static uint64_t hs_move_batch(uint64_t epoch, hs_hot_unit_t *units, const int8_t *from, size_t n,
                              unsigned *storm, unsigned *tried)
{
    for (size_t i = 0; i < n; i++) {
        hs_batch_pages[i] = (void *)units[i].addr;
        hs_batch_nodes[i] = units[i].wanted;
        hs_batch_status[i] = -EINVAL;
    }
    int64_t splits = hs_mend_before(hs_ops.thp_splits, hs_ops.ctx);
    long rc = hs_ops.move_pages(hs_ops.ctx, n, hs_batch_pages, hs_batch_nodes, hs_batch_status);
    hs_count(HS_CTR_MIG_CALLS, 1);
    bool mend = rc >= 0 && hs_mend_needed(hs_ops.thp_splits, hs_ops.ctx, splits);
    uint64_t arrived = 0;
    for (size_t i = 0; i < n; i++) {
        int st = rc < 0 ? (int)rc : hs_batch_status[i];
        (*tried)++;
        if (st == units[i].wanted) {
            arrived += units[i].bytes;
            hs_hot_on[from[i]] -= units[i].bytes;
            hs_hot_on[st] += units[i].bytes;
            hs_count_moved(&units[i]);
            if (mend && units[i].kind == HS_OS_KIND_THP)
                hs_mend_unit(hs_ops.mend, hs_ops.ctx, units[i].addr, HS_CTR_MIG_THP_SPLIT, HS_CTR_MIG_THP_MENDED);
            hs_epoch_units[units[i].index].now = (int8_t)st;
            hs_epoch_units[units[i].index].moved = 1;
            hs_mig_rec_t *r = hs_find(units[i].addr, true);
            if (r) {
                /* A move soon after the unit was free to move again is a
                 * bounce: the freeze doubles, and only a calm stretch resets it. */
                bool bounce = r->last_move && epoch <= (uint64_t)r->frozen_until + HS_MIG_BOUNCE_WINDOW;
                r->bounces = bounce ? (uint8_t)(r->bounces < 255 ? r->bounces + 1 : 255) : 0;
                unsigned shift = r->bounces < 6 ? r->bounces : 6;
                r->frozen_until = (uint32_t)(epoch + ((uint64_t)hs_cfg.cooldown_epochs << shift));
                if (bounce)
                    hs_count(HS_CTR_MIG_BOUNCES, 1);
                r->last_move = (uint32_t)epoch;
                r->remote_epochs = 0;
            }
            continue;
        }
        hs_count_failure(st < 0 ? st : -EAGAIN);
        if (st == -ENOMEM || st == -EBUSY)
            (*storm)++;
    }
    return arrived;
}

/* Move the planned units to their node, grouped by node and bounded per call. */
static uint64_t hs_move_planned(uint64_t epoch, size_t planned, unsigned *storm, unsigned *tried)
{
    uint64_t arrived = 0;
    for (int node = 0; node < hs_cfg.nodes; node++) {
        static hs_hot_unit_t batch[HS_MIG_BATCH];
        static int8_t from[HS_MIG_BATCH];
        size_t n = 0;
        uint64_t bytes = 0;
        for (size_t i = 0; i < planned; i++) {
            if (hs_moves[i].wanted != node)
                continue;
            if (n && (n == HS_MIG_BATCH || bytes + hs_moves[i].bytes > hs_cfg.call_max_bytes)) {
                arrived += hs_move_batch(epoch, batch, from, n, storm, tried);
                n = 0;
                bytes = 0;
            }
            from[n] = hs_moves_from[i];
            batch[n++] = hs_moves[i];
            bytes += hs_moves[i].bytes;
        }
        if (n)
            arrived += hs_move_batch(epoch, batch, from, n, storm, tried);
    }
    return arrived;
}

/* Decide for one queried unit; true when it joins the moves.  The streak:
 * epochs in a row the unit was written from one remote node (an epoch
 * without a write keeps it, a write from here ends it). */
static bool hs_decide(uint64_t epoch, const hs_hot_unit_t *u, int current, int64_t *room)
{
    bool remote_write = u->writer >= 0 && u->writer != current;
    hs_mig_rec_t *r = hs_find(u->addr, remote_write);
    if (r) {
        r->last_seen = (uint32_t)epoch;
        if (u->writer == current || u->writer == HS_WRITER_SEVERAL) {
            r->remote_epochs = 0; /* a streak is epochs of one remote node alone */
        } else if (remote_write) {
            if (r->remote_node != u->writer) {
                r->remote_node = u->writer;
                r->remote_epochs = 0;
            }
            if (r->remote_epochs < 255)
                r->remote_epochs++;
        }
    }
    if (u->wanted < 0 || u->wanted == current)
        return false;
    /* A unit whose only rival sample was its first touch moves after one
     * epoch of evidence, once: after a move the full streak applies. */
    unsigned need = u->early && r && !r->last_move ? 1 : hs_cfg.min_epochs;
    if (!r || r->remote_node != u->wanted || r->remote_epochs < need) {
        hs_count(HS_CTR_MIG_HELD_HYSTERESIS, 1);
        return false;
    }
    if (epoch < r->frozen_until) {
        hs_count(HS_CTR_MIG_HELD_FROZEN, 1);
        return false;
    }
    bool explicit_policy = false;
    if (hs_ops.explicit_policy(hs_ops.ctx, u->addr, &explicit_policy) == 0 && explicit_policy) {
        hs_count(HS_CTR_MIG_POLICY_RESPECTED, 1);
        return false;
    }
    if (hs_tokens < u->bytes) {
        hs_count(HS_CTR_MIG_HELD_RATE_BYTES, u->bytes);
        return false;
    }
    int slot = u->wanted * 4 + u->kind;
    if (room[slot] == INT64_MIN)
        room[slot] = hs_ops.node_room(hs_ops.ctx, u->wanted, (hs_os_kind_t)u->kind);
    if (room[slot] >= 0 && room[slot] < (int64_t)u->bytes) {
        hs_count(HS_CTR_MIG_NO_ROOM, 1);
        return false;
    }
    if (room[slot] >= 0)
        room[slot] -= u->bytes;
    hs_tokens -= u->bytes;
    return true;
}

/* Where each unit is (`now`, -1 unknown; `moved` cleared), with batched
 * move_pages queries; returns the queries that failed. */
static unsigned hs_locate(const hs_migrate_ops_t *ops, hs_hot_unit_t *units, size_t n)
{
    unsigned failed = 0;
    for (size_t at = 0; at < n; at += HS_MIG_BATCH) {
        size_t count = n - at < HS_MIG_BATCH ? n - at : HS_MIG_BATCH;
        for (size_t i = 0; i < count; i++) {
            hs_batch_pages[i] = (void *)units[at + i].addr;
            units[at + i].now = -1;
            units[at + i].moved = 0;
        }
        if (ops->move_pages(ops->ctx, count, hs_batch_pages, NULL, hs_batch_status) < 0) {
            failed++;
            continue;
        }
        for (size_t i = 0; i < count; i++)
            if (hs_batch_status[i] >= 0 && hs_batch_status[i] < HS_OS_MAX_NODES)
                units[at + i].now = (int8_t)hs_batch_status[i];
    }
    return failed;
}

void hs_migrate_epoch(uint64_t epoch, hs_hot_unit_t *units, size_t n)
{
    if (!hs_enabled) {
        for (size_t i = 0; i < n; i++) {
            units[i].now = -1;
            units[i].moved = 0;
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        units[i].index = (uint32_t)i;
    hs_epoch_units = units;
    /* Refill: one epoch's worth at the current rate (an epoch that ended
     * early, its length), banked up to one second. */
    hs_tokens = hs_bucket_refill(hs_tokens, hs_rate, hs_epoch_ns, hs_cfg.interval_ns);
    hs_epoch_ns = 0;
    memset(hs_hot_on, 0, sizeof hs_hot_on);
    static int64_t room[HS_OS_MAX_NODES * 4];
    for (size_t i = 0; i < sizeof room / sizeof room[0]; i++)
        room[i] = INT64_MIN;
    uint64_t local = 0, known = 0;
    size_t planned = 0;
    hs_count(HS_CTR_MIG_QUERY_FAILED, hs_locate(&hs_ops, units, n));
    for (size_t i = 0; i < n; i++) {
        hs_hot_unit_t *u = &units[i];
        int current = u->now;
        if (current < 0 || current >= hs_cfg.nodes || u->wanted >= hs_cfg.nodes || u->writer >= hs_cfg.nodes) {
            u->now = -1;
            continue;
        }
        if (u->wanted >= 0) {
            known += u->bytes;
            hs_hot_on[current] += u->bytes;
            local += current == u->wanted ? u->bytes : 0;
        }
        if (planned < HS_MIG_BATCH && hs_decide(epoch, u, current, room)) {
            hs_moves_from[planned] = (int8_t)current;
            hs_moves[planned++] = *u;
        }
    }
    unsigned storm = 0, tried = 0;
    local += hs_move_planned(epoch, planned, &storm, &tried);
    /* A storm of -ENOMEM/-EBUSY halves the rate; clean epochs restore it. */
    if (tried >= 4 && storm * 4 >= tried) {
        hs_rate = hs_rate / 2 > HS_MIG_RATE_FLOOR ? hs_rate / 2 : HS_MIG_RATE_FLOOR;
        hs_clean_epochs = 0;
        hs_count(HS_CTR_MIG_RATE_CUTS, 1);
    } else if (++hs_clean_epochs >= 8 && hs_rate < hs_cfg.rate_bytes_per_s) {
        hs_rate = hs_rate * 2 < hs_cfg.rate_bytes_per_s ? hs_rate * 2 : hs_cfg.rate_bytes_per_s;
        hs_clean_epochs = 0;
    }
    if (epoch % HS_MIG_FORGET == 0)
        hs_forget_stale(epoch);
    size_t frozen = 0;
    for (size_t i = 0; i < HS_MIG_TABLE; i++)
        frozen += hs_table[i].addr && hs_table[i].bounces && epoch < hs_table[i].frozen_until;
    hs_counter_set(HS_CTR_MIG_FROZEN_UNITS, frozen);
    hs_counter_set(HS_CTR_MIG_RATE_NOW, hs_rate);
    hs_counter_set(HS_CTR_MIG_HOT_BYTES_KNOWN, known);
    hs_counter_set(HS_CTR_MIG_HOT_BYTES_LOCAL, local > known ? known : local);
    hs_count(HS_CTR_MIG_EPOCHS, 1);
    hs_log(HS_LOG_DEBUG, "placement epoch %llu: %zu hot units, %zu moved toward their node, %llu of %llu hot bytes local",
           (unsigned long long)epoch, n, planned, (unsigned long long)local, (unsigned long long)known);
}

void hs_migrate_locate(hs_hot_unit_t *units, size_t n)
{
    hs_locate(hs_ops.move_pages ? &hs_ops : &hs_migrate_real_ops, units, n);
}

size_t hs_migrate_misplaced(const uintptr_t *units, const int *nodes, size_t n)
{
    static hs_hot_unit_t asked[HS_MIG_BATCH];
    n = n < HS_MIG_BATCH ? n : HS_MIG_BATCH;
    for (size_t i = 0; i < n; i++)
        asked[i] = (hs_hot_unit_t){.addr = units[i]};
    hs_migrate_locate(asked, n);
    size_t misplaced = 0;
    for (size_t i = 0; i < n; i++)
        misplaced += asked[i].now >= 0 && asked[i].now != nodes[i];
    return misplaced;
}

void hs_migrate_reset_for_tests(void)
{
    hs_enabled = false;
    hs_table_used = 0;
    if (hs_table)
        memset(hs_table, 0, HS_MIG_TABLE * sizeof(hs_mig_rec_t));
}

static void hs_migrate_on_epoch(void *ctx, hs_epoch_result_t *result)
{
    (void)ctx;
    hs_epoch_ns = result->ns;
    hs_migrate_epoch(result->epoch, result->units, result->n);
}

static void hs_migrate_locate_on_epoch(void *ctx, hs_epoch_result_t *result)
{
    (void)ctx;
    hs_migrate_locate(result->units, result->n);
}

const hs_tracker_subscriber_t hs_migrate_subscriber = {.epoch = hs_migrate_on_epoch, .wants_regions = false, .ctx = NULL};
const hs_tracker_subscriber_t hs_migrate_locate_subscriber = {
    .epoch = hs_migrate_locate_on_epoch, .wants_regions = false, .ctx = NULL};

static void hs_migrate_report(void *ctx, hs_report_t *report)
{
    (void)ctx;
    static char keys[HS_OS_MAX_NODES][48];
    for (int node = 0; hs_migrate_enabled() && node < hs_cfg.nodes; node++) {
        snprintf(keys[node], sizeof keys[node], "migration.hot_bytes_on.node%d", node);
        hs_report_add(report, (hs_report_field_t){keys[node], HS_FIELD_BYTES, hs_migrate_hot_bytes_on(node), NULL});
    }
}

const hs_report_section_t hs_migrate_report_section = {.prefix = "migration", .add = hs_migrate_report, .ctx = NULL};
