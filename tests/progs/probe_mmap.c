/* probe_mmap.c: hs_probe's mmap commands: the program's own mappings, edited and passed through. */
#include "probe.h"

static int cmd_mmap(int argc, char **argv)
{
    CHECK(argc >= 1);
    size_t n = parse_size(argv[0]);
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 0x33, n);
    printf("aligned_2m=%d\n", ((uintptr_t)p & (2 * MIB - 1)) == 0);
    print_vma("", p + n / 2);
    CHECK(munmap(p, n) == 0);
    return 0;
}

/* Cut, protect, discard and move parts of a large mapping. */
static int cmd_mmap_edit(int argc, char **argv)
{
    (void)argc, (void)argv;
    size_t n = 16 * MIB;
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    fill(p, n, 7);
    /* A hole of one page in the middle of a huge page. */
    CHECK(munmap(p + 5 * MIB + 4096, 4096) == 0);
    CHECK(verify_prefix(p, 5 * MIB, 7));
    /* Read-only for a while, then writable again. */
    CHECK(mprotect(p + 8 * MIB, 2 * MIB, PROT_READ) == 0);
    CHECK(p[8 * MIB] == (unsigned char)(7 + 8 * MIB / 512));
    CHECK(mprotect(p + 8 * MIB, 2 * MIB, PROT_READ | PROT_WRITE) == 0);
    p[8 * MIB] = 1;
    /* Discarded anonymous memory reads back as zero. */
    CHECK(madvise(p + 10 * MIB + 12288, 64 * 1024, MADV_DONTNEED) == 0);
    for (size_t i = 0; i < 64 * 1024; i++)
        CHECK(p[10 * MIB + 12288 + i] == 0);
    /* Grow the tail part (after the hole) by moving it. */
    unsigned char *tail = p + 12 * MIB;
    unsigned char *moved = mremap(tail, 4 * MIB, 32 * MIB, MREMAP_MAYMOVE);
    CHECK(moved != MAP_FAILED);
    CHECK(verify_prefix(moved, 4 * MIB, (unsigned)(7 + 12 * MIB / 512)));
    memset(moved + 4 * MIB, 9, 28 * MIB);
    unsigned char *shrunk = mremap(moved, 32 * MIB, 8 * MIB, 0);
    CHECK(shrunk == moved);
    CHECK(moved[5 * MIB] == 9);
    CHECK(munmap(moved, 8 * MIB) == 0);
    CHECK(munmap(p, 12 * MIB) == 0);
    printf("mmap_edit=ok\n");
    return 0;
}

/* Mappings hugeshim must leave alone. */
static int cmd_mmap_passthrough(int argc, char **argv)
{
    (void)argc, (void)argv;
    size_t n = 8 * MIB;
    char path[] = "/tmp/hs_probe_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    CHECK(ftruncate(fd, (off_t)n) == 0);
    void *file = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    void *shared = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    void *guard = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *stack = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    CHECK(file != MAP_FAILED && shared != MAP_FAILED && guard != MAP_FAILED && stack != MAP_FAILED);
    void *fixed = mmap((char *)guard, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(fixed == guard);
    void *hinted = mmap((char *)guard + 4 * MIB, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(hinted != MAP_FAILED);
    memset(file, 1, n);
    memset(shared, 1, n);
    memset(stack, 1, n);
    memset(fixed, 1, 4 * MIB);
    print_vma("file_", file);
    print_vma("shared_", shared);
    print_vma("stack_", stack);
    print_vma("fixed_", fixed);
    CHECK(munmap(file, n) == 0 && munmap(shared, n) == 0 && munmap(stack, n) == 0);
    CHECK(munmap(guard, n) == 0 && munmap(hinted, 4 * MIB) == 0);
    close(fd);
    printf("passthrough=ok\n");
    return 0;
}


/* Mappings no machine can grant: the kernel's answer (MAP_FAILED, ENOMEM)
 * must reach the program, never an address. */
static int cmd_mmap_impossible(int argc, char **argv)
{
    (void)argc, (void)argv;
    static const size_t lens[] = {(size_t)-1, (size_t)-4096, (size_t)1 << 62};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        errno = 0;
        void *p = mmap(NULL, lens[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        printf("len%zu_failed=%d\nlen%zu_errno=%d\n", i, p == MAP_FAILED, i, p == MAP_FAILED ? errno : 0);
        if (p != MAP_FAILED)
            munmap(p, lens[i]);
    }
    printf("ok\n");
    return 0;
}

const probe_cmd_t probe_mmap_cmds[] = {
    {"mmap", "SIZE", cmd_mmap},
    {"mmap-edit", "", cmd_mmap_edit},
    {"mmap-passthrough", "", cmd_mmap_passthrough},
    {"mmap-impossible", "", cmd_mmap_impossible},
    {NULL, NULL, NULL},
};
