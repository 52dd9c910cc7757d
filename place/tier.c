/* tier.c: hot units in the fast tier, idle ones in the slow tier (hs_tier.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../common/hs_log.h"
#include "../track/hs_heat.h"
#include "hs_bucket.h"
#include "hs_mend.h"
#include "hs_migrate.h"
#include "hs_tier.h"

/* What a unit's last move was, for cool-down and moves back: a set-
 * associative cache on the unit address (4 ways; the oldest record gives
 * way, so a forgotten unit only loses its cool-down). */
typedef struct hs_tier_rec {
    uintptr_t addr; /* 0: empty */
    uint32_t last_move, prev_move; /* epochs of the last two moves, 0 none */
    uint32_t frozen_until;
    uint8_t up, prev_up; /* 1: that move was a promotion */
    uint8_t backs;       /* moves back and forth, in a row */
} hs_tier_rec_t;

#define HS_TIER_SETS 4096
#define HS_TIER_WAYS 4
#define HS_TIER_BATCH 512
#define HS_TIER_SCAN_MAX 16384 /* 2 MiB units located per epoch (32 GiB), in rotation */

static hs_tier_config_t hs_cfg;
static hs_tier_ops_t hs_ops;
static bool hs_enabled;
static hs_tier_rec_t *hs_recs;
static uint64_t hs_tokens_up, hs_tokens_down, hs_minute_epochs;
static uint64_t hs_epoch_ns; /* the length of the epoch being published, 0 unknown */
static int64_t hs_watermark[HS_OS_MAX_NODES];
static size_t hs_scan_from; /* rotation over the regions' 2 MiB units */
static uint64_t hs_bytes_on[HS_OS_MAX_NODES];
static uint64_t hs_tier_epochs;

/* One candidate move. */
typedef struct hs_tier_move {
    uintptr_t addr;
    uint32_t bytes;
    uint8_t kind;
    int8_t from, to;
    uint8_t idle;    /* epochs idle (demotions) */
    uint32_t index;  /* the hot unit's index (promotions), UINT32_MAX none */
} hs_tier_move_t;

static hs_tier_move_t hs_cands[HS_TIER_SCAN_MAX];
/* The units the last scan found on slow nodes, in address order: the
 * sampler tries them first (hs_tier_on_slow_node). */
static uintptr_t hs_slow_units[HS_TIER_SCAN_MAX];
static size_t hs_nslow;
#define HS_TIER_DOWN_MAX 2048 /* demotions planned per epoch (4 GiB) */
static hs_tier_move_t hs_down[HS_TIER_DOWN_MAX];
static void *hs_pages[HS_TIER_BATCH];
static int hs_nodes[HS_TIER_BATCH], hs_status[HS_TIER_BATCH];

static int64_t hs_real_node_free(void *ctx, int node)
{
    (void)ctx;
    return hs_os_node_free_bytes(node);
}

/* The nearest node of `among` from `from`: lowest distance, then lowest id. */
static int hs_nearest(const uint8_t (*dist)[HS_OS_MAX_NODES], int from, uint64_t among, int nodes)
{
    int best = -1;
    for (int n = 0; n < nodes; n++) {
        if (!(among >> n & 1))
            continue;
        unsigned d = dist ? dist[from][n] : 0, bd = best >= 0 && dist ? dist[from][best] : 0;
        if (best < 0 || (d && (!bd || d < bd)))
            best = n;
    }
    return best;
}

