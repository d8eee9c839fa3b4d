/* CNN operator kernels: int8 (bit-exact with TensorFlow Lite's reference integer
 * semantics) and float32, in TFLite's layouts.
 *
 * Layouts
 *   activations  NHWC (batch, height, width, channels), contiguous
 *   CONV_2D      filter OHWI  [out_c][k_h][k_w][in_c]
 *   DEPTHWISE    filter 1HWC' [1][k_h][k_w][in_c * depth_mult]; output channel
 *                oc = ic * depth_mult + m reads input channel ic
 *   FULLY_CONN.  weights [out][in] (row per output), input [batch][in]
 *   bias         int32 [out_c] for int8 (scale input_scale * filter_scale[c], zero
 *                point 0), float [out_c] for float; may be NULL (zero bias)
 *
 * Conventions
 *   - No kernel allocates, prints, or touches global state; all are re-entrant.
 *   - Every kernel that needs temporary memory has a `_scratch_bytes` companion; the
 *     caller passes a scratch pointer to at least that many bytes, aligned to 64
 *     bytes (16 is enough for the scalar paths). A size of 0 means scratch may be NULL.
 *   - Parameters are validated once, by the `_check` / prepare helpers (which return an
 *     fr_status and name the op in the message); kernels assume valid parameters and
 *     return void (habit: prepare validates, eval computes).
 *   - Each op has a plain scalar reference `<op>_ref` and a dispatcher `<op>(isa, ...)`
 *     that runs the fastest path for `isa` (the caller picks isa once, e.g. with
 *     fr_isa_best(); FR_ISA_SCALAR is always valid). For int8 the dispatcher's output is
 *     bit-identical to the reference; for float it agrees up to summation order.
 *   - Output buffers must not overlap inputs, except: RESHAPE may alias; ADD (same-shape
 *     form), requantize, QUANTIZE/DEQUANTIZE of equal element size may run in place
 *     (output == input exactly).
 *
 * Integer semantics (see docs/cnn_ops.md and src/cnn/quant.h)
 *   acc = bias[c] + sum (x + input_offset) * w            (int32, input_offset = -input_zp)
 *   y   = clamp(MultiplyByQuantizedMultiplier(acc, mult[c], shift[c]) + output_zp,
 *               act_min, act_max)
 */
#ifndef FR_CNN_OPS_H
#define FR_CNN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/kernels.h" /* fr_isa */
#include "frugal.h"

/* ------------------------------------------------------------------------------------ */
/* Enumerations (values equal TFLite's schema enums so the reader can cast them).        */

typedef enum fr_cnn_padding {
    FR_CNN_PAD_SAME = 0,
    FR_CNN_PAD_VALID = 1
} fr_cnn_padding;

typedef enum fr_cnn_act {
    FR_CNN_ACT_NONE = 0,
    FR_CNN_ACT_RELU = 1,
    FR_CNN_ACT_RELU_N1_TO_1 = 2,
    FR_CNN_ACT_RELU6 = 3
} fr_cnn_act;

/* ------------------------------------------------------------------------------------ */
/* Geometry shared by CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D and MAX_POOL_2D.       */

typedef struct fr_cnn_geom {
    int batch;
    int in_h, in_w, in_c;
    int out_h, out_w, out_c;  /* pools: out_c == in_c; depthwise: out_c == in_c*depth_mult */
    int k_h, k_w;             /* filter / pooling window */
    int stride_h, stride_w;
    int dil_h, dil_w;         /* dilation (1 = none; pools must use 1) */
    int pad_top, pad_left;    /* padding before the first row / column (TFLite's
                                 padding_values.height / .width) */
    int depth_mult;           /* depthwise only (else ignored, set 1) */
} fr_cnn_geom;

/* TFLite's ComputeOutSize: SAME -> ceil(in/stride); VALID -> (in - eff_k + stride)/stride
 * with eff_k = (k-1)*dil+1. Returns 0 when the result would be < 1 or arguments invalid. */
