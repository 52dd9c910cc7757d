/* epoch.c: the background thread that runs the tracker's epochs.
 * It blocks every signal (the program's handlers never run on it), calls no
 * malloc (the tracker maps its own memory), and stops cleanly at exit. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "hs_tracker.h"

static pthread_t hs_epoch_thread;
static bool hs_epoch_started;
static bool hs_epoch_stopping;
static uint64_t hs_epoch_interval_ns;
static pthread_mutex_t hs_epoch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hs_epoch_wake;

static void *hs_epoch_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "hugeshim-epoch");
    pthread_mutex_lock(&hs_epoch_lock);
    while (!hs_epoch_stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + hs_epoch_interval_ns;
        until.tv_sec += (time_t)(ns / 1000000000ULL);
        until.tv_nsec = (long)(ns % 1000000000ULL);
        while (!hs_epoch_stopping && pthread_cond_timedwait(&hs_epoch_wake, &hs_epoch_lock, &until) == 0)
            ;
        if (hs_epoch_stopping)
            break;
        pthread_mutex_unlock(&hs_epoch_lock);
        hs_tracker_epoch();
        pthread_mutex_lock(&hs_epoch_lock);
    }
    pthread_mutex_unlock(&hs_epoch_lock);
    return NULL;
}

int hs_epoch_start(uint64_t interval_ns)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hs_epoch_wake, &ca);
    pthread_condattr_destroy(&ca);
    hs_epoch_interval_ns = interval_ns;
    hs_epoch_stopping = false;
    /* The thread inherits this mask: block everything while creating it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&hs_epoch_thread, NULL, hs_epoch_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    hs_epoch_started = err == 0;
    return -err;
}

void hs_epoch_stop(void)
{
    if (!hs_epoch_started)
        return;
    pthread_mutex_lock(&hs_epoch_lock);
    hs_epoch_stopping = true;
    pthread_cond_signal(&hs_epoch_wake);
    pthread_mutex_unlock(&hs_epoch_lock);
    pthread_join(hs_epoch_thread, NULL);
    hs_epoch_started = false;
}

/* In a forked child the thread does not exist: forget it (the shim starts a
 * new one). */
void hs_epoch_forget_after_fork(void)
{
    hs_epoch_started = false;
    pthread_mutex_init(&hs_epoch_lock, NULL);
}
