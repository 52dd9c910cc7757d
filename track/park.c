/* park.c: the access sampler (hs_park.h).  The staging range is one
 * MAP_NORESERVE THP mapping of `slots` 2 MiB slots registered MISSING|WP
 * with uffd_sync's descriptor (UFFDIO_MOVE wants its destination registered
 * with the descriptor, and both sides to have the same protection: a
 * WP-registered VMA write-notifies, so staging is WP-registered too).
 *
 * Park (epoch thread, exclusive side of hs_vmguard):
 *   1. set the unit's write protection to what it is (protected unless the
 *      last epoch wrote, read or put back the unit): it fails unless
 *      uffd_sync registered the unit's region (a stale region of the
 *      tracker's table may be a new mapping of the program's, never to be
 *      touched), and changing nothing it costs no TLB shootdown (the move
 *      clears the protection either way);
 *   2. register the unit MISSING|WP (its VMA splits off its region's);
 *   3. move unit -> slot, no holes allowed (a unit not fully present is
 *      not sampled: a hole would fault again after the put-back).
 * Which units are parked, which write-protected: hs_park_worth.
 * Kept (end of an epoch): a unit nobody accessed all epoch stays parked
 * into the next ones, up to twice the rotation's budget of them (beyond
 * that the ones parked longest go back first, the rotation's preferred
 * units last): it costs nothing more while it stays idle,
 * and its first access, whenever it comes, is seen that epoch.  Putting
 * every idle unit back at each epoch's end cost the program's threads a TLB
 * shootdown per unit, about 4 ms each under the NUMA lab's emulation.
 * Put back (fault thread on an access; epoch thread at the end of the
 * epoch; a program thread in hs_vmguard_enter; fork's prepare handler):
 *   1. move slot -> unit (waiters on the unit wake and find their page);
 *      refused (a raw fork made the pages shared, an injected failure):
 *      copy it back (UFFDIO_COPY, base pages, then MADV_COLLAPSE); that
 *      refused too: move the staging mapping over the unit (mremap: the
 *      unit's VMA stays apart) and map a new slot;
 *   2. unregister the unit (wakes anyone still waiting) and register it
 *      WP again, as its region (the VMAs merge back).
 * Armed (the fault thread, on a unit's first read in an epoch): moved back
 * without waking anyone, write-protected, then its waiters woken, its
 * registration left MISSING|WP so that the protection holds: the store of
 * an update faults once more and is seen.  The slot stays the unit's until
 * it is released (step 2) at a tick, which may park it again straight away,
 * at the epoch's end, or before a program call on its range.
 * The slot table is static; a parked unit is found by a binary search of
 * an index of the slots sorted by address (hs_index); hs_holds, which runs
 * without the guard, scans the slots in use. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../common/hs_counters.h"
#include "../common/hs_log.h"
#include "../common/hs_vmguard.h"
#include "../os/hs_os.h"
#include "hs_epoch.h"
#include "hs_park.h"

#define HS_UNIT HS_OS_HUGE_2M
#define HS_PARK_SLOTS_MAX 16384 /* 32 GiB sampled per epoch at most */

static bool hs_want = true;
/* The program closed the shared copy of the descriptor (close_range): the
 * fault thread's own copy keeps it alive and serves faults, moves from any
 * other thread fail (EBADF), so nothing is parked any more and putting back
 * goes through mremap. */
static bool hs_lost;
static char hs_why[160] = "not started";
static bool hs_running;
static int hs_uffd = -1;
static uintptr_t hs_stage;
static size_t hs_nslots;
static uintptr_t hs_slot_unit[HS_PARK_SLOTS_MAX]; /* 0: free */
static bool hs_slot_again[HS_PARK_SLOTS_MAX];      /* parked again after an access this epoch */
/* Armed: back at its address after a read, write-protected and still
 * registered MISSING|WP (its slot empty), so that a store following the
 * load faults once more and is seen (hs_arm).  Released (registered as
 * its region, which lifts the protection) at the next tick, the epoch's
 * end, or before a program call on its range, as a parked unit is put
 * back. */
static bool hs_slot_home[HS_PARK_SLOTS_MAX];
/* Its unit was a huge page when parked (PAGEMAP_SCAN's PAGE_IS_HUGE). */
static bool hs_slot_huge[HS_PARK_SLOTS_MAX];
/* A page table may be left in the slot: a unit on base pages went through
 * it, or a move split its huge page.  UFFDIO_MOVE splits a huge page moved
 * onto a page table, so the slot is mapped anew when freed (hs_slot_free):
 * else every huge unit parked there later would be split. */
static bool hs_slot_table[HS_PARK_SLOTS_MAX];
static int hs_pagemap = -1;
/* Units put back on base pages (the kernel's move split a huge page, or
 * the put-back copied), to be made huge again (MADV_COLLAPSE) by the
 * epoch thread (hs_park_rehuge), which tries each up to HS_REHUGE_TRIES
 * times: a collapse needs a free huge page, which the moment that split
 * the unit may have lacked.  Changed under the exclusive side. */
#define HS_REHUGE_MAX 64
#define HS_REHUGE_TRIES 8
static struct {
    uintptr_t unit;
    unsigned tries;
} hs_rehuge[HS_REHUGE_MAX];
static size_t hs_nrehuge;
static uint64_t hs_slot_since[HS_PARK_SLOTS_MAX];  /* the epoch (hs_epochs_seen) it was parked in */
static size_t hs_parked;                           /* slots in use */
static size_t hs_high;                             /* slots [0, hs_high) may be in use */
/* Units put back on an access this epoch, parked again at the epoch
 * thread's ticks for more samples (up to HS_SAMPLES per epoch): a unit
 * accessed from several nodes then shows them all, not only the first. */
#define HS_SAMPLES 4
static uintptr_t hs_accessed[HS_PARK_SLOTS_MAX];
/* The units the last epoch's end found parked since the epoch's start and
 * untouched: idle by the sampler's own evidence (tiering's). */
static uintptr_t hs_idle_units[HS_PARK_SLOTS_MAX];
static size_t hs_nidle;
static uint8_t hs_accessed_samples[HS_PARK_SLOTS_MAX];
static int hs_accessed_tid[HS_PARK_SLOTS_MAX]; /* the thread of its first sample */
static bool hs_accessed_once[HS_PARK_SLOTS_MAX]; /* its accessor's node is settled (hs_park_enough) */
static size_t hs_naccessed;
static bool (*hs_enough_fn)(void *ctx, uintptr_t unit, int tid);
static void *hs_enough_ctx;

static size_t hs_want_slots = 2048;
static size_t hs_cold_budget = 256; /* HUGESHIM_SAMPLE_BUDGET */
/* Idle units kept parked across an epoch's end at most: twice the budget,
 * and at most half the slots (the rest take the epoch's parks).  A fork
 * puts them all back first (about 0.25 ms each on the dev VM). */
static size_t hs_keep_max = 512;
/* And at most a tenth of the epoch's time spent parking (a park with the
 * program's threads running costs about 10 us on the dev VM, but about 10 ms
 * under the NUMA lab's single-threaded emulation, whose TLB shootdowns wait
 * for each vCPU's turn). */
static uint64_t hs_cold_ns_max = 100000000ULL;
/* Whether an epoch has a tick well before its end (hs_park_unwritten runs
 * at the first): else read units are always parked at the epoch's start. */
