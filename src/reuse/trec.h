/* TREC: convolution with transient redundancy elimination (computation reuse).
 *
 * A CONV_2D computed once per cluster of similar input patches instead of once per
 * output pixel. The same geometry, layouts and quantisation as the CNN operator kernels
 * (src/cnn/ops.h): activations NHWC, filter OHWI [out_c][k_h][k_w][in_c], float bias or
 * int32 bias, TFLite's per-channel requantisation for int8. docs/trec.md has the full
 * description; the PyTorch twin is tools/py/trec.py.
 *
 * Definitions (exact: the scalar reference, the fast path and the twins all follow them)
 *   rows      one row per output pixel, r = (b * out_h + oy) * out_w + ox, N = batch *
 *             out_h * out_w rows. Row r is the im2col patch of length K = k_h * k_w * in_c
 *             in filter order: element k = (fy * k_w + fx) * in_c + ic reads
 *             input[b][oy*stride_h - pad_top + fy*dil_h][ox*stride_w - pad_left + fx*dil_w][ic]
 *             and is 0 (float) or input_zp (int8, i.e. 0 after subtracting it) outside.
 *   int8      the row holds v = x - input_zp (int32 in [-255, 255]).
 *   sub-vectors  L = sub_len (1 <= L <= K). Sub-vector j covers k in [j*L, min(j*L+L, K));
 *             J = ceil(K / L) of them; the last is shorter when L does not divide K.
 *             L_j denotes its length.
 *   projections  per sub-vector j an H x L_j matrix P_j (H = hash_bits, 1..16), stored
 *             one after the other: P_j starts at element H * j * L, row h of P_j at
 *             H * j * L + h * L_j; H * K elements in all. Float kernels read proj_f32,
 *             int8 kernels read proj_s8.
 *   hash      d_h = sum_t P_j[h][t] * x[j*L + t]
 *               float: summed in float32 in order t = 0, 1, ..., L_j - 1, each product
 *                      rounded to float32 before the add (no fused multiply-add);
 *               int8 : exact int32 sum of int8 projection times v.
 *             offset (optional, o = offset[j * H + h], 0 when absent):
 *               float: d_h = d_h + o (one float32 add, also done when o = 0 is given);
 *               int8 : d_h = d_h + o computed exactly (in 64 bits).
 *             bit_h = 1 if d_h >= 0 (so +0 and -0 give 1), else 0 (NaN gives 0).
 *             bucket id = sum_h bit_h << h, in [0, 2^H).
 *   scope     FR_TREC_SCOPE_IMAGE: buckets are per image (rows of one batch element);
 *             FR_TREC_SCOPE_BATCH: buckets shared by all rows of the batch.
 *   centroid  for each (scope group, j, bucket) with n >= 1 member rows:
 *               float: s = sum of the members' sub-vectors in increasing row order
 *                      (float32, starting from +0), c = s / (float)n (one IEEE division);
 *               int8 : s = exact int32 sum of v, c = round-half-away-from-zero(s / n):
 *                      c = s >= 0 ? (s + n/2) / n : -((-s + n/2) / n), C integer division.
 *                      c stays in [-255, 255] (it is not re-quantised to int8).
 *   partial   y[oc] = sum_t c[t] * filter[oc][j*L + t]
 *               float: from +0 in order t = 0, 1, ..., each term a fused multiply-add
 *                      (y = fmaf(c[t], w, y): one rounding per term);
 *               int8 : exact int32.
 *   output    acc[oc] = bias[oc] (0 when bias is NULL), then acc += y_j[oc] for j = 0, 1,
 *             ..., J-1 with y_j the partial of the row's bucket for sub-vector j;
 *               float: output = clamp(acc, act.min, act.max);
 *               int8 : output = clamp(MBQM(acc, mult[c], shift[c]) + output_zp, act_min,
 *                      act_max) exactly as fr_cnn_conv_s8_ref (int32 adds wrap).
 *   Every bucket holding identical sub-vectors only (e.g. H large enough that distinct
 *   sub-vectors never share a bucket) gives the dense convolution: bit-exact for int8,
 *   up to summation order for float.
 *
 * Pixel mode (pixel = 1; needs L to divide in_c: the pixel's channels fall into G =
 * in_c / L channel groups of L, and sub-vector j = tap * G + cg is channel group cg of
 * filter tap (fy, fx) = (tap / k_w, tap % k_w), J = k_h * k_w * G): channel group cg has
 * one H x L projection P_cg (block cg of the projections, H * L * G values in all) and H
 * offsets (offset[cg * H + h]) that serve every tap, so each input pixel's channel group
 * is hashed once instead of once per tap and row that reads it. G = 1 (L = in_c) is the
 * whole pixel. Per scope group, channel group after channel group (cg = 0, 1, ...):
 *   group     the in_h * in_w input pixels of one image (SCOPE_IMAGE) or all batch * in_h
 *             * in_w of the batch (SCOPE_BATCH), in NHWC order; every pixel of the group
 *             is hashed, also one that no output reads.
 *   hash      of pixel q: v = input[q][cg * L .. cg * L + L) (int8: x - input_zp), d_h and
 *             the bit as above with P_cg and its offsets.
 *   centroid  per (group, cg, bucket): the mean of its pixels' v, summed in increasing
 *             pixel order (float: from +0, then / (float)n; int8: exact, rounded as above).
 *   output    acc[oc] = bias[oc] once per row; then for cg = 0, 1, ..., G-1, for taps
 *             0, 1, ... whose input lies inside the image: acc += y_j (j = tap * G + cg),
 *             y_j[oc] = sum_t c[t] * filter[oc][j*L + t] (float32 in order t, or exact
 *             int32) with c the centroid of the pixel the tap reads; taps in the padding
 *             add nothing. Then the clamp / requantisation above.
 *   That is the convolution of the centroid map (each pixel's channel groups replaced by
 *   their centroids). Partial products are computed only for the (group, cg, bucket, tap)
 *   whose tap some row of the group reads a pixel of that bucket through (a bucket of
 *   border pixels only, or of pixels a strided conv skips at that tap, needs none); stats
 *   count one cluster per such tuple (clusters_per_sub[j]), macs_reuse = clusters * L *
 *   out_c, macs_hash = pixels * in_c * H, and bucket_ids (when given) holds one id per
 *   input pixel and channel group (batch * in_h * in_w * G, [q * G + cg], q in NHWC
 *   order).
 *
 * Memory: no kernel allocates, prints or touches global state. Scratch comes from the
 * caller (fr_trec_conv_*_scratch_bytes, 64-byte aligned pointer; it covers the reference
 * and the fast path). Its size grows with the rows of one scope group (G = out_h * out_w
 * for IMAGE, N for BATCH), with 2^H (a bucket -> cluster table of int32), with
 * min(G, 2^H) * max(L, out_c) (per cluster its sums, then in the same place its partial
 * products) and with the filter slices the fast path reads t-major: float K * out_c (the
 * whole filter, transposed once per call; none when params.filter_t gives that copy),
 * int8 L * out_c (one sub-vector's); int8 adds G * out_c int32 accumulators; float pixel
 * mode up to FR_TREC_PART_BUDGET bytes of partial products. See
 * fr_trec_conv_f32_scratch_bytes.
 *
 * Validation: fr_trec_check once (prepare validates, eval computes); the kernels assume
 * valid arguments and return void. The float fast path is bit-identical to the float
 * reference (same summation orders), the int8 fast path likewise.
 */