int hs_tier_find_topology(const hs_os_topology_t *t, const int16_t *tiers, const uint8_t (*dist)[HS_OS_MAX_NODES],
                     hs_tier_topology_t *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    out->nodes = t->nodes < HS_OS_MAX_NODES ? t->nodes : HS_OS_MAX_NODES;
    for (int n = 0; n < HS_OS_MAX_NODES; n++) {
        out->down[n] = out->up[n] = -1;
        out->tier[n] = tiers ? tiers[n] : -1;
    }
    uint64_t mem = t->nodes_with_memory, cpu_mem = mem & t->nodes_with_cpus;
    /* The fastest tier that holds memory of a node with CPUs. */
    int top = -1;
    for (int n = 0; tiers && n < out->nodes; n++)
        if ((cpu_mem >> n & 1) && tiers[n] >= 0 && (top < 0 || tiers[n] < top))
            top = tiers[n];
    for (int n = 0; n < out->nodes; n++) {
        if (!(mem >> n & 1))
            continue;
        bool fast = top >= 0 && tiers[n] >= 0 ? tiers[n] <= top : (t->nodes_with_cpus >> n & 1);
        if (fast)
            out->fast |= 1ULL << n;
        else
            out->slow |= 1ULL << n;
    }
    if (!out->slow || !out->fast) {
        snprintf(why, cap, "%s", !out->fast ? "no node with CPUs and memory" :
                 top >= 0 ? "every memory node is in the fastest memory tier" :
                            "no memory node without CPUs, and the kernel shows no memory tiers");
        return -ENOENT;
    }
    for (int n = 0; n < out->nodes; n++) {
        if (out->fast >> n & 1)
            out->down[n] = (int8_t)hs_nearest(dist, n, out->slow, out->nodes);
        if (out->slow >> n & 1)
            out->up[n] = (int8_t)hs_nearest(dist, n, out->fast, out->nodes);
    }
    snprintf(why, cap, "%d fast and %d slow memory node(s) (%s)", __builtin_popcountll(out->fast),
             __builtin_popcountll(out->slow), top >= 0 ? "the kernel's memory tiers" : "nodes without CPUs");
    return 0;
}

int hs_tier_init(const hs_tier_config_t *config, const hs_tier_ops_t *ops)
{
    hs_cfg = *config;
    if (!hs_cfg.cooldown_epochs)
        hs_cfg.cooldown_epochs = 4;
    if (!hs_cfg.interval_ns)
        hs_cfg.interval_ns = 1000000000ULL;
    if (!hs_cfg.idle_epochs)
        hs_cfg.idle_epochs = 1;
    if (hs_cfg.idle_epochs > HS_HEAT_IDLE_EPOCHS)
        hs_cfg.idle_epochs = HS_HEAT_IDLE_EPOCHS;
    const hs_migrate_ops_t *real = &hs_migrate_real_ops; /* the same kernel calls as placement's */
    hs_ops = ops ? *ops
                 : (hs_tier_ops_t){real->move_pages, hs_real_node_free, real->node_room, real->explicit_policy, NULL,
                                   real->thp_splits, real->mend};
    if (!hs_recs) {
        void *mem;
        int err = hs_os_map_plain(HS_TIER_SETS * HS_TIER_WAYS * sizeof(hs_tier_rec_t), &mem);
        if (err)
            return err;
        hs_recs = mem;
    }
    memset(hs_recs, 0, HS_TIER_SETS * HS_TIER_WAYS * sizeof(hs_tier_rec_t));
    hs_minute_epochs = 60000000000ULL / hs_cfg.interval_ns;
    for (int n = 0; n < HS_OS_MAX_NODES; n++)
        hs_watermark[n] = (hs_cfg.topo.fast >> n & 1) && hs_cfg.node_bytes[n] > 0
                              ? hs_cfg.node_bytes[n] / 100 * hs_cfg.free_pct
                              : 0;
    hs_tokens_up = hs_tokens_down = 0;
    hs_scan_from = 0;
    hs_tier_epochs = 0;
    memset(hs_bytes_on, 0, sizeof hs_bytes_on);
    hs_enabled = true;
    return 0;
}

bool hs_tier_enabled(void)
{
    return hs_enabled;
}

uint64_t hs_tier_slow_nodes(void)
{
    return hs_enabled ? hs_cfg.topo.slow : 0;
}

static hs_tier_rec_t *hs_rec(uintptr_t addr, bool create)
{
    uint64_t h = ((uint64_t)addr >> 21) * 0x9e3779b97f4a7c15ULL;
    hs_tier_rec_t *set = &hs_recs[((h >> 40) & (HS_TIER_SETS - 1)) * HS_TIER_WAYS], *oldest = &set[0];
    for (int w = 0; w < HS_TIER_WAYS; w++) {
        if (set[w].addr == addr)
            return &set[w];
        if (set[w].last_move < oldest->last_move)
            oldest = &set[w];
    }
    if (!create)
        return NULL;
    *oldest = (hs_tier_rec_t){.addr = addr};
    return oldest;
}

