/* One logging macro for the whole program: time, rank, level, message.
 * Messages go to stderr; errors name the file or URL and the cause.
 * Never pass a secret to these functions. */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* rank is printed in every line; level is the most verbose level shown. */
void log_setup(int rank, enum log_level level);
enum log_level log_get_level(void);

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define FLOG(level, ...)                                                       \
    do {                                                                       \
        if ((level) <= log_get_level())                                        \
            log_write((level), __VA_ARGS__);                                   \
    } while (0)

#endif
