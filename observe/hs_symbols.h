/* hs_symbols.h: turning return addresses into "function+0x1c (object)
 * file:line" at report time.  elfutils' libdw (Debian libdw1), loaded with
 * dlopen only when a report has sites to print, reads .symtab and DWARF
 * (including separate debug files); without it dladdr() names exported
 * functions only.  C++ names are demangled when the program has libstdc++.
 * Allocates: never call it on the allocation path. */
#ifndef HS_SYMBOLS_H
#define HS_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ip is a return address (the line looked up is the call's, ip - 1). */
void hs_symbolize(uintptr_t ip, char *out, size_t cap);
/* "libdw", "dladdr" (libdw missing), or "none" before the first call. */
const char *hs_symbolizer_name(void);

#ifdef __cplusplus
}
#endif
#endif
