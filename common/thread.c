/* thread.c: hugeshim's own threads (hs_thread.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>

#include "../os/hs_os.h"
#include "hs_thread.h"

#define HS_THREAD_SLOTS 4

typedef struct hs_thread_slot {
    void *(*main_fn)(void *);
    const char *name;
    int tid;   /* set by the thread itself, 0 before and after */
    bool used; /* started and not yet returned */
} hs_thread_slot_t;

static hs_thread_slot_t hs_slots[HS_THREAD_SLOTS];

static void *hs_thread_main(void *arg)
{
    hs_thread_slot_t *slot = arg;
    pthread_setname_np(pthread_self(), slot->name);
    __atomic_store_n(&slot->tid, hs_os_gettid(), __ATOMIC_RELEASE);
    void *result = slot->main_fn(NULL);
    __atomic_store_n(&slot->tid, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&slot->used, false, __ATOMIC_RELEASE);
    return result;
}

int hs_thread_start(pthread_t *thread, void *(*main_fn)(void *), const char *name)
{
    hs_thread_slot_t *slot = NULL;
    for (int i = 0; i < HS_THREAD_SLOTS && !slot; i++) {
        bool expected = false;
        if (__atomic_compare_exchange_n(&hs_slots[i].used, &expected, true, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            slot = &hs_slots[i];
    }
    if (!slot)
        return EAGAIN;
    slot->main_fn = main_fn;
    slot->name = name;
    slot->tid = 0;
    /* The thread inherits this mask: block everything while creating it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(thread, NULL, hs_thread_main, slot);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        __atomic_store_n(&slot->used, false, __ATOMIC_RELEASE);
    return err;
}

bool hs_thread_is_own(int tid)
{
    for (int i = 0; i < HS_THREAD_SLOTS; i++)
        if (tid && __atomic_load_n(&hs_slots[i].tid, __ATOMIC_ACQUIRE) == tid)
            return true;
    return false;
}

int hs_thread_own_count(void)
{
    int n = 0;
    for (int i = 0; i < HS_THREAD_SLOTS; i++)
        n += __atomic_load_n(&hs_slots[i].used, __ATOMIC_ACQUIRE);
    return n;
}

/* ---- the files thread --------------------------------------------------- */

static struct {
    pthread_mutex_t call; /* held by the caller whose call it runs */
    pthread_mutex_t lock; /* the fields below */
    pthread_cond_t wake;
    hs_os_apart_fn *fn;
    void *arg;
    bool pending;  /* fn(arg) asked for and not yet run */
    bool ready;    /* its table is its own: calls are run there */
    bool stopping;
    bool started;
    int pid, tid;
    pthread_t thread;
} hs_files = {.call = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static bool hs_files_run(hs_os_apart_fn *fn, void *arg)
{
    /* Not in a vfork child (same memory, another process), nor on the
     * thread itself (a folder walk's callback reads files too). */
    if (!__atomic_load_n(&hs_files.ready, __ATOMIC_ACQUIRE) || hs_files.pid != hs_os_getpid() ||
        hs_files.tid == hs_os_gettid())
        return false;
    /* One call at a time; a second one meanwhile (or one from a signal
     * handler that interrupted the first) is made by its caller. */
    if (pthread_mutex_trylock(&hs_files.call) != 0)
        return false;
    pthread_mutex_lock(&hs_files.lock);
    bool ran = hs_files.ready;
    if (ran) {
        hs_files.fn = fn;
        hs_files.arg = arg;
        hs_files.pending = true;
        pthread_cond_broadcast(&hs_files.wake);
        while (hs_files.pending)
            pthread_cond_wait(&hs_files.wake, &hs_files.lock);
    }
    pthread_mutex_unlock(&hs_files.lock);
    pthread_mutex_unlock(&hs_files.call);
    return ran;
}

static void *hs_files_main(void *arg)
{
    (void)arg;
    /* A copy of the table with nothing of the program's in it. */
    if (hs_os_unshare_files(NULL, 0) != 0)
        return NULL;
    pthread_mutex_lock(&hs_files.lock);
    hs_files.tid = hs_os_gettid();
    hs_files.pid = hs_os_getpid();
    /* Not when told to stop before getting here (a process that ends within
     * its first epoch): nothing would run the calls. */
    __atomic_store_n(&hs_files.ready, !hs_files.stopping, __ATOMIC_RELEASE);
    for (;;) {
        while (!hs_files.pending && !hs_files.stopping)
            pthread_cond_wait(&hs_files.wake, &hs_files.lock);
        if (!hs_files.pending)
            break;
        pthread_mutex_unlock(&hs_files.lock);
        hs_files.fn(hs_files.arg);
        pthread_mutex_lock(&hs_files.lock);
        hs_files.pending = false;
        pthread_cond_broadcast(&hs_files.wake);
    }
    __atomic_store_n(&hs_files.ready, false, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&hs_files.lock);
    return NULL;
}

int hs_thread_files_start(void)
{
    if (hs_files.started)
        return 0;
    hs_os_set_apart(hs_files_run);
    hs_files.stopping = false;
    int err = hs_thread_start(&hs_files.thread, hs_files_main, "hugeshim-files");
    hs_files.started = err == 0;
    return err;
}

void hs_thread_files_stop(void)
{
    if (!hs_files.started)
        return;
    pthread_mutex_lock(&hs_files.lock);
    __atomic_store_n(&hs_files.ready, false, __ATOMIC_RELEASE);
    hs_files.stopping = true;
    pthread_cond_broadcast(&hs_files.wake);
    pthread_mutex_unlock(&hs_files.lock);
    pthread_join(hs_files.thread, NULL);
    hs_files.started = false;
}

void hs_thread_forget_after_fork(void)
{
    for (int i = 0; i < HS_THREAD_SLOTS; i++)
        hs_slots[i] = (hs_thread_slot_t){.main_fn = NULL};
    /* The files thread is not here, and a call may have held its locks. */
    pthread_mutex_init(&hs_files.call, NULL);
    pthread_mutex_init(&hs_files.lock, NULL);
    pthread_cond_init(&hs_files.wake, NULL);
    hs_files.pending = hs_files.ready = hs_files.stopping = hs_files.started = false;
    hs_files.pid = hs_files.tid = 0;
}
