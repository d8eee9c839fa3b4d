/* The interpreter: runs the prepared operators in order, and the tensor/op query API. */
#include <math.h>
#include <string.h>

#include "cnn/model.h"
#include "core/error.h"

static void run_op(fr_cnn_model *m, fr_cnn_node *op) {
    const fr_cnn_tns *T = m->tensors;
    const void *x = T[op->in[0]].data;
    void *y = T[op->out[0]].data;
    void *scratch = op->scratch_bytes ? m->activations + op->scratch_offset : NULL;
    fr_isa isa = m->isa;
    size_t n = T[op->out[0]].elems;
    switch (op->kind) {
    case FR_CNN_K_CONV_S8:
        fr_cnn_conv_s8_ex(isa, &op->geom, &op->rq, x, op->weights, op->bias, op->packed, y,
                          scratch);
        break;
    case FR_CNN_K_CONV_F32:
        fr_cnn_conv_f32_ex(isa, &op->geom, op->range, x, op->weights, op->bias, op->packed, y,
                           scratch);
        break;
    case FR_CNN_K_DW_S8:
        fr_cnn_dwconv_s8(isa, &op->geom, &op->rq, x, op->weights, op->bias, y, scratch);
        break;
    case FR_CNN_K_DW_F32:
        fr_cnn_dwconv_f32(isa, &op->geom, op->range, x, op->weights, op->bias, y, scratch);
        break;
    case FR_CNN_K_FC_S8:
        fr_cnn_fc_s8(isa, &op->fc, &op->rq, x, op->weights, op->bias, y, scratch);
        break;
    case FR_CNN_K_FC_F32:
        fr_cnn_fc_f32(isa, &op->fc, op->range, x, op->weights, op->bias, y, scratch);
        break;
    case FR_CNN_K_ADD_S8:
        fr_cnn_add_s8(isa, &op->add, x, T[op->in[1]].data, y, n);
        break;
    case FR_CNN_K_ADD_F32:
        fr_cnn_add_f32(op->range, x, T[op->in[1]].data, y, n);
        break;
    case FR_CNN_K_ADD_S8_BCAST:
        fr_cnn_add_s8_bcast(&op->add, op->add_s1, x, op->add_s2, T[op->in[1]].data, y);
        break;
    case FR_CNN_K_ADD_F32_BCAST:
        fr_cnn_add_f32_bcast(op->range, op->add_s1, x, op->add_s2, T[op->in[1]].data, y);
        break;
    case FR_CNN_K_AVGPOOL_S8:
        fr_cnn_avgpool_s8(isa, &op->geom, op->rq.act_min, op->rq.act_max, x, y);
        break;
    case FR_CNN_K_AVGPOOL_F32:
        fr_cnn_avgpool_f32(&op->geom, op->range, x, y);
        break;
    case FR_CNN_K_MAXPOOL_S8:
        fr_cnn_maxpool_s8(isa, &op->geom, op->rq.act_min, op->rq.act_max, x, y);
        break;
    case FR_CNN_K_MAXPOOL_F32:
        fr_cnn_maxpool_f32(isa, &op->geom, op->range, x, y);
        break;
    case FR_CNN_K_RESHAPE:
        fr_cnn_reshape(x, y, T[op->out[0]].bytes);
        break;
    case FR_CNN_K_SOFTMAX_S8:
        fr_cnn_softmax_s8(&op->sm, x, y, op->rows, op->depth);
        break;
    case FR_CNN_K_SOFTMAX_F32:
        fr_cnn_softmax_f32(op->beta, x, y, op->rows, op->depth);
        break;
    case FR_CNN_K_QUANTIZE_F32_S8:
        fr_cnn_quantize_f32_s8(T[op->out[0]].scale, T[op->out[0]].zp, x, y, n);
        break;
    case FR_CNN_K_REQUANTIZE_S8:
        fr_cnn_requantize_s8(T[op->in[0]].zp, op->q_mult, op->q_shift, T[op->out[0]].zp, x, y,
                             n);
        break;
    case FR_CNN_K_DEQUANTIZE_S8_F32:
        fr_cnn_dequantize_s8_f32(T[op->in[0]].scale, T[op->in[0]].zp, x, y, n);
        break;
    }
}

