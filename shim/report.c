/* report.c: what hugeshim did, at exit: HUGESHIM_STATS=stderr prints it,
 * HUGESHIM_STATS=path writes JSON atomically.  The kernel.* values are read
 * from smaps_rollup now, so the report says what the kernel really gave. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../allocator/hs_backing.h"
#include "../allocator/hs_large.h"
#include "../allocator/hs_peak.h"
#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../observe/hs_sites.h"
#include "../os/hs_os.h"
#include "../place/hs_migrate.h"
#include "../place/hs_tier.h"
#include "../track/hs_tracker.h"
#include "../track/hs_park.h"
#include "hs_shim.h"

#define HS_REPORT_MAX_FIELDS (HS_CTR_COUNT + HS_OPT_COUNT + HS_OS_MAX_NODES + 32)

static char hs_report_buf[512 * 1024];
static char hs_sites_buf[256 * 1024];
static int hs_report_fd = 2;
static int hs_report_pid; /* the process that started hugeshim */

void hs_shim_report_prepare(void)
{
    hs_report_pid = hs_os_getpid();
    /* Programs may close stderr before exit (coreutils' close_stdout does):
     * keep a duplicate to print the report on. */
    if (!strcmp(hs_shim_options.text[HS_OPT_STATS], "stderr")) {
        int fd = hs_os_dup_cloexec(2, 100);
        if (fd >= 0)
            hs_report_fd = fd;
    }
}

