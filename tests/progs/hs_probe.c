/* hs_probe: a child program for the integration tests.  Each command does one
 * thing a real program does, checks its own data, and prints key=value lines
 * about what the kernel gave it (read from its own /proc/self/smaps), then
 * "ok".  It knows nothing of hugeshim: it runs the same with and without it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
void *__libc_malloc(size_t);

#define MIB (1024UL * 1024UL)

static void die(const char *what)
{
    fprintf(stderr, "hs_probe: FAILED: %s (errno %d)\n", what, errno);
    exit(1);
}
#define CHECK(cond)                                                                                    \
    do {                                                                                               \
        if (!(cond))                                                                                   \
            die(#cond);                                                                                \
    } while (0)

static size_t parse_size(const char *s)
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

static unsigned long field_kb(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) || line[n] != ':')
        return (unsigned long)-1;
    return strtoul(line + n + 1, NULL, 10);
}

/* Print the smaps facts of the VMA holding addr, with a prefix. */
static void print_vma(const char *prefix, const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f);
    char line[512];
    int inside = 0;
    unsigned long anon_huge = 0, kps = 0, hugetlb = 0, rss = 0, start = 0, end = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e;
        if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            if (inside)
                break;
            inside = (uintptr_t)addr >= s && (uintptr_t)addr < e;
            if (inside)
                start = s, end = e;
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
           "%shugetlb_kb=%lu\n%srss_kb=%lu\n",
           prefix, addr, prefix, start, prefix, (end - start) >> 10, prefix, anon_huge, prefix, kps, prefix, hugetlb,
           prefix, rss);
}

/* Print the fields of smaps_rollup and meminfo the tests compare. */
static void print_totals(void)
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

/* The process's resident and THP totals from smaps_rollup, in KiB. */
static void read_rollup(unsigned long *rss_kb, unsigned long *huge_kb)
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

/* Those totals as total_rss_kb= and total_anon_huge_kb= lines. */
static void print_rollup(void)
{
    unsigned long rss, huge;
    read_rollup(&rss, &huge);
    printf("total_rss_kb=%lu\ntotal_anon_huge_kb=%lu\n", rss, huge);
}

/* 2 s of small allocations, 10 ms apart, each freed at once: dense mode's
 * passes, which run inside allocation calls, catch up with a heap filled
 * before.  aligned: posix_memalign rather than malloc. */
static void let_passes_run(bool aligned)
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

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i += 512)
        p[i] = (unsigned char)(seed + i / 512);
    if (n && (n - 1) % 512)
        p[n - 1] = (unsigned char)seed;
}

/* The 512-byte marks of fill() below n: what survives a resize. */
static int verify_prefix(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i += 512)
        if (p[i] != (unsigned char)(seed + i / 512))
            return 0;
    return 1;
}

static int verify(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i += 512)
        if (p[i] != (unsigned char)(seed + i / 512))
            return 0;
    return !n || (n - 1) % 512 == 0 || p[n - 1] == (unsigned char)seed;
}

static int cmd_heap(int argc, char **argv)
{
    CHECK(argc >= 1);
    size_t n = parse_size(argv[0]);
    unsigned char *p = malloc(n);
    CHECK(p);
    memset(p, 0x5a, n);
    print_vma("", p + n / 2);
    print_totals();
    free(p);
    return 0;
}

/* COUNT blocks of SIZE, all live at once: for pools that run out midway. */
static int cmd_heap_many(int argc, char **argv)
{
    CHECK(argc >= 2);
    size_t count = parse_size(argv[0]), n = parse_size(argv[1]);
    unsigned char **blocks = calloc(count, sizeof *blocks);
    CHECK(blocks);
    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(n);
        CHECK(blocks[i]);
        memset(blocks[i], 0, n);
        fill(blocks[i], n, (unsigned)i);
    }
    for (size_t i = 0; i < count; i++)
        CHECK(verify(blocks[i], n, (unsigned)i));
    print_vma("first_", blocks[0]);
    print_vma("last_", blocks[count - 1]);
    print_totals();
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}

static int count_threads(void);

/* COUNT blocks of SIZE with the first WRITTEN bytes (default 1: a sparse
 * writer) written in each, then every other one of the first 64 freed and
 * taken again with calloc (which must be zero); after SETTLE_MS (default 0)
 * prints the process's resident and THP totals while all are live, and its
 * thread count. */
static int cmd_sparse(int argc, char **argv)
{
    CHECK(argc >= 2);
    size_t count = parse_size(argv[0]), n = parse_size(argv[1]);
    size_t written = argc >= 3 ? parse_size(argv[2]) : 1;
    unsigned settle_ms = argc >= 4 ? (unsigned)atoi(argv[3]) : 0;
    CHECK(written >= 1 && written <= n);
    unsigned char **blocks = calloc(count, sizeof *blocks);
    CHECK(blocks);
    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(n);
        CHECK(blocks[i]);
        memset(blocks[i], 0x5a, written);
        blocks[i][0] = (unsigned char)(i | 1);
    }
    for (size_t i = 0; i < count && i < 64; i += 2) {
        free(blocks[i]);
        blocks[i] = calloc(1, n);
        CHECK(blocks[i]);
        for (size_t j = 0; j < n; j += 4096)
            CHECK(blocks[i][j] == 0);
        blocks[i][0] = (unsigned char)(i | 1);
    }
    for (size_t i = 0; i < count; i++)
        CHECK(blocks[i][0] == (unsigned char)(i | 1) && (written < 2 || i < 64 || blocks[i][written - 1] == 0x5a));
    usleep(settle_ms * 1000);
    print_rollup();
    printf("threads=%d\n", count_threads());
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}

