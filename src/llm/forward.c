/* Contexts, the KV cache and the batched forward pass.
 *
 * A decode of n tokens runs in chunks of at most n_batch tokens; within a chunk every
 * weight matrix is streamed once (fr_matmul with N = chunk). The KV cache is f32: keys
 * transposed, [layer][kv head][head_dim][position], so that the score loop runs over
 * contiguous positions, values as rows, [layer][kv head][position][head_dim], so that the
 * weighted sum of values is a row update (vectorised for any head size). Attention is
 * parallelised over (block of FR_ATT_TOKENS tokens, kv head) pairs, the matmuls
 * by output rows inside fr_matmul; per-row ops run on the calling thread. No work is ever
 * split along a reduction, so results do not depend on the thread count. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kernels.h"
#include "core/pool.h"
#include "llm/model.h"
#include "llm/ops.h"

#define FR_MAX_THREADS 256
#define FR_MAX_CTX (1 << 24)
#define FR_MAX_BATCH 65536
/* When to use the pool: waking it costs a few microseconds, so small steps (tiny models,
 * single-token decoding) run on the calling thread. A matmul goes parallel from 2^16
 * multiply-adds if it streams at least 64 KiB of weights (memory-bound at N = 1), else
 * from 2^18; attention from 2^16 multiply-adds or 256 KiB of keys and values (a cache that
 * large comes from memory at N = 1 on a model whose weights stream through the caches; a tiny
 * model's cache stays in L2 and its attention is cheaper than a wake-up); row-wise ops from 2^18
 * weighted operations. Work is
 * split by output rows / heads only, so the results are the same either way. */
#define FR_PAR_MIN_WORK ((size_t)1 << 18)
#define FR_PAR_MIN_MACS ((size_t)1 << 16)
#define FR_PAR_MIN_BYTES ((size_t)1 << 16)
#define FR_PAR_MIN_KV_BYTES ((size_t)1 << 18)
/* Tokens per attention work item: their queries share each key and value load. */
#define FR_ATT_TOKENS 8

struct fr_context {
    const fr_model *model;
    int32_t n_ctx, n_threads, n_batch;
    fr_isa isa;
    fr_pool *pool;
    int32_t n_pos;       /* positions held in the cache */
    int32_t kv_cap;      /* positions per head in the caches: n_ctx rounded up to FR_KV_BLOCK */
    float *k_cache;      /* [n_layer][n_head_kv][kv_cap / FR_KV_BLOCK][head_dim][FR_KV_BLOCK] */
    float *v_cache;      /* [n_layer][n_head_kv][kv_cap][head_dim] */
    /* Activation scratch for n_batch tokens. */
    float *x;            /* [n_batch][n_embd] residual stream */
    float *xb;           /* [n_batch][n_embd] normed input / projection output */
    float *q;            /* [n_batch][n_head * head_dim] */
    float *k, *v;        /* [n_batch][n_head_kv * head_dim] */
    float *att;          /* [n_batch][n_head * head_dim] attention output */
    float *hb, *hb2;     /* [n_batch][n_ff] */
    float *scores;       /* [n_threads][FR_ATT_TOKENS * n_head / n_head_kv][n_ctx + FR_ATT_TOKENS] */
    float *rope_cs;      /* [rope_cap][n_rot]: cos/sin of positions 0..rope_n-1 (grown on demand) */
    int32_t rope_n, rope_cap;
    double *inv_freq;    /* [n_rot / 2] */
    void *mm_scratch;
    fr_op_attend_fn attend;
    fr_op_swiglu_fn swiglu;
    fr_op_rmsnorm_fn rmsnorm;
    fr_op_add_rmsnorm_fn add_rmsnorm;
    fr_op_rope_fn rope;
};

fr_context_params fr_context_default_params(void) {
    fr_context_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.n_threads = 0;
    p.n_batch = 512;
    p.kernel_isa = -1;
    return p;
}

