/* hs_numa_probe: NUMA actions for the NUMA lab, run under the shim so that
 * the memory it moves is hugeshim-managed.  Prints key=value lines.
 *   heap-move           malloc 64 MiB, move its first page 0 -> 1 -> 0
 *   thp-move            mmap 8 MiB (a THP region), move all of it to node 1
 *   bind NODE SIZE      MPOL_BIND to NODE, malloc SIZE, report page size and node
 *   autonuma SECONDS    memory placed on node 0, the thread on node 1's CPUs:
 *                       touch it until AutoNUMA moves it (or time runs out) */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
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
    char cpus[64];
    CHECK(hs_os_node_cpulist(1, cpus, sizeof cpus) == 0);
    cpu_set_t set;
    CPU_ZERO(&set);
    int a = atoi(cpus), b = strchr(cpus, '-') ? atoi(strchr(cpus, '-') + 1) : a;
    for (int c = a; c <= b; c++)
        CPU_SET(c, &set);
    CHECK(sched_setaffinity(0, sizeof set, &set) == 0);
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

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "heap-move"))
        return cmd_heap_move();
    if (argc >= 2 && !strcmp(argv[1], "thp-move"))
        return cmd_thp_move();
    if (argc >= 4 && !strcmp(argv[1], "bind"))
        return cmd_bind(atoi(argv[2]), strtoull(argv[3], NULL, 10) * MIB);
    if (argc >= 3 && !strcmp(argv[1], "autonuma"))
        return cmd_autonuma(atoi(argv[2]));
    fprintf(stderr, "usage: hs_numa_probe heap-move | thp-move | bind NODE MIB | autonuma SECONDS\n");
    return 2;
}
