/* hs_tracker.h: which of hugeshim's pages are hot, and who writes them.
 *
 * Each epoch the tracker follows the region registry (regions that appeared
 * are armed, regions that vanished or were cut are dropped, so unmapped
 * memory is never scanned), learns what was written since the last epoch,
 * updates the heat model (hs_heat.h), hands the hot units with an accessor
 * node to the migrator (hs_migrate.h) and re-arms.  Two kinds of backend,
 * chosen per page kind:
 *   - an "async" one that reports written ranges when asked: PAGEMAP_SCAN
 *     (userfaultfd async write-protect) or soft-dirty; it names no writer, so
 *     a written unit's sample is the node where the program's threads ran
 *     most this epoch;
 *   - uffd_sync (THP regions): synchronous write-protect, one fault per unit
 *     re-armed and written, naming the writer's thread.
 * Every write to a re-armed unit costs a fault (about 12 us on base pages of
 * the dev host's kernel), so re-arming is budgeted for uffd_sync and
 * PAGEMAP_SCAN: hot units every epoch, cold ones in a rotating sample.
 * The kernel is reached only through hs_tracker_ops_t: unit tests drive
 * everything with fakes and a fake clock.  No function here calls malloc. */
#ifndef HS_TRACKER_H
#define HS_TRACKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../os/hs_os.h"
#include "hs_heat.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hs_track_backend {
    HS_TRACK_AUTO = 0, /* as HUGESHIM_TRACK: auto|pagemap_scan|softdirty|uffd_sync|off */
    HS_TRACK_PAGEMAP_SCAN = 1,
    HS_TRACK_SOFTDIRTY = 2,
    HS_TRACK_UFFD_SYNC = 3,
    HS_TRACK_OFF = 4,
} hs_track_backend_t;

const char *hs_track_backend_name(hs_track_backend_t b);
/* "pagemap_scan" -> HS_TRACK_PAGEMAP_SCAN; HS_TRACK_OFF for unknown names. */
hs_track_backend_t hs_track_backend_from_name(const char *name);

/* The uffd_sync backend as the tracker uses it (policy/wpsync.c, or fakes). */
typedef struct hs_wpsync_ops {
    /* Register [start, start+len) (whole 2 MiB units) for write-protect. */
    int (*watch)(void *ctx, uintptr_t start, size_t len);
    /* Write-protect units for the coming epoch. */
    int (*protect)(void *ctx, uintptr_t start, size_t len);
    /* The faults served since the last drain: (unit address, writer tid). */
    size_t (*drain)(void *ctx, hs_os_wp_fault_t *out, size_t max);
    /* The node a thread runs on (-1 unknown), stable within an epoch. */
    int (*node_of_thread)(void *ctx, int tid, uint64_t epoch);
    void *ctx;
} hs_wpsync_ops_t;

typedef struct hs_tracker_ops {
    /* The async backend, for the kinds it watches (arm NULL: none). */
    int (*arm)(void *ctx, uintptr_t start, size_t len);
    int (*scan)(void *ctx, uintptr_t start, size_t len, hs_os_range_fn written, void *arg);
    int (*end_epoch)(void *ctx);
    uint64_t (*now_ns)(void *ctx);
    void *ctx;
    /* Whether the async backend may watch THP regions: not PAGEMAP_SCAN,
     * which splits a THP on the first write after async write-protect
     * (mm/memory.c wp_huge_pmd: "goto split"); soft-dirty keeps it whole. */
    bool arm_thp;
    /* The uffd_sync backend for THP regions, NULL: none. */
    const hs_wpsync_ops_t *sync;
    /* Node where the program's threads ran most this epoch, -1 unknown:
     * the writer's node for what async backends report. */
    int (*busiest_node)(void *ctx);
    /* Whether hs_tracker_epoch calls the migrator. */
    bool placement;
    /* Whether the async backend re-arms only what it scans (PAGEMAP_SCAN):
     * then it scans hot units every epoch and cold ones in rotation, within
     * the budget, as uffd_sync does.  Soft-dirty re-arms the whole process. */
    bool scan_budgeted;
} hs_tracker_ops_t;

/* The backends chosen per page kind, and why. */
typedef struct hs_track_choice {
    hs_track_backend_t thp, hugetlb, base; /* HS_TRACK_OFF: unwatched */
    hs_track_backend_t async;              /* PAGEMAP_SCAN, SOFTDIRTY or OFF */
    char why[512];
} hs_track_choice_t;
/* Probe what really works here (never the kernel version) and choose per
 * kind for the requested mode. */
void hs_tracker_choose(hs_track_backend_t requested, hs_track_choice_t *out);

/* Start tracking: with ops NULL, open the real backends of the choice (the
 * uffd_sync thread included).  budget: most uffd_sync units re-armed per
 * epoch.  0 or -errno (nothing started). */
int hs_tracker_init(const hs_track_choice_t *choice, const hs_heat_config_t *heat, unsigned budget,
                    bool placement, const hs_tracker_ops_t *ops);
bool hs_tracker_active(void);
const hs_track_choice_t *hs_tracker_choice(void);
/* One epoch: follow, learn, heat, placement, re-arm.  Returns hot bytes. */
size_t hs_tracker_epoch(void);
/* Stop the real backends (the fault thread); tracking is off afterwards. */
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

/* The epoch thread (policy/epoch.c), started for tracking: runs the
 * tracker's epochs every interval_ns, and tick (if not NULL) every 100 ms at most;
 * ends the process's last thread's way when every program thread is gone
 * (glibc exits a process when its last thread returns). */
int hs_epoch_start(uint64_t interval_ns, void (*tick)(void));
/* Whether the thread was started (and not stopped or forgotten). */
bool hs_epoch_running(void);
void hs_epoch_stop(void);
/* In a forked child: the thread is gone (the shim starts a new one). */
void hs_epoch_forget_after_fork(void);

/* Start one of hugeshim's threads: every signal blocked (the program's
 * handlers never run on it, and signals meant for the program go to the
 * program's threads).  0 or a pthread error number. */
int hs_thread_start(pthread_t *thread, void *(*main_fn)(void *));

/* Tests only: forget every region. */
void hs_tracker_reset_for_tests(void);

#ifdef __cplusplus
}
#endif
#endif
