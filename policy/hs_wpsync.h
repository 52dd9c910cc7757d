/* hs_wpsync.h: the uffd_sync tracking backend's real side: one full
 * userfaultfd (os/track.c), registered on THP regions in whole 2 MiB units,
 * and the `hugeshim-wp` thread that serves each write fault.  It un-protects
 * the whole 2 MiB unit (a THP stays whole; un-protecting 4 KiB would split
 * it), which wakes the writer, and records (unit, writer's tid) in a ring the
 * epoch thread drains.  The thread takes no lock a program thread could hold:
 * a writer blocked on the fault may hold any of them.  Whatever fails, the
 * writer is woken: un-protect the unit, else its page, else UFFDIO_WAKE. */
#ifndef HS_WPSYNC_H
#define HS_WPSYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "hs_tracker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Open the descriptor and start the thread.  0 or -errno, reason in why. */
int hs_wpsync_start(char *why, size_t cap);
/* Stop the thread and close the descriptor: every protection goes with it
 * and every blocked writer wakes. */
void hs_wpsync_stop(void);
/* The fault thread is alive (it ends by itself after giving up). */
bool hs_wpsync_running(void);
/* The ops the tracker uses (valid after a successful start). */
const hs_wpsync_ops_t *hs_wpsync_ops(void);
/* In a forked child: the thread does not exist and the descriptor is the
 * parent's (its registrations are the parent's mm): drop both. */
void hs_wpsync_forget_after_fork(void);

#ifdef __cplusplus
}
#endif
#endif
