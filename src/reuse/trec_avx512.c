/* TREC float and int8 convolution with AVX-512 (F/BW/VL + VNNI; compiled with those flags,
 * called only when the caller's isa is >= FR_ISA_AVX512, i.e. after fr_isa_supported).
 * Float: the body of trec_f32_body.h with 16-lane partial products (separate multiplies
 * and adds, each lane summing in order t: bit-identical to the reference; a core with
 * full-width 512-bit pipes does twice the 256-bit kernel's products per cycle) and the
 * AVX2 hash and transposition (trec_f32_avx2_kernels.h). The body
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
#include "reuse/trec_f32_avx2_kernels.h"
#include "reuse/trec_f32_body.h"
#include "reuse/trec_internal.h"
#include "reuse/trec_s8_body.h"

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

/* Float partial products of up to FR_TREC_PART_BLOCK = 4 centroids at once (a shorter
 * list repeats its last centroid, computed twice and stored twice: the same values), 64
 * output channels per pass (16 FMA chains, each filter load serving four), then 16 at a
 * time with a masked tail (4 chains). */
static void partial_f32_avx512(const float *const *cent, int n, int Lj, const float *wt,
                               int cout, float *const *y) {
    const float *c0 = cent[0], *c1 = cent[n > 1 ? 1 : 0], *c2 = cent[n > 2 ? 2 : n - 1],
                *c3 = cent[n > 3 ? 3 : n - 1];
    float *y0 = y[0], *y1 = y[n > 1 ? 1 : 0], *y2 = y[n > 2 ? 2 : n - 1], *y3 = y[n > 3 ? 3 : n - 1];
    int oc = 0;
    for (; oc + 64 <= cout; oc += 64) {
        __m512 a[4][4];
        for (int i = 0; i < 4; i++)
            for (int u = 0; u < 4; u++) a[i][u] = _mm512_setzero_ps();
        for (int t = 0; t < Lj; t++) {
            const float *w = wt + (size_t)t * cout + oc;
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16),
                         w2 = _mm512_loadu_ps(w + 32), w3 = _mm512_loadu_ps(w + 48);
            const __m512 x0 = _mm512_set1_ps(c0[t]), x1 = _mm512_set1_ps(c1[t]),
                         x2 = _mm512_set1_ps(c2[t]), x3 = _mm512_set1_ps(c3[t]);
            a[0][0] = _mm512_fmadd_ps(x0, w0, a[0][0]);
            a[0][1] = _mm512_fmadd_ps(x0, w1, a[0][1]);
            a[0][2] = _mm512_fmadd_ps(x0, w2, a[0][2]);
            a[0][3] = _mm512_fmadd_ps(x0, w3, a[0][3]);
            a[1][0] = _mm512_fmadd_ps(x1, w0, a[1][0]);
            a[1][1] = _mm512_fmadd_ps(x1, w1, a[1][1]);
            a[1][2] = _mm512_fmadd_ps(x1, w2, a[1][2]);
            a[1][3] = _mm512_fmadd_ps(x1, w3, a[1][3]);
            a[2][0] = _mm512_fmadd_ps(x2, w0, a[2][0]);
            a[2][1] = _mm512_fmadd_ps(x2, w1, a[2][1]);
            a[2][2] = _mm512_fmadd_ps(x2, w2, a[2][2]);
            a[2][3] = _mm512_fmadd_ps(x2, w3, a[2][3]);
            a[3][0] = _mm512_fmadd_ps(x3, w0, a[3][0]);
            a[3][1] = _mm512_fmadd_ps(x3, w1, a[3][1]);
            a[3][2] = _mm512_fmadd_ps(x3, w2, a[3][2]);
            a[3][3] = _mm512_fmadd_ps(x3, w3, a[3][3]);
        }
        float *const yo[4] = {y0 + oc, y1 + oc, y2 + oc, y3 + oc};
        for (int i = 0; i < 4; i++)
            for (int u = 0; u < 4; u++) _mm512_storeu_ps(yo[i] + 16 * u, a[i][u]);
    }
    for (; oc < cout; oc += 16) {
        const int m16 = cout - oc < 16 ? cout - oc : 16;
        const __mmask16 m = (__mmask16)((1u << m16) - 1u);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < Lj; t++) {
            const __m512 w = _mm512_maskz_loadu_ps(m, wt + (size_t)t * cout + oc);
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(c0[t]), w, a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(c1[t]), w, a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(c2[t]), w, a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(c3[t]), w, a3);
        }
        _mm512_mask_storeu_ps(y0 + oc, m, a0);
        _mm512_mask_storeu_ps(y1 + oc, m, a1);
        _mm512_mask_storeu_ps(y2 + oc, m, a2);
        _mm512_mask_storeu_ps(y3 + oc, m, a3);
    }
}