fr_status fr_cnn_invoke_hooked(fr_cnn_model *m, fr_cnn_op_hook hook, void *ctx,
                               fr_error *err) {
    if (!m)
        return fr_fail(err, FR_E_ARG, "cnn invoke: NULL model");
    for (int i = 0; i < m->n_ops; i++) {
        if (hook)
            hook(ctx, i, 0);
        if (m->reuse && m->reuse_use[i]) { /* computation reuse (fr_cnn_reuse) */
            size_t stride = (m->reuse->state_bytes + 15) & ~(size_t)15;
            const fr_cnn_node *op = &m->ops[i];
            m->reuse->run(m->reuse->ctx, m, i, m->reuse_state + (size_t)i * stride,
                          op->scratch_bytes ? m->activations + op->scratch_offset : NULL);
        } else {
            run_op(m, &m->ops[i]);
        }
        if (hook)
            hook(ctx, i, 1);
    }
    return FR_OK;
}

fr_status fr_cnn_invoke(fr_cnn_model *m, fr_error *err) {
    return fr_cnn_invoke_hooked(m, NULL, NULL, err);
}

/* ------------------------------------------------------------------------------------ */

int fr_cnn_num_tensors(const fr_cnn_model *m) {
    return m->n_tensors;
}
int fr_cnn_num_ops(const fr_cnn_model *m) {
    return m->n_ops;
}
int fr_cnn_num_inputs(const fr_cnn_model *m) {
    return m->n_inputs;
}
int fr_cnn_num_outputs(const fr_cnn_model *m) {
    return m->n_outputs;
}
int fr_cnn_input_index(const fr_cnn_model *m, int i) {
    return i >= 0 && i < m->n_inputs ? m->inputs[i] : -1;
}
int fr_cnn_output_index(const fr_cnn_model *m, int i) {
    return i >= 0 && i < m->n_outputs ? m->outputs[i] : -1;
}

fr_status fr_cnn_tensor(const fr_cnn_model *m, int index, fr_cnn_tensor_info *info,
                        fr_error *err) {
    if (!m || !info || index < 0 || index >= m->n_tensors)
        return fr_fail(err, FR_E_ARG, "cnn: tensor index %d out of range", index);
    const fr_cnn_tns *t = &m->tensors[index];
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->type = (fr_cnn_type)t->type;
    info->ndim = t->ndim;
    memcpy(info->dims, t->dims, sizeof info->dims);
    info->elems = t->elems;
    info->bytes = t->bytes;
    info->n_quant = (int)t->n_quant;
    info->scale = t->scale;
    info->zero_point = t->zp;
    info->quant_dim = t->qdim;
    info->is_const = t->is_const;
    info->data = t->data;
    return FR_OK;
}

fr_status fr_cnn_input(const fr_cnn_model *m, int i, fr_cnn_tensor_info *info, fr_error *err) {
    if (!m || i < 0 || i >= m->n_inputs)
        return fr_fail(err, FR_E_ARG, "cnn: input %d out of range", i);
    return fr_cnn_tensor(m, m->inputs[i], info, err);
}

fr_status fr_cnn_output(const fr_cnn_model *m, int i, fr_cnn_tensor_info *info,
                        fr_error *err) {
    if (!m || i < 0 || i >= m->n_outputs)
        return fr_fail(err, FR_E_ARG, "cnn: output %d out of range", i);
    return fr_cnn_tensor(m, m->outputs[i], info, err);
}

fr_status fr_cnn_op(const fr_cnn_model *m, int index, fr_cnn_op_info *info, fr_error *err) {
    if (!m || !info || index < 0 || index >= m->n_ops)
        return fr_fail(err, FR_E_ARG, "cnn: op index %d out of range", index);
    const fr_cnn_node *op = &m->ops[index];
    memset(info, 0, sizeof *info);
    info->code = op->code;
    info->name = fr_tfl_op_name(op->code);
    info->n_inputs = op->n_in;
    info->n_outputs = op->n_out;
    info->inputs = op->in;
    info->outputs = op->out;
    info->padding = op->padding;
    info->stride_h = op->stride_h;
    info->stride_w = op->stride_w;
    info->filter_h = op->filter_h;
    info->filter_w = op->filter_w;
    info->dilation_h = op->dil_h;
    info->dilation_w = op->dil_w;
    info->depth_mult = op->depth_mult;
    info->activation = op->act;
    info->beta = op->beta;
    info->hybrid = op->hybrid;
    info->macs = op->macs;
    info->scratch_bytes = op->scratch_bytes;
    return FR_OK;
}

