/* TREC inside the CNN runtime (include/frugal_trec.h, src/reuse/trec_cnn.c) on the MLPerf
 * Tiny IC ResNet (int8 and float):
 *   - a sidecar with H = 16 and hyperplanes with offsets on every CONV_2D: on images whose
 *     patches are few and far apart (constant colours) every bucket is pure, and the
 *     output equals the dense network's (int8 bit-exact, float within rounding); the
 *     per-layer stats are consistent (rows, clusters <= rows * J, MACs);
 *   - the same through `frugal classify --reuse trec --trec FILE` (top classes equal);
 *   - a real-image run (CIFAR-10) completes and removes MACs;
 *   - bad sidecars (op index out of range, not a CONV_2D, wrong K, wrong projection type,
 *     truncated, bad magic) give one-line errors naming the file, no crash (ASan build). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "frugal.h"
#include "frugal_trec.h"

#include "../cnn/cnn_rt_testutil.h"

#define IC_DIR FR_ASSETS "/cnn/mlperf-tiny/ic"
#define MODEL_S8 IC_DIR "/pretrainedResnet_quant.tflite"
#define MODEL_F32 IC_DIR "/pretrainedResnet.tflite"
#define CIFAR FR_ASSETS "/cnn/cifar10/test_batch.bin"
#define FRUGAL FR_BINARY_DIR "/bin/frugal"
#define TMPDIR FR_BINARY_DIR "/tests/reuse/trec_model_tmp"


static int have_assets(void) {
    FILE *f = fopen(MODEL_S8, "rb");
    if (!f) {
        printf("SKIPPED: %s not found\n", MODEL_S8);
        return 0;
    }
    fclose(f);
    return 1;
}

static uint32_t rnd(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}
static float gauss(uint32_t *s) { /* sum of 4 uniforms, centred */
    float a = 0;
    for (int k = 0; k < 4; k++)
        a += (float)rnd(s) / 16777216.0f;
    return a - 2.0f;
}

/* A loaded model (dense or with a provider). */
typedef struct mdl {
    void *arena;
    fr_cnn_model *m;
} mdl;

static fr_status load(const uint8_t *buf, size_t len, const fr_cnn_reuse *r, mdl *out,
                      fr_error *err) {
    fr_cnn_config cfg = {.kernels = FR_CNN_KERNELS_BEST, .name = "ic.tflite"};
    size_t wb = len * 2 + ((size_t)8 << 20);
    void *work = malloc(wb);
    assert_non_null(work);
    fr_cnn_arena_info info;
    fr_status st = fr_cnn_plan_reuse(buf, len, work, wb, &cfg, r, &info, err);
    free(work);
    out->arena = NULL;
    out->m = NULL;
    if (st)
        return st;
    out->arena = malloc(info.total_bytes);
    assert_non_null(out->arena);
    st = fr_cnn_model_init_reuse(buf, len, out->arena, info.total_bytes, &cfg, r, &out->m, err);
    if (st) {
        free(out->arena);
        out->arena = NULL;
    }
    return st;
}

/* The sidecar: for every CONV_2D of the model (or only op `only` when >= 0), L = in_c,
 * H hyperplanes with Gaussian directions and offsets; types: 1 float, 2 int8 (+4 offsets).
 * Offsets: int8 uniform in +-oscale_s8, float in +-oscale_f32. Overrides for error tests:
 * force_op >= 0 puts that op index into the first entry, k_delta changes its K. */
typedef struct side_opts {
    int H, types, only, force_op, k_delta;
    float oscale_f32;
    int32_t oscale_s8;
    uint32_t seed;
} side_opts;

