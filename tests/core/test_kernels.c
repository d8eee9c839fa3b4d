/* Matmul kernels: the scalar reference against an independent double-precision dot of the
 * dequantised operands, and every supported ISA (through fr_matmul, 1-3 threads) against the
 * reference on random data of awkward sizes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels.h"

static const fr_type k_types[] = {FR_TYPE_F32, FR_TYPE_F16, FR_TYPE_Q8_0, FR_TYPE_Q4_0};
static const int k_K[] = {32, 64, 96, 288, 768};
/* every activation-row path of the AVX-512 quantised kernels: 1 row, a pair, 1 to 3 groups of 4
 * (padded), a GEMM group of 16 (padded from 13), and groups of 16 followed by 2, 4 or 1 rows */
static const int k_N[] = {1, 2, 3, 4, 7, 8, 12, 13, 16, 18, 20, 33};
#define N_COUNT ((int)(sizeof k_N / sizeof k_N[0]))
static const int k_M[] = {1, 16, 77}; /* 77 = 9 x 8 + 4 + 1: every row tile size */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static float rng_float(uint64_t *s) { /* [-1, 1) */
    return (float)(rng_next(s) >> 40) / 8388608.0f - 1.0f;
}

static int is_quant(fr_type t) { return t == FR_TYPE_Q8_0 || t == FR_TYPE_Q4_0; }

/* Random weights straight from random bits: every quant value (q8 -128..127, all nibbles)
 * and a spread of scales. */
static void *make_weights(fr_type t, int M, int K, uint64_t *s) {
    size_t rb = fr_type_row_bytes(t, (size_t)K);
    uint8_t *w = malloc(rb * (size_t)M);
    assert_non_null(w);
    for (int m = 0; m < M; m++) {
        uint8_t *row = w + rb * (size_t)m;
        switch (t) {
        case FR_TYPE_F32:
            for (int k = 0; k < K; k++) ((float *)row)[k] = rng_float(s) * (1.0f + (float)(m % 3));
            break;
        case FR_TYPE_F16:
            for (int k = 0; k < K; k++) ((uint16_t *)row)[k] = fr_fp32_to_fp16(rng_float(s) * 4.0f);
            break;
        case FR_TYPE_Q8_0:
        case FR_TYPE_Q4_0: {
            size_t bb = fr_type_block_bytes(t);
            for (int b = 0; b < K / 32; b++) {
                uint8_t *blk = row + bb * (size_t)b;
                uint16_t d = fr_fp32_to_fp16(rng_float(s) * 0.02f);
                memcpy(blk, &d, 2);
                for (size_t j = 2; j < bb; j++) blk[j] = (uint8_t)rng_next(s);
            }
            break;
        }
        }
    }
    return w;
}

static float *make_x(int N, int K, uint64_t *s) {
    float *x = malloc(sizeof(float) * (size_t)N * (size_t)K);
    assert_non_null(x);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            float v = rng_float(s) * (float)(1 + n % 4);
            if ((k / 32 + n) % 5 == 0) v *= 1e-3f; /* blocks of very different scale */
            if ((k + n) % 97 == 0) v = 0.0f;
            x[(size_t)n * K + k] = v;
        }
    return x;
}

/* Dequantised weights and the activations as the quantised kernels see them. */
static float *dequant_w(fr_type t, const void *w, int M, int K) {
    float *o = malloc(sizeof(float) * (size_t)M * (size_t)K);
    assert_non_null(o);
    size_t rb = fr_type_row_bytes(t, (size_t)K);
    for (int m = 0; m < M; m++)
        fr_dequantize_row(t, (const uint8_t *)w + rb * (size_t)m, o + (size_t)m * K, (size_t)K);
    return o;
}

