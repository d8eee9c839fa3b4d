/* GGUF reader/writer: round trips of every value and tensor type, hostile inputs, real files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/types.h"
#include "gguf/gguf.h"

/* ---- helpers ------------------------------------------------------------------------ */

static void tmp_path(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "%s/test_gguf_%ld_%s.gguf", FR_BINARY_DIR, (long)getpid(), tag);
}

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* A growing byte buffer for hand-made (often broken) files. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void b_put(bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void b_u32(bytes *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(bytes *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(bytes *b, const char *s) {
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}
static void b_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b_put(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void b_pad(bytes *b, size_t a) {
    uint8_t z = 0;
    while (b->len % a) b_put(b, &z, 1);
}
static void b_zeros(bytes *b, size_t n) {
    uint8_t z = 0;
    for (size_t i = 0; i < n; i++) b_put(b, &z, 1);
}
static void b_tensor(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                     uint64_t off) {
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) b_u64(b, ne[i]);
    b_u32(b, type);
    b_u64(b, off);
}

/* Opens b as a buffer and expects failure with status st and a message containing `want`. */
static void expect_fail(const bytes *b, fr_status st, const char *want) {
    fr_gguf *g = (fr_gguf *)0x1;
    fr_error err = {0};
    fr_status s = fr_gguf_open_buffer(b->p, b->len, "hostile.gguf", &g, &err);
    if (s != st || !strstr(err.msg, "hostile.gguf") || (want && !strstr(err.msg, want)))
        print_error("status %d (want %d), message: %s (want '%s')\n", s, st, err.msg, want ? want : "");
    assert_int_equal(s, st);
    assert_null(g);
    assert_non_null(strstr(err.msg, "hostile.gguf"));
    if (want) assert_non_null(strstr(err.msg, want));
}

static void expect_ok(const bytes *b) {
    fr_gguf *g = NULL;
    fr_error err = {0};
    fr_status s = fr_gguf_open_buffer(b->p, b->len, "hostile.gguf", &g, &err);
    if (s) print_error("unexpected failure: %s\n", err.msg);
    assert_int_equal(s, FR_OK);
    fr_gguf_close(g);
}

/* A small valid file with one f32 tensor of 8 floats at offset 0. */
static void one_tensor_file(bytes *b, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                            uint64_t off, size_t data_bytes) {
    b_header(b, 3, 1, 0);
    b_tensor(b, "t", n_dims, ne, type, off);
    b_pad(b, 32);
    b_zeros(b, data_bytes);
}

/* ---- round trip ----------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

typedef struct rt_tensor {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[4];
    size_t size;
    uint8_t *data;
} rt_tensor;

static void write_everything(const char *path, uint32_t alignment, rt_tensor *ts, size_t nt) {
    fr_gguf_writer *w = NULL;
    fr_error err = {0};
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    uint64_t u64 = 0xfedcba9876543210ull;
    int64_t i64 = -1234567890123ll;
    double f64 = 3.141592653589793;
    assert_int_equal(fr_gguf_writer_set_scalar(w, "v.u8", FR_GGUF_U8, &u8, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_scalar(w, "v.i8", FR_GGUF_I8, &i8, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_scalar(w, "v.u16", FR_GGUF_U16, &u16, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_scalar(w, "v.i16", FR_GGUF_I16, &i16, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_u32(w, "v.u32", 4000000000u, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_i32(w, "v.i32", -2000000000, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_f32(w, "v.f32", 1.5e-5f, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_bool(w, "v.bool", true, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "v.str", "h\xc3\xa9llo \"w\"", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "v.empty", "", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_scalar(w, "v.u64", FR_GGUF_U64, &u64, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_scalar(w, "v.i64", FR_GGUF_I64, &i64, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_scalar(w, "v.f64", FR_GGUF_F64, &f64, &err), FR_OK);

    uint8_t a_u8[3] = {1, 2, 255};
    int8_t a_i8[3] = {-1, 0, 127};
    uint16_t a_u16[2] = {1, 65535};
    int16_t a_i16[2] = {-32768, 7};
    uint32_t a_u32[2] = {0, 4294967295u};
    int32_t a_i32[4] = {-5, 6, -7, 8};
    float a_f32[3] = {0.5f, -2.0f, 1e30f};
    uint8_t a_bool[3] = {1, 0, 1};
    uint64_t a_u64[2] = {1, UINT64_MAX};
    int64_t a_i64[2] = {INT64_MIN, INT64_MAX};
    double a_f64[2] = {-0.25, 1e300};
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.u8", FR_GGUF_U8, a_u8, 3, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.i8", FR_GGUF_I8, a_i8, 3, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.u16", FR_GGUF_U16, a_u16, 2, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.i16", FR_GGUF_I16, a_i16, 2, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.u32", FR_GGUF_U32, a_u32, 2, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.i32", FR_GGUF_I32, a_i32, 4, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.f32", FR_GGUF_F32, a_f32, 3, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.bool", FR_GGUF_BOOL, a_bool, 3, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.u64", FR_GGUF_U64, a_u64, 2, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.i64", FR_GGUF_I64, a_i64, 2, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.f64", FR_GGUF_F64, a_f64, 2, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.empty", FR_GGUF_I32, NULL, 0, &err), FR_OK);
    const char *strs[4] = {"<unk>", "", "\xe2\x96\x81the", "x"};
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "a.str", strs, 4, &err), FR_OK);
    fr_gguf_writer_sub subs[3] = {
        {FR_GGUF_I32, a_i32, 4},
        {FR_GGUF_STRING, strs, 4},
        {FR_GGUF_F64, NULL, 0},
    };
    assert_int_equal(fr_gguf_writer_set_arr_arr(w, "a.nested", subs, 3, &err), FR_OK);

    /* Writer refuses bad input. */
    assert_int_equal(fr_gguf_writer_set_u32(w, "v.u32", 1, &err), FR_E_ARG);
    assert_non_null(strstr(err.msg, "v.u32"));
    assert_int_equal(fr_gguf_writer_set_arr(w, "a.bad", FR_GGUF_STRING, a_u8, 1, &err), FR_E_ARG);
    assert_int_equal(fr_gguf_writer_set_scalar(w, "a.bad", FR_GGUF_ARRAY, a_u8, &err), FR_E_ARG);

    for (size_t i = 0; i < nt; i++)
        assert_int_equal(fr_gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne,
                                                   ts[i].data, i % 2 == 0, &err),
                         FR_OK);
    uint64_t ne_bad[2] = {33, 1};
    assert_int_equal(fr_gguf_writer_add_tensor(w, "bad", FR_TYPE_Q8_0, 2, ne_bad, ts[0].data, true, &err),
                     FR_E_ARG);
    assert_int_equal(fr_gguf_writer_add_tensor(w, ts[0].name, FR_TYPE_F32, 1, ts[0].ne, ts[0].data,
                                               true, &err),
                     FR_E_ARG);
    assert_int_equal(fr_gguf_writer_add_tensor(w, "q41", 3, 1, ts[0].ne, ts[0].data, true, &err),
                     FR_E_UNSUPPORTED);
    fr_status s = fr_gguf_writer_write(w, path, alignment, &err);
    if (s) print_error("%s\n", err.msg);
    assert_int_equal(s, FR_OK);
    fr_gguf_writer_free(w);
}

static void check_everything(const fr_gguf *g, uint32_t alignment, rt_tensor *ts, size_t nt) {
    fr_error err = {0};
    uint32_t u32;
    int64_t i64;
    float f32;
    bool b;
    fr_gguf_str s;
    fr_gguf_arr a, sub;

    assert_int_equal(fr_gguf_version(g), 3);
    assert_int_equal(fr_gguf_alignment(g), alignment ? alignment : 32);
    assert_int_equal(fr_gguf_get_u32(g, "v.u8", &u32, &err), FR_OK);
    assert_int_equal(u32, 200);
    assert_int_equal(fr_gguf_get_i64(g, "v.i8", &i64, &err), FR_OK);
    assert_int_equal(i64, -100);
    assert_int_equal(fr_gguf_get_u32(g, "v.u16", &u32, &err), FR_OK);
    assert_int_equal(u32, 60000);
    assert_int_equal(fr_gguf_get_i64(g, "v.i16", &i64, &err), FR_OK);
    assert_int_equal(i64, -30000);
    assert_int_equal(fr_gguf_get_u32(g, "v.u32", &u32, &err), FR_OK);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(fr_gguf_get_i64(g, "v.i32", &i64, &err), FR_OK);
    assert_int_equal(i64, -2000000000);
    assert_int_equal(fr_gguf_get_f32(g, "v.f32", &f32, &err), FR_OK);
    assert_true(f32 == 1.5e-5f);
    assert_int_equal(fr_gguf_get_bool(g, "v.bool", &b, &err), FR_OK);
    assert_true(b);
    assert_int_equal(fr_gguf_get_str(g, "v.str", &s, &err), FR_OK);
    assert_true(fr_gguf_str_eq(s, "h\xc3\xa9llo \"w\""));
    assert_int_equal(fr_gguf_get_str(g, "v.empty", &s, &err), FR_OK);
    assert_int_equal(s.len, 0);
    /* u64 above INT64_MAX does not fit in i64; i64 does. */
    assert_int_equal(fr_gguf_get_i64(g, "v.u64", &i64, &err), FR_E_FORMAT);
    assert_int_equal(fr_gguf_get_i64(g, "v.i64", &i64, &err), FR_OK);
    assert_int_equal(i64, -1234567890123ll);
    assert_int_equal(fr_gguf_get_f32(g, "v.f64", &f32, &err), FR_OK);
    assert_true(f32 == (float)3.141592653589793);
    int64_t k = fr_gguf_find_key(g, "v.u64");
    assert_true(k >= 0);
    assert_int_equal(fr_gguf_kv_type(g, k), FR_GGUF_U64);
    char buf[256];
    fr_gguf_kv_format(g, k, buf, sizeof buf);
    assert_string_equal(buf, "18364758544493064720");

    assert_int_equal(fr_gguf_get_arr(g, "a.u8", &a, &err), FR_OK);
    assert_int_equal(a.type, FR_GGUF_U8);
    assert_int_equal(a.n, 3);
    assert_int_equal(fr_gguf_arr_i64(&a, 2), 255);
    assert_int_equal(fr_gguf_get_arr(g, "a.i8", &a, &err), FR_OK);
    assert_int_equal(fr_gguf_arr_i64(&a, 0), -1);
    assert_int_equal(fr_gguf_arr_i64(&a, 2), 127);
    assert_int_equal(fr_gguf_get_arr(g, "a.u16", &a, &err), FR_OK);
    assert_int_equal(fr_gguf_arr_i64(&a, 1), 65535);
    assert_int_equal(fr_gguf_get_arr(g, "a.i16", &a, &err), FR_OK);
    assert_int_equal(fr_gguf_arr_i64(&a, 0), -32768);
    assert_int_equal(fr_gguf_get_arr(g, "a.u32", &a, &err), FR_OK);
    assert_int_equal(fr_gguf_arr_i64(&a, 1), 4294967295ll);
    assert_int_equal(fr_gguf_get_arr(g, "a.i32", &a, &err), FR_OK);
    assert_int_equal(a.n, 4);
    assert_int_equal(fr_gguf_arr_i64(&a, 2), -7);
    assert_int_equal(fr_gguf_get_arr(g, "a.f32", &a, &err), FR_OK);
    assert_true(fr_gguf_arr_f64(&a, 0) == 0.5 && fr_gguf_arr_f64(&a, 1) == -2.0);
    assert_true(fr_gguf_arr_f64(&a, 2) == (double)1e30f);
    assert_int_equal(fr_gguf_get_arr(g, "a.bool", &a, &err), FR_OK);
    assert_int_equal(a.type, FR_GGUF_BOOL);
    assert_int_equal(fr_gguf_arr_i64(&a, 0), 1);
    assert_int_equal(fr_gguf_arr_i64(&a, 1), 0);
    assert_int_equal(fr_gguf_get_arr(g, "a.u64", &a, &err), FR_OK);
    assert_true(fr_gguf_arr_f64(&a, 1) == (double)UINT64_MAX);
    assert_int_equal(fr_gguf_get_arr(g, "a.i64", &a, &err), FR_OK);
    assert_true(fr_gguf_arr_i64(&a, 0) == INT64_MIN && fr_gguf_arr_i64(&a, 1) == INT64_MAX);
    assert_int_equal(fr_gguf_get_arr(g, "a.f64", &a, &err), FR_OK);
    assert_true(fr_gguf_arr_f64(&a, 0) == -0.25 && fr_gguf_arr_f64(&a, 1) == 1e300);
    assert_int_equal(fr_gguf_get_arr(g, "a.empty", &a, &err), FR_OK);
    assert_int_equal(a.n, 0);
    assert_int_equal(a.type, FR_GGUF_I32);

    assert_int_equal(fr_gguf_get_arr(g, "a.str", &a, &err), FR_OK);
    assert_int_equal(a.type, FR_GGUF_STRING);
    assert_int_equal(a.n, 4);
    assert_int_equal(fr_gguf_arr_str(&a, 0, &s, &err), FR_OK);
    assert_true(fr_gguf_str_eq(s, "<unk>"));
    assert_int_equal(fr_gguf_arr_str(&a, 1, &s, &err), FR_OK);
    assert_true(fr_gguf_str_eq(s, ""));
    assert_int_equal(fr_gguf_arr_str(&a, 2, &s, &err), FR_OK);
    assert_true(fr_gguf_str_eq(s, "\xe2\x96\x81the"));
    assert_int_equal(fr_gguf_arr_str(&a, 3, &s, &err), FR_OK);
    assert_true(fr_gguf_str_eq(s, "x"));
    assert_int_equal(fr_gguf_arr_str(&a, 4, &s, &err), FR_E_ARG);
    assert_int_equal(fr_gguf_arr_sub(&a, 0, &sub, &err), FR_E_ARG);

    assert_int_equal(fr_gguf_get_arr(g, "a.nested", &a, &err), FR_OK);
    assert_int_equal(a.type, FR_GGUF_ARRAY);
    assert_int_equal(a.n, 3);
    assert_int_equal(fr_gguf_arr_sub(&a, 0, &sub, &err), FR_OK);
    assert_int_equal(sub.type, FR_GGUF_I32);
    assert_int_equal(sub.n, 4);
    assert_int_equal(fr_gguf_arr_i64(&sub, 3), 8);
    assert_int_equal(fr_gguf_arr_sub(&a, 1, &sub, &err), FR_OK);
    assert_int_equal(sub.type, FR_GGUF_STRING);
    assert_int_equal(fr_gguf_arr_str(&sub, 2, &s, &err), FR_OK);
    assert_true(fr_gguf_str_eq(s, "\xe2\x96\x81the"));
    assert_int_equal(fr_gguf_arr_sub(&a, 2, &sub, &err), FR_OK);
    assert_int_equal(sub.type, FR_GGUF_F64);
    assert_int_equal(sub.n, 0);
    assert_int_equal(fr_gguf_arr_sub(&a, 3, &sub, &err), FR_E_ARG);
    k = fr_gguf_find_key(g, "a.nested");
    fr_gguf_kv_format(g, k, buf, sizeof buf);
    assert_non_null(strstr(buf, "[array x 3]"));
    assert_non_null(strstr(buf, "[i32 x 4] -5, 6, -7, 8"));

    /* Every key listed once, in order. */
    int64_t want_kv = 13 + 14 + (alignment && alignment != 32 ? 1 : 0);
    assert_int_equal(fr_gguf_n_kv(g), want_kv);
    assert_true(fr_gguf_str_eq(fr_gguf_key(g, 0), "v.u8"));

    assert_int_equal(fr_gguf_n_tensors(g), (int64_t)nt);
    for (size_t i = 0; i < nt; i++) {
        const fr_gguf_tensor *t = fr_gguf_tensor_at(g, (int64_t)i);
        assert_non_null(t);
        assert_true(fr_gguf_str_eq(t->name, ts[i].name));
        assert_ptr_equal(fr_gguf_find_tensor(g, ts[i].name), t);
        assert_int_equal(t->type, ts[i].type);
        assert_int_equal(t->n_dims, ts[i].n_dims);
        for (int d = 0; d < 4; d++) assert_int_equal(t->ne[d], ts[i].ne[d]);
        assert_int_equal(t->size, ts[i].size);
        assert_int_equal(t->offset % fr_gguf_alignment(g), 0);
        assert_int_equal(((const uint8_t *)t->data - (const uint8_t *)fr_gguf_data_base(g)) %
                             fr_gguf_alignment(g), 0);
        assert_memory_equal(t->data, ts[i].data, ts[i].size);
    }
    assert_null(fr_gguf_find_tensor(g, "nope"));
    assert_null(fr_gguf_tensor_at(g, (int64_t)nt));
}

static size_t make_tensors(rt_tensor *ts) {
    rt_tensor init[4] = {
        {"f32.weight", FR_TYPE_F32, 2, {5, 3, 1, 1}, 5 * 3 * 4, NULL},
        {"blk.0.f16", FR_TYPE_F16, 3, {7, 2, 3, 1}, 7 * 2 * 3 * 2, NULL},
        {"q4_0", FR_TYPE_Q4_0, 4, {64, 2, 1, 2}, 2 * 4 * 18, NULL},
        {"q8_0", FR_TYPE_Q8_0, 1, {96, 1, 1, 1}, 3 * 34, NULL},
    };
    for (size_t i = 0; i < 4; i++) {
        ts[i] = init[i];
        ts[i].data = malloc(ts[i].size);
        assert_non_null(ts[i].data);
        fill(ts[i].data, ts[i].size, (uint32_t)i + 7);
    }
    return 4;
}

static void free_tensors(rt_tensor *ts, size_t n) {
    for (size_t i = 0; i < n; i++) free(ts[i].data);
}

static void test_roundtrip(void **state) {
    (void)state;
    uint32_t aligns[3] = {0, 64, 8};
    for (int ai = 0; ai < 3; ai++) {
        char path[512];
        tmp_path(path, sizeof path, "rt");
        rt_tensor ts[4];
        size_t nt = make_tensors(ts);
        write_everything(path, aligns[ai], ts, nt);

        fr_gguf *g = NULL;
        fr_error err = {0};
        fr_status s = fr_gguf_open(path, &g, &err);
        if (s) print_error("%s\n", err.msg);
        assert_int_equal(s, FR_OK);
        assert_string_equal(fr_gguf_name(g), path);
        check_everything(g, aligns[ai], ts, nt);
        fr_gguf_close(g);

        /* Same through a caller buffer, without copying. */
        size_t size;
        uint8_t *buf = read_file(path, &size);
        assert_int_equal(fr_gguf_open_buffer(buf, size, "mem", &g, &err), FR_OK);
        check_everything(g, aligns[ai], ts, nt);
        const fr_gguf_tensor *t = fr_gguf_tensor_at(g, 0);
        assert_true((const uint8_t *)t->data >= buf && (const uint8_t *)t->data < buf + size);
        fr_gguf_close(g);
        free(buf);
        free_tensors(ts, nt);
        unlink(path);
    }
}

static void test_writer_errors(void **state) {
    (void)state;
    fr_gguf_writer *w = NULL;
    fr_error err = {0};
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_u32(w, "", 1, &err), FR_E_ARG);
    assert_int_equal(fr_gguf_writer_set_str(w, "s", NULL, &err), FR_E_ARG);
    const char *strs[2] = {"a", NULL};
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "strs", strs, 2, &err), FR_E_ARG);
    assert_int_equal(fr_gguf_find_key(NULL, "x"), -1);
    float x[32] = {0};
    uint64_t ne[2] = {32, 1}, ne0[2] = {32, 0};
    assert_int_equal(fr_gguf_writer_add_tensor(w, "z", FR_TYPE_F32, 2, ne0, x, true, &err), FR_E_ARG);
    assert_int_equal(fr_gguf_writer_add_tensor(w, "d5", FR_TYPE_F32, 5, ne, x, true, &err), FR_E_ARG);
    char long_name[80];
    memset(long_name, 'n', 64);
    long_name[64] = '\0';
    assert_int_equal(fr_gguf_writer_add_tensor(w, long_name, FR_TYPE_F32, 1, ne, x, true, &err), FR_E_ARG);
    long_name[63] = '\0';
    assert_int_equal(fr_gguf_writer_add_tensor(w, long_name, FR_TYPE_F32, 1, ne, x, false, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_write(w, "/nonexistent/dir/x.gguf", 32, &err), FR_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/x.gguf"));
    char path[512];
    tmp_path(path, sizeof path, "werr");
    assert_int_equal(fr_gguf_writer_write(w, path, 48, &err), FR_E_ARG);
    assert_non_null(strstr(err.msg, "power of two"));
    /* A general.alignment key that disagrees with the write alignment is refused. */
    assert_int_equal(fr_gguf_writer_set_u32(w, "general.alignment", 64, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_write(w, path, 32, &err), FR_E_ARG);
    assert_int_equal(fr_gguf_writer_write(w, path, 64, &err), FR_OK);
    fr_gguf_writer_free(w);
    fr_gguf *g = NULL;
    assert_int_equal(fr_gguf_open(path, &g, &err), FR_OK);
    assert_int_equal(fr_gguf_alignment(g), 64);
    assert_int_equal(fr_gguf_n_tensors(g), 1);
    fr_gguf_close(g);
    unlink(path);
}

/* ---- hostile inputs ------------------------------------------------------------------- */

static void test_truncation(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "trunc");
    fr_gguf_writer *w = NULL;
    fr_error err = {0};
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "general.architecture", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_u32(w, "n", 5, &err), FR_OK);
    const char *strs[3] = {"a", "bc", ""};
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "toks", strs, 3, &err), FR_OK);
    float fs[3] = {1, 2, 3};
    assert_int_equal(fr_gguf_writer_set_arr(w, "fs", FR_GGUF_F32, fs, 3, &err), FR_OK);
    fr_gguf_writer_sub subs[2] = {{FR_GGUF_STRING, strs, 3}, {FR_GGUF_U8, "xy", 2}};
    assert_int_equal(fr_gguf_writer_set_arr_arr(w, "nest", subs, 2, &err), FR_OK);
    float data[8] = {0};
    uint64_t ne1[1] = {3}, ne2[2] = {4, 2};
    assert_int_equal(fr_gguf_writer_add_tensor(w, "a", FR_TYPE_F32, 1, ne1, data, true, &err), FR_OK);
    /* The last tensor fills a whole alignment unit, so the file has no trailing padding. */
    assert_int_equal(fr_gguf_writer_add_tensor(w, "b", FR_TYPE_F32, 2, ne2, data, true, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_write(w, path, 32, &err), FR_OK);
    fr_gguf_writer_free(w);

    size_t size;
    uint8_t *full = read_file(path, &size);
    unlink(path);
    fr_gguf *g = NULL;
    assert_int_equal(fr_gguf_open_buffer(full, size, "t.gguf", &g, &err), FR_OK);
    fr_gguf_close(g);
    for (size_t n = 0; n < size; n++) {
        /* A fresh allocation of exactly n bytes so ASan catches any over-read. */
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, full, n);
        g = (fr_gguf *)0x1;
        fr_error e = {0};
        fr_status s = fr_gguf_open_buffer(p, n, "t.gguf", &g, &e);
        if (s == FR_OK) print_error("truncation at %zu of %zu accepted\n", n, size);
        assert_int_not_equal(s, FR_OK);
        assert_null(g);
        assert_non_null(strstr(e.msg, "t.gguf"));
        free(p);
    }
    free(full);
}