/* dense-calloc COUNT SIZE: COUNT objects of SIZE written whole, 2 s of
 * small mallocs (so that dense mode's passes, run by malloc, catch up), then
 * every fourth object freed and calloc'd again: jemalloc hands the freed
 * memory back, and calloc must zero it.  Prints the process's AnonHugePages
 * before and after the callocs (huge_before_kb, huge_after_kb). */
static int cmd_dense_calloc(int argc, char **argv)
{
    CHECK(argc >= 2);
    size_t count = parse_size(argv[0]), n = parse_size(argv[1]);
    unsigned char **blocks = calloc(count, sizeof *blocks);
    CHECK(blocks);
    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(n);
        CHECK(blocks[i]);
        memset(blocks[i], 0x5a, n);
    }
    let_passes_run(false);
    unsigned long rss, huge;
    read_rollup(&rss, &huge);
    printf("huge_before_kb=%lu\n", huge);
    for (size_t i = 0; i < count; i += 4) {
        free(blocks[i]);
        blocks[i] = calloc(1, n);
        CHECK(blocks[i]);
        for (size_t j = 0; j < n; j += 512)
            CHECK(blocks[i][j] == 0);
        CHECK(blocks[i][n - 1] == 0);
    }
    for (size_t i = 1; i < count; i += 4)
        CHECK(blocks[i][0] == 0x5a && blocks[i][n - 1] == 0x5a);
    read_rollup(&rss, &huge);
    printf("huge_after_kb=%lu\n", huge);
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}

/* aligned-fill COUNT SIZE: COUNT objects of SIZE from posix_memalign,
 * written whole, then 2 s of small aligned allocations, and no malloc or
 * calloc at all until the smaps totals are printed: dense mode's pass must
 * run from these calls too. */
static int cmd_aligned_fill(int argc, char **argv)
{
    CHECK(argc >= 2);
    size_t count = parse_size(argv[0]), n = parse_size(argv[1]);
    static void *blocks[1 << 16];
    CHECK(count <= sizeof blocks / sizeof *blocks);
    for (size_t i = 0; i < count; i++) {
        CHECK(posix_memalign(&blocks[i], 64, n) == 0);
        memset(blocks[i], 0x5a, n);
    }
    let_passes_run(true);
    print_rollup();
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
    return 0;
}

static int cmd_mmap(int argc, char **argv)
{
    CHECK(argc >= 1);
    size_t n = parse_size(argv[0]);
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 0x33, n);
    printf("aligned_2m=%d\n", ((uintptr_t)p & (2 * MIB - 1)) == 0);
    print_vma("", p + n / 2);
    CHECK(munmap(p, n) == 0);
    return 0;
}

/* Cut, protect, discard and move parts of a large mapping. */
static int cmd_mmap_edit(void)
{
    size_t n = 16 * MIB;
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    fill(p, n, 7);
    /* A hole of one page in the middle of a huge page. */
    CHECK(munmap(p + 5 * MIB + 4096, 4096) == 0);
    CHECK(verify_prefix(p, 5 * MIB, 7));
    /* Read-only for a while, then writable again. */
    CHECK(mprotect(p + 8 * MIB, 2 * MIB, PROT_READ) == 0);
    CHECK(p[8 * MIB] == (unsigned char)(7 + 8 * MIB / 512));
    CHECK(mprotect(p + 8 * MIB, 2 * MIB, PROT_READ | PROT_WRITE) == 0);
    p[8 * MIB] = 1;
    /* Discarded anonymous memory reads back as zero. */
    CHECK(madvise(p + 10 * MIB + 12288, 64 * 1024, MADV_DONTNEED) == 0);
    for (size_t i = 0; i < 64 * 1024; i++)
        CHECK(p[10 * MIB + 12288 + i] == 0);
    /* Grow the tail part (after the hole) by moving it. */
    unsigned char *tail = p + 12 * MIB;
    unsigned char *moved = mremap(tail, 4 * MIB, 32 * MIB, MREMAP_MAYMOVE);
    CHECK(moved != MAP_FAILED);
    CHECK(verify_prefix(moved, 4 * MIB, (unsigned)(7 + 12 * MIB / 512)));
    memset(moved + 4 * MIB, 9, 28 * MIB);
    unsigned char *shrunk = mremap(moved, 32 * MIB, 8 * MIB, 0);
    CHECK(shrunk == moved);
    CHECK(moved[5 * MIB] == 9);
    CHECK(munmap(moved, 8 * MIB) == 0);
    CHECK(munmap(p, 12 * MIB) == 0);
    printf("mmap_edit=ok\n");
    return 0;
}