static uint8_t *build_sidecar(const fr_cnn_model *m, const side_opts *o, size_t *len) {
    int ops[256], Ks[256], Ls[256], n = 0;
    for (int i = 0; i < fr_cnn_num_ops(m) && n < 256; i++) {
        fr_cnn_op_info oi;
        fr_cnn_tensor_info ti;
        assert_int_equal(fr_cnn_op(m, i, &oi, NULL), FR_OK);
        if (strcmp(oi.name, "CONV_2D") || (o->only >= 0 && i != o->only))
            continue;
        assert_int_equal(fr_cnn_tensor(m, oi.inputs[0], &ti, NULL), FR_OK);
        ops[n] = i;
        Ls[n] = ti.dims[3];
        Ks[n] = oi.filter_h * oi.filter_w * ti.dims[3];
        n++;
    }
    assert_true(n > 0);
    if (o->force_op >= 0) {
        ops[0] = o->force_op;
        n = 1;
    }
    Ks[0] += o->k_delta;
    size_t cap = 16 + 24 * (size_t)n;
    for (int l = 0; l < n; l++)
        cap += (size_t)Ks[l] * o->H * 5 + (size_t)Ks[l] * o->H * 8 + 64;
    uint8_t *b = aligned_alloc(64, (cap + 63) & ~(size_t)63);
    assert_non_null(b);
    memset(b, 0, cap);
    size_t off = 16 + 24 * (size_t)n;
    uint32_t s = o->seed;
    for (int l = 0; l < n; l++) {
        int K = Ks[l], L = Ls[l] > K ? K : Ls[l], H = o->H, J = (K + L - 1) / L;
        int nt = ((o->types & 1) != 0) + ((o->types & 2) != 0);
        size_t bytes = (o->types & 1 ? 4u * H * K : 0) + (o->types & 2 ? (size_t)H * K : 0) +
                       (o->types & 4 ? 4u * J * H * nt : 0);
        uint8_t *e = b + 16 + 24 * l;
        uint32_t op = (uint32_t)ops[l], k32 = (uint32_t)K, o32 = (uint32_t)off,
                 b32 = (uint32_t)bytes;
        uint16_t l16 = (uint16_t)L;
        memcpy(e, &op, 4);
        memcpy(e + 4, &k32, 4);
        memcpy(e + 8, &l16, 2);
        e[10] = (uint8_t)H;
        e[11] = 0;
        e[12] = (uint8_t)o->types;
        memcpy(e + 16, &o32, 4);
        memcpy(e + 20, &b32, 4);
        uint8_t *d = b + off;
        float *pf = malloc((size_t)H * K * sizeof *pf);
        assert_non_null(pf);
        for (int i = 0; i < H * K; i++)
            pf[i] = gauss(&s);
        if (o->types & 1) {
            memcpy(d, pf, 4u * H * K);
            d += 4u * H * K;
            if (o->types & 4)
                for (int i = 0; i < J * H; i++, d += 4) {
                    float v = o->oscale_f32 * (2.0f * (float)rnd(&s) / 16777216.0f - 1.0f);
                    memcpy(d, &v, 4);
                }
        }
        if (o->types & 2) {
            if (o->types & 4)
                for (int i = 0; i < J * H; i++, d += 4) {
                    int32_t v = (int32_t)(rnd(&s) % (2u * (uint32_t)o->oscale_s8 + 1)) -
                                o->oscale_s8;
                    memcpy(d, &v, 4);
                }
            for (int i = 0; i < H * K; i++, d++) {
                float v = pf[i] * 40.0f;
                v = v > 127 ? 127 : v < -127 ? -127 : v;
                *d = (uint8_t)(int8_t)(v >= 0 ? (int)(v + 0.5f) : -(int)(-v + 0.5f));
            }
        }
        free(pf);
        off += bytes;
        off = (off + 3) & ~(size_t)3;
    }
    memcpy(b, "FRTC", 4);
    uint16_t ver = 1, nl = (uint16_t)n;
    uint32_t fb = (uint32_t)off;
    memcpy(b + 4, &ver, 2);
    memcpy(b + 6, &nl, 2);
    memcpy(b + 8, &fb, 4);
    *len = off;
    return b;
}

/* ---- a sidecar whose buckets are pure for one given image --------------------------- */
/* For every CONV_2D, the input the dense model gives it on the image is captured (invoke
 * hook); per sub-vector j (L = in_c: one filter tap) the distinct sub-vectors of the rows
 * are split greedily by hyperplanes through the midpoint of two not yet separated points
 * (direction a - b). With at most 17 distinct points per tap, 16 hyperplanes separate them
 * all, so every bucket holds identical sub-vectors and TREC must equal dense. */

typedef struct capture {
    const fr_cnn_model *m;
    int n;
    int ops[64];
    void *data[64];
} capture;

