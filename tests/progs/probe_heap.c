/* probe_heap.c: hs_probe's heap commands: huge pages of the heap, dense and sparse fills, calloc, realloc, the malloc API, errno, churn. */
#include <sys/resource.h>
#include "probe.h"

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
    if (argc >= 2) {
        /* The program goes on for a while, then takes (and frees) one more
         * large buffer, unwritten. */
        usleep((useconds_t)atoi(argv[1]) * 1000);
        void *q = malloc((size_t)8 << 20);
        CHECK(q);
        free(q);
    }
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

static int cmd_realloc(int argc, char **argv)
{
    (void)argc, (void)argv;
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


static int cmd_errno(int argc, char **argv)
{
    (void)argc, (void)argv;
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
static int cmd_calloc_reuse(int argc, char **argv)
{
    (void)argc, (void)argv;
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

static long minor_faults(void)
{
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    return ru.ru_minflt;
}

/* A large block written and freed, then a smaller one written: prints the
 * page faults the second took (its pages are the first's when the heap keeps
 * them), its VMA, whether it starts where the first did, and whether a
 * calloc over the same pages reads zero. */
static int cmd_large_reuse(int argc, char **argv)
{
    (void)argc, (void)argv;
    size_t first = (size_t)64 << 20, second = (size_t)48 << 20;
    unsigned char *p = malloc(first);
    CHECK(p);
    /* Written and checked, so that the compiler keeps the writes. */
    fill(p, first, 1);
    CHECK(verify(p, first, 1));
    free(p);
    long before = minor_faults();
    unsigned char *q = malloc(second);
    CHECK(q);
    fill(q, second, 2);
    CHECK(verify(q, second, 2));
    printf("reuse_faults=%ld\nsame_start=%d\n", minor_faults() - before, q == p);
    print_vma("", q + second / 2);
    free(q);
    unsigned char *z = calloc(1, second);
    CHECK(z);
    size_t nonzero = 0;
    for (size_t i = 0; i < second; i += 512)
        nonzero += z[i] != 0;
    printf("calloc_nonzero=%zu\n", nonzero);
    free(z);
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

static int cmd_api(int argc, char **argv)
{
    (void)argc, (void)argv;
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

/* The heap window: heap objects lie in accessible ranges that run on,
 * without a gap, into an inaccessible reservation; heap memory the program
 * unmaps stays held (inaccessible, not a hole). */
static int window_perms(uintptr_t addr, char perms[5], uintptr_t *end)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && addr >= lo && addr < hi) {
            memcpy(perms, p, 5);
            *end = hi;
            found = 1;
            break;
        }
    }
    if (f)
        fclose(f);
    return found;
}

static int cmd_window(int argc, char **argv)
{
    (void)argc, (void)argv;
    char *small = malloc(100), *medium = malloc(3 << 20);
    CHECK(small && medium);
    memset(medium, 7, 3 << 20);
    char perms[5] = "";
    uintptr_t at = (uintptr_t)small, end = 0;
    /* Walk on from the small object's mapping through adjacent ones. */
    int steps = 0;
    while (window_perms(at, perms, &end) && perms[0] == 'r' && steps++ < 4096)
        at = end;
    printf("small_followed_by=%s\n", window_perms(at, perms, &end) ? perms : "gap");
    /* Unmap whole pages inside the medium object (the program's mistake). */
    uintptr_t page = ((uintptr_t)medium + 4095) & ~(uintptr_t)4095;
    CHECK(munmap((void *)page, 1 << 20) == 0);
    printf("unmapped_heap_is=%s\n", window_perms(page, perms, &end) ? perms : "gap");
    free(small);
    return 0;
}

/* Memory from glibc itself must go back to glibc. */
static int cmd_foreign(int argc, char **argv)
{
    (void)argc, (void)argv;
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


const probe_cmd_t probe_heap_cmds[] = {
    {"heap", "SIZE [THEN_MS]", cmd_heap},
    {"heap-many", "COUNT SIZE", cmd_heap_many},
    {"sparse", "COUNT SIZE [WRITTEN [SETTLE_MS]]", cmd_sparse},
    {"dense-calloc", "COUNT SIZE", cmd_dense_calloc},
    {"aligned-fill", "COUNT SIZE", cmd_aligned_fill},
    {"realloc", "", cmd_realloc},
    {"errno", "", cmd_errno},
    {"calloc-reuse", "", cmd_calloc_reuse},
    {"calloc-rss", "COUNT SIZE", cmd_calloc_rss},
    {"calloc-fresh", "SIZE", cmd_calloc_fresh},
    {"large-reuse", "", cmd_large_reuse},
    {"grow", "COUNT SIZE", cmd_grow},
    {"api", "", cmd_api},
    {"foreign", "", cmd_foreign},
    {"window", "", cmd_window},
    {"churn", "SECONDS [SYNC]", cmd_churn},
    {NULL, NULL, NULL},
};