static void test_bad_header(void **state) {
    (void)state;
    bytes b = {0};
    b_put(&b, "GGUG", 4);
    b_u32(&b, 3);
    b_u64(&b, 0);
    b_u64(&b, 0);
    expect_fail(&b, FR_E_FORMAT, "magic");
    b.len = 0;
    b_header(&b, 1, 0, 0);
    expect_fail(&b, FR_E_UNSUPPORTED, "version 1");
    b.len = 0;
    b_header(&b, 4, 0, 0);
    expect_fail(&b, FR_E_UNSUPPORTED, "version 4");
    b.len = 0;
    b_header(&b, 0x03000000u, 0, 0);
    expect_fail(&b, FR_E_UNSUPPORTED, "big-endian");
    b.len = 0;
    b_header(&b, 2, 0, 0);
    expect_ok(&b);
    b.len = 0;
    b_header(&b, 3, 0, 0);
    expect_ok(&b);
    /* Huge counts fail at once, without allocating. */
    b.len = 0;
    b_header(&b, 3, 0, 1ull << 63);
    expect_fail(&b, FR_E_FORMAT, "metadata keys");
    b.len = 0;
    b_header(&b, 3, UINT64_MAX, 0);
    expect_fail(&b, FR_E_FORMAT, "tensors");
    b.len = 0;
    b_header(&b, 3, 0, 3);
    b_str(&b, "k");
    b_u32(&b, FR_GGUF_U8);
    b_zeros(&b, 20);
    expect_fail(&b, FR_E_FORMAT, NULL);
    free(b.p);
}

