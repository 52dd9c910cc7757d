/* mem.c: mapping, unmapping and advising memory with raw system calls. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "hs_os.h"
#include "raw.h"

int hs_os_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset, void **out)
{
    long ret = hs_os_syscall6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, (long)offset);
    if (ret < 0 && ret > -4096)
        return (int)ret;
    *out = (void *)ret;
    return 0;
}

int hs_os_munmap(void *addr, size_t len)
{
    return hs_os_result(hs_os_syscall6(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0));
}

int hs_os_mremap(void *old_addr, size_t old_len, size_t new_len, int flags, void *new_addr, void **out)
{
    long ret = hs_os_syscall6(SYS_mremap, (long)old_addr, (long)old_len, (long)new_len, flags,
                              (long)new_addr, 0);
    if (ret < 0 && ret > -4096)
        return (int)ret;
    *out = (void *)ret;
    return 0;
}

int hs_os_madvise(void *addr, size_t len, int advice)
{
    return hs_os_result(hs_os_syscall6(SYS_madvise, (long)addr, (long)len, advice, 0, 0, 0));
}

long hs_os_call(long nr, long a, long b, long c, long d, long e, long f)
{
    return hs_os_syscall6(nr, a, b, c, d, e, f);
}

int hs_os_mprotect(void *addr, size_t len, int prot)
{
    return hs_os_result(hs_os_syscall6(SYS_mprotect, (long)addr, (long)len, prot, 0, 0, 0));
}

int hs_os_map_plain(size_t len, void **out)
{
    len = (len + HS_OS_PAGE_SIZE - 1) & ~(HS_OS_PAGE_SIZE - 1);
    return hs_os_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, out);
}

void hs_os_decode_mmap(int prot, int flags, hs_os_mmap_request_t *out)
{
    out->anonymous = (flags & MAP_ANONYMOUS) != 0;
    out->private_mapping = (flags & MAP_TYPE) == MAP_PRIVATE;
    out->fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0;
    out->stack_or_guard = (flags & (MAP_GROWSDOWN | MAP_STACK)) != 0 || !(prot & PROT_WRITE);
    out->special = (flags & (MAP_HUGETLB | MAP_LOCKED | MAP_32BIT)) != 0 || (prot & PROT_EXEC) != 0;
    out->populate = (flags & MAP_POPULATE) != 0;
    out->noreserve = (flags & MAP_NORESERVE) != 0;
}

bool hs_os_mremap_is_fixed(int flags)
{
    return (flags & MREMAP_FIXED) != 0;
}

/* Over-map by `align`, then cut the head and tail so the rest is aligned. */
static int hs_os_map_aligned(size_t len, size_t align, int prot, int flags, void **out)
{
    void *raw;
    if (align <= HS_OS_PAGE_SIZE)
        return hs_os_mmap(NULL, len, prot, flags, -1, 0, out);
    size_t span = len + align - HS_OS_PAGE_SIZE;
    if (span < len)
        return -ENOMEM;
    int err = hs_os_mmap(NULL, span, prot, flags, -1, 0, &raw);
    if (err)
        return err;
    uintptr_t start = (uintptr_t)raw;
    uintptr_t aligned = (start + align - 1) & ~(uintptr_t)(align - 1);
    if (aligned > start)
        hs_os_munmap(raw, aligned - start);
    uintptr_t end = start + span;
    if (end > aligned + len)
        hs_os_munmap((void *)(aligned + len), end - (aligned + len));
    *out = (void *)aligned;
    return 0;
}

/* hugetlbfs mounts the hugetlb kinds map from ("" : MAP_HUGETLB). */
static char hs_os_hugetlbfs[2][256];

static char *hs_os_hugetlbfs_slot(hs_os_kind_t kind)
{
    return kind == HS_OS_KIND_HUGETLB_1G ? hs_os_hugetlbfs[1]
           : kind == HS_OS_KIND_HUGETLB_2M ? hs_os_hugetlbfs[0] : NULL;
}