static float *x_as_seen(fr_type t, const float *x, int N, int K) {
    float *o = malloc(sizeof(float) * (size_t)N * (size_t)K);
    assert_non_null(o);
    if (!is_quant(t)) {
        memcpy(o, x, sizeof(float) * (size_t)N * (size_t)K);
        return o;
    }
    void *q = malloc(fr_type_row_bytes(FR_TYPE_Q8_0, (size_t)K));
    assert_non_null(q);
    for (int n = 0; n < N; n++) {
        fr_quantize_row(FR_TYPE_Q8_0, x + (size_t)n * K, q, (size_t)K);
        fr_dequantize_row(FR_TYPE_Q8_0, q, o + (size_t)n * K, (size_t)K);
    }
    free(q);
    return o;
}

typedef struct problem {
    fr_type t;
    int M, K, N;
    void *w;
    float *x, *wd, *xs;
    float *yref;
    double *mag; /* sum_k |wd * xs| per output, the scale of the rounding error */
    void *scratch;
} problem;

static void problem_init(problem *p, fr_type t, int M, int K, int N, uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    p->t = t;
    p->M = M;
    p->K = K;
    p->N = N;
    p->w = make_weights(t, M, K, &s);
    p->x = make_x(N, K, &s);
    p->wd = dequant_w(t, p->w, M, K);
    p->xs = x_as_seen(t, p->x, N, K);
    p->yref = malloc(sizeof(float) * (size_t)M * N);
    p->mag = malloc(sizeof(double) * (size_t)M * N);
    size_t sb = fr_matmul_scratch_bytes(t, K, N);
    p->scratch = malloc(sb ? sb : 1);
    assert_non_null(p->yref);
    assert_non_null(p->mag);
    assert_non_null(p->scratch);
    fr_matmul_ref(t, p->w, M, K, p->x, N, p->yref, p->scratch);
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double a = 0.0;
            for (int k = 0; k < K; k++) a += fabs((double)p->wd[(size_t)m * K + k] * p->xs[(size_t)n * K + k]);
            p->mag[(size_t)n * M + m] = a;
        }
}

static void problem_free(problem *p) {
    free(p->w);
    free(p->x);
    free(p->wd);
    free(p->xs);
    free(p->yref);
    free(p->mag);
    free(p->scratch);
}

/* The reference against double-precision dots computed here from dequantised data. */
static void test_ref_vs_double(void **state) {
    (void)state;
    for (int ti = 0; ti < 4; ti++)
        for (int ki = 0; ki < 5; ki++) {
            problem p;
            problem_init(&p, k_types[ti], 37, k_K[ki], 3, (uint64_t)(ti * 10 + ki));
            for (int n = 0; n < p.N; n++)
                for (int m = 0; m < p.M; m++) {
                    double exact = 0.0, truth = 0.0, xerr = 0.0;
                    for (int k = 0; k < p.K; k++) {
                        double w = p.wd[(size_t)m * p.K + k];
                        exact += w * p.xs[(size_t)n * p.K + k];
                        truth += w * p.x[(size_t)n * p.K + k];
                        xerr += fabs(w) * fabs((double)p.x[(size_t)n * p.K + k] - p.xs[(size_t)n * p.K + k]);
                    }
                    double y = p.yref[(size_t)n * p.M + m], mag = p.mag[(size_t)n * p.M + m];
                    /* exact arithmetic on what the kernel sees, up to float summation */
                    if (fabs(y - exact) > 1e-5 * mag + 1e-30)
                        fail_msg("%s K=%d n=%d m=%d: ref %.9g, double %.9g", fr_type_name(p.t), p.K, n, m, y,
                                 exact);
                    /* and near the unquantised activations, within the activation rounding */
                    assert_true(fabs(y - truth) <= xerr * 1.0001 + 1e-5 * mag + 1e-30);
                    if (!is_quant(p.t)) assert_true(xerr == 0.0);
                }
            problem_free(&p);
        }
}

static void check_close(const problem *p, const float *y, const char *what) {
    for (int n = 0; n < p->N; n++)
        for (int m = 0; m < p->M; m++) {
            size_t i = (size_t)n * p->M + m;
            if (!(fabs((double)y[i] - p->yref[i]) <= 1e-5 * p->mag[i] + 1e-30))
                fail_msg("%s %s M=%d K=%d N=%d: y[%d][%d] = %.9g, ref %.9g", what, fr_type_name(p->t), p->M,
                         p->K, p->N, n, m, y[i], p->yref[i]);
        }
}

