/* Bounds-checked TFLite FlatBuffer reader: see tflite_reader.h. */
#include "cnn/tflite_reader.h"

#include <string.h>

#include "core/error.h"

/* Files over 2 GiB use buffer offsets outside the FlatBuffer; 32-bit uoffsets limit the
 * FlatBuffer itself, and we keep every position below this bound so sums cannot wrap. */
#define FR_FB_MAX_LEN ((size_t)0x7fffffff)

static uint16_t ld_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t ld_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

fr_status fr_fb_init(fr_fb *fb, const void *buf, size_t len, const char *name, fr_error *err) {
    fb->buf = buf;
    fb->len = len;
    fb->name = name ? name : "model";
    if (!buf || len < 8)
        return fr_fail(err, FR_E_FORMAT, "%s: too short to be a TFLite file (%s bytes)",
                       fb->name, FR_NUM(len));
    if (len > FR_FB_MAX_LEN)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: files over 2 GiB are not supported",
                       fb->name);
    if (memcmp(fb->buf + 4, "TFL3", 4) != 0)
        return fr_fail(err, FR_E_FORMAT, "%s: not a TFLite file (no TFL3 identifier)",
                       fb->name);
    return FR_OK;
}

fr_status fr_fb_table_at(const fr_fb *fb, size_t pos, fr_fb_table *t, const char *what,
                         fr_error *err) {
    if (pos > fb->len - 4)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: table offset %s past end of file",
                       fb->name, what, FR_NUM(pos));
    int32_t soff;
    memcpy(&soff, fb->buf + pos, 4);
    int64_t vt = (int64_t)pos - (int64_t)soff;
    if (vt < 0 || vt > (int64_t)fb->len - 4)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: vtable offset out of range", fb->name, what);
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vt_size = ld_u16(fb->buf + t->vt);
    t->tbl_size = ld_u16(fb->buf + t->vt + 2);
    if (t->vt_size < 4 || (t->vt_size & 1) || t->vt + t->vt_size > fb->len)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: bad vtable size %u", fb->name, what,
                       (unsigned)t->vt_size);
    if (t->tbl_size < 4 || pos + t->tbl_size > fb->len)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: table size %u past end of file", fb->name,
                       what, (unsigned)t->tbl_size);
    return FR_OK;
}

fr_status fr_fb_root(const fr_fb *fb, fr_fb_table *t, fr_error *err) {
    return fr_fb_table_at(fb, ld_u32(fb->buf), t, "root table", err);
}

/* Position of field id with `size` bytes inside table t, or 0 when absent. */
static fr_status field_pos(const fr_fb *fb, const fr_fb_table *t, int id, size_t size,
                           size_t *pos, const char *what, fr_error *err) {
    *pos = 0;
    if (id < 0)
        return fr_fail(err, FR_E_INTERNAL, "%s: %s: bad field id", fb->name, what);
    size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > t->vt_size)
        return FR_OK;
    uint16_t off = ld_u16(fb->buf + t->vt + slot);
    if (off == 0)
        return FR_OK;
    if (off < 4 || (size_t)off + size > t->tbl_size)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: field %d outside its table", fb->name, what,
                       id);
    *pos = t->pos + off; /* inside the file: pos + tbl_size <= len was checked */
    return FR_OK;
}

static fr_status scalar(const fr_fb *fb, const fr_fb_table *t, int id, size_t size, void *out,
                        const void *def, const char *what, fr_error *err) {
    size_t p;
    fr_status st = field_pos(fb, t, id, size, &p, what, err);
    if (st)
        return st;
    memcpy(out, p ? fb->buf + p : (const uint8_t *)def, size);
    return FR_OK;
}

fr_status fr_fb_u8(const fr_fb *fb, const fr_fb_table *t, int id, uint8_t def, uint8_t *out,
                   const char *what, fr_error *err) {
    return scalar(fb, t, id, 1, out, &def, what, err);
}
fr_status fr_fb_i8(const fr_fb *fb, const fr_fb_table *t, int id, int8_t def, int8_t *out,
                   const char *what, fr_error *err) {
    return scalar(fb, t, id, 1, out, &def, what, err);
}
fr_status fr_fb_i32(const fr_fb *fb, const fr_fb_table *t, int id, int32_t def, int32_t *out,
                    const char *what, fr_error *err) {
    return scalar(fb, t, id, 4, out, &def, what, err);
}
fr_status fr_fb_u32(const fr_fb *fb, const fr_fb_table *t, int id, uint32_t def,
                    uint32_t *out, const char *what, fr_error *err) {
    return scalar(fb, t, id, 4, out, &def, what, err);
}
fr_status fr_fb_u64(const fr_fb *fb, const fr_fb_table *t, int id, uint64_t def,
                    uint64_t *out, const char *what, fr_error *err) {
    return scalar(fb, t, id, 8, out, &def, what, err);
}
fr_status fr_fb_f32(const fr_fb *fb, const fr_fb_table *t, int id, float def, float *out,
                    const char *what, fr_error *err) {
    return scalar(fb, t, id, 4, out, &def, what, err);
}

