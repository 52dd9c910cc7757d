/* mloop: the allocation path alone: N malloc/free pairs of small sizes
 * (16-256 bytes, a few live at a time), as in an allocator's hot loop.
 * Usage: mloop [N] (default 100000000).  Prints ns_per_pair. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000000ULL, x = BENCH_SEED, sum = 0;
    void *live[64] = {0};
    double t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        unsigned slot = (unsigned)(i & 63);
        free(live[slot]);
        size_t size = 16 + (bench_next(&x) & 15) * 16;
        live[slot] = malloc(size);
        if (!live[slot])
            return 1;
        ((volatile char *)live[slot])[0] = (char)i;
        sum += (uintptr_t)live[slot] & 0xff;
    }
    double t = bench_now() - t0;
    for (int i = 0; i < 64; i++)
        free(live[i]);
    printf("ns_per_pair=%.2f\ncheck=%llu\n", t * 1e9 / (double)n, (unsigned long long)sum);
    return 0;
}
