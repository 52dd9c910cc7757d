/* hs_large.h: objects of HS_HEAP_LARGE (8 MiB) and more, in 2 MiB units.
 * A span heap of its own beside jemalloc: chunks of whole huge pages, spans
 * kept in address order, best fit, and freed spans kept resident for a while
 * so that the next large object reuses their pages instead of faulting and
 * zeroing new ones (docs/heap.md, Large objects).  Its chunks lie outside the
 * heap window, so free()'s fast path never sees its pointers.  Thread-safe;
 * never calls malloc. */
#ifndef HS_LARGE_H
#define HS_LARGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How much freed memory stays resident for reuse, and for how long. */
typedef struct {
    size_t keep_min;  /* bytes kept in any case; beyond it, only as much as keeps the
                         resident bytes within the most live objects ever held */
    uint64_t keep_ns; /* a freed span older than this is given back at the next call */
} hs_large_policy_t;

/* The kernel as the span heap sees it, so that unit tests run it on a fake. */
typedef struct {
    /* Map a chunk of want bytes, or at least need if want cannot be had, of
     * whole huge pages (2 MiB aligned); *len_out: its length, *kind_out: its
     * kind (hs_os_kind_t).  0 or -errno. */
    int (*chunk)(void *ctx, size_t want, size_t need, void **out, size_t *len_out, int *kind_out);
    /* Give back the pages of [addr, addr+len) (they read zero after).  0 or -errno. */
    int (*release)(void *ctx, void *addr, size_t len);
    uint64_t (*now_ns)(void *ctx);
    void *ctx;
} hs_large_ops_t;

/* ops NULL: the real backing and kernel.  policy NULL: the defaults. */
void hs_large_init(const hs_large_ops_t *ops, const hs_large_policy_t *policy);
/* Forget every chunk (unit tests only; the memory is not unmapped). */
void hs_large_reset(void);

/* size bytes aligned to align (0: 2 MiB), zeroed if zero; NULL when no chunk
 * could be mapped (the caller falls back to jemalloc). */
void *hs_large_alloc(size_t size, size_t align, bool zero);
/* Whether ptr lies in one of the span heap's chunks: one compare for most
 * pointers, a short scan of the chunks otherwise; no lock. */
bool hs_large_owns(const void *ptr);
/* Free an object hs_large_alloc returned; false if ptr starts no live object
 * (nothing done). */
bool hs_large_free(void *ptr);
/* Resize an object to size >= HS_HEAP_LARGE: in place when it shrinks or the
 * units after it are free, else moved; NULL (ptr untouched) when no memory. */
void *hs_large_realloc(void *ptr, size_t size);
/* Bytes usable from ptr (0: not a live object). */
size_t hs_large_usable(const void *ptr);

/* Give back kept spans older than keep_ns, if any: one load when none is
 * due; never waits for the lock.  From jemalloc's hooks (the program's heap
 * activity) and the epoch thread, so that a program done with its large
 * objects does not keep their pages. */
void hs_large_tick(void);

typedef struct {
    size_t chunk_bytes; /* mapped */
    size_t used_bytes;  /* in live objects */
    size_t kept_bytes;  /* freed, still resident for reuse */
} hs_large_stats_t;
void hs_large_stats(hs_large_stats_t *out);

void hs_large_prefork(void);
void hs_large_postfork_parent(void);
void hs_large_postfork_child(void);

#ifdef __cplusplus
}
#endif
#endif
