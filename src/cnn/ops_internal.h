/* Internal to the CNN operator files: the x86 fast paths (compiled only on x86 from
 * *_avx2.c files) and small shared helpers. On other targets the AVX2 entry points are
 * inline stubs that are never reached, because dispatchers only take them when the
 * caller passes isa >= FR_ISA_AVX2, which fr_isa_supported() never allows there. The
 * AVX-512 entry points (FR_ISA_AVX512, which includes VNNI) likewise. */
#ifndef FR_CNN_OPS_INTERNAL_H
#define FR_CNN_OPS_INTERNAL_H

#include "cnn/ops.h"
#include "cnn/quant.h"

#ifndef FR_X86
#define FR_X86 0
#endif

/* Round a byte count up to a multiple of 64 (scratch sub-buffers stay 64-byte aligned). */
static inline size_t fr_cnn_align64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

/* Requantise one accumulator of channel c. */
static inline int8_t fr_cnn_requant1(const fr_cnn_requant *q, int32_t acc, int c) {
    const int i = q->per_channel ? c : 0;
    int32_t v = fr_q_mbqm(acc, q->mult[i], q->shift[i]);
    v = fr_q_add(v, q->output_zp);
    return (int8_t)fr_q_clamp(v, q->act_min, q->act_max);
}

/* Rows and columns of the padded image that the x86 implicit-GEMM / im2col paths copy a
 * conv's input into so that every window lies inside it (origin at -pad_top, -pad_left):
 * 0 when dil_w != 1 (the columns of a window row are then not contiguous) or when the
 * image of `elem`-byte values would exceed 256 MiB, else 1 with *bytes the whole batch's. */
static inline int fr_cnn_padded_dims(const fr_cnn_geom *g, int cc, size_t elem, int *hp,
                                     int *wp, size_t *bytes) {
    if (g->dil_w != 1) return 0;
    const long long need_h = (long long)(g->out_h - 1) * g->stride_h + (long long)(g->k_h - 1) * g->dil_h + 1;
    const long long need_w = (long long)(g->out_w - 1) * g->stride_w + g->k_w;
    long long h = g->in_h + g->pad_top, w = g->in_w + g->pad_left;
    if (need_h > h) h = need_h;
    if (need_w > w) w = need_w;
    const long long b = (long long)g->batch * h * w * cc * (long long)elem;
    if (b > ((long long)1 << 28)) return 0;
    *hp = (int)h;
    *wp = (int)w;
    *bytes = (size_t)b;
    return 1;
}

/* An output pixel's place (image, row, column) while a conv walks its output pixels in
 * NHW order: fr_cnn_pix_at for pixel p of the batch, fr_cnn_pix_next for the one after. */
typedef struct {
    int b, oy, ox;
} fr_cnn_pix;

static inline fr_cnn_pix fr_cnn_pix_at(const fr_cnn_geom *g, int p) {
    const int hw = g->out_h * g->out_w;
    fr_cnn_pix c = {p / hw, (p % hw) / g->out_w, p % g->out_w};
    return c;
}

static inline void fr_cnn_pix_next(const fr_cnn_geom *g, fr_cnn_pix *c) {
    if (++c->ox == g->out_w) {
        c->ox = 0;
        if (++c->oy == g->out_h) {
            c->oy = 0;
            c->b++;
        }
    }
}

/* Element offset of the pixel's window origin in a padded image of hp x wp pixels of cc
 * values each (fr_cnn_padded_dims). */
static inline size_t fr_cnn_pix_padded(const fr_cnn_geom *g, fr_cnn_pix c, int hp, int wp,
                                       int cc) {
    return (((size_t)c.b * hp + (size_t)c.oy * g->stride_h) * wp + (size_t)c.ox * g->stride_w) *
           (size_t)cc;
}

static inline float fr_cnn_clampf(float v, fr_cnn_range_f32 r) {
    return v < r.min ? r.min : (v > r.max ? r.max : v);
}

#if FR_X86
size_t fr_cnn_conv_s8_avx2_scratch_bytes(const fr_cnn_geom *g);
size_t fr_cnn_conv_s8_avx2_packed_bytes(const fr_cnn_geom *g);
void fr_cnn_conv_s8_avx2_pack(const fr_cnn_geom *g, const fr_cnn_requant *q,
                              const int8_t *filter, const int32_t *bias, void *packed);
