/* Tokenizers built from a GGUF vocabulary (tokenizer.ggml.* keys):
 *   "llama": SentencePiece-style — token scores, byte fallback <0xNN>, a leading space
 *            added (tokenizer.ggml.add_space_prefix, default true), spaces as U+2581.
 *   "gpt2" : byte-level BPE with ranked merges (tokenizer.ggml.merges) and the GPT-2
 *            pre-tokenizer split.
 * Must reproduce llama.cpp's test vectors exactly (tests/llm/test_vocab.c). */
#ifndef FR_LLM_VOCAB_H
#define FR_LLM_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef struct fr_vocab fr_vocab;

typedef enum fr_vocab_kind { FR_VOCAB_SPM = 1, FR_VOCAB_BPE = 2 } fr_vocab_kind;

fr_status fr_vocab_load(const fr_gguf *g, fr_vocab **out, fr_error *err);
void fr_vocab_free(fr_vocab *v);

fr_vocab_kind fr_vocab_get_kind(const fr_vocab *v);
int32_t fr_vocab_n_tokens(const fr_vocab *v);
int32_t fr_vocab_bos(const fr_vocab *v); /* -1 if none */
int32_t fr_vocab_eos(const fr_vocab *v); /* -1 if none */
bool fr_vocab_add_bos(const fr_vocab *v); /* tokenizer.ggml.add_bos_token (default true for llama) */

/* Encodes len bytes of text. Writes at most cap ids to out and the full count to *n_out;
 * returns FR_E_RANGE if cap was too small (with *n_out the count needed). */
fr_status fr_vocab_encode(const fr_vocab *v, const char *text, size_t len, bool add_bos,
                          int32_t *out, size_t cap, size_t *n_out, fr_error *err);

/* The token's raw text from the vocabulary (NUL-terminated; "" for an invalid id). */
const char *fr_vocab_token_text(const fr_vocab *v, int32_t id);
/* The bytes this token stands for when printed (byte tokens become their byte, U+2581 a
 * space, GPT-2 byte-level chars their bytes; control tokens print nothing). Returns the
 * number of bytes (may exceed cap: then only cap were written). */
size_t fr_vocab_piece(const fr_vocab *v, int32_t id, char *buf, size_t cap);

/* ---- Additions (beyond the first interface) ---- */

/* tokenizer.ggml.token_type values. */
typedef enum fr_vocab_token_type {
    FR_TOKEN_UNDEFINED = 0,
    FR_TOKEN_NORMAL = 1,
    FR_TOKEN_UNKNOWN = 2,
    FR_TOKEN_CONTROL = 3,
    FR_TOKEN_USER_DEFINED = 4,
    FR_TOKEN_UNUSED = 5,
    FR_TOKEN_BYTE = 6
} fr_vocab_token_type;

int32_t fr_vocab_unk(const fr_vocab *v); /* -1 if none */
int32_t fr_vocab_pad(const fr_vocab *v); /* -1 if none */
bool fr_vocab_add_space_prefix(const fr_vocab *v);
/* FR_TOKEN_UNDEFINED for an invalid id. */
fr_vocab_token_type fr_vocab_token_type_of(const fr_vocab *v, int32_t id);
/* The id whose text is exactly these len bytes, or -1. */
int32_t fr_vocab_find(const fr_vocab *v, const char *text, size_t len);

/* Like fr_vocab_encode; with parse_special, the texts of control and unknown tokens
 * (e.g. "<s>") in the input become those tokens (llama.cpp's parse_special). User-defined
 * tokens are always matched first, as llama.cpp does. */
fr_status fr_vocab_encode_special(const fr_vocab *v, const char *text, size_t len, bool add_bos,
                                  bool parse_special, int32_t *out, size_t cap, size_t *n_out,
                                  fr_error *err);

#endif
