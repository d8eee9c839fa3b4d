/* Whole models. The MLPerf Tiny ResNet-8 (int8 and float) on 200 CIFAR-10 test images, 20
 * per class (records 0, 50, 100, ...: the shared test file is sorted by class): accuracy
 * above a sanity floor, int8 vs float top-1 agreement high; the int8 fast kernels give
 * bit-identical outputs to the scalar reference (8 images, two models); KWS, VWW and the tiny seed models run
 * and produce probability distributions. */
#include <math.h>
#include <unistd.h>

#include "cnn_rt_testutil.h"

#define N_IMAGES 200
#define STEP 50
#define REC 3073

/* Top-1 class of one CIFAR record. */
static int classify(fr_cnn_model *m, const uint8_t *rec, float *scores) {
    uint8_t hwc[3072];
    float lo, hi;
    fr_error err = {0};
    cifar_hwc(rec, hwc);
    fr_cnn_input_range(m, 0, &lo, &hi);
    assert_int_equal(fr_cnn_set_input_image(m, 0, hwc, 32, 32, 3, lo, hi, &err), FR_OK);
    assert_int_equal(fr_cnn_invoke(m, &err), FR_OK);
    assert_int_equal(fr_cnn_get_output_f32(m, 0, scores, 10, &err), FR_OK);
    return fr_cnn_argmax_f32(scores, 10);
}

static uint8_t *load_records(void) {
    FILE *f = fopen(CIFAR_TEST, "rb");
    if (!f)
        return NULL;
    uint8_t *recs = malloc((size_t)N_IMAGES * REC);
    assert_non_null(recs);
    for (int i = 0; i < N_IMAGES; i++) {
        assert_int_equal(fseek(f, (long)i * STEP * REC, SEEK_SET), 0);
        assert_int_equal(fread(recs + (size_t)i * REC, 1, REC, f), REC);
    }
    fclose(f);
    return recs;
}

static void test_resnet8_cifar10(void **state) {
    (void)state;
    if (!assets_present())
        skip();
    uint8_t *recs = load_records();
    assert_non_null(recs);
    test_model qm, fm;
    test_model_load(&qm, IC_INT8, FR_CNN_KERNELS_BEST);
    test_model_load(&fm, IC_F32, FR_CNN_KERNELS_BEST);
    int correct_q = 0, correct_f = 0, agree = 0;
    float sq[10], sf[10];
    for (int i = 0; i < N_IMAGES; i++) {
        const uint8_t *rec = recs + (size_t)i * REC;
        int cq = classify(qm.m, rec, sq);
        int cf = classify(fm.m, rec, sf);
        correct_q += cq == rec[0];
        correct_f += cf == rec[0];
        agree += cq == cf;
        float sum = 0;
        for (int k = 0; k < 10; k++)
            sum += sf[k];
        assert_true(fabsf(sum - 1.0f) < 1e-3f);
    }
    printf("ResNet-8 on %d CIFAR-10 test images (JPEG-degraded copy): int8 %.3f, float %.3f, "
           "int8/float top-1 agreement %.3f\n",
           N_IMAGES, correct_q / (double)N_IMAGES, correct_f / (double)N_IMAGES,
           agree / (double)N_IMAGES);
    /* the full 10000 give 0.7556 (int8) and 0.7548 (float) on this lossy copy */
    assert_true(correct_q >= N_IMAGES * 65 / 100);
    assert_true(correct_f >= N_IMAGES * 65 / 100);
    assert_true(agree >= N_IMAGES * 90 / 100);
    test_model_free(&qm);
    test_model_free(&fm);
    free(recs);
}

