/* Llama model internals: hyper-parameters and mapped weights, validated once at load. */
#ifndef FR_LLM_MODEL_H
#define FR_LLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"
#include "frugal_llm.h"
#include "gguf/gguf.h"
#include "llm/vocab.h"

typedef struct fr_llm_hparams {
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_rot, head_dim, n_ctx_train;
    float rope_base, rms_eps;
} fr_llm_hparams;

/* A weight matrix: rows of `cols` elements (ne[0]), `rows` of them (ne[1]). */
typedef struct fr_llm_weight {
    fr_type type;
    const void *data; /* inside the mapping */
    int32_t rows, cols;
    size_t row_bytes;
    const void *data_x16; /* Q8_0 in the packed x16 form for AVX-512 (in fr_model.x16_mem), or NULL */
} fr_llm_weight;

typedef struct fr_llm_layer {
    float *attn_norm, *ffn_norm; /* owned copies (n_embd) */
    fr_llm_weight wq, wk, wv, wo, w_gate, w_up, w_down;
} fr_llm_layer;

struct fr_model {
    char *path;
    fr_gguf *gguf;
    fr_vocab *vocab; /* NULL when the file has no tokenizer */
    fr_llm_hparams hp;
    fr_llm_weight tok_embd, output; /* output == tok_embd when tied */
    bool tied;
    float *output_norm; /* owned copy */
    fr_llm_layer *layers;
    uint64_t n_params, n_bytes;
    void *x16_mem; /* owned: the packed forms of the Q8_0 matrices, NULL when none */
};

/* fr_model_load from a GGUF image in memory (data, size; name for messages), which must stay
 * valid and unchanged while the model lives (the weights point into it; a buffer aligned to
 * 64 bytes keeps the kernels' loads aligned as a mapped file does). For the fuzz target and
 * tests; same statuses as fr_model_load. */
fr_status fr_model_load_buffer(const void *data, size_t size, const char *name,
                               const fr_model_params *params, fr_model **out, fr_error *err);

/* Writes the embedding row of token id (any weight type) as f32 into dst[n_embd]. */
void fr_llm_embed(const fr_model *m, int32_t id, float *dst);

#endif
