/* DEPTHWISE_CONV_2D int8 fast path for AVX2 (depth multiplier 1; other multipliers use
 * the reference).
 *
 * Channels are vectorised 16 at a time. Taps are taken in pairs: the int16 values
 * (x - input_zp) of two taps are interleaved, as are the two taps' weights, so that one
 * _mm256_madd_epi16 gives x1*w1 + x2*w2 per channel in int32 (|x - zp| <= 255, |w| <= 128:
 * exact). The interleave leaves the channels in the order 0-3 8-11 | 4-7 12-15, which is
 * undone once per output. Exact integer arithmetic: bit-identical to the reference.
 * Scratch: the per-channel requantisation constants and the weights widened to int16. */
#include "cnn/ops_avx2_internal.h"

static int round16(int v) {
    return (v + 15) / 16 * 16;
}

size_t fr_cnn_dwconv_s8_avx2_scratch_bytes(const fr_cnn_geom *g) {
    const int cp = round16(g->out_c);
    return fr_cnn_rq_vec_bytes(cp) + fr_cnn_align64((size_t)g->k_h * g->k_w * cp * 2);
}

/* 16 int8 from src widened to int16 minus zp. With n < 16 only n bytes are read; the other
 * lanes hold junk that meets the zero weights of the padded channels. */
static inline __m256i load16(const int8_t *src, int n, __m256i zp) {
    __m128i v;
    if (n == 16) {
        v = _mm_loadu_si128((const __m128i *)src);
    } else {
        v = fr_avx2_load_partial(src, n);
    }
    return _mm256_sub_epi16(_mm256_cvtepi8_epi16(v), zp);
}

/* Pointers to the k_h*k_w taps of output pixel (b, oy, ox); taps in the padding point to
 * `pad`, 8 bytes equal to input_zp, which contribute exactly 0. */
static inline void taps_c8(const fr_cnn_geom *g, const int8_t *input, const int8_t *pad, int b,
                           int oy, int ox, const ptrdiff_t *off, const int8_t **xp) {
    const int iy0 = oy * g->stride_h - g->pad_top, ix0 = ox * g->stride_w - g->pad_left;
    if (iy0 >= 0 && iy0 + (g->k_h - 1) * g->dil_h < g->in_h && ix0 >= 0 &&
        ix0 + (g->k_w - 1) * g->dil_w < g->in_w) {
        const int8_t *base = input + (((size_t)b * g->in_h + iy0) * g->in_w + ix0) * 8;
        for (int t = 0; t < g->k_h * g->k_w; t++) xp[t] = base + off[t];
        return;
    }
    int t = 0;
    for (int fy = 0; fy < g->k_h; fy++) {
        const int iy = iy0 + fy * g->dil_h;
        const int yok = iy >= 0 && iy < g->in_h;
        for (int fx = 0; fx < g->k_w; fx++, t++) {
            const int ix = ix0 + fx * g->dil_w;
            xp[t] = (yok && ix >= 0 && ix < g->in_w)
                        ? input + (((size_t)b * g->in_h + iy) * g->in_w + ix) * 8
                        : pad;
        }
    }
}

static inline __m256i load_pair8(const int8_t *a, const int8_t *b, __m256i zp) {
    int64_t va, vb;
    memcpy(&va, a, 8);
    memcpy(&vb, b, 8);
    return _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_set_epi64x(vb, va)), zp);
}

/* Exactly 8 channels: two output pixels share one vector (lanes 0-7 pixel A, 8-15 pixel
 * B); W2 holds each tap's 8 weights twice. */