/* int8 outputs and every intermediate graph output: fast path == scalar reference. */
static void test_int8_fast_equals_reference(void **state) {
    (void)state;
    if (!assets_present())
        skip();
    uint8_t *recs = load_records();
    assert_non_null(recs);
    const char *models[] = {IC_INT8, MLPERF "ic/pretrainedResnet_large_int8.tflite"};
    for (int k = 0; k < 2; k++) {
        test_model a, b;
        test_model_load(&a, models[k], FR_CNN_KERNELS_BEST);
        test_model_load(&b, models[k], FR_CNN_KERNELS_REFERENCE);
        fr_cnn_tensor_info oa, ob;
        fr_error err = {0};
        assert_int_equal(fr_cnn_output(a.m, 0, &oa, &err), FR_OK);
        assert_int_equal(fr_cnn_output(b.m, 0, &ob, &err), FR_OK);
        float s[10];
        for (int i = 0; i < 8; i++) {
            const uint8_t *rec = recs + (size_t)i * 25 * REC;
            classify(a.m, rec, s);
            classify(b.m, rec, s);
            assert_memory_equal(oa.data, ob.data, oa.bytes);
        }
        test_model_free(&a);
        test_model_free(&b);
    }
    free(recs);
}

/* Deterministic pseudo-random input in the model's float range. */
static void random_input(fr_cnn_model *m, uint32_t seed) {
    fr_cnn_tensor_info in;
    fr_error err = {0};
    assert_int_equal(fr_cnn_input(m, 0, &in, &err), FR_OK);
    float lo, hi;
    fr_cnn_input_range(m, 0, &lo, &hi);
    if (in.type == FR_CNN_FLOAT32 && in.ndim == 4 && in.dims[3] == 1) { /* KWS: MFCC-like */
        lo = -30.0f;
        hi = 30.0f;
    }
    float *x = malloc(in.elems * sizeof *x);
    for (size_t i = 0; i < in.elems; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(seed >> 8) / 16777216.0f;
    }
    assert_int_equal(fr_cnn_set_input_f32(m, 0, x, in.elems, &err), FR_OK);
    free(x);
}

static void check_runs(const char *path) {
    test_model t;
    test_model_load(&t, path, FR_CNN_KERNELS_BEST);
    fr_cnn_tensor_info out;
    fr_error err = {0};
    assert_int_equal(fr_cnn_output(t.m, 0, &out, &err), FR_OK);
    float *y = malloc(out.elems * sizeof *y);
    for (uint32_t seed = 1; seed <= 3; seed++) {
        random_input(t.m, seed);
        assert_int_equal(fr_cnn_invoke(t.m, &err), FR_OK);
        assert_int_equal(fr_cnn_get_output_f32(t.m, 0, y, out.elems, &err), FR_OK);
        float sum = 0;
        for (size_t k = 0; k < out.elems; k++) {
            assert_true(isfinite(y[k]) && y[k] >= 0.0f && y[k] <= 1.0f);
            sum += y[k];
        }
        /* softmax output (int8: quantised to 1/256 steps) */
        assert_true(fabsf(sum - 1.0f) < 0.05f);
    }
    free(y);
    test_model_free(&t);
}

static void test_other_models_run(void **state) {
    (void)state;
    check_runs(TINY_INT8);
    check_runs(TINY_F32);
    if (!assets_present())
        return;
    check_runs(MLPERF "kws/kws_ref_model.tflite");
    check_runs(MLPERF "kws/kws_ref_model_float32.tflite");
    check_runs(MLPERF "vww/vww_96_int8.tflite");
    check_runs(MLPERF "vww/vww_96_float.tflite");
}

/* The int8 and float KWS / VWW models agree on most random inputs? Not meaningful for noise;
 * instead: the float KWS model with its hybrid (int8-weight) convolutions and the int8 KWS
 * model give the same top class on the same MFCC-like input most of the time. */
