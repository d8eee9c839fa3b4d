/* Helpers of the TREC tests: a small deterministic RNG, buffers, and the reader of the
 * case file written by tools/py/trec.py gen-tests. */
#ifndef FR_TESTS_REUSE_TREC_TESTUTIL_H
#define FR_TESTS_REUSE_TREC_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reuse/trec.h"

/* ---- RNG (xorshift64*) ---------------------------------------------------------------- */

typedef struct tr_rng {
    uint64_t s;
} tr_rng;

static inline uint32_t tr_u32(tr_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 2685821657736338717ull) >> 32);
}

/* uniform in [lo, hi] */
static inline int tr_int(tr_rng *r, int lo, int hi) {
    return lo + (int)(tr_u32(r) % (uint32_t)(hi - lo + 1));
}

/* roughly N(0, 1) (sum of uniforms) */
static inline float tr_gauss(tr_rng *r) {
    float s = 0.0f;
    for (int i = 0; i < 4; i++) s += (float)tr_u32(r) / 4294967296.0f;
    return (s - 2.0f) * 1.7320508f;
}

/* 64-byte aligned scratch (freed with free) */
static inline void *tr_scratch(size_t bytes) {
    void *p = NULL;
    size_t n = (bytes + 63) / 64 * 64;
    if (n == 0) n = 64;
    if (posix_memalign(&p, 64, n) != 0) fail_msg("out of memory");
    memset(p, 0xA5, n); /* garbage: kernels must not rely on zeroed scratch */
    return p;
}

/* ---- random data ---------------------------------------------------------------------- */

/* n Gaussian floats times scale (freed with free) */
static inline float *rand_f32(tr_rng *r, size_t n, float scale) {
    float *v = malloc(n * sizeof *v + 4);
    for (size_t i = 0; i < n; i++) v[i] = tr_gauss(r) * scale;
    return v;
}

/* n int8 values uniform in [lo, hi] (freed with free) */
static inline int8_t *rand_s8(tr_rng *r, size_t n, int lo, int hi) {
    int8_t *v = malloc(n + 1);
    for (size_t i = 0; i < n; i++) v[i] = (int8_t)tr_int(r, lo, hi);
    return v;
}

/* int8 requantisation with random per-channel scales (out_c <= 80). */
typedef struct tr_q {
    fr_cnn_requant q;
    int32_t mult[80], shift[80];
} tr_q;

/* The float fast path with the filter given t-major (params.filter_t): its scratch is at
 * least the transposition's K * out_c floats smaller than without (sb), and its output is
 * bit-identical to want (ny floats). */
static inline void tr_check_filter_t_f32(fr_isa isa, const fr_trec_params *p,
                                         const fr_cnn_geom *g, fr_cnn_range_f32 act,
                                         const float *x, const float *w, const float *bias,
                                         const float *want, size_t ny, size_t sb) {
    const int K = g->k_h * g->k_w * g->in_c;
    float *ft = malloc((size_t)K * g->out_c * sizeof *ft);
    fr_trec_filter_t_f32(w, K, g->out_c, ft);
    fr_trec_params pt = *p;
    pt.filter_t = ft;
    const size_t sbt = fr_trec_conv_f32_scratch_bytes(&pt, g);
    assert_true(sbt + (size_t)K * g->out_c * sizeof *ft <= sb + 64);
    void *scrt = tr_scratch(sbt);
    float *y = malloc(ny * sizeof *y);
    memset(y, 0, ny * sizeof *y);
    fr_trec_conv_f32(isa, &pt, g, act, x, w, bias, y, scrt, NULL);
    assert_memory_equal(want, y, ny * sizeof *y);
    free(ft), free(scrt), free(y);
}

static inline void random_requant(tr_rng *r, tr_q *t, int out_c) {
    for (int c = 0; c < out_c; c++) {
        int sh;
        fr_cnn_quantize_multiplier(0.0005 + 0.004 * (double)tr_int(r, 0, 1000) / 1000.0,
                                   &t->mult[c], &sh);
        t->shift[c] = sh;
    }
    t->q.input_zp = tr_int(r, -30, 30);
    t->q.output_zp = tr_int(r, -10, 10);
    t->q.act_min = tr_int(r, 0, 1) ? t->q.output_zp : -128;
    t->q.act_max = 127;
    t->q.mult = t->mult;
    t->q.shift = t->shift;
    t->q.per_channel = 1;
}

/* ---- case file -------------------------------------------------------------------------- */

#define TR_MAX_ARRAYS 16

typedef struct tr_array {
    char name[17];
    char type;
    uint32_t n;
    void *data;
} tr_array;

typedef struct tr_case {
    int n;
    tr_array a[TR_MAX_ARRAYS];
} tr_case;

typedef struct tr_file {
    FILE *f;
    uint32_t n_cases;
} tr_file;

static inline void tr_open(tr_file *tf, const char *path) {
    tf->f = fopen(path, "rb");
    if (!tf->f) fail_msg("cannot open %s", path);
    char magic[8];
    if (fread(magic, 1, 8, tf->f) != 8 || memcmp(magic, "TRECTST1", 8) != 0 ||
        fread(&tf->n_cases, 4, 1, tf->f) != 1)
        fail_msg("%s: not a TREC case file", path);
}

static inline void tr_case_free(tr_case *c) {
    for (int i = 0; i < c->n; i++) free(c->a[i].data);
    memset(c, 0, sizeof *c);
}

/* Reads the next case (the file is little-endian, as every host frugal tests on). */
static inline void tr_read_case(tr_file *tf, tr_case *c) {
    memset(c, 0, sizeof *c);
    uint32_t n;
    if (fread(&n, 4, 1, tf->f) != 1 || n > TR_MAX_ARRAYS) fail_msg("case file truncated");
    for (uint32_t i = 0; i < n; i++) {
        tr_array *a = &c->a[i];
        unsigned char hdr[24];
        if (fread(hdr, 1, 24, tf->f) != 24) fail_msg("case file truncated");
        memcpy(a->name, hdr, 16);
        a->name[16] = 0;
        a->type = (char)hdr[16];
        memcpy(&a->n, hdr + 20, 4);
        size_t es = a->type == 'b' ? 1 : a->type == 'h' ? 2 : 4;
        a->data = malloc(es * a->n + 1);
        if (!a->data || fread(a->data, es, a->n, tf->f) != a->n) fail_msg("case file truncated");
        c->n = (int)i + 1;
    }
}

/* The array `name` of type `type`, or NULL when the case has none. */
static inline tr_array *tr_find(tr_case *c, const char *name, char type) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->a[i].name, name) == 0) {
            if (c->a[i].type != type) fail_msg("array %s has type %c", name, c->a[i].type);
            return &c->a[i];
        }
    return NULL;
}

static inline tr_array *tr_get(tr_case *c, const char *name, char type) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->a[i].name, name) == 0) {
            if (c->a[i].type != type) fail_msg("array %s has type %c", name, c->a[i].type);
            return &c->a[i];
        }
    fail_msg("case has no array %s", name);
    return NULL;
}

#endif
