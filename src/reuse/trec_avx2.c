/* TREC float convolution with AVX2 (compiled with -mavx2 -mfma, called only when the
 * caller's isa is >= FR_ISA_AVX2, i.e. after fr_isa_supported): the body of
 * trec_f32_body.h with these kernels. The hash's products and adds are separate
 * instructions (_mm256_mul_ps then _mm256_add_ps), the partial products fused
 * multiply-adds (the reference's fmaf), and every lane sums in order t = 0, 1, ..., so
 * the results are bit-identical to the scalar reference. The hash keeps
 * the H (<= 16) sums of each of FR_TREC_HASH_ROWS rows in registers (independent chains);
 * the partial products keep up to 64 output channels in registers per pass.
 * int8: the whole int8 TREC convolution (fr_trec_s8_body) with vpmaddwd hash and partial
 * kernels (int16 pairs, exact int32 sums: bit-identical to the reference). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "reuse/trec_f32_avx2_kernels.h"
#include "reuse/trec_f32_body.h"
#include "reuse/trec_internal.h"
#include "reuse/trec_s8_body.h"

/* Up to 64 output channels (eight accumulators) per pass over one centroid, FMAs. */
static void partial1_f32_avx2(const float *cent, int Lj, const float *wt, int cout, float *y) {
    int oc = 0;
    for (; oc + 64 <= cout; oc += 64) {
        __m256 a[8];
        for (int u = 0; u < 8; u++) a[u] = _mm256_setzero_ps();
        for (int t = 0; t < Lj; t++) {
            const __m256 c = _mm256_set1_ps(cent[t]);
            const float *w = wt + (size_t)t * cout + oc;
            for (int u = 0; u < 8; u++) a[u] = _mm256_fmadd_ps(c, _mm256_loadu_ps(w + 8 * u), a[u]);
        }
        for (int u = 0; u < 8; u++) _mm256_storeu_ps(y + oc + 8 * u, a[u]);
    }
    for (; oc + 8 <= cout; oc += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int t = 0; t < Lj; t++)
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(cent[t]), _mm256_loadu_ps(wt + (size_t)t * cout + oc), a0);
        _mm256_storeu_ps(y + oc, a0);
    }
    for (; oc < cout; oc++) {
        float a = 0.0f;
        for (int t = 0; t < Lj; t++) a = fmaf(cent[t], wt[(size_t)t * cout + oc], a);
        y[oc] = a;
    }
}

static void partial_f32_avx2(const float *const *cent, int n, int Lj, const float *wt, int cout,
                             float *const *y) {
    for (int i = 0; i < n; i++) partial1_f32_avx2(cent[i], Lj, wt, cout, y[i]);
}

void fr_trec_conv_f32_avx2(const fr_trec_params *p, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                           const float *input, const float *filter, const float *bias,
                           float *output, void *scratch, fr_trec_stats *stats) {
    fr_trec_f32_body(p, g, act, input, filter, bias, output, scratch, stats,
                     fr_trec_hash_rows_f32_avx2, partial_f32_avx2, fr_trec_transpose_f32_avx2);
}

/* ---- int8 (packed layouts: trec_internal.h; exact int32 arithmetic) ---------------- */

/* vpmaddwd: each int32 lane adds the products of one (v[2p], v[2p+1]) pair with the
 * lane's projection pair; |products| <= 255 * 128, so nothing saturates. */
static uint32_t hash_s8_avx2(const int16_t *ptp, int Hq, int H, const int16_t *v, int np,
                             const int32_t *thr) {
    (void)H;
    __m256i a0 = _mm256_setzero_si256();
    if (Hq == 8) {
        for (int pp = 0; pp < np; pp++) {
            int32_t pair;
            memcpy(&pair, v + 2 * pp, 4);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_set1_epi32(pair),
                                                        _mm256_loadu_si256((const __m256i *)(ptp + (size_t)pp * 16))));
        }
        const __m256i lt = _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)thr), a0);
        return ~(uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(lt)) & 0xffu;
    }
    __m256i a1 = _mm256_setzero_si256();
    for (int pp = 0; pp < np; pp++) {
        int32_t pair;
        memcpy(&pair, v + 2 * pp, 4);
        const __m256i x = _mm256_set1_epi32(pair);
        const int16_t *pr = ptp + (size_t)pp * 32;
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)pr)));
        a1 = _mm256_add_epi32(a1,
                              _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)(pr + 16))));
    }
    const __m256i lt0 = _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)thr), a0);
    const __m256i lt1 = _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)(thr + 8)), a1);
    const uint32_t m = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(lt0)) |
                       (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(lt1)) << 8;
    return ~m & 0xffffu;
}

static void partial_s8_avx2(const int16_t *cent, int np, const int16_t *wt2, int cout,
                            int32_t *y) {
    int oc = 0;
    for (; oc + 32 <= cout; oc += 32) {
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        __m256i a2 = _mm256_setzero_si256(), a3 = _mm256_setzero_si256();
        for (int pp = 0; pp < np; pp++) {
            int32_t pair;
            memcpy(&pair, cent + 2 * pp, 4);
            const __m256i c = _mm256_set1_epi32(pair);
            const __m256i *w = (const __m256i *)(wt2 + ((size_t)pp * cout + oc) * 2);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(c, _mm256_loadu_si256(w)));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(c, _mm256_loadu_si256(w + 1)));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(c, _mm256_loadu_si256(w + 2)));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(c, _mm256_loadu_si256(w + 3)));
        }
        _mm256_storeu_si256((__m256i *)(y + oc), a0);
        _mm256_storeu_si256((__m256i *)(y + oc + 8), a1);
        _mm256_storeu_si256((__m256i *)(y + oc + 16), a2);
        _mm256_storeu_si256((__m256i *)(y + oc + 24), a3);
    }
    for (; oc + 8 <= cout; oc += 8) {
        __m256i a0 = _mm256_setzero_si256();
        for (int pp = 0; pp < np; pp++) {
            int32_t pair;
            memcpy(&pair, cent + 2 * pp, 4);
            a0 = _mm256_add_epi32(
                a0, _mm256_madd_epi16(_mm256_set1_epi32(pair),
                                      _mm256_loadu_si256((const __m256i *)(wt2 + ((size_t)pp * cout + oc) * 2))));
        }
        _mm256_storeu_si256((__m256i *)(y + oc), a0);
    }
    for (; oc < cout; oc++) {
        int32_t a = 0;
        for (int pp = 0; pp < np; pp++)
            a += cent[2 * pp] * wt2[((size_t)pp * cout + oc) * 2] +
                 cent[2 * pp + 1] * wt2[((size_t)pp * cout + oc) * 2 + 1];
        y[oc] = a;
    }
}

void fr_trec_conv_s8_avx2(const fr_trec_params *p, const fr_cnn_geom *g,
                          const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, int8_t *output, void *scratch,
                          fr_trec_stats *stats) {
    fr_trec_s8_body(p, g, q, input, filter, bias, output, scratch, stats, hash_s8_avx2,
                    partial_s8_avx2, fr_trec_requant_rows_c,
                    fr_trec_cent_recip, 1);
}
