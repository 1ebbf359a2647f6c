#include "ferry/err.h"

#include <stdio.h>
#include <string.h>

static int err_vset(struct ferry_error *err, int code, int errnum,
                    const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (errnum && n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(errnum));
    return code;
}

int err_set(struct ferry_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int err_sys(struct ferry_error *err, int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, errnum, fmt, ap);
    va_end(ap);
    return code;
}

int err_exit_status(int code)
{
    switch (code) {
    case FERRY_OK:         return 0;
    case FERRY_EFAIL:      return 1;
    case FERRY_EINTEGRITY: return 1;
    case FERRY_EUSAGE:     return 2;
    case FERRY_EAUTH:      return 3;
    case FERRY_ENOTFOUND:  return 4;
    case FERRY_EPREFLIGHT: return 5;
    case FERRY_EINTR:      return 75;
    default:               return 1;
    }
}
