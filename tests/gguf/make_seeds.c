/* Writes small GGUF seed files for the fuzzers with frugal's writer: containers for
 * fuzz_gguf, and with a second directory complete little llama models (SentencePiece and
 * GPT-2 vocabularies; f32, f16, q8_0, q4_0 weights) for fuzz_model.
 * Usage: make_gguf_seeds GGUF_DIR [MODEL_DIR] */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/types.h"
#include "gguf/gguf.h"

static int seed_vocab(const char *dir, fr_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab.gguf", dir);
    fr_gguf_writer *w = NULL;
    if (fr_gguf_writer_create(&w, err)) return 1;
    const char *toks[8] = {"<unk>", "<s>", "</s>", "<0x0A>", "\xe2\x96\x81the", "a", "b", "ab"};
    float scores[8] = {0, 0, 0, 0, -1.5f, -2, -3, -4};
    int32_t types[8] = {2, 3, 3, 6, 1, 1, 1, 1};
    int ok = !fr_gguf_writer_set_str(w, "general.architecture", "llama", err) &&
             !fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err) &&
             !fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 8, err) &&
             !fr_gguf_writer_set_arr(w, "tokenizer.ggml.scores", FR_GGUF_F32, scores, 8, err) &&
             !fr_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", FR_GGUF_I32, types, 8, err) &&
             !fr_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err) &&
             !fr_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true, err) &&
             !fr_gguf_writer_write(w, path, 0, err);
    fr_gguf_writer_free(w);
    return !ok;
}

static int seed_all_types(const char *dir, fr_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/all_types.gguf", dir);
    fr_gguf_writer *w = NULL;
    if (fr_gguf_writer_create(&w, err)) return 1;
    uint8_t u8 = 7;
    int8_t i8 = -7;
    uint16_t u16 = 700;
    int16_t i16 = -700;
    uint64_t u64 = 1ull << 40;
    int64_t i64 = -(1ll << 40);
    double f64 = 0.125;
    int32_t ints[3] = {1, -2, 3};
    const char *strs[2] = {"x", "yz"};
    fr_gguf_writer_sub subs[3] = {{FR_GGUF_I32, ints, 3}, {FR_GGUF_STRING, strs, 2}, {FR_GGUF_U8, "", 0}};
    int ok = !fr_gguf_writer_set_scalar(w, "u8", FR_GGUF_U8, &u8, err) &&
             !fr_gguf_writer_set_scalar(w, "i8", FR_GGUF_I8, &i8, err) &&
             !fr_gguf_writer_set_scalar(w, "u16", FR_GGUF_U16, &u16, err) &&
             !fr_gguf_writer_set_scalar(w, "i16", FR_GGUF_I16, &i16, err) &&
             !fr_gguf_writer_set_u32(w, "u32", 70000, err) &&
             !fr_gguf_writer_set_i32(w, "i32", -70000, err) &&
             !fr_gguf_writer_set_f32(w, "f32", 1e-5f, err) &&
             !fr_gguf_writer_set_bool(w, "bool", false, err) &&
             !fr_gguf_writer_set_str(w, "str", "hello", err) &&
             !fr_gguf_writer_set_scalar(w, "u64", FR_GGUF_U64, &u64, err) &&
             !fr_gguf_writer_set_scalar(w, "i64", FR_GGUF_I64, &i64, err) &&
             !fr_gguf_writer_set_scalar(w, "f64", FR_GGUF_F64, &f64, err) &&
             !fr_gguf_writer_set_arr(w, "ints", FR_GGUF_I32, ints, 3, err) &&
             !fr_gguf_writer_set_arr_str(w, "strs", strs, 2, err) &&
             !fr_gguf_writer_set_arr_arr(w, "nested", subs, 3, err) &&
             !fr_gguf_writer_write(w, path, 16, err);
    fr_gguf_writer_free(w);
    return !ok;
}

