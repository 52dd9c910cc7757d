/* stats.c: print a JSON report readably.  Uses jansson (Debian libjansson)
 * rather than a hand-written parser: the report may be edited or merged by
 * users, and a real parser gives real error messages. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../common/hs_counters.h"
#include "hs_tools.h"

static void hs_print(const char *prefix, json_t *value)
{
    const char *key;
    json_t *child;
    char path[256], human[32];
    if (json_is_object(value)) {
        json_object_foreach(value, key, child) {
            snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", key);
            hs_print(path, child);
        }
        return;
    }
    if (json_is_integer(value)) {
        json_int_t v = json_integer_value(value);
        size_t n = strlen(prefix);
        if (n > 6 && !strcmp(prefix + n - 6, "_bytes") && v >= 0) {
            hs_format_bytes((uint64_t)v, human, sizeof human);
            printf("  %-44s %s\n", prefix, human);
        } else {
            printf("  %-44s %lld\n", prefix, (long long)v);
        }
    } else if (json_is_string(value)) {
        printf("  %-44s %s\n", prefix, json_string_value(value));
    } else {
        char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("  %-44s %s\n", prefix, text ? text : "?");
        free(text);
    }
}

static long long hs_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* One ranked list of sites: averages and peaks, then up to six frames. */
static void hs_print_sites(const char *title, json_t *list)
{
    char hot[32], live[32], alloc[32], moved[32];
    printf("  %s\n   #    hot avg   hot peak  live peak  allocated      moved  frames\n", title);
    if (!json_is_array(list) || !json_array_size(list)) {
        printf("   (none)\n");
        return;
    }
    size_t i;
    json_t *site;
    json_array_foreach(list, i, site) {
        hs_format_bytes((uint64_t)hs_int(site, "hot_avg_bytes"), hot, sizeof hot);
        hs_format_bytes((uint64_t)hs_int(site, "live_peak_bytes"), live, sizeof live);
        hs_format_bytes((uint64_t)hs_int(site, "allocated_bytes"), alloc, sizeof alloc);
        hs_format_bytes((uint64_t)hs_int(site, "moved_bytes"), moved, sizeof moved);
        char peak[32];
        hs_format_bytes((uint64_t)hs_int(site, "hot_peak_bytes"), peak, sizeof peak);
        json_t *frames = json_object_get(site, "frames");
        size_t nf = json_is_array(frames) ? json_array_size(frames) : 0;
        printf("  %2zu  %9s  %9s  %9s  %9s  %9s  %s\n", i + 1, hot, peak, live, alloc, moved,
               nf ? json_string_value(json_array_get(frames, 0)) : "?");
        for (size_t f = 1; f < nf && f < 6; f++)
            printf("  %58s  %s\n", "", json_string_value(json_array_get(frames, f)));
        json_t *on = json_object_get(site, "hot_bytes_on");
        const char *node;
        json_t *bytes;
        if (json_is_object(on) && json_object_size(on) > 1) {
            printf("  %58s  hot on:", "");
            json_object_foreach(on, node, bytes) {
                char b[32];
                hs_format_bytes(json_is_integer(bytes) ? (uint64_t)json_integer_value(bytes) : 0, b, sizeof b);
                printf(" %s %s", node, b);
            }
            printf("\n");
        }
    }
}

static void hs_print_sites_section(json_t *sites)
{
    printf("allocation sites: %lld samples (one per %lld bytes on average), %lld sites, %lld samples lost to a full "
           "stack table, %lld to a full live table; symbols by %s\n",
           hs_int(sites, "samples"), hs_int(sites, "interval_bytes"), hs_int(sites, "sites"),
           hs_int(sites, "table_full"), hs_int(sites, "live_table_full"),
           json_is_string(json_object_get(sites, "symbolizer")) ? json_string_value(json_object_get(sites, "symbolizer"))
                                                                : "?");
    hs_print_sites("top sites by hot bytes (average over the epochs):", json_object_get(sites, "by_hot"));
    hs_print_sites("top sites by live bytes (peak):", json_object_get(sites, "by_live"));
}

