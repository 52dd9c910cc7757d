/* gups: one large malloc'd array, touched once (first-touch time), then
 * random read-modify-write updates over it (GUPS-style, updates per second).
 * Knows nothing of hugeshim: run it plain or under the shim.
 *   gups [SIZE [UPDATES]]   SIZE with k/M/G suffix (default 1G), UPDATES default 50M
 * Prints key=value lines: vmhwm_kb, anon_huge_kb (while the array lives),
 * size_bytes, first_touch_s, updates, update_s, mups. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

static size_t parse_size(const char *s)
{
    char *end;
    size_t v = strtoull(s, &end, 10);
    switch (*end) {
    case 'k': case 'K': return v << 10;
    case 'm': case 'M': return v << 20;
    case 'g': case 'G': return v << 30;
    default: return v;
    }
}

int main(int argc, char **argv)
{
    size_t bytes = argc > 1 ? parse_size(argv[1]) : (size_t)1 << 30;
    uint64_t updates = argc > 2 ? strtoull(argv[2], NULL, 10) : 50000000ULL;
    size_t n = bytes / sizeof(uint64_t);
    if (n == 0) {
        fprintf(stderr, "gups: size too small\n");
        return 2;
    }
    uint64_t *a = malloc(n * sizeof *a);
    if (!a) {
        perror("gups: malloc");
        return 1;
    }
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++)
        a[i] = i;
    double t1 = bench_now();
    uint64_t x = BENCH_SEED;
    for (uint64_t u = 0; u < updates; u++) {
        bench_next(&x);
        a[x % n] ^= x;
    }
    double t2 = bench_now();
    uint64_t check = 0;
    for (size_t i = 0; i < n; i += 4096)
        check ^= a[i];
    long hwm_kb = bench_peak_rss_kb();
    printf("vmhwm_kb=%ld\nanon_huge_kb=%ld\n", hwm_kb, bench_anon_huge_kb());
    printf("size_bytes=%zu\nfirst_touch_s=%.3f\nupdates=%llu\nupdate_s=%.3f\nmups=%.2f\ncheck=%llx\n", bytes,
           t1 - t0, (unsigned long long)updates, t2 - t1, (double)updates / (t2 - t1) / 1e6,
           (unsigned long long)check);
    free(a);
    return 0;
}
