/* The TFLite reader and model loader: every real model cross-checked against an
 * independent Python FlatBuffer reader (tools/py/tflite_inspect.py --dump); known values of
 * the MLPerf Tiny IC model; hostile files (truncation at every offset, corrupted bytes,
 * offsets and vtables) fail with a clear message and never crash (run under ASan/UBSan);
 * arena sizing is exact. */
#include "cnn_rt_testutil.h"

#include "cnn/tflite_reader.h"

/* ------------------------------------------------------------------------------------ */
/* C-side dump in the same line format as tflite_inspect.py --dump                       */

typedef struct dump {
    char *s;
    size_t n, cap;
} dump;

static void dputf(dump *d, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(d->s + d->n, d->cap - d->n, fmt, ap);
        va_end(ap);
        assert_true(k >= 0);
        if (d->n + (size_t)k < d->cap) {
            d->n += (size_t)k;
            return;
        }
        d->cap = d->cap * 2 + (size_t)k + 256;
        d->s = realloc(d->s, d->cap);
        assert_non_null(d->s);
    }
}

static void dput_idx(dump *d, const int32_t *v, int n) {
    if (n == 0)
        dputf(d, "-");
    for (int k = 0; k < n; k++)
        dputf(d, k ? ",%d" : "%d", (int)v[k]);
}

static char *c_dump(const fr_cnn_model *m) {
    dump d = {0};
    d.cap = 4096;
    d.s = malloc(d.cap);
    assert_non_null(d.s);
    d.s[0] = 0;
    fr_error err = {0};
    for (int i = 0; i < fr_cnn_num_tensors(m); i++) {
        fr_cnn_tensor_info t;
        assert_int_equal(fr_cnn_tensor(m, i, &t, &err), FR_OK);
        dputf(&d, "T %d %d ", i, (int)t.type);
        dput_idx(&d, t.dims, t.ndim);
        dputf(&d, " %zu %d %.9g %d %d\n", t.is_const ? t.bytes : (size_t)0, t.n_quant,
              (double)t.scale, (int)t.zero_point, t.n_quant > 1 ? t.quant_dim : 0);
    }
    for (int i = 0; i < fr_cnn_num_ops(m); i++) {
        fr_cnn_op_info op;
        assert_int_equal(fr_cnn_op(m, i, &op, &err), FR_OK);
        dputf(&d, "O %d %d ", i, op.code);
        dput_idx(&d, op.inputs, op.n_inputs);
        dputf(&d, " ");
        dput_idx(&d, op.outputs, op.n_outputs);
        dputf(&d, "\n");
    }
    int32_t io[64];
    int n = fr_cnn_num_inputs(m);
    for (int k = 0; k < n && k < 64; k++)
        io[k] = fr_cnn_input_index(m, k);
    dputf(&d, "I ");
    dput_idx(&d, io, n);
    n = fr_cnn_num_outputs(m);
    for (int k = 0; k < n && k < 64; k++)
        io[k] = fr_cnn_output_index(m, k);
    dputf(&d, "\nU ");
    dput_idx(&d, io, n);
    dputf(&d, "\n");
    return d.s;
}

static char *py_dump(const char *path) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/tools/py/tflite_inspect.py --dump '%s'", FR_PYTHON,
             FR_SOURCE_DIR, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    dump d = {0};
    d.cap = 4096;
    d.s = malloc(d.cap);
    size_t k;
    char chunk[4096];
    while ((k = fread(chunk, 1, sizeof chunk, p)) > 0) {
        if (d.n + k + 1 > d.cap) {
            d.cap = (d.n + k + 1) * 2;
            d.s = realloc(d.s, d.cap);
        }
        memcpy(d.s + d.n, chunk, k);
        d.n += k;
    }
    d.s[d.n] = 0;
    assert_int_equal(pclose(p), 0);
    return d.s;
}

static void check_against_python(const char *path) {
    test_model t;
    test_model_load(&t, path, FR_CNN_KERNELS_REFERENCE);
    char *c = c_dump(t.m);
    char *py = py_dump(path);
    if (strcmp(c, py) != 0) {
        /* report the first differing line */
        const char *a = c, *b = py;
        while (*a && *a == *b)
            a++, b++;
        while (a > c && a[-1] != '\n')
            a--;
        while (b > py && b[-1] != '\n')
            b--;
        fail_msg("%s: C and Python dumps differ:\n  C : %.120s\n  py: %.120s", path, a, b);
    }
    free(c);
    free(py);
    test_model_free(&t);
}

