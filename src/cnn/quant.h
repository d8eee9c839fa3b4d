/* Fixed-point helpers with TensorFlow Lite's (gemmlowp's) integer semantics.
 *
 * All functions are pure, exact and defined for every int32 input (no UB: shifts and
 * wrapping arithmetic go through uint32). They follow TFLite's default ("double
 * rounding") build:
 *
 *   SRDHM(a, b)   = saturating rounding doubling high multiply (ARM VQRDMULH):
 *                   (a*b + (a*b >= 0 ? 2^30 : 1 - 2^30)) / 2^31, truncating division;
 *                   INT32_MIN * INT32_MIN saturates to INT32_MAX.
 *   RDPOT(x, e)   = rounding arithmetic right shift by e in [0, 31], ties away from zero.
 *   MBQM(x, M, s) = RDPOT(SRDHM(x * 2^max(s,0), M), max(-s,0))   (x * 2^s wraps mod 2^32
 *                   like TFLite's int32 multiply does in practice).
 */
#ifndef FR_CNN_QUANT_H
#define FR_CNN_QUANT_H

#include <stdint.h>

static inline int32_t fr_q_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int32_t fr_q_rdpot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    /* arithmetic right shift (implementation-defined in C, arithmetic on every target
     * frugal supports: GCC/Clang on x86-64 and Arm) */
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^s with int32 wrap-around (s in [0, 31]). */
static inline int32_t fr_q_shl_wrap(int32_t x, int s) {
    return (int32_t)((uint32_t)x << s);
}

static inline int32_t fr_q_mbqm(int32_t x, int32_t mult, int32_t shift) {
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return fr_q_rdpot(fr_q_srdhm(fr_q_shl_wrap(x, left), mult), right);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for e > 0 (saturating left shift). */
static inline int32_t fr_q_sat_shl(int32_t x, int e) {
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - e)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return fr_q_shl_wrap(x, e);
}

static inline int32_t fr_q_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Plain wrapping int32 add/sub (gemmlowp's int32 Add/Sub). */
static inline int32_t fr_q_add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}
static inline int32_t fr_q_sub(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* exp(a) for a <= 0, a in Q5.26, result Q0.31 (gemmlowp exp_on_negative_values<5>). */
int32_t fr_q_exp_on_negative_values_q5(int32_t a);
/* 1/(1+x) for x in [0, 1) Q0.31, result Q0.31 (gemmlowp one_over_one_plus_x_for_x_in_0_1). */
int32_t fr_q_one_over_one_plus_x(int32_t a);
/* TFLite GetReciprocal: x > 0 with x_integer_digits integer bits -> Q0.31 scale and
 * *num_bits_over_unit. */
int32_t fr_q_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit);
/* Number of leading zero bits of a uint32 (32 for 0). */
int fr_q_clz32(uint32_t x);

#endif
