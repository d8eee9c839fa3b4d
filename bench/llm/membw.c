/* Measures memory read bandwidth (GB/s) with T threads (build with -O3 -march=native so the
 * summation is vectorised and the loads, not the adds, are the limit): each thread sums its slice of a
 * buffer much larger than the caches, with a software prefetch (non-temporal hint) MEMBW_PF
 * elements ahead, which on this VM reads 10-30% faster than relying on the hardware
 * prefetchers alone (as frugal's decode tiles do); median of repetitions. Used by bench/llm/run.py to
 * compute the bandwidth floor of generation (weight bytes per token / bandwidth). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Prefetch distance in 8-byte elements (32 KiB): measured best of 64..4096 on this machine. A
 * prefetch past the end of the buffer is harmless (prefetches do not fault). */
#ifndef MEMBW_PF
#define MEMBW_PF 4096
#endif

typedef struct slice {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} slice;

static void *reader(void *arg) {
    slice *s = arg;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 8 <= s->n; i += 8) {
        __builtin_prefetch(s->p + i + MEMBW_PF, 0, 0);
        a += s->p[i] + s->p[i + 4];
        b += s->p[i + 1] + s->p[i + 5];
        c += s->p[i + 2] + s->p[i + 6];
        d += s->p[i + 3] + s->p[i + 7];
    }
    for (; i + 4 <= s->n; i += 4) {
        a += s->p[i];
        b += s->p[i + 1];
        c += s->p[i + 2];
        d += s->p[i + 3];
    }
    for (; i < s->n; i++) a += s->p[i];
    s->sum = a + b + c + d;
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    size_t mb = argc > 2 ? (size_t)atoi(argv[2]) : 512;
    int reps = 15;
    if (threads < 1 || threads > 64 || mb < 64) {
        fprintf(stderr, "usage: membw [THREADS (1..64)] [MiB (>= 64)]\n");
        return 2;
    }
    size_t n = mb * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *buf = malloc(n * sizeof *buf);
    if (!buf) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mb);
        return 1;
    }
    for (size_t i = 0; i < n; i++) buf[i] = i;
    double t[64];
    uint64_t total = 0;
    for (int r = 0; r < reps; r++) {
        pthread_t th[64];
        slice s[64];
        double t0 = now();
        for (int k = 0; k < threads; k++) {
            s[k].p = buf + n / threads * k;
            s[k].n = k == threads - 1 ? n - n / threads * k : n / threads;
            pthread_create(&th[k], NULL, reader, &s[k]);
        }
        for (int k = 0; k < threads; k++) {
            pthread_join(th[k], NULL);
            total += s[k].sum;
        }
        t[r] = now() - t0;
    }
    qsort(t, reps, sizeof t[0], cmp_double);
    printf("%.2f\n", n * sizeof *buf / t[reps / 2] / 1e9);
    fprintf(stderr, "membw: %d threads, %zu MiB, median %.4f s (checksum %llu)\n", threads, mb,
            t[reps / 2], (unsigned long long)(total & 0xff));
    free(buf);
    return 0;
}
