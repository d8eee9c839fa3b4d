/* CNN subcommand helpers: see cnn_cli.h. */
#include "cnn_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

#define CNN_MAX_ARENA ((size_t)1 << 32)

static int read_file(const char *cmd, const char *path, uint8_t **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error(cmd, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        cli_error(cmd, "%s: cannot seek", path);
        fclose(f);
        return -1;
    }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        cli_error(cmd, "%s: cannot get the file size", path);
        fclose(f);
        return -1;
    }
    uint8_t *b = aligned_alloc(64, ((size_t)n + 64) & ~(size_t)63);
    if (!b) {
        cli_error(cmd, "%s: out of memory (%ld bytes)", path, n);
        fclose(f);
        return -1;
    }
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        cli_error(cmd, "%s: read error", path);
        free(b);
        fclose(f);
        return -1;
    }
    fclose(f);
    *buf = b;
    *len = (size_t)n;
    return 0;
}

/* Sizes the arena with fr_cnn_plan (growing a work buffer), then initialises the model in
 * an arena of exactly total_bytes. */
static int init_model(const char *cmd, const char *path, fr_cnn_kernels kernels,
                      cnn_cli_model *c) {
    fr_cnn_config cfg = {.kernels = kernels, .name = path};
    const fr_cnn_reuse *reuse = c->trec ? &c->trec->reuse : NULL;
    fr_error err = {0};
    size_t work_bytes = c->len * 2 + ((size_t)1 << 20);
    for (;;) {
        void *work = malloc(work_bytes);
        if (!work) {
            cli_error(cmd, "%s: out of memory (%zu bytes)", path, work_bytes);
            return -1;
        }
        fr_status st = fr_cnn_plan_reuse(c->file, c->len, work, work_bytes, &cfg, reuse,
                                         &c->info, &err);
        free(work);
        if (st == FR_OK)
            break;
        if (st != FR_E_NOMEM || work_bytes >= CNN_MAX_ARENA) {
            cli_error(cmd, "%s", err.msg);
            return -1;
        }
        work_bytes *= 2;
    }
    c->arena = malloc(c->info.total_bytes);
    if (!c->arena) {
        cli_error(cmd, "%s: out of memory (arena of %zu bytes)", path, c->info.total_bytes);
        return -1;
    }
    if (fr_cnn_model_init_reuse(c->file, c->len, c->arena, c->info.total_bytes, &cfg, reuse,
                                &c->m, &err)) {
        cli_error(cmd, "%s", err.msg);
        free(c->arena);
        c->arena = NULL;
        return -1;
    }
    return 0;
}

int cnn_cli_load(const char *cmd, const char *path, fr_cnn_kernels kernels, cnn_cli_model *c) {
    return cnn_cli_load_trec(cmd, path, NULL, kernels, c);
}

int cnn_cli_load_trec(const char *cmd, const char *path, const char *trec_path,
                      fr_cnn_kernels kernels, cnn_cli_model *c) {
    memset(c, 0, sizeof *c);
    if (trec_path) {
        fr_error err = {0};
        if (read_file(cmd, trec_path, &c->trec_file, &c->trec_len))
            return -1;
        c->trec = malloc(sizeof *c->trec);
        if (!c->trec) {
            cli_error(cmd, "out of memory");
            free(c->trec_file);
            memset(c, 0, sizeof *c);
            return -1;
        }
        if (fr_cnn_trec_init(c->trec, c->trec_file, c->trec_len, trec_path, &err)) {
            cli_error(cmd, "%s", err.msg);
            free(c->trec);
            free(c->trec_file);
            memset(c, 0, sizeof *c);
            return -1;
        }
    }
    if (read_file(cmd, path, &c->file, &c->len) || init_model(cmd, path, kernels, c)) {
        free(c->file);
        free(c->trec);
        free(c->trec_file);
        memset(c, 0, sizeof *c);
        return -1;
    }
    return 0;
}

int cnn_cli_instance(const char *cmd, const char *path, const cnn_cli_model *c,
                     fr_cnn_kernels kernels, cnn_cli_model *out) {
    memset(out, 0, sizeof *out);
    out->file = c->file;
    out->len = c->len;
    out->trec_file = c->trec_file;
    out->trec_len = c->trec_len;
    out->trec = c->trec;
    if (init_model(cmd, path, kernels, out)) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

void cnn_cli_free_instance(cnn_cli_model *c) {
    free(c->arena);
    memset(c, 0, sizeof *c);
}

void cnn_cli_free(cnn_cli_model *c) {
    free(c->arena);
    free(c->file);
    free(c->trec);
    free(c->trec_file);
    memset(c, 0, sizeof *c);
}

const char *cnn_cli_shape(const fr_cnn_tensor_info *t, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    used += (size_t)snprintf(buf + used, n - used, "[");
    for (int d = 0; d < t->ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, d ? ",%d" : "%d", (int)t->dims[d]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}
