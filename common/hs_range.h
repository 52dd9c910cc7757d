/* hs_range.h: the one lookup over sorted, disjoint address ranges. */
#ifndef HS_RANGE_H
#define HS_RANGE_H

#include <stddef.h>
#include <stdint.h>

/* The end (one past the last byte) of range i of ctx. */
typedef uintptr_t (*hs_range_end_fn)(const void *ctx, size_t i);

/* The index of the first of n ranges, sorted by address and disjoint, that
 * ends after addr: the range holding addr if one does, else the next one;
 * n when none ends after it. */
static inline size_t hs_range_first_ending_after(size_t n, uintptr_t addr, hs_range_end_fn end_of, const void *ctx)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (end_of(ctx, mid) <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#endif
