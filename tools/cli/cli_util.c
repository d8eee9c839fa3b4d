/* Shared option-parsing helpers of the CLI; see cli_util.h. */
#include "cli_util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "frugal %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_error(cmd, "%s: missing value", argv[*i]);
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

bool cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                   long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = (s && *s && !isspace((unsigned char)*s)) ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || isspace((unsigned char)*s) || !end || *end != '\0' || errno == ERANGE) {
        cli_error(cmd, "%s: '%s' is not an integer", opt, s ? s : "");
        return false;
    }
    if (v < lo || v > hi) {
        cli_error(cmd, "%s: %lld must be in [%lld, %lld]", opt, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    if (!s || !isdigit((unsigned char)*s)) {
        cli_error(cmd, "%s: '%s' is not a non-negative integer", opt, s ? s : "");
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE) {
        cli_error(cmd, "%s: '%s' is not a non-negative 64-bit integer", opt, s);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out) {
    char *end = NULL;
    errno = 0;
    double v = (s && *s && !isspace((unsigned char)*s)) ? strtod(s, &end) : 0.0;
    if (!s || !*s || isspace((unsigned char)*s) || !end || *end != '\0' || errno == ERANGE ||
        !isfinite(v)) {
        cli_error(cmd, "%s: '%s' is not a finite number", opt, s ? s : "");
        return false;
    }
    if (v < lo || v > hi) {
        cli_error(cmd, "%s: %g must be in [%g, %g]", opt, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *cli_basename(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}