int fr_cnn_out_size(fr_cnn_padding padding, int in, int k, int stride, int dil);

/* TFLite's ComputePaddingWithOffset: total = max((out-1)*stride + eff_k - in, 0);
 * returns total/2 (the padding before; the odd extra pixel goes after). */
int fr_cnn_pad_before(int in, int k, int stride, int dil, int out);

/* Fills g from the input shape, window, strides, dilation and padding type: out_h/out_w
 * from fr_cnn_out_size, pad_top/pad_left from fr_cnn_pad_before. out_c is set by the
 * caller's argument. Fails (FR_E_ARG / FR_E_UNSUPPORTED, message names `op`) when any
 * size is <= 0, the output would be empty, or sizes overflow int32 element counts. */
fr_status fr_cnn_geom_init(fr_cnn_geom *g, const char *op, fr_cnn_padding padding,
                           int batch, int in_h, int in_w, int in_c, int out_c,
                           int k_h, int k_w, int stride_h, int stride_w,
                           int dil_h, int dil_w, int depth_mult, fr_error *err);

/* Validates a geometry filled by hand (consistency of every field). */
fr_status fr_cnn_geom_check(const fr_cnn_geom *g, const char *op, fr_error *err);

/* ------------------------------------------------------------------------------------ */
/* Quantisation parameters.                                                              */

/* Requantisation of an int32 accumulator to int8 (CONV, DEPTHWISE, FULLY_CONNECTED). */
typedef struct fr_cnn_requant {
    int32_t input_zp;      /* input zero point (TFLite input_offset = -input_zp) */
    int32_t output_zp;     /* output zero point */
    int32_t act_min;       /* clamp range in the output's quantised domain */
    int32_t act_max;
    const int32_t *mult;   /* Q31 multipliers, [out_c] if per_channel else [1] */
    const int32_t *shift;  /* exponents (> 0: left shift), same length as mult */
    int per_channel;       /* 1: mult/shift indexed by output channel; 0: index 0 */
} fr_cnn_requant;

/* Float activation clamp (from fr_cnn_act_range_f32). */
typedef struct fr_cnn_range_f32 {
    float min, max;
} fr_cnn_range_f32;

/* TFLite's QuantizeMultiplier: q = frexp(real, &shift); qf = round(q * 2^31) (half away
 * from zero); if qf == 2^31 { qf /= 2; shift++ }; if shift < -31 { shift = 0; qf = 0 }
 * (TFLite's default double-rounding build). real == 0 gives (0, 0). */
void fr_cnn_quantize_multiplier(double real, int32_t *mult, int *shift);

/* CalculateActivationRangeQuantized for int8: NONE -> [-128,127]; RELU -> [max(-128,
 * zp+round(0/s)), 127]; RELU6 -> [.., min(127, zp + round(6/s))]; RELU_N1_TO_1 ->
 * [max(-128, zp + round(-1/s)), min(127, zp + round(1/s))]. round = half away from zero
 * of the float quotient, as TFLite's TfLiteRound(f / scale). */
fr_status fr_cnn_act_range_s8(fr_cnn_act act, float out_scale, int32_t out_zp,
                              int32_t *act_min, int32_t *act_max, fr_error *err);

/* Float activation range: NONE -> [-FLT_MAX, FLT_MAX], RELU -> [0, FLT_MAX], RELU6 ->
 * [0, 6], RELU_N1_TO_1 -> [-1, 1]. Unknown act -> FR_E_UNSUPPORTED. */
fr_status fr_cnn_act_range_f32(fr_cnn_act act, fr_cnn_range_f32 *range, fr_error *err);

/* Per-channel multipliers for CONV / DEPTHWISE / FC: for c in [0, n_scales)
 *   effective = (double)input_scale * (double)filter_scale[c] / (double)output_scale
 * computed in double exactly as TFLite's PopulateConvolutionQuantizationParams, then
 * QuantizeMultiplier. n_scales is out_c for per-channel filters or 1 for per-tensor.
 * mult/shift receive n_scales entries. Fails when a scale is <= 0 or not finite. */