/* Every supported ISA through fr_matmul against the reference, pools of 1, 2 and 3. */
static void test_isa_vs_ref(void **state) {
    (void)state;
    fr_pool *pools[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) assert_int_equal(fr_pool_create(i + 1, &pools[i], NULL), FR_OK);
    int checked = 0;
    for (int ti = 0; ti < 4; ti++)
        for (int ki = 0; ki < 5; ki++)
            for (int ni = 0; ni < N_COUNT; ni++)
                for (int mi = 0; mi < 3; mi++) {
                    problem p;
                    problem_init(&p, k_types[ti], k_M[mi], k_K[ki], k_N[ni],
                                 (uint64_t)(1000 + ti * 1000 + ki * 100 + ni * 10 + mi));
                    float *y = malloc(sizeof(float) * (size_t)p.M * p.N);
                    assert_non_null(y);
                    for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
                        if (!fr_isa_supported((fr_isa)isa)) continue;
                        for (int pi = 0; pi < 3; pi++) {
                            for (size_t i = 0; i < (size_t)p.M * p.N; i++) y[i] = NAN;
                            fr_matmul((fr_isa)isa, p.t, p.w, p.M, p.K, p.x, p.N, y, p.scratch, pools[pi]);
                            char what[64];
                            snprintf(what, sizeof what, "%s/%d threads", fr_isa_name((fr_isa)isa), pi + 1);
                            check_close(&p, y, what);
                            checked++;
                        }
                    }
                    free(y);
                    problem_free(&p);
                }
    for (int i = 0; i < 3; i++) fr_pool_free(pools[i]);
    printf("checked %d matmuls; best ISA here: %s\n", checked, fr_isa_name(fr_isa_best()));
}

/* f32/f16 take any K: vector tails (masked loads) for K not a multiple of the vector width. */
static void test_float_odd_k(void **state) {
    (void)state;
    static const int ks[] = {1, 7, 13, 45, 100};
    fr_pool *pool = NULL;
    assert_int_equal(fr_pool_create(2, &pool, NULL), FR_OK);
    for (int ti = 0; ti < 2; ti++)
        for (int ki = 0; ki < 5; ki++)
            for (int ni = 0; ni < N_COUNT; ni++) {
                problem p;
                problem_init(&p, k_types[ti], 21, ks[ki], k_N[ni], (uint64_t)(500 + ti * 100 + ki * 10 + ni));
                float *y = malloc(sizeof(float) * (size_t)p.M * p.N);
                assert_non_null(y);
                for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
                    if (!fr_isa_supported((fr_isa)isa)) continue;
                    fr_matmul((fr_isa)isa, p.t, p.w, p.M, p.K, p.x, p.N, y, p.scratch, pool);
                    check_close(&p, y, fr_isa_name((fr_isa)isa));
                }
                free(y);
                problem_free(&p);
            }
    fr_pool_free(pool);
}

