/* sites.c: sampled allocation sites: the stack table, the live samples,
 * attribution of hot units, and the report's sites section. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../common/hs_range.h"
#include "../allocator/hs_registry.h"
#include "hs_sites.h"
#include "hs_symbols.h"

#define HS_LIVE_EMPTY 0
#define HS_LIVE_GONE 1 /* tombstone: reusable, lookups go on past it */
#define HS_LIVE_BUSY 2 /* being filled */
#define HS_SITE_OVERFLOW 0 /* stands for samples whose stack found no slot */

typedef struct hs_site {
    uint64_t hash;  /* 0: empty slot */
    uint32_t ready; /* frames written (release) */
    uint32_t depth;
    uintptr_t frames[HS_SITES_DEPTH];
    /* Any thread, atomically: */
    uint64_t samples, allocated, allocations;
    /* The epoch thread only: */
    uint64_t live, live_peak, hot, hot_peak, hot_sum, moved;
    uint64_t on_node[HS_OS_MAX_NODES];
} hs_site_t;

typedef struct hs_live {
    uintptr_t ptr; /* or HS_LIVE_* */
    uint64_t size;
    uint64_t weight;
    uint32_t site;
    uint32_t pad;
} hs_live_t;

typedef struct hs_sampler {
    uint64_t rng;
    int busy;
    int seeded;
} hs_sampler_t;

bool hs_sites_on;
__thread int64_t hs_sites_left __attribute__((tls_model("initial-exec")));
static __thread hs_sampler_t hs_me __attribute__((tls_model("initial-exec")));
/* Held while unwinding, and by a forking thread from its prepare handler to
 * the end of the fork: the unwinder's own locks are then free in the child. */
static pthread_mutex_t hs_unwind_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int hs_fork_busy __attribute__((tls_model("initial-exec")));

static hs_sites_config_t hs_cfg;
static hs_site_t *hs_sites;
static size_t hs_sites_mask;
static hs_live_t *hs_live;
uint16_t *hs_sites_filter;
static uintptr_t hs_self_lo, hs_self_hi; /* hugeshim's own code: frames skipped */
static uint64_t hs_epochs;
static uint64_t hs_table_full, hs_live_full, hs_reentered, hs_samples, hs_used;

static void *hs_map_zeroed(size_t bytes)
{
    void *p = NULL;
    return hs_os_map_plain(bytes, &p) == 0 ? p : NULL;
}

static int hs_find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t me = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        lo = s < lo ? s : lo;
        hi = e > hi ? e : hi;
    }
    if (me >= lo && me < hi) {
        hs_self_lo = lo;
        hs_self_hi = hi;
        return 1;
    }
    return 0;
}

int hs_sites_init(const hs_sites_config_t *config, char *why, size_t why_len)
{
    hs_cfg = *config;
    if (!hs_cfg.interval_bytes)
        hs_cfg.interval_bytes = 2u << 20;
    if (!hs_cfg.backtrace) {
        /* RTLD_LOCAL: libunwind's _Unwind_* must not replace libgcc's for
         * the program's C++ exceptions. */
        void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
        if (lib)
            hs_cfg.backtrace = (int (*)(void **, int))dlsym(lib, "unw_backtrace");
        if (!hs_cfg.backtrace) {
            snprintf(why, why_len, "libunwind (libunwind.so.8, Debian package libunwind8) cannot be loaded: %s",
                     dlerror());
            return -ENOENT;
        }
    }
    size_t slots = 16;
    while (slots < hs_cfg.max_sites && slots < (1u << 24))
        slots <<= 1;
    hs_sites = hs_map_zeroed(slots * sizeof(hs_site_t));
    hs_live = hs_map_zeroed(HS_SITES_LIVE * sizeof(hs_live_t));
    hs_sites_filter = hs_map_zeroed(sizeof(uint16_t) << HS_SITES_FILTER_BITS);
    if (!hs_sites || !hs_live || !hs_sites_filter) {
        snprintf(why, why_len, "cannot map the site tables (%zu sites)", slots);
        return -ENOMEM;
    }
    hs_sites_mask = slots - 1;
    hs_sites[HS_SITE_OVERFLOW].hash = 1;
    hs_sites[HS_SITE_OVERFLOW].ready = 1;
    dl_iterate_phdr(hs_find_self, (void *)(uintptr_t)&hs_sites_sample);
    /* Frees are watched before the first sample is taken. */
    hs_registry_watch_frees(true);
    __atomic_store_n(&hs_sites_on, true, __ATOMIC_RELEASE);
    return 0;
}

