/* pagemap_scan.c: the pagemap_scan backend.  Async userfaultfd
 * write-protect (UFFD_FEATURE_WP_ASYNC): a write to a protected page costs a
 * fault served in the kernel, never a thread here; PAGEMAP_SCAN then reports
 * the written ranges and re-protects them in the same call, so the tracker
 * chooses what it watches next (budgeted).  It names no writer.  A write to
 * a protected THP splits it (mm/memory.c wp_huge_pmd), so THP regions are
 * not its to watch. */
#include "hs_backend.h"

static hs_os_wp_t hs_wp = {-1, -1};

static int hs_pagemap_scan_open(void *ctx, char *why, size_t cap)
{
    (void)ctx, (void)why, (void)cap;
    return hs_os_wp_open(&hs_wp);
}

static void hs_pagemap_scan_close(void *ctx)
{
    (void)ctx;
    hs_os_wp_close(&hs_wp);
}

static int hs_pagemap_scan_watch(void *ctx, uintptr_t start, size_t len)
{
    (void)ctx;
    return hs_os_wp_arm(&hs_wp, start, len);
}

static int hs_pagemap_scan_scan(void *ctx, uintptr_t start, size_t len, hs_os_range_fn written, void *arg)
{
    (void)ctx;
    return hs_os_wp_scan(&hs_wp, start, len, written, arg);
}

const hs_track_backend_ops_t hs_backend_pagemap_scan = {
    .name = "pagemap_scan",
    .keeps_thp_whole = false,
    .whole_units = false,
    .budgeted = true,
    .whole_process = false,
    .probe = hs_os_probe_pagemap_scan,
    .open = hs_pagemap_scan_open,
    .close = hs_pagemap_scan_close,
    /* The child's descriptor is the parent's: closing it there leaves the
     * parent's open. */
    .forget_after_fork = hs_pagemap_scan_close,
    .watch = hs_pagemap_scan_watch,
    .protect = NULL,
    .scan = hs_pagemap_scan_scan,
    .drain = NULL,
    .end_epoch = NULL,
    .ctx = NULL,
};
