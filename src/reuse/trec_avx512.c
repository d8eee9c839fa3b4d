/* TREC int8 convolution with AVX-512 (F/BW/VL + VNNI; compiled with those flags, called
 * only when the caller's isa is >= FR_ISA_AVX512, i.e. after fr_isa_supported). The body
 * is fr_trec_s8_body (trec_internal.h), so its loops (centroid sums, gathering the partial
 * products into the accumulators) are vectorised for AVX-512 by the compiler; the kernels
 * use vpdpwssd on int16 pairs: every product fits int32 and no sum can overflow (trec.h),
 * so the results are bit-identical to the scalar reference.
 *   hash:    the Hq (8 or 16) hash sums of a row in one register, compared with the
 *            thresholds into a mask register: that mask is the bucket id;
 *   partial: up to 64 output channels in registers per pass, masked tail. */
#include <immintrin.h>
#include <string.h>

#include "cnn/ops_avx512_internal.h"
#include "reuse/trec_internal.h"

static inline int32_t pair_at(const int16_t *v, int pp) {
    int32_t x;
    memcpy(&x, v + 2 * pp, 4);
    return x;
}

static uint32_t hash_s8_avx512(const int16_t *ptp, int Hq, int H, const int16_t *v, int np,
                               const int32_t *thr) {
    (void)H;
    if (Hq == 8) {
        __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
        int pp = 0;
        for (; pp + 2 <= np; pp += 2) {
            a = _mm256_dpwssd_epi32(a, _mm256_set1_epi32(pair_at(v, pp)),
                                    _mm256_loadu_si256((const __m256i *)(ptp + (size_t)pp * 16)));
            b = _mm256_dpwssd_epi32(b, _mm256_set1_epi32(pair_at(v, pp + 1)),
                                    _mm256_loadu_si256((const __m256i *)(ptp + (size_t)pp * 16 + 16)));
        }
        if (pp < np)
            a = _mm256_dpwssd_epi32(a, _mm256_set1_epi32(pair_at(v, pp)),
                                    _mm256_loadu_si256((const __m256i *)(ptp + (size_t)pp * 16)));
        return _mm256_cmpge_epi32_mask(_mm256_add_epi32(a, b),
                                       _mm256_loadu_si256((const __m256i *)thr));
    }
    /* two independent chains (even / odd pairs): half the vpdpwssd latency chain */
    __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
    int pp = 0;
    for (; pp + 2 <= np; pp += 2) {
        a = _mm512_dpwssd_epi32(a, _mm512_set1_epi32(pair_at(v, pp)),
                                _mm512_loadu_si512(ptp + (size_t)pp * 32));
        b = _mm512_dpwssd_epi32(b, _mm512_set1_epi32(pair_at(v, pp + 1)),
                                _mm512_loadu_si512(ptp + (size_t)pp * 32 + 32));
    }
    if (pp < np)
        a = _mm512_dpwssd_epi32(a, _mm512_set1_epi32(pair_at(v, pp)),
                                _mm512_loadu_si512(ptp + (size_t)pp * 32));
    return _mm512_cmpge_epi32_mask(_mm512_add_epi32(a, b), _mm512_loadu_si512(thr));
}

