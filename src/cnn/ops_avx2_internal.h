/* Shared AVX2 helpers of the CNN fast paths; include only from *_avx2.c files. */
#ifndef FR_CNN_OPS_AVX2_INTERNAL_H
#define FR_CNN_OPS_AVX2_INTERNAL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "cnn/ops_internal.h"

/* Per-output-channel requantisation constants, padded to a multiple of 16 channels. */
typedef struct fr_cnn_rq_vec {
    int32_t *bias;  /* [cp] bias (0 where absent / padded) */
    int32_t *mult;  /* [cp] */
    int32_t *lsh;   /* [cp] max(shift, 0) */
    int32_t *rsh;   /* [cp] max(-shift, 0) */
    int exact_vec;  /* 0 when some multiplier is INT32_MIN (needs the saturation branch) */
} fr_cnn_rq_vec;

static inline size_t fr_cnn_rq_vec_bytes(int cp) {
    return fr_cnn_align64((size_t)4 * cp * sizeof(int32_t));
}

static inline void fr_cnn_rq_vec_init(fr_cnn_rq_vec *r, void *mem, int c_n, int cp,
                                      const fr_cnn_requant *q, const int32_t *bias) {
    int32_t *p = (int32_t *)mem;
    r->bias = p;
    r->mult = p + cp;
    r->lsh = p + 2 * cp;
    r->rsh = p + 3 * cp;
    r->exact_vec = 1;
    for (int c = 0; c < cp; c++) {
        const int i = c < c_n ? (q->per_channel ? c : 0) : -1;
        const int32_t m = i >= 0 ? q->mult[i] : 0;
        const int32_t s = i >= 0 ? q->shift[i] : 0;
        r->bias[c] = (c < c_n && bias) ? bias[c] : 0;
        r->mult[c] = m;
        r->lsh[c] = s > 0 ? s : 0;
        r->rsh[c] = s > 0 ? 0 : -s;
        if (m == INT32_MIN) r->exact_vec = 0;
    }
}

/* A view of constants prepared by fr_cnn_rq_vec_init at mem (read-only use). */
static inline void fr_cnn_rq_vec_view(fr_cnn_rq_vec *r, const void *mem, int cp,
                                      const fr_cnn_requant *q) {
    int32_t *p = (int32_t *)(uintptr_t)mem;
    r->bias = p;
    r->mult = p + cp;
    r->lsh = p + 2 * cp;
    r->rsh = p + 3 * cp;
    r->exact_vec = 1;
    const int n = q->per_channel ? cp : 1;
    for (int c = 0; c < n; c++)
        if (r->mult[c] == INT32_MIN) r->exact_vec = 0;
}

/* SRDHM for 8 lanes (b != INT32_MIN): floor((a*b + 2^30) / 2^31), which equals TFLite's
 * truncating form with its sign-dependent nudge. */
static inline __m256i fr_avx2_srdhm(__m256i a, __m256i b) {
    const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, b), nudge);
    __m256i odd = _mm256_add_epi64(
        _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)), nudge);
    even = _mm256_srli_epi64(even, 31); /* low 32 bits = bits 31..62 */
    odd = _mm256_slli_epi64(_mm256_srli_epi64(odd, 31), 32);
    return _mm256_blend_epi32(even, odd, 0xAA);
}

/* RDPOT with per-lane exponent e in [0, 31]. */
static inline __m256i fr_avx2_rdpot(__m256i x, __m256i e) {
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, e), one);
    const __m256i rem = _mm256_and_si256(x, mask);
    const __m256i neg = _mm256_srai_epi32(x, 31); /* -1 where x < 0 */
    const __m256i thr = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), neg);
    const __m256i up = _mm256_cmpgt_epi32(rem, thr); /* -1 where rounding up */
    return _mm256_sub_epi32(_mm256_srav_epi32(x, e), up);
}

/* acc (int32, 8 channels starting at c) -> clamped int32 outputs. */
static inline __m256i fr_avx2_requant8(__m256i acc, const fr_cnn_rq_vec *r, int c,
                                       const fr_cnn_requant *q) {
    const __m256i m = _mm256_loadu_si256((const __m256i *)(r->mult + c));
    const __m256i l = _mm256_loadu_si256((const __m256i *)(r->lsh + c));
    const __m256i s = _mm256_loadu_si256((const __m256i *)(r->rsh + c));
    __m256i v = fr_avx2_rdpot(fr_avx2_srdhm(_mm256_sllv_epi32(acc, l), m), s);
    v = _mm256_add_epi32(v, _mm256_set1_epi32(q->output_zp));
    v = _mm256_max_epi32(v, _mm256_set1_epi32(q->act_min));
    return _mm256_min_epi32(v, _mm256_set1_epi32(q->act_max));
}

/* Two vectors of 8 clamped int32 (channels 0-7, 8-15) -> 16 int8 in order. */
static inline __m128i fr_avx2_pack16(__m256i v0, __m256i v1) {
    __m256i p = _mm256_packs_epi32(v0, v1);           /* 0-3 8-11 | 4-7 12-15 */
    p = _mm256_permute4x64_epi64(p, 0xD8);            /* 0-3 4-7 | 8-11 12-15 */
    return _mm_packs_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

/* Loads n < 16 bytes into the low lanes of a vector (other lanes 0) without reading past
 * src + n; cheap for n == 8. */
static inline __m128i fr_avx2_load_partial(const int8_t *src, int n) {
    uint64_t lo = 0, hi = 0;
    if (n >= 8) {
        memcpy(&lo, src, 8);
        for (int j = 8; j < n; j++) hi |= (uint64_t)(uint8_t)src[j] << (8 * (j - 8));
    } else {
        for (int j = 0; j < n; j++) lo |= (uint64_t)(uint8_t)src[j] << (8 * j);
    }
    return _mm_set_epi64x((long long)hi, (long long)lo);
}

/* Stores the low n < 16 bytes of v. */
static inline void fr_avx2_store_partial(int8_t *dst, __m128i v, int n) {
    uint64_t lo = (uint64_t)_mm_cvtsi128_si64(v), hi = (uint64_t)_mm_extract_epi64(v, 1);
    if (n >= 8) {
        memcpy(dst, &lo, 8);
        for (int j = 8; j < n; j++) dst[j] = (int8_t)(hi >> (8 * (j - 8)));
    } else {
        for (int j = 0; j < n; j++) dst[j] = (int8_t)(lo >> (8 * j));
    }
}

/* Requantises 16 channels [c, c+16) of one pixel and stores n <= 16 of them. The scalar
 * path handles the (never prepared) INT32_MIN multiplier exactly. */
static inline void fr_avx2_requant_store16(__m256i acc0, __m256i acc1, const fr_cnn_rq_vec *r,
                                           int c, const fr_cnn_requant *q, int8_t *out, int n) {
    if (!r->exact_vec) {
        int32_t a[16];
        _mm256_storeu_si256((__m256i *)a, acc0);
        _mm256_storeu_si256((__m256i *)(a + 8), acc1);
        for (int j = 0; j < n; j++) out[j] = fr_cnn_requant1(q, a[j], c + j);
        return;
    }
    const __m128i b = fr_avx2_pack16(fr_avx2_requant8(acc0, r, c, q),
                                     fr_avx2_requant8(acc1, r, c + 8, q));
    if (n == 16) {
        _mm_storeu_si128((__m128i *)out, b);
    } else {
        fr_avx2_store_partial(out, b, n);
    }
}

#endif
