/* AVX-512 (F/BW/VL + VNNI) quantised matmul kernels (f32/f16 weights: kernels_f32_avx512.c).
 * Only called after fr_isa_supported(FR_ISA_AVX512).
 *
 * Every tile computes each output the same way: each 32-block's integer dot product exactly
 * (one int32), then acc = fma(float(sum), d_w * d_x, acc) block after block from acc = 0, so a
 * row's result does not depend on the batch or the tile it is computed in (speculative
 * verification relies on this). The tiles differ in how they get the exact block sums:
 *
 * Matrix-vector tiles (a single q8_0 activation row, alone or left after full groups of 16): R
 * weight rows (8, 4, then 1); the 8 partial sums of each row's block are reduced horizontally.
 *
 * Small-batch tiles (2..12 activation rows, or a single q4_0 row, alone or left after full
 * groups of 16): 4 weight rows x a "lane group" of activation rows, one (weight row, activation row) pair per 32-bit
 * lane of a 512-bit vector, so no horizontal reduction at all (see tile_small).
 * Weights are prefetched FR_PREFETCH_ROWS ahead (non-temporal in the matrix-vector tiles).
 *
 * Quantised GEMM tiles (N >= FR_GEMM_MIN): 8 weight rows x a group of 16 activation rows, one
 * activation row per 32-bit lane (see gemm_tile).
 *
 * Batches are walked FR_NCHUNK activation rows at a time against all of the thread's weight
 * rows, so the chunk stays in L2 and each row tile in L1.
 *
 * Q8_0 weights in the packed x16 form (fr_mm_args.x16, layout in kernels.h) take one tile for
 * every batch size instead: 16 weight rows (one per lane) x up to 12 activation rows (x16_tile,
 * at the end of this file), with the same per-block arithmetic.
 *
 * Q8_0 x Q8_0 flips the weight bytes to unsigned (w ^ 0x80 = w + 128) for vpdpbusd (unsigned
 * x signed), so each 32-block sum is off by 128 * sum(x): a bias prepared with the activations
 * (-16 * sum(x) in each of 8 lanes, or -128 * sum(x) in the row's lane of a group) starts the
 * accumulator and takes it off again. Q4_0 nibbles are unsigned already; their -8 offset
 * gives a bias of -8 * sum(x). The integer part of every block is exact. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "core/kernels_internal.h"

#define FR_AI static inline __attribute__((always_inline))

/* Matrix-vector and small-batch tiles prefetch the weights this many rows ahead (a prefetch
 * past the end of the matrix is harmless: prefetches do not fault). It must exceed the 8 rows
 * of a tile to be ahead at all: 6 rows made decode 2.5x slower, and 24 measured 5-40% faster
 * than 12 on the matmuls of a 110M-shape q8_0 model (bench_kernels model q8_0 1). */
#ifndef FR_PREFETCH_ROWS
#define FR_PREFETCH_ROWS 24
#endif

/* ---- activation preparation ----
 * Layout of xq: first `groups` groups of 16 rows for the GEMM tiles, then the `rowwise` rows
 * left (fewer than FR_GEMM_MIN) in one of three layouts:
 *   group, per 32-block (640 bytes): qs[8 chunks][16 rows][4 bytes] | d[16] | bias[16]
 *   one q8_0 row (FR_SMALL_ROW): qs[nb][32] | d[nb] | bias[nb], 64-byte aligned
 *   lane groups (FR_SMALL_ONE: one q4_0 row, FR_SMALL_PAIR: 2 rows, FR_SMALL_QUAD: 3..12 rows
 *   in groups of 4, padded with zero rows), per 32-block: pat[steps][4 lanes][4 bytes] |
 *   d[4 lanes] | bias[4 lanes]; lane q of step s holds 4 bytes of one activation row (see
 *   lane_row / lane_chunk) and is broadcast to the 4 weight rows of a small-batch tile; the
 *   bias sits in the lanes of the block's first 4-byte chunks only. */

/* Batches of fewer rows (and the rows left after full groups of 16) take the matrix-vector
 * or small-batch tiles: a group padded to 16 rows costs as much as 16 rows. All paths give
 * bit-identical results. */
#define FR_GEMM_MIN 13
#define FR_GBLOCK 640

/* Layout of the rows left after the groups: FR_SMALL_ROW the matrix-vector row layout, else
 * lane groups of `mode` activation rows. */
enum { FR_SMALL_ONE = 1, FR_SMALL_PAIR = 2, FR_SMALL_QUAD = 4, FR_SMALL_ROW = 8 };

