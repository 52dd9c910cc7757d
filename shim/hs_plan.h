/* hs_plan.h: the decisions hugeshim takes at start-up, once, each with its
 * reason: the heap's mode, whether tracking may run and with which backend
 * per page kind, whether placement runs.  The shim acts on the plan, the
 * report prints it, and `hugeshim doctor` computes the same plan for its own
 * environment, so the three cannot disagree.
 *
 * Two steps: hs_plan_early at initialisation (options and sysfs only: safe
 * inside malloc, before the heap exists), hs_plan_decide in the constructor
 * (libnuma, which allocates, and the tracking probes, which map memory). */
#ifndef HS_PLAN_H
#define HS_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/hs_options.h"
#include "../os/hs_os.h"
#include "../place/hs_tier.h"
#include "../track/hs_tracker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hs_heap_mode {
    HS_HEAP_MODE_NONE = 0, /* HUGESHIM_BACKING=base: no huge pages */
    HS_HEAP_MODE_EAGER,    /* THP regions: huge at the first write */
    HS_HEAP_MODE_DENSE,    /* 4 KiB pages, made huge where they are dense */
} hs_heap_mode_t;

typedef struct hs_plan {
    /* hs_plan_early */
    hs_os_kind_t first_kind; /* the heap's page kind, as HUGESHIM_BACKING asks */
    uint64_t nodes_mask;   /* NUMA nodes online */
    int nodes;             /* how many */
    bool tracking_may_run; /* tracking, sites, a trace or placement may start */
    hs_heap_mode_t heap;
    char heap_why[200];
    /* hs_plan_decide */
    bool placement;
    char placement_why[200];
    char placement_warning[200]; /* a problem to say once, or empty */
    /* HUGESHIM_TRACK as asked (an HS_TRACK_* choice), or HS_TRACK_AUTO where
     * placement, sites or a trace turn it on; and its name. */
    long long track_request;
    char track_mode[32];
    hs_track_choice_t tracking; /* the backend per page kind, and why */
    /* Access sampling (reads too) on the THP regions uffd_sync watches. */
    bool sampling;
    char sampling_why[160];
    /* Tiering: the machine's fast and slow nodes, and whether idle units
     * are demoted (only with the sampler). */
    bool tiering;
    bool tiering_demotes;
    char tiering_why[600];
    hs_tier_topology_t tiers;
} hs_plan_t;

/* The first step. */
void hs_plan_early(hs_plan_t *plan, const hs_options_t *options, uint64_t nodes_mask);
/* The second step: placement (reads the topology with libnuma) and
 * tracking (probes the backends).  Never inside malloc. */
void hs_plan_decide(hs_plan_t *plan, const hs_options_t *options);
/* "none", "eager", "dense". */
const char *hs_plan_heap_name(hs_heap_mode_t mode);
/* Whether tracking is to start: a mode other than off, and a backend for
 * some kind. */
bool hs_plan_tracks(const hs_plan_t *plan);

#ifdef __cplusplus
}
#endif
#endif
