/* hs_trace.h: HUGESHIM_TRACE, a per-epoch record of every tracked unit's
 * heat, node and moves (format: common/hs_trace_format.h), written by the
 * epoch thread with one write(2) per epoch, bounded by HUGESHIM_TRACE_MAX
 * (epochs past it are counted, not written), ended at exit with the names of
 * the top allocation sites and each region's top site.  A forked child
 * writes its own trace when the path has %p, none otherwise. */
#ifndef HS_TRACE_H
#define HS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../track/hs_tracker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* path as HUGESHIM_TRACE (%p: pid).  0, or -errno with why. */
int hs_trace_open(const char *path, uint64_t max_bytes, uint64_t interval_ms, char *why, size_t why_len);
bool hs_trace_on(void);
/* One epoch: the tracked regions (address order) and the hot units of
 * placement (address order, with now and moved). */
void hs_trace_write_epoch(uint64_t epoch, const hs_track_region_view_t *regions, size_t nregions,
                          const hs_hot_unit_t *hot, size_t n);
/* hs_trace_write_epoch as the tracker's subscriber. */
extern const hs_tracker_subscriber_t hs_trace_subscriber;
/* At exit: sites, labels, end record; closes the file. */
void hs_trace_close(void);
/* In a forked child: a trace of its own at path (HUGESHIM_TRACE had %p,
 * expanded with the child's pid) or, path NULL, none. */
void hs_trace_after_fork(const char *path);
/* Bytes written, epochs written and dropped. */
void hs_trace_totals(uint64_t *bytes, uint64_t *epochs, uint64_t *dropped);

#ifdef __cplusplus
}
#endif
#endif
