/* frugal convert-llama2c MODEL.bin TOKENIZER.bin OUT.gguf [--type f32|f16|q8_0|q4_0] */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/types.h"
#include "llm/llama2c.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: frugal convert-llama2c MODEL.bin TOKENIZER.bin OUT.gguf [--type TYPE]\n"
            "\n"
            "Converts a llama2.c checkpoint (v0 legacy or v1 \"ak42\" float32 export) and its\n"
            "tokenizer.bin into a GGUF file that frugal and llama.cpp load.\n"
            "\n"
            "options:\n"
            "  --type TYPE   matrix type: f32 (default), f16, q8_0 or q4_0; norms stay f32, and a\n"
            "                quantised matrix whose rows are not a multiple of 32 is stored as f16\n"
            "  -h, --help    show this help\n");
}

int cmd_convert_llama2c(int argc, char **argv) {
    const char *paths[3];
    int n_paths = 0;
    fr_type type = FR_TYPE_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--type") || !strncmp(a, "--type=", 7)) {
            const char *t = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (!t) {
                fprintf(stderr, "frugal convert-llama2c: --type: missing value (f32, f16, q8_0, q4_0)\n");
                return 2;
            }
            if (!strcmp(t, "f32")) type = FR_TYPE_F32;
            else if (!strcmp(t, "f16")) type = FR_TYPE_F16;
            else if (!strcmp(t, "q8_0")) type = FR_TYPE_Q8_0;
            else if (!strcmp(t, "q4_0")) type = FR_TYPE_Q4_0;
            else {
                fprintf(stderr, "frugal convert-llama2c: --type: unknown type '%s' (f32, f16, q8_0, q4_0)\n", t);
                return 2;
            }
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "frugal convert-llama2c: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (n_paths == 3) {
            fprintf(stderr, "frugal convert-llama2c: too many arguments (see --help)\n");
            return 2;
        }
        paths[n_paths++] = a;
    }
    if (n_paths != 3) {
        usage(stderr);
        return 2;
    }
    fr_error err = {0};
    if (fr_llama2c_convert(paths[0], paths[1], paths[2], type, &err) != FR_OK) {
        fprintf(stderr, "frugal convert-llama2c: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s (%s)\n", paths[2], fr_type_name(type));
    return 0;
}
