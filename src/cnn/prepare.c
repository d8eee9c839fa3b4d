/* Operator preparation at model load: each supported TFLite operator checked against its
 * tensors (types, shapes, quantisation, options) and turned into a kernel, a geometry and
 * its constants (requantisation multipliers, activation ranges, dequantised weights). */
#include <math.h>
#include <string.h>

#include "cnn/model_internal.h"

/* Re-fails with "<file>: op <i> <NAME>: <previous message>". */
static fr_status op_wrap(fr_error *err, fr_status st, const fr_cnn_model *m, int i) {
    if (st == FR_E_ARG || st == FR_E_RANGE)
        st = FR_E_FORMAT; /* bad kernel arguments come from the file */
    if (!err)
        return st;
    char tmp[FR_ERROR_MSG_MAX];
    memcpy(tmp, err->msg, sizeof tmp);
    tmp[sizeof tmp - 1] = 0;
    return fr_fail(err, st, "%s: op %d %s: %s", m->fb.name, i,
                   fr_tfl_op_name(m->ops[i].code), tmp);
}

#define OPFAIL(st, ...) fr_fail(err, st, "%s: op %d %s: " __VA_ARGS__)

static fr_cnn_tns *tin(prep *p, int k) {
    int32_t ti = k < p->op->n_in ? p->op->in[k] : -1;
    return ti >= 0 ? &p->m->tensors[ti] : NULL;
}

static fr_cnn_tns *tout(prep *p, int k) {
    return &p->m->tensors[p->op->out[k]];
}

static int same_shape(const fr_cnn_tns *a, const fr_cnn_tns *b) {
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d])
            return 0;
    return 1;
}

static fr_status need_io(prep *p, int min_in, int max_in, int n_out, fr_error *err) {
    const fr_cnn_model *m = p->m;
    if (p->op->n_in < min_in || p->op->n_in > max_in || p->op->n_out != n_out)
        return OPFAIL(FR_E_FORMAT, "%d inputs and %d outputs (expected %d..%d and %d)",
                      m->fb.name, p->i, fr_tfl_op_name(p->op->code), p->op->n_in,
                      p->op->n_out, min_in, max_in, n_out);
    for (int k = 0; k < min_in; k++)
        if (p->op->in[k] < 0)
            return OPFAIL(FR_E_FORMAT, "required input %d is missing", m->fb.name, p->i,
                          fr_tfl_op_name(p->op->code), k);
    return FR_OK;
}

/* Options table of the expected union type (absent table: *present = 0). */
static fr_status need_opts(prep *p, uint8_t type, int required, fr_error *err) {
    if (p->has_opts && p->opts_type != type)
        return OPFAIL(FR_E_FORMAT, "options of type %d, expected %d", p->m->fb.name, p->i,
                      fr_tfl_op_name(p->op->code), (int)p->opts_type, (int)type);
    if (required && !p->has_opts)
        return OPFAIL(FR_E_FORMAT, "options missing", p->m->fb.name, p->i,
                      fr_tfl_op_name(p->op->code));
    return FR_OK;
}

static fr_status check_type(prep *p, const fr_cnn_tns *t, int type, const char *role,
                            fr_error *err) {
    if (t->type != type)
        return OPFAIL(FR_E_UNSUPPORTED, "%s '%s' is %s, expected %s", p->m->fb.name, p->i,
                      fr_tfl_op_name(p->op->code), role, t->name,
                      fr_cnn_type_name((fr_cnn_type)t->type),
                      fr_cnn_type_name((fr_cnn_type)type));
    return FR_OK;
}

static fr_status check_quant(prep *p, const fr_cnn_tns *t, const char *role,
                             fr_error *err) {
    if (t->n_quant != 1 || !(t->scale > 0.0f) || !isfinite(t->scale) || t->zp < -128 ||
        t->zp > 127)
        return OPFAIL(FR_E_UNSUPPORTED,
                      "%s '%s' needs one positive scale and an int8 zero point", p->m->fb.name,
                      p->i, fr_tfl_op_name(p->op->code), role, t->name);
    return FR_OK;
}

