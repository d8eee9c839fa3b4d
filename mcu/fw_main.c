/*
 * CNN firmware driver: runs one embedded .tflite model on a fixed set of inputs
 * and prints the int8 outputs. The same file is built for the host
 * (platform_host.c) and for Cortex-M under QEMU (platform_mcu.c); their outputs
 * must be identical line for line (scripts/mcu_test.sh). Lines starting with '#'
 * carry measurements (arena, ticks, stack) and are not compared.
 *
 * Build-time configuration (mcu/CMakeLists.txt):
 *   FW_MODEL_NAME   "ic" / "kws" / "vww": printed and used to seed the inputs
 *   FW_INPUTS       how many inputs to run (default 8)
 *   FW_CIFAR        1: inputs are CIFAR-10 records from fw_cifar[] (IC model);
 *                   0: deterministic pseudo-random int8 inputs (xorshift32)
 *   FW_PROFILE      1: also prints the ticks of every operator, summed over all inputs
 *                   ("# op <index> <name> macs <n> ticks <t>"), through
 *                   fr_cnn_invoke_hooked
 *   FW_TREC         1: the model runs with the TREC sidecar fw_trec[] (docs/trec.md):
 *                   its CONV_2D ops run the TREC convolution (src/reuse); prints
 *                   "# trec_op <index> L <l> H <h> clusters <c> macs_reuse <r> macs_hash
 *                   <h> macs_dense <d>" (sums over all inputs) after the run
 * Embedded data (tools/py/embed_model.py): fw_model[] / fw_model_len, fw_cifar[], fw_trec[];
 * the static arena fw_arena[fw_arena_bytes] (.bss) comes from a generated arena_<model>.c.
 *
 * Host only: `--inputs N` overrides FW_INPUTS.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frugal.h"
#if FW_TREC
#include "frugal_trec.h"
#endif
#include "platform.h"

#ifndef FW_MODEL_NAME
#define FW_MODEL_NAME "model"
#endif
#ifndef FW_INPUTS
#define FW_INPUTS 8
#endif
#ifndef FW_CIFAR
#define FW_CIFAR 0
#endif
#ifndef FW_PROFILE
#define FW_PROFILE 0
#endif
#ifndef FW_TREC
#define FW_TREC 0
#endif
#define FW_PROFILE_MAX_OPS 256

extern const unsigned char fw_model[];
extern const unsigned int fw_model_len;
#if FW_CIFAR
#define CIFAR_RECORD (1 + 32 * 32 * 3)
extern const unsigned char fw_cifar[];
extern const unsigned int fw_cifar_len;
#endif

#if FW_TREC
extern const unsigned char fw_trec[];
extern const unsigned int fw_trec_len;
#endif

extern uint8_t fw_arena[];
extern const size_t fw_arena_bytes;

int main(int argc, char **argv);

/* ---- output without printf (newlib-nano has no 64-bit formats) ---- */

static void put_u64(uint64_t v) {
    char buf[24];
    int i = 23;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    fw_puts(buf + i);
}

static void put_i64(int64_t v) {
    if (v < 0) {
        fw_puts("-");
        put_u64((uint64_t)0 - (uint64_t)v);
    } else {
        put_u64((uint64_t)v);
    }
}

#if FW_TREC
static void put_kv2(const char *key, uint64_t v) {
    fw_puts(key);
    put_u64(v);
}
#endif

static void put_kv(const char *key, uint64_t v) {
    fw_puts(key);
    put_u64(v);
    fw_puts("\n");
}

/* ---- inputs ---- */

#if !FW_CIFAR
static uint32_t xorshift32(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static uint32_t seed_of(const char *name, int k) {
    uint32_t h = 2166136261u; /* FNV-1a of the model name, then the input index */
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ (uint32_t)k) * 16777619u;
    return h ? h : 1u;
}
#endif

