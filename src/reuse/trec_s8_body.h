/* The int8 TREC convolution fast path: one body per mode (fr_trec_s8_body per sub-vector,
 * fr_trec_s8_pixel_body in pixel mode), instantiated per ISA file (trec.c portable,
 * trec_avx2.c, trec_avx512.c, trec_armdsp.c) with that file's kernels (the kernel types and
 * packed layouts are in trec_internal.h), so that the loops around them are compiled for
 * that ISA and the kernels inline. All int8 arithmetic is exact, so every instantiation is
 * bit-identical to trec_ref.c / trec_pixel_ref.c. */
#ifndef FR_REUSE_TREC_S8_BODY_H
#define FR_REUSE_TREC_S8_BODY_H

#include "reuse/trec_internal.h"

/* Row (b, oy, ox), sub-vector [k0, k0 + Lj) into v (int16, Lp values). */
FR_TREC_INLINE void fr_trec_gather_s16(const fr_cnn_geom *g, const int8_t *input, int32_t zp,
                                      int b, int oy, int ox, int k0, int Lj, int16_t *v) {
    const int cin = g->in_c;
    int k = k0, n_out = 0;
    const int end = k0 + Lj;
    while (k < end) {
        const int pix = k / cin, ic = k % cin;
        const int n = cin - ic < end - k ? cin - ic : end - k;
        const ptrdiff_t at = fr_trec_tap_index(g, b, oy, ox, pix / g->k_w, pix % g->k_w);
        int16_t *dst = v + n_out;
        if (at < 0) {
            for (int t = 0; t < n; t++) dst[t] = 0;
        } else {
            const int8_t *src = input + at + ic;
            for (int t = 0; t < n; t++) dst[t] = (int16_t)(src[t] - zp);
        }
        n_out += n;
        k += n;
    }
    if (Lj & 1) v[Lj] = 0;
}

/* v[t] = src[t] - zp and sm[t] (+)= v[t] for t < n; the common lengths get their own
 * constant-length copies, which the compiler vectorises completely (a loop of unknown
 * length runs its short remainder one element at a time). */
FR_TREC_INLINE void fr_trec_cvt_n(const int8_t *restrict src, int32_t zp, int n,
                                 int16_t *restrict v) {
    for (int t = 0; t < n; t++) v[t] = (int16_t)(src[t] - zp);
}
FR_TREC_INLINE void fr_trec_cvt(const int8_t *src, int32_t zp, int n, int16_t *v) {
    switch (n) {
    case 4: fr_trec_cvt_n(src, zp, 4, v); break;
    case 8: fr_trec_cvt_n(src, zp, 8, v); break;
    case 16: fr_trec_cvt_n(src, zp, 16, v); break;
    case 32: fr_trec_cvt_n(src, zp, 32, v); break;
    default: fr_trec_cvt_n(src, zp, n, v); break;
    }
}
FR_TREC_INLINE void fr_trec_acc_n(int32_t *restrict sm, const int16_t *restrict v, int n,
                                 int first) {
    if (first)
        for (int t = 0; t < n; t++) sm[t] = v[t];
    else
        for (int t = 0; t < n; t++) sm[t] += v[t];
}
FR_TREC_INLINE void fr_trec_acc(int32_t *sm, const int16_t *v, int n, int first) {
    switch (n) {
    case 4: fr_trec_acc_n(sm, v, 4, first); break;
    case 8: fr_trec_acc_n(sm, v, 8, first); break;
    case 16: fr_trec_acc_n(sm, v, 16, first); break;
    case 32: fr_trec_acc_n(sm, v, 32, first); break;
    default: fr_trec_acc_n(sm, v, n, first); break;
    }
}

FR_TREC_INLINE void fr_trec_zero_n(int32_t *restrict sm, int n) {
    for (int t = 0; t < n; t++) sm[t] = 0;
}
FR_TREC_INLINE void fr_trec_zero(int32_t *sm, int n) {
    switch (n) {
    case 4: fr_trec_zero_n(sm, 4); break;
    case 8: fr_trec_zero_n(sm, 8); break;
    case 16: fr_trec_zero_n(sm, 16); break;
    case 32: fr_trec_zero_n(sm, 32); break;
    default: fr_trec_zero_n(sm, n); break;
    }
}

