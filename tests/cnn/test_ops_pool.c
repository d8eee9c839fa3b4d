/* AVERAGE_POOL_2D and MAX_POOL_2D, int8 and float: reference vs NumPy, and the max-pool
 * fast paths (int8, float) vs the reference, also on wide channel counts. */
#include "ops_testutil.h"

static void run(const char *op, int seed) {
    tc_file tf;
    tc_case c;
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    const int is_max = op[0] == 'm';
    const int is_s8 = strstr(op, "_s8") != NULL;
    tc_generate(&tf, op, seed, 40);
    while (tc_next(&tf, &c)) {
        fr_cnn_geom g;
        int padding;
        tc_geom(&c, &g, &padding);
        assert_int_equal(fr_cnn_geom_check(&g, op, NULL), FR_OK);
        tc_array *want = tc_need(&c, "expected");
        if (is_s8) {
            tc_array *ar = tc_need(&c, "act_range");
            const int32_t lo = (int32_t)ar->iv[0], hi = (int32_t)ar->iv[1];
            int8_t *x = tc_i8(&c, "input"), *y = malloc(want->n);
            if (is_max)
                fr_cnn_maxpool_s8_ref(&g, lo, hi, x, y);
            else
                fr_cnn_avgpool_s8_ref(&g, lo, hi, x, y);
            tc_expect_i8(&c, "reference", y, want->iv, want->n);
            for (int i = 0; i < n_isa; i++) {
                memset(y, 0x55, want->n);
                if (is_max)
                    fr_cnn_maxpool_s8(isas[i], &g, lo, hi, x, y);
                else
                    fr_cnn_avgpool_s8(isas[i], &g, lo, hi, x, y);
                tc_expect_i8(&c, fr_isa_name(isas[i]), y, want->iv, want->n);
            }
            free(x);
            free(y);
        } else {
            fr_cnn_range_f32 act;
            assert_int_equal(fr_cnn_act_range_f32((fr_cnn_act)tc_need(&c, "act")->iv[0], &act, NULL),
                             FR_OK);
            float *y = malloc(want->n * sizeof *y);
            if (is_max)
                fr_cnn_maxpool_f32_ref(&g, act, tc_f(&c, "input"), y);
            else
                fr_cnn_avgpool_f32(&g, act, tc_f(&c, "input"), y);
            tc_expect_f32(&c, "reference", y, want->fv, want->n, 1e-5f, 1e-6f);
            if (is_max) /* the fast path: the reference's floats exactly */
                for (int i = 0; i < n_isa; i++) {
                    float *y2 = malloc(want->n * sizeof *y2);
                    fr_cnn_maxpool_f32(isas[i], &g, act, tc_f(&c, "input"), y2);
                    assert_memory_equal(y, y2, want->n * sizeof *y2);
                    free(y2);
                }
            free(y);
        }
        tc_free(&c);
    }
}

static void test_avgpool_s8(void **state) {
    (void)state;
    run("avgpool_s8", 51);
}
static void test_maxpool_s8(void **state) {
    (void)state;
    run("maxpool_s8", 52);
}
static void test_avgpool_f32(void **state) {
    (void)state;
    run("avgpool_f32", 53);
}
static void test_maxpool_f32(void **state) {
    (void)state;
    run("maxpool_f32", 54);
}

/* int8 MAX_POOL with more channels than the fast path's chunk (64, and tails), as in
 * CifarNet (64) and wider nets: every isa's fast path against the reference (which the
 * NumPy cases above check), on random pixels, windows, strides, padding and clamps. */
static int rnd(uint32_t *s, int n) {
    *s = *s * 1664525u + 1013904223u;
    return (int)((*s >> 8) % (uint32_t)n);
}

static void test_maxpool_wide(void **state) {
    (void)state;
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    uint32_t s = 12345u;
    for (int it = 0; it < 30; it++) {
        const int C = 60 + rnd(&s, 90), k = 1 + rnd(&s, 4), st = 1 + rnd(&s, 2);
        const int hw = 1 + rnd(&s, 9), batch = 1 + rnd(&s, 2);
        const fr_cnn_padding pad = rnd(&s, 2) ? FR_CNN_PAD_SAME : FR_CNN_PAD_VALID;
        fr_cnn_geom g;
        if (fr_cnn_geom_init(&g, "pool", pad, batch, hw, hw, C, C, k, k, st, st, 1, 1, 1, NULL) !=
            FR_OK)
            continue;
        const size_t nx = (size_t)g.batch * g.in_h * g.in_w * C;
        const size_t ny = (size_t)g.batch * g.out_h * g.out_w * C;
        int8_t *x = malloc(nx), *y1 = malloc(ny), *y2 = malloc(ny);
        for (size_t i = 0; i < nx; i++) x[i] = (int8_t)(rnd(&s, 256) - 128);
        const int32_t lo = rnd(&s, 2) ? -128 : -100 + rnd(&s, 100);
        const int32_t hi = rnd(&s, 2) ? 127 : rnd(&s, 127);
        fr_cnn_maxpool_s8_ref(&g, lo, hi, x, y1);
        /* the same values as floats, with a NaN and infinities among them */
        float *xf = malloc(nx * sizeof *xf), *f1 = malloc(ny * sizeof *f1),
              *f2 = malloc(ny * sizeof *f2);
        for (size_t i = 0; i < nx; i++) xf[i] = (float)x[i] * 0.37f;
        xf[rnd(&s, (int)nx)] = NAN;
        xf[rnd(&s, (int)nx)] = INFINITY;
        xf[rnd(&s, (int)nx)] = -INFINITY;
        const fr_cnn_range_f32 act = {(float)lo * 0.37f, rnd(&s, 2) ? INFINITY : (float)hi * 0.37f};
        fr_cnn_maxpool_f32_ref(&g, act, xf, f1);
        for (int i = 0; i < n_isa; i++) {
            memset(y2, 0x55, ny);
            fr_cnn_maxpool_s8(isas[i], &g, lo, hi, x, y2);
            assert_memory_equal(y1, y2, ny);
            memset(f2, 0x55, ny * sizeof *f2);
            fr_cnn_maxpool_f32(isas[i], &g, act, xf, f2);
            assert_memory_equal(f1, f2, ny * sizeof *f2);
        }
        free(x), free(y1), free(y2), free(xf), free(f1), free(f2);
    }
}

/* Rounding of the int8 average: ties away from zero. */
static void test_avgpool_rounding(void **state) {
    (void)state;
    fr_cnn_geom g;
    assert_int_equal(fr_cnn_geom_init(&g, "pool", FR_CNN_PAD_VALID, 1, 1, 2, 1, 1, 1, 2, 1, 2, 1,
                                      1, 1, NULL),
                     FR_OK);
    const int8_t cases[][3] = {{1, 2, 2}, {-1, -2, -2}, {1, 0, 1}, {-1, 0, -1}, {127, 127, 127},
                               {-128, -127, -128}, {3, 4, 4}, {-3, -4, -4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int8_t y;
        fr_cnn_avgpool_s8_ref(&g, -128, 127, cases[i], &y);
        assert_int_equal(y, cases[i][2]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avgpool_s8),  cmocka_unit_test(test_maxpool_s8),
        cmocka_unit_test(test_avgpool_f32), cmocka_unit_test(test_maxpool_f32),
        cmocka_unit_test(test_avgpool_rounding), cmocka_unit_test(test_maxpool_wide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
