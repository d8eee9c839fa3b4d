/* End to end on a real model: stories260K (llama2.c) converted to GGUF by
 * `frugal convert-llama2c`, prompts tokenized with BOS, 200 greedy tokens (EOS ignored)
 * compared token for token with tools/py/ref_generate.py, which reads the original
 * llama2.c checkpoint with PyTorch (independent of frugal's converter and loader).
 * Skipped (with a message) only when the shared assets folder is absent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frugal.h"

#define ASSETS FR_ASSETS "/llm"
#define GGUF FR_BINARY_DIR "/tests/stories260K_f32.gguf"
#define N_GEN 200

static const char *PROMPTS[] = {"Once upon a time", "Lily and Tom", "The cat",
                                "One day a little bird"};

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int setup(void **state) {
    (void)state;
    if (!exists(ASSETS "/stories260K.bin") || !exists(ASSETS "/tok512.bin"))
        return 0;
    mkdir(FR_BINARY_DIR "/tests", 0777);
    const char *cmd = FR_BINARY_DIR "/bin/frugal convert-llama2c '" ASSETS "/stories260K.bin' '"
                      ASSETS "/tok512.bin' '" GGUF "' --type f32";
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
        return -1;
    }
    return 0;
}

static time_t mtime(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? st.st_mtime : 0;
}

/* Runs the PyTorch reference; returns the number of ids read into out. The answer is kept
 * in FR_BINARY_DIR/tests/stories260k_ref_<k>.txt (first line: the prompt ids) and reused
 * while it is newer than the reference scripts. */
static int reference(int k, const int32_t *prompt, size_t n, int32_t *out, int cap) {
    char ids[1024], cache[1024], line[1024];
    int off = 0;
    for (size_t i = 0; i < n; i++)
        off += snprintf(ids + off, sizeof ids - (size_t)off, "%s%d", i ? " " : "", prompt[i]);
    snprintf(cache, sizeof cache, "%s/tests/stories260k_ref_%d.txt", FR_BINARY_DIR, k);
    time_t scripts = mtime(FR_SOURCE_DIR "/tools/py/ref_generate.py");
    time_t lib = mtime(FR_SOURCE_DIR "/tools/py/llama_ref.py");
    scripts = lib > scripts ? lib : scripts;
    FILE *f = mtime(cache) > scripts ? fopen(cache, "r") : NULL;
    if (f) {
        int got = 0, v;
        if (fgets(line, sizeof line, f) && strncmp(line, ids, strlen(ids)) == 0 &&
            line[strlen(ids)] == '\n')
            while (got < cap && fscanf(f, "%d", &v) == 1)
                out[got++] = v;
        fclose(f);
        if (got == N_GEN)
            return got;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s %s/tools/py/ref_generate.py --llama2c '%s/stories260K.bin' --prompt-ids '%s' "
             "-n %d --ignore-eos", FR_PYTHON, FR_SOURCE_DIR, ASSETS, ids, N_GEN);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int got = 0, v;
    while (got < cap && fscanf(p, "%d", &v) == 1)
        out[got++] = v;
    int rc = pclose(p);
    if (rc != 0) {
        print_error("reference failed (%d): %s\n", rc, cmd);
        return -1;
    }
    if ((f = fopen(cache, "w")) != NULL) {
        fprintf(f, "%s\n", ids);
        for (int i = 0; i < got; i++)
            fprintf(f, "%d ", out[i]);
        fprintf(f, "\n");
        fclose(f);
    }
    return got;
}

static void test_greedy_matches_reference(void **state) {
    (void)state;
    if (!exists(ASSETS "/stories260K.bin") || !exists(ASSETS "/tok512.bin")) {
        printf("SKIPPED: %s/stories260K.bin or tok512.bin not found\n", ASSETS);
        skip();
    }
    fr_model *m = NULL;
    fr_context *ctx = NULL;
    fr_error e = {0};
    if (fr_model_load(GGUF, NULL, &m, &e) != FR_OK) {
        print_error("%s\n", e.msg);
        fail();
    }
    fr_model_info info;
    fr_model_get_info(m, &info);
    assert_int_equal(info.n_vocab, 512);
    assert_int_equal(info.n_layer, 5);
    assert_int_equal(info.n_head_kv, 4);
    assert_true(info.has_vocab);
    assert_int_equal(fr_context_create(m, NULL, &ctx, &e), FR_OK);
    float *logits = malloc(sizeof(float) * 512);
    assert_non_null(logits);
    for (size_t pi = 0; pi < sizeof PROMPTS / sizeof PROMPTS[0]; pi++) {
        int32_t toks[64], gen[N_GEN], want[N_GEN + 8];
        size_t n = 0;
        assert_int_equal(fr_tokenize(m, PROMPTS[pi], strlen(PROMPTS[pi]), true, toks, 64, &n, &e),
                         FR_OK);
        assert_true(n >= 2);
        assert_int_equal(toks[0], info.bos);
        int nw = reference((int)pi, toks, n, want, N_GEN + 8);
        assert_int_equal(nw, N_GEN);
        fr_kv_truncate(ctx, 0);
        assert_int_equal(fr_decode(ctx, toks, (int32_t)n, 0, logits, false, &e), FR_OK);
        for (int i = 0; i < N_GEN; i++) {
            gen[i] = fr_sampler_argmax(logits, 512);
            if (i + 1 < N_GEN)
                assert_int_equal(fr_decode(ctx, &gen[i], 1, (int32_t)n + i, logits, false, &e),
                                 FR_OK);
        }
        for (int i = 0; i < N_GEN; i++)
            if (gen[i] != want[i]) {
                print_error("prompt '%s': token %d is %d, the reference says %d\n", PROMPTS[pi], i,
                            gen[i], want[i]);
                fail();
            }
        /* print the story once, for the log */
        printf("%s", PROMPTS[pi]);
        for (int i = 0; i < 40; i++) {
            char buf[64];
            size_t k = fr_token_to_piece(m, gen[i], buf, sizeof buf);
            printf("%.*s", (int)(k < sizeof buf ? k : sizeof buf), buf);
        }
        printf("...\n");
    }
    free(logits);
    fr_context_free(ctx);
    fr_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_matches_reference),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
