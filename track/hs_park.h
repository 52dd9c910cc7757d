/* hs_park.h: the access sampler.  Each epoch a budget of whole 2 MiB units
 * is *parked*: moved whole (UFFDIO_MOVE: page tables move, a THP stays
 * whole, nothing is copied) into a staging range, and the unit's range is
 * registered for missing-page faults with the same userfaultfd.  The first
 * access by any thread, read or write, from user or kernel mode (a read(2)
 * into it, another process's process_vm_readv), faults; uffd_sync's fault
 * thread puts the unit back whole and wakes the accessor, and the tracker
 * learns (unit, accessing thread) as it does for a write.  A unit still
 * parked at the end of the epoch was not accessed: it is counted idle and
 * stays parked (up to twice the budget of such units), so that its next
 * access is seen whenever it comes, at no further cost meanwhile.  Write-protect alone is blind to reads; this is what
 * AutoNUMA's hinting faults do in the kernel, for sampled units only.
 *
 * Safety: a unit is parked only under the exclusive side of hs_vmguard, so
 * no program call that changes a range (munmap, madvise, mremap, mprotect,
 * mlock, mbind, fork, clone) and no heap purge runs on a parked unit: each
 * puts its range's units back first.  Putting back never gives up on the
 * data: UFFDIO_MOVE, else the staging mapping itself is moved over the unit
 * (mremap).  A unit whose pages a fork left shared is not parked (the
 * kernel refuses to move them) until the program writes it again.  All of it runs on hugeshim's threads or inside the calls above,
 * with no allocation. */
#ifndef HS_PARK_H
#define HS_PARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/hs_counters.h"

