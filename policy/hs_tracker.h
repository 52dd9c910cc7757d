/* hs_tracker.h: which of hugeshim's pages are hot, epoch by epoch.
 *
 * Each epoch the tracker follows the region registry (regions that appeared
 * are armed, regions that vanished or were cut are dropped, so unmapped
 * memory is never scanned), asks the backend which pages were written since
 * the last epoch, and updates the heat model (hs_heat.h).  The kernel is
 * reached only through hs_tracker_ops_t: unit tests drive the tracker with a
 * fake backend; the real ones are PAGEMAP_SCAN and soft-dirty (os/track.c).
 * No function here calls malloc: the epoch thread must never wait on the
 * program's allocator. */
#ifndef HS_TRACKER_H
#define HS_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../os/hs_os.h"
#include "hs_heat.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hs_track_backend {
    HS_TRACK_AUTO = 0, /* as HUGESHIM_TRACK: auto|pagemap_scan|softdirty|off */
    HS_TRACK_PAGEMAP_SCAN = 1,
    HS_TRACK_SOFTDIRTY = 2,
    HS_TRACK_OFF = 3,
} hs_track_backend_t;

const char *hs_track_backend_name(hs_track_backend_t b);

typedef struct hs_tracker_ops {
    /* Start watching a new range (write-protect it, or nothing). 0 or -errno. */
    int (*arm)(void *ctx, uintptr_t start, size_t len);
    /* Report what was written in the range since the last epoch. */
    int (*scan)(void *ctx, uintptr_t start, size_t len, hs_os_range_fn written, void *arg);
    /* After all ranges were scanned (soft-dirty: reset the bits). */
    int (*end_epoch)(void *ctx);
    uint64_t (*now_ns)(void *ctx);
    void *ctx;
    /* Whether THP regions may be armed.  Not with PAGEMAP_SCAN: the kernel
     * splits a THP on the first write after userfaultfd async write-protect
     * (mm/memory.c wp_huge_pmd: "goto split"), so watching would destroy what
     * hugeshim built.  Soft-dirty write-protects the PMD and keeps it whole. */
    bool arm_thp;
} hs_tracker_ops_t;

/* Choose the backend: AUTO probes what really works here (PAGEMAP_SCAN, then
 * soft-dirty), never the kernel version.  why gets the probe's words. */
hs_track_backend_t hs_tracker_choose(hs_track_backend_t requested, char *why, size_t cap);

/* Start tracking with a real backend (ops NULL) or fakes.  0 or -errno. */
int hs_tracker_init(hs_track_backend_t backend, const hs_heat_config_t *heat, const hs_tracker_ops_t *ops);
hs_track_backend_t hs_tracker_backend(void);
/* One epoch: follow the registry, scan, update heat.  Returns hot bytes. */
size_t hs_tracker_epoch(void);

/* Hot ranges right now, in address order, as (start, end) pairs; returns the
 * number of ranges (may exceed max: only max are written). */
size_t hs_tracker_hot_ranges(uintptr_t *pairs, size_t max);
/* The n hottest unit addresses. */
size_t hs_tracker_top(size_t n, uintptr_t *out);

/* fork: the epoch must not be mid-way while the process forks; in the child
 * the uffd and pagemap fds are the parent's, so they are opened again and
 * every region is armed again. */
void hs_tracker_prefork(void);
void hs_tracker_postfork_parent(void);
void hs_tracker_postfork_child(void);
/* In the child, once the allocator works again: new fds, regions re-armed. */
void hs_tracker_reopen_after_fork(void);

/* The epoch thread (policy/epoch.c): sleeps interval_ns between epochs. */
int hs_epoch_start(uint64_t interval_ns);
void hs_epoch_stop(void);
/* In a forked child: the thread is gone (the shim starts a new one). */
void hs_epoch_forget_after_fork(void);

/* Tests only: forget every region. */
void hs_tracker_reset_for_tests(void);

#ifdef __cplusplus
}
#endif
#endif