static void cap_hook(void *ctx, int op, int end) {
    capture *c = ctx;
    if (end)
        return;
    fr_cnn_op_info oi;
    fr_cnn_tensor_info ti;
    fr_cnn_op(c->m, op, &oi, NULL);
    if (strcmp(oi.name, "CONV_2D") || c->n >= 64)
        return;
    fr_cnn_tensor(c->m, oi.inputs[0], &ti, NULL);
    c->ops[c->n] = op;
    c->data[c->n] = malloc(ti.bytes);
    assert_non_null(c->data[c->n]);
    memcpy(c->data[c->n], ti.data, ti.bytes);
    c->n++;
}

static int pad_before(int padding, int in, int k, int stride, int dil) {
    if (padding == 1)
        return 0;
    int out = (in + stride - 1) / stride, eff = (k - 1) * dil + 1;
    int tot = (out - 1) * stride + eff - in;
    return tot > 0 ? tot / 2 : 0;
}

static uint8_t *build_pure_sidecar(fr_cnn_model *m, const uint8_t *hwc, size_t *len,
                                   int *n_pure) {
    capture c = {.m = m};
    float lo, hi;
    fr_error err = {0};
    fr_cnn_input_range(m, 0, &lo, &hi);
    assert_int_equal(fr_cnn_set_input_image(m, 0, hwc, 32, 32, 3, lo, hi, &err), FR_OK);
    assert_int_equal(fr_cnn_invoke_hooked(m, cap_hook, &c, &err), FR_OK);
    size_t cap = 16 + 24 * (size_t)c.n, off = cap;
    int n_out = 0;
    for (int l = 0; l < c.n; l++) {
        fr_cnn_op_info oi;
        fr_cnn_tensor_info ti;
        fr_cnn_op(m, c.ops[l], &oi, NULL);
        fr_cnn_tensor(m, oi.inputs[0], &ti, NULL);
        cap += (size_t)oi.filter_h * oi.filter_w * ti.dims[3] * 16 * 4 + 16 * 64 * 4 + 64;
    }
    uint8_t *b = aligned_alloc(64, (cap + 63) & ~(size_t)63);
    assert_non_null(b);
    memset(b, 0, cap);
    for (int l = 0; l < c.n; l++) {
        fr_cnn_op_info oi;
        fr_cnn_tensor_info ti, yo;
        fr_cnn_op(m, c.ops[l], &oi, NULL);
        fr_cnn_tensor(m, oi.inputs[0], &ti, NULL);
        fr_cnn_tensor(m, oi.outputs[0], &yo, NULL);
        int s8 = ti.type == FR_CNN_INT8, zp = s8 ? ti.zero_point : 0;
        int ih = ti.dims[1], iw = ti.dims[2], C = ti.dims[3], kh = oi.filter_h,
            kw = oi.filter_w, oh = yo.dims[1], ow = yo.dims[2];
        int pt = pad_before(oi.padding, ih, kh, oi.stride_h, oi.dilation_h);
        int pl = pad_before(oi.padding, iw, kw, oi.stride_w, oi.dilation_w);
        int K = kh * kw * C, L = C, H = 16, J = kh * kw;
        size_t bytes = s8 ? (size_t)H * K + 4u * J * H : 4u * H * K + 4u * J * H;
        float *pf = calloc((size_t)H * K, sizeof *pf), *of = calloc((size_t)J * H, sizeof *of);
        int8_t *ps = calloc((size_t)H * K, 1);
        int32_t *os = calloc((size_t)J * H, sizeof *os);
        int n_rows = oh * ow;
        float *pts = malloc((size_t)(n_rows + 1) * L * sizeof *pts);
        int *cls = malloc((size_t)(n_rows + 1) * sizeof *cls);
        assert_true(pf && of && ps && os && pts && cls);
        int pure = 1;
        for (int j = 0; j < J && pure; j++) {
            int fy = j / kw, fx = j % kw, np = 0;
            for (int r = 0; r < n_rows; r++) { /* distinct sub-vectors of tap j */
                int y = (r / ow) * oi.stride_h - pt + fy * oi.dilation_h;
                int x = (r % ow) * oi.stride_w - pl + fx * oi.dilation_w;
                float v[1024];
                for (int ch = 0; ch < L; ch++) {
                    if (y < 0 || y >= ih || x < 0 || x >= iw)
                        v[ch] = 0;
                    else if (s8)
                        v[ch] = (float)(((int8_t *)c.data[l])[((size_t)y * iw + x) * C + ch] - zp);
                    else
                        v[ch] = ((float *)c.data[l])[((size_t)y * iw + x) * C + ch];
                }
                int seen = 0;
                for (int q = 0; q < np && !seen; q++)
                    seen = !memcmp(pts + (size_t)q * L, v, (size_t)L * sizeof(float));
                if (!seen) {
                    memcpy(pts + (size_t)np * L, v, (size_t)L * sizeof(float));
                    cls[np++] = 0;
                }
            }
            float *P = pf + (size_t)H * j * L;
            int8_t *Q = ps + (size_t)H * j * L;
            for (int h = 0; h < H; h++) {
                int a = -1, bb = -1; /* two points of one class */
                for (int q = 0; q < np && bb < 0; q++)
                    for (int q2 = q + 1; q2 < np && bb < 0; q2++)
                        if (cls[q] == cls[q2])
                            a = q, bb = q2;
                if (bb < 0)
                    break;
                const float *A = pts + (size_t)a * L, *B = pts + (size_t)bb * L;
                double mx = 0;
                for (int t = 0; t < L; t++)
                    mx = fmax(mx, fabs((double)A[t] - B[t]));
                double da = 0, db = 0;
                for (int t = 0; t < L; t++) {
                    P[h * L + t] = A[t] - B[t];
                    double qv = 127.0 * (A[t] - B[t]) / mx;
                    Q[h * L + t] = (int8_t)(qv >= 0 ? (int)(qv + 0.5) : -(int)(-qv + 0.5));
                }
                if (s8) {
                    for (int t = 0; t < L; t++) {
                        da += Q[h * L + t] * (double)A[t];
                        db += Q[h * L + t] * (double)B[t];
                    }
                    assert_true(da > db);
                    os[j * H + h] = -(int32_t)db - 1; /* b: -1, a: >= 0 */
                } else {
                    for (int t = 0; t < L; t++) {
                        da += (double)P[h * L + t] * A[t];
                        db += (double)P[h * L + t] * B[t];
                    }
                    of[j * H + h] = (float)(-(da + db) / 2);
                }
                for (int q = 0; q < np; q++) { /* split every class by this hyperplane */
                    double d = 0;
                    for (int t = 0; t < L; t++)
                        d += (s8 ? (double)Q[h * L + t] : (double)P[h * L + t]) *
                             pts[(size_t)q * L + t];
                    d += s8 ? (double)os[j * H + h] : (double)of[j * H + h];
                    cls[q] = cls[q] * 2 + (d >= 0);
                }
            }
            for (int q = 0; q < np; q++)
                for (int q2 = q + 1; q2 < np; q2++)
                    if (cls[q] == cls[q2])
                        pure = 0;
        }
        if (!pure) { /* too many distinct patches for 16 hyperplanes: stays dense */
            free(pf);
            free(of);
            free(ps);
            free(os);
            free(pts);
            free(cls);
            free(c.data[l]);
            continue;
        }
        uint8_t *e = b + 16 + 24 * n_out++;
        uint32_t op = (uint32_t)c.ops[l], k32 = (uint32_t)K, o32 = (uint32_t)off,
                 b32 = (uint32_t)bytes;
        uint16_t l16 = (uint16_t)L;
        memcpy(e, &op, 4);
        memcpy(e + 4, &k32, 4);
        memcpy(e + 8, &l16, 2);
        e[10] = (uint8_t)H;
        e[12] = (uint8_t)((s8 ? 2 : 1) | 4);
        memcpy(e + 16, &o32, 4);
        memcpy(e + 20, &b32, 4);
        uint8_t *d = b + off;
        if (s8) {
            memcpy(d, os, 4u * J * H);
            memcpy(d + 4u * J * H, ps, (size_t)H * K);
        } else {
            memcpy(d, pf, 4u * H * K);
            memcpy(d + 4u * H * K, of, 4u * J * H);
        }
        off = (off + bytes + 3) & ~(size_t)3;
        free(pf);
        free(of);
        free(ps);
        free(os);
        free(pts);
        free(cls);
        free(c.data[l]);
    }
    assert_true(n_out * 2 >= c.n); /* at least half the convs replaced */
    if (n_pure)
        *n_pure = n_out;
    memcpy(b, "FRTC", 4);
    uint16_t ver = 1, nl = (uint16_t)n_out;
    uint32_t fb = (uint32_t)off;
    memcpy(b + 4, &ver, 2);
    memcpy(b + 6, &nl, 2);
    memcpy(b + 8, &fb, 4);
    *len = off;
    return b;
}

