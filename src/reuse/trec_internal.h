/* Internal to src/reuse/trec*.c: the scratch layout shared by the reference and the fast
 * path, and the stats bookkeeping. */
#ifndef FR_REUSE_TREC_INTERNAL_H
#define FR_REUSE_TREC_INTERNAL_H

#include <string.h>

#include "cnn/ops_internal.h"
#include "reuse/trec.h"

/* Offsets (bytes from the scratch start, each a multiple of 64) and counts of one
 * call's scratch. Elements of sums / ybuf / xbuf / dbuf are 4 bytes (float for the float
 * kernels, int32 for int8); wT / pT hold floats (float) or packed int16 pairs (int8).
 *
 * Cluster slots: the fast path keeps cluster c's sums (L values) at sums + c * slot and,
 * once its centroid has been taken from them, its partial products (cout values) in the
 * same place, slot = max(L, cout); so sums and partial products take C * slot values,
 * not C * (L + cout) (the partial products of the clusters are all computed before the
 * rows gather them in row order). The reference uses the first L values of each slot for
 * the sums and ybuf for one cluster's partial products. */
typedef struct fr_trec_layout {
    int K, J, L, H, cout;
    int pixel;           /* pixel mode (trec.h): clusters of input pixels, slot = L */
    int taps;            /* k_h * k_w */
    int cgroups;         /* pixel mode: channel groups in_c / L (J = taps * cgroups); else 1 */
    int slot;            /* max(L, cout); pixel mode: L */
    int64_t rows;        /* N */
    int64_t group_rows;  /* G */
    int n_groups;
    int64_t group_pix;   /* pixel mode: input pixels per group (in_h * in_w, or times batch) */
    int64_t pixels;      /* pixel mode: batch * in_h * in_w */
    int64_t max_clusters; /* C = min(G, 2^H); pixel mode: min(group_pix, 2^H) */
    size_t off_table;    /* 2^H int32: bucket id -> cluster index, -1 when empty */
    size_t off_cl;       /* G int32: cluster of each row of the group; pixel mode:
                            group_pix int32, cluster of each pixel */
    size_t off_counts;   /* C int32 */
    size_t off_cid;      /* C int32: bucket id of each cluster (fast path) */
    size_t off_sums;     /* C * slot: the cluster slots */
    size_t off_ybuf;     /* cout (reference: one cluster's partial products) */
    size_t off_xbuf;     /* L (int8: the row's int16 values); float: FR_TREC_HASH_ROWS x L */
    size_t off_dbuf;     /* 16 (int8: the thresholds); float: FR_TREC_HASH_ROWS x 16 */
    size_t off_wt;       /* fast path, float: the whole filter t-major, K * cout floats
                            (sub-vector [k0, k0 + Lj) at k0 * cout; no room when
                            params.filter_t gives it); int8: one sub-vector's slice,
                            Lp * cout int16, Lp = L rounded up to even */
    size_t off_pt;       /* fast path, projections t-major, rows of Hp = H rounded up to a
                            multiple of 8, zero-padded: L * Hp floats, or Lp * Hp int16 */
    size_t off_acc;      /* int8: G * cout int32; pixel mode G * oc_chunk */
    size_t off_qout;     /* int8 pixel mode with oc_chunk < cout: G * oc_chunk int8 (one
                            chunk's requantised outputs) */
    int oc_chunk;        /* int8 pixel mode: output channels accumulated at once
                            (fr_trec_oc_chunk); cout otherwise */
    size_t off_zeros;    /* L zero floats (float only): a sub-vector in the padding */
    size_t off_cent;     /* pixel mode, int8: C * Lp int16 centroids */
    size_t off_part;     /* pixel mode: the partial products of the clusters, cout each
                            (int8: one tap's, in the cluster slots once the centroids are
                            taken; float: part_floats, a chunk of taps, fr_trec_tap_chunk) */
    size_t part_floats;  /* pixel mode, float: C * cout <= part_floats <= taps * C * cout */
    size_t slot_bytes;   /* bytes of the cluster slots at off_sums: C * slot * 4, or, in int8
                            pixel mode, more (up to FR_TREC_S8_PART_BUDGET) so that the
                            partials of a chunk of taps fit (fr_trec_tap_chunk) */
    size_t total;
} fr_trec_layout;

