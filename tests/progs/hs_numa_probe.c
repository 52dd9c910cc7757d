/* hs_numa_probe: NUMA actions for the NUMA lab, run under the shim so that
 * the memory it moves is hugeshim-managed.  Prints key=value lines.
 *   heap-move           malloc 64 MiB, move its first page 0 -> 1 -> 0
 *   thp-move            mmap 8 MiB (a THP region), move all of it to node 1
 *   bind NODE SIZE      MPOL_BIND to NODE, malloc SIZE, report page size and node
 *   autonuma SECONDS    memory placed on node 0, the thread on node 1's CPUs:
 *                       touch it until AutoNUMA moves it (or time runs out)
 *   place MIB PATTERN WRITERS KIND EPOCHS
 *                       hugeshim's placement: MIB of memory (KIND heap: malloc;
 *                       mmap; mbind: mmap bound to node 0 with mbind) first
 *                       touched on node 0 (halves: interleaved over 0 and 1),
 *                       then hot units (PATTERN contig:N, every:K, one)
 *                       accessed as WRITERS says (a scenario, see
 *                       scenario_want below: node1, node1-read, halves, mixed,
 *                       shared-read, alternate) for EPOCHS epochs; prints how
 *                       local the hot bytes were at each epoch and what moved
 *   numa-bench MIB PATTERN WRITERS SECONDS
 *                       the same scenarios timed for bench/numa.sh
 *   tier MIB EVERY read|write|write-fork|idle EPOCHS
 *                       tiering on a lab with a memory-only node (cmd_tier)
 *   park-copy MIB EPOCHS
 *                       the sampler's copy-back keeps pages on their node
 *                       (cmd_park_copy)
 *   tier-shift MIB EVERY read|write PHASES EPOCHS
 *                       a hot set that shifts, on a heap larger than the
 *                       fast nodes (cmd_tier_shift)
 *   move-speed UNITS WRITERS
 *                       the kernel's cost of moving THPs that threads are
 *                       writing, without hugeshim (cmd_move_speed)
 *   split-mend MIB EPOCHS
 *                       THPs the kernel split on their way to a node cut
 *                       into pieces, made huge again (cmd_split_mend) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <numaif.h>
#include <unistd.h>

#include "../../os/hs_os.h"

#define MIB (1024UL * 1024UL)
#define PAGE 4096UL

static void die(const char *what)
{
    fprintf(stderr, "hs_numa_probe: FAILED: %s (errno %d)\n", what, errno);
    exit(1);
}
#define CHECK(c)                                                                                       \
    do {                                                                                               \
        if (!(c))                                                                                      \
            die(#c);                                                                                   \
    } while (0)

static char smaps_buf[4 << 20];

static void print_vma(const char *prefix, void *addr)
{
    hs_os_vma_info_t info;
    CHECK(hs_os_vma_info((uintptr_t)addr, smaps_buf, sizeof smaps_buf, &info) == 0);
    printf("%sanon_huge_kb=%llu\n%skernel_page_kb=%llu\n", prefix, (unsigned long long)info.anon_huge_bytes / 1024,
           prefix, (unsigned long long)info.kernel_page_bytes / 1024);
}

/* The whole process's AnonHugePages: a parked unit's huge page is in
 * staging, still counted here, while its own VMA shows none. */
static void print_rollup(const char *prefix)
{
    static char buf[8192];
    CHECK(hs_os_read_file("/proc/self/smaps_rollup", buf, sizeof buf) > 0);
    char *p = strstr(buf, "AnonHugePages:");
    printf("%srollup_anon_huge_kb=%lu\n", prefix, p ? strtoul(p + 14, NULL, 10) : 0UL);
}

static int node_of(void *page)
{
    int status = -1;
    CHECK(hs_os_move_pages(1, &page, NULL, &status) == 0);
    return status;
}

static unsigned long vmstat(const char *name)
{
    static char buf[16384];
    CHECK(hs_os_read_file("/proc/vmstat", buf, sizeof buf) > 0);
    size_t n = strlen(name);
    for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == ' ')
            return strtoul(p + n + 1, NULL, 10);
    return 0;
}

static int cmd_heap_move(void)
{
    char *p = malloc(64 * MIB);
    CHECK(p);
    memset(p, 1, 64 * MIB);
    void *page = (void *)((uintptr_t)(p + 32 * MIB) & ~(PAGE - 1));
    printf("start_node=%d\n", node_of(page));
    int to = 1, status = -100;
    CHECK(hs_os_move_pages(1, &page, &to, &status) >= 0);
    printf("move1_status=%d\nafter_move1_node=%d\n", status, node_of(page));
    to = 0;
    CHECK(hs_os_move_pages(1, &page, &to, &status) >= 0);
    printf("move0_status=%d\nafter_move0_node=%d\n", status, node_of(page));
    CHECK(p[32 * MIB] == 1);
    print_vma("", page);
    free(p);
    return 0;
}

static int cmd_thp_move(void)
{
    size_t len = 8 * MIB;
    /* Placed on node 0 first, wherever this thread runs. */
    CHECK(hs_os_set_mempolicy(2 /* MPOL_BIND */, 1ULL << 0) == 0);
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 7, len);
    CHECK(hs_os_set_mempolicy(0, 0) == 0);
    print_vma("before_", p);
    printf("before_node=%d\n", node_of(p));
    size_t n = len / PAGE;
    void **pages = calloc(n, sizeof *pages);
    int *nodes = calloc(n, sizeof *nodes), *status = calloc(n, sizeof *status);
    CHECK(pages && nodes && status);
    for (size_t i = 0; i < n; i++) {
        pages[i] = p + i * PAGE;
        nodes[i] = 1;
    }
    unsigned long success_before = vmstat("thp_migration_success");
    unsigned long split_before = vmstat("thp_migration_split");
    long rc = hs_os_move_pages(n, pages, nodes, status);
    size_t on1 = 0;
    for (size_t i = 0; i < n; i++) {
        on1 += status[i] == 1;
        if (status[i] != 1)
            printf("page_%zu_status=%d\n", i, status[i]);
    }
    printf("move_rc=%ld\npages_on_node1=%zu\npages=%zu\n", rc, on1, n);
    CHECK(hs_os_move_pages(n, pages, NULL, status) == 0);
    size_t now_on1 = 0;
    for (size_t i = 0; i < n; i++)
        now_on1 += status[i] == 1;
    printf("queried_on_node1=%zu\n", now_on1);
    printf("thp_migration_success=%lu\nthp_migration_split=%lu\n", vmstat("thp_migration_success") - success_before,
           vmstat("thp_migration_split") - split_before);
    print_vma("after_", p);
    for (size_t i = 0; i < len; i += PAGE)
        CHECK(p[i] == 7);
    munmap(p, len);
    return 0;
}

