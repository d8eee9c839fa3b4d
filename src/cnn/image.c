/* Image -> input tensor: bilinear resize, channel conversion, pixel range, quantisation.
 * Pure memory work (no stdio, no allocation): decoding files is the CLI's business
 * (tools/cli/image_io.c). */
#include <math.h>
#include <string.h>

#include "cnn/model.h"
#include "core/error.h"

/* One source sample (channel ch of the image, converting grey <-> RGB). */
static float sample(const uint8_t *px, int w, int c, int x, int y, int ch, int want_c) {
    const uint8_t *p = px + ((size_t)y * (size_t)w + (size_t)x) * (size_t)c;
    if (c == want_c)
        return p[ch];
    if (c == 1)
        return p[0];
    if (want_c == 1 && c >= 3) /* ITU-R 601 luma */
        return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
    return p[ch < c ? ch : c - 1];
}

fr_status fr_cnn_set_input_image(fr_cnn_model *m, int i, const uint8_t *pixels, int w, int h,
                                 int c, float lo, float hi, fr_error *err) {
    if (!m || !pixels)
        return fr_fail(err, FR_E_ARG, "cnn: NULL model or image");
    if (i < 0 || i >= m->n_inputs)
        return fr_fail(err, FR_E_ARG, "%s: input %d out of range", m->fb.name, i);
    const fr_cnn_tns *t = &m->tensors[m->inputs[i]];
    if (t->ndim != 4 || t->dims[0] != 1)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: input %d is not an image tensor [1,H,W,C]",
                       m->fb.name, i);
    int oh = t->dims[1], ow = t->dims[2], oc = t->dims[3];
    if (w <= 0 || h <= 0 || c <= 0 || c > 4)
        return fr_fail(err, FR_E_ARG, "%s: bad image size %dx%dx%d", m->fb.name, w, h, c);
    if (oc != c && !(oc == 1 || oc == 3))
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: model wants %d channels, image has %d",
                       m->fb.name, oc, c);
    if (t->type != FR_CNN_FLOAT32 && !(t->type == FR_CNN_INT8 && t->n_quant >= 1))
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: input %d is %s", m->fb.name, i,
                       fr_cnn_type_name((fr_cnn_type)t->type));
    float *fo = t->type == FR_CNN_FLOAT32 ? (float *)t->data : NULL;
    int8_t *qo = t->type == FR_CNN_INT8 ? (int8_t *)t->data : NULL;
    const float k = (hi - lo) / 255.0f;
    const float sy = (float)h / (float)oh, sx = (float)w / (float)ow;
    for (int y = 0; y < oh; y++) {
        float fy = ((float)y + 0.5f) * sy - 0.5f;
        if (fy < 0.0f)
            fy = 0.0f;
        int y0 = (int)fy;
        if (y0 > h - 1)
            y0 = h - 1;
        int y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        float wy = fy - (float)y0;
        for (int x = 0; x < ow; x++) {
            float fx = ((float)x + 0.5f) * sx - 0.5f;
            if (fx < 0.0f)
                fx = 0.0f;
            int x0 = (int)fx;
            if (x0 > w - 1)
                x0 = w - 1;
            int x1 = x0 + 1 < w ? x0 + 1 : w - 1;
            float wx = fx - (float)x0;
            for (int ch = 0; ch < oc; ch++) {
                float v00 = sample(pixels, w, c, x0, y0, ch, oc);
                float v01 = sample(pixels, w, c, x1, y0, ch, oc);
                float v10 = sample(pixels, w, c, x0, y1, ch, oc);
                float v11 = sample(pixels, w, c, x1, y1, ch, oc);
                float top = v00 + (v01 - v00) * wx;
                float bot = v10 + (v11 - v10) * wx;
                float v = lo + k * (top + (bot - top) * wy);
                size_t o = ((size_t)y * (size_t)ow + (size_t)x) * (size_t)oc + (size_t)ch;
                if (fo)
                    fo[o] = v;
                else
                    fr_cnn_quantize_f32_s8(t->scale, t->zp, &v, &qo[o], 1);
            }
        }
    }
    return FR_OK;
}
