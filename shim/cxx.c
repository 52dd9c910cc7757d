/* cxx.c: C++'s operator new and delete, as stock jemalloc's library exports
 * them, so that a C++ program's allocations reach the heap without a trip
 * through libstdc++'s operators (measured: new/delete pairs at 0.86x stock
 * jemalloc before) and its sized deletes skip jemalloc's size lookup.  When
 * no memory is left, libstdc++'s own operator is called (found by dlsym): it
 * runs the new_handler and throws std::bad_alloc, which C cannot. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

#include "hs_shim.h"

void *hs_shim_malloc(size_t size);
void hs_shim_free(void *ptr);
void *hs_shim_aligned_alloc(size_t align, size_t size);
void hs_shim_free_sized(void *ptr, size_t size, size_t align);

/* libstdc++'s operator `name` (a throwing or nothrow new), to end a failed
 * allocation its way.  Without libstdc++ (impossible from C++ code) abort, as
 * an uncaught bad_alloc would. */
static __attribute__((noinline)) void *hs_cxx_failed(const char *name, size_t size, size_t align, bool nothrow)
{
    void *next = dlsym(RTLD_NEXT, name);
    if (!next) {
        if (nothrow)
            return NULL;
        abort();
    }
    if (!align)
        return nothrow ? ((void *(*)(size_t, const void *))next)(size, NULL) : ((void *(*)(size_t))next)(size);
    return nothrow ? ((void *(*)(size_t, size_t, const void *))next)(size, align, NULL)
                   : ((void *(*)(size_t, size_t))next)(size, align);
}

#define HS_NEW(name, mangled)                                                                                      \
    HS_EXPORT void *name(size_t size)                                                                              \
    {                                                                                                              \
        void *p = hs_shim_malloc(size);                                                                            \
        return hs_likely(p) ? p : hs_cxx_failed(mangled, size, 0, false);                                          \
    }
#define HS_NEW_NOTHROW(name, mangled)                                                                              \
    HS_EXPORT void *name(size_t size, const void *tag)                                                             \
    {                                                                                                              \
        (void)tag;                                                                                                 \
        void *p = hs_shim_malloc(size);                                                                            \
        return hs_likely(p) ? p : hs_cxx_failed(mangled, size, 0, true);                                           \
    }
#define HS_NEW_ALIGNED(name, mangled)                                                                              \
    HS_EXPORT void *name(size_t size, size_t align)                                                                \
    {                                                                                                              \
        void *p = hs_shim_aligned_alloc(align, size);                                                              \
        return hs_likely(p) ? p : hs_cxx_failed(mangled, size, align, false);                                      \
    }
#define HS_NEW_ALIGNED_NOTHROW(name, mangled)                                                                      \
    HS_EXPORT void *name(size_t size, size_t align, const void *tag)                                               \
    {                                                                                                              \
        (void)tag;                                                                                                 \
        void *p = hs_shim_aligned_alloc(align, size);                                                              \
        return hs_likely(p) ? p : hs_cxx_failed(mangled, size, align, true);                                       \
    }

/* operator new(size_t), new[](size_t), and their nothrow and align_val_t forms. */
HS_NEW(_Znwm, "_Znwm")
HS_NEW(_Znam, "_Znam")
HS_NEW_NOTHROW(_ZnwmRKSt9nothrow_t, "_ZnwmRKSt9nothrow_t")
HS_NEW_NOTHROW(_ZnamRKSt9nothrow_t, "_ZnamRKSt9nothrow_t")
HS_NEW_ALIGNED(_ZnwmSt11align_val_t, "_ZnwmSt11align_val_t")
HS_NEW_ALIGNED(_ZnamSt11align_val_t, "_ZnamSt11align_val_t")
HS_NEW_ALIGNED_NOTHROW(_ZnwmSt11align_val_tRKSt9nothrow_t, "_ZnwmSt11align_val_tRKSt9nothrow_t")
HS_NEW_ALIGNED_NOTHROW(_ZnamSt11align_val_tRKSt9nothrow_t, "_ZnamSt11align_val_tRKSt9nothrow_t")

/* operator delete: plain, nothrow, sized, aligned, sized and aligned; the
 * same for delete[]. */
HS_EXPORT void _ZdlPv(void *p) { hs_shim_free(p); }
HS_EXPORT void _ZdaPv(void *p) { hs_shim_free(p); }
HS_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *tag) { (void)tag, hs_shim_free(p); }
HS_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *tag) { (void)tag, hs_shim_free(p); }
HS_EXPORT void _ZdlPvm(void *p, size_t size) { hs_shim_free_sized(p, size, 0); }
HS_EXPORT void _ZdaPvm(void *p, size_t size) { hs_shim_free_sized(p, size, 0); }
HS_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t align) { (void)align, hs_shim_free(p); }
HS_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t align) { (void)align, hs_shim_free(p); }
HS_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *tag)
{
    (void)align, (void)tag, hs_shim_free(p);
}
HS_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *tag)
{
    (void)align, (void)tag, hs_shim_free(p);
}
HS_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align) { hs_shim_free_sized(p, size, align); }
HS_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align) { hs_shim_free_sized(p, size, align); }