static fr_status check_rank(prep *p, const fr_cnn_tns *t, int rank, const char *role,
                            fr_error *err) {
    if (t->ndim != rank)
        return OPFAIL(FR_E_UNSUPPORTED, "%s '%s' has rank %d, expected %d", p->m->fb.name,
                      p->i, fr_tfl_op_name(p->op->code), role, t->name, t->ndim, rank);
    return FR_OK;
}

static fr_status check_const(prep *p, const fr_cnn_tns *t, const char *role,
                             fr_error *err) {
    if (!t->is_const)
        return OPFAIL(FR_E_UNSUPPORTED, "%s '%s' must be a constant", p->m->fb.name, p->i,
                      fr_tfl_op_name(p->op->code), role, t->name);
    return FR_OK;
}

static fr_status read_act(prep *p, int id, fr_error *err) {
    int8_t act = 0;
    fr_status st = FR_OK;
    if (p->has_opts)
        st = fr_fb_i8(&p->m->fb, &p->opts, id, 0, &act, "options", err);
    if (st)
        return st;
    if (act < 0 || act > FR_CNN_ACT_RELU6)
        return OPFAIL(FR_E_UNSUPPORTED, "fused activation %d", p->m->fb.name, p->i,
                      fr_tfl_op_name(p->op->code), (int)act);
    p->op->act = act;
    return FR_OK;
}

/* Dequantises the int8 weights of a hybrid op into the persistent arena. */
static fr_status dequant_weights(prep *p, const fr_cnn_tns *w, int channel_dim,
                                 fr_error *err) {
    if (w->n_quant == 0 || (w->n_quant > 1 && w->qdim != channel_dim))
        return OPFAIL(FR_E_UNSUPPORTED, "int8 weights '%s' without usable quantisation",
                      p->m->fb.name, p->i, fr_tfl_op_name(p->op->code), w->name);
    float *f = fr_cnn_balloc(p->a, w->elems * sizeof(float), 16, err, p->m->fb.name);
    if (!f)
        return FR_E_NOMEM;
    const int8_t *q = w->data;
    size_t inner = 1;
    for (int d = channel_dim + 1; d < w->ndim; d++)
        inner *= (size_t)w->dims[d];
    for (size_t e = 0; e < w->elems; e++) {
        size_t c = w->n_quant > 1 ? (e / inner) % w->n_quant : 0;
        int32_t zp = w->n_quant == 1 ? w->zp : 0; /* per-channel weights are symmetric */
        f[e] = w->scales[c] * (float)((int32_t)q[e] - zp);
    }
    p->op->weights = f;
    p->op->hybrid = 1;
    return FR_OK;
}

/* Requantisation constants for conv / dw / fc. */
static fr_status prep_requant(prep *p, const fr_cnn_tns *x, const fr_cnn_tns *w,
                              const fr_cnn_tns *y, int out_c, int channel_dim,
                              fr_error *err) {
    fr_cnn_node *op = p->op;
    fr_status st;
    if ((st = check_quant(p, x, "input", err)) || (st = check_quant(p, y, "output", err)))
        return st;
    int n = (int)w->n_quant;
    if (n != 1 && !(n == out_c && w->qdim == channel_dim))
        return OPFAIL(FR_E_UNSUPPORTED, "filter '%s' has %d scales for %d output channels",
                      p->m->fb.name, p->i, fr_tfl_op_name(op->code), w->name, n, out_c);
    if (w->zp != 0)
        return OPFAIL(FR_E_UNSUPPORTED, "filter '%s' zero point %d (must be 0)",
                      p->m->fb.name, p->i, fr_tfl_op_name(op->code), w->name, (int)w->zp);
    int32_t *mult = fr_cnn_balloc(p->a, (size_t)n * 8, 4, err, p->m->fb.name);
    if (!mult)
        return FR_E_NOMEM;
    int32_t *shift = mult + n;
    if ((st = fr_cnn_prepare_requant(x->scale, w->scales, n, y->scale, mult, shift,
                                     fr_tfl_op_name(op->code), err)))
        return op_wrap(err, st, p->m, p->i);
    op->rq.input_zp = x->zp;
    op->rq.output_zp = y->zp;
    op->rq.mult = mult;
    op->rq.shift = shift;
    op->rq.per_channel = n > 1;
    if ((st = fr_cnn_act_range_s8((fr_cnn_act)op->act, y->scale, y->zp, &op->rq.act_min,
                                  &op->rq.act_max, err)))
        return op_wrap(err, st, p->m, p->i);
    return FR_OK;
}

