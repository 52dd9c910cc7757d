/* hugeshim: the launcher.
 *   hugeshim run [--OPTION VALUE]... [--] PROGRAM [ARGS]
 *   hugeshim doctor [PROGRAM]
 *   hugeshim stats [--format text|openmetrics] FILE... | --sum DIR
 *   hugeshim pool [--reserve SIZE [--page 2M|1G] [--node N] [--persist]]
 *   hugeshim heatmap TRACE -o OUT.png|OUT.svg
 *   hugeshim options [--markdown|--man|PROGRAM]
 * Every --OPTION of `run` comes from the option table (common/options.def). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#include "../common/hs_config.h"
#include "../common/hs_options.h"
#include "../os/hs_os.h"
#include "hs_tools.h"

static void hs_usage(FILE *out)
{
    fprintf(out,
            "usage: hugeshim COMMAND [ARGS]\n"
            "  run [--OPTION VALUE]... [--] PROGRAM [ARGS]  run PROGRAM with libhugeshim.so preloaded\n"
            "  doctor [PROGRAM]                            what this machine (and PROGRAM) offers, and fixes\n"
            "  stats FILE... | --sum DIR                   print reports (HUGESHIM_STATS=FILE) readably, or as\n"
            "                                              Prometheus metrics (--format openmetrics)\n"
            "  pool [--reserve SIZE ...]                   the hugetlb pools and hugetlbfs mounts; resize a pool\n"
            "  heatmap TRACE -o OUT.png|OUT.svg            draw a trace (HUGESHIM_TRACE=FILE): heat, nodes, moves\n"
            "  options [--markdown|PROGRAM]                every option, its default and what it accepts;\n"
            "                                              with PROGRAM, the values it would run with and their source\n"
            "  COMMAND --help                              help for one command\n");
}

static void hs_run_usage(FILE *out)
{
    char flag[64], accepted[160];
    fprintf(out, "usage: hugeshim run [--OPTION VALUE]... [--lib PATH] [--] PROGRAM [ARGS]\n"
                 "Sets LD_PRELOAD and HUGESHIM_* for PROGRAM (and the programs it starts, unless --programs).\n"
                 "Options (each is also the environment variable shown):\n");
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        hs_option_flag_name((hs_opt_id_t)id, flag, sizeof flag);
        hs_option_accepted((hs_opt_id_t)id, accepted, sizeof accepted);
        fprintf(out, "  --%-10s HUGESHIM_%s (default \"%s\")\n      %s\n      accepts %s\n", flag,
                hs_opt_descs[id].name, hs_opt_descs[id].def, hs_opt_descs[id].help, accepted);
    }
    fprintf(out, "  --lib PATH   libhugeshim.so to preload (default: next to this launcher)\n");
}

/* libhugeshim.so next to the launcher (build tree), in ../lib (make install)
 * or in the multiarch library folder (the Debian package). */
static int hs_find_library(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    const char *candidates[] = {"%s/libhugeshim.so", "%s/../lib/libhugeshim.so",
                                "%s/../lib/" HS_MULTIARCH "/libhugeshim.so.0"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, candidates[i], self);
        char real[PATH_MAX];
        if (realpath(path, real) && access(real, R_OK) == 0) {
            snprintf(out, cap, "%s", real);
            return 0;
        }
    }
    return -1;
}

