/* The Q8_0 x16 packed weight form (layout: kernels.h): packing and unpacking, plain C. */
#include <string.h>

#include "core/kernels.h"

size_t fr_q8x16_scale_bytes(int K) { return ((size_t)K / 32 * 32 + 63) & ~(size_t)63; }

size_t fr_q8x16_group_bytes(int K) { return fr_q8x16_scale_bytes(K) + (size_t)K / 32 * 512; }

size_t fr_q8x16_bytes(int M, int K) {
    if (M <= 0 || K <= 0) return 0;
    return (size_t)((M + 15) / 16) * fr_q8x16_group_bytes(K);
}

void fr_q8x16_pack(const void *W, int M, int K, void *dst) {
    const int nb = K / 32, groups = (M + 15) / 16;
    const size_t gb = fr_q8x16_group_bytes(K);
    for (int g = 0; g < groups; g++) {
        uint8_t *sc = (uint8_t *)dst + (size_t)g * gb;
        uint8_t *q = sc + fr_q8x16_scale_bytes(K);
        memset(sc, 0, fr_q8x16_scale_bytes(K)); /* scales of padding rows (0) and the padding */
        for (int r = 0; r < 16; r++) {
            const int m = g * 16 + r;
            const fr_block_q8_0 *row = m < M ? (const fr_block_q8_0 *)W + (size_t)m * (size_t)nb : NULL;
            for (int b = 0; b < nb; b++) {
                uint8_t *qb = q + (size_t)b * 512 + (size_t)r * 4;
                if (row) memcpy(sc + (size_t)b * 32 + (size_t)r * 2, &row[b].d, 2);
                for (int j = 0; j < FR_QK8_0; j++)
                    qb[(j / 4) * 64 + j % 4] = (uint8_t)((row ? (uint8_t)row[b].qs[j] : 0u) ^ 0x80u);
            }
        }
    }
}

void fr_q8x16_unpack_row(const void *P, int K, int m, void *row) {
    const int nb = K / 32;
    const uint8_t *sc = (const uint8_t *)P + (size_t)(m / 16) * fr_q8x16_group_bytes(K);
    const uint8_t *q = sc + fr_q8x16_scale_bytes(K);
    const int r = m % 16;
    fr_block_q8_0 *out = row;
    for (int b = 0; b < nb; b++) {
        memcpy(&out[b].d, sc + (size_t)b * 32 + (size_t)r * 2, 2);
        for (int j = 0; j < FR_QK8_0; j++)
            out[b].qs[j] = (int8_t)(q[(size_t)b * 512 + (size_t)(j / 4) * 64 + (size_t)r * 4 + j % 4] ^ 0x80u);
    }
}