fr_status fr_cnn_prepare_requant(float input_scale, const float *filter_scale, int n_scales,
                                 float output_scale, int32_t *mult, int32_t *shift,
                                 const char *op, fr_error *err);

/* ------------------------------------------------------------------------------------ */
/* CONV_2D                                                                               */

size_t fr_cnn_conv_s8_scratch_bytes(fr_isa isa, const fr_cnn_geom *g);
void fr_cnn_conv_s8_ref(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                        const int8_t *filter, const int32_t *bias, int8_t *output);
void fr_cnn_conv_s8(fr_isa isa, const fr_cnn_geom *g, const fr_cnn_requant *q,
                    const int8_t *input, const int8_t *filter, const int32_t *bias,
                    int8_t *output, void *scratch);

/* Optional one-time packing (e.g. at model load) of the constant weights and per-channel
 * constants that the fast paths otherwise rebuild in the scratch on every call.
 * packed_bytes may be 0 (nothing to pack for this isa: pass packed = NULL). The packed
 * buffer (64-byte aligned) is tied to isa, g, q, filter and bias, which must be passed
 * unchanged to _ex. _ex with packed == NULL is the plain dispatcher, whose scratch is
 * fr_cnn_conv_s8_scratch_bytes; with a packed buffer it needs packed_bytes less (the
 * packing area is the scratch's first part). */
size_t fr_cnn_conv_s8_packed_bytes(fr_isa isa, const fr_cnn_geom *g);
void fr_cnn_conv_s8_pack(fr_isa isa, const fr_cnn_geom *g, const fr_cnn_requant *q,
                         const int8_t *filter, const int32_t *bias, void *packed);
void fr_cnn_conv_s8_ex(fr_isa isa, const fr_cnn_geom *g, const fr_cnn_requant *q,
                       const int8_t *input, const int8_t *filter, const int32_t *bias,
                       const void *packed, int8_t *output, void *scratch);

size_t fr_cnn_conv_f32_scratch_bytes(fr_isa isa, const fr_cnn_geom *g);
void fr_cnn_conv_f32_ref(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                         const float *filter, const float *bias, float *output);
void fr_cnn_conv_f32(fr_isa isa, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                     const float *input, const float *filter, const float *bias,
                     float *output, void *scratch);
/* Same packing scheme for float (see fr_cnn_conv_s8_pack). */
size_t fr_cnn_conv_f32_packed_bytes(fr_isa isa, const fr_cnn_geom *g);
void fr_cnn_conv_f32_pack(fr_isa isa, const fr_cnn_geom *g, const float *filter,
                          const float *bias, void *packed);
void fr_cnn_conv_f32_ex(fr_isa isa, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                        const float *input, const float *filter, const float *bias,
                        const void *packed, float *output, void *scratch);

/* ------------------------------------------------------------------------------------ */
/* DEPTHWISE_CONV_2D (g->depth_mult >= 1, g->out_c == g->in_c * g->depth_mult)            */

size_t fr_cnn_dwconv_s8_scratch_bytes(fr_isa isa, const fr_cnn_geom *g);
void fr_cnn_dwconv_s8_ref(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, int8_t *output);
void fr_cnn_dwconv_s8(fr_isa isa, const fr_cnn_geom *g, const fr_cnn_requant *q,
                      const int8_t *input, const int8_t *filter, const int32_t *bias,
                      int8_t *output, void *scratch);

size_t fr_cnn_dwconv_f32_scratch_bytes(fr_isa isa, const fr_cnn_geom *g);
void fr_cnn_dwconv_f32_ref(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                           const float *filter, const float *bias, float *output);
void fr_cnn_dwconv_f32(fr_isa isa, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                       const float *input, const float *filter, const float *bias,
                       float *output, void *scratch);

/* ------------------------------------------------------------------------------------ */
/* FULLY_CONNECTED: output[b][o] = act(bias[o] + sum_i input[b][i] * weights[o][i])       */
/* int8: filter zero point is 0 (TFLite requires it); per-tensor or per-channel requant. */

