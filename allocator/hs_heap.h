/* hs_heap.h: the heap, served by the jemalloc linked into libhugeshim.so.
 * The build renames jemalloc's public symbols to hs_je_* (so only shim/
 * exports malloc) and points its arenas' extent hooks at the backing. */
#ifndef HS_HEAP_H
#define HS_HEAP_H

#include <stdbool.h>
#include <stddef.h>

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

/* Objects of this size and up live in one arena of their own that returns
 * freed memory at once (decay 0), as jemalloc's own oversize arena would if
 * it could take custom hooks.  Without it, freed large buffers would wait 10 s
 * of decay and the program's RSS would balloon past a plain run's. */
#define HS_HEAP_LARGE ((size_t)8 << 20)
/* align 0: natural alignment. */
void *hs_heap_large_alloc(size_t size, size_t align, bool zero);
void *hs_heap_large_realloc(void *ptr, size_t size);

/* Create the hooks and install them on every automatic arena.  0; -ENOMEM
 * when jemalloc could not boot (its first mappings failed); -1 when it
 * refused the hooks.  The caller then runs without hugeshim's heap. */
int hs_heap_init(void);

/* The static start-up buffer: memory handed out while hugeshim initialises
 * (a recursive malloc from a libc call made by init).  Never freed. */
void *hs_early_alloc(size_t size, size_t align);
bool hs_early_owns(const void *ptr);
size_t hs_early_size(const void *ptr);

#ifdef __cplusplus
}
#endif
#endif
