/* probe_process.c: hs_probe's process commands: threads, fork, exec, spawn, dlopen, pthread_exit, descriptors, raw clone. */
#include "probe.h"

struct worker {
    unsigned seed;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    enum { SLOTS = 64 };
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned r = w->seed;
    for (int i = 0; i < 20000; i++) {
        r = r * 1103515245u + 12345u;
        int k = (int)((r >> 8) % SLOTS);
        if (slot[k]) {
            if (!verify(slot[k], size[k], (unsigned)k + w->seed))
                return NULL;
            if (r & 1) {
                free(slot[k]);
                slot[k] = NULL;
                continue;
            }
            size_t n = ((r >> 4) % 4 == 0) ? (r >> 12) % (4 * MIB) + 1 : (r >> 12) % 4096 + 1;
            unsigned char *q = realloc(slot[k], n);
            if (!q)
                return NULL;
            if (!verify_prefix(q, n < size[k] ? n : size[k], (unsigned)k + w->seed))
                return NULL;
            slot[k] = q;
            size[k] = n;
            fill(q, n, (unsigned)k + w->seed);
        } else {
            size_t n = ((r >> 4) % 8 == 0) ? (r >> 12) % (1 * MIB) : (r >> 12) % 1024 + 1;
            slot[k] = (r & 2) ? calloc(1, n) : malloc(n);
            if (!slot[k])
                return NULL;
            size[k] = n;
            fill(slot[k], n, (unsigned)k + w->seed);
        }
    }
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);
    w->ok = 1;
    return NULL;
}

static int cmd_threads(int argc, char **argv)
{
    int n = argc >= 1 ? atoi(argv[0]) : 64;
    pthread_t *t = calloc((size_t)n, sizeof *t);
    struct worker *w = calloc((size_t)n, sizeof *w);
    CHECK(t && w);
    for (int i = 0; i < n; i++) {
        w[i].seed = (unsigned)i * 7919u;
        CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    printf("threads_ok=%d\n", ok);
    CHECK(ok == n);
    free(t);
    free(w);
    return 0;
}

static volatile int stop_threads;
static void *busy_allocator(void *arg)
{
    (void)arg;
    while (!stop_threads) {
        void *p = malloc(1000 + (size_t)(rand() % 100000));
        CHECK(p);
        memset(p, 1, 1000);
        free(p);
    }
    return NULL;
}

/* fork while other threads allocate: the child must be able to allocate. */
static int cmd_fork(int argc, char **argv)
{
    (void)argc, (void)argv;
    unsigned char *data = malloc(32 * MIB);
    CHECK(data);
    fill(data, 32 * MIB, 11);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, busy_allocator, NULL) == 0);
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            if (!verify(data, 32 * MIB, 11))
                _exit(2);
            for (int i = 0; i < 1000; i++) {
                void *p = malloc((size_t)(i * 997 % 300000) + 1);
                if (!p)
                    _exit(3);
                free(p);
            }
            void *big = malloc(64 * MIB);
            if (!big)
                _exit(4);
            memset(big, 2, 64 * MIB);
            free(big);
            /* A child that forks again (as shells do): every lock taken
             * around the first fork must be usable in the child. */
            pid_t grandchild = fork();
            if (grandchild == 0) {
                void *q = malloc(1000);
                _exit(q ? 0 : 5);
            }
            int st;
            if (grandchild < 0 || waitpid(grandchild, &st, 0) != grandchild || !WIFEXITED(st) || WEXITSTATUS(st))
                _exit(6);
            exit(0);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    stop_threads = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    free(data);
    printf("fork=ok\n");
    return 0;
}

static int run_self(int use_spawn, char *const child_argv[])
{
    pid_t pid;
    if (use_spawn) {
        CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, environ) == 0);
    } else {
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            execve("/proc/self/exe", child_argv, environ);
            _exit(127);
        }
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int cmd_exec(int use_spawn)
{
    char *child_argv[] = {"hs_probe", "heap", "64M", NULL};
    int rc = run_self(use_spawn, child_argv);
    printf("child_status=%d\n", rc);
    CHECK(rc == 0);
    printf("%s=ok\n", use_spawn ? "spawn" : "forkexec");
    return 0;
}

