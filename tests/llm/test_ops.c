/* The per-row LLM ops against naive double-precision versions on random data. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels.h"
#include "llm/ops.h"

static uint64_t rng_state = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void check_close(const float *got, const double *want, int n, double tol) {
    for (int i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > tol * (1.0 + fabs(want[i]))) {
            print_error("index %d: got %.9g want %.9g\n", i, (double)got[i], want[i]);
            fail();
        }
    }
}

static void test_rmsnorm(void **state) {
    (void)state;
    const int sizes[] = {1, 7, 16, 33, 64, 192, 260, 4096};
    fr_op_rmsnorm_fn impl[2] = {fr_op_rmsnorm, fr_op_rmsnorm_for(FR_ISA_AVX512)};
    for (int k = 0; k < 2; k++)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s];
        float *x = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * n);
        float *out = malloc(sizeof(float) * n);
        double *ref = malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++) {
            x[i] = 3.0f * frand();
            w[i] = frand();
        }
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += (double)x[i] * x[i];
        double r = 1.0 / sqrt(ss / n + 1e-5);
        for (int i = 0; i < n; i++)
            ref[i] = x[i] * r * w[i];
        impl[k](out, x, w, n, 1e-5f);
        check_close(out, ref, n, 1e-6);
        float *out0 = malloc(sizeof(float) * n); /* every implementation is the reference */
        assert_non_null(out0);
        fr_op_rmsnorm(out0, x, w, n, 1e-5f);
        assert_memory_equal(out, out0, sizeof(float) * (size_t)n);
        free(out0);
        impl[k](x, x, w, n, 1e-5f); /* in place */
        check_close(x, ref, n, 1e-6);
        free(x), free(w), free(out), free(ref);
    }
}

/* The residual add fused with RMSNorm: x becomes x + y exactly (float adds), out matches the
 * double-precision norm of it (out aliasing y, as in the forward pass), and every version
 * equals fr_op_add then fr_op_rmsnorm bit for bit. */
static void test_add_rmsnorm(void **state) {
    (void)state;
    const int sizes[] = {1, 7, 16, 33, 64, 192, 260};
    fr_op_add_rmsnorm_fn impl[2] = {fr_op_add_rmsnorm, fr_op_add_rmsnorm_for(FR_ISA_AVX512)};
    for (int k = 0; k < 2; k++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            const int n = sizes[s];
            float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
            float *w = malloc(sizeof(float) * n), *x2 = malloc(sizeof(float) * n);
            float *out2 = malloc(sizeof(float) * n);
            double *ref = malloc(sizeof(double) * n);
            assert_true(x && y && w && x2 && out2 && ref);
            for (int i = 0; i < n; i++) {
                x[i] = 3.0f * frand();
                y[i] = frand();
                w[i] = frand();
                x2[i] = x[i];
            }
            double ss = 0;
            for (int i = 0; i < n; i++) {
                float v = x[i] + y[i];
                ss += (double)v * v;
            }
            double r = 1.0 / sqrt(ss / n + 1e-5);
            for (int i = 0; i < n; i++)
                ref[i] = (double)(x[i] + y[i]) * r * w[i];
            fr_op_add(x2, y, n); /* the unfused sequence */
            fr_op_rmsnorm(out2, x2, w, n, 1e-5f);
            impl[k](y, x, y, w, n, 1e-5f); /* out aliases y */
            assert_memory_equal(x, x2, sizeof(float) * (size_t)n);
            check_close(y, ref, n, 1e-6);
            assert_memory_equal(y, out2, sizeof(float) * (size_t)n);
            free(x), free(y), free(w), free(x2), free(out2), free(ref);
        }
}

static void test_rope(void **state) {
    (void)state;
    const int hd = 40, heads = 3;
    const int rots[] = {40, 32, 16, 8, 2};
    const float bases[] = {10000.0f, 500000.0f};
    fr_op_rope_fn impl[2] = {fr_op_rope, fr_op_rope_for(FR_ISA_AVX512)};
    for (int k = 0; k < 2; k++)
    for (size_t ri = 0; ri < 5; ri++)
        for (size_t bi = 0; bi < 2; bi++)
            for (int pos = 0; pos < 300; pos += 37) {
                int nr = rots[ri];
                float x[120], cs[40];
                double ref[120], inv[20];
                for (int i = 0; i < hd * heads; i++)
                    x[i] = frand();
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < hd; i++) {
                        const float *v = x + h * hd;
                        double r;
                        if (i < nr) {
                            int p = i / 2;
                            double ang = pos * pow(bases[bi], -2.0 * p / nr);
                            double a = v[2 * p], b = v[2 * p + 1];
                            r = (i % 2 == 0) ? a * cos(ang) - b * sin(ang)
                                             : a * sin(ang) + b * cos(ang);
                        } else {
                            r = v[i];
                        }
                        ref[h * hd + i] = r;
                    }
                fr_op_rope_freqs(inv, nr, bases[bi]);
                fr_op_rope_table(cs, pos, inv, nr);
                float x0[120]; /* every implementation is the reference, bit for bit */
                memcpy(x0, x, sizeof x0);
                fr_op_rope(x0, heads, hd, nr, cs);
                impl[k](x, heads, hd, nr, cs);
                check_close(x, ref, hd * heads, 1e-5); /* the unrotated tail is untouched */
                assert_memory_equal(x, x0, sizeof x0);
            }
}

