/* heap.c: jemalloc extent hooks over the backing.
 * jemalloc ignores opt.thp and its HPA for arenas with custom hooks, so the
 * hooks align and advise memory themselves (through the backing).  Rules the
 * hooks keep: never call malloc; return exactly new_addr or NULL; preserve
 * errno, since the program never asked for the mmaps tried and failed here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <jemalloc/jemalloc.h>

#include "../common/hs_counters.h"
#include "../common/hs_vmguard.h"
#include "../common/hs_errno.h"
#include "../common/hs_log.h"
#include "hs_backing.h"
#include "hs_heap.h"
#include "hs_large.h"
#include "hs_peak.h"
#include "hs_registry.h"

/* jemalloc's configuration (the build renames malloc_conf to this):
 * - oversize_threshold:0: no separate huge arena, which jemalloc would create
 *   lazily with default hooks, outside hugeshim's backing;
 * - retain:true: freed virtual memory is kept and reused, not unmapped, so
 *   regions are only ever added; the purge hooks return physical memory.
 * Debian's 5.3 is built cache-oblivious (not a runtime option): a large
 * object's extent is one page longer than the object, so a 4 GiB array asks
 * the hooks for the next page size class, 5 GiB.  With hugetlb that whole
 * extent is reserved from the pool; the rest serves later objects.
 * - lg_tcache_nslots_mul:2: a thread cache holds up to four slabs' worth of
 *   each small size (jemalloc's default: two, both capped at 200 objects),
 *   so a thread that frees what another allocated flushes to the arena half
 *   as often: producer/consumer churn 1.3x faster, the other shapes of the
 *   small-object suite and their RSS unchanged (docs/heap.md);
 * - tcache_gc_delay_bytes:262144: after every 64 KiB allocated jemalloc
 *   trims one size class of the thread's cache, flushing to the arena what
 *   went unused since its last trim; a trim of fewer than 256 KiB worth of
 *   objects (at most 255) is put off until they add up to that.  Objects
 *   flushed and fetched again soon after, under the bin's lock, were where
 *   churn over many size classes spent its time (docs/heap.md, Thread-cache
 *   trims). */
const char *hs_je_malloc_conf = "oversize_threshold:0,retain:true,background_thread:false,trust_madvise:true,"
                                "lg_tcache_nslots_mul:2,tcache_gc_delay_bytes:262144";

static int hs_large_flags; /* MALLOCX_ARENA(large arena) | MALLOCX_TCACHE_NONE */
size_t hs_heap_small_max = HS_HEAP_LARGE - 1; /* see hs_heap.h */
/* The medium arenas are [hs_medium_first, hs_medium_first + hs_medium_count). */
static unsigned hs_medium_first, hs_medium_count, hs_medium_next;
/* HUGESHIM_HEAP_THP=dense: arenas other than the large one take no THP
 * regions (allocator/hugify.c makes their dense units huge). */
static bool hs_heap_dense;
static unsigned hs_large_arena = ~0u;
static __thread unsigned hs_medium_mine __attribute__((tls_model("initial-exec"))); /* index + 1; 0: none yet */

/* jemalloc's own mmap calls (the build renames its references to mmap to
 * this): base metadata, and the extents arena 0 takes through its default
 * hooks while jemalloc initialises, before hugeshim's hooks are installed.
 * Those extents may later hold user objects, so they are owned too
 * (hs_backing_map_owned_base).  A tail jemalloc never asked for stays mapped;
 * jemalloc retains and rarely unmaps. */
__attribute__((visibility("hidden"))) void *hs_heap_jemalloc_mmap(void *addr, size_t len, int prot, int flags,
                                                                   int fd, off_t offset)
{
    void *out = NULL;
    /* Owned and recorded like every region hugeshim maps, so the tracker
     * sees the objects jemalloc places there too. */
    int err = addr == NULL && fd == -1 ? hs_backing_map_owned_base(len, prot, &out)
                                       : hs_os_mmap(addr, len, prot, flags, fd, offset, &out);
    return hs_errno_ptr(err, out);
}

