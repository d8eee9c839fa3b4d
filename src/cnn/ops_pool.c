/* AVERAGE_POOL_2D and MAX_POOL_2D (TFLite reference semantics: the window is clipped to
 * the image, padded pixels are not counted). */
#include <float.h>
#include <string.h>

#include "cnn/ops_internal.h"

/* Clipped window [*y0, *y1) x [*x0, *x1) of output pixel (oy, ox). */
static void window(const fr_cnn_geom *g, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
    const int iy0 = oy * g->stride_h - g->pad_top;
    const int ix0 = ox * g->stride_w - g->pad_left;
    *y0 = iy0 < 0 ? -iy0 : 0;
    *y1 = g->in_h - iy0 < g->k_h ? g->in_h - iy0 : g->k_h;
    *x0 = ix0 < 0 ? -ix0 : 0;
    *x1 = g->in_w - ix0 < g->k_w ? g->in_w - ix0 : g->k_w;
    *y0 += iy0;
    *y1 += iy0;
    *x0 += ix0;
    *x1 += ix0;
}

/* Channels are processed in chunks of POOL_CHUNK so the window sums run over contiguous
 * channels (vectorisable) with a fixed-size accumulator on the stack. */
enum { POOL_CHUNK = 64 };

void fr_cnn_avgpool_s8_ref(const fr_cnn_geom *g, int32_t act_min, int32_t act_max,
                           const int8_t *input, int8_t *output) {
    const int C = g->in_c;
    for (int b = 0; b < g->batch; b++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++) {
                int y0, y1, x0, x1;
                window(g, oy, ox, &y0, &y1, &x0, &x1);
                int8_t *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * C;
                const int32_t count = (y1 > y0 && x1 > x0) ? (y1 - y0) * (x1 - x0) : 0;
                for (int c0 = 0; c0 < C; c0 += POOL_CHUNK) {
                    const int nc = C - c0 < POOL_CHUNK ? C - c0 : POOL_CHUNK;
                    int32_t acc[POOL_CHUNK] = {0};
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) {
                            const int8_t *px = input + (((size_t)b * g->in_h + y) * g->in_w + x) * C + c0;
                            for (int c = 0; c < nc; c++) acc[c] += px[c];
                        }
                    for (int c = 0; c < nc; c++) {
                        int32_t v = 0; /* a window entirely in padding (TFLite fails): 0 */
                        if (count > 0)
                            v = acc[c] > 0 ? (acc[c] + count / 2) / count
                                           : (acc[c] - count / 2) / count;
                        out[c0 + c] = (int8_t)fr_q_clamp(v, act_min, act_max);
                    }
                }
            }
}

void fr_cnn_avgpool_s8(fr_isa isa, const fr_cnn_geom *g, int32_t act_min, int32_t act_max,
                       const int8_t *input, int8_t *output) {
    (void)isa;
    fr_cnn_avgpool_s8_ref(g, act_min, act_max, input, output);
}

void fr_cnn_avgpool_f32(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                        float *output) {
    const int C = g->in_c;
    for (int b = 0; b < g->batch; b++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++) {
                int y0, y1, x0, x1;
                window(g, oy, ox, &y0, &y1, &x0, &x1);
                float *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * C;
                for (int c = 0; c < C; c++) {
                    float acc = 0.0f;
                    int count = 0;
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) {
                            acc += input[(((size_t)b * g->in_h + y) * g->in_w + x) * C + c];
                            count++;
                        }
                    out[c] = fr_cnn_clampf(count ? acc / (float)count : 0.0f, act);
                }
            }
}

void fr_cnn_maxpool_s8_ref(const fr_cnn_geom *g, int32_t act_min, int32_t act_max,
                           const int8_t *input, int8_t *output) {
    const int C = g->in_c;
    for (int b = 0; b < g->batch; b++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++) {
                int y0, y1, x0, x1;
                window(g, oy, ox, &y0, &y1, &x0, &x1);
                int8_t *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * C;
                for (int c = 0; c < C; c++) {
                    int32_t m = -128;
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) {
                            int32_t v = input[(((size_t)b * g->in_h + y) * g->in_w + x) * C + c];
                            if (v > m) m = v;
                        }
                    out[c] = (int8_t)fr_q_clamp(m, act_min, act_max);
                }
            }
}

/* The max-pool fast paths (int8 and float alike, every isa): per output pixel the
 * window's pixels are read whole, POOL_CHUNK channels at a time, into a running maximum
 * that `start` sets to the reference's start value and that `fold` updates with the
 * reference's `v > m ? v : m` over contiguous channels (which the compiler vectorises);
 * `emit` clamps and stores it. The reference walks the window once per channel; max and
 * clamp are exact, so the outputs are the reference's (for floats: a NaN never replaces
 * the maximum, as there). */