static void test_softmax(void **state) {
    (void)state;
    for (int n = 1; n < 600; n += 61) {
        float *x = malloc(sizeof(float) * n);
        double *ref = malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++)
            x[i] = 20.0f * frand();
        double mx = -INFINITY, z = 0;
        for (int i = 0; i < n; i++)
            mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < n; i++)
            z += exp(x[i] - mx);
        for (int i = 0; i < n; i++)
            ref[i] = exp(x[i] - mx) / z;
        fr_op_softmax(x, n);
        check_close(x, ref, n, 1e-5);
        free(x), free(ref);
    }
    float big[3] = {1000.0f, 1000.0f, -1000.0f}; /* no overflow */
    fr_op_softmax(big, 3);
    assert_true(fabsf(big[0] - 0.5f) < 1e-6f && fabsf(big[1] - 0.5f) < 1e-6f && big[2] == 0.0f);
}

static void test_silu_swiglu(void **state) {
    (void)state;
    enum { N = 203 };
    float g[N], u[N], g0[N];
    double ref[N];
    for (int i = 0; i < N; i++) {
        g0[i] = 12.0f * frand();
        u[i] = frand();
        double s = g0[i] / (1.0 + exp(-(double)g0[i]));
        assert_true(fabs((double)fr_op_silu(g0[i]) - s) < 1e-6 * (1 + fabs(s)));
        ref[i] = s * u[i];
    }
    g0[0] = -100.0f, ref[0] = -100.0 / (1.0 + exp(100.0)) * u[0]; /* exp overflow side */
    g0[1] = 100.0f, ref[1] = 100.0 * u[1];
    fr_op_swiglu_fn impl[3] = {fr_op_swiglu, fr_op_swiglu_for(FR_ISA_AVX2),
                               fr_op_swiglu_for(FR_ISA_AVX512)};
    for (int k = 0; k < 3; k++)
        for (int n = 0; n <= N; n += (n < 40 ? 1 : 37)) {
            memcpy(g, g0, sizeof g);
            impl[k](g, u, n);
            check_close(g, ref, n, 1e-6);
            for (int i = n; i < N; i++)
                assert_true(g[i] == g0[i]); /* nothing past n is touched */
        }
    assert_true(fr_op_silu(-100.0f) > -1e-30f && fr_op_silu(-100.0f) <= 0.0f);
    assert_true(fabsf(fr_op_silu(100.0f) - 100.0f) < 1e-4f);
}

static void test_dot_axpy_add(void **state) {
    (void)state;
    for (int n = 0; n < 70; n++) {
        float a[70] = {0}, b[70] = {0}, y[70] = {0};
        double d = 0, ry[70] = {0};
        for (int i = 0; i < n; i++) {
            a[i] = frand();
            b[i] = frand();
            y[i] = frand();
            d += (double)a[i] * b[i];
            ry[i] = y[i] + 0.5 * a[i];
        }
        assert_true(fabs((double)fr_op_dot(a, b, n) - d) < 1e-5);
        fr_op_axpy(y, 0.5f, a, n);
        check_close(y, ry, n, 1e-6);
        for (int i = 0; i < n; i++)
            ry[i] = (double)y[i] + b[i];
        fr_op_add(y, b, n);
        check_close(y, ry, n, 1e-6);
    }
}

/* Attention of n_tok tokens x nq heads (token i sees n_kv + i keys) against double
 * precision, for every implementation; and each query's result bit-identical to the same
 * query computed alone (n_tok = nq = 1), which batched and speculative decoding rely on. */
