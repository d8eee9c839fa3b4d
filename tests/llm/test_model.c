/* The forward pass against the PyTorch reference (tools/py/make_test_model.py writes a random
 * llama GGUF and the float64 logits of one causal pass over its tokens), decoded token by
 * token, in one batch, in a mix, chunked; thread-count and ISA independence; KV truncation;
 * decode argument checks; and load-time validation of malformed models built with the
 * GGUF writer.
 *
 * Tolerances (max |diff| / max |ref| over the vocabulary, per position):
 *   f32, f16: 1e-4. The reference runs in float64 on the same (dequantised) weights; frugal
 *     runs in float32, so only summation rounding (~1e-6 relative) differs.
 *   q8_0, q4_0: 4e-2. The reference multiplies the dequantised weights by float
 *     activations, but frugal (like ggml) quantises every activation row to q8_0 before a
 *     quantised matmul: each element moves by up to amax(block)/254, i.e. up to 0.4% of the
 *     block's largest value. Over the 7 quantised matmuls of each of the 2 layers plus the
 *     output these errors add up to about 1% of the logit range on random weights (measured
 *     0.5-1.5%); 4e-2 leaves margin while still catching any real bug (a wrong block, scale
 *     or nibble order gives errors of order 1). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/kernels.h"
#include "frugal.h"
#include "gguf/gguf.h"

typedef struct cfg {
    const char *name, *type;
    int tied, n_kv_heads;
    const char *extra;
    double tol;
} cfg;

static const cfg CFGS[] = {
    {"f32_gqa_untied", "f32", 0, 2, "", 1e-4},
    {"f32_mha_tied", "f32", 1, 4, "--rope-base 500000 --eps 1e-6", 1e-4},
    {"f16", "f16", 0, 2, "", 1e-4},
    {"q8_0", "q8_0", 0, 2, "", 4e-2},
    {"q4_0", "q4_0", 1, 2, "", 4e-2},
};
#define N_CFG (sizeof CFGS / sizeof CFGS[0])

typedef struct ref {
    int32_t n_tokens, n_vocab;
    int32_t *tokens;
    float *logits;
} ref;

static void ref_free(ref *r) {
    free(r->tokens);
    free(r->logits);
    memset(r, 0, sizeof *r);
}

static bool read_ref(const char *path, ref *r) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char magic[8];
    bool ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, "FRREF001", 8) &&
              fread(&r->n_tokens, 4, 1, f) == 1 && fread(&r->n_vocab, 4, 1, f) == 1 &&
              r->n_tokens > 0 && r->n_tokens < 4096 && r->n_vocab > 0 && r->n_vocab < 1000000;
    if (ok) {
        r->tokens = malloc(sizeof(int32_t) * (size_t)r->n_tokens);
        r->logits = malloc(sizeof(float) * (size_t)r->n_tokens * (size_t)r->n_vocab);
        ok = r->tokens && r->logits &&
             fread(r->tokens, 4, (size_t)r->n_tokens, f) == (size_t)r->n_tokens &&
             fread(r->logits, 4, (size_t)r->n_tokens * (size_t)r->n_vocab, f) ==
                 (size_t)r->n_tokens * (size_t)r->n_vocab;
    }
    fclose(f);
    if (!ok)
        ref_free(r);
    return ok;
}

static time_t mtime(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mtime : 0;
}

static void model_paths(const cfg *c, char *gguf, char *refp, size_t cap) {
    snprintf(gguf, cap, "%s/tests/llm_model_%s.gguf", FR_BINARY_DIR, c->name);
    snprintf(refp, cap, "%s/tests/llm_model_%s.ref", FR_BINARY_DIR, c->name);
}

static const char *SCRIPT = FR_SOURCE_DIR "/tools/py/make_test_model.py";

/* The make_test_model.py command for c. */
static void model_cmd(const cfg *c, char *cmd, size_t cap) {
    char gguf[1024], refp[1024];
    model_paths(c, gguf, refp, sizeof gguf);
    snprintf(cmd, cap,
             "%s %s --out '%s' --ref '%s' --dim 64 --n-layers 2 --n-heads 4 --n-kv-heads %d "
             "--hidden 96 --vocab 300 --ctx 64 --type %s --tied %d --seed 7 --n-tokens 12 %s",
             FR_PYTHON, SCRIPT, gguf, refp, c->n_kv_heads, c->type, c->tied, c->extra);
}