/* Mappings hugeshim must leave alone. */
static int cmd_mmap_passthrough(void)
{
    size_t n = 8 * MIB;
    char path[] = "/tmp/hs_probe_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    CHECK(ftruncate(fd, (off_t)n) == 0);
    void *file = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    void *shared = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    void *guard = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *stack = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    CHECK(file != MAP_FAILED && shared != MAP_FAILED && guard != MAP_FAILED && stack != MAP_FAILED);
    void *fixed = mmap((char *)guard, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(fixed == guard);
    void *hinted = mmap((char *)guard + 4 * MIB, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(hinted != MAP_FAILED);
    memset(file, 1, n);
    memset(shared, 1, n);
    memset(stack, 1, n);
    memset(fixed, 1, 4 * MIB);
    print_vma("file_", file);
    print_vma("shared_", shared);
    print_vma("stack_", stack);
    print_vma("fixed_", fixed);
    CHECK(munmap(file, n) == 0 && munmap(shared, n) == 0 && munmap(stack, n) == 0);
    CHECK(munmap(guard, n) == 0 && munmap(hinted, 4 * MIB) == 0);
    close(fd);
    printf("passthrough=ok\n");
    return 0;
}

static int cmd_realloc(void)
{
    unsigned char *p = NULL;
    size_t n = 1;
    for (; n <= 512 * MIB; n *= 2) {
        size_t old = n / 2;
        p = realloc(p, n);
        CHECK(p);
        if (old)
            CHECK(verify(p, old, 3));
        CHECK(verify_prefix(p, old, 3));
        fill(p, n, 3);
        /* also grow by a non-power of two step */
        unsigned char *q = realloc(p, n + n / 3 + 1);
        CHECK(q);
        CHECK(verify(q, n, 3));
        p = q;
        fill(p, n, 3);
    }
    print_vma("", p + 256 * MIB);
    for (n = 256 * MIB; n >= 1; n /= 4) {
        p = realloc(p, n);
        CHECK(p);
        CHECK(verify_prefix(p, n, 3));
    }
    free(p);
    printf("realloc=ok\n");
    return 0;
}

struct worker {
    unsigned seed;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    enum { SLOTS = 64 };
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned r = w->seed;
    for (int i = 0; i < 20000; i++) {
        r = r * 1103515245u + 12345u;
        int k = (int)((r >> 8) % SLOTS);
        if (slot[k]) {
            if (!verify(slot[k], size[k], (unsigned)k + w->seed))
                return NULL;
            if (r & 1) {
                free(slot[k]);
                slot[k] = NULL;
                continue;
            }
            size_t n = ((r >> 4) % 4 == 0) ? (r >> 12) % (4 * MIB) + 1 : (r >> 12) % 4096 + 1;
            unsigned char *q = realloc(slot[k], n);
            if (!q)
                return NULL;
            if (!verify_prefix(q, n < size[k] ? n : size[k], (unsigned)k + w->seed))
                return NULL;
            slot[k] = q;
            size[k] = n;
            fill(q, n, (unsigned)k + w->seed);
        } else {
            size_t n = ((r >> 4) % 8 == 0) ? (r >> 12) % (1 * MIB) : (r >> 12) % 1024 + 1;
            slot[k] = (r & 2) ? calloc(1, n) : malloc(n);
            if (!slot[k])
                return NULL;
            size[k] = n;
            fill(slot[k], n, (unsigned)k + w->seed);
        }
    }
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);
    w->ok = 1;
    return NULL;
}

static int cmd_threads(int argc, char **argv)
{
    int n = argc >= 1 ? atoi(argv[0]) : 64;
    pthread_t *t = calloc((size_t)n, sizeof *t);
    struct worker *w = calloc((size_t)n, sizeof *w);
    CHECK(t && w);
    for (int i = 0; i < n; i++) {
        w[i].seed = (unsigned)i * 7919u;
        CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    printf("threads_ok=%d\n", ok);
    CHECK(ok == n);
    free(t);
    free(w);
    return 0;
}

static volatile int stop_threads;
static void *busy_allocator(void *arg)
{
    (void)arg;
    while (!stop_threads) {
        void *p = malloc(1000 + (size_t)(rand() % 100000));
        CHECK(p);
        memset(p, 1, 1000);
        free(p);
    }
    return NULL;
}

/* fork while other threads allocate: the child must be able to allocate. */
static int cmd_fork(void)
{
    unsigned char *data = malloc(32 * MIB);
    CHECK(data);
    fill(data, 32 * MIB, 11);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, busy_allocator, NULL) == 0);
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            if (!verify(data, 32 * MIB, 11))
                _exit(2);
            for (int i = 0; i < 1000; i++) {
                void *p = malloc((size_t)(i * 997 % 300000) + 1);
                if (!p)
                    _exit(3);
                free(p);
            }
            void *big = malloc(64 * MIB);
            if (!big)
                _exit(4);
            memset(big, 2, 64 * MIB);
            free(big);
            /* A child that forks again (as shells do): every lock taken
             * around the first fork must be usable in the child. */
            pid_t grandchild = fork();
            if (grandchild == 0) {
                void *q = malloc(1000);
                _exit(q ? 0 : 5);
            }
            int st;
            if (grandchild < 0 || waitpid(grandchild, &st, 0) != grandchild || !WIFEXITED(st) || WEXITSTATUS(st))
                _exit(6);
            exit(0);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    stop_threads = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    free(data);
    printf("fork=ok\n");
    return 0;
}

static int run_self(int use_spawn, char *const child_argv[])
{
    pid_t pid;
    if (use_spawn) {
        CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, environ) == 0);
    } else {
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            execve("/proc/self/exe", child_argv, environ);
            _exit(127);
        }
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int cmd_exec(int use_spawn)
{
    char *child_argv[] = {"hs_probe", "heap", "64M", NULL};
    int rc = run_self(use_spawn, child_argv);
    printf("child_status=%d\n", rc);
    CHECK(rc == 0);
    printf("%s=ok\n", use_spawn ? "spawn" : "forkexec");
    return 0;
}

static int cmd_dlopen(void)
{
#ifdef HS_PROBE_STATIC
    printf("dlopen=skipped (static)\n");
#else
    for (int round = 0; round < 3; round++) {
        void *m = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        CHECK(m);
        double (*cosine)(double) = (double (*)(double))dlsym(m, "cos");
        CHECK(cosine && cosine(0.0) == 1.0);
        void *r = dlopen("libresolv.so.2", RTLD_NOW);
        CHECK(r);
        CHECK(dlclose(r) == 0);
        CHECK(dlclose(m) == 0);
        CHECK(dlopen("libdoes-not-exist.so", RTLD_NOW) == NULL);
        CHECK(dlerror() != NULL);
    }
    printf("dlopen=ok\n");
#endif
    return 0;
}

