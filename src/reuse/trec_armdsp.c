/* TREC int8 convolution for Arm cores with the DSP extension (Cortex-M4, Cortex-M7):
 * fr_trec_s8_body (trec_internal.h) with SMLAD kernels (two 16x16-bit products added to a
 * 32-bit accumulator per instruction) on the packed int16 pairs. Every product fits and no
 * sum can overflow (trec.h), so the results are bit-identical to the scalar reference.
 * Compiled to nothing elsewhere (the whole file is for __ARM_FEATURE_DSP targets); the
 * firmware test (tests/mcu, ic_trec) checks it against the host bit for bit. */
#include "reuse/trec_internal.h"
#include "reuse/trec_s8_body.h"

#if FR_TREC_ARM_DSP
#include <arm_acle.h>
#include <string.h>

static inline int32_t pair_at(const int16_t *v, int pp) {
    int32_t x;
    memcpy(&x, v + 2 * pp, 4);
    return x;
}

/* Eight (then four) hash bits per pass over the row's pairs (each pair loaded once for
 * all of them), then the remaining ones one by one. */
static uint32_t hash_s8_dsp(const int16_t *ptp, int Hq, int H, const int16_t *v, int np,
                            const int32_t *thr) {
    uint32_t id = 0;
    const size_t step = (size_t)Hq * 2;
    int h = 0;
    for (; h + 8 <= H; h += 8) {
        int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0, d4 = 0, d5 = 0, d6 = 0, d7 = 0;
        const int16_t *pr = ptp + (size_t)h * 2;
        for (int pp = 0; pp < np; pp++, pr += step) {
            const int32_t x = pair_at(v, pp);
            d0 = __smlad(x, pair_at(pr, 0), d0);
            d1 = __smlad(x, pair_at(pr, 1), d1);
            d2 = __smlad(x, pair_at(pr, 2), d2);
            d3 = __smlad(x, pair_at(pr, 3), d3);
            d4 = __smlad(x, pair_at(pr, 4), d4);
            d5 = __smlad(x, pair_at(pr, 5), d5);
            d6 = __smlad(x, pair_at(pr, 6), d6);
            d7 = __smlad(x, pair_at(pr, 7), d7);
        }
        id |= ((uint32_t)(d0 >= thr[h]) | (uint32_t)(d1 >= thr[h + 1]) << 1 |
               (uint32_t)(d2 >= thr[h + 2]) << 2 | (uint32_t)(d3 >= thr[h + 3]) << 3 |
               (uint32_t)(d4 >= thr[h + 4]) << 4 | (uint32_t)(d5 >= thr[h + 5]) << 5 |
               (uint32_t)(d6 >= thr[h + 6]) << 6 | (uint32_t)(d7 >= thr[h + 7]) << 7)
              << h;
    }
    for (; h + 4 <= H; h += 4) {
        int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;
        const int16_t *pr = ptp + (size_t)h * 2;
        for (int pp = 0; pp < np; pp++, pr += step) {
            const int32_t x = pair_at(v, pp);
            d0 = __smlad(x, pair_at(pr, 0), d0);
            d1 = __smlad(x, pair_at(pr, 1), d1);
            d2 = __smlad(x, pair_at(pr, 2), d2);
            d3 = __smlad(x, pair_at(pr, 3), d3);
        }
        id |= (uint32_t)(d0 >= thr[h]) << h | (uint32_t)(d1 >= thr[h + 1]) << (h + 1) |
              (uint32_t)(d2 >= thr[h + 2]) << (h + 2) | (uint32_t)(d3 >= thr[h + 3]) << (h + 3);
    }
    for (; h < H; h++) {
        int32_t d0 = 0;
        const int16_t *pr = ptp + (size_t)h * 2;
        for (int pp = 0; pp < np; pp++, pr += step)
            d0 = __smlad(pair_at(v, pp), pair_at(pr, 0), d0);
        id |= (uint32_t)(d0 >= thr[h]) << h;
    }
    return id;
}

/* Eight (then four) output channels per pass over the centroid's pairs, then the rest one
 * by one. */
static void partial_s8_dsp(const int16_t *cent, int np, const int16_t *wt2, int cout,
                           int32_t *y) {
    const size_t step = (size_t)cout * 2;
    int oc = 0;
    for (; oc + 8 <= cout; oc += 8) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        const int16_t *w = wt2 + (size_t)oc * 2;
        for (int pp = 0; pp < np; pp++, w += step) {
            const int32_t c = pair_at(cent, pp);
            a0 = __smlad(c, pair_at(w, 0), a0);
            a1 = __smlad(c, pair_at(w, 1), a1);
            a2 = __smlad(c, pair_at(w, 2), a2);
            a3 = __smlad(c, pair_at(w, 3), a3);
            a4 = __smlad(c, pair_at(w, 4), a4);
            a5 = __smlad(c, pair_at(w, 5), a5);
            a6 = __smlad(c, pair_at(w, 6), a6);
            a7 = __smlad(c, pair_at(w, 7), a7);
        }
        y[oc] = a0;
        y[oc + 1] = a1;
        y[oc + 2] = a2;
        y[oc + 3] = a3;
        y[oc + 4] = a4;
        y[oc + 5] = a5;
        y[oc + 6] = a6;
        y[oc + 7] = a7;
    }
    for (; oc + 4 <= cout; oc += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        const int16_t *w = wt2 + (size_t)oc * 2;
        for (int pp = 0; pp < np; pp++, w += step) {
            const int32_t c = pair_at(cent, pp);
            a0 = __smlad(c, pair_at(w, 0), a0);
            a1 = __smlad(c, pair_at(w, 1), a1);
            a2 = __smlad(c, pair_at(w, 2), a2);
            a3 = __smlad(c, pair_at(w, 3), a3);
        }
        y[oc] = a0;
        y[oc + 1] = a1;
        y[oc + 2] = a2;
        y[oc + 3] = a3;
    }
    for (; oc < cout; oc++) {
        int32_t a0 = 0;
        const int16_t *w = wt2 + (size_t)oc * 2;
        for (int pp = 0; pp < np; pp++, w += step) a0 = __smlad(pair_at(cent, pp), pair_at(w, 0), a0);
        y[oc] = a0;
    }
}

void fr_trec_conv_s8_armdsp(const fr_trec_params *p, const fr_cnn_geom *g,
                            const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, void *scratch,
                            fr_trec_stats *stats) {
    fr_trec_s8_body(p, g, q, input, filter, bias, output, scratch, stats, hash_s8_dsp,
                    partial_s8_dsp, fr_trec_requant_rows_c,
                    fr_trec_cent_div, 0);
}
#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int fr_trec_armdsp_unused;
#endif
