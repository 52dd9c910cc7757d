/* hs_os.h: every kernel call hugeshim makes goes through here.
 *
 * Conventions (as in mimalloc's prim.h): functions return 0 or a negative
 * errno, never set errno, never allocate with malloc, and are safe to call
 * from inside malloc, mmap interposers and jemalloc extent hooks.  They are
 * raw system calls, so an interposed mmap in this library is never re-entered.
 */
#ifndef HS_OS_H
#define HS_OS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_OS_PAGE_SIZE ((size_t)4096)
#define HS_OS_HUGE_2M ((size_t)2 << 20)
#define HS_OS_HUGE_2M_SHIFT 21
#define HS_OS_HUGE_1G ((size_t)1 << 30)

/* Protection and flag bits as the kernel takes them, so that callers outside
 * os/ never include <sys/mman.h>. */
enum {
    HS_OS_PROT_NONE = 0,
    HS_OS_PROT_READ = 1,
    HS_OS_PROT_WRITE = 2,
    HS_OS_PROT_EXEC = 4,
};

/* ---- memory -------------------------------------------------------------- */

/* Raw mmap: 0 on success with *out set, else -errno. */
int hs_os_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset, void **out);
int hs_os_munmap(void *addr, size_t len);
int hs_os_mremap(void *old_addr, size_t old_len, size_t new_len, int flags, void *new_addr, void **out);
int hs_os_madvise(void *addr, size_t len, int advice);
int hs_os_mprotect(void *addr, size_t len, int prot);
/* A system call made as is (the shim's pass-through of calls it only
 * brackets: mlock, mbind): the result, or -errno. */
long hs_os_call(long nr, long a, long b, long c, long d, long e, long f);

/* Anonymous private read-write mapping, len rounded to pages, no huge pages
 * requested.  Used for hugeshim's own metadata. */
int hs_os_map_plain(size_t len, void **out);

/* What a program mmap call asks for, decoded once so shim/ needs no mman.h. */
typedef struct hs_os_mmap_request {
    bool anonymous;
    bool private_mapping;
    bool fixed;          /* MAP_FIXED or MAP_FIXED_NOREPLACE */
    bool stack_or_guard; /* MAP_GROWSDOWN, MAP_STACK, or no write permission */
    bool special;        /* MAP_HUGETLB, MAP_LOCKED, MAP_32BIT, MAP_SYNC, PROT_EXEC */
    bool populate;       /* MAP_POPULATE */
    bool noreserve;      /* MAP_NORESERVE */
} hs_os_mmap_request_t;
void hs_os_decode_mmap(int prot, int flags, hs_os_mmap_request_t *out);
/* mremap flags: whether a fifth argument (new address) is passed. */
bool hs_os_mremap_is_fixed(int flags);

/* The kinds of backing the OS layer can map. */
typedef enum hs_os_kind {
    HS_OS_KIND_HUGETLB_1G = 0,
    HS_OS_KIND_HUGETLB_2M = 1,
    HS_OS_KIND_THP = 2,
    HS_OS_KIND_BASE = 3,
    HS_OS_KIND_COUNT = 4,
} hs_os_kind_t;

/* Map len bytes of the given kind, aligned to `align` (a power of two,
 * at least a page).  hugetlb kinds reserve their pages at mmap time (never
 * MAP_NORESERVE), so an empty pool is -ENOMEM here and never a SIGBUS later.
 * len must be a multiple of the kind's page size.  THP regions get
 * MADV_HUGEPAGE; if that advice fails the mapping stays and *advised is false.
 * populate: prefault writable (MADV_POPULATE_WRITE), after the advice. */
int hs_os_map_kind(hs_os_kind_t kind, size_t len, size_t align, int prot, bool noreserve,
                   bool populate, void **out, bool *advised);

/* Map the hugetlb kind from files of a hugetlbfs mount (dir; NULL or "":
 * MAP_HUGETLB again), as libhugetlbfs does: each mapping a private mapping of
 * a file created there and unlinked at once, so the mount's owner, mode and
 * quota (size=) govern it.  hs_os_map_kind then answers -ENOSPC when the
 * quota is full (-ENOMEM: the pool is). */
