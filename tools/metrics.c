/* metrics.c: reports as Prometheus text (the format node_exporter's textfile
 * collector reads), and the sum of many processes' reports.
 *
 * Every counter of counters.def becomes a metric "hugeshim_<key>", dots as
 * underscores; totals are counters ending in _total, levels are gauges;
 * nanoseconds become seconds.  A few families are one metric with a label
 * (mapped bytes by page kind, fallbacks by reason, failed moves by error,
 * hot bytes by node).
 * Each sample carries the program and pid (summed reports: the program, and
 * hugeshim_processes says how many were added). */
#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hs_counters.h"
#include "hs_tools.h"

/* Keys folded into one labelled metric. */
typedef struct hs_family_rule {
    const char *prefix; /* key prefix (a dotted path) */
    const char *suffix; /* what the rest of the key must end with, "" any */
    const char *name;   /* metric name, without _total */
    const char *label;  /* the label that takes the rest of the key */
    const char *help;
} hs_family_rule_t;

static const hs_family_rule_t hs_rules[] = {
    {"backing.", "_bytes", "hugeshim_backing_mapped_bytes", "kind",
     "bytes mapped for the heap and the program's large mmaps, by page kind (totals over the run)"},
    {"backing.fallbacks.", "", "hugeshim_backing_fallbacks", "reason",
     "requests a huge page kind could not serve, by reason (the next kind was tried)"},
    {"migration.moved.", "_pages", "hugeshim_migration_moved_pages", "kind", "pages placement moved, by page kind"},
    {"migration.moved.", "_bytes", "hugeshim_migration_moved_bytes", "kind", "bytes placement moved, by page kind"},
    {"migration.failed.", "", "hugeshim_migration_failed_units", "error", "units move_pages did not move, by error"},
    {"sampling.not_sampled.", "", "hugeshim_sampling_not_sampled_units", "reason",
     "units the access sampler could not park, by reason"},
};

typedef struct hs_metric {
    char name[128];
    char label_name[16];
    char label_value[48];
    const char *key;
    const char *help;
    bool counter, seconds;
} hs_metric_t;

/* The metric of counter id: its family's name and label, or its own name. */
static void hs_metric_of(int id, hs_metric_t *m)
{
    const hs_counter_desc_t *d = &hs_counter_descs[id];
    memset(m, 0, sizeof *m);
    m->key = d->key;
    m->help = d->help;
    m->counter = d->unit == HS_UNIT_COUNT || d->unit == HS_UNIT_BYTES;
    for (size_t i = 0; i < sizeof hs_rules / sizeof hs_rules[0]; i++) {
        const hs_family_rule_t *r = &hs_rules[i];
        size_t pl = strlen(r->prefix), sl = strlen(r->suffix), kl = strlen(d->key);
        if (strncmp(d->key, r->prefix, pl) || strchr(d->key + pl, '.') || kl < pl + sl + 1 ||
            strcmp(d->key + kl - sl, r->suffix) || !m->counter)
            continue;
        /* backing.regions is not a kind: only the page kinds' byte keys. */
        if (!strcmp(r->prefix, "backing.") && d->unit != HS_UNIT_BYTES)
            continue;
        snprintf(m->name, sizeof m->name, "%s_total", r->name);
        snprintf(m->label_name, sizeof m->label_name, "%s", r->label);
        snprintf(m->label_value, sizeof m->label_value, "%.*s", (int)(kl - pl - sl), d->key + pl);
        m->help = r->help;
        return;
    }
    size_t n = (size_t)snprintf(m->name, sizeof m->name, "hugeshim_%s", d->key);
    for (char *p = m->name; *p; p++)
        if (*p == '.')
            *p = '_';
    if (n > 9 && !strcmp(m->name + n - 9, "_ns_total")) {
        snprintf(m->name + n - 9, sizeof m->name - (n - 9), "_seconds_total");
        m->seconds = true;
    } else if (m->counter && (n < 6 || strcmp(m->name + n - 6, "_total"))) {
        snprintf(m->name + n, sizeof m->name - n, "_total");
    }
}

