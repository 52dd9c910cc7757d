/* vmguard.c: see hs_vmguard.h. */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "../os/hs_os.h"
#include "hs_vmguard.h"

static const hs_vmguard_hooks_t *hs_hooks;
static pthread_rwlock_t hs_lock;
static pthread_once_t hs_once = PTHREAD_ONCE_INIT;
static int hs_hold; /* forks in progress: nothing is parked until they return */
/* Calls (and forks) in progress that began before the hooks were installed:
 * they took no lock, so installing waits for them (a unit parked during one
 * would be parked under the kernel's feet: a move_pages found no page). */
static int hs_unguarded;
static bool hs_expected; /* a sampler may install hooks: count the calls */
static __thread bool hs_fork_unguarded __attribute__((tls_model("initial-exec")));

/* With no hooks installed, the token of a call that goes ahead without the
 * lock: NONE when no sampler will come, UNGUARDED when counted; EXCLUSIVE
 * (not taken) when the hooks came meanwhile and the lock is needed. */
static hs_vmguard_token_t hs_without_hooks(void)
{
    if (!__atomic_load_n(&hs_expected, __ATOMIC_SEQ_CST))
        return HS_VMGUARD_NONE;
    __atomic_add_fetch(&hs_unguarded, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&hs_hooks, __ATOMIC_SEQ_CST))
        return HS_VMGUARD_UNGUARDED;
    __atomic_sub_fetch(&hs_unguarded, 1, __ATOMIC_SEQ_CST);
    return HS_VMGUARD_EXCLUSIVE;
}

static void hs_lock_init(void)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* A waiting sampler goes before new callers: a thread blocked on a
     * parked unit waits on the sampler, never behind a stream of madvises. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&hs_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

void hs_vmguard_install(const hs_vmguard_hooks_t *hooks)
{
    pthread_once(&hs_once, hs_lock_init);
    if (!hooks) {
        /* Removing: wait out every call in progress first. */
        pthread_rwlock_wrlock(&hs_lock);
        __atomic_store_n(&hs_hooks, NULL, __ATOMIC_RELEASE);
        pthread_rwlock_unlock(&hs_lock);
        return;
    }
    __atomic_store_n(&hs_hooks, hooks, __ATOMIC_SEQ_CST);
    /* Calls that began without the hooks end before anything is parked. */
    while (__atomic_load_n(&hs_unguarded, __ATOMIC_SEQ_CST)) {
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
}

void hs_vmguard_expect(void)
{
    __atomic_store_n(&hs_expected, true, __ATOMIC_SEQ_CST);
}

hs_vmguard_token_t hs_vmguard_enter(uintptr_t start, size_t len)
{
    if (!__atomic_load_n(&hs_hooks, __ATOMIC_ACQUIRE)) {
        hs_vmguard_token_t t = hs_without_hooks();
        if (t != HS_VMGUARD_EXCLUSIVE)
            return t;
    }
    pthread_rwlock_rdlock(&hs_lock);
    const hs_vmguard_hooks_t *h = __atomic_load_n(&hs_hooks, __ATOMIC_ACQUIRE);
    if (!h) {
        pthread_rwlock_unlock(&hs_lock);
        return HS_VMGUARD_NONE;
    }
    if (!h->holds(start, len))
        return HS_VMGUARD_SHARED;
    /* Parked units in the range: put them back, and hold the exclusive side
     * through the call so that none is parked again meanwhile. */
    pthread_rwlock_unlock(&hs_lock);
    pthread_rwlock_wrlock(&hs_lock);
    h = __atomic_load_n(&hs_hooks, __ATOMIC_ACQUIRE);
    if (h)
        h->settle(start, len);
    return HS_VMGUARD_EXCLUSIVE;
}

hs_vmguard_token_t hs_vmguard_shared(void)
{
    if (!__atomic_load_n(&hs_hooks, __ATOMIC_ACQUIRE))
        return HS_VMGUARD_NONE;
    pthread_rwlock_rdlock(&hs_lock);
    return HS_VMGUARD_SHARED;
}

void hs_vmguard_leave(hs_vmguard_token_t token)
{
    if (token == HS_VMGUARD_UNGUARDED)
        __atomic_sub_fetch(&hs_unguarded, 1, __ATOMIC_SEQ_CST);
    else if (token != HS_VMGUARD_NONE)
        pthread_rwlock_unlock(&hs_lock);
}

bool hs_vmguard_try_settle(void)
{
    pthread_once(&hs_once, hs_lock_init);
    return pthread_rwlock_trywrlock(&hs_lock) == 0;
}

bool hs_vmguard_try_exclusive(void)
{
    if (!hs_vmguard_try_settle())
        return false;
    if (__atomic_load_n(&hs_hold, __ATOMIC_ACQUIRE)) {
        pthread_rwlock_unlock(&hs_lock);
        return false;
    }
    return true;
}

bool hs_vmguard_exclusive_within(uint64_t ns)
{
    uint64_t until = hs_os_now_ns() + ns;
    for (;;) {
        if (hs_vmguard_try_exclusive())
            return true;
        if (hs_os_now_ns() >= until)
            return false;
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
}

void hs_vmguard_exclusive(void)
{
    pthread_once(&hs_once, hs_lock_init);
    pthread_rwlock_wrlock(&hs_lock);
}

void hs_vmguard_release(void)
{
    pthread_rwlock_unlock(&hs_lock);
}

void hs_vmguard_prefork(void)
{
    const hs_vmguard_hooks_t *h = __atomic_load_n(&hs_hooks, __ATOMIC_ACQUIRE);
    if (!h) {
        hs_vmguard_token_t t = hs_without_hooks();
        hs_fork_unguarded = t == HS_VMGUARD_UNGUARDED;
        if (t != HS_VMGUARD_EXCLUSIVE)
            return;
    }
    h = __atomic_load_n(&hs_hooks, __ATOMIC_ACQUIRE);
    if (!h)
        return; /* removed meanwhile: nothing parked */
    /* Nothing parked may survive into the child: its copy of a parked range
     * would be empty, and the parent's pages would be shared with it (a
     * shared page cannot be moved back).  The exclusive side is not held
     * across the fork (the other prepare handlers, jemalloc's among them,
     * wait for locks whose holders may be purging under the shared side):
     * the hold keeps the sampler from parking until the fork returns. */
    pthread_rwlock_wrlock(&hs_lock);
    __atomic_add_fetch(&hs_hold, 1, __ATOMIC_ACQ_REL);
    h->settle(0, SIZE_MAX);
    pthread_rwlock_unlock(&hs_lock);
}

void hs_vmguard_postfork_parent(void)
{
    if (hs_fork_unguarded) {
        hs_fork_unguarded = false;
        __atomic_sub_fetch(&hs_unguarded, 1, __ATOMIC_SEQ_CST);
        return;
    }
    if (__atomic_load_n(&hs_hold, __ATOMIC_ACQUIRE))
        __atomic_sub_fetch(&hs_hold, 1, __ATOMIC_ACQ_REL);
}

void hs_vmguard_postfork_child(void)
{
    /* The child's sampler starts again from nothing (track/park.c). */
    __atomic_store_n(&hs_hooks, NULL, __ATOMIC_RELEASE);
    hs_hold = 0;
    hs_unguarded = 0;
    hs_fork_unguarded = false;
    hs_lock_init();
}