static void dw_c8(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                  const int16_t *W2, const fr_cnn_rq_vec *rq, int8_t *output) {
    const int taps = g->k_h * g->k_w;
    int8_t pad[8];
    memset(pad, (int)(uint8_t)(int8_t)q->input_zp, sizeof pad);
    const __m256i zp = _mm256_set1_epi16((int16_t)q->input_zp);
    const __m256i bias8 = _mm256_loadu_si256((const __m256i *)rq->bias);
    const int8_t *xa[64], *xb[64];
    ptrdiff_t off[64];
    for (int fy = 0; fy < g->k_h; fy++)
        for (int fx = 0; fx < g->k_w; fx++)
            off[fy * g->k_w + fx] = ((ptrdiff_t)fy * g->dil_h * g->in_w + (ptrdiff_t)fx * g->dil_w) * 8;
    for (int b = 0; b < g->batch; b++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox += 2) {
                const int has_b = ox + 1 < g->out_w;
                taps_c8(g, input, pad, b, oy, ox, off, xa);
                taps_c8(g, input, pad, b, oy, has_b ? ox + 1 : ox, off, xb);
                __m256i lo = _mm256_setzero_si256(), hi = lo;
                int t = 0;
                for (; t + 1 < taps; t += 2) {
                    const __m256i x1 = load_pair8(xa[t], xb[t], zp);
                    const __m256i x2 = load_pair8(xa[t + 1], xb[t + 1], zp);
                    const __m256i w1 = _mm256_loadu_si256((const __m256i *)(W2 + (size_t)t * 16));
                    const __m256i w2 = _mm256_loadu_si256((const __m256i *)(W2 + (size_t)(t + 1) * 16));
                    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x1, x2),
                                                                _mm256_unpacklo_epi16(w1, w2)));
                    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x1, x2),
                                                                _mm256_unpackhi_epi16(w1, w2)));
                }
                if (t < taps) {
                    const __m256i x1 = load_pair8(xa[t], xb[t], zp);
                    const __m256i w1 = _mm256_loadu_si256((const __m256i *)(W2 + (size_t)t * 16));
                    const __m256i z = _mm256_setzero_si256();
                    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x1, z),
                                                                _mm256_unpacklo_epi16(w1, z)));
                    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x1, z),
                                                                _mm256_unpackhi_epi16(w1, z)));
                }
                /* lo = A 0-3 | B 0-3, hi = A 4-7 | B 4-7 */
                const __m256i pa = _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x20), bias8);
                const __m256i pb = _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x31), bias8);
                const __m128i r = fr_avx2_pack16(fr_avx2_requant8(pa, rq, 0, q),
                                                 fr_avx2_requant8(pb, rq, 0, q));
                int8_t *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * 8;
                _mm_storel_epi64((__m128i *)out, r);
                if (has_b) _mm_storel_epi64((__m128i *)(out + 8), _mm_unpackhi_epi64(r, r));
            }
}

