/* malloc.c: the exported malloc API.
 * ACTIVE: jemalloc (its arenas backed by huge pages).  PASSTHROUGH: glibc.
 * A pointer is freed by whoever allocated it: the ownership bitmap says
 * whether jemalloc did, the early buffer's range says whether start-up did,
 * anything else is glibc's. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../allocator/hs_heap.h"
#include "../allocator/hs_large.h"
#include "../allocator/hs_registry.h"
#include "../common/hs_counters.h"
#include "../allocator/hs_hugify.h"
#include "../observe/hs_sites.h"
#include "hs_shim.h"

#define HS_PAGE 4096

/* Only an active process reports; a passthrough one skips the shared counter. */
static void hs_count_foreign(void)
{
    if (__atomic_load_n(&hs_shim_state, __ATOMIC_RELAXED) == HS_STATE_ACTIVE)
        hs_count(HS_CTR_HEAP_FOREIGN_FREES, 1);
}

static void *hs_early_or_enomem(size_t size, size_t align)
{
    void *p = hs_early_alloc(size, align);
    if (!p)
        errno = ENOMEM;
    return p;
}

static inline void *hs_active_malloc(size_t size)
{
    return hs_likely(size <= hs_heap_small_max) ? hs_je_malloc(size) : hs_heap_big_alloc(size, 0, false);
}

/* Dense mode asked for its pass (allocator/hugify.c): run it here, on the
 * program's thread and outside jemalloc. */
static inline void hs_dense_due(void)
{
    if (hs_unlikely(__atomic_load_n(&hs_hugify_due_flag, __ATOMIC_ACQUIRE)))
        hs_hugify_run_due();
}

/* The count crossed zero: this allocation is sampled. */
static __attribute__((noinline)) void *hs_malloc_sampled(size_t size)
{
    hs_dense_due();
    void *p = hs_active_malloc(size);
    if (p)
        hs_sites_sample(p, size);
    return p;
}

/* Not active yet, or passthrough. */
static __attribute__((noinline)) void *hs_malloc_slow(size_t size)
{
    switch (hs_shim_state_now()) {
    case HS_STATE_ACTIVE: {
        /* Here when sites are off and the fast word was cleared to run
         * dense mode's pass: run it and take the fast path again.  Sites
         * turned on meanwhile clear the word after setting hs_sites_on: the
         * second look puts it back to 0 if this store came after theirs. */
        hs_dense_due();
        /* A pass that stopped at its budget keeps calls on this path until
         * the next is due. */
        if (!__atomic_load_n(&hs_sites_on, __ATOMIC_SEQ_CST) &&
            !__atomic_load_n(&hs_hugify_due_flag, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&hs_shim_malloc_fast_below, hs_heap_small_max + 1, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&hs_sites_on, __ATOMIC_SEQ_CST))
                __atomic_store_n(&hs_shim_malloc_fast_below, 0, __ATOMIC_SEQ_CST);
        }
        void *p = hs_active_malloc(size);
        hs_sites_note_alloc(p, size);
        return p;
    }
    case HS_STATE_PASSTHROUGH: return __libc_malloc(size);
    default: return hs_early_or_enomem(size, 16);
    }
}

HS_EXPORT void *malloc(size_t size)
{
    /* One word says ACTIVE, not sampling and how small an object jemalloc's
     * automatic arenas take: the fast path is one compare and a tail call. */
    if (hs_likely(size < __atomic_load_n(&hs_shim_malloc_fast_below, __ATOMIC_ACQUIRE)))
        return hs_je_malloc(size);
    /* Sampling (hs_sites_on is set only once ACTIVE): count down first, so
     * that an allocation not sampled still tail-calls jemalloc. */
    if (hs_likely(hs_sites_on)) {
        if (hs_likely((hs_sites_left -= (int64_t)size) >= 0))
            return hs_active_malloc(size);
        return hs_malloc_sampled(size);
    }
    return hs_malloc_slow(size);
}

/* Not in the heap window, or sites are on (NULL too: the heap never owns
 * page 0). */
static __attribute__((noinline)) void hs_free_slow(void *ptr)
{
    if (!ptr)
        return;
    if (hs_registry_owns(ptr)) {
        hs_sites_note_free(ptr);
        if (!hs_large_owns(ptr))
            hs_je_free(ptr);
        else if (!hs_large_free(ptr))
            hs_count(HS_CTR_HEAP_BAD_FREES, 1);
        return;
    }
    if (hs_early_owns(ptr))
        return;
    hs_count_foreign();
    __libc_free(ptr);
}

/* free's fast path: a pointer in the heap window while no sampler watches
 * frees (one range check).  Heap memory outside the window (hugetlb, past its
 * end) is found by the bitmap on the slow path. */
static inline bool hs_free_fast(const void *ptr)
{
    return hs_likely(hs_registry_free_fast(ptr));
}

HS_EXPORT void free(void *ptr)
{
    /* The fast path keeps no frame: one test, then a tail call. */
    if (hs_free_fast(ptr)) {
        hs_je_free(ptr);
        return;
    }
    hs_free_slow(ptr);
}

