/* early.c: a bump allocator over a static buffer for the few allocations made
 * while hugeshim initialises (pthread_atfork's handler list, for one).  Its
 * blocks are never reused: free() recognises and ignores them. */
#include <stdint.h>
#include <string.h>

#include "../common/hs_counters.h"
#include "hs_heap.h"

#define HS_EARLY_SIZE (256 * 1024)
#define HS_EARLY_HEADER 16

static _Alignas(4096) unsigned char hs_early_buf[HS_EARLY_SIZE];
static size_t hs_early_used;

void *hs_early_alloc(size_t size, size_t align)
{
    if (align < HS_EARLY_HEADER)
        align = HS_EARLY_HEADER;
    if (size > HS_EARLY_SIZE || align > 4096)
        return NULL;
    size_t used = __atomic_load_n(&hs_early_used, __ATOMIC_RELAXED);
    for (;;) {
        size_t start = (used + HS_EARLY_HEADER + align - 1) & ~(align - 1);
        size_t end = start + size;
        if (end > HS_EARLY_SIZE)
            return NULL;
        if (__atomic_compare_exchange_n(&hs_early_used, &used, end, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            memcpy(hs_early_buf + start - sizeof(size_t), &size, sizeof size);
            hs_count(HS_CTR_HEAP_EARLY_ALLOCS, 1);
            return hs_early_buf + start; /* static storage: already zero */
        }
    }
}

bool hs_early_owns(const void *ptr)
{
    return (const unsigned char *)ptr >= hs_early_buf && (const unsigned char *)ptr < hs_early_buf + HS_EARLY_SIZE;
}

size_t hs_early_size(const void *ptr)
{
    size_t size;
    memcpy(&size, (const unsigned char *)ptr - sizeof(size_t), sizeof size);
    return size;
}
