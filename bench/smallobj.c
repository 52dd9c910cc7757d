/* smallobj: many small malloc'd objects touched at random, as in a hash table
 * or an object graph: allocation time, random updates per second, peak RSS.
 *   smallobj [COUNT [UPDATES]]   COUNT objects of 48 bytes (default 40M),
 *                                UPDATES random updates (default 100M)
 * Prints key=value lines: alloc_s, mups, vmhwm_kb, check. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

struct node {
    uint64_t key, value;
    struct node *next;
    char payload[24];
};

int main(int argc, char **argv)
{
    size_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 40000000ULL;
    uint64_t updates = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000000ULL;
    struct node **nodes = malloc(count * sizeof *nodes);
    if (!nodes) {
        perror("smallobj: malloc");
        return 1;
    }
    double t0 = bench_now();
    for (size_t i = 0; i < count; i++) {
        nodes[i] = malloc(sizeof(struct node));
        if (!nodes[i]) {
            perror("smallobj: malloc");
            return 1;
        }
        nodes[i]->key = i;
        nodes[i]->value = 0;
        nodes[i]->next = i ? nodes[i - 1] : NULL;
    }
    double t1 = bench_now();
    uint64_t x = BENCH_SEED;
    for (uint64_t u = 0; u < updates; u++) {
        bench_next(&x);
        struct node *n = nodes[x % count];
        n->value += n->key;
    }
    double t2 = bench_now();
    uint64_t check = 0;
    for (size_t i = 0; i < count; i += 4096)
        check ^= nodes[i]->value;
    long hwm_kb = bench_peak_rss_kb();
    printf("vmhwm_kb=%ld\nalloc_s=%.3f\nmups=%.2f\ncheck=%llx\n", hwm_kb, t1 - t0,
           (double)updates / (t2 - t1) / 1e6, (unsigned long long)check);
    for (size_t i = 0; i < count; i++)
        free(nodes[i]);
    free(nodes);
    return 0;
}
