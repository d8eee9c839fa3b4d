/* The CIFAR-10 exporter (tools/py/export_cifar.py, tools/py/tflite_writer.py) against the
 * C runtime:
 *  writer   tflite_writer.py's selftest model (every op it writes) read by frugal's C
 *           loader and by tools/py/tflite_inspect.py: identical dumps; it runs; cnn-info
 *  resnet   the pretrained ResNet-20 exported dense (int8 and float): the dumps agree,
 *           `frugal classify` prints the same accuracy line as the NumPy evaluator
 *           (trec_tflite.py eval) on 40 test images (every 50th), int8 and float, so does
 *           every image's class on the first 20 (C API vs export_cifar.py predict), and the float
 *           model's logits match PyTorch's (C runtime on 4 images)
 *  cifarnet the same for a randomly initialised CifarNet (fc1's NCHW flatten permuted)
 *  cifarnet_hr the same for a randomly initialised CifarNet-HR (conv2 at 32x32, conv3), then
 *           with a post-training pixel-mode sidecar on conv2 (L 32, H 8): `frugal classify
 *           --reuse trec` == `trec_tflite.py eval --trec` (int8)
 *  trec     ResNet-20 with 4 post-training TREC layers (pca+c, L 8, H 12; two of them the
 *           stride-2 convs, exported as 4x4 convs): `frugal classify --reuse trec`
 *           == `trec_tflite.py eval --trec` (int8), and the float model with the sidecar runs
 * The executable runs the group named by argv[1] (one CTest test per group). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "frugal.h"

#include "../cnn/cnn_rt_testutil.h"

#define CIFAR FR_ASSETS "/cnn/cifar10/test_batch.bin"
#define R20 FR_ASSETS "/cnn/resnet-cifar/resnet20-12fca82f.th"
#define TRAIN FR_ASSETS "/cnn/cifar10/train-jpeg.tar"
#define PY FR_PYTHON " " FR_SOURCE_DIR "/tools/py/"
#define FRUGAL FR_BINARY_DIR "/bin/frugal"
#define TMPROOT FR_BINARY_DIR "/tests/reuse/trec_export_tmp"

static char g_out[1 << 16];
static char TMPDIR[512] = TMPROOT "/all"; /* one folder per group: groups may run in parallel */

/* Runs cmd with stdout+stderr into TMPDIR/<log>; returns the exit status, output in g_out. */
static int sh(const char *cmd, const char *log) {
    char full[8192];
    snprintf(full, sizeof full, "%s >%s/%s 2>&1", cmd, TMPDIR, log);
    int s = system(full);
    assert_true(s != -1 && WIFEXITED(s));
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", TMPDIR, log);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    size_t n = fread(g_out, 1, sizeof g_out - 1, f);
    g_out[n] = 0;
    fclose(f);
    return WEXITSTATUS(s);
}

static void must(const char *cmd, const char *log) {
    if (sh(cmd, log))
        fail_msg("%s failed:\n%s", cmd, g_out);
}

/* The "accuracy: ..." line of g_out, copied into buf. */
static const char *accuracy(char *buf, size_t cap) {
    const char *a = strstr(g_out, "accuracy: ");
    if (!a)
        fail_msg("no accuracy line in:\n%s", g_out);
    size_t n = strcspn(a, "\n");
    assert_true(n < cap);
    memcpy(buf, a, n);
    buf[n] = 0;
    return buf;
}

static void mkdirs(void) {
    mkdir(FR_BINARY_DIR "/tests", 0755);
    mkdir(FR_BINARY_DIR "/tests/reuse", 0755);
    mkdir(TMPROOT, 0755);
    mkdir(TMPDIR, 0755);
}

