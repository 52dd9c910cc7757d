/* hs_vmguard.h: calls that change what a range of memory maps (the program's
 * munmap, mremap, madvise, mprotect, mlock, mbind, a fork or a clone without
 * CLONE_VM; the heap's purges) against the access sampler, which parks units
 * (moves their pages aside for an epoch, track/park.c).  Before such a call
 * the range's parked units are put back, and none is parked until the call
 * returns: the kernel then acts on the program's own pages, never on an
 * empty range whose data sits elsewhere.
 *
 * Until a sampler installs its hooks, enter and leave cost one atomic load;
 * once one is expected (hs_vmguard_expect, before the epoch thread starts)
 * they count the call in progress (one atomic add each), and installing
 * waits for those calls to end: a unit is never parked under a call that
 * began before the hooks.
 * Readers (the calls above) run side by side; the sampler parks and puts
 * back under the exclusive side.  The lock prefers writers: a thread holding
 * it shared must not take it again. */
#ifndef HS_VMGUARD_H
#define HS_VMGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hs_vmguard_hooks {
    /* Whether [start, start+len) may hold a parked unit (a cheap check). */
    bool (*holds)(uintptr_t start, size_t len);
    /* Put back every parked unit in [start, start+len); under the exclusive side. */
    void (*settle)(uintptr_t start, size_t len);
} hs_vmguard_hooks_t;

/* A sampler may install hooks later in this process. */
void hs_vmguard_expect(void);
/* Install (or, with NULL, remove) the sampler's hooks. */
void hs_vmguard_install(const hs_vmguard_hooks_t *hooks);

/* A token for leave: what enter took. */
typedef enum { HS_VMGUARD_NONE = 0, HS_VMGUARD_UNGUARDED, HS_VMGUARD_SHARED, HS_VMGUARD_EXCLUSIVE } hs_vmguard_token_t;

/* Around a call that changes [start, start+len) (len SIZE_MAX: everything). */
hs_vmguard_token_t hs_vmguard_enter(uintptr_t start, size_t len);
void hs_vmguard_leave(hs_vmguard_token_t token);
/* The shared side alone, putting nothing back (to look at what is parked). */
hs_vmguard_token_t hs_vmguard_shared(void);

/* The sampler's side: exclusive, or false at once when a call or a fork is
 * in progress (try: before parking), or waiting for the calls (to put back). */
bool hs_vmguard_try_exclusive(void);
/* The same, trying again for up to ns nanoseconds (200 us apart): the
 * shared side is held for the moment of a call, the fault thread's settle
 * for one put-back. */
bool hs_vmguard_exclusive_within(uint64_t ns);
/* Exclusive to put back, even while a fork holds parking off; false at once
 * when taken. */
bool hs_vmguard_try_settle(void);
void hs_vmguard_exclusive(void);
void hs_vmguard_release(void);

/* fork (and clone, _Fork without CLONE_VM): before, everything put back and
 * parking held off; after, resumed in the parent, made new in the child. */
void hs_vmguard_prefork(void);
void hs_vmguard_postfork_parent(void);
void hs_vmguard_postfork_child(void);

#ifdef __cplusplus
}
#endif
#endif
