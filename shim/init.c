/* init.c: the preload entry.  Initialisation runs once, on the first
 * malloc/mmap or in the constructor, whichever comes first.  Nothing on this
 * path allocates from the heap being set up: options are read from environ
 * into static storage, files through os/ into stack buffers, and a recursive
 * malloc (from pthread_atfork, dlsym) is served by the static early buffer. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "../allocator/hs_backing.h"
#include "../allocator/hs_forkguard.h"
#include "../allocator/hs_heap.h"
#include "../allocator/hs_large.h"
#include "../allocator/hs_hugify.h"
#include "../allocator/hs_registry.h"
#include "../common/hs_vmguard.h"
#include "../common/hs_config.h"
#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../common/hs_thread.h"
#include "../observe/hs_sites.h"
#include "../observe/hs_trace.h"
#include "../place/hs_migrate.h"
#include "../place/hs_tier.h"
#include "../place/hs_where.h"
#include "../track/hs_park.h"
#include "../track/hs_epoch.h"
#include "../track/hs_tracker.h"
#include "hs_plan.h"
#include "hs_shim.h"

extern char **environ;
extern char *program_invocation_short_name;

int hs_shim_state;
size_t hs_shim_malloc_fast_below;
hs_options_t hs_shim_options;
size_t hs_shim_mmap_min;
char hs_shim_program[256];
bool hs_shim_fork_child;
hs_plan_t hs_shim_plan;

static __attribute__((tls_model("initial-exec"))) __thread int hs_in_init;
static size_t (*hs_glibc_usable_size)(void *);

HS_EXPORT const char *hugeshim_version(void)
{
    return HS_VERSION;
}

size_t hs_shim_foreign_usable_size(void *ptr)
{
    return hs_glibc_usable_size ? hs_glibc_usable_size(ptr) : 0;
}

static void hs_option_problem(void *ctx, const char *line)
{
    (void)ctx;
    hs_count(HS_CTR_ERRORS_OPTIONS, 1);
    hs_log_line(line);
}

/* Is this program one of HUGESHIM_PROGRAMS (executable or argv[0] name)? */
static bool hs_program_selected(const char *list)
{
    if (!list[0])
        return true;
    const char *argv0 = program_invocation_short_name;
    for (const char *p = list; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if ((strlen(hs_shim_program) == n && !strncmp(hs_shim_program, p, n)) ||
            (argv0 && strlen(argv0) == n && !strncmp(argv0, p, n)))
            return true;
        if (!colon)
            break;
        p = colon + 1;
    }
    return false;
}

/* Lock order everywhere: tracker, then backing, then registry (the epoch
 * thread snapshots the registry; extent hooks map through the backing). */
static void hs_prefork(void)
{
    /* Before the locks: it snapshots the registry and may copy the hugetlb heap. */
    hs_forkguard_prefork();
    hs_tracker_prefork();
    hs_large_prefork(); /* before the guard's and the backing's: it takes them when it maps or gives back */
    hs_vmguard_prefork(); /* after the tracker's lock: the epoch thread takes them in that order */
    hs_backing_prefork();
    hs_registry_prefork();
}

static void hs_postfork_parent(void)
{
    hs_registry_postfork_parent();
    hs_backing_postfork_parent();
    hs_vmguard_postfork_parent();
    hs_large_postfork_parent();
    hs_tracker_postfork_parent();
    hs_forkguard_postfork_parent();
}

static void hs_postfork_child(void)
{
    hs_registry_postfork_child();
    hs_backing_postfork_child();
    hs_vmguard_postfork_child();
    hs_large_postfork_child();
    hs_tracker_postfork_child();
    hs_forkguard_postfork_child();
    hs_hugify_postfork_child();
    hs_thread_forget_after_fork();
    hs_shim_fork_child = true;
}

static uint64_t hs_interval_ns(void)
{
    return (uint64_t)hs_shim_options.value[HS_OPT_INTERVAL_MS] * 1000000ULL;
}

/* At every tick of the epoch thread: dense mode's pass when that is on too,
 * and the span heap's give-back of large objects' pages kept too long. */
static void hs_epoch_tick(void)
{
    if (hs_hugify_on())
        hs_hugify_pass();
    hs_large_tick();
}