static void test_bad_metadata(void **state) {
    (void)state;
    bytes b = {0};
    /* String length past the end. */
    b_header(&b, 3, 0, 1);
    b_u64(&b, 1000);
    b_put(&b, "key", 3);
    b_zeros(&b, 16);
    expect_fail(&b, FR_E_FORMAT, "past the end");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, FR_GGUF_STRING);
    b_u64(&b, UINT64_MAX);
    expect_fail(&b, FR_E_FORMAT, "past the end");
    /* Invalid value type. */
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, 13);
    b_u64(&b, 0);
    expect_fail(&b, FR_E_FORMAT, "invalid value type 13");
    /* Huge array counts of each element kind. */
    uint32_t kinds[3] = {FR_GGUF_U64, FR_GGUF_STRING, FR_GGUF_ARRAY};
    for (int i = 0; i < 3; i++) {
        b.len = 0;
        b_header(&b, 3, 0, 1);
        b_str(&b, "arr");
        b_u32(&b, FR_GGUF_ARRAY);
        b_u32(&b, kinds[i]);
        b_u64(&b, 1ull << 62);
        b_zeros(&b, 64);
        expect_fail(&b, FR_E_FORMAT, "arr");
    }
    /* Invalid array element type. */
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "arr");
    b_u32(&b, FR_GGUF_ARRAY);
    b_u32(&b, 99);
    b_u64(&b, 0);
    expect_fail(&b, FR_E_FORMAT, "element type 99");
    /* Arrays nested too deep. */
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "deep");
    b_u32(&b, FR_GGUF_ARRAY);
    for (int i = 0; i < 20; i++) {
        b_u32(&b, FR_GGUF_ARRAY);
        b_u64(&b, 1);
    }
    b_u32(&b, FR_GGUF_U8);
    b_u64(&b, 0);
    expect_fail(&b, FR_E_FORMAT, "nested");
    /* Duplicate keys. */
    b.len = 0;
    b_header(&b, 3, 0, 3);
    b_str(&b, "x");
    b_u32(&b, FR_GGUF_U8);
    b_zeros(&b, 1);
    b_str(&b, "y");
    b_u32(&b, FR_GGUF_U8);
    b_zeros(&b, 1);
    b_str(&b, "x");
    b_u32(&b, FR_GGUF_U16);
    b_zeros(&b, 2);
    expect_fail(&b, FR_E_FORMAT, "duplicate metadata key 'x'");
    /* Alignment: zero, not a power of two, wrong type. */
    uint32_t bad_align[2] = {0, 48};
    for (int i = 0; i < 2; i++) {
        b.len = 0;
        b_header(&b, 3, 0, 1);
        b_str(&b, "general.alignment");
        b_u32(&b, FR_GGUF_U32);
        b_u32(&b, bad_align[i]);
        expect_fail(&b, FR_E_FORMAT, "power of two");
    }
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, FR_GGUF_STRING);
    b_str(&b, "32");
    expect_fail(&b, FR_E_FORMAT, "general.alignment");
    free(b.p);
}

