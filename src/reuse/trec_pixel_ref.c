/* Pixel-mode TREC (trec.h, "Pixel mode"): the plain scalar references, a literal
 * transcription of the definition. fr_trec_conv_*_ref call these when params->pixel. */
#include <math.h>
#include "cnn/ops_internal.h"
#include "reuse/trec_internal.h"

/* Pixel index within its group of the input pixel that tap (fy, fx) of row r reads, or -1
 * in the padding. */
static int64_t pixel_of(const fr_cnn_geom *g, const fr_trec_layout *lo, int grp, int64_t r,
                        int fy, int fx) {
    const int ox = (int)(r % g->out_w);
    const int oy = (int)((r / g->out_w) % g->out_h);
    const int64_t b = r / ((int64_t)g->out_w * g->out_h);
    const int iy = oy * g->stride_h - g->pad_top + fy * g->dil_h;
    const int ix = ox * g->stride_w - g->pad_left + fx * g->dil_w;
    if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) return -1;
    return (b * g->in_h + iy) * g->in_w + ix - (int64_t)grp * lo->group_pix;
}

/* used[c] = 1 for the clusters (of nc) that some row of scope group grp reads through
 * filter tap `tap`, 0 for the others; returns their count. */
static int32_t mark_used(const fr_cnn_geom *g, const fr_trec_layout *lo, int grp, int tap,
                         const int32_t *cl, int32_t nc, int32_t *used) {
    for (int32_t c = 0; c < nc; c++) used[c] = 0;
    for (int64_t i = 0; i < lo->group_rows; i++) {
        const int64_t q = pixel_of(g, lo, grp, (int64_t)grp * lo->group_rows + i,
                                   tap / g->k_w, tap % g->k_w);
        if (q >= 0) used[cl[q]] = 1;
    }
    int32_t n = 0;
    for (int32_t c = 0; c < nc; c++) n += used[c];
    return n;
}

void fr_trec_pixel_f32_ref(const fr_trec_params *p, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                           const float *input, const float *filter, const float *bias,
                           float *output, void *scratch, fr_trec_stats *stats) {
    fr_trec_layout lo;
    const fr_trec_book bk = fr_trec_begin(&lo, p, g, 0, scratch, stats);
    unsigned char *s = bk.s;
    int32_t *table = bk.table, *cl = bk.cl, *counts = bk.counts;
    float *sums = (float *)(s + lo.off_sums); /* C * L: sums, then centroids */
    float *part = (float *)(s + lo.off_part); /* C * cout */
    float *d = (float *)(s + lo.off_dbuf);
    const int K = lo.K, L = lo.L, H = lo.H, cout = lo.cout, CG = lo.cgroups;
    const int cin = L * CG, taps = lo.taps;
    const int64_t G = lo.group_rows, PG = lo.group_pix;
    const int buckets = 1 << H;

    for (int grp = 0; grp < lo.n_groups; grp++) {
        float *out0 = output + (size_t)grp * G * cout;
        for (int64_t i = 0; i < G; i++)
            for (int oc = 0; oc < cout; oc++) out0[i * cout + oc] = bias ? bias[oc] : 0.0f;
        for (int cg = 0; cg < CG; cg++) { /* channel groups: clustered one after another */
            const float *in0 = input + (size_t)grp * PG * cin + (size_t)cg * L;
            const float *proj = p->proj_f32 + (size_t)cg * H * L;
            const float *offs = p->offset_f32 ? p->offset_f32 + (size_t)cg * H : NULL;
            for (int b = 0; b < buckets; b++) table[b] = -1;
            int32_t nc = 0;
            for (int64_t q = 0; q < PG; q++) {
                const float *x = in0 + q * cin;
                for (int h = 0; h < H; h++) {
                    float acc = 0.0f;
                    for (int t = 0; t < L; t++) {
                        const float prod = proj[h * L + t] * x[t];
                        acc = acc + prod;
                    }
                    if (offs) acc = acc + offs[h];
                    d[h] = acc;
                }
                const unsigned id = fr_trec_bits_f32(d, H);
                if (stats && stats->bucket_ids)
                    stats->bucket_ids[((int64_t)grp * PG + q) * CG + cg] = (uint16_t)id;
                int32_t c = table[id];
                if (c < 0) {
                    c = nc++;
                    table[id] = c;
                    counts[c] = 0;
                    for (int t = 0; t < L; t++) sums[(size_t)c * L + t] = 0.0f;
                }
                cl[q] = c;
                counts[c]++;
                for (int t = 0; t < L; t++) sums[(size_t)c * L + t] += x[t];
            }
            for (int32_t c = 0; c < nc; c++)
                for (int t = 0; t < L; t++)
                    sums[(size_t)c * L + t] = sums[(size_t)c * L + t] / (float)counts[c];
            for (int tap = 0; tap < taps; tap++) {
                const int j = tap * CG + cg; /* the sub-vector: filter columns j * L .. */
                /* the clusters some row reads through the tap (counts: free after the means) */
                int32_t *used = counts;
                const int32_t n_used = mark_used(g, &lo, grp, tap, cl, nc, used);
                for (int32_t c = 0; c < nc; c++) {
                    if (!used[c]) continue;
                    for (int oc = 0; oc < cout; oc++) {
                        const float *w = filter + (size_t)oc * K + (size_t)j * L;
                        float acc = 0.0f;
                        for (int t = 0; t < L; t++)
                            acc = fmaf(sums[(size_t)c * L + t], w[t], acc);
                        part[(size_t)c * cout + oc] = acc;
                    }
                }
                fr_trec_stats_add(stats, &lo, j, L, n_used);
                for (int64_t i = 0; i < G; i++) {
                    const int64_t q = pixel_of(g, &lo, grp, (int64_t)grp * G + i,
                                               tap / g->k_w, tap % g->k_w);
                    if (q < 0) continue;
                    for (int oc = 0; oc < cout; oc++)
                        out0[i * cout + oc] += part[(size_t)cl[q] * cout + oc];
                }
            }
        }
        for (int64_t i = 0; i < G * cout; i++) out0[i] = fr_cnn_clampf(out0[i], act);
    }
}