static int cmd_forkexec(int argc, char **argv)
{
    (void)argc, (void)argv;
    return cmd_exec(0);
}

static int cmd_spawn(int argc, char **argv)
{
    (void)argc, (void)argv;
    return cmd_exec(1);
}

static int cmd_dlopen(int argc, char **argv)
{
    (void)argc, (void)argv;
#ifdef HS_PROBE_STATIC
    printf("dlopen=skipped (static)\n");
#else
    for (int round = 0; round < 3; round++) {
        void *m = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        CHECK(m);
        double (*cosine)(double) = (double (*)(double))dlsym(m, "cos");
        CHECK(cosine && cosine(0.0) == 1.0);
        void *r = dlopen("libresolv.so.2", RTLD_NOW);
        CHECK(r);
        CHECK(dlclose(r) == 0);
        CHECK(dlclose(m) == 0);
        CHECK(dlopen("libdoes-not-exist.so", RTLD_NOW) == NULL);
        CHECK(dlerror() != NULL);
    }
    printf("dlopen=ok\n");
#endif
    return 0;
}

static void *brief_worker(void *arg)
{
    (void)arg;
    unsigned char *p = malloc(32 * MIB);
    CHECK(p);
    memset(p, 2, 32 * MIB);
    usleep(300000);
    printf("worker=done\n");
    free(p);
    return NULL;
}

static void said_goodbye(void)
{
    printf("atexit=ran\n");
}

/* pthread-exit: main ends with pthread_exit while a worker still runs; the
 * process must end when the worker does (as without hugeshim). */
static int cmd_pthread_exit(int argc, char **argv)
{
    (void)argc, (void)argv;
    atexit(said_goodbye);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, brief_worker, NULL) == 0);
    pthread_exit(NULL);
}

static void *forking_thread(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* The child's only thread is this one: returning ends it, and with
         * it the child process. */
        unsigned char *p = malloc(8 * MIB);
        CHECK(p);
        memset(p, 3, 8 * MIB);
        free(p);
        return NULL;
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    printf("child_exit=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return NULL;
}

/* fork-from-thread: a non-main thread forks; the child returns from the
 * thread function, which must end the child. */
static int cmd_fork_from_thread(int argc, char **argv)
{
    (void)argc, (void)argv;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, forking_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("fork_from_thread=ok\n");
    return 0;
}

struct fd_writer {
    unsigned char *mem;
    size_t len;
    volatile int *stop;
};

static void *fd_writer_main(void *arg)
{
    struct fd_writer *w = arg;
    for (unsigned round = 1; !*w->stop; round++)
        for (size_t i = 0; i < w->len; i += 4096)
            w->mem[i] = (unsigned char)round;
    return NULL;
}

/* lowest-fd [SECONDS THREADS]: the descriptor open() gives after 200 ms.
 * With SECONDS, THREADS threads keep writing 32 MiB each meanwhile while
 * this one opens and closes /dev/null for SECONDS: a library that opens a
 * file on another thread takes the lowest free number for a moment, and the
 * program then gets another one (fd_moved counts those times). */
static int cmd_lowest_fd(int argc, char **argv)
{
    usleep(200000);
    int fd = open("/dev/null", O_RDONLY);
    CHECK(fd >= 0);
    printf("lowest_fd=%d\n", fd);
    close(fd);
    if (argc < 2)
        return 0;
    double seconds = atof(argv[0]);
    int nthreads = atoi(argv[1]);
    CHECK(seconds > 0 && nthreads > 0 && nthreads <= 64);
    volatile int stop = 0;
    pthread_t t[64];
    struct fd_writer w[64];
    for (int i = 0; i < nthreads; i++) {
        w[i] = (struct fd_writer){malloc(32 * MIB), 32 * MIB, &stop};
        CHECK(w[i].mem != NULL);
        CHECK(pthread_create(&t[i], NULL, fd_writer_main, &w[i]) == 0);
    }
    long checks = 0, moved = 0;
    double end = now_seconds() + seconds;
    while (now_seconds() < end) {
        int again = open("/dev/null", O_RDONLY);
        CHECK(again >= 0);
        moved += again != fd;
        checks++;
        close(again);
    }
    stop = 1;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i], NULL);
        free(w[i].mem);
    }
    printf("fd_checks=%ld\nfd_moved=%ld\n", checks, moved);
    return 0;
}