typedef struct xplan {
    int nb;
    int groups, rowwise;
    int mode;      /* layout of the rowwise rows (FR_SMALL_*), 0 if there are none */
    int lgroups;   /* lane groups of the rowwise rows (one, pair: 1; quad: ceil(rowwise / 4)) */
    int steps;     /* 4-byte steps per block of a lane group: one 2, pair 4, quad 8 */
    size_t gbytes; /* bytes of the grouped part */
    size_t rs;     /* stride of a single row */
    size_t lb;     /* bytes per block of a lane group */
} xplan;

/* Stride of one activation row in the row layout (qs[nb][32] | d[nb] | bias[nb], 64-byte
 * aligned), used by the matrix-vector tiles and the x16 tiles. */
static size_t row_stride(int nb) { return ((size_t)nb * 40 + 63) & ~(size_t)63; }

static xplan make_plan(const fr_mm_args *a) {
    xplan p;
    p.nb = a->K / 32;
    p.groups = a->N / 16;
    p.rowwise = a->N % 16;
    if (p.rowwise >= FR_GEMM_MIN) {
        p.groups++;
        p.rowwise = 0;
    }
    /* One q8_0 row takes the matrix-vector tile: with the weights streamed from memory (decode)
     * it measured 8-10% faster than the small-batch tile, which is 1.35x faster from cache. One
     * q4_0 row takes the small-batch tile (1.7x faster, also from memory). */
    p.mode = p.rowwise == 0 ? 0
             : p.rowwise == 1 ? (a->wtype == FR_TYPE_Q8_0 ? FR_SMALL_ROW : FR_SMALL_ONE)
             : p.rowwise == 2 ? FR_SMALL_PAIR
                              : FR_SMALL_QUAD;
    p.lgroups = p.mode == FR_SMALL_QUAD ? (p.rowwise + 3) / 4 : 1;
    p.steps = p.mode == FR_SMALL_ROW ? 8 : 2 * p.mode;
    p.gbytes = (size_t)p.groups * (size_t)p.nb * FR_GBLOCK;
    p.rs = row_stride(p.nb);
    p.lb = (size_t)p.steps * 16 + 32;
    return p;
}

/* Lane q (0..3) of a lane group: which of its activation rows, and which 4-byte chunk of the
 * block at step s. Quad: row q, chunk s. Pair: row q & 1, chunk 2s + (q >> 1). One: row 0,
 * chunk 4s + q. (The lanes holding parts of one row's block are added after the block.) */
static inline int lane_row(int mode, int q) { return q % mode; }
static inline int lane_chunk(int mode, int q, int s) { return s * (4 / mode) + q / mode; }

/* roundf (half away from zero) of integral-range floats, exactly. */
FR_AI __m512 round_away(__m512 v) {
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u));
    __m512 one = _mm512_castsi512_ps(_mm512_or_si512(sign, _mm512_set1_epi32(0x3f800000)));
    return _mm512_mask_add_ps(t, up, t, one);
}

/* Quantises 32 floats like fr_quantize_row(Q8_0); returns sum(q). */
FR_AI int32_t quant_block(const float *x, int8_t *qs, float *d_out) {
    __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    /* the scale rounded through fp16 as the Q8_0 format stores it (F16C: round to nearest
     * even, as fr_fp32_to_fp16) */
    *d_out = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m512 vid = _mm512_set1_ps(id);
    /* clamped as the stores saturate, so that the sum is that of the stored values even for
     * non-finite input (whose conversion gives INT_MIN; finite input is within +-127) */
    const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
    __m512i ia = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(a, vid)));
    __m512i ib = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(b, vid)));
    ia = _mm512_max_epi32(_mm512_min_epi32(ia, hi), lo);
    ib = _mm512_max_epi32(_mm512_min_epi32(ib, hi), lo);
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtsepi32_epi8(ia));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtsepi32_epi8(ib));
    return _mm512_reduce_add_epi32(_mm512_add_epi32(ia, ib));
}

/* Quantises one activation row of nb blocks into the row layout at row (see row_stride):
 * bias[b] = bias_mul * sum(qs of block b). */
static void quant_row(const float *x, uint8_t *row, int nb, int32_t bias_mul) {
    float *dx = (float *)(row + (size_t)nb * 32);
    int32_t *bias = (int32_t *)(row + (size_t)nb * 36);
    for (int b = 0; b < nb; b++) bias[b] = bias_mul * quant_block(x + b * 32, (int8_t *)row + b * 32, &dx[b]);
}