static bool hs_tick_early;

void hs_park_want(bool want, size_t slots, size_t cold_budget, uint64_t interval_ns)
{
    hs_cold_ns_max = interval_ns / 10;
    hs_tick_early = interval_ns >= 2 * HS_EPOCH_TICK_NS;
    hs_want = want;
    if (want)
        hs_vmguard_expect();
    hs_want_slots = slots ? slots : 1;
    hs_cold_budget = cold_budget ? cold_budget : 1;
    size_t half = (hs_want_slots < HS_PARK_SLOTS_MAX ? hs_want_slots : HS_PARK_SLOTS_MAX) / 2;
    hs_keep_max = 2 * hs_cold_budget < half ? 2 * hs_cold_budget : half;
}

bool hs_park_available(char *why, size_t cap)
{
    if (!hs_want) {
        snprintf(why, cap, "HUGESHIM_SAMPLE=off");
        return false;
    }
    if (!hs_os_wpsync_can_move()) {
        snprintf(why, cap, "this kernel's userfaultfd has no UFFDIO_MOVE (Linux 6.8+): reads are not seen");
        return false;
    }
    snprintf(why, cap, "UFFDIO_MOVE");
    return true;
}

bool hs_park_running(void)
{
    return __atomic_load_n(&hs_running, __ATOMIC_ACQUIRE);
}

static uintptr_t hs_slot_addr(size_t i)
{
    return hs_stage + i * HS_UNIT;
}

/* Slots by a key (a unit's address, the epoch it was parked in). */
typedef struct {
    uint64_t key;
    size_t slot;
} hs_keyed_t;

/* The parked units by address: changed with hs_slot_unit under the
 * exclusive side of the guard, searched under either side (idle units stay
 * parked, so lookups come every epoch for every unit, and from tools asking
 * where a page is). */
static hs_keyed_t hs_index[HS_PARK_SLOTS_MAX];
static size_t hs_nindex;