static int have(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int assets_or_skip(void) {
    if (have(CIFAR) && have(R20) && have(TRAIN))
        return 1;
    printf("SKIPPED: %s/cnn (CIFAR-10 files, ResNet-20 checkpoint) not found\n", FR_ASSETS);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* C dump in tflite_inspect.py --dump's line format                                      */

static size_t put(char *s, size_t n, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(s + n, n < cap ? cap - n : 0, fmt, ap);
    va_end(ap);
    assert_true(k >= 0 && n + (size_t)k < cap);
    return n + (size_t)k;
}

static size_t put_idx(char *s, size_t n, size_t cap, const int32_t *v, int k) {
    if (k == 0)
        n = put(s, n, cap, "-");
    for (int i = 0; i < k; i++)
        n = put(s, n, cap, i ? ",%d" : "%d", (int)v[i]);
    return n;
}

/* Loads path with the C runtime, runs it once (mid-grey input) and compares its dump with
 * tflite_inspect.py --dump. */
static void check_dump(const char *path) {
    test_model tm;
    test_model_load(&tm, path, FR_CNN_KERNELS_BEST);
    fr_cnn_model *m = tm.m;
    fr_error err = {0};
    fr_cnn_tensor_info in;
    assert_int_equal(fr_cnn_input(m, 0, &in, &err), FR_OK);
    float *x = malloc(in.elems * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < in.elems; i++)
        x[i] = (float)(i % 256);
    assert_int_equal(fr_cnn_set_input_f32(m, 0, x, in.elems, &err), FR_OK);
    free(x);
    assert_int_equal(fr_cnn_invoke(m, &err), FR_OK);

    size_t cap = 1 << 18, n = 0;
    char *c = malloc(cap);
    assert_non_null(c);
    c[0] = 0;
    for (int i = 0; i < fr_cnn_num_tensors(m); i++) {
        fr_cnn_tensor_info t;
        assert_int_equal(fr_cnn_tensor(m, i, &t, &err), FR_OK);
        n = put(c, n, cap, "T %d %d ", i, (int)t.type);
        n = put_idx(c, n, cap, t.dims, t.ndim);
        n = put(c, n, cap, " %zu %d %.9g %d %d\n", t.is_const ? t.bytes : (size_t)0, t.n_quant,
                (double)t.scale, (int)t.zero_point, t.n_quant > 1 ? t.quant_dim : 0);
    }
    for (int i = 0; i < fr_cnn_num_ops(m); i++) {
        fr_cnn_op_info op;
        assert_int_equal(fr_cnn_op(m, i, &op, &err), FR_OK);
        n = put(c, n, cap, "O %d %d ", i, op.code);
        n = put_idx(c, n, cap, op.inputs, op.n_inputs);
        n = put(c, n, cap, " ");
        n = put_idx(c, n, cap, op.outputs, op.n_outputs);
        n = put(c, n, cap, "\n");
    }
    int32_t io[2] = {fr_cnn_input_index(m, 0), fr_cnn_output_index(m, 0)};
    assert_int_equal(fr_cnn_num_inputs(m), 1);
    assert_int_equal(fr_cnn_num_outputs(m), 1);
    n = put(c, n, cap, "I %d\nU %d\n", (int)io[0], (int)io[1]);
    test_model_free(&tm);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, PY "tflite_inspect.py --dump '%s'", path);
    must(cmd, "dump.txt");
    if (strcmp(c, g_out) != 0) {
        const char *a = c, *b = g_out;
        while (*a && *a == *b)
            a++, b++;
        while (a > c && a[-1] != '\n')
            a--;
        while (b > g_out && b[-1] != '\n')
            b--;
        fail_msg("%s: C and Python dumps differ:\n  C : %.120s\n  py: %.120s", path, a, b);
    }
    free(c);
}

/* ------------------------------------------------------------------------------------ */

static void test_writer(void **st) {
    (void)st;
    mkdirs();
    char cmd[1024], path[600];
    snprintf(path, sizeof path, "%s/writer.tflite", TMPDIR);
    snprintf(cmd, sizeof cmd, PY "tflite_writer.py selftest %s", path);
    must(cmd, "writer.txt");
    check_dump(path);
    snprintf(cmd, sizeof cmd, FRUGAL " cnn-info %s", path);
    must(cmd, "cnninfo.txt");
    const char *ops[] = {"DEPTHWISE_CONV_2D", "CONV_2D", "MAX_POOL_2D", "ADD",
                         "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (!strstr(g_out, ops[k]))
            fail_msg("cnn-info does not list %s:\n%s", ops[k], g_out);
    assert_non_null(strstr(g_out, "18 tensors, 9 operators"));
}

/* subset of every 50th test record (the first 40 are used) */
static void make_subset(void) {
    mkdirs();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, PY "trec_tflite.py subset " CIFAR " %s/sub50.bin --every 50",
             TMPDIR);
    must(cmd, "subset.txt");
}

/* Python evaluator vs frugal classify on 40 images; returns nothing, asserts equality. */
static void compare(const char *model, const char *trec) {
    char cmd[2048], py[256], c[256];
    snprintf(cmd, sizeof cmd, PY "trec_tflite.py eval %s %s/sub50.bin --limit 40%s%s", model,
             TMPDIR, trec ? " --trec " : "", trec ? trec : "");
    must(cmd, "eval.txt");
    accuracy(py, sizeof py);
    snprintf(cmd, sizeof cmd, FRUGAL " classify -m %s --cifar10 %s/sub50.bin --limit 40%s%s",
             model, TMPDIR, trec ? " --reuse trec --trec " : "", trec ? trec : "");
    must(cmd, "classify.txt");
    if (trec)
        assert_non_null(strstr(g_out, "trec: "));
    accuracy(c, sizeof c);
    printf("%s%s: python %s, frugal %s\n", model, trec ? " (trec)" : "", py, c);
    assert_string_equal(py, c);
}

/* Per-image classes: the C runtime (as classify feeds CIFAR images) vs export_cifar.py
 * predict (NumPy graph), on the first n records of the subset. */
static void compare_predictions(const char *path, int n) {
    test_model tm;
    test_model_load(&tm, path, FR_CNN_KERNELS_BEST);
    fr_cnn_model *m = tm.m;
    fr_error err = {0};
    float lo, hi, scores[10];
    fr_cnn_input_range(m, 0, &lo, &hi);
    char sub[700], cmd[2048];
    snprintf(sub, sizeof sub, "%s/sub50.bin", TMPDIR);
    size_t sl;
    uint8_t *recs = read_all(sub, &sl);
    assert_true(sl >= (size_t)n * 3073);
    snprintf(cmd, sizeof cmd, PY "export_cifar.py predict %s %s %d", path, sub, n);
    must(cmd, "predict.txt");
    const char *p = g_out;
    int classes[10] = {0};
    for (int r = 0; r < n; r++) {
        uint8_t hwc[3072];
        cifar_hwc(recs + (size_t)r * 3073, hwc);
        assert_int_equal(fr_cnn_set_input_image(m, 0, hwc, 32, 32, 3, lo, hi, &err), FR_OK);
        assert_int_equal(fr_cnn_invoke(m, &err), FR_OK);
        assert_int_equal(fr_cnn_get_output_f32(m, 0, scores, 10, &err), FR_OK);
        int c = fr_cnn_argmax_f32(scores, 10);
        char *end;
        long py = strtol(p, &end, 10);
        if (end == p)
            fail_msg("%s: predict printed too few lines:\n%s", path, g_out);
        p = end;
        if (py != c)
            fail_msg("%s: record %d: C class %d, NumPy class %ld", path, r, c, py);
        classes[c] = 1;
    }
    int distinct = 0;
    for (int k = 0; k < 10; k++)
        distinct += classes[k];
    printf("%s: %d per-image classes equal (%d distinct)\n", path, n, distinct);
    assert_true(distinct >= 2); /* the comparison is not vacuous */
    free(recs);
    test_model_free(&tm);
}

/* The C runtime's float logits vs PyTorch's (export_cifar.py torch-logits) on n images. */
static void compare_torch_logits(const char *path, const char *net, const char *ckpt, int n) {
    test_model tm;
    test_model_load(&tm, path, FR_CNN_KERNELS_BEST);
    fr_cnn_model *m = tm.m;
    fr_error err = {0};
    float lo, hi, y[10];
    fr_cnn_input_range(m, 0, &lo, &hi);
    char sub[700], cmd[2048];
    snprintf(sub, sizeof sub, "%s/sub50.bin", TMPDIR);
    size_t sl;
    uint8_t *recs = read_all(sub, &sl);
    snprintf(cmd, sizeof cmd, PY "export_cifar.py torch-logits %s %s %s %d", net, ckpt, sub, n);
    must(cmd, "logits.txt");
    const char *p = g_out;
    double worst = 0, mag = 0;
    for (int r = 0; r < n; r++) {
        uint8_t hwc[3072];
        cifar_hwc(recs + (size_t)r * 3073, hwc);
        assert_int_equal(fr_cnn_set_input_image(m, 0, hwc, 32, 32, 3, lo, hi, &err), FR_OK);
        assert_int_equal(fr_cnn_invoke(m, &err), FR_OK);
        assert_int_equal(fr_cnn_get_output_f32(m, 0, y, 10, &err), FR_OK);
        for (int k = 0; k < 10; k++) {
            char *end;
            double t = strtod(p, &end);
            if (end == p)
                fail_msg("torch-logits printed too few values:\n%s", g_out);
            p = end;
            double d = fabs(t - (double)y[k]);
            worst = d > worst ? d : worst;
            mag = fabs(t) > mag ? fabs(t) : mag;
        }
    }
    printf("%s: C float logits vs PyTorch on %d images: max |diff| %g (max |logit| %g)\n", path,
           n, worst, mag);
    assert_true(worst <= 1e-4 * (mag > 1 ? mag : 1));
    free(recs);
    test_model_free(&tm);
}

static void export_dense(const char *net, const char *ckpt, const char *prefix) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             PY "export_cifar.py %s %s %s/%s --float --calib 20 --no-eval",
             net, ckpt, TMPDIR, prefix);
    must(cmd, "export.txt");
    char m[700];
    snprintf(m, sizeof m, "%s/%s.tflite", TMPDIR, prefix);
    check_dump(m);
    compare(m, NULL);
    compare_predictions(m, 20);
    snprintf(m, sizeof m, "%s/%s_float.tflite", TMPDIR, prefix);
    check_dump(m);
    compare(m, NULL);
    compare_predictions(m, 20);
    compare_torch_logits(m, net, ckpt, 4);
}

