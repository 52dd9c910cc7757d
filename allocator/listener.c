/* listener.c: the heap's listener (hs_heap.h).  Kept apart from heap.c,
 * which is linked into the library only: dense mode, which sets it, is in
 * libhscore with the unit tests. */
#include "hs_heap.h"

static const hs_heap_listener_t *hs_listener;

void hs_heap_listen(const hs_heap_listener_t *listener)
{
    __atomic_store_n(&hs_listener, listener, __ATOMIC_RELEASE);
}

const hs_heap_listener_t *hs_heap_listener_now(void)
{
    return __atomic_load_n(&hs_listener, __ATOMIC_ACQUIRE);
}
