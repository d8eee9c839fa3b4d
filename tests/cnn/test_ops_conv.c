/* CONV_2D and DEPTHWISE_CONV_2D, int8 and float: the scalar reference against the NumPy
 * reference (tools/py/tflite_ref_ops.py), and every fast path against the reference. */
#include "ops_testutil.h"

#include "core/error.h"

static void check_prepare(tc_case *c, const fr_cnn_geom *g, int padding, int dw, int act,
                          fr_cnn_requant *q, int32_t **mult, int32_t **shift) {
    fr_error err = {0};
    /* geometry from the TFLite rules */
    fr_cnn_geom g2;
    assert_int_equal(fr_cnn_geom_init(&g2, "conv", (fr_cnn_padding)padding, g->batch, g->in_h,
                                      g->in_w, g->in_c, g->out_c, g->k_h, g->k_w, g->stride_h,
                                      g->stride_w, g->dil_h, g->dil_w, g->depth_mult, &err),
                     FR_OK);
    assert_memory_equal(&g2, g, sizeof g2);
    /* per-channel multipliers and activation range from the float scales */
    const float *sc = tc_f(c, "scales");
    tc_array *fs = tc_need(c, "filter_scales");
    tc_array *zp = tc_need(c, "zp");
    *mult = malloc(fs->n * sizeof **mult);
    *shift = malloc(fs->n * sizeof **shift);
    assert_int_equal(fr_cnn_prepare_requant(sc[0], fs->fv, (int)fs->n, sc[1], *mult, *shift,
                                            dw ? "dw" : "conv", &err),
                     FR_OK);
    tc_array *wm = tc_need(c, "mult"), *ws = tc_need(c, "shift");
    for (size_t k = 0; k < fs->n; k++) {
        assert_int_equal((*mult)[k], wm->iv[k]);
        assert_int_equal((*shift)[k], ws->iv[k]);
    }
    q->input_zp = (int32_t)zp->iv[0];
    q->output_zp = (int32_t)zp->iv[1];
    assert_int_equal(fr_cnn_act_range_s8((fr_cnn_act)act, sc[1], q->output_zp, &q->act_min,
                                         &q->act_max, &err),
                     FR_OK);
    tc_array *ar = tc_need(c, "act_range");
    assert_int_equal(q->act_min, ar->iv[0]);
    assert_int_equal(q->act_max, ar->iv[1]);
    q->mult = *mult;
    q->shift = *shift;
    q->per_channel = fs->n > 1 || g->out_c == 1;
}