static void partial_s8_avx512(const int16_t *cent, int np, const int16_t *wt2, int cout,
                              int32_t *y) {
    int oc = 0;
    for (; oc + 64 <= cout; oc += 64) {
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        __m512i a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
        for (int pp = 0; pp < np; pp++) {
            const __m512i c = _mm512_set1_epi32(pair_at(cent, pp));
            const int16_t *w = wt2 + ((size_t)pp * cout + oc) * 2;
            a0 = _mm512_dpwssd_epi32(a0, c, _mm512_loadu_si512(w));
            a1 = _mm512_dpwssd_epi32(a1, c, _mm512_loadu_si512(w + 32));
            a2 = _mm512_dpwssd_epi32(a2, c, _mm512_loadu_si512(w + 64));
            a3 = _mm512_dpwssd_epi32(a3, c, _mm512_loadu_si512(w + 96));
        }
        _mm512_storeu_si512(y + oc, a0);
        _mm512_storeu_si512(y + oc + 16, a1);
        _mm512_storeu_si512(y + oc + 32, a2);
        _mm512_storeu_si512(y + oc + 48, a3);
    }
    for (; oc + 32 <= cout; oc += 32) {
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        for (int pp = 0; pp < np; pp++) {
            const __m512i c = _mm512_set1_epi32(pair_at(cent, pp));
            const int16_t *w = wt2 + ((size_t)pp * cout + oc) * 2;
            a0 = _mm512_dpwssd_epi32(a0, c, _mm512_loadu_si512(w));
            a1 = _mm512_dpwssd_epi32(a1, c, _mm512_loadu_si512(w + 32));
        }
        _mm512_storeu_si512(y + oc, a0);
        _mm512_storeu_si512(y + oc + 16, a1);
    }
    for (; oc < cout; oc += 16) {
        const int n = cout - oc < 16 ? cout - oc : 16;
        const __mmask16 m = (__mmask16)((1u << n) - 1u);
        __m512i a0 = _mm512_setzero_si512();
        for (int pp = 0; pp < np; pp++)
            a0 = _mm512_dpwssd_epi32(a0, _mm512_set1_epi32(pair_at(cent, pp)),
                                     _mm512_maskz_loadu_epi32(m, wt2 + ((size_t)pp * cout + oc) * 2));
        _mm512_mask_storeu_epi32(y + oc, m, a0);
    }
}

/* The accumulators of `rows` pixels to int8, 16 channels at a time with the dense AVX-512
 * conv's requant16 (the same MBQM as fr_cnn_requant1); a block with a multiplier of
 * INT32_MIN (which needs the saturation branch) goes value by value. */
static void requant_s8_avx512(const fr_cnn_requant *q, const int32_t *acc, int64_t rows,
                              int cout, int8_t *out) {
    for (int c0 = 0; c0 < cout; c0 += 16) {
        const int n = cout - c0 < 16 ? cout - c0 : 16;
        const __mmask16 m = (__mmask16)((1u << n) - 1u);
        int32_t mult[16], lsh[16], rsh[16];
        int exact = 1;
        for (int c = 0; c < 16; c++) {
            const int i = q->per_channel ? (c < n ? c0 + c : 0) : 0;
            const int32_t s = q->shift[i];
            mult[c] = q->mult[i];
            lsh[c] = s > 0 ? s : 0;
            rsh[c] = s > 0 ? 0 : -s;
            if (c < n && mult[c] == INT32_MIN) exact = 0;
        }
        if (!exact) {
            for (int64_t r = 0; r < rows; r++)
                for (int c = c0; c < c0 + n; c++)
                    out[r * cout + c] = fr_cnn_requant1(q, acc[r * cout + c], c);
            continue;
        }
        rq16 k;
        k.m = _mm512_loadu_si512(mult);
        k.l = _mm512_loadu_si512(lsh);
        k.e = _mm512_loadu_si512(rsh);
        for (int64_t r = 0; r < rows; r++) {
            const __m512i a = _mm512_maskz_loadu_epi32(m, acc + r * cout + c0);
            _mm_mask_storeu_epi8(out + r * cout + c0, m, requant16(a, &k, q));
        }
    }
}

void fr_trec_conv_s8_avx512(const fr_trec_params *p, const fr_cnn_geom *g,
                            const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, void *scratch,
                            fr_trec_stats *stats) {
    fr_trec_s8_body(p, g, q, input, filter, bias, output, scratch, stats, hash_s8_avx512,
                    partial_s8_avx512, requant_s8_avx512,
                    fr_trec_cent_recip, 1);
}
