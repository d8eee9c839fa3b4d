/* AVX2 + FMA attention, one query at a time, over the KV cache layout of ops.h.
 * Compiled with -mavx2 -mfma; reached only through fr_op_attend_for after a CPU check. */
#include <immintrin.h>
#include <string.h>

#include "llm/ops.h"

/* e^x for x in [-87, 88]: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a degree-6
 * polynomial for e^r, and 2^n built in the exponent bits. Relative error below 3e-7. */
static inline __m256 exp_poly(__m256 x) {
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* e^x for x <= 0 (inputs are score - max); below -87 the result is flushed to 0 (it would
 * be < 1.7e-38). */
static inline __m256 exp_neg(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.0f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    return _mm256_andnot_ps(under, exp_poly(_mm256_max_ps(x, lo)));
}

void fr_op_swiglu_avx2(float *gate, const float *up, int n) {
    const __m256 lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f);
    const __m256 one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(gate + i);
        __m256 nx = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), x), lo), hi);
        __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, exp_poly(nx)));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++)
        gate[i] = fr_op_silu(gate[i]) * up[i];
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static void attend1(const float *q, const float *K, const float *V, int n_kv, int hd, float scale,
                    float *scores, float *out) {
    const int n8 = n_kv & ~7;
    /* scores = scale * q . K, eight keys at a time */
    __m256 vmax = _mm256_set1_ps(-3.0e38f);
    int t = 0;
    for (; t < n8; t += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(q[d]),
                                  _mm256_loadu_ps(K + fr_key_index(t, d, hd)), acc); /* 8 | 16 */
        acc = _mm256_mul_ps(acc, _mm256_set1_ps(scale));
        _mm256_storeu_ps(scores + t, acc);
        vmax = _mm256_max_ps(vmax, acc);
    }
    float mx = hmax(vmax);
    for (; t < n_kv; t++) {
        float s = 0.0f;
        for (int d = 0; d < hd; d++)
            s = __builtin_fmaf(q[d], K[fr_key_index(t, d, hd)], s);
        scores[t] = s * scale;
        mx = scores[t] > mx ? scores[t] : mx;
    }
    /* p = exp(s - max), zero-padded to a multiple of 8 in registers */
    __m256 vm = _mm256_set1_ps(mx), vsum = _mm256_setzero_ps();
    for (t = 0; t < n8; t += 8) {
        __m256 e = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(scores + t), vm));
        _mm256_storeu_ps(scores + t, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float tail[8] = {0};
    int nt = n_kv - n8;
    if (nt > 0) {
        float tmp[8];
        for (int i = 0; i < 8; i++)
            tmp[i] = i < nt ? scores[n8 + i] - mx : -100.0f;
        __m256 e = exp_neg(_mm256_loadu_ps(tmp));
        _mm256_storeu_ps(tail, e);
        for (int i = nt; i < 8; i++)
            tail[i] = 0.0f;
        memcpy(scores + n8, tail, sizeof(float) * (size_t)nt);
        vsum = _mm256_add_ps(vsum, _mm256_loadu_ps(tail));
    }
    float inv = 1.0f / hsum(vsum);
    /* out = Σ_t p[t] V[t], 32 components at a time (masked tail) */
    for (int d0 = 0; d0 < hd; d0 += 32) {
        __m256 acc[4];
        __m256i mk[4];
        for (int v = 0; v < 4; v++) {
            acc[v] = _mm256_setzero_ps();
            int left = hd - d0 - 8 * v;
            mk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(left < 0 ? 0 : left),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        }
        for (t = 0; t < n_kv; t++) {
            const float *vr = V + (size_t)t * (size_t)hd + d0;
            const __m256 p = _mm256_set1_ps(scores[t]);
            for (int v = 0; v < 4; v++)
                acc[v] = _mm256_fmadd_ps(p, _mm256_maskload_ps(vr + 8 * v, mk[v]), acc[v]);
        }
        for (int v = 0; v < 4; v++)
            _mm256_maskstore_ps(out + d0 + 8 * v, mk[v], _mm256_mul_ps(acc[v], _mm256_set1_ps(inv)));
    }
}

void fr_op_attend_avx2(const float *q, int n_tok, int nq, size_t q_stride, const float *K,
                       const float *V, int n_kv, int hd, float scale, float *scores, float *out) {
    for (int i = 0; i < n_tok; i++)
        for (int j = 0; j < nq; j++) {
            size_t o = (size_t)i * q_stride + (size_t)j * (size_t)hd;
            attend1(q + o, K, V, n_kv + i, hd, scale, scores, out + o);
        }
}
