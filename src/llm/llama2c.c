/* llama2.c checkpoint + tokenizer -> GGUF (see llama2c.h for both layouts). */
#include "llm/llama2c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "gguf/gguf.h"

#define L2C_MAGIC 0x616b3432u
#define L2C_V1_HEADER 256
/* Sanity bounds on header values (far above any real llama2.c model). */
#define L2C_MAX_DIM (1 << 16)
#define L2C_MAX_HIDDEN (1 << 18)
#define L2C_MAX_LAYERS 1024
#define L2C_MAX_VOCAB (1 << 22)
#define L2C_MAX_SEQ (1 << 22)

static int32_t rd_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Offsets (in floats, from the first weight) of every weight group. */
typedef struct l2c_layout {
    uint64_t tok, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freqs, wcls, total;
} l2c_layout;

static void layout(const fr_llama2c_config *c, l2c_layout *o) {
    uint64_t dim = (uint64_t)c->dim, hid = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers;
    uint64_t voc = (uint64_t)c->vocab_size, kv = dim / (uint64_t)c->n_heads * (uint64_t)c->n_kv_heads;
    uint64_t head = dim / (uint64_t)c->n_heads;
    uint64_t at = 0;
#define PLACE(field, n) (o->field = at, at += (n))
    memset(o, 0, sizeof *o);
    if (c->version == 0) {
        PLACE(tok, voc * dim);
        PLACE(rms_att, L * dim);
        PLACE(wq, L * dim * dim);
        PLACE(wk, L * kv * dim);
        PLACE(wv, L * kv * dim);
        PLACE(wo, L * dim * dim);
        PLACE(rms_ffn, L * dim);
        PLACE(w1, L * hid * dim);
        PLACE(w2, L * dim * hid);
        PLACE(w3, L * hid * dim);
        PLACE(rms_final, dim);
        PLACE(freqs, 2 * (uint64_t)c->seq_len * (head / 2));
    } else {
        PLACE(rms_att, L * dim);
        PLACE(rms_ffn, L * dim);
        PLACE(rms_final, dim);
        PLACE(tok, voc * dim);
        PLACE(wq, L * dim * dim);
        PLACE(wk, L * kv * dim);
        PLACE(wv, L * kv * dim);
        PLACE(wo, L * dim * dim);
        PLACE(w1, L * hid * dim);
        PLACE(w2, L * dim * hid);
        PLACE(w3, L * hid * dim);
    }
    if (!c->shared_classifier) PLACE(wcls, voc * dim);
#undef PLACE
    o->total = at;
}

static fr_status check_range(const char *name, const char *what, int32_t v, int32_t max,
                             fr_error *err) {
    if (v < 1 || v > max)
        return fr_fail(err, FR_E_FORMAT, "%s: %s is %" PRId32 " (must be 1..%" PRId32 ")", name,
                       what, v, max);
    return FR_OK;
}