/* The same when the sub-vector lies within filter tap (fy, fx), channels [ic0, ic0 + Lj). */
FR_TREC_INLINE void fr_trec_tap_s16(const fr_cnn_geom *g, const int8_t *input, int32_t zp, int b,
                                   int oy, int ox, int fy, int fx, int ic0, int Lj, int16_t *v) {
    const ptrdiff_t at = fr_trec_tap_index(g, b, oy, ox, fy, fx);
    if (at >= 0) {
        fr_trec_cvt(input + at + ic0, zp, Lj, v);
    } else {
        for (int t = 0; t < Lj; t++) v[t] = 0;
    }
    if (Lj & 1) v[Lj] = 0;
}

/* Packs one sub-vector's projections (P: H x Lj int8) as ptp and its offsets (H values or
 * NULL) as thresholds thr; returns the mask of the bits that can be set (an offset of
 * INT32_MIN makes d_h + o >= 0 impossible). */
FR_TREC_INLINE uint32_t fr_trec_pack_hash_s8(const int8_t *P, const int32_t *offs, int H, int Lj,
                                            int16_t *ptp, int32_t *thr) {
    const int Hq = fr_trec_hpad(H), np = (Lj + 1) / 2;
    uint32_t valid = H >= 32 ? 0xffffffffu : (1u << H) - 1u;
    for (int h = 0; h < Hq; h++) {
        const int32_t o = offs && h < H ? offs[h] : 0;
        if (o == INT32_MIN) {
            valid &= ~(1u << h);
            thr[h] = 0;
        } else {
            thr[h] = -o;
        }
    }
    for (int pp = 0; pp < np; pp++)
        for (int h = 0; h < Hq; h++)
            for (int e = 0; e < 2; e++) {
                const int t = 2 * pp + e;
                ptp[((size_t)pp * Hq + h) * 2 + e] = (int16_t)(h < H && t < Lj ? P[h * Lj + t] : 0);
            }
    return valid;
}

/* Packs the filter slice [k0, k0 + Lj) of every output channel as wt2. */
FR_TREC_INLINE void fr_trec_pack_filter_s8(const int8_t *filter, int K, int k0, int Lj, int cout,
                                          int16_t *wt2) {
    const int np = (Lj + 1) / 2;
    for (int oc = 0; oc < cout; oc++) {
        const int8_t *w = filter + (size_t)oc * K + k0;
        for (int pp = 0; pp < np; pp++)
            for (int e = 0; e < 2; e++) {
                const int t = 2 * pp + e;
                wt2[((size_t)pp * cout + oc) * 2 + e] = (int16_t)(t < Lj ? w[t] : 0);
            }
    }
}

/* One member with bucket id joins its cluster (numbered in order of first appearance;
 * table: bucket -> cluster, -1 when empty): counts, the cluster's bucket (cid) and its sums
 * (sums + c * S, Lj values; a new cluster's start at v). Returns the cluster. */
FR_TREC_INLINE int32_t fr_trec_join_s8(int32_t *table, int32_t *counts, int32_t *cid,
                                      int32_t *sums, int S, uint32_t id, const int16_t *v,
                                      int Lj, int32_t *nc) {
    int32_t c = table[id];
    const int first = c < 0;
    if (first) {
        c = (*nc)++;
        table[id] = c;
        counts[c] = 1;
        cid[c] = (int32_t)id;
    } else {
        counts[c]++;
    }
    fr_trec_acc(sums + (size_t)c * S, v, Lj, first);
    return c;
}

