/* Element types: exhaustive fp16 checks against independent formulas, ggml quantisation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/types.h"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Value of a finite half from its fields, in double (independent of the library). */
static double half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp((double)m, -24) : ldexp((double)(1024 + m), e - 25);
    return s ? -v : v;
}

/* Nearest half by search over all positive finite halves, ties to even; |f| >= 65520 is inf. */
static uint16_t ref_to_half(float f) {
    uint16_t sign = (bits_of(f) >> 31) ? 0x8000 : 0;
    double a = fabs((double)f);
    if (a >= 65520.0) return sign | 0x7c00;
    int lo = 0, hi = 0x7bff; /* largest h with value(h) <= a */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (half_value((uint16_t)mid) <= a) lo = mid;
        else hi = mid - 1;
    }
    if (lo == 0x7bff) return sign | 0x7bff;
    double dlo = a - half_value((uint16_t)lo), dhi = half_value((uint16_t)(lo + 1)) - a;
    int r = dlo < dhi ? lo : dhi < dlo ? lo + 1 : ((lo & 1) ? lo + 1 : lo);
    return (uint16_t)(sign | r);
}

static void test_type_info(void **state) {
    (void)state;
    assert_true(fr_type_valid(0) && fr_type_valid(1) && fr_type_valid(2) && fr_type_valid(8));
    assert_false(fr_type_valid(3));
    assert_false(fr_type_valid(7));
    assert_false(fr_type_valid(1000));
    assert_string_equal(fr_type_name(FR_TYPE_Q4_0), "q4_0");
    assert_string_equal(fr_type_name(FR_TYPE_Q8_0), "q8_0");
    assert_string_equal(fr_type_name(FR_TYPE_F16), "f16");
    assert_string_equal(fr_type_name(FR_TYPE_F32), "f32");
    assert_string_equal(fr_type_name(9), "unknown");
    assert_int_equal(fr_type_block_elems(FR_TYPE_Q4_0), 32);
    assert_int_equal(fr_type_block_bytes(FR_TYPE_Q4_0), 18);
    assert_int_equal(fr_type_block_bytes(FR_TYPE_Q8_0), 34);
    assert_int_equal(fr_type_block_elems((fr_type)5), 0);
    assert_int_equal(fr_type_row_bytes(FR_TYPE_Q8_0, 768), 24 * 34);
    assert_int_equal(fr_type_row_bytes(FR_TYPE_Q4_0, 64), 36);
    assert_int_equal(fr_type_row_bytes(FR_TYPE_F16, 7), 14);
    assert_int_equal(fr_type_row_bytes(FR_TYPE_F32, 7), 28);
    assert_int_equal(fr_type_row_bytes((fr_type)5, 64), 0);
}

static void test_fp16_to_fp32_all(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fr_fp16_to_fp32((uint16_t)h);
        int e = (h >> 10) & 31;
        if (e == 31) {
            if (h & 1023) {
                assert_true(isnan(f));
                assert_int_equal(signbit(f) != 0, (h >> 15) != 0);
                uint16_t back = fr_fp32_to_fp16(f);
                assert_int_equal(back & 0xfc00, h & 0xfc00); /* still a nan of the same sign */
                assert_true(back & 1023);
            } else {
                assert_true(isinf(f));
                assert_int_equal(fr_fp32_to_fp16(f), h);
            }
            continue;
        }
        assert_true((double)f == half_value((uint16_t)h));
        assert_int_equal(signbit(f) != 0, (h >> 15) != 0); /* -0 stays -0 */
        assert_int_equal(fr_fp32_to_fp16(f), h);
    }
}

/* Every tie between neighbouring halves goes to the even one; just off the tie goes to the
 * nearer one. */
