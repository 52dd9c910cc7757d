/* elf.c: what kind of program a path is, for `run` and `doctor` (each
 * subcommand calls down to this file, never to another subcommand). */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "hs_tools.h"

/* 1: dynamically linked ELF, 0: static ELF, -1: not ELF (a script: its
 * interpreter decides). */
int hs_tool_elf_is_dynamic(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    Elf64_Ehdr eh;
    int result = -1;
    if (read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
        eh.e_ident[EI_CLASS] == ELFCLASS64) {
        result = 0;
        for (int i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (Elf64_Off)i * eh.e_phentsize)) != (ssize_t)sizeof ph)
                break;
            if (ph.p_type == PT_INTERP)
                result = 1;
        }
    }
    close(fd);
    return result;
}
