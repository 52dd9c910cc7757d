/* pool.c: `hugeshim pool`: the hugetlb pools per page size and node, the
 * hugetlbfs mounts, and (as root) setting a pool's size now and at boot, as
 * libhugetlbfs's hugeadm does. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/hs_counters.h"
#include "../common/hs_options.h"
#include "../os/hs_os.h"
#include "hs_tools.h"

static void hs_pool_usage(FILE *out)
{
    fprintf(out,
            "usage: hugeshim pool                               the hugetlb pools and hugetlbfs mounts\n"
            "       hugeshim pool --reserve SIZE [--page 2M|1G] [--node N] [--persist] [--root DIR]\n"
            "Shows, per huge page size and NUMA node, the pages in the pool, free, reserved (promised to\n"
            "mappings, not yet touched) and surplus (overcommitted), and each hugetlbfs mount with its page\n"
            "size, quota and use.  --reserve sets the pool to SIZE (a size like 1G; 0 empties it) and says what\n"
            "the kernel gave (root).  --persist also writes the setting for the next boot:\n"
            "/etc/sysctl.d/60-hugeshim.conf (vm.nr_hugepages, 2 MiB pages, all nodes) or an entry of\n"
            "/etc/tmpfiles.d/hugeshim.conf (a node or 1 GiB pages); --root DIR writes them under DIR.\n");
}

static void hs_pool_line(const char *what, const hs_os_hugetlb_pool_t *p, uint64_t kib, bool reserved)
{
    char size[32], free_size[32];
    hs_format_bytes(p->total * kib * 1024, size, sizeof size);
    hs_format_bytes(p->free * kib * 1024, free_size, sizeof free_size);
    printf("  %-10s %8llu pages (%s), %8llu free (%s)", what, (unsigned long long)p->total, size,
           (unsigned long long)p->free, free_size);
    if (reserved)
        printf(", %llu reserved", (unsigned long long)p->reserved);
    printf(", %llu surplus\n", (unsigned long long)p->surplus);
}

/* A mount option's value ("size=8M" in "rw,size=8M,mode=1770"), or NULL. */
static const char *hs_mount_option(const char *options, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = options; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len > n && !strncmp(p, name, n) && p[n] == '=') {
            snprintf(buf, cap, "%.*s", (int)(len - n - 1), p + n + 1);
            return buf;
        }
        p += len + (p[len] == ',');
    }
    return NULL;
}

/* Every hugetlbfs mount: page size, quota, use, owner and mode. */
static void hs_pool_mounts(void)
{
    static hs_os_hugetlbfs_mount_t mounts[64];
    int n = hs_os_hugetlbfs_mounts(mounts, 64);
    printf("hugetlbfs mounts:\n");
    for (int i = 0; i < n && i < 64; i++) {
        const hs_os_hugetlbfs_mount_t *m = &mounts[i];
        char page[32], quota[32] = "unlimited", used[32] = "?", min[32] = "none", mode[16] = "?", uid[16] = "0",
             gid[16] = "0";
        hs_format_bytes(m->page_bytes, page, sizeof page);
        if (m->size_bytes) {
            hs_format_bytes(m->size_bytes, quota, sizeof quota);
            hs_format_bytes(m->size_bytes - m->free_bytes, used, sizeof used);
        }
        hs_mount_option(m->options, "min_size", min, sizeof min);
        hs_mount_option(m->options, "mode", mode, sizeof mode);
        hs_mount_option(m->options, "uid", uid, sizeof uid);
        hs_mount_option(m->options, "gid", gid, sizeof gid);
        printf("  %-24s page %s, quota %s, used %s, min_size %s, mode %s, uid %s, gid %s, %s\n", m->path, page, quota,
               used, min, mode, uid, gid, m->writable ? "writable by you" : "not writable by you");
    }
    if (n <= 0)
        printf("  none (mount one: mount -t hugetlbfs -o pagesize=2M,size=1G,gid=GROUP,mode=1770 none /mnt/huge)\n");
}

static int hs_pool_show(void)
{
    uint64_t nodes = 0;
    hs_os_numa_nodes(&nodes);
    printf("hugetlb pools:\n");
    for (uint64_t kib = 2048; kib <= 1048576; kib *= 512) {
        hs_os_hugetlb_pool_t pool;
        if (hs_os_hugetlb_pool(kib, -1, &pool) != 0) {
            printf(" %s pages: not supported by this kernel or CPU\n", kib == 2048 ? "2 MiB" : "1 GiB");
            continue;
        }
        printf(" %s pages:\n", kib == 2048 ? "2 MiB" : "1 GiB");
        hs_pool_line("all nodes", &pool, kib, true);
        for (int node = 0; node < 64; node++) {
            hs_os_hugetlb_pool_t np;
            char what[16];
            snprintf(what, sizeof what, "node%d", node);
            if ((nodes >> node & 1) && hs_os_hugetlb_pool(kib, node, &np) == 0)
                hs_pool_line(what, &np, kib, false);
        }
    }
    hs_pool_mounts();
    return 0;
}

/* Write `text` as the whole file path (made with its folders under root). */
static int hs_write_file(const char *path, const char *text)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    fputs(text, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int err = -errno;
        unlink(tmp);
        return err;
    }
    return 0;
}