#ifndef FR_REUSE_TREC_H
#define FR_REUSE_TREC_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/ops.h"
#include "core/kernels.h" /* fr_isa */
#include "frugal.h"

#define FR_TREC_MAX_HASH_BITS 16
/* Longest sub-vector: keeps the int8 hash sum (127 * 255 * L) inside int32. */
#define FR_TREC_MAX_SUB_LEN 65535

typedef enum fr_trec_scope {
    FR_TREC_SCOPE_IMAGE = 0, /* clusters never mix batch elements */
    FR_TREC_SCOPE_BATCH = 1  /* clusters over the whole batch */
} fr_trec_scope;

typedef struct fr_trec_params {
    int sub_len;             /* L, 1..min(K, FR_TREC_MAX_SUB_LEN) */
    int hash_bits;           /* H, 1..FR_TREC_MAX_HASH_BITS */
    fr_trec_scope scope;
    const float *proj_f32;   /* H * K floats (layout above); float kernels */
    const int8_t *proj_s8;   /* H * K int8; int8 kernels */
    const float *offset_f32; /* optional (NULL: 0): J * H hyperplane offsets, [j * H + h];
                                float kernels */
    const int32_t *offset_s32; /* optional (NULL: 0): J * H offsets; int8 kernels */
    int pixel;               /* 1: pixel mode (above): L divides in_c, projections G * H * L
                                and offsets G * H values (G = in_c / L), shared by all taps */
    const float *filter_t;   /* optional, float fast path: the filter t-major, K * out_c
                                floats, filter_t[k * out_c + oc] = filter[oc * K + k]
                                (fr_trec_filter_t_f32), e.g. made once at model load; NULL:
                                the fast path transposes the filter into the scratch at
                                every call. It changes the scratch size: give the same
                                params to fr_trec_conv_f32_scratch_bytes and the call. The
                                reference ignores it. */
    const void *taps_s8;     /* optional, int8 pixel mode on AVX-512 VNNI: every tap's filter
                                slice packed as that kernel reads it
                                (fr_trec_taps_s8_pack), e.g. made once at model load; NULL:
                                each call packs each tap's slice into its scratch. Other
                                paths and the reference ignore it; the scratch size does not
                                depend on it. */
} fr_trec_params;

