/* Bounds-checked reader for TFLite FlatBuffer files, read in place.
 *
 * FlatBuffers binary format (little endian), as far as TFLite uses it:
 *   file[0..4)   uoffset (u32) of the root table (relative to offset 0)
 *   file[4..8)   file identifier "TFL3"
 *   table at T:  i32 soffset; its vtable is at T - soffset
 *   vtable at V: u16 vtable bytes, u16 table bytes, then one u16 per field: the field's
 *                offset inside the table, 0 = absent (the schema default applies)
 *   reference:   a u32 field at P points to P + value (tables, vectors, strings)
 *   vector:      u32 element count, then the elements (tables: one u32 reference each)
 *   string:      a vector of bytes followed by a NUL
 *   union:       a u8 type field (id N) and a reference field (id N + 1)
 *
 * Every access checks the position against the buffer length (no read outside
 * [buf, buf + len)), uses memcpy for unaligned loads, and fails with FR_E_FORMAT and a
 * one-line message naming the file and the object. There is no recursion: TFLite's
 * object graph is walked with a fixed nesting depth. Nothing here allocates.
 */
#ifndef FR_CNN_TFLITE_READER_H
#define FR_CNN_TFLITE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "frugal.h"

/* A FlatBuffer in memory; name is used in error messages (a file name or "model"). */
typedef struct fr_fb {
    const uint8_t *buf;
    size_t len;
    const char *name;
} fr_fb;

/* A validated table: position, its vtable, and their sizes. */
typedef struct fr_fb_table {
    size_t pos;
    size_t vt;
    uint32_t vt_size;
    uint32_t tbl_size;
} fr_fb_table;

/* A validated vector: position of element 0 and the element count. n == 0 when absent. */
typedef struct fr_fb_vec {
    size_t pos;
    uint32_t n;
} fr_fb_vec;

/* Checks the length (>= 8 bytes, < 2 GiB) and the "TFL3" identifier. */
fr_status fr_fb_init(fr_fb *fb, const void *buf, size_t len, const char *name, fr_error *err);

/* The root table (the Model). */
fr_status fr_fb_root(const fr_fb *fb, fr_fb_table *t, fr_error *err);

/* Validates the table at pos. `what` names it in messages ("tensor 3"). */
fr_status fr_fb_table_at(const fr_fb *fb, size_t pos, fr_fb_table *t, const char *what,
                         fr_error *err);

/* Scalar fields: *out receives the field or def when absent. */
fr_status fr_fb_u8(const fr_fb *fb, const fr_fb_table *t, int id, uint8_t def, uint8_t *out,
                   const char *what, fr_error *err);
fr_status fr_fb_i8(const fr_fb *fb, const fr_fb_table *t, int id, int8_t def, int8_t *out,
                   const char *what, fr_error *err);
fr_status fr_fb_i32(const fr_fb *fb, const fr_fb_table *t, int id, int32_t def, int32_t *out,
                    const char *what, fr_error *err);
fr_status fr_fb_u32(const fr_fb *fb, const fr_fb_table *t, int id, uint32_t def,
                    uint32_t *out, const char *what, fr_error *err);
fr_status fr_fb_u64(const fr_fb *fb, const fr_fb_table *t, int id, uint64_t def,
                    uint64_t *out, const char *what, fr_error *err);
fr_status fr_fb_f32(const fr_fb *fb, const fr_fb_table *t, int id, float def, float *out,
                    const char *what, fr_error *err);

/* A table field: *present = 0 when absent (t_out untouched). */
fr_status fr_fb_subtable(const fr_fb *fb, const fr_fb_table *t, int id, fr_fb_table *out,
                         int *present, const char *what, fr_error *err);

/* A vector field of elem_size-byte elements; absent gives n = 0. */
fr_status fr_fb_vector(const fr_fb *fb, const fr_fb_table *t, int id, size_t elem_size,
                       fr_fb_vec *v, const char *what, fr_error *err);

/* Element i of a vector of tables. */
fr_status fr_fb_vec_table(const fr_fb *fb, const fr_fb_vec *v, uint32_t i, fr_fb_table *out,
                          const char *what, fr_error *err);