static void hs_print_escaped(const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", stdout);
        else if (*s == '\n')
            fputs("\\n", stdout);
        else if (quote && *s == '"')
            fputs("\\\"", stdout);
        else
            putchar(*s);
    }
}

static const char *hs_text(json_t *root, const char *path)
{
    json_t *v = hs_at(root, path);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* The labels every sample of a report carries, then the metric's own
 * label, then `extra` (already formatted, or NULL). */
static void hs_print_labels(json_t *report, bool summed, const hs_metric_t *m, const char *extra)
{
    fputs("{program=\"", stdout);
    hs_print_escaped(hs_text(report, "program"), true);
    putchar('"');
    if (!summed)
        printf(",pid=\"%lld\"", (long long)json_integer_value(json_object_get(report, "pid")));
    if (m && m->label_name[0])
        printf(",%s=\"%s\"", m->label_name, m->label_value);
    if (extra)
        fputs(extra, stdout);
    putchar('}');
}

static void hs_print_head(const char *name, const char *type, const char *help)
{
    printf("# HELP %s ", name);
    hs_print_escaped(help, false);
    printf("\n# TYPE %s %s\n", name, type);
}

static void hs_print_openmetrics(json_t **reports, size_t n, bool summed)
{
    hs_print_head("hugeshim_info", "gauge", "always 1: the library's version and what the process ran with");
    for (size_t r = 0; r < n; r++) {
        char extra[256];
        snprintf(extra, sizeof extra, ",version=\"%s\",backing=\"%s\",heap=\"%s\",tracking=\"%s\",placement=\"%s\"",
                 hs_text(reports[r], "version"), hs_text(reports[r], "backing.requested"), hs_text(reports[r], "heap.thp"),
                 hs_text(reports[r], "tracking.backend"), hs_text(reports[r], "migration.enabled"));
        fputs("hugeshim_info", stdout);
        hs_print_labels(reports[r], summed, NULL, extra);
        puts(" 1");
    }
    if (summed) {
        hs_print_head("hugeshim_processes", "gauge", "reports added up under this program");
        for (size_t r = 0; r < n; r++) {
            fputs("hugeshim_processes", stdout);
            hs_print_labels(reports[r], summed, NULL, NULL);
            printf(" %lld\n", (long long)json_integer_value(json_object_get(reports[r], "processes")));
        }
    }
    /* Per node: the hot bytes on each node at the last epoch (placement on). */
    bool head = false;
    for (size_t r = 0; r < n; r++) {
        json_t *on = hs_at(reports[r], "migration.hot_bytes_on");
        const char *node;
        json_t *v;
        json_object_foreach(on, node, v) {
            if (!json_is_integer(v) || strncmp(node, "node", 4))
                continue;
            if (!head)
                hs_print_head("hugeshim_migration_hot_bytes_on_node", "gauge",
                              "hot bytes on each NUMA node at the last epoch (placement on)");
            head = true;
            char extra[48];
            snprintf(extra, sizeof extra, ",node=\"%.8s\"", node + 4);
            fputs("hugeshim_migration_hot_bytes_on_node", stdout);
            hs_print_labels(reports[r], summed, NULL, extra);
            printf(" %lld\n", (long long)json_integer_value(v));
        }
    }
    /* A family's samples follow its one HELP and TYPE, wherever its
     * members are in counters.def. */
    static hs_metric_t metrics[HS_CTR_COUNT];
    bool done[HS_CTR_COUNT] = {false};
    for (int id = 0; id < HS_CTR_COUNT; id++)
        hs_metric_of(id, &metrics[id]);
    for (int id = 0; id < HS_CTR_COUNT; id++) {
        if (done[id])
            continue;
        hs_print_head(metrics[id].name, metrics[id].counter ? "counter" : "gauge", metrics[id].help);
        for (int member = id; member < HS_CTR_COUNT; member++) {
            const hs_metric_t *m = &metrics[member];
            if (done[member] || strcmp(m->name, metrics[id].name))
                continue;
            done[member] = true;
            for (size_t r = 0; r < n; r++) {
                json_t *v = hs_at(reports[r], m->key);
                if (!json_is_integer(v))
                    continue;
                fputs(m->name, stdout);
                hs_print_labels(reports[r], summed, m, NULL);
                if (m->seconds)
                    printf(" %.9f\n", (double)json_integer_value(v) / 1e9);
                else
                    printf(" %lld\n", (long long)json_integer_value(v));
            }
        }
    }
}

/* to += from: numbers add, equal texts stay, different ones become "mixed". */
static void hs_add(json_t *to, json_t *from)
{
    const char *key;
    json_t *v;
    json_object_foreach(from, key, v) {
        json_t *t = json_object_get(to, key);
        if (json_is_object(v) && json_is_object(t))
            hs_add(t, v);
        else if (json_is_integer(v) && json_is_integer(t))
            json_integer_set(t, json_integer_value(t) + json_integer_value(v));
        else if (json_is_string(v) && json_is_string(t) && strcmp(json_string_value(v), json_string_value(t)))
            json_string_set(t, "mixed");
    }
}

/* The reports in dir, added up per program: a new reference each, in *out. */
static size_t hs_sum_dir(const char *dir, json_t ***out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "hugeshim stats: cannot read the folder %s: %m\n", dir);
        return (size_t)-1;
    }
    size_t n = 0, cap = 0;
    json_t **programs = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_error_t err;
        json_t *report = json_load_file(path, 0, &err);
        if (!json_is_object(report) || !json_is_string(json_object_get(report, "program"))) {
            fprintf(stderr, "hugeshim stats: %s: not a hugeshim report (line %d: %s); left out\n", path, err.line,
                    report ? "no \"program\"" : err.text);
            json_decref(report);
            continue;
        }
        json_object_del(report, "sites");
        json_object_del(report, "options");
        json_object_del(report, "pid");
        json_object_set_new(report, "processes", json_integer(1));
        size_t i = 0;
        while (i < n && strcmp(hs_text(programs[i], "program"), hs_text(report, "program")))
            i++;
        if (i < n) {
            hs_add(programs[i], report);
            json_decref(report);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            json_t **grown = realloc(programs, cap * sizeof *programs);
            if (!grown) {
                json_decref(report);
                break;
            }
            programs = grown;
        }
        programs[n++] = report;
    }
    closedir(d);
    *out = programs;
    return n;
}