fr_status fr_llama2c_parse_header(const void *data, size_t size, const char *name,
                                  fr_llama2c_config *cfg, fr_error *err) {
    const uint8_t *p = data;
    memset(cfg, 0, sizeof *cfg);
    if (size < 28)
        return fr_fail(err, FR_E_FORMAT, "%s: %zu bytes is too small for a llama2.c checkpoint header",
                       name, size);
    int32_t h[7];
    if ((uint32_t)rd_i32(p) == L2C_MAGIC) {
        if (size < L2C_V1_HEADER)
            return fr_fail(err, FR_E_FORMAT, "%s: truncated llama2.c v1 header (%zu of %d bytes)",
                           name, size, L2C_V1_HEADER);
        int32_t version = rd_i32(p + 4);
        if (version != 1)
            return fr_fail(err, FR_E_UNSUPPORTED,
                           "%s: llama2.c export version %" PRId32
                           " is not supported (only v0 and v1, float32)", name, version);
        for (int i = 0; i < 7; i++) h[i] = rd_i32(p + 8 + 4 * i);
        if (p[36] > 1)
            return fr_fail(err, FR_E_FORMAT, "%s: shared_classifier flag is %u (must be 0 or 1)",
                           name, p[36]);
        cfg->version = 1;
        cfg->shared_classifier = p[36] == 1;
        cfg->weights_offset = L2C_V1_HEADER;
        if (h[5] < 0)
            return fr_fail(err, FR_E_FORMAT, "%s: vocab_size is %" PRId32 " (must be positive in v1)",
                           name, h[5]);
    } else {
        for (int i = 0; i < 7; i++) h[i] = rd_i32(p + 4 * i);
        cfg->version = 0;
        cfg->weights_offset = 28;
        cfg->shared_classifier = h[5] > 0;
        if (h[5] < 0) h[5] = h[5] == INT32_MIN ? 0 : -h[5];
    }
    cfg->dim = h[0];
    cfg->hidden_dim = h[1];
    cfg->n_layers = h[2];
    cfg->n_heads = h[3];
    cfg->n_kv_heads = h[4];
    cfg->vocab_size = h[5];
    cfg->seq_len = h[6];
    fr_status s;
    if ((s = check_range(name, "dim", cfg->dim, L2C_MAX_DIM, err)) ||
        (s = check_range(name, "hidden_dim", cfg->hidden_dim, L2C_MAX_HIDDEN, err)) ||
        (s = check_range(name, "n_layers", cfg->n_layers, L2C_MAX_LAYERS, err)) ||
        (s = check_range(name, "n_heads", cfg->n_heads, cfg->dim, err)) ||
        (s = check_range(name, "n_kv_heads", cfg->n_kv_heads, cfg->n_heads, err)) ||
        (s = check_range(name, "vocab_size", cfg->vocab_size, L2C_MAX_VOCAB, err)) ||
        (s = check_range(name, "seq_len", cfg->seq_len, L2C_MAX_SEQ, err)))
        return s;
    if (cfg->dim % cfg->n_heads)
        return fr_fail(err, FR_E_FORMAT, "%s: n_heads %" PRId32 " does not divide dim %" PRId32, name,
                       cfg->n_heads, cfg->dim);
    if (cfg->n_heads % cfg->n_kv_heads)
        return fr_fail(err, FR_E_FORMAT, "%s: n_kv_heads %" PRId32 " does not divide n_heads %" PRId32,
                       name, cfg->n_kv_heads, cfg->n_heads);
    if ((cfg->dim / cfg->n_heads) % 2)
        return fr_fail(err, FR_E_FORMAT, "%s: head size %" PRId32 " is odd (RoPE needs pairs)", name,
                       cfg->dim / cfg->n_heads);
    l2c_layout lay;
    layout(cfg, &lay);
    cfg->file_size = cfg->weights_offset + lay.total * 4;
    if ((uint64_t)size != cfg->file_size)
        return fr_fail(err, FR_E_FORMAT,
                       "%s: file is %zu bytes but its header (v%d: dim %" PRId32 ", hidden %" PRId32
                       ", %" PRId32 " layers, %" PRId32 "/%" PRId32 " heads, vocab %" PRId32
                       ", seq_len %" PRId32 ", %s classifier) implies %" PRIu64 " bytes",
                       name, size, cfg->version, cfg->dim, cfg->hidden_dim, cfg->n_layers,
                       cfg->n_heads, cfg->n_kv_heads, cfg->vocab_size, cfg->seq_len,
                       cfg->shared_classifier ? "shared" : "separate", cfg->file_size);
    return FR_OK;
}

/* ---- tokenizer --------------------------------------------------------------------------- */

void fr_llama2c_vocab_free(fr_llama2c_vocab *v) {
    if (v->text)
        for (int32_t i = 0; i < v->n; i++) free(v->text[i]);
    free(v->text);
    free(v->scores);
    free(v->types);
    memset(v, 0, sizeof *v);
}

static int is_byte_token(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    return strlen(s) == 6 && !memcmp(s, "<0x", 3) && strchr(hex, s[3]) && strchr(hex, s[4]) &&
           s[3] && s[4] && s[5] == '>';
}

/* Token text for GGUF: llama2.c wrote BOS/EOS as "\n<s>\n" / "\n</s>\n" and SentencePiece's
 * U+2581 as a space; undo both. */
