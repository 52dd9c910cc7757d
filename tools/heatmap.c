/* heatmap.c: `hugeshim heatmap TRACE -o OUT.png|OUT.svg`: a trace written
 * with HUGESHIM_TRACE drawn as address (hugeshim's regions stacked, each
 * labelled with its size, kind and top allocation site) against epoch,
 * colour = heat, beside a panel of the same cells coloured by the node each
 * hot unit was on, with a black mark where a unit moved.  cairo draws PNG
 * and SVG from one code path. */
#include <cairo/cairo-svg.h>
#include <cairo/cairo.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hs_counters.h"
#include "../common/hs_kinds.h"
#include "../common/hs_trace_format.h"
#include "../os/hs_os.h"
#include "hs_tools.h"

#define HS_MAX_REGIONS 65536 /* the registry's capacity */
#define HS_REGION_HASH (2 * HS_MAX_REGIONS)
#define HS_LEFT 300
#define HS_TOP 46
#define HS_GAP 24
#define HS_BOTTOM 64
#define HS_RIGHT 16
#define HS_PLOT_H 600
#define HS_BANDS_MAX_PX 24000.0 /* most pixels the bands' minimum heights may take */
#define HS_PLOT_W 640

typedef struct hm_region {
    uint64_t start, len;
    unsigned kind, shift;
    uint64_t units;
    int label; /* site id, -1 none */
    /* Layout: */
    double y, h;
} hm_region_t;

typedef struct hm_epoch {
    uint64_t number, ms;
    size_t table;  /* index of the 'R' table it follows */
    const uint8_t *runs, *runs_end;
} hm_epoch_t;

typedef struct hm_table {
    size_t first, count; /* into the regions' table list (hm_trace_t.table_regions) */
} hm_table_t;

typedef struct hm_site {
    uint64_t id;
    char name[200];
} hm_site_t;

typedef struct hm_trace {
    uint8_t *data;
    size_t len;
    uint64_t interval_ms, pid;
    hm_region_t regions[HS_MAX_REGIONS]; /* distinct regions, sorted by address */
    size_t nregions;
    size_t *table_regions; /* for each table, its regions as indices into regions */
    size_t table_regions_len, table_regions_cap;
    hm_table_t *tables;
    size_t ntables, tables_cap;
    hm_epoch_t *epochs;
    size_t nepochs, epochs_cap;
    hm_site_t *sites;
    size_t nsites;
    bool ended;
    uint64_t dropped;
    uint64_t slow_nodes; /* 'T': nodes of a slower memory tier */
} hm_trace_t;

static int hm_fail(const char *path, const char *fmt, size_t at, const char *detail)
{
    fprintf(stderr, "hugeshim heatmap: %s: ", path);
    fprintf(stderr, fmt, at, detail);
    fprintf(stderr, "\n");
    return 1;
}

static bool hm_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

/* Distinct regions by (start, len, kind, shift): an open-addressing index
 * of slot + 1 (0: empty). */
static uint32_t hm_region_slots[HS_REGION_HASH];

static size_t hm_region_index(hm_trace_t *t, uint64_t start, uint64_t len, unsigned kind, unsigned shift)
{
    uint64_t h = (start * 0x9E3779B97F4A7C15ULL) ^ (len * 0xC2B2AE3D27D4EB4FULL) ^ ((uint64_t)kind << 8 | shift);
    for (size_t k = (size_t)(h >> 20) % HS_REGION_HASH;; k = (k + 1) % HS_REGION_HASH) {
        uint32_t slot = hm_region_slots[k];
        if (!slot) {
            if (t->nregions >= HS_MAX_REGIONS)
                return SIZE_MAX;
            hm_region_t *r = &t->regions[t->nregions];
            *r = (hm_region_t){start, len, kind, shift, (len + (1ull << shift) - 1) >> shift, -1, 0, 0};
            hm_region_slots[k] = (uint32_t)++t->nregions;
            return t->nregions - 1;
        }
        const hm_region_t *r = &t->regions[slot - 1];
        if (r->start == start && r->len == len && r->kind == kind && r->shift == shift)
            return slot - 1;
    }
}

/* Units an epoch's runs cover, or UINT64_MAX when they are malformed. */
static uint64_t hm_runs_units(const uint8_t *p, const uint8_t *end)
{
    hs_tdec_t d = {p, end, false};
    uint64_t units = 0;
    while (d.p < d.end) {
        uint64_t count = hs_tdec_varint(&d);
        uint8_t heat = hs_tdec_u8(&d);
        hs_tdec_u8(&d);
        if (d.bad || !count || (heat & 0x7f) > 100)
            return UINT64_MAX;
        units += count;
    }
    return units;
}

