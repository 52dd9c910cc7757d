/* plan.c: the decisions start-up takes, once, with their reasons (hs_plan.h). */
#include <stdio.h>
#include <string.h>

#include "../place/hs_tier.h"
#include "../place/hs_where.h"
#include "../track/hs_backend.h"
#include "../track/hs_park.h"
#include "hs_plan.h"

const char *hs_plan_heap_name(hs_heap_mode_t mode)
{
    static const char *const names[] = {"none", "eager", "dense"};
    return (unsigned)mode <= HS_HEAP_MODE_DENSE ? names[mode] : "none";
}

/* Placement, tiering, sites and a trace need tracking, and turn it on by
 * themselves unless HUGESHIM_TRACK says otherwise. */
static bool hs_plan_wants_tracking(const hs_options_t *o, bool placement)
{
    return placement || o->value[HS_OPT_SITES] || o->text[HS_OPT_TRACE][0];
}

void hs_plan_early(hs_plan_t *plan, const hs_options_t *o, uint64_t nodes_mask)
{
    static const hs_os_kind_t kinds[] = {[HS_BACKING_THP] = HS_OS_KIND_THP,
                                         [HS_BACKING_HUGETLB_2M] = HS_OS_KIND_HUGETLB_2M,
                                         [HS_BACKING_HUGETLB_1G] = HS_OS_KIND_HUGETLB_1G,
                                         [HS_BACKING_BASE] = HS_OS_KIND_BASE};
    memset(plan, 0, sizeof *plan);
    hs_os_kind_t first_kind = kinds[o->value[HS_OPT_BACKING]];
    plan->first_kind = first_kind;
    plan->nodes_mask = nodes_mask;
    plan->nodes = __builtin_popcountll(nodes_mask);
    long long migrate = o->value[HS_OPT_MIGRATE];
    if (hs_option_is_set(o, HS_OPT_TRACK))
        plan->tracking_may_run = o->value[HS_OPT_TRACK] != HS_TRACK_OFF;
    else
        plan->tracking_may_run = hs_plan_wants_tracking(o, migrate == HS_MIGRATE_ON) ||
                                 (migrate == HS_MIGRATE_AUTO && plan->nodes > 1) ||
                                 o->value[HS_OPT_TIER] == HS_TIER_ON ||
                                 (o->value[HS_OPT_TIER] == HS_TIER_AUTO && plan->nodes > 1);
    long long heap_thp = o->value[HS_OPT_HEAP_THP];
    if (first_kind == HS_OS_KIND_BASE) {
        plan->heap = HS_HEAP_MODE_NONE;
        snprintf(plan->heap_why, sizeof plan->heap_why, "HUGESHIM_BACKING=base");
    } else if (heap_thp == HS_HEAP_THP_DENSE) {
        plan->heap = HS_HEAP_MODE_DENSE;
        snprintf(plan->heap_why, sizeof plan->heap_why, "HUGESHIM_HEAP_THP=dense");
    } else if (heap_thp == HS_HEAP_THP_EAGER) {
        plan->heap = HS_HEAP_MODE_EAGER;
        snprintf(plan->heap_why, sizeof plan->heap_why, "HUGESHIM_HEAP_THP=eager");
    } else if (plan->tracking_may_run) {
        /* Tracking's write protection of 4 KiB-page regions splits the units
         * dense mode collapsed. */
        plan->heap = HS_HEAP_MODE_EAGER;
        snprintf(plan->heap_why, sizeof plan->heap_why,
                 "HUGESHIM_HEAP_THP=auto: eager, since tracking may run and its write protection would split "
                 "the units dense mode made huge");
    } else {
        plan->heap = HS_HEAP_MODE_DENSE;
        snprintf(plan->heap_why, sizeof plan->heap_why, "HUGESHIM_HEAP_THP=auto: dense, since no tracking runs");
    }
    plan->track_request = HS_TRACK_OFF;
    snprintf(plan->track_mode, sizeof plan->track_mode, "off");
    snprintf(plan->placement_why, sizeof plan->placement_why, "not decided");
    snprintf(plan->tiering_why, sizeof plan->tiering_why, "not decided");
}

/* Whether the machine has tiers for tiering to use (the topology into
 * plan->tiers); the sampler is checked once tracking is chosen. */
static bool hs_plan_tiers(hs_plan_t *plan, const hs_options_t *o)
{
    char *why = plan->tiering_why;
    size_t cap = sizeof plan->tiering_why;
    if (o->value[HS_OPT_TIER] == HS_TIER_OFF) {
        snprintf(why, cap, "HUGESHIM_TIER=off");
        return false;
    }
    if (plan->nodes <= 1) {
        snprintf(why, cap, "one NUMA node: no tiers");
        return false;
    }
    hs_where_init();
    static int16_t tiers[HS_OS_MAX_NODES];
    static uint8_t dist[HS_OS_MAX_NODES][HS_OS_MAX_NODES];
    const hs_os_topology_t *t = hs_where_topology();
    bool known = hs_os_memory_tiers(tiers) > 0;
    for (int n = 0; n < t->nodes && n < HS_OS_MAX_NODES; n++)
        hs_os_node_distances(n, dist[n]);
    if (hs_tier_find_topology(t, known ? tiers : NULL, (const uint8_t(*)[HS_OS_MAX_NODES])dist, &plan->tiers, why, cap) != 0)
        return false;
    if (hs_option_is_set(o, HS_OPT_TRACK) && o->value[HS_OPT_TRACK] == HS_TRACK_OFF) {
        snprintf(why, cap, "HUGESHIM_TRACK=off: tiering needs tracking");
        return false;
    }
    return true;
}

