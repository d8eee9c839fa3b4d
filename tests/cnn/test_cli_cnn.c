/* The CNN subcommands end to end: `frugal cnn-info`, `frugal classify` (CIFAR-10 binary:
 * the exact accuracy line, same result with threads; PPM and PNG images), `frugal
 * cnn-bench`; errors are one line on stderr with a non-zero exit. */
#include <sys/wait.h>
#include <unistd.h>

#include "cnn_rt_testutil.h"

#define FRUGAL FR_BINARY_DIR "/bin/frugal"

static char g_dir[256];

typedef struct run_out {
    int rc;
    char *out, *err;
} run_out;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static run_out run(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s >%s/out.txt 2>%s/err.txt", FRUGAL, args, g_dir, g_dir);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    run_out r = {.rc = WEXITSTATUS(st)};
    char p[512];
    snprintf(p, sizeof p, "%s/out.txt", g_dir);
    r.out = slurp(p);
    snprintf(p, sizeof p, "%s/err.txt", g_dir);
    r.err = slurp(p);
    return r;
}

static void run_free(run_out *r) {
    free(r->out);
    free(r->err);
}

/* stderr is exactly one line starting with "frugal CMD: " and containing `needle`. */
static void assert_one_line_error(const run_out *r, const char *cmd, const char *needle) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "frugal %s: ", cmd);
    if (strncmp(r->err, prefix, strlen(prefix)) != 0)
        fail_msg("stderr does not start with '%s': %s", prefix, r->err);
    const char *nl = strchr(r->err, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], 0);
    if (needle && !strstr(r->err, needle))
        fail_msg("stderr lacks '%s': %s", needle, r->err);
}

static const char *last_line(char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '\n')
        s[--n] = 0;
    char *p = strrchr(s, '\n');
    return p ? p + 1 : s;
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/frugal_test_cli_cnn_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_cnn_info(void **state) {
    (void)state;
    run_out r = run("cnn-info " TINY_INT8);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "DEPTHWISE_CONV_2D"));
    assert_non_null(strstr(r.out, "per-channel x3"));
    assert_non_null(strstr(r.out, "arena: planned "));
    assert_non_null(strstr(r.out, " vs naive sum "));
    run_free(&r);
    if (!assets_present())
        return;
    r = run("cnn-info " IC_INT8);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "CONV_2D"));
    assert_non_null(strstr(r.out, "scale 1 zp -128"));
    unsigned long planned, naive;
    const char *a = strstr(r.out, "arena: planned ");
    assert_non_null(a);
    assert_int_equal(sscanf(a, "arena: planned %lu bytes vs naive sum %lu bytes", &planned,
                            &naive),
                     2);
    assert_true(planned > 0 && planned <= naive);
    run_free(&r);
}

static void check_accuracy_line(const char *line, int n) {
    double acc;
    int c, t;
    char tail;
    if (sscanf(line, "accuracy: %lf (%d/%d)%c", &acc, &c, &t, &tail) != 3)
        fail_msg("bad accuracy line '%s'", line);
    assert_int_equal(t, n);
    char want[64];
    snprintf(want, sizeof want, "accuracy: %.4f (%d/%d)", (double)c / n, c, n);
    assert_string_equal(line, want);
}

static void test_classify_cifar(void **state) {
    (void)state;
    if (!assets_present())
        skip();
    run_out r = run("classify -m " IC_INT8 " --cifar10 " CIFAR_TEST " --limit 40");
    assert_int_equal(r.rc, 0);
    char first[128];
    snprintf(first, sizeof first, "%s", last_line(r.out));
    check_accuracy_line(first, 40);
    run_free(&r);
    r = run("classify -m " IC_INT8 " --cifar10 " CIFAR_TEST " --limit 40 -t 2");
    assert_int_equal(r.rc, 0);
    assert_string_equal(last_line(r.out), first); /* same answer with two threads */
    run_free(&r);
    r = run("classify -m " IC_F32 " --cifar10 " CIFAR_TEST " --limit 12 --ref");
    assert_int_equal(r.rc, 0);
    check_accuracy_line(last_line(r.out), 12);
    run_free(&r);
}

