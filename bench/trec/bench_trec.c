/*
 * TREC host timing driver for bench/trec/run.py: per-layer and whole-network wall time
 * at batch 1 of one int8 model run dense and with a TREC sidecar, and of its float twin
 * run dense (frugal's dense float kernels) and, with --trec-float, with the float twin's
 * own sidecar (frugal's float TREC convolution), on real CIFAR-10 images.
 *
 * usage: bench_trec --model M.tflite --trec S.trec [--float MF.tflite [--trec-float SF.trec]]
 *                   --cifar F.bin [--images N] [--rounds R]
 * The engines take turns (dense int8, TREC int8, dense float, TREC float; per image, per
 * round), so load from other users of this shared machine falls on all of them alike.
 * Each turn writes the image and runs it once with a per-operator hook (layer times), then
 * writes it again (an invoke may reuse the input's arena space) and runs it once without
 * (whole-network time). Prints one JSON object: per operator the median milliseconds of
 * every engine ("dense_s8_ms", "trec_s8_ms", "dense_f32_ms", "trec_f32_ms") and, for the
 * TREC layers, the mean clusters / MACs ("trec": int8, "trec_f32": float); the
 * whole-network medians ("whole_ms") and the top-1 accuracy of the engines on the images
 * used ("top1"), keyed by engine ("dense_s8", "trec_s8", "dense_f32", "trec_f32").
 * Errors: one line on stderr naming the file or option, exit 1 (2 for usage).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frugal.h"
#include "frugal_trec.h"

#define CIFAR_REC 3073
#define MAX_OPS 256

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n > 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = aligned_alloc(64, ((size_t)n + 63) & ~(size_t)63);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *len = buf ? (size_t)n : 0;
    return buf;
}

typedef struct engine {
    const char *label;
    void *file, *arena;
    size_t len;
    fr_cnn_model *m;
    fr_cnn_tensor_info in, out;
    double *op_ms;    /* [rounds * images][n_ops] */
    double *whole_ms; /* [rounds * images] */
    int correct;
} engine;

typedef struct hook_ctx {
    double t0;
    double *row;
} hook_ctx;

static void hook(void *ctx, int op, int end) {
    hook_ctx *h = ctx;
    if (op < 0 || op >= MAX_OPS) return;
    if (!end) h->t0 = now_ms();
    else h->row[op] += now_ms() - h->t0;
}

static int engine_init(engine *e, const char *path, const fr_cnn_reuse *reuse, int samples) {
    fr_error err = {0};
    e->file = read_file(path, &e->len);
    if (!e->file) {
        fprintf(stderr, "bench_trec: %s: cannot read\n", path);
        return 1;
    }
    fr_cnn_config cfg = {FR_CNN_KERNELS_BEST, path};
    size_t work_bytes = 64u << 20;
    void *work = aligned_alloc(FR_CNN_ALIGN, work_bytes);
    fr_cnn_arena_info ai;
    if (!work || fr_cnn_plan_reuse(e->file, e->len, work, work_bytes, &cfg, reuse, &ai, &err)) {
        fprintf(stderr, "bench_trec: %s\n", work ? err.msg : "out of memory");
        free(work);
        return 1;
    }
    free(work);
    e->arena = aligned_alloc(FR_CNN_ALIGN, (ai.total_bytes + 63) & ~(size_t)63);
    if (!e->arena ||
        fr_cnn_model_init_reuse(e->file, e->len, e->arena, ai.total_bytes, &cfg, reuse, &e->m,
                                &err) ||
        fr_cnn_input(e->m, 0, &e->in, &err) || fr_cnn_output(e->m, 0, &e->out, &err)) {
        fprintf(stderr, "bench_trec: %s\n", e->arena ? err.msg : "out of memory");
        return 1;
    }
    if (e->in.elems != 32 * 32 * 3 || fr_cnn_num_ops(e->m) > MAX_OPS) {
        fprintf(stderr, "bench_trec: %s: needs a [1,32,32,3] input and <= %d ops\n", path,
                MAX_OPS);
        return 1;
    }
    e->op_ms = calloc((size_t)samples * MAX_OPS, sizeof *e->op_ms);
    e->whole_ms = calloc((size_t)samples, sizeof *e->whole_ms);
    return e->op_ms && e->whole_ms ? 0 : 1;
}

