/* Fixed-point helpers (edge cases and random cases from the NumPy reference), the
 * multiplier/activation prepare helpers, geometry rules, QUANTIZE, DEQUANTIZE, requantize,
 * RESHAPE. */
#include "ops_testutil.h"

#include "cnn/quant.h"

static void test_srdhm_edges(void **state) {
    (void)state;
    assert_int_equal(fr_q_srdhm(INT32_MIN, INT32_MIN), INT32_MAX); /* the one saturation */
    assert_int_equal(fr_q_srdhm(INT32_MAX, INT32_MAX), INT32_MAX - 1);
    assert_int_equal(fr_q_srdhm(INT32_MIN, INT32_MAX), -INT32_MAX);
    assert_int_equal(fr_q_srdhm(0, INT32_MIN), 0);
    /* 1 * 2^30 / 2^31 = 0.5 -> 1 (ties round up) */
    assert_int_equal(fr_q_srdhm(1, 1 << 30), 1);
    assert_int_equal(fr_q_srdhm(-1, 1 << 30), 0); /* -0.5: the negative nudge rounds to 0 */
    assert_int_equal(fr_q_srdhm(3, 1 << 30), 2);   /* 1.5 -> 2 */
    assert_int_equal(fr_q_srdhm(-3, 1 << 30), -1); /* -1.5 -> -1 */
    assert_int_equal(fr_q_srdhm(1000, 1 << 30), 500);
}

static void test_rdpot_edges(void **state) {
    (void)state;
    assert_int_equal(fr_q_rdpot(5, 1), 3);   /* 2.5 -> 3 */
    assert_int_equal(fr_q_rdpot(-5, 1), -3); /* -2.5 -> -3 (ties away from zero) */
    assert_int_equal(fr_q_rdpot(6, 2), 2);   /* 1.5 -> 2 */
    assert_int_equal(fr_q_rdpot(-6, 2), -2);
    assert_int_equal(fr_q_rdpot(-7, 2), -2); /* -1.75 -> -2 */
    assert_int_equal(fr_q_rdpot(-5, 2), -1); /* -1.25 -> -1 */
    assert_int_equal(fr_q_rdpot(7, 0), 7);
    assert_int_equal(fr_q_rdpot(INT32_MIN, 31), -1);
    assert_int_equal(fr_q_rdpot(INT32_MAX, 31), 1);
    assert_int_equal(fr_q_rdpot(INT32_MIN, 1), INT32_MIN / 2);
}

static void test_mbqm_edges(void **state) {
    (void)state;
    /* multiplier 0.5 (2^30), shift 0: x/2 rounded half away from zero */
    assert_int_equal(fr_q_mbqm(3, 1 << 30, 0), 2);
    assert_int_equal(fr_q_mbqm(-3, 1 << 30, 0), -1);
    /* negative shift: double rounding as TFLite's default build */
    assert_int_equal(fr_q_mbqm(100, 1 << 30, -2), 13); /* 100*0.5=50, /4=12.5 -> 13 */
    assert_int_equal(fr_q_mbqm(-100, 1 << 30, -2), -13);
    /* positive shift multiplies first (wraps like TFLite's int32 multiply) */
    assert_int_equal(fr_q_mbqm(3, 1 << 30, 2), 6);
    assert_int_equal(fr_q_mbqm(INT32_MIN, INT32_MIN, 0), INT32_MAX);
    assert_int_equal(fr_q_mbqm(INT32_MIN, INT32_MIN, -31), 1);
    assert_int_equal(fr_q_sat_shl(1 << 26, 5), INT32_MAX);
    assert_int_equal(fr_q_sat_shl(-(1 << 26), 5), INT32_MIN);
    assert_int_equal(fr_q_sat_shl(-(1 << 26) + 1, 5), (-(1 << 26) + 1) * 32);
}

