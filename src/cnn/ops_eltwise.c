/* ADD, int8 (TFLite reference_integer_ops::Add) and float, same-shape and 4-D broadcast. */
#include <math.h>

#include "cnn/ops_internal.h"
#include "core/error.h"

fr_status fr_cnn_add_s8_prepare(float s1, int32_t zp1, float s2, int32_t zp2, float s_out,
                                int32_t zp_out, fr_cnn_act act, fr_cnn_add_s8_params *p,
                                fr_error *err) {
    if (!(s1 > 0.0f) || !(s2 > 0.0f) || !(s_out > 0.0f) || !isfinite(s1) || !isfinite(s2) ||
        !isfinite(s_out))
        return fr_fail(err, FR_E_ARG, "ADD: scales must be positive and finite");
    if (zp1 < -128 || zp1 > 127 || zp2 < -128 || zp2 > 127 || zp_out < -128 || zp_out > 127)
        return fr_fail(err, FR_E_ARG, "ADD: zero point outside int8");
    p->in1_zp = zp1;
    p->in2_zp = zp2;
    p->out_zp = zp_out;
    p->left_shift = 20;
    const float max_s = s1 > s2 ? s1 : s2;
    const double twice_max = (double)(2.0f * max_s);
    const double real1 = (double)s1 / twice_max;
    const double real2 = (double)s2 / twice_max;
    const double real_out = twice_max / (double)((float)(1 << 20) * s_out);
    int sh1, sh2, sho;
    int32_t m1, m2, mo;
    fr_cnn_quantize_multiplier(real1, &m1, &sh1);
    fr_cnn_quantize_multiplier(real2, &m2, &sh2);
    fr_cnn_quantize_multiplier(real_out, &mo, &sho);
    if (!(real_out < 1.0) || sh1 > 0 || sh2 > 0 || sho > 0 || sho < -31)
        return fr_fail(err, FR_E_UNSUPPORTED,
                       "ADD: output scale %g too small for the input scales (multiplier >= 1)",
                       (double)s_out);
    p->in1_mult = m1;
    p->in1_shift = sh1;
    p->in2_mult = m2;
    p->in2_shift = sh2;
    p->out_mult = mo;
    p->out_shift = sho;
    return fr_cnn_act_range_s8(act, s_out, zp_out, &p->act_min, &p->act_max, err);
}

static inline int8_t add1(const fr_cnn_add_s8_params *p, int32_t a, int32_t b) {
    const int32_t x1 = fr_q_shl_wrap(a - p->in1_zp, p->left_shift);
    const int32_t x2 = fr_q_shl_wrap(b - p->in2_zp, p->left_shift);
    const int32_t s1 = fr_q_mbqm(x1, p->in1_mult, p->in1_shift);
    const int32_t s2 = fr_q_mbqm(x2, p->in2_mult, p->in2_shift);
    int32_t r = fr_q_mbqm(fr_q_add(s1, s2), p->out_mult, p->out_shift);
    r = fr_q_add(r, p->out_zp);
    return (int8_t)fr_q_clamp(r, p->act_min, p->act_max);
}

void fr_cnn_add_s8_ref(const fr_cnn_add_s8_params *p, const int8_t *in1, const int8_t *in2,
                       int8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = add1(p, in1[i], in2[i]);
}

void fr_cnn_add_s8(fr_isa isa, const fr_cnn_add_s8_params *p, const int8_t *in1,
                   const int8_t *in2, int8_t *out, size_t n) {
    if (FR_X86 && isa >= FR_ISA_AVX2)
        fr_cnn_add_s8_avx2(p, in1, in2, out, n);
    else
        fr_cnn_add_s8_ref(p, in1, in2, out, n);
}

void fr_cnn_add_f32(fr_cnn_range_f32 act, const float *in1, const float *in2, float *out,
                    size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = fr_cnn_clampf(in1[i] + in2[i], act);
}

/* Offset of element (i0..i3) in a tensor of shape s, with broadcast dims (size 1) pinned. */
static size_t bidx(const int s[4], int i0, int i1, int i2, int i3) {
    i0 = s[0] == 1 ? 0 : i0;
    i1 = s[1] == 1 ? 0 : i1;
    i2 = s[2] == 1 ? 0 : i2;
    i3 = s[3] == 1 ? 0 : i3;
    return (((size_t)i0 * s[1] + i1) * s[2] + i2) * s[3] + i3;
}

void fr_cnn_add_s8_bcast(const fr_cnn_add_s8_params *p, const int s1[4], const int8_t *in1,
                         const int s2[4], const int8_t *in2, int8_t *out) {
    int so[4];
    for (int i = 0; i < 4; i++) so[i] = s1[i] > s2[i] ? s1[i] : s2[i];
    size_t o = 0;
    for (int a = 0; a < so[0]; a++)
        for (int b = 0; b < so[1]; b++)
            for (int c = 0; c < so[2]; c++)
                for (int d = 0; d < so[3]; d++)
                    out[o++] = add1(p, in1[bidx(s1, a, b, c, d)], in2[bidx(s2, a, b, c, d)]);
}

void fr_cnn_add_f32_bcast(fr_cnn_range_f32 act, const int s1[4], const float *in1,
                          const int s2[4], const float *in2, float *out) {
    int so[4];
    for (int i = 0; i < 4; i++) so[i] = s1[i] > s2[i] ? s1[i] : s2[i];
    size_t o = 0;
    for (int a = 0; a < so[0]; a++)
        for (int b = 0; b < so[1]; b++)
            for (int c = 0; c < so[2]; c++)
                for (int d = 0; d < so[3]; d++)
                    out[o++] = fr_cnn_clampf(in1[bidx(s1, a, b, c, d)] + in2[bidx(s2, a, b, c, d)], act);
}