static void test_kws_int8_vs_float(void **state) {
    (void)state;
    if (!assets_present())
        skip();
    test_model q, f;
    test_model_load(&q, MLPERF "kws/kws_ref_model.tflite", FR_CNN_KERNELS_BEST);
    test_model_load(&f, MLPERF "kws/kws_ref_model_float32.tflite", FR_CNN_KERNELS_BEST);
    fr_error err = {0};
    int agree = 0, n = 30;
    float yq[12], yf[12];
    for (int s = 0; s < n; s++) {
        random_input(q.m, 100u + (uint32_t)s);
        random_input(f.m, 100u + (uint32_t)s);
        assert_int_equal(fr_cnn_invoke(q.m, &err), FR_OK);
        assert_int_equal(fr_cnn_invoke(f.m, &err), FR_OK);
        assert_int_equal(fr_cnn_get_output_f32(q.m, 0, yq, 12, &err), FR_OK);
        assert_int_equal(fr_cnn_get_output_f32(f.m, 0, yf, 12, &err), FR_OK);
        agree += fr_cnn_argmax_f32(yq, 12) == fr_cnn_argmax_f32(yf, 12);
    }
    printf("KWS int8 vs float top-1 agreement on %d random inputs: %d\n", n, agree);
    test_model_free(&q);
    test_model_free(&f);
}

/* ------------------------------------------------------------------------------------ */
/* Op-by-op comparison with the independent end-to-end NumPy reference                   */
/* (tools/py/tflite_run_ref.py: its own parsing, parameter derivation and TFLite integer   */
/* semantics). Every operator's output must match bit for bit.                            */

typedef struct capture {
    fr_cnn_model *m;
    uint8_t *buf;
    size_t n, cap;
} capture;

