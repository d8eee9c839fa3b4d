/* FULLY_CONNECTED: scalar references and dispatch. Weights [out][in], filter zero point 0. */
#include "cnn/ops_internal.h"

void fr_cnn_fc_s8_ref(const fr_cnn_fc_dims *d, const fr_cnn_requant *q, const int8_t *input,
                      const int8_t *weights, const int32_t *bias, int8_t *output) {
    const int32_t input_offset = -q->input_zp;
    for (int b = 0; b < d->batch; b++) {
        const int8_t *x = input + (size_t)b * d->in;
        for (int o = 0; o < d->out; o++) {
            const int8_t *w = weights + (size_t)o * d->in;
            int32_t acc = 0;
            for (int i = 0; i < d->in; i++)
                acc = fr_q_add(acc, (int32_t)w[i] * ((int32_t)x[i] + input_offset));
            if (bias) acc = fr_q_add(acc, bias[o]);
            output[(size_t)b * d->out + o] = fr_cnn_requant1(q, acc, o);
        }
    }
}

void fr_cnn_fc_f32_ref(const fr_cnn_fc_dims *d, fr_cnn_range_f32 act, const float *input,
                       const float *weights, const float *bias, float *output) {
    for (int b = 0; b < d->batch; b++) {
        const float *x = input + (size_t)b * d->in;
        for (int o = 0; o < d->out; o++) {
            const float *w = weights + (size_t)o * d->in;
            float acc = 0.0f;
            for (int i = 0; i < d->in; i++) acc += x[i] * w[i];
            if (bias) acc += bias[o];
            output[(size_t)b * d->out + o] = fr_cnn_clampf(acc, act);
        }
    }
}

size_t fr_cnn_fc_s8_scratch_bytes(fr_isa isa, const fr_cnn_fc_dims *d) {
    (void)isa;
    (void)d;
    return 0;
}

void fr_cnn_fc_s8(fr_isa isa, const fr_cnn_fc_dims *d, const fr_cnn_requant *q,
                  const int8_t *input, const int8_t *weights, const int32_t *bias,
                  int8_t *output, void *scratch) {
    (void)scratch;
    if (FR_X86 && isa >= FR_ISA_AVX512)
        fr_cnn_fc_s8_avx512(d, q, input, weights, bias, output);
    else if (FR_X86 && isa >= FR_ISA_AVX2)
        fr_cnn_fc_s8_avx2(d, q, input, weights, bias, output);
    else
        fr_cnn_fc_s8_ref(d, q, input, weights, bias, output);
}

size_t fr_cnn_fc_f32_scratch_bytes(fr_isa isa, const fr_cnn_fc_dims *d) {
    (void)isa;
    (void)d;
    return 0;
}

void fr_cnn_fc_f32(fr_isa isa, const fr_cnn_fc_dims *d, fr_cnn_range_f32 act,
                   const float *input, const float *weights, const float *bias,
                   float *output, void *scratch) {
    (void)scratch;
    if (FR_X86 && isa >= FR_ISA_AVX2)
        fr_cnn_fc_f32_avx2(d, act, input, weights, bias, output);
    else
        fr_cnn_fc_f32_ref(d, act, input, weights, bias, output);
}
