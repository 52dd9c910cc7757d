/* doctor.c: what this machine offers hugeshim, found by probing (map a THP
 * region and read smaps back, map a hugetlb page, write a page and read its
 * soft-dirty bit, run PAGEMAP_SCAN), and for each gap the command that fixes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/hs_kinds.h"
#include "../common/hs_config.h"
#include "../common/hs_options.h"
#include "../os/hs_os.h"
#include "../shim/hs_plan.h"
#include "../track/hs_backend.h"
#include "../track/hs_tracker.h"
#include "hs_tools.h"

extern char **environ;

static int hs_gaps;

static void hs_line(const char *topic, const char *status, const char *detail)
{
    printf("%-14s %-8s %s\n", topic, status, detail);
}

static void hs_fix(const char *text)
{
    printf("%-14s %-8s %s\n", "", "fix:", text);
    hs_gaps++;
}

/* Map a region of `kind`, touch it, and read what smaps says it got. */
static int hs_probe_kind(hs_os_kind_t kind, size_t len, hs_os_vma_info_t *info)
{
    void *mem;
    bool advised;
    int err = hs_os_map_kind(kind, len, HS_OS_HUGE_2M, HS_OS_PROT_READ | HS_OS_PROT_WRITE, false, false, &mem,
                             &advised);
    if (err)
        return err;
    memset(mem, 1, len);
    static char buf[1 << 20];
    err = hs_os_vma_info((uintptr_t)mem, buf, sizeof buf, info);
    hs_os_munmap(mem, len);
    return err;
}

static void hs_doctor_thp(void)
{
    char detail[256];
    hs_os_thp_mode_t mode = hs_os_thp_mode();
    hs_os_vma_info_t info;
    int err = hs_probe_kind(HS_OS_KIND_THP, 8 * HS_OS_HUGE_2M, &info);
    snprintf(detail, sizeof detail, "mode %s; an advised 16 MiB region got %llu MiB of huge pages",
             hs_os_thp_mode_name(mode), err ? 0ULL : (unsigned long long)(info.anon_huge_bytes >> 20));
    bool works = !err && info.anon_huge_bytes > 0;
    hs_line("THP", works ? "ok" : "gap", detail);
    if (mode == HS_OS_THP_NEVER || mode == HS_OS_THP_UNKNOWN)
        hs_fix("echo madvise > /sys/kernel/mm/transparent_hugepage/enabled   (as root)");
    else if (!works)
        hs_fix("echo 1 > /proc/sys/vm/compact_memory  (memory too fragmented for huge pages), "
               "or check /sys/kernel/mm/transparent_hugepage/defrag");
    if (!works)
        return;
    hs_os_probe_result_t z = hs_os_probe_zero_page_write(detail, sizeof detail);
    hs_line("read, write", z == HS_OS_PROBE_WORKS ? "ok" : z == HS_OS_PROBE_BROKEN ? "gap" : "unknown", detail);
    if (z == HS_OS_PROBE_BROKEN)
        hs_fix("echo 0 > /sys/kernel/mm/transparent_hugepage/use_zero_page   (as root: a read then takes a huge "
               "page of its own, so memory read before it is written stays huge; read-only memory costs 2 MiB "
               "per unit)");
}

/* hugetlbfs mounts: HUGESHIM_HUGETLBFS=auto takes the first writable one
 * with room for each page size. */
static void hs_doctor_hugetlbfs(void)
{
    static hs_os_hugetlbfs_mount_t mounts[16];
    int n = hs_os_hugetlbfs_mounts(mounts, 16);
    if (n <= 0) {
        hs_line("hugetlbfs", "none", "no mount (optional: HUGESHIM_HUGETLBFS takes hugetlb pages from one, so that "
                "its owner, mode and size= decide who gets how many; `hugeshim pool --help`)");
        return;
    }
    for (int i = 0; i < n && i < 16; i++) {
        char detail[600], page[32], size[32], used[32];
        hs_format_bytes(mounts[i].page_bytes, page, sizeof page);
        hs_format_bytes(mounts[i].size_bytes, size, sizeof size);
        hs_format_bytes(mounts[i].size_bytes - mounts[i].free_bytes, used, sizeof used);
        snprintf(detail, sizeof detail, "%.300s: page %s, quota %s, used %s, %s", mounts[i].path, page,
                 mounts[i].size_bytes ? size : "none", mounts[i].size_bytes ? used : "?",
                 mounts[i].writable ? "writable by you (HUGESHIM_HUGETLBFS=auto can use it)" : "not writable by you");
        hs_line(i ? "" : "hugetlbfs", mounts[i].writable ? "ok" : "no", detail);
    }
}