/* Group setup: writes every model and reference that is missing or older than the script,
 * all at once in the background (Python start-up dominates), and waits for them. */
static int make_models(void **state) {
    (void)state;
    mkdir(FR_BINARY_DIR "/tests", 0777);
    time_t ts = mtime(SCRIPT);
    char all[24576] = "", cmd[4096];
    size_t off = 0;
    for (size_t i = 0; i < N_CFG; i++) {
        char gguf[1024], refp[1024];
        model_paths(&CFGS[i], gguf, refp, sizeof gguf);
        if (ts != 0 && mtime(gguf) > ts && mtime(refp) > ts)
            continue;
        model_cmd(&CFGS[i], cmd, sizeof cmd);
        off += (size_t)snprintf(all + off, sizeof all - off, "(%s) & ", cmd);
    }
    if (off == 0)
        return 0;
    snprintf(all + off, sizeof all - off, "wait");
    if (system(all) != 0)
        fprintf(stderr, "warning: model generation returned non-zero: %s\n", all);
    return 0;
}

/* The paths of c's model and reference (made by make_models; fails if absent). */
static void make_model(const cfg *c, char *gguf, char *refp, size_t cap) {
    model_paths(c, gguf, refp, cap);
    if (mtime(gguf) == 0 || mtime(refp) == 0) {
        char cmd[4096];
        model_cmd(c, cmd, sizeof cmd);
        print_error("no model from: %s\n", cmd);
        fail();
    }
}

/* max |a-b| / max |b| over one row. */
static double rel_err(const float *a, const float *b, int n) {
    double md = 0, mr = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        md = d > md ? d : md;
        mr = fabs(b[i]) > mr ? fabs(b[i]) : mr;
    }
    return mr > 0 ? md / mr : md;
}

static double check_rows(const char *what, const cfg *c, const float *got, const float *want,
                         int rows, int n_vocab, int row0) {
    double worst = 0;
    for (int i = 0; i < rows; i++) {
        double e = rel_err(got + (size_t)i * n_vocab, want + (size_t)(row0 + i) * n_vocab,
                           n_vocab);
        if (!(e <= c->tol)) {
            print_error("%s %s: position %d relative error %g > %g\n", c->name, what, row0 + i,
                        e, c->tol);
            fail();
        }
        worst = e > worst ? e : worst;
    }
    return worst;
}

static fr_context *ctx_new(const fr_model *m, int threads, int n_batch, int isa) {
    fr_context_params cp = fr_context_default_params();
    cp.n_threads = threads;
    cp.n_batch = n_batch;
    cp.kernel_isa = isa;
    fr_context *ctx = NULL;
    fr_error e = {0};
    if (fr_context_create(m, &cp, &ctx, &e) != FR_OK) {
        print_error("context: %s\n", e.msg);
        fail();
    }
    return ctx;
}

static void decode_ok(fr_context *ctx, const int32_t *t, int n, int pos, float *lg, bool all) {
    fr_error e = {0};
    if (fr_decode(ctx, t, n, pos, lg, all, &e) != FR_OK) {
        print_error("decode: %s\n", e.msg);
        fail();
    }
}