/* Fills the layout (arguments already validated by fr_trec_check). */
void fr_trec_layout_init(fr_trec_layout *lo, const fr_trec_params *p, const fr_cnn_geom *g,
                         int want_s8);

/* Starts the stats of a call (stats may be NULL): zeroes counters and clusters_per_sub. */
void fr_trec_stats_begin(fr_trec_stats *stats, const fr_trec_layout *lo);

/* The cluster bookkeeping that every path keeps in its scratch (the element-typed regions
 * are each path's own). */
typedef struct fr_trec_book {
    unsigned char *s;                  /* the scratch */
    int32_t *table, *cl, *counts, *cid; /* at off_table, off_cl, off_counts, off_cid */
} fr_trec_book;

/* The start of every TREC call: the scratch layout, the stats begun, the bookkeeping. */
static inline fr_trec_book fr_trec_begin(fr_trec_layout *lo, const fr_trec_params *p,
                                         const fr_cnn_geom *g, int want_s8, void *scratch,
                                         fr_trec_stats *stats) {
    fr_trec_layout_init(lo, p, g, want_s8);
    fr_trec_stats_begin(stats, lo);
    fr_trec_book b;
    b.s = scratch;
    b.table = (int32_t *)(void *)(b.s + lo->off_table);
    b.cl = (int32_t *)(void *)(b.s + lo->off_cl);
    b.counts = (int32_t *)(void *)(b.s + lo->off_counts);
    b.cid = (int32_t *)(void *)(b.s + lo->off_cid);
    return b;
}
/* Adds the clusters of sub-vector j (length Lj) of one group. */
static inline void fr_trec_stats_add(fr_trec_stats *stats, const fr_trec_layout *lo, int j,
                                     int Lj, int64_t n_clusters) {
    if (!stats) return;
    stats->clusters += n_clusters;
    stats->macs_reuse += n_clusters * (int64_t)Lj * lo->cout;
    if (stats->clusters_per_sub) stats->clusters_per_sub[j] += (uint32_t)n_clusters;
}

/* Bytes of one sub-vector's filter slice packed for the AVX-512 VNNI pixel-mode tap kernel
 * (fr_trec_pack_tap_vnni: cout rounded up to 16, times L); params.taps_s8 holds J of them,
 * sub-vector j at j times this. */
static inline size_t fr_trec_vnni_tap_bytes(int L, int cout) {
    return (size_t)((cout + 15) & ~15) * (size_t)L;
}

/* Pixel-mode references (trec_pixel_ref.c), called by fr_trec_conv_*_ref. */
void fr_trec_pixel_f32_ref(const fr_trec_params *p, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                           const float *input, const float *filter, const float *bias,
                           float *output, void *scratch, fr_trec_stats *stats);
void fr_trec_pixel_s8_ref(const fr_trec_params *p, const fr_cnn_geom *g,
                          const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, int8_t *output, void *scratch,
                          fr_trec_stats *stats);

/* H rounded up to a multiple of 8: the row stride of the transposed projections. */
static inline int fr_trec_hpad(int H) {
    return (H + 7) & ~7;
}

/* Float pixel mode: the partial products of as many filter taps as fit this many bytes
 * (at least one tap's) are kept at once, so that every output row adds a chunk of taps in
 * registers instead of reading and writing its sums once per tap; at most
 * FR_TREC_TAP_CHUNK taps per chunk. */
#define FR_TREC_PART_BUDGET (256 * 1024)
#define FR_TREC_TAP_CHUNK 32

