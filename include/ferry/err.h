/* Error codes and the error record every library function fills.
 *
 * Library functions return 0 or a negative ferry_err and write a message that
 * names the file or URL and the cause.  Only the CLI turns an error into an
 * exit status (err_exit_status). */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

#include <stdarg.h>

enum ferry_err {
    FERRY_OK = 0,
    FERRY_EFAIL = -1,        /* an item failed; the job goes on */
    FERRY_EUSAGE = -2,       /* bad command line or config */
    FERRY_EAUTH = -3,        /* authentication or permission */
    FERRY_ENOTFOUND = -4,    /* repo, revision, path */
    FERRY_EPREFLIGHT = -5,   /* disk space, lock held, not writable */
    FERRY_EINTEGRITY = -6,   /* the bytes do not match their hash: fetch again */
    FERRY_EINTR = -75,       /* interrupted by a signal; safe to resume */
};

#define FERRY_ERRMSG_MAX 512

struct ferry_error {
    int code;
    char msg[FERRY_ERRMSG_MAX];
};

/* Fill err (if not NULL) and return code, so callers can write
 * `return err_set(err, FERRY_EUSAGE, "...", ...);`. */
int err_set(struct ferry_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like err_set, with ": strerror(errnum)" appended. */
int err_sys(struct ferry_error *err, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The exit status DESIGN.md gives each code: 0, 1, 2, 3, 4, 5 or 75. */
int err_exit_status(int code);

#endif