static size_t max_sz(size_t a, size_t b) {
    return a > b ? a : b;
}

static size_t weight_scratch(const fr_llm_weight *w, int n) {
    return fr_matmul_scratch_bytes(w->type, w->cols, n);
}

void fr_context_free(fr_context *c) {
    if (!c)
        return;
    if (c->pool)
        fr_pool_free(c->pool);
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->hb);
    free(c->hb2);
    free(c->scores);
    free(c->rope_cs);
    free(c->inv_freq);
    free(c->mm_scratch);
    free(c);
}

/* malloc of a*b*elem bytes with overflow checks; NULL on overflow or failure. */
static void *alloc_array(size_t a, size_t b, size_t elem) {
    if (a == 0 || b == 0)
        a = b = 1;
    if (b > SIZE_MAX / a || elem > SIZE_MAX / (a * b))
        return NULL;
    return malloc(a * b * elem);
}

fr_status fr_context_create(const fr_model *m, const fr_context_params *params,
                            fr_context **out, fr_error *err) {
    if (!m || !out)
        return fr_fail(err, FR_E_ARG, "fr_context_create: NULL %s", m ? "out" : "model");
    *out = NULL;
    fr_context_params p = params ? *params : fr_context_default_params();
    const fr_llm_hparams *hp = &m->hp;
    if (p.n_ctx == 0)
        p.n_ctx = hp->n_ctx_train;
    if (p.n_ctx < 1 || p.n_ctx > FR_MAX_CTX)
        return fr_fail(err, FR_E_ARG, "n_ctx %d is outside [1, %d]", p.n_ctx, FR_MAX_CTX);
    if (p.n_threads == 0)
        p.n_threads = fr_cpu_count();
    if (p.n_threads < 1 || p.n_threads > FR_MAX_THREADS)
        return fr_fail(err, FR_E_ARG, "n_threads %d is outside [1, %d]", p.n_threads,
                       FR_MAX_THREADS);
    if (p.n_batch == 0)
        p.n_batch = 512;
    if (p.n_batch < 1 || p.n_batch > FR_MAX_BATCH)
        return fr_fail(err, FR_E_ARG, "n_batch %d is outside [1, %d]", p.n_batch, FR_MAX_BATCH);
    if (p.n_batch > p.n_ctx)
        p.n_batch = p.n_ctx;
    fr_isa isa;
    if (p.kernel_isa < 0) {
        isa = fr_isa_best();
    } else if (p.kernel_isa >= FR_ISA_COUNT) {
        return fr_fail(err, FR_E_ARG, "kernel_isa %d is not a known ISA", p.kernel_isa);
    } else {
        isa = (fr_isa)p.kernel_isa;
        if (!fr_isa_supported(isa))
            return fr_fail(err, FR_E_UNSUPPORTED, "kernel ISA %s is not supported by this CPU "
                           "or build", fr_isa_name(isa));
    }

    fr_context *c = calloc(1, sizeof *c);
    if (!c)
        return fr_fail(err, FR_E_NOMEM, "fr_context_create: out of memory");
    c->model = m;
    c->n_ctx = p.n_ctx;
    c->n_threads = p.n_threads;
    c->n_batch = p.n_batch;
    c->isa = isa;
    c->attend = fr_op_attend_for((int)isa);
    c->swiglu = fr_op_swiglu_for((int)isa);
    c->rmsnorm = fr_op_rmsnorm_for((int)isa);
    c->add_rmsnorm = fr_op_add_rmsnorm_for((int)isa);
    c->rope = fr_op_rope_for((int)isa);
    size_t B = (size_t)p.n_batch;
    size_t dq = (size_t)hp->n_head * (size_t)hp->head_dim;
    size_t dkv = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    c->kv_cap = (p.n_ctx + FR_KV_BLOCK - 1) / FR_KV_BLOCK * FR_KV_BLOCK;
    size_t cache_rows = (size_t)hp->n_layer * (size_t)c->kv_cap;
    c->k_cache = alloc_array(cache_rows, dkv, sizeof(float));
    c->v_cache = alloc_array(cache_rows, dkv, sizeof(float));
    c->x = alloc_array(B, (size_t)hp->n_embd, sizeof(float));
    c->xb = alloc_array(B, (size_t)hp->n_embd, sizeof(float));
    c->q = alloc_array(B, dq, sizeof(float));
    c->k = alloc_array(B, dkv, sizeof(float));
    c->v = alloc_array(B, dkv, sizeof(float));
    c->att = alloc_array(B, dq, sizeof(float));
    c->hb = alloc_array(B, (size_t)hp->n_ff, sizeof(float));
    c->hb2 = alloc_array(B, (size_t)hp->n_ff, sizeof(float));
    c->scores = alloc_array((size_t)p.n_threads * FR_ATT_TOKENS * (size_t)(hp->n_head / hp->n_head_kv),
                            (size_t)p.n_ctx + FR_ATT_TOKENS, sizeof(float));
    c->inv_freq = alloc_array((size_t)hp->n_rot / 2 + 1, 1, sizeof(double));
    size_t mm = weight_scratch(&m->output, p.n_batch);
    mm = max_sz(mm, weight_scratch(&m->tok_embd, 1));
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const fr_llm_layer *L = &m->layers[l];
        mm = max_sz(mm, weight_scratch(&L->wq, p.n_batch));
        mm = max_sz(mm, weight_scratch(&L->wk, p.n_batch));
        mm = max_sz(mm, weight_scratch(&L->wv, p.n_batch));
        mm = max_sz(mm, weight_scratch(&L->wo, p.n_batch));
        mm = max_sz(mm, weight_scratch(&L->w_gate, p.n_batch));
        mm = max_sz(mm, weight_scratch(&L->w_up, p.n_batch));
        mm = max_sz(mm, weight_scratch(&L->w_down, p.n_batch));
    }
    c->mm_scratch = malloc(mm > 0 ? mm : 1);
    if (!c->k_cache || !c->v_cache || !c->x || !c->xb || !c->q || !c->k || !c->v || !c->att ||
        !c->hb || !c->hb2 || !c->scores || !c->inv_freq || !c->mm_scratch) {
        fr_context_free(c);
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory for a context of %d positions",
                       m->path, p.n_ctx);
    }
    fr_op_rope_freqs(c->inv_freq, hp->n_rot, hp->rope_base);
    fr_status st = fr_pool_create(p.n_threads, &c->pool, err);
    if (st != FR_OK) {
        c->pool = NULL;
        fr_context_free(c);
        return st;
    }
    *out = c;
    return FR_OK;
}

