/*
 * frugal LLM API: Llama-family models stored as GGUF ("llama" architecture).
 * See frugal.h for the conventions shared by every call (fr_status, fr_error).
 *
 * Objects and their owners:
 *   fr_model    the read-only weights (memory-mapped), hyper-parameters and tokenizer.
 *               One model may serve any number of contexts (each used by one thread).
 *   fr_context  the mutable state of one sequence: the KV cache, activation scratch and
 *               a thread pool. Decoding never allocates.
 *   fr_sampler  turns a row of logits into a token (greedy, temperature, top-k, top-p)
 *               with its own seeded random generator.
 *
 * A minimal program (error checks elided):
 *
 *   fr_model *m; fr_context *c; fr_error e = {0};
 *   fr_model_params mp = fr_model_default_params();
 *   fr_model_load("model.gguf", &mp, &m, &e);
 *   fr_context_params cp = fr_context_default_params();
 *   fr_context_create(m, &cp, &c, &e);
 *   int32_t toks[64]; size_t n;
 *   fr_tokenize(m, "Once upon a time", 16, true, toks, 64, &n, &e);
 *   float *logits = malloc(sizeof(float) * fr_model_n_vocab(m));
 *   fr_decode(c, toks, (int32_t)n, 0, logits, false, &e);      // the whole prompt, one pass
 *   int32_t next = fr_sampler_argmax(logits, fr_model_n_vocab(m));
 *   fr_decode(c, &next, 1, (int32_t)n, logits, false, &e);      // one more token
 *   ...
 *   fr_context_free(c); fr_model_free(m);
 *
 * Model semantics (identical to the PyTorch reference in tools/py):
 *   h = embed(token); per layer:
 *     h += Wo · attn(rope(Wq·rms(h)), rope(Wk·rms(h)), Wv·rms(h))   (causal, GQA, 1/sqrt(hd))
 *     h += Wdown · (silu(Wgate·rms(h)) * (Wup·rms(h)))
 *   logits = Wout · rms(h)   (Wout = token embedding when output.weight is absent)
 *   rms(x) = x / sqrt(mean(x²) + eps) * w; RoPE rotates adjacent pairs (x[2i], x[2i+1]) by
 *   pos * base^(-2i/rope_dim) for 2i < rope_dim.
 */
/* frugal.h first, outside the guard: it defines the shared types and then includes this
 * header (and those that build on it, like frugal_spec.h) in the right order. */
#include "frugal.h"

#ifndef FRUGAL_LLM_H
#define FRUGAL_LLM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_model fr_model;
typedef struct fr_context fr_context;
typedef struct fr_sampler fr_sampler;

/* ------------------------------------------------------------------------------------ */
/* Model                                                                                 */

typedef struct fr_model_params {
    /* Fail with FR_E_FORMAT when the file has no tokenizer (tokenizer.ggml.* keys).
     * When false (the default), such a model loads and works on token ids only:
     * fr_tokenize then returns FR_E_UNSUPPORTED. */
    bool require_vocab;
} fr_model_params;

/* The defaults: require_vocab = false. */
fr_model_params fr_model_default_params(void);

/* Opens a GGUF file and validates it completely: architecture "llama", every hyper-
 * parameter, every tensor present with a supported type (f32, f16, q8_0, q4_0; norms f32)
 * and exactly the shape the hyper-parameters imply, the vocabulary size equal to the
 * tokenizer's. Weights stay memory-mapped (read-only); nothing is copied but the norms.
 * params may be NULL (defaults). On success *out owns the model (free with fr_model_free).
 * Returns FR_OK; FR_E_IO (cannot open/map), FR_E_FORMAT (malformed file, missing or bad key
 * or tensor: the message names the file and the key/tensor), FR_E_UNSUPPORTED (another
 * architecture or tensor type), FR_E_NOMEM, FR_E_ARG (NULL path/out). */
fr_status fr_model_load(const char *path, const fr_model_params *params, fr_model **out,
                        fr_error *err);
/* Frees a model (NULL is a no-op). Every context made from it must be freed first. */
void fr_model_free(fr_model *model);