/* What a call did. Every field is optional to read; the pointers are optional to give
 * (NULL: not written). Counts are for the whole call (all scope groups). */
typedef struct fr_trec_stats {
    int64_t rows;            /* N */
    int n_sub;               /* J */
    int64_t clusters;        /* sum over groups and sub-vectors of non-empty buckets */
    int64_t macs_dense;      /* N * K * out_c: what CONV_2D does */
    int64_t macs_reuse;      /* sum over clusters of L_j * out_c: the partial products */
    int64_t macs_hash;       /* N * K * H: hashing */
    int64_t adds;            /* N * K (centroid sums; pixel mode: pixels * L) + N * J * out_c
                                (gathering partials) */
    uint32_t *clusters_per_sub; /* caller array of J: clusters of sub-vector j, summed over
                                   scope groups */
    uint16_t *bucket_ids;    /* caller array of N * J: bucket id of row r, sub-vector j at
                                [r * J + j]; pixel mode: batch * in_h * in_w * G, one per
                                input pixel and channel group */
} fr_trec_stats;

/* J = ceil(K / L) (0 when an argument is < 1). */
int fr_trec_num_sub(int K, int sub_len);

/* Validates params against the geometry: g as fr_cnn_geom_check, depth_mult 1 (plain
 * CONV_2D), 1 <= H <= 16, 1 <= L <= K and L <= FR_TREC_MAX_SUB_LEN, a known scope and the
 * projections of the requested type present (want_s8: proj_s8, else proj_f32); pixel mode
 * needs L to divide in_c. Also
 * refuses geometries whose row count or scratch size would overflow. The message names
 * `op`. */
fr_status fr_trec_check(const fr_trec_params *p, const fr_cnn_geom *g, int want_s8,
                        const char *op, fr_error *err);

/* Scratch bytes for fr_trec_conv_f32_ref / fr_trec_conv_f32 (any isa). */
size_t fr_trec_conv_f32_scratch_bytes(const fr_trec_params *p, const fr_cnn_geom *g);
/* Scratch bytes for fr_trec_conv_s8_ref / fr_trec_conv_s8 (any isa). */
size_t fr_trec_conv_s8_scratch_bytes(const fr_trec_params *p, const fr_cnn_geom *g);

/* filter_t[k * cout + oc] = filter[oc * K + k] (params.filter_t). */
void fr_trec_filter_t_f32(const float *filter, int K, int cout, float *filter_t);

/* Bytes of params.taps_s8 for this isa (0: that path packs nothing ahead, leave taps_s8
 * NULL): J * out_c rounded up to 16 * L in pixel mode with L a multiple of 4 on
 * isa >= FR_ISA_AVX512 (x86), else 0. */
size_t fr_trec_taps_s8_bytes(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g);
/* Packs every tap's filter slice into taps (fr_trec_taps_s8_bytes bytes, > 0). */
void fr_trec_taps_s8_pack(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g,
                          const int8_t *filter, void *taps);

/* Float TREC convolution. stats may be NULL. */
void fr_trec_conv_f32_ref(const fr_trec_params *p, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                          const float *input, const float *filter, const float *bias,
                          float *output, void *scratch, fr_trec_stats *stats);
/* The fast path (contiguous gathers, transposed filter slices, loops that vectorise
 * without changing any summation order; with isa >= FR_ISA_AVX2, which the caller must
 * have checked with fr_isa_supported, AVX2 hash and partial-product kernels). Any isa
 * value is valid (FR_ISA_SCALAR: portable C only). Bit-identical to fr_trec_conv_f32_ref. */
void fr_trec_conv_f32(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g,
                      fr_cnn_range_f32 act, const float *input, const float *filter,
                      const float *bias, float *output, void *scratch, fr_trec_stats *stats);

