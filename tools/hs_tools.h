/* hs_tools.h: the launcher's subcommands. */
#ifndef HS_TOOLS_H
#define HS_TOOLS_H

int hs_tool_doctor(int argc, char **argv);
int hs_tool_stats(int argc, char **argv);
int hs_tool_heatmap(int argc, char **argv);
/* 1 dynamic ELF, 0 static ELF, -1 not an ELF file (a script). */
int hs_tool_elf_is_dynamic(const char *path);

#endif
