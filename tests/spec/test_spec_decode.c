/* Speculative decoding end to end:
 *  - greedy identity: for every controller and draft source (a draft model, prompt lookup,
 *    both), the generated tokens equal plain greedy decoding with the target, over several
 *    prompts and lengths (stories260K as target with a q8_0 copy of itself and a random
 *    model as drafts; the bundled frugal-tiny pair; the bundled frugal-small target with its
 *    two distilled drafts, whose passes are memory-bound and so verify long drafts);
 *  - sampling: the first generated token's empirical distribution under speculation fits
 *    the target's exact distribution (chi-square), and the second token's matches plain
 *    sampling's (two-sample chi-square), for each controller, with a draft whose
 *    distribution differs from the target's (the target's weights quantised to q4_0: about
 *    85% of drafted tokens are accepted, so both the acceptance test and the residual draw
 *    shape the result) and with prompt lookup beside it;
 *  - a draft with another vocabulary is refused with a message naming it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frugal.h"

#define TEST_DIR FR_BINARY_DIR "/tests/spec"

/* "/pP": with the draft confidence stop draft_p_min = P */
static const char *CONTROLLERS[] = {"fixed:1", "fixed:3", "fixed:8", "heuristic", "fsm",
                                    "cache-fsm", "rl", "cost", "auto", "fixed:4/p0.6"};
#define N_CONTROLLERS (sizeof CONTROLLERS / sizeof CONTROLLERS[0])

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int run(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) print_message("command failed (%d): %s\n", rc, cmd);
    return rc;
}

typedef struct loaded {
    fr_model *m;
    fr_context *c;
} loaded;

static void load(const char *path, int n_ctx, loaded *out) {
    fr_error e = {0};
    fr_model_params mp = fr_model_default_params();
    if (fr_model_load(path, &mp, &out->m, &e) != FR_OK) fail_msg("%s", e.msg);
    fr_context_params cp = fr_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = 1;
    if (fr_context_create(out->m, &cp, &out->c, &e) != FR_OK) fail_msg("%s", e.msg);
}

static void unload(loaded *l) {
    fr_context_free(l->c);
    fr_model_free(l->m);
}

/* Plain greedy decoding: n tokens after the prompt (EOS not special). */
static void plain_greedy(loaded *t, const int32_t *prompt, int np, int n, int32_t *out) {
    fr_error e = {0};
    int32_t V = fr_model_n_vocab(t->m);
    float *logits = malloc(sizeof *logits * (size_t)V);
    fr_kv_truncate(t->c, 0);
    assert_int_equal(fr_decode(t->c, prompt, np, 0, logits, false, &e), FR_OK);
    for (int i = 0; i < n; i++) {
        out[i] = fr_sampler_argmax(logits, V);
        assert_int_equal(fr_decode(t->c, &out[i], 1, np + i, logits, false, &e), FR_OK);
    }
    free(logits);
}

/* Speculative generation of n tokens with the given sources ("draft" models and/or lookup). */
static void spec_generate(loaded *t, loaded **drafts, int n_drafts, int lookup, const char *ctl,
                          float temp, uint64_t seed, const int32_t *prompt, int np, int n,
                          int32_t *out, fr_spec_stats *stats) {
    fr_error e = {0};
    fr_spec_params sp = fr_spec_default_params();
    char name[32];
    snprintf(name, sizeof name, "%s", ctl);
    char *slash = strchr(name, '/');
    if (slash) {
        sp.draft_p_min = strtof(slash + 2, NULL);
        *slash = '\0';
    }
    sp.controller = name;
    sp.sampling.temperature = temp;
    sp.sampling.top_k = 8;
    sp.sampling.top_p = 1.0f;
    sp.sampling.seed = seed;
    fr_spec *s = NULL;
    if (fr_spec_create(t->m, t->c, &sp, &s, &e) != FR_OK) fail_msg("%s", e.msg);
    for (int i = 0; i < n_drafts; i++)
        if (fr_spec_add_draft(s, drafts[i]->m, drafts[i]->c, "draft", &e) != FR_OK) fail_msg("%s", e.msg);
    if (lookup) assert_int_equal(fr_spec_add_lookup(s, &e), FR_OK);
    if (fr_spec_start(s, prompt, np, &e) != FR_OK) fail_msg("%s", e.msg);
    int got = 0;
    int32_t buf[32];
    while (got < n) {
        int32_t k = 0;
        if (fr_spec_step(s, buf, 32, &k, &e) != FR_OK) fail_msg("%s", e.msg);
        for (int i = 0; i < k && got < n; i++) out[got++] = buf[i];
    }
    if (stats) fr_spec_get_stats(s, stats);
    fr_spec_free(s);
}

