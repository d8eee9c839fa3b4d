/* Helpers shared by the CNN runtime tests (reader, planner, models, CLI). Header-only. */
#ifndef FR_TEST_CNN_RT_TESTUTIL_H
#define FR_TEST_CNN_RT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frugal.h"

#define MLPERF FR_ASSETS "/cnn/mlperf-tiny/"
#define IC_INT8 MLPERF "ic/pretrainedResnet_quant.tflite"
#define IC_F32 MLPERF "ic/pretrainedResnet.tflite"
#define CIFAR_TEST FR_ASSETS "/cnn/cifar10/test_batch.bin"
#define TINY_INT8 FR_SOURCE_DIR "/fuzz/seeds/tflite/tiny_int8.tflite"
#define TINY_F32 FR_SOURCE_DIR "/fuzz/seeds/tflite/tiny_float.tflite"

static const char *const ALL_MODELS[] = {
    MLPERF "ic/pretrainedResnet_quant.tflite",     MLPERF "ic/pretrainedResnet.tflite",
    MLPERF "ic/pretrainedResnet_large_int8.tflite", MLPERF "ic/pretrainedResnet_large_float.tflite",
    MLPERF "kws/kws_ref_model.tflite",             MLPERF "kws/kws_ref_model_float32.tflite",
    MLPERF "vww/vww_96_int8.tflite",               MLPERF "vww/vww_96_float.tflite",
};
#define N_ALL_MODELS (sizeof ALL_MODELS / sizeof ALL_MODELS[0])

static inline int assets_present(void) {
    struct stat st;
    if (stat(FR_ASSETS "/cnn/mlperf-tiny", &st) == 0)
        return 1;
    printf("SKIPPED: %s/cnn/mlperf-tiny not found\n", FR_ASSETS);
    return 0;
}

/* Whole file in a 64-byte aligned buffer (free()). Fails the test when unreadable. */
static inline uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = aligned_alloc(64, ((size_t)n + 64) & ~(size_t)63);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* One CIFAR-10 binary record (label byte, then 1024 R, 1024 G, 1024 B) as 32x32 HWC pixels. */
static inline void cifar_hwc(const uint8_t *rec, uint8_t *hwc) {
    for (int p = 0; p < 1024; p++)
        for (int ch = 0; ch < 3; ch++)
            hwc[p * 3 + ch] = rec[1 + ch * 1024 + p];
}

/* A model in an arena of exactly the planned size. */
typedef struct test_model {
    uint8_t *file;
    size_t len;
    void *arena;
    fr_cnn_model *m;
    fr_cnn_arena_info info;
} test_model;

static inline void test_model_load(test_model *t, const char *path, fr_cnn_kernels k) {
    memset(t, 0, sizeof *t);
    t->file = read_all(path, &t->len);
    fr_cnn_config cfg = {.kernels = k, .name = path};
    fr_error err = {0};
    size_t work_bytes = 8u << 20;
    void *work = malloc(work_bytes);
    assert_non_null(work);
    if (fr_cnn_plan(t->file, t->len, work, work_bytes, &cfg, &t->info, &err) != FR_OK)
        fail_msg("plan %s: %s", path, err.msg);
    free(work);
    t->arena = malloc(t->info.total_bytes);
    assert_non_null(t->arena);
    if (fr_cnn_model_init(t->file, t->len, t->arena, t->info.total_bytes, &cfg, &t->m, &err))
        fail_msg("init %s: %s", path, err.msg);
}

static inline void test_model_free(test_model *t) {
    free(t->arena);
    free(t->file);
    memset(t, 0, sizeof *t);
}

#endif