void fr_trec_conv_f32_avx512(const fr_trec_params *p, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                             const float *input, const float *filter, const float *bias,
                             float *output, void *scratch, fr_trec_stats *stats) {
    fr_trec_f32_body(p, g, act, input, filter, bias, output, scratch, stats,
                     fr_trec_hash_rows_f32_avx2, partial_f32_avx512, fr_trec_transpose_f32_avx2);
}

/* The accumulators of `rows` pixels to int8, 16 channels at a time with the dense AVX-512
 * conv's requant16 (the same MBQM as fr_cnn_requant1); a block with a multiplier of
 * INT32_MIN (which needs the saturation branch) goes value by value. */
static void requant_s8_avx512(const fr_cnn_requant *q, const int32_t *acc, int64_t rows,
                              int cout, int8_t *out) {
    const fr_cnn_requant qv = *q; /* a copy: the int8 stores below cannot alias it */
    for (int c0 = 0; c0 < cout; c0 += 16) {
        const int n = cout - c0 < 16 ? cout - c0 : 16;
        const __mmask16 m = (__mmask16)((1u << n) - 1u);
        const __m512i mult = qv.per_channel ? _mm512_maskz_loadu_epi32(m, qv.mult + c0)
                                            : _mm512_set1_epi32(qv.mult[0]);
        const __m512i sh = qv.per_channel ? _mm512_maskz_loadu_epi32(m, qv.shift + c0)
                                          : _mm512_set1_epi32(qv.shift[0]);
        if (_mm512_mask_cmpeq_epi32_mask(m, mult, _mm512_set1_epi32(INT32_MIN))) {
            for (int64_t r = 0; r < rows; r++)
                for (int c = c0; c < c0 + n; c++)
                    out[r * cout + c] = fr_cnn_requant1(&qv, acc[r * cout + c], c);
            continue;
        }
        rq16 k;
        k.m = mult;
        k.l = _mm512_max_epi32(sh, _mm512_setzero_si512());
        k.e = _mm512_max_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), sh), _mm512_setzero_si512());
        if (n == 16) /* a plain store: the masked narrowing store (vpmovdb to memory) is
                      * several times slower on Zen 4 */
            for (int64_t r = 0; r < rows; r++)
                _mm_storeu_si128((__m128i *)(void *)(out + r * cout + c0),
                                 requant16(_mm512_loadu_si512(acc + r * cout + c0), &k, &qv));
        else
            for (int64_t r = 0; r < rows; r++) {
                const __m512i a = _mm512_maskz_loadu_epi32(m, acc + r * cout + c0);
                _mm_mask_storeu_epi8(out + r * cout + c0, m, requant16(a, &k, &qv));
            }
    }
}

void fr_trec_pack_tap_vnni(const int8_t *filter, int K, int k0, int L, int cout, uint8_t *W) {
    const int kq = L / 4, cp = (cout + 15) & ~15;
    /* one gather of 16 channels' 4 weights per quad (0 past cout) */
    const __m512i rows = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(K));
    for (int cb = 0; cb < cp; cb += 16) {
        const int n = cout - cb < 16 ? cout - cb : 16;
        const __mmask16 m = (__mmask16)((1u << n) - 1u);
        const int8_t *src = filter + (size_t)cb * K + k0;
        for (int qq = 0; qq < kq; qq++)
            _mm512_storeu_si512(W + ((size_t)(cb / 16) * kq + qq) * 64,
                                _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, rows,
                                                            src + 4 * qq, 1));
    }
}

/* vnni_4x64: cluster r's quad (q4[r]) against the four channel blocks w0 .. w3 */
#define FR_VNNI_ROW4(r)                                          \
    do {                                                          \
        const __m512i b = _mm512_set1_epi32(q4[r]);               \
        a##r##0 = _mm512_dpbusd_epi32(a##r##0, b, w0);            \
        a##r##1 = _mm512_dpbusd_epi32(a##r##1, b, w1);            \
        a##r##2 = _mm512_dpbusd_epi32(a##r##2, b, w2);            \
        a##r##3 = _mm512_dpbusd_epi32(a##r##3, b, w3);            \
    } while (0)