static fr_status check_bias(prep *p, const fr_cnn_tns *b, int type, int out_c,
                            fr_error *err) {
    if (!b) {
        p->op->bias = NULL;
        return FR_OK;
    }
    fr_status st;
    if ((st = check_type(p, b, type, "bias", err)) || (st = check_const(p, b, "bias", err)))
        return st;
    if (b->elems != (size_t)out_c)
        return OPFAIL(FR_E_FORMAT, "bias '%s' has %s elements, expected %d", p->m->fb.name,
                      p->i, fr_tfl_op_name(p->op->code), b->name, FR_NUM(b->elems), out_c);
    p->op->bias = b->data;
    return FR_OK;
}

static fr_status check_out_dims(prep *p, const fr_cnn_tns *y, int n, int h, int w, int c,
                                fr_error *err) {
    if (y->ndim != 4 || y->dims[0] != n || y->dims[1] != h || y->dims[2] != w ||
        y->dims[3] != c)
        return OPFAIL(FR_E_FORMAT, "output '%s' shape does not match [%d,%d,%d,%d]",
                      p->m->fb.name, p->i, fr_tfl_op_name(p->op->code), y->name, n, h, w, c);
    return FR_OK;
}

/* CONV_2D and DEPTHWISE_CONV_2D. */
static fr_status prep_conv(prep *p, int depthwise, fr_error *err) {
    fr_cnn_node *op = p->op;
    const fr_fb *fb = &p->m->fb;
    fr_status st;
    if ((st = need_io(p, 2, 3, 1, err)) ||
        (st = need_opts(p, depthwise ? FR_TFL_OPT_DEPTHWISE : FR_TFL_OPT_CONV2D, 1, err)))
        return st;
    int8_t pad;
    int32_t mult = 1;
    if ((st = fr_fb_i8(fb, &p->opts, 0, 0, &pad, "options", err)) ||
        (st = fr_fb_i32(fb, &p->opts, 1, 0, &op->stride_w, "options", err)) ||
        (st = fr_fb_i32(fb, &p->opts, 2, 0, &op->stride_h, "options", err)))
        return st;
    if (depthwise) {
        if ((st = fr_fb_i32(fb, &p->opts, 3, 1, &mult, "options", err)) ||
            (st = read_act(p, 4, err)) ||
            (st = fr_fb_i32(fb, &p->opts, 5, 1, &op->dil_w, "options", err)) ||
            (st = fr_fb_i32(fb, &p->opts, 6, 1, &op->dil_h, "options", err)))
            return st;
    } else {
        if ((st = read_act(p, 3, err)) ||
            (st = fr_fb_i32(fb, &p->opts, 4, 1, &op->dil_w, "options", err)) ||
            (st = fr_fb_i32(fb, &p->opts, 5, 1, &op->dil_h, "options", err)))
            return st;
    }
    if (pad != FR_CNN_PAD_SAME && pad != FR_CNN_PAD_VALID)
        return OPFAIL(FR_E_UNSUPPORTED, "padding %d", fb->name, p->i, fr_tfl_op_name(op->code),
                      (int)pad);
    op->padding = pad;
    fr_cnn_tns *x = tin(p, 0), *w = tin(p, 1), *b = tin(p, 2), *y = tout(p, 0);
    if ((st = check_rank(p, x, 4, "input", err)) || (st = check_rank(p, w, 4, "filter", err)) ||
        (st = check_const(p, w, "filter", err)))
        return st;
    int in_c = x->dims[3], out_c, kh = w->dims[1], kw = w->dims[2];
    if (depthwise) {
        out_c = w->dims[3];
        if (w->dims[0] != 1 || in_c <= 0 || out_c % in_c != 0)
            return OPFAIL(FR_E_FORMAT, "filter '%s' shape does not fit %d input channels",
                          fb->name, p->i, fr_tfl_op_name(op->code), w->name, in_c);
        op->depth_mult = out_c / in_c;
        (void)mult; /* TFLite derives the multiplier from the shapes, as we do */
    } else {
        out_c = w->dims[0];
        if (w->dims[3] != in_c)
            return OPFAIL(FR_E_UNSUPPORTED, "filter '%s' has %d input channels, input has %d",
                          fb->name, p->i, fr_tfl_op_name(op->code), w->name, (int)w->dims[3], (int)in_c);
        op->depth_mult = 1;
    }
    op->filter_h = kh;
    op->filter_w = kw;
    if ((st = fr_cnn_geom_init(&op->geom, fr_tfl_op_name(op->code), (fr_cnn_padding)pad,
                               x->dims[0], x->dims[1], x->dims[2], in_c, out_c, kh, kw,
                               op->stride_h, op->stride_w, op->dil_h, op->dil_w,
                               op->depth_mult, err)))
        return op_wrap(err, st, p->m, p->i);
    const fr_cnn_geom *g = &op->geom;
    if ((st = check_out_dims(p, y, g->batch, g->out_h, g->out_w, g->out_c, err)))
        return st;
    int cdim = depthwise ? 3 : 0;
    op->weights = w->data;
    if (x->type == FR_CNN_INT8) {
        if ((st = check_type(p, w, FR_CNN_INT8, "filter", err)) ||
            (st = check_type(p, y, FR_CNN_INT8, "output", err)) ||
            (st = check_bias(p, b, FR_CNN_INT32, out_c, err)) ||
            (st = prep_requant(p, x, w, y, out_c, cdim, err)))
            return st;
        op->kind = depthwise ? FR_CNN_K_DW_S8 : FR_CNN_K_CONV_S8;
        op->scratch_bytes = depthwise ? fr_cnn_dwconv_s8_scratch_bytes(p->m->isa, g)
                                      : fr_cnn_conv_s8_scratch_bytes(p->m->isa, g);
    } else if (x->type == FR_CNN_FLOAT32) {
        if ((st = check_type(p, y, FR_CNN_FLOAT32, "output", err)) ||
            (st = check_bias(p, b, FR_CNN_FLOAT32, out_c, err)))
            return st;
        if (w->type == FR_CNN_INT8) {
            if ((st = dequant_weights(p, w, cdim, err)))
                return st;
        } else if ((st = check_type(p, w, FR_CNN_FLOAT32, "filter", err))) {
            return st;
        }
        if ((st = fr_cnn_act_range_f32((fr_cnn_act)op->act, &op->range, err)))
            return op_wrap(err, st, p->m, p->i);
        op->kind = depthwise ? FR_CNN_K_DW_F32 : FR_CNN_K_CONV_F32;
        op->scratch_bytes = depthwise ? fr_cnn_dwconv_f32_scratch_bytes(p->m->isa, g)
                                      : fr_cnn_conv_f32_scratch_bytes(p->m->isa, g);
    } else {
        return check_type(p, x, FR_CNN_INT8, "input", err);
    }
    op->macs = (uint64_t)g->batch * (uint64_t)g->out_h * (uint64_t)g->out_w *
               (uint64_t)g->out_c * (uint64_t)kh * (uint64_t)kw *
               (uint64_t)(depthwise ? 1 : in_c);
    return FR_OK;
}