/* Whether a unit may move in this direction now (cool-down). */
static bool hs_may_move(uint64_t epoch, uintptr_t addr)
{
    hs_tier_rec_t *r = hs_rec(addr, false);
    return !r || epoch >= r->frozen_until;
}

/* A move back and forth: this move undoes the last, which undid the one
 * before, all within a minute (up, down, up again).  A unit promoted while
 * hot and demoted once idle is the normal course, not a bounce. */
static void hs_note_move(uint64_t epoch, uintptr_t addr, bool up)
{
    hs_tier_rec_t *r = hs_rec(addr, true);
    bool back = r->prev_move && r->up != up && r->prev_up != r->up && epoch < (uint64_t)r->prev_move + hs_minute_epochs;
    if (back) {
        hs_count(HS_CTR_TIER_MOVED_BACK, 1);
        hs_log(HS_LOG_DEBUG, "tiering: the unit at %#lx went %s at epoch %llu after moves at epochs %u and %u",
               (unsigned long)addr, up ? "up" : "down", (unsigned long long)epoch, r->prev_move, r->last_move);
    }
    r->backs = back ? (uint8_t)(r->backs < 255 ? r->backs + 1 : 255) : 0;
    unsigned shift = r->backs < 6 ? r->backs : 6;
    r->frozen_until = (uint32_t)(epoch + ((uint64_t)hs_cfg.cooldown_epochs << shift));
    r->prev_move = r->last_move;
    r->prev_up = r->up;
    r->last_move = (uint32_t)epoch;
    r->up = up;
}

static bool hs_policy_says_stay(uintptr_t addr)
{
    bool explicit_policy = false;
    if (hs_ops.explicit_policy(hs_ops.ctx, addr, &explicit_policy) == 0 && explicit_policy) {
        hs_count(HS_CTR_TIER_HELD_POLICY, 1);
        return true;
    }
    return false;
}

/* Move the planned units in batches of one destination; returns bytes moved
 * and fills each move's `to` with the node reached (or -1). */
static uint64_t hs_execute(uint64_t epoch, hs_tier_move_t *moves, size_t n, bool up, hs_hot_unit_t *units)
{
    uint64_t moved = 0;
    for (size_t at = 0; at < n;) {
        int dest = moves[at].to;
        size_t k = 0, first = at;
        while (at < n && moves[at].to == dest && k < HS_TIER_BATCH) {
            hs_pages[k] = (void *)moves[at].addr;
            hs_nodes[k] = dest;
            hs_status[k++] = -EINVAL;
            at++;
        }
        int64_t splits = hs_mend_before(hs_ops.thp_splits, hs_ops.ctx);
        long rc = hs_ops.move_pages(hs_ops.ctx, k, hs_pages, hs_nodes, hs_status);
        bool mend = rc >= 0 && hs_mend_needed(hs_ops.thp_splits, hs_ops.ctx, splits);
        for (size_t i = 0; i < k; i++) {
            hs_tier_move_t *m = &moves[first + i];
            int st = rc < 0 ? (int)rc : hs_status[i];
            if (st != dest) {
                hs_count(HS_CTR_TIER_FAILED, 1);
                m->to = -1;
                continue;
            }
            moved += m->bytes;
            hs_bytes_on[m->from] -= hs_bytes_on[m->from] >= m->bytes ? m->bytes : hs_bytes_on[m->from];
            hs_bytes_on[dest] += m->bytes;
            hs_count(up ? HS_CTR_TIER_PROMOTED_PAGES : HS_CTR_TIER_DEMOTED_PAGES, 1);
            hs_count(up ? HS_CTR_TIER_PROMOTED_BYTES : HS_CTR_TIER_DEMOTED_BYTES, m->bytes);
            hs_note_move(epoch, m->addr, up);
            if (mend && m->kind == HS_OS_KIND_THP)
                hs_mend_unit(hs_ops.mend, hs_ops.ctx, m->addr, HS_CTR_TIER_THP_SPLIT, HS_CTR_TIER_THP_MENDED);
            if (units && m->index != UINT32_MAX) {
                units[m->index].now = (int8_t)dest;
                units[m->index].moved = 1;
            }
        }
    }
    return moved;
}