/* Pixel mode (float and int8): the filter taps whose partial products (nc clusters x width
 * 4-byte values each) fit `room` 4-byte values at once: at least 1, at most taps and
 * FR_TREC_TAP_CHUNK. */
static inline int fr_trec_tap_chunk(size_t room, int32_t nc, int width, int taps) {
    const size_t per_tap = (size_t)(nc > 0 ? nc : 1) * (size_t)width;
    size_t T = room / per_tap;
    if (T > (size_t)taps) T = (size_t)taps;
    if (T > FR_TREC_TAP_CHUNK) T = FR_TREC_TAP_CHUNK;
    return T < 1 ? 1 : (int)T;
}

/* Int8 pixel mode: the rows' int32 sums of a scope group take at most this many bytes
 * (more than one chunk of output channels when G * cout * 4 exceeds it, so that a layer
 * with a large output fits a microcontroller's arena; the hashing and clustering are done
 * once, each chunk repeats only the taps' passes). A build setting: 256 KB by default
 * (on a PC the chunks only cost time), 32 KB in the firmware build (mcu/CMakeLists.txt,
 * FW_TREC_ACC_BUDGET). The scratch size and the outputs follow it; the outputs are
 * the same whatever it is (exact int32 sums). */
#ifndef FR_TREC_ACC_BUDGET
#define FR_TREC_ACC_BUDGET (256 * 1024)
#endif

/* Int8 pixel mode: the cluster slots may take up to this many bytes, so that the partial
 * products of several filter taps are kept at once and each row adds a chunk of taps in
 * registers (fr_trec_add_taps) instead of reading and writing its int32 sums once per tap
 * (and when every tap fits, a line of outputs is summed and requantised in one go); at
 * least one tap's (C * max(L, oc_chunk) int32), at most FR_TREC_TAP_CHUNK taps. A build
 * setting: 1 MB by default (a PC's L2), 0 in the firmware build (mcu/CMakeLists.txt,
 * FW_TREC_S8_PART_BUDGET: the slots one tap needs anyway, nothing added to the arena); the
 * outputs do not depend on it. */
#ifndef FR_TREC_S8_PART_BUDGET
#define FR_TREC_S8_PART_BUDGET (1024 * 1024)
#endif

/* Whether fr_trec_add_line sums a chunk of taps pixel by pixel in a local array, which a PC
 * keeps in vector registers (64 int32: four AVX-512 vectors), or adds the chunk tap by tap
 * into the sums in place, each tap over the columns whose input lies in the image. On a
 * Cortex-M the local array lives on the stack: its copy in and out and the per-pixel checks
 * of every tap only add work (8-25% more instructions on the TREC layers of CifarNet and
 * CifarNet-HR, docs/trec.md), so it follows the budget: off in the firmware build, where the
 * budget is 0. The sums are the same either way (wrapping int32 adds). */
#ifndef FR_TREC_ADD_IN_REGS
#define FR_TREC_ADD_IN_REGS (FR_TREC_S8_PART_BUDGET > 0)
#endif

/* Output channels per chunk: cout when G * cout int32 fit FR_TREC_ACC_BUDGET, else the
 * most multiples of 16 that fit (at least 16). */
static inline int fr_trec_oc_chunk(int64_t G, int cout) {
    if (G * cout * 4 <= FR_TREC_ACC_BUDGET) return cout;
    int64_t cc = (FR_TREC_ACC_BUDGET / (G * 4)) & ~(int64_t)15;
    if (cc < 16) cc = 16;
    return cc < cout ? (int)cc : cout;
}

/* Rows whose float hash sums one kernel call computes together (trec_f32_body.h): the
 * scratch holds this many gathered sub-vectors and hash vectors. */
#define FR_TREC_HASH_ROWS 8

/* Clusters whose float partial products one kernel call computes together (they share
 * the loads of the filter slice). */
#define FR_TREC_PART_BLOCK 4