static void test_tiny_models_match_python(void **state) {
    (void)state;
    check_against_python(TINY_INT8);
    check_against_python(TINY_F32);
}

static void test_real_models_match_python(void **state) {
    (void)state;
    if (!assets_present())
        skip();
    for (size_t i = 0; i < N_ALL_MODELS; i++)
        check_against_python(ALL_MODELS[i]);
}

/* Known facts of the MLPerf Tiny IC int8 ResNet-8 (see docs/cnn.md). */
static void test_ic_int8_facts(void **state) {
    (void)state;
    if (!assets_present())
        skip();
    test_model t;
    test_model_load(&t, IC_INT8, FR_CNN_KERNELS_REFERENCE);
    fr_error err = {0};
    assert_int_equal(fr_cnn_num_tensors(t.m), 38);
    assert_int_equal(fr_cnn_num_ops(t.m), 16);
    int counts[128] = {0};
    for (int i = 0; i < fr_cnn_num_ops(t.m); i++) {
        fr_cnn_op_info op;
        assert_int_equal(fr_cnn_op(t.m, i, &op, &err), FR_OK);
        assert_true(op.code >= 0 && op.code < 128);
        counts[op.code]++;
    }
    assert_int_equal(counts[3], 9);  /* CONV_2D */
    assert_int_equal(counts[0], 3);  /* ADD */
    assert_int_equal(counts[1], 1);  /* AVERAGE_POOL_2D */
    assert_int_equal(counts[22], 1); /* RESHAPE */
    assert_int_equal(counts[9], 1);  /* FULLY_CONNECTED */
    assert_int_equal(counts[25], 1); /* SOFTMAX */
    fr_cnn_tensor_info in, out, w;
    assert_int_equal(fr_cnn_input(t.m, 0, &in, &err), FR_OK);
    assert_int_equal(in.type, FR_CNN_INT8);
    assert_int_equal(in.ndim, 4);
    assert_int_equal(in.dims[1], 32);
    assert_int_equal(in.dims[3], 3);
    assert_true(in.scale == 1.0f);
    assert_int_equal(in.zero_point, -128);
    assert_non_null(in.data);
    assert_int_equal(fr_cnn_output(t.m, 0, &out, &err), FR_OK);
    assert_int_equal(out.elems, 10);
    assert_true(out.scale == 1.0f / 256.0f);
    assert_int_equal(out.zero_point, -128);
    assert_int_equal(fr_cnn_tensor(t.m, 8, &w, &err), FR_OK); /* first conv filter */
    assert_string_equal(w.name, "model/conv2d/Conv2D");
    assert_int_equal(w.n_quant, 16);
    assert_int_equal(w.quant_dim, 0);
    assert_true(w.is_const);
    assert_int_equal(w.bytes, 16 * 3 * 3 * 3);
    /* weights are read in place: the data pointer lies inside the caller's file */
    assert_true((uint8_t *)w.data >= t.file && (uint8_t *)w.data + w.bytes <= t.file + t.len);
    float lo, hi;
    fr_cnn_input_range(t.m, 0, &lo, &hi);
    assert_true(lo == 0.0f && hi == 255.0f);
    fr_cnn_op_info op0;
    assert_int_equal(fr_cnn_op(t.m, 0, &op0, &err), FR_OK);
    assert_int_equal(op0.macs, 32ull * 32 * 16 * 3 * 3 * 3);
    assert_int_equal(op0.stride_h, 1);
    assert_int_equal(op0.activation, 1);
    test_model_free(&t);
}

/* ------------------------------------------------------------------------------------ */
/* Hostile files                                                                         */

/* One arena reused by every attempt (a fresh 4 MB malloc each time is slow under ASan). */
static _Alignas(64) uint8_t g_arena[1u << 20];