/* fr_matmul_multi: three matrices sharing X give the same results as three matmuls. */
static void test_multi(void **state) {
    (void)state;
    static const int ms[3] = {5, 77, 16};
    static const int ns[3] = {1, 7, 33};
    fr_pool *pools[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) assert_int_equal(fr_pool_create(i + 1, &pools[i], NULL), FR_OK);
    for (int ti = 0; ti < 4; ti++)
        for (int ni = 0; ni < 3; ni++) {
            problem p[3];
            for (int j = 0; j < 3; j++) {
                problem_init(&p[j], k_types[ti], ms[j], 96, ns[ni], (uint64_t)(9000 + ti * 100 + ni * 10 + j));
                if (j > 0) { /* the same activations for every job */
                    memcpy(p[j].x, p[0].x, sizeof(float) * (size_t)p[j].N * 96);
                    memcpy(p[j].xs, p[0].xs, sizeof(float) * (size_t)p[j].N * 96);
                    fr_matmul_ref(p[j].t, p[j].w, p[j].M, 96, p[j].x, p[j].N, p[j].yref, p[j].scratch);
                    for (int n = 0; n < p[j].N; n++)
                        for (int m = 0; m < p[j].M; m++) {
                            double a = 0.0;
                            for (int k = 0; k < 96; k++)
                                a += fabs((double)p[j].wd[(size_t)m * 96 + k] * p[j].xs[(size_t)n * 96 + k]);
                            p[j].mag[(size_t)n * p[j].M + m] = a;
                        }
                }
            }
            for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
                if (!fr_isa_supported((fr_isa)isa)) continue;
                for (int pi = 0; pi < 3; pi++) {
                    fr_matmul_job jobs[3];
                    for (int j = 0; j < 3; j++) {
                        jobs[j].W = p[j].w;
                        jobs[j].M = p[j].M;
                        jobs[j].W_x16 = NULL;
                        jobs[j].Y = malloc(sizeof(float) * (size_t)p[j].M * p[j].N);
                        assert_non_null(jobs[j].Y);
                    }
                    fr_matmul_multi((fr_isa)isa, k_types[ti], jobs, 3, 96, p[0].x, ns[ni], p[0].scratch, pools[pi]);
                    for (int j = 0; j < 3; j++) {
                        check_close(&p[j], jobs[j].Y, "multi");
                        free(jobs[j].Y);
                    }
                }
            }
            for (int j = 0; j < 3; j++) problem_free(&p[j]);
        }
    for (int i = 0; i < 3; i++) fr_pool_free(pools[i]);
}

/* Row units are shared out at run time (each thread its own range, then the backs of the
 * others'), so which thread computes a row varies from call to call: with 1, 2, 5 and 40
 * threads (more threads than ranges share them) every row is written, and the results are the
 * same bits as with one thread, call after call. */
static void test_thread_sharing(void **state) {
    (void)state;
    static const int nthreads[] = {2, 5, 40};
    fr_pool *pools[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) assert_int_equal(fr_pool_create(nthreads[i], &pools[i], NULL), FR_OK);
    for (int ti = 0; ti < 4; ti++) {
        problem p;
        problem_init(&p, k_types[ti], 1000, 128, 3, (uint64_t)(4242 + ti));
        size_t ny = (size_t)p.M * p.N;
        float *y1 = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
        assert_non_null(y1);
        assert_non_null(y);
        fr_matmul(fr_isa_best(), p.t, p.w, p.M, p.K, p.x, p.N, y1, p.scratch, NULL);
        check_close(&p, y1, "1 thread");
        for (int pi = 0; pi < 3; pi++)
            for (int rep = 0; rep < 20; rep++) {
                for (size_t i = 0; i < ny; i++) y[i] = NAN;
                fr_matmul(fr_isa_best(), p.t, p.w, p.M, p.K, p.x, p.N, y, p.scratch, pools[pi]);
                if (memcmp(y, y1, sizeof(float) * ny) != 0)
                    fail_msg("%s: %d threads, call %d differs from 1 thread", fr_type_name(p.t), nthreads[pi], rep);
            }
        free(y1);
        free(y);
        problem_free(&p);
    }
    for (int i = 0; i < 3; i++) fr_pool_free(pools[i]);
}

/* A larger, more realistic shape on the best ISA and a NULL pool. */
static void test_best_isa_large(void **state) {
    (void)state;
    for (int ti = 0; ti < 4; ti++) {
        problem p;
        problem_init(&p, k_types[ti], 261, 2048, 37, (uint64_t)(77 + ti));
        float *y = malloc(sizeof(float) * (size_t)p.M * p.N);
        assert_non_null(y);
        fr_matmul(fr_isa_best(), p.t, p.w, p.M, p.K, p.x, p.N, y, p.scratch, NULL);
        check_close(&p, y, "best");
        free(y);
        problem_free(&p);
    }
}

