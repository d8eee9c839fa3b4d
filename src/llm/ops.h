/* Element-wise and per-row LLM operations (f32). Each is plain C written so the compiler can
 * vectorise it; results do not depend on threads (every op runs on one row on one thread).
 * tests/llm/test_ops.c checks each against a naive double-precision version. */
#ifndef FR_LLM_OPS_H
#define FR_LLM_OPS_H

#include <stddef.h>

/* out[i] = x[i] / sqrt(mean(x²) + eps) * w[i]   (out may alias x): the scalar reference and
 * an AVX-512 version that gives bit for bit the same results (the same eight partial sums
 * and rounding steps; x86 builds only: reach it through fr_op_rmsnorm_for). */
typedef void (*fr_op_rmsnorm_fn)(float *out, const float *x, const float *w, int n, float eps);
void fr_op_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
void fr_op_rmsnorm_avx512(float *out, const float *x, const float *w, int n, float eps);
/* The implementation for a kernel ISA (an fr_isa value), as fr_op_attend_for. */
fr_op_rmsnorm_fn fr_op_rmsnorm_for(int isa);
/* The residual add fused with the next RMSNorm: x[i] += y[i]; out = rmsnorm(x) * w (out may
 * alias y). The reference is fr_op_add then fr_op_rmsnorm; the AVX-512 version adds and sums
 * the squares in one pass, bit for bit the reference. */
typedef void (*fr_op_add_rmsnorm_fn)(float *out, float *x, const float *y, const float *w, int n,
                                     float eps);
void fr_op_add_rmsnorm(float *out, float *x, const float *y, const float *w, int n, float eps);
void fr_op_add_rmsnorm_avx512(float *out, float *x, const float *y, const float *w, int n,
                              float eps);
fr_op_add_rmsnorm_fn fr_op_add_rmsnorm_for(int isa);

/* inv_freq[i] = base^(-2i / n_rot) for i < n_rot/2 (computed in double). */
void fr_op_rope_freqs(double *inv_freq, int n_rot, float base);
/* cs[2i] = cos(pos * inv_freq[i]), cs[2i+1] = sin(...), i < n_rot/2. */
void fr_op_rope_table(float *cs, int pos, const double *inv_freq, int n_rot);
/* Rotates the adjacent pairs (x[2i], x[2i+1]), 2i < n_rot, of each of n_heads heads of
 * head_dim values stored back to back, by the angles in cs (from fr_op_rope_table). */
typedef void (*fr_op_rope_fn)(float *x, int n_heads, int head_dim, int n_rot, const float *cs);
void fr_op_rope(float *x, int n_heads, int head_dim, int n_rot, const float *cs);
/* AVX-512: eight pairs per vector, bit for bit the reference (x86 builds only: use
 * fr_op_rope_for). */
void fr_op_rope_avx512(float *x, int n_heads, int head_dim, int n_rot, const float *cs);
fr_op_rope_fn fr_op_rope_for(int isa);

/* In-place softmax of x[0..n) (max-subtracted; n >= 1). */
void fr_op_softmax(float *x, int n);

/* silu(x) = x / (1 + e^-x). */
float fr_op_silu(float x);
/* gate[i] = silu(gate[i]) * up[i]: the scalar reference (expf from libm), and AVX2 /
 * AVX-512 versions with a polynomial exp (relative error < 1e-6; x86 builds only: reach
 * them through fr_op_swiglu_for). */
typedef void (*fr_op_swiglu_fn)(float *gate, const float *up, int n);
void fr_op_swiglu(float *gate, const float *up, int n);
void fr_op_swiglu_avx2(float *gate, const float *up, int n);
void fr_op_swiglu_avx512(float *gate, const float *up, int n);
/* The implementation for a kernel ISA (an fr_isa value), as fr_op_attend_for. */
fr_op_swiglu_fn fr_op_swiglu_for(int isa);

/* Dot product and y += a * x. */
float fr_op_dot(const float *a, const float *b, int n);
void fr_op_axpy(float *y, float a, const float *x, int n);
/* y[i] += x[i]. */
void fr_op_add(float *y, const float *x, int n);

/* Keys of a head are stored in blocks of FR_KV_BLOCK positions: the block holds component d of
 * its keys t at d * FR_KV_BLOCK + t % FR_KV_BLOCK, so the keys of a block are one contiguous run
 * of head_dim * FR_KV_BLOCK floats (a pass over the components reads whole cache lines of a few
 * pages, not one short run per component n_ctx floats apart). */
#define FR_KV_BLOCK 16
static inline size_t fr_key_index(int t, int d, int hd) {
    return (size_t)(t / FR_KV_BLOCK) * (size_t)hd * FR_KV_BLOCK + (size_t)d * FR_KV_BLOCK + (size_t)(t % FR_KV_BLOCK);
}

/* Attention of n_tok consecutive tokens, each with nq query heads that share one KV head (a
 * GQA group). Keys in blocks, K[fr_key_index(t, d, hd)] = component d of key t; values are
 * rows, V[t * hd + d]. Token i sees the keys and values t < n_kv + i. Its query j is
 * q[i * q_stride + j * hd ..+hd), its output out[i * q_stride + j * hd ..]:
 *   s[t] = scale * Σ_d q[d] K[d][t];  p = softmax(s);  out[d] = Σ_t p[t] V[t][d].
 * scores is scratch of n_tok * nq * (n_kv + n_tok - 1) floats. Taking several tokens and the
 * whole group at once loads every key and value once for all of them. Within an
 * implementation a query's result depends only on its own inputs (the sums run over d and t
 * in index order, whatever n_tok and nq), so it never depends on threads or batching. */
typedef void (*fr_op_attend_fn)(const float *q, int n_tok, int nq, size_t q_stride, const float *K,
                                const float *V, int n_kv, int hd, float scale, float *scores,
                                float *out);
/* The plain scalar reference (expf from libm), one query at a time. */
void fr_op_attend_ref(const float *q, int n_tok, int nq, size_t q_stride, const float *K,
                      const float *V, int n_kv, int hd, float scale, float *scores, float *out);
/* AVX2+FMA, eight keys at a time, one query at a time, with a polynomial exp (relative
 * error < 3e-7); x86 builds only: call it only through fr_op_attend_for. */
void fr_op_attend_avx2(const float *q, int n_tok, int nq, size_t q_stride, const float *K,
                       const float *V, int n_kv, int hd, float scale, float *scores, float *out);
/* AVX-512F: up to eight queries (of any tokens) at a time against sixteen keys, then up to
 * four queries x 64 value components per pass over the values; masked tails. */
void fr_op_attend_avx512(const float *q, int n_tok, int nq, size_t q_stride, const float *K,
                         const float *V, int n_kv, int hd, float scale, float *scores, float *out);
/* The implementation for a kernel ISA (an fr_isa value): the widest of AVX-512 and AVX2 that
 * the ISA, the build and the CPU allow, else the reference. */
fr_op_attend_fn fr_op_attend_for(int isa);

#endif
