/* hs_counters.h: the counters of counters.def, updated with relaxed atomics
 * from any thread, and the report writers that print them. */
#ifndef HS_COUNTERS_H
#define HS_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Totals over the run (COUNT, BYTES) only grow; LEVELs are a value at one
 * moment (the last epoch, exit, a peak). */
typedef enum hs_unit { HS_UNIT_COUNT, HS_UNIT_BYTES, HS_UNIT_LEVEL, HS_UNIT_LEVEL_BYTES } hs_unit_t;

static inline bool hs_unit_is_bytes(hs_unit_t u)
{
    return u == HS_UNIT_BYTES || u == HS_UNIT_LEVEL_BYTES;
}

typedef enum hs_counter_id {
#define HS_COUNTER(id, key, unit, help) HS_CTR_##id,
#include "counters.def"
#undef HS_COUNTER
    HS_CTR_COUNT
} hs_counter_id_t;

typedef struct hs_counter_desc {
    const char *key;
    hs_unit_t unit;
    const char *help;
} hs_counter_desc_t;

extern const hs_counter_desc_t hs_counter_descs[HS_CTR_COUNT];
extern uint64_t hs_counters[HS_CTR_COUNT];

static inline void hs_count(hs_counter_id_t id, uint64_t n)
{
    __atomic_fetch_add(&hs_counters[id], n, __ATOMIC_RELAXED);
}
static inline void hs_counter_set(hs_counter_id_t id, uint64_t v)
{
    __atomic_store_n(&hs_counters[id], v, __ATOMIC_RELAXED);
}
static inline uint64_t hs_counter_get(hs_counter_id_t id)
{
    return __atomic_load_n(&hs_counters[id], __ATOMIC_RELAXED);
}

/* One line of a report: a dotted key and a number or a string. */
/* RAW: string is JSON text put as it is (text reports leave it out). */
typedef enum hs_field_kind { HS_FIELD_NUMBER, HS_FIELD_BYTES, HS_FIELD_STRING, HS_FIELD_RAW } hs_field_kind_t;
typedef struct hs_report_field {
    const char *key;
    hs_field_kind_t kind;
    uint64_t number;
    const char *string;
} hs_report_field_t;

/* A report being assembled, in caller memory: fields in the order written
 * (fields past cap are counted in n and dropped). */
typedef struct hs_report {
    hs_report_field_t *fields;
    size_t n, cap;
} hs_report_t;
static inline void hs_report_add(hs_report_t *r, hs_report_field_t field)
{
    if (r->n < r->cap)
        r->fields[r->n] = field;
    r->n++;
}

/* What one subsystem adds to the report besides its counters: its facts
 * (strings, per-node values, a raw JSON block).  They come just before the
 * counters whose keys start with "<prefix>."; a section with no such
 * counter comes after all of them, in the order given.  Keys and strings
 * must stay valid until the report is written. */
typedef struct hs_report_section {
    const char *prefix;
    void (*add)(void *ctx, hs_report_t *report);
    void *ctx;
} hs_report_section_t;
/* Every counter, with the sections' facts in their places. */
void hs_report_assemble(hs_report_t *report, const hs_report_section_t *sections, size_t nsections);

/* Formatting into caller memory, for report writers: never allocates;
 * overflow is sticky. */
typedef struct hs_out {
    char *buf;
    size_t cap, len;
    bool overflow;
} hs_out_t;
__attribute__((format(printf, 2, 3))) void hs_out_printf(hs_out_t *o, const char *fmt, ...);
/* s as a JSON string, quoted and escaped. */
void hs_out_json_string(hs_out_t *o, const char *s);

/* Write fields as nested JSON / as aligned text into buf.  Returns the length
 * written, or 0 when buf was too small. */
size_t hs_report_json(const hs_report_field_t *fields, size_t n, char *buf, size_t cap);
size_t hs_report_text(const hs_report_field_t *fields, size_t n, char *buf, size_t cap);
/* "1.5 GiB" */
void hs_format_bytes(uint64_t bytes, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
