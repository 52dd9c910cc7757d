/* probe.h: what the commands of hs_probe share: the helpers that read what
 * the kernel gave the process (smaps, smaps_rollup), fill and verify data,
 * and the command table each area file contributes to. */
#ifndef HS_PROBE_H
#define HS_PROBE_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
void *__libc_malloc(size_t);

#define MIB (1024UL * 1024UL)

/* Print "hs_probe: FAILED: what" and exit 1. */
__attribute__((noreturn)) void die(const char *what);
#define CHECK(cond)                                                                                    \
    do {                                                                                               \
        if (!(cond))                                                                                   \
            die(#cond);                                                                                \
    } while (0)

/* A command: its name, its arguments for the usage line, and what it runs
 * with the arguments after its name. */
typedef struct probe_cmd {
    const char *name;
    const char *args;
    int (*run)(int argc, char **argv);
} probe_cmd_t;
/* Each area's commands, ended by a {NULL} entry. */
extern const probe_cmd_t probe_heap_cmds[], probe_mmap_cmds[], probe_process_cmds[], probe_track_cmds[],
    probe_park_cmds[];

size_t parse_size(const char *s);
unsigned long field_kb(const char *line, const char *name);
void print_vma(const char *prefix, const void *addr);
void print_totals(void);
void read_rollup(unsigned long *rss_kb, unsigned long *huge_kb);
/* KiB of [start, start+len) mapped by huge pages (PAGEMAP_SCAN's
 * PAGE_IS_HUGE) through the pagemap fd; -1 where PAGEMAP_SCAN is missing. */
long huge_kb_in(int fd, uintptr_t start, size_t len);
/* A /proc/vmstat counter, or 0. */
unsigned long vmstat_counter(const char *name);
void print_rollup(void);
void let_passes_run(bool aligned);
void fill(unsigned char *p, size_t n, unsigned seed);
int verify_prefix(const unsigned char *p, size_t n, unsigned seed);
int verify(const unsigned char *p, size_t n, unsigned seed);
int count_threads(void);
/* CLOCK_MONOTONIC in seconds. */
double now_seconds(void);

#endif
