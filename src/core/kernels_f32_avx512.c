/* AVX-512 float (f32, f16 weights) matmul kernels.
 *
 * Small batches (N < FR_SGEMM_MIN, decode and speculative verification; and every f16
 * batch): R weight rows (8 for a single activation row, else 4, then 1) x up to 4 activation
 * rows in dot-product form, so every weight vector loaded is used for every activation row and
 * every activation vector for R weight rows; weights prefetched FR_PREFETCH_ROWS ahead (NTA for
 * the 8-row single-activation tile, whose weights are used once; T0 otherwise). Each
 * output is the same 16-lane sum reduced the same way for any N, so a row's result does not
 * depend on the batch it is in.
 *
 * Large f32 batches (N >= FR_SGEMM_MIN, prompts): an outer-product SGEMM. Blocks of 32
 * activation rows are packed k-major (Xp[k][32], zero-padded past N), then a micro-kernel
 * keeps FR_SGEMM_MR weight rows x 32 activation rows in 2 * FR_SGEMM_MR zmm accumulators
 * over the whole of K: per k, two aligned loads of Xp and one broadcast per weight row feed
 * 2 * FR_SGEMM_MR FMAs. Each output is a plain sequential sum over k (the same for any N
 * that takes this path), written to Y with a 16-lane scatter once per tile.
 * Only called after fr_isa_supported(FR_ISA_AVX512). */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/kernels_internal.h"

#define FR_AI static inline __attribute__((always_inline))

/* Smallest batch that takes the SGEMM. Must stay above the largest speculative verification
 * batch (FR_SPEC_GAMMA_MAX + 1 = 17 rows), which must give the same results as single rows. */
#ifndef FR_SGEMM_MIN
#define FR_SGEMM_MIN 18
#endif
/* Weight rows per SGEMM micro-tile (2 accumulators each). */
#ifndef FR_SGEMM_MR
#define FR_SGEMM_MR 12
#endif

#ifndef FR_PREFETCH_ROWS
#define FR_PREFETCH_ROWS 16
#endif

/* ---- float tiles (512-bit) ---- */

FR_AI __m512 load_w_f32(const uint8_t *row, int k) { return _mm512_loadu_ps((const float *)row + k); }
FR_AI __m512 load_w_f32_tail(const uint8_t *row, int k, __mmask16 mk) {
    return _mm512_maskz_loadu_ps(mk, (const float *)row + k);
}
FR_AI __m512 load_w_f16(const uint8_t *row, int k) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k)));
}
FR_AI __m512 load_w_f16_tail(const uint8_t *row, int k, __mmask16 mk) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, (const uint16_t *)row + k));
}

FR_AI void tile_float(const fr_mm_args *a, int m, int n, const int R, const int NX, const int f16) {
    const int K = a->K;
    const uint8_t *w[8];
    const float *x[4];
    __m512 acc[8][4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) w[r] = a->W + (size_t)(m + r) * a->w_row_bytes;
#pragma GCC unroll 4
    for (int j = 0; j < NX; j++) x[j] = a->X + (size_t)(n + j) * K;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NX; j++) acc[r][j] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 xv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NX; j++) xv[j] = _mm512_loadu_ps(x[j] + k);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const char *pf = (const char *)(w[r] + (size_t)k * (f16 ? 2 : 4) + FR_PREFETCH_ROWS * a->w_row_bytes);
            if (R == 8) /* one activation row: each weight is used once, so a non-temporal hint */
                _mm_prefetch(pf, _MM_HINT_NTA);
            else
                _mm_prefetch(pf, _MM_HINT_T0);
            __m512 wv = f16 ? load_w_f16(w[r], k) : load_w_f32(w[r], k);
#pragma GCC unroll 4
            for (int j = 0; j < NX; j++) acc[r][j] = _mm512_fmadd_ps(wv, xv[j], acc[r][j]);
        }
    }
    if (k < K) {
        __mmask16 mk = (__mmask16)((1u << (K - k)) - 1u);
        __m512 xv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NX; j++) xv[j] = _mm512_maskz_loadu_ps(mk, x[j] + k);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m512 wv = f16 ? load_w_f16_tail(w[r], k, mk) : load_w_f32_tail(w[r], k, mk);