/* One activation row into its slot j of a lane group (qs NULL: a zero padding row). */
static void put_lane_row(const xplan *p, uint8_t *lg, int j, const int8_t *qs, float d, int32_t bias, int b) {
    uint8_t *blk = lg + (size_t)b * p->lb;
    float *dx = (float *)(blk + (size_t)p->steps * 16);
    int32_t *bs = (int32_t *)(blk + (size_t)p->steps * 16 + 16);
    for (int q = 0; q < 4; q++) {
        if (lane_row(p->mode, q) != j) continue;
        for (int s = 0; s < p->steps; s++) {
            uint8_t *dst = blk + s * 16 + q * 4;
            if (qs)
                memcpy(dst, qs + 4 * lane_chunk(p->mode, q, s), 4);
            else
                memset(dst, 0, 4);
        }
        dx[q] = d;
        /* the bias goes to one of the lanes whose sums are added (those of the first chunks) */
        bs[q] = q < p->mode ? bias : 0;
    }
}

static void prep_x16(const fr_mm_args *a, int n0, int n1);

void fr_mm_prep_avx512(const fr_mm_args *a, int n0, int n1) {
    if (a->x16) {
        prep_x16(a, n0, n1);
        return;
    }
    const xplan p = make_plan(a);
    const int K = a->K, nb = p.nb;
    /* vpdpbusd bias: q8_0 weights are flipped to w + 128 (8 lanes share -128 sum(x) in the
     * row layout, one lane holds it all in the group and lane-group layouts); q4_0 nibbles
     * carry +8. */
    const int q8 = a->wtype == FR_TYPE_Q8_0;
    const int gpad = p.groups * 16;
    const int lpad = gpad + (p.mode == FR_SMALL_QUAD ? 4 * p.lgroups : p.rowwise);
    if (n1 >= a->N) n1 = lpad > a->N ? lpad : a->N;
    for (int n = n0; n < n1; n++) {
        const float *x = a->X + (size_t)n * K;
        if (n < gpad) {
            uint8_t *g = a->xq + (size_t)(n / 16) * (size_t)nb * FR_GBLOCK;
            const int j = n % 16;
            for (int b = 0; b < nb; b++) {
                uint8_t *blk = g + (size_t)b * FR_GBLOCK;
                float *dx = (float *)(blk + 512);
                int32_t *bias = (int32_t *)(blk + 576);
                if (n >= a->N) {
                    for (int c = 0; c < 8; c++) memset(blk + c * 64 + j * 4, 0, 4);
                    dx[j] = 0.0f;
                    bias[j] = 0;
                    continue;
                }
                int8_t qs[32];
                int32_t s = quant_block(x + b * 32, qs, &dx[j]);
                for (int c = 0; c < 8; c++) memcpy(blk + c * 64 + j * 4, qs + 4 * c, 4);
                bias[j] = (q8 ? -128 : -8) * s;
            }
        } else if (p.mode == FR_SMALL_ROW) {
            quant_row(x, a->xq + p.gbytes + (size_t)(n - gpad) * p.rs, nb, q8 ? -16 : -1);
        } else {
            const int i = n - gpad, j = i % p.mode;
            uint8_t *lg = a->xq + p.gbytes + (size_t)(i / p.mode) * (size_t)nb * p.lb;
            for (int b = 0; b < nb; b++) {
                if (n >= a->N) {
                    put_lane_row(&p, lg, j, NULL, 0.0f, 0, b);
                    continue;
                }
                int8_t qs[32];
                float d;
                int32_t s = quant_block(x + b * 32, qs, &d);
                put_lane_row(&p, lg, j, qs, d, (q8 ? -128 : -8) * s, b);
            }
        }
    }
}

/* ---- matrix-vector tiles (256-bit VNNI): R weight rows x one activation row ----
 * Each block's integer dot product is reduced exactly to one int32 per weight row, then
 * acc = fma(float(sum), d_w * d_x, acc): the same operations, in the same order, as the
 * small-batch and GEMM tiles below. */

