/* Fixed-point helpers and quantisation "prepare" computations (TFLite semantics). */
#include "cnn/quant.h"

#include <float.h>
#include <math.h>

#include "cnn/ops.h"
#include "core/error.h"

int fr_q_clz32(uint32_t x) {
    if (x == 0) return 32;
    int n = 0;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out (Taylor expansion around -1/8). */
static int32_t exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668;   /* exp(-1/8) in Q0.31 */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 in Q0.31 */
    const int32_t x = fr_q_add(a, 1 << 28);      /* a + 1/8 */
    const int32_t x2 = fr_q_srdhm(x, x);
    const int32_t x3 = fr_q_srdhm(x2, x);
    const int32_t x4 = fr_q_srdhm(x2, x2);
    const int32_t x4_over_4 = fr_q_rdpot(x4, 2);
    const int32_t poly =
        fr_q_rdpot(fr_q_add(fr_q_srdhm(fr_q_add(x4_over_4, x3), constant_1_over_3), x2), 1);
    return fr_q_add(constant_term, fr_q_srdhm(constant_term, fr_q_add(x, poly)));
}

int32_t fr_q_exp_on_negative_values_q5(int32_t a) {
    enum { kIntegerBits = 5, kFractionalBits = 26 };
    const int32_t one_quarter = 1 << (kFractionalBits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = fr_q_sub(a & mask, one_quarter);
    /* Rescale<0> from 5 integer bits: saturating left shift by 5 */
    int32_t result = exp_quarter(fr_q_sat_shl(a_mod_quarter_minus_one_quarter, kIntegerBits));
    const int32_t remainder = fr_q_sub(a_mod_quarter_minus_one_quarter, a);
    /* exp(-2^e) in Q0.31 for e = -2 .. 4 */
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                           39332535,   720401,     242};
    for (int e = -2; e <= 4; e++) {
        const int shift = kFractionalBits + e;
        if (remainder & (int32_t)((uint32_t)1 << shift))
            result = fr_q_srdhm(result, multipliers[e + 2]);
    }
    if (a == 0) result = INT32_MAX;
    return result;
}

int32_t fr_q_one_over_one_plus_x(int32_t a) {
    /* half_denominator = RoundingHalfSum(a, One) in Q0.31 */
    const int64_t sum = (int64_t)a + (int64_t)INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t constant_48_over_17 = 1515870810;      /* Q2.29 */
    const int32_t constant_neg_32_over_17 = -1010580540; /* Q2.29 */
    const int32_t f2_one = 1 << 29;
    int32_t x = fr_q_add(constant_48_over_17, fr_q_srdhm(half_denominator, constant_neg_32_over_17));
    for (int i = 0; i < 3; i++) {
        const int32_t half_denominator_times_x = fr_q_srdhm(half_denominator, x);
        const int32_t one_minus = fr_q_sub(f2_one, half_denominator_times_x);
        /* x * one_minus is Q4.27; Rescale<2>: saturating left shift by 2 */
        x = fr_q_add(x, fr_q_sat_shl(fr_q_srdhm(x, one_minus), 2));
    }
    /* ExactMulByPot<-1> makes it Q1.30; Rescale<0>: saturating left shift by 1 */
    return fr_q_sat_shl(x, 1);
}

int32_t fr_q_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    const int headroom_plus_one = fr_q_clz32((uint32_t)x);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    const int32_t shifted_sum_minus_one =
        (int32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31));
    return fr_q_one_over_one_plus_x(shifted_sum_minus_one);
}

/* ------------------------------------------------------------------------------------ */

void fr_cnn_quantize_multiplier(double real, int32_t *mult, int *shift) {
    if (real == 0.0 || !isfinite(real)) {
        *mult = 0;
        *shift = 0;
        return;
    }
    int e = 0;
    const double q = frexp(real, &e);
    int64_t q_fixed = (int64_t)round(q * (double)((int64_t)1 << 31));
    if (q_fixed == ((int64_t)1 << 31)) {
        q_fixed /= 2;
        e++;
    }
    if (e < -31) {
        e = 0;
        q_fixed = 0;
    }
    *mult = (int32_t)q_fixed;
    *shift = e;
}

