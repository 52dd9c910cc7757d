/* trace.c: the HUGESHIM_TRACE writer (see hs_trace.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../allocator/hs_registry.h"
#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../common/hs_trace_format.h"
#include "../place/hs_tier.h"
#include "hs_sites.h"
#include "hs_symbols.h"
#include "hs_trace.h"

#define HS_TRACE_TAIL (256u << 10) /* kept free for the closing records */
#define HS_TRACE_TOP_SITES 16

static int hs_fd = -1;
static int hs_owner; /* the pid that opened hs_fd: a child made by a raw clone() (no fork handlers ran) must not write into its parent's trace */
static uint64_t hs_max, hs_written, hs_epochs, hs_dropped, hs_interval_ms, hs_t0;
static uint8_t *hs_buf;
static size_t hs_buf_cap;
/* The regions of the last 'R' record. */
static hs_track_region_view_t hs_last[HS_REGISTRY_CAPACITY];
static size_t hs_last_n;
static bool hs_have_regions;
/* Each region's top allocation site, kept from the last epoch it had live
 * samples (a program frees its memory before it exits). */
typedef struct hs_label {
    uintptr_t start;
    size_t len;
    int site;
} hs_label_t;
static hs_label_t hs_labels[HS_SITES_LABELS];
static size_t hs_nlabels;

static void hs_update_labels(const hs_track_region_view_t *regions, size_t n)
{
    static uintptr_t starts[HS_SITES_LABELS];
    static size_t lens[HS_SITES_LABELS];
    static int site[HS_SITES_LABELS];
    static uint64_t bytes[HS_SITES_LABELS];
    size_t m = n < HS_SITES_LABELS ? n : HS_SITES_LABELS;
    for (size_t i = 0; i < m; i++) {
        starts[i] = regions[i].start;
        lens[i] = regions[i].len;
    }
    hs_sites_label(starts, lens, m, site, bytes);
    for (size_t i = 0; i < m; i++) {
        if (site[i] < 0)
            continue;
        size_t k = 0;
        while (k < hs_nlabels && (hs_labels[k].start != starts[i] || hs_labels[k].len != lens[i]))
            k++;
        if (k == hs_nlabels) {
            if (hs_nlabels == HS_SITES_LABELS)
                continue;
            hs_nlabels++;
        }
        hs_labels[k] = (hs_label_t){starts[i], lens[i], site[i]};
    }
}

static int hs_write(const uint8_t *p, size_t n)
{
    int err = hs_os_write_all(hs_fd, (const char *)p, n);
    if (err) {
        hs_count(HS_CTR_TRACE_ERRORS, 1);
        return err;
    }
    hs_written += n;
    return 0;
}

/* A buffer of at least need bytes (mapped; never malloc). */
static bool hs_reserve(size_t need)
{
    if (need <= hs_buf_cap)
        return true;
    size_t cap = hs_buf_cap ? hs_buf_cap : (1u << 20);
    while (cap < need)
        cap *= 2;
    void *mem = NULL;
    if (hs_os_map_plain(cap, &mem) != 0)
        return false;
    if (hs_buf)
        hs_os_munmap(hs_buf, hs_buf_cap);
    hs_buf = mem;
    hs_buf_cap = cap;
    return true;
}

static void hs_header(void)
{
    hs_tenc_t e = {hs_buf, hs_buf_cap, 0, false};
    for (size_t i = 0; i < HS_TRACE_MAGIC_LEN; i++)
        hs_tenc_u8(&e, (uint8_t)HS_TRACE_MAGIC[i]);
    size_t at = hs_tenc_begin(&e, 'H');
    hs_tenc_varint(&e, hs_interval_ms);
    hs_tenc_varint(&e, (uint64_t)hs_os_getpid());
    hs_tenc_varint(&e, HS_OS_PAGE_SIZE);
    hs_tenc_end(&e, at);
    if (hs_tier_slow_nodes()) {
        at = hs_tenc_begin(&e, 'T');
        hs_tenc_varint(&e, hs_tier_slow_nodes());
        hs_tenc_end(&e, at);
    }
    hs_write(e.buf, e.len);
}

