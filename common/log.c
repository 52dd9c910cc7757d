/* log.c: leveled, capped diagnostics on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../os/hs_os.h"
#include "hs_log.h"

#define HS_LOG_WARN_CAP 64

static int hs_log_threshold = HS_LOG_WARN;
static unsigned hs_log_warnings;

void hs_log_set_level(int level)
{
    hs_log_threshold = level;
}

int hs_log_level(void)
{
    return hs_log_threshold;
}

void hs_log_line(const char *line)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    if (n > 0)
        hs_os_write_all(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void hs_log(hs_log_level_t level, const char *fmt, ...)
{
    if ((int)level > hs_log_threshold)
        return;
    if (level == HS_LOG_WARN) {
        unsigned seen = __atomic_fetch_add(&hs_log_warnings, 1, __ATOMIC_RELAXED);
        if (seen > HS_LOG_WARN_CAP)
            return;
        if (seen == HS_LOG_WARN_CAP) {
            hs_log_line("hugeshim: further warnings suppressed (HUGESHIM_VERBOSE=2 shows decisions)");
            return;
        }
    }
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "hugeshim[%d]: ", hs_os_getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : ((size_t)m < sizeof buf - (size_t)n - 1 ? (size_t)m : sizeof buf - (size_t)n - 2));
    buf[len++] = '\n';
    hs_os_write_all(2, buf, len);
}