/* tap_s8_vnni's main micro-kernel: rows r0 .. r0 + 3 of U (the clusters list[r0 ..], n of
 * them real) against the 64 channels from cb of the packed slice W (kq quads): 16 sums in
 * registers, each filter load serving four clusters and each broadcast four channel blocks;
 * stored corrected by kw, masked to cout. */
static inline void vnni_4x64(const uint8_t *W, int kq, int cb, const uint8_t *U, int L, int r0,
                             int n, const int32_t *list, const int32_t *kw, int cout,
                             int32_t *part, int S) {
    const size_t blk = (size_t)kq * 64;
    const uint8_t *w = W + (size_t)(cb / 16) * blk;
    const uint8_t *u = U + (size_t)r0 * L;
    const __m512i z = _mm512_setzero_si512();
    __m512i a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
    __m512i a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
    for (int qq = 0; qq < kq; qq++) {
        const size_t q = (size_t)qq * 64;
        const __m512i w0 = _mm512_loadu_si512(w + q), w1 = _mm512_loadu_si512(w + blk + q);
        const __m512i w2 = _mm512_loadu_si512(w + 2 * blk + q);
        const __m512i w3 = _mm512_loadu_si512(w + 3 * blk + q);
        int32_t q4[4];
        for (int r = 0; r < 4; r++) memcpy(&q4[r], u + (size_t)r * L + 4 * qq, 4);
        FR_VNNI_ROW4(0);
        FR_VNNI_ROW4(1);
        FR_VNNI_ROW4(2);
        FR_VNNI_ROW4(3);
    }
    const __m512i a[4][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23},
                             {a30, a31, a32, a33}};
    for (int c = 0; c < 4; c++) {
        const int o = cb + 16 * c, m_n = cout - o < 16 ? (cout - o > 0 ? cout - o : 0) : 16;
        const __mmask16 m = (__mmask16)((1u << m_n) - 1u);
        const __m512i k = _mm512_loadu_si512(kw + o);
        for (int r = 0; r < n; r++) /* sum_t v w = sum_t u w - (zp + 128) wsum */
            _mm512_mask_storeu_epi32(part + (size_t)list[r0 + r] * S + o, m,
                                     _mm512_sub_epi32(a[r][c], k));
    }
}
#undef FR_VNNI_ROW4

/* Pixel mode, one filter tap (the nc clusters of list), with vpdpbusd (u8 x s8, four
 * products per lane, like the dense AVX-512 conv): the tap's filter slice packed per 16 channels as [L/4][16][4] bytes,
 * (fr_trec_pack_tap_vnni; from params.taps_s8 when given),
 * the centroids as unsigned bytes u = v + zp + 128 (the centroid in the input's int8
 * domain, plus 128: in [0, 255]), four clusters x 64 channels per micro-kernel
 * (vnni_4x64; eight clusters x 16 channels for the last channels of cout % 64); a row
 * of ones gives wsum[oc] = sum_t w[oc][t] first, and each cluster's sums are stored as
 * sum_t v w = sum_t u w - (zp + 128) * wsum exactly (int32, wrapping as before). L not a
 * multiple of 4: the int16-pair path. */
