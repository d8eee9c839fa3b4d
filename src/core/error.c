#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *fr_status_str(fr_status status) {
    switch (status) {
    case FR_OK: return "ok";
    case FR_E_IO: return "i/o error";
    case FR_E_FORMAT: return "format error";
    case FR_E_ARG: return "invalid argument";
    case FR_E_NOMEM: return "out of memory";
    case FR_E_UNSUPPORTED: return "unsupported";
    case FR_E_RANGE: return "out of range";
    case FR_E_INTERNAL: return "internal error";
    }
    return "unknown status";
}

fr_status fr_fail(fr_error *err, fr_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* one line whatever a file put in the names it quotes: control characters -> '?' */
        for (char *c = err->msg; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    }
    return status;
}

const char *fr_num_str(char *buf, uint64_t v) {
    char tmp[FR_NUM_STR];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

const char *fr_snum_str(char *buf, int64_t v) {
    if (v >= 0) return fr_num_str(buf, (uint64_t)v);
    buf[0] = '-';
    fr_num_str(buf + 1, (uint64_t)0 - (uint64_t)v); /* INT64_MIN too */
    return buf;
}

void fr_error_clear(fr_error *err) {
    if (err) {
        err->status = FR_OK;
        err->msg[0] = '\0';
    }
}