static fr_status prep_fc(prep *p, fr_error *err) {
    fr_cnn_node *op = p->op;
    const fr_fb *fb = &p->m->fb;
    fr_status st;
    if ((st = need_io(p, 2, 3, 1, err)) || (st = need_opts(p, FR_TFL_OPT_FULLY_CONNECTED, 0, err)))
        return st;
    int8_t wfmt = 0;
    if ((st = read_act(p, 0, err)))
        return st;
    if (p->has_opts && (st = fr_fb_i8(fb, &p->opts, 1, 0, &wfmt, "options", err)))
        return st;
    if (wfmt != 0)
        return OPFAIL(FR_E_UNSUPPORTED, "weights format %d", fb->name, p->i,
                      fr_tfl_op_name(op->code), (int)wfmt);
    fr_cnn_tns *x = tin(p, 0), *w = tin(p, 1), *b = tin(p, 2), *y = tout(p, 0);
    if ((st = check_rank(p, w, 2, "weights", err)) || (st = check_const(p, w, "weights", err)))
        return st;
    int out = w->dims[0], in = w->dims[1];
    if (in <= 0 || out <= 0 || x->elems % (size_t)in != 0)
        return OPFAIL(FR_E_FORMAT, "input '%s' (%s elements) does not fit weights [%d,%d]",
                      fb->name, p->i, fr_tfl_op_name(op->code), x->name, FR_NUM(x->elems), out, in);
    op->fc.batch = (int)(x->elems / (size_t)in);
    op->fc.in = in;
    op->fc.out = out;
    if (y->elems != (size_t)op->fc.batch * (size_t)out || y->ndim < 1 ||
        y->dims[y->ndim - 1] != out)
        return OPFAIL(FR_E_FORMAT, "output '%s' shape does not match [%d,%d]", fb->name, p->i,
                      fr_tfl_op_name(op->code), y->name, op->fc.batch, out);
    if ((st = fr_cnn_fc_check(&op->fc, fr_tfl_op_name(op->code), err)))
        return op_wrap(err, st, p->m, p->i);
    op->weights = w->data;
    if (x->type == FR_CNN_INT8) {
        if ((st = check_type(p, w, FR_CNN_INT8, "weights", err)) ||
            (st = check_type(p, y, FR_CNN_INT8, "output", err)) ||
            (st = check_bias(p, b, FR_CNN_INT32, out, err)) ||
            (st = prep_requant(p, x, w, y, out, 0, err)))
            return st;
        op->kind = FR_CNN_K_FC_S8;
        op->scratch_bytes = fr_cnn_fc_s8_scratch_bytes(p->m->isa, &op->fc);
    } else if (x->type == FR_CNN_FLOAT32) {
        if ((st = check_type(p, y, FR_CNN_FLOAT32, "output", err)) ||
            (st = check_bias(p, b, FR_CNN_FLOAT32, out, err)))
            return st;
        if (w->type == FR_CNN_INT8) {
            if ((st = dequant_weights(p, w, 0, err)))
                return st;
        } else if ((st = check_type(p, w, FR_CNN_FLOAT32, "weights", err))) {
            return st;
        }
        if ((st = fr_cnn_act_range_f32((fr_cnn_act)op->act, &op->range, err)))
            return op_wrap(err, st, p->m, p->i);
        op->kind = FR_CNN_K_FC_F32;
        op->scratch_bytes = fr_cnn_fc_f32_scratch_bytes(p->m->isa, &op->fc);
    } else {
        return check_type(p, x, FR_CNN_INT8, "input", err);
    }
    op->macs = (uint64_t)op->fc.batch * (uint64_t)in * (uint64_t)out;
    return FR_OK;
}

