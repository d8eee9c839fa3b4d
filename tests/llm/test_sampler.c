/* Sampler: greedy, top-k, top-p against a naive construction, empirical frequencies by
 * chi-square, reproducibility, argument checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frugal.h"

static uint64_t lcg = 777;
static float frand(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(lcg >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static fr_sampler *make(float t, int k, float p, uint64_t seed, int n) {
    fr_sampler_params sp = {t, k, p, seed};
    fr_sampler *s = NULL;
    fr_error e = {0};
    assert_int_equal(fr_sampler_create(&sp, n, &s, &e), FR_OK);
    return s;
}

static void test_greedy(void **state) {
    (void)state;
    enum { N = 300 };
    float l[N], pr[N];
    fr_sampler *g = make(0.0f, 40, 0.9f, 1, N);
    fr_sampler *k1 = make(1.5f, 1, 1.0f, 2, N);
    for (int r = 0; r < 50; r++) {
        for (int i = 0; i < N; i++)
            l[i] = 5 * frand();
        int best = 0;
        for (int i = 1; i < N; i++)
            if (l[i] > l[best])
                best = i;
        assert_int_equal(fr_sampler_argmax(l, N), best);
        assert_int_equal(fr_sampler_sample(g, l, N), best);
        assert_int_equal(fr_sampler_sample(k1, l, N), best);
        assert_int_equal(fr_sampler_probs(g, l, N, pr, NULL), FR_OK);
        for (int i = 0; i < N; i++)
            assert_true(pr[i] == (i == best ? 1.0f : 0.0f));
    }
    float ties[4] = {1, 3, 3, 2};
    assert_int_equal(fr_sampler_argmax(ties, 4), 1); /* lowest id among ties */
    assert_int_equal(fr_sampler_sample(g, ties, 3), -1); /* wrong vocabulary size */
    fr_sampler_free(g);
    fr_sampler_free(k1);
}

/* Naive: softmax(l/T) in double, sort all (stable by id), top-k, renormalise, top-p prefix. */
static void naive_probs(const float *l, int n, double t, int k, double p, double *out) {
    int *idx = malloc(sizeof(int) * n);
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < n; i++) {
        idx[i] = i;
        mx = l[i] > mx ? l[i] : mx;
    }
    for (int i = 1; i < n; i++) /* insertion sort: descending logit, ascending id */
        for (int j = i; j > 0 && (l[idx[j]] > l[idx[j - 1]]); j--) {
            int tt = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = tt;
        }
    int m = (k > 0 && k < n) ? k : n;
    for (int i = 0; i < m; i++)
        z += exp((l[idx[i]] - mx) / t);
    double cum = 0;
    int keep = m;
    for (int i = 0; i < m; i++) {
        cum += exp((l[idx[i]] - mx) / t) / z;
        if (cum >= p) {
            keep = i + 1;
            break;
        }
    }
    double z2 = 0;
    for (int i = 0; i < keep; i++)
        z2 += exp((l[idx[i]] - mx) / t);
    memset(out, 0, sizeof(double) * n);
    for (int i = 0; i < keep; i++)
        out[idx[i]] = exp((l[idx[i]] - mx) / t) / z2;
    free(idx);
}

static void test_probs_vs_naive(void **state) {
    (void)state;
    enum { N = 200 };
    float l[N], pr[N];
    double ref[N];
    const float temps[] = {0.3f, 1.0f, 2.0f};
    const int ks[] = {0, 1, 5, 40, N, N + 10};
    const float ps[] = {0.1f, 0.5f, 0.9f, 0.95f, 1.0f};
    for (int r = 0; r < 5; r++) {
        for (int i = 0; i < N; i++)
            l[i] = 4 * frand();
        for (size_t ti = 0; ti < 3; ti++)
            for (size_t ki = 0; ki < 6; ki++)
                for (size_t pi = 0; pi < 5; pi++) {
                    fr_sampler *s = make(temps[ti], ks[ki], ps[pi], 1, N);
                    assert_int_equal(fr_sampler_probs(s, l, N, pr, NULL), FR_OK);
                    naive_probs(l, N, temps[ti], ks[ki], ps[pi], ref);
                    for (int i = 0; i < N; i++)
                        if (fabs(pr[i] - ref[i]) > 1e-6) {
                            print_error("T=%g k=%d p=%g id %d: %g vs %g\n", (double)temps[ti],
                                        ks[ki], (double)ps[pi], i, (double)pr[i], ref[i]);
                            fail();
                        }
                    fr_sampler_free(s);
                }
    }
}

static void test_top_p_smallest_set(void **state) {
    (void)state;
    /* probabilities 0.4, 0.3, 0.2, 0.1 stored out of order */
    const double pr[4] = {0.1, 0.4, 0.2, 0.3};
    float l[4], out[4];
    for (int i = 0; i < 4; i++)
        l[i] = (float)log(pr[i]);
    fr_sampler *s = make(1.0f, 0, 0.65f, 3, 4); /* 0.4 + 0.3 = 0.7 >= 0.65 */
    assert_int_equal(fr_sampler_probs(s, l, 4, out, NULL), FR_OK);
    assert_true(out[0] == 0.0f && out[2] == 0.0f);
    assert_true(fabsf(out[1] - 0.4f / 0.7f) < 1e-6f && fabsf(out[3] - 0.3f / 0.7f) < 1e-6f);
    for (int i = 0; i < 1000; i++) {
        int t = fr_sampler_sample(s, l, 4);
        assert_true(t == 1 || t == 3);
    }
    fr_sampler_free(s);
    s = make(1.0f, 0, 0.35f, 3, 4); /* the top token alone (0.4) suffices */
    for (int i = 0; i < 200; i++)
        assert_int_equal(fr_sampler_sample(s, l, 4), 1);
    fr_sampler_free(s);
}

