/* CONV_2D fast paths for AVX2 (+FMA).
 *
 * int8: im2col of a block of output pixels into int16 (x - input_zp, 0 in the padding, so
 * padded taps contribute exactly nothing, as in TFLite where they are skipped), weights
 * packed per 16 output channels as int16 pairs, and a 4-pixel x 16-channel micro-kernel on
 * _mm256_madd_epi16 with int32 accumulators. Integer arithmetic is exact, so the result is
 * bit-identical to fr_cnn_conv_s8_ref. Requantisation is vectorised (see
 * ops_avx2_internal.h). A 1x1 / stride 1 / unpadded conv skips the gather: its im2col row is
 * the input pixel itself.
 *
 * float: the same blocking in float with a 4x16 FMA micro-kernel.
 *
 * The weights (and per-channel constants) can be packed once with the _pack functions;
 * without a packed buffer they are packed into the scratch on every call. Scratch layout
 * (64-byte aligned pieces): [packed form], im2col block. */
#include "cnn/ops_avx2_internal.h"

enum { NR = 16, MR = 4 };

static int round_up(int v, int m) {
    return (v + m - 1) / m * m;
}

/* Pixels per im2col block: about 48 KiB of int16 (or float) A, a multiple of mr (the
 * micro-kernel's pixels). */
static int block_pixels(const fr_cnn_geom *g, int kp, size_t elem, int mr) {
    const int P = g->batch * g->out_h * g->out_w;
    int pb = (int)((48 * 1024) / ((size_t)kp * elem));
    pb = pb / mr * mr;
    if (pb < mr) pb = mr;
    const int pr = round_up(P, mr);
    return pb < pr ? pb : pr;
}

/* ------------------------------------------------------------------------------------ */
/* int8                                                                                   */

static int kpad_s8(const fr_cnn_geom *g) {
    return round_up(g->k_h * g->k_w * g->in_c, 2);
}

/* Packed form: per-channel constants (fr_cnn_rq_vec), then the packed weights. */
size_t fr_cnn_conv_s8_avx2_packed_bytes(const fr_cnn_geom *g) {
    const int kp = kpad_s8(g), cp = round_up(g->out_c, NR);
    return fr_cnn_rq_vec_bytes(cp) + fr_cnn_align64((size_t)cp * kp * 2);
}

/* The int16 image (x - input_zp, 0 in the padding) that im2col copies from when
 * dil_w == 1: rows and columns padded so that every window lies inside it. */
typedef struct img16 {
    int hp, wp;
    size_t bytes;
} img16;

static int img16_dims(const fr_cnn_geom *g, img16 *d) {
    return fr_cnn_padded_dims(g, g->in_c, 2, &d->hp, &d->wp, &d->bytes);
}

size_t fr_cnn_conv_s8_avx2_scratch_bytes(const fr_cnn_geom *g) {
    const int kp = kpad_s8(g);
    const int pb = block_pixels(g, kp, 2, MR);
    img16 d;
    const size_t img = img16_dims(g, &d) ? fr_cnn_align64(d.bytes) : 0;
    return fr_cnn_conv_s8_avx2_packed_bytes(g) + img + fr_cnn_align64((size_t)pb * kp * 2);
}

/* Converts n int8 to int16 (v - zp). */
static inline void cvt_row(int16_t *dst, const int8_t *src, int n, int32_t zp) {
    int i = 0;
    const __m256i z = _mm256_set1_epi16((int16_t)zp);
    for (; i + 16 <= n; i += 16) {
        __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_sub_epi16(v, z));
    }
    if (i + 8 <= n) {
        __m128i v = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(src + i)));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_sub_epi16(v, _mm256_castsi256_si128(z)));
        i += 8;
    }
    for (; i < n; i++) dst[i] = (int16_t)(src[i] - zp);
}