/* A row's result must not depend on the batch it is computed in, bit for bit, on every ISA
 * and thread count: speculative decoding verifies drafted tokens in a batch and must agree
 * exactly with one-token decoding, and fr_decode promises chunking-independent logits.
 * Every batch size from 1 to 20 (and 41 at once) over 41 rows, so every row of every batch
 * size meets every tile path and every position in it; several shapes (M with every row-tile
 * remainder, K from 1 to 17 blocks). f32 batches of 18 rows or more take the AVX-512 SGEMM,
 * which promises less (the same bits for a row in any such batch, not those of a single row):
 * test_kernels_f32 checks that, so they are left out here. */
static void test_batch_invariance(void **state) {
    (void)state;
    static const int shapes[][2] = {{77, 256}, {13, 96}, {6, 544}, {33, 32}}; /* M, K */
    const int rows = 41;
    for (int ti = 0; ti < 4; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
                if (!fr_isa_supported((fr_isa)isa)) continue;
                problem p;
                problem_init(&p, k_types[ti], shapes[si][0], shapes[si][1], rows, (uint64_t)(900 + ti * 10 + si));
                const size_t ny = (size_t)p.M * p.N;
                float *all = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
                assert_non_null(all);
                assert_non_null(y);
                for (int n = 0; n < p.N; n++) /* each row alone */
                    fr_matmul((fr_isa)isa, p.t, p.w, p.M, p.K, p.x + (size_t)n * p.K, 1, all + (size_t)n * p.M,
                              p.scratch, NULL);
                for (int threads = 1; threads <= 2; threads++) {
                    fr_pool *pool = NULL;
                    assert_int_equal(fr_pool_create(threads, &pool, NULL), FR_OK);
                    for (int nb = 1; nb <= 21; nb++) {
                        const int batch = nb == 21 ? rows : nb;
                        if (p.t == FR_TYPE_F32 && batch > 17) continue;
                        for (size_t i = 0; i < ny; i++) y[i] = NAN;
                        for (int n0 = 0; n0 < p.N; n0 += batch) {
                            int n = p.N - n0 < batch ? p.N - n0 : batch;
                            fr_matmul((fr_isa)isa, p.t, p.w, p.M, p.K, p.x + (size_t)n0 * p.K, n, y + (size_t)n0 * p.M,
                                      p.scratch, pool);
                        }
                        if (memcmp(all, y, sizeof(float) * ny) != 0)
                            fail_msg("%s on %s, M=%d K=%d: batches of %d (%d threads) differ from one row at a time",
                                     fr_type_name(p.t), fr_isa_name((fr_isa)isa), p.M, p.K, batch, threads);
                    }
                    fr_pool_free(pool);
                }
                free(all);
                free(y);
                problem_free(&p);
            }
}

/* The Q8_0 x16 packed form: every row back bit for bit, padding rows zero. */
static void test_x16_roundtrip(void **state) {
    (void)state;
    static const int ms[] = {1, 15, 16, 17, 77};
    static const int ks[] = {32, 96, 768};
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            const int M = ms[mi], K = ks[ki], groups = (M + 15) / 16;
            uint64_t s = 4242 + mi * 10 + ki;
            void *w = make_weights(FR_TYPE_Q8_0, M, K, &s);
            size_t bytes = fr_q8x16_bytes(M, K), rb = fr_type_row_bytes(FR_TYPE_Q8_0, (size_t)K);
            assert_int_equal(bytes % 64, 0);
            assert_int_equal(bytes, (size_t)groups * fr_q8x16_group_bytes(K));
            assert_true(fr_q8x16_group_bytes(K) >= 16 * rb);
            uint8_t *p = aligned_alloc(64, bytes), *row = malloc(rb), *zero = calloc(1, rb);
            assert_non_null(p);
            assert_non_null(row);
            assert_non_null(zero);
            memset(p, 0x5a, bytes); /* every byte must be written */
            fr_q8x16_pack(w, M, K, p);
            for (int m = 0; m < groups * 16; m++) {
                fr_q8x16_unpack_row(p, K, m, row);
                assert_memory_equal(row, m < M ? (uint8_t *)w + (size_t)m * rb : zero, rb);
            }
            /* the padding after the scales of each group is zero */
            const size_t gb = fr_q8x16_group_bytes(K), sb = fr_q8x16_scale_bytes(K);
            assert_int_equal(gb, sb + (size_t)K / 32 * 512);
            assert_int_equal(sb % 64, 0);
            for (int g = 0; g < groups; g++)
                for (size_t i = (size_t)K / 32 * 32; i < sb; i++) assert_int_equal(p[(size_t)g * gb + i], 0);
            free(p);
            free(row);
            free(zero);
            free(w);
        }
}