/* Group moves by destination (insertion sort: a few hundred at most). */
static void hs_sort_by_dest(hs_tier_move_t *m, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        hs_tier_move_t x = m[i];
        size_t j = i;
        for (; j > 0 && m[j - 1].to > x.to; j--)
            m[j] = m[j - 1];
        m[j] = x;
    }
}

static bool hs_is_fast(int node)
{
    return node >= 0 && (hs_cfg.topo.fast >> node & 1);
}

static bool hs_is_slow(int node)
{
    return node >= 0 && (hs_cfg.topo.slow >> node & 1);
}

/* Where up to HS_TIER_SCAN_MAX of the regions' 2 MiB units are, from the
 * rotation cursor on: fills hs_cands (to = -1) and counts bytes per node. */
static size_t hs_scan(const hs_track_region_view_t *regions, size_t nregions)
{
    size_t total = 0;
    for (size_t r = 0; r < nregions; r++)
        if (regions[r].unit_shift >= 21 && regions[r].idle)
            total += regions[r].len >> regions[r].unit_shift;
    if (!total)
        return 0;
    if (hs_scan_from >= total)
        hs_scan_from = 0;
    size_t n = 0, seen = 0, skip = total > HS_TIER_SCAN_MAX ? hs_scan_from : 0;
    for (size_t r = 0; r < nregions && n < HS_TIER_SCAN_MAX; r++) {
        const hs_track_region_view_t *v = &regions[r];
        if (v->unit_shift < 21 || !v->idle)
            continue;
        size_t units = v->len >> v->unit_shift;
        for (size_t u = 0; u < units && n < HS_TIER_SCAN_MAX; u++, seen++) {
            if (seen < skip)
                continue;
            hs_cands[n++] = (hs_tier_move_t){.addr = v->start + (u << v->unit_shift),
                                             .bytes = (uint32_t)1 << v->unit_shift,
                                             .kind = v->kind,
                                             .from = -1,
                                             .to = -1,
                                             .idle = (uint8_t)hs_heat_idle_of(v->idle[u]),
                                             .index = UINT32_MAX};
        }
    }
    hs_scan_from = total > HS_TIER_SCAN_MAX ? hs_scan_from + n : 0;
    for (size_t at = 0; at < n; at += HS_TIER_BATCH) {
        size_t k = n - at < HS_TIER_BATCH ? n - at : HS_TIER_BATCH;
        for (size_t i = 0; i < k; i++)
            hs_pages[i] = (void *)hs_cands[at + i].addr;
        if (hs_ops.move_pages(hs_ops.ctx, k, hs_pages, NULL, hs_status) < 0)
            continue;
        for (size_t i = 0; i < k; i++)
            if (hs_status[i] >= 0 && hs_status[i] < hs_cfg.topo.nodes)
                hs_cands[at + i].from = (int8_t)hs_status[i];
    }
    memset(hs_bytes_on, 0, sizeof hs_bytes_on);
    hs_nslow = 0;
    for (size_t i = 0; i < n; i++) {
        if (hs_cands[i].from >= 0)
            hs_bytes_on[hs_cands[i].from] += hs_cands[i].bytes;
        if (hs_is_slow(hs_cands[i].from))
            hs_slow_units[hs_nslow++] = hs_cands[i].addr;
    }
    return n;
}

bool hs_tier_on_slow_node(uintptr_t unit)
{
    if (!hs_enabled)
        return false;
    size_t lo = 0, hi = hs_nslow;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (hs_slow_units[mid] < unit)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < hs_nslow && hs_slow_units[lo] == unit;
}

