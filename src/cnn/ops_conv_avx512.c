/* CONV_2D int8 fast path for AVX-512 VNNI (FR_ISA_AVX512 includes VNNI).
 *
 * vpdpbusd multiplies unsigned bytes by signed bytes, four at a time, into int32 lanes
 * without saturation. The im2col rows hold x + 128 (x ^ 0x80) as unsigned bytes, and the
 * padding holds in_zp + 128, so with wsum[c] = sum_k w[c][k]:
 *   sum_k w * (u - 128 - in_zp) = sum_k w*u - (128 + in_zp) * wsum[c]
 * which is the reference's sum over the taps inside the image of w * (x - in_zp) (padded
 * taps give w * 0). The correction is folded into the bias. Exact int32 arithmetic (the
 * same value modulo 2^32 as the reference), so the outputs are bit-identical.
 * Weights are packed per 16 channels as [K4/4][16][4] bytes (once with the _pack function,
 * or into the scratch on every call); the micro-kernel computes 8 pixels x 16 channels and
 * requantises 16 lanes at once (two pixels when a block has <= 8 channels).
 *
 * Two ways to feed the kernel:
 *  - implicit GEMM (dil_w == 1 and in_c a multiple of 4 or little padding to one): the
 *    input is copied once, flipped, into a zero-point-padded image with in_c rounded up to
 *    4 (ic4), and each filter row (k_w * ic4 contiguous bytes) is read in place; the
 *    weights are laid out [k_h][k_w][ic4] (zeros in the padded channels);
 *  - otherwise im2col rows in blocks of about 48 KiB. */
#include "cnn/ops_avx512_internal.h"

enum { NR = 16, MR = 8 };

static int round_up(int v, int m) {
    return (v + m - 1) / m * m;
}

static int block_pixels(const fr_cnn_geom *g, int k4) {
    const int P = g->batch * g->out_h * g->out_w;
    int pb = (48 * 1024) / k4;
    pb = pb / MR * MR;
    if (pb < MR) pb = MR;
    const int pr = round_up(P, MR);
    return pb < pr ? pb : pr;
}

/* The padded image of the implicit-GEMM path. */
typedef struct impl_dims {
    int ic4, hp, wp;
    size_t bytes;
} impl_dims;

/* The zero-point-padded image with `cc` channels per pixel (dil_w == 1 only). */
static int image_dims(const fr_cnn_geom *g, int cc, impl_dims *d) {
    d->ic4 = cc;
    return fr_cnn_padded_dims(g, cc, 1, &d->hp, &d->wp, &d->bytes);
}

/* Implicit GEMM: the image with in_c rounded up to 4, unless that pads too much. */
static int implicit_dims(const fr_cnn_geom *g, impl_dims *d) {
    const int ic4 = round_up(g->in_c, 4);
    if ((ic4 - g->in_c) * 3 > ic4) return 0; /* too much padding (in_c 1, 2, 5) */
    return image_dims(g, ic4, d);
}

/* Reduction length of the packed weights (a multiple of 4). */
static int kpack(const fr_cnn_geom *g) {
    impl_dims d;
    if (implicit_dims(g, &d)) return g->k_h * g->k_w * d.ic4;
    return round_up(g->k_h * g->k_w * g->in_c, 4);
}

/* Packed form: per-channel constants (bias with the correction folded in), then the
 * packed weights. */
size_t fr_cnn_conv_s8_avx512_packed_bytes(const fr_cnn_geom *g) {
    const int cp = round_up(g->out_c, NR);
    return fr_cnn_rq_vec_bytes(cp) + fr_cnn_align64((size_t)cp * kpack(g));
}

size_t fr_cnn_conv_s8_avx512_scratch_bytes(const fr_cnn_geom *g) {
    impl_dims d;
    if (implicit_dims(g, &d)) return fr_cnn_conv_s8_avx512_packed_bytes(g) + fr_cnn_align64(d.bytes);
    const int k4 = kpack(g);
    /* im2col, from a padded image when dil_w == 1 */
    const size_t img = image_dims(g, g->in_c, &d) ? fr_cnn_align64(d.bytes) : 0;
    return fr_cnn_conv_s8_avx512_packed_bytes(g) + img +
           fr_cnn_align64((size_t)block_pixels(g, k4) * k4);
}

