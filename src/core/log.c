#include "ferry/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int log_rank;
static enum log_level log_level = LOG_INFO;

void log_setup(int rank, enum log_level level)
{
    log_rank = rank;
    log_level = level;
}

enum log_level log_get_level(void)
{
    return log_level;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    struct timespec now;
    struct tm tm;
    char stamp[32];

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    /* One fprintf per line, so lines from ranks sharing a stderr pipe stay whole. */
    char line[2048];
    int n = snprintf(line, sizeof line, "%s.%03ldZ [r%d] %-5s ", stamp,
                     now.tv_nsec / 1000000, log_rank, names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
