/* FULLY_CONNECTED fast paths for AVX2 (+FMA).
 * int8: per output row, sum(w*x) and sum(w) with _mm256_madd_epi16 on sign-extended int16,
 * then acc = bias + sum(w*x) - input_zp * sum(w): the same int32 value as the reference
 * (exact integer arithmetic, wrap-around identical), so bit-identical outputs.
 * float: 8-wide FMA dot products, 4 rows at a time. */
#include "cnn/ops_avx2_internal.h"

static inline int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void fr_cnn_fc_s8_avx2(const fr_cnn_fc_dims *d, const fr_cnn_requant *q, const int8_t *input,
                       const int8_t *weights, const int32_t *bias, int8_t *output) {
    const int n = d->in;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int b = 0; b < d->batch; b++) {
        const int8_t *x = input + (size_t)b * n;
        for (int o = 0; o < d->out; o++) {
            const int8_t *w = weights + (size_t)o * n;
            __m256i dot = _mm256_setzero_si256(), ws = dot;
            int i = 0;
            for (; i + 16 <= n; i += 16) {
                const __m256i x16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + i)));
                const __m256i w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + i)));
                dot = _mm256_add_epi32(dot, _mm256_madd_epi16(x16, w16));
                ws = _mm256_add_epi32(ws, _mm256_madd_epi16(w16, ones));
            }
            int32_t acc = hsum_epi32(dot), wsum = hsum_epi32(ws);
            for (; i < n; i++) {
                acc += (int32_t)w[i] * x[i];
                wsum += w[i];
            }
            acc = fr_q_sub(acc, (int32_t)((uint32_t)q->input_zp * (uint32_t)wsum));
            if (bias) acc = fr_q_add(acc, bias[o]);
            output[(size_t)b * d->out + o] = fr_cnn_requant1(q, acc, o);
        }
    }
}

void fr_cnn_fc_f32_avx2(const fr_cnn_fc_dims *d, fr_cnn_range_f32 act, const float *input,
                        const float *weights, const float *bias, float *output) {
    const int n = d->in;
    for (int b = 0; b < d->batch; b++) {
        const float *x = input + (size_t)b * n;
        for (int o = 0; o < d->out; o++) {
            const float *w = weights + (size_t)o * n;
            __m256 s0 = _mm256_setzero_ps(), s1 = s0;
            int i = 0;
            for (; i + 16 <= n; i += 16) {
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(w + i), s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(w + i + 8), s1);
            }
            float acc = hsum_ps(_mm256_add_ps(s0, s1));
            for (; i < n; i++) acc += x[i] * w[i];
            if (bias) acc += bias[o];
            output[(size_t)b * d->out + o] = fr_cnn_clampf(acc, act);
        }
    }
}