/* Demote idle units from fast nodes short of room: the longest idle first.
 * Units idle for idle_epochs or more make room for the watermark and for hot
 * units waiting below; while hot units wait, units a park found idle for
 * fewer epochs (at least one) go down too, for no more than those hot units'
 * bytes: a unit just seen unaccessed makes way for one just seen used. */
static void hs_demote(uint64_t epoch, size_t ncands, const int64_t *need, const int64_t *want_up)
{
    size_t planned = 0;
    int64_t left[HS_OS_MAX_NODES], hot_left[HS_OS_MAX_NODES], slow_room[HS_OS_MAX_NODES];
    bool any = false;
    for (int node = 0; node < hs_cfg.topo.nodes; node++) {
        left[node] = need[node];
        hot_left[node] = want_up[node] < need[node] ? want_up[node] : need[node];
        slow_room[node] = INT64_MIN;
        any |= need[node] > 0;
    }
    if (!any)
        return;
    for (unsigned level = HS_HEAT_IDLE_EPOCHS; level >= 1 && planned < HS_TIER_DOWN_MAX; level--) {
        bool brief = level < hs_cfg.idle_epochs;
        for (size_t i = 0; i < ncands && planned < HS_TIER_DOWN_MAX; i++) {
            hs_tier_move_t m = hs_cands[i];
            if (m.idle != level || !hs_is_fast(m.from) || left[m.from] <= 0 || (brief && hot_left[m.from] <= 0))
                continue;
            int to = hs_cfg.topo.down[m.from];
            if (to < 0)
                continue;
            if (!hs_may_move(epoch, m.addr)) {
                hs_count(HS_CTR_TIER_HELD_COOLING, 1);
                continue;
            }
            if (hs_tokens_down < m.bytes) {
                hs_count(HS_CTR_TIER_HELD_RATE_DOWN_BYTES, m.bytes);
                continue;
            }
            if (slow_room[to] == INT64_MIN)
                slow_room[to] = hs_ops.node_room(hs_ops.ctx, to, (hs_os_kind_t)m.kind);
            if (slow_room[to] >= 0 && slow_room[to] < (int64_t)m.bytes) {
                hs_count(HS_CTR_TIER_HELD_NO_ROOM, 1);
                continue;
            }
            if (hs_policy_says_stay(m.addr))
                continue;
            if (slow_room[to] >= 0)
                slow_room[to] -= m.bytes;
            hs_tokens_down -= m.bytes;
            left[m.from] -= m.bytes;
            hot_left[m.from] -= m.bytes;
            if (brief)
                hs_count(HS_CTR_TIER_DEMOTED_BRIEFLY_IDLE, 1);
            m.to = (int8_t)to;
            hs_down[planned++] = m;
        }
    }
    hs_sort_by_dest(hs_down, planned);
    hs_execute(epoch, hs_down, planned, false, NULL);
}