/* Lane r of the result is the exact sum of the 8 lanes of s[r]. */
FR_AI __m256i hsum8x8_epi32(const __m256i s[8]) {
    __m256i t01 = _mm256_hadd_epi32(s[0], s[1]), t23 = _mm256_hadd_epi32(s[2], s[3]);
    __m256i t45 = _mm256_hadd_epi32(s[4], s[5]), t67 = _mm256_hadd_epi32(s[6], s[7]);
    __m256i u0 = _mm256_hadd_epi32(t01, t23), u1 = _mm256_hadd_epi32(t45, t67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* The fp16 scales at the start of 4 blocks as 4 halves (scalar loads and shifts: a 4-lane
 * gather measured much slower here). */
FR_AI __m128i load_scales4(const uint8_t *const blk[4]) {
    uint64_t v = 0;
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        uint16_t h;
        memcpy(&h, blk[r], 2);
        v |= (uint64_t)h << (16 * r);
    }
    return _mm_cvtsi64_si128((long long)v);
}

/* R weight rows x one activation row (the row layout); `q4` selects the Q4_0 weight layout. */
FR_AI void tile_row(const fr_mm_args *a, const xplan *p, int m, const int R, const int q4) {
    const int nb = p->nb;
    const size_t bb = q4 ? 18 : 34;
    const uint8_t *w[8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) w[r] = a->W + (size_t)(m + r) * a->w_row_bytes;
    const uint8_t *xr = a->xq + p->gbytes;
    const float *dxs = (const float *)(xr + (size_t)nb * 32);
    const int32_t *biases = (const int32_t *)(xr + (size_t)nb * 36);
    __m256 acc = _mm256_setzero_ps();
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    /* the R block scales are gathered in one instruction: row r's block starts r rows on (for
     * 8 rows this measured faster than scalar loads, for the 4 rows of tile_small slower) */
    const __m256i row_off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                               _mm256_set1_epi32((int)a->w_row_bytes));
    const __mmask8 rmask = (__mmask8)((1u << R) - 1u);
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk[8];
        __m256i wv[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            blk[r] = w[r] + (size_t)b * bb;
            /* one activation row: each weight is used once, so a non-temporal hint (the
             * weights then do not push the KV cache and activations out of L2/L3) */
            _mm_prefetch((const char *)(blk[r] + FR_PREFETCH_ROWS * a->w_row_bytes), _MM_HINT_NTA);
            if (q4) { /* both halves hold the 16 bytes; the upper one shifted right by 4 */
                __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk[r] + 2)));
                wv[r] = _mm256_and_si256(_mm256_srlv_epi32(raw, shift), low);
            } else {
                wv[r] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk[r] + 2)), flip);
            }
        }
        const __m256i dwords = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), rmask, row_off,
                                                            (const void *)(w[0] + (size_t)b * bb), 1);
        const __m256 dw = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(dwords)); /* the low 16 bits: d */
        const __m256i xv = _mm256_load_si256((const __m256i *)(xr + b * 32));
        const __m256i bias = _mm256_set1_epi32(biases[b]);
        __m256i s[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) s[r] = r < R ? _mm256_dpbusd_epi32(bias, wv[r], xv) : _mm256_setzero_si256();
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8x8_epi32(s)), _mm256_mul_ps(dw, _mm256_set1_ps(dxs[b])), acc);
    }
    float out[8];
    _mm256_storeu_ps(out, acc);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) a->Y[(size_t)(p->groups * 16) * a->M + m + r] = out[r];
}

/* ---- small-batch tiles: 4 weight rows x NL lane groups ----
 * Lane L = 4r + q of a 512-bit vector holds weight row r against lane q of a lane group. At
 * step s one permute puts 4 bytes of each weight row into its 4 lanes (the chunk lane q needs,
 * lane_chunk), and one vpdpbusd multiplies them with the lane group's prepared bytes for that
 * step (a 16-byte pattern broadcast to the 4 rows): 16 (weight row, activation row) pairs
 * per instruction and no horizontal sums. A quad group has 4 activation rows and 8 steps per
 * block; a pair group has 2 rows x 2 chunk halves (4 steps), whose two lanes are added once
 * per block; a single row (q4_0 only) 4 chunk quarters (2 steps), added once per block. RH
 * row quads (1 or 2) share the activation loads. Weight rows past the tile's last row repeat it (valid memory, never stored). */

/* The permute index of step s: lane 4r + q takes dword r * 8 + chunk (q8_0: rows 0-1 in the
 * first source, 2-3 in the second) or r * 4 + chunk % 4 (q4_0: the low or the high nibbles). */
FR_AI __m512i small_perm_index(int mode, int s, const int q4) {
    const __m512i row = q4 ? _mm512_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12)
                           : _mm512_setr_epi32(0, 0, 0, 0, 8, 8, 8, 8, 16, 16, 16, 16, 24, 24, 24, 24);
    /* chunk = s * (4 / mode) + q / mode */
    const __m512i q = _mm512_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3);
    const __m512i qd = mode == 1 ? q : mode == 2 ? _mm512_srli_epi32(q, 1) : _mm512_setzero_si512();
    const int c0 = s * (4 / mode);
    return _mm512_add_epi32(_mm512_add_epi32(row, qd), _mm512_set1_epi32(q4 ? c0 & 3 : c0));
}