void hs_os_hugetlbfs_use(hs_os_kind_t kind, const char *dir);
const char *hs_os_hugetlbfs_dir(hs_os_kind_t kind);
/* Bytes left in the quota of the kind's mount; UINT64_MAX: no mount, no quota. */
uint64_t hs_os_hugetlbfs_room(hs_os_kind_t kind);

/* A hugetlbfs mount, from /proc/self/mountinfo and statfs. */
typedef struct hs_os_hugetlbfs_mount {
    char path[256];
    uint64_t page_bytes;             /* its huge page size */
    uint64_t size_bytes, free_bytes; /* its quota (size=) and what is left; 0, 0: no quota */
    bool writable;                   /* this process may create files there */
    char options[256];               /* its superblock options: "rw,pagesize=2M,size=8M,mode=1770" */
} hs_os_hugetlbfs_mount_t;
/* Up to max mounts into out; returns how many there are, or -errno. */
int hs_os_hugetlbfs_mounts(hs_os_hugetlbfs_mount_t *out, int max);

/* Bytes of RAM (sysinfo), 0 if unknown. */
uint64_t hs_os_total_memory(void);
/* Whether an address-space limit (RLIMIT_AS) is set, or unknown. */
bool hs_os_address_space_limited(void);
/* Reserve len bytes of address space aligned to `align`, inaccessible and
 * not charged against the commit limit (PROT_NONE, private anonymous). */
int hs_os_reserve(size_t len, size_t align, void **out);
/* Make [addr, addr+len) of a reservation a mapping of `kind` (THP or base
 * only): accessible with `prot` (charged now) and, for THP, MADV_HUGEPAGE
 * (*advised says whether that took).  Same fault points as hs_os_map_kind. */
int hs_os_map_kind_at(hs_os_kind_t kind, void *addr, size_t len, int prot, bool *advised);
/* Hold [addr, addr+len) of a reservation again, inaccessible (PROT_NONE).
 * replace: over what is there (MAP_FIXED: its pages and commit charge go, with
 * no gap in between); else only where nothing is mapped (MAP_FIXED_NOREPLACE:
 * after a mapping moved away, what someone else mapped there meanwhile stays). */
int hs_os_rereserve(void *addr, size_t len, bool replace);

/* MADV_DONTFORK (true) or MADV_DOFORK (false). */
int hs_os_dontfork(void *addr, size_t len, bool dontfork);
/* A fresh private anonymous read-write THP-advised mapping exactly at addr,
 * replacing what is there (MAP_FIXED, MAP_NORESERVE). */
int hs_os_map_fixed_thp(void *addr, size_t len);
/* Move a whole mapping to `to`, replacing what is there (mremap FIXED). */
int hs_os_move_mapping(void *from, size_t len, void *to);
/* mincore(2): one byte per 4 KiB page of [addr, addr+len), bit 0 resident. */
int hs_os_mincore(void *addr, size_t len, unsigned char *vec);
/* Whether the page at addr is resident (mincore). */
bool hs_os_resident(void *addr);
/* MADV_COLLAPSE: make the 2 MiB-aligned range huge pages now, copying what is
 * there (6.1+, whatever the THP sysfs mode but never; -EINVAL where missing). */
int hs_os_collapse(void *addr, size_t len);
/* MADV_HUGEPAGE on a range: later faults there take huge pages. */
int hs_os_advise_huge(void *addr, size_t len);
/* A shared anonymous page (seen by every process forked from this one). */
int hs_os_map_shared_page(void **out);
/* Whether process pid still holds memory: alive and not a zombie. */
bool hs_os_process_holds_memory(int pid);

/* MADV_FREE (lazy) or MADV_DONTNEED (forced) over a range. */
int hs_os_purge(void *addr, size_t len, bool forced);

/* ---- files under /proc and /sys (raw syscalls, caller's buffer) ---------- */

/* Read a whole small file into buf (NUL-terminated). Returns bytes or -errno. */
ssize_t hs_os_read_file(const char *path, char *buf, size_t cap);
/* Call fn for each line of a file of any length (without its newline),
 * reading through buf; a line longer than cap - 1 bytes is skipped.  0 or
 * -errno. */
