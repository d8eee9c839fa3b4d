/* DEPTHWISE_CONV_2D float fast path for AVX2+FMA (depth multiplier 1; other multipliers
 * use the reference): channels 8 at a time, the valid taps of each output pixel listed
 * once, one FMA chain per channel in the reference's tap order (only FMA rounding
 * differs from the reference). No scratch. */
#include "cnn/ops_avx2_internal.h"

void fr_cnn_dwconv_f32_avx2(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                            const float *filter, const float *bias, float *output) {
    if (g->depth_mult != 1 || g->k_h * g->k_w > 64) {
        fr_cnn_dwconv_f32_ref(g, act, input, filter, bias, output);
        return;
    }
    const int C = g->out_c;
    const __m256 lo = _mm256_set1_ps(act.min), hi = _mm256_set1_ps(act.max);
    for (int b = 0; b < g->batch; b++)
        for (int oy = 0; oy < g->out_h; oy++) {
            const int iy0 = oy * g->stride_h - g->pad_top;
            for (int ox = 0; ox < g->out_w; ox++) {
                const int ix0 = ox * g->stride_w - g->pad_left;
                const float *xp[64], *wp[64];
                int nt = 0;
                for (int fy = 0; fy < g->k_h; fy++) {
                    const int iy = iy0 + fy * g->dil_h;
                    if (iy < 0 || iy >= g->in_h) continue;
                    for (int fx = 0; fx < g->k_w; fx++) {
                        const int ix = ix0 + fx * g->dil_w;
                        if (ix < 0 || ix >= g->in_w) continue;
                        xp[nt] = input + (((size_t)b * g->in_h + iy) * g->in_w + ix) * C;
                        wp[nt] = filter + (size_t)(fy * g->k_w + fx) * C;
                        nt++;
                    }
                }
                float *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * C;
                int c = 0;
                for (; c + 8 <= C; c += 8) {
                    __m256 acc = _mm256_setzero_ps();
                    for (int t = 0; t < nt; t++)
                        acc = _mm256_fmadd_ps(_mm256_loadu_ps(xp[t] + c), _mm256_loadu_ps(wp[t] + c), acc);
                    if (bias) acc = _mm256_add_ps(acc, _mm256_loadu_ps(bias + c));
                    _mm256_storeu_ps(out + c, _mm256_min_ps(_mm256_max_ps(acc, lo), hi));
                }
                for (; c < C; c++) {
                    float acc = 0.0f;
                    for (int t = 0; t < nt; t++) acc += xp[t][c] * wp[t][c];
                    if (bias) acc += bias[c];
                    out[c] = fr_cnn_clampf(acc, act);
                }
            }
        }
}