/* fork-write SIZE CHILDREN: malloc SIZE and fill it, fork CHILDREN children
 * that each check and rewrite all of it (copy-on-write of every page) while
 * the parent rewrites it too; prints how each child ended. */
static int cmd_fork_write(int argc, char **argv)
{
    CHECK(argc >= 2);
    size_t n = parse_size(argv[0]);
    int children = atoi(argv[1]);
    unsigned char *p = malloc(n);
    CHECK(p);
    fill(p, n, 21);
    pid_t pids[16];
    CHECK(children >= 1 && children <= 16);
    for (int c = 0; c < children; c++) {
        pids[c] = fork();
        CHECK(pids[c] >= 0);
        if (pids[c] == 0) {
            if (!verify(p, n, 21))
                _exit(2);
            fill(p, n, (unsigned)(40 + c));
            _exit(verify(p, n, (unsigned)(40 + c)) ? 0 : 3);
        }
    }
    fill(p, n, 33);
    int dead = 0;
    for (int c = 0; c < children; c++) {
        int status;
        CHECK(waitpid(pids[c], &status, 0) == pids[c]);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        printf("child_%d_status=%d\n", c, code);
        dead += code != 0;
    }
    CHECK(verify(p, n, 33));
    printf("children_failed=%d\n", dead);
    print_vma("", p + n / 2);
    free(p);
    return 0;
}

/* churn SECONDS [SYNC]: a program that keeps working while the kernel starts
 * saying no.  For SECONDS it mallocs, reallocs and frees objects of 64 B to
 * 12 MiB in 96 slots (each filled with its own marks, checked before every
 * free and after every realloc) and rewrites a 64 MiB mmap'd array (checked
 * at the end).  With SYNC (not "-"), halfway it writes its pid to SYNC.mid
 * and waits (up to 60 s) for SYNC.go, so that a test can change the world
 * mid-run; with "closefds" it then closes every descriptor from 3 up, as
 * daemons do; then it mallocs 64 MiB more, checked at the end.  A malloc
 * that returns NULL is counted, not fatal; a mark that changed is
 * corruption.  The totals of smaps_rollup are printed at the end, while the
 * objects are still live. */

/* A child made by the clone system call itself, as some runtimes do: no
 * fork handler runs in it.  It allocates and exits normally. */
static int cmd_raw_clone(int argc, char **argv)
{
    (void)argc, (void)argv;
    void *p = malloc(4 * MIB);
    CHECK(p);
    long pid = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
    CHECK(pid >= 0);
    if (pid == 0) {
        memset(p, 3, 4 * MIB);
        exit(0);
    }
    int status;
    CHECK(waitpid((pid_t)pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("parent_pid=%d\nchild_pid=%ld\nok\n", (int)getpid(), pid);
    free(p);
    return 0;
}

static int cmd_threads_now(int argc, char **argv)
{
    (void)argc, (void)argv;
    usleep(200000);
    printf("threads=%d\n", count_threads());
    return 0;
}

const probe_cmd_t probe_process_cmds[] = {
    {"threads", "N", cmd_threads},
    {"fork", "", cmd_fork},
    {"forkexec", "", cmd_forkexec},
    {"spawn", "", cmd_spawn},
    {"dlopen", "", cmd_dlopen},
    {"pthread-exit", "", cmd_pthread_exit},
    {"fork-from-thread", "", cmd_fork_from_thread},
    {"lowest-fd", "[SECONDS THREADS]", cmd_lowest_fd},
    {"fork-write", "SIZE CHILDREN", cmd_fork_write},
    {"raw-clone", "", cmd_raw_clone},
    {"threads-now", "", cmd_threads_now},
    {NULL, NULL, NULL},
};
