/* registry.c: region records and the heap ownership bitmap. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "../common/hs_range.h"
#include "hs_registry.h"

/* One bit per 2 MiB of the 47-bit user address space: 8 MiB of .bss, of
 * which only the pages covering used addresses are ever touched. */
uintptr_t hs_registry_window_lo;
size_t hs_registry_window_used;
size_t hs_registry_free_fast_len;
static bool hs_registry_frees_watched;
uint64_t hs_registry_owned_bits[(1ULL << (HS_OWN_LIMIT_SHIFT - HS_OWN_SHIFT)) / 64];

static hs_region_t *hs_regions;
static size_t hs_nregions;
static pthread_mutex_t hs_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t hs_registry_changes = PTHREAD_RWLOCK_INITIALIZER;

/* A watcher turned on between the two stores below sees its 0 stay: the
 * stores and the load are sequentially consistent, so either this load sees
 * the flag or the watcher's store of 0 comes after ours.  A watcher turned
 * off concurrently may leave the fast length short: such frees take the slow
 * path, which finds them by the bitmap. */
void hs_registry_window_grew(size_t used)
{
    __atomic_store_n(&hs_registry_window_used, used, __ATOMIC_RELEASE);
    __atomic_store_n(&hs_registry_free_fast_len, used, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&hs_registry_frees_watched, __ATOMIC_SEQ_CST))
        __atomic_store_n(&hs_registry_free_fast_len, 0, __ATOMIC_SEQ_CST);
}

void hs_registry_watch_frees(bool on)
{
    __atomic_store_n(&hs_registry_frees_watched, on, __ATOMIC_SEQ_CST);
    size_t len = on ? 0 : __atomic_load_n(&hs_registry_window_used, __ATOMIC_ACQUIRE);
    __atomic_store_n(&hs_registry_free_fast_len, len, __ATOMIC_SEQ_CST);
}

int hs_registry_init(void)
{
    if (hs_regions)
        return 0;
    void *mem;
    int err = hs_os_map_plain(HS_REGISTRY_CAPACITY * sizeof(hs_region_t), &mem);
    if (err)
        return err;
    hs_regions = mem;
    return 0;
}

static uintptr_t hs_region_end(const void *ctx, size_t i)
{
    const hs_region_t *r = (const hs_region_t *)ctx + i;
    return r->start + r->len;
}

/* First record whose end is above addr. */
static size_t hs_registry_lower_bound(uintptr_t addr)
{
    return hs_range_first_ending_after(hs_nregions, addr, hs_region_end, hs_regions);
}

static int hs_registry_insert_locked(const hs_region_t *r)
{
    if (!hs_regions || hs_nregions >= HS_REGISTRY_CAPACITY)
        return -ENOSPC;
    size_t at = hs_registry_lower_bound(r->start);
    memmove(&hs_regions[at + 1], &hs_regions[at], (hs_nregions - at) * sizeof *r);
    hs_regions[at] = *r;
    hs_nregions++;
    return 0;
}

static size_t hs_registry_remove_locked(uintptr_t start, size_t len)
{
    uintptr_t end = start + len;
    size_t removed = 0;
    size_t i = hs_registry_lower_bound(start);
    while (i < hs_nregions && hs_regions[i].start < end) {
        hs_region_t *r = &hs_regions[i];
        uintptr_t rs = r->start, re = r->start + r->len;
        uintptr_t cut_s = rs > start ? rs : start, cut_e = re < end ? re : end;
        removed += cut_e - cut_s;
        if (cut_s > rs && cut_e < re) {
            /* A hole in the middle: keep the head here, insert the tail. */
            hs_region_t tail = *r;
            tail.start = cut_e;
            tail.len = re - cut_e;
            r->len = cut_s - rs;
            if (hs_registry_insert_locked(&tail) != 0)
                break;
            i += 2;
        } else if (cut_s > rs) {
            r->len = cut_s - rs;
            i++;
        } else if (cut_e < re) {
            r->start = cut_e;
            r->len = re - cut_e;
            i++;
        } else {
            memmove(r, r + 1, (hs_nregions - i - 1) * sizeof *r);
            hs_nregions--;
        }
    }
    return removed;
}

