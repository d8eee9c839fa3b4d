/* SOFTMAX: int8 -> int8 with TFLite Micro's reference fixed-point algorithm (gemmlowp
 * exp on Q5.26, sum in Q12.19, reciprocal), and float. */
#include <math.h>

#include "cnn/ops_internal.h"
#include "core/error.h"

enum { kScaledDiffIntegerBits = 5, kAccumulationIntegerBits = 12 };

fr_status fr_cnn_softmax_s8_prepare(float beta, float input_scale, float out_scale,
                                    int32_t out_zp, fr_cnn_softmax_s8_params *p,
                                    fr_error *err) {
    if (!(beta > 0.0f) || !isfinite(beta) || !(input_scale > 0.0f) || !isfinite(input_scale))
        return fr_fail(err, FR_E_ARG, "SOFTMAX: beta and input scale must be positive");
    if (out_zp != -128 || fabsf(out_scale - 1.0f / 256.0f) > 0.001f / 256.0f)
        return fr_fail(err, FR_E_UNSUPPORTED,
                       "SOFTMAX: int8 output must have scale 1/256 and zero point -128 "
                       "(got %g, %d)", (double)out_scale, (int)out_zp);
    /* PreprocessSoftmaxScaling */
    const double max_real = (double)(((int64_t)1 << 31) - 1);
    double real = (double)beta * (double)input_scale *
                  (double)(1 << (31 - kScaledDiffIntegerBits));
    if (real > max_real) real = max_real;
    int32_t mult;
    int shift;
    fr_cnn_quantize_multiplier(real, &mult, &shift);
    if (!(real > 1.0) || shift < 0 || shift > 30)
        return fr_fail(err, FR_E_UNSUPPORTED, "SOFTMAX: beta * input scale %g out of range",
                       (double)beta * (double)input_scale);
    p->input_multiplier = mult;
    p->input_left_shift = shift;
    /* CalculateInputRadius(5, shift, 31) */
    const double radius = 1.0 * ((1 << kScaledDiffIntegerBits) - 1) *
                          (double)((int64_t)1 << (31 - kScaledDiffIntegerBits)) /
                          (double)((int64_t)1 << shift);
    p->diff_min = -(int32_t)floor(radius);
    return FR_OK;
}

void fr_cnn_softmax_s8(const fr_cnn_softmax_s8_params *p, const int8_t *input, int8_t *output,
                       int rows, int depth) {
    for (int r = 0; r < rows; r++) {
        const int8_t *x = input + (size_t)r * depth;
        int8_t *y = output + (size_t)r * depth;
        int32_t max_in_row = -128;
        for (int c = 0; c < depth; c++)
            if (x[c] > max_in_row) max_in_row = x[c];
        int32_t sum_of_exps = 0; /* Q12.19 */
        for (int c = 0; c < depth; c++) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = fr_q_srdhm(fr_q_shl_wrap(diff, p->input_left_shift),
                                                  p->input_multiplier);
                const int32_t e = fr_q_exp_on_negative_values_q5(scaled);
                sum_of_exps = fr_q_add(sum_of_exps, fr_q_rdpot(e, kAccumulationIntegerBits));
            }
        }
        int num_bits_over_unit;
        const int32_t shifted_scale =
            fr_q_reciprocal(sum_of_exps, kAccumulationIntegerBits, &num_bits_over_unit);
        int exponent = num_bits_over_unit + 31 - 8;
        if (exponent < 0) exponent = 0; /* cannot happen: sum >= 1 */
        if (exponent > 31) exponent = 31;
        for (int c = 0; c < depth; c++) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = fr_q_srdhm(fr_q_shl_wrap(diff, p->input_left_shift),
                                                  p->input_multiplier);
                const int32_t e = fr_q_exp_on_negative_values_q5(scaled);
                int32_t v = fr_q_rdpot(fr_q_srdhm(shifted_scale, e), exponent);
                v = fr_q_clamp(v - 128, -128, 127);
                y[c] = (int8_t)v;
            } else {
                y[c] = -128;
            }
        }
    }
}

void fr_cnn_softmax_f32(float beta, const float *input, float *output, int rows, int depth) {
    for (int r = 0; r < rows; r++) {
        const float *x = input + (size_t)r * depth;
        float *y = output + (size_t)r * depth;
        float max = -3.402823466e38f;
        for (int c = 0; c < depth; c++)
            if (x[c] > max) max = x[c];
        float sum = 0.0f;
        for (int c = 0; c < depth; c++) {
            y[c] = expf((x[c] - max) * beta);
            sum += y[c];
        }
        for (int c = 0; c < depth; c++) y[c] = y[c] / sum;
    }
}
