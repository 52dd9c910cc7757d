/* backing.c: the fallback chain, failure memory and heap chunk carving. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "../common/hs_counters.h"
#include "../common/hs_kinds.h"
#include "../common/hs_log.h"
#include "hs_backing.h"
#include "hs_registry.h"

#define HS_KIND_COUNT HS_OS_KIND_COUNT

static int hs_backing_real_map(void *ctx, hs_os_kind_t kind, size_t len, size_t align, int prot, bool noreserve,
                               bool populate, void **out, bool *advised)
{
    (void)ctx;
    return hs_os_map_kind(kind, len, align, prot, noreserve, populate, out, advised);
}

static uint64_t hs_backing_real_now(void *ctx)
{
    (void)ctx;
    return hs_os_now_ns();
}

static const hs_backing_ops_t hs_backing_real_ops = {hs_backing_real_map, hs_backing_real_now, NULL};

/* The real kernel until hs_backing_init says otherwise: jemalloc's own
 * mappings (hs_backing_map_owned_base) may come first. */
static hs_backing_ops_t hs_ops = {hs_backing_real_map, hs_backing_real_now, NULL};
static hs_backing_config_t hs_config = {HS_OS_KIND_THP, 1000000000ULL, true};
/* When a kind may be tried again after a failure (ns, hs_ops.now_ns clock). */
static uint64_t hs_retry_after[HS_KIND_COUNT];
/* The unused tail of the last chunk mapped per kind, carved by later calls. */
static struct {
    uintptr_t cur, end;
} hs_chunk[HS_KIND_COUNT];
static pthread_mutex_t hs_backing_lock = PTHREAD_MUTEX_INITIALIZER;

void hs_backing_init(const hs_backing_config_t *config, const hs_backing_ops_t *ops)
{
    hs_config = *config;
    hs_ops = ops ? *ops : hs_backing_real_ops;
    for (int k = 0; k < HS_KIND_COUNT; k++) {
        hs_retry_after[k] = 0;
        hs_chunk[k].cur = hs_chunk[k].end = 0;
    }
}

hs_os_kind_t hs_backing_first_kind(void)
{
    return hs_config.first_kind;
}

size_t hs_backing_page_size(hs_os_kind_t kind)
{
    switch (kind) {
    case HS_OS_KIND_HUGETLB_1G: return HS_OS_HUGE_1G;
    case HS_OS_KIND_HUGETLB_2M:
    case HS_OS_KIND_THP: return HS_OS_HUGE_2M;
    default: return HS_OS_PAGE_SIZE;
    }
}

/* The granule heap memory of a kind is mapped in: its page, 2 MiB at least,
 * so that the ownership bitmap never shares a granule with foreign memory. */
static size_t hs_backing_grain(hs_os_kind_t kind)
{
    size_t page = hs_backing_page_size(kind);
    return page < HS_OS_HUGE_2M ? HS_OS_HUGE_2M : page;
}

static const hs_counter_id_t hs_bytes_counter[HS_KIND_COUNT] = {
    HS_CTR_BACKING_HUGETLB_1G_BYTES, HS_CTR_BACKING_HUGETLB_2M_BYTES, HS_CTR_BACKING_THP_BYTES,
    HS_CTR_BACKING_BASE_BYTES};

static uintptr_t hs_align_up(uintptr_t v, size_t a)
{
    return (v + a - 1) & ~(uintptr_t)(a - 1);
}

/* Count a failed map of `kind` and remember it. */
static void hs_backing_failed(hs_os_kind_t kind, int err, size_t len)
{
    bool exhausted = err == -ENOMEM || err == -ENOSPC; /* ENOSPC: a hugetlbfs mount's quota */
    if (err == -ENOSPC)
        hs_count(HS_CTR_FALLBACK_HUGETLBFS_FULL, 1);
    switch (kind) {
    case HS_OS_KIND_HUGETLB_1G:
        hs_count(exhausted ? HS_CTR_FALLBACK_1G_EXHAUSTED : HS_CTR_FALLBACK_1G_UNAVAILABLE, 1);
        break;
    case HS_OS_KIND_HUGETLB_2M:
        hs_count(exhausted ? HS_CTR_FALLBACK_2M_EXHAUSTED : HS_CTR_FALLBACK_2M_UNAVAILABLE, 1);
        break;
    case HS_OS_KIND_THP:
        hs_count(HS_CTR_FALLBACK_THP_FAILED, 1);
        break;
    default:
        break;
    }
    /* Only a hugetlb pool's failure says the kind is out for a while; a THP
     * or base map that fails (one request beyond the commit limit) says
     * nothing about the next, smaller one. */
    if (kind == HS_OS_KIND_HUGETLB_1G || kind == HS_OS_KIND_HUGETLB_2M)
        __atomic_store_n(&hs_retry_after[kind], hs_ops.now_ns(hs_ops.ctx) + hs_config.retry_ns, __ATOMIC_RELAXED);
    /* Counted in the report (backing.fallbacks.*) and said by `hugeshim run`
     * and `hugeshim doctor`; on stderr only when asked (HUGESHIM_VERBOSE=1):
     * every process of a program tree would print it, and programs whose
     * tests expect an empty stderr fail on it. */
    if (kind == HS_OS_KIND_HUGETLB_1G || kind == HS_OS_KIND_HUGETLB_2M) {
        hs_info_once(hs_warned_hugetlb,
                     "%s pages could not be had for %zu bytes (%s); falling back and retrying after %llu ms. "
                     "`hugeshim doctor` shows how to reserve pages",
                     hs_kind_name(kind), len,
                     err == -ENOSPC ? "the hugetlbfs mount's quota is full"
                     : exhausted    ? "pool empty or used up"
                                    : "unsupported here",
                     (unsigned long long)(hs_config.retry_ns / 1000000));
    }
    hs_log(HS_LOG_DEBUG, "map %s of %zu bytes failed: errno %d", hs_kind_name(kind), len, -err);
}

