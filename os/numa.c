/* numa.c: NUMA topology, page placement and memory policy, through libnuma
 * (the project's chosen library for these).  libnuma's constructor and its
 * topology calls allocate, so nothing here is reached from malloc: the
 * tracker and the migrator call it from the epoch thread, outside locks.
 * get_mempolicy is a thin libnuma wrapper over the system call; errno is
 * saved around it so that os/ keeps its 0/-errno rule.  move_pages is the
 * system call itself (the shim interposes libnuma's). */
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
    /* The system call itself, not libnuma's move_pages: the shim exports a
     * move_pages of its own for the program (shim/guard.c), which hugeshim's
     * threads must not go through. */
    return hs_os_syscall6(SYS_move_pages, 0, (long)count, (long)pages, (long)nodes, (long)status,
                          nodes ? MPOL_MF_MOVE : 0);
}

int hs_os_set_mempolicy(int mode, uint64_t nodemask)
{
    return hs_os_result(hs_os_syscall3(SYS_set_mempolicy, mode, mode ? (long)&nodemask : 0, mode ? 65 : 0));
}

int hs_os_prefer_node(int node, hs_os_policy_t *saved)
{
    saved->mode = -1;
    if (node < 0 || node >= HS_OS_MAX_NODES)
        return -EINVAL;
    int mode = 0;
    uint64_t mask = 0;
    /* maxnode 64: the kernel refuses it (EINVAL) on a machine of more nodes. */
    int err = hs_os_result(hs_os_syscall6(SYS_get_mempolicy, (long)&mode, (long)&mask, 64, 0, 0, 0));
    if (err)
        return err;
    err = hs_os_set_mempolicy(1 /* MPOL_PREFERRED */, 1ULL << node);
    if (!err) {
        saved->mode = mode;
        saved->nodemask = mask;
    }
    return err;
}

void hs_os_policy_restore(const hs_os_policy_t *saved)
{
    if (saved->mode >= 0)
        (void)hs_os_set_mempolicy(saved->mode, saved->nodemask);
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
static int64_t hs_os_node_meminfo(int node, const char *field)
{
    char path[96], buf[2048];
    snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", node);
    if (hs_os_read_file(path, buf, sizeof buf) <= 0)
        return -1;
    const char *p = strstr(buf, field);
    if (!p)
        return -1;
    for (p += strlen(field); *p == ' '; p++)
        ;
    int64_t kib = 0;
    while (*p >= '0' && *p <= '9')
        kib = kib * 10 + (*p++ - '0');
    return kib * 1024;
}

int64_t hs_os_node_free_bytes(int node)
{
    return hs_os_node_meminfo(node, "MemFree:");
}

int64_t hs_os_node_huge_free_bytes(int node)
{
    /* "Node 0, zone   Normal   a0 a1 ... a10": free blocks per order. */
    static char buf[8192]; /* the epoch thread only */
    ssize_t n = hs_os_read_file("/proc/buddyinfo", buf, sizeof buf);
    if (n <= 0)
        return -1;
    int64_t bytes = 0;
    bool found = false;
    for (const char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, "Node ", 5) != 0)
            continue;
        const char *p = line + 5;
        int id = 0;
        while (*p >= '0' && *p <= '9')
            id = id * 10 + (*p++ - '0');
        if (id != node || !(p = strstr(p, "zone")))
            continue;
        for (p += 4; *p == ' '; p++)
            ;
        while (*p && *p != ' ' && *p != '\n') /* the zone's name */
            p++;
        found = true;
        for (int order = 0; order <= 20 && *p && *p != '\n'; order++) {
            while (*p == ' ')
                p++;
            int64_t count = 0;
            while (*p >= '0' && *p <= '9')
                count = count * 10 + (*p++ - '0');
            if (order >= 9)
                bytes += count * ((int64_t)HS_OS_PAGE_SIZE << order);
        }
    }
    return found ? bytes : -1;
}

