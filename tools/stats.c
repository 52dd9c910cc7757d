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
    hs_print("", root);
    json_decref(root);
    return 0;
}