static void run_config(const cfg *c) {
    char gguf[1024], refp[1024];
    make_model(c, gguf, refp, sizeof gguf);
    ref r = {0};
    assert_true(read_ref(refp, &r));
    fr_model *m = NULL;
    fr_error e = {0};
    if (fr_model_load(gguf, NULL, &m, &e) != FR_OK) {
        print_error("%s\n", e.msg);
        fail();
    }
    fr_model_info info;
    fr_model_get_info(m, &info);
    assert_int_equal(info.n_vocab, r.n_vocab);
    assert_int_equal(info.n_embd, 64);
    assert_int_equal(info.n_head_kv, c->n_kv_heads);
    assert_int_equal(info.tied_output, c->tied);
    const int n = r.n_tokens, V = r.n_vocab;
    size_t all = (size_t)n * (size_t)V;
    float *lg = calloc(all, sizeof(float)), *lg2 = calloc(all, sizeof(float));
    assert_non_null(lg);
    assert_non_null(lg2);

    /* (a) one token at a time */
    fr_context *ctx = ctx_new(m, 2, 512, -1);
    for (int i = 0; i < n; i++)
        decode_ok(ctx, &r.tokens[i], 1, i, lg + (size_t)i * V, false);
    check_rows("single", c, lg, r.logits, n, V, 0);
    assert_int_equal(fr_kv_n_pos(ctx), n);

    /* (b) the whole sequence in one batch (rewinding by decoding at position 0) */
    decode_ok(ctx, r.tokens, n, 0, lg, true);
    double worst = check_rows("batch", c, lg, r.logits, n, V, 0);
    printf("%s: largest relative error against the reference %.3g (bound %.3g)\n", c->name,
           worst, c->tol);

    /* last-token-only logits equal the last row (the output matmul runs with N = 1 instead
     * of N = n: kernels may tile batches differently, so allow float rounding) */
    float *last = malloc(sizeof(float) * V);
    decode_ok(ctx, r.tokens, n, 0, last, false);
    assert_true(rel_err(last, lg + (size_t)(n - 1) * V, V) <= 1e-5);

    /* (c) a prefix batch, then single tokens */
    const int pre = 5;
    fr_kv_truncate(ctx, 0);
    decode_ok(ctx, r.tokens, pre, 0, lg, true);
    for (int i = pre; i < n; i++)
        decode_ok(ctx, &r.tokens[i], 1, i, lg + (size_t)i * V, false);
    check_rows("mixed", c, lg, r.logits, n, V, 0);

    /* KV truncation: decode 6..n, roll back to 6, decode again: the same logits */
    const int cut = 6;
    decode_ok(ctx, r.tokens, cut, 0, NULL, false);
    decode_ok(ctx, r.tokens + cut, n - cut, cut, lg, true);
    fr_kv_truncate(ctx, cut);
    assert_int_equal(fr_kv_n_pos(ctx), cut);
    decode_ok(ctx, r.tokens + cut, n - cut, cut, lg2, true);
    assert_memory_equal(lg, lg2, sizeof(float) * (size_t)(n - cut) * V);
    /* a different continuation after a rollback, then the original again */
    int32_t other[3] = {1, 2, 3};
    fr_kv_truncate(ctx, cut);
    decode_ok(ctx, other, 3, cut, NULL, false);
    fr_kv_truncate(ctx, cut);
    decode_ok(ctx, r.tokens + cut, n - cut, cut, lg2, true);
    assert_memory_equal(lg, lg2, sizeof(float) * (size_t)(n - cut) * V);
    check_rows("truncated", c, lg, r.logits, n - cut, V, cut);
    fr_context_free(ctx);

    /* chunked by n_batch = 5 (three forward chunks) and n_batch = 1 (twelve) */
    ctx = ctx_new(m, 2, 5, -1);
    decode_ok(ctx, r.tokens, n, 0, lg, true);
    check_rows("chunked", c, lg, r.logits, n, V, 0);
    fr_context_free(ctx);
    ctx = ctx_new(m, 1, 1, -1);
    decode_ok(ctx, r.tokens, n, 0, lg, true);
    check_rows("n_batch 1", c, lg, r.logits, n, V, 0);
    fr_context_free(ctx);

    /* 1, 2 and 3 threads give bit-identical logits */
    ctx = ctx_new(m, 1, 512, -1);
    decode_ok(ctx, r.tokens, n, 0, lg, true);
    fr_context_free(ctx);
    for (int t = 2; t <= 3; t++) {
        ctx = ctx_new(m, t, 512, -1);
        decode_ok(ctx, r.tokens, n, 0, lg2, true);
        fr_context_free(ctx);
        assert_memory_equal(lg, lg2, sizeof(float) * all);
    }

    /* scalar kernels against the best ISA (same math, another summation order) */
    ctx = ctx_new(m, 2, 512, 0);
    decode_ok(ctx, r.tokens, n, 0, lg2, true);
    fr_context_free(ctx);
    check_rows("scalar", c, lg2, r.logits, n, V, 0);
    for (int i = 0; i < n; i++) {
        double d = rel_err(lg + (size_t)i * V, lg2 + (size_t)i * V, V);
        if (d > 1e-4) {
            print_error("%s: scalar vs %s differ by %g at position %d\n", c->name,
                        fr_isa_name(fr_isa_best()), d, i);
            fail();
        }
    }
    free(last);
    free(lg);
    free(lg2);
    fr_model_free(m);
    ref_free(&r);
}