/* Writes CIFAR record `idx` as a PPM (and a PNG through Pillow); classify names its class. */
static void test_classify_images(void **state) {
    (void)state;
    if (!assets_present())
        skip();
    FILE *f = fopen(CIFAR_TEST, "rb");
    assert_non_null(f);
    uint8_t rec[3073];
    assert_int_equal(fread(rec, 1, sizeof rec, f), sizeof rec);
    fclose(f);
    char ppm[512], png[512], args[2048];
    snprintf(ppm, sizeof ppm, "%s/img0.ppm", g_dir);
    snprintf(png, sizeof png, "%s/img0.png", g_dir);
    f = fopen(ppm, "wb");
    fprintf(f, "P6\n# CIFAR record 0\n32 32\n255\n");
    for (int p = 0; p < 1024; p++)
        for (int ch = 0; ch < 3; ch++)
            fputc(rec[1 + ch * 1024 + p], f);
    fclose(f);
    snprintf(args, sizeof args,
             "%s -c \"from PIL import Image; Image.open('%s').resize((64, 48)).save('%s')\"",
             FR_PYTHON, ppm, png);
    int have_png = system(args) == 0;
    snprintf(args, sizeof args, "classify -m %s --top 2 %s %s", IC_INT8, ppm,
             have_png ? png : "");
    run_out r = run(args);
    assert_int_equal(r.rc, 0);
    char want[600];
    snprintf(want, sizeof want, "%s: ", ppm);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, ","));  /* two classes per line */
    if (have_png) {
        snprintf(want, sizeof want, "%s: ", png);
        assert_non_null(strstr(r.out, want));
    } else {
        printf("PNG part skipped: Pillow not available\n");
    }
    run_free(&r);
    /* a broken image: one line naming it */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad.ppm", g_dir);
    f = fopen(bad, "wb");
    fprintf(f, "P6\n32 32\n255\nshort");
    fclose(f);
    snprintf(args, sizeof args, "classify -m %s %s", IC_INT8, bad);
    r = run(args);
    assert_int_equal(r.rc, 1);
    assert_one_line_error(&r, "classify", "bad.ppm");
    run_free(&r);
    /* headers that claim far more pixels than their files hold: refused (before allocating
     * for them), one line each */
    static const unsigned char huge_png[] = { /* IHDR 16384 x 16384 RGB, a tiny IDAT, IEND */
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
        0x44, 0x52, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x40, 0x00, 0x08, 0x02, 0x00, 0x00,
        0x00, 0x26, 0xaa, 0x87, 0xd3, 0x00, 0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78,
        0x9c, 0x63, 0x60, 0x80, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0xb7, 0x58, 0x73, 0x95,
        0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    const char *names[2] = {"huge.ppm", "huge.png"};
    for (int k = 0; k < 2; k++) {
        snprintf(bad, sizeof bad, "%s/%s", g_dir, names[k]);
        f = fopen(bad, "wb");
        if (k == 0)
            fprintf(f, "P6\n16384 16384\n255\n0123456789");
        else
            fwrite(huge_png, 1, sizeof huge_png, f);
        fclose(f);
        snprintf(args, sizeof args, "classify -m %s %s", IC_INT8, bad);
        r = run(args);
        assert_int_equal(r.rc, 1);
        assert_one_line_error(&r, "classify", names[k]);
        assert_non_null(strstr(r.err, k == 0 ? "truncated" : "cannot come from"));
        run_free(&r);
    }
}

static void test_cnn_bench(void **state) {
    (void)state;
    run_out r = run("cnn-bench -m " TINY_INT8 " -r 3");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "whole model: median"));
    assert_non_null(strstr(r.out, "FULLY_CONNECTED"));
    assert_non_null(strstr(r.out, "arena: "));
    run_free(&r);
}

static void test_errors(void **state) {
    (void)state;
    run_out r = run("cnn-info /nonexistent/model.tflite");
    assert_int_equal(r.rc, 1);
    assert_one_line_error(&r, "cnn-info", "/nonexistent/model.tflite");
    run_free(&r);

    r = run("classify --bogus");
    assert_int_equal(r.rc, 2);
    assert_one_line_error(&r, "classify", "--bogus");
    run_free(&r);

    r = run("classify -m " TINY_INT8);
    assert_int_equal(r.rc, 2);
    assert_one_line_error(&r, "classify", NULL);
    run_free(&r);

    r = run("classify -m " TINY_INT8 " --limit 5 x.ppm");
    assert_int_equal(r.rc, 2);
    assert_one_line_error(&r, "classify", "--limit");
    run_free(&r);

    r = run("cnn-bench -m " TINY_INT8 " -r 0");
    assert_int_equal(r.rc, 2);
    assert_one_line_error(&r, "cnn-bench", "-r");
    run_free(&r);

    /* a truncated model: one line naming the file */
    size_t len;
    uint8_t *full = read_all(TINY_INT8, &len);
    char trunc[512], args[1024];
    snprintf(trunc, sizeof trunc, "%s/trunc.tflite", g_dir);
    FILE *f = fopen(trunc, "wb");
    fwrite(full, 1, len / 2, f);
    fclose(f);
    free(full);
    snprintf(args, sizeof args, "cnn-info %s", trunc);
    r = run(args);
    assert_int_equal(r.rc, 1);
    assert_one_line_error(&r, "cnn-info", "trunc.tflite");
    run_free(&r);

    /* a CIFAR file of the wrong size */
    snprintf(args, sizeof args, "classify -m %s --cifar10 %s", TINY_INT8, trunc);
    r = run(args);
    assert_int_equal(r.rc, 1);
    assert_one_line_error(&r, "classify", NULL);
    run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_info),
        cmocka_unit_test(test_classify_cifar),
        cmocka_unit_test(test_classify_images),
        cmocka_unit_test(test_cnn_bench),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
