/*
 * frugal CNN API: int8 and float32 TFLite models in one caller-provided arena.
 * Conventions as in frugal.h (fr_status + optional fr_error with a one-line message).
 *
 * Memory discipline (the same code runs on a Cortex-M with no OS):
 *   - The model file stays where the caller put it and is read in place: weights are
 *     never copied (except two documented cases below). The caller keeps `buf` alive and
 *     unchanged for the model's lifetime.
 *   - Everything else — the model handle, tensor and operator tables, per-channel
 *     requantisation constants, the planned activations and the operators' scratch — lives
 *     in ONE caller-provided arena. The library never calls malloc, never uses threads,
 *     stdio or mutable global state. Freeing the model means dropping the arena.
 *   - Arena layout: [persistent tables][planned activations + op scratch]. Activations
 *     share memory by lifetime (see docs/cnn.md, "Planner").
 *   - Copies made into the arena's persistent part: (1) a constant tensor whose data is not
 *     aligned to its element size inside the caller's buffer; (2) the int8 weights of a
 *     "hybrid" float op (float activations, int8 weights), dequantised to float once.
 *
 * Sizing the arena: fr_cnn_model_init needs exactly fr_cnn_arena_info.total_bytes (a value
 * that depends only on the file and the config, not on the arena's address). Either
 *   1. call fr_cnn_model_init with a generous arena and read fr_cnn_model_arena(), or
 *   2. call fr_cnn_plan(), which does the same work inside a caller work buffer, or
 *   3. run `frugal cnn-info MODEL.tflite` on the host and use its "arena total" figure.
 * A too small arena fails with FR_E_NOMEM and a message giving the bytes needed (when
 * they are known: the persistent part must fit for the planner to run).
 *
 * Lifetime: fr_cnn_model_init -> (write inputs, fr_cnn_invoke, read outputs)* -> drop the
 * arena. A model is not thread-safe; use one arena per thread (the file may be shared).
 */
#ifndef FRUGAL_CNN_H
#define FRUGAL_CNN_H

#include "frugal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tensor element types; values equal TFLite's TensorType. */
typedef enum fr_cnn_type {
    FR_CNN_FLOAT32 = 0,
    FR_CNN_FLOAT16 = 1,
    FR_CNN_INT32 = 2,
    FR_CNN_UINT8 = 3,
    FR_CNN_INT64 = 4,
    FR_CNN_BOOL = 6,
    FR_CNN_INT16 = 7,
    FR_CNN_INT8 = 9
} fr_cnn_type;

#define FR_CNN_MAX_DIMS 6
/* Alignment of the arena's start that the library assumes for its own layout; any arena
 * address works (the library aligns up and includes the slack in total_bytes). */
#define FR_CNN_ALIGN 64

typedef struct fr_cnn_model fr_cnn_model;

/* Which kernels to run. */
typedef enum fr_cnn_kernels {
    FR_CNN_KERNELS_BEST = 0,     /* the fastest path this CPU supports (int8: bit-exact) */
    FR_CNN_KERNELS_REFERENCE = 1 /* the plain scalar reference kernels */
} fr_cnn_kernels;

/* Computation reuse: a provider of replacement kernels for some operators (e.g. TREC, see
 * frugal_trec.h and docs/trec.md). The CNN core only calls these hooks (it does not link
 * the reuse kernels), so the firmware library stays dense-only. At fr_cnn_model_init, after
 * every operator is prepared, `prepare` is called once with a zeroed block of
 * n_ops * state_bytes bytes in the arena's persistent part (op i's state at
 * i * state_bytes, 16-byte aligned when state_bytes is a multiple of 16): it validates its
 * parameters against the model, and for each operator it takes over sets
 * use[i] = 1 and scratch[i] to the scratch bytes it needs (planned like any op scratch).
 * Optionally (both or neither given), an operator it took over may also get persistent
 * memory of its own: the core asks `persist_bytes` (0: none), takes that many bytes from
 * the arena's persistent part (FR_CNN_ALIGN-aligned; counted in persistent_bytes) and
 * hands them to `bind`, which may fill them (e.g. a repacked copy of the weights) and set
 * the operator's scratch bytes anew. At invoke, `run` replaces the operator's kernel. The
 * provider (and whatever it points to) must outlive the model. Given to
 * fr_cnn_model_init_reuse / fr_cnn_plan_reuse. */