typedef struct maxpool_kind {
    size_t elem; /* bytes per value */
    void (*start)(void *m);
    void (*fold)(void *m, const void *px, int nc);
    void (*emit)(const void *m, void *out, int nc, const void *act);
} maxpool_kind;

/* Always inlined into its two callers with a constant kind, so that the fold and emit
 * calls and the element size are resolved at compile time (through calls, int8 MAX_POOL
 * on CifarNet took 8x as long). */
#if defined(__GNUC__)
#define POOL_INLINE static inline __attribute__((always_inline))
#else
#define POOL_INLINE static inline
#endif

POOL_INLINE void maxpool_walk(const maxpool_kind *k, const fr_cnn_geom *g, const void *act,
                         const void *input, void *output) {
    const int C = g->in_c;
    const size_t row = (size_t)C * k->elem;
    float m[POOL_CHUNK]; /* POOL_CHUNK values of up to 4 bytes */
    for (int b = 0; b < g->batch; b++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++) {
                int y0, y1, x0, x1;
                window(g, oy, ox, &y0, &y1, &x0, &x1);
                unsigned char *out = (unsigned char *)output +
                                     (((size_t)b * g->out_h + oy) * g->out_w + ox) * row;
                for (int c0 = 0; c0 < C; c0 += POOL_CHUNK) {
                    const int nc = C - c0 < POOL_CHUNK ? C - c0 : POOL_CHUNK;
                    k->start(m);
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++)
                            k->fold(m, (const unsigned char *)input +
                                           (((size_t)b * g->in_h + y) * g->in_w + x) * row +
                                           (size_t)c0 * k->elem,
                                    nc);
                    k->emit(m, out + (size_t)c0 * k->elem, nc, act);
                }
            }
}

POOL_INLINE void start_s8(void *m) {
    memset(m, 0x80, POOL_CHUNK); /* -128 */
}

POOL_INLINE void fold_s8(void *m, const void *px, int nc) {
    int8_t *restrict a = m;
    const int8_t *restrict p = px;
    for (int c = 0; c < nc; c++) a[c] = p[c] > a[c] ? p[c] : a[c];
}

POOL_INLINE void emit_s8(const void *m, void *out, int nc, const void *act) {
    const int8_t *a = m, *lh = act; /* lh: {lo, hi} */
    int8_t *o = out;
    for (int c = 0; c < nc; c++) {
        const int8_t v = a[c] < lh[0] ? lh[0] : a[c];
        o[c] = v > lh[1] ? lh[1] : v;
    }
}

void fr_cnn_maxpool_s8(fr_isa isa, const fr_cnn_geom *g, int32_t act_min, int32_t act_max,
                       const int8_t *input, int8_t *output) {
    (void)isa;
    const maxpool_kind k = {1, start_s8, fold_s8, emit_s8};
    const int8_t lh[2] = {(int8_t)fr_q_clamp(act_min, -128, 127),
                          (int8_t)fr_q_clamp(act_max, -128, 127)};
    maxpool_walk(&k, g, lh, input, output);
}

void fr_cnn_maxpool_f32_ref(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                            float *output) {
    const int C = g->in_c;
    for (int b = 0; b < g->batch; b++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++) {
                int y0, y1, x0, x1;
                window(g, oy, ox, &y0, &y1, &x0, &x1);
                float *out = output + (((size_t)b * g->out_h + oy) * g->out_w + ox) * C;
                for (int c = 0; c < C; c++) {
                    float m = -FLT_MAX;
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) {
                            float v = input[(((size_t)b * g->in_h + y) * g->in_w + x) * C + c];
                            if (v > m) m = v;
                        }
                    out[c] = fr_cnn_clampf(m, act);
                }
            }
}


POOL_INLINE void start_f32(void *m) {
    float *a = m;
    for (int c = 0; c < POOL_CHUNK; c++) a[c] = -FLT_MAX;
}

POOL_INLINE void fold_f32(void *m, const void *px, int nc) {
    float *restrict a = m;
    const float *restrict p = px;
    for (int c = 0; c < nc; c++) a[c] = p[c] > a[c] ? p[c] : a[c];
}

POOL_INLINE void emit_f32(const void *m, void *out, int nc, const void *act) {
    const float *a = m;
    float *o = out;
    for (int c = 0; c < nc; c++) o[c] = fr_cnn_clampf(a[c], *(const fr_cnn_range_f32 *)act);
}

void fr_cnn_maxpool_f32(fr_isa isa, const fr_cnn_geom *g, fr_cnn_range_f32 act,
                        const float *input, float *output) {
    (void)isa;
    const maxpool_kind k = {sizeof(float), start_f32, fold_f32, emit_f32};
    maxpool_walk(&k, g, &act, input, output);
}
