/* TREC inside the CNN interpreter: the fr_cnn_reuse provider of frugal_trec.h. */
#include <stdio.h>
#include <string.h>

#include "cnn/model.h"
#include "core/error.h"
#include "frugal_trec.h"
#include "reuse/trec.h"

typedef struct trec_op {
    fr_trec_params params;
    int K;
    int s8;
    fr_cnn_trec_info info;
} trec_op;

static fr_status trec_prepare(void *ctx, fr_cnn_model *m, void *state, uint8_t *use,
                              size_t *scratch, fr_error *err) {
    const fr_cnn_trec *t = ctx;
    size_t sb = (sizeof(trec_op) + 15) & ~(size_t)15;
    for (int i = 0; i < t->n_layers; i++) {
        fr_trec_layer L;
        fr_status st = fr_trec_file_layer(t->buf, t->len, i, &L, err);
        if (st)
            return st;
        int k = L.op_index;
        if (k < 0 || k >= m->n_ops)
            return fr_fail(err, FR_E_FORMAT,
                           "%s: layer %d: op index %d out of range (%s has %d operators)",
                           t->name, i, k, m->fb.name, (int)m->n_ops);
        fr_cnn_node *op = &m->ops[k];
        if (op->kind != FR_CNN_K_CONV_S8 && op->kind != FR_CNN_K_CONV_F32)
            return fr_fail(err, FR_E_FORMAT, "%s: op %d of %s is %s, not a CONV_2D", t->name,
                           k, m->fb.name, fr_tfl_op_name(op->code));
        const fr_cnn_geom *g = &op->geom;
        int64_t K = (int64_t)g->k_h * g->k_w * g->in_c;
        if ((int64_t)L.K != K)
            return fr_fail(err, FR_E_FORMAT,
                           "%s: op %d: K = %d, but the CONV_2D has K = %dx%dx%d = %s",
                           t->name, k, L.K, g->k_h, g->k_w, g->in_c, FR_SNUM(K));
        if (L.params.pixel && (int64_t)L.params.sub_len * L.channel_groups != g->in_c)
            return fr_fail(err, FR_E_FORMAT,
                           "%s: op %d: pixel mode with sub_len %d x %d channel groups, but the "
                           "CONV_2D has %d input channels",
                           t->name, k, L.params.sub_len, L.channel_groups, g->in_c);
        int s8 = op->kind == FR_CNN_K_CONV_S8;
        if (s8 ? !L.params.proj_s8 : !L.params.proj_f32)
            return fr_fail(err, FR_E_FORMAT,
                           "%s: op %d: the CONV_2D is %s but the sidecar has no %s projections",
                           t->name, k, s8 ? "int8" : "float", s8 ? "int8" : "float");
        char opname[96];
        snprintf(opname, sizeof opname, "%s: op %d", t->name, k);
        if ((st = fr_trec_check(&L.params, g, s8, opname, err)))
            return st;
        trec_op *s = (trec_op *)((uint8_t *)state + (size_t)k * sb);
        s->params = L.params;
        s->K = L.K;
        s->s8 = s8;
        s->info.enabled = 1;
        s->info.sub_len = L.params.sub_len;
        s->info.hash_bits = L.params.hash_bits;
        s->info.n_sub = fr_trec_num_sub(L.K, L.params.sub_len);
        s->info.K = L.K;
        s->info.pixel = L.params.pixel != 0;
        s->info.channel_groups = L.channel_groups > 0 ? L.channel_groups : 1;
        scratch[k] = s8 ? fr_trec_conv_s8_scratch_bytes(&L.params, g)
                        : fr_trec_conv_f32_scratch_bytes(&L.params, g);
        use[k] = 1;
    }
    return FR_OK;
}

/* Float layers keep their filter t-major in the persistent arena (trec.h,
 * fr_trec_params.filter_t): the fast path then reads it instead of transposing the filter
 * into its scratch at every invoke. int8 layers keep their taps' packed slices there only
 * where the AVX-512 VNNI pixel-mode kernel reads them (fr_trec_taps_s8_bytes: x86), not
 * on a microcontroller, whose arena does not grow; elsewhere the slices are packed per
 * sub-vector at every call. */