/* Sum of n int8: sum(x ^ 0x80) over unsigned bytes (vpsadbw) minus 128 * n. */
static int32_t sum_s8(const int8_t *x, int n) {
    const __m512i flip = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    __m512i acc = zero;
    int i = 0;
    for (; i + 64 <= n; i += 64)
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512((const void *)(x + i)), flip), zero));
    int64_t s = _mm512_reduce_add_epi64(acc) - 128 * (int64_t)i;
    for (; i < n; i++) s += x[i];
    return (int32_t)s;
}

void fr_cnn_conv_s8_avx512_pack(const fr_cnn_geom *g, const fr_cnn_requant *q,
                                const int8_t *filter, const int32_t *bias, void *packed) {
    const int K = g->k_h * g->k_w * g->in_c, kp = kpack(g);
    const int C = g->out_c, cp = round_up(C, NR);
    impl_dims d;
    const int spread = implicit_dims(g, &d) && d.ic4 != g->in_c; /* channels padded to 4 */
    unsigned char *s = (unsigned char *)packed;
    fr_cnn_rq_vec rq;
    fr_cnn_rq_vec_init(&rq, s, C, cp, q, bias);
    uint32_t *W = (uint32_t *)(s + fr_cnn_rq_vec_bytes(cp));
    const int32_t corr = 128 + q->input_zp;
    for (int cb = 0; cb < cp; cb += NR) {
        if (!spread && K % 4 == 0 && cb + NR <= C) { /* full block: contiguous stores */
            uint32_t *dst = W + (size_t)cb * (kp / 4);
            const int8_t *f0 = filter + (size_t)cb * K;
            for (int kq = 0; kq < kp / 4; kq++)
                for (int j = 0; j < NR; j++) {
                    uint32_t v;
                    memcpy(&v, f0 + (size_t)j * K + 4 * kq, 4);
                    dst[(size_t)kq * NR + j] = v;
                }
            for (int j = 0; j < NR; j++)
                rq.bias[cb + j] = fr_q_sub(rq.bias[cb + j],
                                           (int32_t)((uint32_t)corr * (uint32_t)sum_s8(f0 + (size_t)j * K, K)));
            continue;
        }
        for (int j = 0; j < NR; j++) {
            const int c = cb + j;
            uint32_t *dst = W + (size_t)cb * (kp / 4) + j;
            if (c >= C) {
                for (int kq = 0; kq < kp / 4; kq++) dst[(size_t)kq * NR] = 0;
                continue;
            }
            const int8_t *fr = filter + (size_t)c * K;
            const int32_t wsum = sum_s8(fr, K);
            if (spread) { /* [k_h][k_w][ic4], zero weights for the padded channels */
                const int ic = g->in_c, taps = g->k_h * g->k_w;
                for (int kq = 0; kq < kp / 4; kq++) {
                    uint32_t v = 0;
                    for (int b = 0; b < 4; b++) {
                        const int k = 4 * kq + b, t = k / d.ic4, ch = k % d.ic4;
                        if (t < taps && ch < ic)
                            v |= (uint32_t)(uint8_t)fr[(size_t)t * ic + ch] << (8 * b);
                    }
                    dst[(size_t)kq * NR] = v;
                }
            } else {
                int kq = 0;
                for (; 4 * kq + 4 <= K; kq++) {
                    uint32_t v;
                    memcpy(&v, fr + 4 * kq, 4);
                    dst[(size_t)kq * NR] = v;
                }
                if (kq < kp / 4) { /* the last 1-3 weights */
                    uint32_t v = 0;
                    for (int k = 4 * kq; k < K; k++)
                        v |= (uint32_t)(uint8_t)fr[k] << (8 * (k - 4 * kq));
                    dst[(size_t)kq * NR] = v;
                }
            }
            rq.bias[c] = fr_q_sub(rq.bias[c], (int32_t)((uint32_t)corr * (uint32_t)wsum));
        }
    }
}

/* dst[i] = src[i] ^ 0x80 (int8 -> uint8 x + 128) */
static inline void flip_row(uint8_t *dst, const int8_t *src, int n) {
    int i = 0;
    const __m256i s = _mm256_set1_epi8((char)0x80);
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i)), s));
    if (i + 16 <= n) {
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)),
                                       _mm256_castsi256_si128(s)));
        i += 16;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= 0x8080808080808080ull;
        memcpy(dst + i, &v, 8);
    }
    if (i + 4 <= n) {
        uint32_t v;
        memcpy(&v, src + i, 4);
        v ^= 0x80808080u;
        memcpy(dst + i, &v, 4);
        i += 4;
    }
    for (; i < n; i++) dst[i] = (uint8_t)(src[i] ^ 0x80);
}

