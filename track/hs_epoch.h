/* hs_epoch.h: the `hugeshim-epoch` thread, started for tracking: it runs the
 * tracker's epochs every interval_ns, and tick (if not NULL) every 100 ms at
 * most; it ends the process's last thread's way when every program thread is
 * gone (glibc exits a process when its last thread returns). */
#ifndef HS_EPOCH_H
#define HS_EPOCH_H

#include <stdbool.h>
#include <stdint.h>

/* How often the epoch thread ticks within an epoch (none in an epoch this
 * short or shorter); also how soon a finished program is noticed. */
#define HS_EPOCH_TICK_NS 100000000ULL

#ifdef __cplusplus
extern "C" {
#endif

int hs_epoch_start(uint64_t interval_ns, void (*tick)(void));
/* Whether the thread was started (and not stopped or forgotten). */
bool hs_epoch_running(void);
void hs_epoch_stop(void);
/* In a forked child: the thread is gone (the shim starts a new one). */
void hs_epoch_forget_after_fork(void);

#ifdef __cplusplus
}
#endif
#endif
