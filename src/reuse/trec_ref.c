/* TREC convolution: validation, scratch layout and the plain scalar references.
 * The semantics are defined in trec.h; this file is their literal transcription. */
#include <math.h>
#include <string.h>

#include "cnn/ops_internal.h"
#include "core/error.h"
#include "reuse/trec_internal.h"

int fr_trec_num_sub(int K, int sub_len) {
    if (K < 1 || sub_len < 1) return 0;
    return (K + sub_len - 1) / sub_len;
}

/* Rows per scope group and group count. */
static void trec_groups(const fr_trec_params *p, const fr_cnn_geom *g, int64_t *group_rows,
                        int *n_groups) {
    const int64_t per_image = (int64_t)g->out_h * g->out_w;
    if (p->scope == FR_TREC_SCOPE_BATCH) {
        *group_rows = per_image * g->batch;
        *n_groups = 1;
    } else {
        *group_rows = per_image;
        *n_groups = g->batch;
    }
}

static size_t a64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

void fr_trec_layout_init(fr_trec_layout *lo, const fr_trec_params *p, const fr_cnn_geom *g,
                         int want_s8) {
    memset(lo, 0, sizeof *lo);
    lo->K = g->k_h * g->k_w * g->in_c;
    lo->L = p->sub_len;
    lo->H = p->hash_bits;
    lo->J = fr_trec_num_sub(lo->K, lo->L);
    lo->cout = g->out_c;
    lo->pixel = p->pixel != 0;
    lo->taps = g->k_h * g->k_w;
    lo->cgroups = lo->pixel ? g->in_c / lo->L : 1;
    /* pixel mode: float keeps its centroids in the sums (slot L) beside the partials;
     * int8 moves them to the int16 centroids, and the partials take the slots */
    lo->rows = (int64_t)g->batch * g->out_h * g->out_w;
    trec_groups(p, g, &lo->group_rows, &lo->n_groups);
    lo->oc_chunk = lo->pixel && want_s8 ? fr_trec_oc_chunk(lo->group_rows, lo->cout) : lo->cout;
    /* int8 pixel mode: a slot holds a cluster's sums, then one chunk's partial products */
    lo->slot = (lo->pixel && !want_s8) || lo->L > lo->oc_chunk ? lo->L : lo->oc_chunk;
    lo->pixels = (int64_t)g->batch * g->in_h * g->in_w;
    lo->group_pix = lo->pixels / lo->n_groups;
    const int64_t buckets = (int64_t)1 << lo->H;
    const int64_t members = lo->pixel ? lo->group_pix : lo->group_rows;
    lo->max_clusters = members < buckets ? members : buckets;
    const size_t C = (size_t)lo->max_clusters, G = (size_t)lo->group_rows;
    const size_t L = (size_t)lo->L, H = (size_t)lo->H, cout = (size_t)lo->cout;
    size_t off = 0;
    lo->off_table = off;
    off += a64((size_t)buckets * 4);
    lo->off_cl = off;
    off += a64((size_t)(lo->pixel ? lo->group_pix : lo->group_rows) * 4);
    lo->off_counts = off;
    off += a64(C * 4);
    lo->off_cid = off;
    off += a64(C * 4);
    lo->off_sums = off;
    lo->slot_bytes = C * (size_t)lo->slot * 4;
    if (lo->pixel && want_s8) { /* room for a chunk of taps' partials, up to the budget */
        const size_t all = (size_t)lo->taps * C * (size_t)lo->oc_chunk * 4;
        const size_t room = all < FR_TREC_S8_PART_BUDGET ? all : FR_TREC_S8_PART_BUDGET;
        if (room > lo->slot_bytes) lo->slot_bytes = room;
    }
    off += a64(lo->slot_bytes);
    lo->off_ybuf = off;
    off += a64(cout * 4);
    /* float: FR_TREC_HASH_ROWS sub-vectors and hash vectors (trec_f32_body.h); int8: one
     * row's int16 values and the Hq thresholds */
    const size_t nrows = want_s8 ? 1 : FR_TREC_HASH_ROWS;
    lo->off_xbuf = off;
    off += a64(L * 4 * nrows);
    lo->off_dbuf = off;
    off += a64((size_t)fr_trec_hpad(FR_TREC_MAX_HASH_BITS) * 4 * nrows);
    /* float: 4-byte elements; int8: int16 pairs over L rounded up to even */
    const size_t tlen = want_s8 ? (L + (L & 1)) * 2 : L * 4;
    lo->off_wt = off;
    /* float: the whole filter t-major (K x cout), transposed once per call; int8: one
     * sub-vector's packed slice */
    size_t wt_bytes = want_s8 ? tlen * cout : p->filter_t ? 0 : (size_t)lo->K * 4 * cout;
    if (lo->pixel && want_s8) { /* also the AVX-512 tap kernel's work (trec_avx512.c) */
        const size_t L4 = (L + 3) & ~(size_t)3, cp = (cout + 15) & ~(size_t)15;
        const size_t vnni = cp * L4 + 8 * L4 + 64 + cp * 4;
        if (vnni > wt_bytes) wt_bytes = vnni;
    }
    off += a64(wt_bytes);
    lo->off_pt = off;
    off += a64(tlen * (size_t)fr_trec_hpad((int)H));
    lo->off_acc = off;
    if (want_s8) off += a64(G * (size_t)lo->oc_chunk * 4);
    lo->off_qout = off;
    if (want_s8 && lo->oc_chunk < lo->cout) off += a64(G * (size_t)lo->oc_chunk);
    lo->off_zeros = off; /* float: L zeros */
    if (!want_s8) off += a64(L * 4);
    lo->off_cent = off;
    if (lo->pixel && want_s8) off += a64(C * (L + (L & 1)) * 2);
    lo->off_part = want_s8 ? lo->off_sums : off;
    if (lo->pixel && !want_s8) { /* one tap's partials at least, up to the budget */
        const size_t one = C * cout, all = (size_t)lo->taps * one;
        const size_t budget = FR_TREC_PART_BUDGET / 4;
        lo->part_floats = one > budget ? one : all < budget ? all : budget;
        off += a64(lo->part_floats * 4);
    }
    lo->total = off;
}