static int seed_tensors(const char *dir, fr_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tensors.gguf", dir);
    fr_gguf_writer *w = NULL;
    if (fr_gguf_writer_create(&w, err)) return 1;
    uint8_t data[256];
    for (int i = 0; i < 256; i++) data[i] = (uint8_t)(i * 37);
    uint64_t ne_f32[2] = {4, 2}, ne_f16[1] = {6}, ne_q4[2] = {32, 2}, ne_q8[3] = {64, 1, 2};
    int ok = !fr_gguf_writer_set_str(w, "general.architecture", "llama", err) &&
             !fr_gguf_writer_set_u32(w, "llama.block_count", 1, err) &&
             !fr_gguf_writer_add_tensor(w, "token_embd.weight", FR_TYPE_F32, 2, ne_f32, data, true, err) &&
             !fr_gguf_writer_add_tensor(w, "output_norm.weight", FR_TYPE_F16, 1, ne_f16, data, true, err) &&
             !fr_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", FR_TYPE_Q4_0, 2, ne_q4, data, true, err) &&
             !fr_gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", FR_TYPE_Q8_0, 3, ne_q8, data, true, err) &&
             !fr_gguf_writer_write(w, path, 32, err);
    fr_gguf_writer_free(w);
    return !ok;
}

/* Deterministic filler bytes for a tensor of `type` (a q8_0 / q4_0 block's leading f16
 * scale is set to 1/64 so that the weights stay small). */
static void fill(uint32_t type, uint8_t *buf, size_t bytes, uint32_t seed) {
    for (size_t i = 0; i < bytes; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
    if (type == FR_TYPE_F32)
        for (size_t i = 0; i + 4 <= bytes; i += 4) { /* small finite floats */
            buf[i + 3] = (uint8_t)(0x3c | (buf[i + 3] & 0x80));
            buf[i + 2] &= 0x7f;
        }
    if (type == FR_TYPE_F16)
        for (size_t i = 0; i + 2 <= bytes; i += 2) buf[i + 1] = (uint8_t)(0x24 | (buf[i + 1] & 0x80));
    size_t block = type == FR_TYPE_Q8_0 ? 34 : type == FR_TYPE_Q4_0 ? 18 : 0;
    for (size_t i = 0; block && i + block <= bytes; i += block) {
        buf[i] = 0x00;
        buf[i + 1] = 0x24; /* f16 1/64 */
    }
}

static int add_mat(fr_gguf_writer *w, const char *name, uint32_t type, uint64_t cols,
                   uint64_t rows, uint32_t seed, fr_error *err) {
    static uint8_t buf[1 << 16];
    size_t bytes = fr_type_row_bytes((fr_type)type, (size_t)cols) * rows;
    if (bytes > sizeof buf) return 1;
    fill(type, buf, bytes, seed);
    uint64_t ne[2] = {cols, rows};
    return fr_gguf_writer_add_tensor(w, name, type, rows > 1 ? 2 : 1, ne, buf, false, err) != FR_OK;
}

typedef struct model_seed {
    const char *file;
    int dim, layers, heads, kv_heads, ff, n_vocab;
    uint32_t type, embd_type;
    bool tied, gpt2;
} model_seed;

static int seed_model(const char *dir, const model_seed *ms, fr_error *err) {
    char path[1024], name[64];
    snprintf(path, sizeof path, "%s/%s", dir, ms->file);
    fr_gguf_writer *w = NULL;
    if (fr_gguf_writer_create(&w, err)) return 1;
    /* SentencePiece: control tokens, a byte token, pieces; GPT-2: byte-level pieces
     * ("\xc4\xa0" is the space) and their merges */
    static const char *spm[12] = {"<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "\xe2\x96\x81the",
                                  "\xe2\x96\x81" "a", "a", "b", "ab", "\xe2\x96\x81", "c"};
    static const char *bpe[12] = {"!", "a", "b", "c", "\xc4\xa0", "\xc4\xa0" "a", "ab", "abc",
                                  "\xc4\x8a", "t", "h", "<|endoftext|>"};
    static const char *merges[4] = {"\xc4\xa0" " a", "a b", "ab c", "t h"};
    float scores[12];
    int32_t types[12];
    for (int i = 0; i < 12; i++) {
        scores[i] = -(float)i;
        types[i] = ms->gpt2 ? (i == 11 ? 3 : 1) : (i == 0 ? 2 : i < 3 ? 3 : i < 5 ? 6 : 1);
    }
    int ok = !fr_gguf_writer_set_str(w, "general.architecture", "llama", err) &&
             !fr_gguf_writer_set_u32(w, "llama.context_length", 32, err) &&
             !fr_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)ms->dim, err) &&
             !fr_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)ms->layers, err) &&
             !fr_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)ms->ff, err) &&
             !fr_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)ms->heads, err) &&
             !fr_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)ms->kv_heads, err) &&
             !fr_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f, err) &&
             !fr_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, err) &&
             !fr_gguf_writer_set_str(w, "tokenizer.ggml.model", ms->gpt2 ? "gpt2" : "llama", err) &&
             (!ms->gpt2 || !fr_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2", err)) &&
             !fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", ms->gpt2 ? bpe : spm, 12, err) &&
             !fr_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", FR_GGUF_I32, types, 12, err) &&
             (ms->gpt2 ? !fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 4, err)
                       : !fr_gguf_writer_set_arr(w, "tokenizer.ggml.scores", FR_GGUF_F32, scores, 12, err)) &&
             !fr_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", ms->gpt2 ? 11 : 1, err) &&
             !fr_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", ms->gpt2 ? 11 : 2, err) &&
             !fr_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", !ms->gpt2, err);
    const int d = ms->dim, kvd = ms->dim / ms->heads * ms->kv_heads;
    uint32_t seed = 1;
    ok = ok && !add_mat(w, "token_embd.weight", ms->embd_type, (uint64_t)d, (uint64_t)ms->n_vocab, seed++, err);
    if (!ms->tied)
        ok = ok && !add_mat(w, "output.weight", ms->type, (uint64_t)d, (uint64_t)ms->n_vocab, seed++, err);
    ok = ok && !add_mat(w, "output_norm.weight", FR_TYPE_F32, (uint64_t)d, 1, seed++, err);
    for (int l = 0; ok && l < ms->layers; l++) {
        static const char *mats[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        const int cols[7] = {d, d, d, d, d, d, ms->ff}, rows[7] = {d, kvd, kvd, d, ms->ff, ms->ff, d};
        for (int k = 0; ok && k < 7; k++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, mats[k]);
            ok = !add_mat(w, name, ms->type, (uint64_t)cols[k], (uint64_t)rows[k], seed++, err);
        }
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        ok = ok && !add_mat(w, name, FR_TYPE_F32, (uint64_t)d, 1, seed++, err);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        ok = ok && !add_mat(w, name, FR_TYPE_F32, (uint64_t)d, 1, seed++, err);
    }
    ok = ok && !fr_gguf_writer_write(w, path, 32, err);
    fr_gguf_writer_free(w);
    return !ok;
}

