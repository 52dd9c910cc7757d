/* hs_stress: a multi-threaded malloc/realloc/free/fork/exec stress with
 * its own checks, for the compat suite.  THREADS threads (default 16) each
 * run ROUNDS rounds (default 200000) over 256 slots: allocate a random size
 * (mostly small, sometimes up to 4 MiB), fill it with a pattern derived
 * from the slot and round, grow or shrink it with realloc (the prefix must
 * survive), check and free.  Every 5000 rounds a thread forks a child that
 * checks every live slot of its thread, writes into them (copy-on-write)
 * and exits; every 7000 rounds it posix_spawns /bin/true.  Prints a digest
 * of the thread-independent work, so runs under different allocators print
 * the same line.  Any check failing prints what and exits 1. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SLOTS 256

typedef struct slot {
    unsigned char *p;
    size_t n;
    uint8_t tag;
} slot_t;

typedef struct worker {
    int id;
    unsigned long rounds;
    uint64_t digest;
    slot_t slots[SLOTS];
} worker_t;

static uint64_t next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void fail(const char *what, int id, unsigned long round)
{
    fprintf(stderr, "hs_stress: FAILED: %s (thread %d, round %lu)\n", what, id, round);
    exit(1);
}

static void fill(unsigned char *p, size_t from, size_t n, uint8_t tag)
{
    for (size_t i = from; i < n; i++)
        p[i] = (uint8_t)(tag + i * 31);
}

static int check(const unsigned char *p, size_t n, uint8_t tag)
{
    for (size_t i = 0; i < n; i += (n > 4096 ? 509 : 1))
        if (p[i] != (uint8_t)(tag + i * 31))
            return 0;
    return 1;
}

/* The mapping that holds addr, as /proc/self/smaps has it (its flags:
 * huge pages, userfaultfd registration), and the page's pagemap entry
 * (present, exclusively mapped, write-protected by a userfaultfd): what a
 * failed check needs to tell where the bytes went.  No malloc: the heap may
 * be what is broken. */
static void describe_page(const void *addr)
{
    static char buf[1 << 20];
    uintptr_t a = (uintptr_t)addr;
    int fd = open("/proc/self/smaps", O_RDONLY);
    ssize_t n = 0, got;
    if (fd >= 0) {
        while (n < (ssize_t)sizeof buf - 1 && (got = read(fd, buf + n, sizeof buf - 1 - (size_t)n)) > 0)
            n += got;
        close(fd);
    }
    buf[n > 0 ? n : 0] = '\0';
    for (char *line = buf; line && *line;) {
        unsigned long lo, hi;
        char *next = strchr(line, '\n');
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && a >= lo && a < hi) {
            /* This mapping's lines, up to the next mapping's header. */
            char *end = next;
            while (end && end[1] && sscanf(end + 1, "%lx-%lx ", &lo, &hi) != 2)
                end = strchr(end + 1, '\n');
            fprintf(stderr, "hs_stress: its mapping:\n%.*s\n", (int)(end ? end - line : (long)strlen(line)), line);
            break;
        }
        line = next ? next + 1 : NULL;
    }
    uint64_t entry = 0;
    fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd >= 0 && pread(fd, &entry, sizeof entry, (off_t)(a / 4096 * 8)) == (ssize_t)sizeof entry)
        fprintf(stderr, "hs_stress: pagemap of %p: present %d, swapped %d, exclusive %d, uffd-wp %d, soft-dirty %d\n",
                addr, (int)(entry >> 63 & 1), (int)(entry >> 62 & 1), (int)(entry >> 56 & 1), (int)(entry >> 57 & 1),
                (int)(entry >> 55 & 1));
    if (fd >= 0)
        close(fd);
}

/* check(), and when it fails, what was there instead (0: the bytes were
 * lost to zeroes; 0xEE: a child's writes reached the parent) before fail(). */