int hs_os_each_line(const char *path, char *buf, size_t cap, void (*fn)(void *arg, const char *line), void *arg);
/* Read a whole configuration file into buf (NUL-terminated): a regular file
 * only (-EINVAL otherwise, never blocking on a FIFO), at most cap - 2 bytes
 * (-EFBIG beyond).  Returns bytes or -errno. */
ssize_t hs_os_read_config(const char *path, char *buf, size_t cap);
/* Write a string to a file (sysfs/procfs knobs). 0 or -errno. */
int hs_os_write_file(const char *path, const char *text);
/* Read an unsigned decimal number from a file. */
int hs_os_read_u64(const char *path, uint64_t *out);
/* Opening a file takes the lowest free descriptor, and for as long as it is
 * open a program that opens one on another thread gets the next number
 * instead (Python's test_os checks that it does not).  With a runner set,
 * the calls above (hs_os_read_file, hs_os_each_line, hs_os_write_file,
 * hs_os_write_file_atomic and the thread and folder walks) make their open,
 * read or write and close through it: run(fn, arg) calls fn(arg) on a
 * thread whose descriptor table is its own and returns true, or returns
 * false and the call is made here. */
typedef void hs_os_apart_fn(void *arg);
void hs_os_set_apart(bool (*run)(hs_os_apart_fn *fn, void *arg));

/* THP mode from /sys/kernel/mm/transparent_hugepage/enabled. */
typedef enum hs_os_thp_mode {
    HS_OS_THP_UNKNOWN = 0, /* file missing: kernel without THP */
    HS_OS_THP_ALWAYS,
    HS_OS_THP_MADVISE,
    HS_OS_THP_NEVER,
} hs_os_thp_mode_t;
hs_os_thp_mode_t hs_os_thp_mode(void);
const char *hs_os_thp_mode_name(hs_os_thp_mode_t mode);

/* hugetlb pool of one page size (kib = 2048 or 1048576); node < 0: global. */
typedef struct hs_os_hugetlb_pool_s {
    bool supported;
    uint64_t total;
    uint64_t free;
    uint64_t reserved;
    uint64_t surplus;
} hs_os_hugetlb_pool_t;
int hs_os_hugetlb_pool(uint64_t page_kib, int node, hs_os_hugetlb_pool_t *out);
/* Path of the nr_hugepages knob, for messages and tests. */
void hs_os_hugetlb_knob(uint64_t page_kib, int node, char *buf, size_t cap);

/* Counters of this process's address space from /proc/self/smaps_rollup. */
typedef struct hs_os_rollup {
    uint64_t rss_bytes;
    uint64_t anon_huge_bytes;
    uint64_t hugetlb_bytes; /* Shared_Hugetlb + Private_Hugetlb */
} hs_os_rollup_t;
int hs_os_smaps_rollup(hs_os_rollup_t *out);
/* The process's peak resident set (VmHWM of /proc/self/status), in bytes. */
int hs_os_rss_peak(uint64_t *out);

/* The VMA of /proc/self/smaps holding addr: its range and page facts.
 * buf is scratch space for the file (256 KiB is plenty for most processes). */
typedef struct hs_os_vma_info_s {
    uintptr_t start, end;
    uint64_t rss_bytes;
    uint64_t anon_huge_bytes;
    uint64_t kernel_page_bytes;
    uint64_t hugetlb_bytes; /* Private_Hugetlb + Shared_Hugetlb */
} hs_os_vma_info_t;
int hs_os_vma_info(uintptr_t addr, char *buf, size_t cap, hs_os_vma_info_t *out);

/* NUMA nodes online, as a bitmask of the first 64, and a node's CPU list. */
int hs_os_numa_nodes(uint64_t *mask);
int hs_os_node_cpulist(int node, char *buf, size_t cap);

/* move_pages(2) for this process, through libnuma's numa_move_pages: with
 * nodes NULL, status[i] receives the node of pages[i] (or -errno); with
 * nodes, pages are moved (MPOL_MF_MOVE) and status[i] is the node reached or
 * -errno (-EBUSY pinned or in flight, -EFAULT zero page or unmapped, -EACCES
 * shared, -ENOMEM target full, -ENOENT not present).  Returns 0, the number
 * of pages not moved, or -errno for the whole call.  errno is preserved. */
long hs_os_move_pages(unsigned long count, void **pages, const int *nodes, int *status);
/* set_mempolicy(2) with a mask of the first 64 nodes; mode as the kernel's
 * MPOL_* numbers (0 default, 1 preferred, 2 bind). */
