/* TREC float inner kernels with AVX2 (compiled with -mavx2 -mfma, called only when the
 * caller's isa is >= FR_ISA_AVX2, i.e. after fr_isa_supported). Products and adds are
 * separate instructions (_mm256_mul_ps then _mm256_add_ps, never an FMA) and every lane
 * sums in order t = 0, 1, ..., so the results are bit-identical to the scalar reference.
 * The hash keeps the H (<= 16) sums in one or two registers for the whole sub-vector;
 * the partial products keep up to 32 output channels in registers per pass. */
#include <immintrin.h>

#include "reuse/trec_internal.h"

void fr_trec_hash_f32_avx2(const float *pt, int Hp, const float *x, int Lj, float *d) {
    __m256 a0 = _mm256_setzero_ps();
    if (Hp == 8) {
        for (int t = 0; t < Lj; t++)
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(pt + (size_t)t * 8),
                                                 _mm256_set1_ps(x[t])));
        _mm256_storeu_ps(d, a0);
        return;
    }
    __m256 a1 = _mm256_setzero_ps();
    for (int t = 0; t < Lj; t++) {
        const __m256 xt = _mm256_set1_ps(x[t]);
        const float *pr = pt + (size_t)t * 16;
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(pr), xt));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(pr + 8), xt));
    }
    _mm256_storeu_ps(d, a0);
    _mm256_storeu_ps(d + 8, a1);
}

void fr_trec_partial_f32_avx2(const float *cent, int Lj, const float *wt, int cout, float *y) {
    int oc = 0;
    for (; oc + 32 <= cout; oc += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int t = 0; t < Lj; t++) {
            const __m256 c = _mm256_set1_ps(cent[t]);
            const float *w = wt + (size_t)t * cout + oc;
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(c, _mm256_loadu_ps(w)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(c, _mm256_loadu_ps(w + 8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(c, _mm256_loadu_ps(w + 16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(c, _mm256_loadu_ps(w + 24)));
        }
        _mm256_storeu_ps(y + oc, a0);
        _mm256_storeu_ps(y + oc + 8, a1);
        _mm256_storeu_ps(y + oc + 16, a2);
        _mm256_storeu_ps(y + oc + 24, a3);
    }
    for (; oc + 8 <= cout; oc += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int t = 0; t < Lj; t++)
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_set1_ps(cent[t]),
                                                 _mm256_loadu_ps(wt + (size_t)t * cout + oc)));
        _mm256_storeu_ps(y + oc, a0);
    }
    for (; oc < cout; oc++) {
        float a = 0.0f;
        for (int t = 0; t < Lj; t++) {
            const float prod = cent[t] * wt[(size_t)t * cout + oc];
            a = a + prod;
        }
        y[oc] = a;
    }
}
