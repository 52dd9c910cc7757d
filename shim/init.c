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
#include "../allocator/hs_heap.h"
#include "../allocator/hs_registry.h"
#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../policy/hs_tracker.h"
#include "hs_shim.h"

extern char **environ;
extern char *program_invocation_short_name;

int hs_shim_state;
hs_options_t hs_shim_options;
size_t hs_shim_mmap_min;
char hs_shim_program[256];
bool hs_shim_fork_child;

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
    hs_tracker_prefork();
    hs_backing_prefork();
    hs_registry_prefork();
}

static void hs_postfork_parent(void)
{
    hs_registry_postfork_parent();
    hs_backing_postfork_parent();
    hs_tracker_postfork_parent();
}

static void hs_postfork_child(void)
{
    hs_registry_postfork_child();
    hs_backing_postfork_child();
    hs_tracker_postfork_child();
    hs_shim_fork_child = true;
}

static uint64_t hs_interval_ns(void)
{
    return (uint64_t)hs_shim_options.value[HS_OPT_INTERVAL_MS] * 1000000ULL;
}

/* Registered after jemalloc's handlers, so it runs after jemalloc's child
 * handler: creating the child's epoch thread may allocate. */
static void hs_postfork_child_late(void)
{
    hs_epoch_forget_after_fork();
    hs_tracker_reopen_after_fork();
    if (hs_tracker_backend() != HS_TRACK_OFF && hs_epoch_start(hs_interval_ns()) != 0)
        hs_count(HS_CTR_TRACK_ERRORS, 1);
}

/* Choose and open the tracker backend; the thread starts in the constructor. */
static void hs_tracking_init(void)
{
    const hs_options_t *o = &hs_shim_options;
    hs_track_backend_t requested = (hs_track_backend_t)o->value[HS_OPT_TRACK];
    char why[256];
    hs_track_backend_t backend = hs_tracker_choose(requested, why, sizeof why);
    if (requested != HS_TRACK_OFF && backend == HS_TRACK_OFF)
        hs_log(HS_LOG_WARN, "HUGESHIM_TRACK=%s: %s; tracking is off", hs_track_backend_name(requested), why);
    else
        hs_log(HS_LOG_INFO, "tracking: %s (%s)", hs_track_backend_name(backend), why);
    if (backend == HS_TRACK_OFF)
        return;
    hs_heat_config_t heat = {(unsigned)o->value[HS_OPT_HEAT_DECAY], (unsigned)o->value[HS_OPT_HOT_THRESHOLD]};
    int err = hs_tracker_init(backend, &heat, NULL);
    if (err)
        hs_log(HS_LOG_WARN, "tracking with %s could not start (errno %d); tracking is off",
               hs_track_backend_name(backend), -err);
    else
        pthread_atfork(NULL, NULL, hs_postfork_child_late);
}

static void hs_dump_machine(void)
{
    char value[64];
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const char *shown = hs_shim_options.text[id];
        if (hs_opt_descs[id].type == HS_OPT_ENUM)
            shown = hs_option_enum_name((hs_opt_id_t)id, hs_shim_options.value[id], value, sizeof value);
        hs_log(HS_LOG_INFO, "option HUGESHIM_%s=%s%s", hs_opt_descs[id].name, shown,
               hs_shim_options.from_env[id] ? "" : " (default)");
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
    uint64_t nodes;
    hs_os_numa_nodes(&nodes);
    hs_log(HS_LOG_INFO, "machine: %d NUMA node(s) online (mask 0x%llx)", __builtin_popcountll(nodes),
           (unsigned long long)nodes);
}

/* Decide ACTIVE or PASSTHROUGH and set everything up. */
static hs_state_t hs_initialise(void)
{
    hs_options_parse(&hs_shim_options, environ, hs_option_problem, NULL);
    const hs_options_t *o = &hs_shim_options;
    hs_log_set_level((int)o->value[HS_OPT_VERBOSE]);
    if (hs_os_exe_name(hs_shim_program, sizeof hs_shim_program) != 0)
        snprintf(hs_shim_program, sizeof hs_shim_program, "%s",
                 program_invocation_short_name ? program_invocation_short_name : "?");
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
    static const hs_os_kind_t first_kind[] = {HS_OS_KIND_THP, HS_OS_KIND_HUGETLB_2M, HS_OS_KIND_HUGETLB_1G,
                                              HS_OS_KIND_BASE};
    hs_os_thp_mode_t thp = hs_os_thp_mode();
    hs_backing_config_t config = {
        .first_kind = first_kind[o->value[HS_OPT_BACKING]],
        .retry_ns = (uint64_t)o->value[HS_OPT_RETRY_MS] * 1000000ULL,
        .thp_available = thp == HS_OS_THP_ALWAYS || thp == HS_OS_THP_MADVISE,
    };
    if (!config.thp_available && config.first_kind != HS_OS_KIND_BASE)
        hs_log(HS_LOG_WARN, "THP is %s in this kernel: THP regions will be base pages "
               "(echo madvise > /sys/kernel/mm/transparent_hugepage/enabled)", hs_os_thp_mode_name(thp));
    hs_backing_init(&config, NULL);
    /* Program mmaps are backed unless the control 'none' was asked for. */
    hs_shim_mmap_min = (o->value[HS_OPT_MMAP] && config.first_kind != HS_OS_KIND_BASE)
                           ? (size_t)o->value[HS_OPT_MMAP_MIN] : 0;
    /* Registered before jemalloc registers its own handlers: prepare handlers
     * run last-registered first, so jemalloc's locks are taken before ours, in
     * the order its extent hooks take them. */
    pthread_atfork(hs_prefork, hs_postfork_parent, hs_postfork_child);
    if (hs_heap_init() != 0) {
        hs_log(HS_LOG_WARN, "jemalloc refused hugeshim's extent hooks: running %s without hugeshim",
               hs_shim_program);
        return HS_STATE_PASSTHROUGH;
    }
    if (hs_log_level() >= HS_LOG_INFO)
        hs_dump_machine();
    hs_tracking_init();
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
        errno = saved;
        return s;
    }
    /* Another thread is initialising: wait for it. */
    int s;
    while ((s = __atomic_load_n(&hs_shim_state, __ATOMIC_ACQUIRE)) == HS_STATE_INITIALIZING)
        sched_yield();
    return (hs_state_t)s;
}

/* The epoch thread starts here, after initialisation (which may have run
 * inside an earlier malloc, where creating a thread would recurse). */
__attribute__((constructor)) static void hs_shim_constructor(void)
{
    if (hs_shim_state_now() == HS_STATE_ACTIVE && hs_tracker_backend() != HS_TRACK_OFF &&
        hs_epoch_start(hs_interval_ns()) != 0) {
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        hs_log(HS_LOG_WARN, "could not start the epoch thread: tracking is off");
    }
}

__attribute__((destructor)) static void hs_shim_destructor(void)
{
    if (__atomic_load_n(&hs_shim_state, __ATOMIC_ACQUIRE) != HS_STATE_ACTIVE)
        return;
    hs_epoch_stop();
    hs_shim_report();
}

/* For tests and tools: the hot ranges of the last epoch as (start, end)
 * pairs; returns how many there are (only max are written). */
HS_EXPORT size_t hugeshim_hot_ranges(uintptr_t *pairs, size_t max)
{
    return hs_tracker_hot_ranges(pairs, max);
}

HS_EXPORT unsigned long hugeshim_epochs(void)
{
    return (unsigned long)hs_counter_get(HS_CTR_TRACK_EPOCHS);
}