static const char *PROMPTS[] = {"Once upon a time", "Lily and Tom went to the park. Lily said",
                                "The cat sat on the mat. The cat sat on the", "One day"};

/* min_withheld: at least this many tokens drafted but not verified by auto over the run (0
 * where the draft is nearly always right, as a quantised copy of the target: nothing to stop);
 * min_long_lookup: at least this many steps where auto sent 5 or more prompt-lookup tokens
 * (its stop rule on a long match in text that repeats itself). */
static void greedy_identity(loaded *t, loaded **drafts, int n_drafts, const char *label, int64_t min_withheld,
                            int64_t min_long_lookup) {
    fr_error e = {0};
    const int lens[] = {40, 120};
    int32_t plain[160], spec[160], prompt[128];
    int64_t auto_withheld = 0; /* tokens auto's per-token stop drafted but did not verify */
    int64_t long_lookup = 0;   /* auto's steps with lookup alone and gamma >= 5 */
    for (size_t pi = 0; pi < sizeof PROMPTS / sizeof PROMPTS[0]; pi++) {
        size_t np = 0;
        assert_int_equal(fr_tokenize(t->m, PROMPTS[pi], strlen(PROMPTS[pi]), true, prompt, 128, &np, &e), FR_OK);
        int n = lens[pi % 2];
        plain_greedy(t, prompt, (int)np, n, plain);
        for (size_t ci = 0; ci < N_CONTROLLERS; ci++) {
            /* sources: each draft alone, lookup alone, all together */
            for (int mode = 0; mode <= n_drafts + 1; mode++) {
                loaded *ds[4];
                int nd = 0, lookup = 0;
                if (mode < n_drafts) ds[nd++] = drafts[mode];
                else if (mode == n_drafts) lookup = 1;
                else {
                    for (int i = 0; i < n_drafts; i++) ds[nd++] = drafts[i];
                    lookup = 1;
                }
                fr_spec_stats st;
                spec_generate(t, ds, nd, lookup, CONTROLLERS[ci], 0.0f, 1, prompt, (int)np, n, spec, &st);
                for (int i = 0; i < n; i++)
                    if (spec[i] != plain[i])
                        fail_msg("%s: prompt %zu, controller %s, sources mode %d: token %d is %d, plain greedy gives %d",
                                 label, pi, CONTROLLERS[ci], mode, i, spec[i], plain[i]);
                assert_true(st.tokens >= n);
                assert_true(st.accepted <= st.drafted);
                if (strchr(CONTROLLERS[ci], '/') && mode < n_drafts) /* the confidence stop fired */
                    assert_true(st.drafted < 4 * st.steps);
                if (!strcmp(CONTROLLERS[ci], "auto")) {
                    auto_withheld += st.withheld;
                    if (mode == n_drafts)
                        for (int g = 5; g < FR_SPEC_HIST_MAX; g++) long_lookup += st.gamma_hist[g];
                } else {
                    assert_int_equal(st.withheld, 0);
                }
            }
        }
    }
    print_message("%s: auto withheld %lld drafted tokens, sent >= 5 lookup tokens in %lld steps\n", label,
                  (long long)auto_withheld, (long long)long_lookup);
    assert_true(auto_withheld >= min_withheld); /* the per-token stop was exercised */
    assert_true(long_lookup >= min_long_lookup);
}

static const char *stories_gguf(const char *type) {
    static char path[2][512];
    int slot = !strcmp(type, "f32") ? 0 : 1;
    snprintf(path[slot], sizeof path[slot], TEST_DIR "/stories260K-%s.gguf", type);
    if (!file_exists(path[slot])) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "mkdir -p " TEST_DIR " && " FR_BINARY_DIR "/bin/frugal convert-llama2c "
                 FR_ASSETS "/llm/stories260K.bin " FR_ASSETS "/llm/tok512.bin %s --type %s > /dev/null",
                 path[slot], type);
        if (run(cmd) != 0) return NULL;
    }
    return path[slot];
}

