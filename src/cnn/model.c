/* Model loading: parse the TFLite file in place, validate the graph, prepare every
 * operator (shapes, types, quantisation constants), plan the activations. Everything is
 * allocated from the caller's arena with a bump allocator; nothing is freed. */
#include <math.h>
#include <string.h>

#include "cnn/model.h"
#include "cnn/planner.h"
#include "core/error.h"

/* ------------------------------------------------------------------------------------ */
/* Bump allocator over the caller's arena.                                              */

typedef struct bump {
    uint8_t *base;  /* aligned to FR_CNN_ALIGN */
    size_t cap;
    size_t used;
} bump;

static size_t align_up(size_t x, size_t a) {
    return (x + a - 1) & ~(a - 1);
}

static void *balloc(bump *a, size_t n, size_t align, fr_error *err, const char *name) {
    size_t off = align_up(a->used, align);
    if (off > a->cap || n > a->cap - off) {
        /* FR_NUM, not %zu: the firmware's newlib-nano printf has no z modifier, and this is
         * the message a firmware whose arena is too small prints */
        fr_fail(err, FR_E_NOMEM,
                "%s: arena too small: the model tables alone need more than %s bytes", name,
                FR_NUM(off + n + FR_CNN_ALIGN - 1));
        return NULL;
    }
    a->used = off + n;
    return a->base + off;
}

/* ------------------------------------------------------------------------------------ */

static size_t type_size(uint32_t t) {
    switch (t) {
    case FR_CNN_FLOAT32: return 4;
    case FR_CNN_FLOAT16: return 2;
    case FR_CNN_INT32: return 4;
    case FR_CNN_UINT8: return 1;
    case FR_CNN_INT64: return 8;
    case FR_CNN_BOOL: return 1;
    case FR_CNN_INT16: return 2;
    case FR_CNN_INT8: return 1;
    default: return 0;
    }
}

const char *fr_cnn_type_name(fr_cnn_type t) {
    switch (t) {
    case FR_CNN_FLOAT32: return "float32";
    case FR_CNN_FLOAT16: return "float16";
    case FR_CNN_INT32: return "int32";
    case FR_CNN_UINT8: return "uint8";
    case FR_CNN_INT64: return "int64";
    case FR_CNN_BOOL: return "bool";
    case FR_CNN_INT16: return "int16";
    case FR_CNN_INT8: return "int8";
    default: return "unknown";
    }
}

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

/* ------------------------------------------------------------------------------------ */
/* Tensors                                                                               */