static int seed_models(const char *dir, fr_error *err) {
    static const model_seed seeds[4] = {
        {"spm_f32_tied.gguf", 16, 1, 2, 1, 24, 12, FR_TYPE_F32, FR_TYPE_F32, true, false},
        {"spm_q8_0.gguf", 32, 2, 4, 2, 32, 12, FR_TYPE_Q8_0, FR_TYPE_Q8_0, false, false},
        {"bpe_f16.gguf", 16, 1, 4, 4, 16, 12, FR_TYPE_F16, FR_TYPE_F16, false, true},
        {"spm_q4_0.gguf", 32, 1, 1, 1, 64, 12, FR_TYPE_Q4_0, FR_TYPE_Q4_0, true, false},
    };
    for (int i = 0; i < 4; i++)
        if (seed_model(dir, &seeds[i], err)) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: make_gguf_seeds GGUF_DIR [MODEL_DIR]\n");
        return 2;
    }
    fr_error err = {0};
    if (seed_vocab(argv[1], &err) || seed_all_types(argv[1], &err) || seed_tensors(argv[1], &err) ||
        (argc == 3 && seed_models(argv[2], &err))) {
        fprintf(stderr, "make_gguf_seeds: %s\n", err.msg[0] ? err.msg : "a seed tensor is too large");
        return 1;
    }
    return 0;
}
