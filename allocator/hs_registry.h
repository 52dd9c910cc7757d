/* hs_registry.h: what hugeshim owns.
 * - a region list (range, page kind, origin, node) for reports and the
 *   tracker, kept under a lock, splitting records on partial munmap;
 * - an ownership bitmap at 2 MiB granularity for the heap, read without a
 *   lock on every free() to route a pointer to jemalloc or to glibc. */
#ifndef HS_REGISTRY_H
#define HS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../os/hs_os.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hs_origin { HS_ORIGIN_HEAP = 0, HS_ORIGIN_MMAP = 1 } hs_origin_t;

typedef struct hs_region {
    uintptr_t start;
    size_t len;
    uint8_t kind;   /* hs_os_kind_t */
    uint8_t origin; /* hs_origin_t */
    int16_t node;   /* NUMA node the pages were last placed on, -1 unknown */
} hs_region_t;

#define HS_REGISTRY_CAPACITY 65536
#define HS_OWN_SHIFT 21 /* ownership granule: 2 MiB */

/* 0, or -ENOMEM when the record array cannot be mapped. */
int hs_registry_init(void);
/* 0, or -ENOSPC when full (the region works, it is just not tracked). */
int hs_registry_add(uintptr_t start, size_t len, hs_os_kind_t kind, hs_origin_t origin);
/* Forget [start, start+len) wherever it overlaps records, splitting them.
 * Returns the bytes forgotten. */
size_t hs_registry_remove(uintptr_t start, size_t len);
/* The record holding addr, if any. */
bool hs_registry_find(uintptr_t addr, hs_region_t *out);
/* Copy up to cap records in address order; returns the number of records. */
size_t hs_registry_snapshot(hs_region_t *out, size_t cap);
/* The program's munmap and mremap hold the change side from before their
 * system call until the registry says what the call did; the tracker holds
 * the follow side while it reads the registry and registers what it read
 * with the kernel.  Else it could register a stale range: a mapping grown
 * in place but registered at its old length is split in two VMAs, and the
 * program's next mremap of the whole fails with EFAULT.  Sides of a
 * reader-preferring rwlock: a change may nest in another (a signal handler). */
void hs_registry_change_begin(void);
void hs_registry_change_end(void);
void hs_registry_follow_begin(void);
void hs_registry_follow_end(void);
size_t hs_registry_count(void);
void hs_registry_prefork(void);
void hs_registry_postfork_parent(void);
void hs_registry_postfork_child(void);
/* Tests only: drop every record and ownership bit. */
void hs_registry_reset_for_tests(void);

/* Ownership: start and len must be multiples of 2 MiB. */
void hs_registry_mark_owned(uintptr_t start, size_t len);
extern uint64_t hs_registry_owned_bits[];
#define HS_OWN_LIMIT_SHIFT 47 /* user space without a 57-bit hint */

static inline bool hs_registry_owns(const void *ptr)
{
    uintptr_t chunk = (uintptr_t)ptr >> HS_OWN_SHIFT;
    if (chunk >> (HS_OWN_LIMIT_SHIFT - HS_OWN_SHIFT))
        return false;
    return (__atomic_load_n(&hs_registry_owned_bits[chunk >> 6], __ATOMIC_ACQUIRE) >> (chunk & 63)) & 1;
}

/* The heap window (allocator/backing.c): an address range reserved for the
 * heap alone, handed out from its start.  Everything in its first
 * hs_registry_window_used bytes is heap memory or held inaccessible, never
 * anyone else's, so that free() tells a heap pointer with one subtraction and
 * one compare of words that never move (the bitmap's word is found from the
 * pointer: a dependent load, measured at 5% of a malloc/free pair).  Hidden:
 * the shim reads them straight, not through the GOT. */
#define HS_REGISTRY_HIDDEN __attribute__((visibility("hidden")))
extern HS_REGISTRY_HIDDEN uintptr_t hs_registry_window_lo;
extern HS_REGISTRY_HIDDEN size_t hs_registry_window_used;
/* free()'s fast path: hs_registry_window_used while nobody watches frees, 0
 * while someone does (the allocation-site sampler), so that the fast path is
 * one range check. */
extern HS_REGISTRY_HIDDEN size_t hs_registry_free_fast_len;

/* The window grew to `used` bytes (allocator/backing.c). */
void hs_registry_window_grew(size_t used);
/* Every free goes to the slow path while on.  Turn it on before the first
 * pointer whose free must be seen is handed out. */
void hs_registry_watch_frees(bool on);

/* In the window, and nobody watches frees. */
static inline bool hs_registry_free_fast(const void *ptr)
{
    size_t len = __atomic_load_n(&hs_registry_free_fast_len, __ATOMIC_ACQUIRE);
    return (uintptr_t)ptr - __atomic_load_n(&hs_registry_window_lo, __ATOMIC_RELAXED) < len;
}

#ifdef __cplusplus
}
#endif
#endif
