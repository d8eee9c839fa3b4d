/* f32 matmul: every ISA against a double-precision reference over the shapes that exercise the
 * small-batch tiles and the large-batch SGEMM (AVX-512, N >= 18): row tails of the 12-row
 * micro-tile, activation blocks of 32 with 1..16 and 17..31 valid rows, several packed blocks
 * and packing chunks, K tails, 1-3 threads. Plus the batch guarantees the speculative path
 * needs: batches of up to 17 rows give exactly the rows' single-row results, larger batches
 * give the same bits for a row whatever their size, and the thread count never matters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels.h"
#include "core/pool.h"

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_float(uint64_t *s) { /* [-1, 1) */
    return (float)(rng_next(s) >> 40) / 8388608.0f - 1.0f;
}

static float *rand_matrix(int rows, int cols, uint64_t *s) {
    float *a = malloc(sizeof(float) * (size_t)rows * (size_t)cols + 1);
    assert_non_null(a);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) /* rows of different scales, a few exact zeros */
            a[(size_t)i * cols + j] = (j % 11 == 5) ? 0.0f : rng_float(s) * (float)(1 + i % 5);
    return a;
}

/* Y against double dots: |y - ref| <= 1e-5 * sum|w*x| (+ a denormal-sized slack). */
static void check_against_double(const float *W, const float *X, const float *Y, int M, int K, int N,
                                 const char *what) {
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double p = (double)W[(size_t)m * K + k] * (double)X[(size_t)n * K + k];
                ref += p;
                mag += fabs(p);
            }
            double y = Y[(size_t)n * M + m];
            if (!(fabs(y - ref) <= 1e-5 * mag + 1e-30))
                fail_msg("%s: M %d K %d N %d: Y[%d][%d] = %.9g, reference %.9g (sum|wx| %g)", what, M, K, N, n,
                         m, y, ref, mag);
        }
}

static void test_f32_against_double(void **state) {
    (void)state;
    static const int Ks[] = {1, 7, 16, 45, 100, 768};
    static const int Ns[] = {1, 4, 9, 17, 18, 19, 31, 32, 33, 48, 49, 70};
    static const int Ms[] = {1, 5, 11, 12, 13, 24, 37, 77};
    uint64_t s = 12345;
    int done = 0;
    for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
        if (!fr_isa_supported((fr_isa)isa)) continue;
        for (int threads = 1; threads <= 3; threads++) {
            fr_pool *pool = NULL;
            assert_int_equal(fr_pool_create(threads, &pool, NULL), FR_OK);
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
                for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
                    for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
                        int K = Ks[ki], N = Ns[ni], M = Ms[mi];
                        if (K == 768 && (M > 13 || threads == 3)) continue; /* keep ASan fast */
                        float *W = rand_matrix(M, K, &s), *X = rand_matrix(N, K, &s);
                        float *Y = malloc(sizeof(float) * (size_t)M * N);
                        assert_non_null(Y);
                        fr_matmul((fr_isa)isa, FR_TYPE_F32, W, M, K, X, N, Y, NULL, pool);
                        check_against_double(W, X, Y, M, K, N, fr_isa_name((fr_isa)isa));
                        free(W);
                        free(X);
                        free(Y);
                        done++;
                    }
            fr_pool_free(pool);
        }
    }
    assert_true(done > 0);
}

/* Large K and N: several packing chunks (N = 300 rows of K = 1000) and one 32-row block per
 * chunk (K = 4000), an odd M split over 2 threads. */
static void test_f32_large(void **state) {
    (void)state;
    static const int shapes[][3] = {{300, 1000, 61}, {40, 4000, 29}};
    uint64_t s = 777;
    fr_pool *pool = NULL;
    assert_int_equal(fr_pool_create(2, &pool, NULL), FR_OK);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int N = shapes[i][0], K = shapes[i][1], M = shapes[i][2];
        float *W = rand_matrix(M, K, &s), *X = rand_matrix(N, K, &s);
        float *Y = malloc(sizeof(float) * (size_t)M * N);
        assert_non_null(Y);
        fr_matmul(fr_isa_best(), FR_TYPE_F32, W, M, K, X, N, Y, NULL, pool);
        check_against_double(W, X, Y, M, K, N, fr_isa_name(fr_isa_best()));
        free(W);
        free(X);
        free(Y);
    }
    fr_pool_free(pool);
}

/* The batch guarantees: rows of batches of 1..17 are bit-identical to single rows (speculative
 * verification), a row gets the same bits in any batch of >= 18 rows, any thread count. */
static void test_f32_batches(void **state) {
    (void)state;
    const int M = 29, K = 333, N = 70;
    uint64_t s = 99;
    float *W = rand_matrix(M, K, &s), *X = rand_matrix(N, K, &s);
    float *one = malloc(sizeof(float) * M * N), *big = malloc(sizeof(float) * M * N),
          *y = malloc(sizeof(float) * M * N);
    assert_non_null(one);
    assert_non_null(big);
    assert_non_null(y);
    for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
        if (!fr_isa_supported((fr_isa)isa)) continue;
        for (int n = 0; n < N; n++)
            fr_matmul((fr_isa)isa, FR_TYPE_F32, W, M, K, X + (size_t)n * K, 1, one + (size_t)n * M, NULL, NULL);
        fr_matmul((fr_isa)isa, FR_TYPE_F32, W, M, K, X, N, big, NULL, NULL);
        for (int threads = 1; threads <= 3; threads++) {
            fr_pool *pool = NULL;
            assert_int_equal(fr_pool_create(threads, &pool, NULL), FR_OK);
            for (int nb = 2; nb <= N; nb += nb < 20 ? 1 : 7) {
                /* rows [n0, n0 + nb) as one batch, for a few offsets */
                for (int n0 = 0; n0 + nb <= N; n0 += nb > 30 ? N : 13) {
                    fr_matmul((fr_isa)isa, FR_TYPE_F32, W, M, K, X + (size_t)n0 * K, nb, y, NULL, pool);
                    const float *want = (nb <= 17 ? one : big) + (size_t)n0 * M;
                    if (memcmp(y, want, sizeof(float) * (size_t)M * nb) != 0)
                        fail_msg("%s: batch of %d rows from row %d (%d threads) differs from %s", fr_isa_name((fr_isa)isa),
                                 nb, n0, threads, nb <= 17 ? "single rows" : "the same rows in a batch of 70");
                }
            }
            fr_pool_free(pool);
        }
    }
    free(W);
    free(X);
    free(one);
    free(big);
    free(y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_against_double),
        cmocka_unit_test(test_f32_large),
        cmocka_unit_test(test_f32_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
