/* FULLY_CONNECTED int8 and float: reference vs NumPy, fast paths vs reference (also on
 * long rows). */
#include "ops_testutil.h"

static void test_fc_s8(void **state) {
    (void)state;
    tc_file tf;
    tc_case c;
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    tc_generate(&tf, "fc_s8", 31, 40);
    while (tc_next(&tf, &c)) {
        tc_array *dm = tc_need(&c, "dims");
        fr_cnn_fc_dims d = {(int)dm->iv[0], (int)dm->iv[1], (int)dm->iv[2]};
        assert_int_equal(fr_cnn_fc_check(&d, "FC", NULL), FR_OK);
        const float *sc = tc_f(&c, "scales");
        tc_array *fs = tc_need(&c, "filter_scales"), *zp = tc_need(&c, "zp");
        int32_t *mult = malloc(fs->n * sizeof *mult), *shift = malloc(fs->n * sizeof *shift);
        assert_int_equal(fr_cnn_prepare_requant(sc[0], fs->fv, (int)fs->n, sc[1], mult, shift,
                                                "FC", NULL),
                         FR_OK);
        for (size_t k = 0; k < fs->n; k++) {
            assert_int_equal(mult[k], tc_need(&c, "mult")->iv[k]);
            assert_int_equal(shift[k], tc_need(&c, "shift")->iv[k]);
        }
        fr_cnn_requant q = {.input_zp = (int32_t)zp->iv[0], .output_zp = (int32_t)zp->iv[1],
                            .mult = mult, .shift = shift, .per_channel = fs->n > 1};
        assert_int_equal(fr_cnn_act_range_s8((fr_cnn_act)tc_need(&c, "act")->iv[0], sc[1],
                                             q.output_zp, &q.act_min, &q.act_max, NULL),
                         FR_OK);
        int8_t *x = tc_i8(&c, "input"), *w = tc_i8(&c, "filter");
        int32_t *bias = tc_i32(&c, "bias");
        tc_array *want = tc_need(&c, "expected");
        int8_t *y = malloc(want->n);
        fr_cnn_fc_s8_ref(&d, &q, x, w, bias, y);
        tc_expect_i8(&c, "reference", y, want->iv, want->n);
        for (int i = 0; i < n_isa; i++) {
            void *scratch = tc_scratch(fr_cnn_fc_s8_scratch_bytes(isas[i], &d));
            memset(y, 0x55, want->n);
            fr_cnn_fc_s8(isas[i], &d, &q, x, w, bias, y, scratch);
            tc_expect_i8(&c, fr_isa_name(isas[i]), y, want->iv, want->n);
            free(scratch);
        }
        free(y);
        free(x);
        free(w);
        free(bias);
        free(mult);
        free(shift);
        tc_free(&c);
    }
}

static void test_fc_f32(void **state) {
    (void)state;
    tc_file tf;
    tc_case c;
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    tc_generate(&tf, "fc_f32", 32, 30);
    while (tc_next(&tf, &c)) {
        tc_array *dm = tc_need(&c, "dims");
        fr_cnn_fc_dims d = {(int)dm->iv[0], (int)dm->iv[1], (int)dm->iv[2]};
        fr_cnn_range_f32 act;
        assert_int_equal(fr_cnn_act_range_f32((fr_cnn_act)tc_need(&c, "act")->iv[0], &act, NULL),
                         FR_OK);
        tc_array *want = tc_need(&c, "expected");
        float *ref = malloc(want->n * sizeof *ref), *y = malloc(want->n * sizeof *y);
        fr_cnn_fc_f32_ref(&d, act, tc_f(&c, "input"), tc_f(&c, "filter"), tc_f(&c, "bias"), ref);
        tc_expect_f32(&c, "reference", ref, want->fv, want->n, 1e-4f, 1e-4f);
        for (int i = 0; i < n_isa; i++) {
            void *scratch = tc_scratch(fr_cnn_fc_f32_scratch_bytes(isas[i], &d));
            fr_cnn_fc_f32(isas[i], &d, act, tc_f(&c, "input"), tc_f(&c, "filter"),
                          tc_f(&c, "bias"), y, scratch);
            tc_expect_f32(&c, fr_isa_name(isas[i]), y, ref, want->n, 1e-5f, 2e-5f);
            free(scratch);
        }
        free(ref);
        free(y);
        tc_free(&c);
    }
}

/* Long rows (CifarNet's 4096 inputs and more, a partial last block of 64), weights
 * including -128, extreme zero points, and sums that wrap in int32: every fast path
 * equals the reference byte for byte. */
static void test_fc_s8_wide(void **state) {
    (void)state;
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    uint32_t seed = 777u;
    const int shapes[][3] = {{1, 4096, 13}, {2, 4133, 9}, {3, 64, 5}, {1, 65, 4}, {1, 70000, 3}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        fr_cnn_fc_dims d = {shapes[k][0], shapes[k][1], shapes[k][2]};
        const size_t nx = (size_t)d.batch * d.in, nw = (size_t)d.out * d.in,
                     ny = (size_t)d.batch * d.out;
        int8_t *x = malloc(nx), *w = malloc(nw), *y0 = malloc(ny), *y1 = malloc(ny);
        int32_t *bias = malloc((size_t)d.out * 4), *mult = malloc((size_t)d.out * 4),
                *shift = malloc((size_t)d.out * 4);
        for (size_t i = 0; i < nx; i++) x[i] = (int8_t)((seed = seed * 1664525u + 1013904223u) >> 24);
        for (size_t i = 0; i < nw; i++) w[i] = (int8_t)((seed = seed * 1664525u + 1013904223u) >> 24);
        if (k == 4) /* |sum| > 2^31: every weight -128 against inputs 127 - zp = 255 */
            for (size_t i = 0; i < nw; i++) w[i] = -128, x[i % nx] = 127;
        for (int o = 0; o < d.out; o++) {
            bias[o] = (int32_t)((seed = seed * 1664525u + 1013904223u) >> 8) - (1 << 23);
            mult[o] = 1073741824 + o * 7654321;
            shift[o] = -12 - o % 5;
        }
        for (int zi = 0; zi < 3; zi++) {
            const int32_t zps[3] = {-128, 0, 127};
            fr_cnn_requant q = {.input_zp = zps[zi], .output_zp = -3, .act_min = -128,
                                .act_max = 127, .mult = mult, .shift = shift, .per_channel = 1};
            fr_cnn_fc_s8_ref(&d, &q, x, w, bias, y0);
            for (int i = 0; i < n_isa; i++) {
                void *scratch = tc_scratch(fr_cnn_fc_s8_scratch_bytes(isas[i], &d));
                memset(y1, 0x55, ny);
                fr_cnn_fc_s8(isas[i], &d, &q, x, w, bias, y1, scratch);
                assert_memory_equal(y0, y1, ny);
                free(scratch);
            }
        }
        free(x), free(w), free(y0), free(y1), free(bias), free(mult), free(shift);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fc_s8), cmocka_unit_test(test_fc_f32),
                                       cmocka_unit_test(test_fc_s8_wide)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
