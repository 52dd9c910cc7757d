/* probe_track.c: hs_probe's tracking commands: hot units, unmapping and kernel writes under tracking, allocation sites, fork while tracking. */
#include "probe.h"

#include <sys/ioctl.h>

#include "../../os/compat.h"

static long objects_huge_kb(unsigned char **obj, size_t count, size_t size)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0)
        return -1;
    long kb = 0;
    for (size_t i = 0; i < count && kb >= 0; i++) {
        long k = huge_kb_in(fd, (uintptr_t)obj[i], size);
        kb = k < 0 ? -1 : kb + k;
    }
    close(fd);
    return kb;
}

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

/* An update (a load, then a store) that never leaves 0: the check of every
 * byte afterwards takes a 0 for a page lost (an increment from 1 wrapped to
 * 0 after 255 calls, one run in 256). */
static void write_every_7th(void *arg)
{
    struct hot_units *h = arg;
    for (size_t k = 0; k < h->n; k += 7) {
        volatile unsigned char *p = (volatile unsigned char *)h->units[k];
        unsigned char v = p[0];
        p[0] = v == 255 ? 1 : v + 1;
    }
}

/* A store, not an increment: a parked unit's first touch by a
 * read-modify-write faults as a read (the sampler then sees a read). */
static void write_every_unit(void *arg)
{
    struct hot_units *h = arg;
    for (size_t k = 0; k < h->n; k++)
        ((volatile unsigned char *)h->units[k])[0] = 1;
}

static volatile unsigned long read_sink;

/* Whether the unit at u lies wholly in one of hugeshim_hot_ranges' pairs. */
static int unit_is_hot(uintptr_t u, size_t unit, const uintptr_t *pairs, size_t nranges)
{
    for (size_t r = 0; r < nranges; r++)
        if (u >= pairs[2 * r] && u + unit <= pairs[2 * r + 1])
            return 1;
    return 0;
}

static void read_every_7th(void *arg)
{
    struct hot_units *h = arg;
    unsigned long sum = 0;
    for (size_t k = 0; k < h->n; k += 7)
        sum += ((volatile unsigned char *)h->units[k])[64];
    read_sink += sum;
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
    bool reads = argc >= 5 && !strcmp(argv[4], "read"); /* the hot units are only read */
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
    printf("before_objects_huge_kb=%ld\n", objects_huge_kb(obj, count, size));
    unsigned long rss0_kb = 0, huge0_kb = 0;
    read_rollup(&rss0_kb, &huge0_kb);
    printf("before_rollup_anon_huge_kb=%lu\n", huge0_kb);
    /* The units wholly inside an object, and which of them stay written. */
    size_t nunits = 0, cap = count * (size / unit + 1);
    uintptr_t *units = malloc(cap * sizeof *units);
    CHECK(units);
    for (size_t i = 0; i < count; i++)
        for (uintptr_t u = ((uintptr_t)obj[i] + unit - 1) & ~(uintptr_t)(unit - 1);
             u + unit <= (uintptr_t)obj[i] + size; u += unit)
            units[nunits++] = u;
    struct hot_units h = {units, nunits};
    wait_epochs(hs_epochs, hs_epochs(), epochs, reads ? read_every_7th : write_every_7th, &h);
    static uintptr_t pairs[2 * 65536];
    size_t nranges = hs_hot(pairs, 65536);
    CHECK(nranges <= 65536);
    size_t hot = 0, expected = 0, wrong = 0;
    for (size_t k = 0; k < nunits; k++) {
        int is_hot = unit_is_hot(units[k], unit, pairs, nranges);
        hot += is_hot;
        expected += k % 7 == 0;
        wrong += is_hot != (k % 7 == 0);
    }
    printf("units=%zu\nhot_units=%zu\nexpected_units=%zu\nwrong_units=%zu\nhot_exact=%d\n", nunits, hot, expected,
           wrong, wrong == 0);
    print_vma("after_", obj[0]);
    printf("after_objects_huge_kb=%ld\n", objects_huge_kb(obj, count, size));
    /* Every byte as memset left it (the hot ones written by the writer variant). */
    size_t bad = 0;
    for (size_t i = 0; i < count; i++)
        for (size_t off = 0; off < size; off += 4096)
            bad += obj[i][off] == 0;
    printf("zeroed_pages=%zu\n", bad);
    /* Parked units' pages count here too (staging is THP as well). */
    unsigned long rss_kb = 0, huge_kb = 0;
    read_rollup(&rss_kb, &huge_kb);
    printf("rollup_anon_huge_kb=%lu\n", huge_kb);
    for (size_t i = 0; i < count; i++)
        free(obj[i]);
    free(obj);
    free(units);
    return 0;
}

