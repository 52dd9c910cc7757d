/* where.c: topology and thread placement (hs_where.h). */
#include <string.h>

#include "../common/hs_thread.h"
#include "hs_where.h"

static hs_os_topology_t hs_topo = {.nodes = 1, .nodes_with_cpus = 1, .nodes_with_memory = 1};
static bool hs_topo_read;

/* tid -> node for one epoch; tid -> CPU time for the busiest-node estimate. */
#define HS_WHERE_SLOTS 4096
typedef struct hs_where_slot {
    int tid;
    int node;
    uint64_t epoch;
    uint64_t cpu_ns;
} hs_where_slot_t;
static hs_where_slot_t hs_slots[HS_WHERE_SLOTS];

int hs_where_init(void)
{
    if (hs_topo_read)
        return 0;
    int err = hs_os_topology_read(&hs_topo);
    hs_topo_read = true;
    return err;
}

const hs_os_topology_t *hs_where_topology(void)
{
    return &hs_topo;
}

int hs_where_usable_nodes(void)
{
    return __builtin_popcountll(hs_topo.nodes_with_cpus & hs_topo.nodes_with_memory);
}

int hs_where_node_of_cpu(int cpu)
{
    return cpu >= 0 && cpu < HS_OS_MAX_CPUS ? hs_topo.cpu_node[cpu] : -1;
}

static hs_where_slot_t *hs_slot_of(int tid)
{
    unsigned h = (unsigned)tid * 2654435761u;
    for (unsigned i = 0; i < HS_WHERE_SLOTS; i++) {
        hs_where_slot_t *s = &hs_slots[(h + i) % HS_WHERE_SLOTS];
        if (s->tid == tid || s->tid == 0) {
            s->tid = tid;
            return s;
        }
    }
    /* Full: start over (the cache only saves /proc reads). */
    memset(hs_slots, 0, sizeof hs_slots);
    hs_slots[h % HS_WHERE_SLOTS].tid = tid;
    return &hs_slots[h % HS_WHERE_SLOTS];
}

int hs_where_node_of_thread(int tid, uint64_t epoch)
{
    hs_where_slot_t *s = hs_slot_of(tid);
    if (s->epoch != epoch + 1) {
        s->node = hs_where_node_of_cpu(hs_os_thread_cpu(tid));
        s->epoch = epoch + 1;
    }
    return s->node;
}

static void hs_where_add(void *arg, int tid, int cpu, uint64_t cpu_ns)
{
    uint64_t *by_node = arg;
    if (hs_thread_is_own(tid))
        return;
    hs_where_slot_t *s = hs_slot_of(tid);
    uint64_t delta = cpu_ns >= s->cpu_ns ? cpu_ns - s->cpu_ns : cpu_ns;
    s->cpu_ns = cpu_ns;
    int node = hs_where_node_of_cpu(cpu);
    if (node >= 0)
        by_node[node] += delta + 1; /* +1: a thread that ran at all counts */
}

int hs_where_busy_nodes(uint64_t *busy)
{
    *busy = 0;
    if (hs_topo.nodes <= 1) {
        *busy = 1;
        return 0;
    }
    uint64_t by_node[HS_OS_MAX_NODES] = {0}, total = 0;
    if (hs_os_each_thread(hs_where_add, by_node) != 0)
        return -1;
    int best = -1;
    for (int n = 0; n < hs_topo.nodes; n++) {
        total += by_node[n];
        if (by_node[n] && (best < 0 || by_node[n] > by_node[best]))
            best = n;
    }
    for (int n = 0; n < hs_topo.nodes && n < 64; n++)
        if (by_node[n] && by_node[n] >= total / HS_WHERE_BUSY_SHARE)
            *busy |= 1ULL << n;
    return best;
}

void hs_where_forget_after_fork(void)
{
    memset(hs_slots, 0, sizeof hs_slots);
}
