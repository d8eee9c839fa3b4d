/* Element types, IEEE half conversion and scalar (de)quantisation, bit-compatible with ggml. */
#include "core/types.h"

#include <math.h>
#include <string.h>

int fr_type_valid(uint32_t t) {
    return t == FR_TYPE_F32 || t == FR_TYPE_F16 || t == FR_TYPE_Q4_0 || t == FR_TYPE_Q8_0;
}

const char *fr_type_name(uint32_t t) {
    switch (t) {
    case FR_TYPE_F32: return "f32";
    case FR_TYPE_F16: return "f16";
    case FR_TYPE_Q4_0: return "q4_0";
    case FR_TYPE_Q8_0: return "q8_0";
    default: return "unknown";
    }
}

size_t fr_type_block_elems(fr_type t) {
    switch (t) {
    case FR_TYPE_F32:
    case FR_TYPE_F16: return 1;
    case FR_TYPE_Q4_0: return FR_QK4_0;
    case FR_TYPE_Q8_0: return FR_QK8_0;
    }
    return 0;
}

size_t fr_type_block_bytes(fr_type t) {
    switch (t) {
    case FR_TYPE_F32: return 4;
    case FR_TYPE_F16: return 2;
    case FR_TYPE_Q4_0: return sizeof(fr_block_q4_0);
    case FR_TYPE_Q8_0: return sizeof(fr_block_q8_0);
    }
    return 0;
}

size_t fr_type_row_bytes(fr_type t, size_t n) {
    size_t be = fr_type_block_elems(t);
    if (be == 0) return 0;
    return n / be * fr_type_block_bytes(t);
}

/* ---- IEEE binary16 <-> binary32 ---- */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float fr_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) /* inf or nan (payload kept) */
        return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t fr_fp32_to_fp16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) { /* inf stays inf; nan stays a (quiet) nan */
        if (ax == 0x7f800000u) return (uint16_t)(sign | 0x7c00u);
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    if (ax >= 0x477ff000u) /* >= 65520: the tie above 65504 rounds to even = inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* below 2^-14: subnormal half or zero */
        if (ax <= 0x33000000u) return sign; /* <= 2^-25 (a tie at 2^-25 goes to even 0) */
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* value = m * 2^(e-150); in units of 2^-24: m >> (126-e) */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t h = (ax - 0x38000000u) >> 13; /* rebias exponent 127 -> 15 */
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* carries into the exponent */
    return (uint16_t)(sign | h);
}

/* ---- quantisation (ggml reference rounding) ---- */

/* roundf(v) as int8 for v in [-127.5, 127.5]; nan (from non-finite input) becomes 0. */
static int8_t q8_round(float v) {
    if (!(v == v)) return 0;
    if (v > 127.0f) v = 127.0f;
    if (v < -127.0f) v = -127.0f;
    return (int8_t)roundf(v);
}

/* MIN(15, (int8_t)(v + 8.5f)) as ggml, for v in about [-8, 8]; clamped so that non-finite
 * input cannot make the conversion undefined. */
static uint8_t q4_nibble(float v) {
    float t = v + 8.5f;
    if (!(t >= 0.0f)) return 0;
    if (t >= 15.0f) return 15;
    return (uint8_t)(int)t;
}

static void quantize_q8_0(const float *x, fr_block_q8_0 *y, size_t n) {
    for (size_t i = 0; i < n / FR_QK8_0; i++) {
        const float *xb = x + i * FR_QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < FR_QK8_0; j++) {
            float a = fabsf(xb[j]);
            if (a > amax) amax = a;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fr_fp32_to_fp16(d);
        for (int j = 0; j < FR_QK8_0; j++) y[i].qs[j] = q8_round(xb[j] * id);
    }
}

static void quantize_q4_0(const float *x, fr_block_q4_0 *y, size_t n) {
    for (size_t i = 0; i < n / FR_QK4_0; i++) {
        const float *xb = x + i * FR_QK4_0;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < FR_QK4_0; j++) {
            float a = fabsf(xb[j]);
            if (amax < a) {
                amax = a;
                max = xb[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fr_fp32_to_fp16(d);
        for (int j = 0; j < FR_QK4_0 / 2; j++) {
            uint8_t lo = q4_nibble(xb[j] * id);
            uint8_t hi = q4_nibble(xb[j + FR_QK4_0 / 2] * id);
            y[i].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void fr_quantize_row(fr_type t, const float *src, void *dst, size_t n) {
    switch (t) {
    case FR_TYPE_F32: memcpy(dst, src, n * sizeof(float)); break;
    case FR_TYPE_F16: {
        uint16_t *h = dst;
        for (size_t i = 0; i < n; i++) h[i] = fr_fp32_to_fp16(src[i]);
        break;
    }
    case FR_TYPE_Q8_0: quantize_q8_0(src, dst, n); break;
    case FR_TYPE_Q4_0: quantize_q4_0(src, dst, n); break;
    }
}

void fr_dequantize_row(fr_type t, const void *src, float *dst, size_t n) {
    switch (t) {
    case FR_TYPE_F32: memcpy(dst, src, n * sizeof(float)); break;
    case FR_TYPE_F16: {
        const uint16_t *h = src;
        for (size_t i = 0; i < n; i++) dst[i] = fr_fp16_to_fp32(h[i]);
        break;
    }
    case FR_TYPE_Q8_0: {
        const fr_block_q8_0 *b = src;
        for (size_t i = 0; i < n / FR_QK8_0; i++) {
            const float d = fr_fp16_to_fp32(b[i].d);
            for (int j = 0; j < FR_QK8_0; j++) dst[i * FR_QK8_0 + j] = d * (float)b[i].qs[j];
        }
        break;
    }
    case FR_TYPE_Q4_0: {
        const fr_block_q4_0 *b = src;
        for (size_t i = 0; i < n / FR_QK4_0; i++) {
            const float d = fr_fp16_to_fp32(b[i].d);
            float *o = dst + i * FR_QK4_0;
            for (int j = 0; j < FR_QK4_0 / 2; j++) {
                o[j] = d * (float)((b[i].qs[j] & 0x0f) - 8);
                o[j + FR_QK4_0 / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
            }
        }
        break;
    }
    }
}