static char *token_text(const uint8_t *p, int32_t len, int32_t id) {
    if (id == 1 && len == 5 && !memcmp(p, "\n<s>\n", 5)) p = (const uint8_t *)"<s>", len = 3;
    if (id == 2 && len == 6 && !memcmp(p, "\n</s>\n", 6)) p = (const uint8_t *)"</s>", len = 4;
    size_t spaces = 0;
    for (int32_t i = 0; i < len; i++) spaces += p[i] == ' ';
    char *out = malloc((size_t)len + 2 * spaces + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (int32_t i = 0; i < len; i++) {
        if (p[i] == ' ') {
            memcpy(out + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            out[o++] = (char)p[i];
        }
    }
    out[o] = '\0';
    return out;
}

static fr_status read_whole(const char *path, uint8_t **out, size_t *size, fr_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fr_fail(err, FR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fr_fail(err, FR_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (1ull << 31)) {
        fclose(f);
        return fr_fail(err, FR_E_FORMAT, "%s: %" PRIu64 " bytes is too large for a tokenizer file",
                       path, (uint64_t)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory", path);
    }
    if (fread(buf, 1, n, f) != n) {
        fclose(f);
        free(buf);
        return fr_fail(err, FR_E_IO, "%s: read failed", path);
    }
    fclose(f);
    *out = buf;
    *size = n;
    return FR_OK;
}

fr_status fr_llama2c_parse_vocab(const void *data, size_t size, const char *path, int32_t n_vocab,
                                 fr_llama2c_vocab *v, fr_error *err) {
    memset(v, 0, sizeof *v);
    const uint8_t *buf = data;
    fr_status s;
    if (n_vocab < 1)
        return fr_fail(err, FR_E_ARG, "%s: a vocabulary of %" PRId32 " tokens", path, n_vocab);
    if (size < 4) {
        return fr_fail(err, FR_E_FORMAT, "%s: %zu bytes is too small for a llama2.c tokenizer", path,
                       size);
    }
    int32_t max_len = rd_i32(buf);
    if (max_len < 1) {
        return fr_fail(err, FR_E_FORMAT, "%s: max_token_length is %" PRId32 " (must be positive)",
                       path, max_len);
    }
    /* Each token takes at least 8 bytes: refuse early instead of allocating for nothing. */
    if ((uint64_t)n_vocab > (size - 4) / 8) {
        return fr_fail(err, FR_E_FORMAT,
                       "%s: truncated: %zu bytes cannot hold the model's %" PRId32 " tokens", path,
                       size, n_vocab);
    }
    v->text = calloc((size_t)n_vocab, sizeof *v->text);
    v->scores = malloc((size_t)n_vocab * sizeof *v->scores);
    v->types = malloc((size_t)n_vocab * sizeof *v->types);
    if (!v->text || !v->scores || !v->types) {
        fr_llama2c_vocab_free(v);
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory", path);
    }
    v->n = n_vocab;
    size_t pos = 4;
    for (int32_t i = 0; i < n_vocab; i++) {
        if (size - pos < 8) {
            s = fr_fail(err, FR_E_FORMAT,
                        "%s: truncated at token %" PRId32 " of %" PRId32 " (offset %zu)", path, i,
                        n_vocab, pos);
            goto fail;
        }
        memcpy(&v->scores[i], buf + pos, 4);
        int32_t len = rd_i32(buf + pos + 4);
        pos += 8;
        if (len < 0 || (size_t)len > size - pos) {
            s = fr_fail(err, FR_E_FORMAT,
                        "%s: token %" PRId32 " has length %" PRId32 " past the end of the file "
                        "(%zu bytes remain)", path, i, len, size - pos);
            goto fail;
        }
        if (memchr(buf + pos, 0, (size_t)len)) {
            s = fr_fail(err, FR_E_FORMAT, "%s: token %" PRId32 " contains a NUL byte", path, i);
            goto fail;
        }
        v->text[i] = token_text(buf + pos, len, i);
        if (!v->text[i]) {
            s = fr_fail(err, FR_E_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        pos += (size_t)len;
        v->types[i] = i == 0 ? 2 : (i == 1 || i == 2) ? 3 : is_byte_token(v->text[i]) ? 6 : 1;
    }
    if (pos != size) {
        s = fr_fail(err, FR_E_FORMAT,
                    "%s: %zu bytes left after %" PRId32 " tokens: the tokenizer does not match the "
                    "model's vocabulary size", path, size - pos, n_vocab);
        goto fail;
    }
    return FR_OK;
fail:
    fr_llama2c_vocab_free(v);
    return s;
}

static fr_status read_vocab(const char *path, int32_t n_vocab, fr_llama2c_vocab *v, fr_error *err) {
    memset(v, 0, sizeof *v);
    uint8_t *buf;
    size_t size = 0;
    fr_status s = read_whole(path, &buf, &size, err);
    if (s) return s;
    s = fr_llama2c_parse_vocab(buf, size, path, n_vocab, v, err);
    free(buf);
    return s;
}

/* ---- conversion ------------------------------------------------------------------------- */

typedef struct conv {
    fr_gguf_writer *w;
    const float *weights; /* the mapped checkpoint's float32 weights */
    fr_type type;
    void **bufs; /* converted tensors, freed after the write */
    size_t n_bufs, cap_bufs;
    const char *path;
} conv;

static fr_status add_vec(conv *c, const char *name, uint64_t off, uint64_t n, fr_error *err) {
    uint64_t ne[1] = {n};
    return fr_gguf_writer_add_tensor(c->w, name, FR_TYPE_F32, 1, ne, c->weights + off, true, err);
}

/* A [rows][cols] row-major float matrix becomes a GGUF tensor with ne = {cols, rows}. */
static fr_status add_mat(conv *c, const char *name, uint64_t off, uint64_t cols, uint64_t rows,
                         fr_error *err) {
    uint64_t ne[2] = {cols, rows};
    const float *src = c->weights + off;
    fr_type t = c->type;
    if ((t == FR_TYPE_Q8_0 || t == FR_TYPE_Q4_0) && cols % fr_type_block_elems(t)) t = FR_TYPE_F16;
    if (t == FR_TYPE_F32) return fr_gguf_writer_add_tensor(c->w, name, t, 2, ne, src, true, err);
    size_t row_bytes = fr_type_row_bytes(t, (size_t)cols);
    if (c->n_bufs == c->cap_bufs) {
        size_t nc = c->cap_bufs ? c->cap_bufs * 2 : 32;
        void **p = realloc(c->bufs, nc * sizeof *p);
        if (!p) return fr_fail(err, FR_E_NOMEM, "%s: out of memory converting %s", c->path, name);
        c->bufs = p;
        c->cap_bufs = nc;
    }
    uint8_t *dst = malloc(row_bytes * (size_t)rows);
    if (!dst) return fr_fail(err, FR_E_NOMEM, "%s: out of memory converting %s", c->path, name);
    c->bufs[c->n_bufs++] = dst;
    for (uint64_t r = 0; r < rows; r++) {
        const float *row = src + r * cols;
        uint8_t *out = dst + r * row_bytes;
        if (t == FR_TYPE_F16) {
            for (uint64_t j = 0; j < cols; j++) {
                uint16_t h = fr_fp32_to_fp16(row[j]);
                memcpy(out + 2 * j, &h, 2);
            }
        } else {
            fr_quantize_row(t, row, out, (size_t)cols);
        }
    }
    return fr_gguf_writer_add_tensor(c->w, name, t, 2, ne, dst, true, err);
}

static uint32_t file_type_of(fr_type t) {
    switch (t) {
    case FR_TYPE_F32: return 0;
    case FR_TYPE_F16: return 1;
    case FR_TYPE_Q4_0: return 2;
    case FR_TYPE_Q8_0: return 7;
    }
    return 0;
}

/* general.name: the model file's base name without its extension. */
static void model_name(const char *path, char *buf, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(buf, cap, "%s", b);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = '\0';
    if (!buf[0]) snprintf(buf, cap, "llama2c");
}

static fr_status set_metadata(conv *c, const fr_llama2c_config *cfg, const fr_llama2c_vocab *v,
                              const char *model_path, fr_error *err) {
    fr_gguf_writer *w = c->w;
    char name[256];
    model_name(model_path, name, sizeof name);
    fr_status s;
    if ((s = fr_gguf_writer_set_str(w, "general.architecture", "llama", err)) ||
        (s = fr_gguf_writer_set_str(w, "general.name", name, err)) ||
        (s = fr_gguf_writer_set_u32(w, "general.file_type", file_type_of(c->type), err)) ||
        (s = fr_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)cfg->seq_len, err)) ||
        (s = fr_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)cfg->dim, err)) ||
        (s = fr_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)cfg->n_layers, err)) ||
        (s = fr_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)cfg->hidden_dim, err)) ||
        (s = fr_gguf_writer_set_u32(w, "llama.rope.dimension_count",
                                    (uint32_t)(cfg->dim / cfg->n_heads), err)) ||
        (s = fr_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)cfg->n_heads, err)) ||
        (s = fr_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)cfg->n_kv_heads,
                                    err)) ||
        (s = fr_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, err)) ||
        (s = fr_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f, err)) ||
        (s = fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err)) ||
        (s = fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->text,
                                        (uint64_t)v->n, err)) ||
        (s = fr_gguf_writer_set_arr(w, "tokenizer.ggml.scores", FR_GGUF_F32, v->scores,
                                    (uint64_t)v->n, err)) ||
        (s = fr_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", FR_GGUF_I32, v->types,
                                    (uint64_t)v->n, err)) ||
        (s = fr_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
        (s = fr_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err)) ||
        (s = fr_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
        (s = fr_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true, err)) ||
        (s = fr_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false, err)))
        return s;
    return FR_OK;
}

