/* Loading a GGUF "llama" model: read the hyper-parameters, find every tensor, check its
 * type and exact shape once, keep pointers into the read-only mapping. */
#include "llm/model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "core/kernels.h"

fr_model_params fr_model_default_params(void) {
    fr_model_params p;
    memset(&p, 0, sizeof p);
    p.require_vocab = false;
    return p;
}

/* Reads an integer key into *out when present (keeping the default otherwise) and checks
 * it lies in [lo, hi]. `required` makes an absent key an error. */
static fr_status get_int(const fr_gguf *g, const char *path, const char *key, bool required,
                         int64_t lo, int64_t hi, int32_t *out, fr_error *err) {
    if (fr_gguf_find_key(g, key) < 0) {
        if (required)
            return fr_fail(err, FR_E_FORMAT, "%s: missing key '%s'", path, key);
        return FR_OK;
    }
    int64_t v = 0;
    fr_status st = fr_gguf_get_i64(g, key, &v, err);
    if (st != FR_OK)
        return st;
    if (v < lo || v > hi)
        return fr_fail(err, FR_E_FORMAT, "%s: key '%s' = %" PRId64 " is outside [%" PRId64
                       ", %" PRId64 "]", path, key, v, lo, hi);
    *out = (int32_t)v;
    return FR_OK;
}

static fr_status get_float(const fr_gguf *g, const char *path, const char *key, float lo,
                           float hi, float *out, fr_error *err) {
    if (fr_gguf_find_key(g, key) < 0)
        return FR_OK;
    float v = 0;
    fr_status st = fr_gguf_get_f32(g, key, &v, err);
    if (st != FR_OK)
        return st;
    if (!(v >= lo && v <= hi))
        return fr_fail(err, FR_E_FORMAT, "%s: key '%s' = %g is outside [%g, %g]", path, key,
                       (double)v, (double)lo, (double)hi);
    *out = v;
    return FR_OK;
}

static fr_status get_weight(fr_model *m, const char *name, int32_t cols, int32_t rows,
                            fr_llm_weight *w, fr_error *err) {
    const fr_gguf_tensor *t = fr_gguf_find_tensor(m->gguf, name);
    if (!t)
        return fr_fail(err, FR_E_FORMAT, "%s: missing tensor '%s'", m->path, name);
    if (!fr_type_valid(t->type))
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor '%s' has unsupported type %" PRIu32
                       " (frugal reads f32, f16, q8_0, q4_0)", m->path, name, t->type);
    if (t->ne[0] != (uint64_t)cols || t->ne[1] != (uint64_t)rows || t->ne[2] != 1 ||
        t->ne[3] != 1)
        return fr_fail(err, FR_E_FORMAT, "%s: tensor '%s' has shape [%" PRIu64 ", %" PRIu64
                       ", %" PRIu64 ", %" PRIu64 "], expected [%d, %d]", m->path, name,
                       t->ne[0], t->ne[1], t->ne[2], t->ne[3], cols, rows);
    fr_type type = (fr_type)t->type;
    size_t be = fr_type_block_elems(type);
    if (be == 0 || cols % (int32_t)be != 0)
        return fr_fail(err, FR_E_FORMAT, "%s: tensor '%s' (%s) has rows of %d elements, not a "
                       "multiple of the block size %zu", m->path, name, fr_type_name(type), cols,
                       be);
    size_t row_bytes = fr_type_row_bytes(type, (size_t)cols);
    if (t->size < row_bytes * (size_t)rows)
        return fr_fail(err, FR_E_FORMAT, "%s: tensor '%s' holds %" PRIu64 " bytes, needs %zu",
                       m->path, name, t->size, row_bytes * (size_t)rows);
    size_t align = type == FR_TYPE_F32 ? 4 : type == FR_TYPE_F16 ? 2 : 1;
    if ((uintptr_t)t->data % align != 0)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: tensor '%s' data is not %zu-byte aligned",
                       m->path, name, align);
    w->type = type;
    w->data = t->data;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = row_bytes;
    m->n_params += (uint64_t)rows * (uint64_t)cols;
    m->n_bytes += row_bytes * (size_t)rows;
    return FR_OK;
}