/* The tmpfiles.d file keeps other lines; ours (same knob) is replaced. */
static int hs_persist_tmpfiles(const char *root, const char *knob, unsigned long long pages, char *where, size_t cap)
{
    char path[4096], text[16384] = "", line[1024];
    snprintf(path, sizeof path, "%s/etc/tmpfiles.d/hugeshim.conf", root);
    snprintf(where, cap, "%s", path);
    FILE *f = fopen(path, "r");
    size_t used = 0;
    if (!f)
        used = (size_t)snprintf(text, sizeof text, "# hugetlb pools set by `hugeshim pool --persist`\n");
    while (f && fgets(line, sizeof line, f))
        if (!strstr(line, knob) && used < sizeof text)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s", line);
    if (f)
        fclose(f);
    if (used < sizeof text)
        snprintf(text + used, sizeof text - used, "w %s - - - - %llu\n", knob, pages);
    return hs_write_file(path, text);
}

static int hs_pool_reserve(const char *size_text, const char *page_text, int node, bool persist, const char *root)
{
    long long size;
    if (!hs_parse_size(size_text, &size)) {
        fprintf(stderr, "hugeshim pool: --reserve %s is not a size: expected a number with an optional k/M/G/T suffix "
                        "(the pool's new total, 0 to empty it)\n", size_text);
        return 2;
    }
    uint64_t kib;
    if (!strcmp(page_text, "2M") || !strcmp(page_text, "2m") || !strcmp(page_text, "2MiB"))
        kib = 2048;
    else if (!strcmp(page_text, "1G") || !strcmp(page_text, "1g") || !strcmp(page_text, "1GiB"))
        kib = 1048576;
    else {
        fprintf(stderr, "hugeshim pool: --page %s: expected 2M or 1G\n", page_text);
        return 2;
    }
    unsigned long long pages = ((unsigned long long)size + kib * 1024 - 1) / (kib * 1024);
    char knob[224];
    hs_os_hugetlb_knob(kib, node, knob, sizeof knob);
    if (access(knob, F_OK) != 0) {
        fprintf(stderr, "hugeshim pool: %s is missing: %s\n", knob,
                node >= 0 ? "no such node, or this page size is not supported" : "this page size is not supported");
        return 1;
    }
    int fd = open(knob, O_WRONLY);
    if (fd < 0) {
        fprintf(stderr, "hugeshim pool: cannot write %s: %s%s\n", knob, strerror(errno),
                errno == EACCES || errno == EPERM ? " (run as root: sudo hugeshim pool --reserve ...)" : "");
        return 1;
    }
    char text[32];
    int n = snprintf(text, sizeof text, "%llu\n", pages);
    ssize_t w = write(fd, text, (size_t)n);
    int err = errno;
    close(fd);
    if (w != n) {
        fprintf(stderr, "hugeshim pool: writing %llu to %s failed: %s\n", pages, knob, strerror(err));
        return 1;
    }
    hs_os_hugetlb_pool_t pool;
    hs_os_hugetlb_pool(kib, node, &pool);
    char got[32];
    hs_format_bytes(pool.total * kib * 1024, got, sizeof got);
    printf("%s: asked %llu pages, the pool has %llu (%s), %llu free\n", knob, pages,
           (unsigned long long)pool.total, got, (unsigned long long)pool.free);
    int status = 0;
    if (pool.total < pages) {
        printf("  the kernel found only %llu: memory is used or fragmented; free some, compact it "
               "(echo 1 > /proc/sys/vm/compact_memory) or reserve at boot (--persist%s)\n",
               (unsigned long long)pool.total, kib == 2048 ? "" : ", or hugepagesz=1G hugepages=N on the kernel command line");
        status = 3;
    }
    if (persist) {
        char where[4096];
        int rc;
        if (kib == 2048 && node < 0) {
            snprintf(where, sizeof where, "%s/etc/sysctl.d/60-hugeshim.conf", root);
            char conf[128];
            snprintf(conf, sizeof conf, "# set by `hugeshim pool --reserve %s --persist`\nvm.nr_hugepages = %llu\n",
                     size_text, pages);
            rc = hs_write_file(where, conf);
        } else {
            rc = hs_persist_tmpfiles(root, knob, pages, where, sizeof where);
        }
        if (rc) {
            fprintf(stderr, "hugeshim pool: cannot write %s: %s\n", where, strerror(-rc));
            return 1;
        }
        printf("  at boot: %s\n", where);
    }
    return status;
}

int hs_tool_pool(int argc, char **argv)
{
    const char *reserve = NULL, *page = "2M", *root = "";
    int node = -1;
    bool persist = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            hs_pool_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--persist")) {
            persist = true;
        } else if (i + 1 < argc && !strcmp(a, "--reserve")) {
            reserve = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--page")) {
            page = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--root")) {
            root = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--node")) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 0 || v > 63) {
                fprintf(stderr, "hugeshim pool: --node %s: expected a node number from 0 to 63\n", argv[i]);
                return 2;
            }
            node = (int)v;
        } else {
            fprintf(stderr, "hugeshim pool: unknown or incomplete option %s\n", a);
            hs_pool_usage(stderr);
            return 2;
        }
    }
    if (!reserve) {
        if (persist || node >= 0) {
            fprintf(stderr, "hugeshim pool: --persist and --node go with --reserve SIZE\n");
            return 2;
        }
        return hs_pool_show();
    }
    return hs_pool_reserve(reserve, page, node, persist, root);
}
