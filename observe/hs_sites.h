/* hs_sites.h: sampled allocation sites (HUGESHIM_SITES=1).
 *
 * Sampling: each thread counts down the bytes it allocates; when the count
 * crosses zero the allocation is sampled and a new count is drawn from an
 * exponential distribution with mean HUGESHIM_SITES_INTERVAL (as jemalloc's
 * and TCMalloc's samplers do), so every byte has the same chance of being
 * sampled whatever the size of the allocation holding it.  A sampled
 * allocation of size S stands for S / (1 - exp(-S/interval)) bytes (its
 * weight): about `interval` for small allocations, S for large ones.
 *
 * A sample records its call stack (libunwind's unw_backtrace, local-only,
 * loaded with dlopen(RTLD_LOCAL) so that its _Unwind_* symbols never replace
 * the program's) in a fixed-size stack table, deduplicated by hash, and the
 * allocation in a fixed-size table of live samples.  Both tables are mapped
 * once; inserting and removing are lock-free (compare-and-swap on a slot),
 * and the path never calls malloc.  The unwinder is the one part that takes
 * locks (libunwind's caches): a fork while another thread is inside it would
 * leave them held in the child, whose first sample would then wait forever.
 * So unwinding holds hs_sites' own lock, which hs_sites_prefork() takes
 * before the fork and the fork's two sides release.  A thread already inside
 * the sampler (a signal handler allocating, say) is not sampled again.  free() first tests a counting
 * filter of the live samples' addresses: one load for almost every free.
 *
 * Each epoch the tracker hands the hot units (address order, with the node
 * they are on and whether they moved, when placement runs) to
 * hs_sites_epoch(), which attributes them to the live samples that overlap
 * them: per site, live bytes, hot bytes (last epoch, peak, sum over epochs),
 * hot bytes per node, bytes moved.  The report ranks sites by hot bytes and
 * by live bytes and symbolizes their frames then (observe/symbols.c), never on
 * the allocation path.
 *
 * What sampling can miss: a site that allocates much less than the interval
 * in all may never be sampled; realloc counts as a free and a new
 * allocation; a program mmap unmapped in part keeps its sample until the
 * whole of it is unmapped at its start address. */
#ifndef HS_SITES_H
#define HS_SITES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../track/hs_tracker.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HS_SITES_DEPTH 24      /* frames kept per stack */
#define HS_SITES_PROBES 64     /* slots tried from a key's home slot */
#define HS_SITES_LIVE (1u << 16)
#define HS_SITES_LABELS 1024   /* ranges hs_sites_label labels */

typedef struct hs_sites_config {
    uint64_t interval_bytes; /* mean bytes between samples */
    unsigned max_sites;      /* stack table slots (rounded up to a power of two) */
    int nodes;               /* node ids 0..nodes-1 get per-node bytes */
    /* NULL: libunwind's unw_backtrace, loaded here.  Tests pass a fake. */
    int (*backtrace)(void **frames, int max);
} hs_sites_config_t;

typedef struct hs_site_stats {
    unsigned depth;
    uintptr_t frames[HS_SITES_DEPTH];
    uint64_t samples;      /* allocations sampled */
    uint64_t allocated;    /* estimated bytes allocated over the run */
    uint64_t allocations;  /* estimated allocations */
    uint64_t live;         /* estimated bytes live at the last epoch (or refresh) */
    uint64_t live_peak;
    uint64_t hot;          /* hot bytes at the last epoch */
    uint64_t hot_peak;
    uint64_t hot_sum;      /* hot bytes summed over epochs: rank by this */
    uint64_t moved;        /* bytes moved by placement */
    uint64_t on_node[HS_OS_MAX_NODES]; /* hot bytes on each node at the last epoch */
} hs_site_stats_t;

/* 0 when sites are on; -errno (and why) when they cannot be. */
int hs_sites_init(const hs_sites_config_t *config, char *why, size_t why_len);
bool hs_sites_enabled(void);

/* The allocation path (shim/malloc.c, shim/mmap.c).  Hidden: reached
 * without the GOT. */
#define HS_SITES_FILTER_BITS 16
#define HS_SITES_HIDDEN __attribute__((visibility("hidden")))
extern HS_SITES_HIDDEN bool hs_sites_on;
extern HS_SITES_HIDDEN uint16_t *hs_sites_filter; /* counts of live samples per address hash */
extern HS_SITES_HIDDEN __thread int64_t hs_sites_left __attribute__((tls_model("initial-exec")));
void hs_sites_sample(void *ptr, size_t size);
void hs_sites_forget(const void *ptr);

static inline size_t hs_sites_filter_index(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ULL >> (64 - HS_SITES_FILTER_BITS));
}
/* Whether ptr may be a live sample: one load for almost every free. */
static inline bool hs_sites_maybe_live(const void *ptr)
{
    return ptr && __atomic_load_n(&hs_sites_filter[hs_sites_filter_index(ptr)], __ATOMIC_RELAXED) != 0;
}

static inline void hs_sites_note_alloc(void *ptr, size_t size)
{
    if (__builtin_expect(hs_sites_on, 0) && ptr && (hs_sites_left -= (int64_t)size) < 0)
        hs_sites_sample(ptr, size);
}
static inline void hs_sites_note_free(const void *ptr)
{
    if (__builtin_expect(hs_sites_on, 0) && hs_sites_maybe_live(ptr))
        hs_sites_forget(ptr);
}

/* Around fork (atfork handlers registered after jemalloc's, so that the
 * prepare handler runs before jemalloc takes its locks: the unwinder may
 * allocate; and the shim's _Fork): no thread is inside the unwinder while
 * the process forks, and the forking thread is not sampled until the fork is
 * over. */
void hs_sites_prefork(void);
void hs_sites_postfork_parent(void);
void hs_sites_postfork_child(void);

/* The epoch thread: attribute this epoch's hot units (sorted by address). */
void hs_sites_epoch(const hs_hot_unit_t *hot, size_t n);
/* hs_sites_epoch as the tracker's subscriber. */
extern const hs_tracker_subscriber_t hs_sites_subscriber;
/* Recount live bytes (for a report without tracking). */
void hs_sites_refresh_live(void);
/* Site ids ranked by hot_sum (by_hot) or live_peak; returns how many. */
size_t hs_sites_top(bool by_hot, unsigned *out, size_t max);
bool hs_sites_get(unsigned id, hs_site_stats_t *out);
/* For each of n ranges (at most HS_SITES_LABELS are labelled) (sorted by address, disjoint), the site with the
 * most live sampled bytes starting in it (-1: none), and those bytes.  One
 * pass over the live samples. */
void hs_sites_label(const uintptr_t *starts, const size_t *lens, size_t n, int *site, uint64_t *bytes);
/* Samples, sites in use, samples lost to a full stack table / live table,
 * samples skipped because the thread was already sampling. */
typedef struct hs_sites_totals {
    uint64_t samples, sites, table_full, live_full, reentered, epochs;
    uint64_t interval;
} hs_sites_totals_t;
void hs_sites_get_totals(hs_sites_totals_t *out);

/* Render the report's `sites` section: JSON (an object) or a text table. */
size_t hs_sites_render(bool json, size_t top, char *buf, size_t cap);
/* The JSON report's "sites" block (top 10 by hot and by live bytes), when
 * sites are on; the live samples are refreshed first. */
extern const hs_report_section_t hs_sites_report_section;

/* Tests only. */
void hs_sites_reset_for_tests(void);

#ifdef __cplusplus
}
#endif
#endif