static void test_bad_tensors(void **state) {
    (void)state;
    bytes b = {0};
    uint64_t ne8[1] = {8};
    one_tensor_file(&b, 1, ne8, FR_TYPE_F32, 0, 32);
    expect_ok(&b);
    /* Misaligned offset. */
    b.len = 0;
    one_tensor_file(&b, 1, ne8, FR_TYPE_F32, 4, 64);
    expect_fail(&b, FR_E_FORMAT, "alignment");
    /* Past the end (by one byte, and by a huge offset). */
    b.len = 0;
    one_tensor_file(&b, 1, ne8, FR_TYPE_F32, 0, 31);
    expect_fail(&b, FR_E_FORMAT, "past the end");
    b.len = 0;
    one_tensor_file(&b, 1, ne8, FR_TYPE_F32, UINT64_MAX - 31, 32);
    expect_fail(&b, FR_E_FORMAT, "past the end");
    /* Unknown type: unsupported, naming the tensor and the type id. */
    b.len = 0;
    one_tensor_file(&b, 1, ne8, 3, 0, 64);
    expect_fail(&b, FR_E_UNSUPPORTED, "'t' has unsupported type 3");
    b.len = 0;
    one_tensor_file(&b, 1, ne8, 0x7fffffffu, 0, 64);
    expect_fail(&b, FR_E_UNSUPPORTED, "2147483647");
    /* n_dims 0 and 5, zero dims, overflowing element counts. */
    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    b.len = 0;
    one_tensor_file(&b, 0, ne5, FR_TYPE_F32, 0, 64);
    expect_fail(&b, FR_E_FORMAT, "0 dimensions");
    b.len = 0;
    one_tensor_file(&b, 5, ne5, FR_TYPE_F32, 0, 64);
    expect_fail(&b, FR_E_FORMAT, "5 dimensions");
    uint64_t ne0[2] = {8, 0};
    b.len = 0;
    one_tensor_file(&b, 2, ne0, FR_TYPE_F32, 0, 64);
    expect_fail(&b, FR_E_FORMAT, "dimension 1 is 0");
    uint64_t neov[3] = {1ull << 32, 1ull << 32, 4};
    b.len = 0;
    one_tensor_file(&b, 3, neov, FR_TYPE_F32, 0, 64);
    expect_fail(&b, FR_E_FORMAT, "overflow");
    uint64_t nebig[2] = {1ull << 40, 1ull << 22};
    b.len = 0;
    one_tensor_file(&b, 2, nebig, FR_TYPE_F32, 0, 64);
    expect_fail(&b, FR_E_FORMAT, "overflow");
    /* Row length not a multiple of the block. */
    uint64_t ne33[1] = {33};
    b.len = 0;
    one_tensor_file(&b, 1, ne33, FR_TYPE_Q8_0, 0, 128);
    expect_fail(&b, FR_E_FORMAT, "block size");
    /* Overlapping and duplicate tensors (listed out of offset order). */
    b.len = 0;
    b_header(&b, 3, 3, 0);
    b_tensor(&b, "c", 1, ne8, FR_TYPE_F32, 64);
    b_tensor(&b, "a", 1, ne8, FR_TYPE_F32, 0);
    b_tensor(&b, "b", 1, ne8, FR_TYPE_F32, 32);
    b_pad(&b, 32);
    b_zeros(&b, 96);
    expect_ok(&b);
    b.len = 0;
    uint64_t ne9[1] = {9};
    b_header(&b, 3, 3, 0);
    b_tensor(&b, "c", 1, ne8, FR_TYPE_F32, 64);
    b_tensor(&b, "a", 1, ne9, FR_TYPE_F32, 0);
    b_tensor(&b, "b", 1, ne8, FR_TYPE_F32, 32);
    b_pad(&b, 32);
    b_zeros(&b, 96);
    expect_fail(&b, FR_E_FORMAT, "overlap");
    b.len = 0;
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "a", 1, ne8, FR_TYPE_F32, 0);
    b_tensor(&b, "a", 1, ne8, FR_TYPE_F32, 32);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    expect_fail(&b, FR_E_FORMAT, "duplicate tensor name 'a'");
    /* Tensor data with no padding room at all. */
    b.len = 0;
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 1, ne8, FR_TYPE_F32, 0);
    expect_fail(&b, FR_E_FORMAT, NULL);
    free(b.p);
}