static void run_image(fr_cnn_model *m, const uint8_t *hwc, float *scores) {
    fr_error err = {0};
    float lo, hi;
    fr_cnn_input_range(m, 0, &lo, &hi);
    assert_int_equal(fr_cnn_set_input_image(m, 0, hwc, 32, 32, 3, lo, hi, &err), FR_OK);
    assert_int_equal(fr_cnn_invoke(m, &err), FR_OK);
    assert_int_equal(fr_cnn_get_output_f32(m, 0, scores, 10, &err), FR_OK);
}

static const side_opts PURE_S8 = {.H = 16, .types = 2 | 4, .only = -1, .force_op = -1,
                                  .oscale_s8 = 20000, .seed = 7};
static const side_opts PURE_F32 = {.H = 16, .types = 1 | 4, .only = -1, .force_op = -1,
                                   .oscale_f32 = 2.0f, .seed = 7};

/* Dense identity: constant-colour images, every conv replaced, H = 16. */
static void identity(const char *path, const side_opts *so, int exact) {
    if (!have_assets())
        skip();
    size_t len, slen;
    uint8_t *buf = read_all(path, &len);
    assert_non_null(buf);
    mdl dense, tr;
    fr_error err = {0};
    assert_int_equal(load(buf, len, NULL, &dense, &err), FR_OK);
    (void)so;
    static const uint8_t colours[4][3] = {{0, 0, 0}, {200, 30, 90}, {255, 255, 255},
                                          {17, 140, 250}};
    uint8_t img[32 * 32 * 3];
    uint8_t *side = NULL;
    int n_pure = 0;
    fr_cnn_trec t;
    for (int c = 0; c < 4; c++) {
        for (int p = 0; p < 32 * 32; p++)
            memcpy(img + 3 * p, colours[c], 3);
        free(side);
        side = build_pure_sidecar(dense.m, img, &slen, &n_pure);
        printf("colour %d: %d CONV_2D layers with pure buckets\n", c, n_pure);
        assert_int_equal(fr_cnn_trec_init(&t, side, slen, "pure.trec", &err), FR_OK);
        if (c)
            free(tr.arena);
        if (load(buf, len, &t.reuse, &tr, &err))
            fail_msg("%s", err.msg);
        float a[10], b[10];
        run_image(dense.m, img, a);
        run_image(tr.m, img, b);
        for (int k = 0; k < 10; k++) {
            if (exact)
                assert_memory_equal(&a[k], &b[k], sizeof(float));
            else
                assert_true(fabsf(a[k] - b[k]) <= 1e-4f + 1e-4f * fabsf(a[k]));
        }
    }
    /* stats of the last run */
    int layers = 0;
    for (int i = 0; i < fr_cnn_num_ops(tr.m); i++) {
        fr_cnn_trec_info ti;
        fr_cnn_op_info oi;
        assert_int_equal(fr_cnn_trec_op_info(tr.m, i, &ti, &err), FR_OK);
        assert_int_equal(fr_cnn_op(tr.m, i, &oi, &err), FR_OK);
        if (!ti.enabled)
            continue;
        layers++;
        assert_string_equal(oi.name, "CONV_2D");
        assert_int_equal(ti.hash_bits, 16);
        assert_int_equal(ti.invokes, 1);
        assert_true(ti.rows > 0 && ti.clusters >= ti.n_sub && ti.clusters <= ti.rows * ti.n_sub);
        assert_int_equal((uint64_t)ti.macs_dense, oi.macs);
        assert_true(ti.macs_reuse < ti.macs_dense); /* constant images: few clusters */
        assert_int_equal(ti.macs_hash, ti.rows * ti.K * 16);
    }
    assert_true(layers > 0);
    fr_cnn_trec_info ti;
    assert_int_equal(fr_cnn_trec_op_info(dense.m, 0, &ti, &err), FR_OK);
    assert_int_equal(ti.enabled, 0);
    assert_int_not_equal(fr_cnn_trec_op_info(tr.m, -1, &ti, &err), FR_OK);
    free(tr.arena);
    free(dense.arena);
    free(side);
    free(buf);
}