/* With tracking chosen: tiering runs where the sampler does (auto), or
 * promotes only (on, without the sampler: no idle evidence). */
static void hs_plan_tiering_final(hs_plan_t *plan, const hs_options_t *o)
{
    char found[200];
    snprintf(found, sizeof found, "%.150s", plan->tiering_why);
    if (!hs_plan_tracks(plan)) {
        plan->tiering = false;
        snprintf(plan->tiering_why, sizeof plan->tiering_why, "no tracking backend works here");
    } else if (!plan->sampling && o->value[HS_OPT_TIER] == HS_TIER_AUTO) {
        plan->tiering = false;
        snprintf(plan->tiering_why, sizeof plan->tiering_why,
                 "%s, but no access sampling (%s): idle memory cannot be told from memory only read "
                 "(HUGESHIM_TIER=on promotes hot units all the same)", found, plan->sampling_why);
    } else if (!plan->sampling) {
        plan->tiering_demotes = false;
        snprintf(plan->tiering_why, sizeof plan->tiering_why,
                 "%s; promotion only: without access sampling idle memory cannot be told from memory only read",
                 found);
    } else {
        plan->tiering_demotes = true;
        snprintf(plan->tiering_why, sizeof plan->tiering_why, "%s (HUGESHIM_TIER=%.8s)", found,
                 o->text[HS_OPT_TIER]);
    }
}

static bool hs_plan_placement(hs_plan_t *plan, const hs_options_t *o)
{
    long long mode = o->value[HS_OPT_MIGRATE];
    char *why = plan->placement_why;
    size_t cap = sizeof plan->placement_why;
    if (mode == HS_MIGRATE_OFF) {
        snprintf(why, cap, "HUGESHIM_MIGRATE=off");
        return false;
    }
    /* One node online: nothing to place, and libnuma is not even asked. */
    if (mode == HS_MIGRATE_AUTO && plan->nodes <= 1) {
        snprintf(why, cap, "one NUMA node: nothing to move");
        return false;
    }
    hs_where_init();
    int usable = hs_where_usable_nodes();
    if (mode == HS_MIGRATE_AUTO && usable < 2) {
        snprintf(why, cap, "%d node(s) online but only %d with both CPUs and memory", plan->nodes, usable);
        return false;
    }
    if (hs_option_is_set(o, HS_OPT_TRACK) && o->value[HS_OPT_TRACK] == HS_TRACK_OFF) {
        snprintf(why, cap, "HUGESHIM_TRACK=off: placement needs tracking");
        if (mode == HS_MIGRATE_ON)
            snprintf(plan->placement_warning, sizeof plan->placement_warning,
                     "HUGESHIM_MIGRATE=on needs tracking, but HUGESHIM_TRACK=off: placement is off");
        return false;
    }
    snprintf(why, cap, "%d nodes with CPUs and memory (HUGESHIM_MIGRATE=%.8s)", usable, o->text[HS_OPT_MIGRATE]);
    return true;
}

void hs_plan_decide(hs_plan_t *plan, const hs_options_t *o)
{
    plan->placement = hs_plan_placement(plan, o);
    plan->tiering = hs_plan_tiers(plan, o);
    long long request = o->value[HS_OPT_TRACK];
    if (hs_plan_wants_tracking(o, plan->placement || plan->tiering) && !hs_option_is_set(o, HS_OPT_TRACK))
        request = HS_TRACK_AUTO;
    plan->track_request = request;
    hs_option_enum_name(HS_OPT_TRACK, request, plan->track_mode, sizeof plan->track_mode);
    if (request == HS_TRACK_OFF) {
        plan->tracking = (hs_track_choice_t){.why = "tracking off"};
    } else {
        /* A backend by name: the option's choices are the list's names (a
         * unit test checks that each has its backend). */
        const hs_track_backend_ops_t *only =
            request == HS_TRACK_AUTO ? NULL : hs_track_backend_by_name(plan->track_mode);
        if (request != HS_TRACK_AUTO && !only)
            plan->tracking = (hs_track_choice_t){.why = "no such backend"};
        else
            hs_tracker_choose(only, &plan->tracking);
    }
    plan->sampling = false;
    if (plan->tracking.by_kind[HS_OS_KIND_THP] != &hs_backend_uffd_sync) {
        snprintf(plan->sampling_why, sizeof plan->sampling_why, "needs uffd_sync on THP regions");
    } else {
        hs_park_want(o->value[HS_OPT_SAMPLE] != HS_SAMPLE_OFF, (size_t)o->value[HS_OPT_TRACK_BUDGET],
                     (size_t)o->value[HS_OPT_SAMPLE_BUDGET], (uint64_t)o->value[HS_OPT_INTERVAL_MS] * 1000000ULL);
        plan->sampling = hs_park_available(plan->sampling_why, sizeof plan->sampling_why);
        if (plan->sampling)
            snprintf(plan->sampling_why, sizeof plan->sampling_why,
                     "UFFDIO_MOVE: each epoch's watched THP units are parked, so reads are seen too");
    }
    if (plan->placement && !hs_plan_tracks(plan)) {
        plan->placement = false;
        snprintf(plan->placement_why, sizeof plan->placement_why, "no tracking backend works here");
    }
    if (plan->tiering)
        hs_plan_tiering_final(plan, o);
}

bool hs_plan_tracks(const hs_plan_t *plan)
{
    return plan->track_request != HS_TRACK_OFF && !hs_track_choice_none(&plan->tracking);
}
