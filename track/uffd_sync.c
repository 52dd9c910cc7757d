/* uffd_sync.c: the uffd_sync backend: one full userfaultfd (os/track.c),
 * registered on whole THP regions and protecting whole 2 MiB units, and the `hugeshim-wp`
 * thread that serves each write fault.  It un-protects the whole 2 MiB unit
 * (a THP stays whole; un-protecting 4 KiB would split it), which wakes the
 * writer, and records (unit, writer's tid) in a ring the epoch thread
 * drains.  The thread takes no lock a program thread could hold: a writer
 * blocked on the fault may hold any of them.  Whatever fails, the writer is
 * woken: un-protect the unit, else its page, else UFFDIO_WAKE; and when a
 * protection cannot be lifted or faults cannot be read, every registration
 * is given up at once (no writer may stay blocked) and the thread ends. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../common/hs_thread.h"
#include "../common/hs_vmguard.h"
#include "hs_backend.h"
#include "hs_park.h"

#define HS_WP_RING (1u << 16) /* records between two epochs */

static int hs_uffd = -1, hs_wake = -1;
/* /proc/self/pagemap, for the sampler (whether a unit put back is still a
 * huge page); in the fault thread's own descriptor table as well. */
static int hs_pagemap = -1;
static pthread_t hs_thread;
static bool hs_running; /* started and not yet joined */
static bool hs_stopping;
static bool hs_dead; /* registrations given up after a failure */
/* The fault thread's own copy of the descriptor table: a program that closes
 * every descriptor (close_range, as daemons do) closes its own table's copy
 * only, and the fault thread still serves the faults of units it parked
 * (which would otherwise fill with zeroes).  Giving up then releases both
 * copies: the thread's own at once, the shared one at the epoch thread's
 * next call (hs_release_shared_now). */
static bool hs_private_table;
static int hs_release_shared;
static hs_os_wp_fault_t *hs_ring;
static uint64_t hs_head, hs_tail; /* producer: the fault thread; consumer: the epoch thread */

/* A served fault for the epoch thread: an access to a parked unit
 * (missing: a read or a write, as the fault said) or a write-protect fault. */
static void hs_record(uintptr_t addr, int tid, bool missing, bool write)
{
    uint64_t head = __atomic_load_n(&hs_head, __ATOMIC_RELAXED);
    if (head - __atomic_load_n(&hs_tail, __ATOMIC_ACQUIRE) >= HS_WP_RING) {
        hs_count(HS_CTR_TRACK_FAULTS_DROPPED, 1);
        return;
    }
    hs_ring[head % HS_WP_RING] = (hs_os_wp_fault_t){.address = addr, .tid = tid, .missing = missing, .write = write};
    __atomic_store_n(&hs_head, head + 1, __ATOMIC_RELEASE);
}

/* Every registration dropped and every blocked writer woken; the fault
 * thread then ends, and the epoch thread's calls fail (counted as errors). */
static void hs_give_up(const char *why)
{
    if (__atomic_exchange_n(&hs_dead, true, __ATOMIC_ACQ_REL))
        return;
    /* Parked units first: once the descriptor is gone their ranges would
     * fill with zeroes. */
    hs_park_close(why);
    hs_os_wpsync_release(hs_uffd);
    if (hs_private_table)
        __atomic_store_n(&hs_release_shared, 1, __ATOMIC_RELEASE);
    hs_log(HS_LOG_WARN, "uffd_sync: %s; THP regions are no longer tracked", why);
}

/* Accesses to parked units waiting for the sampler's lock, one per unit
 * (putting a unit back wakes everyone waiting on it).  The thread never
 * waits for that lock: its holder may need a write fault served first. */
#define HS_PENDING_MAX 4096
static hs_os_wp_fault_t hs_pending[HS_PENDING_MAX];
static size_t hs_npending;

/* Serve an access to a parked unit; false when the lock was taken. */
static bool hs_access_served(const hs_os_wp_fault_t *f)
{
    uintptr_t parked;
    int r = hs_park_fault(f->address, f->write, f->tid, &parked);
    if (r > 0)
        hs_record(parked, f->tid, true, f->write);
    return r != -EAGAIN;
}

static void hs_serve_access(const hs_os_wp_fault_t *f)
{
    if (hs_access_served(f))
        return;
    for (size_t i = 0; i < hs_npending; i++)
        if (((hs_pending[i].address ^ f->address) & ~(uintptr_t)(HS_OS_HUGE_2M - 1)) == 0)
            return;
    if (hs_npending < HS_PENDING_MAX)
        hs_pending[hs_npending++] = *f;
    else
        hs_count(HS_CTR_SAMPLE_ERRORS, 1); /* more units than slots: cannot happen */
}

