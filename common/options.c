/* options.c: parse HUGESHIM_* variables against the one option table. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "hs_options.h"

const hs_opt_desc_t hs_opt_descs[HS_OPT_COUNT] = {
#define HS_OPTION(id, name, type, def, min, max, choices, help) {name, type, def, min, max, choices, help},
#include "options.def"
#undef HS_OPTION
};

#define HS_ENV_PREFIX "HUGESHIM_"

bool hs_parse_size(const char *text, long long *out)
{
    const char *p = text;
    unsigned long long v = 0;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9') {
        unsigned digit = (unsigned)(*p++ - '0');
        if (v > (ULLONG_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    unsigned shift = 0;
    switch (*p) {
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    case 't': case 'T': shift = 40; p++; break;
    default: break;
    }
    if (shift && p[0] == 'i' && p[1] == 'B')
        p += 2;
    else if (p[0] == 'B' || p[0] == 'b')
        p++;
    if (*p != '\0')
        return false;
    if (shift && v > (unsigned long long)LLONG_MAX >> shift)
        return false;
    if (v > (unsigned long long)LLONG_MAX)
        return false;
    *out = (long long)(v << shift);
    return true;
}

static bool hs_parse_int(const char *text, long long *out)
{
    const char *p = text;
    bool negative = false;
    if (*p == '-' || *p == '+')
        negative = *p++ == '-';
    if (*p < '0' || *p > '9')
        return false;
    long long v = 0;
    while (*p >= '0' && *p <= '9') {
        int digit = *p++ - '0';
        if (v > (LLONG_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    if (*p != '\0')
        return false;
    *out = negative ? -v : v;
    return true;
}

/* Find `word` as one of the '|'-separated choices; its index, or -1.  A
 * choice may have older spellings after '/' ("base/none"): each finds it. */
