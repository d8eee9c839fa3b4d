/* Window geometry (TFLite SAME/VALID rules) and parameter validation. */
#include <limits.h>

#include "cnn/ops.h"
#include "core/error.h"

int fr_cnn_out_size(fr_cnn_padding padding, int in, int k, int stride, int dil) {
    if (in < 1 || k < 1 || stride < 1 || dil < 1) return 0;
    const long long eff = (long long)(k - 1) * dil + 1;
    long long out;
    if (padding == FR_CNN_PAD_SAME)
        out = ((long long)in + stride - 1) / stride;
    else if (padding == FR_CNN_PAD_VALID)
        out = ((long long)in + stride - eff) / stride;
    else
        return 0;
    if (out < 1 || out > INT_MAX) return 0;
    return (int)out;
}

int fr_cnn_pad_before(int in, int k, int stride, int dil, int out) {
    const long long eff = (long long)(k - 1) * dil + 1;
    long long total = (long long)(out - 1) * stride + eff - in;
    if (total < 0) total = 0;
    return (int)(total / 2);
}

static int mul_ok(long long *acc, long long v) {
    if (v < 0) return 0;
    if (v != 0 && *acc > (long long)INT32_MAX / v) return 0;
    *acc *= v;
    return 1;
}

fr_status fr_cnn_geom_check(const fr_cnn_geom *g, const char *op, fr_error *err) {
    if (!op) op = "op";
    if (!g) return fr_fail(err, FR_E_ARG, "%s: no geometry", op);
    if (g->batch < 1 || g->in_h < 1 || g->in_w < 1 || g->in_c < 1 || g->out_h < 1 ||
        g->out_w < 1 || g->out_c < 1 || g->k_h < 1 || g->k_w < 1)
        return fr_fail(err, FR_E_ARG, "%s: a tensor or window dimension is < 1", op);
    if (g->stride_h < 1 || g->stride_w < 1 || g->dil_h < 1 || g->dil_w < 1)
        return fr_fail(err, FR_E_ARG, "%s: stride and dilation must be >= 1", op);
    if (g->pad_top < 0 || g->pad_left < 0 || g->pad_top > g->in_h + g->k_h * g->dil_h ||
        g->pad_left > g->in_w + g->k_w * g->dil_w)
        return fr_fail(err, FR_E_ARG, "%s: padding out of range", op);
    if (g->depth_mult < 1) return fr_fail(err, FR_E_ARG, "%s: depth multiplier < 1", op);
    long long n_in = g->batch, n_out = g->batch, n_k = g->k_h;
    if (!mul_ok(&n_in, g->in_h) || !mul_ok(&n_in, g->in_w) || !mul_ok(&n_in, g->in_c) ||
        !mul_ok(&n_out, g->out_h) || !mul_ok(&n_out, g->out_w) || !mul_ok(&n_out, g->out_c) ||
        !mul_ok(&n_k, g->k_w) || !mul_ok(&n_k, g->in_c) || !mul_ok(&n_k, g->out_c) ||
        (long long)g->k_h * g->dil_h > INT32_MAX / 2 || (long long)g->k_w * g->dil_w > INT32_MAX / 2 ||
        (long long)g->out_h * g->stride_h > INT32_MAX / 2 ||
        (long long)g->out_w * g->stride_w > INT32_MAX / 2)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor too large", op);
    return FR_OK;
}

fr_status fr_cnn_geom_init(fr_cnn_geom *g, const char *op, fr_cnn_padding padding,
                           int batch, int in_h, int in_w, int in_c, int out_c,
                           int k_h, int k_w, int stride_h, int stride_w,
                           int dil_h, int dil_w, int depth_mult, fr_error *err) {
    if (!op) op = "op";
    if (padding != FR_CNN_PAD_SAME && padding != FR_CNN_PAD_VALID)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: padding type %d is not supported", op,
                       (int)padding);
    if (batch < 1 || in_h < 1 || in_w < 1 || in_c < 1 || out_c < 1 || k_h < 1 || k_w < 1 ||
        stride_h < 1 || stride_w < 1 || dil_h < 1 || dil_w < 1 || depth_mult < 1)
        return fr_fail(err, FR_E_ARG, "%s: a size, stride or dilation is < 1", op);
    g->batch = batch;
    g->in_h = in_h;
    g->in_w = in_w;
    g->in_c = in_c;
    g->out_c = out_c;
    g->k_h = k_h;
    g->k_w = k_w;
    g->stride_h = stride_h;
    g->stride_w = stride_w;
    g->dil_h = dil_h;
    g->dil_w = dil_w;
    g->depth_mult = depth_mult;
    g->out_h = fr_cnn_out_size(padding, in_h, k_h, stride_h, dil_h);
    g->out_w = fr_cnn_out_size(padding, in_w, k_w, stride_w, dil_w);
    if (g->out_h < 1 || g->out_w < 1)
        return fr_fail(err, FR_E_ARG, "%s: window %dx%d larger than the %dx%d input", op, k_h,
                       k_w, in_h, in_w);
    g->pad_top = fr_cnn_pad_before(in_h, k_h, stride_h, dil_h, g->out_h);
    g->pad_left = fr_cnn_pad_before(in_w, k_w, stride_w, dil_w, g->out_w);
    return fr_cnn_geom_check(g, op, err);
}

fr_status fr_cnn_fc_check(const fr_cnn_fc_dims *d, const char *op, fr_error *err) {
    if (!op) op = "op";
    if (!d || d->batch < 1 || d->in < 1 || d->out < 1)
        return fr_fail(err, FR_E_ARG, "%s: a dimension is < 1", op);
    long long a = d->batch, b = d->out, c = d->in;
    if (!mul_ok(&a, d->in) || !mul_ok(&b, d->batch) || !mul_ok(&c, d->out))
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor too large", op);
    return FR_OK;
}

fr_status fr_cnn_bcast_check(const int s1[4], const int s2[4], const char *op, fr_error *err) {
    if (!op) op = "op";
    long long n = 1;
    for (int i = 0; i < 4; i++) {
        if (s1[i] < 1 || s2[i] < 1) return fr_fail(err, FR_E_ARG, "%s: dimension < 1", op);
        if (s1[i] != s2[i] && s1[i] != 1 && s2[i] != 1)
            return fr_fail(err, FR_E_ARG, "%s: shapes cannot be broadcast (dim %d: %d vs %d)",
                           op, i, s1[i], s2[i]);
        if (!mul_ok(&n, s1[i] > s2[i] ? s1[i] : s2[i]))
            return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor too large", op);
    }
    return FR_OK;
}
