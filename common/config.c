/* config.c: configuration files (see hs_config.h).  No allocation: the file
 * is read into a static buffer and parsed in place, line by line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../os/hs_os.h"
#include "hs_config.h"

/* One buffer per file: each is read once (untouched pages cost nothing). */
static char hs_config_buf[HS_CONFIG_FILES][HS_CONFIG_MAX_BYTES + 2];

bool hs_config_glob(const char *p, size_t plen, const char *t)
{
    const char *pend = p + plen, *star = NULL, *star_t = NULL;
    while (*t) {
        if (p < pend && *p == '*') {
            star = ++p;
            star_t = t;
            continue;
        }
        bool ok = false;
        const char *next = p + 1;
        if (p < pend && *p == '?') {
            ok = true;
        } else if (p < pend && *p == '[') {
            const char *q = p + 1;
            bool negate = q < pend && (*q == '!' || *q == '^');
            q += negate;
            bool in = false, first = true;
            for (; q < pend && (*q != ']' || first); q++, first = false) {
                if (q + 2 < pend && q[1] == '-' && q[2] != ']') {
                    in |= *t >= q[0] && *t <= q[2];
                    q += 2;
                } else {
                    in |= *t == *q;
                }
            }
            if (q < pend) { /* a closed set */
                ok = in != negate;
                next = q + 1;
            } else {
                ok = *t == '['; /* an unclosed '[' is itself */
            }
        } else if (p < pend) {
            ok = *p == *t;
        }
        if (ok) {
            p = next;
            t++;
        } else if (star) {
            p = star;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (p < pend && *p == '*')
        p++;
    return p == pend;
}

static const char *hs_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Does any pattern of a section header match the program? */
static bool hs_section_matches(const char *s, size_t len, const hs_config_program_t *prog)
{
    const char *end = s + len;
    while (s < end) {
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        const char *w = s;
        while (s < end && *s != ' ' && *s != '\t')
            s++;
        size_t n = (size_t)(s - w);
        if (!n || !prog)
            continue;
        if (memchr(w, '/', n)) {
            if (prog->exe_path && hs_config_glob(w, n, prog->exe_path))
                return true;
        } else if ((prog->exe_name && hs_config_glob(w, n, prog->exe_name)) ||
                   (prog->argv0 && hs_config_glob(w, n, hs_base(prog->argv0)))) {
            return true;
        }
    }
    return false;
}

static void hs_config_problem(hs_options_t *o, int file_index, unsigned line_no, hs_opt_report_fn report, void *ctx,
                              const char *line, size_t len, const char *what)
{
    char msg[HS_OPT_TEXT_MAX + 512];
    snprintf(msg, sizeof msg, "hugeshim: %s:%u: \"%.*s\" %s; line ignored", o->files[file_index], line_no,
             (int)(len > 200 ? 200 : len), line, what);
    if (report)
        report(ctx, msg);
}

static void hs_trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t' || **s == '\r'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

int hs_config_apply(hs_options_t *o, int file_index, const char *text, int pass, const hs_config_program_t *prog,
                    hs_opt_report_fn report, void *ctx)
{
    int problems = 0;
    bool in_default = true, in_match = false;
    unsigned line_no = 0;
    char value[HS_OPT_TEXT_MAX], why[64], accepted[160], what[HS_OPT_TEXT_MAX + 256];
    for (const char *p = text; *p || p == text; ) {
        const char *nl = strchr(p, '\n');
        const char *s = p, *e = nl ? nl : p + strlen(p);
        p = nl ? nl + 1 : e;
        line_no++;
        hs_trim(&s, &e);
        if (s == e || *s == '#' || *s == ';') {
            if (!nl)
                break;
            continue;
        }
        if (*s == '[') {
            const char *close = memchr(s, ']', (size_t)(e - s));
            if (!close || close + 1 != e) {
                problems += pass == 0;
                if (pass == 0)
                    hs_config_problem(o, file_index, line_no, report, ctx, s, (size_t)(e - s),
                                      "is not a [section]: expected [default], [program-name ...] or [/path/glob ...]");
                in_default = in_match = false; /* what follows belongs to no program */
            } else {
                const char *n = s + 1, *ne = close;
                hs_trim(&n, &ne);
                in_default = (size_t)(ne - n) == 7 && !strncmp(n, "default", 7);
                in_match = !in_default && hs_section_matches(n, (size_t)(ne - n), prog);
            }
        } else {
            const char *eq = memchr(s, '=', (size_t)(e - s));
            const char *ns = s, *ne = eq ? eq : e;
            hs_trim(&ns, &ne);
            int id = eq && ne > ns ? hs_option_find(ns, (size_t)(ne - ns)) : -2;
            if (id == -2) {
                problems += pass == 0;
                if (pass == 0)
                    hs_config_problem(o, file_index, line_no, report, ctx, s, (size_t)(e - s),
                                      "is not \"name = value\", a [section] or a # comment");
            } else if (id < 0 || id == HS_OPT_CONFIG) {
                problems += pass == 0;
                if (pass == 0)
                    hs_config_problem(o, file_index, line_no, report, ctx, s, (size_t)(e - s),
                                      id < 0 ? "names no hugeshim option (`hugeshim options` lists them)"
                                             : "cannot be set in a configuration file (HUGESHIM_CONFIG is read from "
                                               "the environment only)");
            } else if ((pass == 0 && in_default) || (pass == 1 && in_match)) {
                const char *vs = eq + 1, *ve = e;
                hs_trim(&vs, &ve);
                if (ve - vs >= 2 && ((*vs == '"' && ve[-1] == '"') || (*vs == '\'' && ve[-1] == '\''))) {
                    vs++;
                    ve--;
                }
                long long v;
                size_t vlen = (size_t)(ve - vs);
                snprintf(value, sizeof value, "%.*s", (int)(vlen < sizeof value ? vlen : sizeof value - 1), vs);
                if (vlen < sizeof value && hs_option_parse_value((hs_opt_id_t)id, value, &v, why, sizeof why)) {
                    hs_option_set(o, (hs_opt_id_t)id, value, v);
                    o->source[id] = pass == 0 ? HS_SRC_FILE : HS_SRC_SECTION;
                    o->file[id] = (uint8_t)file_index;
                    o->line[id] = line_no;
                } else {
                    problems++;
                    if (vlen >= sizeof value)
                        snprintf(why, sizeof why, "is too long");
                    hs_option_accepted((hs_opt_id_t)id, accepted, sizeof accepted);
                    snprintf(what, sizeof what, "%s: expected %s", why, accepted);
                    hs_config_problem(o, file_index, line_no, report, ctx, s, (size_t)(e - s), what);
                }
            }
        }
        if (!nl)
            break;
    }
    return problems;
}

static const char *hs_read_error(long err)
{
    switch (-err) {
    case ENOENT: return "no such file";
    case EACCES: return "permission denied";
    case EINVAL: return "not a regular file";
    case EISDIR: return "a folder, not a file";
    case EFBIG: return "larger than 64 KiB";
    case ENAMETOOLONG: return "the path is too long";
    default: return "cannot be read";
    }
}

int hs_options_load(hs_options_t *o, char *const *envp, const hs_config_program_t *prog, hs_opt_report_fn report,
                    void *ctx)
{
    int problems = 0;
    char msg[512];
    hs_options_defaults(o);
    const char *named = NULL;
    for (char *const *e = envp; e && *e; e++)
        if (!strncmp(*e, "HUGESHIM_CONFIG=", 16))
            named = *e + 16;
    if (named && strlen(named) >= HS_OPT_TEXT_MAX)
        named = NULL; /* too long: the environment's parser says so */
    bool none = named && !strcmp(named, "none");
    const char *paths[HS_CONFIG_FILES] = {none ? NULL : HS_CONFIG_SYSTEM, none || !named || !*named ? NULL : named};
    for (int f = 0; f < HS_CONFIG_FILES; f++) {
        if (!paths[f])
            continue;
        ssize_t n = hs_os_read_config(paths[f], hs_config_buf[f], sizeof hs_config_buf[f]);
        const char *why = n < 0 ? hs_read_error((long)n)
                          : memchr(hs_config_buf[f], '\0', (size_t)n) ? "holds a NUL byte: not text"
                                                                      : NULL;
        if (why) {
            if (f == 1 || n != -ENOENT) { /* a missing system file is the usual case */
                problems++;
                snprintf(msg, sizeof msg, "hugeshim: configuration file %.300s%s %s; running without it", paths[f],
                         n < 0 ? ":" : "", why);
                if (report)
                    report(ctx, msg);
            }
            paths[f] = NULL;
            continue;
        }
        snprintf(o->files[f], sizeof o->files[f], "%s", paths[f]);
    }
    /* Default sections of both files, then their matching sections. */
    for (int pass = 0; pass < 2; pass++)
        for (int f = 0; f < HS_CONFIG_FILES; f++)
            if (paths[f])
                problems += hs_config_apply(o, f, hs_config_buf[f], pass, prog, report, ctx);
    return problems + hs_options_apply_env(o, envp, report, ctx);
}

void hs_option_source_text(const hs_options_t *o, int id, char *buf, size_t cap)
{
    switch (o->source[id]) {
    case HS_SRC_ENV:
        snprintf(buf, cap, "environment");
        break;
    case HS_SRC_FILE:
    case HS_SRC_SECTION:
        snprintf(buf, cap, "%s:%u, %s", o->files[o->file[id] % HS_CONFIG_FILES], o->line[id],
                 o->source[id] == HS_SRC_FILE ? "default section" : "section for this program");
        break;
    default:
        snprintf(buf, cap, "built in");
        break;
    }
}
