/* Writes small GGUF seed files for the fuzzer (fuzz/seeds/gguf) with frugal's writer.
 * Usage: make_gguf_seeds OUT_DIR */
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

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_gguf_seeds OUT_DIR\n");
        return 2;
    }
    fr_error err = {0};
    if (seed_vocab(argv[1], &err) || seed_all_types(argv[1], &err) || seed_tensors(argv[1], &err)) {
        fprintf(stderr, "make_gguf_seeds: %s\n", err.msg);
        return 1;
    }
    return 0;
}
