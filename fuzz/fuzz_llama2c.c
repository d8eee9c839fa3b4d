/* libFuzzer target for the llama2.c converter's parsers (`frugal convert-llama2c`): the
 * input is split in two at an offset given by its first two bytes; the first part is parsed
 * as a checkpoint header (fr_llama2c_parse_header: the header values and that the size is
 * exactly the one they imply), the second as a tokenizer file (fr_llama2c_parse_vocab) for
 * the header's vocabulary size when it parsed, else for a size given by the third byte.
 * Every failure must be a one-line message naming its file. Seeds: fuzz/seeds/llama2c/
 * (a v0 and a v1 header with their tiny weights, and tokenizers). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm/llama2c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fail(const fr_error *err, const char *name) {
    if (!strstr(err->msg, name) || strchr(err->msg, '\n')) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    size_t split = (size_t)data[0] | (size_t)data[1] << 8;
    const uint8_t *rest = data + 3;
    size_t n = size - 3;
    if (split > n) split = n;
    /* copies: the parsers read exactly their buffers, ASan sees any byte past them */
    uint8_t *model = malloc(split ? split : 1), *tok = malloc(n - split ? n - split : 1);
    if (!model || !tok) {
        free(model);
        free(tok);
        return 0;
    }
    memcpy(model, rest, split);
    memcpy(tok, rest + split, n - split);
    fr_llama2c_config cfg;
    fr_error err = {0};
    int32_t n_vocab = 1 + data[2] % 64;
    if (fr_llama2c_parse_header(model, split, "fuzz.bin", &cfg, &err) == FR_OK) {
        if (cfg.file_size != split || cfg.weights_offset > split || cfg.vocab_size < 1)
            __builtin_trap();
        n_vocab = cfg.vocab_size;
    } else {
        check_fail(&err, "fuzz.bin");
    }
    fr_llama2c_vocab v;
    if (fr_llama2c_parse_vocab(tok, n - split, "fuzz-tok.bin", n_vocab, &v, &err) == FR_OK) {
        if (v.n != n_vocab) __builtin_trap();
        for (int32_t i = 0; i < v.n; i++)
            if (!v.text[i] || (v.types[i] != 1 && v.types[i] != 2 && v.types[i] != 3 && v.types[i] != 6))
                __builtin_trap();
        fr_llama2c_vocab_free(&v);
    } else {
        check_fail(&err, "fuzz-tok.bin");
        if (v.text || v.n) __builtin_trap();
    }
    free(model);
    free(tok);
    return 0;
}