/* Float partial products of n <= FR_TREC_PART_BLOCK centroids (y[i] must not overlap any
 * cent[]):
 *   y[i][oc] = sum_t cent[i][t] * wt[t * cout + oc] for oc < cout
 * each sum a chain of fused multiply-adds from 0 in order t = 0, 1, ... (one rounding per
 * term, as fmaf), so every variant is bit-identical to the reference. */
typedef void (*fr_trec_partial_f32_fn)(const float *const *cent, int n, int Lj, const float *wt,
                                       int cout, float *const *y);

#ifndef FR_X86
#define FR_X86 0
#endif
#if FR_X86
/* The whole float TREC convolution with AVX2 kernels (trec_avx2.c), with AVX-512 partial
 * products (trec_avx512.c). */
void fr_trec_conv_f32_avx2(const fr_trec_params *p, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                           const float *input, const float *filter, const float *bias,
                           float *output, void *scratch, fr_trec_stats *stats);
void fr_trec_conv_f32_avx512(const fr_trec_params *p, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                             const float *input, const float *filter, const float *bias,
                             float *output, void *scratch, fr_trec_stats *stats);
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

/* ------------------------------------------------------------------------------------ */
/* int8 fast path (the bodies are in trec_s8_body.h), instantiated per ISA file with the  */
/* inner kernels, so the loops around them are compiled (and auto-vectorised) for that    */
/* ISA and the kernels inline. All int8 arithmetic is exact (int32 sums that cannot       */
/* overflow, see trec.h), so any order of the terms gives the reference's bits.           */
/*                                                                                        */
/* Packed layouts (per sub-vector j, Lp = Lj rounded up to even, np = Lp / 2 pairs,       */
/* Hq = fr_trec_hpad(H), 8 or 16):                                                        */
/*   v     int16 [Lp]: the row's values x - zp (0 in the padding and at t = Lj)            */
/*   ptp   int16 [np][Hq][2]: ptp[(p*Hq + h)*2 + e] = P_j[h][2p + e] (0 beyond H / Lj)     */
/*   thr   int32 [Hq]: bit h is 1 iff d_h >= thr[h] (thr = -offset); lanes of `never`     */
/*         (offset INT32_MIN: d_h + o >= 0 is impossible) and lanes >= H are masked off    */
/*   wt2   int16 [np][cout][2]: wt2[(p*cout + oc)*2 + e] = filter[oc][k0 + 2p + e]        */
/*   cent  int16 [Lp]: the centroid (in [-255, 255]; 0 at t = Lj)                          */
/* Kernels:                                                                               */
/*   hash:    returns sum_h (d_h >= thr[h]) << h for h < H (lanes H..Hq-1: any value),     */
/*            d_h = sum_t ptp * v                                                         */
/*   partial: y[oc] = sum_t cent[t] * wt2 (int32, exact)                                   */

typedef uint32_t (*fr_trec_hash_s8_fn)(const int16_t *ptp, int Hq, int H, const int16_t *v,
                                       int np, const int32_t *thr);
typedef void (*fr_trec_partial_s8_fn)(const int16_t *cent, int np, const int16_t *wt2, int cout,
                                      int32_t *y);
/* out[r * cout + oc] = fr_cnn_requant1(q, acc[r * cout + oc], oc) for r < rows */
typedef void (*fr_trec_requant_s8_fn)(const fr_cnn_requant *q, const int32_t *acc, int64_t rows,
                                      int cout, int8_t *out);

/* cent[t] = fr_trec_round_div(sm[t], n) for t < Lj (and cent[Lj] = 0 when Lj is odd). */
typedef void (*fr_trec_cent_s8_fn)(const int32_t *sm, int32_t n, int Lj, int16_t *cent);

