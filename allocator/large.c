/* large.c: the span heap for objects of HS_HEAP_LARGE and more (hs_large.h).
 *
 * Why not jemalloc: its large objects are extents that go back to the kernel
 * at once (decay 0: RSS stays what the program holds) or wait for decay
 * (reused without faults, but a request no freed extent fits takes new
 * memory while the freed ones stay resident: RSS grew 1.5-1.9x on blocks of
 * 1-64 MiB).  Here freed spans stay resident up to a bound, a request takes
 * the free run with the most resident bytes (a freed span and the released
 * ones beside it: only the shortfall faults), and what exceeds the bound is
 * given back, oldest first.
 *
 * Spans cover every chunk, in address order, in one array (mapped, never
 * malloc'd); objects start on a span's first byte, 2 MiB aligned.  One lock;
 * large objects are few and each costs far more than a lookup. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../common/hs_vmguard.h"
#include "../os/hs_os.h"
#include "hs_backing.h"
#include "hs_large.h"
#include "hs_peak.h"

#define HS_UNIT HS_OS_HUGE_2M

enum { HS_SPAN_USED, HS_SPAN_KEPT, HS_SPAN_CLEAN };

typedef struct {
    uintptr_t start;
    size_t len;
    uint64_t freed_ns; /* HS_SPAN_KEPT: when it was freed */
    uint32_t chunk;
    uint8_t state;
    uint8_t kind; /* hs_os_kind_t of its chunk */
} hs_span_t;

/* Chunks, for hs_large_owns without the lock: appended, never removed. */
#define HS_CHUNKS_MAX 4096
static struct {
    uintptr_t start, end;
} hs_chunks[HS_CHUNKS_MAX];
static unsigned hs_nchunks;
static uintptr_t hs_lo = UINTPTR_MAX, hs_hi;

static pthread_mutex_t hs_large_lock = PTHREAD_MUTEX_INITIALIZER;
static hs_span_t *hs_spans;
static size_t hs_nspans, hs_span_cap;
static size_t hs_used_bytes, hs_kept_bytes, hs_chunk_bytes; /* kept: releasable kinds only */
static size_t hs_peak_used; /* the most bytes live objects ever held */
static uint64_t hs_kept_until; /* when the oldest kept span expires; 0: none kept */
static hs_large_ops_t hs_ops;
static hs_large_policy_t hs_policy;

/* Kept memory never lifts the span heap's resident bytes above the most its
 * live objects ever held, beyond keep_min (16 MiB: two of the smallest large
 * objects); a second is about what jemalloc's decay keeps freed pages for. */
static const hs_large_policy_t hs_default_policy = {(size_t)16 << 20, 1000000000ULL};

static bool hs_releasable(const hs_span_t *s)
{
    return s->kind == HS_OS_KIND_THP || s->kind == HS_OS_KIND_BASE;
}

static size_t hs_up(size_t n, size_t to)
{
    return (n + to - 1) & ~(to - 1);
}

/* ---- the real kernel ---- */

static int hs_real_chunk(void *ctx, size_t want, size_t need, void **out, size_t *len_out, int *kind_out)
{
    (void)ctx;
    hs_os_kind_t kind;
    int err = hs_backing_large_chunk(want, need, out, len_out, &kind);
    if (!err)
        *kind_out = (int)kind;
    return err;
}

static int hs_real_release(void *ctx, void *addr, size_t len)
{
    (void)ctx;
    hs_peak_sample(); /* huge pages are about to go */
    hs_vmguard_token_t guard = hs_vmguard_enter((uintptr_t)addr, len);
    int err = hs_os_purge(addr, len, true);
    hs_vmguard_leave(guard);
    return err;
}

static uint64_t hs_real_now(void *ctx)
{
    (void)ctx;
    return hs_os_now_coarse_ns();
}

void hs_large_init(const hs_large_ops_t *ops, const hs_large_policy_t *policy)
{
    static const hs_large_ops_t real = {hs_real_chunk, hs_real_release, hs_real_now, NULL};
    hs_ops = ops ? *ops : real;
    hs_policy = policy ? *policy : hs_default_policy;
}

void hs_large_reset(void)
{
    pthread_mutex_lock(&hs_large_lock);
    hs_nspans = 0;
    hs_used_bytes = hs_kept_bytes = hs_chunk_bytes = hs_peak_used = 0;
    __atomic_store_n(&hs_kept_until, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&hs_nchunks, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&hs_lo, UINTPTR_MAX, __ATOMIC_RELAXED);
    __atomic_store_n(&hs_hi, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&hs_large_lock);
}

