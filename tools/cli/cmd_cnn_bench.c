/* frugal cnn-bench -m MODEL.tflite [-r REPS] [--ref] [--reuse off|trec --trec FILE.trec]:
 * per-layer and whole-model latency; with TREC, per replaced layer its rows, clusters and
 * MACs done versus dense. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "cnn_cli.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: frugal cnn-bench -m MODEL.tflite [-r REPS] [--ref]\n"
            "                        [--reuse off|trec --trec FILE.trec]\n"
            "\n"
            "Runs the model REPS times on a fixed pseudo-random input (after one warm-up run)\n"
            "and prints, per operator, the median latency, MACs and share of the total; then\n"
            "the whole-model median latency (timed without the per-layer hook) and the arena.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE    the .tflite model (required)\n"
            "  -r, --reps N        repetitions (default 20)\n"
            "  --ref               use the scalar reference kernels\n"
            "  --reuse off|trec    computation reuse (default off): TREC convolution on the\n"
            "                      CONV_2D layers of --trec FILE\n"
            "  --trec FILE         TREC sidecar (docs/trec.md); needs --reuse trec\n"
            "  -h, --help          show this help\n");
}

typedef struct timing {
    double *t;     /* [reps][ops] durations */
    double start;
    int rep, n_ops;
} timing;

