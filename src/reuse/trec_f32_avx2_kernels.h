/* Float TREC kernels with 256-bit AVX2 intrinsics, shared by trec_avx2.c and trec_avx512.c
 * (the AVX-512 path keeps them: the hash and the transposition are a few percent of a
 * call). Include only from files compiled with at least -mavx2. Separate multiplies and
 * adds, every sum in order t = 0, 1, ...: bit-identical to the scalar reference. */
#ifndef FR_REUSE_TREC_F32_AVX2_KERNELS_H
#define FR_REUSE_TREC_F32_AVX2_KERNELS_H

#include <immintrin.h>

#include "reuse/trec_internal.h"

/* Hash sums of R <= FR_TREC_HASH_ROWS rows at once: one accumulator (two for Hp = 16) per
 * row, so R independent chains of adds instead of one (Hp = 16: four rows at a time, eight
 * chains; other Hp and short R: two rows). */
static inline void fr_trec_hash_rows_f32_avx2(const float *pt, int Hp, const float *const *x,
                                              int R, int Lj, float *d) {
    if (Hp == 8 && R == FR_TREC_HASH_ROWS) {
        __m256 a[FR_TREC_HASH_ROWS];
        for (int q = 0; q < FR_TREC_HASH_ROWS; q++) a[q] = _mm256_setzero_ps();
        for (int t = 0; t < Lj; t++) {
            const __m256 pr = _mm256_loadu_ps(pt + (size_t)t * 8);
            for (int q = 0; q < FR_TREC_HASH_ROWS; q++)
                a[q] = _mm256_add_ps(a[q], _mm256_mul_ps(pr, _mm256_set1_ps(x[q][t])));
        }
        for (int q = 0; q < FR_TREC_HASH_ROWS; q++) _mm256_storeu_ps(d + (size_t)q * 8, a[q]);
        return;
    }
    if (Hp == 16 && R == FR_TREC_HASH_ROWS) { /* H 9..16: four rows, eight chains a pass */
        for (int q0 = 0; q0 < FR_TREC_HASH_ROWS; q0 += 4) {
            __m256 a[8];
            for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_ps();
            for (int t = 0; t < Lj; t++) {
                const __m256 p0 = _mm256_loadu_ps(pt + (size_t)t * 16);
                const __m256 p1 = _mm256_loadu_ps(pt + (size_t)t * 16 + 8);
                for (int q = 0; q < 4; q++) {
                    const __m256 xv = _mm256_set1_ps(x[q0 + q][t]);
                    a[2 * q] = _mm256_add_ps(a[2 * q], _mm256_mul_ps(p0, xv));
                    a[2 * q + 1] = _mm256_add_ps(a[2 * q + 1], _mm256_mul_ps(p1, xv));
                }
            }
            for (int q = 0; q < 4; q++) {
                _mm256_storeu_ps(d + (size_t)(q0 + q) * 16, a[2 * q]);
                _mm256_storeu_ps(d + (size_t)(q0 + q) * 16 + 8, a[2 * q + 1]);
            }
        }
        return;
    }
    for (int q0 = 0; q0 < R; q0 += 2) { /* two rows (up to four chains) per pass */
        const int two = q0 + 1 < R;
        const float *x0 = x[q0], *x1 = two ? x[q0 + 1] : x[q0];
        for (int h0 = 0; h0 < Hp; h0 += 8) {
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            for (int t = 0; t < Lj; t++) {
                const __m256 pr = _mm256_loadu_ps(pt + (size_t)t * Hp + h0);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(pr, _mm256_set1_ps(x0[t])));
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(pr, _mm256_set1_ps(x1[t])));
            }
            _mm256_storeu_ps(d + (size_t)q0 * Hp + h0, a0);
            if (two) _mm256_storeu_ps(d + (size_t)(q0 + 1) * Hp + h0, a1);
        }
    }
}

/* The filter slice t-major by 8 x 8 blocks (eight rows of eight output channels loaded,
 * transposed in registers, stored as eight rows of eight t); the edges one by one. */
static inline void fr_trec_transpose_f32_avx2(const float *filter, int K, int k0, int Lj,
                                              int cout, float *wt) {
    const int t8 = Lj & ~7, oc8 = cout & ~7;
    for (int oc = 0; oc < oc8; oc += 8)
        for (int t = 0; t < t8; t += 8) {
            const float *src = filter + (size_t)oc * K + k0 + t;
            __m256 r[8], u[8], v[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (size_t)i * K);
            for (int i = 0; i < 8; i += 2) {
                u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                v[i] = _mm256_shuffle_ps(u[i], u[i + 2], 0x44);
                v[i + 1] = _mm256_shuffle_ps(u[i], u[i + 2], 0xEE);
                v[i + 2] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0x44);
                v[i + 3] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0xEE);
            }
            float *dst = wt + (size_t)t * cout + oc;
            for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(dst + (size_t)i * cout, _mm256_permute2f128_ps(v[i], v[i + 4], 0x20));
                _mm256_storeu_ps(dst + (size_t)(i + 4) * cout, _mm256_permute2f128_ps(v[i], v[i + 4], 0x31));
            }
        }
    for (int t = 0; t < Lj; t++) { /* the edges: t >= t8 for every oc, oc >= oc8 for every t */
        const float *w = filter + k0 + t;
        float *dst = wt + (size_t)t * cout;
        for (int oc = t < t8 ? oc8 : 0; oc < cout; oc++) dst[oc] = w[(size_t)oc * K];
    }
}

#endif