/* With the division (cheap on cores with a hardware divider, e.g. Cortex-M). */
static inline void fr_trec_cent_div(const int32_t *sm, int32_t n, int Lj, int16_t *cent) {
    if (n == 1)
        for (int t = 0; t < Lj; t++) cent[t] = (int16_t)sm[t];
    else
        for (int t = 0; t < Lj; t++) cent[t] = (int16_t)fr_trec_round_div(sm[t], n);
    if (Lj & 1) cent[Lj] = 0;
}

/* With a double reciprocal and an exact integer correction (no divide instruction per
 * element): q = trunc(a * (1/n)) is within 1 of a / n for 0 <= a < 2^31, then fixed with the
 * remainder, so the result equals the C division exactly. */
static inline void fr_trec_cent_recip(const int32_t *sm, int32_t n, int Lj, int16_t *cent) {
    if (n == 1) {
        for (int t = 0; t < Lj; t++) cent[t] = (int16_t)sm[t];
    } else {
        const double inv = 1.0 / (double)n;
        const int32_t half = n / 2;
        for (int t = 0; t < Lj; t++) {
            const int32_t s = sm[t];
            const int32_t a = (s >= 0 ? s : -s) + half; /* < 2^31: |s| <= 255 * G */
            int32_t q = (int32_t)((double)a * inv);
            const int32_t r = a - q * n;
            q += (r >= n) - (r < 0);
            cent[t] = (int16_t)(s >= 0 ? q : -q);
        }
    }
    if (Lj & 1) cent[Lj] = 0;
}

/* The portable requantisation of the accumulators (one value at a time). */
static inline void fr_trec_requant_rows_c(const fr_cnn_requant *q, const int32_t *acc,
                                          int64_t rows, int cout, int8_t *out) {
    for (int64_t r = 0; r < rows; r++)
        for (int oc = 0; oc < cout; oc++)
            out[r * cout + oc] = fr_cnn_requant1(q, acc[r * cout + oc], oc);
}

#if FR_X86
void fr_trec_conv_s8_avx2(const fr_trec_params *p, const fr_cnn_geom *g,
                          const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, int8_t *output, void *scratch,
                          fr_trec_stats *stats);
void fr_trec_conv_s8_avx512(const fr_trec_params *p, const fr_cnn_geom *g,
                            const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, void *scratch,
                            fr_trec_stats *stats);
/* One tap's filter slice [k0, k0 + L) packed as the VNNI tap kernel reads it:
 * [cp / 16][L / 4][16][4] bytes, cp = cout rounded up to 16 (zeros past cout), L % 4 == 0. */
void fr_trec_pack_tap_vnni(const int8_t *filter, int K, int k0, int L, int cout, uint8_t *W);
#endif

/* Arm cores with the DSP extension (Cortex-M4/M7): trec_armdsp.c (SMLAD kernels). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define FR_TREC_ARM_DSP 1
void fr_trec_conv_s8_armdsp(const fr_trec_params *p, const fr_cnn_geom *g,
                            const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, void *scratch,
                            fr_trec_stats *stats);
#else
#define FR_TREC_ARM_DSP 0
#endif

#if defined(__GNUC__)
#define FR_TREC_INLINE static inline __attribute__((always_inline))
#else
#define FR_TREC_INLINE static inline
#endif

/* Element offset of channel 0 of filter tap (fy, fx) of row (b, oy, ox) in the NHWC input,
 * or -1 when the tap lies in the padding (both fast paths; the reference has its own). */
FR_TREC_INLINE ptrdiff_t fr_trec_tap_index(const fr_cnn_geom *g, int b, int oy, int ox, int fy,
                                          int fx) {
    const int iy = oy * g->stride_h - g->pad_top + fy * g->dil_h;
    const int ix = ox * g->stride_w - g->pad_left + fx * g->dil_w;
    if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) return -1;
    return (ptrdiff_t)((((size_t)b * g->in_h + iy) * g->in_w + ix) * g->in_c);
}