/* Pixel mode, one filter tap: part[c * S + oc] = sum_t cent[c][t] * filter[oc][k0 + t] for
 * the n clusters c = list[0 .. n) (cent: int16, Lp = L rounded up to even per cluster, the
 * values v = x - zp of the centroid), exact int32. work: the layout's wt region; packed:
 * this tap's slice of params.taps_s8, or NULL. */
typedef void (*fr_trec_tap_s8_fn)(const int8_t *filter, int K, int k0, int L, int cout,
                                  const int16_t *cent, const int32_t *list, int n, int32_t zp,
                                  int32_t *part, int S, void *work, const void *packed,
                                  fr_trec_partial_s8_fn partial);

/* With the int16-pair partial kernel: the tap's filter slice packed as wt2, then one kernel
 * call per cluster. */
FR_TREC_INLINE void fr_trec_tap_s8_pairs(const int8_t *filter, int K, int k0, int L, int cout,
                                        const int16_t *cent, const int32_t *list, int n,
                                        int32_t zp, int32_t *part, int S, void *work,
                                        const void *packed, fr_trec_partial_s8_fn partial) {
    (void)zp, (void)packed;
    int16_t *wt2 = work;
    const int np = (L + 1) / 2;
    fr_trec_pack_filter_s8(filter, K, k0, L, cout, wt2);
    for (int u = 0; u < n; u++)
        partial(cent + (size_t)list[u] * 2 * np, np, wt2, cout, part + (size_t)list[u] * S);
}

/* Pixel mode (trec.h), per channel group: every input pixel of a group hashed once and
 * clustered in pixel order; the centroids (int16) kept for all taps; per filter tap the partial products of
 * every cluster and one add for every row whose tap lies inside the image. Exact, so
 * bit-identical to fr_trec_pixel_s8_ref. */
