/* hs_heap.h: the heap, served by the jemalloc linked into libhugeshim.so.
 * The build renames jemalloc's public symbols to hs_je_* (so only shim/
 * exports malloc) and points its arenas' extent hooks at the backing. */
#ifndef HS_HEAP_H
#define HS_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void *hs_je_malloc(size_t size);
void *hs_je_calloc(size_t n, size_t size);
void *hs_je_realloc(void *ptr, size_t size);
void hs_je_free(void *ptr);
int hs_je_posix_memalign(void **out, size_t align, size_t size);
void *hs_je_aligned_alloc(size_t align, size_t size);
void *hs_je_memalign(size_t align, size_t size);
void *hs_je_valloc(size_t size);
size_t hs_je_malloc_usable_size(void *ptr);
int hs_je_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
void *hs_je_mallocx(size_t size, int flags);
void *hs_je_rallocx(void *ptr, size_t size, int flags);
void hs_je_sdallocx(void *ptr, size_t size, int flags);

/* Objects by size, each class in arenas of its own:
 * - up to hs_heap_small_max: jemalloc's automatic arenas, on the backing's
 *   first kind (THP by default);
 * - medium, with HUGESHIM_HEAP_MEDIUM=base only: above jemalloc's largest
 *   slab class (14 KiB) and below HS_HEAP_LARGE, arenas whose memory never
 *   takes THP regions (hugetlb still, when asked for).  Programs may leave
 *   much of such objects unwritten (buffers reserved bigger than filled, holes
 *   between live ones) and a THP region zeroes and keeps a whole 2 MiB page
 *   for the first byte written: stress-ng's malloc stressor held 1.2 GB there
 *   where stock jemalloc held 0.43 GB.  One arena per 4 automatic ones; a
 *   thread keeps the one it first got.  With the default (huge), medium
 *   objects are small ones: hs_heap_small_max is HS_HEAP_LARGE - 1.
 * - large (HS_HEAP_LARGE and up): the span heap (hs_large.h), on the first
 *   kind (such objects are mostly arrays, written whole), which keeps a
 *   bounded amount of freed memory resident for the next large object; when
 *   it cannot map a chunk, one jemalloc arena that returns freed memory at
 *   once (decay 0). */
#define HS_HEAP_LARGE ((size_t)8 << 20)
extern __attribute__((visibility("hidden"))) size_t hs_heap_small_max;
/* Medium or large objects, size > hs_heap_small_max; align 0: natural. */
void *hs_heap_big_alloc(size_t size, size_t align, bool zero);
/* A live object resized to size > hs_heap_small_max. */
void *hs_heap_big_realloc(void *ptr, size_t size);
/* realloc of a live heap object (jemalloc's or the span heap's), any size. */
void *hs_heap_realloc(void *ptr, size_t size);

/* Zero a new object of n >= HS_HEAP_ZERO_MIN bytes for calloc.  In base-page
 * regions, as jemalloc's default hooks do and its path for custom hooks does
 * not: the whole pages inside the object are given back (MADV_DONTNEED) and
 * come back zero when written; only the partial pages at its ends are
 * memset.  jemalloc memsets the whole of a reused extent for arenas with
 * custom hooks, which faults in and keeps every page a calloc'd buffer spans,
 * written later or not.  THP and hugetlb memory is memset, as before: giving
 * back a huge page to have it zeroed again at the next write saves nothing. */
#define HS_HEAP_ZERO_MIN ((size_t)16 << 10)
/* Whether calloc of n bytes goes that way: objects of HS_HEAP_ZERO_MIN up to
 * HS_HEAP_LARGE whose arena takes base pages (HUGESHIM_BACKING=base, dense
 * mode, medium objects with HEAP_MEDIUM=base).  Others keep jemalloc's
 * calloc, which knows when memory is fresh and needs no zeroing. */
bool hs_heap_calloc_on_base(size_t n);
void hs_heap_zero(void *p, size_t n);

/* Whoever listens to the heap: dense mode (allocator/hugify.c).  Each
 * function may be NULL; all must be cheap, callable from any thread inside
 * jemalloc's extent hooks, and never call malloc. */
typedef struct hs_heap_listener {
    /* Base pages of the heap were given back (a purged unit is measured
     * again). */
    void (*purged)(uintptr_t start, size_t len);
    /* An arena took, split or purged memory; grown: bytes of a 4 KiB-page
     * region a dense arena just took, else 0 (dense mode's pass runs on the
     * program's threads, soon after such activity). */
    void (*active)(size_t grown);
    /* Whether the 2 MiB unit at `unit`, in a 4 KiB-page region, was made a
     * huge page (collapsed, or advised before its first write): the purge
     * hooks and calloc's zeroing then keep it whole, as in a THP region,
     * since giving back part of it would split it. */
    bool (*unit_huge)(uintptr_t unit);
    /* Whether regions the dense arenas take now are THP regions, as with
     * eager (while dense mode finds the heap filling densely: a region born
     * then would fill densely too, and would otherwise wait on 4 KiB faults
     * and a collapse for each of its units). */
    bool (*born_huge)(void);
} hs_heap_listener_t;
/* Set the listener (one at most; NULL: none).  listener must outlive the
 * process's use of the heap. */
void hs_heap_listen(const hs_heap_listener_t *listener);
const hs_heap_listener_t *hs_heap_listener_now(void);

/* Create the hooks and install them on every automatic arena, and create
 * the large arena and, when medium_on_base, the medium ones.  dense
 * (HUGESHIM_HEAP_THP=dense): every arena but the large one takes memory
 * without THP, for allocator/hugify.c to make huge where it is dense.  0; -ENOMEM
 * when jemalloc could not boot (its first mappings failed); -1 when it
 * refused the hooks.  The caller then runs without hugeshim's heap. */
int hs_heap_init(bool medium_on_base, bool dense);

/* The static start-up buffer: memory handed out while hugeshim initialises
 * (a recursive malloc from a libc call made by init).  Never freed. */
void *hs_early_alloc(size_t size, size_t align);
bool hs_early_owns(const void *ptr);
size_t hs_early_size(const void *ptr);

#ifdef __cplusplus
}
#endif
#endif