/* An arena took, split or purged memory: tell whoever listens (dense mode). */
static inline void hs_heap_active(size_t grown)
{
    hs_large_tick();
    const hs_heap_listener_t *l = hs_heap_listener_now();
    if (l && l->active)
        l->active(grown);
}

/* Regions the dense arenas take now are THP regions (hs_heap_listener_t). */
static bool hs_heap_born_huge(void)
{
    const hs_heap_listener_t *l = hs_heap_listener_now();
    return l && l->born_huge && l->born_huge();
}

static void *hs_heap_alloc(extent_hooks_t *hooks, void *new_addr, size_t size, size_t alignment, bool *zero,
                           bool *commit, unsigned arena_ind)
{
    (void)hooks;
    /* Growing in place at a given address is not offered: the backing maps
     * fresh chunks only. */
    if (new_addr)
        return NULL;
    int saved = errno;
    void *mem;
    hs_os_kind_t kind;
    /* jemalloc 5.3 maps its metadata blocks (base_map) with a 2 MiB alignment
     * and its extents with a page alignment.  Metadata stays on base pages, as
     * jemalloc's own default (metadata_thp:disabled) does: one huge page per
     * arena's first metadata block would cost 2 MiB of RSS for each arena. */
    bool metadata = alignment == HS_OS_HUGE_2M;
    bool medium = arena_ind - hs_medium_first < hs_medium_count;
    bool dense = hs_heap_dense && arena_ind != hs_large_arena && !medium && !metadata;
    bool born_huge = dense && hs_heap_born_huge();
    bool no_thp = medium || (dense && !born_huge);
    int err = hs_backing_heap_alloc(size, alignment,
                                    metadata ? HS_HEAP_USE_METADATA : no_thp ? HS_HEAP_USE_NO_THP : HS_HEAP_USE_OBJECTS,
                                    &mem, &kind);
    errno = saved;
    if (err)
        return NULL;
    hs_log(HS_LOG_DEBUG, "extent hook: %zu bytes, alignment %zu, arena %u%s", size, alignment, arena_ind,
           metadata ? " (metadata)" : "");
    hs_count(metadata ? HS_CTR_HEAP_METADATA_BYTES : HS_CTR_HEAP_EXTENT_BYTES, size);
    if (medium && !metadata)
        hs_count(HS_CTR_HEAP_MEDIUM_BYTES, size);
    if (born_huge && kind == HS_OS_KIND_THP)
        hs_count(HS_CTR_HEAP_BORN_HUGE_BYTES, size);
    hs_count(HS_CTR_HEAP_EXTENT_ALLOCS, 1);
    hs_heap_active(dense && kind == HS_OS_KIND_BASE ? size : 0);
    /* Carved chunks are handed out once, never reused: fresh memory is zero. */
    *zero = true;
    *commit = true;
    return mem;
}

/* Opt out of unmapping: jemalloc retains the range and reuses it. */
static bool hs_heap_dalloc(extent_hooks_t *hooks, void *addr, size_t size, bool committed, unsigned arena_ind)
{
    (void)hooks, (void)addr, (void)size, (void)committed, (void)arena_ind;
    return true;
}

static void hs_heap_destroy(extent_hooks_t *hooks, void *addr, size_t size, bool committed, unsigned arena_ind)
{
    (void)hooks, (void)addr, (void)size, (void)committed, (void)arena_ind;
}

/* Memory is always committed: commit succeeds, decommit is declined. */
static bool hs_heap_commit(extent_hooks_t *hooks, void *addr, size_t size, size_t offset, size_t length,
                           unsigned arena_ind)
{
    (void)hooks, (void)addr, (void)size, (void)offset, (void)length, (void)arena_ind;
    return false;
}

static bool hs_heap_decommit(extent_hooks_t *hooks, void *addr, size_t size, size_t offset, size_t length,
                             unsigned arena_ind)
{
    (void)hooks, (void)addr, (void)size, (void)offset, (void)length, (void)arena_ind;
    return true;
}

