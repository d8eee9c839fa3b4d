/* Thread pool: every index runs exactly once per task, many short tasks, create/free cycles,
 * bad arguments. Prints the measured round-trip latency of an empty task. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/pool.h"

typedef struct count_arg {
    atomic_int hits[8];
    atomic_int bad;
    int expect_n;
} count_arg;

static void count_task(void *varg, int ith, int nth) {
    count_arg *a = varg;
    if (nth != a->expect_n || ith < 0 || ith >= nth) atomic_fetch_add(&a->bad, 1);
    else atomic_fetch_add(&a->hits[ith], 1);
}

static void test_null_pool(void **state) {
    (void)state;
    count_arg a;
    memset(&a, 0, sizeof a);
    a.expect_n = 1;
    fr_pool_run(NULL, count_task, &a);
    assert_int_equal(atomic_load(&a.hits[0]), 1);
    assert_int_equal(atomic_load(&a.bad), 0);
    assert_int_equal(fr_pool_size(NULL), 1);
    assert_true(fr_cpu_count() >= 1);
}

static void test_each_index_once(void **state) {
    (void)state;
    for (int n = 1; n <= 4; n++) {
        fr_pool *p = NULL;
        fr_error err = {0};
        assert_int_equal(fr_pool_create(n, &p, &err), FR_OK);
        assert_int_equal(fr_pool_size(p), n);
        count_arg a;
        memset(&a, 0, sizeof a);
        a.expect_n = n;
        const int runs = 3000;
        for (int r = 0; r < runs; r++) {
            fr_pool_run(p, count_task, &a);
            /* after each run every index has run exactly r + 1 times */
            if ((r & 255) == 0)
                for (int i = 0; i < n; i++) assert_int_equal(atomic_load(&a.hits[i]), r + 1);
        }
        for (int i = 0; i < n; i++) assert_int_equal(atomic_load(&a.hits[i]), runs);
        assert_int_equal(atomic_load(&a.bad), 0);
        fr_pool_free(p);
    }
}

/* Results written by workers are visible to the caller after fr_pool_run returns. */
typedef struct sum_arg {
    int data[1000];
    long part[4];
} sum_arg;

static void sum_task(void *varg, int ith, int nth) {
    sum_arg *a = varg;
    long s = 0;
    for (int i = ith; i < 1000; i += nth) s += a->data[i];
    a->part[ith] = s;
}

static void test_results_visible(void **state) {
    (void)state;
    fr_pool *p = NULL;
    assert_int_equal(fr_pool_create(3, &p, NULL), FR_OK);
    sum_arg a;
    for (int r = 0; r < 500; r++) {
        for (int i = 0; i < 1000; i++) a.data[i] = i + r;
        memset(a.part, 0, sizeof a.part);
        fr_pool_run(p, sum_task, &a);
        assert_int_equal(a.part[0] + a.part[1] + a.part[2], 499500L + 1000L * r);
    }
    fr_pool_free(p);
}

/* Tasks separated by pauses long enough that the workers go to sleep. */
static void test_sleep_wake(void **state) {
    (void)state;
    fr_pool *p = NULL;
    assert_int_equal(fr_pool_create(2, &p, NULL), FR_OK);
    count_arg a;
    memset(&a, 0, sizeof a);
    a.expect_n = 2;
    for (int r = 0; r < 30; r++) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        fr_pool_run(p, count_task, &a);
    }
    assert_int_equal(atomic_load(&a.hits[0]), 30);
    assert_int_equal(atomic_load(&a.hits[1]), 30);
    fr_pool_free(p);
}

static void test_create_free_cycles(void **state) {
    (void)state;
    for (int c = 0; c < 50; c++) {
        fr_pool *p = NULL;
        assert_int_equal(fr_pool_create(1 + c % 4, &p, NULL), FR_OK);
        if (c % 2) {
            count_arg a;
            memset(&a, 0, sizeof a);
            a.expect_n = 1 + c % 4;
            fr_pool_run(p, count_task, &a);
        }
        fr_pool_free(p);
    }
    fr_pool_free(NULL);
}

static void test_bad_args(void **state) {
    (void)state;
    fr_pool *p = (fr_pool *)&p;
    fr_error err = {0};
    assert_int_equal(fr_pool_create(0, &p, &err), FR_E_ARG);
    assert_null(p);
    assert_int_equal(err.status, FR_E_ARG);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(fr_pool_create(-3, &p, NULL), FR_E_ARG);
    assert_int_equal(fr_pool_create(2, NULL, &err), FR_E_ARG);
}

static void empty_task(void *arg, int ith, int nth) {
    (void)arg;
    (void)ith;
    (void)nth;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_latency_report(void **state) {
    (void)state;
    fr_pool *p = NULL;
    assert_int_equal(fr_pool_create(2, &p, NULL), FR_OK);
    const int runs = 2000;
    double t0 = now_s();
    for (int r = 0; r < runs; r++) fr_pool_run(p, empty_task, NULL);
    double back_to_back = (now_s() - t0) / runs;
    /* with a 50 us gap (caller work between matmuls) the workers are past their spin */
    const int gap_runs = 100;
    double total = 0.0;
    for (int r = 0; r < gap_runs; r++) {
        double g0 = now_s();
        while (now_s() - g0 < 50e-6) {
        }
        double t1 = now_s();
        fr_pool_run(p, empty_task, NULL);
        total += now_s() - t1;
    }
    printf("pool(2): empty run back to back %.2f us, after a 50 us gap %.2f us\n", back_to_back * 1e6,
           total / gap_runs * 1e6);
    fr_pool_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_pool),         cmocka_unit_test(test_each_index_once),
        cmocka_unit_test(test_results_visible),   cmocka_unit_test(test_sleep_wake),
        cmocka_unit_test(test_create_free_cycles), cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_latency_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
