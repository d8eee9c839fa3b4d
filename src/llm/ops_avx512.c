/* AVX-512 attention over the KV cache layout of ops.h: up to eight queries (tokens x heads of
 * a GQA group) per pass over the keys, several blocks of sixteen keys at a time (enough
 * independent FMA chains in flight), then up to four queries x 64 value components per pass
 * over the values, so that every key and value vector is loaded once for all of them; masked
 * loads for the tails. Every result is bit for bit what the one-block version (commit
 * cad12e4) gave: a score is the same Σ_d in order however many blocks run together. Compiled with
 * -mavx512f; reached only through fr_op_attend_for after a CPU check. */
#include <immintrin.h>
#include <math.h>

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

/* The queries of one call, in order (token-major, then head): pointers, key counts, and
 * their score rows in the scratch. */
#define FR_ATT_QMAX 8
typedef struct att_q {
    const float *q;
    float *out, *s;
    int n;
} att_q;

#define AI inline __attribute__((always_inline))

/* Scores of NQ (1..8) queries against the KB (1..8) blocks of sixteen keys from t: every key
 * vector is loaded once for all queries, and the NQ x KB accumulators are independent FMA
 * chains (a single query against one block would wait on the FMA latency at every d). A
 * score is the same Σ_d (in order, from 0) whatever NQ, KB or the other queries are. */
static AI void scores_chunk(const att_q *qs, const int NQ, const int KB, const float *K, int hd, int t,
                            int n_max, __m512 vscale, __m512 *vmax) {
    const float *kb0 = K + fr_key_index(t, 0, hd); /* t is a multiple of 16 = FR_KV_BLOCK */
    const size_t bstride = (size_t)hd * FR_KV_BLOCK;
    __m512 acc[24];
    __mmask16 m[8];
    for (int b = 0; b < KB; b++) {
        m[b] = tail_mask(n_max - t - 16 * b);
        for (int j = 0; j < NQ; j++)
            acc[j * KB + b] = _mm512_setzero_ps();
    }
    for (int d = 0; d < hd; d++) {
        const float *kr = kb0 + (size_t)d * FR_KV_BLOCK;
        __m512 k[8];
        for (int b = 0; b < KB; b++)
            k[b] = _mm512_maskz_loadu_ps(m[b], kr + (size_t)b * bstride);
        for (int j = 0; j < NQ; j++) {
            const __m512 qd = _mm512_set1_ps(qs[j].q[d]);
            for (int b = 0; b < KB; b++)
                acc[j * KB + b] = _mm512_fmadd_ps(qd, k[b], acc[j * KB + b]);
        }
    }
    for (int j = 0; j < NQ; j++)
        for (int b = 0; b < KB; b++) {
            const int tb = t + 16 * b;
            if (qs[j].n <= tb) continue;
            const __mmask16 mj = tail_mask(qs[j].n - tb);
            const __m512 sc = _mm512_mul_ps(acc[j * KB + b], vscale);
            _mm512_mask_storeu_ps(qs[j].s + tb, mj, sc);
            vmax[j] = _mm512_mask_max_ps(vmax[j], mj, vmax[j], sc);
        }
}

/* Blocks of keys per chunk for NQ queries: about 8 to 16 accumulators in flight. */
static AI int scores_kb(int nq) {
    static const int kb[FR_ATT_QMAX + 1] = {0, 8, 4, 4, 3, 2, 2, 2, 2};
    return kb[nq];
}

/* Scores of NQ queries against keys [0, max n), in chunks of scores_kb(NQ) blocks (the last
 * chunk smaller); writes each query's largest score to mx. */
static AI void scores_nq(const att_q *qs, const int NQ, const float *K, int hd, float scale,
                         float *mx) {
    const __m512 vscale = _mm512_set1_ps(scale);
    const int KB = scores_kb(NQ);
    __m512 vmax[FR_ATT_QMAX];
    int n_max = 0;
    for (int j = 0; j < NQ; j++) {
        vmax[j] = _mm512_set1_ps(-3.0e38f);
        n_max = qs[j].n > n_max ? qs[j].n : n_max;
    }
    const int blocks = (n_max + 15) / 16;
    int b = 0;
    for (; b + KB <= blocks; b += KB)
        scores_chunk(qs, NQ, KB, K, hd, 16 * b, n_max, vscale, vmax);
    switch (blocks - b) { /* < KB blocks left (KB is a constant: the guards drop dead cases) */
    case 0: break;
    case 1: if (1 < KB) scores_chunk(qs, NQ, 1, K, hd, 16 * b, n_max, vscale, vmax); break;
    case 2: if (2 < KB) scores_chunk(qs, NQ, 2, K, hd, 16 * b, n_max, vscale, vmax); break;
    case 3: if (3 < KB) scores_chunk(qs, NQ, 3, K, hd, 16 * b, n_max, vscale, vmax); break;
    case 4: if (4 < KB) scores_chunk(qs, NQ, 4, K, hd, 16 * b, n_max, vscale, vmax); break;
    case 5: if (5 < KB) scores_chunk(qs, NQ, 5, K, hd, 16 * b, n_max, vscale, vmax); break;
    case 6: if (6 < KB) scores_chunk(qs, NQ, 6, K, hd, 16 * b, n_max, vscale, vmax); break;
    default: if (7 < KB) scores_chunk(qs, NQ, 7, K, hd, 16 * b, n_max, vscale, vmax); break;
    }
    for (int j = 0; j < NQ; j++)
        mx[j] = _mm512_reduce_max_ps(vmax[j]);
}