static void hs_doctor_hugetlb(uint64_t kib, const char *name, uint64_t nodes_mask)
{
    hs_os_hugetlb_pool_t pool;
    char detail[256];
    if (hs_os_hugetlb_pool(kib, -1, &pool) != 0) {
        hs_line(name, "absent", "this kernel offers no such hugetlb page size");
        return;
    }
    hs_os_kind_t kind = kib == 2048 ? HS_OS_KIND_HUGETLB_2M : HS_OS_KIND_HUGETLB_1G;
    size_t page = kib * 1024;
    const char *probe = "not tried (no free page)";
    if (pool.free > pool.reserved) {
        hs_os_vma_info_t info;
        int err = hs_probe_kind(kind, page, &info);
        probe = !err && info.kernel_page_bytes == page ? "a mapped page showed this KernelPageSize"
                                                       : "mapping a page failed";
    }
    snprintf(detail, sizeof detail, "pool %llu pages, %llu free, %llu reserved; probe: %s",
             (unsigned long long)pool.total, (unsigned long long)pool.free, (unsigned long long)pool.reserved,
             probe);
    hs_line(name, pool.free ? "ok" : "empty", detail);
    for (int node = 0; node < 64; node++) {
        if (!(nodes_mask >> node & 1ULL))
            continue;
        hs_os_hugetlb_pool_t np;
        if (hs_os_hugetlb_pool(kib, node, &np) == 0) {
            char topic[32];
            snprintf(topic, sizeof topic, "  node%d", node);
            snprintf(detail, sizeof detail, "%llu pages, %llu free", (unsigned long long)np.total,
                     (unsigned long long)np.free);
            hs_line(topic, "", detail);
        }
    }
    if (!pool.free) {
        char fix[512];
        snprintf(fix, sizeof fix, "sudo hugeshim pool --reserve %s --page %s --persist   (now and at every boot; "
                 "%sneeded with HUGESHIM_BACKING=%s, else it falls back)",
                 kib == 2048 ? "1G" : "2G", kib == 2048 ? "2M" : "1G",
                 kib == 2048 ? "" : "or hugepagesz=1G hugepages=2 on the kernel command line if memory is fragmented; ",
                 hs_kind_name(kib == 2048 ? HS_OS_KIND_HUGETLB_2M : HS_OS_KIND_HUGETLB_1G));
        hs_fix(fix);
    }
}

static void hs_doctor_numa(uint64_t *mask_out)
{
    uint64_t mask;
    char detail[512], cpus[128];
    hs_os_numa_nodes(&mask);
    *mask_out = mask;
    int n = 0;
    size_t used = 0;
    detail[0] = '\0';
    for (int node = 0; node < 64; node++) {
        if (!(mask >> node & 1))
            continue;
        n++;
        if (hs_os_node_cpulist(node, cpus, sizeof cpus) != 0)
            snprintf(cpus, sizeof cpus, "?");
        used += (size_t)snprintf(detail + used, used < sizeof detail ? sizeof detail - used : 0,
                                 "%snode%d cpus %s", used ? "; " : "", node, cpus);
    }
    hs_line("NUMA nodes", n > 1 ? "ok" : "one", detail);
    int balancing = hs_os_numa_balancing();
    if (balancing >= 0) {
        snprintf(detail, sizeof detail, "kernel.numa_balancing=%d%s", balancing,
                 balancing ? " (AutoNUMA migrates pages too)" : "");
        hs_line("AutoNUMA", balancing ? "on" : "off", detail);
    }
}

