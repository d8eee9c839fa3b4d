/* Shared helpers for the frugal subcommands: option values parsed strictly (the whole string,
 * range-checked), each failure reported as one line "frugal <cmd>: <opt>: <problem>". */
#ifndef FR_CLI_UTIL_H
#define FR_CLI_UTIL_H

#include <stdbool.h>
#include <stdint.h>

/* Returns argv[*i + 1] and advances *i, or prints "frugal CMD: OPT: missing value" and
 * returns NULL. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Parses a decimal integer in [lo, hi]; on failure prints a one-line message naming opt
 * ("not an integer", "must be in [lo, hi]") and returns false. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                   long long *out);
/* Parses a non-negative integer up to UINT64_MAX. */
bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* Parses a finite number in [lo, hi]. */
bool cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out);

/* Prints "frugal CMD: " + the formatted message + newline on stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Monotonic clock in seconds. */
double cli_now(void);

/* The last component of a path. */
const char *cli_basename(const char *path);

#endif