static void test_quantize_multiplier_edges(void **state) {
    (void)state;
    int32_t m;
    int s;
    fr_cnn_quantize_multiplier(0.0, &m, &s);
    assert_int_equal(m, 0);
    assert_int_equal(s, 0);
    fr_cnn_quantize_multiplier(1.0, &m, &s);
    assert_int_equal(m, 1 << 30);
    assert_int_equal(s, 1);
    fr_cnn_quantize_multiplier(0.75, &m, &s);
    assert_int_equal(m, 3 << 29);
    assert_int_equal(s, 0);
    /* mantissa rounding up to 2^31 renormalises */
    fr_cnn_quantize_multiplier(1.0 - 1e-12, &m, &s);
    assert_int_equal(m, 1 << 30);
    assert_int_equal(s, 1);
    /* below 2^-32: flushed to zero */
    fr_cnn_quantize_multiplier(ldexp(0.75, -32), &m, &s);
    assert_int_equal(m, 0);
    assert_int_equal(s, 0);
    fr_cnn_quantize_multiplier(ldexp(0.75, -31), &m, &s);
    assert_int_equal(m, 3 << 29);
    assert_int_equal(s, -31);
}

static void test_act_range(void **state) {
    (void)state;
    int32_t lo, hi;
    fr_error err = {0};
    assert_int_equal(fr_cnn_act_range_s8(FR_CNN_ACT_NONE, 0.1f, 3, &lo, &hi, &err), FR_OK);
    assert_int_equal(lo, -128);
    assert_int_equal(hi, 127);
    assert_int_equal(fr_cnn_act_range_s8(FR_CNN_ACT_RELU, 0.1f, 3, &lo, &hi, &err), FR_OK);
    assert_int_equal(lo, 3);
    assert_int_equal(hi, 127);
    assert_int_equal(fr_cnn_act_range_s8(FR_CNN_ACT_RELU6, 0.1f, -128, &lo, &hi, &err), FR_OK);
    assert_int_equal(lo, -128);
    assert_int_equal(hi, -68);
    assert_int_equal(fr_cnn_act_range_s8(FR_CNN_ACT_RELU_N1_TO_1, 0.5f, 0, &lo, &hi, &err), FR_OK);
    assert_int_equal(lo, -2);
    assert_int_equal(hi, 2);
    assert_int_equal(fr_cnn_act_range_s8((fr_cnn_act)4, 0.5f, 0, &lo, &hi, &err), FR_E_UNSUPPORTED);
    assert_int_equal(fr_cnn_act_range_s8(FR_CNN_ACT_NONE, 0.0f, 0, &lo, &hi, &err), FR_E_ARG);
    assert_int_equal(fr_cnn_act_range_s8(FR_CNN_ACT_NONE, 1.0f, 300, &lo, &hi, &err), FR_E_ARG);
    fr_cnn_range_f32 r;
    assert_int_equal(fr_cnn_act_range_f32(FR_CNN_ACT_RELU6, &r, NULL), FR_OK);
    assert_true(r.min == 0.0f && r.max == 6.0f);
    assert_int_equal(fr_cnn_act_range_f32((fr_cnn_act)9, &r, &err), FR_E_UNSUPPORTED);
    int32_t mult[2], shift[2];
    const float fs[2] = {0.1f, -1.0f};
    assert_int_equal(fr_cnn_prepare_requant(0.5f, fs, 2, 0.1f, mult, shift, "conv", &err),
                     FR_E_ARG);
    assert_non_null(strstr(err.msg, "conv"));
}

