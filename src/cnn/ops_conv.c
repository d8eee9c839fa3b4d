/* CONV_2D: scalar references (TFLite reference_integer_ops / reference_ops semantics)
 * and dispatch to the fast paths. */
#include "cnn/ops_internal.h"

void fr_cnn_conv_s8_ref(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                        const int8_t *filter, const int32_t *bias, int8_t *output) {
    const int32_t input_offset = -q->input_zp;
    const int ic_n = g->in_c;
    for (int b = 0; b < g->batch; b++) {
        for (int oy = 0; oy < g->out_h; oy++) {
            const int iy0 = oy * g->stride_h - g->pad_top;
            for (int ox = 0; ox < g->out_w; ox++) {
                const int ix0 = ox * g->stride_w - g->pad_left;
                int8_t *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * g->out_c;
                for (int oc = 0; oc < g->out_c; oc++) {
                    int32_t acc = 0;
                    for (int fy = 0; fy < g->k_h; fy++) {
                        const int iy = iy0 + fy * g->dil_h;
                        if (iy < 0 || iy >= g->in_h) continue;
                        for (int fx = 0; fx < g->k_w; fx++) {
                            const int ix = ix0 + fx * g->dil_w;
                            if (ix < 0 || ix >= g->in_w) continue;
                            const int8_t *x =
                                input + (((size_t)b * g->in_h + iy) * g->in_w + ix) * ic_n;
                            const int8_t *w =
                                filter + (((size_t)oc * g->k_h + fy) * g->k_w + fx) * ic_n;
                            for (int ic = 0; ic < ic_n; ic++)
                                acc = fr_q_add(acc, (int32_t)w[ic] * ((int32_t)x[ic] + input_offset));
                        }
                    }
                    if (bias) acc = fr_q_add(acc, bias[oc]);
                    out[oc] = fr_cnn_requant1(q, acc, oc);
                }
            }
        }
    }
}

void fr_cnn_conv_f32_ref(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                         const float *filter, const float *bias, float *output) {
    const int ic_n = g->in_c;
    for (int b = 0; b < g->batch; b++) {
        for (int oy = 0; oy < g->out_h; oy++) {
            const int iy0 = oy * g->stride_h - g->pad_top;
            for (int ox = 0; ox < g->out_w; ox++) {
                const int ix0 = ox * g->stride_w - g->pad_left;
                float *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * g->out_c;
                for (int oc = 0; oc < g->out_c; oc++) {
                    float acc = 0.0f;
                    for (int fy = 0; fy < g->k_h; fy++) {
                        const int iy = iy0 + fy * g->dil_h;
                        if (iy < 0 || iy >= g->in_h) continue;
                        for (int fx = 0; fx < g->k_w; fx++) {
                            const int ix = ix0 + fx * g->dil_w;
                            if (ix < 0 || ix >= g->in_w) continue;
                            const float *x =
                                input + (((size_t)b * g->in_h + iy) * g->in_w + ix) * ic_n;
                            const float *w =
                                filter + (((size_t)oc * g->k_h + fy) * g->k_w + fx) * ic_n;
                            for (int ic = 0; ic < ic_n; ic++) acc += x[ic] * w[ic];
                        }
                    }
                    if (bias) acc += bias[oc];
                    out[oc] = fr_cnn_clampf(acc, act);
                }
            }
        }
    }
}

size_t fr_cnn_conv_s8_scratch_bytes(fr_isa isa, const fr_cnn_geom *g) {
    if (FR_X86 && isa >= FR_ISA_AVX512) return fr_cnn_conv_s8_avx512_scratch_bytes(g);
    if (FR_X86 && isa >= FR_ISA_AVX2) return fr_cnn_conv_s8_avx2_scratch_bytes(g);
    return 0;
}

size_t fr_cnn_conv_s8_packed_bytes(fr_isa isa, const fr_cnn_geom *g) {
    if (FR_X86 && isa >= FR_ISA_AVX512) return fr_cnn_conv_s8_avx512_packed_bytes(g);
    if (FR_X86 && isa >= FR_ISA_AVX2) return fr_cnn_conv_s8_avx2_packed_bytes(g);
    return 0;
}

void fr_cnn_conv_s8_pack(fr_isa isa, const fr_cnn_geom *g, const fr_cnn_requant *q,
                         const int8_t *filter, const int32_t *bias, void *packed) {
    if (FR_X86 && isa >= FR_ISA_AVX512)
        fr_cnn_conv_s8_avx512_pack(g, q, filter, bias, packed);
    else if (FR_X86 && isa >= FR_ISA_AVX2)
        fr_cnn_conv_s8_avx2_pack(g, q, filter, bias, packed);
}

void fr_cnn_conv_s8_ex(fr_isa isa, const fr_cnn_geom *g, const fr_cnn_requant *q,
                       const int8_t *input, const int8_t *filter, const int32_t *bias,
                       const void *packed, int8_t *output, void *scratch) {
    if (FR_X86 && isa >= FR_ISA_AVX512)
        fr_cnn_conv_s8_avx512(g, q, input, filter, bias, packed, output, scratch);
    else if (FR_X86 && isa >= FR_ISA_AVX2)
        fr_cnn_conv_s8_avx2(g, q, input, filter, bias, packed, output, scratch);
    else
        fr_cnn_conv_s8_ref(g, q, input, filter, bias, output);
}

void fr_cnn_conv_s8(fr_isa isa, const fr_cnn_geom *g, const fr_cnn_requant *q,
                    const int8_t *input, const int8_t *filter, const int32_t *bias,
                    int8_t *output, void *scratch) {
    fr_cnn_conv_s8_ex(isa, g, q, input, filter, bias, NULL, output, scratch);
}

size_t fr_cnn_conv_f32_scratch_bytes(fr_isa isa, const fr_cnn_geom *g) {
    if (FR_X86 && isa >= FR_ISA_AVX512) return fr_cnn_conv_f32_avx512_scratch_bytes(g);
    if (FR_X86 && isa >= FR_ISA_AVX2) return fr_cnn_conv_f32_avx2_scratch_bytes(g);
    return 0;
}

size_t fr_cnn_conv_f32_packed_bytes(fr_isa isa, const fr_cnn_geom *g) {
    if (FR_X86 && isa >= FR_ISA_AVX2) return fr_cnn_conv_f32_avx2_packed_bytes(g);
    return 0;
}

void fr_cnn_conv_f32_pack(fr_isa isa, const fr_cnn_geom *g, const float *filter,
                          const float *bias, void *packed) {
    if (FR_X86 && isa >= FR_ISA_AVX2) fr_cnn_conv_f32_avx2_pack(g, filter, bias, packed);
}

void fr_cnn_conv_f32_ex(fr_isa isa, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                        const float *input, const float *filter, const float *bias,
                        const void *packed, float *output, void *scratch) {
    if (FR_X86 && isa >= FR_ISA_AVX512)
        fr_cnn_conv_f32_avx512(g, act, input, filter, bias, packed, output, scratch);
    else if (FR_X86 && isa >= FR_ISA_AVX2)
        fr_cnn_conv_f32_avx2(g, act, input, filter, bias, packed, output, scratch);
    else
        fr_cnn_conv_f32_ref(g, act, input, filter, bias, output);
}

void fr_cnn_conv_f32(fr_isa isa, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                     const float *input, const float *filter, const float *bias,
                     float *output, void *scratch) {
    fr_cnn_conv_f32_ex(isa, g, act, input, filter, bias, NULL, output, scratch);
}