static fr_status get_norm(fr_model *m, const char *name, float **out, fr_error *err) {
    const fr_gguf_tensor *t = fr_gguf_find_tensor(m->gguf, name);
    int32_t n = m->hp.n_embd;
    if (!t)
        return fr_fail(err, FR_E_FORMAT, "%s: missing tensor '%s'", m->path, name);
    if (t->type != FR_TYPE_F32)
        return fr_fail(err, FR_E_FORMAT, "%s: norm tensor '%s' has type %s, expected f32",
                       m->path, name, fr_type_name(t->type));
    if (t->ne[0] != (uint64_t)n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1)
        return fr_fail(err, FR_E_FORMAT, "%s: tensor '%s' has shape [%" PRIu64 ", %" PRIu64
                       "], expected [%d]", m->path, name, t->ne[0], t->ne[1], n);
    if (t->size < sizeof(float) * (size_t)n)
        return fr_fail(err, FR_E_FORMAT, "%s: tensor '%s' is truncated", m->path, name);
    float *p = malloc(sizeof(float) * (size_t)n);
    if (!p)
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory", m->path);
    memcpy(p, t->data, sizeof(float) * (size_t)n);
    *out = p;
    m->n_params += (uint64_t)n;
    m->n_bytes += sizeof(float) * (size_t)n;
    return FR_OK;
}

static fr_status read_hparams(fr_model *m, fr_error *err) {
    const fr_gguf *g = m->gguf;
    const char *path = m->path;
    fr_llm_hparams *hp = &m->hp;
    fr_gguf_str arch;
    fr_status st;
    if (fr_gguf_find_key(g, "general.architecture") < 0)
        return fr_fail(err, FR_E_FORMAT, "%s: missing key 'general.architecture'", path);
    if ((st = fr_gguf_get_str(g, "general.architecture", &arch, err)) != FR_OK)
        return st;
    if (!fr_gguf_str_eq(arch, "llama")) {
        int n = arch.len > 64 ? 64 : (int)arch.len;
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: architecture '%.*s' is not supported "
                       "(only 'llama')", path, n, arch.ptr);
    }
    hp->n_ctx_train = 0;
    if ((st = get_int(g, path, "llama.context_length", true, 1, 1 << 24, &hp->n_ctx_train,
                      err)) ||
        (st = get_int(g, path, "llama.embedding_length", true, 1, 1 << 16, &hp->n_embd, err)) ||
        (st = get_int(g, path, "llama.block_count", true, 1, 4096, &hp->n_layer, err)) ||
        (st = get_int(g, path, "llama.feed_forward_length", true, 1, 1 << 20, &hp->n_ff, err)) ||
        (st = get_int(g, path, "llama.attention.head_count", true, 1, 4096, &hp->n_head, err)))
        return st;
    hp->n_head_kv = hp->n_head;
    if ((st = get_int(g, path, "llama.attention.head_count_kv", false, 1, 4096, &hp->n_head_kv,
                      err)))
        return st;
    if (hp->n_embd % hp->n_head != 0)
        return fr_fail(err, FR_E_FORMAT, "%s: llama.embedding_length %d is not a multiple of "
                       "llama.attention.head_count %d", path, hp->n_embd, hp->n_head);
    if (hp->n_head % hp->n_head_kv != 0)
        return fr_fail(err, FR_E_FORMAT, "%s: llama.attention.head_count %d is not a multiple "
                       "of llama.attention.head_count_kv %d", path, hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->n_rot = hp->head_dim;
    if ((st = get_int(g, path, "llama.rope.dimension_count", false, 0, 1 << 16, &hp->n_rot,
                      err)))
        return st;
    if (hp->n_rot % 2 != 0 || hp->n_rot > hp->head_dim)
        return fr_fail(err, FR_E_FORMAT, "%s: llama.rope.dimension_count %d must be even and "
                       "at most the head size %d", path, hp->n_rot, hp->head_dim);
    hp->rope_base = 10000.0f;
    hp->rms_eps = 1e-5f;
    if ((st = get_float(g, path, "llama.rope.freq_base", 1e-3f, 1e12f, &hp->rope_base, err)) ||
        (st = get_float(g, path, "llama.attention.layer_norm_rms_epsilon", 0.0f, 1.0f,
                        &hp->rms_eps, err)))
        return st;
    return FR_OK;
}

