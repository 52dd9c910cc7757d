/* track.c: the two kernel interfaces that tell which pages were written.
 *
 * PAGEMAP_SCAN (Linux 6.7+): a userfaultfd in async write-protect mode marks
 * pages; one ioctl per range reports the written ones and write-protects them
 * again atomically (Documentation/admin-guide/mm/pagemap.rst).
 * Soft-dirty: bit 55 of /proc/self/pagemap, reset for the whole process by
 * writing "4" to /proc/self/clear_refs (Documentation/admin-guide/mm/soft-dirty.rst). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "compat.h"
#include "hs_os.h"
#include "raw.h"

#define HS_SCAN_VEC 256

/* A system call that fault point f can make fail (fault.c). */
static long hs_os_faultable(hs_os_fault_t f, long nr, long a, long b, long c, long d)
{
    long err = hs_os_fault(f);
    return err ? err : hs_os_syscall6(nr, a, b, c, d, 0, 0);
}

static int hs_os_open_pagemap(void)
{
    int fd = (int)hs_os_syscall3(SYS_openat, AT_FDCWD, (long)"/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    return fd < 0 ? fd : hs_os_fd_high(fd);
}

static void hs_os_close_fd(int *fd)
{
    if (*fd >= 0)
        hs_os_close(*fd);
    *fd = -1;
}

int hs_os_wp_open(hs_os_wp_t *t)
{
    t->uffd = t->pagemap = -1;
    int uffd = (int)hs_os_syscall3(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0);
    if (uffd < 0)
        return uffd;
    uffd = hs_os_fd_high(uffd);
    t->uffd = uffd;
    /* hugetlb regions need WP_HUGETLBFS_SHMEM; a kernel without it still
     * watches the rest (a second uffd, as UFFDIO_API runs once per fd). */
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
                                         UFFD_FEATURE_WP_HUGETLBFS_SHMEM};
    int err = hs_os_result(hs_os_syscall3(SYS_ioctl, uffd, UFFDIO_API, (long)&api));
    if (err) {
        hs_os_close(uffd);
        uffd = (int)hs_os_syscall3(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0);
        if (uffd < 0) {
            t->uffd = -1;
            return uffd;
        }
        uffd = hs_os_fd_high(uffd);
        t->uffd = uffd;
        api = (struct uffdio_api){.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED};
        err = hs_os_result(hs_os_syscall3(SYS_ioctl, uffd, UFFDIO_API, (long)&api));
    }
    if (!err) {
        t->pagemap = hs_os_open_pagemap();
        if (t->pagemap < 0)
            err = t->pagemap;
    }
    if (err)
        hs_os_wp_close(t);
    return err;
}

void hs_os_wp_close(hs_os_wp_t *t)
{
    hs_os_close_fd(&t->uffd);
    hs_os_close_fd(&t->pagemap);
}

int hs_os_wp_arm(hs_os_wp_t *t, uintptr_t start, size_t len)
{
    /* The same two calls as the synchronous backend's, on the async descriptor. */
    int err = hs_os_wpsync_register(t->uffd, start, len);
    return err ? err : hs_os_wpsync_protect(t->uffd, start, len, true);
}

int hs_os_wp_scan(hs_os_wp_t *t, uintptr_t start, size_t len, hs_os_range_fn written, void *arg)
{
    struct page_region vec[HS_SCAN_VEC];
    uintptr_t at = start, end = start + len;
    while (at < end) {
        struct pm_scan_arg a = {
            .size = sizeof a,
            .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
            .start = at,
            .end = end,
            .vec = (uintptr_t)vec,
            .vec_len = HS_SCAN_VEC,
            .category_mask = PAGE_IS_WRITTEN,
            .return_mask = PAGE_IS_WRITTEN,
        };
        long n = hs_os_faultable(HS_OS_FAULT_SCAN, SYS_ioctl, t->pagemap, PAGEMAP_SCAN, (long)&a, 0);
        if (n < 0)
            return (int)n;
        for (long i = 0; i < n; i++)
            written(arg, vec[i].start, vec[i].end);
        /* The kernel stops early when the vector is full; walk_end says where. */
        if (a.walk_end <= at)
            return -EIO;
        at = a.walk_end;
    }
    return 0;
}

int hs_os_pagemap_open(void)
{
    return hs_os_open_pagemap();
}

int hs_os_range_huge(int pagemap, uintptr_t start, size_t len)
{
    struct page_region vec[4];
    struct pm_scan_arg a = {
        .size = sizeof a,
        .start = start,
        .end = start + len,
        .vec = (uintptr_t)vec,
        .vec_len = 4,
        .category_mask = PAGE_IS_HUGE,
        .return_mask = PAGE_IS_HUGE,
    };
    long n = hs_os_syscall3(SYS_ioctl, pagemap, PAGEMAP_SCAN, (long)&a);
    if (n < 0)
        return (int)n;
    /* Adjacent huge pages come back as one region. */
    return n == 1 && vec[0].start == start && vec[0].end == start + len;
}