static void hs_doctor_option_problem(void *ctx, const char *line)
{
    (void)ctx;
    printf("%-14s %-8s %s\n", "options", "bad:", line);
}

/* What hugeshim would decide in a program started with this environment:
 * the same plan the library computes at start-up (shim/hs_plan.h). */
static void hs_doctor_plan(uint64_t nodes, const char *program)
{
    static hs_options_t options;
    static hs_plan_t plan;
    char detail[600], real[4096] = "";
    /* The configuration files' sections for PROGRAM count too. */
    const char *base = program ? (strrchr(program, '/') ? strrchr(program, '/') + 1 : program) : NULL;
    hs_config_program_t prog = {base, base, program && realpath(program, real) ? real : NULL};
    hs_options_load(&options, environ, &prog, hs_doctor_option_problem, NULL);
    hs_plan_early(&plan, &options, nodes);
    hs_plan_decide(&plan, &options);
    hs_line("heap", hs_plan_heap_name(plan.heap), plan.heap_why);
    snprintf(detail, sizeof detail, "%s%s", plan.placement_why,
             plan.nodes <= 1 ? " (tests/numalab/lab.sh --with PROG -- PROG ARGS tries it on emulated nodes)" : "");
    hs_line("placement", plan.placement ? "on" : "off", detail);
    if (plan.placement_warning[0])
        printf("%-14s %-8s %s\n", "", "warning:", plan.placement_warning);
    hs_line("tiering", !plan.tiering ? "off" : plan.tiering_demotes ? "on" : "promote", plan.tiering_why);
    if (plan.tiers.fast && plan.tiers.slow) {
        char list[400];
        size_t len = 0;
        list[0] = 0;
        for (int n = 0; n < plan.tiers.nodes && len + 64 < sizeof list; n++) {
            if (!((plan.tiers.fast | plan.tiers.slow) >> n & 1))
                continue;
            len += (size_t)snprintf(list + len, sizeof list - len, "%snode %d %s", len ? ", " : "", n,
                                    plan.tiers.fast >> n & 1 ? "fast" : "slow");
            if (plan.tiers.tier[n] >= 0)
                len += (size_t)snprintf(list + len, sizeof list - len, " (memory_tier%d)", plan.tiers.tier[n]);
            int other = plan.tiers.fast >> n & 1 ? plan.tiers.down[n] : plan.tiers.up[n];
            if (other >= 0)
                len += (size_t)snprintf(list + len, sizeof list - len, " -> %d", other);
        }
        printf("%-14s %-8s %s\n", "", "tiers:", list);
    }
    if (plan.track_request != HS_TRACK_OFF) {
        snprintf(detail, sizeof detail, "HUGESHIM_TRACK=%s: %s", plan.track_mode, plan.tracking.why);
        hs_line("tracking", hs_plan_tracks(&plan) ? "on" : "off", detail);
        hs_line("sampling", plan.sampling ? "on" : "off", plan.sampling_why);
        if (!plan.sampling && plan.tracking.by_kind[HS_OS_KIND_THP] != &hs_backend_uffd_sync)
            printf("%-14s %-8s %s\n", "", "note:", "reads are seen only by access sampling, which needs uffd_sync (a "
                   "userfaultfd that handles kernel-mode faults: vm.unprivileged_userfaultfd=1 or /dev/userfaultfd) "
                   "and UFFDIO_MOVE (Linux 6.8+); without it placement follows writes only");
    }
}

