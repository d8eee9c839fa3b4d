/* The TREC sidecar reader: the demo file written by tools/py/trec.py, and malformed
 * buffers (every truncation, every corrupted header/table byte, and targeted errors)
 * that must fail with a message and never read out of bounds (run under ASan). */
#include "trec_testutil.h"

#include "core/error.h"

#define DEMO_PATH FR_BINARY_DIR "/trec_demo.trec"

/* Loads a file into a 4-byte aligned buffer of exactly its size. */
static void *load(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = NULL;
    if (posix_memalign(&buf, 64, (size_t)n + 1) != 0) fail_msg("out of memory");
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) fail_msg("cannot read %s", path);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_demo_file(void **state) {
    (void)state;
    const char *cmd = FR_PYTHON " " FR_SOURCE_DIR "/tools/py/trec.py demo-sidecar " DEMO_PATH;
    assert_int_equal(system(cmd), 0);
    size_t len;
    unsigned char *buf = load(DEMO_PATH, &len);
    int n = 0;
    fr_error err = {0};
    assert_int_equal(fr_trec_file_open(buf, len, DEMO_PATH, &n, &err), FR_OK);
    assert_int_equal(n, 4);
    /* the fourth layer is in pixel mode (types bit 3): H * L projections, H offsets */
    const int ops[4] = {2, 5, 9, 12}, Ks[4] = {27, 144, 7, 144}, Ls[4] = {9, 16, 7, 16};
    const int Hs[4] = {4, 8, 16, 6}, scopes[4] = {0, 1, 0, 1}, types[4] = {7, 1, 2, 15};
    for (int i = 0; i < 4; i++) {
        fr_trec_layer l;
        assert_int_equal(fr_trec_file_layer(buf, len, i, &l, &err), FR_OK);
        assert_int_equal(l.op_index, ops[i]);
        assert_int_equal(l.K, Ks[i]);
        assert_int_equal(l.params.sub_len, Ls[i]);
        assert_int_equal(l.params.hash_bits, Hs[i]);
        assert_int_equal((int)l.params.scope, scopes[i]);
        assert_int_equal(l.params.proj_f32 != NULL, (types[i] & 1) != 0);
        assert_int_equal(l.params.proj_s8 != NULL, (types[i] & 2) != 0);
        assert_int_equal(l.params.pixel, (types[i] & 8) != 0);
        const int hk = Hs[i] * (types[i] & 8 ? Ls[i] : Ks[i]);
        for (int k = 0; k < hk; k++) {
            if (l.params.proj_f32) assert_true(l.params.proj_f32[k] == (float)k * 0.25f - (float)i);
            if (l.params.proj_s8) assert_int_equal(l.params.proj_s8[k], k % 200 - 100);
        }
        assert_int_equal(l.params.offset_f32 != NULL, (types[i] & 5) == 5);
        assert_int_equal(l.params.offset_s32 != NULL, (types[i] & 6) == 6);
        const int jh = types[i] & 8 ? Hs[i] : (Ks[i] + Ls[i] - 1) / Ls[i] * Hs[i];
        for (int k = 0; k < jh; k++) {
            if (l.params.offset_f32) assert_true(l.params.offset_f32[k] == (float)k * 0.5f - 1.0f);
            if (l.params.offset_s32) assert_int_equal(l.params.offset_s32[k], k * 1000 - 7);
        }
        int found = 0;
        fr_trec_layer l2;
        assert_int_equal(fr_trec_file_find(buf, len, ops[i], &l2, &found, &err), FR_OK);
        assert_int_equal(found, 1);
        assert_memory_equal(&l, &l2, sizeof l);
    }
    /* layer 1 (K = 144) matches a 3x3x16 conv */
    fr_trec_layer l;
    assert_int_equal(fr_trec_file_layer(buf, len, 1, &l, &err), FR_OK);
    fr_cnn_geom g;
    assert_int_equal(fr_cnn_geom_init(&g, "conv", FR_CNN_PAD_SAME, 1, 8, 8, 16, 8, 3, 3, 1, 1,
                                      1, 1, 1, &err),
                     FR_OK);
    assert_int_equal(fr_trec_check(&l.params, &g, 0, "conv", &err), FR_OK);
    int found = 1;
    for (int op = -1; op < 14; op++) {
        if (op == 2 || op == 5 || op == 9 || op == 12) continue;
        assert_int_equal(fr_trec_file_find(buf, len, op, &l, &found, &err), FR_OK);
        assert_int_equal(found, 0);
    }
    /* layer 3 (pixel, L = 16, one channel group) matches a 3x3x16 conv, not a 1x1x24 one
     * (L must divide in_c; the model binding also wants L * groups = in_c) */
    assert_int_equal(fr_trec_file_layer(buf, len, 3, &l, &err), FR_OK);
    assert_int_equal(l.channel_groups, 1);
    assert_int_equal(fr_trec_check(&l.params, &g, 1, "conv", &err), FR_OK);
    fr_cnn_geom g1;
    assert_int_equal(fr_cnn_geom_init(&g1, "conv", FR_CNN_PAD_SAME, 1, 8, 8, 24, 8, 1, 1, 1, 1,
                                      1, 1, 1, &err),
                     FR_OK);
    assert_int_equal(fr_trec_check(&l.params, &g1, 1, "conv", &err), FR_E_ARG);
    assert_int_equal(fr_trec_file_layer(buf, len, 4, &l, &err), FR_E_ARG);
    assert_int_equal(fr_trec_file_layer(buf, len, -1, &l, &err), FR_E_ARG);
    free(buf);
}

