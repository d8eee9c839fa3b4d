/* ADD int8 fast path for AVX2: 16 elements per step with the exact vector fixed-point
 * helpers of ops_avx2_internal.h (bit-identical to fr_cnn_add_s8_ref; multipliers equal
 * to INT32_MIN, which the prepare helper never produces, go to the reference). */
#include "cnn/ops_avx2_internal.h"

/* x: 8 int32 (already offset) -> MBQM(x << left, m, s) with s <= 0 (right shift -s) */
static inline __m256i scale8(__m256i x, int left, __m256i m, __m256i rs) {
    return fr_avx2_rdpot(fr_avx2_srdhm(_mm256_slli_epi32(x, left), m), rs);
}

void fr_cnn_add_s8_avx2(const fr_cnn_add_s8_params *p, const int8_t *in1, const int8_t *in2,
                        int8_t *out, size_t n) {
    if (p->in1_mult == INT32_MIN || p->in2_mult == INT32_MIN || p->out_mult == INT32_MIN ||
        p->in1_shift > 0 || p->in2_shift > 0 || p->out_shift > 0 || p->left_shift < 0 ||
        p->left_shift > 31) {
        fr_cnn_add_s8_ref(p, in1, in2, out, n);
        return;
    }
    const __m256i zp1 = _mm256_set1_epi32(p->in1_zp), zp2 = _mm256_set1_epi32(p->in2_zp);
    const __m256i m1 = _mm256_set1_epi32(p->in1_mult), m2 = _mm256_set1_epi32(p->in2_mult);
    const __m256i mo = _mm256_set1_epi32(p->out_mult);
    const __m256i r1 = _mm256_set1_epi32(-p->in1_shift), r2 = _mm256_set1_epi32(-p->in2_shift);
    const __m256i ro = _mm256_set1_epi32(-p->out_shift);
    const __m256i zpo = _mm256_set1_epi32(p->out_zp);
    const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
    const int ls = p->left_shift;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(in1 + i));
        const __m128i b = _mm_loadu_si128((const __m128i *)(in2 + i));
        __m256i v[2];
        for (int h = 0; h < 2; h++) {
            const __m128i ah = h ? _mm_srli_si128(a, 8) : a, bh = h ? _mm_srli_si128(b, 8) : b;
            const __m256i x1 = _mm256_sub_epi32(_mm256_cvtepi8_epi32(ah), zp1);
            const __m256i x2 = _mm256_sub_epi32(_mm256_cvtepi8_epi32(bh), zp2);
            const __m256i s = _mm256_add_epi32(scale8(x1, ls, m1, r1), scale8(x2, ls, m2, r2));
            __m256i y = _mm256_add_epi32(fr_avx2_rdpot(fr_avx2_srdhm(s, mo), ro), zpo);
            v[h] = _mm256_min_epi32(_mm256_max_epi32(y, lo), hi);
        }
        _mm_storeu_si128((__m128i *)(out + i), fr_avx2_pack16(v[0], v[1]));
    }
    if (i < n) fr_cnn_add_s8_ref(p, in1 + i, in2 + i, out + i, n - i);
}