static void test_resnet(void **st) {
    (void)st;
    if (!assets_or_skip())
        skip();
    make_subset();
    export_dense("resnet20", "pretrained", "r20");
}

static void test_cifarnet(void **st) {
    (void)st;
    if (!assets_or_skip())
        skip();
    make_subset();
    export_dense("cifarnet", "random", "cnet");
}

static void test_cifarnet_hr(void **st) {
    (void)st;
    if (!assets_or_skip())
        skip();
    make_subset();
    export_dense("cifarnet_hr", "random", "chr");
    char cmd[2048], m[700], t[700];
    snprintf(cmd, sizeof cmd,
             PY "export_cifar.py cifarnet_hr random %s/chrpix --calib 20 --ptq conv2=32:8 "
                "--ptq-pixel --no-eval",
             TMPDIR);
    must(cmd, "export_pix.txt");
    assert_non_null(strstr(g_out, "(1 layers)"));
    assert_non_null(strstr(g_out, "pixel mode"));
    snprintf(m, sizeof m, "%s/chrpix.tflite", TMPDIR);
    snprintf(t, sizeof t, "%s/chrpix.tflite.trec", TMPDIR);
    compare(m, t);
}

static void test_trec(void **st) {
    (void)st;
    if (!assets_or_skip())
        skip();
    make_subset();
    char cmd[2048], m[700], t[700];
    snprintf(cmd, sizeof cmd,
             PY "export_cifar.py resnet20 pretrained %s/r20trec --float "
             "--calib 20 --ptq 8:12 --no-eval --ptq-layers "
             "layer2.0.conv1,layer2.2.conv2,layer3.0.conv1,layer3.1.conv2",
             TMPDIR);
    must(cmd, "export_trec.txt");
    assert_non_null(strstr(g_out, "(4 layers)"));
    snprintf(m, sizeof m, "%s/r20trec.tflite", TMPDIR);
    snprintf(t, sizeof t, "%s/r20trec.tflite.trec", TMPDIR);
    compare(m, t);
    /* the float model with its sidecar (float projections) runs through frugal */
    snprintf(cmd, sizeof cmd,
             FRUGAL " classify -m %s/r20trec_float.tflite --cifar10 %s/sub50.bin --limit 40 "
                    "--reuse trec --trec %s/r20trec_float.tflite.trec",
             TMPDIR, TMPDIR, TMPDIR);
    must(cmd, "classify_float.txt");
    assert_non_null(strstr(g_out, "trec: 4 layers"));
    char c[256];
    printf("float trec: frugal %s\n", accuracy(c, sizeof c));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_resnet),
        cmocka_unit_test(test_cifarnet),
        cmocka_unit_test(test_cifarnet_hr),
        cmocka_unit_test(test_trec),
    };
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
        snprintf(TMPDIR, sizeof TMPDIR, "%s/%s", TMPROOT, argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