/* Pixel mode, filter tap (fy, fx): the output columns ox in [ox0, ox1) whose tap reads an
 * input column inside the image (ix = ox * stride_w - pad_left + fx * dil_w in [0, in_w);
 * ox0 >= ox1 when none does); that column is ixo + ox * sw. */
typedef struct fr_trec_tap_span {
    int fy, ox0, ox1, sw, ixo;
} fr_trec_tap_span;

FR_TREC_INLINE fr_trec_tap_span fr_trec_tap_span_at(const fr_cnn_geom *g, int fy, int fx) {
    fr_trec_tap_span sp;
    sp.fy = fy;
    sp.sw = g->stride_w;
    sp.ixo = fx * g->dil_w - g->pad_left;
    /* ox * sw + ixo >= 0  <=>  ox >= ceil(-ixo / sw); ox * sw + ixo <= in_w - 1 */
    sp.ox0 = sp.ixo >= 0 ? 0 : (-sp.ixo + sp.sw - 1) / sp.sw;
    const int top = g->in_w - 1 - sp.ixo;
    sp.ox1 = top < 0 ? 0 : top / sp.sw + 1;
    if (sp.ox1 > g->out_w) sp.ox1 = g->out_w;
    return sp;
}

/* The clusters that output line (b, oy) of a group reads through the tap: column ox (in
 * [ox0, ox1)) reads the pixel whose cluster is clr[ox * sw]; NULL when the tap's input row
 * lies in the padding. cl: the cluster of each pixel of the group. */
FR_TREC_INLINE const int32_t *fr_trec_tap_line(const fr_cnn_geom *g, const fr_trec_tap_span *sp,
                                              const int32_t *cl, int b, int oy) {
    const int iy = oy * g->stride_h - g->pad_top + sp->fy * g->dil_h;
    if (iy < 0 || iy >= g->in_h) return NULL;
    return cl + ((int64_t)b * g->in_h + iy) * g->in_w + sp->ixo;
}

/* Pixel mode, tap sp of a group of nb images: the clusters (of nc) that some row reads
 * through that tap, in increasing order, into list; returns their count. flag: nc int32
 * of work. */
FR_TREC_INLINE int32_t fr_trec_pixel_used(const fr_cnn_geom *g, const fr_trec_tap_span *sp,
                                         int nb, const int32_t *cl, int32_t nc, int32_t *flag,
                                         int32_t *list) {
    for (int32_t c = 0; c < nc; c++) flag[c] = 0;
    for (int b = 0; b < nb; b++)
        for (int oy = 0; oy < g->out_h; oy++) {
            const int32_t *clr = fr_trec_tap_line(g, sp, cl, b, oy);
            if (!clr) continue;
            for (int ox = sp->ox0; ox < sp->ox1; ox++) flag[clr[ox * sp->sw]] = 1;
        }
    int32_t n = 0;
    for (int32_t c = 0; c < nc; c++)
        if (flag[c]) list[n++] = c;
    return n;
}

/* Bits k of the filter positions through which some output position reads input position i
 * along one axis (i + pad - k * dil = o * stride for an o in [0, n_out)). */
static inline uint32_t fr_trec_axis_taps(int i, int pad, int dil, int stride, int n_out, int k_n) {
    uint32_t m = 0;
    for (int k = 0; k < k_n; k++) {
        const int t = i + pad - k * dil;
        if (t >= 0 && t % stride == 0 && t / stride < n_out) m |= 1u << k;
    }
    return m;
}

/* Pixel mode, a group of nb images: when the kernel has at most 32 taps, writes each
 * cluster's taps (bit fy * k_w + fx) through which some output row reads one of its pixels
 * into work[0 .. nc) (as uint32), in one pass over the pixels: pixel (iy, ix) is read through
 * tap (fy, fx) iff some oy in [0, out_h) has oy * stride_h - pad_top + fy * dil_h == iy, and
 * likewise for the column. fr_trec_pixel_used_tap then lists a tap's clusters from them
 * (the same sets that walking every row through the tap finds, at a fraction of the cost).
 * Larger kernels: nothing (fr_trec_pixel_used_tap walks the rows). */