static int cmd_errno(void)
{
    errno = 1234;
    void *a = malloc(16);
    CHECK(errno == 1234);
    void *b = malloc(96 * MIB);
    CHECK(b && errno == 1234);
    memset(b, 1, 96 * MIB);
    void *c = calloc(1, 48 * MIB);
    CHECK(c && errno == 1234);
    b = realloc(b, 200 * MIB);
    CHECK(b && errno == 1234);
    void *d;
    CHECK(posix_memalign(&d, 2 * MIB, 10 * MIB) == 0 && errno == 1234);
    void *m = mmap(NULL, 32 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED && errno == 1234);
    CHECK(munmap(m, 32 * MIB) == 0 && errno == 1234);
    free(a);
    free(b);
    free(c);
    free(d);
    CHECK(errno == 1234);
    CHECK(malloc(SIZE_MAX / 2) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0) == MAP_FAILED && errno == EBADF);
    printf("errno=ok\n");
    return 0;
}

/* calloc over memory just freed dirty, at sizes around jemalloc's classes and
 * huge-page boundaries: every byte must read zero, and the neighbours' bytes
 * (objects allocated around it) must be untouched. */
static int cmd_calloc_reuse(void)
{
    static const size_t sizes[] = {15000, 16384, 20483, 65536, 100001, 1048581, 3 * MIB, 4 * MIB + 17, 9 * MIB};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        for (int round = 0; round < 20; round++) {
            unsigned char *before = malloc(n), *p = malloc(n), *after = malloc(n);
            CHECK(before && p && after);
            memset(before, 0xa1, n);
            memset(p, 0xff, n);
            memset(after, 0xa2, n);
            free(p);
            unsigned char *z = calloc(1, n);
            CHECK(z);
            for (size_t i = 0; i < n; i++)
                CHECK(z[i] == 0);
            for (size_t i = 0; i < n; i += 997)
                CHECK(before[i] == 0xa1 && after[i] == 0xa2);
            CHECK(before[n - 1] == 0xa1 && after[0] == 0xa2 && after[n - 1] == 0xa2);
            memset(z, 0x33, n);
            free(z);
            free(before);
            free(after);
        }
    }
    printf("calloc_reuse=ok\n");
    return 0;
}

/* COUNT blocks of SIZE written whole and freed, then COUNT callocs of SIZE
 * never written: prints the resident total, which shows whether calloc
 * zeroed the reused memory by writing it or by giving its pages back. */
static int cmd_calloc_rss(int argc, char **argv)
{
    CHECK(argc >= 2);
    size_t count = parse_size(argv[0]), n = parse_size(argv[1]);
    unsigned char **blocks = calloc(count, sizeof *blocks);
    CHECK(blocks);
    for (size_t i = 0; i < count; i++) {
        CHECK(blocks[i] = malloc(n));
        memset(blocks[i], 0x77, n);
    }
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
    for (size_t i = 0; i < count; i++) {
        CHECK(blocks[i] = calloc(1, n));
        CHECK(blocks[i][0] == 0 && blocks[i][n / 2] == 0 && blocks[i][n - 1] == 0);
    }
    print_rollup();
    return 0;
}

/* One calloc of SIZE, two bytes of it read: prints the resident total (a
 * calloc of fresh memory must not write it). */
static int cmd_calloc_fresh(int argc, char **argv)
{
    CHECK(argc >= 1);
    size_t n = parse_size(argv[0]);
    unsigned char *p = calloc(1, n);
    CHECK(p && p[0] == 0 && p[n - 1] == 0);
    print_rollup();
    free(p);
    return 0;
}

/* COUNT objects of SIZE, kept and never written (address space only): the
 * heap grows again and again.  Prints how many the heap gave. */
static int cmd_grow(int argc, char **argv)
{
    CHECK(argc >= 2);
    size_t count = parse_size(argv[0]), n = parse_size(argv[1]), got = 0;
    void **blocks = calloc(count, sizeof *blocks);
    CHECK(blocks);
    for (size_t i = 0; i < count; i++)
        got += (blocks[i] = malloc(n)) != NULL;
    printf("allocated=%zu\n", got);
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}

static int cmd_api(void)
{
    void *p;
    size_t aligns[] = {8, 64, 4096, 65536, 2 * MIB};
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        CHECK(posix_memalign(&p, aligns[i], 3000) == 0 && ((uintptr_t)p % aligns[i]) == 0);
        free(p);
        p = aligned_alloc(aligns[i], aligns[i] * 2);
        CHECK(p && ((uintptr_t)p % aligns[i]) == 0);
        free(p);
        p = memalign(aligns[i], 100);
        CHECK(p && ((uintptr_t)p % aligns[i]) == 0);
        free(p);
    }
    CHECK(posix_memalign(&p, 3, 100) == EINVAL);
    CHECK(posix_memalign(&p, 4, 100) == EINVAL); /* not a multiple of sizeof(void *) */
    p = valloc(100);
    CHECK(p && ((uintptr_t)p % 4096) == 0);
    free(p);
    p = pvalloc(5000);
    CHECK(p && ((uintptr_t)p % 4096) == 0 && malloc_usable_size(p) >= 8192);
    free(p);
    for (size_t n = 1; n < 64 * MIB; n = n * 3 + 1) {
        p = malloc(n);
        CHECK(p && malloc_usable_size(p) >= n);
        memset(p, 0xff, n);
        free(p);
        unsigned char *z = calloc(n, 1);
        CHECK(z);
        for (size_t i = 0; i < n; i += 97)
            CHECK(z[i] == 0);
        CHECK(z[n - 1] == 0);
        free(z);
    }
    errno = 0;
    volatile size_t huge_count = SIZE_MAX / 2;
    CHECK(reallocarray(NULL, huge_count, 4) == NULL && errno == ENOMEM);
    CHECK(calloc(huge_count, 4) == NULL);
    p = reallocarray(NULL, 10, 10);
    CHECK(p && malloc_usable_size(p) >= 100);
    free(p);
    CHECK(malloc_usable_size(NULL) == 0);
    free(NULL);
    p = malloc(0);
    CHECK(p);
    free(p);
    printf("api=ok\n");
    return 0;
}

