/* numa.c: NUMA topology, page placement and memory policy, through libnuma
 * (the project's chosen library for these).  libnuma's constructor and its
 * topology calls allocate, so nothing here is reached from malloc: the
 * tracker and the migrator call it from the epoch thread, outside locks.
 * move_pages and get_mempolicy are thin libnuma wrappers over the system
 * calls; errno is saved around them so that os/ keeps its 0/-errno rule. */
#define _GNU_SOURCE
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "hs_os.h"
#include "raw.h"

long hs_os_move_pages(unsigned long count, void **pages, const int *nodes, int *status)
{
    long rc = hs_os_fault(HS_OS_FAULT_MOVE_PAGES);
    if (rc)
        return rc;
    int saved = errno;
    rc = numa_move_pages(0, count, pages, nodes, status, nodes ? MPOL_MF_MOVE : 0);
    if (rc < 0)
        rc = -errno;
    errno = saved;
    return rc;
}

int hs_os_set_mempolicy(int mode, uint64_t nodemask)
{
    return hs_os_result(hs_os_syscall3(SYS_set_mempolicy, mode, mode ? (long)&nodemask : 0, mode ? 65 : 0));
}

int hs_os_topology_read(hs_os_topology_t *t)
{
    int saved = errno;
    memset(t, 0, sizeof *t);
    for (int c = 0; c < HS_OS_MAX_CPUS; c++)
        t->cpu_node[c] = -1;
    if (numa_available() < 0) {
        t->nodes = 1;
        t->nodes_with_cpus = t->nodes_with_memory = 1;
        errno = saved;
        return -ENOSYS;
    }
    t->nodes = numa_num_configured_nodes();
    if (t->nodes > HS_OS_MAX_NODES)
        t->nodes = HS_OS_MAX_NODES;
    t->cpus = numa_num_configured_cpus();
    if (t->cpus > HS_OS_MAX_CPUS)
        t->cpus = HS_OS_MAX_CPUS;
    for (int c = 0; c < t->cpus; c++) {
        int node = numa_node_of_cpu(c);
        t->cpu_node[c] = (int16_t)(node >= 0 && node < HS_OS_MAX_NODES ? node : -1);
        if (node >= 0 && node < HS_OS_MAX_NODES)
            t->nodes_with_cpus |= 1ULL << node;
    }
    for (int n = 0; n < t->nodes; n++) {
        long long free_bytes = 0;
        if (numa_node_size64(n, &free_bytes) > 0)
            t->nodes_with_memory |= 1ULL << n;
    }
    errno = saved;
    return 0;
}

/* Raw sysfs, not numa_node_size64 (fopen allocates): the migrator asks while
 * the epoch thread holds the tracker lock, and a malloc there could wait on
 * jemalloc's locks held by a forking thread that waits on the tracker lock. */
int64_t hs_os_node_free_bytes(int node)
{
    char path[96], buf[2048];
    snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", node);
    if (hs_os_read_file(path, buf, sizeof buf) <= 0)
        return -1;
    const char *p = strstr(buf, "MemFree:");
    if (!p)
        return -1;
    for (p += 8; *p == ' '; p++)
        ;
    int64_t kib = 0;
    while (*p >= '0' && *p <= '9')
        kib = kib * 10 + (*p++ - '0');
    return kib * 1024;
}

int hs_os_explicit_policy(void *addr, bool *explicit_out)
{
    int saved = errno, mode = 0;
    long rc = get_mempolicy(&mode, NULL, 0, addr, MPOL_F_ADDR);
    int err = rc < 0 ? -errno : 0;
    errno = saved;
    if (err)
        return err;
    /* Mode flags (MPOL_F_STATIC_NODES...) ride in the high bits. */
    mode &= 0xff;
    *explicit_out = mode != MPOL_DEFAULT && mode != MPOL_LOCAL;
    return 0;
}

int hs_os_numa_balancing(void)
{
    uint64_t v;
    return hs_os_read_u64("/proc/sys/kernel/numa_balancing", &v) == 0 ? (int)v : -1;
}