static fr_status read_tensor(fr_cnn_model *m, bump *a, const fr_fb_vec *buffers,
                             const fr_fb_table *tt, int idx, fr_error *err) {
    const fr_fb *fb = &m->fb;
    fr_cnn_tns *t = &m->tensors[idx];
    const char *what = "tensor";
    fr_status st;
    memset(t, 0, sizeof *t);
    t->first = t->last = t->producer = -1;

    uint32_t name_len;
    if ((st = fr_fb_string(fb, tt, FR_TFL_TENSOR_NAME, &t->name, &name_len, what, err)))
        return st;
    fr_fb_vec shape;
    if ((st = fr_fb_vector(fb, tt, FR_TFL_TENSOR_SHAPE, 4, &shape, what, err)))
        return st;
    if (shape.n > FR_CNN_MAX_DIMS)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor %d '%s': rank %u > %d", fb->name, idx,
                       t->name, (unsigned)shape.n, FR_CNN_MAX_DIMS);
    t->ndim = (uint8_t)shape.n;
    uint64_t elems = 1;
    for (uint32_t d = 0; d < shape.n; d++) {
        int32_t v = fr_fb_vec_i32(fb, &shape, d);
        if (v < 0)
            return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor %d '%s': dynamic dimension %d",
                           fb->name, idx, t->name, (int)v);
        t->dims[d] = v;
        elems *= (uint64_t)v;
        if (elems > 0x7fffffffu)
            return fr_fail(err, FR_E_FORMAT, "%s: tensor %d '%s': too many elements", fb->name,
                           idx, t->name);
    }
    int8_t type;
    if ((st = fr_fb_i8(fb, tt, FR_TFL_TENSOR_TYPE, 0, &type, what, err)))
        return st;
    size_t es = type_size((uint32_t)(uint8_t)type);
    if (!es)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor %d '%s': unsupported type %d",
                       fb->name, idx, t->name, (int)type);
    t->type = (uint8_t)type;
    t->elems = (size_t)elems;
    t->bytes = (size_t)elems * es;

    uint8_t var;
    if ((st = fr_fb_u8(fb, tt, FR_TFL_TENSOR_IS_VARIABLE, 0, &var, what, err)))
        return st;
    t->is_variable = var ? 1 : 0;
    fr_fb_table sp;
    int has_sp;
    if ((st = fr_fb_subtable(fb, tt, FR_TFL_TENSOR_SPARSITY, &sp, &has_sp, what, err)))
        return st;
    if (has_sp)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor %d '%s': sparse tensors",
                       fb->name, idx, t->name);

    /* data */
    uint32_t bi;
    if ((st = fr_fb_u32(fb, tt, FR_TFL_TENSOR_BUFFER, 0, &bi, what, err)))
        return st;
    if (bi >= buffers->n && !(bi == 0 && buffers->n == 0))
        return fr_fail(err, FR_E_FORMAT, "%s: tensor %d '%s': buffer index %u out of range",
                       fb->name, idx, t->name, (unsigned)bi);
    if (bi != 0) {
        fr_fb_table bt;
        if ((st = fr_fb_vec_table(fb, buffers, bi, &bt, "buffer", err)))
            return st;
        fr_fb_vec data;
        if ((st = fr_fb_vector(fb, &bt, FR_TFL_BUFFER_DATA, 1, &data, "buffer", err)))
            return st;
        uint64_t boff, bsize;
        if ((st = fr_fb_u64(fb, &bt, FR_TFL_BUFFER_OFFSET, 0, &boff, "buffer", err)) ||
            (st = fr_fb_u64(fb, &bt, FR_TFL_BUFFER_SIZE, 0, &bsize, "buffer", err)))
            return st;
        const uint8_t *p = NULL;
        uint64_t n = 0;
        if (data.n > 0) {
            p = fb->buf + data.pos;
            n = data.n;
        } else if (boff > 1) {
            if (boff > fb->len || bsize > fb->len - boff)
                return fr_fail(err, FR_E_FORMAT,
                               "%s: tensor %d '%s': buffer %u lies outside the file",
                               fb->name, idx, t->name, (unsigned)bi);
            p = fb->buf + boff;
            n = bsize;
        }
        if (p) {
            if (n != t->bytes)
                return fr_fail(err, FR_E_FORMAT,
                               "%s: tensor %d '%s': buffer has %s bytes, shape needs %s",
                               fb->name, idx, t->name, FR_NUM(n), FR_NUM(t->bytes));
            t->is_const = 1;
            if ((uintptr_t)p % es) {
                void *copy = balloc(a, t->bytes, 16, err, fb->name);
                if (!copy)
                    return FR_E_NOMEM;
                memcpy(copy, p, t->bytes);
                p = copy;
            }
            t->data = (void *)(uintptr_t)p;
        }
    }

    /* quantisation */
    fr_fb_table qt;
    int has_q;
    if ((st = fr_fb_subtable(fb, tt, FR_TFL_TENSOR_QUANT, &qt, &has_q, what, err)))
        return st;
    if (has_q) {
        fr_fb_vec sc, zp;
        if ((st = fr_fb_vector(fb, &qt, FR_TFL_Q_SCALE, 4, &sc, what, err)) ||
            (st = fr_fb_vector(fb, &qt, FR_TFL_Q_ZERO_POINT, 8, &zp, what, err)) ||
            (st = fr_fb_i32(fb, &qt, FR_TFL_Q_QDIM, 0, &t->qdim, what, err)))
            return st;
        if (sc.n > 0) {
            if (zp.n != sc.n)
                return fr_fail(err, FR_E_FORMAT,
                               "%s: tensor %d '%s': %u scales but %u zero points", fb->name,
                               idx, t->name, (unsigned)sc.n, (unsigned)zp.n);
            if (sc.n > 1 && (t->qdim < 0 || t->qdim >= t->ndim ||
                             (uint32_t)t->dims[t->qdim] != sc.n))
                return fr_fail(err, FR_E_FORMAT,
                               "%s: tensor %d '%s': %u scales do not match quantized "
                               "dimension %d",
                               fb->name, idx, t->name, (unsigned)sc.n, (int)t->qdim);
            /* scales are read in place when aligned (the usual case), else copied */
            const float *scales = (const float *)(const void *)(fb->buf + sc.pos);
            if ((uintptr_t)scales % sizeof(float)) {
                float *copy = balloc(a, (size_t)sc.n * sizeof(float), 4, err, fb->name);
                if (!copy)
                    return FR_E_NOMEM;
                for (uint32_t k = 0; k < sc.n; k++)
                    copy[k] = fr_fb_vec_f32(fb, &sc, k);
                scales = copy;
            }
            for (uint32_t k = 0; k < sc.n; k++) {
                int64_t z = fr_fb_vec_i64(fb, &zp, k);
                if (z < INT32_MIN || z > INT32_MAX)
                    return fr_fail(err, FR_E_FORMAT, "%s: tensor %d '%s': zero point out of range",
                                   fb->name, idx, t->name);
                if (k == 0)
                    t->zp = (int32_t)z;
            }
            t->n_quant = sc.n;
            t->scales = scales;
            t->scale = scales[0];
        }
    }
    return FR_OK;
}

