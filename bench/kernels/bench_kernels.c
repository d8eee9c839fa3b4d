/* Matmul micro-benchmark: GB/s of weights for N = 1 (matrix-vector, memory-bound) and GFLOP/s
 * for a batch (matrix-matrix), per type, ISA and thread count.
 *
 *   bench_kernels                      the default table (stories110M-like shapes, vector ISAs)
 *   TYPE is f32, f16, q4_0, q8_0 or q8_0x16 (q8_0 weights in the packed Q8_0 x16 form)
 *   bench_kernels TYPE M K N THREADS [ISA]   one measurement, e.g. q8_0 32000 768 1 2 avx512
 *   bench_kernels model TYPE THREADS [ISA]   the matmuls of a stories110M-shaped model (dim 768,
 *        hidden 2048, 12 layers, vocab 32000, distinct weights per layer): one generated token
 *        (N = 1, all layers and the output matrix) and a 512-token prompt (N = 512, layers only),
 *        as tokens per second of matmul time alone
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kernels.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_type(const char *s, fr_type *t, int *x16) {
    const fr_type all[] = {FR_TYPE_F32, FR_TYPE_F16, FR_TYPE_Q8_0, FR_TYPE_Q4_0};
    *x16 = strcmp(s, "q8_0x16") == 0;
    if (*x16) {
        *t = FR_TYPE_Q8_0;
        return 1;
    }
    for (int i = 0; i < 4; i++)
        if (strcmp(s, fr_type_name(all[i])) == 0) {
            *t = all[i];
            return 1;
        }
    return 0;
}

static int parse_isa(const char *s, fr_isa *isa) {
    for (int i = 0; i < FR_ISA_COUNT; i++)
        if (strcmp(s, fr_isa_name((fr_isa)i)) == 0) {
            *isa = (fr_isa)i;
            return 1;
        }
    return 0;
}

/* With x16, the packed Q8_0 x16 form of w (64-byte aligned; the AVX-512 kernels use it), else
 * NULL; *fail is set when it cannot be allocated. */
static void *pack_x16(int x16, const void *w, int M, int K, int *fail) {
    if (!x16) return NULL;
    void *p = aligned_alloc(64, fr_q8x16_bytes(M, K));
    if (!p) *fail = 1;
    else fr_q8x16_pack(w, M, K, p);
    return p;
}

static void mm(fr_isa isa, fr_type t, const void *w, const void *wx, int M, int K, const float *x, int N,
               float *y, void *scratch, fr_pool *pool) {
    fr_matmul_job job = {w, M, y, wx};
    fr_matmul_multi(isa, t, &job, 1, K, x, N, scratch, pool);
}

static const char *type_name(fr_type t, int x16) { return x16 ? "q8_0x16" : fr_type_name(t); }

/* Runs one shape for about 0.4 s and prints a line. */
static int bench_one(fr_type t, int x16, int M, int K, int N, int threads, fr_isa isa) {
    size_t rb = fr_type_row_bytes(t, (size_t)K);
    size_t wbytes = rb * (size_t)M;
    unsigned char *w = malloc(wbytes);
    float *x = malloc(sizeof(float) * (size_t)N * K), *y = malloc(sizeof(float) * (size_t)N * M);
    size_t sb = fr_matmul_scratch_bytes(t, K, N);
    void *scratch = malloc(sb ? sb : 1);
    float *row = malloc(sizeof(float) * (size_t)K);
    fr_pool *pool = NULL;
    if (!w || !x || !y || !scratch || !row || fr_pool_create(threads, &pool, NULL) != FR_OK) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        free(w), free(x), free(y), free(scratch), free(row);
        return 1;
    }
    unsigned s = 12345;
    for (int m = 0; m < M; m++) {
        for (int k = 0; k < K; k++) row[k] = (float)((s = s * 1103515245u + 12345u) >> 9 & 0xffff) / 65536.0f - 0.5f;
        fr_quantize_row(t, row, w + rb * (size_t)m, (size_t)K);
    }
    for (size_t i = 0; i < (size_t)N * K; i++) x[i] = (float)((s = s * 1103515245u + 12345u) >> 9 & 0xffff) / 65536.0f - 0.5f;
    int fail = 0;
    void *wx = pack_x16(x16, w, M, K, &fail);
    if (fail) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        free(w), free(x), free(y), free(scratch), free(row);
        fr_pool_free(pool);
        return 1;
    }
    mm(isa, t, w, wx, M, K, x, N, y, scratch, pool); /* warm up */
    /* The machine may be shared: time each call and report the fastest (and the median). */
    enum { max_iters = 4096 };
    double times[max_iters];
    int iters = 0;
    double start = now_s();
    do {
        double t0 = now_s();
        mm(isa, t, w, wx, M, K, x, N, y, scratch, pool);
        times[iters++] = now_s() - t0;
    } while (iters < max_iters && (now_s() - start < 0.4 || iters < 5));
    for (int i = 1; i < iters; i++) /* insertion sort: small n */
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double tmp = times[j];
            times[j] = times[j - 1];
            times[j - 1] = tmp;
        }
    double per = times[0], med = times[iters / 2];
    printf("%-6s %-5s M=%-6d K=%-5d N=%-4d threads=%d  best %9.1f us (median %9.1f)  %7.2f GB/s  %8.2f GFLOP/s\n",
           fr_isa_name(isa), type_name(t, x16), M, K, N, threads, per * 1e6, med * 1e6, (double)wbytes / per * 1e-9,
           2.0 * M * K * N / per * 1e-9);
    fflush(stdout);
    fr_pool_free(pool);
    free(w), free(x), free(y), free(scratch), free(row), free(wx);
    return 0;
}