typedef struct fr_cnn_fc_dims {
    int batch;  /* rows of input / output */
    int in;     /* accumulation depth */
    int out;    /* output units */
} fr_cnn_fc_dims;

fr_status fr_cnn_fc_check(const fr_cnn_fc_dims *d, const char *op, fr_error *err);

size_t fr_cnn_fc_s8_scratch_bytes(fr_isa isa, const fr_cnn_fc_dims *d);
void fr_cnn_fc_s8_ref(const fr_cnn_fc_dims *d, const fr_cnn_requant *q, const int8_t *input,
                      const int8_t *weights, const int32_t *bias, int8_t *output);
void fr_cnn_fc_s8(fr_isa isa, const fr_cnn_fc_dims *d, const fr_cnn_requant *q,
                  const int8_t *input, const int8_t *weights, const int32_t *bias,
                  int8_t *output, void *scratch);

size_t fr_cnn_fc_f32_scratch_bytes(fr_isa isa, const fr_cnn_fc_dims *d);
void fr_cnn_fc_f32_ref(const fr_cnn_fc_dims *d, fr_cnn_range_f32 act, const float *input,
                       const float *weights, const float *bias, float *output);
void fr_cnn_fc_f32(fr_isa isa, const fr_cnn_fc_dims *d, fr_cnn_range_f32 act,
                   const float *input, const float *weights, const float *bias,
                   float *output, void *scratch);

/* ------------------------------------------------------------------------------------ */
/* ADD (elementwise; optional 4-D broadcast)                                             */

typedef struct fr_cnn_add_s8_params {
    int32_t in1_zp, in2_zp, out_zp;  /* zero points (TFLite offsets are -in_zp, +out_zp) */
    int32_t in1_mult, in2_mult, out_mult;
    int32_t in1_shift, in2_shift, out_shift;
    int32_t left_shift;              /* 20 for int8 */
    int32_t act_min, act_max;
} fr_cnn_add_s8_params;

/* TFLite's int8 ADD prepare: left_shift = 20; twice_max = 2 * max(s1, s2);
 * real_in1 = s1 / twice_max; real_in2 = s2 / twice_max;
 * real_out = twice_max / ((1 << 20) * s_out)   (all in double), each through
 * QuantizeMultiplierSmallerThanOneExp; activation range from act. */
fr_status fr_cnn_add_s8_prepare(float s1, int32_t zp1, float s2, int32_t zp2, float s_out,
                                int32_t zp_out, fr_cnn_act act, fr_cnn_add_s8_params *p,
                                fr_error *err);

/* n elements, same shape. */
void fr_cnn_add_s8_ref(const fr_cnn_add_s8_params *p, const int8_t *in1, const int8_t *in2,
                       int8_t *out, size_t n);
void fr_cnn_add_s8(fr_isa isa, const fr_cnn_add_s8_params *p, const int8_t *in1,
                   const int8_t *in2, int8_t *out, size_t n);
void fr_cnn_add_f32(fr_cnn_range_f32 act, const float *in1, const float *in2, float *out,
                    size_t n);

/* Broadcasting form: shapes are 4-D NHWC (pad lower ranks with leading 1s); each dim of
 * in1/in2 is either equal to the output's or 1. out_shape[i] = max(s1[i], s2[i]). */
fr_status fr_cnn_bcast_check(const int s1[4], const int s2[4], const char *op, fr_error *err);
void fr_cnn_add_s8_bcast(const fr_cnn_add_s8_params *p, const int s1[4], const int8_t *in1,
                         const int s2[4], const int8_t *in2, int8_t *out);
void fr_cnn_add_f32_bcast(fr_cnn_range_f32 act, const int s1[4], const float *in1,
                          const int s2[4], const float *in2, float *out);