/* ------------------------------------------------------------------------------------ */
/* Operator preparation                                                                  */

typedef struct prep {
    fr_cnn_model *m;
    bump *a;
    int i;
    fr_cnn_node *op;
    fr_fb_table opts;
    int has_opts;
    uint8_t opts_type;
} prep;

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
    float *f = balloc(p->a, w->elems * sizeof(float), 16, err, p->m->fb.name);
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
    int32_t *mult = balloc(p->a, (size_t)n * 8, 4, err, p->m->fb.name);
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

static fr_status prepare_op(prep *p, fr_error *err) {
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

/* ------------------------------------------------------------------------------------ */
/* Graph                                                                                 */

static fr_status read_index_vec(fr_cnn_model *m, bump *a, const fr_fb_table *t, int id,
                                int32_t **out, int32_t *n, int allow_missing, const char *what,
                                fr_error *err) {
    fr_fb_vec v;
    fr_status st = fr_fb_vector(&m->fb, t, id, 4, &v, what, err);
    if (st)
        return st;
    if (v.n > FR_CNN_MAX_TENSORS)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: %u indices", m->fb.name, what, (unsigned)v.n);
    int32_t *x = balloc(a, (size_t)v.n * 4 + 4, 4, err, m->fb.name);
    if (!x)
        return FR_E_NOMEM;
    for (uint32_t k = 0; k < v.n; k++) {
        x[k] = fr_fb_vec_i32(&m->fb, &v, k);
        if (x[k] >= m->n_tensors || x[k] < (allow_missing ? -1 : 0))
            return fr_fail(err, FR_E_FORMAT, "%s: %s: tensor index %d out of range", m->fb.name,
                           what, (int)x[k]);
    }
    *out = x;
    *n = (int32_t)v.n;
    return FR_OK;
}

/* Producer / consumer order: every input is a constant, a graph input or written by an
 * earlier op; every tensor is written at most once. Fills lifetimes. */
static fr_status check_graph(fr_cnn_model *m, fr_error *err) {
    const char *name = m->fb.name;
    for (int k = 0; k < m->n_inputs; k++) {
        fr_cnn_tns *t = &m->tensors[m->inputs[k]];
        if (t->is_const)
            return fr_fail(err, FR_E_FORMAT, "%s: graph input %d '%s' is a constant", name,
                           (int)m->inputs[k], t->name);
        t->is_input = 1;
    }
    for (int k = 0; k < m->n_outputs; k++)
        m->tensors[m->outputs[k]].is_output = 1;
    for (int i = 0; i < m->n_ops; i++) {
        const fr_cnn_node *op = &m->ops[i];
        for (int k = 0; k < op->n_in; k++) {
            if (op->in[k] < 0)
                continue;
            fr_cnn_tns *t = &m->tensors[op->in[k]];
            if (!t->is_const && !t->is_input && !t->is_variable && t->producer < 0)
                return fr_fail(err, FR_E_FORMAT,
                               "%s: op %d %s reads tensor %d '%s' before any op writes it", name,
                               i, fr_tfl_op_name(op->code), (int)op->in[k], t->name);
            if (!t->is_const) {
                if (t->first < 0)
                    t->first = i;
                t->last = i;
            }
        }
        for (int k = 0; k < op->n_in + op->n_out; k++) {
            int32_t ti = k < op->n_in ? op->in[k] : op->out[k - op->n_in];
            if (ti >= 0 && !m->tensors[ti].is_const && m->tensors[ti].bytes == 0)
                return fr_fail(err, FR_E_UNSUPPORTED, "%s: op %d %s: tensor %d '%s' is empty",
                               name, i, fr_tfl_op_name(op->code), (int)ti, m->tensors[ti].name);
        }
        for (int k = 0; k < op->n_out; k++) {
            fr_cnn_tns *t = &m->tensors[op->out[k]];
            if (t->is_const || t->is_input || t->producer >= 0)
                return fr_fail(err, FR_E_FORMAT,
                               "%s: op %d %s writes tensor %d '%s', which is %s", name, i,
                               fr_tfl_op_name(op->code), (int)op->out[k], t->name,
                               t->is_const ? "a constant" : t->is_input ? "a graph input"
                                                                        : "already written");
            for (int j = 0; j < op->n_in; j++)
                if (op->in[j] == op->out[k])
                    return fr_fail(err, FR_E_FORMAT, "%s: op %d %s reads its own output", name,
                                   i, fr_tfl_op_name(op->code));
            t->producer = i;
            if (t->first < 0)
                t->first = i;
            if (t->last < i)
                t->last = i;
        }
    }
    int end = m->n_ops > 0 ? m->n_ops - 1 : 0;
    for (int k = 0; k < m->n_outputs; k++) {
        fr_cnn_tns *t = &m->tensors[m->outputs[k]];
        if (!t->is_const && !t->is_input && t->producer < 0)
            return fr_fail(err, FR_E_FORMAT, "%s: graph output %d '%s' is never written", name,
                           (int)m->outputs[k], t->name);
        if (!t->is_const)
            t->last = end;
    }
    for (int j = 0; j < m->n_tensors; j++) {
        fr_cnn_tns *t = &m->tensors[j];
        if (t->is_const)
            continue;
        if (t->is_input || t->is_variable)
            t->first = 0;
        if (t->is_variable || (t->is_input && t->last < 0))
            t->last = end;
        if (t->is_variable)
            return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor %d '%s': variable tensors", name,
                           j, t->name);
    }
    return FR_OK;
}