json_t *hs_at(json_t *root, const char *path)
{
    char key[128];
    const char *p = path;
    json_t *v = root;
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        v = json_object_get(v, key);
        p = dot ? dot + 1 : p + n;
    }
    return v;
}

static long long hs_num(json_t *root, const char *path)
{
    json_t *v = hs_at(root, path);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static const char *hs_str(json_t *root, const char *path)
{
    json_t *v = hs_at(root, path);
    return json_is_string(v) ? json_string_value(v) : "?";
}

static const char *hs_bytes(json_t *root, const char *path, char *buf, size_t cap)
{
    hs_format_bytes((uint64_t)hs_num(root, path), buf, cap);
    return buf;
}

/* Every non-zero counter under an object, as "name n, name n". */
static void hs_nonzero(json_t *obj, char *buf, size_t cap)
{
    const char *key;
    json_t *v;
    size_t used = 0;
    buf[0] = '\0';
    json_object_foreach(obj, key, v) {
        if (json_is_integer(v) && json_integer_value(v) && used < cap)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s %lld", used ? ", " : "", key,
                                     (long long)json_integer_value(v));
    }
}

/* A screenful: what was asked, what the kernel gave, what went wrong,
 * tracking and placement, one line each. */
static void hs_print_summary(json_t *root)
{
    char a[32], b[32], c[32], d[32], e[32], f[32], kept[64] = "", list[512];
    printf("  %-10s backing %s, heap %s, program mmaps backed: %s\n", "asked", hs_str(root, "backing.requested"),
           hs_str(root, "heap.thp"), hs_bytes(root, "mmap.intercepted_bytes", a, sizeof a));
    /* Freed large objects' pages the heap still held for the next one. */
    if (hs_num(root, "heap.large.kept_bytes") > 0)
        snprintf(kept, sizeof kept, "; %s of it freed, kept for reuse", hs_bytes(root, "heap.large.kept_bytes", f, sizeof f));
    printf("  %-10s gave huge pages, at peak: %s THP, %s hugetlb (at exit: %s, %s%s); peak RSS %s\n", "kernel",
           hs_bytes(root, "kernel.anon_huge_peak_bytes", a, sizeof a), hs_bytes(root, "kernel.hugetlb_peak_bytes", b, sizeof b),
           hs_bytes(root, "kernel.anon_huge_bytes", c, sizeof c), hs_bytes(root, "kernel.hugetlb_bytes", d, sizeof d), kept,
           hs_bytes(root, "kernel.rss_peak_bytes", e, sizeof e));
    hs_nonzero(hs_at(root, "backing.fallbacks"), list, sizeof list);
    printf("  %-10s %s\n", "fallbacks", list[0] ? list : "none");
    const char *mode = hs_str(root, "tracking.backend");
    if (!strcmp(mode, "off"))
        printf("  %-10s off\n", "tracking");
    else
        printf("  %-10s %s (THP: %s, hugetlb: %s, base: %s): %lld epochs, %s watched, %s hot at the last\n",
               "tracking", mode, hs_str(root, "tracking.backends.thp"), hs_str(root, "tracking.backends.hugetlb"),
               hs_str(root, "tracking.backends.base"), hs_num(root, "tracking.epochs"),
               hs_bytes(root, "tracking.tracked_bytes", a, sizeof a), hs_bytes(root, "tracking.hot_bytes", b, sizeof b));
    if (!strcmp(hs_str(root, "sampling.enabled"), "on")) {
        /* The huge pages the kernel's moves split, only when it happened. */
        list[0] = 0;
        if (hs_num(root, "sampling.split_by_move") > 0)
            snprintf(list, sizeof list, "; %lld huge pages split by the kernel's move back, %lld made huge again, %lld left split",
                     hs_num(root, "sampling.split_by_move"), hs_num(root, "sampling.made_huge_again"),
                     hs_num(root, "sampling.left_split"));
        printf("  %-10s on: %lld units parked, %lld accessed while parked, %lld idle; %lld epochs ended early%s\n",
               "sampling", hs_num(root, "sampling.parked"), hs_num(root, "sampling.accessed"),
               hs_num(root, "sampling.idle"), hs_num(root, "tracking.early_epochs"), list);
    }
    if (strcmp(hs_str(root, "migration.enabled"), "on"))
        printf("  %-10s off (%s)\n", "placement", hs_str(root, "migration.why"));
    else
        printf("  %-10s on: %s moved (THP %s, hugetlb %s, base %s), %s of %s hot bytes local at the last epoch\n",
               "placement",
               (hs_format_bytes((uint64_t)(hs_num(root, "migration.moved.thp_bytes") +
                                           hs_num(root, "migration.moved.hugetlb_bytes") +
                                           hs_num(root, "migration.moved.base_bytes")),
                                e, sizeof e),
                e),
               hs_bytes(root, "migration.moved.thp_bytes", a, sizeof a),
               hs_bytes(root, "migration.moved.hugetlb_bytes", b, sizeof b),
               hs_bytes(root, "migration.moved.base_bytes", c, sizeof c),
               hs_bytes(root, "migration.local_hot_bytes", d, sizeof d),
               hs_bytes(root, "migration.hot_bytes", list, sizeof list));
    hs_nonzero(hs_at(root, "errors"), list, sizeof list);
    printf("  %-10s %s\n", "errors", list[0] ? list : "none");
}