size_t hs_registry_remove(uintptr_t start, size_t len)
{
    pthread_mutex_lock(&hs_registry_lock);
    size_t removed = hs_registry_remove_locked(start, len);
    pthread_mutex_unlock(&hs_registry_lock);
    return removed;
}

int hs_registry_add(uintptr_t start, size_t len, hs_os_kind_t kind, hs_origin_t origin)
{
    hs_region_t r = {start, len, (uint8_t)kind, (uint8_t)origin, -1};
    pthread_mutex_lock(&hs_registry_lock);
    /* A fresh mapping replaces whatever was recorded there (MAP_FIXED over
     * our range, or a stale record). */
    hs_registry_remove_locked(start, len);
    int err = hs_registry_insert_locked(&r);
    pthread_mutex_unlock(&hs_registry_lock);
    return err;
}

bool hs_registry_find(uintptr_t addr, hs_region_t *out)
{
    bool found = false;
    pthread_mutex_lock(&hs_registry_lock);
    size_t i = hs_registry_lower_bound(addr);
    if (i < hs_nregions && hs_regions[i].start <= addr) {
        *out = hs_regions[i];
        found = true;
    }
    pthread_mutex_unlock(&hs_registry_lock);
    return found;
}

size_t hs_registry_snapshot(hs_region_t *out, size_t cap)
{
    pthread_mutex_lock(&hs_registry_lock);
    size_t n = hs_nregions < cap ? hs_nregions : cap;
    memcpy(out, hs_regions, n * sizeof *out);
    size_t total = hs_nregions;
    pthread_mutex_unlock(&hs_registry_lock);
    return total < cap ? total : cap;
}

size_t hs_registry_count(void)
{
    pthread_mutex_lock(&hs_registry_lock);
    size_t n = hs_nregions;
    pthread_mutex_unlock(&hs_registry_lock);
    return n;
}

void hs_registry_mark_owned(uintptr_t start, size_t len)
{
    for (uintptr_t chunk = start >> HS_OWN_SHIFT; chunk < (start + len) >> HS_OWN_SHIFT; chunk++) {
        if (chunk >> (HS_OWN_LIMIT_SHIFT - HS_OWN_SHIFT))
            return;
        __atomic_fetch_or(&hs_registry_owned_bits[chunk >> 6], 1ULL << (chunk & 63), __ATOMIC_RELEASE);
    }
}

void hs_registry_change_begin(void)
{
    pthread_rwlock_rdlock(&hs_registry_changes);
}

void hs_registry_change_end(void)
{
    pthread_rwlock_unlock(&hs_registry_changes);
}

void hs_registry_follow_begin(void)
{
    pthread_rwlock_wrlock(&hs_registry_changes);
}

void hs_registry_follow_end(void)
{
    pthread_rwlock_unlock(&hs_registry_changes);
}

/* The change side before the mutex, as a munmap takes them. */
void hs_registry_prefork(void)
{
    pthread_rwlock_wrlock(&hs_registry_changes);
    pthread_mutex_lock(&hs_registry_lock);
}

void hs_registry_postfork_parent(void)
{
    pthread_mutex_unlock(&hs_registry_lock);
    pthread_rwlock_unlock(&hs_registry_changes);
}

void hs_registry_postfork_child(void)
{
    pthread_mutex_init(&hs_registry_lock, NULL);
    pthread_rwlock_init(&hs_registry_changes, NULL);
}

void hs_registry_reset_for_tests(void)
{
    pthread_mutex_lock(&hs_registry_lock);
    hs_nregions = 0;
    memset(hs_registry_owned_bits, 0, sizeof hs_registry_owned_bits);
    pthread_mutex_unlock(&hs_registry_lock);
}