/* ---- model-shaped timing ---- */

/* Random weight bytes with small valid scales. Not a constant fill: a virtual machine's host may
 * merge identical pages, and a model of identical pages then reads from cache, not memory. */
static void fill_weights(fr_type t, unsigned char *w, size_t bytes, uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < bytes; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        w[i] = (unsigned char)(s >> 24);
    }
    size_t bb = fr_type_block_bytes(t);
    uint16_t d = fr_fp32_to_fp16(t == FR_TYPE_F32 ? 0.0f : 0.001f);
    if (t == FR_TYPE_Q8_0 || t == FR_TYPE_Q4_0)
        for (size_t i = 0; i + bb <= bytes; i += bb) memcpy(w + i, &d, 2);
    else if (t == FR_TYPE_F16)
        for (size_t i = 0; i + 2 <= bytes; i += 2) memcpy(w + i, &d, 2);
    else
        for (size_t i = 0; i + 4 <= bytes; i += 4) memset(w + i, 0, 2); /* small finite floats */
}

typedef struct mshape {
    int M, K;
} mshape;

static const mshape k_layer[] = {{768, 768}, {768, 768}, {768, 768}, {768, 768}, {2048, 768}, {2048, 768}, {768, 2048}};
enum { n_layer = 12, n_mat = 7 };