int32_t fr_context_n_ctx(const fr_context *c) {
    return c->n_ctx;
}

int32_t fr_context_n_threads(const fr_context *c) {
    return c->n_threads;
}

int32_t fr_kv_n_pos(const fr_context *c) {
    return c->n_pos;
}

void fr_kv_truncate(fr_context *c, int32_t n_pos) {
    if (n_pos < 0)
        n_pos = 0;
    if (n_pos < c->n_pos)
        c->n_pos = n_pos;
}

/* ---- attention task ---- */

typedef struct attn_task {
    fr_context *c;
    int32_t layer;
    int32_t r0, n;   /* query rows r0..n-1 of the chunk */
    int32_t pos0;    /* position of row 0 */
    bool write_kv;   /* each item first stores its head's keys and values of the chunk */
} attn_task;

/* Offset of KV head h of a layer in both caches (each head holds kv_cap positions). */
static size_t kv_head_off(const fr_context *c, int32_t layer, int h) {
    const fr_llm_hparams *hp = &c->model->hp;
    return ((size_t)layer * (size_t)hp->n_head_kv + (size_t)h) * (size_t)c->kv_cap * (size_t)hp->head_dim;
}

/* Stores the keys and values of the chunk's n tokens (at positions pos0..) for KV head h of a
 * layer: keys into their blocks (ops.h: fr_key_index), values as rows. */