typedef struct fr_model_info {
    int32_t n_vocab;       /* vocabulary size (rows of the token embedding) */
    int32_t n_embd;        /* model dimension */
    int32_t n_layer;       /* transformer blocks */
    int32_t n_head;        /* query heads */
    int32_t n_head_kv;     /* key/value heads (GQA when < n_head) */
    int32_t n_ff;          /* feed-forward hidden size */
    int32_t n_rot;         /* RoPE dimensions per head */
    int32_t head_dim;      /* n_embd / n_head */
    int32_t n_ctx_train;   /* llama.context_length */
    float rope_freq_base;  /* llama.rope.freq_base */
    float rms_eps;         /* llama.attention.layer_norm_rms_epsilon */
    int32_t bos;           /* begin-of-sequence id, -1 if none (or no tokenizer) */
    int32_t eos;           /* end-of-sequence id, -1 if none */
    bool has_vocab;        /* a tokenizer was loaded */
    bool add_bos;          /* the tokenizer asks for BOS at the start of a prompt */
    bool tied_output;      /* output.weight absent: logits use the token embedding */
    uint32_t weight_type;  /* ggml type id of the attention query weights (0 f32, 1 f16,
                              2 q4_0, 8 q8_0): a label for the model's precision */
    uint64_t n_params;     /* number of weights */
    uint64_t n_bytes;      /* bytes of tensor data */
} fr_model_info;

/* Fills *info (both must be non-NULL). */
void fr_model_get_info(const fr_model *model, fr_model_info *info);
/* Shortcut for the vocabulary size. */
int32_t fr_model_n_vocab(const fr_model *model);

/* Tokenizes len bytes of text (need not be NUL-terminated), with a leading BOS when add_bos
 * and the vocabulary has one. Writes at most cap ids to out and the full count to *n_tokens.
 * Returns FR_OK; FR_E_RANGE when cap was too small (*n_tokens then holds the count needed);
 * FR_E_UNSUPPORTED when the model has no tokenizer; FR_E_ARG for NULL arguments. */
fr_status fr_tokenize(const fr_model *model, const char *text, size_t len, bool add_bos,
                      int32_t *out, size_t cap, size_t *n_tokens, fr_error *err);

/* Writes the bytes token `id` prints as (not NUL-terminated) into buf and returns their
 * count; when that exceeds cap only cap bytes were written. Returns 0 for control tokens,
 * invalid ids, or a model without tokenizer. */
size_t fr_token_to_piece(const fr_model *model, int32_t id, char *buf, size_t cap);

/* ------------------------------------------------------------------------------------ */
/* Context: KV cache + batched decoding                                                  */

typedef struct fr_context_params {
    int32_t n_ctx;      /* positions the KV cache holds; 0 = the model's n_ctx_train */
    int32_t n_threads;  /* threads used by decode (the caller is one of them); 0 = CPU count */
    int32_t n_batch;    /* most tokens per forward pass; larger decodes are chunked; 0 = 512 */
    int32_t kernel_isa; /* -1 = the best the CPU supports; 0 scalar, 1 AVX2, 2 AVX-512
                           (for tests and benchmarks; unsupported -> FR_E_UNSUPPORTED) */
} fr_context_params;

/* The defaults: n_ctx 0, n_threads 0, n_batch 512, kernel_isa -1. */
fr_context_params fr_context_default_params(void);

/* Creates a context with an empty KV cache (f32, n_layer x n_ctx x n_head_kv x head_dim
 * keys and values), all activation scratch for n_batch tokens, and its thread pool.
 * params may be NULL (defaults). Returns FR_OK; FR_E_ARG (n_ctx, n_threads > 256 or
 * n_batch out of range, NULL model/out), FR_E_UNSUPPORTED (kernel_isa), FR_E_NOMEM. */
fr_status fr_context_create(const fr_model *model, const fr_context_params *params,
                            fr_context **out, fr_error *err);
/* Frees a context (NULL is a no-op). */
void fr_context_free(fr_context *ctx);

int32_t fr_context_n_ctx(const fr_context *ctx);
int32_t fr_context_n_threads(const fr_context *ctx);