void fr_cnn_conv_s8_avx2(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                         const int8_t *filter, const int32_t *bias, const void *packed,
                         int8_t *output, void *scratch);
size_t fr_cnn_conv_s8_avx512_scratch_bytes(const fr_cnn_geom *g);
size_t fr_cnn_conv_s8_avx512_packed_bytes(const fr_cnn_geom *g);
void fr_cnn_conv_s8_avx512_pack(const fr_cnn_geom *g, const fr_cnn_requant *q,
                                const int8_t *filter, const int32_t *bias, void *packed);
void fr_cnn_conv_s8_avx512(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, const void *packed,
                           int8_t *output, void *scratch);
size_t fr_cnn_conv_f32_avx2_scratch_bytes(const fr_cnn_geom *g);
size_t fr_cnn_conv_f32_avx2_packed_bytes(const fr_cnn_geom *g);
void fr_cnn_conv_f32_avx2_pack(const fr_cnn_geom *g, const float *filter, const float *bias,
                               void *packed);
void fr_cnn_conv_f32_avx2(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                          const float *filter, const float *bias, const void *packed,
                          float *output, void *scratch);
/* Shared by the float AVX2 / AVX-512 paths (same packed form and scratch layout). */
int fr_cnn_conv_f32_block_pixels(const fr_cnn_geom *g, int mr);
void fr_cnn_im2col_f32(const fr_cnn_geom *g, const float *input, int p0, int n, float *A);
size_t fr_cnn_conv_f32_avx512_scratch_bytes(const fr_cnn_geom *g);
void fr_cnn_conv_f32_avx512(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                            const float *filter, const float *bias, const void *packed,
                            float *output, void *scratch);
size_t fr_cnn_dwconv_s8_avx2_scratch_bytes(const fr_cnn_geom *g);
void fr_cnn_dwconv_s8_avx2(const fr_cnn_geom *g, const fr_cnn_requant *q, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, int8_t *output,
                           void *scratch);
void fr_cnn_dwconv_f32_avx2(const fr_cnn_geom *g, fr_cnn_range_f32 act, const float *input,
                            const float *filter, const float *bias, float *output);
void fr_cnn_add_s8_avx2(const fr_cnn_add_s8_params *p, const int8_t *in1, const int8_t *in2,
                        int8_t *out, size_t n);
void fr_cnn_fc_s8_avx2(const fr_cnn_fc_dims *d, const fr_cnn_requant *q, const int8_t *input,
                       const int8_t *weights, const int32_t *bias, int8_t *output);
void fr_cnn_fc_f32_avx2(const fr_cnn_fc_dims *d, fr_cnn_range_f32 act, const float *input,
                        const float *weights, const float *bias, float *output);
void fr_cnn_fc_s8_avx512(const fr_cnn_fc_dims *d, const fr_cnn_requant *q, const int8_t *input,
                         const int8_t *weights, const int32_t *bias, int8_t *output);
