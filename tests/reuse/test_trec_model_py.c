/* TREC on the MLPerf Tiny IC int8 ResNet against an independent Python side:
 * tools/py/trec_tflite.py makes a PCA sidecar from calibration images (NumPy run of the
 * graph), then `trec_tflite.py eval` (NumPy int8 graph with a NumPy TREC twin) and
 * `frugal classify --reuse trec` must print the same accuracy line on the evaluation
 * subset (every 50th CIFAR-10 test image; the first 40 of them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#define MODEL FR_ASSETS "/cnn/mlperf-tiny/ic/pretrainedResnet_quant.tflite"
#define CIFAR FR_ASSETS "/cnn/cifar10/test_batch.bin"
#define TOOL FR_SOURCE_DIR "/tools/py/trec_tflite.py"
#define FRUGAL FR_BINARY_DIR "/bin/frugal"
#define TMPDIR FR_BINARY_DIR "/tests/reuse/trec_model_py_tmp"

static int sh(const char *cmd, const char *out_name, char *out, size_t cap) {
    char full[4096];
    snprintf(full, sizeof full, "%s >%s/%s 2>&1", cmd, TMPDIR, out_name);
    int s = system(full);
    assert_true(s != -1 && WIFEXITED(s));
    char p[512];
    snprintf(p, sizeof p, "%s/%s", TMPDIR, out_name);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    fclose(f);
    return WEXITSTATUS(s);
}

static const char *accuracy_line(const char *s) {
    const char *a = strstr(s, "accuracy: ");
    assert_non_null(a);
    return a;
}

static void test_accuracy_matches_python(void **st) {
    (void)st;
    FILE *f = fopen(MODEL, "rb"), *g = fopen(CIFAR, "rb");
    if (!f || !g) {
        printf("SKIPPED: %s or %s not found\n", MODEL, CIFAR);
        if (f)
            fclose(f);
        if (g)
            fclose(g);
        skip();
    }
    fclose(f);
    fclose(g);
    mkdir(TMPDIR, 0755);
    static char o[16384], py[4096], c[4096];
    assert_int_equal(sh(FR_PYTHON " " TOOL " subset " CIFAR " " TMPDIR
                        "/sub50.bin --every 50",
                        "subset.txt", o, sizeof o),
                     0);
    const char *sides[1][2] = {{"h12l8", "--H 12 --L 8"}};
    for (int k = 0; k < 1; k++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 FR_PYTHON " " TOOL " make " MODEL " " TMPDIR "/%s.trec %s "
                 "--calib 6",
                 sides[k][0], sides[k][1]);
        if (sh(cmd, "make.txt", o, sizeof o))
            fail_msg("%s", o);
        snprintf(cmd, sizeof cmd,
                 FR_PYTHON " " TOOL " eval " MODEL " " TMPDIR
                 "/sub50.bin --limit 40 --trec " TMPDIR "/%s.trec",
                 sides[k][0]);
        if (sh(cmd, "eval.txt", py, sizeof py))
            fail_msg("%s", py);
        snprintf(cmd, sizeof cmd,
                 FRUGAL " classify -m " MODEL " --cifar10 " TMPDIR
                 "/sub50.bin --limit 40 --reuse trec --trec " TMPDIR "/%s.trec",
                 sides[k][0]);
        if (sh(cmd, "classify.txt", c, sizeof c))
            fail_msg("%s", c);
        printf("%s: python %s", sides[k][0], accuracy_line(py));
        printf("%s: frugal %s", sides[k][0], c);
        assert_non_null(strstr(c, "trec: 4 layers"));
        assert_string_equal(accuracy_line(py), accuracy_line(c));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_accuracy_matches_python)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