int hs_os_set_mempolicy(int mode, uint64_t nodemask);

/* The calling thread's memory policy (get_mempolicy), to be set again. */
typedef struct hs_os_policy {
    int mode; /* with its mode flags; -1: unknown, leave the policy alone */
    uint64_t nodemask;
} hs_os_policy_t;
/* Have the calling thread's next allocations prefer `node` (MPOL_PREFERRED),
 * its policy saved in *saved for hs_os_policy_restore.  A mapping's own
 * policy (mbind) still rules its pages.  0 or -errno (nothing changed). */
int hs_os_prefer_node(int node, hs_os_policy_t *saved);
void hs_os_policy_restore(const hs_os_policy_t *saved);

/* The machine's NUMA topology, from libnuma.  libnuma allocates (fopen,
 * bitmasks): call hs_os_topology_read outside every hugeshim lock, never
 * inside malloc.  hs_os_node_free_bytes reads sysfs raw and may be called
 * anywhere. */
#define HS_OS_MAX_NODES 64
#define HS_OS_MAX_CPUS 1024
typedef struct hs_os_topology {
    int nodes;                    /* configured nodes */
    int cpus;                     /* configured CPUs */
    uint64_t nodes_with_cpus;     /* bit per node */
    uint64_t nodes_with_memory;   /* bit per node */
    int16_t cpu_node[HS_OS_MAX_CPUS]; /* -1 unknown */
} hs_os_topology_t;
/* 0, or -ENOSYS when libnuma says NUMA is unavailable (then one node). */
int hs_os_topology_read(hs_os_topology_t *t);
/* Free memory of a node in bytes, or -1 unknown. */
int64_t hs_os_node_free_bytes(int node);
/* Free memory of a node in blocks of 2 MiB or more (/proc/buddyinfo, orders
 * 9 and up): what a THP moved there can land in without being split (the
 * kernel splits a THP whose migration finds no such block).  -1 unknown. */
int64_t hs_os_node_huge_free_bytes(int node);
/* Bytes a node can take for pages of this kind: free hugetlb pages of the
 * node's pool, free memory in 2 MiB blocks for THPs, free memory for base
 * pages; -1 unknown. */
int64_t hs_os_node_room(int node, hs_os_kind_t kind);
/* All memory of a node in bytes (MemTotal), or -1 unknown. */
int64_t hs_os_node_total_bytes(int node);
/* The kernel's memory tiers (/sys/devices/virtual/memory_tiering, Linux
 * 6.1+): tier[n] is the id of node n's tier (a lower id is a faster tier:
 * memory_tier4 holds ordinary DRAM), -1 for a node in none.  Returns the
 * number of tiers, or -errno (-ENOENT: no memory tiering in this kernel). */
int hs_os_memory_tiers(int16_t tier[HS_OS_MAX_NODES]);
/* SLIT distances from node `from` (/sys/devices/system/node/nodeN/distance)
 * into dist[0..HS_OS_MAX_NODES), 0 where unknown.  0 or -errno. */
int hs_os_node_distances(int from, uint8_t dist[HS_OS_MAX_NODES]);
/* Whether an explicit memory policy (mbind, set_mempolicy, numactl
 * --membind/--preferred/--interleave) governs addr for the calling thread:
 * anything but MPOL_DEFAULT and MPOL_LOCAL.  0 or -errno. */
int hs_os_explicit_policy(void *addr, bool *explicit_out);
/* kernel.numa_balancing (AutoNUMA): 0/1/2..., or -1 when absent. */
int hs_os_numa_balancing(void);

/* Base name of /proc/self/exe into buf. */
int hs_os_exe_name(char *buf, size_t cap);
/* The executable's full path (/proc/self/exe). 0 or -errno. */
int hs_os_exe_path(char *buf, size_t cap);
/* True when the process runs with elevated privileges (AT_SECURE). */
bool hs_os_is_secure(void);

/* ---- output and time ------------------------------------------------------ */
int hs_os_write_all(int fd, const char *buf, size_t len);
/* Write a report file: a new one or one of ours atomically (path.tmp.pid
 * then rename, its mode kept); one that belongs to another user or is a
 * link is written in place (owner and links kept); a read-only one is left
 * alone (-EROFS).  0 or -errno. */
