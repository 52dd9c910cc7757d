/* hs_tracker.h: which of hugeshim's pages are hot, and who writes them.
 *
 * Each epoch the tracker follows the region registry (regions that appeared
 * are armed, regions that vanished or were cut are dropped, so unmapped
 * memory is never scanned), learns from the backend of each page kind
 * (hs_backend.h) what was written since the last epoch and, where the
 * backend names the writer, by which thread; updates the heat model
 * (hs_heat.h); publishes the epoch's hot units to its subscribers
 * (placement, sites, the trace: the tracker knows none of them) and re-arms.
 * A backend that names no writer (PAGEMAP_SCAN, soft-dirty) reports its
 * writes as made from the node where the program's threads ran most.
 * Every write to a re-armed unit costs a fault, so budgeted backends watch
 * hot units every epoch and cold ones in a rotating sample, within
 * HUGESHIM_TRACK_BUDGET.  The kernel is reached only through the backends
 * and hs_tracker_env_t: unit tests drive everything with fakes and a fake
 * clock.  No function here calls malloc. */
#ifndef HS_TRACKER_H
#define HS_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/hs_counters.h"
#include "../os/hs_os.h"
#include "hs_backend.h"
#include "hs_heat.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The backend of that name in HS_TRACK_BACKEND_LIST, NULL if none. */
const hs_track_backend_ops_t *hs_track_backend_by_name(const char *name);

/* The backends chosen per page kind (NULL: that kind is unwatched), and why. */
typedef struct hs_track_choice {
    const hs_track_backend_ops_t *by_kind[HS_OS_KIND_COUNT];
    char why[512];
} hs_track_choice_t;
/* Probe what really works here and choose per kind.  only: that backend,
 * for the kinds it may watch; NULL: "auto", per kind the first backend of
 * the list that works and may watch it, a whole-process backend (soft-dirty)
 * only where no other watches THP regions, and then for every kind. */
void hs_tracker_choose(const hs_track_backend_ops_t *only, hs_track_choice_t *out);
/* The name of the backend watching a kind, "off" if none. */
const char *hs_track_choice_name(const hs_track_choice_t *choice, hs_os_kind_t kind);
bool hs_track_choice_none(const hs_track_choice_t *choice);

/* What the tracker needs from outside besides its backends. */
typedef struct hs_tracker_env {
    uint64_t (*now_ns)(void *ctx); /* NULL: the monotonic clock */
    /* Node where the program's threads ran most this epoch, -1 unknown:
     * the writer's node for backends that name no writer; *busy: the nodes
     * that ran them for a real share of it (bit n: node n, 0 unknown), for
     * the heat model's early decisions.  NULL: -1 and 0. */
    int (*busy_nodes)(void *ctx, uint64_t *busy);
    /* At the last tick of an epoch: busy_nodes then judges the nodes on
     * the time since (the end of the epoch, not its start).  NULL: none. */
    void (*busy_mark)(void *ctx);
    /* The node a thread runs on (-1 unknown), stable within an epoch.  NULL: -1. */
    int (*node_of_thread)(void *ctx, int tid, uint64_t epoch);
    /* Of n units, how many are on a node other than nodes[i], the node of
     * the thread that just touched unit i (placement's or tiering's view:
     * a unit they would move).  NULL: no epoch ends early
     * (hs_tracker_tick). */
    size_t (*misplaced)(void *ctx, const uintptr_t *units, const int *nodes, size_t n);
    void *ctx;
} hs_tracker_env_t;

/* Start tracking with the backends of the choice; they open at the first
 * epoch, on the epoch thread (a process that ends within the first interval
 * never holds their descriptors or threads).  budget: most units a budgeted
 * backend watches per epoch.  0, or -ENOSYS when the choice watches nothing,
 * -ENOMEM when the tracker's state cannot be mapped. */
int hs_tracker_init(const hs_track_choice_t *choice, const hs_heat_config_t *heat, unsigned budget,
                    const hs_tracker_env_t *env);
bool hs_tracker_active(void);
const hs_track_choice_t *hs_tracker_choice(void);

#define HS_WRITER_SEVERAL (-3) /* = HS_HEAT_SAMPLE_MIXED */