/* Try the waiting accesses again. */
static void hs_serve_pending(void)
{
    size_t kept = 0;
    for (size_t i = 0; i < hs_npending; i++)
        if (!hs_access_served(&hs_pending[i]))
            hs_pending[kept++] = hs_pending[i];
    hs_npending = kept;
}

static void hs_serve(const hs_os_wp_fault_t *f)
{
    if (f->missing) {
        hs_serve_access(f);
        return;
    }
    uintptr_t unit = f->address & ~(uintptr_t)(HS_OS_HUGE_2M - 1);
    uintptr_t page = f->address & ~(uintptr_t)(HS_OS_PAGE_SIZE - 1);
    /* The unit, as armed; if the program cut it meanwhile, the page (the
     * fault proves it is still registered).  If the protection cannot be
     * lifted, the page is unregistered and the writer woken (a wake alone
     * would only make it fault again); if even that fails, every
     * registration is given up. */
    if (hs_os_wpsync_protect(hs_uffd, unit, HS_OS_HUGE_2M, false) != 0 &&
        hs_os_wpsync_protect(hs_uffd, page, HS_OS_PAGE_SIZE, false) != 0) {
        hs_count(HS_CTR_TRACK_ERRORS, 1);
        if (hs_os_wpsync_unregister(hs_uffd, page, HS_OS_PAGE_SIZE) != 0 ||
            hs_os_wpsync_wake(hs_uffd, page, HS_OS_PAGE_SIZE) != 0)
            hs_give_up("lifting a write-protection failed");
    }
    hs_count(HS_CTR_TRACK_FAULTS, 1);
    hs_record(unit, f->tid, false, true);
}

/* The epoch thread's side of giving up: the shared table's copy. */
static void hs_release_shared_now(void)
{
    if (__atomic_exchange_n(&hs_release_shared, 0, __ATOMIC_ACQ_REL))
        hs_os_wpsync_release(hs_uffd);
}

static void *hs_wpsync_main(void *arg)
{
    (void)arg;
    hs_os_wp_fault_t faults[64];
    int keep[3] = {hs_uffd, hs_wake, hs_pagemap};
    hs_private_table = hs_os_unshare_files(keep, 3) == 0;
    while (!__atomic_load_n(&hs_stopping, __ATOMIC_ACQUIRE)) {
        /* A bounded wait: the program may have closed the shared copy of the
         * wake-up eventfd, and stopping is then noticed by this timeout. */
        int ready = hs_os_poll2(hs_uffd, hs_wake, hs_npending ? 1 : 200);
        if (ready == -EINTR)
            continue;
        if (ready < 0 || (ready & 2))
            break;
        int n = hs_os_wpsync_read(hs_uffd, faults, 64);
        if (n < 0) {
            /* EBADF: the program closed our descriptor (close_range), so
             * nothing is armed any more and nothing can block on it.  Else
             * writers may wait on faults no one will read: give up. */
            hs_count(HS_CTR_TRACK_ERRORS, 1);
            if (n == -EBADF)
                hs_log(HS_LOG_INFO, "uffd_sync: the program closed the userfaultfd; the fault thread stops");
            else
                hs_give_up("reading write faults failed");
            break;
        }
        for (int i = 0; i < n && !__atomic_load_n(&hs_dead, __ATOMIC_ACQUIRE); i++)
            hs_serve(&faults[i]);
        if (hs_npending)
            hs_serve_pending();
        if (__atomic_load_n(&hs_dead, __ATOMIC_ACQUIRE))
            break;
        hs_counter_set(HS_CTR_TRACK_WP_CPU_NS, hs_os_thread_cpu_ns());
    }
    return NULL;
}

/* ---- the ops the tracker calls ------------------------------------------------- */

static int hs_op_watch(void *ctx, uintptr_t start, size_t len)
{
    (void)ctx;
    hs_release_shared_now();
    if (__atomic_load_n(&hs_dead, __ATOMIC_ACQUIRE))
        return -ENOTCONN;
    return hs_os_wpsync_register(hs_uffd, start, len);
}

/* The runs write-protected at the epoch's start whose units were not all
 * parked, for the first tick (hs_park_unwritten_runs). */
#define HS_WP_RUNS 1024
static struct {
    uintptr_t start;
    size_t len;
} hs_wp_runs[HS_WP_RUNS];
static size_t hs_nwp_runs;
static bool hs_wp_runs_done;