bool hs_sites_enabled(void)
{
    return hs_sites_on;
}

/* ---- the allocation path ------------------------------------------------------- */

static uint64_t hs_next_random(hs_sampler_t *s)
{
    /* xorshift64* */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1DULL;
}

/* Bytes to the next sample: exponential with mean interval. */
static int64_t hs_draw(hs_sampler_t *s)
{
    double u = ((double)(hs_next_random(s) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    double d = -log(u) * (double)hs_cfg.interval_bytes;
    return d > 4e18 ? (int64_t)4e18 : (int64_t)d + 1;
}

static uint64_t hs_hash_frames(const uintptr_t *f, unsigned n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    for (unsigned i = 0; i < n; i++) {
        h ^= f[i];
        h *= 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h | 2; /* never 0 (empty) nor 1 (the overflow site) */
}

static uint32_t hs_site_intern(const uintptr_t *f, unsigned n)
{
    uint64_t h = hs_hash_frames(f, n);
    for (unsigned probe = 0; probe < HS_SITES_PROBES; probe++) {
        size_t i = (size_t)(h + probe) & hs_sites_mask;
        if (i == HS_SITE_OVERFLOW)
            continue;
        hs_site_t *s = &hs_sites[i];
        uint64_t seen = __atomic_load_n(&s->hash, __ATOMIC_ACQUIRE);
        if (seen == 0) {
            if (__atomic_compare_exchange_n(&s->hash, &seen, h, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                s->depth = n;
                memcpy(s->frames, f, n * sizeof *f);
                __atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
                __atomic_fetch_add(&hs_used, 1, __ATOMIC_RELAXED);
                return (uint32_t)i;
            }
        }
        if (seen != h)
            continue;
        /* Another thread is filling this slot: wait a little for it. */
        for (int spin = 0; spin < 10000 && !__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE); spin++)
            __builtin_ia32_pause();
        if (__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) && s->depth == n && !memcmp(s->frames, f, n * sizeof *f))
            return (uint32_t)i;
    }
    __atomic_fetch_add(&hs_table_full, 1, __ATOMIC_RELAXED);
    return HS_SITE_OVERFLOW;
}

static void hs_live_insert(void *p, uint64_t size, uint64_t weight, uint32_t site)
{
    size_t home = hs_sites_filter_index(p) & (HS_SITES_LIVE - 1);
    for (unsigned probe = 0; probe < HS_SITES_PROBES; probe++) {
        hs_live_t *e = &hs_live[(home + probe) & (HS_SITES_LIVE - 1)];
        uintptr_t seen = __atomic_load_n(&e->ptr, __ATOMIC_ACQUIRE);
        if (seen != HS_LIVE_EMPTY && seen != HS_LIVE_GONE)
            continue;
        if (!__atomic_compare_exchange_n(&e->ptr, &seen, HS_LIVE_BUSY, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        e->size = size;
        e->weight = weight;
        e->site = site;
        __atomic_fetch_add(&hs_sites_filter[hs_sites_filter_index(p)], 1, __ATOMIC_RELAXED);
        __atomic_store_n(&e->ptr, (uintptr_t)p, __ATOMIC_RELEASE);
        return;
    }
    __atomic_fetch_add(&hs_live_full, 1, __ATOMIC_RELAXED);
}

void hs_sites_sample(void *ptr, size_t size)
{
    hs_sampler_t *me = &hs_me;
    if (!hs_sites_on)
        return;
    if (me->busy) {
        __atomic_fetch_add(&hs_reentered, 1, __ATOMIC_RELAXED);
        hs_sites_left = (int64_t)hs_cfg.interval_bytes;
        return;
    }
    me->busy = 1;
    if (!me->seeded) {
        /* A thread's first count is drawn, not zero: the first allocation of
         * every thread is not sampled by default. */
        me->rng = ((uint64_t)hs_os_gettid() << 32) ^ (uint64_t)(uintptr_t)me ^ hs_os_now_ns() ^ 0x9E3779B97F4A7C15ULL;
        me->seeded = 1;
        hs_sites_left += hs_draw(me);
        if (hs_sites_left >= 0) {
            me->busy = 0;
            return;
        }
    }
    hs_sites_left = hs_draw(me);
    void *raw[HS_SITES_DEPTH + 8];
    pthread_mutex_lock(&hs_unwind_lock);
    int got = hs_cfg.backtrace(raw, HS_SITES_DEPTH + 8);
    pthread_mutex_unlock(&hs_unwind_lock);
    uintptr_t frames[HS_SITES_DEPTH];
    unsigned n = 0;
    int i = 0;
    while (i < got && (uintptr_t)raw[i] >= hs_self_lo && (uintptr_t)raw[i] < hs_self_hi)
        i++; /* hugeshim's own frames: the sampler, malloc */
    for (; i < got && n < HS_SITES_DEPTH; i++)
        if (raw[i])
            frames[n++] = (uintptr_t)raw[i];
    uint32_t site = hs_site_intern(frames, n);
    double s = (double)(size ? size : 1), t = (double)hs_cfg.interval_bytes;
    double weight = s / -expm1(-s / t);
    hs_site_t *st = &hs_sites[site];
    __atomic_fetch_add(&st->samples, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->allocated, (uint64_t)weight, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->allocations, (uint64_t)(weight / s + 0.5), __ATOMIC_RELAXED);
    __atomic_fetch_add(&hs_samples, 1, __ATOMIC_RELAXED);
    hs_live_insert(ptr, size, (uint64_t)weight, site);
    me->busy = 0;
}

void hs_sites_prefork(void)
{
    /* Busy first: what the other prepare handlers allocate is not sampled
     * by this thread, which holds the lock. */
    hs_fork_busy = hs_me.busy;
    hs_me.busy = 1;
    pthread_mutex_lock(&hs_unwind_lock);
}

void hs_sites_postfork_parent(void)
{
    pthread_mutex_unlock(&hs_unwind_lock);
    hs_me.busy = hs_fork_busy;
}

void hs_sites_postfork_child(void)
{
    pthread_mutex_init(&hs_unwind_lock, NULL);
    hs_me.busy = hs_fork_busy;
}

void hs_sites_forget(const void *ptr)
{
    size_t home = hs_sites_filter_index(ptr) & (HS_SITES_LIVE - 1);
    for (unsigned probe = 0; probe < HS_SITES_PROBES; probe++) {
        hs_live_t *e = &hs_live[(home + probe) & (HS_SITES_LIVE - 1)];
        uintptr_t seen = __atomic_load_n(&e->ptr, __ATOMIC_ACQUIRE);
        if (seen == HS_LIVE_EMPTY)
            return;
        if (seen != (uintptr_t)ptr)
            continue;
        if (__atomic_compare_exchange_n(&e->ptr, &seen, HS_LIVE_GONE, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            __atomic_fetch_sub(&hs_sites_filter[hs_sites_filter_index(ptr)], 1, __ATOMIC_RELAXED);
        return;
    }
}

/* ---- the epoch thread ------------------------------------------------------------ */

/* A consistent copy of a live entry, false when the slot holds none. */
static bool hs_live_read(size_t i, hs_live_t *out)
{
    hs_live_t *e = &hs_live[i];
    uintptr_t p = __atomic_load_n(&e->ptr, __ATOMIC_ACQUIRE);
    if (p <= HS_LIVE_BUSY)
        return false;
    out->size = e->size;
    out->weight = e->weight;
    out->site = e->site;
    out->ptr = p;
    return __atomic_load_n(&e->ptr, __ATOMIC_ACQUIRE) == p && out->site <= hs_sites_mask;
}

static uintptr_t hs_hot_end(const void *ctx, size_t i)
{
    const hs_hot_unit_t *u = (const hs_hot_unit_t *)ctx + i;
    return u->addr + u->bytes;
}

/* The first unit of hot[0..n) that ends after addr. */
static size_t hs_first_after(const hs_hot_unit_t *hot, size_t n, uintptr_t addr)
{
    return hs_range_first_ending_after(n, addr, hs_hot_end, hot);
}

static void hs_attribute(const hs_hot_unit_t *hot, size_t n, bool count_hot)
{
    for (size_t i = 0; i <= hs_sites_mask; i++) {
        hs_site_t *s = &hs_sites[i];
        if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE))
            continue;
        s->live = 0;
        if (count_hot) {
            s->hot = 0;
            memset(s->on_node, 0, sizeof s->on_node);
        }
    }
    for (size_t i = 0; i < HS_SITES_LIVE; i++) {
        hs_live_t e;
        if (!hs_live_read(i, &e))
            continue;
        hs_site_t *s = &hs_sites[e.site];
        s->live += e.weight;
        uintptr_t start = e.ptr, end = e.ptr + (e.size ? e.size : 1);
        for (size_t u = hs_first_after(hot, n, start); count_hot && u < n && hot[u].addr < end; u++) {
            uintptr_t a = hot[u].addr > start ? hot[u].addr : start;
            uintptr_t b = hot[u].addr + hot[u].bytes < end ? hot[u].addr + hot[u].bytes : end;
            /* The sample's weight spread over its bytes: a small allocation
             * in a hot unit stands for `interval` hot bytes of its site. */
            uint64_t share = (uint64_t)((double)e.weight * (double)(b - a) / (double)(end - start));
            s->hot += share;
            if (hot[u].now >= 0 && hot[u].now < HS_OS_MAX_NODES)
                s->on_node[hot[u].now] += share;
            if (hot[u].moved)
                s->moved += share;
        }
    }
    for (size_t i = 0; i <= hs_sites_mask; i++) {
        hs_site_t *s = &hs_sites[i];
        if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE))
            continue;
        s->live_peak = s->live > s->live_peak ? s->live : s->live_peak;
        if (count_hot) {
            s->hot_peak = s->hot > s->hot_peak ? s->hot : s->hot_peak;
            s->hot_sum += s->hot;
        }
    }
}

void hs_sites_epoch(const hs_hot_unit_t *hot, size_t n)
{
    if (!hs_sites_on)
        return;
    hs_attribute(hot, n, true);
    hs_epochs++;
}

void hs_sites_refresh_live(void)
{
    if (hs_sites_on)
        hs_attribute(NULL, 0, false);
}

typedef struct hs_label_ranges {
    const uintptr_t *starts;
    const size_t *lens;
} hs_label_ranges_t;

static uintptr_t hs_label_end(const void *ctx, size_t i)
{
    const hs_label_ranges_t *r = ctx;
    return r->starts[i] + r->lens[i];
}

void hs_sites_label(const uintptr_t *starts, const size_t *lens, size_t n, int *site, uint64_t *bytes)
{
    hs_label_ranges_t labels = {starts, lens};
    /* A few candidate sites per range (a range holds few sites' big
     * allocations; small objects of many sites share the arenas' ranges,
     * where the leader among the candidates seen is good enough). */
    enum { K = 8 };
    static struct { uint32_t site; uint64_t bytes; } cand[HS_SITES_LABELS][K];
    size_t m = n < HS_SITES_LABELS ? n : HS_SITES_LABELS;
    memset(cand, 0, m * sizeof cand[0]);
    for (size_t i = 0; i < m; i++) {
        site[i] = -1;
        bytes[i] = 0;
    }
    if (!hs_sites_on)
        return;
    for (size_t i = 0; i < HS_SITES_LIVE; i++) {
        hs_live_t e;
        if (!hs_live_read(i, &e))
            continue;
        size_t lo = hs_range_first_ending_after(m, e.ptr, hs_label_end, &labels);
        if (lo >= m || e.ptr < starts[lo])
            continue;
        int k, weakest = 0;
        for (k = 0; k < K && cand[lo][k].bytes && cand[lo][k].site != e.site; k++)
            if (cand[lo][k].bytes < cand[lo][weakest].bytes)
                weakest = k;
        if (k == K)
            k = weakest; /* replaced: a rough count, enough for a label */
        if (cand[lo][k].site != e.site || !cand[lo][k].bytes)
            cand[lo][k].site = e.site, cand[lo][k].bytes = 0;
        cand[lo][k].bytes += e.weight;
    }
    for (size_t i = 0; i < m; i++)
        for (int k = 0; k < K; k++)
            if (cand[i][k].bytes > bytes[i]) {
                bytes[i] = cand[i][k].bytes;
                site[i] = (int)cand[i][k].site;
            }
}

static uint64_t hs_rank_key(const hs_site_t *s, bool by_hot)
{
    return by_hot ? s->hot_sum : s->live_peak;
}

size_t hs_sites_top(bool by_hot, unsigned *out, size_t max)
{
    size_t n = 0;
    if (!hs_sites_on)
        return 0;
    for (size_t i = 0; i <= hs_sites_mask; i++) {
        const hs_site_t *s = &hs_sites[i];
        if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) || !s->samples || !hs_rank_key(s, by_hot))
            continue;
        /* Insertion into the sorted top list (max is small). */
        size_t at = n < max ? n : max;
        while (at > 0 && hs_rank_key(&hs_sites[out[at - 1]], by_hot) < hs_rank_key(s, by_hot))
            at--;
        if (at >= max)
            continue;
        size_t last = n < max ? n : max - 1;
        memmove(out + at + 1, out + at, (last - at) * sizeof *out);
        out[at] = (unsigned)i;
        if (n < max)
            n++;
    }
    return n;
}

