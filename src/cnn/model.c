/* Model loading: parse the TFLite file in place, validate the graph, prepare every
 * operator (prepare.c: shapes, types, quantisation constants), plan the activations. Everything is
 * allocated from the caller's arena with a bump allocator; nothing is freed. */
#include <math.h>
#include <string.h>

#include "cnn/model.h"
#include "cnn/model_internal.h"
#include "cnn/planner.h"
#include "core/error.h"

/* ------------------------------------------------------------------------------------ */
/* Bump allocator over the caller's arena.                                              */


static size_t align_up(size_t x, size_t a) {
    return (x + a - 1) & ~(a - 1);
}

void *fr_cnn_balloc(bump *a, size_t n, size_t align, fr_error *err, const char *name) {
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
                void *copy = fr_cnn_balloc(a, t->bytes, 16, err, fb->name);
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
                float *copy = fr_cnn_balloc(a, (size_t)sc.n * sizeof(float), 4, err, fb->name);
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
    int32_t *x = fr_cnn_balloc(a, (size_t)v.n * 4 + 4, 4, err, m->fb.name);
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
    uint8_t *state = fr_cnn_balloc(a, n * sb + 1, 16, err, m->fb.name);
    uint8_t *use = state ? fr_cnn_balloc(a, n + 1, 1, err, m->fb.name) : NULL;
    size_t *scratch = use ? fr_cnn_balloc(a, n * sizeof(size_t) + 1, 8, err, m->fb.name) : NULL;
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
        void *mem = fr_cnn_balloc(a, nb, FR_CNN_ALIGN, err, m->fb.name);
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
        void *buf = fr_cnn_balloc(a, n, 64, err, m->fb.name);
        if (!buf)
            return FR_E_NOMEM;
        if (s8)
            fr_cnn_conv_s8_pack(m->isa, &op->geom, &op->rq, op->weights, op->bias, buf);
        else
            fr_cnn_conv_f32_pack(m->isa, &op->geom, op->weights, op->bias, buf);
        op->packed = buf;
        op->scratch_bytes -= n; /* no packing area in the scratch (ops.h) */
    }
    return FR_OK;
}

/* Plans activations and scratch; sets tensor data pointers. */
static fr_status plan(fr_cnn_model *m, bump *a, fr_error *err) {
    size_t n = (size_t)m->n_tensors + (size_t)m->n_ops;
    fr_plan_buf *bufs = fr_cnn_balloc(a, n * sizeof *bufs + 1, 8, err, m->fb.name);
    uint32_t *work = bufs ? fr_cnn_balloc(a, FR_PLAN_WORK_ELEMS(n) * 4 + 4, 4, err, m->fb.name) : NULL;
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
    fr_cnn_model *m = fr_cnn_balloc(&a, sizeof *m, 16, err, name);
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
    int32_t *code_of = fr_cnn_balloc(&a, (size_t)codes.n * 4 + 4, 4, err, name);
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
    m->tensors = fr_cnn_balloc(&a, (size_t)tensors.n * sizeof(fr_cnn_tns) + 1, 16, err, name);
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
    m->ops = fr_cnn_balloc(&a, (size_t)ops.n * sizeof(fr_cnn_node) + 1, 16, err, name);
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
        if ((st = fr_cnn_prepare_op(&p, err)))
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
