/* CONV_2D float fast path for AVX-512: the AVX2 path's packed weights ([C/16][K][16]) with
 * 8-pixel x 32-channel FMA micro-kernels on 512-bit vectors (16 accumulators; 8 x 16 for a
 * last odd block).
 *
 * Implicit GEMM (dil_w == 1): no im2col. The input is copied once into a zero-padded image
 * (skipped when the conv needs no padding), where the k_w * in_c values of one window row
 * lie contiguous; a pixel's reduction vector is then k_h segments of k_w * in_c floats,
 * dil_h image rows apart, read in place. The k order (fy, fx, ci) is the reference's, so
 * results differ from it only by float rounding (FMA). Other convs (dil_w > 1, or an image
 * over 256 MiB) take im2col blocks of whole reduction rows.
 *
 * tile1 and tile2 stay two functions: one function with the block count as a constant
 * parameter (tried) made GCC keep the weight vector on the stack in the inner loop, 1.45x
 * slower on CifarNet's conv2. */
#include "cnn/ops_avx512_internal.h"

enum { NR = 16, MR = 8 };

/* Bias, clamp and store of one 16-channel block (channels cb.., masked at C) of `rows`
 * pixels' accumulators. */
static inline void store_block(const __m512 *acc, const float *bp, int cb, int C, __m512 lo,
                               __m512 hi, int rows, float *o) {
    const int nc = C - cb < NR ? C - cb : NR;
    const __mmask16 mk = (__mmask16)(nc == NR ? 0xFFFFu : (1u << nc) - 1);
    const __m512 bv = _mm512_loadu_ps(bp + cb);
    for (int j = 0; j < rows; j++) {
        const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(acc[j], bv), lo), hi);
        _mm512_mask_storeu_ps(o + (size_t)j * C + cb, mk, v);
    }
}

/* Where the reduction vectors of MR pixels lie: pixel j's is nseg segments of seg floats,
 * segment s at a[j] + s * step. */
typedef struct rows8 {
    const float *a[MR];
    int nseg, seg;
    size_t step;
} rows8;

/* MR pixels x 16 channels (block cb, weights wb = [K][16]). */
static void tile1(const rows8 *r, const float *wb, const float *bp, int cb, int C, __m512 lo,
                  __m512 hi, int rows, float *o) {
    __m512 c[MR];
    for (int j = 0; j < MR; j++) c[j] = _mm512_setzero_ps();
    const float *w = wb;
    for (int sg = 0; sg < r->nseg; sg++) {
        const size_t off = (size_t)sg * r->step;
        const float *a[MR];
        for (int j = 0; j < MR; j++) a[j] = r->a[j] + off;
        for (int k = 0; k < r->seg; k++, w += NR) {
            const __m512 wv = _mm512_loadu_ps(w);
            for (int j = 0; j < MR; j++) c[j] = _mm512_fmadd_ps(_mm512_set1_ps(a[j][k]), wv, c[j]);
        }
    }
    store_block(c, bp, cb, C, lo, hi, rows, o);
}

/* MR pixels x 32 channels (blocks cb and cb + 16, whose packed weights follow each other:
 * wb and wb + 16 * K): each broadcast pixel value serves two FMAs. */
static void tile2(const rows8 *r, const float *wb, int K, const float *bp, int cb, int C,
                  __m512 lo, __m512 hi, int rows, float *o) {
    __m512 c[MR], d[MR];
    for (int j = 0; j < MR; j++) c[j] = d[j] = _mm512_setzero_ps();
    const float *w = wb, *v = wb + (size_t)NR * K;
    for (int sg = 0; sg < r->nseg; sg++) {
        const size_t off = (size_t)sg * r->step;
        const float *a[MR];
        for (int j = 0; j < MR; j++) a[j] = r->a[j] + off;
        for (int k = 0; k < r->seg; k++, w += NR, v += NR) {
            const __m512 wv = _mm512_loadu_ps(w), vv = _mm512_loadu_ps(v);
            for (int j = 0; j < MR; j++) {
                const __m512 x = _mm512_set1_ps(a[j][k]);
                c[j] = _mm512_fmadd_ps(x, wv, c[j]);
                d[j] = _mm512_fmadd_ps(x, vv, d[j]);
            }
        }
    }
    store_block(c, bp, cb, C, lo, hi, rows, o);
    store_block(d, bp, cb + NR, C, lo, hi, rows, o);
}

/* The padded image's geometry, when the implicit-GEMM path applies; *copy is 0 when the
 * input itself is that image (no padding needed). */
static int implicit_dims(const fr_cnn_geom *g, int *hp, int *wp, size_t *bytes, int *copy) {
    if (!fr_cnn_padded_dims(g, g->in_c, sizeof(float), hp, wp, bytes)) return 0;
    *copy = !(g->pad_top == 0 && g->pad_left == 0 && *hp == g->in_h && *wp == g->in_w);
    return 1;
}

size_t fr_cnn_conv_f32_avx512_scratch_bytes(const fr_cnn_geom *g) {
    int hp, wp, copy;
    size_t img;
    if (implicit_dims(g, &hp, &wp, &img, &copy))
        return fr_cnn_conv_f32_avx2_packed_bytes(g) + (copy ? fr_cnn_align64(img) : 0);
    const size_t K = (size_t)g->k_h * g->k_w * g->in_c;
    return fr_cnn_conv_f32_avx2_packed_bytes(g) +
           fr_cnn_align64((size_t)fr_cnn_conv_f32_block_pixels(g, MR) * K * 4);
}

