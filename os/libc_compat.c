/* libc_compat.c: madvise and mprotect for the linked-in jemalloc, with libc
 * semantics (-1 and errno).  The build renames jemalloc's references to these
 * (and mmap and munmap, to allocator/heap.c), so jemalloc's own calls never
 * reach hugeshim's exported interposers. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>

#include "hs_os.h"

static int hs_os_libc_result(int err)
{
    if (err) {
        errno = -err;
        return -1;
    }
    return 0;
}

__attribute__((visibility("hidden"))) int hs_os_libc_madvise(void *addr, size_t len, int advice)
{
    return hs_os_libc_result(hs_os_madvise(addr, len, advice));
}

__attribute__((visibility("hidden"))) int hs_os_libc_mprotect(void *addr, size_t len, int prot)
{
    return hs_os_libc_result(hs_os_mprotect(addr, len, prot));
}
