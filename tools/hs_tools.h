/* hs_tools.h: the launcher's subcommands. */
#ifndef HS_TOOLS_H
#define HS_TOOLS_H

#include <stdbool.h>

int hs_tool_doctor(int argc, char **argv);
int hs_tool_stats(int argc, char **argv);
int hs_tool_heatmap(int argc, char **argv);
int hs_tool_pool(int argc, char **argv);
/* stats: reports as text (stats.c) or Prometheus text (metrics.c); a
 * folder of reports added up per program. */
struct json_t;
void hs_stats_print_report(struct json_t *root, bool all);
/* The value at a dotted path of a report ("kernel.anon_huge_peak_bytes"), NULL if absent. */
struct json_t *hs_at(struct json_t *root, const char *path);
int hs_tool_metrics(const char *format, const char *sum_dir, char **files, int nfiles, bool all);
/* 1 dynamic ELF, 0 static ELF, -1 not an ELF file (a script). */
int hs_tool_elf_is_dynamic(const char *path);

#endif