static int cmd_bind(int node, size_t size)
{
    CHECK(hs_os_set_mempolicy(2 /* MPOL_BIND */, 1ULL << node) == 0);
    char *p = malloc(size);
    CHECK(p);
    memset(p, 3, size);
    print_vma("", p + size / 2);
    printf("node=%d\n", node_of((void *)((uintptr_t)(p + size / 2) & ~(PAGE - 1))));
    free(p);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pin_to_node(int node)
{
    char cpus[64];
    CHECK(hs_os_node_cpulist(node, cpus, sizeof cpus) == 0);
    cpu_set_t set;
    CPU_ZERO(&set);
    int a = atoi(cpus), b = strchr(cpus, '-') ? atoi(strchr(cpus, '-') + 1) : a;
    for (int c = a; c <= b; c++)
        CPU_SET(c, &set);
    CHECK(sched_setaffinity(0, sizeof set, &set) == 0);
}

static int cmd_autonuma(int seconds)
{
    size_t len = 32 * MIB, n = len / PAGE;
    /* First touch on node 0, then back to the default policy: AutoNUMA only
     * moves pages of tasks and VMAs without an explicit policy. */
    CHECK(hs_os_set_mempolicy(2, 1ULL << 0) == 0);
    volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    for (size_t i = 0; i < len; i += PAGE)
        p[i] = 1;
    CHECK(hs_os_set_mempolicy(0, 0) == 0);
    pin_to_node(1);
    void **pages = calloc(n, sizeof *pages);
    int *status = calloc(n, sizeof *status);
    CHECK(pages && status);
    for (size_t i = 0; i < n; i++)
        pages[i] = (void *)(p + i * PAGE);
    CHECK(hs_os_move_pages(n, pages, NULL, status) == 0);
    size_t start_on0 = 0;
    for (size_t i = 0; i < n; i++)
        start_on0 += status[i] == 0;
    printf("start_pages_on_node0=%zu\npages=%zu\n", start_on0, n);
    double t0 = now(), first_move = -1;
    size_t on1 = 0;
    while (now() - t0 < seconds) {
        for (size_t i = 0; i < len; i += 64)
            p[i]++;
        CHECK(hs_os_move_pages(n, pages, NULL, status) == 0);
        on1 = 0;
        for (size_t i = 0; i < n; i++)
            on1 += status[i] == 1;
        if (on1 && first_move < 0)
            first_move = now() - t0;
        if (on1 >= n / 2)
            break;
    }
    printf("pages_on_node1=%zu\nfirst_move_s=%.1f\nelapsed_s=%.1f\nnuma_pages_migrated=%lu\n", on1, first_move,
           now() - t0, vmstat("numa_pages_migrated"));
    return 0;
}

/* ---- placement ------------------------------------------------------------ */

#define UNIT (2 * MIB)

struct writer {
    int node;
    char *base;
    const size_t *units; /* hot unit indexes */
    size_t first, count;
    int turn;  /* alternate: writes only while *turn_now == turn; -1 always */
    bool read; /* reads the units, never writes them */
};
static volatile int stop_writers, turn_now;
static volatile unsigned long read_sink;

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    pin_to_node(w->node);
    unsigned long sum = 0;
    while (!stop_writers) {
        if (w->turn < 0 || w->turn == turn_now)
            for (size_t i = w->first; i < w->first + w->count; i++)
                for (size_t off = 0; off < UNIT; off += 4096) {
                    if (w->read)
                        sum += ((volatile char *)w->base)[w->units[i] * UNIT + off];
                    else
                        ((volatile char *)w->base)[w->units[i] * UNIT + off]++;
                }
        usleep(1000);
    }
    read_sink += sum;
    return NULL;
}

/* The access scenarios (WRITERS of place and numa-bench), each with the node
 * every hot unit should end on:
 *   node1        one thread on node 1 writes every hot unit: node 1
 *   node1-read   one thread on node 1 only reads them: node 1
 *   halves       threads on nodes 0 and 1 write a half each (memory
 *                interleaved): each half on its thread's node
 *   mixed        a thread on node 0 reads the first half (a table placed on
 *                node 1), a thread on node 1 writes the second half (a
 *                buffer on node 0): each half on its thread's node
 *   shared-read  threads on nodes 0 and 1 both read every hot unit: they
 *                stay where they are (node 0)
 *   alternate    nodes 0 and 1 write every hot unit in turns, epoch by epoch */
static int scenario_want(const char *who, size_t i, size_t nhot)
{
    if (!strcmp(who, "halves") || !strcmp(who, "mixed"))
        return i < nhot / 2 ? 0 : 1;
    if (!strcmp(who, "shared-read"))
        return 0;
    return 1;
}

/* The threads of a scenario; returns how many. */
static int scenario_threads(const char *who, char *base, const size_t *hot, size_t nhot, struct writer *w)
{
    if (!strcmp(who, "node1") || !strcmp(who, "node1-read")) {
        w[0] = (struct writer){1, base, hot, 0, nhot, -1, !strcmp(who, "node1-read")};
        return 1;
    }
    if (!strcmp(who, "halves")) {
        w[0] = (struct writer){0, base, hot, 0, nhot / 2, -1, false};
        w[1] = (struct writer){1, base, hot, nhot / 2, nhot - nhot / 2, -1, false};
    } else if (!strcmp(who, "mixed")) {
        w[0] = (struct writer){0, base, hot, 0, nhot / 2, -1, true};
        w[1] = (struct writer){1, base, hot, nhot / 2, nhot - nhot / 2, -1, false};
    } else if (!strcmp(who, "shared-read")) {
        w[0] = (struct writer){0, base, hot, 0, nhot, -1, true};
        w[1] = (struct writer){1, base, hot, 0, nhot, -1, true};
    } else {
        w[0] = (struct writer){0, base, hot, 0, nhot, 0, false};
        w[1] = (struct writer){1, base, hot, 0, nhot, 1, false};
    }
    return 2;
}

/* move_pages to node 1 of every page given, through libnuma's symbol (the
 * shim's under hugeshim) as a program would move them; dies naming the
 * first page that did not arrive.  (The pages after a THP's first report
 * -EBUSY: the first moved them all; asked again, they are on node 1.) */
static void move_all_to_node1(size_t n, void **pages, int *nodes, int *status)
{
    for (size_t i = 0; i < n; i++)
        nodes[i] = 1;
    long rc = move_pages(0, n, pages, nodes, status, MPOL_MF_MOVE);
    if (rc == 0)
        rc = move_pages(0, n, pages, NULL, status, 0);
    for (size_t i = 0; i < n; i++)
        if (rc != 0 || status[i] != 1) {
            fprintf(stderr, "hs_numa_probe: FAILED: move_pages returned %ld, page %zu of %zu at %p: status %d\n", rc,
                    i, n, pages[i], status[i]);
            exit(1);
        }
}