/* The epoch thread, for tracking. */
static int hs_epochs_start(void)
{
    return hs_epoch_start(hs_interval_ns(), hs_epoch_tick);
}

/* Registered after jemalloc's handlers, so it runs after jemalloc's child
 * handler: creating the child's threads may allocate. */
static void hs_postfork_child_late(void)
{
    hs_epoch_forget_after_fork();
    hs_where_forget_after_fork();
    hs_tracker_reopen_after_fork();
    if (hs_trace_on()) {
        char path[HS_OPT_TEXT_MAX + 32];
        bool had_pid = false;
        bool ok = hs_shim_expand_path(hs_shim_options.text[HS_OPT_TRACE], path, sizeof path, &had_pid);
        hs_trace_after_fork(ok && had_pid ? path : NULL);
    }
    if (hs_tracker_active() && hs_epochs_start() != 0)
        hs_count(HS_CTR_TRACK_ERRORS, 1);
}

/* The NUMA nodes online (a mask), read from sysfs once: start-up asks for it
 * up to three times (the machine log, the heap's mode, placement). */
static uint64_t hs_nodes_online(void)
{
    static uint64_t online;
    static bool read;
    if (!read) {
        online = 1;
        hs_os_numa_nodes(&online);
        read = true;
    }
    return online;
}

static const char *const hs_vmstat_names[] = {
    "numa_pte_updates",    "numa_hint_faults",  "numa_pages_migrated", "pgmigrate_success", "thp_migration_success",
    "thp_migration_split", "pgpromote_success", "pgdemote_kswapd",     "pgdemote_direct"};
#define HS_VMSTAT_N (sizeof hs_vmstat_names / sizeof hs_vmstat_names[0])
static uint64_t hs_vmstat_start[HS_VMSTAT_N];

/* kernel.numa_*, migration and tiering counters of /proc/vmstat, as deltas
 * over the run (the two pgdemote_* added up). */
void hs_shim_vmstat_deltas(void)
{
    uint64_t now[HS_VMSTAT_N];
    if (hs_os_vmstat(hs_vmstat_names, now, HS_VMSTAT_N) != 0)
        return;
    static const hs_counter_id_t ids[HS_VMSTAT_N] = {
        HS_CTR_KERNEL_NUMA_PTE_UPDATES,      HS_CTR_KERNEL_NUMA_HINT_FAULTS,    HS_CTR_KERNEL_NUMA_PAGES_MIGRATED,
        HS_CTR_KERNEL_PGMIGRATE_SUCCESS,     HS_CTR_KERNEL_THP_MIGRATION_SUCCESS, HS_CTR_KERNEL_THP_MIGRATION_SPLIT,
        HS_CTR_KERNEL_PGPROMOTE_SUCCESS,     HS_CTR_KERNEL_PGDEMOTE,            HS_CTR_KERNEL_PGDEMOTE};
    for (size_t i = 0; i < HS_VMSTAT_N; i++) {
        uint64_t delta = now[i] >= hs_vmstat_start[i] ? now[i] - hs_vmstat_start[i] : 0;
        hs_counter_set(ids[i], i == HS_VMSTAT_N - 1 ? hs_counter_get(ids[i]) + delta : delta);
    }
}

static uint64_t hs_env_now(void *ctx)
{
    (void)ctx;
    return hs_os_now_ns();
}

static int hs_env_busy_nodes(void *ctx, uint64_t *busy)
{
    (void)ctx;
    return hs_where_busy_nodes(busy);
}

static void hs_env_busy_mark(void *ctx)
{
    (void)ctx;
    hs_where_busy_mark();
}

static int hs_env_node_of_thread(void *ctx, int tid, uint64_t epoch)
{
    (void)ctx;
    return hs_where_node_of_thread(tid, epoch);
}

static size_t hs_env_misplaced(void *ctx, const uintptr_t *units, const int *nodes, size_t n)
{
    (void)ctx;
    return hs_migrate_misplaced(units, nodes, n);
}

/* The sampler tries the units on slow nodes first: only there can a read
 * promote (tiering's last scan of where units are). */
static bool hs_prefer_slow(void *ctx, uintptr_t unit)
{
    (void)ctx;
    return hs_tier_on_slow_node(unit);
}