static fr_status add_tensors(conv *c, const fr_llama2c_config *cfg, fr_error *err) {
    l2c_layout o;
    layout(cfg, &o);
    uint64_t dim = (uint64_t)cfg->dim, hid = (uint64_t)cfg->hidden_dim;
    uint64_t voc = (uint64_t)cfg->vocab_size;
    uint64_t kv = dim / (uint64_t)cfg->n_heads * (uint64_t)cfg->n_kv_heads;
    fr_status s = add_mat(c, "token_embd.weight", o.tok, dim, voc, err);
    char name[64];
    for (uint64_t l = 0; !s && l < (uint64_t)cfg->n_layers; l++) {
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%" PRIu64 ".%s", l, suffix), name)
        if ((s = add_vec(c, NAME("attn_norm.weight"), o.rms_att + l * dim, dim, err)) ||
            (s = add_mat(c, NAME("attn_q.weight"), o.wq + l * dim * dim, dim, dim, err)) ||
            (s = add_mat(c, NAME("attn_k.weight"), o.wk + l * kv * dim, dim, kv, err)) ||
            (s = add_mat(c, NAME("attn_v.weight"), o.wv + l * kv * dim, dim, kv, err)) ||
            (s = add_mat(c, NAME("attn_output.weight"), o.wo + l * dim * dim, dim, dim, err)) ||
            (s = add_vec(c, NAME("ffn_norm.weight"), o.rms_ffn + l * dim, dim, err)) ||
            (s = add_mat(c, NAME("ffn_gate.weight"), o.w1 + l * hid * dim, dim, hid, err)) ||
            (s = add_mat(c, NAME("ffn_down.weight"), o.w2 + l * dim * hid, hid, dim, err)) ||
            (s = add_mat(c, NAME("ffn_up.weight"), o.w3 + l * hid * dim, dim, hid, err)))
            break;
#undef NAME
    }
    if (!s) s = add_vec(c, "output_norm.weight", o.rms_final, dim, err);
    if (!s && !cfg->shared_classifier) s = add_mat(c, "output.weight", o.wcls, dim, voc, err);
    return s;
}