/* memset for the short runs of the im2col padding */
static inline void fill(uint8_t *dst, uint8_t v, size_t n) {
    if (n > 64) {
        memset(dst, v, n);
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = v;
}

static void im2col_u8(const fr_cnn_geom *g, const int8_t *input, uint8_t pad, int p0, int n,
                      int k4, uint8_t *A) {
    const int K = g->k_h * g->k_w * g->in_c, ic = g->in_c;
    fr_cnn_pix c = fr_cnn_pix_at(g, p0);
    for (int i = 0; i < n; i++, fr_cnn_pix_next(g, &c)) {
        uint8_t *row = A + (size_t)i * k4;
        const int iy0 = c.oy * g->stride_h - g->pad_top, ix0 = c.ox * g->stride_w - g->pad_left;
        for (int fy = 0; fy < g->k_h; fy++) {
            const int iy = iy0 + fy * g->dil_h;
            uint8_t *dst = row + (size_t)fy * g->k_w * ic;
            if (iy < 0 || iy >= g->in_h) {
                fill(dst, pad, (size_t)g->k_w * ic);
                continue;
            }
            const int8_t *src_row = input + ((size_t)c.b * g->in_h + iy) * g->in_w * ic;
            if (g->dil_w == 1 && ix0 >= 0 && ix0 + g->k_w <= g->in_w) {
                flip_row(dst, src_row + (size_t)ix0 * ic, g->k_w * ic);
                continue;
            }
            for (int fx = 0; fx < g->k_w; fx++) {
                const int ix = ix0 + fx * g->dil_w;
                if (ix < 0 || ix >= g->in_w)
                    fill(dst + (size_t)fx * ic, pad, (size_t)ic);
                else
                    flip_row(dst + (size_t)fx * ic, src_row + (size_t)ix * ic, ic);
            }
        }
        for (int k = K; k < k4; k++) row[k] = 0;
    }
}

static inline __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Requantises and stores the accumulators of nv <= MR consecutive pixels (channels
 * [cb, cb + nc)); out points at the first pixel's channel cb, pixels are C apart. */
static inline void store_group(const __m512i acc[MR], int nv, int8_t *out, int C, int cb, int nc,
                               const fr_cnn_rq_vec *rq, const rq16 *k_full, const rq16 *k_dup,
                               const fr_cnn_requant *q) {
    if (!rq->exact_vec) {
        for (int j = 0; j < nv; j++)
            fr_avx2_requant_store16(_mm512_castsi512_si256(acc[j]),
                                    _mm512_extracti64x4_epi64(acc[j], 1), rq, cb, q,
                                    out + (size_t)j * C, nc);
    } else if (nc <= 8) { /* two pixels per requantisation */
        const __mmask16 mk = (__mmask16)((1u << nc) - 1);
        for (int j = 0; j < nv; j += 2) {
            const __m512i v = _mm512_inserti64x4(acc[j], _mm512_castsi512_si256(acc[j + 1]), 1);
            const __m128i r = requant16(v, k_dup, q);
            _mm_mask_storeu_epi8(out + (size_t)j * C, mk, r);
            if (j + 1 < nv) _mm_mask_storeu_epi8(out + (size_t)(j + 1) * C, mk, _mm_srli_si128(r, 8));
        }
    } else {
        for (int j = 0; j < nv; j++) {
            const __m128i r = requant16(acc[j], k_full, q);
            if (nc == NR)
                _mm_storeu_si128((__m128i *)(out + (size_t)j * C), r);
            else
                _mm_mask_storeu_epi8(out + (size_t)j * C, (__mmask16)((1u << nc) - 1), r);
        }
    }
}

/* The 8 x 16 micro-kernel over `rows` filter rows of `kq` quads each: pixel j reads
 * a[j] + r * row_stride + 4 * quad. */
static inline void kernel8(const uint8_t *const a[MR], int rows, size_t row_stride, int kq,
                           const int8_t *w, __m512i bv, __m512i acc[MR]) {
    __m512i c0 = bv, c1 = bv, c2 = bv, c3 = bv, c4 = bv, c5 = bv, c6 = bv, c7 = bv;
    for (int r = 0; r < rows; r++) {
        const size_t o = (size_t)r * row_stride;
        for (int k = 0; k < 4 * kq; k += 4, w += 64) {
            const __m512i wv = _mm512_loadu_si512((const void *)w);
            c0 = _mm512_dpbusd_epi32(c0, bcast4(a[0] + o + k), wv);
            c1 = _mm512_dpbusd_epi32(c1, bcast4(a[1] + o + k), wv);
            c2 = _mm512_dpbusd_epi32(c2, bcast4(a[2] + o + k), wv);
            c3 = _mm512_dpbusd_epi32(c3, bcast4(a[3] + o + k), wv);
            c4 = _mm512_dpbusd_epi32(c4, bcast4(a[4] + o + k), wv);
            c5 = _mm512_dpbusd_epi32(c5, bcast4(a[5] + o + k), wv);
            c6 = _mm512_dpbusd_epi32(c6, bcast4(a[6] + o + k), wv);
            c7 = _mm512_dpbusd_epi32(c7, bcast4(a[7] + o + k), wv);
        }
    }
    acc[0] = c0;
    acc[1] = c1;
    acc[2] = c2;
    acc[3] = c3;
    acc[4] = c4;
    acc[5] = c5;
    acc[6] = c6;
    acc[7] = c7;
}

/* The flipped, padded image: padding rows / columns get input_zp + 128, pixels x ^ 0x80,
 * padded channels (ic4 > in_c) input_zp + 128 (their weights are 0). */
static void build_image(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                        const impl_dims *d, uint8_t *img) {
    const int ic = g->in_c, ic4 = d->ic4;
    const uint8_t pad = (uint8_t)(q->input_zp + 128);
    const size_t row_bytes = (size_t)d->wp * ic4;
    const size_t left = (size_t)g->pad_left * ic4, mid = (size_t)g->in_w * ic4;
    for (int b = 0; b < g->batch; b++) {
        uint8_t *plane = img + (size_t)b * d->hp * row_bytes;
        memset(plane, pad, (size_t)g->pad_top * row_bytes);
        const int below = d->hp - g->in_h - g->pad_top;
        memset(plane + (size_t)(g->pad_top + g->in_h) * row_bytes, pad, (size_t)below * row_bytes);
        for (int y = 0; y < g->in_h; y++) {
            uint8_t *row = plane + (size_t)(y + g->pad_top) * row_bytes;
            const int8_t *src = input + ((size_t)b * g->in_h + y) * g->in_w * ic;
            memset(row, pad, left);
            memset(row + left + mid, pad, row_bytes - left - mid);
            uint8_t *dst = row + left;
            if (ic4 == ic) {
                flip_row(dst, src, g->in_w * ic);
            } else if (ic == 3) { /* RGB input: 3 bytes + one padding byte per pixel */
                for (int x = 0; x < g->in_w; x++) {
                    const uint32_t v = ((uint32_t)(uint8_t)src[3 * x] |
                                        (uint32_t)(uint8_t)src[3 * x + 1] << 8 |
                                        (uint32_t)(uint8_t)src[3 * x + 2] << 16) ^ 0x808080u;
                    const uint32_t w = v | (uint32_t)pad << 24;
                    memcpy(dst + 4 * (size_t)x, &w, 4);
                }
            } else {
                for (int x = 0; x < g->in_w; x++) {
                    flip_row(dst + (size_t)x * ic4, src + (size_t)x * ic, ic);
                    memset(dst + (size_t)x * ic4 + ic, pad, (size_t)(ic4 - ic));
                }
            }
        }
    }
}

/* Copies n bytes (short runs). */
static inline void copy_small(uint8_t *dst, const uint8_t *src, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        memcpy(dst + i, &v, 8);
    }
    if (i + 4 <= n) {
        uint32_t v;
        memcpy(&v, src + i, 4);
        memcpy(dst + i, &v, 4);
        i += 4;
    }
    for (; i < n; i++) dst[i] = src[i];
}