/* May `kind` be tried now?  Counts why not. */
static bool hs_backing_may_try(hs_os_kind_t kind)
{
    if (kind == HS_OS_KIND_THP && !hs_config.thp_available) {
        hs_count(HS_CTR_FALLBACK_THP_UNAVAILABLE, 1);
        return false;
    }
    if (kind == HS_OS_KIND_BASE)
        return true;
    uint64_t after = __atomic_load_n(&hs_retry_after[kind], __ATOMIC_RELAXED);
    if (after && hs_ops.now_ns(hs_ops.ctx) < after) {
        hs_count(HS_CTR_FALLBACK_SKIPPED, 1);
        return false;
    }
    return true;
}

/* Record a new mapping of `kind`; a THP region whose advice failed is base. */
static hs_os_kind_t hs_backing_mapped(void *addr, size_t len, hs_os_kind_t kind, bool advised, hs_origin_t origin)
{
    if (kind == HS_OS_KIND_THP && !advised) {
        hs_count(HS_CTR_FALLBACK_THP_UNAVAILABLE, 1);
        kind = HS_OS_KIND_BASE;
    }
    hs_count(hs_bytes_counter[kind], len);
    hs_count(HS_CTR_BACKING_REGIONS, 1);
    if (hs_registry_add((uintptr_t)addr, len, kind, origin) != 0)
        hs_count(HS_CTR_ERRORS_REGISTRY_FULL, 1);
    hs_log(HS_LOG_DEBUG, "mapped %zu bytes of %s at %p for the %s", len, hs_kind_name(kind), addr,
           origin == HS_ORIGIN_HEAP ? "heap" : "program");
    return kind;
}

/* The heap window (hs_registry.h): reserved at the heap's first mapping, THP
 * and base-page heap chunks are made accessible in it one after the other;
 * hugetlb chunks, chunks past its end, and every chunk when it could not be
 * reserved (an address-space limit) are mapped anywhere, and free() finds
 * those through the ownership bitmap.  hs_window_cur == hs_window_end: full
 * or off.  Under hs_backing_lock. */
static uintptr_t hs_window_cur, hs_window_end;
static uintptr_t hs_window_reserved_end; /* hs_window_end, read without the lock */
static bool hs_window_tried;
#define HS_WINDOW_MIN ((size_t)4 << 30)
#define HS_WINDOW_MAX ((size_t)64 << 40)

/* Twice the machine's memory, 4 GiB to 64 TiB; 0 (no window) under an
 * address-space limit, which a reservation would eat into. */
static size_t hs_window_size(void)
{
    if (hs_os_address_space_limited())
        return 0;
    uint64_t ram = hs_os_total_memory();
    size_t want = ram > HS_WINDOW_MAX / 2 ? HS_WINDOW_MAX : (size_t)ram * 2;
    want = (want + HS_OS_HUGE_1G - 1) & ~(size_t)(HS_OS_HUGE_1G - 1);
    return want < HS_WINDOW_MIN ? HS_WINDOW_MIN : want;
}

/* Map a heap chunk: in the window where it can be (the real kernel only:
 * unit tests' fake kernels map anywhere), else through hs_ops. */
