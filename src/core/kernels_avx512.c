/* AVX-512 (F/BW/VL + VNNI) quantised matmul kernels (f32/f16 weights: kernels_f32_avx512.c).
 * Only called after fr_isa_supported(FR_ISA_AVX512).
 *
 * Matrix-vector tiles (q8_0/q4_0 for N < FR_GEMM_MIN and the rows left
 * after full groups of 16): R weight rows (8 for a single activation row, else 4, then 1) x
 * up to 4 activation rows, so every weight vector loaded is used for every activation row and
 * every activation vector for R weight rows. Weights are prefetched FR_PREFETCH_ROWS ahead.
 *
 * Quantised GEMM tiles (N >= FR_GEMM_MIN): 8 weight rows x a group of 16 activation rows, one
 * activation row per 32-bit lane (see gemm_tile).
 *
 * Batches are walked FR_NCHUNK activation rows at a time against all of the thread's weight
 * rows, so the chunk stays in L2 and each row tile in L1.
 *
 * Q8_0 x Q8_0 flips the weight bytes to unsigned (w ^ 0x80 = w + 128) for vpdpbusd (unsigned
 * x signed), so each 32-block sum is off by 128 * sum(x): a bias prepared with the activations
 * (-16 * sum(x) in each of 8 lanes, or -128 * sum(x) in the row's lane of a group) starts the
 * accumulator and takes it off again. Q4_0 nibbles are unsigned already; their -8 offset
 * gives a bias of -8 * sum(x). The integer part of every block is exact. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "core/kernels_internal.h"

#define FR_AI static inline __attribute__((always_inline))

/* Matrix-vector tiles prefetch the weights this many rows ahead (a prefetch past the end of
 * the matrix is harmless: prefetches do not fault). */
#ifndef FR_PREFETCH_ROWS
#define FR_PREFETCH_ROWS 12
#endif

/* ---- activation preparation ----
 * Layout of xq: first `groups` groups of 16 rows for the GEMM tiles, then `rowwise` single
 * rows for the matrix-vector tiles (a batch of fewer than FR_GEMM_MIN rows, or the few rows
 * left after the full groups).
 *   group, per 32-block (640 bytes): qs[8 chunks][16 rows][4 bytes] | d[16] | bias[16]
 *   row: qs[nb][32] | d[nb] | bias[nb], 64-byte aligned rows */

/* Batches of fewer rows (and the rows left after full groups of 16) take the matrix-vector
 * tiles: a group padded to 16 rows costs as much as 16 rows, which measured slower than the
 * matrix-vector tiles up to 8 rows (110M q8_0 model, one thread: a 5-token pass 2.7x a
 * 1-token pass instead of 4.5x). Both paths give bit-identical results. */
#define FR_GEMM_MIN 9
#define FR_GBLOCK 640

typedef struct xplan {
    int nb;
    int groups, rowwise;
    size_t gbytes; /* bytes of the grouped part */
    size_t rs;     /* stride of a single row */
} xplan;

static xplan make_plan(const fr_mm_args *a) {
    xplan p;
    p.nb = a->K / 32;
    p.groups = a->N / 16;
    p.rowwise = a->N % 16;
    if (p.rowwise >= FR_GEMM_MIN) {
        p.groups++;
        p.rowwise = 0;
    }
    p.gbytes = (size_t)p.groups * (size_t)p.nb * FR_GBLOCK;
    p.rs = ((size_t)p.nb * 40 + 63) & ~(size_t)63;
    return p;
}

/* roundf (half away from zero) of integral-range floats, exactly. */
FR_AI __m512 round_away(__m512 v) {
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u));
    __m512 one = _mm512_castsi512_ps(_mm512_or_si512(sign, _mm512_set1_epi32(0x3f800000)));
    return _mm512_mask_add_ps(t, up, t, one);
}

