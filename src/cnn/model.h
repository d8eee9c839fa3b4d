/* The in-arena model: tensors, operators with their prepared kernel parameters, the plan.
 * Built by fr_cnn_model_init (model.c), run by interp.c. */
#ifndef FR_CNN_MODEL_H
#define FR_CNN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/ops.h"
#include "cnn/tflite_reader.h"
#include "core/kernels.h"
#include "frugal.h"

/* Limits that keep hostile files from asking for absurd work (a real model is far below). */
#define FR_CNN_MAX_TENSORS 100000
#define FR_CNN_MAX_OPS 100000
#define FR_CNN_MAX_OP_IO 16

typedef struct fr_cnn_tns {
    const char *name;
    uint8_t type;           /* fr_cnn_type */
    uint8_t ndim;
    uint8_t is_const;       /* data from the file (or copied into the persistent arena) */
    uint8_t is_variable;
    uint8_t is_input;       /* a graph input */
    uint8_t is_output;      /* a graph output */
    int32_t dims[FR_CNN_MAX_DIMS];
    size_t elems;
    size_t bytes;
    void *data;             /* file / persistent arena (const) or planned activation */
    /* quantisation (n_quant == 0: none) */
    uint32_t n_quant;
    float scale;            /* scales[0] */
    int32_t zp;             /* zero_points[0] */
    int32_t qdim;
    const float *scales;    /* n_quant scales (aligned copy in the arena) */
    /* planning */
    int32_t first, last;    /* op range in which the tensor is alive (-1: never) */
    int32_t producer;       /* op that writes it, -1 for graph inputs / constants */
    size_t offset;          /* in the activation region */
} fr_cnn_tns;

typedef enum fr_cnn_kind {
    FR_CNN_K_CONV_S8, FR_CNN_K_CONV_F32,
    FR_CNN_K_DW_S8, FR_CNN_K_DW_F32,
    FR_CNN_K_FC_S8, FR_CNN_K_FC_F32,
    FR_CNN_K_ADD_S8, FR_CNN_K_ADD_F32, FR_CNN_K_ADD_S8_BCAST, FR_CNN_K_ADD_F32_BCAST,
    FR_CNN_K_AVGPOOL_S8, FR_CNN_K_AVGPOOL_F32, FR_CNN_K_MAXPOOL_S8, FR_CNN_K_MAXPOOL_F32,
    FR_CNN_K_RESHAPE,
    FR_CNN_K_SOFTMAX_S8, FR_CNN_K_SOFTMAX_F32,
    FR_CNN_K_QUANTIZE_F32_S8, FR_CNN_K_REQUANTIZE_S8, FR_CNN_K_DEQUANTIZE_S8_F32
} fr_cnn_kind;

typedef struct fr_cnn_node {
    int32_t code;           /* TFLite builtin code */
    fr_cnn_kind kind;
    uint16_t n_in, n_out;
    int32_t *in, *out;      /* tensor indices (-1: optional input absent) */
    /* options as read (for fr_cnn_node / cnn-info) */
    int8_t padding, act;
    int16_t hybrid;
    int32_t stride_h, stride_w, filter_h, filter_w, dil_h, dil_w, depth_mult;
    float beta;
    /* prepared kernel parameters: requant / range for every op that needs them, the rest
     * by kind (an anonymous union keeps the op table small for microcontrollers) */
    fr_cnn_requant rq;        /* conv / dw / fc; pools use act_min / act_max */
    fr_cnn_range_f32 range;   /* float ops */
    union {
        fr_cnn_geom geom;     /* conv / dw / pools */
        fr_cnn_fc_dims fc;    /* fully connected */
        struct {              /* add */
            fr_cnn_add_s8_params add;
            int add_s1[4], add_s2[4];
        };
        struct {              /* softmax */
            fr_cnn_softmax_s8_params sm;
            int rows, depth;
        };
        struct {              /* requantize */
            int32_t q_mult, q_shift;
        };
    };
    const void *weights;      /* conv / dw / fc: the (possibly dequantised) filter */
    const void *packed;       /* conv: the weights packed once at load for this isa
                                 (fr_cnn_conv_*_pack), or NULL */
    const void *bias;         /* NULL: no bias */
    uint64_t macs;
    size_t scratch_bytes;
    size_t scratch_offset;    /* in the activation region */
    int32_t scratch_buf;      /* planner buffer index of the scratch, -1 when none */
} fr_cnn_node;

struct fr_cnn_model {
    fr_fb fb;
    fr_isa isa;
    int32_t n_tensors, n_ops, n_inputs, n_outputs;
    fr_cnn_tns *tensors;
    fr_cnn_node *ops;
    int32_t *inputs, *outputs;
    uint8_t *activations;     /* the planned region */
    fr_cnn_arena_info arena;
    /* computation reuse (fr_cnn_config.reuse; NULL: none) */
    const fr_cnn_reuse *reuse;
    uint8_t *reuse_state;     /* n_ops * reuse->state_bytes */
    uint8_t *reuse_use;       /* n_ops flags: op i runs reuse->run */
};

#endif
