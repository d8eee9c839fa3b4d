/* Decode attention from a cold cache: the 12 layers x 12 heads (head_dim 64) of one
 * stories110M-shaped token at a given position, after a 64 MiB read has evicted the KV cache
 * (as the weights streamed between two tokens do). Median of 21.
 *
 *   bench_attend POSITION [N_CTX]        e.g. bench_attend 64 2048 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kernels.h"
#include "llm/ops.h"

enum { n_layer = 12, n_head = 12, hd = 64, reps = 21 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int pos = argc > 1 ? atoi(argv[1]) : 0, n_ctx = argc > 2 ? atoi(argv[2]) : 2048;
    if (argc < 2 || pos < 1 || n_ctx < pos || n_ctx > 65536) {
        fprintf(stderr, "bench_attend: usage: bench_attend POSITION [N_CTX] (1 <= POSITION <= N_CTX <= 65536)\n");
        return 2;
    }
    const size_t cap = (size_t)(n_ctx + FR_KV_BLOCK - 1) / FR_KV_BLOCK * FR_KV_BLOCK;
    const size_t per_head = cap * hd, n = per_head * n_head * n_layer, flush_bytes = (size_t)64 << 20;
    float *K = malloc(sizeof(float) * n), *V = malloc(sizeof(float) * n);
    float *scores = malloc(sizeof(float) * (size_t)n_ctx);
    unsigned char *flush = malloc(flush_bytes);
    float q[n_head * hd], out[n_head * hd];
    if (!K || !V || !scores || !flush) {
        fprintf(stderr, "bench_attend: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) K[i] = (float)(i % 13) * 0.01f, V[i] = (float)(i % 7) * 0.02f;
    for (int i = 0; i < n_head * hd; i++) q[i] = (float)(i % 5) * 0.1f;
    memset(flush, 1, flush_bytes);
    const fr_op_attend_fn attend = fr_op_attend_for((int)fr_isa_best());
    double t[reps];
    unsigned sink = 0; /* printed, so the evicting reads are not optimised away */
    for (int r = 0; r < reps; r++) {
        for (size_t i = 0; i < flush_bytes; i += 64) sink += flush[i];
        double t0 = now_s();
        for (int l = 0; l < n_layer; l++)
            for (int h = 0; h < n_head; h++) {
                size_t off = ((size_t)l * n_head + (size_t)h) * per_head;
                attend(q + h * hd, 1, 1, 0, K + off, V + off, pos, hd, 0.125f, scores, out + h * hd);
            }
        t[r] = now_s() - t0;
    }
    qsort(t, reps, sizeof t[0], cmp_double);
    printf("%s attention, %d layers x %d heads (head_dim %d), position %d, n_ctx %d: median %.1f us (%.1f GB/s of keys and values; checksum %u)\n",
           fr_isa_name(fr_isa_best()), n_layer, n_head, hd, pos, n_ctx, t[reps / 2] * 1e6,
           2.0 * n_layer * n_head * pos * hd * sizeof(float) / t[reps / 2] * 1e-9, sink);
    free(K), free(V), free(scores), free(flush);
    return 0;
}