/* A unit read by its settled accessor's node needs one sample an epoch. */
static bool hs_enough_sampled(void *ctx, uintptr_t unit, int tid)
{
    (void)ctx;
    return hs_tracker_settled(unit, tid);
}

/* The tracker's subscribers, in order: placement (or, without it, only
 * where the units are, for sites and the trace), then sites, then the trace. */
static void hs_tracking_subscribe(void)
{
    if (hs_shim_plan.placement)
        hs_tracker_subscribe(&hs_migrate_subscriber);
    else if (hs_sites_enabled() || hs_trace_on() || hs_tier_enabled())
        hs_tracker_subscribe(&hs_migrate_locate_subscriber);
    if (hs_tier_enabled()) {
        hs_tracker_subscribe(&hs_tier_subscriber);
        hs_park_prefer(hs_prefer_slow, NULL);
    } else {
        /* Not under tiering: there the lab's shifting hot set saw 8-9 units
         * moved down and back up with it (1-4 without), not explained yet. */
        hs_park_enough(hs_enough_sampled, NULL);
    }
    if (hs_sites_enabled())
        hs_tracker_subscribe(&hs_sites_subscriber);
    if (hs_trace_on())
        hs_tracker_subscribe(&hs_trace_subscriber);
}

/* Tracking and placement: decided and started in the constructor, never
 * inside malloc (probes map memory; libnuma allocates). */
static void hs_tracking_start(void)
{
    const hs_options_t *o = &hs_shim_options;
    hs_plan_t *plan = &hs_shim_plan;
    hs_os_vmstat(hs_vmstat_names, hs_vmstat_start, HS_VMSTAT_N);
    hs_plan_decide(plan, o);
    if (plan->placement_warning[0])
        hs_log(HS_LOG_WARN, "%s", plan->placement_warning);
    bool off = plan->track_request == HS_TRACK_OFF;
    if (off && o->text[HS_OPT_TRACE][0])
        hs_log(HS_LOG_WARN, "HUGESHIM_TRACE=%s: HUGESHIM_TRACK=off, so there is nothing to trace; no trace written",
               o->text[HS_OPT_TRACE]);
    if (off)
        return;
    bool none = hs_track_choice_none(&plan->tracking);
    /* auto is quiet: choosing per kind is not a problem.  A backend asked for
     * by name that does not work here is. */
    hs_log(none && plan->track_request != HS_TRACK_AUTO ? HS_LOG_WARN : HS_LOG_INFO, "HUGESHIM_TRACK=%s: %s%s",
           plan->track_mode, plan->tracking.why, none ? "; tracking is off" : "");
    if (none)
        return;
    hs_heat_config_t heat = {(unsigned)o->value[HS_OPT_HEAT_DECAY], (unsigned)o->value[HS_OPT_HOT_THRESHOLD], 0, 0};
    if (plan->placement) {
        hs_migrate_config_t mc = {
            .nodes = hs_where_topology()->nodes,
            .min_epochs = (unsigned)o->value[HS_OPT_MIGRATE_EPOCHS],
            .rate_bytes_per_s = (uint64_t)o->value[HS_OPT_MIGRATE_MBPS] << 20,
            .interval_ns = hs_interval_ns(),
        };
        if (hs_migrate_init(&mc, NULL) != 0) {
            plan->placement = false;
            snprintf(plan->placement_why, sizeof plan->placement_why, "could not map placement's state");
        }
    }
    if (plan->tiering) {
        hs_tier_config_t tc = {
            .topo = plan->tiers,
            .free_pct = (unsigned)o->value[HS_OPT_TIER_FREE_PCT],
            .idle_epochs = (unsigned)o->value[HS_OPT_TIER_IDLE_EPOCHS],
            .rate_bytes_per_s = (uint64_t)o->value[HS_OPT_TIER_MBPS] << 20,
            .interval_ns = hs_interval_ns(),
            .demote = plan->tiering_demotes,
        };
        for (int n = 0; n < tc.topo.nodes; n++)
            tc.node_bytes[n] = hs_os_node_total_bytes(n) > 0 ? hs_os_node_total_bytes(n) : 0;
        if (hs_tier_init(&tc, NULL) != 0) {
            plan->tiering = false;
            snprintf(plan->tiering_why, sizeof plan->tiering_why, "could not map tiering's state");
        }
    }
    hs_tracker_env_t env = {.now_ns = hs_env_now,
                            .busy_nodes = hs_env_busy_nodes,
                            .busy_mark = hs_env_busy_mark,
                            .node_of_thread = hs_env_node_of_thread,
                            /* Epochs end early only where a unit found would move. */
                            .misplaced = plan->placement || plan->tiering ? hs_env_misplaced : NULL,
                            .ctx = NULL};
    int err = hs_tracker_init(&plan->tracking, &heat, (unsigned)o->value[HS_OPT_TRACK_BUDGET], &env);
    if (err) {
        hs_log(HS_LOG_WARN, "tracking could not start (errno %d); tracking and placement are off", -err);
        plan->placement = false;
        return;
    }
    if (o->text[HS_OPT_TRACE][0]) {
        char path[HS_OPT_TEXT_MAX + 32], why[300];
        bool had_pid;
        if (!hs_shim_expand_path(o->text[HS_OPT_TRACE], path, sizeof path, &had_pid))
            hs_log(HS_LOG_WARN, "HUGESHIM_TRACE path too long after expanding %%p: no trace written");
        else if (hs_trace_open(path, (uint64_t)o->value[HS_OPT_TRACE_MAX], (uint64_t)o->value[HS_OPT_INTERVAL_MS],
                               why, sizeof why) != 0)
            hs_log(HS_LOG_WARN, "HUGESHIM_TRACE: %s; no trace written", why);
    }
    hs_tracking_subscribe();
    if (hs_epochs_start() != 0) {
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        hs_log(HS_LOG_WARN, "could not start the epoch thread: tracking is off");
        hs_tracker_shutdown();
        plan->placement = false;
    }
}