static void kv_store(fr_context *c, int32_t layer, int h, int n, int pos0) {
    const fr_llm_hparams *hp = &c->model->hp;
    const int hd = hp->head_dim;
    const size_t dkv = (size_t)hp->n_head_kv * (size_t)hd;
    const size_t head_off = kv_head_off(c, layer, h);
    float *kc = c->k_cache + head_off, *vc = c->v_cache + head_off;
    for (int i = 0; i < n; i++) {
        const float *ki = c->k + (size_t)i * dkv + (size_t)h * (size_t)hd;
        for (int d = 0; d < hd; d++)
            kc[fr_key_index(pos0 + i, d, hd)] = ki[d];
        memcpy(vc + (size_t)(pos0 + i) * (size_t)hd, c->v + (size_t)i * dkv + (size_t)h * (size_t)hd,
               sizeof(float) * (size_t)hd);
    }
}

static void attn_run(void *arg, int ith, int nth) {
    const attn_task *t = arg;
    fr_context *c = t->c;
    const fr_llm_hparams *hp = &c->model->hp;
    int hd = hp->head_dim, HKV = hp->n_head_kv, group = hp->n_head / hp->n_head_kv;
    size_t dq = (size_t)hp->n_head * (size_t)hd;
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = c->scores + (size_t)ith * ((size_t)c->n_ctx + FR_ATT_TOKENS) * FR_ATT_TOKENS * (size_t)group;
    int blocks = (t->n - t->r0 + FR_ATT_TOKENS - 1) / FR_ATT_TOKENS;
    int total = blocks * HKV;
    /* One item = up to FR_ATT_TOKENS tokens and one KV head with its group of query heads
     * (contiguous in q and att). Interleaved so that every thread gets short and long
     * queries. A query's result does not depend on the other queries of its item. */
    for (int idx = ith; idx < total; idx += nth) {
        int i = t->r0 + idx / HKV * FR_ATT_TOKENS, kvh = idx % HKV;
        int nt = t->n - i < FR_ATT_TOKENS ? t->n - i : FR_ATT_TOKENS;
        if (t->write_kv) /* one block of tokens: this item is the only reader of its head */
            kv_store(c, t->layer, kvh, t->n, t->pos0);
        size_t head_off = kv_head_off(c, t->layer, kvh);
        size_t qo = (size_t)i * dq + (size_t)kvh * (size_t)group * (size_t)hd;
        c->attend(c->q + qo, nt, group, dq, c->k_cache + head_off, c->v_cache + head_off,
                  t->pos0 + i + 1, hd, scale, scores, c->att + qo);
    }
}

/* ---- row-wise element ops, split over the pool by rows for large batches ---- */

typedef enum row_phase {
    PH_ATTN_NORM,       /* xb = rms(x) * attn_norm (the first layer) */
    PH_ROPE,            /* rope q and k */
    PH_FFN_NORM,        /* x += xb; xb = rms(x) * ffn_norm */
    PH_SWIGLU,          /* hb = silu(hb) * hb2 */
    PH_RESID_ATTN_NORM, /* x += xb; xb = rms(x) * attn_norm of the next layer (L) */
    PH_RESID_OUT_NORM   /* x += xb; xb = rms(x) * output_norm (the last layer) */
} row_phase;

typedef struct rows_task {
    fr_context *c;
    const fr_llm_layer *L;
    row_phase phase;
    int r0, n; /* rows r0..n-1 */
    int pos0;  /* position of row 0 */
} rows_task;

