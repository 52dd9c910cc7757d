/* alloc: the small-object suite: the shapes of the public allocator
 * benchmarks, written here, run under any allocator by LD_PRELOAD.
 *
 * Usage: alloc TEST THREADS [SCALE]
 *   wset     each thread replaces random slots of its own working set (1024
 *            blocks, sizes 8 B-32 KiB, log-uniform): glibc's malloc-thread
 *   xthread  each thread allocates batches and hands them to the next thread,
 *            which frees them: producer/consumer, every free cross-thread
 *            (needs 2 threads or more)
 *   mixed    random sizes 8 B-16 KiB (mostly small) over a live set of 4096
 *            per thread, one object in 8 freed by another thread: rptest
 *   larson   server pattern: threads replace random slots (16-1024 B), then
 *            exit; a new thread inherits the slots and frees what the dead
 *            one allocated
 *   single   one thread, allocation-intensive: short-lived lists of nodes
 *            and copied strings of random sizes (cfrac, espresso)
 *   large    one thread: blocks of 1-64 MiB allocated, written, freed, 4 live
 *   bigheap  one thread: 16 M objects of 64 B (1 GiB) allocated, then random
 *            read-modify-writes through them: where the heap's pages matter
 * SCALE multiplies the work (default 1).  Prints
 *   test=T threads=N ops=O seconds=S mops=M rss_kb=R
 * ops counts malloc/free pairs (bigheap: updates; its allocation time is
 * alloc_seconds, and anon_huge_kb the huge pages its objects had).  Fixed work, not fixed time, so every allocator does the same. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static double scale = 1.0;
static unsigned nthreads;

static uint64_t work(double base)
{
    double n = base * scale;
    return n < 1 ? 1 : (uint64_t)n;
}

/* Log-uniform size in [lo, hi]: many small, some large, as real programs. */
static size_t log_size(uint64_t *x, unsigned lo_bits, unsigned hi_bits)
{
    unsigned bits = lo_bits + (unsigned)(bench_next(x) % (hi_bits - lo_bits + 1));
    size_t base = (size_t)1 << bits;
    return base + (size_t)(bench_next(x) & (base - 1));
}

static void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "alloc: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- mailboxes: batches of pointers handed to another thread ---- */

#define BATCH 256
typedef struct batch {
    struct batch *next;
    unsigned n;
    void *p[BATCH];
} batch_t;

typedef struct {
    pthread_mutex_t lock;
    batch_t *head;
    unsigned queued; /* batches waiting */
    char pad[64];
} mailbox_t;

/* A producer waits while its consumer has this many batches waiting, so that
 * the live set is bounded and does not depend on how threads are scheduled. */
#define QUEUE_MAX 16

static mailbox_t *boxes;

static batch_t *take(unsigned me)
{
    pthread_mutex_lock(&boxes[me].lock);
    batch_t *b = boxes[me].head;
    boxes[me].head = NULL;
    boxes[me].queued = 0;
    pthread_mutex_unlock(&boxes[me].lock);
    return b;
}

static uint64_t drain(batch_t *b);
static unsigned producing; /* threads still handing batches on */

/* A thread done handing batches on frees what it is handed until every
 * thread is done, then what is left. */
static uint64_t finish(unsigned me)
{
    uint64_t freed = 0;
    __atomic_sub_fetch(&producing, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&producing, __ATOMIC_ACQUIRE)) {
        freed += drain(take(me));
        sched_yield();
    }
    return freed + drain(take(me));
}

/* Hand a batch to thread `to`; while its queue is full, free what this
 * thread was handed (so that two full queues never wait on each other). */
static uint64_t post(unsigned me, unsigned to, batch_t *b)
{
    uint64_t freed = 0;
    for (;;) {
        pthread_mutex_lock(&boxes[to].lock);
        if (boxes[to].queued < QUEUE_MAX || to == me) {
            b->next = boxes[to].head;
            boxes[to].head = b;
            boxes[to].queued++;
            pthread_mutex_unlock(&boxes[to].lock);
            return freed;
        }
        pthread_mutex_unlock(&boxes[to].lock);
        freed += drain(take(me));
        sched_yield();
    }
}

/* Free every object of every batch in the list, and the batches. */
static uint64_t drain(batch_t *b)
{
    uint64_t n = 0;
    while (b) {
        batch_t *next = b->next;
        for (unsigned i = 0; i < b->n; i++)
            free(b->p[i]);
        n += b->n;
        free(b);
        b = next;
    }
    return n;
}

/* ---- the tests ---- */

typedef struct {
    unsigned id;
    uint64_t ops;
    void **slots; /* larson: handed from thread to thread */
    uint64_t seed;
} arg_t;

static pthread_barrier_t start;