static void test_f32_gqa_untied(void **s) { (void)s; run_config(&CFGS[0]); }
static void test_f32_mha_tied(void **s) { (void)s; run_config(&CFGS[1]); }
static void test_f16(void **s) { (void)s; run_config(&CFGS[2]); }
static void test_q8_0(void **s) { (void)s; run_config(&CFGS[3]); }
static void test_q4_0(void **s) { (void)s; run_config(&CFGS[4]); }

static void test_decode_errors(void **state) {
    (void)state;
    char gguf[1024], refp[1024];
    make_model(&CFGS[0], gguf, refp, sizeof gguf);
    fr_model *m = NULL;
    fr_error e = {0};
    assert_int_equal(fr_model_load(gguf, NULL, &m, &e), FR_OK);
    fr_context_params cp = fr_context_default_params();
    cp.n_ctx = 8;
    cp.n_threads = 2;
    fr_context *ctx = NULL;
    assert_int_equal(fr_context_create(m, &cp, &ctx, &e), FR_OK);
    assert_int_equal(fr_context_n_ctx(ctx), 8);
    int32_t t[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    float *lg = malloc(sizeof(float) * 300 * 10);
    assert_int_equal(fr_decode(ctx, t, 9, 0, lg, true, &e), FR_E_RANGE);
    assert_non_null(strstr(e.msg, "context"));
    assert_int_equal(fr_kv_n_pos(ctx), 0);
    assert_int_equal(fr_decode(ctx, t, 8, 0, lg, true, &e), FR_OK);
    assert_int_equal(fr_decode(ctx, t, 1, 8, lg, false, &e), FR_E_RANGE);
    fr_kv_truncate(ctx, 2);
    assert_int_equal(fr_decode(ctx, t, 1, 3, lg, false, &e), FR_E_ARG); /* gap */
    assert_non_null(strstr(e.msg, "gap"));
    assert_int_equal(fr_decode(ctx, t, 0, 2, lg, false, &e), FR_E_ARG);
    assert_int_equal(fr_decode(ctx, t, 1, -1, lg, false, &e), FR_E_ARG);
    int32_t bad[2] = {5, 300};
    assert_int_equal(fr_decode(ctx, bad, 2, 2, lg, false, &e), FR_E_ARG);
    assert_non_null(strstr(e.msg, "300"));
    bad[1] = -1;
    assert_int_equal(fr_decode(ctx, bad, 2, 2, lg, false, &e), FR_E_ARG);
    assert_int_equal(fr_kv_n_pos(ctx), 2);
    fr_kv_truncate(ctx, -5);
    assert_int_equal(fr_kv_n_pos(ctx), 0);
    fr_context_free(ctx);
    cp.n_threads = 257;
    assert_int_equal(fr_context_create(m, &cp, &ctx, &e), FR_E_ARG);
    cp.n_threads = 1;
    cp.n_ctx = -1;
    assert_int_equal(fr_context_create(m, &cp, &ctx, &e), FR_E_ARG);
    cp.n_ctx = 0; /* the model's: 64 */
    assert_int_equal(fr_context_create(m, &cp, &ctx, &e), FR_OK);
    assert_int_equal(fr_context_n_ctx(ctx), 64);
    fr_context_free(ctx);
    cp.kernel_isa = 99;
    assert_int_equal(fr_context_create(m, &cp, &ctx, &e), FR_E_ARG);
    free(lg);
    fr_model_free(m);
}

/* ---- load-time validation on small models written with the GGUF writer ---- */

enum variant {
    V_OK, V_NO_TENSOR, V_BAD_SHAPE, V_F16_NORM, V_ARCH, V_HEADS, V_NO_KEY, V_ROPE_ODD,
    V_BAD_TYPE_KEY, V_VOCAB_KEY, V_BPE_NO_BOS
};

static void write_model(const char *path, enum variant v) {
    enum { D = 32, L = 1, H = 2, KV = 1, F = 64, NV = 40 };
    fr_gguf_writer *w = NULL;
    fr_error e = {0};
    assert_int_equal(fr_gguf_writer_create(&w, &e), FR_OK);
    fr_gguf_writer_set_str(w, "general.architecture", v == V_ARCH ? "gpt2" : "llama", &e);
    fr_gguf_writer_set_u32(w, "llama.context_length", 16, &e);
    fr_gguf_writer_set_u32(w, "llama.embedding_length", D, &e);
    if (v != V_NO_KEY)
        fr_gguf_writer_set_u32(w, "llama.block_count", L, &e);
    if (v == V_BAD_TYPE_KEY)
        fr_gguf_writer_set_str(w, "llama.feed_forward_length", "sixty-four", &e);
    else
        fr_gguf_writer_set_u32(w, "llama.feed_forward_length", F, &e);
    fr_gguf_writer_set_u32(w, "llama.attention.head_count", v == V_HEADS ? 3 : H, &e);
    fr_gguf_writer_set_u32(w, "llama.attention.head_count_kv", KV, &e);
    if (v == V_ROPE_ODD)
        fr_gguf_writer_set_u32(w, "llama.rope.dimension_count", 7, &e);
    if (v == V_VOCAB_KEY)
        fr_gguf_writer_set_u32(w, "llama.vocab_size", NV + 1, &e);
    if (v == V_BPE_NO_BOS) { /* a GPT-2 vocabulary without BOS: 39 letters and "ab" */
        static char letters[NV - 1][2];
        const char *toks[NV];
        for (int i = 0; i < NV - 1; i++) {
            letters[i][0] = (char)(i < 26 ? 'a' + i : 'A' + i - 26);
            toks[i] = letters[i];
        }
        toks[NV - 1] = "ab";
        const char *merges[1] = {"a b"};
        fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", &e);
        fr_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2", &e);
        fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NV, &e);
        fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 1, &e);
    }
    static float buf[NV * F];
    for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++)
        buf[i] = 0.01f * (float)((i * 7) % 13) - 0.06f;
    uint16_t hbuf[D];
    memset(hbuf, 0, sizeof hbuf);
    uint64_t ne[2];