void fr_trec_stats_begin(fr_trec_stats *stats, const fr_trec_layout *lo) {
    if (!stats) return;
    stats->rows = lo->rows;
    stats->n_sub = lo->J;
    stats->clusters = 0;
    stats->macs_dense = lo->rows * lo->K * (int64_t)lo->cout;
    stats->macs_reuse = 0;
    const int64_t pixel_values = lo->pixels * lo->L * (int64_t)lo->cgroups; /* * in_c */
    stats->macs_hash = lo->pixel ? pixel_values * lo->H : lo->rows * lo->K * (int64_t)lo->H;
    stats->adds = (lo->pixel ? pixel_values : lo->rows * lo->K) +
                  lo->rows * lo->J * (int64_t)lo->cout;
    if (stats->clusters_per_sub)
        memset(stats->clusters_per_sub, 0, (size_t)lo->J * sizeof *stats->clusters_per_sub);
}

fr_status fr_trec_check(const fr_trec_params *p, const fr_cnn_geom *g, int want_s8,
                        const char *op, fr_error *err) {
    if (!op) op = "trec";
    if (!p || !g) return fr_fail(err, FR_E_ARG, "%s: NULL parameters or geometry", op);
    fr_status st = fr_cnn_geom_check(g, op, err);
    if (st != FR_OK) return st;
    if (g->depth_mult != 1)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: depth_mult %d (TREC needs a plain conv)", op,
                       g->depth_mult);
    const int64_t K = (int64_t)g->k_h * g->k_w * g->in_c;
    if (p->hash_bits < 1 || p->hash_bits > FR_TREC_MAX_HASH_BITS)
        return fr_fail(err, FR_E_ARG, "%s: hash_bits %d out of range 1..%d", op, p->hash_bits,
                       FR_TREC_MAX_HASH_BITS);
    if (p->sub_len < 1 || p->sub_len > K || p->sub_len > FR_TREC_MAX_SUB_LEN)
        return fr_fail(err, FR_E_ARG, "%s: sub_len %d out of range 1..%s", op, p->sub_len,
                       FR_SNUM(K < FR_TREC_MAX_SUB_LEN ? K : FR_TREC_MAX_SUB_LEN));
    if (p->scope != FR_TREC_SCOPE_IMAGE && p->scope != FR_TREC_SCOPE_BATCH)
        return fr_fail(err, FR_E_ARG, "%s: unknown clustering scope %d", op, (int)p->scope);
    if (want_s8 ? !p->proj_s8 : !p->proj_f32)
        return fr_fail(err, FR_E_ARG, "%s: missing %s projections", op,
                       want_s8 ? "int8" : "float");
    if (p->pixel && (p->sub_len > g->in_c || g->in_c % p->sub_len != 0))
        return fr_fail(err, FR_E_ARG,
                       "%s: pixel-mode TREC needs sub_len dividing in_c (%d), has %d", op,
                       g->in_c, p->sub_len);
    /* Row counts: int32 cluster indices, int8 centroid sums 255 * G inside int32, and the
     * scratch size inside size_t (every term below is at most a few G * cout products). */
    int64_t G;
    int n_groups;
    trec_groups(p, g, &G, &n_groups);
    if (G > (int64_t)(INT32_MAX / 256))
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: %s rows in one clustering group (max %d)",
                       op, FR_SNUM(G), (int)(INT32_MAX / 256));
    const int64_t PG = (int64_t)g->in_h * g->in_w * (p->scope == FR_TREC_SCOPE_BATCH ? g->batch : 1);
    if (p->pixel && PG > (int64_t)(INT32_MAX / 256))
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: %s pixels in one clustering group (max %d)",
                       op, FR_SNUM(PG), (int)(INT32_MAX / 256));
    const double approx = (double)G * (g->out_c + 2) * 4.0 + (double)(1 << p->hash_bits) * 4.0 +
                          (double)p->sub_len * (g->out_c + p->hash_bits + 2) * 4.0 +
                          (double)(G < (1 << p->hash_bits) ? G : (1 << p->hash_bits)) *
                              (p->sub_len + g->out_c + 1) * 4.0 +
                          (double)PG * 4.0 +
                          (double)(PG < (1 << p->hash_bits) ? PG : (1 << p->hash_bits)) *
                              (p->sub_len + 1 + g->out_c) * 8.0;
    if (approx > (double)(SIZE_MAX / 4))
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: scratch size overflows", op);
    return FR_OK;
}

