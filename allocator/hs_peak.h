/* hs_peak.h: the most huge-page memory the kernel gave the process.  What is
 * left at exit says little about a program that frees its big arrays before
 * it ends, so smaps_rollup is read just before hugeshim gives huge-page
 * memory back (a purge of a THP region, the program's munmap of a region
 * hugeshim backs) and at exit, and the largest values are kept in the
 * kernel.*_peak_bytes counters.  Reads are at most HS_PEAK_EVERY_NS apart, so
 * a program that frees all the time pays for at most twenty a second. */
#ifndef HS_PEAK_H
#define HS_PEAK_H

#include "../os/hs_os.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HS_PEAK_EVERY_NS 50000000ULL

/* Read smaps_rollup now unless it was read less than HS_PEAK_EVERY_NS ago.
 * Any thread, inside jemalloc's hooks too: raw calls, no malloc, errno kept. */
void hs_peak_sample(void);
/* Keep the larger of the peaks and what rollup says. */
void hs_peak_note(const hs_os_rollup_t *rollup);

#ifdef __cplusplus
}
#endif
#endif