FR_AI void tile_small(const fr_mm_args *a, const xplan *p, int m, int m_last, const int NL, const int mode,
                      const int q4, const int RH) {
    const int nb = p->nb, steps = 2 * mode;
    const size_t bb = q4 ? 18 : 34, lb = p->lb, xstride = (size_t)nb * lb;
    /* row r's block b is at w0 + b * bb + off[r] (rows past m_last repeat it) */
    const uint8_t *w0 = a->W + (size_t)m * a->w_row_bytes;
    size_t off[8];
#pragma GCC unroll 8
    for (int r = 0; r < 4 * RH; r++) off[r] = (size_t)((m + r <= m_last ? r : m_last - m)) * a->w_row_bytes;
    const size_t pf = FR_PREFETCH_ROWS * a->w_row_bytes;
    const uint8_t *x0 = a->xq + p->gbytes;
    __m512 acc[2][3];
#pragma GCC unroll 2
    for (int h = 0; h < RH; h++)
#pragma GCC unroll 4
        for (int k = 0; k < NL; k++) acc[h][k] = _mm512_setzero_ps();
    __m512i pidx[8];
#pragma GCC unroll 8
    for (int s = 0; s < steps; s++) pidx[s] = small_perm_index(mode, s, q4);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i low = _mm512_set1_epi8(0x0f);
    const __m512i dw_spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int b = 0; b < nb; b++) {
        const uint8_t *wb0 = w0 + (size_t)b * bb, *xb = x0 + (size_t)b * lb;
#pragma GCC unroll 2
        for (int h = 0; h < RH; h++) {
            const uint8_t *blk[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                blk[r] = wb0 + off[4 * h + r];
                _mm_prefetch((const char *)(blk[r] + pf), _MM_HINT_T0);
            }
            const __m512 dw = _mm512_permutexvar_ps(dw_spread, _mm512_castps128_ps512(_mm_cvtph_ps(load_scales4(blk))));
            __m512i wa, wb;
            if (q4) {
                __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(blk[0] + 2)));
                v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(blk[1] + 2)), 1);
                v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(blk[2] + 2)), 2);
                v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(blk[3] + 2)), 3);
                wa = _mm512_and_si512(v, low);
                wb = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
            } else {
                wa = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(blk[0] + 2))),
                                        _mm256_loadu_si256((const __m256i *)(blk[1] + 2)), 1);
                wb = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(blk[2] + 2))),
                                        _mm256_loadu_si256((const __m256i *)(blk[3] + 2)), 1);
                wa = _mm512_xor_si512(wa, flip);
                wb = _mm512_xor_si512(wb, flip);
            }
            __m512i sum[3];
#pragma GCC unroll 4
            for (int k = 0; k < NL; k++)
                sum[k] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(xb + k * xstride + steps * 16 + 16)));
#pragma GCC unroll 8
            for (int s = 0; s < steps; s++) {
                __m512i wv;
                if (q4) /* chunks 0-3 are the low nibbles, 4-7 the high ones */
                    wv = _mm512_permutexvar_epi32(pidx[s], lane_chunk(mode, 0, s) < 4 ? wa : wb);
                else
                    wv = _mm512_permutex2var_epi32(wa, pidx[s], wb);
#pragma GCC unroll 4
                for (int k = 0; k < NL; k++) {
                    const __m512i xv = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(xb + k * xstride + s * 16)));
                    sum[k] = _mm512_dpbusd_epi32(sum[k], wv, xv);
                }
            }
#pragma GCC unroll 4
            for (int k = 0; k < NL; k++) {
                if (mode <= 2) /* lanes q and q ^ 2 hold two halves of one block */
                    sum[k] = _mm512_add_epi32(sum[k], _mm512_shuffle_epi32(sum[k], _MM_PERM_BADC));
                if (mode == 1) /* and lanes q and q ^ 1 two quarters */
                    sum[k] = _mm512_add_epi32(sum[k], _mm512_shuffle_epi32(sum[k], _MM_PERM_CDAB));
                const __m512 dx = _mm512_broadcast_f32x4(_mm_loadu_ps((const float *)(xb + k * xstride + steps * 16)));
                acc[h][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[k]), _mm512_mul_ps(dw, dx), acc[h][k]);
            }
        }
    }
    /* lane 4r + q -> 4q + r: each 128-bit quarter is then 4 consecutive outputs of one lane q */
    const __m512i tr = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const int nrows = mode;