int hs_tool_metrics(const char *format, const char *sum_dir, char **files, int nfiles, bool all)
{
    bool openmetrics = !strcmp(format, "openmetrics") || !strcmp(format, "prometheus");
    if (!openmetrics && strcmp(format, "text")) {
        fprintf(stderr, "hugeshim stats: --format %s: expected text or openmetrics\n", format);
        return 2;
    }
    json_t **reports = NULL;
    size_t n = 0;
    int status = 0;
    if (sum_dir) {
        n = hs_sum_dir(sum_dir, &reports);
        if (n == (size_t)-1)
            return 1;
    } else {
        reports = calloc((size_t)nfiles, sizeof *reports);
        for (int i = 0; reports && i < nfiles; i++) {
            json_error_t err;
            json_t *report = json_load_file(files[i], 0, &err);
            if (!json_is_object(report)) {
                fprintf(stderr, "hugeshim stats: %s: line %d: %s\n", files[i], err.line,
                        report ? "not a JSON object" : err.text);
                json_decref(report);
                status = 1;
                continue;
            }
            reports[n++] = report;
        }
    }
    if (openmetrics)
        hs_print_openmetrics(reports, n, sum_dir != NULL);
    else
        for (size_t i = 0; i < n; i++)
            hs_stats_print_report(reports[i], all);
    for (size_t i = 0; i < n; i++)
        json_decref(reports[i]);
    free(reports);
    return status;
}