static void must_hold(const char *what, int id, unsigned long round, const unsigned char *p, size_t n, uint8_t tag)
{
    if (check(p, n, tag))
        return;
    size_t bad = 0, bad_n = 0, zero = 0, ee = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)(tag + i * 31)) {
            if (!bad_n)
                bad = i;
            bad_n++;
            zero += p[i] == 0;
            ee += p[i] == 0xEE;
        }
    fprintf(stderr,
            "hs_stress: %zu of %zu bytes at %p differ, the first at +%zu (page %p: found 0x%02x, expected 0x%02x); "
            "of them %zu zero, %zu 0xEE\n",
            bad_n, n, (const void *)p, bad, (const void *)((uintptr_t)(p + bad) & ~(uintptr_t)4095),
            bad_n ? p[bad] : 0, (uint8_t)(tag + bad * 31), zero, ee);
    describe_page(p + bad);
    fail(what, id, round);
}

static size_t pick_size(uint64_t *x)
{
    uint64_t r = next(x);
    if (r % 1000 == 0)
        return 1 + (size_t)(next(x) % (4u << 20)); /* large: its own extent */
    if (r % 20 == 0)
        return 1 + (size_t)(next(x) % 65536);
    return 1 + (size_t)(next(x) % 512);
}

static void child_checks(worker_t *w, unsigned long round)
{
    for (int s = 0; s < SLOTS; s++) {
        slot_t *sl = &w->slots[s];
        if (!sl->p)
            continue;
        must_hold("child sees the parent's data changed", w->id, round, sl->p, sl->n, sl->tag);
        memset(sl->p, 0xEE, sl->n); /* copy-on-write in the child only */
    }
    void *extra = malloc(1 << 20);
    if (!extra)
        fail("malloc in the child", w->id, round);
    memset(extra, 1, 1 << 20);
    free(extra);
    _exit(0);
}

static void *work(void *arg)
{
    worker_t *w = arg;
    uint64_t x = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)w->id << 32 | 1);
    for (unsigned long round = 1; round <= w->rounds; round++) {
        slot_t *sl = &w->slots[next(&x) % SLOTS];
        if (sl->p) {
            must_hold("data changed while live", w->id, round, sl->p, sl->n, sl->tag);
            if (next(&x) % 3 == 0) {
                size_t n = pick_size(&x);
                unsigned char *q = realloc(sl->p, n);
                if (!q)
                    fail("realloc returned NULL", w->id, round);
                size_t kept = n < sl->n ? n : sl->n;
                must_hold("realloc lost the prefix", w->id, round, q, kept, sl->tag);
                fill(q, kept, n, sl->tag);
                sl->p = q;
                sl->n = n;
            } else {
                w->digest = w->digest * 1099511628211ULL ^ sl->n;
                free(sl->p);
                sl->p = NULL;
            }
        } else {
            sl->n = pick_size(&x);
            sl->tag = (uint8_t)next(&x);
            sl->p = (next(&x) & 1) ? malloc(sl->n) : calloc(1, sl->n);
            if (!sl->p)
                fail("malloc returned NULL", w->id, round);
            fill(sl->p, 0, sl->n, sl->tag);
        }
        if (round % 5000 == 0) {
            pid_t pid = fork();
            if (pid < 0)
                fail("fork", w->id, round);
            if (pid == 0)
                child_checks(w, round);
            int st;
            if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail("forked child failed", w->id, round);
        }
        if (round % 7000 == 0) {
            pid_t pid;
            char *argv[] = {"/bin/true", NULL};
            if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
                fail("posix_spawn", w->id, round);
            int st;
            if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail("spawned /bin/true failed", w->id, round);
        }
    }
    for (int s = 0; s < SLOTS; s++)
        if (w->slots[s].p) {
            must_hold("data changed at the end", w->id, 0, w->slots[s].p, w->slots[s].n, w->slots[s].tag);
            w->digest = w->digest * 1099511628211ULL ^ w->slots[s].n;
            free(w->slots[s].p);
        }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 16;
    unsigned long rounds = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
    if (threads < 1 || threads > 256)
        threads = 16;
    worker_t *w = calloc((size_t)threads, sizeof *w);
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    if (!w || !t)
        return 1;
    for (int i = 0; i < threads; i++) {
        w[i].id = i;
        w[i].rounds = rounds;
        if (pthread_create(&t[i], NULL, work, &w[i]) != 0)
            fail("pthread_create", i, 0);
    }
    uint64_t digest = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        digest = digest * 31 + w[i].digest;
    }
    printf("hs_stress: %d threads x %lu rounds, digest %016llx\n", threads, rounds, (unsigned long long)digest);
    free(w);
    free(t);
    return 0;
}