static void cap_append(capture *c, const void *p, size_t n) {
    if (c->n + n > c->cap) {
        c->cap = (c->n + n) * 2;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    memcpy(c->buf + c->n, p, n);
    c->n += n;
}

static void cap_hook(void *ctx, int op, int end) {
    capture *c = ctx;
    if (!end)
        return;
    fr_cnn_op_info oi;
    fr_cnn_tensor_info t;
    assert_int_equal(fr_cnn_op(c->m, op, &oi, NULL), FR_OK);
    assert_int_equal(fr_cnn_tensor(c->m, oi.outputs[0], &t, NULL), FR_OK);
    cap_append(c, t.data, t.bytes);
}

static void check_vs_python(const char *path, int n_runs, fr_cnn_kernels kernels,
                            const uint8_t *recs) {
    test_model t;
    test_model_load(&t, path, kernels);
    fr_error err = {0};
    fr_cnn_tensor_info in;
    assert_int_equal(fr_cnn_input(t.m, 0, &in, &err), FR_OK);
    capture inputs = {0}, got = {.m = t.m};
    float s[10];
    for (int r = 0; r < n_runs; r++) {
        if (recs && in.elems == 3072)
            classify(t.m, recs + (size_t)r * 20 * REC, s); /* sets the input from an image */
        else
            random_input(t.m, 7u + (uint32_t)r);
        cap_append(&inputs, in.data, in.bytes);
        assert_int_equal(fr_cnn_invoke_hooked(t.m, cap_hook, &got, &err), FR_OK);
    }
    char in_path[128], out_path[128], cmd[1024];
    snprintf(in_path, sizeof in_path, "/tmp/frugal_test_models_%d_in.bin", (int)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/frugal_test_models_%d_out.bin", (int)getpid());
    FILE *f = fopen(in_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(inputs.buf, 1, inputs.n, f), inputs.n);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s/tools/py/tflite_run_ref.py '%s' %s %s", FR_PYTHON,
             FR_SOURCE_DIR, path, in_path, out_path);
    assert_int_equal(system(cmd), 0);
    size_t n_ref;
    uint8_t *ref = read_all(out_path, &n_ref);
    remove(in_path);
    remove(out_path);
    assert_int_equal(n_ref, got.n);
    if (memcmp(ref, got.buf, got.n) != 0) {
        /* name the first operator that differs */
        size_t off = 0;
        for (int r = 0; r < n_runs; r++)
            for (int i = 0; i < fr_cnn_num_ops(t.m); i++) {
                fr_cnn_op_info oi;
                fr_cnn_tensor_info o;
                fr_cnn_op(t.m, i, &oi, &err);
                fr_cnn_tensor(t.m, oi.outputs[0], &o, &err);
                for (size_t b = 0; b < o.bytes; b++)
                    if (ref[off + b] != got.buf[off + b])
                        fail_msg("%s: run %d op %d %s: byte %zu of %zu differs (ref %d, got %d)",
                                 path, r, i, oi.name, b, o.bytes, (int8_t)ref[off + b],
                                 (int8_t)got.buf[off + b]);
                off += o.bytes;
            }
    }
    printf("%s (%s kernels): %d runs, %zu bytes of op outputs identical to the NumPy reference\n",
           path, kernels == FR_CNN_KERNELS_REFERENCE ? "reference" : "best", n_runs, got.n);
    free(ref);
    free(inputs.buf);
    free(got.buf);
    test_model_free(&t);
}

static void test_int8_graphs_match_numpy_reference(void **state) {
    (void)state;
    check_vs_python(TINY_INT8, 3, FR_CNN_KERNELS_REFERENCE, NULL);
    check_vs_python(TINY_INT8, 3, FR_CNN_KERNELS_BEST, NULL);
    if (!assets_present())
        return;
    uint8_t *recs = load_records();
    assert_non_null(recs);
    check_vs_python(IC_INT8, 5, FR_CNN_KERNELS_REFERENCE, recs);
    check_vs_python(IC_INT8, 5, FR_CNN_KERNELS_BEST, recs);
    check_vs_python(MLPERF "kws/kws_ref_model.tflite", 3, FR_CNN_KERNELS_BEST, NULL);
    check_vs_python(MLPERF "vww/vww_96_int8.tflite", 2, FR_CNN_KERNELS_BEST, NULL);
    free(recs);
}

static void test_image_resize(void **state) {
    (void)state;
    test_model t;
    test_model_load(&t, TINY_F32, FR_CNN_KERNELS_REFERENCE);
    fr_error err = {0};
    fr_cnn_tensor_info in;
    assert_int_equal(fr_cnn_input(t.m, 0, &in, &err), FR_OK); /* [1,4,4,2] float */
    /* a constant 8x8 image stays constant; channel mismatch 3 -> 2 is refused */
    uint8_t img[8 * 8 * 2];
    memset(img, 51, sizeof img);
    assert_int_equal(fr_cnn_set_input_image(t.m, 0, img, 8, 8, 2, 0.0f, 1.0f, &err), FR_OK);
    const float *x = in.data;
    for (size_t i = 0; i < in.elems; i++)
        assert_true(fabsf(x[i] - 0.2f) < 1e-6f);
    /* a horizontal ramp 2x1 upsampled to 4 wide: half-pixel centres give 0, .25, .75, 1 */
    uint8_t ramp[2 * 2] = {0, 0, 255, 255};
    assert_int_equal(fr_cnn_set_input_image(t.m, 0, ramp, 2, 1, 2, 0.0f, 1.0f, &err), FR_OK);
    assert_true(fabsf(x[0] - 0.0f) < 1e-6f && fabsf(x[2] - 0.25f) < 1e-6f);
    assert_true(fabsf(x[4] - 0.75f) < 1e-6f && fabsf(x[6] - 1.0f) < 1e-6f);
    uint8_t rgb[4 * 4 * 3] = {0};
    assert_int_equal(fr_cnn_set_input_image(t.m, 0, rgb, 4, 4, 3, 0.0f, 1.0f, &err),
                     FR_E_UNSUPPORTED);
    test_model_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet8_cifar10),
        cmocka_unit_test(test_int8_fast_equals_reference),
        cmocka_unit_test(test_other_models_run),
        cmocka_unit_test(test_kws_int8_vs_float),
        cmocka_unit_test(test_int8_graphs_match_numpy_reference),
        cmocka_unit_test(test_image_resize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
