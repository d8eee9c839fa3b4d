/* Internal interface between the matmul driver (kernels.c) and the per-ISA kernels.
 *
 * A matmul runs in two phases, both split over the pool:
 *   prep(a, n0, n1): for quantised weights, quantise rows [n0, n1) of X to Q8_0 and lay
 *                    them out in a->xq the way this ISA's rows() wants (n0 is a multiple of
 *                    FR_MM_NGROUP; rows past N inside the last group are zero-filled).
 *   rows(a, m0, m1): Y[n][m] for all n and m in [m0, m1).
 * prep is only called for quantised weight types. */
#ifndef FR_CORE_KERNELS_INTERNAL_H
#define FR_CORE_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/kernels.h"

/* Activation rows are prepared in groups of this many (the widest GEMM tile). */
#define FR_MM_NGROUP 16
/* Upper bound of the prepared bytes per (activation row, 32-block) of any layout. */
#define FR_MM_XQ_BLOCK_BYTES 96
/* Upper bound of the extra bytes per activation row of any layout (alignment padding). */
#define FR_MM_XQ_ROW_PAD 128

typedef struct fr_mm_args {
    fr_type wtype;
    const uint8_t *W;
    size_t w_row_bytes;
    int M, K, N;
    const float *X;
    float *Y;     /* Y[n * M + m] */
    uint8_t *xq;  /* 64-byte aligned scratch for the prepared activations */
    int x16;      /* W is in the Q8_0 x16 packed form (AVX-512 only; w_row_bytes unused) */
} fr_mm_args;

typedef void (*fr_mm_prep_fn)(const fr_mm_args *a, int n0, int n1);
typedef void (*fr_mm_rows_fn)(const fr_mm_args *a, int m0, int m1);

/* Scalar (reference) kernels: xq holds N rows of K/32 fr_block_q8_0. */
void fr_mm_prep_scalar(const fr_mm_args *a, int n0, int n1);
void fr_mm_rows_scalar(const fr_mm_args *a, int m0, int m1);

/* AVX2 + FMA + F16C (kernels_avx2.c), only compiled on x86. */
void fr_mm_prep_avx2(const fr_mm_args *a, int n0, int n1);
void fr_mm_rows_avx2(const fr_mm_args *a, int m0, int m1);

/* AVX-512 F/BW/VL + VNNI (kernels_avx512.c), only compiled on x86. */
void fr_mm_prep_avx512(const fr_mm_args *a, int n0, int n1);
void fr_mm_rows_avx512(const fr_mm_args *a, int m0, int m1);
/* Its f32/f16-weight part (kernels_f32_avx512.c). */
void fr_mm_rows_float_avx512(const fr_mm_args *a, int m0, int m1);

/* Does this CPU support the instructions of isa (cpu.c / cpu_x86.c)? */
bool fr_cpu_has_isa(fr_isa isa);

#endif