static size_t trec_persist_bytes(void *ctx, const fr_cnn_model *m, int i, const void *state) {
    (void)ctx;
    const trec_op *s = state;
    if (s->s8) return fr_trec_taps_s8_bytes(m->isa, &s->params, &m->ops[i].geom);
    return (size_t)s->K * (size_t)m->ops[i].geom.out_c * sizeof(float);
}

static void trec_bind(void *ctx, fr_cnn_model *m, int i, void *state, void *mem,
                      size_t *scratch) {
    (void)ctx;
    trec_op *s = state;
    const fr_cnn_node *op = &m->ops[i];
    if (s->s8) { /* the scratch stays as prepared */
        fr_trec_taps_s8_pack(m->isa, &s->params, &op->geom, op->weights, mem);
        s->params.taps_s8 = mem;
        return;
    }
    fr_trec_filter_t_f32(op->weights, s->K, op->geom.out_c, mem);
    s->params.filter_t = mem;
    *scratch = fr_trec_conv_f32_scratch_bytes(&s->params, &op->geom);
}

static void trec_run(void *ctx, fr_cnn_model *m, int i, void *state, void *scratch) {
    (void)ctx;
    trec_op *s = state;
    fr_cnn_node *op = &m->ops[i];
    const void *x = m->tensors[op->in[0]].data;
    void *y = m->tensors[op->out[0]].data;
    fr_trec_stats st;
    memset(&st, 0, sizeof st);
    if (s->s8)
        fr_trec_conv_s8(m->isa, &s->params, &op->geom, &op->rq, x, op->weights, op->bias, y,
                        scratch, &st);
    else
        fr_trec_conv_f32(m->isa, &s->params, &op->geom, op->range, x, op->weights, op->bias,
                         y, scratch, &st);
    fr_cnn_trec_info *f = &s->info;
    f->rows = st.rows;
    f->clusters = st.clusters;
    f->macs_dense = st.macs_dense;
    f->macs_reuse = st.macs_reuse;
    f->macs_hash = st.macs_hash;
    f->invokes++;
    f->total_rows += st.rows;
    f->total_clusters += st.clusters;
    f->total_macs_dense += st.macs_dense;
    f->total_macs_reuse += st.macs_reuse;
    f->total_macs_hash += st.macs_hash;
}

fr_status fr_cnn_trec_init(fr_cnn_trec *t, const void *buf, size_t len, const char *name,
                           fr_error *err) {
    if (!name)
        name = "sidecar";
    if (!t)
        return fr_fail(err, FR_E_ARG, "%s: NULL TREC handle", name);
    memset(t, 0, sizeof *t);
    int n = 0;
    fr_status st = fr_trec_file_open(buf, len, name, &n, err);
    if (st)
        return st;
    t->buf = buf;
    t->len = len;
    t->name = name;
    t->n_layers = n;
    t->reuse.ctx = t;
    t->reuse.state_bytes = sizeof(trec_op);
    t->reuse.prepare = trec_prepare;
    t->reuse.run = trec_run;
    t->reuse.persist_bytes = trec_persist_bytes;
    t->reuse.bind = trec_bind;
    return FR_OK;
}

fr_status fr_cnn_trec_op_info(const fr_cnn_model *m, int op, fr_cnn_trec_info *info,
                              fr_error *err) {
    if (!m || !info || op < 0 || op >= m->n_ops)
        return fr_fail(err, FR_E_ARG, "cnn: op index %d out of range", op);
    memset(info, 0, sizeof *info);
    if (!m->reuse || m->reuse->run != trec_run || !m->reuse_use[op])
        return FR_OK;
    size_t sb = (m->reuse->state_bytes + 15) & ~(size_t)15;
    *info = ((const trec_op *)(const void *)(m->reuse_state + (size_t)op * sb))->info;
    return FR_OK;
}