static void test_identity_s8(void **st) {
    (void)st;
    identity(MODEL_S8, &PURE_S8, 1);
}

static void test_identity_f32(void **st) {
    (void)st;
    identity(MODEL_F32, &PURE_F32, 0);
}

/* Real CIFAR images with the H = 16 sidecar: runs, every layer removes no MACs it should
 * not (clusters <= rows * J), and with H = 4 it removes most of them. */
static void test_real_images(void **st) {
    (void)st;
    if (!have_assets())
        skip();
    size_t len, slen, clen;
    uint8_t *buf = read_all(MODEL_S8, &len);
    uint8_t *cif = read_all(CIFAR, &clen);
    assert_non_null(buf);
    if (!cif) {
        printf("SKIPPED: %s not found\n", CIFAR);
        free(buf);
        skip();
    }
    mdl dense, tr;
    fr_error err = {0};
    assert_int_equal(load(buf, len, NULL, &dense, &err), FR_OK);
    side_opts so = PURE_S8;
    so.H = 4;
    uint8_t *side = build_sidecar(dense.m, &so, &slen);
    fr_cnn_trec t;
    assert_int_equal(fr_cnn_trec_init(&t, side, slen, "h4.trec", &err), FR_OK);
    assert_int_equal(load(buf, len, &t.reuse, &tr, &err), FR_OK);
    uint8_t img[3072];
    for (int r = 0; r < 3; r++) {
        const uint8_t *rec = cif + (size_t)r * 500 * 3073;
        cifar_hwc(rec, img);
        float a[10];
        run_image(tr.m, img, a);
        for (int k = 0; k < 10; k++)
            assert_true(a[k] >= 0.0f && a[k] <= 1.0f);
    }
    int64_t d = 0, rsum = 0;
    for (int i = 0; i < fr_cnn_num_ops(tr.m); i++) {
        fr_cnn_trec_info ti;
        assert_int_equal(fr_cnn_trec_op_info(tr.m, i, &ti, &err), FR_OK);
        if (!ti.enabled)
            continue;
        assert_true(ti.clusters <= 16 * ti.n_sub); /* at most 2^H buckets per sub-vector */
        d += ti.total_macs_dense;
        rsum += ti.total_macs_reuse;
    }
    assert_true(d > 0 && rsum * 2 < d);
    free(tr.arena);
    free(dense.arena);
    free(side);
    free(cif);
    free(buf);
}

