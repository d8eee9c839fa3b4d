/* Internal error helpers: fill an fr_error and return its status. */
#ifndef FR_CORE_ERROR_H
#define FR_CORE_ERROR_H

#include "frugal.h"

#if defined(__GNUC__)
#define FR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FR_PRINTF(a, b)
#endif

/* Writes the formatted message into err (if non-NULL) and returns status.
 * Usage: return fr_fail(err, FR_E_FORMAT, "%s: tensor '%s' offset past end of file", path, name); */
fr_status fr_fail(fr_error *err, fr_status status, const char *fmt, ...) FR_PRINTF(3, 4);

/* Clears err to FR_OK and an empty message (err may be NULL). */
void fr_error_clear(fr_error *err);

#endif