/* Base pages of the heap were given back: tell whoever listens (dense mode). */
static void hs_heap_purged(uintptr_t start, size_t len)
{
    const hs_heap_listener_t *l = hs_heap_listener_now();
    if (l && l->purged)
        l->purged(start, len);
}

/* Whether purging [start, end) would cut a huge page: in a THP region, an
 * end off a 2 MiB boundary; in a 4 KiB-page one, an end inside a unit dense
 * mode made huge (only the first and last units can be cut). */
static bool hs_heap_cuts_huge(uintptr_t start, uintptr_t end, bool thp)
{
    uintptr_t first = start & ~(uintptr_t)(HS_OS_HUGE_2M - 1), last = (end - 1) & ~(uintptr_t)(HS_OS_HUGE_2M - 1);
    bool cut_first = start != first, cut_last = end != last + HS_OS_HUGE_2M;
    if (thp)
        return cut_first || cut_last;
    const hs_heap_listener_t *l = hs_heap_listener_now();
    bool (*huge)(uintptr_t) = l ? l->unit_huge : NULL;
    return huge && end > start && ((cut_first && huge(first)) || (cut_last && huge(last)));
}

/* A purge declined or trimmed, leaving `kept` bytes resident: counted once.
 * jemalloc 5.3 asks for a forced purge first and, when that is declined, a
 * lazy one (extent_dalloc_wrapper; its decay asks the same way with
 * muzzy_decay_ms at its default 0), so the lazy ask is the one counted. */
static void hs_heap_kept(bool forced, size_t kept)
{
    if (forced)
        return;
    hs_count(HS_CTR_HEAP_PURGE_DECLINED, 1);
    hs_count(HS_CTR_HEAP_PURGE_KEPT_BYTES, kept);
}

/* Purge with huge pages kept whole: madvise on part of a huge page splits it,
 * so where a range would cut one (every 2 MiB of a THP region, the units of
 * a 4 KiB-page region dense mode made huge) only the 2 MiB-aligned interior
 * is purged, and only by a lazy purge (a forced one promises zeroed memory
 * for the whole range, so it is declined).  THP regions are purged with
 * MADV_DONTNEED even for a lazy purge, so that RSS drops now and not under
 * pressure.  hugetlb is never purged: a private hugetlb page given back and
 * faulted again needs a free pool page, and an empty pool then means SIGBUS. */
static bool hs_heap_purge(void *addr, size_t offset, size_t length, bool forced)
{
    uintptr_t start = (uintptr_t)addr + offset, end = start + length;
    hs_region_t region;
    int saved = errno;
    bool declined = true;
    hs_os_kind_t kind = hs_registry_find(start, &region) ? (hs_os_kind_t)region.kind : HS_OS_KIND_BASE;
    bool thp = kind == HS_OS_KIND_THP;
    if (kind != HS_OS_KIND_BASE && !thp) {
        hs_heap_kept(forced, length);
        goto out;
    }
    if (hs_heap_cuts_huge(start, end, thp)) {
        uintptr_t in_start = (start + HS_OS_HUGE_2M - 1) & ~(uintptr_t)(HS_OS_HUGE_2M - 1);
        uintptr_t in_end = end & ~(uintptr_t)(HS_OS_HUGE_2M - 1);
        if (forced || in_end <= in_start) {
            hs_heap_kept(forced, length);
            goto out;
        }
        hs_heap_kept(forced, length - (in_end - in_start));
        start = in_start, end = in_end;
    }
    if (thp)
        hs_peak_sample(); /* huge pages are about to go */
    hs_vmguard_token_t guard = hs_vmguard_enter(start, end - start);
    declined = hs_os_purge((void *)start, end - start, forced || thp) != 0;
    hs_vmguard_leave(guard);
    if (!declined) {
        hs_count(HS_CTR_HEAP_PURGED_BYTES, end - start);
        if (!thp)
            hs_heap_purged(start, end - start);
    }
out:
    errno = saved;
    hs_heap_active(0);
    return declined;
}

