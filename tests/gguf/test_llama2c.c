/* llama2.c -> GGUF conversion: stories260K at every type, v1 and separate-classifier
 * variants built from it, and broken checkpoints and tokenizers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/types.h"
#include "gguf/gguf.h"
#include "llm/llama2c.h"

#define MODEL FR_ASSETS "/llm/stories260K.bin"
#define TOK FR_ASSETS "/llm/tok512.bin"

/* stories260K: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512, seq_len 512. */
enum { DIM = 64, HID = 172, NL = 5, NH = 8, NKV = 4, VOC = 512, SEQ = 512, KV = DIM / NH * NKV };

static int have_assets(void) {
    if (access(MODEL, R_OK) != 0 || access(TOK, R_OK) != 0) {
        printf("SKIPPED: %s not found\n", MODEL);
        return 0;
    }
    return 1;
}

static void tmp_path(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "%s/test_llama2c_%ld_%s", FR_BINARY_DIR, (long)getpid(), tag);
}

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return p;
}

static void spit(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Float offsets of the v0 weight groups of stories260K. */
static const size_t O_TOK = 0;
static const size_t O_RMS_ATT = O_TOK + (size_t)VOC * DIM;
static const size_t O_WQ = O_RMS_ATT + (size_t)NL * DIM;
static const size_t O_WK = O_WQ + (size_t)NL * DIM * DIM;
static const size_t O_WV = O_WK + (size_t)NL * KV * DIM;
static const size_t O_WO = O_WV + (size_t)NL * KV * DIM;
static const size_t O_RMS_FFN = O_WO + (size_t)NL * DIM * DIM;
static const size_t O_W1 = O_RMS_FFN + (size_t)NL * DIM;
static const size_t O_W2 = O_W1 + (size_t)NL * HID * DIM;
static const size_t O_W3 = O_W2 + (size_t)NL * DIM * HID;
static const size_t O_RMS_FINAL = O_W3 + (size_t)NL * HID * DIM;
static const size_t O_FREQ = O_RMS_FINAL + DIM;
static const size_t O_END = O_FREQ + (size_t)SEQ * (DIM / NH / 2) * 2;

/* Source floats of the v0 file (header skipped). */
static const float *src_at(const uint8_t *model, size_t off) {
    return (const float *)(model + 28) + off;
}

static void convert_ok(const char *model, const char *tok, const char *out, fr_type t) {
    fr_error err = {0};
    fr_status s = fr_llama2c_convert(model, tok, out, t, &err);
    if (s) print_error("%s\n", err.msg);
    assert_int_equal(s, FR_OK);
}

static void expect_fail(const char *model, const char *tok, const char *want_file,
                        const char *want_msg) {
    char out[512];
    tmp_path(out, sizeof out, "fail.gguf");
    unlink(out);
    fr_error err = {0};
    fr_status s = fr_llama2c_convert(model, tok, out, FR_TYPE_F32, &err);
    if (s == FR_OK || !strstr(err.msg, want_file) || (want_msg && !strstr(err.msg, want_msg)))
        print_error("status %d, message '%s' (want '%s' naming %s)\n", s, err.msg,
                    want_msg ? want_msg : "", want_file);
    assert_int_not_equal(s, FR_OK);
    assert_non_null(strstr(err.msg, want_file));
    if (want_msg) assert_non_null(strstr(err.msg, want_msg));
    assert_int_not_equal(access(out, F_OK), 0); /* nothing left behind */
}

static const fr_gguf_tensor *tensor(const fr_gguf *g, const char *name, uint64_t ne0, uint64_t ne1) {
    const fr_gguf_tensor *t = fr_gguf_find_tensor(g, name);
    if (!t) print_error("missing tensor %s\n", name);
    assert_non_null(t);
    assert_int_equal(t->ne[0], ne0);
    assert_int_equal(t->ne[1], ne1);
    assert_int_equal(t->n_dims, ne1 == 1 ? 1 : 2);
    return t;
}

/* Checks a converted matrix against its source floats. */
static void check_values(const fr_gguf_tensor *t, const float *src) {
    size_t n = (size_t)(t->ne[0] * t->ne[1]);
    if (t->type == FR_TYPE_F32) {
        assert_memory_equal(t->data, src, n * 4);
        return;
    }
    float *deq = malloc(n * sizeof *deq);
    assert_non_null(deq);
    size_t row_bytes = fr_type_row_bytes((fr_type)t->type, (size_t)t->ne[0]);
    for (uint64_t r = 0; r < t->ne[1]; r++)
        fr_dequantize_row((fr_type)t->type, (const uint8_t *)t->data + r * row_bytes,
                          deq + r * t->ne[0], (size_t)t->ne[0]);
    for (size_t i = 0; i < n; i++) {
        if (t->type == FR_TYPE_F16) {
            assert_true(deq[i] == fr_fp16_to_fp32(fr_fp32_to_fp16(src[i])));
        } else {
            /* Within one quantisation step of its block's scale. */
            size_t b0 = i / 32 * 32;
            float amax = 0;
            for (size_t j = b0; j < b0 + 32; j++) amax = fmaxf(amax, fabsf(src[j]));
            float step = t->type == FR_TYPE_Q8_0 ? amax / 127.0f : amax / 8.0f;
            /* The fp16 scale adds up to 127 * 2^-11 of a step; q4_0 clamps +8 steps to +7. */
            float tol = (t->type == FR_TYPE_Q8_0 ? 0.57f : 1.01f) * step + 1e-6f;
            if (!(fabsf(deq[i] - src[i]) <= tol))
                print_error("element %zu: %g vs %g (step %g)\n", i, deq[i], src[i], step);
            assert_true(fabsf(deq[i] - src[i]) <= tol);
        }
    }
    free(deq);
}

static void check_converted(const char *path, fr_type type, const uint8_t *model, bool separate_cls) {
    fr_gguf *g = NULL;
    fr_error err = {0};
    fr_status s = fr_gguf_open(path, &g, &err);
    if (s) print_error("%s\n", err.msg);
    assert_int_equal(s, FR_OK);
    fr_gguf_str str;
    uint32_t u;
    float f;
    assert_int_equal(fr_gguf_get_str(g, "general.architecture", &str, &err), FR_OK);
    assert_true(fr_gguf_str_eq(str, "llama"));
    assert_int_equal(fr_gguf_get_str(g, "general.name", &str, &err), FR_OK);
    assert_true(str.len > 0);
    struct { const char *key; uint32_t want; } ints[] = {
        {"llama.context_length", SEQ}, {"llama.embedding_length", DIM}, {"llama.block_count", NL},
        {"llama.feed_forward_length", HID}, {"llama.rope.dimension_count", DIM / NH},
        {"llama.attention.head_count", NH}, {"llama.attention.head_count_kv", NKV},
        {"tokenizer.ggml.bos_token_id", 1}, {"tokenizer.ggml.eos_token_id", 2},
        {"tokenizer.ggml.unknown_token_id", 0},
        {"general.file_type", type == FR_TYPE_F32 ? 0 : type == FR_TYPE_F16 ? 1 : type == FR_TYPE_Q8_0 ? 7 : 2},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        assert_int_equal(fr_gguf_get_u32(g, ints[i].key, &u, &err), FR_OK);
        if (u != ints[i].want) print_error("%s = %u\n", ints[i].key, u);
        assert_int_equal(u, ints[i].want);
    }
    assert_int_equal(fr_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f, &err), FR_OK);
    assert_true(f == 1e-5f);
    assert_int_equal(fr_gguf_get_f32(g, "llama.rope.freq_base", &f, &err), FR_OK);
    assert_true(f == 10000.0f);
    assert_int_equal(fr_gguf_get_str(g, "tokenizer.ggml.model", &str, &err), FR_OK);
    assert_true(fr_gguf_str_eq(str, "llama"));

    fr_gguf_arr toks, scores, types;
    assert_int_equal(fr_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks, &err), FR_OK);
    assert_int_equal(fr_gguf_get_arr(g, "tokenizer.ggml.scores", &scores, &err), FR_OK);
    assert_int_equal(fr_gguf_get_arr(g, "tokenizer.ggml.token_type", &types, &err), FR_OK);
    assert_int_equal(toks.n, VOC);
    assert_int_equal(scores.n, VOC);
    assert_int_equal(types.n, VOC);
    assert_int_equal(scores.type, FR_GGUF_F32);
    assert_int_equal(types.type, FR_GGUF_I32);
    const char *want_tok[] = {"<unk>", "<s>", "</s>", "<0x00>"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(fr_gguf_arr_str(&toks, (uint64_t)i, &str, &err), FR_OK);
        assert_true(fr_gguf_str_eq(str, want_tok[i]));
    }
    assert_int_equal(fr_gguf_arr_str(&toks, 258, &str, &err), FR_OK);
    assert_true(fr_gguf_str_eq(str, "<0xFF>"));
    /* tok512.bin stores token 259 as " t": the space goes back to U+2581. */
    assert_int_equal(fr_gguf_arr_str(&toks, 259, &str, &err), FR_OK);
    assert_true(fr_gguf_str_eq(str, "\xe2\x96\x81t"));
    assert_int_equal(fr_gguf_arr_str(&toks, 260, &str, &err), FR_OK);
    assert_true(fr_gguf_str_eq(str, "he"));
    assert_true(fr_gguf_arr_f64(&scores, 260) == -1.0);
    assert_true(fr_gguf_arr_f64(&scores, 511) == -252.0);
    assert_int_equal(fr_gguf_arr_i64(&types, 0), 2);
    assert_int_equal(fr_gguf_arr_i64(&types, 1), 3);
    assert_int_equal(fr_gguf_arr_i64(&types, 2), 3);
    assert_int_equal(fr_gguf_arr_i64(&types, 3), 6);
    assert_int_equal(fr_gguf_arr_i64(&types, 258), 6);
    assert_int_equal(fr_gguf_arr_i64(&types, 259), 1);
    for (uint64_t i = 0; i < toks.n; i++) {
        assert_int_equal(fr_gguf_arr_str(&toks, i, &str, &err), FR_OK);
        assert_null(memchr(str.ptr, ' ', str.len));
    }

    assert_int_equal(fr_gguf_n_tensors(g), 2 + NL * 9 + (separate_cls ? 1 : 0));
    fr_type mat = type;
    fr_type mat172 = (type == FR_TYPE_Q8_0 || type == FR_TYPE_Q4_0) ? FR_TYPE_F16 : type;
    const fr_gguf_tensor *t = tensor(g, "token_embd.weight", DIM, VOC);
    assert_int_equal(t->type, mat);
    check_values(t, src_at(model, O_TOK));
    char name[64];
    for (int l = 0; l < NL; l++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        t = tensor(g, name, DIM, 1);
        assert_int_equal(t->type, FR_TYPE_F32);
        assert_memory_equal(t->data, src_at(model, O_RMS_ATT + (size_t)l * DIM), DIM * 4);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        t = tensor(g, name, DIM, 1);
        assert_memory_equal(t->data, src_at(model, O_RMS_FFN + (size_t)l * DIM), DIM * 4);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", l);
        t = tensor(g, name, DIM, DIM);
        assert_int_equal(t->type, mat);
        check_values(t, src_at(model, O_WQ + (size_t)l * DIM * DIM));
        snprintf(name, sizeof name, "blk.%d.attn_k.weight", l);
        t = tensor(g, name, DIM, KV);
        check_values(t, src_at(model, O_WK + (size_t)l * KV * DIM));
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        t = tensor(g, name, DIM, KV);
        check_values(t, src_at(model, O_WV + (size_t)l * KV * DIM));
        snprintf(name, sizeof name, "blk.%d.attn_output.weight", l);
        t = tensor(g, name, DIM, DIM);
        check_values(t, src_at(model, O_WO + (size_t)l * DIM * DIM));
        snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", l);
        t = tensor(g, name, DIM, HID);
        assert_int_equal(t->type, mat);
        check_values(t, src_at(model, O_W1 + (size_t)l * HID * DIM));
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        t = tensor(g, name, HID, DIM);
        assert_int_equal(t->type, mat172);
        check_values(t, src_at(model, O_W2 + (size_t)l * DIM * HID));
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", l);
        t = tensor(g, name, DIM, HID);
        check_values(t, src_at(model, O_W3 + (size_t)l * HID * DIM));
    }
    t = tensor(g, "output_norm.weight", DIM, 1);
    assert_memory_equal(t->data, src_at(model, O_RMS_FINAL), DIM * 4);
    if (separate_cls) {
        t = tensor(g, "output.weight", DIM, VOC);
        assert_int_equal(t->type, mat);
        check_values(t, src_at(model, O_END));
    } else {
        assert_null(fr_gguf_find_tensor(g, "output.weight"));
    }
    fr_gguf_close(g);
}