/* A valid two-layer file built by hand. */
static size_t make_file(unsigned char *b) {
    memset(b, 0, 1024);
    const uint32_t K0 = 8, H0 = 2, K1 = 6, H1 = 3;
    const uint32_t off0 = 16 + 48, bytes0 = 5 * H0 * K0; /* f32 + s8 */
    const uint32_t off1 = off0 + bytes0, bytes1 = H1 * K1; /* s8 only */
    const uint32_t total = (off1 + bytes1 + 3) / 4 * 4;
    memcpy(b, "FRTC", 4);
    b[4] = 1;
    b[6] = 2;
    memcpy(b + 8, &total, 4);
    unsigned char *e = b + 16;
    const uint32_t op0 = 3, op1 = 7;
    memcpy(e, &op0, 4), memcpy(e + 4, &K0, 4);
    e[8] = 4, e[10] = (unsigned char)H0, e[11] = 0, e[12] = 3;
    memcpy(e + 16, &off0, 4), memcpy(e + 20, &bytes0, 4);
    e += 24;
    memcpy(e, &op1, 4), memcpy(e + 4, &K1, 4);
    e[8] = 6, e[10] = (unsigned char)H1, e[11] = 1, e[12] = 2;
    memcpy(e + 16, &off1, 4), memcpy(e + 20, &bytes1, 4);
    for (uint32_t i = off0; i < total; i++) b[i] = (unsigned char)(i * 7);
    return total;
}

static fr_status try_open(const unsigned char *b, size_t len, fr_error *err) {
    int n = -1;
    fr_status st = fr_trec_file_open(b, len, "x.trec", &n, err);
    if (st == FR_OK) {
        /* whatever was accepted must give in-range pointers */
        for (int i = 0; i < n; i++) {
            fr_trec_layer l;
            assert_int_equal(fr_trec_file_layer(b, len, i, &l, err), FR_OK);
            const size_t hk = (size_t)l.params.hash_bits *
                              (l.params.pixel ? (size_t)l.params.sub_len * l.channel_groups
                                              : (size_t)l.K);
            volatile int sink = 0;
            if (l.params.proj_f32)
                for (size_t k = 0; k < hk; k++) sink += (int)l.params.proj_f32[k] != 0;
            if (l.params.proj_s8)
                for (size_t k = 0; k < hk; k++) sink += l.params.proj_s8[k];
            (void)sink;
        }
    } else {
        assert_true(strlen(err->msg) > 0);
        assert_non_null(strstr(err->msg, "x.trec"));
    }
    return st;
}