static int hs_backing_map_heap(hs_os_kind_t kind, size_t len, size_t align, void **out, bool *advised)
{
    if (!hs_window_tried && hs_ops.map == hs_backing_real_map) {
        hs_window_tried = true;
        size_t size = hs_window_size();
        void *lo;
        if (size && hs_os_reserve(size, HS_OS_HUGE_1G, &lo) == 0) {
            hs_window_cur = (uintptr_t)lo;
            hs_window_end = (uintptr_t)lo + size;
            __atomic_store_n(&hs_window_reserved_end, hs_window_end, __ATOMIC_RELAXED);
            __atomic_store_n(&hs_registry_window_lo, (uintptr_t)lo, __ATOMIC_RELEASE);
            hs_log(HS_LOG_DEBUG, "heap window: %zu GiB reserved at %p", size >> 30, lo);
            hs_count(HS_CTR_HEAP_WINDOW_BYTES, size);
        } else {
            hs_log(HS_LOG_DEBUG, "heap window: none (%s)", size ? "reservation failed" : "address space limited");
        }
    }
    uintptr_t at = hs_align_up(hs_window_cur, align);
    if ((kind == HS_OS_KIND_THP || kind == HS_OS_KIND_BASE) && at >= hs_window_cur && at < hs_window_end &&
        len <= hs_window_end - at) {
        int err = hs_os_map_kind_at(kind, (void *)at, len, PROT_READ | PROT_WRITE, advised);
        if (err)
            return err;
        hs_window_cur = at + len;
        hs_registry_window_grew(hs_window_cur - hs_registry_window_lo);
        *out = (void *)at;
        return 0;
    }
    return hs_ops.map(hs_ops.ctx, kind, len, align, PROT_READ | PROT_WRITE, false, false, out, advised);
}

bool hs_backing_in_window(uintptr_t start, size_t len)
{
    uintptr_t lo = __atomic_load_n(&hs_registry_window_lo, __ATOMIC_ACQUIRE);
    uintptr_t end = __atomic_load_n(&hs_window_reserved_end, __ATOMIC_RELAXED);
    return lo && start < end && start + len > lo;
}

int hs_backing_unmap_heap(void *addr, size_t len)
{
    uintptr_t start = (uintptr_t)addr, end = start + len;
    if (!hs_backing_in_window(start, len))
        return hs_os_munmap(addr, len);
    uintptr_t lo = __atomic_load_n(&hs_registry_window_lo, __ATOMIC_ACQUIRE);
    uintptr_t hi = __atomic_load_n(&hs_window_reserved_end, __ATOMIC_RELAXED);
    uintptr_t in_start = start > lo ? start : lo, in_end = end < hi ? end : hi;
    int err = 0;
    /* What lies outside the window is unmapped as asked; the window's part
     * is held again. */
    if (start < in_start)
        err = hs_os_munmap(addr, in_start - start);
    if (!err && in_end < end)
        err = hs_os_munmap((void *)in_end, end - in_end);
    return err ? err : hs_os_rereserve((void *)in_start, in_end - in_start, true);
}

/* Take size bytes aligned to align from the kind's current chunk, if they fit. */
static void *hs_backing_carve(hs_os_kind_t kind, size_t size, size_t align)
{
    uintptr_t at = hs_align_up(hs_chunk[kind].cur, align);
    if (!hs_chunk[kind].cur || at < hs_chunk[kind].cur || at + size > hs_chunk[kind].end || at + size < at)
        return NULL;
    hs_chunk[kind].cur = at + size;
    return (void *)at;
}

int hs_backing_heap_alloc(size_t size, size_t align, hs_heap_use_t use, void **out, hs_os_kind_t *kind_out)
{
    if (align < HS_OS_PAGE_SIZE)
        align = HS_OS_PAGE_SIZE;
    int result = -ENOMEM;
    pthread_mutex_lock(&hs_backing_lock);
    for (int k = use == HS_HEAP_USE_METADATA ? HS_OS_KIND_BASE : hs_config.first_kind; k < HS_KIND_COUNT; k++) {
        hs_os_kind_t kind = (hs_os_kind_t)k;
        if (kind == HS_OS_KIND_THP && use == HS_HEAP_USE_NO_THP)
            continue;
        size_t grain = hs_backing_grain(kind);
        void *p = hs_backing_carve(kind, size, align);
        if (p) {
            *out = p;
            *kind_out = kind;
            result = 0;
            break;
        }
        if (!hs_backing_may_try(kind))
            continue;
        size_t map_align = align > grain ? align : grain;
        size_t len = hs_align_up(size, grain);
        if (len < size)
            break;
        bool advised = false;
        void *mem;
        int err = hs_backing_map_heap(kind, len, map_align, &mem, &advised);
        if (err) {
            hs_backing_failed(kind, err, len);
            continue;
        }
        hs_os_kind_t got = hs_backing_mapped(mem, len, kind, advised, HS_ORIGIN_HEAP);
        hs_registry_mark_owned((uintptr_t)mem, len);
        /* Keep whichever unused tail is larger: the old chunk's or this one's. */
        if (len - size >= hs_chunk[kind].end - hs_chunk[kind].cur) {
            hs_chunk[kind].cur = (uintptr_t)mem + size;
            hs_chunk[kind].end = (uintptr_t)mem + len;
        }
        *out = mem;
        *kind_out = got;
        result = 0;
        break;
    }
    pthread_mutex_unlock(&hs_backing_lock);
    if (result)
        hs_count(HS_CTR_BACKING_MAP_FAILED, 1);
    return result;
}