int hs_os_softdirty_clear(void)
{
    return hs_os_write_file("/proc/self/clear_refs", "4");
}

int hs_os_softdirty_scan(int pagemap, uintptr_t start, size_t len, uint64_t *buf, size_t cap,
                         hs_os_range_fn written, void *arg)
{
    uintptr_t first = start / HS_OS_PAGE_SIZE, last = (start + len + HS_OS_PAGE_SIZE - 1) / HS_OS_PAGE_SIZE;
    for (uintptr_t page = first; page < last;) {
        size_t want = last - page < cap ? last - page : cap;
        long n = hs_os_faultable(HS_OS_FAULT_SCAN, SYS_pread64, pagemap, (long)buf, (long)(want * sizeof *buf),
                                 (long)(page * sizeof *buf));
        if (n < 0)
            return (int)n;
        size_t got = (size_t)n / sizeof *buf;
        if (got == 0)
            return -EIO;
        /* Report runs of soft-dirty pages as ranges. */
        for (size_t i = 0; i < got;) {
            if (!(buf[i] & HS_PM_SOFT_DIRTY)) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < got && (buf[j] & HS_PM_SOFT_DIRTY))
                j++;
            written(arg, (page + i) * HS_OS_PAGE_SIZE, (page + j) * HS_OS_PAGE_SIZE);
            i = j;
        }
        page += got;
    }
    return 0;
}

/* ---- synchronous write-protect ------------------------------------------- */

#ifndef UFFD_FEATURE_THREAD_ID
#define UFFD_FEATURE_THREAD_ID (1 << 8)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

static bool hs_os_can_move;

static int hs_os_wpsync_api(int uffd, uint64_t features)
{
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_THREAD_ID | features};
    int err = hs_os_result(hs_os_syscall3(SYS_ioctl, uffd, UFFDIO_API, (long)&api));
    if (!err && !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
        err = -EOPNOTSUPP;
    return err;
}

bool hs_os_wpsync_can_move(void)
{
    return __atomic_load_n(&hs_os_can_move, __ATOMIC_RELAXED);
}