#define T2(name, a, b)                                                                       \
    ne[0] = (a), ne[1] = (b);                                                                \
    assert_int_equal(fr_gguf_writer_add_tensor(w, name, 0, 2, ne, buf, true, &e), FR_OK);
    T2("token_embd.weight", D, NV)
    T2("blk.0.attn_q.weight", D, D)
    T2("blk.0.attn_k.weight", D, v == V_BAD_SHAPE ? D : D / H * KV)
    T2("blk.0.attn_v.weight", D, D / H * KV)
    T2("blk.0.attn_output.weight", D, D)
    T2("blk.0.ffn_gate.weight", D, F)
    if (v != V_NO_TENSOR) {
        T2("blk.0.ffn_up.weight", D, F)
    }
    T2("blk.0.ffn_down.weight", F, D)
#undef T2
    ne[0] = D;
    if (v == V_F16_NORM)
        fr_gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", 1, 1, ne, hbuf, true, &e);
    else
        fr_gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", 0, 1, ne, buf, true, &e);
    fr_gguf_writer_add_tensor(w, "blk.0.ffn_norm.weight", 0, 1, ne, buf, true, &e);
    fr_gguf_writer_add_tensor(w, "output_norm.weight", 0, 1, ne, buf, true, &e);
    if (fr_gguf_writer_write(w, path, 0, &e) != FR_OK) {
        print_error("%s\n", e.msg);
        fail();
    }
    fr_gguf_writer_free(w);
}