/* track-munmap: a backed mapping is watched, then unmapped while epochs run. */
static int cmd_track_munmap(int argc, char **argv)
{
    (void)argc, (void)argv;
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
static int cmd_track_read(int argc, char **argv)
{
    (void)argc, (void)argv;
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

static int cmd_fork_track(int argc, char **argv)
{
    (void)argc, (void)argv;
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

/* A mapping whose length is not whole 2 MiB units, watched for two epochs,
 * then moved and grown by mremap as one mapping: it must stay one. */
static int cmd_track_mremap(int argc, char **argv)
{
    (void)argc, (void)argv;
    unsigned long (*hs_epochs)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    CHECK(hs_epochs);
    size_t n = 10 * MIB + 4096;
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    fill(p, n, 7);
    unsigned long start = hs_epochs();
    while (hs_epochs() < start + 2) {
        memset(p, 7, 4096);
        fill(p, 4096, 7);
        usleep(1000);
    }
    unsigned char *q = mremap(p, n, 2 * n, MREMAP_MAYMOVE);
    printf("mremap_ok=%d\nmremap_errno=%d\n", q != MAP_FAILED, q == MAP_FAILED ? errno : 0);
    if (q != MAP_FAILED) {
        CHECK(verify(q, n, 7));
        CHECK(munmap(q, 2 * n) == 0);
    }
    return 0;
}

/* track-mremap-race SECONDS: stress-ng's mremap stressor's pattern while
 * short epochs follow the registry: a mapping halved down to 2 MiB by mremap
 * and doubled back (in place where it can), data checked at each step.  A
 * tracker that registered a range the program had grown meanwhile split the
 * mapping, and the next mremap of the whole failed with EFAULT. */
static int cmd_track_mremap_race(int argc, char **argv)
{
    double seconds = argc > 0 ? atof(argv[0]) : 3;
    const size_t max = 16 * MIB;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long rounds = 0, calls = 0, failures = 0, bad = 0;
    int first_errno = 0;
    do {
        unsigned char *p = mmap(NULL, max, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(p != MAP_FAILED);
        size_t len = max;
        for (size_t off = 0; off < len; off += MIB)
            p[off] = (unsigned char)(off / MIB + 1);
        bool failed = false;
        for (int dir = 0; dir < 2 && !failed; dir++) {
            for (;;) {
                size_t next = dir == 0 ? len / 2 : len * 2;
                if (dir == 0 ? next < 2 * MIB : next > max)
                    break;
                unsigned char *q = mremap(p, len, next, MREMAP_MAYMOVE);
                calls++;
                if (q == MAP_FAILED) {
                    failures++;
                    if (!first_errno)
                        first_errno = errno;
                    failed = true;
                    break;
                }
                p = q;
                size_t kept = len < next ? len : next;
                for (size_t off = 0; off < kept; off += MIB)
                    bad += p[off] != (unsigned char)(off / MIB + 1);
                for (size_t off = kept; off < next; off += MIB)
                    p[off] = (unsigned char)(off / MIB + 1);
                len = next;
            }
        }
        CHECK(munmap(p, len) == 0);
        rounds++;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    printf("rounds=%ld\nmremap_calls=%ld\nmremap_failures=%ld\nmremap_errno=%d\nbad_bytes=%ld\n", rounds, calls,
           failures, first_errno, bad);
    return 0;
}

/* track-write-then-read: every unit of a 128 MiB THP object written for two
 * and a half epochs (1 s epochs), then only every 7th read; prints after how
 * many epoch ends the hot set is exactly the read units (the written ones
 * cooled, the read ones seen).  The epoch after the turn starts with every
 * unit write-protected, which cannot see reads: its first tick parks the
 * units no write reached (else their reads are seen an epoch later, and they
 * cool meanwhile). */
static int cmd_track_write_then_read(int argc, char **argv)
{
    (void)argc, (void)argv;
    unsigned long (*hs_epochs)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    size_t (*hs_hot)(uintptr_t *, size_t) = (size_t(*)(uintptr_t *, size_t))dlsym(RTLD_DEFAULT, "hugeshim_hot_ranges");
    CHECK(hs_epochs && hs_hot);
    const size_t size = 128 * MIB, unit = 2 * MIB;
    unsigned char *obj = aligned_alloc(unit, size);
    CHECK(obj);
    memset(obj, 1, size);
    size_t nunits = size / unit;
    uintptr_t *units = malloc(nunits * sizeof *units);
    CHECK(units);
    for (size_t k = 0; k < nunits; k++)
        units[k] = (uintptr_t)obj + k * unit;
    struct hot_units h = {units, nunits};
    wait_epochs(hs_epochs, hs_epochs(), 2, write_every_unit, &h);
    /* Half an epoch more of writes: the program turns to reading mid-epoch,
     * so the next epoch starts with every unit write-protected. */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        write_every_unit(&h);
        usleep(1000);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 500000000L);
    unsigned long start = hs_epochs(), exact_at = 0;
    static uintptr_t pairs[2 * 4096];
    while (!exact_at && hs_epochs() < start + 5) {
        unsigned long seen = hs_epochs();
        wait_epochs(hs_epochs, seen, 1, read_every_7th, &h);
        size_t nranges = hs_hot(pairs, 4096), wrong = 0;
        for (size_t k = 0; k < nunits; k++) {
            wrong += unit_is_hot(units[k], unit, pairs, nranges) != (k % 7 == 0);
        }
        if (!wrong)
            exact_at = hs_epochs() - start;
    }
    printf("exact_after_epochs=%lu\n", exact_at);
    size_t bad = 0;
    for (size_t off = 0; off < size; off += 4096)
        bad += obj[off] == 0;
    printf("zeroed_pages=%zu\n", bad);
    free(units);
    free(obj);
    return 0;
}

static void read_units_3_and_11(void *arg)
{
    struct hot_units *h = arg;
    read_sink += ((volatile unsigned char *)h->units[3])[64] + ((volatile unsigned char *)h->units[11])[64];
}

/* track-idle-then-read: a 32 MiB THP object (16 units) written once, then
 * idle for six epochs; prints how many of its units are not resident then
 * (the sampler keeps idle units parked: their range is empty), then reads
 * units 3 and 11 until an epoch ends and prints after how many epoch ends
 * the hot set is exactly those two (1: the reads were seen in the epoch
 * they began, the units waiting parked for them). */
static int cmd_track_idle_then_read(int argc, char **argv)
{
    (void)argc, (void)argv;
    unsigned long (*hs_epochs)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    size_t (*hs_hot)(uintptr_t *, size_t) = (size_t(*)(uintptr_t *, size_t))dlsym(RTLD_DEFAULT, "hugeshim_hot_ranges");
    CHECK(hs_epochs && hs_hot);
    const size_t size = 32 * MIB, unit = 2 * MIB, nunits = size / unit;
    unsigned char *obj = aligned_alloc(unit, size);
    CHECK(obj);
    memset(obj, 1, size);
    uintptr_t units[16];
    for (size_t k = 0; k < nunits; k++)
        units[k] = (uintptr_t)obj + k * unit;
    struct hot_units h = {units, nunits};
    wait_epochs(hs_epochs, hs_epochs(), 6, NULL, NULL);
    size_t absent = 0;
    for (size_t k = 0; k < nunits; k++) {
        unsigned char vec = 0;
        CHECK(mincore((void *)units[k], 4096, &vec) == 0);
        absent += !(vec & 1);
    }
    printf("idle_units_not_resident=%zu\n", absent);
    unsigned long start = hs_epochs(), exact_at = 0;
    static uintptr_t pairs[2 * 4096];
    while (!exact_at && hs_epochs() < start + 4) {
        wait_epochs(hs_epochs, hs_epochs(), 1, read_units_3_and_11, &h);
        size_t nranges = hs_hot(pairs, 4096), wrong = 0;
        for (size_t k = 0; k < nunits; k++)
            wrong += unit_is_hot(units[k], unit, pairs, nranges) != (k == 3 || k == 11);
        if (!wrong)
            exact_at = hs_epochs() - start;
    }
    printf("exact_after_epochs=%lu\n", exact_at);
    size_t bad = 0;
    for (size_t off = 0; off < size; off++)
        bad += obj[off] != 1;
    printf("changed_bytes=%zu\n", bad);
    free(obj);
    return 0;
}

const probe_cmd_t probe_track_cmds[] = {
    {"track-hot", "SIZE COUNT UNIT EPOCHS [read]", cmd_track_hot},
    {"track-munmap", "", cmd_track_munmap},
    {"track-read", "", cmd_track_read},
    {"sites", "...", cmd_sites},
    {"fork-track", "", cmd_fork_track},
    {"track-mremap", "", cmd_track_mremap},
    {"track-mremap-race", "[SECONDS]", cmd_track_mremap_race},
    {"track-write-then-read", "", cmd_track_write_then_read},
    {"track-idle-then-read", "", cmd_track_idle_then_read},
    {NULL, NULL, NULL},
};