static void test_convert_types(void **state) {
    (void)state;
    if (!have_assets()) skip();
    size_t size;
    uint8_t *model = slurp(MODEL, &size);
    assert_int_equal(size, 28 + O_END * 4);
    fr_type types[4] = {FR_TYPE_F32, FR_TYPE_F16, FR_TYPE_Q8_0, FR_TYPE_Q4_0};
    for (int i = 0; i < 4; i++) {
        char out[512];
        tmp_path(out, sizeof out, "conv.gguf");
        convert_ok(MODEL, TOK, out, types[i]);
        check_converted(out, types[i], model, false);
        unlink(out);
    }
    free(model);
}

/* The same weights in the v1 layout, and in v0 with a separate classifier, convert to the
 * same tensors. */
static void test_convert_variants(void **state) {
    (void)state;
    if (!have_assets()) skip();
    size_t size;
    uint8_t *model = slurp(MODEL, &size);
    const float *w = src_at(model, 0);
    char v1[512], out[512];
    tmp_path(v1, sizeof v1, "v1.bin");
    tmp_path(out, sizeof out, "v1.gguf");

    size_t n_v1 = 256 + (O_FREQ - 0) * 4;
    uint8_t *b = calloc(1, n_v1);
    assert_non_null(b);
    uint32_t magic = 0x616b3432u;
    int32_t hdr[8] = {1, DIM, HID, NL, NH, NKV, VOC, SEQ};
    memcpy(b, &magic, 4);
    memcpy(b + 4, hdr, sizeof hdr);
    b[36] = 1;
    size_t at = 256;
#define PUT(off, n) (memcpy(b + at, w + (off), (n) * 4), at += (n) * 4)
    PUT(O_RMS_ATT, (size_t)NL * DIM);
    PUT(O_RMS_FFN, (size_t)NL * DIM);
    PUT(O_RMS_FINAL, (size_t)DIM);
    PUT(O_TOK, (size_t)VOC * DIM);
    PUT(O_WQ, O_WK - O_WQ);
    PUT(O_WK, O_WV - O_WK);
    PUT(O_WV, O_WO - O_WV);
    PUT(O_WO, O_RMS_FFN - O_WO);
    PUT(O_W1, O_W2 - O_W1);
    PUT(O_W2, O_W3 - O_W2);
    PUT(O_W3, O_RMS_FINAL - O_W3);
#undef PUT
    assert_int_equal(at, n_v1);
    spit(v1, b, n_v1);
    convert_ok(v1, TOK, out, FR_TYPE_F32);
    check_converted(out, FR_TYPE_F32, model, false);
    convert_ok(v1, TOK, out, FR_TYPE_Q8_0);
    check_converted(out, FR_TYPE_Q8_0, model, false);

    fr_llama2c_config cfg;
    fr_error err = {0};
    assert_int_equal(fr_llama2c_parse_header(b, n_v1, "v1.bin", &cfg, &err), FR_OK);
    assert_int_equal(cfg.version, 1);
    assert_true(cfg.shared_classifier);
    assert_int_equal(cfg.n_kv_heads, NKV);
    /* v1 export version 2 (llama2.c's own int8 format) is refused. */
    hdr[0] = 2;
    memcpy(b + 4, hdr, 4);
    spit(v1, b, n_v1);
    expect_fail(v1, TOK, v1, "version 2");
    free(b);

    /* v0 with a separate classifier: negative vocab size, wcls appended. */
    size_t n_sep = size + (size_t)VOC * DIM * 4;
    uint8_t *sep = malloc(n_sep);
    assert_non_null(sep);
    memcpy(sep, model, size);
    float *cls = (float *)(sep + size);
    for (size_t i = 0; i < (size_t)VOC * DIM; i++) cls[i] = 0.5f * w[O_TOK + i] + 0.001f * (float)(i % 7);
    int32_t neg = -VOC;
    memcpy(sep + 20, &neg, 4);
    spit(v1, sep, n_sep);
    convert_ok(v1, TOK, out, FR_TYPE_F32);
    /* check_converted reads source floats from the buffer, wcls at O_END. */
    check_converted(out, FR_TYPE_F32, sep, true);
    convert_ok(v1, TOK, out, FR_TYPE_F16);
    check_converted(out, FR_TYPE_F16, sep, true);
    free(sep);
    unlink(v1);
    unlink(out);
    free(model);
}