bool hs_sites_get(unsigned id, hs_site_stats_t *out)
{
    if (!hs_sites_on || id > hs_sites_mask || !__atomic_load_n(&hs_sites[id].ready, __ATOMIC_ACQUIRE))
        return false;
    const hs_site_t *s = &hs_sites[id];
    memset(out, 0, sizeof *out);
    out->depth = s->depth;
    memcpy(out->frames, s->frames, sizeof out->frames);
    out->samples = __atomic_load_n(&s->samples, __ATOMIC_RELAXED);
    out->allocated = __atomic_load_n(&s->allocated, __ATOMIC_RELAXED);
    out->allocations = __atomic_load_n(&s->allocations, __ATOMIC_RELAXED);
    out->live = s->live;
    out->live_peak = s->live_peak;
    out->hot = s->hot;
    out->hot_peak = s->hot_peak;
    out->hot_sum = s->hot_sum;
    out->moved = s->moved;
    memcpy(out->on_node, s->on_node, sizeof out->on_node);
    return true;
}

void hs_sites_get_totals(hs_sites_totals_t *out)
{
    out->samples = __atomic_load_n(&hs_samples, __ATOMIC_RELAXED);
    out->sites = __atomic_load_n(&hs_used, __ATOMIC_RELAXED);
    out->table_full = __atomic_load_n(&hs_table_full, __ATOMIC_RELAXED);
    out->live_full = __atomic_load_n(&hs_live_full, __ATOMIC_RELAXED);
    out->reentered = __atomic_load_n(&hs_reentered, __ATOMIC_RELAXED);
    out->epochs = hs_epochs;
    out->interval = hs_cfg.interval_bytes;
}

