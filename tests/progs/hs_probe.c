/* hs_probe: a child program for the integration tests.  Each command does one
 * thing a real program does, checks its own data, and prints key=value lines
 * about what the kernel gave it (read from its own /proc/self/smaps), then
 * "ok".  It knows nothing of hugeshim: it runs the same with and without it.
 * The commands live in one file per area (probe_heap.c, probe_mmap.c,
 * probe_process.c, probe_track.c), each with its table; helpers in
 * probe_common.c (probe.h). */
#include "probe.h"

static const probe_cmd_t *const probe_areas[] = {probe_heap_cmds, probe_mmap_cmds, probe_process_cmds,
                                                 probe_track_cmds, probe_park_cmds};
#define PROBE_AREAS (sizeof probe_areas / sizeof probe_areas[0])

static void usage(void)
{
    fprintf(stderr, "usage: hs_probe COMMAND [ARGS], one of:\n");
    for (size_t a = 0; a < PROBE_AREAS; a++)
        for (const probe_cmd_t *c = probe_areas[a]; c->name; c++)
            fprintf(stderr, "  %s%s%s\n", c->name, c->args[0] ? " " : "", c->args);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage();
        return 2;
    }
    for (size_t a = 0; a < PROBE_AREAS; a++)
        for (const probe_cmd_t *c = probe_areas[a]; c->name; c++)
            if (!strcmp(c->name, argv[1]))
                return c->run(argc - 2, argv + 2);
    fprintf(stderr, "hs_probe: unknown command %s\n", argv[1]);
    usage();
    return 2;
}