FR_TREC_INLINE void fr_trec_pixel_used_prepare(const fr_cnn_geom *g, int nb, const int32_t *cl,
                                               int32_t nc, int32_t *work) {
    if (g->k_h * g->k_w > 32)
        return;
    uint32_t *mask = (uint32_t *)work;
    for (int32_t c = 0; c < nc; c++) mask[c] = 0;
    enum { W = 64 }; /* the column masks of W input columns at a time, computed once */
    for (int ix0 = 0; ix0 < g->in_w; ix0 += W) {
        const int nx = g->in_w - ix0 < W ? g->in_w - ix0 : W;
        uint32_t cols[W];
        for (int x = 0; x < nx; x++)
            cols[x] = fr_trec_axis_taps(ix0 + x, g->pad_left, g->dil_w, g->stride_w, g->out_w,
                                        g->k_w);
        for (int iy = 0; iy < g->in_h; iy++) {
            /* bit fy: some output row reads input row iy through filter row fy */
            const uint32_t rows = fr_trec_axis_taps(iy, g->pad_top, g->dil_h, g->stride_h,
                                                    g->out_h, g->k_h);
            if (!rows)
                continue;
            for (int x = 0; x < nx; x++) {
                uint32_t m = 0;
                for (int fy = 0; fy < g->k_h; fy++)
                    if (rows >> fy & 1u) m |= cols[x] << (fy * g->k_w);
                if (!m)
                    continue;
                for (int b = 0; b < nb; b++)
                    mask[cl[((int64_t)b * g->in_h + iy) * g->in_w + ix0 + x]] |= m;
            }
        }
    }
}

/* The clusters (of nc) that some row reads through tap `tap` (span sp), in increasing
 * order, into list; returns their count. work: as fr_trec_pixel_used_prepare left it (the
 * tap masks), or nc int32 of scratch for the walk of larger kernels. */
FR_TREC_INLINE int32_t fr_trec_pixel_used_tap(const fr_cnn_geom *g, const fr_trec_tap_span *sp,
                                              int tap, int nb, const int32_t *cl, int32_t nc,
                                              int32_t *work, int32_t *list) {
    if (g->k_h * g->k_w > 32)
        return fr_trec_pixel_used(g, sp, nb, cl, nc, work, list);
    const uint32_t *mask = (const uint32_t *)work;
    int32_t n = 0;
    for (int32_t c = 0; c < nc; c++)
        if (mask[c] >> tap & 1u) list[n++] = c;
    return n;
}

/* Each of `rows` rows of cout 4-byte values (float outputs or int32 accumulators) starts at
 * its bias, bias[oc], or at all-zero bytes (+0.0f, 0) when bias is NULL. */
FR_TREC_INLINE void fr_trec_rows_init(void *rows_start, int64_t rows, int cout,
                                     const void *bias) {
    const size_t bytes = (size_t)cout * 4;
    unsigned char *r = rows_start;
    for (int64_t i = 0; i < rows; i++, r += bytes) {
        if (bias)
            memcpy(r, bias, bytes);
        else
            memset(r, 0, bytes);
    }
}

/* Int8 pixel mode: the partial products that output column ox reads through chunk tap tt
 * (its input pixel's cluster, from the line's cluster ids clr[tt]); tap tt of cluster c at
 * part + c * S + tt * cc. The caller checks that the input lies in the image. */
static inline const int32_t *fr_trec_tap_part(const int32_t *part, int S, int cc,
                                              const int32_t *const *clr,
                                              const fr_trec_tap_span *sp, int tt, int ox) {
    return part + (size_t)clr[tt][ox * sp[tt].sw] * S + (size_t)tt * cc;
}