size_t fr_trec_conv_f32_scratch_bytes(const fr_trec_params *p, const fr_cnn_geom *g) {
    fr_trec_layout lo;
    fr_trec_layout_init(&lo, p, g, 0);
    return lo.total;
}

size_t fr_trec_conv_s8_scratch_bytes(const fr_trec_params *p, const fr_cnn_geom *g) {
    fr_trec_layout lo;
    fr_trec_layout_init(&lo, p, g, 1);
    return lo.total;
}

/* ------------------------------------------------------------------------------------ */
/* im2col, element by element.                                                           */

/* Input offset of element k of row r, or -1 when it falls in the padding. */
static int64_t trec_src_index(const fr_cnn_geom *g, int64_t r, int k) {
    const int ox = (int)(r % g->out_w);
    const int oy = (int)((r / g->out_w) % g->out_h);
    const int64_t b = r / ((int64_t)g->out_w * g->out_h);
    const int fy = k / (g->k_w * g->in_c);
    const int fx = (k / g->in_c) % g->k_w;
    const int ic = k % g->in_c;
    const int iy = oy * g->stride_h - g->pad_top + fy * g->dil_h;
    const int ix = ox * g->stride_w - g->pad_left + fx * g->dil_w;
    if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) return -1;
    return ((b * g->in_h + iy) * g->in_w + ix) * g->in_c + ic;
}

/* ------------------------------------------------------------------------------------ */
/* float                                                                                 */