static void hs_doctor_tracking(void)
{
    static const char *status[] = {"works", "absent", "broken", "denied"};
    char detail[256];
    hs_os_probe_result_t r = hs_os_probe_pagemap_scan(detail, sizeof detail);
    hs_line("PAGEMAP_SCAN", status[r], detail);
    if (r != HS_OS_PROBE_WORKS)
        printf("%-14s %-8s %s\n", "", "note:", "needs Linux 6.7+ with userfaultfd; if denied: "
               "sysctl vm.unprivileged_userfaultfd=1 (UFFD_USER_MODE_ONLY needs no privilege on 5.11+)");
    else
        printf("%-14s %-8s %s\n", "", "note:", "a write after async write-protect splits a THP, so this backend "
               "watches hugetlb and base pages only (uffd_sync or soft-dirty watch THP regions)");
    char sync_detail[400];
    hs_os_probe_result_t ws = hs_os_probe_wpsync(sync_detail, sizeof sync_detail);
    hs_line("uffd_sync", status[ws], sync_detail);
    if (ws == HS_OS_PROBE_DENIED)
        printf("%-14s %-8s %s\n", "", "fix:", "sysctl vm.unprivileged_userfaultfd=1 (as root), or give the user access to "
               "/dev/userfaultfd: THP regions are then tracked whole, with the writer's node");
    hs_os_probe_result_t sd = hs_os_probe_softdirty(detail, sizeof detail);
    hs_line("soft-dirty", status[sd], detail);
    if (sd != HS_OS_PROBE_WORKS)
        printf("%-14s %-8s %s\n", "", "note:", "needs a kernel built with CONFIG_MEM_SOFT_DIRTY");
    hs_track_choice_t choice;
    hs_tracker_choose(NULL, &choice);
    const char *thp = hs_track_choice_name(&choice, HS_OS_KIND_THP), *base = hs_track_choice_name(&choice, HS_OS_KIND_BASE);
    printf("%-14s %-8s HUGESHIM_TRACK=auto would use, for THP: %s; for hugetlb and base pages: %s\n", "tracking", "",
           strcmp(thp, "off") ? thp : "nothing (unwatched)", strcmp(base, "off") ? base : "nothing (unwatched)");
}

static void hs_doctor_program(const char *prog)
{
    char detail[600];
    int dyn = hs_tool_elf_is_dynamic(prog);
    struct stat st;
    if (stat(prog, &st) != 0) {
        snprintf(detail, sizeof detail, "%s: not found", prog);
        hs_line("program", "missing", detail);
        return;
    }
    if (dyn == 0) {
        snprintf(detail, sizeof detail, "%s is statically linked: LD_PRELOAD cannot reach it; hugeshim has no effect",
                 prog);
        hs_line("program", "static", detail);
    } else if (st.st_mode & (S_ISUID | S_ISGID)) {
        snprintf(detail, sizeof detail, "%s is setuid/setgid: the loader ignores LD_PRELOAD and hugeshim "
                 "stays out of privileged processes", prog);
        hs_line("program", "setuid", detail);
    } else {
        snprintf(detail, sizeof detail, "%s %s", prog,
                 dyn == 1 ? "is dynamically linked: hugeshim applies"
                          : "is a script: hugeshim applies to its interpreter if that is dynamically linked");
        hs_line("program", "ok", detail);
    }
}

int hs_tool_doctor(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: hugeshim doctor [PROGRAM]\n"
               "Probes THP, hugetlb pools (per size and node), NUMA nodes, AutoNUMA, PAGEMAP_SCAN and\n"
               "soft-dirty by using them, and prints the command that fixes each gap.  With PROGRAM, also\n"
               "says whether LD_PRELOAD can reach it (statically linked and setuid programs are left alone).\n"
               "Exit status: 0 when nothing is missing for the default THP backing, 1 otherwise.\n");
        return 0;
    }
    printf("hugeshim doctor %s\n", HS_VERSION);
    uint64_t nodes;
    hs_doctor_thp();
    int thp_gaps = hs_gaps;
    hs_doctor_numa(&nodes);
    hs_doctor_hugetlb(2048, "hugetlb 2M", nodes);
    hs_doctor_hugetlb(1048576, "hugetlb 1G", nodes);
    hs_doctor_hugetlbfs();
    hs_doctor_tracking();
    hs_doctor_plan(nodes, argc > 1 ? argv[1] : NULL);
    printf("%-14s %-8s %s\n", "static", "note:",
           "statically linked programs are never affected (LD_PRELOAD needs the dynamic loader)");
    if (argc > 1)
        hs_doctor_program(argv[1]);
    printf("%d gap(s) with a fix above\n", hs_gaps);
    return thp_gaps ? 1 : 0;
}
