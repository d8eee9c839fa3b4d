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
} fr_matmul_job;
void fr_matmul_multi(fr_isa isa, fr_type wtype, const fr_matmul_job *jobs, int n_jobs, int K,
                     const float *X, int N, void *scratch, fr_pool *pool);

/* The plain scalar reference of the same operation (single thread). */
void fr_matmul_ref(fr_type wtype, const void *W, int M, int K,
                   const float *X, int N, float *Y, void *scratch);

#endif