void fr_trec_conv_f32_ref(const fr_trec_params *p, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                          const float *input, const float *filter, const float *bias,
                          float *output, void *scratch, fr_trec_stats *stats) {
    if (p->pixel) {
        fr_trec_pixel_f32_ref(p, g, act, input, filter, bias, output, scratch, stats);
        return;
    }
    fr_trec_layout lo;
    const fr_trec_book bk = fr_trec_begin(&lo, p, g, 0, scratch, stats);
    unsigned char *s = bk.s;
    int32_t *table = bk.table, *cl = bk.cl, *counts = bk.counts;
    float *sums = (float *)(s + lo.off_sums);
    float *ybuf = (float *)(s + lo.off_ybuf);
    float *x = (float *)(s + lo.off_xbuf);
    float *d = (float *)(s + lo.off_dbuf);
    const int K = lo.K, L = lo.L, H = lo.H, J = lo.J, cout = lo.cout;
    const int64_t G = lo.group_rows;
    const int buckets = 1 << H;

    for (int grp = 0; grp < lo.n_groups; grp++) {
        const int64_t r0 = (int64_t)grp * G;
        float *out0 = output + r0 * cout;
        for (int64_t i = 0; i < G; i++)
            for (int oc = 0; oc < cout; oc++) out0[i * cout + oc] = bias ? bias[oc] : 0.0f;
        for (int j = 0; j < J; j++) {
            const int k0 = j * L;
            const int Lj = K - k0 < L ? K - k0 : L;
            const float *P = p->proj_f32 + (size_t)H * k0;
            for (int b = 0; b < buckets; b++) table[b] = -1;
            int32_t nc = 0;
            for (int64_t i = 0; i < G; i++) {
                const int64_t r = r0 + i;
                for (int t = 0; t < Lj; t++) {
                    const int64_t src = trec_src_index(g, r, k0 + t);
                    x[t] = src < 0 ? 0.0f : input[src];
                }
                for (int h = 0; h < H; h++) {
                    float acc = 0.0f;
                    for (int t = 0; t < Lj; t++) {
                        const float prod = P[h * Lj + t] * x[t];
                        acc = acc + prod;
                    }
                    if (p->offset_f32) acc = acc + p->offset_f32[j * H + h];
                    d[h] = acc;
                }
                const unsigned id = fr_trec_bits_f32(d, H);
                if (stats && stats->bucket_ids) stats->bucket_ids[r * J + j] = (uint16_t)id;
                int32_t c = table[id];
                if (c < 0) {
                    c = nc++;
                    table[id] = c;
                    counts[c] = 0;
                    for (int t = 0; t < Lj; t++) sums[(size_t)c * L + t] = 0.0f;
                }
                cl[i] = c;
                counts[c]++;
                for (int t = 0; t < Lj; t++) sums[(size_t)c * L + t] += x[t];
            }
            for (int32_t c = 0; c < nc; c++) {
                float *cent = sums + (size_t)c * L;
                for (int t = 0; t < Lj; t++) cent[t] = cent[t] / (float)counts[c];
                for (int oc = 0; oc < cout; oc++) {
                    const float *w = filter + (size_t)oc * K + k0;
                    float acc = 0.0f;
                    for (int t = 0; t < Lj; t++) acc = fmaf(cent[t], w[t], acc);
                    ybuf[oc] = acc;
                }
                /* the rows of cluster c (each output gets one add per sub-vector, in
                 * order j = 0, 1, ...) */
                for (int64_t i = 0; i < G; i++)
                    if (cl[i] == c)
                        for (int oc = 0; oc < cout; oc++) out0[i * cout + oc] += ybuf[oc];
            }
            fr_trec_stats_add(stats, &lo, j, Lj, nc);
        }
        for (int64_t i = 0; i < G * cout; i++) out0[i] = fr_cnn_clampf(out0[i], act);
    }
}

/* ------------------------------------------------------------------------------------ */
/* int8                                                                                  */

