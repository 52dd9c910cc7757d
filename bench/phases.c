/* phases: a workload with a life story, for hugeshim's sites and heat
 * pictures (README: "Seeing it").  Like an analytics job: load a table
 * (written hard, then only read), build an index over it (written during
 * its phase), then serve queries that update a small hot set of counters
 * and a session cache of many small objects; a log buffer is allocated and
 * never touched.  Each phase lasts PHASE_S seconds (default 2).
 * Usage: phases [PHASE_S].  Prints a checksum so the work cannot vanish. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MIB (1024UL * 1024UL)

/* Each site fails with its own message: the sites' code differs, so the
 * compiler cannot fold them into one function (-fipa-icf would, and the
 * report would name one for all; the caller's line still tells them apart). */
static __attribute__((noreturn)) void fail(const char *what)
{
    fprintf(stderr, "phases: out of memory for %s\n", what);
    exit(1);
}

static __attribute__((noinline)) uint64_t *load_table(size_t bytes)
{
    uint64_t *t = malloc(bytes);
    if (!t)
        fail("the table");
    __asm__ volatile("" : : "r"(t) : "memory");
    return t;
}

static __attribute__((noinline)) uint32_t *build_index(size_t bytes)
{
    uint32_t *ix = malloc(bytes);
    if (!ix)
        fail("the index");
    __asm__ volatile("" : : "r"(ix) : "memory");
    return ix;
}

static __attribute__((noinline)) uint64_t *query_counters(size_t bytes)
{
    uint64_t *c = calloc(1, bytes);
    if (!c)
        fail("the counters");
    __asm__ volatile("" : : "r"(c) : "memory");
    return c;
}

struct session {
    uint64_t id, hits;
    char name[48];
};

static __attribute__((noinline)) struct session *new_session(uint64_t id)
{
    struct session *s = malloc(sizeof *s);
    if (!s)
        fail("a session");
    s->id = id;
    s->hits = 0;
    snprintf(s->name, sizeof s->name, "session-%llu", (unsigned long long)id);
    return s;
}

static __attribute__((noinline)) char *log_buffer(size_t bytes)
{
    char *b = malloc(bytes);
    if (!b)
        fail("the log buffer");
    __asm__ volatile("" : : "r"(b) : "memory");
    return b;
}

int main(int argc, char **argv)
{
    double phase = argc > 1 ? atof(argv[1]) : 2.0;
    const size_t table_bytes = 512 * MIB, index_bytes = 128 * MIB, counter_bytes = 32 * MIB;
    const size_t nsessions = 400000;
    uint64_t x = BENCH_SEED, sum = 0;
    char *log = log_buffer(256 * MIB);
    /* Phase 1: load the table, writing it over and over (parsing, fixing up). */
    uint64_t *table = load_table(table_bytes);
    size_t n = table_bytes / sizeof *table;
    double end = bench_now() + phase;
    for (uint64_t pass = 1; bench_now() < end; pass++)
        for (size_t i = 0; i < n; i += 512)
            table[i] = pass * i;
    memset(table, 7, table_bytes);
    /* Phase 2: build the index (the table is only read now). */
    uint32_t *index = build_index(index_bytes);
    size_t m = index_bytes / sizeof *index;
    end = bench_now() + phase;
    while (bench_now() < end)
        for (size_t i = 0; i < m; i += 1024)
            index[i] = (uint32_t)table[(bench_next(&x) % n)] ^ (uint32_t)i;
    /* Phase 3 and 4: queries update a small counter array and a session
     * cache; the table and the index are read. */
    uint64_t *counters = query_counters(counter_bytes);
    size_t k = counter_bytes / sizeof *counters;
    struct session **sessions = malloc(nsessions * sizeof *sessions);
    if (!sessions)
        return 1;
    for (size_t i = 0; i < nsessions; i++)
        sessions[i] = new_session(i);
    end = bench_now() + 2 * phase;
    while (bench_now() < end)
        for (int q = 0; q < 100000; q++) {
            uint64_t r = bench_next(&x);
            counters[r % k]++;
            sessions[(r >> 20) % nsessions]->hits++;
            sum += table[(r >> 8) % n] + index[(r >> 12) % m];
        }
    for (size_t i = 0; i < nsessions; i++) {
        sum += sessions[i]->hits;
        free(sessions[i]);
    }
    printf("checksum=%llu\nlog=%p\n", (unsigned long long)sum, (void *)log);
    free(sessions);
    free(counters);
    free(index);
    free(table);
    free(log);
    return 0;
}