static int hm_load(const char *path, hm_trace_t *t, bool partial)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "hugeshim heatmap: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t cap = 1 << 20;
    t->data = malloc(cap);
    for (size_t got; t->data && (got = fread(t->data + t->len, 1, cap - t->len, f)) > 0;) {
        t->len += got;
        if (t->len == cap) {
            uint8_t *bigger = realloc(t->data, cap * 2);
            if (!bigger) {
                free(t->data);
                t->data = NULL;
                break;
            }
            t->data = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (!t->data) {
        fprintf(stderr, "hugeshim heatmap: %s: out of memory reading it\n", path);
        return 1;
    }
    if (t->len < HS_TRACE_MAGIC_LEN || memcmp(t->data, HS_TRACE_MAGIC, HS_TRACE_MAGIC_LEN))
        return hm_fail(path, "not a hugeshim trace (expected the %zu-byte header %s written by HUGESHIM_TRACE)",
                       HS_TRACE_MAGIC_LEN, HS_TRACE_MAGIC);
    size_t pos = HS_TRACE_MAGIC_LEN;
    uint8_t tag;
    hs_tdec_t d;
    bool have_header = false;
    for (;;) {
        size_t at = pos;
        int rc = hs_trace_next_record(t->data, t->len, &pos, &tag, &d);
        if (rc == 0)
            break;
        if (rc < 0 && partial && t->nepochs) {
            fprintf(stderr, "hugeshim heatmap: note: %s: the record at byte %zu is cut short; drawing the %zu epochs "
                            "before it\n", path, at, t->nepochs);
            break;
        }
        if (rc < 0)
            return hm_fail(path, "truncated: the record at byte %zu runs past the end of the file (%s)", at,
                           "the program was killed while writing, or the file was cut; --partial draws the "
                           "epochs before it");
        if (t->ended)
            return hm_fail(path, "corrupt: data after the end record, at byte %zu%s", at, "");
        char what[2] = {(char)tag, 0};
        switch (tag) {
        case 'H':
            t->interval_ms = hs_tdec_varint(&d);
            t->pid = hs_tdec_varint(&d);
            hs_tdec_varint(&d);
            have_header = true;
            break;
        case 'T':
            t->slow_nodes = hs_tdec_varint(&d);
            break;
        case 'R': {
            uint64_t n = hs_tdec_varint(&d), prev_end = 0;
            if (d.bad || n > HS_MAX_REGIONS)
                return hm_fail(path, "corrupt region record at byte %zu%s", at,
                               d.bad ? " (cut short)" : " (more regions than hugeshim's registry holds)");
            if (!hm_grow((void **)&t->tables, &t->tables_cap, t->ntables + 1, sizeof *t->tables) ||
                !hm_grow((void **)&t->table_regions, &t->table_regions_cap, t->table_regions_len + n,
                         sizeof *t->table_regions))
                return hm_fail(path, "out of memory at byte %zu%s", at, "");
            t->tables[t->ntables] = (hm_table_t){t->table_regions_len, (size_t)n};
            for (uint64_t i = 0; i < n; i++) {
                uint64_t start = prev_end + hs_tdec_varint(&d) * 4096, len = hs_tdec_varint(&d) * 4096;
                unsigned kind = hs_tdec_u8(&d), shift = hs_tdec_u8(&d);
                if (d.bad || shift < 12 || shift > 30 || !len || kind > 3)
                    return hm_fail(path, "corrupt region record at byte %zu%s", at,
                                   d.bad ? " (cut short)" : " (a region with an impossible size, unit or kind)");
                size_t idx = hm_region_index(t, start, len, kind, shift);
                if (idx == SIZE_MAX)
                    return hm_fail(path, "more than 65536 distinct regions (at byte %zu)%s", at, "");
                t->table_regions[t->table_regions_len++] = idx;
                prev_end = start + len;
            }
            t->ntables++;
            break;
        }
        case 'E': {
            if (!t->ntables)
                return hm_fail(path, "corrupt: an epoch record before any region record, at byte %zu%s", at, "");
            uint64_t number = hs_tdec_varint(&d), ms = hs_tdec_varint(&d);
            if (d.bad)
                return hm_fail(path, "corrupt epoch record at byte %zu%s", at, "");
            const hm_table_t *tab = &t->tables[t->ntables - 1];
            uint64_t want = 0;
            for (size_t i = 0; i < tab->count; i++)
                want += t->regions[t->table_regions[tab->first + i]].units;
            uint64_t got = hm_runs_units(d.p, d.end);
            if (got != want) {
                char detail[96];
                snprintf(detail, sizeof detail, " (its runs cover %llu units, its regions have %llu)",
                         (unsigned long long)(got == UINT64_MAX ? 0 : got), (unsigned long long)want);
                return hm_fail(path, "corrupt epoch record at byte %zu%s", at, detail);
            }
            if (!hm_grow((void **)&t->epochs, &t->epochs_cap, t->nepochs + 1, sizeof *t->epochs))
                return hm_fail(path, "out of memory at byte %zu%s", at, "");
            t->epochs[t->nepochs++] = (hm_epoch_t){number, ms, t->ntables - 1, d.p, d.end};
            break;
        }
        case 'S': {
            uint64_t n = hs_tdec_varint(&d);
            if (d.bad || n > 100000)
                return hm_fail(path, "corrupt site record at byte %zu%s", at, "");
            t->sites = calloc(n ? n : 1, sizeof *t->sites);
            for (uint64_t i = 0; t->sites && i < n; i++) {
                t->sites[i].id = hs_tdec_varint(&d);
                hs_tdec_string(&d, t->sites[i].name, sizeof t->sites[i].name);
            }
            if (d.bad || !t->sites)
                return hm_fail(path, "corrupt site record at byte %zu%s", at, "");
            t->nsites = (size_t)n;
            break;
        }
        case 'L': {
            uint64_t n = hs_tdec_varint(&d);
            if (d.bad || n > 1000000)
                return hm_fail(path, "corrupt label record at byte %zu%s", at, "");
            for (uint64_t i = 0; i < n; i++) {
                uint64_t start = hs_tdec_varint(&d) * 4096, len = hs_tdec_varint(&d) * 4096, id = hs_tdec_varint(&d);
                for (size_t k = 0; !d.bad && k < t->nregions; k++)
                    if (t->regions[k].start == start && t->regions[k].len == len)
                        t->regions[k].label = (int)id;
            }
            if (d.bad)
                return hm_fail(path, "corrupt label record at byte %zu%s", at, "");
            break;
        }
        case 'Z':
            hs_tdec_varint(&d);
            t->dropped = hs_tdec_varint(&d);
            t->ended = true;
            break;
        default:
            return hm_fail(path, "corrupt: unknown record '%2$s' at byte %1$zu", at, what);
        }
        if (d.bad)
            return hm_fail(path, "corrupt record '%2$s' at byte %1$zu", at, what);
    }
    if (!have_header)
        return hm_fail(path, "corrupt: no header record (byte %zu)%s", HS_TRACE_MAGIC_LEN, "");
    if (!t->nepochs)
        return hm_fail(path, "no epochs in the trace (%zu bytes): %s", t->len,
                       "the program ended before its first epoch (HUGESHIM_INTERVAL_MS), or tracked nothing");
    return 0;
}

static const hm_region_t *hm_sort_base;
static int hm_by_start(const void *a, const void *b)
{
    const hm_region_t *x = &hm_sort_base[*(const size_t *)a], *y = &hm_sort_base[*(const size_t *)b];
    return x->start < y->start ? -1 : x->start > y->start ? 1 : x->len < y->len ? -1 : x->len > y->len;
}

static const char *hm_site_name(const hm_trace_t *t, int id)
{
    for (size_t i = 0; id >= 0 && i < t->nsites; i++)
        if (t->sites[i].id == (uint64_t)id)
            return t->sites[i].name;
    return NULL;
}

static void hm_rgb(cairo_t *cr, const uint8_t rgb[3])
{
    cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
}

static void hm_hex(cairo_t *cr, unsigned hex)
{
    uint8_t rgb[3] = {(uint8_t)(hex >> 16), (uint8_t)(hex >> 8), (uint8_t)hex};
    hm_rgb(cr, rgb);
}

typedef struct hm_layout {
    double cell_w, unit_h; /* unit_h: pixels per unit (may be < 1: units share a row) */
    double x0, x1, y0, plot_w, plot_h;
    unsigned width, height;
    size_t columns; /* epochs per column: 1 unless there are more epochs than pixels */
} hm_layout_t;

static void hm_layout(hm_trace_t *t, hm_layout_t *l)
{
    l->cell_w = (double)(HS_PLOT_W / t->nepochs);
    if (l->cell_w > 40)
        l->cell_w = 40;
    l->columns = 1;
    if (l->cell_w < 1) {
        l->cell_w = 1;
        l->columns = (t->nepochs + HS_PLOT_W - 1) / HS_PLOT_W;
    }
    /* Bands in proportion to bytes, none thinner than its label, no unit
     * taller than 24 px; the cells are exact when every unit gets whole pixels. */
    uint64_t bytes = 0, smallest = UINT64_MAX;
    for (size_t i = 0; i < t->nregions; i++) {
        bytes += t->regions[i].len;
        uint64_t ub = 1ull << t->regions[i].shift;
        smallest = ub < smallest ? ub : smallest;
    }
    double px_per_byte = (double)HS_PLOT_H / (double)bytes;
    if (px_per_byte * (double)smallest > 24)
        px_per_byte = 24.0 / (double)smallest;
    l->unit_h = 0;
    if (px_per_byte * (double)smallest >= 1) {
        /* Whole pixels per unit of the smallest kind. */
        l->unit_h = (double)(unsigned)(px_per_byte * (double)smallest);
        px_per_byte = l->unit_h / (double)smallest;
    }
    /* Bands are at least a label tall (14 px) while that fits; with thousands
     * of regions they shrink (below 11 px they carry no label), so that the
     * image stays within what cairo can draw (32767 px). */
    double min_h = 14;
    if ((double)t->nregions * min_h > HS_BANDS_MAX_PX)
        min_h = HS_BANDS_MAX_PX / (double)t->nregions;
    l->y0 = HS_TOP;
    double y = l->y0;
    /* Stacked in address order (the tables keep their indices). */
    static size_t order[HS_MAX_REGIONS];
    for (size_t i = 0; i < t->nregions; i++)
        order[i] = i;
    hm_sort_base = t->regions;
    qsort(order, t->nregions, sizeof order[0], hm_by_start);
    for (size_t i = 0; i < t->nregions; i++) {
        hm_region_t *r = &t->regions[order[i]];
        r->y = y;
        double h = px_per_byte * (double)r->len;
        bool exact = l->unit_h > 0 && h >= 14;
        if (exact)
            r->h = (double)(unsigned)(h + 0.5);
        else if (h < min_h)
            r->h = min_h;
        else
            r->h = min_h < 14 ? h : (double)(unsigned)h;
        y += r->h;
    }
    size_t cols = (t->nepochs + l->columns - 1) / l->columns;
    l->plot_w = l->cell_w * (double)cols;
    l->plot_h = y - l->y0;
    l->x0 = HS_LEFT;
    l->x1 = l->x0 + l->plot_w + HS_GAP;
    l->width = (unsigned)(l->x1 + l->plot_w + HS_RIGHT);
    if (l->width < HS_LEFT + 420)
        l->width = HS_LEFT + 420;
    l->height = (unsigned)(l->y0 + l->plot_h + HS_BOTTOM);
}

/* One epoch's cells: heat and node for every unit of its regions. */
static void hm_draw_epoch(cairo_t *cr, const hm_trace_t *t, const hm_layout_t *l, size_t e, double x)
{
    const hm_epoch_t *ep = &t->epochs[e];
    const hm_table_t *tab = &t->tables[ep->table];
    hs_tdec_t d = {ep->runs, ep->runs_end, false};
    uint64_t left = 0;
    uint8_t heat = 0, node = 0;
    for (size_t k = 0; k < tab->count; k++) {
        const hm_region_t *r = &t->regions[t->table_regions[tab->first + k]];
        double y = r->y, per = r->h / (double)r->units;
        /* Units sharing a pixel row: the hottest one shows. */
        uint64_t u = 0;
        while (u < r->units) {
            if (!left) {
                left = hs_tdec_varint(&d);
                heat = hs_tdec_u8(&d);
                node = hs_tdec_u8(&d);
                if (d.bad)
                    return;
            }
            uint64_t take = left < r->units - u ? left : r->units - u;
            double y_a = y + per * (double)u, y_b = y + per * (double)(u + take);
            if (y_b - y_a >= 0.5 || heat & 0x7f) {
                uint8_t rgb[3];
                hs_trace_heat_rgb(heat & 0x7f, rgb);
                double h = y_b - y_a < 1 ? 1 : y_b - y_a;
                hm_rgb(cr, rgb);
                cairo_rectangle(cr, x, y_a, l->cell_w, h);
                cairo_fill(cr);
                hs_trace_node_rgb(node ? (int)node - 1 : -1, rgb);
                hm_rgb(cr, rgb);
                cairo_rectangle(cr, x - l->x0 + l->x1, y_a, l->cell_w, h);
                cairo_fill(cr);
                if (node && node - 1 < 64 && (t->slow_nodes >> (node - 1) & 1) && (heat & 0x7f)) {
                    /* A hot unit in the slow tier: its lower third white. */
                    cairo_set_source_rgb(cr, 1, 1, 1);
                    cairo_rectangle(cr, x - l->x0 + l->x1, y_a + h * 2 / 3, l->cell_w, h / 3);
                    cairo_fill(cr);
                }
                if (heat & HS_TRACE_MOVED) {
                    /* A move: a black mark in the middle of each moved cell
                     * (of the run, where units share pixel rows). */
                    double mw = l->cell_w < 6 ? l->cell_w : 6;
                    uint64_t marks = per >= 1 ? take : 1;
                    double cell_h = per >= 1 ? per : h, mh = cell_h < 6 ? cell_h : 6;
                    cairo_set_source_rgb(cr, 0, 0, 0);
                    for (uint64_t v = 0; v < marks && v < 65536; v++) {
                        double cy = y_a + cell_h * ((double)v + 0.5);
                        cairo_rectangle(cr, x + (l->cell_w - mw) / 2, cy - mh / 2, mw, mh);
                        cairo_rectangle(cr, x - l->x0 + l->x1 + (l->cell_w - mw) / 2, cy - mh / 2, mw, mh);
                    }
                    cairo_fill(cr);
                }
            }
            u += take;
            left -= take;
        }
    }
}

static void hm_text(cairo_t *cr, double x, double y, double size, const char *s)
{
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

static void hm_draw(cairo_t *cr, const char *path, hm_trace_t *t, const hm_layout_t *l)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    /* Absent units (a region not mapped yet, or gone): light grey. */
    for (int panel = 0; panel < 2; panel++) {
        hm_hex(cr, HS_TRACE_ABSENT_RGB);
        cairo_rectangle(cr, panel ? l->x1 : l->x0, l->y0, l->plot_w, l->plot_h);
        cairo_fill(cr);
    }
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
    for (size_t e = 0; e < t->nepochs; e++)
        hm_draw_epoch(cr, t, l, e, l->x0 + l->cell_w * (double)(e / l->columns));
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT);
    /* Region labels and separators. */
    char line[400];
    for (size_t i = 0; i < t->nregions; i++) {
        const hm_region_t *r = &t->regions[i];
        char size[32];
        hs_format_bytes(r->len, size, sizeof size);
        cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
        cairo_set_line_width(cr, 1);
        cairo_move_to(cr, 8, r->y + 0.5);
        cairo_line_to(cr, l->x1 + l->plot_w, r->y + 0.5);
        cairo_stroke(cr);
        if (r->h < 11)
            continue;
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(line, sizeof line, "%s %s @%llx", size, hs_kind_name((hs_os_kind_t)r->kind), (unsigned long long)r->start);
        hm_text(cr, 8, r->y + 11, 10, line);
        const char *site = hm_site_name(t, r->label);
        if (site && r->h >= 24) {
            snprintf(line, sizeof line, "%.58s", site);
            cairo_set_source_rgb(cr, 0.25, 0.25, 0.45);
            hm_text(cr, 8, r->y + 23, 9, line);
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    snprintf(line, sizeof line, "hugeshim heat: %s (pid %llu), %zu epochs of %llu ms%s", path,
             (unsigned long long)t->pid, t->nepochs, (unsigned long long)t->interval_ms,
             t->dropped ? ", later epochs dropped (HUGESHIM_TRACE_MAX)" : "");
    hm_text(cr, 8, 18, 13, line);
    hm_text(cr, l->x0, l->y0 - 8, 11, "heat (written recently: bright)");
    hm_text(cr, l->x1, l->y0 - 8, 11, "node of each hot unit (black mark: moved)");
    /* Epoch axis. */
    double yb = l->y0 + l->plot_h;
    static const size_t steps[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000};
    size_t step = 1;
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        step = steps[k];
        if ((double)step * l->cell_w / (double)l->columns >= 40)
            break;
    }
    for (size_t e = 0; e < t->nepochs; e += step) {
        double x = l->cell_w * (double)(e / l->columns);
        snprintf(line, sizeof line, "%llu", (unsigned long long)t->epochs[e].number);
        hm_text(cr, l->x0 + x, yb + 14, 9, line);
        hm_text(cr, l->x1 + x, yb + 14, 9, line);
    }
    hm_text(cr, l->x0, yb + 28, 10, "epoch");
    /* Legend: the heat scale and the nodes. */
    double lx = 8, ly = yb + 40;
    hm_text(cr, lx, ly + 9, 9, "cold");
    for (unsigned h = 0; h <= 100; h++) {
        uint8_t rgb[3];
        hs_trace_heat_rgb(h, rgb);
        hm_rgb(cr, rgb);
        cairo_rectangle(cr, lx + 30 + h * 1.5, ly, 1.5, 10);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    hm_text(cr, lx + 186, ly + 9, 9, "hot");
    double nx = lx + 230;
    for (int node = -1; node < 4; node++) {
        uint8_t rgb[3];
        hs_trace_node_rgb(node, rgb);
        hm_rgb(cr, rgb);
        cairo_rectangle(cr, nx, ly, 10, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(line, sizeof line, node < 0 ? "unknown" : "node %d", node);
        hm_text(cr, nx + 13, ly + 9, 9, line);
        nx += node < 0 ? 62 : 50;
    }
    if (t->slow_nodes) {
        cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
        cairo_rectangle(cr, nx, ly, 10, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_rectangle(cr, nx, ly + 20.0 / 3, 10, 10.0 / 3);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        hm_text(cr, nx + 13, ly + 9, 9, "hot, in the slow tier");
    }
}

static bool hm_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

int hs_tool_heatmap(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    bool partial = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: hugeshim heatmap [--partial] TRACE -o OUT.png|OUT.svg\n"
                   "Draws a trace written with HUGESHIM_TRACE=FILE: address (regions stacked) against epoch,\n"
                   "colour = heat, with a panel of the node each hot unit was on and marks where units moved.\n"
                   "--partial: a trace cut short (its program killed while writing) draws the epochs before the cut.\n");
            return 0;
        }
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--partial"))
            partial = true;
        else if (!in && argv[i][0] != '-')
            in = argv[i];
        else {
            fprintf(stderr, "hugeshim heatmap: unexpected argument '%s' (usage: hugeshim heatmap TRACE -o OUT.png|OUT.svg)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "hugeshim heatmap: usage: hugeshim heatmap TRACE -o OUT.png|OUT.svg\n");
        return 2;
    }
    bool svg = hm_ends_with(out, ".svg");
    if (!svg && !hm_ends_with(out, ".png")) {
        fprintf(stderr, "hugeshim heatmap: %s: the output must end in .png or .svg\n", out);
        return 2;
    }
    static hm_trace_t t;
    int rc = hm_load(in, &t, partial);
    if (rc)
        return rc;
    if (!t.ended)
        fprintf(stderr, "hugeshim heatmap: note: %s has no end record (the program did not exit normally): "
                        "drawing its %zu complete epochs\n",
                in, t.nepochs);
    hm_layout_t l;
    hm_layout(&t, &l);
    cairo_surface_t *surface = svg ? cairo_svg_surface_create(out, l.width, l.height)
                                   : cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)l.width, (int)l.height);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "hugeshim heatmap: %s: %s\n", out, cairo_status_to_string(cairo_surface_status(surface)));
        return 1;
    }
    cairo_t *cr = cairo_create(surface);
    hm_draw(cr, in, &t, &l);
    cairo_destroy(cr);
    cairo_status_t st = svg ? (cairo_surface_finish(surface), cairo_surface_status(surface))
                            : cairo_surface_write_to_png(surface, out);
    cairo_surface_destroy(surface);
    if (st != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "hugeshim heatmap: %s: %s\n", out, cairo_status_to_string(st));
        return 1;
    }
    uint64_t units = 0;
    for (size_t i = 0; i < t.nregions; i++)
        units += t.regions[i].units;
    printf("heatmap: %s: %zu epochs, %llu units in %zu regions; %ux%u px; cell %.0fx%.0f px at %.0f,%.0f; "
           "node panel at x %.0f\n",
           out, t.nepochs, (unsigned long long)units, t.nregions, l.width, l.height, l.cell_w, l.unit_h, l.x0, l.y0,
           l.x1);
    return 0;
}