#pragma GCC unroll 2
    for (int h = 0; h < RH; h++) {
        const int mh = m + 4 * h;
        const int nr = m_last - mh + 1 < 4 ? m_last - mh + 1 : 4;
        if (nr <= 0) break;
        const __mmask8 rmask = (__mmask8)((1u << nr) - 1u);
#pragma GCC unroll 4
        for (int k = 0; k < NL; k++) {
            const __m512 t = _mm512_permutexvar_ps(tr, acc[h][k]);
            float out[16];
            _mm512_storeu_ps(out, t);
            for (int q = 0; q < nrows; q++) {
                const int n = p->groups * 16 + mode * k + q;
                if (n >= a->N) break;
                _mm_mask_storeu_ps(a->Y + (size_t)n * a->M + mh, rmask, _mm_loadu_ps(out + 4 * q));
            }
        }
    }
}

/* ---- quantised GEMM tiles: R weight rows x one group of 16 activation rows ----
 * Each 512-bit vpdpbusd takes 4 bytes of one weight row (broadcast) against the same 4
 * bytes of 16 activation rows, so lane j accumulates the block dot of activation row j;
 * one int->float conversion and one FMA then serve 16 outputs. */

FR_AI uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

FR_AI void gemm_tile(const fr_mm_args *a, const xplan *p, int m, int g, const int R, const int q4) {
    const int nb = p->nb;
    const size_t bb = q4 ? 18 : 34;
    const uint8_t *xg = a->xq + (size_t)g * (size_t)nb * FR_GBLOCK;
    const uint8_t *w[8];
    __m512 acc[8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        w[r] = a->W + (size_t)(m + r) * a->w_row_bytes;
        acc[r] = _mm512_setzero_ps();
    }
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int b = 0; b < nb; b++) {
        const uint8_t *xb = xg + (size_t)b * FR_GBLOCK;
        const __m512i bias = _mm512_load_si512((const void *)(xb + 576));
        __m512i s[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) s[r] = bias;
        if (q4) {
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const __m512i xlo = _mm512_load_si512((const void *)(xb + c * 64));
                const __m512i xhi = _mm512_load_si512((const void *)(xb + (c + 4) * 64));
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) {
                    __m512i v = _mm512_set1_epi32((int)load_u32(w[r] + (size_t)b * bb + 2 + 4 * c));
                    s[r] = _mm512_dpbusd_epi32(s[r], _mm512_and_si512(v, low), xlo);
                    s[r] = _mm512_dpbusd_epi32(s[r], _mm512_and_si512(_mm512_srli_epi32(v, 4), low), xhi);
                }
            }
        } else {
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) {
                const __m512i xv = _mm512_load_si512((const void *)(xb + c * 64));
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) {
                    __m512i v = _mm512_set1_epi32((int)load_u32(w[r] + (size_t)b * bb + 2 + 4 * c));
                    s[r] = _mm512_dpbusd_epi32(s[r], _mm512_xor_si512(v, flip), xv);
                }
            }
        }
        const __m512 dx = _mm512_load_ps((const void *)(xb + 512));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            uint16_t h;
            memcpy(&h, w[r] + (size_t)b * bb, 2);
            __m512 dw = _mm512_cvtph_ps(_mm256_set1_epi16((short)h));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r]), _mm512_mul_ps(dw, dx), acc[r]);
        }
    }
    const int n0 = g * 16;
    const int valid = a->N - n0 < 16 ? a->N - n0 : 16;
    const __mmask16 mk = (__mmask16)((1u << valid) - 1u);
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(a->M));
    float *y = a->Y + (size_t)n0 * a->M + m;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) _mm512_mask_i32scatter_ps(y + r, mk, idx, acc[r], 4);
}


/* ---- row loops ---- */

/* Activation groups are taken FR_NCHUNK rows at a time (they stay in L2). */
#define FR_NCHUNK 64

