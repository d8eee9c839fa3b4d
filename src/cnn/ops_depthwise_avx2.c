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
    const __m256i zp = _mm256_set1_epi16((int16_t)q->input_zp);

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
