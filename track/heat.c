/* heat.c: the exponentially decayed heat of each unit, and who writes it. */
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

static bool hs_heat_attributed(unsigned shift)
{
    return shift >= HS_HEAT_ATTR_SHIFT;
}

size_t hs_heat_metadata_bytes(size_t len, unsigned unit_shift)
{
    size_t n = hs_heat_units(len, unit_shift);
    return 2 * hs_heat_words(n) * sizeof(uint64_t) + n * (hs_heat_attributed(unit_shift) ? 8 : 1);
}

void hs_heat_region_init(hs_heat_region_t *r, uintptr_t start, size_t len, unsigned unit_shift, void *mem)
{
    r->start = start;
    r->len = len;
    r->unit_shift = unit_shift;
    r->nunits = hs_heat_units(len, unit_shift);
    size_t words = hs_heat_words(r->nunits);
    r->written = mem;
    r->observed = r->written + words;
    r->heat = (uint8_t *)(r->observed + words);
    memset(r->observed, 0xff, words * sizeof(uint64_t));
    r->node = r->sample = r->last = NULL;
    r->score = r->total = r->hist = r->idle = NULL;
    if (hs_heat_attributed(unit_shift)) {
        r->node = (int8_t *)(r->heat + r->nunits);
        r->score = (uint8_t *)(r->node + r->nunits);
        r->total = r->score + r->nunits;
        r->sample = (int8_t *)(r->total + r->nunits);
        r->last = r->sample + r->nunits;
        r->hist = (uint8_t *)(r->last + r->nunits);
        r->idle = r->hist + r->nunits;
        memset(r->node, -1, r->nunits);
        memset(r->sample, -1, 2 * r->nunits);
        memset(r->hist, 0, r->nunits);
        memset(r->idle, 0, r->nunits);
    }
}

void hs_heat_copy(hs_heat_region_t *to, const hs_heat_region_t *from)
{
    size_t n = to->nunits < from->nunits ? to->nunits : from->nunits;
    memcpy(to->heat, from->heat, n);
    memcpy(to->observed, from->observed, hs_heat_words(n) * sizeof(uint64_t));
    if (to->node && from->node) {
        memcpy(to->node, from->node, n);
        memcpy(to->score, from->score, n);
        memcpy(to->total, from->total, n);
        memcpy(to->last, from->last, n);
        memcpy(to->hist, from->hist, n);
        memcpy(to->idle, from->idle, n);
    }
}

static void hs_heat_mark(hs_heat_region_t *r, uintptr_t s, uintptr_t e, int node, bool read)
{
    uintptr_t end = r->start + r->len;
    if (s < r->start)
        s = r->start;
    if (e > end)
        e = end;
    if (s >= e)
        return;
    size_t first = (s - r->start) >> r->unit_shift, last = (e - 1 - r->start) >> r->unit_shift;
    for (size_t u = first; u <= last; u++) {
        r->written[u / 64] |= 1ULL << (u % 64);
        if (r->sample && node >= 0) {
            if (r->sample[u] == -1)
                r->sample[u] = (int8_t)node;
            else if (r->sample[u] != node)
                r->sample[u] = HS_HEAT_SAMPLE_MIXED;
            unsigned kind = r->hist[u] & HS_HEAT_KIND;
            if (!read)
                kind = HS_HEAT_WROTE;
            else if (kind != HS_HEAT_WROTE)
                kind = kind ? HS_HEAT_READ_AGAIN : HS_HEAT_READ;
            r->hist[u] = (uint8_t)((r->hist[u] & ~HS_HEAT_KIND) | kind);
        }
    }
}

void hs_heat_mark_written(hs_heat_region_t *r, uintptr_t s, uintptr_t e, int node)
{
    hs_heat_mark(r, s, e, node, false);
}

void hs_heat_mark_read(hs_heat_region_t *r, uintptr_t s, uintptr_t e, int node)
{
    hs_heat_mark(r, s, e, node, true);
}

