/* frugal cnn-info MODEL.tflite: operators, tensors and the arena plan of a TFLite model. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "cnn_cli.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: frugal cnn-info MODEL.tflite [--ref]\n"
            "\n"
            "Loads, validates and plans a TFLite model and prints one line per operator\n"
            "(index, name, input and output shapes, key options, MACs), one line per tensor\n"
            "(index, name, type, shape, quantisation, bytes, where it lives), then the arena\n"
            "plan: planned activation bytes vs the naive sum, and the total arena size.\n"
            "\n"
            "options:\n"
            "  --ref         plan for the scalar reference kernels (no fast-path scratch)\n"
            "  -h, --help    show this help\n");
}

static const char *act_name(int a) {
    static const char *const names[] = {"NONE", "RELU", "RELU_N1_TO_1", "RELU6"};
    return a >= 0 && a <= 3 ? names[a] : "?";
}

static void print_options(const fr_cnn_op_info *op) {
    const char *pad = op->padding ? "VALID" : "SAME";
    switch (op->code) {
    case 3: /* CONV_2D */
        printf("%s stride %dx%d dilation %dx%d act %s%s", pad, op->stride_h, op->stride_w,
               op->dilation_h, op->dilation_w, act_name(op->activation),
               op->hybrid ? " hybrid(int8 weights dequantised)" : "");
        break;
    case 4: /* DEPTHWISE_CONV_2D */
        printf("%s stride %dx%d dilation %dx%d mult %d act %s", pad, op->stride_h, op->stride_w,
               op->dilation_h, op->dilation_w, op->depth_mult, act_name(op->activation));
        break;
    case 1:
    case 17: /* pools */
        printf("%s filter %dx%d stride %dx%d act %s", pad, op->filter_h, op->filter_w,
               op->stride_h, op->stride_w, act_name(op->activation));
        break;
    case 9: /* FULLY_CONNECTED */
        printf("act %s%s", act_name(op->activation), op->hybrid ? " hybrid" : "");
        break;
    case 0: /* ADD */
        printf("act %s", act_name(op->activation));
        break;
    case 25: /* SOFTMAX */
        printf("beta %g", (double)op->beta);
        break;
    default:
        break;
    }
}

int cmd_cnn_info(int argc, char **argv) {
    const char *cmd = "cnn-info";
    const char *path = NULL;
    fr_cnn_kernels kernels = FR_CNN_KERNELS_BEST;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--ref")) {
            kernels = FR_CNN_KERNELS_REFERENCE;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            cli_error(cmd, "unknown option '%s' (see --help)", argv[i]);
            return 2;
        }
        if (path) {
            cli_error(cmd, "too many arguments (see --help)");
            return 2;
        }
        path = argv[i];
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    cnn_cli_model c;
    if (cnn_cli_load(cmd, path, kernels, &c))
        return 1;
    fr_cnn_model *m = c.m;
    fr_error err = {0};
    char sb[96];
    printf("model: %s (%zu bytes), %d tensors, %d operators\n", path, c.len,
           fr_cnn_num_tensors(m), fr_cnn_num_ops(m));
    for (int k = 0; k < fr_cnn_num_inputs(m); k++) {
        fr_cnn_tensor_info t;
        fr_cnn_input(m, k, &t, &err);
        float lo, hi;
        fr_cnn_input_range(m, k, &lo, &hi);
        printf("input %d: tensor %d '%s' %s %s (pixel range %g..%g)\n", k,
               fr_cnn_input_index(m, k), t.name, fr_cnn_type_name(t.type),
               cnn_cli_shape(&t, sb, sizeof sb), (double)lo, (double)hi);
    }
    for (int k = 0; k < fr_cnn_num_outputs(m); k++) {
        fr_cnn_tensor_info t;
        fr_cnn_output(m, k, &t, &err);
        printf("output %d: tensor %d '%s' %s %s\n", k, fr_cnn_output_index(m, k), t.name,
               fr_cnn_type_name(t.type), cnn_cli_shape(&t, sb, sizeof sb));
    }

    printf("\noperators:\n");
    uint64_t total_macs = 0;
    for (int i = 0; i < fr_cnn_num_ops(m); i++) {
        fr_cnn_op_info op;
        fr_cnn_op(m, i, &op, &err);
        printf("  %3d %-18s", i, op.name);
        for (int k = 0; k < op.n_inputs; k++) {
            fr_cnn_tensor_info t;
            if (op.inputs[k] < 0) {
                printf(" -");
                continue;
            }
            fr_cnn_tensor(m, op.inputs[k], &t, &err);
            printf(" %s", cnn_cli_shape(&t, sb, sizeof sb));
        }
        printf(" ->");
        for (int k = 0; k < op.n_outputs; k++) {
            fr_cnn_tensor_info t;
            fr_cnn_tensor(m, op.outputs[k], &t, &err);
            printf(" %s", cnn_cli_shape(&t, sb, sizeof sb));
        }
        printf("  ");
        print_options(&op);
        if (op.macs)
            printf("  MACs %" PRIu64, op.macs);
        if (op.scratch_bytes)
            printf("  scratch %zu", op.scratch_bytes);
        printf("\n");
        total_macs += op.macs;
    }
    printf("  total MACs %" PRIu64 "\n", total_macs);

    printf("\ntensors:\n");
    for (int j = 0; j < fr_cnn_num_tensors(m); j++) {
        fr_cnn_tensor_info t;
        fr_cnn_tensor(m, j, &t, &err);
        printf("  %3d %-40s %-8s %-16s", j, t.name, fr_cnn_type_name(t.type),
               cnn_cli_shape(&t, sb, sizeof sb));
        if (t.n_quant == 1)
            printf(" scale %.9g zp %d", (double)t.scale, (int)t.zero_point);
        else if (t.n_quant > 1)
            printf(" per-channel x%d (dim %d)", t.n_quant, t.quant_dim);
        printf(" %zu bytes %s\n", t.bytes,
               t.is_const ? "const" : t.data ? "arena" : "unused");
    }
    printf("\narena: planned %zu bytes vs naive sum %zu bytes\n", c.info.activation_bytes,
           c.info.naive_bytes);
    printf("arena total: %zu bytes (persistent %zu + activations/scratch %zu + alignment; "
           "largest op scratch %zu)\n",
           c.info.total_bytes, c.info.persistent_bytes, c.info.activation_bytes,
           c.info.scratch_bytes);
    cnn_cli_free(&c);
    return 0;
}