bool hs_shim_expand_path(const char *in, char *out, size_t cap, bool *had_pid)
{
    size_t n = 0;
    *had_pid = false;
    for (const char *p = in; *p; p++) {
        char tmp[24];
        const char *piece = tmp;
        if (p[0] == '%' && p[1] == 'p') {
            snprintf(tmp, sizeof tmp, "%d", hs_os_getpid());
            *had_pid = true;
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            tmp[0] = '%', tmp[1] = '\0';
            p++;
        } else {
            tmp[0] = *p, tmp[1] = '\0';
        }
        size_t len = strlen(piece);
        if (n + len + 1 > cap)
            return false;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return true;
}

/* The text report (and the sites table after it) on the saved stderr. */
static void hs_report_to_stderr(hs_report_field_t *fields, size_t n)
{
    int head = snprintf(hs_report_buf, sizeof hs_report_buf, "hugeshim report: %s (pid %d)\n", hs_shim_program,
                        hs_os_getpid());
    size_t len = hs_report_text(fields, n, hs_report_buf + head, sizeof hs_report_buf - (size_t)head);
    size_t sites = 0;
    if (len && hs_sites_enabled()) {
        sites = hs_sites_render(false, 10, hs_sites_buf, sizeof hs_sites_buf);
        if ((size_t)head + len + sites < sizeof hs_report_buf)
            memcpy(hs_report_buf + head + len, hs_sites_buf, sites);
        else
            sites = 0;
    }
    if (!len || hs_os_write_all(hs_report_fd, hs_report_buf, (size_t)head + len + sites) != 0)
        hs_count(HS_CTR_ERRORS_REPORT, 1);
}

static void hs_report_backing(void *ctx, hs_report_t *report)
{
    (void)ctx;
    static char backing[32];
    hs_option_enum_name(HS_OPT_BACKING, hs_shim_options.value[HS_OPT_BACKING], backing, sizeof backing);
    hs_report_add(report, (hs_report_field_t){"backing.requested", HS_FIELD_STRING, 0, backing});
    const char *fs2m = hs_os_hugetlbfs_dir(HS_OS_KIND_HUGETLB_2M), *fs1g = hs_os_hugetlbfs_dir(HS_OS_KIND_HUGETLB_1G);
    hs_report_add(report, (hs_report_field_t){"backing.hugetlbfs_2m", HS_FIELD_STRING, 0, fs2m ? fs2m : ""});
    hs_report_add(report, (hs_report_field_t){"backing.hugetlbfs_1g", HS_FIELD_STRING, 0, fs1g ? fs1g : ""});
}

static void hs_report_heap(void *ctx, hs_report_t *report)
{
    (void)ctx;
    hs_report_add(report, (hs_report_field_t){"heap.thp", HS_FIELD_STRING, 0, hs_plan_heap_name(hs_shim_plan.heap)});
}

/* The tracking mode asked for (placement, sites and a trace turn auto on by themselves). */
static void hs_report_tracking(void *ctx, hs_report_t *report)
{
    (void)ctx;
    bool off = !hs_tracker_active() && hs_track_choice_none(hs_tracker_choice());
    hs_report_add(report,
                  (hs_report_field_t){"tracking.backend", HS_FIELD_STRING, 0, off ? "off" : hs_shim_plan.track_mode});
}

static void hs_report_migration(void *ctx, hs_report_t *report)
{
    (void)ctx;
    int nb = hs_os_numa_balancing();
    const char *balancing = nb < 0 ? "absent" : nb ? "on" : "off";
    hs_report_add(report,
                  (hs_report_field_t){"migration.enabled", HS_FIELD_STRING, 0, hs_shim_plan.placement ? "on" : "off"});
    hs_report_add(report, (hs_report_field_t){"migration.why", HS_FIELD_STRING, 0, hs_shim_plan.placement_why});
    hs_report_add(report, (hs_report_field_t){"migration.nodes", HS_FIELD_NUMBER, (uint64_t)hs_shim_plan.nodes, NULL});
    hs_report_add(report, (hs_report_field_t){"migration.numa_balancing", HS_FIELD_STRING, 0, balancing});
}

static void hs_report_tiering(void *ctx, hs_report_t *report)
{
    (void)ctx;
    hs_report_add(report, (hs_report_field_t){"tiering.enabled", HS_FIELD_STRING, 0,
                                              !hs_shim_plan.tiering       ? "off"
                                              : hs_shim_plan.tiering_demotes ? "on"
                                                                             : "promote-only"});
    hs_report_add(report, (hs_report_field_t){"tiering.why", HS_FIELD_STRING, 0, hs_shim_plan.tiering_why});
}

/* Every option's effective value, under options.<launcher flag>. */
static void hs_report_options(void *ctx, hs_report_t *report)
{
    (void)ctx;
    static char enum_names[HS_OPT_COUNT][32];
    static char option_keys[HS_OPT_COUNT][64];
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        char flag[48];
        hs_option_flag_name((hs_opt_id_t)id, flag, sizeof flag);
        for (char *c = flag; *c; c++)
            if (*c == '-')
                *c = '_';
        snprintf(option_keys[id], sizeof option_keys[id], "options.%s", flag);
        const char *value = hs_shim_options.text[id];
        if (hs_opt_descs[id].type == HS_OPT_ENUM)
            value = hs_option_enum_name((hs_opt_id_t)id, hs_shim_options.value[id], enum_names[id],
                                        sizeof enum_names[id]);
        hs_report_add(report, (hs_report_field_t){option_keys[id], HS_FIELD_STRING, 0, value});
    }
}