static int hs_op_protect(void *ctx, uintptr_t start, size_t len)
{
    (void)ctx;
    hs_release_shared_now();
    if (__atomic_load_n(&hs_dead, __ATOMIC_ACQUIRE))
        return -ENOTCONN;
    if (!hs_park_running())
        return hs_os_wpsync_protect(hs_uffd, start, len, true);
    /* Sampling: park each unit (reads fault too); a unit that cannot be
     * parked, or all of them while a program call on memory is in
     * progress, is write-protected as before. */
    if (!hs_vmguard_exclusive_within(5000000)) {
        hs_count(HS_CTR_SAMPLE_SKIP_BUSY, len / HS_OS_HUGE_2M);
        return hs_os_wpsync_protect(hs_uffd, start, len, true);
    }
    /* The units not parked are write-protected by one call over the run:
     * the kernel then flushes the TLBs once for all it changed (about 4 ms
     * under the NUMA lab's emulation, each unit protected alone cost that),
     * and leaves the parked ones, empty now, and the ones still protected
     * as they are. */
    int err = 0;
    bool protect = false;
    for (uintptr_t unit = start; unit + HS_OS_HUGE_2M <= start + len; unit += HS_OS_HUGE_2M) {
        uint64_t t0 = hs_os_now_ns();
        if (!hs_park_worth(unit) || hs_park_unit(unit) != 0)
            protect = true;
        hs_park_cold_time(hs_os_now_ns() - t0); /* unit by unit: a run may be a whole region */
    }
    if (protect) {
        uint64_t t0 = hs_os_now_ns();
        err = hs_os_wpsync_protect(hs_uffd, start, len / HS_OS_HUGE_2M * HS_OS_HUGE_2M, true); /* whole units */
        hs_park_cold_time(hs_os_now_ns() - t0);
        if (!err && hs_nwp_runs < HS_WP_RUNS)
            hs_wp_runs[hs_nwp_runs++] = (typeof(hs_wp_runs[0])){start, len / HS_OS_HUGE_2M * HS_OS_HUGE_2M};
    }
    hs_vmguard_release();
    return err;
}

/* The first tick: units write-protected at the epoch's start (written the
 * epoch before, or read and protected to see whether they are written) that
 * no fault has touched since are parked, so that a program that stopped
 * writing them and only reads them now is seen this epoch.  A unit written
 * meanwhile has faulted (its record is in the ring, read here without
 * taking it: the epoch thread drains it at the end). */
static void hs_park_unwritten_runs(void)
{
    if (!hs_nwp_runs || !hs_park_running())
        return;
    hs_park_touched_clear();
    uint64_t tail = __atomic_load_n(&hs_tail, __ATOMIC_RELAXED);
    uint64_t head = __atomic_load_n(&hs_head, __ATOMIC_ACQUIRE);
    for (; tail < head; tail++)
        if (!hs_park_note_touched(hs_ring[tail % HS_WP_RING].address))
            return; /* too many to tell: leave them protected */
    if (!hs_vmguard_try_exclusive())
        return;
    /* On past the budget's end: the read units there take none of it. */
    for (size_t r = 0; r < hs_nwp_runs; r++)
        for (uintptr_t unit = hs_wp_runs[r].start; unit < hs_wp_runs[r].start + hs_wp_runs[r].len;
             unit += HS_OS_HUGE_2M)
            (void)hs_park_unwritten(unit);
    hs_vmguard_release();
}

static void hs_op_tick(void *ctx)
{
    (void)ctx;
    hs_release_shared_now();
    if (__atomic_load_n(&hs_dead, __ATOMIC_ACQUIRE))
        return;
    hs_park_resample();
    if (!hs_wp_runs_done) {
        hs_wp_runs_done = true;
        hs_park_unwritten_runs();
    }
    hs_park_rehuge();
}

static int hs_op_end_epoch(void *ctx)
{
    (void)ctx;
    hs_release_shared_now();
    hs_nwp_runs = 0;
    hs_wp_runs_done = false;
    hs_park_end_epoch();
    hs_park_rehuge();
    return 0;
}

static void hs_op_idle(void *ctx, void (*fn)(void *arg, uintptr_t unit), void *arg)
{
    (void)ctx;
    hs_park_idle(fn, arg);
}

