/* Internal to src/reuse/trec*.c: the scratch layout shared by the reference and the fast
 * path, and the stats bookkeeping. */
#ifndef FR_REUSE_TREC_INTERNAL_H
#define FR_REUSE_TREC_INTERNAL_H

#include "reuse/trec.h"

/* Offsets (bytes from the scratch start, each a multiple of 64) and counts of one
 * call's scratch. Elements of sums / ybuf / xbuf / dbuf / wT / pT are 4 bytes (float
 * for the float kernels, int32 for int8). */
typedef struct fr_trec_layout {
    int K, J, L, H, cout;
    int64_t rows;        /* N */
    int64_t group_rows;  /* G */
    int n_groups;
    int64_t max_clusters; /* min(G, 2^H) */
    size_t off_table;    /* 2^H int32: bucket id -> cluster index, -1 when empty */
    size_t off_cl;       /* G int32: cluster of each row of the group */
    size_t off_counts;   /* max_clusters int32 */
    size_t off_cid;      /* max_clusters int32: bucket id of each cluster (fast path) */
    size_t off_sums;     /* max_clusters * L */
    size_t off_ybuf;     /* max_clusters * cout */
    size_t off_xbuf;     /* L */
    size_t off_dbuf;     /* FR_TREC_MAX_HASH_BITS */
    size_t off_wt;       /* L * cout (fast path: filter slice, t-major) */
    size_t off_pt;       /* L * Hp (fast path: projections, t-major, rows of Hp = H rounded
                            up to a multiple of 8, zero-padded) */
    size_t off_acc;      /* G * cout int32 (int8 only) */
    size_t total;
} fr_trec_layout;

/* Fills the layout (arguments already validated by fr_trec_check). */
void fr_trec_layout_init(fr_trec_layout *lo, const fr_trec_params *p, const fr_cnn_geom *g,
                         int want_s8);

/* Starts the stats of a call (stats may be NULL): zeroes counters and clusters_per_sub. */
void fr_trec_stats_begin(fr_trec_stats *stats, const fr_trec_layout *lo);
/* Adds the clusters of sub-vector j (length Lj) of one group. */
static inline void fr_trec_stats_add(fr_trec_stats *stats, const fr_trec_layout *lo, int j,
                                     int Lj, int64_t n_clusters) {
    if (!stats) return;
    stats->clusters += n_clusters;
    stats->macs_reuse += n_clusters * (int64_t)Lj * lo->cout;
    if (stats->clusters_per_sub) stats->clusters_per_sub[j] += (uint32_t)n_clusters;
}

/* H rounded up to a multiple of 8: the row stride of the transposed projections. */
static inline int fr_trec_hpad(int H) {
    return (H + 7) & ~7;
}

/* Float inner kernels of the fast path (each sum in order t = 0, 1, ...; products rounded
 * before the add), so every variant is bit-identical to the reference:
 *   hash:    d[h] = sum_t pt[t * Hp + h] * x[t]      for h < Hp (padding lanes give 0)
 *   partial: y[oc] = sum_t cent[t] * wt[t * cout + oc] for oc < cout */
typedef void (*fr_trec_hash_f32_fn)(const float *pt, int Hp, const float *x, int Lj, float *d);
typedef void (*fr_trec_partial_f32_fn)(const float *cent, int Lj, const float *wt, int cout,
                                       float *y);

#ifndef FR_X86
#define FR_X86 0
#endif
#if FR_X86
void fr_trec_hash_f32_avx2(const float *pt, int Hp, const float *x, int Lj, float *d);
void fr_trec_partial_f32_avx2(const float *cent, int Lj, const float *wt, int cout, float *y);
#endif

/* Bucket id from H hash values (float): bit h set when d[h] >= 0. */
static inline unsigned fr_trec_bits_f32(const float *d, int H) {
    unsigned id = 0;
    for (int h = 0; h < H; h++)
        if (d[h] >= 0.0f) id |= 1u << h;
    return id;
}

/* Rounded mean of the int8 path: half away from zero, n >= 1. */
static inline int32_t fr_trec_round_div(int32_t s, int32_t n) {
    return s >= 0 ? (s + n / 2) / n : -((-s + n / 2) / n);
}

#endif
