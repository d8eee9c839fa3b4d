/* Tensor element types and quantisation block layouts, bit-compatible with ggml/GGUF. */
#ifndef FR_CORE_TYPES_H
#define FR_CORE_TYPES_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* Values are the GGML type ids stored in GGUF files. */
typedef enum fr_type {
    FR_TYPE_F32 = 0,
    FR_TYPE_F16 = 1,
    FR_TYPE_Q4_0 = 2,
    FR_TYPE_Q8_0 = 8,
} fr_type;

#define FR_QK8_0 32
#define FR_QK4_0 32

/* Q8_0: 32 weights = fp16 scale d + 32 int8; w = d * q. */
typedef struct fr_block_q8_0 {
    uint16_t d;
    int8_t qs[FR_QK8_0];
} fr_block_q8_0;
static_assert(sizeof(fr_block_q8_0) == 34, "q8_0 block must be 34 bytes");

/* Q4_0: 32 weights = fp16 scale d + 16 bytes; byte j holds weight j in its low nibble
 * and weight j+16 in its high nibble; w = d * (nibble - 8). */
typedef struct fr_block_q4_0 {
    uint16_t d;
    uint8_t qs[FR_QK4_0 / 2];
} fr_block_q4_0;
static_assert(sizeof(fr_block_q4_0) == 18, "q4_0 block must be 18 bytes");

/* Is t one of the types frugal implements? */
int fr_type_valid(uint32_t t);
/* Name ("f32", "f16", "q4_0", "q8_0") or "unknown". */
const char *fr_type_name(uint32_t t);
/* Elements per block (1 for f32/f16, 32 for q8_0/q4_0); 0 for unknown types. */
size_t fr_type_block_elems(fr_type t);
/* Bytes per block; 0 for unknown types. */
size_t fr_type_block_bytes(fr_type t);
/* Bytes of a row of n elements (n must be a multiple of the block size). */
size_t fr_type_row_bytes(fr_type t, size_t n);

/* IEEE half <-> float, exact (round to nearest even on the way down). */
float fr_fp16_to_fp32(uint16_t h);
uint16_t fr_fp32_to_fp16(float f);

/* Scalar (de)quantisation of one row of n elements (n a multiple of the block size).
 * Quantisation rounds like ggml's reference: d = amax/127 (q8_0), d = max/-8 (q4_0). */
void fr_dequantize_row(fr_type t, const void *src, float *dst, size_t n);
void fr_quantize_row(fr_type t, const float *src, void *dst, size_t n);

#endif