static void run_s8(const char *op, int dw, int seed, int count) {
    tc_file tf;
    tc_generate(&tf, op, seed, count);
    tc_case c;
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    while (tc_next(&tf, &c)) {
        fr_cnn_geom g;
        int padding;
        tc_geom(&c, &g, &padding);
        const int act = (int)tc_need(&c, "act")->iv[0];
        fr_cnn_requant q;
        int32_t *mult, *shift;
        check_prepare(&c, &g, padding, dw, act, &q, &mult, &shift);
        int8_t *x = tc_i8(&c, "input"), *w = tc_i8(&c, "filter");
        int32_t *bias = tc_i32(&c, "bias");
        tc_array *want = tc_need(&c, "expected");
        int8_t *y = malloc(want->n);
        if (dw)
            fr_cnn_dwconv_s8_ref(&g, &q, x, w, bias, y);
        else
            fr_cnn_conv_s8_ref(&g, &q, x, w, bias, y);
        tc_expect_i8(&c, "reference", y, want->iv, want->n);
        for (int i = 0; i < n_isa; i++) {
            size_t sb = dw ? fr_cnn_dwconv_s8_scratch_bytes(isas[i], &g)
                           : fr_cnn_conv_s8_scratch_bytes(isas[i], &g);
            void *scratch = tc_scratch(sb);
            memset(y, 0x55, want->n);
            if (dw)
                fr_cnn_dwconv_s8(isas[i], &g, &q, x, w, bias, y, scratch);
            else
                fr_cnn_conv_s8(isas[i], &g, &q, x, w, bias, y, scratch);
            tc_expect_i8(&c, fr_isa_name(isas[i]), y, want->iv, want->n);
            if (!dw) { /* with the weights packed once beforehand */
                const size_t pbytes = fr_cnn_conv_s8_packed_bytes(isas[i], &g);
                void *packed = pbytes ? tc_scratch(pbytes) : NULL;
                fr_cnn_conv_s8_pack(isas[i], &g, &q, w, bias, packed);
                void *rest = tc_scratch(sb - pbytes); /* no packing area needed (ops.h) */
                for (int rep = 0; rep < 2; rep++) {
                    memset(y, 0x55, want->n);
                    fr_cnn_conv_s8_ex(isas[i], &g, &q, x, w, bias, packed, y, rest);
                    tc_expect_i8(&c, "packed", y, want->iv, want->n);
                }
                free(packed);
                free(rest);
            }
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

static void run_f32(const char *op, int dw, int seed, int count) {
    tc_file tf;
    tc_generate(&tf, op, seed, count);
    tc_case c;
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    while (tc_next(&tf, &c)) {
        fr_cnn_geom g;
        int padding;
        tc_geom(&c, &g, &padding);
        fr_cnn_range_f32 act;
        assert_int_equal(fr_cnn_act_range_f32((fr_cnn_act)tc_need(&c, "act")->iv[0], &act, NULL),
                         FR_OK);
        const float *x = tc_f(&c, "input"), *w = tc_f(&c, "filter"), *bias = tc_f(&c, "bias");
        tc_array *want = tc_need(&c, "expected");
        float *ref = malloc(want->n * sizeof *ref), *y = malloc(want->n * sizeof *y);
        if (dw)
            fr_cnn_dwconv_f32_ref(&g, act, x, w, bias, ref);
        else
            fr_cnn_conv_f32_ref(&g, act, x, w, bias, ref);
        tc_expect_f32(&c, "reference", ref, want->fv, want->n, 1e-4f, 1e-4f);
        for (int i = 0; i < n_isa; i++) {
            size_t sb = dw ? fr_cnn_dwconv_f32_scratch_bytes(isas[i], &g)
                           : fr_cnn_conv_f32_scratch_bytes(isas[i], &g);
            void *scratch = tc_scratch(sb);
            if (dw)
                fr_cnn_dwconv_f32(isas[i], &g, act, x, w, bias, y, scratch);
            else
                fr_cnn_conv_f32(isas[i], &g, act, x, w, bias, y, scratch);
            tc_expect_f32(&c, fr_isa_name(isas[i]), y, ref, want->n, 1e-5f, 2e-5f);
            if (!dw) {
                const size_t pbytes = fr_cnn_conv_f32_packed_bytes(isas[i], &g);
                void *packed = pbytes ? tc_scratch(pbytes) : NULL;
                fr_cnn_conv_f32_pack(isas[i], &g, w, bias, packed);
                void *rest = tc_scratch(sb - pbytes); /* no packing area needed (ops.h) */
                memset(y, 0x55, want->n * sizeof *y);
                fr_cnn_conv_f32_ex(isas[i], &g, act, x, w, bias, packed, y, rest);
                tc_expect_f32(&c, "packed", y, ref, want->n, 1e-5f, 2e-5f);
                free(packed);
                free(rest);
            }
            free(scratch);
        }
        free(ref);
        free(y);
        tc_free(&c);
    }
}

static void test_conv_s8(void **state) {
    (void)state;
    run_s8("conv_s8", 0, 11, 40);
}
static void test_conv_f32(void **state) {
    (void)state;
    run_f32("conv_f32", 0, 12, 30);
}
static void test_dwconv_s8(void **state) {
    (void)state;
    run_s8("dwconv_s8", 1, 13, 40);
}
static void test_dwconv_f32(void **state) {
    (void)state;
    run_f32("dwconv_f32", 1, 14, 30);
}

/* Shapes of the MLPerf Tiny models (larger than the random ones), fast path vs reference. */
static void fill_i8(int8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (int8_t)(seed >> 24);
    }
}

static void model_shape(int dw, int in_h, int in_w, int in_c, int out_c, int k_h, int k_w,
                        int stride, fr_cnn_padding pad, int min_mult) {
    fr_cnn_geom g;
    assert_int_equal(fr_cnn_geom_init(&g, "conv", pad, 1, in_h, in_w, in_c, out_c, k_h, k_w,
                                      stride, stride, 1, 1, dw ? out_c / in_c : 1, NULL),
                     FR_OK);
    size_t nx = (size_t)in_h * in_w * in_c, nw = (size_t)k_h * k_w * out_c * (dw ? 1 : in_c);
    size_t ny = (size_t)g.out_h * g.out_w * out_c;
    int8_t *x = malloc(nx), *w = malloc(nw), *y0 = malloc(ny), *y1 = malloc(ny);
    int32_t *bias = malloc(out_c * sizeof *bias), *mult = malloc(out_c * sizeof *mult),
            *shift = malloc(out_c * sizeof *shift);
    fill_i8(x, nx, 1);
    fill_i8(w, nw, 2);
    for (int c = 0; c < out_c; c++) {
        bias[c] = (c * 7919) % 20001 - 10000;
        mult[c] = 1073741824 + c * 1234567;
        shift[c] = -8 - (c % 3);
    }
    if (min_mult) { /* never produced by prepare, but kernels must stay exact */
        mult[0] = INT32_MIN;
        shift[0] = -20;
    }
    fr_cnn_requant q = {.input_zp = -7, .output_zp = 5, .act_min = -128, .act_max = 127,
                        .mult = mult, .shift = shift, .per_channel = 1};
    if (dw)
        fr_cnn_dwconv_s8_ref(&g, &q, x, w, bias, y0);
    else
        fr_cnn_conv_s8_ref(&g, &q, x, w, bias, y0);
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    for (int i = 0; i < n_isa; i++) {
        size_t sb = dw ? fr_cnn_dwconv_s8_scratch_bytes(isas[i], &g)
                       : fr_cnn_conv_s8_scratch_bytes(isas[i], &g);
        void *scratch = tc_scratch(sb);
        if (dw)
            fr_cnn_dwconv_s8(isas[i], &g, &q, x, w, bias, y1, scratch);
        else
            fr_cnn_conv_s8(isas[i], &g, &q, x, w, bias, y1, scratch);
        assert_memory_equal(y0, y1, ny);
        if (!dw) {
            const size_t pbytes = fr_cnn_conv_s8_packed_bytes(isas[i], &g);
            void *packed = pbytes ? tc_scratch(pbytes) : NULL;
            fr_cnn_conv_s8_pack(isas[i], &g, &q, w, bias, packed);
            void *rest = tc_scratch(sb - pbytes); /* no packing area needed (ops.h) */
            memset(y1, 0, ny);
            fr_cnn_conv_s8_ex(isas[i], &g, &q, x, w, bias, packed, y1, rest);
            assert_memory_equal(y0, y1, ny);
            free(packed);
            free(rest);
        }
        free(scratch);
    }
    free(x);
    free(w);
    free(y0);
    free(y1);
    free(bias);
    free(mult);
    free(shift);
}

static void test_model_shapes_s8(void **state) {
    (void)state;
    model_shape(0, 32, 32, 3, 16, 3, 3, 1, FR_CNN_PAD_SAME, 0);   /* ResNet-8 stem */
    model_shape(0, 32, 32, 16, 32, 3, 3, 2, FR_CNN_PAD_SAME, 0);  /* ResNet-8 downsample */
    model_shape(0, 16, 16, 16, 32, 1, 1, 2, FR_CNN_PAD_SAME, 0);  /* ResNet-8 1x1 shortcut */
    model_shape(0, 49, 10, 1, 64, 10, 4, 2, FR_CNN_PAD_SAME, 0);  /* DS-CNN stem */
    model_shape(0, 25, 5, 64, 64, 1, 1, 1, FR_CNN_PAD_SAME, 0);   /* DS-CNN pointwise */
    model_shape(1, 25, 5, 64, 64, 3, 3, 1, FR_CNN_PAD_SAME, 0);   /* DS-CNN depthwise */
    model_shape(1, 48, 48, 8, 8, 3, 3, 2, FR_CNN_PAD_SAME, 0);    /* MobileNet dw stride 2 */
    model_shape(1, 17, 15, 8, 8, 3, 3, 1, FR_CNN_PAD_SAME, 0);    /* 8-channel dw, odd width */
    model_shape(1, 9, 9, 24, 24, 3, 3, 1, FR_CNN_PAD_VALID, 0);   /* channel tail */
    model_shape(0, 12, 12, 64, 128, 1, 1, 1, FR_CNN_PAD_SAME, 0); /* MobileNet pointwise */
    model_shape(0, 24, 24, 16, 32, 1, 1, 1, FR_CNN_PAD_SAME, 0);  /* 1x1 direct path */
    model_shape(0, 8, 8, 5, 20, 3, 3, 1, FR_CNN_PAD_SAME, 1);     /* INT32_MIN multiplier */
    model_shape(1, 8, 8, 8, 8, 3, 3, 1, FR_CNN_PAD_SAME, 1);
    model_shape(1, 8, 8, 20, 20, 3, 3, 1, FR_CNN_PAD_SAME, 1);
}

/* Float convs of model shapes and of each x86 float path (implicit GEMM from a padded
 * copy or in place, im2col when dil_w > 1), fast path vs reference, fresh and packed. */
static void fill_f32(float *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(int32_t)seed / 2147483648.0f;
    }
}

static void expect_close_f32(const float *want, const float *got, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float d = fabsf(want[i] - got[i]), tol = 1e-4f + 1e-5f * fabsf(want[i]);
        if (d > tol) fail_msg("output %zu: %.7g, reference %.7g", i, got[i], want[i]);
    }
}

