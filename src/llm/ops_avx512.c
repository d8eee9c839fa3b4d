/* AVX-512 attention for a group of queries sharing one KV head, over the transposed KV cache
 * (see ops.h): sixteen keys at a time, up to four queries per pass so that every key and
 * value vector is loaded once for all of them; masked loads for the tails. Compiled with
 * -mavx512f; reached only through fr_op_attend_for after a CPU check. */
#include <immintrin.h>

#include "llm/ops.h"

/* e^x for x in [-87, 88], as exp_poly in ops_avx2.c (relative error below 3e-7). */
static inline __m512 exp_poly(__m512 x) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* e^x for x <= 0; x < -87 gives 0. */
static inline __m512 exp_neg(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.0f);
    __mmask16 ok = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    return _mm512_maskz_mov_ps(ok, exp_poly(_mm512_max_ps(x, lo)));
}

static inline __mmask16 tail_mask(int left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

/* NQ (1..4, a constant after inlining) queries at once. */
static inline __attribute__((always_inline)) void attend_nq(const float *q, const int NQ, const float *Kt, const float *Vt,
                             int n_kv, int stride, int hd, float scale, float *scores,
                             float *out) {
    const __m512 vscale = _mm512_set1_ps(scale);
    __m512 vmax[4];
    for (int j = 0; j < NQ; j++)
        vmax[j] = _mm512_set1_ps(-3.0e38f);
    for (int t = 0; t < n_kv; t += 16) {
        __mmask16 m = tail_mask(n_kv - t);
        __m512 acc[4];
        for (int j = 0; j < NQ; j++)
            acc[j] = _mm512_setzero_ps();
        for (int d = 0; d < hd; d++) {
            __m512 k = _mm512_maskz_loadu_ps(m, Kt + (size_t)d * (size_t)stride + t);
            for (int j = 0; j < NQ; j++)
                acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(q[j * hd + d]), k, acc[j]);
        }
        for (int j = 0; j < NQ; j++) {
            acc[j] = _mm512_mul_ps(acc[j], vscale);
            _mm512_mask_storeu_ps(scores + (size_t)j * (size_t)n_kv + t, m, acc[j]);
            vmax[j] = _mm512_mask_max_ps(vmax[j], m, vmax[j], acc[j]);
        }
    }
    float inv[4];
    for (int j = 0; j < NQ; j++) {
        float *s = scores + (size_t)j * (size_t)n_kv;
        const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(vmax[j]));
        __m512 vsum = _mm512_setzero_ps();
        for (int t = 0; t < n_kv; t += 16) {
            __mmask16 m = tail_mask(n_kv - t);
            __m512 e = _mm512_maskz_mov_ps(m, exp_neg(_mm512_sub_ps(
                                                  _mm512_maskz_loadu_ps(m, s + t), vm)));
            _mm512_mask_storeu_ps(s + t, m, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        inv[j] = 1.0f / _mm512_reduce_add_ps(vsum);
    }
    for (int d = 0; d < hd; d++) {
        const float *v = Vt + (size_t)d * (size_t)stride;
        __m512 acc[4];
        for (int j = 0; j < NQ; j++)
            acc[j] = _mm512_setzero_ps();
        for (int t = 0; t < n_kv; t += 16) {
            __mmask16 m = tail_mask(n_kv - t);
            __m512 vv = _mm512_maskz_loadu_ps(m, v + t);
            for (int j = 0; j < NQ; j++)
                acc[j] = _mm512_fmadd_ps(
                    _mm512_maskz_loadu_ps(m, scores + (size_t)j * (size_t)n_kv + t), vv, acc[j]);
        }
        for (int j = 0; j < NQ; j++)
            out[j * hd + d] = _mm512_reduce_add_ps(acc[j]) * inv[j];
    }
}

void fr_op_attend_avx512(const float *q, int nq, const float *Kt, const float *Vt, int n_kv,
                         int stride, int hd, float scale, float *scores, float *out) {
    for (int j = 0; j < nq;) {
        int left = nq - j;
        const float *qj = q + (size_t)j * (size_t)hd;
        float *sj = scores + (size_t)j * (size_t)n_kv, *oj = out + (size_t)j * (size_t)hd;
        switch (left >= 4 ? 4 : left) {
        case 4: attend_nq(qj, 4, Kt, Vt, n_kv, stride, hd, scale, sj, oj); j += 4; break;
        case 3: attend_nq(qj, 3, Kt, Vt, n_kv, stride, hd, scale, sj, oj); j += 3; break;
        case 2: attend_nq(qj, 2, Kt, Vt, n_kv, stride, hd, scale, sj, oj); j += 2; break;
        default: attend_nq(qj, 1, Kt, Vt, n_kv, stride, hd, scale, sj, oj); j += 1; break;
        }
    }
}

void fr_op_swiglu_avx512(float *gate, const float *up, int n) {
    const __m512 lo = _mm512_set1_ps(-87.0f), hi = _mm512_set1_ps(88.0f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 x = _mm512_maskz_loadu_ps(m, gate + i);
        __m512 nx = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), lo), hi);
        __m512 s = _mm512_div_ps(x, _mm512_add_ps(one, exp_poly(nx)));
        _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
    }
}
