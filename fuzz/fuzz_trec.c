/* libFuzzer target for the TREC sidecar reader (src/reuse/trec_file.c): open the input
 * (copied to a 4-byte aligned buffer, as the reader requires), read every layer and every
 * projection / offset value, look each layer up by op index, and run the layers that pass
 * fr_trec_check on a small conv whose K matches (1 x k_w filter, in_c = L * channel groups
 * for pixel mode, else in_c = K) through the float and int8 scalar references and fast paths: hostile
 * projections (NaN, infinities, extremes) must not crash them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels.h"
#include "reuse/trec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_layer(const fr_trec_layer *l) {
    if (l->K > 512) return;
    const int pixel = l->params.pixel;
    const int in_c = pixel ? l->params.sub_len * l->channel_groups : l->K;
    const int k_w = pixel ? l->K / in_c : 1;
    fr_cnn_geom g;
    if (fr_cnn_geom_init(&g, "conv", FR_CNN_PAD_SAME, 1, 3, 3, in_c, 4, 1, k_w, 1, 1, 1, 1, 1,
                         NULL) != FR_OK)
        return;
    const size_t n_in = (size_t)9 * in_c, n_w = (size_t)4 * l->K;
    float *xf = malloc(n_in * sizeof *xf), *wf = malloc(n_w * sizeof *wf), yf[9 * 4];
    int8_t *x8 = malloc(n_in), *w8 = malloc(n_w), y8[9 * 4];
    for (size_t i = 0; i < n_in; i++) {
        xf[i] = (float)((int)(i * 37 % 17) - 8) * 0.25f;
        x8[i] = (int8_t)(i * 37 % 251);
    }
    for (size_t i = 0; i < n_w; i++) {
        wf[i] = (float)((int)(i * 13 % 11) - 5) * 0.125f;
        w8[i] = (int8_t)(i * 13 % 253);
    }
    int32_t mult[4] = {1 << 30, 1 << 29, 1 << 30, 1 << 28}, shift[4] = {-3, -2, 0, -5};
    const fr_cnn_requant q = {3, -2, -128, 127, mult, shift, 1};
    const fr_cnn_range_f32 act = {-1e30f, 1e30f};
    for (int s8 = 0; s8 < 2; s8++) {
        if (fr_trec_check(&l->params, &g, s8, "fuzz", NULL) != FR_OK) continue;
        const size_t sb = s8 ? fr_trec_conv_s8_scratch_bytes(&l->params, &g)
                             : fr_trec_conv_f32_scratch_bytes(&l->params, &g);
        if (sb > ((size_t)8 << 20)) continue;
        void *scr = aligned_alloc(64, (sb + 63) & ~(size_t)63);
        if (!scr) continue;
        for (int ref = 0; ref < 2; ref++) {
            if (s8 && ref)
                fr_trec_conv_s8_ref(&l->params, &g, &q, x8, w8, NULL, y8, scr, NULL);
            else if (s8)
                fr_trec_conv_s8(fr_isa_best(), &l->params, &g, &q, x8, w8, NULL, y8, scr, NULL);
            else if (ref)
                fr_trec_conv_f32_ref(&l->params, &g, act, xf, wf, NULL, yf, scr, NULL);
            else
                fr_trec_conv_f32(fr_isa_best(), &l->params, &g, act, xf, wf, NULL, yf, scr,
                                 NULL);
        }
        free(scr);
    }
    free(xf), free(wf), free(x8), free(w8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    void *buf = malloc(size ? size : 1); /* malloc: aligned for any object, so 4 bytes */
    if (!buf) return 0;
    memcpy(buf, data, size);
    fr_error err = {0};
    int n = 0;
    if (fr_trec_file_open(buf, size, "fuzz.trec", &n, &err) != FR_OK) {
        if (err.msg[0] == '\0' || !strstr(err.msg, "fuzz.trec") || strchr(err.msg, '\n'))
            __builtin_trap();
        free(buf);
        return 0;
    }
    volatile float acc = 0;
    for (int i = 0; i < n; i++) {
        fr_trec_layer l, l2;
        int found = 0;
        if (fr_trec_file_layer(buf, size, i, &l, &err) != FR_OK) __builtin_trap();
        if (fr_trec_file_find(buf, size, l.op_index, &l2, &found, &err) != FR_OK || !found)
            __builtin_trap();
        const int G = l.channel_groups;
        const int J = l.params.pixel ? G : fr_trec_num_sub(l.K, l.params.sub_len);
        const size_t hk = (size_t)l.params.hash_bits *
                          (l.params.pixel ? (size_t)l.params.sub_len * G : (size_t)l.K);
        for (size_t k = 0; k < hk; k++) {
            if (l.params.proj_f32) acc += l.params.proj_f32[k];
            if (l.params.proj_s8) acc += l.params.proj_s8[k];
        }
        for (size_t k = 0; k < (size_t)J * l.params.hash_bits; k++) {
            if (l.params.offset_f32) acc += l.params.offset_f32[k];
            if (l.params.offset_s32) acc += (float)l.params.offset_s32[k];
        }
        run_layer(&l);
    }
    (void)acc;
    free(buf);
    return 0;
}
