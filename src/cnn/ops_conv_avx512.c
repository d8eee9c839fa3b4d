/* CONV_2D int8 fast path for AVX-512 VNNI (FR_ISA_AVX512 includes VNNI).
 *
 * vpdpbusd multiplies unsigned bytes by signed bytes, four at a time, into int32 lanes
 * without saturation. The im2col rows hold x + 128 (x ^ 0x80) as unsigned bytes, and the
 * padding holds in_zp + 128, so with wsum[c] = sum_k w[c][k]:
 *   sum_k w * (u - 128 - in_zp) = sum_k w*u - (128 + in_zp) * wsum[c]
 * which is the reference's sum over the taps inside the image of w * (x - in_zp) (padded
 * taps give w * 0). The correction is folded into the bias. Exact int32 arithmetic (the
 * same value modulo 2^32 as the reference), so the outputs are bit-identical.
 * Weights are packed per 16 channels as [K4/4][16][4] bytes (once with the _pack function,
 * or into the scratch on every call); the micro-kernel computes
 * 8 pixels x 16 channels; requantisation reuses the AVX2 vector code. */
#include "cnn/ops_avx2_internal.h"

enum { NR = 16, MR = 8 };

static int round_up(int v, int m) {
    return (v + m - 1) / m * m;
}

static int block_pixels(const fr_cnn_geom *g, int k4) {
    const int P = g->batch * g->out_h * g->out_w;
    int pb = (48 * 1024) / k4;
    pb = pb / MR * MR;
    if (pb < MR) pb = MR;
    const int pr = round_up(P, MR);
    return pb < pr ? pb : pr;
}

/* Packed form: per-channel constants (bias with the correction folded in), then the
 * packed weights. */
size_t fr_cnn_conv_s8_avx512_packed_bytes(const fr_cnn_geom *g) {
    const int k4 = round_up(g->k_h * g->k_w * g->in_c, 4), cp = round_up(g->out_c, NR);
    return fr_cnn_rq_vec_bytes(cp) + fr_cnn_align64((size_t)cp * k4);
}

size_t fr_cnn_conv_s8_avx512_scratch_bytes(const fr_cnn_geom *g) {
    const int k4 = round_up(g->k_h * g->k_w * g->in_c, 4);
    return fr_cnn_conv_s8_avx512_packed_bytes(g) +
           fr_cnn_align64((size_t)block_pixels(g, k4) * k4);
}

void fr_cnn_conv_s8_avx512_pack(const fr_cnn_geom *g, const fr_cnn_requant *q,
                                const int8_t *filter, const int32_t *bias, void *packed) {
    const int K = g->k_h * g->k_w * g->in_c, k4 = round_up(K, 4);
    const int C = g->out_c, cp = round_up(C, NR);
    unsigned char *s = (unsigned char *)packed;
    fr_cnn_rq_vec rq;
    fr_cnn_rq_vec_init(&rq, s, C, cp, q, bias);
    uint32_t *W = (uint32_t *)(s + fr_cnn_rq_vec_bytes(cp));
    const int32_t corr = 128 + q->input_zp;
    for (int cb = 0; cb < cp; cb += NR)
        for (int j = 0; j < NR; j++) {
            const int c = cb + j;
            uint32_t *dst = W + (size_t)cb * (k4 / 4) + j;
            if (c >= C) {
                for (int kq = 0; kq < k4 / 4; kq++) dst[(size_t)kq * NR] = 0;
                continue;
            }
            const int8_t *fr = filter + (size_t)c * K;
            int32_t wsum = 0;
            for (int k = 0; k < K; k++) wsum += fr[k];
            int kq = 0;
            for (; 4 * kq + 4 <= K; kq++) {
                uint32_t v;
                memcpy(&v, fr + 4 * kq, 4);
                dst[(size_t)kq * NR] = v;
            }
            if (kq < k4 / 4) { /* the last 1-3 weights */
                uint32_t v = 0;
                for (int k = 4 * kq; k < K; k++) v |= (uint32_t)(uint8_t)fr[k] << (8 * (k - 4 * kq));
                dst[(size_t)kq * NR] = v;
            }
            rq.bias[c] = fr_q_sub(rq.bias[c], (int32_t)((uint32_t)corr * (uint32_t)wsum));
        }
}

