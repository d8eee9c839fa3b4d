/* GGUF reader and writer (versions 2 and 3).
 *
 * Format (little-endian):
 *   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv        (v1 used u32 counts: rejected)
 *   n_kv x { string key | u32 value_type | value }
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to `general.alignment` (u32 key, default 32), then the tensor data blob;
 *   each tensor's offset is relative to the blob start and must be a multiple of the alignment.
 *   string = u64 length + bytes (no NUL). value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32,
 *   6 f32, 7 bool, 8 string, 9 array (u32 elem type + u64 count + elems; arrays may nest),
 *   10 u64, 11 i64, 12 f64.
 *
 * The reader maps the file read-only (or reads a caller buffer without copying it), checks
 * every count, length and offset against the file size once at open, and never aborts:
 * any malformed input gives FR_E_FORMAT with a message naming the file and the problem.
 * Tensor data must lie inside the file, aligned, and tensors must not overlap.
 */
#ifndef FR_GGUF_H
#define FR_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frugal.h"

typedef enum fr_gguf_vtype {
    FR_GGUF_U8 = 0, FR_GGUF_I8 = 1, FR_GGUF_U16 = 2, FR_GGUF_I16 = 3,
    FR_GGUF_U32 = 4, FR_GGUF_I32 = 5, FR_GGUF_F32 = 6, FR_GGUF_BOOL = 7,
    FR_GGUF_STRING = 8, FR_GGUF_ARRAY = 9, FR_GGUF_U64 = 10, FR_GGUF_I64 = 11,
    FR_GGUF_F64 = 12,
    FR_GGUF_VTYPE_COUNT
} fr_gguf_vtype;

typedef struct fr_gguf fr_gguf;

/* A string inside the mapped file: not NUL-terminated. */
typedef struct fr_gguf_str {
    const char *ptr;
    uint64_t len;
} fr_gguf_str;

/* An array value. For arrays of scalars, `data` points at the packed elements in the file
 * (possibly unaligned: read with memcpy). For arrays of strings or nested arrays, use
 * fr_gguf_arr_str / fr_gguf_arr_sub. */
typedef struct fr_gguf_arr {
    fr_gguf_vtype type;   /* element type */
    uint64_t n;           /* element count */
    const uint8_t *data;  /* first element's encoding */
    const fr_gguf *owner;
} fr_gguf_arr;

typedef struct fr_gguf_tensor {
    fr_gguf_str name;
    uint32_t n_dims;       /* 1..4 */
    uint64_t ne[4];        /* ne[0] is the contiguous (row) dimension; unused dims are 1 */
    uint32_t type;         /* fr_type (ggml type id) */
    uint64_t offset;       /* relative to the data blob */
    uint64_t size;         /* bytes */
    const void *data;      /* pointer into the mapping */
} fr_gguf_tensor;

/* Opening. `name` is used in messages (the path for files). */
fr_status fr_gguf_open(const char *path, fr_gguf **out, fr_error *err);
fr_status fr_gguf_open_buffer(const void *data, size_t size, const char *name,
                              fr_gguf **out, fr_error *err);
void fr_gguf_close(fr_gguf *g);

const char *fr_gguf_name(const fr_gguf *g);
uint32_t fr_gguf_version(const fr_gguf *g);
uint32_t fr_gguf_alignment(const fr_gguf *g);
const void *fr_gguf_data_base(const fr_gguf *g);

/* Key/value metadata. Index lookups return -1 when the key is absent. */
int64_t fr_gguf_n_kv(const fr_gguf *g);
int64_t fr_gguf_find_key(const fr_gguf *g, const char *key);
fr_gguf_str fr_gguf_key(const fr_gguf *g, int64_t i);
fr_gguf_vtype fr_gguf_kv_type(const fr_gguf *g, int64_t i);

/* Typed getters by key. Absent key: FR_E_FORMAT "missing key"; wrong type: FR_E_FORMAT
 * naming the key, the expected and the actual type. Integer getters accept any integer
 * type whose value fits; fr_gguf_get_f32 accepts f32 and f64. */
