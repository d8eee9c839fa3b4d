/* The arena planner: random buffer sets checked by brute force (no two buffers alive at
 * the same step overlap, offsets aligned, planned <= naive, planned >= the largest live
 * set), small exact cases, bad arguments, and the plans of the real models checked through
 * the public API with lifetimes recomputed independently from the operator list. */
#include "cnn_rt_testutil.h"

#include "cnn/planner.h"

static uint32_t rng(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Independent brute-force check of a plan. */
static void check_plan(const fr_plan_buf *b, size_t n, size_t total, size_t naive) {
    size_t live_max = 0;
    int32_t max_step = 0;
    for (size_t i = 0; i < n; i++)
        if (b[i].size && b[i].last > max_step)
            max_step = b[i].last;
    for (int32_t step = 0; step <= max_step; step++) {
        size_t live = 0;
        for (size_t i = 0; i < n; i++)
            if (b[i].size && b[i].first <= step && step <= b[i].last)
                live += b[i].size;
        if (live > live_max)
            live_max = live;
    }
    for (size_t i = 0; i < n; i++) {
        if (!b[i].size)
            continue;
        assert_int_equal(b[i].offset % b[i].align, 0);
        assert_true(b[i].offset + b[i].size <= total);
        for (size_t j = 0; j < n; j++) {
            if (j == i || !b[j].size)
                continue;
            int time = b[i].first <= b[j].last && b[j].first <= b[i].last;
            int space = b[i].offset < b[j].offset + b[j].size &&
                        b[j].offset < b[i].offset + b[i].size;
            if (time && space)
                fail_msg("buffers %zu and %zu overlap in time and memory", i, j);
        }
    }
    /* naive sums sizes rounded to their alignment; sharing may add alignment padding */
    assert_true(total <= naive + 64 * n);
    assert_true(total >= live_max);
    assert_true(fr_plan_verify(b, n, total));
}

static void test_random_plans(void **state) {
    (void)state;
    uint32_t s = 2024;
    fr_plan_buf b[80];
    uint32_t work[FR_PLAN_WORK_ELEMS(80)];
    static const size_t aligns[] = {1, 4, 16, 64};
    for (int trial = 0; trial < 2000; trial++) {
        size_t n = 1 + rng(&s) % 80;
        for (size_t i = 0; i < n; i++) {
            b[i].size = rng(&s) % 7 == 0 ? 0 : 1 + rng(&s) % 5000;
            b[i].align = aligns[rng(&s) % 4];
            b[i].first = (int32_t)(rng(&s) % 30);
            b[i].last = b[i].first + (int32_t)(rng(&s) % 8);
        }
        size_t total, naive;
        fr_error err = {0};
        assert_int_equal(fr_plan(b, n, work, &total, &naive, &err), FR_OK);
        check_plan(b, n, total, naive);
    }
}

static void test_chain_reuses_memory(void **state) {
    (void)state;
    /* A -> B -> C -> D: each buffer lives from its producer to its consumer */
    fr_plan_buf b[4] = {
        {.size = 100, .align = 16, .first = 0, .last = 1},
        {.size = 100, .align = 16, .first = 1, .last = 2},
        {.size = 100, .align = 16, .first = 2, .last = 3},
        {.size = 100, .align = 16, .first = 3, .last = 4},
    };
    uint32_t work[8];
    size_t total, naive;
    assert_int_equal(fr_plan(b, 4, work, &total, &naive, NULL), FR_OK);
    assert_int_equal(naive, 4 * 112);
    assert_int_equal(total, 112 + 100); /* two slots: A and C share, B and D share */
    check_plan(b, 4, total, naive);
    /* a big buffer and small ones in its gap-free time: first fit goes above it */
    fr_plan_buf c[3] = {
        {.size = 1000, .align = 16, .first = 0, .last = 2},
        {.size = 10, .align = 16, .first = 3, .last = 3},
        {.size = 10, .align = 16, .first = 1, .last = 1},
    };
    assert_int_equal(fr_plan(c, 3, work, &total, &naive, NULL), FR_OK);
    assert_int_equal(c[0].offset, 0);
    assert_int_equal(c[1].offset, 0);    /* after the big one dies: reuses offset 0 */
    assert_int_equal(c[2].offset, 1008); /* alive with the big one: above it, aligned */
    check_plan(c, 3, total, naive);
}

static void test_bad_arguments(void **state) {
    (void)state;
    uint32_t work[4];
    size_t total, naive;
    fr_error err = {0};
    fr_plan_buf b = {.size = 8, .align = 3, .first = 0, .last = 0};
    assert_int_equal(fr_plan(&b, 1, work, &total, &naive, &err), FR_E_ARG);
    assert_non_null(strstr(err.msg, "alignment"));
    fr_plan_buf c = {.size = 8, .align = 4, .first = 2, .last = 1};
    assert_int_equal(fr_plan(&c, 1, work, &total, &naive, &err), FR_E_ARG);
    assert_non_null(strstr(err.msg, "lifetime"));
    fr_plan_buf d = {.size = SIZE_MAX / 2, .align = 4, .first = 0, .last = 1};
    assert_int_equal(fr_plan(&d, 1, work, &total, &naive, &err), FR_E_RANGE);
}

/* Lifetimes recomputed from the op list: no two tensors alive at the same op overlap. */
static void check_model_plan(const char *path) {
    test_model t;
    test_model_load(&t, path, FR_CNN_KERNELS_BEST);
    fr_cnn_model *m = t.m;
    fr_error err = {0};
    int nt = fr_cnn_num_tensors(m), no = fr_cnn_num_ops(m);
    int *first = malloc((size_t)nt * sizeof(int)), *last = malloc((size_t)nt * sizeof(int));
    for (int j = 0; j < nt; j++)
        first[j] = last[j] = -1;
    for (int k = 0; k < fr_cnn_num_inputs(m); k++) {
        first[fr_cnn_input_index(m, k)] = 0;
        last[fr_cnn_input_index(m, k)] = 0;
    }
    for (int i = 0; i < no; i++) {
        fr_cnn_op_info op;
        assert_int_equal(fr_cnn_op(m, i, &op, &err), FR_OK);
        for (int k = 0; k < op.n_inputs + op.n_outputs; k++) {
            int ti = k < op.n_inputs ? op.inputs[k] : op.outputs[k - op.n_inputs];
            if (ti < 0)
                continue;
            if (first[ti] < 0)
                first[ti] = i;
            last[ti] = i;
        }
    }
    for (int k = 0; k < fr_cnn_num_outputs(m); k++)
        last[fr_cnn_output_index(m, k)] = no - 1;
    size_t sum = 0;
    for (int a = 0; a < nt; a++) {
        fr_cnn_tensor_info ta;
        assert_int_equal(fr_cnn_tensor(m, a, &ta, &err), FR_OK);
        if (ta.is_const || first[a] < 0)
            continue;
        assert_non_null(ta.data);
        const uint8_t *pa = ta.data;
        /* inside the arena */
        assert_true(pa >= (uint8_t *)t.arena && pa + ta.bytes <= (uint8_t *)t.arena + t.info.total_bytes);
        assert_int_equal((uintptr_t)pa % 16, 0);
        sum += ta.bytes;
        for (int b = a + 1; b < nt; b++) {
            fr_cnn_tensor_info tb;
            assert_int_equal(fr_cnn_tensor(m, b, &tb, &err), FR_OK);
            if (tb.is_const || first[b] < 0)
                continue;
            const uint8_t *pb = tb.data;
            int time = first[a] <= last[b] && first[b] <= last[a];
            int space = pa < pb + tb.bytes && pb < pa + ta.bytes;
            if (time && space)
                fail_msg("%s: tensors %d and %d are alive together but share memory", path, a, b);
        }
    }
    assert_true(t.info.activation_bytes <= t.info.naive_bytes);
    assert_true(sum <= t.info.naive_bytes);
    printf("%s: planned %zu bytes vs naive %zu (tensors alone %zu)\n", path,
           t.info.activation_bytes, t.info.naive_bytes, sum);
    free(first);
    free(last);
    test_model_free(&t);
}

static void test_model_plans(void **state) {
    (void)state;
    check_model_plan(TINY_INT8);
    check_model_plan(TINY_F32);
    if (!assets_present())
        return;
    for (size_t i = 0; i < N_ALL_MODELS; i++)
        check_model_plan(ALL_MODELS[i]);
}

/* ResNet-8 int8: the plan is the minimum possible (three 32x32x16 maps live at once). */
static void test_ic_plan_is_tight(void **state) {
    (void)state;
    if (!assets_present())
        skip();
    test_model t;
    test_model_load(&t, IC_INT8, FR_CNN_KERNELS_REFERENCE);
    assert_true(t.info.activation_bytes >= 3 * 16384);
    assert_true(t.info.activation_bytes <= 3 * 16384 + t.info.scratch_bytes + 64);
    test_model_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_plans),
        cmocka_unit_test(test_chain_reuses_memory),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_model_plans),
        cmocka_unit_test(test_ic_plan_is_tight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