/* ------------------------------------------------------------------------------------ */
/* Input / output helpers                                                                */

static fr_status io_tensor(const fr_cnn_model *m, int i, int output, size_t n,
                           const fr_cnn_tns **t, fr_error *err) {
    if (!m)
        return fr_fail(err, FR_E_ARG, "cnn: NULL model");
    int count = output ? m->n_outputs : m->n_inputs;
    if (i < 0 || i >= count)
        return fr_fail(err, FR_E_ARG, "%s: %s %d out of range", m->fb.name,
                       output ? "output" : "input", i);
    *t = &m->tensors[output ? m->outputs[i] : m->inputs[i]];
    if ((*t)->elems != n)
        return fr_fail(err, FR_E_ARG, "%s: %s %d has %s elements, not %s", m->fb.name,
                       output ? "output" : "input", i, FR_NUM((*t)->elems), FR_NUM(n));
    if ((*t)->type != FR_CNN_FLOAT32 && (*t)->type != FR_CNN_INT8)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: %s %d is %s (float32 or int8 only)",
                       m->fb.name, output ? "output" : "input", i,
                       fr_cnn_type_name((fr_cnn_type)(*t)->type));
    if ((*t)->type == FR_CNN_INT8 && (*t)->n_quant < 1)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: %s %d is int8 without quantisation",
                       m->fb.name, output ? "output" : "input", i);
    return FR_OK;
}

fr_status fr_cnn_set_input_f32(fr_cnn_model *m, int i, const float *x, size_t n,
                               fr_error *err) {
    const fr_cnn_tns *t = NULL;
    fr_status st = io_tensor(m, i, 0, n, &t, err);
    if (st)
        return st;
    if (t->type == FR_CNN_FLOAT32)
        memcpy(t->data, x, n * sizeof(float));
    else
        fr_cnn_quantize_f32_s8(t->scale, t->zp, x, t->data, n);
    return FR_OK;
}

fr_status fr_cnn_get_output_f32(const fr_cnn_model *m, int i, float *y, size_t n,
                                fr_error *err) {
    const fr_cnn_tns *t = NULL;
    fr_status st = io_tensor(m, i, 1, n, &t, err);
    if (st)
        return st;
    if (t->type == FR_CNN_FLOAT32)
        memcpy(y, t->data, n * sizeof(float));
    else
        fr_cnn_dequantize_s8_f32(t->scale, t->zp, t->data, y, n);
    return FR_OK;
}

void fr_cnn_input_range(const fr_cnn_model *m, int i, float *lo, float *hi) {
    *lo = 0.0f;
    *hi = 255.0f;
    if (!m || i < 0 || i >= m->n_inputs)
        return;
    const fr_cnn_tns *t = &m->tensors[m->inputs[i]];
    if (t->type == FR_CNN_INT8 && t->n_quant >= 1 && t->scale > 0.0f) {
        *lo = t->scale * (float)(-128 - t->zp);
        *hi = t->scale * (float)(127 - t->zp);
    }
}

int fr_cnn_argmax_f32(const float *x, size_t n) {
    int best = n ? 0 : -1;
    for (size_t k = 1; k < n; k++)
        if (x[k] > x[best])
            best = (int)k;
    return best;
}

void fr_cnn_topk_f32(const float *x, size_t n, int k, int *idx) {
    if (k < 0)
        k = 0;
    if ((size_t)k > n)
        k = (int)n;
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (size_t j = 0; j < n; j++) {
            int taken = 0;
            for (int q = 0; q < r; q++)
                if (idx[q] == (int)j)
                    taken = 1;
            if (!taken && (best < 0 || x[j] > x[best]))
                best = (int)j;
        }
        idx[r] = best;
    }
}