static void expect_load_error(enum variant v, fr_status want, const char *needle) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/llm_bad_%d.gguf", FR_BINARY_DIR, (int)v);
    write_model(path, v);
    fr_model *m = NULL;
    fr_error e = {0};
    fr_status st = fr_model_load(path, NULL, &m, &e);
    if (st != want || !strstr(e.msg, needle) || !strstr(e.msg, path)) {
        print_error("variant %d: status %d (want %d), message '%s' (want '%s' and the path)\n",
                    (int)v, (int)st, (int)want, e.msg, needle);
        fail();
    }
    assert_null(m);
    remove(path);
}

static void test_load_validation(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/llm_ok.gguf", FR_BINARY_DIR);
    write_model(path, V_OK);
    fr_model *m = NULL;
    fr_error e = {0};
    if (fr_model_load(path, NULL, &m, &e) != FR_OK) {
        print_error("%s\n", e.msg);
        fail();
    }
    fr_model_info info;
    fr_model_get_info(m, &info);
    assert_true(info.tied_output);
    assert_false(info.has_vocab);
    assert_int_equal(info.n_rot, 16);
    assert_int_equal(info.bos, -1);
    size_t nt = 0;
    int32_t out[4];
    assert_int_equal(fr_tokenize(m, "hi", 2, true, out, 4, &nt, &e), FR_E_UNSUPPORTED);
    /* a model without tokenizer still decodes */
    fr_context *ctx = NULL;
    assert_int_equal(fr_context_create(m, NULL, &ctx, &e), FR_OK);
    float lg[40];
    int32_t toks[3] = {1, 2, 39};
    assert_int_equal(fr_decode(ctx, toks, 3, 0, lg, false, &e), FR_OK);
    for (int i = 0; i < 40; i++)
        assert_true(isfinite(lg[i]));
    fr_context_free(ctx);
    fr_model_free(m);
    fr_model_params mp = fr_model_default_params();
    mp.require_vocab = true;
    assert_int_equal(fr_model_load(path, &mp, &m, &e), FR_E_FORMAT);
    assert_non_null(strstr(e.msg, "tokenizer"));
    remove(path);

    /* fr_tokenize with add_bos on a vocabulary without BOS: no BOS, as documented */
    write_model(path, V_BPE_NO_BOS);
    assert_int_equal(fr_model_load(path, NULL, &m, &e), FR_OK);
    fr_model_get_info(m, &info);
    assert_true(info.has_vocab);
    assert_int_equal(info.bos, -1);
    assert_int_equal(fr_tokenize(m, "abc", 3, true, out, 4, &nt, &e), FR_OK);
    assert_int_equal(nt, 2);
    assert_int_equal(out[0], 39); /* "ab" */
    assert_int_equal(out[1], 2);  /* "c" */
    fr_model_free(m);
    remove(path);

    expect_load_error(V_NO_TENSOR, FR_E_FORMAT, "blk.0.ffn_up.weight");
    expect_load_error(V_BAD_SHAPE, FR_E_FORMAT, "blk.0.attn_k.weight");
    expect_load_error(V_F16_NORM, FR_E_FORMAT, "blk.0.attn_norm.weight");
    expect_load_error(V_ARCH, FR_E_UNSUPPORTED, "gpt2");
    expect_load_error(V_HEADS, FR_E_FORMAT, "head_count");
    expect_load_error(V_NO_KEY, FR_E_FORMAT, "llama.block_count");
    expect_load_error(V_ROPE_ODD, FR_E_FORMAT, "llama.rope.dimension_count");
    expect_load_error(V_BAD_TYPE_KEY, FR_E_FORMAT, "llama.feed_forward_length");
    expect_load_error(V_VOCAB_KEY, FR_E_FORMAT, "llama.vocab_size");

    snprintf(path, sizeof path, "%s/tests/llm_does_not_exist.gguf", FR_BINARY_DIR);
    assert_int_not_equal(fr_model_load(path, NULL, &m, &e), FR_OK);
    assert_non_null(strstr(e.msg, path));
    assert_int_equal(fr_model_load(NULL, NULL, &m, &e), FR_E_ARG);
}