static void test_bad_model(void **state) {
    (void)state;
    if (!have_assets()) skip();
    size_t size;
    uint8_t *model = slurp(MODEL, &size);
    char bad[512];
    tmp_path(bad, sizeof bad, "bad.bin");
    size_t cuts[6] = {0, 3, 27, 28, 4096, size - 1};
    for (int i = 0; i < 6; i++) {
        spit(bad, model, cuts[i]);
        expect_fail(bad, TOK, bad, "bytes");
    }
    /* One byte too many: expected vs actual size. */
    uint8_t *more = malloc(size + 1);
    assert_non_null(more);
    memcpy(more, model, size);
    more[size] = 0;
    spit(bad, more, size + 1);
    expect_fail(bad, TOK, bad, "1056541");
    expect_fail(bad, TOK, bad, "1056540");
    free(more);

    struct { int field; int32_t value; const char *msg; } edits[] = {
        {0, 0, "dim"}, {0, -64, "dim"}, {1, -1, "hidden_dim"}, {2, 0, "n_layers"},
        {3, 7, "does not divide dim"}, {4, 3, "does not divide n_heads"}, {4, 16, "n_kv_heads"},
        {5, 0, "vocab_size"}, {5, INT32_MIN, "vocab_size"}, {6, 0, "seq_len"},
        {0, INT32_MAX, "dim"}, {3, 64, "head size"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        uint8_t *m = malloc(size);
        assert_non_null(m);
        memcpy(m, model, size);
        memcpy(m + 4 * edits[i].field, &edits[i].value, 4);
        spit(bad, m, size);
        expect_fail(bad, TOK, bad, edits[i].msg);
        free(m);
    }
    expect_fail("/nonexistent/model.bin", TOK, "/nonexistent/model.bin", "cannot open");
    /* The output may not be one of the inputs. */
    spit(bad, model, size);
    fr_error err = {0};
    assert_int_equal(fr_llama2c_convert(bad, TOK, bad, FR_TYPE_F32, &err), FR_E_ARG);
    assert_non_null(strstr(err.msg, "overwrite"));
    size_t after;
    uint8_t *again = slurp(bad, &after);
    assert_int_equal(after, size);
    free(again);
    unlink(bad);
    free(model);
}

static void test_bad_tokenizer(void **state) {
    (void)state;
    if (!have_assets()) skip();
    size_t size;
    uint8_t *tok = slurp(TOK, &size);
    char bad[512];
    tmp_path(bad, sizeof bad, "bad_tok.bin");
    size_t cuts[6] = {0, 3, 4, 12, size / 2, size - 1};
    for (int i = 0; i < 6; i++) {
        spit(bad, tok, cuts[i]);
        expect_fail(MODEL, bad, bad, NULL);
    }
    /* Extra bytes: the tokenizer is larger than the model's vocabulary. */
    uint8_t *more = malloc(size + 9);
    assert_non_null(more);
    memcpy(more, tok, size);
    memset(more + size, 0, 9);
    spit(bad, more, size + 9);
    expect_fail(MODEL, bad, bad, "vocabulary");
    free(more);
    /* A token length past the end, and a negative one. */
    uint8_t *m = malloc(size);
    assert_non_null(m);
    int32_t lens[2] = {100000, -1};
    for (int i = 0; i < 2; i++) {
        memcpy(m, tok, size);
        memcpy(m + 4 + 4, &lens[i], 4); /* token 0's length */
        spit(bad, m, size);
        expect_fail(MODEL, bad, bad, "token 0 has length");
    }
    free(m);
    /* The 32000-token tokenizer does not fit the 512-token model. */
    if (access(FR_ASSETS "/llm/tokenizer.bin", R_OK) == 0)
        expect_fail(MODEL, FR_ASSETS "/llm/tokenizer.bin", "tokenizer.bin", "vocabulary");
    unlink(bad);
    free(tok);
}

/* An independent reader (tests/gguf/check_llama2c.py, numpy) agrees with every output type. */
static void test_python_reference(void **state) {
    (void)state;
    if (!have_assets()) skip();
    if (access(FR_PYTHON, X_OK) != 0) {
        printf("SKIPPED: %s not found\n", FR_PYTHON);
        skip();
    }
    fr_type types[4] = {FR_TYPE_F32, FR_TYPE_F16, FR_TYPE_Q8_0, FR_TYPE_Q4_0};
    for (int i = 0; i < 4; i++) {
        char out[512], cmd[2048];
        tmp_path(out, sizeof out, "py.gguf");
        convert_ok(MODEL, TOK, out, types[i]);
        snprintf(cmd, sizeof cmd, "%s %s/tests/gguf/check_llama2c.py %s %s %s", FR_PYTHON,
                 FR_SOURCE_DIR, out, MODEL, TOK);
        int rc = system(cmd);
        unlink(out);
        assert_int_equal(rc, 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_types),
        cmocka_unit_test(test_convert_variants),
        cmocka_unit_test(test_bad_model),
        cmocka_unit_test(test_bad_tokenizer),
        cmocka_unit_test(test_python_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