/* Quantises 32 floats like fr_quantize_row(Q8_0); returns sum(q). */
FR_AI int32_t quant_block(const float *x, int8_t *qs, float *d_out) {
    __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_out = fr_fp16_to_fp32(fr_fp32_to_fp16(d));
    __m512 vid = _mm512_set1_ps(id);
    __m512i ia = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(a, vid)));
    __m512i ib = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(b, vid)));
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtsepi32_epi8(ia));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtsepi32_epi8(ib));
    return _mm512_reduce_add_epi32(_mm512_add_epi32(ia, ib));
}

void fr_mm_prep_avx512(const fr_mm_args *a, int n0, int n1) {
    const xplan p = make_plan(a);
    const int K = a->K, nb = p.nb;
    /* vpdpbusd bias: q8_0 weights are flipped to w + 128 (8 lanes share -128 sum(x) in the
     * row layout, one lane holds it all in the group layout); q4_0 nibbles carry +8. */
    const int q8 = a->wtype == FR_TYPE_Q8_0;
    const int gpad = p.groups * 16;
    if (n1 >= a->N) n1 = gpad > a->N ? gpad : a->N;
    for (int n = n0; n < n1; n++) {
        if (n < gpad) {
            uint8_t *g = a->xq + (size_t)(n / 16) * (size_t)nb * FR_GBLOCK;
            const int j = n % 16;
            for (int b = 0; b < nb; b++) {
                uint8_t *blk = g + (size_t)b * FR_GBLOCK;
                float *dx = (float *)(blk + 512);
                int32_t *bias = (int32_t *)(blk + 576);
                if (n >= a->N) {
                    for (int c = 0; c < 8; c++) memset(blk + c * 64 + j * 4, 0, 4);
                    dx[j] = 0.0f;
                    bias[j] = 0;
                    continue;
                }
                int8_t qs[32];
                int32_t s = quant_block(a->X + (size_t)n * K + b * 32, qs, &dx[j]);
                for (int c = 0; c < 8; c++) memcpy(blk + c * 64 + j * 4, qs + 4 * c, 4);
                bias[j] = (q8 ? -128 : -8) * s;
            }
        } else {
            const float *x = a->X + (size_t)n * K;
            uint8_t *row = a->xq + p.gbytes + (size_t)(n - gpad) * p.rs;
            float *dx = (float *)(row + (size_t)nb * 32);
            int32_t *bias = (int32_t *)(row + (size_t)nb * 36);
            for (int b = 0; b < nb; b++) {
                int32_t s = quant_block(x + b * 32, (int8_t *)row + b * 32, &dx[b]);
                bias[b] = (q8 ? -16 : -1) * s;
            }
        }
    }
}

/* ---- helpers ---- */

/* ---- quantised tiles (256-bit VNNI) ----
 * Each block's integer dot product is reduced exactly to one int32 per weight row, and the
 * float accumulation is then acc = fma(float(sum), d_w * d_x, acc) block after block: the
 * same operations, in the same order, as the GEMM tiles below, so a row's result does not
 * depend on the batch it is computed in (speculative verification relies on this). */