typedef struct fr_cnn_reuse {
    void *ctx;
    size_t state_bytes;
    fr_status (*prepare)(void *ctx, fr_cnn_model *m, void *state, uint8_t *use,
                         size_t *scratch, fr_error *err);
    void (*run)(void *ctx, fr_cnn_model *m, int op, void *state, void *scratch);
    size_t (*persist_bytes)(void *ctx, const fr_cnn_model *m, int op, const void *state);
    void (*bind)(void *ctx, fr_cnn_model *m, int op, void *state, void *mem, size_t *scratch);
} fr_cnn_reuse;

typedef struct fr_cnn_config {
    fr_cnn_kernels kernels;
    const char *name; /* names the model in error messages (e.g. its path); NULL: "model" */
} fr_cnn_config;

typedef struct fr_cnn_arena_info {
    size_t persistent_bytes; /* handle, tensor/op tables, requant constants, copies */
    size_t activation_bytes; /* planned activations + op scratch (lifetimes share memory) */
    size_t naive_bytes;      /* the sum of every activation and scratch buffer (no reuse) */
    size_t scratch_bytes;    /* the largest single op scratch buffer */
    size_t total_bytes;      /* what fr_cnn_model_init needs: the two parts + alignment */
} fr_cnn_arena_info;

/* Parses and validates the TFLite file in buf (len bytes), prepares every operator
 * (shapes, types, quantisation), plans the activations and lays everything out in arena.
 * cfg may be NULL (best kernels, name "model"). On success *out points into the arena.
 * Errors: FR_E_FORMAT (malformed file: offsets, sizes, graph order), FR_E_UNSUPPORTED
 * (an operator, type or option frugal does not implement), FR_E_NOMEM (arena too small;
 * the message says how many bytes are needed when known), FR_E_ARG (NULL arguments). */
fr_status fr_cnn_model_init(const void *buf, size_t len, void *arena, size_t arena_bytes,
                            const fr_cnn_config *cfg, fr_cnn_model **out, fr_error *err);

/* Runs fr_cnn_model_init inside `work` only to measure: fills *info (total_bytes is the
 * arena size to use). work needs about total_bytes too; FR_E_NOMEM when it is too small. */
fr_status fr_cnn_plan(const void *buf, size_t len, void *work, size_t work_bytes,
                      const fr_cnn_config *cfg, fr_cnn_arena_info *info, fr_error *err);

/* fr_cnn_model_init / fr_cnn_plan with a computation-reuse provider (NULL: identical to
 * them). The provider's state and scratch are part of the arena figures. */
fr_status fr_cnn_model_init_reuse(const void *buf, size_t len, void *arena, size_t arena_bytes,
                                  const fr_cnn_config *cfg, const fr_cnn_reuse *reuse,
                                  fr_cnn_model **out, fr_error *err);
fr_status fr_cnn_plan_reuse(const void *buf, size_t len, void *work, size_t work_bytes,
                            const fr_cnn_config *cfg, const fr_cnn_reuse *reuse,
                            fr_cnn_arena_info *info, fr_error *err);

/* The arena figures of an initialised model. */
void fr_cnn_model_arena(const fr_cnn_model *m, fr_cnn_arena_info *info);

/* ---- tensors ------------------------------------------------------------------------ */

typedef struct fr_cnn_tensor_info {
    const char *name;      /* from the file ("" if none) */
    fr_cnn_type type;
    int ndim;
    int32_t dims[FR_CNN_MAX_DIMS];
    size_t elems;
    size_t bytes;
    int n_quant;           /* 0: no quantisation; 1: per-tensor; > 1: per-channel */
    float scale;           /* first scale (0 when n_quant == 0) */
    int32_t zero_point;    /* first zero point */
    int quant_dim;         /* per-channel: the channel dimension */
    int is_const;          /* data comes from the file */
    void *data;            /* the tensor's memory: in the file (const) or in the arena */
} fr_cnn_tensor_info;

int fr_cnn_num_tensors(const fr_cnn_model *m);
int fr_cnn_num_ops(const fr_cnn_model *m);
int fr_cnn_num_inputs(const fr_cnn_model *m);
int fr_cnn_num_outputs(const fr_cnn_model *m);
/* Tensor index of graph input / output i (-1 if i is out of range). */
int fr_cnn_input_index(const fr_cnn_model *m, int i);
int fr_cnn_output_index(const fr_cnn_model *m, int i);