static fr_status load_tensors(fr_model *m, fr_error *err) {
    fr_llm_hparams *hp = &m->hp;
    const fr_gguf_tensor *te = fr_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te)
        return fr_fail(err, FR_E_FORMAT, "%s: missing tensor 'token_embd.weight'", m->path);
    if (te->ne[1] < 1 || te->ne[1] > (1u << 24))
        return fr_fail(err, FR_E_FORMAT, "%s: tensor 'token_embd.weight' has %" PRIu64
                       " rows (vocabulary size out of range)", m->path, te->ne[1]);
    hp->n_vocab = (int32_t)te->ne[1];
    int32_t vocab_key = hp->n_vocab;
    fr_status st;
    if ((st = get_int(m->gguf, m->path, "llama.vocab_size", false, 1, 1 << 24, &vocab_key, err)))
        return st;
    if (vocab_key != hp->n_vocab)
        return fr_fail(err, FR_E_FORMAT, "%s: llama.vocab_size %d differs from the %d rows of "
                       "'token_embd.weight'", m->path, vocab_key, hp->n_vocab);
    if ((st = get_weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd, err)))
        return st;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers)
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory", m->path);
    int32_t dq = hp->n_head * hp->head_dim, dkv = hp->n_head_kv * hp->head_dim;
    char name[96];
    for (int32_t l = 0; l < hp->n_layer; l++) {
        fr_llm_layer *L = &m->layers[l];
#define FR_W(field, suffix, cols, rows)                                                   \
    snprintf(name, sizeof name, "blk.%d." suffix ".weight", (int)l);                     \
    if ((st = get_weight(m, name, (cols), (rows), &L->field, err)) != FR_OK)              \
        return st;
        FR_W(wq, "attn_q", hp->n_embd, dq)
        FR_W(wk, "attn_k", hp->n_embd, dkv)
        FR_W(wv, "attn_v", hp->n_embd, dkv)
        FR_W(wo, "attn_output", dq, hp->n_embd)
        FR_W(w_gate, "ffn_gate", hp->n_embd, hp->n_ff)
        FR_W(w_up, "ffn_up", hp->n_embd, hp->n_ff)
        FR_W(w_down, "ffn_down", hp->n_ff, hp->n_embd)
#undef FR_W
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", (int)l);
        if ((st = get_norm(m, name, &L->attn_norm, err)) != FR_OK)
            return st;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", (int)l);
        if ((st = get_norm(m, name, &L->ffn_norm, err)) != FR_OK)
            return st;
    }
    if ((st = get_norm(m, "output_norm.weight", &m->output_norm, err)) != FR_OK)
        return st;
    if (fr_gguf_find_tensor(m->gguf, "output.weight")) {
        if ((st = get_weight(m, "output.weight", hp->n_embd, hp->n_vocab, &m->output, err)))
            return st;
        m->tied = false;
    } else {
        m->output = m->tok_embd;
        m->tied = true;
    }
    return FR_OK;
}

/* Gives the whole pages inside [p, p + n) of the read-only file mapping back to the kernel:
 * they are not needed while the packed form serves the matmuls, and read in again from the
 * file if a context of another ISA (or the embedding lookup) touches them. */