#define FR_QROWS_FN(name, q4)                                                                \
    static void name(const fr_mm_args *a, int m0, int m1) {                                       \
        const xplan p = make_plan(a);                                                              \
        for (int c0 = 0; c0 < p.groups; c0 += FR_NCHUNK / 16) {                                    \
            const int c1 = p.groups - c0 < FR_NCHUNK / 16 ? p.groups : c0 + FR_NCHUNK / 16;        \
            int m = m0;                                                                            \
            for (; m + 8 <= m1; m += 8)                                                            \
                for (int g = c0; g < c1; g++) gemm_tile(a, &p, m, g, 8, q4);                       \
            for (; m + 4 <= m1; m += 4)                                                            \
                for (int g = c0; g < c1; g++) gemm_tile(a, &p, m, g, 4, q4);                       \
            for (; m < m1; m++)                                                                    \
                for (int g = c0; g < c1; g++) gemm_tile(a, &p, m, g, 1, q4);                       \
        }                                                                                          \
        int m = m0;                                                                                \
        switch (p.mode) {                                                                          \
        case FR_SMALL_ROW:                                                                         \
            for (; m + 8 <= m1; m += 8) tile_row(a, &p, m, 8, q4);                                 \
            for (; m + 4 <= m1; m += 4) tile_row(a, &p, m, 4, q4);                                 \
            for (; m < m1; m++) tile_row(a, &p, m, 1, q4);                                         \
            break;                                                                                 \
        case FR_SMALL_ONE:                                                                         \
            for (; m + 8 <= m1; m += 8) tile_small(a, &p, m, m1 - 1, 1, FR_SMALL_ONE, q4, 2);                              \
            for (; m < m1; m += 4) tile_small(a, &p, m, m1 - 1, 1, FR_SMALL_ONE, q4, 1);              \
            break;                                                                                 \
        case FR_SMALL_PAIR:                                                                        \
            for (; m < m1; m += 4) tile_small(a, &p, m, m1 - 1, 1, FR_SMALL_PAIR, q4, 1);             \
            break;                                                                                 \
        case FR_SMALL_QUAD:                                                                        \
            if (p.lgroups == 1)                                                                    \
                for (; m < m1; m += 4) tile_small(a, &p, m, m1 - 1, 1, FR_SMALL_QUAD, q4, 1);         \
            else if (p.lgroups == 2)                                                               \
                for (; m < m1; m += 4) tile_small(a, &p, m, m1 - 1, 2, FR_SMALL_QUAD, q4, 1);         \
            else                                                                                   \
                for (; m < m1; m += 4) tile_small(a, &p, m, m1 - 1, 3, FR_SMALL_QUAD, q4, 1);         \
            break;                                                                                 \
        }                                                                                          \
    }

FR_QROWS_FN(rows_q8, 0)
FR_QROWS_FN(rows_q4, 1)

/* ---- Q8_0 x16 packed weights (layout: kernels.h): 16 weight rows x T activation rows ----
 * Lane r of every vector is weight row r of a group. Per 32-block: 8 aligned loads give the
 * 8 chunks of 4 bytes of the 16 rows (already unsigned), and for each activation row n
 * s = bias[n] + sum_c vpdpbusd(chunk c, 4 bytes c of row n broadcast) is the exact block dot
 * of the 16 rows (two partial chains, added exactly, when T <= 2), then
 * acc[n] = fma(float(s), d_w * d_x[n], acc[n]). No horizontal sums, no scale gather, no xor;
 * the weight loads serve T activation rows and acc[n] is 16 consecutive outputs.
 *
 * Activations (prep_x16): row n at xq + n * rs: qs[nb][32] | d[nb] (f32) | bias[nb] (int32,
 * -128 * sum(qs) of the block), rs = that rounded up to 64 bytes. */

/* Activation rows per tile (registers: 8 weight chunks + T accumulators + temporaries). */
#define FR_X16_T 12
/* Activation rows per pass over the thread's weight groups (they stay in L1/L2). */
#define FR_X16_NCHUNK 48
/* Software prefetch of the weight stream, bytes ahead (0: none): 4096 measured best of
 * 0..32768 (T0, T1 and NTA hints) on a 100 MB matrix at N = 1. */
#ifndef FR_X16_PF
#define FR_X16_PF 4096
#endif

static void prep_x16(const fr_mm_args *a, int n0, int n1) {
    const int nb = a->K / 32;
    const size_t rs = row_stride(nb);
    if (n1 > a->N) n1 = a->N;
    for (int n = n0; n < n1; n++) quant_row(a->X + (size_t)n * a->K, a->xq + (size_t)n * rs, nb, -128);
}

/* One group (ws: its scales, wq: its quants) x T activation rows from x0; y: the outputs of
 * activation row 0 (row n at y + n * M), mk: the valid weight rows. */
