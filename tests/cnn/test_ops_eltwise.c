/* ADD int8 and float, same shape and broadcast: reference vs NumPy. */
#include "ops_testutil.h"

static size_t prod4(const int s[4]) {
    return (size_t)s[0] * s[1] * s[2] * s[3];
}

static void test_add_s8(void **state) {
    (void)state;
    tc_file tf;
    tc_case c;
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    tc_generate(&tf, "add_s8", 41, 40);
    while (tc_next(&tf, &c)) {
        tc_array *sh = tc_need(&c, "shapes"), *zp = tc_need(&c, "zp"), *pp = tc_need(&c, "params");
        int s1[4], s2[4];
        for (int i = 0; i < 4; i++) {
            s1[i] = (int)sh->iv[i];
            s2[i] = (int)sh->iv[4 + i];
        }
        const int bcast = (int)sh->iv[8];
        const float *sc = tc_f(&c, "scales");
        fr_cnn_add_s8_params p;
        fr_error err = {0};
        assert_int_equal(fr_cnn_add_s8_prepare(sc[0], (int32_t)zp->iv[0], sc[1], (int32_t)zp->iv[1],
                                               sc[2], (int32_t)zp->iv[2],
                                               (fr_cnn_act)tc_need(&c, "act")->iv[0], &p, &err),
                         FR_OK);
        const int32_t got[8] = {p.in1_mult, p.in1_shift, p.in2_mult, p.in2_shift,
                                p.out_mult, p.out_shift, p.act_min,  p.act_max};
        for (int i = 0; i < 8; i++) assert_int_equal(got[i], pp->iv[i]);
        assert_int_equal(fr_cnn_bcast_check(s1, s2, "ADD", NULL), FR_OK);
        int8_t *a = tc_i8(&c, "in1"), *b = tc_i8(&c, "in2");
        tc_array *want = tc_need(&c, "expected");
        int8_t *y = malloc(want->n);
        fr_cnn_add_s8_bcast(&p, s1, a, s2, b, y);
        tc_expect_i8(&c, "broadcast", y, want->iv, want->n);
        if (!bcast) {
            assert_int_equal(prod4(s1), want->n);
            fr_cnn_add_s8_ref(&p, a, b, y, want->n);
            tc_expect_i8(&c, "reference", y, want->iv, want->n);
            for (int i = 0; i < n_isa; i++) {
                memset(y, 0x55, want->n);
                fr_cnn_add_s8(isas[i], &p, a, b, y, want->n);
                tc_expect_i8(&c, fr_isa_name(isas[i]), y, want->iv, want->n);
            }
        }
        free(a);
        free(b);
        free(y);
        tc_free(&c);
    }
}

static void test_add_f32(void **state) {
    (void)state;
    tc_file tf;
    tc_case c;
    tc_generate(&tf, "add_f32", 42, 30);
    while (tc_next(&tf, &c)) {
        tc_array *sh = tc_need(&c, "shapes");
        int s1[4], s2[4];
        for (int i = 0; i < 4; i++) {
            s1[i] = (int)sh->iv[i];
            s2[i] = (int)sh->iv[4 + i];
        }
        fr_cnn_range_f32 act;
        assert_int_equal(fr_cnn_act_range_f32((fr_cnn_act)tc_need(&c, "act")->iv[0], &act, NULL),
                         FR_OK);
        tc_array *want = tc_need(&c, "expected");
        float *y = malloc(want->n * sizeof *y);
        fr_cnn_add_f32_bcast(act, s1, tc_f(&c, "in1"), s2, tc_f(&c, "in2"), y);
        tc_expect_f32(&c, "broadcast", y, want->fv, want->n, 0.0f, 0.0f);
        if (!sh->iv[8]) {
            fr_cnn_add_f32(act, tc_f(&c, "in1"), tc_f(&c, "in2"), y, want->n);
            tc_expect_f32(&c, "same shape", y, want->fv, want->n, 0.0f, 0.0f);
        }
        free(y);
        tc_free(&c);
    }
}

static void test_add_prepare_errors(void **state) {
    (void)state;
    fr_cnn_add_s8_params p;
    fr_error err = {0};
    assert_int_equal(fr_cnn_add_s8_prepare(0.0f, 0, 1.0f, 0, 1.0f, 0, FR_CNN_ACT_NONE, &p, &err),
                     FR_E_ARG);
    assert_non_null(strstr(err.msg, "ADD"));
    assert_int_equal(fr_cnn_add_s8_prepare(1.0f, 200, 1.0f, 0, 1.0f, 0, FR_CNN_ACT_NONE, &p, &err),
                     FR_E_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_add_s8), cmocka_unit_test(test_add_f32),
                                       cmocka_unit_test(test_add_prepare_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
