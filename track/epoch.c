/* epoch.c: the background thread that runs the tracker's epochs and, every
 * tick, HUGESHIM_HEAP_THP=dense's pass (allocator/hugify.c) when both are on.
 * It blocks every signal (the program's handlers never run on it), calls no
 * malloc (the tracker maps its own memory), and stops cleanly at exit.
 *
 * It must not keep a finished program alive.  glibc ends a process when its
 * last thread returns (start_thread: "This was the last thread", exit(0)),
 * and hugeshim's threads count among them: a program whose main thread ended
 * with pthread_exit, or a child forked from a non-main thread, would live on
 * with only hugeshim's threads, which block SIGTERM and SIGINT.  So every
 * tick the thread counts the program's live threads; when none is left it
 * stops the fault thread and returns, and glibc exits the process as it
 * would have without hugeshim (atexit handlers, destructors, the report).
 * It starts the files thread (common/hs_thread.h) first and stops it last.
 * An epoch ends before its interval when the tracker's tick asks
 * (hs_tracker_tick: units just touched from another node than theirs). */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "../common/hs_log.h"
#include "../common/hs_thread.h"
#include "hs_epoch.h"
#include "hs_tracker.h"

static pthread_t hs_epoch_thread;
static bool hs_epoch_started;
static bool hs_epoch_stopping;
static uint64_t hs_epoch_interval_ns;
static void (*hs_epoch_tick)(void); /* run at every tick, if set */
static pthread_mutex_t hs_epoch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hs_epoch_wake;

/* Program threads still running: all live threads but hugeshim's. */
static bool hs_program_finished(void)
{
    int live = hs_os_live_threads();
    return live >= 0 && live <= hs_thread_own_count();
}

static void *hs_epoch_main(void *arg)
{
    (void)arg;
    bool finished = false;
    if (hs_thread_files_start() != 0)
        hs_log(HS_LOG_INFO, "the files thread could not start: /proc files are opened on the epoch thread");
    pthread_mutex_lock(&hs_epoch_lock);
    while (!hs_epoch_stopping && !finished) {
        uint64_t next = hs_os_now_ns() + hs_epoch_interval_ns;
        while (!hs_epoch_stopping && !finished && hs_os_now_ns() < next) {
            uint64_t left = next - hs_os_now_ns();
            uint64_t wait = left < HS_EPOCH_TICK_NS ? left : HS_EPOCH_TICK_NS;
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            uint64_t ns = (uint64_t)until.tv_nsec + wait;
            until.tv_sec += (time_t)(ns / 1000000000ULL);
            until.tv_nsec = (long)(ns % 1000000000ULL);
            pthread_cond_timedwait(&hs_epoch_wake, &hs_epoch_lock, &until);
            finished = hs_program_finished();
            uint64_t now = hs_os_now_ns();
            if (!hs_epoch_stopping && !finished && now < next) {
                pthread_mutex_unlock(&hs_epoch_lock);
                if (hs_epoch_tick)
                    hs_epoch_tick();
                bool early = hs_tracker_tick(next - now <= HS_EPOCH_TICK_NS);
                pthread_mutex_lock(&hs_epoch_lock);
                if (early)
                    break; /* misplaced units were found: the epoch ends now */
            }
        }
        if (hs_epoch_stopping || finished)
            break;
        pthread_mutex_unlock(&hs_epoch_lock);
        hs_tracker_epoch();
        pthread_mutex_lock(&hs_epoch_lock);
    }
    pthread_mutex_unlock(&hs_epoch_lock);
    if (finished) {
        hs_log(HS_LOG_INFO, "every program thread has ended: hugeshim's threads end too, and the process with them");
        hs_tracker_shutdown();
    }
    hs_thread_files_stop();
    return NULL;
}

int hs_epoch_start(uint64_t interval_ns, void (*tick)(void))
{
    hs_epoch_tick = tick;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hs_epoch_wake, &ca);
    pthread_condattr_destroy(&ca);
    hs_epoch_interval_ns = interval_ns;
    hs_epoch_stopping = false;
    int err = hs_thread_start(&hs_epoch_thread, hs_epoch_main, "hugeshim-epoch");
    hs_epoch_started = err == 0;
    return -err;
}

bool hs_epoch_running(void)
{
    return hs_epoch_started;
}

void hs_epoch_stop(void)
{
    if (!hs_epoch_started)
        return;
    /* Exit may run on the epoch thread itself (it returned as the last
     * thread): it has stopped already and cannot join itself. */
    if (!pthread_equal(pthread_self(), hs_epoch_thread)) {
        pthread_mutex_lock(&hs_epoch_lock);
        hs_epoch_stopping = true;
        pthread_cond_signal(&hs_epoch_wake);
        pthread_mutex_unlock(&hs_epoch_lock);
        pthread_join(hs_epoch_thread, NULL);
    }
    hs_epoch_started = false;
}

/* In a forked child the thread does not exist: forget it (the shim starts a
 * new one). */
void hs_epoch_forget_after_fork(void)
{
    hs_epoch_started = false;
    pthread_mutex_init(&hs_epoch_lock, NULL);
}