static void test_getters(void **state) {
    (void)state;
    bytes b = {0};
    b_header(&b, 3, 0, 5);
    b_str(&b, "neg");
    b_u32(&b, FR_GGUF_I32);
    int32_t m1 = -1;
    b_put(&b, &m1, 4);
    b_str(&b, "name");
    b_u32(&b, FR_GGUF_STRING);
    b_str(&b, "frugal");
    b_str(&b, "flag");
    b_u32(&b, FR_GGUF_BOOL);
    b_zeros(&b, 1);
    b_str(&b, "big");
    b_u32(&b, FR_GGUF_U64);
    b_u64(&b, 1ull << 40);
    b_str(&b, "small");
    b_u32(&b, FR_GGUF_U8);
    uint8_t seven = 7;
    b_put(&b, &seven, 1);
    fr_gguf *g = NULL;
    fr_error err = {0};
    assert_int_equal(fr_gguf_open_buffer(b.p, b.len, "get.gguf", &g, &err), FR_OK);
    uint32_t u;
    int64_t i;
    float f;
    bool fl;
    fr_gguf_str s;
    fr_gguf_arr a;
    assert_int_equal(fr_gguf_get_u32(g, "name", &u, &err), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "get.gguf"));
    assert_non_null(strstr(err.msg, "'name'"));
    assert_non_null(strstr(err.msg, "string"));
    assert_non_null(strstr(err.msg, "u32"));
    assert_int_equal(fr_gguf_get_str(g, "neg", &s, &err), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "'neg' has type i32, expected string"));
    assert_int_equal(fr_gguf_get_f32(g, "neg", &f, &err), FR_E_FORMAT);
    assert_int_equal(fr_gguf_get_bool(g, "neg", &fl, &err), FR_E_FORMAT);
    assert_int_equal(fr_gguf_get_arr(g, "name", &a, &err), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "expected array"));
    assert_int_equal(fr_gguf_kv_arr(g, 0, &a, &err), FR_E_FORMAT);
    assert_int_equal(fr_gguf_get_i64(g, "flag", &i, &err), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "bool"));
    /* Integers convert when the value fits. */
    assert_int_equal(fr_gguf_get_u32(g, "neg", &u, &err), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "does not fit"));
    assert_int_equal(fr_gguf_get_u32(g, "big", &u, &err), FR_E_FORMAT);
    assert_int_equal(fr_gguf_get_i64(g, "big", &i, &err), FR_OK);
    assert_int_equal(i, 1ll << 40);
    assert_int_equal(fr_gguf_get_u32(g, "small", &u, &err), FR_OK);
    assert_int_equal(u, 7);
    assert_int_equal(fr_gguf_get_i64(g, "neg", &i, &err), FR_OK);
    assert_int_equal(i, -1);
    assert_int_equal(fr_gguf_get_bool(g, "flag", &fl, &err), FR_OK);
    assert_false(fl);
    /* Missing key. */
    assert_int_equal(fr_gguf_get_u32(g, "nothere", &u, &err), FR_E_FORMAT);
    assert_non_null(strstr(err.msg, "missing key 'nothere'"));
    assert_non_null(strstr(err.msg, "get.gguf"));
    assert_int_equal(fr_gguf_find_key(g, "nothere"), -1);
    assert_int_equal(fr_gguf_find_key(g, "nam"), -1);
    assert_int_equal(fr_gguf_find_key(g, "small"), 4);
    char buf[64];
    fr_gguf_kv_format(g, 1, buf, sizeof buf);
    assert_string_equal(buf, "\"frugal\"");
    fr_gguf_kv_format(g, 0, buf, 3);
    assert_string_equal(buf, "-1");
    fr_gguf_kv_format(g, 2, buf, sizeof buf);
    assert_string_equal(buf, "false");
    fr_gguf_close(g);
    free(b.p);

    /* Files that are not there or not GGUF. */
    assert_int_equal(fr_gguf_open("/nonexistent/x.gguf", &g, &err), FR_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.gguf"));
    assert_null(g);
    assert_int_not_equal(fr_gguf_open("/dev/null", &g, &err), FR_OK);
    assert_non_null(strstr(err.msg, "/dev/null"));
}

