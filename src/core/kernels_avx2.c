/* AVX2 + FMA + F16C matmul kernels. Only called after fr_isa_supported(FR_ISA_AVX2).
 *
 * Tiles of R weight rows x up to NX activation rows (quantised 4 x 4, float 3 x 3: AVX2 has 16
 * vector registers; 8 x 1 for a single activation row), 256-bit vectors, no VNNI: integer
 * dots use vpmaddubsw (unsigned x signed bytes to int16 pairs) then vpmaddwd with ones.
 * There is no lane-per-row GEMM here (see kernels_avx512.c), so batches use the same tiles.
 *   Q8_0: the sign trick: |w| (unsigned) x (x with w's sign); |w| <= 128 and |x| <= 127, so
 *         a pair sum stays below 32767 and never saturates. No bias.
 *   Q4_0: nibbles (0..15, unsigned) x x, then the -8 offset: bias -sum(x) per lane (8 lanes).
 * Prepared activations per row: qs[nb][32] int8 | d[nb] float | bias[nb] int32. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "core/kernels_internal.h"

#define FR_AI static inline __attribute__((always_inline))

/* Matrix-vector tiles prefetch the weights this many rows ahead (prefetches do not fault). */
#ifndef FR_PREFETCH_ROWS
#define FR_PREFETCH_ROWS 12
#endif

static size_t xrow_stride(int K) {
    size_t nb = (size_t)K / 32;
    return (nb * 40 + 63) & ~(size_t)63;
}

/* ---- activation preparation ---- */

FR_AI __m256 round_away(__m256 v) {
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(signbit, _mm256_sub_ps(v, t));
    __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_and_ps(v, signbit), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

FR_AI float hmax256(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

FR_AI int32_t hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Quantises 32 floats like fr_quantize_row(Q8_0); returns sum(q). */
FR_AI int32_t quant_block(const float *x, int8_t *qs, float *d_out) {
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
    __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signbit, v[0]), _mm256_andnot_ps(signbit, v[1])),
                              _mm256_max_ps(_mm256_andnot_ps(signbit, v[2]), _mm256_andnot_ps(signbit, v[3])));
    const float amax = hmax256(mx);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_out = fr_fp16_to_fp32(fr_fp32_to_fp16(d));
    __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    /* clamped as the packs saturate, so that the sum is that of the stored values even for
     * non-finite input (whose conversion gives INT_MIN; finite input is within +-127) */
    const __m256i lo = _mm256_set1_epi32(-128), hi = _mm256_set1_epi32(127);
    for (int i = 0; i < 4; i++)
        q[i] = _mm256_max_epi32(_mm256_min_epi32(_mm256_cvtps_epi32(round_away(_mm256_mul_ps(v[i], vid))), hi), lo);
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, p);
    return hsum256_epi32(sum);
}

void fr_mm_prep_avx2(const fr_mm_args *a, int n0, int n1) {
    const int K = a->K, nb = K / 32;
    const size_t rs = xrow_stride(K);
    const int32_t mul = a->wtype == FR_TYPE_Q8_0 ? 0 : -1;
    if (n1 > a->N) n1 = a->N;
    for (int n = n0; n < n1; n++) {
        const float *x = a->X + (size_t)n * K;
        uint8_t *row = a->xq + (size_t)n * rs;
        float *dx = (float *)(row + (size_t)nb * 32);
        int32_t *bias = (int32_t *)(row + (size_t)nb * 36);
        for (int b = 0; b < nb; b++) {
            int32_t s = quant_block(x + b * 32, (int8_t *)row + b * 32, &dx[b]);
            bias[b] = mul * s;
        }
    }
}

/* ---- helpers ---- */

FR_AI float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

FR_AI __m256 fp16_bcast(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm256_cvtph_ps(_mm_set1_epi16((short)h));
}

/* ---- quantised tiles ---- */

