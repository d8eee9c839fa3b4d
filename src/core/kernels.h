/* LLM linear-algebra kernels: a scalar reference and vectorised variants chosen at run time.
 *
 * Matrix layout follows ggml: a weight W with M rows of K elements is stored row by row,
 * each row fr_type_row_bytes(type, K) bytes. A "matmul" computes, for a batch of N input
 * vectors X[n][K] (f32, row-major):   Y[n][m] = sum_k W[m][k] * X[n][k]
 * and streams each weight row once for the whole batch (N = 1 is matrix-vector).
 *
 * Semantics (identical for the reference and every ISA, up to float summation order):
 *   F32  : plain f32 dot products.
 *   F16  : weights converted to f32, f32 dot products.
 *   Q8_0, Q4_0: each X row is first quantised to Q8_0 (into caller scratch), then each
 *         32-block contributes d_w * d_x * sum(int qw * int qx), as ggml does.
 */
#ifndef FR_CORE_KERNELS_H
#define FR_CORE_KERNELS_H

#include <stdbool.h>

#include "core/pool.h"
#include "core/types.h"

typedef enum fr_isa {
    FR_ISA_SCALAR = 0,
    FR_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    FR_ISA_AVX512 = 2, /* AVX-512 F/BW/VL (+VNNI where used) */
    FR_ISA_COUNT
} fr_isa;

const char *fr_isa_name(fr_isa isa);
/* Does this CPU (and this build) support isa? */
bool fr_isa_supported(fr_isa isa);
/* The best supported ISA. */
fr_isa fr_isa_best(void);

/* Bytes of scratch fr_matmul needs for a batch of N rows of K (quantised activations). */
size_t fr_matmul_scratch_bytes(fr_type wtype, int K, int N);

/* Y = X * W^T as above, split over the pool by output rows. K must be a multiple of 32
 * for quantised types. scratch must hold fr_matmul_scratch_bytes(wtype, K, N). */
void fr_matmul(fr_isa isa, fr_type wtype, const void *W, int M, int K,
               const float *X, int N, float *Y, void *scratch, fr_pool *pool);

/* Several matmuls that share the activations X (same weight type, same K), e.g. the Q, K and V
 * projections or the FFN gate and up: X is prepared once and the rows of all the matrices are
 * split over the pool together, in one fr_pool_run instead of one per matrix. Job i computes
 * jobs[i].Y = X * jobs[i].W^T (jobs[i].M rows). Results equal n_jobs fr_matmul calls.
 * n_jobs <= FR_MATMUL_MAX_JOBS; scratch as for fr_matmul(wtype, K, N). */
#define FR_MATMUL_MAX_JOBS 8
typedef struct fr_matmul_job {
    const void *W;
    int M;
    float *Y;
    /* Optional (NULL: none): the same Q8_0 matrix in the "Q8_0 x16" packed form below. The
     * AVX-512 kernels use it when every job of the call has one; other ISAs read W. Whether
     * to pass it is the caller's choice: from cache the x16 kernels are 2-3x faster at any N,
     * but streaming from memory at N < 8 the row tiles on W are faster (docs/kernels.md). */
    const void *W_x16;
} fr_matmul_job;
void fr_matmul_multi(fr_isa isa, fr_type wtype, const fr_matmul_job *jobs, int n_jobs, int K,
                     const float *X, int N, void *scratch, fr_pool *pool);

/* Q8_0 x16 packed weights: an internal in-memory form of a Q8_0 matrix (never in files) for
 * the AVX-512 kernels. Rows go in groups of 16 (the last one padded with zero rows); group g
 * is fr_q8x16_group_bytes(K) bytes at offset g * that, 64-byte aligned, and holds
 *   scales[nb][16 rows]                     (nb = K / 32; the blocks' fp16 d, 32 bytes per block)
 *   zero padding to fr_q8x16_scale_bytes(K), a multiple of 64
 *   quants[nb][8 chunks][16 rows][4 bytes]  (512 bytes per 32-block)
 * (the scales first: a matrix is one sequential stream, group after group), where chunk c of
 * block b of row r is its bytes 4c..4c+3 stored as unsigned (q ^ 0x80 = q + 128), so one
 * aligned 64-byte load is 4 bytes of one block of 16 rows, one per 32-bit lane. Results
 * through the packed form equal those through W bit for bit. */
size_t fr_q8x16_group_bytes(int K);
size_t fr_q8x16_scale_bytes(int K);
/* Bytes of the packed form of an M x K Q8_0 matrix (a multiple of 64). */
size_t fr_q8x16_bytes(int M, int K);
/* Packs the M rows of Q8_0 matrix W (K a multiple of 32) into dst (64-byte aligned,
 * fr_q8x16_bytes(M, K) bytes). */
void fr_q8x16_pack(const void *W, int M, int K, void *dst);
/* Row m of a packed matrix back to its fr_type_row_bytes(Q8_0, K) bytes of Q8_0 blocks. */
void fr_q8x16_unpack_row(const void *P, int K, int m, void *row);

/* The plain scalar reference of the same operation (single thread). */
void fr_matmul_ref(fr_type wtype, const void *W, int M, int K,
                   const float *X, int N, float *Y, void *scratch);

#endif