/* im2col of output pixels [p0, p0 + n) into A (rows of kp int16). */
static void im2col_s8(const fr_cnn_geom *g, const int8_t *input, int32_t zp, int p0, int n,
                      int kp, int16_t *A) {
    const int K = g->k_h * g->k_w * g->in_c, ic = g->in_c;
    fr_cnn_pix c = fr_cnn_pix_at(g, p0);
    for (int i = 0; i < n; i++, fr_cnn_pix_next(g, &c)) {
        int16_t *row = A + (size_t)i * kp;
        const int iy0 = c.oy * g->stride_h - g->pad_top, ix0 = c.ox * g->stride_w - g->pad_left;
        for (int fy = 0; fy < g->k_h; fy++) {
            const int iy = iy0 + fy * g->dil_h;
            int16_t *dst = row + (size_t)fy * g->k_w * ic;
            if (iy < 0 || iy >= g->in_h) {
                memset(dst, 0, (size_t)g->k_w * ic * 2);
                continue;
            }
            const int8_t *src_row = input + ((size_t)c.b * g->in_h + iy) * g->in_w * ic;
            if (g->dil_w == 1 && ix0 >= 0 && ix0 + g->k_w <= g->in_w) {
                cvt_row(dst, src_row + (size_t)ix0 * ic, g->k_w * ic, zp); /* contiguous */
                continue;
            }
            for (int fx = 0; fx < g->k_w; fx++) {
                const int ix = ix0 + fx * g->dil_w;
                if (ix < 0 || ix >= g->in_w)
                    memset(dst + (size_t)fx * ic, 0, (size_t)ic * 2);
                else
                    cvt_row(dst + (size_t)fx * ic, src_row + (size_t)ix * ic, ic, zp);
            }
        }
        for (int k = K; k < kp; k++) row[k] = 0;
    }
}

static void build_img16(const fr_cnn_geom *g, const int8_t *input, int32_t zp, const img16 *d,
                        int16_t *img) {
    const int ic = g->in_c;
    const size_t row = (size_t)d->wp * ic;
    for (int b = 0; b < g->batch; b++) {
        int16_t *plane = img + (size_t)b * d->hp * row;
        memset(plane, 0, (size_t)g->pad_top * row * 2);
        const int below = d->hp - g->in_h - g->pad_top;
        memset(plane + (size_t)(g->pad_top + g->in_h) * row, 0, (size_t)below * row * 2);
        for (int y = 0; y < g->in_h; y++) {
            int16_t *r = plane + (size_t)(y + g->pad_top) * row;
            const size_t left = (size_t)g->pad_left * ic, mid = (size_t)g->in_w * ic;
            memset(r, 0, left * 2);
            memset(r + left + mid, 0, (row - left - mid) * 2);
            cvt_row(r + left, input + ((size_t)b * g->in_h + y) * g->in_w * ic, g->in_w * ic, zp);
        }
    }
}

/* Copies n int16 (short runs). */
static inline void copy16(int16_t *dst, const int16_t *src, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_loadu_si256((const __m256i *)(src + i)));
    if (i + 8 <= n) {
        _mm_storeu_si128((__m128i *)(dst + i), _mm_loadu_si128((const __m128i *)(src + i)));
        i += 8;
    }
    if (i + 4 <= n) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        memcpy(dst + i, &v, 8);
        i += 4;
    }
    for (; i < n; i++) dst[i] = src[i];
}

/* im2col rows of output pixels [p0, p0 + n) copied from the int16 image. */
static void im2col_img16(const fr_cnn_geom *g, const img16 *d, const int16_t *img, int p0,
                         int n, int kp, int16_t *A) {
    const int ic = g->in_c, K = g->k_h * g->k_w * ic, run = g->k_w * ic;
    const size_t row_stride = (size_t)g->dil_h * d->wp * ic;
    fr_cnn_pix c = fr_cnn_pix_at(g, p0);
    for (int i = 0; i < n; i++, fr_cnn_pix_next(g, &c)) {
        int16_t *row = A + (size_t)i * kp;
        const int16_t *base = img + fr_cnn_pix_padded(g, c, d->hp, d->wp, ic);
        for (int fy = 0; fy < g->k_h; fy++) copy16(row + (size_t)fy * run, base + fy * row_stride, run);
        for (int k = K; k < kp; k++) row[k] = 0;
    }
}

/* Packs filter [C][K] into [C/16][kp/2][16][2] int16 (zeros past K and past C). */
static void pack_w_s8(const int8_t *filter, int C, int K, int kp, int16_t *W) {
    const int cp = round_up(C, NR);
    for (int cb = 0; cb < cp; cb += NR) {
        uint32_t *dst = (uint32_t *)(W + (size_t)cb * kp);
        for (int j = 0; j < NR; j++) {
            const int c = cb + j;
            const int8_t *fr = filter + (size_t)c * K;
            for (int k2 = 0; k2 < kp / 2; k2++) {
                uint32_t v = 0;
                if (c < C) {
                    const int k = 2 * k2;
                    const uint16_t w0 = (uint16_t)(int16_t)fr[k];
                    const uint16_t w1 = k + 1 < K ? (uint16_t)(int16_t)fr[k + 1] : 0;
                    v = (uint32_t)w0 | ((uint32_t)w1 << 16);
                }
                dst[(size_t)k2 * NR + j] = v;
            }
        }
    }
}