/* The first entry not below unit. */
static size_t hs_index_pos(uintptr_t unit)
{
    size_t lo = 0, hi = hs_nindex;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (hs_index[mid].key < unit)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void hs_index_add(uintptr_t unit, size_t slot)
{
    size_t p = hs_index_pos(unit);
    memmove(&hs_index[p + 1], &hs_index[p], (hs_nindex - p) * sizeof hs_index[0]);
    hs_index[p] = (hs_keyed_t){unit, slot};
    hs_nindex++;
}

static void hs_index_drop(uintptr_t unit)
{
    size_t p = hs_index_pos(unit);
    if (p < hs_nindex && hs_index[p].key == unit) {
        memmove(&hs_index[p], &hs_index[p + 1], (hs_nindex - p - 1) * sizeof hs_index[0]);
        hs_nindex--;
    }
}

/* The slot holding unit, or SIZE_MAX: not parked. */
static size_t hs_slot_of(uintptr_t unit)
{
    size_t p = hs_index_pos(unit);
    return p < hs_nindex && hs_index[p].key == unit ? hs_index[p].slot : SIZE_MAX;
}

/* ---- hs_vmguard hooks ----------------------------------------------------- */

static bool hs_in(uintptr_t unit, uintptr_t start, size_t len)
{
    uintptr_t end = len > UINTPTR_MAX - start ? UINTPTR_MAX : start + len;
    return unit < end && unit + HS_UNIT > start;
}

static bool hs_holds(uintptr_t start, size_t len)
{
    if (!__atomic_load_n(&hs_parked, __ATOMIC_ACQUIRE))
        return false;
    for (size_t i = 0; i < hs_high; i++) {
        uintptr_t u = __atomic_load_n(&hs_slot_unit[i], __ATOMIC_RELAXED);
        if (u && hs_in(u, start, len))
            return true;
    }
    return false;
}

static bool hs_put_back(size_t i);

static void hs_settle(uintptr_t start, size_t len)
{
    for (size_t i = 0; i < hs_high; i++)
        if (hs_slot_unit[i] && hs_in(hs_slot_unit[i], start, len) && hs_put_back(i))
            hs_count(HS_CTR_SAMPLE_SETTLED, 1);
}

static bool hs_rehuge_queued(uintptr_t unit)
{
    for (size_t k = 0; k < hs_nrehuge; k++)
        if (hs_rehuge[k].unit == unit)
            return true;
    return false;
}

/* Unit is back on base pages: to be made huge again. */
static void hs_rehuge_add(uintptr_t unit)
{
    if (hs_rehuge_queued(unit))
        return;
    if (hs_nrehuge == HS_REHUGE_MAX) {
        hs_count(HS_CTR_SAMPLE_LEFT_SPLIT, 1);
        return;
    }
    hs_rehuge[hs_nrehuge].unit = unit;
    hs_rehuge[hs_nrehuge++].tries = 0;
}

static const hs_vmguard_hooks_t hs_hooks = {.holds = hs_holds, .settle = hs_settle};

/* ---- moves ---------------------------------------------------------------- */

/* The unit as its region has it: WP-registered only. */
static int hs_reregister(uintptr_t unit)
{
    int err = hs_os_wpsync_unregister(hs_uffd, unit, HS_UNIT);
    if (!err)
        err = hs_os_wpsync_register(hs_uffd, unit, HS_UNIT);
    if (err)
        hs_count(HS_CTR_SAMPLE_ERRORS, 1);
    return err;
}

/* Move [from+done, from+len) to [to+done, ...), retrying what may pass on a
 * second try (waking the waiters at `to` unless !wake).  0 or the last -errno. */
static int hs_move_rest(uintptr_t to, uintptr_t from, size_t len, bool wake)
{
    size_t done = 0;
    int err = 0;
    for (int attempt = 0; attempt < 4 && done < len; attempt++) {
        size_t moved = 0;
        err = hs_os_uffd_move(hs_uffd, to + done, from + done, len - done, wake, &moved);
        done += moved;
        if (!err)
            return 0;
        hs_count(HS_CTR_SAMPLE_ERRORS, 1);
        hs_log(HS_LOG_DEBUG, "sampler: move %#lx -> %#lx (%zu bytes, %zu done): errno %d", (unsigned long)from,
               (unsigned long)to, len, done, -err);
        if (err != -EAGAIN && err != -EIO)
            break; /* EIO: an injected failure (HUGESHIM_FAULTS=park) */
    }
    return done == len ? 0 : err;
}

/* The node of the first page of [slot, slot+len) still there, else of the
 * unit's first page; -1 when neither is present. */
static int hs_node_of_range(uintptr_t slot, uintptr_t unit, size_t len)
{
    for (size_t off = 0; off < len; off += HS_OS_PAGE_SIZE) {
        void *page = (void *)(slot + off);
        int status = -1;
        if (hs_os_move_pages(1, &page, NULL, &status) == 0 && status >= 0)
            return status;
    }
    void *page = (void *)unit;
    int status = -1;
    return hs_os_move_pages(1, &page, NULL, &status) == 0 ? status : -1;
}

/* Map [slot, slot+len) of staging anew (what was there is gone): the
 * mremap of a put-back took it, or a page table is left there (a move that
 * split the huge page left the slot's PTE table behind, and every later
 * move into the slot would split its unit too; a new mapping has none). */
static void hs_slot_renew(uintptr_t slot, size_t len)
{
    int err = hs_os_map_fixed_thp((void *)slot, len);
    if (!err) {
        hs_os_dontfork((void *)slot, len, true);
        err = hs_os_wpsync_register_missing(hs_uffd, slot, len);
    }
    if (err) /* the slot is unusable: moves into it fail and its units stay where they are */
        hs_count(HS_CTR_SAMPLE_ERRORS, 1);
}

/* How hs_restore put a unit back. */
enum { HS_BACK_MOVED, HS_BACK_COPIED, HS_BACK_REMAPPED };

/* Put [slot, slot+len) back at [unit, unit+len); true when the data is
 * there again (*how; copied: on base pages, to be made huge again).  A
 * move wakes the unit's waiters unless !wake; a copy or a remap always. */
static bool hs_restore(uintptr_t unit, uintptr_t slot, size_t len, bool wake, int *how)
{
    *how = HS_BACK_MOVED;
    /* Injected (HUGESHIM_FAULTS=park_split): the first page moved alone
     * splits the huge page, which is what the kernel's move does to a unit
     * whose range a fault fell back on (a page table left there). */
    size_t first = 0;
    if (len == HS_UNIT && hs_os_fault(HS_OS_FAULT_PARK_SPLIT) &&
        hs_os_uffd_move(hs_uffd, unit, slot, HS_OS_PAGE_SIZE, wake, &first) != 0)
        first = 0;
    if (hs_move_rest(unit + first, slot + first, len - first, wake) == 0)
        return true;
    /* Copy it back (UFFDIO_COPY into the missing pages): base pages, the
     * data whole, the unit's VMA still one with its region's once
     * re-registered; then ask for the huge page again (MADV_COLLAPSE) and
     * empty the slot.  What a failed move left at the unit is already
     * there: copy only what is still missing, page by page. */
    bool copied = true;
    /* The copy's pages come from the calling thread's node: have them come
     * from the node the page was on, or a put-back would move the unit. */
    hs_os_policy_t policy;
    (void)hs_os_prefer_node(hs_node_of_range(slot, unit, len), &policy);
    for (size_t off = 0; off < len && copied; off += HS_OS_PAGE_SIZE) {
        size_t n = 0;
        int e = hs_os_uffd_copy(hs_uffd, unit + off, slot + off, HS_OS_PAGE_SIZE, &n);
        copied = e == 0 || e == -EEXIST;
    }
    hs_os_policy_restore(&policy);
    if (copied) {
        hs_os_purge((void *)slot, len, true);
        hs_count(HS_CTR_SAMPLE_PUT_BACK_BY_COPY, 1);
        *how = HS_BACK_COPIED;
        return true;
    }
    hs_count(HS_CTR_SAMPLE_ERRORS, 1);
    /* Move the staging mapping itself over the unit: the data and its huge
     * page go with it whatever the kernel thought.  The unit's piece of VMA
     * then is a separate one (another anon_vma: the program's mremap of
     * the whole mapping fails), and loses staging's MADV_DONTFORK. */
    int err = hs_os_move_mapping((void *)slot, len, (void *)unit);
    if (err) {
        hs_count(HS_CTR_SAMPLE_ERRORS, 1);
        hs_log(HS_LOG_WARN, "sampler: cannot put back the unit at %#lx (errno %d); it stays parked, "
               "its accessors wait, the next access or epoch tries again", (unsigned long)unit, -err);
        return false;
    }
    hs_os_dontfork((void *)unit, len, false);
    hs_count(HS_CTR_SAMPLE_PUT_BACK_BY_MREMAP, 1);
    *how = HS_BACK_REMAPPED;
    hs_slot_renew(slot, len);
    return true;
}

/* The first len bytes of a unit back from slot, and the unit registered
 * as its region is; true when the data is back.  Left MISSING-registered
 * otherwise: accessors wait rather than see zeroes (the log said so).
 * arm: a read's put-back; moved back whole, the unit is armed instead
 * (*armed): write-protected while its registration still holds MISSING|WP
 * (unregistering would lift the protection: the kernel clears it), and
 * only then are its waiters woken, so that the store of an update (a
 * load, then a store) faults once more and names its writer.  Waking
 * first would let the store through before the protection is set.
 * huge: the unit was a huge page when parked.  Back on base pages (the
 * move split it: a fault at the parked unit fell back to base pages and
 * left a page table there, as when no huge page was free; or it was
 * copied), it is not armed and goes to be made huge again. */
static bool hs_bring_back(uintptr_t unit, uintptr_t slot, size_t len, bool huge, bool arm, bool *armed,
                          bool *split_out)
{
    int how;
    *armed = false;
    *split_out = false;
    if (!hs_restore(unit, slot, len, !arm, &how))
        return false;
    bool split = how == HS_BACK_COPIED;
    if (how == HS_BACK_MOVED && huge && len == HS_UNIT && hs_pagemap >= 0 &&
        hs_os_range_huge(hs_pagemap, unit, HS_UNIT) == 0) {
        hs_count(HS_CTR_SAMPLE_SPLIT, 1);
        split = *split_out = true;
    }
    if (arm && how == HS_BACK_MOVED && !split) {
        *armed = hs_os_wpsync_protect(hs_uffd, unit, HS_UNIT, true) == 0;
        if (!*armed)
            hs_count(HS_CTR_SAMPLE_ERRORS, 1);
    }
    if (!*armed)
        hs_reregister(unit);
    if (arm) /* not woken by the move (unregistering wakes them too, but say it) */
        hs_os_wpsync_wake(hs_uffd, unit, HS_UNIT);
    if (split)
        hs_rehuge_add(unit);
    return true;
}

/* A park's move failed partway: every page that reached the slot goes
 * back, however many the kernel said it moved (`moved`, its count).  A count
 * short of what moved would leave pages in the slot, and the slot mapped
 * anew would lose them: the program then read zeroes where its data was
 * (seen once in about 4,000 runs of the compat suite's threaded stress).
 * So the slot's pages are counted, the whole slot is moved back with holes
 * allowed, and the slot must be empty before the unit is registered as its
 * region again.  true when the data is back at the unit (left
 * MISSING-registered otherwise: accessors wait, the log says so). */
static bool hs_unpark(uintptr_t unit, uintptr_t slot, size_t moved)
{
    long in_slot = hs_os_resident_pages((void *)slot, HS_UNIT);
    if (in_slot > (long)(moved / HS_OS_PAGE_SIZE)) {
        hs_count(HS_CTR_SAMPLE_MOVE_MISCOUNTED, 1);
        hs_log(HS_LOG_INFO, "sampler: a failed move of %#lx reported %zu bytes moved, %ld pages reached the slot",
               (unsigned long)unit, moved, in_slot);
    }
    if (in_slot == 0) {
        hs_reregister(unit);
        return true;
    }
    size_t back = 0;
    int err = hs_os_uffd_move_present(hs_uffd, unit, slot, HS_UNIT, &back);
    if (err)
        hs_log(HS_LOG_DEBUG, "sampler: moving %#lx back from its slot, holes allowed: errno %d, %zu bytes",
               (unsigned long)unit, -err, back);
    if (hs_os_resident_pages((void *)slot, HS_UNIT) != 0) {
        /* Not all back (or mincore failed): copy what is still there. */
        bool armed, split;
        return hs_bring_back(unit, slot, HS_UNIT, false, false, &armed, &split);
    }
    hs_reregister(unit);
    return true;
}

/* Slot i free again. */
static void hs_slot_free(size_t i)
{
    if (hs_slot_table[i]) {
        hs_slot_renew(hs_slot_addr(i), HS_UNIT);
        hs_slot_table[i] = false;
    }
    hs_index_drop(hs_slot_unit[i]);
    hs_slot_home[i] = false;
    __atomic_store_n(&hs_slot_unit[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&hs_parked, hs_parked - 1, __ATOMIC_RELEASE);
}

/* Put slot i's unit back (an armed one: registered as its region again);
 * true when its data is back at the unit.  An armed unit that cannot be
 * registered so (the program closed the descriptor: only the fault thread
 * still can) keeps its slot: a hole the program makes in it later faults
 * as missing, and the fault thread, finding it armed, tries again; freed,
 * nobody would, and the fault would come back for ever. */
static bool hs_put_back(size_t i)
{
    bool armed, split;
    if (hs_slot_home[i]) {
        if (hs_reregister(hs_slot_unit[i]) != 0)
            return true;
    } else if (!hs_bring_back(hs_slot_unit[i], hs_slot_addr(i), HS_UNIT, hs_slot_huge[i], false, &armed, &split)) {
        return false;
    } else if (split) {
        hs_slot_table[i] = true;
    }
    hs_slot_free(i);
    return true;
}

/* A read of parked slot i's unit: back, armed if it can be; true when its
 * data is back at the unit. */
static bool hs_arm(size_t i)
{
    bool armed, split;
    if (!hs_bring_back(hs_slot_unit[i], hs_slot_addr(i), HS_UNIT, hs_slot_huge[i], true, &armed, &split))
        return false;
    hs_slot_table[i] |= split;
    if (!armed) {
        hs_slot_free(i);
        return true;
    }
    hs_slot_home[i] = true;
    hs_count(HS_CTR_SAMPLE_ARMED, 1);
    return true;
}

static bool hs_seen_unprotected(uintptr_t unit);
static void hs_shared_note(uintptr_t unit);
static uint64_t hs_epochs_seen;

/* Park unit, whose write protection is believed to be `wp` (a wrong guess
 * costs one shootdown, nothing else). */
static int hs_park_as(uintptr_t unit, bool wp)
{
    if (!hs_park_running() || hs_lost)
        return -ENOTCONN;
    if (hs_parked >= hs_nslots) {
        hs_count(HS_CTR_SAMPLE_SKIP_BUSY, 1);
        return -ENOSPC;
    }
    if (hs_rehuge_queued(unit)) { /* on base pages until made huge again */
        hs_count(HS_CTR_SAMPLE_SKIP_BUSY, 1);
        return -EBUSY;
    }
    size_t i = 0;
    while (i < hs_nslots && hs_slot_unit[i])
        i++;
    uint64_t t0 = hs_os_now_ns();
    /* Only a unit of a region uffd_sync registered: setting its write
     * protection fails elsewhere (ENOENT).  The tracker's table may still
     * hold a region the program unmapped, and a new mapping there is not
     * ours yet: registering its unit would split the program's VMA.  Set
     * to what it is, the call changes no page table entry: lifting the
     * protection of a protected unit cost a TLB shootdown per park, about
     * 1 ms under the NUMA lab's emulation (checked 2026-12-03: UFFDIO_MOVE
     * takes a protected THP as well and clears the bit). */
    int err = hs_os_wpsync_protect(hs_uffd, unit, HS_UNIT, wp);
    if (err) {
        hs_count(HS_CTR_SAMPLE_SKIP_BUSY, 1);
        return err;
    }
    err = hs_os_wpsync_register_missing(hs_uffd, unit, HS_UNIT);
    if (err) {
        hs_count(HS_CTR_SAMPLE_ERRORS, 1);
        if (err == -EBADF || err == -ENOTTY) {
            hs_lost = true;
            snprintf(hs_why, sizeof hs_why, "stopped: the program closed hugeshim's userfaultfd");
        }
        return err;
    }
    uintptr_t slot = hs_slot_addr(i);
    size_t moved = 0;
    bool huge = hs_pagemap >= 0 && hs_os_range_huge(hs_pagemap, unit, HS_UNIT) == 1;
    err = hs_os_uffd_move(hs_uffd, slot, unit, HS_UNIT, true, &moved);
    if (err) {
        /* Whatever moved goes back first: the unit must be whole again
         * before its MISSING registration is dropped. */
        bool back = hs_unpark(unit, slot, moved);
        /* Moving base pages, the kernel put a page table in the slot
         * first, even when the first page failed.  Never over data that
         * could not be put back. */
        if (back && !huge && hs_pagemap >= 0)
            hs_slot_renew(slot, HS_UNIT);
        if (err == -EBUSY)
            hs_shared_note(unit);
        hs_count(err == -ENOENT ? HS_CTR_SAMPLE_SKIP_NOT_WHOLE
                 : err == -EBUSY ? HS_CTR_SAMPLE_SKIP_SHARED
                 : err == -EINVAL ? HS_CTR_SAMPLE_SKIP_INCOMPATIBLE
                 : err == -EAGAIN ? HS_CTR_SAMPLE_SKIP_BUSY
                                  : HS_CTR_SAMPLE_ERRORS,
                 1);
        hs_count(HS_CTR_SAMPLE_NS, hs_os_now_ns() - t0);
        return err;
    }
    __atomic_store_n(&hs_slot_unit[i], unit, __ATOMIC_RELAXED);
    hs_index_add(unit, i);
    hs_slot_again[i] = false;
    hs_slot_home[i] = false;
    hs_slot_huge[i] = huge;
    hs_slot_table[i] = !huge && hs_pagemap >= 0;
    hs_slot_since[i] = hs_epochs_seen;
    if (i >= hs_high)
        hs_high = i + 1;
    __atomic_store_n(&hs_parked, hs_parked + 1, __ATOMIC_RELEASE);
    hs_count(HS_CTR_SAMPLE_PARKED, 1);
    hs_count(HS_CTR_SAMPLE_NS, hs_os_now_ns() - t0);
    return 0;
}

int hs_park_unit(uintptr_t unit)
{
    return hs_park_as(unit, !hs_seen_unprotected(unit));
}

/* What the last epoch's faults said of each unit they touched: written
 * (write-protect faults, writes to parked units) or only read.  An
 * open-addressing set of unit addresses with the two bits in the low bits
 * (units are 2 MiB-aligned), filled by the epoch thread as it drains the
 * faults, read when it chooses how to watch each unit. */
#define HS_SEEN_CAP (2 * HS_PARK_SLOTS_MAX)
#define HS_SEEN_WRITTEN 1u
#define HS_SEEN_READ 2u
#define HS_SEEN_PUT_BACK 4u /* put back idle at the epoch's end: unprotected */
#define HS_SEEN_BITS ((uintptr_t)7)
static uintptr_t hs_seen[HS_SEEN_CAP];
/* Units neither written nor read last epoch are parked in rotation: one in
 * hs_cold_stride each epoch, so that at most the sample budget of them is
 * parked per epoch (every park is two TLB shootdowns for the program's
 * threads, so parking every cold unit every epoch cost a 2 GiB heap its
 * placement in the NUMA lab). */
static size_t hs_cold_seen, hs_cold_stride = 1, hs_cold_parked;
static uint64_t hs_cold_ns;
/* Where the rotation goes on: units are offered in address order every
 * epoch, so a pass that the budget or the time cut must resume next epoch
 * at the unit it stopped at (restarting at the lowest address, units at
 * high addresses were never parked while parking was slow). */
static uintptr_t hs_cold_from, hs_cold_stop;

/* Open-addressing sets of unit addresses with flag bits in the low bits
 * (units are 2 MiB-aligned), filled to half their capacity at most. */
typedef struct hs_unit_set {
    uintptr_t *slot;
    size_t cap, n;
} hs_unit_set_t;

static size_t hs_set_home(const hs_unit_set_t *s, uintptr_t unit)
{
    return (size_t)(((unit >> 21) * 0x9E3779B97F4A7C15ULL) >> 40) % s->cap;
}

/* false when the set is full. */
static bool hs_set_add(hs_unit_set_t *s, uintptr_t unit, uintptr_t bits)
{
    for (size_t i = hs_set_home(s, unit), n = 0; n < s->cap; i = (i + 1) % s->cap, n++) {
        if ((s->slot[i] & ~HS_SEEN_BITS) == unit) {
            s->slot[i] |= bits;
            return true;
        }
        if (!s->slot[i]) {
            if (s->n >= s->cap / 2)
                return false;
            s->slot[i] = unit | bits;
            s->n++;
            return true;
        }
    }
    return false;
}

/* The unit's entry, NULL when absent. */
static uintptr_t *hs_set_find(const hs_unit_set_t *s, uintptr_t unit)
{
    for (size_t i = hs_set_home(s, unit), n = 0; s->slot[i] && n < s->cap; i = (i + 1) % s->cap, n++)
        if ((s->slot[i] & ~HS_SEEN_BITS) == unit)
            return &s->slot[i];
    return NULL;
}

/* The unit's bits, 0 when absent. */
static unsigned hs_set_bits(const hs_unit_set_t *s, uintptr_t unit)
{
    const uintptr_t *e = hs_set_find(s, unit);
    return e ? (unsigned)(*e & HS_SEEN_BITS) : 0;
}

static void hs_set_clear(hs_unit_set_t *s)
{
    memset(s->slot, 0, s->cap * sizeof s->slot[0]);
    s->n = 0;
}

static hs_unit_set_t hs_seen_set = {hs_seen, HS_SEEN_CAP, 0};

/* Units the kernel refused to move because their pages are shared (a fork
 * left them so; a pin; KSM): not tried again until written, which makes the
 * pages the process's own.  Trying them costs more than a wasted call: the
 * move holds a reference on the THP for a moment, and a write fault that
 * meets it copies the page in 4 KiB pieces, splitting the THP (seen after
 * forks, a few THPs per second of 20 ms epochs).  Forgotten every 64 epochs:
 * the address may hold another mapping by then. */
#define HS_SHARED 1u
static uintptr_t hs_shared[HS_PARK_SLOTS_MAX];
static hs_unit_set_t hs_shared_set = {hs_shared, HS_PARK_SLOTS_MAX, 0};

/* Units read last epoch by their settled accessor's node (hs_park_enough),
 * not armed on their first read this epoch but three epochs in four: the
 * store of an update would be seen as a write, but a settled unit's kind
 * changes nothing where it goes, and arming costs two more TLB shootdowns
 * (the protection, then its release).  Written under the exclusive side of
 * the guard (the epoch's end), read by the fault thread under the other. */
#define HS_UNARMED 1u
static uintptr_t hs_unarmed[HS_PARK_SLOTS_MAX];
static hs_unit_set_t hs_unarmed_set = {hs_unarmed, HS_PARK_SLOTS_MAX, 0};

static void hs_shared_note(uintptr_t unit)
{
    hs_set_add(&hs_shared_set, unit, HS_SHARED);
}

/* Whether the unit was refused as shared and not written since (a write
 * found now clears the mark). */
static bool hs_shared_unwritten(uintptr_t unit, unsigned seen)
{
    uintptr_t *e = hs_shared_set.n ? hs_set_find(&hs_shared_set, unit) : NULL;
    if (!e)
        return false;
    if (seen & HS_SEEN_WRITTEN)
        *e &= ~(uintptr_t)HS_SHARED;
    return *e & HS_SHARED;
}

static void hs_seen_add(uintptr_t unit, uintptr_t bit)
{
    hs_set_add(&hs_seen_set, unit, bit);
}

void hs_park_note_fault(uintptr_t addr, bool write)
{
    hs_seen_add(addr & ~(uintptr_t)(HS_UNIT - 1), write ? HS_SEEN_WRITTEN : HS_SEEN_READ);
}

static unsigned hs_seen_bits(uintptr_t unit)
{
    return hs_set_bits(&hs_seen_set, unit);
}

/* Not write-protected now: written last epoch (the fault lifted it), or
 * moved back (a move clears it). */
static bool hs_seen_unprotected(uintptr_t unit)
{
    return hs_seen_bits(unit) != 0;
}

/* Units the rotation tries first (hs_park_prefer), and how many of them
 * the last epoch's arming met: while there are some, the other cold units
 * get half the budget and half the time. */
static bool (*hs_prefer_fn)(void *ctx, uintptr_t unit);
static void *hs_prefer_ctx;
static size_t hs_pref_seen, hs_pref_last;
/* The parks and time of the units not preferred, and whether the last unit
 * chosen was one of them (hs_park_cold_time). */
static size_t hs_others_parked;
static uint64_t hs_others_ns;
static bool hs_last_other;

void hs_park_prefer(bool (*fn)(void *ctx, uintptr_t unit), void *ctx)
{
    hs_prefer_ctx = ctx;
    hs_prefer_fn = fn;
}

/* The parks the units not preferred may take while preferred ones exist. */
static size_t hs_others_budget(void)
{
    return hs_cold_budget > 1 ? hs_cold_budget / 2 : hs_cold_budget;
}

/* A unit's turn in the rotations that take one epoch in k: hashed, not the
 * unit's index, so that a program's regular pattern (every 10th unit hot)
 * does not fall in one class of the stride. */
static uint64_t hs_turn(uintptr_t unit)
{
    return (((unit >> 21) * 0x9E3779B97F4A7C15ULL) >> 32) + hs_epochs_seen;
}

bool hs_park_worth(uintptr_t unit)
{
    /* Kept parked from an earlier epoch: it is watched already. */
    if (hs_parked && hs_slot_of(unit) != SIZE_MAX)
        return false;
    unsigned seen = hs_seen_bits(unit);
    if (hs_shared_unwritten(unit, seen))
        return false;
    uint64_t turn = hs_turn(unit);
    /* Written last epoch: write-protect names its writer for a fault and
     * costs a quarter of a park; parked one epoch in 16 all the same, so
     * that readers on other nodes are seen too. */
    if (seen & HS_SEEN_WRITTEN)
        return turn % 16 == 0;
    /* Read last epoch: only parking sees it.  But a parked unit's first
     * access may be the load of an update (a load, then a store): the unit
     * goes back unprotected as read and its store is not seen, and parked
     * at every epoch's start it would stay "read" for good, a park every
     * epoch where a written unit costs one in 16.  So one epoch in 4 a read
     * unit is write-protected at the start instead, and parked at the
     * first tick if no write came by then (hs_park_unwritten, outside the
     * budget like this park): an updated unit leaves the read regime
     * within 4 epochs, a unit only read is still seen that epoch. */
    if (seen & HS_SEEN_READ)
        return !hs_tick_early || turn % 4 != 0;
    hs_cold_seen++;
    bool preferred = hs_prefer_fn && hs_prefer_fn(hs_prefer_ctx, unit);
    hs_last_other = false;
    if (preferred)
        hs_pref_seen++;
    else if (unit < hs_cold_from || turn % hs_cold_stride != 0)
        return false;
    bool full = hs_cold_parked >= hs_cold_budget || hs_cold_ns >= hs_cold_ns_max;
    /* While there are preferred units, the others take half. */
    if (!preferred && hs_pref_last && hs_cold_budget > 1)
        full |= hs_others_parked >= hs_others_budget() || hs_others_ns >= hs_cold_ns_max / 2;
    if (full) {
        if (!preferred && !hs_cold_stop)
            hs_cold_stop = unit;
        return false;
    }
    if (!preferred) {
        hs_others_parked++;
        hs_last_other = true;
    }
    hs_cold_parked++;
    return true;
}

void hs_park_cold_time(uint64_t ns)
{
    hs_cold_ns += ns;
    if (hs_last_other)
        hs_others_ns += ns;
    hs_last_other = false;
}

/* Its place among the units read this epoch, or SIZE_MAX. */
static size_t hs_accessed_of(uintptr_t unit)
{
    for (size_t i = 0; i < hs_naccessed; i++)
        if (hs_accessed[i] == unit)
            return i;
    return SIZE_MAX;
}

/* Under the exclusive side. */
static void hs_note_accessed(uintptr_t unit, int tid)
{
    size_t i = hs_accessed_of(unit);
    if (i != SIZE_MAX) {
        hs_accessed_samples[i]++;
        return;
    }
    if (hs_naccessed < HS_PARK_SLOTS_MAX) {
        hs_accessed[hs_naccessed] = unit;
        hs_accessed_tid[hs_naccessed] = tid;
        hs_accessed_once[hs_naccessed] = false;
        hs_accessed_samples[hs_naccessed++] = 1;
    }
}

void hs_park_enough(bool (*fn)(void *ctx, uintptr_t unit, int tid), void *ctx)
{
    hs_enough_ctx = ctx;
    hs_enough_fn = fn;
}

/* The tick's parks of units write-protected and untouched (hs_park_unwritten),
 * and the units this epoch's faults touched so far. */
static size_t hs_unwritten_parked;
static uint64_t hs_unwritten_ns;
#define HS_TOUCHED_CAP 16384
#define HS_TOUCHED 1u
static uintptr_t hs_touched[HS_TOUCHED_CAP];
static hs_unit_set_t hs_touched_set = {hs_touched, HS_TOUCHED_CAP, 0};

void hs_park_touched_clear(void)
{
    hs_set_clear(&hs_touched_set);
}

bool hs_park_note_touched(uintptr_t addr)
{
    return hs_set_add(&hs_touched_set, addr & ~(uintptr_t)(HS_UNIT - 1), HS_TOUCHED);
}

int hs_park_unwritten(uintptr_t unit)
{
    /* Only units protected because the last epoch wrote or read them (the
     * others there are cold units the rotation passed over this epoch),
     * that no access reached since and that are not parked already. */
    unsigned seen = hs_seen_bits(unit);
    if (!(seen & (HS_SEEN_WRITTEN | HS_SEEN_READ)) || hs_set_bits(&hs_touched_set, unit) ||
        hs_slot_of(unit) != SIZE_MAX)
        return -EAGAIN;
    /* A read unit protected to see whether it is written would have been
     * parked at the start without a budget (hs_park_worth): none here. */
    bool budgeted = seen & HS_SEEN_WRITTEN;
    if (budgeted && (hs_unwritten_parked >= hs_cold_budget || hs_unwritten_ns >= hs_cold_ns_max))
        return -ENOSPC;
    uint64_t t0 = hs_os_now_ns();
    int err = hs_park_as(unit, true); /* protected, and no write came to lift it */
    if (budgeted)
        hs_unwritten_ns += hs_os_now_ns() - t0;
    if (!err) {
        hs_unwritten_parked += budgeted;
        hs_count(HS_CTR_SAMPLE_PARKED_UNWRITTEN, 1);
    }
    return err;
}

/* Park armed slot i's unit again (it is registered for it already; the
 * move takes a protected THP and clears the bit).  0, or -errno with the
 * unit released (or kept armed: hs_put_back). */
static int hs_repark(size_t i)
{
    uintptr_t unit = hs_slot_unit[i], slot = hs_slot_addr(i);
    size_t moved = 0;
    uint64_t t0 = hs_os_now_ns();
    int err = hs_os_uffd_move(hs_uffd, slot, unit, HS_UNIT, true, &moved);
    if (err) {
        hs_count(HS_CTR_SAMPLE_ERRORS, 1);
        if (moved || hs_os_resident_pages((void *)slot, HS_UNIT) != 0) { /* back, and registered as its region */
            if (!hs_unpark(unit, slot, moved))
                hs_slot_table[i] = false; /* never map anew over data still in the slot */
            hs_slot_free(i);
        } else {
            hs_put_back(i); /* released, or kept armed if it cannot be (hs_put_back) */
        }
    } else {
        hs_slot_home[i] = false;
        hs_count(HS_CTR_SAMPLE_PARKED, 1);
    }
    hs_count(HS_CTR_SAMPLE_NS, hs_os_now_ns() - t0);
    return err;
}

size_t hs_park_resample(void)
{
    if (!hs_park_running() || !hs_naccessed || !hs_vmguard_try_exclusive())
        return 0;
    size_t parked = 0;
    for (size_t i = 0; i < hs_naccessed; i++) {
        size_t slot = hs_slot_of(hs_accessed[i]);
        /* One sample from its settled accessor's node: no more this epoch
         * (asked once, at the first tick after it). */
        if (hs_accessed_samples[i] == 1 && hs_enough_fn &&
            hs_enough_fn(hs_enough_ctx, hs_accessed[i], hs_accessed_tid[i])) {
            hs_accessed_samples[i] = HS_SAMPLES;
            hs_accessed_once[i] = true;
            hs_count(HS_CTR_SAMPLE_ONCE, 1);
        }
        bool more = hs_accessed_samples[i] < HS_SAMPLES;
        if (slot != SIZE_MAX && hs_slot_home[slot]) {
            /* Armed since its read: parked again for another sample (a
             * failed move releases it), or released. */
            if (!more) {
                hs_put_back(slot);
            } else if (hs_repark(slot) == 0) {
                hs_slot_again[slot] = true;
                parked++;
            }
            continue;
        }
        if (!more || slot != SIZE_MAX)
            continue;
        if (hs_park_as(hs_accessed[i], false) == 0) { /* put back on its access: unprotected */
            hs_slot_again[hs_slot_of(hs_accessed[i])] = true;
            parked++;
        }
    }
    hs_vmguard_release();
    return parked;
}

int hs_park_fault(uintptr_t addr, bool write, int tid, uintptr_t *unit)
{
    uintptr_t want = addr & ~(uintptr_t)(HS_UNIT - 1), page = addr & ~(uintptr_t)(HS_OS_PAGE_SIZE - 1);
    *unit = want;
    if (!hs_vmguard_try_settle())
        return -EAGAIN;
    uint64_t t0 = hs_os_now_ns();
    size_t i = hs_slot_of(want);
    /* Armed (back after a read): another thread's fault read after the
     * first one's, or a hole the program made: released, and served as a
     * unit put back a moment ago. */
    if (i != SIZE_MAX && hs_slot_home[i]) {
        hs_put_back(i);
        i = SIZE_MAX;
    }
    bool found = i != SIZE_MAX;
    /* A read: armed the first time this epoch, so that the store of an
     * update shows its writer (the next samples, parked at the ticks, need
     * not: the unit is known written by then, or read only). */
    bool arm = !write && hs_accessed_of(want) == SIZE_MAX && !hs_set_bits(&hs_unarmed_set, want);
    if (found && (arm ? hs_arm(i) : hs_put_back(i))) {
        hs_count(HS_CTR_SAMPLE_ACCESSED, 1);
        if (!write) /* a written unit is write-protected next epoch: no need */
            hs_note_accessed(want, tid);
    }
    if (found)
        hs_count(HS_CTR_SAMPLE_NS, hs_os_now_ns() - t0);
    /* Another thread that faulted on the unit before it came back (its
     * message read after the first one's) accessed it too: a sample as
     * well.  Two threads reading a unit at once show both nodes. */
    bool also = !found && hs_accessed_of(want) != SIZE_MAX;
    hs_vmguard_release();
    /* Put back a moment ago by someone else, or never ours: the page is
     * there or its range is no longer MISSING-registered; wake the thread
     * so that it retries. */
    if (!found)
        hs_os_wpsync_wake(hs_uffd, page, HS_OS_PAGE_SIZE);
    return found || also;
}

uintptr_t hs_park_locate(uintptr_t addr)
{
    void *page = (void *)addr, *at;
    hs_park_locate_pages(&page, &at, 1);
    return (uintptr_t)at;
}

/* Shell sort by key, in place: libc's qsort may allocate, and an
 * allocation can touch a parked unit of the heap, whose fault the fault
 * thread cannot serve while this thread holds the guard. */
static void hs_sort(hs_keyed_t *a, size_t n)
{
    static const size_t gaps[] = {1750, 701, 301, 132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++)
        for (size_t i = gaps[g]; i < n; i++) {
            hs_keyed_t v = a[i];
            size_t j = i;
            for (; j >= gaps[g] && a[j - gaps[g]].key > v.key; j -= gaps[g])
                a[j] = a[j - gaps[g]];
            a[j] = v;
        }
}

/* The slots of idle units at an epoch's end, by the epoch they were parked in. */
static hs_keyed_t hs_keep[HS_PARK_SLOTS_MAX];
#define HS_KEEP_PREFERRED (1ULL << 63) /* in hs_keep's key: sorts last */

void hs_park_locate_pages(void *const *pages, void **out, size_t n)
{
    if (!hs_park_running() || !__atomic_load_n(&hs_parked, __ATOMIC_ACQUIRE)) {
        memcpy(out, pages, n * sizeof *pages);
        return;
    }
    hs_vmguard_token_t guard = hs_vmguard_shared();
    for (size_t k = 0; k < n; k++) {
        uintptr_t addr = (uintptr_t)pages[k], unit = addr & ~(uintptr_t)(HS_UNIT - 1);
        size_t slot = hs_slot_of(unit);
        out[k] = slot != SIZE_MAX && !hs_slot_home[slot] ? (void *)(hs_slot_addr(slot) + (addr - unit)) : pages[k];
    }
    hs_vmguard_leave(guard);
}

size_t hs_park_end_epoch(void)
{
    /* The faults drained after this fill the set again. */
    hs_set_clear(&hs_seen_set);
    hs_epochs_seen++;
    if (hs_epochs_seen % 64 == 0)
        hs_set_clear(&hs_shared_set);
    hs_log(HS_LOG_DEBUG, "sampler: %zu units neither read nor written last epoch, %zu of them parked (one in %zu) in "
           "%llu ms; %zu units read last epoch", hs_cold_seen, hs_cold_parked, hs_cold_stride,
           (unsigned long long)(hs_cold_ns / 1000000), hs_naccessed);
    /* Cut short: on from there; else round again from the start, in the
     * classes of the stride when the units exceed the budget (the part of
     * it the units not preferred may take). */
    size_t budget = hs_pref_seen ? hs_others_budget() : hs_cold_budget;
    hs_cold_from = hs_cold_stop;
    hs_cold_stride = hs_cold_stop ? 1 : (hs_cold_seen - hs_pref_seen) / budget + 1;
    hs_cold_stop = 0;
    hs_cold_seen = hs_cold_parked = hs_others_parked = 0;
    hs_others_ns = 0;
    hs_pref_last = hs_pref_seen;
    hs_pref_seen = 0;
    hs_cold_ns = 0;
    hs_unwritten_parked = 0;
    hs_unwritten_ns = 0;
    if (!hs_park_running())
        return 0;
    hs_vmguard_exclusive();
    uint64_t t0 = hs_os_now_ns();
    hs_nidle = 0;
    size_t nkeep = 0;
    for (size_t i = 0; i < hs_high; i++) {
        uintptr_t unit = hs_slot_unit[i];
        if (!unit)
            continue;
        /* Parked again at a tick and not accessed since: accessed earlier
         * in the epoch, not idle; back it goes.  Armed: released. */
        if (hs_slot_again[i] || hs_slot_home[i]) {
            if (hs_put_back(i))
                hs_seen_add(unit, HS_SEEN_PUT_BACK);
            continue;
        }
        hs_idle_units[hs_nidle++] = unit;
        /* The rotation's preferred units (tiering: those on a slow node,
         * whose first read must be seen) sort after every other. */
        bool preferred = hs_prefer_fn && hs_prefer_fn(hs_prefer_ctx, unit);
        hs_keep[nkeep++] = (hs_keyed_t){hs_slot_since[i] | (preferred ? HS_KEEP_PREFERRED : 0), i};
    }
    /* Idle: kept parked; beyond the most kept, the units not preferred go
     * back first, the ones parked longest first among them. */
    size_t keep_max = hs_lost ? 0 : hs_keep_max; /* lost: moves fail, nothing waits parked */
    if (nkeep > keep_max) {
        hs_sort(hs_keep, nkeep);
        for (size_t k = 0; k < nkeep - keep_max; k++) {
            uintptr_t unit = hs_slot_unit[hs_keep[k].slot];
            if (hs_put_back(hs_keep[k].slot))
                hs_seen_add(unit, HS_SEEN_PUT_BACK);
        }
    }
    size_t idle = hs_nidle;
    hs_count(HS_CTR_SAMPLE_KEPT, nkeep < keep_max ? nkeep : keep_max);
    if (hs_unarmed_set.n) /* empty unless hs_park_enough found settled units */
        hs_set_clear(&hs_unarmed_set);
    for (size_t i = 0; i < hs_naccessed; i++) {
        if (hs_accessed_once[i] && hs_turn(hs_accessed[i]) % 4 != 0)
            hs_set_add(&hs_unarmed_set, hs_accessed[i], HS_UNARMED);
    }
    hs_naccessed = 0;
    hs_high = 0;
    for (size_t i = 0; i < hs_nslots; i++)
        if (hs_slot_unit[i])
            hs_high = i + 1;
    hs_count(HS_CTR_SAMPLE_NS, hs_os_now_ns() - t0);
    hs_vmguard_release();
    hs_count(HS_CTR_SAMPLE_IDLE, idle);
    return idle;
}

void hs_park_rehuge(void)
{
    if (!hs_nrehuge || !hs_vmguard_try_exclusive())
        return;
    /* MADV_COLLAPSE refuses a range registered with a userfaultfd that
     * holds a zero page (a split maps the zero-filled pages of a huge page
     * to it) or a write-protected page: the unit is unregistered for the
     * collapse and registered again as its region, which lifts its write
     * protection for the rest of the epoch (a write then goes unseen; the
     * next epoch protects it again).  A few per call: a collapse copies
     * 2 MiB, and the program's calls on memory wait meanwhile. */
    uint64_t t0 = hs_os_now_ns();
    size_t kept = 0, done = 0;
    for (size_t k = 0; k < hs_nrehuge; k++) {
        uintptr_t unit = hs_rehuge[k].unit;
        bool again = true;
        if (done < 8 && hs_slot_of(unit) == SIZE_MAX) { /* else later; parked: not now */
            if (hs_pagemap >= 0 && hs_os_range_huge(hs_pagemap, unit, HS_UNIT) == 1)
                continue; /* huge again already: the program purged and refilled it, or khugepaged */
            done++;
            if (hs_os_wpsync_unregister(hs_uffd, unit, HS_UNIT) != 0)
                continue; /* not ours any more: the program unmapped it */
            int err = hs_os_collapse((void *)unit, HS_UNIT);
            if (hs_os_wpsync_register(hs_uffd, unit, HS_UNIT) != 0)
                hs_count(HS_CTR_SAMPLE_ERRORS, 1);
            hs_log(HS_LOG_DEBUG, "sampler: unit %#lx on base pages after its put-back, made huge again: %s (errno %d)",
                   (unsigned long)unit, err ? "no" : "yes", -err);
            if (!err)
                hs_count(HS_CTR_SAMPLE_REHUGED, 1);
            /* No huge page free now (ENOMEM), pages busy (EAGAIN): again
             * at the next tick or epoch's end, a few times. */
            again = err && ++hs_rehuge[k].tries < HS_REHUGE_TRIES;
            if (err && !again)
                hs_count(HS_CTR_SAMPLE_LEFT_SPLIT, 1);
        }
        if (again)
            hs_rehuge[kept++] = hs_rehuge[k];
    }
    hs_nrehuge = kept;
    hs_count(HS_CTR_SAMPLE_NS, hs_os_now_ns() - t0);
    hs_vmguard_release();
}

int hs_park_mend(uintptr_t unit)
{
    if (!hs_vmguard_try_exclusive())
        return -EBUSY;
    bool parked = hs_slot_of(unit) != SIZE_MAX;
    if (!parked)
        hs_rehuge_add(unit);
    hs_vmguard_release();
    if (parked)
        return -EAGAIN;
    hs_park_rehuge();
    return hs_pagemap >= 0 && hs_os_range_huge(hs_pagemap, unit, HS_UNIT) == 1 ? 1 : -EAGAIN;
}

void hs_park_idle(void (*fn)(void *arg, uintptr_t unit), void *arg)
{
    for (size_t i = 0; i < hs_nidle; i++)
        fn(arg, hs_idle_units[i]);
    hs_nidle = 0;
}

int hs_park_open(int uffd, int pagemap, char *why, size_t cap)
{
    size_t slots = hs_want_slots;
    if (!hs_park_available(why, cap)) {
        snprintf(hs_why, sizeof hs_why, "%s", why);
        return -EOPNOTSUPP;
    }
    if (slots > HS_PARK_SLOTS_MAX)
        slots = HS_PARK_SLOTS_MAX;
    void *mem;
    bool advised;
    int err = hs_os_map_kind(HS_OS_KIND_THP, slots * HS_UNIT, HS_UNIT, HS_OS_PROT_READ | HS_OS_PROT_WRITE, true,
                             false, &mem, &advised);
    if (err) {
        snprintf(why, cap, "cannot map the sampler's staging range (errno %d)", -err);
        snprintf(hs_why, sizeof hs_why, "%s", why);
        return err;
    }
    /* A forked child must not inherit staging (nothing is parked at a fork). */
    hs_os_dontfork(mem, slots * HS_UNIT, true);
    err = hs_os_wpsync_register_missing(uffd, (uintptr_t)mem, slots * HS_UNIT);
    if (err) {
        snprintf(why, cap, "cannot register the staging range (errno %d)", -err);
        snprintf(hs_why, sizeof hs_why, "%s", why);
        hs_os_munmap(mem, slots * HS_UNIT);
        return err;
    }
    hs_uffd = uffd;
    hs_pagemap = pagemap;
    hs_nrehuge = 0;
    hs_lost = false;
    hs_stage = (uintptr_t)mem;
    hs_nslots = slots;
    hs_parked = hs_high = hs_nindex = 0;
    memset(hs_slot_unit, 0, sizeof hs_slot_unit);
    memset(hs_slot_home, 0, sizeof hs_slot_home);
    memset(hs_slot_table, 0, sizeof hs_slot_table);
    __atomic_store_n(&hs_running, true, __ATOMIC_RELEASE);
    hs_vmguard_install(&hs_hooks);
    snprintf(why, cap, "UFFDIO_MOVE, %zu staging slots", slots);
    snprintf(hs_why, sizeof hs_why, "%s", why);
    return 0;
}

void hs_park_close(const char *failure)
{
    if (!hs_park_running())
        return;
    if (failure)
        snprintf(hs_why, sizeof hs_why, "stopped: %s", failure);
    hs_park_end_epoch();
    /* And the idle units it kept parked. */
    hs_vmguard_exclusive();
    for (size_t i = 0; i < hs_high; i++)
        if (hs_slot_unit[i])
            hs_put_back(i);
    hs_vmguard_release();
    hs_vmguard_install(NULL);
    __atomic_store_n(&hs_running, false, __ATOMIC_RELEASE);
    hs_os_munmap((void *)hs_stage, hs_nslots * HS_UNIT);
    hs_stage = 0;
    hs_uffd = -1;
    hs_pagemap = -1;
    hs_nrehuge = 0;
}

void hs_park_forget_after_fork(void)
{
    /* Staging is MADV_DONTFORK: the child has none; prefork put every unit
     * back, so the child's memory is whole. */
    __atomic_store_n(&hs_running, false, __ATOMIC_RELEASE);
    hs_stage = 0;
    hs_uffd = -1;
    hs_pagemap = -1;
    hs_parked = hs_high = hs_nindex = hs_nrehuge = 0;
}

static void hs_park_report(void *ctx, hs_report_t *report)
{
    (void)ctx;
    /* Closed at exit before the report is written: "on" if it ran. */
    bool ran = hs_park_running() || !strncmp(hs_why, "UFFDIO_MOVE", 11) || !strncmp(hs_why, "stopped", 7);
    hs_report_add(report, (hs_report_field_t){"sampling.enabled", HS_FIELD_STRING, 0, ran ? "on" : "off"});
    hs_report_add(report, (hs_report_field_t){"sampling.why", HS_FIELD_STRING, 0, hs_why});
}

const hs_report_section_t hs_park_report_section = {.prefix = "sampling", .add = hs_park_report, .ctx = NULL};