/* ------------------------------------------------------------------------------------ */
/* AVERAGE_POOL_2D / MAX_POOL_2D (g->out_c == g->in_c, dil 1). int8 requires input and   */
/* output to share scale and zero point (TFLite does); act_min/act_max as usual.         */
/* Average: sum over the valid (unpadded) window, count = number of valid pixels,        */
/* int8 result = sum > 0 ? (sum + count/2)/count : (sum - count/2)/count (C division).    */

void fr_cnn_avgpool_s8_ref(const fr_cnn_geom *g, int32_t act_min, int32_t act_max,
                           const int8_t *input, int8_t *output);
void fr_cnn_avgpool_s8(fr_isa isa, const fr_cnn_geom *g, int32_t act_min, int32_t act_max,
                       const int8_t *input, int8_t *output);
void fr_cnn_avgpool_f32(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                        float *output);
void fr_cnn_maxpool_s8_ref(const fr_cnn_geom *g, int32_t act_min, int32_t act_max,
                           const int8_t *input, int8_t *output);
void fr_cnn_maxpool_s8(fr_isa isa, const fr_cnn_geom *g, int32_t act_min, int32_t act_max,
                       const int8_t *input, int8_t *output);
void fr_cnn_maxpool_f32_ref(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                            float *output);
void fr_cnn_maxpool_f32(fr_isa isa, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                        const float *input, float *output);

/* ------------------------------------------------------------------------------------ */
/* SOFTMAX over the last dimension: `rows` rows of `depth` elements.                     */
/* int8: TFLite Micro's reference (gemmlowp fixed point, 5 integer bits for the scaled   */
/* difference). Output quantisation must be scale 1/256, zero point -128 (TFLite's).     */

typedef struct fr_cnn_softmax_s8_params {
    int32_t input_multiplier;   /* from beta * input_scale * 2^(31-5) */
    int32_t input_left_shift;
    int32_t diff_min;           /* differences below this give 0 */
} fr_cnn_softmax_s8_params;

/* PreprocessSoftmaxScaling(beta, input_scale, 5) + diff_min = -CalculateInputRadius(5,
 * left_shift). Checks out_scale == 1/256 and out_zp == -128 (else FR_E_UNSUPPORTED). */
fr_status fr_cnn_softmax_s8_prepare(float beta, float input_scale, float out_scale,
                                    int32_t out_zp, fr_cnn_softmax_s8_params *p,
                                    fr_error *err);
void fr_cnn_softmax_s8(const fr_cnn_softmax_s8_params *p, const int8_t *input, int8_t *output,
                       int rows, int depth);
/* Float: y = exp(beta*(x - max)) / sum, as TFLite's reference. */
void fr_cnn_softmax_f32(float beta, const float *input, float *output, int rows, int depth);

/* ------------------------------------------------------------------------------------ */
/* QUANTIZE / DEQUANTIZE / RESHAPE                                                       */

/* float -> int8: q = clamp(round_half_away(x / scale) + zp, -128, 127) (TFLite's
 * AffineQuantize: the division in float, std::round). */
void fr_cnn_quantize_f32_s8(float scale, int32_t zp, const float *input, int8_t *output,
                            size_t n);
/* int8 -> int8 requantize (QUANTIZE op with int8 input): TFLite's Requantize:
 * y = clamp(MultiplyByQuantizedMultiplier(x - in_zp, mult, shift) + out_zp, -128, 127),
 * mult/shift from QuantizeMultiplier(in_scale / out_scale) (double). */
fr_status fr_cnn_requantize_s8_prepare(float in_scale, float out_scale, int32_t *mult,
                                       int32_t *shift, fr_error *err);
void fr_cnn_requantize_s8(int32_t in_zp, int32_t mult, int32_t shift, int32_t out_zp,
                          const int8_t *input, int8_t *output, size_t n);
/* int8 -> float: y = scale * (float)(q - zp). */
void fr_cnn_dequantize_s8_f32(float scale, int32_t zp, const int8_t *input, float *output,
                              size_t n);
/* RESHAPE: the data is unchanged; copies `bytes` bytes (memmove, so in == out is fine). */
void fr_cnn_reshape(const void *input, void *output, size_t bytes);

#endif