static fr_status try_load(const uint8_t *buf, size_t len, fr_error *err, int run) {
    size_t cap = sizeof g_arena;
    void *arena = g_arena;
    fr_cnn_model *m = NULL;
    fr_cnn_config cfg = {.kernels = FR_CNN_KERNELS_BEST, .name = "hostile.tflite"};
    memset(err, 0, sizeof *err);
    fr_status st = fr_cnn_model_init(buf, len, arena, cap, &cfg, &m, err);
    if (st == FR_OK) {
        assert_non_null(m);
        if (run) {
            for (int i = 0; i < fr_cnn_num_inputs(m); i++) {
                fr_cnn_tensor_info t;
                assert_int_equal(fr_cnn_input(m, i, &t, err), FR_OK);
                if (t.data)
                    memset(t.data, 0, t.bytes);
            }
            assert_int_equal(fr_cnn_invoke(m, err), FR_OK);
        }
    } else {
        assert_null(m);
        assert_true(strlen(err->msg) > 0);
        assert_non_null(strstr(err->msg, "hostile.tflite"));
        assert_null(strchr(err->msg, '\n'));
        if (!(st == FR_E_FORMAT || st == FR_E_UNSUPPORTED || st == FR_E_NOMEM))
            fail_msg("status %d: %s", (int)st, err->msg);
    }
    return st;
}

static void test_truncation_every_offset(void **state) {
    (void)state;
    size_t len;
    uint8_t *full = read_all(TINY_INT8, &len);
    fr_error err;
    assert_int_equal(try_load(full, len, &err, 1), FR_OK);
    for (size_t cut = 0; cut < len; cut++) {
        /* a fresh allocation of exactly cut bytes lets ASan catch any read past the end */
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, full, cut);
        fr_status st = try_load(p, cut, &err, 1);
        if (st == FR_OK)
            fail_msg("truncated to %zu of %zu bytes but loaded", cut, len);
        free(p);
    }
    free(full);
}

static void test_truncation_real_model(void **state) {
    (void)state;
    if (!assets_present())
        skip();
    size_t len;
    uint8_t *full = read_all(MLPERF "kws/kws_ref_model.tflite", &len);
    fr_error err;
    for (size_t cut = 0; cut < len; cut += (cut < 512 ? 1 : 211)) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, full, cut);
        assert_int_not_equal(try_load(p, cut, &err, 0), FR_OK);
        free(p);
    }
    free(full);
}

static uint32_t rng_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Every byte of the tiny model set to several values; then random 32-bit overwrites
 * (corrupted uoffsets, soffsets, vtable entries, lengths). Loading either fails cleanly
 * or yields a model that runs (under ASan: without touching memory it must not). */
static void test_corrupted_bytes(void **state) {
    (void)state;
    size_t len;
    uint8_t *full = read_all(TINY_INT8, &len);
    uint8_t *p = malloc(len);
    fr_error err;
    static const uint8_t vals[] = {0x00, 0xff, 0x80, 0x7f, 0x01};
    size_t n_fail = 0, n_ok = 0;
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(p, full, len);
            if (p[pos] == vals[v])
                continue;
            p[pos] = vals[v];
            if (try_load(p, len, &err, 1) == FR_OK)
                n_ok++;
            else
                n_fail++;
        }
    }
    uint32_t s = 12345;
    for (int k = 0; k < 20000; k++) {
        memcpy(p, full, len);
        size_t pos = rng_next(&s) % (len - 3);
        uint32_t v = rng_next(&s);
        if (k % 3 == 0)
            v %= (uint32_t)len * 2; /* plausible offsets */
        memcpy(p + pos, &v, 4);
        if (try_load(p, len, &err, 1) == FR_OK)
            n_ok++;
        else
            n_fail++;
    }
    printf("corrupted tiny model: %zu loads failed cleanly, %zu still loaded and ran\n", n_fail,
           n_ok);
    assert_true(n_fail > 0);
    free(p);
    free(full);
}