/* The zero-padded image (origin at -pad_top, -pad_left) of every batch element. */
static void build_image(const fr_cnn_geom *g, const float *input, int hp, int wp, float *img) {
    const size_t ic = (size_t)g->in_c, row = (size_t)wp * ic;
    for (int b = 0; b < g->batch; b++)
        for (int y = 0; y < hp; y++) {
            float *dst = img + ((size_t)b * hp + y) * row;
            const int iy = y - g->pad_top;
            if (iy < 0 || iy >= g->in_h) {
                memset(dst, 0, row * sizeof(float));
                continue;
            }
            const int l = g->pad_left, r = wp - g->pad_left - g->in_w; /* r >= 0: wp >= in_w + pad_left */
            memset(dst, 0, (size_t)l * ic * sizeof(float));
            memcpy(dst + (size_t)l * ic, input + ((size_t)b * g->in_h + iy) * g->in_w * ic,
                   (size_t)g->in_w * ic * sizeof(float));
            memset(dst + (size_t)(l + g->in_w) * ic, 0, (size_t)r * ic * sizeof(float));
        }
}

/* Outputs of pixels [p0, p0 + n): pixel p0 + i's reduction vector starts at prow[i], laid
 * out as r says (r->a is filled per tile). */
static void run_tiles(const float *bp, const float *W, int K, int C, int cp, __m512 lo,
                      __m512 hi, int p0, int n, rows8 *r, const float *const *prow, float *output) {
    for (int cb = 0; cb < cp;) {
        /* two channel blocks per pass where there are two (16 accumulators: the FMAs, not
         * the loads, bound it), else one */
        const int two = cb + NR < cp;
        const float *wb = W + (size_t)cb * K;
        for (int i = 0; i < n; i += MR) {
            for (int j = 0; j < MR; j++) r->a[j] = prow[i + j < n ? i + j : n - 1];
            const int rows = n - i < MR ? n - i : MR;
            float *o = output + (size_t)(p0 + i) * C;
            if (two)
                tile2(r, wb, K, bp, cb, C, lo, hi, rows, o);
            else
                tile1(r, wb, bp, cb, C, lo, hi, rows, o);
        }
        cb += two ? 2 * NR : NR;
    }
}

void fr_cnn_conv_f32_avx512(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                            const float *filter, const float *bias, const void *packed,
                            float *output, void *scratch) {
    const int K = g->k_h * g->k_w * g->in_c;
    const int C = g->out_c, cp = (C + NR - 1) / NR * NR;
    const int P = g->batch * g->out_h * g->out_w;
    unsigned char *s = (unsigned char *)scratch;
    if (!packed) { /* packed in the scratch's first part; given: none of it is used */
        fr_cnn_conv_f32_avx2_pack(g, filter, bias, s);
        packed = s;
        s += fr_cnn_conv_f32_avx2_packed_bytes(g);
    }
    const float *bp = (const float *)packed;
    const float *W = (const float *)((const unsigned char *)packed + fr_cnn_align64((size_t)cp * 4));
    const __m512 lo = _mm512_set1_ps(act.min), hi = _mm512_set1_ps(act.max);
    enum { CHUNK = 64 }; /* pixels whose row pointers are computed at a time */
    const float *prow[CHUNK];
    rows8 r;
    int hp, wp, copy;
    size_t img_bytes;
    if (implicit_dims(g, &hp, &wp, &img_bytes, &copy)) {
        const float *img = input;
        if (copy) {
            build_image(g, input, hp, wp, (float *)s);
            img = (const float *)s;
        }
        const size_t ic = (size_t)g->in_c;
        r.nseg = g->k_h;
        r.seg = g->k_w * g->in_c;
        r.step = (size_t)g->dil_h * wp * ic;
        fr_cnn_pix c = fr_cnn_pix_at(g, 0);
        for (int p0 = 0; p0 < P; p0 += CHUNK) {
            const int n = P - p0 < CHUNK ? P - p0 : CHUNK;
            for (int i = 0; i < n; i++, fr_cnn_pix_next(g, &c))
                prow[i] = img + fr_cnn_pix_padded(g, c, hp, wp, g->in_c);
            run_tiles(bp, W, K, C, cp, lo, hi, p0, n, &r, prow, output);
        }
        return;
    }
    /* im2col blocks (pb a multiple of MR, at most CHUNK pixels at a time) */
    float *A = (float *)s;
    int pb = fr_cnn_conv_f32_block_pixels(g, MR);
    if (pb > CHUNK) pb = CHUNK;
    r.nseg = 1;
    r.seg = K;
    r.step = 0;
    for (int p0 = 0; p0 < P; p0 += pb) {
        const int n = P - p0 < pb ? P - p0 : pb;
        fr_cnn_im2col_f32(g, input, p0, n, A);
        for (int i = 0; i < n; i++) prow[i] = A + (size_t)i * K;
        run_tiles(bp, W, K, C, cp, lo, hi, p0, n, &r, prow, output);
    }
}