/* s = exp(s - mx) over the query's keys; returns 1 / Σ s. */
static float softmax_row(float *s, int n, float mx) {
    const __m512 vm = _mm512_set1_ps(mx);
    __m512 vsum = _mm512_setzero_ps();
    for (int t = 0; t < n; t += 16) {
        __mmask16 m = tail_mask(n - t);
        __m512 e = _mm512_maskz_mov_ps(m, exp_neg(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + t), vm)));
        _mm512_mask_storeu_ps(s + t, m, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    return 1.0f / _mm512_reduce_add_ps(vsum);
}

/* out[d0 .. d0 + 16 DV) of NQ (1..4) queries = inv * Σ_t p[t] V[t][..] (t in order): each
 * value vector is loaded once for all of them; queries stop at their own key count. */
static inline __attribute__((always_inline)) void values_nq(const att_q *qs, const int NQ, const int DV,
                                                            const float *V, int hd, int d0,
                                                            const float *inv) {
    __mmask16 dm[4];
    __m512 acc[4][4];
    int n_min = qs[0].n, n_max = qs[0].n;
    for (int j = 1; j < NQ; j++) {
        n_min = qs[j].n < n_min ? qs[j].n : n_min;
        n_max = qs[j].n > n_max ? qs[j].n : n_max;
    }
    for (int v = 0; v < DV; v++) {
        dm[v] = tail_mask(hd - d0 - 16 * v);
        for (int j = 0; j < NQ; j++)
            acc[j][v] = _mm512_setzero_ps();
    }
    int t = 0;
    for (; t < n_min; t++) {
        const float *vr = V + (size_t)t * (size_t)hd + d0;
        __m512 vv[4];
        for (int v = 0; v < DV; v++)
            vv[v] = _mm512_maskz_loadu_ps(dm[v], vr + 16 * v);
        for (int j = 0; j < NQ; j++) {
            const __m512 p = _mm512_set1_ps(qs[j].s[t]);
            for (int v = 0; v < DV; v++)
                acc[j][v] = _mm512_fmadd_ps(p, vv[v], acc[j][v]);
        }
    }
    for (; t < n_max; t++) {
        const float *vr = V + (size_t)t * (size_t)hd + d0;
        __m512 vv[4];
        for (int v = 0; v < DV; v++)
            vv[v] = _mm512_maskz_loadu_ps(dm[v], vr + 16 * v);
        for (int j = 0; j < NQ; j++) {
            if (t >= qs[j].n) continue;
            const __m512 p = _mm512_set1_ps(qs[j].s[t]);
            for (int v = 0; v < DV; v++)
                acc[j][v] = _mm512_fmadd_ps(p, vv[v], acc[j][v]);
        }
    }
    for (int j = 0; j < NQ; j++)
        for (int v = 0; v < DV; v++)
            _mm512_mask_storeu_ps(qs[j].out + d0 + 16 * v, dm[v], _mm512_mul_ps(acc[j][v], _mm512_set1_ps(inv[j])));
}

#define FR_ATT_DV(NQ)                                                                              \
    switch (dv) {                                                                                  \
    case 1: values_nq(qs, NQ, 1, V, hd, d0, inv); break;                                           \
    case 2: values_nq(qs, NQ, 2, V, hd, d0, inv); break;                                           \
    case 3: values_nq(qs, NQ, 3, V, hd, d0, inv); break;                                           \
    default: values_nq(qs, NQ, 4, V, hd, d0, inv); break;                                          \
    }

static void values(const att_q *qs, int nq, const float *V, int hd, const float *inv) {
    for (int d0 = 0; d0 < hd; d0 += 64) {
        const int dv = (hd - d0 + 15) / 16;
        switch (nq) {
        case 1: FR_ATT_DV(1) break;
        case 2: FR_ATT_DV(2) break;
        case 3: FR_ATT_DV(3) break;
        default: FR_ATT_DV(4) break;
        }
    }
}

