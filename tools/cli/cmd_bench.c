/* frugal bench: prompt-processing and generation speed, in the spirit of llama-bench.
 *   ppP: P random tokens decoded in one batch from an empty cache (logits of the last only).
 *   tgN: N random tokens decoded one at a time from an empty cache.
 * Each test runs once as a warm-up, then REPS times; the table shows the median tokens/s
 * and the min and max. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "frugal.h"

#define CMD "bench"

static void usage(FILE *f) {
    fprintf(f,
            "usage: frugal bench -m MODEL.gguf [options]\n"
            "  -m FILE   GGUF Llama model\n"
            "  -p N      prompt tokens processed in one batch, 0 = skip (default 512)\n"
            "  -n N      tokens generated one at a time, 0 = skip (default 128)\n"
            "  -t N      threads (default: the number of CPUs)\n"
            "  -r N      repetitions (default 5)\n");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs one test (pp when batch, else tg) and returns tokens/s, or a negative value on
 * error (already reported). */
static double run_test(fr_context *ctx, const int32_t *toks, int32_t n, bool batch,
                       float *logits) {
    fr_error err = {0};
    fr_kv_truncate(ctx, 0);
    double t0 = cli_now();
    if (batch) {
        if (fr_decode(ctx, toks, n, 0, logits, false, &err) != FR_OK) {
            cli_error(CMD, "%s", err.msg);
            return -1.0;
        }
    } else {
        for (int32_t i = 0; i < n; i++)
            if (fr_decode(ctx, toks + i, 1, i, logits, false, &err) != FR_OK) {
                cli_error(CMD, "%s", err.msg);
                return -1.0;
            }
    }
    double dt = cli_now() - t0;
    return dt > 0 ? (double)n / dt : 0.0;
}

static const char *type_label(uint32_t t) {
    switch (t) {
    case 0: return "f32";
    case 1: return "f16";
    case 2: return "q4_0";
    case 8: return "q8_0";
    default: return "?";
    }
}

int cmd_bench(int argc, char **argv) {
    const char *path = NULL;
    long long n_pp = 512, n_tg = 128, threads = 0, reps = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "-m") && strcmp(a, "-p") && strcmp(a, "-n") && strcmp(a, "-t") &&
            strcmp(a, "-r")) {
            cli_error(CMD, "%s: unknown option (see 'frugal bench --help')", a);
            return 2;
        }
        if (!(v = cli_value(CMD, argc, argv, &i)))
            return 2;
        bool ok = true;
        if (!strcmp(a, "-m"))
            path = v;
        else if (!strcmp(a, "-p"))
            ok = cli_parse_int(CMD, a, v, 0, 65536, &n_pp);
        else if (!strcmp(a, "-n"))
            ok = cli_parse_int(CMD, a, v, 0, 65536, &n_tg);
        else if (!strcmp(a, "-t"))
            ok = cli_parse_int(CMD, a, v, 1, 256, &threads);
        else
            ok = cli_parse_int(CMD, a, v, 1, 1000, &reps);
        if (!ok)
            return 2;
    }
    if (!path) {
        cli_error(CMD, "-m: a model file is required (see 'frugal bench --help')");
        return 2;
    }
    if (n_pp == 0 && n_tg == 0) {
        cli_error(CMD, "-p, -n: both are 0, nothing to measure");
        return 2;
    }
    fr_error err = {0};
    fr_model *model = NULL;
    fr_context *ctx = NULL;
    int32_t *toks = NULL;
    float *logits = NULL;
    double *rates = NULL;
    int rc = 1;
    if (fr_model_load(path, NULL, &model, &err) != FR_OK) {
        cli_error(CMD, "%s", err.msg);
        return 1;
    }
    fr_model_info info;
    fr_model_get_info(model, &info);
    int32_t n_max = (int32_t)(n_pp > n_tg ? n_pp : n_tg);
    if (n_max < 1)
        n_max = 1;
    fr_context_params cp = fr_context_default_params();
    cp.n_ctx = n_max;
    cp.n_batch = n_pp > 0 ? (int32_t)n_pp : 1;
    cp.n_threads = (int32_t)threads;
    toks = malloc(sizeof *toks * (size_t)n_max);
    logits = malloc(sizeof *logits * (size_t)info.n_vocab);
    rates = malloc(sizeof *rates * (size_t)reps);
    if (!toks || !logits || !rates) {
        cli_error(CMD, "out of memory");
        goto done;
    }
    if (fr_context_create(model, &cp, &ctx, &err) != FR_OK) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int32_t i = 0; i < n_max; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        toks[i] = (int32_t)(x % (uint64_t)info.n_vocab);
    }
    printf("| %-24s | %10s | %9s | %-5s | %7s | %-7s | %12s | %12s | %12s |\n", "model", "size",
           "params", "type", "threads", "test", "t/s (median)", "min", "max");
    printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "--------------------------", "------------",
           "-----------", "-------", "---------", "---------", "--------------",
           "--------------", "--------------");
    for (int test = 0; test < 2; test++) {
        long long n = test == 0 ? n_pp : n_tg;
        if (n == 0)
            continue;
        if (run_test(ctx, toks, (int32_t)n, test == 0, logits) < 0) /* warm-up */
            goto done;
        for (long long r = 0; r < reps; r++)
            if ((rates[r] = run_test(ctx, toks, (int32_t)n, test == 0, logits)) < 0)
                goto done;
        qsort(rates, (size_t)reps, sizeof *rates, cmp_double);
        double med = reps % 2 ? rates[reps / 2] : 0.5 * (rates[reps / 2 - 1] + rates[reps / 2]);
        char name[32], size[32], params[32];
        snprintf(name, sizeof name, "%s%lld", test == 0 ? "pp" : "tg", n);
        snprintf(size, sizeof size, "%.2f MiB", (double)info.n_bytes / (1024.0 * 1024.0));
        snprintf(params, sizeof params, "%.2f M", (double)info.n_params / 1e6);
        printf("| %-24.24s | %10s | %9s | %-5s | %7d | %-7s | %12.2f | %12.2f | %12.2f |\n",
               cli_basename(path), size, params, type_label(info.weight_type),
               fr_context_n_threads(ctx), name, med, rates[0], rates[reps - 1]);
        fflush(stdout);
    }
    rc = 0;
done:
    fr_context_free(ctx);
    fr_model_free(model);
    free(toks);
    free(logits);
    free(rates);
    return rc;
}