/* One weight block (already in registers) against NX activation blocks. */
#define FR_QTILE(name, WLOAD, DOT)                                                                 \
    FR_AI void name(const fr_mm_args *a, int m, int n, const int R, const int NX) {               \
        const int nb = a->K / 32;                                                                  \
        const size_t rs = xrow_stride(a->K);                                                       \
        const size_t bb = fr_type_block_bytes(a->wtype);                                           \
        const uint8_t *w[8];                                                                       \
        const uint8_t *xr[4];                                                                      \
        __m256 acc[8][4];                                                                          \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) w[r] = a->W + (size_t)(m + r) * a->w_row_bytes; \
        _Pragma("GCC unroll 4") for (int j = 0; j < NX; j++) xr[j] = a->xq + (size_t)(n + j) * rs; \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                        \
            _Pragma("GCC unroll 4") for (int j = 0; j < NX; j++) acc[r][j] = _mm256_setzero_ps();  \
        const __m256i ones = _mm256_set1_epi16(1);                                                 \
        for (int b = 0; b < nb; b++) {                                                             \
            __m256i xv[4], bias[4];                                                                \
            __m256 dx[4];                                                                          \
            _Pragma("GCC unroll 4") for (int j = 0; j < NX; j++) {                                 \
                xv[j] = _mm256_load_si256((const __m256i *)(xr[j] + b * 32));                     \
                dx[j] = _mm256_set1_ps(((const float *)(xr[j] + (size_t)nb * 32))[b]);            \
                bias[j] = _mm256_set1_epi32(((const int32_t *)(xr[j] + (size_t)nb * 36))[b]);     \
            }                                                                                      \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                  \
                const uint8_t *blk = w[r] + (size_t)b * bb;                                        \
                _mm_prefetch((const char *)(blk + FR_PREFETCH_ROWS * a->w_row_bytes), _MM_HINT_T0); \
                WLOAD;                                                                             \
                __m256 dw = fp16_bcast(blk);                                                       \
                _Pragma("GCC unroll 4") for (int j = 0; j < NX; j++) {                             \
                    __m256i s = DOT;                                                               \
                    acc[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, dx[j]), acc[r][j]); \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                        \
            _Pragma("GCC unroll 4") for (int j = 0; j < NX; j++)                                   \
                a->Y[(size_t)(n + j) * a->M + m + r] = hsum256(acc[r][j]);                         \
    }

FR_QTILE(tile_q8,
         __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + 2));
         __m256i wabs = _mm256_sign_epi8(wv, wv); (void)bias,
         _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xv[j], wv)), ones))

FR_QTILE(tile_q4,
         __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 2)));
         __m256i wv = _mm256_and_si256(_mm256_srlv_epi32(raw, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                                       _mm256_set1_epi8(0x0f)),
         _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(wv, xv[j]), ones), bias[j]))

/* ---- float tiles ---- */

FR_AI __m256i tail_mask(int left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

FR_AI __m256 load_w(const uint8_t *row, int k, const int f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)));
    return _mm256_loadu_ps((const float *)row + k);
}

FR_AI __m256 load_w_tail(const uint8_t *row, int k, int left, const int f16) {
    if (f16) {
        uint16_t tmp[8] = {0};
        memcpy(tmp, (const uint16_t *)row + k, sizeof(uint16_t) * (size_t)left);
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tmp));
    }
    return _mm256_maskload_ps((const float *)row + k, tail_mask(left));
}

FR_AI void tile_float(const fr_mm_args *a, int m, int n, const int R, const int NX, const int f16) {
    const int K = a->K;
    const uint8_t *w[8];
    const float *x[4];
    __m256 acc[8][4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) w[r] = a->W + (size_t)(m + r) * a->w_row_bytes;
#pragma GCC unroll 4
    for (int j = 0; j < NX; j++) x[j] = a->X + (size_t)(n + j) * K;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NX; j++) acc[r][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 xv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NX; j++) xv[j] = _mm256_loadu_ps(x[j] + k);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            if ((k & 15) == 0)
                _mm_prefetch((const char *)(w[r] + (size_t)k * (f16 ? 2 : 4) + FR_PREFETCH_ROWS * a->w_row_bytes),
                             _MM_HINT_T0);
            __m256 wv = load_w(w[r], k, f16);