bool hs_heap_calloc_on_base(size_t n)
{
    if (n < HS_HEAP_ZERO_MIN || n >= HS_HEAP_LARGE)
        return false;
    return hs_backing_first_kind() == HS_OS_KIND_BASE || hs_heap_dense ||
           (hs_medium_count && n > hs_heap_small_max);
}

void hs_heap_zero(void *p, size_t n)
{
    uintptr_t start = (uintptr_t)p, end = start + n;
    hs_region_t region;
    bool base = hs_registry_find(start, &region) && region.kind == HS_OS_KIND_BASE &&
                region.start + region.len >= end;
    uintptr_t in_start = (start + HS_OS_PAGE_SIZE - 1) & ~(uintptr_t)(HS_OS_PAGE_SIZE - 1);
    uintptr_t in_end = end & ~(uintptr_t)(HS_OS_PAGE_SIZE - 1);
    int saved = errno;
    hs_vmguard_token_t guard = hs_vmguard_enter(in_start, in_end > in_start ? in_end - in_start : 0);
    bool purged = base && in_end > in_start && !hs_heap_cuts_huge(in_start, in_end, false) &&
                  hs_os_purge((void *)in_start, in_end - in_start, true) == 0;
    hs_vmguard_leave(guard);
    if (purged) {
        memset(p, 0, in_start - start);
        memset((void *)in_end, 0, end - in_end);
        hs_heap_purged(in_start, in_end - in_start);
    } else {
        memset(p, 0, n);
    }
    errno = saved;
}

static bool hs_heap_purge_lazy(extent_hooks_t *hooks, void *addr, size_t size, size_t offset, size_t length,
                               unsigned arena_ind)
{
    (void)hooks, (void)size, (void)arena_ind;
    return hs_heap_purge(addr, offset, length, false);
}

static bool hs_heap_purge_forced(extent_hooks_t *hooks, void *addr, size_t size, size_t offset, size_t length,
                                 unsigned arena_ind)
{
    (void)hooks, (void)size, (void)arena_ind;
    return hs_heap_purge(addr, offset, length, true);
}

static bool hs_heap_split(extent_hooks_t *hooks, void *addr, size_t size, size_t size_a, size_t size_b,
                          bool committed, unsigned arena_ind)
{
    (void)hooks, (void)addr, (void)size, (void)size_a, (void)size_b, (void)committed, (void)arena_ind;
    hs_heap_active(0);
    return false;
}

/* Merge only extents of the same page kind, so that a purge never spans a
 * THP region and a hugetlb one.  Regions of two kinds meet only on a 2 MiB
 * boundary (THP and hugetlb regions start and end on one), so an extent
 * starting off such a boundary joins its neighbour without asking the
 * registry: jemalloc merges on most frees of large objects, and the
 * registry's lock is taken only where a boundary could be. */
static bool hs_heap_merge(extent_hooks_t *hooks, void *addr_a, size_t size_a, void *addr_b, size_t size_b,
                          bool committed, unsigned arena_ind)
{
    (void)hooks, (void)size_a, (void)size_b, (void)committed, (void)arena_ind;
    if ((uintptr_t)addr_b & (HS_OS_HUGE_2M - 1))
        return false;
    hs_region_t a, b;
    bool found_a = hs_registry_find((uintptr_t)addr_a, &a);
    bool found_b = hs_registry_find((uintptr_t)addr_b, &b);
    if (found_a != found_b)
        return true;
    return found_a && a.kind != b.kind;
}

static extent_hooks_t hs_heap_hooks = {
    hs_heap_alloc,      hs_heap_dalloc,       hs_heap_destroy, hs_heap_commit, hs_heap_decommit,
    hs_heap_purge_lazy, hs_heap_purge_forced, hs_heap_split,   hs_heap_merge,
};

/* With retain on, jemalloc grows an arena's virtual memory in a geometric
 * series with no limit by default: after enough growth a single request to
 * the hooks reaches tens of GiB, the kernel refuses it (more than RAM and
 * swap), and since the series only advances on success every later growth
 * asks again: thousands of failing 24 GiB mmaps in malloc-heavy programs
 * (stress-ng's malloc stressor ran 8x slower).  jemalloc's documented knob:
 * arena.<i>.retain_grow_limit. */