/* Not small, or more to do than jemalloc's calloc. */
static __attribute__((noinline)) void *hs_calloc_slow(size_t n, size_t size)
{
    switch (hs_shim_state_now()) {
    case HS_STATE_ACTIVE: {
        hs_dense_due();
        size_t total;
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        void *p;
        if (hs_heap_calloc_on_base(total)) {
            p = total <= hs_heap_small_max ? hs_je_malloc(total) : hs_heap_big_alloc(total, 0, false);
            if (p)
                hs_heap_zero(p, total);
        } else {
            p = total <= hs_heap_small_max ? hs_je_calloc(n, size) : hs_heap_big_alloc(total, 0, true);
        }
        hs_sites_note_alloc(p, total);
        return p;
    }
    case HS_STATE_PASSTHROUGH: return __libc_calloc(n, size);
    default: {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        return hs_early_or_enomem(total, 16); /* static storage is zero */
    }
    }
}

HS_EXPORT void *calloc(size_t n, size_t size)
{
    /* Small, and nothing to do but jemalloc: its calloc, as malloc's fast
     * path (objects calloc may zero itself start at HS_HEAP_ZERO_MIN). */
    size_t small;
    if (hs_likely(!__builtin_mul_overflow(n, size, &small) && small < HS_HEAP_ZERO_MIN &&
                  small < __atomic_load_n(&hs_shim_malloc_fast_below, __ATOMIC_ACQUIRE)))
        return hs_je_calloc(n, size);
    return hs_calloc_slow(n, size);
}

static __attribute__((noinline)) void *hs_realloc_slow(void *ptr, size_t size)
{
    if (!ptr)
        return malloc(size);
    if (hs_likely(hs_registry_owns(ptr))) {
        hs_dense_due();
        /* For sites, a realloc is a free and a new allocation. */
        hs_sites_note_free(ptr);
        void *p = hs_heap_realloc(ptr, size);
        hs_sites_note_alloc(p, size);
        return p;
    }
    if (hs_early_owns(ptr)) {
        /* Moved out of the early buffer, whose blocks are never reused. */
        size_t old = hs_early_size(ptr);
        void *p = malloc(size);
        if (p)
            memcpy(p, ptr, old < size ? old : size);
        return p;
    }
    hs_count_foreign();
    return __libc_realloc(ptr, size);
}

HS_EXPORT void *realloc(void *ptr, size_t size)
{
    /* jemalloc's object, a small size, nothing to do but jemalloc (malloc's
     * and free's fast words): its realloc.  Large objects are never in the
     * window. */
    if (hs_likely(size < __atomic_load_n(&hs_shim_malloc_fast_below, __ATOMIC_ACQUIRE) &&
                  hs_registry_free_fast(ptr)))
        return hs_je_realloc(ptr, size);
    return hs_realloc_slow(ptr, size);
}

HS_EXPORT void *reallocarray(void *ptr, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, total);
}

static bool hs_valid_alignment(size_t align)
{
    return align && !(align & (align - 1));
}

/* Aligned allocation of any flavour; errno set on failure. */
static void *hs_aligned(size_t align, size_t size)
{
    switch (hs_shim_state_now()) {
    case HS_STATE_ACTIVE: {
        hs_dense_due();
        void *p = size <= hs_heap_small_max ? hs_je_aligned_alloc(align, size) : hs_heap_big_alloc(size, align, false);
        hs_sites_note_alloc(p, size);
        return p;
    }
    case HS_STATE_PASSTHROUGH: return __libc_memalign(align, size);
    default: return hs_early_or_enomem(size, align);
    }
}

HS_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (!hs_valid_alignment(align) || align % sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = hs_aligned(align, size);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

HS_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (!hs_valid_alignment(align)) {
        errno = EINVAL;
        return NULL;
    }
    return hs_aligned(align, size);
}

HS_EXPORT void *memalign(size_t align, size_t size)
{
    /* glibc rounds a non-power-of-two alignment up rather than failing. */
    if (!hs_valid_alignment(align)) {
        if (align > SIZE_MAX / 2 + 1) {
            errno = EINVAL;
            return NULL;
        }
        size_t a = 1;
        while (a < align)
            a <<= 1;
        align = a;
    }
    return hs_aligned(align, size);
}

HS_EXPORT void *valloc(size_t size)
{
    return hs_aligned(HS_PAGE, size);
}

HS_EXPORT void *pvalloc(size_t size)
{
    size_t rounded = (size + HS_PAGE - 1) & ~(size_t)(HS_PAGE - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return hs_aligned(HS_PAGE, rounded ? rounded : HS_PAGE);
}

HS_EXPORT size_t malloc_usable_size(void *ptr)
{
    if (!ptr)
        return 0;
    if (hs_large_owns(ptr))
        return hs_large_usable(ptr);
    if (hs_registry_owns(ptr))
        return hs_je_malloc_usable_size(ptr);
    if (hs_early_owns(ptr))
        return hs_early_size(ptr);
    return hs_shim_foreign_usable_size(ptr);
}

/* For the C++ operators (cxx.c): the same calls, without a trip through the
 * PLT. */
__attribute__((visibility("hidden"), copy(malloc), alias("malloc"))) void *hs_shim_malloc(size_t size);
__attribute__((visibility("hidden"), copy(free), alias("free"))) void hs_shim_free(void *ptr);
__attribute__((visibility("hidden"))) void *hs_shim_aligned_alloc(size_t align, size_t size)
{
    return hs_aligned(align, size);
}

/* A sized free (C++'s sized delete): jemalloc skips its size lookup.  The
 * size is the program's promise, as with stock jemalloc's operator delete. */
__attribute__((visibility("hidden"))) void hs_shim_free_sized(void *ptr, size_t size, size_t align)
{
    if (hs_free_fast(ptr)) {
        hs_je_sdallocx(ptr, size, align > 16 ? __builtin_ctzl(align) : 0); /* MALLOCX_LG_ALIGN */
        return;
    }
    hs_free_slow(ptr);
}
