/* hs_mend.h: THPs a move split, made whole again (placement and tiering).
 *
 * move_pages moves a THP whole when the target node has a free 2 MiB block
 * at that moment; otherwise the kernel splits it and moves its 512 pages one
 * by one (/proc/vmstat thp_migration_split), and the unit stays on base pages
 * for good.  Room checks look before they move (hs_os_node_room), and other
 * allocations can take the last block in between.  So around every batch
 * the kernel's split count is read; when it rose, each THP unit the batch
 * moved is looked at, and one no longer huge is collapsed where it now is
 * (MADV_COLLAPSE, which compacts for the block).  The count is every
 * process's: another program's split in that window costs only the look. */
#ifndef HS_MEND_H
#define HS_MEND_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/hs_counters.h"

/* The kernel's split count before a batch (-1: none is looked for). */
static inline int64_t hs_mend_before(int64_t (*splits)(void *), void *ctx)
{
    return splits ? splits(ctx) : -1;
}

/* Whether the batch just made saw a split. */
static inline bool hs_mend_needed(int64_t (*splits)(void *), void *ctx, int64_t before)
{
    if (before < 0)
        return false;
    int64_t now = splits(ctx);
    return now > before;
}

/* Look at one THP unit the batch moved: counts a split one (split_ctr),
 * and of those the ones made whole again (mended_ctr). */
static inline void hs_mend_unit(int (*mend)(void *, uintptr_t), void *ctx, uintptr_t unit, hs_counter_id_t split_ctr,
                                hs_counter_id_t mended_ctr)
{
    if (!mend)
        return;
    int rc = mend(ctx, unit);
    if (rc != 0)
        hs_count(split_ctr, 1);
    if (rc > 0)
        hs_count(mended_ctr, 1);
}

#endif