hs_heat_count_t hs_heat_sample(hs_heat_region_t *r, uintptr_t addr, int node, bool read)
{
    if (addr < r->start || addr >= r->start + r->len)
        return HS_HEAT_COUNT_NONE;
    if (!r->sample) {
        hs_heat_mark(r, addr, addr + 1, node, read);
        return read ? HS_HEAT_COUNT_READ : HS_HEAT_COUNT_WRITTEN;
    }
    size_t u = (addr - r->start) >> r->unit_shift;
    unsigned kind = r->hist[u] & HS_HEAT_KIND;
    bool same = node >= 0 && r->sample[u] == node; /* this node's samples alone so far */
    hs_heat_mark(r, addr, addr + 1, node, read);
    if (read)
        return same && kind ? HS_HEAT_COUNT_NONE : HS_HEAT_COUNT_READ;
    if (same && kind == HS_HEAT_WROTE)
        return HS_HEAT_COUNT_NONE;
    return same && kind ? HS_HEAT_COUNT_READ_WRITTEN : HS_HEAT_COUNT_WRITTEN;
}

void hs_heat_mark_idle(hs_heat_region_t *r, uintptr_t addr)
{
    if (!r->idle || addr < r->start || addr >= r->start + r->len)
        return;
    r->idle[(addr - r->start) >> r->unit_shift] |= HS_HEAT_IDLE_PARKED;
}

/* Epochs without an access, and whether a park confirmed it (hs_heat.h). */
static void hs_heat_age(hs_heat_region_t *r, size_t u, bool observed, bool written)
{
    uint8_t idle = r->idle[u];
    bool parked = idle & HS_HEAT_IDLE_PARKED;
    unsigned epochs = idle & HS_HEAT_IDLE_EPOCHS;
    if (written) {
        r->idle[u] = 0;
        return;
    }
    if (observed || parked)
        epochs += epochs < HS_HEAT_IDLE_EPOCHS;
    r->idle[u] = (uint8_t)(epochs | (idle & HS_HEAT_IDLE_CONFIRMED) | (parked ? HS_HEAT_IDLE_CONFIRMED : 0));
}

unsigned hs_heat_idle_epochs(const hs_heat_region_t *r, size_t unit)
{
    return r->idle ? hs_heat_idle_of(r->idle[unit]) : 0;
}

void hs_heat_observe(hs_heat_region_t *r, size_t unit, bool watched)
{
    if (watched)
        r->observed[unit / 64] |= 1ULL << (unit % 64);
    else
        r->observed[unit / 64] &= ~(1ULL << (unit % 64));
}

void hs_heat_observe_all(hs_heat_region_t *r, bool watched)
{
    memset(r->observed, watched ? 0xff : 0, hs_heat_words(r->nunits) * sizeof(uint64_t));
}

bool hs_heat_observed(const hs_heat_region_t *r, size_t unit)
{
    return (r->observed[unit / 64] >> (unit % 64)) & 1;
}

bool hs_heat_is_hot(const hs_heat_region_t *r, size_t unit, const hs_heat_config_t *c)
{
    return r->heat[unit] >= c->hot_threshold;
}

size_t hs_heat_unit_bytes(const hs_heat_region_t *r, size_t unit)
{
    size_t size = (size_t)1 << r->unit_shift, ustart = unit * size;
    return ustart + size <= r->len ? size : r->len - ustart;
}

/* Whether one epoch's samples from `node` alone name the unit's user at
 * once (its first epochs; hs_heat.h). */
static bool hs_heat_alone(uint8_t hist, int node, const hs_heat_config_t *c)
{
    uint64_t self = 1ULL << node, others = c->busy_nodes & ~self;
    if (!c->busy_nodes)
        return false; /* who ran is unknown */
    /* Writes: one sample per epoch from write protection, never several
     * chances for the same one of two users. */
    if (!(hist & HS_HEAT_READ) || c->busy_nodes == self)
        return true;
    /* Reads while other nodes ran: only when those were not seen reading
     * (no unit read, or more units written than read), the reader ran too, and it was
     * caught more than once. */
    return (hist & HS_HEAT_KIND) == HS_HEAT_READ_AGAIN && (c->busy_nodes & self) && !(others & ~c->not_reading_nodes);
}