/* ---- the report ----------------------------------------------------------------- */

static void hs_render_site_json(hs_out_t *b, unsigned id, const char *indent)
{
    hs_site_stats_t s;
    if (!hs_sites_get(id, &s))
        return;
    hs_out_printf(b, "{\n%s  \"id\": %u,\n", indent, id);
    hs_out_printf(b, "%s  \"hot_bytes\": %llu,\n%s  \"hot_avg_bytes\": %llu,\n%s  \"hot_peak_bytes\": %llu,\n", indent,
           (unsigned long long)s.hot, indent, (unsigned long long)(hs_epochs ? s.hot_sum / hs_epochs : 0), indent,
           (unsigned long long)s.hot_peak);
    hs_out_printf(b, "%s  \"live_bytes\": %llu,\n%s  \"live_peak_bytes\": %llu,\n", indent, (unsigned long long)s.live,
           indent, (unsigned long long)s.live_peak);
    hs_out_printf(b, "%s  \"allocated_bytes\": %llu,\n%s  \"allocations\": %llu,\n%s  \"samples\": %llu,\n", indent,
           (unsigned long long)s.allocated, indent, (unsigned long long)s.allocations, indent,
           (unsigned long long)s.samples);
    hs_out_printf(b, "%s  \"moved_bytes\": %llu,\n%s  \"hot_bytes_on\": {", indent, (unsigned long long)s.moved, indent);
    bool first = true;
    for (int node = 0; node < hs_cfg.nodes && node < HS_OS_MAX_NODES; node++) {
        hs_out_printf(b, "%s\"node%d\": %llu", first ? "" : ", ", node, (unsigned long long)s.on_node[node]);
        first = false;
    }
    hs_out_printf(b, "},\n%s  \"frames\": [", indent);
    if (id == HS_SITE_OVERFLOW) {
        hs_out_printf(b, "\"(stack table full: HUGESHIM_SITES_MAX)\"");
    }
    for (unsigned f = 0; f < s.depth; f++) {
        char text[512];
        hs_symbolize(s.frames[f], text, sizeof text);
        hs_out_printf(b, "%s\n%s    ", f ? "," : "", indent);
        hs_out_json_string(b, text);
    }
    hs_out_printf(b, "]\n%s}", indent);
}

