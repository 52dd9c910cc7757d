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

struct node {
    uint64_t key, value;
    struct node *next;
    char payload[24];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    size_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 40000000ULL;
    uint64_t updates = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000000ULL;
    struct node **nodes = malloc(count * sizeof *nodes);
    if (!nodes) {
        perror("smallobj: malloc");
        return 1;
    }
    double t0 = now();
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
    double t1 = now();
    uint64_t x = 88172645463325252ULL;
    for (uint64_t u = 0; u < updates; u++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        struct node *n = nodes[x % count];
        n->value += n->key;
    }
    double t2 = now();
    uint64_t check = 0;
    for (size_t i = 0; i < count; i += 4096)
        check ^= nodes[i]->value;
    long hwm_kb = -1;
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    while (status && fgets(line, sizeof line, status))
        if (sscanf(line, "VmHWM: %ld kB", &hwm_kb) == 1)
            break;
    if (status)
        fclose(status);
    printf("vmhwm_kb=%ld\nalloc_s=%.3f\nmups=%.2f\ncheck=%llx\n", hwm_kb, t1 - t0,
           (double)updates / (t2 - t1) / 1e6, (unsigned long long)check);
    for (size_t i = 0; i < count; i++)
        free(nodes[i]);
    free(nodes);
    return 0;
}
