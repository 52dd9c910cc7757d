/* hs_backend.h: a tracking backend is an object: its own file, one
 * hs_track_backend_ops_t filled with designated initializers, and one line
 * in HS_TRACK_BACKEND_LIST.  The tracker reads its traits and calls its ops;
 * it never asks which backend it is.  Two ways to learn what was written:
 *   - scan: asked at the end of an epoch, the backend reports the written
 *     ranges (PAGEMAP_SCAN, soft-dirty); it names no writer;
 *   - drain: writes fault, a thread of the backend serves them and records
 *     (unit, writer's tid), the tracker drains the records (uffd_sync).
 * Unit tests hand the tracker fake backends of the same type. */
#ifndef HS_BACKEND_H
#define HS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../os/hs_os.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hs_track_backend_ops {
    const char *name; /* as HUGESHIM_TRACK says it */
    /* May watch THP regions: its protection keeps a written THP whole
     * (PAGEMAP_SCAN's async write-protect splits it: mm/memory.c
     * wp_huge_pmd, "goto split"). */
    bool keeps_thp_whole;
    /* Protects whole aligned 2 MiB units only (a region's short tail is
     * registered with the rest, never protected). */
    bool whole_units;
    /* Watches in the next epoch only the units the tracker chose (hot ones,
     * then cold ones in rotation, within HUGESHIM_TRACK_BUDGET); otherwise
     * everything it watches, every epoch. */
    bool budgeted;
    /* Arms the whole process at once (soft-dirty's clear_refs): where it
     * runs it watches every kind it may. */
    bool whole_process;
    /* What works here, probed (never the kernel version). */
    hs_os_probe_result_t (*probe)(char *why, size_t cap);
    /* Open for the process; 0 or -errno with why.  close undoes it; after a
     * fork the child's descriptors are the parent's: forget drops them
     * without touching what the parent holds. */
    int (*open)(void *ctx, char *why, size_t cap);
    void (*close)(void *ctx);
    void (*forget_after_fork)(void *ctx);
    /* Start watching a region (all of it: page-aligned). */
    int (*watch)(void *ctx, uintptr_t start, size_t len);
    /* Protect chosen units for the coming epoch; NULL: scan re-protects
     * what it reports. */
    int (*protect)(void *ctx, uintptr_t start, size_t len);
    /* Report written ranges in [start, start+len); NULL: writes come as
     * faults, through drain. */
    int (*scan)(void *ctx, uintptr_t start, size_t len, hs_os_range_fn written, void *arg);
    /* The faults served since the last drain: (unit address, writer tid). */
    size_t (*drain)(void *ctx, hs_os_wp_fault_t *out, size_t max);
    /* The faults served since the last drain, each given to fn and left for
     * the drain (a tick's look at the epoch so far).  NULL: none. */
    void (*peek)(void *ctx, void (*fn)(void *arg, const hs_os_wp_fault_t *fault), void *arg);
    /* After every region was scanned or drained; NULL: nothing to do. */
    int (*end_epoch)(void *ctx);
    /* After end_epoch: the 2 MiB units the backend watched for any access,
     * reads too, through the whole epoch and saw none (the sampler's parked
     * units), each given to fn.  NULL: it cannot tell (write-protection
     * and scans see writes only). */
    void (*idle)(void *ctx, void (*fn)(void *arg, uintptr_t unit), void *arg);
    /* Every tick of the epoch thread (100 ms) between epochs; NULL: nothing.
     * The sampler parks again units accessed since, for more samples. */
    void (*tick)(void *ctx);
    void *ctx;
} hs_track_backend_ops_t;

/* The real backends, one file each; the tracker chooses among them in the
 * order of this list (hs_tracker.h: HUGESHIM_TRACK=auto). */
extern const hs_track_backend_ops_t hs_backend_uffd_sync;    /* track/uffd_sync.c */
extern const hs_track_backend_ops_t hs_backend_pagemap_scan; /* track/pagemap_scan.c */
extern const hs_track_backend_ops_t hs_backend_softdirty;    /* track/softdirty.c */
#define HS_TRACK_BACKEND_LIST {&hs_backend_uffd_sync, &hs_backend_pagemap_scan, &hs_backend_softdirty}

#ifdef __cplusplus
}
#endif
#endif