int hs_os_write_file_atomic(const char *path, const char *buf, size_t len);
/* Create or truncate a file for writing (0644, close-on-exec, a high fd). */
int hs_os_create_file(const char *path);
uint64_t hs_os_now_ns(void);
/* CLOCK_MONOTONIC_COARSE: cheaper, as old as the last timer tick. */
uint64_t hs_os_now_coarse_ns(void);
/* CPU time of the calling thread, ns. */
uint64_t hs_os_thread_cpu_ns(void);
int hs_os_getpid(void);
int hs_os_gettid(void);
/* A close-on-exec duplicate of fd numbered at least min_fd, or -errno. */
int hs_os_dup_cloexec(int fd, int min_fd);
/* Move one of hugeshim's own descriptors to the top of the range programs
 * use (below the RLIMIT_NOFILE soft limit), so that it never takes the
 * lowest free number a program expects.  Closes fd; returns the new number,
 * or fd itself when it cannot be moved. */
int hs_os_fd_high(int fd);
/* An eventfd (close-on-exec, non-blocking, placed high) to wake a poller. */
int hs_os_eventfd(void);
void hs_os_eventfd_signal(int fd);
/* poll() two descriptors for input; returns a bit mask (1: a, 2: b), 0 on
 * timeout, or -errno.  b may be -1. */
int hs_os_poll2(int a, int b, int timeout_ms);

/* ---- threads of this process --------------------------------------------- */
/* Threads of this process that still run: the kernel's count less the
 * thread-group leader when it has already exited (a zombie leader stays
 * counted until the whole process ends). */
int hs_os_live_threads(void);
/* The CPU a thread of this process last ran on (field 39 of its stat). */
int hs_os_thread_cpu(int tid);
/* Every thread of this process: its tid, the CPU it last ran on and its CPU
 * time in ns (schedstat, else stat's clock ticks). */
typedef void (*hs_os_thread_fn)(void *arg, int tid, int cpu, uint64_t cpu_ns);
int hs_os_each_thread(hs_os_thread_fn fn, void *arg);

/* ---- /proc/vmstat ------------------------------------------------------- */
/* Values of the named counters (missing ones are 0). 0 or -errno. */
int hs_os_vmstat(const char *const *names, uint64_t *values, size_t n);

/* ---- which pages were written (os/track.c) ------------------------------- */
typedef void (*hs_os_range_fn)(void *arg, uintptr_t start, uintptr_t end);

/* PAGEMAP_SCAN with a userfaultfd in async write-protect mode
 * (UFFD_USER_MODE_ONLY, non-blocking, close-on-exec). */
typedef struct hs_os_wp_s {
    int uffd;
    int pagemap;
} hs_os_wp_t;
int hs_os_wp_open(hs_os_wp_t *t);
void hs_os_wp_close(hs_os_wp_t *t);
/* Register [start, start+len) for write-protect and protect it. */
int hs_os_wp_arm(hs_os_wp_t *t, uintptr_t start, size_t len);
/* Report the ranges written since the last scan and protect them again. */
int hs_os_wp_scan(hs_os_wp_t *t, uintptr_t start, size_t len, hs_os_range_fn written, void *arg);

/* Soft-dirty (on a hs_os_pagemap_open descriptor): the process-wide reset,
 * and a scan of one range with a caller buffer of cap entries. */
int hs_os_softdirty_clear(void);
int hs_os_softdirty_scan(int pagemap, uintptr_t start, size_t len, uint64_t *buf, size_t cap,
                         hs_os_range_fn written, void *arg);
/* Close a file descriptor. */
void hs_os_close(int fd);
/* The calling thread gets its own copy of the descriptor table
 * (unshare(CLONE_FILES)) holding only the n descriptors of keep (every
 * other descriptor of the copy is closed; -1 entries keep nothing): what
 * the program closes later stays open here, and nothing of the program's
 * is held. */
int hs_os_unshare_files(const int *keep, int n);
/* /proc/self/pagemap, close-on-exec, placed high; or -errno. */
int hs_os_pagemap_open(void);
/* Whether all of [start, start+len) is mapped by huge pages (PAGEMAP_SCAN's
 * PAGE_IS_HUGE: a PMD-mapped THP or hugetlb): 1, 0, or -errno (no
 * PAGEMAP_SCAN before Linux 6.7). */