static void hs_render_site_text(hs_out_t *b, unsigned rank, unsigned id)
{
    hs_site_stats_t s;
    char hot[32], live[32], alloc[32];
    if (!hs_sites_get(id, &s))
        return;
    hs_format_bytes(hs_epochs ? s.hot_sum / hs_epochs : 0, hot, sizeof hot);
    hs_format_bytes(s.live_peak, live, sizeof live);
    hs_format_bytes(s.allocated, alloc, sizeof alloc);
    char first[512] = "(stack table full: HUGESHIM_SITES_MAX)";
    if (s.depth)
        hs_symbolize(s.frames[0], first, sizeof first);
    hs_out_printf(b, "  %2u  %10s %10s %10s  %s\n", rank, hot, live, alloc, first);
    for (unsigned f = 1; f < s.depth && f < 6; f++) {
        char text[512];
        hs_symbolize(s.frames[f], text, sizeof text);
        hs_out_printf(b, "  %38s  %s\n", "", text);
    }
}

size_t hs_sites_render(bool json, size_t top, char *buf, size_t cap)
{
    hs_out_t b = {buf, cap, 0, false};
    unsigned by_hot[32], by_live[32];
    if (top > 32)
        top = 32;
    size_t nh = hs_sites_top(true, by_hot, top), nl = hs_sites_top(false, by_live, top);
    hs_sites_totals_t t;
    hs_sites_get_totals(&t);
    if (json) {
        hs_out_printf(&b, "{\n    \"interval_bytes\": %llu,\n    \"samples\": %llu,\n    \"sites\": %llu,\n",
               (unsigned long long)t.interval, (unsigned long long)t.samples, (unsigned long long)t.sites);
        hs_out_printf(&b, "    \"table_full\": %llu,\n    \"live_table_full\": %llu,\n    \"reentered\": %llu,\n",
               (unsigned long long)t.table_full, (unsigned long long)t.live_full, (unsigned long long)t.reentered);
        hs_out_printf(&b, "    \"symbolizer\": \"%s\",\n    \"by_hot\": [", hs_symbolizer_name());
        for (size_t i = 0; i < nh; i++) {
            hs_out_printf(&b, "%s\n      ", i ? "," : "");
            hs_render_site_json(&b, by_hot[i], "      ");
        }
        hs_out_printf(&b, "],\n    \"by_live\": [");
        for (size_t i = 0; i < nl; i++) {
            hs_out_printf(&b, "%s\n      ", i ? "," : "");
            hs_render_site_json(&b, by_live[i], "      ");
        }
        hs_out_printf(&b, "]\n  }");
    } else {
        hs_out_printf(&b, "allocation sites: %llu samples (one per %llu bytes on average), %llu sites, %llu lost to a full "
                   "table\n",
               (unsigned long long)t.samples, (unsigned long long)t.interval, (unsigned long long)t.sites,
               (unsigned long long)(t.table_full + t.live_full));
        hs_out_printf(&b, "  top sites by hot bytes (average over %llu epochs):\n   #    hot avg  live peak  allocated  "
                   "frames\n",
               (unsigned long long)hs_epochs);
        for (size_t i = 0; i < nh; i++)
            hs_render_site_text(&b, (unsigned)i + 1, by_hot[i]);
        hs_out_printf(&b, "  top sites by live bytes (peak):\n   #    hot avg  live peak  allocated  frames\n");
        for (size_t i = 0; i < nl; i++)
            hs_render_site_text(&b, (unsigned)i + 1, by_live[i]);
    }
    if (b.overflow) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    return b.len;
}

