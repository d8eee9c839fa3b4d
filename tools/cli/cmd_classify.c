/* frugal classify -m MODEL.tflite [--cifar10 FILE.bin [--limit N]] [IMAGE ...] [-t THREADS]
 * [--top K] [--range LO,HI] [--ref] [--reuse off|trec --trec FILE.trec]
 *
 * Images (PPM/PGM/PNG) are resized bilinearly to the model input; 8-bit pixels map to the
 * float range the model expects (int8 models: the range their input quantisation covers,
 * e.g. 0..255 for MLPerf Tiny IC whose reference feeds raw pixels, i.e. pixel - 128;
 * float models: 0..255 unless --range says otherwise), then are quantised. A CIFAR-10
 * binary file (records of 1 label byte + 1024 R + 1024 G + 1024 B) is evaluated and the
 * last line is "accuracy: 0.8123 (8123/10000)". With -t, records are split over threads,
 * each with its own model arena (the library itself has no threads). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "cnn_cli.h"
#include "commands.h"
#include "image_io.h"

#define CIFAR_REC 3073
#define MAX_THREADS 64

static const char *const CIFAR_NAMES[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                            "dog", "frog", "horse", "ship", "truck"};

static void usage(FILE *f) {
    fprintf(f,
            "usage: frugal classify -m MODEL.tflite [--cifar10 FILE.bin [--limit N]]\n"
            "                       [IMAGE.png|IMAGE.ppm ...] [-t THREADS] [--top K]\n"
            "                       [--reuse off|trec --trec FILE.trec]\n"
            "\n"
            "Classifies images with a TFLite image model and prints the top classes of each.\n"
            "With --cifar10 it evaluates a CIFAR-10 binary batch (1 label byte + 1024 R +\n"
            "1024 G + 1024 B per record) and prints the accuracy as the last line.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE    the .tflite model (required)\n"
            "  --cifar10 FILE      evaluate a CIFAR-10 binary file\n"
            "  --limit N           only the first N records of --cifar10\n"
            "  -t, --threads N     threads for --cifar10 (one model arena each; default 1)\n"
            "  --top K             classes printed per image (default 3)\n"
            "  --range LO,HI       float value of pixel 0 and 255 (default: from the model's\n"
            "                      input quantisation; 0,255 for float models)\n"
            "  --ref               use the scalar reference kernels\n"
            "  --reuse off|trec    computation reuse (default off); trec runs the TREC\n"
            "                      convolution on the CONV_2D layers listed in --trec FILE\n"
            "  --trec FILE         TREC sidecar (docs/trec.md); needs --reuse trec\n"
            "  -h, --help          show this help\n");
}

typedef struct job {
    cnn_cli_model model;
    const uint8_t *recs;
    size_t n_recs;
    int ith, nth;
    float lo, hi;
    size_t correct;
    int failed;
    fr_error err;
} job;

/* Planar CIFAR record -> interleaved HWC RGB. */
static void cifar_to_hwc(const uint8_t *rec, uint8_t *hwc) {
    for (int p = 0; p < 1024; p++)
        for (int ch = 0; ch < 3; ch++)
            hwc[p * 3 + ch] = rec[1 + ch * 1024 + p];
}

static int classify_one(fr_cnn_model *m, const uint8_t *px, int w, int h, int c, float lo,
                        float hi, float *scores, size_t n_classes, fr_error *err) {
    if (fr_cnn_set_input_image(m, 0, px, w, h, c, lo, hi, err) ||
        fr_cnn_invoke(m, err) || fr_cnn_get_output_f32(m, 0, scores, n_classes, err))
        return -1;
    return fr_cnn_argmax_f32(scores, n_classes);
}

static void *cifar_worker(void *arg) {
    job *j = arg;
    fr_cnn_tensor_info out;
    uint8_t hwc[3072];
    float scores[1024];
    if (fr_cnn_output(j->model.m, 0, &out, &j->err)) {
        j->failed = 1;
        return NULL;
    }
    for (size_t r = (size_t)j->ith; r < j->n_recs; r += (size_t)j->nth) {
        const uint8_t *rec = j->recs + r * CIFAR_REC;
        cifar_to_hwc(rec, hwc);
        int top = classify_one(j->model.m, hwc, 32, 32, 3, j->lo, j->hi, scores, out.elems,
                               &j->err);
        if (top < 0) {
            j->failed = 1;
            return NULL;
        }
        if (top == rec[0])
            j->correct++;
    }
    return NULL;
}

typedef struct trec_totals {
    int layers;
    int64_t invokes, dense, reuse, hash, conv_dense;
} trec_totals;

/* Adds a model's TREC figures (all invokes so far) to *s. */
static void trec_add(const fr_cnn_model *m, trec_totals *s) {
    if (!m)
        return;
    int layers = 0;
    for (int i = 0; i < fr_cnn_num_ops(m); i++) {
        fr_cnn_trec_info ti;
        fr_cnn_op_info oi;
        if (fr_cnn_trec_op_info(m, i, &ti, NULL) || fr_cnn_op(m, i, &oi, NULL))
            continue;
        if (ti.enabled) {
            layers++;
            s->dense += ti.total_macs_dense;
            s->reuse += ti.total_macs_reuse;
            s->hash += ti.total_macs_hash;
            if (ti.invokes > s->invokes)
                s->invokes = ti.invokes;
        }
    }
    if (layers > s->layers)
        s->layers = layers;
}

