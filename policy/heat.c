/* heat.c: the exponentially decayed heat of each unit. */
#include <string.h>

#include "hs_heat.h"

static size_t hs_heat_units(size_t len, unsigned shift)
{
    return (len + ((size_t)1 << shift) - 1) >> shift;
}

static size_t hs_heat_words(size_t nunits)
{
    return (nunits + 63) / 64;
}

size_t hs_heat_metadata_bytes(size_t len, unsigned unit_shift)
{
    size_t n = hs_heat_units(len, unit_shift);
    return hs_heat_words(n) * sizeof(uint64_t) + 2 * n;
}

void hs_heat_region_init(hs_heat_region_t *r, uintptr_t start, size_t len, unsigned unit_shift, void *mem)
{
    r->start = start;
    r->len = len;
    r->unit_shift = unit_shift;
    r->nunits = hs_heat_units(len, unit_shift);
    r->written = mem;
    r->heat = (uint8_t *)(r->written + hs_heat_words(r->nunits));
    r->node = (int8_t *)(r->heat + r->nunits);
    memset(r->node, -1, r->nunits);
}

void hs_heat_mark_written(hs_heat_region_t *r, uintptr_t s, uintptr_t e)
{
    uintptr_t end = r->start + r->len;
    if (s < r->start)
        s = r->start;
    if (e > end)
        e = end;
    if (s >= e)
        return;
    size_t first = (s - r->start) >> r->unit_shift, last = (e - 1 - r->start) >> r->unit_shift;
    for (size_t u = first; u <= last; u++)
        r->written[u / 64] |= 1ULL << (u % 64);
}

bool hs_heat_is_hot(const hs_heat_region_t *r, size_t unit, const hs_heat_config_t *c)
{
    return r->heat[unit] >= c->hot_threshold;
}

size_t hs_heat_end_epoch(hs_heat_region_t *r, const hs_heat_config_t *c)
{
    size_t unit = (size_t)1 << r->unit_shift;
    unsigned gain = HS_HEAT_MAX - c->decay_pct;
    size_t hot_bytes = 0;
    for (size_t u = 0; u < r->nunits; u++) {
        bool written = (r->written[u / 64] >> (u % 64)) & 1;
        unsigned h = r->heat[u] * c->decay_pct / 100 + (written ? gain : 0);
        r->heat[u] = (uint8_t)(h > HS_HEAT_MAX ? HS_HEAT_MAX : h);
        if (r->heat[u] >= c->hot_threshold) {
            /* The last unit may be shorter than a whole one. */
            size_t ustart = u * unit;
            hot_bytes += (ustart + unit <= r->len) ? unit : r->len - ustart;
        }
    }
    memset(r->written, 0, hs_heat_words(r->nunits) * sizeof(uint64_t));
    return hot_bytes;
}

void hs_heat_hot_ranges(const hs_heat_region_t *r, const hs_heat_config_t *c, hs_heat_range_fn fn, void *arg)
{
    size_t u = 0;
    while (u < r->nunits) {
        if (!hs_heat_is_hot(r, u, c)) {
            u++;
            continue;
        }
        size_t first = u;
        while (u < r->nunits && hs_heat_is_hot(r, u, c))
            u++;
        uintptr_t s = r->start + (first << r->unit_shift), e = r->start + (u << r->unit_shift);
        fn(arg, s, e > r->start + r->len ? r->start + r->len : e);
    }
}

size_t hs_heat_top(const hs_heat_region_t *const *regions, size_t nregions, size_t n, uintptr_t *out)
{
    /* Selection by descending heat level: heat has 101 levels, so one pass
     * per level is bounded and needs no scratch memory. */
    size_t got = 0;
    for (int level = HS_HEAT_MAX; level >= 1 && got < n; level--)
        for (size_t i = 0; i < nregions && got < n; i++)
            for (size_t u = 0; u < regions[i]->nunits && got < n; u++)
                if (regions[i]->heat[u] == level)
                    out[got++] = regions[i]->start + (u << regions[i]->unit_shift);
    return got;
}
