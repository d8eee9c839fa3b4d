/* Internal error helpers: fill an fr_error and return its status. */
#ifndef FR_CORE_ERROR_H
#define FR_CORE_ERROR_H

#include <stdint.h>

#include "frugal.h"

#if defined(__GNUC__)
#define FR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FR_PRINTF(a, b)
#endif

/* Writes the formatted message into err (if non-NULL) and returns status.
 * Usage: return fr_fail(err, FR_E_FORMAT, "%s: tensor '%s' offset past end of file", path, name); */
fr_status fr_fail(fr_error *err, fr_status status, const char *fmt, ...) FR_PRINTF(3, 4);

/* Decimal text of a 64-bit value for messages, into buf (FR_NUM_STR bytes); returns buf.
 * Messages print sizes and counts with "%s" and FR_NUM / FR_SNUM, not %zu or %lld: the
 * firmware's printf (newlib-nano) has neither the z nor the ll length modifier. */
#define FR_NUM_STR 24
const char *fr_num_str(char *buf, uint64_t v);
const char *fr_snum_str(char *buf, int64_t v);
/* The same in a temporary that lives until the end of the enclosing block. */
#define FR_NUM(v) fr_num_str((char[FR_NUM_STR]){0}, (uint64_t)(v))
#define FR_SNUM(v) fr_snum_str((char[FR_NUM_STR]){0}, (int64_t)(v))

/* Clears err to FR_OK and an empty message (err may be NULL). */
void fr_error_clear(fr_error *err);

#endif
