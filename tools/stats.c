/* stats.c: print a JSON report readably.  Uses jansson (Debian libjansson)
 * rather than a hand-written parser: the report may be edited or merged by
 * users, and a real parser gives real error messages. */
#include <jansson.h>
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

int hs_tool_stats(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: hugeshim stats FILE\nPrints a report written with HUGESHIM_STATS=FILE, one key a line.\n");
        return argc == 2 ? 0 : 2;
    }
    json_error_t err;
    json_t *root = json_load_file(argv[1], 0, &err);
    if (!root) {
        fprintf(stderr, "hugeshim stats: %s: line %d: %s\n", argv[1], err.line, err.text);
        return 1;
    }
    json_t *program = json_object_get(root, "program"), *pid = json_object_get(root, "pid");
    printf("hugeshim report: %s (pid %lld)\n", json_is_string(program) ? json_string_value(program) : "?",
           json_is_integer(pid) ? (long long)json_integer_value(pid) : -1LL);
    /* The sites table after the counters, as a table. */
    json_t *sites = json_incref(json_object_get(root, "sites"));
    if (sites)
        json_object_del(root, "sites");
    hs_print("", root);
    if (json_is_object(sites))
        hs_print_sites_section(sites);
    json_decref(sites);
    json_decref(root);
    return 0;
}