static void test_chi_square(void **state) {
    (void)state;
    enum { N = 10, DRAWS = 20000 };
    float l[N];
    double p[N], mx = -INFINITY, z = 0;
    const double t = 0.7;
    for (int i = 0; i < N; i++) {
        l[i] = 1.5f * frand();
        mx = l[i] > mx ? l[i] : mx;
    }
    for (int i = 0; i < N; i++)
        z += (p[i] = exp((l[i] - mx) / t));
    fr_sampler *s = make((float)t, 0, 1.0f, 2024, N);
    int count[N] = {0};
    for (int d = 0; d < DRAWS; d++) {
        int tok = fr_sampler_sample(s, l, N);
        assert_true(tok >= 0 && tok < N);
        count[tok]++;
    }
    double chi = 0;
    for (int i = 0; i < N; i++) {
        double e = DRAWS * p[i] / z;
        chi += (count[i] - e) * (count[i] - e) / e;
    }
    /* 9 degrees of freedom: P(chi2 > 27.88) = 0.001 */
    if (chi > 27.88) {
        print_error("chi-square %g too large\n", chi);
        fail();
    }
    /* sample_weights follows its (unnormalised) weights too */
    float w[4] = {1, 0, 2, 1};
    int c2[4] = {0};
    for (int d = 0; d < 8000; d++)
        c2[fr_sampler_sample_weights(s, w, 4)]++;
    assert_int_equal(c2[1], 0);
    chi = 0;
    for (int i = 0; i < 4; i++) {
        if (w[i] == 0)
            continue;
        double e = 8000 * w[i] / 4.0;
        chi += (c2[i] - e) * (c2[i] - e) / e;
    }
    assert_true(chi < 13.82); /* 2 dof, p = 0.001 */
    float zero[3] = {0, 0, 0};
    assert_int_equal(fr_sampler_sample_weights(s, zero, 3), -1);
    double u = fr_sampler_uniform(s);
    assert_true(u >= 0.0 && u < 1.0);
    fr_sampler_free(s);
}

static void test_reproducible(void **state) {
    (void)state;
    enum { N = 50 };
    float l[N];
    for (int i = 0; i < N; i++)
        l[i] = frand();
    fr_sampler *a = make(1.0f, 20, 0.9f, 99, N), *b = make(1.0f, 20, 0.9f, 99, N);
    int seq[300], diff = 0;
    for (int i = 0; i < 300; i++) {
        seq[i] = fr_sampler_sample(a, l, N);
        assert_int_equal(seq[i], fr_sampler_sample(b, l, N));
    }
    fr_sampler_reseed(a, 99);
    for (int i = 0; i < 300; i++)
        assert_int_equal(seq[i], fr_sampler_sample(a, l, N));
    fr_sampler *c = make(1.0f, 20, 0.9f, 100, N);
    for (int i = 0; i < 300; i++)
        diff += seq[i] != fr_sampler_sample(c, l, N);
    assert_true(diff > 0);
    fr_sampler_free(a);
    fr_sampler_free(b);
    fr_sampler_free(c);
}

static void test_bad_args(void **state) {
    (void)state;
    fr_sampler *s = NULL;
    fr_error e = {0};
    fr_sampler_params p = fr_sampler_default_params();
    p.temperature = -1;
    assert_int_equal(fr_sampler_create(&p, 10, &s, &e), FR_E_ARG);
    assert_non_null(strstr(e.msg, "temperature"));
    p = fr_sampler_default_params();
    p.top_p = 0;
    assert_int_equal(fr_sampler_create(&p, 10, &s, &e), FR_E_ARG);
    p.top_p = 1.5f;
    assert_int_equal(fr_sampler_create(&p, 10, &s, &e), FR_E_ARG);
    p.top_p = NAN;
    assert_int_equal(fr_sampler_create(&p, 10, &s, &e), FR_E_ARG);
    p = fr_sampler_default_params();
    assert_int_equal(fr_sampler_create(&p, 0, &s, &e), FR_E_ARG);
    assert_null(s);
    /* NaN logits are treated as -inf */
    assert_int_equal(fr_sampler_create(&p, 3, &s, &e), FR_OK);
    float l[3] = {NAN, 1.0f, NAN};
    for (int i = 0; i < 20; i++)
        assert_int_equal(fr_sampler_sample(s, l, 3), 1);
    float pr[3];
    assert_int_equal(fr_sampler_probs(s, l, 2, pr, &e), FR_E_ARG);
    float inf[3] = {1.0f, INFINITY, -INFINITY};
    assert_int_equal(fr_sampler_probs(s, inf, 3, pr, &e), FR_OK);
    assert_true(pr[1] == 1.0f && pr[0] == 0.0f && pr[2] == 0.0f);
    assert_int_equal(fr_sampler_sample(s, inf, 3), 1);
    fr_sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),       cmocka_unit_test(test_probs_vs_naive),
        cmocka_unit_test(test_top_p_smallest_set), cmocka_unit_test(test_chi_square),
        cmocka_unit_test(test_reproducible), cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