#pragma GCC unroll 4
            for (int j = 0; j < NX; j++) acc[r][j] = _mm256_fmadd_ps(wv, xv[j], acc[r][j]);
        }
    }
    if (k < K) {
        __m256 xv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NX; j++) xv[j] = _mm256_maskload_ps(x[j] + k, tail_mask(K - k));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m256 wv = load_w_tail(w[r], k, K - k, f16);
#pragma GCC unroll 4
            for (int j = 0; j < NX; j++) acc[r][j] = _mm256_fmadd_ps(wv, xv[j], acc[r][j]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NX; j++) a->Y[(size_t)(n + j) * a->M + m + r] = hsum256(acc[r][j]);
}

FR_AI void tile_f32(const fr_mm_args *a, int m, int n, const int R, const int NX) { tile_float(a, m, n, R, NX, 0); }
FR_AI void tile_f16(const fr_mm_args *a, int m, int n, const int R, const int NX) { tile_float(a, m, n, R, NX, 1); }

/* ---- row loops ---- */

/* Activation rows taken up to NXMAX at a time against R weight rows; tails use 1 row. */
#define FR_TILE_NX(tile, a, m, n, R, nx, NXMAX)                                                  \
    do {                                                                                           \
        int nx_ = (nx) < (NXMAX) ? (nx) : (NXMAX);                                                 \
        switch (nx_) {                                                                             \
        case 1: tile(a, m, n, R, 1); break;                                                        \
        case 2: tile(a, m, n, R, 2); break;                                                        \
        case 3: tile(a, m, n, R, 3); break;                                                        \
        default: tile(a, m, n, R, 4); break;                                                       \
        }                                                                                          \
    } while (0)

/* Activation rows are taken FR_NCHUNK at a time (they stay in L2) against all the rows of W
 * in [m0, m1) (a row tile stays in L1 while the chunk's rows pass over it). */
#define FR_NCHUNK 64

#define FR_ROWS_FN(name, tile, R, NXMAX)                                                           \
    static void name(const fr_mm_args *a, int m0, int m1) {                                       \
        for (int c0 = 0; c0 < a->N; c0 += FR_NCHUNK) {                                             \
            const int c1 = a->N - c0 < FR_NCHUNK ? a->N : c0 + FR_NCHUNK;                          \
            int m = m0;                                                                            \
            if (c1 - c0 == 1) /* one activation row: 8 weight rows for more independent sums */   \
                for (; m + 8 <= m1; m += 8) tile(a, m, c0, 8, 1);                                  \
            for (; m + (R) <= m1; m += (R))                                                        \
                for (int n = c0; n < c1; n += (NXMAX)) FR_TILE_NX(tile, a, m, n, R, c1 - n, NXMAX); \
            for (; m < m1; m++)                                                                    \
                for (int n = c0; n < c1; n += (NXMAX)) FR_TILE_NX(tile, a, m, n, 1, c1 - n, NXMAX); \
        }                                                                                          \
    }

#ifndef FR_AVX2_QR
#define FR_AVX2_QR 4
#endif
#ifndef FR_AVX2_QNX
#define FR_AVX2_QNX 4
#endif
#ifndef FR_AVX2_FR
#define FR_AVX2_FR 3
#endif
#ifndef FR_AVX2_FNX
#define FR_AVX2_FNX 3
#endif
FR_ROWS_FN(rows_q8, tile_q8, FR_AVX2_QR, FR_AVX2_QNX)
FR_ROWS_FN(rows_q4, tile_q4, FR_AVX2_QR, FR_AVX2_QNX)
FR_ROWS_FN(rows_f32, tile_f32, FR_AVX2_FR, FR_AVX2_FNX)
FR_ROWS_FN(rows_f16, tile_f16, FR_AVX2_FR, FR_AVX2_FNX)

void fr_mm_rows_avx2(const fr_mm_args *a, int m0, int m1) {
    switch (a->wtype) {
    case FR_TYPE_Q8_0: rows_q8(a, m0, m1); break;
    case FR_TYPE_Q4_0: rows_q4(a, m0, m1); break;
    case FR_TYPE_F32: rows_f32(a, m0, m1); break;
    case FR_TYPE_F16: rows_f16(a, m0, m1); break;
    }
}