void fr_cnn_dwconv_s8_avx2(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, int8_t *output,
                           void *scratch) {
    if (g->depth_mult != 1 || g->k_h * g->k_w > 64) { /* not worth a special case */
        fr_cnn_dwconv_s8_ref(g, q, input, filter, bias, output);
        return;
    }
    const int C = g->out_c, cp = round16(C), taps = g->k_h * g->k_w;
    unsigned char *s = (unsigned char *)scratch;
    fr_cnn_rq_vec rq;
    fr_cnn_rq_vec_init(&rq, s, C, cp, q, bias);
    s += fr_cnn_rq_vec_bytes(cp);
    int16_t *W = (int16_t *)s; /* [taps][cp] */
    for (int t = 0; t < taps; t++)
        for (int c = 0; c < cp; c++)
            W[(size_t)t * cp + c] = c < C ? filter[(size_t)t * C + c] : 0;
    if (C == 8 && rq.exact_vec) {
        for (int t = 0; t < taps; t++) /* each tap's weights twice: [taps][16] */
            for (int c = 0; c < 16; c++) W[(size_t)t * 16 + c] = filter[(size_t)t * 8 + (c & 7)];
        dw_c8(g, q, input, W, &rq, output);
        return;
    }
    const __m256i zp = _mm256_set1_epi16((int16_t)q->input_zp);
    /* interior pixels: every tap valid, at a fixed offset from the window origin */
    const int span_h = (g->k_h - 1) * g->dil_h + 1, span_w = (g->k_w - 1) * g->dil_w + 1;
    ptrdiff_t off[64];
    for (int fy = 0; fy < g->k_h; fy++)
        for (int fx = 0; fx < g->k_w; fx++)
            off[fy * g->k_w + fx] = ((ptrdiff_t)fy * g->dil_h * g->in_w + (ptrdiff_t)fx * g->dil_w) * C;

    for (int b = 0; b < g->batch; b++)
        for (int oy = 0; oy < g->out_h; oy++) {
            const int iy0 = oy * g->stride_h - g->pad_top;
            for (int ox = 0; ox < g->out_w; ox++) {
                const int ix0 = ox * g->stride_w - g->pad_left;
                /* the valid taps of this output pixel */
                const int8_t *xp[64];
                const int16_t *wp[64];
                int nt = 0;
                int8_t *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * C;
                if (iy0 >= 0 && iy0 + span_h <= g->in_h && ix0 >= 0 && ix0 + span_w <= g->in_w) {
                    const int8_t *base = input + (((size_t)b * g->in_h + iy0) * g->in_w + ix0) * C;
                    for (int t = 0; t < taps; t++) {
                        xp[t] = base + off[t];
                        wp[t] = W + (size_t)t * cp;
                    }
                    nt = taps;
                } else {
                    for (int fy = 0; fy < g->k_h; fy++) {
                        const int iy = iy0 + fy * g->dil_h;
                        if (iy < 0 || iy >= g->in_h) continue;
                        for (int fx = 0; fx < g->k_w; fx++) {
                            const int ix = ix0 + fx * g->dil_w;
                            if (ix < 0 || ix >= g->in_w) continue;
                            xp[nt] = input + (((size_t)b * g->in_h + iy) * g->in_w + ix) * C;
                            wp[nt] = W + (size_t)(fy * g->k_w + fx) * cp;
                            nt++;
                        }
                    }
                }
                for (int c = 0; c < cp; c += 16) {
                    const int nc = C - c < 16 ? C - c : 16;
                    __m256i lo = _mm256_setzero_si256(), hi = lo;
                    int t = 0;
                    for (; t + 1 < nt; t += 2) {
                        const __m256i x1 = load16(xp[t] + c, nc, zp);
                        const __m256i x2 = load16(xp[t + 1] + c, nc, zp);
                        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wp[t] + c));
                        const __m256i w2 = _mm256_loadu_si256((const __m256i *)(wp[t + 1] + c));
                        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x1, x2),
                                                                    _mm256_unpacklo_epi16(w1, w2)));
                        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x1, x2),
                                                                    _mm256_unpackhi_epi16(w1, w2)));
                    }
                    if (t < nt) {
                        const __m256i x1 = load16(xp[t] + c, nc, zp);
                        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wp[t] + c));
                        const __m256i z = _mm256_setzero_si256();
                        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x1, z),
                                                                    _mm256_unpacklo_epi16(w1, z)));
                        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x1, z),
                                                                    _mm256_unpackhi_epi16(w1, z)));
                    }
                    /* lo = channels 0-3 | 8-11, hi = 4-7 | 12-15 */
                    __m256i a0 = _mm256_permute2x128_si256(lo, hi, 0x20);
                    __m256i a1 = _mm256_permute2x128_si256(lo, hi, 0x31);
                    a0 = _mm256_add_epi32(a0, _mm256_loadu_si256((const __m256i *)(rq.bias + c)));
                    a1 = _mm256_add_epi32(a1, _mm256_loadu_si256((const __m256i *)(rq.bias + c + 8)));
                    fr_avx2_requant_store16(a0, a1, &rq, c, q, out + c, nc);
                }
            }
        }
}