static void model_shape_f32(int batch, int in_h, int in_w, int in_c, int out_c, int k_h,
                            int k_w, int stride, int dil_h, int dil_w, fr_cnn_padding pad) {
    fr_cnn_geom g;
    assert_int_equal(fr_cnn_geom_init(&g, "conv", pad, batch, in_h, in_w, in_c, out_c, k_h, k_w,
                                      stride, stride, dil_h, dil_w, 1, NULL),
                     FR_OK);
    size_t nx = (size_t)batch * in_h * in_w * in_c, nw = (size_t)k_h * k_w * out_c * in_c;
    size_t ny = (size_t)batch * g.out_h * g.out_w * out_c;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *bias = malloc((size_t)out_c * 4);
    float *y0 = malloc(ny * 4), *y1 = malloc(ny * 4);
    fill_f32(x, nx, 3);
    fill_f32(w, nw, 4);
    fill_f32(bias, (size_t)out_c, 5);
    const fr_cnn_range_f32 act = {-2.0f, 3.0f};
    fr_cnn_conv_f32_ref(&g, act, x, w, bias, y0);
    fr_isa isas[FR_ISA_COUNT];
    const int n_isa = tc_isas(isas);
    for (int i = 0; i < n_isa; i++) {
        const size_t sb = fr_cnn_conv_f32_scratch_bytes(isas[i], &g);
        void *scratch = tc_scratch(sb);
        memset(y1, 0x55, ny * 4);
        fr_cnn_conv_f32(isas[i], &g, act, x, w, bias, y1, scratch);
        expect_close_f32(y0, y1, ny);
        const size_t pbytes = fr_cnn_conv_f32_packed_bytes(isas[i], &g);
        void *packed = pbytes ? tc_scratch(pbytes) : NULL;
        fr_cnn_conv_f32_pack(isas[i], &g, w, bias, packed);
        void *rest = tc_scratch(sb - pbytes); /* no packing area needed (ops.h) */
        memset(y1, 0x55, ny * 4);
        fr_cnn_conv_f32_ex(isas[i], &g, act, x, w, bias, packed, y1, rest);
        expect_close_f32(y0, y1, ny);
        free(packed);
        free(rest);
        free(scratch);
    }
    free(x);
    free(w);
    free(bias);
    free(y0);
    free(y1);
}