static void hook(void *ctx, int op, int end) {
    timing *tm = ctx;
    double now = cli_now();
    if (!end)
        tm->start = now;
    else
        tm->t[(size_t)tm->rep * (size_t)tm->n_ops + (size_t)op] = now - tm->start;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fill_inputs(fr_cnn_model *m) {
    uint32_t s = 12345;
    for (int k = 0; k < fr_cnn_num_inputs(m); k++) {
        fr_cnn_tensor_info t;
        fr_error err = {0};
        if (fr_cnn_input(m, k, &t, &err) || !t.data)
            continue;
        uint8_t *p = t.data;
        for (size_t i = 0; i < t.bytes; i++) {
            s = s * 1664525u + 1013904223u;
            p[i] = (uint8_t)(s >> 24);
        }
        if (t.type == FR_CNN_FLOAT32) { /* keep floats finite: values in 0..255 */
            float *f = t.data;
            for (size_t i = 0; i < t.elems; i++) {
                s = s * 1664525u + 1013904223u;
                f[i] = (float)(s >> 24);
            }
        }
    }
}

int cmd_cnn_bench(int argc, char **argv) {
    const char *cmd = "cnn-bench";
    const char *path = NULL;
    long long reps = 20;
    fr_cnn_kernels kernels = FR_CNN_KERNELS_BEST;
    const char *trec_path = NULL;
    int reuse_trec = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(path = cli_value(cmd, argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) ||
                !cli_parse_int(cmd, a, v, 1, 100000, &reps))
                return 2;
        } else if (!strcmp(a, "--ref")) {
            kernels = FR_CNN_KERNELS_REFERENCE;
        } else if (!strcmp(a, "--reuse")) {
            if (!(v = cli_value(cmd, argc, argv, &i)))
                return 2;
            if (!strcmp(v, "off") || !strcmp(v, "trec")) {
                reuse_trec = !strcmp(v, "trec");
            } else {
                cli_error(cmd, "--reuse: expected off or trec, got '%s'", v);
                return 2;
            }
        } else if (!strcmp(a, "--trec")) {
            if (!(trec_path = cli_value(cmd, argc, argv, &i)))
                return 2;
        } else {
            cli_error(cmd, "unknown argument '%s' (see --help)", a);
            return 2;
        }
    }
    if (!path) {
        cli_error(cmd, "-m MODEL.tflite is required (see --help)");
        return 2;
    }
    if (reuse_trec != (trec_path != NULL)) {
        cli_error(cmd, reuse_trec ? "--reuse trec needs --trec FILE"
                                  : "--trec FILE needs --reuse trec");
        return 2;
    }
    cnn_cli_model c;
    if (cnn_cli_load_trec(cmd, path, reuse_trec ? trec_path : NULL, kernels, &c))
        return 1;
    fr_cnn_model *m = c.m;
    int n_ops = fr_cnn_num_ops(m);
    timing tm = {.n_ops = n_ops};
    tm.t = malloc((size_t)reps * (size_t)(n_ops ? n_ops : 1) * sizeof *tm.t);
    double *col = malloc((size_t)reps * sizeof *col);
    double *whole = malloc((size_t)reps * sizeof *whole);
    if (!tm.t || !col || !whole) {
        cli_error(cmd, "out of memory");
        free(tm.t);
        free(col);
        free(whole);
        cnn_cli_free(&c);
        return 1;
    }
    fr_error err = {0};
    fill_inputs(m);
    fr_cnn_invoke(m, &err); /* warm-up */
    for (tm.rep = 0; tm.rep < reps; tm.rep++)
        fr_cnn_invoke_hooked(m, hook, &tm, &err);
    for (int r = 0; r < reps; r++) {
        double t0 = cli_now();
        fr_cnn_invoke(m, &err);
        whole[r] = cli_now() - t0;
    }
    printf("model: %s, %d operators, %lld runs, %s kernels\n", path, n_ops, reps,
           kernels == FR_CNN_KERNELS_REFERENCE ? "reference" : "best");
    printf("  %3s %-18s %-16s %12s %10s %6s\n", "op", "name", "output", "MACs", "median ms",
           "share");
    double sum = 0;
    double *med = malloc((size_t)(n_ops ? n_ops : 1) * sizeof *med);
    if (!med) {
        cli_error(cmd, "out of memory");
        free(tm.t);
        free(col);
        free(whole);
        cnn_cli_free(&c);
        return 1;
    }
    for (int i = 0; i < n_ops; i++) {
        for (int r = 0; r < reps; r++)
            col[r] = tm.t[(size_t)r * (size_t)n_ops + (size_t)i];
        med[i] = median(col, (int)reps);
        sum += med[i];
    }
    uint64_t macs = 0;
    for (int i = 0; i < n_ops; i++) {
        fr_cnn_op_info op;
        fr_cnn_tensor_info t;
        char sb[96];
        fr_cnn_op(m, i, &op, &err);
        fr_cnn_tensor(m, op.outputs[0], &t, &err);
        printf("  %3d %-18s %-16s %12" PRIu64 " %10.4f %5.1f%%\n", i, op.name,
               cnn_cli_shape(&t, sb, sizeof sb), op.macs, med[i] * 1e3,
               sum > 0 ? 100.0 * med[i] / sum : 0.0);
        macs += op.macs;
    }
    double wm = median(whole, (int)reps);
    printf("sum of layer medians: %.4f ms\n", sum * 1e3);
    printf("whole model: median %.4f ms, min %.4f ms over %lld runs; %" PRIu64
           " MACs, %.2f GMAC/s\n",
           wm * 1e3, whole[0] * 1e3, reps, macs, wm > 0 ? (double)macs / wm / 1e9 : 0.0);
    if (reuse_trec) {
        int64_t d = 0, r = 0, h = 0;
        printf("trec (last run): %3s %-6s %5s %3s %8s %10s %12s %12s %12s %7s %10s\n", "op",
               "mode", "L", "H", "rows", "clusters", "MACs done", "hash MACs", "dense MACs",
               "removed", "median ms");
        for (int i = 0; i < n_ops; i++) {
            fr_cnn_trec_info ti;
            if (fr_cnn_trec_op_info(m, i, &ti, &err) || !ti.enabled)
                continue;
            char mode[16] = "tap"; /* per-tap sub-vectors, or pixel mode with its groups */
            if (ti.pixel) snprintf(mode, sizeof mode, "pixG%d", ti.channel_groups);
            printf("                 %3d %-6s %5d %3d %8" PRId64 " %10" PRId64 " %12" PRId64
                   " %12" PRId64 " %12" PRId64 " %6.1f%% %10.4f\n",
                   i, mode, ti.sub_len, ti.hash_bits, ti.rows, ti.clusters, ti.macs_reuse,
                   ti.macs_hash, ti.macs_dense,
                   ti.macs_dense ? 100.0 * (double)(ti.macs_dense - ti.macs_reuse) /
                                       (double)ti.macs_dense
                                 : 0.0,
                   med[i] * 1e3);
            d += ti.macs_dense;
            r += ti.macs_reuse;
            h += ti.macs_hash;
        }
        printf("trec total: %" PRId64 " MACs done + %" PRId64 " hashing instead of %" PRId64
               " dense (%.1f%% removed, %.1f%% net of hashing)\n",
               r, h, d, d ? 100.0 * (double)(d - r) / (double)d : 0.0,
               d ? 100.0 * (double)(d - r - h) / (double)d : 0.0);
    }
    printf("arena: %zu bytes (persistent %zu + activations/scratch %zu; naive sum %zu)\n",
           c.info.total_bytes, c.info.persistent_bytes, c.info.activation_bytes,
           c.info.naive_bytes);
    free(med);
    free(tm.t);
    free(col);
    free(whole);
    cnn_cli_free(&c);
    return 0;
}