int hs_backing_large_chunk(size_t want, size_t need, void **out, size_t *len_out, hs_os_kind_t *kind_out)
{
    int err = -ENOMEM;
    for (int k = hs_config.first_kind; k < HS_KIND_COUNT; k++) {
        hs_os_kind_t kind = (hs_os_kind_t)k;
        if (!hs_backing_may_try(kind))
            continue;
        size_t grain = hs_backing_grain(kind);
        bool hugetlb = kind == HS_OS_KIND_HUGETLB_1G || kind == HS_OS_KIND_HUGETLB_2M;
        /* hugetlb reserves its pool pages at mmap: no more than needed. */
        size_t sizes[2] = {hs_align_up(hugetlb ? need : want, grain), hs_align_up(need, grain)};
        for (int attempt = 0; attempt < 2; attempt++) {
            size_t rounded = sizes[attempt];
            if (rounded < need || (attempt == 1 && rounded == sizes[0]))
                break;
            bool advised = false;
            void *mem;
            /* Never in the window: free() sends every pointer there to jemalloc. */
            err = hs_ops.map(hs_ops.ctx, kind, rounded, grain, PROT_READ | PROT_WRITE, false, false, &mem, &advised);
            if (err) {
                hs_backing_failed(kind, err, rounded);
                continue;
            }
            *kind_out = hs_backing_mapped(mem, rounded, kind, advised, HS_ORIGIN_HEAP);
            hs_registry_mark_owned((uintptr_t)mem, rounded);
            *out = mem;
            *len_out = rounded;
            return 0;
        }
    }
    hs_count(HS_CTR_BACKING_MAP_FAILED, 1);
    return err;
}

int hs_backing_map_region(size_t len, int prot, bool noreserve, bool populate, void **out, hs_os_kind_t *kind_out)
{
    int err = -ENOMEM;
    size_t rounded = hs_align_up(len, HS_OS_PAGE_SIZE);
    /* A length no mapping can have (it wraps when rounded up): the kernel's
     * answer is the caller's, and no kind failed. */
    if (rounded < len || rounded == 0)
        return -ENOMEM;
    len = rounded;
    for (int k = HS_OS_KIND_THP; k < HS_KIND_COUNT; k++) {
        hs_os_kind_t kind = (hs_os_kind_t)k;
        if (!hs_backing_may_try(kind))
            continue;
        bool advised = false;
        void *mem;
        err = hs_ops.map(hs_ops.ctx, kind, len, kind == HS_OS_KIND_THP ? HS_OS_HUGE_2M : HS_OS_PAGE_SIZE, prot,
                         noreserve, populate, &mem, &advised);
        if (err) {
            hs_backing_failed(kind, err, len);
            continue;
        }
        *kind_out = hs_backing_mapped(mem, len, kind, advised, HS_ORIGIN_MMAP);
        *out = mem;
        return 0;
    }
    hs_count(HS_CTR_BACKING_MAP_FAILED, 1);
    return err;
}

int hs_backing_map_owned_base(size_t len, int prot, void **out)
{
    size_t rounded = hs_align_up(len, HS_OS_HUGE_2M);
    if (rounded < len)
        return -ENOMEM;
    bool advised = false;
    void *mem;
    int err;
    if (prot == (PROT_READ | PROT_WRITE)) {
        pthread_mutex_lock(&hs_backing_lock);
        err = hs_backing_map_heap(HS_OS_KIND_BASE, rounded, HS_OS_HUGE_2M, &mem, &advised);
        pthread_mutex_unlock(&hs_backing_lock);
    } else {
        err = hs_ops.map(hs_ops.ctx, HS_OS_KIND_BASE, rounded, HS_OS_HUGE_2M, prot, false, false, &mem, &advised);
    }
    if (err) {
        hs_count(HS_CTR_BACKING_MAP_FAILED, 1);
        return err;
    }
    hs_registry_mark_owned((uintptr_t)mem, rounded);
    hs_backing_mapped(mem, rounded, HS_OS_KIND_BASE, false, HS_ORIGIN_HEAP);
    *out = mem;
    return 0;
}

void hs_backing_prefork(void)
{
    pthread_mutex_lock(&hs_backing_lock);
}

void hs_backing_postfork_parent(void)
{
    pthread_mutex_unlock(&hs_backing_lock);
}

void hs_backing_postfork_child(void)
{
    pthread_mutex_init(&hs_backing_lock, NULL);
}