static void trec_print(const trec_totals *s) {
    printf("trec: %d layers; on them %" PRId64 " MACs done (partial products) + %" PRId64
           " hashing, dense %" PRId64 ": %.1f%% of the MACs removed, %.1f%% net of hashing\n",
           s->layers, s->reuse, s->hash, s->dense,
           s->dense ? 100.0 * (double)(s->dense - s->reuse) / (double)s->dense : 0.0,
           s->dense ? 100.0 * (double)(s->dense - s->reuse - s->hash) / (double)s->dense : 0.0);
}

static int run_cifar(const char *cmd, const char *model_path, cnn_cli_model *c,
                     const char *path, long long limit, int threads, float lo, float hi,
                     fr_cnn_kernels kernels) {
    fr_cnn_tensor_info in, out;
    fr_error err = {0};
    if (fr_cnn_input(c->m, 0, &in, &err) || fr_cnn_output(c->m, 0, &out, &err)) {
        cli_error(cmd, "%s", err.msg);
        return 1;
    }
    if (in.ndim != 4 || in.dims[3] != 3) {
        cli_error(cmd, "%s: input is not an RGB image tensor", model_path);
        return 1;
    }
    if (out.elems != 10 || out.elems > 1024) {
        cli_error(cmd, "%s: CIFAR-10 needs a 10-class output, model has %zu", model_path,
                  out.elems);
        return 1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error(cmd, "%s: %s", path, strerror(errno));
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size <= 0 || size % CIFAR_REC != 0) {
        cli_error(cmd, "%s: size %ld is not a multiple of %d (not a CIFAR-10 binary file)",
                  path, size, CIFAR_REC);
        fclose(f);
        return 1;
    }
    size_t n = (size_t)size / CIFAR_REC;
    if (limit > 0 && (size_t)limit < n)
        n = (size_t)limit;
    uint8_t *recs = malloc(n * CIFAR_REC);
    if (!recs || fread(recs, CIFAR_REC, n, f) != n) {
        cli_error(cmd, "%s: %s", path, recs ? "read error" : "out of memory");
        free(recs);
        fclose(f);
        return 1;
    }
    fclose(f);
    for (size_t r = 0; r < n; r++)
        if (recs[r * CIFAR_REC] > 9) {
            cli_error(cmd, "%s: record %zu: label %d out of range 0..9", path, r,
                      recs[r * CIFAR_REC]);
            free(recs);
            return 1;
        }
    if ((size_t)threads > n)
        threads = (int)n;
    job jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    memset(jobs, 0, sizeof jobs);
    int rc = 0, made = 0;
    for (int t = 0; t < threads; t++, made++) {
        job *j = &jobs[t];
        if (t == 0)
            j->model = *c;
        else if (cnn_cli_instance(cmd, model_path, c, kernels, &j->model)) {
            rc = 1;
            break;
        }
        j->recs = recs;
        j->n_recs = n;
        j->ith = t;
        j->nth = threads;
        j->lo = lo;
        j->hi = hi;
    }
    int started = 0;
    if (!rc) {
        for (int t = 1; t < threads; t++, started++)
            if (pthread_create(&tids[t], NULL, cifar_worker, &jobs[t]) != 0) {
                cli_error(cmd, "cannot start thread %d", t);
                rc = 1;
                break;
            }
        if (!rc)
            cifar_worker(&jobs[0]);
        for (int t = 1; t <= started; t++)
            pthread_join(tids[t], NULL);
    }
    size_t correct = 0;
    trec_totals trec_sum = {0};
    for (int t = 0; t < made; t++) {
        if (!rc && jobs[t].failed) {
            cli_error(cmd, "%s", jobs[t].err.msg);
            rc = 1;
        }
        correct += jobs[t].correct;
        trec_add(jobs[t].model.m, &trec_sum);
        if (t > 0)
            cnn_cli_free_instance(&jobs[t].model);
    }
    free(recs);
    if (rc)
        return rc;
    if (trec_sum.layers)
        trec_print(&trec_sum);
    printf("accuracy: %.4f (%zu/%zu)\n", (double)correct / (double)n, correct, n);
    return 0;
}

static int parse_range(const char *cmd, const char *s, float *lo, float *hi) {
    char buf[128];
    const char *comma = strchr(s, ',');
    if (!comma || (size_t)(comma - s) >= sizeof buf) {
        cli_error(cmd, "--range: expected LO,HI, got '%s'", s);
        return -1;
    }
    memcpy(buf, s, (size_t)(comma - s));
    buf[comma - s] = 0;
    double a, b;
    if (!cli_parse_float(cmd, "--range", buf, -1e9, 1e9, &a) ||
        !cli_parse_float(cmd, "--range", comma + 1, -1e9, 1e9, &b))
        return -1;
    *lo = (float)a;
    *hi = (float)b;
    return 0;
}