/* Find PROGRAM as execvp would, for the checks below. */
static int hs_which(const char *prog, char *out, size_t cap)
{
    if (strchr(prog, '/')) {
        snprintf(out, cap, "%s", prog);
        return access(prog, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(out, cap, "%.*s/%s", (int)n, p, prog);
        if (access(out, X_OK) == 0)
            return 0;
        if (!colon)
            break;
        p = colon + 1;
    }
    return -1;
}

static int hs_tool_run(int argc, char **argv)
{
    char lib[PATH_MAX] = "";
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--")) {
            i++;
            break;
        }
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            hs_run_usage(stdout);
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0)
            break;
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (name_len == 3 && !strncmp(name, "lib", 3)) {
            if (!value) {
                fprintf(stderr, "hugeshim run: --lib needs a path\n");
                return 2;
            }
            snprintf(lib, sizeof lib, "%s", value);
            continue;
        }
        int found = -1;
        char flag[64];
        for (int id = 0; id < HS_OPT_COUNT; id++) {
            hs_option_flag_name((hs_opt_id_t)id, flag, sizeof flag);
            if (strlen(flag) == name_len && !strncmp(flag, name, name_len))
                found = id;
        }
        if (found < 0) {
            fprintf(stderr, "hugeshim run: unknown option %s (see hugeshim run --help)\n", arg);
            return 2;
        }
        long long parsed;
        char why[64], accepted[160];
        if (!value || !hs_option_parse_value((hs_opt_id_t)found, value, &parsed, why, sizeof why)) {
            hs_option_accepted((hs_opt_id_t)found, accepted, sizeof accepted);
            fprintf(stderr, "hugeshim run: --%.*s %s%s: expected %s\n", (int)name_len, name,
                    value ? value : "(missing value)", value ? " is not valid" : "", accepted);
            return 2;
        }
        char env[80];
        snprintf(env, sizeof env, "HUGESHIM_%s", hs_opt_descs[found].name);
        setenv(env, value, 1);
    }
    if (i >= argc) {
        hs_run_usage(stderr);
        return 2;
    }
    if (!lib[0] && hs_find_library(lib, sizeof lib) != 0) {
        fprintf(stderr, "hugeshim run: libhugeshim.so not found next to the launcher, in ../lib or ../lib/" HS_MULTIARCH
                        " (libhugeshim.so.0); use --lib PATH\n");
        return 2;
    }
    char prog[PATH_MAX];
    if (hs_which(argv[i], prog, sizeof prog) == 0) {
        struct stat st;
        if (hs_tool_elf_is_dynamic(prog) == 0)
            fprintf(stderr, "hugeshim run: warning: %s is statically linked: LD_PRELOAD cannot reach it, "
                            "it runs without hugeshim\n", prog);
        if (stat(prog, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
            fprintf(stderr, "hugeshim run: warning: %s is setuid/setgid: the loader ignores LD_PRELOAD for it\n",
                    prog);
    }
    /* hugetlb asked for with no free pages: said once here, not by every
     * process (the library keeps quiet at the default verbosity). */
    const char *backing = getenv("HUGESHIM_BACKING");
    if (backing && !strncmp(backing, "hugetlb", 7)) {
        bool big = !strcmp(backing, "hugetlb1g") || !strcmp(backing, "hugetlb_1g");
        hs_os_hugetlb_pool_t pool;
        if (hs_os_hugetlb_pool(big ? 1048576 : 2048, -1, &pool) != 0 || pool.free == 0)
            fprintf(stderr, "hugeshim run: warning: HUGESHIM_BACKING=%s but the %s hugetlb pool has no free pages: "
                            "the heap falls back to THP; `hugeshim doctor` shows how to reserve pages\n",
                    backing, big ? "1 GiB" : "2 MiB");
    }
    const char *old = getenv("LD_PRELOAD");
    char preload[2 * PATH_MAX + 2];
    snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
    setenv("LD_PRELOAD", preload, 1);
    execvp(argv[i], argv + i);
    fprintf(stderr, "hugeshim run: cannot run %s: %s\n", argv[i], strerror(errno));
    return 127;
}

/* A markdown table cell: '|' would end the cell. */
static void hs_print_cell(const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|')
            putchar('\\');
        putchar(*p);
    }
}

/* Text for a roff page: backslashes escaped, '-' as \-, no line starts
 * with a control character. */
static void hs_print_roff(const char *text)
{
    if (*text == '.' || *text == '\'')
        fputs("\\&", stdout);
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fputs("\\e", stdout);
        else if (*p == '-')
            fputs("\\-", stdout);
        else
            putchar(*p);
    }
}

/* The ENVIRONMENT section of hugeshim(7): one entry per option. */
static void hs_print_man(void)
{
    char flag[64], accepted[160];
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const hs_opt_desc_t *d = &hs_opt_descs[id];
        hs_option_flag_name((hs_opt_id_t)id, flag, sizeof flag);
        hs_option_accepted((hs_opt_id_t)id, accepted, sizeof accepted);
        printf(".TP\n.BR HUGESHIM_%s \" (\\-\\-\" \"", d->name);
        hs_print_roff(flag);
        printf("\" \"; default \" \"");
        hs_print_roff(d->def[0] ? d->def : "(empty)");
        printf("\" )\n");
        hs_print_roff(d->help);
        size_t n = strlen(d->help);
        printf("%s\nAccepts ", n && d->help[n - 1] == '.' ? "" : ".");
        hs_print_roff(accepted);
        printf(".\n");
    }
}