void fr_trec_pixel_s8_ref(const fr_trec_params *p, const fr_cnn_geom *g,
                          const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, int8_t *output, void *scratch,
                          fr_trec_stats *stats) {
    fr_trec_layout lo;
    const fr_trec_book bk = fr_trec_begin(&lo, p, g, 1, scratch, stats);
    unsigned char *s = bk.s;
    int32_t *table = bk.table, *cl = bk.cl, *counts = bk.counts;
    int32_t *sums = (int32_t *)(s + lo.off_sums); /* C slots: sums, then partials */
    int16_t *cent = (int16_t *)(s + lo.off_cent); /* C * Lp */
    int32_t *part = (int32_t *)(s + lo.off_part); /* = sums */
    int32_t *acc = (int32_t *)(s + lo.off_acc);   /* G * CC */
    const int K = lo.K, L = lo.L, H = lo.H, cout = lo.cout, S = lo.slot, CG = lo.cgroups;
    const int cin = L * CG, taps = lo.taps, CC = lo.oc_chunk;
    const int Lp = L + (L & 1);
    const int64_t G = lo.group_rows, PG = lo.group_pix;
    const int buckets = 1 << H;

    for (int grp = 0; grp < lo.n_groups; grp++) {
        /* output channels oc0 .. oc0 + cc - 1 at a time (lo.oc_chunk); every chunk clusters
         * again (the same clusters: the reference keeps no state between chunks) */
        for (int oc0 = 0; oc0 < cout; oc0 += CC) {
            const int cc = cout - oc0 < CC ? cout - oc0 : CC;
            fr_trec_stats *st = oc0 == 0 ? stats : NULL; /* counted once */
            for (int64_t i = 0; i < G; i++)
                for (int k = 0; k < cc; k++) acc[i * cc + k] = bias ? bias[oc0 + k] : 0;
            for (int cg = 0; cg < CG; cg++) { /* channel groups: clustered one after another */
                const int8_t *in0 = input + (size_t)grp * PG * cin + (size_t)cg * L;
                const int8_t *proj = p->proj_s8 + (size_t)cg * H * L;
                const int32_t *offs = p->offset_s32 ? p->offset_s32 + (size_t)cg * H : NULL;
                for (int b = 0; b < buckets; b++) table[b] = -1;
                int32_t nc = 0;
                for (int64_t px = 0; px < PG; px++) {
                    const int8_t *x = in0 + px * cin;
                    unsigned id = 0;
                    for (int h = 0; h < H; h++) {
                        int32_t dot = 0;
                        for (int t = 0; t < L; t++)
                            dot += (int32_t)proj[h * L + t] * ((int32_t)x[t] - q->input_zp);
                        const int64_t dd = (int64_t)dot + (offs ? offs[h] : 0);
                        if (dd >= 0) id |= 1u << h;
                    }
                    if (st && st->bucket_ids)
                        st->bucket_ids[((int64_t)grp * PG + px) * CG + cg] = (uint16_t)id;
                    int32_t c = table[id];
                    if (c < 0) {
                        c = nc++;
                        table[id] = c;
                        counts[c] = 0;
                        for (int t = 0; t < L; t++) sums[(size_t)c * S + t] = 0;
                    }
                    cl[px] = c;
                    counts[c]++;
                    for (int t = 0; t < L; t++)
                        sums[(size_t)c * S + t] += (int32_t)x[t] - q->input_zp;
                }
                for (int32_t c = 0; c < nc; c++)
                    for (int t = 0; t < L; t++)
                        cent[(size_t)c * Lp + t] =
                            (int16_t)fr_trec_round_div(sums[(size_t)c * S + t], counts[c]);
                for (int tap = 0; tap < taps; tap++) {
                    const int j = tap * CG + cg;
                    int32_t *used = counts; /* as the float reference */
                    const int32_t n_used = mark_used(g, &lo, grp, tap, cl, nc, used);
                    for (int32_t c = 0; c < nc; c++) {
                        if (!used[c]) continue;
                        for (int k = 0; k < cc; k++) {
                            const int8_t *w = filter + (size_t)(oc0 + k) * K + (size_t)j * L;
                            int32_t y = 0;
                            for (int t = 0; t < L; t++)
                                y += cent[(size_t)c * Lp + t] * (int32_t)w[t];
                            part[(size_t)c * S + k] = y;
                        }
                    }
                    fr_trec_stats_add(st, &lo, j, L, n_used);
                    for (int64_t i = 0; i < G; i++) {
                        const int64_t px = pixel_of(g, &lo, grp, (int64_t)grp * G + i,
                                                    tap / g->k_w, tap % g->k_w);
                        if (px < 0) continue;
                        for (int k = 0; k < cc; k++)
                            acc[i * cc + k] =
                                fr_q_add(acc[i * cc + k], part[(size_t)cl[px] * S + k]);
                    }
                }
            }
            int8_t *out0 = output + (size_t)grp * G * cout;
            for (int64_t i = 0; i < G; i++)
                for (int k = 0; k < cc; k++)
                    out0[i * cout + oc0 + k] = fr_cnn_requant1(q, acc[i * cc + k], oc0 + k);
        }
    }
}
