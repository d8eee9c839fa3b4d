/* SOFTMAX int8 (TFLite Micro reference fixed point) and float: vs NumPy. */
#include "ops_testutil.h"

static void test_softmax_s8(void **state) {
    (void)state;
    tc_file tf;
    tc_case c;
    tc_generate(&tf, "softmax_s8", 61, 60);
    while (tc_next(&tf, &c)) {
        tc_array *dm = tc_need(&c, "dims"), *pp = tc_need(&c, "params");
        const float *pf = tc_f(&c, "params_f");
        fr_cnn_softmax_s8_params p;
        fr_error err = {0};
        assert_int_equal(fr_cnn_softmax_s8_prepare(pf[0], pf[1], 1.0f / 256.0f, -128, &p, &err),
                         FR_OK);
        assert_int_equal(p.input_multiplier, pp->iv[0]);
        assert_int_equal(p.input_left_shift, pp->iv[1]);
        assert_int_equal(p.diff_min, pp->iv[2]);
        tc_array *want = tc_need(&c, "expected");
        int8_t *x = tc_i8(&c, "input"), *y = malloc(want->n);
        fr_cnn_softmax_s8(&p, x, y, (int)dm->iv[0], (int)dm->iv[1]);
        tc_expect_i8(&c, "softmax", y, want->iv, want->n);
        free(x);
        free(y);
        tc_free(&c);
    }
}

static void test_softmax_f32(void **state) {
    (void)state;
    tc_file tf;
    tc_case c;
    tc_generate(&tf, "softmax_f32", 62, 30);
    while (tc_next(&tf, &c)) {
        tc_array *dm = tc_need(&c, "dims"), *want = tc_need(&c, "expected");
        float *y = malloc(want->n * sizeof *y);
        fr_cnn_softmax_f32(tc_f(&c, "params_f")[0], tc_f(&c, "input"), y, (int)dm->iv[0],
                           (int)dm->iv[1]);
        tc_expect_f32(&c, "softmax", y, want->fv, want->n, 1e-5f, 1e-7f);
        free(y);
        tc_free(&c);
    }
}

static void test_softmax_prepare_errors(void **state) {
    (void)state;
    fr_cnn_softmax_s8_params p;
    fr_error err = {0};
    assert_int_equal(fr_cnn_softmax_s8_prepare(1.0f, 0.1f, 1.0f / 128.0f, -128, &p, &err),
                     FR_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "SOFTMAX"));
    assert_int_equal(fr_cnn_softmax_s8_prepare(1.0f, 0.1f, 1.0f / 256.0f, 0, &p, &err),
                     FR_E_UNSUPPORTED);
    assert_int_equal(fr_cnn_softmax_s8_prepare(0.0f, 0.1f, 1.0f / 256.0f, -128, &p, &err),
                     FR_E_ARG);
    /* all-equal row: uniform output; single element: 1.0 -> 127 */
    assert_int_equal(fr_cnn_softmax_s8_prepare(1.0f, 0.1f, 1.0f / 256.0f, -128, &p, &err), FR_OK);
    int8_t x[4] = {5, 5, 5, 5}, y[4];
    fr_cnn_softmax_s8(&p, x, y, 1, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(y[i], -64); /* 0.25 * 256 - 128 */
    fr_cnn_softmax_s8(&p, x, y, 1, 1);
    assert_int_equal(y[0], 127);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_softmax_s8),
                                       cmocka_unit_test(test_softmax_f32),
                                       cmocka_unit_test(test_softmax_prepare_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
