/* numa.c: NUMA system calls, raw (as numactl's syscall.c wraps them), so
 * that neither libnuma's allocating constructor nor its errno are involved. */
#include <sys/syscall.h>

#include "hs_os.h"
#include "raw.h"

#define HS_MPOL_MF_MOVE (1 << 1)

long hs_os_move_pages(unsigned long count, void **pages, const int *nodes, int *status)
{
    return hs_os_syscall6(SYS_move_pages, 0, (long)count, (long)pages, (long)nodes, (long)status,
                          nodes ? HS_MPOL_MF_MOVE : 0);
}

int hs_os_set_mempolicy(int mode, uint64_t nodemask)
{
    return hs_os_result(hs_os_syscall3(SYS_set_mempolicy, mode, mode ? (long)&nodemask : 0, mode ? 65 : 0));
}
