/* CONV_2D float fast path for AVX-512: the AVX2 path's packed weights ([C/16][K][16]) and
 * im2col blocks (same scratch), with 8-pixel x 32-channel FMA micro-kernels on 512-bit
 * vectors (16 accumulators; 8 x 16 for a last odd block). 1x1 / stride 1 / unpadded convs
 * read the input rows directly. Results differ from the reference only by float rounding
 * (FMA, summation order unchanged per output). tile1 and tile2 stay two functions: one
 * function with the block count as a constant parameter (tried) made GCC keep the weight
 * vector on the stack in the inner loop, 1.45x slower on CifarNet's conv2. */
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

/* MR pixels x 16 channels (block cb, weights wb = [K][16]). */
static void tile1(const float *const *a, const float *wb, int K, const float *bp, int cb, int C,
                  __m512 lo, __m512 hi, int rows, float *o) {
    __m512 c[MR];
    for (int j = 0; j < MR; j++) c[j] = _mm512_setzero_ps();
    const float *w = wb;
    for (int k = 0; k < K; k++, w += NR) {
        const __m512 wv = _mm512_loadu_ps(w);
        for (int j = 0; j < MR; j++) c[j] = _mm512_fmadd_ps(_mm512_set1_ps(a[j][k]), wv, c[j]);
    }
    store_block(c, bp, cb, C, lo, hi, rows, o);
}

/* MR pixels x 32 channels (blocks cb and cb + 16, whose packed weights follow each other:
 * wb and wb + 16 * K): each broadcast pixel value serves two FMAs. */
static void tile2(const float *const *a, const float *wb, int K, const float *bp, int cb, int C,
                  __m512 lo, __m512 hi, int rows, float *o) {
    __m512 c[MR], d[MR];
    for (int j = 0; j < MR; j++) c[j] = d[j] = _mm512_setzero_ps();
    const float *w = wb, *v = wb + (size_t)NR * K;
    for (int k = 0; k < K; k++, w += NR, v += NR) {
        const __m512 wv = _mm512_loadu_ps(w), vv = _mm512_loadu_ps(v);
        for (int j = 0; j < MR; j++) {
            const __m512 x = _mm512_set1_ps(a[j][k]);
            c[j] = _mm512_fmadd_ps(x, wv, c[j]);
            d[j] = _mm512_fmadd_ps(x, vv, d[j]);
        }
    }
    store_block(c, bp, cb, C, lo, hi, rows, o);
    store_block(d, bp, cb + NR, C, lo, hi, rows, o);
}

void fr_cnn_conv_f32_avx512(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                            const float *filter, const float *bias, const void *packed,
                            float *output, void *scratch) {
    const int K = g->k_h * g->k_w * g->in_c;
    const int C = g->out_c, cp = (C + NR - 1) / NR * NR;
    const int P = g->batch * g->out_h * g->out_w;
    const int pb = fr_cnn_conv_f32_block_pixels(g);
    unsigned char *s = (unsigned char *)scratch;
    if (!packed) { /* packed in the scratch's first part; given: none of it is used */
        fr_cnn_conv_f32_avx2_pack(g, filter, bias, s);
        packed = s;
        s += fr_cnn_conv_f32_avx2_packed_bytes(g);
    }
    const float *bp = (const float *)packed;
    const float *W = (const float *)((const unsigned char *)packed + fr_cnn_align64((size_t)cp * 4));
    float *A = (float *)s;
    const int direct = g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                       g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h &&
                       g->out_w == g->in_w;
    const __m512 lo = _mm512_set1_ps(act.min), hi = _mm512_set1_ps(act.max);
    for (int p0 = 0; p0 < P; p0 += pb) {
        const int n = P - p0 < pb ? P - p0 : pb;
        const float *Ab = A;
        if (direct)
            Ab = input + (size_t)p0 * K;
        else
            fr_cnn_im2col_f32(g, input, p0, n, A);
        for (int cb = 0; cb < cp;) {
            /* two channel blocks per pass where there are two (16 accumulators: the FMAs,
             * not the loads, bound it), else one */
            const int two = cb + NR < cp;
            const float *wb = W + (size_t)cb * K;
            for (int i = 0; i < n; i += MR) {
                const float *a[MR];
                for (int j = 0; j < MR; j++) a[j] = Ab + (size_t)(i + j < n ? i + j : n - 1) * K;
                const int rows = n - i < MR ? n - i : MR;
                float *o = output + (size_t)(p0 + i) * C;
                if (two)
                    tile2(a, wb, K, bp, cb, C, lo, hi, rows, o);
                else
                    tile1(a, wb, K, bp, cb, C, lo, hi, rows, o);
            }
            cb += two ? 2 * NR : NR;
        }
    }
}