static const char *random_model(const char *name, int vocab, int seed, const char *type) {
    static char path[4][512];
    static int next = 0;
    char *p = path[next++ % 4];
    snprintf(p, 512, TEST_DIR "/%s.gguf", name);
    if (!file_exists(p)) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "mkdir -p " TEST_DIR " && " FR_PYTHON " " FR_SOURCE_DIR
                 "/tools/py/make_test_model.py --out %s --ref %s.ref --dim 64 --n-layers 2 --n-heads 4 "
                 "--n-kv-heads 2 --hidden 96 --vocab %d --ctx 256 --type %s --tied 0 --seed %d --n-tokens 4",
                 p, p, vocab, type, seed);
        if (run(cmd) != 0) return NULL;
    }
    return p;
}

static void test_greedy_identity_stories260k(void **state) {
    (void)state;
    if (!file_exists(FR_ASSETS "/llm/stories260K.bin")) {
        print_message("SKIPPED: " FR_ASSETS "/llm/stories260K.bin not found\n");
        skip();
    }
    const char *t32 = stories_gguf("f32"), *t8 = stories_gguf("q8_0");
    assert_non_null(t32);
    assert_non_null(t8);
    loaded t, d;
    load(t32, 512, &t);
    load(t8, 512, &d);
    loaded *drafts[] = {&d};
    greedy_identity(&t, drafts, 1, "stories260K", 0, 0);
    unload(&d);
    unload(&t);
}

static void test_greedy_identity_bundled_pair(void **state) {
    (void)state;
    const char *tp = FR_SOURCE_DIR "/models/frugal-tiny.gguf", *dp = FR_SOURCE_DIR "/models/frugal-tiny-draft.gguf";
    assert_true(file_exists(tp));
    assert_true(file_exists(dp));
    loaded t, d;
    load(tp, 512, &t);
    load(dp, 512, &d);
    loaded *drafts[] = {&d};
    greedy_identity(&t, drafts, 1, "frugal-tiny", 1, 1);
    /* stories260K shares the 512-token vocabulary and serves as a second draft */
    if (file_exists(FR_ASSETS "/llm/stories260K.bin")) {
        loaded s;
        load(stories_gguf("f32"), 512, &s);
        loaded *two[] = {&d, &s};
        greedy_identity(&t, two, 2, "frugal-tiny + 2 drafts", 1, 1);
        unload(&s);
    }
    unload(&d);
    unload(&t);
}

/* The speculative-decoding pair of the demo: a 31 MB target and its drafts distilled from it
 * (docs/training.md, "The small pair"). */
static void test_greedy_identity_small_pair(void **state) {
    (void)state;
    const char *tp = FR_SOURCE_DIR "/models/frugal-small.gguf", *dp = FR_SOURCE_DIR "/models/frugal-small-draft.gguf",
               *mp = FR_SOURCE_DIR "/models/frugal-small-draft-mini.gguf";
    assert_true(file_exists(tp));
    assert_true(file_exists(dp));
    assert_true(file_exists(mp));
    loaded t, d, m;
    load(tp, 512, &t);
    load(dp, 512, &d);
    load(mp, 512, &m);
    loaded *drafts[] = {&m, &d};
    greedy_identity(&t, drafts, 2, "frugal-small", 1, 1);
    unload(&m);
    unload(&d);
    unload(&t);
}

/* The pair both sampling tests use: a random f32 target and a q4_0 draft of the same shape
 * (vocabulary 300), with a 64-token context. */
static void load_sampling_pair(loaded *t, loaded *d) {
    const char *tp = random_model("spec-target", 300, 11, "f32"), *dp = random_model("spec-draft-q4", 300, 11, "q4_0");
    assert_non_null(tp);
    assert_non_null(dp);
    load(tp, 64, t);
    load(dp, 64, d);
}

/* Chi-square goodness of fit of the first generated token against the exact target
 * distribution (after temperature and top-k), for each controller. */