/* Lane r of the result is the exact sum of the 8 lanes of s[r]. */
FR_AI __m256i hsum8x8_epi32(const __m256i s[8]) {
    __m256i t01 = _mm256_hadd_epi32(s[0], s[1]), t23 = _mm256_hadd_epi32(s[2], s[3]);
    __m256i t45 = _mm256_hadd_epi32(s[4], s[5]), t67 = _mm256_hadd_epi32(s[6], s[7]);
    __m256i u0 = _mm256_hadd_epi32(t01, t23), u1 = _mm256_hadd_epi32(t45, t67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* R weight rows x NX activation rows; `q4` selects the Q4_0 weight layout (else Q8_0). */
FR_AI void tile_q(const fr_mm_args *a, const xplan *p, int m, int n, const int R, const int NX, const int q4) {
    const int nb = p->nb;
    const size_t rs = p->rs, bb = q4 ? 18 : 34;
    const uint8_t *w[8];
    const uint8_t *xr[4];
    __m256 acc[4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) w[r] = a->W + (size_t)(m + r) * a->w_row_bytes;
#pragma GCC unroll 4
    for (int j = 0; j < NX; j++) {
        xr[j] = a->xq + p->gbytes + (size_t)(n + j) * rs;
        acc[j] = _mm256_setzero_ps();
    }
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    /* the R block scales are gathered in one instruction: row r's block starts r rows on */
    const __m256i row_off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                               _mm256_set1_epi32((int)a->w_row_bytes));
    const __mmask8 rmask = (__mmask8)((1u << R) - 1u);
    for (int b = 0; b < nb; b++) {
        __m256i wv[8];
        const __m256i dwords = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), rmask, row_off,
                                                            (const void *)(w[0] + (size_t)b * bb), 1);
        const __m256 dw = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(dwords)); /* the low 16 bits: d */
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = w[r] + (size_t)b * bb;
            _mm_prefetch((const char *)(blk + FR_PREFETCH_ROWS * a->w_row_bytes), _MM_HINT_T0);
            if (q4) { /* both halves hold the 16 bytes; the upper one shifted right by 4 */
                __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 2)));
                wv[r] = _mm256_and_si256(_mm256_srlv_epi32(raw, shift), low);
            } else {
                wv[r] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), flip);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < NX; j++) {
            const __m256i xv = _mm256_load_si256((const __m256i *)(xr[j] + b * 32));
            const __m256 dx = _mm256_set1_ps(((const float *)(xr[j] + (size_t)nb * 32))[b]);
            const __m256i bias = _mm256_set1_epi32(((const int32_t *)(xr[j] + (size_t)nb * 36))[b]);
            __m256i s[8];
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) s[r] = r < R ? _mm256_dpbusd_epi32(bias, wv[r], xv) : _mm256_setzero_si256();
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8x8_epi32(s)), _mm256_mul_ps(dw, dx), acc[j]);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < NX; j++) {
        float out[8];
        _mm256_storeu_ps(out, acc[j]);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) a->Y[(size_t)(p->groups * 16 + n + j) * a->M + m + r] = out[r];
    }
}

FR_AI void tile_q8(const fr_mm_args *a, const xplan *p, int m, int n, const int R, const int NX) {
    tile_q(a, p, m, n, R, NX, 0);
}

FR_AI void tile_q4(const fr_mm_args *a, const xplan *p, int m, int n, const int R, const int NX) {
    tile_q(a, p, m, n, R, NX, 1);
}

/* ---- quantised GEMM tiles: R weight rows x one group of 16 activation rows ----
 * Each 512-bit vpdpbusd takes 4 bytes of one weight row (broadcast) against the same 4
 * bytes of 16 activation rows, so lane j accumulates the block dot of activation row j;
 * one int->float conversion and one FMA then serve 16 outputs. */

FR_AI uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

FR_AI void gemm_tile(const fr_mm_args *a, const xplan *p, int m, int g, const int R, const int q4) {
    const int nb = p->nb;
    const size_t bb = q4 ? 18 : 34;
    const uint8_t *xg = a->xq + (size_t)g * (size_t)nb * FR_GBLOCK;
    const uint8_t *w[8];
    __m512 acc[8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        w[r] = a->W + (size_t)(m + r) * a->w_row_bytes;
        acc[r] = _mm512_setzero_ps();
    }
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int b = 0; b < nb; b++) {
        const uint8_t *xb = xg + (size_t)b * FR_GBLOCK;
        const __m512i bias = _mm512_load_si512((const void *)(xb + 576));
        __m512i s[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) s[r] = bias;
        if (q4) {
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const __m512i xlo = _mm512_load_si512((const void *)(xb + c * 64));
                const __m512i xhi = _mm512_load_si512((const void *)(xb + (c + 4) * 64));
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) {
                    __m512i v = _mm512_set1_epi32((int)load_u32(w[r] + (size_t)b * bb + 2 + 4 * c));
                    s[r] = _mm512_dpbusd_epi32(s[r], _mm512_and_si512(v, low), xlo);
                    s[r] = _mm512_dpbusd_epi32(s[r], _mm512_and_si512(_mm512_srli_epi32(v, 4), low), xhi);
                }
            }
        } else {
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) {
                const __m512i xv = _mm512_load_si512((const void *)(xb + c * 64));
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) {
                    __m512i v = _mm512_set1_epi32((int)load_u32(w[r] + (size_t)b * bb + 2 + 4 * c));
                    s[r] = _mm512_dpbusd_epi32(s[r], _mm512_xor_si512(v, flip), xv);
                }
            }
        }
        const __m512 dx = _mm512_load_ps((const void *)(xb + 512));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            uint16_t h;
            memcpy(&h, w[r] + (size_t)b * bb, 2);
            __m512 dw = _mm512_cvtph_ps(_mm256_set1_epi16((short)h));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r]), _mm512_mul_ps(dw, dx), acc[r]);
        }
    }
    const int n0 = g * 16;
    const int valid = a->N - n0 < 16 ? a->N - n0 : 16;
    const __mmask16 mk = (__mmask16)((1u << valid) - 1u);
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(a->M));
    float *y = a->Y + (size_t)n0 * a->M + m;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) _mm512_mask_i32scatter_ps(y + r, mk, idx, acc[r], 4);
}