/* Memory from glibc itself must go back to glibc. */
static int cmd_foreign(void)
{
    char *g = __libc_malloc(100);
    CHECK(g);
    strcpy(g, "from glibc");
    CHECK(malloc_usable_size(g) >= 100);
    g = realloc(g, 5000);
    CHECK(g && !strcmp(g, "from glibc"));
    free(g);
    printf("foreign=ok\n");
    return 0;
}

/* track-hot OBJ_SIZE COUNT UNIT EPOCHS: COUNT objects written once, then the
 * units (UNIT bytes, aligned) with index % 7 == 0 written in every epoch.
 * After EPOCHS epochs (read from hugeshim_epochs), compare the tracker's hot
 * ranges with the units written continuously, over the units lying wholly
 * inside the objects.  Prints hot_exact, hot_units, expected_units and the
 * huge pages of the first object before and after. */
/* Wait until hugeshim has run `more` epochs beyond `start`; dies after 30 s
 * so that a tracker that stopped cannot hang the test. */
static void wait_epochs(unsigned long (*hs_epochs)(void), unsigned long start, unsigned long more,
                        void (*each)(void *), void *arg)
{
    for (int spins = 0; hs_epochs() < start + more; spins++) {
        if (each)
            each(arg);
        usleep(1000);
        if (spins > 30000)
            die("no tracking epoch within 30 s");
    }
}

struct hot_units {
    uintptr_t *units;
    size_t n;
};

static void write_every_7th(void *arg)
{
    struct hot_units *h = arg;
    for (size_t k = 0; k < h->n; k += 7)
        ((volatile unsigned char *)h->units[k])[0]++;
}

/* sites MODE EPOCHS: allocation sites as HUGESHIM_SITES sees them.  Each
 * site function allocates 32 MiB; every page of the "hot" one is written
 * every millisecond for EPOCHS epochs, the "cold" one never.  MODE main: both in
 * the main thread; thread: the hot one in a thread (probe_thread_site);
 * child: the hot one in a forked child (probe_child_site), which runs the
 * epochs and exits normally; many: 64 distinct stacks (recursion depths)
 * allocating 4 MiB each, to fill a small stack table. */
#define SITE_BYTES (32 * MIB)
static unsigned long (*sites_epochs)(void);
static unsigned long sites_wait;

static __attribute__((noinline)) unsigned char *probe_cold_site(size_t n)
{
    unsigned char *p = malloc(n);
    __asm__ volatile("" : : "r"(p) : "memory"); /* no tail call: keep this frame */
    return p;
}