static void test_specific_errors(void **state) {
    (void)state;
    size_t len;
    uint8_t *full = read_all(TINY_INT8, &len);
    uint8_t *p = malloc(len);
    fr_error err;

    /* too short */
    assert_int_equal(try_load(full, 7, &err, 0), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "too short"));
    /* identifier */
    memcpy(p, full, len);
    memcpy(p + 4, "XXXX", 4);
    assert_int_equal(try_load(p, len, &err, 0), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "TFL3"));
    /* root offset past the end */
    memcpy(p, full, len);
    uint32_t big = (uint32_t)len + 100;
    memcpy(p, &big, 4);
    assert_int_equal(try_load(p, len, &err, 0), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "root table"));
    /* root table's vtable offset pointing outside the file */
    memcpy(p, full, len);
    uint32_t root;
    memcpy(&root, p, 4);
    int32_t soff = -(int32_t)len * 4;
    memcpy(p + root, &soff, 4);
    assert_int_equal(try_load(p, len, &err, 0), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "vtable"));
    /* vtable size odd */
    memcpy(p, full, len);
    memcpy(&soff, p + root, 4);
    uint16_t odd = 7;
    memcpy(p + root - soff, &odd, 2);
    assert_int_equal(try_load(p, len, &err, 0), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "vtable size"));

    /* API misuse */
    fr_cnn_model *m = NULL;
    assert_int_equal(fr_cnn_model_init(full, len, NULL, 10, NULL, &m, &err), FR_E_ARG);
    assert_int_equal(fr_cnn_model_init(full, len, NULL, 0, NULL, NULL, &err), FR_E_ARG);
    assert_int_equal(fr_cnn_model_init(full, len, NULL, 0, NULL, &m, &err), FR_E_NOMEM);
    assert_non_null(strstr(err.msg, "arena too small"));
    assert_null(m);
    free(p);
    free(full);
}

/* fr_cnn_plan's total is exact: that many bytes work at any arena alignment, one less
 * fails with FR_E_NOMEM naming the size. */
static void test_arena_exact(void **state) {
    (void)state;
    const char *paths[] = {TINY_INT8, TINY_F32, IC_INT8};
    for (size_t k = 0; k < 3; k++) {
        if (k == 2 && !assets_present())
            continue;
        size_t len;
        uint8_t *file = read_all(paths[k], &len);
        fr_cnn_arena_info info;
        fr_error err = {0};
        void *work = malloc(4u << 20);
        assert_int_equal(fr_cnn_plan(file, len, work, 4u << 20, NULL, &info, &err), FR_OK);
        free(work);
        assert_true(info.total_bytes >= info.persistent_bytes + info.activation_bytes);
        assert_true(info.activation_bytes <= info.naive_bytes);
        uint8_t *raw = aligned_alloc(64, (info.total_bytes + 128) & ~(size_t)63);
        for (size_t shift = 1; shift < 64; shift += 7) { /* shift 1: 63 bytes of slack */
            fr_cnn_model *m = NULL;
            assert_int_equal(fr_cnn_model_init(file, len, raw + shift, info.total_bytes, NULL,
                                               &m, &err),
                             FR_OK);
            fr_cnn_arena_info got;
            fr_cnn_model_arena(m, &got);
            assert_int_equal(got.total_bytes, info.total_bytes);
            if (shift == 1) {
                assert_int_equal(fr_cnn_model_init(file, len, raw + shift, info.total_bytes - 1,
                                                   NULL, &m, &err),
                                 FR_E_NOMEM);
                assert_non_null(strstr(err.msg, "arena too small"));
            }
        }
        /* a too small arena that still holds the tables reports the full need */
        fr_cnn_model *m = NULL;
        assert_int_equal(fr_cnn_model_init(file, len, raw, info.persistent_bytes + 63, NULL, &m,
                                           &err),
                         FR_E_NOMEM);
        char need[64];
        snprintf(need, sizeof need, "need %zu bytes", info.total_bytes);
        if (info.activation_bytes > 0)
            assert_non_null(strstr(err.msg, need));
        free(raw);
        free(file);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_models_match_python),
        cmocka_unit_test(test_real_models_match_python),
        cmocka_unit_test(test_ic_int8_facts),
        cmocka_unit_test(test_truncation_every_offset),
        cmocka_unit_test(test_truncation_real_model),
        cmocka_unit_test(test_corrupted_bytes),
        cmocka_unit_test(test_specific_errors),
        cmocka_unit_test(test_arena_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