static void rows_run(void *arg, int ith, int nth) {
    const rows_task *t = arg;
    fr_context *c = t->c;
    const fr_llm_hparams *hp = &c->model->hp;
    const size_t D = (size_t)hp->n_embd, F = (size_t)hp->n_ff, R = (size_t)hp->n_rot;
    const size_t dq = (size_t)hp->n_head * (size_t)hp->head_dim;
    const size_t dkv = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    int rows = t->n - t->r0;
    int a = t->r0 + (int)((long long)rows * ith / nth);
    int b = t->r0 + (int)((long long)rows * (ith + 1) / nth);
    for (int i = a; i < b; i++) {
        float *x = c->x + (size_t)i * D, *xb = c->xb + (size_t)i * D;
        switch (t->phase) {
        case PH_ATTN_NORM:
            c->rmsnorm(xb, x, t->L->attn_norm, (int)D, hp->rms_eps);
            break;
        case PH_ROPE:
            c->rope(c->q + (size_t)i * dq, hp->n_head, hp->head_dim, (int)R,
                    c->rope_cs + (size_t)(t->pos0 + i) * R);
            c->rope(c->k + (size_t)i * dkv, hp->n_head_kv, hp->head_dim, (int)R,
                    c->rope_cs + (size_t)(t->pos0 + i) * R);
            break;
        case PH_FFN_NORM:
            c->add_rmsnorm(xb, x, xb, t->L->ffn_norm, (int)D, hp->rms_eps);
            break;
        case PH_RESID_ATTN_NORM:
            c->add_rmsnorm(xb, x, xb, t->L->attn_norm, (int)D, hp->rms_eps);
            break;
        case PH_SWIGLU:
            c->swiglu(c->hb + (size_t)i * F, c->hb2 + (size_t)i * F, (int)F);
            break;
        case PH_RESID_OUT_NORM:
            c->add_rmsnorm(xb, x, xb, c->model->output_norm, (int)D, hp->rms_eps);
            break;
        }
    }
}

/* Runs a row phase on rows r0..n-1; on the pool only when there is enough work. */
static void rows(fr_context *c, const fr_llm_layer *L, row_phase phase, int r0, int n, int pos0,
                 size_t row_elems) {
    rows_task t = {c, L, phase, r0, n, pos0};
    /* element ops cost several flops each: weigh them 8x against multiply-adds */
    if ((size_t)(n - r0) * row_elems * 8 < FR_PAR_MIN_WORK)
        rows_run(&t, 0, 1);
    else
        fr_pool_run(c->pool, rows_run, &t);
}

static bool use_pool(size_t macs, size_t bytes) {
    return macs >= FR_PAR_MIN_WORK || (macs >= FR_PAR_MIN_MACS && bytes >= FR_PAR_MIN_BYTES);
}

/* The job of w: with the packed Q8_0 x16 form where the model has one (it serves the AVX-512
 * kernels). */
static fr_matmul_job job_of(const fr_llm_weight *w, float *Y) {
    return (fr_matmul_job){w->data, w->rows, Y, w->data_x16};
}

static void matmul(fr_context *c, const fr_llm_weight *w, const float *X, int n, float *Y) {
    size_t macs = (size_t)w->rows * (size_t)w->cols * (size_t)n;
    size_t bytes = (size_t)w->rows * w->row_bytes;
    fr_matmul_job job = job_of(w, Y);
    fr_matmul_multi(c->isa, w->type, &job, 1, w->cols, X, n, c->mm_scratch,
                    use_pool(macs, bytes) ? c->pool : NULL);
}

/* nw matmuls sharing the input X (Q/K/V, gate/up): one fr_matmul_multi (X prepared once,
 * one pool dispatch) when the weights have the same type, else one call each. */