int hs_trace_open(const char *path, uint64_t max_bytes, uint64_t interval_ms, char *why, size_t why_len)
{
    if (!hs_reserve(1u << 20)) {
        snprintf(why, why_len, "cannot map the trace buffer");
        return -ENOMEM;
    }
    int fd = hs_os_create_file(path);
    if (fd < 0) {
        snprintf(why, why_len, "cannot create %s: %s", path, strerror(-fd));
        return fd;
    }
    hs_fd = fd;
    hs_owner = hs_os_getpid();
    hs_max = max_bytes;
    hs_interval_ms = interval_ms;
    hs_written = hs_epochs = hs_dropped = 0;
    hs_have_regions = false;
    hs_nlabels = 0;
    hs_t0 = hs_os_now_ns();
    hs_header();
    return 0;
}

bool hs_trace_on(void)
{
    return hs_fd >= 0;
}

static bool hs_same_regions(const hs_track_region_view_t *r, size_t n)
{
    if (!hs_have_regions || n != hs_last_n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (r[i].start != hs_last[i].start || r[i].len != hs_last[i].len || r[i].kind != hs_last[i].kind ||
            r[i].unit_shift != hs_last[i].unit_shift)
            return false;
    return true;
}

static void hs_encode_regions(hs_tenc_t *e, const hs_track_region_view_t *r, size_t n)
{
    size_t at = hs_tenc_begin(e, 'R');
    hs_tenc_varint(e, n);
    uintptr_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        hs_tenc_varint(e, (r[i].start - prev_end) / HS_OS_PAGE_SIZE);
        hs_tenc_varint(e, (r[i].len + HS_OS_PAGE_SIZE - 1) / HS_OS_PAGE_SIZE);
        hs_tenc_u8(e, r[i].kind);
        hs_tenc_u8(e, (uint8_t)r[i].unit_shift);
        prev_end = r[i].start + ((r[i].len + HS_OS_PAGE_SIZE - 1) & ~(size_t)(HS_OS_PAGE_SIZE - 1));
    }
    hs_tenc_end(e, at);
}

void hs_trace_write_epoch(uint64_t epoch, const hs_track_region_view_t *regions, size_t nregions,
                          const hs_hot_unit_t *hot, size_t n)
{
    if (hs_fd < 0 || hs_os_getpid() != hs_owner)
        return;
    size_t units = 0;
    for (size_t i = 0; i < nregions; i++)
        units += (regions[i].len + ((size_t)1 << regions[i].unit_shift) - 1) >> regions[i].unit_shift;
    /* Worst case: every unit its own run (at most 12 bytes), and the regions. */
    size_t need = 64 + units * 12 + nregions * 24;
    if (!hs_reserve(need)) {
        hs_dropped++;
        hs_count(HS_CTR_TRACE_DROPPED_EPOCHS, 1);
        return;
    }
    hs_tenc_t e = {hs_buf, hs_buf_cap, 0, false};
    bool new_regions = !hs_same_regions(regions, nregions);
    if (new_regions)
        hs_encode_regions(&e, regions, nregions);
    size_t at = hs_tenc_begin(&e, 'E');
    hs_tenc_varint(&e, epoch);
    hs_tenc_varint(&e, (hs_os_now_ns() - hs_t0) / 1000000u);
    hs_truns_t runs = {&e, 0, 0, 0, 0};
    size_t j = 0;
    for (size_t i = 0; i < nregions; i++) {
        const hs_track_region_view_t *r = &regions[i];
        size_t nu = (r->len + ((size_t)1 << r->unit_shift) - 1) >> r->unit_shift;
        for (size_t u = 0; u < nu; u++) {
            uintptr_t addr = r->start + (u << r->unit_shift);
            while (j < n && hot[j].addr < addr)
                j++;
            uint8_t heat = r->heat ? r->heat[u] : 0, node = 0;
            if (j < n && hot[j].addr == addr) {
                node = (uint8_t)(hot[j].now + 1);
                heat |= hot[j].moved ? HS_TRACE_MOVED : 0;
            }
            hs_truns_add(&runs, heat, node, 1);
        }
    }
    hs_truns_flush(&runs);
    hs_tenc_end(&e, at);
    if (e.overflow || hs_written + e.len + HS_TRACE_TAIL > hs_max) {
        hs_dropped++;
        hs_count(HS_CTR_TRACE_DROPPED_EPOCHS, 1);
        if (hs_dropped == 1)
            hs_log(HS_LOG_INFO, "trace: HUGESHIM_TRACE_MAX reached after %llu epochs; later epochs are counted only",
                   (unsigned long long)hs_epochs);
        return;
    }
    if (hs_write(e.buf, e.len) != 0)
        return;
    if (new_regions) {
        memcpy(hs_last, regions, nregions * sizeof *regions);
        hs_last_n = nregions;
        hs_have_regions = true;
    }
    hs_epochs++;
    if (hs_sites_enabled())
        hs_update_labels(regions, nregions);
    hs_count(HS_CTR_TRACE_EPOCHS, 1);
    hs_counter_set(HS_CTR_TRACE_BYTES, hs_written);
}

