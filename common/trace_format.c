/* trace_format.c: see hs_trace_format.h. */
#include <string.h>

#include "hs_trace_format.h"

void hs_tenc_u8(hs_tenc_t *e, uint8_t v)
{
    if (e->len >= e->cap) {
        e->overflow = true;
        return;
    }
    e->buf[e->len++] = v;
}

static size_t hs_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

void hs_tenc_varint(hs_tenc_t *e, uint64_t v)
{
    while (v >= 0x80) {
        hs_tenc_u8(e, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    hs_tenc_u8(e, (uint8_t)v);
}

void hs_tenc_string(hs_tenc_t *e, const char *s)
{
    size_t n = strlen(s);
    hs_tenc_varint(e, n);
    if (e->len + n > e->cap) {
        e->overflow = true;
        return;
    }
    memcpy(e->buf + e->len, s, n);
    e->len += n;
}

size_t hs_tenc_begin(hs_tenc_t *e, uint8_t tag)
{
    hs_tenc_u8(e, tag);
    return e->len;
}

void hs_tenc_end(hs_tenc_t *e, size_t at)
{
    if (e->overflow)
        return;
    size_t payload = e->len - at, n = hs_varint_len(payload);
    if (e->len + n > e->cap) {
        e->overflow = true;
        return;
    }
    memmove(e->buf + at + n, e->buf + at, payload);
    size_t end = e->len + n;
    e->len = at;
    hs_tenc_varint(e, payload);
    e->len = end;
}

void hs_truns_flush(hs_truns_t *r)
{
    if (!r->count)
        return;
    hs_tenc_varint(r->e, r->count);
    hs_tenc_u8(r->e, r->heat);
    hs_tenc_u8(r->e, r->node);
    r->runs++;
    r->count = 0;
}

void hs_truns_add(hs_truns_t *r, uint8_t heat_and_moved, uint8_t node_plus_1, uint64_t count)
{
    if (r->count && r->heat == heat_and_moved && r->node == node_plus_1) {
        r->count += count;
        return;
    }
    hs_truns_flush(r);
    r->heat = heat_and_moved;
    r->node = node_plus_1;
    r->count = count;
}

uint8_t hs_tdec_u8(hs_tdec_t *d)
{
    if (d->p >= d->end) {
        d->bad = true;
        return 0;
    }
    return *d->p++;
}

uint64_t hs_tdec_varint(hs_tdec_t *d)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b = hs_tdec_u8(d);
        if (d->bad)
            return 0;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    d->bad = true;
    return 0;
}

void hs_tdec_string(hs_tdec_t *d, char *out, size_t cap)
{
    uint64_t n = hs_tdec_varint(d);
    if (d->bad || n > (uint64_t)(d->end - d->p)) {
        d->bad = true;
        if (cap)
            out[0] = '\0';
        return;
    }
    size_t copy = n < cap ? (size_t)n : cap - 1;
    memcpy(out, d->p, copy);
    out[copy] = '\0';
    d->p += n;
}

int hs_trace_next_record(const uint8_t *buf, size_t len, size_t *pos, uint8_t *tag, hs_tdec_t *payload)
{
    if (*pos >= len)
        return 0;
    hs_tdec_t d = {buf + *pos, buf + len, false};
    *tag = hs_tdec_u8(&d);
    uint64_t n = hs_tdec_varint(&d);
    if (d.bad || n > (uint64_t)(d.end - d.p))
        return -1;
    payload->p = d.p;
    payload->end = d.p + n;
    payload->bad = false;
    *pos = (size_t)(d.p + n - buf);
    return 1;
}

void hs_trace_heat_rgb(unsigned heat, uint8_t rgb[3])
{
    static const uint8_t stops[5][3] = {
        {20, 24, 60}, {70, 40, 140}, {200, 60, 90}, {245, 150, 40}, {252, 250, 160},
    };
    if (heat > 100)
        heat = 100;
    unsigned seg = heat >= 100 ? 3 : heat / 25, frac = heat - seg * 25;
    for (int c = 0; c < 3; c++)
        rgb[c] = (uint8_t)((stops[seg][c] * (25 - frac) + stops[seg + 1][c] * frac + 12) / 25);
}

void hs_trace_node_rgb(int node, uint8_t rgb[3])
{
    static const uint8_t palette[8][3] = {
        {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
        {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {23, 190, 207},
    };
    if (node < 0) {
        rgb[0] = rgb[1] = rgb[2] = 190;
        return;
    }
    memcpy(rgb, palette[node % 8], 3);
}