/* ---- row loops ---- */

/* Activation groups are taken FR_NCHUNK rows at a time (they stay in L2). */
#define FR_NCHUNK 64

#define FR_MV_NX(tile, a, p, m, n, R, nx)                                                        \
    do {                                                                                           \
        switch (nx) {                                                                              \
        case 1: tile(a, p, m, n, R, 1); break;                                                     \
        case 2: tile(a, p, m, n, R, 2); break;                                                     \
        case 3: tile(a, p, m, n, R, 3); break;                                                     \
        default: tile(a, p, m, n, R, 4); break;                                                    \
        }                                                                                          \
    } while (0)

#define FR_QROWS_FN(name, tile, q4)                                                                \
    static void name(const fr_mm_args *a, int m0, int m1) {                                       \
        const xplan p = make_plan(a);                                                              \
        for (int c0 = 0; c0 < p.groups; c0 += FR_NCHUNK / 16) {                                    \
            const int c1 = p.groups - c0 < FR_NCHUNK / 16 ? p.groups : c0 + FR_NCHUNK / 16;        \
            int m = m0;                                                                            \
            for (; m + 8 <= m1; m += 8)                                                            \
                for (int g = c0; g < c1; g++) gemm_tile(a, &p, m, g, 8, q4);                       \
            for (; m + 4 <= m1; m += 4)                                                            \
                for (int g = c0; g < c1; g++) gemm_tile(a, &p, m, g, 4, q4);                       \
            for (; m < m1; m++)                                                                    \
                for (int g = c0; g < c1; g++) gemm_tile(a, &p, m, g, 1, q4);                       \
        }                                                                                          \
        if (p.rowwise == 0) return;                                                                \
        int m = m0;                                                                                \
        if (p.rowwise == 1)                                                                        \
            for (; m + 8 <= m1; m += 8) tile(a, &p, m, 0, 8, 1);                                   \
        for (; m + 4 <= m1; m += 4)                                                                \
            for (int n = 0; n < p.rowwise; n += 4) FR_MV_NX(tile, a, &p, m, n, 4, p.rowwise - n);  \
        for (; m < m1; m++)                                                                        \
            for (int n = 0; n < p.rowwise; n += 4) FR_MV_NX(tile, a, &p, m, n, 1, p.rowwise - n);  \
    }

FR_QROWS_FN(rows_q8, tile_q8, 0)
FR_QROWS_FN(rows_q4, tile_q4, 1)

void fr_mm_rows_avx512(const fr_mm_args *a, int m0, int m1) {
    switch (a->wtype) {
    case FR_TYPE_Q8_0: rows_q8(a, m0, m1); break;
    case FR_TYPE_Q4_0: rows_q4(a, m0, m1); break;
    case FR_TYPE_F32:
    case FR_TYPE_F16: fr_mm_rows_float_avx512(a, m0, m1); break;
    }
}