fr_status fr_llama2c_convert(const char *model_path, const char *tok_path, const char *out_path,
                             fr_type type, fr_error *err) {
    if (!model_path || !tok_path || !out_path)
        return fr_fail(err, FR_E_ARG, "llama2c convert: NULL path");
    if (type != FR_TYPE_F32 && type != FR_TYPE_F16 && type != FR_TYPE_Q8_0 && type != FR_TYPE_Q4_0)
        return fr_fail(err, FR_E_ARG, "llama2c convert: unsupported output type %d", (int)type);
    /* Writing over an input would truncate the mapped checkpoint under us. */
    struct stat so, si;
    if (stat(out_path, &so) == 0)
        for (int i = 0; i < 2; i++) {
            const char *in = i ? tok_path : model_path;
            if (stat(in, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
                return fr_fail(err, FR_E_ARG, "%s: output would overwrite the input %s", out_path, in);
        }
    int fd = open(model_path, O_RDONLY);
    if (fd < 0) return fr_fail(err, FR_E_IO, "%s: cannot open: %s", model_path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fr_fail(err, FR_E_IO, "%s: not a regular file", model_path);
    }
    if (st.st_size < 28) {
        close(fd);
        return fr_fail(err, FR_E_FORMAT, "%s: %" PRIu64 " bytes is too small for a llama2.c "
                       "checkpoint header", model_path, (uint64_t)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return fr_fail(err, FR_E_IO, "%s: cannot map: %s", model_path, strerror(e));

    fr_llama2c_config cfg;
    fr_llama2c_vocab v = {0};
    conv c = {0};
    c.type = type;
    c.path = model_path;
    fr_status s = fr_llama2c_parse_header(map, size, model_path, &cfg, err);
    if (!s) s = read_vocab(tok_path, cfg.vocab_size, &v, err);
    if (!s) s = fr_gguf_writer_create(&c.w, err);
    if (!s) {
        c.weights = (const float *)((const uint8_t *)map + cfg.weights_offset);
        s = set_metadata(&c, &cfg, &v, model_path, err);
    }
    if (!s) s = add_tensors(&c, &cfg, err);
    if (!s) s = fr_gguf_writer_write(c.w, out_path, 32, err);
    fr_gguf_writer_free(c.w);
    for (size_t i = 0; i < c.n_bufs; i++) free(c.bufs[i]);
    free(c.bufs);
    fr_llama2c_vocab_free(&v);
    munmap(map, size);
    return s;
}