/* Corrupted copies of a valid model (random bytes changed in the header, metadata and tensor
 * table) must load cleanly or fail with a message; whatever loads must decode. */
static void test_load_fuzz(void **state) {
    (void)state;
    char path[1024], bad[1024];
    snprintf(path, sizeof path, "%s/tests/llm_fuzz_src.gguf", FR_BINARY_DIR);
    snprintf(bad, sizeof bad, "%s/tests/llm_fuzz.gguf", FR_BINARY_DIR);
    write_model(path, V_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *orig = malloc((size_t)size), *buf = malloc((size_t)size);
    assert_int_equal(fread(orig, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    uint64_t r = 12345;
    long head = size < 2048 ? size : 2048; /* metadata and tensor infos live up front */
    int loaded = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(buf, orig, (size_t)size);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            long at = (long)((r >> 20) % (uint64_t)head);
            buf[at] = (unsigned char)(r >> 56);
        }
        f = fopen(bad, "wb");
        assert_non_null(f);
        fwrite(buf, 1, (size_t)size, f);
        fclose(f);
        fr_model *m = NULL;
        fr_error e = {0};
        fr_status st = fr_model_load(bad, NULL, &m, &e);
        if (st != FR_OK) {
            assert_null(m);
            assert_true(strlen(e.msg) > 0 && strchr(e.msg, '\n') == NULL);
            continue;
        }
        loaded++;
        fr_model_info info;
        fr_model_get_info(m, &info);
        fr_context_params cp = fr_context_default_params();
        cp.n_ctx = 8;
        cp.n_threads = 1;
        fr_context *ctx = NULL;
        if (fr_context_create(m, &cp, &ctx, &e) == FR_OK) {
            int32_t toks[3] = {0, info.n_vocab - 1, info.n_vocab / 2};
            float *lg = malloc(sizeof(float) * (size_t)info.n_vocab);
            assert_int_equal(fr_decode(ctx, toks, 3, 0, lg, false, &e), FR_OK);
            free(lg);
            fr_context_free(ctx);
        }
        fr_model_free(m);
    }
    printf("fuzz: %d of 300 corrupted copies still loaded\n", loaded);
    free(orig);
    free(buf);
    remove(bad);
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_validation), cmocka_unit_test(test_f32_gqa_untied),
        cmocka_unit_test(test_f32_mha_tied),    cmocka_unit_test(test_f16),
        cmocka_unit_test(test_q8_0),            cmocka_unit_test(test_q4_0),
        cmocka_unit_test(test_decode_errors),   cmocka_unit_test(test_load_fuzz),
    };
    return cmocka_run_group_tests(tests, make_models, NULL);
}