/* One-line error containing `needle` and the file name. */
static void expect_error(fr_status st, const fr_error *err, fr_status want, const char *needle) {
    assert_int_equal(st, want);
    assert_null(strchr(err->msg, '\n'));
    if (!strstr(err->msg, needle) || !strstr(err->msg, "bad.trec"))
        fail_msg("message '%s' lacks '%s' or the file name", err->msg, needle);
}

static void test_bad_sidecars(void **st) {
    (void)st;
    if (!have_assets())
        skip();
    size_t len, slen;
    uint8_t *buf = read_all(MODEL_S8, &len);
    uint8_t *fbuf;
    size_t flen;
    fbuf = read_all(MODEL_F32, &flen);
    assert_non_null(buf);
    assert_non_null(fbuf);
    mdl dense, tr;
    fr_error err = {0};
    assert_int_equal(load(buf, len, NULL, &dense, &err), FR_OK);
    int non_conv = -1;
    for (int i = 0; i < fr_cnn_num_ops(dense.m); i++) {
        fr_cnn_op_info oi;
        fr_cnn_op(dense.m, i, &oi, NULL);
        if (strcmp(oi.name, "CONV_2D"))
            non_conv = i;
    }
    assert_true(non_conv >= 0);
    fr_cnn_trec t;
    struct {
        int force_op, k_delta, types;
        fr_status want;
        const char *needle;
    } cases[] = {
        {9999, 0, 2, FR_E_FORMAT, "out of range"},
        {-1, 0, 2, FR_E_FORMAT, "not a CONV_2D"}, /* force_op set below */
        {-1, 1, 2, FR_E_FORMAT, "K ="},
        {-1, 0, 1, FR_E_FORMAT, "no int8 projections"},
    };
    cases[1].force_op = non_conv;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        side_opts so = PURE_S8;
        so.H = 4;
        so.force_op = cases[c].force_op;
        so.k_delta = cases[c].k_delta;
        so.types = cases[c].types;
        uint8_t *side = build_sidecar(dense.m, &so, &slen);
        memset(&err, 0, sizeof err);
        assert_int_equal(fr_cnn_trec_init(&t, side, slen, "bad.trec", &err), FR_OK);
        expect_error(load(buf, len, &t.reuse, &tr, &err), &err, cases[c].want, cases[c].needle);
        free(side);
    }
    /* a float model given int8-only projections */
    {
        mdl fd;
        assert_int_equal(load(fbuf, flen, NULL, &fd, &err), FR_OK);
        side_opts so = PURE_S8;
        so.H = 4;
        uint8_t *side = build_sidecar(fd.m, &so, &slen);
        assert_int_equal(fr_cnn_trec_init(&t, side, slen, "bad.trec", &err), FR_OK);
        expect_error(load(fbuf, flen, &t.reuse, &tr, &err), &err, FR_E_FORMAT,
                     "no float projections");
        free(side);
        free(fd.arena);
    }
    /* truncations and a bad magic fail at fr_cnn_trec_init */
    side_opts so = PURE_S8;
    so.H = 4;
    uint8_t *side = build_sidecar(dense.m, &so, &slen);
    for (size_t cut = 0; cut < slen; cut += 1 + cut / 3) {
        memset(&err, 0, sizeof err);
        fr_status s = fr_cnn_trec_init(&t, side, cut, "bad.trec", &err);
        assert_int_not_equal(s, FR_OK);
        assert_null(strchr(err.msg, '\n'));
        assert_non_null(strstr(err.msg, "bad.trec"));
    }
    side[0] = 'X';
    expect_error(fr_cnn_trec_init(&t, side, slen, "bad.trec", &err), &err, FR_E_FORMAT, "magic");
    free(side);
    free(dense.arena);
    free(fbuf);
    free(buf);
}

