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
#include "hs_backend.h"

#define HS_WP_RING (1u << 16) /* records between two epochs */

static int hs_uffd = -1, hs_wake = -1;
static pthread_t hs_thread;
static bool hs_running; /* started and not yet joined */
static bool hs_stopping;
static bool hs_dead; /* registrations given up after a failure */
static hs_os_wp_fault_t *hs_ring;
static uint64_t hs_head, hs_tail; /* producer: the fault thread; consumer: the epoch thread */

static void hs_record(uintptr_t addr, int tid)
{
    uint64_t head = __atomic_load_n(&hs_head, __ATOMIC_RELAXED);
    if (head - __atomic_load_n(&hs_tail, __ATOMIC_ACQUIRE) >= HS_WP_RING) {
        hs_count(HS_CTR_TRACK_FAULTS_DROPPED, 1);
        return;
    }
    hs_ring[head % HS_WP_RING] = (hs_os_wp_fault_t){addr, tid};
    __atomic_store_n(&hs_head, head + 1, __ATOMIC_RELEASE);
}

/* Every registration dropped and every blocked writer woken; the fault
 * thread then ends, and the epoch thread's calls fail (counted as errors). */
static void hs_give_up(const char *why)
{
    if (__atomic_exchange_n(&hs_dead, true, __ATOMIC_ACQ_REL))
        return;
    hs_os_wpsync_release(hs_uffd);
    hs_log(HS_LOG_WARN, "uffd_sync: %s; THP regions are no longer tracked", why);
}

static void hs_serve(const hs_os_wp_fault_t *f)
{
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
    hs_record(unit, f->tid);
}

static void *hs_wpsync_main(void *arg)
{
    (void)arg;
    hs_os_wp_fault_t faults[64];
    while (!__atomic_load_n(&hs_stopping, __ATOMIC_ACQUIRE)) {
        int ready = hs_os_poll2(hs_uffd, hs_wake, -1);
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
    if (__atomic_load_n(&hs_dead, __ATOMIC_ACQUIRE))
        return -ENOTCONN;
    return hs_os_wpsync_register(hs_uffd, start, len);
}

static int hs_op_protect(void *ctx, uintptr_t start, size_t len)
{
    (void)ctx;
    if (__atomic_load_n(&hs_dead, __ATOMIC_ACQUIRE))
        return -ENOTCONN;
    return hs_os_wpsync_protect(hs_uffd, start, len, true);
}

static size_t hs_op_drain(void *ctx, hs_os_wp_fault_t *out, size_t max)
{
    (void)ctx;
    uint64_t tail = __atomic_load_n(&hs_tail, __ATOMIC_RELAXED);
    uint64_t head = __atomic_load_n(&hs_head, __ATOMIC_ACQUIRE);
    size_t n = 0;
    for (; tail < head && n < max; tail++, n++)
        out[n] = hs_ring[tail % HS_WP_RING];
    __atomic_store_n(&hs_tail, tail, __ATOMIC_RELEASE);
    return n;
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
    hs_stopping = false;
    hs_dead = false;
    int err = hs_thread_start(&hs_thread, hs_wpsync_main, "hugeshim-wp");
    if (err) {
        snprintf(why, cap, "cannot start the fault thread (errno %d)", err);
        hs_os_close(hs_uffd);
        hs_os_close(hs_wake);
        hs_uffd = hs_wake = -1;
        return -err;
    }
    hs_running = true;
    return 0;
}

/* Closing the descriptor drops every registration and wakes every writer
 * still waiting. */
static void hs_op_close(void *ctx)
{
    (void)ctx;
    if (!hs_running)
        return;
    __atomic_store_n(&hs_stopping, true, __ATOMIC_RELEASE);
    hs_os_eventfd_signal(hs_wake);
    pthread_join(hs_thread, NULL);
    hs_running = false;
    hs_os_close(hs_uffd);
    hs_os_close(hs_wake);
    hs_uffd = hs_wake = -1;
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
    hs_running = false;
    hs_head = hs_tail = 0;
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
    .end_epoch = NULL,
    .ctx = NULL,
};