/* 4-D NHWC shape of t padded with leading 1s (rank <= 4). */
static int shape4(const fr_cnn_tns *t, int s[4]) {
    if (t->ndim > 4)
        return 0;
    int pad = 4 - t->ndim;
    for (int d = 0; d < 4; d++)
        s[d] = d < pad ? 1 : t->dims[d - pad];
    return 1;
}

static fr_status prep_add(prep *p, fr_error *err) {
    fr_cnn_node *op = p->op;
    const fr_fb *fb = &p->m->fb;
    fr_status st;
    if ((st = need_io(p, 2, 2, 1, err)) || (st = need_opts(p, FR_TFL_OPT_ADD, 0, err)) ||
        (st = read_act(p, 0, err)))
        return st;
    fr_cnn_tns *a = tin(p, 0), *b = tin(p, 1), *y = tout(p, 0);
    int bcast = !(same_shape(a, b) && same_shape(a, y));
    if (bcast) {
        int so[4];
        if (!shape4(a, op->add_s1) || !shape4(b, op->add_s2) || !shape4(y, so))
            return OPFAIL(FR_E_UNSUPPORTED, "broadcasting above rank 4", fb->name, p->i,
                          fr_tfl_op_name(op->code));
        if ((st = fr_cnn_bcast_check(op->add_s1, op->add_s2, fr_tfl_op_name(op->code), err)))
            return op_wrap(err, st, p->m, p->i);
        for (int d = 0; d < 4; d++) {
            int e = op->add_s1[d] > op->add_s2[d] ? op->add_s1[d] : op->add_s2[d];
            if (so[d] != e)
                return OPFAIL(FR_E_FORMAT, "output '%s' shape does not match the broadcast",
                              fb->name, p->i, fr_tfl_op_name(op->code), y->name);
        }
    }
    if (a->type == FR_CNN_INT8) {
        if ((st = check_type(p, b, FR_CNN_INT8, "input 2", err)) ||
            (st = check_type(p, y, FR_CNN_INT8, "output", err)) ||
            (st = check_quant(p, a, "input 1", err)) || (st = check_quant(p, b, "input 2", err)) ||
            (st = check_quant(p, y, "output", err)))
            return st;
        if ((st = fr_cnn_add_s8_prepare(a->scale, a->zp, b->scale, b->zp, y->scale, y->zp,
                                        (fr_cnn_act)op->act, &op->add, err)))
            return op_wrap(err, st, p->m, p->i);
        op->kind = bcast ? FR_CNN_K_ADD_S8_BCAST : FR_CNN_K_ADD_S8;
    } else if (a->type == FR_CNN_FLOAT32) {
        if ((st = check_type(p, b, FR_CNN_FLOAT32, "input 2", err)) ||
            (st = check_type(p, y, FR_CNN_FLOAT32, "output", err)))
            return st;
        if ((st = fr_cnn_act_range_f32((fr_cnn_act)op->act, &op->range, err)))
            return op_wrap(err, st, p->m, p->i);
        op->kind = bcast ? FR_CNN_K_ADD_F32_BCAST : FR_CNN_K_ADD_F32;
    } else {
        return check_type(p, a, FR_CNN_INT8, "input 1", err);
    }
    return FR_OK;
}