/* The "trec" / "trec_f32" object of one op: what the TREC convolution did, per invoke. */
static void print_trec_info(const char *key, const engine *e, int op) {
    fr_cnn_trec_info ti;
    if (fr_cnn_trec_op_info(e->m, op, &ti, NULL) || !ti.enabled || ti.invokes <= 0) return;
    const double n = (double)ti.invokes;
    printf(", \"%s\": {\"L\": %d, \"H\": %d, \"rows\": %lld, \"clusters\": %.1f, "
           "\"macs_reuse\": %.1f, \"macs_hash\": %.1f, \"macs_dense\": %.1f}",
           key, ti.sub_len, ti.hash_bits, (long long)ti.rows, ti.total_clusters / n,
           ti.total_macs_reuse / n, ti.total_macs_hash / n, ti.total_macs_dense / n);
}

static void engine_free(engine *e) {
    free(e->file);
    free(e->arena);
    free(e->op_ms);
    free(e->whole_ms);
}

/* The pixels as `frugal classify` feeds them: int8 inputs map 0..255 onto the range the
 * input's quantisation covers; float inputs get the raw 0..255 values. */
static void set_image(engine *e, const unsigned char *rec) {
    float x[32 * 32 * 3];
    for (int p = 0; p < 32 * 32; p++)
        for (int c = 0; c < 3; c++) {
            const float px = (float)rec[1 + c * 1024 + p];
            if (e->in.type == FR_CNN_INT8) {
                const float s = e->in.scale;
                const float lo = s * (float)(-128 - e->in.zero_point);
                const float hi = s * (float)(127 - e->in.zero_point);
                x[p * 3 + c] = lo + (hi - lo) * px / 255.0f;
            } else {
                x[p * 3 + c] = px;
            }
        }
    fr_cnn_set_input_f32(e->m, 0, x, 32 * 32 * 3, NULL);
}

