/* softdirty.c: the soft-dirty backend.  /proc/self/clear_refs ("4") clears
 * every soft-dirty bit of the process at the end of an epoch, and bit 55 of
 * /proc/self/pagemap tells which pages were written since.  It arms the
 * whole process at once (each write after a clear costs a fault), keeps a
 * written THP whole, and names no writer.  Kernels built without
 * CONFIG_MEM_SOFT_DIRTY accept the clear and never set the bit: the probe
 * checks that a write really sets it. */
#include "hs_backend.h"

#define HS_SOFTDIRTY_BUF 8192 /* pagemap entries per read: 32 MiB of address space */

static int hs_pagemap = -1;
static uint64_t hs_buf[HS_SOFTDIRTY_BUF];

static int hs_softdirty_open(void *ctx, char *why, size_t cap)
{
    (void)ctx, (void)why, (void)cap;
    hs_pagemap = hs_os_pagemap_open();
    if (hs_pagemap < 0)
        return hs_pagemap;
    return hs_os_softdirty_clear();
}

static void hs_softdirty_close(void *ctx)
{
    (void)ctx;
    if (hs_pagemap >= 0)
        hs_os_close(hs_pagemap);
    hs_pagemap = -1;
}

static int hs_softdirty_scan(void *ctx, uintptr_t start, size_t len, hs_os_range_fn written, void *arg)
{
    (void)ctx;
    return hs_os_softdirty_scan(hs_pagemap, start, len, hs_buf, HS_SOFTDIRTY_BUF, written, arg);
}

static int hs_softdirty_end_epoch(void *ctx)
{
    (void)ctx;
    return hs_os_softdirty_clear();
}

const hs_track_backend_ops_t hs_backend_softdirty = {
    .name = "softdirty",
    .keeps_thp_whole = true,
    .whole_units = false,
    .budgeted = false,
    .whole_process = true,
    .probe = hs_os_probe_softdirty,
    .open = hs_softdirty_open,
    .close = hs_softdirty_close,
    /* The child's descriptor was opened as the parent's pid: close it there. */
    .forget_after_fork = hs_softdirty_close,
    .watch = NULL,
    .protect = NULL,
    .scan = hs_softdirty_scan,
    .drain = NULL,
    .end_epoch = hs_softdirty_end_epoch,
    .ctx = NULL,
};
