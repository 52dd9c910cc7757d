/* hs_heat.h: the heat model.  Pure C, no kernel calls, unit-tested with
 * synthetic access sequences.
 *
 * A unit is 2 MiB of huge-page-backed memory or 4 KiB of the rest.  Every
 * epoch each observed unit's heat decays and gains what was written:
 *     heat' = heat * decay / 100 + (written ? 100 - decay : 0)
 * so heat is an exponentially weighted share of recent epochs with writes, in
 * 0..100.  A unit is hot when heat >= the threshold.  With decay 50 and
 * threshold 50, a unit written in every epoch is hot from the first epoch on
 * and one written once is cold two epochs later.  A unit the backend did not
 * watch this epoch (a budgeted backend re-arms only some cold units) keeps
 * its heat: not seeing a write is not seeing no write.
 *
 * Attribution (2 MiB units only): each epoch a watched unit that was written
 * gives one sample, the NUMA node of its first writer; where the backend saw
 * it accessed several times in the epoch (the sampler parks a unit again
 * after an access) and from several nodes, the sample is "mixed": the total
 * grows and no node's score does.  The unit keeps a
 * decayed vote (attribution decay 50%): a candidate node, its score and the
 * total of all samples.  A sample for another node replaces the candidate
 * once the candidate holds less than half of the total, and takes the rest of
 * the total as its score; right after a mixed epoch it takes only its own
 * sample (the rest was "several nodes", not its).  The candidate is the
 * unit's accessor when it holds more than 2/3 of the total; a unit written
 * from several nodes with none dominating is "shared" and has no accessor.
 * Nodes taking turns every epoch settle at 1/2 and 2/3 at most: shared.
 * The first touch is not a user: in a unit's first two epochs with samples,
 * a sample from one node alone makes that node the accessor at once (a
 * program that fills memory on one node and uses it from another is
 * followed after one epoch of use, not two), provided the samples were
 * writes (one write-protect fault per epoch) or no other node's CPUs ran the
 * program in that epoch (hs_heat_config_t.busy_nodes): the sampler parks a
 * read unit again at each tick, and under a busy scheduler the same one of
 * two readers can be first at every turn.  Reads sampled twice or more also
 * decide while the other nodes that ran were not seen reading, by the
 * epoch's samples (hs_heat_config_t.not_reading_nodes).
 * A unit seen shared stays so a while: for HS_HEAT_SHARED_EPOCHS epochs
 * with samples after its last mixed one, a sample from one node while
 * another node's CPUs ran the program counts as mixed too (two readers of a
 * table, the sampler catching the same one first at every turn for a few
 * epochs, must not hand the table to it); after that, or once the other
 * nodes go quiet, lone samples vote again.
 *
 * Idleness (2 MiB units): the epochs since the unit's last access (write,
 * or read seen by the sampler), counted in epochs it was watched, and
 * whether the sampler confirmed it in one of them (it parked the unit for a
 * whole epoch and nobody touched it).  Write-protection alone never
 * confirms: a unit only read looks unwritten.  Tiering demotes only
 * confirmed idle units.
 *
 * Memory per unit: heat (1 byte) and two bits (written, observed); 2 MiB
 * units add node, score, total, this epoch's sample, the last epoch's
 * writer, the sample history and the idleness (7 bytes). */
#ifndef HS_HEAT_H
#define HS_HEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_HEAT_MAX 100
#define HS_HEAT_ATTR_SHIFT 21 /* units of this size and up carry attribution */
#define HS_HEAT_ATTR_DECAY 50
#define HS_HEAT_SAMPLE_MIXED (-3) /* an epoch's samples came from several nodes */

typedef struct hs_heat_config {
    unsigned decay_pct;     /* 0..99: how much of the old heat is kept per epoch */
    unsigned hot_threshold; /* 1..100 */
    /* Set by the caller for each epoch it closes: the nodes whose CPUs ran
     * the program's threads for a real share of the end of that epoch (its
     * last tick on: a fill that ended earlier does not count; bit n: node
     * n), 0 when unknown.  A lone sample decides early only when its node is
     * the only one: with threads busy elsewhere too, one epoch of samples
     * from one node may be chance (two readers, the sampler catching the
     * same one first at every turn), and the full vote applies... */
    uint64_t busy_nodes;
    /* ...unless the other busy nodes' threads were not seen reading in that
     * epoch (no unit read, or more units written than read: hs_heat_sample) and the
     * unit was read more than once (the sampler parks it again at its
     * ticks): a table read on one node while another node's threads fill
     * buffers, or only watch, is followed after one epoch.  Set by the
     * caller with busy_nodes. */
    uint64_t not_reading_nodes;
} hs_heat_config_t;

typedef struct hs_heat_region {
    uintptr_t start;
    size_t len;
    unsigned unit_shift; /* 21 (2 MiB) or 12 (4 KiB) */
    size_t nunits;
    uint8_t *heat;
    uint64_t *written;  /* bitmap: written in the current epoch */
    uint64_t *observed; /* bitmap: watched in the current epoch */
    /* NULL for units below 2 MiB: */
    int8_t *node;    /* candidate accessor node, -1 none */
    uint8_t *score;  /* decayed samples for node */
    uint8_t *total;  /* decayed samples for every node */
    int8_t *sample;  /* this epoch's writer node, -1 none */
    int8_t *last;    /* the writer node of the last epoch closed, -1 none */
    uint8_t *hist;   /* epochs with samples (HS_HEAT_SEEN, saturating), the
                      * epochs left of a mixed sample's mark (HS_HEAT_SHARED),
                      * the kind of the samples of the epoch being closed
                      * (HS_HEAT_KIND) and
                      * HS_HEAT_EARLY: decided early in the epoch just closed */
    uint8_t *idle;   /* epochs without an access (HS_HEAT_IDLE_EPOCHS bits,
                      * saturating), HS_HEAT_IDLE_CONFIRMED, and
                      * HS_HEAT_IDLE_PARKED for the epoch being closed */
} hs_heat_region_t;