/* im2col rows of output pixels [p0, p0 + n) from the padded image (no bounds checks). */
static void im2col_img(const fr_cnn_geom *g, const impl_dims *d, const uint8_t *img, int p0,
                       int n, int k4, uint8_t *A) {
    const int ic = g->in_c, K = g->k_h * g->k_w * ic, run = g->k_w * ic;
    const size_t row_stride = (size_t)g->dil_h * d->wp * ic;
    fr_cnn_pix c = fr_cnn_pix_at(g, p0);
    for (int i = 0; i < n; i++, fr_cnn_pix_next(g, &c)) {
        uint8_t *row = A + (size_t)i * k4;
        const uint8_t *base = img + fr_cnn_pix_padded(g, c, d->hp, d->wp, ic);
        for (int fy = 0; fy < g->k_h; fy++) copy_small(row + (size_t)fy * run, base + fy * row_stride, run);
        for (int k = K; k < k4; k++) row[k] = 0;
    }
}

static void run_implicit(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                         const impl_dims *d, const int8_t *W, const fr_cnn_rq_vec *rq,
                         int8_t *output, uint8_t *img) {
    const int ic4 = d->ic4, C = g->out_c, cp = round_up(C, NR);
    const int kp = g->k_h * g->k_w * ic4, kq = g->k_w * ic4 / 4;
    const size_t row_stride = (size_t)g->dil_h * d->wp * ic4;
    build_image(g, q, input, d, img);
    const int P = g->batch * g->out_h * g->out_w;
    fr_cnn_pix c = fr_cnn_pix_at(g, 0);
    for (int p0 = 0; p0 < P; p0 += MR) {
        const int nv = P - p0 < MR ? P - p0 : MR;
        const uint8_t *a[MR];
        for (int j = 0; j < MR; j++) {
            if (j < nv) {
                a[j] = img + fr_cnn_pix_padded(g, c, d->hp, d->wp, ic4);
                fr_cnn_pix_next(g, &c);
            } else {
                a[j] = a[nv - 1];
            }
        }
        for (int cb = 0; cb < cp; cb += NR) {
            const int nc = C - cb < NR ? C - cb : NR;
            const __m512i bv = _mm512_loadu_si512((const void *)(rq->bias + cb));
            const rq16 k_full = rq16_load(rq, cb, 0), k_dup = rq16_load(rq, cb, 1);
            __m512i acc[MR];
            kernel8(a, g->k_h, row_stride, kq, W + (size_t)cb * kp, bv, acc);
            store_group(acc, nv, output + (size_t)p0 * C + cb, C, cb, nc, rq, &k_full, &k_dup, q);
        }
    }
}