#else
/* Never called off x86 (see above); defined so that the dispatchers compile. */
static inline size_t fr_cnn_conv_s8_avx2_scratch_bytes(const fr_cnn_geom *g) {
    (void)g;
    return 0;
}
static inline size_t fr_cnn_conv_s8_avx2_packed_bytes(const fr_cnn_geom *g) {
    (void)g;
    return 0;
}
static inline void fr_cnn_conv_s8_avx2_pack(const fr_cnn_geom *g, const fr_cnn_requant *q,
                                            const int8_t *filter, const int32_t *bias,
                                            void *packed) {
    (void)g, (void)q, (void)filter, (void)bias, (void)packed;
}
static inline void fr_cnn_conv_s8_avx2(const fr_cnn_geom *g, const fr_cnn_requant *q,
                                       const int8_t *input, const int8_t *filter,
                                       const int32_t *bias, const void *packed, int8_t *output,
                                       void *scratch) {
    (void)packed, (void)scratch;
    fr_cnn_conv_s8_ref(g, q, input, filter, bias, output);
}
static inline size_t fr_cnn_conv_s8_avx512_scratch_bytes(const fr_cnn_geom *g) {
    (void)g;
    return 0;
}
static inline size_t fr_cnn_conv_s8_avx512_packed_bytes(const fr_cnn_geom *g) {
    (void)g;
    return 0;
}
static inline void fr_cnn_conv_s8_avx512_pack(const fr_cnn_geom *g, const fr_cnn_requant *q,
                                              const int8_t *filter, const int32_t *bias,
                                              void *packed) {
    (void)g, (void)q, (void)filter, (void)bias, (void)packed;
}
static inline void fr_cnn_conv_s8_avx512(const fr_cnn_geom *g, const fr_cnn_requant *q,
                                         const int8_t *input, const int8_t *filter,
                                         const int32_t *bias, const void *packed,
                                         int8_t *output, void *scratch) {
    (void)packed, (void)scratch;
    fr_cnn_conv_s8_ref(g, q, input, filter, bias, output);
}
static inline size_t fr_cnn_conv_f32_avx512_scratch_bytes(const fr_cnn_geom *g) {
    (void)g;
    return 0;
}
static inline void fr_cnn_conv_f32_avx512(const fr_cnn_geom *g, fr_cnn_range_f32 act,
                                          const float *input, const float *filter,
                                          const float *bias, const void *packed, float *output,
                                          void *scratch) {
    (void)packed, (void)scratch;
    fr_cnn_conv_f32_ref(g, act, input, filter, bias, output);
}
static inline size_t fr_cnn_conv_f32_avx2_scratch_bytes(const fr_cnn_geom *g) {
    (void)g;
    return 0;
}
static inline size_t fr_cnn_conv_f32_avx2_packed_bytes(const fr_cnn_geom *g) {
    (void)g;
    return 0;
}
static inline void fr_cnn_conv_f32_avx2_pack(const fr_cnn_geom *g, const float *filter,
                                             const float *bias, void *packed) {
    (void)g, (void)filter, (void)bias, (void)packed;
}
static inline void fr_cnn_conv_f32_avx2(const fr_cnn_geom *g, fr_cnn_range_f32 act,
                                        const float *input, const float *filter,
                                        const float *bias, const void *packed, float *output,
                                        void *scratch) {
    (void)packed, (void)scratch;
    fr_cnn_conv_f32_ref(g, act, input, filter, bias, output);
}
static inline size_t fr_cnn_dwconv_s8_avx2_scratch_bytes(const fr_cnn_geom *g) {
    (void)g;
    return 0;
}
static inline void fr_cnn_dwconv_s8_avx2(const fr_cnn_geom *g, const fr_cnn_requant *q,
                                         const int8_t *input, const int8_t *filter,
                                         const int32_t *bias, int8_t *output, void *scratch) {
    (void)scratch;
    fr_cnn_dwconv_s8_ref(g, q, input, filter, bias, output);
}
static inline void fr_cnn_dwconv_f32_avx2(const fr_cnn_geom *g, fr_cnn_range_f32 act,
                                          const float *input, const float *filter,
                                          const float *bias, float *output) {
    fr_cnn_dwconv_f32_ref(g, act, input, filter, bias, output);
}
static inline void fr_cnn_add_s8_avx2(const fr_cnn_add_s8_params *p, const int8_t *in1,
                                      const int8_t *in2, int8_t *out, size_t n) {
    fr_cnn_add_s8_ref(p, in1, in2, out, n);
}
static inline void fr_cnn_fc_s8_avx2(const fr_cnn_fc_dims *d, const fr_cnn_requant *q,
                                     const int8_t *input, const int8_t *weights,
                                     const int32_t *bias, int8_t *output) {
    fr_cnn_fc_s8_ref(d, q, input, weights, bias, output);
}
static inline void fr_cnn_fc_s8_avx512(const fr_cnn_fc_dims *d, const fr_cnn_requant *q,
                                     const int8_t *input, const int8_t *weights,
                                     const int32_t *bias, int8_t *output) {
    fr_cnn_fc_s8_ref(d, q, input, weights, bias, output);
}
static inline void fr_cnn_fc_f32_avx2(const fr_cnn_fc_dims *d, fr_cnn_range_f32 act,
                                      const float *input, const float *weights,
                                      const float *bias, float *output) {
    fr_cnn_fc_f32_ref(d, act, input, weights, bias, output);
}
#endif

#endif