/* mixed: the table (the first half of the hot units) starts on node 1,
 * moved with libnuma's move_pages as a program would (hugeshim's own, which
 * puts back a unit its sampler holds aside).  Every page must arrive. */
static void scenario_place(const char *who, char *base, const size_t *hot, size_t nhot)
{
    if (strcmp(who, "mixed"))
        return;
    static void *pages[65536];
    static int nodes[65536], status[65536];
    size_t n = 0;
    for (size_t i = 0; i < nhot / 2; i++)
        for (size_t off = 0; off < UNIT && n < 65536; off += 4096)
            pages[n++] = base + hot[i] * UNIT + off;
    move_all_to_node1(n, pages, nodes, status);
}

static unsigned long (*hs_epochs)(void);

/* hugeshim's epoch count (hugeshim_epochs), looked up once; without
 * hugeshim, dies when required, else false. */
static bool find_epochs(bool required)
{
    if (!hs_epochs)
        hs_epochs = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    if (required)
        CHECK(hs_epochs);
    return hs_epochs != NULL;
}

static void wait_epoch(void)
{
    unsigned long start = hs_epochs();
    for (int spins = 0; hs_epochs() == start; spins++) {
        usleep(10000);
        CHECK(spins < 12000); /* 120 s without an epoch */
    }
}

/* Node of each unit's first page.  Under hugeshim, asked through
 * hugeshim_node_of: a unit the access sampler has parked for the epoch has
 * its pages aside, where move_pages on the unit's address finds none. */
static void unit_nodes(char *base, size_t nunits, int *status)
{
    static void *pages[65536];
    static int (*hs_node_of)(const void *);
    static bool looked;
    if (!looked)
        hs_node_of = (int (*)(const void *))dlsym(RTLD_DEFAULT, "hugeshim_node_of");
    looked = true;
    CHECK(nunits <= 65536);
    if (hs_node_of) {
        for (size_t u = 0; u < nunits; u++)
            status[u] = hs_node_of(base + u * UNIT);
        return;
    }
    for (size_t u = 0; u < nunits; u++)
        pages[u] = base + u * UNIT;
    CHECK(hs_os_move_pages(nunits, pages, NULL, status) == 0);
}