static void hs_dump_machine(void)
{
    char value[64];
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const char *shown = hs_shim_options.text[id];
        if (hs_opt_descs[id].type == HS_OPT_ENUM)
            shown = hs_option_enum_name((hs_opt_id_t)id, hs_shim_options.value[id], value, sizeof value);
        char source[320];
        hs_option_source_text(&hs_shim_options, id, source, sizeof source);
        hs_log(HS_LOG_INFO, "option HUGESHIM_%s=%s (%s)", hs_opt_descs[id].name, shown, source);
    }
    hs_log(HS_LOG_INFO, "machine: THP %s", hs_os_thp_mode_name(hs_os_thp_mode()));
    static const uint64_t sizes_kib[] = {2048, 1048576};
    for (int i = 0; i < 2; i++) {
        hs_os_hugetlb_pool_t pool;
        if (hs_os_hugetlb_pool(sizes_kib[i], -1, &pool) == 0)
            hs_log(HS_LOG_INFO, "machine: hugetlb %s pool: %llu pages, %llu free",
                   i ? "1 GiB" : "2 MiB", (unsigned long long)pool.total, (unsigned long long)pool.free);
        else
            hs_log(HS_LOG_INFO, "machine: hugetlb %s pages not supported", i ? "1 GiB" : "2 MiB");
    }
    uint64_t nodes = hs_nodes_online();
    hs_log(HS_LOG_INFO, "machine: %d NUMA node(s) online (mask 0x%llx)", __builtin_popcountll(nodes),
           (unsigned long long)nodes);
}