static void *wset_thread(void *v)
{
    arg_t *a = v;
    enum { SLOTS = 1024 };
    void **slot = must(calloc(SLOTS, sizeof *slot));
    uint64_t x = BENCH_SEED + a->id, n = work(16e6 / nthreads);
    pthread_barrier_wait(&start);
    for (uint64_t i = 0; i < n; i++) {
        unsigned s = (unsigned)(bench_next(&x) % SLOTS);
        free(slot[s]);
        size_t size = log_size(&x, 3, 14);
        slot[s] = must(malloc(size));
        ((char *)slot[s])[0] = (char)i;
        ((char *)slot[s])[size - 1] = 1;
    }
    for (unsigned s = 0; s < SLOTS; s++)
        free(slot[s]);
    free(slot);
    a->ops = n;
    return NULL;
}

static void *xthread_thread(void *v)
{
    arg_t *a = v;
    uint64_t x = BENCH_SEED + a->id, n = work(64e6 / nthreads), freed = 0;
    unsigned next = (a->id + 1) % nthreads;
    pthread_barrier_wait(&start);
    for (uint64_t made = 0; made < n;) {
        batch_t *b = must(malloc(sizeof *b));
        b->n = BATCH;
        for (unsigned i = 0; i < BATCH; i++) {
            size_t size = 16 + (bench_next(&x) & 31) * 16;
            b->p[i] = must(malloc(size));
            memset(b->p[i], (int)i, 16);
        }
        made += BATCH;
        freed += post(a->id, next, b);
        freed += drain(take(a->id));
    }
    a->ops = freed + finish(a->id);
    return NULL;
}

static void *mixed_thread(void *v)
{
    arg_t *a = v;
    enum { SLOTS = 4096 };
    void **slot = must(calloc(SLOTS, sizeof *slot));
    uint64_t x = BENCH_SEED + a->id, n = work(30e6 / nthreads);
    unsigned next = (a->id + 1) % nthreads;
    batch_t *out = must(calloc(1, sizeof *out));
    pthread_barrier_wait(&start);
    for (uint64_t i = 0; i < n; i++) {
        unsigned s = (unsigned)(bench_next(&x) % SLOTS);
        if (slot[s]) {
            if (nthreads > 1 && (bench_next(&x) & 7) == 0) {
                out->p[out->n++] = slot[s];
                if (out->n == BATCH) {
                    post(a->id, next, out);
                    out = must(calloc(1, sizeof *out));
                }
            } else {
                free(slot[s]);
            }
        }
        /* 8 B-16 KiB; three in four below 256 B. */
        size_t size = (bench_next(&x) & 3) ? log_size(&x, 3, 7) : log_size(&x, 8, 13);
        slot[s] = must(malloc(size));
        ((char *)slot[s])[0] = (char)i;
        if ((i & 255) == 0)
            drain(take(a->id));
    }
    if (out->n)
        post(a->id, next, out);
    else
        free(out);
    for (unsigned s = 0; s < SLOTS; s++)
        free(slot[s]);
    free(slot);
    finish(a->id);
    a->ops = n;
    return NULL;
}

enum { LARSON_SLOTS = 1000, LARSON_ROUNDS = 40 };

static void *larson_thread(void *v)
{
    arg_t *a = v;
    uint64_t x = a->seed, n = work(48e6 / nthreads / LARSON_ROUNDS);
    for (uint64_t i = 0; i < n; i++) {
        unsigned s = (unsigned)(bench_next(&x) % LARSON_SLOTS);
        free(a->slots[s]);
        size_t size = 16 + (size_t)(bench_next(&x) % 1009);
        a->slots[s] = must(malloc(size));
        memset(a->slots[s], 1, 8);
    }
    a->seed = x;
    a->ops += n;
    return NULL;
}

static uint64_t run_threads(void *(*fn)(void *), arg_t *args)
{
    pthread_t *t = must(calloc(nthreads, sizeof *t));
    for (unsigned i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, fn, &args[i]) != 0) {
            fprintf(stderr, "alloc: pthread_create failed\n");
            exit(1);
        }
    uint64_t ops = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(t[i], NULL);
        ops += args[i].ops;
    }
    free(t);
    return ops;
}

static uint64_t larson(arg_t *args)
{
    for (unsigned i = 0; i < nthreads; i++) {
        args[i].slots = must(calloc(LARSON_SLOTS, sizeof(void *)));
        args[i].seed = BENCH_SEED + i;
    }
    /* Each round's threads exit; the next round's threads inherit the slots,
     * shifted by one so that a slot's object came from another thread. */
    for (unsigned r = 0; r < LARSON_ROUNDS; r++) {
        void **first = args[0].slots;
        for (unsigned i = 0; i + 1 < nthreads; i++)
            args[i].slots = args[i + 1].slots;
        args[nthreads - 1].slots = first;
        pthread_t *t = must(calloc(nthreads, sizeof *t));
        for (unsigned i = 0; i < nthreads; i++)
            pthread_create(&t[i], NULL, larson_thread, &args[i]);
        for (unsigned i = 0; i < nthreads; i++)
            pthread_join(t[i], NULL);
        free(t);
    }
    uint64_t ops = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        for (unsigned s = 0; s < LARSON_SLOTS; s++)
            free(args[i].slots[s]);
        free(args[i].slots);
        ops += args[i].ops;
    }
    return ops;
}

typedef struct node {
    struct node *next;
    char *text;
    size_t len;
} node_t;

