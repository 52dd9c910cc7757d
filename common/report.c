/* report.c: counters storage and the JSON and text report writers.
 * Writers fill a caller buffer: they run at exit, possibly after the
 * program's allocator state is gone, so they never allocate. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hs_counters.h"

const hs_counter_desc_t hs_counter_descs[HS_CTR_COUNT] = {
#define HS_COUNTER(id, key, unit, help) {key, unit, help},
#include "counters.def"
#undef HS_COUNTER
};

uint64_t hs_counters[HS_CTR_COUNT];

void hs_out_printf(hs_out_t *o, const char *fmt, ...)
{
    if (o->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->overflow = true;
        return;
    }
    o->len += (size_t)n;
}

void hs_out_json_string(hs_out_t *o, const char *s)
{
    hs_out_printf(o, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            hs_out_printf(o, "\\%c", c);
        else if (c < 0x20)
            hs_out_printf(o, "\\u%04x", c);
        else
            hs_out_printf(o, "%c", c);
    }
    hs_out_printf(o, "\"");
}

#define HS_MAX_DEPTH 8

/* Split "a.b.c" into segments; returns the count. */
static int hs_split_key(const char *key, const char *seg[HS_MAX_DEPTH], size_t len[HS_MAX_DEPTH])
{
    int n = 0;
    const char *p = key;
    while (n < HS_MAX_DEPTH) {
        const char *dot = strchr(p, '.');
        seg[n] = p;
        len[n] = dot ? (size_t)(dot - p) : strlen(p);
        n++;
        if (!dot)
            break;
        p = dot + 1;
    }
    return n;
}

size_t hs_report_json(const hs_report_field_t *fields, size_t n, char *buf, size_t cap)
{
    hs_out_t o = {buf, cap, 0, false};
    const char *open_seg[HS_MAX_DEPTH];
    size_t open_len[HS_MAX_DEPTH];
    int depth = 0; /* objects open below the root */
    bool first = true;
    hs_out_printf(&o, "{");
    for (size_t i = 0; i < n; i++) {
        const char *seg[HS_MAX_DEPTH];
        size_t len[HS_MAX_DEPTH];
        int nseg = hs_split_key(fields[i].key, seg, len);
        int common = 0;
        while (common < depth && common < nseg - 1 && open_len[common] == len[common] &&
               !strncmp(open_seg[common], seg[common], len[common]))
            common++;
        while (depth > common) {
            hs_out_printf(&o, "\n%*s}", 2 * depth, "");
            depth--;
            first = false;
        }
        while (depth < nseg - 1) {
            hs_out_printf(&o, "%s\n%*s\"%.*s\": {", first ? "" : ",", 2 * (depth + 1), "", (int)len[depth],
                          seg[depth]);
            open_seg[depth] = seg[depth];
            open_len[depth] = len[depth];
            depth++;
            first = true;
        }
        hs_out_printf(&o, "%s\n%*s\"%.*s\": ", first ? "" : ",", 2 * (depth + 1), "", (int)len[nseg - 1],
                      seg[nseg - 1]);
        if (fields[i].kind == HS_FIELD_STRING)
            hs_out_json_string(&o, fields[i].string ? fields[i].string : "");
        else if (fields[i].kind == HS_FIELD_RAW)
            hs_out_printf(&o, "%s", fields[i].string && fields[i].string[0] ? fields[i].string : "null");
        else
            hs_out_printf(&o, "%llu", (unsigned long long)fields[i].number);
        first = false;
    }
    while (depth > 0) {
        hs_out_printf(&o, "\n%*s}", 2 * depth, "");
        depth--;
    }
    hs_out_printf(&o, "\n}\n");
    return o.overflow ? 0 : o.len;
}

void hs_format_bytes(uint64_t bytes, char *buf, size_t cap)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
}

size_t hs_report_text(const hs_report_field_t *fields, size_t n, char *buf, size_t cap)
{
    hs_out_t o = {buf, cap, 0, false};
    size_t width = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(fields[i].key) > width)
            width = strlen(fields[i].key);
    for (size_t i = 0; i < n; i++) {
        const hs_report_field_t *f = &fields[i];
        if (f->kind == HS_FIELD_RAW)
            continue;
        hs_out_printf(&o, "  %-*s  ", (int)width, f->key);
        if (f->kind == HS_FIELD_STRING) {
            hs_out_printf(&o, "%s\n", f->string ? f->string : "");
        } else if (f->kind == HS_FIELD_BYTES) {
            char human[32];
            hs_format_bytes(f->number, human, sizeof human);
            hs_out_printf(&o, "%s\n", human);
        } else {
            hs_out_printf(&o, "%llu\n", (unsigned long long)f->number);
        }
    }
    return o.overflow ? 0 : o.len;
}

/* Whether key is prefix itself or starts with "<prefix>.". */
static bool hs_key_in(const char *key, const char *prefix)
{
    size_t n = strlen(prefix);
    return !strncmp(key, prefix, n) && (key[n] == '.' || key[n] == '\0');
}

void hs_report_assemble(hs_report_t *report, const hs_report_section_t *sections, size_t nsections)
{
    bool done[16] = {false};
    if (nsections > 16)
        nsections = 16;
    for (int id = 0; id < HS_CTR_COUNT; id++) {
        const char *key = hs_counter_descs[id].key;
        for (size_t s = 0; s < nsections; s++)
            if (!done[s] && hs_key_in(key, sections[s].prefix)) {
                sections[s].add(sections[s].ctx, report);
                done[s] = true;
            }
        hs_report_add(report, (hs_report_field_t){key,
                                                   hs_unit_is_bytes(hs_counter_descs[id].unit) ? HS_FIELD_BYTES
                                                                                              : HS_FIELD_NUMBER,
                                                   hs_counter_get((hs_counter_id_t)id), NULL});
    }
    for (size_t s = 0; s < nsections; s++)
        if (!done[s])
            sections[s].add(sections[s].ctx, report);
}
