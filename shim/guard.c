/* guard.c: the program's calls that change what a range maps, bracketed by
 * hs_vmguard so that the access sampler never has a unit of that range
 * parked while the kernel acts on it (track/hs_park.h): madvise (a purge
 * must drop the program's pages, not an empty range whose data comes back
 * later), mprotect, mlock (UFFDIO_MOVE wants both sides alike), mbind, and
 * clone or _Fork without CLONE_VM (the child would get the empty range:
 * everything is put back first).  munmap and mremap are in mmap.c.  Calls
 * made with syscall(2) directly are not seen (docs/tracking.md). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/hs_errno.h"
#include "../common/hs_vmguard.h"
#include "../observe/hs_sites.h"
#include "../os/hs_os.h"
#include "hs_shim.h"

static long hs_guarded(uintptr_t start, size_t len, long nr, long a, long b, long c, long d, long e, long f)
{
    hs_vmguard_token_t guard = hs_vmguard_enter(start, len);
    long r = hs_os_call(nr, a, b, c, d, e, f);
    hs_vmguard_leave(guard);
    return r;
}

static int hs_result(long r)
{
    return r < 0 ? hs_errno_int((int)r) : (int)r;
}

HS_EXPORT int madvise(void *addr, size_t len, int advice)
{
    return hs_result(hs_guarded((uintptr_t)addr, len, SYS_madvise, (long)addr, (long)len, advice, 0, 0, 0));
}

HS_EXPORT int mprotect(void *addr, size_t len, int prot)
{
    return hs_result(hs_guarded((uintptr_t)addr, len, SYS_mprotect, (long)addr, (long)len, prot, 0, 0, 0));
}

HS_EXPORT int mlock(const void *addr, size_t len)
{
    return hs_result(hs_guarded((uintptr_t)addr, len, SYS_mlock, (long)addr, (long)len, 0, 0, 0, 0));
}

HS_EXPORT int mlock2(const void *addr, size_t len, unsigned int flags)
{
    return hs_result(hs_guarded((uintptr_t)addr, len, SYS_mlock2, (long)addr, (long)len, flags, 0, 0, 0));
}

HS_EXPORT int mlockall(int flags)
{
    return hs_result(hs_guarded(0, SIZE_MAX, SYS_mlockall, flags, 0, 0, 0, 0, 0));
}

/* libnuma's mbind has this signature; the shim's is found first. */
HS_EXPORT long mbind(void *addr, unsigned long len, int mode, const unsigned long *nodemask, unsigned long maxnode,
                     unsigned flags)
{
    long r = hs_guarded((uintptr_t)addr, len, SYS_mbind, (long)addr, (long)len, mode, (long)nodemask, (long)maxnode,
                        flags);
    return r < 0 ? hs_errno_int((int)r) : r;
}

/* libnuma's move_pages (the program's, and numa_move_pages's): a parked
 * unit's pages wait in staging, where the call would find none (-ENOENT)
 * and move none.  The units between the lowest and the highest page asked
 * about come back first; another process's pages are not ours to guard. */
HS_EXPORT long move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags)
{
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    if (pid == 0 || pid == getpid())
        for (unsigned long i = 0; pages && i < count; i++) {
            uintptr_t a = (uintptr_t)pages[i];
            lo = a < lo ? a : lo;
            hi = a > hi ? a : hi;
        }
    long r = lo <= hi ? hs_guarded(lo, hi - lo + 1, SYS_move_pages, pid, (long)count, (long)pages, (long)nodes,
                                   (long)status, flags)
                      : hs_os_call(SYS_move_pages, pid, (long)count, (long)pages, (long)nodes, (long)status, flags);
    return r < 0 ? hs_errno_int((int)r) : r;
}

/* A child in its own address space starts with the guard as the parent
 * held it: it makes its own before running the program's function. */
typedef struct hs_clone_call {
    int (*fn)(void *);
    void *arg;
} hs_clone_call_t;

static int hs_clone_child(void *p)
{
    hs_clone_call_t call = *(hs_clone_call_t *)p;
    hs_vmguard_postfork_child();
    return call.fn(call.arg);
}

HS_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    pid_t *ptid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    pid_t *ctid = va_arg(ap, pid_t *);
    va_end(ap);
    static int (*next)(int (*)(void *), void *, int, void *, ...);
    if (!next)
        next = (int (*)(int (*)(void *), void *, int, void *, ...))dlsym(RTLD_NEXT, "clone");
    if (!next)
        return hs_errno_int(-ENOSYS);
    if (flags & CLONE_VM)
        return next(fn, stack, flags, arg, ptid, tls, ctid);
    /* The call record is copied into the child with the rest of memory. */
    hs_clone_call_t call = {fn, arg};
    hs_vmguard_prefork();
    int r = next(hs_clone_child, stack, flags, &call, ptid, tls, ctid);
    hs_vmguard_postfork_parent();
    return r;
}

/* _Fork: a fork without the atfork handlers (glibc 2.34+). */
HS_EXPORT pid_t _Fork(void)
{
    static pid_t (*next)(void);
    if (!next)
        next = (pid_t(*)(void))dlsym(RTLD_NEXT, "_Fork");
    if (!next)
        return hs_errno_int(-ENOSYS);
    hs_sites_prefork();
    hs_vmguard_prefork();
    pid_t r = next();
    if (r == 0) {
        hs_vmguard_postfork_child();
        hs_sites_postfork_child();
    } else {
        hs_vmguard_postfork_parent();
        hs_sites_postfork_parent();
    }
    return r;
}
