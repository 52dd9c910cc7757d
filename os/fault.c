/* fault.c: fault injection.  Named kernel calls of this layer can be made to
 * fail with a chosen errno, after a number of calls succeeded, for a number
 * of calls or for good: how tests (unit tests directly, programs under the
 * shim through HUGESHIM_FAULTS) check that hugeshim degrades as it promises
 * when the kernel says no in the middle of a run.  Off, each call point costs
 * one load of a flag. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_os.h"

int hs_os_faults_on;

typedef struct hs_os_fault_state {
    uint64_t calls;    /* calls seen since armed */
    uint64_t after;    /* calls that succeed first */
    uint64_t times;    /* calls that fail then; 0: every later call */
    uint64_t injected; /* failures injected */
    int err;           /* positive errno; 0: not armed */
} hs_os_fault_state_t;

static hs_os_fault_state_t hs_faults[HS_OS_FAULT_COUNT];

static const struct {
    const char *name;
    int err;
    const char *what;
} hs_fault_points[HS_OS_FAULT_COUNT] = {
    [HS_OS_FAULT_MAP_HUGETLB] = {"map_hugetlb", ENOMEM, "hugetlb mappings (as an emptied pool)"},
    [HS_OS_FAULT_MAP_THP] = {"map_thp", ENOMEM, "aligned THP mappings"},
    [HS_OS_FAULT_MAP_BASE] = {"map_base", ENOMEM, "base-page mappings of the backing"},
    [HS_OS_FAULT_SCAN] = {"scan", EIO, "PAGEMAP_SCAN and soft-dirty pagemap reads"},
    [HS_OS_FAULT_UFFD] = {"uffd", EIO, "userfaultfd register, write-protect and fault reads"},
    [HS_OS_FAULT_MOVE_PAGES] = {"move_pages", EIO, "move_pages queries and moves, as a whole"},
    [HS_OS_FAULT_REPORT] = {"report", ENOSPC, "writing the report file"},
};

static const struct {
    const char *name;
    int err;
} hs_errnos[] = {{"ENOMEM", ENOMEM}, {"EIO", EIO},       {"EINVAL", EINVAL}, {"EFAULT", EFAULT},
                 {"EBUSY", EBUSY},   {"ENOSPC", ENOSPC}, {"EACCES", EACCES}, {"EPERM", EPERM},
                 {"ENOENT", ENOENT}, {"EAGAIN", EAGAIN}, {"EBADF", EBADF},   {"ENOTTY", ENOTTY}};

const char *hs_os_fault_name(hs_os_fault_t f)
{
    return (unsigned)f < HS_OS_FAULT_COUNT ? hs_fault_points[f].name : "?";
}

void hs_os_fault_set(hs_os_fault_t f, uint64_t after, uint64_t times, int err)
{
    if ((unsigned)f >= HS_OS_FAULT_COUNT)
        return;
    hs_os_fault_state_t *s = &hs_faults[f];
    __atomic_store_n(&s->err, 0, __ATOMIC_RELEASE);
    s->calls = 0;
    s->after = after;
    s->times = times;
    s->injected = 0;
    if (err > 0)
        __atomic_store_n(&s->err, err, __ATOMIC_RELEASE);
    bool any = false;
    for (int i = 0; i < HS_OS_FAULT_COUNT; i++)
        any |= __atomic_load_n(&hs_faults[i].err, __ATOMIC_ACQUIRE) != 0;
    __atomic_store_n(&hs_os_faults_on, any, __ATOMIC_RELEASE);
}

void hs_os_fault_clear(void)
{
    for (int i = 0; i < HS_OS_FAULT_COUNT; i++)
        hs_os_fault_set((hs_os_fault_t)i, 0, 0, 0);
}

int hs_os_fault_hit(hs_os_fault_t f)
{
    hs_os_fault_state_t *s = &hs_faults[f];
    int err = __atomic_load_n(&s->err, __ATOMIC_ACQUIRE);
    if (!err)
        return 0;
    uint64_t n = __atomic_fetch_add(&s->calls, 1, __ATOMIC_RELAXED);
    if (n < s->after || (s->times && n - s->after >= s->times))
        return 0;
    __atomic_fetch_add(&s->injected, 1, __ATOMIC_RELAXED);
    return -err;
}

uint64_t hs_os_fault_injected(hs_os_fault_t f)
{
    return (unsigned)f < HS_OS_FAULT_COUNT ? __atomic_load_n(&hs_faults[f].injected, __ATOMIC_RELAXED) : 0;
}

/* Reads an unsigned decimal at *p; false if there is none or it overflows. */
static bool hs_fault_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

static size_t hs_fault_word(const char *s)
{
    size_t n = 0;
    while (s[n] && s[n] != ':' && s[n] != ',')
        n++;
    return n;
}

int hs_os_fault_parse(const char *spec, char *why, size_t cap)
{
    hs_os_fault_t point[HS_OS_FAULT_COUNT];
    uint64_t after[HS_OS_FAULT_COUNT], times[HS_OS_FAULT_COUNT];
    int err[HS_OS_FAULT_COUNT];
    int n = 0;
    const char *p = spec;
    while (*p) {
        size_t len = hs_fault_word(p);
        int f = 0;
        while (f < HS_OS_FAULT_COUNT &&
               !(strlen(hs_fault_points[f].name) == len && !strncmp(p, hs_fault_points[f].name, len)))
            f++;
        if (f == HS_OS_FAULT_COUNT || n == HS_OS_FAULT_COUNT) {
            snprintf(why, cap, "'%.*s' is not a call that can fail here: accepted are map_hugetlb, map_thp, "
                     "map_base, scan, uffd, move_pages, report (each at most once)", (int)len, p);
            return -EINVAL;
        }
        point[n] = (hs_os_fault_t)f;
        after[n] = times[n] = 0;
        err[n] = hs_fault_points[f].err;
        p += len;
        /* name[:after[:times[:ERRNO]]] */
        for (int field = 0; field < 3 && *p == ':'; field++) {
            p++;
            bool ok;
            if (field < 2) {
                ok = hs_fault_number(&p, field ? &times[n] : &after[n]);
            } else {
                size_t elen = hs_fault_word(p);
                size_t e = 0;
                while (e < sizeof hs_errnos / sizeof hs_errnos[0] &&
                       !(strlen(hs_errnos[e].name) == elen && !strncmp(p, hs_errnos[e].name, elen)))
                    e++;
                ok = e < sizeof hs_errnos / sizeof hs_errnos[0];
                if (ok)
                    err[n] = hs_errnos[e].err;
                p += elen;
            }
            if (!ok) {
                p = NULL;
                break;
            }
        }
        if (!p || (*p && *p != ',')) {
            snprintf(why, cap, "'%s': each entry is name[:after[:times[:ERRNO]]] (numbers; ERRNO one of ENOMEM, "
                     "EIO, EINVAL, EFAULT, EBUSY, ENOSPC, EACCES, EPERM, ENOENT, EAGAIN, EBADF, ENOTTY)", spec);
            return -EINVAL;
        }
        for (int i = 0; i < n; i++)
            if (point[i] == point[n]) {
                snprintf(why, cap, "'%s' names %s twice", spec, hs_fault_points[f].name);
                return -EINVAL;
            }
        n++;
        if (*p == ',')
            p++;
    }
    for (int i = 0; i < n; i++)
        hs_os_fault_set(point[i], after[i], times[i], err[i]);
    return n;
}
