/* Test helpers for the CNN operator tests: run the NumPy reference generator
 * (tools/py/tflite_ref_ops.py) and read its case files.
 *
 * Case file: "case OP" ... "end"; one array per line "NAME i|f|d COUNT v...". */
#ifndef FR_TESTS_CNN_OPS_TESTUTIL_H
#define FR_TESTS_CNN_OPS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/ops.h"
#include "core/kernels.h"

#define TC_MAX_ARRAYS 32

typedef struct tc_array {
    char name[32];
    char type; /* 'i', 'f', 'd' */
    size_t n;
    int64_t *iv;
    float *fv;
    double *dv;
} tc_array;

typedef struct tc_case {
    char op[32];
    int n;
    tc_array a[TC_MAX_ARRAYS];
} tc_case;

typedef struct tc_file {
    FILE *f;
} tc_file;

/* Generates `count` cases of `op` with `seed` and opens the file. */
static inline void tc_generate(tc_file *tf, const char *op, int seed, int count) {
    char path[1024], cmd[2048];
    snprintf(path, sizeof path, "%s/cnnops_case_%s_%d.txt", FR_BINARY_DIR, op, seed);
    snprintf(cmd, sizeof cmd, "%s %s/tools/py/tflite_ref_ops.py gen %s --seed %d --count %d --out %s",
             FR_PYTHON, FR_SOURCE_DIR, op, seed, count, path);
    int rc = system(cmd);
    if (rc != 0) fail_msg("generator failed (%d): %s", rc, cmd);
    tf->f = fopen(path, "r");
    if (!tf->f) fail_msg("cannot open %s", path);
}

static inline void tc_free(tc_case *c) {
    for (int i = 0; i < c->n; i++) {
        free(c->a[i].iv);
        free(c->a[i].fv);
        free(c->a[i].dv);
    }
    memset(c, 0, sizeof *c);
}

/* Reads the next case; returns 0 at end of file. */
static inline int tc_next(tc_file *tf, tc_case *c) {
    char word[64];
    memset(c, 0, sizeof *c);
    if (fscanf(tf->f, "%63s", word) != 1) {
        fclose(tf->f);
        tf->f = NULL;
        return 0;
    }
    assert_string_equal(word, "case");
    assert_int_equal(fscanf(tf->f, "%31s", c->op), 1);
    for (;;) {
        assert_int_equal(fscanf(tf->f, "%63s", word), 1);
        if (strcmp(word, "end") == 0) break;
        assert_true(c->n < TC_MAX_ARRAYS);
        tc_array *a = &c->a[c->n++];
        snprintf(a->name, sizeof a->name, "%.31s", word);
        char type[8];
        assert_int_equal(fscanf(tf->f, "%7s %zu", type, &a->n), 2);
        a->type = type[0];
        size_t alloc = a->n ? a->n : 1;
        if (a->type == 'i') {
            a->iv = malloc(alloc * sizeof *a->iv);
            for (size_t k = 0; k < a->n; k++) {
                long long v;
                assert_int_equal(fscanf(tf->f, "%lld", &v), 1);
                a->iv[k] = v;
            }
        } else if (a->type == 'f') {
            a->fv = malloc(alloc * sizeof *a->fv);
            for (size_t k = 0; k < a->n; k++) {
                char tok[64];
                assert_int_equal(fscanf(tf->f, "%63s", tok), 1);
                a->fv[k] = strtof(tok, NULL);
            }
        } else {
            a->dv = malloc(alloc * sizeof *a->dv);
            for (size_t k = 0; k < a->n; k++) {
                char tok[64];
                assert_int_equal(fscanf(tf->f, "%63s", tok), 1);
                a->dv[k] = strtod(tok, NULL);
            }
        }
    }
    return 1;
}

static inline tc_array *tc_get(tc_case *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->a[i].name, name) == 0) return &c->a[i];
    return NULL;
}

static inline tc_array *tc_need(tc_case *c, const char *name) {
    tc_array *a = tc_get(c, name);
    if (!a) fail_msg("case %s: missing array %s", c->op, name);
    return a;
}

/* Copies an int array into a freshly allocated int8 / int32 buffer. */
static inline int8_t *tc_i8(tc_case *c, const char *name) {
    tc_array *a = tc_need(c, name);
    int8_t *p = malloc(a->n ? a->n : 1);
    for (size_t k = 0; k < a->n; k++) p[k] = (int8_t)a->iv[k];
    return p;
}

static inline int32_t *tc_i32(tc_case *c, const char *name) {
    tc_array *a = tc_get(c, name);
    if (!a) return NULL;
    int32_t *p = malloc((a->n ? a->n : 1) * sizeof *p);
    for (size_t k = 0; k < a->n; k++) p[k] = (int32_t)a->iv[k];
    return p;
}

static inline const float *tc_f(tc_case *c, const char *name) {
    tc_array *a = tc_get(c, name);
    return a ? a->fv : NULL;
}

/* Fills a geometry from the "geom" array (order of GEOM_KEYS in the generator). */
static inline void tc_geom(tc_case *c, fr_cnn_geom *g, int *padding) {
    tc_array *a = tc_need(c, "geom");
    assert_int_equal(a->n, 17);
    const int64_t *v = a->iv;
    g->batch = (int)v[0];
    g->in_h = (int)v[1];
    g->in_w = (int)v[2];
    g->in_c = (int)v[3];
    g->out_h = (int)v[4];
    g->out_w = (int)v[5];
    g->out_c = (int)v[6];
    g->k_h = (int)v[7];
    g->k_w = (int)v[8];
    g->stride_h = (int)v[9];
    g->stride_w = (int)v[10];
    g->dil_h = (int)v[11];
    g->dil_w = (int)v[12];
    g->pad_top = (int)v[13];
    g->pad_left = (int)v[14];
    g->depth_mult = (int)v[15];
    *padding = (int)v[16];
}

static inline void tc_expect_i8(const tc_case *c, const char *what, const int8_t *got,
                                const int64_t *want, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (got[k] != want[k])
            fail_msg("%s %s: element %zu of %zu: got %d, want %d", c->op, what, k, n,
                     (int)got[k], (int)want[k]);
}

static inline void tc_expect_f32(const tc_case *c, const char *what, const float *got,
                                 const float *want, size_t n, float rel, float abs_tol) {
    for (size_t k = 0; k < n; k++) {
        float d = fabsf(got[k] - want[k]);
        float tol = abs_tol + rel * fabsf(want[k]);
        if (!(d <= tol))
            fail_msg("%s %s: element %zu of %zu: got %.9g, want %.9g", c->op, what, k, n,
                     (double)got[k], (double)want[k]);
    }
}

/* 64-byte aligned scratch (aligned_alloc needs a multiple of the alignment). */
static inline void *tc_scratch(size_t bytes) {
    size_t n = (bytes + 63) / 64 * 64;
    if (n == 0) n = 64;
    void *p = aligned_alloc(64, n);
    assert_non_null(p);
    memset(p, 0xA5, n);
    return p;
}

/* Every ISA to compare with the reference: scalar plus whatever this CPU supports. */
static inline int tc_isas(fr_isa out[FR_ISA_COUNT]) {
    int n = 0;
    for (int i = 0; i < FR_ISA_COUNT; i++)
        if (fr_isa_supported((fr_isa)i)) out[n++] = (fr_isa)i;
    return n;
}

#endif
