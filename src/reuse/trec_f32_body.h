/* The float TREC convolution fast path: one body, instantiated per ISA file (trec.c with
 * portable kernels, trec_avx2.c with AVX2 ones), so that the loops around the kernels are
 * compiled (and auto-vectorised) for that ISA and the kernels inline.
 *
 * Same algorithm and summation orders as fr_trec_conv_f32_ref (trec_ref.c), so the results
 * are bit-identical (every sum adds its terms in order; the hash's products are rounded
 * before the add, separate multiplies and adds, which GCC does not contract into FMAs in
 * ISO C11; the partial products are fused multiply-adds, fmaf in the reference). What
 * changes is the work's shape:
 *   - a sub-vector is read in place when it is one run of input channels (the common case
 *     L = in_c), otherwise gathered by runs per filter tap;
 *   - the projections are transposed (t-major) once per sub-vector, the whole filter
 *     (t-major, K x cout) once per call;
 *   - two passes per sub-vector: first the bucket ids of all rows, FR_TREC_HASH_ROWS rows per
 *     kernel call (their hash sums are independent chains, so the adds overlap instead of
 *     waiting on each other's latency), then the clusters in row order (the reference's
 *     order: cluster numbers and sums are the same);
 *   - pixel mode computes the partial products of FR_TREC_PART_BLOCK clusters per kernel
 *     call (the filter slice loaded once for them);
 *   - row coordinates are advanced, not divided out, for every row;
 *   - the bucket -> cluster table is only reset at the buckets used.
 */
#ifndef FR_TREC_F32_BODY_H
#define FR_TREC_F32_BODY_H

#include <string.h>

#include "cnn/ops_internal.h"
#include "reuse/trec_internal.h"

/* Hash sums of R <= FR_TREC_HASH_ROWS rows: d[q * Hp + h] = sum_t pt[t * Hp + h] * x[q][t]. */
typedef void (*fr_trec_hash_rows_f32_fn)(const float *pt, int Hp, const float *const *x, int R,
                                         int Lj, float *d);
/* The filter slice of a sub-vector, t-major: wt[t * cout + oc] = filter[oc * K + k0 + t]. */
typedef void (*fr_trec_transpose_f32_fn)(const float *filter, int K, int k0, int Lj, int cout,
                                         float *wt);

FR_TREC_INLINE void fr_trec_transpose_f32_c(const float *filter, int K, int k0, int Lj, int cout,
                                           float *wt) {
    for (int t = 0; t < Lj; t++) { /* contiguous stores, strided loads */
        const float *w = filter + k0 + t;
        float *dst = wt + (size_t)t * cout;
        for (int oc = 0; oc < cout; oc++) dst[oc] = w[(size_t)oc * K];
    }
}

/* The filter t-major (K x cout): params.filter_t, or transposed into the scratch once per
 * call (for every group and sub-vector). */
FR_TREC_INLINE const float *fr_trec_filter_t(const fr_trec_params *p, const fr_trec_layout *lo,
                                            const float *filter, unsigned char *scratch,
                                            fr_trec_transpose_f32_fn transpose) {
    if (p->filter_t) return p->filter_t;
    float *wt = (float *)(scratch + lo->off_wt);
    transpose(filter, lo->K, 0, lo->K, lo->cout, wt);
    return wt;
}

/* One sub-vector's projections P (H x Lj) t-major: pt[t * Hp + h], zeros for h >= H. */
FR_TREC_INLINE void fr_trec_proj_t_f32(const float *P, int H, int Lj, int Hp, float *pt) {
    for (int t = 0; t < Lj; t++)
        for (int h = 0; h < Hp; h++) pt[t * Hp + h] = h < H ? P[h * Lj + t] : 0.0f;
}

/* Bucket ids of R hashed rows from their sums d (rows of Hp floats), the offsets (when
 * given) added after the sums as in the reference: into cl[q], and into ids[q * stride]
 * when ids is given. */