#ifdef __cplusplus
extern "C" {
#endif

/* HUGESHIM_SAMPLE: whether uffd_sync parks the units it is asked to watch
 * (true, where UFFDIO_MOVE works) or write-protects them (false); slots:
 * the most units parked at once (HUGESHIM_TRACK_BUDGET); cold_budget: the
 * units neither written nor read last epoch parked per epoch, in rotation
 * (HUGESHIM_SAMPLE_BUDGET). */
void hs_park_want(bool want, size_t slots, size_t cold_budget, uint64_t interval_ns);
/* Whether sampling can run here, and why not (doctor, the report). */
bool hs_park_available(char *why, size_t cap);

/* Open with uffd_sync's descriptor: staging for the `slots` units given to
 * hs_park_want (the tracking budget).  pagemap: a /proc/self/pagemap open
 * in the fault thread's table too (-1: put-backs are not checked for huge
 * pages the move split).  0 or -errno with why; on failure uffd_sync only
 * write-protects. */
int hs_park_open(int uffd, int pagemap, char *why, size_t cap);
/* Put everything back and stop; failure: why, when it stops because
 * something failed (the report says so). */
void hs_park_close(const char *failure);
/* A forked child: nothing was parked (prefork settled), drop the state. */
void hs_park_forget_after_fork(void);
bool hs_park_running(void);
/* Units put back on base pages made huge again (epoch thread: at ticks and
 * at epoch ends). */
void hs_park_rehuge(void);
/* A unit a migration left on base pages (placement's and tiering's moves,
 * epoch thread): made huge again as the put-backs' units are (the collapse
 * needs the unit unregistered), now when it can be, else at the next ticks.
 * 1 huge again now; -EAGAIN queued (or parked: its put-back looks);
 * -EBUSY not queued (a program call on memory was in progress). */
int hs_park_mend(uintptr_t unit);

/* Park the unit at `unit` (2 MiB-aligned, inside a region uffd_sync
 * registered).  Under hs_vmguard's exclusive side.  0 when parked; else
 * the unit was left as it was (counted by reason) and the caller
 * write-protects it. */
int hs_park_unit(uintptr_t unit);
/* A missing-page fault at addr by thread tid (the fault thread): put its unit back and
 * wake the accessor (a unit's first read in the epoch: write-protected
 * before the wake, so that the store of an update faults too).  1 if addr was in a parked unit, or in one put back
 * on an access this epoch whose fault this thread took too (*unit: the
 * unit; record the sample); 0: not parked, the page was woken; -EAGAIN: the lock
 * is taken (a program call or the epoch thread), try again later.  Never
 * waits: whoever holds the lock may need a write fault served meanwhile. */
int hs_park_fault(uintptr_t addr, bool write, int tid, uintptr_t *unit);
/* The epoch thread, draining the faults: a unit written or read this epoch. */
void hs_park_note_fault(uintptr_t addr, bool write);
/* Whether to park the unit next epoch rather than write-protect it: read
 * (only parking sees reads); written, one epoch in 16 (to show its readers
 * too); neither, in a rotation that parks HUGESHIM_SAMPLE_BUDGET of them per
 * epoch. */
bool hs_park_worth(uintptr_t unit);
/* Units neither written nor read that the rotation should try first, every
 * epoch, within the budget and the time cap (tiering: the units on slow
 * nodes, the only ones a read can promote): fn(ctx, unit) says whether a
 * unit is one.  The other such units then get at most half of each.  NULL:
 * none.  Called on the epoch thread. */
void hs_park_prefer(bool (*fn)(void *ctx, uintptr_t unit), void *ctx);
/* Time the caller spent parking cold units (hs_park_worth stops choosing
 * them past a tenth of the epoch). */
void hs_park_cold_time(uint64_t ns);
/* At a tick between epochs: park again the units accessed this epoch
 * (fewer than 4 samples so far), so that a unit accessed from several nodes
 * shows several.  Returns the units parked. */
size_t hs_park_resample(void);
/* Whether a unit's first sample this epoch, by thread tid, makes more
 * samples of it this epoch worthless: fn(ctx, unit, tid) true when the
 * unit's accessor is settled on that thread's node (the tracker's heat).
 * Such a unit is not parked again at the ticks: one sample an epoch keeps it
 * hot, and a sample from another node, the first sign of a new or second
 * user, brings the extra samples back.  NULL: every accessed unit gets
 * them.  Called on the epoch thread, from a tick. */
void hs_park_enough(bool (*fn)(void *ctx, uintptr_t unit, int tid), void *ctx);
/* The units this epoch's faults touched so far (a tick, from the records
 * not drained yet): forget them, then note each; false when there are too
 * many to tell. */
void hs_park_touched_clear(void);
bool hs_park_note_touched(uintptr_t addr);
/* Park a unit write-protected at the epoch's start because the last epoch
 * wrote it, if no access has reached it since (a tick, under the exclusive
 * side): a unit whose program stopped writing it and went on reading it is
 * seen this epoch, not the next.  These parks have a budget and time cap of
 * their own, the same as the rotation's; -ENOSPC once they are spent.  A
 * unit the last epoch only read, protected to see whether it is written
 * (hs_park_worth), is parked outside that budget.  -EAGAIN for a unit the
 * last epoch neither wrote nor read, one touched or one parked. */
int hs_park_unwritten(uintptr_t unit);
/* End of an epoch: units still parked are idle; those parked again after
 * an access go back, the others stay parked (the ones parked longest go
 * back beyond twice the budget). */
size_t hs_park_end_epoch(void);
/* The units the last hs_park_end_epoch found idle (parked all epoch, never
 * accessed), each given to fn once. */
void hs_park_idle(void (*fn)(void *arg, uintptr_t unit), void *arg);
/* Where the byte at addr is now: in its staging slot while its unit is
 * parked, else addr itself (tools asking which node holds a page). */
uintptr_t hs_park_locate(uintptr_t addr);
/* The same for n addresses (out[i] for pages[i]), for move_pages: a
 * parked unit's pages are queried and moved where they wait (they come
 * back on the node they were moved to).  A unit put back meanwhile is
 * found missing there (-ENOENT): tried again next epoch. */
void hs_park_locate_pages(void *const *pages, void **out, size_t n);

/* The report's sampling.enabled and sampling.why. */
extern const hs_report_section_t hs_park_report_section;

#ifdef __cplusplus
}
#endif
#endif