/* dst[i] = src[i] ^ 0x80 (int8 -> uint8 x + 128) */
static inline void flip_row(uint8_t *dst, const int8_t *src, int n) {
    int i = 0;
    const __m256i s = _mm256_set1_epi8((char)0x80);
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i)), s));
    if (i + 16 <= n) {
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)),
                                       _mm256_castsi256_si128(s)));
        i += 16;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= 0x8080808080808080ull;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++) dst[i] = (uint8_t)(src[i] ^ 0x80);
}

static void im2col_u8(const fr_cnn_geom *g, const int8_t *input, uint8_t pad, int p0, int n,
                      int k4, uint8_t *A) {
    const int K = g->k_h * g->k_w * g->in_c, ic = g->in_c;
    const int hw = g->out_h * g->out_w;
    int b = p0 / hw, oy = (p0 % hw) / g->out_w, ox = p0 % g->out_w;
    for (int i = 0; i < n; i++) {
        if (i) { /* next output pixel in NHW order */
            if (++ox == g->out_w) {
                ox = 0;
                if (++oy == g->out_h) {
                    oy = 0;
                    b++;
                }
            }
        }
        uint8_t *row = A + (size_t)i * k4;
        const int iy0 = oy * g->stride_h - g->pad_top, ix0 = ox * g->stride_w - g->pad_left;
        for (int fy = 0; fy < g->k_h; fy++) {
            const int iy = iy0 + fy * g->dil_h;
            uint8_t *dst = row + (size_t)fy * g->k_w * ic;
            if (iy < 0 || iy >= g->in_h) {
                memset(dst, pad, (size_t)g->k_w * ic);
                continue;
            }
            const int8_t *src_row = input + ((size_t)b * g->in_h + iy) * g->in_w * ic;
            if (g->dil_w == 1 && ix0 >= 0 && ix0 + g->k_w <= g->in_w) {
                flip_row(dst, src_row + (size_t)ix0 * ic, g->k_w * ic);
                continue;
            }
            for (int fx = 0; fx < g->k_w; fx++) {
                const int ix = ix0 + fx * g->dil_w;
                if (ix < 0 || ix >= g->in_w)
                    memset(dst + (size_t)fx * ic, pad, (size_t)ic);
                else
                    flip_row(dst + (size_t)fx * ic, src_row + (size_t)ix * ic, ic);
            }
        }
        if (k4 > K) memset(row + K, 0, (size_t)(k4 - K));
    }
}

/* 16 lanes of MBQM + zero point + clamp -> 16 int8 (multipliers != INT32_MIN). */
static inline __m128i requant16(__m512i acc, const fr_cnn_rq_vec *r, int c,
                                const fr_cnn_requant *q) {
    const __m512i m = _mm512_loadu_si512((const void *)(r->mult + c));
    const __m512i l = _mm512_loadu_si512((const void *)(r->lsh + c));
    const __m512i e = _mm512_loadu_si512((const void *)(r->rsh + c));
    const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30);
    const __m512i a = _mm512_sllv_epi32(acc, l);
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(a, m), nudge);
    __m512i odd = _mm512_add_epi64(
        _mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(m, 32)), nudge);
    even = _mm512_srli_epi64(even, 31);
    odd = _mm512_slli_epi64(_mm512_srli_epi64(odd, 31), 32);
    const __m512i x = _mm512_mask_blend_epi32(0xAAAA, even, odd); /* SRDHM */
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, e), one);
    const __m512i rem = _mm512_and_si512(x, mask);
    const __m512i thr = _mm512_sub_epi32(_mm512_srai_epi32(mask, 1), _mm512_srai_epi32(x, 31));
    const __mmask16 up = _mm512_cmpgt_epi32_mask(rem, thr);
    const __m512i sh = _mm512_srav_epi32(x, e);
    __m512i v = _mm512_mask_add_epi32(sh, up, sh, one); /* RDPOT */
    v = _mm512_add_epi32(v, _mm512_set1_epi32(q->output_zp));
    v = _mm512_max_epi32(v, _mm512_set1_epi32(q->act_min));
    v = _mm512_min_epi32(v, _mm512_set1_epi32(q->act_max));
    return _mm512_cvtepi32_epi8(v);
}