FR_TREC_INLINE void fr_trec_s8_pixel_body(const fr_trec_params *p, const fr_cnn_geom *g,
                                         const fr_cnn_requant *q, const int8_t *input,
                                         const int8_t *filter, const int32_t *bias,
                                         int8_t *output, void *scratch, fr_trec_stats *stats,
                                         fr_trec_hash_s8_fn hash, fr_trec_partial_s8_fn partial,
                                         fr_trec_requant_s8_fn requant,
                                         fr_trec_cent_s8_fn centroid, fr_trec_tap_s8_fn tap) {
    fr_trec_layout lo;
    const fr_trec_book bk = fr_trec_begin(&lo, p, g, 1, scratch, stats);
    unsigned char *s = bk.s;
    int32_t *table = bk.table, *cl = bk.cl, *counts = bk.counts, *cid = bk.cid;
    int32_t *sums = (int32_t *)(s + lo.off_sums);  /* C * L, then (part) C * cout */
    int16_t *cent = (int16_t *)(s + lo.off_cent);  /* C * Lp */
    int32_t *part = (int32_t *)(s + lo.off_part);
    int16_t *v = (int16_t *)(s + lo.off_xbuf);
    int32_t *thr = (int32_t *)(s + lo.off_dbuf);
    int16_t *wt2 = (int16_t *)(s + lo.off_wt);
    int16_t *ptp = (int16_t *)(s + lo.off_pt);
    int32_t *acc = (int32_t *)(s + lo.off_acc);
    const int K = lo.K, L = lo.L, H = lo.H, cout = lo.cout, S = lo.slot;
    const int CG = lo.cgroups, cin = L * CG, taps = lo.taps;
    const int Hq = fr_trec_hpad(H), np = (L + 1) / 2, Lp = 2 * np;
    const int64_t G = lo.group_rows, PG = lo.group_pix;
    const int32_t zp = q->input_zp;
    const int buckets = 1 << H;
    const int per_image = g->out_h * g->out_w;
    const size_t tap_bytes = fr_trec_vnni_tap_bytes(L, cout); /* of params.taps_s8 */
    const int nb = (int)(G / per_image); /* images in a scope group */
    for (int b = 0; b < buckets; b++) table[b] = -1;

    const int CC = lo.oc_chunk;
    int8_t *qout = (int8_t *)(s + lo.off_qout); /* a chunk's outputs, when CC < cout */

    for (int grp = 0; grp < lo.n_groups; grp++) {
        int32_t nc = 0;
        /* output channels oc0 .. oc0 + cc - 1 at a time (lo.oc_chunk); with one channel
         * group, the clusters, centroids and tap masks of the first chunk serve them all */
        for (int oc0 = 0; oc0 < cout; oc0 += CC) {
            const int cc = cout - oc0 < CC ? cout - oc0 : CC;
            fr_trec_stats *st = oc0 == 0 ? stats : NULL; /* counted once */
            int8_t *out0 = output + (size_t)grp * G * cout;
            fr_cnn_requant qc = *q; /* this chunk's channels */
            if (q->per_channel) qc.mult += oc0, qc.shift += oc0;
            for (int cg = 0; cg < CG; cg++) { /* channel groups: clustered one after another */
                if (oc0 == 0 || CG > 1) {
                    const int8_t *in0 = input + (size_t)grp * PG * cin + (size_t)cg * L;
                    const uint32_t valid = fr_trec_pack_hash_s8(
                        p->proj_s8 + (size_t)cg * H * L,
                        p->offset_s32 ? p->offset_s32 + (size_t)cg * H : NULL, H, L, ptp, thr);
                    nc = 0;
                    for (int64_t px = 0; px < PG; px++) {
                        fr_trec_cvt(in0 + (size_t)px * cin, zp, L, v);
                        if (L & 1) v[L] = 0;
                        const uint32_t id = hash(ptp, Hq, H, v, np, thr) & valid;
                        if (st && st->bucket_ids)
                            st->bucket_ids[((int64_t)grp * PG + px) * CG + cg] = (uint16_t)id;
                        cl[px] = fr_trec_join_s8(table, counts, cid, sums, S, id, v, L, &nc);
                    }
                    for (int32_t c = 0; c < nc; c++) {
                        table[cid[c]] = -1;
                        centroid(sums + (size_t)c * S, counts[c], L, cent + (size_t)c * Lp);
                    }
                    /* counts is free once the centroids are taken: the taps each cluster
                     * is read by */
                    fr_trec_pixel_used_prepare(g, nb, cl, nc, counts);
                }
                const int T = fr_trec_tap_chunk(lo.slot_bytes / 4, nc, cc, taps);
                const int Sp = T > 1 ? T * cc : S; /* a cluster's slot: T taps' partials */
                /* one pass over the lines does all (every tap, one channel group): each
                 * line's sums in one line buffer (L1), requantised as soon as added */
                const int one_pass = T >= taps && CG == 1;
                for (int t0 = 0; t0 < taps; t0 += T) {
                    const int Tc = taps - t0 < T ? taps - t0 : T;
                    const int first = cg == 0 && t0 == 0, last = cg == CG - 1 && t0 + Tc == taps;
                    fr_trec_tap_span sp[FR_TREC_TAP_CHUNK];
                    for (int tt = 0; tt < Tc; tt++) {
                        const int t = t0 + tt, j = t * CG + cg; /* j: the sub-vector */
                        sp[tt] = fr_trec_tap_span_at(g, t / g->k_w, t % g->k_w);
                        const int32_t n_used =
                            fr_trec_pixel_used_tap(g, &sp[tt], t, nb, cl, nc, counts, cid);
                        /* the packed slice is in blocks of 16 channels; oc0 is a multiple
                         * of 16 */
                        const void *tp = p->taps_s8 ? (const unsigned char *)p->taps_s8 +
                                                          tap_bytes * j + (size_t)oc0 * L
                                                    : NULL;
                        tap(filter + (size_t)oc0 * K, K, j * L, L, cc, cent, cid, n_used, zp,
                            part + (size_t)tt * cc, Sp, wt2, tp, partial);
                        fr_trec_stats_add(st, &lo, j, L, n_used);
                    }
                    for (int b = 0; b < nb; b++)
                        for (int oy = 0; oy < g->out_h; oy++) {
                            const int32_t *clr[FR_TREC_TAP_CHUNK];
                            for (int tt = 0; tt < Tc; tt++)
                                clr[tt] = fr_trec_tap_line(g, &sp[tt], cl, b, oy);
                            const int64_t r0 = ((int64_t)b * g->out_h + oy) * g->out_w;
                            int32_t *arow = one_pass ? acc : acc + r0 * cc;
                            if (first)
                                fr_trec_rows_init(arow, g->out_w, cc, bias ? bias + oc0 : NULL);
                            fr_trec_add_line(arow, part, Sp, cc, clr, sp, Tc, g->out_w);
                            if (!last)
                                continue;
                            if (cc == cout) {
                                requant(q, arow, g->out_w, cout, out0 + r0 * cout);
                                continue;
                            }
                            requant(&qc, arow, g->out_w, cc, qout);
                            for (int ox = 0; ox < g->out_w; ox++)
                                memcpy(out0 + (r0 + ox) * cout + oc0, qout + (size_t)ox * cc,
                                       (size_t)cc);
                        }
                }
            }
        }
    }
}

