/* hs_forkguard.h: no forked child dies because of hugeshim's hugetlb heap.
 *
 * A private hugetlb page shared by parent and child after fork needs a free
 * pool page when either writes it (copy-on-write); with none the kernel kills
 * the child with SIGBUS ("killed due to inadequate hugepage pool"), even when
 * the parent is the writer (the page is unmapped from the child).  So at each
 * fork (pthread_atfork prepare), hugeshim counts the hugetlb pages it maps and
 * the children that may still share them; if the pool's free, unreserved
 * pages cover them all, the fork shares as usual.  Otherwise the parent
 * copies the resident huge pages into fresh anonymous THP regions, marks its
 * hugetlb regions MADV_DONTFORK, and the child moves the copies to the same
 * addresses (mremap): the child owns ordinary THP memory with the same data,
 * the parent keeps its hugetlb pages untouched.  Cost: one copy of the
 * resident hugetlb heap per fork while the pool is short (counted in fork.*).
 * vfork/posix_spawn children share the parent's memory and need nothing. */
#ifndef HS_FORKGUARD_H
#define HS_FORKGUARD_H

#ifdef __cplusplus
extern "C" {
#endif

/* Called before hugeshim takes its fork locks, and after it releases them. */
void hs_forkguard_prefork(void);
void hs_forkguard_postfork_parent(void);
void hs_forkguard_postfork_child(void);

#ifdef __cplusplus
}
#endif
#endif
