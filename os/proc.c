/* proc.c: readers of /proc and /sys, file output, time.  Raw system calls and
 * caller-owned buffers only: these run inside malloc's init and at exit. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/auxv.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hs_os.h"
#include "raw.h"

static int hs_os_open(const char *path, int flags, int mode)
{
    return (int)hs_os_syscall6(SYS_openat, AT_FDCWD, (long)path, flags | O_CLOEXEC, mode, 0, 0);
}

void hs_os_close(int fd)
{
    hs_os_syscall3(SYS_close, fd, 0, 0);
}

static bool (*hs_os_apart_runner)(hs_os_apart_fn *fn, void *arg);

void hs_os_set_apart(bool (*run)(hs_os_apart_fn *fn, void *arg))
{
    __atomic_store_n(&hs_os_apart_runner, run, __ATOMIC_RELEASE);
}

/* fn(arg) on the thread with a table of its own when there is one (it ran
 * there), else here. */
static void hs_os_apart(hs_os_apart_fn *fn, void *arg)
{
    bool (*run)(hs_os_apart_fn *, void *) = __atomic_load_n(&hs_os_apart_runner, __ATOMIC_ACQUIRE);
    if (!run || !run(fn, arg))
        fn(arg);
}

/* The arguments and result of a file call made apart. */
typedef struct hs_os_file_call {
    const char *path;
    char *buf;
    const char *text;
    size_t cap;
    void (*fn)(void *arg, const char *line);
    void *arg;
    long result;
} hs_os_file_call_t;