/* Fills input 0 for test input k; returns the label (CIFAR) or -1. */
static int fill_input(fr_cnn_model *m, const fr_cnn_tensor_info *in, int k) {
#if FW_CIFAR
    (void)m;
    const unsigned char *rec = fw_cifar + (size_t)k * CIFAR_RECORD;
    int8_t *q = in->data;
    /* CIFAR record: label, 1024 R, 1024 G, 1024 B; the model wants NHWC int8. As
     * `frugal classify` does, the pixels 0..255 map linearly onto the real range the
     * input's quantisation covers, [scale * (-128 - zp), scale * (127 - zp)], and are
     * quantised back (IC: scale 1, zp -128, so q = pixel - 128 exactly). */
    const float lo = in->scale * (float)(-128 - in->zero_point);
    const float hi = in->scale * (float)(127 - in->zero_point);
    for (int p = 0; p < 32 * 32; p++) {
        for (int c = 0; c < 3; c++) {
            const float f = lo + (hi - lo) * (float)rec[1 + c * 1024 + p] / 255.0f;
            float v = f / in->scale;
            int32_t r = (int32_t)(v >= 0.0f ? v + 0.5f : v - 0.5f) + in->zero_point;
            q[p * 3 + c] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
        }
    }
    return rec[0];
#else
    (void)m;
    uint32_t s = seed_of(FW_MODEL_NAME, k);
    if (in->type == FR_CNN_INT8) {
        int8_t *q = in->data;
        for (size_t i = 0; i < in->elems; i++) q[i] = (int8_t)(xorshift32(&s) >> 24);
    } else { /* float model: uniform in [0, 1) in steps of 2^-8 (exact on every FPU) */
        float *x = in->data;
        for (size_t i = 0; i < in->elems; i++) x[i] = (float)(xorshift32(&s) >> 24) / 256.0f;
    }
    return -1;
#endif
}

static void print_output(const fr_cnn_tensor_info *out) {
    if (out->type == FR_CNN_INT8) {
        const int8_t *q = out->data;
        for (size_t i = 0; i < out->elems; i++) {
            fw_puts(" ");
            put_i64(q[i]);
        }
    } else if (out->type == FR_CNN_FLOAT32) { /* micro-units; float results may differ in the last bits */
        const float *y = out->data;
        for (size_t i = 0; i < out->elems; i++) {
            float v = y[i] * 1e6f;
            fw_puts(" ");
            put_i64((int64_t)(v >= 0.0f ? v + 0.5f : v - 0.5f));
        }
    }
}

static int argmax_out(const fr_cnn_tensor_info *out) {
    int best = 0;
    for (size_t i = 1; i < out->elems; i++) {
        int better = out->type == FR_CNN_INT8 ? ((const int8_t *)out->data)[i] > ((const int8_t *)out->data)[best]
                                              : ((const float *)out->data)[i] > ((const float *)out->data)[best];
        if (better) best = (int)i;
    }
    return best;
}

#if FW_PROFILE
typedef struct profile {
    uint64_t start;
    uint64_t ticks[FW_PROFILE_MAX_OPS];
} profile;

static void profile_hook(void *ctx, int op_index, int end) {
    profile *p = ctx;
    if (op_index < 0 || op_index >= FW_PROFILE_MAX_OPS) return;
    if (!end) p->start = fw_ticks();
    else p->ticks[op_index] += fw_ticks() - p->start;
}

static void profile_print(const fr_cnn_model *m, const profile *p) {
    int n = fr_cnn_num_ops(m);
    for (int i = 0; i < n && i < FW_PROFILE_MAX_OPS; i++) {
        fr_cnn_op_info oi;
        if (fr_cnn_op(m, i, &oi, NULL) != FR_OK) continue;
        fw_puts("# op ");
        put_u64((uint64_t)i);
        fw_puts(" ");
        fw_puts(oi.name);
        fw_puts(" macs ");
        put_u64(oi.macs);
        fw_puts(" ticks ");
        put_u64(p->ticks[i]);
        fw_puts("\n");
    }
}

static profile fw_profile;

/* Every input runs hooked; the per-operator ticks (sums) are printed after the last. */
static fr_status run_once(fr_cnn_model *m, int k, fr_error *err) {
    (void)k;
    return fr_cnn_invoke_hooked(m, profile_hook, &fw_profile, err);
}
#else
static fr_status run_once(fr_cnn_model *m, int k, fr_error *err) {
    (void)k;
    return fr_cnn_invoke(m, err);
}
#endif

#if FW_TREC
/* Per TREC op: L, H, and clusters / MACs summed over all invokes. */
static void trec_print(const fr_cnn_model *m) {
    int n = fr_cnn_num_ops(m);
    for (int i = 0; i < n; i++) {
        fr_cnn_trec_info ti;
        if (fr_cnn_trec_op_info(m, i, &ti, NULL) != FR_OK || !ti.enabled) continue;
        fw_puts("# trec_op ");
        put_u64((uint64_t)i);
        put_kv2(" L ", (uint64_t)ti.sub_len);
        put_kv2(" H ", (uint64_t)ti.hash_bits);
        put_kv2(" clusters ", (uint64_t)ti.total_clusters);
        put_kv2(" macs_reuse ", (uint64_t)ti.total_macs_reuse);
        put_kv2(" macs_hash ", (uint64_t)ti.total_macs_hash);
        put_kv2(" macs_dense ", (uint64_t)ti.total_macs_dense);
        fw_puts("\n");
    }
}
#endif

