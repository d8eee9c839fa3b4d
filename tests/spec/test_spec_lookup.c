/* Prompt-lookup drafting: the fast scan against the plain reference on random token
 * streams with repetitions, and hand-checked cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "spec/lookup.h"

static void test_known_cases(void **state) {
    (void)state;
    int32_t out[8];
    int m = -1;
    /* "a b c d a b" -> longest suffix "a b" seen at 0, continuation "c d a b"; the text
     * before it agrees with the end for 2 tokens */
    const int32_t t1[] = {1, 2, 3, 4, 1, 2};
    int n = fr_lookup_propose(t1, 6, 1, 3, out, 8, &m);
    assert_int_equal(n, 8);
    assert_int_equal(m, 2);
    { /* past the end of the text the continuation repeats: 3 4 1 2 | 3 4 1 2 */
        const int32_t want[8] = {3, 4, 1, 2, 3, 4, 1, 2};
        assert_memory_equal(out, want, sizeof want);
    }
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 4);
    /* no repetition: nothing proposed */
    const int32_t t2[] = {1, 2, 3, 4, 5};
    assert_int_equal(fr_lookup_propose(t2, 5, 1, 3, out, 8, &m), 0);
    assert_int_equal(m, 0);
    /* max_out bounds the proposal */
    assert_int_equal(fr_lookup_propose(t1, 6, 1, 3, out, 2, NULL), 2);
    /* the most recent occurrence wins: "7 9 ... 7 8 ... 7" proposes 8 */
    const int32_t t3[] = {7, 9, 5, 7, 8, 6, 7};
    n = fr_lookup_propose(t3, 7, 1, 1, out, 1, NULL);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 8);
    /* a longer n-gram beats a more recent shorter one */
    const int32_t t4[] = {1, 2, 3, 9, 2, 4, 0, 1, 2};
    n = fr_lookup_propose(t4, 9, 1, 2, out, 1, &m);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 3);
    assert_int_equal(m, 2);
    /* a loop: the match runs back over the whole repeated part, beyond the n-gram */
    const int32_t t5[] = {5, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1};
    n = fr_lookup_propose(t5, 11, 1, 3, out, 8, &m);
    assert_int_equal(n, 8);
    {
        const int32_t want[8] = {2, 3, 1, 2, 3, 1, 2, 3};
        assert_memory_equal(out, want, sizeof want);
    }
    assert_int_equal(m, 7); /* 1 2 3 1 2 3 1 ending at index 7 == the last 7 tokens */
    /* ... capped at FR_LOOKUP_MATCH_CAP */
    int32_t t6[200];
    for (int i = 0; i < 200; i++) t6[i] = 4;
    n = fr_lookup_propose(t6, 200, 1, 3, out, 8, &m);
    assert_int_equal(n, 8);
    assert_int_equal(out[7], 4);
    assert_int_equal(m, FR_LOOKUP_MATCH_CAP);
    /* degenerate sizes */
    assert_int_equal(fr_lookup_propose(t1, 0, 1, 3, out, 8, NULL), 0);
    assert_int_equal(fr_lookup_propose(t1, 1, 1, 3, out, 8, NULL), 0);
    assert_int_equal(fr_lookup_propose(t1, 6, 1, 3, out, 0, NULL), 0);
}

static uint32_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void test_fast_matches_reference(void **state) {
    (void)state;
    uint64_t seed = 42;
    int32_t toks[600], a[16], b[16];
    for (int trial = 0; trial < 400; trial++) {
        int n = 2 + (int)(rng_next(&seed) % 590);
        int alphabet = 2 + (int)(rng_next(&seed) % 20);
        for (int i = 0; i < n; i++) toks[i] = (int32_t)(rng_next(&seed) % (uint32_t)alphabet);
        if (trial % 2) { /* end with a stretch that repeats with a random period (a loop) */
            int period = 1 + (int)(rng_next(&seed) % 12), from = (int)(rng_next(&seed) % (uint32_t)n);
            for (int i = from + period; i < n; i++) toks[i] = toks[i - period];
        }
        int gmin = 1 + (int)(rng_next(&seed) % 2), gmax = gmin + (int)(rng_next(&seed) % 4);
        int max_out = (int)(rng_next(&seed) % 16);
        int ma = -1, mb = -2;
        int na = fr_lookup_propose(toks, n, gmin, gmax, a, max_out, &ma);
        int nb = fr_lookup_propose_ref(toks, n, gmin, gmax, b, max_out, &mb);
        assert_int_equal(na, nb);
        assert_int_equal(ma, mb);
        assert_memory_equal(a, b, (size_t)na * sizeof a[0]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_cases),
        cmocka_unit_test(test_fast_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