/* Describes tensor `index` (FR_E_ARG when out of range). Graph inputs and outputs have
 * `data` in the arena, valid for writing (inputs) / reading (outputs) around invoke;
 * other activations share memory and hold meaningful values only while in use. */
fr_status fr_cnn_tensor(const fr_cnn_model *m, int index, fr_cnn_tensor_info *info,
                        fr_error *err);
fr_status fr_cnn_input(const fr_cnn_model *m, int i, fr_cnn_tensor_info *info, fr_error *err);
fr_status fr_cnn_output(const fr_cnn_model *m, int i, fr_cnn_tensor_info *info, fr_error *err);

/* Writes n floats into input i, quantising with the input's scale/zero point if it is
 * int8 (round half away from zero, saturate). n must equal the input's element count. */
fr_status fr_cnn_set_input_f32(fr_cnn_model *m, int i, const float *x, size_t n,
                               fr_error *err);
/* Reads output i as n floats (dequantised if int8). */
fr_status fr_cnn_get_output_f32(const fr_cnn_model *m, int i, float *y, size_t n,
                                fr_error *err);

/* Fills image input i (NHWC [1,H,W,C]) from an interleaved 8-bit image (w x h, channels
 * c, rows of w*c bytes): bilinear resize to H x W (pixel centres aligned, as TF's
 * half_pixel_centers), channel count must match C (1 <-> 3 converts grey/RGB), each byte
 * v maps to lo + (hi - lo) * v / 255, then quantised as fr_cnn_set_input_f32 does. */
fr_status fr_cnn_set_input_image(fr_cnn_model *m, int i, const uint8_t *pixels, int w, int h,
                                 int c, float lo, float hi, fr_error *err);

/* The float range of 8-bit pixels that input i expects by default: for an int8 input the
 * range its quantisation represents (scale * (-128 - zp) .. scale * (127 - zp), e.g.
 * 0..255 for MLPerf Tiny IC, 0..1 for VWW); for a float input 0..255. */
void fr_cnn_input_range(const fr_cnn_model *m, int i, float *lo, float *hi);

/* ---- operators ---------------------------------------------------------------------- */

typedef struct fr_cnn_op_info {
    int code;              /* TFLite BuiltinOperator */
    const char *name;      /* "CONV_2D", ... */
    int n_inputs, n_outputs;
    const int32_t *inputs; /* tensor indices; -1 = optional input absent */
    const int32_t *outputs;
    /* options (0 when the op has none of them) */
    int padding;           /* 0 SAME, 1 VALID */
    int stride_h, stride_w, filter_h, filter_w, dilation_h, dilation_w, depth_mult;
    int activation;        /* 0 NONE, 1 RELU, 2 RELU_N1_TO_1, 3 RELU6 */
    float beta;            /* SOFTMAX */
    int hybrid;            /* float op whose int8 weights were dequantised at load */
    uint64_t macs;         /* multiply-accumulates (conv / depthwise / fully connected) */
    size_t scratch_bytes;  /* this op's planned scratch */
} fr_cnn_op_info;

fr_status fr_cnn_op(const fr_cnn_model *m, int index, fr_cnn_op_info *info, fr_error *err);

/* ---- running ------------------------------------------------------------------------ */

/* Runs the graph once. Inputs must have been written first. Never fails on a model that
 * initialised; returns FR_E_ARG for a NULL model. */
fr_status fr_cnn_invoke(fr_cnn_model *m, fr_error *err);

/* Called before (end = 0) and after (end = 1) each operator, e.g. to time layers. */
typedef void (*fr_cnn_op_hook)(void *ctx, int op_index, int end);
fr_status fr_cnn_invoke_hooked(fr_cnn_model *m, fr_cnn_op_hook hook, void *ctx,
                               fr_error *err);

/* Index of the largest of n scores (first on ties); -1 for n == 0. Top-k: fills idx[0..k)
 * with the k best indices in decreasing score order (k <= n). */
int fr_cnn_argmax_f32(const float *x, size_t n);
void fr_cnn_topk_f32(const float *x, size_t n, int k, int *idx);

const char *fr_cnn_type_name(fr_cnn_type t);

#ifdef __cplusplus
}
#endif

#endif
