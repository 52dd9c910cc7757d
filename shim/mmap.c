/* mmap.c: the program's own mmaps.  Anonymous private read-write mappings of
 * at least HUGESHIM_MMAP_MIN bytes, placed by the kernel (no address given),
 * become 2 MiB-aligned THP regions.  Everything else passes through as it
 * is: files, MAP_SHARED, MAP_FIXED, address hints, stacks, guard (PROT_NONE)
 * and executable mappings.  Partial munmap/mremap/madvise/mprotect of a
 * backed region behave as on any anonymous mapping: THP regions are ordinary
 * VMAs, so the kernel splits huge pages where the program cuts them. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <sys/types.h>

#include "../allocator/hs_backing.h"
#include "../allocator/hs_peak.h"
#include "../allocator/hs_registry.h"
#include "../common/hs_counters.h"
#include "../common/hs_errno.h"
#include "../common/hs_vmguard.h"
#include "../observe/hs_sites.h"
#include "hs_shim.h"

#define HS_MAP_FAILED ((void *)-1)

static bool hs_active(void)
{
    return __atomic_load_n(&hs_shim_state, __ATOMIC_ACQUIRE) == HS_STATE_ACTIVE;
}

/* The kernel's mmap, with libc's result convention. */
static void *hs_mmap_plain(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    void *out = NULL;
    int err = hs_os_mmap(addr, len, prot, flags, fd, offset, &out);
    return hs_errno_ptr(err, out);
}

HS_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    void *out;
    if (hs_shim_state_now() != HS_STATE_ACTIVE)
        return hs_mmap_plain(addr, len, prot, flags, fd, offset);
    if (hs_shim_mmap_min && !addr && len >= hs_shim_mmap_min) {
        hs_os_mmap_request_t req;
        hs_os_decode_mmap(prot, flags, &req);
        if (req.anonymous && req.private_mapping && !req.fixed && !req.stack_or_guard && !req.special) {
            int saved = errno;
            hs_os_kind_t kind;
            if (hs_backing_map_region(len, prot, req.noreserve, req.populate, &out, &kind) == 0) {
                hs_count(HS_CTR_MMAP_INTERCEPTED, 1);
                hs_count(HS_CTR_MMAP_INTERCEPTED_BYTES, len);
                hs_sites_note_alloc(out, len);
                errno = saved;
                return out;
            }
            errno = saved;
        }
    }
    hs_count(HS_CTR_MMAP_PASSED, 1);
    return hs_mmap_plain(addr, len, prot, flags, fd, offset);
}

HS_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    return mmap(addr, len, prot, flags, fd, offset);
}

HS_EXPORT int munmap(void *addr, size_t len)
{
    /* Before the kernel call: after it, another thread may map and sample
     * the same address. */
    hs_sites_note_free(addr);
    hs_region_t region;
    if (hs_active() && len >= HS_OS_HUGE_2M && hs_registry_find((uintptr_t)addr, &region) &&
        region.kind != HS_OS_KIND_BASE)
        hs_peak_sample(); /* huge pages are about to go */
    hs_registry_change_begin();
    hs_vmguard_token_t guard = hs_vmguard_enter((uintptr_t)addr, len);
    /* Heap memory unmapped by the program goes back to the heap window's
     * reservation: the range stays held (allocator/hs_backing.h). */
    int err = hs_backing_unmap_heap(addr, len);
    hs_vmguard_leave(guard);
    if (!err && hs_active()) {
        size_t forgotten = hs_registry_remove((uintptr_t)addr, len);
        if (forgotten)
            hs_count(HS_CTR_MMAP_UNMAPPED_BYTES, forgotten);
    }
    hs_registry_change_end();
    return err ? hs_errno_int(err) : 0;
}

HS_EXPORT void *mremap(void *old_addr, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL, *out;
    va_list ap;
    va_start(ap, flags);
    if (hs_os_mremap_is_fixed(flags))
        new_addr = va_arg(ap, void *);
    va_end(ap);
    hs_registry_change_begin();
    hs_region_t region;
    bool tracked = hs_active() && hs_registry_find((uintptr_t)old_addr, &region);
    hs_vmguard_token_t guard = hs_vmguard_enter((uintptr_t)old_addr, old_len > new_len ? old_len : new_len);
    int err = hs_os_mremap(old_addr, old_len, new_len, flags, new_addr, &out);
    /* Heap memory moved away by the program: hold its old range again. */
    if (!err && out != old_addr && old_len && hs_backing_in_window((uintptr_t)old_addr, old_len))
        hs_os_rereserve(old_addr, old_len, false);
    hs_vmguard_leave(guard);
    /* The VMA keeps its MADV_HUGEPAGE advice when moved or grown; follow it. */
    if (!err && tracked && old_len) {
        hs_sites_note_free(old_addr);
        hs_registry_remove((uintptr_t)old_addr, old_len);
        if (hs_registry_add((uintptr_t)out, new_len, (hs_os_kind_t)region.kind, (hs_origin_t)region.origin) != 0)
            hs_count(HS_CTR_ERRORS_REGISTRY_FULL, 1);
    }
    hs_registry_change_end();
    return err ? hs_errno_ptr(err, NULL) : out;
}
