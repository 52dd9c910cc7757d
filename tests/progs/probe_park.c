/* probe_park.c: hs_probe's access-sampler commands: everything a program may
 * do to memory that the sampler has parked (moved aside until the next
 * access), with the data checked after each step. */
#include "probe.h"

#include <sched.h>
#include <sys/uio.h>

#define UNIT (2 * MIB)

static unsigned char page_byte(size_t page, unsigned seed)
{
    return (unsigned char)(page * 131 + seed + 1);
}

/* Every byte of every page set: the pages are all present, a unit is whole. */
static void pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t off = 0; off < n; off += 4096)
        memset(p + off, page_byte(off / 4096, seed), 4096);
}

/* The first, a middle and the last byte of each page; the first bad page
 * offset + 1, or 0. */
static size_t check(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t off = 0; off < n; off += 4096) {
        unsigned char want = page_byte(off / 4096, seed);
        if (p[off] != want || p[off + 2049] != want || p[off + 4095] != want)
            return off + 1;
    }
    return 0;
}

static size_t zero_pages(const unsigned char *p, size_t n)
{
    size_t z = 0;
    for (size_t off = 0; off < n; off += 4096)
        z += !p[off] && !p[off + 4095];
    return z;
}

static volatile bool readers_stop;
static unsigned char *read_area;
static size_t read_len;

static void *reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    unsigned long sum = 0;
    while (!__atomic_load_n(&readers_stop, __ATOMIC_RELAXED)) {
        seed = seed * 1103515245 + 12345;
        size_t off = ((seed >> 8) % (read_len / 4096)) * 4096;
        sum += read_area[off];
        usleep(200);
    }
    return (void *)(uintptr_t)sum;
}

static int clone_child(void *arg)
{
    const unsigned char *p = arg;
    return check(p, 64 * MIB, 1) ? 1 : 0;
}

/* park-safety SECONDS: under sampling (the test sets short epochs), two
 * threads read a 64 MiB THP mapping at random while the main thread, over
 * and over: read(2) from a pipe and pread(2) from a file into it, write(2)
 * from it, reads it with process_vm_readv and /proc/self/mem; purges a unit
 * of a second mapping with MADV_DONTNEED (it must read back as zeroes,
 * never as its old data), unmaps and maps a third again (zeroes), mremaps a
 * fourth to a new place (data moves with it), mprotects, mlocks and mbinds units,
 * asks move_pages where every unit's first page is (present: a node),
 * forks a child and clones one without CLONE_VM that check the data.  At
 * the end everything is checked; each step prints its failures. */
