/* Minimal use of the public API: load a GGUF Llama model and greedily continue a prompt.
 * usage: example_generate MODEL.gguf "PROMPT" [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frugal.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N]\n", argv[0]);
        return 2;
    }
    int n_new = argc > 3 ? atoi(argv[3]) : 64;
    fr_error err = {0};
    fr_model *model = NULL;
    fr_context *ctx = NULL;
    if (fr_model_load(argv[1], NULL, &model, &err) != FR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fr_model_info info;
    fr_model_get_info(model, &info);
    size_t len = strlen(argv[2]), n = 0;
    int32_t *toks = malloc(sizeof(int32_t) * (len + 16));
    float *logits = malloc(sizeof(float) * (size_t)info.n_vocab);
    int rc = 1;
    if (!toks || !logits)
        goto out;
    if (fr_tokenize(model, argv[2], len, info.add_bos, toks, len + 16, &n, &err) != FR_OK ||
        fr_context_create(model, NULL, &ctx, &err) != FR_OK ||
        fr_decode(ctx, toks, (int32_t)n, 0, logits, false, &err) != FR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    printf("%s", argv[2]);
    for (int i = 0; i < n_new && (int32_t)n + i < fr_context_n_ctx(ctx); i++) {
        int32_t tok = fr_sampler_argmax(logits, info.n_vocab);
        if (tok == info.eos)
            break;
        char piece[128];
        size_t np = fr_token_to_piece(model, tok, piece, sizeof piece);
        printf("%.*s", (int)(np < sizeof piece ? np : sizeof piece), piece);
        fflush(stdout);
        if (fr_decode(ctx, &tok, 1, (int32_t)n + i, logits, false, &err) != FR_OK) {
            fprintf(stderr, "%s\n", err.msg);
            goto out;
        }
    }
    printf("\n");
    rc = 0;
out:
    fr_context_free(ctx);
    fr_model_free(model);
    free(toks);
    free(logits);
    return rc;
}
