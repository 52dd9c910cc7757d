/* hs_options.h: the option table (options.def) and its parser.
 * Parsing reads a caller-given environment array, allocates nothing and
 * reports each bad value as one line through a callback. */
#ifndef HS_OPTIONS_H
#define HS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hs_opt_type { HS_OPT_BOOL, HS_OPT_INT, HS_OPT_SIZE, HS_OPT_ENUM, HS_OPT_STRING } hs_opt_type_t;

typedef enum hs_opt_id {
#define HS_OPTION(id, name, type, def, min, max, choices, help) HS_OPT_##id,
#include "options.def"
    HS_OPT_COUNT
} hs_opt_id_t;

/* The choices of ENUM options, as their value (the index of the choice):
 * HS_BACKING_THP, HS_HEAP_THP_DENSE, HS_TRACK_OFF, HS_MIGRATE_AUTO, ... */
enum hs_opt_choice {
#define HS_CHOICE(id, choice, index) HS_##id##_##choice = index,
#include "options.def"
};

typedef struct hs_opt_desc {
    const char *name;    /* suffix after HUGESHIM_ */
    hs_opt_type_t type;
    const char *def;     /* default, as text */
    long long min, max;  /* INT and SIZE */
    const char *choices; /* ENUM: "a|b|c", index = value */
    const char *help;
} hs_opt_desc_t;

extern const hs_opt_desc_t hs_opt_descs[HS_OPT_COUNT];

#define HS_OPT_TEXT_MAX 1024

typedef struct hs_options {
    long long value[HS_OPT_COUNT];          /* BOOL, INT, SIZE, ENUM index */
    char text[HS_OPT_COUNT][HS_OPT_TEXT_MAX]; /* effective value as text */
    bool from_env[HS_OPT_COUNT];
} hs_options_t;

/* Called once per problem with one complete line (no newline). */
typedef void (*hs_opt_report_fn)(void *ctx, const char *line);

/* Fill o with defaults, then the HUGESHIM_* variables of envp.  Bad values
 * keep the default and are reported; unknown HUGESHIM_* names are reported.
 * Returns the number of problems. */
int hs_options_parse(hs_options_t *o, char *const *envp, hs_opt_report_fn report, void *ctx);

/* Parse one value of option id; on error writes a reason into why. */
bool hs_option_parse_value(hs_opt_id_t id, const char *text, long long *value, char *why, size_t cap);

/* "2M" -> 2097152.  Accepts a decimal number with an optional k/M/G/T suffix
 * (binary multiples) and an optional trailing "B" or "iB". */
bool hs_parse_size(const char *text, long long *out);

/* Launcher flag of an option: BACKING -> "backing", MMAP_MIN -> "mmap-min". */
void hs_option_flag_name(hs_opt_id_t id, char *buf, size_t cap);

/* Accepted values, as text for messages and help. */
void hs_option_accepted(hs_opt_id_t id, char *buf, size_t cap);

/* Name of the ENUM value at index, or NULL. */
const char *hs_option_enum_name(hs_opt_id_t id, long long index, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