static int32_t quantize_act_bound(float f, float scale, int32_t zp) {
    const float r = roundf(f / scale);
    if (r > 1e9f) return INT32_MAX / 2;
    if (r < -1e9f) return INT32_MIN / 2;
    return zp + (int32_t)r;
}

fr_status fr_cnn_act_range_s8(fr_cnn_act act, float out_scale, int32_t out_zp,
                              int32_t *act_min, int32_t *act_max, fr_error *err) {
    if (!(out_scale > 0.0f) || !isfinite(out_scale))
        return fr_fail(err, FR_E_ARG, "activation range: output scale %g is not positive",
                       (double)out_scale);
    if (out_zp < -128 || out_zp > 127)
        return fr_fail(err, FR_E_ARG, "activation range: output zero point %d outside int8",
                       (int)out_zp);
    const int32_t qmin = -128, qmax = 127;
    int32_t lo = qmin, hi = qmax;
    switch (act) {
    case FR_CNN_ACT_NONE:
        break;
    case FR_CNN_ACT_RELU: {
        int32_t q0 = quantize_act_bound(0.0f, out_scale, out_zp);
        lo = q0 > qmin ? q0 : qmin;
        break;
    }
    case FR_CNN_ACT_RELU6: {
        int32_t q0 = quantize_act_bound(0.0f, out_scale, out_zp);
        int32_t q6 = quantize_act_bound(6.0f, out_scale, out_zp);
        lo = q0 > qmin ? q0 : qmin;
        hi = q6 < qmax ? q6 : qmax;
        break;
    }
    case FR_CNN_ACT_RELU_N1_TO_1: {
        int32_t qm1 = quantize_act_bound(-1.0f, out_scale, out_zp);
        int32_t q1 = quantize_act_bound(1.0f, out_scale, out_zp);
        lo = qm1 > qmin ? qm1 : qmin;
        hi = q1 < qmax ? q1 : qmax;
        break;
    }
    default:
        return fr_fail(err, FR_E_UNSUPPORTED, "fused activation %d is not supported", (int)act);
    }
    if (lo > hi)
        return fr_fail(err, FR_E_ARG, "activation range: empty int8 range [%d, %d]", (int)lo,
                       (int)hi);
    *act_min = lo;
    *act_max = hi;
    return FR_OK;
}

fr_status fr_cnn_act_range_f32(fr_cnn_act act, fr_cnn_range_f32 *range, fr_error *err) {
    switch (act) {
    case FR_CNN_ACT_NONE:
        range->min = -FLT_MAX;
        range->max = FLT_MAX;
        return FR_OK;
    case FR_CNN_ACT_RELU:
        range->min = 0.0f;
        range->max = FLT_MAX;
        return FR_OK;
    case FR_CNN_ACT_RELU6:
        range->min = 0.0f;
        range->max = 6.0f;
        return FR_OK;
    case FR_CNN_ACT_RELU_N1_TO_1:
        range->min = -1.0f;
        range->max = 1.0f;
        return FR_OK;
    default:
        return fr_fail(err, FR_E_UNSUPPORTED, "fused activation %d is not supported", (int)act);
    }
}

static int scale_ok(float s) {
    return s > 0.0f && isfinite(s);
}

fr_status fr_cnn_prepare_requant(float input_scale, const float *filter_scale, int n_scales,
                                 float output_scale, int32_t *mult, int32_t *shift,
                                 const char *op, fr_error *err) {
    if (!op) op = "op";
    if (!scale_ok(input_scale) || !scale_ok(output_scale))
        return fr_fail(err, FR_E_ARG, "%s: input/output scale must be positive and finite", op);
    if (n_scales < 1 || !filter_scale)
        return fr_fail(err, FR_E_ARG, "%s: no filter scales", op);
    for (int c = 0; c < n_scales; c++) {
        if (!(filter_scale[c] >= 0.0f) || !isfinite(filter_scale[c]))
            return fr_fail(err, FR_E_ARG, "%s: filter scale %d is negative or not finite", op, c);
        const double eff = (double)input_scale * (double)filter_scale[c] / (double)output_scale;
        int s = 0;
        fr_cnn_quantize_multiplier(eff, &mult[c], &s);
        if (s > 31 || s < -31)
            return fr_fail(err, FR_E_UNSUPPORTED, "%s: effective scale %g out of range", op, eff);
        shift[c] = s;
    }
    return FR_OK;
}