/* The packed form through fr_matmul_multi: every batch size 1..40 against the reference, and bit
 * for bit equal to the unpacked Q8_0 weights on the same ISA one row at a time (on AVX-512 the
 * packed kernels, elsewhere the jobs' W), for 1 and 2 threads and for two jobs at once. */
static void test_x16_matmul(void **state) {
    (void)state;
    static const int shapes[][2] = {{77, 96}, {100, 768}, {17, 32}, {16, 288}}; /* M, K */
    const int rows = 40;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        problem p;
        problem_init(&p, FR_TYPE_Q8_0, shapes[si][0], shapes[si][1], rows, (uint64_t)(7100 + si));
        void *px = aligned_alloc(64, fr_q8x16_bytes(p.M, p.K));
        assert_non_null(px);
        fr_q8x16_pack(p.w, p.M, p.K, px);
        const size_t ny = (size_t)p.M * p.N;
        float *single = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
        assert_non_null(single);
        assert_non_null(y);
        assert_non_null(y2);
        for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
            if (!fr_isa_supported((fr_isa)isa)) continue;
            for (int n = 0; n < p.N; n++) /* unpacked, each row alone */
                fr_matmul((fr_isa)isa, p.t, p.w, p.M, p.K, p.x + (size_t)n * p.K, 1, single + (size_t)n * p.M,
                          p.scratch, NULL);
            check_close(&p, single, fr_isa_name((fr_isa)isa));
            for (int threads = 1; threads <= 2; threads++) {
                fr_pool *pool = NULL;
                assert_int_equal(fr_pool_create(threads, &pool, NULL), FR_OK);
                for (int n = 1; n <= rows; n++) {
                    for (size_t i = 0; i < ny; i++) y[i] = y2[i] = NAN;
                    fr_matmul_job jobs[2] = {{p.w, p.M, y, px}, {p.w, p.M, y2, px}};
                    fr_matmul_multi((fr_isa)isa, p.t, jobs, n % 3 == 0 ? 2 : 1, p.K, p.x, n, p.scratch, pool);
                    if (memcmp(single, y, sizeof(float) * (size_t)n * p.M) != 0 ||
                        (n % 3 == 0 && memcmp(single, y2, sizeof(float) * (size_t)n * p.M) != 0))
                        fail_msg("q8_0 x16 on %s, M=%d K=%d N=%d (%d threads) differs from unpacked rows",
                                 fr_isa_name((fr_isa)isa), p.M, p.K, n, threads);
                    for (size_t i = (size_t)n * p.M; i < ny; i++) /* nothing written past the batch */
                        assert_true(isnan(y[i]));
                }
                fr_pool_free(pool);
            }
        }
        free(single);
        free(y);
        free(y2);
        free(px);
        problem_free(&p);
    }
}

/* Activations with inf, NaN or values past the float range in some rows (a hostile model's
 * weights overflow): every ISA and batch shape runs them without undefined behaviour (the
 * sanitizer build aborts on any), and the other rows come out exactly as without them.
 * (Found by fuzz_model: a NaN block's quantised sum overflowed int32 when scaled.) */
