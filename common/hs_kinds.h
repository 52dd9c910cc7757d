/* hs_kinds.h: one vocabulary of page kinds.  The names HUGESHIM_BACKING
 * takes, the report's keys, the logs, `hugeshim doctor` and the heat
 * picture's labels all come from here. */
#ifndef HS_KINDS_H
#define HS_KINDS_H

#include <stdbool.h>

#include "../os/hs_os.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "hugetlb_1g", "hugetlb_2m", "thp", "base"; "?" for no kind. */
const char *hs_kind_name(hs_os_kind_t kind);
/* The kind a name means, false for a name it does not know.  By name,
 * never by position, so reordering a list cannot change what a name means. */
bool hs_kind_of_name(const char *name, hs_os_kind_t *out);

#ifdef __cplusplus
}
#endif
#endif
