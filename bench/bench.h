/* bench.h: what the benchmark programs share: a monotonic clock, the same
 * random sequence in every run, and peak RSS. */
#ifndef HS_BENCH_H
#define HS_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64: the same sequence in every run and every variant. */
static inline uint64_t bench_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}
#define BENCH_SEED 88172645463325252ULL

/* Peak resident memory (VmHWM) in KiB, -1 if unknown: what huge pages cost in RSS. */
static inline long bench_peak_rss_kb(void)
{
    long kb = -1;
    char line[256];
    FILE *status = fopen("/proc/self/status", "r");
    while (status && fgets(line, sizeof line, status))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (status)
        fclose(status);
    return kb;
}

/* The process's AnonHugePages now (smaps_rollup) in KiB, -1 if unknown: the
 * huge pages the kernel gave it, whoever asked. */
static inline long bench_anon_huge_kb(void)
{
    long kb = -1;
    char line[256];
    FILE *rollup = fopen("/proc/self/smaps_rollup", "r");
    while (rollup && fgets(line, sizeof line, rollup))
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    if (rollup)
        fclose(rollup);
    return kb;
}

#endif
