/* probe.c: does a kernel feature really work here?  Each probe exercises the
 * feature on a few pages of its own and checks the result, never the kernel
 * version (soft-dirty can be compiled out while clear_refs "4" still succeeds). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "hs_os.h"
#include "raw.h"

#define HS_PROBE_PAGES 8

static int hs_os_pagemap_entry(int fd, void *addr, uint64_t *entry)
{
    off_t off = (off_t)((uintptr_t)addr / HS_OS_PAGE_SIZE * sizeof(uint64_t));
    long n = hs_os_syscall6(SYS_pread64, fd, (long)entry, sizeof *entry, off, 0, 0);
    return n == (long)sizeof *entry ? 0 : (n < 0 ? (int)n : -EIO);
}

hs_os_probe_result_t hs_os_probe_softdirty(char *detail, size_t cap)
{
    void *mem;
    hs_os_probe_result_t result = HS_OS_PROBE_BROKEN;
    if (hs_os_map_plain(2 * HS_OS_PAGE_SIZE, &mem)) {
        snprintf(detail, cap, "could not map probe pages");
        return HS_OS_PROBE_BROKEN;
    }
    volatile char *page = mem;
    page[0] = 1;
    page[HS_OS_PAGE_SIZE] = 1;
    int fd = (int)hs_os_syscall3(SYS_openat, AT_FDCWD, (long)"/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    int err = hs_os_write_file("/proc/self/clear_refs", "4");
    if (fd < 0 || err) {
        int e = fd < 0 ? fd : err;
        snprintf(detail, cap, "%s: %s", fd < 0 ? "/proc/self/pagemap" : "/proc/self/clear_refs",
                 strerror(-e));
        result = (e == -EPERM || e == -EACCES) ? HS_OS_PROBE_DENIED : HS_OS_PROBE_ABSENT;
        goto out;
    }
    page[0] = 2;
    uint64_t written, untouched;
    if (hs_os_pagemap_entry(fd, (void *)page, &written) ||
        hs_os_pagemap_entry(fd, (void *)(page + HS_OS_PAGE_SIZE), &untouched)) {
        snprintf(detail, cap, "pagemap read failed");
        goto out;
    }
    if ((written & HS_PM_SOFT_DIRTY) && !(untouched & HS_PM_SOFT_DIRTY)) {
        snprintf(detail, cap, "written page has bit 55, clean page has not");
        result = HS_OS_PROBE_WORKS;
    } else if (!(written & HS_PM_SOFT_DIRTY)) {
        snprintf(detail, cap, "clear_refs accepted \"4\" but a written page never shows bit 55 "
                              "(kernel built without CONFIG_MEM_SOFT_DIRTY)");
        result = HS_OS_PROBE_ABSENT;
    } else {
        snprintf(detail, cap, "bit 55 stays set after clear_refs");
    }
out:
    if (fd >= 0)
        hs_os_syscall3(SYS_close, fd, 0, 0);
    hs_os_munmap(mem, 2 * HS_OS_PAGE_SIZE);
    return result;
}

hs_os_probe_result_t hs_os_probe_pagemap_scan(char *detail, size_t cap)
{
    hs_os_probe_result_t result = HS_OS_PROBE_BROKEN;
    size_t len = HS_PROBE_PAGES * HS_OS_PAGE_SIZE;
    void *mem;
    int pagemap = -1;
    if (hs_os_map_plain(len, &mem)) {
        snprintf(detail, cap, "could not map probe pages");
        return HS_OS_PROBE_BROKEN;
    }
    int uffd = (int)hs_os_syscall3(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0);
    if (uffd < 0) {
        snprintf(detail, cap, "userfaultfd: %s", strerror(-uffd));
        result = (uffd == -EPERM || uffd == -EACCES) ? HS_OS_PROBE_DENIED : HS_OS_PROBE_ABSENT;
        uffd = -1;
        goto out;
    }
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED};
    long rc = hs_os_syscall3(SYS_ioctl, uffd, UFFDIO_API, (long)&api);
    if (rc < 0) {
        snprintf(detail, cap, "UFFDIO_API without WP_ASYNC|WP_UNPOPULATED: %s", strerror((int)-rc));
        result = HS_OS_PROBE_ABSENT;
        goto out;
    }
    struct uffdio_register reg = {.range = {.start = (uintptr_t)mem, .len = len},
                                  .mode = UFFDIO_REGISTER_MODE_WP};
    rc = hs_os_syscall3(SYS_ioctl, uffd, UFFDIO_REGISTER, (long)&reg);
    if (rc < 0) {
        snprintf(detail, cap, "UFFDIO_REGISTER(WP): %s", strerror((int)-rc));
        result = HS_OS_PROBE_ABSENT;
        goto out;
    }
    struct uffdio_writeprotect wp = {.range = {.start = (uintptr_t)mem, .len = len},
                                     .mode = UFFDIO_WRITEPROTECT_MODE_WP};
    rc = hs_os_syscall3(SYS_ioctl, uffd, UFFDIO_WRITEPROTECT, (long)&wp);
    if (rc < 0) {
        snprintf(detail, cap, "UFFDIO_WRITEPROTECT: %s", strerror((int)-rc));
        goto out;
    }
    pagemap = (int)hs_os_syscall3(SYS_openat, AT_FDCWD, (long)"/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) {
        snprintf(detail, cap, "/proc/self/pagemap: %s", strerror(-pagemap));
        result = HS_OS_PROBE_ABSENT;
        pagemap = -1;
        goto out;
    }
    /* Pages 1, 4 and 6 written: the scan must report exactly those. */
    volatile char *p = mem;
    p[1 * HS_OS_PAGE_SIZE] = 1;
    p[4 * HS_OS_PAGE_SIZE] = 1;
    p[6 * HS_OS_PAGE_SIZE] = 1;
    struct page_region regions[HS_PROBE_PAGES];
    struct pm_scan_arg arg = {
        .size = sizeof arg,
        .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
        .start = (uintptr_t)mem,
        .end = (uintptr_t)mem + len,
        .vec = (uintptr_t)regions,
        .vec_len = HS_PROBE_PAGES,
        .category_mask = PAGE_IS_WRITTEN,
        .return_mask = PAGE_IS_WRITTEN,
    };
    rc = hs_os_syscall3(SYS_ioctl, pagemap, PAGEMAP_SCAN, (long)&arg);
    if (rc < 0) {
        snprintf(detail, cap, "ioctl(PAGEMAP_SCAN): %s", strerror((int)-rc));
        result = rc == -ENOTTY || rc == -EINVAL ? HS_OS_PROBE_ABSENT : HS_OS_PROBE_BROKEN;
        goto out;
    }
    unsigned seen = 0, wanted = (1u << 1) | (1u << 4) | (1u << 6);
    for (long i = 0; i < rc; i++)
        for (uint64_t a = regions[i].start; a < regions[i].end; a += HS_OS_PAGE_SIZE)
            seen |= 1u << ((a - (uintptr_t)mem) / HS_OS_PAGE_SIZE);
    if (seen == wanted) {
        snprintf(detail, cap, "wrote pages {1,4,6} of 8, scan reported exactly those");
        result = HS_OS_PROBE_WORKS;
    } else {
        snprintf(detail, cap, "wrote pages mask 0x%x, scan reported 0x%x", wanted, seen);
    }
out:
    if (pagemap >= 0)
        hs_os_syscall3(SYS_close, pagemap, 0, 0);
    if (uffd >= 0)
        hs_os_syscall3(SYS_close, uffd, 0, 0);
    hs_os_munmap(mem, len);
    return result;
}