static void test_sampling_distribution(void **state) {
    (void)state;
    loaded t, d;
    load_sampling_pair(&t, &d);
    fr_error e = {0};
    const int32_t prompt[] = {1, 100, 200, 150};
    const int np = 4;
    int32_t V = fr_model_n_vocab(t.m);
    float *logits = malloc(sizeof *logits * (size_t)V), *probs = malloc(sizeof *probs * (size_t)V);
    fr_kv_truncate(t.c, 0);
    assert_int_equal(fr_decode(t.c, prompt, np, 0, logits, false, &e), FR_OK);
    fr_sampler_params sp = fr_sampler_default_params();
    sp.temperature = 1.0f;
    sp.top_k = 8;
    sp.top_p = 1.0f;
    fr_sampler *smp;
    assert_int_equal(fr_sampler_create(&sp, V, &smp, &e), FR_OK);
    assert_int_equal(fr_sampler_probs(smp, logits, V, probs, &e), FR_OK);
    fr_sampler_free(smp);

    const int runs = 3000;
    loaded *drafts[] = {&d};
    int *count = calloc((size_t)V, sizeof *count);
    for (size_t ci = 0; ci < N_CONTROLLERS; ci++) {
        memset(count, 0, sizeof *count * (size_t)V);
        int32_t out[2];
        for (int r = 0; r < runs; r++) {
            spec_generate(&t, drafts, 1, 0, CONTROLLERS[ci], 1.0f, 1000 + (uint64_t)r * 7919, prompt, np, 1, out, NULL);
            assert_true(out[0] >= 0 && out[0] < V);
            count[out[0]]++;
        }
        double chi2 = 0;
        int df = -1;
        for (int32_t i = 0; i < V; i++) {
            if (probs[i] == 0.0f) {
                if (count[i] != 0) fail_msg("%s: token %d has probability 0 but was drawn %d times", CONTROLLERS[ci], i, count[i]);
                continue;
            }
            double ex = probs[i] * runs;
            chi2 += (count[i] - ex) * (count[i] - ex) / ex;
            df++;
        }
        /* 99.9% quantile of chi-square with df = 7 is 24.3 */
        print_message("%-10s chi2 = %.2f (df %d)\n", CONTROLLERS[ci], chi2, df);
        assert_true(df <= 7);
        assert_true(chi2 < 24.3);
    }
    free(count);
    free(logits);
    free(probs);
    unload(&d);
    unload(&t);
}

/* Plain sampling of two tokens after the prompt with the target alone. */
static void plain_sample2(loaded *t, const fr_sampler_params *sp, const int32_t *prompt, int np,
                          int32_t out[2]) {
    fr_error e = {0};
    int32_t V = fr_model_n_vocab(t->m);
    float *logits = malloc(sizeof *logits * (size_t)V);
    fr_sampler *smp;
    assert_int_equal(fr_sampler_create(sp, V, &smp, &e), FR_OK);
    fr_kv_truncate(t->c, 0);
    assert_int_equal(fr_decode(t->c, prompt, np, 0, logits, false, &e), FR_OK);
    out[0] = fr_sampler_sample(smp, logits, V);
    assert_int_equal(fr_decode(t->c, &out[0], 1, np, logits, false, &e), FR_OK);
    out[1] = fr_sampler_sample(smp, logits, V);
    fr_sampler_free(smp);
    free(logits);
}

/* 99.9% quantile of chi-square with df degrees of freedom (Wilson-Hilferty). */
static double chi2_crit(int df) {
    double z = 3.0902, a = 2.0 / (9.0 * df);
    double c = 1.0 - a + z * sqrt(a);
    return df * c * c * c;
}

/* The second generated token depends on how the first step's draft was accepted, so its
 * marginal distribution under speculation is compared with plain sampling's (two-sample
 * chi-square, rare tokens pooled), for each controller. */