#define HS_HEAP_GROW_LIMIT ((size_t)1 << 30)

static void hs_heap_limit_growth(unsigned arena)
{
    char name[64];
    size_t limit = HS_HEAP_GROW_LIMIT;
    snprintf(name, sizeof name, "arena.%u.retain_grow_limit", arena);
    if (hs_je_mallctl(name, NULL, NULL, &limit, sizeof limit) != 0)
        hs_log(HS_LOG_DEBUG, "%s could not be set", name);
}

/* Create the medium arenas (HUGESHIM_HEAP_MEDIUM=base): one per 4 automatic
 * arenas (jemalloc makes 4 per CPU), numbered in a row.  0 or -1. */
static int hs_heap_create_medium(unsigned narenas, extent_hooks_t *hooks)
{
    char name[64];
    unsigned nbins = 0;
    size_t len = sizeof nbins, small_max = 0, small_len = sizeof small_max;
    if (hs_je_mallctl("arenas.nbins", &nbins, &len, NULL, 0) != 0 || nbins == 0)
        return -1;
    snprintf(name, sizeof name, "arenas.bin.%u.size", nbins - 1);
    if (hs_je_mallctl(name, &small_max, &small_len, NULL, 0) != 0 || small_max == 0)
        return -1;
    unsigned want = narenas / 4 ? narenas / 4 : 1, first = 0;
    for (unsigned i = 0; i < want; i++) {
        unsigned ind = 0;
        len = sizeof ind;
        if (hs_je_mallctl("arenas.create", &ind, &len, &hooks, sizeof hooks) != 0)
            return -1;
        if (i == 0)
            first = ind;
        else if (ind != first + i)
            return -1;
        hs_heap_limit_growth(ind);
    }
    hs_medium_first = first;
    hs_medium_count = want;
    hs_heap_small_max = small_max;
    return 0;
}

int hs_heap_init(bool medium_on_base, bool dense)
{
    hs_heap_dense = dense;
    unsigned narenas = 0;
    size_t len = sizeof narenas;
    /* The first mallctl boots jemalloc: it fails when its first mappings do. */
    if (hs_je_mallctl("arenas.narenas", &narenas, &len, NULL, 0) != 0)
        return -ENOMEM;
    extent_hooks_t *hooks = &hs_heap_hooks;
    unsigned hooked = 0;
    for (unsigned i = 0; i < narenas; i++) {
        char name[64];
        snprintf(name, sizeof name, "arena.%u.extent_hooks", i);
        /* Writing the hooks of an automatic arena not yet created creates it
         * with these hooks. */
        if (hs_je_mallctl(name, NULL, NULL, &hooks, sizeof hooks) == 0) {
            hooked++;
            hs_heap_limit_growth(i);
        }
    }
    hs_log(HS_LOG_DEBUG, "extent hooks installed on %u of %u arenas", hooked, narenas);
    if (hooked != narenas)
        return -1;
    char name[64];
    if (medium_on_base && hs_heap_create_medium(narenas, hooks) != 0)
        return -1;
    unsigned large = 0;
    len = sizeof large;
    ssize_t no_decay = 0;
    if (hs_je_mallctl("arenas.create", &large, &len, &hooks, sizeof hooks) != 0)
        return -1;
    hs_large_arena = large;
    hs_heap_limit_growth(large);
    snprintf(name, sizeof name, "arena.%u.dirty_decay_ms", large);
    hs_je_mallctl(name, NULL, NULL, &no_decay, sizeof no_decay);
    snprintf(name, sizeof name, "arena.%u.muzzy_decay_ms", large);
    hs_je_mallctl(name, NULL, NULL, &no_decay, sizeof no_decay);
    hs_large_flags = MALLOCX_ARENA(large) | MALLOCX_TCACHE_NONE;
    hs_large_init(NULL, NULL);
    return 0;
}