FR_TREC_INLINE void fr_trec_ids_f32(float *d, int Hp, int R, int H, const float *offs,
                                   int32_t *cl, uint16_t *ids, int64_t stride) {
    for (int q = 0; q < R; q++) {
        float *dq = d + (size_t)q * Hp;
        if (offs)
            for (int h = 0; h < H; h++) dq[h] = dq[h] + offs[h];
        const unsigned id = fr_trec_bits_f32(dq, H);
        cl[q] = (int32_t)id;
        if (ids) ids[q * stride] = (uint16_t)id;
    }
}

/* Start of filter tap (fy, fx) of row (b, oy, ox) in the input, or NULL in the padding. */
FR_TREC_INLINE const float *fr_trec_tap_f32(const fr_cnn_geom *g, const float *input, int b, int oy,
                                           int ox, int fy, int fx) {
    const ptrdiff_t at = fr_trec_tap_index(g, b, oy, ox, fy, fx);
    return at < 0 ? NULL : input + at;
}

/* Sub-vector [k0, k0 + Lj) of row (b, oy, ox) that spans several filter taps, gathered
 * into xbuf by runs of input channels (zeros in the padding); one-tap sub-vectors are read
 * in place (fr_trec_subvec_row). */
FR_TREC_INLINE const float *fr_trec_gather_f32(const fr_cnn_geom *g, const float *input, int b,
                                              int oy, int ox, int k0, int Lj, float *xbuf) {
    const int cin = g->in_c;
    int k = k0;
    const int end = k0 + Lj;
    float *dst = xbuf;
    while (k < end) {
        const int pix = k / cin, ic = k % cin;
        const int n = cin - ic < end - k ? cin - ic : end - k;
        const float *src = fr_trec_tap_f32(g, input, b, oy, ox, pix / g->k_w, pix % g->k_w);
        if (src)
            memcpy(dst, src + ic, (size_t)n * sizeof *dst);
        else
            memset(dst, 0, (size_t)n * sizeof *dst);
        dst += n;
        k += n;
    }
    return xbuf;
}

/* cent[t] = sm[t] / n, n >= 2. A power of two divides exactly as a multiplication by its
 * inverse (both are the correctly rounded value of the same quotient), which is cheaper
 * than a division per element. */
FR_TREC_INLINE void fr_trec_centroid_f32(const float *restrict sm, int32_t n, int Lj,
                                        float *restrict cent) {
    if ((n & (n - 1)) == 0) {
        const float inv = 1.0f / (float)n;
        for (int t = 0; t < Lj; t++) cent[t] = sm[t] * inv;
    } else {
        const float fn = (float)n;
        for (int t = 0; t < Lj; t++) cent[t] = sm[t] / fn;
    }
}

/* Where sub-vector [k0, k0 + Lj) lies: when it is one run of input channels within one
 * filter tap (the common case, e.g. L = in_c), the tap and first channel, so that each
 * row finds it with no division. */
typedef struct fr_trec_subvec {
    int single; /* one run: tap (fy, fx), channels [ic0, ic0 + Lj) */
    int fy, fx, ic0;
} fr_trec_subvec;

FR_TREC_INLINE fr_trec_subvec fr_trec_subvec_at(const fr_cnn_geom *g, int k0, int Lj) {
    fr_trec_subvec v;
    const int pix = k0 / g->in_c;
    v.ic0 = k0 % g->in_c;
    v.single = g->in_c - v.ic0 >= Lj;
    v.fy = pix / g->k_w;
    v.fx = pix % g->k_w;
    return v;
}

/* Sub-vector of row (b, oy, ox): in place when single, else gathered into xbuf; zeros
 * (from `zeros`, Lj floats) when a single run lies in the padding. */
FR_TREC_INLINE const float *fr_trec_subvec_row(const fr_cnn_geom *g, const fr_trec_subvec *v,
                                              const float *input, int b, int oy, int ox, int k0,
                                              int Lj, float *xbuf, const float *zeros) {
    if (!v->single) return fr_trec_gather_f32(g, input, b, oy, ox, k0, Lj, xbuf);
    const float *src = fr_trec_tap_f32(g, input, b, oy, ox, v->fy, v->fx);
    return src ? src + v->ic0 : zeros;
}