void hs_tier_epoch(uint64_t epoch, hs_hot_unit_t *units, size_t n, const hs_track_region_view_t *regions,
                   size_t nregions)
{
    if (!hs_enabled)
        return;
    hs_tier_epochs++;
    hs_count(HS_CTR_TIER_EPOCHS, 1);
    /* An epoch that ended early refills for its length only. */
    hs_tokens_up = hs_bucket_refill(hs_tokens_up, hs_cfg.rate_bytes_per_s, hs_epoch_ns, hs_cfg.interval_ns);
    hs_tokens_down = hs_bucket_refill(hs_tokens_down, hs_cfg.rate_bytes_per_s, hs_epoch_ns, hs_cfg.interval_ns);
    hs_epoch_ns = 0;

    /* What the hot units on slow nodes ask of each fast node (want_thp: of
     * those, THPs, which need free 2 MiB blocks there). */
    int64_t want_up[HS_OS_MAX_NODES] = {0}, want_thp[HS_OS_MAX_NODES] = {0}, need[HS_OS_MAX_NODES] = {0};
    uint64_t hot_fast = 0, hot_slow = 0;
    for (size_t i = 0; i < n; i++) {
        hs_hot_unit_t *u = &units[i];
        if (hs_is_fast(u->now))
            hot_fast += u->bytes;
        if (!hs_is_slow(u->now))
            continue;
        hot_slow += u->bytes;
        int to = hs_is_fast(u->wanted) ? u->wanted : hs_cfg.topo.up[u->now];
        if (to >= 0) {
            want_up[to] += u->bytes;
            if (u->kind == HS_OS_KIND_THP)
                want_thp[to] += u->bytes;
        }
    }
    int short_nodes = 0;
    bool needed = false;
    for (int node = 0; node < hs_cfg.topo.nodes; node++) {
        if (!hs_is_fast(node))
            continue;
        int64_t free_bytes = hs_ops.node_free(hs_ops.ctx, node);
        if (free_bytes < 0)
            continue;
        need[node] = hs_watermark[node] + want_up[node] - free_bytes;
        /* Free memory above the watermark is not room for a THP when it
         * lies in pieces: a node with free bytes and no free 2 MiB block
         * held every promotion to it for whole phases (the NUMA lab, after
         * a fill).  An idle THP moved down frees a block at once. */
        if (want_thp[node] > 0) {
            int64_t blocks = hs_ops.node_room(hs_ops.ctx, node, HS_OS_KIND_THP);
            if (blocks >= 0 && want_thp[node] - blocks > need[node])
                need[node] = want_thp[node] - blocks;
        }
        needed |= need[node] > 0;
        short_nodes += free_bytes < hs_watermark[node];
    }
    /* Locating every unit costs a query per unit: done when a fast node
     * needs room, and every 8th epoch for the report's bytes per tier. */
    if ((needed && hs_cfg.demote) || hs_tier_epochs % 8 == 1) {
        size_t ncands = hs_scan(regions, nregions);
        uint64_t idle_fast = 0;
        for (size_t i = 0; i < ncands; i++)
            if (hs_is_fast(hs_cands[i].from) && hs_cands[i].idle >= hs_cfg.idle_epochs)
                idle_fast += hs_cands[i].bytes;
        hs_counter_set(HS_CTR_TIER_IDLE_FAST_BYTES, idle_fast);
        if (needed && hs_cfg.demote)
            hs_demote(epoch, ncands, need, want_up);
    }

    /* Promote: hot units on slow nodes, while the target keeps its watermark. */
    static hs_tier_move_t up[HS_TIER_BATCH];
    size_t planned = 0;
    int64_t room[HS_OS_MAX_NODES * 4];
    for (size_t i = 0; i < sizeof room / sizeof room[0]; i++)
        room[i] = INT64_MIN;
    for (size_t i = 0; i < n && planned < HS_TIER_BATCH; i++) {
        hs_hot_unit_t *u = &units[i];
        if (!hs_is_slow(u->now))
            continue;
        int to = hs_is_fast(u->wanted) ? u->wanted : hs_cfg.topo.up[u->now];
        if (to < 0)
            continue;
        if (!hs_may_move(epoch, u->addr)) {
            hs_count(HS_CTR_TIER_HELD_COOLING, 1);
            continue;
        }
        if (hs_tokens_up < u->bytes) {
            hs_count(HS_CTR_TIER_HELD_RATE_UP_BYTES, u->bytes);
            continue;
        }
        int slot = to * 4 + (u->kind & 3);
        if (room[slot] == INT64_MIN) {
            room[slot] = hs_ops.node_room(hs_ops.ctx, to, (hs_os_kind_t)u->kind);
            /* Ordinary memory keeps the watermark (a THP also needs a free
             * 2 MiB block, node_room's answer); a hugetlb pool's free pages
             * are all usable. */
            int64_t free_bytes = hs_ops.node_free(hs_ops.ctx, to);
            if (u->kind != HS_OS_KIND_HUGETLB_2M && u->kind != HS_OS_KIND_HUGETLB_1G && free_bytes >= 0) {
                int64_t above = free_bytes > hs_watermark[to] ? free_bytes - hs_watermark[to] : 0;
                room[slot] = room[slot] >= 0 && room[slot] < above ? room[slot] : above;
            }
        }
        if (room[slot] >= 0 && room[slot] < (int64_t)u->bytes) {
            hs_count(HS_CTR_TIER_HELD_NO_ROOM, 1);
            continue;
        }
        if (hs_policy_says_stay(u->addr))
            continue;
        if (room[slot] >= 0)
            room[slot] -= u->bytes;
        hs_tokens_up -= u->bytes;
        up[planned++] = (hs_tier_move_t){.addr = u->addr, .bytes = u->bytes, .kind = u->kind, .from = u->now,
                                         .to = (int8_t)to, .index = (uint32_t)i};
    }
    hs_sort_by_dest(up, planned);
    uint64_t promoted = hs_execute(epoch, up, planned, true, units);
    hs_counter_set(HS_CTR_TIER_HOT_FAST_BYTES, hot_fast + promoted);
    hs_counter_set(HS_CTR_TIER_HOT_SLOW_BYTES, hot_slow - (promoted > hot_slow ? hot_slow : promoted));
    hs_counter_set(HS_CTR_TIER_SHORT_NODES, (uint64_t)short_nodes);
    uint64_t fast_bytes = 0, slow_bytes = 0;
    for (int node = 0; node < hs_cfg.topo.nodes; node++) {
        fast_bytes += hs_is_fast(node) ? hs_bytes_on[node] : 0;
        slow_bytes += hs_is_slow(node) ? hs_bytes_on[node] : 0;
    }
    hs_counter_set(HS_CTR_TIER_FAST_BYTES, fast_bytes);
    hs_counter_set(HS_CTR_TIER_SLOW_BYTES, slow_bytes);
    hs_log(HS_LOG_DEBUG, "tiering epoch %llu: hot %llu MiB fast, %llu MiB slow; %d fast node(s) short; %zu promoted",
           (unsigned long long)epoch, (unsigned long long)((hot_fast + promoted) >> 20),
           (unsigned long long)((hot_slow - (promoted > hot_slow ? hot_slow : promoted)) >> 20), short_nodes, planned);
}