static int cmd_park_safety(int argc, char **argv)
{
    CHECK(argc >= 1);
    double seconds = atof(argv[0]);
    /* Which steps run (all by default): k kernel access, d dontneed, u unmap,
     * r mremap, p mprotect, l mlock, b mbind, n move_pages, f fork, c clone. */
    const char *steps = argc >= 2 ? argv[1] : "kdurplbnfc";
    /* mbind as the program would call it (libnuma's symbol; hugeshim's
     * brackets it), found at run time: this program does not link libnuma. */
    long (*mbind_fn)(void *, unsigned long, int, const unsigned long *, unsigned long, unsigned) =
        (long (*)(void *, unsigned long, int, const unsigned long *, unsigned long, unsigned))dlsym(RTLD_DEFAULT,
                                                                                                    "mbind");
    long (*move_pages_fn)(int, unsigned long, void **, const int *, int *, int) =
        (long (*)(int, unsigned long, void **, const int *, int *, int))dlsym(RTLD_DEFAULT, "move_pages");
#define STEP(c) (strchr(steps, c) != NULL)
    size_t n = 64 * MIB;
    unsigned char *a = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *d = mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *m = mmap(NULL, 16 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t m_len = 16 * MIB;
    unsigned char *heap = malloc(32 * MIB);
    CHECK(a != MAP_FAILED && d != MAP_FAILED && m != MAP_FAILED && heap);
    pattern(a, n, 1);
    pattern(d, 8 * MIB, 2);
    pattern(m, m_len, 3);
    pattern(heap, 32 * MIB, 4);
    if (getenv("PARK_DEBUG"))
        fprintf(stderr, "a=%p d=%p m=%p heap=%p\n", (void *)a, (void *)d, (void *)m, (void *)heap);
    unsigned long huge0 = 0, rss0 = 0;
    read_rollup(&rss0, &huge0);
    printf("anon_huge_kb_start=%lu\n", huge0);
    /* Where the kernel had no huge page to give: a fault served with base
     * pages (a fresh fault of the program's, d and m, then stays so, and a
     * parked unit comes back split) or a collapse that found none (the
     * split unit stays so for now). */
    unsigned long fallback0 = vmstat_counter("thp_fault_fallback") + vmstat_counter("thp_zero_page_alloc_failed") +
                              vmstat_counter("thp_collapse_alloc_failed");
    read_area = a;
    read_len = n;
    pthread_t readers[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&readers[i], NULL, reader, (void *)(uintptr_t)(i + 7)) == 0);

    char tmpl[] = "/tmp/hs-park-XXXXXX";
    int file = mkstemp(tmpl);
    CHECK(file >= 0);
    unlink(tmpl);
    int fds[2];
    CHECK(pipe(fds) == 0);
    int mem = open("/proc/self/mem", O_RDONLY);
    static unsigned char buf[4096], stack_mem[256 * 1024];
    size_t failures[14] = {0}, rounds = 0, proc_mem_eio = 0, move_pages_calls = 0;
    const char *names[14] = {"pipe_read",  "pipe_write",  "pread", "process_vm_readv", "proc_mem",
                             "dontneed",   "remap_zero",  "mremap", "mprotect",        "mlock",
                             "fork_child", "clone_child", "mbind", "move_pages"};
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned seed = 12345;
    do {
        rounds++;
        seed = seed * 1103515245 + 12345;
        size_t page = (seed >> 8) % (n / 4096), off = page * 4096;
        unsigned char want = page_byte(page, 1);
        if (STEP('k')) {
        /* The kernel writes into the mapping (the same bytes it holds). */
        memset(buf, want, sizeof buf);
        CHECK(write(fds[1], buf, sizeof buf) == (ssize_t)sizeof buf);
        failures[0] += read(fds[0], a + off, 4096) != 4096 || a[off] != want || a[off + 4095] != want;
        /* The kernel reads from it. */
        CHECK(write(fds[1], a + off, 4096) == 4096);
        failures[1] += read(fds[0], buf, 4096) != 4096 || buf[0] != want || buf[4095] != want;
        /* pread(2) from a file into it. */
        memset(buf, want, sizeof buf);
        CHECK(pwrite(file, buf, sizeof buf, 0) == (ssize_t)sizeof buf);
        failures[2] += pread(file, a + off, 4096, 0) != 4096 || a[off + 100] != want;
        /* Remote-style access: process_vm_readv and /proc/self/mem. */
        struct iovec local = {buf, 4096}, remote = {a + off, 4096};
        memset(buf, 0, sizeof buf);
        failures[3] += syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0) != 4096 || buf[9] != want;
        /* /proc/self/mem reads without letting the fault wait (the kernel's
         * access_remote_vm): a parked unit is an I/O error there, never
         * wrong data. */
        memset(buf, 0, sizeof buf);
        ssize_t got = mem >= 0 ? pread(mem, buf, 4096, (off_t)(uintptr_t)(a + off)) : -1;
        if (got < 0 && errno == EIO)
            proc_mem_eio++;
        failures[4] += mem >= 0 && ((got < 0 && errno != EIO) || (got > 0 && (got != 4096 || buf[4000] != want)));
        }
        /* A purge must drop the program's pages: zeroes after, never the old data. */
        size_t u = (seed >> 4) % 4;
        if (STEP('d')) {
        int adv = madvise(d + u * UNIT, UNIT, MADV_DONTNEED);
        size_t zeroes = zero_pages(d + u * UNIT, UNIT);
        if ((adv != 0 || zeroes != UNIT / 4096) && !failures[5])
            printf("dontneed_first_failure=madvise %d errno %d, %zu zero pages of %lu\n", adv, errno, zeroes, UNIT / 4096);
        failures[5] += adv != 0 || zeroes != UNIT / 4096;
        for (size_t off2 = 0; off2 < UNIT; off2 += 4096)
            memset(d + u * UNIT + off2, page_byte((u * UNIT + off2) / 4096, 2), 4096);
        }
        /* Unmapped and mapped again: a new mapping is zero. */
        if (rounds % 4 == 0 && STEP('u')) {
            CHECK(munmap(m, m_len) == 0);
            m = mmap(NULL, m_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            CHECK(m != MAP_FAILED);
            failures[6] += zero_pages(m, m_len) != m_len / 4096;
            pattern(m, m_len, 3);
        } else if (rounds % 4 == 1 && STEP('r')) {
            /* Moved elsewhere and grown: the data moves with it. */
            unsigned char *q = mremap(m, m_len, m_len + UNIT, MREMAP_MAYMOVE);
            size_t bad = q == MAP_FAILED ? 0 : check(q, m_len, 3);
            if ((q == MAP_FAILED || bad) && !failures[7])
                printf("mremap_first_failure=%s errno %d, bad page at %zu\n", q == MAP_FAILED ? "failed" : "data",
                       q == MAP_FAILED ? errno : 0, bad ? bad - 1 : 0);
            if (q == MAP_FAILED && !failures[7] && getenv("PARK_DEBUG")) {
                char cmd[160];
                snprintf(cmd, sizeof cmd, "awk '/^[0-9a-f]+-/{r=$1} /VmFlags/{print r, $0}' /proc/%d/smaps | grep -A4 -B1 '^%lx'", getpid(), (unsigned long)m);
                if (system(cmd) != 0)
                    printf("(no maps)\n");
            }
            failures[7] += q == MAP_FAILED || bad != 0;
            if (q != MAP_FAILED) {
                m = mremap(q, m_len + UNIT, m_len, 0);
                CHECK(m != MAP_FAILED);
            }
        } else if (rounds % 4 == 2 && STEP('p')) {
            size_t k = (seed >> 12) % (n / UNIT);
            failures[8] += mprotect(a + k * UNIT, UNIT, PROT_READ) != 0 || check(a + k * UNIT, UNIT, 1) != 0 ||
                           mprotect(a + k * UNIT, UNIT, PROT_READ | PROT_WRITE) != 0;
        } else if (rounds % 4 == 3 && STEP('l')) {
            size_t k = (seed >> 12) % (n / UNIT);
            failures[9] += mlock(a + k * UNIT, UNIT) != 0 || check(a + k * UNIT, UNIT, 1) != 0 ||
                           munlock(a + k * UNIT, UNIT) != 0;
        }
        if (rounds % 8 == 5 && STEP('b') && mbind_fn) {
            /* A preferred node, then the default policy again, on a unit. */
            size_t k = (seed >> 12) % (n / UNIT);
            unsigned long node0 = 1;
            failures[12] += mbind_fn(a + k * UNIT, UNIT, 1 /* MPOL_PREFERRED */, &node0, 2, 0) != 0 ||
                            check(a + k * UNIT, UNIT, 1) != 0 || mbind_fn(a + k * UNIT, UNIT, 0, NULL, 0, 0) != 0;
        }
        if (rounds % 8 == 6 && STEP('n') && move_pages_fn) {
            /* Where each unit's first page is: every one is present. */
            static void *firsts[64 * MIB / UNIT];
            static int status[64 * MIB / UNIT];
            for (size_t k = 0; k < n / UNIT; k++)
                firsts[k] = a + k * UNIT;
            long rc = move_pages_fn(0, n / UNIT, firsts, NULL, status, 0);
            move_pages_calls++;
            for (size_t k = 0; k < n / UNIT; k++) {
                if ((rc != 0 || status[k] < 0) && !failures[13])
                    printf("move_pages_first_failure=unit %zu: rc %ld, status %d\n", k, rc, status[k]);
                failures[13] += rc != 0 || status[k] < 0;
            }
        }
        if (rounds % 16 == 0 && STEP('f')) {
            pid_t pid = fork();
            CHECK(pid >= 0);
            if (pid == 0)
                _exit(check(a, n, 1) || check(heap, 32 * MIB, 4) ? 1 : 0);
            int st;
            CHECK(waitpid(pid, &st, 0) == pid);
            failures[10] += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        }
        if (rounds % 16 == 8 && STEP('c')) {
            pid_t pid = clone(clone_child, stack_mem + sizeof stack_mem, SIGCHLD, a);
            CHECK(pid > 0);
            int st;
            CHECK(waitpid(pid, &st, 0) == pid);
            failures[11] += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        }
        usleep(2000);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    __atomic_store_n(&readers_stop, true, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++)
        pthread_join(readers[i], NULL);
    size_t bad_a = check(a, n, 1), bad_heap = check(heap, 32 * MIB, 4), bad_m = check(m, m_len, 3);
    size_t bad_d = 0;
    for (size_t off = 0; off < 8 * MIB && !bad_d; off += 4096)
        bad_d = d[off] != page_byte(off / 4096, 2) ? off + 1 : 0;
    unsigned long huge1 = 0, rss1 = 0;
    read_rollup(&rss1, &huge1);
    printf("rounds=%zu\nproc_mem_eio=%zu\nmove_pages_calls=%zu\n", rounds, proc_mem_eio, move_pages_calls);
    size_t total = 0;
    for (int i = 0; i < 14; i++) {
        printf("failed_%s=%zu\n", names[i], failures[i]);
        total += failures[i];
    }
    printf("bad_a=%zu\nbad_heap=%zu\nbad_m=%zu\nbad_d=%zu\n", bad_a, bad_heap, bad_m, bad_d);
    printf("anon_huge_kb_end=%lu\n", huge1);
    printf("thp_fallbacks=%lu\n", vmstat_counter("thp_fault_fallback") + vmstat_counter("thp_zero_page_alloc_failed") +
                                       vmstat_counter("thp_collapse_alloc_failed") - fallback0);
    if (getenv("PARK_DEBUG")) { /* a's units on base pages */
        int pm = open("/proc/self/pagemap", O_RDONLY);
        for (size_t off = 0; pm >= 0 && off < n; off += UNIT)
            if (huge_kb_in(pm, (uintptr_t)(a + off), UNIT) != UNIT / 1024)
                fprintf(stderr, "a unit %p not huge\n", (void *)(a + off));
        if (pm >= 0)
            close(pm);
    }
    if (huge1 + 4096 < huge0 && getenv("PARK_DEBUG")) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "awk '/^[0-9a-f]+-/{r=$1} /^(Rss|AnonHugePages):/{printf \"%%s %%s %%s\\n\", r, $1, $2}' /proc/%d/smaps | grep -v ' 0$' >&2", getpid());
        if (system(cmd) != 0)
            printf("(no smaps)\n");
    }
    printf("failures=%zu\nintact=%d\n", total, !bad_a && !bad_heap && !bad_m && !bad_d);
    return 0;
}

/* pipe-eof: a pipe made before hugeshim's fault thread starts (at the first
 * epoch) must still end when the program closes its write end: the thread's
 * own descriptor table must hold none of the program's descriptors. */
static int cmd_pipe_eof(int argc, char **argv)
{
    (void)argc, (void)argv;
    unsigned long (*hs_epochs)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "hugeshim_epochs");
    CHECK(hs_epochs);
    int fds[2];
    CHECK(pipe(fds) == 0);
    for (int spins = 0; hs_epochs() < 2; spins++) {
        CHECK(spins < 30000);
        usleep(1000);
    }
    CHECK(close(fds[1]) == 0);
    alarm(10); /* a read that never ends is the failure */
    char c;
    ssize_t n = read(fds[0], &c, 1);
    alarm(0);
    printf("eof=%d\n", n == 0);
    return 0;
}

const probe_cmd_t probe_park_cmds[] = {
    {"pipe-eof", "", cmd_pipe_eof},
    {"park-safety", "SECONDS [STEPS]", cmd_park_safety},
    {NULL, NULL, NULL},
};