/* One report (a process's, or a sum of many: "processes" says how many),
 * as a few lines, every key with `all`, then its allocation sites. */
void hs_stats_print_report(json_t *root, bool all)
{
    json_t *program = json_object_get(root, "program"), *pid = json_object_get(root, "pid");
    json_t *processes = json_object_get(root, "processes");
    if (json_is_integer(processes))
        printf("hugeshim report: %s (%lld processes, added up)\n",
               json_is_string(program) ? json_string_value(program) : "?", (long long)json_integer_value(processes));
    else
        printf("hugeshim report: %s (pid %lld)\n", json_is_string(program) ? json_string_value(program) : "?",
               json_is_integer(pid) ? (long long)json_integer_value(pid) : -1LL);
    hs_print_summary(root);
    /* The sites table after the counters, as a table. */
    json_t *sites = json_incref(json_object_get(root, "sites"));
    if (sites)
        json_object_del(root, "sites");
    if (all)
        hs_print("", root);
    else
        printf("  (hugeshim stats --all: every counter)\n");
    if (json_is_object(sites))
        hs_print_sites_section(sites);
    json_decref(sites);
}

static void hs_stats_usage(FILE *out)
{
    fprintf(out,
            "usage: hugeshim stats [--all] [--format text|openmetrics] FILE...\n"
            "       hugeshim stats [--all] [--format text|openmetrics] --sum DIR\n"
            "Summarises reports written with HUGESHIM_STATS=FILE in a few lines each (what was asked, what the\n"
            "kernel gave at peak, fallbacks, tracking, placement, errors) and their allocation sites;\n"
            "--all prints every key too, one a line.  --format openmetrics prints the counters in the\n"
            "Prometheus text format (for node_exporter's textfile collector), labelled by program and pid.\n"
            "--sum DIR adds up every *.json report in DIR (HUGESHIM_STATS=DIR/%%p.json), one sum per program.\n");
}

int hs_tool_stats(int argc, char **argv)
{
    bool all = false;
    const char *format = "text", *sum_dir = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            hs_stats_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--all")) {
            all = true;
        } else if (!strcmp(a, "--format") && i + 1 < argc) {
            format = argv[++i];
        } else if (!strncmp(a, "--format=", 9)) {
            format = a + 9;
        } else if (!strcmp(a, "--sum") && i + 1 < argc) {
            sum_dir = argv[++i];
        } else if (!strcmp(a, "--")) {
            i++;
            break;
        } else {
            fprintf(stderr, "hugeshim stats: unknown or incomplete option %s\n", a);
            hs_stats_usage(stderr);
            return 2;
        }
    }
    if ((sum_dir != NULL) == (i < argc)) {
        fprintf(stderr, "hugeshim stats: %s\n", sum_dir ? "--sum DIR takes no FILE" : "no report FILE given");
        hs_stats_usage(stderr);
        return 2;
    }
    return hs_tool_metrics(format, sum_dir, argv + i, argc - i, all);
}
