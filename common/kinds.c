/* kinds.c: the page kinds' names (hs_kinds.h). */
#include <string.h>

#include "hs_kinds.h"

static const char *const hs_kind_names[HS_OS_KIND_COUNT] = {
    [HS_OS_KIND_HUGETLB_1G] = "hugetlb_1g",
    [HS_OS_KIND_HUGETLB_2M] = "hugetlb_2m",
    [HS_OS_KIND_THP] = "thp",
    [HS_OS_KIND_BASE] = "base",
};

const char *hs_kind_name(hs_os_kind_t kind)
{
    return (unsigned)kind < HS_OS_KIND_COUNT ? hs_kind_names[kind] : "?";
}

bool hs_kind_of_name(const char *name, hs_os_kind_t *out)
{
    for (int k = 0; k < HS_OS_KIND_COUNT; k++)
        if (!strcmp(name, hs_kind_names[k])) {
            *out = (hs_os_kind_t)k;
            return true;
        }
    return false;
}