int hs_os_range_huge(int pagemap, uintptr_t start, size_t len);

/* Synchronous userfaultfd write-protect, for THP regions: a write to a
 * protected page blocks the writer until a handler un-protects it, and the
 * message names the writing thread (UFFD_FEATURE_THREAD_ID).  Un-protecting
 * a whole 2 MiB unit keeps a THP whole (async write-protect splits it).
 * The descriptor must handle faults raised in kernel mode too: with
 * UFFD_USER_MODE_ONLY a read(2) into a protected page fails with EFAULT, so
 * hs_os_wpsync_open never falls back to it.  It tries userfaultfd(2) (needs
 * CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1), then /dev/userfaultfd.
 * Returns the fd (close-on-exec, non-blocking, placed high) or -errno, with
 * the reason in why. */
int hs_os_wpsync_open(char *why, size_t cap);
/* Whether the descriptor hs_os_wpsync_open returned also has UFFDIO_MOVE
 * (UFFD_FEATURE_MOVE, Linux 6.8): the access sampler needs it. */
bool hs_os_wpsync_can_move(void);
int hs_os_wpsync_register(int uffd, uintptr_t start, size_t len);
int hs_os_wpsync_unregister(int uffd, uintptr_t start, size_t len);
/* Register for missing-page faults as well as write-protect ones (a parked
 * unit: any access faults to the handler). */
int hs_os_wpsync_register_missing(int uffd, uintptr_t start, size_t len);
/* UFFDIO_MOVE of len bytes from src to dst (both registered with uffd's
 * mm, dst with uffd itself; anonymous, private, same protection): page
 * tables move, a PMD-mapped THP moves whole, nothing is copied.  Waiters on
 * dst are woken unless !wake (UFFDIO_MOVE_MODE_DONTWAKE: the caller wakes
 * them with hs_os_wpsync_wake).  Returns 0 with *moved == len, or -errno with the bytes
 * moved before the error in *moved (EBUSY: a page shared after fork, pinned
 * or KSM; EINVAL: the two mappings differ (mlock, protection); ENOENT: a hole
 * in src; EEXIST: something already at dst; EAGAIN: try again).  Fault
 * point "park". */
int hs_os_uffd_move(int uffd, uintptr_t dst, uintptr_t src, size_t len, bool wake, size_t *moved);
/* The same with holes in src allowed (UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES):
 * every page present in src moves, holes are passed over.  Fault point
 * "park". */
int hs_os_uffd_move_present(int uffd, uintptr_t dst, uintptr_t src, size_t len, size_t *moved);
/* Pages of [addr, addr+len) mapped now (mincore); -errno on failure.
 * len at most 2 MiB. */
long hs_os_resident_pages(void *addr, size_t len);
/* UFFDIO_COPY: len bytes copied from src into missing pages at dst (dst
 * registered MISSING with uffd), waking waiters.  0, or -errno with the
 * bytes copied before it in *copied.  New base pages: no huge page. */
int hs_os_uffd_copy(int uffd, uintptr_t dst, uintptr_t src, size_t len, size_t *copied);
/* Protect (true) or un-protect and wake the writers (false). */
int hs_os_wpsync_protect(int uffd, uintptr_t start, size_t len, bool protect);
int hs_os_wpsync_wake(int uffd, uintptr_t start, size_t len);
/* Gives up the descriptor's every registration at once, waking every writer
 * it holds: /dev/null is put in its place (dup3), so the number stays taken
 * and a call still using it fails (ENOTTY) instead of reaching a reused one. */
int hs_os_wpsync_release(int uffd);
typedef struct hs_os_wp_fault {
    uintptr_t address;
    int tid;
    bool missing; /* a missing-page fault (an access to a parked unit), not a write-protect one */
    bool write;   /* the access was a write (always, for a write-protect fault) */
} hs_os_wp_fault_t;
/* Pending faults (write-protect, and missing pages where registered), without blocking: count, 0, or -errno. */
int hs_os_wpsync_read(int uffd, hs_os_wp_fault_t *out, int max);

