/* hs_log.h: diagnostics with levels and a cap, formatted into a stack buffer
 * and written with one write(2): safe inside malloc and at exit. */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hs_log_level { HS_LOG_WARN = 0, HS_LOG_INFO = 1, HS_LOG_DEBUG = 2 } hs_log_level_t;

/* Messages above this level are dropped (HUGESHIM_VERBOSE). */
void hs_log_set_level(int level);
int hs_log_level(void);

/* "hugeshim[pid]: <message>\n" on stderr.  Warnings stop after a cap, with
 * one line saying so. */
__attribute__((format(printf, 2, 3))) void hs_log(hs_log_level_t level, const char *fmt, ...);

/* A warning printed at most once per flag (one flag per cause). */
#define hs_warn_once(flag, ...)                                                                    \
    do {                                                                                           \
        static int flag;                                                                           \
        if (!__atomic_exchange_n(&flag, 1, __ATOMIC_RELAXED))                                      \
            hs_log(HS_LOG_WARN, __VA_ARGS__);                                                      \
    } while (0)

/* The same at HS_LOG_INFO: news a user asked for with HUGESHIM_VERBOSE=1
 * but that every process of a program tree must not print by default. */
#define hs_info_once(flag, ...)                                                                    \
    do {                                                                                           \
        static int flag;                                                                           \
        if (hs_log_level() >= HS_LOG_INFO && !__atomic_exchange_n(&flag, 1, __ATOMIC_RELAXED))     \
            hs_log(HS_LOG_INFO, __VA_ARGS__);                                                      \
    } while (0)

/* Write a complete line to stderr as it is (used for option problems, which
 * are formatted by the option parser). */
void hs_log_line(const char *line);

#ifdef __cplusplus
}
#endif
#endif
