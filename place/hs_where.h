/* hs_where.h: where the program's threads run, in NUMA terms.
 * The topology comes from libnuma once, outside every lock (libnuma
 * allocates); threads are placed by the CPU they last ran on (field 39 of
 * /proc/self/task/TID/stat), read at most once per thread per epoch. */
#ifndef HS_WHERE_H
#define HS_WHERE_H

#include <stdbool.h>
#include <stdint.h>

#include "../os/hs_os.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Read the topology (libnuma).  0 or -errno (then one node is assumed). */
int hs_where_init(void);
const hs_os_topology_t *hs_where_topology(void);
/* Nodes that have both CPUs and memory. */
int hs_where_usable_nodes(void);
int hs_where_node_of_cpu(int cpu);
/* The node a thread of this process last ran on, cached for the epoch
 * given; -1 when unknown (the thread is gone). */
int hs_where_node_of_thread(int tid, uint64_t epoch);
/* The node whose CPUs ran the program's threads most since the last call
 * (CPU time per thread, by the CPU each last ran on; hugeshim's own threads
 * left out); -1 when unknown.  *busy: the nodes (bit n: node n) that ran
 * at least 1/HS_WHERE_BUSY_SHARE of the time since hs_where_busy_mark, or of
 * the whole time since the last call, 0 when unknown. */
#define HS_WHERE_BUSY_SHARE 10
int hs_where_busy_nodes(uint64_t *busy);
/* Start the window hs_where_busy_nodes judges busyness on besides the whole
 * epoch: the last tick of an epoch, so that a node whose threads start late
 * in the epoch counts as a node at work. */
void hs_where_busy_mark(void);
/* In a forked child: the caches describe the parent's threads. */
void hs_where_forget_after_fork(void);

#ifdef __cplusplus
}
#endif
#endif