void fr_op_attend_avx512(const float *q, int n_tok, int nq, size_t q_stride, const float *K,
                         const float *V, int n_kv, int hd, float scale, float *scores, float *out) {
    const size_t row = (size_t)n_kv + (size_t)n_tok - 1;
    const int total = n_tok * nq;
    for (int i0 = 0; i0 < total; i0 += FR_ATT_QMAX) {
        att_q qs[FR_ATT_QMAX];
        float mx[FR_ATT_QMAX], inv[FR_ATT_QMAX];
        const int nb = total - i0 < FR_ATT_QMAX ? total - i0 : FR_ATT_QMAX;
        for (int j = 0; j < nb; j++) {
            const int tok = (i0 + j) / nq, h = (i0 + j) % nq;
            const size_t o = (size_t)tok * q_stride + (size_t)h * (size_t)hd;
            qs[j] = (att_q){q + o, out + o, scores + (size_t)(i0 + j) * row, n_kv + tok};
        }
        switch (nb) {
        case 1: scores_nq(qs, 1, K, hd, scale, mx); break;
        case 2: scores_nq(qs, 2, K, hd, scale, mx); break;
        case 3: scores_nq(qs, 3, K, hd, scale, mx); break;
        case 4: scores_nq(qs, 4, K, hd, scale, mx); break;
        case 5: scores_nq(qs, 5, K, hd, scale, mx); break;
        case 6: scores_nq(qs, 6, K, hd, scale, mx); break;
        case 7: scores_nq(qs, 7, K, hd, scale, mx); break;
        default: scores_nq(qs, 8, K, hd, scale, mx); break;
        }
        for (int j = 0; j < nb; j++)
            inv[j] = softmax_row(qs[j].s, qs[j].n, mx[j]);
        for (int j = 0; j < nb; j += 4)
            values(qs + j, nb - j < 4 ? nb - j : 4, V, hd, inv + j);
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

/* x += y in place when ADD (a constant), and the sum of squares of x exactly as the reference
 * fr_op_rmsnorm forms it: eight float partial sums over i = j (mod 8), each square rounded
 * before its add (no FMA), combined in double in lane order, the tail (n mod 8) added in
 * double; so the AVX-512 norm is bit for bit the reference's, on sixteen lanes (two steps of
 * eight per vector, the second half folded onto the first). */
static AI double sumsq(float *x, const float *y, int n, const int ADD) {
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        if (ADD) {
            v = _mm512_add_ps(v, _mm512_loadu_ps(y + i));
            _mm512_storeu_ps(x + i, v);
        }
        const __m512 sq = _mm512_mul_ps(v, v);
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(sq));
        acc = _mm256_add_ps(acc, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sq), 1)));
    }
    if (ADD && i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i),
                                                      _mm512_maskz_loadu_ps(m, y + i)));
    }
    if (i + 8 <= n) {
        const __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm256_add_ps(acc, _mm256_mul_ps(v, v));
        i += 8;
    }
    float a[8];
    _mm256_storeu_ps(a, acc);
    double ss = 0.0;
    for (int j = 0; j < 8; j++)
        ss += (double)a[j];
    for (; i < n; i++)
        ss += (double)x[i] * (double)x[i];
    return ss;
}

/* out = x * r * w with r = 1 / sqrt(ss / n + eps) (float), in the reference's order. */
static AI void scale_rows(float *out, const float *x, const float *w, int n, double ss, float eps) {
    const __m512 r = _mm512_set1_ps((float)(1.0 / sqrt(ss / (double)n + (double)eps)));
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), r),
                                                        _mm512_maskz_loadu_ps(m, w + i)));
    }
}

void fr_op_rmsnorm_avx512(float *out, const float *x, const float *w, int n, float eps) {
    scale_rows(out, x, w, n, sumsq((float *)x, NULL, n, 0), eps); /* ADD = 0: x is only read */
}

void fr_op_add_rmsnorm_avx512(float *out, float *x, const float *y, const float *w, int n,
                              float eps) {
    scale_rows(out, x, w, n, sumsq(x, y, n, 1), eps);
}

void fr_op_rope_avx512(float *x, int n_heads, int head_dim, int n_rot, const float *cs) {
    for (int i = 0; i < n_rot; i += 16) {
        const __mmask16 m = tail_mask(n_rot - i);
        const __m512 t = _mm512_maskz_loadu_ps(m, cs + i);
        const __m512 c = _mm512_moveldup_ps(t), sn = _mm512_movehdup_ps(t); /* cos, sin per pair */
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)h * (size_t)head_dim + i;
            const __m512 a = _mm512_maskz_loadu_ps(m, v);
            const __m512 sw = _mm512_permute_ps(a, 0xB1); /* (b, a) per pair */
            /* even lanes a c - b s, odd lanes b c + a s: products rounded, then one add or
             * subtract, as the reference */
            const __m512 p = _mm512_mul_ps(a, c), q = _mm512_mul_ps(sw, sn);
            _mm512_mask_storeu_ps(v, m, _mm512_mask_add_ps(_mm512_sub_ps(p, q), 0xAAAA, p, q));
        }
    }
}
