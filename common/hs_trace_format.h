/* hs_trace_format.h: the HUGESHIM_TRACE file, written by observe/trace.c and
 * read by `hugeshim heatmap`.  Pure C: encoding into and decoding from
 * caller memory.
 *
 * File: the 8 bytes "HSTRACE1", then records.  A record is a tag byte, its
 * payload length (LEB128 varint) and the payload; numbers are unsigned
 * LEB128 varints, strings a varint length and bytes.
 *   'H' header:  interval_ms, pid, unit of addresses (4096)
 *   'T' tiers:   the nodes of a slower memory tier, as a bit mask (varint);
 *                written after the header when tiering runs
 *   'R' regions: count, then per region: start page (delta from the end of
 *                the previous region, in pages), length in pages, page kind
 *                (hs_os_kind_t), unit shift.  Applies to the epochs after it.
 *   'E' epoch:   epoch number, milliseconds since the trace began, then
 *                runs to the end of the payload over the units of all
 *                regions in order: unit count,
 *                heat (0-100) | 0x80 when the unit moved this epoch,
 *                node + 1 (0: unknown).  Cold memory is one run.
 *   'S' sites:   count, then per site: id, name (string).
 *   'L' labels:  count, then per region labelled: start page, length in pages,
 *                the id of the site with the most live sampled bytes in it
 *                (at the last epoch it had any).
 *   'Z' end:     epochs written, epochs dropped (HUGESHIM_TRACE_MAX reached).
 * A 64 GiB heap of 2 MiB units whose heat changes in a hundred places costs a
 * few hundred bytes per epoch. */
#ifndef HS_TRACE_FORMAT_H
#define HS_TRACE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_TRACE_MAGIC "HSTRACE1"
#define HS_TRACE_MAGIC_LEN 8
#define HS_TRACE_MOVED 0x80

/* An encoder over caller memory; overflow is sticky. */
typedef struct hs_tenc {
    uint8_t *buf;
    size_t cap, len;
    bool overflow;
} hs_tenc_t;

void hs_tenc_u8(hs_tenc_t *e, uint8_t v);
void hs_tenc_varint(hs_tenc_t *e, uint64_t v);
void hs_tenc_string(hs_tenc_t *e, const char *s);
/* Open a record: returns the position to close it at. */
size_t hs_tenc_begin(hs_tenc_t *e, uint8_t tag);
/* Close: moves the payload to make room for its length (a varint). */
void hs_tenc_end(hs_tenc_t *e, size_t at);

/* Run-length encoder for an epoch's units. */
typedef struct hs_truns {
    hs_tenc_t *e;
    uint64_t count, runs;
    uint8_t heat, node;
} hs_truns_t;
void hs_truns_add(hs_truns_t *r, uint8_t heat_and_moved, uint8_t node_plus_1, uint64_t count);
void hs_truns_flush(hs_truns_t *r);

/* ---- decoding -------------------------------------------------------------------- */
typedef struct hs_tdec {
    const uint8_t *p, *end;
    bool bad;
} hs_tdec_t;

uint8_t hs_tdec_u8(hs_tdec_t *d);
uint64_t hs_tdec_varint(hs_tdec_t *d);
/* Points into the buffer (not NUL-terminated): copies at most cap-1 bytes. */
void hs_tdec_string(hs_tdec_t *d, char *out, size_t cap);

/* The next record of [*pos, end): tag and payload.  0 at the end, 1 for a
 * record, -1 when the record is cut short (truncated file) or malformed. */
int hs_trace_next_record(const uint8_t *buf, size_t len, size_t *pos, uint8_t *tag, hs_tdec_t *payload);

/* The heatmap's colours (tests read them back from the picture). */
void hs_trace_heat_rgb(unsigned heat, uint8_t rgb[3]);  /* 0..100: dark blue -> red -> pale yellow */
void hs_trace_node_rgb(int node, uint8_t rgb[3]);       /* -1: unknown (grey) */
#define HS_TRACE_ABSENT_RGB 0xEBEBEB                    /* no such unit in that epoch */

#ifdef __cplusplus
}
#endif
#endif