#pragma GCC unroll 4
            for (int j = 0; j < NX; j++) acc[r][j] = _mm512_fmadd_ps(wv, xv[j], acc[r][j]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NX; j++) a->Y[(size_t)(n + j) * a->M + m + r] = _mm512_reduce_add_ps(acc[r][j]);
}

FR_AI void tile_f32(const fr_mm_args *a, int m, int n, const int R, const int NX) { tile_float(a, m, n, R, NX, 0); }
FR_AI void tile_f16(const fr_mm_args *a, int m, int n, const int R, const int NX) { tile_float(a, m, n, R, NX, 1); }

/* ---- row loops ---- */

#define FR_TILE_NX(tile, a, m, n, R, nx)                                                         \
    do {                                                                                           \
        switch (nx) {                                                                              \
        case 1: tile(a, m, n, R, 1); break;                                                        \
        case 2: tile(a, m, n, R, 2); break;                                                        \
        case 3: tile(a, m, n, R, 3); break;                                                        \
        default: tile(a, m, n, R, 4); break;                                                       \
        }                                                                                          \
    } while (0)

/* Activation rows are taken FR_NCHUNK at a time (they stay in L2) against all the rows of W
 * in [m0, m1) (a row tile stays in L1 while the chunk's rows pass over it). */
#define FR_NCHUNK 64

#define FR_ROWS_FN(name, tile)                                                                     \
    static void name(const fr_mm_args *a, int m0, int m1) {                                       \
        for (int c0 = 0; c0 < a->N; c0 += FR_NCHUNK) {                                             \
            const int c1 = a->N - c0 < FR_NCHUNK ? a->N : c0 + FR_NCHUNK;                          \
            int m = m0;                                                                            \
            if (c1 - c0 == 1) /* one activation row: 8 weight rows for more independent sums */   \
                for (; m + 8 <= m1; m += 8) tile(a, m, c0, 8, 1);                                  \
            for (; m + 4 <= m1; m += 4)                                                            \
                for (int n = c0; n < c1; n += 4) FR_TILE_NX(tile, a, m, n, 4, c1 - n);             \
            for (; m < m1; m++)                                                                    \
                for (int n = c0; n < c1; n += 4) FR_TILE_NX(tile, a, m, n, 1, c1 - n);             \
        }                                                                                          \
    }

FR_ROWS_FN(rows_f32, tile_f32)
FR_ROWS_FN(rows_f16, tile_f16)

/* ---- SGEMM for large f32 batches ---- */

/* Activation rows packed per block (two 16-lane vectors). */
#define FR_SGEMM_NB 32

/* Packs rows [n0, n0 + 32) of X (rows past N are zero) k-major into xp[K][32]. */
static void sgemm_pack_x(const fr_mm_args *a, int n0, float *xp) {
    const int K = a->K, nv = a->N - n0 < FR_SGEMM_NB ? a->N - n0 : FR_SGEMM_NB;
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(K));
    for (int v = 0; v < 2; v++) {
        int rows = nv - 16 * v;
        rows = rows < 0 ? 0 : rows > 16 ? 16 : rows;
        const __mmask16 mk = (__mmask16)((1u << rows) - 1u);
        const float *x = a->X + (size_t)(n0 + 16 * v) * K;
        for (int k = 0; k < K; k++)
            _mm512_store_ps(xp + (size_t)k * FR_SGEMM_NB + 16 * v,
                            rows ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, idx, x + k, 4)
                                 : _mm512_setzero_ps());
    }
}

/* Y[n0 + j][m + r] for r < R, j < nvalid (<= 16 * NV): weight rows m.. against xp. */
FR_AI void sgemm_tile(const fr_mm_args *a, const float *xp, int m, int n0, int nvalid, const int R, const int NV) {
    const int K = a->K;
    const float *w = (const float *)(a->W + (size_t)m * a->w_row_bytes);
    const size_t ws = a->w_row_bytes / sizeof(float);
    __m512 acc[FR_SGEMM_MR][2];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 xv[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) xv[v] = _mm512_load_ps(xp + (size_t)k * FR_SGEMM_NB + 16 * v);
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            const __m512 wv = _mm512_set1_ps(w[(size_t)r * ws + (size_t)k]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(wv, xv[v], acc[r][v]);
        }
    }
    /* Transposed through a buffer in L1: a scatter straight into Y touches 32 rows of Y per
     * vector, which share a cache set when M * 4 is a multiple of 4 KiB (M = 2048). */
    float t[FR_SGEMM_MR][FR_SGEMM_NB] __attribute__((aligned(64)));
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) _mm512_store_ps(&t[r][16 * v], acc[r][v]);
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(FR_SGEMM_NB));
    const __mmask16 mr = (__mmask16)((1u << R) - 1u);
    for (int j = 0; j < nvalid; j++)
        _mm512_mask_storeu_ps(a->Y + (size_t)(n0 + j) * a->M + m, mr,
                              _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mr, idx, &t[0][j], 4));
}

