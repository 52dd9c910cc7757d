/* bench.h: what the benchmark programs share: a monotonic clock, the same
 * random sequence in every run, and peak RSS. */
#ifndef HS_BENCH_H
#define HS_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

/* The value of a "NAME:   N kB" line of a /proc file, in KiB, -1 if absent. */
static inline long bench_proc_kb(const char *path, const char *name)
{
    long kb = -1;
    char line[256];
    size_t n = strlen(name);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, name, n) && line[n] == ':' && sscanf(line + n + 1, "%ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* Peak resident memory (VmHWM) in KiB, -1 if unknown: what huge pages cost in RSS. */
static inline long bench_peak_rss_kb(void)
{
    return bench_proc_kb("/proc/self/status", "VmHWM");
}

/* The process's AnonHugePages now (smaps_rollup) in KiB, -1 if unknown: the
 * huge pages the kernel gave it, whoever asked. */
static inline long bench_anon_huge_kb(void)
{
    return bench_proc_kb("/proc/self/smaps_rollup", "AnonHugePages");
}

#endif
