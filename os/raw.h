/* raw.h: the x86-64 system call instruction, so that no call here sets errno
 * or re-enters an interposed libc function.  Private to os/. */
#ifndef HS_OS_RAW_H
#define HS_OS_RAW_H

static inline long hs_os_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline long hs_os_syscall3(long nr, long a, long b, long c)
{
    return hs_os_syscall6(nr, a, b, c, 0, 0, 0);
}

/* 0 for success, -errno for a failed call. */
static inline int hs_os_result(long ret)
{
    return (ret < 0 && ret > -4096) ? (int)ret : 0;
}

#endif
