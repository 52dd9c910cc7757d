/* symbols.c: see hs_symbols.h. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs_symbols.h"

static struct {
    Dwfl *(*begin)(const Dwfl_Callbacks *);
    int (*proc_report)(Dwfl *, pid_t);
    void (*report_begin)(Dwfl *);
    int (*report_end)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *, Dwarf_Addr, void *), void *);
    Dwfl_Module *(*addrmodule)(Dwfl *, Dwarf_Addr);
    const char *(*addrinfo)(Dwfl_Module *, GElf_Addr, GElf_Off *, GElf_Sym *, GElf_Word *, Elf **, Dwarf_Addr *);
    const char *(*module_info)(Dwfl_Module *, void ***, Dwarf_Addr *, Dwarf_Addr *, Dwarf_Addr *, Dwarf_Addr *,
                               const char **, const char **);
    Dwfl_Line *(*getsrc)(Dwfl_Module *, Dwarf_Addr);
    const char *(*lineinfo)(Dwfl_Line *, Dwarf_Addr *, int *, int *, Dwarf_Word *, Dwarf_Word *);
    Dwfl_Callbacks callbacks;
    Dwfl *dwfl;
} hs_dw;

static char *(*hs_demangle)(const char *, char *, size_t *, int *);
static const char *hs_name = "none";
static char *hs_debuginfo_path;

static void hs_symbols_open(void)
{
    static int tried;
    if (tried)
        return;
    tried = 1;
    hs_demangle = (char *(*)(const char *, char *, size_t *, int *))dlsym(RTLD_DEFAULT, "__cxa_demangle");
    hs_name = "dladdr";
    void *lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
#define HS_DW(field, sym) *(void **)&hs_dw.field = dlsym(lib, sym)
    HS_DW(begin, "dwfl_begin");
    HS_DW(proc_report, "dwfl_linux_proc_report");
    HS_DW(report_begin, "dwfl_report_begin");
    HS_DW(report_end, "dwfl_report_end");
    HS_DW(addrmodule, "dwfl_addrmodule");
    HS_DW(addrinfo, "dwfl_module_addrinfo");
    HS_DW(module_info, "dwfl_module_info");
    HS_DW(getsrc, "dwfl_module_getsrc");
    HS_DW(lineinfo, "dwfl_lineinfo");
    HS_DW(callbacks.find_elf, "dwfl_linux_proc_find_elf");
    HS_DW(callbacks.find_debuginfo, "dwfl_standard_find_debuginfo");
#undef HS_DW
    if (!hs_dw.begin || !hs_dw.proc_report || !hs_dw.report_begin || !hs_dw.report_end || !hs_dw.addrmodule ||
        !hs_dw.addrinfo || !hs_dw.module_info || !hs_dw.getsrc || !hs_dw.lineinfo || !hs_dw.callbacks.find_elf ||
        !hs_dw.callbacks.find_debuginfo)
        return;
    hs_dw.callbacks.debuginfo_path = &hs_debuginfo_path;
    hs_dw.dwfl = hs_dw.begin(&hs_dw.callbacks);
    if (!hs_dw.dwfl)
        return;
    hs_dw.report_begin(hs_dw.dwfl);
    if (hs_dw.proc_report(hs_dw.dwfl, getpid()) != 0 || hs_dw.report_end(hs_dw.dwfl, NULL, NULL) != 0) {
        hs_dw.dwfl = NULL;
        return;
    }
    hs_name = "libdw";
}

static const char *hs_base(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "?";
}

static void hs_pretty(const char *name, char *out, size_t cap)
{
    int status = -1;
    char *d = hs_demangle && name[0] == '_' && name[1] == 'Z' ? hs_demangle(name, NULL, NULL, &status) : NULL;
    snprintf(out, cap, "%s", d && status == 0 ? d : name);
    free(d);
}

void hs_symbolize(uintptr_t ip, char *out, size_t cap)
{
    hs_symbols_open();
    uintptr_t call = ip ? ip - 1 : ip;
    char fn[256] = "??";
    if (hs_dw.dwfl) {
        Dwfl_Module *mod = hs_dw.addrmodule(hs_dw.dwfl, call);
        if (mod) {
            GElf_Off off = 0;
            GElf_Sym sym;
            const char *name = hs_dw.addrinfo(mod, call, &off, &sym, NULL, NULL, NULL);
            const char *object = hs_dw.module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
            if (name)
                hs_pretty(name, fn, sizeof fn);
            Dwfl_Line *line = hs_dw.getsrc(mod, call);
            int lineno = 0;
            const char *file = line ? hs_dw.lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
            if (file && lineno > 0)
                snprintf(out, cap, "%s+0x%llx (%s) %s:%d", fn, (unsigned long long)(name ? off + 1 : 0),
                         hs_base(object), hs_base(file), lineno);
            else
                snprintf(out, cap, "%s+0x%llx (%s)", fn, (unsigned long long)(name ? off + 1 : 0), hs_base(object));
            return;
        }
    }
    Dl_info info;
    if (dladdr((void *)call, &info) && info.dli_fname) {
        if (info.dli_sname)
            hs_pretty(info.dli_sname, fn, sizeof fn);
        snprintf(out, cap, "%s+0x%lx (%s)", fn,
                 (unsigned long)(ip - (uintptr_t)(info.dli_sname ? info.dli_saddr : info.dli_fbase)),
                 hs_base(info.dli_fname));
        return;
    }
    snprintf(out, cap, "0x%lx", (unsigned long)ip);
}

const char *hs_symbolizer_name(void)
{
    hs_symbols_open();
    return hs_name;
}
