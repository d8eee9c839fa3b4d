/* libFuzzer target: load, plan and run any bytes as a TFLite model. Must never crash,
 * leak or read out of bounds; a bad file only returns an error. Seeds: fuzz/seeds/tflite/
 * (tiny models written by tools/py/make_tflite_seed.py).
 * Build: cmake -DFR_FUZZ=ON -DCMAKE_C_COMPILER=clang ...; run: fuzz_tflite fuzz/seeds/tflite */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frugal.h"

#define FUZZ_ARENA (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an aligned private copy, as a caller would provide */
    uint8_t *buf = malloc(size ? size : 1);
    void *arena = malloc(FUZZ_ARENA);
    if (!buf || !arena) {
        free(buf);
        free(arena);
        return 0;
    }
    memcpy(buf, data, size);
    fr_cnn_model *m = NULL;
    fr_error err = {0};
    fr_cnn_config cfg = {.kernels = FR_CNN_KERNELS_BEST, .name = "fuzz"};
    if (fr_cnn_model_init(buf, size, arena, FUZZ_ARENA, &cfg, &m, &err) == FR_OK) {
        fr_cnn_arena_info info;
        fr_cnn_model_arena(m, &info);
        /* run cheap models once with zeroed inputs */
        if (info.activation_bytes < (1u << 20)) {
            for (int i = 0; i < fr_cnn_num_inputs(m); i++) {
                fr_cnn_tensor_info t;
                if (fr_cnn_input(m, i, &t, &err) == FR_OK && t.data)
                    memset(t.data, 0, t.bytes);
            }
            uint64_t macs = 0;
            for (int i = 0; i < fr_cnn_num_ops(m); i++) {
                fr_cnn_op_info op;
                if (fr_cnn_op(m, i, &op, &err) == FR_OK)
                    macs += op.macs;
            }
            if (macs < (20u << 20))
                fr_cnn_invoke(m, &err);
        }
    } else if (m || err.msg[0] == '\0' || !strstr(err.msg, "fuzz") || strchr(err.msg, '\n')) {
        __builtin_trap(); /* a failure is a one-line message naming the file */
    }
    free(arena);
    free(buf);
    return 0;
}