static int argmax(const engine *e) {
    float y[1024];
    size_t n = e->out.elems < 1024 ? e->out.elems : 1024;
    fr_cnn_get_output_f32(e->m, 0, y, n, NULL);
    return fr_cnn_argmax_f32(y, n);
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n, int stride) {
    double *t = malloc((size_t)n * sizeof *t);
    if (!t) return -1.0;
    for (int i = 0; i < n; i++) t[i] = v[(size_t)i * stride];
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    const double m = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    free(t);
    return m;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_trec --model M.tflite --trec S.trec "
                    "[--float MF.tflite [--trec-float SF.trec]] --cifar F.bin [--images N] "
                    "[--rounds R]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *model = NULL, *trec = NULL, *fmodel = NULL, *ftrec = NULL, *cifar = NULL;
    int images = 20, rounds = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return usage();
        if (!strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--trec")) trec = argv[++i];
        else if (!strcmp(a, "--float")) fmodel = argv[++i];
        else if (!strcmp(a, "--trec-float")) ftrec = argv[++i];
        else if (!strcmp(a, "--cifar")) cifar = argv[++i];
        else if (!strcmp(a, "--images")) images = atoi(argv[++i]);
        else if (!strcmp(a, "--rounds")) rounds = atoi(argv[++i]);
        else return usage();
    }
    if (!model || !trec || !cifar || (ftrec && !fmodel) || images < 1 || images > 10000 ||
        rounds < 1 || rounds > 1000)
        return usage();
    size_t clen = 0, tlen = 0, ftlen = 0;
    unsigned char *recs = read_file(cifar, &clen);
    if (!recs || clen < CIFAR_REC) {
        fprintf(stderr, "bench_trec: %s: cannot read CIFAR-10 records\n", cifar);
        free(recs);
        return 1;
    }
    if ((size_t)images > clen / CIFAR_REC) images = (int)(clen / CIFAR_REC);
    void *side = read_file(trec, &tlen), *fside = ftrec ? read_file(ftrec, &ftlen) : NULL;
    fr_error err = {0};
    fr_cnn_trec t, ft;
    if (!side || (ftrec && !fside)) {
        fprintf(stderr, "bench_trec: %s: cannot read\n", side ? ftrec : trec);
        free(recs), free(side), free(fside);
        return 1;
    }
    if (fr_cnn_trec_init(&t, side, tlen, trec, &err) ||
        (ftrec && fr_cnn_trec_init(&ft, fside, ftlen, ftrec, &err))) {
        fprintf(stderr, "bench_trec: %s\n", err.msg);
        free(recs), free(side), free(fside);
        return 1;
    }
    const int samples = images * rounds;
    engine e[4];
    memset(e, 0, sizeof e);
    e[0].label = "dense_s8";
    e[1].label = "trec_s8";
    e[2].label = "dense_f32";
    e[3].label = "trec_f32";
    const int n_eng = ftrec ? 4 : fmodel ? 3 : 2;
    int rc = engine_init(&e[0], model, NULL, samples) || engine_init(&e[1], model, &t.reuse, samples) ||
             (fmodel && engine_init(&e[2], fmodel, NULL, samples)) ||
             (ftrec && engine_init(&e[3], fmodel, &ft.reuse, samples));
    const int n_ops = rc ? 0 : fr_cnn_num_ops(e[0].m);
    if (!rc && fmodel && fr_cnn_num_ops(e[2].m) != n_ops) {
        fprintf(stderr, "bench_trec: %s: %d operators, the int8 model has %d\n", fmodel,
                fr_cnn_num_ops(e[2].m), n_ops);
        rc = 1;
    }
    for (int k = 0; !rc && k < n_eng; k++) { /* warm-up */
        set_image(&e[k], recs);
        fr_cnn_invoke(e[k].m, NULL);
    }
    for (int r = 0; !rc && r < rounds; r++)
        for (int im = 0; im < images; im++) {
            const unsigned char *rec = recs + (size_t)im * CIFAR_REC;
            const int s = r * images + im;
            for (int k = 0; k < n_eng; k++) {
                set_image(&e[k], rec);
                hook_ctx h = {0.0, e[k].op_ms + (size_t)s * MAX_OPS};
                fr_cnn_invoke_hooked(e[k].m, hook, &h, NULL);
                /* the input again: an invoke may reuse the input tensor's arena space */
                set_image(&e[k], rec);
                const double t0 = now_ms();
                fr_cnn_invoke(e[k].m, NULL);
                e[k].whole_ms[s] = now_ms() - t0;
                if (r == 0 && argmax(&e[k]) == rec[0]) e[k].correct++;
            }
        }
    if (!rc) {
        printf("{\"images\": %d, \"rounds\": %d, \"ops\": [", images, rounds);
        for (int op = 0; op < n_ops; op++) {
            fr_cnn_op_info oi;
            fr_cnn_op(e[0].m, op, &oi, NULL);
            printf("%s\n {\"op\": %d, \"name\": \"%s\", \"macs\": %llu", op ? "," : "", op,
                   oi.name, (unsigned long long)oi.macs);
            for (int k = 0; k < n_eng; k++)
                printf(", \"%s_ms\": %.6f", e[k].label, median(e[k].op_ms + op, samples, MAX_OPS));
            print_trec_info("trec", &e[1], op);
            if (ftrec) print_trec_info("trec_f32", &e[3], op);
            printf("}");
        }
        printf("],\n \"whole_ms\": {");
        for (int k = 0; k < n_eng; k++)
            printf("%s\"%s\": %.6f", k ? ", " : "", e[k].label, median(e[k].whole_ms, samples, 1));
        printf("},\n \"top1\": {");
        for (int k = 0; k < n_eng; k++)
            printf("%s\"%s\": %.4f", k ? ", " : "", e[k].label, (double)e[k].correct / images);
        printf("}}\n");
    }
    for (int k = 0; k < 4; k++) engine_free(&e[k]);
    free(recs);
    free(side);
    free(fside);
    return rc ? 1 : 0;
}