/* One epoch of the decayed vote (see hs_heat.h). */
static void hs_heat_vote(hs_heat_region_t *r, size_t u, bool written, const hs_heat_config_t *c)
{
    uint64_t busy_nodes = c->busy_nodes;
    const unsigned d = HS_HEAT_ATTR_DECAY, gain = HS_HEAT_MAX - HS_HEAT_ATTR_DECAY;
    int sample = written ? r->sample[u] : -1;
    unsigned total = r->total[u] * d / 100, score = r->score[u] * d / 100;
    unsigned seen = r->hist[u] & HS_HEAT_SEEN;
    unsigned shared = (r->hist[u] & HS_HEAT_SHARED) >> HS_HEAT_SHARED_SHIFT;
    bool early = false;
    if (sample == HS_HEAT_SAMPLE_MIXED) {
        shared = HS_HEAT_SHARED_EPOCHS; /* the mark of a shared unit */
    } else if (sample >= 0 && shared) {
        /* Marked: a lone sample while another node runs counts as mixed,
         * without renewing the mark. */
        if (busy_nodes & ~(1ULL << sample))
            sample = HS_HEAT_SAMPLE_MIXED;
        shared--;
    }
    if (sample == HS_HEAT_SAMPLE_MIXED) {
        total += gain; /* several nodes this epoch: none gains */
    } else if (sample >= 0) {
        total += gain;
        if (seen <= 1 && hs_heat_alone(r->hist[u], sample, c)) {
            /* At most the first touch before, and this epoch's samples name
             * this node alone: it is the user. */
            r->node[u] = (int8_t)sample;
            score = total;
            early = true;
        } else if (r->node[u] == sample) {
            score += gain;
        } else if (score * 2 < total) {
            /* The rest of the total is the other nodes' samples, unless the
             * last epoch was mixed: then it is mostly "several nodes", and a
             * lone sample must not inherit it (a unit read from two nodes
             * would take an owner from one epoch where one reader was seen). */
            r->node[u] = (int8_t)sample;
            score = r->last[u] == HS_HEAT_SAMPLE_MIXED ? gain : total - score;
        }
    }
    r->total[u] = (uint8_t)(total > HS_HEAT_MAX ? HS_HEAT_MAX : total);
    r->score[u] = (uint8_t)(score > r->total[u] ? r->total[u] : score);
    r->last[u] = (int8_t)sample;
    r->sample[u] = -1;
    if (sample >= 0 || sample == HS_HEAT_SAMPLE_MIXED)
        seen += seen < HS_HEAT_SEEN;
    r->hist[u] = (uint8_t)(seen | shared << HS_HEAT_SHARED_SHIFT | (early ? HS_HEAT_EARLY : 0));
}

size_t hs_heat_end_epoch(hs_heat_region_t *r, const hs_heat_config_t *c)
{
    unsigned gain = HS_HEAT_MAX - c->decay_pct;
    size_t hot_bytes = 0;
    for (size_t u = 0; u < r->nunits; u++) {
        bool observed = hs_heat_observed(r, u), written = (r->written[u / 64] >> (u % 64)) & 1;
        if (r->node) {
            r->hist[u] &= (uint8_t)~HS_HEAT_EARLY; /* set again by this epoch's vote only */
            hs_heat_age(r, u, observed, written);
        }
        if (observed) {
            unsigned h = r->heat[u] * c->decay_pct / 100 + (written ? gain : 0);
            r->heat[u] = (uint8_t)(h > HS_HEAT_MAX ? HS_HEAT_MAX : h);
            if (r->node)
                hs_heat_vote(r, u, written, c);
        }
        if (r->node)
            r->hist[u] &= (uint8_t)~HS_HEAT_KIND;
        if (r->heat[u] >= c->hot_threshold)
            hot_bytes += hs_heat_unit_bytes(r, u);
    }
    memset(r->written, 0, hs_heat_words(r->nunits) * sizeof(uint64_t));
    return hot_bytes;
}

int hs_heat_accessor(const hs_heat_region_t *r, size_t unit)
{
    if (!r->node || r->total[unit] == 0)
        return -1;
    /* Samples, yet no candidate: every epoch with samples had several nodes. */
    if (r->node[unit] < 0)
        return -2;
    return r->score[unit] * 3 > r->total[unit] * 2 ? r->node[unit] : -2;
}

bool hs_heat_settled(const hs_heat_region_t *r, uintptr_t addr, int node)
{
    if (!r->node || node < 0 || addr < r->start || addr >= r->start + r->len)
        return false;
    size_t u = (addr - r->start) >> r->unit_shift;
    return hs_heat_accessor(r, u) == node && r->last[u] == node && (r->hist[u] & HS_HEAT_SEEN) >= 2 &&
           !(r->hist[u] & HS_HEAT_SHARED);
}

bool hs_heat_decided_early(const hs_heat_region_t *r, size_t unit)
{
    return r->hist && (r->hist[unit] & HS_HEAT_EARLY);
}

int hs_heat_last_writer(const hs_heat_region_t *r, size_t unit)
{
    return r->last && (r->last[unit] >= 0 || r->last[unit] == HS_HEAT_SAMPLE_MIXED) ? r->last[unit] : -1;
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
