/* hs_backing.h: huge-page backing with a fallback chain.
 * 1 GiB hugetlb -> 2 MiB hugetlb -> THP region -> base pages, starting at the
 * requested kind.  A kind that fails is skipped until HUGESHIM_RETRY_MS has
 * passed; every step is counted (counters.def).  The kernel is reached only
 * through hs_backing_ops_t, so unit tests drive the chain with fakes and a
 * fake clock. */
#ifndef HS_BACKING_H
#define HS_BACKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../os/hs_os.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hs_backing_ops {
    /* As hs_os_map_kind. */
    int (*map)(void *ctx, hs_os_kind_t kind, size_t len, size_t align, int prot, bool noreserve, bool populate,
               void **out, bool *advised);
    uint64_t (*now_ns)(void *ctx);
    void *ctx;
} hs_backing_ops_t;

typedef struct hs_backing_config {
    hs_os_kind_t first_kind; /* what HUGESHIM_BACKING asked for */
    uint64_t retry_ns;       /* how long a failed kind is skipped */
    bool thp_available;      /* THP mode is always or madvise */
} hs_backing_config_t;

/* ops NULL: the real kernel (hs_os_map_kind, hs_os_now_ns). */
void hs_backing_init(const hs_backing_config_t *config, const hs_backing_ops_t *ops);

/* Page size of a kind, and the granule the heap maps it in. */
size_t hs_backing_page_size(hs_os_kind_t kind);
/* The kind the heap asks for first (HUGESHIM_BACKING). */
hs_os_kind_t hs_backing_first_kind(void);

/* What heap memory is for, which decides the kinds it may take. */
typedef enum {
    HS_HEAP_USE_OBJECTS,  /* small objects: every kind, from the first asked for */
    HS_HEAP_USE_NO_THP,   /* every kind but THP: medium objects, dense heaps (see hs_heap.h) */
    HS_HEAP_USE_METADATA, /* jemalloc's metadata: base pages only */
} hs_heap_use_t;

/* Heap memory for jemalloc: `size` bytes aligned to `align`, carved from
 * chunks mapped in whole huge pages of the first kind that works and `use`
 * allows.  The memory is new (zero) and owned for good: records are added to
 * the registry and the ownership bitmap.  0 or -ENOMEM. */
int hs_backing_heap_alloc(size_t size, size_t align, hs_heap_use_t use, void **out, hs_os_kind_t *kind);

/* A chunk for the span heap of large objects (hs_large.h): want bytes (need
 * when want cannot be had, and always for hugetlb, whose pool pages are
 * reserved at mmap) of whole pages of the first kind that works, 2 MiB
 * aligned, outside the heap window; owned and recorded like heap chunks.
 * *len_out: its length (rounded to the kind's page).  0 or -errno. */
int hs_backing_large_chunk(size_t want, size_t need, void **out, size_t *len_out, hs_os_kind_t *kind);

/* A program mmap of len bytes: a THP region 2 MiB-aligned, or base pages when
 * THP is unavailable.  Recorded in the registry with origin mmap.  0 or -errno. */
int hs_backing_map_region(size_t len, int prot, bool noreserve, bool populate, void **out, hs_os_kind_t *kind);

/* jemalloc's own mappings (its boot, and the extents arena 0 takes through
 * its default hooks before hugeshim's are installed): base pages in whole
 * 2 MiB granules, so an ownership granule never holds anyone else's memory;
 * owned, recorded and counted (backing.base_bytes, backing.regions) like
 * every region hugeshim maps.  0 or -errno. */
int hs_backing_map_owned_base(size_t len, int prot, void **out);

/* Whether [start, start+len) meets the heap window's reservation (handed out
 * or not: a program's munmap there must not open a hole a later chunk or
 * someone else's mapping would fill). */
bool hs_backing_in_window(uintptr_t start, size_t len);
/* Unmap memory (the program's munmap too): in the window, given back to the reservation (the range
 * stays held, so no one else's mapping lands where free() takes any pointer
 * for the heap's); elsewhere munmap.  0 or -errno. */
int hs_backing_unmap_heap(void *addr, size_t len);
void hs_backing_prefork(void);
void hs_backing_postfork_parent(void);
void hs_backing_postfork_child(void);

#ifdef __cplusplus
}
#endif
#endif