static void test_model_shapes_f32(void **state) {
    (void)state;
    model_shape_f32(1, 16, 16, 64, 64, 5, 5, 1, 1, 1, FR_CNN_PAD_SAME);   /* CifarNet conv2 */
    model_shape_f32(1, 32, 32, 3, 16, 3, 3, 1, 1, 1, FR_CNN_PAD_SAME);    /* ResNet-8 stem */
    model_shape_f32(2, 32, 32, 16, 32, 3, 3, 2, 1, 1, FR_CNN_PAD_SAME);   /* downsample, batch 2 */
    model_shape_f32(1, 24, 24, 16, 40, 1, 1, 1, 1, 1, FR_CNN_PAD_SAME);   /* 1x1 in place, 40 ch */
    model_shape_f32(1, 16, 16, 16, 32, 1, 1, 2, 1, 1, FR_CNN_PAD_SAME);   /* 1x1 stride 2 */
    model_shape_f32(2, 9, 11, 7, 17, 3, 3, 2, 1, 1, FR_CNN_PAD_VALID);    /* valid, in place */
    model_shape_f32(1, 12, 13, 8, 20, 3, 3, 1, 2, 1, FR_CNN_PAD_SAME);    /* dil_h 2 */
    model_shape_f32(2, 12, 13, 8, 36, 3, 3, 1, 2, 2, FR_CNN_PAD_SAME);    /* dil_w 2: im2col */
    model_shape_f32(1, 10, 10, 200, 8, 5, 5, 1, 1, 2, FR_CNN_PAD_VALID);  /* im2col, K 5000 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_s8),   cmocka_unit_test(test_conv_f32),
        cmocka_unit_test(test_dwconv_s8), cmocka_unit_test(test_dwconv_f32),
        cmocka_unit_test(test_model_shapes_s8), cmocka_unit_test(test_model_shapes_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
