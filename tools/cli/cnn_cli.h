/* Shared by the CNN subcommands (cnn-info, classify, cnn-bench): read a .tflite file and
 * initialise a model in an arena sized exactly by fr_cnn_plan. */
#ifndef FR_CLI_CNN_CLI_H
#define FR_CLI_CNN_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "frugal.h"
#include "frugal_trec.h"

typedef struct cnn_cli_model {
    uint8_t *file;          /* the whole file (malloc, 64-byte aligned) */
    size_t len;
    void *arena;            /* exactly info.total_bytes */
    fr_cnn_model *m;
    fr_cnn_arena_info info;
    uint8_t *trec_file;     /* optional TREC sidecar (malloc, 64-byte aligned), shared */
    size_t trec_len;
    fr_cnn_trec *trec;      /* malloc, shared by instances; NULL: dense */
} cnn_cli_model;

/* Reads path and initialises the model; on failure prints "frugal CMD: message" and
 * returns -1 (everything freed). */
int cnn_cli_load(const char *cmd, const char *path, fr_cnn_kernels kernels, cnn_cli_model *c);
/* The same with a TREC sidecar (trec_path; NULL: as cnn_cli_load): its layers run TREC. */
int cnn_cli_load_trec(const char *cmd, const char *path, const char *trec_path,
                      fr_cnn_kernels kernels, cnn_cli_model *c);

/* A second model over the same file bytes (own arena), e.g. for another thread. The copy
 * shares c->file; free it with cnn_cli_free_instance. */
int cnn_cli_instance(const char *cmd, const char *path, const cnn_cli_model *c,
                     fr_cnn_kernels kernels, cnn_cli_model *out);
void cnn_cli_free_instance(cnn_cli_model *c);
void cnn_cli_free(cnn_cli_model *c);

/* "[1,32,32,3]" into buf. */
const char *cnn_cli_shape(const fr_cnn_tensor_info *t, char *buf, size_t n);

#endif
