/* hs_heat.h: the heat model.  Pure C, no kernel calls, unit-tested with
 * synthetic access sequences.
 *
 * A unit is 2 MiB of huge-page-backed memory or 4 KiB of the rest.  Every
 * epoch each unit's heat decays and gains what was written:
 *     heat' = heat * decay / 100 + (written ? 100 - decay : 0)
 * so heat is an exponentially weighted share of recent epochs with writes, in
 * 0..100.  A unit is hot when heat >= the threshold.  With decay 50 and
 * threshold 50, a unit written in every epoch is hot from the first epoch on
 * and one written once is cold two epochs later.
 *
 * Per unit: heat (1 byte), the node of the CPUs that use it most (1 byte, -1
 * unknown, filled by a sampling source for the migrator), and one "written
 * this epoch" bit: 2.125 bytes, 0.05% of a 4 KiB unit. */
#ifndef HS_HEAT_H
#define HS_HEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_HEAT_MAX 100

typedef struct hs_heat_config {
    unsigned decay_pct;     /* 0..99: how much of the old heat is kept per epoch */
    unsigned hot_threshold; /* 1..100 */
} hs_heat_config_t;

typedef struct hs_heat_region {
    uintptr_t start;
    size_t len;
    unsigned unit_shift; /* 21 (2 MiB) or 12 (4 KiB) */
    size_t nunits;
    uint8_t *heat;
    int8_t *node;      /* accessor node, -1 unknown (room for placement) */
    uint64_t *written; /* bitmap: written in the current epoch */
} hs_heat_region_t;

/* Bytes of metadata a region of len bytes with units of 1 << shift needs. */
size_t hs_heat_metadata_bytes(size_t len, unsigned unit_shift);
/* Lay the arrays out in caller memory of hs_heat_metadata_bytes() bytes
 * (zeroed); nodes start unknown. */
void hs_heat_region_init(hs_heat_region_t *r, uintptr_t start, size_t len, unsigned unit_shift, void *mem);
/* Record a write to [s, e) (any part of a unit marks the unit). */
void hs_heat_mark_written(hs_heat_region_t *r, uintptr_t s, uintptr_t e);
/* Close the epoch: decay, add this epoch's writes, clear them.  Returns the
 * bytes of the region that are hot afterwards. */
size_t hs_heat_end_epoch(hs_heat_region_t *r, const hs_heat_config_t *c);
bool hs_heat_is_hot(const hs_heat_region_t *r, size_t unit, const hs_heat_config_t *c);

/* Hot units in address order: calls fn for each maximal run of hot units. */
typedef void (*hs_heat_range_fn)(void *arg, uintptr_t start, uintptr_t end);
void hs_heat_hot_ranges(const hs_heat_region_t *r, const hs_heat_config_t *c, hs_heat_range_fn fn, void *arg);

/* The n hottest units of the regions (given in address order; ties: lower
 * address first), written to out as unit start addresses; returns how many. */
size_t hs_heat_top(const hs_heat_region_t *const *regions, size_t nregions, size_t n, uintptr_t *out);

#ifdef __cplusplus
}
#endif
#endif
