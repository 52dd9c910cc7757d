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

/* Where an option's value came from, in rising precedence. */
typedef enum hs_opt_source {
    HS_SRC_DEFAULT,   /* built in */
    HS_SRC_FILE,      /* a configuration file's default section */
    HS_SRC_SECTION,   /* a configuration file's section matching the program */
    HS_SRC_ENV,       /* the environment (HUGESHIM_*) */
} hs_opt_source_t;

#define HS_CONFIG_FILES 2 /* /etc/hugeshim.conf, then HUGESHIM_CONFIG's */

typedef struct hs_options {
    long long value[HS_OPT_COUNT];          /* BOOL, INT, SIZE, ENUM index */
    char text[HS_OPT_COUNT][HS_OPT_TEXT_MAX]; /* effective value as text */
    uint8_t source[HS_OPT_COUNT];           /* hs_opt_source_t */
    uint8_t file[HS_OPT_COUNT];             /* FILE, SECTION: index into files */
    uint32_t line[HS_OPT_COUNT];            /* FILE, SECTION: line of the file */
    char files[HS_CONFIG_FILES][256];       /* configuration files read ("" none) */
} hs_options_t;

/* Set by the user (environment or a configuration file), not built in. */
static inline bool hs_option_is_set(const hs_options_t *o, int id)
{
    return o->source[id] != HS_SRC_DEFAULT;
}

/* Called once per problem with one complete line (no newline). */
typedef void (*hs_opt_report_fn)(void *ctx, const char *line);

/* Fill o with defaults, then the HUGESHIM_* variables of envp.  Bad values
 * keep the default and are reported; unknown HUGESHIM_* names are reported.
 * Returns the number of problems. */
int hs_options_parse(hs_options_t *o, char *const *envp, hs_opt_report_fn report, void *ctx);
/* The two steps of hs_options_parse: built-in defaults; the environment
 * over what o holds. */
void hs_options_defaults(hs_options_t *o);
int hs_options_apply_env(hs_options_t *o, char *const *envp, hs_opt_report_fn report, void *ctx);
/* Option id of a name as written in a configuration file: BACKING, backing,
 * heap-thp, HUGESHIM_HEAP_THP; -1 unknown. */
int hs_option_find(const char *name, size_t len);
/* Set option id from text (already known to parse). */
void hs_option_set(hs_options_t *o, hs_opt_id_t id, const char *text, long long value);

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