static ssize_t hs_os_read_file_here(const char *path, char *buf, size_t cap)
{
    int fd = hs_os_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    size_t used = 0;
    while (used + 1 < cap) {
        long n = hs_os_syscall3(SYS_read, fd, (long)(buf + used), (long)(cap - 1 - used));
        if (n == -EINTR)
            continue;
        if (n < 0) {
            hs_os_close(fd);
            return n;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    hs_os_close(fd);
    return (ssize_t)used;
}

static void hs_os_read_file_call(void *arg)
{
    hs_os_file_call_t *c = arg;
    c->result = hs_os_read_file_here(c->path, c->buf, c->cap);
}

ssize_t hs_os_read_file(const char *path, char *buf, size_t cap)
{
    if (cap == 0)
        return -EINVAL;
    hs_os_file_call_t c = {.path = path, .buf = buf, .cap = cap};
    hs_os_apart(hs_os_read_file_call, &c);
    return (ssize_t)c.result;
}

static int hs_os_each_line_here(const char *path, char *buf, size_t cap, void (*fn)(void *arg, const char *line),
                                void *arg)
{
    int fd = hs_os_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    size_t used = 0;
    bool skipping = false; /* in a line longer than the buffer: dropped */
    for (;;) {
        long n = hs_os_syscall3(SYS_read, fd, (long)(buf + used), (long)(cap - 1 - used));
        if (n == -EINTR)
            continue;
        if (n < 0) {
            hs_os_close(fd);
            return (int)n;
        }
        used += (size_t)n;
        buf[used] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            if (!skipping)
                fn(arg, line);
            skipping = false;
            line = nl + 1;
        }
        size_t rest = used - (size_t)(line - buf);
        if (n == 0) {
            if (rest && !skipping)
                fn(arg, line);
            break;
        }
        if (rest == cap - 1) {
            skipping = true; /* no end of line in a full buffer */
            rest = 0;
        }
        memmove(buf, line, rest);
        used = rest;
    }
    hs_os_close(fd);
    return 0;
}

static void hs_os_each_line_call(void *arg)
{
    hs_os_file_call_t *c = arg;
    c->result = hs_os_each_line_here(c->path, c->buf, c->cap, c->fn, c->arg);
}

int hs_os_each_line(const char *path, char *buf, size_t cap, void (*fn)(void *arg, const char *line), void *arg)
{
    if (cap < 2)
        return -EINVAL;
    hs_os_file_call_t c = {.path = path, .buf = buf, .cap = cap, .fn = fn, .arg = arg};
    hs_os_apart(hs_os_each_line_call, &c);
    return (int)c.result;
}

ssize_t hs_os_read_config(const char *path, char *buf, size_t cap)
{
    if (cap < 2)
        return -EINVAL;
    /* O_NONBLOCK: a FIFO named as a file must not block the program's start. */
    int fd = hs_os_open(path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    long err = hs_os_syscall3(SYS_fstat, fd, (long)&st, 0);
    if (err == 0 && !S_ISREG(st.st_mode))
        err = -EINVAL;
    else if (err == 0 && (uint64_t)st.st_size > cap - 2)
        err = -EFBIG;
    size_t used = 0;
    while (err == 0 && used < cap - 1) {
        long n = hs_os_syscall3(SYS_read, fd, (long)(buf + used), (long)(cap - 1 - used));
        if (n == -EINTR)
            continue;
        if (n <= 0) {
            err = n;
            break;
        }
        used += (size_t)n;
    }
    hs_os_close(fd);
    if (err == 0 && used > cap - 2)
        err = -EFBIG; /* grew while read */
    if (err < 0)
        return err;
    buf[used] = '\0';
    return (ssize_t)used;
}

/* A mountinfo path field into out, its \ooo escapes (space, tab, newline,
 * backslash) decoded; false if it does not fit. */
static bool hs_os_mount_path(const char *field, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = field[i];
        if (c == '\\' && i + 3 < len && field[i + 1] >= '0' && field[i + 1] <= '3') {
            c = (char)((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
            i += 3;
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

int hs_os_hugetlbfs_mounts(hs_os_hugetlbfs_mount_t *out, int max)
{
    static char info[64 * 1024];
    ssize_t n = hs_os_read_file("/proc/self/mountinfo", info, sizeof info);
    if (n < 0)
        return (int)n;
    int count = 0;
    for (char *line = info; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER */
        char *dash = memmem(line, len, " - hugetlbfs ", 13);
        const char *field = line;
        for (int i = 0; dash && i < 4 && field; i++) {
            field = memchr(field, ' ', (size_t)(line + len - field));
            field = field ? field + 1 : NULL;
        }
        if (dash && field) {
            const char *end = memchr(field, ' ', (size_t)(line + len - field));
            hs_os_hugetlbfs_mount_t m;
            memset(&m, 0, sizeof m);
            struct statfs st;
            if (end && hs_os_mount_path(field, (size_t)(end - field), m.path, sizeof m.path) &&
                hs_os_syscall3(SYS_statfs, (long)m.path, (long)&st, 0) == 0) {
                m.page_bytes = (uint64_t)st.f_bsize;
                m.size_bytes = (uint64_t)st.f_blocks * (uint64_t)st.f_bsize;
                m.free_bytes = (uint64_t)st.f_bfree * (uint64_t)st.f_bsize;
                m.writable = hs_os_syscall6(SYS_faccessat, AT_FDCWD, (long)m.path, W_OK | X_OK, 0, 0, 0) == 0;
                /* The superblock options: the last field (after "hugetlbfs SOURCE "). */
                const char *super = memrchr(dash, ' ', (size_t)(line + len - dash));
                if (super && super > dash + 12)
                    snprintf(m.options, sizeof m.options, "%.*s", (int)(line + len - super - 1), super + 1);
                if (count < max)
                    out[count] = m;
                count++;
            }
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return count;
}

int hs_os_exe_path(char *buf, size_t cap)
{
    long n = hs_os_syscall3(SYS_readlink, (long)"/proc/self/exe", (long)buf, (long)cap - 1);
    if (n < 0)
        return (int)n;
    buf[n] = '\0';
    return 0;
}

int hs_os_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        long n = hs_os_syscall3(SYS_write, fd, (long)buf, (long)len);
        if (n == -EINTR)
            continue;
        if (n < 0)
            return (int)n;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void hs_os_write_file_call(void *arg)
{
    hs_os_file_call_t *c = arg;
    int fd = hs_os_open(c->path, O_WRONLY, 0);
    if (fd < 0) {
        c->result = fd;
        return;
    }
    c->result = hs_os_write_all(fd, c->text, strlen(c->text));
    hs_os_close(fd);
}

int hs_os_write_file(const char *path, const char *text)
{
    hs_os_file_call_t c = {.path = path, .text = text};
    hs_os_apart(hs_os_write_file_call, &c);
    return (int)c.result;
}

/* Truncate and write an existing file in place (keeps its owner, mode and links). */
static int hs_os_write_in_place(const char *path, const char *buf, size_t len)
{
    int fd = hs_os_open(path, O_WRONLY | O_TRUNC, 0);
    if (fd < 0)
        return fd;
    int err = hs_os_write_all(fd, buf, len);
    if (!err)
        err = hs_os_result(hs_os_syscall3(SYS_fsync, fd, 0, 0));
    hs_os_close(fd);
    return err;
}

static int hs_os_write_file_atomic_here(const char *path, const char *buf, size_t len)
{
    /* An existing report is the user's file: one made read-only stays as it
     * is (-EROFS); one that a rename would hand to another owner, or that is
     * a link, is written in place; our own is replaced atomically with its
     * mode kept. */
    int injected = hs_os_fault(HS_OS_FAULT_REPORT);
    if (injected)
        return injected;
    struct stat st;
    unsigned mode = 0644;
    if (hs_os_syscall6(SYS_newfstatat, AT_FDCWD, (long)path, (long)&st, AT_SYMLINK_NOFOLLOW, 0, 0) == 0) {
        bool regular = S_ISREG(st.st_mode);
        if (regular && !(st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)))
            return -EROFS;
        if (!regular || st.st_nlink > 1 || st.st_uid != (uid_t)hs_os_syscall3(SYS_geteuid, 0, 0, 0))
            return hs_os_write_in_place(path, buf, len);
        mode = st.st_mode & 07777;
    }
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, hs_os_getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -ENAMETOOLONG;
    int fd = hs_os_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    if (mode != 0644)
        hs_os_syscall3(SYS_fchmod, fd, mode, 0);
    int err = hs_os_write_all(fd, buf, len);
    if (!err)
        err = hs_os_result(hs_os_syscall3(SYS_fsync, fd, 0, 0));
    hs_os_close(fd);
    if (!err)
        err = hs_os_result(hs_os_syscall3(SYS_rename, (long)tmp, (long)path, 0));
    if (err)
        hs_os_syscall3(SYS_unlink, (long)tmp, 0, 0);
    return err;
}

static void hs_os_write_file_atomic_call(void *arg)
{
    hs_os_file_call_t *c = arg;
    c->result = hs_os_write_file_atomic_here(c->path, c->text, c->cap);
}

int hs_os_write_file_atomic(const char *path, const char *buf, size_t len)
{
    hs_os_file_call_t c = {.path = path, .text = buf, .cap = len};
    hs_os_apart(hs_os_write_file_atomic_call, &c);
    return (int)c.result;
}

int hs_os_create_file(const char *path)
{
    int fd = hs_os_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    return fd < 0 ? fd : hs_os_fd_high(fd);
}

int hs_os_read_u64(const char *path, uint64_t *out)
{
    char buf[64];
    ssize_t n = hs_os_read_file(path, buf, sizeof buf);
    if (n < 0)
        return (int)n;
    uint64_t v = 0;
    const char *p = buf;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *out = v;
    return 0;
}

hs_os_thp_mode_t hs_os_thp_mode(void)
{
    char buf[128];
    if (hs_os_read_file("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf) < 0)
        return HS_OS_THP_UNKNOWN;
    if (strstr(buf, "[always]"))
        return HS_OS_THP_ALWAYS;
    if (strstr(buf, "[madvise]"))
        return HS_OS_THP_MADVISE;
    if (strstr(buf, "[never]"))
        return HS_OS_THP_NEVER;
    return HS_OS_THP_UNKNOWN;
}

const char *hs_os_thp_mode_name(hs_os_thp_mode_t mode)
{
    switch (mode) {
    case HS_OS_THP_ALWAYS: return "always";
    case HS_OS_THP_MADVISE: return "madvise";
    case HS_OS_THP_NEVER: return "never";
    default: return "unavailable";
    }
}

static void hs_os_hugetlb_dir(uint64_t page_kib, int node, char *buf, size_t cap)
{
    if (node < 0)
        snprintf(buf, cap, "/sys/kernel/mm/hugepages/hugepages-%llukB", (unsigned long long)page_kib);
    else
        snprintf(buf, cap, "/sys/devices/system/node/node%d/hugepages/hugepages-%llukB", node,
                 (unsigned long long)page_kib);
}

void hs_os_hugetlb_knob(uint64_t page_kib, int node, char *buf, size_t cap)
{
    char dir[160];
    hs_os_hugetlb_dir(page_kib, node, dir, sizeof dir);
    snprintf(buf, cap, "%s/nr_hugepages", dir);
}

int hs_os_hugetlb_pool(uint64_t page_kib, int node, hs_os_hugetlb_pool_t *out)
{
    char dir[160], path[224];
    memset(out, 0, sizeof *out);
    hs_os_hugetlb_dir(page_kib, node, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/nr_hugepages", dir);
    if (hs_os_read_u64(path, &out->total) < 0)
        return -ENOENT;
    out->supported = true;
    snprintf(path, sizeof path, "%s/free_hugepages", dir);
    hs_os_read_u64(path, &out->free);
    snprintf(path, sizeof path, "%s/surplus_hugepages", dir);
    hs_os_read_u64(path, &out->surplus);
    if (node < 0) {
        snprintf(path, sizeof path, "%s/resv_hugepages", dir);
        hs_os_read_u64(path, &out->reserved);
    }
    return 0;
}

/* Value in kB of a "Name:   123 kB" line, in bytes. */
static uint64_t hs_os_field_kib(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, len) == 0 && p[len] == ':') {
            const char *q = p + len + 1;
            while (*q == ' ' || *q == '\t')
                q++;
            uint64_t v = 0;
            while (*q >= '0' && *q <= '9')
                v = v * 10 + (uint64_t)(*q++ - '0');
            return v * 1024;
        }
    }
    return 0;
}

int hs_os_rss_peak(uint64_t *out)
{
    char buf[4096];
    ssize_t n = hs_os_read_file("/proc/self/status", buf, sizeof buf);
    if (n < 0)
        return (int)n;
    *out = hs_os_field_kib(buf, "VmHWM");
    return 0;
}

int hs_os_smaps_rollup(hs_os_rollup_t *out)
{
    char buf[4096];
    memset(out, 0, sizeof *out);
    ssize_t n = hs_os_read_file("/proc/self/smaps_rollup", buf, sizeof buf);
    if (n < 0)
        return (int)n;
    out->rss_bytes = hs_os_field_kib(buf, "Rss");
    out->anon_huge_bytes = hs_os_field_kib(buf, "AnonHugePages");
    out->hugetlb_bytes = hs_os_field_kib(buf, "Shared_Hugetlb") + hs_os_field_kib(buf, "Private_Hugetlb");
    return 0;
}

static uintptr_t hs_os_parse_hex(const char **pp)
{
    uintptr_t v = 0;
    const char *p = *pp;
    for (;; p++) {
        char c = *p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            break;
    }
    *pp = p;
    return v;
}

int hs_os_vma_info(uintptr_t addr, char *buf, size_t cap, hs_os_vma_info_t *out)
{
    ssize_t n = hs_os_read_file("/proc/self/smaps", buf, cap);
    if (n < 0)
        return (int)n;
    memset(out, 0, sizeof *out);
    /* VMA headers are the lines starting "start-end "; fields follow. */
    for (const char *line = buf; line && *line;) {
        const char *p = line;
        uintptr_t start = hs_os_parse_hex(&p);
        if (*p == '-' && p > line) {
            p++;
            uintptr_t end = hs_os_parse_hex(&p);
            if (*p == ' ' && start <= addr && addr < end) {
                const char *next = strchr(line, '\n');
                const char *body = next ? next + 1 : "";
                /* The fields end at the next header: find it. */
                const char *stop = body;
                while (stop && *stop) {
                    const char *q = stop;
                    hs_os_parse_hex(&q);
                    if (q > stop && *q == '-')
                        break;
                    stop = strchr(stop, '\n');
                    stop = stop ? stop + 1 : NULL;
                }
                char saved = 0;
                if (stop && *stop) {
                    saved = *stop;
                    ((char *)stop)[0] = '\0';
                }
                out->start = start;
                out->end = end;
                out->rss_bytes = hs_os_field_kib(body, "Rss");
                out->anon_huge_bytes = hs_os_field_kib(body, "AnonHugePages");
                out->kernel_page_bytes = hs_os_field_kib(body, "KernelPageSize");
                out->hugetlb_bytes = hs_os_field_kib(body, "Private_Hugetlb") + hs_os_field_kib(body, "Shared_Hugetlb");
                if (saved)
                    ((char *)stop)[0] = saved;
                return 0;
            }
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return (size_t)n + 1 >= cap ? -ENOBUFS : -ENOENT;
}

/* Parse a kernel cpulist/nodelist like "0-1,4" into a 64-bit mask. */
static uint64_t hs_os_parse_list(const char *p)
{
    uint64_t mask = 0;
    while (*p >= '0' && *p <= '9') {
        unsigned a = 0, b;
        while (*p >= '0' && *p <= '9')
            a = a * 10 + (unsigned)(*p++ - '0');
        b = a;
        if (*p == '-') {
            p++;
            b = 0;
            while (*p >= '0' && *p <= '9')
                b = b * 10 + (unsigned)(*p++ - '0');
        }
        for (unsigned i = a; i <= b && i < 64; i++)
            mask |= 1ULL << i;
        if (*p == ',')
            p++;
    }
    return mask;
}

/* Each entry of a folder but "." and "..", its name to fn (getdents64, no
 * allocation).  0 or -errno of the open. */
static int hs_os_each_entry_here(const char *dir_path, void (*fn)(void *arg, const char *name), void *arg)
{
    int dir = (int)hs_os_syscall6(SYS_openat, AT_FDCWD, (long)dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
    if (dir < 0)
        return dir;
    char ents[4096];
    for (;;) {
        long n = hs_os_syscall3(SYS_getdents64, dir, (long)ents, sizeof ents);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            const char *rec = ents + off;
            unsigned short reclen;
            memcpy(&reclen, rec + 16, sizeof reclen);
            const char *name = rec + 19;
            off += reclen;
            if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
                fn(arg, name);
        }
    }
    hs_os_close(dir);
    return 0;
}

static void hs_os_each_entry_call(void *arg)
{
    hs_os_file_call_t *c = arg;
    c->result = hs_os_each_entry_here(c->path, c->fn, c->arg);
}

static int hs_os_each_entry(const char *dir_path, void (*fn)(void *arg, const char *name), void *arg)
{
    hs_os_file_call_t c = {.path = dir_path, .fn = fn, .arg = arg};
    hs_os_apart(hs_os_each_entry_call, &c);
    return (int)c.result;
}

#define HS_OS_TIERS_DIR "/sys/devices/virtual/memory_tiering"

typedef struct hs_os_tiers_arg {
    int16_t *tier;
    int count;
} hs_os_tiers_arg_t;

static void hs_os_tier_entry(void *arg, const char *name)
{
    hs_os_tiers_arg_t *t = arg;
    if (strncmp(name, "memory_tier", 11) != 0 || name[11] < '0' || name[11] > '9')
        return;
    int id = 0;
    for (const char *c = name + 11; *c >= '0' && *c <= '9' && id < 100000; c++)
        id = id * 10 + (*c - '0');
    char path[160], list[256];
    snprintf(path, sizeof path, "%s/%s/nodelist", HS_OS_TIERS_DIR, name);
    if (hs_os_read_file(path, list, sizeof list) <= 0)
        return;
    uint64_t nodes = hs_os_parse_list(list);
    for (int node = 0; node < HS_OS_MAX_NODES; node++)
        if (nodes >> node & 1)
            t->tier[node] = (int16_t)(id > INT16_MAX ? INT16_MAX : id);
    t->count++;
}

int hs_os_memory_tiers(int16_t tier[HS_OS_MAX_NODES])
{
    for (int n = 0; n < HS_OS_MAX_NODES; n++)
        tier[n] = -1;
    hs_os_tiers_arg_t t = {tier, 0};
    int err = hs_os_each_entry(HS_OS_TIERS_DIR, hs_os_tier_entry, &t);
    return err < 0 ? err : t.count;
}

int hs_os_numa_nodes(uint64_t *mask)
{
    char buf[256];
    ssize_t n = hs_os_read_file("/sys/devices/system/node/online", buf, sizeof buf);
    if (n < 0) {
        *mask = 1; /* a kernel without NUMA sysfs has one node */
        return (int)n;
    }
    *mask = hs_os_parse_list(buf);
    return 0;
}

int hs_os_node_cpulist(int node, char *buf, size_t cap)
{
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/node/node%d/cpulist", node);
    ssize_t n = hs_os_read_file(path, buf, cap);
    if (n < 0)
        return (int)n;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 0;
}

int hs_os_exe_name(char *buf, size_t cap)
{
    char path[4096];
    long n = hs_os_syscall3(SYS_readlink, (long)"/proc/self/exe", (long)path, sizeof path - 1);
    if (n < 0)
        return (int)n;
    path[n] = '\0';
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, cap, "%s", base);
    return 0;
}

bool hs_os_is_secure(void)
{
    return getauxval(AT_SECURE) != 0;
}

uint64_t hs_os_now_ns(void)
{
    struct timespec ts;
    /* clock_gettime is a vDSO call: no allocation, no errno on this clock. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t hs_os_now_coarse_ns(void)
{
    struct timespec ts;
    /* The last tick's time (a few ms old): a read of the vDSO's page. */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t hs_os_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int hs_os_getpid(void)
{
    return (int)hs_os_syscall3(SYS_getpid, 0, 0, 0);
}

int hs_os_gettid(void)
{
    return (int)hs_os_syscall3(SYS_gettid, 0, 0, 0);
}

int hs_os_dup_cloexec(int fd, int min_fd)
{
    return (int)hs_os_syscall3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, min_fd);
}

/* Descriptors hugeshim keeps for the life of the process sit this far below
 * the soft limit: programs take the lowest free numbers and some assume
 * which one they get next (Python's pass_fds tests do). */
#define HS_FD_HEADROOM 64

int hs_os_fd_high(int fd)
{
    struct rlimit rl;
    if (fd < 0 || hs_os_syscall3(SYS_getrlimit, RLIMIT_NOFILE, (long)&rl, 0) != 0)
        return fd;
    rlim_t limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1 << 20) ? (1 << 20) : rl.rlim_cur;
    if (limit < 4 * HS_FD_HEADROOM)
        return fd;
    int high = hs_os_dup_cloexec(fd, (int)(limit - HS_FD_HEADROOM));
    if (high < 0)
        return fd;
    hs_os_close(fd);
    return high;
}

int hs_os_eventfd(void)
{
    int fd = (int)hs_os_syscall3(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK, 0);
    return fd < 0 ? fd : hs_os_fd_high(fd);
}

void hs_os_eventfd_signal(int fd)
{
    uint64_t one = 1;
    hs_os_syscall3(SYS_write, fd, (long)&one, sizeof one);
}

/* Close [first, last]; before Linux 5.9 (no close_range) one by one, up to
 * `upto`. */
static void hs_os_close_span(unsigned first, unsigned last, unsigned upto)
{
    if (hs_os_syscall3(SYS_close_range, first, last, 0) != -ENOSYS)
        return;
    for (unsigned fd = first; fd <= last && fd <= upto; fd++)
        hs_os_syscall3(SYS_close, fd, 0, 0);
}

int hs_os_unshare_files(const int *keep, int n)
{
    int err = hs_os_result(hs_os_syscall3(SYS_unshare, CLONE_FILES, 0, 0));
    if (err)
        return err;
    /* The copy holds every descriptor the process had open: keep only ours,
     * or a pipe's write end held here would keep its reader from ever
     * seeing the end of the file.  Ours, sorted, without -1 and repeats. */
    int kept[8], nk = 0;
    for (int i = 0; i < n && nk < 8; i++) {
        if (keep[i] < 0)
            continue;
        int at = nk;
        while (at > 0 && kept[at - 1] > keep[i])
            at--;
        if (at > 0 && kept[at - 1] == keep[i])
            continue;
        memmove(&kept[at + 1], &kept[at], (size_t)(nk - at) * sizeof kept[0]);
        kept[at] = keep[i];
        nk++;
    }
    unsigned upto = nk && kept[nk - 1] > 1023 ? (unsigned)kept[nk - 1] : 1023, first = 0;
    for (int i = 0; i < nk; i++) {
        if ((unsigned)kept[i] > first)
            hs_os_close_span(first, (unsigned)kept[i] - 1, upto);
        first = (unsigned)kept[i] + 1;
    }
    hs_os_close_span(first, ~0u, upto);
    return 0;
}

int hs_os_poll2(int a, int b, int timeout_ms)
{
    struct pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    long n = hs_os_syscall3(SYS_poll, (long)fds, b >= 0 ? 2 : 1, timeout_ms);
    if (n < 0)
        return (int)n;
    int mask = 0;
    if (fds[0].revents)
        mask |= 1;
    if (b >= 0 && fds[1].revents)
        mask |= 2;
    return mask;
}

/* The state letter of a /proc stat line: the field after the ")" of comm
 * (comm itself may hold spaces and parentheses). */
static char hs_os_stat_state(const char *stat, const char **after)
{
    const char *p = strrchr(stat, ')');
    if (!p || p[1] != ' ')
        return '?';
    if (after)
        *after = p + 2; /* the state itself: field 3 */
    return p[2];
}

/* A /proc file of this process kept open at a high descriptor and read
 * with pread.  Opened for each read, it would take the lowest free
 * descriptor for a moment, which a program may hold as one that is not open
 * (python's test_os checks that calls on such a descriptor fail with EBADF),
 * and the epoch thread reads these every 100 ms.  A forked child reopens it:
 * the descriptor names the process that opened it. */
typedef struct hs_os_kept_file {
    int fd;
    int pid;
} hs_os_kept_file_t;

static ssize_t hs_os_read_kept(hs_os_kept_file_t *f, const char *path, char *buf, size_t cap)
{
    int pid = hs_os_getpid();
    if (f->fd >= 0 && f->pid != pid) {
        hs_os_close(f->fd);
        f->fd = -1;
    }
    if (f->fd < 0) {
        int fd = hs_os_open(path, O_RDONLY, 0);
        if (fd < 0)
            return fd;
        f->fd = hs_os_fd_high(fd);
        f->pid = pid;
    }
    size_t used = 0;
    while (used + 1 < cap) {
        long n = hs_os_syscall6(SYS_pread64, f->fd, (long)(buf + used), (long)(cap - 1 - used), (long)used, 0, 0);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            /* The program closed it (close_range): open it again next
             * time, never close a number that may now be the program's. */
            f->fd = -1;
            return n;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    return (ssize_t)used;
}

int hs_os_live_threads(void)
{
    static hs_os_kept_file_t status = {-1, 0}, leader = {-1, 0};
    char buf[4096];
    if (hs_os_read_kept(&status, "/proc/self/status", buf, sizeof buf) < 0)
        return -1;
    const char *t = strstr(buf, "\nThreads:");
    if (!t)
        return -1;
    int threads = 0;
    for (t += 9; *t == ' ' || *t == '\t'; t++)
        ;
    while (*t >= '0' && *t <= '9')
        threads = threads * 10 + (*t++ - '0');
    /* A leader that called pthread_exit stays a counted zombie. */
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", hs_os_getpid());
    if (hs_os_read_kept(&leader, path, stat, sizeof stat) > 0) {
        char state = hs_os_stat_state(stat, NULL);
        if (state == 'Z' || state == 'X')
            threads--;
    }
    return threads;
}

/* Field n (1-based as in proc(5): the state is field 3) of a stat line. */
static long long hs_os_stat_field(const char *stat, int n)
{
    const char *p;
    if (hs_os_stat_state(stat, &p) == '?')
        return -1;
    for (int field = 3; field < n && *p; field++) {
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    long long v = 0;
    bool negative = *p == '-';
    if (negative)
        p++;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return negative ? -v : v;
}

bool hs_os_process_holds_memory(int pid)
{
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (hs_os_read_file(path, stat, sizeof stat) <= 0)
        return false;
    char state = hs_os_stat_state(stat, NULL);
    return state != 'Z' && state != 'X' && state != '?';
}

int hs_os_thread_cpu(int tid)
{
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    if (hs_os_read_file(path, stat, sizeof stat) <= 0)
        return -1;
    return (int)hs_os_stat_field(stat, 39);
}

typedef struct hs_os_threads_arg {
    hs_os_thread_fn fn;
    void *arg;
} hs_os_threads_arg_t;

static void hs_os_thread_entry(void *arg, const char *name)
{
    const hs_os_threads_arg_t *t = arg;
    static const long ticks_ns = 10000000; /* USER_HZ 100 on every Linux ABI */
    if (name[0] < '0' || name[0] > '9')
        return;
    int tid = 0;
    for (const char *c = name; *c >= '0' && *c <= '9'; c++)
        tid = tid * 10 + (*c - '0');
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    if (hs_os_read_file(path, stat, sizeof stat) <= 0)
        return;
    /* schedstat's first field is the time on a CPU in ns; stat's
     * utime+stime count 10 ms ticks, too coarse for light threads. */
    uint64_t cpu_ns = 0;
    char sched[128];
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
    if (hs_os_read_file(path, sched, sizeof sched) > 0 && sched[0] >= '0' && sched[0] <= '9') {
        for (const char *c = sched; *c >= '0' && *c <= '9'; c++)
            cpu_ns = cpu_ns * 10 + (uint64_t)(*c - '0');
    } else {
        long long utime = hs_os_stat_field(stat, 14), stime = hs_os_stat_field(stat, 15);
        cpu_ns = (uint64_t)(utime + stime) * (uint64_t)ticks_ns;
    }
    t->fn(t->arg, tid, (int)hs_os_stat_field(stat, 39), cpu_ns);
}

int hs_os_each_thread(hs_os_thread_fn fn, void *arg)
{
    hs_os_threads_arg_t t = {fn, arg};
    return hs_os_each_entry("/proc/self/task", hs_os_thread_entry, &t);
}

int hs_os_vmstat(const char *const *names, uint64_t *values, size_t n)
{
    static char buf[16384]; /* epoch thread and report only */
    for (size_t i = 0; i < n; i++)
        values[i] = 0;
    ssize_t len = hs_os_read_file("/proc/vmstat", buf, sizeof buf);
    if (len < 0)
        return (int)len;
    for (const char *line = buf; line && *line;) {
        for (size_t i = 0; i < n; i++) {
            size_t k = strlen(names[i]);
            if (!strncmp(line, names[i], k) && line[k] == ' ') {
                uint64_t v = 0;
                for (const char *q = line + k + 1; *q >= '0' && *q <= '9'; q++)
                    v = v * 10 + (uint64_t)(*q - '0');
                values[i] = v;
            }
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return 0;
}

uint64_t hs_os_total_memory(void)
{
    struct sysinfo si;
    if (hs_os_syscall3(SYS_sysinfo, (long)&si, 0, 0) != 0)
        return 0;
    return (uint64_t)si.totalram * (si.mem_unit ? si.mem_unit : 1);
}

bool hs_os_address_space_limited(void)
{
    struct rlimit rl;
    return hs_os_syscall3(SYS_getrlimit, RLIMIT_AS, (long)&rl, 0) != 0 || rl.rlim_cur != RLIM_INFINITY;
}