void hs_os_hugetlbfs_use(hs_os_kind_t kind, const char *dir)
{
    char *slot = hs_os_hugetlbfs_slot(kind);
    if (!slot)
        return;
    size_t n = dir ? strlen(dir) : 0;
    if (n >= sizeof hs_os_hugetlbfs[0])
        n = 0;
    memcpy(slot, dir, n);
    slot[n] = '\0';
}

const char *hs_os_hugetlbfs_dir(hs_os_kind_t kind)
{
    const char *slot = hs_os_hugetlbfs_slot(kind);
    return slot && slot[0] ? slot : NULL;
}

uint64_t hs_os_hugetlbfs_room(hs_os_kind_t kind)
{
    const char *dir = hs_os_hugetlbfs_dir(kind);
    struct statfs st;
    if (!dir || hs_os_syscall3(SYS_statfs, (long)dir, (long)&st, 0) != 0 || !st.f_blocks)
        return UINT64_MAX;
    return (uint64_t)st.f_bfree * (uint64_t)st.f_bsize;
}

/* A private mapping of a file created in the mount and unlinked at once: its
 * pages count against the mount's quota (size=) while mapped, and nothing is
 * left in the mount when the process ends.  -ENOSPC: the quota is full. */
static int hs_os_map_hugetlbfs(hs_os_kind_t kind, size_t len, int prot, bool populate, void **out)
{
    const char *dir = hs_os_hugetlbfs_dir(kind);
    static unsigned long serial;
    char path[300];
    long fd = -EEXIST;
    int pid = (int)hs_os_syscall3(SYS_getpid, 0, 0, 0);
    for (int tries = 0; fd == -EEXIST && tries < 16; tries++) {
        unsigned long n = __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED);
        snprintf(path, sizeof path, "%s/hugeshim.%d.%lu", dir, pid, n);
        fd = hs_os_syscall6(SYS_openat, AT_FDCWD, (long)path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, 0, 0);
    }
    if (fd < 0)
        return (int)fd;
    hs_os_syscall3(SYS_unlinkat, AT_FDCWD, (long)path, 0);
    int err = hs_os_mmap(NULL, len, prot, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), (int)fd, 0, out);
    hs_os_syscall3(SYS_close, fd, 0, 0);
    if (err == -ENOMEM && hs_os_hugetlbfs_room(kind) < len)
        err = -ENOSPC;
    return err;
}

int hs_os_map_kind(hs_os_kind_t kind, size_t len, size_t align, int prot, bool noreserve,
                   bool populate, void **out, bool *advised)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    int err = hs_os_fault(kind == HS_OS_KIND_THP    ? HS_OS_FAULT_MAP_THP
                          : kind == HS_OS_KIND_BASE ? HS_OS_FAULT_MAP_BASE
                                                    : HS_OS_FAULT_MAP_HUGETLB);
    *advised = false;
    if (err)
        return err;
    /* A zero length would map and trim nothing and return an address. */
    if (len == 0)
        return -EINVAL;
    switch (kind) {
    case HS_OS_KIND_HUGETLB_1G:
    case HS_OS_KIND_HUGETLB_2M: {
        size_t page = kind == HS_OS_KIND_HUGETLB_1G ? HS_OS_HUGE_1G : HS_OS_HUGE_2M;
        if (len % page)
            return -EINVAL;
        /* The kernel aligns hugetlb mappings to their page size; a larger
         * alignment would need extra pool pages to over-map, so the caller
         * falls back instead. */
        if (align > page)
            return -EINVAL;
        if (hs_os_hugetlbfs_dir(kind))
            return hs_os_map_hugetlbfs(kind, len, prot, populate, out);
        flags |= MAP_HUGETLB | (kind == HS_OS_KIND_HUGETLB_1G ? MAP_HUGE_1GB : MAP_HUGE_2MB);
        if (populate)
            flags |= MAP_POPULATE;
        return hs_os_mmap(NULL, len, prot, flags, -1, 0, out);
    }
    case HS_OS_KIND_THP:
        if (noreserve)
            flags |= MAP_NORESERVE;
        err = hs_os_map_aligned(len, align < HS_OS_HUGE_2M ? HS_OS_HUGE_2M : align, prot, flags, out);
        if (err)
            return err;
        *advised = hs_os_madvise(*out, len, MADV_HUGEPAGE) == 0;
        /* Populate only after the advice, or the faults would take base pages. */
        if (populate)
            hs_os_madvise(*out, len, MADV_POPULATE_WRITE);
        return 0;
    case HS_OS_KIND_BASE:
    default:
        if (noreserve)
            flags |= MAP_NORESERVE;
        if (populate)
            flags |= MAP_POPULATE;
        return hs_os_map_aligned(len, align, prot, flags, out);
    }
}

