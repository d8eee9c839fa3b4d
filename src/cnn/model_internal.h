/* Internal to src/cnn/model.c and src/cnn/prepare.c: the bump allocator over the caller's
 * arena and the state of one operator's preparation. */
#ifndef FR_CNN_MODEL_INTERNAL_H
#define FR_CNN_MODEL_INTERNAL_H

#include "cnn/model.h"
#include "core/error.h"

/* Bump allocator over the caller's arena; nothing is freed. */
typedef struct bump {
    uint8_t *base;  /* aligned to FR_CNN_ALIGN */
    size_t cap;
    size_t used;
} bump;

/* n bytes aligned to align (a power of two), or NULL with an "arena too small" error
 * naming `name`. */
void *fr_cnn_balloc(bump *a, size_t n, size_t align, fr_error *err, const char *name);

/* One operator being prepared: its node (inputs and outputs already read), its options
 * table, and where persistent allocations go. */
typedef struct prep {
    fr_cnn_model *m;
    bump *a;
    int i;
    fr_cnn_node *op;
    fr_fb_table opts;
    int has_opts;
    uint8_t opts_type;
} prep;

/* Checks the operator against its tensors and fills the node's kernel, geometry,
 * constants and scratch size (prepare.c). */
fr_status fr_cnn_prepare_op(prep *p, fr_error *err);

#endif