/* ---- real files ------------------------------------------------------------------------ */

static int assets_present(void) {
    if (access(FR_ASSETS "/llm/vocab/ggml-vocab-llama-spm.gguf", R_OK) != 0) {
        printf("SKIPPED: %s not found\n", FR_ASSETS "/llm/vocab");
        return 0;
    }
    return 1;
}

static void check_vocab_file(const char *path, const char *model, uint64_t n_tokens,
                             const char *tok0) {
    fr_gguf *g = NULL;
    fr_error err = {0};
    fr_status s = fr_gguf_open(path, &g, &err);
    if (s) print_error("%s\n", err.msg);
    assert_int_equal(s, FR_OK);
    fr_gguf_str str;
    assert_int_equal(fr_gguf_get_str(g, "tokenizer.ggml.model", &str, &err), FR_OK);
    assert_true(fr_gguf_str_eq(str, model));
    fr_gguf_arr a;
    assert_int_equal(fr_gguf_get_arr(g, "tokenizer.ggml.tokens", &a, &err), FR_OK);
    assert_int_equal(a.type, FR_GGUF_STRING);
    assert_int_equal(a.n, n_tokens);
    assert_int_equal(fr_gguf_arr_str(&a, 0, &str, &err), FR_OK);
    assert_true(fr_gguf_str_eq(str, tok0));
    /* The last token is reachable and every key formats. */
    assert_int_equal(fr_gguf_arr_str(&a, n_tokens - 1, &str, &err), FR_OK);
    char buf[512];
    for (int64_t i = 0; i < fr_gguf_n_kv(g); i++) {
        fr_gguf_kv_format(g, i, buf, sizeof buf);
        assert_true(strlen(buf) > 0);
    }
    assert_int_equal(fr_gguf_n_tensors(g), 0);
    fr_gguf_close(g);
}