static void test_geometry(void **state) {
    (void)state;
    /* TFLite's rules */
    assert_int_equal(fr_cnn_out_size(FR_CNN_PAD_SAME, 32, 3, 2, 1), 16);
    assert_int_equal(fr_cnn_out_size(FR_CNN_PAD_VALID, 32, 3, 2, 1), 15);
    assert_int_equal(fr_cnn_out_size(FR_CNN_PAD_VALID, 5, 3, 1, 2), 1);
    assert_int_equal(fr_cnn_out_size(FR_CNN_PAD_VALID, 4, 3, 1, 2), 0);
    assert_int_equal(fr_cnn_pad_before(32, 3, 2, 1, 16), 0); /* total 1: all after */
    assert_int_equal(fr_cnn_pad_before(32, 3, 1, 1, 32), 1);
    assert_int_equal(fr_cnn_pad_before(49, 10, 2, 1, 25), 4); /* total 9 */
    fr_cnn_geom g;
    fr_error err = {0};
    assert_int_equal(fr_cnn_geom_init(&g, "CONV_2D", FR_CNN_PAD_VALID, 1, 2, 2, 1, 1, 3, 3, 1,
                                      1, 1, 1, 1, &err),
                     FR_E_ARG);
    assert_non_null(strstr(err.msg, "CONV_2D"));
    assert_int_equal(fr_cnn_geom_init(&g, "x", (fr_cnn_padding)7, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1,
                                      1, 1, &err),
                     FR_E_UNSUPPORTED);
    assert_int_equal(fr_cnn_geom_init(&g, "x", FR_CNN_PAD_SAME, 1, 2, 2, 1, 1, 1, 1, 0, 1, 1,
                                      1, 1, &err),
                     FR_E_ARG);
    assert_int_equal(fr_cnn_geom_init(&g, "x", FR_CNN_PAD_SAME, 1, 65536, 65536, 1024, 1, 1, 1,
                                      1, 1, 1, 1, 1, &err),
                     FR_E_UNSUPPORTED);
    const int s1[4] = {1, 2, 3, 4}, s2[4] = {1, 1, 3, 1}, s3[4] = {1, 2, 2, 4};
    assert_int_equal(fr_cnn_bcast_check(s1, s2, "ADD", &err), FR_OK);
    assert_int_equal(fr_cnn_bcast_check(s1, s3, "ADD", &err), FR_E_ARG);
    fr_cnn_fc_dims d = {1, 0, 3};
    assert_int_equal(fr_cnn_fc_check(&d, "FC", &err), FR_E_ARG);
}

static void test_exp_reciprocal(void **state) {
    (void)state;
    /* gemmlowp fixed-point functions against libm */
    for (int i = 0; i <= 1000; i++) {
        double v = -32.0 * i / 1000.0;
        int32_t a = (int32_t)lrint(v * 67108864.0);
        double r = fr_q_exp_on_negative_values_q5(a) / 2147483648.0;
        assert_true(fabs(r - exp(a / 67108864.0)) < 2e-6);
    }
    for (int i = 0; i < 1000; i++) {
        double v = i / 1000.0;
        int32_t a = (int32_t)lrint(v * 2147483647.0);
        double r = fr_q_one_over_one_plus_x(a) / 2147483648.0;
        assert_true(fabs(r - 1.0 / (1.0 + a / 2147483648.0)) < 2e-6);
    }
    assert_int_equal(fr_q_clz32(0), 32);
    assert_int_equal(fr_q_clz32(1), 31);
    assert_int_equal(fr_q_clz32(0x80000000u), 0);
}

static void test_random_qmult(void **state) {
    (void)state;
    tc_file tf;
    tc_generate(&tf, "qmult", 21, 3);
    tc_case c;
    while (tc_next(&tf, &c)) {
        tc_array *reals = tc_need(&c, "reals"), *wm = tc_need(&c, "mult"), *ws = tc_need(&c, "shift");
        for (size_t k = 0; k < reals->n; k++) {
            int32_t m;
            int s;
            fr_cnn_quantize_multiplier(reals->dv[k], &m, &s);
            if (m != wm->iv[k] || s != ws->iv[k])
                fail_msg("QuantizeMultiplier(%.17g): got (%d, %d), want (%d, %d)", reals->dv[k],
                         (int)m, s, (int)wm->iv[k], (int)ws->iv[k]);
        }
        tc_array *x = tc_need(&c, "x"), *m = tc_need(&c, "m"), *s = tc_need(&c, "s"),
                 *want = tc_need(&c, "mbqm");
        for (size_t k = 0; k < x->n; k++) {
            int32_t got = fr_q_mbqm((int32_t)x->iv[k], (int32_t)m->iv[k], (int32_t)s->iv[k]);
            if (got != want->iv[k])
                fail_msg("MBQM(%lld, %lld, %lld): got %d, want %lld", (long long)x->iv[k],
                         (long long)m->iv[k], (long long)s->iv[k], (int)got,
                         (long long)want->iv[k]);
        }
        tc_free(&c);
    }
}