void hs_trace_close(void)
{
    if (hs_fd < 0)
        return;
    if (hs_os_getpid() != hs_owner) {
        hs_os_close(hs_fd);
        hs_fd = -1;
        return;
    }
    hs_tenc_t e = {hs_buf, hs_buf_cap, 0, false};
    /* Sites: the top ones and each region's own, named by their first frame. */
    static unsigned ids[2 * HS_TRACE_TOP_SITES + HS_SITES_LABELS];
    size_t nids = hs_sites_top(true, ids, HS_TRACE_TOP_SITES);
    nids += hs_sites_top(false, ids + nids, HS_TRACE_TOP_SITES);
    for (size_t i = 0; i < hs_nlabels; i++)
        ids[nids++] = (unsigned)hs_labels[i].site;
    size_t distinct = 0;
    for (size_t i = 0; i < nids; i++) {
        bool seen = false;
        for (size_t k = 0; k < distinct && !seen; k++)
            seen = ids[k] == ids[i];
        if (!seen)
            ids[distinct++] = ids[i];
    }
    size_t at = hs_tenc_begin(&e, 'S');
    hs_tenc_varint(&e, distinct);
    for (size_t i = 0; i < distinct; i++) {
        hs_site_stats_t s;
        char name[512] = "(stack table full)";
        if (hs_sites_get(ids[i], &s) && s.depth)
            hs_symbolize(s.frames[0], name, sizeof name);
        hs_tenc_varint(&e, ids[i]);
        hs_tenc_string(&e, name);
    }
    hs_tenc_end(&e, at);
    at = hs_tenc_begin(&e, 'L');
    hs_tenc_varint(&e, hs_nlabels);
    for (size_t i = 0; i < hs_nlabels; i++) {
        hs_tenc_varint(&e, hs_labels[i].start / HS_OS_PAGE_SIZE);
        hs_tenc_varint(&e, (hs_labels[i].len + HS_OS_PAGE_SIZE - 1) / HS_OS_PAGE_SIZE);
        hs_tenc_varint(&e, (uint64_t)hs_labels[i].site);
    }
    hs_tenc_end(&e, at);
    at = hs_tenc_begin(&e, 'Z');
    hs_tenc_varint(&e, hs_epochs);
    hs_tenc_varint(&e, hs_dropped);
    hs_tenc_end(&e, at);
    if (!e.overflow)
        hs_write(e.buf, e.len);
    hs_counter_set(HS_CTR_TRACE_BYTES, hs_written);
    hs_os_close(hs_fd);
    hs_fd = -1;
}

void hs_trace_after_fork(const char *path)
{
    if (hs_fd < 0)
        return;
    /* The parent's descriptor is shared with the parent: never write to it. */
    hs_os_close(hs_fd);
    hs_fd = -1;
    if (!path)
        return;
    char why[300];
    if (hs_trace_open(path, hs_max, hs_interval_ms, why, sizeof why) != 0)
        hs_log(HS_LOG_WARN, "trace: %s; this child writes no trace", why);
}

void hs_trace_totals(uint64_t *bytes, uint64_t *epochs, uint64_t *dropped)
{
    *bytes = hs_written;
    *epochs = hs_epochs;
    *dropped = hs_dropped;
}

static void hs_trace_on_epoch(void *ctx, hs_epoch_result_t *result)
{
    (void)ctx;
    hs_trace_write_epoch(result->epoch, result->regions, result->nregions, result->units, result->n);
}

const hs_tracker_subscriber_t hs_trace_subscriber = {.epoch = hs_trace_on_epoch, .wants_regions = true, .ctx = NULL};