static size_t hs_op_drain(void *ctx, hs_os_wp_fault_t *out, size_t max)
{
    (void)ctx;
    uint64_t tail = __atomic_load_n(&hs_tail, __ATOMIC_RELAXED);
    uint64_t head = __atomic_load_n(&hs_head, __ATOMIC_ACQUIRE);
    size_t n = 0;
    for (; tail < head && n < max; tail++, n++) {
        out[n] = hs_ring[tail % HS_WP_RING];
        hs_park_note_fault(out[n].address, out[n].write);
    }
    __atomic_store_n(&hs_tail, tail, __ATOMIC_RELEASE);
    return n;
}

static void hs_op_peek(void *ctx, void (*fn)(void *arg, const hs_os_wp_fault_t *fault), void *arg)
{
    (void)ctx;
    uint64_t tail = __atomic_load_n(&hs_tail, __ATOMIC_RELAXED);
    uint64_t head = __atomic_load_n(&hs_head, __ATOMIC_ACQUIRE);
    for (; tail < head; tail++)
        fn(arg, &hs_ring[tail % HS_WP_RING]);
}

static void hs_close_pagemap(void)
{
    if (hs_pagemap >= 0)
        hs_os_close(hs_pagemap);
    hs_pagemap = -1;
}

static int hs_op_open(void *ctx, char *why, size_t cap)
{
    (void)ctx;
    if (!hs_ring) {
        void *mem;
        int err = hs_os_map_plain(HS_WP_RING * sizeof(hs_os_wp_fault_t), &mem);
        if (err) {
            snprintf(why, cap, "cannot map the fault ring");
            return err;
        }
        hs_ring = mem;
    }
    hs_head = hs_tail = 0;
    hs_uffd = hs_os_wpsync_open(why, cap);
    if (hs_uffd < 0) {
        int err = hs_uffd;
        hs_uffd = -1;
        return err;
    }
    hs_wake = hs_os_eventfd();
    if (hs_wake < 0) {
        snprintf(why, cap, "eventfd: errno %d", -hs_wake);
        hs_os_close(hs_uffd);
        hs_uffd = hs_wake = -1;
        return -EMFILE;
    }
    hs_pagemap = hs_os_pagemap_open(); /* -1: put-backs are not checked */
    hs_stopping = false;
    hs_dead = false;
    int err = hs_thread_start(&hs_thread, hs_wpsync_main, "hugeshim-wp");
    if (err) {
        snprintf(why, cap, "cannot start the fault thread (errno %d)", err);
        hs_os_close(hs_uffd);
        hs_os_close(hs_wake);
        hs_uffd = hs_wake = -1;
        hs_close_pagemap();
        return -err;
    }
    hs_running = true;
    char pwhy[160];
    if (hs_park_open(hs_uffd, hs_pagemap, pwhy, sizeof pwhy) != 0)
        hs_log(HS_LOG_INFO, "uffd_sync: write-protect only (reads not sampled): %s", pwhy);
    return 0;
}

/* Closing the descriptor drops every registration and wakes every writer
 * still waiting. */
static void hs_op_close(void *ctx)
{
    (void)ctx;
    if (!hs_running)
        return;
    hs_park_close(NULL);
    __atomic_store_n(&hs_stopping, true, __ATOMIC_RELEASE);
    hs_os_eventfd_signal(hs_wake);
    pthread_join(hs_thread, NULL);
    hs_running = false;
    hs_os_close(hs_uffd);
    hs_os_close(hs_wake);
    hs_uffd = hs_wake = -1;
    hs_close_pagemap();
}

/* In a forked child the thread does not exist and the descriptor is the
 * parent's (its registrations are the parent's mm): drop both. */
static void hs_op_forget_after_fork(void *ctx)
{
    (void)ctx;
    if (hs_uffd >= 0)
        hs_os_close(hs_uffd);
    if (hs_wake >= 0)
        hs_os_close(hs_wake);
    hs_uffd = hs_wake = -1;
    hs_close_pagemap(); /* the parent's: a pagemap reads the process that opened it */
    hs_running = false;
    hs_head = hs_tail = 0;
    hs_npending = 0;
    hs_park_forget_after_fork();
}

const hs_track_backend_ops_t hs_backend_uffd_sync = {
    .name = "uffd_sync",
    .keeps_thp_whole = true,
    .whole_units = true,
    .budgeted = true,
    .whole_process = false,
    .probe = hs_os_probe_wpsync,
    .open = hs_op_open,
    .close = hs_op_close,
    .forget_after_fork = hs_op_forget_after_fork,
    .watch = hs_op_watch,
    .protect = hs_op_protect,
    .scan = NULL,
    .drain = hs_op_drain,
    .peek = hs_op_peek,
    .end_epoch = hs_op_end_epoch,
    .idle = hs_op_idle,
    .tick = hs_op_tick,
    .ctx = NULL,
};