static fr_status prep_pool(prep *p, int is_max, fr_error *err) {
    fr_cnn_node *op = p->op;
    const fr_fb *fb = &p->m->fb;
    fr_status st;
    int8_t pad;
    if ((st = need_io(p, 1, 1, 1, err)) || (st = need_opts(p, FR_TFL_OPT_POOL2D, 1, err)) ||
        (st = fr_fb_i8(fb, &p->opts, 0, 0, &pad, "options", err)) ||
        (st = fr_fb_i32(fb, &p->opts, 1, 0, &op->stride_w, "options", err)) ||
        (st = fr_fb_i32(fb, &p->opts, 2, 0, &op->stride_h, "options", err)) ||
        (st = fr_fb_i32(fb, &p->opts, 3, 0, &op->filter_w, "options", err)) ||
        (st = fr_fb_i32(fb, &p->opts, 4, 0, &op->filter_h, "options", err)) ||
        (st = read_act(p, 5, err)))
        return st;
    if (pad != FR_CNN_PAD_SAME && pad != FR_CNN_PAD_VALID)
        return OPFAIL(FR_E_UNSUPPORTED, "padding %d", fb->name, p->i, fr_tfl_op_name(op->code),
                      (int)pad);
    op->padding = pad;
    op->dil_h = op->dil_w = 1;
    fr_cnn_tns *x = tin(p, 0), *y = tout(p, 0);
    if ((st = check_rank(p, x, 4, "input", err)))
        return st;
    if ((st = fr_cnn_geom_init(&op->geom, fr_tfl_op_name(op->code), (fr_cnn_padding)pad,
                               x->dims[0], x->dims[1], x->dims[2], x->dims[3], x->dims[3],
                               op->filter_h, op->filter_w, op->stride_h, op->stride_w, 1, 1, 1,
                               err)))
        return op_wrap(err, st, p->m, p->i);
    const fr_cnn_geom *g = &op->geom;
    if ((st = check_out_dims(p, y, g->batch, g->out_h, g->out_w, g->out_c, err)))
        return st;
    if (x->type == FR_CNN_INT8) {
        if ((st = check_type(p, y, FR_CNN_INT8, "output", err)) ||
            (st = check_quant(p, x, "input", err)) || (st = check_quant(p, y, "output", err)))
            return st;
        if (x->zp != y->zp || fabsf(x->scale - y->scale) > 1e-6f * y->scale)
            return OPFAIL(FR_E_UNSUPPORTED, "input and output quantisation differ", fb->name,
                          p->i, fr_tfl_op_name(op->code));
        if ((st = fr_cnn_act_range_s8((fr_cnn_act)op->act, y->scale, y->zp, &op->rq.act_min,
                                      &op->rq.act_max, err)))
            return op_wrap(err, st, p->m, p->i);
        op->kind = is_max ? FR_CNN_K_MAXPOOL_S8 : FR_CNN_K_AVGPOOL_S8;
    } else if (x->type == FR_CNN_FLOAT32) {
        if ((st = check_type(p, y, FR_CNN_FLOAT32, "output", err)))
            return st;
        if ((st = fr_cnn_act_range_f32((fr_cnn_act)op->act, &op->range, err)))
            return op_wrap(err, st, p->m, p->i);
        op->kind = is_max ? FR_CNN_K_MAXPOOL_F32 : FR_CNN_K_AVGPOOL_F32;
    } else {
        return check_type(p, x, FR_CNN_INT8, "input", err);
    }
    return FR_OK;
}

