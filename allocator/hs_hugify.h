/* hs_hugify.h: dense mode (HUGESHIM_HEAP_THP=dense, or the default auto
 * without tracking), huge pages where the heap is dense.
 *
 * With eager THP every 2 MiB unit of the heap becomes a huge page at its
 * first write, zeroed whole, however little of it the program then uses.
 * In dense mode the heap's arenas (all but the one for objects of 8 MiB and
 * more) take 4 KiB pages, and a pass at most every 100 ms looks at how much
 * of each 2 MiB unit is resident (mincore):
 * - a unit with at least `dense_pages` of its 512 pages resident is made a
 *   huge page in place (MADV_COLLAPSE, which copies what is there);
 * - when that unit is the front of a heap filling densely (the next unit has
 *   begun, the `ahead` ones after it are untouched; `fill_ahead` while the
 *   heap fills densely, below), those are advised huge
 *   (MADV_HUGEPAGE), so that they fault in as huge pages at once; the unit
 *   after them is left on 4 KiB pages to be measured again.
 * A pass that collapses 8 units, or meets 8 huge units and 3 for each unit
 * left on 4 KiB pages with data in it, finds the heap filling densely: for
 * the next second the heap's new regions are THP regions (its born_huge)
 * and `fill_ahead` units are advised ahead of the front.
 * A unit is decided once (a bitmap over the address space, 2 MiB a bit),
 * until the heap purges all of it; a decided unit is huge, and the heap
 * keeps it whole (its unit_huge).  The heap's events reach dense mode
 * through hs_heap_listener_t, set by hs_hugify_init.
 * The pass runs either on the epoch thread, at its tick, when that thread
 * runs for tracking, or else on the program's own threads (hs_hugify_inline):
 * a second thread in a process that faults pages all the time makes its
 * page-table updates dearer on a paravirtualised VM, whatever that thread
 * does.  Never calls malloc. */
#ifndef HS_HUGIFY_H
#define HS_HUGIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How often a pass may run on the program's threads (the epoch thread's tick
 * is the same). */
#define HS_HUGIFY_TICK_NS 100000000ULL

typedef struct {
    unsigned dense_pages;   /* resident 4 KiB pages of 512 that make a unit dense */
    unsigned ahead;         /* units advised ahead of a dense front */
    unsigned fill_ahead;    /* the same while the heap fills densely (the heap's born_huge) */
    unsigned max_collapses; /* per pass: bounds the background thread's work */
    unsigned max_units;     /* undecided units measured per pass, likewise */
} hs_hugify_config_t;

typedef enum { HS_HUGIFY_KEEP = 0, HS_HUGIFY_COLLAPSE, HS_HUGIFY_ADVISE } hs_hugify_action_t;

/* The decision for n consecutive units, from each unit's resident page count
 * and whether it was decided before: out[i] for each; returns the collapses
 * planned (at most budget, in address order).  Pure: unit-tested. */
size_t hs_hugify_plan(const uint16_t *resident, const bool *decided, size_t n, const hs_hugify_config_t *config,
                      size_t budget, hs_hugify_action_t *out);

/* 0, or -ENOMEM when the bitmap cannot be mapped (dense mode then does
 * nothing more than keep the heap on 4 KiB pages). */
int hs_hugify_init(const hs_hugify_config_t *config);
bool hs_hugify_on(void);
/* One pass over the heap's 4 KiB-page regions (the epoch thread's tick),
 * measuring at most config.max_units undecided units, from where the last
 * pass stopped. */
void hs_hugify_pass(void);
/* Passes on the program's threads: when the heap's hooks see activity and
 * interval_ns has passed since the last pass was asked for (or the heap took
 * 16 MiB of 4 KiB-page regions since), the due flag is set to NOW and wake()
 * called, so that the shim's next malloc-family call, outside jemalloc, runs
 * hs_hugify_run_due.  A pass there stalls the program's call: max_collapses
 * lowers the pass's budget of collapses (each copies 2 MiB: about 1 ms, more
 * on a VM whose host must back the page again: docs/heap.md).  A pass that
 * stopped at its budget sets the flag to LATER: the next comes a tenth of the
 * interval later, from whichever malloc-family call comes then, so the shim
 * keeps its calls on the slow path while the flag is set. */
void hs_hugify_inline(uint64_t interval_ns, unsigned max_collapses, void (*wake)(void));
#define HS_HUGIFY_DUE_NOW 1
#define HS_HUGIFY_DUE_LATER 2
extern int hs_hugify_due_flag;
/* Run the pass asked for, if it is due (errno kept). */
void hs_hugify_run_due(void);
/* In a forked child: no pass runs there yet, whatever the parent did. */
void hs_hugify_postfork_child(void);

/* Memory in [start, start+len) was given back to the kernel: the units it
 * covers whole are decided again when they refill.  Any thread. */
void hs_hugify_forget(uintptr_t start, size_t len);

#ifdef __cplusplus
}
#endif
#endif
