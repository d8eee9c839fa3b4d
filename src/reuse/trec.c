/* TREC convolution: the fast path (portable C; the float hash and partial-product loops
 * switch to the AVX2 kernels of trec_avx2.c when the caller's isa allows; the int8 path
 * is the body fr_trec_s8_body of trec_internal.h, instantiated here with portable kernels
 * and in trec_avx2.c / trec_avx512.c with SIMD ones).
 *
 * Same algorithm and the same summation orders as trec_ref.c, so the results are
 * bit-identical; what changes is the memory access:
 *   - a sub-vector is gathered by runs of input channels (one memcpy-like run per filter
 *     tap) instead of element by element, and read in place when it is one run;
 *   - the projections and the filter slice of each sub-vector are transposed once
 *     (t-major) so that the H hash sums and the out_c partial sums advance together in
 *     loops over h / oc that the compiler vectorises (each sum still adds its terms in
 *     order t = 0, 1, ...; products are rounded before the add: no contraction);
 *   - the bucket -> cluster table is only reset for the buckets used.
 */
#include <string.h>

#include "cnn/ops_internal.h"
#include "reuse/trec_internal.h"

/* Pointer to the start of filter tap (fy, fx) of row r in the input, or NULL when the tap
 * is in the padding. */
static inline const void *trec_tap(const fr_cnn_geom *g, const void *input, size_t esize,
                                   int b, int oy, int ox, int fy, int fx) {
    const int iy = oy * g->stride_h - g->pad_top + fy * g->dil_h;
    const int ix = ox * g->stride_w - g->pad_left + fx * g->dil_w;
    if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) return NULL;
    const size_t off = (((size_t)b * g->in_h + iy) * g->in_w + ix) * g->in_c;
    return (const unsigned char *)input + off * esize;
}

/* Sub-vector [k0, k0 + Lj) of row (b, oy, ox), float: returns a pointer to it, either in
 * the input (one in-bounds run) or in xbuf. */
static const float *gather_f32(const fr_cnn_geom *g, const float *input, int b, int oy, int ox,
                               int k0, int Lj, float *xbuf) {
    const int cin = g->in_c;
    int k = k0;
    const int end = k0 + Lj;
    {
        const int pix = k / cin, ic = k % cin;
        if (cin - ic >= Lj) {
            const float *src = trec_tap(g, input, sizeof(float), b, oy, ox, pix / g->k_w,
                                        pix % g->k_w);
            if (src) return src + ic;
            memset(xbuf, 0, (size_t)Lj * sizeof *xbuf);
            return xbuf;
        }
    }
    float *dst = xbuf;
    while (k < end) {
        const int pix = k / cin, ic = k % cin;
        const int n = cin - ic < end - k ? cin - ic : end - k;
        const float *src =
            trec_tap(g, input, sizeof(float), b, oy, ox, pix / g->k_w, pix % g->k_w);
        if (src)
            memcpy(dst, src + ic, (size_t)n * sizeof *dst);
        else
            memset(dst, 0, (size_t)n * sizeof *dst);
        dst += n;
        k += n;
    }
    return xbuf;
}

static void hash_f32_c(const float *pt, int Hp, const float *x, int Lj, float *d) {
    for (int h = 0; h < Hp; h++) d[h] = 0.0f;
    for (int t = 0; t < Lj; t++) {
        const float xt = x[t];
        const float *pr = pt + (size_t)t * Hp;
        for (int h = 0; h < Hp; h++) {
            const float prod = pr[h] * xt;
            d[h] = d[h] + prod;
        }
    }
}

static void partial_f32_c(const float *cent, int Lj, const float *wt, int cout, float *y) {
    for (int oc = 0; oc < cout; oc++) y[oc] = 0.0f;
    for (int t = 0; t < Lj; t++) {
        const float ct = cent[t];
        const float *w = wt + (size_t)t * cout;
        for (int oc = 0; oc < cout; oc++) {
            const float prod = ct * w[oc];
            y[oc] = y[oc] + prod;
        }
    }
}

