/*
 * util.c — error reporting shared by the library layers, and the table of
 * status-code descriptions behind quire_strerror.
 */
#include "index/util.h"

#include <stdarg.h>
#include <stdio.h>

static int qerr_v(quire_error *err, int code, size_t column, const char *fmt,
                  va_list ap)
{
    if (err) {
        err->code = code;
        err->column = column;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return code;
}

int qerr(quire_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qerr_v(err, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int qerr_col(quire_error *err, int code, size_t column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qerr_v(err, code, column, fmt, ap);
    va_end(ap);
    return code;
}

const char *quire_strerror(int code)
{
    switch (code) {
    case QUIRE_OK: return "ok";
    case QUIRE_EARG: return "invalid argument";
    case QUIRE_ENOMEM: return "out of memory";
    case QUIRE_EIO: return "i/o error";
    case QUIRE_ECORRUPT: return "corrupt index";
    case QUIRE_EVERSION: return "unsupported index format version";
    case QUIRE_ENOTFOUND: return "not found";
    case QUIRE_EQUERY: return "malformed query";
    case QUIRE_EINPUT: return "malformed input";
    case QUIRE_ELOCKED: return "index is locked by another writer";
    default: return "unknown error";
    }
}