/* Int8 pixel mode, output row a (n <= 64 int32 sums): adds, wrapping, the partial products
 * of the pixel's cluster of each of the T taps of a chunk whose input lies in the image
 * (clr[tt] NULL: the tap's input row is in the padding; ox outside [ox0, ox1): its input
 * column is), from fr_trec_tap_part. The sums stay in registers over the chunk (integer
 * adds: any order gives the same sums). */
FR_TREC_INLINE void fr_trec_add_taps_n(int32_t *restrict a, const int32_t *restrict part,
                                      int S, int cc, const int32_t *const *clr,
                                      const fr_trec_tap_span *sp, int T, int ox, int n) {
    uint32_t acc[64];
    for (int i = 0; i < n; i++) acc[i] = (uint32_t)a[i];
    for (int tt = 0; tt < T; tt++) {
        if (!clr[tt] || ox < sp[tt].ox0 || ox >= sp[tt].ox1) continue;
        const int32_t *y = fr_trec_tap_part(part, S, cc, clr, sp, tt, ox);
        for (int i = 0; i < n; i++) acc[i] += (uint32_t)y[i];
    }
    for (int i = 0; i < n; i++) a[i] = (int32_t)acc[i];
}
/* a[i] += y[i], wrapping, n values; the common widths get constant-length copies, which
 * the compiler unrolls or vectorises completely. */
FR_TREC_INLINE void fr_trec_add_n(int32_t *restrict a, const int32_t *restrict y, int n) {
    for (int i = 0; i < n; i++) a[i] = (int32_t)((uint32_t)a[i] + (uint32_t)y[i]);
}
FR_TREC_INLINE void fr_trec_add_in_place(int32_t *a, const int32_t *y, int n) {
    switch (n) {
    case 16: fr_trec_add_n(a, y, 16); break;
    case 32: fr_trec_add_n(a, y, 32); break;
    case 64: fr_trec_add_n(a, y, 64); break;
    default: fr_trec_add_n(a, y, n); break;
    }
}
FR_TREC_INLINE void fr_trec_add_taps(int32_t *a, const int32_t *part, int S, int cc,
                                    const int32_t *const *clr, const fr_trec_tap_span *sp,
                                    int T, int ox) {
    int o = 0;
    for (; o + 64 <= cc; o += 64)
        fr_trec_add_taps_n(a + o, part + o, S, cc, clr, sp, T, ox, 64);
    switch (cc - o) {
    case 0: break;
    case 16: fr_trec_add_taps_n(a + o, part + o, S, cc, clr, sp, T, ox, 16); break;
    case 32: fr_trec_add_taps_n(a + o, part + o, S, cc, clr, sp, T, ox, 32); break;
    default: fr_trec_add_taps_n(a + o, part + o, S, cc, clr, sp, T, ox, cc - o); break;
    }
}

/* Int8 pixel mode, one line of output rows (arow, out_w rows of cc sums): adds the chunk's
 * T taps as fr_trec_add_taps does, pixel by pixel in registers when FR_TREC_ADD_IN_REGS and
 * T > 1, else tap by tap over the columns whose input lies in the image, in place. */
FR_TREC_INLINE void fr_trec_add_line(int32_t *arow, const int32_t *part, int S, int cc,
                                    const int32_t *const *clr, const fr_trec_tap_span *sp,
                                    int T, int out_w) {
    if (FR_TREC_ADD_IN_REGS && T > 1) {
        for (int ox = 0; ox < out_w; ox++)
            fr_trec_add_taps(arow + (size_t)ox * cc, part, S, cc, clr, sp, T, ox);
        return;
    }
    for (int tt = 0; tt < T; tt++) {
        if (!clr[tt]) continue;
        for (int ox = sp[tt].ox0; ox < sp[tt].ox1; ox++)
            fr_trec_add_in_place(arow + (size_t)ox * cc,
                                 fr_trec_tap_part(part, S, cc, clr, sp, tt, ox), cc);
    }
}

#endif