/* Decomposes the group-relative row index into (b, oy, ox). */
static inline void row_coords(const fr_cnn_geom *g, int64_t r, int *b, int *oy, int *ox) {
    *ox = (int)(r % g->out_w);
    *oy = (int)((r / g->out_w) % g->out_h);
    *b = (int)(r / ((int64_t)g->out_w * g->out_h));
}

void fr_trec_conv_f32(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g,
                      fr_cnn_range_f32 act, const float *input, const float *filter,
                      const float *bias, float *output, void *scratch, fr_trec_stats *stats) {
    fr_trec_hash_f32_fn hash = hash_f32_c;
    fr_trec_partial_f32_fn partial = partial_f32_c;
#if FR_X86
    if (isa >= FR_ISA_AVX2) {
        hash = fr_trec_hash_f32_avx2;
        partial = fr_trec_partial_f32_avx2;
    }
#endif
    fr_trec_layout lo;
    fr_trec_layout_init(&lo, p, g, 0);
    fr_trec_stats_begin(stats, &lo);
    unsigned char *s = scratch;
    int32_t *table = (int32_t *)(s + lo.off_table);
    int32_t *cl = (int32_t *)(s + lo.off_cl);
    int32_t *counts = (int32_t *)(s + lo.off_counts);
    float *sums = (float *)(s + lo.off_sums); /* cluster slots: sums, then partials */
    float *xbuf = (float *)(s + lo.off_xbuf);
    float *d = (float *)(s + lo.off_dbuf);
    float *wt = (float *)(s + lo.off_wt);
    float *pt = (float *)(s + lo.off_pt);
    int32_t *cid = (int32_t *)(s + lo.off_cid);
    const int K = lo.K, L = lo.L, H = lo.H, J = lo.J, cout = lo.cout, S = lo.slot;
    const int64_t G = lo.group_rows;
    const int buckets = 1 << H, Hp = fr_trec_hpad(H);
    /* the table is reset once here and then only at the buckets used (cid) */
    for (int b = 0; b < buckets; b++) table[b] = -1;

    for (int grp = 0; grp < lo.n_groups; grp++) {
        const int64_t r0 = (int64_t)grp * G;
        float *out0 = output + r0 * cout;
        for (int64_t i = 0; i < G; i++) {
            float *o = out0 + i * cout;
            if (bias)
                memcpy(o, bias, (size_t)cout * sizeof *o);
            else
                memset(o, 0, (size_t)cout * sizeof *o);
        }
        for (int j = 0; j < J; j++) {
            const int k0 = j * L;
            const int Lj = K - k0 < L ? K - k0 : L;
            const float *P = p->proj_f32 + (size_t)H * k0;
            const float *offs = p->offset_f32 ? p->offset_f32 + (size_t)j * H : NULL;
            for (int t = 0; t < Lj; t++)
                for (int h = 0; h < Hp; h++) pt[t * Hp + h] = h < H ? P[h * Lj + t] : 0.0f;
            for (int oc = 0; oc < cout; oc++) {
                const float *w = filter + (size_t)oc * K + k0;
                for (int t = 0; t < Lj; t++) wt[(size_t)t * cout + oc] = w[t];
            }
            int32_t nc = 0;
            for (int64_t i = 0; i < G; i++) {
                const int64_t r = r0 + i;
                int b, oy, ox;
                row_coords(g, r, &b, &oy, &ox);
                const float *x = gather_f32(g, input, b, oy, ox, k0, Lj, xbuf);
                hash(pt, Hp, x, Lj, d);
                if (offs)
                    for (int h = 0; h < H; h++) d[h] = d[h] + offs[h];
                const unsigned id = fr_trec_bits_f32(d, H);
                if (stats && stats->bucket_ids) stats->bucket_ids[r * J + j] = (uint16_t)id;
                int32_t c = table[id];
                float *sm;
                if (c < 0) {
                    c = nc++;
                    table[id] = c;
                    counts[c] = 1;
                    sm = sums + (size_t)c * S;
                    memcpy(sm, x, (size_t)Lj * sizeof *sm);
                    /* 0.0f + x == x except for -0.0 (gives +0.0), as the reference */
                    for (int t = 0; t < Lj; t++) sm[t] = 0.0f + sm[t];
                } else {
                    counts[c]++;
                    sm = sums + (size_t)c * S;
                    for (int t = 0; t < Lj; t++) sm[t] += x[t];
                }
                cl[i] = c;
                cid[c] = (int32_t)id;
            }
            /* each cluster's centroid goes to xbuf and its partial products replace its
             * sums in its slot */
            for (int32_t c = 0; c < nc; c++) {
                table[cid[c]] = -1;
                float *slot = sums + (size_t)c * S;
                const float n = (float)counts[c];
                for (int t = 0; t < Lj; t++) xbuf[t] = slot[t] / n;
                partial(xbuf, Lj, wt, cout, slot);
            }
            for (int64_t i = 0; i < G; i++) {
                const float *y = sums + (size_t)cl[i] * S;
                float *o = out0 + i * cout;
                for (int oc = 0; oc < cout; oc++) o[oc] += y[oc];
            }
            fr_trec_stats_add(stats, &lo, j, Lj, nc);
        }
        for (int64_t i = 0; i < G * cout; i++) out0[i] = fr_cnn_clampf(out0[i], act);
    }
}