static void test_real_files(void **state) {
    (void)state;
    if (!assets_present()) skip();
    check_vocab_file(FR_ASSETS "/llm/vocab/ggml-vocab-llama-spm.gguf", "llama", 32000, "<unk>");
    check_vocab_file(FR_ASSETS "/llm/vocab/ggml-vocab-gpt-2.gguf", "gpt2", 50257, "!");

    fr_gguf *g = NULL;
    fr_error err = {0};
    assert_int_equal(fr_gguf_open(FR_ASSETS "/llm/vocab/ggml-vocab-llama-spm.gguf", &g, &err), FR_OK);
    uint32_t u;
    assert_int_equal(fr_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u, &err), FR_OK);
    assert_int_equal(u, 1);
    assert_int_equal(fr_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u, &err), FR_OK);
    assert_int_equal(u, 2);
    fr_gguf_arr a;
    assert_int_equal(fr_gguf_get_arr(g, "tokenizer.ggml.scores", &a, &err), FR_OK);
    assert_int_equal(a.type, FR_GGUF_F32);
    assert_int_equal(a.n, 32000);
    assert_int_equal(fr_gguf_get_arr(g, "tokenizer.ggml.token_type", &a, &err), FR_OK);
    assert_int_equal(a.type, FR_GGUF_I32);
    assert_int_equal(fr_gguf_arr_i64(&a, 0), 2); /* <unk> */
    assert_int_equal(fr_gguf_arr_i64(&a, 1), 3); /* <s> */
    assert_int_equal(fr_gguf_arr_i64(&a, 3), 6); /* <0x00> */
    fr_gguf_str s;
    assert_int_equal(fr_gguf_get_str(g, "general.architecture", &s, &err), FR_OK);
    assert_true(fr_gguf_str_eq(s, "llama"));
    fr_gguf_close(g);

    /* The gpt-2 vocabulary has its merges as a string array. */
    assert_int_equal(fr_gguf_open(FR_ASSETS "/llm/vocab/ggml-vocab-gpt-2.gguf", &g, &err), FR_OK);
    assert_int_equal(fr_gguf_get_arr(g, "tokenizer.ggml.merges", &a, &err), FR_OK);
    assert_int_equal(a.type, FR_GGUF_STRING);
    assert_int_equal(a.n, 50000);
    assert_int_equal(fr_gguf_arr_str(&a, 0, &s, &err), FR_OK);
    assert_true(fr_gguf_str_eq(s, "\xc4\xa0 t"));
    fr_gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_real_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
