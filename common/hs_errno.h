/* hs_errno.h: libc's result convention (-1 or MAP_FAILED with errno) from
 * os/'s 0/-errno, for the calls hugeshim answers in libc's place (interposed
 * munmap/mremap, jemalloc's renamed mmap/munmap/madvise/mprotect).  The one
 * place that turns an error code into errno. */
#ifndef HS_ERRNO_H
#define HS_ERRNO_H

#include <errno.h>

static inline int hs_errno_int(int err)
{
    if (err) {
        errno = -err;
        return -1;
    }
    return 0;
}

static inline void *hs_errno_ptr(int err, void *ok)
{
    if (err) {
        errno = -err;
        return (void *)-1;
    }
    return ok;
}

#endif