void hs_shim_report(void)
{
    const char *target = hs_shim_options.text[HS_OPT_STATS];
    if (!target[0])
        return;
    bool to_stderr = !strcmp(target, "stderr");
    char path[HS_OPT_TEXT_MAX + 32];
    bool had_pid = false;
    if (!to_stderr && !hs_shim_expand_path(target, path, sizeof path, &had_pid)) {
        hs_log(HS_LOG_WARN, "HUGESHIM_STATS path too long after expanding %%p: no report written");
        return;
    }
    /* A forked child that never exec'd would overwrite its parent's report:
     * it reports only where the path tells processes apart.  A child made by
     * a raw clone() runs no fork handler: its pid tells it apart. */
    if ((hs_shim_fork_child || hs_os_getpid() != hs_report_pid) && !had_pid)
        return;

    hs_os_rollup_t rollup;
    if (hs_os_smaps_rollup(&rollup) == 0) {
        hs_counter_set(HS_CTR_KERNEL_ANON_HUGE_BYTES, rollup.anon_huge_bytes);
        hs_counter_set(HS_CTR_KERNEL_HUGETLB_BYTES, rollup.hugetlb_bytes);
        hs_counter_set(HS_CTR_KERNEL_RSS_BYTES, rollup.rss_bytes);
        hs_peak_note(&rollup);
    }
    uint64_t rss_peak;
    if (hs_os_rss_peak(&rss_peak) == 0)
        hs_counter_set(HS_CTR_KERNEL_RSS_PEAK_BYTES, rss_peak);
    hs_shim_vmstat_deltas();
    hs_large_stats_t large;
    hs_large_stats(&large);
    hs_counter_set(HS_CTR_HEAP_LARGE_KEPT_BYTES, large.kept_bytes);
    uint64_t injected = 0;
    for (int f = 0; f < HS_OS_FAULT_COUNT; f++)
        injected += hs_os_fault_injected((hs_os_fault_t)f);
    hs_counter_set(HS_CTR_ERRORS_INJECTED, injected);
    static hs_report_field_t fields[HS_REPORT_MAX_FIELDS];
    hs_report_t report = {fields, 0, HS_REPORT_MAX_FIELDS};
    hs_report_add(&report, (hs_report_field_t){"program", HS_FIELD_STRING, 0, hs_shim_program});
    hs_report_add(&report, (hs_report_field_t){"pid", HS_FIELD_NUMBER, (uint64_t)hs_os_getpid(), NULL});
    hs_report_add(&report, (hs_report_field_t){"version", HS_FIELD_STRING, 0, HS_VERSION});
    /* Each subsystem's facts before its counters; sites and options last. */
    const hs_report_section_t sections[] = {
        {.prefix = "backing", .add = hs_report_backing, .ctx = NULL},
        {.prefix = "heap", .add = hs_report_heap, .ctx = NULL},
        {.prefix = "tracking", .add = hs_report_tracking, .ctx = NULL},
        hs_tracker_report_section,
        hs_park_report_section,
        {.prefix = "migration", .add = hs_report_migration, .ctx = NULL},
        hs_migrate_report_section,
        {.prefix = "tiering", .add = hs_report_tiering, .ctx = NULL},
        hs_tier_report_section,
        hs_sites_report_section, /* JSON only: the text report appends its table */
        {.prefix = "options", .add = hs_report_options, .ctx = NULL},
    };
    hs_report_assemble(&report, sections, sizeof sections / sizeof sections[0]);
    size_t n = report.n < report.cap ? report.n : report.cap;

    if (to_stderr) {
        hs_report_to_stderr(fields, n);
        return;
    }
    size_t len = hs_report_json(fields, n, hs_report_buf, sizeof hs_report_buf);
    int err = len ? hs_os_write_file_atomic(path, hs_report_buf, len) : -1;
    if (err) {
        hs_count(HS_CTR_ERRORS_REPORT, 1);
        /* A process that dropped its privileges (python's subprocess tests
         * run children as nobody) cannot write where its parent could: not
         * news worth a line on every such child's stderr.  Any other failure
         * (the directory vanished, a full disk, a read-only file) would lose
         * the report: it goes to stderr instead, counting the failure. */
        bool other_user = err == -EACCES || err == -EPERM;
        hs_log(other_user ? HS_LOG_INFO : HS_LOG_WARN, "could not write the report to %s: %s; %s", path,
               err == -EROFS ? "the file is read-only, left as it is" : err < 0 ? strerror(-err) : "report too large",
               other_user ? "check HUGESHIM_STATS" : "the report follows on stderr");
        if (!other_user) {
            for (size_t i = 0; i < n; i++)
                if (fields[i].key && !strcmp(fields[i].key, hs_counter_descs[HS_CTR_ERRORS_REPORT].key))
                    fields[i].number = hs_counter_get(HS_CTR_ERRORS_REPORT);
            hs_report_to_stderr(fields, n);
        }
    }
}
