/*
 * frugal CNN latency driver for bench/cnn/run.py (host only).
 *
 * usage: bench_frugal MODEL.tflite [--reference]
 * Loads the model into one arena sized by fr_cnn_plan, fills input 0 with fixed
 * pseudo-random data, then answers commands on stdin, one per line:
 *   run N   -> runs N invocations, prints "times_us t1 t2 ... tN"
 *   mem     -> prints "mem model_bytes A arena_bytes B rss_base_kb C rss_peak_kb D"
 *   quit    -> exits 0
 * Errors: one line on stderr naming the file, exit 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frugal.h"

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, n) == 0) {
            v = strtol(line + n, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--reference") != 0)) {
        fprintf(stderr, "usage: bench_frugal MODEL.tflite [--reference]\n");
        return 2;
    }
    const char *path = argv[1];
    long rss_base = status_kb("VmRSS:");
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_frugal: %s: cannot open\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = len > 0 ? malloc((size_t)len) : NULL;
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "bench_frugal: %s: cannot read\n", path);
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);

    fr_cnn_config cfg = {argc == 3 ? FR_CNN_KERNELS_REFERENCE : FR_CNN_KERNELS_BEST, path};
    fr_error err = {0};
    fr_cnn_arena_info info;
    size_t work_bytes = 64u << 20;
    void *work = malloc(work_bytes);
    if (!work || fr_cnn_plan(buf, (size_t)len, work, work_bytes, &cfg, &info, &err) != FR_OK) {
        fprintf(stderr, "bench_frugal: %s\n", work ? err.msg : "out of memory");
        free(work);
        free(buf);
        return 1;
    }
    free(work);
    void *arena = malloc(info.total_bytes);
    fr_cnn_model *m = NULL;
    if (!arena || fr_cnn_model_init(buf, (size_t)len, arena, info.total_bytes, &cfg, &m, &err) != FR_OK) {
        fprintf(stderr, "bench_frugal: %s\n", arena ? err.msg : "out of memory");
        free(arena);
        free(buf);
        return 1;
    }
    fr_cnn_tensor_info in;
    if (fr_cnn_input(m, 0, &in, &err) != FR_OK) {
        fprintf(stderr, "bench_frugal: %s\n", err.msg);
        free(arena);
        free(buf);
        return 1;
    }
    uint32_t s = 12345u;
    for (size_t i = 0; i < in.elems; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        if (in.type == FR_CNN_INT8) ((int8_t *)in.data)[i] = (int8_t)(s >> 24);
        else if (in.type == FR_CNN_FLOAT32) ((float *)in.data)[i] = (float)(s >> 24) / 256.0f;
    }

    char line[128];
    int rc = 0;
    while (fgets(line, sizeof line, stdin)) {
        int n = 0;
        if (sscanf(line, "run %d", &n) == 1 && n > 0 && n <= 100000) {
            fputs("times_us", stdout);
            for (int k = 0; k < n; k++) {
                double t0 = now_us();
                if (fr_cnn_invoke(m, &err) != FR_OK) {
                    fprintf(stderr, "bench_frugal: %s\n", err.msg);
                    rc = 1;
                    break;
                }
                printf(" %.2f", now_us() - t0);
            }
            fputs("\n", stdout);
            fflush(stdout);
            if (rc) break;
        } else if (strncmp(line, "mem", 3) == 0) {
            printf("mem model_bytes %ld arena_bytes %zu rss_base_kb %ld rss_peak_kb %ld\n", len,
                   info.total_bytes, rss_base, status_kb("VmHWM:"));
            fflush(stdout);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            fprintf(stderr, "bench_frugal: unknown command: %s", line);
            rc = 1;
            break;
        }
    }
    free(arena);
    free(buf);
    return rc;
}