/* Runs the model on n >= 1 new tokens at positions pos, pos+1, ..., pos+n-1 in one forward
 * pass (each weight matrix is read once per n_batch tokens), appending their keys and values
 * to the cache. pos must not exceed fr_kv_n_pos(ctx) (the cache is contiguous); decoding
 * at pos < fr_kv_n_pos first forgets the entries at positions >= pos.
 * logits: NULL (compute nothing), or n x n_vocab floats when all_logits (row i = logits
 * after token i), or n_vocab floats for the last token only.
 * Returns FR_OK; FR_E_RANGE when pos + n > n_ctx (nothing is decoded); FR_E_ARG for n < 1,
 * pos < 0, a gap (pos > fr_kv_n_pos), a token id outside [0, n_vocab), NULL arguments.
 * Results do not depend on n_threads or n_batch chunking. */
fr_status fr_decode(fr_context *ctx, const int32_t *tokens, int32_t n, int32_t pos,
                    float *logits, bool all_logits, fr_error *err);

/* Number of positions held in the KV cache (the next position to decode). */
int32_t fr_kv_n_pos(const fr_context *ctx);
/* Forgets cache entries at positions >= n_pos (no-op when n_pos >= fr_kv_n_pos; n_pos < 0
 * is treated as 0). Used to roll back rejected speculative tokens or to restart. */
void fr_kv_truncate(fr_context *ctx, int32_t n_pos);

/* ------------------------------------------------------------------------------------ */
/* Sampling                                                                              */

typedef struct fr_sampler_params {
    float temperature; /* 0 = greedy (argmax); otherwise softmax(logits / temperature) */
    int32_t top_k;     /* keep the k most likely tokens; <= 0 or >= n_vocab = all */
    float top_p;       /* then keep the smallest most-likely set with mass >= top_p;
                          in (0, 1]; 1 = all */
    uint64_t seed;     /* seeds the sampler's own generator (same seed, same draws) */
} fr_sampler_params;

/* The defaults: temperature 0.8, top_k 40, top_p 0.95, seed 42. */
fr_sampler_params fr_sampler_default_params(void);

/* Creates a sampler for rows of n_vocab logits (its scratch is sized once here).
 * Returns FR_OK; FR_E_ARG (temperature < 0 or not finite, top_p outside (0, 1],
 * n_vocab < 1, NULL out); FR_E_NOMEM. */
fr_status fr_sampler_create(const fr_sampler_params *params, int32_t n_vocab,
                            fr_sampler **out, fr_error *err);
void fr_sampler_free(fr_sampler *s);
/* Restarts the random generator from seed. */
void fr_sampler_reseed(fr_sampler *s, uint64_t seed);

/* Draws a token from the distribution fr_sampler_probs describes (greedy: the argmax).
 * Returns the id, or -1 when n_vocab differs from the sampler's. Single-threaded and
 * deterministic: the same seed and logits give the same tokens. */
int32_t fr_sampler_sample(fr_sampler *s, const float *logits, int32_t n_vocab);

/* Writes the sampling distribution into probs[n_vocab]: softmax(logits / T), restricted to
 * the top_k most likely tokens, then to the smallest most-likely prefix whose mass reaches
 * top_p, renormalised (filtered tokens get 0). Greedy (T = 0): 1 at the argmax.
 * Ties are ordered by lower id first. Returns FR_OK or FR_E_ARG (n_vocab mismatch). */
fr_status fr_sampler_probs(fr_sampler *s, const float *logits, int32_t n_vocab, float *probs,
                           fr_error *err);

/* Draws an index from weights[n] (non-negative, need not sum to 1) with the sampler's
 * generator; -1 if every weight is 0 or n < 1. For speculative sampling's residuals. */
int32_t fr_sampler_sample_weights(fr_sampler *s, const float *weights, int32_t n);
/* A uniform draw in [0, 1) from the sampler's generator. */
double fr_sampler_uniform(fr_sampler *s);

/* Index of the largest logit (the lowest index among ties); -1 if n < 1. */
int32_t fr_sampler_argmax(const float *logits, int32_t n);

#ifdef __cplusplus
}
#endif

#endif /* FRUGAL_LLM_H */
