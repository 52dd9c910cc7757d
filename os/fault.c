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

/* A name and an errno: a call point with its default errno, or an errno's
 * name.  Both tables are searched and listed by the same two helpers. */
typedef struct hs_fault_name {
    const char *name;
    int err;
} hs_fault_name_t;

static const hs_fault_name_t hs_fault_points[HS_OS_FAULT_COUNT] = {
    [HS_OS_FAULT_MAP_HUGETLB] = {"map_hugetlb", ENOMEM}, [HS_OS_FAULT_MAP_THP] = {"map_thp", ENOMEM},
    [HS_OS_FAULT_MAP_BASE] = {"map_base", ENOMEM},       [HS_OS_FAULT_SCAN] = {"scan", EIO},
    [HS_OS_FAULT_UFFD] = {"uffd", EIO},                  [HS_OS_FAULT_MOVE_PAGES] = {"move_pages", EIO},
    [HS_OS_FAULT_REPORT] = {"report", ENOSPC},           [HS_OS_FAULT_PARK] = {"park", EIO},
    [HS_OS_FAULT_PARK_SPLIT] = {"park_split", EIO},     [HS_OS_FAULT_NODE_ROOM] = {"node_room", EIO},
};

static const hs_fault_name_t hs_errnos[] = {
    {"ENOMEM", ENOMEM}, {"EIO", EIO},       {"EINVAL", EINVAL}, {"EFAULT", EFAULT}, {"EBUSY", EBUSY}, {"ENOSPC", ENOSPC},
    {"EACCES", EACCES}, {"EPERM", EPERM}, {"ENOENT", ENOENT}, {"EAGAIN", EAGAIN}, {"EBADF", EBADF}, {"ENOTTY", ENOTTY}};
#define HS_ERRNO_NAMES (sizeof hs_errnos / sizeof hs_errnos[0])

/* The entry whose name is the len bytes at word, or count. */
static size_t hs_fault_find(const hs_fault_name_t *table, size_t count, const char *word, size_t len)
{
    size_t i = 0;
    while (i < count && !(strlen(table[i].name) == len && !strncmp(word, table[i].name, len)))
        i++;
    return i;
}

/* The table's names, comma-separated, into buf. */
static const char *hs_fault_list(const hs_fault_name_t *table, size_t count, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", table[i].name);
    return buf;
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
    char names[160];
    int n = 0;
    const char *p = spec;
    while (*p) {
        size_t len = hs_fault_word(p);
        size_t f = hs_fault_find(hs_fault_points, HS_OS_FAULT_COUNT, p, len);
        if (f == HS_OS_FAULT_COUNT || n == HS_OS_FAULT_COUNT) {
            snprintf(why, cap, "'%.*s' is not a call that can fail here: accepted are %s (each at most once)",
                     (int)len, p, hs_fault_list(hs_fault_points, HS_OS_FAULT_COUNT, names, sizeof names));
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
                size_t e = hs_fault_find(hs_errnos, HS_ERRNO_NAMES, p, elen);
                ok = e < HS_ERRNO_NAMES;
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
            snprintf(why, cap, "'%s': each entry is name[:after[:times[:ERRNO]]] (numbers; ERRNO one of %s)", spec,
                     hs_fault_list(hs_errnos, HS_ERRNO_NAMES, names, sizeof names));
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