void fr_trec_conv_s8_ref(const fr_trec_params *p, const fr_cnn_geom *g,
                         const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output, void *scratch,
                         fr_trec_stats *stats) {
    if (p->pixel) {
        fr_trec_pixel_s8_ref(p, g, q, input, filter, bias, output, scratch, stats);
        return;
    }
    fr_trec_layout lo;
    const fr_trec_book bk = fr_trec_begin(&lo, p, g, 1, scratch, stats);
    unsigned char *s = bk.s;
    int32_t *table = bk.table, *cl = bk.cl, *counts = bk.counts;
    int32_t *sums = (int32_t *)(s + lo.off_sums);
    int32_t *ybuf = (int32_t *)(s + lo.off_ybuf);
    int32_t *x = (int32_t *)(s + lo.off_xbuf);
    int32_t *d = (int32_t *)(s + lo.off_dbuf);
    int32_t *acc = (int32_t *)(s + lo.off_acc);
    const int K = lo.K, L = lo.L, H = lo.H, J = lo.J, cout = lo.cout;
    const int64_t G = lo.group_rows;
    const int buckets = 1 << H;

    for (int grp = 0; grp < lo.n_groups; grp++) {
        const int64_t r0 = (int64_t)grp * G;
        for (int64_t i = 0; i < G; i++)
            for (int oc = 0; oc < cout; oc++) acc[i * cout + oc] = bias ? bias[oc] : 0;
        for (int j = 0; j < J; j++) {
            const int k0 = j * L;
            const int Lj = K - k0 < L ? K - k0 : L;
            const int8_t *P = p->proj_s8 + (size_t)H * k0;
            for (int b = 0; b < buckets; b++) table[b] = -1;
            int32_t nc = 0;
            for (int64_t i = 0; i < G; i++) {
                const int64_t r = r0 + i;
                for (int t = 0; t < Lj; t++) {
                    const int64_t src = trec_src_index(g, r, k0 + t);
                    x[t] = src < 0 ? 0 : (int32_t)input[src] - q->input_zp;
                }
                unsigned id = 0;
                for (int h = 0; h < H; h++) {
                    int32_t dot = 0;
                    for (int t = 0; t < Lj; t++) dot += (int32_t)P[h * Lj + t] * x[t];
                    d[h] = dot;
                    const int64_t dd =
                        (int64_t)dot + (p->offset_s32 ? p->offset_s32[j * H + h] : 0);
                    if (dd >= 0) id |= 1u << h;
                }
                if (stats && stats->bucket_ids) stats->bucket_ids[r * J + j] = (uint16_t)id;
                int32_t c = table[id];
                if (c < 0) {
                    c = nc++;
                    table[id] = c;
                    counts[c] = 0;
                    for (int t = 0; t < Lj; t++) sums[(size_t)c * L + t] = 0;
                }
                cl[i] = c;
                counts[c]++;
                for (int t = 0; t < Lj; t++) sums[(size_t)c * L + t] += x[t];
            }
            for (int32_t c = 0; c < nc; c++) {
                int32_t *cent = sums + (size_t)c * L;
                for (int t = 0; t < Lj; t++) cent[t] = fr_trec_round_div(cent[t], counts[c]);
                for (int oc = 0; oc < cout; oc++) {
                    const int8_t *w = filter + (size_t)oc * K + k0;
                    int32_t y = 0;
                    for (int t = 0; t < Lj; t++) y += cent[t] * (int32_t)w[t];
                    ybuf[oc] = y;
                }
                for (int64_t i = 0; i < G; i++)
                    if (cl[i] == c)
                        for (int oc = 0; oc < cout; oc++)
                            acc[i * cout + oc] = fr_q_add(acc[i * cout + oc], ybuf[oc]);
            }
            fr_trec_stats_add(stats, &lo, j, Lj, nc);
        }
        int8_t *out0 = output + r0 * cout;
        for (int64_t i = 0; i < G; i++)
            for (int oc = 0; oc < cout; oc++)
                out0[i * cout + oc] = fr_cnn_requant1(q, acc[i * cout + oc], oc);
    }
}