static void matmul_shared(fr_context *c, const fr_llm_weight *const *w, float *const *Y, int nw,
                          const float *X, int n) {
    fr_matmul_job jobs[FR_MATMUL_MAX_JOBS];
    size_t macs = 0, bytes = 0;
    for (int j = 0; j < nw; j++) {
        if (w[j]->type != w[0]->type || w[j]->cols != w[0]->cols) {
            for (int i = 0; i < nw; i++)
                matmul(c, w[i], X, n, Y[i]);
            return;
        }
        jobs[j] = job_of(w[j], Y[j]);
        macs += (size_t)w[j]->rows * (size_t)w[j]->cols * (size_t)n;
        bytes += (size_t)w[j]->rows * w[j]->row_bytes;
    }
    fr_matmul_multi(c->isa, w[0]->type, jobs, nw, w[0]->cols, X, n, c->mm_scratch,
                    use_pool(macs, bytes) ? c->pool : NULL);
}

/* One chunk of n <= n_batch tokens at positions pos0.. (already validated). logits: NULL,
 * n rows (all), or one row for the chunk's last token. In the last layer only the rows
 * whose logits are wanted go past the KV-cache write (none when logits is NULL). */
static void forward_chunk(fr_context *c, const int32_t *tokens, int n, int pos0, float *logits,
                          bool all_logits) {
    const fr_model *m = c->model;
    const fr_llm_hparams *hp = &m->hp;
    const int D = hp->n_embd, hd = hp->head_dim, F = hp->n_ff;
    const size_t dq = (size_t)hp->n_head * (size_t)hd;
    const size_t dkv = (size_t)hp->n_head_kv * (size_t)hd;
    for (int i = 0; i < n; i++)
        fr_llm_embed(m, tokens[i], c->x + (size_t)i * (size_t)D);
    /* n_layer >= 1 (checked at load); each layer ends with its residual add fused with the
     * next RMSNorm (the next layer's, or the output norm of the rows whose logits are kept) */
    rows(c, &m->layers[0], PH_ATTN_NORM, 0, n, pos0, (size_t)D);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const fr_llm_layer *L = &m->layers[l];
        const fr_llm_weight *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *const qkv_out[3] = {c->q, c->k, c->v};
        matmul_shared(c, qkv, qkv_out, 3, c->xb, n);
        rows(c, L, PH_ROPE, 0, n, pos0, dq + dkv);
        int r0 = 0;
        if (l == hp->n_layer - 1)
            r0 = !logits ? n : all_logits ? 0 : n - 1;
        /* The new keys and values go into the cache here, or, when the attention is one block
         * of tokens (decoding, short drafts), inside each head's attention item: in parallel,
         * and the cache lines written are the ones that item reads next. */
        const bool kv_in_attn = r0 < n && n <= FR_ATT_TOKENS;
        if (!kv_in_attn)
            for (int h = 0; h < hp->n_head_kv; h++)
                kv_store(c, l, h, n, pos0);
        if (r0 == n)
            break;
        const int nr = n - r0;
        attn_task at = {c, l, r0, n, pos0, kv_in_attn};
        size_t attn_work = (size_t)nr * (size_t)hp->n_head * (size_t)(pos0 + n) * (size_t)hd;
        size_t kv_bytes = 2 * sizeof(float) * (size_t)(pos0 + n) * dkv;
        if (attn_work < FR_PAR_MIN_MACS && kv_bytes < FR_PAR_MIN_KV_BYTES)
            attn_run(&at, 0, 1);
        else
            fr_pool_run(c->pool, attn_run, &at);
        matmul(c, &L->wo, c->att + (size_t)r0 * dq, nr, c->xb + (size_t)r0 * (size_t)D);
        rows(c, L, PH_FFN_NORM, r0, n, pos0, (size_t)D);
        const fr_llm_weight *gu[2] = {&L->w_gate, &L->w_up};
        float *const gu_out[2] = {c->hb + (size_t)r0 * (size_t)F, c->hb2 + (size_t)r0 * (size_t)F};
        matmul_shared(c, gu, gu_out, 2, c->xb + (size_t)r0 * (size_t)D, nr);
        rows(c, L, PH_SWIGLU, r0, n, pos0, (size_t)F);
        matmul(c, &L->w_down, c->hb + (size_t)r0 * (size_t)F, nr, c->xb + (size_t)r0 * (size_t)D);
        if (l + 1 < hp->n_layer)
            rows(c, &m->layers[l + 1], PH_RESID_ATTN_NORM, r0, n, pos0, (size_t)D);
        else
            rows(c, NULL, PH_RESID_OUT_NORM, r0, n, pos0, (size_t)D);
    }
    if (!logits)
        return;
    int first = all_logits ? 0 : n - 1; /* = r0 of the last layer */
    matmul(c, &m->output, c->xb + (size_t)first * (size_t)D, n - first, logits);
}

