/*
 * TREC computation reuse for the CNN runtime (docs/trec.md): CONV_2D operators listed in a
 * TREC sidecar file run the TREC convolution (src/reuse/trec.h) instead of the dense one.
 *
 *   fr_cnn_trec t;
 *   fr_cnn_trec_init(&t, sidecar, sidecar_len, "model.trec", &err);   // validates the file
 *   fr_cnn_config cfg = {.name = "model.tflite"};
 *   fr_cnn_plan_reuse(..., &cfg, &t.reuse, ...) / fr_cnn_model_init_reuse(...);  // checks it
 *
 * The sidecar is read in place (4-byte aligned, kept alive and unchanged, as `t`, for the
 * model's lifetime). Its per-op state and the TREC scratch (bucket tables, centroids,
 * partial products) are planned in the model's arena; nothing is allocated. Errors at init
 * name the sidecar: an op index out of range or not a CONV_2D, K (k_h*k_w*in_c) not the
 * conv's, projections of the wrong type (int8 conv without int8 projections, float conv
 * without float ones) are FR_E_FORMAT; parameters the kernels refuse are FR_E_ARG /
 * FR_E_UNSUPPORTED. Not part of the Cortex-M firmware library (src/cnn only).
 */
#ifndef FRUGAL_TREC_H
#define FRUGAL_TREC_H

#include "frugal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_cnn_trec {
    fr_cnn_reuse reuse;   /* give &t.reuse to fr_cnn_model_init_reuse */
    const void *buf;
    size_t len;
    const char *name;
    int n_layers;
} fr_cnn_trec;

/* Validates the sidecar (fr_trec_file_open) and fills t. name may be NULL ("sidecar"). */
fr_status fr_cnn_trec_init(fr_cnn_trec *t, const void *buf, size_t len, const char *name,
                           fr_error *err);

/* What the TREC convolution of one operator did: in the last invoke (rows ... macs_hash)
 * and summed over all invokes since init (total_*). */
typedef struct fr_cnn_trec_info {
    int enabled;          /* 0: the op runs dense (all other fields 0) */
    int sub_len, hash_bits, n_sub, K;
    int64_t rows, clusters, macs_dense, macs_reuse, macs_hash;
    int64_t invokes, total_rows, total_clusters, total_macs_dense, total_macs_reuse,
        total_macs_hash;
    int pixel;          /* 1: pixel mode (each input pixel hashed once for every tap) */
    int channel_groups; /* pixel mode: in_c / sub_len channel groups; otherwise 1 */
} fr_cnn_trec_info;

/* Per-op TREC figures of a model initialised with a fr_cnn_trec provider (for a model
 * without one, or an op that is not replaced, info->enabled = 0). FR_E_ARG: bad index. */
fr_status fr_cnn_trec_op_info(const fr_cnn_model *m, int op, fr_cnn_trec_info *info,
                              fr_error *err);

#ifdef __cplusplus
}
#endif

#endif