/* Coordinates of consecutive rows. */
typedef struct fr_trec_rowpos {
    int b, oy, ox;
} fr_trec_rowpos;

FR_TREC_INLINE fr_trec_rowpos fr_trec_rowpos_at(const fr_cnn_geom *g, int64_t r) {
    fr_trec_rowpos p;
    p.ox = (int)(r % g->out_w);
    p.oy = (int)((r / g->out_w) % g->out_h);
    p.b = (int)(r / ((int64_t)g->out_w * g->out_h));
    return p;
}

FR_TREC_INLINE void fr_trec_rowpos_next(const fr_cnn_geom *g, fr_trec_rowpos *p) {
    if (++p->ox == g->out_w) {
        p->ox = 0;
        if (++p->oy == g->out_h) {
            p->oy = 0;
            p->b++;
        }
    }
}

/* One member x with bucket id joins its cluster (numbered in order of first appearance;
 * table: bucket -> cluster, -1 when empty): counts, the cluster's bucket (cid) and its sums
 * (sums + c * S, Lj floats, in member order; a new cluster's start at 0.0f + x, which is x
 * except for -0.0, as the reference's sum from +0). Returns the cluster. */
FR_TREC_INLINE int32_t fr_trec_join_f32(int32_t *table, int32_t *counts, int32_t *cid,
                                       float *sums, int S, int32_t id, const float *x, int Lj,
                                       int32_t *nc) {
    int32_t c = table[id];
    float *sm;
    if (c < 0) {
        c = (*nc)++;
        table[id] = c;
        counts[c] = 1;
        cid[c] = id;
        sm = sums + (size_t)c * S;
        for (int t = 0; t < Lj; t++) sm[t] = 0.0f + x[t];
    } else {
        counts[c]++;
        sm = sums + (size_t)c * S;
        for (int t = 0; t < Lj; t++) sm[t] += x[t];
    }
    return c;
}

/* Pixel mode: output row o (n <= 64 channels from oc0; part, o at that channel) adds, in
 * tap order, the partial products of the pixel's cluster of each of the T taps of a chunk
 * whose input lies in the image (clr[jj] NULL: the tap's input row is in the padding;
 * column ox outside [ox0, ox1): its input column is). The sums stay in registers over the
 * chunk: the same adds in the same order as one pass per tap. */
FR_TREC_INLINE void fr_trec_addf_taps_n(float *restrict o, const float *restrict part,
                                       int64_t tap_stride, int cout,
                                       const int32_t *const *clr, const fr_trec_tap_span *sp,
                                       int T, int ox, int n) {
    float acc[64];
    for (int i = 0; i < n; i++) acc[i] = o[i];
    for (int jj = 0; jj < T; jj++) {
        if (!clr[jj] || ox < sp[jj].ox0 || ox >= sp[jj].ox1) continue;
        const float *y = part + jj * tap_stride + (size_t)clr[jj][ox * sp[jj].sw] * cout;
        for (int i = 0; i < n; i++) acc[i] += y[i];
    }
    for (int i = 0; i < n; i++) o[i] = acc[i];
}
FR_TREC_INLINE void fr_trec_addf_taps(float *o, const float *part, int64_t tap_stride, int cout,
                                     const int32_t *const *clr, const fr_trec_tap_span *sp,
                                     int T, int ox) {
    for (int oc0 = 0; oc0 < cout; oc0 += 64) {
        if (cout - oc0 >= 64)
            fr_trec_addf_taps_n(o + oc0, part + oc0, tap_stride, cout, clr, sp, T, ox, 64);
        else
            fr_trec_addf_taps_n(o + oc0, part + oc0, tap_stride, cout, clr, sp, T, ox,
                                cout - oc0);
    }
}

