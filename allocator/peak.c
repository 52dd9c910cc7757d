/* peak.c: the most huge-page memory the kernel gave the process (hs_peak.h). */
#include <errno.h>

#include "../common/hs_counters.h"
#include "hs_peak.h"

static uint64_t hs_peak_last_ns;

static void hs_peak_max(hs_counter_id_t id, uint64_t value)
{
    uint64_t seen = hs_counter_get(id);
    while (value > seen && !__atomic_compare_exchange_n(&hs_counters[id], &seen, value, false, __ATOMIC_RELAXED,
                                                        __ATOMIC_RELAXED))
        ;
}

void hs_peak_note(const hs_os_rollup_t *rollup)
{
    hs_peak_max(HS_CTR_KERNEL_ANON_HUGE_PEAK_BYTES, rollup->anon_huge_bytes);
    hs_peak_max(HS_CTR_KERNEL_HUGETLB_PEAK_BYTES, rollup->hugetlb_bytes);
}

void hs_peak_sample(void)
{
    uint64_t now = hs_os_now_coarse_ns();
    uint64_t last = __atomic_load_n(&hs_peak_last_ns, __ATOMIC_RELAXED);
    if (last && now - last < HS_PEAK_EVERY_NS)
        return;
    /* One thread reads; the others go on. */
    if (!__atomic_compare_exchange_n(&hs_peak_last_ns, &last, now, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    int saved = errno;
    hs_os_rollup_t rollup;
    if (hs_os_smaps_rollup(&rollup) == 0)
        hs_peak_note(&rollup);
    errno = saved;
}