/* ---- CLI ---------------------------------------------------------------------------- */

static int sh(const char *args, char *out, size_t cap, char *errbuf, size_t ecap) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s >%s/out.txt 2>%s/err.txt", FRUGAL, args, TMPDIR, TMPDIR);
    int s = system(cmd);
    assert_true(s != -1 && WIFEXITED(s));
    const char *names[2] = {"out.txt", "err.txt"};
    char *bufs[2] = {out, errbuf};
    size_t caps[2] = {cap, ecap};
    for (int k = 0; k < 2; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", TMPDIR, names[k]);
        FILE *f = fopen(p, "rb");
        assert_non_null(f);
        size_t n = fread(bufs[k], 1, caps[k] - 1, f);
        bufs[k][n] = 0;
        fclose(f);
    }
    return WEXITSTATUS(s);
}

static void one_line(const char *e, const char *needle) {
    if (strncmp(e, "frugal classify: ", 17) && strncmp(e, "frugal cnn-bench: ", 18))
        fail_msg("bad error: %s", e);
    const char *nl = strchr(e, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], 0);
    if (!strstr(e, needle))
        fail_msg("'%s' lacks '%s'", e, needle);
}

static void write_file(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void test_cli(void **st) {
    (void)st;
    if (!have_assets())
        skip();
    mkdir(TMPDIR, 0755);
    size_t len, slen;
    uint8_t *buf = read_all(MODEL_S8, &len);
    mdl dense;
    fr_error err = {0};
    assert_int_equal(load(buf, len, NULL, &dense, &err), FR_OK);
    uint8_t px[32 * 32 * 3];
    for (int p = 0; p < 32 * 32; p++) {
        px[3 * p] = 200;
        px[3 * p + 1] = 30;
        px[3 * p + 2] = 90;
    }
    uint8_t *side = build_pure_sidecar(dense.m, px, &slen, NULL);
    write_file(TMPDIR "/pure.trec", side, slen);
    /* a constant-colour PPM */
    {
        char hdr[] = "P6\n32 32\n255\n";
        FILE *f = fopen(TMPDIR "/flat.ppm", "wb");
        assert_non_null(f);
        fwrite(hdr, 1, strlen(hdr), f);
        fwrite(px, 1, sizeof px, f);
        fclose(f);
    }
    static char o1[8192], o2[8192], e[4096];
    assert_int_equal(sh("classify -m " MODEL_S8 " --top 10 " TMPDIR "/flat.ppm", o1, sizeof o1,
                        e, sizeof e), 0);
    assert_int_equal(sh("classify -m " MODEL_S8 " --top 10 --reuse trec --trec " TMPDIR
                        "/pure.trec " TMPDIR "/flat.ppm",
                        o2, sizeof o2, e, sizeof e),
                     0);
    const char *nl = strchr(o2, '\n');
    assert_non_null(nl);
    assert_int_equal((size_t)(nl - o2) + 1, strlen(o1));
    assert_memory_equal(o1, o2, strlen(o1)); /* same classes and scores */
    assert_non_null(strstr(nl, "trec: "));
    /* CIFAR subset with a real (H = 4) sidecar: runs, prints the trec line, then accuracy */
    side_opts so = PURE_S8;
    so.H = 4;
    uint8_t *s4 = build_sidecar(dense.m, &so, &slen);
    write_file(TMPDIR "/h4.trec", s4, slen);
    FILE *cf = fopen(CIFAR, "rb");
    if (cf) {
        fclose(cf);
        assert_int_equal(sh("classify -m " MODEL_S8 " --cifar10 " CIFAR
                            " --limit 20 --reuse trec --trec " TMPDIR "/h4.trec",
                            o1, sizeof o1, e, sizeof e),
                         0);
        assert_non_null(strstr(o1, "trec: "));
        assert_non_null(strstr(o1, "\naccuracy: "));
    }
    assert_int_equal(sh("cnn-bench -m " MODEL_S8 " -r 1 --reuse trec --trec " TMPDIR "/h4.trec",
                        o1, sizeof o1, e, sizeof e),
                     0);
    assert_non_null(strstr(o1, "trec total: "));
    assert_non_null(strstr(o1, " mode ")); /* the per-layer table names the mode: per tap here */
    assert_non_null(strstr(o1, " tap "));
    /* usage errors (exit 2) and bad sidecars (exit 1), one line each */
    assert_int_equal(sh("classify -m " MODEL_S8 " --reuse trec " TMPDIR "/flat.ppm", o1,
                        sizeof o1, e, sizeof e), 2);
    one_line(e, "--trec");
    assert_int_equal(sh("classify -m " MODEL_S8 " --reuse maybe " TMPDIR "/flat.ppm", o1,
                        sizeof o1, e, sizeof e), 2);
    one_line(e, "--reuse");
    assert_int_equal(sh("cnn-bench -m " MODEL_S8 " --trec " TMPDIR "/h4.trec", o1, sizeof o1,
                        e, sizeof e), 2);
    one_line(e, "--reuse trec");
    write_file(TMPDIR "/trunc.trec", s4, slen / 2);
    assert_int_equal(sh("classify -m " MODEL_S8 " --reuse trec --trec " TMPDIR "/trunc.trec "
                        TMPDIR "/flat.ppm", o1, sizeof o1, e, sizeof e), 1);
    one_line(e, "trunc.trec");
    so.force_op = 9999;
    uint8_t *sb = build_sidecar(dense.m, &so, &slen);
    write_file(TMPDIR "/range.trec", sb, slen);
    assert_int_equal(sh("classify -m " MODEL_S8 " --reuse trec --trec " TMPDIR "/range.trec "
                        TMPDIR "/flat.ppm", o1, sizeof o1, e, sizeof e), 1);
    one_line(e, "range.trec");
    assert_int_equal(sh("classify -m " MODEL_S8 " --reuse trec --trec " TMPDIR "/none.trec "
                        TMPDIR "/flat.ppm", o1, sizeof o1, e, sizeof e), 1);
    one_line(e, "none.trec");
    free(sb);
    free(s4);
    free(side);
    free(dense.arena);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_s8), cmocka_unit_test(test_identity_f32),
        cmocka_unit_test(test_real_images), cmocka_unit_test(test_bad_sidecars),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