int hs_os_reserve(size_t len, size_t align, void **out)
{
    /* Not MAP_NORESERVE: an inaccessible private mapping is not charged
     * against the commit limit, and the ranges made accessible later are
     * charged then (mprotect), as a fresh mapping would be. */
    return hs_os_map_aligned(len, align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, out);
}

int hs_os_map_kind_at(hs_os_kind_t kind, void *addr, size_t len, int prot, bool *advised)
{
    int err = hs_os_fault(kind == HS_OS_KIND_THP ? HS_OS_FAULT_MAP_THP : HS_OS_FAULT_MAP_BASE);
    *advised = false;
    if (err)
        return err;
    if (len == 0 || (kind != HS_OS_KIND_THP && kind != HS_OS_KIND_BASE))
        return -EINVAL;
    err = hs_os_mprotect(addr, len, prot);
    if (err)
        return err;
    if (kind == HS_OS_KIND_THP)
        *advised = hs_os_madvise(addr, len, MADV_HUGEPAGE) == 0;
    return 0;
}

int hs_os_rereserve(void *addr, size_t len, bool replace)
{
    void *out;
    return hs_os_mmap(addr, len, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | (replace ? MAP_FIXED : MAP_FIXED_NOREPLACE), -1, 0, &out);
}

int hs_os_purge(void *addr, size_t len, bool forced)
{
    return hs_os_madvise(addr, len, forced ? MADV_DONTNEED : MADV_FREE);
}

int hs_os_dontfork(void *addr, size_t len, bool dontfork)
{
    return hs_os_madvise(addr, len, dontfork ? MADV_DONTFORK : MADV_DOFORK);
}

int hs_os_map_fixed_thp(void *addr, size_t len)
{
    void *out;
    int err = hs_os_mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                         -1, 0, &out);
    if (!err)
        hs_os_madvise(addr, len, MADV_HUGEPAGE);
    return err;
}

int hs_os_move_mapping(void *from, size_t len, void *to)
{
    void *out;
    return hs_os_mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to, &out);
}

int hs_os_mincore(void *addr, size_t len, unsigned char *vec)
{
    return hs_os_result(hs_os_syscall3(SYS_mincore, (long)addr, (long)len, (long)vec));
}

int hs_os_collapse(void *addr, size_t len)
{
    return hs_os_madvise(addr, len, MADV_COLLAPSE);
}

int hs_os_advise_huge(void *addr, size_t len)
{
    return hs_os_madvise(addr, len, MADV_HUGEPAGE);
}

long hs_os_resident_pages(void *addr, size_t len)
{
    unsigned char vec[HS_OS_HUGE_2M / HS_OS_PAGE_SIZE];
    size_t pages = (len + HS_OS_PAGE_SIZE - 1) / HS_OS_PAGE_SIZE;
    if (pages > sizeof vec)
        return -EINVAL;
    int err = hs_os_mincore(addr, len, vec);
    if (err)
        return err;
    long n = 0;
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    return n;
}

bool hs_os_resident(void *addr)
{
    unsigned char vec = 0;
    return hs_os_mincore((void *)((uintptr_t)addr & ~(HS_OS_PAGE_SIZE - 1)), HS_OS_PAGE_SIZE, &vec) == 0 && (vec & 1);
}

int hs_os_map_shared_page(void **out)
{
    return hs_os_mmap(NULL, HS_OS_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0, out);
}
