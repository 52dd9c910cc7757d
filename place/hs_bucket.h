/* hs_bucket.h: the token buckets placement and tiering move memory by. */
#ifndef HS_BUCKET_H
#define HS_BUCKET_H

#include <stdint.h>

/* The bucket after one epoch's refill at `rate` bytes per second: the
 * epoch's length (`epoch_ns`; 0 unknown, and never more than the interval:
 * an epoch that ended early refills for its own length), banked up to one
 * second's worth, or one epoch's when the interval is longer. */
static inline uint64_t hs_bucket_refill(uint64_t tokens, uint64_t rate, uint64_t epoch_ns, uint64_t interval_ns)
{
    uint64_t ns = epoch_ns && epoch_ns < interval_ns ? epoch_ns : interval_ns;
    uint64_t refill = (uint64_t)((__uint128_t)rate * ns / 1000000000u);
    uint64_t cap = rate > refill ? rate : refill;
    return tokens + refill > cap ? cap : tokens + refill;
}

#endif
