/* Float TREC kernels with 256-bit AVX2 intrinsics, shared by trec_avx2.c and trec_avx512.c
 * (the AVX-512 path keeps them: the hash and the transposition are a few percent of a
 * call). Include only from files compiled with at least -mavx2. Separate multiplies and
 * adds, every sum in order t = 0, 1, ...: bit-identical to the scalar reference. */
#ifndef FR_REUSE_TREC_F32_AVX2_KERNELS_H
#define FR_REUSE_TREC_F32_AVX2_KERNELS_H

#include <immintrin.h>

#include "reuse/trec_internal.h"

/* FR_TREC_HASH_ROWS rows' hash sums with nv = Hp / 8 (1 or 2) vectors per row: 8 / nv rows per pass,
 * eight independent chains of adds. nv is a constant at both call sites. */
_Static_assert(FR_TREC_HASH_ROWS % 8 == 0, "fr_trec_hash8_f32_avx2 takes eight rows a pass");
static inline void fr_trec_hash8_f32_avx2(const float *pt, int nv, const float *const *x,
                                          int Lj, float *d) {
    const int rp = 8 / nv, Hp = 8 * nv;
    for (int q0 = 0; q0 < FR_TREC_HASH_ROWS; q0 += rp) {
        __m256 a[8];
        for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_ps();
        for (int t = 0; t < Lj; t++) {
            __m256 pr[2];
            for (int v = 0; v < nv; v++) pr[v] = _mm256_loadu_ps(pt + (size_t)t * Hp + 8 * v);
            for (int q = 0; q < rp; q++) {
                const __m256 xv = _mm256_set1_ps(x[q0 + q][t]);
                for (int v = 0; v < nv; v++)
                    a[q * nv + v] = _mm256_add_ps(a[q * nv + v], _mm256_mul_ps(pr[v], xv));
            }
        }
        for (int q = 0; q < rp; q++)
            for (int v = 0; v < nv; v++)
                _mm256_storeu_ps(d + (size_t)(q0 + q) * Hp + 8 * v, a[q * nv + v]);
    }
}

/* Hash sums of R <= FR_TREC_HASH_ROWS rows at once: one accumulator (two for Hp = 16) per
 * row, so independent chains of adds instead of one (eight rows with Hp 8 or 16: eight
 * chains; other Hp and short R: two rows). */
static inline void fr_trec_hash_rows_f32_avx2(const float *pt, int Hp, const float *const *x,
                                              int R, int Lj, float *d) {
    if (R == FR_TREC_HASH_ROWS && Hp == 8) {
        fr_trec_hash8_f32_avx2(pt, 1, x, Lj, d);
        return;
    }
    if (R == FR_TREC_HASH_ROWS && Hp == 16) { /* H 9..16 */
        fr_trec_hash8_f32_avx2(pt, 2, x, Lj, d);
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