int cmd_classify(int argc, char **argv) {
    const char *cmd = "classify";
    const char *model_path = NULL, *cifar = NULL;
    const char **images = calloc((size_t)argc + 1, sizeof *images);
    int n_images = 0, have_range = 0;
    long long limit = 0, threads = 1, top = 3;
    float lo = 0, hi = 255;
    fr_cnn_kernels kernels = FR_CNN_KERNELS_BEST;
    const char *trec_path = NULL;
    int reuse_trec = 0;
    int rc = 2;
    if (!images) {
        cli_error(cmd, "out of memory");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model_path = cli_value(cmd, argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "--cifar10")) {
            if (!(cifar = cli_value(cmd, argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "--limit")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) ||
                !cli_parse_int(cmd, a, v, 1, 1000000000, &limit))
                goto done;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) ||
                !cli_parse_int(cmd, a, v, 1, MAX_THREADS, &threads))
                goto done;
        } else if (!strcmp(a, "--top")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 1000, &top))
                goto done;
        } else if (!strcmp(a, "--range")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || parse_range(cmd, v, &lo, &hi))
                goto done;
            have_range = 1;
        } else if (!strcmp(a, "--ref")) {
            kernels = FR_CNN_KERNELS_REFERENCE;
        } else if (!strcmp(a, "--reuse")) {
            if (!(v = cli_value(cmd, argc, argv, &i)))
                goto done;
            if (!strcmp(v, "off")) {
                reuse_trec = 0;
            } else if (!strcmp(v, "trec")) {
                reuse_trec = 1;
            } else {
                cli_error(cmd, "--reuse: expected off or trec, got '%s'", v);
                goto done;
            }
        } else if (!strcmp(a, "--trec")) {
            if (!(trec_path = cli_value(cmd, argc, argv, &i)))
                goto done;
        } else if (a[0] == '-' && a[1]) {
            cli_error(cmd, "unknown option '%s' (see --help)", a);
            goto done;
        } else {
            images[n_images++] = a;
        }
    }
    if (!model_path) {
        cli_error(cmd, "-m MODEL.tflite is required (see --help)");
        goto done;
    }
    if (!cifar && n_images == 0) {
        cli_error(cmd, "nothing to classify: give --cifar10 FILE or image files (see --help)");
        goto done;
    }
    if (limit && !cifar) {
        cli_error(cmd, "--limit needs --cifar10");
        goto done;
    }
    if (reuse_trec && !trec_path) {
        cli_error(cmd, "--reuse trec needs --trec FILE");
        goto done;
    }
    if (!reuse_trec && trec_path) {
        cli_error(cmd, "--trec FILE needs --reuse trec");
        goto done;
    }
    rc = 1;
    cnn_cli_model c;
    if (cnn_cli_load_trec(cmd, model_path, reuse_trec ? trec_path : NULL, kernels, &c))
        goto done;
    if (fr_cnn_num_inputs(c.m) != 1 || fr_cnn_num_outputs(c.m) < 1) {
        cli_error(cmd, "%s: need a model with one image input", model_path);
        goto free_model;
    }
    if (!have_range)
        fr_cnn_input_range(c.m, 0, &lo, &hi);
    fr_cnn_tensor_info out;
    fr_error err = {0};
    fr_cnn_output(c.m, 0, &out, &err);
    size_t n_classes = out.elems;
    float *scores = malloc((n_classes ? n_classes : 1) * sizeof *scores);
    int *idx = malloc((size_t)top * sizeof *idx);
    if (!scores || !idx) {
        cli_error(cmd, "out of memory");
        free(scores);
        free(idx);
        goto free_model;
    }
    rc = 0;
    for (int k = 0; k < n_images && rc == 0; k++) {
        cli_image img;
        char msg[512];
        if (cli_image_load(images[k], &img, msg, sizeof msg)) {
            cli_error(cmd, "%s", msg);
            rc = 1;
            break;
        }
        if (classify_one(c.m, img.px, img.w, img.h, img.c, lo, hi, scores, n_classes, &err) < 0) {
            cli_error(cmd, "%s: %s", images[k], err.msg);
            rc = 1;
        } else {
            int kk = (size_t)top < n_classes ? (int)top : (int)n_classes;
            fr_cnn_topk_f32(scores, n_classes, kk, idx);
            printf("%s:", images[k]);
            for (int r = 0; r < kk; r++) {
                if (n_classes == 10)
                    printf(" %s %.4f", CIFAR_NAMES[idx[r]], (double)scores[idx[r]]);
                else
                    printf(" class%d %.4f", idx[r], (double)scores[idx[r]]);
                printf(r + 1 < kk ? "," : "\n");
            }
        }
        free(img.px);
    }
    free(scores);
    free(idx);
    if (rc == 0 && !cifar && reuse_trec) {
        trec_totals ts = {0};
        trec_add(c.m, &ts);
        trec_print(&ts);
    }
    if (rc == 0 && cifar)
        rc = run_cifar(cmd, model_path, &c, cifar, limit, (int)threads, lo, hi, kernels);
free_model:
    cnn_cli_free(&c);
done:
    free(images);
    return rc;
}
