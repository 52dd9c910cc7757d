/* hs_shim.h: state shared by the files of shim/ (not exported). */
#ifndef HS_SHIM_H
#define HS_SHIM_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/hs_options.h"
#include "hs_plan.h"

#define HS_EXPORT __attribute__((visibility("default")))
#define hs_likely(x) __builtin_expect(!!(x), 1)
#define hs_unlikely(x) __builtin_expect(!!(x), 0)

/* Init state machine: UNINIT -> INITIALIZING -> ACTIVE or PASSTHROUGH.
 * PASSTHROUGH: hugeshim is off in this process (HUGESHIM_ENABLE=0, not in
 * HUGESHIM_PROGRAMS, setuid, or jemalloc refused): malloc goes to glibc. */
typedef enum hs_state {
    HS_STATE_UNINIT = 0,
    HS_STATE_INITIALIZING = 1,
    HS_STATE_ACTIVE = 2,
    HS_STATE_PASSTHROUGH = 3,
} hs_state_t;

extern int hs_shim_state;
/* Not 0: ACTIVE and nothing to do on the allocation path but jemalloc (no
 * site sampling, no dense pass due), and then hs_heap_small_max + 1: malloc's
 * fast path compares the size with this one word. */
extern __attribute__((visibility("hidden"))) size_t hs_shim_malloc_fast_below;
extern hs_options_t hs_shim_options;
extern size_t hs_shim_mmap_min; /* 0 when program mmaps are left alone */

/* The state, initialising on first use.  Returns INITIALIZING only to a call
 * that recursed from inside the initialisation on the same thread. */
hs_state_t hs_shim_init_slow(void);
static inline hs_state_t hs_shim_state_now(void)
{
    int s = __atomic_load_n(&hs_shim_state, __ATOMIC_ACQUIRE);
    if (hs_likely(s >= HS_STATE_ACTIVE))
        return (hs_state_t)s;
    return hs_shim_init_slow();
}

/* glibc's allocator, for PASSTHROUGH mode and for memory it handed out. */
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void __libc_free(void *ptr);
void *__libc_memalign(size_t align, size_t size);
size_t hs_shim_foreign_usable_size(void *ptr);

/* Report at exit (HUGESHIM_STATS), and the program name for it. */
void hs_shim_report(void);
void hs_shim_report_prepare(void);
/* Expand %p to the pid and %% to %; false when the result does not fit. */
bool hs_shim_expand_path(const char *in, char *out, size_t cap, bool *had_pid);
extern char hs_shim_program[256];
extern bool hs_shim_fork_child;
/* What start-up decided, and why (hs_plan.h). */
extern hs_plan_t hs_shim_plan;
void hs_shim_vmstat_deltas(void);

#endif