/* ---- probes of kernel features (used by doctor and the tracker) ---------- */
typedef enum hs_os_probe_result {
    HS_OS_PROBE_WORKS = 0,
    HS_OS_PROBE_ABSENT,  /* the interface is missing */
    HS_OS_PROBE_BROKEN,  /* present but the bit never behaved as documented */
    HS_OS_PROBE_DENIED,  /* not permitted here (EPERM/EACCES) */
} hs_os_probe_result_t;
/* Soft-dirty: clear_refs "4", then a written page must show bit 55 and an
 * unwritten one must not.  Clearing is process-wide. */
hs_os_probe_result_t hs_os_probe_softdirty(char *detail, size_t cap);
/* PAGEMAP_SCAN with userfaultfd async write-protect: write 3 of 8 pages of
 * a registered range, the scan must report exactly those 3. */
hs_os_probe_result_t hs_os_probe_pagemap_scan(char *detail, size_t cap);
/* Synchronous write-protect of a THP: a full (kernel-fault capable)
 * userfaultfd with THREAD_ID, a 4 MiB THP region registered, protected and
 * un-protected in whole 2 MiB units, still huge afterwards. */
hs_os_probe_result_t hs_os_probe_wpsync(char *detail, size_t cap);
/* A THP unit read whole (the huge zero page, where the kernel maps it)
 * and then written once: WORKS when it is a huge page then, BROKEN when
 * the kernel split the zero page and left it on base pages (memory a
 * program reads before writing stays so until khugepaged), ABSENT when it
 * cannot tell (no THP region, no PAGEMAP_SCAN). */
hs_os_probe_result_t hs_os_probe_zero_page_write(char *detail, size_t cap);

/* ---- fault injection (fault.c) ------------------------------------------ */

/* Calls that can be made to fail, for tests and HUGESHIM_FAULTS. */
typedef enum {
    HS_OS_FAULT_MAP_HUGETLB, /* "map_hugetlb": hugetlb mappings, ENOMEM by default (an emptied pool) */
    HS_OS_FAULT_MAP_THP,     /* "map_thp": aligned THP mappings */
    HS_OS_FAULT_MAP_BASE,    /* "map_base": the backing's base-page mappings */
    HS_OS_FAULT_SCAN,        /* "scan": PAGEMAP_SCAN and soft-dirty pagemap reads, EIO */
    HS_OS_FAULT_UFFD,        /* "uffd": userfaultfd register, write-protect, fault reads, EIO */
    HS_OS_FAULT_MOVE_PAGES,  /* "move_pages": every move_pages call as a whole, EIO */
    HS_OS_FAULT_REPORT,      /* "report": writing the report file, ENOSPC */
    HS_OS_FAULT_PARK,        /* "park": every UFFDIO_MOVE of the access sampler, both ways, EIO */
    HS_OS_FAULT_PARK_SPLIT,  /* "park_split": a put-back leaves the unit on base pages, as the kernel's move
                                does when a fault at the parked unit fell back to base pages */
    HS_OS_FAULT_NODE_ROOM,   /* "node_room": a node's room for a unit (buddyinfo, zoneinfo, hugetlb pools) is
                                unknown, EIO: placement and tiering move without the room check */
    HS_OS_FAULT_COUNT
} hs_os_fault_t;

/* Make call point f fail with -err after `after` calls succeed, for `times`
 * calls (0: every later call).  err 0 disarms it. */
void hs_os_fault_set(hs_os_fault_t f, uint64_t after, uint64_t times, int err);
void hs_os_fault_clear(void);
/* A comma-separated list of name[:after[:times[:ERRNO]]]: arms each, returns
 * how many; -EINVAL with a one-line reason in why (nothing armed). */
int hs_os_fault_parse(const char *spec, char *why, size_t cap);
uint64_t hs_os_fault_injected(hs_os_fault_t f);

extern int hs_os_faults_on;
int hs_os_fault_hit(hs_os_fault_t f);
/* 0, or the injected -errno the call point must return. */
static inline int hs_os_fault(hs_os_fault_t f)
{
    return __builtin_expect(__atomic_load_n(&hs_os_faults_on, __ATOMIC_RELAXED), 0) ? hs_os_fault_hit(f) : 0;
}

#ifdef __cplusplus
}
#endif
#endif