static void test_sampling_second_token(void **state) {
    (void)state;
    loaded t, d;
    load_sampling_pair(&t, &d);
    const int32_t prompt[] = {1, 100, 200, 150};
    const int np = 4, runs = 3000;
    int32_t V = fr_model_n_vocab(t.m);
    fr_sampler_params sp = fr_sampler_default_params();
    sp.temperature = 1.0f;
    sp.top_k = 8;
    sp.top_p = 1.0f;
    int *plain = calloc((size_t)V, sizeof *plain), *spec = calloc((size_t)V, sizeof *spec);
    int32_t out[2];
    for (int r = 0; r < runs; r++) {
        sp.seed = 5000 + (uint64_t)r * 104729;
        plain_sample2(&t, &sp, prompt, np, out);
        plain[out[1]]++;
    }
    loaded *drafts[] = {&d};
    for (size_t ci = 0; ci < N_CONTROLLERS; ci++) {
        memset(spec, 0, sizeof *spec * (size_t)V);
        for (int r = 0; r < runs; r++) {
            spec_generate(&t, drafts, 1, 1, CONTROLLERS[ci], 1.0f, 90000 + (uint64_t)r * 7919, prompt, np, 2, out, NULL);
            spec[out[1]]++;
        }
        double chi2 = 0;
        int df = -1, pool_a = 0, pool_b = 0;
        for (int32_t i = 0; i < V; i++) {
            if (plain[i] + spec[i] == 0) continue;
            if (plain[i] + spec[i] < 20) { /* pool rare tokens into one bin */
                pool_a += plain[i];
                pool_b += spec[i];
                continue;
            }
            double diff = plain[i] - spec[i];
            chi2 += diff * diff / (plain[i] + spec[i]);
            df++;
        }
        if (pool_a + pool_b > 0) {
            double diff = pool_a - pool_b;
            chi2 += diff * diff / (pool_a + pool_b);
            df++;
        }
        print_message("%-10s second token: chi2 = %.2f (df %d, 99.9%% critical %.2f)\n", CONTROLLERS[ci], chi2, df,
                      chi2_crit(df));
        assert_true(df >= 5);
        assert_true(chi2 < chi2_crit(df));
    }
    free(plain);
    free(spec);
    unload(&d);
    unload(&t);
}

static void test_vocab_mismatch(void **state) {
    (void)state;
    const char *tp = random_model("spec-target", 300, 11, "f32"), *op = random_model("spec-other", 320, 13, "f32");
    assert_non_null(tp);
    assert_non_null(op);
    loaded t, o;
    load(tp, 64, &t);
    load(op, 64, &o);
    fr_error e = {0};
    fr_spec *s = NULL;
    fr_spec_params sp = fr_spec_default_params();
    assert_int_equal(fr_spec_create(t.m, t.c, &sp, &s, &e), FR_OK);
    assert_int_equal(fr_spec_add_draft(s, o.m, o.c, "other.gguf", &e), FR_E_ARG);
    assert_non_null(strstr(e.msg, "other.gguf"));
    assert_non_null(strstr(e.msg, "320"));
    sp.controller = "fixed:99";
    fr_spec *s2 = NULL;
    assert_int_equal(fr_spec_create(t.m, t.c, &sp, &s2, &e), FR_E_ARG);
    assert_null(s2);
    sp = fr_spec_default_params();
    sp.draft_p_min = 1.5f;
    assert_int_equal(fr_spec_create(t.m, t.c, &sp, &s2, &e), FR_E_ARG);
    assert_null(s2);
    assert_non_null(strstr(e.msg, "--draft-p-min"));
    fr_spec_free(s);
    unload(&o);
    unload(&t);
}

/* argv[1]: "greedy", "greedy-small" or "sampling" runs one group (CTest runs them as three
 * tests, so that each stays short under the sanitizers); no argument runs all. */
int main(int argc, char **argv) {
    const struct CMUnitTest sampling[] = {
        cmocka_unit_test(test_vocab_mismatch),
        cmocka_unit_test(test_sampling_distribution),
        cmocka_unit_test(test_sampling_second_token),
    };
    const struct CMUnitTest greedy[] = {
        cmocka_unit_test(test_greedy_identity_stories260k),
        cmocka_unit_test(test_greedy_identity_bundled_pair),
    };
    const struct CMUnitTest greedy_small[] = {
        cmocka_unit_test(test_greedy_identity_small_pair),
    };
    const char *which = argc > 1 ? argv[1] : "";
    int all = !*which, rc = 0;
    if (!all && strcmp(which, "sampling") && strcmp(which, "greedy") && strcmp(which, "greedy-small")) {
        fprintf(stderr, "test_spec_decode: unknown group '%s' (greedy, greedy-small or sampling)\n", which);
        return 1;
    }
    if (all || !strcmp(which, "sampling")) rc |= cmocka_run_group_tests_name("sampling", sampling, NULL, NULL);
    if (all || !strcmp(which, "greedy")) rc |= cmocka_run_group_tests_name("greedy", greedy, NULL, NULL);
    if (all || !strcmp(which, "greedy-small"))
        rc |= cmocka_run_group_tests_name("greedy-small", greedy_small, NULL, NULL);
    return rc;
}