int hs_os_wpsync_open(char *why, size_t cap)
{
    /* Never UFFD_USER_MODE_ONLY: a write the kernel makes for the program
     * (read(2) into the heap) would fail with EFAULT instead of waiting. */
    int uffd = (int)hs_os_syscall3(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0);
    int first = uffd;
    if (uffd < 0) {
        int dev = (int)hs_os_syscall3(SYS_openat, AT_FDCWD, (long)"/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) {
            uffd = (int)hs_os_syscall3(SYS_ioctl, dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
            hs_os_close(dev);
        } else {
            uffd = dev;
        }
    }
    if (uffd < 0) {
        snprintf(why, cap, "a userfaultfd that also handles kernel-mode writes needs CAP_SYS_PTRACE, "
                 "vm.unprivileged_userfaultfd=1 or access to /dev/userfaultfd (userfaultfd: errno %d, "
                 "/dev/userfaultfd: errno %d)", -first, -uffd);
        return first == -ENOSYS ? -ENOSYS : -EPERM;
    }
    /* UFFDIO_API runs once per descriptor: a kernel without MOVE refuses the
     * whole call, so ask again on a new descriptor without it. */
    int err = hs_os_wpsync_api(uffd, UFFD_FEATURE_MOVE);
    bool move = !err;
    if (err == -EINVAL) {
        hs_os_close(uffd);
        uffd = (int)hs_os_syscall3(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0);
        err = uffd < 0 ? uffd : hs_os_wpsync_api(uffd, 0);
        if (uffd < 0) {
            snprintf(why, cap, "userfaultfd (second descriptor): errno %d", -uffd);
            return uffd;
        }
    }
    __atomic_store_n(&hs_os_can_move, move, __ATOMIC_RELAXED);
    if (err) {
        hs_os_close(uffd);
        snprintf(why, cap, "UFFDIO_API with THREAD_ID and write-protect faults: errno %d", -err);
        return err;
    }
    snprintf(why, cap, "a full userfaultfd with THREAD_ID");
    return hs_os_fd_high(uffd);
}

int hs_os_wpsync_register(int uffd, uintptr_t start, size_t len)
{
    struct uffdio_register reg = {.range = {.start = start, .len = len}, .mode = UFFDIO_REGISTER_MODE_WP};
    return hs_os_result(hs_os_faultable(HS_OS_FAULT_UFFD, SYS_ioctl, uffd, UFFDIO_REGISTER, (long)&reg, 0));
}

int hs_os_wpsync_register_missing(int uffd, uintptr_t start, size_t len)
{
    struct uffdio_register reg = {.range = {.start = start, .len = len},
                                  .mode = UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING};
    return hs_os_result(hs_os_faultable(HS_OS_FAULT_UFFD, SYS_ioctl, uffd, UFFDIO_REGISTER, (long)&reg, 0));
}

/* UFFDIO_MOVE in the given mode: 0 with *moved == len, or -errno with the
 * bytes the kernel reported moved before it. */
static int hs_uffd_move_mode(int uffd, uintptr_t dst, uintptr_t src, size_t len, uint64_t mode, size_t *moved)
{
    struct uffdio_move m = {.dst = dst, .src = src, .len = len, .mode = mode, .move = 0};
    *moved = 0;
    long err = hs_os_faultable(HS_OS_FAULT_PARK, SYS_ioctl, uffd, UFFDIO_MOVE, (long)&m, 0);
    if (m.move > 0)
        *moved = (size_t)m.move;
    if (err)
        return (int)err;
    *moved = len;
    return 0;
}

int hs_os_uffd_move(int uffd, uintptr_t dst, uintptr_t src, size_t len, bool wake, size_t *moved)
{
    return hs_uffd_move_mode(uffd, dst, src, len, wake ? 0 : UFFDIO_MOVE_MODE_DONTWAKE, moved);
}

int hs_os_uffd_move_present(int uffd, uintptr_t dst, uintptr_t src, size_t len, size_t *moved)
{
    return hs_uffd_move_mode(uffd, dst, src, len, UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, moved);
}

int hs_os_uffd_copy(int uffd, uintptr_t dst, uintptr_t src, size_t len, size_t *copied)
{
    *copied = 0;
    while (*copied < len) {
        struct uffdio_copy c = {.dst = dst + *copied, .src = src + *copied, .len = len - *copied, .mode = 0, .copy = 0};
        long err = hs_os_syscall3(SYS_ioctl, uffd, UFFDIO_COPY, (long)&c);
        if (c.copy > 0)
            *copied += (size_t)c.copy;
        if (err && err != -EAGAIN)
            return (int)err;
        if (err && c.copy <= 0)
            return (int)err;
    }
    return 0;
}

int hs_os_wpsync_unregister(int uffd, uintptr_t start, size_t len)
{
    struct uffdio_range range = {.start = start, .len = len};
    return hs_os_result(hs_os_syscall3(SYS_ioctl, uffd, UFFDIO_UNREGISTER, (long)&range));
}

int hs_os_wpsync_protect(int uffd, uintptr_t start, size_t len, bool protect)
{
    struct uffdio_writeprotect wp = {.range = {.start = start, .len = len},
                                     .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    return hs_os_result(hs_os_faultable(HS_OS_FAULT_UFFD, SYS_ioctl, uffd, UFFDIO_WRITEPROTECT, (long)&wp, 0));
}

int hs_os_wpsync_wake(int uffd, uintptr_t start, size_t len)
{
    struct uffdio_range range = {.start = start, .len = len};
    return hs_os_result(hs_os_syscall3(SYS_ioctl, uffd, UFFDIO_WAKE, (long)&range));
}

int hs_os_wpsync_release(int uffd)
{
    int null = (int)hs_os_syscall3(SYS_openat, AT_FDCWD, (long)"/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) { /* no /dev/null: closing still releases, the number is just free again */
        hs_os_close(uffd);
        return null;
    }
    int err = hs_os_result(hs_os_syscall3(SYS_dup3, null, uffd, O_CLOEXEC));
    hs_os_close(null);
    return err;
}

int hs_os_wpsync_read(int uffd, hs_os_wp_fault_t *out, int max)
{
    struct uffd_msg msgs[64];
    if (max > 64)
        max = 64;
    long n = hs_os_faultable(HS_OS_FAULT_UFFD, SYS_read, uffd, (long)msgs, (long)(max * (int)sizeof msgs[0]), 0);
    if (n == -EAGAIN)
        return 0;
    if (n < 0)
        return (int)n;
    int got = 0;
    for (long i = 0; i < n / (long)sizeof msgs[0]; i++) {
        if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
            continue;
        out[got].address = (uintptr_t)msgs[i].arg.pagefault.address;
        out[got].tid = (int)msgs[i].arg.pagefault.feat.ptid;
        out[got].missing = !(msgs[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP);
        out[got].write = (msgs[i].arg.pagefault.flags & (UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE)) != 0;
        got++;
    }
    return got;
}