static void test_random_quantize(void **state) {
    (void)state;
    tc_file tf;
    tc_case c;
    tc_generate(&tf, "quantize", 22, 30);
    while (tc_next(&tf, &c)) {
        tc_array *x = tc_need(&c, "input"), *want = tc_need(&c, "expected");
        int8_t *y = malloc(x->n);
        fr_cnn_quantize_f32_s8(tc_f(&c, "params_f")[0], (int32_t)tc_need(&c, "zp")->iv[0], x->fv,
                               y, x->n);
        tc_expect_i8(&c, "quantize", y, want->iv, want->n);
        free(y);
        tc_free(&c);
    }
    tc_generate(&tf, "dequantize", 23, 30);
    while (tc_next(&tf, &c)) {
        tc_array *want = tc_need(&c, "expected");
        int8_t *x = tc_i8(&c, "input");
        float *y = malloc(want->n * sizeof *y);
        fr_cnn_dequantize_s8_f32(tc_f(&c, "params_f")[0], (int32_t)tc_need(&c, "zp")->iv[0], x, y,
                                 want->n);
        tc_expect_f32(&c, "dequantize", y, want->fv, want->n, 0.0f, 0.0f); /* exact */
        free(x);
        free(y);
        tc_free(&c);
    }
    tc_generate(&tf, "requantize", 24, 30);
    while (tc_next(&tf, &c)) {
        tc_array *want = tc_need(&c, "expected"), *zp = tc_need(&c, "zp"), *p = tc_need(&c, "params");
        const float *sc = tc_f(&c, "params_f");
        int32_t m, s;
        assert_int_equal(fr_cnn_requantize_s8_prepare(sc[0], sc[1], &m, &s, NULL), FR_OK);
        assert_int_equal(m, p->iv[0]);
        assert_int_equal(s, p->iv[1]);
        int8_t *x = tc_i8(&c, "input"), *y = malloc(want->n);
        fr_cnn_requantize_s8((int32_t)zp->iv[0], m, s, (int32_t)zp->iv[1], x, y, want->n);
        tc_expect_i8(&c, "requantize", y, want->iv, want->n);
        free(x);
        free(y);
        tc_free(&c);
    }
    /* edge cases: ties, saturation, NaN/inf do not crash */
    const float in[7] = {0.5f, -0.5f, 1.5f, -2.5f, 1e30f, -INFINITY, NAN};
    int8_t out[7];
    fr_cnn_quantize_f32_s8(1.0f, 0, in, out, 7);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], -1);
    assert_int_equal(out[2], 2);
    assert_int_equal(out[3], -3);
    assert_int_equal(out[4], 127);
    assert_int_equal(out[5], -128);
    char buf[8] = "abcdefg";
    fr_cnn_reshape(buf, buf, 8);
    char dst[8];
    fr_cnn_reshape(buf, dst, 8);
    assert_memory_equal(buf, dst, 8);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srdhm_edges),   cmocka_unit_test(test_rdpot_edges),
        cmocka_unit_test(test_mbqm_edges),    cmocka_unit_test(test_quantize_multiplier_edges),
        cmocka_unit_test(test_act_range),     cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_exp_reciprocal), cmocka_unit_test(test_random_qmult),
        cmocka_unit_test(test_random_quantize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