static void drop_pages(const void *p, size_t n) {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0)
        return;
    uintptr_t lo = ((uintptr_t)p + (uintptr_t)ps - 1) & ~((uintptr_t)ps - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~((uintptr_t)ps - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice only: failure is harmless */
}

/* Models whose packed weights would exceed this many bytes are not packed (0: never pack, for
 * A/B measurements). Every batch size uses the packed form: from cache the x16 kernels are 2-3x
 * faster than the row tiles on the GGUF layout, and streamed from memory (the 110M shape) they
 * decode 1.2x faster at 2 threads and as fast at 1 (docs/kernels.md). */
#ifndef FR_X16_MAX_BYTES
#define FR_X16_MAX_BYTES SIZE_MAX
#endif

/* The matrices the matmuls read: layer l's seven (l < n_layer), or the output matrix
 * (l == n_layer). Returns their count. */
static int matmul_weights(fr_model *m, int32_t l, fr_llm_weight *ws[7]) {
    if (l == m->hp.n_layer) {
        ws[0] = &m->output;
        return 1;
    }
    fr_llm_layer *L = &m->layers[l];
    fr_llm_weight *lw[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    memcpy(ws, lw, sizeof lw);
    return 7;
}

/* When the best kernels are AVX-512, every Q8_0 matrix the matmuls read (all of a layer's and
 * the output matrix) is packed into the Q8_0 x16 form in one owned allocation, and the mapped
 * originals are dropped from memory (all but a tied output matrix, which is also the embedding
 * table); they stay valid for contexts of other ISAs. Pass 0 sizes the allocation, pass 1
 * packs. Without the memory for it the model keeps the GGUF layout: packing is only faster. */
static void pack_x16(fr_model *m) {
    if (fr_isa_best() != FR_ISA_AVX512)
        return;
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint8_t *dst = m->x16_mem;
        for (int32_t l = 0; l <= m->hp.n_layer; l++) {
            fr_llm_weight *ws[7];
            int nw = matmul_weights(m, l, ws);
            for (int i = 0; i < nw; i++) {
                fr_llm_weight *w = ws[i];
                if (w->type != FR_TYPE_Q8_0)
                    continue;
                size_t bytes = fr_q8x16_bytes(w->rows, w->cols);
                if (pass == 0) {
                    total += bytes;
                    continue;
                }
                fr_q8x16_pack(w->data, w->rows, w->cols, dst);
                w->data_x16 = dst;
                dst += bytes;
                if (w != &m->output || !m->tied)
                    drop_pages(w->data, w->row_bytes * (size_t)w->rows);
            }
        }
        if (pass == 0) {
            if (total == 0 || total > FR_X16_MAX_BYTES)
                return;
            m->x16_mem = aligned_alloc(64, total); /* total is a multiple of 64 */
            if (!m->x16_mem)
                return;
        }
    }
}

static fr_status load_vocab(fr_model *m, const fr_model_params *p, fr_error *err) {
    if (fr_gguf_find_key(m->gguf, "tokenizer.ggml.tokens") < 0 &&
        fr_gguf_find_key(m->gguf, "tokenizer.ggml.model") < 0) {
        if (p->require_vocab)
            return fr_fail(err, FR_E_FORMAT, "%s: no tokenizer (missing key "
                           "'tokenizer.ggml.tokens')", m->path);
        return FR_OK;
    }
    fr_status st = fr_vocab_load(m->gguf, &m->vocab, err);
    if (st != FR_OK)
        return st;
    int32_t nt = fr_vocab_n_tokens(m->vocab);
    if (nt != m->hp.n_vocab)
        return fr_fail(err, FR_E_FORMAT, "%s: the tokenizer has %d tokens but "
                       "'token_embd.weight' has %d rows", m->path, nt, m->hp.n_vocab);
    return FR_OK;
}

/* The loading of a model from an open container: g (owned from here on, closed on failure)
 * and name, the file's name for messages. */
static fr_status load_from(fr_gguf *g, const char *name, const fr_model_params *params,
                           fr_model **out, fr_error *err) {
    *out = NULL;
    fr_model_params defaults = fr_model_default_params();
    if (!params)
        params = &defaults;
    fr_model *m = calloc(1, sizeof *m);
    size_t plen = strlen(name);
    char *path = m ? malloc(plen + 1) : NULL;
    if (!path) {
        free(m);
        fr_gguf_close(g);
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory", name);
    }
    memcpy(path, name, plen + 1);
    m->path = path;
    m->gguf = g;
    fr_status st = read_hparams(m, err);
    if (st == FR_OK)
        st = load_tensors(m, err);
    if (st == FR_OK)
        st = load_vocab(m, params, err);
    if (st != FR_OK) {
        fr_model_free(m);
        return st;
    }
    pack_x16(m);
    *out = m;
    return FR_OK;
}

fr_status fr_model_load(const char *path, const fr_model_params *params, fr_model **out,
                        fr_error *err) {
    if (!path || !out)
        return fr_fail(err, FR_E_ARG, "fr_model_load: NULL %s", path ? "out" : "path");
    *out = NULL;
    fr_gguf *g = NULL;
    fr_status st = fr_gguf_open(path, &g, err);
    if (st != FR_OK)
        return st;
    return load_from(g, path, params, out, err);
}

fr_status fr_model_load_buffer(const void *data, size_t size, const char *name,
                               const fr_model_params *params, fr_model **out, fr_error *err) {
    if (!data || !name || !out)
        return fr_fail(err, FR_E_ARG, "fr_model_load_buffer: NULL %s",
                       !data ? "data" : !name ? "name" : "out");
    *out = NULL;
    fr_gguf *g = NULL;
    fr_status st = fr_gguf_open_buffer(data, size, name, &g, err);
    if (st != FR_OK)
        return st;
    return load_from(g, name, params, out, err);
}

void fr_model_free(fr_model *m) {
    if (!m)
        return;
    if (m->layers) {
        for (int32_t l = 0; l < m->hp.n_layer; l++) {
            free(m->layers[l].attn_norm);
            free(m->layers[l].ffn_norm);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->x16_mem);
    if (m->vocab)
        fr_vocab_free(m->vocab);
    if (m->gguf)
        fr_gguf_close(m->gguf);
    free(m->path);
    free(m);
}

void fr_llm_embed(const fr_model *m, int32_t id, float *dst) {
    const fr_llm_weight *w = &m->tok_embd;
    const uint8_t *row = (const uint8_t *)w->data + (size_t)id * w->row_bytes;
    size_t n = (size_t)w->cols;
    if (w->type == FR_TYPE_F32) {
        memcpy(dst, row, n * sizeof(float));
    } else if (w->type == FR_TYPE_F16) {
        const uint16_t *h = (const uint16_t *)(const void *)row;
        for (size_t i = 0; i < n; i++)
            dst[i] = fr_fp16_to_fp32(h[i]);
    } else {
        fr_dequantize_row(w->type, row, dst, n);
    }
}