static void test_fp32_to_fp16_ties(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        for (int s = 0; s < 2; s++) {
            uint16_t sg = s ? 0x8000 : 0;
            double mid = (half_value((uint16_t)h) + half_value((uint16_t)(h + 1))) / 2;
            float fm = (float)mid;
            assert_true((double)fm == mid); /* the midpoint is exact in float */
            if (s) fm = -fm;
            uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            assert_int_equal(fr_fp32_to_fp16(fm), sg | even);
            float below = nextafterf(fabsf(fm), 0.0f), above = nextafterf(fabsf(fm), INFINITY);
            assert_int_equal(fr_fp32_to_fp16(s ? -below : below), sg | h);
            assert_int_equal(fr_fp32_to_fp16(s ? -above : above), sg | (h + 1));
        }
    }
    /* The top: 65504 is the largest half, the tie at 65520 rounds (to even) to inf. */
    assert_int_equal(fr_fp32_to_fp16(65504.0f), 0x7bff);
    assert_int_equal(fr_fp32_to_fp16(65519.99f), 0x7bff);
    assert_int_equal(fr_fp32_to_fp16(65520.0f), 0x7c00);
    assert_int_equal(fr_fp32_to_fp16(-65520.0f), 0xfc00);
    assert_int_equal(fr_fp32_to_fp16(1e10f), 0x7c00);
    assert_int_equal(fr_fp32_to_fp16(INFINITY), 0x7c00);
    assert_int_equal(fr_fp32_to_fp16(-INFINITY), 0xfc00);
    assert_true((fr_fp32_to_fp16(NAN) & 0x7fff) > 0x7c00);
    /* The bottom: 2^-25 is a tie between 0 and the smallest subnormal. */
    assert_int_equal(fr_fp32_to_fp16(0x1p-25f), 0x0000);
    assert_int_equal(fr_fp32_to_fp16(nextafterf(0x1p-25f, 1.0f)), 0x0001);
    assert_int_equal(fr_fp32_to_fp16(0x1p-24f), 0x0001);
    assert_int_equal(fr_fp32_to_fp16(-0x1p-26f), 0x8000);
    assert_int_equal(fr_fp32_to_fp16(1e-30f), 0x0000);
    assert_int_equal(fr_fp32_to_fp16(float_of(1)), 0x0000); /* float subnormal */
    assert_int_equal(fr_fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(fr_fp32_to_fp16(1.0f), 0x3c00);
    assert_int_equal(fr_fp32_to_fp16(-2.0f), 0xc000);
    assert_int_equal(fr_fp32_to_fp16(0.1f), 0x2e66);
}

static void test_fp32_to_fp16_random(void **state) {
    (void)state;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 300000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint32_t u = (uint32_t)(s >> 11);
        /* half the samples in the exponent range where halves live */
        if (i & 1) u = (u & 0x807fffffu) | ((uint32_t)(96 + (s >> 50) % 48) << 23);
        float f = float_of(u);
        if (isnan(f)) continue;
        assert_int_equal(fr_fp32_to_fp16(f), ref_to_half(f));
    }
}

static void test_q8_0_known(void **state) {
    (void)state;
    float x[64];
    fr_block_q8_0 b[2];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    for (int j = 0; j < 32; j++) x[32 + j] = 0.0f;
    fr_quantize_row(FR_TYPE_Q8_0, x, b, 64);
    assert_int_equal(b[0].d, fr_fp32_to_fp16(16.0f / 127.0f));
    for (int j = 0; j < 32; j++) {
        float id = 1.0f / (16.0f / 127.0f);
        assert_int_equal(b[0].qs[j], (int)roundf(x[j] * id));
    }
    assert_int_equal(b[0].qs[0], -127);
    assert_int_equal(b[0].qs[17], 8); /* 1 * 7.9375 */
    assert_int_equal(b[1].d, 0);
    for (int j = 0; j < 32; j++) assert_int_equal(b[1].qs[j], 0);
    float y[64];
    fr_dequantize_row(FR_TYPE_Q8_0, b, y, 64);
    float d = fr_fp16_to_fp32(b[0].d);
    for (int j = 0; j < 32; j++) assert_true(y[j] == d * (float)b[0].qs[j]);
    for (int j = 32; j < 64; j++) assert_true(y[j] == 0.0f);
}