void fr_cnn_conv_s8_avx2_pack(const fr_cnn_geom *g, const fr_cnn_requant *q,
                              const int8_t *filter, const int32_t *bias, void *packed) {
    const int C = g->out_c, cp = round_up(C, NR);
    unsigned char *s = (unsigned char *)packed;
    fr_cnn_rq_vec rq;
    fr_cnn_rq_vec_init(&rq, s, C, cp, q, bias);
    pack_w_s8(filter, C, g->k_h * g->k_w * g->in_c, kpad_s8(g),
              (int16_t *)(s + fr_cnn_rq_vec_bytes(cp)));
}

static inline __m256i bcast_pair(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* 4 pixels (rows a0..a3 of kp int16) x 16 channels (packed w), int32 results in acc[8]:
 * acc[2*i] = pixel i channels 0-7, acc[2*i+1] = channels 8-15. */
static inline void kernel_s8(const int16_t *a0, const int16_t *a1, const int16_t *a2,
                             const int16_t *a3, const int16_t *w, int kp, __m256i acc[8]) {
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00;
    for (int k = 0; k < kp; k += 2) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)w);
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + 16));
        w += 32;
        __m256i b = bcast_pair(a0 + k);
        c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(b, w0));
        c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(b, w1));
        b = bcast_pair(a1 + k);
        c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(b, w0));
        c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(b, w1));
        b = bcast_pair(a2 + k);
        c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(b, w0));
        c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(b, w1));
        b = bcast_pair(a3 + k);
        c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(b, w0));
        c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(b, w1));
    }
    acc[0] = c00;
    acc[1] = c01;
    acc[2] = c10;
    acc[3] = c11;
    acc[4] = c20;
    acc[5] = c21;
    acc[6] = c30;
    acc[7] = c31;
}

/* The same for a last block of at most 8 channels (acc[2*i+1] left zero). */
static inline void kernel_s8_half(const int16_t *a0, const int16_t *a1, const int16_t *a2,
                                  const int16_t *a3, const int16_t *w, int kp, __m256i acc[8]) {
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
    for (int k = 0; k < kp; k += 2) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)w);
        w += 32;
        c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(bcast_pair(a0 + k), w0));
        c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(bcast_pair(a1 + k), w0));
        c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(bcast_pair(a2 + k), w0));
        c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(bcast_pair(a3 + k), w0));
    }
    const __m256i z = _mm256_setzero_si256();
    acc[0] = c0;
    acc[1] = z;
    acc[2] = c1;
    acc[3] = z;
    acc[4] = c2;
    acc[5] = z;
    acc[6] = c3;
    acc[7] = z;
}