static long long hs_enum_index(const char *choices, const char *word)
{
    size_t len = strlen(word);
    long long index = 0;
    for (const char *p = choices; *p; index++) {
        const char *bar = strchr(p, '|');
        const char *end = bar ? bar : p + strlen(p);
        for (const char *name = p; name < end;) {
            const char *slash = memchr(name, '/', (size_t)(end - name));
            const char *name_end = slash ? slash : end;
            if ((size_t)(name_end - name) == len && strncmp(name, word, len) == 0)
                return index;
            name = slash ? slash + 1 : end;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

const char *hs_option_enum_name(hs_opt_id_t id, long long index, char *buf, size_t cap)
{
    const char *p = hs_opt_descs[id].choices;
    for (long long i = 0; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t n = strcspn(p, "|/"); /* the choice's name, without its older spellings */
        if (i == index) {
            snprintf(buf, cap, "%.*s", (int)n, p);
            return buf;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    return NULL;
}

static void hs_format_size(long long v, char *buf, size_t cap)
{
    static const char units[] = "kMGT";
    int unit = -1;
    while (unit < 3 && v >= 1024 && v % 1024 == 0) {
        v /= 1024;
        unit++;
    }
    if (unit < 0)
        snprintf(buf, cap, "%lld", v);
    else
        snprintf(buf, cap, "%lld%c", v, units[unit]);
}

void hs_option_accepted(hs_opt_id_t id, char *buf, size_t cap)
{
    const hs_opt_desc_t *d = &hs_opt_descs[id];
    char lo[32], hi[32];
    switch (d->type) {
    case HS_OPT_BOOL:
        snprintf(buf, cap, "0|1 (also no|yes, off|on, false|true)");
        break;
    case HS_OPT_INT:
        snprintf(buf, cap, "an integer from %lld to %lld", d->min, d->max);
        break;
    case HS_OPT_SIZE:
        hs_format_size(d->min, lo, sizeof lo);
        hs_format_size(d->max, hi, sizeof hi);
        snprintf(buf, cap, "a size from %s to %s bytes, with an optional k/M/G/T suffix", lo, hi);
        break;
    case HS_OPT_ENUM: {
        /* "one of thp|hugetlb_2m|base (also hugetlb, none)" */
        size_t at = (size_t)snprintf(buf, cap, "one of ");
        for (const char *c = d->choices; *c && at < cap; c++) {
            if (*c == '/')
                c += strcspn(c, "|") - 1; /* skip the older spellings here */
            else
                buf[at++] = *c;
        }
        const char *sep = " (also ";
        for (const char *c = strchr(d->choices, '/'); c && at < cap; c = strchr(c, '/')) {
            size_t n = strcspn(c + 1, "|/");
            at += (size_t)snprintf(buf + at, cap - at, "%s%.*s", sep, (int)n, c + 1);
            sep = ", ";
            c += 1 + n;
        }
        if (at < cap && strchr(d->choices, '/'))
            at += (size_t)snprintf(buf + at, cap - at, ")");
        buf[at < cap ? at : cap - 1] = '\0';
        break;
    }
    case HS_OPT_STRING:
    default:
        snprintf(buf, cap, "any text up to %d bytes", HS_OPT_TEXT_MAX - 1);
        break;
    }
}

bool hs_option_parse_value(hs_opt_id_t id, const char *text, long long *value, char *why, size_t cap)
{
    const hs_opt_desc_t *d = &hs_opt_descs[id];
    long long v = 0;
    switch (d->type) {
    case HS_OPT_BOOL:
        if (!strcmp(text, "1") || !strcmp(text, "yes") || !strcmp(text, "on") || !strcmp(text, "true"))
            v = 1;
        else if (!strcmp(text, "0") || !strcmp(text, "no") || !strcmp(text, "off") || !strcmp(text, "false"))
            v = 0;
        else {
            snprintf(why, cap, "is not a yes/no value");
            return false;
        }
        break;
    case HS_OPT_INT:
        if (!hs_parse_int(text, &v)) {
            snprintf(why, cap, "is not an integer");
            return false;
        }
        if (v < d->min || v > d->max) {
            snprintf(why, cap, "is out of range");
            return false;
        }
        break;
    case HS_OPT_SIZE:
        if (text[0] == '-') {
            snprintf(why, cap, "is negative");
            return false;
        }
        if (!hs_parse_size(text, &v)) {
            snprintf(why, cap, "is not a size");
            return false;
        }
        if (v < d->min || v > d->max) {
            snprintf(why, cap, "is out of range");
            return false;
        }
        break;
    case HS_OPT_ENUM:
        v = hs_enum_index(d->choices, text);
        if (v < 0) {
            snprintf(why, cap, "is not a known value");
            return false;
        }
        break;
    case HS_OPT_STRING:
        if (strlen(text) >= HS_OPT_TEXT_MAX) {
            snprintf(why, cap, "is too long");
            return false;
        }
        break;
    }
    *value = v;
    return true;
}

void hs_option_flag_name(hs_opt_id_t id, char *buf, size_t cap)
{
    size_t i = 0;
    for (const char *p = hs_opt_descs[id].name; *p && i + 1 < cap; p++, i++)
        buf[i] = *p == '_' ? '-' : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    buf[i] = '\0';
}

void hs_option_set(hs_options_t *o, hs_opt_id_t id, const char *text, long long value)
{
    snprintf(o->text[id], HS_OPT_TEXT_MAX, "%s", text);
    o->value[id] = value;
}

int hs_option_find(const char *name, size_t len)
{
    if (len > sizeof HS_ENV_PREFIX - 1 && !strncmp(name, HS_ENV_PREFIX, sizeof HS_ENV_PREFIX - 1)) {
        name += sizeof HS_ENV_PREFIX - 1;
        len -= sizeof HS_ENV_PREFIX - 1;
    }
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const char *d = hs_opt_descs[id].name;
        if (strlen(d) != len)
            continue;
        size_t i = 0;
        for (; i < len; i++) {
            char c = name[i];
            c = c == '-' ? '_' : (c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c);
            if (c != d[i])
                break;
        }
        if (i == len)
            return id;
    }
    return -1;
}

void hs_options_defaults(hs_options_t *o)
{
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        long long v = 0;
        char unused[64];
        /* Defaults always parse: a unit test checks every row. */
        hs_option_parse_value((hs_opt_id_t)id, hs_opt_descs[id].def, &v, unused, sizeof unused);
        hs_option_set(o, (hs_opt_id_t)id, hs_opt_descs[id].def, v);
        o->source[id] = HS_SRC_DEFAULT;
        o->file[id] = 0;
        o->line[id] = 0;
    }
    memset(o->files, 0, sizeof o->files);
}

int hs_options_apply_env(hs_options_t *o, char *const *envp, hs_opt_report_fn report, void *ctx)
{
    int problems = 0;
    char why[64], accepted[128], line[HS_OPT_TEXT_MAX + 512];
    for (char *const *e = envp; e && *e; e++) {
        const char *entry = *e;
        if (strncmp(entry, HS_ENV_PREFIX, sizeof HS_ENV_PREFIX - 1) != 0)
            continue;
        const char *name = entry + sizeof HS_ENV_PREFIX - 1;
        const char *eq = strchr(name, '=');
        if (!eq)
            continue;
        size_t name_len = (size_t)(eq - name);
        const char *text = eq + 1;
        int found = -1;
        for (int id = 0; id < HS_OPT_COUNT; id++)
            if (strlen(hs_opt_descs[id].name) == name_len && !strncmp(hs_opt_descs[id].name, name, name_len))
                found = id;
        if (found < 0) {
            problems++;
            if (report) {
                int n = snprintf(line, sizeof line, "hugeshim: %.*s is not a hugeshim option; known:",
                                 (int)(eq - entry), entry);
                for (int id = 0; id < HS_OPT_COUNT && n > 0 && (size_t)n < sizeof line; id++)
                    n += snprintf(line + n, sizeof line - (size_t)n, " " HS_ENV_PREFIX "%s", hs_opt_descs[id].name);
                report(ctx, line);
            }
            continue;
        }
        long long v;
        if (hs_option_parse_value((hs_opt_id_t)found, text, &v, why, sizeof why)) {
            hs_option_set(o, (hs_opt_id_t)found, text, v);
            o->source[found] = HS_SRC_ENV;
            continue;
        }
        problems++;
        if (report) {
            hs_option_accepted((hs_opt_id_t)found, accepted, sizeof accepted);
            snprintf(line, sizeof line, "hugeshim: " HS_ENV_PREFIX "%s=\"%.200s\" %s: expected %s; using %s \"%s\"",
                     hs_opt_descs[found].name, text, why, accepted,
                     o->source[found] == HS_SRC_DEFAULT ? "the default" : "the configuration file's", o->text[found]);
            report(ctx, line);
        }
    }
    return problems;
}

int hs_options_parse(hs_options_t *o, char *const *envp, hs_opt_report_fn report, void *ctx)
{
    hs_options_defaults(o);
    return hs_options_apply_env(o, envp, report, ctx);
}
