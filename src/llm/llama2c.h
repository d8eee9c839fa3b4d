/* Conversion of a llama2.c checkpoint and tokenizer to a GGUF file that llama.cpp and frugal load.
 *
 * Checkpoint (little-endian), two layouts:
 *   v0 (legacy): 7 x i32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *       (vocab_size < 0: a separate classifier is stored at the end), then float32
 *       token_embedding[vocab][dim], rms_att[L][dim], wq[L][dim][dim], wk[L][kv][dim],
 *       wv[L][kv][dim], wo[L][dim][dim], rms_ffn[L][dim], w1[L][hidden][dim],
 *       w2[L][dim][hidden], w3[L][hidden][dim], rms_final[dim],
 *       freq_cis_real[seq_len][head/2], freq_cis_imag[seq_len][head/2], [wcls[vocab][dim]].
 *   v1: u32 magic 0x616b3432 ("ak42"), i32 version 1, the 7 i32 (vocab_size > 0),
 *       u8 shared_classifier, zero padding to 256 bytes, then float32 rms_att[L][dim],
 *       rms_ffn[L][dim], rms_final[dim], token_embedding, wq, wk, wv, wo, w1, w2, w3,
 *       [wcls] (no RoPE tables).
 * Tokenizer: i32 max_token_length, then vocab_size x { f32 score, i32 len, len bytes }.
 *
 * The file sizes must match the header exactly. The GGUF gets the llama keys and tensors
 * (token_embd, blk.N.attn_norm/attn_q/attn_k/attn_v/attn_output/ffn_norm/ffn_gate/ffn_down/
 * ffn_up, output_norm, and output when the classifier is separate); norms stay f32, matrices
 * take the requested type (q8_0/q4_0 fall back to f16 when a row is not a multiple of 32). */
#ifndef FR_LLM_LLAMA2C_H
#define FR_LLM_LLAMA2C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/types.h"
#include "frugal.h"

typedef struct fr_llama2c_config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    bool shared_classifier;
    int version;             /* 0 (legacy header) or 1 ("ak42" header) */
    uint64_t weights_offset; /* byte offset of the first float32 weight */
    uint64_t file_size;      /* the exact size the header implies */
} fr_llama2c_config;

/* Parses and checks a checkpoint held in memory (size = the whole file): header values,
 * head counts, and that size equals the size the header implies. `name` is used in messages. */
fr_status fr_llama2c_parse_header(const void *data, size_t size, const char *name,
                                  fr_llama2c_config *cfg, fr_error *err);

/* A llama2.c tokenizer as GGUF wants it: each token's text (BOS / EOS as "<s>" / "</s>",
 * spaces as U+2581), score and type (tokenizer.ggml.token_type: 2 unknown, 3 control, 6 byte,
 * 1 normal). */
typedef struct fr_llama2c_vocab {
    int32_t n;
    char **text;
    float *scores;
    int32_t *types;
} fr_llama2c_vocab;

/* Parses a tokenizer file held in memory (size = the whole file) for a model of n_vocab
 * tokens: the file must hold exactly that many. `name` is used in messages. On failure *v is
 * left empty. */
fr_status fr_llama2c_parse_vocab(const void *data, size_t size, const char *name, int32_t n_vocab,
                                 fr_llama2c_vocab *v, fr_error *err);
/* Frees what fr_llama2c_parse_vocab filled (an empty one is a no-op). */
void fr_llama2c_vocab_free(fr_llama2c_vocab *v);

/* Converts model_path + tok_path into out_path with matrices of `type` (F32, F16, Q8_0 or
 * Q4_0). On failure no output file is left behind. */
fr_status fr_llama2c_convert(const char *model_path, const char *tok_path, const char *out_path,
                             fr_type type, fr_error *err);

#endif
