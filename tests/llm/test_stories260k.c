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

/* The reference answers are kept in FR_BINARY_DIR/tests/stories260k_ref_<k>.txt (first line:
 * the prompt ids, then the generated ids) and reused while newer than the reference scripts. */
static void cache_path(int k, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/tests/stories260k_ref_%d.txt", FR_BINARY_DIR, k);
}

static time_t scripts_time(void) {
    time_t a = mtime(FR_SOURCE_DIR "/tools/py/ref_generate.py");
    time_t b = mtime(FR_SOURCE_DIR "/tools/py/llama_ref.py");
    return a > b ? a : b;
}

/* Reads a cached answer for prompt ids; returns the number of ids, or -1. */
static int read_cache(int k, const char *ids, int32_t *out, int cap) {
    char cache[1024], line[1024];
    cache_path(k, cache, sizeof cache);
    if (mtime(cache) <= scripts_time())
        return -1;
    FILE *f = fopen(cache, "r");
    if (!f)
        return -1;
    int got = -1, v;
    if (fgets(line, sizeof line, f) && strncmp(line, ids, strlen(ids)) == 0 &&
        line[strlen(ids)] == '\n') {
        got = 0;
        while (got < cap && fscanf(f, "%d", &v) == 1)
            out[got++] = v;
    }
    fclose(f);
    return got;
}

/* Runs ref_generate.py for every prompt without a valid cached answer, all in parallel
 * (Python start-up dominates), writing the caches. */
static void run_references(char ids[][512], int n_prompts) {
    static char all[16384];
    size_t off = 0;
    int32_t tmp[N_GEN + 8];
    for (int k = 0; k < n_prompts; k++) {
        if (read_cache(k, ids[k], tmp, N_GEN + 8) == N_GEN)
            continue;
        char cache[1024];
        cache_path(k, cache, sizeof cache);
        off += (size_t)snprintf(all + off, sizeof all - off,
                                "((echo '%s'; %s %s/tools/py/ref_generate.py --llama2c "
                                "'%s/stories260K.bin' --prompt-ids '%s' -n %d --ignore-eos) > "
                                "'%s.tmp' && mv '%s.tmp' '%s') & ",
                                ids[k], FR_PYTHON, FR_SOURCE_DIR, ASSETS, ids[k], N_GEN, cache,
                                cache, cache);
    }
    if (off == 0)
        return;
    snprintf(all + off, sizeof all - off, "wait");
    if (system(all) != 0)
        print_error("reference command returned non-zero: %s\n", all);
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
    enum { NP = sizeof PROMPTS / sizeof PROMPTS[0] };
    int32_t toks[NP][64];
    size_t n_toks[NP];
    char ids[NP][512];
    for (int pi = 0; pi < NP; pi++) {
        size_t n = 0;
        assert_int_equal(fr_tokenize(m, PROMPTS[pi], strlen(PROMPTS[pi]), true, toks[pi], 64, &n,
                                     &e),
                         FR_OK);
        assert_true(n >= 2);
        assert_int_equal(toks[pi][0], info.bos);
        n_toks[pi] = n;
        int off = 0;
        for (size_t i = 0; i < n; i++)
            off += snprintf(ids[pi] + off, sizeof ids[pi] - (size_t)off, "%s%d", i ? " " : "",
                            toks[pi][i]);
    }
    run_references(ids, NP);
    for (int pi = 0; pi < NP; pi++) {
        int32_t gen[N_GEN], want[N_GEN + 8];
        size_t n = n_toks[pi];
        int nw = read_cache(pi, ids[pi], want, N_GEN + 8);
        if (nw != N_GEN) {
            print_error("prompt '%s': the reference gave %d ids, expected %d\n", PROMPTS[pi], nw,
                        N_GEN);
            fail();
        }
        fr_kv_truncate(ctx, 0);
        assert_int_equal(fr_decode(ctx, toks[pi], (int32_t)n, 0, logits, false, &e), FR_OK);
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