void fr_cnn_conv_s8_avx2(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                         const int8_t *filter, const int32_t *bias, const void *packed,
                         int8_t *output, void *scratch) {
    const int K = g->k_h * g->k_w * g->in_c, kp = kpad_s8(g);
    const int C = g->out_c, cp = round_up(C, NR);
    const int P = g->batch * g->out_h * g->out_w;
    const int pb = block_pixels(g, kp, 2, MR);
    unsigned char *s = (unsigned char *)scratch;
    if (!packed) { /* packed in the scratch's first part; given: none of it is used */
        fr_cnn_conv_s8_avx2_pack(g, q, filter, bias, s);
        packed = s;
        s += fr_cnn_conv_s8_avx2_packed_bytes(g);
    }
    fr_cnn_rq_vec rq;
    fr_cnn_rq_vec_view(&rq, packed, cp, q);
    const int16_t *W = (const int16_t *)((const unsigned char *)packed + fr_cnn_rq_vec_bytes(cp));
    /* 1x1, stride 1, unpadded, even depth: the im2col rows are the input pixels */
    const int direct = g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                       g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h &&
                       g->out_w == g->in_w && kp == K;
    img16 d = {0, 0, 0};
    const int use_img = !direct && img16_dims(g, &d);
    int16_t *img = (int16_t *)s;
    if (use_img) {
        build_img16(g, input, q->input_zp, &d, img);
        s += fr_cnn_align64(d.bytes);
    } else if (img16_dims(g, &d)) {
        s += fr_cnn_align64(d.bytes); /* keep the layout of the scratch size */
    }
    int16_t *A = (int16_t *)s;
    for (int p0 = 0; p0 < P; p0 += pb) {
        const int n = P - p0 < pb ? P - p0 : pb;
        if (direct)
            cvt_row(A, input + (size_t)p0 * K, n * K, q->input_zp);
        else if (use_img)
            im2col_img16(g, &d, img, p0, n, kp, A);
        else
            im2col_s8(g, input, q->input_zp, p0, n, kp, A);
        for (int cb = 0; cb < cp; cb += NR) {
            const int16_t *wb = W + (size_t)cb * kp;
            const int nc = C - cb < NR ? C - cb : NR;
            const __m256i b0 = _mm256_loadu_si256((const __m256i *)(rq.bias + cb));
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)(rq.bias + cb + 8));
            for (int i = 0; i < n; i += MR) {
                const int16_t *a[MR];
                for (int j = 0; j < MR; j++)
                    a[j] = A + (size_t)(i + j < n ? i + j : n - 1) * kp;
                __m256i acc[8];
                if (nc <= 8)
                    kernel_s8_half(a[0], a[1], a[2], a[3], wb, kp, acc);
                else
                    kernel_s8(a[0], a[1], a[2], a[3], wb, kp, acc);
                for (int j = 0; j < MR && i + j < n; j++) {
                    int8_t *out = output + (size_t)(p0 + i + j) * C + cb;
                    fr_avx2_requant_store16(_mm256_add_epi32(acc[2 * j], b0),
                                            _mm256_add_epi32(acc[2 * j + 1], b1), &rq, cb, q,
                                            out, nc);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* float                                                                                  */

/* Packed form: bias padded to 16 channels, then the packed weights. */
size_t fr_cnn_conv_f32_avx2_packed_bytes(const fr_cnn_geom *g) {
    const int K = g->k_h * g->k_w * g->in_c, cp = round_up(g->out_c, NR);
    return fr_cnn_align64((size_t)cp * 4) + fr_cnn_align64((size_t)cp * K * 4);
}

/* Pixels per im2col block of the float paths (shared with the AVX-512 file, whose
 * micro-kernel takes mr = 8 pixels). */
int fr_cnn_conv_f32_block_pixels(const fr_cnn_geom *g, int mr) {
    return block_pixels(g, g->k_h * g->k_w * g->in_c, 4, mr);
}

size_t fr_cnn_conv_f32_avx2_scratch_bytes(const fr_cnn_geom *g) {
    const int K = g->k_h * g->k_w * g->in_c;
    const int pb = block_pixels(g, K, 4, MR);
    return fr_cnn_conv_f32_avx2_packed_bytes(g) + fr_cnn_align64((size_t)pb * K * 4);
}

void fr_cnn_im2col_f32(const fr_cnn_geom *g, const float *input, int p0, int n, float *A) {
    const int K = g->k_h * g->k_w * g->in_c, ic = g->in_c;
    fr_cnn_pix c = fr_cnn_pix_at(g, p0);
    for (int i = 0; i < n; i++, fr_cnn_pix_next(g, &c)) {
        float *row = A + (size_t)i * K;
        const int iy0 = c.oy * g->stride_h - g->pad_top, ix0 = c.ox * g->stride_w - g->pad_left;
        for (int fy = 0; fy < g->k_h; fy++) {
            const int iy = iy0 + fy * g->dil_h;
            float *dst = row + (size_t)fy * g->k_w * ic;
            if (iy < 0 || iy >= g->in_h) {
                memset(dst, 0, (size_t)g->k_w * ic * sizeof(float));
                continue;
            }
            const float *src_row = input + ((size_t)c.b * g->in_h + iy) * g->in_w * ic;
            for (int fx = 0; fx < g->k_w; fx++) {
                const int ix = ix0 + fx * g->dil_w;
                if (ix < 0 || ix >= g->in_w)
                    memset(dst + (size_t)fx * ic, 0, (size_t)ic * sizeof(float));
                else
                    memcpy(dst + (size_t)fx * ic, src_row + (size_t)ix * ic,
                           (size_t)ic * sizeof(float));
            }
        }
    }
}

/* filter [C][K] -> [C/16][K][16] */
static void pack_w_f32(const float *filter, int C, int K, float *W) {
    const int cp = round_up(C, NR);
    for (int cb = 0; cb < cp; cb += NR)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < NR; j++) {
                const int c = cb + j;
                W[(size_t)cb * K + (size_t)k * NR + j] = c < C ? filter[(size_t)c * K + k] : 0.0f;
            }
}

void fr_cnn_conv_f32_avx2_pack(const fr_cnn_geom *g, const float *filter, const float *bias,
                               void *packed) {
    const int K = g->k_h * g->k_w * g->in_c, C = g->out_c, cp = round_up(C, NR);
    float *bp = (float *)packed;
    for (int c = 0; c < cp; c++) bp[c] = (c < C && bias) ? bias[c] : 0.0f;
    pack_w_f32(filter, C, K, (float *)((unsigned char *)packed + fr_cnn_align64((size_t)cp * 4)));
}

static inline void kernel_f32(const float *a0, const float *a1, const float *a2,
                              const float *a3, const float *w, int K, __m256 acc[8]) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00;
    for (int k = 0; k < K; k++) {
        const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
        w += 16;
        __m256 b = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(b, w0, c00);
        c01 = _mm256_fmadd_ps(b, w1, c01);
        b = _mm256_broadcast_ss(a1 + k);
        c10 = _mm256_fmadd_ps(b, w0, c10);
        c11 = _mm256_fmadd_ps(b, w1, c11);
        b = _mm256_broadcast_ss(a2 + k);
        c20 = _mm256_fmadd_ps(b, w0, c20);
        c21 = _mm256_fmadd_ps(b, w1, c21);
        b = _mm256_broadcast_ss(a3 + k);
        c30 = _mm256_fmadd_ps(b, w0, c30);
        c31 = _mm256_fmadd_ps(b, w1, c31);
    }
    acc[0] = c00;
    acc[1] = c01;
    acc[2] = c10;
    acc[3] = c11;
    acc[4] = c20;
    acc[5] = c21;
    acc[6] = c30;
    acc[7] = c31;
}

void fr_cnn_conv_f32_avx2(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                          const float *filter, const float *bias, const void *packed,
                          float *output, void *scratch) {
    const int K = g->k_h * g->k_w * g->in_c;
    const int C = g->out_c, cp = round_up(C, NR);
    const int P = g->batch * g->out_h * g->out_w;
    const int pb = block_pixels(g, K, 4, MR);
    unsigned char *s = (unsigned char *)scratch;
    if (!packed) { /* packed in the scratch's first part; given: none of it is used */
        fr_cnn_conv_f32_avx2_pack(g, filter, bias, s);
        packed = s;
        s += fr_cnn_conv_f32_avx2_packed_bytes(g);
    }
    const float *bp = (const float *)packed;
    const float *W = (const float *)((const unsigned char *)packed + fr_cnn_align64((size_t)cp * 4));
    float *A = (float *)s;
    /* a 1x1, stride 1, unpadded conv reads its rows straight from the input */
    const int direct = g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                       g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h &&
                       g->out_w == g->in_w;

    const __m256 lo = _mm256_set1_ps(act.min), hi = _mm256_set1_ps(act.max);
    for (int p0 = 0; p0 < P; p0 += pb) {
        const int n = P - p0 < pb ? P - p0 : pb;
        const float *Ab = A;
        if (direct)
            Ab = input + (size_t)p0 * K;
        else
            fr_cnn_im2col_f32(g, input, p0, n, A);
        for (int cb = 0; cb < cp; cb += NR) {
            const float *wb = W + (size_t)cb * K;
            const int nc = C - cb < NR ? C - cb : NR;
            const __m256 b0 = _mm256_loadu_ps(bp + cb), b1 = _mm256_loadu_ps(bp + cb + 8);
            for (int i = 0; i < n; i += MR) {
                const float *a[MR];
                for (int j = 0; j < MR; j++) a[j] = Ab + (size_t)(i + j < n ? i + j : n - 1) * K;
                __m256 acc[8];
                kernel_f32(a[0], a[1], a[2], a[3], wb, K, acc);
                for (int j = 0; j < MR && i + j < n; j++) {
                    float *out = output + (size_t)(p0 + i + j) * C + cb;
                    __m256 v0 = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(acc[2 * j], b0), lo), hi);
                    __m256 v1 = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(acc[2 * j + 1], b1), lo), hi);
                    if (nc == NR) {
                        _mm256_storeu_ps(out, v0);
                        _mm256_storeu_ps(out + 8, v1);
                    } else {
                        float tmp[16];
                        _mm256_storeu_ps(tmp, v0);
                        _mm256_storeu_ps(tmp + 8, v1);
                        memcpy(out, tmp, (size_t)nc * sizeof(float));
                    }
                }
            }
        }
    }
}