#define HS_HEAT_SEEN 0x03
#define HS_HEAT_SHARED 0x1c /* bits 2-4 */
#define HS_HEAT_SHARED_SHIFT 2
#define HS_HEAT_SHARED_EPOCHS 4
/* The kind of this epoch's samples: written (a write sample, whatever was
 * read: the sampler sees an update's load first, then its store), else
 * read once, or more than once. */
#define HS_HEAT_KIND 0x60
#define HS_HEAT_WROTE 0x20
#define HS_HEAT_READ 0x40
#define HS_HEAT_READ_AGAIN 0x60
#define HS_HEAT_EARLY 0x80
#define HS_HEAT_IDLE_EPOCHS 0x3f
#define HS_HEAT_IDLE_PARKED 0x40
#define HS_HEAT_IDLE_CONFIRMED 0x80

/* Bytes of metadata a region of len bytes with units of 1 << shift needs. */
size_t hs_heat_metadata_bytes(size_t len, unsigned unit_shift);
/* Lay the arrays out in caller memory of hs_heat_metadata_bytes() bytes
 * (zeroed); every unit starts observed, with no candidate node. */
void hs_heat_region_init(hs_heat_region_t *r, uintptr_t start, size_t len, unsigned unit_shift, void *mem);
/* Carry heat and attribution over from a region with the same range. */
void hs_heat_copy(hs_heat_region_t *to, const hs_heat_region_t *from);
/* Record a write to [s, e) (any part of a unit marks the unit); node >= 0
 * is the writer's node, kept as the unit's sample if it has none yet. */
void hs_heat_mark_written(hs_heat_region_t *r, uintptr_t s, uintptr_t e, int node);
/* The same for a read the access sampler saw (it may sample a unit several
 * times an epoch: reads decide early only where no other node ran, or
 * where the others only wrote and the unit was read more than once). */
void hs_heat_mark_read(hs_heat_region_t *r, uintptr_t s, uintptr_t e, int node);
/* One fault's sample of the unit holding addr (a read or a write, as
 * above), and what it changes in the counts of units the sample's node
 * read and wrote this epoch (the caller's, for not_reading_nodes): a unit
 * that node had not read yet, one it had not written yet, or a unit it
 * read found written (the store after an update's load: one read unit
 * fewer, one written unit more). */
typedef enum {
    HS_HEAT_COUNT_NONE,
    HS_HEAT_COUNT_READ,
    HS_HEAT_COUNT_WRITTEN,
    HS_HEAT_COUNT_READ_WRITTEN,
} hs_heat_count_t;
hs_heat_count_t hs_heat_sample(hs_heat_region_t *r, uintptr_t addr, int node, bool read);
/* The sampler parked the unit holding addr for the whole epoch being closed
 * and nothing accessed it (only 2 MiB units keep it). */
void hs_heat_mark_idle(hs_heat_region_t *r, uintptr_t addr);
/* Epochs the unit has gone without an access, 0 unless a park confirmed
 * its idleness since its last access (see above); saturates at 63. */
unsigned hs_heat_idle_epochs(const hs_heat_region_t *r, size_t unit);
/* The same from a unit's idle byte (a region view's idle array). */
static inline unsigned hs_heat_idle_of(uint8_t idle)
{
    return idle & HS_HEAT_IDLE_CONFIRMED ? idle & HS_HEAT_IDLE_EPOCHS : 0;
}
/* Which units the backend watches this epoch. */
void hs_heat_observe(hs_heat_region_t *r, size_t unit, bool watched);
void hs_heat_observe_all(hs_heat_region_t *r, bool watched);
bool hs_heat_observed(const hs_heat_region_t *r, size_t unit);
/* Close the epoch: decay, add this epoch's writes and samples, clear them.
 * Returns the bytes of the region that are hot afterwards. */
size_t hs_heat_end_epoch(hs_heat_region_t *r, const hs_heat_config_t *c);
bool hs_heat_is_hot(const hs_heat_region_t *r, size_t unit, const hs_heat_config_t *c);
/* The unit's accessor node (> 2/3 of its samples), or -1: unknown when it
 * has no samples, -2 when shared among nodes. */
int hs_heat_accessor(const hs_heat_region_t *r, size_t unit);
/* Whether the unit holding addr is settled on node: node is its accessor,
 * the last epoch closed had samples from node alone, and it has had samples
 * in earlier epochs too and no shared mark.  More samples from node this
 * epoch would change nothing; the first from another node would. */
bool hs_heat_settled(const hs_heat_region_t *r, uintptr_t addr, int node);
/* The node that accessed the unit in the last epoch closed, -1 none or
 * unknown, HS_HEAT_SAMPLE_MIXED when several nodes did. */
int hs_heat_last_writer(const hs_heat_region_t *r, size_t unit);
/* Whether the unit's accessor was decided in the epoch just closed on that
 * epoch's samples alone: its first or second epoch with samples, one node,
 * the only node busy in the epoch, that node now the accessor (the first
 * touch, its only rival, is overruled).  Placement then needs no second
 * epoch of evidence. */
bool hs_heat_decided_early(const hs_heat_region_t *r, size_t unit);
/* Bytes of one unit (the last may be short). */
size_t hs_heat_unit_bytes(const hs_heat_region_t *r, size_t unit);

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