static void test_malformed(void **state) {
    (void)state;
    unsigned char *good = NULL, *b = NULL;
    assert_int_equal(posix_memalign((void **)&good, 64, 1024), 0);
    assert_int_equal(posix_memalign((void **)&b, 64, 1024), 0);
    const size_t len = make_file(good);
    fr_error err = {0};
    fr_trec_layer l0;
    assert_int_equal(try_open(good, len, &err), FR_OK);

    /* every truncation (copied to an exact-size heap buffer so ASan sees overreads) */
    for (size_t n = 0; n < len; n++) {
        unsigned char *t = NULL;
        assert_int_equal(posix_memalign((void **)&t, 64, n ? n : 1), 0);
        memcpy(t, good, n);
        assert_int_not_equal(try_open(t, n, &err), FR_OK);
        free(t);
    }
    /* every byte of header and table, several values */
    for (size_t i = 0; i < 64; i++) {
        const unsigned char vals[4] = {0x00, 0x01, 0x80, 0xFF};
        for (int v = 0; v < 4; v++) {
            memcpy(b, good, len);
            b[i] = vals[v];
            (void)try_open(b, len, &err);
        }
    }
    /* targeted errors */
    struct {
        size_t at;
        unsigned char v;
        fr_status want;
        const char *msg;
    } cases[] = {
        {0, 'X', FR_E_FORMAT, "magic"},
        {4, 2, FR_E_UNSUPPORTED, "version"},
        {8, 0, FR_E_FORMAT, "bytes"},
        {16, 9, FR_E_FORMAT, "op index"},   /* op 9 > op 7 of the next entry */
        {26, 17, FR_E_FORMAT, "hash_bits"},
        {26, 0, FR_E_FORMAT, "hash_bits"},
        {24, 0, FR_E_FORMAT, "sub_len"},
        {24, 9, FR_E_FORMAT, "sub_len"},
        {27, 2, FR_E_FORMAT, "scope"},
        {28, 0, FR_E_FORMAT, "types"},
        {28, 16, FR_E_FORMAT, "types"},
        {28, 11, FR_E_FORMAT, "data bytes"}, /* pixel mode: H * L projections, not H * K */
        {28, 1, FR_E_FORMAT, "data bytes"},
        {32, 65, FR_E_FORMAT, "offset"},    /* misaligned */
        {32, 60, FR_E_FORMAT, "offset"},    /* inside the table */
        {56, 64, FR_E_FORMAT, "overlapping"}, /* second block on the first */
        {12, 1, FR_E_FORMAT, "reserved"},
        {29, 2, FR_E_FORMAT, "types"},      /* channel groups on a layer not in pixel mode */
        {30, 1, FR_E_FORMAT, "types"},      /* reserved entry bytes */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(b, good, len);
        b[cases[c].at] = cases[c].v;
        fr_status st = try_open(b, len, &err);
        if (st != cases[c].want || !strstr(err.msg, cases[c].msg))
            fail_msg("case %zu: status %d message '%s' (want %d, '%s')", c, (int)st, err.msg,
                     (int)cases[c].want, cases[c].msg);
    }
    /* pixel mode needs sub_len to divide K (8): sub_len 3 */
    memcpy(b, good, len);
    b[28] = 11;
    b[24] = 3;
    assert_int_equal(try_open(b, len, &err), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "pixel"));
    /* pixel mode with 2 channel groups of sub_len 4 (H * 4 * 2 = H * K projections: the
     * same data bytes); 3 groups do not divide K */
    memcpy(b, good, len);
    b[28] = 11;
    b[29] = 2;
    assert_int_equal(try_open(b, len, &err), FR_OK);
    assert_int_equal(fr_trec_file_layer(b, len, 0, &l0, &err), FR_OK);
    assert_int_equal(l0.channel_groups, 2);
    assert_int_equal(l0.params.pixel, 1);
    b[29] = 3;
    assert_int_equal(try_open(b, len, &err), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "channel groups"));
    /* misaligned buffer, NULL arguments */
    memcpy(b + 1, good, len);
    int n;
    assert_int_equal(fr_trec_file_open(b + 1, len, "x.trec", &n, &err), FR_E_ARG);
    assert_non_null(strstr(err.msg, "aligned"));
    assert_int_equal(fr_trec_file_open(NULL, len, "x.trec", &n, &err), FR_E_ARG);
    assert_int_equal(fr_trec_file_open(good, len, NULL, NULL, NULL), FR_E_ARG);
    fr_trec_layer l;
    int found;
    assert_int_equal(fr_trec_file_find(good, len, 7, &l, &found, &err), FR_OK);
    assert_int_equal(found, 1);
    assert_int_equal(l.K, 6);
    assert_null(l.params.proj_f32);
    assert_int_equal(fr_trec_file_find(good, 10, 7, &l, &found, &err), FR_E_FORMAT);
    free(good);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_file),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