fr_status fr_gguf_get_u32(const fr_gguf *g, const char *key, uint32_t *out, fr_error *err);
fr_status fr_gguf_get_i64(const fr_gguf *g, const char *key, int64_t *out, fr_error *err);
fr_status fr_gguf_get_f32(const fr_gguf *g, const char *key, float *out, fr_error *err);
fr_status fr_gguf_get_bool(const fr_gguf *g, const char *key, bool *out, fr_error *err);
fr_status fr_gguf_get_str(const fr_gguf *g, const char *key, fr_gguf_str *out, fr_error *err);
fr_status fr_gguf_get_arr(const fr_gguf *g, const char *key, fr_gguf_arr *out, fr_error *err);
/* Same, by index (for listing all metadata). */
fr_status fr_gguf_kv_arr(const fr_gguf *g, int64_t i, fr_gguf_arr *out, fr_error *err);
/* Formats the value of kv i as text for display (arrays: type, count and the first few). */
void fr_gguf_kv_format(const fr_gguf *g, int64_t i, char *buf, size_t cap);

/* Array element access; i must be < arr->n and the element type must match. */
fr_status fr_gguf_arr_str(const fr_gguf_arr *arr, uint64_t i, fr_gguf_str *out, fr_error *err);
fr_status fr_gguf_arr_sub(const fr_gguf_arr *arr, uint64_t i, fr_gguf_arr *out, fr_error *err);
/* Scalar element as a double / int64 (any numeric or bool element type). */
double fr_gguf_arr_f64(const fr_gguf_arr *arr, uint64_t i);
int64_t fr_gguf_arr_i64(const fr_gguf_arr *arr, uint64_t i);

/* Tensors. */
int64_t fr_gguf_n_tensors(const fr_gguf *g);
const fr_gguf_tensor *fr_gguf_tensor_at(const fr_gguf *g, int64_t i);
const fr_gguf_tensor *fr_gguf_find_tensor(const fr_gguf *g, const char *name); /* NULL if absent */

/* Compare a fr_gguf_str with a C string. */
bool fr_gguf_str_eq(fr_gguf_str s, const char *c);

/* Name of a value type ("u8" ... "f64"), "invalid" for anything else. */
const char *fr_gguf_vtype_name(uint32_t type);

/* ---- Writer: collect metadata and tensors in memory order, then write one file. ---- */
typedef struct fr_gguf_writer fr_gguf_writer;

fr_status fr_gguf_writer_create(fr_gguf_writer **out, fr_error *err);
void fr_gguf_writer_free(fr_gguf_writer *w);
/* Values are copied. */
fr_status fr_gguf_writer_set_u32(fr_gguf_writer *w, const char *key, uint32_t v, fr_error *err);
fr_status fr_gguf_writer_set_i32(fr_gguf_writer *w, const char *key, int32_t v, fr_error *err);
fr_status fr_gguf_writer_set_f32(fr_gguf_writer *w, const char *key, float v, fr_error *err);
fr_status fr_gguf_writer_set_bool(fr_gguf_writer *w, const char *key, bool v, fr_error *err);
fr_status fr_gguf_writer_set_str(fr_gguf_writer *w, const char *key, const char *v, fr_error *err);
/* Array of scalars of type `type` (not STRING/ARRAY), n elements packed in `data`. */
fr_status fr_gguf_writer_set_arr(fr_gguf_writer *w, const char *key, fr_gguf_vtype type,
                                 const void *data, uint64_t n, fr_error *err);
fr_status fr_gguf_writer_set_arr_str(fr_gguf_writer *w, const char *key,
                                     const char *const *strs, uint64_t n, fr_error *err);
/* Tensor: ne[0] contiguous; data (size = row bytes * rows) is copied or, if `borrow`, kept
 * by pointer until the write. */
fr_status fr_gguf_writer_add_tensor(fr_gguf_writer *w, const char *name, uint32_t type,
                                    uint32_t n_dims, const uint64_t *ne, const void *data,
                                    bool borrow, fr_error *err);
/* One scalar of any fixed-size type (not STRING/ARRAY); v points at one value of that type. */
fr_status fr_gguf_writer_set_scalar(fr_gguf_writer *w, const char *key, fr_gguf_vtype type,
                                    const void *v, fr_error *err);
/* One element of an array of arrays: n scalars packed in data, or (type STRING) n strings
 * given as `const char *const *` in data. */
typedef struct fr_gguf_writer_sub {
    fr_gguf_vtype type;
    const void *data;
    uint64_t n;
} fr_gguf_writer_sub;
fr_status fr_gguf_writer_set_arr_arr(fr_gguf_writer *w, const char *key,
                                     const fr_gguf_writer_sub *subs, uint64_t n, fr_error *err);
/* Writes version 3 with the given alignment (32 if 0). Keys are written in the order set,
 * tensors in the order added, each tensor's data aligned and padded to the alignment.
 * A non-default alignment is recorded as general.alignment (u32). */
fr_status fr_gguf_writer_write(fr_gguf_writer *w, const char *path, uint32_t alignment, fr_error *err);

#endif
