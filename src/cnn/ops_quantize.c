/* QUANTIZE (float -> int8, int8 -> int8), DEQUANTIZE (int8 -> float), RESHAPE. */
#include <math.h>
#include <string.h>

#include "cnn/ops_internal.h"
#include "core/error.h"

void fr_cnn_quantize_f32_s8(float scale, int32_t zp, const float *input, int8_t *output,
                            size_t n) {
    for (size_t i = 0; i < n; i++) {
        float r = roundf(input[i] / scale);
        /* clamp in float first so the int conversion is defined; the final clamp to
         * [-128, 127] gives the same result as TFLite's int32 clamp */
        if (!(r > -1e6f)) r = -1e6f; /* also maps NaN to the low end */
        if (r > 1e6f) r = 1e6f;
        output[i] = (int8_t)fr_q_clamp((int32_t)r + zp, -128, 127);
    }
}

fr_status fr_cnn_requantize_s8_prepare(float in_scale, float out_scale, int32_t *mult,
                                       int32_t *shift, fr_error *err) {
    if (!(in_scale > 0.0f) || !(out_scale > 0.0f) || !isfinite(in_scale) || !isfinite(out_scale))
        return fr_fail(err, FR_E_ARG, "QUANTIZE: scales must be positive and finite");
    int s;
    fr_cnn_quantize_multiplier((double)in_scale / (double)out_scale, mult, &s);
    if (s > 30)
        return fr_fail(err, FR_E_UNSUPPORTED, "QUANTIZE: scale ratio out of range");
    *shift = s;
    return FR_OK;
}

void fr_cnn_requantize_s8(int32_t in_zp, int32_t mult, int32_t shift, int32_t out_zp,
                          const int8_t *input, int8_t *output, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int32_t v = fr_q_mbqm((int32_t)input[i] - in_zp, mult, shift);
        output[i] = (int8_t)fr_q_clamp(fr_q_add(v, out_zp), -128, 127);
    }
}

void fr_cnn_dequantize_s8_f32(float scale, int32_t zp, const int8_t *input, float *output,
                              size_t n) {
    for (size_t i = 0; i < n; i++) output[i] = scale * (float)((int32_t)input[i] - zp);
}

void fr_cnn_reshape(const void *input, void *output, size_t bytes) {
    if (input != output && bytes) memmove(output, input, bytes);
}
