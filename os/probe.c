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

/* The same sequence the tracker runs (hs_os_wp_open, _arm, _scan): pages
 * 1, 4 and 6 of 8 written, the scan must report exactly those. */
static void hs_os_probe_mark(void *arg, uintptr_t start, uintptr_t end)
{
    struct { uintptr_t base; unsigned seen; } *p = arg;
    for (uintptr_t a = start; a < end; a += HS_OS_PAGE_SIZE)
        p->seen |= 1u << ((a - p->base) / HS_OS_PAGE_SIZE);
}

hs_os_probe_result_t hs_os_probe_pagemap_scan(char *detail, size_t cap)
{
    size_t len = HS_PROBE_PAGES * HS_OS_PAGE_SIZE;
    void *mem;
    if (hs_os_map_plain(len, &mem)) {
        snprintf(detail, cap, "could not map probe pages");
        return HS_OS_PROBE_BROKEN;
    }
    hs_os_wp_t wp;
    hs_os_probe_result_t result = HS_OS_PROBE_BROKEN;
    int err = hs_os_wp_open(&wp);
    if (err) {
        snprintf(detail, cap, "userfaultfd with WP_ASYNC|WP_UNPOPULATED, or /proc/self/pagemap: %s", strerror(-err));
        result = (err == -EPERM || err == -EACCES) ? HS_OS_PROBE_DENIED : HS_OS_PROBE_ABSENT;
        goto out;
    }
    err = hs_os_wp_arm(&wp, (uintptr_t)mem, len);
    if (err) {
        snprintf(detail, cap, "UFFDIO_REGISTER/WRITEPROTECT: %s", strerror(-err));
        result = HS_OS_PROBE_ABSENT;
        goto out_close;
    }
    volatile char *p = mem;
    p[1 * HS_OS_PAGE_SIZE] = 1;
    p[4 * HS_OS_PAGE_SIZE] = 1;
    p[6 * HS_OS_PAGE_SIZE] = 1;
    struct { uintptr_t base; unsigned seen; } marks = {(uintptr_t)mem, 0};
    err = hs_os_wp_scan(&wp, (uintptr_t)mem, len, hs_os_probe_mark, &marks);
    if (err) {
        snprintf(detail, cap, "ioctl(PAGEMAP_SCAN): %s", strerror(-err));
        result = err == -ENOTTY || err == -EINVAL ? HS_OS_PROBE_ABSENT : HS_OS_PROBE_BROKEN;
        goto out_close;
    }
    unsigned wanted = (1u << 1) | (1u << 4) | (1u << 6);
    if (marks.seen == wanted) {
        snprintf(detail, cap, "wrote pages {1,4,6} of 8, scan reported exactly those");
        result = HS_OS_PROBE_WORKS;
    } else {
        snprintf(detail, cap, "wrote pages mask 0x%x, scan reported 0x%x", wanted, marks.seen);
    }
out_close:
    hs_os_wp_close(&wp);
out:
    hs_os_munmap(mem, len);
    return result;
}

hs_os_probe_result_t hs_os_probe_wpsync(char *detail, size_t cap)
{
    char why[256];
    int uffd = hs_os_wpsync_open(why, sizeof why);
    if (uffd < 0) {
        snprintf(detail, cap, "%s", why);
        return uffd == -EPERM ? HS_OS_PROBE_DENIED : HS_OS_PROBE_ABSENT;
    }
    size_t len = 2 * HS_OS_HUGE_2M;
    void *mem;
    bool advised;
    hs_os_probe_result_t result = HS_OS_PROBE_BROKEN;
    if (hs_os_map_kind(HS_OS_KIND_THP, len, HS_OS_HUGE_2M, HS_OS_PROT_READ | HS_OS_PROT_WRITE, false, true, &mem,
                       &advised)) {
        snprintf(detail, cap, "could not map a THP probe region");
        hs_os_close(uffd);
        return HS_OS_PROBE_BROKEN;
    }
    static char smaps[256 * 1024];
    hs_os_vma_info_t before = {0}, after = {0};
    int err = hs_os_vma_info((uintptr_t)mem, smaps, sizeof smaps, &before);
    if (!err)
        err = hs_os_wpsync_register(uffd, (uintptr_t)mem, len);
    if (!err)
        err = hs_os_wpsync_protect(uffd, (uintptr_t)mem, len, true);
    if (!err)
        err = hs_os_wpsync_protect(uffd, (uintptr_t)mem, HS_OS_HUGE_2M, false);
    if (!err)
        ((volatile char *)mem)[100] = 1; /* un-protected: must not block */
    if (!err)
        err = hs_os_vma_info((uintptr_t)mem, smaps, sizeof smaps, &after);
    if (err) {
        snprintf(detail, cap, "register/protect a THP region: %s", strerror(-err));
        result = HS_OS_PROBE_ABSENT;
    } else if (before.anon_huge_bytes && after.anon_huge_bytes == before.anon_huge_bytes) {
        snprintf(detail, cap, "%s; a 4 MiB THP region protected and un-protected in 2 MiB units stayed huge", why);
        result = HS_OS_PROBE_WORKS;
    } else if (!before.anon_huge_bytes) {
        snprintf(detail, cap, "%s; but the probe region got no huge pages to test with", why);
        result = HS_OS_PROBE_WORKS;
    } else {
        snprintf(detail, cap, "THP split: AnonHugePages %llu -> %llu kB", (unsigned long long)before.anon_huge_bytes >> 10,
                 (unsigned long long)after.anon_huge_bytes >> 10);
    }
    hs_os_close(uffd);
    hs_os_munmap(mem, len);
    return result;
}

hs_os_probe_result_t hs_os_probe_zero_page_write(char *detail, size_t cap)
{
    void *mem;
    bool advised;
    if (hs_os_map_kind(HS_OS_KIND_THP, HS_OS_HUGE_2M, HS_OS_HUGE_2M, HS_OS_PROT_READ | HS_OS_PROT_WRITE, false, false,
                       &mem, &advised) != 0) {
        snprintf(detail, cap, "could not map a THP region to probe");
        return HS_OS_PROBE_ABSENT;
    }
    /* A read of every page first (the huge zero page, where the kernel
     * uses it), then one write. */
    volatile unsigned char *p = mem;
    unsigned sum = 0;
    for (size_t off = 0; off < HS_OS_HUGE_2M; off += HS_OS_PAGE_SIZE)
        sum += p[off];
    p[HS_OS_HUGE_2M / 2] = (unsigned char)(sum + 1);
    hs_os_probe_result_t result = HS_OS_PROBE_BROKEN;
    int fd = hs_os_pagemap_open();
    int huge = fd < 0 ? fd : hs_os_range_huge(fd, (uintptr_t)mem, HS_OS_HUGE_2M);
    if (fd >= 0)
        hs_os_close(fd);
    char zero[16] = "";
    (void)hs_os_read_file("/sys/kernel/mm/transparent_hugepage/use_zero_page", zero, sizeof zero);
    if (huge < 0) {
        snprintf(detail, cap, "PAGEMAP_SCAN: errno %d", -huge);
        result = HS_OS_PROBE_ABSENT;
    } else if (huge) {
        snprintf(detail, cap, "a 2 MiB unit read, then written, is a huge page");
        result = HS_OS_PROBE_WORKS;
    } else {
        snprintf(detail, cap, "a 2 MiB unit read, then written, ends on base pages%s",
                 zero[0] == '1' ? " (the kernel splits its huge zero page at the write)" : "");
    }
    hs_os_munmap(mem, HS_OS_HUGE_2M);
    return result;
}