/* int8 TREC convolution (q as for fr_cnn_conv_s8; filter zero point 0). */
void fr_trec_conv_s8_ref(const fr_trec_params *p, const fr_cnn_geom *g,
                         const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output, void *scratch,
                         fr_trec_stats *stats);
/* The int8 fast path: portable C, or with isa >= FR_ISA_AVX2 / FR_ISA_AVX512 (checked by
 * the caller with fr_isa_supported) the AVX2 / AVX-512 VNNI kernels, and on Arm cores with
 * the DSP extension (Cortex-M4/M7) SMLAD kernels. Bit-identical to fr_trec_conv_s8_ref. */
void fr_trec_conv_s8(fr_isa isa, const fr_trec_params *p, const fr_cnn_geom *g,
                     const fr_cnn_requant *q, const int8_t *input, const int8_t *filter,
                     const int32_t *bias, int8_t *output, void *scratch,
                     fr_trec_stats *stats);

/* ------------------------------------------------------------------------------------ */
/* Sidecar file: TREC parameters carried beside a TFLite model ("MODEL.tflite.trec").     */
/*
 * Little-endian, read in place (no copy, no malloc):
 *   header  16 bytes: char magic[4] = "FRTC"; u16 version = 1; u16 n_layers;
 *                     u32 file_bytes (must equal the buffer length); u32 reserved = 0
 *   table   n_layers entries of 24 bytes, sorted by strictly increasing op_index:
 *             u32 op_index    the CONV_2D's operator index in the TFLite subgraph 0
 *             u32 K           k_h * k_w * in_c of that conv (checked against the model)
 *             u16 sub_len     L (1..min(K, 65535))
 *             u8  hash_bits   H (1..16)
 *             u8  scope       0 image, 1 batch
 *             u8  types       bit 0: float projections present, bit 1: int8 present
 *                             (at least one of the two); bit 2: hyperplane offsets
 *                             present (for each type present); bit 3: pixel mode (one
 *                             projection per channel group for all filter taps; the
 *                             model's in_c must be sub_len * groups)
 *             u8  groups      pixel mode: channel groups G = in_c / sub_len, 1..255 (0
 *                             reads as 1); 0 otherwise
 *             u8  reserved[2] = 0
 *             u32 offset      of the projection data from the file start, multiple of 4
 *             u32 bytes       = (types & 1 ? 4 * H * K' : 0) + (types & 2 ? H * K' : 0)
 *                               + (types & 4 ? 4 * J' * H * n_types : 0), n_types = the
 *                               number of bits 0..1 set; K' = K and J' = J, or with
 *                               bit 3 K' = L * G and J' = G (projection block g, H x L,
 *                               and offsets [g * H + h] for channel group g)
 *   data    per layer, in this order: the float projections (H * K' float32, layout as
 *           fr_trec_params) and [bit 2] their J' * H float32 offsets; [bit 2] the J' * H
 *           int32 offsets of the int8 kernels and the int8 projections (H * K' int8).
 *           Blocks lie inside the file, after the table, in table order, without
 *           overlap.
 * The float data is used in place, so the buffer must be 4-byte aligned (checked).
 * tools/py/trec.py writes it (write_sidecar).
 */

#define FR_TREC_FILE_HEADER 16
#define FR_TREC_FILE_ENTRY 24

typedef struct fr_trec_layer {
    int op_index;
    int K;
    int channel_groups; /* pixel mode: in_c / sub_len (the model must agree); else 1 */
    fr_trec_params params; /* proj_* / offset_* point into the file buffer (or NULL) */
} fr_trec_layer;

/* Validates the whole sidecar in buf (len bytes; `name` names it in messages) and
 * returns its layer count. Errors: FR_E_FORMAT (bad magic, truncated, offsets or sizes
 * out of range, overlapping blocks, unsorted or duplicate op indices, values out of
 * range), FR_E_UNSUPPORTED (another version), FR_E_ARG (NULL arguments or misaligned
 * buffer). */
fr_status fr_trec_file_open(const void *buf, size_t len, const char *name, int *n_layers,
                            fr_error *err);
/* Layer i (0 <= i < n_layers) of a sidecar that fr_trec_file_open accepted. */
fr_status fr_trec_file_layer(const void *buf, size_t len, int i, fr_trec_layer *out,
                             fr_error *err);
/* The layer for TFLite operator op_index: FR_OK and *found = 1, or FR_OK and *found = 0
 * (that conv stays dense). Binary search; the file must have passed fr_trec_file_open. */
fr_status fr_trec_file_find(const void *buf, size_t len, int op_index, fr_trec_layer *out,
                            int *found, fr_error *err);

#endif