static void test_nonfinite_rows(void **state) {
    (void)state;
    static const fr_type types[] = {FR_TYPE_Q8_0, FR_TYPE_Q4_0};
    static const int ns[] = {1, 2, 3, 4, 5, 9, 17};
    const float bad[3] = {INFINITY, NAN, -INFINITY};
    for (int ti = 0; ti < 2; ti++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            problem p;
            problem_init(&p, types[ti], 48, 96, ns[ni], (uint64_t)(9100 + ti * 100 + ni));
            const size_t ny = (size_t)p.M * p.N;
            float *clean = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
            float *x = malloc(sizeof(float) * (size_t)p.N * p.K);
            void *px = types[ti] == FR_TYPE_Q8_0 ? aligned_alloc(64, fr_q8x16_bytes(p.M, p.K)) : NULL;
            assert_non_null(clean);
            assert_non_null(y);
            assert_non_null(x);
            if (px) fr_q8x16_pack(p.w, p.M, p.K, px);
            memcpy(x, p.x, sizeof(float) * (size_t)p.N * p.K);
            for (int n = 0; n < p.N; n += 2) /* even rows: one bad value in a block, or all */
                for (int k = 0; k < p.K; k++)
                    if (n % 4 == 2 || k == 33) x[(size_t)n * p.K + k] = bad[(n + k) % 3];
            for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
                if (!fr_isa_supported((fr_isa)isa)) continue;
                for (int packed = 0; packed <= (px != NULL); packed++) {
                    fr_matmul_job job = {p.w, p.M, clean, packed ? px : NULL};
                    fr_matmul_multi((fr_isa)isa, p.t, &job, 1, p.K, p.x, p.N, p.scratch, NULL);
                    job.Y = y;
                    fr_matmul_multi((fr_isa)isa, p.t, &job, 1, p.K, x, p.N, p.scratch, NULL);
                    for (int n = 1; n < p.N; n += 2)
                        if (memcmp(clean + (size_t)n * p.M, y + (size_t)n * p.M, sizeof(float) * (size_t)p.M))
                            fail_msg("%s %s%s N=%d: row %d changed by non-finite values in other rows",
                                     fr_isa_name((fr_isa)isa), types[ti] == FR_TYPE_Q8_0 ? "q8_0" : "q4_0",
                                     packed ? " x16" : "", p.N, n);
                }
            }
            free(px);
            free(x);
            free(clean);
            free(y);
            problem_free(&p);
        }
}

static void test_isa_info(void **state) {
    (void)state;
    assert_true(fr_isa_supported(FR_ISA_SCALAR));
    assert_false(fr_isa_supported(FR_ISA_COUNT));
    assert_false(fr_isa_supported((fr_isa)-1));
    assert_true(fr_isa_supported(fr_isa_best()));
    assert_string_equal(fr_isa_name(FR_ISA_SCALAR), "scalar");
    assert_string_equal(fr_isa_name(FR_ISA_AVX2), "avx2");
    assert_string_equal(fr_isa_name(FR_ISA_AVX512), "avx512");
    assert_int_equal(fr_matmul_scratch_bytes(FR_TYPE_F32, 768, 4), 0);
    assert_true(fr_matmul_scratch_bytes(FR_TYPE_Q8_0, 768, 4) >= 4 * fr_type_row_bytes(FR_TYPE_Q8_0, 768));
    for (int isa = 0; isa < FR_ISA_COUNT; isa++)
        printf("isa %-6s %s\n", fr_isa_name((fr_isa)isa), fr_isa_supported((fr_isa)isa) ? "yes" : "no");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonfinite_rows),
        cmocka_unit_test(test_isa_info),
        cmocka_unit_test(test_ref_vs_double),
        cmocka_unit_test(test_isa_vs_ref),
        cmocka_unit_test(test_float_odd_k),
        cmocka_unit_test(test_multi),
        cmocka_unit_test(test_best_isa_large),
        cmocka_unit_test(test_thread_sharing),
        cmocka_unit_test(test_batch_invariance),
        cmocka_unit_test(test_x16_roundtrip),
        cmocka_unit_test(test_x16_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