/* Lets a computation-reuse provider take over operators (frugal_cnn.h, fr_cnn_reuse). */
static fr_status prepare_reuse(fr_cnn_model *m, bump *a, const fr_cnn_reuse *r,
                               fr_error *err) {
    if (!r->prepare || !r->run || r->state_bytes > ((size_t)1 << 20))
        return fr_fail(err, FR_E_ARG, "%s: invalid reuse provider", m->fb.name);
    size_t n = (size_t)m->n_ops;
    size_t sb = align_up(r->state_bytes, 16);
    uint8_t *state = balloc(a, n * sb + 1, 16, err, m->fb.name);
    uint8_t *use = state ? balloc(a, n + 1, 1, err, m->fb.name) : NULL;
    size_t *scratch = use ? balloc(a, n * sizeof(size_t) + 1, 8, err, m->fb.name) : NULL;
    if (!scratch)
        return FR_E_NOMEM;
    memset(state, 0, n * sb + 1);
    memset(use, 0, n + 1);
    for (size_t i = 0; i < n; i++)
        scratch[i] = m->ops[i].scratch_bytes;
    fr_status st = r->prepare(r->ctx, m, state, use, scratch, err);
    if (st)
        return st;
    if ((r->persist_bytes == NULL) != (r->bind == NULL))
        return fr_fail(err, FR_E_ARG, "%s: invalid reuse provider (persist_bytes without bind)",
                       m->fb.name);
    for (size_t i = 0; i < n && r->bind; i++) {
        if (!use[i])
            continue;
        const size_t nb = r->persist_bytes(r->ctx, m, (int)i, state + i * sb);
        if (nb == 0)
            continue;
        void *mem = balloc(a, nb, FR_CNN_ALIGN, err, m->fb.name);
        if (!mem)
            return FR_E_NOMEM;
        r->bind(r->ctx, m, (int)i, state + i * sb, mem, &scratch[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (use[i])
            m->ops[i].scratch_bytes = scratch[i];
    m->reuse = r;
    m->reuse_state = state;
    m->reuse_use = use;
    return FR_OK;
}

/* The weights of every CONV_2D that its kernel runs (not a reuse provider) packed once for
 * m->isa into the persistent part, where that isa's fast path packs (x86: AVX2 / AVX-512);
 * elsewhere (e.g. Cortex-M) nothing is packed and the arena does not grow. */
static fr_status pack_convs(fr_cnn_model *m, bump *a, fr_error *err) {
    for (int i = 0; i < m->n_ops; i++) {
        fr_cnn_node *op = &m->ops[i];
        if ((op->kind != FR_CNN_K_CONV_S8 && op->kind != FR_CNN_K_CONV_F32) ||
            (m->reuse_use && m->reuse_use[i]))
            continue;
        const int s8 = op->kind == FR_CNN_K_CONV_S8;
        const size_t n = s8 ? fr_cnn_conv_s8_packed_bytes(m->isa, &op->geom)
                            : fr_cnn_conv_f32_packed_bytes(m->isa, &op->geom);
        if (n == 0)
            continue;
        void *buf = balloc(a, n, 64, err, m->fb.name);
        if (!buf)
            return FR_E_NOMEM;
        if (s8)
            fr_cnn_conv_s8_pack(m->isa, &op->geom, &op->rq, op->weights, op->bias, buf);
        else
            fr_cnn_conv_f32_pack(m->isa, &op->geom, op->weights, op->bias, buf);
        op->packed = buf;
    }
    return FR_OK;
}

/* Plans activations and scratch; sets tensor data pointers. */
static fr_status plan(fr_cnn_model *m, bump *a, fr_error *err) {
    size_t n = (size_t)m->n_tensors + (size_t)m->n_ops;
    fr_plan_buf *bufs = balloc(a, n * sizeof *bufs + 1, 8, err, m->fb.name);
    uint32_t *work = bufs ? balloc(a, FR_PLAN_WORK_ELEMS(n) * 4 + 4, 4, err, m->fb.name) : NULL;
    if (!work)
        return FR_E_NOMEM;
    size_t max_scratch = 0;
    for (int j = 0; j < m->n_tensors; j++) {
        const fr_cnn_tns *t = &m->tensors[j];
        fr_plan_buf *b = &bufs[j];
        memset(b, 0, sizeof *b);
        b->align = 16;
        if (!t->is_const && t->first >= 0 && t->bytes > 0) {
            b->size = t->bytes;
            b->first = t->first;
            b->last = t->last;
        }
    }
    for (int i = 0; i < m->n_ops; i++) {
        fr_plan_buf *b = &bufs[(size_t)m->n_tensors + (size_t)i];
        memset(b, 0, sizeof *b);
        b->align = FR_CNN_ALIGN;
        b->size = m->ops[i].scratch_bytes;
        b->first = b->last = i;
        if (b->size > max_scratch)
            max_scratch = b->size;
    }
    size_t total, naive;
    fr_status st = fr_plan(bufs, n, work, &total, &naive, err);
    if (st)
        return st;
    size_t persistent = align_up(a->used, FR_CNN_ALIGN);
    m->arena.persistent_bytes = persistent;
    m->arena.activation_bytes = total;
    m->arena.naive_bytes = naive;
    m->arena.scratch_bytes = max_scratch;
    m->arena.total_bytes = FR_CNN_ALIGN - 1 + persistent + total;
    if (total > a->cap - persistent)
        return fr_fail(err, FR_E_NOMEM, /* FR_NUM: see balloc */
                       "%s: arena too small: need %s bytes (persistent %s + activations %s "
                       "+ alignment), have %s",
                       m->fb.name, FR_NUM(m->arena.total_bytes), FR_NUM(persistent),
                       FR_NUM(total), FR_NUM(a->cap + (FR_CNN_ALIGN - 1)));
    m->activations = a->base + persistent;
    for (int j = 0; j < m->n_tensors; j++)
        if (bufs[j].size)
            m->tensors[j].data = m->activations + bufs[j].offset;
    for (int i = 0; i < m->n_ops; i++)
        m->ops[i].scratch_offset = bufs[(size_t)m->n_tensors + (size_t)i].offset;
    return FR_OK;
}

fr_status fr_cnn_model_init(const void *buf, size_t len, void *arena, size_t arena_bytes,
                            const fr_cnn_config *cfg, fr_cnn_model **out, fr_error *err) {
    return fr_cnn_model_init_reuse(buf, len, arena, arena_bytes, cfg, NULL, out, err);
}

fr_status fr_cnn_model_init_reuse(const void *buf, size_t len, void *arena, size_t arena_bytes,
                                  const fr_cnn_config *cfg, const fr_cnn_reuse *reuse,
                                  fr_cnn_model **out, fr_error *err) {
    const char *name = cfg && cfg->name ? cfg->name : "model";
    if (!out)
        return fr_fail(err, FR_E_ARG, "%s: no output handle", name);
    *out = NULL;
    if (!arena && arena_bytes)
        return fr_fail(err, FR_E_ARG, "%s: NULL arena", name);
    bump a = {0};
    uintptr_t base = (uintptr_t)arena;
    size_t slack = (size_t)((FR_CNN_ALIGN - base % FR_CNN_ALIGN) % FR_CNN_ALIGN);
    if (arena && arena_bytes > slack) {
        a.base = (uint8_t *)arena + slack;
        a.cap = arena_bytes - slack;
    }
    fr_fb fb;
    fr_status st = fr_fb_init(&fb, buf, len, name, err);
    if (st)
        return st;
    fr_cnn_model *m = balloc(&a, sizeof *m, 16, err, name);
    if (!m)
        return FR_E_NOMEM;
    memset(m, 0, sizeof *m);
    m->fb = fb;
    m->isa = cfg && cfg->kernels == FR_CNN_KERNELS_REFERENCE ? FR_ISA_SCALAR : fr_isa_best();

    fr_fb_table root, sg;
    fr_fb_vec codes, subgraphs, buffers, tensors, ops;
    if ((st = fr_fb_root(&fb, &root, err)) ||
        (st = fr_fb_vector(&fb, &root, FR_TFL_MODEL_OPCODES, 4, &codes, "operator codes", err)) ||
        (st = fr_fb_vector(&fb, &root, FR_TFL_MODEL_SUBGRAPHS, 4, &subgraphs, "subgraphs", err)) ||
        (st = fr_fb_vector(&fb, &root, FR_TFL_MODEL_BUFFERS, 4, &buffers, "buffers", err)))
        return st;
    if (subgraphs.n < 1)
        return fr_fail(err, FR_E_FORMAT, "%s: no subgraph", name);
    if ((st = fr_fb_vec_table(&fb, &subgraphs, 0, &sg, "subgraph 0", err)) ||
        (st = fr_fb_vector(&fb, &sg, FR_TFL_SG_TENSORS, 4, &tensors, "tensors", err)) ||
        (st = fr_fb_vector(&fb, &sg, FR_TFL_SG_OPERATORS, 4, &ops, "operators", err)))
        return st;
    if (tensors.n > FR_CNN_MAX_TENSORS || ops.n > FR_CNN_MAX_OPS)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: %u tensors / %u operators is too many", name,
                       (unsigned)tensors.n, (unsigned)ops.n);

    /* operator codes */
    int32_t *code_of = balloc(&a, (size_t)codes.n * 4 + 4, 4, err, name);
    if (!code_of)
        return FR_E_NOMEM;
    for (uint32_t k = 0; k < codes.n; k++) {
        fr_fb_table ct;
        int8_t dep;
        int32_t bc;
        const char *custom;
        uint32_t custom_len;
        if ((st = fr_fb_vec_table(&fb, &codes, k, &ct, "operator code", err)) ||
            (st = fr_fb_i8(&fb, &ct, FR_TFL_OPCODE_DEPRECATED, 0, &dep, "operator code", err)) ||
            (st = fr_fb_i32(&fb, &ct, FR_TFL_OPCODE_BUILTIN, 0, &bc, "operator code", err)) ||
            (st = fr_fb_string(&fb, &ct, FR_TFL_OPCODE_CUSTOM, &custom, &custom_len,
                               "operator code", err)))
            return st;
        code_of[k] = bc > dep ? bc : dep;
        if (custom_len > 0)
            code_of[k] = -1; /* custom op */
    }

    /* tensors */
    m->n_tensors = (int32_t)tensors.n;
    m->tensors = balloc(&a, (size_t)tensors.n * sizeof(fr_cnn_tns) + 1, 16, err, name);
    if (!m->tensors)
        return FR_E_NOMEM;
    for (uint32_t j = 0; j < tensors.n; j++) {
        fr_fb_table tt;
        if ((st = fr_fb_vec_table(&fb, &tensors, j, &tt, "tensor", err)) ||
            (st = read_tensor(m, &a, &buffers, &tt, (int)j, err)))
            return st;
    }
    if ((st = read_index_vec(m, &a, &sg, FR_TFL_SG_INPUTS, &m->inputs, &m->n_inputs, 0,
                             "graph inputs", err)) ||
        (st = read_index_vec(m, &a, &sg, FR_TFL_SG_OUTPUTS, &m->outputs, &m->n_outputs, 0,
                             "graph outputs", err)))
        return st;

    /* operators: structure first */
    m->n_ops = (int32_t)ops.n;
    m->ops = balloc(&a, (size_t)ops.n * sizeof(fr_cnn_node) + 1, 16, err, name);
    if (!m->ops)
        return FR_E_NOMEM;
    for (uint32_t i = 0; i < ops.n; i++) {
        fr_cnn_node *op = &m->ops[i];
        memset(op, 0, sizeof *op);
        op->scratch_buf = -1;
        fr_fb_table ot;
        uint32_t oci;
        int32_t n_in, n_out;
        if ((st = fr_fb_vec_table(&fb, &ops, i, &ot, "operator", err)) ||
            (st = fr_fb_u32(&fb, &ot, FR_TFL_OP_OPCODE_INDEX, 0, &oci, "operator", err)))
            return st;
        if (oci >= codes.n)
            return fr_fail(err, FR_E_FORMAT, "%s: op %u: opcode index %u out of range", name,
                           (unsigned)i, (unsigned)oci);
        op->code = code_of[oci];
        if (op->code < 0)
            return fr_fail(err, FR_E_UNSUPPORTED, "%s: op %u: custom operators are not supported",
                           name, (unsigned)i);
        if ((st = read_index_vec(m, &a, &ot, FR_TFL_OP_INPUTS, &op->in, &n_in, 1, "op inputs",
                                 err)) ||
            (st = read_index_vec(m, &a, &ot, FR_TFL_OP_OUTPUTS, &op->out, &n_out, 0,
                                 "op outputs", err)))
            return st;
        if (n_in > FR_CNN_MAX_OP_IO || n_out > FR_CNN_MAX_OP_IO || n_out < 1)
            return fr_fail(err, FR_E_FORMAT, "%s: op %u: %d inputs, %d outputs", name,
                           (unsigned)i, (int)n_in, (int)n_out);
        op->n_in = (uint16_t)n_in;
        op->n_out = (uint16_t)n_out;
    }
    if ((st = check_graph(m, err)))
        return st;

    /* operators: preparation */
    for (uint32_t i = 0; i < ops.n; i++) {
        prep p = {.m = m, .a = &a, .i = (int)i, .op = &m->ops[i]};
        fr_fb_table ot;
        if ((st = fr_fb_vec_table(&fb, &ops, i, &ot, "operator", err)) ||
            (st = fr_fb_u8(&fb, &ot, FR_TFL_OP_OPTIONS_TYPE, 0, &p.opts_type, "operator", err)) ||
            (st = fr_fb_subtable(&fb, &ot, FR_TFL_OP_OPTIONS, &p.opts, &p.has_opts, "options",
                                 err)))
            return st;
        if ((st = prepare_op(&p, err)))
            return st;
    }
    if (reuse && (st = prepare_reuse(m, &a, reuse, err)))
        return st;
    if ((st = pack_convs(m, &a, err)))
        return st;
    if ((st = plan(m, &a, err)))
        return st;
    *out = m;
    return FR_OK;
}

fr_status fr_cnn_plan(const void *buf, size_t len, void *work, size_t work_bytes,
                      const fr_cnn_config *cfg, fr_cnn_arena_info *info, fr_error *err) {
    return fr_cnn_plan_reuse(buf, len, work, work_bytes, cfg, NULL, info, err);
}

fr_status fr_cnn_plan_reuse(const void *buf, size_t len, void *work, size_t work_bytes,
                            const fr_cnn_config *cfg, const fr_cnn_reuse *reuse,
                            fr_cnn_arena_info *info, fr_error *err) {
    fr_cnn_model *m;
    memset(info, 0, sizeof *info);
    fr_status st = fr_cnn_model_init_reuse(buf, len, work, work_bytes, cfg, reuse, &m, err);
    if (st)
        return st;
    *info = m->arena;
    return FR_OK;
}

void fr_cnn_model_arena(const fr_cnn_model *m, fr_cnn_arena_info *info) {
    *info = m->arena;
}