/* The arena flags for an object of size > hs_heap_small_max. */
static int hs_heap_big_flags(size_t size)
{
    if (size >= HS_HEAP_LARGE)
        return hs_large_flags;
    unsigned mine = hs_medium_mine;
    if (!mine) {
        mine = 1 + __atomic_fetch_add(&hs_medium_next, 1, __ATOMIC_RELAXED) % hs_medium_count;
        hs_medium_mine = mine;
    }
    return MALLOCX_ARENA(hs_medium_first + mine - 1);
}

void *hs_heap_big_alloc(size_t size, size_t align, bool zero)
{
    if (size >= HS_HEAP_LARGE) {
        void *p = hs_large_alloc(size, align, zero);
        if (p)
            return p;
    }
    int flags = hs_heap_big_flags(size) | (zero ? MALLOCX_ZERO : 0) | (align ? MALLOCX_ALIGN(align) : 0);
    void *p = hs_je_mallocx(size, flags);
    if (!p)
        errno = ENOMEM;
    return p;
}

/* Move an object between jemalloc and the span heap: a new one, the bytes
 * both can hold, the old one freed. */
static void *hs_heap_move(void *ptr, size_t old, size_t size, bool from_large)
{
    void *p = size > hs_heap_small_max ? hs_heap_big_alloc(size, 0, false) : hs_je_malloc(size);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(p, ptr, old < size ? old : size);
    if (from_large)
        hs_large_free(ptr);
    else
        hs_je_free(ptr);
    return p;
}

void *hs_heap_big_realloc(void *ptr, size_t size)
{
    if (hs_large_owns(ptr)) {
        void *p = size >= HS_HEAP_LARGE ? hs_large_realloc(ptr, size) : NULL;
        return p ? p : hs_heap_move(ptr, hs_large_usable(ptr), size, true);
    }
    if (size >= HS_HEAP_LARGE)
        return hs_heap_move(ptr, hs_je_malloc_usable_size(ptr), size, false);
    void *p = hs_je_rallocx(ptr, size, hs_heap_big_flags(size));
    if (!p)
        errno = ENOMEM;
    return p;
}

void *hs_heap_realloc(void *ptr, size_t size)
{
    if (size > hs_heap_small_max || hs_large_owns(ptr)) {
        /* realloc(p, 0) frees p and returns NULL, as jemalloc's (and glibc's). */
        if (!size) {
            hs_large_free(ptr);
            return NULL;
        }
        return hs_heap_big_realloc(ptr, size);
    }
    return hs_je_realloc(ptr, size);
}

/* jemalloc's own munmap calls (renamed at build time): the registry forgets
 * what is unmapped, so the tracker never watches a stale range. */
__attribute__((visibility("hidden"))) int hs_heap_jemalloc_munmap(void *addr, size_t len)
{
    hs_vmguard_token_t guard = hs_vmguard_enter((uintptr_t)addr, len);
    int err = hs_backing_unmap_heap(addr, len);
    hs_vmguard_leave(guard);
    if (!err)
        hs_registry_remove((uintptr_t)addr, len);
    return hs_errno_int(err);
}

/* jemalloc's madvise and mprotect (renamed at build time), with libc's
 * convention, so that jemalloc's calls never reach hugeshim's interposers. */
__attribute__((visibility("hidden"))) int hs_os_libc_madvise(void *addr, size_t len, int advice)
{
    hs_vmguard_token_t guard = hs_vmguard_enter((uintptr_t)addr, len);
    int err = hs_os_madvise(addr, len, advice);
    hs_vmguard_leave(guard);
    return hs_errno_int(err);
}

__attribute__((visibility("hidden"))) int hs_os_libc_mprotect(void *addr, size_t len, int prot)
{
    hs_vmguard_token_t guard = hs_vmguard_enter((uintptr_t)addr, len);
    int err = hs_os_mprotect(addr, len, prot);
    hs_vmguard_leave(guard);
    return hs_errno_int(err);
}
