/* probe_common.c: hs_probe's shared helpers (probe.h). */
#include "probe.h"

#include <sys/ioctl.h>

#include "../../os/compat.h"

void die(const char *what)
{
    fprintf(stderr, "hs_probe: FAILED: %s (errno %d)\n", what, errno);
    exit(1);
}

size_t parse_size(const char *s)
{
    char *end;
    size_t v = strtoull(s, &end, 10);
    if (*end == 'k' || *end == 'K')
        v <<= 10;
    else if (*end == 'M')
        v <<= 20;
    else if (*end == 'G')
        v <<= 30;
    return v;
}

unsigned long field_kb(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) || line[n] != ':')
        return (unsigned long)-1;
    return strtoul(line + n + 1, NULL, 10);
}

/* Print the smaps facts of the VMA holding addr, with a prefix. */
void print_vma(const char *prefix, const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f);
    char line[512];
    int inside = 0;
    unsigned long anon_huge = 0, kps = 0, hugetlb = 0, rss = 0, start = 0, end = 0;
    char path[256] = "";
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e;
        if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            if (inside)
                break;
            inside = (uintptr_t)addr >= s && (uintptr_t)addr < e;
            if (inside) {
                start = s, end = e;
                /* The mapped file, if any: the sixth field to the line's end. */
                if (sscanf(line, "%*s %*s %*s %*s %*s %255[^\n]", path) != 1)
                    path[0] = '\0';
            }
            continue;
        }
        if (!inside)
            continue;
        unsigned long v;
        if ((v = field_kb(line, "AnonHugePages")) != (unsigned long)-1)
            anon_huge = v;
        else if ((v = field_kb(line, "KernelPageSize")) != (unsigned long)-1)
            kps = v;
        else if ((v = field_kb(line, "Private_Hugetlb")) != (unsigned long)-1)
            hugetlb += v;
        else if ((v = field_kb(line, "Shared_Hugetlb")) != (unsigned long)-1)
            hugetlb += v;
        else if ((v = field_kb(line, "Rss")) != (unsigned long)-1)
            rss = v;
    }
    fclose(f);
    printf("%saddr=%p\n%svma_start=0x%lx\n%svma_len_kb=%lu\n%sanon_huge_kb=%lu\n%skernel_page_kb=%lu\n"
           "%shugetlb_kb=%lu\n%srss_kb=%lu\n%svma_file=%s\n",
           prefix, addr, prefix, start, prefix, (end - start) >> 10, prefix, anon_huge, prefix, kps, prefix, hugetlb,
           prefix, rss, prefix, path);
}

/* Print the fields of smaps_rollup and meminfo the tests compare. */
void print_totals(void)
{
    char line[256];
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) { /* no memory left for stdio (churn under a lowered RLIMIT_AS) */
        printf("totals_unavailable=1\n");
        return;
    }
    unsigned long anon_huge = 0, hugetlb = 0, v;
    while (fgets(line, sizeof line, f)) {
        if ((v = field_kb(line, "AnonHugePages")) != (unsigned long)-1)
            anon_huge = v;
        else if ((v = field_kb(line, "Private_Hugetlb")) != (unsigned long)-1)
            hugetlb += v;
        else if ((v = field_kb(line, "Shared_Hugetlb")) != (unsigned long)-1)
            hugetlb += v;
    }
    fclose(f);
    f = fopen("/proc/meminfo", "r");
    if (!f) {
        printf("totals_unavailable=1\n");
        return;
    }
    unsigned long free_pages = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "HugePages_Free:", 15))
            free_pages = strtoul(line + 15, NULL, 10);
    fclose(f);
    printf("total_anon_huge_kb=%lu\ntotal_hugetlb_kb=%lu\nmeminfo_hugepages_free=%lu\n", anon_huge, hugetlb,
           free_pages);
}

/* KiB of [start, start+len) mapped by huge pages (PMD-mapped THP or hugetlb),
 * as PAGEMAP_SCAN's PAGE_IS_HUGE says: exactly these objects' pages, where a
 * VMA's AnonHugePages also counts its neighbours (the heap's THP regions lie
 * side by side in one VMA).  -1 where PAGEMAP_SCAN is missing. */
long huge_kb_in(int fd, uintptr_t start, size_t len)
{
    struct page_region vec[64];
    long kb = 0;
    uintptr_t end = (start + len) & ~(uintptr_t)4095;
    start = (start + 4095) & ~(uintptr_t)4095;
    while (start < end) {
        struct pm_scan_arg arg = {.size = sizeof arg, .start = start, .end = end, .vec = (uintptr_t)vec,
                                  .vec_len = 64, .category_mask = PAGE_IS_HUGE, .return_mask = PAGE_IS_HUGE};
        long n = ioctl(fd, PAGEMAP_SCAN, &arg);
        if (n < 0)
            return -1;
        for (long i = 0; i < n; i++)
            kb += (long)((vec[i].end - vec[i].start) >> 10);
        if (arg.walk_end <= start)
            break;
        start = arg.walk_end;
    }
    return kb;
}

/* The process's resident and THP totals from smaps_rollup, in KiB. */
void read_rollup(unsigned long *rss_kb, unsigned long *huge_kb)
{
    char line[256];
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    CHECK(f);
    unsigned long v;
    *rss_kb = *huge_kb = 0;
    while (fgets(line, sizeof line, f)) {
        if ((v = field_kb(line, "Rss")) != (unsigned long)-1)
            *rss_kb = v;
        else if ((v = field_kb(line, "AnonHugePages")) != (unsigned long)-1)
            *huge_kb = v;
    }
    fclose(f);
}

/* A /proc/vmstat counter, or 0. */
unsigned long vmstat_counter(const char *name)
{
    char line[256];
    FILE *f = fopen("/proc/vmstat", "r");
    if (!f)
        return 0;
    size_t len = strlen(name);
    unsigned long v = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, len) && line[len] == ' ')
            v = strtoul(line + len + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Those totals as total_rss_kb= and total_anon_huge_kb= lines. */
void print_rollup(void)
{
    unsigned long rss, huge;
    read_rollup(&rss, &huge);
    printf("total_rss_kb=%lu\ntotal_anon_huge_kb=%lu\n", rss, huge);
}

/* 2 s of small allocations, 10 ms apart, each freed at once: dense mode's
 * passes, which run inside allocation calls, catch up with a heap filled
 * before.  aligned: posix_memalign rather than malloc. */
void let_passes_run(bool aligned)
{
    for (int t = 0; t < 200; t++) {
        void *q = NULL;
        if (aligned)
            CHECK(posix_memalign(&q, 64, 64) == 0);
        else
            CHECK((q = malloc(64)) != NULL);
        free(q);
        usleep(10000);
    }
}

void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i += 512)
        p[i] = (unsigned char)(seed + i / 512);
    if (n && (n - 1) % 512)
        p[n - 1] = (unsigned char)seed;
}

/* The 512-byte marks of fill() below n: what survives a resize. */
int verify_prefix(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i += 512)
        if (p[i] != (unsigned char)(seed + i / 512))
            return 0;
    return 1;
}

int verify(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i += 512)
        if (p[i] != (unsigned char)(seed + i / 512))
            return 0;
    return !n || (n - 1) % 512 == 0 || p[n - 1] == (unsigned char)seed;
}

int count_threads(void)
{
    char line[256];
    int threads = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &threads) == 1)
            break;
    if (f)
        fclose(f);
    return threads;
}


double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
