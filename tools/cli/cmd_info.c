/* frugal info MODEL.gguf: version, alignment, every metadata key, every tensor, totals. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/types.h"
#include "gguf/gguf.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: frugal info MODEL.gguf\n"
            "\n"
            "Checks a GGUF file and prints its version, alignment, all metadata (long arrays\n"
            "shortened to their type, length and first elements) and one line per tensor:\n"
            "name, type, shape, bytes and offset in the data blob; then the totals.\n"
            "\n"
            "options:\n"
            "  -h, --help    show this help\n");
}

/* Prints a GGUF string with control bytes escaped. */
static void put_str(fr_gguf_str s) {
    for (uint64_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "frugal info: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
        if (path) {
            fprintf(stderr, "frugal info: too many arguments (see --help)\n");
            return 2;
        }
        path = argv[i];
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    fr_gguf *g = NULL;
    fr_error err = {0};
    if (fr_gguf_open(path, &g, &err) != FR_OK) {
        fprintf(stderr, "frugal info: %s\n", err.msg);
        return 1;
    }
    printf("file:      %s\n", path);
    printf("version:   %" PRIu32 "\n", fr_gguf_version(g));
    printf("alignment: %" PRIu32 "\n", fr_gguf_alignment(g));
    printf("metadata:  %" PRId64 " keys\n", fr_gguf_n_kv(g));
    char buf[1024];
    for (int64_t i = 0; i < fr_gguf_n_kv(g); i++) {
        fr_gguf_kv_format(g, i, buf, sizeof buf);
        printf("  ");
        put_str(fr_gguf_key(g, i));
        printf(" (%s) = %s\n", fr_gguf_vtype_name(fr_gguf_kv_type(g, i)), buf);
    }
    int64_t nt = fr_gguf_n_tensors(g);
    printf("tensors:   %" PRId64 "\n", nt);
    uint64_t total_bytes = 0, total_elems = 0;
    uint64_t per_type_bytes[4] = {0}, per_type_count[4] = {0};
    const uint32_t types[4] = {FR_TYPE_F32, FR_TYPE_F16, FR_TYPE_Q4_0, FR_TYPE_Q8_0};
    for (int64_t i = 0; i < nt; i++) {
        const fr_gguf_tensor *t = fr_gguf_tensor_at(g, i);
        char shape[128];
        int n = 0;
        uint64_t elems = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%" PRIu64, d ? " x " : "", t->ne[d]);
            elems *= t->ne[d];
        }
        printf("  %-40.*s %-5s [%s] %" PRIu64 " bytes @ %" PRIu64 "\n",
               t->name.len > 200 ? 200 : (int)t->name.len, t->name.ptr, fr_type_name(t->type),
               shape, t->size, t->offset);
        total_bytes += t->size;
        total_elems += elems;
        for (int k = 0; k < 4; k++)
            if (t->type == types[k]) {
                per_type_bytes[k] += t->size;
                per_type_count[k]++;
            }
    }
    printf("total:     %" PRId64 " tensors, %" PRIu64 " elements, %" PRIu64 " bytes (%.2f MiB)\n",
           nt, total_elems, total_bytes, (double)total_bytes / (1024.0 * 1024.0));
    for (int k = 0; k < 4; k++)
        if (per_type_count[k])
            printf("  %-5s %" PRIu64 " tensors, %" PRIu64 " bytes\n", fr_type_name(types[k]),
                   per_type_count[k], per_type_bytes[k]);
    fr_gguf_close(g);
    return 0;
}
