/* DEPTHWISE_CONV_2D: scalar references and dispatch. Output channel oc = ic * M + m. */
#include "cnn/ops_internal.h"

void fr_cnn_dwconv_s8_ref(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, int8_t *output) {
    const int32_t input_offset = -q->input_zp;
    const int M = g->depth_mult;
    for (int b = 0; b < g->batch; b++) {
        for (int oy = 0; oy < g->out_h; oy++) {
            const int iy0 = oy * g->stride_h - g->pad_top;
            for (int ox = 0; ox < g->out_w; ox++) {
                const int ix0 = ox * g->stride_w - g->pad_left;
                int8_t *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * g->out_c;
                for (int ic = 0; ic < g->in_c; ic++) {
                    for (int m = 0; m < M; m++) {
                        const int oc = ic * M + m;
                        int32_t acc = 0;
                        for (int fy = 0; fy < g->k_h; fy++) {
                            const int iy = iy0 + fy * g->dil_h;
                            if (iy < 0 || iy >= g->in_h) continue;
                            for (int fx = 0; fx < g->k_w; fx++) {
                                const int ix = ix0 + fx * g->dil_w;
                                if (ix < 0 || ix >= g->in_w) continue;
                                const int32_t x =
                                    input[(((size_t)b * g->in_h + iy) * g->in_w + ix) * g->in_c + ic];
                                const int32_t w =
                                    filter[((size_t)fy * g->k_w + fx) * g->out_c + oc];
                                acc = fr_q_add(acc, w * (x + input_offset));
                            }
                        }
                        if (bias) acc = fr_q_add(acc, bias[oc]);
                        out[oc] = fr_cnn_requant1(q, acc, oc);
                    }
                }
            }
        }
    }
}

void fr_cnn_dwconv_f32_ref(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                           const float *filter, const float *bias, float *output) {
    const int M = g->depth_mult;
    for (int b = 0; b < g->batch; b++) {
        for (int oy = 0; oy < g->out_h; oy++) {
            const int iy0 = oy * g->stride_h - g->pad_top;
            for (int ox = 0; ox < g->out_w; ox++) {
                const int ix0 = ox * g->stride_w - g->pad_left;
                float *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * g->out_c;
                for (int ic = 0; ic < g->in_c; ic++) {
                    for (int m = 0; m < M; m++) {
                        const int oc = ic * M + m;
                        float acc = 0.0f;
                        for (int fy = 0; fy < g->k_h; fy++) {
                            const int iy = iy0 + fy * g->dil_h;
                            if (iy < 0 || iy >= g->in_h) continue;
                            for (int fx = 0; fx < g->k_w; fx++) {
                                const int ix = ix0 + fx * g->dil_w;
                                if (ix < 0 || ix >= g->in_w) continue;
                                acc += input[(((size_t)b * g->in_h + iy) * g->in_w + ix) * g->in_c + ic] *
                                       filter[((size_t)fy * g->k_w + fx) * g->out_c + oc];
                            }
                        }
                        if (bias) acc += bias[oc];
                        out[oc] = fr_cnn_clampf(acc, act);
                    }
                }
            }
        }
    }
}

size_t fr_cnn_dwconv_s8_scratch_bytes(fr_isa isa, const fr_cnn_geom *g) {
    if (FR_X86 && isa >= FR_ISA_AVX2) return fr_cnn_dwconv_s8_avx2_scratch_bytes(g);
    return 0;
}

void fr_cnn_dwconv_s8(fr_isa isa, const fr_cnn_geom *g, const fr_cnn_requant *q,
                      const int8_t *input, const int8_t *filter, const int32_t *bias,
                      int8_t *output, void *scratch) {
    if (FR_X86 && isa >= FR_ISA_AVX2)
        fr_cnn_dwconv_s8_avx2(g, q, input, filter, bias, output, scratch);
    else
        fr_cnn_dwconv_s8_ref(g, q, input, filter, bias, output);
}

size_t fr_cnn_dwconv_f32_scratch_bytes(fr_isa isa, const fr_cnn_geom *g) {
    (void)isa;
    (void)g;
    return 0;
}

void fr_cnn_dwconv_f32(fr_isa isa, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                       const float *input, const float *filter, const float *bias,
                       float *output, void *scratch) {
    (void)scratch;
    if (FR_X86 && isa >= FR_ISA_AVX2)
        fr_cnn_dwconv_f32_avx2(g, act, input, filter, bias, output);
    else
        fr_cnn_dwconv_f32_ref(g, act, input, filter, bias, output);
}
