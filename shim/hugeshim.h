/* hugeshim.h: the functions libhugeshim.so exports besides the malloc API
 * and the memory calls it interposes (libhugeshim(3)).  The library is
 * preloaded, not linked: look them up with dlsym(RTLD_DEFAULT, name) so
 * that the program also runs without it. */
#ifndef HUGESHIM_H
#define HUGESHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, as "0.1.0". */
const char *hugeshim_version(void);
/* Tracking epochs ended so far (0 while tracking is off). */
unsigned long hugeshim_epochs(void);
/* The last epoch's hot ranges as (start, end) pairs, in address order, into
 * room for max pairs; returns how many there are (may exceed max). */
size_t hugeshim_hot_ranges(uintptr_t *pairs, size_t max);
/* The NUMA node holding the page at addr, or -errno (move_pages status). */
int hugeshim_node_of(const void *addr);

#ifdef __cplusplus
}
#endif
#endif