FR_TREC_INLINE void fr_trec_s8_body(const fr_trec_params *p, const fr_cnn_geom *g,
                                   const fr_cnn_requant *q, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias, int8_t *output,
                                   void *scratch, fr_trec_stats *stats,
                                   fr_trec_hash_s8_fn hash, fr_trec_partial_s8_fn partial,
                                   fr_trec_requant_s8_fn requant, fr_trec_cent_s8_fn centroid,
                                   int two_pass) {
    if (p->pixel) {
        fr_trec_s8_pixel_body(p, g, q, input, filter, bias, output, scratch, stats, hash,
                              partial, requant, centroid, fr_trec_tap_s8_pairs);
        return;
    }
    fr_trec_layout lo;
    const fr_trec_book bk = fr_trec_begin(&lo, p, g, 1, scratch, stats);
    unsigned char *s = bk.s;
    int32_t *table = bk.table, *cl = bk.cl, *counts = bk.counts;
    int32_t *sums = (int32_t *)(s + lo.off_sums);  /* cluster slots: sums, then partials */
    int16_t *v = (int16_t *)(s + lo.off_xbuf);     /* Lp <= 4 * L bytes / 2 */
    int32_t *thr = (int32_t *)(s + lo.off_dbuf);   /* Hq int32 */
    int16_t *wt2 = (int16_t *)(s + lo.off_wt);     /* np * cout pairs: Lp * cout int16 */
    int16_t *ptp = (int16_t *)(s + lo.off_pt);     /* np * Hq pairs: Lp * Hq int16 */
    int32_t *acc = (int32_t *)(s + lo.off_acc);
    int32_t *cid = bk.cid;
    const int K = lo.K, H = lo.H, J = lo.J, cout = lo.cout, cin = g->in_c;
    const int L = lo.L, S = lo.slot;
    const int Hq = fr_trec_hpad(H);
    const int64_t G = lo.group_rows;
    const int32_t zp = q->input_zp;
    const int buckets = 1 << H;
    const int64_t C = lo.max_clusters;
    for (int b = 0; b < buckets; b++) table[b] = -1;

    for (int grp = 0; grp < lo.n_groups; grp++) {
        const int64_t r0 = (int64_t)grp * G;
        fr_trec_rows_init(acc, G, cout, bias);
        for (int j = 0; j < J; j++) {
            const int k0 = j * L;
            const int Lj = K - k0 < L ? K - k0 : L;
            const int np = (Lj + 1) / 2;
            const int8_t *P = p->proj_s8 + (size_t)H * k0;
            const int32_t *offs = p->offset_s32 ? p->offset_s32 + (size_t)j * H : NULL;
            const uint32_t valid = fr_trec_pack_hash_s8(P, offs, H, Lj, ptp, thr);
            fr_trec_pack_filter_s8(filter, K, k0, Lj, cout, wt2);
            int32_t nc = 0;
            /* the sub-vector within one filter tap: its tap and channel offset */
            const int pix = k0 / cin, ic0 = k0 % cin;
            const int one_tap = ic0 + Lj <= cin;
            const int fy = pix / g->k_w, fx = pix % g->k_w;
            const int b0 = (int)(r0 / ((int64_t)g->out_h * g->out_w));
            const int nb = (int)(G / ((int64_t)g->out_h * g->out_w));
            /* two_pass (out-of-order cores): pass 0 puts every row's bucket id into cl
             * (rows are independent, so the hash chains of consecutive rows overlap) and
             * pass 1 gathers again; otherwise (in-order cores) one pass hashes and
             * clusters each row. Pass 1 assigns clusters in row order and sums. */
            if (two_pass) fr_trec_zero(sums, Lj);
            for (int pass = two_pass ? 0 : 1; pass < 2; pass++) {
                int64_t i = 0;
                for (int b = b0; b < b0 + nb; b++)
                    for (int oy = 0; oy < g->out_h; oy++)
                        for (int ox = 0; ox < g->out_w; ox++, i++) {
                            if (one_tap)
                                fr_trec_tap_s16(g, input, zp, b, oy, ox, fy, fx, ic0, Lj, v);
                            else
                                fr_trec_gather_s16(g, input, zp, b, oy, ox, k0, Lj, v);
                            if (pass == 0) {
                                cl[i] = (int32_t)(hash(ptp, Hq, H, v, np, thr) & valid);
                                continue;
                            }
                            const uint32_t id = two_pass
                                                    ? (uint32_t)cl[i]
                                                    : hash(ptp, Hq, H, v, np, thr) & valid;
                            if (stats && stats->bucket_ids)
                                stats->bucket_ids[(r0 + i) * J + j] = (uint16_t)id;
                            int32_t c = table[id];
                            if (two_pass) {
                                /* branch-free (a new bucket is unpredictable): the next
                                 * free cluster slot nc is kept zeroed */
                                const int isnew = c < 0;
                                c = isnew ? nc : c;
                                table[id] = c;
                                cid[c] = (int32_t)id;
                                counts[c] = isnew ? 1 : counts[c] + 1;
                                nc += isnew;
                                fr_trec_acc(sums + (size_t)c * S, v, Lj, 0);
                                if (nc < C) fr_trec_zero(sums + (size_t)nc * S, Lj);
                            } else {
                                c = fr_trec_join_s8(table, counts, cid, sums, S, id, v, Lj,
                                                    &nc);
                            }
                            cl[i] = c;
                        }
            }
            /* each cluster's partial products replace its sums in its slot */
            int16_t *cent = v;
            for (int32_t c = 0; c < nc; c++) {
                table[cid[c]] = -1;
                centroid(sums + (size_t)c * S, counts[c], Lj, cent);
                partial(cent, np, wt2, cout, sums + (size_t)c * S);
            }
            for (int64_t r = 0; r < G; r++) {
                const int32_t *y = sums + (size_t)cl[r] * S;
                int32_t *a = acc + r * cout;
                int oc = 0;
                for (; oc + 4 <= cout; oc += 4) { /* unrolled for in-order cores */
                    a[oc] = (int32_t)((uint32_t)a[oc] + (uint32_t)y[oc]);
                    a[oc + 1] = (int32_t)((uint32_t)a[oc + 1] + (uint32_t)y[oc + 1]);
                    a[oc + 2] = (int32_t)((uint32_t)a[oc + 2] + (uint32_t)y[oc + 2]);
                    a[oc + 3] = (int32_t)((uint32_t)a[oc + 3] + (uint32_t)y[oc + 3]);
                }
                for (; oc < cout; oc++) a[oc] = (int32_t)((uint32_t)a[oc] + (uint32_t)y[oc]);
            }
            fr_trec_stats_add(stats, &lo, j, Lj, nc);
        }
        requant(q, acc, G, cout, output + r0 * cout);
    }
}

#endif
