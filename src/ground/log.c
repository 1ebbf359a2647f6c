#include "ferry/log.h"
#include "ferry/escape.h"

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

    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (len < 0)
        len = 0;
    else if ((size_t)len >= sizeof message)
        len = sizeof message - 1;
    /* A record is one line, and the names it quotes are escaped: a name
     * from an archive or a listing can neither fake a line of its own nor
     * send the terminal a sequence. */
    char shown[4 * sizeof message];
    escape_display_into(shown, sizeof shown, message, (size_t)len);
    /* One fprintf per line, so lines from ranks sharing a stderr pipe stay whole. */
    fprintf(stderr, "%s.%03ldZ [r%d] %-5s %s\n", stamp, now.tv_nsec / 1000000, log_rank,
            names[level], shown);
}
