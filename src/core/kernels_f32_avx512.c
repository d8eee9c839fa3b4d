/* AVX-512 float (f32, f16 weights) matmul kernels: R weight rows (8 for a single activation
 * row, else 4, then 1) x up to 4 activation rows, so every weight vector loaded is used for
 * every activation row and every activation vector for R weight rows. Weights are prefetched
 * FR_PREFETCH_ROWS ahead. Only called after fr_isa_supported(FR_ISA_AVX512). */
#include <immintrin.h>
#include <stdint.h>

#include "core/kernels_internal.h"

#define FR_AI static inline __attribute__((always_inline))

#ifndef FR_PREFETCH_ROWS
#define FR_PREFETCH_ROWS 12
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
            _mm_prefetch((const char *)(w[r] + (size_t)k * (f16 ? 2 : 4) + FR_PREFETCH_ROWS * a->w_row_bytes),
                         _MM_HINT_T0);
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

void fr_mm_rows_float_avx512(const fr_mm_args *a, int m0, int m1) {
    if (a->wtype == FR_TYPE_F16)
        rows_f16(a, m0, m1);
    else
        rows_f32(a, m0, m1);
}