/* Portable int8 kernels (packed layouts: trec_internal.h). */
static uint32_t hash_s8_c(const int16_t *ptp, int Hq, int H, const int16_t *v, int np,
                          const int32_t *thr) {
    int32_t d[FR_TREC_MAX_HASH_BITS];
    for (int h = 0; h < H; h++) d[h] = 0;
    for (int pp = 0; pp < np; pp++) {
        const int32_t v0 = v[2 * pp], v1 = v[2 * pp + 1];
        const int16_t *pr = ptp + (size_t)pp * Hq * 2;
        for (int h = 0; h < H; h++) d[h] += pr[2 * h] * v0 + pr[2 * h + 1] * v1;
    }
    uint32_t id = 0;
    for (int h = 0; h < H; h++) id |= (uint32_t)(d[h] >= thr[h]) << h;
    return id;
}

static void partial_s8_c(const int16_t *cent, int np, const int16_t *wt2, int cout, int32_t *y) {
    for (int oc = 0; oc < cout; oc++) y[oc] = 0;
    for (int pp = 0; pp < np; pp++) {
        const int32_t c0 = cent[2 * pp], c1 = cent[2 * pp + 1];
        const int16_t *w = wt2 + (size_t)pp * cout * 2;
        for (int oc = 0; oc < cout; oc++) y[oc] += c0 * w[2 * oc] + c1 * w[2 * oc + 1];
    }
}

void fr_trec_conv_s8(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g,
                     const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                     const int32_t *bias, int8_t *output, void *scratch,
                     fr_trec_stats *stats) {
#if FR_X86
    if (isa >= FR_ISA_AVX512) {
        fr_trec_conv_s8_avx512(p, g, q, input, filter, bias, output, scratch, stats);
        return;
    }
    if (isa >= FR_ISA_AVX2) {
        fr_trec_conv_s8_avx2(p, g, q, input, filter, bias, output, scratch, stats);
        return;
    }
#else
    (void)isa;
#endif
#if FR_TREC_ARM_DSP
    fr_trec_conv_s8_armdsp(p, g, q, input, filter, bias, output, scratch, stats);
    return;
#endif
    fr_trec_s8_body(p, g, q, input, filter, bias, output, scratch, stats, hash_s8_c,
                    partial_s8_c, fr_trec_requant_rows_c,
                    fr_trec_cent_div, 0);
}