void hs_tier_reset_for_tests(void)
{
    hs_enabled = false;
    hs_nslow = 0;
    if (hs_recs)
        memset(hs_recs, 0, HS_TIER_SETS * HS_TIER_WAYS * sizeof(hs_tier_rec_t));
}

static void hs_tier_on_epoch(void *ctx, hs_epoch_result_t *result)
{
    (void)ctx;
    hs_epoch_ns = result->ns;
    hs_tier_epoch(result->epoch, result->units, result->n, result->regions, result->nregions);
}

const hs_tracker_subscriber_t hs_tier_subscriber = {.epoch = hs_tier_on_epoch, .wants_regions = true, .ctx = NULL};

static void hs_node_list(uint64_t mask, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (int n = 0; n < HS_OS_MAX_NODES && len + 4 < cap; n++)
        if (mask >> n & 1)
            len += (size_t)snprintf(buf + len, cap - len, "%s%d", len ? "," : "", n);
}

static void hs_tier_report(void *ctx, hs_report_t *report)
{
    (void)ctx;
    if (!hs_enabled)
        return;
    static char fast[200], slow[200], keys[HS_OS_MAX_NODES][40];
    hs_node_list(hs_cfg.topo.fast, fast, sizeof fast);
    hs_node_list(hs_cfg.topo.slow, slow, sizeof slow);
    hs_report_add(report, (hs_report_field_t){"tiering.fast_nodes", HS_FIELD_STRING, 0, fast});
    hs_report_add(report, (hs_report_field_t){"tiering.slow_nodes", HS_FIELD_STRING, 0, slow});
    for (int node = 0; node < hs_cfg.topo.nodes; node++) {
        if (!((hs_cfg.topo.fast | hs_cfg.topo.slow) >> node & 1) || hs_cfg.topo.tier[node] < 0)
            continue;
        snprintf(keys[node], sizeof keys[node], "tiering.kernel_tier.node%d", node);
        hs_report_add(report,
                      (hs_report_field_t){keys[node], HS_FIELD_NUMBER, (uint64_t)hs_cfg.topo.tier[node], NULL});
    }
}

const hs_report_section_t hs_tier_report_section = {.prefix = "tiering", .add = hs_tier_report, .ctx = NULL};