void hs_sites_reset_for_tests(void)
{
    __atomic_store_n(&hs_sites_on, false, __ATOMIC_RELEASE);
    hs_registry_watch_frees(false);
    if (hs_sites)
        hs_os_munmap(hs_sites, (hs_sites_mask + 1) * sizeof(hs_site_t));
    if (hs_live)
        hs_os_munmap(hs_live, HS_SITES_LIVE * sizeof(hs_live_t));
    if (hs_sites_filter)
        hs_os_munmap(hs_sites_filter, sizeof(uint16_t) << HS_SITES_FILTER_BITS);
    hs_sites = NULL;
    hs_live = NULL;
    hs_sites_filter = NULL;
    hs_sites_mask = 0;
    hs_epochs = hs_table_full = hs_live_full = hs_reentered = hs_samples = hs_used = 0;
    hs_me.seeded = 0;
    hs_sites_left = 0;
}

static void hs_sites_on_epoch(void *ctx, hs_epoch_result_t *result)
{
    (void)ctx;
    hs_sites_epoch(result->units, result->n);
}

const hs_tracker_subscriber_t hs_sites_subscriber = {.epoch = hs_sites_on_epoch, .wants_regions = false, .ctx = NULL};

static void hs_sites_report(void *ctx, hs_report_t *report)
{
    (void)ctx;
    static char buf[256 * 1024];
    if (!hs_sites_enabled())
        return;
    hs_sites_refresh_live();
    size_t len = hs_sites_render(true, 10, buf, sizeof buf);
    hs_report_add(report, (hs_report_field_t){"sites", HS_FIELD_RAW, 0, len ? buf : NULL});
}

const hs_report_section_t hs_sites_report_section = {.prefix = "sites", .add = hs_sites_report, .ctx = NULL};
