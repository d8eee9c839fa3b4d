/* Shared AVX-512 helpers of the CNN fast paths; include only from *_avx512.c files. */
#ifndef FR_CNN_OPS_AVX512_INTERNAL_H
#define FR_CNN_OPS_AVX512_INTERNAL_H

#include "cnn/ops_avx2_internal.h"

/* Sum of 16 int32 lanes, wrapping modulo 2^32 (GCC's _mm512_reduce_add_epi32 adds as
 * signed int, which overflows: undefined behaviour that UBSan reports). */
static inline int32_t hsum16_epi32(__m512i v) {
    const __m256i a = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i b = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0x4E));
    b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0xB1));
    return _mm_cvtsi128_si32(b);
}

/* Requantisation constants of 16 lanes. */
typedef struct rq16 {
    __m512i m, l, e;
} rq16;

/* Lanes = channels [c, c+16), or (dup) channels [c, c+8) twice: two pixels per vector. */
static inline rq16 rq16_load(const fr_cnn_rq_vec *r, int c, int dup) {
    rq16 k;
    if (dup) {
        k.m = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(r->mult + c)));
        k.l = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(r->lsh + c)));
        k.e = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(r->rsh + c)));
    } else {
        k.m = _mm512_loadu_si512((const void *)(r->mult + c));
        k.l = _mm512_loadu_si512((const void *)(r->lsh + c));
        k.e = _mm512_loadu_si512((const void *)(r->rsh + c));
    }
    return k;
}

/* 16 lanes of MBQM + zero point + clamp -> 16 int8 (multipliers != INT32_MIN). */
static inline __m128i requant16(__m512i acc, const rq16 *k, const fr_cnn_requant *q) {
    const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30);
    const __m512i a = _mm512_sllv_epi32(acc, k->l);
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(a, k->m), nudge);
    __m512i odd = _mm512_add_epi64(
        _mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(k->m, 32)), nudge);
    even = _mm512_srli_epi64(even, 31);
    odd = _mm512_slli_epi64(_mm512_srli_epi64(odd, 31), 32);
    const __m512i x = _mm512_mask_blend_epi32(0xAAAA, even, odd); /* SRDHM */
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, k->e), one);
    const __m512i rem = _mm512_and_si512(x, mask);
    const __m512i thr = _mm512_sub_epi32(_mm512_srai_epi32(mask, 1), _mm512_srai_epi32(x, 31));
    const __mmask16 up = _mm512_cmpgt_epi32_mask(rem, thr);
    const __m512i sh = _mm512_srav_epi32(x, k->e);
    __m512i v = _mm512_mask_add_epi32(sh, up, sh, one); /* RDPOT */
    v = _mm512_add_epi32(v, _mm512_set1_epi32(q->output_zp));
    v = _mm512_max_epi32(v, _mm512_set1_epi32(q->act_min));
    v = _mm512_min_epi32(v, _mm512_set1_epi32(q->act_max));
    return _mm512_cvtepi32_epi8(v);
}

#endif
