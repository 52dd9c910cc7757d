/* hs_migrate.h: placement.  Each epoch the tracker hands over its hot units
 * that have an accessor node (hs_heat.h); the migrator asks the kernel where
 * they are, and moves a unit to its accessor's node once it was written from
 * that remote node in `min_epochs` epochs in a row, one address per unit (a
 * THP or hugetlb page moves whole), batched per destination and bounded per
 * call.
 *
 * Rules: a unit just moved cools down; one moved again soon after (it
 * bounces between nodes) is frozen for a time that doubles with each bounce;
 * bytes per second are limited by a token bucket whose rate halves on a storm
 * of -ENOMEM/-EBUSY and recovers after clean epochs; a node whose free memory
 * (or free hugetlb pages, for hugetlb units) cannot take a unit is not
 * chosen; a unit under an explicit memory policy (mbind, numactl) is left
 * where the program put it.  The kernel is reached only through
 * hs_migrate_ops_t, so unit tests drive all of this with a fake topology,
 * fake move_pages and a fake clock.  Never calls malloc. */
#ifndef HS_MIGRATE_H
#define HS_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/hs_counters.h"
#include "../os/hs_os.h"
#include "../track/hs_tracker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hs_migrate_ops {
    /* As hs_os_move_pages: nodes NULL queries. */
    long (*move_pages)(void *ctx, unsigned long n, void **pages, const int *nodes, int *status);
    /* Bytes a node can still take for units of this kind, -1 unknown. */
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
} hs_migrate_ops_t;

typedef struct hs_migrate_config {
    int nodes;                 /* node ids are 0..nodes-1 */
    unsigned min_epochs;       /* HUGESHIM_MIGRATE_EPOCHS */
    uint64_t rate_bytes_per_s; /* HUGESHIM_MIGRATE_MBPS */
    uint64_t interval_ns;      /* epoch length, for the token bucket */
    unsigned cooldown_epochs;  /* after a move (0: default 4) */
    uint64_t call_max_bytes;   /* per move_pages call (0: default 64 MiB) */
} hs_migrate_config_t;

/* The real kernel's move_pages, room per node and kind, explicit policy,
 * split count and collapse (tiering uses them too). */
extern const hs_migrate_ops_t hs_migrate_real_ops;
/* ops NULL: the real kernel.  0, or -ENOMEM when the state cannot be mapped. */
int hs_migrate_init(const hs_migrate_config_t *config, const hs_migrate_ops_t *ops);
bool hs_migrate_enabled(void);
/* One epoch over the hot units (any order); fills each unit's `now` and
 * `moved`.  Units with neither an accessor nor a writer are only located.
 * Counters in counters.def. */
void hs_migrate_epoch(uint64_t epoch, hs_hot_unit_t *units, size_t n);
/* Only where the units are (`now`), moving nothing: for sites and the
 * trace when placement is off. */
void hs_migrate_locate(hs_hot_unit_t *units, size_t n);
/* Of n units, how many are on a node other than nodes[i] (the tracker's
 * misplaced, for epochs that end early); at most HS_MIG_BATCH are asked. */
size_t hs_migrate_misplaced(const uintptr_t *units, const int *nodes, size_t n);
/* The tracker's subscribers: placement (moves, and says where each unit
 * is), or, with placement off, only where each unit is (for sites and the
 * trace).  Subscribe one of them before any other. */
extern const hs_tracker_subscriber_t hs_migrate_subscriber;
extern const hs_tracker_subscriber_t hs_migrate_locate_subscriber;
/* Hot bytes on each node at the last epoch (after its moves). */
uint64_t hs_migrate_hot_bytes_on(int node);
/* Placement's section of the report (migration.hot_bytes_on.nodeN). */
extern const hs_report_section_t hs_migrate_report_section;
/* Tests only. */
void hs_migrate_reset_for_tests(void);

#ifdef __cplusplus
}
#endif
#endif
