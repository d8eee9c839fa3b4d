/* CONV_2D float fast path for AVX-512: the AVX2 path's packed weights ([C/16][K][16]) and
 * im2col blocks (same scratch), with an 8-pixel x 16-channel FMA micro-kernel on 512-bit
 * vectors. 1x1 / stride 1 / unpadded convs read the input rows directly. Results differ
 * from the reference only by float rounding (FMA, summation order unchanged per output). */
#include "cnn/ops_avx512_internal.h"

enum { NR = 16, MR = 8 };

void fr_cnn_conv_f32_avx512(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                            const float *filter, const float *bias, const void *packed,
                            float *output, void *scratch) {
    const int K = g->k_h * g->k_w * g->in_c;
    const int C = g->out_c, cp = (C + NR - 1) / NR * NR;
    const int P = g->batch * g->out_h * g->out_w;
    const int pb = fr_cnn_conv_f32_block_pixels(g);
    unsigned char *s = (unsigned char *)scratch;
    if (!packed) {
        fr_cnn_conv_f32_avx2_pack(g, filter, bias, s);
        packed = s;
    }
    s += fr_cnn_conv_f32_avx2_packed_bytes(g);
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
        for (int cb = 0; cb < cp; cb += NR) {
            const float *wb = W + (size_t)cb * K;
            const int nc = C - cb < NR ? C - cb : NR;
            const __mmask16 mk = (__mmask16)(nc == NR ? 0xFFFFu : (1u << nc) - 1);
            const __m512 bv = _mm512_loadu_ps(bp + cb);
            for (int i = 0; i < n; i += MR) {
                const float *a[MR];
                for (int j = 0; j < MR; j++) a[j] = Ab + (size_t)(i + j < n ? i + j : n - 1) * K;
                __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0,
                       c6 = c0, c7 = c0;
                const float *w = wb;
                for (int k = 0; k < K; k++, w += NR) {
                    const __m512 wv = _mm512_loadu_ps(w);
                    c0 = _mm512_fmadd_ps(_mm512_set1_ps(a[0][k]), wv, c0);
                    c1 = _mm512_fmadd_ps(_mm512_set1_ps(a[1][k]), wv, c1);
                    c2 = _mm512_fmadd_ps(_mm512_set1_ps(a[2][k]), wv, c2);
                    c3 = _mm512_fmadd_ps(_mm512_set1_ps(a[3][k]), wv, c3);
                    c4 = _mm512_fmadd_ps(_mm512_set1_ps(a[4][k]), wv, c4);
                    c5 = _mm512_fmadd_ps(_mm512_set1_ps(a[5][k]), wv, c5);
                    c6 = _mm512_fmadd_ps(_mm512_set1_ps(a[6][k]), wv, c6);
                    c7 = _mm512_fmadd_ps(_mm512_set1_ps(a[7][k]), wv, c7);
                }
                const __m512 acc[MR] = {c0, c1, c2, c3, c4, c5, c6, c7};
                for (int j = 0; j < MR && i + j < n; j++) {
                    const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(acc[j], bv), lo), hi);
                    _mm512_mask_storeu_ps(output + (size_t)(p0 + i + j) * C + cb, mk, v);
                }
            }
        }
    }
}
