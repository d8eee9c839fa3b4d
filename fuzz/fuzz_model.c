/* libFuzzer target for the llama model loader: a GGUF image in memory is loaded as a model
 * (hyper-parameters, every tensor's type and shape, the tokenizer), and whatever loads is
 * used: text tokenized, every id of the result turned back into its piece, three tokens
 * decoded in a small context (two passes: one token, then two more). A file that fails must
 * fail with a one-line message naming it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frugal_llm.h"
#include "llm/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char NAME[] = "fuzz.gguf";

static void use_vocab(const fr_model *m, int32_t n_vocab) {
    static const char text[] = "Once upon a time, \xe2\x80\x9c" "a\xe2\x80\x9d  b\n\tc 12\xff!";
    int32_t ids[64];
    size_t n = 0;
    fr_status st = fr_tokenize(m, text, sizeof text - 1, true, ids, 64, &n, NULL);
    if (st == FR_E_RANGE)
        return; /* more than 64 tokens: fine */
    if (st != FR_OK)
        __builtin_trap(); /* the model loaded with a tokenizer: any text must tokenize */
    char piece[256];
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= n_vocab) __builtin_trap();
        size_t len = fr_token_to_piece(m, ids[i], piece, sizeof piece);
        (void)len;
    }
    (void)fr_token_to_piece(m, -1, piece, sizeof piece);
    (void)fr_token_to_piece(m, n_vocab, piece, sizeof piece);
}

static void use_model(const fr_model *m) {
    fr_model_info info;
    fr_model_get_info(m, &info);
    if (info.n_vocab < 1) __builtin_trap();
    if (info.has_vocab) use_vocab(m, info.n_vocab);
    fr_context_params cp = fr_context_default_params();
    cp.n_ctx = 8;
    cp.n_threads = 1;
    fr_context *ctx = NULL;
    if (fr_context_create(m, &cp, &ctx, NULL) != FR_OK) return;
    float *logits = malloc(sizeof(float) * 3 * (size_t)info.n_vocab);
    if (logits) {
        const int32_t toks[3] = {0, info.n_vocab - 1, info.n_vocab / 2};
        if (fr_decode(ctx, toks, 1, 0, logits, false, NULL) != FR_OK ||
            fr_decode(ctx, toks + 1, 2, 1, logits, true, NULL) != FR_OK)
            __builtin_trap(); /* valid ids, room in the context: decoding must work */
        free(logits);
    }
    fr_context_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a mapped file starts on a page: keep the buffer aligned as the kernels expect */
    void *buf = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
    if (!buf) return 0;
    memcpy(buf, data, size);
    fr_model *m = NULL;
    fr_error err = {0};
    if (fr_model_load_buffer(buf, size, NAME, NULL, &m, &err) != FR_OK) {
        if (m || !strstr(err.msg, NAME) || strchr(err.msg, '\n')) __builtin_trap();
    } else {
        use_model(m);
        fr_model_free(m);
    }
    free(buf);
    return 0;
}