static __attribute__((noinline)) unsigned char *probe_hot_site(size_t n)
{
    unsigned char *p = malloc(n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static void write_units(void *arg)
{
    unsigned char *p = arg;
    for (size_t off = 0; off < SITE_BYTES; off += 4096)
        ((volatile unsigned char *)p)[off]++;
}

static void run_hot(unsigned char *hot)
{
    CHECK(hot);
    memset(hot, 1, SITE_BYTES);
    wait_epochs(sites_epochs, sites_epochs(), sites_wait, write_units, hot);
}

static __attribute__((noinline)) void *probe_thread_site(void *arg)
{
    (void)arg;
    unsigned char *p = malloc(SITE_BYTES);
    __asm__ volatile("" : : "r"(p) : "memory");
    run_hot(p);
    return p;
}

static __attribute__((noinline)) unsigned char *probe_child_site(size_t n)
{
    unsigned char *p = malloc(n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static __attribute__((noinline)) void probe_deep(int depth, void **out)
{
    if (depth > 0) {
        probe_deep(depth - 1, out);
        __asm__ volatile("" : : : "memory");
        return;
    }
    *out = malloc(4 * MIB);
    __asm__ volatile("" : : "r"(*out) : "memory");
}

static int cmd_sites(int argc, char **argv)
{
    CHECK(argc >= 2);
    const char *mode = argv[0];
    sites_wait = strtoul(argv[1], NULL, 10);
    sites_epochs = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    CHECK(sites_epochs);
    unsigned char *cold = probe_cold_site(SITE_BYTES);
    CHECK(cold);
    if (!strcmp(mode, "main")) {
        run_hot(probe_hot_site(SITE_BYTES));
    } else if (!strcmp(mode, "thread")) {
        pthread_t t;
        void *hot;
        CHECK(pthread_create(&t, NULL, probe_thread_site, NULL) == 0);
        CHECK(pthread_join(t, &hot) == 0);
    } else if (!strcmp(mode, "child")) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            run_hot(probe_child_site(SITE_BYTES));
            printf("child ok\n");
            exit(0);
        }
        int st;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    } else if (!strcmp(mode, "many")) {
        for (int d = 0; d < 64; d++) {
            void *p;
            probe_deep(d, &p);
            CHECK(p);
            memset(p, 1, 4096);
            free(p);
        }
    } else {
        die("sites: unknown mode");
    }
    printf("ok\n");
    return 0;
}

static int cmd_track_hot(int argc, char **argv)
{
    CHECK(argc >= 4);
    size_t size = parse_size(argv[0]), count = parse_size(argv[1]), unit = parse_size(argv[2]);
    unsigned long epochs = strtoul(argv[3], NULL, 10);
    unsigned long (*hs_epochs)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    size_t (*hs_hot)(uintptr_t *, size_t) = (size_t(*)(uintptr_t *, size_t))dlsym(RTLD_DEFAULT, "hugeshim_hot_ranges");
    CHECK(hs_epochs && hs_hot);
    unsigned char **obj = malloc(count * sizeof *obj);
    CHECK(obj);
    for (size_t i = 0; i < count; i++) {
        obj[i] = malloc(size);
        CHECK(obj[i]);
        memset(obj[i], 1, size);
    }
    print_vma("before_", obj[0]);
    /* The units wholly inside an object, and which of them stay written. */
    size_t nunits = 0, cap = count * (size / unit + 1);
    uintptr_t *units = malloc(cap * sizeof *units);
    CHECK(units);
    for (size_t i = 0; i < count; i++)
        for (uintptr_t u = ((uintptr_t)obj[i] + unit - 1) & ~(uintptr_t)(unit - 1);
             u + unit <= (uintptr_t)obj[i] + size; u += unit)
            units[nunits++] = u;
    struct hot_units h = {units, nunits};
    wait_epochs(hs_epochs, hs_epochs(), epochs, write_every_7th, &h);
    static uintptr_t pairs[2 * 65536];
    size_t nranges = hs_hot(pairs, 65536);
    CHECK(nranges <= 65536);
    size_t hot = 0, expected = 0, wrong = 0;
    for (size_t k = 0; k < nunits; k++) {
        int is_hot = 0;
        for (size_t r = 0; r < nranges && !is_hot; r++)
            is_hot = units[k] >= pairs[2 * r] && units[k] + unit <= pairs[2 * r + 1];
        hot += is_hot;
        expected += k % 7 == 0;
        wrong += is_hot != (k % 7 == 0);
    }
    printf("units=%zu\nhot_units=%zu\nexpected_units=%zu\nwrong_units=%zu\nhot_exact=%d\n", nunits, hot, expected,
           wrong, wrong == 0);
    print_vma("after_", obj[0]);
    for (size_t i = 0; i < count; i++)
        free(obj[i]);
    free(obj);
    free(units);
    return 0;
}

/* track-munmap: a backed mapping is watched, then unmapped while epochs run. */
static int cmd_track_munmap(void)
{
    unsigned long (*hs_epochs)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    CHECK(hs_epochs);
    for (int round = 0; round < 3; round++) {
        size_t n = 64 * MIB;
        unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(p != MAP_FAILED);
        unsigned long start = hs_epochs();
        while (hs_epochs() < start + 2) {
            memset(p, round, n);
            usleep(1000);
        }
        CHECK(munmap(p + 8 * MIB, 4096) == 0); /* a hole first */
        wait_epochs(hs_epochs, hs_epochs(), 1, NULL, NULL);
        CHECK(munmap(p, n) == 0);
        wait_epochs(hs_epochs, hs_epochs(), 2, NULL, NULL);
    }
    printf("track_munmap=ok\n");
    return 0;
}

/* track-read: the kernel writes into watched heap memory (read(2) from a
 * pipe into every 2 MiB unit of a 64 MiB array after it was re-armed): every
 * read must complete with the data (a user-mode-only userfaultfd would make
 * them fail with EFAULT). */
static int cmd_track_read(void)
{
    unsigned long (*hs_epochs)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    CHECK(hs_epochs);
    size_t n = 64 * MIB;
    unsigned char *p = malloc(n);
    CHECK(p);
    memset(p, 1, n);
    wait_epochs(hs_epochs, hs_epochs(), 2, NULL, NULL);
    int fds[2];
    CHECK(pipe(fds) == 0);
    size_t ok = 0;
    for (size_t off = 4096; off + 16 < n; off += 2 * MIB) {
        char msg[16];
        snprintf(msg, sizeof msg, "unit%07zu", off / (2 * MIB));
        CHECK(write(fds[1], msg, sizeof msg) == (ssize_t)sizeof msg);
        ssize_t got = read(fds[0], p + off, sizeof msg);
        if (got != (ssize_t)sizeof msg) {
            printf("read_failed_at=%zu\nread_errno=%d\n", off, errno);
            continue;
        }
        ok += memcmp(p + off, msg, sizeof msg) == 0;
    }
    printf("reads_ok=%zu\nreads=%zu\n", ok, (n - 4096 - 16) / (2 * MIB) + 1);
    print_vma("", p + n / 2);
    free(p);
    return 0;
}

static void *brief_worker(void *arg)
{
    (void)arg;
    unsigned char *p = malloc(32 * MIB);
    CHECK(p);
    memset(p, 2, 32 * MIB);
    usleep(300000);
    printf("worker=done\n");
    free(p);
    return NULL;
}

static void said_goodbye(void)
{
    printf("atexit=ran\n");
}

/* pthread-exit: main ends with pthread_exit while a worker still runs; the
 * process must end when the worker does (as without hugeshim). */
static int cmd_pthread_exit(void)
{
    atexit(said_goodbye);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, brief_worker, NULL) == 0);
    pthread_exit(NULL);
}