static int fail(const char *what, const fr_error *err) {
    fw_puts("fw: ");
    fw_puts(what);
    fw_puts(": ");
    fw_puts(err->msg);
    fw_puts("\n");
    return 1;
}

int main(int argc, char **argv) {
    int n_inputs = FW_INPUTS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--inputs") == 0 && i + 1 < argc) {
            n_inputs = 0;
            for (const char *p = argv[++i]; *p; p++) {
                if (*p < '0' || *p > '9' || n_inputs > 100000) {
                    fw_puts("fw: --inputs wants a small non-negative number\n");
                    return 2;
                }
                n_inputs = n_inputs * 10 + (*p - '0');
            }
        } else {
            fw_puts("fw: usage: [--inputs N]\n");
            return 2;
        }
    }
#if FW_CIFAR
    if ((size_t)n_inputs * CIFAR_RECORD > fw_cifar_len) n_inputs = (int)(fw_cifar_len / CIFAR_RECORD);
#endif

    fr_error err = {0};
    fr_cnn_config cfg = {FR_CNN_KERNELS_BEST, FW_MODEL_NAME};
    fr_cnn_model *m = NULL;
    const fr_cnn_reuse *reuse = NULL;
#if FW_TREC
    fr_cnn_trec trec; /* lives as long as main, i.e. as the model */
    if (fr_cnn_trec_init(&trec, fw_trec, fw_trec_len, FW_MODEL_NAME ".trec", &err) != FR_OK)
        return fail("trec sidecar", &err);
    reuse = &trec.reuse;
#endif
    uint64_t t0 = fw_ticks();
    if (fr_cnn_model_init_reuse(fw_model, fw_model_len, fw_arena, fw_arena_bytes, &cfg, reuse, &m,
                                &err) != FR_OK)
        return fail("model init", &err);
    uint64_t t_init = fw_ticks() - t0;

    fr_cnn_arena_info ai;
    fr_cnn_model_arena(m, &ai);
    fr_cnn_tensor_info in, out;
    if (fr_cnn_input(m, 0, &in, &err) != FR_OK) return fail("input", &err);
    if (fr_cnn_output(m, 0, &out, &err) != FR_OK) return fail("output", &err);
    if (in.type != FR_CNN_INT8 && in.type != FR_CNN_FLOAT32) {
        fw_puts("fw: input 0 is neither int8 nor float32\n");
        return 1;
    }
#if FW_CIFAR
    if (in.type != FR_CNN_INT8 || in.elems != 32 * 32 * 3) {
        fw_puts("fw: CIFAR inputs need an int8 [1,32,32,3] input\n");
        return 1;
    }
#endif

    fw_puts("model " FW_MODEL_NAME "\n");
    put_kv("# model_bytes ", fw_model_len);
    put_kv("# arena_reserved ", fw_arena_bytes);
    put_kv("# arena_total ", ai.total_bytes);
    put_kv("# arena_persistent ", ai.persistent_bytes);
    put_kv("# arena_activation ", ai.activation_bytes);
    put_kv("# init_ticks ", t_init);

    uint64_t total_ticks = 0;
    for (int k = 0; k < n_inputs; k++) {
        int label = fill_input(m, &in, k);
        uint64_t t = fw_ticks();
        if (run_once(m, k, &err) != FR_OK) return fail("invoke", &err);
        t = fw_ticks() - t;
        total_ticks += t;
        fw_puts("input ");
        put_u64((uint64_t)k);
        if (label >= 0) {
            fw_puts(" label ");
            put_u64((uint64_t)label);
        }
        fw_puts(":");
        print_output(&out);
        fw_puts(" top ");
        put_u64((uint64_t)argmax_out(&out));
        fw_puts("\n");
        put_kv("# invoke_ticks ", t);
    }
    if (n_inputs > 0) put_kv("# invoke_ticks_mean ", total_ticks / (uint64_t)n_inputs);
    put_kv("# inputs ", (uint64_t)n_inputs);
#if FW_PROFILE
    profile_print(m, &fw_profile);
#endif
#if FW_TREC
    trec_print(m);
#endif
    uint32_t calib_insns;
    uint64_t calib_ticks = fw_calibrate(&calib_insns);
    put_kv("# calib_instructions ", calib_insns);
    put_kv("# calib_ticks ", calib_ticks);
    put_kv("# stack_size ", fw_stack_size());
    put_kv("# stack_used ", fw_stack_used());
    fw_puts("done\n");
    return 0;
}
