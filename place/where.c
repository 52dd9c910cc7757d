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
    uint64_t mark_ns;  /* CPU time at hs_where_busy_mark */
    uint64_t mark_gen; /* of that mark; another: the thread began after it */
} hs_where_slot_t;
static hs_where_slot_t hs_slots[HS_WHERE_SLOTS];
static uint64_t hs_mark_gen; /* 0: no mark since the last hs_where_busy_nodes */

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
    /* One node runs every thread: no /proc read. */
    if (__builtin_popcountll(hs_topo.nodes_with_cpus) == 1)
        return __builtin_ctzll(hs_topo.nodes_with_cpus);
    hs_where_slot_t *s = hs_slot_of(tid);
    if (s->epoch != epoch + 1) {
        s->node = hs_where_node_of_cpu(hs_os_thread_cpu(tid));
        s->epoch = epoch + 1;
    }
    return s->node;
}

/* CPU time per node since the last call (by_node), and since the mark
 * (late, when a mark was taken). */
typedef struct hs_where_sum {
    uint64_t by_node[HS_OS_MAX_NODES], late[HS_OS_MAX_NODES];
} hs_where_sum_t;

static void hs_where_add(void *arg, int tid, int cpu, uint64_t cpu_ns)
{
    hs_where_sum_t *sum = arg;
    if (hs_thread_is_own(tid))
        return;
    hs_where_slot_t *s = hs_slot_of(tid);
    uint64_t delta = cpu_ns >= s->cpu_ns ? cpu_ns - s->cpu_ns : cpu_ns;
    uint64_t since_mark = s->mark_gen == hs_mark_gen && cpu_ns >= s->mark_ns ? cpu_ns - s->mark_ns : delta;
    s->cpu_ns = cpu_ns;
    int node = hs_where_node_of_cpu(cpu);
    if (node >= 0) {
        sum->by_node[node] += delta + 1; /* +1: a thread that ran at all counts */
        sum->late[node] += since_mark;
    }
}

static void hs_where_mark_one(void *arg, int tid, int cpu, uint64_t cpu_ns)
{
    (void)arg;
    (void)cpu;
    if (hs_thread_is_own(tid))
        return;
    hs_where_slot_t *s = hs_slot_of(tid);
    s->mark_ns = cpu_ns;
    s->mark_gen = hs_mark_gen;
}

void hs_where_busy_mark(void)
{
    if (hs_topo.nodes <= 1)
        return;
    hs_mark_gen = hs_mark_gen + 1 ? hs_mark_gen + 1 : 1;
    if (hs_os_each_thread(hs_where_mark_one, NULL) != 0)
        hs_mark_gen = 0;
}

int hs_where_busy_nodes(uint64_t *busy)
{
    *busy = 0;
    if (hs_topo.nodes <= 1) {
        *busy = 1;
        return 0;
    }
    static hs_where_sum_t sum;
    memset(&sum, 0, sizeof sum);
    bool marked = hs_mark_gen != 0;
    int err = hs_os_each_thread(hs_where_add, &sum);
    hs_mark_gen = 0;
    if (err != 0)
        return -1;
    int best = -1;
    uint64_t total = 0, total_late = 0;
    for (int n = 0; n < hs_topo.nodes; n++) {
        total += sum.by_node[n];
        total_late += sum.late[n];
        if (sum.by_node[n] && (best < 0 || sum.by_node[n] > sum.by_node[best]))
            best = n;
    }
    /* Busy in the window, or over the whole epoch: a reader that spent the
     * window waiting (for a parked unit to come back, or for a CPU under a
     * loaded host) still reads from its node. */
    for (int n = 0; n < hs_topo.nodes && n < 64; n++)
        if ((marked && sum.late[n] && sum.late[n] >= total_late / HS_WHERE_BUSY_SHARE) ||
            (sum.by_node[n] && sum.by_node[n] >= total / HS_WHERE_BUSY_SHARE))
            *busy |= 1ULL << n;
    return best;
}

void hs_where_forget_after_fork(void)
{
    memset(hs_slots, 0, sizeof hs_slots);
}