static fr_status prep_reshape(prep *p, fr_error *err) {
    fr_status st;
    if ((st = need_io(p, 1, 2, 1, err)) || (st = need_opts(p, FR_TFL_OPT_RESHAPE, 0, err)))
        return st;
    fr_cnn_tns *x = tin(p, 0), *y = tout(p, 0);
    if ((st = check_type(p, y, x->type, "output", err)))
        return st;
    if (x->bytes != y->bytes)
        return OPFAIL(FR_E_FORMAT, "output '%s' has %s bytes, input has %s", p->m->fb.name,
                      p->i, fr_tfl_op_name(p->op->code), y->name, FR_NUM(y->bytes), FR_NUM(x->bytes));
    if (x->type == FR_CNN_INT8 && (x->zp != y->zp || x->scale != y->scale))
        return OPFAIL(FR_E_UNSUPPORTED, "input and output quantisation differ", p->m->fb.name,
                      p->i, fr_tfl_op_name(p->op->code));
    p->op->kind = FR_CNN_K_RESHAPE;
    return FR_OK;
}

static fr_status prep_softmax(prep *p, fr_error *err) {
    fr_cnn_node *op = p->op;
    fr_status st;
    op->beta = 1.0f;
    if ((st = need_io(p, 1, 1, 1, err)) || (st = need_opts(p, FR_TFL_OPT_SOFTMAX, 0, err)))
        return st;
    if (p->has_opts && (st = fr_fb_f32(&p->m->fb, &p->opts, 0, 0.0f, &op->beta, "options", err)))
        return st;
    fr_cnn_tns *x = tin(p, 0), *y = tout(p, 0);
    if (!same_shape(x, y) || x->ndim < 1 || x->dims[x->ndim - 1] <= 0)
        return OPFAIL(FR_E_FORMAT, "output shape differs from the input's", p->m->fb.name,
                      p->i, fr_tfl_op_name(op->code));
    if (!isfinite(op->beta) || !(op->beta > 0.0f))
        return OPFAIL(FR_E_UNSUPPORTED, "beta %g", p->m->fb.name, p->i,
                      fr_tfl_op_name(op->code), (double)op->beta);
    op->depth = x->dims[x->ndim - 1];
    op->rows = (int)(x->elems / (size_t)op->depth);
    if (x->type == FR_CNN_INT8) {
        if ((st = check_type(p, y, FR_CNN_INT8, "output", err)) ||
            (st = check_quant(p, x, "input", err)) || (st = check_quant(p, y, "output", err)))
            return st;
        if ((st = fr_cnn_softmax_s8_prepare(op->beta, x->scale, y->scale, y->zp, &op->sm, err)))
            return op_wrap(err, st, p->m, p->i);
        op->kind = FR_CNN_K_SOFTMAX_S8;
    } else if (x->type == FR_CNN_FLOAT32) {
        if ((st = check_type(p, y, FR_CNN_FLOAT32, "output", err)))
            return st;
        op->kind = FR_CNN_K_SOFTMAX_F32;
    } else {
        return check_type(p, x, FR_CNN_INT8, "input", err);
    }
    return FR_OK;
}

