/* Scalar reference matmul: the semantics every vectorised kernel is tested against. */
#include <string.h>

#include "core/kernels.h"
#include "core/kernels_internal.h"

/* Q8_0 x Q8_0 dot of nb blocks, summed in float block by block as ggml does. */
static float dot_q8_0_q8_0(const fr_block_q8_0 *w, const fr_block_q8_0 *x, int nb) {
    float sum = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < FR_QK8_0; j++) isum += (int32_t)w[b].qs[j] * (int32_t)x[b].qs[j];
        sum += (float)isum * (fr_fp16_to_fp32(w[b].d) * fr_fp16_to_fp32(x[b].d));
    }
    return sum;
}

static float dot_q4_0_q8_0(const fr_block_q4_0 *w, const fr_block_q8_0 *x, int nb) {
    float sum = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < FR_QK4_0 / 2; j++) {
            int lo = (w[b].qs[j] & 0x0f) - 8;
            int hi = (w[b].qs[j] >> 4) - 8;
            isum += lo * x[b].qs[j] + hi * x[b].qs[j + FR_QK4_0 / 2];
        }
        sum += (float)isum * (fr_fp16_to_fp32(w[b].d) * fr_fp16_to_fp32(x[b].d));
    }
    return sum;
}

static float dot_f32(const float *w, const float *x, int K) {
    float sum = 0.0f;
    for (int k = 0; k < K; k++) sum += w[k] * x[k];
    return sum;
}

static float dot_f16(const uint16_t *w, const float *x, int K) {
    float sum = 0.0f;
    for (int k = 0; k < K; k++) sum += fr_fp16_to_fp32(w[k]) * x[k];
    return sum;
}

void fr_mm_prep_scalar(const fr_mm_args *a, int n0, int n1) {
    size_t xrb = fr_type_row_bytes(FR_TYPE_Q8_0, (size_t)a->K);
    if (n1 > a->N) n1 = a->N;
    for (int n = n0; n < n1; n++)
        fr_quantize_row(FR_TYPE_Q8_0, a->X + (size_t)n * a->K, a->xq + (size_t)n * xrb, (size_t)a->K);
}

void fr_mm_rows_scalar(const fr_mm_args *a, int m0, int m1) {
    const int K = a->K, nb = K / 32;
    size_t xrb = fr_type_row_bytes(FR_TYPE_Q8_0, (size_t)K);
    for (int n = 0; n < a->N; n++) {
        const float *x = a->X + (size_t)n * K;
        const void *xq = a->xq + (size_t)n * xrb;
        float *y = a->Y + (size_t)n * a->M;
        for (int m = m0; m < m1; m++) {
            const void *w = a->W + (size_t)m * a->w_row_bytes;
            switch (a->wtype) {
            case FR_TYPE_F32: y[m] = dot_f32(w, x, K); break;
            case FR_TYPE_F16: y[m] = dot_f16(w, x, K); break;
            case FR_TYPE_Q8_0: y[m] = dot_q8_0_q8_0(w, xq, nb); break;
            case FR_TYPE_Q4_0: y[m] = dot_q4_0_q8_0(w, xq, nb); break;
            }
        }
    }
}

void fr_matmul_ref(fr_type wtype, const void *W, int M, int K, const float *X, int N, float *Y,
                   void *scratch) {
    fr_mm_args a = {
        .wtype = wtype,
        .W = W,
        .w_row_bytes = fr_type_row_bytes(wtype, (size_t)K),
        .M = M,
        .K = K,
        .N = N,
        .X = X,
        .Y = Y,
        .xq = scratch,
    };
    if (wtype == FR_TYPE_Q8_0 || wtype == FR_TYPE_Q4_0) fr_mm_prep_scalar(&a, 0, N);
    fr_mm_rows_scalar(&a, 0, M);
}