/* A string field (NUL-terminated inside the buffer, checked). Absent gives "" and 0. */
fr_status fr_fb_string(const fr_fb *fb, const fr_fb_table *t, int id, const char **s,
                       uint32_t *n, const char *what, fr_error *err);

/* Unchecked element loads from a validated vector (i < v->n is the caller's duty). */
int32_t fr_fb_vec_i32(const fr_fb *fb, const fr_fb_vec *v, uint32_t i);
int64_t fr_fb_vec_i64(const fr_fb *fb, const fr_fb_vec *v, uint32_t i);
float fr_fb_vec_f32(const fr_fb *fb, const fr_fb_vec *v, uint32_t i);

/* ------------------------------------------------------------------------------------ */
/* TFLite schema (tensorflow/lite/schema/schema.fbs): field ids of the tables we read.  */

enum {
    FR_TFL_MODEL_VERSION = 0, FR_TFL_MODEL_OPCODES = 1, FR_TFL_MODEL_SUBGRAPHS = 2,
    FR_TFL_MODEL_DESCRIPTION = 3, FR_TFL_MODEL_BUFFERS = 4,

    FR_TFL_SG_TENSORS = 0, FR_TFL_SG_INPUTS = 1, FR_TFL_SG_OUTPUTS = 2,
    FR_TFL_SG_OPERATORS = 3, FR_TFL_SG_NAME = 4,

    FR_TFL_TENSOR_SHAPE = 0, FR_TFL_TENSOR_TYPE = 1, FR_TFL_TENSOR_BUFFER = 2,
    FR_TFL_TENSOR_NAME = 3, FR_TFL_TENSOR_QUANT = 4, FR_TFL_TENSOR_IS_VARIABLE = 5,
    FR_TFL_TENSOR_SPARSITY = 6,

    FR_TFL_Q_MIN = 0, FR_TFL_Q_MAX = 1, FR_TFL_Q_SCALE = 2, FR_TFL_Q_ZERO_POINT = 3,
    FR_TFL_Q_DETAILS_TYPE = 4, FR_TFL_Q_DETAILS = 5, FR_TFL_Q_QDIM = 6,

    FR_TFL_OP_OPCODE_INDEX = 0, FR_TFL_OP_INPUTS = 1, FR_TFL_OP_OUTPUTS = 2,
    FR_TFL_OP_OPTIONS_TYPE = 3, FR_TFL_OP_OPTIONS = 4,

    FR_TFL_OPCODE_DEPRECATED = 0, FR_TFL_OPCODE_CUSTOM = 1, FR_TFL_OPCODE_VERSION = 2,
    FR_TFL_OPCODE_BUILTIN = 3,

    FR_TFL_BUFFER_DATA = 0, FR_TFL_BUFFER_OFFSET = 1, FR_TFL_BUFFER_SIZE = 2
};

/* BuiltinOperator codes used by frugal (the real code is max(deprecated, builtin)). */
enum {
    FR_TFL_ADD = 0, FR_TFL_AVERAGE_POOL_2D = 1, FR_TFL_CONCATENATION = 2, FR_TFL_CONV_2D = 3,
    FR_TFL_DEPTHWISE_CONV_2D = 4, FR_TFL_DEQUANTIZE = 6, FR_TFL_FULLY_CONNECTED = 9,
    FR_TFL_LOGISTIC = 14, FR_TFL_MAX_POOL_2D = 17, FR_TFL_MUL = 18, FR_TFL_RELU = 19,
    FR_TFL_RELU6 = 21, FR_TFL_RESHAPE = 22, FR_TFL_SOFTMAX = 25, FR_TFL_PAD = 34,
    FR_TFL_MEAN = 40, FR_TFL_QUANTIZE = 114
};

/* BuiltinOptions union type ids. */
enum {
    FR_TFL_OPT_NONE = 0, FR_TFL_OPT_CONV2D = 1, FR_TFL_OPT_DEPTHWISE = 2,
    FR_TFL_OPT_POOL2D = 5, FR_TFL_OPT_FULLY_CONNECTED = 8, FR_TFL_OPT_SOFTMAX = 9,
    FR_TFL_OPT_ADD = 11, FR_TFL_OPT_RESHAPE = 17
};

/* A readable name of a builtin code ("CONV_2D", ...) or "UNKNOWN". */
const char *fr_tfl_op_name(int32_t code);

#endif