static void test_attend(void **state) {
    (void)state;
    const int hds[] = {1, 8, 13, 16, 32, 64, 80};
    const int nqs[] = {1, 2, 3, 4, 5, 8};
    const int ntoks[] = {1, 3, 8};
    fr_op_attend_fn impl[3] = {fr_op_attend_ref, fr_op_attend_for(FR_ISA_AVX2),
                               fr_op_attend_for(FR_ISA_AVX512)};
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
        for (size_t qi = 0; qi < sizeof nqs / sizeof nqs[0]; qi++)
            for (size_t ti = 0; ti < sizeof ntoks / sizeof ntoks[0]; ti++)
                for (int n_kv = 1; n_kv < 150; n_kv += 29) {
                    const int hd = hds[hi], nq = nqs[qi], n_tok = ntoks[ti];
                    const int n_all = n_kv + n_tok - 1;
                    const int cap = (n_all + FR_KV_BLOCK - 1) / FR_KV_BLOCK * FR_KV_BLOCK; /* whole key blocks */
                    const size_t q_stride = (size_t)(nq + 1) * (size_t)hd; /* a gap between tokens */
                    const size_t nqv = (size_t)n_tok * q_stride;
                    float *q = malloc(sizeof(float) * nqv), *out = malloc(sizeof(float) * nqv),
                          *one = malloc(sizeof(float) * (size_t)hd);
                    float *K = malloc(sizeof(float) * (size_t)hd * (size_t)cap);
                    float *V = malloc(sizeof(float) * (size_t)hd * (size_t)cap);
                    float *scores = malloc(sizeof(float) * (size_t)n_tok * (size_t)nq * (size_t)n_all);
                    double *s = malloc(sizeof(double) * (size_t)n_all), *ref = malloc(sizeof(double) * nqv);
                    assert_true(q && out && one && K && V && scores && s && ref);
                    for (size_t i = 0; i < nqv; i++)
                        q[i] = 2 * frand();
                    for (int i = 0; i < hd * cap; i++) {
                        K[i] = 2 * frand();
                        V[i] = frand();
                    }
                    double scale = 1.0 / sqrt(hd);
                    for (int tok = 0; tok < n_tok; tok++)
                        for (int j = 0; j < nq; j++) {
                            const size_t o = (size_t)tok * q_stride + (size_t)j * (size_t)hd;
                            const int n = n_kv + tok;
                            double mx = -INFINITY, z = 0;
                            for (int t = 0; t < n; t++) {
                                double d = 0;
                                for (int i = 0; i < hd; i++)
                                    d += (double)q[o + i] * K[(t / FR_KV_BLOCK) * hd * FR_KV_BLOCK + i * FR_KV_BLOCK + t % FR_KV_BLOCK];
                                s[t] = d * scale;
                                mx = s[t] > mx ? s[t] : mx;
                            }
                            for (int t = 0; t < n; t++)
                                z += (s[t] = exp(s[t] - mx));
                            for (int i = 0; i < hd; i++) {
                                ref[o + i] = 0;
                                for (int t = 0; t < n; t++)
                                    ref[o + i] += s[t] / z * V[t * hd + i];
                            }
                        }
                    for (int k = 0; k < 3; k++) {
                        for (size_t i = 0; i < nqv; i++)
                            out[i] = -7.0f; /* the gaps must stay untouched */
                        impl[k](q, n_tok, nq, q_stride, K, V, n_kv, hd, (float)scale, scores, out);
                        for (int tok = 0; tok < n_tok; tok++) {
                            const size_t o = (size_t)tok * q_stride;
                            check_close(out + o, ref + o, hd * nq, 2e-6);
                            for (int i = hd * nq; i < hd * (nq + 1); i++)
                                assert_true(out[o + (size_t)i] == -7.0f);
                            for (int j = 0; j < nq; j++) { /* the same query alone */
                                impl[k](q + o + (size_t)j * hd, 1, 1, 0, K, V, n_kv + tok, hd,
                                        (float)scale, scores, one);
                                if (memcmp(one, out + o + (size_t)j * hd, sizeof(float) * (size_t)hd) != 0)
                                    fail_msg("attend impl %d: token %d head %d of %d x %d (hd %d, n_kv %d) differs "
                                             "from the query alone", k, tok, j, n_tok, nq, hd, n_kv);
                            }
                        }
                    }
                    free(q), free(out), free(one), free(K), free(V), free(scores), free(s), free(ref);
                }
    /* very negative scores underflow to 0 without NaN */
    float q1[1] = {1}, K1[3] = {0, -200, -300}, V1[3] = {1, 2, 3}, sc[3], o1[1];
    for (int k = 0; k < 3; k++) {
        impl[k](q1, 1, 1, 1, K1, V1, 3, 1, 1.0f, sc, o1);
        assert_true(fabsf(o1[0] - 1.0f) < 1e-6f);
    }
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),   cmocka_unit_test(test_add_rmsnorm),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_softmax),   cmocka_unit_test(test_silu_swiglu),
        cmocka_unit_test(test_dot_axpy_add), cmocka_unit_test(test_attend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