/* One hot unit of an epoch. */
typedef struct hs_hot_unit {
    uintptr_t addr;
    uint32_t bytes;
    uint8_t kind;   /* hs_os_kind_t */
    int8_t wanted;  /* accessor node (a clear majority of its writers), -1 none */
    int8_t writer;  /* the node that accessed it in the epoch just closed, -1 none,
                     * HS_WRITER_SEVERAL when several nodes did */
    /* Written by subscribers (placement): */
    int8_t now;     /* the node it is on after this epoch's moves, -1 unknown */
    uint8_t moved;  /* 1: moved this epoch */
    /* Read only: */
    uint8_t early;  /* 1: the accessor was decided on this epoch's samples
                     * alone (hs_heat_decided_early): one epoch suffices */
    uint32_t index; /* scratch */
} hs_hot_unit_t;

/* One tracked region, as the epoch left it. */
typedef struct hs_track_region_view {
    uintptr_t start;
    size_t len;
    unsigned unit_shift;
    uint8_t kind;
    const uint8_t *heat; /* per unit; NULL: not watched (heat 0) */
    const uint8_t *idle; /* per 2 MiB unit, hs_heat_idle_of() reads it; NULL: none */
} hs_track_region_view_t;

/* What an epoch publishes: its hot units in address order (subscribers
 * called earlier may have filled now and moved), and, when a subscriber
 * asked for them, every tracked region. */
typedef struct hs_epoch_result {
    uint64_t epoch;
    hs_hot_unit_t *units;
    size_t n;
    const hs_track_region_view_t *regions;
    size_t nregions;
    uint64_t ns; /* how long the epoch ran (shorter when it ended early) */
} hs_epoch_result_t;

typedef struct hs_tracker_subscriber {
    void (*epoch)(void *ctx, hs_epoch_result_t *result);
    bool wants_regions;
    void *ctx;
} hs_tracker_subscriber_t;
/* Called at every epoch on the epoch thread, in the order subscribed
 * (placement first: it fills where the units are).  0, -ENOSPC past 8. */
int hs_tracker_subscribe(const hs_tracker_subscriber_t *subscriber);

/* The tracker's facts in the report: tracking.backends.<kind>. */
extern const hs_report_section_t hs_tracker_report_section;

/* One epoch: follow, learn, heat, publish, re-arm.  Returns hot bytes. */
size_t hs_tracker_epoch(void);
/* Between epochs, at each tick of the epoch thread: backends that sample
 * more than once per epoch re-arm (the sampler); at the epoch's last tick
 * (last), the environment's busy_mark.  True when the epoch should end now:
 * HS_EARLY_UNITS units or more that were not hot at the last epoch were
 * touched since by threads of another node than theirs (the environment's
 * misplaced), the number of such units touched grew by an eighth at most
 * since the tick before, and the epoch has run HS_EARLY_AFTER_NS after a
 * whole one.  A program that starts on memory another node holds, or whose
 * hot set shifts, then has it moved up to an interval sooner. */
bool hs_tracker_tick(bool last);
#define HS_EARLY_UNITS 8
#define HS_EARLY_LOOK_NS 200000000ULL  /* the ticks look from here (the tick before) */
#define HS_EARLY_AFTER_NS 300000000ULL /* and may end the epoch from here */
/* Whether the unit's accessor is settled on the node of thread tid (its
 * heat: that node's alone for the unit's last epochs, hs_heat_settled), so
 * that a sample from tid this epoch is all more samples would show.  For a
 * backend's tick only: the tracker's lock is held there. */
bool hs_tracker_settled(uintptr_t unit, int tid);
/* Close the backends (their threads); tracking is off afterwards. */
void hs_tracker_shutdown(void);

/* Hot ranges right now, in address order, as (start, end) pairs; returns the
 * number of ranges (may exceed max: only max are written). */
size_t hs_tracker_hot_ranges(uintptr_t *pairs, size_t max);
/* The n hottest unit addresses. */
size_t hs_tracker_top(size_t n, uintptr_t *out);

/* fork: the epoch must not be mid-way while the process forks; in the child
 * the descriptors are the parent's, so they are opened again and every
 * region is armed again. */
void hs_tracker_prefork(void);
void hs_tracker_postfork_parent(void);
void hs_tracker_postfork_child(void);
/* In the child, once the allocator works again: new fds, regions re-armed. */
void hs_tracker_reopen_after_fork(void);

/* Tests only: forget every region and subscriber. */
void hs_tracker_reset_for_tests(void);

#ifdef __cplusplus
}
#endif
#endif
