/* Per-row LLM operations; see ops.h. */
#include "llm/ops.h"

#include <math.h>
#include <string.h>

#include "core/kernels.h"

#if FR_X86
#define FR_ATTEND_AVX2 fr_op_attend_avx2
#define FR_ATTEND_AVX512 fr_op_attend_avx512
#define FR_SWIGLU_AVX2 fr_op_swiglu_avx2
#define FR_SWIGLU_AVX512 fr_op_swiglu_avx512
#define FR_RMSNORM_AVX512 fr_op_rmsnorm_avx512
#define FR_ADD_RMSNORM_AVX512 fr_op_add_rmsnorm_avx512
#define FR_ROPE_AVX512 fr_op_rope_avx512
#else
#define FR_ATTEND_AVX2 fr_op_attend_ref
#define FR_ATTEND_AVX512 fr_op_attend_ref
#define FR_SWIGLU_AVX2 fr_op_swiglu
#define FR_SWIGLU_AVX512 fr_op_swiglu
#define FR_RMSNORM_AVX512 fr_op_rmsnorm
#define FR_ADD_RMSNORM_AVX512 fr_op_add_rmsnorm
#define FR_ROPE_AVX512 fr_op_rope
#endif

void fr_op_rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    /* eight float partial sums (vectorisable), combined in double */
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += x[i + j] * x[i + j];
    double ss = 0.0;
    for (int j = 0; j < 8; j++)
        ss += (double)acc[j];
    for (; i < n; i++)
        ss += (double)x[i] * (double)x[i];
    float r = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (i = 0; i < n; i++)
        out[i] = x[i] * r * w[i];
}

void fr_op_add_rmsnorm(float *out, float *x, const float *y, const float *w, int n, float eps) {
    fr_op_add(x, y, n);
    fr_op_rmsnorm(out, x, w, n, eps);
}

void fr_op_rope_freqs(double *inv_freq, int n_rot, float base) {
    for (int i = 0; i < n_rot / 2; i++)
        inv_freq[i] = pow((double)base, -2.0 * (double)i / (double)n_rot);
}

void fr_op_rope_table(float *cs, int pos, const double *inv_freq, int n_rot) {
    for (int i = 0; i < n_rot / 2; i++) {
        double a = (double)pos * inv_freq[i];
        cs[2 * i] = (float)cos(a);
        cs[2 * i + 1] = (float)sin(a);
    }
}

void fr_op_rope(float *x, int n_heads, int head_dim, int n_rot, const float *cs) {
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * (size_t)head_dim;
        for (int i = 0; i < n_rot; i += 2) {
            float c = cs[i], s = cs[i + 1];
            float a = v[i], b = v[i + 1];
            v[i] = a * c - b * s;
            v[i + 1] = a * s + b * c;
        }
    }
}

void fr_op_softmax(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

float fr_op_silu(float x) {
    return x / (1.0f + expf(-x));
}

void fr_op_swiglu(float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++)
        gate[i] = fr_op_silu(gate[i]) * up[i];
}

/* Eight independent partial sums let the compiler vectorise without reassociating. */
float fr_op_dot(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void fr_op_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

void fr_op_add(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++)
        y[i] += x[i];
}

static void attend1(const float *q, const float *K, const float *V, int n_kv, int hd, float scale,
                    float *scores, float *out) {
    memset(scores, 0, sizeof(float) * (size_t)n_kv);
    for (int d = 0; d < hd; d++)
        for (int t = 0; t < n_kv; t += FR_KV_BLOCK)
            fr_op_axpy(scores + t, scale * q[d], K + fr_key_index(t, d, hd),
                       n_kv - t < FR_KV_BLOCK ? n_kv - t : FR_KV_BLOCK);
    float mx = scores[0];
    for (int t = 1; t < n_kv; t++)
        mx = scores[t] > mx ? scores[t] : mx;
    float sum = 0.0f;
    for (int t = 0; t < n_kv; t++) {
        scores[t] = expf(scores[t] - mx);
        sum += scores[t];
    }
    float inv = 1.0f / sum;
    memset(out, 0, sizeof(float) * (size_t)hd);
    for (int t = 0; t < n_kv; t++)
        fr_op_axpy(out, scores[t], V + (size_t)t * (size_t)hd, hd);
    for (int d = 0; d < hd; d++)
        out[d] *= inv;
}

void fr_op_attend_ref(const float *q, int n_tok, int nq, size_t q_stride, const float *K,
                      const float *V, int n_kv, int hd, float scale, float *scores, float *out) {
    for (int i = 0; i < n_tok; i++)
        for (int j = 0; j < nq; j++) {
            size_t o = (size_t)i * q_stride + (size_t)j * (size_t)hd;
            attend1(q + o, K, V, n_kv + i, hd, scale, scores, out + o);
        }
}

/* Is level asked for (the context's kernel ISA, an fr_isa value, is at least level) and
 * supported by this CPU and build? */
static bool use_isa(int isa, fr_isa level) {
    return isa >= (int)level && isa < FR_ISA_COUNT && fr_isa_supported(level);
}

fr_op_attend_fn fr_op_attend_for(int isa) {
    if (use_isa(isa, FR_ISA_AVX512))
        return FR_ATTEND_AVX512;
    if (use_isa(isa, FR_ISA_AVX2))
        return FR_ATTEND_AVX2;
    return fr_op_attend_ref;
}

fr_op_swiglu_fn fr_op_swiglu_for(int isa) {
    if (use_isa(isa, FR_ISA_AVX512))
        return FR_SWIGLU_AVX512;
    if (use_isa(isa, FR_ISA_AVX2))
        return FR_SWIGLU_AVX2;
    return fr_op_swiglu;
}

fr_op_rmsnorm_fn fr_op_rmsnorm_for(int isa) {
    if (use_isa(isa, FR_ISA_AVX512))
        return FR_RMSNORM_AVX512;
    return fr_op_rmsnorm;
}

fr_op_rope_fn fr_op_rope_for(int isa) {
    if (use_isa(isa, FR_ISA_AVX512))
        return FR_ROPE_AVX512;
    return fr_op_rope;
}

fr_op_add_rmsnorm_fn fr_op_add_rmsnorm_for(int isa) {
    if (use_isa(isa, FR_ISA_AVX512))
        return FR_ADD_RMSNORM_AVX512;
    return fr_op_add_rmsnorm;
}
