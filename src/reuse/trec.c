/* TREC convolution: the fast path. The float convolution is the body of trec_f32_body.h
 * with portable kernels here and AVX2 ones in trec_avx2.c (used when the caller's isa
 * allows); the int8 path is the body fr_trec_s8_body of trec_internal.h, instantiated here
 * with portable kernels and in trec_avx2.c / trec_avx512.c (and trec_armdsp.c) with SIMD
 * ones. Every variant is bit-identical to trec_ref.c.
 */
#include <math.h>
#include <string.h>

#include "cnn/ops_internal.h"
#include "reuse/trec_f32_body.h"
#include "reuse/trec_internal.h"
#include "reuse/trec_s8_body.h"

static void hash_rows_f32_c(const float *pt, int Hp, const float *const *x, int R, int Lj,
                            float *d) {
    for (int q = 0; q < R; q++) {
        float *dq = d + (size_t)q * Hp;
        for (int h = 0; h < Hp; h++) dq[h] = 0.0f;
        for (int t = 0; t < Lj; t++) {
            const float xt = x[q][t];
            const float *pr = pt + (size_t)t * Hp;
            for (int h = 0; h < Hp; h++) {
                const float prod = pr[h] * xt;
                dq[h] = dq[h] + prod;
            }
        }
    }
}

static void partial_f32_c(const float *const *cent, int n, int Lj, const float *wt, int cout,
                          float *const *y) {
    for (int i = 0; i < n; i++) {
        float *yi = y[i];
        for (int oc = 0; oc < cout; oc++) yi[oc] = 0.0f;
        for (int t = 0; t < Lj; t++) {
            const float ct = cent[i][t];
            const float *w = wt + (size_t)t * cout;
            for (int oc = 0; oc < cout; oc++) yi[oc] = fmaf(ct, w[oc], yi[oc]);
        }
    }
}

void fr_trec_filter_t_f32(const float *filter, int K, int cout, float *filter_t) {
    fr_trec_transpose_f32_c(filter, K, 0, K, cout, filter_t); /* every sub-vector at once */
}

void fr_trec_conv_f32(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g,
                      fr_cnn_range_f32 act, const float *input, const float *filter,
                      const float *bias, float *output, void *scratch, fr_trec_stats *stats) {
#if FR_X86
    if (isa >= FR_ISA_AVX512) {
        fr_trec_conv_f32_avx512(p, g, act, input, filter, bias, output, scratch, stats);
        return;
    }
    if (isa >= FR_ISA_AVX2) {
        fr_trec_conv_f32_avx2(p, g, act, input, filter, bias, output, scratch, stats);
        return;
    }
#else
    (void)isa;
#endif
    fr_trec_f32_body(p, g, act, input, filter, bias, output, scratch, stats, hash_rows_f32_c,
                     partial_f32_c, fr_trec_transpose_f32_c);
}

/* Portable int8 kernels (packed layouts: trec_internal.h). */
static uint32_t hash_s8_c(const int16_t *ptp, int Hq, int H, const int16_t *v, int np,
                          const int32_t *thr) {
    int32_t d[FR_TREC_MAX_HASH_BITS];
    for (int h = 0; h < H; h++) d[h] = 0;
    for (int pp = 0; pp < np; pp++) {
        const int32_t v0 = v[2 * pp], v1 = v[2 * pp + 1];
        const int16_t *pr = ptp + (size_t)pp * Hq * 2;
        for (int h = 0; h < H; h++) d[h] += pr[2 * h] * v0 + pr[2 * h + 1] * v1;
    }
    uint32_t id = 0;
    for (int h = 0; h < H; h++) id |= (uint32_t)(d[h] >= thr[h]) << h;
    return id;
}

static void partial_s8_c(const int16_t *cent, int np, const int16_t *wt2, int cout, int32_t *y) {
    for (int oc = 0; oc < cout; oc++) y[oc] = 0;
    for (int pp = 0; pp < np; pp++) {
        const int32_t c0 = cent[2 * pp], c1 = cent[2 * pp + 1];
        const int16_t *w = wt2 + (size_t)pp * cout * 2;
        for (int oc = 0; oc < cout; oc++) y[oc] += c0 * w[2 * oc] + c1 * w[2 * oc + 1];
    }
}

size_t fr_trec_taps_s8_bytes(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g) {
    if (!FR_X86 || isa < FR_ISA_AVX512 || !p->pixel || p->sub_len % 4 != 0) return 0;
    const int J = g->k_h * g->k_w * (g->in_c / p->sub_len);
    return (size_t)J * fr_trec_vnni_tap_bytes(p->sub_len, g->out_c);
}

void fr_trec_taps_s8_pack(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g,
                          const int8_t *filter, void *taps) {
#if FR_X86
    if (!fr_trec_taps_s8_bytes(isa, p, g)) return; /* nothing packed ahead for this layer */
    const int L = p->sub_len, K = g->k_h * g->k_w * g->in_c, J = K / L;
    const size_t tap = fr_trec_vnni_tap_bytes(L, g->out_c);
    for (int j = 0; j < J; j++) /* sub-vector j: tap j / (in_c / L), its channel group */
        fr_trec_pack_tap_vnni(filter, K, j * L, L, g->out_c, (uint8_t *)taps + tap * j);
#else
    (void)isa, (void)p, (void)g, (void)filter, (void)taps;
#endif
}

void fr_trec_conv_s8(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g,
                     const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                     const int32_t *bias, int8_t *output, void *scratch,
                     fr_trec_stats *stats) {
#if FR_X86
    if (isa >= FR_ISA_AVX512) {
        fr_trec_conv_s8_avx512(p, g, q, input, filter, bias, output, scratch, stats);
        return;
    }
    if (isa >= FR_ISA_AVX2) {
        fr_trec_conv_s8_avx2(p, g, q, input, filter, bias, output, scratch, stats);
        return;
    }
#else
    (void)isa;
#endif
#if FR_TREC_ARM_DSP
    fr_trec_conv_s8_armdsp(p, g, q, input, filter, bias, output, scratch, stats);
    return;
#endif
    fr_trec_s8_body(p, g, q, input, filter, bias, output, scratch, stats, hash_s8_c,
                    partial_s8_c, fr_trec_requant_rows_c,
                    fr_trec_cent_div, 0);
}