static void hs_print_problem(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

/* The options PROGRAM would run with here: environment, configuration
 * files, built-in defaults, and where each value came from. */
static int hs_options_for(const char *program)
{
    char path[PATH_MAX], real[PATH_MAX];
    if (hs_which(program, path, sizeof path) != 0) {
        fprintf(stderr, "hugeshim options: %s: no such program (as a path, or in PATH)\n", program);
        return 2;
    }
    if (!realpath(path, real))
        snprintf(real, sizeof real, "%s", path);
    const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
    const char *argv0 = strrchr(program, '/') ? strrchr(program, '/') + 1 : program;
    hs_config_program_t prog = {base, argv0, real};
    static hs_options_t o;
    hs_options_load(&o, environ, &prog, hs_print_problem, NULL);
    printf("%s, run here (name %s, path %s):\n", program, base, real);
    char value[64], source[320];
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const char *shown = o.text[id];
        if (hs_opt_descs[id].type == HS_OPT_ENUM)
            shown = hs_option_enum_name((hs_opt_id_t)id, o.value[id], value, sizeof value);
        hs_option_source_text(&o, id, source, sizeof source);
        char assignment[HS_OPT_TEXT_MAX + 64];
        snprintf(assignment, sizeof assignment, "HUGESHIM_%s=%s", hs_opt_descs[id].name, shown);
        printf("  %-40s %s\n", assignment, source);
    }
    struct stat st;
    if (stat(real, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
        printf("(%s is setuid/setgid: hugeshim leaves it alone whatever these say)\n", program);
    return 0;
}

static int hs_tool_options(int argc, char **argv)
{
    bool markdown = argc > 1 && !strcmp(argv[1], "--markdown");
    if (argc > 1 && !strcmp(argv[1], "--man")) {
        hs_print_man();
        return 0;
    }
    if (argc == 2 && argv[1][0] != '-')
        return hs_options_for(argv[1]);
    if (argc > 1 && !markdown) {
        printf("usage: hugeshim options [--markdown|--man]   every option, its default and what it accepts\n"
               "       hugeshim options PROGRAM              the options PROGRAM would run with here, and where\n"
               "                                             each comes from (environment, configuration file, built in)\n");
        return strcmp(argv[1], "--help") ? 2 : 0;
    }
    char flag[64], accepted[160];
    if (markdown)
        printf("| variable | launcher flag | default | accepts | what it does |\n|---|---|---|---|---|\n");
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const hs_opt_desc_t *d = &hs_opt_descs[id];
        hs_option_flag_name((hs_opt_id_t)id, flag, sizeof flag);
        hs_option_accepted((hs_opt_id_t)id, accepted, sizeof accepted);
        if (markdown) {
            printf("| `HUGESHIM_%s` | `--%s` | `%s` | ", d->name, flag, d->def[0] ? d->def : "(empty)");
            hs_print_cell(accepted);
            printf(" | ");
            hs_print_cell(d->help);
            printf(" |\n");
        } else
            printf("HUGESHIM_%s (--%s), default \"%s\": %s; accepts %s\n", d->name, flag, d->def, d->help, accepted);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        hs_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return hs_tool_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "doctor"))
        return hs_tool_doctor(argc - 1, argv + 1);
    if (!strcmp(cmd, "stats"))
        return hs_tool_stats(argc - 1, argv + 1);
    if (!strcmp(cmd, "pool"))
        return hs_tool_pool(argc - 1, argv + 1);
    if (!strcmp(cmd, "heatmap"))
        return hs_tool_heatmap(argc - 1, argv + 1);
    if (!strcmp(cmd, "options"))
        return hs_tool_options(argc - 1, argv + 1);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        hs_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("hugeshim %s\n", HS_VERSION);
        return 0;
    }
    fprintf(stderr, "hugeshim: unknown command '%s'\n", cmd);
    hs_usage(stderr);
    return 2;
}