/* HUGESHIM_HUGETLBFS: the mount each hugetlb page size maps from. */
static void hs_choose_hugetlbfs(const char *text)
{
    char want[HS_OPT_TEXT_MAX];
    size_t len = strlen(text);
    while (len > 1 && text[len - 1] == '/')
        len--; /* "/mnt/huge/" names the mount "/mnt/huge" */
    snprintf(want, sizeof want, "%.*s", (int)len, text);
    if (!want[0])
        return;
    static hs_os_hugetlbfs_mount_t mounts[16];
    int n = hs_os_hugetlbfs_mounts(mounts, 16);
    n = n < 0 ? 0 : n > 16 ? 16 : n;
    bool any = false;
    for (int i = 0; i < n; i++) {
        hs_os_hugetlbfs_mount_t *m = &mounts[i];
        hs_os_kind_t kind = m->page_bytes == HS_OS_HUGE_1G ? HS_OS_KIND_HUGETLB_1G : HS_OS_KIND_HUGETLB_2M;
        if (m->page_bytes != HS_OS_HUGE_1G && m->page_bytes != HS_OS_HUGE_2M)
            continue;
        if (strcmp(want, "auto") ? strcmp(want, m->path) != 0
                                 : (!m->writable || (m->size_bytes && m->free_bytes < m->page_bytes) ||
                                    hs_os_hugetlbfs_dir(kind)))
            continue;
        if (!m->writable) {
            hs_log(HS_LOG_WARN, "HUGESHIM_HUGETLBFS=%s: this user may not create files there (its owner and mode "
                   "decide); hugetlb pages come from the pool directly", want);
            return;
        }
        hs_os_hugetlbfs_use(kind, m->path);
        hs_log(HS_LOG_INFO, "hugetlb %s pages from hugetlbfs %s", kind == HS_OS_KIND_HUGETLB_1G ? "1 GiB" : "2 MiB",
               m->path);
        any = true;
    }
    if (!any && strcmp(want, "auto"))
        hs_log(HS_LOG_WARN, "HUGESHIM_HUGETLBFS=%s is not a hugetlbfs mount (`hugeshim pool` lists them); "
               "hugetlb pages come from the pool directly", want);
    else if (!any)
        hs_log(HS_LOG_INFO, "HUGESHIM_HUGETLBFS=auto: no hugetlbfs mount this user may write with room");
}

/* Decide ACTIVE or PASSTHROUGH and set everything up. */
static hs_state_t hs_initialise(void)
{
    if (hs_os_exe_name(hs_shim_program, sizeof hs_shim_program) != 0)
        snprintf(hs_shim_program, sizeof hs_shim_program, "%s",
                 program_invocation_short_name ? program_invocation_short_name : "?");
    if (hs_os_is_secure()) {
        /* No file is read for a setuid program: it is left alone below. */
        hs_options_parse(&hs_shim_options, environ, NULL, NULL);
    } else {
        static char exe_path[4096];
        hs_config_program_t prog = {hs_shim_program, program_invocation_short_name,
                                    hs_os_exe_path(exe_path, sizeof exe_path) == 0 ? exe_path : NULL};
        hs_options_load(&hs_shim_options, environ, &prog, hs_option_problem, NULL);
    }
    const hs_options_t *o = &hs_shim_options;
    hs_log_set_level((int)o->value[HS_OPT_VERBOSE]);
    /* glibc's own malloc_usable_size, for pointers glibc handed out. */
    hs_glibc_usable_size = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");

    if (!o->value[HS_OPT_ENABLE]) {
        hs_log(HS_LOG_INFO, "HUGESHIM_ENABLE=0: off in %s", hs_shim_program);
        return HS_STATE_PASSTHROUGH;
    }
    if (hs_os_is_secure()) {
        hs_log(HS_LOG_INFO, "%s runs with elevated privileges (setuid/setgid/capabilities): left alone",
               hs_shim_program);
        return HS_STATE_PASSTHROUGH;
    }
    if (!hs_program_selected(o->text[HS_OPT_PROGRAMS])) {
        hs_log(HS_LOG_INFO, "%s is not in HUGESHIM_PROGRAMS=%s: left alone", hs_shim_program,
               o->text[HS_OPT_PROGRAMS]);
        return HS_STATE_PASSTHROUGH;
    }
    if (hs_registry_init() != 0) {
        hs_log(HS_LOG_WARN, "could not map the region registry: running %s without hugeshim", hs_shim_program);
        return HS_STATE_PASSTHROUGH;
    }
    if (o->text[HS_OPT_FAULTS][0]) {
        char why[300];
        if (hs_os_fault_parse(o->text[HS_OPT_FAULTS], why, sizeof why) < 0) {
            hs_count(HS_CTR_ERRORS_OPTIONS, 1);
            hs_log(HS_LOG_WARN, "HUGESHIM_FAULTS: %s; no fault injected", why);
        } else {
            hs_log(HS_LOG_INFO, "HUGESHIM_FAULTS=%s: these kernel calls will fail on purpose", o->text[HS_OPT_FAULTS]);
        }
    }
    hs_plan_early(&hs_shim_plan, o, hs_nodes_online());
    hs_os_kind_t first_kind = hs_shim_plan.first_kind;
    hs_os_thp_mode_t thp = hs_os_thp_mode();
    hs_backing_config_t config = {
        .first_kind = first_kind,
        .retry_ns = (uint64_t)o->value[HS_OPT_RETRY_MS] * 1000000ULL,
        .thp_available = thp == HS_OS_THP_ALWAYS || thp == HS_OS_THP_MADVISE,
    };
    if (!config.thp_available && config.first_kind != HS_OS_KIND_BASE)
        hs_log(HS_LOG_WARN, "THP is %s in this kernel: THP regions will be base pages "
               "(echo madvise > /sys/kernel/mm/transparent_hugepage/enabled)", hs_os_thp_mode_name(thp));
    if (first_kind == HS_OS_KIND_HUGETLB_2M || first_kind == HS_OS_KIND_HUGETLB_1G)
        hs_choose_hugetlbfs(o->text[HS_OPT_HUGETLBFS]);
    hs_backing_init(&config, NULL);
    /* Program mmaps are backed unless the control 'none' was asked for. */
    hs_shim_mmap_min = (o->value[HS_OPT_MMAP] && config.first_kind != HS_OS_KIND_BASE)
                           ? (size_t)o->value[HS_OPT_MMAP_MIN] : 0;
    /* Registered before jemalloc registers its own handlers: prepare handlers
     * run last-registered first, so jemalloc's locks are taken before ours, in
     * the order its extent hooks take them. */
    pthread_atfork(hs_prefork, hs_postfork_parent, hs_postfork_child);
    int heap = hs_heap_init(o->value[HS_OPT_HEAP_MEDIUM] == HS_HEAP_MEDIUM_BASE,
                            hs_shim_plan.heap == HS_HEAP_MODE_DENSE);
    if (heap != 0) {
        hs_log(HS_LOG_WARN, "%s: running %s without hugeshim",
               heap == -ENOMEM ? "jemalloc could not start (its first mappings failed)"
                               : "jemalloc refused hugeshim's extent hooks",
               hs_shim_program);
        return HS_STATE_PASSTHROUGH;
    }
    if (hs_log_level() >= HS_LOG_INFO)
        hs_dump_machine();
    hs_shim_report_prepare();
    return HS_STATE_ACTIVE;
}