static void tap_s8_vnni(const int8_t *filter, int K, int k0, int L, int cout,
                        const int16_t *cent, const int32_t *list, int nc, int32_t zp,
                        int32_t *part, int S, void *work, const void *packed,
                        fr_trec_partial_s8_fn partial) {
    if (L % 4 != 0) {
        fr_trec_tap_s8_pairs(filter, K, k0, L, cout, cent, list, nc, zp, part, S, work,
                             NULL, partial);
        return;
    }
    const int kq = L / 4, cp = (cout + 15) & ~15, Lp = L; /* L even */
    uint8_t *U = (uint8_t *)work + (size_t)cp * L; /* after cp * L bytes of slice: 8 rows of L */
    int32_t *kw = (int32_t *)(void *)(U + (size_t)8 * L + (64 - ((uintptr_t)(U + (size_t)8 * L) & 63)) % 64);
    const uint8_t *W = packed;
    if (!W) { /* packed into the work area's start */
        fr_trec_pack_tap_vnni(filter, K, k0, L, cout, work);
        W = work;
    }
    const int32_t corr = zp + 128;
    const __m512i corr16 = _mm512_set1_epi16((int16_t)corr);
    /* kw[oc] = (zp + 128) * wsum[oc], first (a row of ones through the same products);
     * each cluster's sums are corrected before they are stored */
    const __m512i ones = _mm512_set1_epi8(1);
    for (int cb = 0; cb < cp; cb += 16) {
        const uint8_t *w = W + (size_t)(cb / 16) * kq * 64;
        __m512i a = _mm512_setzero_si512();
        for (int qq = 0; qq < kq; qq++)
            a = _mm512_dpbusd_epi32(a, ones, _mm512_loadu_si512(w + (size_t)qq * 64));
        _mm512_storeu_si512(kw + cb, _mm512_mullo_epi32(_mm512_set1_epi32(corr), a));
    }
    for (int c0 = 0; c0 < nc; c0 += 8) {
        const int nr = nc - c0 < 8 ? nc - c0 : 8;
        for (int r = 0; r < 8; r++) {
            uint8_t *u = U + (size_t)r * L;
            const int idx = c0 + r;
            if (idx < nc) { /* u = v + corr in [0, 255], 32 at a time */
                const int16_t *cv = cent + (size_t)list[idx] * Lp;
                for (int t = 0; t < L; t += 32) {
                    const __mmask32 mt = L - t >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << (L - t)) - 1);
                    const __m512i v = _mm512_add_epi16(_mm512_maskz_loadu_epi16(mt, cv + t), corr16);
                    _mm256_mask_storeu_epi8(u + t, mt, _mm512_cvtepi16_epi8(v));
                }
            } else {
                memset(u, 0, (size_t)L); /* unused rows of the last block */
            }
        }
        int cb = 0;
        for (; cb + 64 <= cp; cb += 64) /* 4 clusters x 64 channels: a load per 4 products */
            for (int r0 = 0; r0 < nr; r0 += 4)
                vnni_4x64(W, kq, cb, U, L, r0, nr - r0 < 4 ? nr - r0 : 4, list + c0, kw, cout,
                          part, S);
        for (; cb < cp; cb += 16) {
            const uint8_t *w = W + (size_t)(cb / 16) * kq * 64;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
                    a6 = a0, a7 = a0;
            for (int qq = 0; qq < kq; qq++) {
                const __m512i wv = _mm512_loadu_si512(w + (size_t)qq * 64);
                const uint8_t *uq = U + 4 * qq;
                int32_t b[8];
                for (int r = 0; r < 8; r++) memcpy(&b[r], uq + (size_t)r * L, 4);
                a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(b[0]), wv);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(b[1]), wv);
                a2 = _mm512_dpbusd_epi32(a2, _mm512_set1_epi32(b[2]), wv);
                a3 = _mm512_dpbusd_epi32(a3, _mm512_set1_epi32(b[3]), wv);
                a4 = _mm512_dpbusd_epi32(a4, _mm512_set1_epi32(b[4]), wv);
                a5 = _mm512_dpbusd_epi32(a5, _mm512_set1_epi32(b[5]), wv);
                a6 = _mm512_dpbusd_epi32(a6, _mm512_set1_epi32(b[6]), wv);
                a7 = _mm512_dpbusd_epi32(a7, _mm512_set1_epi32(b[7]), wv);
            }
            const __m512i acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
            const __m512i k = _mm512_loadu_si512(kw + cb);
            const int n = cout - cb < 16 ? cout - cb : 16;
            const __mmask16 m = (__mmask16)((1u << n) - 1u);
            for (int r = 0; r < nr; r++) /* sum_t v w = sum_t u w - (zp + 128) wsum */
                _mm512_mask_storeu_epi32(part + (size_t)list[c0 + r] * S + cb, m,
                                         _mm512_sub_epi32(acc[r], k));
        }
    }
}

void fr_trec_conv_s8_avx512(const fr_trec_params *p, const fr_cnn_geom *g,
                            const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, void *scratch,
                            fr_trec_stats *stats) {
    if (p->pixel) {
        fr_trec_s8_pixel_body(p, g, q, input, filter, bias, output, scratch, stats,
                              hash_s8_avx512, partial_s8_avx512, requant_s8_avx512,
                              fr_trec_cent_recip, tap_s8_vnni);
        return;
    }
    fr_trec_s8_body(p, g, q, input, filter, bias, output, scratch, stats, hash_s8_avx512,
                    partial_s8_avx512, requant_s8_avx512,
                    fr_trec_cent_recip, 1);
}