static int bench_model(fr_type t, int x16, int threads, fr_isa isa) {
    unsigned char *w[n_layer][n_mat];
    void *wx[n_layer][n_mat];
    unsigned char *out = NULL;
    void *outx = NULL;
    memset(w, 0, sizeof w);
    memset(wx, 0, sizeof wx);
    int fail = 0;
    const int P = 512;
    float *x = malloc(sizeof(float) * (size_t)P * 2048), *y = malloc(sizeof(float) * (size_t)P * 32000);
    size_t sb = fr_matmul_scratch_bytes(t, 2048, P);
    void *scratch = malloc(sb ? sb : 1);
    fr_pool *pool = NULL;
    int ok = x && y && scratch && fr_pool_create(threads, &pool, NULL) == FR_OK;
    size_t total = 0;
    for (int l = 0; ok && l < n_layer; l++)
        for (int i = 0; ok && i < n_mat; i++) {
            size_t bytes = fr_type_row_bytes(t, (size_t)k_layer[i].K) * (size_t)k_layer[i].M;
            w[l][i] = malloc(bytes);
            ok = w[l][i] != NULL;
            if (ok) fill_weights(t, w[l][i], bytes, (uint64_t)(l * n_mat + i + 1)), total += bytes;
            if (ok) wx[l][i] = pack_x16(x16, w[l][i], k_layer[i].M, k_layer[i].K, &fail);
            ok = ok && !fail;
        }
    size_t obytes = fr_type_row_bytes(t, 768) * 32000;
    if (ok) ok = (out = malloc(obytes)) != NULL;
    if (!ok) {
        fprintf(stderr, "bench_kernels: out of memory\n");
    } else {
        fill_weights(t, out, obytes, 999);
        outx = pack_x16(x16, out, 32000, 768, &fail);
        ok = !fail;
        if (!ok) fprintf(stderr, "bench_kernels: out of memory\n");
    }
    if (ok) {
        for (size_t i = 0; i < (size_t)P * 2048; i++) x[i] = (float)(i % 17) * 0.01f - 0.08f;
        double best_tg = 1e9, best_pp = 1e9;
        for (int rep = 0; rep < 20; rep++) {
            double t0 = now_s();
            for (int l = 0; l < n_layer; l++)
                for (int i = 0; i < n_mat; i++)
                    mm(isa, t, w[l][i], wx[l][i], k_layer[i].M, k_layer[i].K, x, 1, y, scratch, pool);
            mm(isa, t, out, outx, 32000, 768, x, 1, y, scratch, pool);
            double el = now_s() - t0;
            if (el < best_tg) best_tg = el;
        }
        for (int rep = 0; rep < 3; rep++) {
            double t0 = now_s();
            for (int l = 0; l < n_layer; l++)
                for (int i = 0; i < n_mat; i++)
                    mm(isa, t, w[l][i], wx[l][i], k_layer[i].M, k_layer[i].K, x, P, y, scratch, pool);
            double el = now_s() - t0;
            if (el < best_pp) best_pp = el;
        }
        printf("%-6s %-5s model(stories110M shape) threads=%d  generation: %.2f ms/token = %.1f tok/s (%.1f GB/s); "
               "prompt 512: %.1f tok/s\n",
               fr_isa_name(isa), type_name(t, x16), threads, best_tg * 1e3, 1.0 / best_tg,
               (double)(total + obytes) / best_tg * 1e-9, P / best_pp);
    }
    for (int l = 0; l < n_layer; l++)
        for (int i = 0; i < n_mat; i++) free(w[l][i]), free(wx[l][i]);
    free(out), free(outx), free(x), free(y), free(scratch);
    fr_pool_free(pool);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "model") == 0) {
        fr_type t;
        int x16;
        fr_isa isa = fr_isa_best();
        int th = atoi(argv[3]);
        if (!parse_type(argv[2], &t, &x16) || th < 1 || (argc >= 5 && !parse_isa(argv[4], &isa)) || !fr_isa_supported(isa)) {
            fprintf(stderr, "bench_kernels: usage: bench_kernels model TYPE THREADS [ISA]\n");
            return 2;
        }
        return bench_model(t, x16, th, isa);
    }
    if (argc >= 6) {
        fr_type t;
        int x16;
        fr_isa isa = fr_isa_best();
        if (!parse_type(argv[1], &t, &x16) || (argc >= 7 && !parse_isa(argv[6], &isa))) {
            fprintf(stderr, "bench_kernels: usage: bench_kernels [TYPE M K N THREADS [ISA]]\n");
            return 2;
        }
        int M = atoi(argv[2]), K = atoi(argv[3]), N = atoi(argv[4]), th = atoi(argv[5]);
        if (M < 1 || K < 32 || K % 32 || N < 1 || th < 1 || !fr_isa_supported(isa)) {
            fprintf(stderr, "bench_kernels: bad shape, thread count or unsupported ISA\n");
            return 2;
        }
        return bench_one(t, x16, M, K, N, th, isa);
    }
    const fr_type types[] = {FR_TYPE_Q8_0, FR_TYPE_Q4_0, FR_TYPE_F16, FR_TYPE_F32};
    /* The scalar reference is left out of the table (it is for tests; ask for it by name). */
    for (int isa = FR_ISA_COUNT - 1; isa > FR_ISA_SCALAR; isa--) {
        if (!fr_isa_supported((fr_isa)isa)) continue;
        for (int ti = 0; ti < 4; ti++)
            for (int th = 1; th <= 2; th++) {
                if (bench_one(types[ti], 0, 32000, 768, 1, th, (fr_isa)isa)) return 1;
                if (bench_one(types[ti], 0, 768, 768, 1, th, (fr_isa)isa)) return 1;
                if (bench_one(types[ti], 0, 2048, 768, 64, th, (fr_isa)isa)) return 1;
            }
    }
    return 0;
}
