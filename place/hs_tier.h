/* hs_tier.h: tiering.  On a machine whose memory comes in tiers (CXL-style
 * nodes with memory and no CPUs, which the kernel puts in a lower memory
 * tier), keep the program's hot units in the fast tier and its idle ones in
 * the slow tier, moving 2 MiB units whole.
 *
 * Each epoch, after placement:
 *   demote  each fast node below its watermark (free memory under
 *           free_pct of the node, plus what hot units waiting on a slow
 *           node need) gives up units idle for idle_epochs epochs, the
 *           longest idle first, to its nearest slow node.  Idle means the
 *           sampler parked the unit for a whole epoch and nobody touched it,
 *           and no access since (hs_heat.h): a unit that is only read looks
 *           unwritten to write-protection, so without the sampler nothing
 *           is demoted;
 *   promote a hot unit on a slow node goes to its accessor's node when that
 *           is fast, else to the fast node nearest the slow one, while the
 *           target keeps its watermark.
 * Each direction has its own token bucket; a unit moved is not moved again
 * for cooldown epochs, doubled each time it goes back and forth (up, down,
 * up again within a minute); a unit under an explicit memory policy stays; hugetlb
 * units move only where the target's pool has free pages.  The kernel is
 * reached only through hs_tier_ops_t: unit tests drive all of it with a
 * fake topology, move_pages and free memory.  Never calls malloc. */
#ifndef HS_TIER_H
#define HS_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/hs_counters.h"
#include "../os/hs_os.h"
#include "../track/hs_tracker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hs_tier_ops {
    /* As hs_os_move_pages: nodes NULL queries. */
    long (*move_pages)(void *ctx, unsigned long n, void **pages, const int *nodes, int *status);
    /* Free bytes of a node, -1 unknown. */
    int64_t (*node_free)(void *ctx, int node);
    /* Bytes a node can take for units of this kind (free hugetlb pages for
     * hugetlb units, free memory otherwise), -1 unknown. */
    int64_t (*node_room)(void *ctx, int node, hs_os_kind_t kind);
    /* As hs_os_explicit_policy. */
    int (*explicit_policy)(void *ctx, uintptr_t addr, bool *explicit_out);
    void *ctx;
    /* The kernel's count of THPs migrations split (hs_mend.h), -1 unknown;
     * NULL: none is looked for. */
    int64_t (*thp_splits)(void *ctx);
    /* A THP unit a batch moved: 0 it is whole, 1 it was split and is whole
     * again, -errno it was split and stays so (NULL: not looked at). */
    int (*mend)(void *ctx, uintptr_t unit);
} hs_tier_ops_t;

/* Which nodes are fast and slow, and the nearest of the other kind. */
typedef struct hs_tier_topology {
    int nodes;
    uint64_t fast, slow;           /* bit per node */
    int8_t down[HS_OS_MAX_NODES];  /* fast node -> nearest slow node, -1 */
    int8_t up[HS_OS_MAX_NODES];    /* slow node -> nearest fast node, -1 */
    int16_t tier[HS_OS_MAX_NODES]; /* the kernel's memory tier id, -1 unknown */
} hs_tier_topology_t;

/* Fast and slow nodes.  With the kernel's memory tiers (tiers[n], -1 for a
 * node in none; NULL: unknown): fast are the memory nodes of the fastest
 * tier that holds CPUs' memory, slow those of lower tiers.  Without them:
 * fast are nodes with CPUs and memory, slow nodes with memory and no CPUs.
 * Nearest by the SLIT distances dist[from][to] (0: unknown, then the lowest
 * node id).  0, or -ENOENT when there is no slow node (why says so). */
int hs_tier_find_topology(const hs_os_topology_t *t, const int16_t *tiers, const uint8_t (*dist)[HS_OS_MAX_NODES],
                     hs_tier_topology_t *out, char *why, size_t cap);

typedef struct hs_tier_config {
    hs_tier_topology_t topo;
    int64_t node_bytes[HS_OS_MAX_NODES]; /* each node's memory; 0 unknown */
    unsigned free_pct;                   /* HUGESHIM_TIER_FREE_PCT */
    unsigned idle_epochs;                /* HUGESHIM_TIER_IDLE_EPOCHS */
    uint64_t rate_bytes_per_s;           /* HUGESHIM_TIER_MBPS, each direction */
    uint64_t interval_ns;                /* epoch length: buckets, the minute */
    unsigned cooldown_epochs;            /* after a move (0: default 4) */
    bool demote;                         /* idle evidence exists (the sampler runs) */
} hs_tier_config_t;

/* ops NULL: the real kernel.  0, or -ENOMEM when the state cannot be mapped. */
int hs_tier_init(const hs_tier_config_t *config, const hs_tier_ops_t *ops);
bool hs_tier_enabled(void);
/* One epoch: the hot units (their `now` filled by placement or its locate
 * subscriber; updated here for the units promoted) and every tracked region
 * (idle bytes per 2 MiB unit). */
void hs_tier_epoch(uint64_t epoch, hs_hot_unit_t *units, size_t n, const hs_track_region_view_t *regions,
                   size_t nregions);
/* The slow nodes (bit per node), 0 when tiering is off. */
uint64_t hs_tier_slow_nodes(void);
/* Whether the last scan of units' nodes found the 2 MiB unit at `unit` on
 * a slow node (the epoch thread; false while tiering is off).  The sampler
 * tries such units first: only there can a read promote. */
bool hs_tier_on_slow_node(uintptr_t unit);
/* The tracker's subscriber (wants the regions); subscribe after placement. */
extern const hs_tracker_subscriber_t hs_tier_subscriber;
/* tiering.fast_nodes, slow_nodes, tier.nodeN, bytes per tier. */
extern const hs_report_section_t hs_tier_report_section;
/* Tests only. */
void hs_tier_reset_for_tests(void);

#ifdef __cplusplus
}
#endif
#endif