static void test_q4_0_known(void **state) {
    (void)state;
    float x[32];
    fr_block_q4_0 b;
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16); /* max |x| is -16: d = 2, id = 0.5 */
    fr_quantize_row(FR_TYPE_Q4_0, x, &b, 32);
    assert_int_equal(b.d, fr_fp32_to_fp16(2.0f));
    for (int j = 0; j < 16; j++) {
        int q0 = (int)(x[j] * 0.5f + 8.5f), q1 = (int)(x[j + 16] * 0.5f + 8.5f);
        if (q1 > 15) q1 = 15;
        assert_int_equal(b.qs[j], q0 | (q1 << 4));
    }
    assert_int_equal(b.qs[0] & 15, 0);   /* -16 -> 0 */
    assert_int_equal(b.qs[15] >> 4, 15); /* 15 -> 16, clamped to 15 */
    float y[32];
    fr_dequantize_row(FR_TYPE_Q4_0, &b, y, 32);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == 2.0f * (float)((b.qs[j] & 15) - 8));
        assert_true(y[j + 16] == 2.0f * (float)((b.qs[j] >> 4) - 8));
    }
    /* A positive largest value gives a negative scale. */
    for (int j = 0; j < 32; j++) x[j] = (float)j * 0.25f;
    fr_quantize_row(FR_TYPE_Q4_0, x, &b, 32);
    assert_true(fr_fp16_to_fp32(b.d) == 7.75f / -8.0f);
    /* An all-zero block: d = 0 / -8 = -0 (as ggml), every nibble 8. */
    memset(x, 0, sizeof x);
    fr_quantize_row(FR_TYPE_Q4_0, x, &b, 32);
    assert_int_equal(b.d, 0x8000);
    for (int j = 0; j < 16; j++) assert_int_equal(b.qs[j], 0x88);
}

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static void test_roundtrip_bounds(void **state) {
    (void)state;
    enum { n = 4096 };
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    void *q = malloc(n * 4);
    assert_non_null(x);
    assert_non_null(y);
    assert_non_null(q);
    uint64_t s = 42;
    for (int i = 0; i < n; i++) x[i] = frand(&s) * (float)(1 + (i / 32) % 7) * ((i / 32) % 5 ? 1.0f : 1e-3f);
    fr_type types[] = {FR_TYPE_F32, FR_TYPE_F16, FR_TYPE_Q8_0, FR_TYPE_Q4_0};
    for (int t = 0; t < 4; t++) {
        fr_quantize_row(types[t], x, q, n);
        fr_dequantize_row(types[t], q, y, n);
        for (int b = 0; b < n / 32; b++) {
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            for (int j = 0; j < 32; j++) {
                float xv = x[b * 32 + j], err = fabsf(y[b * 32 + j] - xv);
                /* the scale is stored as fp16: relative 2^-11, absolute 2^-25 when subnormal */
                float d8 = amax / 127.0f, d4 = amax / 8.0f;
                float e8 = 127.0f * fmaxf(d8 * 0x1p-11f, 0x1p-25f), e4 = 8.0f * fmaxf(d4 * 0x1p-11f, 0x1p-25f);
                switch (types[t]) {
                case FR_TYPE_F32: assert_true(err == 0.0f); break;
                case FR_TYPE_F16: assert_true(err <= fabsf(xv) * 0x1p-11f + 0x1p-25f); break;
                case FR_TYPE_Q8_0: assert_true(err <= 0.5f * d8 + e8); break;
                case FR_TYPE_Q4_0: assert_true(err <= d4 + e4); break;
                }
            }
        }
    }
    free(x);
    free(y);
    free(q);
}

/* Non-finite input must not crash or trip the sanitizers. */
static void test_quantize_nonfinite(void **state) {
    (void)state;
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)j;
    x[3] = NAN;
    x[7] = INFINITY;
    fr_block_q8_0 b8;
    fr_block_q4_0 b4;
    fr_quantize_row(FR_TYPE_Q8_0, x, &b8, 32);
    fr_quantize_row(FR_TYPE_Q4_0, x, &b4, 32);
    for (int j = 0; j < 16; j++) assert_true(b4.qs[j] <= 255);
}

/* Numbers in messages without %zu / %lld (the firmware's printf has neither): against
 * snprintf with those modifiers on the host. */
static void test_num_str(void **state) {
    (void)state;
    const uint64_t u[] = {0, 1, 9, 10, 4294967295u, 4294967296ull, 18446744073709551615ull};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        char want[32];
        snprintf(want, sizeof want, "%llu", (unsigned long long)u[i]);
        assert_string_equal(FR_NUM(u[i]), want);
    }
    const int64_t v[] = {0, -1, 42, -9223372036854775807ll - 1, 9223372036854775807ll};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)v[i]);
        assert_string_equal(FR_SNUM(v[i]), want);
    }
    fr_error e;
    fr_fail(&e, FR_E_FORMAT, "%s has %s bytes, not %s", "m.tflite", FR_NUM((size_t)12), FR_SNUM(-3));
    assert_string_equal(e.msg, "m.tflite has 12 bytes, not -3");
}

/* A message stays one line whatever the file put in the names it quotes (found by
 * fuzz_model: a tensor name with newlines). */
static void test_fail_one_line(void **state) {
    (void)state;
    fr_error e;
    assert_int_equal(fr_fail(&e, FR_E_FORMAT, "%s: tensor '%s'", "m.gguf", "a\nb\r\tc\x7f\x1b[2Jd\xc3\xa9"),
                     FR_E_FORMAT);
    assert_int_equal(e.status, FR_E_FORMAT);
    assert_string_equal(e.msg, "m.gguf: tensor 'a?b??c??[2Jd\xc3\xa9'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_info),
        cmocka_unit_test(test_num_str),
        cmocka_unit_test(test_fail_one_line),
        cmocka_unit_test(test_fp16_to_fp32_all),
        cmocka_unit_test(test_fp32_to_fp16_ties),
        cmocka_unit_test(test_fp32_to_fp16_random),
        cmocka_unit_test(test_q8_0_known),
        cmocka_unit_test(test_q4_0_known),
        cmocka_unit_test(test_roundtrip_bounds),
        cmocka_unit_test(test_quantize_nonfinite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