/* Extends the RoPE table to cover positions 0..n_pos-1 (n_pos <= n_ctx): the cos/sin of a
 * position are computed once per context instead of once per pass (the same values). The
 * table grows by doubling, so a context never pays for positions it does not reach. */
static fr_status rope_grow(fr_context *c, int32_t n_pos) {
    const int R = c->model->hp.n_rot;
    if (n_pos > c->rope_cap) {
        int32_t cap = c->rope_cap < 64 ? 64 : c->rope_cap;
        while (cap < n_pos)
            cap = cap > c->n_ctx / 2 ? c->n_ctx : 2 * cap;
        if (cap > c->n_ctx)
            cap = c->n_ctx;
        float *t = realloc(c->rope_cs, sizeof(float) * (size_t)cap * (size_t)(R > 0 ? R : 1));
        if (!t)
            return FR_E_NOMEM;
        c->rope_cs = t;
        c->rope_cap = cap;
    }
    for (int32_t p = c->rope_n; p < n_pos; p++)
        fr_op_rope_table(c->rope_cs + (size_t)p * (size_t)R, p, c->inv_freq, R);
    c->rope_n = n_pos;
    return FR_OK;
}

fr_status fr_decode(fr_context *c, const int32_t *tokens, int32_t n, int32_t pos,
                    float *logits, bool all_logits, fr_error *err) {
    if (!c || !tokens)
        return fr_fail(err, FR_E_ARG, "fr_decode: NULL %s", c ? "tokens" : "context");
    if (n < 1)
        return fr_fail(err, FR_E_ARG, "fr_decode: token count %d must be at least 1", n);
    if (pos < 0)
        return fr_fail(err, FR_E_ARG, "fr_decode: position %d is negative", pos);
    if (pos > c->n_pos)
        return fr_fail(err, FR_E_ARG, "fr_decode: position %d leaves a gap after the %d "
                       "cached positions", pos, c->n_pos);
    if (n > c->n_ctx || pos > c->n_ctx - n)
        return fr_fail(err, FR_E_RANGE, "fr_decode: positions %d..%lld exceed the context "
                       "size %d", pos, (long long)pos + n - 1, c->n_ctx);
    int32_t n_vocab = c->model->hp.n_vocab;
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return fr_fail(err, FR_E_ARG, "fr_decode: token %d (id %d) is outside the "
                           "vocabulary [0, %d)", i, tokens[i], n_vocab);
    if (pos + n > c->rope_n && rope_grow(c, pos + n) != FR_OK)
        return fr_fail(err, FR_E_NOMEM, "fr_decode: out of memory for the RoPE table of %d "
                       "positions", pos + n);
    c->n_pos = pos;
    for (int32_t done = 0; done < n;) {
        int32_t chunk = n - done < c->n_batch ? n - done : c->n_batch;
        bool last = done + chunk == n;
        float *lg = NULL;
        if (logits && all_logits)
            lg = logits + (size_t)done * (size_t)n_vocab;
        else if (logits && last)
            lg = logits;
        forward_chunk(c, tokens + done, chunk, pos + done, lg, all_logits);
        done += chunk;
        c->n_pos = pos + done;
    }
    return FR_OK;
}