static uint64_t single(void)
{
    uint64_t x = BENCH_SEED, n = work(600000), ops = 0;
    char src[1024];
    memset(src, 'a', sizeof src);
    for (uint64_t r = 0; r < n; r++) {
        node_t *head = NULL;
        unsigned len = 8 + (unsigned)(bench_next(&x) % 40);
        for (unsigned i = 0; i < len; i++) {
            node_t *nd = must(malloc(sizeof *nd));
            nd->len = log_size(&x, 2, 8);
            nd->text = must(malloc(nd->len + 1));
            memcpy(nd->text, src, nd->len);
            nd->text[nd->len] = 0;
            nd->next = head;
            head = nd;
        }
        /* Grow a few, as a parser's buffers. */
        for (node_t *nd = head; nd; nd = nd->next->next) {
            nd->len *= 2;
            nd->text = must(realloc(nd->text, nd->len + 1));
            ops++;
            if (!nd->next)
                break;
        }
        while (head) {
            node_t *nd = head;
            head = nd->next;
            free(nd->text);
            free(nd);
            ops += 2;
        }
    }
    return ops;
}

static uint64_t large(void)
{
    uint64_t x = BENCH_SEED, n = work(100), ops = 0;
    enum { LIVE = 4 };
    char *live[LIVE] = {0};
    for (uint64_t i = 0; i < n; i++) {
        unsigned s = (unsigned)(i % LIVE);
        free(live[s]);
        size_t size = ((size_t)1 + bench_next(&x) % 64) << 20;
        live[s] = must(malloc(size));
        for (size_t off = 0; off < size; off += 4096)
            live[s][off] = (char)off;
        ops++;
    }
    for (unsigned s = 0; s < LIVE; s++)
        free(live[s]);
    return ops;
}

static double alloc_seconds, update_seconds;
static long huge_kb = -1; /* bigheap: AnonHugePages while the objects lived */

static uint64_t bigheap(void)
{
    uint64_t count = work(8 << 20), x = BENCH_SEED, updates = count * 4;
    double t0 = bench_now();
    uint64_t **obj = must(malloc(count * sizeof *obj));
    for (uint64_t i = 0; i < count; i++) {
        obj[i] = must(malloc(64));
        obj[i][0] = i;
    }
    alloc_seconds = bench_now() - t0;
    double t1 = bench_now();
    for (uint64_t i = 0; i < updates; i++) {
        uint64_t *o = obj[bench_next(&x) % count];
        o[0] += i;
        o[7] ^= o[0];
    }
    update_seconds = bench_now() - t1;
    huge_kb = bench_anon_huge_kb();
    uint64_t sum = 0;
    for (uint64_t i = 0; i < count; i++) {
        sum += obj[i][7];
        free(obj[i]);
    }
    free(obj);
    if (sum == 42)
        fprintf(stderr, "bigheap: unlikely check\n");
    return updates;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: alloc wset|xthread|mixed|larson|single|large|bigheap THREADS [SCALE]\n");
        return 2;
    }
    const char *test = argv[1];
    nthreads = (unsigned)strtoul(argv[2], NULL, 10);
    if (argc > 3)
        scale = strtod(argv[3], NULL);
    if (nthreads < 1 || nthreads > 1024 || !(scale > 0)) {
        fprintf(stderr, "alloc: THREADS is 1-1024 and SCALE a positive number\n");
        return 2;
    }
    arg_t *args = must(calloc(nthreads, sizeof *args));
    boxes = must(calloc(nthreads, sizeof *boxes));
    for (unsigned i = 0; i < nthreads; i++) {
        args[i].id = i;
        pthread_mutex_init(&boxes[i].lock, NULL);
    }
    pthread_barrier_init(&start, NULL, nthreads);
    producing = nthreads;
    uint64_t ops;
    double t0 = bench_now();
    if (!strcmp(test, "wset"))
        ops = run_threads(wset_thread, args);
    else if (!strcmp(test, "xthread") && nthreads >= 2)
        ops = run_threads(xthread_thread, args);
    else if (!strcmp(test, "mixed"))
        ops = run_threads(mixed_thread, args);
    else if (!strcmp(test, "larson"))
        ops = larson(args);
    else if (!strcmp(test, "single") && nthreads == 1)
        ops = single();
    else if (!strcmp(test, "large") && nthreads == 1)
        ops = large();
    else if (!strcmp(test, "bigheap") && nthreads == 1)
        ops = bigheap();
    else {
        fprintf(stderr, "alloc: unknown test '%s' for %u threads (xthread needs 2+, single/large/bigheap 1)\n", test,
                nthreads);
        return 2;
    }
    double t = bench_now() - t0;
    if (!strcmp(test, "bigheap"))
        t = update_seconds;
    printf("test=%s threads=%u ops=%llu seconds=%.4f mops=%.3f rss_kb=%ld alloc_seconds=%.4f anon_huge_kb=%ld\n", test,
           nthreads, (unsigned long long)ops, t, (double)ops / t / 1e6, bench_peak_rss_kb(), alloc_seconds, huge_kb);
    free(args);
    free(boxes);
    return 0;
}
