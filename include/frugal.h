/*
 * frugal — an inference runtime that does less work for the same answer.
 *
 * Public C API. Every fallible call returns an fr_status and, when the caller
 * passes a non-NULL fr_error, writes a one-line message into it that names the
 * file or option and what is wrong. The library never aborts or exits on bad
 * input; handles are opaque and owned by the caller, who frees them.
 *
 * The API is split by subsystem:
 *   frugal_llm.h  — Llama-family GGUF models: load, tokenize, batched decode, sample.
 *   frugal_spec.h — speculative decoding with online choice of draft length and draft.
 *   frugal_cnn.h  — int8/float TFLite CNNs in a caller-provided arena (no malloc after load).
 */
#ifndef FRUGAL_H
#define FRUGAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fr_status {
    FR_OK = 0,
    FR_E_IO = 1,          /* file cannot be opened, read or mapped */
    FR_E_FORMAT = 2,      /* file is malformed: bad magic, truncated, offsets out of range, ... */
    FR_E_ARG = 3,         /* an argument or option is out of range or inconsistent */
    FR_E_NOMEM = 4,       /* an allocation failed, or a caller-provided arena is too small */
    FR_E_UNSUPPORTED = 5, /* well-formed but uses a feature frugal does not implement */
    FR_E_RANGE = 6,       /* an output buffer is too small, or a context/position limit is hit */
    FR_E_INTERNAL = 7     /* a bug in frugal: please report it */
} fr_status;

#define FR_ERROR_MSG_MAX 512

/* A status with its message. Zero-initialise it; a call that fails fills it. The message is
 * one line: control characters of names quoted from a file are written as '?'. */
typedef struct fr_error {
    fr_status status;
    char msg[FR_ERROR_MSG_MAX];
} fr_error;

/* A short constant name for a status ("ok", "io error", "format error", ...). */
const char *fr_status_str(fr_status status);

#ifdef __cplusplus
}
#endif

#include "frugal_llm.h"
#include "frugal_spec.h"
#include "frugal_cnn.h"

#endif /* FRUGAL_H */