void fr_cnn_conv_s8_avx512(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, const void *packed,
                           int8_t *output, void *scratch) {
    const int k4 = kpack(g);
    const int C = g->out_c, cp = round_up(C, NR);
    const int P = g->batch * g->out_h * g->out_w;
    unsigned char *s = (unsigned char *)scratch;
    if (!packed) { /* packed in the scratch's first part; given: none of it is used */
        fr_cnn_conv_s8_avx512_pack(g, q, filter, bias, s);
        packed = s;
        s += fr_cnn_conv_s8_avx512_packed_bytes(g);
    }
    fr_cnn_rq_vec rq;
    fr_cnn_rq_vec_view(&rq, packed, cp, q);
    const int8_t *W = (const int8_t *)packed + fr_cnn_rq_vec_bytes(cp);
    impl_dims d;
    if (implicit_dims(g, &d)) {
        run_implicit(g, q, input, &d, W, &rq, output, (uint8_t *)s);
        return;
    }
    const int pb = block_pixels(g, k4);
    const int use_img = image_dims(g, g->in_c, &d);
    uint8_t *img = (uint8_t *)s;
    if (use_img) {
        build_image(g, q, input, &d, img);
        s += fr_cnn_align64(d.bytes);
    }
    uint8_t *A = (uint8_t *)s;
    const uint8_t pad = (uint8_t)(q->input_zp + 128);
    for (int p0 = 0; p0 < P; p0 += pb) {
        const int n = P - p0 < pb ? P - p0 : pb;
        if (use_img)
            im2col_img(g, &d, img, p0, n, k4, A);
        else
            im2col_u8(g, input, pad, p0, n, k4, A);
        for (int cb = 0; cb < cp; cb += NR) {
            const int8_t *wb = W + (size_t)cb * k4;
            const int nc = C - cb < NR ? C - cb : NR;
            const __m512i bv = _mm512_loadu_si512((const void *)(rq.bias + cb));
            const rq16 k_full = rq16_load(&rq, cb, 0), k_dup = rq16_load(&rq, cb, 1);
            for (int i = 0; i < n; i += MR) {
                const uint8_t *a[MR];
                for (int j = 0; j < MR; j++) a[j] = A + (size_t)(i + j < n ? i + j : n - 1) * k4;
                __m512i acc[MR];
                kernel8(a, 1, 0, k4 / 4, wb, bv, acc);
                const int nv = n - i < MR ? n - i : MR;
                store_group(acc, nv, output + (size_t)(p0 + i) * C + cb, C, cb, nc, &rq, &k_full,
                            &k_dup, q);
            }
        }
    }
}