static int cmd_place(size_t mib, const char *pattern, const char *writers, const char *kind, int epochs)
{
    find_epochs(true);
    size_t nunits = mib * MIB / UNIT;
    bool halves = !strcmp(writers, "halves");
    /* First touch on node 0 (or both, interleaved), from a CPU of node 0. */
    pin_to_node(0);
    CHECK(hs_os_set_mempolicy(halves ? 3 /* MPOL_INTERLEAVE */ : 2 /* MPOL_BIND */, halves ? 3 : 1) == 0);
    char *base;
    if (!strcmp(kind, "heap")) {
        char *raw = malloc(nunits * UNIT + UNIT);
        CHECK(raw);
        base = (char *)(((uintptr_t)raw + UNIT - 1) & ~(uintptr_t)(UNIT - 1));
        nunits = (size_t)(raw + nunits * UNIT + UNIT - base) / UNIT;
    } else {
        base = mmap(NULL, nunits * UNIT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(base != MAP_FAILED);
        CHECK(((uintptr_t)base & (UNIT - 1)) == 0);
        if (!strcmp(kind, "mbind")) {
            unsigned long mask = 1;
            CHECK(syscall(SYS_mbind, base, nunits * UNIT, 2 /* MPOL_BIND */, &mask, 65, 0) == 0);
        }
    }
    memset(base, 1, nunits * UNIT);
    CHECK(hs_os_set_mempolicy(0, 0) == 0);
    size_t *hot = calloc(nunits, sizeof *hot), nhot = 0;
    char *is_hot = calloc(nunits, 1);
    print_vma("before_", base);
    print_rollup("before_");
    CHECK(hot && is_hot);
    for (size_t u = 0; u < nunits; u++) {
        bool h = !strncmp(pattern, "contig:", 7) ? u < (size_t)atoi(pattern + 7)
                 : !strncmp(pattern, "every:", 6) ? u % (size_t)atoi(pattern + 6) == 0
                                                   : u == 0;
        if (h) {
            hot[nhot++] = u;
            is_hot[u] = 1;
        }
    }
    int *status = calloc(nunits, sizeof *status), *start_node = calloc(nunits, sizeof *start_node);
    CHECK(status && start_node);
    scenario_place(writers, base, hot, nhot);
    unit_nodes(base, nunits, start_node);
    unsigned long thp_ok0 = vmstat("thp_migration_success"), thp_split0 = vmstat("thp_migration_split");
    /* Two quiet epochs: the first touch's samples fade and the memory is
     * armed.  Where an epoch began during the fill, hugeshim saw node 0's
     * thread write what it reached then, and may move what of it sat on
     * node 1 toward that writer: units the threads below never touch are
     * cold only from here, where they are now. */
    wait_epoch();
    wait_epoch();
    size_t fill_moved = 0;
    unit_nodes(base, nunits, status);
    for (size_t u = 0; u < nunits; u++) {
        fill_moved += status[u] != start_node[u];
        start_node[u] = status[u];
    }
    printf("moved_after_fill=%zu\n", fill_moved);
    struct writer w[2];
    pthread_t t[2];
    int nthreads = scenario_threads(writers, base, hot, nhot, w);
    for (int i = 0; i < nthreads; i++)
        CHECK(pthread_create(&t[i], NULL, writer_main, &w[i]) == 0);
    int epochs_to_90 = -1;
    size_t local = 0;
    double t0 = now();
    for (int e = 1; e <= epochs; e++) {
        wait_epoch();
        printf("epoch_%d_s=%.2f\n", e, now() - t0); /* since the threads started: an epoch may end early */
        turn_now = e % 2;
        unit_nodes(base, nunits, status);
        local = 0;
        for (size_t i = 0; i < nhot; i++)
            local += status[hot[i]] == scenario_want(writers, i, nhot);
        printf("epoch_%d_hot_local=%zu\n", e, local);
        if (epochs_to_90 < 0 && local * 10 >= nhot * 9)
            epochs_to_90 = e;
    }
    stop_writers = 1;
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    unit_nodes(base, nunits, status);
    size_t cold_moved = 0, cold = 0, changed = 0;
    for (size_t u = 0; u < nunits; u++) {
        changed += status[u] != start_node[u];
        if (!is_hot[u]) {
            cold++;
            cold_moved += status[u] != start_node[u];
        }
    }
    printf("hot_units=%zu\nhot_local=%zu\nepochs_to_90=%d\ncold_units=%zu\ncold_moved=%zu\nunits_changed_node=%zu\n",
           nhot, local, epochs_to_90, cold, cold_moved, changed);
    /* Which hot units are not where the scenario wants them, and where they
     * started and are: unit:start:now (a negative node is a move_pages
     * status). */
    printf("hot_elsewhere=");
    for (size_t i = 0; i < nhot; i++)
        if (status[hot[i]] != scenario_want(writers, i, nhot))
            printf("%zu:%d:%d,", hot[i], start_node[hot[i]], status[hot[i]]);
    printf("\ncold_moved_units=");
    for (size_t u = 0; u < nunits; u++)
        if (!is_hot[u] && status[u] != start_node[u])
            printf("%zu:%d:%d,", u, start_node[u], status[u]);
    printf("\n");
    printf("thp_migration_success=%lu\nthp_migration_split=%lu\n", vmstat("thp_migration_success") - thp_ok0,
           vmstat("thp_migration_split") - thp_split0);
    print_vma("after_", base);
    print_rollup("after_");
    for (size_t u = 0; u < nunits; u++)
        /* The data survived the moves: a byte the writers never touch (they
         * increment the first byte of each page, which wraps to 0 one time
         * in 256) still holds what memset wrote. */
        CHECK(base[u * UNIT + 4096 + 1] == 1);
    return 0;
}

/* numa-bench MIB PATTERN WRITERS SECONDS: the placement benchmark's
 * workload, timed without relying on hugeshim's epochs (the same program runs
 * with placement off, AutoNUMA alone, both, neither).  Memory first touched on
 * node 0 (interleaved for halves); writers update random words of the hot
 * units; every 100 ms the hot units' nodes are queried.  Prints the seconds
 * to 90% and 100% of hot bytes local, updates per second in the first and the
 * last second and over the second half (late_mups), and the kernel's
 * migration counters over the run. */
struct bench_writer {
    struct writer how; /* node, units, and whether it only reads */
    unsigned long updates;
};

static void *bench_writer_main(void *arg)
{
    struct bench_writer *w = arg;
    pin_to_node(w->how.node);
    uint64_t x = 88172645463325252ULL + (uint64_t)w->how.node, sum = 0;
    while (!stop_writers) {
        for (int i = 0; i < 4096; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t u = w->how.units[w->how.first + x % w->how.count];
            volatile uint64_t *word = (volatile uint64_t *)(w->how.base + u * UNIT) + (x >> 20) % (UNIT / 8);
            if (w->how.read)
                sum += *word;
            else
                (*word)++;
        }
        __atomic_add_fetch(&w->updates, 4096, __ATOMIC_RELAXED);
    }
    read_sink += sum;
    return NULL;
}

/* The updates of n writers so far. */
static unsigned long bench_updates(struct bench_writer *w, int n)
{
    unsigned long u = 0;
    for (int i = 0; i < n; i++)
        u += __atomic_load_n(&w[i].updates, __ATOMIC_RELAXED);
    return u;
}

static int cmd_numa_bench(size_t mib, const char *pattern, const char *writers, double seconds)
{
    static const char *names[] = {"numa_pte_updates", "numa_hint_faults", "numa_pages_migrated", "pgmigrate_success",
                                  "thp_migration_success", "thp_migration_split"};
    size_t nunits = mib * MIB / UNIT;
    bool halves = !strcmp(writers, "halves");
    pin_to_node(0);
    CHECK(hs_os_set_mempolicy(halves ? 3 : 2, halves ? 3 : 1) == 0);
    char *raw = malloc(nunits * UNIT + UNIT);
    CHECK(raw);
    char *base = (char *)(((uintptr_t)raw + UNIT - 1) & ~(uintptr_t)(UNIT - 1));
    memset(base, 1, nunits * UNIT);
    CHECK(hs_os_set_mempolicy(0, 0) == 0);
    size_t *hot = calloc(nunits, sizeof *hot), nhot = 0;
    CHECK(hot);
    for (size_t u = 0; u < nunits; u++)
        if (!strncmp(pattern, "contig:", 7) ? u < (size_t)atoi(pattern + 7) : u % (size_t)atoi(pattern + 6) == 0)
            hot[nhot++] = u;
    int *status = calloc(nunits, sizeof *status), *start_node = calloc(nunits, sizeof *start_node);
    CHECK(status && start_node);
    unit_nodes(base, nunits, start_node);
    scenario_place(writers, base, hot, nhot);
    unit_nodes(base, nunits, start_node);
    size_t misplaced = 0;
    for (size_t i = 0; i < nhot; i++)
        misplaced += start_node[hot[i]] != scenario_want(writers, i, nhot);
    unsigned long before[6];
    for (int i = 0; i < 6; i++)
        before[i] = vmstat(names[i]);
    struct bench_writer w[2];
    struct writer how[2];
    pthread_t t[2];
    int nthreads = scenario_threads(writers, base, hot, nhot, how);
    for (int i = 0; i < nthreads; i++)
        w[i] = (struct bench_writer){how[i], 0};
    for (int i = 0; i < nthreads; i++)
        CHECK(pthread_create(&t[i], NULL, bench_writer_main, &w[i]) == 0);
    double t0 = now(), t90 = -1, t100 = -1, first_rate = -1, last_rate = 0, half_t = -1;
    unsigned long last_updates = 0, half_updates = 0;
    double last_t = t0, mark = t0;
    while (now() - t0 < seconds) {
        usleep(100000);
        unit_nodes(base, nunits, status);
        size_t local = 0;
        for (size_t i = 0; i < nhot; i++)
            local += status[hot[i]] == scenario_want(writers, i, nhot);
        double el = now() - t0;
        if (getenv("HS_BENCH_TRACE")) /* the timeline, between hugeshim's own log lines */
            fprintf(stderr, "bench: t=%.2f local=%zu/%zu\n", el, local, nhot);
        if (t90 < 0 && local * 10 >= nhot * 9)
            t90 = el;
        if (t100 < 0 && local == nhot)
            t100 = el;
        if (now() - mark >= 1.0) {
            unsigned long u = bench_updates(w, nthreads);
            double rate = (double)(u - last_updates) / (now() - last_t) / 1e6;
            if (first_rate < 0)
                first_rate = rate;
            last_rate = rate;
            if (half_t < 0 && now() - t0 >= seconds / 2) { /* the second half's mean, below */
                half_t = now();
                half_updates = u;
            }
            last_updates = u;
            last_t = mark = now();
        }
    }
    double late_rate = half_t > 0 ? (double)(bench_updates(w, nthreads) - half_updates) / (now() - half_t) / 1e6 : -1;
    stop_writers = 1;
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    unit_nodes(base, nunits, status);
    size_t cold_moved = 0, local = 0;
    for (size_t u = 0, i = 0; u < nunits; u++) {
        bool is_hot = i < nhot && hot[i] == u;
        if (is_hot) {
            local += status[u] == scenario_want(writers, i, nhot);
            i++;
        } else {
            cold_moved += status[u] != start_node[u];
        }
    }
    printf("hot_units=%zu\nmisplaced_units=%zu\nhot_local=%zu\ncold_moved=%zu\nt90_s=%.2f\nt100_s=%.2f\n"
           "first_mups=%.3f\nlast_mups=%.3f\nlate_mups=%.3f\n",
           nhot, misplaced, local, cold_moved, t90, t100, first_rate, last_rate, late_rate);
    for (int i = 0; i < 6; i++)
        printf("%s=%lu\n", names[i], vmstat(names[i]) - before[i]);
    return 0;
}

/* The tiering commands' data: each 4 KiB page of a heap filled with a byte
 * of its own, checked at its second and last byte (a writer increments the
 * first byte of each page of its units). */
static unsigned char page_pattern(size_t off)
{
    return (unsigned char)((off / PAGE) * 7 % 251 + 1);
}

static void fill_pattern(char *base, size_t len)
{
    for (size_t off = 0; off < len; off += PAGE)
        memset(base + off, page_pattern(off), PAGE);
}

/* Pages whose checked bytes differ from the pattern. */
static size_t wrong_pages(const char *base, size_t len)
{
    size_t wrong = 0;
    for (size_t off = 0; off < len; off += PAGE)
        wrong += (unsigned char)base[off + 1] != page_pattern(off) ||
                 (unsigned char)base[off + PAGE - 1] != page_pattern(off);
    return wrong;
}

/* tier MIB EVERY ACCESS EPOCHS: tiering, on a lab with memory-only nodes.
 *   read, write  MIB of heap first touched on the last node (slow, no
 *                CPUs); a thread on node 0 reads or writes every EVERY-th
 *                2 MiB unit; per epoch, how many hot units are on a node
 *                with CPUs (fast), and at the end how many cold units left
 *                the slow node;
 *   write-fork   the same, and at every epoch the process forks a child
 *                that checks every byte of the heap and exits (children
 *                that found a wrong byte or died: fork_failures);
 *   idle         a heap that fills node 0 up to MIB MiB of free memory,
 *                each page written with its own pattern, then left alone
 *                for EPOCHS epochs; per epoch, how many of its units are on
 *                a slow node, node 0's free memory, and at the end whether
 *                every byte is intact. */
static int cmd_tier(size_t mib, size_t every, const char *access, int epochs)
{
    find_epochs(true);
    uint64_t online;
    CHECK(hs_os_numa_nodes(&online) == 0);
    int slow = 63 - __builtin_clzll(online);
    char cpus[64];
    CHECK(hs_os_node_cpulist(slow, cpus, sizeof cpus) == 0);
    CHECK(cpus[0] == 0 || cpus[0] == '\n'); /* the last node has no CPUs */
    pin_to_node(0);
    bool idle = !strcmp(access, "idle");
    size_t len;
    if (idle) {
        int64_t free_bytes = hs_os_node_free_bytes(0);
        CHECK(free_bytes > (int64_t)(mib * MIB + 64 * MIB));
        len = ((size_t)free_bytes - mib * MIB) & ~(UNIT - 1);
        CHECK(hs_os_set_mempolicy(1 /* MPOL_PREFERRED */, 1) == 0);
    } else {
        len = mib * MIB;
        CHECK(hs_os_set_mempolicy(2 /* MPOL_BIND */, 1ULL << slow) == 0);
    }
    char *raw = malloc(len + UNIT);
    CHECK(raw);
    char *base = (char *)(((uintptr_t)raw + UNIT - 1) & ~(uintptr_t)(UNIT - 1));
    size_t nunits = len / UNIT;
    fill_pattern(base, nunits * UNIT);
    CHECK(hs_os_set_mempolicy(0, 0) == 0);
    print_rollup("before_");
    int *status = calloc(nunits, sizeof *status);
    size_t *hot = calloc(nunits, sizeof *hot), nhot = 0;
    CHECK(status && hot);
    for (size_t u = 0; !idle && u < nunits; u += every)
        hot[nhot++] = u;
    unsigned long thp_split0 = vmstat("thp_migration_split");
    unit_nodes(base, nunits, status);
    size_t before_slow = 0;
    for (size_t u = 0; u < nunits; u++)
        before_slow += status[u] == slow;
    printf("units=%zu\nhot_units=%zu\nslow_node=%d\nbefore_on_slow=%zu\nbefore_node0_free_mib=%lld\n", nunits, nhot,
           slow, before_slow, (long long)(hs_os_node_free_bytes(0) >> 20));
    wait_epoch();
    /* The units that left the slow node with no thread reading or writing
     * them yet: an epoch that began during the fill saw it write them (a
     * unit written is hot).  Cold units must not move from here on. */
    int *start = calloc(nunits, sizeof *start);
    CHECK(start);
    if (!idle) {
        wait_epoch();
        unit_nodes(base, nunits, start);
        size_t fill_moved = 0;
        for (size_t u = 0; u < nunits; u++)
            fill_moved += start[u] != status[u];
        printf("moved_after_fill=%zu\n", fill_moved);
    }
    pthread_t t;
    struct writer w = {0, base, hot, 0, nhot, -1, !strcmp(access, "read")};
    if (!idle)
        CHECK(pthread_create(&t, NULL, writer_main, &w) == 0);
    size_t fast = 0, on_slow = 0;
    int epochs_to_90 = -1, fork_failures = 0;
    bool forks = !strcmp(access, "write-fork");
    for (int e = 1; e <= epochs; e++) {
        wait_epoch();
        if (forks) {
            pid_t pid = fork();
            CHECK(pid >= 0);
            if (pid == 0) {
                /* The writer is the parent's: here nothing changes the heap. */
                _exit(wrong_pages(base, nunits * UNIT) ? 1 : 0);
            }
            int st = 0;
            CHECK(waitpid(pid, &st, 0) == pid);
            fork_failures += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        }
        unit_nodes(base, nunits, status);
        fast = on_slow = 0;
        for (size_t i = 0; i < nhot; i++)
            fast += status[hot[i]] >= 0 && status[hot[i]] != slow;
        for (size_t u = 0; u < nunits; u++)
            on_slow += status[u] == slow;
        if (idle)
            printf("epoch_%d_on_slow=%zu\nepoch_%d_node0_free_mib=%lld\n", e, on_slow, e,
                   (long long)(hs_os_node_free_bytes(0) >> 20));
        else
            printf("epoch_%d_hot_fast=%zu\n", e, fast);
        if (!idle && epochs_to_90 < 0 && fast * 10 >= nhot * 9)
            epochs_to_90 = e;
    }
    stop_writers = 1;
    if (!idle)
        pthread_join(t, NULL);
    size_t cold_moved = 0;
    for (size_t u = 0; !idle && u < nunits; u++)
        cold_moved += u % every != 0 && status[u] != start[u];
    printf("hot_fast=%zu\non_slow=%zu\ncold_moved=%zu\nepochs_to_90=%d\nnode0_free_mib=%lld\nfork_failures=%d\n", fast,
           on_slow, cold_moved, epochs_to_90, (long long)(hs_os_node_free_bytes(0) >> 20), fork_failures);
    printf("cold_moved_units=");
    for (size_t u = 0; !idle && u < nunits; u++)
        if (u % every != 0 && status[u] != start[u])
            printf("%zu:%d:%d,", u, start[u], status[u]);
    printf("\nthp_migration_split=%lu\n", vmstat("thp_migration_split") - thp_split0);
    print_rollup("after_");
    printf("intact=%d\n", wrong_pages(base, nunits * UNIT) == 0);
    return 0;
}

/* The free 2 MiB blocks per node and zone at an epoch where a migration
 * split a THP (/proc/buddyinfo, orders 9 and 10). */
static void print_buddyinfo(int phase, int epoch)
{
    static char buf[4096];
    CHECK(hs_os_read_file("/proc/buddyinfo", buf, sizeof buf) > 0);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        printf("phase_%d_epoch_%d_buddyinfo: %s\n", phase, epoch, line);
}

/* tier-shift MIB EVERY ACCESS PHASES EPOCHS_PER_PHASE: a heap of MIB
 * first touched from node 0 (filling the fast nodes, the rest on the slow
 * one), then a thread on node 0 reads or writes a hot set of every EVERY-th
 * unit, shifted by one unit at each phase (phase p: units u with u % EVERY
 * == p).  Per epoch: the share of the hot set on fast nodes; per phase, the
 * epochs to 90%; at the end, units moved back and forth between the tiers
 * (a unit that went up then down then up, or down-up-down, counted once)
 * and whether every byte survived.  The epochs are hugeshim's
 * (hugeshim_epochs) when it is loaded, else (or with HS_PROBE_WALL set)
 * steps of 1 s (HS_PROBE_STEP_MS): the benchmark compares variants without
 * hugeshim's epochs. */
static int cmd_tier_shift(size_t mib, size_t every, const char *access, int phases, int per_phase)
{
    bool wall = !find_epochs(false) || getenv("HS_PROBE_WALL");
    uint64_t online;
    CHECK(hs_os_numa_nodes(&online) == 0);
    int slow = 63 - __builtin_clzll(online);
    /* In wall-clock mode a step of HS_PROBE_STEP_MS (1000) stands for an
     * epoch; HS_PROBE_FILL_SLOW fills the whole heap on the slow node (a
     * heap smaller than the fast nodes, all of it to be promoted). */
    const char *step_env = getenv("HS_PROBE_STEP_MS");
    useconds_t step_us = (useconds_t)(step_env && atoi(step_env) > 0 ? atoi(step_env) : 1000) * 1000;
    bool fill_slow = getenv("HS_PROBE_FILL_SLOW") != NULL;
    pin_to_node(0);
    size_t len = mib * MIB;
    char *raw = malloc(len + UNIT);
    CHECK(raw);
    char *base = (char *)(((uintptr_t)raw + UNIT - 1) & ~(uintptr_t)(UNIT - 1));
    size_t nunits = len / UNIT;
    if (fill_slow)
        CHECK(hs_os_set_mempolicy(2 /* MPOL_BIND */, 1ULL << slow) == 0);
    fill_pattern(base, nunits * UNIT);
    if (fill_slow)
        CHECK(hs_os_set_mempolicy(0, 0) == 0);
    int *status = calloc(nunits, sizeof *status), *last = calloc(nunits, sizeof *last);
    unsigned char *flips = calloc(nunits, 1);
    size_t *hot = calloc(nunits, sizeof *hot);
    CHECK(status && last && flips && hot);
    unit_nodes(base, nunits, last);
    size_t on_slow = 0;
    for (size_t u = 0; u < nunits; u++)
        on_slow += last[u] == slow;
    printf("units=%zu\nbefore_on_slow=%zu\nslow_node=%d\nheap=%#lx-%#lx\n", nunits, on_slow, slow,
           (unsigned long)base, (unsigned long)(base + nunits * UNIT));
    print_rollup("fill_"); /* a unit not on a huge page cannot be sampled */
    unsigned long thp_split0 = vmstat("thp_migration_split"), migrated0 = vmstat("pgmigrate_success");
    unsigned long split_seen = thp_split0;
    double t0 = now();
    for (int p = 0; p < phases; p++) {
        size_t nhot = 0;
        for (size_t u = (size_t)p % every; u < nunits; u += every)
            hot[nhot++] = u;
        stop_writers = 0;
        pthread_t t;
        struct writer w = {0, base, hot, 0, nhot, -1, !strcmp(access, "read")};
        CHECK(pthread_create(&t, NULL, writer_main, &w) == 0);
        int to90 = -1;
        double start = now(), s90 = -1;
        size_t fast = 0;
        for (int e = 1; e <= per_phase; e++) {
            if (wall)
                usleep(step_us);
            else
                wait_epoch();
            unit_nodes(base, nunits, status);
            fast = 0;
            for (size_t i = 0; i < nhot; i++)
                fast += status[hot[i]] >= 0 && status[hot[i]] != slow;
            for (size_t u = 0; u < nunits; u++) {
                if (status[u] >= 0 && last[u] >= 0 && (status[u] == slow) != (last[u] == slow) && flips[u] < 255)
                    flips[u]++;
                if (status[u] >= 0)
                    last[u] = status[u];
            }
            printf("phase_%d_epoch_%d_hot_fast_pct=%zu\nphase_%d_epoch_%d_s=%.1f\n", p, e, fast * 100 / nhot, p, e,
                   now() - t0);
            unsigned long split_now = vmstat("thp_migration_split");
            if (split_now != split_seen) {
                printf("phase_%d_epoch_%d_thp_split=%lu\n", p, e, split_now - thp_split0);
                print_buddyinfo(p, e);
                split_seen = split_now;
            }
            if (to90 < 0 && fast * 10 >= nhot * 9) {
                to90 = e;
                s90 = now() - start;
            }
        }
        stop_writers = 1;
        pthread_join(t, NULL);
        printf("phase_%d_hot_units=%zu\nphase_%d_epochs_to_90=%d\nphase_%d_s_to_90=%.1f\nphase_%d_end_pct=%zu\n", p, nhot,
               p, to90, p, s90, p, fast * 100 / nhot);
    }
    size_t moved = 0, back = 0;
    on_slow = 0;
    for (size_t u = 0; u < nunits; u++) {
        moved += flips[u] > 0;
        back += flips[u] >= 3;
        on_slow += last[u] == slow;
    }
    printf("units_moved=%zu\nunits_moved_back_and_forth=%zu\non_slow=%zu\n", moved, back, on_slow);
    printf("thp_migration_split=%lu\n", vmstat("thp_migration_split") - thp_split0);
    /* Migrated while the phases ran: the check below reads the whole heap,
     * and tiering would promote what it reads on the slow node. */
    printf("pgmigrate_phases=%lu\n", vmstat("pgmigrate_success") - migrated0);
    print_rollup("end_");
    printf("intact=%d\n", wrong_pages(base, nunits * UNIT) == 0);
    return 0;
}

/* split-mend MIB EPOCHS: make the kernel split THPs placement moves, then
 * watch hugeshim make them huge again.  A heap of MIB first touched on node
 * 0; node 1 cut into 4 KiB pieces compaction cannot join (every other page
 * of nearly all its free memory mlocked, the rest freed, and the 2 MiB
 * blocks left taken by locked THPs; the caller sets
 * vm.compact_unevictable_allowed to 0); a thread on node 1 writes the
 * heap, and placement, its room checks off (HUGESHIM_FAULTS=node_room),
 * moves it there: a THP that finds no free 2 MiB block is split.  At the
 * first split the pieces are freed; EPOCHS epochs later: the splits, the
 * AnonHugePages of the process after the fill and at the end, the units
 * on node 1, whether every byte survived. */
static int cmd_split_mend(size_t mib, int epochs)
{
    find_epochs(true);
    pin_to_node(0);
    size_t nunits = mib * MIB / UNIT;
    char *raw = malloc(nunits * UNIT + UNIT);
    CHECK(raw);
    char *base = (char *)(((uintptr_t)raw + UNIT - 1) & ~(uintptr_t)(UNIT - 1));
    fill_pattern(base, nunits * UNIT);
    print_rollup("fill_");
    /* Node 1's free memory less its zones' high watermarks and 16 MiB,
     * every page touched there, every other page freed, the rest locked. */
    int64_t free1 = hs_os_node_free_bytes(1);
    int64_t room1 = hs_os_node_room(1, HS_OS_KIND_BASE);
    CHECK(free1 > 0 && room1 > (int64_t)(64 * MIB));
    size_t cut = ((size_t)room1 - 16 * MIB) & ~(PAGE - 1);
    /* Past hugeshim (the kernel's own mmap): base pages, not a region of its own. */
    char *pieces = (char *)syscall(SYS_mmap, NULL, cut, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(pieces != MAP_FAILED);
    CHECK(madvise(pieces, cut, MADV_NOHUGEPAGE) == 0);
    CHECK(hs_os_set_mempolicy(2 /* MPOL_BIND */, 1ULL << 1) == 0);
    for (size_t off = 0; off < cut; off += PAGE)
        pieces[off] = 1;
    CHECK(hs_os_set_mempolicy(0, 0) == 0);
    for (size_t off = PAGE; off < cut; off += 2 * PAGE)
        CHECK(madvise(pieces + off, PAGE, MADV_DONTNEED) == 0);
    CHECK(syscall(SYS_mlock2, pieces, cut, 1 /* MLOCK_ONFAULT */) == 0);
    /* The free 2 MiB blocks left (and those compaction can still make of
     * other programs' movable pages) go to a filler of THPs, locked too,
     * until three faults in a row get no huge page. */
    size_t filler_cap = 512 * MIB, filled = 0;
    char *filler_raw = (char *)syscall(SYS_mmap, NULL, filler_cap + UNIT, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(filler_raw != MAP_FAILED);
    char *filler = (char *)(((uintptr_t)filler_raw + UNIT - 1) & ~(uintptr_t)(UNIT - 1));
    CHECK(madvise(filler, filler_cap, MADV_HUGEPAGE) == 0);
    int pagemap = hs_os_pagemap_open();
    CHECK(pagemap >= 0);
    CHECK(hs_os_set_mempolicy(2 /* MPOL_BIND */, 1ULL << 1) == 0);
    for (int misses = 0; misses < 3 && filled < filler_cap; filled += UNIT) {
        filler[filled] = 1;
        misses = hs_os_range_huge(pagemap, (uintptr_t)(filler + filled), UNIT) == 1 ? 0 : misses + 1;
    }
    CHECK(hs_os_set_mempolicy(0, 0) == 0);
    hs_os_close(pagemap);
    CHECK(syscall(SYS_mlock2, filler, filled, 1 /* MLOCK_ONFAULT */) == 0);
    printf("units=%zu\nnode1_free_mib=%lld\ncut_mib=%zu\nfiller_mib=%zu\nnode1_blocks_mib=%lld\n", nunits,
           (long long)(free1 >> 20), cut >> 20, filled >> 20, (long long)(hs_os_node_huge_free_bytes(1) >> 20));
    unsigned long split0 = vmstat("thp_migration_split");
    size_t *all = calloc(nunits, sizeof *all);
    CHECK(all);
    for (size_t u = 0; u < nunits; u++)
        all[u] = u;
    stop_writers = 0;
    struct writer w = {1, base, all, 0, nunits, -1, false};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, writer_main, &w) == 0);
    double t0 = now();
    while (vmstat("thp_migration_split") == split0 && now() - t0 < 60)
        usleep(5000);
    unsigned long first = vmstat("thp_migration_split") - split0;
    printf("first_split_s=%.1f\nsplits_at_first=%lu\n", now() - t0, first);
    CHECK(syscall(SYS_munmap, pieces, cut) == 0);
    CHECK(syscall(SYS_munmap, filler_raw, filler_cap + UNIT) == 0);
    for (int e = 0; e < epochs; e++)
        wait_epoch();
    stop_writers = 1;
    pthread_join(t, NULL);
    int *status = calloc(nunits, sizeof *status);
    CHECK(status);
    unit_nodes(base, nunits, status);
    size_t on1 = 0;
    for (size_t u = 0; u < nunits; u++)
        on1 += status[u] == 1;
    printf("thp_migration_split=%lu\non_node1=%zu\n", vmstat("thp_migration_split") - split0, on1);
    print_rollup("end_");
    printf("intact=%d\n", wrong_pages(base, nunits * UNIT) == 0);
    return 0;
}

static void pin_thread(void *arg, int tid, int cpu, uint64_t cpu_ns)
{
    (void)cpu, (void)cpu_ns;
    CHECK(sched_setaffinity(tid, sizeof(cpu_set_t), arg) == 0);
}

/* park-copy MIB EPOCHS: MIB of heap moved to node 1, every thread of the
 * process (hugeshim's too) on node 0's CPUs; the test makes the sampler's
 * moves fail after a few parks, so the parked units come back by copy from
 * a thread on node 0.  Reads each unit every epoch; prints where the pages
 * are at the end (pages_on_node1, pages_elsewhere) and whether every byte
 * is there. */
static int cmd_park_copy(size_t mib, int epochs)
{
    find_epochs(true);
    size_t len = mib * MIB, n = len / PAGE;
    char *raw = malloc(len + UNIT);
    CHECK(raw);
    char *base = (char *)(((uintptr_t)raw + UNIT - 1) & ~(uintptr_t)(UNIT - 1));
    fill_pattern(base, len);
    void **pages = calloc(n, sizeof *pages);
    int *nodes = calloc(n, sizeof *nodes), *status = calloc(n, sizeof *status);
    CHECK(pages && nodes && status);
    for (size_t i = 0; i < n; i++)
        pages[i] = base + i * PAGE;
    move_all_to_node1(n, pages, nodes, status);
    pin_to_node(0);
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    CHECK(hs_os_each_thread(pin_thread, &set) == 0);
    unsigned long sum = 0;
    for (int e = 0; e < epochs; e++) {
        wait_epoch();
        for (size_t off = 0; off < len; off += UNIT)
            sum += (unsigned char)base[off + 1];
    }
    CHECK(hs_os_move_pages(n, pages, NULL, status) == 0);
    size_t on1 = 0;
    for (size_t i = 0; i < n; i++)
        on1 += status[i] == 1;
    printf("pages=%zu\npages_on_node1=%zu\npages_elsewhere=%zu\nsum=%lu\n", n, on1, n - on1, sum);
    print_rollup("");
    printf("intact=%d\n", wrong_pages(base, len) == 0);
    return 0;
}

/* move-speed UNITS WRITERS: what moving THPs costs the kernel alone, the
 * floor under any mover (hugeshim's placement or AutoNUMA): UNITS 2 MiB THPs
 * of a mapping of its own (no allocator) first touched on node 0, WRITERS
 * threads on node 1 updating random words of them (as numa-bench's
 * writers), and one move_pages call of every unit to node 1 from a thread
 * on node 0.  Prints the call's wall and CPU seconds and the THPs moved and
 * split.  Run it without hugeshim. */
static int cmd_move_speed(size_t nunits, int writers)
{
    pin_to_node(0);
    size_t len = nunits * UNIT;
    char *raw = mmap(NULL, len + UNIT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(raw != MAP_FAILED);
    char *base = (char *)(((uintptr_t)raw + UNIT - 1) & ~(uintptr_t)(UNIT - 1));
    CHECK(madvise(base, len, MADV_HUGEPAGE) == 0);
    CHECK(hs_os_set_mempolicy(2 /* MPOL_BIND */, 1) == 0);
    memset(base, 1, len);
    CHECK(hs_os_set_mempolicy(0, 0) == 0);
    size_t *units = calloc(nunits, sizeof *units);
    void **pages = calloc(nunits, sizeof *pages);
    int *nodes = calloc(nunits, sizeof *nodes), *status = calloc(nunits, sizeof *status);
    CHECK(units && pages && nodes && status);
    for (size_t u = 0; u < nunits; u++) {
        units[u] = u;
        pages[u] = base + u * UNIT;
        nodes[u] = 1;
    }
    struct bench_writer w[8];
    pthread_t t[8];
    if (writers > 8)
        writers = 8;
    for (int i = 0; i < writers; i++) {
        w[i] = (struct bench_writer){{1, base, units, 0, nunits, -1, false}, 0};
        CHECK(pthread_create(&t[i], NULL, bench_writer_main, &w[i]) == 0);
    }
    usleep(200000); /* the writers under way */
    unsigned long thp0 = vmstat("thp_migration_success"), split0 = vmstat("thp_migration_split");
    uint64_t cpu0 = hs_os_thread_cpu_ns();
    double t0 = now();
    long rc = move_pages(0, nunits, pages, nodes, status, MPOL_MF_MOVE);
    double wall = now() - t0;
    double cpu = (double)(hs_os_thread_cpu_ns() - cpu0) * 1e-9;
    stop_writers = 1;
    for (int i = 0; i < writers; i++)
        pthread_join(t[i], NULL);
    size_t on1 = 0;
    for (size_t u = 0; u < nunits; u++)
        on1 += status[u] == 1;
    printf("units=%zu\nwriters=%d\nmove_pages_rc=%ld\nunits_on_node1=%zu\nwall_s=%.3f\ncpu_s=%.3f\nms_per_unit=%.1f\n"
           "thp_migration_success=%lu\nthp_migration_split=%lu\n",
           nunits, writers, rc, on1, wall, cpu, wall * 1e3 / (double)nunits,
           vmstat("thp_migration_success") - thp0, vmstat("thp_migration_split") - split0);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && !strcmp(argv[1], "split-mend"))
        return cmd_split_mend(strtoull(argv[2], NULL, 10), atoi(argv[3]));
    if (argc >= 2 && !strcmp(argv[1], "heap-move"))
        return cmd_heap_move();
    if (argc >= 2 && !strcmp(argv[1], "thp-move"))
        return cmd_thp_move();
    if (argc >= 4 && !strcmp(argv[1], "bind"))
        return cmd_bind(atoi(argv[2]), strtoull(argv[3], NULL, 10) * MIB);
    if (argc >= 3 && !strcmp(argv[1], "autonuma"))
        return cmd_autonuma(atoi(argv[2]));
    if (argc >= 6 && !strcmp(argv[1], "numa-bench"))
        return cmd_numa_bench(strtoull(argv[2], NULL, 10), argv[3], argv[4], atof(argv[5]));
    if (argc >= 7 && !strcmp(argv[1], "place"))
        return cmd_place(strtoull(argv[2], NULL, 10), argv[3], argv[4], argv[5], atoi(argv[6]));
    if (argc >= 7 && !strcmp(argv[1], "tier-shift"))
        return cmd_tier_shift(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), argv[4], atoi(argv[5]),
                              atoi(argv[6]));
    if (argc >= 4 && !strcmp(argv[1], "park-copy"))
        return cmd_park_copy(strtoull(argv[2], NULL, 10), atoi(argv[3]));
    if (argc >= 4 && !strcmp(argv[1], "move-speed"))
        return cmd_move_speed(strtoull(argv[2], NULL, 10), atoi(argv[3]));
    if (argc >= 6 && !strcmp(argv[1], "tier"))
        return cmd_tier(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), argv[4], atoi(argv[5]));
    fprintf(stderr, "usage: hs_numa_probe heap-move | thp-move | bind NODE MIB | autonuma SECONDS | "
                    "place MIB PATTERN WRITERS KIND EPOCHS | numa-bench MIB PATTERN WRITERS SECONDS | "
                    "tier MIB EVERY read|write|write-fork|idle EPOCHS | tier-shift MIB EVERY read|write PHASES EPOCHS | "
                    "park-copy MIB EPOCHS | move-speed UNITS WRITERS\n");
    return 2;
}
