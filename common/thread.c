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

void hs_thread_forget_after_fork(void)
{
    for (int i = 0; i < HS_THREAD_SLOTS; i++)
        hs_slots[i] = (hs_thread_slot_t){.main_fn = NULL};
}