/* The node's zones' high watermarks in bytes (/proc/zoneinfo): below them
 * the kernel reclaims rather than hand out pages, so a migration that would
 * land there fails (and a THP is split on the way).  0 unknown.  zoneinfo
 * lists every CPU's page sets for every zone: hundreds of KiB on a large
 * machine, so it is read line by line. */
typedef struct {
    int node;
    bool ours;
    int64_t pages;
} hs_zone_scan_t;

static void hs_os_zone_line(void *arg, const char *line)
{
    hs_zone_scan_t *z = arg;
    if (!strncmp(line, "Node ", 5)) {
        int id = 0;
        for (const char *p = line + 5; *p >= '0' && *p <= '9'; p++)
            id = id * 10 + (*p - '0');
        z->ours = id == z->node;
        return;
    }
    const char *p = line;
    while (*p == ' ')
        p++;
    if (z->ours && !strncmp(p, "high ", 5)) {
        int64_t v = 0;
        for (p += 5; *p == ' '; p++)
            ;
        while (*p >= '0' && *p <= '9')
            v = v * 10 + (*p++ - '0');
        z->pages += v;
    }
}

static int64_t hs_os_node_reserve_bytes(int node)
{
    static char buf[8192]; /* the epoch thread only */
    hs_zone_scan_t z = {node, false, 0};
    if (hs_os_each_line("/proc/zoneinfo", buf, sizeof buf, hs_os_zone_line, &z) != 0)
        return 0;
    return z.pages * (int64_t)HS_OS_PAGE_SIZE;
}

int64_t hs_os_node_room(int node, hs_os_kind_t kind)
{
    int injected = hs_os_fault(HS_OS_FAULT_NODE_ROOM);
    if (injected)
        return injected;
    if (kind == HS_OS_KIND_HUGETLB_2M || kind == HS_OS_KIND_HUGETLB_1G) {
        hs_os_hugetlb_pool_t pool;
        uint64_t kib = kind == HS_OS_KIND_HUGETLB_2M ? 2048 : 1048576;
        if (hs_os_hugetlb_pool(kib, node, &pool) != 0)
            return -1;
        return (int64_t)(pool.free * kib * 1024);
    }
    int64_t free_bytes = hs_os_node_free_bytes(node);
    if (free_bytes < 0)
        return -1;
    free_bytes -= hs_os_node_reserve_bytes(node);
    if (kind == HS_OS_KIND_THP) {
        /* A THP needs a free 2 MiB block there, or the kernel splits it. */
        int64_t blocks = hs_os_node_huge_free_bytes(node);
        if (blocks >= 0 && blocks < free_bytes)
            free_bytes = blocks;
    }
    return free_bytes > 0 ? free_bytes : 0;
}

int64_t hs_os_node_total_bytes(int node)
{
    return hs_os_node_meminfo(node, "MemTotal:");
}

int hs_os_node_distances(int from, uint8_t dist[HS_OS_MAX_NODES])
{
    char path[96], buf[512];
    memset(dist, 0, HS_OS_MAX_NODES);
    snprintf(path, sizeof path, "/sys/devices/system/node/node%d/distance", from);
    ssize_t n = hs_os_read_file(path, buf, sizeof buf);
    if (n <= 0)
        return n < 0 ? (int)n : -ENOENT;
    /* One number per online node, in node order. */
    uint64_t online;
    hs_os_numa_nodes(&online);
    const char *p = buf;
    for (int node = 0; node < HS_OS_MAX_NODES && *p; node++) {
        if (!(online >> node & 1))
            continue;
        while (*p == ' ')
            p++;
        unsigned d = 0;
        while (*p >= '0' && *p <= '9')
            d = d * 10 + (unsigned)(*p++ - '0');
        dist[node] = (uint8_t)(d > 255 ? 255 : d);
    }
    return 0;
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