static fr_status prep_quantize(prep *p, int dequant, fr_error *err) {
    fr_cnn_node *op = p->op;
    fr_status st;
    if ((st = need_io(p, 1, 1, 1, err)))
        return st;
    fr_cnn_tns *x = tin(p, 0), *y = tout(p, 0);
    if (x->elems != y->elems)
        return OPFAIL(FR_E_FORMAT, "input and output sizes differ", p->m->fb.name, p->i,
                      fr_tfl_op_name(op->code));
    if (dequant) {
        if ((st = check_type(p, x, FR_CNN_INT8, "input", err)) ||
            (st = check_type(p, y, FR_CNN_FLOAT32, "output", err)) ||
            (st = check_quant(p, x, "input", err)))
            return st;
        op->kind = FR_CNN_K_DEQUANTIZE_S8_F32;
        return FR_OK;
    }
    if ((st = check_type(p, y, FR_CNN_INT8, "output", err)) ||
        (st = check_quant(p, y, "output", err)))
        return st;
    if (x->type == FR_CNN_FLOAT32) {
        op->kind = FR_CNN_K_QUANTIZE_F32_S8;
    } else if (x->type == FR_CNN_INT8) {
        if ((st = check_quant(p, x, "input", err)))
            return st;
        if ((st = fr_cnn_requantize_s8_prepare(x->scale, y->scale, &op->q_mult, &op->q_shift,
                                               err)))
            return op_wrap(err, st, p->m, p->i);
        op->kind = FR_CNN_K_REQUANTIZE_S8;
    } else {
        return check_type(p, x, FR_CNN_FLOAT32, "input", err);
    }
    return FR_OK;
}

fr_status fr_cnn_prepare_op(prep *p, fr_error *err) {
    switch (p->op->code) {
    case FR_TFL_CONV_2D: return prep_conv(p, 0, err);
    case FR_TFL_DEPTHWISE_CONV_2D: return prep_conv(p, 1, err);
    case FR_TFL_FULLY_CONNECTED: return prep_fc(p, err);
    case FR_TFL_ADD: return prep_add(p, err);
    case FR_TFL_AVERAGE_POOL_2D: return prep_pool(p, 0, err);
    case FR_TFL_MAX_POOL_2D: return prep_pool(p, 1, err);
    case FR_TFL_RESHAPE: return prep_reshape(p, err);
    case FR_TFL_SOFTMAX: return prep_softmax(p, err);
    case FR_TFL_QUANTIZE: return prep_quantize(p, 0, err);
    case FR_TFL_DEQUANTIZE: return prep_quantize(p, 1, err);
    default:
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: op %d: operator %s (code %d) is not supported",
                       p->m->fb.name, p->i, fr_tfl_op_name(p->op->code), (int)p->op->code);
    }
}

