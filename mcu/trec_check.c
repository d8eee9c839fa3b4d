/*
 * TREC kernel check on the target: the int8 TREC convolution's fast path
 * (fr_trec_conv_s8: on Cortex-M4/M7 the SMLAD kernels of src/reuse/trec_armdsp.c, on the
 * host its best ISA) against the scalar reference fr_trec_conv_s8_ref, bucket ids and
 * outputs bit for bit, on pseudo-random configurations (geometry, stride, padding,
 * dilation, L dividing K or not, pixel mode, H 1..10, batch scope, offsets including
 * INT32_MIN/MAX, per-channel requantisation). Prints "trec_check: N configurations, fast == reference"
 * and exits 0, or names the first mismatch and exits 1. Run by tests/mcu (mcu_trec_check)
 * under QEMU; no heap (static buffers).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cnn/ops.h"
#include "platform.h"
#include "reuse/trec.h"

#define N_CONFIGS 60
#define MAX_IN 2048
#define MAX_W 4096
#define MAX_OUT 4096
#define MAX_SCRATCH 65536

int main(void);

typedef struct rng {
    uint32_t s;
} rng;

static uint32_t next(rng *r) {
    uint32_t x = r->s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return r->s = x;
}

static int rint_in(rng *r, int lo, int hi) {
    return lo + (int)(next(r) % (uint32_t)(hi - lo + 1));
}

typedef struct bufs {
    int8_t x[MAX_IN], w[MAX_W], proj[MAX_W], y1[MAX_OUT], y2[MAX_OUT];
    int32_t bias[64], off[MAX_W], mult[64], shift[64];
    uint16_t id1[MAX_OUT], id2[MAX_OUT];
    _Alignas(64) unsigned char scratch[MAX_SCRATCH];
} bufs;

static bufs B;
static int n_pixel;  /* configurations run in pixel mode */
static int n_groups; /* of them with channel groups (L < in_c) */

static void put_int(int v) {
    char s[16];
    int i = 15;
    unsigned u = v < 0 ? (unsigned)-(v + 1) + 1u : (unsigned)v;
    s[i] = '\0';
    do {
        s[--i] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0) s[--i] = '-';
    fw_puts(s + i);
}

/* One random configuration: 1 when it was run and matched, 0 when skipped (too big),
 * -1 on a mismatch. */
static int one(rng *r, int k) {
    fr_cnn_geom g;
    const int ks = rint_in(r, 1, 3), stride = rint_in(r, 1, 2), dil = rint_in(r, 1, 2);
    const int in_c = rint_in(r, 1, 24), out_c = rint_in(r, 1, 40), batch = rint_in(r, 1, 2);
    const int hw = rint_in(r, 2, 9);
    const fr_cnn_padding pad = rint_in(r, 0, 1) ? FR_CNN_PAD_SAME : FR_CNN_PAD_VALID;
    if (fr_cnn_geom_init(&g, "conv", pad, batch, hw, hw, in_c, out_c, ks, ks, stride, stride,
                         dil, dil, 1, NULL) != FR_OK)
        return 0;
    const int K = ks * ks * in_c;
    const int n_in = batch * hw * hw * in_c, N = batch * g.out_h * g.out_w;
    fr_trec_params p;
    memset(&p, 0, sizeof p);
    p.sub_len = rint_in(r, 0, 2) == 0 ? in_c : rint_in(r, 1, K < 40 ? K : 40);
    /* pixel mode: one projection per channel group of sub_len channels */
    p.pixel = p.sub_len <= in_c && in_c % p.sub_len == 0 && rint_in(r, 0, 1);
    p.hash_bits = rint_in(r, 1, 10);
    p.scope = rint_in(r, 0, 3) == 0 ? FR_TREC_SCOPE_BATCH : FR_TREC_SCOPE_IMAGE;
    const int J = fr_trec_num_sub(K, p.sub_len);
    if (n_in > MAX_IN || K * out_c > MAX_W || p.hash_bits * K > MAX_W || N * out_c > MAX_OUT ||
        N * J > MAX_OUT || J * p.hash_bits > MAX_W)
        return 0;
    /* few distinct values, so that buckets hold several rows */
    for (int i = 0; i < n_in; i++) B.x[i] = (int8_t)(rint_in(r, -4, 4) * 25);
    for (int i = 0; i < K * out_c; i++) B.w[i] = (int8_t)rint_in(r, -128, 127);
    for (int i = 0; i < p.hash_bits * K; i++) B.proj[i] = (int8_t)rint_in(r, -128, 127);
    for (int i = 0; i < J * p.hash_bits; i++)
        B.off[i] = i == 0 ? INT32_MIN : i == 1 ? INT32_MAX : rint_in(r, -20000, 20000);
    for (int c = 0; c < out_c; c++) {
        int sh;
        B.bias[c] = rint_in(r, -5000, 5000);
        fr_cnn_quantize_multiplier(0.0005 + 0.004 * (double)rint_in(r, 0, 1000) / 1000.0,
                                   &B.mult[c], &sh);
        B.shift[c] = sh;
    }
    p.proj_s8 = B.proj;
    p.offset_s32 = rint_in(r, 0, 1) ? B.off : NULL;
    fr_cnn_requant q = {rint_in(r, -30, 30), rint_in(r, -10, 10), -128, 127, B.mult, B.shift, 1};
    if (rint_in(r, 0, 1)) q.act_min = q.output_zp;
    if (fr_trec_check(&p, &g, 1, "conv", NULL) != FR_OK ||
        fr_trec_conv_s8_scratch_bytes(&p, &g) > MAX_SCRATCH)
        return 0;
    const int32_t *bias = rint_in(r, 0, 3) ? B.bias : NULL;
    fr_trec_stats s1, s2;
    memset(&s1, 0, sizeof s1);
    memset(&s2, 0, sizeof s2);
    s1.bucket_ids = B.id1;
    s2.bucket_ids = B.id2;
    fr_trec_conv_s8_ref(&p, &g, &q, B.x, B.w, bias, B.y1, B.scratch, &s1);
    memset(B.scratch, 0xA5, sizeof B.scratch);
    fr_trec_conv_s8(fr_isa_best(), &p, &g, &q, B.x, B.w, bias, B.y2, B.scratch, &s2);
    const int n_ids = p.pixel ? batch * hw * hw * (in_c / p.sub_len) : N * J;
    if (memcmp(B.y1, B.y2, (size_t)N * out_c) || memcmp(B.id1, B.id2, (size_t)n_ids * 2) ||
        s1.clusters != s2.clusters) {
        fw_puts("trec_check: configuration ");
        put_int(k);
        fw_puts(": fast path differs from the reference (K ");
        put_int(K);
        fw_puts(", L ");
        put_int(p.sub_len);
        fw_puts(", H ");
        put_int(p.hash_bits);
        fw_puts(")\n");
        return -1;
    }
    n_pixel += p.pixel;
    n_groups += p.pixel && p.sub_len < in_c;
    return 1;
}

int main(void) {
    rng r = {0x9E3779B9u};
    int ran = 0;
    for (int k = 0; k < 4 * N_CONFIGS && ran < N_CONFIGS; k++) {
        const int st = one(&r, k);
        if (st < 0) return 1;
        ran += st;
    }
    fw_puts("trec_check: ");
    put_int(ran);
    fw_puts(" configurations (");
    put_int(n_pixel);
    fw_puts(" in pixel mode, ");
    put_int(n_groups);
    fw_puts(" of them with channel groups), fast == reference\n");
    return ran == N_CONFIGS && n_pixel >= 5 && n_groups >= 3 ? 0 : 1;
}