/* Follows the reference in field id; *target = 0 when absent. */
static fr_status ref(const fr_fb *fb, const fr_fb_table *t, int id, size_t *target,
                     const char *what, fr_error *err) {
    size_t p;
    *target = 0;
    fr_status st = field_pos(fb, t, id, 4, &p, what, err);
    if (st || !p)
        return st;
    uint32_t off = ld_u32(fb->buf + p);
    if (off == 0 || (size_t)off > fb->len - p)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: field %d points outside the file",
                       fb->name, what, id);
    *target = p + off;
    return FR_OK;
}

fr_status fr_fb_subtable(const fr_fb *fb, const fr_fb_table *t, int id, fr_fb_table *out,
                         int *present, const char *what, fr_error *err) {
    size_t target;
    *present = 0;
    fr_status st = ref(fb, t, id, &target, what, err);
    if (st || !target)
        return st;
    st = fr_fb_table_at(fb, target, out, what, err);
    if (st)
        return st;
    *present = 1;
    return FR_OK;
}

fr_status fr_fb_vector(const fr_fb *fb, const fr_fb_table *t, int id, size_t elem_size,
                       fr_fb_vec *v, const char *what, fr_error *err) {
    size_t target;
    v->pos = 0;
    v->n = 0;
    fr_status st = ref(fb, t, id, &target, what, err);
    if (st || !target)
        return st;
    if (target > fb->len - 4)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: vector length past end of file", fb->name,
                       what);
    uint32_t n = ld_u32(fb->buf + target);
    size_t avail = fb->len - (target + 4);
    if (elem_size == 0 || (size_t)n > avail / elem_size)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: vector of %u elements runs past end of file",
                       fb->name, what, (unsigned)n);
    v->pos = target + 4;
    v->n = n;
    return FR_OK;
}

fr_status fr_fb_vec_table(const fr_fb *fb, const fr_fb_vec *v, uint32_t i, fr_fb_table *out,
                          const char *what, fr_error *err) {
    if (i >= v->n)
        return fr_fail(err, FR_E_INTERNAL, "%s: %s: index %u out of range", fb->name, what,
                       (unsigned)i);
    size_t p = v->pos + 4 * (size_t)i;
    uint32_t off = ld_u32(fb->buf + p);
    if (off == 0 || (size_t)off > fb->len - p)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: offset points outside the file", fb->name,
                       what);
    return fr_fb_table_at(fb, p + off, out, what, err);
}

fr_status fr_fb_string(const fr_fb *fb, const fr_fb_table *t, int id, const char **s,
                       uint32_t *n, const char *what, fr_error *err) {
    fr_fb_vec v;
    *s = "";
    *n = 0;
    fr_status st = fr_fb_vector(fb, t, id, 1, &v, what, err);
    if (st || !v.pos)
        return st;
    if (v.pos + v.n >= fb->len || fb->buf[v.pos + v.n] != 0)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: string is not NUL-terminated", fb->name,
                       what);
    if (memchr(fb->buf + v.pos, 0, v.n) != NULL)
        return fr_fail(err, FR_E_FORMAT, "%s: %s: string contains a NUL byte", fb->name, what);
    *s = (const char *)(fb->buf + v.pos);
    *n = v.n;
    return FR_OK;
}

int32_t fr_fb_vec_i32(const fr_fb *fb, const fr_fb_vec *v, uint32_t i) {
    int32_t x;
    memcpy(&x, fb->buf + v->pos + 4 * (size_t)i, 4);
    return x;
}

int64_t fr_fb_vec_i64(const fr_fb *fb, const fr_fb_vec *v, uint32_t i) {
    int64_t x;
    memcpy(&x, fb->buf + v->pos + 8 * (size_t)i, 8);
    return x;
}

float fr_fb_vec_f32(const fr_fb *fb, const fr_fb_vec *v, uint32_t i) {
    float x;
    memcpy(&x, fb->buf + v->pos + 4 * (size_t)i, 4);
    return x;
}

const char *fr_tfl_op_name(int32_t code) {
    switch (code) {
    case FR_TFL_ADD: return "ADD";
    case FR_TFL_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
    case FR_TFL_CONCATENATION: return "CONCATENATION";
    case FR_TFL_CONV_2D: return "CONV_2D";
    case FR_TFL_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
    case FR_TFL_DEQUANTIZE: return "DEQUANTIZE";
    case FR_TFL_FULLY_CONNECTED: return "FULLY_CONNECTED";
    case FR_TFL_LOGISTIC: return "LOGISTIC";
    case FR_TFL_MAX_POOL_2D: return "MAX_POOL_2D";
    case FR_TFL_MUL: return "MUL";
    case FR_TFL_RELU: return "RELU";
    case FR_TFL_RELU6: return "RELU6";
    case FR_TFL_RESHAPE: return "RESHAPE";
    case FR_TFL_SOFTMAX: return "SOFTMAX";
    case FR_TFL_PAD: return "PAD";
    case FR_TFL_MEAN: return "MEAN";
    case FR_TFL_QUANTIZE: return "QUANTIZE";
    default: return "UNKNOWN";
    }
}