static void *forking_thread(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* The child's only thread is this one: returning ends it, and with
         * it the child process. */
        unsigned char *p = malloc(8 * MIB);
        CHECK(p);
        memset(p, 3, 8 * MIB);
        free(p);
        return NULL;
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    printf("child_exit=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return NULL;
}

/* fork-from-thread: a non-main thread forks; the child returns from the
 * thread function, which must end the child. */
static int cmd_fork_from_thread(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, forking_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("fork_from_thread=ok\n");
    return 0;
}

/* fork-track: a forked child tracks its own memory: its own epochs run and
 * its hot set is what it writes. */
static int cmd_fork_track(void)
{
    unsigned long (*hs_epochs)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    size_t (*hs_hot)(uintptr_t *, size_t) = (size_t(*)(uintptr_t *, size_t))dlsym(RTLD_DEFAULT, "hugeshim_hot_ranges");
    CHECK(hs_epochs && hs_hot);
    wait_epochs(hs_epochs, hs_epochs(), 1, NULL, NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        size_t n = 64 * MIB;
        unsigned char *p = malloc(n);
        CHECK(p);
        memset(p, 1, n);
        unsigned long start = hs_epochs();
        uintptr_t unit = ((uintptr_t)p + 2 * MIB - 1) & ~(uintptr_t)(2 * MIB - 1);
        uintptr_t hot[1] = {unit};
        struct hot_units h = {hot, 1};
        wait_epochs(hs_epochs, start, 3, write_every_7th, &h);
        uintptr_t pairs[2 * 64];
        size_t nranges = hs_hot(pairs, 64), covered = 0;
        for (size_t r = 0; r < nranges && r < 64; r++)
            covered += unit >= pairs[2 * r] && unit + 2 * MIB <= pairs[2 * r + 1];
        printf("child_epochs=%lu\nchild_hot_unit_found=%zu\n", hs_epochs() - start, covered);
        fflush(stdout);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("fork_track=ok\n");
    return 0;
}

/* lowest-fd: the descriptor a program gets next (hugeshim must not sit there). */
static int cmd_lowest_fd(void)
{
    usleep(200000);
    int fd = open("/dev/null", O_RDONLY);
    CHECK(fd >= 0);
    printf("lowest_fd=%d\n", fd);
    return 0;
}

/* fork-write SIZE CHILDREN: malloc SIZE and fill it, fork CHILDREN children
 * that each check and rewrite all of it (copy-on-write of every page) while
 * the parent rewrites it too; prints how each child ended. */
static int cmd_fork_write(int argc, char **argv)
{
    CHECK(argc >= 2);
    size_t n = parse_size(argv[0]);
    int children = atoi(argv[1]);
    unsigned char *p = malloc(n);
    CHECK(p);
    fill(p, n, 21);
    pid_t pids[16];
    CHECK(children >= 1 && children <= 16);
    for (int c = 0; c < children; c++) {
        pids[c] = fork();
        CHECK(pids[c] >= 0);
        if (pids[c] == 0) {
            if (!verify(p, n, 21))
                _exit(2);
            fill(p, n, (unsigned)(40 + c));
            _exit(verify(p, n, (unsigned)(40 + c)) ? 0 : 3);
        }
    }
    fill(p, n, 33);
    int dead = 0;
    for (int c = 0; c < children; c++) {
        int status;
        CHECK(waitpid(pids[c], &status, 0) == pids[c]);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        printf("child_%d_status=%d\n", c, code);
        dead += code != 0;
    }
    CHECK(verify(p, n, 33));
    printf("children_failed=%d\n", dead);
    print_vma("", p + n / 2);
    free(p);
    return 0;
}

/* churn SECONDS [SYNC]: a program that keeps working while the kernel starts
 * saying no.  For SECONDS it mallocs, reallocs and frees objects of 64 B to
 * 12 MiB in 96 slots (each filled with its own marks, checked before every
 * free and after every realloc) and rewrites a 64 MiB mmap'd array (checked
 * at the end).  With SYNC (not "-"), halfway it writes its pid to SYNC.mid
 * and waits (up to 60 s) for SYNC.go, so that a test can change the world
 * mid-run; with "closefds" it then closes every descriptor from 3 up, as
 * daemons do; then it mallocs 64 MiB more, checked at the end.  A malloc
 * that returns NULL is counted, not fatal; a mark that changed is
 * corruption.  The totals of smaps_rollup are printed at the end, while the
 * objects are still live. */
static int cmd_churn(int argc, char **argv)
{
    CHECK(argc >= 1);
    double seconds = atof(argv[0]);
    const char *sync = argc >= 2 && strcmp(argv[1], "-") ? argv[1] : NULL;
    bool closefds = argc >= 3 && !strcmp(argv[2], "closefds");
    enum { SLOTS = 96 };
    static unsigned char *ptr[SLOTS];
    static size_t len[SLOTS];
    static unsigned seed[SLOTS];
    size_t array_len = 64 * MIB;
    unsigned char *array = mmap(NULL, array_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(array != MAP_FAILED);
    unsigned long long iterations = 0, verified = 0, nulls = 0, corrupt = 0;
    unsigned stamp[8] = {0}; /* passes over each eighth of the array */
    uint64_t rnd = 88172645463325252ULL;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool synced = sync == NULL;
    unsigned char *late = NULL;
    size_t late_len = 64 * MIB;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (elapsed >= seconds)
            break;
        if (!synced && elapsed >= seconds / 2) {
            char path[4096];
            snprintf(path, sizeof path, "%s.mid", sync);
            FILE *f = fopen(path, "w");
            CHECK(f);
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
            snprintf(path, sizeof path, "%s.go", sync);
            for (int i = 0; i < 6000 && access(path, F_OK) != 0; i++)
                usleep(10000);
            synced = true;
            printf("synced_at_iteration=%llu\n", iterations);
            if (closefds)
                CHECK(syscall(SYS_close_range, 3u, ~0u, 0) == 0);
            /* New memory after the change: 64 MiB more, kept to the end. */
            late = malloc(late_len);
            if (late)
                fill(late, late_len, 77);
            else
                nulls++;
        }
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        unsigned s = (unsigned)(rnd % SLOTS);
        if (ptr[s]) {
            if (verify_prefix(ptr[s], len[s], seed[s]))
                verified++;
            else
                corrupt++;
            if (rnd & (1u << 20)) {
                free(ptr[s]);
                ptr[s] = NULL;
            } else {
                size_t n = (rnd >> 32) % (12 * MIB) + 1;
                unsigned char *q = realloc(ptr[s], n);
                if (!q) {
                    nulls++; /* the old object is untouched and still ours */
                } else {
                    size_t kept = n < len[s] ? n : len[s];
                    if (!verify_prefix(q, kept & ~(size_t)511, seed[s]))
                        corrupt++;
                    ptr[s] = q;
                    len[s] = n;
                    seed[s] = (unsigned)(rnd >> 8);
                    fill(q, n, seed[s]);
                }
            }
        } else {
            size_t n = rnd & (1u << 21) ? (rnd >> 32) % (12 * MIB) + 1 : (rnd >> 40) % 65536 + 64;
            ptr[s] = (rnd & (1u << 22)) ? calloc(1, n) : malloc(n);
            if (!ptr[s]) {
                nulls++;
            } else {
                len[s] = n;
                seed[s] = (unsigned)(rnd >> 8);
                fill(ptr[s], n, seed[s]);
            }
        }
        /* A hot eighth of the array, a different one each 8 iterations. */
        unsigned e = (unsigned)((iterations / 8) % 8);
        size_t part = array_len / 8;
        stamp[e]++;
        for (size_t i = 0; i < part; i += 4096)
            array[e * part + i] = (unsigned char)(i / 4096 + stamp[e]);
        iterations++;
    }
    /* The array: each page holds what the last pass over its eighth wrote. */
    unsigned long long array_bad = 0;
    for (unsigned e = 0; e < 8; e++)
        for (size_t i = 0; stamp[e] && i < array_len / 8; i += 4096)
            array_bad += array[e * (array_len / 8) + i] != (unsigned char)(i / 4096 + stamp[e]);
    corrupt += array_bad;
    if (late && !verify_prefix(late, late_len, 77))
        corrupt++;
    if (late)
        print_vma("late_", late + late_len / 2);
    print_totals();
    free(late);
    for (int s = 0; s < SLOTS; s++)
        if (ptr[s]) {
            if (verify_prefix(ptr[s], len[s], seed[s]))
                verified++;
            else
                corrupt++;
            free(ptr[s]);
        }
    munmap(array, array_len);
    printf("iterations=%llu\nverified=%llu\nnulls=%llu\ncorrupt=%llu\narray_bad_pages=%llu\n", iterations,
           verified, nulls, corrupt, array_bad);
    printf("ok\n");
    return corrupt ? 1 : 0;
}

static int count_threads(void)
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

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: hs_probe heap SIZE | heap-many COUNT SIZE | sparse COUNT SIZE [WRITTEN [SETTLE_MS]] | dense-calloc COUNT SIZE | aligned-fill COUNT SIZE | calloc-reuse | calloc-rss COUNT SIZE | calloc-fresh SIZE | grow COUNT SIZE | mmap SIZE | mmap-edit | "
                        "mmap-passthrough | realloc | threads N | fork | forkexec | spawn | dlopen | errno | "
                        "api | foreign | track-hot SIZE COUNT UNIT EPOCHS | track-munmap | track-read | pthread-exit | "
                        "fork-from-thread | fork-track | lowest-fd | fork-write SIZE CHILDREN | churn SECONDS [SYNC] | raw-clone | threads-now\n");
        return 2;
    }
    const char *c = argv[1];
    int n = argc - 2;
    char **rest = argv + 2;
    if (!strcmp(c, "heap")) return cmd_heap(n, rest);
    if (!strcmp(c, "heap-many")) return cmd_heap_many(n, rest);
    if (!strcmp(c, "sparse")) return cmd_sparse(n, rest);
    if (!strcmp(c, "dense-calloc")) return cmd_dense_calloc(n, rest);
    if (!strcmp(c, "aligned-fill")) return cmd_aligned_fill(n, rest);
    if (!strcmp(c, "mmap")) return cmd_mmap(n, rest);
    if (!strcmp(c, "mmap-edit")) return cmd_mmap_edit();
    if (!strcmp(c, "mmap-passthrough")) return cmd_mmap_passthrough();
    if (!strcmp(c, "realloc")) return cmd_realloc();
    if (!strcmp(c, "threads")) return cmd_threads(n, rest);
    if (!strcmp(c, "fork")) return cmd_fork();
    if (!strcmp(c, "forkexec")) return cmd_exec(0);
    if (!strcmp(c, "spawn")) return cmd_exec(1);
    if (!strcmp(c, "dlopen")) return cmd_dlopen();
    if (!strcmp(c, "errno")) return cmd_errno();
    if (!strcmp(c, "api")) return cmd_api();
    if (!strcmp(c, "calloc-reuse")) return cmd_calloc_reuse();
    if (!strcmp(c, "calloc-rss")) return cmd_calloc_rss(n, rest);
    if (!strcmp(c, "calloc-fresh")) return cmd_calloc_fresh(n, rest);
    if (!strcmp(c, "grow")) return cmd_grow(n, rest);
    if (!strcmp(c, "foreign")) return cmd_foreign();
    if (!strcmp(c, "track-hot")) return cmd_track_hot(n, rest);
    if (!strcmp(c, "sites")) return cmd_sites(n, rest);
    if (!strcmp(c, "track-munmap")) return cmd_track_munmap();
    if (!strcmp(c, "track-read")) return cmd_track_read();
    if (!strcmp(c, "pthread-exit")) return cmd_pthread_exit();
    if (!strcmp(c, "fork-from-thread")) return cmd_fork_from_thread();
    if (!strcmp(c, "fork-track")) return cmd_fork_track();
    if (!strcmp(c, "lowest-fd")) return cmd_lowest_fd();
    if (!strcmp(c, "fork-write")) return cmd_fork_write(n, rest);
    if (!strcmp(c, "churn")) return cmd_churn(n, rest);
    if (!strcmp(c, "raw-clone")) {
        /* A child made by the clone system call itself, as some runtimes do:
         * no fork handler runs in it.  It allocates and exits normally. */
        void *p = malloc(4 * MIB);
        CHECK(p);
        long pid = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
        CHECK(pid >= 0);
        if (pid == 0) {
            memset(p, 3, 4 * MIB);
            exit(0);
        }
        int status;
        CHECK(waitpid((pid_t)pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        printf("parent_pid=%d\nchild_pid=%ld\nok\n", (int)getpid(), pid);
        free(p);
        return 0;
    }
    if (!strcmp(c, "threads-now")) {
        usleep(200000);
        printf("threads=%d\n", count_threads());
        return 0;
    }
    fprintf(stderr, "hs_probe: unknown command %s\n", c);
    return 2;
}