/* ---- the span array ---- */

static bool hs_spans_room(size_t more)
{
    if (hs_nspans + more <= hs_span_cap)
        return true;
    size_t cap = hs_span_cap ? hs_span_cap * 2 : 1024;
    while (cap < hs_nspans + more)
        cap *= 2;
    void *mem;
    if (hs_os_map_plain(cap * sizeof(hs_span_t), &mem) != 0)
        return false;
    if (hs_spans) {
        memcpy(mem, hs_spans, hs_nspans * sizeof(hs_span_t));
        hs_os_munmap(hs_spans, hs_span_cap * sizeof(hs_span_t));
    }
    hs_spans = mem;
    hs_span_cap = cap;
    return true;
}

/* The index of the span holding addr, or -1. */
static long hs_find(uintptr_t addr)
{
    size_t lo = 0, hi = hs_nspans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (hs_spans[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const hs_span_t *s = &hs_spans[lo - 1];
    return addr < s->start + s->len ? (long)(lo - 1) : -1;
}

/* Replace spans [i, j) by the n spans in `with` (room checked by the caller). */
static void hs_splice(size_t i, size_t j, const hs_span_t *with, size_t n)
{
    memmove(&hs_spans[i + n], &hs_spans[j], (hs_nspans - j) * sizeof(hs_span_t));
    if (n)
        memcpy(&hs_spans[i], with, n * sizeof(hs_span_t));
    hs_nspans = hs_nspans - (j - i) + n;
}

static bool hs_free_state(const hs_span_t *s)
{
    return s->state != HS_SPAN_USED;
}

/* Whether span b follows span a in the same chunk with no gap. */
static bool hs_adjacent(const hs_span_t *a, const hs_span_t *b)
{
    return a->chunk == b->chunk && a->start + a->len == b->start;
}

/* Merge clean span i with clean neighbours; its new index.  Kept spans stay
 * apart, each with its own age (placement looks across neighbours anyway). */
static size_t hs_coalesce(size_t i)
{
    if (hs_spans[i].state != HS_SPAN_CLEAN)
        return i;
    if (i + 1 < hs_nspans && hs_spans[i + 1].state == hs_spans[i].state && hs_adjacent(&hs_spans[i], &hs_spans[i + 1])) {
        hs_spans[i].len += hs_spans[i + 1].len;
        hs_splice(i + 1, i + 2, NULL, 0);
    }
    if (i > 0 && hs_spans[i - 1].state == hs_spans[i].state && hs_adjacent(&hs_spans[i - 1], &hs_spans[i])) {
        hs_spans[i - 1].len += hs_spans[i].len;
        hs_splice(i, i + 1, NULL, 0);
        i--;
    }
    return i;
}

/* The last len bytes of span i (all of it if len is its length) take the
 * free state `state` (kept since freed_ns, or clean), split off when they
 * are not the whole span (room checked by the caller). */
static void hs_tail_becomes(size_t i, size_t len, uint8_t state, uint64_t freed_ns)
{
    hs_span_t *s = &hs_spans[i];
    if (len == s->len) {
        s->state = state;
        s->freed_ns = freed_ns;
        hs_coalesce(i);
        return;
    }
    hs_span_t tail = *s;
    tail.start = s->start + s->len - len;
    tail.len = len;
    tail.state = state;
    tail.freed_ns = freed_ns;
    s->len -= len;
    hs_splice(i + 1, i + 1, &tail, 1);
    hs_coalesce(i + 1);
}

/* ---- giving back ---- */

/* Give back the last len bytes of kept span i (all of it if len >= its
 * length); they become a clean span. */
static void hs_release(size_t i, size_t len)
{
    if (len < hs_spans[i].len && !hs_spans_room(1))
        len = hs_spans[i].len; /* no room to split it: all of it goes */
    hs_span_t *s = &hs_spans[i];
    if (len > s->len)
        len = s->len;
    uintptr_t at = s->start + s->len - len;
    if (hs_ops.release(hs_ops.ctx, (void *)at, len) != 0) {
        /* Left resident and counted kept: the next call tries again. */
        hs_count(HS_CTR_HEAP_LARGE_RELEASE_FAILED, 1);
        return;
    }
    hs_kept_bytes -= len;
    hs_count(HS_CTR_HEAP_LARGE_RELEASED_BYTES, len);
    hs_tail_becomes(i, len, HS_SPAN_CLEAN, 0);
}

/* The kept span (of a kind that is given back) freed longest ago, or -1. */
static long hs_oldest_kept(void)
{
    long oldest = -1;
    for (size_t i = 0; i < hs_nspans; i++)
        if (hs_spans[i].state == HS_SPAN_KEPT && hs_releasable(&hs_spans[i]) &&
            (oldest < 0 || hs_spans[i].freed_ns < hs_spans[oldest].freed_ns))
            oldest = (long)i;
    return oldest;
}

/* Keep what the policy allows: spans older than keep_ns go, then the oldest
 * until the kept bytes are within the bound; the oldest left says when the
 * next tick has work. */
static void hs_trim(void)
{
    uint64_t now = hs_ops.now_ns(hs_ops.ctx);
    size_t bound = hs_peak_used - hs_used_bytes;
    if (bound < hs_policy.keep_min)
        bound = hs_policy.keep_min;
    long oldest;
    while ((oldest = hs_oldest_kept()) >= 0) {
        const hs_span_t *s = &hs_spans[oldest];
        size_t before = hs_kept_bytes;
        if (now - s->freed_ns >= hs_policy.keep_ns)
            hs_release((size_t)oldest, s->len);
        else if (hs_kept_bytes > bound)
            hs_release((size_t)oldest, hs_up(hs_kept_bytes - bound, HS_UNIT));
        else
            break;
        if (hs_kept_bytes == before)
            break; /* the kernel refused: try at the next call */
    }
    uint64_t until = oldest < 0 ? 0 : hs_spans[oldest].freed_ns + hs_policy.keep_ns + 1;
    __atomic_store_n(&hs_kept_until, until, __ATOMIC_RELAXED);
}

void hs_large_tick(void)
{
    uint64_t until = __atomic_load_n(&hs_kept_until, __ATOMIC_RELAXED);
    if (!until || hs_ops.now_ns(hs_ops.ctx) < until || pthread_mutex_trylock(&hs_large_lock) != 0)
        return;
    hs_trim();
    pthread_mutex_unlock(&hs_large_lock);
}

/* ---- taking ---- */

/* Resident bytes the allocation would reuse (up to 16 ranges, to zero for a
 * calloc; more: the whole object is zeroed). */
typedef struct {
    unsigned n;
    bool overflow;
    uintptr_t start[16];
    size_t len[16];
} hs_dirty_t;

/* Make [at, at+len) one used span; it lies in free spans from index i on,
 * contiguous in one chunk.  Returns the used span's index. */
static size_t hs_carve(size_t i, uintptr_t at, size_t len, hs_dirty_t *dirty)
{
    uintptr_t end = at + len;
    size_t j = i;
    size_t reused = 0;
    while (hs_spans[j].start + hs_spans[j].len < end)
        j++;
    for (size_t k = i; k <= j; k++) {
        const hs_span_t *s = &hs_spans[k];
        uintptr_t a = s->start > at ? s->start : at, b = s->start + s->len < end ? s->start + s->len : end;
        if (s->state == HS_SPAN_CLEAN || b <= a)
            continue;
        reused += b - a;
        if (hs_releasable(s))
            hs_kept_bytes -= b - a;
        if (dirty->n < 16) {
            dirty->start[dirty->n] = a;
            dirty->len[dirty->n++] = b - a;
        } else {
            dirty->overflow = true;
        }
    }
    hs_count(HS_CTR_HEAP_LARGE_REUSED_BYTES, reused);
    hs_count(HS_CTR_HEAP_LARGE_FRESH_BYTES, len - reused);
    hs_span_t out[3];
    size_t n = 0;
    if (at > hs_spans[i].start) {
        out[n] = hs_spans[i];
        out[n++].len = at - hs_spans[i].start;
    }
    size_t used = n;
    out[n] = hs_spans[i];
    out[n].start = at;
    out[n].len = len;
    out[n++].state = HS_SPAN_USED;
    uintptr_t last_end = hs_spans[j].start + hs_spans[j].len;
    if (last_end > end) {
        out[n] = hs_spans[j];
        out[n].start = end;
        out[n++].len = last_end - end;
    }
    hs_splice(i, j + 1, out, n);
    hs_used_bytes += len;
    if (hs_used_bytes > hs_peak_used)
        hs_peak_used = hs_used_bytes;
    return i + used;
}

/* The best place for len bytes aligned to align among the free spans: the
 * most resident bytes reused, then the least left over in the spans it
 * touches.  false: none fits. */
static bool hs_best_place(size_t len, size_t align, size_t *index, uintptr_t *at_out)
{
    bool found = false;
    size_t best_reuse = 0, best_waste = 0;
    for (size_t i = 0; i < hs_nspans; i++) {
        if (!hs_free_state(&hs_spans[i]))
            continue;
        uintptr_t at = hs_up(hs_spans[i].start, align);
        if (at >= hs_spans[i].start + hs_spans[i].len)
            continue;
        uintptr_t end = at + len;
        size_t reuse = 0, j = i;
        for (;;) {
            const hs_span_t *s = &hs_spans[j];
            uintptr_t a = s->start > at ? s->start : at, b = s->start + s->len < end ? s->start + s->len : end;
            if (s->state == HS_SPAN_KEPT && b > a)
                reuse += b - a;
            if (s->start + s->len >= end || j + 1 == hs_nspans || !hs_free_state(&hs_spans[j + 1]) ||
                !hs_adjacent(s, &hs_spans[j + 1]))
                break;
            j++;
        }
        uintptr_t run_end = hs_spans[j].start + hs_spans[j].len;
        if (run_end < end)
            continue;
        size_t waste = (at - hs_spans[i].start) + (run_end - end);
        if (!found || reuse > best_reuse || (reuse == best_reuse && waste < best_waste)) {
            found = true;
            best_reuse = reuse;
            best_waste = waste;
            *index = i;
            *at_out = at;
        }
    }
    return found;
}

/* Map a chunk for len bytes aligned to align: a quarter of what is mapped
 * already, 64 MiB to 1 GiB (a request the kernel grants under its
 * overcommit heuristic), so that chunks stay few; just enough if that fails.
 * Its clean span is added; false when nothing could be mapped. */
#define HS_CHUNK_MIN ((size_t)64 << 20)
#define HS_CHUNK_MAX ((size_t)1 << 30)
static bool hs_grow(size_t len, size_t align)
{
    unsigned n = __atomic_load_n(&hs_nchunks, __ATOMIC_RELAXED);
    if (n == HS_CHUNKS_MAX || !hs_spans_room(4))
        return false;
    size_t need = len + (align > HS_UNIT ? align : 0);
    if (need < len)
        return false;
    size_t want = hs_up(hs_chunk_bytes / 4, HS_UNIT);
    want = want < HS_CHUNK_MIN ? HS_CHUNK_MIN : want > HS_CHUNK_MAX ? HS_CHUNK_MAX : want;
    if (want < need)
        want = need;
    void *mem;
    size_t got;
    int kind;
    if (hs_ops.chunk(hs_ops.ctx, want, need, &mem, &got, &kind) != 0)
        return false;
    uintptr_t start = (uintptr_t)mem;
    hs_span_t s = {start, got, 0, n, HS_SPAN_CLEAN, (uint8_t)kind};
    size_t i = 0, hi = hs_nspans;
    while (i < hi) {
        size_t mid = i + (hi - i) / 2;
        if (hs_spans[mid].start < start)
            i = mid + 1;
        else
            hi = mid;
    }
    hs_splice(i, i, &s, 1);
    hs_chunks[n].start = start;
    hs_chunks[n].end = start + got;
    __atomic_store_n(&hs_nchunks, n + 1, __ATOMIC_RELEASE);
    if (start < __atomic_load_n(&hs_lo, __ATOMIC_RELAXED))
        __atomic_store_n(&hs_lo, start, __ATOMIC_RELEASE);
    if (start + got > __atomic_load_n(&hs_hi, __ATOMIC_RELAXED))
        __atomic_store_n(&hs_hi, start + got, __ATOMIC_RELEASE);
    hs_chunk_bytes += got;
    hs_count(HS_CTR_HEAP_LARGE_CHUNK_BYTES, got);
    return true;
}

void *hs_large_alloc(size_t size, size_t align, bool zero)
{
    if (align < HS_UNIT)
        align = HS_UNIT;
    size_t len = hs_up(size, HS_UNIT);
    if (len < size || !size || (align & (align - 1)))
        return NULL;
    hs_dirty_t dirty = {0};
    uintptr_t at = 0;
    pthread_mutex_lock(&hs_large_lock);
    size_t i = 0;
    bool placed = hs_spans_room(2) &&
                  (hs_best_place(len, align, &i, &at) || (hs_grow(len, align) && hs_best_place(len, align, &i, &at)));
    if (placed) {
        hs_carve(i, at, len, &dirty);
        hs_trim();
    }
    pthread_mutex_unlock(&hs_large_lock);
    if (!placed)
        return NULL;
    hs_count(HS_CTR_HEAP_LARGE_ALLOCS, 1);
    /* Clean units are zero (never written since mapped or given back). */
    if (zero) {
        if (dirty.overflow)
            memset((void *)at, 0, len);
        else
            for (unsigned k = 0; k < dirty.n; k++)
                memset((void *)dirty.start[k], 0, dirty.len[k]);
    }
    return (void *)at;
}

bool hs_large_owns(const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    if (p < __atomic_load_n(&hs_lo, __ATOMIC_ACQUIRE) || p >= __atomic_load_n(&hs_hi, __ATOMIC_ACQUIRE))
        return false;
    unsigned n = __atomic_load_n(&hs_nchunks, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (p - hs_chunks[i].start < hs_chunks[i].end - hs_chunks[i].start)
            return true;
    return false;
}

/* The index of the live object at ptr, or -1.  Under the lock. */
static long hs_object(const void *ptr)
{
    long i = hs_find((uintptr_t)ptr);
    if (i < 0 || hs_spans[i].start != (uintptr_t)ptr || hs_spans[i].state != HS_SPAN_USED)
        return -1;
    return i;
}

/* Span i's last `len` bytes are freed: kept for reuse. */
static void hs_keep_tail(size_t i, size_t len)
{
    hs_span_t *s = &hs_spans[i];
    hs_used_bytes -= len;
    if (hs_releasable(s))
        hs_kept_bytes += len;
    hs_tail_becomes(i, len, HS_SPAN_KEPT, hs_ops.now_ns(hs_ops.ctx));
}

bool hs_large_free(void *ptr)
{
    pthread_mutex_lock(&hs_large_lock);
    long i = hs_object(ptr);
    bool ok = i >= 0 && hs_spans_room(1);
    if (ok) {
        hs_keep_tail((size_t)i, hs_spans[i].len);
        hs_trim();
    }
    pthread_mutex_unlock(&hs_large_lock);
    return ok;
}

size_t hs_large_usable(const void *ptr)
{
    pthread_mutex_lock(&hs_large_lock);
    long i = hs_object(ptr);
    size_t len = i >= 0 ? hs_spans[i].len : 0;
    pthread_mutex_unlock(&hs_large_lock);
    return len;
}

void *hs_large_realloc(void *ptr, size_t size)
{
    size_t len = hs_up(size, HS_UNIT);
    if (len < size || !size)
        return NULL;
    pthread_mutex_lock(&hs_large_lock);
    long i = hs_object(ptr);
    if (i < 0 || !hs_spans_room(3)) {
        pthread_mutex_unlock(&hs_large_lock);
        return NULL;
    }
    size_t old = hs_spans[i].len;
    if (len <= old) {
        if (len < old) {
            hs_keep_tail((size_t)i, old - len);
            hs_trim();
        }
        pthread_mutex_unlock(&hs_large_lock);
        return ptr;
    }
    /* In place, when the free spans after it reach far enough. */
    uintptr_t end = hs_spans[i].start + old, want_end = hs_spans[i].start + len;
    size_t j = (size_t)i;
    while (j + 1 < hs_nspans && hs_free_state(&hs_spans[j + 1]) && hs_adjacent(&hs_spans[j], &hs_spans[j + 1]) &&
           hs_spans[j].start + hs_spans[j].len < want_end)
        j++;
    if (j > (size_t)i && hs_spans[j].start + hs_spans[j].len >= want_end) {
        hs_dirty_t dirty = {0};
        size_t k = hs_carve((size_t)i + 1, end, len - old, &dirty);
        /* The grown part joins the object. */
        hs_spans[k - 1].len += hs_spans[k].len;
        hs_splice(k, k + 1, NULL, 0);
        hs_trim();
        pthread_mutex_unlock(&hs_large_lock);
        return ptr;
    }
    pthread_mutex_unlock(&hs_large_lock);
    void *moved = hs_large_alloc(size, 0, false);
    if (!moved)
        return NULL;
    memcpy(moved, ptr, old);
    hs_large_free(ptr);
    return moved;
}

void hs_large_stats(hs_large_stats_t *out)
{
    pthread_mutex_lock(&hs_large_lock);
    out->chunk_bytes = hs_chunk_bytes;
    out->used_bytes = hs_used_bytes;
    out->kept_bytes = hs_kept_bytes;
    pthread_mutex_unlock(&hs_large_lock);
}

void hs_large_prefork(void)
{
    pthread_mutex_lock(&hs_large_lock);
}

void hs_large_postfork_parent(void)
{
    pthread_mutex_unlock(&hs_large_lock);
}

void hs_large_postfork_child(void)
{
    pthread_mutex_init(&hs_large_lock, NULL);
}