/* Pixel mode (trec.h), per channel group: every input pixel of a group hashed once
 * (FR_TREC_HASH_ROWS pixels per kernel call, read in place), clustered in pixel order,
 * centroids in place of the sums; then, a chunk of filter taps at a time
 * (fr_trec_tap_chunk), per tap the partial products of the clusters some row reads through
 * it, and for every row the adds of its taps' pixels' clusters' partials (those inside the
 * image), in tap order. The same sums in the same orders as fr_trec_pixel_f32_ref. */
FR_TREC_INLINE void fr_trec_f32_pixel_body(const fr_trec_params *p, const fr_cnn_geom *g,
                                          fr_cnn_range_f32 act, const float *input,
                                          const float *filter, const float *bias,
                                          float *output, void *scratch, fr_trec_stats *stats,
                                          fr_trec_hash_rows_f32_fn hash_rows,
                                          fr_trec_partial_f32_fn partial,
                                          fr_trec_transpose_f32_fn transpose) {
    fr_trec_layout lo;
    const fr_trec_book bk = fr_trec_begin(&lo, p, g, 0, scratch, stats);
    unsigned char *s = bk.s;
    /* cl: bucket ids (pass 1), then clusters */
    int32_t *table = bk.table, *cl = bk.cl, *counts = bk.counts, *cid = bk.cid;
    float *sums = (float *)(s + lo.off_sums); /* C * L: sums, then centroids */
    float *part = (float *)(s + lo.off_part); /* a chunk of taps' partials (nc * cout each) */
    float *xbuf = (float *)(s + lo.off_xbuf);
    float *d = (float *)(s + lo.off_dbuf);
    const float *wt = fr_trec_filter_t(p, &lo, filter, s, transpose);
    float *pt = (float *)(s + lo.off_pt);
    const int L = lo.L, H = lo.H, cout = lo.cout, CG = lo.cgroups, taps = lo.taps;
    const int cin = L * CG;
    const int64_t G = lo.group_rows, PG = lo.group_pix;
    const int buckets = 1 << H, Hp = fr_trec_hpad(H);
    const int per_image = g->out_h * g->out_w;
    for (int b = 0; b < buckets; b++) table[b] = -1;

    for (int grp = 0; grp < lo.n_groups; grp++) {
        float *out0 = output + (size_t)grp * G * cout;
        fr_trec_rows_init(out0, G, cout, bias);
        for (int cg = 0; cg < CG; cg++) { /* channel groups: clustered one after another */
            const float *in0 = input + (size_t)grp * PG * cin + (size_t)cg * L;
            const float *proj = p->proj_f32 + (size_t)cg * H * L;
            const float *offs = p->offset_f32 ? p->offset_f32 + (size_t)cg * H : NULL;
            fr_trec_proj_t_f32(proj, H, L, Hp, pt);
            for (int64_t q0 = 0; q0 < PG; q0 += FR_TREC_HASH_ROWS) {
                const int R = PG - q0 < FR_TREC_HASH_ROWS ? (int)(PG - q0) : FR_TREC_HASH_ROWS;
                const float *xs[FR_TREC_HASH_ROWS];
                for (int q = 0; q < R; q++) xs[q] = in0 + (size_t)(q0 + q) * cin;
                hash_rows(pt, Hp, xs, R, L, d);
                uint16_t *ids = stats && stats->bucket_ids
                                    ? stats->bucket_ids + ((int64_t)grp * PG + q0) * CG + cg
                                    : NULL;
                fr_trec_ids_f32(d, Hp, R, H, offs, cl + q0, ids, CG);
            }
            int32_t nc = 0;
            for (int64_t q = 0; q < PG; q++)
                cl[q] = fr_trec_join_f32(table, counts, cid, sums, L, cl[q],
                                         in0 + (size_t)q * cin, L, &nc);
            for (int32_t c = 0; c < nc; c++) {
                table[cid[c]] = -1;
                if (counts[c] > 1) { /* x / 1 == x */
                    fr_trec_centroid_f32(sums + (size_t)c * L, counts[c], L, xbuf);
                    memcpy(sums + (size_t)c * L, xbuf, (size_t)L * sizeof *xbuf);
                }
            }
            const int nb = (int)(G / per_image); /* images in the group */
            /* counts is free once the centroids are taken: the taps each cluster is read by */
            fr_trec_pixel_used_prepare(g, nb, cl, nc, counts);
            const int T = fr_trec_tap_chunk(lo.part_floats, nc, cout, taps);
            const int64_t tap_stride = (int64_t)nc * cout;
            for (int t0 = 0; t0 < taps; t0 += T) {
                const int Tc = taps - t0 < T ? taps - t0 : T;
                fr_trec_tap_span sp[FR_TREC_TAP_CHUNK];
                for (int tt = 0; tt < Tc; tt++) {
                    const int tap = t0 + tt, j = tap * CG + cg; /* j: the sub-vector */
                    const float *wj = wt + (size_t)j * L * cout;
                    float *pj = part + tt * tap_stride;
                    sp[tt] = fr_trec_tap_span_at(g, tap / g->k_w, tap % g->k_w);
                    const int32_t n_used =
                        fr_trec_pixel_used_tap(g, &sp[tt], tap, nb, cl, nc, counts, cid);
                    for (int32_t u0 = 0; u0 < n_used; u0 += FR_TREC_PART_BLOCK) {
                        const int nb4 = n_used - u0 < FR_TREC_PART_BLOCK ? (int)(n_used - u0)
                                                                         : FR_TREC_PART_BLOCK;
                        const float *cs[FR_TREC_PART_BLOCK];
                        float *ys[FR_TREC_PART_BLOCK];
                        for (int i = 0; i < nb4; i++) {
                            cs[i] = sums + (size_t)cid[u0 + i] * L;
                            ys[i] = pj + (size_t)cid[u0 + i] * cout;
                        }
                        partial(cs, nb4, L, wj, cout, ys);
                    }
                    fr_trec_stats_add(stats, &lo, j, L, n_used);
                }
                for (int b = 0; b < nb; b++)
                    for (int oy = 0; oy < g->out_h; oy++) {
                        const int32_t *clr[FR_TREC_TAP_CHUNK];
                        for (int tt = 0; tt < Tc; tt++)
                            clr[tt] = fr_trec_tap_line(g, &sp[tt], cl, b, oy);
                        float *orow = out0 + (((int64_t)b * g->out_h + oy) * g->out_w) * cout;
                        for (int ox = 0; ox < g->out_w; ox++)
                            fr_trec_addf_taps(orow + (size_t)ox * cout, part, tap_stride, cout,
                                              clr, sp, Tc, ox);
                    }
            }
        }
        for (int64_t i = 0; i < G * cout; i++) out0[i] = fr_cnn_clampf(out0[i], act);
    }
}

