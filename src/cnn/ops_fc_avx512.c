/* FULLY_CONNECTED int8 fast path for AVX-512 VNNI: vpdpbusd over 64 inputs per
 * instruction, four output rows at a time sharing the input's loads. The input is read as
 * unsigned bytes u = x ^ 0x80 = x + 128, so per row
 *   sum(u * w) = sum(x * w) + 128 * sum(w)        and sum(w) = sum(1 * w)
 * (both by vpdpbusd, wrapping int32); acc = bias + sum(u*w) - (128 + input_zp) * sum(w),
 * the reference's int32 value modulo 2^32 (the reference wraps too), so bit-identical.
 * The last partial block of 64 inputs is loaded with a mask (zeros add nothing). */
#include "cnn/ops_avx512_internal.h"

enum { ROWS = 4 };

/* sum(u * w) and sum(w) of `nr` <= ROWS weight rows against the flipped input. */
static void dots(const int8_t *x, const int8_t *const *w, int nr, int n, int32_t *dot,
                 int32_t *wsum) {
    const __m512i flip = _mm512_set1_epi8((char)0x80), ones = _mm512_set1_epi8(1);
    __m512i d[ROWS], s[ROWS];
    for (int r = 0; r < ROWS; r++) d[r] = s[r] = _mm512_setzero_si512();
    for (int i = 0; i < n; i += 64) {
        const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        const __m512i u = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, x + i), flip);
        for (int r = 0; r < ROWS; r++) { /* rows past nr repeat row 0 (never stored) */
            const __m512i wv = _mm512_maskz_loadu_epi8(m, w[r < nr ? r : 0] + i);
            d[r] = _mm512_dpbusd_epi32(d[r], u, wv); /* masked lanes: 128 * 0 */
            s[r] = _mm512_dpbusd_epi32(s[r], ones, wv);
        }
    }
    for (int r = 0; r < nr; r++) {
        dot[r] = hsum16_epi32(d[r]);
        wsum[r] = hsum16_epi32(s[r]);
    }
}

void fr_cnn_fc_s8_avx512(const fr_cnn_fc_dims *d, const fr_cnn_requant *q, const int8_t *input,
                         const int8_t *weights, const int32_t *bias, int8_t *output) {
    const int n = d->in;
    const uint32_t corr = 128u + (uint32_t)q->input_zp;
    for (int b = 0; b < d->batch; b++) {
        const int8_t *x = input + (size_t)b * n;
        for (int o0 = 0; o0 < d->out; o0 += ROWS) {
            const int nr = d->out - o0 < ROWS ? d->out - o0 : ROWS;
            const int8_t *w[ROWS];
            for (int r = 0; r < ROWS; r++) w[r] = weights + (size_t)(o0 + (r < nr ? r : 0)) * n;
            int32_t dot[ROWS], wsum[ROWS];
            dots(x, w, nr, n, dot, wsum);
            for (int r = 0; r < nr; r++) {
                const int o = o0 + r;
                int32_t acc = (int32_t)((uint32_t)dot[r] - corr * (uint32_t)wsum[r]);
                if (bias) acc = fr_q_add(acc, bias[o]);
                output[(size_t)b * d->out + o] = fr_cnn_requant1(q, acc, o);
            }
        }
    }
}