hs_state_t hs_shim_init_slow(void)
{
    if (hs_in_init)
        return HS_STATE_INITIALIZING;
    int expected = HS_STATE_UNINIT;
    if (__atomic_compare_exchange_n(&hs_shim_state, &expected, HS_STATE_INITIALIZING, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        int saved = errno;
        hs_in_init = 1;
        hs_state_t s = hs_initialise();
        hs_in_init = 0;
        __atomic_store_n(&hs_shim_state, s, __ATOMIC_RELEASE);
        __atomic_store_n(&hs_shim_malloc_fast_below, s == HS_STATE_ACTIVE && !hs_sites_on ? hs_heap_small_max + 1 : 0,
                         __ATOMIC_RELEASE);
        errno = saved;
        return s;
    }
    /* Another thread is initialising: wait for it. */
    int s;
    while ((s = __atomic_load_n(&hs_shim_state, __ATOMIC_ACQUIRE)) == HS_STATE_INITIALIZING)
        sched_yield();
    return (hs_state_t)s;
}

/* Tracking and placement start here, after initialisation (which may have
 * run inside an earlier malloc, where creating a thread would recurse). */
/* Sites: the sampler loads libunwind (dlopen allocates), so never in malloc. */
static void hs_sites_start(void)
{
    const hs_options_t *o = &hs_shim_options;
    if (!o->value[HS_OPT_SITES])
        return;
    hs_sites_config_t sc = {
        .interval_bytes = (uint64_t)o->value[HS_OPT_SITES_INTERVAL],
        .max_sites = (unsigned)o->value[HS_OPT_SITES_MAX],
        .nodes = hs_where_topology()->nodes,
    };
    /* Registered after jemalloc's handlers, so that a fork waits for the
     * threads inside the unwinder before jemalloc takes its locks: the
     * unwinder may allocate (libunwind's thread-local data, at a thread's
     * first unwind). */
    pthread_atfork(hs_sites_prefork, hs_sites_postfork_parent, hs_sites_postfork_child);
    char why[300];
    if (hs_sites_init(&sc, why, sizeof why) != 0)
        hs_log(HS_LOG_WARN, "HUGESHIM_SITES=1: %s; allocation sites are off", why);
    else
        __atomic_store_n(&hs_shim_malloc_fast_below, 0, __ATOMIC_RELEASE);
}

/* HUGESHIM_HEAP_THP=dense: its pass runs on the epoch thread at every tick
 * when tracking starts that thread, and on the program's own threads
 * otherwise (hs_dense_start): a thread started for it alone would cost a
 * program that faults pages all the time more than the pass saves, on a
 * paravirtualised VM (docs/heap.md, Dense and eager heaps). */
static void hs_dense_init(void)
{
    /* 90% of a unit resident; 8 units advised ahead (64, the most one
     * batch measures, while the heap fills densely); per pass at most 64 MiB
     * collapsed (16 MiB on a program thread: hs_dense_start) and 16 GiB of
     * undecided units measured. */
    hs_hugify_config_t hc = {.dense_pages = 461, .ahead = 8, .fill_ahead = 64, .max_collapses = 32, .max_units = 8192};
    if (hs_shim_plan.heap == HS_HEAP_MODE_DENSE && hs_hugify_init(&hc) != 0)
        hs_log(HS_LOG_WARN, "HUGESHIM_HEAP_THP=dense: could not map its state; the heap stays on 4 KiB pages");
}

/* Collapses per pass on a program thread: the malloc that runs the pass
 * waits for them (16 MiB copied: docs/heap.md, Dense and eager heaps). */
#define HS_DENSE_INLINE_COLLAPSES 8

/* Dense mode's pass is due: the next malloc takes the slow path and runs it. */
static void hs_dense_wake(void)
{
    __atomic_store_n(&hs_shim_malloc_fast_below, 0, __ATOMIC_RELEASE);
}

static void hs_dense_start(void)
{
    if (hs_hugify_on() && !hs_epoch_running())
        hs_hugify_inline(HS_HUGIFY_TICK_NS, HS_DENSE_INLINE_COLLAPSES, hs_dense_wake);
}

__attribute__((constructor)) static void hs_shim_constructor(void)
{
    if (hs_shim_state_now() == HS_STATE_ACTIVE) {
        hs_sites_start();
        hs_dense_init();
        hs_tracking_start();
        hs_dense_start();
        if (hs_epoch_running())
            pthread_atfork(NULL, NULL, hs_postfork_child_late);
    }
}

__attribute__((destructor)) static void hs_shim_destructor(void)
{
    if (__atomic_load_n(&hs_shim_state, __ATOMIC_ACQUIRE) != HS_STATE_ACTIVE)
        return;
    hs_epoch_stop();
    hs_tracker_shutdown();
    hs_trace_close();
    hs_shim_report();
}

/* For tests and tools: the hot ranges of the last epoch as (start, end)
 * pairs; returns how many there are (only max are written). */
HS_EXPORT size_t hugeshim_hot_ranges(uintptr_t *pairs, size_t max)
{
    return hs_tracker_hot_ranges(pairs, max);
}

/* For tests and tools: the NUMA node holding the page at addr (a parked
 * unit's page is asked where it waits), or -errno (move_pages status). */
HS_EXPORT int hugeshim_node_of(const void *addr)
{
    /* The unit may come back from staging between the look and the query:
     * then it is at addr on the next look. */
    int status = -1;
    for (int tries = 0; tries < 8; tries++) {
        void *page = (void *)hs_park_locate((uintptr_t)addr);
        int err = (int)hs_os_move_pages(1, &page, NULL, &status);
        if (err)
            return err;
        if (status != -ENOENT)
            break;
    }
    return status;
}

HS_EXPORT unsigned long hugeshim_epochs(void)
{
    return (unsigned long)hs_counter_get(HS_CTR_TRACK_EPOCHS);
}