FR_TREC_INLINE void fr_trec_f32_body(const fr_trec_params *p, const fr_cnn_geom *g,
                                    fr_cnn_range_f32 act, const float *input,
                                    const float *filter, const float *bias, float *output,
                                    void *scratch, fr_trec_stats *stats,
                                    fr_trec_hash_rows_f32_fn hash_rows,
                                    fr_trec_partial_f32_fn partial,
                                    fr_trec_transpose_f32_fn transpose) {
    if (p->pixel) {
        fr_trec_f32_pixel_body(p, g, act, input, filter, bias, output, scratch, stats,
                               hash_rows, partial, transpose);
        return;
    }
    fr_trec_layout lo;
    const fr_trec_book bk = fr_trec_begin(&lo, p, g, 0, scratch, stats);
    unsigned char *s = bk.s;
    /* cl: bucket ids (pass 1), then clusters (pass 2) */
    int32_t *table = bk.table, *cl = bk.cl, *counts = bk.counts;
    float *sums = (float *)(s + lo.off_sums); /* cluster slots: sums, then partials */
    float *xbuf = (float *)(s + lo.off_xbuf); /* FR_TREC_HASH_ROWS x L */
    float *d = (float *)(s + lo.off_dbuf);    /* FR_TREC_HASH_ROWS x Hp */
    float *ybuf = (float *)(s + lo.off_ybuf); /* cout */
    float *zeros = (float *)(s + lo.off_zeros); /* L zeros: a sub-vector in the padding */
    const float *wt = fr_trec_filter_t(p, &lo, filter, s, transpose);
    float *pt = (float *)(s + lo.off_pt);
    int32_t *cid = bk.cid;
    const int K = lo.K, L = lo.L, H = lo.H, J = lo.J, cout = lo.cout, S = lo.slot;
    const int64_t G = lo.group_rows;
    const int buckets = 1 << H, Hp = fr_trec_hpad(H);
    for (int b = 0; b < buckets; b++) table[b] = -1;
    memset(zeros, 0, (size_t)L * sizeof *zeros);

    for (int grp = 0; grp < lo.n_groups; grp++) {
        const int64_t r0 = (int64_t)grp * G;
        float *out0 = output + r0 * cout;
        fr_trec_rows_init(out0, G, cout, bias);
        for (int j = 0; j < J; j++) {
            const int k0 = j * L;
            const int Lj = K - k0 < L ? K - k0 : L;
            const float *P = p->proj_f32 + (size_t)H * k0;
            const float *offs = p->offset_f32 ? p->offset_f32 + (size_t)j * H : NULL;
            fr_trec_proj_t_f32(P, H, Lj, Hp, pt);
            const float *wj = wt + (size_t)k0 * cout;
            const fr_trec_subvec sv = fr_trec_subvec_at(g, k0, Lj);
            /* pass 1: the bucket id of every row */
            fr_trec_rowpos pos = fr_trec_rowpos_at(g, r0);
            for (int64_t i0 = 0; i0 < G; i0 += FR_TREC_HASH_ROWS) {
                const int R = G - i0 < FR_TREC_HASH_ROWS ? (int)(G - i0) : FR_TREC_HASH_ROWS;
                const float *xs[FR_TREC_HASH_ROWS];
                for (int q = 0; q < R; q++) {
                    xs[q] = fr_trec_subvec_row(g, &sv, input, pos.b, pos.oy, pos.ox, k0, Lj,
                                               xbuf + (size_t)q * L, zeros);
                    fr_trec_rowpos_next(g, &pos);
                }
                hash_rows(pt, Hp, xs, R, Lj, d);
                uint16_t *ids = stats && stats->bucket_ids
                                    ? stats->bucket_ids + (r0 + i0) * J + j
                                    : NULL;
                fr_trec_ids_f32(d, Hp, R, H, offs, cl + i0, ids, J);
            }
            /* pass 2: clusters and their sums, in row order */
            pos = fr_trec_rowpos_at(g, r0);
            int32_t nc = 0;
            for (int64_t i = 0; i < G; i++) {
                const float *x = fr_trec_subvec_row(g, &sv, input, pos.b, pos.oy, pos.ox, k0, Lj, xbuf, zeros);
                fr_trec_rowpos_next(g, &pos);
                cl[i] = fr_trec_join_f32(table, counts, cid, sums, S, cl[i], x, Lj, &nc);
            }
            /* each cluster's centroid goes to xbuf and its partial products replace its
             * sums in its slot */
            for (int32_t c = 0; c < nc; c++) {
                table[cid[c]] = -1;
                float *slot = sums + (size_t)c * S;
                const int32_t n = counts[c];
                const float *cs = xbuf;
                float *ys = slot;
                if (n == 1) { /* x / 1 == x: no copy, no divide */
                    cs = slot;
                    ys = ybuf;
                } else {
                    fr_trec_centroid_f32(slot, n, Lj, xbuf);
                }
                partial(&cs, 1, Lj, wj, cout, &ys);
                if (n == 1) memcpy(slot, ybuf, (size_t)cout * sizeof *slot);
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

#endif