FR_AI void x16_tile(const uint16_t *ws, const uint8_t *wq, const uint8_t *x0, size_t rs, int nb, const int T,
                    float *y, size_t M, __mmask16 mk) {
    __m512 acc[FR_X16_T];
#pragma GCC unroll 12
    for (int n = 0; n < T; n++) acc[n] = _mm512_setzero_ps();
    const float *dx0 = (const float *)(x0 + (size_t)nb * 32);
    const int32_t *bias0 = (const int32_t *)(x0 + (size_t)nb * 36);
    for (int b = 0; b < nb; b++) {
        const uint8_t *wb = wq + (size_t)b * 512;
        __m512i w[8];
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            if (FR_X16_PF) _mm_prefetch((const char *)(wb + FR_X16_PF + c * 64), _MM_HINT_T0);
            w[c] = _mm512_load_si512((const void *)(wb + c * 64));
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(ws + (size_t)b * 16)));
#pragma GCC unroll 12
        for (int n = 0; n < T; n++) {
            const uint8_t *xb = x0 + (size_t)n * rs + (size_t)b * 32;
            const float dx = *(const float *)((const uint8_t *)(dx0 + b) + (size_t)n * rs);
            const int32_t bias = *(const int32_t *)((const uint8_t *)(bias0 + b) + (size_t)n * rs);
            __m512i sum;
            if (T <= 2) { /* two chains: more independent work per block */
                __m512i s0 = _mm512_set1_epi32(bias), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    s0 = _mm512_dpbusd_epi32(s0, w[c], _mm512_set1_epi32((int)load_u32(xb + 4 * c)));
                    s1 = _mm512_dpbusd_epi32(s1, w[c + 4], _mm512_set1_epi32((int)load_u32(xb + 16 + 4 * c)));
                }
                sum = _mm512_add_epi32(s0, s1);
            } else {
                sum = _mm512_set1_epi32(bias);
#pragma GCC unroll 8
                for (int c = 0; c < 8; c++)
                    sum = _mm512_dpbusd_epi32(sum, w[c], _mm512_set1_epi32((int)load_u32(xb + 4 * c)));
            }
            acc[n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc[n]);
        }
    }
#pragma GCC unroll 12
    for (int n = 0; n < T; n++) _mm512_mask_storeu_ps(y + (size_t)n * M, mk, acc[n]);
}

static void rows_x16(const fr_mm_args *a, int m0, int m1) {
    const int nb = a->K / 32;
    const size_t rs = row_stride(nb), gb = fr_q8x16_group_bytes(a->K), sb = fr_q8x16_scale_bytes(a->K);
    const size_t M = (size_t)a->M;
    for (int c0 = 0; c0 < a->N; c0 += FR_X16_NCHUNK) {
        const int c1 = a->N - c0 < FR_X16_NCHUNK ? a->N : c0 + FR_X16_NCHUNK;
        for (int m = m0; m < m1; m += 16) { /* m0 is a multiple of 16 */
            const uint8_t *grp = a->W + (size_t)(m / 16) * gb;
            const uint16_t *ws = (const uint16_t *)grp;
            const uint8_t *wq = grp + sb;
            const int rows = m1 - m < 16 ? m1 - m : 16;
            const __mmask16 mk = (__mmask16)((1u << rows) - 1u);
            for (int n = c0; n < c1; n += FR_X16_T) {
                const uint8_t *x0 = a->xq + (size_t)n * rs;
                float *y = a->Y + (size_t)n * M + m;
                switch (c1 - n < FR_X16_T ? c1 - n : FR_X16_T) {
                case 1: x16_tile(ws, wq, x0, rs, nb, 1, y, M, mk); break;
                case 2: x16_tile(ws, wq, x0, rs, nb, 2, y, M, mk); break;
                case 3: x16_tile(ws, wq, x0, rs, nb, 3, y, M, mk); break;
                case 4: x16_tile(ws, wq, x0, rs, nb, 4, y, M, mk); break;
                case 5: x16_tile(ws, wq, x0, rs, nb, 5, y, M, mk); break;
                case 6: x16_tile(ws, wq, x0, rs, nb, 6, y, M, mk); break;
                case 7: x16_tile(ws, wq, x0, rs, nb, 7, y, M, mk); break;
                case 8: x16_tile(ws, wq, x0, rs, nb, 8, y, M, mk); break;
                case 9: x16_tile(ws, wq, x0, rs, nb, 9, y, M, mk); break;
                case 10: x16_tile(ws, wq, x0, rs, nb, 10, y, M, mk); break;
                case 11: x16_tile(ws, wq, x0, rs, nb, 11, y, M, mk); break;
                default: x16_tile(ws, wq, x0, rs, nb, FR_X16_T, y, M, mk); break;
                }
            }
        }
    }
}

void fr_mm_rows_avx512(const fr_mm_args *a, int m0, int m1) {
    if (a->x16) {
        rows_x16(a, m0, m1);
        return;
    }
    switch (a->wtype) {
    case FR_TYPE_Q8_0: rows_q8(a, m0, m1); break;
    case FR_TYPE_Q4_0: rows_q4(a, m0, m1); break;
    case FR_TYPE_F32:
    case FR_TYPE_F16: fr_mm_rows_float_avx512(a, m0, m1); break;
    }
}