FR_AI void sgemm_rows_nv(const fr_mm_args *a, const float *xp, int m0, int m1, int n0, int nvalid, const int NV) {
    int m = m0;
    for (; m + FR_SGEMM_MR <= m1; m += FR_SGEMM_MR) sgemm_tile(a, xp, m, n0, nvalid, FR_SGEMM_MR, NV);
    switch (m1 - m) { /* leftover weight rows: one narrower tile */
    case 0: break;
#define FR_SGEMM_TAIL(r) case r: sgemm_tile(a, xp, m, n0, nvalid, r, NV); break;
    FR_SGEMM_TAIL(1) FR_SGEMM_TAIL(2) FR_SGEMM_TAIL(3) FR_SGEMM_TAIL(4) FR_SGEMM_TAIL(5)
    FR_SGEMM_TAIL(6) FR_SGEMM_TAIL(7) FR_SGEMM_TAIL(8) FR_SGEMM_TAIL(9) FR_SGEMM_TAIL(10)
    FR_SGEMM_TAIL(11)
#undef FR_SGEMM_TAIL
    default: break;
    }
}

/* Cache blocking: up to FR_SGEMM_XP_BYTES of packed activations (a multiple of 32 rows) are
 * packed at a time; the thread's weight rows are then taken FR_SGEMM_MC at a time (they stay
 * in L2) against every packed block. */
#ifndef FR_SGEMM_XP_BYTES
#define FR_SGEMM_XP_BYTES (384 * 1024)
#endif
#ifndef FR_SGEMM_MC
#define FR_SGEMM_MC (8 * FR_SGEMM_MR)
#endif

/* 0 if the packing buffer cannot be allocated (the caller then uses the small-batch tiles). */
static int sgemm_rows(const fr_mm_args *a, int m0, int m1) {
    const size_t block = (size_t)a->K * FR_SGEMM_NB; /* floats per packed block */
    int nblocks = (int)(FR_SGEMM_XP_BYTES / (block * sizeof(float)));
    const int need = (a->N + FR_SGEMM_NB - 1) / FR_SGEMM_NB;
    nblocks = nblocks < 1 ? 1 : nblocks > need ? need : nblocks;
    float *xp = aligned_alloc(64, (size_t)nblocks * block * sizeof(float));
    if (!xp) return 0;
    for (int c0 = 0; c0 < a->N; c0 += nblocks * FR_SGEMM_NB) {
        int nb = 0;
        for (; nb < nblocks && c0 + nb * FR_SGEMM_NB < a->N; nb++)
            sgemm_pack_x(a, c0 + nb * FR_SGEMM_NB, xp + (size_t)nb * block);
        for (int mc = m0; mc < m1; mc += FR_SGEMM_MC) {
            const int mce = m1 - mc < FR_SGEMM_MC ? m1 : mc + FR_SGEMM_MC;
            for (int b = 0; b < nb; b++) {
                const int n0 = c0 + b * FR_SGEMM_NB;
                const int nvalid = a->N - n0 < FR_SGEMM_NB ? a->N - n0 : FR_SGEMM_NB;
                if (nvalid > 16)
                    sgemm_rows_nv(a, xp + (size_t)b * block, mc, mce, n0, nvalid, 2);
                else
                    sgemm_rows_nv(a, xp + (size_t)b * block, mc, mce, n0, nvalid, 1);
            }
        }
    }
    free(xp);
    return 1;
}

void fr_mm_rows_float_avx512(const fr_mm_args *a, int m0, int m1) {
    if (a->wtype == FR_TYPE_F16)
        rows_f16(a, m0, m1);
    else if (a->N < FR_SGEMM_MIN || !sgemm_rows(a, m0, m1))
        rows_f32(a, m0, m1);
}