static inline __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

void fr_cnn_conv_s8_avx512(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, const void *packed,
                           int8_t *output, void *scratch) {
    const int K = g->k_h * g->k_w * g->in_c, k4 = round_up(K, 4);
    const int C = g->out_c, cp = round_up(C, NR);
    const int P = g->batch * g->out_h * g->out_w;
    const int pb = block_pixels(g, k4);
    unsigned char *s = (unsigned char *)scratch;
    if (!packed) {
        fr_cnn_conv_s8_avx512_pack(g, q, filter, bias, s);
        packed = s;
    }
    s += fr_cnn_conv_s8_avx512_packed_bytes(g);
    fr_cnn_rq_vec rq;
    fr_cnn_rq_vec_view(&rq, packed, cp, q);
    const int8_t *W = (const int8_t *)packed + fr_cnn_rq_vec_bytes(cp);
    uint8_t *A = (uint8_t *)s;

    const uint8_t pad = (uint8_t)(q->input_zp + 128);
    const int direct = g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                       g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h &&
                       g->out_w == g->in_w && k4 == K;

    for (int p0 = 0; p0 < P; p0 += pb) {
        const int n = P - p0 < pb ? P - p0 : pb;
        if (direct)
            flip_row(A, input + (size_t)p0 * K, n * K);
        else
            im2col_u8(g, input, pad, p0, n, k4, A);
        for (int cb = 0; cb < cp; cb += NR) {
            const int8_t *wb = W + (size_t)cb * k4;
            const int nc = C - cb < NR ? C - cb : NR;
            const __m512i bv = _mm512_loadu_si512((const void *)(rq.bias + cb));
            for (int i = 0; i < n; i += MR) {
                const uint8_t *a[MR];
                for (int j = 0; j < MR; j++) a[j] = A + (size_t)(i + j < n ? i + j : n - 1) * k4;
                __m512i c0 = bv, c1 = bv, c2 = bv, c3 = bv, c4 = bv, c5 = bv, c6 = bv, c7 = bv;
                const int8_t *w = wb;
                for (int k = 0; k < k4; k += 4, w += 64) {
                    const __m512i wv = _mm512_loadu_si512((const void *)w);
                    c0 = _mm512_dpbusd_epi32(c0, bcast4(a[0] + k), wv);
                    c1 = _mm512_dpbusd_epi32(c1, bcast4(a[1] + k), wv);
                    c2 = _mm512_dpbusd_epi32(c2, bcast4(a[2] + k), wv);
                    c3 = _mm512_dpbusd_epi32(c3, bcast4(a[3] + k), wv);
                    c4 = _mm512_dpbusd_epi32(c4, bcast4(a[4] + k), wv);
                    c5 = _mm512_dpbusd_epi32(c5, bcast4(a[5] + k), wv);
                    c6 = _mm512_dpbusd_epi32(c6, bcast4(a[6] + k), wv);
                    c7 = _mm512_dpbusd_epi32(c7, bcast4(a[7] + k), wv);
                }
                const __m512i acc[MR] = {c0, c1, c2, c3, c4, c5, c6, c7};
                for (int j = 0; j < MR && i + j < n; j++) {
                    int8_t *out = output + (size_t)(p0 + i + j) * C + cb;
                    if (!rq.exact_vec) {
                        fr_avx2_requant_store16(_mm512_castsi512_si256(acc[j]),
                                                _mm512_extracti64x4_epi64(acc[j], 1), &rq, cb,
                                                q, out, nc);
                        continue;
                    }
                    const __m128i r = requant16(acc[j], &rq, cb, q);
                    if (nc == NR)
                        _mm_storeu_si128((__m128i *)out, r);
                    else
                        _mm_mask_storeu_epi8(out, (__mmask16)((1u << nc) - 1), r);
                }
            }
        }
    }
}
