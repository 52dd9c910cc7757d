/* hs_thread.h: hugeshim's own threads (the epoch thread, uffd_sync's fault
 * thread, the files thread).  Each starts with every signal blocked, so the
 * program's handlers never run on it and signals meant for the program go to
 * the program's threads, and is known by its tid while it runs: placement
 * leaves hugeshim's threads out of "where the program runs", and the epoch
 * thread counts the program's threads as all live threads but these. */
#ifndef HS_THREAD_H
#define HS_THREAD_H

#include <pthread.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Start main_fn(NULL) on a thread named name (at most 15 characters).
 * 0 or a pthread error number (EAGAIN also when every slot is taken). */
int hs_thread_start(pthread_t *thread, void *(*main_fn)(void *), const char *name);
/* Whether tid is one of hugeshim's threads, running now. */
bool hs_thread_is_own(int tid);
/* hugeshim's threads started and not yet returned. */
int hs_thread_own_count(void);
/* In a forked child: none of them exists there. */
void hs_thread_forget_after_fork(void);

/* The files thread: its descriptor table is its own and holds nothing of
 * the program's, and the /proc, /sys and report files hugeshim opens while
 * the program runs are opened, read or written and closed there (os/'s
 * hs_os_set_apart), so the program never finds its next descriptor number
 * taken for a moment.  The epoch thread starts it and stops it; without it
 * the calls open on the calling thread.  0 or a pthread error number. */
int hs_thread_files_start(void);
void hs_thread_files_stop(void);

#ifdef __cplusplus
}
#endif
#endif
